/*-------------------------------------------------------------------------
 *
 * jtree.c
 *	  Small in-memory JSON trees built from JsonbValue.
 *
 * Playbook normalisation rewrites documents: it renames keys, moves values
 * and builds new objects.  Doing that on serialised jsonb would mean one
 * rebuild per edit, so the document is expanded once into a tree of
 * JsonbValue nodes (jbvObject with pairs, jbvArray with elems, scalars),
 * edited in place, and serialised once.  Serialising goes through
 * pushJsonbValue, which sorts keys and drops duplicates as jsonb requires.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "noetl.h"

static JsonbValue *expand_container(JsonbContainer *jc);
static JsonbValue *push_tree(JsonbParseState **st, JsonbIteratorToken tok,
							 JsonbValue *v);

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
			if (v.type == jbvBinary)
				jt_append(result, expand_container(v.val.binary.data));
			else
				jt_append(result, jt_scalar_copy(&v));
		}
		return result;
	}
	Assert(tok == WJB_BEGIN_OBJECT);
	result = jt_object();
	while ((tok = JsonbIteratorNext(&it, &v, true)) == WJB_KEY)
	{
		char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type == jbvBinary)
			jt_set(result, key, expand_container(v.val.binary.data));
		else
			jt_set(result, key, jt_scalar_copy(&v));
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
			pushJsonbValue(st, WJB_KEY, &v->val.object.pairs[i].key);
			push_tree(st, WJB_VALUE, &v->val.object.pairs[i].value);
		}
		return pushJsonbValue(st, WJB_END_OBJECT, NULL);
	}
	if (v->type == jbvArray)
	{
		pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < v->val.array.nElems; i++)
			push_tree(st, WJB_ELEM, &v->val.array.elems[i]);
		return pushJsonbValue(st, WJB_END_ARRAY, NULL);
	}
	if (tok == WJB_DONE)
	{
		/* a scalar at the root is stored as a one-element raw array */
		JsonbValue	arr;

		arr.type = jbvArray;
		arr.val.array.rawScalar = true;
		arr.val.array.nElems = 1;
		arr.val.array.elems = NULL;
		pushJsonbValue(st, WJB_BEGIN_ARRAY, &arr);
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

/*
 * jt_find returns the index of key in obj, or -1.  Objects in playbooks are
 * small, and insertion order is kept for the error messages that name
 * positions, so a linear scan is the right tool.
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
	JsonbPair  *p;

	if (i >= 0)
	{
		obj->val.object.pairs[i].value = *val;
		return;
	}
	i = obj->val.object.nPairs;
	if (i == 0)
		obj->val.object.pairs = palloc(sizeof(JsonbPair) * 8);
	else if ((i & (i - 1)) == 0 && i >= 8)
		obj->val.object.pairs = repalloc(obj->val.object.pairs,
										 sizeof(JsonbPair) * i * 2);
	p = &obj->val.object.pairs[i];
	p->key.type = jbvString;
	p->key.val.string.len = strlen(key);
	p->key.val.string.val = pstrdup(key);
	p->value = *val;
	p->order = i;
	obj->val.object.nPairs++;
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
		c = jt_object();
		for (i = 0; i < v->val.object.nPairs; i++)
		{
			JsonbPair  *p = &v->val.object.pairs[i];
			char	   *key = pnstrdup(p->key.val.string.val, p->key.val.string.len);

			jt_set(c, key, jt_copy(&p->value));
		}
		return c;
	}
	if (v->type == jbvArray)
	{
		c = jt_array();
		for (i = 0; i < v->val.array.nElems; i++)
			jt_append(c, jt_copy(&v->val.array.elems[i]));
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

/*
 * jb_merge returns base with the keys of over laid over it (both objects),
 * or whichever of the two is not an object.  pushJsonbValue keeps the last
 * of equal keys, so pushing base's pairs, then over's, merges in
 * O(n log n).
 */
Jsonb *
jb_merge(Jsonb *base, Jsonb *over)
{
	JsonbParseState *st = NULL;
	JsonbValue *res = NULL;
	Jsonb	   *parts[2];
	int			i;

	if (base == NULL || !JB_ROOT_IS_OBJECT(base))
		return over ? over : base;
	if (over == NULL || !JB_ROOT_IS_OBJECT(over))
		return over ? over : base;
	parts[0] = base;
	parts[1] = over;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < 2; i++)
	{
		JsonbIterator *it = JsonbIteratorInit(&parts[i]->root);
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
