/*-------------------------------------------------------------------------
 *
 * pynum.h
 *	  Python's whitespace, and numbers read and written as Python reads and
 *	  writes them.
 *
 * NoETL reads playbooks with PyYAML and renders them with Jinja2, so a
 * number means here what Python's int() and float() make of its text, and
 * prints as Python's str() and repr() print it.  The YAML reader, the
 * template lexer and the template filters all go through these functions.
 * Text is UTF-8.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PYNUM_H
#define NOETL_PYNUM_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

/*
 * Python 3.11's default int_max_str_digits: int(text) refuses more digits
 * in a base that is not a power of two, and str() refuses to print an int
 * of more decimal digits.
 */
#define PY_INT_MAX_DIGITS	4300

/*
 * Whitespace, as str.isspace(), str.strip() and the \s of Python's re see
 * it.  py_space_len returns the length in bytes of the whitespace character
 * at p (len bytes are readable), or 0; py_rstrip_len returns len without
 * the trailing whitespace; py_strip narrows (*p, *len) to str.strip().
 */
extern bool py_isspace(pg_wchar c);
extern int	py_space_len(const char *p, int len);
extern int	py_rstrip_len(const char *p, int len);
extern void py_strip(const char **p, int *len);

/*
 * int(text, base): py_int_parse reads text (len bytes) as Python's int()
 * does, with base 0 or 2 to 36: surrounding whitespace (not U+001C to
 * U+001F, which int() does not skip), a sign, a prefix 0x/0o/0b matching
 * the base (any of them in base 0), "_" between digits.  The digits found
 * go to *out, palloc'd.  The 4300-digit rule is Python 3.11's.
 */
typedef enum PyIntStatus
{
	PYINT_OK,
	PYINT_INVALID,				/* int() raises ValueError */
	PYINT_TOO_LONG				/* more than PY_INT_MAX_DIGITS digits in a base
								 * that is not a power of two (ValueError) */
} PyIntStatus;

typedef struct PyIntText
{
	bool		neg;
	int			base;			/* 2 to 36 */
	char	   *digits;			/* without sign, prefix and "_"; NUL-ended */
	int			ndigits;
} PyIntText;

extern PyIntStatus py_int_parse(const char *s, int len, int base, PyIntText *out);

/*
 * The value of what py_int_parse read: py_int_to_int64 gives it when it
 * fits an int64; py_int_digit_bounds bounds its decimal digits before it
 * is computed (more than *lo, at most *hi); py_int_to_decimal appends its
 * decimal text, in time quadratic in the digits (it lets interrupts
 * through).
 */
extern bool py_int_to_int64(const PyIntText *t, int64 *out);
extern void py_int_digit_bounds(const PyIntText *t, double *lo, double *hi);
extern void py_int_to_decimal(const PyIntText *t, StringInfo out);

/*
 * float(text): py_float_parse reads text as Python's float() does
 * (whitespace as for int(), a sign, "inf", "infinity" and "nan" in any
 * case, "_" between digits); false where float() raises ValueError.
 */
extern bool py_float_parse(const char *s, int len, double *out);

/*
 * Floats as text: py_float_repr appends repr(d); py_float_decimal appends
 * a finite d in positional notation with at least one fractional digit,
 * which jsonb keeps apart from an integer.
 */
extern void py_float_repr(StringInfo out, double d);
extern void py_float_decimal(StringInfo out, double d);

#endif							/* NOETL_PYNUM_H */
