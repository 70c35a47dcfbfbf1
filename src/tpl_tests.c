/*-------------------------------------------------------------------------
 *
 * tpl_tests.c
 *	  The tests (x is defined, ...) and the functions (range, now) of the
 *	  template engine.
 *
 * Tests are Jinja2 3.1's of the same names (tests.py), used as "x is odd",
 * "x is divisibleby 3", "x is divisibleby(num=3)" and through select,
 * reject, selectattr and rejectattr, which also reach the ones named by
 * operators ("==", "<", ...).  sameas is Python's "is": true for None,
 * booleans and the ints CPython keeps one object of (-5 to 256) when
 * they are equal, and for anything else only when both sides are the same
 * value of the rendering.  range() is Python's, and refuses to produce more
 * than noetl.template_max_range items, as Jinja2's sandbox refuses; now()
 * is NoETL's: the statement's start time as an ISO 8601 UTC text.  dict()
 * is evaluated in tpl_eval.c.  token(NAME) and secret(NAME) are resolved
 * by the worker: rendering a task's fields they give a marker bound to the
 * task (secret_marker.c), which the worker replaces with the credential's
 * token or secret; anywhere else they fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>
#include <wctype.h>

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "secret_marker.h"
#include "template.h"

/* test numbers, in the order of test_names in tpl_parse.c */
enum
{
	T_DEFINED, T_UNDEFINED, T_NONE, T_NUMBER, T_STRING, T_MAPPING,
	T_SEQUENCE, T_TRUE, T_FALSE,
	T_ODD, T_EVEN, T_DIVISIBLEBY, T_SAMEAS, T_IN, T_EQ, T_EQUALTO, T_EQ_OP,
	T_NE, T_NE_OP, T_GT, T_GREATERTHAN, T_GT_OP, T_GE, T_GE_OP, T_LT,
	T_LESSTHAN, T_LT_OP, T_LE, T_LE_OP, T_INTEGER, T_FLOAT, T_BOOLEAN,
	T_ITERABLE, T_LOWER, T_UPPER, T_CALLABLE, T_FILTER, T_TEST, T_ESCAPED
};

/* function numbers, in the order of function_names in tpl_parse.c */
enum
{
	FN_RANGE, FN_NOW, FN_DICT, FN_TOKEN, FN_SECRET
};

/*
 * mod_is tells value % divisor == want, with Python's % (which formats a
 * string: "%d" is odd is false, as "2" is not 1).
 */
static bool
mod_is(TVal *v, TVal *divisor, int64 want)
{
	if (v->kind == TV_UNDEF)
		tv_fail("%s", v->u.undef.hint ? v->u.undef.hint : "value is undefined");
	if (divisor->kind == TV_UNDEF)
		tv_fail("%s", divisor->u.undef.hint ? divisor->u.undef.hint : "value is undefined");
	return tv_equal(tv_arith(TN_MOD, v, divisor), tv_int(want));
}

/*
 * same_object is Python's "is" for the values a template can compare:
 * see the file's header.
 */
static bool
same_object(TVal *a, TVal *b)
{
	if (a == b)
		return true;
	if (a->kind != b->kind)
		return false;
	switch (a->kind)
	{
		case TV_NONE:
			return true;
		case TV_BOOL:
			return a->u.b == b->u.b;
		case TV_INT:
			return a->u.i == b->u.i && a->u.i >= -5 && a->u.i <= 256;
		case TV_STR:
			/* the same text of the context, read twice */
			return a->u.s.p == b->u.s.p && a->u.s.len == b->u.s.len;
		case TV_LIST:
			return (a->u.list.jc != NULL && a->u.list.jc == b->u.list.jc) ||
				(a->u.list.items != NULL && a->u.list.items == b->u.list.items &&
				 a->u.list.n == b->u.list.n);
		case TV_DICT:
			return (a->u.dict.jc != NULL && a->u.dict.jc == b->u.dict.jc) ||
				(a->u.dict.keys != NULL && a->u.dict.keys == b->u.dict.keys);
		default:
			return false;
	}
}

/* is_titlecase: Unicode's titlecase letters (category Lt), all 31 */
static bool
is_titlecase(pg_wchar w)
{
	return w == 0x1C5 || w == 0x1C8 || w == 0x1CB || w == 0x1F2 ||
		(w >= 0x1F88 && w <= 0x1F8F) || (w >= 0x1F98 && w <= 0x1F9F) ||
		(w >= 0x1FA8 && w <= 0x1FAF) || w == 0x1FBC || w == 0x1FCC || w == 0x1FFC;
}

static locale_t test_locale = (locale_t) 0;
static bool test_locale_tried = false;

/*
 * tpl_case_test is str(value).islower() (upper false) or .isupper(): some
 * cased character, and none of the other case.  Which characters are cased
 * is C.UTF-8's iswlower/iswupper, and the titlecase letters are neither,
 * as in Python.
 */
bool
tpl_case_test(TVal *v, bool upper)
{
	StringInfoData buf;
	bool		some = false;
	int			i = 0;

	tv_buf_init(&buf, 16);
	tv_str_out(&buf, v);
	if (!test_locale_tried)
	{
		test_locale_tried = true;
		test_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
	}
	tpl_charge_bytes(buf.len);
	while (i < buf.len)
	{
		pg_wchar	w = utf8_to_unicode((const unsigned char *) buf.data + i);
		bool		lo;
		bool		up;

		if (w < 0x80 || test_locale == (locale_t) 0)
		{
			lo = w >= 'a' && w <= 'z';
			up = w >= 'A' && w <= 'Z';
		}
		else if (is_titlecase(w))
		{
			/* cased, but neither upper nor lower for Python */
			return false;
		}
		else
		{
			lo = iswlower_l((wint_t) w, test_locale);
			up = iswupper_l((wint_t) w, test_locale);
		}
		if (upper ? lo : up)
			return false;
		if (upper ? up : lo)
			some = true;
		i += pg_utf_mblen((const unsigned char *) buf.data + i);
	}
	return some;
}

/* name_is_known is "name is filter" (filters) or "name is test" */
static bool
name_is_known(TVal *v, bool filters)
{
	char	   *name;

	if (v->kind == TV_LIST || v->kind == TV_DICT)
		tv_fail("unhashable type: '%s'", tv_type_name(v));
	if (v->kind != TV_STR)
		return false;
	name = pnstrdup(v->u.s.p, v->u.s.len);
	if (filters)
	{
		if (tpl_is_jinja2_filter(name))
			tv_fail("the filter '%s' is not supported by noetl templates", name);
		/* NoETL's own filter is in NoETL's environment, not Jinja2's */
		return tpl_filter_id(name) >= 0;
	}
	return tpl_test_id(name) >= 0;
}

/*
 * tpl_apply_test applies test number id to v, with its arguments bound as
 * Python binds them.
 */
bool
tpl_apply_test(int id, const char *name, TVal *v, TVal **args, int nargs,
			   char **kwnames, TVal **kwargs, int nkwargs)
{
	TVal	   *p[1];
	static const char *const num[] = {"num"};
	static const char *const other[] = {"other"};
	static const char *const seq[] = {"seq"};
	const char *const *params = NULL;
	TCmpOp		op = TC_EQ;

	switch (id)
	{
		case T_DIVISIBLEBY:
			params = num;
			break;
		case T_SAMEAS:
			params = other;
			break;
		case T_IN:
			params = seq;
			break;
		case T_EQ:
		case T_EQUALTO:
		case T_EQ_OP:
		case T_NE:
		case T_NE_OP:
		case T_GT:
		case T_GREATERTHAN:
		case T_GT_OP:
		case T_GE:
		case T_GE_OP:
		case T_LT:
		case T_LESSTHAN:
		case T_LT_OP:
		case T_LE:
		case T_LE_OP:
			/* operator.eq and friends take two positional arguments */
			if (nkwargs > 0)
				tv_fail("%s() takes no keyword arguments", name);
			if (nargs != 1)
				tv_fail("expected 2 arguments, got %d", nargs + 1);
			p[0] = args[0];
			break;
		default:
			if (nargs + nkwargs > 0)
				tv_fail("test_%s() takes 1 positional argument but %d were given", name, nargs + nkwargs + 1);
			break;
	}
	if (params != NULL)
	{
		TVal	   *defs[] = {NULL};

		tpl_bind(name, args, nargs, kwnames, kwargs, nkwargs, params, defs, 1, p);
		if (p[0] == NULL)
			tv_fail("test_%s() missing 1 required positional argument: '%s'", name, params[0]);
	}
	switch (id)
	{
		case T_DEFINED:
			return v->kind != TV_UNDEF;
		case T_UNDEFINED:
			return v->kind == TV_UNDEF;
		case T_NONE:
			return v->kind == TV_NONE;
		case T_NUMBER:
			return tv_is_number(v);
		case T_STRING:
			return v->kind == TV_STR;
		case T_MAPPING:
			return v->kind == TV_DICT;
		case T_SEQUENCE:
			return v->kind == TV_STR || v->kind == TV_DICT || v->kind == TV_RANGE ||
				v->kind == TV_UNDEF || (v->kind == TV_LIST && !(v->flags & (TVF_GENERATOR | TVF_VIEW)));
		case T_TRUE:
			return v->kind == TV_BOOL && v->u.b;
		case T_FALSE:
			return v->kind == TV_BOOL && !v->u.b;
		case T_ODD:
			return mod_is(v, tv_int(2), 1);
		case T_EVEN:
			return mod_is(v, tv_int(2), 0);
		case T_DIVISIBLEBY:
			return mod_is(v, p[0], 0);
		case T_SAMEAS:
			return same_object(v, p[0]);
		case T_IN:
			return tpl_compare_op(v, TC_IN, p[0]);
		case T_EQ:
		case T_EQUALTO:
		case T_EQ_OP:
			op = TC_EQ;
			break;
		case T_NE:
		case T_NE_OP:
			op = TC_NE;
			break;
		case T_GT:
		case T_GREATERTHAN:
		case T_GT_OP:
			op = TC_GT;
			break;
		case T_GE:
		case T_GE_OP:
			op = TC_GE;
			break;
		case T_LT:
		case T_LESSTHAN:
		case T_LT_OP:
			op = TC_LT;
			break;
		case T_LE:
		case T_LE_OP:
			op = TC_LE;
			break;
		case T_INTEGER:
			return v->kind == TV_INT || v->kind == TV_BIG;
		case T_FLOAT:
			return v->kind == TV_FLOAT;
		case T_BOOLEAN:
			return v->kind == TV_BOOL;
		case T_ITERABLE:
			return v->kind == TV_STR || v->kind == TV_LIST || v->kind == TV_DICT ||
				v->kind == TV_RANGE || v->kind == TV_UNDEF || v->kind == TV_LOOP;
		case T_LOWER:
		case T_UPPER:
			return tpl_case_test(v, id == T_UPPER);
		case T_CALLABLE:
			/* Undefined and the loop object have __call__; data has none */
			return v->kind == TV_UNDEF || v->kind == TV_LOOP;
		case T_FILTER:
		case T_TEST:
			return name_is_known(v, id == T_FILTER);
		case T_ESCAPED:
			return v->kind == TV_STR && (v->flags & TVF_MARKUP);
		default:
			tv_fail("No test named '%s' found.", name);
	}
	return tpl_compare_op(v, op, p[0]);
}

/*
 * now_text is the current statement time as datetime.isoformat() writes
 * an aware UTC datetime.
 */
static TVal *
now_text(void)
{
	TimestampTz ts = GetCurrentStatementStartTimestamp();
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *s;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		tv_fail("timestamp out of range");
	if (fsec != 0)
		s = psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year, tm.tm_mon,
					 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	else
		s = psprintf("%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year, tm.tm_mon,
					 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return tv_cstr(s);
}

/*
 * range_count is the number of items of range(start, stop, step), step not
 * zero, computed without overflow.
 */
static int64
range_count(int64 start, int64 stop, int64 step)
{
	uint64		span;

	if (step > 0 && start < stop)
	{
		span = (uint64) stop - (uint64) start - 1;
		return (int64) Min(span / (uint64) step + 1, (uint64) PG_INT64_MAX);
	}
	if (step < 0 && start > stop)
	{
		span = (uint64) start - (uint64) stop - 1;
		return (int64) Min(span / ((uint64) 0 - (uint64) step) + 1, (uint64) PG_INT64_MAX);
	}
	return 0;
}

/*
 * secret_call is token(NAME) or secret(NAME) (kind): the marker of the
 * credential NAME for the task being rendered.
 */
static TVal *
secret_call(const char *kind, TVal **args, int nargs)
{
	if (secret_scope.node_id == NULL)
		tv_fail("%s() is resolved by the worker, only in a task's fields", kind);
	if (nargs != 1)
		tv_fail("%s() takes one argument, a credential name, got %d%s", kind, nargs,
				nargs > 1 && strcmp(kind, "token") == 0 ?
				" (noetl has no token providers: NoETL's audience argument is not supported)" : "");
	if (args[0]->kind == TV_UNDEF)
		tv_fail("%s() takes a credential name: %s", kind,
				args[0]->u.undef.hint ? args[0]->u.undef.hint : "value is undefined");
	if (args[0]->kind != TV_STR)
		tv_fail("%s() takes a credential name, a string, not %s", kind, tv_type_name(args[0]));
	if (!secret_name_ok(args[0]->u.s.p, args[0]->u.s.len))
		tv_fail("%s() takes a credential name: 1 to %d characters without control characters",
				kind, SECRET_NAME_MAX);
	if (!secret_key_set())
		tv_fail("%s() needs noetl.credential_key, which is not set", kind);
	return tv_cstr(secret_marker(secret_scope.execution_id, secret_scope.node_id, kind,
								 args[0]->u.s.p, args[0]->u.s.len));
}

/*
 * tpl_call_function calls range(), now(), token() or secret().
 */
TVal *
tpl_call_function(int id, const char *name, TVal **args, int nargs)
{
	int			i;

	switch (id)
	{
		case FN_RANGE:
			{
				int64		v[3];
				TVal	   *r;

				if (nargs < 1 || nargs > 3)
					tv_fail("range expected %s 3 arguments, got %d",
							nargs < 1 ? "at least 1 argument, and at most" : "at most", nargs);
				for (i = 0; i < nargs; i++)
				{
					if (args[i]->kind == TV_BIG)
						tv_fail("range() arguments beyond 64 bits are not supported");
					v[i] = tv_to_index(args[i], "");
				}
				r = palloc0(sizeof(TVal));
				r->kind = TV_RANGE;
				if (nargs == 1)
				{
					r->u.range.start = 0;
					r->u.range.stop = v[0];
					r->u.range.step = 1;
				}
				else
				{
					r->u.range.start = v[0];
					r->u.range.stop = v[1];
					r->u.range.step = nargs == 3 ? v[2] : 1;
				}
				if (r->u.range.step == 0)
					tv_fail("range() arg 3 must not be zero");
				tpl_check_range(range_count(r->u.range.start, r->u.range.stop,
											r->u.range.step));
				return r;
			}
		case FN_NOW:
			if (nargs != 0)
				tv_fail("now() takes no arguments");
			return now_text();
		case FN_TOKEN:
			return secret_call("token", args, nargs);
		case FN_SECRET:
			return secret_call("secret", args, nargs);
		default:
			tv_fail("'%s' is undefined", name);
	}
	return NULL;
}
