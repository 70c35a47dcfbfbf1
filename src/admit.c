/*-------------------------------------------------------------------------
 *
 * admit.c
 *	  Admitting an event: the BEFORE INSERT trigger on noetl.event.
 *
 * Inserting an event is the API, and every event is hostile until checked.
 * Before a row reaches the table this trigger validates it, locks its
 * execution's row (FOR NO KEY UPDATE, held to the end of the transaction:
 * events of one execution are evaluated one at a time, events of
 * different executions never wait for each other), and sets what the
 * broker decides rather than the client:
 *
 *	event_id, created_at	always new
 *	status					NULL, or "ignored" for an event that changes
 *							nothing (a late or repeated report, a cancel
 *							of an execution that ended)
 *	catalog_id, parent_execution_id, and for a report of a task its
 *	execution_id, queue_id, node_id, node_name, node_type and worker_id
 *	(the lease holder's)
 *	lease_token				checked, and never stored
 *
 * A report of a task (action_completed, action_error, action_released,
 * action_started, step_result) must carry the token of the task's latest
 * lease: with it, the report is evaluated, or stored as ignored when that
 * lease is over; with any other token, or none, it is refused (55000)
 * without naming anyone.  The broker worker's reports of expired leases
 * are the only ones taken without a token.  A client writing one of the
 * broker's own event types is refused (42501); a workload, result or meta
 * beyond its setting is refused (54000, event_limits.c).
 *
 * Rows that the owner of noetl.event restores with COPY (pg_dump's output,
 * pg_restore) are stored as they are: they are the log of evaluations
 * already done, restored with the state tables those evaluations wrote.
 *
 * What the trigger read under the execution's lock is kept for the AFTER
 * trigger of the same event (evaluate.c), which in the usual one-row
 * INSERT need not read it again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "admit.h"
#include "bgworker.h"
#include "event.h"
#include "event_limits.h"
#include "guc.h"
#include "jtree.h"
#include "owner.h"
#include "playbook_cache.h"
#include "snowflake.h"
#include "state.h"
#include "token.h"

PG_FUNCTION_INFO_V1(noetl_event_before);
PG_FUNCTION_INFO_V1(noetl_event_is_verbatim);
PG_FUNCTION_INFO_V1(noetl_broker_is_writing);

/* ---------------------------------------------------------------- handing over */

/*
 * What the BEFORE trigger read under the execution's lock, kept for the
 * AFTER trigger of the same event.  Any evaluation in between (several
 * events in one INSERT) bumps the generation, and the AFTER trigger then
 * reads afresh.
 */
typedef struct Remembered
{
	LocalTransactionId lxid;
	uint64		generation;
	int64		event_id;		/* set when the event_id is known */
	ExecState	ex;
	TaskState	q;
	bool		valid;
} Remembered;

static Remembered remembered;
static uint64 generation = 0;

static char *
keep_str(const char *s)
{
	return s ? MemoryContextStrdup(TopTransactionContext, s) : NULL;
}

static void *
keep_varlena(void *v)
{
	void	   *copy;

	if (v == NULL)
		return NULL;
	copy = MemoryContextAlloc(TopTransactionContext, VARSIZE(v));
	memcpy(copy, v, VARSIZE(v));
	return copy;
}

/* remember keeps a copy of what was read, for the AFTER trigger */
static void
remember(ExecState *ex, TaskState *q)
{
	remembered.valid = true;
	remembered.lxid = MyProc->lxid;
	remembered.generation = generation;
	remembered.event_id = 0;
	remembered.ex = *ex;
	remembered.ex.workload = keep_varlena(ex->workload);
	remembered.ex.parent_step = keep_str(ex->parent_step);
	remembered.q = *q;
	remembered.q.node_id = keep_str(q->node_id);
	remembered.q.node_name = keep_str(q->node_name);
	remembered.q.worker_id = keep_str(q->worker_id);
	remembered.q.tool = keep_str(q->tool);
	remembered.q.lease_token = keep_varlena(q->lease_token);
}

/*
 * admit_recall returns what the BEFORE trigger read for event_id, if
 * nothing was evaluated since.
 */
bool
admit_recall(int64 event_id, ExecState *ex, TaskState *q)
{
	if (!remembered.valid || remembered.lxid != MyProc->lxid ||
		remembered.generation != generation || remembered.event_id != event_id)
		return false;
	*ex = remembered.ex;
	*q = remembered.q;
	return true;
}

/* admit_forget says that an evaluation ran: what was remembered is stale */
void
admit_forget(void)
{
	generation++;
}

/* ---------------------------------------------------------------- checks */

static void
reject(int code, const char *msg) pg_attribute_noreturn();

static void
reject(int code, const char *msg)
{
	ereport(ERROR, (errcode(code), errmsg("%s", msg)));
}

/*
 * admit_restoring says whether rows are being restored into noetl.event
 * (owned by relowner) rather than inserted as events: a COPY by a role
 * with the privileges of the table's owner, the path pg_dump's output
 * (psql -f) and pg_restore take.  Anyone else's rows, by INSERT or by
 * COPY, are events.
 */
bool
admit_restoring(Oid relowner)
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
check_payload(EventRow *row)
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

/* set_parent records the execution's parent, if it has one */
static void
set_parent(EventRow *row, ExecState *ex)
{
	if (ex->has_parent)
		event_set_value(row, C_PARENT_EXECUTION_ID, Int64GetDatum(ex->parent_execution_id));
	else
		event_set_null(row, C_PARENT_EXECUTION_ID);
}

/*
 * admit_start validates an execution_start: its context names a
 * registered playbook, its workload is a mapping, its execution is new.
 * An execution_id given by the client must not lie in the future of the
 * ids noetl draws, so that it cannot take the id of an execution that
 * noetl.execute() will start later.
 */
static void
admit_start(Oid nsp, EventRow *row)
{
	Jsonb	   *ctx;
	JsonbValue *path;
	JsonbValue *version;
	JsonbValue *workload;
	int64		catalog_id;
	int64		execution_id;
	char	   *p;
	int32		v = 0;
	bool		has_version;

	if (row->nulls[C_CONTEXT])
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "an execution_start event needs a context with \"path\"");
	ctx = event_jsonb(row, C_CONTEXT);
	if (!JB_ROOT_IS_OBJECT(ctx))
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "the context of an execution_start event must be a JSON object");
	path = jb_get(ctx, "path");
	version = jb_get(ctx, "version");
	workload = jb_get(ctx, "workload");
	has_version = version != NULL && version->type != jbvNull;
	if (path == NULL || path->type != jbvString)
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "the context of an execution_start event needs \"path\", a string");
	if (has_version)
	{
		if (version->type != jbvNumeric)
			reject(ERRCODE_INVALID_PARAMETER_VALUE,
				   "\"version\" in the context of an execution_start event must be an integer");
		v = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(version->val.numeric)));
	}
	if (workload != NULL && workload->type != jbvNull &&
		!(workload->type == jbvBinary && JsonContainerIsObject(workload->val.binary.data)))
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   "\"workload\" in the context of an execution_start event must be a JSON object");
	p = pnstrdup(path->val.string.val, path->val.string.len);

	/*
	 * The lock the execution's row will be written under, taken before the
	 * catalog is read: a transaction deleting the playbook's version holds
	 * SHARE on noetl.execution (noetl.catalog_kept), so this waits for it to
	 * end and then finds the version gone, or it finds this execution.
	 */
	LockRelationOid(rows_relid(nsp, "execution"), RowExclusiveLock);
	catalog_id = pb_resolve(nsp, p, v, has_version);
	if (catalog_id == 0)
	{
		if (has_version)
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
		event_set_value(row, C_EXECUTION_ID, Int64GetDatum(execution_id));
	}
	else
	{
		execution_id = event_int8(row, C_EXECUTION_ID);
		if (execution_id >= noetl_next_id())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("execution id %lld lies in the future of noetl's ids",
							(long long) execution_id),
					 errhint("Leave execution_id empty: the broker assigns one.")));
		if (state_execution_exists(nsp, execution_id))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("execution %lld already exists", (long long) execution_id)));
	}
	event_set_value(row, C_CATALOG_ID, Int64GetDatum(catalog_id));
	event_set_null(row, C_PARENT_EXECUTION_ID);
}

/*
 * expiry_attempt returns the attempt an action_error reports the lease of
 * as expired (meta {"lease_expired": true, "attempt": N}), or 0 when the
 * event is no such report.  Only the broker worker's reports count: in any
 * other backend the meta is plain data.
 */
static int32
expiry_attempt(EventRow *row)
{
	Jsonb	   *meta;
	bool		expired;
	int32		attempt;

	if (!noetl_in_broker_worker || row->nulls[C_META])
		return 0;
	meta = event_jsonb(row, C_META);
	if (jb_get_bool(meta, "lease_expired", &expired) && expired &&
		jb_get_int32(meta, "attempt", &attempt))
		return attempt;
	return 0;
}

/*
 * admit_report validates an event about a task: the task exists, belongs
 * to the event's execution, and the event carries the token of the task's
 * latest lease.  A report of the current lease is evaluated; a late or
 * repeated one (the lease ended: the task finished, was released, expired,
 * or its execution ended) is stored as "ignored"; a report with any other
 * token, or none, is refused and names nobody.  The broker worker's
 * reports of expired leases need no token: they apply if the same lease
 * is still held and still expired when they are evaluated.
 */
static void
admit_report(Relation rel, EventRow *row, EvKind kind)
{
	TaskState	q;
	ExecState	ex;
	bool		have_exec = !row->nulls[C_EXECUTION_ID];
	int64		execution_id = have_exec ? event_int8(row, C_EXECUTION_ID) : 0;
	char	   *node = row->nulls[C_NODE_ID] ? event_text(row, C_NODE_NAME) : event_text(row, C_NODE_ID);
	int32		expired = kind == EV_ERROR ? expiry_attempt(row) : 0;
	Oid			nsp = RelationGetNamespace(rel);

	/*
	 * Lock the task and its execution (serialising with every other event
	 * of the execution); on a miss, say which of the two is missing.
	 */
	if (!row->nulls[C_QUEUE_ID])
	{
		int64		queue_id = event_int8(row, C_QUEUE_ID);

		if (!state_lock_task(nsp, true, queue_id, 0, NULL, &ex, &q))
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
		if (!state_lock_task(nsp, false, 0, execution_id, node, &ex, &q))
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

	event_set_value(row, C_EXECUTION_ID, Int64GetDatum(q.execution_id));
	event_set_value(row, C_QUEUE_ID, Int64GetDatum(q.queue_id));
	event_set_value(row, C_CATALOG_ID, Int64GetDatum(ex.catalog_id));
	event_set_text(row, C_NODE_ID, q.node_id);
	event_set_text(row, C_NODE_NAME, q.node_name);
	if (row->nulls[C_NODE_TYPE])
		event_set_text(row, C_NODE_TYPE, q.tool);
	if (q.worker_id != NULL)
		event_set_text(row, C_WORKER_ID, q.worker_id);
	else
		event_set_null(row, C_WORKER_ID);
	set_parent(row, &ex);

	if (expired > 0)
	{
		/* the lease was extended, ended or taken over meanwhile */
		if (ex.status != EXEC_RUNNING || q.status != TASK_LEASED ||
			q.attempts != expired || q.lease_until >= GetCurrentTimestamp())
			event_set_text(row, C_STATUS, "ignored");
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
	if (ex.status != EXEC_RUNNING || q.status != TASK_LEASED)
	{
		/* a late or repeated report of this lease: kept, changes nothing */
		event_set_text(row, C_STATUS, "ignored");
	}
}

/*
 * admit_execution_event validates an event about an execution as a whole
 * (a cancellation, or an event only logged): the execution exists.  A
 * cancellation of an execution that already ended is stored as ignored.
 */
static void
admit_execution_event(EventRow *row, const EvType *et)
{
	ExecState	ex;
	int64		execution_id;

	if (row->nulls[C_EXECUTION_ID])
		reject(ERRCODE_NOT_NULL_VIOLATION, "an event needs an execution_id");
	execution_id = event_int8(row, C_EXECUTION_ID);
	if (!state_lock_execution(execution_id, &ex))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("execution %lld does not exist", (long long) execution_id)));
	event_set_value(row, C_CATALOG_ID, Int64GetDatum(ex.catalog_id));
	set_parent(row, &ex);
	if (et != NULL && et->kind == EV_CANCEL && ex.status != EXEC_RUNNING)
		event_set_text(row, C_STATUS, "ignored");
}

/* ---------------------------------------------------------------- the trigger */

/*
 * Datum noetl_event_before() returns trigger
 */
Datum
noetl_event_before(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	EventRow	row;
	char	   *type;
	const EvType *et;
	OwnerSave	save;

	event_check_trigger(fcinfo, true);
	rel = td->tg_relation;
	if (noetl_broker_inserting || admit_restoring(rel->rd_rel->relowner))
		return PointerGetDatum(td->tg_trigtuple);
	event_read(&row, rel, td->tg_trigtuple);

	type = event_text(&row, C_EVENT_TYPE);
	if (type == NULL)
		reject(ERRCODE_NOT_NULL_VIOLATION, "an event needs an event_type");
	et = event_type_of(type);
	if (et != NULL && et->kind == EV_BROKER)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("events of type \"%s\" are written by the broker", type),
				 errhint("Report tasks with action_completed or action_error events.")));
	if (et != NULL && strcmp(et->canonical, type) != 0)
		event_set_text(&row, C_EVENT_TYPE, et->canonical);
	check_payload(&row);
	event_set_null(&row, C_STATUS);

	remembered.valid = false;
	owner_enter(rel->rd_rel->relowner, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (et != NULL && et->kind == EV_START)
		admit_start(RelationGetNamespace(rel), &row);
	else if (et != NULL && event_reports_task(et->kind))
		admit_report(rel, &row, et->kind);
	else
		admit_execution_event(&row, et);
	SPI_finish();
	owner_leave(&save);

	event_set_value(&row, C_EVENT_ID, Int64GetDatum(noetl_next_id()));
	if (remembered.valid && remembered.event_id == 0 && remembered.lxid == MyProc->lxid)
		remembered.event_id = event_int8(&row, C_EVENT_ID);
	event_set_value(&row, C_CREATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	event_set_null(&row, C_LEASE_TOKEN);
	return PointerGetDatum(event_form(&row));
}

/*
 * noetl.event_is_verbatim() returns boolean
 *
 * True while noetl.event's rows are written as they are, not as events to
 * evaluate: the broker's own events, and rows restored by the table's
 * owner (admit_restoring).  The triggers' WHEN clause uses it to let them
 * by without a call.  Clients cannot make it true.  The extension's
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
		restoring = admit_restoring(((Form_pg_class) GETSTRUCT(tup))->relowner);
		ReleaseSysCache(tup);
	}
	PG_RETURN_BOOL(restoring);
}

/* noetl.broker_is_writing(), version 1.0's name for noetl.event_is_verbatim() */
Datum
noetl_broker_is_writing(PG_FUNCTION_ARGS)
{
	return noetl_event_is_verbatim(fcinfo);
}
