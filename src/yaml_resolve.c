/*-------------------------------------------------------------------------
 *
 * yaml_resolve.c
 *	  PyYAML's implicit resolvers: the tag a plain scalar gets.
 *
 * YAML 1.1 as PyYAML's Resolver reads it: yes/no/on/off booleans, ints
 * in bases 2, 8, 10, 16 and 60, floats that need a dot, "~" and "" as
 * null, timestamps, "<<" and "=".  Each pattern is a function that scans
 * the text once; the timestamp scanner also serves the constructor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "yaml_private.h"

/*
 * The implicit resolvers of PyYAML's Resolver, one function per pattern.
 * Python's "$" also matches before a final newline, so a value may end in
 * one "\n" that the pattern does not see.
 */

#define ISDIGIT(c) ((c) >= '0' && (c) <= '9')

/* yaml_match_len returns the length of s that a pattern must match */
size_t
yaml_match_len(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		return len - 1;
	return len;
}

/* scan_digits_us matches [0-9_]* at i; returns its length */
static size_t
scan_digits_us(const char *s, size_t i, size_t len)
{
	size_t		j = i;

	while (j < len && (ISDIGIT(s[j]) || s[j] == '_'))
		j++;
	return j - i;
}

/* scan_sexagesimal matches the tail (?::[0-5]?[0-9])+ at i; returns its length or 0 */
static size_t
scan_sexagesimal(const char *s, size_t i, size_t len)
{
	size_t		j = i;
	int			groups = 0;

	while (j < len && s[j] == ':')
	{
		size_t		k = j + 1;

		if (k + 1 < len && s[k] >= '0' && s[k] <= '5' && ISDIGIT(s[k + 1]))
			k += 2;
		else if (k < len && ISDIGIT(s[k]))
			k += 1;
		else
			break;
		j = k;
		groups++;
	}
	return groups > 0 ? j - i : 0;
}

/*
 * is_bool_text matches the booleans: yes, no, true, false, on, off, in
 * lower case, capitalised or upper case
 */
static bool
is_bool_text(const char *s, size_t len)
{
	static const char *const words[] = {
		"yes", "Yes", "YES", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF"
	};
	int			i;

	for (i = 0; i < lengthof(words); i++)
		if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return true;
	return false;
}

/* is_null_text matches "", ~, null, Null and NULL */
static bool
is_null_text(const char *s, size_t len)
{
	return len == 0 ||
		(len == 1 && s[0] == '~') ||
		(len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
					  memcmp(s, "NULL", 4) == 0));
}

/* scan_exponent matches an optional [eE][-+][0-9]+ at i; returns its length */
static size_t
scan_exponent(const char *s, size_t i, size_t len)
{
	size_t		j;

	if (i + 2 < len + 0 && (s[i] == 'e' || s[i] == 'E') &&
		(s[i + 1] == '-' || s[i + 1] == '+') && ISDIGIT(s[i + 2]))
	{
		j = i + 2;
		while (j < len && ISDIGIT(s[j]))
			j++;
		return j - i;
	}
	return 0;
}

/* is_float_text matches the float pattern: a dot is needed, or .inf or .nan */
static bool
is_float_text(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		n;

	if (len == 0)
		return false;
	/* \.[0-9][0-9_]*(?:[eE][-+][0-9]+)? and \.(?:nan|NaN|NAN) */
	if (s[0] == '.')
	{
		if (len == 4 && (memcmp(s, ".nan", 4) == 0 || memcmp(s, ".NaN", 4) == 0 ||
						 memcmp(s, ".NAN", 4) == 0))
			return true;
		if (len == 4 && (memcmp(s, ".inf", 4) == 0 || memcmp(s, ".Inf", 4) == 0 ||
						 memcmp(s, ".INF", 4) == 0))
			return true;
		if (len >= 2 && ISDIGIT(s[1]))
		{
			i = 2 + scan_digits_us(s, 2, len);
			i += scan_exponent(s, i, len);
			return i == len;
		}
		return false;
	}
	if (s[0] == '-' || s[0] == '+')
		i = 1;
	/* [-+]?\.(?:inf|Inf|INF) */
	if (len - i == 4 && s[i] == '.' &&
		(memcmp(s + i, ".inf", 4) == 0 || memcmp(s + i, ".Inf", 4) == 0 ||
		 memcmp(s + i, ".INF", 4) == 0))
		return true;
	if (i >= len || !ISDIGIT(s[i]))
		return false;
	n = 1 + scan_digits_us(s, i + 1, len);
	i += n;
	if (i < len && s[i] == '.')
	{
		/* [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)? */
		i++;
		i += scan_digits_us(s, i, len);
		i += scan_exponent(s, i, len);
		return i == len;
	}
	/* [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]* */
	n = scan_sexagesimal(s, i, len);
	if (n == 0)
		return false;
	i += n;
	if (i < len && s[i] == '.')
	{
		i++;
		i += scan_digits_us(s, i, len);
		return i == len;
	}
	return false;
}

/* is_int_text matches the int pattern: bases 2, 8, 10, 16 and 60 */
static bool
is_int_text(const char *s, size_t len)
{
	size_t		i = 0;

	if (len == 0)
		return false;
	if (s[0] == '-' || s[0] == '+')
		i = 1;
	if (i >= len || !ISDIGIT(s[i]))
		return false;
	if (s[i] == '0')
	{
		size_t		j;

		if (i + 1 == len)
			return true;		/* 0 */
		if (s[i + 1] == 'b')
		{
			/* 0b[0-1_]+ */
			for (j = i + 2; j < len && (s[j] == '0' || s[j] == '1' || s[j] == '_'); j++)
				;
			return j > i + 2 && j == len;
		}
		if (s[i + 1] == 'x')
		{
			/* 0x[0-9a-fA-F_]+ */
			for (j = i + 2; j < len && (isxdigit((unsigned char) s[j]) || s[j] == '_'); j++)
				;
			return j > i + 2 && j == len;
		}
		/* 0[0-7_]+ */
		for (j = i + 1; j < len && ((s[j] >= '0' && s[j] <= '7') || s[j] == '_'); j++)
			;
		return j == len;
	}
	/* [1-9][0-9_]* optionally followed by (?::[0-5]?[0-9])+ */
	i += 1 + scan_digits_us(s, i + 1, len);
	if (i == len)
		return true;
	i += scan_sexagesimal(s, i, len);
	return i == len;
}

/* scan_1_2_digits matches one or two digits at i; returns their number */
static size_t
scan_1_2_digits(const char *s, size_t i, size_t len)
{
	if (i < len && ISDIGIT(s[i]))
		return (i + 1 < len && ISDIGIT(s[i + 1])) ? 2 : 1;
	return 0;
}

/* digits_value is the value of n decimal digits */
static int
digits_value(const char *s, size_t n)
{
	int			v = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * yaml_scan_timestamp matches the constructor's timestamp pattern, filling
 * *ts; for the resolver it requires the two-digit month and day the
 * resolver demands of a date without a time.  Returns false if it does not
 * match.
 */
bool
yaml_scan_timestamp(const char *s, size_t len, bool resolver, YTimestamp *ts)
{
	size_t		i = 0;
	size_t		n;
	size_t		mlen,
				dlen;

	memset(ts, 0, sizeof(*ts));
	if (len < 8 || !ISDIGIT(s[0]) || !ISDIGIT(s[1]) || !ISDIGIT(s[2]) ||
		!ISDIGIT(s[3]) || s[4] != '-')
		return false;
	ts->year = digits_value(s, 4);
	i = 5;
	mlen = scan_1_2_digits(s, i, len);
	if (mlen == 0)
		return false;
	ts->month = digits_value(s + i, mlen);
	i += mlen;
	if (i >= len || s[i] != '-')
		return false;
	i++;
	dlen = scan_1_2_digits(s, i, len);
	if (dlen == 0)
		return false;
	ts->day = digits_value(s + i, dlen);
	i += dlen;
	if (i == len)
		return !resolver || (mlen == 2 && dlen == 2);

	/* (?:[Tt]|[ \t]+) */
	if (s[i] == 'T' || s[i] == 't')
		i++;
	else if (s[i] == ' ' || s[i] == '\t')
	{
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
	}
	else
		return false;
	ts->has_time = true;
	n = scan_1_2_digits(s, i, len);
	if (n == 0)
		return false;
	ts->hour = digits_value(s + i, n);
	i += n;
	if (i + 3 > len || s[i] != ':' || !ISDIGIT(s[i + 1]) || !ISDIGIT(s[i + 2]))
		return false;
	ts->minute = digits_value(s + i + 1, 2);
	i += 3;
	if (i + 3 > len || s[i] != ':' || !ISDIGIT(s[i + 1]) || !ISDIGIT(s[i + 2]))
		return false;
	ts->second = digits_value(s + i + 1, 2);
	i += 3;
	if (i < len && s[i] == '.')
	{
		size_t		j = i + 1;
		int			k = 0;

		while (j < len && ISDIGIT(s[j]))
		{
			if (k < 6)
			{
				ts->micro = ts->micro * 10 + (s[j] - '0');
				k++;
			}
			j++;
		}
		for (; k < 6; k++)
			ts->micro *= 10;
		i = j;
	}
	if (i == len)
		return true;
	{
		size_t		j = i;

		while (j < len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j < len && s[j] == 'Z')
		{
			ts->has_tz = true;
			ts->tz_utc = true;
			return j + 1 == len;
		}
		if (j < len && (s[j] == '-' || s[j] == '+'))
		{
			ts->has_tz = true;
			ts->tz_sign = s[j] == '-' ? -1 : 1;
			j++;
			n = scan_1_2_digits(s, j, len);
			if (n == 0)
				return false;
			ts->tz_hour = digits_value(s + j, n);
			j += n;
			if (j == len)
				return true;
			if (j + 3 == len && s[j] == ':' && ISDIGIT(s[j + 1]) && ISDIGIT(s[j + 2]))
			{
				ts->tz_minute = digits_value(s + j + 1, 2);
				return true;
			}
			return false;
		}
	}
	return false;
}

/*
 * yaml_resolve_plain gives the tag PyYAML's implicit resolvers give a plain
 * scalar (or a scalar tagged with the non-specific "!").
 */
const char *
yaml_resolve_plain(const char *s, size_t len)
{
	YTimestamp	ts;

	len = yaml_match_len(s, len);
	if (len == 0)
		return TAG_NULL;
	switch (s[0])
	{
		case 'y':
		case 'Y':
		case 'n':
		case 'N':
		case 't':
		case 'T':
		case 'f':
		case 'F':
		case 'o':
		case 'O':
			if (is_bool_text(s, len))
				return TAG_BOOL;
			if ((s[0] == 'n' || s[0] == 'N') && is_null_text(s, len))
				return TAG_NULL;
			break;
		case '~':
			if (len == 1)
				return TAG_NULL;
			break;
		case '<':
			if (len == 2 && s[1] == '<')
				return TAG_MERGE;
			break;
		case '=':
			if (len == 1)
				return TAG_VALUE;
			break;
		case '.':
			if (is_float_text(s, len))
				return TAG_FLOAT;
			break;
		case '-':
		case '+':
			if (is_float_text(s, len))
				return TAG_FLOAT;
			if (is_int_text(s, len))
				return TAG_INT;
			break;
		default:
			if (ISDIGIT(s[0]))
			{
				if (is_float_text(s, len))
					return TAG_FLOAT;
				if (is_int_text(s, len))
					return TAG_INT;
				if (yaml_scan_timestamp(s, len, true, &ts))
					return TAG_TIMESTAMP;
			}
			break;
	}
	return TAG_STR;
}

