/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of the noetl extension.
 *
 * One small struct, created when the library is preloaded.  It holds the
 * last id handed out by noetl.snowflake_id(), as a 64-bit atomic that every
 * backend advances with compare-and-swap, so ids are unique across
 * concurrent sessions without a lock; where the broker worker is (its pid
 * and latch); the committed work the worker has not yet announced
 * (wakeup.c); and where each queue's ready tasks begin (ready_mark.c).
 * When the library is not preloaded, noetl_shared stays NULL and users of
 * it fall back (snowflake.c) or do without (wakeup.c, ready_mark.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "shmem.h"

NoetlSharedState *noetl_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * noetl_shmem_request asks the postmaster for our share of shared memory.
 */
static void
noetl_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(NoetlSharedState)));
}

/*
 * noetl_shmem_startup creates or attaches to the shared struct.
 */
static void
noetl_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	noetl_shared = ShmemInitStruct("noetl", sizeof(NoetlSharedState), &found);
	if (!found)
	{
		memset(noetl_shared, 0, sizeof(NoetlSharedState));
		pg_atomic_init_u64(&noetl_shared->snowflake_last, 0);
		SpinLockInit(&noetl_shared->mutex);
		SpinLockInit(&noetl_shared->ready_mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * noetl_shmem_init installs the hooks; called from _PG_init while preloading.
 */
void
noetl_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = noetl_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = noetl_shmem_startup;
}
