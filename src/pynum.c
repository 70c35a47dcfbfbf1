/*-------------------------------------------------------------------------
 *
 * pynum.c
 *	  Numbers formatted the way Python formats them.
 *
 * NoETL's playbooks are read by PyYAML and rendered by Jinja2, so the text a
 * number becomes must be the text Python would produce: repr() of a float is
 * the shortest string that reads back as the same double, written in fixed
 * notation when the decimal exponent is in (-4, 16] and in exponent notation
 * otherwise.  PostgreSQL already has the shortest-digits algorithm (Ryu);
 * this file only lays its digits out as Python does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"

#include "pynum.h"

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
