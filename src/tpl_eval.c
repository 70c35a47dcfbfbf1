/*-------------------------------------------------------------------------
 *
 * tpl_eval.c
 *	  Evaluation of template expressions and rendering of templates.
 *
 * Names resolve to loop variables first, then to the keys of the context
 * object, then to the functions range() and now(); anything else is
 * Jinja2's Undefined, which prints as nothing, is false, iterates as empty
 * and fails on every other use.  Attribute and item access follow
 * Jinja2's environment.getattr/getitem: "a.b" tries a Python attribute of
 * a, then a["b"]; "a[b]" tries a[b], then (for a string b) the attribute.
 * Python methods are called ("s.split(',')", see tpl_methods.c); reading
 * one without calling it is an error instead of the method object Jinja2
 * would print.
 *
 * {% set %} and for loops bind names in a chain of scopes: a loop's
 * iteration starts from the scope the loop is in, and what a set binds in
 * the iteration is dropped at its end, as in Jinja2, where a set inside a
 * loop does not leak out of it.
 *
 * Errors carry the position of the node being evaluated: tv_fail() and
 * the helpers here raise SQLSTATE 22023 naming the template and position.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "template.h"

typedef struct Scope
{
	const char *name;
	TVal	   *val;
	struct Scope *next;
} Scope;

typedef struct Eval
{
	TTemplate  *tpl;
	TVal	   *ctx;			/* the context: a dict */
	Scope	   *scope;			/* loop variables, innermost first */
} Eval;

/* position of the node being evaluated, for errors */
const char *tpl_err_source = NULL;
int			tpl_err_line = 0;
int			tpl_err_col = 0;

static TVal *eval(Eval *e, TNode *n);
static void render_nodes(Eval *e, TNode **nodes, int n, StringInfo out);

/*
 * tv_fail raises a template runtime error at the current position.
 */
void
tv_fail(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	tpl_verror(tpl_err_source, tpl_err_line, tpl_err_col, fmt, args);
}

/* at records the position of node n for errors */
static void
at(TNode *n)
{
	tpl_err_line = n->line;
	tpl_err_col = n->col;
}

/* undefined_fail raises the UndefinedError of an Undefined value */
static void
undefined_fail(TVal *v) pg_attribute_noreturn();

static void
undefined_fail(TVal *v)
{
	tv_fail("%s", v->u.undef.hint ? v->u.undef.hint : "value is undefined");
}

static const char *const dict_methods[] = {
	"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
	"setdefault", "update", "values"
};
static const char *const list_methods[] = {
	"append", "clear", "copy", "count", "extend", "index", "insert", "pop",
	"remove", "reverse", "sort"
};
static const char *const str_methods[] = {
	"capitalize", "casefold", "center", "count", "encode", "endswith",
	"expandtabs", "find", "format", "format_map", "index", "isalnum",
	"isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
	"isnumeric", "isprintable", "isspace", "istitle", "isupper", "join",
	"ljust", "lower", "lstrip", "maketrans", "partition", "removeprefix",
	"removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
	"rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
	"swapcase", "title", "translate", "upper", "zfill"
};
static const char *const markup_methods[] = {"escape", "striptags", "unescape"};
static const char *const int_methods[] = {
	"as_integer_ratio", "bit_count", "bit_length", "conjugate", "from_bytes",
	"to_bytes"
};
static const char *const float_methods[] = {
	"as_integer_ratio", "conjugate", "fromhex", "hex", "is_integer"
};
static const char *const range_methods[] = {"count", "index"};
static const char *const tuple_methods[] = {"count", "index"};
static const char *const keys_methods[] = {"isdisjoint"};
static const char *const generator_methods[] = {
	"close", "gi_code", "gi_frame", "gi_running", "gi_suspended",
	"gi_yieldfrom", "send", "throw"
};

/* in_names says whether name (len bytes) is one of the n names */
static bool
in_names(const char *name, int len, const char *const *names, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if ((int) strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return true;
	return false;
}

/*
 * tpl_is_method says whether name is a method of obj's Python type.
 */
bool
tpl_is_method(TVal *obj, const char *name, int len)
{
#define METHODS(list) in_names(name, len, list, lengthof(list))
	switch (obj->kind)
	{
		case TV_DICT:
			return METHODS(dict_methods);
		case TV_LIST:
			if (obj->flags & TVF_GENERATOR)
				return METHODS(generator_methods);
			if (obj->flags & (TVF_KEYS | TVF_ITEMS))
				return METHODS(keys_methods);
			if (obj->flags & TVF_VALUES)
				return false;
			if (obj->flags & TVF_TUPLE)
				return METHODS(tuple_methods);
			return METHODS(list_methods);
		case TV_STR:
			return METHODS(str_methods) ||
				((obj->flags & TVF_MARKUP) && METHODS(markup_methods));
		case TV_BOOL:
		case TV_INT:
		case TV_BIG:
			return METHODS(int_methods);
		case TV_FLOAT:
			return METHODS(float_methods);
		case TV_RANGE:
			return METHODS(range_methods);
		default:
			return false;
	}
#undef METHODS
}

/*
 * python_attribute looks name up among the Python attributes of obj's
 * type.  Data attributes (int.real, range.start, ...) are returned; a
 * method is an error (it is called, never read); NULL means there is no
 * such attribute.
 */
static TVal *
python_attribute(TVal *obj, const char *name, int len)
{
	/* groupby's items are namedtuples (grouper, list) */
	if (obj->kind == TV_LIST && (obj->flags & TVF_GROUP))
	{
		if (len == 7 && memcmp(name, "grouper", 7) == 0)
			return tv_list_get(obj, 0);
		if (len == 4 && memcmp(name, "list", 4) == 0)
			return tv_list_get(obj, 1);
	}
	switch (obj->kind)
	{
		case TV_BOOL:
		case TV_INT:
		case TV_BIG:
			if (len == 4 && memcmp(name, "real", 4) == 0)
				return obj->kind == TV_BOOL ? tv_int(obj->u.b ? 1 : 0) : obj;
			if (len == 9 && memcmp(name, "numerator", 9) == 0)
				return obj->kind == TV_BOOL ? tv_int(obj->u.b ? 1 : 0) : obj;
			if (len == 4 && memcmp(name, "imag", 4) == 0)
				return tv_int(0);
			if (len == 11 && memcmp(name, "denominator", 11) == 0)
				return tv_int(1);
			break;
		case TV_FLOAT:
			if (len == 4 && memcmp(name, "real", 4) == 0)
				return obj;
			if (len == 4 && memcmp(name, "imag", 4) == 0)
				return tv_float(0.0);
			break;
		case TV_RANGE:
			if (len == 5 && memcmp(name, "start", 5) == 0)
				return tv_int(obj->u.range.start);
			if (len == 4 && memcmp(name, "stop", 4) == 0)
				return tv_int(obj->u.range.stop);
			if (len == 4 && memcmp(name, "step", 4) == 0)
				return tv_int(obj->u.range.step);
			break;
		case TV_LOOP:
			{
				int64		i0 = obj->u.loop.index0;
				int64		n = obj->u.loop.length;
				char	   *nm = pnstrdup(name, len);

				if (strcmp(nm, "index") == 0)
					return tv_int(i0 + 1);
				if (strcmp(nm, "index0") == 0)
					return tv_int(i0);
				if (strcmp(nm, "revindex") == 0)
					return tv_int(n - i0);
				if (strcmp(nm, "revindex0") == 0)
					return tv_int(n - i0 - 1);
				if (strcmp(nm, "first") == 0)
					return tv_bool(i0 == 0);
				if (strcmp(nm, "last") == 0)
					return tv_bool(i0 == n - 1);
				if (strcmp(nm, "length") == 0)
					return tv_int(n);
				if (strcmp(nm, "depth") == 0)
					return tv_int(1);
				if (strcmp(nm, "depth0") == 0)
					return tv_int(0);
				if (strcmp(nm, "previtem") == 0)
					return i0 > 0 ? obj->u.loop.items[i0 - 1] : tv_undef("there is no previous item");
				if (strcmp(nm, "nextitem") == 0)
					return i0 + 1 < n ? obj->u.loop.items[i0 + 1] : tv_undef("there is no next item");
				if (strcmp(nm, "cycle") == 0 || strcmp(nm, "changed") == 0)
					tv_fail("loop.%s() is not supported by noetl templates", nm);
				return NULL;
			}
		default:
			break;
	}
	if (tpl_is_method(obj, name, len))
		tv_fail("'%.*s' is a method of %s, which noetl templates call (x.%.*s()) but do not read%s",
				len, name, tv_type_name(obj), len, name,
				obj->kind == TV_DICT ? psprintf("; write x['%.*s'] to read a key of that name", len, name) : "");
	return NULL;
}

/* object_repr names the type of obj as Jinja2's messages do ("dict object") */
static const char *
object_repr(TVal *obj)
{
	return psprintf("%s object", tv_type_name(obj));
}

/*
 * tpl_getattr is Jinja2's environment.getattr (the "." operator).
 */
TVal *
tpl_getattr(TVal *obj, const char *name, int namelen)
{
	TVal	   *v;

	if (obj->kind == TV_UNDEF)
		undefined_fail(obj);
	if ((v = tpl_proxy_attr(obj, name, namelen)) != NULL)
		return v;
	v = python_attribute(obj, name, namelen);
	if (v != NULL)
		return v;
	if (obj->kind == TV_DICT)
	{
		v = tv_dict_get_str(obj, name, namelen);
		if (v != NULL)
			return v;
	}
	return tv_undef(psprintf("'%s' has no attribute '%.*s'", object_repr(obj), namelen, name));
}

/*
 * tpl_getitem is Jinja2's environment.getitem (the "[]" operator).
 */
TVal *
tpl_getitem(TVal *obj, TVal *key)
{
	if (obj->kind == TV_UNDEF)
		undefined_fail(obj);
	switch (obj->kind)
	{
		case TV_DICT:
			if ((key->kind != TV_LIST || (key->flags & TVF_TUPLE)) && key->kind != TV_DICT)
			{
				bool		found;
				TVal	   *v = tv_dict_lookup(obj, key, &found);

				if (found)
					return v;
			}
			break;
		case TV_LIST:
		case TV_STR:
		case TV_RANGE:
			if ((key->kind == TV_INT || key->kind == TV_BOOL) &&
				!(obj->kind == TV_LIST && (obj->flags & (TVF_GENERATOR | TVF_VIEW))))
			{
				int64		i = key->kind == TV_BOOL ? (key->u.b ? 1 : 0) : key->u.i;
				int			n = tv_len(obj);

				if (i < 0)
					i += n;
				if (i >= 0 && i < n)
				{
					if (obj->kind == TV_STR)
					{
						int			clen;
						const char *c;
						TVal	   *r;

						tpl_charge_bytes(obj->u.s.len);
						c = py_char_at(obj->u.s.p, obj->u.s.len, (int) i, &clen);
						r = tv_str(c, clen);

						r->flags = obj->flags & TVF_MARKUP;
						return r;
					}
					return tv_list_get(obj, (int) i);
				}
			}
			break;
		default:
			break;
	}
	if (key->kind == TV_STR)
	{
		TVal	   *v = tpl_proxy_attr(obj, key->u.s.p, key->u.s.len);

		if (v == NULL)
			v = python_attribute(obj, key->u.s.p, key->u.s.len);

		if (v != NULL)
			return v;
	}
	{
		StringInfoData k;

		tv_buf_init(&k, 32);
		tv_repr(&k, key);
		if (key->kind == TV_STR)
			return tv_undef(psprintf("'%s' has no attribute %s", object_repr(obj), k.data));
		return tv_undef(psprintf("%s has no element %s", object_repr(obj), k.data));
	}
}

/*
 * lookup_name resolves a variable: loop scope, then the context.
 */
static TVal *
lookup_name(Eval *e, const char *name, bool *found)
{
	Scope	   *s;
	TVal	   *v;

	*found = true;
	for (s = e->scope; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s->val;
	if (e->ctx && e->ctx->kind == TV_DICT)
	{
		v = tv_dict_get_str(e->ctx, name, strlen(name));
		if (v != NULL)
			return tpl_proxy_mark(name, v);
	}
	*found = false;
	return tv_undef(psprintf("'%s' is undefined", name));
}

/*
 * contains is Python's "needle in haystack".
 */
static bool
contains(TVal *haystack, TVal *needle)
{
	int			i;
	int			n;

	switch (haystack->kind)
	{
		case TV_UNDEF:
			return false;
		case TV_STR:
			if (needle->kind != TV_STR)
				tv_fail("'in <string>' requires string as left operand, not %s",
						tv_type_name(needle));
			if (needle->u.s.len == 0)
				return true;
			/* memmem is linear (two-way), whatever the texts */
			tpl_charge_bytes(haystack->u.s.len + needle->u.s.len);
			return memmem(haystack->u.s.p, haystack->u.s.len,
						  needle->u.s.p, needle->u.s.len) != NULL;
		case TV_LIST:
			n = haystack->u.list.n;
			if (haystack->flags & TVF_GENERATOR)
			{
				/* a generator is consumed up to the item found */
				for (i = haystack->u.list.next; i < n; i++)
				{
					tpl_charge(1);
					if (tv_equal(haystack->u.list.items[i], needle))
					{
						haystack->u.list.next = i + 1;
						return true;
					}
				}
				haystack->u.list.next = n;
				return false;
			}
			for (i = 0; i < n; i++)
			{
				tpl_charge(1);
				if (tv_equal(tv_list_get(haystack, i), needle))
					return true;
			}
			return false;
		case TV_DICT:
			{
				bool		found;

				tv_key_hashable(needle);
				(void) tv_dict_lookup(haystack, needle, &found);
				return found;
			}
		case TV_RANGE:
			if (needle->kind == TV_INT || needle->kind == TV_BOOL)
			{
				/* an int is a member when it is on the range's grid */
				int64		x = needle->kind == TV_BOOL ? needle->u.b : needle->u.i;
				int64		step = haystack->u.range.step;
				int64		off;

				n = tv_len(haystack);
				if (!pg_sub_s64_overflow(x, haystack->u.range.start, &off))
				{
					if (n == 0)
						return false;
					if (step == -1)	/* off / -1 could overflow */
						return off <= 0 && off > -(int64) n;
					if (off % step != 0)
						return false;
					return off / step >= 0 && off / step < n;
				}
			}
			n = tv_len(haystack);
			for (i = 0; i < n; i++)
			{
				tpl_charge(1);
				if (tv_equal(tv_list_get(haystack, i), needle))
					return true;
			}
			return false;
		default:
			tv_fail("argument of type '%s' is not iterable", tv_type_name(haystack));
	}
	return false;
}

/* compare applies one operator of a comparison chain, as Python does */
static bool
compare(TVal *a, TCmpOp op, TVal *b)
{
	int			c;

	switch (op)
	{
		case TC_EQ:
			return tv_equal(a, b);
		case TC_NE:
			return !tv_equal(a, b);
		case TC_IN:
			return contains(b, a);
		case TC_NOTIN:
			return !contains(b, a);
		default:
			break;
	}
	if (a->kind == TV_UNDEF)
		undefined_fail(a);
	if (b->kind == TV_UNDEF)
		undefined_fail(b);
	c = tv_compare(a, b, op == TC_LT ? "<" : op == TC_LE ? "<=" : op == TC_GT ? ">" : ">=");
	if (c == 2)
		return false;
	switch (op)
	{
		case TC_LT:
			return c < 0;
		case TC_LE:
			return c <= 0;
		case TC_GT:
			return c > 0;
		case TC_GE:
			return c >= 0;
		default:
			return false;
	}
}

/*
 * eval_args evaluates the positional and keyword arguments of a filter,
 * test or call.
 */
static void
eval_args(Eval *e, TNode *n, TVal ***args, TVal ***kwargs)
{
	int			i;

	*args = palloc(sizeof(TVal *) * Max(n->nitems, 1));
	for (i = 0; i < n->nitems; i++)
		(*args)[i] = eval(e, n->items[i]);
	*kwargs = palloc(sizeof(TVal *) * Max(n->nkwargs, 1));
	for (i = 0; i < n->nkwargs; i++)
		(*kwargs)[i] = eval(e, n->kwargs[i]);
}

/*
 * eval evaluates an expression node.
 */
static TVal *
eval(Eval *e, TNode *n)
{
	TVal	   *a;
	TVal	   *b;
	int			i;

	check_stack_depth();
	at(n);
	tpl_charge(1);
	switch (n->kind)
	{
		case TN_CONST:
			return n->value;
		case TN_NAME:
			{
				bool		found;

				return lookup_name(e, n->name, &found);
			}
		case TN_GETATTR:
			a = eval(e, n->a);
			at(n);
			return tpl_getattr(a, n->name, strlen(n->name));
		case TN_GETITEM:
			a = eval(e, n->a);
			b = eval(e, n->b);
			at(n);
			return tpl_getitem(a, b);
		case TN_NEG:
		case TN_POS:
			a = eval(e, n->a);
			at(n);
			if (a->kind == TV_UNDEF)
				undefined_fail(a);
			return tv_negate(a, n->kind == TN_NEG);
		case TN_NOT:
			return tv_bool(!tv_truthy(eval(e, n->a)));
		case TN_ADD:
		case TN_SUB:
		case TN_MUL:
		case TN_DIV:
		case TN_FLOORDIV:
		case TN_MOD:
		case TN_POW:
			a = eval(e, n->a);
			b = eval(e, n->b);
			at(n);
			if (n->kind == TN_MOD && a->kind == TV_STR)
				return tpl_str_format(a, b);
			if (a->kind == TV_UNDEF)
				undefined_fail(a);
			if (b->kind == TV_UNDEF)
				undefined_fail(b);
			return tv_arith(n->kind, a, b);
		case TN_CONCAT:
			{
				StringInfoData buf;

				tv_buf_init(&buf, 64);
				for (i = 0; i < n->nitems; i++)
					tv_str_out(&buf, eval(e, n->items[i]));
				return tv_str(buf.data, buf.len);
			}
		case TN_COMPARE:
			a = eval(e, n->items[0]);
			for (i = 1; i < n->nitems; i++)
			{
				b = eval(e, n->items[i]);
				at(n);
				if (!compare(a, n->ops[i - 1], b))
					return tv_bool(false);
				a = b;
			}
			return tv_bool(true);
		case TN_AND:
			a = eval(e, n->a);
			return tv_truthy(a) ? eval(e, n->b) : a;
		case TN_OR:
			a = eval(e, n->a);
			return tv_truthy(a) ? a : eval(e, n->b);
		case TN_COND:
			if (tv_truthy(eval(e, n->a)))
				return eval(e, n->b);
			if (n->c)
				return eval(e, n->c);
			return tv_undef(psprintf("the inline if-expression on line %d evaluated to false and no else section was defined.",
									 n->line));
		case TN_FILTER:
		case TN_TEST:
			{
				TVal	  **args;
				TVal	  **kwargs;

				a = eval(e, n->a);
				eval_args(e, n, &args, &kwargs);
				at(n);
				if (n->id < 0)
					tv_fail("No %s named '%s' found.", n->kind == TN_FILTER ? "filter" : "test", n->name);
				if (n->kind == TN_FILTER)
					return tpl_apply_filter(n->id, n->name, a, args, n->nitems,
											n->kwnames, kwargs, n->nkwargs);
				return tv_bool(tpl_apply_test(n->id, n->name, a, args, n->nitems,
											  n->kwnames, kwargs, n->nkwargs) != n->negated);
			}
		case TN_CALL:
			{
				TVal	  **args;
				TVal	  **kwargs;
				bool		found;

				a = lookup_name(e, n->name, &found);
				eval_args(e, n, &args, &kwargs);
				at(n);
				if (found)
					tv_fail("'%s' object is not callable", tv_type_name(a));
				if (n->id < 0)
					undefined_fail(a);
				if (strcmp(n->name, "dict") == 0)
				{
					/* dict(key=value, ...), optionally from a mapping */
					TVal	   *d = tv_dict_new();

					if (n->nitems > 1)
						tv_fail("dict expected at most 1 argument, got %d", n->nitems);
					if (n->nitems == 1)
					{
						if (args[0]->kind != TV_DICT)
							tv_fail("noetl's dict() takes a mapping or keyword arguments");
						tv_dict_update(d, args[0]);
					}
					for (i = 0; i < n->nkwargs; i++)
						tv_dict_set(d, tv_cstr(n->kwnames[i]), kwargs[i]);
					return d;
				}
				if (n->nkwargs > 0)
					tv_fail("%s() takes no keyword arguments", n->name);
				return tpl_call_function(n->id, n->name, args, n->nitems);
			}
		case TN_LIST:
		case TN_TUPLE:
			{
				TVal	  **items = palloc(sizeof(TVal *) * Max(n->nitems, 1));

				for (i = 0; i < n->nitems; i++)
					items[i] = eval(e, n->items[i]);
				return n->kind == TN_TUPLE ? tv_tuple(items, n->nitems)
					: tv_list(items, n->nitems);
			}
		case TN_SLICE:
			{
				TVal	   *parts[3];

				a = eval(e, n->a);
				for (i = 0; i < 3; i++)
					parts[i] = n->items[i] ? eval(e, n->items[i]) : tv_none();
				at(n);
				if (a->kind == TV_UNDEF)
					undefined_fail(a);
				return tpl_slice(a, parts[0], parts[1], parts[2], n->constant);
			}
		case TN_METHOD:
			{
				TVal	  **args;
				TVal	  **kwargs;
				int			len = strlen(n->name);

				a = eval(e, n->a);
				at(n);
				if (a->kind == TV_UNDEF)
					undefined_fail(a);
				if (tpl_is_method(a, n->name, len))
				{
					eval_args(e, n, &args, &kwargs);
					at(n);
					return tpl_call_method(a, n->name, args, n->nitems,
										   n->kwnames, kwargs, n->nkwargs);
				}
				/* not a method: call what the attribute holds */
				b = tpl_getattr(a, n->name, len);
				eval_args(e, n, &args, &kwargs);
				at(n);
				if (b->kind == TV_UNDEF)
					undefined_fail(b);
				tv_fail("'%s' object is not callable", tv_type_name(b));
			}
		case TN_DICT:
			{
				TVal	   *d = tv_dict_new();

				for (i = 0; i < n->nitems; i += 2)
				{
					TVal	   *k = eval(e, n->items[i]);
					TVal	   *v = eval(e, n->items[i + 1]);

					at(n->items[i]);
					tv_dict_set(d, k, v);
				}
				return d;
			}
		default:
			elog(ERROR, "unexpected template node %d", n->kind);
	}
	return NULL;
}

/*
 * bind pushes scopes for names (or the single name) bound to v, unpacking
 * v as Python does when there are several names.  The scopes are
 * allocated in the current memory context.
 */
static void
bind(Eval *e, const char *name, char **names, int nnames, TVal *v)
{
	TVal	   *items;
	int			count;
	int			i;

	if (nnames == 0)
	{
		Scope	   *s = palloc(sizeof(Scope));

		s->name = name;
		s->val = v;
		s->next = e->scope;
		e->scope = s;
		return;
	}
	if (v->kind == TV_UNDEF)
		undefined_fail(v);
	if (v->kind != TV_LIST && v->kind != TV_DICT && v->kind != TV_STR &&
		v->kind != TV_RANGE)
		tv_fail("cannot unpack non-iterable %s object", tv_type_name(v));
	items = tv_iter_items(v, &count);
	if (count > nnames)
		tv_fail("too many values to unpack (expected %d)", nnames);
	if (count < nnames)
		tv_fail("not enough values to unpack (expected %d, got %d)", nnames, count);
	for (i = 0; i < nnames; i++)
		bind(e, names[i], NULL, 0, items->u.list.items[i]);
}

/*
 * render_set runs {% set %}: the value, or the rendered block, bound in
 * the current scope.
 */
static void
render_set(Eval *e, TNode *n)
{
	TVal	   *v;

	if (n->a != NULL)
		v = eval(e, n->a);
	else
	{
		/* a block set: its body renders in a scope of its own */
		StringInfoData buf;
		Scope	   *saved = e->scope;

		tv_buf_init(&buf, 64);
		render_nodes(e, n->items, n->nitems, &buf);
		e->scope = saved;
		v = tv_str(buf.data, buf.len);
		if (n->b != NULL)
		{
			/* {% set x | filters %}: the filters see the block as " block" */
			bind(e, " block", NULL, 0, v);
			v = eval(e, n->b);
			e->scope = saved;
		}
	}
	at(n);
	bind(e, n->name, n->names, n->nnames, v);
}

/*
 * render_for renders a for loop.  Each iteration allocates in a context
 * that is reset after it: nothing an iteration computes outlives it (what
 * a set binds in it is dropped with it, as in Jinja2; the output grows in
 * its own context, and what is attached to values from outside the loop
 * goes where they live, see tpl_owner_enter), so a long loop holds only
 * its live data.
 */
static void
render_for(Eval *e, TNode *n, StringInfo out)
{
	TVal	   *seq = eval(e, n->a);
	int			count;
	TVal	   *items;
	Scope		loop;
	Scope	   *base = e->scope;
	TVal	   *lv;
	int			i;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext iteration;

	at(n);
	items = tv_iter_items(seq, &count);
	iteration = AllocSetContextCreate(outer, "noetl template loop",
									  ALLOCSET_SMALL_SIZES);
	if (n->b != NULL)
	{
		/* the loop filter sees the loop variable but not "loop" */
		TVal	  **kept = palloc(sizeof(TVal *) * Max(count, 1));
		int			k = 0;

		for (i = 0; i < count; i++)
		{
			bool		keep;

			tpl_charge(1);
			MemoryContextSwitchTo(iteration);
			bind(e, n->name, n->names, n->nnames, items->u.list.items[i]);
			keep = tv_truthy(eval(e, n->b));
			e->scope = base;
			MemoryContextSwitchTo(outer);
			MemoryContextReset(iteration);
			if (keep)
				kept[k++] = items->u.list.items[i];
		}
		items = tv_list(kept, k);
		count = k;
	}
	if (count == 0)
	{
		MemoryContextDelete(iteration);
		render_nodes(e, n->items2, n->nitems2, out);
		e->scope = base;		/* what the else branch sets stays in it */
		return;
	}
	lv = palloc0(sizeof(TVal));
	lv->kind = TV_LOOP;
	lv->u.loop.length = count;
	lv->u.loop.items = items->u.list.items;
	loop.name = "loop";
	loop.val = lv;
	for (i = 0; i < count; i++)
	{
		tpl_charge(1);
		lv->u.loop.index0 = i;
		MemoryContextSwitchTo(iteration);
		/* names resolve to the targets, then "loop", then the enclosing scope */
		loop.next = base;
		e->scope = &loop;
		bind(e, n->name, n->names, n->nnames, items->u.list.items[i]);
		render_nodes(e, n->items, n->nitems, out);
		e->scope = base;
		MemoryContextSwitchTo(outer);
		MemoryContextReset(iteration);
	}
	MemoryContextDelete(iteration);
}

/* render_nodes executes statements, appending their text to out */
static void
render_nodes(Eval *e, TNode **nodes, int n, StringInfo out)
{
	int			i;

	check_stack_depth();
	for (i = 0; i < n; i++)
	{
		TNode	   *node = nodes[i];

		tpl_charge(1);
		switch (node->kind)
		{
			case TN_TEXT:
				tpl_charge_bytes(node->value->u.s.len);
				appendBinaryStringInfo(out, node->value->u.s.p, node->value->u.s.len);
				break;
			case TN_OUTPUT:
				{
					TVal	   *v = eval(e, node->a);

					at(node->a);
					tv_str_out(out, v);
					break;
				}
			case TN_IF:
				if (tv_truthy(eval(e, node->a)))
					render_nodes(e, node->items, node->nitems, out);
				else
					render_nodes(e, node->items2, node->nitems2, out);
				break;
			case TN_FOR:
				render_for(e, node, out);
				break;
			case TN_SET:
				render_set(e, node);
				break;
			default:
				elog(ERROR, "unexpected template statement %d", node->kind);
		}
		if (out->len > MaxAllocSize / 4)
			tv_fail("the rendered text is too long");
	}
}

/*
 * tpl_render renders a template against a context dict.
 */
void
tpl_render(TTemplate *t, TVal *ctx, StringInfo out)
{
	Eval		e;

	e.tpl = t;
	e.ctx = ctx;
	e.scope = NULL;
	tpl_err_source = t->source;
	render_nodes(&e, t->body, t->nbody, out);
}

/*
 * tpl_eval_expr evaluates one expression of a template against a context.
 */
TVal *
tpl_eval_expr(TTemplate *t, TNode *expr, TVal *ctx)
{
	Eval		e;

	e.tpl = t;
	e.ctx = ctx;
	e.scope = NULL;
	tpl_err_source = t->source;
	return eval(&e, expr);
}

/*
 * tpl_compare_op applies one comparison operator, as the tests eq, lt,
 * in, ... (tpl_tests.c) do.
 */
bool
tpl_compare_op(TVal *a, TCmpOp op, TVal *b)
{
	return compare(a, op, b);
}
