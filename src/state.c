/*-------------------------------------------------------------------------
 *
 * state.c
 *	  The state machine of tasks, executions and steps.
 *
 * Every transition of a noetl.queue row, a noetl.execution row or a
 * noetl.step_state row is written here, and only here:
 *
 *	tasks		queued by the broker (state_queue_tasks), leased by a worker
 *				(noetl.lease), kept by heartbeats (noetl.heartbeat), done
 *				or dead (state_finish_task), back to retry (state_retry_task),
 *				released (state_release_task), cancelled with their
 *				execution (state_cancel_tasks)
 *	executions	started (state_insert_execution), their pending count,
 *				status, result and end (state_update_execution)
 *	steps		recorded once (state_insert_step), and their end
 *				(state_set_step)
 *
 * The hot path (locking a task, queueing, finishing, leasing, writing the
 * execution and its steps) reads and writes rows directly through rows.c;
 * the rest (locking an execution by itself, cancelling its tasks, reading
 * an earlier step's result) is SQL prepared once per backend (stmt.c),
 * every name and operator schema-qualified.
 * Statuses are enums; their names are written only here.
 *
 * Access paths, all by key: noetl.execution by execution_id (locked FOR NO
 * KEY UPDATE to serialise an execution's events), noetl.queue by queue_id
 * or (execution_id, node_id), noetl.step_state by (execution_id, step);
 * leases read queue_ready_idx in its order.  Nothing here scans
 * noetl.event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "owner.h"
#include "ready_mark.h"
#include "rows.h"
#include "state.h"
#include "stmt.h"
#include "token.h"

PG_FUNCTION_INFO_V1(noetl_lease);
PG_FUNCTION_INFO_V1(noetl_heartbeat);

/* ---------------------------------------------------------------- statuses */

static const char *const task_names[] = {
	[TASK_WAITING] = "waiting", [TASK_QUEUED] = "queued", [TASK_LEASED] = "leased", [TASK_DONE] = "done",
	[TASK_RETRY] = "retry", [TASK_DEAD] = "dead", [TASK_CANCELLED] = "cancelled"
};
static const char *const exec_names[] = {
	[EXEC_RUNNING] = "running", [EXEC_COMPLETED] = "completed", [EXEC_FAILED] = "failed",
	[EXEC_CANCELLED] = "cancelled"
};
static const char *const step_names[] = {
	[STEP_WAITING] = "waiting", [STEP_DISPATCHED] = "dispatched",
	[STEP_COMPLETED] = "completed", [STEP_FAILED] = "failed", [STEP_CANCELLED] = "cancelled"
};

/* status_of reads a status column's text as its enum value */
static int
status_of(const char *text, const char *const *names, int n, const char *what)
{
	int			i;

	for (i = 0; text != NULL && i < n; i++)
		if (strcmp(names[i], text) == 0)
			return i;
	elog(ERROR, "unrecognized %s status \"%s\"", what, text ? text : "(null)");
	return 0;
}

#define TASK_STATUS_OF(t) ((TaskStatus) status_of((t), task_names, lengthof(task_names), "task"))
#define EXEC_STATUS_OF(t) ((ExecStatus) status_of((t), exec_names, lengthof(exec_names), "execution"))
#define STEP_STATUS_OF(t) ((StepStatus) status_of((t), step_names, lengthof(step_names), "step"))

/* ---------------------------------------------------------------- SQL */

static NoetlStmt s_lock_exec = {
	"SELECT catalog_id, status, pending, workload, parent_execution_id"
	"  FROM noetl.execution WHERE execution_id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
	1, {INT8OID}
};
static NoetlStmt s_cancel_tasks = {
	"UPDATE noetl.queue SET status = 'cancelled', lease_until = NULL,"
	"       updated_at = pg_catalog.clock_timestamp()"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) ANY ('{waiting,queued,leased,retry}'::pg_catalog.text[])",
	1, {INT8OID}
};
static NoetlStmt s_cancel_loops = {
	"UPDATE noetl.step_state SET status = 'cancelled', ended_at = pg_catalog.clock_timestamp()"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) 'dispatched' AND loop_total IS NOT NULL",
	1, {INT8OID}
};
static NoetlStmt s_delete_step = {
	"DELETE FROM noetl.step_state"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, TEXTOID}
};
static NoetlStmt s_result_queue = {
	"SELECT result FROM noetl.queue"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND node_id OPERATOR(pg_catalog.=) $2"
	"   AND status OPERATOR(pg_catalog.=) 'done'",
	2, {INT8OID, TEXTOID}
};
static NoetlStmt s_result_step = {
	"SELECT result FROM noetl.step_state"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2"
	"   AND status OPERATOR(pg_catalog.=) 'completed'",
	2, {INT8OID, TEXTOID}
};

/* column col (1-based) of the first row of the last result, or NULL */
static Datum
spi_value(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

static Jsonb *
spi_jsonb(int col)
{
	bool		isnull;
	Datum		d = spi_value(col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

static char *
spi_text(int col)
{
	bool		isnull;
	Datum		d = spi_value(col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* ---------------------------------------------------------------- executions */

/*
 * state_lock_execution locks an execution's row and reads its state; false
 * if it does not exist.  The caller must be connected to SPI.
 */
bool
state_lock_execution(int64 execution_id, ExecState *ex)
{
	Datum		v[1];
	bool		isnull;

	v[0] = Int64GetDatum(execution_id);
	if (noetl_spi_exec(&s_lock_exec, v, NULL, SPI_OK_SELECT) == 0)
		return false;
	ex->execution_id = execution_id;
	ex->catalog_id = DatumGetInt64(spi_value(1, &isnull));
	ex->status = EXEC_STATUS_OF(spi_text(2));
	ex->pending = DatumGetInt32(spi_value(3, &isnull));
	ex->workload = spi_jsonb(4);
	ex->parent_execution_id = DatumGetInt64(spi_value(5, &isnull));
	ex->has_parent = !isnull;
	if (!ex->has_parent)
		ex->parent_execution_id = 0;
	return true;
}

/*
 * state_execution_exists says whether an execution of that id exists
 * (rows_probe: a transaction still writing the row is waited for).
 */
bool
state_execution_exists(Oid nsp, int64 execution_id)
{
	Relation	xrel = table_open(rows_relid(nsp, "execution"), AccessShareLock);
	Relation	xidx = index_open(RelationGetPrimaryKeyIndex(xrel), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(xrel, NULL);
	ScanKeyData key;
	bool		found;

	rows_key_int8(&key, 1, execution_id);
	found = rows_probe(xrel, xidx, &key, 1, slot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(xidx, NoLock);
	table_close(xrel, NoLock);
	return found;
}

/*
 * state_insert_execution writes a new execution's row, as its first
 * evaluation left it (its status, pending count and, when given, result,
 * error and end): the row is written once, directly, when the evaluation
 * flushes, not inserted and then updated.  nsp is the noetl schema.
 */
void
state_insert_execution(Oid nsp, const ExecState *ex, Jsonb *result, const char *error,
					   bool ended)
{
	RowWriter	w;
	TimestampTz now = GetCurrentTimestamp();

	rows_open(&w, table_open(rows_relid(nsp, "execution"), RowExclusiveLock), ROWS_EXECUTION,
			  true);
	rows_new(&w);
	rows_set(&w, X_EXECUTION_ID, Int64GetDatum(ex->execution_id));
	rows_set(&w, X_CATALOG_ID, Int64GetDatum(ex->catalog_id));
	if (ex->has_parent)
		rows_set(&w, X_PARENT_EXECUTION_ID, Int64GetDatum(ex->parent_execution_id));
	rows_set_text(&w, X_PARENT_STEP, ex->parent_step);
	rows_set(&w, X_DEPTH, Int32GetDatum(ex->depth));
	rows_set_text(&w, X_STATUS, exec_names[ex->status]);
	rows_set(&w, X_PENDING, Int32GetDatum(ex->pending));
	rows_set(&w, X_WORKLOAD, JsonbPGetDatum(ex->workload));
	if (result != NULL)
		rows_set(&w, X_RESULT, JsonbPGetDatum(result));
	rows_set_text(&w, X_ERROR, error);
	if (ended)
		rows_set(&w, X_ENDED_AT, TimestampTzGetDatum(now));
	rows_set(&w, X_STARTED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	rows_set(&w, X_UPDATED_AT, TimestampTzGetDatum(now));
	rows_insert(&w);
	rows_close(&w);
	rows_done();
}

/*
 * state_update_execution writes an execution's status and pending count
 * and, when given, its result, error and end.  The row is written
 * directly, like the queue's: this is written on every event.  nsp is the
 * noetl schema; the caller has locked the row.
 */
void
state_update_execution(Oid nsp, int64 execution_id, ExecStatus status, int32 pending,
					   Jsonb *result, const char *error, bool ended)
{
	Relation	xrel = table_open(rows_relid(nsp, "execution"), RowExclusiveLock);
	Relation	xidx = index_open(RelationGetPrimaryKeyIndex(xrel), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(xrel, NULL);
	TimestampTz now = GetCurrentTimestamp();
	ScanKeyData key;
	RowWriter	w;

	/* this transaction's earlier writes of the row must be visible */
	CommandCounterIncrement();
	rows_key_int8(&key, 1, execution_id);
	if (!rows_find(xrel, xidx, &key, 1, slot, LockWaitBlock))
		elog(ERROR, "execution %lld is gone", (long long) execution_id);
	rows_open(&w, xrel, ROWS_EXECUTION, false);
	rows_fetch(&w, &slot->tts_tid, X_EXECUTION_ID, execution_id);
	rows_set_text(&w, X_STATUS, exec_names[status]);
	rows_set(&w, X_PENDING, Int32GetDatum(pending));
	if (result != NULL)
		rows_set(&w, X_RESULT, JsonbPGetDatum(result));
	if (error != NULL)
		rows_set_text(&w, X_ERROR, error);
	if (ended)
		rows_set(&w, X_ENDED_AT, TimestampTzGetDatum(now));
	rows_set(&w, X_UPDATED_AT, TimestampTzGetDatum(now));
	rows_update(&w);
	ExecDropSingleTupleTableSlot(slot);
	rows_close(&w);
	index_close(xidx, NoLock);
	table_close(xrel, NoLock);
	rows_done();
}

/* ---------------------------------------------------------------- steps */

/*
 * A step's row is read, inserted and updated directly, by its key: every
 * event writes one or two.  An evaluation holds its execution's lock, so
 * another transaction writes the same steps only in a race the lock does
 * not cover (two starts of one caller-chosen id, whose row neither has
 * written yet): a row another transaction is still writing is waited for,
 * and the row updated is locked first.  A dirty snapshot also sees this
 * transaction's own latest writes.
 */

/* find_step finds a step's row in slot; false if there is none */
static bool
find_step(Relation rel, Relation idx, int64 execution_id, const char *step,
		  TupleTableSlot *slot)
{
	ScanKeyData keys[2];

	rows_key_int8(&keys[0], 1, execution_id);
	rows_key_text(&keys[1], 2, idx, step);
	return rows_probe(rel, idx, keys, 2, slot);
}

/* the step table and its key, opened for one call */
typedef struct StepRel
{
	Relation	rel;
	Relation	idx;
	TupleTableSlot *slot;
} StepRel;

static void
step_open(Oid nsp, StepRel *sr, LOCKMODE mode)
{
	sr->rel = table_open(rows_relid(nsp, "step_state"), mode);
	sr->idx = index_open(RelationGetPrimaryKeyIndex(sr->rel), AccessShareLock);
	sr->slot = table_slot_create(sr->rel, NULL);
}

static void
step_close(StepRel *sr)
{
	ExecDropSingleTupleTableSlot(sr->slot);
	index_close(sr->idx, NoLock);
	table_close(sr->rel, NoLock);
}

/*
 * state_insert_step records a step of an execution; false if it was
 * already recorded (a step runs at most once).
 */
bool
state_insert_step(Oid nsp, int64 execution_id, const char *step, StepStatus status,
				  Jsonb *args)
{
	StepRel		sr;
	RowWriter	w;
	bool		exists;

	step_open(nsp, &sr, RowExclusiveLock);
	exists = find_step(sr.rel, sr.idx, execution_id, step, sr.slot);
	if (!exists)
	{
		rows_open(&w, sr.rel, ROWS_STEP, false);
		rows_new(&w);
		rows_set(&w, S_EXECUTION_ID, Int64GetDatum(execution_id));
		rows_set_text(&w, S_STEP, step);
		rows_set_text(&w, S_STATUS, step_names[status]);
		if (args != NULL)
			rows_set(&w, S_ARGS, JsonbPGetDatum(args));
		rows_set(&w, S_STARTED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
		rows_insert(&w);
		rows_close(&w);
		rows_done();
	}
	step_close(&sr);
	return !exists;
}

/* state_set_step ends a recorded step, with its result */
void
state_set_step(Oid nsp, int64 execution_id, const char *step, StepStatus status,
			   Jsonb *result)
{
	StepRel		sr;
	RowWriter	w;
	ScanKeyData keys[2];

	step_open(nsp, &sr, RowExclusiveLock);
	rows_key_int8(&keys[0], 1, execution_id);
	rows_key_text(&keys[1], 2, sr.idx, step);
	if (rows_find(sr.rel, sr.idx, keys, 2, sr.slot, LockWaitBlock))
	{
		rows_open(&w, sr.rel, ROWS_STEP, false);
		rows_fetch(&w, &sr.slot->tts_tid, S_EXECUTION_ID, execution_id);
		rows_set_text(&w, S_STATUS, step_names[status]);
		if (result != NULL)
			rows_set(&w, S_RESULT, JsonbPGetDatum(result));
		else
			rows_set_null(&w, S_RESULT);
		rows_set(&w, S_ENDED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
		rows_update(&w);
		rows_close(&w);
		rows_done();
	}
	step_close(&sr);
}

/*
 * state_delete_step forgets a recorded step: the end step's join row, when
 * the end step is a loop whose own row replaces it.
 */
void
state_delete_step(Oid nsp, int64 execution_id, const char *step)
{
	Datum		v[2];

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	(void) noetl_spi_exec(&s_delete_step, v, NULL, SPI_OK_DELETE);
}

/* state_get_step reads a recorded step's status and args; false if none */
bool
state_get_step(Oid nsp, int64 execution_id, const char *step, StepStatus *status,
			   Jsonb **args)
{
	StepRel		sr;
	bool		found;

	step_open(nsp, &sr, AccessShareLock);
	found = find_step(sr.rel, sr.idx, execution_id, step, sr.slot);
	if (found)
	{
		const AttrNumber *sa = rows_columns(sr.rel, ROWS_STEP);
		bool		isnull;
		Datum		d;

		*status = STEP_STATUS_OF(rows_text(sr.slot, sa[S_STATUS]));
		d = slot_getattr(sr.slot, sa[S_ARGS], &isnull);
		*args = isnull ? NULL : DatumGetJsonbPCopy(d);
	}
	step_close(&sr);
	return found;
}

/*
 * state_step_result returns the result of a finished step: from its queue
 * row for a task, from step_state for a control step.
 */
Jsonb *
state_step_result(int64 execution_id, const char *step, bool actionable, bool *found)
{
	Datum		v[2];

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	*found = noetl_spi_exec(actionable ? &s_result_queue : &s_result_step, v, NULL,
							SPI_OK_SELECT) > 0;
	return *found ? spi_jsonb(1) : NULL;
}

/* ---------------------------------------------------------------- tasks */

/* read_task fills q from a queue row */
static void
read_task(TupleTableSlot *slot, const AttrNumber *qa, TaskState *q)
{
	bool		isnull;
	Datum		d;

	q->tid = slot->tts_tid;
	q->queue_id = rows_int8(slot, qa[Q_QUEUE_ID], &isnull);
	q->execution_id = rows_int8(slot, qa[Q_EXECUTION_ID], &isnull);
	q->node_id = rows_text(slot, qa[Q_NODE_ID]);
	q->node_name = rows_text(slot, qa[Q_NODE_NAME]);
	q->status = TASK_STATUS_OF(rows_text(slot, qa[Q_STATUS]));
	q->worker_id = rows_text(slot, qa[Q_WORKER_ID]);
	d = slot_getattr(slot, qa[Q_LEASE_UNTIL], &isnull);
	q->lease_until = isnull ? 0 : DatumGetTimestampTz(d);
	q->attempts = rows_int4(slot, qa[Q_ATTEMPTS]);
	q->max_attempts = rows_int4(slot, qa[Q_MAX_ATTEMPTS]);
	q->priority = rows_int4(slot, qa[Q_PRIORITY]);
	q->tool = rows_text(slot, qa[Q_TOOL]);
	q->has_token_column = qa[Q_LEASE_TOKEN] != InvalidAttrNumber;
	q->lease_token = NULL;
	if (q->has_token_column)
	{
		d = slot_getattr(slot, qa[Q_LEASE_TOKEN], &isnull);
		if (!isnull)
			q->lease_token = DatumGetByteaPCopy(d);
	}
}

/*
 * state_lock_task locks a task, named by its queue_id (by_id) or else by
 * execution and node, and its execution (the execution first), and reads
 * both; false if there is no such task.  nsp is the noetl schema.  Every
 * int64 is a possible queue_id: none stands for "no task".
 */
bool
state_lock_task(Oid nsp, bool by_id, int64 queue_id, int64 execution_id, const char *node_id,
				ExecState *ex, TaskState *q)
{
	Relation	qrel = table_open(rows_relid(nsp, "queue"), RowExclusiveLock);
	Relation	xrel = table_open(rows_relid(nsp, "execution"), RowExclusiveLock);
	const AttrNumber *qa = rows_columns(qrel, ROWS_QUEUE);
	const AttrNumber *xa = rows_columns(xrel, ROWS_EXECUTION);
	TupleTableSlot *qslot = table_slot_create(qrel, NULL);
	TupleTableSlot *xslot = table_slot_create(xrel, NULL);
	Relation	qidx;
	ScanKeyData keys[2];
	int			nkeys;
	bool		isnull;
	bool		found = true;

	/* what this transaction wrote so far must be visible, and lockable */
	CommandCounterIncrement();
	if (by_id)
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
		IndexScanDesc scan;

		/* the task's execution (an immutable column), unlocked */
		qidx = index_open(RelationGetPrimaryKeyIndex(qrel), AccessShareLock);
		nkeys = 1;
		rows_key_int8(&keys[0], 1, queue_id);
		scan = index_beginscan(qrel, qidx, snap, nkeys, 0);
		index_rescan(scan, keys, nkeys, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, qslot);
		if (found)
			execution_id = rows_int8(qslot, qa[Q_EXECUTION_ID], &isnull);
		index_endscan(scan);
		UnregisterSnapshot(snap);
	}
	else
	{
		Assert(node_id != NULL);
		qidx = index_open(rows_relid(nsp, "queue_node_key"), AccessShareLock);
		nkeys = 2;
		rows_key_int8(&keys[0], 1, execution_id);
		rows_key_text(&keys[1], 2, qidx, node_id);
	}
	if (found)
	{
		ScanKeyData xkey;
		Relation	xidx = index_open(RelationGetPrimaryKeyIndex(xrel), AccessShareLock);

		rows_key_int8(&xkey, 1, execution_id);
		found = rows_find(xrel, xidx, &xkey, 1, xslot, LockWaitBlock);
		index_close(xidx, NoLock);
	}
	if (found)
		found = rows_find(qrel, qidx, keys, nkeys, qslot, LockWaitBlock);
	if (found)
	{
		ex->execution_id = execution_id;
		ex->catalog_id = rows_int8(xslot, xa[X_CATALOG_ID], &isnull);
		ex->status = EXEC_STATUS_OF(rows_text(xslot, xa[X_STATUS]));
		ex->pending = rows_int4(xslot, xa[X_PENDING]);
		ex->workload = DatumGetJsonbPCopy(slot_getattr(xslot, xa[X_WORKLOAD], &isnull));
		ex->parent_execution_id = rows_int8(xslot, xa[X_PARENT_EXECUTION_ID], &isnull);
		ex->has_parent = !isnull;
		ex->parent_step = NULL;
		ex->depth = 0;
		if (xa[X_DEPTH] != InvalidAttrNumber)
		{
			ex->parent_step = rows_text(xslot, xa[X_PARENT_STEP]);
			ex->depth = rows_int4(xslot, xa[X_DEPTH]);
		}
		read_task(qslot, qa, q);
	}
	ExecDropSingleTupleTableSlot(qslot);
	ExecDropSingleTupleTableSlot(xslot);
	index_close(qidx, NoLock);
	table_close(xrel, NoLock);
	table_close(qrel, NoLock);
	return found;
}

/*
 * state_queue_tasks queues tasks of one execution, which the caller has
 * locked; a step already queued for the execution is not queued again
 * (unless the task is fresh: a loop's iterations, whose step_state row
 * was just inserted, are new by construction and not probed).  queued[i]
 * says whether tasks[i] was.  Returns how many were.  A waiting task (a
 * loop's iteration beyond its window) is inserted but not ready.
 */
int
state_queue_tasks(Oid nsp, int64 execution_id, int64 catalog_id, TaskSpec *tasks, int n,
				  bool *queued)
{
	RowWriter	w;
	Relation	idx;
	TupleTableSlot *probe;
	ScanKeyData keys[2];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			count = 0;
	int			i;

	if (n == 0)
		return 0;
	rows_open(&w, table_open(rows_relid(nsp, "queue"), RowExclusiveLock), ROWS_QUEUE, true);
	idx = index_open(rows_relid(nsp, "queue_node_key"), AccessShareLock);
	probe = table_slot_create(w.rel, NULL);
	for (i = 0; i < n; i++)
	{
		TaskSpec   *t = &tasks[i];
		bool		exists;

		/*
		 * Is the step queued already (by any transaction: the execution is
		 * locked, so only a committed one, unless two starts of one
		 * caller-chosen id race, and then the other's outcome decides)?
		 * The unique index backs this.
		 */
		if (!t->fresh)
		{
			rows_key_int8(&keys[0], 1, execution_id);
			rows_key_text(&keys[1], 2, idx, t->node_id ? t->node_id : t->node);
			exists = rows_probe(w.rel, idx, keys, 2, probe);
			queued[i] = !exists;
			if (exists)
				continue;
		}
		queued[i] = true;

		rows_new(&w);
		rows_set(&w, Q_QUEUE_ID, Int64GetDatum(t->queue_id));
		rows_set(&w, Q_EXECUTION_ID, Int64GetDatum(execution_id));
		rows_set(&w, Q_CATALOG_ID, Int64GetDatum(catalog_id));
		rows_set_text(&w, Q_NODE_ID, t->node_id ? t->node_id : t->node);
		rows_set_text(&w, Q_NODE_NAME, t->node);
		rows_set_text(&w, Q_TOOL, t->tool);
		rows_set(&w, Q_ACTION, JsonbPGetDatum(t->action));
		rows_set_text(&w, Q_STATUS, task_names[t->waiting ? TASK_WAITING :
											   t->child_id != 0 ? TASK_LEASED : TASK_QUEUED]);
		rows_set(&w, Q_PRIORITY, Int32GetDatum(t->priority));
		rows_set(&w, Q_ATTEMPTS, Int32GetDatum(t->child_id != 0 ? 1 : 0));
		if (t->child_id != 0)
			rows_set_text(&w, Q_WORKER_ID, psprintf("child:%lld", (long long) t->child_id));
		rows_set(&w, Q_MAX_ATTEMPTS, Int32GetDatum(t->max_attempts));
		rows_set(&w, Q_AVAILABLE_AT, TimestampTzGetDatum(now));
		rows_set(&w, Q_CREATED_AT, TimestampTzGetDatum(now));
		rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(now));
		rows_insert(&w);
		if (!t->waiting && t->child_id == 0)
			ready_mark_lower(w.rel, t->priority, t->queue_id);
		count++;
	}
	ExecDropSingleTupleTableSlot(probe);
	index_close(idx, NoLock);
	rows_close(&w);
	return count;
}

/*
 * write_end writes the end of a lease of a task the caller has locked (q,
 * from state_lock_task in this transaction): done or dead with its result,
 * or retry at available_at with no worker.  The hash of the lease's token
 * stays: a repeated report of that lease is recognised as one.
 */
static void
write_end(Oid nsp, TaskState *q, TaskStatus status, Jsonb *result, const char *error,
		  TimestampTz available_at)
{
	RowWriter	w;

	rows_open(&w, table_open(rows_relid(nsp, "queue"), RowExclusiveLock), ROWS_QUEUE, true);
	rows_fetch(&w, &q->tid, Q_QUEUE_ID, q->queue_id);
	rows_set_text(&w, Q_STATUS, task_names[status]);
	if (status == TASK_RETRY)
	{
		rows_set(&w, Q_AVAILABLE_AT, TimestampTzGetDatum(available_at));
		rows_set_null(&w, Q_WORKER_ID);
	}
	else if (result != NULL)
		rows_set(&w, Q_RESULT, JsonbPGetDatum(result));
	else
		rows_set_null(&w, Q_RESULT);
	if (status != TASK_RETRY)
		rows_set_text(&w, Q_ERROR, error);
	rows_set_null(&w, Q_LEASE_UNTIL);
	rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	rows_update(&w);
	if (status == TASK_RETRY)
		ready_mark_lower(w.rel, q->priority, q->queue_id);
	rows_close(&w);
	q->status = status;
}

/*
 * state_finish_task ends a task the caller has locked: done or dead, with
 * its result and (dead) the error of its last attempt.
 */
void
state_finish_task(Oid nsp, TaskState *q, TaskStatus status, Jsonb *result, const char *error)
{
	Assert(status == TASK_DONE || status == TASK_DEAD);
	write_end(nsp, q, status, result, status == TASK_DEAD ? error : NULL, 0);
}

/*
 * state_retry_task sends a task the caller has locked back to wait until
 * available_at, leased to nobody.
 */
void
state_retry_task(Oid nsp, TaskState *q, TimestampTz available_at)
{
	write_end(nsp, q, TASK_RETRY, NULL, NULL, available_at);
}

/*
 * state_release_task puts a task the caller has locked (q, leased) back in
 * the queue, ready now, leased to nobody, the attempt uncounted.
 */
void
state_release_task(Oid nsp, TaskState *q)
{
	RowWriter	w;

	rows_open(&w, table_open(rows_relid(nsp, "queue"), RowExclusiveLock), ROWS_QUEUE, true);
	rows_fetch(&w, &q->tid, Q_QUEUE_ID, q->queue_id);
	rows_set_text(&w, Q_STATUS, task_names[TASK_QUEUED]);
	rows_set(&w, Q_ATTEMPTS, Int32GetDatum(Max(q->attempts - 1, 0)));
	rows_set_null(&w, Q_WORKER_ID);
	rows_set_null(&w, Q_LEASE_UNTIL);
	rows_set(&w, Q_AVAILABLE_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	rows_update(&w);
	ready_mark_lower(w.rel, q->priority, q->queue_id);
	rows_close(&w);
	q->status = TASK_QUEUED;
	q->attempts = Max(q->attempts - 1, 0);
}

/* ---------------------------------------------------------------- loops */

/*
 * A loop step is its step_state row, with the loop's counters, and one
 * queue row per iteration, node_id "step[i]".  Its counters are read and
 * written by the evaluation that holds the execution's lock, so they need
 * no lock of their own; its iterations are read one at a time by key while
 * the loop runs, and all at once, in one index scan, when it ends.
 */

/*
 * state_loop_schema says whether the noetl schema has the columns of loops
 * and sub-playbooks (1.2); a library newer than the schema runs neither.
 * nsp may be InvalidOid: the schema is then looked up.
 */
bool
state_loop_schema(Oid nsp)
{
	Relation	srel;
	Relation	qrel;
	bool		has;

	if (!OidIsValid(nsp))
		nsp = get_namespace_oid("noetl", false);
	srel = table_open(rows_relid(nsp, "step_state"), AccessShareLock);
	qrel = table_open(rows_relid(nsp, "queue"), AccessShareLock);
	has = rows_columns(srel, ROWS_STEP)[S_LOOP_WINDOW] != InvalidAttrNumber &&
		rows_columns(qrel, ROWS_QUEUE)[Q_ERROR] != InvalidAttrNumber;
	table_close(qrel, NoLock);
	table_close(srel, NoLock);
	return has;
}

/* set_loop_counters writes a loop's counters into the row being formed */
static void
set_loop_counters(RowWriter *w, const LoopState *ls)
{
	rows_set(w, S_LOOP_TOTAL, Int32GetDatum(ls->total));
	rows_set(w, S_LOOP_NEXT, Int32GetDatum(ls->next));
	rows_set(w, S_LOOP_DONE, Int32GetDatum(ls->done));
	rows_set(w, S_LOOP_FAILED, Int32GetDatum(ls->failed));
	rows_set(w, S_LOOP_WINDOW, Int32GetDatum(ls->window));
}

/*
 * state_insert_loop records a loop step with its counters (and, for a loop
 * that ends at once, its end and result); false if the step was already
 * recorded.
 */
bool
state_insert_loop(Oid nsp, int64 execution_id, const char *step, StepStatus status,
				  Jsonb *args, Jsonb *result, const LoopState *ls)
{
	StepRel		sr;
	RowWriter	w;
	bool		exists;

	step_open(nsp, &sr, RowExclusiveLock);
	exists = find_step(sr.rel, sr.idx, execution_id, step, sr.slot);
	if (!exists)
	{
		rows_open(&w, sr.rel, ROWS_STEP, false);
		rows_new(&w);
		rows_set(&w, S_EXECUTION_ID, Int64GetDatum(execution_id));
		rows_set_text(&w, S_STEP, step);
		rows_set_text(&w, S_STATUS, step_names[status]);
		if (args != NULL)
			rows_set(&w, S_ARGS, JsonbPGetDatum(args));
		if (result != NULL)
			rows_set(&w, S_RESULT, JsonbPGetDatum(result));
		set_loop_counters(&w, ls);
		rows_set(&w, S_STARTED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
		if (status != STEP_DISPATCHED)
			rows_set(&w, S_ENDED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
		rows_insert(&w);
		rows_close(&w);
		rows_done();
	}
	step_close(&sr);
	return !exists;
}

/*
 * state_get_loop reads a loop step's status, args and counters; false if
 * the step is not recorded, or is not a loop.
 */
bool
state_get_loop(Oid nsp, int64 execution_id, const char *step, StepStatus *status,
			   Jsonb **args, LoopState *ls)
{
	StepRel		sr;
	bool		found;

	step_open(nsp, &sr, AccessShareLock);
	found = find_step(sr.rel, sr.idx, execution_id, step, sr.slot);
	if (found)
	{
		const AttrNumber *sa = rows_columns(sr.rel, ROWS_STEP);
		bool		isnull;
		Datum		d;

		*status = STEP_STATUS_OF(rows_text(sr.slot, sa[S_STATUS]));
		d = slot_getattr(sr.slot, sa[S_ARGS], &isnull);
		*args = isnull ? NULL : DatumGetJsonbPCopy(d);
		(void) slot_getattr(sr.slot, sa[S_LOOP_TOTAL], &isnull);
		found = !isnull;
		ls->total = rows_int4(sr.slot, sa[S_LOOP_TOTAL]);
		ls->next = rows_int4(sr.slot, sa[S_LOOP_NEXT]);
		ls->done = rows_int4(sr.slot, sa[S_LOOP_DONE]);
		ls->failed = rows_int4(sr.slot, sa[S_LOOP_FAILED]);
		ls->window = rows_int4(sr.slot, sa[S_LOOP_WINDOW]);
	}
	step_close(&sr);
	return found;
}

/*
 * state_set_loop writes a loop step's counters and status; with end, also
 * its end and result (NULL: none).
 */
void
state_set_loop(Oid nsp, int64 execution_id, const char *step, const LoopState *ls,
			   StepStatus status, bool end, Jsonb *result)
{
	StepRel		sr;
	RowWriter	w;
	ScanKeyData keys[2];

	step_open(nsp, &sr, RowExclusiveLock);
	rows_key_int8(&keys[0], 1, execution_id);
	rows_key_text(&keys[1], 2, sr.idx, step);
	CommandCounterIncrement();
	if (!rows_find(sr.rel, sr.idx, keys, 2, sr.slot, LockWaitBlock))
		elog(ERROR, "loop step \"%s\" of execution %lld is gone", step, (long long) execution_id);
	rows_open(&w, sr.rel, ROWS_STEP, false);
	rows_fetch(&w, &sr.slot->tts_tid, S_EXECUTION_ID, execution_id);
	rows_set_text(&w, S_STATUS, step_names[status]);
	set_loop_counters(&w, ls);
	if (end)
	{
		if (result != NULL)
			rows_set(&w, S_RESULT, JsonbPGetDatum(result));
		rows_set(&w, S_ENDED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	}
	rows_update(&w);
	rows_close(&w);
	rows_done();
	step_close(&sr);
}

/*
 * state_admit_item locks a loop's iteration (node_id "step[i]") and reads
 * it; false if it is not waiting (the loop was cancelled, or it was
 * admitted already).  *action is its frame, as the loop's start wrote it.
 */
bool
state_admit_item(Oid nsp, int64 execution_id, const char *node_id, Jsonb **action, TaskState *q)
{
	Relation	qrel = table_open(rows_relid(nsp, "queue"), RowExclusiveLock);
	Relation	qidx = index_open(rows_relid(nsp, "queue_node_key"), AccessShareLock);
	const AttrNumber *qa = rows_columns(qrel, ROWS_QUEUE);
	TupleTableSlot *slot = table_slot_create(qrel, NULL);
	ScanKeyData keys[2];
	bool		found;

	CommandCounterIncrement();
	rows_key_int8(&keys[0], 1, execution_id);
	rows_key_text(&keys[1], 2, qidx, node_id);
	found = rows_find(qrel, qidx, keys, 2, slot, LockWaitBlock);
	if (found)
	{
		bool		isnull;

		read_task(slot, qa, q);
		found = q->status == TASK_WAITING;
		*action = DatumGetJsonbPCopy(slot_getattr(slot, qa[Q_ACTION], &isnull));
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(qidx, NoLock);
	table_close(qrel, NoLock);
	return found;
}

/*
 * state_queue_admitted makes an iteration state_admit_item locked ready
 * now, with its rendered action; or, for a sub-playbook's iteration, held
 * by its child execution (child_id) from now on.
 */
void
state_queue_admitted(Oid nsp, TaskState *q, Jsonb *action, int64 child_id)
{
	RowWriter	w;
	TimestampTz now = GetCurrentTimestamp();

	rows_open(&w, table_open(rows_relid(nsp, "queue"), RowExclusiveLock), ROWS_QUEUE, true);
	rows_fetch(&w, &q->tid, Q_QUEUE_ID, q->queue_id);
	rows_set(&w, Q_ACTION, JsonbPGetDatum(action));
	rows_set(&w, Q_AVAILABLE_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(now));
	if (child_id != 0)
	{
		rows_set_text(&w, Q_STATUS, task_names[TASK_LEASED]);
		rows_set_text(&w, Q_WORKER_ID, psprintf("child:%lld", (long long) child_id));
		rows_set(&w, Q_ATTEMPTS, Int32GetDatum(1));
	}
	else
		rows_set_text(&w, Q_STATUS, task_names[TASK_QUEUED]);
	rows_update(&w);
	if (child_id == 0)
		ready_mark_lower(w.rel, q->priority, q->queue_id);
	rows_close(&w);
	rows_done();
	q->status = child_id != 0 ? TASK_LEASED : TASK_QUEUED;
}

/*
 * item_index parses i out of node_id "step[i]" of the loop step; -1 if
 * node_id is not one of its iterations.
 */
static int32
item_index(const char *node_id, const char *step, size_t steplen)
{
	const char *p;
	int64		i = 0;

	if (strncmp(node_id, step, steplen) != 0 || node_id[steplen] != '[')
		return -1;
	p = node_id + steplen + 1;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
	{
		i = i * 10 + (*p - '0');
		if (i > PG_INT32_MAX)
			return -1;
	}
	return (p[0] == ']' && p[1] == '\0') ? (int32) i : -1;
}

/*
 * state_loop_results reads a loop's iterations into items[0 .. total-1]:
 * one index scan of the execution's queue rows (queue_node_key), in key
 * order, each iteration put in its slot, no sort: a done one with its
 * result, a dead one with its error, any other (not finished: the loop
 * failed part way) with neither.  The caller holds the execution's lock:
 * nothing else writes them meanwhile.
 */
void
state_loop_results(Oid nsp, int64 execution_id, const char *step, int32 total, LoopItem *items)
{
	Relation	qrel = table_open(rows_relid(nsp, "queue"), AccessShareLock);
	Relation	qidx = index_open(rows_relid(nsp, "queue_node_key"), AccessShareLock);
	const AttrNumber *qa = rows_columns(qrel, ROWS_QUEUE);
	TupleTableSlot *slot = table_slot_create(qrel, NULL);
	size_t		steplen = strlen(step);
	Snapshot	snap;
	IndexScanDesc scan;
	ScanKeyData key;

	memset(items, 0, sizeof(LoopItem) * total);
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	rows_key_int8(&key, 1, execution_id);
	scan = index_beginscan(qrel, qidx, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		char	   *node_id;
		int32		i;
		TaskStatus	status;
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		node_id = rows_text(slot, qa[Q_NODE_ID]);
		i = item_index(node_id, step, steplen);
		pfree(node_id);
		if (i < 0 || i >= total)
			continue;
		status = TASK_STATUS_OF(rows_text(slot, qa[Q_STATUS]));
		items[i].seen = true;
		/* a loop failed part way also has items not finished: neither */
		items[i].dead = status == TASK_DEAD;
		d = slot_getattr(slot, qa[Q_RESULT], &isnull);
		items[i].result = isnull || status != TASK_DONE ? NULL : DatumGetJsonbPCopy(d);
		if (items[i].dead)
			items[i].error = rows_text(slot, qa[Q_ERROR]);
	}
	index_endscan(scan);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(slot);
	index_close(qidx, NoLock);
	table_close(qrel, NoLock);
}

/*
 * state_cancel_tasks cancels an execution's unfinished tasks (a loop's
 * waiting iterations among them) and its running loops; returns how many
 * tasks it cancelled.
 */
int
state_cancel_tasks(int64 execution_id)
{
	Datum		v[1];

	volatile int n = 0;

	/* cancelling makes nothing ready: the queue's mark holds (ready_mark.c) */
	v[0] = Int64GetDatum(execution_id);
	ready_mark_trust_writes(true);
	PG_TRY();
	{
		n = (int) noetl_spi_exec(&s_cancel_tasks, v, NULL, SPI_OK_UPDATE);
		if (state_loop_schema(InvalidOid))
			(void) noetl_spi_exec(&s_cancel_loops, v, NULL, SPI_OK_UPDATE);
	}
	PG_FINALLY();
	{
		ready_mark_trust_writes(false);
	}
	PG_END_TRY();
	return n;
}

/* ---------------------------------------------------------------- sub-playbooks */

/*
 * A sub-playbook step's queue row is held "leased" by its child execution:
 * worker_id "child:<id>", no lease end (lease expiry never takes it), no
 * token (no worker's report matches it).  The child's row names the
 * parent's row (parent_step) and its depth.
 */

static NoetlStmt s_task_action = {
	"SELECT action FROM noetl.queue WHERE queue_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static NoetlStmt s_child_link = {
	"SELECT parent_step, depth FROM noetl.execution WHERE execution_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static NoetlStmt s_running_children = {
	"SELECT execution_id FROM noetl.execution"
	" WHERE parent_execution_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) 'running'"
	" ORDER BY execution_id FOR NO KEY UPDATE SKIP LOCKED",
	1, {INT8OID}
};

/*
 * state_child_retry gives a sub-playbook's row the caller has locked to a
 * new child execution: one attempt more.
 */
void
state_child_retry(Oid nsp, TaskState *q, int64 child_id)
{
	RowWriter	w;

	rows_open(&w, table_open(rows_relid(nsp, "queue"), RowExclusiveLock), ROWS_QUEUE, true);
	rows_fetch(&w, &q->tid, Q_QUEUE_ID, q->queue_id);
	rows_set_text(&w, Q_WORKER_ID, psprintf("child:%lld", (long long) child_id));
	rows_set(&w, Q_ATTEMPTS, Int32GetDatum(q->attempts + 1));
	rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	rows_update(&w);
	rows_close(&w);
	rows_done();
	q->attempts++;
	q->worker_id = psprintf("child:%lld", (long long) child_id);
}

/* state_task_action reads a task's action */
Jsonb *
state_task_action(Oid nsp, TaskState *q)
{
	Datum		v[1];

	v[0] = Int64GetDatum(q->queue_id);
	if (noetl_spi_exec(&s_task_action, v, NULL, SPI_OK_SELECT) == 0)
		elog(ERROR, "task %lld is gone", (long long) q->queue_id);
	return spi_jsonb(1);
}

/*
 * state_child_link reads the parent's row a child execution's row names
 * (NULL if none) and its depth.
 */
char *
state_child_link(Oid nsp, int64 execution_id, int32 *depth)
{
	Datum		v[1];
	bool		isnull;

	v[0] = Int64GetDatum(execution_id);
	*depth = 0;
	if (noetl_spi_exec(&s_child_link, v, NULL, SPI_OK_SELECT) == 0)
		return NULL;
	*depth = DatumGetInt32(spi_value(2, &isnull));
	return spi_text(1);
}

/*
 * state_running_children locks an execution's running children, skipping
 * those another transaction holds (it is evaluating them: their end finds
 * the parent not running, and noetl.cancel_orphans() cancels them if they
 * go on), and returns their ids.
 */
int64 *
state_running_children(Oid nsp, int64 execution_id, int *n)
{
	Datum		v[1];
	int64	   *ids;
	uint64		i;
	uint64		count;

	v[0] = Int64GetDatum(execution_id);
	count = noetl_spi_exec(&s_running_children, v, NULL, SPI_OK_SELECT);
	ids = palloc(sizeof(int64) * Max(count, 1));
	for (i = 0; i < count; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
											 &isnull));
	}
	*n = (int) count;
	return ids;
}

/* ---------------------------------------------------------------- leases */

/*
 * new_token draws a lease token, a random UUID (version 4) in its text
 * form, into buf (37 bytes), and its SHA-256 into hash.
 */
static void
new_token(char *buf, bytea **hash)
{
	uint8		b[16];
	static const char hex[] = "0123456789abcdef";
	int			i;
	int			k = 0;

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random lease token")));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[k++] = '-';
		buf[k++] = hex[b[i] >> 4];
		buf[k++] = hex[b[i] & 15];
	}
	buf[k] = '\0';
	*hash = lease_token_hash(buf, k);
}

/* check_seconds refuses a number of seconds outside 1 .. 86400 */
static void
check_seconds(const char *name, bool isnull, int32 v)
{
	if (isnull || v < 1 || v > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 isnull ? errmsg("%s must be between 1 and 86400, not NULL", name) :
				 errmsg("%s must be between 1 and 86400, not %d", name, v),
				 errhint("A worker running longer tasks extends its lease with noetl.heartbeat.")));
}

/*
 * A lease that read this many index entries more than it took asks for the
 * queue's mark to be raised (ready_mark.c).  Each entry stepped over is a
 * heap fetch, a raise one short scan by one backend: with 4 the mark
 * follows the leases closely, and a drain by 4 workers ran about 9% faster
 * than with 32 (pgbench, six rounds alternated).
 */
#define LEASE_STEP_OVER 4

/* tool_wanted says whether tool is one of the worker's tools (any if none) */
static bool
tool_wanted(const char *tool, Datum *tools, bool *tnulls, int ntools, bool all)
{
	int			i;

	if (all)
		return true;
	for (i = 0; i < ntools; i++)
		if (!tnulls[i] && strcmp(TextDatumGetCString(tools[i]), tool) == 0)
			return true;
	return false;
}

/* lease_ready says whether a queue row can be leased now by this worker */
static bool
lease_ready(TupleTableSlot *slot, const AttrNumber *qa, TimestampTz now,
			Datum *tools, bool *tnulls, int ntools, bool all)
{
	bool		isnull;
	TaskStatus	s = TASK_STATUS_OF(rows_text(slot, qa[Q_STATUS]));
	Datum		at = slot_getattr(slot, qa[Q_AVAILABLE_AT], &isnull);

	return (s == TASK_QUEUED || s == TASK_RETRY) &&
		!isnull && DatumGetTimestampTz(at) <= now &&
		tool_wanted(rows_text(slot, qa[Q_TOOL]), tools, tnulls, ntools, all);
}

/*
 * noetl.lease(worker_id text, max_tasks int, lease_seconds int,
 *			   tools text[]) returns setof noetl.task
 *
 * Leases up to max_tasks ready tasks to a worker: it reads queue_ready_idx
 * in its order (highest priority first, then oldest), from the queue's
 * mark (ready_mark.c) on, so its cost depends on the tasks it takes and not
 * on the backlog, the statistics or the entries vacuum could not yet
 * remove; skips a row another transaction has locked (SKIP LOCKED);
 * checks the row's latest version, then marks it leased to the worker
 * until now + lease_seconds, one attempt more, with a new token, whose
 * SHA-256 it keeps and which it returns with the task.
 */
Datum
noetl_lease(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *worker;
	int32		max_tasks = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	int32		lease_seconds = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		all_tools = PG_ARGISNULL(3);
	Datum	   *tools = NULL;
	bool	   *tnulls = NULL;
	int			ntools = 0;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Relation	qrel;
	Relation	idx;
	const AttrNumber *qa;
	Snapshot	snap;
	ReadyScan	rs;
	ReadyKey	mark;
	bool		has_mark;
	TupleTableSlot *found;
	TupleTableSlot *locked;
	RowWriter	w;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			count = 0;
	OwnerSave	save;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a worker_id is required to lease tasks"),
				 errhint("Give each worker a name of its own: it is recorded with its leases and reports.")));
	worker = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1) || max_tasks < 1 || max_tasks > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 PG_ARGISNULL(1) ? errmsg("max_tasks must be between 1 and 1000, not NULL") :
				 errmsg("max_tasks must be between 1 and 1000, not %d", max_tasks)));
	check_seconds("lease_seconds", PG_ARGISNULL(2), lease_seconds);
	if (!all_tools)
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
						  &tools, &tnulls, &ntools);

	InitMaterializedSRF(fcinfo, 0);
	qrel = table_open(rows_relid(nsp, "queue"), RowExclusiveLock);
	owner_enter(qrel->rd_rel->relowner, &save);
	qa = rows_columns(qrel, ROWS_QUEUE);
	if (qa[Q_LEASE_TOKEN] == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the noetl schema of this database predates lease tokens"),
				 errhint("Run ALTER EXTENSION noetl UPDATE.")));
	idx = index_open(rows_relid(nsp, "queue_ready_idx"), AccessShareLock);
	rows_open(&w, qrel, ROWS_QUEUE, false);
	found = table_slot_create(qrel, NULL);
	locked = table_slot_create(qrel, NULL);
	has_mark = ready_mark_get(qrel, idx, qa, &mark);
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	ready_scan_begin(&rs, qrel, idx, snap, has_mark, &mark);
	while (count < max_tasks && ready_scan_next(&rs, found))
	{
		TM_FailureData tmfd;
		TM_Result	res;
		char		token[37];
		bytea	   *hash;
		TimestampTz until;
		TaskState	q;
		Datum		values[12];
		bool		nulls[12];
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (!lease_ready(found, qa, now, tools, tnulls, ntools, all_tools))
			continue;
		res = table_tuple_lock(qrel, &found->tts_tid, snap, locked,
							   GetCurrentCommandId(false), LockTupleNoKeyExclusive,
							   LockWaitSkip, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
		if (res != TM_Ok)
			continue;			/* another worker has it, or it is gone */
		if (!lease_ready(locked, qa, now, tools, tnulls, ntools, all_tools))
			continue;			/* taken, finished or delayed meanwhile */
		read_task(locked, qa, &q);
		new_token(token, &hash);
		until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) lease_seconds * 1000);
		rows_fetch(&w, &locked->tts_tid, Q_QUEUE_ID, q.queue_id);
		rows_set_text(&w, Q_STATUS, task_names[TASK_LEASED]);
		rows_set_text(&w, Q_WORKER_ID, worker);
		rows_set(&w, Q_ATTEMPTS, Int32GetDatum(q.attempts + 1));
		rows_set(&w, Q_LEASE_UNTIL, TimestampTzGetDatum(until));
		rows_set(&w, Q_LEASE_TOKEN, PointerGetDatum(hash));
		rows_set(&w, Q_LAST_HEARTBEAT, TimestampTzGetDatum(GetCurrentTimestamp()));
		rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
		rows_update(&w);

		memset(nulls, false, sizeof(nulls));
		values[0] = Int64GetDatum(q.queue_id);
		values[1] = Int64GetDatum(q.execution_id);
		values[2] = slot_getattr(locked, qa[Q_CATALOG_ID], &isnull);
		values[3] = CStringGetTextDatum(q.node_id);
		values[4] = CStringGetTextDatum(q.node_name);
		values[5] = CStringGetTextDatum(q.tool);
		values[6] = slot_getattr(locked, qa[Q_ACTION], &isnull);
		values[7] = slot_getattr(locked, qa[Q_PRIORITY], &isnull);
		values[8] = Int32GetDatum(q.attempts + 1);
		values[9] = Int32GetDatum(q.max_attempts);
		values[10] = TimestampTzGetDatum(until);
		values[11] = CStringGetTextDatum(token);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		count++;
	}
	ready_scan_end(&rs);
	if (rs.visited > count + LEASE_STEP_OVER)
		ready_mark_want_raise(qrel);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(found);
	ExecDropSingleTupleTableSlot(locked);
	rows_close(&w);
	index_close(idx, NoLock);
	table_close(qrel, NoLock);
	rows_done();
	owner_leave(&save);
	return (Datum) 0;
}

/*
 * noetl.heartbeat(queue_id bigint, lease_token text, extend_seconds int)
 * returns timestamptz
 *
 * Extends the lease the token belongs to, to now + extend_seconds, and
 * returns its new end; the task must be leased with that token (55000,
 * naming nobody, otherwise).
 */
Datum
noetl_heartbeat(PG_FUNCTION_ARGS)
{
	int64		queue_id = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	int32		extend = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Relation	qrel;
	Relation	idx;
	const AttrNumber *qa;
	TupleTableSlot *slot;
	ScanKeyData key;
	RowWriter	w;
	TaskState	q;
	bool		held = false;
	TimestampTz until = 0;
	OwnerSave	save;

	check_seconds("extend_seconds", PG_ARGISNULL(2), extend);
	qrel = table_open(rows_relid(nsp, "queue"), RowExclusiveLock);
	owner_enter(qrel->rd_rel->relowner, &save);
	qa = rows_columns(qrel, ROWS_QUEUE);
	idx = index_open(RelationGetPrimaryKeyIndex(qrel), AccessShareLock);
	rows_open(&w, qrel, ROWS_QUEUE, false);
	slot = table_slot_create(qrel, NULL);
	CommandCounterIncrement();
	rows_key_int8(&key, 1, queue_id);
	if (!PG_ARGISNULL(0) && rows_find(qrel, idx, &key, 1, slot, LockWaitBlock))
	{
		read_task(slot, qa, &q);
		held = q.status == TASK_LEASED && !PG_ARGISNULL(1) &&
			lease_token_matches(VARDATA_ANY(PG_GETARG_TEXT_PP(1)),
								VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)), q.lease_token);
	}
	if (held)
	{
		TimestampTz now = GetCurrentTimestamp();

		until = TimestampTzPlusMilliseconds(now, (int64) extend * 1000);
		rows_fetch(&w, &q.tid, Q_QUEUE_ID, q.queue_id);
		rows_set(&w, Q_LEASE_UNTIL, TimestampTzGetDatum(until));
		rows_set(&w, Q_LAST_HEARTBEAT, TimestampTzGetDatum(now));
		rows_set(&w, Q_UPDATED_AT, TimestampTzGetDatum(now));
		rows_update(&w);
	}
	ExecDropSingleTupleTableSlot(slot);
	rows_close(&w);
	index_close(idx, NoLock);
	table_close(qrel, NoLock);
	rows_done();
	owner_leave(&save);
	if (!held)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task %lld is not leased with this token", (long long) queue_id),
				 errhint("The lease expired, was taken over or ended; stop working on the task.")));
	PG_RETURN_TIMESTAMPTZ(until);
}
