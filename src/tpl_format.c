/*-------------------------------------------------------------------------
 *
 * tpl_format.c
 *	  Python's printf-style string formatting: 'fmt' % args.
 *
 * As str.__mod__: args is a tuple of the values, or one value; a value
 * with __getitem__ (a dict, a list, a range, Undefined) is never "not all
 * converted", and "%(key)s" reads a dict (of the others, Python's own
 * lookups, it is refused).  Conversions d i u o x X e
 * E f F g G c r s %, with the flags "-+ #0", a width and a precision (or
 * "*" for either, read from the arguments); length modifiers (h, l, L)
 * are accepted and ignored, as Python does.  %a is refused (ascii() is
 * not implemented), as is %d of a float beyond 64 bits.  Widths and
 * precisions are bounded by the rendering's memory budget.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "template.h"

/* the widest width or precision noetl formats */
#define FORMAT_MAX_WIDTH	(1024 * 1024)

typedef struct Spec
{
	bool		left;			/* - */
	bool		plus;			/* + */
	bool		space;			/* ' ' */
	bool		alt;			/* # */
	bool		zero;			/* 0 */
	int			width;			/* -1: none */
	int			prec;			/* -1: none */
	char		conv;
} Spec;

/*
 * The arguments, as PyUnicode_Format keeps them: a tuple's items (arglen
 * of them, the next at argidx), or one value (arglen -1, argidx -2 until
 * it is used).  "%(key)" makes the key's value the one value.
 */
typedef struct Args
{
	TVal	   *one;
	TVal	  **items;
	int			arglen;
	int			argidx;
	bool		mapping;		/* the arguments may be used by %(key) */
} Args;

/* next_arg returns the next positional argument (getnextarg) */
static TVal *
next_arg(Args *a)
{
	if (a->arglen < 0)
	{
		if (a->argidx == -2)
		{
			a->argidx = -1;
			return a->one;
		}
	}
	else if (a->argidx < a->arglen)
		return a->items[a->argidx++];
	tv_fail("not enough arguments for format string");
	return NULL;
}

/* pad appends body padded to the spec's width */
static void
pad(StringInfo out, Spec *sp, const char *prefix, int plen, const char *body, int blen,
	int bchars)
{
	int			fill = sp->width > plen + bchars ? sp->width - plen - bchars : 0;
	int			i;

	tpl_charge_alloc((Size) fill + plen + blen);
	if (!sp->left && !sp->zero)
		for (i = 0; i < fill; i++)
			appendStringInfoChar(out, ' ');
	appendBinaryStringInfo(out, prefix, plen);
	if (!sp->left && sp->zero)
		for (i = 0; i < fill; i++)
			appendStringInfoChar(out, '0');
	appendBinaryStringInfo(out, body, blen);
	if (sp->left)
		for (i = 0; i < fill; i++)
			appendStringInfoChar(out, ' ');
}

/* chars counts code points */
static int
chars(const char *p, int len)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* format_text is %s and %r: str() or repr(), cut to the precision */
static void
format_text(StringInfo out, Spec *sp, TVal *v)
{
	StringInfoData t;
	int			len;

	tv_buf_init(&t, 32);
	if (sp->conv == 's')
		tv_str_out(&t, v);
	else
		tv_repr(&t, v);
	len = t.len;
	if (sp->prec >= 0)
	{
		/* the first prec code points */
		int			k = 0;
		int			i;

		for (i = 0; i < t.len; i++)
			if ((t.data[i] & 0xC0) != 0x80 && k++ == sp->prec)
				break;
		len = i;
	}
	sp->zero = false;
	pad(out, sp, "", 0, t.data, len, chars(t.data, len));
}

/* format_int is %d %i %u %o %x %X */
static void
format_int(StringInfo out, Spec *sp, TVal *v)
{
	StringInfoData digits;
	char		prefix[4];
	int			plen = 0;
	bool		neg = false;
	const char *d;
	int			dlen;
	StringInfoData body;
	int			i;
	bool		hexoct = sp->conv == 'o' || sp->conv == 'x' || sp->conv == 'X';

	tv_buf_init(&digits, 32);
	if (v->kind == TV_FLOAT && !hexoct)
	{
		double		f = trunc(v->u.f);

		if (isnan(f))
			tv_fail("cannot convert float NaN to integer");
		if (isinf(f))
			tv_fail("cannot convert float infinity to integer");
		if (fabs(f) >= 9.2e18)
			tv_fail("%%%c of a float beyond 64 bits is not supported by noetl templates", sp->conv);
		appendStringInfo(&digits, INT64_FORMAT, (int64) f);
	}
	else if (v->kind == TV_INT || v->kind == TV_BOOL)
	{
		int64		x = v->kind == TV_BOOL ? v->u.b : v->u.i;

		if (sp->conv == 'x' || sp->conv == 'X' || sp->conv == 'o')
		{
			uint64		u = x < 0 ? (uint64) 0 - (uint64) x : (uint64) x;

			if (x < 0)
				appendStringInfoChar(&digits, '-');
			appendStringInfo(&digits, sp->conv == 'o' ? "%" INT64_MODIFIER "o" :
							 sp->conv == 'x' ? "%" INT64_MODIFIER "x" : "%" INT64_MODIFIER "X", u);
		}
		else
			appendStringInfo(&digits, INT64_FORMAT, x);
	}
	else if (v->kind == TV_BIG && !hexoct)
		tv_str_out(&digits, v);
	else if (v->kind == TV_BIG)
		tv_fail("%%%c of an int beyond 64 bits is not supported by noetl templates", sp->conv);
	else if (hexoct)
		tv_fail("%%%c format: an integer is required, not %s", sp->conv, tv_type_name(v));
	else
		tv_fail("%%%c format: a real number is required, not %s", sp->conv, tv_type_name(v));

	d = digits.data;
	dlen = digits.len;
	if (d[0] == '-')
	{
		neg = true;
		d++;
		dlen--;
	}
	if (neg)
		prefix[plen++] = '-';
	else if (sp->plus)
		prefix[plen++] = '+';
	else if (sp->space)
		prefix[plen++] = ' ';
	if (sp->alt && hexoct)
	{
		prefix[plen++] = '0';
		prefix[plen++] = sp->conv;
	}
	tv_buf_init(&body, dlen + 8);
	if (sp->prec > dlen)
	{
		tpl_charge_alloc(sp->prec);
		for (i = dlen; i < sp->prec; i++)
			appendStringInfoChar(&body, '0');
	}
	appendBinaryStringInfo(&body, d, dlen);
	pad(out, sp, prefix, plen, body.data, body.len, body.len);
}

/* format_float is %e %E %f %F %g %G, with C's printf (Python uses the same rules) */
static void
format_float(StringInfo out, Spec *sp, TVal *v)
{
	double		f;
	char		fmt[32];
	int			k = 0;
	char	   *buf;
	int			size;
	int			len;

	if (!tv_is_number(v))
		tv_fail("must be real number, not %s", tv_type_name(v));
	f = tv_to_double(v);
	if (!isfinite(f))
	{
		/* Python's inf and nan, upper-case for E, F and G */
		bool		upper = sp->conv == 'E' || sp->conv == 'F' || sp->conv == 'G';
		const char *word = isnan(f) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
		const char *sign = f < 0 && !isnan(f) ? "-" : sp->plus ? "+" : sp->space ? " " : "";

		pad(out, sp, sign, strlen(sign), word, 3, 3);
		return;
	}
	if (sp->alt)
		tv_fail("the flag # of %%%c is not supported by noetl templates", sp->conv);
	/* PostgreSQL's snprintf gives 350 digits of a float, then zeros */
	if (sp->prec > 350)
		tv_fail("a precision of %d for %%%c is not supported by noetl templates (at most 350)",
				sp->prec, sp->conv);
	fmt[k++] = '%';
	if (sp->left)
		fmt[k++] = '-';
	if (sp->plus)
		fmt[k++] = '+';
	if (sp->space)
		fmt[k++] = ' ';
	if (sp->zero)
		fmt[k++] = '0';
	fmt[k++] = '*';
	fmt[k++] = '.';
	fmt[k++] = '*';
	/* PostgreSQL's snprintf has no %F: %f, upper-cased (only inf and nan differ) */
	fmt[k++] = sp->conv == 'F' ? 'f' : sp->conv;
	fmt[k] = '\0';
	size = Max(sp->width, 0) + Max(sp->prec, 6) + 330;
	tpl_charge_alloc(size);
	buf = palloc(size);
	len = snprintf(buf, size, fmt, Max(sp->width, 0), sp->prec < 0 ? 6 : sp->prec, f);
	if (len < 0 || len >= size)
		tv_fail("the formatted number is too long");
	if (sp->conv == 'F')
	{
		int			i;

		for (i = 0; i < len; i++)
			buf[i] = pg_ascii_toupper((unsigned char) buf[i]);
	}
	appendBinaryStringInfo(out, buf, len);
}

/* format_char is %c: an int code point or a one-character str */
static void
format_char(StringInfo out, Spec *sp, TVal *v)
{
	char		u[8];
	int			len;

	sp->zero = false;
	if (v->kind == TV_STR)
	{
		if (chars(v->u.s.p, v->u.s.len) != 1)
			tv_fail("%%c requires int or char");
		pad(out, sp, "", 0, v->u.s.p, v->u.s.len, 1);
		return;
	}
	if (v->kind != TV_INT && v->kind != TV_BOOL)
		tv_fail("%%c requires int or char");
	{
		int64		c = v->kind == TV_BOOL ? v->u.b : v->u.i;

		if (c < 0 || c > 0x10FFFF)
			tv_fail("%%c arg not in range(0x110000)");
		if (c == 0 || (c >= 0xD800 && c <= 0xDFFF))
			tv_fail("%%c of code point %d is not supported by noetl templates", (int) c);
		unicode_to_utf8((pg_wchar) c, (unsigned char *) u);
		len = pg_utf_mblen((unsigned char *) u);
		pad(out, sp, "", 0, u, len, 1);
	}
}

/* read_number reads a width or a precision: digits, or "*" from the arguments */
static int
read_number(const char *f, int len, int *i, Args *a, bool *neg_width)
{
	int64		n = 0;

	if (*i < len && f[*i] == '*')
	{
		TVal	   *v = next_arg(a);

		(*i)++;
		if (v->kind != TV_INT && v->kind != TV_BOOL)
			tv_fail("* wants int");
		n = v->kind == TV_BOOL ? v->u.b : v->u.i;
		if (n < 0 && neg_width)
		{
			*neg_width = true;
			n = -n;
		}
		else if (n < 0)
			n = 0;
	}
	else
		while (*i < len && f[*i] >= '0' && f[*i] <= '9')
		{
			n = n * 10 + (f[*i] - '0');
			if (n > FORMAT_MAX_WIDTH)
				tv_fail("a width or precision over %d is not supported by noetl templates",
						FORMAT_MAX_WIDTH);
			(*i)++;
		}
	if (n > FORMAT_MAX_WIDTH)
		tv_fail("a width or precision over %d is not supported by noetl templates",
				FORMAT_MAX_WIDTH);
	return (int) n;
}

/*
 * tpl_str_format is fmt % args.
 */
TVal *
tpl_str_format(TVal *fmt, TVal *args)
{
	StringInfoData out;
	Args		a;
	const char *f = fmt->u.s.p;
	int			len = fmt->u.s.len;
	int			i = 0;

	if (fmt->flags & TVF_MARKUP)
		tv_fail("string formatting with %% of a Markup string is not supported by noetl templates");
	a.one = args;
	a.items = NULL;
	a.arglen = -1;
	a.argidx = -2;
	if (args->kind == TV_LIST && (args->flags & TVF_TUPLE))
	{
		tv_materialize(args);
		a.items = args->u.list.items;
		a.arglen = args->u.list.n;
		a.argidx = 0;
	}
	a.mapping = (args->kind == TV_DICT || args->kind == TV_UNDEF || args->kind == TV_RANGE ||
				 (args->kind == TV_LIST && !(args->flags & (TVF_TUPLE | TVF_GENERATOR | TVF_VIEW))));
	tv_buf_init(&out, len + 16);
	while (i < len)
	{
		Spec		sp;
		TVal	   *v;
		const char *pct = memchr(f + i, '%', len - i);
		int			start;
		bool		neg_width = false;

		tpl_charge(1);
		if (pct == NULL)
		{
			tpl_charge_alloc(len - i);
			appendBinaryStringInfo(&out, f + i, len - i);
			break;
		}
		tpl_charge_alloc(pct - (f + i));
		appendBinaryStringInfo(&out, f + i, pct - (f + i));
		start = pct - f;
		i = start + 1;
		memset(&sp, 0, sizeof(sp));
		sp.width = -1;
		sp.prec = -1;
		v = NULL;
		if (i < len && f[i] == '(')
		{
			int			depth = 1;
			int			k0 = ++i;
			bool		found;

			while (i < len && depth > 0)
			{
				if (f[i] == '(')
					depth++;
				else if (f[i] == ')')
					depth--;
				i++;
			}
			if (depth > 0)
				tv_fail("incomplete format key");
			if (!a.mapping)
				tv_fail("format requires a mapping");
			if (args->kind != TV_DICT)
				tv_fail("%%(key) of a %s is not supported by noetl templates", tv_type_name(args));
			v = tv_dict_lookup(args, tv_str(f + k0, i - 1 - k0), &found);
			if (!found)
			{
				StringInfoData k;

				tv_buf_init(&k, 32);
				tv_repr(&k, tv_str(f + k0, pg_mbcliplen(f + k0, i - 1 - k0, 200)));
				tv_fail("KeyError: %s%s", k.data, i - 1 - k0 > 200 ? "..." : "");
			}
			/* the key's value is now the one argument, used by this spec */
			a.one = v;
			a.items = NULL;
			a.arglen = -1;
			a.argidx = -1;
		}
		for (; i < len; i++)
		{
			if (f[i] == '-')
				sp.left = true;
			else if (f[i] == '+')
				sp.plus = true;
			else if (f[i] == ' ')
				sp.space = true;
			else if (f[i] == '#')
				sp.alt = true;
			else if (f[i] == '0')
				sp.zero = true;
			else
				break;
		}
		if (i < len && (f[i] == '*' || (f[i] >= '0' && f[i] <= '9')))
		{
			if (f[i] == '*' && v != NULL)
				tv_fail("* not allowed with a mapping key");
			sp.width = read_number(f, len, &i, &a, &neg_width);
			if (neg_width)
				sp.left = true;
		}
		if (i < len && f[i] == '.')
		{
			i++;
			sp.prec = read_number(f, len, &i, &a, NULL);
		}
		while (i < len && (f[i] == 'h' || f[i] == 'l' || f[i] == 'L'))
			i++;
		if (i >= len)
			tv_fail("incomplete format");
		sp.conv = f[i++];
		if (sp.left)
			sp.zero = false;
		if (sp.conv == '%' && i == start + 2)
		{
			/* "%%"; a "%" after flags, a width or a key is a conversion Python refuses */
			appendStringInfoChar(&out, '%');
			continue;
		}
		if (v == NULL)
			v = next_arg(&a);
		switch (sp.conv)
		{
			case 's':
			case 'r':
				format_text(&out, &sp, v);
				break;
			case 'd':
			case 'i':
			case 'u':
			case 'o':
			case 'x':
			case 'X':
				format_int(&out, &sp, v);
				break;
			case 'e':
			case 'E':
			case 'f':
			case 'F':
			case 'g':
			case 'G':
				format_float(&out, &sp, v);
				break;
			case 'c':
				format_char(&out, &sp, v);
				break;
			case 'a':
				tv_fail("string formatting with %%a is not supported by noetl templates");
				break;
			default:
				if ((unsigned char) sp.conv >= 0x80)
					tv_fail("string formatting with a non-ASCII conversion character is not supported by noetl templates");
				tv_fail("unsupported format character '%c' (0x%x) at index %d",
						sp.conv, (unsigned char) sp.conv, i - 1);
		}
		if (out.len > MaxAllocSize / 4)
			tv_fail("the formatted string is too long");
	}
	if (a.argidx < a.arglen && !a.mapping)
		tv_fail("not all arguments converted during string formatting");
	return tv_str(out.data, out.len);
}
