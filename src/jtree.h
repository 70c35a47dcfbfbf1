/*-------------------------------------------------------------------------
 *
 * jtree.h
 *	  In-memory JSON trees built from JsonbValue, and helpers for jsonb datums.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_JTREE_H
#define NOETL_JTREE_H

#include "postgres.h"

#include "utils/jsonb.h"

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
extern JsonbValue *jb_get(Jsonb *jb, const char *key);

#endif							/* NOETL_JTREE_H */
