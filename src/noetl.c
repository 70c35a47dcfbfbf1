/*-------------------------------------------------------------------------
 *
 * noetl.c
 *	  Entry point of the noetl library.
 *
 * _PG_init only delegates: settings (guc.c) are defined whenever the
 * library is loaded; shared memory (shmem.c) and the broker worker
 * (bgworker.c) only when it is preloaded through shared_preload_libraries.
 * Without preloading the SQL API still works; what needs shared memory
 * falls back or reports its absence (noetl.status()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "bgworker.h"
#include "guc.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init is called when the library is loaded.
 */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	noetl_define_gucs();
	if (!process_shared_preload_libraries_in_progress)
		return;
	noetl_shmem_init();
	noetl_register_worker();
}
