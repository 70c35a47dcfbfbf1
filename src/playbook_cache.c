/*-------------------------------------------------------------------------
 *
 * playbook_cache.c
 *	  Registered playbooks, parsed once per backend.
 *
 * A catalog version never changes after registration, so a playbook read
 * from noetl.catalog can be kept for the life of the backend under its
 * catalog_id: its steps indexed by name, each step's transitions, retry
 * policy and the part of the step that becomes a worker's task, and a
 * template cache holding every template of the playbook once parsed.
 *
 * The cache is a hash table keyed by catalog_id with a list in order of
 * use, and keeps at most noetl.playbook_cache_size playbooks.  The least
 * recently used one leaves the table when another is needed, but its
 * memory is not freed then: an evaluation running at that moment (of this
 * event, or of an event inserted by a trigger it fired) may still hold
 * it.  Its context moves under TopTransactionContext instead, and goes
 * when the transaction ends; no playbook pointer outlives a transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "guc.h"
#include "jtree.h"
#include "playbook_cache.h"
#include "rows.h"
#include "state.h"
#include "stmt.h"

typedef struct PbEntry
{
	int64		catalog_id;		/* the hash key */
	BPlaybook  *pb;
	dlist_node	use;			/* in pb_use, most recently used first */
} PbEntry;

static MemoryContext pb_cxt = NULL;
static HTAB *pb_table = NULL;
static dlist_head pb_use = DLIST_STATIC_INIT(pb_use);
static long pb_count = 0;

/*
 * Keys of a step that are not rendered into the task a worker receives:
 * the broker's own (next, retry, loop, result, desc) and the sink, which
 * the worker renders itself once it has the task's result.
 */
static const char *const not_task[] = {
	"next", "sink", "retry", "loop", "result", "desc"
};

/*
 * pb_step_index returns the index of the step called name, or -1.
 */
int
pb_step_index(BPlaybook *pb, const char *name, int len)
{
	return names_find(&pb->names, name, len);
}

/* wrap keeps a setting as the value of a one-key object ("v") */
static Jsonb *
wrap(JsonbValue *v)
{
	JsonbValue *o;

	if (v == NULL || v->type == jbvNull)
		return NULL;
	o = jt_object();
	jt_set(o, "v", jt_copy(v));
	return jt_to_jsonb(o);
}

/*
 * load_loop reads a normalised loop (playbook_task.c, normalize_loop):
 * {collection, element, mode, max_in_flight?, concurrency?, on_item_error,
 * where?, order_by?, limit?, chunk?, enumerate?, sink?}.
 */
static BLoop *
load_loop(JsonbValue *obj)
{
	BLoop	   *l = palloc0(sizeof(BLoop));
	JsonbValue *v;

	l->collection = wrap(jt_get(obj, "collection"));
	l->element = jt_cstring(jt_get(obj, "element"));
	v = jt_get(obj, "mode");
	l->parallel = v != NULL && jt_is_string(v, "parallel");
	v = jt_get(obj, "max_in_flight");
	if (v != NULL && v->type == jbvNumeric)
		l->max_in_flight = DatumGetInt32(DirectFunctionCall1(numeric_int4,
															 NumericGetDatum(v->val.numeric)));
	l->concurrency = wrap(jt_get(obj, "concurrency"));
	v = jt_get(obj, "on_item_error");
	l->fail = v == NULL || !jt_is_string(v, "continue");
	l->where_const = 1;
	v = jt_get(obj, "where");
	if (v != NULL && v->type == jbvBool)
		l->where_const = v->val.boolean ? 1 : 0;
	else if (v != NULL && v->type == jbvString)
	{
		l->where = jt_cstring(v);
		l->where_const = -1;
	}
	l->order_by = wrap(jt_get(obj, "order_by"));
	l->limit = wrap(jt_get(obj, "limit"));
	l->chunk = wrap(jt_get(obj, "chunk"));
	l->enumerate = wrap(jt_get(obj, "enumerate"));
	v = jt_get(obj, "sink");
	if (v != NULL && v->type == jbvObject)
	{
		JsonbValue *keep = jt_object();
		JsonbValue *on_error = jt_get(v, "on_error");

		/* era B recorded a save's failure and went on, unless told to fail */
		l->sink_fail = on_error != NULL && jt_is_string(on_error, "fail");
		jt_set(keep, "sink", v);
		l->sink = jt_to_jsonb(keep);
	}
	return l;
}

/*
 * load_step fills a BStep from a normalised step object.
 */
static void
load_step(BStep *s, JsonbValue *obj)
{
	JsonbValue *task;
	JsonbValue *v;
	int			i;

	s->name = jt_cstring(jt_get(obj, "step"));
	s->tool = jt_cstring(jt_get(obj, "tool"));
	v = jt_get(obj, "args");
	if (v != NULL)
		s->args = jt_to_jsonb(v);
	v = jt_get(obj, "result");
	if (v != NULL)
		s->result = jt_to_jsonb(v);
	v = jt_get(obj, "loop");
	if (v != NULL)
		s->loop = load_loop(v);
	s->subplaybook = s->tool != NULL && strcmp(s->tool, "playbook") == 0;
	v = jt_get(obj, "priority");
	if (v != NULL && v->type == jbvNumeric)
		s->priority = DatumGetInt32(DirectFunctionCall1(numeric_int4,
														NumericGetDatum(v->val.numeric)));
	/* the step without the broker's keys: a copy, then a few deletions */
	task = jt_copy(obj);
	for (i = 0; i < lengthof(not_task); i++)
		(void) jt_delete(task, not_task[i]);
	s->task = jt_to_jsonb(task);
	v = jt_get(obj, "sink");
	if (v != NULL)
	{
		JsonbValue *keep = jt_object();

		jt_set(keep, "sink", v);
		s->keep = jt_to_jsonb(keep);
	}
	retry_parse(jt_get(obj, "retry"), &s->retry);
}

/*
 * load_next fills a step's transitions; target names are resolved later.
 */
static void
load_next(BPlaybook *pb, BStep *s, JsonbValue *obj)
{
	JsonbValue *next = jt_get(obj, "next");
	int			i;

	if (next == NULL || next->type != jbvArray || next->val.array.nElems == 0)
		return;
	s->nnext = next->val.array.nElems;
	s->next = palloc0(sizeof(BNext) * s->nnext);
	for (i = 0; i < s->nnext; i++)
	{
		JsonbValue *e = &next->val.array.elems[i];
		JsonbValue *when = jt_get(e, "when");
		JsonbValue *args = jt_get(e, "args");
		char	   *target = jt_cstring(jt_get(e, "step"));

		s->next[i].target = pb_step_index(pb, target, strlen(target));
		Assert(s->next[i].target >= 0);
		s->next[i].when_const = -1;
		if (when == NULL)
			s->next[i].when_const = 1;
		else if (when->type == jbvBool)
			s->next[i].when_const = when->val.boolean ? 1 : 0;
		else
		{
			s->next[i].when = jt_cstring(when);
			s->next[i].when_len = when->val.string.len;
		}
		if (args != NULL)
			s->next[i].args = jt_to_jsonb(args);
	}
}

/* ---------------------------------------------------------------- catalog */

static NoetlStmt s_catalog = {
	"SELECT path, version, payload FROM noetl.catalog WHERE catalog_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/*
 * pb_resolve finds the catalog_id of a path (and version, or the latest);
 * 0 if there is none.  nsp is the noetl schema.  It reads
 * catalog_path_version_key directly, with the latest snapshot as the
 * broker's SQL does (stmt.c), backwards for the latest version: every
 * execution started resolves its path, and through SPI that was an
 * eighth of execute_many.
 */
int64
pb_resolve(Oid nsp, const char *path, int32 version, bool has_version)
{
	Relation	rel = table_open(rows_relid(nsp, "catalog"), AccessShareLock);
	Relation	idx = index_open(rows_relid(nsp, "catalog_path_version_key"), AccessShareLock);
	AttrNumber	id_att = get_attnum(RelationGetRelid(rel), "catalog_id");
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData keys[2];
	IndexScanDesc scan;
	int64		catalog_id = 0;

	if (id_att == InvalidAttrNumber)
		elog(ERROR, "noetl.catalog has no column catalog_id");
	rows_key_text(&keys[0], 1, idx, path);
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(version));
	scan = index_beginscan(rel, idx, snap, has_version ? 2 : 1, 0);
	index_rescan(scan, keys, has_version ? 2 : 1, NULL, 0);
	if (index_getnext_slot(scan, has_version ? ForwardScanDirection : BackwardScanDirection, slot))
	{
		bool		isnull;

		catalog_id = rows_int8(slot, id_att, &isnull);
	}
	index_endscan(scan);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return catalog_id;
}

/* catalog_payload reads a catalog entry; NULL if it does not exist */
static Jsonb *
catalog_payload(int64 catalog_id, char **path, int32 *version)
{
	Datum		v[1];
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;

	v[0] = Int64GetDatum(catalog_id);
	if (noetl_spi_exec(&s_catalog, v, NULL, SPI_OK_SELECT) == 0)
		return NULL;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	*path = TextDatumGetCString(SPI_getbinval(t, d, 1, &isnull));
	*version = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	return DatumGetJsonbPCopy(SPI_getbinval(t, d, 3, &isnull));
}

/*
 * load_playbook reads a catalog row and builds its BPlaybook in a context of
 * its own.
 */
static BPlaybook *
load_playbook(int64 catalog_id)
{
	MemoryContext cxt;
	MemoryContext old;
	BPlaybook  *pb;
	Jsonb	   *payload;
	char	   *path;
	int32		version;
	JsonbValue *doc;
	JsonbValue *workflow;
	int			i;

	payload = catalog_payload(catalog_id, &path, &version);
	if (payload == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("catalog entry %lld does not exist", (long long) catalog_id)));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "noetl playbook",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	pb = palloc0(sizeof(BPlaybook));
	pb->cxt = cxt;
	pb->catalog_id = catalog_id;
	pb->path = pstrdup(path);
	pb->version = version;
	pb->templates = tplcache_create(cxt, 0);

	doc = jt_from_jsonb(payload);
	pb->workload = jt_to_jsonb(jt_get(doc, "workload") ? jt_get(doc, "workload") : jt_object());
	workflow = jt_get(doc, "workflow");
	pb->nsteps = workflow->val.array.nElems;
	pb->steps = palloc0(sizeof(BStep) * pb->nsteps);
	names_init(&pb->names, pb->nsteps);
	for (i = 0; i < pb->nsteps; i++)
	{
		load_step(&pb->steps[i], &workflow->val.array.elems[i]);
		names_add(&pb->names, pb->steps[i].name, strlen(pb->steps[i].name), i);
	}
	names_sort(&pb->names);
	for (i = 0; i < pb->nsteps; i++)
		load_next(pb, &pb->steps[i], &workflow->val.array.elems[i]);
	pb->start = pb_step_index(pb, "start", 5);
	pb->end = pb_step_index(pb, "end", 3);
	MemoryContextSwitchTo(old);

	/* only when complete does it join the cache (pb_get) */
	return pb;
}

/*
 * pb_get returns the playbook of a catalog entry, loading it on first use.
 * The pointer is valid until the end of the transaction.
 */
BPlaybook *
pb_get(int64 catalog_id)
{
	PbEntry    *e;
	BPlaybook  *pb;
	bool		found;

	if (pb_table == NULL)
	{
		HASHCTL		ctl;

		pb_cxt = AllocSetContextCreate(CacheMemoryContext, "noetl playbooks",
									   ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(PbEntry);
		ctl.hcxt = pb_cxt;
		pb_table = hash_create("noetl playbooks", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(pb_table, &catalog_id, HASH_FIND, NULL);
	if (e != NULL)
	{
		dlist_move_head(&pb_use, &e->use);
		return e->pb;
	}

	pb = load_playbook(catalog_id);
	while (pb_count >= noetl_playbook_cache_size && !dlist_is_empty(&pb_use))
	{
		PbEntry    *old = dlist_container(PbEntry, use, dlist_tail_node(&pb_use));

		/* freed when the transaction ends: an evaluation may hold it now */
		MemoryContextSetParent(old->pb->cxt, TopTransactionContext);
		dlist_delete(&old->use);
		(void) hash_search(pb_table, &old->catalog_id, HASH_REMOVE, NULL);
		pb_count--;
	}
	e = hash_search(pb_table, &catalog_id, HASH_ENTER, &found);
	Assert(!found);
	e->pb = pb;
	dlist_push_head(&pb_use, &e->use);
	pb_count++;
	MemoryContextSetParent(pb->cxt, pb_cxt);
	return pb;
}

/*
 * pb_check_runnable refuses playbooks that use what the database's noetl
 * schema cannot hold: loops and sub-playbooks need version 1.2's columns.
 */
void
pb_check_runnable(BPlaybook *pb)
{
	int			i;
	bool		checked = false;

	for (i = 0; i < pb->nsteps; i++)
	{
		if ((pb->steps[i].loop || pb->steps[i].subplaybook) && !checked)
		{
			if (!state_loop_schema(InvalidOid))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("playbook \"%s\" cannot run: step \"%s\" uses a %s, which this database's noetl schema predates",
								pb->path, pb->steps[i].name,
								pb->steps[i].loop ? "loop" : "sub-playbook"),
						 errhint("Run ALTER EXTENSION noetl UPDATE.")));
			checked = true;
		}
	}
}
