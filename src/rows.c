/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  The broker's hot path, on rows directly: locking a task and its
 *	  execution, finishing a task, queueing tasks, appending events.
 *
 * Every action_completed locks two rows, updates one, inserts one task
 * and two or three events.  Through SPI each of those is a plan to
 * revalidate and an executor to start, with a projection built for every
 * column of a wide row, and that start-up cost more than the writes
 * themselves (bench/broker.sh).  Here they use the executor routines that
 * logical replication applies rows with (ExecSimpleRelationInsert and
 * ExecSimpleRelationUpdate): constraints, indexes and row triggers are
 * handled as for an INSERT or UPDATE, but the tuple is formed here.
 * Everything off the hot path stays in SQL (state.c).
 *
 * The consequences of working below SQL, accepted deliberately:
 *	- rows are formed here, so the code knows every column of noetl.queue
 *	  and noetl.event and refuses to run against a table that has others
 *	  (an upgrade that adds a column must teach this file); columns added
 *	  by a later version of the schema are optional, so that this library
 *	  also runs a database whose extension is not yet updated;
 *	- the domain checks on status columns are not applied (the values are
 *	  the broker's own constants); CHECK constraints and NOT NULL are;
 *	- no permission checks: the triggers already run as the table owner.
 *
 * Locking follows RelationFindReplTupleByIndex: find the row through an
 * index with a dirty snapshot, wait for a transaction that is changing it,
 * then lock its latest version, retrying if it changed meanwhile.  The
 * execution's row is always locked before its task's, as in SQL.
 *
 * Direct writes are made visible to what the transaction does next with
 * CommandCounterIncrement: rows_done after writing, and before locking
 * (rows written earlier in the same command could not be locked).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "broker.h"

/* ---------------------------------------------------------------- columns */

/*
 * The columns of the tables written here.  A table is checked once per
 * backend (and again if its OID changes): it must have exactly these.
 */
enum
{
	Q_QUEUE_ID, Q_EXECUTION_ID, Q_CATALOG_ID, Q_NODE_ID, Q_NODE_NAME, Q_TOOL, Q_ACTION,
	Q_RESULT, Q_STATUS, Q_PRIORITY, Q_ATTEMPTS, Q_MAX_ATTEMPTS, Q_AVAILABLE_AT,
	Q_LEASE_UNTIL, Q_WORKER_ID, Q_LAST_HEARTBEAT, Q_CREATED_AT, Q_UPDATED_AT,
	/* since 1.1 */
	Q_LEASE_TOKEN,
	NQCOLS
};
#define Q_FIRST_OPTIONAL Q_LEASE_TOKEN
static const char *const qcol_names[NQCOLS] = {
	"queue_id", "execution_id", "catalog_id", "node_id", "node_name", "tool", "action",
	"result", "status", "priority", "attempts", "max_attempts", "available_at",
	"lease_until", "worker_id", "last_heartbeat", "created_at", "updated_at", "lease_token"
};

static const char *const ecol_names[NCOLS] = {
	"execution_id", "event_id", "parent_event_id", "parent_execution_id", "catalog_id",
	"event_type", "node_id", "node_name", "node_type", "status", "context", "result",
	"meta", "error", "stack_trace", "worker_id", "queue_id", "duration", "created_at",
	"lease_token"
};

/* the execution columns the broker reads */
enum
{
	X_CATALOG_ID, X_STATUS, X_PENDING, X_WORKLOAD, X_PARENT_EXECUTION_ID, NXCOLS
};
static const char *const xcol_names[NXCOLS] = {
	"catalog_id", "status", "pending", "workload", "parent_execution_id"
};

#define MAXCOLS 20

typedef struct ColMap
{
	Oid			relid;
	AttrNumber	att[MAXCOLS];	/* 1-based */
} ColMap;

static ColMap qmap;
static ColMap emap;
static ColMap xmap;
static bool callback_registered = false;

/* forgets the maps of a table whose definition may have changed */
static void
forget_columns(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == qmap.relid)
		qmap.relid = InvalidOid;
	if (relid == InvalidOid || relid == emap.relid)
		emap.relid = InvalidOid;
	if (relid == InvalidOid || relid == xmap.relid)
		xmap.relid = InvalidOid;
}

/*
 * map_columns finds the named columns of rel; with exact, the table must
 * have no other column.  Columns from first_optional on may be missing
 * (their attribute number is then InvalidAttrNumber).
 */
static ColMap *
map_columns(ColMap *m, Relation rel, const char *const *names, int n, bool exact,
			int first_optional)
{
	TupleDesc	td = RelationGetDescr(rel);
	int			i;
	int			k;

	Assert(n <= MAXCOLS);
	if (m->relid == RelationGetRelid(rel))
		return m;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_columns, (Datum) 0);
		callback_registered = true;
	}
	for (i = 0; i < n; i++)
	{
		m->att[i] = InvalidAttrNumber;
		for (k = 0; k < td->natts; k++)
		{
			Form_pg_attribute att = TupleDescAttr(td, k);

			if (!att->attisdropped && strcmp(NameStr(att->attname), names[i]) == 0)
				m->att[i] = att->attnum;
		}
		if (m->att[i] == InvalidAttrNumber && i < first_optional)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" has no column \"%s\"",
							RelationGetRelationName(rel), names[i]),
					 errhint("Install the noetl library that matches the extension's version.")));
	}
	for (k = 0; exact && k < td->natts; k++)
	{
		Form_pg_attribute att = TupleDescAttr(td, k);

		for (i = 0; i < n; i++)
			if (m->att[i] != InvalidAttrNumber && att->attnum == m->att[i])
				break;
		if (!att->attisdropped && i == n)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" is unknown to the noetl library",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errhint("Install the noetl library that matches the extension's version.")));
	}
	m->relid = RelationGetRelid(rel);
	return m;
}

/* ---------------------------------------------------------------- relations */

static Oid
relid_of(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation \"noetl.%s\" does not exist", name);
	return relid;
}

/* ---------------------------------------------------------------- locking */

static void
key_int8(ScanKey key, AttrNumber att, int64 value)
{
	ScanKeyInit(key, att, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(value));
}

static void
key_text(ScanKey key, AttrNumber att, Relation idx, const char *value)
{
	ScanKeyInit(key, att, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(value));
	key->sk_collation = idx->rd_indcollation[att - 1];
}

/*
 * find_row finds the row of rel matching keys on index idx and locks it
 * (FOR NO KEY UPDATE) at its latest version, after waiting for any
 * transaction that is changing it; the row is returned in slot.  False if
 * there is no such row.
 */
static bool
find_row(Relation rel, Relation idx, ScanKey keys, int nkeys, TupleTableSlot *slot)
{
	SnapshotData dirty;
	IndexScanDesc scan;
	bool		found;

	InitDirtySnapshot(dirty);
	scan = index_beginscan(rel, idx, &dirty, nkeys, 0);
retry:
	found = false;
	index_rescan(scan, keys, nkeys, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TransactionId xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;

		found = true;
		if (TransactionIdIsValid(xwait))
		{
			XactLockTableWait(xwait, rel, &slot->tts_tid, XLTW_Lock);
			goto retry;
		}
	}
	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(rel, &slot->tts_tid, GetActiveSnapshot(), slot,
							   GetCurrentCommandId(false), LockTupleNoKeyExclusive,
							   LockWaitBlock, 0, &tmfd);
		PopActiveSnapshot();
		switch (res)
		{
			case TM_Ok:
				break;
			case TM_Updated:
			case TM_Deleted:
				/* changed after it was found: find it again */
				goto retry;
			default:
				elog(ERROR, "unexpected result %d locking a row of \"%s\"",
					 (int) res, RelationGetRelationName(rel));
		}
	}
	index_endscan(scan);
	return found;
}

static char *
slot_text(TupleTableSlot *slot, AttrNumber att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
slot_int8(TupleTableSlot *slot, AttrNumber att, bool *isnull)
{
	Datum		d = slot_getattr(slot, att, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static int32
slot_int4(TupleTableSlot *slot, AttrNumber att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * rows_lock_task locks a task, named by its queue_id (by_id) or else by
 * execution and node, and its execution (the execution first), and reads
 * both; false if there is no such task.  nsp is the noetl schema.  Every
 * int64 is a possible queue_id: none stands for "no task".
 */
bool
rows_lock_task(Oid nsp, bool by_id, int64 queue_id, int64 execution_id, const char *node_id,
			   ExecState *ex, QueueState *q)
{
	Relation	qrel = table_open(relid_of(nsp, "queue"), RowExclusiveLock);
	Relation	xrel = table_open(relid_of(nsp, "execution"), RowExclusiveLock);
	Relation	qidx;
	Relation	xidx;
	ScanKeyData keys[2];
	int			nkeys;
	TupleTableSlot *qslot = table_slot_create(qrel, NULL);
	TupleTableSlot *xslot = table_slot_create(xrel, NULL);
	ColMap	   *qm = map_columns(&qmap, qrel, qcol_names, NQCOLS, true, Q_FIRST_OPTIONAL);
	ColMap	   *xm = map_columns(&xmap, xrel, xcol_names, NXCOLS, false, NXCOLS);
	bool		isnull;
	bool		found = true;
	char	   *status;

	/* what this transaction wrote so far must be visible, and lockable */
	CommandCounterIncrement();
	if (by_id)
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
		IndexScanDesc scan;

		/* the task's execution (an immutable column), unlocked */
		qidx = index_open(RelationGetPrimaryKeyIndex(qrel), AccessShareLock);
		nkeys = 1;
		key_int8(&keys[0], 1, queue_id);
		scan = index_beginscan(qrel, qidx, snap, nkeys, 0);
		index_rescan(scan, keys, nkeys, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, qslot);
		if (found)
			execution_id = slot_int8(qslot, qm->att[Q_EXECUTION_ID], &isnull);
		index_endscan(scan);
		UnregisterSnapshot(snap);
	}
	else
	{
		Assert(node_id != NULL);
		qidx = index_open(relid_of(nsp, "queue_node_key"), AccessShareLock);
		nkeys = 2;
		key_int8(&keys[0], 1, execution_id);
		key_text(&keys[1], 2, qidx, node_id);
	}
	if (found)
	{
		ScanKeyData xkey;

		xidx = index_open(RelationGetPrimaryKeyIndex(xrel), AccessShareLock);
		key_int8(&xkey, 1, execution_id);
		found = find_row(xrel, xidx, &xkey, 1, xslot);
		index_close(xidx, NoLock);
	}
	if (found)
		found = find_row(qrel, qidx, keys, nkeys, qslot);
	if (found)
	{
		ex->execution_id = execution_id;
		ex->catalog_id = slot_int8(xslot, xm->att[X_CATALOG_ID], &isnull);
		status = slot_text(xslot, xm->att[X_STATUS]);
		strlcpy(ex->status, status, sizeof(ex->status));
		ex->pending = slot_int4(xslot, xm->att[X_PENDING]);
		ex->workload = DatumGetJsonbPCopy(slot_getattr(xslot, xm->att[X_WORKLOAD], &isnull));
		ex->parent_execution_id = slot_int8(xslot, xm->att[X_PARENT_EXECUTION_ID],
											&isnull);
		ex->has_parent = !isnull;

		q->tid = qslot->tts_tid;
		q->queue_id = slot_int8(qslot, qm->att[Q_QUEUE_ID], &isnull);
		q->execution_id = slot_int8(qslot, qm->att[Q_EXECUTION_ID], &isnull);
		q->node_id = slot_text(qslot, qm->att[Q_NODE_ID]);
		q->node_name = slot_text(qslot, qm->att[Q_NODE_NAME]);
		status = slot_text(qslot, qm->att[Q_STATUS]);
		strlcpy(q->status, status, sizeof(q->status));
		q->worker_id = slot_text(qslot, qm->att[Q_WORKER_ID]);
		{
			Datum		d = slot_getattr(qslot, qm->att[Q_LEASE_UNTIL], &isnull);

			q->lease_until = isnull ? 0 : DatumGetTimestampTz(d);
		}
		q->attempts = slot_int4(qslot, qm->att[Q_ATTEMPTS]);
		q->max_attempts = slot_int4(qslot, qm->att[Q_MAX_ATTEMPTS]);
		q->tool = slot_text(qslot, qm->att[Q_TOOL]);
		q->has_token_column = qm->att[Q_LEASE_TOKEN] != InvalidAttrNumber;
		q->lease_token = NULL;
		if (q->has_token_column)
		{
			Datum		d = slot_getattr(qslot, qm->att[Q_LEASE_TOKEN], &isnull);

			if (!isnull)
				q->lease_token = DatumGetByteaPCopy(d);
		}
	}
	ExecDropSingleTupleTableSlot(qslot);
	ExecDropSingleTupleTableSlot(xslot);
	index_close(qidx, NoLock);
	table_close(xrel, NoLock);
	table_close(qrel, NoLock);
	return found;
}

/* ---------------------------------------------------------------- writing */

/* a table open for writing: what ExecSimpleRelation* need */
typedef struct Writer
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row to write */
	bool		own_rel;
} Writer;

static void
writer_open(Writer *w, Relation rel, bool own_rel)
{
	RangeTblEntry *rte;

	w->rel = rel;
	w->own_rel = own_rel;
	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, rel, 1, NULL, 0);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(w->rri, false);
	w->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(rel), &TTSOpsVirtual);
	AfterTriggerBeginQuery();
}

static void
writer_close(Writer *w)
{
	AfterTriggerEndQuery(w->estate);
	ExecCloseIndices(w->rri);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	if (w->own_rel)
		table_close(w->rel, NoLock);
}

/* starts a row in w->slot: every column NULL */
static void
row_begin(Writer *w)
{
	ExecClearTuple(w->slot);
	memset(w->slot->tts_isnull, true, sizeof(bool) * RelationGetDescr(w->rel)->natts);
}

static void
row_set(Writer *w, AttrNumber att, Datum value)
{
	w->slot->tts_values[att - 1] = value;
	w->slot->tts_isnull[att - 1] = false;
}

static void
row_set_null(Writer *w, AttrNumber att)
{
	w->slot->tts_values[att - 1] = (Datum) 0;
	w->slot->tts_isnull[att - 1] = true;
}

static void
row_text(Writer *w, AttrNumber att, const char *s)
{
	if (s != NULL)
		row_set(w, att, CStringGetTextDatum(s));
}

/*
 * rows_finish_task writes the end of a task the caller has locked (q, from
 * rows_lock_task in this transaction): done or dead with its result, or
 * back to retry at available_at with no worker.
 */
void
rows_finish_task(Oid nsp, QueueState *q, const char *status, Jsonb *result,
				 TimestampTz available_at)
{
	Writer		w;
	ColMap	   *m;
	TupleDesc	td;
	TupleTableSlot *old;
	EPQState	epq;
	bool		isnull;
	bool		retry = strcmp(status, "retry") == 0;

	writer_open(&w, table_open(relid_of(nsp, "queue"), RowExclusiveLock), true);
	m = map_columns(&qmap, w.rel, qcol_names, NQCOLS, true, Q_FIRST_OPTIONAL);
	td = RelationGetDescr(w.rel);
	old = table_slot_create(w.rel, &w.estate->es_tupleTable);
	if (!table_tuple_fetch_row_version(w.rel, &q->tid, SnapshotAny, old) ||
		slot_int8(old, m->att[Q_QUEUE_ID], &isnull) != q->queue_id)
		elog(ERROR, "task %lld moved while it was locked", (long long) q->queue_id);
	slot_getallattrs(old);
	ExecClearTuple(w.slot);
	memcpy(w.slot->tts_values, old->tts_values, sizeof(Datum) * td->natts);
	memcpy(w.slot->tts_isnull, old->tts_isnull, sizeof(bool) * td->natts);
	row_set(&w, m->att[Q_STATUS], CStringGetTextDatum(status));
	if (retry)
	{
		row_set(&w, m->att[Q_AVAILABLE_AT], TimestampTzGetDatum(available_at));
		row_set_null(&w, m->att[Q_WORKER_ID]);
	}
	else if (result != NULL)
		row_set(&w, m->att[Q_RESULT], JsonbPGetDatum(result));
	else
		row_set_null(&w, m->att[Q_RESULT]);
	row_set_null(&w, m->att[Q_LEASE_UNTIL]);
	row_set(&w, m->att[Q_UPDATED_AT], TimestampTzGetDatum(GetCurrentTimestamp()));
	ExecStoreVirtualTuple(w.slot);

	EvalPlanQualInit(&epq, w.estate, NULL, NIL, -1);
	ExecSimpleRelationUpdate(w.rri, w.estate, &epq, old, w.slot);
	EvalPlanQualEnd(&epq);
	writer_close(&w);
}

/*
 * rows_queue_tasks queues tasks of one execution, which the caller has
 * locked; a step already queued for the execution is not queued again.
 * queued[i] says whether tasks[i] was.  Returns how many were.
 */
int
rows_queue_tasks(Oid nsp, int64 execution_id, int64 catalog_id, BTask *tasks, int n,
				 bool *queued)
{
	Writer		w;
	ColMap	   *m;
	Relation	idx;
	TupleTableSlot *probe;
	ScanKeyData keys[2];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			count = 0;
	int			i;

	if (n == 0)
		return 0;
	writer_open(&w, table_open(relid_of(nsp, "queue"), RowExclusiveLock), true);
	m = map_columns(&qmap, w.rel, qcol_names, NQCOLS, true, Q_FIRST_OPTIONAL);
	idx = index_open(relid_of(nsp, "queue_node_key"), AccessShareLock);
	probe = table_slot_create(w.rel, &w.estate->es_tupleTable);
	for (i = 0; i < n; i++)
	{
		BTask	   *t = &tasks[i];
		SnapshotData dirty;
		IndexScanDesc scan;
		bool		exists;

		/*
		 * Is the step queued already (by any transaction: the execution is
		 * locked, so only a committed one)?  The unique index backs this.
		 */
		InitDirtySnapshot(dirty);
		key_int8(&keys[0], 1, execution_id);
		key_text(&keys[1], 2, idx, t->node);
		scan = index_beginscan(w.rel, idx, &dirty, 2, 0);
		index_rescan(scan, keys, 2, NULL, 0);
		exists = index_getnext_slot(scan, ForwardScanDirection, probe);
		index_endscan(scan);
		queued[i] = !exists;
		if (exists)
			continue;

		row_begin(&w);
		row_set(&w, m->att[Q_QUEUE_ID], Int64GetDatum(t->queue_id));
		row_set(&w, m->att[Q_EXECUTION_ID], Int64GetDatum(execution_id));
		row_set(&w, m->att[Q_CATALOG_ID], Int64GetDatum(catalog_id));
		row_text(&w, m->att[Q_NODE_ID], t->node);
		row_text(&w, m->att[Q_NODE_NAME], t->node);
		row_text(&w, m->att[Q_TOOL], t->tool);
		row_set(&w, m->att[Q_ACTION], JsonbPGetDatum(t->action));
		row_text(&w, m->att[Q_STATUS], "queued");
		row_set(&w, m->att[Q_PRIORITY], Int32GetDatum(t->priority));
		row_set(&w, m->att[Q_ATTEMPTS], Int32GetDatum(0));
		row_set(&w, m->att[Q_MAX_ATTEMPTS], Int32GetDatum(t->max_attempts));
		row_set(&w, m->att[Q_AVAILABLE_AT], TimestampTzGetDatum(now));
		row_set(&w, m->att[Q_CREATED_AT], TimestampTzGetDatum(now));
		row_set(&w, m->att[Q_UPDATED_AT], TimestampTzGetDatum(now));
		ExecStoreVirtualTuple(w.slot);
		ExecSimpleRelationInsert(w.rri, w.estate, w.slot);
		ResetPerTupleExprContext(w.estate);
		count++;
	}
	index_close(idx, NoLock);
	writer_close(&w);
	return count;
}

/*
 * rows_append_events appends events of one execution to rel, the
 * relation the broker's trigger fired on (noetl.event), in order.
 */
void
rows_append_events(Relation rel, int64 execution_id, int64 catalog_id,
				   int64 parent_event_id, BEvent **evs, int n)
{
	Writer		w;
	ColMap	   *m;
	int			i;

	if (n == 0)
		return;
	writer_open(&w, rel, false);
	m = map_columns(&emap, rel, ecol_names, NCOLS, true, C_FIRST_OPTIONAL);
	for (i = 0; i < n; i++)
	{
		BEvent	   *e = evs[i];

		row_begin(&w);
		row_set(&w, m->att[C_EXECUTION_ID], Int64GetDatum(execution_id));
		row_set(&w, m->att[C_EVENT_ID], Int64GetDatum(e->event_id));
		if (parent_event_id != 0)
			row_set(&w, m->att[C_PARENT_EVENT_ID], Int64GetDatum(parent_event_id));
		row_set(&w, m->att[C_CATALOG_ID], Int64GetDatum(catalog_id));
		row_text(&w, m->att[C_EVENT_TYPE], e->event_type);
		row_text(&w, m->att[C_NODE_ID], e->node_name);
		row_text(&w, m->att[C_NODE_NAME], e->node_name);
		row_text(&w, m->att[C_NODE_TYPE], e->node_type);
		row_text(&w, m->att[C_STATUS], e->status);
		if (e->result != NULL)
			row_set(&w, m->att[C_RESULT], JsonbPGetDatum(e->result));
		if (e->meta != NULL)
			row_set(&w, m->att[C_META], JsonbPGetDatum(e->meta));
		row_text(&w, m->att[C_ERROR], e->error);
		if (e->queue_id != 0)
			row_set(&w, m->att[C_QUEUE_ID], Int64GetDatum(e->queue_id));
		row_set(&w, m->att[C_CREATED_AT], TimestampTzGetDatum(GetCurrentTimestamp()));
		ExecStoreVirtualTuple(w.slot);
		ExecSimpleRelationInsert(w.rri, w.estate, w.slot);
		ResetPerTupleExprContext(w.estate);
	}
	writer_close(&w);
}

/*
 * rows_event_columns returns the attribute numbers of noetl.event's
 * columns (rel), indexed by EventColumn.
 */
const AttrNumber *
rows_event_columns(Relation rel)
{
	return map_columns(&emap, rel, ecol_names, NCOLS, true, C_FIRST_OPTIONAL)->att;
}

/*
 * rows_done makes the direct writes visible to what the transaction does
 * next (its later statements and evaluations).
 */
void
rows_done(void)
{
	CommandCounterIncrement();
}
