/*-------------------------------------------------------------------------
 *
 * tpl_filter_seq.c
 *	  The template filters on sequences: sort, unique, min, max, sum, join,
 *	  first, last, dictsort, items, reverse, batch, slice and groupby.
 *
 * As Jinja2 3.1 has them: an "attribute" argument names a path of keys
 * and indexes ("a.b.0") into each item, or several paths separated by
 * commas for sort; strings compare case-insensitively unless
 * case_sensitive is set; sort is stable (reverse too), unique yields a
 * one-shot generator that keeps the first of equal items.  Like Jinja2's,
 * items, reverse (of a list, dict or range), batch and slice return
 * generators (which noetl refuses to print without "| list"); dictsort
 * returns a list of (key, value) tuples and groupby a list of
 * (grouper, list) namedtuples.  Each item touched is charged one step.
 * tpl_filter.c binds the arguments and calls these.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "template.h"

#define attr_parts tpl_attr_parts

/*
 * tpl_attr_parts splits an attribute path "a.b.0" into parts, digits as
 * ints (Jinja2's _prepare_attribute_parts).
 */
TVal **
tpl_attr_parts(TVal *attribute, int *n)
{
	TVal	  **parts;
	int			cap = 4;
	int			i = 0;
	int			start = 0;

	*n = 0;
	if (attribute == NULL || attribute->kind == TV_NONE)
		return NULL;
	parts = palloc(sizeof(TVal *) * cap);
	if (attribute->kind != TV_STR)
	{
		parts[0] = attribute;
		*n = 1;
		return parts;
	}
	for (i = 0; i <= attribute->u.s.len; i++)
	{
		if (i == attribute->u.s.len || attribute->u.s.p[i] == '.')
		{
			const char *p = attribute->u.s.p + start;
			int			l = i - start;
			bool		digits = l > 0;
			int			k;

			for (k = 0; k < l; k++)
				if (p[k] < '0' || p[k] > '9')
					digits = false;
			if (*n == cap)
			{
				cap *= 2;
				parts = repalloc(parts, sizeof(TVal *) * cap);
			}
			parts[(*n)++] = digits ? tv_int(strtoll(pnstrdup(p, l), NULL, 10)) : tv_str(p, l);
			start = i + 1;
		}
	}
	return parts;
}

/*
 * tpl_attr_get follows an attribute path into item, as Jinja2's
 * make_attrgetter does: an undefined step becomes dflt unless dflt is
 * NULL or None.
 */
TVal *
tpl_attr_get(TVal *item, TVal **parts, int nparts, TVal *dflt)
{
	int			i;

	for (i = 0; i < nparts; i++)
	{
		item = tpl_getitem(item, parts[i]);
		if (dflt != NULL && dflt->kind != TV_NONE && item->kind == TV_UNDEF)
			item = dflt;
	}
	return item;
}

/* attr_get is tpl_attr_get without a default */
static TVal *
attr_get(TVal *item, TVal **parts, int nparts)
{
	return tpl_attr_get(item, parts, nparts, NULL);
}

/* ignore_case lower-cases a string key unless case_sensitive */
static TVal *
ignore_case(TVal *v, bool case_sensitive)
{
	if (!case_sensitive && v->kind == TV_STR)
		return tpl_str_lower(v);
	return v;
}

typedef struct SortItem
{
	TVal	   *item;
	TVal	   *key;
} SortItem;

static bool sort_reverse;

/* sort_cmp orders two items by their keys, the other way round for reverse */
static int
sort_cmp(const SortItem *a, const SortItem *b)
{
	int			c;

	tpl_charge(1);
	c = tv_compare(sort_reverse ? b->key : a->key,
				   sort_reverse ? a->key : b->key, "<");

	return c == 2 ? 0 : c;
}

/* merge_sort sorts n items stably, as Python's sort (and its reverse) does */
static void
merge_sort(SortItem *a, SortItem *tmp, int n)
{
	int			mid;
	int			i;
	int			j;
	int			k;

	if (n < 2)
		return;
	CHECK_FOR_INTERRUPTS();
	mid = n / 2;
	merge_sort(a, tmp, mid);
	merge_sort(a + mid, tmp, n - mid);
	i = 0;
	j = mid;
	k = 0;
	while (i < mid && j < n)
	{
		if (sort_cmp(&a[j], &a[i]) < 0)
			tmp[k++] = a[j++];
		else
			tmp[k++] = a[i++];
	}
	while (i < mid)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, sizeof(SortItem) * n);
}

/* tpl_filter_sort is Jinja2's sort filter */
TVal *
tpl_filter_sort(TVal *v, TVal *reverse, TVal *case_sensitive, TVal *attribute)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	SortItem   *arr = palloc(sizeof(SortItem) * Max(n, 1));
	SortItem   *tmp = palloc(sizeof(SortItem) * Max(n, 1));
	TVal	  **out = palloc(sizeof(TVal *) * Max(n, 1));
	bool		cs = tv_truthy(case_sensitive);
	int			i;
	int			nattr = 0;
	TVal	  **attrs = NULL;
	TVal	 ***paths;
	int		   *npaths;

	/* attribute may list several paths separated by commas */
	if (attribute->kind == TV_STR)
	{
		int			start = 0;

		attrs = palloc(sizeof(TVal *) * (attribute->u.s.len + 1));
		for (i = 0; i <= attribute->u.s.len; i++)
			if (i == attribute->u.s.len || attribute->u.s.p[i] == ',')
			{
				attrs[nattr++] = tv_str(attribute->u.s.p + start, i - start);
				start = i + 1;
			}
	}
	else
	{
		attrs = palloc(sizeof(TVal *));
		attrs[0] = attribute;
		nattr = 1;
	}
	/* the paths are split once, not once per item */
	paths = palloc(sizeof(TVal **) * nattr);
	npaths = palloc(sizeof(int) * nattr);
	for (i = 0; i < nattr; i++)
		paths[i] = attr_parts(attrs[i], &npaths[i]);
	for (i = 0; i < n; i++)
	{
		TVal	  **key = palloc(sizeof(TVal *) * nattr);
		int			k;

		for (k = 0; k < nattr; k++)
		{
			tpl_charge(1);
			key[k] = ignore_case(attr_get(items->u.list.items[i], paths[k], npaths[k]), cs);
		}
		arr[i].item = items->u.list.items[i];
		arr[i].key = tv_list(key, nattr);
	}
	sort_reverse = tv_truthy(reverse);
	merge_sort(arr, tmp, n);
	for (i = 0; i < n; i++)
		out[i] = arr[i].item;
	return tv_list(out, n);
}

/*
 * tpl_filter_unique is Jinja2's unique filter: a one-shot generator of
 * the first of each set of equal items (keys hashed, as in Python)
 */
TVal *
tpl_filter_unique(TVal *v, TVal *case_sensitive, TVal *attribute)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	TVal	  **out = palloc(sizeof(TVal *) * Max(n, 1));
	TVal	   *seen = tv_dict_new();	/* keys seen, hashed as a set */
	int			nout = 0;
	int			np;
	TVal	  **parts = attr_parts(attribute, &np);
	bool		cs = tv_truthy(case_sensitive);
	int			i;
	TVal	   *r;

	for (i = 0; i < n; i++)
	{
		TVal	   *key = ignore_case(attr_get(items->u.list.items[i], parts, np), cs);
		bool		dup;

		tpl_charge(1);
		(void) tv_dict_lookup(seen, key, &dup);
		if (!dup)
		{
			tv_dict_set(seen, key, key);
			out[nout++] = items->u.list.items[i];
		}
	}
	r = tv_list(out, nout);
	r->flags |= TVF_GENERATOR;
	return r;
}

/* tpl_filter_min_max is Jinja2's min filter, or its max filter */
TVal *
tpl_filter_min_max(TVal *v, bool max, TVal *case_sensitive, TVal *attribute)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	int			np;
	TVal	  **parts = attr_parts(attribute, &np);
	bool		cs = tv_truthy(case_sensitive);
	TVal	   *best;
	TVal	   *bestkey;
	int			i;

	if (n == 0)
		return tv_undef("No aggregated item, sequence was empty.");
	best = items->u.list.items[0];
	bestkey = ignore_case(attr_get(best, parts, np), cs);
	for (i = 1; i < n; i++)
	{
		TVal	   *item = items->u.list.items[i];
		TVal	   *key;
		int			c;

		tpl_charge(1);
		key = ignore_case(attr_get(item, parts, np), cs);
		c = tv_compare(key, bestkey, max ? ">" : "<");

		if (c != 2 && (max ? c > 0 : c < 0))
		{
			best = item;
			bestkey = key;
		}
	}
	return best;
}

/* tpl_filter_sum is Jinja2's sum filter: start + each item, with Python's + */
TVal *
tpl_filter_sum(TVal *v, TVal *attribute, TVal *start)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	int			np;
	TVal	  **parts = attr_parts(attribute, &np);
	TVal	   *acc = start;
	int			i;

	if (start->kind == TV_STR)
		tv_fail("sum() can't sum strings [use ''.join(seq) instead]");
	for (i = 0; i < n; i++)
	{
		TVal	   *item = attr_get(items->u.list.items[i], parts, np);

		tpl_charge(1);
		if (item->kind == TV_UNDEF)
			tv_fail("%s", item->u.undef.hint);
		acc = tv_arith(TN_ADD, acc, item);
	}
	return acc;
}

/* tpl_filter_join is Jinja2's join filter: str() of each item, joined by d */
TVal *
tpl_filter_join(TVal *v, TVal *d, TVal *attribute)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	TVal	   *sep = tv_plain_str(d);
	int			np;
	TVal	  **parts = attr_parts(attribute, &np);
	StringInfoData buf;
	int			i;

	tv_buf_init(&buf, 64);
	for (i = 0; i < n; i++)
	{
		tpl_charge(1);
		if (i > 0)
		{
			tpl_charge_alloc(sep->u.s.len);
			appendBinaryStringInfo(&buf, sep->u.s.p, sep->u.s.len);
		}
		tv_str_out(&buf, attr_get(items->u.list.items[i], parts, np));
	}
	return tv_str(buf.data, buf.len);
}

/* tpl_filter_first_last is Jinja2's first filter, or its last filter */
TVal *
tpl_filter_first_last(TVal *v, bool last)
{
	int			n;
	TVal	   *items;

	if (last && v->kind == TV_LIST && (v->flags & TVF_GENERATOR))
		tv_fail("'generator' object is not reversible");
	if (last && !(v->kind == TV_LIST || v->kind == TV_STR || v->kind == TV_DICT ||
				  v->kind == TV_RANGE || v->kind == TV_UNDEF))
		tv_fail("'%s' object is not reversible", tv_type_name(v));
	if (!last && v->kind == TV_LIST && (v->flags & TVF_GENERATOR))
	{
		/* next(iter(generator)) consumes one item */
		if (v->u.list.next >= v->u.list.n)
			return tv_undef("No first item, sequence was empty.");
		return v->u.list.items[v->u.list.next++];
	}
	items = tv_iter_items(v, &n);
	if (n == 0)
		return tv_undef(last ? "No last item, sequence was empty." : "No first item, sequence was empty.");
	if (last && v->kind == TV_STR)
	{
		/* reversed() indexes the string, and Markup indexing keeps Markup */
		TVal	   *c = items->u.list.items[n - 1];

		TVal	   *r = tv_str(c->u.s.p, c->u.s.len);

		r->flags |= v->flags & TVF_MARKUP;
		return r;
	}
	return items->u.list.items[last ? n - 1 : 0];
}

/* sort_by_keys sorts arr stably by its keys (Python's sorted(key=...)) */
static void
sort_by_keys(SortItem *arr, int n, bool reverse)
{
	SortItem   *tmp = palloc(sizeof(SortItem) * Max(n, 1));

	sort_reverse = reverse;
	merge_sort(arr, tmp, n);
}

/* dict_pairs returns the (key, value) tuples of a dict, in its order */
static TVal **
dict_pairs(TVal *d, int *n)
{
	TVal	  **out;
	int			i;

	tv_materialize(d);
	*n = d->u.dict.n;
	tpl_reserve((Size) *n * (3 * sizeof(TVal *) + sizeof(TVal)));
	out = palloc(sizeof(TVal *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		TVal	  **pair = palloc(sizeof(TVal *) * 2);

		tpl_charge(1);
		pair[0] = d->u.dict.keys[i];
		pair[1] = d->u.dict.vals[i];
		out[i] = tv_tuple(pair, 2);
	}
	return out;
}

/*
 * tpl_filter_dictsort is Jinja2's dictsort filter: the (key, value) pairs
 * sorted by key or by value, strings ignoring case unless case_sensitive
 */
TVal *
tpl_filter_dictsort(TVal *v, TVal *case_sensitive, TVal *by, TVal *reverse)
{
	int			pos;
	int			n;
	TVal	  **pairs;
	SortItem   *arr;
	TVal	  **out;
	bool		cs = tv_truthy(case_sensitive);
	int			i;

	if (by->kind == TV_STR && by->u.s.len == 3 && memcmp(by->u.s.p, "key", 3) == 0)
		pos = 0;
	else if (by->kind == TV_STR && by->u.s.len == 5 && memcmp(by->u.s.p, "value", 5) == 0)
		pos = 1;
	else
		tv_fail("You can only sort by either \"key\" or \"value\"");
	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint ? v->u.undef.hint : "value is undefined");
	if (v->kind != TV_DICT)
		tv_fail("'%s' object has no attribute 'items'", tv_type_name(v));
	pairs = dict_pairs(v, &n);
	arr = palloc(sizeof(SortItem) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		arr[i].item = pairs[i];
		arr[i].key = ignore_case(tv_list_get(pairs[i], pos), cs);
	}
	sort_by_keys(arr, n, tv_truthy(reverse));
	out = palloc(sizeof(TVal *) * Max(n, 1));
	for (i = 0; i < n; i++)
		out[i] = arr[i].item;
	return tv_list(out, n);
}

/*
 * tpl_filter_items is Jinja2's items filter: a generator of the (key,
 * value) pairs of a mapping, nothing for Undefined
 */
TVal *
tpl_filter_items(TVal *v)
{
	int			n;
	TVal	  **pairs;

	if (v->kind == TV_UNDEF)
		return tv_generator(NULL, 0);
	if (v->kind != TV_DICT)
		tv_fail("Can only get item pairs from a mapping.");
	pairs = dict_pairs(v, &n);
	return tv_generator(pairs, n);
}

/*
 * tpl_filter_reverse is Jinja2's reverse filter: a string reversed; for
 * what reversed() takes (lists, dicts, ranges, Undefined) an iterator the
 * other way round; for other iterables (generators) a reversed list.
 */
TVal *
tpl_filter_reverse(TVal *v)
{
	int			n;
	TVal	   *items;
	TVal	  **out;
	int			i;
	bool		iterator;

	if (v->kind == TV_STR)
	{
		StringInfoData buf;
		int			end = v->u.s.len;
		TVal	   *r;

		tpl_charge_alloc(v->u.s.len);
		tv_buf_init(&buf, v->u.s.len);
		while (end > 0)
		{
			int			start = end - 1;

			while (start > 0 && (v->u.s.p[start] & 0xC0) == 0x80)
				start--;
			if ((end & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			appendBinaryStringInfo(&buf, v->u.s.p + start, end - start);
			end = start;
		}
		r = tv_str(buf.data, buf.len);
		r->flags |= v->flags & TVF_MARKUP;
		return r;
	}
	iterator = !(v->kind == TV_LIST && (v->flags & TVF_GENERATOR));
	if (!(v->kind == TV_LIST || v->kind == TV_DICT || v->kind == TV_RANGE ||
		  v->kind == TV_UNDEF))
		tv_fail("argument must be iterable");
	items = tv_iter_items(v, &n);
	out = palloc(sizeof(TVal *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		tpl_charge(1);
		out[i] = items->u.list.items[n - 1 - i];
	}
	return iterator ? tv_generator(out, n) : tv_list(out, n);
}

/*
 * count_of reads the linecount of batch as Python's len(tmp) == linecount
 * sees it: the int a number equals, or -1 when no length can equal it.
 */
static int64
count_of(TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			return v->u.b ? 1 : 0;
		case TV_INT:
			return v->u.i;
		case TV_FLOAT:
			if (v->u.f == floor(v->u.f) && fabs(v->u.f) < 9.0e15)
				return (int64) v->u.f;
			return -1;
		default:
			return -1;
	}
}

/* fill_batch appends count copies of fill to a batch, as [fill] * count */
static TVal *
fill_batch(TVal **tmp, int k, TVal *linecount, TVal *fill)
{
	TVal	   *missing;
	int64		count;
	TVal	  **items;
	int			i;

	/* len(tmp) < linecount, then [fill_with] * (linecount - len(tmp)) */
	if (tpl_compare_op(tv_int(k), TC_LT, linecount))
	{
		missing = tv_arith(TN_SUB, linecount, tv_int(k));
		if (missing->kind != TV_INT && missing->kind != TV_BOOL && missing->kind != TV_BIG)
			tv_fail("can't multiply sequence by non-int of type '%s'", tv_type_name(missing));
		if (missing->kind == TV_BIG || missing->u.i > (int64) (MaxAllocSize / sizeof(TVal *)))
			tv_fail("cannot fit 'int' into an index-sized integer");
		count = missing->kind == TV_BOOL ? missing->u.b : missing->u.i;
		tpl_reserve((Size) (k + count) * sizeof(TVal *));
		tpl_charge(count);
		items = palloc(sizeof(TVal *) * (k + count));
		memcpy(items, tmp, sizeof(TVal *) * k);
		for (i = 0; i < count; i++)
			items[k + i] = fill;
		return tv_list(items, k + (int) count);
	}
	return tv_list(tmp, k);
}

/*
 * tpl_filter_batch is Jinja2's batch filter: a generator of lists of
 * linecount items, the last one filled up with fill_with unless it is None
 */
TVal *
tpl_filter_batch(TVal *v, TVal *linecount, TVal *fill_with)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	int64		lc = count_of(linecount);
	TVal	  **out = palloc(sizeof(TVal *) * (n + 1));
	int			nout = 0;
	TVal	  **tmp = palloc(sizeof(TVal *) * Max(lc > 0 ? Min(lc, n) : n, 1));
	int			k = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		tpl_charge(1);
		if (k == lc)
		{
			out[nout++] = tv_list(tmp, k);
			/* a batch holds at most lc items: no quadratic allocation */
			tmp = palloc(sizeof(TVal *) * Max(lc > 0 ? Min(lc, n - i) : n - i, 1));
			k = 0;
		}
		tmp[k++] = items->u.list.items[i];
	}
	if (k > 0)
	{
		if (fill_with->kind != TV_NONE)
			out[nout++] = fill_batch(tmp, k, linecount, fill_with);
		else
			out[nout++] = tv_list(tmp, k);
	}
	return tv_generator(out, nout);
}

/*
 * tpl_filter_slice is Jinja2's slice filter: a generator of slices lists
 * of about equal length, the shorter ones filled with fill_with unless it
 * is None
 */
TVal *
tpl_filter_slice(TVal *v, TVal *slices, TVal *fill_with)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	int64		ns;
	int64		per;
	int64		extra;
	int64		offset = 0;
	int64		s;
	TVal	  **out;

	if (slices->kind != TV_INT && slices->kind != TV_BOOL)
		tv_fail("'%s' object cannot be interpreted as an integer", tv_type_name(slices));
	ns = slices->kind == TV_BOOL ? slices->u.b : slices->u.i;
	if (ns == 0)
		tv_fail("integer division or modulo by zero");
	if (ns < 0)
		return tv_generator(NULL, 0);
	tpl_reserve((Size) Min(ns, (int64) (MaxAllocSize / sizeof(TVal *))) * (sizeof(TVal *) + sizeof(TVal)));
	tpl_charge(ns);
	if (ns > (int64) (MaxAllocSize / sizeof(TVal *)))
		tv_fail("slice count %lld is too large", (long long) ns);
	per = n / ns;
	extra = n % ns;
	out = palloc(sizeof(TVal *) * Max(ns, 1));
	for (s = 0; s < ns; s++)
	{
		int64		start = offset + s * per;
		int64		end;
		int64		len;
		TVal	  **part;
		bool		fill;

		if ((s & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (s < extra)
			offset++;
		end = offset + (s + 1) * per;
		len = end - start;
		fill = fill_with->kind != TV_NONE && s >= extra;
		part = palloc(sizeof(TVal *) * (len + 1));
		if (len > 0)
			memcpy(part, items->u.list.items + start, sizeof(TVal *) * len);
		if (fill)
			part[len++] = fill_with;
		out[s] = tv_list(part, (int) len);
	}
	return tv_generator(out, (int) ns);
}

/*
 * tpl_filter_groupby is Jinja2's groupby filter: the items sorted by the
 * attribute and grouped by equal values, as (grouper, list) namedtuples;
 * without case_sensitive strings group ignoring case and the grouper is
 * the value of the group's first item.
 */
TVal *
tpl_filter_groupby(TVal *v, TVal *attribute, TVal *dflt, TVal *case_sensitive)
{
	int			n;
	TVal	   *items = tv_iter_items(v, &n);
	int			np;
	TVal	  **parts = attr_parts(attribute, &np);
	bool		cs = tv_truthy(case_sensitive);
	SortItem   *arr = palloc(sizeof(SortItem) * Max(n, 1));
	TVal	  **out = palloc(sizeof(TVal *) * Max(n, 1));
	int			nout = 0;
	int			i;
	int			start;

	for (i = 0; i < n; i++)
	{
		tpl_charge(1);
		arr[i].item = items->u.list.items[i];
		arr[i].key = ignore_case(tpl_attr_get(arr[i].item, parts, np, dflt), cs);
	}
	sort_by_keys(arr, n, false);
	start = 0;
	for (i = 1; i <= n; i++)
	{
		if (i < n)
		{
			tpl_charge(1);
			if (tv_equal(arr[i].key, arr[start].key))
				continue;
		}
		if (i > start)
		{
			TVal	  **members = palloc(sizeof(TVal *) * (i - start));
			TVal	  **pair = palloc(sizeof(TVal *) * 2);
			TVal	   *g;
			int			k;

			for (k = start; k < i; k++)
				members[k - start] = arr[k].item;
			pair[0] = cs ? arr[start].key : tpl_attr_get(arr[start].item, parts, np, dflt);
			pair[1] = tv_list(members, i - start);
			g = tv_tuple(pair, 2);
			g->flags |= TVF_GROUP;
			out[nout++] = g;
		}
		start = i;
	}
	return tv_list(out, nout);
}
