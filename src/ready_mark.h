/*-------------------------------------------------------------------------
 *
 * ready_mark.h
 *	  Where in queue_ready_idx the ready tasks begin: a shared lower bound
 *	  that keeps a lease's cost bounded while vacuum cannot run.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_READY_MARK_H
#define NOETL_READY_MARK_H

#include "postgres.h"

#include "access/genam.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* queues (database, queue table) whose mark shared memory keeps */
#define NOETL_READY_MARKS 16

/* a key of queue_ready_idx: (priority DESC, queue_id) */
typedef struct ReadyKey
{
	int32		priority;
	int64		queue_id;
} ReadyKey;

/* one queue's mark, in shared memory (shmem.h), under ready_mutex */
typedef struct ReadyMarkSlot
{
	Oid			dbid;			/* InvalidOid: a free slot */
	Oid			relnode;		/* the queue's relfilenode */
	uint64		used;			/* tick of the last use, for eviction */
	uint64		generation;		/* bumped whenever the mark is forgotten */
	bool		has_mark;		/* false: the ready tasks may begin anywhere */
	ReadyKey	mark;			/* no ready task's entry sorts before it */
	bool		raise_wanted;	/* a lease stepped over many entries */
	bool		raising;		/* a backend is raising the mark */
	bool		has_pending;	/* while raising: made ready meanwhile */
	ReadyKey	pending;		/* ... the lowest such key */
	bool		sweeping;		/* a sweep below the mark is under way */
	bool		has_sweep_pos;	/* false: it starts at the start of the index */
	ReadyKey	sweep_pos;		/* where its next step begins */
	TimestampTz swept;			/* when the last sweep began */
} ReadyMarkSlot;

/* a scan of queue_ready_idx from the mark, in index order */
typedef struct ReadyScan
{
	Relation	heap;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	bool		has_mark;
	ReadyKey	mark;
	int			phase;			/* 0: the mark's priority; 1: lower ones */
	int64		visited;		/* index entries read */
	ReadyKey	last;			/* the key of the last one */
} ReadyScan;

extern void ready_mark_lower(Relation queue, int32 priority, int64 queue_id);
extern void ready_mark_forget(Relation queue);
extern void ready_mark_trust_writes(bool trusted);
extern bool ready_mark_get(Relation queue, Relation index, const AttrNumber *qa,
						   ReadyKey *mark);
extern void ready_mark_want_raise(Relation queue);
extern bool ready_mark_raise(Relation queue, Relation index, const AttrNumber *qa);

extern void ready_scan_begin(ReadyScan *rs, Relation heap, Relation index, Snapshot snapshot,
							 bool has_mark, const ReadyKey *mark);
extern bool ready_scan_next(ReadyScan *rs, TupleTableSlot *slot);
extern void ready_scan_end(ReadyScan *rs);

#endif							/* NOETL_READY_MARK_H */
