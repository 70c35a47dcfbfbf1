/*-------------------------------------------------------------------------
 *
 * yaml_scalar.c
 *	  The scalars of a YAML document become values, as PyYAML's
 *	  SafeConstructor makes them: ints, floats, booleans, timestamps.
 *
 * Ints and floats are what Python's int() and float() make of the text
 * (pynum.c) after PyYAML's own preparation: "_" removed, a sign, a base
 * prefix, sexagesimal parts ("1:30").  An int json.dumps could not print
 * (beyond 4300 digits) is recorded, not computed.  Timestamps become the
 * isoformat() of the date or datetime PyYAML builds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"

#include "pynum.h"
#include "yaml_private.h"

/* strip_underscores returns a copy of s without "_", lower-cased if lower */
static char *
strip_underscores(const char *s, size_t len, bool lower)
{
	char	   *out = palloc(len + 1);
	size_t		i;
	size_t		j = 0;

	for (i = 0; i < len; i++)
		if (s[i] != '_')
			out[j++] = lower ? pg_ascii_tolower((unsigned char) s[i]) : s[i];
	out[j] = '\0';
	return out;
}

/*
 * yaml_init_small_buf initialises a StringInfo with a small buffer; numbers and
 * keys are short, and initStringInfo's 1 kB per value adds up in big
 * documents.
 */
void
yaml_init_small_buf(StringInfo buf)
{
	buf->maxlen = 32;
	buf->data = palloc(buf->maxlen);
	buf->data[0] = '\0';
	buf->len = 0;
	buf->cursor = 0;
}

/* what yaml_construct_int found */
typedef enum YIntResult
{
	YINT_OK,
	YINT_INVALID,				/* int() raises ValueError */
	YINT_TOO_LONG,				/* int() refuses the digits (ValueError) */
	YINT_TOO_BIG				/* json.dumps would refuse to print it */
} YIntResult;

/* read_int is py_int_parse, its outcome told as construct_int tells it */
static YIntResult
read_int(const char *s, int len, int base, PyIntText *t)
{
	PyIntStatus st = py_int_parse(s, len, base, t);

	if (st == PYINT_OK)
		return YINT_OK;
	return st == PYINT_TOO_LONG ? YINT_TOO_LONG : YINT_INVALID;
}

/*
 * yaml_int_digits appends the decimal value of int(s, base) to out, as
 * PyYAML computes a YAML int: s is what follows the sign (and a 0b or 0x
 * prefix), so a value that itself carries a sign keeps it.  Values that
 * str() would refuse to print are not computed.
 */
static YIntResult
yaml_int_digits(const char *s, int base, StringInfo out)
{
	PyIntText	t;
	YIntResult	res = read_int(s, strlen(s), base, &t);
	double		lo;
	double		hi;

	if (res != YINT_OK)
		return res;
	py_int_digit_bounds(&t, &lo, &hi);
	if (lo >= PY_INT_MAX_DIGITS)
		return YINT_TOO_BIG;
	py_int_to_decimal(&t, out);
	return YINT_OK;
}

/*
 * yaml_int_base60 appends the decimal value of a sexagesimal int (after its
 * sign), as PyYAML computes it: Python's int() of each part between ":",
 * the parts weighted by powers of 60, the last one by 1.  The parts are
 * read once to find errors and to bound the size of the value, and once
 * more to compute it, unless it surely has more digits than json.dumps
 * prints (or, when negative parts might cancel the others out, so many
 * that computing it would take long: then it is refused too, where PyYAML
 * would compute it).
 */
static YIntResult
yaml_int_base60(const char *v, StringInfo out)
{
	const double w60 = log10(60.0);
	int			nparts = 0;
	bool		negative = false;
	int			first = -1;		/* the first part that is not zero */
	double		lo_first = 0;	/* its lower bound, without its weight */
	double		hi_max = 0;		/* the largest upper bound of a part, idem */
	const char *p;
	Datum		acc = NumericGetDatum(int64_to_numeric(0));
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		nparts = 0;
		for (p = v;; p++)
		{
			int			len = strcspn(p, ":");
			PyIntText	t;
			YIntResult	res;

			if ((++nparts & 0x3FF) == 0)
				CHECK_FOR_INTERRUPTS();
			res = read_int(p, len, 10, &t);
			if (res != YINT_OK)
				return res;
			if (pass == 0 && (int) strspn(t.digits, "0") < t.ndigits)
			{
				double		lo;
				double		hi;

				/* part i weighs 60^(n - 1 - i): n is added once known */
				py_int_digit_bounds(&t, &lo, &hi);
				if (first < 0)
				{
					first = nparts - 1;
					lo_first = lo - first * w60;
				}
				hi_max = Max(hi_max, hi - (nparts - 1) * w60);
				negative |= t.neg;
			}
			if (pass == 1)
			{
				StringInfoData dec;

				yaml_init_small_buf(&dec);
				py_int_to_decimal(&t, &dec);
				acc = DirectFunctionCall2(numeric_mul, acc,
										  NumericGetDatum(int64_to_numeric(60)));
				acc = DirectFunctionCall2(numeric_add, acc,
										  DirectFunctionCall3(numeric_in,
															  CStringGetDatum(dec.data),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
			}
			pfree(t.digits);
			p += len;
			if (*p == '\0')
				break;
		}
		if (pass == 0)
		{
			double		weight = (nparts - 1) * w60;

			if (first < 0)
			{
				/* every part is zero */
				appendStringInfoChar(out, '0');
				return YINT_OK;
			}
			if (!negative && lo_first + weight >= PY_INT_MAX_DIGITS)
				return YINT_TOO_BIG;
			if (hi_max + weight + log10((double) nparts) > 2 * PY_INT_MAX_DIGITS + 16)
				return YINT_TOO_BIG;
		}
	}
	appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out, acc)));
	return YINT_OK;
}

/*
 * yaml_construct_int appends the decimal text of SafeConstructor.construct_yaml_int
 * and returns true, or returns false when json.dumps could not print the
 * value (recorded with yaml_json_fail).  The text is kept in the node: aliases
 * may ask for it again.
 */
bool
yaml_construct_int(YamlReader *r, YNode *n, StringInfo out)
{
	char	   *v;
	bool		neg = false;
	YIntResult	res;
	StringInfoData digits;

	if (n->int_text != NULL)
	{
		appendStringInfoString(out, n->int_text);
		return true;
	}
	v = strip_underscores(n->value, n->len, false);
	if (v[0] == '\0')
		yaml_node_fail(n, "invalid integer \"\"");
	if (v[0] == '-')
		neg = true;
	if (v[0] == '+' || v[0] == '-')
		v++;
	yaml_init_small_buf(&digits);
	if (strcmp(v, "0") == 0)
	{
		appendStringInfoChar(out, '0');
		return true;
	}
	if (strncmp(v, "0b", 2) == 0)
		res = yaml_int_digits(v + 2, 2, &digits);
	else if (strncmp(v, "0x", 2) == 0)
		res = yaml_int_digits(v + 2, 16, &digits);
	else if (v[0] == '0')
		res = yaml_int_digits(v, 8, &digits);
	else if (strchr(v, ':') != NULL)
		res = yaml_int_base60(v, &digits);
	else
		res = yaml_int_digits(v, 10, &digits);
	if (res == YINT_INVALID)
		yaml_node_fail(n, psprintf("invalid integer \"%s\"", yaml_value_text(n)));
	if (res == YINT_TOO_LONG)
		yaml_node_fail(n, psprintf("invalid integer: it has more than the %d digits Python converts",
							  PY_INT_MAX_DIGITS));
	if (res == YINT_TOO_BIG || digits.len - (digits.data[0] == '-') > PY_INT_MAX_DIGITS)
	{
		yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  psprintf("integer of more than %d decimal digits cannot be represented in JSON",
						   PY_INT_MAX_DIGITS));
		return false;
	}
	/* sign * value: a value that itself carried a sign keeps it */
	if (neg)
	{
		if (digits.data[0] == '-')
			n->int_text = pstrdup(digits.data + 1);
		else if (strcmp(digits.data, "0") == 0)
			n->int_text = "0";
		else
			n->int_text = psprintf("-%s", digits.data);
	}
	else
		n->int_text = digits.data;
	appendStringInfoString(out, n->int_text);
	return true;
}

/*
 * yaml_construct_float returns the double of SafeConstructor.construct_yaml_float.
 */
double
yaml_construct_float(YNode *n)
{
	char	   *v = strip_underscores(n->value, n->len, true);
	double		sign = 1.0;
	double		d = 0.0;

	if (v[0] == '\0')
		yaml_node_fail(n, "invalid float \"\"");
	if (v[0] == '-')
		sign = -1.0;
	if (v[0] == '+' || v[0] == '-')
		v++;
	if (strcmp(v, ".inf") == 0)
		return sign * get_float8_infinity();
	if (strcmp(v, ".nan") == 0)
		return get_float8_nan();
	if (strchr(v, ':') != NULL)
	{
		/* the parts are summed least significant first, as PyYAML does */
		const char *end = v + strlen(v);
		double		base = 1.0;
		uint32		k = 0;

		for (;;)
		{
			const char *start = end;
			double		p;

			if ((++k & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			while (start > v && start[-1] != ':')
				start--;
			if (!py_float_parse(start, end - start, &p))
				yaml_node_fail(n, psprintf("invalid float \"%s\"", yaml_value_text(n)));
			d += p * base;
			base *= 60;
			if (start == v)
				break;
			end = start - 1;
		}
	}
	else if (!py_float_parse(v, strlen(v), &d))
		yaml_node_fail(n, psprintf("invalid float \"%s\"", yaml_value_text(n)));
	return sign * d;
}

/* is_leap says whether y is a leap year of the Gregorian calendar */
static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * yaml_construct_timestamp appends the isoformat() of the date or datetime that
 * SafeConstructor.construct_yaml_timestamp builds.
 */
void
yaml_construct_timestamp(YNode *n, StringInfo out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	YTimestamp	ts;
	int			dim;

	if (!yaml_scan_timestamp(n->value, yaml_match_len(n->value, n->len), false, &ts))
		yaml_node_fail(n, psprintf("invalid timestamp \"%s\"", yaml_value_text(n)));
	if (ts.year < 1 || ts.month < 1 || ts.month > 12)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", yaml_value_text(n)));
	dim = mdays[ts.month - 1] + (ts.month == 2 && is_leap(ts.year) ? 1 : 0);
	if (ts.day < 1 || ts.day > dim)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", yaml_value_text(n)));
	appendStringInfo(out, "%04d-%02d-%02d", ts.year, ts.month, ts.day);
	if (!ts.has_time)
		return;
	if (ts.hour > 23 || ts.minute > 59 || ts.second > 59)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", yaml_value_text(n)));
	appendStringInfo(out, "T%02d:%02d:%02d", ts.hour, ts.minute, ts.second);
	if (ts.micro != 0)
		appendStringInfo(out, ".%06d", ts.micro);
	if (ts.has_tz)
	{
		int			minutes = ts.tz_utc ? 0 : ts.tz_hour * 60 + ts.tz_minute;

		if (minutes >= 24 * 60)
			yaml_node_fail(n, psprintf("timestamp \"%s\" has an out-of-range time zone", yaml_value_text(n)));
		if (ts.tz_sign < 0 && minutes > 0)
			appendStringInfo(out, "-%02d:%02d", minutes / 60, minutes % 60);
		else
			appendStringInfo(out, "+%02d:%02d", minutes / 60, minutes % 60);
	}
}

/*
 * yaml_construct_bool gives the value of SafeConstructor.construct_yaml_bool.
 */
bool
yaml_construct_bool(YNode *n)
{
	char	   *low = pstrdup(n->value);
	char	   *c;

	for (c = low; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	if (strcmp(low, "yes") == 0 || strcmp(low, "true") == 0 || strcmp(low, "on") == 0)
		return true;
	if (strcmp(low, "no") == 0 || strcmp(low, "false") == 0 || strcmp(low, "off") == 0)
		return false;
	yaml_node_fail(n, psprintf("invalid boolean \"%s\"", yaml_value_text(n)));
}
