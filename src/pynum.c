/*-------------------------------------------------------------------------
 *
 * pynum.c
 *	  Python's whitespace, and numbers read and written the way Python reads
 *	  and writes them.
 *
 * NoETL's playbooks are read by PyYAML and rendered by Jinja2, so the text of
 * a number must mean what Python's int() and float() make of it, and a
 * number must become the text Python would write.
 *
 * Reading: int(text, base) accepts surrounding whitespace, a sign, a base
 * prefix, and "_" between digits; since Python 3.11 it refuses more than
 * 4300 digits unless the base is a power of two.  Converting the digits to
 * decimal is quadratic in their number and lets interrupts through; callers
 * bound it (a budget, or the 4300 decimal digits json.dumps prints).
 * float(text) takes the same whitespace, "inf", "infinity" and "nan" in any
 * case, and otherwise what strtod takes of decimal notation.  Both skip the
 * whitespace of str.isspace() except U+001C to U+001F: CPython skips ASCII
 * whitespace, and whitespace beyond ASCII.  Python also reads the digits of
 * other scripts (U+0661, ARABIC-INDIC DIGIT ONE, is 1); noetl does not.
 *
 * Writing: repr() of a float is the shortest string that reads back as the
 * same double, written in fixed notation when the decimal exponent is in
 * (-4, 16] and in exponent notation otherwise.  PostgreSQL already has the
 * shortest-digits algorithm (Ryu); this file only lays its digits out as
 * Python does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/float.h"

#include "pynum.h"

/*
 * Nonnegative ints of any size: limbs of base 10^9, least significant
 * first, enough to turn the digits of an int in any base into decimal.
 */
typedef struct PyBigUInt
{
	uint32	   *limb;
	int			n;
	int			cap;
} PyBigUInt;

#define BIG_BASE	1000000000U

static void py_big_init(PyBigUInt *b);
static void py_big_add_digits(PyBigUInt *b, const PyIntText *t);
static void py_big_to_text(const PyBigUInt *b, StringInfo out);

/* ---------------------------------------------------------------- space */

/*
 * py_isspace is Python's str.isspace for one code point.
 */
bool
py_isspace(pg_wchar c)
{
	return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 ||
		c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
		c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/*
 * space_len returns the length of the whitespace character at p (of left
 * readable bytes), or 0; for_number leaves out U+001C to U+001F, which
 * int() and float() do not skip.
 */
static int
space_len(const char *p, int left, bool for_number)
{
	unsigned char c = (unsigned char) *p;
	int			l;

	if (c < 0x80)
		return (c == ' ' || (c >= '\t' && c <= '\r') ||
				(!for_number && c >= 0x1C && c <= 0x1F)) ? 1 : 0;
	l = pg_utf_mblen((const unsigned char *) p);
	if (l > left)
		return 0;
	return py_isspace(utf8_to_unicode((const unsigned char *) p)) ? l : 0;
}

/*
 * rstrip_len returns len without the whitespace at the end of p, walking
 * back one character at a time.
 */
static int
rstrip_len(const char *p, int len, bool for_number)
{
	int			end = len;

	while (end > 0)
	{
		int			start = end - 1;
		int			w;

		while (start > 0 && (p[start] & 0xC0) == 0x80)
			start--;
		w = space_len(p + start, end - start, for_number);
		if (w == 0 || start + w != end)
			break;
		end = start;
	}
	return end;
}

/* strip narrows (*p, *len) to the text between leading and trailing whitespace */
static void
strip(const char **p, int *len, bool for_number)
{
	int			w;

	*len = rstrip_len(*p, *len, for_number);
	while (*len > 0 && (w = space_len(*p, *len, for_number)) > 0)
	{
		*p += w;
		*len -= w;
	}
}

/* py_space_len returns the length of the whitespace character at p, or 0 */
int
py_space_len(const char *p, int len)
{
	return len > 0 ? space_len(p, len, false) : 0;
}

/* py_rstrip_len returns len without p's trailing whitespace (str.rstrip()) */
int
py_rstrip_len(const char *p, int len)
{
	return rstrip_len(p, len, false);
}

/* py_strip narrows (*p, *len) to str.strip() */
void
py_strip(const char **p, int *len)
{
	strip(p, len, false);
}

/* ---------------------------------------------------------------- int */

/* digit_value is the value of an ASCII digit or letter, 99 for anything else */
static int
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/*
 * py_int_parse reads s (len bytes) as Python's int(s, base) does, base 0 or
 * 2 to 36, and returns what it found: the digits, base and sign in *out if
 * the text is an int.
 */
PyIntStatus
py_int_parse(const char *s, int len, int base, PyIntText *out)
{
	int			i = 0;
	bool		last_us = true; /* a "_" may not come first */
	int			n = 0;

	Assert(base == 0 || (base >= 2 && base <= 36));
	strip(&s, &len, true);
	out->neg = false;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		out->neg = s[i++] == '-';
	if (base == 0 || base == 16 || base == 8 || base == 2)
	{
		if (i + 1 < len && s[i] == '0')
		{
			char		c = s[i + 1] | 0x20;
			int			b = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;

			if (b != 0 && (base == 0 || base == b))
			{
				base = b;
				i += 2;
				last_us = false;	/* "0x_1" is allowed */
			}
		}
		if (base == 0)
		{
			/* base 0 without a prefix: decimal, and no leading zeros */
			base = 10;
			if (i < len && s[i] == '0')
			{
				int			k;

				for (k = i; k < len; k++)
					if (s[k] != '0' && s[k] != '_')
						return PYINT_INVALID;
			}
		}
	}
	out->base = base;
	out->digits = palloc(len - i + 1);
	for (; i < len; i++)
	{
		char		c = s[i];

		if (c == '_')
		{
			if (last_us || i + 1 >= len)
				return PYINT_INVALID;
			last_us = true;
			continue;
		}
		if (digit_value(c) >= base)
			return PYINT_INVALID;
		out->digits[n++] = c;
		last_us = false;
	}
	out->digits[n] = '\0';
	out->ndigits = n;
	if (n == 0)
		return PYINT_INVALID;
	if (n > PY_INT_MAX_DIGITS && (base & (base - 1)) != 0)
		return PYINT_TOO_LONG;
	return PYINT_OK;
}

/* py_int_to_int64 gives the value of t, if it fits in an int64 */
bool
py_int_to_int64(const PyIntText *t, int64 *out)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < t->ndigits; i++)
	{
		int			d = digit_value(t->digits[i]);

		if (v > (PG_UINT64_MAX - d) / t->base)
			return false;
		v = v * t->base + d;
	}
	if (t->neg)
	{
		if (v > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = v == (uint64) PG_INT64_MAX + 1 ? PG_INT64_MIN : -(int64) v;
	}
	else
	{
		if (v > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) v;
	}
	return true;
}

/*
 * py_int_digit_bounds bounds the decimal digits of t's value before it is
 * computed: there are more than *lo and at most *hi of them.
 */
void
py_int_digit_bounds(const PyIntText *t, double *lo, double *hi)
{
	int			i = 0;
	int			significant;

	while (i < t->ndigits && t->digits[i] == '0')
		i++;
	significant = t->ndigits - i;
	if (significant == 0)
	{
		*lo = 0;
		*hi = 1;
		return;
	}
	*lo = (significant - 1) * log10((double) t->base);
	*hi = significant * log10((double) t->base) + 1;
}

/* py_int_to_decimal appends the decimal text of t's value */
void
py_int_to_decimal(const PyIntText *t, StringInfo out)
{
	PyBigUInt	b;

	py_big_init(&b);
	py_big_add_digits(&b, t);
	if (t->neg && b.n > 0)
		appendStringInfoChar(out, '-');
	py_big_to_text(&b, out);
	pfree(b.limb);
}

/* py_big_init makes b zero */
static void
py_big_init(PyBigUInt *b)
{
	b->cap = 4;
	b->n = 0;
	b->limb = palloc(sizeof(uint32) * b->cap);
}

/* py_big_muladd sets b to b * mul + add, both at most 10^9 */
static void
py_big_muladd(PyBigUInt *b, uint32 mul, uint32 add)
{
	uint64		carry = add;
	int			i;

	Assert(mul <= BIG_BASE && add <= BIG_BASE);
	for (i = 0; i < b->n; i++)
	{
		uint64		v = (uint64) b->limb[i] * mul + carry;

		b->limb[i] = (uint32) (v % BIG_BASE);
		carry = v / BIG_BASE;
	}
	while (carry > 0)
	{
		if (b->n == b->cap)
		{
			b->cap *= 2;
			b->limb = repalloc(b->limb, sizeof(uint32) * b->cap);
		}
		b->limb[b->n++] = (uint32) (carry % BIG_BASE);
		carry /= BIG_BASE;
	}
}

/*
 * py_big_add_digits sets b to b * base^ndigits + the value of t's digits,
 * taking as many digits at a time as keep the multiplier within 10^9.
 */
static void
py_big_add_digits(PyBigUInt *b, const PyIntText *t)
{
	int			i = 0;

	while (i < t->ndigits)
	{
		uint32		mul = 1;
		uint32		add = 0;

		if ((i & 0xFF) == 0)
			CHECK_FOR_INTERRUPTS();
		while (i < t->ndigits && mul <= BIG_BASE / t->base)
		{
			mul *= t->base;
			add = add * t->base + digit_value(t->digits[i++]);
		}
		py_big_muladd(b, mul, add);
	}
}

/* py_big_to_text appends the decimal text of b */
static void
py_big_to_text(const PyBigUInt *b, StringInfo out)
{
	int			i;

	if (b->n == 0)
	{
		appendStringInfoChar(out, '0');
		return;
	}
	appendStringInfo(out, "%u", b->limb[b->n - 1]);
	for (i = b->n - 2; i >= 0; i--)
		appendStringInfo(out, "%09u", b->limb[i]);
}

/* ---------------------------------------------------------------- float */

/*
 * py_float_parse reads s (len bytes) as Python's float(s) does; false where
 * float() raises ValueError.
 */
bool
py_float_parse(const char *s, int len, double *out)
{
	char	   *buf;
	int			n = 0;
	int			i;
	const char *body;
	bool		prev_digit = false;
	bool		any_digit = false;
	char	   *end;

	strip(&s, &len, true);
	buf = palloc(len + 1);
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '_')
		{
			/* underscores only between digits */
			if (!prev_digit || i + 1 >= len || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
				return false;
			continue;
		}
		prev_digit = c >= '0' && c <= '9';
		any_digit |= prev_digit;
		buf[n++] = c;
	}
	buf[n] = '\0';
	body = buf;
	if (*body == '+' || *body == '-')
		body++;
	if (pg_strcasecmp(body, "inf") == 0 || pg_strcasecmp(body, "infinity") == 0)
	{
		*out = buf[0] == '-' ? -get_float8_infinity() : get_float8_infinity();
		return true;
	}
	if (pg_strcasecmp(body, "nan") == 0)
	{
		*out = get_float8_nan();
		return true;
	}
	/* digits, a point and an exponent: no hexadecimal, no words */
	for (i = 0; body[i]; i++)
		if (!((body[i] >= '0' && body[i] <= '9') || body[i] == '.' || body[i] == 'e' ||
			  body[i] == 'E' || body[i] == '+' || body[i] == '-'))
			return false;
	if (!any_digit)
		return false;
	*out = strtod(buf, &end);
	return *end == '\0';
}

/* ---------------------------------------------------------------- repr */

/*
 * shortest_digits splits a finite, nonzero double into its shortest
 * round-trip decimal digits (no leading or trailing zeros) and the position
 * of the decimal point: the value is 0.DIGITS * 10^decpt.
 */
static void
shortest_digits(double d, char *digits, int *ndigits, int *decpt)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	char	   *p = buf;
	int			n = 0;
	int			point = -1;
	int			exp10 = 0;
	int			leading = 0;
	bool		seen_nonzero = false;

	if (fabs(d) >= 9007199254740992.0 && d == floor(d))
	{
		/*
		 * PostgreSQL writes integral doubles beyond 2^53 with more digits
		 * than needed; find the shortest correctly rounded form instead.
		 */
		int			k;

		for (k = 1; k <= 17; k++)
		{
			snprintf(buf, sizeof(buf), "%.*e", k - 1, fabs(d));
			if (strtod(buf, NULL) == fabs(d))
				break;
		}
	}
	else
		double_to_shortest_decimal_buf(fabs(d), buf);
	for (; *p && *p != 'e' && *p != 'E'; p++)
	{
		if (*p == '.')
		{
			point = n + leading;
			continue;
		}
		if (!seen_nonzero && *p == '0')
		{
			leading++;
			continue;
		}
		seen_nonzero = true;
		digits[n++] = *p;
	}
	if (point < 0)
		point = n + leading;
	if (*p == 'e' || *p == 'E')
		exp10 = atoi(p + 1);
	while (n > 0 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	*ndigits = n;
	/* point counts the characters before '.', including leading zeros */
	*decpt = point - leading + exp10;
}

/*
 * py_float_repr appends repr(d) as Python 3 writes it.
 */
void
py_float_repr(StringInfo out, double d)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			n;
	int			decpt;
	int			i;

	if (isnan(d))
	{
		appendStringInfoString(out, "nan");
		return;
	}
	if (isinf(d))
	{
		appendStringInfoString(out, d < 0 ? "-inf" : "inf");
		return;
	}
	if (signbit(d))
		appendStringInfoChar(out, '-');
	if (d == 0.0)
	{
		appendStringInfoString(out, "0.0");
		return;
	}
	shortest_digits(d, digits, &n, &decpt);

	if (decpt <= -4 || decpt > 16)
	{
		int			e = decpt - 1;

		appendStringInfoChar(out, digits[0]);
		if (n > 1)
		{
			appendStringInfoChar(out, '.');
			appendStringInfoString(out, digits + 1);
		}
		appendStringInfo(out, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
		return;
	}
	if (decpt <= 0)
	{
		appendStringInfoString(out, "0.");
		for (i = 0; i < -decpt; i++)
			appendStringInfoChar(out, '0');
		appendStringInfoString(out, digits);
		return;
	}
	if (decpt >= n)
	{
		appendStringInfoString(out, digits);
		for (i = n; i < decpt; i++)
			appendStringInfoChar(out, '0');
		appendStringInfoString(out, ".0");
		return;
	}
	appendBinaryStringInfo(out, digits, decpt);
	appendStringInfoChar(out, '.');
	appendStringInfoString(out, digits + decpt);
}

/*
 * py_float_decimal appends a finite double in plain positional notation with
 * at least one digit after the point ("1e16" becomes "10000000000000000.0").
 * Stored as a jsonb numeric this keeps its fractional scale, which is how
 * noetl tells a float from an integer once a value is in jsonb.
 */
void
py_float_decimal(StringInfo out, double d)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			n;
	int			decpt;
	int			i;

	Assert(isfinite(d));
	if (d == 0.0)
	{
		appendStringInfoString(out, "0.0");
		return;
	}
	if (d < 0)
		appendStringInfoChar(out, '-');
	shortest_digits(d, digits, &n, &decpt);
	if (decpt <= 0)
	{
		appendStringInfoString(out, "0.");
		for (i = 0; i < -decpt; i++)
			appendStringInfoChar(out, '0');
		appendStringInfoString(out, digits);
	}
	else if (decpt >= n)
	{
		appendStringInfoString(out, digits);
		for (i = n; i < decpt; i++)
			appendStringInfoChar(out, '0');
		appendStringInfoString(out, ".0");
	}
	else
	{
		appendBinaryStringInfo(out, digits, decpt);
		appendStringInfoChar(out, '.');
		appendStringInfoString(out, digits + decpt);
	}
}
