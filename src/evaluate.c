/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  Evaluating an event: the AFTER INSERT trigger on noetl.event.
 *
 * An admitted event (admit.c) changes its execution's state here, in the
 * inserting transaction, with the execution's row locked:
 *
 *	execution_start		creates the execution and dispatches from "start"
 *	action_completed	marks the task done, stores its result, and fires
 *						every "next" entry whose condition holds
 *	action_error		retries the task later, or fails the step and the
 *						execution and cancels the rest
 *	action_released		puts a leased task back in the queue
 *	execution_cancel	cancels the execution's unfinished tasks
 *
 * Dispatching a step: a control step (no tool) completes at once and its
 * own "next" is evaluated in the same call; an actionable step has its
 * fields rendered and becomes a noetl.queue row.  Each step runs at most
 * once per execution (the queue's unique (execution_id, node_id) and
 * step_state's key enforce it).  The "end" step is a join: arrivals only
 * mark it waiting, and it runs once nothing else is outstanding.
 *
 * Completion is a count: noetl.execution.pending holds the tasks queued,
 * leased or waiting to retry, plus one for each running loop (loop.c).  When it reaches zero with nothing failed,
 * "end" runs (if it was reached) and the execution completes with the end
 * step's rendered "result:".
 *
 * Errors in the playbook's logic become recorded failures: a condition
 * that raises counts as false and leaves a "warning" event; a task whose
 * fields cannot be rendered fails its step and the execution.  Templates
 * are evaluated in a subtransaction each (protected_eval).
 *
 * The data path reads top to bottom: the evaluation decides (dispatch,
 * handlers), ev_flush() writes what it decided through the state machine
 * (state.c) and the event log (event.c), and records for the broker
 * worker what to announce once the transaction commits (wakeup.c).
 *
 * A loop step (loop.c) and a sub-playbook step (child.c) are dispatched,
 * and their tasks' ends handled, through the same Run (evaluate.h): the
 * evaluation is one recursion around it (dispatch, evaluate_next, finish
 * and the handlers call one another, and so do a loop's admissions and a
 * child's start and end).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "admit.h"
#include "evaluate.h"
#include "event.h"
#include "guc.h"
#include "jtree.h"
#include "owner.h"
#include "playbook_cache.h"
#include "rows.h"
#include "secret_marker.h"
#include "snowflake.h"
#include "state.h"
#include "subxact.h"
#include "template.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(noetl_event_after);

/*
 * unwrap removes NoETL's result envelope {id, status, data} (any subset
 * with status and data): the step's result is the data.
 */
Jsonb *
ev_unwrap(Jsonb *result)
{
	static const char *const envelope[] = {"id", "status", "data", "meta"};
	JsonbValue *data;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (jb_get(result, "status") == NULL || (data = jb_get(result, "data")) == NULL)
		return result;
	it = JsonbIteratorInit(&result->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			i;

		if (tok != WJB_KEY)
			continue;
		for (i = 0; i < lengthof(envelope); i++)
			if (v.val.string.len == strlen(envelope[i]) &&
				memcmp(v.val.string.val, envelope[i], v.val.string.len) == 0)
				break;
		if (i == lengthof(envelope))
			return result;		/* a key of its own: not an envelope */
	}
	return JsonbValueToJsonb(data);
}

/* ---------------------------------------------------------------- context */

/*
 * step_result returns the result of finished step idx (None when it has
 * none), or NULL if the step has not finished.  Results read from the
 * state tables are kept for the rest of the evaluation.
 */
static TVal *
step_result(Run *run, int idx)
{
	const char *name = run->pb->steps[idx].name;
	TVal	   *v;
	Jsonb	   *res;
	bool		found;
	int			i;
	MemoryContext old;

	for (i = 0; i < run->nseen; i++)
		if (run->seen_names[i] == name)
			return run->seen_values[i];
	/* kept for the whole evaluation, beyond the rendering that asks */
	old = MemoryContextSwitchTo(run->cxt);
	res = state_step_result(run->ex.execution_id, name,
							run->pb->steps[idx].tool != NULL && run->pb->steps[idx].loop == NULL,
							&found);
	v = !found ? NULL : res ? tv_from_jsonb(res) : tv_none();
	MemoryContextSwitchTo(old);
	if (!found)
		return NULL;
	if (run->nseen < lengthof(run->seen_names))
	{
		run->seen_names[run->nseen] = name;
		run->seen_values[run->nseen++] = v;
	}
	return v;
}

/*
 * know_result records the result of the step that just finished: its queue
 * row is written only at ev_flush(), so lookups must not read it.
 */
void
ev_know_result(Run *run, int idx, Jsonb *result)
{
	run->nseen = 1;
	run->seen_names[0] = run->pb->steps[idx].name;
	run->seen_values[0] = result ? tv_from_jsonb(result) : tv_none();
}

/*
 * base_lookup resolves a name of the execution's context: workload,
 * execution_id, result, and the result of each finished step.
 */
static TVal *
base_lookup(void *arg, const char *key, int len)
{
	Run		   *run = (Run *) arg;
	int			idx;

	if (len == 8 && memcmp(key, "workload", 8) == 0)
		return tv_from_jsonb(run->ex.workload);
	if (len == 12 && memcmp(key, "execution_id", 12) == 0)
		return tv_int(run->ex.execution_id);
	if (len == 6 && memcmp(key, "result", 6) == 0)
		return run->result;
	idx = pb_step_index(run->pb, key, len);
	return idx < 0 ? NULL : step_result(run, idx);
}

static bool
name_is(const char *key, int len, const char *name)
{
	return name != NULL && strlen(name) == (size_t) len && memcmp(key, name, len) == 0;
}

/*
 * context_lookup resolves a name of the template context: an iteration's
 * names first (NoETL's iteration context shadowed the execution's), then
 * the execution's.  "parent" is the execution's context without the
 * iteration (plugin/iterator/config.py @58c2a16b).
 */
static TVal *
context_lookup(void *arg, const char *key, int len)
{
	Run		   *run = (Run *) arg;
	LoopFrame  *f = run->frame;

	if (f != NULL)
	{
		if (name_is(key, len, f->element_name))
			return f->element;
		if (name_is(key, len, "_loop"))
			return f->loop;
		if (f->index != NULL && name_is(key, len, "index"))
			return f->index;
		if (f->batch != NULL && name_is(key, len, "batch"))
			return f->batch;
		if (name_is(key, len, f->step))
			return f->self;
		if (name_is(key, len, "parent"))
		{
			TVal	   *d = tv_dict_new();

			d->u.dict.lookup = base_lookup;
			d->u.dict.lookup_arg = run;
			return d;
		}
	}
	return base_lookup(arg, key, len);
}

TVal *
ev_make_context(Run *run)
{
	TVal	   *d = tv_dict_new();

	d->u.dict.lookup = context_lookup;
	d->u.dict.lookup_arg = run;
	return d;
}

/* ---------------------------------------------------------------- events */

BEvent *
ev_emit(Run *run, const char *type, const char *step, const char *node_type,
	 const char *status, Jsonb *result, Jsonb *meta, const char *error, int64 queue_id)
{
	BEvent	   *ev;

	if (run->nevents == run->capevents)
	{
		run->capevents = run->capevents ? run->capevents * 2 : 8;
		/* in the evaluation's context: a loop's admissions reset their own */
		run->events = run->events ? repalloc(run->events, sizeof(BEvent) * run->capevents)
			: MemoryContextAlloc(run->cxt, sizeof(BEvent) * run->capevents);
	}
	ev = &run->events[run->nevents++];
	memset(ev, 0, sizeof(BEvent));
	ev->event_id = noetl_next_id();
	ev->event_type = type;
	ev->node_name = step;
	ev->node_type = node_type;
	ev->status = status;
	ev->result = result;
	ev->meta = meta;
	ev->error = error;
	ev->queue_id = queue_id;
	return ev;
}

/*
 * flush writes what the evaluation decided so far: the task that finished,
 * the tasks dispatched, the broker's events (a step_started only if its
 * task was queued) and the execution row.  A dispatched step that another
 * event had already queued is not queued again: the execution's pending
 * count is then lower than assumed, and flush returns true.
 */
bool
ev_flush(Run *run)
{
	bool		changed = run->ex.pending != run->orig_pending ||
		run->ex.status != run->orig_status ||
		run->exec_result != NULL || run->exec_error != NULL || run->ended;
	bool	   *queued = NULL;
	int			nqueued = 0;
	int			ntasks = run->ntasks;
	BEvent	  **evs;
	int			nevs = 0;
	int			i;

	if (!run->fin && run->ntasks == 0 && run->nevents == 0 && !changed && !run->new_exec)
		return false;
	if (run->fin && run->fin_status == TASK_RETRY)
	{
		state_retry_task(run->nsp, &run->fin_task, run->fin_at);
		wake_record_due(run->fin_at);
	}
	else if (run->fin)
		state_finish_task(run->nsp, &run->fin_task, run->fin_status, run->fin_result,
						  run->fin_error);
	if (ntasks > 0)
	{
		queued = palloc(sizeof(bool) * ntasks);
		nqueued = state_queue_tasks(run->nsp, run->ex.execution_id, run->ex.catalog_id,
									run->tasks, ntasks, queued);
		for (i = 0; i < ntasks; i++)
			if (queued[i])
				wake_record_ready(run->tasks[i].queue_id);
	}
	evs = palloc(sizeof(BEvent *) * Max(run->nevents, 1));
	for (i = 0; i < run->nevents; i++)
	{
		BEvent	   *e = &run->events[i];

		if (e->if_queued)
		{
			int			k;

			for (k = 0; k < ntasks; k++)
				if (run->tasks[k].queue_id == e->queue_id)
					break;
			if (k < ntasks && !queued[k])
				continue;
		}
		evs[nevs++] = e;
	}
	event_append(run->event_rel, run->ex.execution_id, run->ex.catalog_id,
				 run->ex.has_parent ? run->ex.parent_execution_id : 0, run->event_id, evs, nevs);
	rows_done();

	run->ex.pending -= ntasks - nqueued;
	if (run->new_exec)
		state_insert_execution(run->nsp, &run->ex, run->exec_result, run->exec_error,
							   run->ended);
	else if (changed || nqueued < ntasks)
		state_update_execution(run->nsp, run->ex.execution_id, run->ex.status, run->ex.pending,
							   run->exec_result, run->exec_error, run->ended);
	run->orig_pending = run->ex.pending;
	run->orig_status = run->ex.status;
	run->exec_result = NULL;
	run->exec_error = NULL;
	run->ended = false;
	run->new_exec = false;
	run->fin = false;
	run->fin_error = NULL;
	run->fin_at = 0;
	run->nevents = 0;
	run->ntasks = 0;
	return nqueued < ntasks;
}

/* finish_task buffers the update of the task that the event reports */
void
ev_finish_task(Run *run, TaskState *q, TaskStatus status, Jsonb *result, TimestampTz at)
{
	run->fin_task = *q;
	run->fin = true;
	run->fin_status = status;
	run->fin_result = result;
	run->fin_error = NULL;
	run->fin_at = at;
}

Jsonb *
ev_meta_of(const char *key, const char *value)
{
	JsonbValue *o = jt_object();

	jt_set(o, key, jt_string(value));
	return jt_to_jsonb(o);
}

/*
 * Template evaluation is protected as PL/pgSQL protects an exception
 * block: in an internal subtransaction, so that an error raised anywhere
 * inside it (including in the SPI reads of step results that templates
 * trigger) is rolled back cleanly and the evaluation goes on.  What is
 * caught is an error of the template: a data exception (class 22: type
 * errors, undefined values, out-of-range numbers, ...) or a limit it ran
 * into (class 54: noetl.template_max_steps and the other budgets, stack
 * depth).  Everything else (cancellation, lock and serialisation failures,
 * out of memory, internal errors) is thrown on to abort the event.
 */
typedef struct Protected
{
	Run		   *run;
	Jsonb	   *tpl;			/* render: the template value */
	const char *cond;			/* truthy: the condition and its context */
	int			len;
	TVal	   *ctx;
	Jsonb	   *out;
	bool		value;
} Protected;

static bool
template_error(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION || category == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/* protected_body is what protected_eval runs in its subtransaction */
static void
protected_body(void *arg)
{
	Protected  *p = (Protected *) arg;

	if (p->tpl != NULL)
		p->out = tpl_render_jsonb(p->tpl, p->ctx, p->run->pb->templates);
	else
		p->value = tpl_truthy(p->cond, p->len, p->ctx, p->run->pb->templates);
}

/*
 * protected_eval evaluates p (a render when p->tpl is set, else a
 * condition) in a subtransaction; a template error leaves its message in
 * *err, allocated in the evaluation's context.
 */
static void
protected_eval(Protected *p, char **err)
{
	ErrorData  *ed = subxact_run(protected_body, p);

	*err = NULL;
	if (ed == NULL)
		return;
	if (!template_error(ed->sqlerrcode))
		ReThrowError(ed);
	*err = ed->message;
	p->out = NULL;
	p->value = false;
}

/*
 * render renders a template value (in the evaluation's context, or in
 * ctx); a template error leaves NULL and its message in *err (other
 * errors propagate).
 */
static Jsonb *
render_in(Run *run, Jsonb *tpl, TVal *ctx, char **err)
{
	Protected	p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.tpl = tpl;
	p.ctx = ctx;
	protected_eval(&p, err);
	return p.out;
}

Jsonb *
ev_render(Run *run, Jsonb *tpl, char **err)
{
	return render_in(run, tpl, run->ctx, err);
}

/*
 * ev_render_task renders the fields of the task node_id (its step's name,
 * "step[i]" for a loop's iteration) as ev_render does: only here do
 * token() and secret() give their markers, bound to this task
 * (secret_marker.c); everywhere else they fail.
 */
Jsonb *
ev_render_task(Run *run, Jsonb *tpl, const char *node_id, char **err)
{
	Jsonb	   *out = NULL;

	Assert(secret_scope.node_id == NULL);
	secret_scope.execution_id = run->ex.execution_id;
	secret_scope.node_id = node_id;
	PG_TRY();
	{
		out = render_in(run, tpl, run->ctx, err);
	}
	PG_FINALLY();
	{
		secret_scope.node_id = NULL;
	}
	PG_END_TRY();
	return out;
}

/*
 * truthy evaluates a condition in ctx; a template error makes it false,
 * with its message in *err.
 */
bool
ev_truthy(Run *run, const char *cond, int len, TVal *ctx, char **err)
{
	Protected	p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.cond = cond;
	p.len = len;
	p.ctx = ctx;
	protected_eval(&p, err);
	return p.value;
}

/* ---------------------------------------------------------------- failure */


/*
 * fail_execution fails a step (if step is given) and its execution,
 * cancelling the rest.
 */
void
ev_fail_execution(Run *run, const char *step, const char *error)
{
	if (run->ex.status != EXEC_RUNNING)
		return;
	if (step != NULL)
		ev_emit(run, "step_failed", step, NULL, "failed", NULL, NULL, error, 0);
	/* what was decided before the failure is written, then cancelled */
	(void) ev_flush(run);
	if (state_cancel_tasks(run->ex.execution_id) > 0)
		wake_record_cancel(run->ex.execution_id);
	run->ex.pending = 0;
	run->ex.status = EXEC_FAILED;
	run->exec_error = MemoryContextStrdup(run->cxt, error);
	run->ended = true;
	run->end_error = run->exec_error;
	run->end_event_id = ev_emit(run, "execution_failed", NULL, NULL, "failed", NULL, NULL, error,
							 0)->event_id;
	child_cancel_children(run);
}

/* ---------------------------------------------------------------- dispatch */

static void dispatch(Run *run, int idx, Jsonb *args);

/* new_task adds a task to those the evaluation queues at ev_flush() */
TaskSpec *
ev_new_task(Run *run)
{
	TaskSpec   *task;

	if (run->ntasks == run->captasks)
	{
		run->captasks = run->captasks ? run->captasks * 2 : 4;
		run->tasks = run->tasks ? repalloc_huge(run->tasks, sizeof(TaskSpec) * run->captasks)
			: MemoryContextAlloc(run->cxt, sizeof(TaskSpec) * run->captasks);
	}
	task = &run->tasks[run->ntasks++];
	memset(task, 0, sizeof(TaskSpec));
	return task;
}

/*
 * enqueue renders an actionable step into a task and queues it; extra args
 * (from a "next" entry) are laid over the step's own.  Returns false if the
 * step could not be rendered (the execution has then failed).
 */
static bool
enqueue(Run *run, int idx, Jsonb *extra_args)
{
	BStep	   *s = &run->pb->steps[idx];
	Jsonb	   *rendered = NULL;
	char	   *err = NULL;
	TaskSpec   *task;
	JsonbValue *t;
	int			i;

	/* a sub-playbook's args are its workload: no secret markers there */
	rendered = s->subplaybook ? ev_render(run, s->task, &err)
		: ev_render_task(run, s->task, s->name, &err);
	if (err != NULL)
	{
		ev_fail_execution(run, s->name, psprintf("step \"%s\": %s", s->name, err));
		return false;
	}
	t = jt_from_jsonb(rendered);
	if (extra_args != NULL)
	{
		JsonbValue *a = jt_get(t, "args");

		jt_set(t, "args", jt_from_jsonb(jb_merge(a ? jt_to_jsonb(a) : NULL, extra_args)));
	}
	if (s->keep != NULL)
		(void) jt_merge(t, jt_from_jsonb(s->keep), false);
	if (s->subplaybook)
	{
		child_enqueue(run, idx, jt_to_jsonb(t));
		return true;
	}
	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].node == s->name && run->tasks[i].node_id == NULL)
			return true;		/* already dispatched by this evaluation */
	task = ev_new_task(run);
	task->queue_id = noetl_next_id();
	task->node = s->name;
	task->tool = s->tool;
	task->action = jt_to_jsonb(t);
	task->priority = s->priority;
	task->max_attempts = s->retry.max_attempts;
	run->ex.pending++;
	ev_emit(run, "step_started", s->name, s->tool, "started", NULL, NULL, NULL,
		 task->queue_id)->if_queued = true;
	return true;
}

/*
 * evaluate_next fires every "next" entry of step idx whose condition holds.
 */
void
ev_evaluate_next(Run *run, int idx)
{
	BStep	   *s = &run->pb->steps[idx];
	int			i;

	check_stack_depth();
	for (i = 0; i < s->nnext; i++)
	{
		BNext	   *n = &s->next[i];
		bool		fire = n->when_const == 1;
		Jsonb	   *args = NULL;
		char	   *err = NULL;

		if (run->ex.status != EXEC_RUNNING)
			return;
		if (n->when_const < 0)
		{
			fire = ev_truthy(run, n->when, n->when_len, run->ctx, &err);
			if (err != NULL)
			{
				/*
				 * A condition that cannot be evaluated fails the step and
				 * the execution: NoETL took it as false, which sent the
				 * execution down no branch without saying why.
				 */
				ev_fail_execution(run, s->name,
							   psprintf("condition of next[%d] of step \"%s\": %s",
										i, s->name, err));
				return;
			}
		}
		if (!fire)
			continue;
		if (n->args != NULL)
		{
			args = ev_render(run, n->args, &err);
			if (err != NULL)
			{
				ev_fail_execution(run, run->pb->steps[n->target].name,
							   psprintf("args of next[%d] of step \"%s\": %s", i, s->name, err));
				return;
			}
		}
		dispatch(run, n->target, args);
	}
}

/*
 * dispatch runs step idx: the end step waits for the join, a control step
 * completes at once, an actionable step is queued.
 */
static void
dispatch(Run *run, int idx, Jsonb *args)
{
	BStep	   *s = &run->pb->steps[idx];

	CHECK_FOR_INTERRUPTS();
	if (run->ex.status != EXEC_RUNNING)
		return;
	if (idx == run->pb->end)
	{
		(void) state_insert_step(run->nsp, run->ex.execution_id, s->name, STEP_WAITING, args);
		return;
	}
	if (s->loop != NULL)
	{
		loop_start(run, idx, args);
		return;
	}
	if (s->tool == NULL)
	{
		if (!state_insert_step(run->nsp, run->ex.execution_id, s->name, STEP_COMPLETED, args))
			return;
		ev_emit(run, "step_completed", s->name, "control", "completed", NULL, NULL, NULL, 0);
		ev_evaluate_next(run, idx);
		return;
	}
	(void) enqueue(run, idx, args);
}

/*
 * finish runs the end step once nothing else is outstanding, completes the
 * execution when all work is done, and writes the execution row if it
 * changed.
 */
void
ev_finish(Run *run)
{
	BPlaybook  *pb = run->pb;

	if (run->ex.status == EXEC_RUNNING && run->ex.pending == 0)
	{
		StepStatus	status;
		Jsonb	   *args = NULL;
		bool		reached = pb->end >= 0 &&
			state_get_step(run->nsp, run->ex.execution_id, pb->steps[pb->end].name, &status, &args);
		BStep	   *end = pb->end >= 0 ? &pb->steps[pb->end] : NULL;

		if (reached && status == STEP_WAITING)
		{
			/* the join: every branch is done, the end step runs now */
			if (end->loop != NULL)
			{
				/* its step_state row becomes the loop's */
				state_delete_step(run->nsp, run->ex.execution_id, end->name);
				loop_start(run, pb->end, args);
			}
			else if (end->tool != NULL)
			{
				state_set_step(run->nsp, run->ex.execution_id, end->name, STEP_DISPATCHED, NULL);
				(void) enqueue(run, pb->end, args);
			}
			else
			{
				state_set_step(run->nsp, run->ex.execution_id, end->name, STEP_COMPLETED, NULL);
				ev_emit(run, "step_completed", end->name, "control", "completed", NULL, NULL, NULL, 0);
			}
		}
		if (run->ex.status == EXEC_RUNNING && run->ex.pending == 0)
		{
			Jsonb	   *result = NULL;
			char	   *err = NULL;

			if (reached && end->result != NULL)
			{
				result = ev_render(run, end->result, &err);
			}
			else if (reached && end->tool != NULL)
			{
				TVal	   *r = step_result(run, pb->end);

				result = r == NULL || r->kind == TV_NONE ? NULL : tv_to_jsonb(r);
			}
			if (err != NULL)
				ev_fail_execution(run, end->name, psprintf("result of step \"%s\": %s", end->name, err));
			else
			{
				run->ex.status = EXEC_COMPLETED;
				run->exec_result = result;
				run->ended = true;
				run->end_result = result;
				run->end_event_id = ev_emit(run, "execution_complete", NULL, NULL, "completed",
										 result, NULL, NULL, 0)->event_id;
			}
		}
	}
}

/* ---------------------------------------------------------------- handlers */

/*
 * has_template says whether a string value of jb (not a key: keys are not
 * rendered) contains a template delimiter.
 */
static bool
has_template(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString)
		{
			const char *p = v.val.string.val;
			int			i;

			for (i = 0; i + 1 < v.val.string.len; i++)
				if (p[i] == '{' && (p[i + 1] == '{' || p[i + 1] == '%' || p[i + 1] == '#'))
					return true;
		}
	}
	return false;
}

/* the passes render_workload makes before it gives up */
#define WORKLOAD_PASSES 8

/*
 * What the workload's templates see at start: the workload and
 * execution_id.  A template that names anything else (a loop's item, the
 * worker's env) is meant for later: missing records that one did.
 */
typedef struct WorkloadScope
{
	Jsonb	   *workload;
	int64		execution_id;
	bool		missing;
} WorkloadScope;

static TVal *
workload_lookup(void *arg, const char *key, int len)
{
	WorkloadScope *w = (WorkloadScope *) arg;
	int			i;

	if (len == 8 && memcmp(key, "workload", 8) == 0)
		return tv_from_jsonb(w->workload);
	if (len == 12 && memcmp(key, "execution_id", 12) == 0)
		return tv_int(w->execution_id);
	/* a call looks its name up first: the engine's functions are no miss */
	if ((len == 3 && memcmp(key, "now", 3) == 0) ||
		(len == 5 && memcmp(key, "range", 5) == 0) ||
		(len == 4 && memcmp(key, "dict", 4) == 0))
		return NULL;
	/* nor is what the plain path tries ("now()", "a[0]"): no name */
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) key[i];

		if (!(c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (i > 0 && c >= '0' && c <= '9')))
			return NULL;
	}
	if (len > 0)
		w->missing = true;
	return NULL;
}

/*
 * render_workload_keys renders the workload key by key, when rendering it
 * whole failed or named something beyond the scope: a key whose value
 * names something else is kept as it is written (NoETL never rendered a
 * workload, so a template there may be meant for a later rendering); a
 * key whose value raises otherwise leaves the reason in *err.
 */
static Jsonb *
render_workload_keys(Run *run, Jsonb *workload, WorkloadScope *scope, TVal *ctx, char **err)
{
	JsonbParseState *st = NULL;
	JsonbIterator *it = JsonbIteratorInit(&workload->root);
	JsonbValue	k;
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken tok;

	*err = NULL;
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		Jsonb	   *value;
		Jsonb	   *rendered;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
		{
			res = pushJsonbValue(&st, tok, tok == WJB_BEGIN_OBJECT || tok == WJB_END_OBJECT ? NULL : &k);
			continue;
		}
		pushJsonbValue(&st, WJB_KEY, &k);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		value = JsonbValueToJsonb(&v);
		rendered = value;
		if (has_template(value))
		{
			scope->missing = false;
			rendered = render_in(run, value, ctx, err);
			if (scope->missing)
			{
				*err = NULL;
				rendered = value;
			}
			else if (*err != NULL)
			{
				*err = psprintf("key \"%.*s\": %s", k.val.string.len, k.val.string.val, *err);
				return NULL;
			}
		}
		v.type = jbvBinary;
		v.val.binary.data = &rendered->root;
		v.val.binary.len = VARSIZE(rendered) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(res);
}

/*
 * render_workload renders the templates in the workload of a starting
 * execution, with execution_id, now() and the workload itself in scope.
 * A value may use another key of the workload ({{ workload.base }}) and
 * sees that key rendered: the workload is rendered again, each pass
 * against the previous pass's result, until a pass changes nothing (a key
 * that names itself sees its own template).  A key whose templates name
 * anything else is kept as written.  A template error, references that do
 * not settle within WORKLOAD_PASSES passes, or a rendered workload larger
 * than noetl.max_workload_size leaves the reason in *err.
 */
static Jsonb *
render_workload(Run *run, Jsonb *workload, char **err)
{
	Jsonb	   *cur = workload;
	WorkloadScope scope;
	TVal	   *ctx = tv_dict_new();
	int			pass;

	*err = NULL;
	if (!has_template(workload))
		return workload;
	scope.execution_id = run->ex.execution_id;
	ctx->u.dict.lookup = workload_lookup;
	ctx->u.dict.lookup_arg = &scope;
	for (pass = 0; pass < WORKLOAD_PASSES; pass++)
	{
		Jsonb	   *next;

		CHECK_FOR_INTERRUPTS();
		scope.workload = cur;
		scope.missing = false;
		next = render_in(run, workload, ctx, err);
		if (*err != NULL || scope.missing)
			next = render_workload_keys(run, workload, &scope, ctx, err);
		if (*err != NULL)
			return NULL;
		if (!JB_ROOT_IS_OBJECT(next))
		{
			*err = pstrdup("the workload did not render to a mapping");
			return NULL;
		}
		if ((Size) VARSIZE(next) > (Size) noetl_max_workload_kb * 1024)
		{
			*err = psprintf("the rendered workload is larger than noetl.max_workload_size (%d kB)",
							noetl_max_workload_kb);
			return NULL;
		}
		if (VARSIZE(next) == VARSIZE(cur) && memcmp(next, cur, VARSIZE(cur)) == 0)
			return next;
		cur = next;
	}
	*err = psprintf("its values still change after %d renderings: they refer to each other in a cycle, or in a chain longer than that",
					WORKLOAD_PASSES);
	return NULL;
}

/*
 * start_with starts an execution: the workload given is laid over the
 * playbook's, key by key, rendered, and "start" dispatched.
 */
void
ev_start_with(Run *run, Jsonb *given)
{
	Jsonb	   *rendered;
	char	   *err;

	run->ex.workload = given ? jb_merge(run->pb->workload, given) : run->pb->workload;
	run->ex.status = EXEC_RUNNING;
	run->ex.pending = 0;
	run->orig_status = EXEC_RUNNING;
	run->orig_pending = 0;
	/* the row is written by ev_flush(), as this evaluation leaves it */
	run->new_exec = true;
	rendered = render_workload(run, run->ex.workload, &err);
	if (err != NULL)
	{
		ev_fail_execution(run, NULL, psprintf("workload: %s", err));
		return;
	}
	run->ex.workload = rendered;
	dispatch(run, run->pb->start, NULL);
	ev_finish(run);
}

static void
on_start(Run *run, EventRow *row)
{
	ev_start_with(run, jb_get_object(event_jsonb(row, C_CONTEXT), "workload"));
}

int
ev_step_of_task(Run *run, TaskState *q)
{
	int			idx = pb_step_index(run->pb, q->node_name, strlen(q->node_name));

	if (idx < 0)
		elog(ERROR, "task %lld names step \"%s\", which playbook \"%s\" does not have",
			 (long long) q->queue_id, q->node_name, run->pb->path);
	return idx;
}

/*
 * task_done handles the end of a task the evaluation has locked, done with
 * result: a step's task completes its step and fires its "next"; a loop's
 * iteration moves its loop on.  The caller runs ev_finish().
 */
void
ev_task_done(Run *run, TaskState *q, Jsonb *result)
{
	int			idx = ev_step_of_task(run, q);

	if (loop_item_of(q) == LOOP_SAVE)
	{
		loop_save_done(run, q, idx, false, result, NULL);
		return;
	}
	if (loop_item_of(q) >= 0)
	{
		loop_item_done(run, q, idx, loop_item_of(q), false, result, NULL);
		return;
	}
	ev_finish_task(run, q, TASK_DONE, result, 0);
	run->ex.pending--;
	ev_know_result(run, idx, result);
	ev_emit(run, "step_completed", q->node_name, q->tool, "completed", result, NULL, NULL, q->queue_id);
	run->result = result ? tv_from_jsonb(result) : tv_none();
	ev_evaluate_next(run, idx);
}

static void
on_completed(Run *run, TaskState *q, EventRow *row)
{
	if (q->status != TASK_LEASED)
		return;					/* finished meanwhile: nothing to do */
	run->report_meta = event_jsonb(row, C_META);
	ev_task_done(run, q, ev_unwrap(event_jsonb(row, C_RESULT)));
	ev_finish(run);
}

/*
 * retry_context is what retry_when and stop_when see: the error, the
 * result and its keys (status_code, ...), the attempt, and the workload.
 */
static TVal *
retry_context(Run *run, const char *error, Jsonb *result, int attempt)
{
	TVal	   *d = tv_dict_new();
	TVal	   *r = result ? tv_from_jsonb(result) : tv_none();

	if (r->kind == TV_DICT)
		tv_dict_update(d, r);
	tv_dict_set(d, tv_cstr("result"), r);
	tv_dict_set(d, tv_cstr("error"), error ? tv_cstr(error) : tv_none());
	tv_dict_set(d, tv_cstr("attempt"), tv_int(attempt));
	tv_dict_set(d, tv_cstr("workload"), tv_from_jsonb(run->ex.workload));
	tv_dict_set(d, tv_cstr("execution_id"), tv_int(run->ex.execution_id));
	return d;
}

static bool
retry_condition(Run *run, BStep *s, const char *cond, TVal *ctx, bool *ok)
{
	bool		value = false;
	char	   *err = NULL;

	value = ev_truthy(run, cond, strlen(cond), ctx, &err);
	*ok = err == NULL;
	if (err != NULL)
		ev_emit(run, "warning", s->name, NULL, "warning", NULL, ev_meta_of("where", "retry"),
			 psprintf("retry condition of step \"%s\" counts as false: %s", s->name, err), 0);
	return value;
}


/*
 * task_error handles a failed attempt of a task the evaluation has locked:
 * the step's retry policy decides whether it runs again (a sub-playbook's
 * row: with a new child execution); otherwise, or without may_retry, the
 * task is dead and its step fails (a loop's iteration: under the loop's
 * rule).  The caller runs ev_finish().
 */
void
ev_task_error(Run *run, TaskState *q, const char *error, Jsonb *result, bool may_retry)
{
	int			idx = ev_step_of_task(run, q);
	BStep	   *s = &run->pb->steps[idx];
	int			attempt = Max(q->attempts, 1);
	bool		retry = may_retry && attempt < s->retry.max_attempts;
	bool		ok;

	if (error == NULL)
		error = pstrdup("task failed");
	if (retry && (s->retry.retry_when || s->retry.stop_when))
	{
		TVal	   *ctx = retry_context(run, error, result, attempt);

		if (s->retry.retry_when)
			retry = retry_condition(run, s, s->retry.retry_when, ctx, &ok);
		if (retry && s->retry.stop_when && retry_condition(run, s, s->retry.stop_when, ctx, &ok))
			retry = false;
	}
	if (retry && s->subplaybook)
	{
		child_retry(run, q, s, error, attempt);
		return;
	}
	if (retry)
	{
		double		delay = retry_delay(&s->retry, attempt);
		TimestampTz at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) (delay * 1000));
		JsonbValue *meta = jt_object();
		JsonbValue	num;

		ev_finish_task(run, q, TASK_RETRY, NULL, at);
		num.type = jbvNumeric;
		num.val.numeric = int64_to_numeric(attempt);
		jt_set(meta, "attempt", &num);
		num.val.numeric = int64_to_numeric(s->retry.max_attempts);
		jt_set(meta, "max_attempts", &num);
		num.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(delay)));
		jt_set(meta, "delay", &num);
		jt_set(meta, "available_at", jt_string(timestamptz_to_str(at)));
		ev_emit(run, "step_retry", s->name, s->tool, "retry", NULL, jt_to_jsonb(meta), error,
			 q->queue_id)->node_id = q->node_id;
		return;
	}
	if (loop_item_of(q) == LOOP_SAVE)
	{
		loop_save_done(run, q, idx, true, result, error);
		return;
	}
	if (loop_item_of(q) >= 0)
	{
		loop_item_done(run, q, idx, loop_item_of(q), true, result, error);
		return;
	}
	ev_finish_task(run, q, TASK_DEAD, result, 0);
	run->fin_error = error;
	run->ex.pending--;
	ev_fail_execution(run, s->name, error);
}

static void
on_error(Run *run, TaskState *q, EventRow *row)
{
	if (q->status != TASK_LEASED)
		return;
	run->report_meta = event_jsonb(row, C_META);
	ev_task_error(run, q, event_text(row, C_ERROR), ev_unwrap(event_jsonb(row, C_RESULT)), true);
	ev_finish(run);
}

/*
 * on_release gives a leased task back to the queue, as if it had not been
 * leased: the attempt does not count.
 */
static void
on_release(Run *run, TaskState *q)
{
	if (q->status != TASK_LEASED)
		return;
	state_release_task(run->nsp, q);
	wake_record_ready(q->queue_id);
}

static void
on_cancel(Run *run)
{
	if (run->ex.status != EXEC_RUNNING)
		return;
	(void) state_cancel_tasks(run->ex.execution_id);
	wake_record_cancel(run->ex.execution_id);
	run->ex.pending = 0;
	run->ex.status = EXEC_CANCELLED;
	run->ended = true;
	run->end_event_id = ev_emit(run, "execution_cancelled", NULL, NULL, "cancelled", NULL, NULL,
							 NULL, 0)->event_id;
	child_cancel_children(run);
	ev_finish(run);
}

/* ---------------------------------------------------------------- AFTER */

/*
 * Datum noetl_event_after() returns trigger
 */
Datum
noetl_event_after(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	EventRow	row;
	const EvType *et;
	char	   *type;
	Run			run;
	MemoryContext old;
	TaskState	q;
	OwnerSave	save;

	event_check_trigger(fcinfo, false);
	if (noetl_broker_inserting || admit_restoring(td->tg_relation->rd_rel->relowner))
		return PointerGetDatum(NULL);

	memset(&run, 0, sizeof(run));
	run.cxt = AllocSetContextCreate(CurrentMemoryContext, "noetl evaluation",
									ALLOCSET_DEFAULT_SIZES);
	run.event_rel = td->tg_relation;
	run.nsp = RelationGetNamespace(td->tg_relation);
	owner_enter(td->tg_relation->rd_rel->relowner, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(run.cxt);

	event_read(&row, td->tg_relation, td->tg_trigtuple);
	type = event_text(&row, C_EVENT_TYPE);
	et = event_type_of(type);
	if (et == NULL || !event_evaluated(et->kind))
		goto done;
	if (!row.nulls[C_STATUS])
		goto done;				/* admitted as ignored */
	run.event_id = event_int8(&row, C_EVENT_ID);
	run.ex.execution_id = event_int8(&row, C_EXECUTION_ID);
	run.ex.catalog_id = event_int8(&row, C_CATALOG_ID);
	run.pb = pb_get(run.ex.catalog_id);
	run.ctx = ev_make_context(&run);
	run.result = tv_none();

	if (et->kind == EV_START)
	{
		on_start(&run, &row);
		goto done;
	}
	if (et->kind == EV_CANCEL)
	{
		if (!state_lock_execution(run.ex.execution_id, &run.ex))
			elog(ERROR, "execution %lld disappeared", (long long) run.ex.execution_id);
	}
	else if (!admit_recall(run.event_id, &run.ex, &q) &&
			 !state_lock_task(run.nsp, true, event_int8(&row, C_QUEUE_ID), 0, NULL, &run.ex, &q))
		elog(ERROR, "task %lld disappeared", (long long) event_int8(&row, C_QUEUE_ID));
	run.orig_pending = run.ex.pending;
	run.orig_status = run.ex.status;
	if (et->kind == EV_CANCEL)
	{
		on_cancel(&run);
		goto done;
	}
	if (run.ex.status != EXEC_RUNNING)
		goto done;
	if (et->kind == EV_COMPLETED)
		on_completed(&run, &q, &row);
	else if (et->kind == EV_RELEASE)
		on_release(&run, &q);
	else
		on_error(&run, &q, &row);

done:
	/*
	 * Write what the evaluation decided.  If a dispatched step turned out
	 * to be queued already, fewer tasks are outstanding than assumed, and
	 * the execution may be finished after all.
	 */
	while (run.pb != NULL && ev_flush(&run))
	{
		if (run.ex.status != EXEC_RUNNING || run.ex.pending != 0)
			break;
		ev_finish(&run);
	}
	/* a sub-playbook's end completes, fails or cancels its parent's step */
	if (run.pb != NULL)
		child_propagate(&run);
	admit_forget();
	MemoryContextSwitchTo(old);
	SPI_finish();
	owner_leave(&save);
	MemoryContextDelete(run.cxt);
	return PointerGetDatum(NULL);
}
