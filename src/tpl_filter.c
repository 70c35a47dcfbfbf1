/*-------------------------------------------------------------------------
 *
 * tpl_filter.c
 *	  The filters of the template engine: argument binding, and the filters
 *	  on strings and numbers (the ones on sequences are in tpl_filter_seq.c).
 *
 * Each filter does what Jinja2 3.1's filter of that name does with the
 * default (non-autoescaping) environment, including its quirks: "int"
 * turns "42.23" into 42 and anything unconvertible into its default,
 * "round" returns a float and rounds half to even, "unique" yields a
 * one-shot generator, "min" and "max" compare strings case-insensitively,
 * "tojson" sorts keys and escapes <, >, & and ' for HTML.
 *
 * Arguments are bound as Python binds them: positionally, then by
 * keyword, with the filter's defaults.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <locale.h>
#include <math.h>
#include <wctype.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"

#include "template.h"

/* filter numbers, in the order of filter_names in tpl_parse.c */
enum
{
	F_DEFAULT, F_D, F_LENGTH, F_COUNT, F_TOJSON, F_LOWER, F_UPPER,
	F_CAPITALIZE, F_TITLE, F_REPLACE, F_JOIN, F_INT, F_FLOAT, F_STRING,
	F_TRIM, F_FIRST, F_LAST, F_ABS, F_ROUND, F_LIST, F_SORT, F_UNIQUE,
	F_MIN, F_MAX, F_SUM,
	F_MAP, F_SELECT, F_REJECT, F_SELECTATTR, F_REJECTATTR, F_DICTSORT,
	F_ITEMS, F_REVERSE, F_BATCH, F_SLICE, F_GROUPBY, F_TRUNCATE, F_WORDCOUNT,
	F_CENTER, F_INDENT, F_FORMAT, F_URLENCODE, F_FILESIZEFORMAT,
	F_B64ENCODE, F_B64DECODE
};

/*
 * Jinja2 3.1's builtin filters that noetl does not have: the "filter"
 * test and map() tell them from names that are no filter at all.
 */
static const char *const jinja2_only_filters[] = {
	"attr", "e", "escape", "forceescape", "pprint", "random", "safe",
	"striptags", "urlize", "wordwrap", "xmlattr"
};

/* tpl_is_jinja2_filter says whether name is a Jinja2 filter noetl lacks */
bool
tpl_is_jinja2_filter(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(jinja2_only_filters); i++)
		if (strcmp(name, jinja2_only_filters[i]) == 0)
			return true;
	return false;
}

/* no_args refuses arguments to a filter that takes none */
static void
no_args(const char *name, int nargs, int nkwargs)
{
	if (nargs + nkwargs > 0)
		tv_fail("do_%s() takes 1 positional argument but %d were given", name, nargs + nkwargs + 1);
}

/*
 * tpl_bind matches positional and keyword arguments to parameter names, as
 * a Python call does; missing ones get defaults[i] (NULL = required).
 */
void
tpl_bind(const char *fname, TVal **args, int nargs, char **kwnames,
		 TVal **kwargs, int nkwargs, const char *const *params, TVal **defaults,
		 int nparams, TVal **out)
{
	int			i;

	if (nargs > nparams)
		tv_fail("%s() takes from 1 to %d positional arguments but %d were given",
				fname, nparams + 1, nargs + 1);
	for (i = 0; i < nparams; i++)
		out[i] = NULL;
	for (i = 0; i < nargs; i++)
		out[i] = args[i];
	for (i = 0; i < nkwargs; i++)
	{
		int			k;

		for (k = 0; k < nparams; k++)
			if (strcmp(kwnames[i], params[k]) == 0)
				break;
		if (k == nparams)
			tv_fail("%s() got an unexpected keyword argument '%s'", fname, kwnames[i]);
		if (out[k] != NULL)
			tv_fail("%s() got multiple values for argument '%s'", fname, kwnames[i]);
		out[k] = kwargs[i];
	}
	for (i = 0; i < nparams; i++)
		if (out[i] == NULL)
			out[i] = defaults[i];
}

/* with_markup gives result the Markup flag of from */
static TVal *
with_markup(TVal *result, TVal *from)
{
	result->flags |= from->flags & TVF_MARKUP;
	return result;
}

/* ------------------------------------------------------------ case */

static locale_t utf8_locale = (locale_t) 0;
static bool utf8_locale_tried = false;

/* map_case upper- or lower-cases one code point */
static pg_wchar
map_case(pg_wchar c, bool upper)
{
	if (c < 0x80)
	{
		if (upper && c >= 'a' && c <= 'z')
			return c - 32;
		if (!upper && c >= 'A' && c <= 'Z')
			return c + 32;
		return c;
	}
	if (!utf8_locale_tried)
	{
		utf8_locale_tried = true;
		utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
	}
	if (utf8_locale == (locale_t) 0)
		return c;
	return upper ? (pg_wchar) towupper_l((wint_t) c, utf8_locale)
		: (pg_wchar) towlower_l((wint_t) c, utf8_locale);
}

/* append_wchar appends a code point in UTF-8 */
static void
append_wchar(StringInfo out, pg_wchar w)
{
	unsigned char u[8];

	unicode_to_utf8(w, u);
	appendBinaryStringInfo(out, (char *) u, pg_utf_mblen(u));
}

/*
 * change_case is str.lower(), str.upper(), str.capitalize() or Jinja2's title
 * filter, for mode 'l', 'u', 'c' or 't'.
 */
static TVal *
change_case(TVal *s, char mode)
{
	StringInfoData buf;
	int			i = 0;
	bool		start = true;

	tpl_charge_alloc(s->u.s.len);
	tv_buf_init(&buf, s->u.s.len);
	while (i < s->u.s.len)
	{
		int			l = Min(pg_utf_mblen((const unsigned char *) s->u.s.p + i), s->u.s.len - i);
		pg_wchar	w = utf8_to_unicode((const unsigned char *) s->u.s.p + i);
		bool		upper;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		switch (mode)
		{
			case 'u':
				upper = true;
				break;
			case 'c':
				upper = start;
				start = false;
				break;
			case 't':
				if (w == '-' || w == '(' || w == '{' || w == '[' || w == '<' || py_isspace(w))
				{
					start = true;
					appendBinaryStringInfo(&buf, s->u.s.p + i, l);
					i += l;
					continue;
				}
				upper = start;
				start = false;
				break;
			default:
				upper = false;
		}
		append_wchar(&buf, map_case(w, upper));
		i += l;
	}
	return tv_str(buf.data, buf.len);
}

/* tpl_str_lower is str.lower(), for the filters that ignore case */
TVal *
tpl_str_lower(TVal *s)
{
	return change_case(s, 'l');
}

/* ------------------------------------------------------------ strings */

/*
 * in_chars says whether w is one of the characters of chars
 * (whitespace when chars is NULL), for str.strip(chars)
 */
static bool
in_chars(pg_wchar w, TVal *chars)
{
	int			i = 0;

	if (chars == NULL)
		return py_isspace(w);
	while (i < chars->u.s.len)
	{
		if (utf8_to_unicode((const unsigned char *) chars->u.s.p + i) == w)
			return true;
		i += pg_utf_mblen((const unsigned char *) chars->u.s.p + i);
	}
	return false;
}

/* str_strip is str.strip(chars) */
static TVal *
str_strip(TVal *s, TVal *chars)
{
	int			start = 0;
	int			end = s->u.s.len;
	int64		per_char = chars ? chars->u.s.len / TPL_BYTES_PER_STEP : 0;

	tpl_charge_bytes(s->u.s.len);
	while (start < end)
	{
		pg_wchar	w = utf8_to_unicode((const unsigned char *) s->u.s.p + start);

		tpl_charge(per_char);
		if (!in_chars(w, chars))
			break;
		start += pg_utf_mblen((const unsigned char *) s->u.s.p + start);
	}
	while (end > start)
	{
		int			p = end - 1;

		while (p > start && (s->u.s.p[p] & 0xC0) == 0x80)
			p--;
		tpl_charge(per_char);
		if (!in_chars(utf8_to_unicode((const unsigned char *) s->u.s.p + p), chars))
			break;
		end = p;
	}
	return tv_str(s->u.s.p + start, end - start);
}

/*
 * str_replace is str.replace(old, new, count).  Occurrences are found with
 * memmem, so the work is linear in the text and in what is written.
 */
static TVal *
str_replace(TVal *s, TVal *old, TVal *new, int64 count)
{
	StringInfoData buf;
	int			i = 0;
	int64		done = 0;

	tpl_charge_alloc(s->u.s.len);
	tv_buf_init(&buf, s->u.s.len);
	if (old->u.s.len == 0)
	{
		/* an empty pattern matches before every character and at the end */
		while (true)
		{
			if (count < 0 || done < count)
			{
				tpl_charge_alloc(new->u.s.len + 1);
				appendBinaryStringInfo(&buf, new->u.s.p, new->u.s.len);
				done++;
			}
			if (i >= s->u.s.len)
				break;
			{
				int			l = Min(pg_utf_mblen((const unsigned char *) s->u.s.p + i), s->u.s.len - i);

				appendBinaryStringInfo(&buf, s->u.s.p + i, l);
				i += l;
			}
		}
		return tv_str(buf.data, buf.len);
	}
	while (i < s->u.s.len)
	{
		const char *hit = NULL;

		if (count < 0 || done < count)
			hit = memmem(s->u.s.p + i, s->u.s.len - i, old->u.s.p, old->u.s.len);
		if (hit == NULL)
		{
			appendBinaryStringInfo(&buf, s->u.s.p + i, s->u.s.len - i);
			break;
		}
		tpl_charge_alloc(new->u.s.len + 1);
		appendBinaryStringInfo(&buf, s->u.s.p + i, hit - (s->u.s.p + i));
		appendBinaryStringInfo(&buf, new->u.s.p, new->u.s.len);
		i = (hit - s->u.s.p) + old->u.s.len;
		done++;
	}
	return tv_str(buf.data, buf.len);
}

/* ------------------------------------------------------------ numbers */

/*
 * text_to_int is Python's int(text, base); NULL where it raises ValueError.
 */
static TVal *
text_to_int(const char *p, int len, int base)
{
	PyIntText	t;

	tpl_charge_bytes(len);
	if (py_int_parse(p, len, base, &t) != PYINT_OK)
		return NULL;
	return tv_from_py_int(&t);
}

/*
 * text_to_float is Python's float(text); false where it raises ValueError.
 */
static bool
text_to_float(const char *p, int len, double *out)
{
	tpl_charge_bytes(len);
	return py_float_parse(p, len, out);
}

/* float_to_int is Python's int(float): truncation, errors for inf and nan */
static TVal *
float_to_int(double d, bool *valueerror)
{
	*valueerror = false;
	if (isnan(d))
	{
		*valueerror = true;
		return NULL;
	}
	if (isinf(d))
		tv_fail("cannot convert float infinity to integer");
	d = trunc(d);
	if (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
		return tv_int((int64) d);
	{
		char	   *txt = psprintf("%.0f", d);

		return tv_big(DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(txt),
														  ObjectIdGetDatum(InvalidOid),
														  Int32GetDatum(-1))));
	}
}

/* do_int is Jinja2's int filter */
static TVal *
do_int(TVal *v, TVal *dflt, TVal *base)
{
	TVal	   *r;
	double		d;
	bool		verr;
	int64		b;

	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint);
	if (base->kind != TV_INT && base->kind != TV_BOOL)
		tv_fail("'%s' object cannot be interpreted as an integer", tv_type_name(base));
	b = base->kind == TV_BOOL ? base->u.b : base->u.i;
	if (v->kind == TV_STR)
	{
		if (b != 0 && (b < 2 || b > 36))
			tv_fail("int() base must be >= 2 and <= 36, or 0");
		r = text_to_int(v->u.s.p, v->u.s.len, (int) b);
		if (r != NULL)
			return r;
		/* "42.23"|int is 42 */
		if (text_to_float(v->u.s.p, v->u.s.len, &d))
		{
			r = float_to_int(d, &verr);
			if (!verr)
				return r;
		}
		return dflt;
	}
	switch (v->kind)
	{
		case TV_BOOL:
			return tv_int(v->u.b ? 1 : 0);
		case TV_INT:
		case TV_BIG:
			return v;
		case TV_FLOAT:
			r = float_to_int(v->u.f, &verr);
			return verr ? dflt : r;
		default:
			return dflt;
	}
}

/* do_float is Jinja2's float filter */
static TVal *
do_float(TVal *v, TVal *dflt)
{
	double		d;

	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint);
	if (v->kind == TV_STR)
		return text_to_float(v->u.s.p, v->u.s.len, &d) ? tv_float(d) : dflt;
	if (tv_is_number(v))
		return tv_float(tv_to_double(v));
	return dflt;
}

/*
 * round_half_even rounds x to nd decimal places exactly, as Python's
 * round(x, nd) does for floats.
 */
static double
round_half_even(double x, int64 nd)
{
	char	   *s;
	char	   *point;
	int			keep;
	int			len;
	int			i;
	bool		neg;
	bool		up = false;
	double		r;

	if (!isfinite(x) || x == 0.0)
		return x;
	if (nd > 330)
		return x;
	if (nd < -330)
		return copysign(0.0, x);
	/* the exact decimal expansion of x */
	s = psprintf("%.1100f", fabs(x));
	neg = x < 0;
	point = strchr(s, '.');
	len = strlen(s);
	keep = (int) (point - s) + (int) nd;	/* digits kept, counting from s */
	if (nd > 0)
		keep += 1;				/* the point itself */
	if (keep < 0)
		return copysign(0.0, x);
	if (keep < len)
	{
		/* the first dropped digit and the rest decide */
		int			first = keep;
		bool		rest_nonzero = false;

		if (s[first] == '.')
			first++;
		for (i = first + 1; i < len; i++)
			if (s[i] != '0' && s[i] != '.')
			{
				rest_nonzero = true;
				break;
			}
		if (s[first] > '5' || (s[first] == '5' && rest_nonzero))
			up = true;
		else if (s[first] == '5')
		{
			/* a tie: round to even */
			int			prev = keep - 1;

			while (prev >= 0 && s[prev] == '.')
				prev--;
			up = prev >= 0 && ((s[prev] - '0') % 2 == 1);
		}
		/* zero the dropped digits */
		for (i = keep; i < len; i++)
			if (s[i] != '.')
				s[i] = '0';
		if (up)
		{
			int			k = keep - 1;

			while (k >= 0)
			{
				if (s[k] == '.')
				{
					k--;
					continue;
				}
				if (s[k] == '9')
				{
					s[k] = '0';
					k--;
					continue;
				}
				s[k]++;
				break;
			}
			if (k < 0)
				s = psprintf("1%s", s);
		}
	}
	r = strtod(s, NULL);
	if (isinf(r))
		tv_fail("rounded value too large to represent");
	return neg ? -r : r;
}

/* do_round is Jinja2's round filter */
static TVal *
do_round(TVal *v, TVal *precision, TVal *method)
{
	int64		p;

	if (method->kind != TV_STR ||
		!((method->u.s.len == 6 && memcmp(method->u.s.p, "common", 6) == 0) ||
		  (method->u.s.len == 4 && memcmp(method->u.s.p, "ceil", 4) == 0) ||
		  (method->u.s.len == 5 && memcmp(method->u.s.p, "floor", 5) == 0)))
		tv_fail("method must be common, ceil or floor");
	if (v->kind == TV_UNDEF)
		tv_fail("type Undefined doesn't define __round__ method");
	if (!tv_is_number(v))
		tv_fail("type %s doesn't define __round__ method", tv_type_name(v));
	p = tv_to_index(precision, "");
	if (method->u.s.p[0] == 'c' && method->u.s.len == 6)
	{
		/* round(value, precision) */
		if (v->kind == TV_FLOAT)
			return tv_float(round_half_even(v->u.f, p));
		if (p >= 0)
			return v->kind == TV_BOOL ? tv_int(v->u.b ? 1 : 0) : v;
		{
			/* round an int to a power of ten, half to even */
			TVal	   *pow10 = tv_arith(TN_POW, tv_int(10), tv_int(-p));
			TVal	   *q = tv_arith(TN_FLOORDIV, v, pow10);
			TVal	   *r = tv_arith(TN_MOD, v, pow10);
			TVal	   *twice = tv_arith(TN_MUL, r, tv_int(2));
			int			c = tv_compare(twice, pow10, ">");

			if (c > 0 || (c == 0 && tv_truthy(tv_arith(TN_MOD, q, tv_int(2)))))
				q = tv_arith(TN_ADD, q, tv_int(1));
			return tv_arith(TN_MUL, q, pow10);
		}
	}
	{
		/* math.ceil/floor(value * 10**precision) / 10**precision */
		TVal	   *scale = tv_arith(TN_POW, tv_int(10), tv_int(p));
		TVal	   *scaled = tv_arith(TN_MUL, v, scale);
		TVal	   *whole;
		bool		verr;

		if (scaled->kind == TV_FLOAT)
		{
			double		d = method->u.s.p[0] == 'c' ? ceil(scaled->u.f) : floor(scaled->u.f);

			whole = float_to_int(d, &verr);
			if (verr)
				tv_fail("cannot convert float NaN to integer");
		}
		else
			whole = scaled->kind == TV_BOOL ? tv_int(scaled->u.b) : scaled;
		return tv_arith(TN_DIV, whole, scale);
	}
}

/*
 * do_tojson is Jinja2's tojson filter: json.dumps with sorted keys,
 * with <, >, & and ' escaped, as Markup
 */
static TVal *
do_tojson(TVal *v, TVal *indent)
{
	StringInfoData json;
	StringInfoData out;
	int			ind = -1;
	int			i;
	TVal	   *r;

	if (indent->kind != TV_NONE)
	{
		if (indent->kind != TV_INT && indent->kind != TV_BOOL)
			tv_fail("noetl's tojson takes an integer indent");
		ind = (int) Max(tv_to_index(indent, ""), 0);
	}
	tv_buf_init(&json, 64);
	tv_json_dumps(&json, v, ind, 0);
	tpl_charge_alloc(json.len);
	tv_buf_init(&out, json.len);
	for (i = 0; i < json.len; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		switch (json.data[i])
		{
			case '<':
				appendStringInfoString(&out, "\\u003c");
				break;
			case '>':
				appendStringInfoString(&out, "\\u003e");
				break;
			case '&':
				appendStringInfoString(&out, "\\u0026");
				break;
			case '\'':
				appendStringInfoString(&out, "\\u0027");
				break;
			default:
				appendStringInfoChar(&out, json.data[i]);
		}
	}
	r = tv_str(out.data, out.len);
	r->flags |= TVF_MARKUP;
	return r;
}

/* do_abs is Python's abs() */
static TVal *
do_abs(TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			return tv_int(v->u.b ? 1 : 0);
		case TV_INT:
		case TV_BIG:
			return tv_compare(v, tv_int(0), "<") < 0 ? tv_negate(v, true) : v;
		case TV_FLOAT:
			return tv_float(fabs(v->u.f));
		default:
			tv_fail("bad operand type for abs(): '%s'", tv_type_name(v));
	}
	return NULL;
}

/*
 * tpl_apply_filter applies filter number id to v.
 */
TVal *
tpl_apply_filter(int id, const char *name, TVal *v, TVal **args, int nargs,
				 char **kwnames, TVal **kwargs, int nkwargs)
{
	TVal	   *p[4];

#define BIND(names, defaults) \
	tpl_bind(name, args, nargs, kwnames, kwargs, nkwargs, names, defaults, lengthof(names), p)

	CHECK_FOR_INTERRUPTS();
	switch (id)
	{
		case F_DEFAULT:
		case F_D:
			{
				static const char *const names[] = {"default_value", "boolean"};
				TVal	   *defs[] = {tv_str("", 0), tv_bool(false)};

				BIND(names, defs);
				if (v->kind == TV_UNDEF || (tv_truthy(p[1]) && !tv_truthy(v)))
					return p[0];
				return v;
			}
		case F_LENGTH:
		case F_COUNT:
			if (nargs + nkwargs > 0)
				tv_fail("len() takes exactly one argument (%d given)", nargs + nkwargs + 1);
			return tv_int(tv_len(v));
		case F_TOJSON:
			{
				static const char *const names[] = {"indent"};
				TVal	   *defs[] = {tv_none()};

				BIND(names, defs);
				return do_tojson(v, p[0]);
			}
		case F_LOWER:
		case F_UPPER:
		case F_CAPITALIZE:
		case F_TITLE:
			{
				static const char *const names[1] = {"s"};
				TVal	   *s;

				(void) names;
				if (nargs + nkwargs > 0)
					tv_fail("do_%s() takes 1 positional argument but %d were given", name, nargs + 1);
				s = tv_soft_str(v);
				if (id == F_TITLE)
					return change_case(s, 't');
				return with_markup(change_case(s, id == F_LOWER ? 'l' : id == F_UPPER ? 'u' : 'c'), s);
			}
		case F_REPLACE:
			{
				static const char *const names[] = {"old", "new", "count"};
				TVal	   *defs[] = {NULL, NULL, tv_none()};
				int64		count = -1;

				BIND(names, defs);
				if (p[0] == NULL || p[1] == NULL)
					tv_fail("do_replace() missing required positional argument '%s'",
							p[0] == NULL ? "old" : "new");
				if (p[2]->kind != TV_NONE)
					count = tv_to_index(p[2], "");
				return str_replace(tv_plain_str(v), tv_plain_str(p[0]), tv_plain_str(p[1]), count);
			}
		case F_JOIN:
			{
				static const char *const names[] = {"d", "attribute"};
				TVal	   *defs[] = {tv_str("", 0), tv_none()};

				BIND(names, defs);
				return tpl_filter_join(v, p[0], p[1]);
			}
		case F_INT:
			{
				static const char *const names[] = {"default", "base"};
				TVal	   *defs[] = {tv_int(0), tv_int(10)};

				BIND(names, defs);
				return do_int(v, p[0], p[1]);
			}
		case F_FLOAT:
			{
				static const char *const names[] = {"default"};
				TVal	   *defs[] = {tv_float(0.0)};

				BIND(names, defs);
				return do_float(v, p[0]);
			}
		case F_STRING:
			if (nargs + nkwargs > 0)
				tv_fail("tv_soft_str() takes 1 positional argument but %d were given", nargs + 1);
			return tv_soft_str(v);
		case F_TRIM:
			{
				static const char *const names[] = {"chars"};
				TVal	   *defs[] = {tv_none()};
				TVal	   *s;

				BIND(names, defs);
				if (p[0]->kind != TV_NONE && p[0]->kind != TV_STR)
					tv_fail("strip arg must be None or str");
				s = tv_soft_str(v);
				return with_markup(str_strip(s, p[0]->kind == TV_STR ? p[0] : NULL), s);
			}
		case F_FIRST:
		case F_LAST:
			if (nargs + nkwargs > 0)
				tv_fail("do_%s() takes 2 positional arguments but %d were given", name, nargs + 2);
			return tpl_filter_first_last(v, id == F_LAST);
		case F_ABS:
			if (nargs + nkwargs > 0)
				tv_fail("abs() takes exactly one argument (%d given)", nargs + 1);
			return do_abs(v);
		case F_ROUND:
			{
				static const char *const names[] = {"precision", "method"};
				TVal	   *defs[] = {tv_int(0), tv_cstr("common")};

				BIND(names, defs);
				return do_round(v, p[0], p[1]);
			}
		case F_LIST:
			{
				int			n;
				TVal	   *items;

				if (nargs + nkwargs > 0)
					tv_fail("list expected at most 1 argument, got %d", nargs + 1);
				items = tv_iter_items(v, &n);
				return tv_list(items->u.list.items, n);
			}
		case F_SORT:
			{
				static const char *const names[] = {"reverse", "case_sensitive", "attribute"};
				TVal	   *defs[] = {tv_bool(false), tv_bool(false), tv_none()};

				BIND(names, defs);
				return tpl_filter_sort(v, p[0], p[1], p[2]);
			}
		case F_UNIQUE:
			{
				static const char *const names[] = {"case_sensitive", "attribute"};
				TVal	   *defs[] = {tv_bool(false), tv_none()};

				BIND(names, defs);
				return tpl_filter_unique(v, p[0], p[1]);
			}
		case F_MIN:
		case F_MAX:
			{
				static const char *const names[] = {"case_sensitive", "attribute"};
				TVal	   *defs[] = {tv_bool(false), tv_none()};

				BIND(names, defs);
				return tpl_filter_min_max(v, id == F_MAX, p[0], p[1]);
			}
		case F_SUM:
			{
				static const char *const names[] = {"attribute", "start"};
				TVal	   *defs[] = {tv_none(), tv_int(0)};

				BIND(names, defs);
				return tpl_filter_sum(v, p[0], p[1]);
			}
		case F_MAP:
			return tpl_filter_map(v, args, nargs, kwnames, kwargs, nkwargs);
		case F_SELECT:
		case F_REJECT:
		case F_SELECTATTR:
		case F_REJECTATTR:
			return tpl_filter_select(v, id == F_REJECT || id == F_REJECTATTR,
									 id == F_SELECTATTR || id == F_REJECTATTR,
									 args, nargs, kwnames, kwargs, nkwargs);
		case F_DICTSORT:
			{
				static const char *const names[] = {"case_sensitive", "by", "reverse"};
				TVal	   *defs[] = {tv_bool(false), tv_cstr("key"), tv_bool(false)};

				BIND(names, defs);
				return tpl_filter_dictsort(v, p[0], p[1], p[2]);
			}
		case F_ITEMS:
			no_args(name, nargs, nkwargs);
			return tpl_filter_items(v);
		case F_REVERSE:
			no_args(name, nargs, nkwargs);
			return tpl_filter_reverse(v);
		case F_BATCH:
		case F_SLICE:
			{
				static const char *const bnames[] = {"linecount", "fill_with"};
				static const char *const snames[] = {"slices", "fill_with"};
				TVal	   *defs[] = {NULL, tv_none()};

				if (id == F_BATCH)
					BIND(bnames, defs);
				else
					BIND(snames, defs);
				if (p[0] == NULL)
					tv_fail("do_%s() missing 1 required positional argument: '%s'", name,
							id == F_BATCH ? "linecount" : "slices");
				return id == F_BATCH ? tpl_filter_batch(v, p[0], p[1])
					: tpl_filter_slice(v, p[0], p[1]);
			}
		case F_GROUPBY:
			{
				static const char *const names[] = {"attribute", "default", "case_sensitive"};
				TVal	   *defs[] = {NULL, tv_none(), tv_bool(false)};

				BIND(names, defs);
				if (p[0] == NULL)
					tv_fail("do_groupby() missing 1 required positional argument: 'attribute'");
				return tpl_filter_groupby(v, p[0], p[1], p[2]);
			}
		case F_TRUNCATE:
			{
				static const char *const names[] = {"length", "killwords", "end", "leeway"};
				TVal	   *defs[] = {tv_int(255), tv_bool(false), tv_cstr("..."), tv_int(5)};

				BIND(names, defs);
				return tpl_filter_truncate(v, p[0], p[1], p[2], p[3]);
			}
		case F_WORDCOUNT:
			no_args(name, nargs, nkwargs);
			return tpl_filter_wordcount(v);
		case F_CENTER:
			{
				static const char *const names[] = {"width"};
				TVal	   *defs[] = {tv_int(80)};

				BIND(names, defs);
				return tpl_filter_center(v, p[0]);
			}
		case F_INDENT:
			{
				static const char *const names[] = {"width", "first", "blank"};
				TVal	   *defs[] = {tv_int(4), tv_bool(false), tv_bool(false)};

				BIND(names, defs);
				return tpl_filter_indent(v, p[0], p[1], p[2]);
			}
		case F_FORMAT:
			{
				/* soft_str(value) % (kwargs or args) */
				TVal	   *fmt = tv_soft_str(v);
				int			i;

				if (nargs > 0 && nkwargs > 0)
					tv_fail("can't handle positional and keyword arguments at the same time");
				if (nkwargs > 0)
				{
					TVal	   *d = tv_dict_new();

					for (i = 0; i < nkwargs; i++)
						tv_dict_set(d, tv_cstr(kwnames[i]), kwargs[i]);
					return tpl_str_format(fmt, d);
				}
				return tpl_str_format(fmt, tv_tuple(args, nargs));
			}
		case F_URLENCODE:
			no_args(name, nargs, nkwargs);
			return tpl_filter_urlencode(v);
		case F_FILESIZEFORMAT:
			{
				static const char *const names[] = {"binary"};
				TVal	   *defs[] = {tv_bool(false)};

				BIND(names, defs);
				return tpl_filter_filesizeformat(v, p[0]);
			}
		case F_B64ENCODE:
		case F_B64DECODE:
			if (nargs + nkwargs > 0)
				tv_fail("<lambda>() takes 1 positional argument but %d were given", nargs + nkwargs + 1);
			return id == F_B64ENCODE ? tpl_filter_b64encode(v) : tpl_filter_b64decode(v);
		default:
			if (tpl_is_jinja2_filter(name))
				tv_fail("the filter '%s' is not supported by noetl templates", name);
			tv_fail("No filter named '%s' found.", name);
	}
#undef BIND
	return NULL;
}
