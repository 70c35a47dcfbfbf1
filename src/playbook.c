/*-------------------------------------------------------------------------
 *
 * playbook.c
 *	  Validation and normalisation of NoETL playbooks.
 *
 * NoETL's DSL changed over time: steps named their tool with "type:" and
 * later with "tool:", passed inputs under "with", "params", "input",
 * "payload", "data" or "args", looped with "type: iterator" plus a "task:"
 * body and later with "loop:", and saved results with "save:" and later
 * with "sink:".  The broker should not care, so registration rewrites every
 * playbook into one shape (the "payload" stored in noetl.catalog):
 *
 *	workflow[i]:	{step, tool?, args?, next: [{step, when?, args?}],
 *					 loop?: {collection, element, mode, max_in_flight?,
 *							 concurrency?, enumerate?, where?, order_by?,
 *							 limit?, chunk?, on_item_error,
 *							 sink?: {tool, ...}},
 *					 sink?: {tool, ...}, retry?, ...other fields as written}
 *
 * A loop's sink is era B's step-level save of an iterator, run once when
 * the loop ends over all its results; the step's own sink (era B's save
 * inside the iterator's task, era C's sink) runs after each item.
 *
 * A step without a tool, or with one of the control tools (start, end,
 * route, router), is a control step.  "type: workbook" steps are resolved
 * against the playbook's workbook here, once, with the step's own fields
 * winning over the workbook entry's.
 *
 * Anything that would make the broker guess is refused with SQLSTATE 22023
 * and a message that starts with the location of the problem, in the form
 * workflow[3].next[0] (indexes count from zero).  What NoETL ignored (an
 * unknown key, a setting nothing reads) is accepted and reported as a
 * warning, worded the same way (pb_warn; playbook_keys.c knows the keys).  So is a setting the
 * broker or a worker would take out of range (playbook_task.c checks
 * those), and a template that does not parse or leaves noetl's subset.
 *
 * This file takes the document as a whole: metadata, step names, the
 * transitions between steps, the workbook, the templates.  What every task
 * has (tool, inputs, sink, loop, retry, settings) is normalised by
 * playbook_task.c.
 *
 * Playbooks can be large (100,000 steps, or a step with 100,000 args), so
 * every pass is linear or n log n in their size and checks for interrupts:
 * names are indexed once and found by binary search (names.c), and objects
 * are merged with jt_merge, never key by key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "jtree.h"
#include "names.h"
#include "playbook.h"
#include "template.h"

typedef struct Playbook
{
	JsonbValue *workflow;		/* normalised steps */
	NameIndex	steps;			/* step names */
	JsonbValue *workbook;		/* normalised workbook entries, or NULL */
	NameIndex	tasks;			/* workbook entry names */
} Playbook;

/*
 * pb_error raises a validation error whose message starts with loc (unless
 * loc is NULL, for problems with the document as a whole).
 */
void
pb_error(const char *loc, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	if (loc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", buf.data)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: %s", loc, buf.data)));
}

/*
 * What registration ignores is a warning, kept here while one playbook is
 * normalised (noetl_normalize_playbook resets the list): at most
 * MAX_WARNINGS of them, then a count of the rest, each cut to about
 * MAX_WARNING_LEN bytes.
 */
#define MAX_WARNINGS	1000
#define MAX_WARNING_LEN 1000
static List *pb_warnings = NIL;
static int	pb_warnings_left_out = 0;

/*
 * pb_warn records a warning whose message starts with loc (unless loc is
 * NULL), as pb_error words an error.
 */
void
pb_warn(const char *loc, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	if (list_length(pb_warnings) >= MAX_WARNINGS)
	{
		pb_warnings_left_out++;
		return;
	}
	initStringInfo(&buf);
	if (loc != NULL)
		appendStringInfo(&buf, "%s: ", loc);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	/* a warning quotes the document: keep it short, whatever the key */
	if (buf.len > MAX_WARNING_LEN)
	{
		int			keep = pg_mbcliplen(buf.data, buf.len, MAX_WARNING_LEN);
		char	   *cut = psprintf("%.*s...", keep, buf.data);

		pfree(buf.data);
		buf.data = cut;
	}
	pb_warnings = lappend(pb_warnings, buf.data);
}

/* pb_in_list says whether s is one of the n strings of list */
bool
pb_in_list(const char *s, const char *const *list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* find_step returns the index of a step, or -1 */
static int
find_step(Playbook *pb, const char *name)
{
	return names_find(&pb->steps, name, strlen(name));
}

/*
 * check_when checks a condition: a template string or a boolean.
 */
static void
check_when(JsonbValue *when, const char *loc)
{
	if (when->type != jbvString && when->type != jbvBool)
		pb_error(loc, "\"when\" must be a string or a boolean, not %s",
				 jt_type_name(when));
}

/*
 * item_like says whether a step name ends in "[digits]" or "[save]": a
 * loop's iterations are queue rows named step[i], and its sink's task
 * step[save], which such a step's row could collide with.
 */
static bool
item_like(const char *name, int len)
{
	int			i = len - 1;

	if (len >= 6 && strncmp(name + len - 6, "[save]", 6) == 0)
		return true;
	if (len < 3 || name[i] != ']')
		return false;
	for (i--; i >= 0 && name[i] >= '0' && name[i] <= '9'; i--)
		;
	return i >= 0 && i < len - 2 && name[i] == '[';
}

/*
 * next_target normalises one transition target (a step name or a mapping
 * with "step", or era B's "name") into {step, when?, args?}, checking that
 * the step exists.  when is the condition of the entry the target is in
 * ("then" or "else"), NULL for a target that is an entry itself; such
 * targets' own "when" is ignored, as NoETL's planner ignored it.
 */
static JsonbValue *
next_target(Playbook *pb, JsonbValue *e, const char *loc, JsonbValue *when, bool nested)
{
	JsonbValue *out = jt_object();
	char	   *step;
	int			i;

	if (e->type == jbvString)
	{
		step = jt_cstring(e);
		if (*step == '\0')
			pb_error(loc, "malformed next entry: empty step name");
	}
	else if (e->type == jbvObject)
	{
		JsonbValue *copy = jt_copy(e);
		JsonbValue *s = jt_get(copy, "step");

		if (s == NULL)
			s = jt_get(copy, "name");
		if (s == NULL)
		{
			/* name the first key that is not NoETL's, likely the typo */
			for (i = 0; i < copy->val.object.nPairs; i++)
			{
				JsonbValue *k = &copy->val.object.pairs[i].key;

				if (!pb_known_key(PB_KEYS_NEXT, k->val.string.val, k->val.string.len))
					pb_error(loc, "malformed next entry: expected \"step\", found key \"%.*s\"",
							 k->val.string.len, k->val.string.val);
			}
			pb_error(loc, "malformed next entry: it has no \"step\"");
		}
		if (s->type != jbvString || s->val.string.len == 0)
			pb_error(loc, "malformed next entry: \"step\" must be a non-empty string");
		step = jt_cstring(s);
		pb_warn_unknown_keys(copy, PB_KEYS_NEXT, loc);
		if (nested)
		{
			static const char *const ignored[] = {"when", "then", "else"};

			for (i = 0; i < lengthof(ignored); i++)
				if (jt_get(copy, ignored[i]))
					pb_warn(loc, "\"%s\" inside a \"then\" or \"else\" target is ignored, as NoETL ignored it",
							ignored[i]);
		}
		else if (jt_get(copy, "when"))
		{
			when = jt_copy(jt_get(copy, "when"));
			check_when(when, loc);
		}
		pb_unify_args(copy, loc);
		if (jt_get(copy, "args"))
			jt_set(out, "args", jt_get(copy, "args"));
	}
	else
		pb_error(loc, "malformed next entry: expected a step name or a mapping, found %s",
				 jt_type_name(e));

	if (find_step(pb, step) < 0)
		pb_error(loc, "step \"%s\" does not exist", step);
	jt_set(out, "step", jt_string(step));
	if (when)
		jt_set(out, "when", when);
	return out;
}

/*
 * as_list returns v if it is an array, else a one-element array holding v
 * (an empty array for null).
 */
static JsonbValue *
as_list(JsonbValue *v)
{
	JsonbValue *arr;

	if (v->type == jbvArray)
		return v;
	arr = jt_array();
	if (v->type != jbvNull)
		jt_append(arr, v);
	return arr;
}

/*
 * condition_expr returns the expression of a condition: the text of a bare
 * one, the inside of one that is a single {{ expression }}; NULL for any
 * other template, and "" for a blank one.
 */
static char *
condition_expr(JsonbValue *when)
{
	const char *p = when->val.string.val;
	int			len = when->val.string.len;
	char	   *inner;
	int			i;

	while (len > 0 && isspace((unsigned char) *p))
	{
		p++;
		len--;
	}
	while (len > 0 && isspace((unsigned char) p[len - 1]))
		len--;
	for (i = 0; i + 1 < len; i++)
		if (p[i] == '{' && (p[i + 1] == '{' || p[i + 1] == '%' || p[i + 1] == '#'))
			break;
	if (i + 1 >= len)
		return pnstrdup(p, len);	/* bare */
	if (len < 4 || i != 0 || p[1] != '{' || p[len - 2] != '}' || p[len - 1] != '}')
		return NULL;
	p += 2;
	len -= 4;
	/* whitespace control: {{- and -}} */
	if (len > 0 && (*p == '-' || *p == '+'))
	{
		p++;
		len--;
	}
	if (len > 0 && p[len - 1] == '-')
		len--;
	inner = pnstrdup(p, len);
	if (strstr(inner, "{{") || strstr(inner, "}}") || strstr(inner, "{%") ||
		strstr(inner, "%}") || strstr(inner, "{#"))
		return NULL;
	for (i = 0; inner[i] != '\0' && isspace((unsigned char) inner[i]); i++)
		;
	return inner[i] == '\0' ? pstrdup("") : inner;
}

/*
 * else_condition builds the condition of an "else" target: none of conds
 * (the conditions of the entries before it in the same "next", and of its
 * own entry) holds.  A condition holds by noetl's rule for "when" (a
 * boolean is itself, a string holds when, stripped and lower-cased, it is
 * "true", "1" or "yes", anything else by Python's bool(); tpl_truthy),
 * which the expression spells out so that "else" fires exactly when no
 * "when" before it did.  Returns NULL when there is no condition
 * to negate (the targets always run).  Each "else" spells out the
 * conditions before it, so there may be at most MAX_ELSE_CONDITIONS of
 * them, and all of them may take at most MAX_ELSE_BYTES in a playbook
 * (else a "next" of many entries would take quadratic space); entries in
 * a row share the condition when nothing came between them.
 */
#define MAX_ELSE_CONDITIONS 64
#define MAX_ELSE_BYTES		(64 * 1024 * 1024)

/*
 * as_subscripts writes a plain dotted path (a.b.c, identifiers only) as
 * a['b']['c'], or returns expr as it is.  A condition that is such a path
 * is looked up key by key before Jinja2 (tpl_sql.c, plain_path), so
 * {{ workload.items }} is the key "items"; inside the negation it is no
 * longer alone, and Jinja2's a.items would be the dict's method.  The two
 * agree wherever the path's keys exist, and where one is missing both are
 * undefined.
 */
static char *
as_subscripts(char *expr)
{
	const char *p = expr;
	const char *end;
	StringInfoData buf;
	bool		first = true;

	while (isspace((unsigned char) *p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char) end[-1]))
		end--;
	initStringInfo(&buf);
	while (p < end)
	{
		const char *start = p;

		if (!(isalpha((unsigned char) *p) || *p == '_'))
			return expr;
		while (p < end && (isalnum((unsigned char) *p) || *p == '_'))
			p++;
		if (first)
			appendBinaryStringInfo(&buf, start, p - start);
		else
		{
			appendStringInfoString(&buf, "['");
			appendBinaryStringInfo(&buf, start, p - start);
			appendStringInfoString(&buf, "']");
		}
		first = false;
		if (p < end)
		{
			if (*p != '.' || p + 1 >= end)
				return expr;
			p++;
		}
	}
	return first ? expr : buf.data;
}

/* the text else_condition built for this playbook, against MAX_ELSE_BYTES */
static int64 else_bytes = 0;

static JsonbValue *
else_condition(List *conds, const char *loc)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	if (list_length(conds) > MAX_ELSE_CONDITIONS)
		pb_error(loc, "\"else\" follows %d conditions, more than the %d it can negate",
				 list_length(conds), MAX_ELSE_CONDITIONS);
	initStringInfo(&buf);
	foreach(lc, conds)
	{
		JsonbValue *w = lfirst(lc);
		char	   *expr;

		CHECK_FOR_INTERRUPTS();
		if (w->type == jbvBool)
		{
			if (w->val.boolean)
				return jt_bool(false);
			continue;
		}
		expr = condition_expr(w);
		if (expr == NULL)
			pb_error(loc, "\"else\" cannot follow the condition \"%s\"", jt_cstring(w));
		if (*expr == '\0')
			continue;			/* a blank condition never holds */
		expr = as_subscripts(expr);
		appendStringInfo(&buf, "%snot ((((%s) | trim | lower) in ['true', '1', 'yes']) if (%s) is string else (true if (%s) else false))",
						 n++ > 0 ? " and " : "", expr, expr, expr);
	}
	if (n == 0)
		return NULL;
	else_bytes += buf.len;
	if (else_bytes > MAX_ELSE_BYTES)
		pb_error(loc, "the conditions that \"else\" entries negate take more than %d MB",
				 MAX_ELSE_BYTES >> 20);
	return jt_string(psprintf("{{ %s }}", buf.data));
}

/*
 * normalize_next turns every spelling of "next" into a list of targets:
 * a name, a list of names, a mapping, a list of mappings with "step", and
 * NoETL's {when, then: [...]} form, whose condition applies to each target
 * (then being a name, a mapping or a list of either).  An entry's "else"
 * targets run when none of the conditions before them in the list held,
 * as NoETL's documentation describes them (its broker ignored them).
 */
static JsonbValue *
normalize_next(Playbook *pb, JsonbValue *next, const char *loc)
{
	JsonbValue *out = jt_array();
	JsonbValue *list;
	bool		single = (next->type == jbvString || next->type == jbvObject);
	List	   *conds = NIL;
	JsonbValue *last_else = NULL;
	int			last_else_conds = -1;
	int			j;

	if (next->type == jbvNull)
		return out;
	else if (next->type != jbvArray && !single)
		pb_error(loc, "malformed next: expected a step name or a list, found %s",
				 jt_type_name(next));

	/* a single target stands for a list of one */
	list = as_list(next);
	for (j = 0; j < list->val.array.nElems; j++)
	{
		JsonbValue *e = &list->val.array.elems[j];
		char	   *eloc = single ? pstrdup(loc) : psprintf("%s[%d]", loc, j);
		JsonbValue *then = jt_get(e, "then");
		JsonbValue *els = jt_get(e, "else");
		JsonbValue *when = jt_get(e, "when");

		CHECK_FOR_INTERRUPTS();
		if (then != NULL || els != NULL)
		{
			JsonbValue *targets;
			int			k;
			int			i;

			for (i = 0; i < e->val.object.nPairs; i++)
			{
				JsonbValue *key = &e->val.object.pairs[i].key;
				char	   *kname = pnstrdup(key->val.string.val, key->val.string.len);

				if (strcmp(kname, "when") == 0 || strcmp(kname, "then") == 0 ||
					strcmp(kname, "else") == 0 || strcmp(kname, "desc") == 0)
					continue;
				if (pb_known_key(PB_KEYS_NEXT, key->val.string.val, key->val.string.len))
					pb_warn(eloc, "\"%s\" beside \"%s\" is ignored, as NoETL ignored it",
							kname, then ? "then" : "else");
				else
					pb_warn(eloc, "unknown key \"%s\" (ignored)", kname);
			}
			if (when)
				check_when(when, eloc);
			if (then)
			{
				targets = as_list(then);
				for (k = 0; k < targets->val.array.nElems; k++)
					jt_append(out, next_target(pb, &targets->val.array.elems[k],
											   psprintf("%s.then[%d]", eloc, k), when, true));
			}
			if (when)
				conds = lappend(conds, when);
			if (els)
			{
				JsonbValue *ewhen;

				if (last_else == NULL || list_length(conds) != last_else_conds)
				{
					last_else = else_condition(conds, eloc);
					last_else_conds = list_length(conds);
				}
				ewhen = last_else;

				if (ewhen == NULL)
					pb_warn(eloc, "\"else\" follows no condition: its steps always run");
				targets = as_list(els);
				for (k = 0; k < targets->val.array.nElems; k++)
					jt_append(out, next_target(pb, &targets->val.array.elems[k],
											   psprintf("%s.else[%d]", eloc, k), ewhen, true));
			}
		}
		else
		{
			jt_append(out, next_target(pb, e, eloc, NULL, false));
			if (e->type == jbvObject && when != NULL)
				conds = lappend(conds, when);
		}
	}
	return out;
}

/*
 * find_workbook returns the workbook entry called name, or NULL.
 */
static JsonbValue *
find_workbook(Playbook *pb, const char *name)
{
	int			i = names_find(&pb->tasks, name, strlen(name));

	return i < 0 ? NULL : &pb->workbook->val.array.elems[i];
}

/*
 * resolve_workbook replaces a "tool: workbook" step's tool with its
 * workbook entry's, copying the entry's fields the step does not set
 * (args are merged, the step's winning).
 */
static void
resolve_workbook(Playbook *pb, JsonbValue *step, const char *loc)
{
	char	   *name = pb_optional_string(step, "name", loc);
	JsonbValue *entry;
	JsonbValue *eargs;
	JsonbValue *sargs;
	JsonbValue *fields;
	JsonbValue *tool;

	if (name == NULL)
		pb_error(loc, "workbook step has no \"name\"");
	entry = find_workbook(pb, name);
	if (entry == NULL)
		pb_error(loc, "workbook task \"%s\" does not exist", name);
	eargs = jt_get(entry, "args");
	sargs = jt_get(step, "args");
	if (sargs)
		sargs = jt_copy(sargs);

	/* the entry's fields the step lacks, and the entry's tool */
	fields = jt_copy(entry);
	jt_delete(fields, "name");
	jt_delete(fields, "args");
	(void) jt_merge(step, fields, true);
	tool = jt_get(fields, "tool");
	if (tool)
		jt_set(step, "tool", tool);
	if (eargs && sargs && eargs->type == jbvObject && sargs->type == jbvObject)
	{
		JsonbValue *merged = jt_copy(eargs);

		(void) jt_merge(merged, sargs, false);
		jt_set(step, "args", merged);
	}
	else if (eargs && !sargs)
		jt_set(step, "args", jt_copy(eargs));
	jt_set(step, "workbook", jt_string(name));
}

/* keys whose string values are conditions, written with or without {{ }} */
static const char *const condition_keys[] = {"when", "retry_when", "stop_when"};

/*
 * A location inside the document, kept as a chain on the stack: the text
 * (workflow[1].args.id) is built only for an error, so that checking a
 * wide object under a long key copies nothing per element.
 */
typedef struct PathElem
{
	const struct PathElem *up;	/* NULL for the root */
	const char *key;			/* object key, or the root's text; NULL for
								 * an array index */
	int			keylen;
	int			index;
} PathElem;

/* path_text spells a location: the root, then .key and [index] parts */
static const char *
path_text(void *arg)
{
	const PathElem *p;
	const PathElem **chain;
	int			n = 0;
	int			i;
	StringInfoData buf;

	for (p = arg; p; p = p->up)
		n++;
	chain = palloc(sizeof(PathElem *) * n);
	i = n;
	for (p = arg; p; p = p->up)
		chain[--i] = p;
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (chain[i]->key == NULL)
			appendStringInfo(&buf, "[%d]", chain[i]->index);
		else
		{
			if (i > 0)
				appendStringInfoChar(&buf, '.');
			appendBinaryStringInfo(&buf, chain[i]->key, chain[i]->keylen);
		}
	}
	return buf.data;
}

/* is_condition_key says whether a path ends in one of condition_keys */
static bool
is_condition_key(const PathElem *path)
{
	int			i;

	if (path->up == NULL || path->key == NULL)
		return false;
	for (i = 0; i < lengthof(condition_keys); i++)
		if (path->keylen == strlen(condition_keys[i]) &&
			memcmp(path->key, condition_keys[i], path->keylen) == 0)
			return true;
	return false;
}

/*
 * check_templates parses every template in a (normalised) value: strings
 * with "{{", "{%" or "{#", and conditions, which may be bare expressions.
 * A malformed template, or one outside noetl's subset, is refused with its
 * location (workflow[1].args.id: template error at line 1, column 8: ...).
 */
static void
check_templates(JsonbValue *v, const PathElem *path)
{
	PathElem	child;
	int			i;

	CHECK_FOR_INTERRUPTS();
	check_stack_depth();
	child.up = path;
	if (v->type == jbvString)
	{
		const char *p = v->val.string.val;
		int			len = v->val.string.len;
		bool		markup = false;

		for (i = 0; i + 1 < len; i++)
			if (p[i] == '{' && (p[i + 1] == '{' || p[i + 1] == '%' || p[i + 1] == '#'))
			{
				markup = true;
				break;
			}
		if (markup)
			tpl_check_playbook_template(p, len, path_text, (void *) path);
		else if (len > 0 && is_condition_key(path))
		{
			/* a bare condition is evaluated as {{ condition }} */
			char	   *wrapped = psprintf("{{ %.*s }}", len, p);

			tpl_check_playbook_template(wrapped, strlen(wrapped), path_text, (void *) path);
		}
		return;
	}
	if (v->type == jbvArray)
	{
		child.key = NULL;
		child.keylen = 0;
		for (i = 0; i < v->val.array.nElems; i++)
		{
			child.index = i;
			check_templates(&v->val.array.elems[i], &child);
		}
		return;
	}
	if (v->type == jbvObject)
	{
		child.index = 0;
		for (i = 0; i < v->val.object.nPairs; i++)
		{
			JsonbPair  *pair = &v->val.object.pairs[i];

			child.key = pair->key.val.string.val;
			child.keylen = pair->key.val.string.len;
			check_templates(&pair->value, &child);
		}
	}
}

/* check_templates_at checks the templates of v, found at location loc */
static void
check_templates_at(JsonbValue *v, const char *loc)
{
	PathElem	root;

	root.up = NULL;
	root.key = loc;
	root.keylen = strlen(loc);
	root.index = 0;
	check_templates(v, &root);
}

/*
 * meta_string returns the string value of key in obj (NULL if obj is NULL,
 * or the value is absent, null or empty, as Python's "or" would skip it),
 * and refuses a value of another type.
 */
static char *
meta_string(JsonbValue *obj, const char *key, const char *loc)
{
	JsonbValue *v = obj ? jt_get(obj, key) : NULL;

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
	{
		if (loc == NULL)
			pb_error(key, "must be a string, not %s", jt_type_name(v));
		pb_error(loc, "\"%s\" must be a string, not %s", key, jt_type_name(v));
	}
	if (v->val.string.len == 0)
		return NULL;
	return jt_cstring(v);
}

/*
 * noetl_normalize_playbook validates a parsed document and returns its
 * normalised form; *path_out receives the catalog path.
 */
JsonbValue *
noetl_normalize_playbook(JsonbValue *doc, char **path_out, List **warnings)
{
	Playbook	pb;
	JsonbValue *out;
	JsonbValue *meta;
	JsonbValue *kind;
	JsonbValue *workflow;
	JsonbValue *workbook;
	JsonbValue *workload;
	char	   *path;
	char	   *name;
	bool		need_workload;
	int			i;
	int			n;

	memset(&pb, 0, sizeof(pb));
	pb_warnings = NIL;
	pb_warnings_left_out = 0;
	else_bytes = 0;
	if (doc->type != jbvObject)
		pb_error(NULL, "document is not a playbook: expected a mapping with a \"workflow\" list, found %s",
				 jt_type_name(doc));
	out = jt_copy(doc);

	kind = jt_get(out, "kind");
	if (kind && !(kind->type == jbvString &&
				  pg_strncasecmp(kind->val.string.val, "playbook", kind->val.string.len) == 0 &&
				  kind->val.string.len == 8))
		pb_error(NULL, "document is not a playbook: its kind is %s",
				 kind->type == jbvString ? psprintf("\"%s\"", jt_cstring(kind)) : jt_type_name(kind));
	pb_warn_unknown_keys(out, PB_KEYS_DOCUMENT, NULL);
	/* era B read "steps" where "workflow" is missing */
	if (jt_get(out, "steps") != NULL)
	{
		if (jt_get(out, "workflow") == NULL)
			jt_set(out, "workflow", jt_copy(jt_get(out, "steps")));
		else
			pb_warn("steps", "\"steps\" beside \"workflow\" is ignored, as NoETL ignored it");
		jt_delete(out, "steps");
	}
	if (jt_get(out, "workflow") == NULL)
		pb_error(NULL, "document is not a playbook: it has no \"workflow\"");
	meta = jt_get(out, "metadata");
	if (meta != NULL && meta->type != jbvObject && meta->type != jbvNull)
		pb_error("metadata", "expected a mapping, found %s", jt_type_name(meta));
	if (meta != NULL && meta->type == jbvNull)
		meta = NULL;

	/*
	 * NoETL's catalog took the first of metadata.path, path, metadata.name
	 * and name (the older v1 form had no metadata), an empty one counting
	 * as absent (catalog/service.py register_resource, in both eras).
	 */
	path = meta_string(meta, "path", "metadata");
	if (path == NULL)
		path = meta_string(out, "path", NULL);
	name = meta_string(meta, "name", "metadata");
	if (name == NULL)
		name = meta_string(out, "name", NULL);
	if (path == NULL)
		path = name;
	if (path == NULL)
		pb_error("metadata", "playbook has neither \"path\" nor \"name\"");
	if (name == NULL)
		name = path;
	workload = jt_get(out, "workload");
	if (workload && workload->type != jbvNull && workload->type != jbvObject)
		pb_error("workload", "expected a mapping, found %s", jt_type_name(workload));

	workflow = jt_get(out, "workflow");
	if (workflow->type != jbvArray)
		pb_error("workflow", "expected a list of steps, found %s", jt_type_name(workflow));
	n = workflow->val.array.nElems;
	if (n == 0)
		pb_error("workflow", "the workflow has no steps");

	/* workbook entries: named tasks that steps refer to */
	workbook = jt_get(out, "workbook");
	if (workbook && workbook->type != jbvNull)
	{
		int			nw;
		int			twice = -1;

		if (workbook->type != jbvArray)
			pb_error("workbook", "expected a list of tasks, found %s", jt_type_name(workbook));

		/*
		 * Entry names: the first entry whose name an earlier one has is
		 * refused when the loop below reaches it, so that problems are
		 * reported in document order.
		 */
		nw = workbook->val.array.nElems;
		names_init(&pb.tasks, nw);
		for (i = 0; i < nw; i++)
		{
			JsonbValue *nm = jt_get(&workbook->val.array.elems[i], "name");

			CHECK_FOR_INTERRUPTS();
			if (nm != NULL && nm->type == jbvString && nm->val.string.len > 0)
				names_add(&pb.tasks, jt_cstring(nm), nm->val.string.len, i);
		}
		names_sort(&pb.tasks);
		twice = names_first_repeat(&pb.tasks, NULL);

		for (i = 0; i < nw; i++)
		{
			JsonbValue *e = &workbook->val.array.elems[i];
			char	   *loc = psprintf("workbook[%d]", i);
			char	   *ename;
			char	   *tool;

			CHECK_FOR_INTERRUPTS();
			if (e->type != jbvObject)
				pb_error(loc, "expected a mapping, found %s", jt_type_name(e));
			pb_warn_unknown_keys(e, PB_KEYS_STEP, loc);
			ename = pb_optional_string(e, "name", loc);
			if (ename == NULL)
				pb_error(loc, "workbook task has no \"name\"");
			if (i == twice)
				pb_error(loc, "workbook task \"%s\" is defined twice", ename);
			tool = pb_normalize_task(e, loc);
			if (tool == NULL)
				pb_error(loc, "workbook task \"%s\" has no tool", ename);
			if (strcmp(tool, "workbook") == 0)
				pb_error(loc, "a workbook task cannot refer to another workbook task");
		}
		pb.workbook = workbook;
	}

	/* step names: present, strings, unique; "start" among them */
	names_init(&pb.steps, n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *s = &workflow->val.array.elems[i];
		char	   *loc = psprintf("workflow[%d]", i);
		JsonbValue *nm;

		CHECK_FOR_INTERRUPTS();
		if (s->type != jbvObject)
			pb_error(loc, "expected a step mapping, found %s", jt_type_name(s));
		nm = jt_get(s, "step");
		if (nm == NULL)
			pb_error(loc, "step has no \"step\" name");
		if (nm->type != jbvString)
			pb_error(loc, "step name must be a string, not %s", jt_type_name(nm));
		if (nm->val.string.len == 0)
			pb_error(loc, "step name must not be empty");
		if (item_like(nm->val.string.val, nm->val.string.len))
			pb_error(loc, "step name \"%s\" ends in an index in brackets (or \"[save]\"), as the names of a loop's tasks do",
					 jt_cstring(nm));
		names_add(&pb.steps, jt_cstring(nm), nm->val.string.len, i);
	}
	names_sort(&pb.steps);
	{
		int			first;
		int			twice = names_first_repeat(&pb.steps, &first);

		if (twice >= 0)
			pb_error(psprintf("workflow[%d]", twice),
					 "step \"%s\" is defined twice (first at workflow[%d])",
					 jt_cstring(jt_get(&workflow->val.array.elems[twice], "step")), first);
	}
	if (find_step(&pb, "start") < 0)
		pb_error("workflow", "the workflow has no \"start\" step");

	for (i = 0; i < n; i++)
	{
		JsonbValue *s = &workflow->val.array.elems[i];
		char	   *loc = psprintf("workflow[%d]", i);
		char	   *tool;
		JsonbValue *next;

		CHECK_FOR_INTERRUPTS();
		pb_warn_unknown_keys(s, PB_KEYS_STEP, loc);
		tool = pb_normalize_task(s, loc);
		if (tool && strcmp(tool, "workbook") == 0)
			resolve_workbook(&pb, s, loc);
		next = jt_get(s, "next");
		if (next)
			jt_set(s, "next", normalize_next(&pb, next, psprintf("%s.next", loc)));
		else
			jt_set(s, "next", jt_array());
	}

	/*
	 * Top-level edits come last: they move the values that workflow and
	 * workbook point into.
	 */
	need_workload = (workload == NULL || workload->type == jbvNull);
	if (workbook && workbook->type == jbvNull)
		jt_delete(out, "workbook");
	if (need_workload)
		jt_set(out, "workload", jt_object());
	jt_set(out, "path", jt_string(path));
	jt_set(out, "name", jt_string(name));

	/* every template must parse and stay inside the subset */
	workflow = jt_get(out, "workflow");
	for (i = 0; i < workflow->val.array.nElems; i++)
		check_templates_at(&workflow->val.array.elems[i], psprintf("workflow[%d]", i));
	workbook = jt_get(out, "workbook");
	if (workbook)
		for (i = 0; i < workbook->val.array.nElems; i++)
			check_templates_at(&workbook->val.array.elems[i], psprintf("workbook[%d]", i));
	workload = jt_get(out, "workload");
	check_templates_at(workload, "workload");
	*path_out = path;
	if (pb_warnings_left_out > 0)
		pb_warnings = lappend(pb_warnings,
							  psprintf("%d more warnings left out", pb_warnings_left_out));
	if (warnings != NULL)
		*warnings = pb_warnings;
	pb_warnings = NIL;
	return out;
}
