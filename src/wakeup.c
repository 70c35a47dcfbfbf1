/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Telling the broker worker about committed work.
 *
 * A transaction that queues tasks, schedules a retry or cancels an
 * execution's tasks records that here, in backend memory.  Only when it
 * commits does a transaction callback merge the record into shared memory
 * and set the broker worker's latch; the worker then sends the NOTIFY, in
 * its own transaction.  So a producer never calls NOTIFY (whose commit
 * takes a cluster-wide lock and serialises all producers), a rolled back
 * transaction announces nothing, and a savepoint rolled back takes its
 * records with it.
 *
 * Records are kept only in the database the worker serves, and only while
 * it runs (and is preloaded): elsewhere there is nobody to tell.  A
 * prepared transaction announces nothing; workers' periodic leases find
 * its tasks once it commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "shmem.h"
#include "wakeup.h"

typedef enum WakeKind
{
	WAKE_READY,					/* a task was queued: its queue_id */
	WAKE_DUE,					/* a task waits until a time */
	WAKE_CANCEL					/* an execution's tasks were cancelled */
} WakeKind;

typedef struct WakeRecord
{
	int			level;			/* transaction nesting level that made it */
	WakeKind	kind;
	int64		value;			/* queue_id, time or execution_id */
} WakeRecord;

static WakeRecord *records = NULL;
static int	nrecords = 0;
static int	maxrecords = 0;
static bool callbacks_registered = false;

static void wake_xact_callback(XactEvent event, void *arg);
static void wake_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);

static bool
broker_listens_here(void)
{
	return noetl_shared != NULL && noetl_shared->broker_pid != 0 &&
		noetl_shared->broker_database == MyDatabaseId;
}

static void
record(WakeKind kind, int64 value)
{
	int			level = GetCurrentTransactionNestLevel();

	if (!broker_listens_here())
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		RegisterSubXactCallback(wake_subxact_callback, NULL);
		callbacks_registered = true;
	}
	/* one READY and one DUE record per level suffice: keep the extreme */
	if (nrecords > 0 && records[nrecords - 1].level == level &&
		records[nrecords - 1].kind == kind && kind != WAKE_CANCEL)
	{
		WakeRecord *r = &records[nrecords - 1];

		if (kind == WAKE_READY ? value > r->value : value < r->value)
			r->value = value;
		return;
	}
	if (nrecords == maxrecords)
	{
		maxrecords = maxrecords ? maxrecords * 2 : 16;
		records = records
			? repalloc(records, sizeof(WakeRecord) * maxrecords)
			: MemoryContextAlloc(TopMemoryContext, sizeof(WakeRecord) * maxrecords);
	}
	records[nrecords].level = level;
	records[nrecords].kind = kind;
	records[nrecords].value = value;
	nrecords++;
}

void
wake_record_ready(int64 queue_id)
{
	record(WAKE_READY, queue_id);
}

void
wake_record_due(TimestampTz available_at)
{
	record(WAKE_DUE, (int64) available_at);
}

void
wake_record_cancel(int64 execution_id)
{
	record(WAKE_CANCEL, execution_id);
}

/*
 * publish merges the records into shared memory and wakes the worker.
 */
static void
publish(void)
{
	struct Latch *latch;
	int			i;

	SpinLockAcquire(&noetl_shared->mutex);
	for (i = 0; i < nrecords; i++)
	{
		WakeRecord *r = &records[i];

		switch (r->kind)
		{
			case WAKE_READY:
				if (r->value > noetl_shared->ready_max)
					noetl_shared->ready_max = r->value;
				break;
			case WAKE_DUE:
				if (noetl_shared->next_due == 0 || r->value < noetl_shared->next_due)
					noetl_shared->next_due = (TimestampTz) r->value;
				break;
			case WAKE_CANCEL:
				if (noetl_shared->ncancelled < NOETL_MAX_CANCELS)
					noetl_shared->cancelled[noetl_shared->ncancelled++] = r->value;
				else
					noetl_shared->cancel_overflow = true;
				break;
		}
	}
	/* set the latch once per batch of work the worker has not taken yet */
	latch = noetl_shared->wake_requested ? NULL : noetl_shared->broker_latch;
	noetl_shared->wake_requested = true;
	SpinLockRelease(&noetl_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (nrecords > 0 && noetl_shared != NULL)
				publish();
			nrecords = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			nrecords = 0;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction's records go with it when it aborts, and pass to its
 * parent when it commits.
 */
static void
wake_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (nrecords > 0 && records[nrecords - 1].level >= level)
			nrecords--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < nrecords; i++)
			if (records[i].level >= level)
				records[i].level = level - 1;
	}
}
