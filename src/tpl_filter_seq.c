/*-------------------------------------------------------------------------
 *
 * tpl_filter_seq.c
 *	  The template filters on sequences: sort, unique, min, max, sum, join,
 *	  first and last.
 *
 * As Jinja2 3.1 has them: an "attribute" argument names a path of keys
 * and indexes ("a.b.0") into each item, or several paths separated by
 * commas for sort; strings compare case-insensitively unless
 * case_sensitive is set; sort is stable (reverse too), unique yields a
 * one-shot generator that keeps the first of equal items.  Each item
 * touched is charged one step.  tpl_filter.c binds the arguments and calls
 * these.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "template.h"

/*
 * attr_parts splits an attribute path "a.b.0" into parts, digits as ints.
 */
static TVal **
attr_parts(TVal *attribute, int *n)
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

/* attr_get follows an attribute path into item, as Jinja2's attrgetter does */
static TVal *
attr_get(TVal *item, TVal **parts, int nparts)
{
	int			i;

	for (i = 0; i < nparts; i++)
		item = tpl_getitem(item, parts[i]);
	return item;
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
		if (key->kind == TV_LIST || key->kind == TV_DICT)
			tv_fail("unhashable type: '%s'", tv_type_name(key));
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
