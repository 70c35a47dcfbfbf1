/*-------------------------------------------------------------------------
 *
 * tpl_filter_str.c
 *	  The template filters on text: truncate, wordcount, center, indent,
 *	  urlencode, filesizeformat, and NoETL's b64encode (with b64decode).
 *
 * Each is Jinja2 3.1's filter of that name (filters.py), with Python's
 * str methods underneath: lengths count code points, indent splits lines
 * as str.splitlines() does, wordcount counts runs of Python's \w
 * (tpl_unicode_word.c), truncate keeps "leeway" (5) characters over
 * the length before it cuts, center pads as str.center() does.  A Markup
 * string stays Markup where Jinja2's would.
 *
 * b64encode is NoETL's (noetl/core/dsl/render.py, add_b64encode_filter,
 * the same at 58c2a16b and 32245391): base64 of the UTF-8 bytes of a
 * string, or of str() of anything else.  NoETL has no b64decode filter;
 * noetl's is base64.b64decode(s).decode('utf-8'), as NoETL's keyval.py
 * decodes.
 *
 * Every result is bounded: what a filter writes is charged to the
 * rendering's budget before it is written (tpl_charge_alloc), so
 * 'x' | center(10**9) fails on noetl.template_max_memory instead of
 * allocating a gigabyte.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "template.h"

/* utf8_count counts the code points of len bytes */
static int64
utf8_count(const char *p, int len)
{
	int64		n = 0;
	int			i;

	tpl_charge_bytes(len);
	for (i = 0; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* utf8_offset is the byte offset of code point k of p (len if past it) */
static int
utf8_offset(const char *p, int len, int64 k)
{
	int			i = 0;

	while (i < len && k > 0)
	{
		i += Min(pg_utf_mblen((const unsigned char *) p + i), len - i);
		k--;
	}
	return i;
}

/* as_int reads an int argument as Python does where it needs a size */
static int64
as_int(TVal *v, const char *what)
{
	if (v->kind == TV_BOOL)
		return v->u.b ? 1 : 0;
	if (v->kind == TV_INT)
		return v->u.i;
	if (v->kind == TV_BIG)
		tv_fail("Python int too large to convert to C ssize_t");
	tv_fail("'%s' object cannot be interpreted as an integer%s", tv_type_name(v), what);
	return 0;
}

/* check_length refuses a result of more bytes than a string can hold */
static void
check_length(int64 bytes)
{
	if (bytes < 0 || bytes >= (int64) (MaxAllocSize / 2))
		tv_fail("the result would be too large (%lld bytes)", (long long) bytes);
}

/* check_size is check_length, and reserves the bytes in the budget */
static void
check_size(int64 bytes)
{
	check_length(bytes);
	tpl_reserve((Size) bytes);
}

/* append_spaces appends n spaces */
static void
append_spaces(StringInfo buf, int64 n)
{
	while (n-- > 0)
	{
		if ((n & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		appendStringInfoChar(buf, ' ');
	}
}

/* markup_like gives a result the Markup flag of the string it came from */
static TVal *
markup_like(TVal *r, TVal *from)
{
	r->flags |= from->flags & TVF_MARKUP;
	return r;
}

/* ------------------------------------------------------------ truncate */

/*
 * tpl_filter_truncate is Jinja2's truncate: s unchanged when it is at most
 * length + leeway characters long, else cut to length - len(end)
 * characters (at the last space unless killwords) and end appended.
 * Jinja2 does not make s a string: a list or dict short enough comes back
 * as it is.
 */
TVal *
tpl_filter_truncate(TVal *v, TVal *length, TVal *killwords, TVal *end,
					TVal *leeway)
{
	TVal	   *endlen;
	TVal	   *keep;
	int			cut;
	StringInfoData buf;

	if (end->kind != TV_STR)
		tv_fail("object of type '%s' has no len()", tv_type_name(end));
	/* the checks and the arithmetic are Python's: a float length works */
	endlen = tv_int(utf8_count(end->u.s.p, end->u.s.len));
	if (!tpl_compare_op(length, TC_GE, endlen))
		tv_fail("expected length >= %d", (int) endlen->u.i);
	if (!tpl_compare_op(leeway, TC_GE, tv_int(0)))
		tv_fail("expected leeway >= 0");
	if (tpl_compare_op(tv_int(v->kind == TV_STR ? utf8_count(v->u.s.p, v->u.s.len) : tv_len(v)),
					   TC_LE, tv_arith(TN_ADD, length, leeway)))
		return v;
	if (v->kind != TV_STR)
		tv_fail("noetl's truncate takes a string, not '%s'", tv_type_name(v));
	keep = tv_arith(TN_SUB, length, endlen);
	if (keep->kind != TV_INT && keep->kind != TV_BOOL)
		tv_fail("slice indices must be integers or None or have an __index__ method");
	cut = utf8_offset(v->u.s.p, v->u.s.len, keep->kind == TV_BOOL ? keep->u.b : keep->u.i);
	if (!tv_truthy(killwords))
	{
		/* s[:length - len(end)].rsplit(" ", 1)[0] */
		int			i;

		for (i = cut - 1; i >= 0; i--)
			if (v->u.s.p[i] == ' ')
			{
				cut = i;
				break;
			}
	}
	tpl_charge_alloc(cut + end->u.s.len);
	tv_buf_init(&buf, cut + end->u.s.len);
	appendBinaryStringInfo(&buf, v->u.s.p, cut);
	appendBinaryStringInfo(&buf, end->u.s.p, end->u.s.len);
	return markup_like(tv_str(buf.data, buf.len), v);
}

/* ------------------------------------------------------------ wordcount */

/* tpl_filter_wordcount is Jinja2's wordcount: the runs of \w in str(s) */
TVal *
tpl_filter_wordcount(TVal *v)
{
	TVal	   *s = tv_soft_str(v);
	int64		words = 0;
	bool		in_word = false;
	int			i = 0;

	tpl_charge_bytes(s->u.s.len);
	while (i < s->u.s.len)
	{
		pg_wchar	w = utf8_to_unicode((const unsigned char *) s->u.s.p + i);
		bool		wc = tpl_is_word_char(w);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (wc && !in_word)
			words++;
		in_word = wc;
		i += Min(pg_utf_mblen((const unsigned char *) s->u.s.p + i), s->u.s.len - i);
	}
	return tv_int(words);
}

/* ------------------------------------------------------------ center */

/* tpl_filter_center is Jinja2's center: str(value).center(width) */
TVal *
tpl_filter_center(TVal *v, TVal *width)
{
	TVal	   *s = tv_soft_str(v);
	int64		w;
	int64		len;
	int64		marg;
	int64		left;
	StringInfoData buf;

	if (width->kind == TV_FLOAT)
		tv_fail("integer argument expected, got float");
	w = as_int(width, "");
	len = utf8_count(s->u.s.p, s->u.s.len);
	if (w <= len)
		return s;
	marg = w - len;
	/* CPython's pad(): the odd space goes left when width is odd */
	left = marg / 2 + (marg & w & 1);
	check_size(s->u.s.len + marg);
	tpl_charge_bytes(s->u.s.len + marg);
	tv_buf_init(&buf, (int) (s->u.s.len + marg));
	append_spaces(&buf, left);
	appendBinaryStringInfo(&buf, s->u.s.p, s->u.s.len);
	append_spaces(&buf, marg - left);
	return markup_like(tv_str(buf.data, buf.len), s);
}

/* ------------------------------------------------------------ indent */

/*
 * line_break returns the byte length of the line boundary at p (0 if none),
 * for the boundaries str.splitlines() knows.
 */
static int
line_break(const char *p, int len)
{
	unsigned char c = (unsigned char) p[0];

	switch (c)
	{
		case '\n':
		case '\v':
		case '\f':
		case 0x1c:
		case 0x1d:
		case 0x1e:
			return 1;
		case '\r':
			return (len > 1 && p[1] == '\n') ? 2 : 1;
		case 0xC2:				/* U+0085 */
			return (len > 1 && (unsigned char) p[1] == 0x85) ? 2 : 0;
		case 0xE2:				/* U+2028, U+2029 */
			return (len > 2 && (unsigned char) p[1] == 0x80 &&
					((unsigned char) p[2] == 0xA8 || (unsigned char) p[2] == 0xA9)) ? 3 : 0;
		default:
			return 0;
	}
}

/*
 * tpl_filter_indent is Jinja2's indent: every line but the first (unless
 * first) indented by width spaces or the string width; blank lines only
 * with blank.
 */
TVal *
tpl_filter_indent(TVal *v, TVal *width, TVal *first, TVal *blank)
{
	const char *ind;
	int64		indlen;
	bool		do_blank = tv_truthy(blank);
	StringInfoData buf;
	int			i = 0;
	int			line = 0;
	char	   *src;
	int			srclen;

	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint ? v->u.undef.hint : "value is undefined");
	if (v->kind != TV_STR)
		tv_fail("unsupported operand type(s) for +=: '%s' and 'str'", tv_type_name(v));
	if (width->kind == TV_STR)
	{
		ind = width->u.s.p;
		indlen = width->u.s.len;
	}
	else
	{
		if (width->kind != TV_INT && width->kind != TV_BOOL && width->kind != TV_BIG)
			tv_fail("can't multiply sequence by non-int of type '%s'", tv_type_name(width));
		if (width->kind == TV_BIG)
			tv_fail("cannot fit 'int' into an index-sized integer");
		indlen = Max(as_int(width, ""), 0);
		check_size(indlen);
		tpl_charge_bytes(indlen);
		src = palloc(indlen + 1);
		memset(src, ' ', indlen);
		ind = src;
	}

	/* s += "\n", then splitlines() */
	srclen = v->u.s.len + 1;
	src = palloc(srclen);
	memcpy(src, v->u.s.p, v->u.s.len);
	src[srclen - 1] = '\n';

	tpl_charge_alloc(srclen);
	tv_buf_init(&buf, srclen);
	if (tv_truthy(first))
	{
		check_length((int64) buf.len + indlen);
		tpl_charge_alloc(indlen);
		appendBinaryStringInfo(&buf, ind, (int) indlen);
	}
	while (i < srclen)
	{
		int			start = i;
		int			brk = 0;

		while (i < srclen && (brk = line_break(src + i, srclen - i)) == 0)
			i++;
		/* the line is src[start, i); a break of brk bytes follows */
		if (line > 0)
		{
			appendStringInfoChar(&buf, '\n');
			if (i > start || do_blank)
			{
				/* what the buffer holds is counted already: reserve the growth */
				check_length((int64) buf.len + indlen + (i - start));
				tpl_charge_alloc(indlen);
				appendBinaryStringInfo(&buf, ind, (int) indlen);
			}
		}
		appendBinaryStringInfo(&buf, src + start, i - start);
		i += brk;
		line++;
		CHECK_FOR_INTERRUPTS();
	}
	return markup_like(tv_str(buf.data, buf.len), v);
}

/* ------------------------------------------------------------ urlencode */

/*
 * url_quote is Jinja2's url_quote: str() of obj as UTF-8, every byte but
 * letters, digits and _.-~ (and / unless for_qs) as %XX; for_qs writes
 * spaces as +.
 */
static void
url_quote(StringInfo out, TVal *obj, bool for_qs)
{
	static const char hex[] = "0123456789ABCDEF";
	TVal	   *s = tv_plain_str(obj);
	int			i;

	tpl_charge_alloc((Size) s->u.s.len * 3);
	for (i = 0; i < s->u.s.len; i++)
	{
		unsigned char c = (unsigned char) s->u.s.p[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '.' || c == '-' || c == '~' || (c == '/' && !for_qs))
			appendStringInfoChar(out, (char) c);
		else if (c == ' ' && for_qs)
			appendStringInfoChar(out, '+');
		else
		{
			appendStringInfoChar(out, '%');
			appendStringInfoChar(out, hex[c >> 4]);
			appendStringInfoChar(out, hex[c & 15]);
		}
	}
}

/*
 * tpl_filter_urlencode is Jinja2's urlencode: a string (or anything not
 * iterable) quoted, a dict or an iterable of pairs joined as a query
 * string.
 */
TVal *
tpl_filter_urlencode(TVal *v)
{
	StringInfoData buf;
	TVal	   *pairs;
	int			n;
	int			i;

	tv_buf_init(&buf, 64);
	if (!(v->kind == TV_LIST || v->kind == TV_DICT || v->kind == TV_RANGE ||
		  v->kind == TV_UNDEF || v->kind == TV_LOOP))
	{
		url_quote(&buf, v, false);
		return tv_str(buf.data, buf.len);
	}
	if (v->kind == TV_DICT)
	{
		tv_materialize(v);
		for (i = 0; i < v->u.dict.n; i++)
		{
			tpl_charge(1);
			if (i > 0)
				appendStringInfoChar(&buf, '&');
			url_quote(&buf, v->u.dict.keys[i], true);
			appendStringInfoChar(&buf, '=');
			url_quote(&buf, v->u.dict.vals[i], true);
		}
		return tv_str(buf.data, buf.len);
	}
	pairs = tv_iter_items(v, &n);
	for (i = 0; i < n; i++)
	{
		TVal	   *pair = pairs->u.list.items[i];
		int			k;
		TVal	   *kv;

		tpl_charge(1);
		/* "for k, v in items" unpacks each item */
		if (!(pair->kind == TV_LIST || pair->kind == TV_STR || pair->kind == TV_DICT ||
			  pair->kind == TV_RANGE || pair->kind == TV_UNDEF))
			tv_fail("cannot unpack non-iterable %s object", tv_type_name(pair));
		kv = tv_iter_items(pair, &k);
		if (k != 2)
			tv_fail(k < 2 ? "not enough values to unpack (expected 2, got %d)"
					: "too many values to unpack (expected 2, got %d)", k);
		if (i > 0)
			appendStringInfoChar(&buf, '&');
		url_quote(&buf, kv->u.list.items[0], true);
		appendStringInfoChar(&buf, '=');
		url_quote(&buf, kv->u.list.items[1], true);
	}
	return tv_str(buf.data, buf.len);
}

/* ------------------------------------------------------------ filesizeformat */

/* append_float_1f appends a float as Python's f"{x:.1f}" writes it */
static void
append_float_1f(StringInfo out, double x)
{
	if (isnan(x))
		appendStringInfoString(out, "nan");
	else if (isinf(x))
		appendStringInfoString(out, x > 0 ? "inf" : "-inf");
	else
		appendStringInfo(out, "%.1f", x);
}

/*
 * tpl_filter_filesizeformat is Jinja2's filesizeformat: float(value) as
 * "1 Byte", "12 Bytes", "13.0 kB" (decimal prefixes) or "13.0 KiB"
 * (binary).
 */
TVal *
tpl_filter_filesizeformat(TVal *v, TVal *binary)
{
	static const char *const dec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
	static const char *const bin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
	static const double dec_unit[] = {1e6, 1e9, 1e12, 1e15, 1e18, 1e21, 1e24, 1e27};
	bool		b = tv_truthy(binary);
	double		bytes;
	double		base = b ? 1024.0 : 1000.0;
	StringInfoData buf;
	int			i;

	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint ? v->u.undef.hint : "value is undefined");
	if (v->kind == TV_STR)
	{
		if (!py_float_parse(v->u.s.p, v->u.s.len, &bytes))
			tv_fail("could not convert string to float");
	}
	else if (tv_is_number(v))
	{
		bytes = tv_to_double(v);
		if (v->kind == TV_BIG && isinf(bytes))
			tv_fail("int too large to convert to float");
	}
	else
		tv_fail("float() argument must be a string or a real number, not '%s'", tv_type_name(v));

	tv_buf_init(&buf, 32);
	if (bytes == 1.0)
		appendStringInfoString(&buf, "1 Byte");
	else if (bytes < base)
	{
		/* f"{int(bytes)} Bytes": int() truncates, and has all the digits */
		if (isinf(bytes))
			tv_fail("cannot convert float infinity to integer");
		appendStringInfo(&buf, "%.0f Bytes", trunc(bytes) == 0.0 ? 0.0 : trunc(bytes));
	}
	else
	{
		for (i = 0; i < 8; i++)
		{
			double		unit = b ? ldexp(1.0, 10 * (i + 2)) : dec_unit[i];

			if (bytes < unit || i == 7)
			{
				append_float_1f(&buf, base * bytes / unit);
				appendStringInfo(&buf, " %s", b ? bin[i] : dec[i]);
				break;
			}
		}
	}
	return tv_str(buf.data, buf.len);
}

/* ------------------------------------------------------------ base64 */

/* tpl_filter_b64encode is NoETL's b64encode (see the file's header) */
TVal *
tpl_filter_b64encode(TVal *v)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	TVal	   *s = tv_plain_str(v);
	const unsigned char *p = (const unsigned char *) s->u.s.p;
	int			len = s->u.s.len;
	StringInfoData buf;
	int			i;

	check_size(((int64) len + 2) / 3 * 4);
	tpl_charge_bytes(((Size) len + 2) / 3 * 4);
	tv_buf_init(&buf, (len + 2) / 3 * 4);
	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		x = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];

		appendStringInfoChar(&buf, tab[(x >> 18) & 63]);
		appendStringInfoChar(&buf, tab[(x >> 12) & 63]);
		appendStringInfoChar(&buf, tab[(x >> 6) & 63]);
		appendStringInfoChar(&buf, tab[x & 63]);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (len - i == 1)
	{
		uint32		x = p[i] << 16;

		appendStringInfoChar(&buf, tab[(x >> 18) & 63]);
		appendStringInfoChar(&buf, tab[(x >> 12) & 63]);
		appendStringInfoString(&buf, "==");
	}
	else if (len - i == 2)
	{
		uint32		x = (p[i] << 16) | (p[i + 1] << 8);

		appendStringInfoChar(&buf, tab[(x >> 18) & 63]);
		appendStringInfoChar(&buf, tab[(x >> 12) & 63]);
		appendStringInfoChar(&buf, tab[(x >> 6) & 63]);
		appendStringInfoChar(&buf, '=');
	}
	return tv_str(buf.data, buf.len);
}

/* b64_value is the value of a base64 character, -1 for others */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * tpl_filter_b64decode is base64.b64decode(s).decode('utf-8'), as
 * CPython's non-strict a2b_base64 decodes: characters outside the alphabet
 * are skipped, decoding stops at complete padding, and a final group that
 * is incomplete is an error.
 */
TVal *
tpl_filter_b64decode(TVal *v)
{
	const unsigned char *p;
	int			len;
	StringInfoData buf;
	int			quad = 0;
	int			pads = 0;
	uint32		left = 0;
	int			bits = 0;
	int			i;

	if (v->kind != TV_STR)
		tv_fail("argument should be a bytes-like object or ASCII string, not '%s'", tv_type_name(v));
	p = (const unsigned char *) v->u.s.p;
	len = v->u.s.len;
	tpl_charge_alloc(len);
	tv_buf_init(&buf, len);
	for (i = 0; i < len; i++)
	{
		int			x;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p[i] >= 0x80)
			tv_fail("string argument should contain only ASCII characters");
		if (p[i] == '=')
		{
			if (quad >= 2 && quad + ++pads >= 4)
			{
				quad = 0;
				break;
			}
			continue;
		}
		x = b64_value(p[i]);
		if (x < 0)
			continue;
		pads = 0;
		quad = (quad + 1) & 3;
		left = (left << 6) | x;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			appendStringInfoChar(&buf, (char) ((left >> bits) & 0xFF));
			left &= (1 << bits) - 1;
		}
	}
	if (quad == 1)
		tv_fail("Invalid base64-encoded string: number of data characters cannot be 1 more than a multiple of 4");
	if (quad != 0)
		tv_fail("Incorrect padding");
	if (memchr(buf.data, '\0', buf.len) != NULL)
		tv_fail("the decoded text contains a NUL byte, which noetl's text cannot hold");
	if (!pg_verify_mbstr(PG_UTF8, buf.data, buf.len, true))
		tv_fail("'utf-8' codec can't decode the decoded bytes");
	return tv_str(buf.data, buf.len);
}
