/*-------------------------------------------------------------------------
 *
 * ready_mark.c
 *	  Where in queue_ready_idx the ready tasks begin.
 *
 * A lease reads queue_ready_idx (priority DESC, queue_id) in its order and
 * takes the first entries whose rows are ready.  Every task it leases
 * leaves an entry behind (the row's new version is not in the partial
 * index, the old one is), and only vacuum removes those entries; while any
 * transaction holds an old snapshot (a long report, a REPEATABLE READ
 * transaction left open) vacuum cannot, and a lease that starts at the
 * beginning of the index steps over every task leased since: its cost
 * grows with the work done, not with the work waiting.
 *
 * So each queue has a mark in shared memory: a key of the index such that
 * no entry of a row that is, or may become, ready sorts before it.  Leases
 * start there.  The mark moves two ways:
 *
 *	down	every write of the broker that makes a row ready (a task queued,
 *			retried, released) lowers it to that row's key, after the row
 *			and its index entry are written, under ready_mutex
 *			(ready_mark_lower); a SQL statement writing the queue, which
 *			could do anything, forgets it (ready_mark_forget, from the
 *			queue's statement trigger); and every READY_MARK_SWEEP_MS a
 *			sweep reads the index below the mark, a step of at most
 *			READY_MARK_SWEEP_STEP entries per raise, and lowers the mark to
 *			any row it finds that may be ready, for writes no trigger sees
 *			(a restore with triggers disabled, a replica's apply): those are
 *			found within two periods, and no lease pays for a whole scan;
 *
 *	up		one backend at a time (ready_mark_raise), when a lease found that
 *			it had stepped over many entries: it reads the index from the mark
 *			with a dirty snapshot, which sees rows being inserted or updated
 *			by transactions in progress, and stops at the first entry whose
 *			row may be ready (queued or waiting to retry, whatever its
 *			available_at; a row being leased, or inserted, by a transaction
 *			in progress counts, since that transaction may roll back).  That
 *			entry's key, or the lowest key a write made ready while the scan
 *			ran, becomes the mark.
 *
 * Why raising is safe: a row is ready only after its entry is in the index,
 * and its writer lowers the mark after that, under the mutex.  A writer
 * that lowered before the raise began wrote its entry before the scan
 * began (at or after the mark it read, or it would have lowered it), so
 * the scan meets it; one that lowers after the raise began records its key
 * in the slot's pending key, which the raise takes into account when it
 * sets the mark, under the same mutex.  A transaction that has written
 * anything may not raise (its own updates are invisible to a dirty
 * snapshot, and it may still roll them back), which is why leases raise
 * before they lease, and only when they have no transaction id yet.
 *
 * The mark is a hint kept in shared memory: after a restart there is none,
 * and leases begin at the start of the index as they always could.  A
 * queue table rewritten (TRUNCATE, VACUUM FULL) gets a new relfilenode and
 * so a new mark.  Without the library preloaded there is no shared memory
 * and no mark.  docs/design.md ("Leases under a held snapshot") weighs the
 * alternatives.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/itup.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ready_mark.h"
#include "rows.h"
#include "shmem.h"

/* a raise reads at most this many entries; the next one goes on from there */
#define READY_MARK_RAISE_BUDGET 20000

/* how often the index below the mark is swept (writes no trigger sees) */
#define READY_MARK_SWEEP_MS 60000

/* the entries one step of a sweep reads */
#define READY_MARK_SWEEP_STEP 2000

PG_FUNCTION_INFO_V1(noetl_queue_written);

/* the broker's own SQL writes of the queue that make nothing ready */
static int	trusted_writes = 0;

/* key a sorts before key b in queue_ready_idx */
static inline bool
key_before(const ReadyKey *a, const ReadyKey *b)
{
	return a->priority > b->priority ||
		(a->priority == b->priority && a->queue_id < b->queue_id);
}

/*
 * find_slot returns the slot of a queue, or makes one (evicting the least
 * recently used) when make is set; NULL if there is none.  Caller holds
 * ready_mutex.
 */
static ReadyMarkSlot *
find_slot(Relation queue, bool make, TimestampTz now)
{
	ReadyMarkSlot *slots = noetl_shared->ready_marks;
	ReadyMarkSlot *victim = NULL;
	Oid			relnode = queue->rd_node.relNode;
	int			i;

	for (i = 0; i < NOETL_READY_MARKS; i++)
	{
		ReadyMarkSlot *s = &slots[i];

		if (s->dbid == MyDatabaseId && s->relnode == relnode)
		{
			s->used = ++noetl_shared->ready_tick;
			return s;
		}
		if (!s->raising && (victim == NULL || s->dbid == InvalidOid ||
							(victim->dbid != InvalidOid && s->used < victim->used)))
			victim = s;
	}
	if (!make || victim == NULL)
		return NULL;
	victim->dbid = MyDatabaseId;
	victim->relnode = relnode;
	victim->used = ++noetl_shared->ready_tick;
	victim->generation++;
	victim->has_mark = false;
	victim->raise_wanted = false;
	victim->raising = false;
	victim->has_pending = false;
	victim->sweeping = false;
	victim->swept = now;
	return victim;
}

/*
 * ready_mark_lower: a row of the queue at (priority, queue_id) was made
 * ready, and its entry is in queue_ready_idx.  Called after the write.
 */
void
ready_mark_lower(Relation queue, int32 priority, int64 queue_id)
{
	ReadyKey	k = {priority, queue_id};
	ReadyMarkSlot *s;

	if (noetl_shared == NULL)
		return;
	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, false, 0);
	if (s != NULL)
	{
		if (s->has_mark && key_before(&k, &s->mark))
			s->mark = k;
		if (s->raising && (!s->has_pending || key_before(&k, &s->pending)))
		{
			s->pending = k;
			s->has_pending = true;
		}
	}
	SpinLockRelease(&noetl_shared->ready_mutex);
}

/*
 * ready_mark_forget: the queue was written by something other than the
 * broker; ready rows may be anywhere in the index.
 */
void
ready_mark_forget(Relation queue)
{
	ReadyMarkSlot *s;

	if (noetl_shared == NULL)
		return;
	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, false, 0);
	if (s != NULL)
	{
		s->has_mark = false;
		s->generation++;
		s->sweeping = false;	/* nothing is below the start */
	}
	SpinLockRelease(&noetl_shared->ready_mutex);
}

/*
 * ready_mark_trust_writes brackets a statement of the broker's that writes
 * the queue without making anything ready (cancelling an execution's
 * tasks): the queue's statement trigger then leaves the mark alone.
 */
void
ready_mark_trust_writes(bool trusted)
{
	trusted_writes += trusted ? 1 : -1;
	Assert(trusted_writes >= 0);
}

/*
 * noetl.queue_written() is the queue's AFTER INSERT OR UPDATE statement
 * trigger: a SQL statement wrote the queue (the broker writes its rows
 * below SQL, where statement triggers do not fire), so ready rows may now
 * be anywhere in its index.
 */
Datum
noetl_queue_written(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("noetl.queue_written() must be called as a statement trigger")));
	if (trusted_writes == 0)
		ready_mark_forget(td->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * ready_mark_want_raise: a lease stepped over many entries that were not
 * ready; the next lease that may raises the mark first.
 */
void
ready_mark_want_raise(Relation queue)
{
	ReadyMarkSlot *s;

	if (noetl_shared == NULL)
		return;
	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, false, 0);
	if (s != NULL)
		s->raise_wanted = true;
	SpinLockRelease(&noetl_shared->ready_mutex);
}

/*
 * ready_mark_get sets *mark to where a lease of the queue may begin and
 * returns true, or returns false if it must begin at the start of the
 * index.  If a raise is wanted and this transaction may raise, raises it
 * first.
 */
bool
ready_mark_get(Relation queue, Relation index, const AttrNumber *qa, ReadyKey *mark)
{
	TimestampTz now = GetCurrentTimestamp();
	ReadyMarkSlot *s;
	bool		want;
	bool		has;

	if (noetl_shared == NULL)
		return false;
	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, true, now);
	if (s != NULL && s->has_mark && !s->sweeping &&
		TimestampDifferenceExceeds(s->swept, now, READY_MARK_SWEEP_MS))
	{
		s->sweeping = true;
		s->has_sweep_pos = false;
		s->swept = now;
	}
	want = s != NULL && (s->raise_wanted || s->sweeping) && !s->raising;
	SpinLockRelease(&noetl_shared->ready_mutex);

	if (want)
		(void) ready_mark_raise(queue, index, qa);

	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, false, now);
	has = s != NULL && s->has_mark;
	if (has)
		*mark = s->mark;
	SpinLockRelease(&noetl_shared->ready_mutex);
	return has;
}

/* a row that may be ready: queued or waiting to retry */
static bool
may_be_ready(TupleTableSlot *slot, const AttrNumber *qa)
{
	char	   *status = rows_text(slot, qa[Q_STATUS]);
	bool		ready = status != NULL &&
		(strcmp(status, "queued") == 0 || strcmp(status, "retry") == 0);

	if (status != NULL)
		pfree(status);
	return ready;
}

/*
 * ready_mark_raise moves the queue's mark up to the first entry whose row
 * may be ready, when a raise was wanted, and takes a step of the sweep
 * below the mark, when one is under way; false if it moved nothing
 * (another backend is raising, this transaction has written, there is no
 * shared memory).
 */
bool
ready_mark_raise(Relation queue, Relation index, const AttrNumber *qa)
{
	TimestampTz now = GetCurrentTimestamp();
	Oid			relnode = queue->rd_node.relNode;
	ReadyMarkSlot *s;
	uint64		generation;
	bool		has_from;
	ReadyKey	from = {0, 0};
	ReadyKey	k = {0, 0};
	bool		have_k = false;
	bool		raise;
	bool		sweep;
	bool		has_sweep_from;
	ReadyKey	sweep_from = {0, 0};
	ReadyKey	found = {0, 0};
	bool		have_found = false;
	bool		sweep_done = false;
	ReadyKey	sweep_last = {0, 0};
	SnapshotData dirty;
	ReadyScan	rs;
	TupleTableSlot *tslot;

	if (noetl_shared == NULL || TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	SpinLockAcquire(&noetl_shared->ready_mutex);
	s = find_slot(queue, true, now);
	if (s == NULL || s->raising)
	{
		SpinLockRelease(&noetl_shared->ready_mutex);
		return false;
	}
	s->raising = true;
	raise = s->raise_wanted;
	s->raise_wanted = false;
	s->has_pending = false;
	generation = s->generation;
	has_from = s->has_mark;
	if (has_from)
		from = s->mark;
	sweep = s->sweeping && has_from;
	has_sweep_from = s->has_sweep_pos;
	if (has_sweep_from)
		sweep_from = s->sweep_pos;
	SpinLockRelease(&noetl_shared->ready_mutex);

	PG_TRY();
	{
		InitDirtySnapshot(dirty);
		tslot = table_slot_create(queue, NULL);
		if (sweep)
		{
			/* a step of the sweep: from where the last one stopped up to the mark */
			ready_scan_begin(&rs, queue, index, &dirty, has_sweep_from, &sweep_from);
			sweep_done = true;
			while (ready_scan_next(&rs, tslot))
			{
				CHECK_FOR_INTERRUPTS();
				if (!key_before(&rs.last, &from))
					break;		/* reached the mark */
				if (may_be_ready(tslot, qa))
				{
					found = rs.last;
					have_found = true;
					break;
				}
				if (rs.visited >= READY_MARK_SWEEP_STEP)
				{
					sweep_done = false;
					sweep_last = rs.last;
					break;
				}
			}
			ready_scan_end(&rs);
		}
		if (raise)
		{
			ready_scan_begin(&rs, queue, index, &dirty, has_from, &from);
			while (rs.visited < READY_MARK_RAISE_BUDGET && ready_scan_next(&rs, tslot))
			{
				CHECK_FOR_INTERRUPTS();
				if (may_be_ready(tslot, qa))
				{
					k = rs.last;
					have_k = true;
					break;
				}
			}
			if (!have_k && rs.visited > 0)
			{
				/* the end of the index, or of the budget: nothing ready before */
				k = rs.last;
				have_k = true;
			}
			ready_scan_end(&rs);
		}
		ExecDropSingleTupleTableSlot(tslot);
	}
	PG_CATCH();
	{
		SpinLockAcquire(&noetl_shared->ready_mutex);
		if (s->dbid == MyDatabaseId && s->relnode == relnode && s->generation == generation)
			s->raising = false;
		SpinLockRelease(&noetl_shared->ready_mutex);
		PG_RE_THROW();
	}
	PG_END_TRY();

	SpinLockAcquire(&noetl_shared->ready_mutex);
	if (s->dbid == MyDatabaseId && s->relnode == relnode)
	{
		if (s->generation == generation)
		{
			if (have_k)
			{
				if (s->has_pending && key_before(&s->pending, &k))
					k = s->pending;
				s->mark = k;
				s->has_mark = true;
			}
			if (have_found && s->has_mark && key_before(&found, &s->mark))
				s->mark = found;
			if (sweep && (sweep_done || have_found))
				s->sweeping = false;
			else if (sweep)
			{
				s->sweep_pos = sweep_last;
				s->has_sweep_pos = true;
			}
		}
		s->raising = false;
		s->has_pending = false;
	}
	SpinLockRelease(&noetl_shared->ready_mutex);
	return have_k || have_found;
}

/* ---------------------------------------------------------------- scans */

/* start the scan of a phase: 0 = the mark's priority from its queue_id on */
static void
scan_phase(ReadyScan *rs, int phase)
{
	ScanKeyData keys[2];
	int			nkeys = 0;

	if (rs->scan != NULL)
		index_endscan(rs->scan);
	rs->phase = phase;
	if (rs->has_mark && phase == 0)
	{
		ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(rs->mark.priority));
		ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
					Int64GetDatum(rs->mark.queue_id));
		nkeys = 2;
	}
	else if (rs->has_mark)
	{
		/* the index is in priority DESC: lower priorities come next */
		ScanKeyInit(&keys[0], 1, BTLessStrategyNumber, F_INT4LT,
					Int32GetDatum(rs->mark.priority));
		nkeys = 1;
	}
	rs->scan = index_beginscan(rs->heap, rs->index, rs->snapshot, nkeys, 0);
	rs->scan->xs_want_itup = true;
	index_rescan(rs->scan, keys, nkeys, NULL, 0);
}

/*
 * ready_scan_begin starts a scan of queue_ready_idx at the mark (or at the
 * start of the index), under snapshot.
 */
void
ready_scan_begin(ReadyScan *rs, Relation heap, Relation index, Snapshot snapshot,
				 bool has_mark, const ReadyKey *mark)
{
	memset(rs, 0, sizeof(*rs));
	rs->heap = heap;
	rs->index = index;
	rs->snapshot = snapshot;
	rs->has_mark = has_mark;
	if (has_mark)
		rs->mark = *mark;
	scan_phase(rs, has_mark ? 0 : 1);
}

/*
 * ready_scan_next stores the next row visible to the scan's snapshot in
 * slot; false at the end.  rs->last is the key of its entry, rs->visited
 * counts the entries read, visible or not.
 */
bool
ready_scan_next(ReadyScan *rs, TupleTableSlot *slot)
{
	for (;;)
	{
		if (!rs->scan->xs_heap_continue)
		{
			ItemPointer tid = index_getnext_tid(rs->scan, ForwardScanDirection);
			bool		isnull;

			if (tid == NULL)
			{
				if (rs->phase == 0)
				{
					scan_phase(rs, 1);
					continue;
				}
				return false;
			}
			rs->visited++;
			Assert(rs->scan->xs_itup != NULL);
			rs->last.priority = DatumGetInt32(index_getattr(rs->scan->xs_itup, 1,
															rs->scan->xs_itupdesc, &isnull));
			rs->last.queue_id = DatumGetInt64(index_getattr(rs->scan->xs_itup, 2,
															rs->scan->xs_itupdesc, &isnull));
		}
		if (index_fetch_heap(rs->scan, slot))
			return true;
	}
}

void
ready_scan_end(ReadyScan *rs)
{
	if (rs->scan != NULL)
		index_endscan(rs->scan);
	rs->scan = NULL;
}
