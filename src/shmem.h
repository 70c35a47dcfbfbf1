/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared memory of the extension: the snowflake counter, where the
 *	  broker worker is, committed work it has not yet announced, where each
 *	  queue's ready tasks begin.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_SHMEM_H
#define NOETL_SHMEM_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/s_lock.h"
#include "datatype/timestamp.h"

#include "ready_mark.h"

/* shmem.c: state shared by all backends of the cluster */
#define NOETL_MAX_CANCELS 64

typedef struct NoetlSharedState
{
	pg_atomic_uint64 snowflake_last;	/* last (milliseconds << 18 | seq) */

	/* the broker worker, while it runs; under mutex */
	slock_t		mutex;
	pid_t		broker_pid;
	struct Latch *broker_latch;
	Oid			broker_database;
	TimestampTz broker_started;

	/*
	 * Work committed since the broker last looked (wakeup.c), under mutex:
	 * the highest queue_id made ready, the earliest time a delayed task
	 * becomes ready, and executions whose tasks were cancelled.
	 */
	bool		wake_requested; /* the latch was set for work not yet taken */
	int64		ready_max;
	TimestampTz next_due;		/* 0 = none */
	int			ncancelled;
	bool		cancel_overflow;
	int64		cancelled[NOETL_MAX_CANCELS];

	/* where the ready tasks of each queue begin (ready_mark.c) */
	slock_t		ready_mutex;
	uint64		ready_tick;
	ReadyMarkSlot ready_marks[NOETL_READY_MARKS];
} NoetlSharedState;

extern NoetlSharedState *noetl_shared;
extern void noetl_shmem_init(void);

#endif							/* NOETL_SHMEM_H */
