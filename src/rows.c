/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  Rows of noetl's tables read and written directly, below SQL.
 *
 * Every action_completed locks two rows, updates one, inserts one task
 * and two or three events.  Through SPI each of those is a plan to
 * revalidate and an executor to start, with a projection built for every
 * column of a wide row, and that start-up cost more than the writes
 * themselves (bench/broker.sh).  This file gives the broker's state
 * machine (state.c) and event log (event.c) the executor routines that
 * logical replication applies rows with (ExecSimpleRelationInsert and
 * ExecSimpleRelationUpdate): constraints, indexes and row triggers are
 * handled as for an INSERT or UPDATE, but the tuple is formed here.  It
 * knows columns, not what their values mean.
 *
 * The consequences of working below SQL, accepted deliberately:
 *	- the code names the columns it writes (the enums of rows.h); a table
 *	  may have others, from a later version of the schema, if they are
 *	  nullable or have a default: new rows get NULL, or the default, which
 *	  is evaluated here as an INSERT would; columns a later version added
 *	  to what the code knows are optional, so that one library runs a
 *	  database whose extension is not yet updated;
 *	- the domain checks on status columns are not applied (the values are
 *	  the broker's own constants, state.c); CHECK constraints and NOT NULL
 *	  are;
 *	- no permission checks: the callers run as the tables' owner.
 *
 * Locking follows RelationFindReplTupleByIndex: find the row through an
 * index with a dirty snapshot, wait for a transaction that is changing it,
 * then lock its latest version, retrying if it changed meanwhile.
 *
 * Direct writes are made visible to what the transaction does next with
 * CommandCounterIncrement (rows_done).
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
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "rows.h"

/* ---------------------------------------------------------------- columns */

static const char *const qcol_names[NQCOLS] = {
	"queue_id", "execution_id", "catalog_id", "node_id", "node_name", "tool", "action",
	"result", "status", "priority", "attempts", "max_attempts", "available_at",
	"lease_until", "worker_id", "last_heartbeat", "created_at", "updated_at", "lease_token",
	"error"
};

static const char *const ecol_names[NCOLS] = {
	"execution_id", "event_id", "parent_event_id", "parent_execution_id", "catalog_id",
	"event_type", "node_id", "node_name", "node_type", "status", "context", "result",
	"meta", "error", "stack_trace", "worker_id", "queue_id", "duration", "created_at",
	"lease_token"
};

static const char *const xcol_names[NXCOLS] = {
	"catalog_id", "status", "pending", "workload", "parent_execution_id",
	"execution_id", "result", "error", "ended_at", "updated_at", "started_at",
	"parent_step", "depth"
};

static const char *const scol_names[NSCOLS] = {
	"execution_id", "step", "status", "args", "result", "started_at", "ended_at",
	"loop_total", "loop_next", "loop_done", "loop_failed", "loop_window"
};

#define MAXCOLS 20
#define MAXEXTRA ROWS_MAXEXTRA

typedef struct ColMap
{
	Oid			relid;
	AttrNumber	att[MAXCOLS];	/* 1-based; InvalidAttrNumber if absent */
	int			nextra;			/* columns unknown here that have a default */
	AttrNumber	extra[MAXEXTRA];
} ColMap;

typedef struct TableDef
{
	const char *const *names;
	int			n;
	int			first_optional; /* columns from here on may be missing */
	bool		writes;			/* rows are inserted: unknown columns matter */
} TableDef;

static const TableDef tables[] = {
	[ROWS_QUEUE] = {qcol_names, NQCOLS, Q_LEASE_TOKEN, true},
	[ROWS_EVENT] = {ecol_names, NCOLS, C_LEASE_TOKEN, true},
	[ROWS_EXECUTION] = {xcol_names, NXCOLS, X_PARENT_STEP, true},
	[ROWS_STEP] = {scol_names, NSCOLS, S_LOOP_TOTAL, true},
};

static ColMap maps[lengthof(tables)];
static bool callback_registered = false;

/* forgets the maps of a table whose definition may have changed */
static void
forget_columns(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(maps); i++)
		if (relid == InvalidOid || relid == maps[i].relid)
			maps[i].relid = InvalidOid;
}

/*
 * map_columns finds the columns of rel that table names.  A table the
 * broker inserts rows into may have other columns only if they are
 * nullable or have a default.
 */
static ColMap *
map_columns(Relation rel, RowsTable table)
{
	const TableDef *t = &tables[table];
	ColMap	   *m = &maps[table];
	TupleDesc	td = RelationGetDescr(rel);
	int			i;
	int			k;

	StaticAssertStmt(NQCOLS <= MAXCOLS && NCOLS <= MAXCOLS && NXCOLS <= MAXCOLS &&
					 NSCOLS <= MAXCOLS, "MAXCOLS is too small");
	if (m->relid == RelationGetRelid(rel))
		return m;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_columns, (Datum) 0);
		callback_registered = true;
	}
	m->relid = InvalidOid;
	m->nextra = 0;
	for (i = 0; i < t->n; i++)
	{
		m->att[i] = InvalidAttrNumber;
		for (k = 0; k < td->natts; k++)
		{
			Form_pg_attribute att = TupleDescAttr(td, k);

			if (!att->attisdropped && strcmp(NameStr(att->attname), t->names[i]) == 0)
				m->att[i] = att->attnum;
		}
		if (m->att[i] == InvalidAttrNumber && i < t->first_optional)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" has no column \"%s\"",
							RelationGetRelationName(rel), t->names[i]),
					 errhint("Install the noetl library that matches the extension's version.")));
	}
	for (k = 0; t->writes && k < td->natts; k++)
	{
		Form_pg_attribute att = TupleDescAttr(td, k);

		if (att->attisdropped)
			continue;
		for (i = 0; i < t->n; i++)
			if (m->att[i] == att->attnum)
				break;
		if (i < t->n)
			continue;
		if (att->atthasdef)
		{
			if (m->nextra == MAXEXTRA)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("table \"%s\" has more than %d columns unknown to the noetl library",
								RelationGetRelationName(rel), MAXEXTRA)));
			m->extra[m->nextra++] = att->attnum;
		}
		else if (att->attnotnull)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" is unknown to the noetl library and has neither a default nor NULLs",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errhint("Give the column a default, or install the noetl library that matches the extension's version.")));
	}
	m->relid = RelationGetRelid(rel);
	return m;
}

/*
 * rows_columns returns the attribute numbers of rel's columns, indexed by
 * the column enum of table (InvalidAttrNumber for an optional column the
 * table does not have).
 */
const AttrNumber *
rows_columns(Relation rel, RowsTable table)
{
	return map_columns(rel, table)->att;
}

/* rows_relid returns the OID of relation name in the noetl schema nsp */
Oid
rows_relid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation \"noetl.%s\" does not exist", name);
	return relid;
}

/* ---------------------------------------------------------------- reading */

/* rows_key_int8 sets key to "attribute att = value" for a bigint column */
void
rows_key_int8(ScanKey key, AttrNumber att, int64 value)
{
	ScanKeyInit(key, att, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(value));
}

/* rows_key_text sets key to "attribute att of index idx = value" */
void
rows_key_text(ScanKey key, AttrNumber att, Relation idx, const char *value)
{
	ScanKeyInit(key, att, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(value));
	key->sk_collation = idx->rd_indcollation[att - 1];
}

/*
 * rows_find finds the row of rel matching keys on index idx and locks it
 * (FOR NO KEY UPDATE) at its latest version, waiting for a transaction
 * that is changing it (or, with LockWaitSkip, giving up on it); the row is
 * returned in slot.  False if there is no such row, or it was skipped.
 */
bool
rows_find(Relation rel, Relation idx, ScanKey keys, int nkeys, TupleTableSlot *slot,
		  LockWaitPolicy wait)
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
			if (wait == LockWaitSkip)
				found = false;
			else
			{
				XactLockTableWait(xwait, rel, &slot->tts_tid, XLTW_Lock);
				goto retry;
			}
		}
	}
	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(rel, &slot->tts_tid, GetActiveSnapshot(), slot,
							   GetCurrentCommandId(false), LockTupleNoKeyExclusive,
							   wait, 0, &tmfd);
		PopActiveSnapshot();
		switch (res)
		{
			case TM_Ok:
				break;
			case TM_WouldBlock:
				found = false;
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

/*
 * rows_probe finds the row of rel matching keys on index idx, as its
 * latest version, without locking it: a row that a transaction in progress
 * is writing is waited for and looked for again (its outcome decides).
 * False if there is no such row.
 */
bool
rows_probe(Relation rel, Relation idx, ScanKey keys, int nkeys, TupleTableSlot *slot)
{
	SnapshotData dirty;
	IndexScanDesc scan;
	bool		found;

	InitDirtySnapshot(dirty);
	scan = index_beginscan(rel, idx, &dirty, nkeys, 0);
retry:
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found && (TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax)))
	{
		XactLockTableWait(TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax, rel,
						  &slot->tts_tid, XLTW_None);
		goto retry;
	}
	index_endscan(scan);
	return found;
}

/* rows_text returns a text column of slot as a C string, or NULL */
char *
rows_text(TupleTableSlot *slot, AttrNumber att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* rows_int8 returns a bigint column of slot (0 when NULL, as *isnull says) */
int64
rows_int8(TupleTableSlot *slot, AttrNumber att, bool *isnull)
{
	Datum		d = slot_getattr(slot, att, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* rows_int4 returns an integer column of slot, 0 when NULL */
int32
rows_int4(TupleTableSlot *slot, AttrNumber att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* ---------------------------------------------------------------- writing */

/* ---------------------------------------------------------------- writers */

/*
 * The executor state of a writer (its result relation with the CHECK
 * constraints and trigger WHEN clauses compiled on first use, the column
 * defaults, its slots) is kept for the rest of the transaction, one per
 * table: built per write, those expressions were read again from their
 * text for every row (stringToNode was 5% of a complete).  It lives in
 * TopTransactionContext and holds nothing a resource owner tracks: its
 * slots have copies of the table's descriptor, and the indexes are opened
 * by each rows_open and closed by its rows_close; their IndexInfos (with
 * a partial index's predicate, compiled at its first insert) are built at
 * the first use and kept.  It is rebuilt after an invalidation of its
 * table (an index or constraint added), dropped when a subtransaction
 * aborts while it is in use, and freed with the transaction.  A writer
 * opened while the table's cached one is in use (a nested write) gets a
 * state of its own, built and freed per use.
 */
typedef struct CachedWriter
{
	bool		valid;
	bool		in_use;
	bool		stale;			/* its table was invalidated */
	Oid			relid;
	EState	   *estate;
	ResultRelInfo *rri;
	bool		have_indexes;	/* the index list below is built */
	int			nindexes;
	Oid		   *index_oids;		/* in RelationGetIndexList's order */
	RelationPtr index_descs;	/* open during a use, else stale */
	IndexInfo **index_infos;
	TupleTableSlot *slot;
	TupleTableSlot *old;
	int			ndefaults;
	AttrNumber	def_att[ROWS_MAXEXTRA];
	ExprState  *def_state[ROWS_MAXEXTRA];
} CachedWriter;

static CachedWriter writers[lengthof(tables)];
static bool writer_callbacks_registered = false;

static void
writers_invalidate(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(writers); i++)
	{
		CachedWriter *c = &writers[i];
		int			k;

		if (!c->valid)
			continue;
		if (relid == InvalidOid || relid == c->relid)
			c->stale = true;
		/* an index's own entry (an index AM keeps pointers into it) */
		for (k = 0; c->have_indexes && k < c->nindexes; k++)
			if (relid == c->index_oids[k])
				c->stale = true;
	}
}

/*
 * build w's executor state in the current memory context; with cached,
 * its slots get their own copies of the descriptor (no references)
 */
static void
writer_build(RowWriter *w, Relation rel, ColMap *m, bool cached)
{
	RangeTblEntry *rte;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, rel, 1, NULL, 0);
	if (w->rri->ri_TrigDesc != NULL)
	{
		TriggerDesc *td = w->rri->ri_TrigDesc;

		/*
		 * The trigger functions, looked up here: ExecCallTriggerFunc would
		 * do it in the caller's memory context, and a function with a SET
		 * clause or SECURITY DEFINER keeps its state there, gone before the
		 * writer's next use.
		 */
		for (i = 0; i < td->numtriggers; i++)
			fmgr_info_cxt(td->triggers[i].tgfoid, &w->rri->ri_TrigFunctions[i],
						  CurrentMemoryContext);
	}
	if (cached)
	{
		desc = CreateTupleDescCopy(desc);
		if (rel->trigdesc != NULL)
		{
			/*
			 * the slots row triggers read the old and new row into (a
			 * foreign key's, say), made here so that they too have the copy
			 */
			w->rri->ri_TrigOldSlot = ExecAllocTableSlot(&w->estate->es_tupleTable, desc,
														table_slot_callbacks(rel));
			w->rri->ri_TrigNewSlot = ExecAllocTableSlot(&w->estate->es_tupleTable, desc,
														table_slot_callbacks(rel));
		}
	}
	w->slot = ExecInitExtraTupleSlot(w->estate, desc, &TTSOpsVirtual);
	w->ndefaults = 0;
	for (i = 0; i < m->nextra; i++)
	{
		Expr	   *def = (Expr *) build_column_default(rel, m->extra[i]);

		if (def == NULL)
			continue;
		w->def_att[w->ndefaults] = m->extra[i];
		w->def_state[w->ndefaults++] = ExecPrepareExpr(def, w->estate);
	}
}

static void
writer_forget(CachedWriter *c)
{
	if (c->valid && !c->in_use)
	{
		/* the slots hold no pins (cleared by rows_close) and no references */
		FreeExecutorState(c->estate);
	}
	memset(c, 0, sizeof(*c));
}

static void
writers_xact_callback(XactEvent event, void *arg)
{
	int			i;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	/* the memory goes with TopTransactionContext */
	for (i = 0; i < lengthof(writers); i++)
		memset(&writers[i], 0, sizeof(CachedWriter));
}

/*
 * A subtransaction aborted while a cached writer was in use: its slots may
 * hold pins the subtransaction released, its indexes were closed by it.
 * The writer is not used again; its memory goes with the transaction.
 */
static void
writers_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (i = 0; i < lengthof(writers); i++)
		if (writers[i].valid && writers[i].in_use)
			memset(&writers[i], 0, sizeof(CachedWriter));
}

/*
 * writer_release_slots empties a cached writer's slots, so that they hold
 * no buffer pins between uses, and gives back any slot the executor made
 * during this use with the table's own, reference-counted descriptor
 * (the resource owner of this statement holds that reference): such a
 * slot leaves the state, to be made again if it is needed again.
 */
static void
writer_release_slots(EState *estate, ResultRelInfo *rri)
{
	ListCell   *lc;

	foreach(lc, estate->es_tupleTable)
	{
		TupleTableSlot *slot = (TupleTableSlot *) lfirst(lc);

		ExecClearTuple(slot);
		if (slot->tts_tupleDescriptor == NULL || slot->tts_tupleDescriptor->tdrefcount < 0)
			continue;
		slot->tts_ops->release(slot);
		ReleaseTupleDesc(slot->tts_tupleDescriptor);
		slot->tts_tupleDescriptor = NULL;
		if (rri->ri_TrigOldSlot == slot)
			rri->ri_TrigOldSlot = NULL;
		if (rri->ri_TrigNewSlot == slot)
			rri->ri_TrigNewSlot = NULL;
		if (rri->ri_ReturningSlot == slot)
			rri->ri_ReturningSlot = NULL;
		estate->es_tupleTable = foreach_delete_current(estate->es_tupleTable, lc);
	}
}

/*
 * rows_open opens rel (one of table) for direct writes; with own_rel the
 * relation is closed by rows_close.
 */
void
rows_open(RowWriter *w, Relation rel, RowsTable table, bool own_rel)
{
	ColMap	   *m = map_columns(rel, table);
	CachedWriter *c = &writers[table];
	MemoryContext oldcxt;

	memset(w, 0, sizeof(RowWriter));
	w->rel = rel;
	w->table = table;
	w->att = m->att;
	w->own_rel = own_rel;

	if (!writer_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(writers_invalidate, (Datum) 0);
		RegisterXactCallback(writers_xact_callback, NULL);
		RegisterSubXactCallback(writers_subxact_callback, NULL);
		writer_callbacks_registered = true;
	}
	if (c->valid && !c->in_use && (c->stale || c->relid != RelationGetRelid(rel)))
		writer_forget(c);
	if (c->in_use)
	{
		/* a nested write: a state of its own */
		writer_build(w, rel, m, false);
		ExecOpenIndices(w->rri, false);
	}
	else
	{
		if (!c->valid)
		{
			RowWriter	built;

			oldcxt = MemoryContextSwitchTo(TopTransactionContext);
			writer_build(&built, rel, m, true);
			c->have_indexes = false;
			MemoryContextSwitchTo(oldcxt);
			c->estate = built.estate;
			c->rri = built.rri;
			c->slot = built.slot;
			c->old = NULL;
			c->ndefaults = built.ndefaults;
			memcpy(c->def_att, built.def_att, sizeof(c->def_att));
			memcpy(c->def_state, built.def_state, sizeof(c->def_state));
			c->relid = RelationGetRelid(rel);
			c->stale = false;
			c->valid = true;
		}
		c->in_use = true;
		c->rri->ri_RelationDesc = rel;
		if (!c->have_indexes)
		{
			int			k;

			oldcxt = MemoryContextSwitchTo(c->estate->es_query_cxt);
			ExecOpenIndices(c->rri, false);
			c->nindexes = c->rri->ri_NumIndices;
			c->index_descs = c->rri->ri_IndexRelationDescs;
			c->index_infos = c->rri->ri_IndexRelationInfo;
			c->index_oids = palloc(sizeof(Oid) * Max(c->nindexes, 1));
			for (k = 0; k < c->nindexes; k++)
				c->index_oids[k] = RelationGetRelid(c->index_descs[k]);
			MemoryContextSwitchTo(oldcxt);
			c->have_indexes = true;
		}
		else
		{
			int			k;

			/* the same indexes: an index added or dropped makes the writer stale */
			for (k = 0; k < c->nindexes; k++)
				c->index_descs[k] = index_open(c->index_oids[k], RowExclusiveLock);
			c->rri->ri_NumIndices = c->nindexes;
			c->rri->ri_IndexRelationDescs = c->index_descs;
			c->rri->ri_IndexRelationInfo = c->index_infos;
		}
		w->cached = true;
		w->estate = c->estate;
		w->rri = c->rri;
		w->slot = c->slot;
		w->old = c->old;
		w->ndefaults = c->ndefaults;
		memcpy(w->def_att, c->def_att, sizeof(w->def_att));
		memcpy(w->def_state, c->def_state, sizeof(w->def_state));
	}
	w->estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();
}

/* rows_close ends the writes of w: after-row triggers fire now */
void
rows_close(RowWriter *w)
{
	AfterTriggerEndQuery(w->estate);
	/* relations the after-row triggers opened */
	ExecCloseResultRelations(w->estate);
	w->estate->es_trig_target_relations = NIL;
	ExecCloseIndices(w->rri);
	if (w->cached)
	{
		CachedWriter *c = &writers[w->table];

		w->rri->ri_NumIndices = 0;
		w->rri->ri_IndexRelationDescs = NULL;
		w->rri->ri_IndexRelationInfo = NULL;
		writer_release_slots(w->estate, w->rri);
		c->old = w->old;
		c->in_use = false;
	}
	else
	{
		ExecResetTupleTable(w->estate->es_tupleTable, false);
		FreeExecutorState(w->estate);
	}
	if (w->own_rel)
		table_close(w->rel, NoLock);
}

/*
 * rows_new starts a new row in w: the columns the library knows NULL, the
 * others their defaults.
 */
void
rows_new(RowWriter *w)
{
	int			i;

	ExecClearTuple(w->slot);
	memset(w->slot->tts_isnull, true, sizeof(bool) * RelationGetDescr(w->rel)->natts);
	for (i = 0; i < w->ndefaults; i++)
	{
		AttrNumber	att = w->def_att[i];
		bool		isnull;

		w->slot->tts_values[att - 1] =
			ExecEvalExprSwitchContext(w->def_state[i], GetPerTupleExprContext(w->estate),
									  &isnull);
		w->slot->tts_isnull[att - 1] = isnull;
	}
}

/*
 * rows_fetch starts an update in w of the row at tid, which the caller has
 * locked; the row's column col_id must hold id (a check that it is the
 * row the caller means).
 */
void
rows_fetch(RowWriter *w, ItemPointer tid, int col_id, int64 id)
{
	TupleDesc	td = RelationGetDescr(w->rel);
	bool		isnull;

	if (w->old == NULL && w->cached)
	{
		/*
		 * Kept with the cached state: a copy of the descriptor, no
		 * reference.  With its constraints: they hold the values of columns
		 * added with a default after the row was written (attmissingval),
		 * which a plain copy would read as NULL.
		 */
		MemoryContext oldcxt = MemoryContextSwitchTo(w->estate->es_query_cxt);

		w->old = ExecAllocTableSlot(&w->estate->es_tupleTable, CreateTupleDescCopyConstr(td),
									table_slot_callbacks(w->rel));
		MemoryContextSwitchTo(oldcxt);
	}
	else if (w->old == NULL)
		w->old = table_slot_create(w->rel, &w->estate->es_tupleTable);
	if (!table_tuple_fetch_row_version(w->rel, tid, SnapshotAny, w->old) ||
		rows_int8(w->old, w->att[col_id], &isnull) != id)
		elog(ERROR, "row %lld of \"%s\" moved while it was locked",
			 (long long) id, RelationGetRelationName(w->rel));
	slot_getallattrs(w->old);
	ExecClearTuple(w->slot);
	memcpy(w->slot->tts_values, w->old->tts_values, sizeof(Datum) * td->natts);
	memcpy(w->slot->tts_isnull, w->old->tts_isnull, sizeof(bool) * td->natts);
}

/* rows_set sets column col of the row being formed (if the table has it) */
void
rows_set(RowWriter *w, int col, Datum value)
{
	AttrNumber	att = w->att[col];

	if (att == InvalidAttrNumber)
		return;
	w->slot->tts_values[att - 1] = value;
	w->slot->tts_isnull[att - 1] = false;
}

/* rows_set_null sets column col of the row being formed to NULL */
void
rows_set_null(RowWriter *w, int col)
{
	AttrNumber	att = w->att[col];

	if (att == InvalidAttrNumber)
		return;
	w->slot->tts_values[att - 1] = (Datum) 0;
	w->slot->tts_isnull[att - 1] = true;
}

/* rows_set_text sets a text column to s, or NULL when s is NULL */
void
rows_set_text(RowWriter *w, int col, const char *s)
{
	if (s == NULL)
		rows_set_null(w, col);
	else
		rows_set(w, col, CStringGetTextDatum(s));
}

/* rows_insert inserts the row formed in w */
void
rows_insert(RowWriter *w)
{
	ExecStoreVirtualTuple(w->slot);
	ExecSimpleRelationInsert(w->rri, w->estate, w->slot);
	ResetPerTupleExprContext(w->estate);
}

/* rows_update writes the row formed in w over the one rows_fetch read */
void
rows_update(RowWriter *w)
{
	EPQState	epq;

	Assert(w->old != NULL);
	ExecStoreVirtualTuple(w->slot);
	EvalPlanQualInit(&epq, w->estate, NULL, NIL, -1);
	ExecSimpleRelationUpdate(w->rri, w->estate, &epq, w->old, w->slot);
	EvalPlanQualEnd(&epq);
	ResetPerTupleExprContext(w->estate);
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
