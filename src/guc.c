/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The noetl.* settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "noetl.h"

int			noetl_shard_id = 0;

/*
 * noetl_define_gucs defines every noetl.* setting and reserves the prefix.
 */
void
noetl_define_gucs(void)
{
	DefineCustomIntVariable("noetl.shard_id",
							"Sets the shard number written into the ids that noetl.snowflake_id() generates.",
							"Ids carry 5 bits of shard, as NoETL's ids do; give each server that generates ids its own shard number.",
							&noetl_shard_id,
							0, 0, 31,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("noetl");
}
