/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The noetl.* settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "noetl.h"

int			noetl_shard_id = 0;
char	   *noetl_database = NULL;
char	   *noetl_notify_channel = NULL;
char	   *noetl_cancel_channel = NULL;
int			noetl_tick_ms = 1000;
int			noetl_lease_check_ms = 1000;
int			noetl_notify_interval_ms = 5;

/* a channel name is what LISTEN takes: a non-empty identifier */
static bool
check_channel(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errmsg("a notification channel name must not be empty");
		return false;
	}
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errmsg("notification channel name \"%s\" is too long", *newval);
		GUC_check_errdetail("Channel names are identifiers, at most %d bytes.", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/*
 * noetl_define_gucs defines every noetl.* setting and reserves the prefix.
 * The settings only the postmaster reads exist only while preloading (a
 * PGC_POSTMASTER setting cannot be created in a running server).
 */
void
noetl_define_gucs(void)
{
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("noetl.database",
								   "Sets the database the noetl broker worker connects to.",
								   "The worker announces work and expires leases there; workers LISTEN in it.",
								   &noetl_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);

	DefineCustomStringVariable("noetl.notify_channel",
							   "Sets the channel on which the broker announces tasks to lease.",
							   NULL,
							   &noetl_notify_channel,
							   "noetl_queue",
							   PGC_SIGHUP,
							   0,
							   check_channel, NULL, NULL);

	DefineCustomStringVariable("noetl.cancel_channel",
							   "Sets the channel on which the broker announces cancelled executions.",
							   NULL,
							   &noetl_cancel_channel,
							   "noetl_cancel",
							   PGC_SIGHUP,
							   0,
							   check_channel, NULL, NULL);

	DefineCustomIntVariable("noetl.tick",
							"Sets the longest time the broker worker sleeps.",
							"It wakes sooner when work is committed, a lease check or a delayed task is due.",
							&noetl_tick_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.notify_interval",
							"Sets the shortest time between two notifications on a channel.",
							"Work committed sooner after a notification is announced together, in the next one: listeners are not woken once per commit under load.",
							&noetl_notify_interval_ms,
							5, 0, 10000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.lease_check_interval",
							"Sets how often the broker worker looks for expired leases.",
							NULL,
							&noetl_lease_check_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

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
