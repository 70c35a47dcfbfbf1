/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The noetl.* settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "guc.h"

int			noetl_shard_id = 0;
char	   *noetl_database = NULL;
char	   *noetl_notify_channel = NULL;
char	   *noetl_cancel_channel = NULL;
int			noetl_tick_ms = 1000;
int			noetl_lease_check_ms = 1000;
int			noetl_notify_interval_ms = 5;
int			noetl_template_max_steps = 1000000;
int			noetl_template_max_memory_kb = 65536;
int			noetl_template_max_range = 100000;
int			noetl_max_workload_kb = 16384;
int			noetl_max_result_kb = 65536;
int			noetl_max_json_depth = 128;
int			noetl_playbook_cache_size = 256;
int			noetl_worker_live_seconds = 60;
int			noetl_max_loop_items = 1000000;
int			noetl_max_playbook_depth = 16;
char	   *noetl_credential_key = NULL;

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

	/*
	 * Budgets.  Whatever a playbook, a workload or a task's result holds,
	 * the broker evaluates it in the reporting transaction (or in the broker
	 * worker), so every evaluation is bounded.  They are superuser settings:
	 * an execution is evaluated in whichever backend reports its events, so
	 * one role must not lift the bounds that protect the others.
	 */
	DefineCustomIntVariable("noetl.template_max_steps",
							"Sets the most evaluation steps one template rendering may take.",
							"A step is one expression node evaluated, or one element or 64 bytes an operation touches; a rendering that needs more fails with SQLSTATE 54000.",
							&noetl_template_max_steps,
							1000000, 1000, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.template_max_memory",
							"Sets the most memory one template rendering may allocate.",
							"A rendering that needs more fails with SQLSTATE 54000.",
							&noetl_template_max_memory_kb,
							65536, 1024, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.template_max_range",
							"Sets the most items a range() in a template may produce.",
							"Jinja2's sandbox uses the same bound (100000).",
							&noetl_template_max_range,
							100000, 1, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.max_workload_size",
							"Sets the largest workload an execution may start with.",
							"The context of an execution_start event larger than this is refused with SQLSTATE 54000.",
							&noetl_max_workload_kb,
							16384, 1, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.max_result_size",
							"Sets the largest result a task may report.",
							"A report whose result or meta is larger than this is refused with SQLSTATE 54000.",
							&noetl_max_result_kb,
							65536, 1, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.max_json_depth",
							"Sets the deepest nesting of arrays and objects accepted in workloads, results and playbooks.",
							"Deeper documents are refused with SQLSTATE 54000.",
							&noetl_max_json_depth,
							128, 8, 10000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.playbook_cache_size",
							"Sets how many parsed playbooks each backend keeps.",
							"The least recently used is dropped when another is needed.",
							&noetl_playbook_cache_size,
							256, 1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.worker_live_seconds",
							"Sets how recently a worker must have been seen to count as live.",
							"Workers refresh their noetl.worker row every third of this; noetl.status(), noetl run --wait and noetl status name the tools whose ready tasks no live worker runs.",
							&noetl_worker_live_seconds,
							60, 1, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.max_loop_items",
							"Sets the most iterations one loop step may have.",
							"A loop's iterations are queue rows inserted when the loop starts; a collection with more fails the step.",
							&noetl_max_loop_items,
							1000000, 1, 100000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("noetl.max_playbook_depth",
							"Sets how deeply sub-playbooks may nest.",
							"An execution a client starts has depth 0, a sub-playbook's its parent's depth plus one; a sub-playbook step that would pass the limit fails.",
							&noetl_max_playbook_depth,
							16, 1, 100,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	/*
	 * The key of noetl.credential's data.  Superuser-only: SHOW,
	 * current_setting and pg_settings show it only to superusers and members
	 * of pg_read_all_settings; it is left out of SHOW ALL and of the sample
	 * file.  Until a backend loads the library a value from the
	 * configuration is a placeholder any role can read: preload noetl.
	 */
	DefineCustomStringVariable("noetl.credential_key",
							   "Sets the key noetl credentials are encrypted with.",
							   "noetl.credential stores each credential's data encrypted with pgcrypto's pgp_sym_encrypt under this key.",
							   &noetl_credential_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	MarkGUCPrefixReserved("noetl");
}

PG_FUNCTION_INFO_V1(noetl_worker_live);

/*
 * Datum noetl_worker_live() returns integer
 *
 * noetl.worker_live_seconds, for SQL: calling it loads the library, so
 * that the setting is the one the configuration gives even in a session
 * where nothing else of noetl's C has run (unless preloaded, the setting
 * is a placeholder until then, which pg_settings hides and
 * current_setting shows as written).
 */
Datum
noetl_worker_live(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(noetl_worker_live_seconds);
}
