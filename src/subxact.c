/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running code in an internal subtransaction, as PL/pgSQL's exception
 *	  blocks do.
 *
 * Going on after an error is safe only once what the failed code did has
 * been undone: its locks, buffer pins, snapshots, SPI state and memory.
 * An internal subtransaction does that on rollback.  The caller decides
 * which errors it goes on after, and throws the others on (ReThrowError).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"

#include "subxact.h"

/*
 * subxact_run runs fn(arg) in an internal subtransaction.  It returns NULL
 * when fn returned; if fn raised an error, the subtransaction is rolled
 * back and the error returned, copied into the caller's memory context.
 */
ErrorData *
subxact_run(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile ed = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(*fn) (arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return ed;
}
