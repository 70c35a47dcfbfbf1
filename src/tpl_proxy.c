/*-------------------------------------------------------------------------
 *
 * tpl_proxy.c
 *	  NoETL's TaskResultProxy: how a step's result answers "." in a
 *	  rendering with NoETL's rules.
 *
 * NoETL's render_template (noetl/core/dsl/render.py, at 58c2a16b and
 * 32245391) wraps every top-level context entry that is a dict, except
 * the reserved names work, workload, context, env, job, input, data and
 * results, in a TaskResultProxy, whose __getattr__ answers
 *
 *	.data, .result		the proxy itself, when the dict has no such key
 *	.is_defined			True
 *	.<key>				the key's value
 *
 * so that {{ step.data.x }} reads x of a result stored without its
 * envelope.  A top-level list is wrapped as {"result": list}, so that
 * {{ step.result }} is the list (here the list answers .result with a copy
 * of itself that is no proxy, and is otherwise the list it is).
 *
 * Here the proxy is a flag on the value (TVF_PROXY) rather than a wrapper:
 * the value prints, compares, iterates and goes to JSON as it is, and only
 * attribute access (tpl_getattr, and the attribute fallback of "[]") asks
 * tpl_proxy_attr first.  A key of the dict wins over a method of the same
 * name, as on NoETL's proxy, which has no methods.  The flag is set only
 * while tpl_noetl_rules is on: noetl.render, noetl.truthy and the broker
 * turn it on; noetl.render_text and noetl.eval stay plain Jinja2.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "template.h"

bool		tpl_noetl_rules = false;

static const char *const reserved[] = {
	"work", "workload", "context", "env", "job", "input", "data", "results"
};

static bool
is_name(const char *name, int len, const char *word)
{
	return (int) strlen(word) == len && memcmp(name, word, len) == 0;
}

/*
 * tpl_proxy_mark marks v, the value of the top-level context entry name,
 * as a proxy when NoETL's rules would wrap it; returns v.
 */
TVal *
tpl_proxy_mark(const char *name, TVal *v)
{
	int			len = strlen(name);
	int			i;

	if (!tpl_noetl_rules || (v->kind != TV_DICT && v->kind != TV_LIST))
		return v;
	for (i = 0; i < lengthof(reserved); i++)
		if (is_name(name, len, reserved[i]))
			return v;
	v->flags |= TVF_PROXY;
	return v;
}

/*
 * tpl_proxy_attr answers attribute name of a proxy as TaskResultProxy
 * does; NULL when obj is no proxy or the proxy leaves the name to the
 * value's own attributes.
 */
TVal *
tpl_proxy_attr(TVal *obj, const char *name, int len)
{
	if (!(obj->flags & TVF_PROXY))
		return NULL;
	if (obj->kind == TV_LIST)
	{
		TVal	   *list;

		if (!is_name(name, len, "result"))
			return NULL;
		/* {"result": list}["result"] is the list itself, no proxy */
		list = palloc(sizeof(TVal));
		*list = *obj;
		list->flags &= ~TVF_PROXY;
		return list;
	}
	if (obj->kind != TV_DICT)
		return NULL;
	if (is_name(name, len, "data") || is_name(name, len, "result"))
	{
		TVal	   *v = tv_dict_get_str(obj, name, len);

		return v != NULL ? v : obj;
	}
	if (is_name(name, len, "is_defined"))
		return tv_bool(true);
	return tv_dict_get_str(obj, name, len);
}
