/*-------------------------------------------------------------------------
 *
 * tpl_sql.c
 *	  SQL functions of the template engine, and the template cache.
 *
 *	noetl.render_text(template text, context jsonb) -> text
 *		Jinja2's Environment().from_string(template).render(context).
 *	noetl.render(template jsonb, context jsonb) -> jsonb
 *		Renders every string inside a JSON value.  A string that is one
 *		{{ expr }} (blanks around it allowed) becomes the expression's
 *		value with its JSON type, as NoETL does; Undefined becomes null.
 *		Strings that call functions only workers provide (NoETL's token(),
 *		secret(), ...) are left as they are, for the worker.
 *	noetl.eval(expression text, context jsonb) -> jsonb
 *		The value of a bare expression.
 *	noetl.truthy(condition text, context jsonb) -> boolean
 *		NoETL's rule for conditions: a condition without {{ }} is wrapped
 *		in {{ }}; the result is true when its text, trimmed, is "true",
 *		"1" or "yes" in any case.
 *
 * Parsed templates are kept per backend in a small cache keyed by their
 * text, so a condition evaluated once per row is parsed once.  Each
 * template lives in its own memory context; the cache is emptied when it
 * holds TEMPLATE_CACHE_MAX templates.
 *
 * Every entry point (the SQL functions, tpl_render_jsonb and tpl_truthy)
 * is one rendering with a budget of its own (tpl_budget.c): it evaluates
 * in the rendering's memory context, copies its result into the caller's,
 * and ends the rendering in PG_FINALLY, so that an error leaves no budget
 * in force and no evaluation garbage behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "jtree.h"
#include "template.h"

PG_FUNCTION_INFO_V1(noetl_render_text);
PG_FUNCTION_INFO_V1(noetl_render);
PG_FUNCTION_INFO_V1(noetl_eval);
PG_FUNCTION_INFO_V1(noetl_truthy);

#define TEMPLATE_CACHE_BUCKETS	256
#define TEMPLATE_CACHE_MAX		1024

typedef struct CacheEntry
{
	char	   *src;
	int			len;
	bool		expression;
	uint32		hash;
	TTemplate  *tpl;
	struct CacheEntry *next;
} CacheEntry;

struct TplCache
{
	MemoryContext cxt;			/* holds the entries and their templates */
	int			max;			/* emptied when it holds this many; 0 = never */
	int			count;
	CacheEntry *buckets[TEMPLATE_CACHE_BUCKETS];
};

static TplCache *sql_cache = NULL;

static TplCache *sql_templates(void);

/*
 * tplcache_create makes a template cache in a new context under parent.
 */
TplCache *
tplcache_create(MemoryContext parent, int max)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "noetl template cache",
											  ALLOCSET_SMALL_SIZES);
	TplCache   *c = MemoryContextAllocZero(cxt, sizeof(TplCache));

	c->cxt = cxt;
	c->max = max;
	return c;
}

/*
 * tplcache_get returns the parsed template for src, parsing it on first
 * use.  For a cache with a maximum, the result (and the values that point
 * into it, such as its constants) stays valid until the next call; for an
 * unbounded one, as long as the cache.
 */
static TTemplate *
tplcache_get(TplCache *c, const char *src, int len, bool expression)
{
	uint32		h = hash_bytes((const unsigned char *) src, len) ^ (expression ? 0x9e3779b9 : 0);
	CacheEntry *e;
	MemoryContext tcxt;
	MemoryContext old;
	TTemplate  *tpl;

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("noetl templates need a database with encoding UTF8"),
				 errdetail("The database encoding is %s.", GetDatabaseEncodingName())));
	for (e = c->buckets[h % TEMPLATE_CACHE_BUCKETS]; e; e = e->next)
		if (e->hash == h && e->len == len && e->expression == expression &&
			memcmp(e->src, src, len) == 0)
			return e->tpl;

	/* parse in a context of its own; an error discards it with the caller's */
	tcxt = AllocSetContextCreate(CurrentMemoryContext, "noetl template",
								 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(tcxt);
	tpl = expression ? tpl_parse_expression(src, len) : tpl_parse(src, len);
	MemoryContextSwitchTo(old);

	if (c->max > 0 && c->count >= c->max)
	{
		MemoryContextDeleteChildren(c->cxt);
		memset(c->buckets, 0, sizeof(c->buckets));
		c->count = 0;
	}
	MemoryContextSetParent(tcxt, c->cxt);
	e = MemoryContextAlloc(tcxt, sizeof(CacheEntry));
	e->src = MemoryContextAlloc(tcxt, len + 1);
	memcpy(e->src, src, len);
	e->src[len] = '\0';
	e->len = len;
	e->expression = expression;
	e->hash = h;
	e->tpl = tpl;
	e->next = c->buckets[h % TEMPLATE_CACHE_BUCKETS];
	c->buckets[h % TEMPLATE_CACHE_BUCKETS] = e;
	c->count++;
	return tpl;
}

/*
 * tpl_cached looks a template up in the cache of the SQL functions.
 */
static TTemplate *
tpl_cached(const char *src, int len, bool expression)
{
	return tplcache_get(sql_templates(), src, len, expression);
}

/* has_markup says whether text contains a template delimiter */
static bool
has_markup(const char *s, int len)
{
	int			i;

	for (i = 0; i + 1 < len; i++)
		if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#'))
			return true;
	return false;
}

/* context_value checks and converts the context argument */
static TVal *
context_value(Jsonb *ctx)
{
	if (!JB_ROOT_IS_OBJECT(ctx))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("template context must be a JSON object")));
	return tv_from_jsonb(ctx);
}

/*
 * noetl_render_text: noetl.render_text(template text, context jsonb) returns text
 */
Datum
noetl_render_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Jsonb	   *ctx = PG_GETARG_JSONB_P(1);
	TplRun		run;
	text	   *volatile result = NULL;

	tpl_run_begin(&run);
	PG_TRY();
	{
		TTemplate  *tpl = tpl_cached(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false);
		StringInfoData out;

		initStringInfo(&out);
		tpl_render(tpl, context_value(ctx), &out);
		MemoryContextSwitchTo(run.caller);
		result = cstring_to_text_with_len(out.data, out.len);
	}
	PG_FINALLY();
	{
		tpl_run_end(&run);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(result);
}

/* copy_jsonb returns a copy of a jsonb datum in the current context */
static Jsonb *
copy_jsonb(Jsonb *jb)
{
	Jsonb	   *copy = palloc(VARSIZE(jb));

	memcpy(copy, jb, VARSIZE(jb));
	return copy;
}

/* has_braces says whether text has both "{{" and "}}", NoETL's test */
static bool
has_braces(const char *s, int len)
{
	bool		open = false;
	bool		close = false;
	int			i;

	for (i = 0; i + 1 < len && !(open && close); i++)
	{
		if (s[i] == '{' && s[i + 1] == '{')
			open = true;
		else if (s[i] == '}' && s[i + 1] == '}')
			close = true;
	}
	return open && close;
}

/*
 * has_operator says whether a path has one of NoETL's operators: == != <
 * > + - * / | " if " " else ".
 */
static bool
has_operator(const char *p, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		switch (p[i])
		{
			case '<':
			case '>':
			case '+':
			case '-':
			case '*':
			case '/':
			case '|':
				return true;
			case '=':
			case '!':
				if (i + 1 < n && p[i + 1] == '=')
					return true;
				break;
			case ' ':
				if ((n - i >= 4 && memcmp(p + i, " if ", 4) == 0) ||
					(n - i >= 6 && memcmp(p + i, " else ", 6) == 0))
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

/*
 * plain_path is NoETL's shortcut before Jinja2 (render_template,
 * noetl/core/dsl/render.py at 58c2a16b and 32245391): text that is, once
 * stripped, "{{}}" is ""; text that is "{{ path }}", where path has none
 * of == != < > + - * / | " if " " else ", is looked up directly: its
 * parts between dots, stripped, are keys of the context and of the dicts
 * within, and the value found is the result, as it is (a key named
 * "items" is that key).  NULL when the text is no such path, or the path
 * leads nowhere: Jinja2 renders it then.
 */
static TVal *
plain_path(const char *s, int len, TVal *ctx)
{
	const char *p = s;
	int			n = len;
	TVal	   *v = ctx;

	py_strip(&p, &n);
	if (n == 4 && memcmp(p, "{{}}", 4) == 0)
		return tv_str("", 0);
	if (n < 4 || memcmp(p, "{{", 2) != 0 || memcmp(p + n - 2, "}}", 2) != 0)
		return NULL;
	p += 2;
	n -= 4;
	py_strip(&p, &n);
	if (has_operator(p, n))
		return NULL;
	while (v != NULL)
	{
		const char *dot = memchr(p, '.', n);
		const char *part = p;
		int			plen = dot ? dot - p : n;

		tpl_charge(1);
		py_strip(&part, &plen);
		if (v->kind != TV_DICT)
			return NULL;
		v = tv_dict_get_str(v, part, plen);
		if (dot == NULL)
			return v;
		n -= dot + 1 - p;
		p = dot + 1;
	}
	return NULL;
}

/*
 * string_value renders one string s of a JSON value: the value it renders
 * to, or NULL when the string stays as it is (no markup, or a template
 * only workers render, unless condition says that the string is one,
 * which cannot wait).  A template that is one {{ expression }} gives
 * the expression's value.  Under NoETL's rules (tpl_noetl_rules), a string
 * with "{{" and "}}" goes as render_template goes: plain_path first, then
 * Jinja2, whose text is coerced back to a value (tpl_coerce); of one
 * {{ expression }}, only a string value (or Undefined, which is "") is,
 * with the blanks around the braces as Jinja2 renders them.
 */
static TVal *
string_value(TplCache *cache, const char *s, int len, TVal *ctx, bool condition)
{
	TTemplate  *tpl;
	bool		noetl = tpl_noetl_rules && has_braces(s, len);
	TVal	   *v;

	if (!has_markup(s, len))
		return NULL;
	if (noetl && (v = plain_path(s, len, ctx)) != NULL)
		return v;
	tpl = tplcache_get(cache, s, len, false);
	if (tpl->worker_side && !condition)
		return NULL;
	if (tpl->single != NULL)
	{
		bool		bare = len >= 4 && memcmp(s, "{{", 2) == 0 && memcmp(s + len - 2, "}}", 2) == 0;

		v = tpl_eval_expr(tpl, tpl->single, ctx);
		if (!noetl || (v->kind != TV_UNDEF && v->kind != TV_STR))
			return v;
		/* a condition's string is judged by its text (tpl_truthy) */
		if (condition)
			return v->kind == TV_UNDEF ? tv_str("", 0) : v;
		/* text around the braces is part of what NoETL coerces: render it */
		if (bare)
			return v->kind == TV_UNDEF ? tv_str("", 0) : tpl_coerce(v->u.s.p, v->u.s.len);
	}
	{
		StringInfoData out;

		tv_buf_init(&out, len);
		tpl_render(tpl, ctx, &out);
		return noetl ? tpl_coerce(out.data, out.len) : tv_str(out.data, out.len);
	}
}

/*
 * render_string renders one string of a JSON value into st.  The string is
 * evaluated in scratch, which is reset afterwards: only what is pushed (a
 * copy of the value) stays, so rendering many strings holds only their
 * results.
 */
static void
render_string(TplCache *cache, JsonbValue *s, TVal *ctx, JsonbParseState **st,
			  JsonbIteratorToken tok, MemoryContext scratch)
{
	JsonbValue	jv;
	MemoryContext keep = CurrentMemoryContext;
	TVal	   *v;
	Jsonb	   *value = NULL;

	/*
	 * The value is serialised and copied out of scratch: it may point into
	 * the template (a constant), which the next tplcache_get may free, and
	 * into scratch.
	 */
	MemoryContextSwitchTo(scratch);
	v = string_value(cache, s->val.string.val, s->val.string.len, ctx, false);
	if (v != NULL && v->kind == TV_STR)
	{
		/* text, the usual case, is pushed as a string, copied out of scratch */
		char	   *text;

		if (v->u.s.len > JENTRY_OFFLENMASK)
			tv_fail("string too long to represent as jsonb string");
		MemoryContextSwitchTo(keep);
		text = palloc(v->u.s.len + 1);
		memcpy(text, v->u.s.p, v->u.s.len);
		jv.type = jbvString;
		jv.val.string.val = text;
		jv.val.string.len = v->u.s.len;
		MemoryContextReset(scratch);
		pushJsonbValue(st, tok, &jv);
		return;
	}
	if (v != NULL)
		value = tv_to_jsonb(v);
	MemoryContextSwitchTo(keep);
	if (value == NULL)
	{
		MemoryContextReset(scratch);
		pushJsonbValue(st, tok, s);
		return;
	}
	value = copy_jsonb(value);
	MemoryContextReset(scratch);
	jv.type = jbvBinary;
	jv.val.binary.data = &value->root;
	jv.val.binary.len = VARSIZE(value) - VARHDRSZ;
	pushJsonbValue(st, tok, &jv);
}

/*
 * render_jsonb renders every string in v (a scalar, or a container given
 * as jbvBinary) into st with token tok.
 */
static JsonbValue *
render_jsonb(TplCache *cache, JsonbValue *v, TVal *ctx, JsonbParseState **st,
			 JsonbIteratorToken tok, MemoryContext scratch)
{
	check_stack_depth();
	if (v->type == jbvString)
	{
		render_string(cache, v, ctx, st, tok, scratch);
		return NULL;
	}
	if (v->type != jbvBinary)
		return pushJsonbValue(st, tok, v);
	{
		JsonbContainer *jc = v->val.binary.data;
		JsonbIterator *it = JsonbIteratorInit(jc);
		JsonbValue	e;
		JsonbIteratorToken t;
		JsonbValue *res = NULL;
		bool		is_array = JsonContainerIsArray(jc);

		t = JsonbIteratorNext(&it, &e, true);
		pushJsonbValue(st, is_array ? WJB_BEGIN_ARRAY : WJB_BEGIN_OBJECT, NULL);
		while ((t = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (t == WJB_KEY)
				pushJsonbValue(st, WJB_KEY, &e);
			else if (t == WJB_VALUE || t == WJB_ELEM)
				render_jsonb(cache, &e, ctx, st, t, scratch);
			else if (t == WJB_END_ARRAY || t == WJB_END_OBJECT)
				res = pushJsonbValue(st, t, NULL);
		}
		return res;
	}
}

/*
 * tpl_render_jsonb renders every string of a jsonb value against ctx,
 * parsing templates through cache: one rendering, whose result is
 * allocated in the current memory context.
 */
Jsonb *
tpl_render_jsonb(Jsonb *t, TVal *ctx, TplCache *cache)
{
	TplRun		run;
	Jsonb	   *volatile result = NULL;
	bool		rules = tpl_noetl_rules;

	tpl_run_begin(&run);
	PG_TRY();
	{
		JsonbParseState *st = NULL;
		JsonbValue *res = NULL;
		Jsonb	   *single = NULL;
		MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
													  "noetl template string",
													  ALLOCSET_DEFAULT_SIZES);

		tpl_noetl_rules = true;

		if (JB_ROOT_IS_SCALAR(t))
		{
			JsonbValue	scalar;

			(void) JsonbExtractScalar(&t->root, &scalar);
			if (scalar.type == jbvString)
			{
				TVal	   *v = string_value(cache, scalar.val.string.val, scalar.val.string.len, ctx, false);

				if (v != NULL)
					single = tv_to_jsonb(v);
			}
			if (single == NULL)
			{
				jb_begin_scalar_root(&st);
				render_jsonb(cache, &scalar, ctx, &st, WJB_ELEM, scratch);
				res = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
			}
		}
		else
		{
			JsonbValue	root;

			root.type = jbvBinary;
			root.val.binary.data = &t->root;
			root.val.binary.len = VARSIZE(t) - VARHDRSZ;
			res = render_jsonb(cache, &root, ctx, &st, WJB_ELEM, scratch);
		}
		MemoryContextSwitchTo(run.caller);
		result = single != NULL ? copy_jsonb(single) : JsonbValueToJsonb(res);
	}
	PG_FINALLY();
	{
		tpl_noetl_rules = rules;
		tpl_run_end(&run);
	}
	PG_END_TRY();
	return result;
}

/* sql_templates returns the template cache of the SQL functions */
static TplCache *
sql_templates(void)
{
	if (sql_cache == NULL)
		sql_cache = tplcache_create(CacheMemoryContext, TEMPLATE_CACHE_MAX);
	return sql_cache;
}

/*
 * noetl_render: noetl.render(template jsonb, context jsonb) returns jsonb
 */
Datum
noetl_render(PG_FUNCTION_ARGS)
{
	Jsonb	   *t = PG_GETARG_JSONB_P(0);
	Jsonb	   *ctx = PG_GETARG_JSONB_P(1);

	PG_RETURN_JSONB_P(tpl_render_jsonb(t, context_value(ctx), sql_templates()));
}

/*
 * noetl_eval: noetl.eval(expression text, context jsonb) returns jsonb
 */
Datum
noetl_eval(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Jsonb	   *ctx = PG_GETARG_JSONB_P(1);
	TplRun		run;
	Jsonb	   *volatile result = NULL;

	tpl_run_begin(&run);
	PG_TRY();
	{
		TTemplate  *tpl = tpl_cached(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
		Jsonb	   *value = tv_to_jsonb(tpl_eval_expr(tpl, tpl->single, context_value(ctx)));

		MemoryContextSwitchTo(run.caller);
		result = copy_jsonb(value);
	}
	PG_FINALLY();
	{
		tpl_run_end(&run);
	}
	PG_END_TRY();
	PG_RETURN_JSONB_P(result);
}

/*
 * truthy_text applies NoETL's rule to a string: true when
 * str.strip().lower() is "true", "1" or "yes".
 */
static bool
truthy_text(const char *s, int len)
{
	py_strip(&s, &len);
	return (len == 4 && pg_strncasecmp(s, "true", 4) == 0) ||
		(len == 1 && s[0] == '1') ||
		(len == 3 && pg_strncasecmp(s, "yes", 3) == 0);
}

/*
 * tpl_truthy evaluates a condition with NoETL's rule, parsing it through
 * cache: one rendering.  A condition is rendered as noetl.render renders a
 * string (era B's _evaluate_condition calls render_template: the plain
 * path, the proxy, and coercion of rendered text), a bare one as if within
 * {{ }}; then a bool is itself, a string is true by truthy_text, and
 * anything else by Python's bool() (so 2 and a non-empty list are true).
 * The string value of one {{ expression }} is judged by its text, not
 * coerced first (era B would take "2" as 2): so that the "else" of a
 * "next" list, which playbook.c writes as an expression negating the
 * conditions before it, is exactly their negation.
 */
bool
tpl_truthy(const char *cond, int len, TVal *ctx, TplCache *cache)
{
	TplRun		run;
	volatile bool result = false;
	bool		rules = tpl_noetl_rules;

	tpl_run_begin(&run);
	PG_TRY();
	{
		TVal	   *v;

		tpl_noetl_rules = true;
		if (has_markup(cond, len))
			v = string_value(cache, cond, len, ctx, true);
		else if ((v = plain_path(psprintf("{{ %.*s }}", len, cond), len + 6, ctx)) == NULL)
		{
			TTemplate  *tpl = tplcache_get(cache, cond, len, true);

			v = tpl_eval_expr(tpl, tpl->single, ctx);
			if (v->kind == TV_UNDEF)
				v = tv_str("", 0);
		}
		if (v->kind == TV_BOOL)
			result = v->u.b;
		else if (v->kind == TV_STR)
			result = truthy_text(v->u.s.p, v->u.s.len);
		else
			result = tv_truthy(v);
	}
	PG_FINALLY();
	{
		tpl_noetl_rules = rules;
		tpl_run_end(&run);
	}
	PG_END_TRY();
	return result;
}

/*
 * noetl_truthy: noetl.truthy(condition text, context jsonb) returns boolean
 */
Datum
noetl_truthy(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Jsonb	   *ctx = PG_GETARG_JSONB_P(1);

	PG_RETURN_BOOL(tpl_truthy(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), context_value(ctx),
							  sql_templates()));
}

/*
 * check_known refuses filters and tests noetl does not know anywhere in a
 * template, including the branches where Jinja2 would only fail when they
 * are reached: a playbook must not fail later for what registration can see.
 */
static void
check_known(TTemplate *tpl, TNode *n)
{
	int			i;

	if (n == NULL)
		return;
	check_stack_depth();
	if ((n->kind == TN_FILTER || n->kind == TN_TEST) && n->id < 0)
		tpl_error(tpl->source, n->line, n->col, "no %s named '%s'",
				  n->kind == TN_FILTER ? "filter" : "test", n->name);
	check_known(tpl, n->a);
	check_known(tpl, n->b);
	check_known(tpl, n->c);
	for (i = 0; i < n->nitems; i++)
		check_known(tpl, n->items[i]);
	for (i = 0; i < n->nitems2; i++)
		check_known(tpl, n->items2[i]);
	for (i = 0; i < n->nkwargs; i++)
		check_known(tpl, n->kwargs[i]);
}

/*
 * tpl_check_playbook_template parses a template found in a playbook and
 * refuses it, naming where it was found (where(arg) spells the location,
 * only for an error), if it is malformed or outside noetl's subset.
 */
void
tpl_check_playbook_template(const char *src, int len,
							const char *(*where) (void *arg), void *arg)
{
	MemoryContext old = CurrentMemoryContext;
	MemoryContext tcxt = AllocSetContextCreate(CurrentMemoryContext, "noetl template check",
											   ALLOCSET_SMALL_SIZES);

	PG_TRY();
	{
		TTemplate  *tpl;

		int			i;

		MemoryContextSwitchTo(tcxt);
		tpl = tpl_parse(src, len);
		for (i = 0; i < tpl->nbody; i++)
			check_known(tpl, tpl->body[i]);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(old);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ed->sqlerrcode),
				 errmsg("%s: %s", where(arg), ed->message),
				 ed->detail ? errdetail("%s", ed->detail) : 0));
	}
	PG_END_TRY();
	MemoryContextDelete(tcxt);
}
