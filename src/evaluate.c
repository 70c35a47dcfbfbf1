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
 * leased or waiting to retry.  When it reaches zero with nothing failed,
 * "end" runs (if it was reached) and the execution completes with the end
 * step's rendered "result:".
 *
 * Errors in the playbook's logic become recorded failures: a condition
 * that raises counts as false and leaves a "warning" event; a task whose
 * fields cannot be rendered fails its step and the execution.  Templates
 * are evaluated in a subtransaction each (protected_eval).
 *
 * The data path reads top to bottom: the evaluation decides (dispatch,
 * handlers), flush() writes what it decided through the state machine
 * (state.c) and the event log (event.c), and records for the broker
 * worker what to announce once the transaction commits (wakeup.c).
 *
 * It is one file of about 900 lines because the evaluation is one
 * recursion around one Run (dispatch, evaluate_next, finish and the
 * handlers call one another); splitting it would only move the Run's
 * insides into a header.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "admit.h"
#include "event.h"
#include "guc.h"
#include "jtree.h"
#include "owner.h"
#include "playbook_cache.h"
#include "rows.h"
#include "snowflake.h"
#include "state.h"
#include "subxact.h"
#include "template.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(noetl_event_after);

/*
 * The frame of a loop's iteration being rendered: what its templates see
 * beside the execution's names (loop_admit), or while the loop's where and
 * order_by are evaluated (loop_elements).
 */
typedef struct LoopFrame
{
	const char *element_name;
	TVal	   *element;		/* the element; with chunk, the batch */
	TVal	   *loop;			/* _loop: {current_index, index, item, count} */
	TVal	   *index;			/* index, with enumerate; else NULL */
	TVal	   *batch;			/* batch, with chunk; else NULL */
	const char *step;			/* the loop step's name ... */
	TVal	   *self;			/* ... which means {result_index} */
} LoopFrame;

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
	int64		end_event_id;	/* this evaluation ended the execution: its event */
	Jsonb	   *end_result;		/* ... and its result or error */
	char	   *end_error;
	TVal	   *result;			/* "result" in templates */
	TVal	   *ctx;			/* the lazy template context */
	LoopFrame  *frame;			/* the iteration being rendered, or NULL */
	int32		orig_pending;	/* the execution row as last written */
	ExecStatus	orig_status;
	bool		new_exec;		/* the execution row is not written yet */
	/* writes, buffered until flush() */
	Oid			nsp;			/* the noetl schema */
	TaskState	fin_task;		/* the task that finished, as locked */
	bool		fin;			/* it is to be written */
	TaskStatus	fin_status;		/* done, dead or retry */
	Jsonb	   *fin_result;
	const char *fin_error;		/* dead: the last attempt's error */
	TimestampTz fin_at;			/* retry: when it is due */
	TaskSpec   *tasks;			/* tasks to queue */
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

/*
 * unwrap removes NoETL's result envelope {id, status, data} (any subset
 * with status and data): the step's result is the data.
 */
static Jsonb *
unwrap(Jsonb *result)
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
static void
finish_task(Run *run, TaskState *q, TaskStatus status, Jsonb *result, TimestampTz at)
{
	run->fin_task = *q;
	run->fin = true;
	run->fin_status = status;
	run->fin_result = result;
	run->fin_error = NULL;
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

static Jsonb *
render(Run *run, Jsonb *tpl, char **err)
{
	return render_in(run, tpl, run->ctx, err);
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

static void cancel_children(Run *run);

/*
 * fail_execution fails a step (if step is given) and its execution,
 * cancelling the rest.
 */
static void
fail_execution(Run *run, const char *step, const char *error)
{
	if (run->ex.status != EXEC_RUNNING)
		return;
	if (step != NULL)
		emit(run, "step_failed", step, NULL, "failed", NULL, NULL, error, 0);
	/* what was decided before the failure is written, then cancelled */
	(void) flush(run);
	if (state_cancel_tasks(run->ex.execution_id) > 0)
		wake_record_cancel(run->ex.execution_id);
	run->ex.pending = 0;
	run->ex.status = EXEC_FAILED;
	run->exec_error = pstrdup(error);
	run->ended = true;
	run->end_error = run->exec_error;
	run->end_event_id = emit(run, "execution_failed", NULL, NULL, "failed", NULL, NULL, error,
							 0)->event_id;
	cancel_children(run);
}

/* ---------------------------------------------------------------- dispatch */

static void dispatch(Run *run, int idx, Jsonb *args);
static void loop_start(Run *run, int idx, Jsonb *args);
static void enqueue_child(Run *run, int idx, Jsonb *action);

/* new_task adds a task to those the evaluation queues at flush() */
static TaskSpec *
new_task(Run *run)
{
	TaskSpec   *task;

	if (run->ntasks == run->captasks)
	{
		run->captasks = run->captasks ? run->captasks * 2 : 4;
		run->tasks = run->tasks ? repalloc_huge(run->tasks, sizeof(TaskSpec) * run->captasks)
			: palloc(sizeof(TaskSpec) * run->captasks);
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
		(void) jt_merge(t, jt_from_jsonb(s->keep), false);
	if (s->subplaybook)
	{
		enqueue_child(run, idx, jt_to_jsonb(t));
		return true;
	}
	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].node == s->name && run->tasks[i].node_id == NULL)
			return true;		/* already dispatched by this evaluation */
	task = new_task(run);
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

		if (run->ex.status != EXEC_RUNNING)
			return;
		if (n->when_const < 0)
		{
			fire = truthy(run, n->when, n->when_len, run->ctx, &err);
			if (err != NULL)
			{
				/*
				 * A condition that cannot be evaluated fails the step and
				 * the execution: NoETL took it as false, which sent the
				 * execution down no branch without saying why.
				 */
				fail_execution(run, s->name,
							   psprintf("condition of next[%d] of step \"%s\": %s",
										i, s->name, err));
				return;
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
				emit(run, "step_completed", end->name, "control", "completed", NULL, NULL, NULL, 0);
			}
		}
		if (run->ex.status == EXEC_RUNNING && run->ex.pending == 0)
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
				run->ex.status = EXEC_COMPLETED;
				run->exec_result = result;
				run->ended = true;
				run->end_result = result;
				run->end_event_id = emit(run, "execution_complete", NULL, NULL, "completed",
										 result, NULL, NULL, 0)->event_id;
			}
		}
	}
}

/* ---------------------------------------------------------------- sub-playbooks */

/*
 * A sub-playbook step (tool: playbook), or an iteration of a loop over one,
 * is a queue row held "leased" by its child execution (state.c).  The
 * child starts in the transaction that dispatches the row, evaluated here
 * in a Run of its own (child_start); its end, in whatever transaction ends
 * it, completes or fails the row in its parent (propagate), under the
 * parent's lock: a descendant is locked before its ancestor, never the
 * reverse, so no cycle of waits can form.
 */

/* how a child execution ended, when it has */
typedef struct ChildEnd
{
	bool		ended;
	ExecStatus	status;
	Jsonb	   *result;			/* completed: its result (see child_result) */
	const char *error;
} ChildEnd;

static void start_with(Run *run, Jsonb *given);
static void task_done(Run *run, TaskState *q, Jsonb *result);
static void task_error(Run *run, TaskState *q, const char *error, Jsonb *result,
					   bool may_retry);

/* child_meta is the meta of an event about a child: {child_execution_id} */
static JsonbValue *
child_meta(int64 child_id)
{
	JsonbValue *meta = jt_object();

	/* as text: JSON numbers lose a snowflake id's low bits in many clients */
	jt_set(meta, "child_execution_id", jt_string(psprintf("%lld", (long long) child_id)));
	return meta;
}

/*
 * child_result is a completed child's result: its execution's result, else
 * the result of its return_step, else null, and a mapping with "data"
 * stands for its data (NoETL's order and unwrapping,
 * server/api/queue/service.py @58c2a16b, _get_child_execution_result,
 * without its fallback to step names it guessed).
 */
static Jsonb *
child_result(int64 child_id, Jsonb *exec_result, const char *return_step)
{
	bool		found = false;
	Jsonb	   *r;

	/* "Extract data if wrapped": any mapping with "data" stands for it */
	if (exec_result != NULL)
		return JB_ROOT_IS_OBJECT(exec_result) && !JB_ROOT_IS_SCALAR(exec_result) &&
			jb_get(exec_result, "data") != NULL ?
			JsonbValueToJsonb(jb_get(exec_result, "data")) : exec_result;
	if (return_step == NULL)
		return NULL;
	/* a step's result is stored unwrapped already */
	r = state_step_result(child_id, return_step, true, &found);
	if (!found)
		r = state_step_result(child_id, return_step, false, &found);
	return r;
}

/*
 * child_start starts child execution child_id of the step s for its row
 * node_id, with the row's rendered action {path, version?, args?,
 * return_step?}, in this transaction: its execution_start (caused by
 * parent_event_id) and its first evaluation, nested in this one.  Returns
 * whether it ended within its start, and how: a path that is not
 * registered, or a depth beyond noetl.max_playbook_depth, ends it before
 * it starts, failed.
 */
static ChildEnd
child_start(Run *run, BStep *s, const char *node_id, int64 child_id, Jsonb *action,
			int64 parent_event_id)
{
	JsonbValue *path = jb_get(action, "path");
	JsonbValue *version = jb_get(action, "version");
	JsonbValue *rs = jb_get(action, "return_step");
	JsonbValue *argsv = jb_get(action, "args");
	Jsonb	   *args = NULL;
	ChildEnd	out;
	char	   *p;
	int32		v = 0;
	bool		has_version = version != NULL && version->type != jbvNull;
	int64		catalog_id;
	Run		   *c;
	BEvent	   *ev;
	JsonbValue *ctx;
	JsonbValue *meta;

	check_stack_depth();
	memset(&out, 0, sizeof(out));
	out.ended = true;
	out.status = EXEC_FAILED;
	if (path == NULL || path->type != jbvString || path->val.string.len == 0)
	{
		out.error = psprintf("step \"%s\": the sub-playbook's path must be a non-empty string",
							 s->name);
		return out;
	}
	p = pnstrdup(path->val.string.val, path->val.string.len);
	if (has_version)
	{
		if (!jb_get_int32(action, "version", &v) || v <= 0)
		{
			out.error = psprintf("step \"%s\": the version of sub-playbook \"%s\" must be a positive integer",
								 s->name, p);
			return out;
		}
	}
	if (argsv != NULL && argsv->type != jbvNull)
	{
		if (!(argsv->type == jbvBinary && JsonContainerIsObject(argsv->val.binary.data)))
		{
			out.error = psprintf("step \"%s\": the args of sub-playbook \"%s\" must be a mapping",
								 s->name, p);
			return out;
		}
		args = JsonbValueToJsonb(argsv);
	}
	if (run->ex.depth + 1 > noetl_max_playbook_depth)
	{
		out.error = psprintf("sub-playbook \"%s\" not started: noetl.max_playbook_depth (%d) reached",
							 p, noetl_max_playbook_depth);
		return out;
	}
	/* as admit does: the lock the child's row is written under, then the catalog */
	LockRelationOid(rows_relid(run->nsp, "execution"), RowExclusiveLock);
	catalog_id = pb_resolve(run->nsp, p, v, has_version);
	if (catalog_id == 0)
	{
		out.error = has_version ?
			psprintf("version %d of sub-playbook \"%s\" is not registered", v, p) :
			psprintf("sub-playbook \"%s\" is not registered", p);
		return out;
	}

	c = palloc0(sizeof(Run));
	c->cxt = run->cxt;
	c->event_rel = run->event_rel;
	c->nsp = run->nsp;
	c->pb = pb_get(catalog_id);
	pb_check_runnable(c->pb);
	c->ex.execution_id = child_id;
	c->ex.catalog_id = catalog_id;
	c->ex.has_parent = true;
	c->ex.parent_execution_id = run->ex.execution_id;
	c->ex.parent_step = node_id;
	c->ex.depth = run->ex.depth + 1;
	c->ctx = make_context(c);
	c->result = tv_none();

	/* the child's execution_start, as a client's would read, but the broker's */
	ctx = jt_object();
	jt_set(ctx, "path", jt_string(p));
	jt_set(ctx, "version", jt_int(c->pb->version));
	jt_set(ctx, "workload", args ? jt_from_jsonb(args) : jt_object());
	meta = jt_object();
	jt_set(meta, "parent_step", jt_string(node_id));
	ev = emit(c, "execution_start", NULL, "playbook", NULL, NULL, jt_to_jsonb(meta), NULL, 0);
	ev->context = jt_to_jsonb(ctx);
	event_append(c->event_rel, child_id, catalog_id, run->ex.execution_id, parent_event_id,
				 &ev, 1);
	c->nevents = 0;
	c->event_id = ev->event_id;

	start_with(c, args);
	while (flush(c))
	{
		if (c->ex.status != EXEC_RUNNING || c->ex.pending != 0)
			break;
		finish(c);
	}
	if (c->ex.status == EXEC_RUNNING)
	{
		out.ended = false;
		return out;
	}
	out.status = c->ex.status;
	out.error = c->end_error;
	if (c->ex.status == EXEC_COMPLETED)
		out.result = child_result(child_id, c->end_result,
								  rs && rs->type == jbvString ?
								  pnstrdup(rs->val.string.val, rs->val.string.len) : NULL);
	return out;
}

/* child_message is what a child's failure or cancellation makes its parent's row's error */
static char *
child_message(int64 child_id, const ChildEnd *e)
{
	if (e->status == EXEC_CANCELLED)
		return psprintf("sub-playbook execution %lld was cancelled", (long long) child_id);
	return psprintf("sub-playbook execution %lld failed: %s", (long long) child_id,
					e->error ? e->error : "failed");
}

/*
 * child_apply applies the end of child execution child_id to its row q,
 * which the evaluation holds locked: the broker writes action_completed or
 * action_error into the parent, as NoETL's server did, and the row is done
 * (or retried, or dead) as any task's.  A child cancelled, or one that
 * ended within its start (may_retry false: it would end the same way
 * again), is not retried.  The caller runs finish().
 */
static void
child_apply(Run *run, TaskState *q, int64 child_id, const ChildEnd *e, bool may_retry)
{
	JsonbValue *meta = child_meta(child_id);

	if (e->status == EXEC_COMPLETED)
	{
		emit(run, "action_completed", q->node_name, "playbook", "completed", e->result,
			 jt_to_jsonb(meta), NULL, q->queue_id)->node_id = q->node_id;
		task_done(run, q, e->result);
		return;
	}
	emit(run, "action_error", q->node_name, "playbook", "failed", NULL, jt_to_jsonb(meta),
		 child_message(child_id, e), q->queue_id)->node_id = q->node_id;
	task_error(run, q, child_message(child_id, e), NULL,
			   may_retry && e->status == EXEC_FAILED);
}

/* child_holds says whether row q is held by child execution child_id */
static bool
child_holds(TaskState *q, int64 child_id)
{
	return q->status == TASK_LEASED && q->worker_id != NULL &&
		strcmp(q->worker_id, psprintf("child:%lld", (long long) child_id)) == 0;
}

/*
 * child_ended_at_start applies the end of a child that ended within its
 * start to its row node_id (written by now), re-read locked.
 */
static void
child_ended_at_start(Run *run, const char *node_id, int64 child_id, const ChildEnd *e)
{
	TaskState	q;
	ExecState	ex;
	TVal	   *result = run->result;

	(void) flush(run);
	if (!state_lock_task(run->nsp, false, 0, run->ex.execution_id, node_id, &ex, &q))
		elog(ERROR, "the row \"%s\" of sub-playbook execution %lld is gone",
			 node_id, (long long) child_id);
	if (child_holds(&q, child_id))
		child_apply(run, &q, child_id, e, false);
	run->result = result;		/* the step being evaluated keeps its own */
}

/*
 * enqueue_child queues sub-playbook step idx's row, held by a new child
 * execution, and starts the child; a step queued already starts none.
 */
static void
enqueue_child(Run *run, int idx, Jsonb *action)
{
	BStep	   *s = &run->pb->steps[idx];
	TaskSpec   *task;
	int64		child_id = noetl_next_id();
	BEvent	   *ev;
	int64		started;
	ChildEnd	e;

	/* what the evaluation decided so far is written: the row's flush is its own */
	(void) flush(run);
	task = new_task(run);
	task->queue_id = noetl_next_id();
	task->node = s->name;
	task->tool = s->tool;
	task->action = action;
	task->priority = s->priority;
	task->max_attempts = s->retry.max_attempts;
	task->child_id = child_id;
	run->ex.pending++;
	ev = emit(run, "step_started", s->name, "playbook", "started", NULL,
			  jt_to_jsonb(child_meta(child_id)), NULL, task->queue_id);
	ev->if_queued = true;
	started = ev->event_id;
	if (flush(run))
		return;					/* queued by an earlier event: its child runs */
	e = child_start(run, s, s->name, child_id, action, started);
	if (e.ended)
		child_ended_at_start(run, s->name, child_id, &e);
}

/*
 * child_retry starts a new child execution for row q, whose child failed
 * with attempts left: no delay (step_retry's meta says 0).
 */
static void
child_retry(Run *run, TaskState *q, BStep *s, const char *error, int attempt)
{
	int64		child_id = noetl_next_id();
	JsonbValue *meta = child_meta(child_id);
	Jsonb	   *action = state_task_action(run->nsp, q);
	BEvent	   *ev;
	ChildEnd	e;

	state_child_retry(run->nsp, q, child_id);
	jt_set(meta, "attempt", jt_int(attempt));
	jt_set(meta, "max_attempts", jt_int(s->retry.max_attempts));
	jt_set(meta, "delay", jt_int(0));
	ev = emit(run, "step_retry", s->name, s->tool, "retry", NULL, jt_to_jsonb(meta), error,
			  q->queue_id);
	ev->node_id = q->node_id;
	e = child_start(run, s, q->node_id, child_id, action, ev->event_id);
	if (e.ended)
		child_ended_at_start(run, q->node_id, child_id, &e);
}

/*
 * propagate applies the end of execution c (this evaluation ended it) to
 * its parent's row, in a broker-made evaluation of the parent; and so on
 * up, while each parent ends in turn.  A parent that is no longer running,
 * or a row no longer held by the child (the parent was cancelled or failed
 * meanwhile), takes nothing.
 */
static void
propagate(Run *c)
{
	while (c->end_event_id != 0 && c->ex.has_parent)
	{
		Run		   *p = palloc0(sizeof(Run));
		TaskState	q;
		int32		depth;
		char	   *node_id = state_child_link(c->nsp, c->ex.execution_id, &depth);
		ChildEnd	e;

		CHECK_FOR_INTERRUPTS();
		if (node_id == NULL)
			return;
		p->cxt = c->cxt;
		p->event_rel = c->event_rel;
		p->nsp = c->nsp;
		p->event_id = c->end_event_id;
		if (!state_lock_task(p->nsp, false, 0, c->ex.parent_execution_id, node_id, &p->ex, &q))
			return;
		if (p->ex.status != EXEC_RUNNING || !child_holds(&q, c->ex.execution_id))
			return;
		p->pb = pb_get(p->ex.catalog_id);
		p->ctx = make_context(p);
		p->result = tv_none();
		p->orig_pending = p->ex.pending;
		p->orig_status = p->ex.status;
		e.ended = true;
		e.status = c->ex.status;
		e.error = c->end_error;
		e.result = NULL;
		if (e.status == EXEC_COMPLETED)
		{
			Jsonb	   *action = state_task_action(p->nsp, &q);
			JsonbValue *rs = jb_get(action, "return_step");

			e.result = child_result(c->ex.execution_id, c->end_result,
									rs && rs->type == jbvString ?
									pnstrdup(rs->val.string.val, rs->val.string.len) : NULL);
		}
		child_apply(p, &q, c->ex.execution_id, &e, true);
		finish(p);
		while (flush(p))
		{
			if (p->ex.status != EXEC_RUNNING || p->ex.pending != 0)
				break;
			finish(p);
		}
		c = p;
	}
}

/*
 * cancel_children cancels an execution's running children, and theirs, in
 * this transaction: their tasks cancelled, execution_cancelled written.
 * A child another transaction is evaluating is passed by (SKIP LOCKED):
 * its end finds its parent ended, and noetl.cancel_orphans() cancels it if
 * it runs on.
 */
static void
cancel_children(Run *run)
{
	int			n;
	int64	   *ids = state_running_children(run->nsp, run->ex.execution_id, &n);
	int			i;

	check_stack_depth();
	for (i = 0; i < n; i++)
	{
		Run		   *c = palloc0(sizeof(Run));

		CHECK_FOR_INTERRUPTS();
		c->cxt = run->cxt;
		c->event_rel = run->event_rel;
		c->nsp = run->nsp;
		if (!state_lock_execution(ids[i], &c->ex) || c->ex.status != EXEC_RUNNING)
			continue;
		c->pb = pb_get(c->ex.catalog_id);
		c->ctx = make_context(c);
		c->result = tv_none();
		c->event_id = run->end_event_id;
		c->orig_pending = c->ex.pending;
		c->orig_status = c->ex.status;
		if (state_cancel_tasks(c->ex.execution_id) > 0)
			wake_record_cancel(c->ex.execution_id);
		cancel_children(c);
		c->ex.pending = 0;
		c->ex.status = EXEC_CANCELLED;
		c->ended = true;
		emit(c, "execution_cancelled", NULL, NULL, "cancelled", NULL,
			 meta_of("cancelled_by", "parent"), NULL, 0);
		(void) flush(c);
	}
}

/* ---------------------------------------------------------------- loops */

/*
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
 */

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
	Jsonb	   *r = render(run, setting, err);
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
					v == NULL ? "nothing" : v->type == jbvString ?
					psprintf("\"%s\"", jt_cstring(v)) : jt_type_name(v));
	return false;
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
	Jsonb	   *r = render(run, l->collection, err);
	JsonbValue *coll;
	JsonbValue *vals;
	LoopElem   *el;
	JsonbValue **out;
	int32		m;
	int32		k = 0;
	int32		i;
	bool		warned = false;
	char	   *serr = NULL;

	*batched = false;
	if (*err != NULL)
	{
		*err = psprintf("step \"%s\": the loop's collection: %s", s->name, *err);
		return NULL;
	}
	coll = jb_get(r, "v");
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
				keep = truthy(run, l->where, strlen(l->where), run->ctx, &serr);
				if (serr != NULL && !warned)
				{
					/* NoETL counted an error as false, and went on */
					emit(run, "warning", s->name, NULL, "warning", NULL, meta_of("where", "loop"),
						 psprintf("the loop's where of step \"%s\" counts as false for element %d: %s",
								  s->name, i, serr), 0);
					warned = true;
				}
			}
			if (keep && l->order_by != NULL)
			{
				Jsonb	   *key = render(run, l->order_by, &serr);

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
 * loop_window is the most iterations of a loop outstanding at once:
 * 1 for a sequential loop; for a parallel one max_in_flight, else
 * concurrency, else 8 (plugin/iterator/config.py @58c2a16b).
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
	return true;
}

static void loop_fill(Run *run, int idx, LoopState *ls, Jsonb *args);

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
static void
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

	elems = loop_elements(run, s, &n, &batched, &err);
	if (elems != NULL)
		(void) loop_window(run, s, &w, &err);
	if (err == NULL && n > noetl_max_loop_items)
		err = psprintf("step \"%s\": the loop has %d iterations, more than noetl.max_loop_items (%d)",
					   s->name, n, noetl_max_loop_items);
	if (err == NULL && s->loop->enumerate != NULL)
	{
		JsonbValue *e = jt_get(jt_from_jsonb(s->loop->enumerate), "v");

		if (e->type == jbvBool)
			enumerate = e->val.boolean;
		else
			enumerate = truthy(run, jt_cstring(e), e->val.string.len, run->ctx, &err);
		if (err != NULL)
			err = psprintf("step \"%s\": the loop's enumerate: %s", s->name, err);
	}
	if (err != NULL)
	{
		fail_execution(run, s->name, err);
		return;
	}
	memset(&ls, 0, sizeof(ls));
	ls.total = n;
	ls.window = w;
	meta = jt_object();
	jt_set(meta, "count", jt_int(n));
	jt_set(meta, "window", jt_int(w));
	if (n == 0)
	{
		Jsonb	   *empty = jt_to_jsonb(jt_array());
		JsonbValue *m2 = jt_object();

		if (!state_insert_loop(run->nsp, run->ex.execution_id, s->name, STEP_COMPLETED, args,
							   empty, &ls))
			return;
		emit(run, "step_started", s->name, "loop", "started", NULL, jt_to_jsonb(meta), NULL, 0);
		jt_set(m2, "count", jt_int(0));
		jt_set(m2, "failed", jt_int(0));
		jt_set(m2, "errors", jt_array());
		emit(run, "step_completed", s->name, "loop", "completed", empty, jt_to_jsonb(m2), NULL, 0);
		know_result(run, idx, empty);
		run->result = tv_from_jsonb(empty);
		evaluate_next(run, idx);
		return;
	}
	if (!state_insert_loop(run->nsp, run->ex.execution_id, s->name, STEP_DISPATCHED, args,
						   NULL, &ls))
		return;					/* started already */
	emit(run, "step_started", s->name, "loop", "started", NULL, jt_to_jsonb(meta), NULL, 0);
	/* the loop itself is outstanding until its end */
	run->ex.pending++;
	(void) flush(run);
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
	ev = emit(run, "loop_iteration", s->name, s->tool, "started", NULL, jt_to_jsonb(meta), NULL,
			  q->queue_id);
	ev->node_id = q->node_id;
	e = child_start(run, s, q->node_id, child_id, action, ev->event_id);
	if (!e.ended)
		return;
	/* it would end the same way again: not retried */
	(void) flush(run);
	if (!state_lock_task(run->nsp, false, 0, run->ex.execution_id, q->node_id, &ex, &q2) ||
		!child_holds(&q2, child_id))
		elog(ERROR, "iteration \"%s\" is no longer held by its child", q->node_id);
	dead = e.status != EXEC_COMPLETED;
	if (dead)
		msg = child_message(child_id, &e);
	emit(run, dead ? "action_error" : "action_completed", s->name, "playbook",
		 dead ? "failed" : "completed", e.result, jt_to_jsonb(child_meta(child_id)), msg,
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
	rendered = render(run, s->task, &err);
	run->frame = NULL;
	if (err != NULL)
	{
		char	   *msg = psprintf("step \"%s\", iteration %d: %s", s->name, k, err);

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
	emit(run, "loop_iteration", s->name, s->tool, "queued", NULL, jt_to_jsonb(meta), NULL,
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
	JsonbValue *list = jt_array();
	int32		i;

	state_loop_results(run->nsp, run->ex.execution_id, s->name, ls->total, items);
	*errors = jt_array();
	for (i = 0; i < ls->total; i++)
	{
		jt_append(list, items[i].result != NULL ? jt_from_jsonb(items[i].result) : jt_null());
		if (items[i].seen && items[i].dead)
		{
			JsonbValue *e = jt_object();

			jt_set(e, "index", jt_int(i));
			jt_set(e, "message", jt_string(items[i].error ? items[i].error : "task failed"));
			jt_append(*errors, e);
		}
	}
	return jt_to_jsonb(list);
}

/*
 * loop_finish ends loop step idx once every iteration has: its result is
 * the list, and its "next" is evaluated with it.
 */
static void
loop_finish(Run *run, int idx, LoopState *ls)
{
	BStep	   *s = &run->pb->steps[idx];
	JsonbValue *errors;
	JsonbValue *meta = jt_object();
	Jsonb	   *list;

	(void) flush(run);
	list = loop_results(run, s, ls, &errors);
	run->ex.pending--;
	if ((Size) VARSIZE(list) > (Size) noetl_max_result_kb * 1024)
	{
		state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_FAILED, true, NULL);
		fail_execution(run, s->name,
					   psprintf("step \"%s\": its list of %d results takes %zu bytes, more than noetl.max_result_size (%d kB)",
								s->name, ls->total, (Size) VARSIZE(list), noetl_max_result_kb));
		return;
	}
	state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_COMPLETED, true, list);
	jt_set(meta, "count", jt_int(ls->total));
	jt_set(meta, "failed", jt_int(ls->failed));
	jt_set(meta, "errors", errors);
	emit(run, "step_completed", s->name, "loop", "completed", list, jt_to_jsonb(meta), NULL, 0);
	know_result(run, idx, list);
	run->result = tv_from_jsonb(list);
	evaluate_next(run, idx);
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

	while (run->ex.status == EXEC_RUNNING && ls->next < ls->total &&
		   ls->next - ls->done < ls->window)
	{
		int32		k = ls->next++;

		loop_admit(run, idx, ls, args, k);
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

		(void) flush(run);
		partial = loop_results(run, s, ls, &errors);
		state_set_loop(run->nsp, run->ex.execution_id, s->name, ls, STEP_FAILED, true, partial);
		jt_set(m2, "count", jt_int(ls->total));
		jt_set(m2, "failed", jt_int(ls->failed));
		jt_set(m2, "errors", errors);
		emit(run, "step_failed", s->name, "loop", "failed", partial, jt_to_jsonb(m2), msg, 0);
		fail_execution(run, NULL, msg);
		return;
	}
	emit(run, "iteration_failed", s->name, s->tool, "failed", NULL, jt_to_jsonb(meta), error,
		 0)->node_id = item_node(s->name, k);
}

/* item_of says which iteration of its loop task q is; -1 if it is a step's task */
static int32
item_of(TaskState *q)
{
	size_t		len = strlen(q->node_name);
	const char *p;
	int32		k = 0;

	if (strcmp(q->node_id, q->node_name) == 0)
		return -1;
	p = q->node_id + len + 1;
	while (*p >= '0' && *p <= '9')
		k = k * 10 + (*p++ - '0');
	return k;
}

/*
 * on_item_done handles the end of iteration k of a loop (done, or dead
 * with no attempt left): the task is written, the window moves on.
 */
static void
on_item_done(Run *run, TaskState *q, int idx, int32 k, bool dead, Jsonb *result,
			 const char *error)
{
	BStep	   *s = &run->pb->steps[idx];
	StepStatus	status;
	Jsonb	   *args;
	LoopState	ls;

	finish_task(run, q, dead ? TASK_DEAD : TASK_DONE, result, 0);
	run->fin_error = error;
	run->ex.pending--;
	if (!state_get_loop(run->nsp, run->ex.execution_id, s->name, &status, &args, &ls) ||
		status != STEP_DISPATCHED)
		return;					/* the loop ended meanwhile */
	loop_item_end(run, idx, &ls, args, k, dead, error);
	loop_fill(run, idx, &ls, args);
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
static void
start_with(Run *run, Jsonb *given)
{
	Jsonb	   *rendered;
	char	   *err;

	run->ex.workload = given ? jb_merge(run->pb->workload, given) : run->pb->workload;
	run->ex.status = EXEC_RUNNING;
	run->ex.pending = 0;
	run->orig_status = EXEC_RUNNING;
	run->orig_pending = 0;
	/* the row is written by flush(), as this evaluation leaves it */
	run->new_exec = true;
	rendered = render_workload(run, run->ex.workload, &err);
	if (err != NULL)
	{
		fail_execution(run, NULL, psprintf("workload: %s", err));
		return;
	}
	run->ex.workload = rendered;
	dispatch(run, run->pb->start, NULL);
	finish(run);
}

static void
on_start(Run *run, EventRow *row)
{
	start_with(run, jb_get_object(event_jsonb(row, C_CONTEXT), "workload"));
}

static int
step_of_task(Run *run, TaskState *q)
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
 * iteration moves its loop on.  The caller runs finish().
 */
static void
task_done(Run *run, TaskState *q, Jsonb *result)
{
	int			idx = step_of_task(run, q);

	if (item_of(q) >= 0)
	{
		on_item_done(run, q, idx, item_of(q), false, result, NULL);
		return;
	}
	finish_task(run, q, TASK_DONE, result, 0);
	run->ex.pending--;
	know_result(run, idx, result);
	emit(run, "step_completed", q->node_name, q->tool, "completed", result, NULL, NULL, q->queue_id);
	run->result = result ? tv_from_jsonb(result) : tv_none();
	evaluate_next(run, idx);
}

static void
on_completed(Run *run, TaskState *q, EventRow *row)
{
	if (q->status != TASK_LEASED)
		return;					/* finished meanwhile: nothing to do */
	task_done(run, q, unwrap(event_jsonb(row, C_RESULT)));
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

	value = truthy(run, cond, strlen(cond), ctx, &err);
	*ok = err == NULL;
	if (err != NULL)
		emit(run, "warning", s->name, NULL, "warning", NULL, meta_of("where", "retry"),
			 psprintf("retry condition of step \"%s\" counts as false: %s", s->name, err), 0);
	return value;
}

static void child_retry(Run *run, TaskState *q, BStep *s, const char *error, int attempt);

/*
 * task_error handles a failed attempt of a task the evaluation has locked:
 * the step's retry policy decides whether it runs again (a sub-playbook's
 * row: with a new child execution); otherwise, or without may_retry, the
 * task is dead and its step fails (a loop's iteration: under the loop's
 * rule).  The caller runs finish().
 */
static void
task_error(Run *run, TaskState *q, const char *error, Jsonb *result, bool may_retry)
{
	int			idx = step_of_task(run, q);
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

		finish_task(run, q, TASK_RETRY, NULL, at);
		num.type = jbvNumeric;
		num.val.numeric = int64_to_numeric(attempt);
		jt_set(meta, "attempt", &num);
		num.val.numeric = int64_to_numeric(s->retry.max_attempts);
		jt_set(meta, "max_attempts", &num);
		num.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(delay)));
		jt_set(meta, "delay", &num);
		jt_set(meta, "available_at", jt_string(timestamptz_to_str(at)));
		emit(run, "step_retry", s->name, s->tool, "retry", NULL, jt_to_jsonb(meta), error,
			 q->queue_id)->node_id = q->node_id;
		return;
	}
	if (item_of(q) >= 0)
	{
		on_item_done(run, q, idx, item_of(q), true, result, error);
		return;
	}
	finish_task(run, q, TASK_DEAD, result, 0);
	run->fin_error = error;
	run->ex.pending--;
	fail_execution(run, s->name, error);
}

static void
on_error(Run *run, TaskState *q, EventRow *row)
{
	if (q->status != TASK_LEASED)
		return;
	task_error(run, q, event_text(row, C_ERROR), unwrap(event_jsonb(row, C_RESULT)), true);
	finish(run);
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
	run->end_event_id = emit(run, "execution_cancelled", NULL, NULL, "cancelled", NULL, NULL,
							 NULL, 0)->event_id;
	cancel_children(run);
	finish(run);
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
	while (run.pb != NULL && flush(&run))
	{
		if (run.ex.status != EXEC_RUNNING || run.ex.pending != 0)
			break;
		finish(&run);
	}
	/* a sub-playbook's end completes, fails or cancels its parent's step */
	if (run.pb != NULL)
		propagate(&run);
	admit_forget();
	MemoryContextSwitchTo(old);
	SPI_finish();
	owner_leave(&save);
	MemoryContextDelete(run.cxt);
	return PointerGetDatum(NULL);
}
