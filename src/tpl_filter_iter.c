/*-------------------------------------------------------------------------
 *
 * tpl_filter_iter.c
 *	  The template filters that apply other filters and tests to each item:
 *	  map, select, reject, selectattr and rejectattr.
 *
 * As Jinja2 3.1 has them (filters.py: sync_do_map, prepare_map,
 * select_or_reject, prepare_select_or_reject):
 *
 *	map('f', args...)			f applied to each item, with the arguments
 *	map(attribute='a.b', default=x)	the attribute of each item
 *	select('t', args...)		the items for which the test t is true
 *	select()					the items that are true
 *	selectattr('a', 't', args...)	the items whose attribute passes t
 *	reject, rejectattr			the others
 *
 * A false value (Undefined, an empty list, 0, '') gives an empty result
 * without looking at the arguments, as Jinja2's "if value:" does.  The
 * results are generators (TVF_GENERATOR): Jinja2's are lazy, so noetl
 * refuses to print one without "| list", and everything that consumes them
 * (list, join, first, sum, for, ...) works.  noetl computes them at once,
 * so an error in the filter or test applied shows even when Jinja2 would
 * never have consumed the generator.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "template.h"

/* name_of returns the NUL-terminated name a filter or test is called by */
static char *
name_of(TVal *name, const char *what)
{
	if (name->kind != TV_STR)
	{
		StringInfoData buf;

		tv_buf_init(&buf, 16);
		tv_repr(&buf, name);
		tv_fail("No %s named %s.", what, buf.data);
	}
	return pnstrdup(name->u.s.p, name->u.s.len);
}

/*
 * tpl_filter_map is Jinja2's map filter.
 */
TVal *
tpl_filter_map(TVal *v, TVal **args, int nargs, char **kwnames, TVal **kwargs,
			   int nkwargs)
{
	int			n;
	TVal	   *items;
	TVal	  **out;
	int			i;

	if (!tv_truthy(v))
		return tv_generator(NULL, 0);
	items = tv_iter_items(v, &n);
	out = palloc(sizeof(TVal *) * Max(n, 1));

	if (nargs == 0)
	{
		TVal	   *attribute = NULL;
		TVal	   *dflt = NULL;
		TVal	  **parts;
		int			np;

		for (i = 0; i < nkwargs; i++)
		{
			if (strcmp(kwnames[i], "attribute") == 0)
				attribute = kwargs[i];
			else if (strcmp(kwnames[i], "default") == 0)
				dflt = kwargs[i];
		}
		if (attribute == NULL)
			tv_fail("map requires a filter argument");
		for (i = 0; i < nkwargs; i++)
			if (strcmp(kwnames[i], "attribute") != 0 && strcmp(kwnames[i], "default") != 0)
				tv_fail("Unexpected keyword argument '%s'", kwnames[i]);
		parts = tpl_attr_parts(attribute, &np);
		for (i = 0; i < n; i++)
		{
			tpl_charge(1);
			out[i] = tpl_attr_get(items->u.list.items[i], parts, np, dflt);
		}
	}
	else
	{
		char	   *name = name_of(args[0], "filter");
		int			id = tpl_filter_id(name);

		for (i = 0; i < n; i++)
		{
			tpl_charge(1);
			out[i] = tpl_apply_filter(id, name, items->u.list.items[i], args + 1,
									  nargs - 1, kwnames, kwargs, nkwargs);
		}
	}
	return tv_generator(out, n);
}

/*
 * tpl_filter_select is Jinja2's select filter, or reject, or (attr) their
 * selectattr and rejectattr variants.
 */
TVal *
tpl_filter_select(TVal *v, bool reject, bool attr, TVal **args, int nargs,
				  char **kwnames, TVal **kwargs, int nkwargs)
{
	int			n;
	TVal	   *items;
	TVal	  **out;
	int			nout = 0;
	TVal	  **parts = NULL;
	int			np = 0;
	int			off = 0;
	char	   *test = NULL;
	int			id = -1;
	int			i;

	if (!tv_truthy(v))
		return tv_generator(NULL, 0);
	if (attr)
	{
		if (nargs < 1)
			tv_fail("Missing parameter for attribute name");
		parts = tpl_attr_parts(args[0], &np);
		off = 1;
	}
	if (nargs > off)
	{
		test = name_of(args[off], "test");
		id = tpl_test_id(test);
		if (id < 0)
			tv_fail("No test named '%s'.", test);
	}
	items = tv_iter_items(v, &n);
	out = palloc(sizeof(TVal *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		TVal	   *item = items->u.list.items[i];
		TVal	   *x = attr ? tpl_attr_get(item, parts, np, NULL) : item;
		bool		pass;

		tpl_charge(1);
		if (test != NULL)
			pass = tpl_apply_test(id, test, x, args + off + 1, nargs - off - 1,
								  kwnames, kwargs, nkwargs);
		else
			pass = tv_truthy(x);
		if (pass != reject)
			out[nout++] = item;
	}
	return tv_generator(out, nout);
}
