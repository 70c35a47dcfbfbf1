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
#include "port/atomics.h"
#include "utils/jsonb.h"

/* shmem.c: state shared by all backends of the cluster */
typedef struct NoetlSharedState
{
	pg_atomic_uint64 snowflake_last;	/* last (milliseconds << 18 | seq) */
} NoetlSharedState;

extern NoetlSharedState *noetl_shared;
extern void noetl_shmem_init(void);

/* guc.c: settings */
extern int	noetl_shard_id;
extern void noetl_define_gucs(void);

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

/* playbook.c: validation and normalisation of playbooks */
extern JsonbValue *noetl_normalize_playbook(JsonbValue *doc, char **path_out);

#endif							/* NOETL_H */
