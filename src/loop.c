/*-------------------------------------------------------------------------
 *
 * loop.c
 *	  Loop steps: their start, the admission of their iterations and their
 *	  end.
 *
 * A loop step is one step_state row with its counters (state.c) and one
 * queue row per iteration, node_id "step[i]".  loop_start renders the
 * collection once, filters, orders, limits and chunks it, and inserts the
 * iterations, each holding only its own element (its frame); the first
 * window of them is admitted at once.  Each iteration that finishes moves
 * the counters on and admits the next ones (loop_fill), in the transaction
 * that reports it, under the execution's lock: that lock serialises the
 * loop's reports, so no more than the window is ever outstanding.  The
 * last one to finish reads every iteration's result in one index scan and
 * completes the step with the list (loop_finish).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "evaluate.h"
#include "guc.h"
#include "jtree.h"
#include "rows.h"
#include "snowflake.h"
#include "wakeup.h"


/* the name of iteration i of a step */
static char *
item_node(const char *step, int32 i)
{
	return psprintf("%s[%d]", step, i);
}

/*
 * frame_set makes iteration index of count, with element item (with
 * chunk, the batch), the frame of the renderings that follow: the element,
 * _loop, index (with enumerate), batch (with chunk) and the step's own
 * name.
 */
static void
frame_set(Run *run, LoopFrame *f, const char *step, const char *element, JsonbValue *item,
		  int32 index, int32 count, bool batched, bool enumerate)
{
	TVal	   *lp = tv_dict_new();
	TVal	   *self = tv_dict_new();

	memset(f, 0, sizeof(LoopFrame));
	f->element_name = element;
	f->element = item ? tv_from_jsonb_value(item) : tv_none();
	tv_dict_set(lp, tv_cstr("current_index"), tv_int(index));
	tv_dict_set(lp, tv_cstr("index"), tv_int(index));
	tv_dict_set(lp, tv_cstr("item"), f->element);
	tv_dict_set(lp, tv_cstr("count"), tv_int(count));
	f->loop = lp;
	f->index = enumerate ? tv_int(index) : NULL;
	f->batch = batched ? f->element : NULL;
	tv_dict_set(self, tv_cstr("result_index"), tv_int(index));
	f->step = step;
	f->self = self;
	run->frame = f;
}

/* frame_int reads an integer of an iteration's stored frame */
static int32
frame_int(JsonbValue *frame, const char *key)
{
	JsonbValue *v = jt_get(frame, key);

	if (v == NULL || v->type != jbvNumeric)
		elog(ERROR, "an iteration's frame has no \"%s\"", key);
	return DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
}

/*
 * loop_number renders a loop setting that NoETL read with int() (an
 * integer, a string of one, or a template); false, with *err, if it is
 * none of those or below lo.
 */
static bool
loop_number(Run *run, Jsonb *setting, int lo, int32 *out, char **err)
{
	Jsonb	   *r = ev_render(run, setting, err);
	JsonbValue *v;

	if (*err != NULL)
		return false;
	v = jt_get(jt_from_jsonb(r), "v");
	if (v != NULL && v->type == jbvString)
	{
		char	   *txt = jt_cstring(v);
		char	   *end;
		long		n;

		errno = 0;
		n = strtol(txt, &end, 10);
		while (isspace((unsigned char) *end))
			end++;
		if (errno == 0 && end != txt && *end == '\0' && n >= lo && n <= PG_INT32_MAX)
		{
			*out = (int32) n;
			return true;
		}
	}
	else if (v != NULL && v->type == jbvNumeric &&
			 jb_get_int32(r, "v", out) && *out >= lo)
		return true;
	*err = psprintf("must be an integer of %d or more, not %s", lo,
					v == NULL ? "nothing" :
					v->type == jbvString ? psprintf("\"%s\"", jt_cstring(v)) :
					v->type == jbvNumeric ?
					DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v->val.numeric))) :
					v->type == jbvNull ? "null" :
					v->type == jbvObject ? "a mapping" :
					v->type == jbvArray ? "a list" : "a boolean");
	return false;
}

/*
 * where_template is a loop's where as a template value to render: a
 * condition without markup is an expression, as a "when" is (tpl_truthy).
 */
static Jsonb *
where_template(const char *where)
{
	JsonbValue *o = jt_object();

	if (strstr(where, "{{") == NULL && strstr(where, "{%") == NULL)
		where = psprintf("{{ %s }}", where);
	jt_set(o, "v", jt_string(where));
	return jt_to_jsonb(o);
}

/*
 * where_keeps renders a loop's where for the element in the frame and
 * judges the value by NoETL's iterator rule (truthy, plugin/iterator/
 * utils.py @58c2a16b), not by a "when"'s: a boolean is itself, null is
 * false, a number is true unless it is 0, a string is false when,
 * stripped and lower-cased, it is "false", "no", "n", "off", "0", "",
 * "none" or "null", and true otherwise; anything else is true.
 */
static bool
where_keeps(Run *run, Jsonb *where, char **err)
{
	static const char *const no[] = {"false", "no", "n", "off", "0", "", "none", "null"};
	Jsonb	   *r = ev_render(run, where, err);
	JsonbValue *v;
	const char *p;
	int			len;
	int			i;

	if (*err != NULL)
		return false;
	v = jt_get(jt_from_jsonb(r), "v");
	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type == jbvBool)
		return v->val.boolean;
	if (v->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(v->val.numeric),
												 NumericGetDatum(int64_to_numeric(0)))) != 0;
	if (v->type != jbvString)
		return true;
	p = v->val.string.val;
	len = v->val.string.len;
	while (len > 0 && isspace((unsigned char) *p))
		p++, len--;
	while (len > 0 && isspace((unsigned char) p[len - 1]))
		len--;
	for (i = 0; i < lengthof(no); i++)
		if (strlen(no[i]) == (size_t) len && pg_strncasecmp(p, no[i], len) == 0)
			return false;
	return true;
}

/* a loop's element with its original index, for ordering */
typedef struct LoopElem
{
	JsonbValue *value;
	int32		pos;
	JsonbValue *key;			/* order_by's key, or NULL (None) */
} LoopElem;

static int	order_kind;			/* the keys' class: 1 numbers, 2 strings */

static int
elem_cmp(const void *a, const void *b)
{
	const LoopElem *x = (const LoopElem *) a;
	const LoopElem *y = (const LoopElem *) b;
	int			c;

	if (order_kind == 1)
		c = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											  NumericGetDatum(x->key->val.numeric),
											  NumericGetDatum(y->key->val.numeric)));
	else
	{
		int			lx = x->key->val.string.len;
		int			ly = y->key->val.string.len;

		/* UTF-8's byte order is the code points' order, Python's */
		c = memcmp(x->key->val.string.val, y->key->val.string.val, Min(lx, ly));
		if (c == 0)
			c = (lx > ly) - (lx < ly);
	}
	return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* key_kind classifies an order_by key: 1 a number, 2 a string, 0 other */
static int
key_kind(JsonbValue *k)
{
	if (k == NULL)
		return 0;
	if (k->type == jbvNumeric)
		return 1;
	if (k->type == jbvString)
		return 2;
	return 0;
}

/*
 * loop_elements renders the loop's collection and applies where, order_by,
 * limit and chunk, in NoETL's order (plugin/iterator/executor.py
 * @58c2a16b): the iterations, each an element (or a batch of them).
 * NULL, with *err, if the collection cannot be rendered or is not a list.
 */
static JsonbValue **
loop_elements(Run *run, BStep *s, int32 *n, bool *batched, char **err)
{
	BLoop	   *l = s->loop;
	Jsonb	   *r = ev_render(run, l->collection, err);
	JsonbValue *coll;
	JsonbValue *vals;
	LoopElem   *el;
	JsonbValue **out;
	int32		m;
	int32		k = 0;
	int32		i;
	bool		warned = false;
	char	   *serr = NULL;
	Jsonb	   *where = l->where_const < 0 ? where_template(l->where) : NULL;

	*batched = false;
	if (*err != NULL)
	{
		*err = psprintf("step \"%s\": the loop's collection: %s", s->name, *err);
		return NULL;
	}
	coll = jb_get(r, "v");
	if (coll != NULL && coll->type == jbvString)
	{
		/* text that holds a list (JSON, or a Python literal) is that list */
		TVal	   *list = tpl_read_list(coll->val.string.val, coll->val.string.len);

		if (list != NULL)
		{
			JsonbValue *o = jt_object();

			jt_set(o, "v", jt_from_jsonb(tv_to_jsonb(list)));
			r = jt_to_jsonb(o);
			coll = jb_get(r, "v");
		}
	}
	if (coll == NULL || coll->type != jbvBinary || !JsonContainerIsArray(coll->val.binary.data))
	{
		*err = psprintf("step \"%s\": the loop's collection is %s, not a list", s->name,
						coll == NULL ? "nothing" :
						coll->type == jbvBinary ? "a mapping" :
						coll->type == jbvString ? "a string" :
						coll->type == jbvNull ? "null" :
						psprintf("a %s", jt_type_name(coll)));
		return NULL;
	}
	/* the elements are read in place: nested ones stay binary, uncopied */
	m = JsonContainerSize(coll->val.binary.data);
	el = palloc(sizeof(LoopElem) * Max(m, 1));
	vals = palloc(sizeof(JsonbValue) * Max(m, 1));
	{
		JsonbIterator *it = JsonbIteratorInit(coll->val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;
		int32		j = 0;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && j < m)
				vals[j++] = v;
		m = j;
	}
	for (i = 0; i < m; i++)
	{
		JsonbValue *e = &vals[i];
		bool		keep = l->where_const == 1;

		CHECK_FOR_INTERRUPTS();
		if (l->where_const < 0 || l->order_by != NULL)
		{
			LoopFrame	f;

			frame_set(run, &f, s->name, l->element, e, i, m, false, false);
			if (l->where_const < 0)
			{
				keep = where_keeps(run, where, &serr);
				if (serr != NULL && !warned)
				{
					/* NoETL counted an error as false, and went on */
					ev_emit(run, "warning", s->name, NULL, "warning", NULL, ev_meta_of("where", "loop"),
						 psprintf("the loop's where of step \"%s\" counts as false for element %d: %s",
								  s->name, i, serr), 0);
					warned = true;
				}
			}
			if (keep && l->order_by != NULL)
			{
				Jsonb	   *key = ev_render(run, l->order_by, &serr);

				el[k].key = serr != NULL ? NULL : jt_get(jt_from_jsonb(key), "v");
			}
			run->frame = NULL;
		}
		if (!keep)
			continue;
		el[k].value = e;
		el[k].pos = i;
		if (l->order_by == NULL)
			el[k].key = NULL;
		k++;
	}
	if (l->order_by != NULL && k > 1)
	{
		int			kind = key_kind(el[0].key);

		/* keys Python could not compare left NoETL's list as it was */
		for (i = 1; i < k && kind != 0; i++)
			if (key_kind(el[i].key) != kind)
				kind = 0;
		if (kind != 0)
		{
			order_kind = kind;
			qsort(el, k, sizeof(LoopElem), elem_cmp);
		}
	}
	if (l->limit != NULL)
	{
		int32		lim;

		if (!loop_number(run, l->limit, 0, &lim, err))
		{
			*err = psprintf("step \"%s\": the loop's limit %s", s->name, *err);
			return NULL;
		}
		k = Min(k, lim);
	}
	if (l->chunk != NULL)
	{
		int32		size;
		int32		nb;

		if (!loop_number(run, l->chunk, 1, &size, err))
		{
			*err = psprintf("step \"%s\": the loop's chunk %s", s->name, *err);
			return NULL;
		}
		nb = k / size + (k % size != 0);
		out = palloc(sizeof(JsonbValue *) * Max(nb, 1));
		for (i = 0; i < nb; i++)
		{
			JsonbValue *b = jt_array();
			int32		j;

			for (j = i * size; j < Min(k, (i + 1) * size); j++)
				jt_append(b, el[j].value);
			out[i] = b;
		}
		*batched = true;
		*n = nb;
		return out;
	}
	out = palloc(sizeof(JsonbValue *) * Max(k, 1));
	for (i = 0; i < k; i++)
		out[i] = el[i].value;
	*n = k;
	return out;
}

/*
 * The widest window: the iterations one transaction may admit at once (a
 * loop's start, or a report that widens nothing but finds the window
 * empty), each rendered, and for a sub-playbook started, in it.
 */
#define LOOP_MAX_WINDOW 10000

/*
 * loop_window is the most iterations of a loop outstanding at once:
 * 1 for a sequential loop; for a parallel one max_in_flight, else
 * concurrency, else 8 (plugin/iterator/config.py @58c2a16b), at most
 * LOOP_MAX_WINDOW.
 */
static bool
loop_window(Run *run, BStep *s, int32 *w, char **err)
{
	BLoop	   *l = s->loop;

	*w = 1;
	if (!l->parallel)
		return true;
	if (l->max_in_flight > 0)
		*w = l->max_in_flight;
	else if (l->concurrency != NULL)
	{
		if (!loop_number(run, l->concurrency, 1, w, err))
		{
			*err = psprintf("step \"%s\": the loop's concurrency %s", s->name, *err);
			return false;
		}
	}
	else
		*w = 8;
	*w = Min(*w, LOOP_MAX_WINDOW);
	return true;
}

static void loop_fill(Run *run, int idx, LoopState *ls, Jsonb *args);
static void loop_queue_sink(Run *run, int idx, LoopState *ls, Jsonb *list, JsonbValue *errors);

/* the admissions whose leftovers are written and freed at a time (loop_fill) */
#define LOOP_ADMIT_BATCH 64

/* the iterations a loop's start writes at a time, in a memory context reset after each */
#define LOOP_INSERT_BATCH 1000

/*
 * loop_insert writes a loop's n iterations, waiting, each with its frame
 * {"loop": {element, item, index, count, batch?, enumerate?}}: the element
 * is stored in its own row and nowhere else.
 */
static void
loop_insert(Run *run, BStep *s, JsonbValue **elems, int32 n, bool batched, bool enumerate)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "noetl loop start",
											  ALLOCSET_DEFAULT_SIZES);
	TaskSpec   *tasks = palloc(sizeof(TaskSpec) * LOOP_INSERT_BATCH);
	bool	   *queued = palloc(sizeof(bool) * LOOP_INSERT_BATCH);
	int32		i = 0;

	while (i < n)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		int			k;

		for (k = 0; k < LOOP_INSERT_BATCH && i < n; k++, i++)
		{
			JsonbValue *action = jt_object();
			JsonbValue *frame = jt_object();
			TaskSpec   *task = &tasks[k];

			CHECK_FOR_INTERRUPTS();
			jt_set(frame, "element", jt_string(s->loop->element));
			jt_set(frame, "item", elems[i]);
			jt_set(frame, "index", jt_int(i));
			jt_set(frame, "count", jt_int(n));
			if (batched)
				jt_set(frame, "batch", elems[i]);
			if (enumerate)
				jt_set(frame, "enumerate", jt_bool(true));
			jt_set(action, "loop", frame);
			memset(task, 0, sizeof(TaskSpec));
			task->queue_id = noetl_next_id();
			task->node = s->name;
			task->node_id = item_node(s->name, i);
			task->tool = s->tool;
			task->action = jt_to_jsonb(action);
			task->priority = s->priority;
			task->max_attempts = s->retry.max_attempts;
			task->waiting = true;
			task->fresh = true;
		}
		(void) state_queue_tasks(run->nsp, run->ex.execution_id, run->ex.catalog_id, tasks, k,
								 queued);
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
	}
	rows_done();
	MemoryContextDelete(cxt);
}

/*
 * loop_start dispatches loop step idx: its iterations are inserted, the
 * first window of them admitted, the rest waiting.  An empty collection
 * completes the step at once with [].
 */
void
loop_start(Run *run, int idx, Jsonb *args)
{
	BStep	   *s = &run->pb->steps[idx];
	char	   *err = NULL;
	JsonbValue **elems;
	int32		n = 0;
	int32		w = 1;
	bool		batched;
	bool		enumerate = false;
	LoopState	ls;
	JsonbValue *meta;
	StepStatus	status;
	Jsonb	   *started_args;

	/* reached again (by another branch): started already, not rendered again */
	if (state_get_step(run->nsp, run->ex.execution_id, s->name, &status, &started_args))
		return;
	elems = loop_elements(run, s, &n, &batched, &err);
	if (elems != NULL)
		(void) loop_window(run, s, &w, &err);
	if (err == NULL && n > noetl_max_loop_items)
		err = psprintf("step \"%s\": the loop has %d iterations, more than noetl.max_loop_items (%d)",
					   s->name, n, noetl_max_loop_items);
	if (err == NULL && s->loop->enumerate != NULL)
	{
		JsonbValue *e = jt_get(jt_from_jsonb(s->loop->enumerate), "v");

		/* bool(task_config.get('enumerate') or False): any text but "" is true */
		enumerate = e->type == jbvBool ? e->val.boolean : e->val.string.len > 0;
	}
	if (err != NULL)
	{
		ev_fail_execution(run, s->name, err);
		return;
	}
	memset(&ls, 0, sizeof(ls));
	ls.total = n;
	ls.window = w;
	meta = jt_object();
	jt_set(meta, "count", jt_int(n));
	jt_set(meta, "window", jt_int(w));
	if (n == 0 && s->loop->sink != NULL)
	{
		/* NoETL ran the step-level save over an empty list too */
		if (!state_insert_loop(run->nsp, run->ex.execution_id, s->name, STEP_DISPATCHED, args,
							   NULL, &ls))
			return;
		ev_emit(run, "step_started", s->name, "loop", "started", NULL, jt_to_jsonb(meta), NULL, 0);
		run->ex.pending++;
		loop_queue_sink(run, idx, &ls, jt_to_jsonb(jt_array()), jt_array());
		return;
	}
	if (n == 0)
	{
		Jsonb	   *empty = jt_to_jsonb(jt_array());
		JsonbValue *m2 = jt_object();

		if (!state_insert_loop(run->nsp, run->ex.execution_id, s->name, STEP_COMPLETED, args,
							   empty, &ls))
			return;
		ev_emit(run, "step_started", s->name, "loop", "started", NULL, jt_to_jsonb(meta), NULL, 0);
		jt_set(m2, "count", jt_int(0));
		jt_set(m2, "failed", jt_int(0));
		jt_set(m2, "errors", jt_array());
		ev_emit(run, "step_completed", s->name, "loop", "completed", empty, jt_to_jsonb(m2), NULL, 0);
		ev_know_result(run, idx, empty);
		run->result = tv_from_jsonb(empty);
		ev_evaluate_next(run, idx);
		return;
	}
	if (!state_insert_loop(run->nsp, run->ex.execution_id, s->name, STEP_DISPATCHED, args,
						   NULL, &ls))
		return;					/* started already */
	ev_emit(run, "step_started", s->name, "loop", "started", NULL, jt_to_jsonb(meta), NULL, 0);
	/* the loop itself is outstanding until its end */
	run->ex.pending++;
	(void) ev_flush(run);
	loop_insert(run, s, elems, n, batched, enumerate);
	loop_fill(run, idx, &ls, args);
}

static void loop_item_end(Run *run, int idx, LoopState *ls, Jsonb *args, int32 k,
						  bool dead, const char *error);

/*
 * loop_admit_child starts the child execution of iteration k of a loop
 * over a sub-playbook (q, locked, with its rendered action); a child that
 * ends within its start finishes the iteration at once.
 */
static void
loop_admit_child(Run *run, int idx, LoopState *ls, Jsonb *args, int32 k, TaskState *q,
				 Jsonb *action)
{
	BStep	   *s = &run->pb->steps[idx];
	int64		child_id = noetl_next_id();
	JsonbValue *meta = child_meta(child_id);
	BEvent	   *ev;
	ChildEnd	e;
	TaskState	q2;
	ExecState	ex;
	bool		dead;
	char	   *msg = NULL;

	state_queue_admitted(run->nsp, q, action, child_id);
	run->ex.pending++;
	jt_set(meta, "index", jt_int(k));
	jt_set(meta, "count", jt_int(ls->total));
	ev = ev_emit(run, "loop_iteration", s->name, s->tool, "started", NULL, jt_to_jsonb(meta), NULL,
			  q->queue_id);
	ev->node_id = q->node_id;
	e = child_start(run, s, q->node_id, child_id, action, ev->event_id);
	if (!e.ended)
		return;
	/* it would end the same way again: not retried */
	(void) ev_flush(run);
	if (!state_lock_task(run->nsp, false, 0, run->ex.execution_id, q->node_id, &ex, &q2) ||
		!child_holds(&q2, child_id))
		elog(ERROR, "iteration \"%s\" is no longer held by its child", q->node_id);
	dead = e.status != EXEC_COMPLETED;
	if (dead)
		msg = child_message(child_id, &e);
	ev_emit(run, dead ? "action_error" : "action_completed", s->name, "playbook",
		 dead ? "failed" : "completed", e.result,
		 jt_to_jsonb(e.started ? child_meta(child_id) : jt_object()), msg,
		 q2.queue_id)->node_id = q2.node_id;
	state_finish_task(run->nsp, &q2, dead ? TASK_DEAD : TASK_DONE, e.result, msg);
	run->ex.pending--;
	loop_item_end(run, idx, ls, args, k, dead, msg);
}

/*
 * loop_admit makes iteration k of loop step idx ready: its task rendered
 * with its frame, args laid over, the frame kept as the action's "loop".
 * A task that cannot be rendered makes the iteration dead at once: it
 * would fail the same way every time.
 */
static void
loop_admit(Run *run, int idx, LoopState *ls, Jsonb *args, int32 k)
{
	BStep	   *s = &run->pb->steps[idx];
	char	   *node_id = item_node(s->name, k);
	Jsonb	   *stored;
	JsonbValue *frame;
	TaskState	q;
	LoopFrame	f;
	Jsonb	   *rendered;
	char	   *err = NULL;
	JsonbValue *t;
	JsonbValue *meta;
	bool		enumerate;

	if (!state_admit_item(run->nsp, run->ex.execution_id, node_id, &stored, &q))
		elog(ERROR, "iteration \"%s\" of execution %lld is not waiting",
			 node_id, (long long) run->ex.execution_id);
	frame = jt_get(jt_from_jsonb(stored), "loop");
	if (frame == NULL || frame->type != jbvObject)
		elog(ERROR, "iteration \"%s\" has no frame", node_id);
	enumerate = jt_get(frame, "enumerate") != NULL;
	(void) jt_delete(frame, "enumerate");
	frame_set(run, &f, s->name, s->loop->element, jt_get(frame, "item"), frame_int(frame, "index"),
			  frame_int(frame, "count"), jt_get(frame, "batch") != NULL, enumerate);
	rendered = s->subplaybook ? ev_render(run, s->task, &err)
		: ev_render_task(run, s->task, node_id, &err);
	run->frame = NULL;
	if (err != NULL)
	{
		char	   *msg = pstrdup(err);

		state_finish_task(run->nsp, &q, TASK_DEAD, NULL, msg);
		loop_item_end(run, idx, ls, args, k, true, msg);
		return;
	}
	t = jt_from_jsonb(rendered);
	if (args != NULL)
	{
		JsonbValue *a = jt_get(t, "args");

		jt_set(t, "args", jt_from_jsonb(jb_merge(a ? jt_to_jsonb(a) : NULL, args)));
	}
	if (s->keep != NULL)
		(void) jt_merge(t, jt_from_jsonb(s->keep), false);
	jt_set(t, "loop", frame);
	if (s->subplaybook)
	{
		loop_admit_child(run, idx, ls, args, k, &q, jt_to_jsonb(t));
		return;
	}
	state_queue_admitted(run->nsp, &q, jt_to_jsonb(t), 0);
	wake_record_ready(q.queue_id);
	run->ex.pending++;
	meta = jt_object();
	jt_set(meta, "index", jt_int(k));
	jt_set(meta, "count", jt_int(ls->total));
	ev_emit(run, "loop_iteration", s->name, s->tool, "queued", NULL, jt_to_jsonb(meta), NULL,
		 q.queue_id)->node_id = node_id;
}

/*
 * loop_results is the list of a loop's results, in input order (null for
 * an iteration that failed or has not finished), and its errors
 * [{index, message}], read in one scan.
 */
static Jsonb *
loop_results(Run *run, BStep *s, LoopState *ls, JsonbValue **errors)
{
	LoopItem   *items = palloc(sizeof(LoopItem) * Max(ls->total, 1));
	JsonbParseState *st = NULL;
	JsonbParseState *est = NULL;
	JsonbValue *list;
	JsonbValue	v;
	int32		i;

	state_loop_results(run->nsp, run->ex.execution_id, s->name, ls->total, items);

	/*
	 * Built as it is read, each result pushed as it is stored: no tree of
	 * the whole list, whose nodes would cost several times the list.
	 */
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&est, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < ls->total; i++)
	{
		Jsonb	   *r = items[i].result;

		CHECK_FOR_INTERRUPTS();
		if (r == NULL)
		{
			v.type = jbvNull;
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		else if (JB_ROOT_IS_SCALAR(r))
		{
			if (!JsonbExtractScalar(&r->root, &v))
				elog(ERROR, "a scalar result that is none");
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &r->root;
			v.val.binary.len = VARSIZE(r) - VARHDRSZ;
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		if (items[i].seen && items[i].dead)
		{
			const char *msg = items[i].error ? items[i].error : "task failed";

			pushJsonbValue(&est, WJB_BEGIN_OBJECT, NULL);
			v.type = jbvString;
			v.val.string.val = "index";
			v.val.string.len = 5;
			pushJsonbValue(&est, WJB_KEY, &v);
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(i);
			pushJsonbValue(&est, WJB_VALUE, &v);
			v.type = jbvString;
			v.val.string.val = "message";
			v.val.string.len = 7;
			pushJsonbValue(&est, WJB_KEY, &v);
			v.val.string.val = (char *) msg;
			v.val.string.len = strlen(msg);
			pushJsonbValue(&est, WJB_VALUE, &v);
			pushJsonbValue(&est, WJB_END_OBJECT, NULL);
		}
		items[i].result = NULL;
	}
	list = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	*errors = jt_from_jsonb(JsonbValueToJsonb(pushJsonbValue(&est, WJB_END_ARRAY, NULL)));
	return JsonbValueToJsonb(list);
}

/* the node_id of a loop's sink task: step[save] (registration keeps step names from it) */
static char *
save_node(const char *step)
{
	return psprintf("%s[save]", step);
}

/*
 * loop_complete ends loop step idx with its list (and errors): the step
 * is completed, with extra (the outcome of its sink) laid over its meta,
 * and its "next" is evaluated with the list.  The loop is outstanding no
 * more.
 */
static void
loop_complete(Run *run, int idx, LoopState *ls, Jsonb *list, JsonbValue *errors,
			  JsonbValue *extra)
{
	BStep	   *s = &run->pb->steps[idx];
	JsonbValue *meta = jt_object();

	run->ex.pending--;
	state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_COMPLETED, true, list);
	jt_set(meta, "count", jt_int(ls->total));
	jt_set(meta, "failed", jt_int(ls->failed));
	jt_set(meta, "errors", errors);
	if (extra != NULL)
		(void) jt_merge(meta, extra, true);
	ev_emit(run, "step_completed", s->name, "loop", "completed", list, jt_to_jsonb(meta), NULL, 0);
	ev_know_result(run, idx, list);
	run->result = tv_from_jsonb(list);
	ev_evaluate_next(run, idx);
}

/*
 * loop_queue_sink queues the task of loop step idx's sink (era B's
 * step-level save of an iterator), once, when its last iteration has
 * finished: node_id step[save], tool "sink", its action the sink,
 * unrendered, and args {results, errors, count}, which a worker's sink
 * tool returns as its result for the sink to render.  The loop stays
 * outstanding until that task ends (loop_save_done).
 */
static void
loop_queue_sink(Run *run, int idx, LoopState *ls, Jsonb *list, JsonbValue *errors)
{
	BStep	   *s = &run->pb->steps[idx];
	JsonbValue *action = jt_from_jsonb(s->loop->sink);
	JsonbValue *args = jt_object();
	JsonbValue *meta = jt_object();
	TaskSpec   *task;

	jt_set(args, "results", jt_from_jsonb(list));
	jt_set(args, "errors", errors);
	jt_set(args, "count", jt_int(ls->total));
	jt_set(action, "args", args);
	task = ev_new_task(run);
	task->queue_id = noetl_next_id();
	task->node = s->name;
	task->node_id = save_node(s->name);
	task->tool = "sink";
	task->action = jt_to_jsonb(action);
	task->priority = s->priority;
	/* NoETL ran a save once: a failed one is not tried again */
	task->max_attempts = 1;
	task->fresh = true;
	run->ex.pending++;
	jt_set(meta, "save", jt_bool(true));
	jt_set(meta, "count", jt_int(ls->total));
	ev_emit(run, "loop_iteration", s->name, "sink", "queued", NULL, jt_to_jsonb(meta), NULL,
		 task->queue_id)->node_id = task->node_id;
	state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_DISPATCHED, false, NULL);
}

/*
 * loop_finish ends loop step idx once every iteration has: its result is
 * the list, and its "next" is evaluated with it; a loop with a sink of its
 * own queues it first, and ends when it has run.
 */
static void
loop_finish(Run *run, int idx, LoopState *ls)
{
	BStep	   *s = &run->pb->steps[idx];
	JsonbValue *errors;
	Jsonb	   *list;

	(void) ev_flush(run);
	list = loop_results(run, s, ls, &errors);
	if ((Size) VARSIZE(list) > (Size) noetl_max_result_kb * 1024)
	{
		run->ex.pending--;
		state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_FAILED, true, NULL);
		ev_fail_execution(run, s->name,
					   psprintf("step \"%s\": its list of %d results takes %zu bytes, more than noetl.max_result_size (%d kB)",
								s->name, ls->total, (Size) VARSIZE(list), noetl_max_result_kb));
		return;
	}
	if (s->loop->sink != NULL)
	{
		loop_queue_sink(run, idx, ls, list, errors);
		return;
	}
	loop_complete(run, idx, ls, list, errors, NULL);
}

/*
 * loop_save_done handles the end of loop step idx's sink task q (done, or
 * dead with error): the step completes with its list, read again, and the
 * sink's outcome in its meta: the "sink", "save" or "save_error" the
 * worker reported (in its report's meta, or its result's), and
 * "save_error", the task's error, when it failed.
 * A failed sink fails the step only under on_error: fail (era B recorded
 * the error and went on).
 */
void
loop_save_done(Run *run, TaskState *q, int idx, bool dead, Jsonb *result, const char *error)
{
	BStep	   *s = &run->pb->steps[idx];
	StepStatus	status;
	Jsonb	   *args;
	LoopState	ls;
	JsonbValue *errors;
	JsonbValue *extra = jt_object();
	Jsonb	   *list;
	int			pass;

	ev_finish_task(run, q, dead ? TASK_DEAD : TASK_DONE, result, 0);
	run->fin_error = error;
	run->ex.pending--;
	if (!state_get_loop(run->nsp, run->ex.execution_id, s->name, &status, &args, &ls) ||
		status != STEP_DISPATCHED || ls.done != ls.total)
		return;					/* the loop ended meanwhile */
	(void) ev_flush(run);
	list = loop_results(run, s, &ls, &errors);
	/* the sink's outcome: in the report's meta, else in its result's */
	for (pass = 0; pass < 2; pass++)
	{
		static const char *const keys[] = {"sink", "save", "save_error"};
		JsonbValue *mo = NULL;
		int			i;

		if (pass == 0 && run->report_meta != NULL && JB_ROOT_IS_OBJECT(run->report_meta) &&
			!JB_ROOT_IS_SCALAR(run->report_meta))
			mo = jt_from_jsonb(run->report_meta);
		else if (pass == 1 && result != NULL && JB_ROOT_IS_OBJECT(result) &&
				 !JB_ROOT_IS_SCALAR(result))
		{
			JsonbValue *m = jb_get(result, "meta");

			if (m != NULL && m->type == jbvBinary && JsonContainerIsObject(m->val.binary.data))
				mo = jt_from_jsonb(JsonbValueToJsonb(m));
		}
		for (i = 0; mo != NULL && i < lengthof(keys); i++)
		{
			JsonbValue *v = jt_get(mo, keys[i]);

			if (v != NULL && jt_get(extra, keys[i]) == NULL)
				jt_set(extra, keys[i], v);
		}
	}
	if (dead)
		jt_set(extra, "save_error", jt_string(error ? error : "task failed"));
	if (dead && s->loop->sink_fail)
	{
		JsonbValue *m2 = jt_object();
		char	   *msg = psprintf("step \"%s\": its save failed: %s", s->name,
								   error ? error : "task failed");

		state_set_loop(run->nsp, run->ex.execution_id, s->name, &ls, STEP_FAILED, true, list);
		jt_set(m2, "count", jt_int(ls.total));
		jt_set(m2, "failed", jt_int(ls.failed));
		jt_set(m2, "errors", errors);
		(void) jt_merge(m2, extra, true);
		ev_emit(run, "step_failed", s->name, "loop", "failed", list, jt_to_jsonb(m2), msg, 0);
		ev_fail_execution(run, NULL, msg);
		return;
	}
	loop_complete(run, idx, &ls, list, errors, extra);
}

/*
 * loop_fill admits iterations while fewer than the window are
 * outstanding, then writes the counters, or ends the loop when every
 * iteration has finished.
 */
static void
loop_fill(Run *run, int idx, LoopState *ls, Jsonb *args)
{
	BStep	   *s = &run->pb->steps[idx];
	MemoryContext cxt = NULL;
	int			since = 0;

	while (run->ex.status == EXEC_RUNNING && ls->next < ls->total &&
		   ls->next - ls->done < ls->window)
	{
		int32		k = ls->next++;
		MemoryContext old;

		/*
		 * Iterations that end within their admission (a rendering that
		 * fails under "continue", a child that ends within its start) leave
		 * the window open, so one transaction may admit every iteration:
		 * what each leaves behind is written and freed every
		 * LOOP_ADMIT_BATCH admissions.
		 */
		if (cxt == NULL)
			cxt = AllocSetContextCreate(run->cxt, "noetl loop admissions",
										ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(cxt);
		loop_admit(run, idx, ls, args, k);
		MemoryContextSwitchTo(old);
		if (++since == LOOP_ADMIT_BATCH)
		{
			(void) ev_flush(run);
			MemoryContextReset(cxt);
			since = 0;
		}
	}
	if (cxt != NULL)
	{
		(void) ev_flush(run);
		MemoryContextDelete(cxt);
	}
	if (run->ex.status != EXEC_RUNNING)
		return;
	if (ls->done == ls->total)
		loop_finish(run, idx, ls);
	else
		state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_DISPATCHED, false, NULL);
}

/*
 * loop_item_end counts iteration k of loop step idx finished (dead, with
 * error, or done).  A dead one fails the step under on_item_error: fail
 * (era C), with the list so far; under continue (era B) the loop goes on
 * and the iteration is null in the list and listed in its errors.  The
 * caller then fills the window.
 */
static void
loop_item_end(Run *run, int idx, LoopState *ls, Jsonb *args, int32 k, bool dead,
			  const char *error)
{
	BStep	   *s = &run->pb->steps[idx];
	JsonbValue *meta;

	ls->done++;
	if (!dead)
		return;
	ls->failed++;
	meta = jt_object();
	jt_set(meta, "index", jt_int(k));
	if (s->loop->fail)
	{
		JsonbValue *errors;
		JsonbValue *m2 = jt_object();
		Jsonb	   *partial;
		char	   *msg = psprintf("step \"%s\": iteration %d failed: %s", s->name, k, error);

		(void) ev_flush(run);
		partial = loop_results(run, s, ls, &errors);
		state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_FAILED, true, partial);
		jt_set(m2, "count", jt_int(ls->total));
		jt_set(m2, "failed", jt_int(ls->failed));
		jt_set(m2, "errors", errors);
		ev_emit(run, "step_failed", s->name, "loop", "failed", partial, jt_to_jsonb(m2), msg, 0);
		ev_fail_execution(run, NULL, msg);
		return;
	}
	ev_emit(run, "iteration_failed", s->name, s->tool, "failed", NULL, jt_to_jsonb(meta), error,
		 0)->node_id = item_node(s->name, k);
}

/*
 * item_of says which iteration of its loop task q is; -1 if it is a step's
 * task, LOOP_SAVE if it is its loop's sink task
 */
int32
loop_item_of(TaskState *q)
{
	size_t		len = strlen(q->node_name);
	const char *p;
	int32		k = 0;

	if (strcmp(q->node_id, q->node_name) == 0)
		return -1;
	p = q->node_id + len + 1;
	if (strcmp(p, "save]") == 0)
		return LOOP_SAVE;
	while (*p >= '0' && *p <= '9')
		k = k * 10 + (*p++ - '0');
	return k;
}

/*
 * on_item_done handles the end of iteration k of a loop (done, or dead
 * with no attempt left): the task is written, the window moves on.
 */
void
loop_item_done(Run *run, TaskState *q, int idx, int32 k, bool dead, Jsonb *result,
			 const char *error)
{
	BStep	   *s = &run->pb->steps[idx];
	StepStatus	status;
	Jsonb	   *args;
	LoopState	ls;

	ev_finish_task(run, q, dead ? TASK_DEAD : TASK_DONE, result, 0);
	run->fin_error = error;
	run->ex.pending--;
	if (!state_get_loop(run->nsp, run->ex.execution_id, s->name, &status, &args, &ls) ||
		status != STEP_DISPATCHED)
		return;					/* the loop ended meanwhile */
	loop_item_end(run, idx, &ls, args, k, dead, error);
	loop_fill(run, idx, &ls, args);
}

