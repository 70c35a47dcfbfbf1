/*-------------------------------------------------------------------------
 *
 * broker.c
 *	  The broker: triggers on noetl.event that evaluate executions.
 *
 * Inserting an event is the API.  The BEFORE INSERT trigger validates the
 * event, locks its execution's row (FOR NO KEY UPDATE, held to the end of
 * the transaction: events of one execution are evaluated one at a time,
 * events of different executions never wait for each other), and fills
 * event_id, catalog_id, created_at and the task's node.  The AFTER INSERT
 * trigger evaluates the execution and writes the consequences, all in the
 * inserting transaction:
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
 * leased or waiting to retry.  When it reaches zero with nothing failed,
 * "end" runs (if it was reached) and the execution completes with the end
 * step's rendered "result:".
 *
 * Errors in the event itself (unknown execution or task, a completion from
 * a worker that does not hold the lease, malformed columns) reject the
 * INSERT.  Errors in the playbook's logic become recorded failures: a
 * condition that raises counts as false and leaves a "warning" event; a
 * task whose fields cannot be rendered fails its step and the execution.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "broker.h"
#include "bgworker.h"
#include "guc.h"
#include "jtree.h"
#include "snowflake.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(noetl_event_before);
PG_FUNCTION_INFO_V1(noetl_event_after);
PG_FUNCTION_INFO_V1(noetl_broker_is_writing);
PG_FUNCTION_INFO_V1(noetl_event_is_verbatim);

/* set while the broker appends its own events, so the triggers let them by */
bool		noetl_broker_inserting = false;

typedef enum EvKind
{
	EV_START,
	EV_COMPLETED,
	EV_ERROR,
	EV_CANCEL,
	EV_RELEASE,					/* a worker gives a leased task back */
	EV_ACTION_LOG,				/* action_started, step_result: about a task */
	EV_BROKER,					/* written by the broker only */
	EV_LOG						/* anything else */
} EvKind;

typedef struct EvType
{
	const char *name;
	EvKind		kind;
	const char *canonical;
} EvType;

static const EvType event_types[] = {
	{"execution_start", EV_START, "execution_start"},
	{"execution_started", EV_START, "execution_start"},
	{"playbook_started", EV_START, "execution_start"},
	{"action_completed", EV_COMPLETED, "action_completed"},
	{"action_error", EV_ERROR, "action_error"},
	{"action_failed", EV_ERROR, "action_error"},
	{"execution_cancel", EV_CANCEL, "execution_cancel"},
	{"action_released", EV_RELEASE, "action_released"},
	{"action_started", EV_ACTION_LOG, "action_started"},
	{"step_result", EV_ACTION_LOG, "step_result"},
	{"step_started", EV_BROKER, "step_started"},
	{"step_completed", EV_BROKER, "step_completed"},
	{"step_failed", EV_BROKER, "step_failed"},
	{"step_retry", EV_BROKER, "step_retry"},
	{"execution_complete", EV_BROKER, "execution_complete"},
	{"execution_completed", EV_BROKER, "execution_complete"},
	{"execution_failed", EV_BROKER, "execution_failed"},
	{"execution_cancelled", EV_BROKER, "execution_cancelled"},
};

/* attribute numbers of noetl.event's columns, by EventColumn */
static const AttrNumber *attnums;

/* the event being evaluated, and what the evaluation decided */
typedef struct Run
{
	MemoryContext cxt;
	Relation	event_rel;		/* the trigger's relation: noetl.event */
	ExecState	ex;
	BPlaybook  *pb;
	int64		event_id;		/* the triggering event */
	Jsonb	   *exec_result;
	char	   *exec_error;
	bool		ended;
	TVal	   *result;			/* "result" in templates */
	TVal	   *ctx;			/* the lazy template context */
	int32		orig_pending;	/* the execution row as last written */
	char		orig_status[16];
	/* writes, buffered until flush() */
	Oid			nsp;			/* the noetl schema */
	QueueState	fin_task;		/* the task that finished, as locked */
	const char *fin_status;		/* its new status, NULL = none */
	Jsonb	   *fin_result;
	TimestampTz fin_at;
	BTask	   *tasks;			/* tasks to queue */
	int			ntasks;
	int			captasks;
	BEvent	   *events;			/* broker events */
	int			nevents;
	int			capevents;
	/* step results already read, for repeated template lookups */
	int			nseen;
	const char *seen_names[16];
	TVal	   *seen_values[16];
} Run;

/* ---------------------------------------------------------------- helpers */

/*
 * The triggers run as the owner of noetl.event (the extension's owner), so
 * that a client allowed only to insert events can drive executions, with
 * the search_path pinned to pg_catalog (every statement the broker runs is
 * schema-qualified).  This is what a SECURITY DEFINER function with SET
 * search_path does, done here the way PostgreSQL's own RI triggers switch
 * user: without the GUC machinery that SET costs on every call, and with
 * prepared plans whose search_path never changes.  Errors need no cleanup:
 * aborting the (sub)transaction restores the user and pops the path.
 */
typedef struct BrokerSave
{
	Oid			userid;
	int			sec_context;
} BrokerSave;

static void
broker_enter(Relation rel, BrokerSave *save)
{
	OverrideSearchPath path;

	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	path.schemas = NIL;
	path.addCatalog = true;
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
}

static void
broker_leave(BrokerSave *save)
{
	PopOverrideSearchPath();
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

static const EvType *
event_type_of(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(event_types); i++)
		if (strcmp(event_types[i].name, name) == 0)
			return &event_types[i];
	return NULL;
}

/*
 * An event's row, read from the trigger's tuple.  Values the BEFORE
 * trigger sets are allocated in cxt, the memory context the trigger was
 * called in: the new tuple is formed after SPI_finish, which frees what
 * was allocated while SPI was connected.  A column of a later schema
 * version that the table does not have reads as NULL and is never set.
 */
typedef struct Row
{
	HeapTuple	tuple;
	TupleDesc	td;
	MemoryContext cxt;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	bool		replace[NCOLS];
} Row;

static void
row_read(Row *r, HeapTuple tuple, TupleDesc td)
{
	int			i;

	r->tuple = tuple;
	r->td = td;
	r->cxt = CurrentMemoryContext;
	for (i = 0; i < NCOLS; i++)
	{
		if (attnums[i] == InvalidAttrNumber)
		{
			r->values[i] = (Datum) 0;
			r->nulls[i] = true;
		}
		else
			r->values[i] = heap_getattr(tuple, attnums[i], td, &r->nulls[i]);
		r->replace[i] = false;
	}
}

static char *
row_text(Row *r, int col)
{
	return r->nulls[col] ? NULL : TextDatumGetCString(r->values[col]);
}

/* row_set_value sets a column to a by-value datum */
static void
row_set_value(Row *r, int col, Datum value)
{
	if (attnums[col] == InvalidAttrNumber)
		return;
	r->values[col] = value;
	r->nulls[col] = false;
	r->replace[col] = true;
}

/* row_set_text sets a column to a copy of s, made in the row's context */
static void
row_set_text(Row *r, int col, const char *s)
{
	MemoryContext old;

	if (attnums[col] == InvalidAttrNumber)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	r->values[col] = CStringGetTextDatum(s);
	MemoryContextSwitchTo(old);
	r->nulls[col] = false;
	r->replace[col] = true;
}

static void
row_set_null(Row *r, int col)
{
	if (attnums[col] == InvalidAttrNumber)
		return;
	r->values[col] = (Datum) 0;
	r->nulls[col] = true;
	r->replace[col] = true;
}

static void
check_trigger(FunctionCallInfo fcinfo, bool before)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("noetl event functions must be called as triggers")));
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		(before ? !TRIGGER_FIRED_BEFORE(td->tg_event) : !TRIGGER_FIRED_AFTER(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("noetl event functions must fire %s INSERT FOR EACH ROW",
						before ? "BEFORE" : "AFTER")));
}

/*
 * unwrap removes NoETL's result envelope {id, status, data} (any subset
 * with status and data): the step's result is the data.
 */
static Jsonb *
unwrap(Jsonb *result)
{
	JsonbValue	k;
	JsonbValue *data;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (result == NULL || !JB_ROOT_IS_OBJECT(result))
		return result;
	k.type = jbvString;
	k.val.string.val = "status";
	k.val.string.len = 6;
	if (findJsonbValueFromContainer(&result->root, JB_FOBJECT, &k) == NULL)
		return result;
	k.val.string.val = "data";
	k.val.string.len = 4;
	data = findJsonbValueFromContainer(&result->root, JB_FOBJECT, &k);
	if (data == NULL)
		return result;
	it = JsonbIteratorInit(&result->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if (!((v.val.string.len == 2 && memcmp(v.val.string.val, "id", 2) == 0) ||
			  (v.val.string.len == 6 && memcmp(v.val.string.val, "status", 6) == 0) ||
			  (v.val.string.len == 4 && memcmp(v.val.string.val, "data", 4) == 0) ||
			  (v.val.string.len == 4 && memcmp(v.val.string.val, "meta", 4) == 0)))
			return result;
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
	res = state_step_result(run->ex.execution_id, name, run->pb->steps[idx].tool != NULL, &found);
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
 * row is written only at flush(), so lookups must not read it.
 */
static void
know_result(Run *run, int idx, Jsonb *result)
{
	run->nseen = 1;
	run->seen_names[0] = run->pb->steps[idx].name;
	run->seen_values[0] = result ? tv_from_jsonb(result) : tv_none();
}

/*
 * context_lookup resolves a name of the template context: workload,
 * execution_id, result, and the result of each finished step.
 */
static TVal *
context_lookup(void *arg, const char *key, int len)
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

static TVal *
make_context(Run *run)
{
	TVal	   *d = tv_dict_new();

	d->u.dict.lookup = context_lookup;
	d->u.dict.lookup_arg = run;
	return d;
}

/* ---------------------------------------------------------------- events */

static BEvent *
emit(Run *run, const char *type, const char *step, const char *node_type,
	 const char *status, Jsonb *result, Jsonb *meta, const char *error, int64 queue_id)
{
	BEvent	   *ev;

	if (run->nevents == run->capevents)
	{
		run->capevents = run->capevents ? run->capevents * 2 : 8;
		run->events = run->events ? repalloc(run->events, sizeof(BEvent) * run->capevents)
			: palloc(sizeof(BEvent) * run->capevents);
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
static bool
flush(Run *run)
{
	bool		changed = run->ex.pending != run->orig_pending ||
		strcmp(run->ex.status, run->orig_status) != 0 ||
		run->exec_result != NULL || run->exec_error != NULL || run->ended;
	bool	   *queued = NULL;
	int			nqueued = 0;
	int			ntasks = run->ntasks;
	BEvent	  **evs;
	int			nevs = 0;
	int			i;

	if (run->fin_status == NULL && run->ntasks == 0 && run->nevents == 0 && !changed)
		return false;
	if (run->fin_status != NULL)
	{
		rows_finish_task(run->nsp, &run->fin_task, run->fin_status, run->fin_result,
						 run->fin_at);
		if (run->fin_at != 0)
			wake_record_due(run->fin_at);
	}
	if (ntasks > 0)
	{
		queued = palloc(sizeof(bool) * ntasks);
		nqueued = rows_queue_tasks(run->nsp, run->ex.execution_id, run->ex.catalog_id,
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
	if (nevs > 0)
	{
		bool		saved = noetl_broker_inserting;

		noetl_broker_inserting = true;
		PG_TRY();
		{
			rows_append_events(run->event_rel, run->ex.execution_id, run->ex.catalog_id,
							   run->event_id, evs, nevs);
		}
		PG_FINALLY();
		{
			noetl_broker_inserting = saved;
		}
		PG_END_TRY();
	}
	rows_done();

	run->ex.pending -= ntasks - nqueued;
	if (changed || nqueued < ntasks)
		state_update_execution(run->ex.execution_id, run->ex.status, run->ex.pending,
							   run->exec_result, run->exec_error, run->ended);
	run->orig_pending = run->ex.pending;
	strlcpy(run->orig_status, run->ex.status, sizeof(run->orig_status));
	run->exec_result = NULL;
	run->exec_error = NULL;
	run->ended = false;
	run->fin_status = NULL;
	run->fin_at = 0;
	run->nevents = 0;
	run->ntasks = 0;
	return nqueued < ntasks;
}

/* finish_task buffers the update of the task that the event reports */
static void
finish_task(Run *run, QueueState *q, const char *status, Jsonb *result, TimestampTz at)
{
	run->fin_task = *q;
	run->fin_status = status;
	run->fin_result = result;
	run->fin_at = at;
}

static Jsonb *
meta_of(const char *key, const char *value)
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

/*
 * protected_eval evaluates p (a render when p->tpl is set, else a
 * condition) in a subtransaction; a template error leaves its message in
 * *err, allocated in the evaluation's context.
 */
static void
protected_eval(Protected *p, char **err)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	*err = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (p->tpl != NULL)
			p->out = tpl_render_jsonb(p->tpl, p->ctx, p->run->pb->templates);
		else
			p->value = tpl_truthy(p->cond, p->len, p->ctx, p->run->pb->templates);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!template_error(ed->sqlerrcode))
			ReThrowError(ed);
		*err = ed->message;
		p->out = NULL;
		p->value = false;
	}
	PG_END_TRY();
}

/*
 * render renders a template value; a template error leaves NULL and its
 * message in *err (other errors propagate).
 */
static Jsonb *
render(Run *run, Jsonb *tpl, char **err)
{
	Protected	p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.tpl = tpl;
	p.ctx = run->ctx;
	protected_eval(&p, err);
	return p.out;
}

/*
 * truthy evaluates a condition in ctx; a template error makes it false,
 * with its message in *err.
 */
static bool
truthy(Run *run, const char *cond, int len, TVal *ctx, char **err)
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
 * fail_execution fails a step and its execution, cancelling the rest.
 */
static void
fail_execution(Run *run, const char *step, const char *error)
{
	if (strcmp(run->ex.status, "running") != 0)
		return;
	emit(run, "step_failed", step, NULL, "failed", NULL, NULL, error, 0);
	/* what was decided before the failure is written, then cancelled */
	(void) flush(run);
	if (state_cancel_queue(run->ex.execution_id) > 0)
		wake_record_cancel(run->ex.execution_id);
	run->ex.pending = 0;
	strlcpy(run->ex.status, "failed", sizeof(run->ex.status));
	run->exec_error = pstrdup(error);
	run->ended = true;
	emit(run, "execution_failed", NULL, NULL, "failed", NULL, NULL, error, 0);
}

/* ---------------------------------------------------------------- dispatch */

static void dispatch(Run *run, int idx, Jsonb *args);

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
	BTask	   *task;
	JsonbValue *t;
	int			i;

	rendered = render(run, s->task, &err);
	if (err != NULL)
	{
		fail_execution(run, s->name, psprintf("step \"%s\": %s", s->name, err));
		return false;
	}
	t = jt_from_jsonb(rendered);
	if (extra_args != NULL)
	{
		JsonbValue *a = jt_get(t, "args");

		jt_set(t, "args", jt_from_jsonb(jb_merge(a ? jt_to_jsonb(a) : NULL, extra_args)));
	}
	if (s->keep != NULL)
	{
		JsonbValue *k = jt_from_jsonb(s->keep);

		for (i = 0; i < k->val.object.nPairs; i++)
		{
			JsonbPair  *p = &k->val.object.pairs[i];

			jt_set(t, pnstrdup(p->key.val.string.val, p->key.val.string.len), &p->value);
		}
	}
	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].node == s->name)
			return true;		/* already dispatched by this evaluation */
	if (run->ntasks == run->captasks)
	{
		run->captasks = run->captasks ? run->captasks * 2 : 4;
		run->tasks = run->tasks ? repalloc(run->tasks, sizeof(BTask) * run->captasks)
			: palloc(sizeof(BTask) * run->captasks);
	}
	task = &run->tasks[run->ntasks++];
	task->queue_id = noetl_next_id();
	task->node = s->name;
	task->tool = s->tool;
	task->action = jt_to_jsonb(t);
	task->priority = s->priority;
	task->max_attempts = s->retry.max_attempts;
	run->ex.pending++;
	emit(run, "step_started", s->name, s->tool, "started", NULL, NULL, NULL,
		 task->queue_id)->if_queued = true;
	return true;
}

/*
 * evaluate_next fires every "next" entry of step idx whose condition holds.
 */
static void
evaluate_next(Run *run, int idx)
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

		if (strcmp(run->ex.status, "running") != 0)
			return;
		if (n->when_const < 0)
		{
			fire = truthy(run, n->when, n->when_len, run->ctx, &err);
			if (err != NULL)
			{
				/* a condition that cannot be evaluated is false, with a warning */
				emit(run, "warning", s->name, NULL, "warning", NULL,
					 meta_of("where", psprintf("next[%d].when", i)),
					 psprintf("condition of next[%d] of step \"%s\" counts as false: %s",
							  i, s->name, err), 0);
				fire = false;
			}
		}
		if (!fire)
			continue;
		if (n->args != NULL)
		{
			args = render(run, n->args, &err);
			if (err != NULL)
			{
				fail_execution(run, run->pb->steps[n->target].name,
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
	if (strcmp(run->ex.status, "running") != 0)
		return;
	if (idx == run->pb->end)
	{
		(void) state_insert_step(run->ex.execution_id, s->name, "waiting", args);
		return;
	}
	if (s->tool == NULL)
	{
		if (!state_insert_step(run->ex.execution_id, s->name, "completed", args))
			return;
		emit(run, "step_completed", s->name, "control", "completed", NULL, NULL, NULL, 0);
		evaluate_next(run, idx);
		return;
	}
	(void) enqueue(run, idx, args);
}

/*
 * finish runs the end step once nothing else is outstanding, completes the
 * execution when all work is done, and writes the execution row if it
 * changed.
 */
static void
finish(Run *run)
{
	BPlaybook  *pb = run->pb;

	if (strcmp(run->ex.status, "running") == 0 && run->ex.pending == 0)
	{
		char		status[16];
		Jsonb	   *args = NULL;
		bool		reached = pb->end >= 0 &&
			state_get_step(run->ex.execution_id, pb->steps[pb->end].name, status, &args);
		BStep	   *end = pb->end >= 0 ? &pb->steps[pb->end] : NULL;

		if (reached && strcmp(status, "waiting") == 0)
		{
			/* the join: every branch is done, the end step runs now */
			if (end->tool != NULL)
			{
				state_set_step(run->ex.execution_id, end->name, "dispatched", NULL);
				(void) enqueue(run, pb->end, args);
			}
			else
			{
				state_set_step(run->ex.execution_id, end->name, "completed", NULL);
				emit(run, "step_completed", end->name, "control", "completed", NULL, NULL, NULL, 0);
			}
		}
		if (strcmp(run->ex.status, "running") == 0 && run->ex.pending == 0)
		{
			Jsonb	   *result = NULL;
			char	   *err = NULL;

			if (reached && end->result != NULL)
			{
				result = render(run, end->result, &err);
			}
			else if (reached && end->tool != NULL)
			{
				TVal	   *r = step_result(run, pb->end);

				result = r == NULL || r->kind == TV_NONE ? NULL : tv_to_jsonb(r);
			}
			if (err != NULL)
				fail_execution(run, end->name, psprintf("result of step \"%s\": %s", end->name, err));
			else
			{
				strlcpy(run->ex.status, "completed", sizeof(run->ex.status));
				run->exec_result = result;
				run->ended = true;
				emit(run, "execution_complete", NULL, NULL, "completed", result, NULL, NULL, 0);
			}
		}
	}
}

/* ---------------------------------------------------------------- handlers */

static void
on_start(Run *run, Row *row)
{
	Jsonb	   *ctx = row->nulls[C_CONTEXT] ? NULL : DatumGetJsonbP(row->values[C_CONTEXT]);
	Jsonb	   *given = NULL;

	if (ctx != NULL)
	{
		JsonbValue	k;
		JsonbValue *w;

		k.type = jbvString;
		k.val.string.val = "workload";
		k.val.string.len = strlen("workload");
		w = findJsonbValueFromContainer(&ctx->root, JB_FOBJECT, &k);
		if (w != NULL && w->type == jbvBinary && JsonContainerIsObject(w->val.binary.data))
			given = JsonbValueToJsonb(w);
	}
	/* the workload given is laid over the playbook's, key by key */
	run->ex.workload = given ? jb_merge(run->pb->workload, given) : run->pb->workload;
	strlcpy(run->ex.status, "running", sizeof(run->ex.status));
	run->ex.pending = 0;
	strlcpy(run->orig_status, "running", sizeof(run->orig_status));
	run->orig_pending = 0;
	state_insert_execution(run->ex.execution_id, run->ex.catalog_id, run->ex.workload);
	dispatch(run, run->pb->start, NULL);
	finish(run);
}

static int
step_of_task(Run *run, QueueState *q)
{
	int			idx = pb_step_index(run->pb, q->node_name, strlen(q->node_name));

	if (idx < 0)
		elog(ERROR, "task %lld names step \"%s\", which playbook \"%s\" does not have",
			 (long long) q->queue_id, q->node_name, run->pb->path);
	return idx;
}

static void
on_completed(Run *run, QueueState *q, Row *row)
{
	Jsonb	   *result = row->nulls[C_RESULT] ? NULL : unwrap(DatumGetJsonbP(row->values[C_RESULT]));
	int			idx = step_of_task(run, q);

	if (strcmp(q->status, "queued") != 0 && strcmp(q->status, "leased") != 0 &&
		strcmp(q->status, "retry") != 0)
		return;					/* finished meanwhile: nothing to do */
	finish_task(run, q, "done", result, 0);
	run->ex.pending--;
	know_result(run, idx, result);
	emit(run, "step_completed", q->node_name, q->tool, "completed", result, NULL, NULL, q->queue_id);
	run->result = result ? tv_from_jsonb(result) : tv_none();
	evaluate_next(run, idx);
	finish(run);
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
	{
		int			i;

		tv_materialize(r);
		for (i = 0; i < r->u.dict.n; i++)
			tv_dict_set(d, r->u.dict.keys[i], r->u.dict.vals[i]);
	}
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

	value = truthy(run, cond, strlen(cond), ctx, &err);
	*ok = err == NULL;
	if (err != NULL)
		emit(run, "warning", s->name, NULL, "warning", NULL, meta_of("where", "retry"),
			 psprintf("retry condition of step \"%s\" counts as false: %s", s->name, err), 0);
	return value;
}

static void
on_error(Run *run, QueueState *q, Row *row)
{
	Jsonb	   *result = row->nulls[C_RESULT] ? NULL : unwrap(DatumGetJsonbP(row->values[C_RESULT]));
	char	   *error = row_text(row, C_ERROR);
	int			idx = step_of_task(run, q);
	BStep	   *s = &run->pb->steps[idx];
	int			attempt = Max(q->attempts, 1);
	bool		retry = attempt < s->retry.max_attempts;
	bool		ok;

	if (strcmp(q->status, "queued") != 0 && strcmp(q->status, "leased") != 0 &&
		strcmp(q->status, "retry") != 0)
		return;
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
	if (retry)
	{
		double		delay = retry_delay(&s->retry, attempt);
		TimestampTz at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) (delay * 1000));
		JsonbValue *meta = jt_object();
		JsonbValue	num;

		finish_task(run, q, "retry", NULL, at);
		num.type = jbvNumeric;
		num.val.numeric = int64_to_numeric(attempt);
		jt_set(meta, "attempt", &num);
		num.val.numeric = int64_to_numeric(s->retry.max_attempts);
		jt_set(meta, "max_attempts", &num);
		num.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(delay)));
		jt_set(meta, "delay", &num);
		jt_set(meta, "available_at", jt_string(timestamptz_to_str(at)));
		emit(run, "step_retry", s->name, s->tool, "retry", NULL, jt_to_jsonb(meta), error, q->queue_id);
		return;
	}
	finish_task(run, q, "dead", result, 0);
	run->ex.pending--;
	fail_execution(run, s->name, error);
	finish(run);
}

/*
 * on_release gives a leased task back to the queue, as if it had not been
 * leased: the attempt does not count.
 */
static void
on_release(Run *run, QueueState *q)
{
	if (strcmp(q->status, "leased") != 0)
		return;
	state_release_task(q->queue_id);
	wake_record_ready(q->queue_id);
	(void) run;
}

static void
on_cancel(Run *run)
{
	if (strcmp(run->ex.status, "running") != 0)
		return;
	(void) state_cancel_queue(run->ex.execution_id);
	wake_record_cancel(run->ex.execution_id);
	run->ex.pending = 0;
	strlcpy(run->ex.status, "cancelled", sizeof(run->ex.status));
	run->ended = true;
	emit(run, "execution_cancelled", NULL, NULL, "cancelled", NULL, NULL, NULL, 0);
	finish(run);
}

/* ---------------------------------------------------------------- BEFORE */

/*
 * What the BEFORE trigger read under the execution's lock, kept for the
 * AFTER trigger of the same event: in the usual one-row INSERT nothing
 * runs in between, and the AFTER trigger need not read it again.  Any
 * evaluation in between (several events in one INSERT) bumps the
 * generation, and the AFTER trigger then reads afresh.
 */
typedef struct Remembered
{
	LocalTransactionId lxid;
	uint64		generation;
	int64		event_id;		/* set when the event_id is known */
	ExecState	ex;
	QueueState	q;
	bool		valid;
} Remembered;

static Remembered remembered;
static uint64 generation = 0;

static char *
keep_str(const char *s)
{
	return s ? MemoryContextStrdup(TopTransactionContext, s) : NULL;
}

static void
remember(ExecState *ex, QueueState *q)
{
	remembered.valid = true;
	remembered.lxid = MyProc->lxid;
	remembered.generation = generation;
	remembered.event_id = 0;
	remembered.ex = *ex;
	if (ex->workload)
	{
		remembered.ex.workload = MemoryContextAlloc(TopTransactionContext, VARSIZE(ex->workload));
		memcpy(remembered.ex.workload, ex->workload, VARSIZE(ex->workload));
	}
	remembered.q = *q;
	remembered.q.node_id = keep_str(q->node_id);
	remembered.q.node_name = keep_str(q->node_name);
	remembered.q.worker_id = keep_str(q->worker_id);
	remembered.q.tool = keep_str(q->tool);
}

/* recall returns what BEFORE read for this event, if still current */
static bool
recall(int64 event_id, ExecState *ex, QueueState *q)
{
	if (!remembered.valid || remembered.lxid != MyProc->lxid ||
		remembered.generation != generation || remembered.event_id != event_id)
		return false;
	*ex = remembered.ex;
	*q = remembered.q;
	return true;
}

static void
reject(int code, const char *msg) pg_attribute_noreturn();

static void
reject(int code, const char *msg)
{
	ereport(ERROR, (errcode(code), errmsg("%s", msg)));
}

/*
 * event_restoring says whether rows are being restored into rel rather
 * than inserted as events: a COPY into noetl.event by a role with the
 * privileges of its owner, the path pg_dump's output (psql -f) and
 * pg_restore take.  Such rows are stored as they are and not evaluated:
 * they are the log of evaluations already done, restored together with
 * the state tables those evaluations wrote.  Anyone else's rows, by INSERT
 * or by COPY, are events.
 */
static bool
event_restoring(Oid relowner)
{
	return ActivePortal != NULL && ActivePortal->commandTag == CMDTAG_COPY &&
		has_privs_of_role(GetUserId(), relowner);
}

/*
 * check_payload refuses events whose jsonb columns exceed the settings
 * that bound them: the context (an execution's workload) by
 * noetl.max_workload_size, result and meta by noetl.max_result_size.
 */
static void
check_payload(Row *row)
{
	if (!row->nulls[C_CONTEXT])
		check_event_jsonb(row->values[C_CONTEXT], "the context of the event",
						  noetl_max_workload_kb, "noetl.max_workload_size");
	if (!row->nulls[C_RESULT])
		check_event_jsonb(row->values[C_RESULT], "the result of the event",
						  noetl_max_result_kb, "noetl.max_result_size");
	if (!row->nulls[C_META])
		check_event_jsonb(row->values[C_META], "the meta of the event",
						  noetl_max_result_kb, "noetl.max_result_size");
}

/*
 * before_start validates an execution_start: its context names a
 * registered playbook, its workload is a mapping, its execution is new.
 * An execution_id given by the client must not lie in the future of the
 * ids noetl draws, so that it cannot take the id of an execution that
 * noetl.execute() will start later.
 */
static void
before_start(Row *row)
{
	Jsonb	   *ctx;
	JsonbValue *c;
	JsonbValue *path;
	JsonbValue *version;
	JsonbValue *workload;
	int64		catalog_id;
	int64		execution_id;
	ExecState	ex;
	char	   *p;
	int32		v = 0;

	if (row->nulls[C_CONTEXT])
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "an execution_start event needs a context with \"path\"");
	ctx = DatumGetJsonbP(row->values[C_CONTEXT]);
	if (!JB_ROOT_IS_OBJECT(ctx))
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "the context of an execution_start event must be a JSON object");
	c = jt_from_jsonb(ctx);
	path = jt_get(c, "path");
	version = jt_get(c, "version");
	workload = jt_get(c, "workload");
	if (path == NULL || path->type != jbvString)
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "the context of an execution_start event needs \"path\", a string");
	if (version != NULL && version->type != jbvNull)
	{
		if (version->type != jbvNumeric)
			reject(ERRCODE_INVALID_PARAMETER_VALUE,
				   "\"version\" in the context of an execution_start event must be an integer");
		v = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(version->val.numeric)));
	}
	if (workload != NULL && workload->type != jbvNull && workload->type != jbvObject)
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "\"workload\" in the context of an execution_start event must be a JSON object");
	p = jt_cstring(path);
	catalog_id = state_resolve_catalog(p, v, version != NULL && version->type != jbvNull);
	if (catalog_id == 0)
	{
		if (version != NULL && version->type != jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of playbook \"%s\" is not registered", v, p)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("playbook \"%s\" is not registered", p)));
	}
	pb_check_runnable(pb_get(catalog_id));
	if (row->nulls[C_EXECUTION_ID])
	{
		execution_id = noetl_next_id();
		row_set_value(row, C_EXECUTION_ID, Int64GetDatum(execution_id));
	}
	else
	{
		execution_id = DatumGetInt64(row->values[C_EXECUTION_ID]);
		if (execution_id >= noetl_next_id())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("execution id %lld lies in the future of noetl's ids",
							(long long) execution_id),
					 errhint("Leave execution_id empty: the broker assigns one.")));
		if (state_lock_execution(execution_id, &ex))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("execution %lld already exists", (long long) execution_id)));
	}
	row_set_value(row, C_CATALOG_ID, Int64GetDatum(catalog_id));
	row_set_null(row, C_PARENT_EXECUTION_ID);
}

/*
 * expiry_attempt returns the attempt an action_error reports the lease of
 * as expired (meta {"lease_expired": true, "attempt": N}), or 0 when the
 * event is no such report.  Only the broker worker's reports count: in any
 * other backend the meta is plain data.
 */
static int32
expiry_attempt(Row *row)
{
	JsonbValue	k;
	JsonbValue *v;
	Jsonb	   *meta;

	if (!noetl_in_broker_worker || row->nulls[C_META])
		return 0;
	meta = DatumGetJsonbP(row->values[C_META]);
	if (!JB_ROOT_IS_OBJECT(meta))
		return 0;
	k.type = jbvString;
	k.val.string.val = "lease_expired";
	k.val.string.len = strlen("lease_expired");
	v = findJsonbValueFromContainer(&meta->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvBool || !v->val.boolean)
		return 0;
	k.val.string.val = "attempt";
	k.val.string.len = strlen("attempt");
	v = findJsonbValueFromContainer(&meta->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
}

static bool
task_unfinished(QueueState *q)
{
	return strcmp(q->status, "leased") == 0;
}

/*
 * before_action validates an event about a task: the task exists, belongs
 * to the event's execution, and the event carries the token of the task's
 * latest lease.  A report of the current lease is evaluated; a late or
 * repeated one (the lease ended: the task finished, was released, expired,
 * or its execution ended) is stored as "ignored"; a report with any other
 * token, or none, is refused and names nobody.  The broker worker's
 * reports of expired leases need no token: they apply if the same lease
 * is still held and still expired when they are evaluated.
 */
static void
before_action(Relation rel, Row *row, EvKind kind)
{
	QueueState	q;
	ExecState	ex;
	bool		have_exec = !row->nulls[C_EXECUTION_ID];
	int64		execution_id = have_exec ? DatumGetInt64(row->values[C_EXECUTION_ID]) : 0;
	char	   *node = row->nulls[C_NODE_ID] ? row_text(row, C_NODE_NAME) : row_text(row, C_NODE_ID);
	int32		expired = kind == EV_ERROR ? expiry_attempt(row) : 0;

	/*
	 * Lock the task and its execution (serialising with every other event
	 * of the execution); on a miss, say which of the two is missing.
	 */
	if (!row->nulls[C_QUEUE_ID])
	{
		int64		queue_id = DatumGetInt64(row->values[C_QUEUE_ID]);

		if (!rows_lock_task(RelationGetNamespace(rel), true, queue_id, 0, NULL, &ex, &q))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("task %lld does not exist", (long long) queue_id)));
		if (have_exec && q.execution_id != execution_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task %lld belongs to execution %lld, not to execution %lld",
							(long long) queue_id, (long long) q.execution_id,
							(long long) execution_id)));
	}
	else if (node != NULL && have_exec)
	{
		if (!rows_lock_task(RelationGetNamespace(rel), false, 0, execution_id, node, &ex, &q))
		{
			if (!state_lock_execution(execution_id, &ex))
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("execution %lld does not exist", (long long) execution_id)));
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("task \"%s\" of execution %lld does not exist", node,
							(long long) execution_id)));
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an action event needs queue_id, or execution_id and node_id")));
	remember(&ex, &q);

	row_set_value(row, C_EXECUTION_ID, Int64GetDatum(q.execution_id));
	row_set_value(row, C_QUEUE_ID, Int64GetDatum(q.queue_id));
	row_set_value(row, C_CATALOG_ID, Int64GetDatum(ex.catalog_id));
	row_set_text(row, C_NODE_ID, q.node_id);
	row_set_text(row, C_NODE_NAME, q.node_name);
	if (row->nulls[C_NODE_TYPE])
		row_set_text(row, C_NODE_TYPE, q.tool);
	if (q.worker_id != NULL)
		row_set_text(row, C_WORKER_ID, q.worker_id);
	else
		row_set_null(row, C_WORKER_ID);
	if (ex.has_parent)
		row_set_value(row, C_PARENT_EXECUTION_ID, Int64GetDatum(ex.parent_execution_id));
	else
		row_set_null(row, C_PARENT_EXECUTION_ID);

	if (expired > 0)
	{
		/* the lease was extended, ended or taken over meanwhile */
		if (strcmp(ex.status, "running") != 0 || !task_unfinished(&q) ||
			q.attempts != expired || q.lease_until >= GetCurrentTimestamp())
			row_set_text(row, C_STATUS, "ignored");
		return;
	}

	if (!q.has_token_column)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the noetl schema of this database predates lease tokens"),
				 errhint("Run ALTER EXTENSION noetl UPDATE.")));
	if (row->nulls[C_LEASE_TOKEN])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a report of task %lld needs the lease_token of its lease",
						(long long) q.queue_id),
				 errhint("noetl.lease returns the token with each task it leases.")));
	{
		text	   *token = DatumGetTextPP(row->values[C_LEASE_TOKEN]);

		if (!lease_token_matches(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), q.lease_token))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("task %lld is not leased with this token", (long long) q.queue_id),
					 errhint("Only the worker holding the lease can report the task; a worker whose lease expired must stop.")));
	}
	if (kind == EV_ACTION_LOG)
		return;
	if (strcmp(ex.status, "running") != 0 || !task_unfinished(&q))
	{
		/* a late or repeated report of this lease: kept, changes nothing */
		row_set_text(row, C_STATUS, "ignored");
		return;
	}
}

/*
 * before_execution_event validates an event about an execution as a
 * whole (a cancellation, or an event only logged): the execution exists.
 * A cancellation of an execution that already ended is stored as ignored.
 */
static void
before_execution_event(Row *row, const EvType *et)
{
	ExecState	ex;
	int64		execution_id;

	if (row->nulls[C_EXECUTION_ID])
		reject(ERRCODE_NOT_NULL_VIOLATION, "an event needs an execution_id");
	execution_id = DatumGetInt64(row->values[C_EXECUTION_ID]);
	if (!state_lock_execution(execution_id, &ex))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("execution %lld does not exist", (long long) execution_id)));
	row_set_value(row, C_CATALOG_ID, Int64GetDatum(ex.catalog_id));
	if (ex.has_parent)
		row_set_value(row, C_PARENT_EXECUTION_ID, Int64GetDatum(ex.parent_execution_id));
	else
		row_set_null(row, C_PARENT_EXECUTION_ID);
	if (et != NULL && et->kind == EV_CANCEL && strcmp(ex.status, "running") != 0)
		row_set_text(row, C_STATUS, "ignored");
}

/*
 * Datum noetl_event_before() returns trigger
 *
 * Validates an event and rewrites what the broker, not the client,
 * decides: event_id, created_at and status (NULL, or "ignored" for an
 * event that changes nothing), the event's execution, catalog entry and
 * task, and the lease token, which is checked and never stored.
 */
Datum
noetl_event_before(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	Row			row;
	char	   *type;
	const EvType *et;
	HeapTuple	result;
	int			i;
	int			cols[NCOLS];
	Datum		vals[NCOLS];
	bool		nulls[NCOLS];
	int			n = 0;
	BrokerSave	save;

	check_trigger(fcinfo, true);
	rel = td->tg_relation;
	if (noetl_broker_inserting || event_restoring(rel->rd_rel->relowner))
		return PointerGetDatum(td->tg_trigtuple);
	attnums = rows_event_columns(rel);
	row_read(&row, td->tg_trigtuple, RelationGetDescr(rel));

	type = row_text(&row, C_EVENT_TYPE);
	if (type == NULL)
		reject(ERRCODE_NOT_NULL_VIOLATION, "an event needs an event_type");
	et = event_type_of(type);
	if (et != NULL && et->kind == EV_BROKER)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("events of type \"%s\" are written by the broker", type),
				 errhint("Report tasks with action_completed or action_error events.")));
	if (et != NULL && strcmp(et->canonical, type) != 0)
		row_set_text(&row, C_EVENT_TYPE, et->canonical);
	check_payload(&row);
	row_set_null(&row, C_STATUS);

	remembered.valid = false;
	broker_enter(rel, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (et != NULL && et->kind == EV_START)
		before_start(&row);
	else if (et != NULL && (et->kind == EV_COMPLETED || et->kind == EV_ERROR ||
							et->kind == EV_RELEASE || et->kind == EV_ACTION_LOG))
		before_action(rel, &row, et->kind);
	else
		before_execution_event(&row, et);
	SPI_finish();
	broker_leave(&save);

	row_set_value(&row, C_EVENT_ID, Int64GetDatum(noetl_next_id()));
	if (remembered.valid && remembered.event_id == 0 && remembered.lxid == MyProc->lxid)
		remembered.event_id = DatumGetInt64(row.values[C_EVENT_ID]);
	row_set_value(&row, C_CREATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	row_set_null(&row, C_LEASE_TOKEN);

	for (i = 0; i < NCOLS; i++)
		if (row.replace[i])
		{
			cols[n] = attnums[i];
			vals[n] = row.values[i];
			nulls[n] = row.nulls[i];
			n++;
		}
	result = heap_modify_tuple_by_cols(td->tg_trigtuple, RelationGetDescr(rel),
									   n, cols, vals, nulls);
	return PointerGetDatum(result);
}

/* ---------------------------------------------------------------- AFTER */

/*
 * Datum noetl_event_after() returns trigger
 */
Datum
noetl_event_after(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Row			row;
	const EvType *et;
	char	   *type;
	Run			run;
	MemoryContext old;
	QueueState	q;
	BrokerSave	save;

	check_trigger(fcinfo, false);
	if (noetl_broker_inserting || event_restoring(td->tg_relation->rd_rel->relowner))
		return PointerGetDatum(NULL);
	attnums = rows_event_columns(td->tg_relation);

	memset(&run, 0, sizeof(run));
	run.cxt = AllocSetContextCreate(CurrentMemoryContext, "noetl evaluation",
									ALLOCSET_DEFAULT_SIZES);
	run.event_rel = td->tg_relation;
	run.nsp = RelationGetNamespace(td->tg_relation);
	broker_enter(td->tg_relation, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(run.cxt);

	row_read(&row, td->tg_trigtuple, RelationGetDescr(td->tg_relation));
	type = row_text(&row, C_EVENT_TYPE);
	et = event_type_of(type);
	if (et == NULL || (et->kind != EV_START && et->kind != EV_COMPLETED &&
					   et->kind != EV_ERROR && et->kind != EV_CANCEL && et->kind != EV_RELEASE))
		goto done;
	{
		char	   *status = row_text(&row, C_STATUS);

		if (status != NULL && strcmp(status, "ignored") == 0)
			goto done;
	}
	run.event_id = DatumGetInt64(row.values[C_EVENT_ID]);
	run.ex.execution_id = DatumGetInt64(row.values[C_EXECUTION_ID]);
	run.ex.catalog_id = DatumGetInt64(row.values[C_CATALOG_ID]);
	run.pb = pb_get(run.ex.catalog_id);
	run.ctx = make_context(&run);
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
	else if (!recall(run.event_id, &run.ex, &q) &&
			 !rows_lock_task(run.nsp, true, DatumGetInt64(row.values[C_QUEUE_ID]), 0, NULL,
							 &run.ex, &q))
		elog(ERROR, "task %lld disappeared", (long long) DatumGetInt64(row.values[C_QUEUE_ID]));
	run.orig_pending = run.ex.pending;
	strlcpy(run.orig_status, run.ex.status, sizeof(run.orig_status));
	if (et->kind == EV_CANCEL)
	{
		on_cancel(&run);
		goto done;
	}
	if (strcmp(run.ex.status, "running") != 0)
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
	while (run.pb != NULL && flush(&run))
	{
		if (strcmp(run.ex.status, "running") != 0 || run.ex.pending != 0)
			break;
		finish(&run);
	}
	generation++;
	MemoryContextSwitchTo(old);
	SPI_finish();
	broker_leave(&save);
	MemoryContextDelete(run.cxt);
	return PointerGetDatum(NULL);
}

/*
 * noetl.event_is_verbatim() returns boolean
 *
 * True while noetl.event's rows are written as they are, not as events to
 * evaluate: the broker's own events, and rows restored by the table's
 * owner (see event_restoring).  The triggers' WHEN clause uses it to let
 * them by without a call.  Clients cannot make it true.  The extension's
 * version 1.0 called it noetl.broker_is_writing().
 */
Datum
noetl_event_is_verbatim(PG_FUNCTION_ARGS)
{
	Oid			relid;
	HeapTuple	tup;
	bool		restoring = false;

	if (noetl_broker_inserting)
		PG_RETURN_BOOL(true);
	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY)
		PG_RETURN_BOOL(false);
	relid = get_relname_relid("event", get_namespace_oid("noetl", false));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tup))
	{
		restoring = event_restoring(((Form_pg_class) GETSTRUCT(tup))->relowner);
		ReleaseSysCache(tup);
	}
	PG_RETURN_BOOL(restoring);
}

Datum
noetl_broker_is_writing(PG_FUNCTION_ARGS)
{
	return noetl_event_is_verbatim(fcinfo);
}
