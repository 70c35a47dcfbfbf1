/*-------------------------------------------------------------------------
 *
 * jtree.c
 *	  Small in-memory JSON trees built from JsonbValue, and the helpers for
 *	  jsonb datums: reading keys, merging objects, measuring depth.
 *
 * Playbook normalisation rewrites documents: it renames keys, moves values
 * and builds new objects.  Doing that on serialised jsonb would mean one
 * rebuild per edit, so the document is expanded once into a tree of
 * JsonbValue nodes (jbvObject with pairs, jbvArray with elems, scalars),
 * edited in place, and serialised once.  Serialising goes through
 * pushJsonbValue, which sorts keys and drops duplicates as jsonb requires.
 *
 * Documents can be large (a workload of 100,000 keys), so nothing here is
 * quadratic in their size: expanding and copying append (a tree's keys
 * are unique, so there is nothing to look up), merging sorts, and every
 * loop over a document's elements checks for interrupts.  Looking up one
 * key is a linear scan, which suits the few lookups normalisation makes
 * per object.
 *
 * The same operations on serialised jsonb, for code that reads a datum
 * rather than editing it: jb_find and jb_get read one key (binary search in
 * the container), jb_merge lays one object over another in one pass, and
 * jb_depth_exceeds measures nesting without recursion.  Whoever merges
 * objects, trees or datums, goes through jt_merge or jb_merge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "jtree.h"

static JsonbValue *expand_container(JsonbContainer *jc);
static JsonbValue *push_tree(JsonbParseState **st, JsonbIteratorToken tok,
							 JsonbValue *v);

/* jt_add_pair appends key (not copied) and val to obj, which lacks key */
static void
jt_add_pair(JsonbValue *obj, char *key, int keylen, JsonbValue *val)
{
	int			i = obj->val.object.nPairs;
	JsonbPair  *p;

	Assert(obj->type == jbvObject);
	if (i == 0)
		obj->val.object.pairs = palloc(sizeof(JsonbPair) * 8);
	else if ((i & (i - 1)) == 0 && i >= 8)
		obj->val.object.pairs = repalloc(obj->val.object.pairs,
										 sizeof(JsonbPair) * i * 2);
	p = &obj->val.object.pairs[i];
	p->key.type = jbvString;
	p->key.val.string.len = keylen;
	p->key.val.string.val = key;
	p->value = *val;
	p->order = i;
	obj->val.object.nPairs++;
}

/* jt_scalar_copy returns a palloc'd copy of a scalar JsonbValue */
static JsonbValue *
jt_scalar_copy(const JsonbValue *v)
{
	JsonbValue *c = palloc(sizeof(JsonbValue));

	*c = *v;
	return c;
}

/*
 * expand_container turns a serialised jsonb container into a tree.
 */
static JsonbValue *
expand_container(JsonbContainer *jc)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *result;

	check_stack_depth();
	tok = JsonbIteratorNext(&it, &v, true);
	if (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
	{
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_ELEM);
		return jt_scalar_copy(&v);
	}
	if (tok == WJB_BEGIN_ARRAY)
	{
		result = jt_array();
		while ((tok = JsonbIteratorNext(&it, &v, true)) == WJB_ELEM)
		{
			CHECK_FOR_INTERRUPTS();
			if (v.type == jbvBinary)
				jt_append(result, expand_container(v.val.binary.data));
			else
				jt_append(result, &v);
		}
		return result;
	}
	Assert(tok == WJB_BEGIN_OBJECT);

	/* jsonb keys are unique: append, without looking each one up */
	result = jt_object();
	while ((tok = JsonbIteratorNext(&it, &v, true)) == WJB_KEY)
	{
		char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
		int			keylen = v.val.string.len;

		CHECK_FOR_INTERRUPTS();
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type == jbvBinary)
			jt_add_pair(result, key, keylen, expand_container(v.val.binary.data));
		else
			jt_add_pair(result, key, keylen, &v);
	}
	return result;
}

/*
 * jt_from_jsonb expands a jsonb datum into a tree.
 */
JsonbValue *
jt_from_jsonb(Jsonb *jb)
{
	return expand_container(&jb->root);
}

/*
 * push_tree feeds a tree to pushJsonbValue; tok says whether v is a value
 * of an object, an element of an array, or the root (WJB_DONE).  For the
 * root it returns the finished JsonbValue that pushJsonbValue hands back
 * when the outermost container closes.
 */
static JsonbValue *
push_tree(JsonbParseState **st, JsonbIteratorToken tok, JsonbValue *v)
{
	int			i;

	check_stack_depth();
	if (v->type == jbvObject)
	{
		pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
		for (i = 0; i < v->val.object.nPairs; i++)
		{
			CHECK_FOR_INTERRUPTS();
			pushJsonbValue(st, WJB_KEY, &v->val.object.pairs[i].key);
			push_tree(st, WJB_VALUE, &v->val.object.pairs[i].value);
		}
		return pushJsonbValue(st, WJB_END_OBJECT, NULL);
	}
	if (v->type == jbvArray)
	{
		pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < v->val.array.nElems; i++)
		{
			CHECK_FOR_INTERRUPTS();
			push_tree(st, WJB_ELEM, &v->val.array.elems[i]);
		}
		return pushJsonbValue(st, WJB_END_ARRAY, NULL);
	}
	if (tok == WJB_DONE)
	{
		/* a scalar at the root is stored as a one-element raw array */
		jb_begin_scalar_root(st);
		pushJsonbValue(st, WJB_ELEM, v);
		return pushJsonbValue(st, WJB_END_ARRAY, NULL);
	}
	return pushJsonbValue(st, tok, v);
}

/*
 * jt_to_jsonb serialises a tree.
 */
Jsonb *
jt_to_jsonb(JsonbValue *v)
{
	JsonbParseState *st = NULL;

	if (v->type == jbvBinary)
		return JsonbValueToJsonb(v);
	return JsonbValueToJsonb(push_tree(&st, WJB_DONE, v));
}

/* jt_object returns a new empty object */
JsonbValue *
jt_object(void)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvObject;
	return v;
}

/* jt_array returns a new empty array */
JsonbValue *
jt_array(void)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvArray;
	return v;
}

/* jt_string returns a new string value holding a copy of s */
JsonbValue *
jt_string(const char *s)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvString;
	v->val.string.len = strlen(s);
	v->val.string.val = pstrdup(s);
	return v;
}

/* jt_int makes an integer value */
JsonbValue *
jt_int(int64 i)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(i);
	return v;
}

/* jt_bool makes a boolean value */
JsonbValue *
jt_bool(bool b)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvBool;
	v->val.boolean = b;
	return v;
}

/* jt_null makes a null value */
JsonbValue *
jt_null(void)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));

	v->type = jbvNull;
	return v;
}

/*
 * jt_find returns the index of key in obj, or -1.  Normalisation looks up
 * a handful of known keys per object, and insertion order is kept for the
 * error messages that name positions, so a linear scan is the right tool;
 * loops over the keys of an object use jt_merge, which sorts.
 */
static int
jt_find(JsonbValue *obj, const char *key)
{
	int			len = strlen(key);
	int			i;

	Assert(obj->type == jbvObject);
	for (i = obj->val.object.nPairs - 1; i >= 0; i--)
	{
		JsonbValue *k = &obj->val.object.pairs[i].key;

		if (k->val.string.len == len &&
			memcmp(k->val.string.val, key, len) == 0)
			return i;
	}
	return -1;
}

/* jt_get returns the value of key in obj, or NULL if obj is no object or lacks key */
JsonbValue *
jt_get(JsonbValue *obj, const char *key)
{
	int			i;

	if (obj == NULL || obj->type != jbvObject)
		return NULL;
	i = jt_find(obj, key);
	return i < 0 ? NULL : &obj->val.object.pairs[i].value;
}

/* jt_set sets key in obj to a copy of the node val (replacing an existing key) */
void
jt_set(JsonbValue *obj, const char *key, JsonbValue *val)
{
	int			i = jt_find(obj, key);

	if (i >= 0)
	{
		obj->val.object.pairs[i].value = *val;
		return;
	}
	jt_add_pair(obj, pstrdup(key), strlen(key), val);
}

/* jt_delete removes key from obj; returns whether it was there */
bool
jt_delete(JsonbValue *obj, const char *key)
{
	int			i = jt_find(obj, key);

	if (i < 0)
		return false;
	memmove(&obj->val.object.pairs[i], &obj->val.object.pairs[i + 1],
			sizeof(JsonbPair) * (obj->val.object.nPairs - i - 1));
	obj->val.object.nPairs--;
	return true;
}

/* jt_append appends a copy of the node val to arr */
void
jt_append(JsonbValue *arr, JsonbValue *val)
{
	int			n = arr->val.array.nElems;

	Assert(arr->type == jbvArray);
	if (n == 0)
		arr->val.array.elems = palloc(sizeof(JsonbValue) * 8);
	else if ((n & (n - 1)) == 0 && n >= 8)
		arr->val.array.elems = repalloc(arr->val.array.elems,
										sizeof(JsonbValue) * n * 2);
	arr->val.array.elems[n] = *val;
	arr->val.array.nElems++;
}

/* jt_copy returns a deep copy of a tree */
JsonbValue *
jt_copy(JsonbValue *v)
{
	JsonbValue *c;
	int			i;

	check_stack_depth();
	if (v->type == jbvObject)
	{
		/* the keys of a tree are unique: append */
		c = jt_object();
		for (i = 0; i < v->val.object.nPairs; i++)
		{
			JsonbPair  *p = &v->val.object.pairs[i];

			CHECK_FOR_INTERRUPTS();
			jt_add_pair(c, pnstrdup(p->key.val.string.val, p->key.val.string.len),
						p->key.val.string.len, jt_copy(&p->value));
		}
		return c;
	}
	if (v->type == jbvArray)
	{
		c = jt_array();
		for (i = 0; i < v->val.array.nElems; i++)
		{
			CHECK_FOR_INTERRUPTS();
			jt_append(c, jt_copy(&v->val.array.elems[i]));
		}
		return c;
	}
	return jt_scalar_copy(v);
}

/* jt_cstring returns a string value as a C string, or NULL if v is no string */
char *
jt_cstring(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* jt_is_string says whether v is the string s */
bool
jt_is_string(JsonbValue *v, const char *s)
{
	return v != NULL && v->type == jbvString &&
		v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

/* jt_type_name names the JSON type of v for error messages */
const char *
jt_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		default:
			return "value";
	}
}

/* ---------------------------------------------------------------- merging */

typedef struct JtKeyRef
{
	const char *key;
	int			len;
	int			index;			/* position in its object */
} JtKeyRef;

/* jt_keyref_cmp orders keys as bytes, then by length */
static int
jt_keyref_cmp(const void *a, const void *b)
{
	const JtKeyRef *x = a;
	const JtKeyRef *y = b;
	int			c = memcmp(x->key, y->key, Min(x->len, y->len));

	if (c != 0)
		return c;
	return x->len - y->len;
}

/*
 * jt_merge lays the pairs of the object over onto the object base: a key
 * base already has gets over's value (or keeps its own, if keep_base), the
 * others are appended in over's order.  Returns the index in over of the
 * first of its keys that base already had, or -1.  Sorting base's keys
 * once makes it O((n + m) log n).
 */
int
jt_merge(JsonbValue *base, JsonbValue *over, bool keep_base)
{
	int			n = base->val.object.nPairs;
	int			m = over->val.object.nPairs;
	JtKeyRef   *sorted = palloc(sizeof(JtKeyRef) * Max(n, 1));
	int			first = -1;
	int			i;

	Assert(base->type == jbvObject && over->type == jbvObject);
	for (i = 0; i < n; i++)
	{
		sorted[i].key = base->val.object.pairs[i].key.val.string.val;
		sorted[i].len = base->val.object.pairs[i].key.val.string.len;
		sorted[i].index = i;
	}
	qsort(sorted, n, sizeof(JtKeyRef), jt_keyref_cmp);
	for (i = 0; i < m; i++)
	{
		JsonbPair  *p = &over->val.object.pairs[i];
		JtKeyRef	k;
		JtKeyRef   *hit;

		CHECK_FOR_INTERRUPTS();
		k.key = p->key.val.string.val;
		k.len = p->key.val.string.len;
		hit = bsearch(&k, sorted, n, sizeof(JtKeyRef), jt_keyref_cmp);
		if (hit != NULL)
		{
			if (first < 0)
				first = i;
			if (!keep_base)
				base->val.object.pairs[hit->index].value = p->value;
		}
		else
			jt_add_pair(base, pnstrdup(k.key, k.len), k.len, &p->value);
	}
	pfree(sorted);
	return first;
}

/*
 * jb_begin_scalar_root starts a jsonb datum whose root is a scalar: jsonb
 * keeps it in a one-element "raw scalar" array, so the scalar follows as
 * WJB_ELEM and WJB_END_ARRAY ends it.
 */
void
jb_begin_scalar_root(JsonbParseState **st)
{
	JsonbValue	arr;

	arr.type = jbvArray;
	arr.val.array.rawScalar = true;
	arr.val.array.nElems = 1;
	arr.val.array.elems = NULL;
	pushJsonbValue(st, WJB_BEGIN_ARRAY, &arr);
}

/*
 * jb_merge returns the object base with the keys of the object over laid
 * over it (over's value wins).  If either is not an object, the result is
 * over, or base when over is NULL.  pushJsonbValue keeps the last of
 * duplicate keys and sorts them once, so this is O((n + m) log(n + m)).
 */
Jsonb *
jb_merge(Jsonb *base, Jsonb *over)
{
	JsonbParseState *st = NULL;
	JsonbValue *res = NULL;
	Jsonb	   *parts[2];
	int			k;

	if (base == NULL || over == NULL || !JB_ROOT_IS_OBJECT(base) ||
		!JB_ROOT_IS_OBJECT(over))
		return over != NULL ? over : base;
	parts[0] = base;
	parts[1] = over;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (k = 0; k < 2; k++)
	{
		JsonbIterator *it = JsonbIteratorInit(&parts[k]->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (tok == WJB_KEY || tok == WJB_VALUE)
				pushJsonbValue(&st, tok, &v);
		}
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* ---------------------------------------------------------------- keys */

/*
 * jb_find returns the value of key (keylen bytes) in the container jc, or
 * NULL when jc is not an object or has no such key.  Containers come back
 * as jbvBinary values pointing into jc.
 */
JsonbValue *
jb_find(JsonbContainer *jc, const char *key, int keylen)
{
	JsonbValue	k;

	if (jc == NULL || !JsonContainerIsObject(jc))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	return findJsonbValueFromContainer(jc, JB_FOBJECT, &k);
}

/* jb_get returns the value of key in the jsonb datum jb (NULL: none) */
JsonbValue *
jb_get(Jsonb *jb, const char *key)
{
	if (jb == NULL)
		return NULL;
	return jb_find(&jb->root, key, strlen(key));
}

/* jb_get_bool reads a boolean key of jb; false if absent or not a boolean */
bool
jb_get_bool(Jsonb *jb, const char *key, bool *out)
{
	JsonbValue *v = jb_get(jb, key);

	if (v == NULL || v->type != jbvBool)
		return false;
	*out = v->val.boolean;
	return true;
}

/*
 * jb_get_int32 reads a numeric key of jb as numeric_int4 converts it
 * (rounded; an error beyond int32); false if absent or not a number.
 */
bool
jb_get_int32(Jsonb *jb, const char *key, int32 *out)
{
	JsonbValue *v = jb_get(jb, key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetInt32(DirectFunctionCall1(numeric_int4,
											 NumericGetDatum(v->val.numeric)));
	return true;
}

/*
 * jb_get_object returns the value of key in jb as a jsonb datum of its own
 * if it is an object, else NULL.
 */
Jsonb *
jb_get_object(Jsonb *jb, const char *key)
{
	JsonbValue *v = jb_get(jb, key);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return JsonbValueToJsonb(v);
}

/*
 * jb_depth_exceeds says whether jb nests arrays and objects more than max
 * deep (a scalar has depth 0, [] and {} depth 1, [[]] depth 2).  It walks
 * the datum once, without recursion.
 */
bool
jb_depth_exceeds(Jsonb *jb, int max)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	uint32		n = 0;

	if (JB_ROOT_IS_SCALAR(jb))
		return false;
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((++n & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > max)
				return true;
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
	return false;
}
