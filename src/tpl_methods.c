/*-------------------------------------------------------------------------
 *
 * tpl_methods.c
 *	  Method calls on template values ("s.split(',')", "d.get('k', 0)")
 *	  and slicing ("s[1:-1]", "l[::-1]"), with Python's semantics.
 *
 * The methods are Python's (Jinja2's default environment calls them as
 * Python would): the str methods that read a string, dict.get, keys,
 * values, items and copy, and the list and tuple methods count, index and
 * copy.  Methods that change their object (list.append, dict.update, ...)
 * are refused with an error naming them: noetl's values are shared with
 * the context they came from, and NoETL's playbooks do not use them in
 * templates.  So are the few methods noetl does not implement; the error
 * names the method.
 *
 * dict.keys(), values() and items() return views: lists flagged with
 * TVF_KEYS, TVF_VALUES or TVF_ITEMS, which print as Python prints them
 * ("dict_keys(['a'])"), iterate, have a length and compare as Python's
 * views do, and cannot be indexed or serialised to JSON.
 *
 * Character classes and case mappings are those of C.UTF-8 (Python uses
 * its own Unicode database; they agree on the common scripts).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <wctype.h>
#include <locale.h>

#include "common/int.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "template.h"

/* the longest string a method builds by padding (ljust, zfill, ...) */
#define METHOD_MAX_WIDTH	(MaxAllocSize / 8)

static locale_t utf8_locale = (locale_t) 0;
static bool utf8_locale_tried = false;

/* the_locale returns C.UTF-8, or 0 when it is missing */
static locale_t
the_locale(void)
{
	if (!utf8_locale_tried)
	{
		utf8_locale_tried = true;
		utf8_locale = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C.UTF-8", (locale_t) 0);
	}
	return utf8_locale;
}

/* ------------------------------------------------------------ code points */

/*
 * A string decoded into the byte offsets of its code points: OFF(c, i) is
 * where code point i starts, OFF(c, n) the length in bytes.  An ASCII
 * string, the common case, needs no table.
 */
typedef struct Chars
{
	const char *p;
	int			n;
	int		   *off;			/* NULL when ASCII: code point i is byte i */
} Chars;

#define OFF(c, i)	((c)->off ? (c)->off[i] : (i))

/* decode finds the code points of s (charged, and reserved in the budget) */
static void
decode(TVal *s, Chars *c)
{
	int			i;
	int			k = 0;

	tpl_charge_bytes(s->u.s.len);
	c->p = s->u.s.p;
	c->off = NULL;
	c->n = s->u.s.len;
	for (i = 0; i < s->u.s.len; i++)
		if (s->u.s.p[i] & 0x80)
			break;
	if (i == s->u.s.len)
		return;
	tpl_reserve((Size) (s->u.s.len + 1) * sizeof(int));
	tpl_charge_bytes(s->u.s.len);
	c->off = palloc(sizeof(int) * (s->u.s.len + 1));
	for (i = 0; i < s->u.s.len; i++)
		if ((s->u.s.p[i] & 0xC0) != 0x80)
			c->off[k++] = i;
	c->off[k] = s->u.s.len;
	c->n = k;
}

/* char_at returns code point i */
static pg_wchar
char_at(Chars *c, int i)
{
	if (c->off == NULL)
		return (unsigned char) c->p[i];
	return utf8_to_unicode((const unsigned char *) c->p + OFF(c, i));
}

/* append_wchar appends a code point in UTF-8 */
static void
append_wchar(StringInfo out, pg_wchar w)
{
	unsigned char u[8];

	unicode_to_utf8(w, u);
	appendBinaryStringInfo(out, (char *) u, pg_utf_mblen(u));
}

/* map_case upper- or lower-cases one code point, as C.UTF-8 does */
static pg_wchar
map_case(pg_wchar c, bool upper)
{
	locale_t	loc;

	if (c < 0x80)
	{
		if (upper && c >= 'a' && c <= 'z')
			return c - 32;
		if (!upper && c >= 'A' && c <= 'Z')
			return c + 32;
		return c;
	}
	loc = the_locale();
	if (loc == (locale_t) 0)
		return c;
	return upper ? (pg_wchar) towupper_l((wint_t) c, loc)
		: (pg_wchar) towlower_l((wint_t) c, loc);
}

/* is_upper and is_lower: a code point that has a lower (upper) case */
static bool
is_upper(pg_wchar c)
{
	return map_case(c, false) != c;
}

static bool
is_lower(pg_wchar c)
{
	return map_case(c, true) != c;
}

/* is_class: isdigit ('d'), isalpha ('a'), isalnum ('n'), isspace ('s') of one code point */
static bool
is_class(pg_wchar c, char cls)
{
	locale_t	loc;

	if (c < 0x80)
	{
		switch (cls)
		{
			case 'd':
				return c >= '0' && c <= '9';
			case 'a':
				return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
			case 'n':
				return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
			case 's':
				return py_isspace(c);
		}
		return false;
	}
	if (cls == 's')
		return py_isspace(c);
	loc = the_locale();
	if (loc == (locale_t) 0)
		return false;
	switch (cls)
	{
		case 'd':
			return iswdigit_l((wint_t) c, loc);
		case 'a':
			return iswalpha_l((wint_t) c, loc);
		case 'n':
			return iswalnum_l((wint_t) c, loc);
	}
	return false;
}

/* ------------------------------------------------------------ arguments */

/* no_kwargs refuses keyword arguments, as most of Python's str methods do */
static void
no_kwargs(const char *type, const char *name, int nkwargs)
{
	if (nkwargs > 0)
		tv_fail("%s.%s() takes no keyword arguments", type, name);
}

/* nargs_between checks the count of positional arguments, with Python's messages */
static void
nargs_between(const char *name, int nargs, int lo, int hi)
{
	if (nargs < lo || nargs > hi)
	{
		if (lo == hi && lo == 0)
			tv_fail("%s() takes no arguments (%d given)", name, nargs);
		if (lo == hi)
			tv_fail("%s() takes exactly one argument (%d given)", name, nargs);
		if (nargs < lo)
			tv_fail("%s expected at least %d argument%s, got %d", name, lo, lo == 1 ? "" : "s", nargs);
		tv_fail("%s expected at most %d argument%s, got %d", name, hi, hi == 1 ? "" : "s", nargs);
	}
}

/* as_str requires a str argument, as Python's str methods do */
static TVal *
as_str(TVal *v, const char *what)
{
	if (v->kind != TV_STR)
		tv_fail("%s must be str, not %s", what, tv_type_name(v));
	return v;
}

/* as_int requires an int argument (bool counts) of at most 64 bits */
static int64
as_int(TVal *v)
{
	if (v->kind == TV_BOOL)
		return v->u.b ? 1 : 0;
	if (v->kind == TV_INT)
		return v->u.i;
	if (v->kind == TV_BIG)
		tv_fail("Python int too large to convert to C ssize_t");
	tv_fail("'%s' object cannot be interpreted as an integer", tv_type_name(v));
	return 0;
}

/* as_index is as_int for slice bounds, which Python clamps instead */
static int64
as_index(TVal *v)
{
	if (v->kind == TV_BIG)
		return tv_compare(v, tv_int(0), "<") < 0 ? PG_INT64_MIN : PG_INT64_MAX;
	return as_int(v);
}

/*
 * adjust clamps Python slice bounds start and end (None for absent) to
 * [0, n], as str.find's and list.index's optional arguments are.
 */
static void
adjust(TVal *start, TVal *end, int n, int *lo, int *hi)
{
	int64		s = 0;
	int64		e = n;

	if (start && start->kind != TV_NONE)
	{
		if (start->kind != TV_INT && start->kind != TV_BOOL && start->kind != TV_BIG)
			tv_fail("slice indices must be integers or None or have an __index__ method");
		s = as_index(start);
	}
	if (end && end->kind != TV_NONE)
	{
		if (end->kind != TV_INT && end->kind != TV_BOOL && end->kind != TV_BIG)
			tv_fail("slice indices must be integers or None or have an __index__ method");
		e = as_index(end);
	}
	if (s < 0)
		s = Max(s + n, 0);
	if (e < 0)
		e = Max(e + n, 0);
	/* a start beyond the end stays beyond it: nothing is found there */
	*lo = (int) Min(s, (int64) n + 1);
	*hi = (int) Min(e, n);
}

/* ------------------------------------------------------------ str */

/* case_map is lower, upper, capitalize, title and swapcase */
static TVal *
case_map(TVal *s, char mode)
{
	StringInfoData buf;
	Chars		c;
	int			i;
	bool		prev_cased = false;

	decode(s, &c);
	tpl_charge_alloc(s->u.s.len);
	tv_buf_init(&buf, s->u.s.len);
	for (i = 0; i < c.n; i++)
	{
		pg_wchar	w = char_at(&c, i);
		pg_wchar	r = w;

		switch (mode)
		{
			case 'l':
				r = map_case(w, false);
				break;
			case 'u':
				r = map_case(w, true);
				break;
			case 'c':
				r = map_case(w, i == 0);
				break;
			case 's':
				r = is_upper(w) ? map_case(w, false) : map_case(w, true);
				break;
			case 't':
				{
					bool		cased = is_upper(w) || is_lower(w);

					r = map_case(w, !prev_cased);
					prev_cased = cased;
					break;
				}
		}
		append_wchar(&buf, r);
	}
	return tv_str(buf.data, buf.len);
}

/* in_set says whether w is one of set's code points (whitespace without a set) */
static bool
in_set(pg_wchar w, Chars *set)
{
	int			i;

	if (set == NULL)
		return py_isspace(w);
	for (i = 0; i < set->n; i++)
		if (char_at(set, i) == w)
			return true;
	return false;
}

/* strip is str.strip, lstrip and rstrip (which: 'b', 'l', 'r') */
static TVal *
str_strip(TVal *s, TVal *chars, char which, const char *name)
{
	Chars		c;
	Chars		set;
	Chars	   *setp = NULL;
	int			lo = 0;
	int			hi;

	if (chars != NULL && chars->kind != TV_NONE)
	{
		if (chars->kind != TV_STR)
			tv_fail("%s arg must be None or str", name);
		decode(chars, &set);
		setp = &set;
	}
	decode(s, &c);
	hi = c.n;
	if (which != 'r')
		while (lo < hi)
		{
			tpl_charge(setp ? 1 + setp->n / TPL_BYTES_PER_STEP : 0);
			if (!in_set(char_at(&c, lo), setp))
				break;
			lo++;
		}
	if (which != 'l')
		while (hi > lo)
		{
			tpl_charge(setp ? 1 + setp->n / TPL_BYTES_PER_STEP : 0);
			if (!in_set(char_at(&c, hi - 1), setp))
				break;
			hi--;
		}
	return tv_str(c.p + OFF(&c, lo), OFF(&c, hi) - OFF(&c, lo));
}

/*
 * last_match returns the offset of the last occurrence of needle that
 * starts in [lo, hi - nlen] of p, or -1.  A candidate costs a step per
 * TPL_BYTES_PER_STEP bytes of needle compared, so that the quadratic worst
 * case ("aaaa...".rfind("aa...ab")) stays within the budget.
 */
static int
last_match(const char *p, int lo, int hi, const char *needle, int nlen)
{
	int			i;

	if (nlen == 0)
		return hi;
	for (i = hi - nlen; i >= lo; i--)
	{
		if (p[i] != needle[0])
			continue;
		tpl_charge(1 + nlen / TPL_BYTES_PER_STEP);
		if (memcmp(p + i, needle, nlen) == 0)
		{
			/* the bytes scanned, not the whole range: rsplit calls it per match */
			tpl_charge_bytes(hi - i);
			return i;
		}
	}
	tpl_charge_bytes(hi - lo);
	return -1;
}

/* list_add appends v to a growing array */
static void
list_add(TVal ***items, int *n, int *cap, TVal *v)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 8;
		tpl_reserve(sizeof(TVal *) * *cap);
		*items = *items ? repalloc(*items, sizeof(TVal *) * *cap)
			: palloc(sizeof(TVal *) * *cap);
	}
	(*items)[(*n)++] = v;
}

/* reverse_items reverses an array in place */
static void
reverse_items(TVal **items, int n)
{
	int			i;

	for (i = 0; i < n / 2; i++)
	{
		TVal	   *t = items[i];

		items[i] = items[n - 1 - i];
		items[n - 1 - i] = t;
	}
}

/*
 * str_split is str.split and str.rsplit (right): by a separator, or on
 * runs of whitespace when sep is None.
 */
static TVal *
str_split(TVal *s, TVal *sep, int64 maxsplit, bool right)
{
	TVal	  **items = NULL;
	int			n = 0;
	int			cap = 0;
	int64		done = 0;

	tpl_charge_bytes(s->u.s.len);
	if (sep->kind != TV_NONE)
	{
		const char *p = s->u.s.p;
		int			len = s->u.s.len;
		int			sl;

		as_str(sep, "separator");
		sl = sep->u.s.len;
		if (sl == 0)
			tv_fail("empty separator");
		if (!right)
		{
			int			start = 0;

			for (;;)
			{
				const char *hit;

				tpl_charge(1);
				hit = (maxsplit < 0 || done < maxsplit) ?
					memmem(p + start, len - start, sep->u.s.p, sl) : NULL;
				if (hit == NULL)
				{
					list_add(&items, &n, &cap, tv_str(p + start, len - start));
					break;
				}
				list_add(&items, &n, &cap, tv_str(p + start, hit - (p + start)));
				start = hit - p + sl;
				done++;
			}
		}
		else
		{
			int			end = len;

			while (maxsplit < 0 || done < maxsplit)
			{
				int			i = last_match(p, 0, end, sep->u.s.p, sl);

				if (i < 0)
					break;
				list_add(&items, &n, &cap, tv_str(p + i + sl, end - (i + sl)));
				end = i;
				done++;
			}
			list_add(&items, &n, &cap, tv_str(p, end));
			reverse_items(items, n);
		}
		return tv_list(items, n);
	}
	else
	{
		Chars		c;
		int			i;

		decode(s, &c);
		if (!right)
		{
			i = 0;
			for (;;)
			{
				int			j;

				while (i < c.n && py_isspace(char_at(&c, i)))
					i++;
				if (i == c.n)
					break;
				if (maxsplit >= 0 && done >= maxsplit)
				{
					/* the rest, with its trailing whitespace */
					list_add(&items, &n, &cap, tv_str(c.p + OFF(&c, i), OFF(&c, c.n) - OFF(&c, i)));
					break;
				}
				j = i;
				while (j < c.n && !py_isspace(char_at(&c, j)))
					j++;
				tpl_charge(1);
				list_add(&items, &n, &cap, tv_str(c.p + OFF(&c, i), OFF(&c, j) - OFF(&c, i)));
				done++;
				i = j;
			}
		}
		else
		{
			i = c.n;
			for (;;)
			{
				int			j;

				while (i > 0 && py_isspace(char_at(&c, i - 1)))
					i--;
				if (i == 0)
					break;
				if (maxsplit >= 0 && done >= maxsplit)
				{
					list_add(&items, &n, &cap, tv_str(c.p, OFF(&c, i)));
					break;
				}
				j = i;
				while (j > 0 && !py_isspace(char_at(&c, j - 1)))
					j--;
				tpl_charge(1);
				list_add(&items, &n, &cap, tv_str(c.p + OFF(&c, j), OFF(&c, i) - OFF(&c, j)));
				done++;
				i = j;
			}
			reverse_items(items, n);
		}
		return tv_list(items, n);
	}
}

/* is_line_break says whether w ends a line for str.splitlines */
static bool
is_line_break(pg_wchar w)
{
	return w == '\n' || w == '\r' || w == 0x0b || w == 0x0c || w == 0x1c ||
		w == 0x1d || w == 0x1e || w == 0x85 || w == 0x2028 || w == 0x2029;
}

/* str_splitlines is str.splitlines(keepends) */
static TVal *
str_splitlines(TVal *s, bool keepends)
{
	Chars		c;
	TVal	  **items = NULL;
	int			n = 0;
	int			cap = 0;
	int			i = 0;

	decode(s, &c);
	while (i < c.n)
	{
		int			j = i;
		int			eol;

		while (j < c.n && !is_line_break(char_at(&c, j)))
			j++;
		eol = j;
		if (j < c.n)
		{
			if (char_at(&c, j) == '\r' && j + 1 < c.n && char_at(&c, j + 1) == '\n')
				j += 2;
			else
				j++;
		}
		tpl_charge(1);
		list_add(&items, &n, &cap, tv_str(c.p + OFF(&c, i), OFF(&c, keepends ? j : eol) - OFF(&c, i)));
		i = j;
	}
	return tv_list(items, n);
}

/* affix_matches says whether [lo, hi) of c starts (or ends) with affix */
static bool
affix_matches(Chars *c, int lo, int hi, TVal *affix, bool suffix)
{
	int			blo = OFF(c, lo);
	int			bhi = OFF(c, hi);
	int			l = affix->u.s.len;

	if (bhi - blo < l)
		return false;
	tpl_charge_bytes(l);
	if (suffix)
		return memcmp(c->p + bhi - l, affix->u.s.p, l) == 0;
	return memcmp(c->p + blo, affix->u.s.p, l) == 0;
}

/* str_startswith is str.startswith and str.endswith */
static TVal *
str_startswith(TVal *s, TVal **args, int nargs, bool suffix)
{
	const char *name = suffix ? "endswith" : "startswith";
	Chars		c;
	int			lo;
	int			hi;
	TVal	   *what = args[0];

	nargs_between(name, nargs, 1, 3);
	decode(s, &c);
	adjust(nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL, c.n, &lo, &hi);
	if (what->kind == TV_LIST && (what->flags & TVF_TUPLE))
	{
		int			i;

		for (i = 0; i < what->u.list.n; i++)
		{
			TVal	   *x = tv_list_get(what, i);

			if (x->kind != TV_STR)
				tv_fail("tuple for %s must only contain str, not %s", name, tv_type_name(x));
			if (lo <= hi && affix_matches(&c, lo, hi, x, suffix))
				return tv_bool(true);
		}
		return tv_bool(false);
	}
	if (what->kind != TV_STR)
		tv_fail("%s first arg must be str or a tuple of str, not %s", name, tv_type_name(what));
	if (lo > hi)
		return tv_bool(false);
	return tv_bool(affix_matches(&c, lo, hi, what, suffix));
}

/*
 * str_find is str.find, rfind, index, rindex and count (mode 'f', 'F',
 * 'i', 'I', 'c').
 */
static TVal *
str_find(TVal *s, TVal **args, int nargs, char mode, const char *name)
{
	Chars		c;
	int			lo;
	int			hi;
	TVal	   *sub;
	int			blo;
	int			bhi;
	int			found = -1;

	nargs_between(name, nargs, 1, 3);
	if (args[0]->kind != TV_STR)
		tv_fail("must be str, not %s", tv_type_name(args[0]));
	sub = args[0];
	decode(s, &c);
	adjust(nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL, c.n, &lo, &hi);
	if (lo > hi)
	{
		if (mode == 'c')
			return tv_int(0);
		if (mode == 'i' || mode == 'I')
			tv_fail("substring not found");
		return tv_int(-1);
	}
	blo = OFF(&c, lo);
	bhi = OFF(&c, hi);
	tpl_charge_bytes(bhi - blo);
	if (mode == 'c')
	{
		int64		count = 0;
		int			i = blo;

		if (sub->u.s.len == 0)
			return tv_int(hi - lo + 1);
		for (;;)
		{
			const char *hit = memmem(c.p + i, bhi - i, sub->u.s.p, sub->u.s.len);

			if (hit == NULL)
				break;
			count++;
			i = hit - c.p + sub->u.s.len;
		}
		return tv_int(count);
	}
	if (mode == 'f' || mode == 'i')
	{
		const char *hit = memmem(c.p + blo, bhi - blo, sub->u.s.p, sub->u.s.len);

		if (hit != NULL)
			found = hit - c.p;
	}
	else
	{
		found = last_match(c.p, blo, bhi, sub->u.s.p, sub->u.s.len);
	}
	if (found < 0)
	{
		if (mode == 'i' || mode == 'I')
			tv_fail("substring not found");
		return tv_int(-1);
	}
	{
		/* the byte offset back to a code point index */
		int			k = lo;

		while (OFF(&c, k) < found)
			k++;
		return tv_int(k);
	}
}

/* str_replace is str.replace(old, new, count) */
static TVal *
str_replace(TVal *s, TVal *old, TVal *new, int64 count)
{
	StringInfoData buf;
	int64		done = 0;
	int			i = 0;

	as_str(old, "replace() argument 1");
	as_str(new, "replace() argument 2");
	tpl_charge_alloc(s->u.s.len);
	tv_buf_init(&buf, s->u.s.len);
	if (old->u.s.len == 0)
	{
		Chars		c;
		int			k;

		decode(s, &c);
		for (k = 0; k <= c.n; k++)
		{
			if (count < 0 || done < count)
			{
				tpl_charge_alloc(new->u.s.len + 1);
				appendBinaryStringInfo(&buf, new->u.s.p, new->u.s.len);
				done++;
			}
			if (k < c.n)
				appendBinaryStringInfo(&buf, c.p + OFF(&c, k), OFF(&c, k + 1) - OFF(&c, k));
		}
		return tv_str(buf.data, buf.len);
	}
	while (i < s->u.s.len)
	{
		const char *hit = (count < 0 || done < count) ?
			memmem(s->u.s.p + i, s->u.s.len - i, old->u.s.p, old->u.s.len) : NULL;

		if (hit == NULL)
			break;
		appendBinaryStringInfo(&buf, s->u.s.p + i, hit - (s->u.s.p + i));
		tpl_charge_alloc(new->u.s.len + 1);
		appendBinaryStringInfo(&buf, new->u.s.p, new->u.s.len);
		i = hit - s->u.s.p + old->u.s.len;
		done++;
	}
	appendBinaryStringInfo(&buf, s->u.s.p + i, s->u.s.len - i);
	return tv_str(buf.data, buf.len);
}

/* str_join is str.join(iterable) */
static TVal *
str_join(TVal *sep, TVal *iterable)
{
	StringInfoData buf;
	TVal	   *items;
	int			n;
	int			i;

	if (iterable->kind != TV_LIST && iterable->kind != TV_DICT &&
		iterable->kind != TV_STR && iterable->kind != TV_RANGE)
		tv_fail("can only join an iterable");
	items = tv_iter_items(iterable, &n);
	tv_buf_init(&buf, 64);
	for (i = 0; i < n; i++)
	{
		TVal	   *x = items->u.list.items[i];

		if (x->kind != TV_STR)
			tv_fail("sequence item %d: expected str instance, %s found", i, tv_type_name(x));
		tpl_charge_alloc(x->u.s.len + sep->u.s.len + 1);
		if (i > 0)
			appendBinaryStringInfo(&buf, sep->u.s.p, sep->u.s.len);
		appendBinaryStringInfo(&buf, x->u.s.p, x->u.s.len);
	}
	return tv_str(buf.data, buf.len);
}

/* str_pad is ljust, rjust, center and zfill (mode 'l', 'r', 'c', 'z') */
static TVal *
str_pad(TVal *s, TVal **args, int nargs, char mode, const char *name)
{
	int64		width;
	pg_wchar	fill = ' ';
	Chars		c;
	int64		marg;
	int64		left;
	int64		i;
	StringInfoData buf;
	unsigned char fb[8];
	int			fl;

	nargs_between(name, nargs, 1, mode == 'z' ? 1 : 2);
	width = as_int(args[0]);
	if (nargs > 1)
	{
		Chars		f;

		if (args[1]->kind != TV_STR)
			tv_fail("%s() argument 2 must be str, not %s", name, tv_type_name(args[1]));
		decode(args[1], &f);
		if (f.n != 1)
			tv_fail("The fill character must be exactly one character long");
		fill = char_at(&f, 0);
	}
	decode(s, &c);
	if (width <= c.n)
		return s;
	if (width > METHOD_MAX_WIDTH)
		tv_fail("the result of %s() is too long", name);
	unicode_to_utf8(fill, fb);
	fl = pg_utf_mblen(fb);
	marg = width - c.n;
	tpl_charge_alloc((Size) marg * fl + s->u.s.len);
	tv_buf_init(&buf, (int) (marg * fl + s->u.s.len));
	switch (mode)
	{
		case 'l':
			left = 0;
			break;
		case 'r':
			left = marg;
			break;
		case 'c':
			left = marg / 2 + (marg & width & 1);
			break;
		default:
			{
				/* zfill: zeros after a leading sign */
				int			sign = (c.n > 0 && (s->u.s.p[0] == '+' || s->u.s.p[0] == '-')) ? 1 : 0;

				appendBinaryStringInfo(&buf, s->u.s.p, sign);
				for (i = 0; i < marg; i++)
					appendStringInfoChar(&buf, '0');
				appendBinaryStringInfo(&buf, s->u.s.p + sign, s->u.s.len - sign);
				return tv_str(buf.data, buf.len);
			}
	}
	for (i = 0; i < left; i++)
		appendBinaryStringInfo(&buf, (char *) fb, fl);
	appendBinaryStringInfo(&buf, s->u.s.p, s->u.s.len);
	for (i = left; i < marg; i++)
		appendBinaryStringInfo(&buf, (char *) fb, fl);
	return tv_str(buf.data, buf.len);
}

/* str_partition is str.partition and rpartition */
static TVal *
str_partition(TVal *s, TVal *sep, bool right)
{
	TVal	  **items = palloc(sizeof(TVal *) * 3);
	const char *hit = NULL;

	if (sep->kind != TV_STR)
		tv_fail("must be str, not %s", tv_type_name(sep));
	if (sep->u.s.len == 0)
		tv_fail("empty separator");
	tpl_charge_bytes(s->u.s.len);
	if (!right)
		hit = memmem(s->u.s.p, s->u.s.len, sep->u.s.p, sep->u.s.len);
	else
	{
		int			i = last_match(s->u.s.p, 0, s->u.s.len, sep->u.s.p, sep->u.s.len);

		if (i >= 0)
			hit = s->u.s.p + i;
	}
	if (hit == NULL)
	{
		items[0] = right ? tv_str("", 0) : s;
		items[1] = tv_str("", 0);
		items[2] = right ? s : tv_str("", 0);
	}
	else
	{
		items[0] = tv_str(s->u.s.p, hit - s->u.s.p);
		items[1] = sep;
		items[2] = tv_str(hit + sep->u.s.len, s->u.s.len - (hit - s->u.s.p) - sep->u.s.len);
	}
	return tv_tuple(items, 3);
}

/* str_is is isdigit, isalpha, isalnum, isspace, islower, isupper */
static TVal *
str_is(TVal *s, char cls)
{
	Chars		c;
	int			i;

	/* the same rule as the tests lower and upper */
	if (cls == 'l' || cls == 'u')
		return tv_bool(tpl_case_test(s, cls == 'u'));
	decode(s, &c);
	if (c.n == 0)
		return tv_bool(false);
	for (i = 0; i < c.n; i++)
	{
		if (!is_class(char_at(&c, i), cls))
			return tv_bool(false);
	}
	return tv_bool(true);
}

/* bind_kwargs binds the arguments of split, rsplit and splitlines, by position or name */
static void
bind_kwargs(const char *name, const char *const *names, int nnames, TVal **p,
			TVal **args, int nargs, char **kwnames, TVal **kwargs, int nkwargs)
{
	int			i;

	if (nargs > nnames)
		tv_fail("%s() takes at most %d arguments (%d given)", name, nnames, nargs);
	for (i = 0; i < nargs; i++)
		p[i] = args[i];
	for (i = 0; i < nkwargs; i++)
	{
		int			j;

		for (j = 0; j < nnames; j++)
			if (strcmp(kwnames[i], names[j]) == 0)
				break;
		if (j == nnames)
			tv_fail("'%s' is an invalid keyword argument for %s()", kwnames[i], name);
		if (j < nargs)
			tv_fail("argument for %s() given by name ('%s') and position (%d)", name, kwnames[i], j + 1);
		p[j] = kwargs[i];
	}
}

/* str_method calls a method of str */
static TVal *
str_method(TVal *s, const char *name, TVal **args, int nargs,
		   char **kwnames, TVal **kwargs, int nkwargs)
{
	if (strcmp(name, "split") == 0 || strcmp(name, "rsplit") == 0)
	{
		static const char *const names[] = {"sep", "maxsplit"};
		TVal	   *p[2] = {tv_none(), tv_int(-1)};

		bind_kwargs(name, names, 2, p, args, nargs, kwnames, kwargs, nkwargs);
		if (p[0]->kind != TV_NONE && p[0]->kind != TV_STR)
			tv_fail("must be str or None, not %s", tv_type_name(p[0]));
		return str_split(s, p[0], as_int(p[1]), name[0] == 'r');
	}
	if (strcmp(name, "splitlines") == 0)
	{
		static const char *const names[] = {"keepends"};
		TVal	   *p[1] = {tv_bool(false)};

		bind_kwargs(name, names, 1, p, args, nargs, kwnames, kwargs, nkwargs);
		return str_splitlines(s, as_int(p[0]) != 0);
	}
	no_kwargs("str", name, nkwargs);
	if (strcmp(name, "lower") == 0 || strcmp(name, "upper") == 0 ||
		strcmp(name, "capitalize") == 0 || strcmp(name, "title") == 0 ||
		strcmp(name, "swapcase") == 0)
	{
		nargs_between(name, nargs, 0, 0);
		return case_map(s, name[0] == 'l' ? 'l' : name[0] == 'u' ? 'u' :
						name[0] == 'c' ? 'c' : name[0] == 't' ? 't' : 's');
	}
	if (strcmp(name, "strip") == 0 || strcmp(name, "lstrip") == 0 ||
		strcmp(name, "rstrip") == 0)
	{
		nargs_between(name, nargs, 0, 1);
		return str_strip(s, nargs ? args[0] : NULL,
						 name[0] == 's' ? 'b' : name[0], name);
	}
	if (strcmp(name, "startswith") == 0 || strcmp(name, "endswith") == 0)
		return str_startswith(s, args, nargs, name[0] == 'e');
	if (strcmp(name, "replace") == 0)
	{
		nargs_between("replace", nargs, 2, 3);
		return str_replace(s, args[0], args[1], nargs > 2 ? as_int(args[2]) : -1);
	}
	if (strcmp(name, "join") == 0)
	{
		nargs_between(name, nargs, 1, 1);
		return str_join(s, args[0]);
	}
	if (strcmp(name, "find") == 0)
		return str_find(s, args, nargs, 'f', name);
	if (strcmp(name, "rfind") == 0)
		return str_find(s, args, nargs, 'F', name);
	if (strcmp(name, "index") == 0)
		return str_find(s, args, nargs, 'i', name);
	if (strcmp(name, "rindex") == 0)
		return str_find(s, args, nargs, 'I', name);
	if (strcmp(name, "count") == 0)
		return str_find(s, args, nargs, 'c', name);
	if (strcmp(name, "isdigit") == 0 || strcmp(name, "isalpha") == 0 ||
		strcmp(name, "isalnum") == 0 || strcmp(name, "isspace") == 0 ||
		strcmp(name, "islower") == 0 || strcmp(name, "isupper") == 0)
	{
		nargs_between(name, nargs, 0, 0);
		return str_is(s, strcmp(name, "isdigit") == 0 ? 'd' :
					  strcmp(name, "isalpha") == 0 ? 'a' :
					  strcmp(name, "isalnum") == 0 ? 'n' :
					  strcmp(name, "isspace") == 0 ? 's' :
					  strcmp(name, "islower") == 0 ? 'l' : 'u');
	}
	if (strcmp(name, "ljust") == 0 || strcmp(name, "rjust") == 0 ||
		strcmp(name, "center") == 0 || strcmp(name, "zfill") == 0)
		return str_pad(s, args, nargs, name[0] == 'l' ? 'l' : name[0] == 'r' ? 'r' :
					   name[0] == 'c' ? 'c' : 'z', name);
	if (strcmp(name, "partition") == 0 || strcmp(name, "rpartition") == 0)
	{
		nargs_between(name, nargs, 1, 1);
		return str_partition(s, args[0], name[0] == 'r');
	}
	if (strcmp(name, "removeprefix") == 0 || strcmp(name, "removesuffix") == 0)
	{
		bool		suffix = name[6] == 's';
		TVal	   *a;

		nargs_between(name, nargs, 1, 1);
		a = args[0];
		if (a->kind != TV_STR)
			tv_fail("%s() argument must be str, not %s", name, tv_type_name(a));
		if (a->u.s.len > s->u.s.len)
			return s;
		if (!suffix && memcmp(s->u.s.p, a->u.s.p, a->u.s.len) == 0)
			return tv_str(s->u.s.p + a->u.s.len, s->u.s.len - a->u.s.len);
		if (suffix && memcmp(s->u.s.p + s->u.s.len - a->u.s.len, a->u.s.p, a->u.s.len) == 0)
			return tv_str(s->u.s.p, s->u.s.len - a->u.s.len);
		return s;
	}
	tv_fail("the method str.%s() is not supported by noetl templates", name);
	return NULL;
}

/* ------------------------------------------------------------ dict, list */

/* dict_view returns d's keys, values or items as a view (see the header) */
static TVal *
dict_view(TVal *d, uint8 flag)
{
	TVal	  **items;
	TVal	   *v;
	int			i;

	tv_materialize(d);
	tpl_reserve((Size) Max(d->u.dict.n, 1) * (sizeof(TVal *) + (flag == TVF_ITEMS ? sizeof(TVal) + 2 * sizeof(TVal *) : 0)));
	tpl_charge(d->u.dict.n);
	items = palloc(sizeof(TVal *) * Max(d->u.dict.n, 1));
	for (i = 0; i < d->u.dict.n; i++)
	{
		if (flag == TVF_KEYS)
			items[i] = d->u.dict.keys[i];
		else if (flag == TVF_VALUES)
			items[i] = d->u.dict.vals[i];
		else
		{
			TVal	  **pair = palloc(sizeof(TVal *) * 2);

			pair[0] = d->u.dict.keys[i];
			pair[1] = d->u.dict.vals[i];
			items[i] = tv_tuple(pair, 2);
		}
	}
	v = tv_list(items, d->u.dict.n);
	v->flags |= flag;
	return v;
}

/* dict_method calls a method of dict */
static TVal *
dict_method(TVal *d, const char *name, TVal **args, int nargs, int nkwargs)
{
	no_kwargs("dict", name, nkwargs);
	if (strcmp(name, "get") == 0)
	{
		bool		found;
		TVal	   *v;

		nargs_between("get", nargs, 1, 2);
		tv_key_hashable(args[0]);
		v = tv_dict_lookup(d, args[0], &found);
		if (found)
			return v;
		return nargs > 1 ? args[1] : tv_none();
	}
	if (strcmp(name, "keys") == 0 || strcmp(name, "values") == 0 ||
		strcmp(name, "items") == 0)
	{
		nargs_between(name, nargs, 0, 0);
		return dict_view(d, name[0] == 'k' ? TVF_KEYS : name[0] == 'v' ? TVF_VALUES : TVF_ITEMS);
	}
	if (strcmp(name, "copy") == 0)
	{
		TVal	   *c = tv_dict_new();

		nargs_between(name, nargs, 0, 0);
		tv_dict_update(c, d);
		return c;
	}
	if (strcmp(name, "fromkeys") == 0)
		tv_fail("the method dict.fromkeys() is not supported by noetl templates");
	tv_fail("the method dict.%s() changes the dict and is not supported by noetl templates; build a new one (dict(d, key=value))", name);
	return NULL;
}

/* seq_method calls a method of list or tuple */
static TVal *
seq_method(TVal *l, const char *name, TVal **args, int nargs, int nkwargs)
{
	const char *type = tv_type_name(l);
	int			n;
	int			i;

	no_kwargs(type, name, nkwargs);
	tv_materialize(l);
	n = l->u.list.n;
	if (strcmp(name, "count") == 0)
	{
		int64		count = 0;

		nargs_between("count", nargs, 1, 1);
		for (i = 0; i < n; i++)
		{
			tpl_charge(1);
			if (tv_equal(l->u.list.items[i], args[0]))
				count++;
		}
		return tv_int(count);
	}
	if (strcmp(name, "index") == 0)
	{
		int			lo;
		int			hi;

		nargs_between("index", nargs, 1, 3);
		if ((nargs > 1 && !(args[1]->kind == TV_INT || args[1]->kind == TV_BOOL || args[1]->kind == TV_BIG)) ||
			(nargs > 2 && !(args[2]->kind == TV_INT || args[2]->kind == TV_BOOL || args[2]->kind == TV_BIG)))
			tv_fail("slice indices must be integers or have an __index__ method");
		adjust(nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL, n, &lo, &hi);
		for (i = lo; i < hi; i++)
		{
			tpl_charge(1);
			if (tv_equal(l->u.list.items[i], args[0]))
				return tv_int(i);
		}
		if (l->flags & TVF_TUPLE)
			tv_fail("tuple.index(x): x not in tuple");
		{
			StringInfoData r;

			tv_buf_init(&r, 32);
			tv_repr(&r, args[0]);
			tv_fail("%.*s%s is not in list", pg_mbcliplen(r.data, r.len, 200), r.data,
					r.len > 200 ? "..." : "");
		}
	}
	if (strcmp(name, "copy") == 0)
	{
		TVal	  **items;

		nargs_between(name, nargs, 0, 0);
		tpl_reserve(sizeof(TVal *) * Max(n, 1));
		tpl_charge(n);
		items = palloc(sizeof(TVal *) * Max(n, 1));
		for (i = 0; i < n; i++)
			items[i] = l->u.list.items[i];
		return tv_list(items, n);
	}
	tv_fail("the method list.%s() changes the list and is not supported by noetl templates; build a new one (l + [x])", name);
	return NULL;
}

/*
 * tpl_call_method calls the method name of obj (tpl_is_method(obj, name)
 * holds) with the evaluated arguments.
 */
TVal *
tpl_call_method(TVal *obj, const char *name, TVal **args, int nargs,
				char **kwnames, TVal **kwargs, int nkwargs)
{
	check_stack_depth();
	tpl_charge(1);
	switch (obj->kind)
	{
		case TV_STR:
			/* Markup's methods escape their arguments: noetl has only str's */
			if (obj->flags & TVF_MARKUP)
				tv_fail("the method Markup.%s() is not supported by noetl templates", name);
			return str_method(obj, name, args, nargs, kwnames, kwargs, nkwargs);
		case TV_DICT:
			return dict_method(obj, name, args, nargs, nkwargs);
		case TV_LIST:
			if (!(obj->flags & (TVF_GENERATOR | TVF_VIEW)))
				return seq_method(obj, name, args, nargs, nkwargs);
			break;
		default:
			break;
	}
	tv_fail("the method %s.%s() is not supported by noetl templates", tv_type_name(obj), name);
	return NULL;
}

/* ------------------------------------------------------------ slices */

/* slice_index reads a slice bound: an int, clamped like Python's; false if not an int */
static bool
slice_index(TVal *v, int64 *out)
{
	if (v->kind == TV_INT || v->kind == TV_BOOL || v->kind == TV_BIG)
	{
		*out = as_index(v);
		return true;
	}
	return false;
}

/*
 * tpl_slice is obj[start:stop:step] (None for an absent part): Python's
 * slice of a str, list, tuple or range.  Jinja2 compiles a slice to a
 * plain Python subscript (not environment.getitem), so what Python
 * refuses is an error here too, except in a slice of constants (see
 * below).
 */
TVal *
tpl_slice(TVal *obj, TVal *start, TVal *stop, TVal *step, bool constant)
{
	int64		st = 1;
	int64		lo = 0;
	int64		hi = 0;
	int64		n;
	int64		count;
	int64		i;
	int64		k;
	bool		ok = true;

	if (step->kind != TV_NONE)
		ok = slice_index(step, &st);
	if (ok && step->kind != TV_NONE && st == 0)
		tv_fail("slice step cannot be zero");
	if (ok && start->kind != TV_NONE)
		ok = slice_index(start, &lo);
	if (ok && stop->kind != TV_NONE)
		ok = slice_index(stop, &hi);
	/*
	 * Jinja2's code generator folds an output that is a slice of constants
	 * through environment.getitem, which turns Python's TypeError and
	 * KeyError into an Undefined: "{{ 5[1:] }}" prints nothing, while
	 * "{{ x[1:] }}" and "{% set v = 5[1:] %}" fail (tpl_parse.c decides
	 * which slices fold).
	 */
	if (constant && (!ok || obj->kind == TV_DICT ||
					 !(obj->kind == TV_STR || obj->kind == TV_RANGE || obj->kind == TV_LIST)))
		return tv_undef(psprintf("'%s object' has no element of a slice", tv_type_name(obj)));
	if (obj->kind == TV_DICT)
		tv_fail("a slice of a dict is not a key (KeyError or unhashable type: 'slice')");
	if (!(obj->kind == TV_STR || obj->kind == TV_RANGE ||
		  (obj->kind == TV_LIST && !(obj->flags & (TVF_GENERATOR | TVF_VIEW)))))
		tv_fail("'%s' object is not subscriptable", tv_type_name(obj));
	if (!ok)
		tv_fail("slice indices must be integers or None or have an __index__ method");
	if (st == PG_INT64_MIN)
		st = -PG_INT64_MAX;
	n = obj->kind == TV_STR ? -1 : tv_len(obj);

	{
		Chars		c;

		if (obj->kind == TV_STR)
		{
			decode(obj, &c);
			n = c.n;
		}
		/* PySlice_AdjustIndices */
		if (start->kind == TV_NONE)
			lo = st < 0 ? n - 1 : 0;
		else if (lo < 0)
		{
			lo = lo < -n ? (st < 0 ? -1 : 0) : lo + n;
		}
		else if (lo >= n)
			lo = st < 0 ? n - 1 : n;
		if (stop->kind == TV_NONE)
			hi = st < 0 ? -1 : n;
		else if (hi < 0)
		{
			hi = hi < -n ? (st < 0 ? -1 : 0) : hi + n;
		}
		else if (hi >= n)
			hi = st < 0 ? n - 1 : n;
		if (st < 0)
			count = hi < lo ? (lo - hi - 1) / (-st) + 1 : 0;
		else
			count = lo < hi ? (hi - lo - 1) / st + 1 : 0;

		if (obj->kind == TV_RANGE)
		{
			TVal	   *r = palloc0(sizeof(TVal));
			int64		rs = obj->u.range.step;

			if (step->kind == TV_BIG)
				tv_fail("a slice of a range beyond 64 bits is not supported by noetl templates");
			/* range(start + lo*step, start + hi*step, step*st), as Python computes it */
			r->kind = TV_RANGE;
			if (pg_mul_s64_overflow(lo, rs, &r->u.range.start) ||
				pg_add_s64_overflow(r->u.range.start, obj->u.range.start, &r->u.range.start) ||
				pg_mul_s64_overflow(hi, rs, &r->u.range.stop) ||
				pg_add_s64_overflow(r->u.range.stop, obj->u.range.start, &r->u.range.stop) ||
				pg_mul_s64_overflow(rs, st, &r->u.range.step))
				tv_fail("a slice of a range beyond 64 bits is not supported by noetl templates");
			return r;
		}
		if (obj->kind == TV_STR)
		{
			StringInfoData buf;
			TVal	   *r;

			if (st == 1)
				r = tv_str(c.p + OFF(&c, lo), count > 0 ? OFF(&c, hi) - OFF(&c, lo) : 0);
			else
			{
				tpl_charge_alloc(obj->u.s.len);
				tv_buf_init(&buf, obj->u.s.len);
				for (i = 0, k = lo; i < count; i++, k += st)
					appendBinaryStringInfo(&buf, c.p + OFF(&c, k), OFF(&c, k + 1) - OFF(&c, k));
				r = tv_str(buf.data, buf.len);
			}
			r->flags = obj->flags & TVF_MARKUP;
			return r;
		}
	}
	{
		TVal	  **items;

		tv_materialize(obj);
		tpl_reserve(sizeof(TVal *) * Max(count, 1));
		tpl_charge(count);
		items = palloc(sizeof(TVal *) * Max(count, 1));
		for (i = 0, k = lo; i < count; i++, k += st)
			items[i] = obj->u.list.items[k];
		if (obj->flags & TVF_TUPLE)
			return tv_tuple(items, (int) count);
		return tv_list(items, (int) count);
	}
}
