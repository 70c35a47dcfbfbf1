/*-------------------------------------------------------------------------
 *
 * tpl_ops.c
 *	  Python's operators on template values: ==, ordering, arithmetic.
 *
 * Numbers compare exactly across int, big int and float (as Python's do);
 * strings compare by code point, which for UTF-8 is byte order; lists
 * lexicographically.  Arithmetic is Python's: ints grow beyond 64 bits
 * into numeric, / is true division, // and % floor, ** of ints stays an
 * int (refused beyond MAX_INT_DIGITS digits, which str() could not print
 * anyway); str and list concatenate and repeat.  Work on big ints and long
 * sequences is charged to the budget in proportion to their size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <math.h>

#include "common/int.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "template.h"

/* largest integer result, in decimal digits, that ** may produce */
#define MAX_INT_DIGITS PY_INT_MAX_DIGITS

/* is_int says whether v is an int (a bool is one, as in Python) */
static bool
is_int(TVal *v)
{
	return v->kind == TV_BOOL || v->kind == TV_INT || v->kind == TV_BIG;
}

/* int_of is the int64 value of a bool or an int within 64 bits */
static int64
int_of(TVal *v)
{
	return v->kind == TV_BOOL ? (v->u.b ? 1 : 0) : v->u.i;
}

/*
 * cmp_int_double compares an int64 with a double exactly; returns 2 when
 * the double is NaN.
 */
static int
cmp_int_double(int64 i, double d)
{
	double		t;

	if (isnan(d))
		return 2;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = trunc(d);
	if ((int64) t != i)
		return i < (int64) t ? -1 : 1;
	if (d > t)
		return -1;
	if (d < t)
		return 1;
	return 0;
}

/*
 * num_cmp compares two numbers exactly; 2 means unordered (NaN).
 */
static int
num_cmp(TVal *a, TVal *b)
{
	if (a->kind == TV_FLOAT && b->kind == TV_FLOAT)
	{
		if (isnan(a->u.f) || isnan(b->u.f))
			return 2;
		return a->u.f < b->u.f ? -1 : (a->u.f > b->u.f ? 1 : 0);
	}
	if (a->kind == TV_FLOAT || b->kind == TV_FLOAT)
	{
		TVal	   *iv = a->kind == TV_FLOAT ? b : a;
		double		d = a->kind == TV_FLOAT ? a->u.f : b->u.f;
		int			c;

		if (iv->kind == TV_BIG)
		{
			double		id = tv_to_double(iv);

			if (isnan(d))
				return 2;
			c = id < d ? -1 : (id > d ? 1 : 0);
		}
		else
			c = cmp_int_double(int_of(iv), d);
		if (c == 2)
			return 2;
		return a->kind == TV_FLOAT ? -c : c;
	}
	if (a->kind == TV_BIG || b->kind == TV_BIG)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, tv_num_datum(a), tv_num_datum(b)));
	{
		int64		x = int_of(a);
		int64		y = int_of(b);

		return x < y ? -1 : (x > y ? 1 : 0);
	}
}

/* str_cmp orders two strings by code point, which is byte order in UTF-8 */
static int
str_cmp(TVal *a, TVal *b)
{
	int			c;

	tpl_charge_bytes(Min(a->u.s.len, b->u.s.len));
	c = memcmp(a->u.s.p, b->u.s.p, Min(a->u.s.len, b->u.s.len));

	if (c != 0)
		return c < 0 ? -1 : 1;
	return a->u.s.len < b->u.s.len ? -1 : (a->u.s.len > b->u.s.len ? 1 : 0);
}

/*
 * tv_equal is Python's ==.
 */
bool
tv_equal(TVal *a, TVal *b)
{
	int			i;

	if (a == b && a->kind != TV_FLOAT)
		return true;
	if (a->kind == TV_UNDEF || b->kind == TV_UNDEF)
		return a->kind == b->kind;
	if (tv_is_number(a) && tv_is_number(b))
		return num_cmp(a, b) == 0;
	if (a->kind != b->kind)
		return false;
	switch (a->kind)
	{
		case TV_NONE:
			return true;
		case TV_STR:
			if (a->u.s.len != b->u.s.len)
				return false;
			tpl_charge_bytes(a->u.s.len);
			return memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
		case TV_LIST:
			if ((a->flags | b->flags) & TVF_GENERATOR)
				return false;
			if ((a->flags & (TVF_TUPLE | TVF_VIEW)) != (b->flags & (TVF_TUPLE | TVF_VIEW)))
				return false;
			if (a->u.list.n != b->u.list.n)
				return false;
			if (a->flags & TVF_VALUES)
				return false;	/* dict_values compare by identity */
			if (a->flags & (TVF_KEYS | TVF_ITEMS))
			{
				/* keys and items views compare as sets */
				check_stack_depth();
				for (i = 0; i < a->u.list.n; i++)
				{
					TVal	   *x = tv_list_get(a, i);
					int			j;

					for (j = 0; j < b->u.list.n; j++)
					{
						tpl_charge(1);
						if (tv_equal(x, tv_list_get(b, j)))
							break;
					}
					if (j == b->u.list.n)
						return false;
				}
				return true;
			}
			check_stack_depth();
			for (i = 0; i < a->u.list.n; i++)
			{
				tpl_charge(1);
				if (!tv_equal(tv_list_get(a, i), tv_list_get(b, i)))
					return false;
			}
			return true;
		case TV_DICT:
			if (a->u.dict.n != b->u.dict.n)
				return false;
			check_stack_depth();
			tv_materialize(a);
			for (i = 0; i < a->u.dict.n; i++)
			{
				bool		found;
				TVal	   *bv = tv_dict_lookup(b, a->u.dict.keys[i], &found);

				if (!found || !tv_equal(a->u.dict.vals[i], bv))
					return false;
			}
			return true;
		case TV_RANGE:
			{
				int			na = tv_len(a);
				int			nb = tv_len(b);

				if (na != nb)
					return false;
				if (na == 0)
					return true;
				if (a->u.range.start != b->u.range.start)
					return false;
				return na == 1 || a->u.range.step == b->u.range.step;
			}
		default:
			return false;
	}
}

/*
 * tv_compare orders a and b for the operator op ("<", "<=", ">", ">="),
 * as Python does: numbers, strings and lists (lexicographically) are
 * ordered, other combinations raise TypeError.  Returns -1, 0, 1, or 2
 * when unordered (NaN, for which every ordering is false).
 */
int
tv_compare(TVal *a, TVal *b, const char *op)
{
	if (tv_is_number(a) && tv_is_number(b))
		return num_cmp(a, b);
	if (a->kind == TV_STR && b->kind == TV_STR)
		return str_cmp(a, b);
	if (a->kind == TV_LIST && b->kind == TV_LIST &&
		((a->flags | b->flags) & (TVF_KEYS | TVF_ITEMS)))
		tv_fail("ordering dict views (set inclusion) is not supported by noetl templates");
	if (a->kind == TV_LIST && b->kind == TV_LIST &&
		!((a->flags | b->flags) & (TVF_GENERATOR | TVF_VALUES)) &&
		(a->flags & TVF_TUPLE) == (b->flags & TVF_TUPLE))
	{
		int			na = a->u.list.n;
		int			nb = b->u.list.n;
		int			i;

		check_stack_depth();
		for (i = 0; i < na && i < nb; i++)
		{
			TVal	   *x = tv_list_get(a, i);
			TVal	   *y = tv_list_get(b, i);

			tpl_charge(1);
			if (!tv_equal(x, y))
				return tv_compare(x, y, op);
		}
		return na < nb ? -1 : (na > nb ? 1 : 0);
	}
	tv_fail("'%s' not supported between instances of '%s' and '%s'",
			op, tv_type_name(a), tv_type_name(b));
	return 0;
}

/* ------------------------------------------------------------ arithmetic */

/* int_result is the value of an integral numeric result */
static TVal *
int_result(Datum n)
{
	Numeric		num = DatumGetNumeric(n);

	return tv_big(num);
}

/* num_floor_div is Python's // of two ints given as numerics */
static Datum
num_floor_div(Datum x, Datum y)
{
	/* floor(x / y) for integers: trunc, then correct toward -inf */
	Datum		q;
	Datum		r;
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	int			rs;
	int			ys;

	tv_charge_numeric(x, y, true);
	q = DirectFunctionCall2(numeric_div_trunc, x, y);
	r = DirectFunctionCall2(numeric_mod, x, y);
	rs = DatumGetInt32(DirectFunctionCall2(numeric_cmp, r, zero));
	ys = DatumGetInt32(DirectFunctionCall2(numeric_cmp, y, zero));

	if (rs != 0 && (rs < 0) != (ys < 0))
		q = DirectFunctionCall2(numeric_sub, q,
								DirectFunctionCall1(int8_numeric, Int64GetDatum(1)));
	return q;
}

/* num_py_mod is Python's % of two ints given as numerics */
static Datum
num_py_mod(Datum x, Datum y)
{
	Datum		r;
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	int			rs;
	int			ys;

	tv_charge_numeric(x, y, true);
	r = DirectFunctionCall2(numeric_mod, x, y);
	rs = DatumGetInt32(DirectFunctionCall2(numeric_cmp, r, zero));
	ys = DatumGetInt32(DirectFunctionCall2(numeric_cmp, y, zero));

	if (rs != 0 && (rs < 0) != (ys < 0))
		r = DirectFunctionCall2(numeric_add, r, y);
	return r;
}

/*
 * float_divmod is CPython's float floor division and modulo.
 */
static void
float_divmod(double vx, double wx, double *floordiv, double *modv)
{
	double		div;
	double		mod;

	mod = fmod(vx, wx);
	div = (vx - mod) / wx;
	if (mod)
	{
		if ((wx < 0) != (mod < 0))
		{
			mod += wx;
			div -= 1.0;
		}
	}
	else
		mod = copysign(0.0, wx);
	if (div)
	{
		*floordiv = floor(div);
		if (div - *floordiv > 0.5)
			*floordiv += 1.0;
	}
	else
		*floordiv = copysign(0.0, vx / wx);
	*modv = mod;
}

/* seq_repeat is str * int and list * int */
static TVal *
seq_repeat(TVal *seq, TVal *count)
{
	int64		n;
	int			i;

	if (count->kind == TV_BIG)
		tv_fail("cannot fit 'int' into an index-sized integer");
	n = int_of(count);
	if (n <= 0)
	{
		TVal	   *empty = seq->kind == TV_STR ? tv_str("", 0) : tv_list(NULL, 0);

		empty->flags = seq->flags & (TVF_MARKUP | TVF_TUPLE);
		return empty;
	}
	if (seq->kind == TV_STR)
	{
		StringInfoData buf;
		TVal	   *r;

		if ((int64) seq->u.s.len * n > MaxAllocSize / 2)
			tv_fail("repeated string is too long");
		tpl_charge_alloc((Size) seq->u.s.len * n + n);
		tv_buf_init(&buf, 0);
		enlargeStringInfo(&buf, (int) (seq->u.s.len * n));
		for (i = 0; i < n; i++)
			appendBinaryStringInfo(&buf, seq->u.s.p, seq->u.s.len);
		r = tv_str(buf.data, buf.len);
		r->flags = seq->flags & TVF_MARKUP;
		return r;
	}
	else
	{
		int			len;
		TVal	  **items;
		int			k = 0;

		tv_materialize(seq);
		len = seq->u.list.n;
		if ((int64) len * n > 10000000)
			tv_fail("repeated list is too long");
		tpl_reserve((Size) len * n * sizeof(TVal *));
		tpl_charge((int64) len * n);
		items = palloc(sizeof(TVal *) * Max(len * n, 1));
		for (i = 0; i < n; i++)
		{
			int			j;

			for (j = 0; j < len; j++)
				items[k++] = seq->u.list.items[j];
		}
		if (seq->flags & TVF_TUPLE)
			return tv_tuple(items, k);
		return tv_list(items, k);
	}
}

/* markup_escape appends s escaped as markupsafe.escape does */
static void
markup_escape(StringInfo out, const char *p, int len)
{
	int			i;

	tpl_charge_alloc((Size) len);
	for (i = 0; i < len; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		switch (p[i])
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&#34;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			default:
				appendStringInfoChar(out, p[i]);
		}
	}
}

/* op_symbol spells an operator as Python's TypeError messages do */
static const char *
op_symbol(TNodeKind op)
{
	switch (op)
	{
		case TN_ADD:
			return "+";
		case TN_SUB:
			return "-";
		case TN_MUL:
			return "*";
		case TN_DIV:
			return "/";
		case TN_FLOORDIV:
			return "//";
		case TN_MOD:
			return "%";
		case TN_POW:
			return "** or pow()";
		default:
			return "?";
	}
}

/* unsupported_operands raises Python's TypeError for op on a and b */
static void
unsupported_operands(TNodeKind op, TVal *a, TVal *b) pg_attribute_noreturn();

static void
unsupported_operands(TNodeKind op, TVal *a, TVal *b)
{
	tv_fail("unsupported operand type(s) for %s: '%s' and '%s'",
			op_symbol(op), tv_type_name(a), tv_type_name(b));
}

/*
 * int_pow computes base ** exp for integers, exp >= 0.
 */
static TVal *
int_pow(TVal *base, TVal *exp)
{
	int64		e;
	Datum		result;
	Datum		b;

	if (exp->kind == TV_BIG)
	{
		/* only 0, 1 and -1 can be raised that far */
		if (is_int(base) && base->kind != TV_BIG)
		{
			int64		x = int_of(base);

			if (x == 0 || x == 1)
				return tv_int(x);
			if (x == -1)
			{
				bool		odd = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
																	num_py_mod(tv_num_datum(exp),
																			   DirectFunctionCall1(int8_numeric, Int64GetDatum(2))),
																	DirectFunctionCall1(int8_numeric, Int64GetDatum(0)))) != 0;

				return tv_int(odd ? -1 : 1);
			}
		}
		tv_fail("integer result of ** is too large");
	}
	e = int_of(exp);
	if (base->kind != TV_BIG)
	{
		int64		x = int_of(base);
		int64		r = 1;
		int64		p = x;
		int64		k = e;
		bool		overflow = false;

		while (k > 0 && !overflow)
		{
			if (k & 1)
				overflow = pg_mul_s64_overflow(r, p, &r);
			k >>= 1;
			if (k > 0 && !overflow)
				overflow = pg_mul_s64_overflow(p, p, &p);
		}
		if (!overflow)
			return tv_int(r);
		if (x == 0 || x == 1)
			return tv_int(x);
	}
	/* estimate the size before computing it */
	{
		double		digits = e * log10(fabs(tv_to_double(base)));

		if (digits > MAX_INT_DIGITS)
			tv_fail("integer result of ** is too large (about %.0f digits)", digits);
	}
	b = tv_num_datum(base);
	result = DirectFunctionCall1(int8_numeric, Int64GetDatum(1));
	while (e > 0)
	{
		if (e & 1)
		{
			tv_charge_numeric(result, b, true);
			result = DirectFunctionCall2(numeric_mul, result, b);
		}
		e >>= 1;
		if (e > 0)
		{
			tv_charge_numeric(b, b, true);
			b = DirectFunctionCall2(numeric_mul, b, b);
		}
	}
	return int_result(result);
}

/*
 * float_pow is Python's float ** float.
 */
static TVal *
float_pow(double x, double y)
{
	double		r;

	if (x == 0.0 && y < 0)
		tv_fail("0.0 cannot be raised to a negative power");
	if (x < 0 && y != floor(y) && isfinite(y))
		tv_fail("a negative number raised to a fractional power is a complex number, which noetl templates do not support");
	errno = 0;
	r = pow(x, y);
	if (isinf(r) && isfinite(x) && isfinite(y))
		tv_fail("(34, 'Numerical result out of range')");
	return tv_float(r);
}

/*
 * tv_arith applies a binary arithmetic operator with Python's rules.
 */
TVal *
tv_arith(TNodeKind op, TVal *a, TVal *b)
{
	bool		ia = is_int(a);
	bool		ib = is_int(b);

	CHECK_FOR_INTERRUPTS();
	if (op == TN_ADD && a->kind == TV_STR && b->kind == TV_STR)
	{
		StringInfoData buf;
		TVal	   *r;
		bool		markup = (a->flags | b->flags) & TVF_MARKUP;

		tpl_charge_alloc((Size) a->u.s.len + b->u.s.len);
		tv_buf_init(&buf, a->u.s.len + b->u.s.len);
		/* Markup + str escapes the plain operand */
		if (markup && !(a->flags & TVF_MARKUP))
			markup_escape(&buf, a->u.s.p, a->u.s.len);
		else
			appendBinaryStringInfo(&buf, a->u.s.p, a->u.s.len);
		if (markup && !(b->flags & TVF_MARKUP))
			markup_escape(&buf, b->u.s.p, b->u.s.len);
		else
			appendBinaryStringInfo(&buf, b->u.s.p, b->u.s.len);
		r = tv_str(buf.data, buf.len);
		if (markup)
			r->flags |= TVF_MARKUP;
		return r;
	}
	if (op == TN_SUB && ((a->kind == TV_LIST && (a->flags & (TVF_KEYS | TVF_ITEMS))) ||
						 (b->kind == TV_LIST && (b->flags & (TVF_KEYS | TVF_ITEMS)))))
		tv_fail("a set operation on dict views is not supported by noetl templates");
	if (op == TN_ADD && a->kind == TV_LIST && b->kind == TV_LIST &&
		!((a->flags | b->flags) & (TVF_GENERATOR | TVF_VIEW)) &&
		(a->flags & TVF_TUPLE) == (b->flags & TVF_TUPLE))
	{
		TVal	  **items;
		int			i;

		tv_materialize(a);
		tv_materialize(b);
		if ((int64) a->u.list.n + b->u.list.n > MaxAllocSize / sizeof(TVal *))
			tv_fail("concatenated list is too long");
		tpl_reserve(((Size) a->u.list.n + b->u.list.n) * sizeof(TVal *));
		tpl_charge((int64) a->u.list.n + b->u.list.n);
		items = palloc(sizeof(TVal *) * Max(a->u.list.n + b->u.list.n, 1));
		for (i = 0; i < a->u.list.n; i++)
			items[i] = a->u.list.items[i];
		for (i = 0; i < b->u.list.n; i++)
			items[a->u.list.n + i] = b->u.list.items[i];
		if (a->flags & TVF_TUPLE)
			return tv_tuple(items, a->u.list.n + b->u.list.n);
		return tv_list(items, a->u.list.n + b->u.list.n);
	}
	if (op == TN_MUL && ((a->kind == TV_STR || (a->kind == TV_LIST && !(a->flags & (TVF_GENERATOR | TVF_VIEW)))) && ib))
		return seq_repeat(a, b);
	if (op == TN_MUL && ((b->kind == TV_STR || (b->kind == TV_LIST && !(b->flags & (TVF_GENERATOR | TVF_VIEW)))) && ia))
		return seq_repeat(b, a);
	if (op == TN_MOD && a->kind == TV_STR)
		return tpl_str_format(a, b);
	if (!tv_is_number(a) || !tv_is_number(b))
	{
		if (op == TN_ADD && a->kind == TV_STR)
			tv_fail("can only concatenate str (not \"%s\") to str", tv_type_name(b));
		if (op == TN_ADD && a->kind == TV_LIST && !(a->flags & (TVF_GENERATOR | TVF_VIEW)))
			tv_fail("can only concatenate %s (not \"%s\") to %s", tv_type_name(a),
					tv_type_name(b), tv_type_name(a));
		if (op == TN_MUL && ((a->kind == TV_LIST && (a->flags & (TVF_GENERATOR | TVF_VIEW))) ||
							 (b->kind == TV_LIST && (b->flags & (TVF_GENERATOR | TVF_VIEW)))))
			unsupported_operands(op, a, b);
		if (op == TN_MUL && (a->kind == TV_STR || a->kind == TV_LIST || b->kind == TV_STR || b->kind == TV_LIST))
			tv_fail("can't multiply sequence by non-int of type '%s'",
					tv_type_name(a->kind == TV_STR || a->kind == TV_LIST ? b : a));
		unsupported_operands(op, a, b);
	}

	if (ia && ib)
	{
		bool		big = a->kind == TV_BIG || b->kind == TV_BIG;
		int64		x = big ? 0 : int_of(a);
		int64		y = big ? 0 : int_of(b);
		int64		r;

		if (big)
			tv_charge_numeric(tv_num_datum(a), tv_num_datum(b),
						   op == TN_MUL || op == TN_DIV || op == TN_FLOORDIV || op == TN_MOD);

		switch (op)
		{
			case TN_ADD:
				if (!big && !pg_add_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_add, tv_num_datum(a), tv_num_datum(b)));
			case TN_SUB:
				if (!big && !pg_sub_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_sub, tv_num_datum(a), tv_num_datum(b)));
			case TN_MUL:
				if (!big && !pg_mul_s64_overflow(x, y, &r))
					return tv_int(r);
				return int_result(DirectFunctionCall2(numeric_mul, tv_num_datum(a), tv_num_datum(b)));
			case TN_DIV:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("division by zero");
				if (!big && x > -(INT64CONST(1) << 53) && x < (INT64CONST(1) << 53) &&
					y > -(INT64CONST(1) << 53) && y < (INT64CONST(1) << 53))
					return tv_float((double) x / (double) y);
				{
					/* correctly rounded: divide in numeric with ample digits */
					/* give the numerator 30 decimals so the quotient keeps enough digits */
					Datum		q = DirectFunctionCall2(numeric_div,
														DirectFunctionCall2(numeric_round, tv_num_datum(a),
																			Int32GetDatum(30)),
														tv_num_datum(b));
					double		r = DatumGetFloat8(DirectFunctionCall1(numeric_float8, q));

					/* 0 / -n is -0.0 in Python */
					if (r == 0.0 && (num_cmp(b, tv_int(0)) < 0))
						r = -0.0;
					return tv_float(r);
				}
			case TN_FLOORDIV:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("integer division or modulo by zero");
				if (!big && !(x == PG_INT64_MIN && y == -1))
				{
					int64		q = x / y;

					if ((x % y != 0) && ((x < 0) != (y < 0)))
						q--;
					return tv_int(q);
				}
				return int_result(num_floor_div(tv_num_datum(a), tv_num_datum(b)));
			case TN_MOD:
				if ((big ? num_cmp(b, tv_int(0)) == 0 : y == 0))
					tv_fail("integer division or modulo by zero");
				if (!big && y != -1)
				{
					int64		m = x % y;

					if (m != 0 && ((m < 0) != (y < 0)))
						m += y;
					return tv_int(m);
				}
				if (!big)
					return tv_int(0);
				return int_result(num_py_mod(tv_num_datum(a), tv_num_datum(b)));
			case TN_POW:
				if (num_cmp(b, tv_int(0)) >= 0)
					return int_pow(a, b);
				return float_pow(tv_to_double(a), tv_to_double(b));
			default:
				break;
		}
	}
	else
	{
		double		x = tv_to_double(a);
		double		y = tv_to_double(b);
		double		fd;
		double		fm;

		switch (op)
		{
			case TN_ADD:
				return tv_float(x + y);
			case TN_SUB:
				return tv_float(x - y);
			case TN_MUL:
				return tv_float(x * y);
			case TN_DIV:
				if (y == 0.0)
					tv_fail("float division by zero");
				return tv_float(x / y);
			case TN_FLOORDIV:
				if (y == 0.0)
					tv_fail("float floor division by zero");
				float_divmod(x, y, &fd, &fm);
				return tv_float(fd);
			case TN_MOD:
				if (y == 0.0)
					tv_fail("float modulo");
				float_divmod(x, y, &fd, &fm);
				return tv_float(fm);
			case TN_POW:
				return float_pow(x, y);
			default:
				break;
		}
	}
	unsupported_operands(op, a, b);
	return NULL;
}

/*
 * tv_negate is unary minus (negate) or plus.
 */
TVal *
tv_negate(TVal *v, bool negate)
{
	if (v->kind == TV_FLOAT)
		return tv_float(negate ? -v->u.f : v->u.f);
	if (v->kind == TV_BOOL || v->kind == TV_INT)
	{
		int64		x = int_of(v);

		if (!negate)
			return tv_int(x);
		if (x == PG_INT64_MIN)
			return int_result(DirectFunctionCall1(numeric_uminus, tv_num_datum(v)));
		return tv_int(-x);
	}
	if (v->kind == TV_BIG)
		return negate ? int_result(DirectFunctionCall1(numeric_uminus, tv_num_datum(v))) : v;
	tv_fail("bad operand type for unary %c: '%s'", negate ? '-' : '+', tv_type_name(v));
	return NULL;
}

