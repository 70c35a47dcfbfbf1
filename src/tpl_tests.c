/*-------------------------------------------------------------------------
 *
 * tpl_tests.c
 *	  The tests (x is defined, ...) and the functions (range, now) of the
 *	  template engine.
 *
 * Tests are Jinja2 3.1's of the same names.  range() is Python's, and
 * refuses to produce more than noetl.template_max_range items, as Jinja2's
 * sandbox refuses; now() is NoETL's: the statement's start time as an ISO
 * 8601 UTC text.  dict() is evaluated in tpl_eval.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "template.h"

/* test numbers, in the order of test_names in tpl_parse.c */
enum
{
	T_DEFINED, T_UNDEFINED, T_NONE, T_NUMBER, T_STRING, T_MAPPING,
	T_SEQUENCE, T_TRUE, T_FALSE
};

/* function numbers, in the order of function_names in tpl_parse.c */
enum
{
	FN_RANGE, FN_NOW
};

/*
 * tpl_apply_test applies test number id to v.
 */
bool
tpl_apply_test(int id, const char *name, TVal *v, TVal **args, int nargs)
{
	if (nargs > 0)
		tv_fail("test_%s() takes 1 positional argument but %d were given", name, nargs + 1);
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
				v->kind == TV_UNDEF || (v->kind == TV_LIST && !(v->flags & TVF_GENERATOR));
		case T_TRUE:
			return v->kind == TV_BOOL && v->u.b;
		case T_FALSE:
			return v->kind == TV_BOOL && !v->u.b;
		default:
			tv_fail("No test named '%s' found.", name);
	}
	return false;
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
 * tpl_call_function calls range() or now().
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
		default:
			tv_fail("'%s' is undefined", name);
	}
	return NULL;
}
