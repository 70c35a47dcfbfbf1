/*-------------------------------------------------------------------------
 *
 * tpl_dict.c
 *	  Python's dict for the template engine: hashed, in insertion order.
 *
 * A dict is read from jsonb (lazily: its pairs stay in the container until
 * something needs them, and a key is then found by jsonb's own binary
 * search), built by a template ({"a": 1}, dict(), unique), or computed (a
 * lookup function: the broker's context).  Keys follow Python's rules: any
 * hashable value, compared with ==, so that 1, 1.0 and True are one key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

#include "jtree.h"
#include "template.h"

/*
 * tv_key_hashable checks that a value can be a dict key, as Python's
 * hash() would: not a list or a dict, nor a tuple holding one at any depth.
 */
void
tv_key_hashable(TVal *key)
{
	int			i;

	if (key->kind == TV_LIST && (key->flags & TVF_TUPLE))
	{
		/* a tuple is hashable when its items are */
		check_stack_depth();
		for (i = 0; i < key->u.list.n; i++)
		{
			tpl_charge(1);
			tv_key_hashable(tv_list_get(key, i));
		}
		return;
	}
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
		case TV_LIST:
			{
				/* a tuple (key_hashable let no list through) */
				uint32		h = 0x345678;
				int			j;

				check_stack_depth();
				for (j = 0; j < k->u.list.n; j++)
				{
					tpl_charge(1);
					h = hash_combine(h, tv_key_hash(tv_list_get(k, j)));
				}
				return h;
			}
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
	tv_key_hashable(key);
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

