/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The noetl.* settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_GUC_H
#define NOETL_GUC_H

#include "postgres.h"

/* guc.c: settings */
extern int	noetl_shard_id;
extern char *noetl_database;
extern char *noetl_notify_channel;
extern char *noetl_cancel_channel;
extern int	noetl_tick_ms;
extern int	noetl_lease_check_ms;
extern int	noetl_notify_interval_ms;
extern int	noetl_template_max_steps;
extern int	noetl_template_max_memory_kb;
extern int	noetl_template_max_range;
extern int	noetl_max_workload_kb;
extern int	noetl_max_result_kb;
extern int	noetl_max_json_depth;
extern int	noetl_playbook_cache_size;
extern int	noetl_worker_live_seconds;
extern int	noetl_max_loop_items;
extern int	noetl_max_playbook_depth;
extern char *noetl_credential_key;
extern void noetl_define_gucs(void);

#endif							/* NOETL_GUC_H */
