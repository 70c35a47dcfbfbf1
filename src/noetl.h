/*-------------------------------------------------------------------------
 *
 * noetl.h
 *	  Declarations shared by the modules of the noetl extension.
 *
 * Each module owns one concern; this header only carries what crosses
 * module boundaries: shared memory, settings, the YAML reader, Python-style
 * number formatting and the in-memory JSON tree helpers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_H
#define NOETL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "port/atomics.h"
#include "storage/s_lock.h"
#include "utils/jsonb.h"

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
} NoetlSharedState;

extern NoetlSharedState *noetl_shared;
extern void noetl_shmem_init(void);

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
extern void noetl_define_gucs(void);

/* wakeup.c: telling the broker worker about committed work */
extern void wake_record_ready(int64 queue_id);
extern void wake_record_due(TimestampTz available_at);
extern void wake_record_cancel(int64 execution_id);

/* worker.c: the broker worker */
extern bool noetl_in_broker_worker;
extern void noetl_register_worker(void);
extern PGDLLEXPORT void noetl_broker_main(Datum main_arg);

/* state.c: statements prepared once per backend, run through SPI */
typedef struct NoetlStmt
{
	const char *sql;
	int			nargs;
	Oid			types[8];
	SPIPlanPtr	plan;
} NoetlStmt;

extern uint64 noetl_spi_exec(NoetlStmt *s, Datum *values, const char *nulls, int expect);

/* snowflake.c */
extern int64 noetl_next_id(void);

/* yaml.c: YAML text -> jsonb, with PyYAML's safe_load semantics */
extern Jsonb *noetl_yaml_to_jsonb(const char *text, int len);

/* pyfmt.c: numbers formatted as Python formats them */
extern void py_float_repr(StringInfo out, double d);
extern void py_float_decimal(StringInfo out, double d);

/* jtree.c: in-memory JSON trees built from JsonbValue */
extern JsonbValue *jt_from_jsonb(Jsonb *jb);
extern Jsonb *jt_to_jsonb(JsonbValue *v);
extern JsonbValue *jt_get(JsonbValue *obj, const char *key);
extern void jt_set(JsonbValue *obj, const char *key, JsonbValue *val);
extern bool jt_delete(JsonbValue *obj, const char *key);
extern JsonbValue *jt_object(void);
extern JsonbValue *jt_array(void);
extern void jt_append(JsonbValue *arr, JsonbValue *val);
extern JsonbValue *jt_string(const char *s);
extern JsonbValue *jt_copy(JsonbValue *v);
extern char *jt_cstring(JsonbValue *v);
extern bool jt_is_string(JsonbValue *v, const char *s);
extern const char *jt_type_name(JsonbValue *v);
extern int	jt_merge(JsonbValue *base, JsonbValue *over, bool keep_base);

/*
 * jtree.c, for jsonb datums: jb_merge returns base with over's keys laid
 * over it (if either is not an object: over, or base when over is NULL), in
 * O(n log n); jb_depth_exceeds says whether jb nests arrays and objects
 * deeper than max (a scalar is depth 0, {} and [] depth 1), in one
 * interruptible pass without recursion.
 */
extern Jsonb *jb_merge(Jsonb *base, Jsonb *over);
extern bool jb_depth_exceeds(Jsonb *jb, int max);

/* playbook.c: validation and normalisation of playbooks */
extern JsonbValue *noetl_normalize_playbook(JsonbValue *doc, char **path_out);
extern bool noetl_in_list(const char *s, const char *const *list, int n);

#endif							/* NOETL_H */
