/*-------------------------------------------------------------------------
 *
 * child.c
 *	  Sub-playbooks: a step's child execution, from its start in the
 *	  transaction that dispatches the step to its end, which completes,
 *	  retries or fails the step in its parent.
 *
 * A sub-playbook step (tool: playbook), or an iteration of a loop over one,
 * is a queue row held "leased" by its child execution (state.c).  The
 * child starts in the transaction that dispatches the row, evaluated here
 * in a Run of its own (child_start); its end, in whatever transaction ends
 * it, completes or fails the row in its parent (propagate), under the
 * parent's lock: a descendant is locked before its ancestor, never the
 * reverse, so no cycle of waits can form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "evaluate.h"
#include "guc.h"
#include "jtree.h"
#include "rows.h"
#include "snowflake.h"
#include "wakeup.h"



/* child_meta is the meta of an event about a child: {child_execution_id} */
JsonbValue *
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
ChildEnd
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
	MemoryContext ccxt;
	MemoryContext old;
	Jsonb	   *result = NULL;

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

	/*
	 * The child is evaluated in a memory context of its own, gone once its
	 * start is done: a loop of children (or children of children) would
	 * otherwise keep every child's evaluation until the parent's ended,
	 * about 85 kB a child.  Only its outcome is copied out.
	 */
	ccxt = AllocSetContextCreate(run->cxt, "noetl sub-playbook", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ccxt);
	c = palloc0(sizeof(Run));
	c->cxt = ccxt;
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
	c->ctx = ev_make_context(c);
	c->result = tv_none();
	out.started = true;

	/* the child's execution_start, as a client's would read, but the broker's */
	ctx = jt_object();
	jt_set(ctx, "path", jt_string(p));
	jt_set(ctx, "version", jt_int(c->pb->version));
	jt_set(ctx, "workload", args ? jt_from_jsonb(args) : jt_object());
	meta = jt_object();
	jt_set(meta, "parent_step", jt_string(node_id));
	ev = ev_emit(c, "execution_start", NULL, "playbook", NULL, NULL, jt_to_jsonb(meta), NULL, 0);
	ev->context = jt_to_jsonb(ctx);
	event_append(c->event_rel, child_id, catalog_id, run->ex.execution_id, parent_event_id,
				 &ev, 1);
	c->nevents = 0;
	c->event_id = ev->event_id;

	ev_start_with(c, args);
	while (ev_flush(c))
	{
		if (c->ex.status != EXEC_RUNNING || c->ex.pending != 0)
			break;
		ev_finish(c);
	}
	out.ended = c->ex.status != EXEC_RUNNING;
	out.status = c->ex.status;
	if (c->ex.status == EXEC_COMPLETED)
		result = child_result(child_id, c->end_result,
							  rs && rs->type == jbvString ?
							  pnstrdup(rs->val.string.val, rs->val.string.len) : NULL);
	MemoryContextSwitchTo(old);
	if (out.ended && c->end_error != NULL)
		out.error = pstrdup(c->end_error);
	if (result != NULL)
		out.result = DatumGetJsonbPCopy(JsonbPGetDatum(result));
	MemoryContextDelete(ccxt);
	return out;
}

/*
 * child_message is what a child's failure or cancellation makes its
 * parent's row's error; a child that never started (its path not
 * registered, the depth reached) has no execution to name.
 */
char *
child_message(int64 child_id, const ChildEnd *e)
{
	if (!e->started)
		return pstrdup(e->error);
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
 * again), is not retried.  The caller runs ev_finish().
 */
static void
child_apply(Run *run, TaskState *q, int64 child_id, const ChildEnd *e, bool may_retry)
{
	JsonbValue *meta = e->started ? child_meta(child_id) : jt_object();

	if (e->status == EXEC_COMPLETED)
	{
		ev_emit(run, "action_completed", q->node_name, "playbook", "completed", e->result,
			 jt_to_jsonb(meta), NULL, q->queue_id)->node_id = q->node_id;
		ev_task_done(run, q, e->result);
		return;
	}
	ev_emit(run, "action_error", q->node_name, "playbook", "failed", NULL, jt_to_jsonb(meta),
		 child_message(child_id, e), q->queue_id)->node_id = q->node_id;
	ev_task_error(run, q, child_message(child_id, e), NULL,
			   may_retry && e->status == EXEC_FAILED);
}

/* child_holds says whether row q is held by child execution child_id */
bool
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

	(void) ev_flush(run);
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
void
child_enqueue(Run *run, int idx, Jsonb *action)
{
	BStep	   *s = &run->pb->steps[idx];
	TaskSpec   *task;
	int64		child_id = noetl_next_id();
	BEvent	   *ev;
	int64		started;
	ChildEnd	e;

	/* what the evaluation decided so far is written: the row's flush is its own */
	(void) ev_flush(run);
	task = ev_new_task(run);
	task->queue_id = noetl_next_id();
	task->node = s->name;
	task->tool = s->tool;
	task->action = action;
	task->priority = s->priority;
	task->max_attempts = s->retry.max_attempts;
	task->child_id = child_id;
	run->ex.pending++;
	ev = ev_emit(run, "step_started", s->name, "playbook", "started", NULL,
			  jt_to_jsonb(child_meta(child_id)), NULL, task->queue_id);
	ev->if_queued = true;
	started = ev->event_id;
	if (ev_flush(run))
		return;					/* queued by an earlier event: its child runs */
	e = child_start(run, s, s->name, child_id, action, started);
	if (e.ended)
		child_ended_at_start(run, s->name, child_id, &e);
}

/*
 * child_retry starts a new child execution for row q, whose child failed
 * with attempts left: no delay (step_retry's meta says 0).
 */
void
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
	ev = ev_emit(run, "step_retry", s->name, s->tool, "retry", NULL, jt_to_jsonb(meta), error,
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
void
child_propagate(Run *c)
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
		p->ctx = ev_make_context(p);
		p->result = tv_none();
		p->orig_pending = p->ex.pending;
		p->orig_status = p->ex.status;
		e.ended = true;
		e.started = true;
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
		ev_finish(p);
		while (ev_flush(p))
		{
			if (p->ex.status != EXEC_RUNNING || p->ex.pending != 0)
				break;
			ev_finish(p);
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
void
child_cancel_children(Run *run)
{
	int			n;
	int64	   *ids = state_running_children(run->nsp, run->ex.execution_id, &n);
	int			i;

	check_stack_depth();
	for (i = 0; i < n; i++)
	{
		/* each child's cancel in a context of its own, as its start was */
		MemoryContext ccxt = AllocSetContextCreate(run->cxt, "noetl sub-playbook",
												   ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(ccxt);
		Run		   *c = palloc0(sizeof(Run));

		CHECK_FOR_INTERRUPTS();
		c->cxt = ccxt;
		c->event_rel = run->event_rel;
		c->nsp = run->nsp;
		if (state_lock_execution(ids[i], &c->ex) && c->ex.status == EXEC_RUNNING)
		{
			c->pb = pb_get(c->ex.catalog_id);
			c->ctx = ev_make_context(c);
			c->result = tv_none();
			c->event_id = run->end_event_id;
			c->orig_pending = c->ex.pending;
			c->orig_status = c->ex.status;
			if (state_cancel_tasks(c->ex.execution_id) > 0)
				wake_record_cancel(c->ex.execution_id);
			c->ex.pending = 0;
			c->ex.status = EXEC_CANCELLED;
			c->ended = true;
			/* its own children's cancels are caused by its execution_cancelled */
			c->end_event_id = ev_emit(c, "execution_cancelled", NULL, NULL, "cancelled", NULL,
									  ev_meta_of("cancelled_by", "parent"), NULL, 0)->event_id;
			child_cancel_children(c);
			(void) ev_flush(c);
		}
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ccxt);
	}
}

