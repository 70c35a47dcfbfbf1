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
 *					 loop?: {collection, element, mode, max_in_flight?},
 *					 sink?: {tool, ...}, retry?, ...other fields as written}
 *
 * A step without a tool, or with one of the control tools (start, end,
 * route, router), is a control step.  "type: workbook" steps are resolved
 * against the playbook's workbook here, once, with the step's own fields
 * winning over the workbook entry's.
 *
 * Anything that would make the broker guess is refused with SQLSTATE 22023
 * and a message that starts with the location of the problem, in the form
 * workflow[3].next[0] (indexes count from zero).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "noetl.h"
#include "template.h"

/* keys that NoETL accepted over time for a step's inputs, lowest priority first */
static const char *const args_aliases[] = {
	"data", "payload", "input", "params", "with", "args"
};

/* tools that make a step a control step */
static const char *const control_tools[] = {
	"start", "end", "route", "router"
};

typedef struct StepName
{
	char	   *name;
	int			index;
} StepName;

typedef struct Playbook
{
	JsonbValue *workflow;		/* normalised steps */
	StepName   *names;			/* step names, sorted */
	int			nnames;
	JsonbValue *workbook;		/* normalised workbook entries, or NULL */
} Playbook;

static void pb_error(const char *loc, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/*
 * pb_error raises a validation error whose message starts with loc (unless
 * loc is NULL, for problems with the document as a whole).
 */
static void
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

static int
stepname_cmp(const void *a, const void *b)
{
	return strcmp(((const StepName *) a)->name, ((const StepName *) b)->name);
}

/* find_step returns the index of a step, or -1 */
static int
find_step(Playbook *pb, const char *name)
{
	StepName	key;
	StepName   *hit;

	key.name = (char *) name;
	hit = bsearch(&key, pb->names, pb->nnames, sizeof(StepName), stepname_cmp);
	return hit ? hit->index : -1;
}

/* noetl_in_list says whether s is one of the n strings of list */
bool
noetl_in_list(const char *s, const char *const *list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/*
 * require_string returns the string value of key in obj, NULL if absent,
 * and refuses any other type or an empty string.
 */
static char *
optional_string(JsonbValue *obj, const char *key, const char *loc)
{
	JsonbValue *v = jt_get(obj, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		pb_error(loc, "\"%s\" must be a string, not %s", key, jt_type_name(v));
	if (v->val.string.len == 0)
		pb_error(loc, "\"%s\" must not be empty", key);
	return jt_cstring(v);
}

/*
 * unify_tool turns "type" into "tool", refusing the two when they disagree.
 * Returns the tool, or NULL for none.
 */
static char *
unify_tool(JsonbValue *obj, const char *loc)
{
	char	   *tool = optional_string(obj, "tool", loc);
	char	   *type = optional_string(obj, "type", loc);

	if (tool && type && strcmp(tool, type) != 0)
		pb_error(loc, "\"tool\" and \"type\" disagree (\"%s\" and \"%s\")", tool, type);
	if (type)
	{
		jt_delete(obj, "type");
		tool = type;
		jt_set(obj, "tool", jt_string(tool));
	}
	return tool;
}

/*
 * unify_args merges the input aliases of obj into "args".  Mappings are
 * merged, later aliases in args_aliases winning; a single non-mapping value
 * (a template such as "{{ workload }}") is kept as it is.
 */
static void
unify_args(JsonbValue *obj, const char *loc)
{
	JsonbValue *merged = NULL;
	const char *merged_from = NULL;
	int			i;

	for (i = 0; i < lengthof(args_aliases); i++)
	{
		JsonbValue *v = jt_get(obj, args_aliases[i]);
		int			j;

		if (v == NULL)
			continue;
		v = jt_copy(v);
		jt_delete(obj, args_aliases[i]);
		if (merged == NULL)
		{
			merged = v;
			merged_from = args_aliases[i];
			continue;
		}
		if (merged->type != jbvObject || v->type != jbvObject)
			pb_error(loc, "cannot merge \"%s\" into \"%s\": both must be mappings",
					 merged_from, args_aliases[i]);
		for (j = 0; j < v->val.object.nPairs; j++)
		{
			JsonbPair  *p = &v->val.object.pairs[j];

			jt_set(merged, pnstrdup(p->key.val.string.val, p->key.val.string.len),
				   &p->value);
		}
	}
	if (merged != NULL)
		jt_set(obj, "args", merged);
}

/*
 * normalize_sink rewrites a "save:" or "sink:" block into {tool, ...}:
 * "type" becomes "tool", and NoETL's older "storage: postgres" or
 * "storage: {type: postgres, ...}" is lifted into the sink itself.
 */
static void
normalize_sink(JsonbValue *obj, const char *loc)
{
	JsonbValue *sink = jt_get(obj, "sink");
	JsonbValue *save = jt_get(obj, "save");
	JsonbValue *storage;
	char	   *sloc;

	if (sink && save)
		pb_error(loc, "a step cannot have both \"sink\" and \"save\"");
	if (save)
	{
		sink = jt_copy(save);
		jt_delete(obj, "save");
	}
	if (sink == NULL)
		return;
	sloc = psprintf("%s.sink", loc);
	if (sink->type != jbvObject)
		pb_error(sloc, "expected a mapping, found %s", jt_type_name(sink));
	storage = jt_get(sink, "storage");
	if (storage && storage->type == jbvString)
	{
		if (jt_get(sink, "tool") || jt_get(sink, "type"))
			pb_error(sloc, "\"storage\" and \"tool\" cannot both be given");
		jt_set(sink, "tool", storage);
		jt_delete(sink, "storage");
	}
	else if (storage && storage->type == jbvObject)
	{
		JsonbValue *st = jt_copy(storage);
		int			i;

		jt_delete(sink, "storage");
		(void) unify_tool(st, psprintf("%s.storage", sloc));
		for (i = 0; i < st->val.object.nPairs; i++)
		{
			JsonbPair  *p = &st->val.object.pairs[i];
			char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);

			if (jt_get(sink, k))
				pb_error(sloc, "\"%s\" is given both in the sink and in its \"storage\"", k);
			jt_set(sink, k, &p->value);
		}
	}
	else if (storage)
		pb_error(sloc, "\"storage\" must be a string or a mapping, not %s",
				 jt_type_name(storage));
	(void) unify_tool(sink, sloc);
	jt_set(obj, "sink", sink);
}

/*
 * normalize_when checks a condition: a template string or a boolean.
 */
static void
check_when(JsonbValue *when, const char *loc)
{
	if (when->type != jbvString && when->type != jbvBool)
		pb_error(loc, "\"when\" must be a string or a boolean, not %s",
				 jt_type_name(when));
}

/*
 * next_target normalises one transition target (a step name or a mapping
 * with "step") into {step, when?, args?}, checking that the step exists.
 */
static JsonbValue *
next_target(Playbook *pb, JsonbValue *e, const char *loc, JsonbValue *when)
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

		for (i = 0; i < copy->val.object.nPairs; i++)
		{
			JsonbPair  *p = &copy->val.object.pairs[i];
			char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);

			if (strcmp(k, "step") != 0 && strcmp(k, "when") != 0 &&
				strcmp(k, "desc") != 0 &&
				!noetl_in_list(k, args_aliases, lengthof(args_aliases)))
			{
				if (s == NULL)
					pb_error(loc, "malformed next entry: expected \"step\", found key \"%s\"", k);
				pb_error(loc, "malformed next entry: unexpected key \"%s\"", k);
			}
		}
		if (s == NULL)
			pb_error(loc, "malformed next entry: it has no \"step\"");
		if (s->type != jbvString || s->val.string.len == 0)
			pb_error(loc, "malformed next entry: \"step\" must be a non-empty string");
		step = jt_cstring(s);
		if (jt_get(copy, "when"))
		{
			if (when)
				pb_error(loc, "a \"then\" target cannot have its own \"when\"");
			when = jt_copy(jt_get(copy, "when"));
			check_when(when, loc);
		}
		unify_args(copy, loc);
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
 * as_list returns v if it is an array, else a one-element array holding v.
 */
static JsonbValue *
as_list(JsonbValue *v)
{
	JsonbValue *arr;

	if (v->type == jbvArray)
		return v;
	arr = jt_array();
	jt_append(arr, v);
	return arr;
}

/*
 * normalize_next turns every spelling of "next" into a list of targets:
 * a name, a list of names, a mapping, a list of mappings with "step", and
 * NoETL's {when, then: [...]} form, whose condition applies to each target.
 */
static JsonbValue *
normalize_next(Playbook *pb, JsonbValue *next, const char *loc)
{
	JsonbValue *out = jt_array();
	JsonbValue *list;
	bool		single = (next->type == jbvString || next->type == jbvObject);
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

		if (then != NULL)
		{
			JsonbValue *when = jt_get(e, "when");
			JsonbValue *targets;
			int			k;
			int			i;

			for (i = 0; i < e->val.object.nPairs; i++)
			{
				JsonbPair  *p = &e->val.object.pairs[i];
				char	   *key = pnstrdup(p->key.val.string.val, p->key.val.string.len);

				if (strcmp(key, "when") != 0 && strcmp(key, "then") != 0 &&
					strcmp(key, "desc") != 0)
					pb_error(eloc, "malformed next entry: unexpected key \"%s\" beside \"then\"", key);
			}
			if (when)
				check_when(when, eloc);
			targets = as_list(then);
			for (k = 0; k < targets->val.array.nElems; k++)
				jt_append(out, next_target(pb, &targets->val.array.elems[k],
										   psprintf("%s.then[%d]", eloc, k), when));
		}
		else
			jt_append(out, next_target(pb, e, eloc, NULL));
	}
	return out;
}

/*
 * normalize_loop unifies "loop: {collection|in, element|iterator, mode,
 * max_in_flight}" (and the fields of NoETL's older iterator step, passed in
 * the same mapping) into {collection, element, mode, max_in_flight?}.
 */
static JsonbValue *
normalize_loop(JsonbValue *raw, const char *loc)
{
	JsonbValue *out = jt_object();
	JsonbValue *collection;
	JsonbValue *element;
	JsonbValue *mode;
	JsonbValue *mif;
	int			i;

	if (raw->type != jbvObject)
		pb_error(loc, "expected a mapping, found %s", jt_type_name(raw));
	for (i = 0; i < raw->val.object.nPairs; i++)
	{
		JsonbPair  *p = &raw->val.object.pairs[i];
		char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);
		static const char *const known[] = {
			"collection", "in", "element", "iterator", "mode", "max_in_flight"
		};

		if (!noetl_in_list(k, known, lengthof(known)))
			pb_error(loc, "unrecognized loop setting \"%s\"", k);
	}
	collection = jt_get(raw, "collection");
	if (collection && jt_get(raw, "in"))
		pb_error(loc, "\"collection\" and \"in\" cannot both be given");
	if (collection == NULL)
		collection = jt_get(raw, "in");
	if (collection == NULL)
		pb_error(loc, "loop has no \"collection\"");
	if (collection->type != jbvString && collection->type != jbvArray)
		pb_error(loc, "\"collection\" must be a template string or a list, not %s",
				 jt_type_name(collection));
	element = jt_get(raw, "element");
	if (element && jt_get(raw, "iterator"))
		pb_error(loc, "\"element\" and \"iterator\" cannot both be given");
	if (element == NULL)
		element = jt_get(raw, "iterator");
	if (element == NULL)
		pb_error(loc, "loop has no \"element\"");
	if (element->type != jbvString || element->val.string.len == 0)
		pb_error(loc, "\"element\" must be a non-empty string");
	jt_set(out, "collection", collection);
	jt_set(out, "element", element);

	mode = jt_get(raw, "mode");
	if (mode == NULL)
		jt_set(out, "mode", jt_string("sequential"));
	else if (jt_is_string(mode, "sequential") || jt_is_string(mode, "parallel"))
		jt_set(out, "mode", mode);
	else if (jt_is_string(mode, "async"))
		jt_set(out, "mode", jt_string("parallel"));
	else
		pb_error(loc, "loop mode must be \"sequential\", \"parallel\" or \"async\"");

	mif = jt_get(raw, "max_in_flight");
	if (mif)
	{
		bool		ok = false;

		if (mif->type == jbvNumeric)
		{
			char	   *txt = DatumGetCString(DirectFunctionCall1(numeric_out,
																  NumericGetDatum(mif->val.numeric)));
			char	   *end;
			long		n = strtol(txt, &end, 10);

			ok = (*end == '\0' && n >= 1 && n <= INT_MAX);
		}
		if (!ok)
			pb_error(loc, "\"max_in_flight\" must be a positive integer");
		jt_set(out, "max_in_flight", mif);
	}
	return out;
}

/*
 * check_retry checks the shape of a retry policy: true/false, a number of
 * attempts, or a mapping of the settings NoETL knows.
 */
static void
check_retry(JsonbValue *retry, const char *loc)
{
	static const char *const known[] = {
		"max_attempts", "initial_delay", "backoff_multiplier", "max_delay",
		"jitter", "retry_when", "stop_when", "retry_on", "delay"
	};
	int			i;

	if (retry->type == jbvBool || retry->type == jbvNumeric || retry->type == jbvNull)
		return;
	if (retry->type != jbvObject)
		pb_error(loc, "retry must be true, false, a number of attempts or a mapping, not %s",
				 jt_type_name(retry));
	for (i = 0; i < retry->val.object.nPairs; i++)
	{
		JsonbPair  *p = &retry->val.object.pairs[i];
		char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);

		if (!noetl_in_list(k, known, lengthof(known)))
			pb_error(loc, "unrecognized retry setting \"%s\"", k);
	}
}

/*
 * normalize_task normalises the parts every task shares, whether it is a
 * workflow step or a workbook entry: tool, inputs, sink, retry, loop.
 * Returns the tool, NULL for a control step.
 */
static char *
normalize_task(JsonbValue *obj, const char *loc)
{
	char	   *tool = unify_tool(obj, loc);
	JsonbValue *v;

	if (tool && strcmp(tool, "iterator") == 0)
	{
		/* NoETL's older loop: the body is under "task:" */
		JsonbValue *task = jt_get(obj, "task");
		JsonbValue *loop = jt_object();
		char	   *tloc = psprintf("%s.task", loc);
		static const char *const loopkeys[] = {
			"collection", "in", "element", "iterator", "mode", "max_in_flight"
		};
		int			i;

		if (jt_get(obj, "loop"))
			pb_error(loc, "an iterator step cannot also have \"loop\"");
		if (task == NULL || task->type != jbvObject)
			pb_error(loc, "iterator step has no \"task\" mapping");
		/* copy before editing obj: edits move the values jt_get points to */
		task = jt_copy(task);
		for (i = 0; i < lengthof(loopkeys); i++)
		{
			v = jt_get(obj, loopkeys[i]);
			if (v)
			{
				jt_set(loop, loopkeys[i], jt_copy(v));
				jt_delete(obj, loopkeys[i]);
			}
		}
		jt_delete(obj, "task");
		jt_delete(obj, "tool");
		tool = unify_tool(task, tloc);
		if (tool == NULL || strcmp(tool, "iterator") == 0)
			pb_error(tloc, "iterator task must name a tool other than \"iterator\"");
		for (i = 0; i < task->val.object.nPairs; i++)
		{
			JsonbPair  *p = &task->val.object.pairs[i];
			char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);

			if (strcmp(k, "step") == 0 || strcmp(k, "next") == 0)
				pb_error(tloc, "\"%s\" is not allowed inside an iterator task", k);
			if (jt_get(obj, k) && strcmp(k, "desc") != 0)
				pb_error(tloc, "\"%s\" is given both in the step and in its task", k);
			jt_set(obj, k, &p->value);
		}
		jt_set(obj, "loop", loop);
	}
	if (tool && noetl_in_list(tool, control_tools, lengthof(control_tools)))
	{
		jt_delete(obj, "tool");
		tool = NULL;
	}
	unify_args(obj, loc);
	normalize_sink(obj, loc);
	v = jt_get(obj, "retry");
	if (v)
		check_retry(v, psprintf("%s.retry", loc));
	v = jt_get(obj, "loop");
	if (v)
		jt_set(obj, "loop", normalize_loop(v, psprintf("%s.loop", loc)));
	if (tool && strcmp(tool, "playbook") == 0 && optional_string(obj, "path", loc) == NULL)
		pb_error(loc, "a playbook step needs \"path\"");
	return tool;
}

/*
 * find_workbook returns the workbook entry called name, or NULL.
 */
static JsonbValue *
find_workbook(Playbook *pb, const char *name)
{
	int			i;

	if (pb->workbook == NULL)
		return NULL;
	for (i = 0; i < pb->workbook->val.array.nElems; i++)
	{
		JsonbValue *e = &pb->workbook->val.array.elems[i];

		if (jt_is_string(jt_get(e, "name"), name))
			return e;
	}
	return NULL;
}

/*
 * resolve_workbook replaces a "tool: workbook" step's tool with its
 * workbook entry's, copying the entry's fields the step does not set
 * (args are merged, the step's winning).
 */
static void
resolve_workbook(Playbook *pb, JsonbValue *step, const char *loc)
{
	char	   *name = optional_string(step, "name", loc);
	JsonbValue *entry;
	JsonbValue *eargs;
	JsonbValue *sargs;
	int			i;

	if (name == NULL)
		pb_error(loc, "workbook step has no \"name\"");
	entry = find_workbook(pb, name);
	if (entry == NULL)
		pb_error(loc, "workbook task \"%s\" does not exist", name);
	eargs = jt_get(entry, "args");
	sargs = jt_get(step, "args");
	if (sargs)
		sargs = jt_copy(sargs);
	for (i = 0; i < entry->val.object.nPairs; i++)
	{
		JsonbPair  *p = &entry->val.object.pairs[i];
		char	   *k = pnstrdup(p->key.val.string.val, p->key.val.string.len);

		if (strcmp(k, "name") == 0 || strcmp(k, "args") == 0)
			continue;
		if (strcmp(k, "tool") == 0 || jt_get(step, k) == NULL)
			jt_set(step, k, jt_copy(&p->value));
	}
	if (eargs && sargs && eargs->type == jbvObject && sargs->type == jbvObject)
	{
		JsonbValue *merged = jt_copy(eargs);

		for (i = 0; i < sargs->val.object.nPairs; i++)
		{
			JsonbPair  *p = &sargs->val.object.pairs[i];

			jt_set(merged, pnstrdup(p->key.val.string.val, p->key.val.string.len),
				   &p->value);
		}
		jt_set(step, "args", merged);
	}
	else if (eargs && !sargs)
		jt_set(step, "args", jt_copy(eargs));
	jt_set(step, "workbook", jt_string(name));
}

/* keys whose string values are conditions, written with or without {{ }} */
static const char *const condition_keys[] = {"when", "retry_when", "stop_when"};

/*
 * check_templates parses every template in a (normalised) value: strings
 * with "{{", "{%" or "{#", and conditions, which may be bare expressions.
 * A malformed template, or one outside noetl's subset, is refused with its
 * location (workflow[1].args.id: template error at line 1, column 8: ...).
 */
static void
check_templates(JsonbValue *v, const char *loc, const char *key)
{
	int			i;

	CHECK_FOR_INTERRUPTS();
	check_stack_depth();
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
			tpl_check_playbook_template(p, len, loc);
		else if (key && noetl_in_list(key, condition_keys, lengthof(condition_keys)) && len > 0)
		{
			/* a bare condition is evaluated as {{ condition }} */
			char	   *wrapped = psprintf("{{ %.*s }}", len, p);

			tpl_check_playbook_template(wrapped, strlen(wrapped), loc);
		}
		return;
	}
	if (v->type == jbvArray)
	{
		for (i = 0; i < v->val.array.nElems; i++)
			check_templates(&v->val.array.elems[i], psprintf("%s[%d]", loc, i), NULL);
		return;
	}
	if (v->type == jbvObject)
	{
		for (i = 0; i < v->val.object.nPairs; i++)
		{
			JsonbPair  *pair = &v->val.object.pairs[i];
			char	   *k = pnstrdup(pair->key.val.string.val, pair->key.val.string.len);

			check_templates(&pair->value, psprintf("%s.%s", loc, k), k);
		}
	}
}

/*
 * noetl_normalize_playbook validates a parsed document and returns its
 * normalised form; *path_out receives the catalog path.
 */
JsonbValue *
noetl_normalize_playbook(JsonbValue *doc, char **path_out)
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
	if (jt_get(out, "workflow") == NULL)
		pb_error(NULL, "document is not a playbook: it has no \"workflow\"");
	meta = jt_get(out, "metadata");
	if (meta == NULL || meta->type != jbvObject)
		pb_error("metadata", "playbook has no \"metadata\" mapping");
	path = optional_string(meta, "path", "metadata");
	name = optional_string(meta, "name", "metadata");
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
		if (workbook->type != jbvArray)
			pb_error("workbook", "expected a list of tasks, found %s", jt_type_name(workbook));
		for (i = 0; i < workbook->val.array.nElems; i++)
		{
			JsonbValue *e = &workbook->val.array.elems[i];
			char	   *loc = psprintf("workbook[%d]", i);
			char	   *ename;
			char	   *tool;
			int			j;

			if (e->type != jbvObject)
				pb_error(loc, "expected a mapping, found %s", jt_type_name(e));
			ename = optional_string(e, "name", loc);
			if (ename == NULL)
				pb_error(loc, "workbook task has no \"name\"");
			for (j = 0; j < i; j++)
				if (jt_is_string(jt_get(&workbook->val.array.elems[j], "name"), ename))
					pb_error(loc, "workbook task \"%s\" is defined twice", ename);
			tool = normalize_task(e, loc);
			if (tool == NULL)
				pb_error(loc, "workbook task \"%s\" has no tool", ename);
			if (strcmp(tool, "workbook") == 0)
				pb_error(loc, "a workbook task cannot refer to another workbook task");
		}
		pb.workbook = workbook;
	}

	/* step names: present, strings, unique; "start" among them */
	pb.names = palloc(sizeof(StepName) * n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *s = &workflow->val.array.elems[i];
		char	   *loc = psprintf("workflow[%d]", i);
		JsonbValue *nm;

		if (s->type != jbvObject)
			pb_error(loc, "expected a step mapping, found %s", jt_type_name(s));
		nm = jt_get(s, "step");
		if (nm == NULL)
			pb_error(loc, "step has no \"step\" name");
		if (nm->type != jbvString)
			pb_error(loc, "step name must be a string, not %s", jt_type_name(nm));
		if (nm->val.string.len == 0)
			pb_error(loc, "step name must not be empty");
		pb.names[i].name = jt_cstring(nm);
		pb.names[i].index = i;
	}
	qsort(pb.names, n, sizeof(StepName), stepname_cmp);
	pb.nnames = n;
	for (i = 1; i < n; i++)
		if (strcmp(pb.names[i - 1].name, pb.names[i].name) == 0)
		{
			int			first = Min(pb.names[i - 1].index, pb.names[i].index);
			int			second = Max(pb.names[i - 1].index, pb.names[i].index);

			pb_error(psprintf("workflow[%d]", second),
					 "step \"%s\" is defined twice (first at workflow[%d])",
					 pb.names[i].name, first);
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
		tool = normalize_task(s, loc);
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
		check_templates(&workflow->val.array.elems[i], psprintf("workflow[%d]", i), NULL);
	workbook = jt_get(out, "workbook");
	if (workbook)
		for (i = 0; i < workbook->val.array.nElems; i++)
			check_templates(&workbook->val.array.elems[i], psprintf("workbook[%d]", i), NULL);
	workload = jt_get(out, "workload");
	check_templates(workload, "workload", NULL);
	*path_out = path;
	return out;
}
