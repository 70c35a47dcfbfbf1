/*-------------------------------------------------------------------------
 *
 * tpl_value.c
 *	  Python values for the template engine.
 *
 * Jinja2 evaluates templates as Python: its values are Python's int (of
 * any size), float, str, bool, None, list and dict, plus Jinja2's
 * Undefined, and its operators are Python's.  This file gives the engine
 * those values and the operations whose results Jinja2 users can see:
 * str() and repr() (what {{ x }} prints), truthiness, ==, ordering,
 * arithmetic, json.dumps (the tojson filter), and the conversions from
 * and to jsonb.
 *
 * Integers are int64 until an operation overflows, then numeric.  A JSON
 * number is a float when its jsonb numeric has digits after the point
 * (1.0) and an int otherwise (1, and also 1e3, which jsonb stores as
 * 1000).  Mappings and lists read from jsonb stay inside their container
 * until their elements are needed.  Strings are UTF-8; lengths and
 * indexes count code points, as Python's do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <math.h>

#include "common/hashfn.h"
#include "common/int.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jtree.h"
#include "pynum.h"
#include "template.h"

/* largest integer result, in decimal digits, that ** may produce */
#define MAX_INT_DIGITS PY_INT_MAX_DIGITS

/* a TVal is one 64-byte chunk: values are many */
StaticAssertDecl(sizeof(TVal) <= 64, "TVal grew beyond 64 bytes");

static TVal *
tv_new(TVKind kind)
{
	TVal	   *v = palloc0(sizeof(TVal));

	v->kind = kind;
	return v;
}

TVal *
tv_undef(const char *hint)
{
	TVal	   *v = tv_new(TV_UNDEF);

	v->u.undef.hint = hint;
	return v;
}

TVal *
tv_none(void)
{
	return tv_new(TV_NONE);
}

TVal *
tv_bool(bool b)
{
	TVal	   *v = tv_new(TV_BOOL);

	v->u.b = b;
	return v;
}

TVal *
tv_int(int64 i)
{
	TVal	   *v = tv_new(TV_INT);

	v->u.i = i;
	return v;
}

TVal *
tv_float(double f)
{
	TVal	   *v = tv_new(TV_FLOAT);

	v->u.f = f;
	return v;
}

TVal *
tv_str(const char *p, int len)
{
	TVal	   *v = tv_new(TV_STR);

	v->u.s.p = p;
	v->u.s.len = len;
	return v;
}

TVal *
tv_cstr(const char *s)
{
	return tv_str(s, strlen(s));
}

TVal *
tv_list(TVal **items, int n)
{
	TVal	   *v = tv_new(TV_LIST);

	v->u.list.items = items;
	v->u.list.n = n;
	return v;
}

TVal *
tv_dict_new(void)
{
	return tv_new(TV_DICT);
}

/*
 * tv_buf_init initialises a StringInfo for a value of about size bytes:
 * initStringInfo's 1 kB per value adds up when a filter makes a string per
 * element.
 */
void
tv_buf_init(StringInfo buf, int size)
{
	buf->maxlen = Max(size + 1, 16);
	buf->data = palloc(buf->maxlen);
	buf->data[0] = '\0';
	buf->len = 0;
	buf->cursor = 0;
}

/*
 * num_datum returns an int or big value as a numeric datum.
 */
static Datum
num_datum(TVal *v)
{
	if (v->kind == TV_BIG)
		return NumericGetDatum(v->u.big);
	if (v->kind == TV_BOOL)
		return DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.b ? 1 : 0));
	return DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.i));
}

/*
 * charge_numeric charges an operation on the numerics x and y: in
 * proportion to their size, or (multiplication, division) to the product
 * of their sizes.
 */
static void
charge_numeric(Datum x, Datum y, bool quadratic)
{
	Size		a = VARSIZE_ANY(DatumGetPointer(x));
	Size		b = VARSIZE_ANY(DatumGetPointer(y));

	if (quadratic)
		tpl_charge((int64) (a * b / 256));
	else
		tpl_charge_bytes(a + b);
}

/*
 * tv_big returns an integral numeric as an int value, as int64 when it fits.
 */
TVal *
tv_big(Numeric n)
{
	char	   *txt;
	char	   *end;
	int64		i;
	TVal	   *v;

	charge_numeric(NumericGetDatum(n), NumericGetDatum(n), false);
	txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));

	errno = 0;
	i = strtoll(txt, &end, 10);
	if (errno == 0 && *end == '\0')
		return tv_int(i);
	v = tv_new(TV_BIG);
	v->u.big = n;
	return v;
}

/*
 * tv_from_py_int returns the value of an int that py_int_parse read: an
 * int64 when it fits, else a numeric.  Converting to decimal is quadratic
 * in the digits, so it is charged before it is done.
 */
TVal *
tv_from_py_int(const PyIntText *t)
{
	int64		i;
	double		ndec;
	StringInfoData buf;

	if (py_int_to_int64(t, &i))
		return tv_int(i);
	ndec = py_int_decimal_digits(t);
	tpl_charge((int64) (t->ndigits * ndec / 256));
	tv_buf_init(&buf, (int) ndec + 2);
	py_int_to_decimal(t, &buf);
	return tv_big(DatumGetNumeric(DirectFunctionCall3(numeric_in,
													  CStringGetDatum(buf.data),
													  ObjectIdGetDatum(InvalidOid),
													  Int32GetDatum(-1))));
}

/*
 * tv_from_numeric classifies a jsonb number: a float if it has digits
 * after the point, else an int.
 */
static TVal *
tv_from_numeric(Numeric n)
{
	int32		scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(n)));

	if (scale > 0)
		return tv_float(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														   NumericGetDatum(n))));
	return tv_big(n);
}

/*
 * tv_from_jsonb_value converts a jsonb value; containers stay lazy.
 */
TVal *
tv_from_jsonb_value(JsonbValue *jv)
{
	TVal	   *v;

	switch (jv->type)
	{
		case jbvNull:
			return tv_none();
		case jbvBool:
			return tv_bool(jv->val.boolean);
		case jbvNumeric:
			return tv_from_numeric(jv->val.numeric);
		case jbvString:
			return tv_str(jv->val.string.val, jv->val.string.len);
		case jbvBinary:
			if (JsonContainerIsArray(jv->val.binary.data))
			{
				v = tv_new(TV_LIST);
				v->u.list.jc = jv->val.binary.data;
				v->u.list.jclen = jv->val.binary.len;
				v->u.list.n = JsonContainerSize(jv->val.binary.data);
			}
			else
			{
				v = tv_new(TV_DICT);
				v->u.dict.jc = jv->val.binary.data;
				v->u.dict.jclen = jv->val.binary.len;
				v->u.dict.n = JsonContainerSize(jv->val.binary.data);
			}
			return v;
		case jbvArray:
			{
				TVal	  **items = palloc(sizeof(TVal *) * Max(jv->val.array.nElems, 1));
				int			i;

				for (i = 0; i < jv->val.array.nElems; i++)
				{
					tpl_charge(1);
					items[i] = tv_from_jsonb_value(&jv->val.array.elems[i]);
				}
				return tv_list(items, jv->val.array.nElems);
			}
		case jbvObject:
			{
				int			i;

				v = tv_dict_new();
				for (i = 0; i < jv->val.object.nPairs; i++)
					tv_dict_set(v, tv_from_jsonb_value(&jv->val.object.pairs[i].key),
								tv_from_jsonb_value(&jv->val.object.pairs[i].value));
				return v;
			}
		default:
			elog(ERROR, "unexpected jsonb value type %d", jv->type);
	}
	return NULL;
}

/*
 * tv_from_jsonb converts a jsonb datum.
 */
TVal *
tv_from_jsonb(Jsonb *jb)
{
	JsonbValue	jv;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		(void) JsonbExtractScalar(&jb->root, &jv);
		return tv_from_jsonb_value(&jv);
	}
	jv.type = jbvBinary;
	jv.val.binary.data = &jb->root;
	jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return tv_from_jsonb_value(&jv);
}

/*
 * tv_materialize turns a lazy list or dict into one with its own items.
 * The items are allocated where v is (v may be a value the broker keeps
 * beyond this rendering), and charged one step each.
 */
void
tv_materialize(TVal *v)
{
	TplOwner	o;

	if (v->kind == TV_LIST && v->u.list.jc != NULL)
	{
		JsonbContainer *jc = v->u.list.jc;
		int			n = v->u.list.n;
		TVal	  **items;
		JsonbIterator *it;
		JsonbValue	jv;
		JsonbIteratorToken tok;
		int			i = 0;

		tpl_reserve((Size) n * (sizeof(TVal *) + sizeof(TVal)));
		tpl_owner_enter(&o, v);
		items = palloc(sizeof(TVal *) * Max(n, 1));
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
			{
				tpl_charge(1);
				items[i++] = tv_from_jsonb_value(&jv);
			}
		v->u.list.items = items;
		v->u.list.n = i;
		v->u.list.jc = NULL;
		tpl_owner_leave(&o);
	}
	else if (v->kind == TV_DICT && v->u.dict.jc != NULL)
	{
		JsonbContainer *jc = v->u.dict.jc;
		int			n = v->u.dict.n;
		JsonbIterator *it;
		JsonbValue	jv;
		JsonbIteratorToken tok;
		int			i = 0;

		tpl_reserve((Size) n * 2 * (sizeof(TVal *) + sizeof(TVal)));
		tpl_owner_enter(&o, v);
		v->u.dict.keys = palloc(sizeof(TVal *) * Max(n, 1));
		v->u.dict.vals = palloc(sizeof(TVal *) * Max(n, 1));
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				tpl_charge(1);
				v->u.dict.keys[i] = tv_str(jv.val.string.val, jv.val.string.len);
			}
			else if (tok == WJB_VALUE)
				v->u.dict.vals[i++] = tv_from_jsonb_value(&jv);
		}
		v->u.dict.n = i;
		v->u.dict.jc = NULL;
		tpl_owner_leave(&o);
	}
}

/* py_strlen counts the code points of a UTF-8 string */
int
py_strlen(const char *p, int len)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* py_char_at returns the index'th code point of p, and its byte length */
const char *
py_char_at(const char *p, int len, int index, int *clen)
{
	int			i = 0;
	int			k = 0;

	while (i < len)
	{
		int			l = pg_utf_mblen((const unsigned char *) p + i);

		if (k == index)
		{
			*clen = Min(l, len - i);
			return p + i;
		}
		i += l;
		k++;
	}
	*clen = 0;
	return NULL;
}

/*
 * tv_len is Python's len(); an Undefined has length 0.
 */
int
tv_len(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
			return 0;
		case TV_STR:
			tpl_charge_bytes(v->u.s.len);
			return py_strlen(v->u.s.p, v->u.s.len);
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				tv_fail("object of type 'generator' has no len()");
			return v->u.list.n;
		case TV_DICT:
			return v->u.dict.n;
		case TV_RANGE:
			{
				int64		lo = v->u.range.start;
				int64		hi = v->u.range.stop;
				int64		st = v->u.range.step;
				int64		n;

				if (st > 0)
					n = lo < hi ? (hi - lo - 1) / st + 1 : 0;
				else
					n = lo > hi ? (lo - hi - 1) / (-st) + 1 : 0;
				if (n > INT_MAX)
					tv_fail("range is too long");
				return (int) n;
			}
		default:
			tv_fail("object of type '%s' has no len()", tv_type_name(v));
	}
	return 0;
}

/*
 * tv_list_get returns element i (0 <= i < len) of a list or range.
 */
TVal *
tv_list_get(TVal *v, int i)
{
	if (v->kind == TV_RANGE)
		return tv_int(v->u.range.start + (int64) i * v->u.range.step);
	Assert(v->kind == TV_LIST);
	if (v->u.list.jc != NULL)
		return tv_from_jsonb_value(getIthJsonbValueFromContainer(v->u.list.jc, i));
	return v->u.list.items[i];
}

/*
 * key_hashable checks that a value can be a dict key.
 */
static void
key_hashable(TVal *key)
{
	if (key->kind == TV_LIST || key->kind == TV_DICT)
		tv_fail("unhashable type: '%s'", tv_type_name(key));
}

/* ------------------------------------------------------------ dict index */

/*
 * Dicts of more than DICT_INDEX_MIN keys are looked up through a hash
 * index, built on the first lookup and kept up to date by tv_dict_set, so
 * that building or reading a large dict key by key is linear.  The keys
 * array keeps Python's insertion order and first spelling; the index maps
 * a hash to positions in it, by open addressing.  The hash agrees with
 * Python's ==: 1, 1.0 and True hash alike, and so do an int beyond 64 bits
 * and a float that might equal it (those share one chain).
 *
 * The same struct records the room in keys and vals, so that a TVal stays
 * 64 bytes: a dict without it (new, or read from jsonb) has room for
 * exactly n.
 */
#define DICT_INDEX_MIN 8

typedef struct TDictIndex
{
	int			cap;			/* room in keys and vals */
	int			size;			/* slots: a power of two, over twice n; 0
								 * while not hashed */
	int32	   *pos;			/* 1 + position in keys, or 0 for empty */
	uint32	   *hash;			/* hash of the key in each slot */
} TDictIndex;

/* dict_extra returns the index struct of a dict, made on first use */
static TDictIndex *
dict_extra(TVal *d)
{
	if (d->u.dict.index == NULL)
	{
		TplOwner	o;

		tpl_owner_enter(&o, d);
		d->u.dict.index = palloc0(sizeof(TDictIndex));
		d->u.dict.index->cap = d->u.dict.n;
		tpl_owner_leave(&o);
	}
	return d->u.dict.index;
}

/* tv_key_hash hashes a (hashable) key consistently with tv_equal */
static uint32
tv_key_hash(TVal *k)
{
	int64		i;

	switch (k->kind)
	{
		case TV_STR:
			tpl_charge_bytes(k->u.s.len);
			return hash_bytes((const unsigned char *) k->u.s.p, k->u.s.len);
		case TV_BOOL:
			i = k->u.b ? 1 : 0;
			break;
		case TV_INT:
			i = k->u.i;
			break;
		case TV_FLOAT:
			if (isnan(k->u.f))
				return 0x7ff80000;
			if (k->u.f != trunc(k->u.f))
				return hash_bytes((const unsigned char *) &k->u.f, sizeof(double));
			if (!(k->u.f >= -9223372036854775808.0 && k->u.f < 9223372036854775808.0))
				return 0x5bd1e995;	/* beside ints beyond 64 bits */
			i = (int64) k->u.f;
			break;
		case TV_BIG:
			return 0x5bd1e995;
		case TV_LOOP:
			/* equal only to itself */
			return hash_bytes((const unsigned char *) &k, sizeof(k));
		default:
			/* None, Undefined, ranges: few, one chain each kind */
			return (uint32) k->kind;
	}
	return hash_bytes((const unsigned char *) &i, sizeof(i));
}

/* tv_key_equal is Python's == of two keys, with a quick path for strings */
static inline bool
tv_key_equal(TVal *a, TVal *b)
{
	if (a->kind == TV_STR && b->kind == TV_STR)
		return a->u.s.len == b->u.s.len &&
			memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
	return tv_equal(a, b);
}

/* dict_index_put records position i, whose key hashes to h */
static void
dict_index_put(TDictIndex *ix, uint32 h, int i)
{
	int			slot = h & (ix->size - 1);

	while (ix->pos[slot] != 0)
		slot = (slot + 1) & (ix->size - 1);
	ix->pos[slot] = i + 1;
	ix->hash[slot] = h;
}

/*
 * dict_index_build (re)builds the index of a materialised dict, with room
 * for want keys, in the memory context that owns the dict.
 */
static void
dict_index_build(TVal *d, int want)
{
	TplOwner	o;
	TDictIndex *ix = dict_extra(d);
	int			size = 16;
	int			i;

	while (size < 2 * want)
		size *= 2;
	tpl_reserve((Size) size * (sizeof(int32) + sizeof(uint32)));
	if (ix->size > 0)
	{
		pfree(ix->pos);
		pfree(ix->hash);
	}
	tpl_owner_enter(&o, d);
	ix->size = size;
	ix->pos = palloc0(sizeof(int32) * size);
	ix->hash = palloc(sizeof(uint32) * size);
	tpl_owner_leave(&o);
	for (i = 0; i < d->u.dict.n; i++)
	{
		tpl_charge(1);
		dict_index_put(ix, tv_key_hash(d->u.dict.keys[i]), i);
	}
}

/*
 * dict_find returns the position of key in a materialised dict, or -1;
 * *hash receives the key's hash when the dict is indexed.
 */
static int
dict_find(TVal *d, TVal *key, uint32 *hash)
{
	TDictIndex *ix;
	int			slot;
	uint32		h;
	int			i;

	if (d->u.dict.n <= DICT_INDEX_MIN &&
		(d->u.dict.index == NULL || d->u.dict.index->size == 0))
	{
		for (i = 0; i < d->u.dict.n; i++)
			if (tv_key_equal(d->u.dict.keys[i], key))
				return i;
		return -1;
	}
	if (d->u.dict.index == NULL || d->u.dict.index->size == 0)
		dict_index_build(d, d->u.dict.n);
	ix = d->u.dict.index;
	h = tv_key_hash(key);
	*hash = h;
	for (slot = h & (ix->size - 1); ix->pos[slot] != 0; slot = (slot + 1) & (ix->size - 1))
	{
		i = ix->pos[slot] - 1;
		if (ix->hash[slot] == h && tv_key_equal(d->u.dict.keys[i], key))
			return i;
	}
	return -1;
}

/*
 * tv_dict_lookup finds key in a dict with Python's key equality.  A
 * computed dict's lookup function runs in the memory context that owns the
 * dict, so that what it builds and keeps lives as long as the dict.
 */
TVal *
tv_dict_lookup(TVal *d, TVal *key, bool *found)
{
	int			i;
	uint32		h;

	*found = false;
	tpl_charge(1);
	if (d->u.dict.lookup != NULL)
	{
		TVal	   *v;
		TplOwner	o;

		if (key->kind != TV_STR)
			return NULL;
		tpl_owner_enter(&o, d);
		v = d->u.dict.lookup(d->u.dict.lookup_arg, key->u.s.p, key->u.s.len);
		tpl_owner_leave(&o);
		*found = v != NULL;
		return v;
	}
	if (d->u.dict.jc != NULL)
	{
		JsonbValue *hit;

		if (key->kind != TV_STR)
			return NULL;		/* jsonb keys are strings */
		hit = jb_find(d->u.dict.jc, key->u.s.p, key->u.s.len);
		if (hit == NULL)
			return NULL;
		*found = true;
		return tv_from_jsonb_value(hit);
	}
	i = dict_find(d, key, &h);
	if (i < 0)
		return NULL;
	*found = true;
	return d->u.dict.vals[i];
}

/* tv_dict_get_str looks a string key up */
TVal *
tv_dict_get_str(TVal *d, const char *key, int keylen)
{
	TVal		k;
	bool		found;
	TVal	   *v;

	memset(&k, 0, sizeof(k));
	k.kind = TV_STR;
	k.u.s.p = key;
	k.u.s.len = keylen;
	v = tv_dict_lookup(d, &k, &found);
	return found ? v : NULL;
}

/*
 * tv_dict_set sets key in a (materialised) dict; a key that is already
 * there keeps its place and spelling, as in Python.
 */
void
tv_dict_set(TVal *d, TVal *key, TVal *val)
{
	int			i;
	uint32		h = 0;
	TDictIndex *ix;

	tv_materialize(d);
	key_hashable(key);
	tpl_charge(1);
	i = dict_find(d, key, &h);
	if (i >= 0)
	{
		d->u.dict.vals[i] = val;
		return;
	}
	i = d->u.dict.n;
	ix = dict_extra(d);
	if (i == ix->cap)
	{
		TplOwner	o;
		int			cap = Max(8, i * 2);

		tpl_reserve((Size) cap * 2 * sizeof(TVal *));
		tpl_owner_enter(&o, d);
		d->u.dict.keys = d->u.dict.keys ? repalloc(d->u.dict.keys, sizeof(TVal *) * cap)
			: palloc(sizeof(TVal *) * cap);
		d->u.dict.vals = d->u.dict.vals ? repalloc(d->u.dict.vals, sizeof(TVal *) * cap)
			: palloc(sizeof(TVal *) * cap);
		ix->cap = cap;
		tpl_owner_leave(&o);
	}
	d->u.dict.keys[i] = key;
	d->u.dict.vals[i] = val;
	d->u.dict.n++;
	if (ix->size > 0)
	{
		if (2 * d->u.dict.n > ix->size)
			dict_index_build(d, 2 * d->u.dict.n);
		else
			dict_index_put(ix, h, i);
	}
	else if (d->u.dict.n > DICT_INDEX_MIN)
		dict_index_build(d, 2 * d->u.dict.n);
}

/*
 * tv_dict_update lays the pairs of the dict from over the dict d, as
 * Python's d.update(from) does: a key d has takes from's value and keeps
 * its place, the others are added in from's order.  Linear: d is hashed.
 */
void
tv_dict_update(TVal *d, TVal *from)
{
	int			i;

	tv_materialize(from);
	for (i = 0; i < from->u.dict.n; i++)
		tv_dict_set(d, from->u.dict.keys[i], from->u.dict.vals[i]);
}

/*
 * tv_iter_items returns what "for x in v" iterates over: list elements,
 * dict keys, characters of a string, range members; nothing for Undefined.
 */
TVal *
tv_iter_items(TVal *v, int *n)
{
	TVal	   *out;
	int			i;

	switch (v->kind)
	{
		case TV_UNDEF:
			*n = 0;
			return tv_list(NULL, 0);
		case TV_LIST:
			tv_materialize(v);
			*n = v->u.list.n;
			return v;
		case TV_DICT:
			tv_materialize(v);
			*n = v->u.dict.n;
			return tv_list(v->u.dict.keys, v->u.dict.n);
		case TV_STR:
			{
				int			count = py_strlen(v->u.s.p, v->u.s.len);
				TVal	  **items;
				int			k = 0;

				tpl_reserve((Size) count * (sizeof(TVal *) + sizeof(TVal)));
				items = palloc(sizeof(TVal *) * Max(count, 1));
				for (i = 0; i < v->u.s.len;)
				{
					int			l = Min(pg_utf_mblen((const unsigned char *) v->u.s.p + i),
										v->u.s.len - i);

					tpl_charge(1);
					items[k++] = tv_str(v->u.s.p + i, l);
					i += l;
				}
				*n = k;
				return tv_list(items, k);
			}
		case TV_RANGE:
			{
				int			count = tv_len(v);
				TVal	  **items;

				tpl_reserve((Size) count * (sizeof(TVal *) + sizeof(TVal)));
				items = palloc(sizeof(TVal *) * Max(count, 1));
				for (i = 0; i < count; i++)
				{
					tpl_charge(1);
					items[i] = tv_int(v->u.range.start + (int64) i * v->u.range.step);
				}
				*n = count;
				out = tv_list(items, count);
				return out;
			}
		default:
			tv_fail("'%s' object is not iterable", tv_type_name(v));
	}
	return NULL;
}

/*
 * tv_type_name is the Python type name of a value.
 */
const char *
tv_type_name(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
			return "Undefined";
		case TV_NONE:
			return "NoneType";
		case TV_BOOL:
			return "bool";
		case TV_INT:
		case TV_BIG:
			return "int";
		case TV_FLOAT:
			return "float";
		case TV_STR:
			return (v->flags & TVF_MARKUP) ? "Markup" : "str";
		case TV_LIST:
			return (v->flags & TVF_GENERATOR) ? "generator" : "list";
		case TV_DICT:
			return "dict";
		case TV_RANGE:
			return "range";
		case TV_LOOP:
			return "LoopContext";
	}
	return "object";
}

bool
tv_is_number(TVal *v)
{
	return v->kind == TV_BOOL || v->kind == TV_INT || v->kind == TV_BIG || v->kind == TV_FLOAT;
}

static bool
is_int(TVal *v)
{
	return v->kind == TV_BOOL || v->kind == TV_INT || v->kind == TV_BIG;
}

/* int64 value of a bool or int */
static int64
int_of(TVal *v)
{
	return v->kind == TV_BOOL ? (v->u.b ? 1 : 0) : v->u.i;
}

/*
 * tv_to_double converts a number to float as Python's float() does.
 */
double
tv_to_double(TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			return v->u.b ? 1.0 : 0.0;
		case TV_INT:
			return (double) v->u.i;
		case TV_FLOAT:
			return v->u.f;
		case TV_BIG:
			{
				char	   *txt;
				double		d;

				charge_numeric(NumericGetDatum(v->u.big), NumericGetDatum(v->u.big), false);
				txt = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->u.big)));
				d = strtod(txt, NULL);

				if (isinf(d))
					tv_fail("int too large to convert to float");
				return d;
			}
		default:
			tv_fail("must be real number, not %s", tv_type_name(v));
	}
	return 0;
}

/*
 * tv_truthy is Python's bool().
 */
bool
tv_truthy(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
		case TV_NONE:
			return false;
		case TV_BOOL:
			return v->u.b;
		case TV_INT:
			return v->u.i != 0;
		case TV_BIG:
			return true;
		case TV_FLOAT:
			return v->u.f != 0.0;
		case TV_STR:
			return v->u.s.len > 0;
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				return true;
			return v->u.list.n > 0;
		case TV_DICT:
			return v->u.dict.n > 0;
		case TV_RANGE:
			return tv_len(v) > 0;
		case TV_LOOP:
			return true;
	}
	return true;
}

/*
 * cmp_int_double compares an int64 with a double exactly; returns 2 when
 * the double is NaN.
 */
static int
cmp_int_double(int64 i, double d)
{
	double		t;

	if (isnan(d))
		return 2;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = trunc(d);
	if ((int64) t != i)
		return i < (int64) t ? -1 : 1;
	if (d > t)
		return -1;
	if (d < t)
		return 1;
	return 0;
}

/*
 * num_cmp compares two numbers exactly; 2 means unordered (NaN).
 */
static int
num_cmp(TVal *a, TVal *b)
{
	if (a->kind == TV_FLOAT && b->kind == TV_FLOAT)
	{
		if (isnan(a->u.f) || isnan(b->u.f))
			return 2;
		return a->u.f < b->u.f ? -1 : (a->u.f > b->u.f ? 1 : 0);
	}
	if (a->kind == TV_FLOAT || b->kind == TV_FLOAT)
	{
		TVal	   *iv = a->kind == TV_FLOAT ? b : a;
		double		d = a->kind == TV_FLOAT ? a->u.f : b->u.f;
		int			c;

		if (iv->kind == TV_BIG)
		{
			double		id = tv_to_double(iv);

			if (isnan(d))
				return 2;
			c = id < d ? -1 : (id > d ? 1 : 0);
		}
		else
			c = cmp_int_double(int_of(iv), d);
		if (c == 2)
			return 2;
		return a->kind == TV_FLOAT ? -c : c;
	}
	if (a->kind == TV_BIG || b->kind == TV_BIG)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, num_datum(a), num_datum(b)));
	{
		int64		x = int_of(a);
		int64		y = int_of(b);

		return x < y ? -1 : (x > y ? 1 : 0);
	}
}

static int
str_cmp(TVal *a, TVal *b)
{
	int			c;

	tpl_charge_bytes(Min(a->u.s.len, b->u.s.len));
	c = memcmp(a->u.s.p, b->u.s.p, Min(a->u.s.len, b->u.s.len));

	if (c != 0)
		return c < 0 ? -1 : 1;
	return a->u.s.len < b->u.s.len ? -1 : (a->u.s.len > b->u.s.len ? 1 : 0);
}

/*
 * tv_equal is Python's ==.
 */
bool
tv_equal(TVal *a, TVal *b)
{
	int			i;

	if (a == b && a->kind != TV_FLOAT)
		return true;
	if (a->kind == TV_UNDEF || b->kind == TV_UNDEF)
		return a->kind == b->kind;
	if (tv_is_number(a) && tv_is_number(b))
		return num_cmp(a, b) == 0;
	if (a->kind != b->kind)
		return false;
	switch (a->kind)
	{
		case TV_NONE:
			return true;
		case TV_STR:
			if (a->u.s.len != b->u.s.len)
				return false;
			tpl_charge_bytes(a->u.s.len);
			return memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
		case TV_LIST:
			if ((a->flags | b->flags) & TVF_GENERATOR)
				return false;
			if (a->u.list.n != b->u.list.n)
				return false;
			check_stack_depth();
			for (i = 0; i < a->u.list.n; i++)
			{
				tpl_charge(1);
				if (!tv_equal(tv_list_get(a, i), tv_list_get(b, i)))
					return false;
			}
			return true;
		case TV_DICT:
			if (a->u.dict.n != b->u.dict.n)
				return false;
			check_stack_depth();
			tv_materialize(a);
			for (i = 0; i < a->u.dict.n; i++)
			{
				bool		found;
				TVal	   *bv = tv_dict_lookup(b, a->u.dict.keys[i], &found);

				if (!found || !tv_equal(a->u.dict.vals[i], bv))
					return false;
			}
			return true;
		case TV_RANGE:
			{
				int			na = tv_len(a);
				int			nb = tv_len(b);

				if (na != nb)
					return false;
				if (na == 0)
					return true;
				if (a->u.range.start != b->u.range.start)
					return false;
				return na == 1 || a->u.range.step == b->u.range.step;
			}
		default:
			return false;
	}
}

/*
 * tv_compare orders a and b for the operator op ("<", "<=", ">", ">="),
 * as Python does: numbers, strings and lists (lexicographically) are
 * ordered, other combinations raise TypeError.  Returns -1, 0, 1, or 2
 * when unordered (NaN, for which every ordering is false).
 */
int
tv_compare(TVal *a, TVal *b, const char *op)
{
	if (tv_is_number(a) && tv_is_number(b))
		return num_cmp(a, b);
	if (a->kind == TV_STR && b->kind == TV_STR)
		return str_cmp(a, b);
	if (a->kind == TV_LIST && b->kind == TV_LIST &&
		!((a->flags | b->flags) & TVF_GENERATOR))
	{
		int			na = a->u.list.n;
		int			nb = b->u.list.n;
		int			i;

		check_stack_depth();
		for (i = 0; i < na && i < nb; i++)
		{
			TVal	   *x = tv_list_get(a, i);
			TVal	   *y = tv_list_get(b, i);

			tpl_charge(1);
			if (!tv_equal(x, y))
				return tv_compare(x, y, op);
		}
		return na < nb ? -1 : (na > nb ? 1 : 0);
	}
	tv_fail("'%s' not supported between instances of '%s' and '%s'",
			op, tv_type_name(a), tv_type_name(b));
	return 0;
}

/* ------------------------------------------------------------ arithmetic */

static TVal *
int_result(Datum n)
{
	Numeric		num = DatumGetNumeric(n);

	return tv_big(num);
}

/* num_floor_div is Python's // of two ints given as numerics */
static Datum
num_floor_div(Datum x, Datum y)
{
	/* floor(x / y) for integers: trunc, then correct toward -inf */
	Datum		q;
	Datum		r;
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	int			rs;
	int			ys;

	charge_numeric(x, y, true);
	q = DirectFunctionCall2(numeric_div_trunc, x, y);
	r = DirectFunctionCall2(numeric_mod, x, y);
	rs = DatumGetInt32(DirectFunctionCall2(numeric_cmp, r, zero));
	ys = DatumGetInt32(DirectFunctionCall2(numeric_cmp, y, zero));

	if (rs != 0 && (rs < 0) != (ys < 0))
		q = DirectFunctionCall2(numeric_sub, q,
								DirectFunctionCall1(int8_numeric, Int64GetDatum(1)));
	return q;
}

/* num_py_mod is Python's % of two ints given as numerics */
static Datum
num_py_mod(Datum x, Datum y)
{
	Datum		r;
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	int			rs;
	int			ys;

	charge_numeric(x, y, true);
	r = DirectFunctionCall2(numeric_mod, x, y);
	rs = DatumGetInt32(DirectFunctionCall2(numeric_cmp, r, zero));
	ys = DatumGetInt32(DirectFunctionCall2(numeric_cmp, y, zero));

	if (rs != 0 && (rs < 0) != (ys < 0))
		r = DirectFunctionCall2(numeric_add, r, y);
	return r;
}

/*
 * float_divmod is CPython's float floor division and modulo.
 */
static void
float_divmod(double vx, double wx, double *floordiv, double *modv)
{
	double		div;
	double		mod;

	mod = fmod(vx, wx);
	div = (vx - mod) / wx;
	if (mod)
	{
		if ((wx < 0) != (mod < 0))
		{
			mod += wx;
			div -= 1.0;
		}
	}
	else
		mod = copysign(0.0, wx);
	if (div)
	{
		*floordiv = floor(div);
		if (div - *floordiv > 0.5)
			*floordiv += 1.0;
	}
	else
		*floordiv = copysign(0.0, vx / wx);
	*modv = mod;
}

static TVal *
seq_repeat(TVal *seq, TVal *count)
{
	int64		n;
	int			i;

	if (count->kind == TV_BIG)
		tv_fail("cannot fit 'int' into an index-sized integer");
	n = int_of(count);
	if (n <= 0)
	{
		TVal	   *empty = seq->kind == TV_STR ? tv_str("", 0) : tv_list(NULL, 0);

		empty->flags = seq->flags & TVF_MARKUP;
		return empty;
	}
	if (seq->kind == TV_STR)
	{
		StringInfoData buf;
		TVal	   *r;

		if ((int64) seq->u.s.len * n > MaxAllocSize / 2)
			tv_fail("repeated string is too long");
		tpl_charge_alloc((Size) seq->u.s.len * n + n);
		tv_buf_init(&buf, 0);
		enlargeStringInfo(&buf, (int) (seq->u.s.len * n));
		for (i = 0; i < n; i++)
			appendBinaryStringInfo(&buf, seq->u.s.p, seq->u.s.len);
		r = tv_str(buf.data, buf.len);
		r->flags = seq->flags & TVF_MARKUP;
		return r;
	}
	else
	{
		int			len;
		TVal	  **items;
		int			k = 0;

		tv_materialize(seq);
		len = seq->u.list.n;
		if ((int64) len * n > 10000000)
			tv_fail("repeated list is too long");
		tpl_reserve((Size) len * n * sizeof(TVal *));
		tpl_charge((int64) len * n);
		items = palloc(sizeof(TVal *) * Max(len * n, 1));
		for (i = 0; i < n; i++)
		{
			int			j;

			for (j = 0; j < len; j++)
				items[k++] = seq->u.list.items[j];
		}
		return tv_list(items, k);
	}
}

/* markup_escape appends s escaped as markupsafe.escape does */
static void
markup_escape(StringInfo out, const char *p, int len)
{
	int			i;

	tpl_charge_alloc((Size) len);
	for (i = 0; i < len; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		switch (p[i])
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&#34;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			default:
				appendStringInfoChar(out, p[i]);
		}
	}
}

static const char *
op_symbol(TNodeKind op)
{
	switch (op)
	{
		case TN_ADD:
			return "+";
		case TN_SUB:
			return "-";
		case TN_MUL:
			return "*";
		case TN_DIV:
			return "/";
		case TN_FLOORDIV:
			return "//";
		case TN_MOD:
			return "%";
		case TN_POW:
			return "** or pow()";
		default:
			return "?";
	}
}

static void
unsupported_operands(TNodeKind op, TVal *a, TVal *b) pg_attribute_noreturn();

static void
unsupported_operands(TNodeKind op, TVal *a, TVal *b)
{
	tv_fail("unsupported operand type(s) for %s: '%s' and '%s'",
			op_symbol(op), tv_type_name(a), tv_type_name(b));
}

/*
 * int_pow computes base ** exp for integers, exp >= 0.
 */
static TVal *
int_pow(TVal *base, TVal *exp)
{
	int64		e;
	Datum		result;
	Datum		b;

	if (exp->kind == TV_BIG)
	{
		/* only 0, 1 and -1 can be raised that far */
		if (is_int(base) && base->kind != TV_BIG)
		{
			int64		x = int_of(base);

			if (x == 0 || x == 1)
				return tv_int(x);
			if (x == -1)
			{
				bool		odd = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
																	num_py_mod(num_datum(exp),
																			   DirectFunctionCall1(int8_numeric, Int64GetDatum(2))),
																	DirectFunctionCall1(int8_numeric, Int64GetDatum(0)))) != 0;

				return tv_int(odd ? -1 : 1);
			}
		}
		tv_fail("integer result of ** is too large");
	}
	e = int_of(exp);
	if (base->kind != TV_BIG)
	{
		int64		x = int_of(base);
		int64		r = 1;
		int64		p = x;
		int64		k = e;
		bool		overflow = false;

		while (k > 0 && !overflow)
		{
			if (k & 1)
				overflow = pg_mul_s64_overflow(r, p, &r);
			k >>= 1;
			if (k > 0 && !overflow)
				overflow = pg_mul_s64_overflow(p, p, &p);
		}
		if (!overflow)
			return tv_int(r);
		if (x == 0 || x == 1)
			return tv_int(x);
	}
	/* estimate the size before computing it */
	{
		double		digits = e * log10(fabs(tv_to_double(base)));

		if (digits > MAX_INT_DIGITS)
			tv_fail("integer result of ** is too large (about %.0f digits)", digits);
	}
	b = num_datum(base);
	result = DirectFunctionCall1(int8_numeric, Int64GetDatum(1));
	while (e > 0)
	{
		if (e & 1)
		{
			charge_numeric(result, b, true);
			result = DirectFunctionCall2(numeric_mul, result, b);
		}
		e >>= 1;
		if (e > 0)
		{
			charge_numeric(b, b, true);
			b = DirectFunctionCall2(numeric_mul, b, b);
		}
	}
	return int_result(result);
}

/*
 * float_pow is Python's float ** float.
 */
static TVal *
float_pow(double x, double y)
{
	double		r;

	if (x == 0.0 && y < 0)
		tv_fail("0.0 cannot be raised to a negative power");
	if (x < 0 && y != floor(y) && isfinite(y))
		tv_fail("a negative number raised to a fractional power is a complex number, which noetl templates do not support");
	errno = 0;
	r = pow(x, y);
	if (isinf(r) && isfinite(x) && isfinite(y))
		tv_fail("(34, 'Numerical result out of range')");
	return tv_float(r);
}

/*
 * tv_arith applies a binary arithmetic operator with Python's rules.
 */
TVal *
tv_arith(TNodeKind op, TVal *a, TVal *b)
{
	bool		ia = is_int(a);
	bool		ib = is_int(b);

	CHECK_FOR_INTERRUPTS();
	if (op == TN_ADD && a->kind == TV_STR && b->kind == TV_STR)
	{
		StringInfoData buf;
		TVal	   *r;
		bool		markup = (a->flags | b->flags) & TVF_MARKUP;

		tpl_charge_alloc((Size) a->u.s.len + b->u.s.len);
		tv_buf_init(&buf, a->u.s.len + b->u.s.len);
		/* Markup + str escapes the plain operand */
		if (markup && !(a->flags & TVF_MARKUP))
			markup_escape(&buf, a->u.s.p, a->u.s.len);
		else
			appendBinaryStringInfo(&buf, a->u.s.p, a->u.s.len);
		if (markup && !(b->flags & TVF_MARKUP))
			markup_escape(&buf, b->u.s.p, b->u.s.len);
		else
			appendBinaryStringInfo(&buf, b->u.s.p, b->u.s.len);
		r = tv_str(buf.data, buf.len);
		if (markup)
			r->flags |= TVF_MARKUP;
		return r;
	}
	if (op == TN_ADD && a->kind == TV_LIST && b->kind == TV_LIST &&
		!((a->flags | b->flags) & TVF_GENERATOR))
	{
		TVal	  **items;
		int			i;

		tv_materialize(a);
		tv_materialize(b);
		if ((int64) a->u.list.n + b->u.list.n > MaxAllocSize / sizeof(TVal *))
			tv_fail("concatenated list is too long");
		tpl_reserve(((Size) a->u.list.n + b->u.list.n) * sizeof(TVal *));
		tpl_charge((int64) a->u.list.n + b->u.list.n);
		items = palloc(sizeof(TVal *) * Max(a->u.list.n + b->u.list.n, 1));
		for (i = 0; i < a->u.list.n; i++)
			items[i] = a->u.list.items[i];
		for (i = 0; i < b->u.list.n; i++)
			items[a->u.list.n + i] = b->u.list.items[i];
		return tv_list(items, a->u.list.n + b->u.list.n);
	}
	if (op == TN_MUL && ((a->kind == TV_STR || (a->kind == TV_LIST && !(a->flags & TVF_GENERATOR))) && ib))
		return seq_repeat(a, b);
	if (op == TN_MUL && ((b->kind == TV_STR || (b->kind == TV_LIST && !(b->flags & TVF_GENERATOR))) && ia))
		return seq_repeat(b, a);
	if (op == TN_MOD && a->kind == TV_STR)
		tv_fail("string formatting with %% is not supported by noetl templates");
	if (!tv_is_number(a) || !tv_is_number(b))
	{
		if (op == TN_ADD && a->kind == TV_STR)
			tv_fail("can only concatenate str (not \"%s\") to str", tv_type_name(b));
		if (op == TN_ADD && a->kind == TV_LIST)
			tv_fail("can only concatenate list (not \"%s\") to list", tv_type_name(b));
		if (op == TN_MUL && (a->kind == TV_STR || a->kind == TV_LIST || b->kind == TV_STR || b->kind == TV_LIST))
			tv_fail("can't multiply sequence by non-int of type '%s'",
					tv_type_name(a->kind == TV_STR || a->kind == TV_LIST ? b : a));
		unsupported_operands(op, a, b);
	}

	if (ia && ib)
	{
		bool		big = a->kind == TV_BIG || b->kind == TV_BIG;
		int64		x = big ? 0 : int_of(a);
		int64		y = big ? 0 : int_of(b);
		int64		r;

		if (big)
			charge_numeric(num_datum(a), num_datum(b),
						   op == TN_MUL || op == TN_DIV || op == TN_FLOORDIV || op == TN_MOD);

		switch (op)
		{
			case TN_ADD:
				if (!big && !pg_add_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_add, num_datum(a), num_datum(b)));
			case TN_SUB:
				if (!big && !pg_sub_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_sub, num_datum(a), num_datum(b)));
			case TN_MUL:
				if (!big && !pg_mul_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_mul, num_datum(a), num_datum(b)));
			case TN_DIV:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("division by zero");
				if (!big && x > -(INT64CONST(1) << 53) && x < (INT64CONST(1) << 53) &&
					y > -(INT64CONST(1) << 53) && y < (INT64CONST(1) << 53))
					return tv_float((double) x / (double) y);
				{
					/* correctly rounded: divide in numeric with ample digits */
					/* give the numerator 30 decimals so the quotient keeps enough digits */
					Datum		q = DirectFunctionCall2(numeric_div,
														DirectFunctionCall2(numeric_round, num_datum(a),
																			Int32GetDatum(30)),
														num_datum(b));
					double		r = DatumGetFloat8(DirectFunctionCall1(numeric_float8, q));

					/* 0 / -n is -0.0 in Python */
					if (r == 0.0 && (num_cmp(b, tv_int(0)) < 0))
						r = -0.0;
					return tv_float(r);
				}
			case TN_FLOORDIV:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("integer division or modulo by zero");
				if (!big && !(x == PG_INT64_MIN && y == -1))
				{
					int64		q = x / y;

					if ((x % y != 0) && ((x < 0) != (y < 0)))
						q--;
					return tv_int(q);
				}
				return int_result(num_floor_div(num_datum(a), num_datum(b)));
			case TN_MOD:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("integer division or modulo by zero");
				if (!big && y != -1)
				{
					int64		m = x % y;

					if (m != 0 && ((m < 0) != (y < 0)))
						m += y;
					return tv_int(m);
				}
				if (!big)
					return tv_int(0);
				return int_result(num_py_mod(num_datum(a), num_datum(b)));
			case TN_POW:
				if (num_cmp(b, tv_int(0)) >= 0)
					return int_pow(a, b);
				return float_pow(tv_to_double(a), tv_to_double(b));
			default:
				break;
		}
	}
	else
	{
		double		x = tv_to_double(a);
		double		y = tv_to_double(b);
		double		fd;
		double		fm;

		switch (op)
		{
			case TN_ADD:
				return tv_float(x + y);
			case TN_SUB:
				return tv_float(x - y);
			case TN_MUL:
				return tv_float(x * y);
			case TN_DIV:
				if (y == 0.0)
					tv_fail("float division by zero");
				return tv_float(x / y);
			case TN_FLOORDIV:
				if (y == 0.0)
					tv_fail("float floor division by zero");
				float_divmod(x, y, &fd, &fm);
				return tv_float(fd);
			case TN_MOD:
				if (y == 0.0)
					tv_fail("float modulo");
				float_divmod(x, y, &fd, &fm);
				return tv_float(fm);
			case TN_POW:
				return float_pow(x, y);
			default:
				break;
		}
	}
	unsupported_operands(op, a, b);
	return NULL;
}

/*
 * tv_negate is unary minus (negate) or plus.
 */
TVal *
tv_negate(TVal *v, bool negate)
{
	if (v->kind == TV_FLOAT)
		return tv_float(negate ? -v->u.f : v->u.f);
	if (v->kind == TV_BOOL || v->kind == TV_INT)
	{
		int64		x = int_of(v);

		if (!negate)
			return tv_int(x);
		if (x == PG_INT64_MIN)
			return int_result(DirectFunctionCall1(numeric_uminus, num_datum(v)));
		return tv_int(-x);
	}
	if (v->kind == TV_BIG)
		return negate ? int_result(DirectFunctionCall1(numeric_uminus, num_datum(v))) : v;
	tv_fail("bad operand type for unary %c: '%s'", negate ? '-' : '+', tv_type_name(v));
	return NULL;
}

/* ------------------------------------------------------------ str / repr */

/*
 * py_printable approximates Python's str.isprintable for one code point:
 * control characters, separators other than space, format characters,
 * surrogates, private use and non-characters are not printable.
 */
static bool
py_printable(pg_wchar c)
{
	if (c < 0x20 || (c >= 0x7F && c <= 0xA0))
		return false;
	if (c == 0xAD || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
		(c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
		(c >= 0x2066 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
		(c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x600 && c <= 0x605) ||
		c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E ||
		(c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFDD0 && c <= 0xFDEF) ||
		(c & 0xFFFE) == 0xFFFE || c >= 0xF0000 ||
		(c >= 0xE0000 && c <= 0xE0FFF))
		return false;
	return true;
}

/*
 * repr_str appends Python's repr() of a string.
 */
static void
repr_str(StringInfo out, const char *p, int len)
{
	bool		has_single = memchr(p, '\'', len) != NULL;
	bool		has_double = memchr(p, '"', len) != NULL;
	char		quote = (has_single && !has_double) ? '"' : '\'';
	int			i = 0;

	tpl_charge_alloc((Size) len);
	appendStringInfoChar(out, quote);
	while (i < len)
	{
		unsigned char c = (unsigned char) p[i];
		int			l;
		pg_wchar	w;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		if (c < 0x80)
		{
			if (c == quote || c == '\\')
			{
				appendStringInfoChar(out, '\\');
				appendStringInfoChar(out, c);
			}
			else if (c == '\t')
				appendStringInfoString(out, "\\t");
			else if (c == '\n')
				appendStringInfoString(out, "\\n");
			else if (c == '\r')
				appendStringInfoString(out, "\\r");
			else if (c < 0x20 || c == 0x7F)
				appendStringInfo(out, "\\x%02x", c);
			else
				appendStringInfoChar(out, c);
			i++;
			continue;
		}
		l = Min(pg_utf_mblen((const unsigned char *) p + i), len - i);
		w = utf8_to_unicode((const unsigned char *) p + i);
		if (py_printable(w))
			appendBinaryStringInfo(out, p + i, l);
		else if (w <= 0xFF)
			appendStringInfo(out, "\\x%02x", (unsigned int) w);
		else if (w <= 0xFFFF)
			appendStringInfo(out, "\\u%04x", (unsigned int) w);
		else
			appendStringInfo(out, "\\U%08x", (unsigned int) w);
		i += l;
	}
	appendStringInfoChar(out, quote);
}

static void
append_number(StringInfo out, TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			appendStringInfoString(out, v->u.b ? "True" : "False");
			break;
		case TV_INT:
			appendStringInfo(out, INT64_FORMAT, v->u.i);
			break;
		case TV_BIG:
			{
				char	   *txt;

				charge_numeric(NumericGetDatum(v->u.big), NumericGetDatum(v->u.big), false);
				txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->u.big)));
				/* Python 3.11's str() of an int stops at 4300 digits */
				if (strlen(txt) - (txt[0] == '-') > PY_INT_MAX_DIGITS)
					tv_fail("Exceeds the limit (%d digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit",
							PY_INT_MAX_DIGITS);
				appendStringInfoString(out, txt);
				break;
			}
		case TV_FLOAT:
			py_float_repr(out, v->u.f);
			break;
		default:
			break;
	}
}

static void
repr_or_str(StringInfo out, TVal *v, bool repr)
{
	int			i;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_UNDEF:
			if (repr)
				appendStringInfoString(out, "Undefined");
			break;
		case TV_NONE:
			appendStringInfoString(out, "None");
			break;
		case TV_BOOL:
		case TV_INT:
		case TV_BIG:
		case TV_FLOAT:
			append_number(out, v);
			break;
		case TV_STR:
			if (!repr)
			{
				tpl_charge_alloc(v->u.s.len);
				appendBinaryStringInfo(out, v->u.s.p, v->u.s.len);
			}
			else if (v->flags & TVF_MARKUP)
			{
				appendStringInfoString(out, "Markup(");
				repr_str(out, v->u.s.p, v->u.s.len);
				appendStringInfoChar(out, ')');
			}
			else
				repr_str(out, v->u.s.p, v->u.s.len);
			break;
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				tv_fail("a generator (the result of unique) cannot be printed; apply |list first");
			appendStringInfoChar(out, '[');
			for (i = 0; i < v->u.list.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				repr_or_str(out, tv_list_get(v, i), true);
			}
			appendStringInfoChar(out, ']');
			break;
		case TV_DICT:
			tv_materialize(v);
			appendStringInfoChar(out, '{');
			for (i = 0; i < v->u.dict.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				repr_or_str(out, v->u.dict.keys[i], true);
				appendStringInfoString(out, ": ");
				repr_or_str(out, v->u.dict.vals[i], true);
			}
			appendStringInfoChar(out, '}');
			break;
		case TV_RANGE:
			if (v->u.range.step == 1)
				appendStringInfo(out, "range(" INT64_FORMAT ", " INT64_FORMAT ")",
								 v->u.range.start, v->u.range.stop);
			else
				appendStringInfo(out, "range(" INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT ")",
								 v->u.range.start, v->u.range.stop, v->u.range.step);
			break;
		case TV_LOOP:
			appendStringInfo(out, "<LoopContext " INT64_FORMAT "/" INT64_FORMAT ">",
							 v->u.loop.index0 + 1, v->u.loop.length);
			break;
	}
}

/* tv_str_out appends Python's str(v) (Undefined prints nothing) */
void
tv_str_out(StringInfo out, TVal *v)
{
	repr_or_str(out, v, false);
}

/* tv_repr appends Python's repr(v) */
void
tv_repr(StringInfo out, TVal *v)
{
	repr_or_str(out, v, true);
}

/* ------------------------------------------------------------ json.dumps */

static void
json_string(StringInfo out, const char *p, int len)
{
	int			i = 0;

	tpl_charge_alloc((Size) len);
	appendStringInfoChar(out, '"');
	while (i < len)
	{
		unsigned char c = (unsigned char) p[i];

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		if (c < 0x80)
		{
			switch (c)
			{
				case '"':
					appendStringInfoString(out, "\\\"");
					break;
				case '\\':
					appendStringInfoString(out, "\\\\");
					break;
				case '\n':
					appendStringInfoString(out, "\\n");
					break;
				case '\r':
					appendStringInfoString(out, "\\r");
					break;
				case '\t':
					appendStringInfoString(out, "\\t");
					break;
				case '\b':
					appendStringInfoString(out, "\\b");
					break;
				case '\f':
					appendStringInfoString(out, "\\f");
					break;
				default:
					if (c < 0x20 || c == 0x7F)
						appendStringInfo(out, "\\u%04x", c);
					else
						appendStringInfoChar(out, c);
			}
			i++;
		}
		else
		{
			int			l = Min(pg_utf_mblen((const unsigned char *) p + i), len - i);
			pg_wchar	w = utf8_to_unicode((const unsigned char *) p + i);

			if (w > 0xFFFF)
			{
				w -= 0x10000;
				appendStringInfo(out, "\\u%04x\\u%04x",
								 (unsigned int) (0xD800 | (w >> 10)),
								 (unsigned int) (0xDC00 | (w & 0x3FF)));
			}
			else
				appendStringInfo(out, "\\u%04x", (unsigned int) w);
			i += l;
		}
	}
	appendStringInfoChar(out, '"');
}

static void
json_newline(StringInfo out, int indent, int level)
{
	int			i;

	tpl_charge_alloc((Size) indent * level + 1);
	appendStringInfoChar(out, '\n');
	for (i = 0; i < indent * level; i++)
		appendStringInfoChar(out, ' ');
}

/* json_key_text gives the json.dumps spelling of a dict key */
static void
json_key(StringInfo out, TVal *k)
{
	StringInfoData buf;

	switch (k->kind)
	{
		case TV_STR:
			json_string(out, k->u.s.p, k->u.s.len);
			return;
		case TV_BOOL:
			appendStringInfoString(out, k->u.b ? "\"true\"" : "\"false\"");
			return;
		case TV_NONE:
			appendStringInfoString(out, "\"null\"");
			return;
		case TV_INT:
		case TV_BIG:
		case TV_FLOAT:
			tv_buf_init(&buf, 32);
			if (k->kind == TV_FLOAT && isnan(k->u.f))
				appendStringInfoString(&buf, "NaN");
			else if (k->kind == TV_FLOAT && isinf(k->u.f))
				appendStringInfoString(&buf, k->u.f > 0 ? "Infinity" : "-Infinity");
			else
				append_number(&buf, k);
			json_string(out, buf.data, buf.len);
			return;
		default:
			tv_fail("keys must be str, int, float, bool or None, not %s", tv_type_name(k));
	}
}

/* key_sort_cmp orders dict keys for json.dumps(sort_keys=True) */
static int
key_sort_cmp(const void *a, const void *b)
{
	TVal	   *x = **(TVal ***) a;
	TVal	   *y = **(TVal ***) b;

	tpl_charge(1);
	return tv_compare(x, y, "<");
}

/*
 * tv_json_dumps appends json.dumps(v, sort_keys=True) (with indent when
 * indent >= 0), as the tojson filter calls it.
 */
void
tv_json_dumps(StringInfo out, TVal *v, int indent, int level)
{
	int			i;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_NONE:
			appendStringInfoString(out, "null");
			return;
		case TV_BOOL:
			appendStringInfoString(out, v->u.b ? "true" : "false");
			return;
		case TV_INT:
		case TV_BIG:
			append_number(out, v);
			return;
		case TV_FLOAT:
			if (isnan(v->u.f))
				appendStringInfoString(out, "NaN");
			else if (isinf(v->u.f))
				appendStringInfoString(out, v->u.f > 0 ? "Infinity" : "-Infinity");
			else
				py_float_repr(out, v->u.f);
			return;
		case TV_STR:
			json_string(out, v->u.s.p, v->u.s.len);
			return;
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				break;
			if (v->u.list.n == 0)
			{
				appendStringInfoString(out, "[]");
				return;
			}
			appendStringInfoChar(out, '[');
			for (i = 0; i < v->u.list.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, indent >= 0 ? "," : ", ");
				if (indent >= 0)
					json_newline(out, indent, level + 1);
				tv_json_dumps(out, tv_list_get(v, i), indent, level + 1);
			}
			if (indent >= 0)
				json_newline(out, indent, level);
			appendStringInfoChar(out, ']');
			return;
		case TV_DICT:
			{
				TVal	  **order[1];
				TVal	 ***idx;

				tv_materialize(v);
				if (v->u.dict.n == 0)
				{
					appendStringInfoString(out, "{}");
					return;
				}
				/* sort pointers to the keys, keeping each key's value */
				idx = palloc(sizeof(TVal **) * v->u.dict.n);
				for (i = 0; i < v->u.dict.n; i++)
					idx[i] = &v->u.dict.keys[i];
				(void) order;
				qsort(idx, v->u.dict.n, sizeof(TVal **), key_sort_cmp);
				appendStringInfoChar(out, '{');
				for (i = 0; i < v->u.dict.n; i++)
				{
					int			k = idx[i] - v->u.dict.keys;

					if (i > 0)
						appendStringInfoString(out, indent >= 0 ? "," : ", ");
					if (indent >= 0)
						json_newline(out, indent, level + 1);
					json_key(out, v->u.dict.keys[k]);
					appendStringInfoString(out, ": ");
					tv_json_dumps(out, v->u.dict.vals[k], indent, level + 1);
				}
				if (indent >= 0)
					json_newline(out, indent, level);
				appendStringInfoChar(out, '}');
				return;
			}
		default:
			break;
	}
	tv_fail("Object of type %s is not JSON serializable", tv_type_name(v));
}

/* ------------------------------------------------------------ to jsonb */

/*
 * push_key pushes a dict key with its json.dumps spelling.
 */
static void
push_key(JsonbParseState **st, TVal *k)
{
	JsonbValue	jk;
	StringInfoData buf;

	jk.type = jbvString;
	if (k->kind == TV_STR)
	{
		jk.val.string.val = (char *) k->u.s.p;
		jk.val.string.len = k->u.s.len;
	}
	else
	{
		tv_buf_init(&buf, 32);
		switch (k->kind)
		{
			case TV_BOOL:
				appendStringInfoString(&buf, k->u.b ? "true" : "false");
				break;
			case TV_NONE:
				appendStringInfoString(&buf, "null");
				break;
			case TV_INT:
			case TV_BIG:
			case TV_FLOAT:
				if (k->kind == TV_FLOAT && !isfinite(k->u.f))
					tv_fail("key %s cannot be represented in JSON", isnan(k->u.f) ? "nan" : "inf");
				append_number(&buf, k);
				break;
			default:
				tv_fail("keys must be str, int, float, bool or None, not %s", tv_type_name(k));
		}
		jk.val.string.val = buf.data;
		jk.val.string.len = buf.len;
	}
	pushJsonbValue(st, WJB_KEY, &jk);
}

/*
 * tv_to_jsonb_value pushes v into a jsonb under construction; returns
 * what pushJsonbValue returned for v's last token.  Undefined becomes
 * null; containers read from jsonb are copied without being expanded.
 */
JsonbValue *
tv_to_jsonb_value(TVal *v, JsonbParseState **st, JsonbIteratorToken tok)
{
	JsonbValue	jv;
	int			i;
	StringInfoData buf;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_UNDEF:
		case TV_NONE:
			jv.type = jbvNull;
			return pushJsonbValue(st, tok, &jv);
		case TV_BOOL:
			jv.type = jbvBool;
			jv.val.boolean = v->u.b;
			return pushJsonbValue(st, tok, &jv);
		case TV_INT:
			jv.type = jbvNumeric;
			jv.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.i)));
			return pushJsonbValue(st, tok, &jv);
		case TV_BIG:
			jv.type = jbvNumeric;
			jv.val.numeric = v->u.big;
			return pushJsonbValue(st, tok, &jv);
		case TV_FLOAT:
			if (!isfinite(v->u.f))
				tv_fail("float %s cannot be represented in JSON",
						isnan(v->u.f) ? "nan" : (v->u.f > 0 ? "inf" : "-inf"));
			tv_buf_init(&buf, 32);
			py_float_decimal(&buf, v->u.f);
			jv.type = jbvNumeric;
			jv.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																 CStringGetDatum(buf.data),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)));
			return pushJsonbValue(st, tok, &jv);
		case TV_STR:
			if (v->u.s.len > JENTRY_OFFLENMASK)
				tv_fail("string too long to represent as jsonb string");
			jv.type = jbvString;
			jv.val.string.val = (char *) v->u.s.p;
			jv.val.string.len = v->u.s.len;
			return pushJsonbValue(st, tok, &jv);
		case TV_LIST:
			if (v->u.list.jc != NULL && tok != WJB_DONE)
			{
				/* pushJsonbValue copies the container, element by element */
				tpl_charge_alloc((Size) v->u.list.jclen * 2);
				jv.type = jbvBinary;
				jv.val.binary.data = v->u.list.jc;
				jv.val.binary.len = 0;
				return pushJsonbValue(st, tok, &jv);
			}
			pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
			for (i = 0; i < v->u.list.n; i++)
				tv_to_jsonb_value(tv_list_get(v, i), st, WJB_ELEM);
			return pushJsonbValue(st, WJB_END_ARRAY, NULL);
		case TV_RANGE:
			{
				int			n = tv_len(v);

				pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
				for (i = 0; i < n; i++)
					tv_to_jsonb_value(tv_list_get(v, i), st, WJB_ELEM);
				return pushJsonbValue(st, WJB_END_ARRAY, NULL);
			}
		case TV_DICT:
			if (v->u.dict.jc != NULL && tok != WJB_DONE)
			{
				tpl_charge_alloc((Size) v->u.dict.jclen * 2);
				jv.type = jbvBinary;
				jv.val.binary.data = v->u.dict.jc;
				jv.val.binary.len = 0;
				return pushJsonbValue(st, tok, &jv);
			}
			tv_materialize(v);
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			for (i = 0; i < v->u.dict.n; i++)
			{
				push_key(st, v->u.dict.keys[i]);
				tv_to_jsonb_value(v->u.dict.vals[i], st, WJB_VALUE);
			}
			return pushJsonbValue(st, WJB_END_OBJECT, NULL);
		default:
			tv_fail("a value of type '%s' cannot be represented in JSON", tv_type_name(v));
	}
	return NULL;
}

/*
 * tv_to_jsonb converts a value to a jsonb datum.
 */
Jsonb *
tv_to_jsonb(TVal *v)
{
	JsonbParseState *st = NULL;

	if ((v->kind == TV_LIST && v->u.list.jc != NULL) ||
		(v->kind == TV_DICT && v->u.dict.jc != NULL))
	{
		JsonbValue	jv;

		jv.type = jbvBinary;
		jv.val.binary.data = v->kind == TV_LIST ? v->u.list.jc : v->u.dict.jc;
		jv.val.binary.len = v->kind == TV_LIST ? v->u.list.jclen : v->u.dict.jclen;
		return JsonbValueToJsonb(&jv);
	}
	if (v->kind != TV_LIST && v->kind != TV_DICT && v->kind != TV_RANGE)
	{
		JsonbValue	arr;

		arr.type = jbvArray;
		arr.val.array.rawScalar = true;
		arr.val.array.nElems = 1;
		arr.val.array.elems = NULL;
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, &arr);
		tv_to_jsonb_value(v, &st, WJB_ELEM);
		return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
	}
	return JsonbValueToJsonb(tv_to_jsonb_value(v, &st, WJB_DONE));
}
