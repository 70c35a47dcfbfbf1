/*-------------------------------------------------------------------------
 *
 * jtree.h
 *	  In-memory JSON trees built from JsonbValue, and helpers for jsonb
 *	  datums: reading their keys, merging objects, checking their depth.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_JTREE_H
#define NOETL_JTREE_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * Trees: a document expanded once (jt_from_jsonb) into jbvObject nodes with
 * pairs, jbvArray nodes with elems, and scalars; edited in place; written
 * back once (jt_to_jsonb).  jt_get returns the value of key in obj (NULL
 * if obj is no object or lacks key), jt_set sets it to a copy of the node
 * val, jt_delete removes it.  Editing an object moves its pairs: take what
 * jt_get returned before an edit with jt_copy.
 */
extern JsonbValue *jt_from_jsonb(Jsonb *jb);
extern Jsonb *jt_to_jsonb(JsonbValue *v);
extern JsonbValue *jt_get(JsonbValue *obj, const char *key);
extern void jt_set(JsonbValue *obj, const char *key, JsonbValue *val);
extern bool jt_delete(JsonbValue *obj, const char *key);
extern JsonbValue *jt_object(void);
extern JsonbValue *jt_array(void);
extern void jt_append(JsonbValue *arr, JsonbValue *val);
extern JsonbValue *jt_string(const char *s);
extern JsonbValue *jt_int(int64 i);
extern JsonbValue *jt_bool(bool b);
extern JsonbValue *jt_null(void);
extern JsonbValue *jt_copy(JsonbValue *v);
extern char *jt_cstring(JsonbValue *v);
extern bool jt_is_string(JsonbValue *v, const char *s);
extern const char *jt_type_name(JsonbValue *v);

/*
 * Laying the keys of one object over another, the only way noetl merges
 * objects (never key by key, which is quadratic):
 *
 * jt_merge lays the pairs of the tree object over onto the tree object
 * base: a key base has takes over's value (or keeps its own, with
 * keep_base), the others are appended in over's order.  It returns the
 * index in over of the first of its keys that base already had, or -1.
 * O((n + m) log n).
 *
 * jb_merge returns the jsonb object base with the keys of over laid over
 * it (over's values win); if either is not an object, the result is over,
 * or base when over is NULL.  O((n + m) log (n + m)).
 */
extern int	jt_merge(JsonbValue *base, JsonbValue *over, bool keep_base);
extern Jsonb *jb_merge(Jsonb *base, Jsonb *over);

/*
 * Reading keys of jsonb objects, without building a key JsonbValue by
 * hand.  jb_find returns the value of key (keylen bytes, not necessarily
 * NUL-terminated) in the container jc, or NULL when jc is not an object
 * (a scalar or an array: no error) or has no such key; containers come
 * back as jbvBinary values pointing into jc.  jb_get is the same for a
 * jsonb datum (jb may be NULL) and a NUL-terminated key.
 *
 * The typed getters return false, leaving *out alone, when the key is
 * absent or holds another type: jb_get_bool for a boolean, jb_get_int32
 * for a number (converted as numeric_int4 converts it: rounded, an error
 * beyond int32).  jb_get_object returns an object value as a jsonb datum
 * of its own (palloc'd), or NULL when the key is absent or not an object.
 *
 *	if (jb_get_bool(meta, "lease_expired", &expired) && expired &&
 *		jb_get_int32(meta, "attempt", &attempt))
 *		...
 */
extern JsonbValue *jb_find(JsonbContainer *jc, const char *key, int keylen);
extern JsonbValue *jb_get(Jsonb *jb, const char *key);
extern bool jb_get_bool(Jsonb *jb, const char *key, bool *out);
extern bool jb_get_int32(Jsonb *jb, const char *key, int32 *out);
extern Jsonb *jb_get_object(Jsonb *jb, const char *key);

/*
 * jb_begin_scalar_root starts building a jsonb datum whose root is a
 * scalar (jsonb stores it in a one-element "raw scalar" array): push the
 * scalar with WJB_ELEM, then WJB_END_ARRAY.
 */
extern void jb_begin_scalar_root(JsonbParseState **st);

/*
 * jb_depth_exceeds says whether jb nests arrays and objects deeper than max
 * (a scalar is depth 0, {} and [] depth 1), in one interruptible pass
 * without recursion.
 */
extern bool jb_depth_exceeds(Jsonb *jb, int max);

#endif							/* NOETL_JTREE_H */
