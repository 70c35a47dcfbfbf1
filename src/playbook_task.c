/*-------------------------------------------------------------------------
 *
 * playbook_task.c
 *	  Normalising what every task of a playbook has: its tool, inputs,
 *	  sink, loop, retry policy and settings.
 *
 * A task is a workflow step or a workbook entry.  NoETL spelled each of
 * these parts several ways over time; this file rewrites them into the one
 * shape the broker reads (playbook.c describes it), and refuses settings
 * the broker or a worker would take out of range: retries, delays,
 * priorities and timeouts are checked against the bounds below.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "jtree.h"
#include "playbook.h"

/* keys that NoETL accepted over time for a step's inputs, lowest priority first */
static const char *const args_aliases[] = {
	"data", "payload", "input", "params", "with", "args"
};

/* tools that make a step a control step */
static const char *const control_tools[] = {
	"start", "end", "route", "router"
};

/* bounds of the settings the broker and the workers read */
#define MAX_ATTEMPTS		10000
#define MAX_SECONDS			31536000	/* one year */
#define MAX_BACKOFF			1000
#define MAX_PRIORITY		1000000

/* pb_is_args_alias says whether k is one of the keys NoETL took for inputs */
bool
pb_is_args_alias(const char *k)
{
	return pb_in_list(k, args_aliases, lengthof(args_aliases));
}

/*
 * pb_optional_string returns the string value of key in obj, NULL if absent,
 * and refuses any other type or an empty string.
 */
char *
pb_optional_string(JsonbValue *obj, const char *key, const char *loc)
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
	char	   *tool = pb_optional_string(obj, "tool", loc);
	char	   *type = pb_optional_string(obj, "type", loc);

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
 * pb_unify_args merges the input aliases of obj into "args".  Mappings are
 * merged, later aliases in args_aliases winning; a single non-mapping value
 * (a template such as "{{ workload }}") is kept as it is.
 */
void
pb_unify_args(JsonbValue *obj, const char *loc)
{
	JsonbValue *merged = NULL;
	const char *merged_from = NULL;
	int			i;

	for (i = 0; i < lengthof(args_aliases); i++)
	{
		JsonbValue *v = jt_get(obj, args_aliases[i]);

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
		(void) jt_merge(merged, v, false);
	}
	if (merged != NULL)
		jt_set(obj, "args", merged);
}

/*
 * normalize_sink rewrites a "save:" or "sink:" block into {tool, ...,
 * on_error}: "type" becomes "tool", and NoETL's older "storage: postgres"
 * or "storage: {type: postgres, ...}" is lifted into the sink itself.
 *
 * on_error says what a failed sink does, as loops' on_item_error says
 * what a failed item does.  Era C's "sink:" failed the step
 * (_result_indicates_error @32245391): "fail".  Era B's "save:" recorded
 * its error in the result's meta.save_error and the step succeeded
 * (worker.py @58c2a16b): "continue"; but the per-item save of an
 * iterator's task failed its item (iterator/execution.py @58c2a16b,
 * execute_per_item_save), so a save that comes from an iterator's task
 * gets "fail" (the iterator's on_item_error then keeps the loop going).
 * A step may say either in its sink.
 */
static void
normalize_sink(JsonbValue *obj, const char *loc, bool per_item)
{
	JsonbValue *sink = jt_get(obj, "sink");
	JsonbValue *save = jt_get(obj, "save");
	JsonbValue *storage;
	JsonbValue *on_error;
	bool		era_b = save != NULL;
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
		int			twice;

		jt_delete(sink, "storage");
		(void) unify_tool(st, psprintf("%s.storage", sloc));
		twice = jt_merge(sink, st, false);
		if (twice >= 0)
			pb_error(sloc, "\"%s\" is given both in the sink and in its \"storage\"",
					 jt_cstring(&st->val.object.pairs[twice].key));
	}
	else if (storage)
		pb_error(sloc, "\"storage\" must be a string or a mapping, not %s",
				 jt_type_name(storage));
	(void) unify_tool(sink, sloc);
	on_error = jt_get(sink, "on_error");
	if (on_error == NULL || on_error->type == jbvNull)
		jt_set(sink, "on_error", jt_string(era_b && !per_item ? "continue" : "fail"));
	else if (!(on_error->type == jbvString &&
			   (jt_is_string(on_error, "continue") || jt_is_string(on_error, "fail"))))
		pb_error(sloc, "\"on_error\" must be \"continue\" or \"fail\", not %s",
				 on_error->type == jbvString ? psprintf("\"%s\"", jt_cstring(on_error)) :
				 jt_type_name(on_error));
	jt_set(obj, "sink", sink);
}

static const char *value_text(JsonbValue *v);

/*
 * loop_count checks an iterator setting that NoETL read with int(): an
 * integer from lo to INT_MAX, a string of one, or a template (rendered
 * when the loop runs).  Returns whether it is one.
 */
static bool
loop_count(JsonbValue *v, int lo)
{
	if (v->type == jbvString)
	{
		char	   *txt = jt_cstring(v);
		char	   *end;
		long		n;

		if (strstr(txt, "{{") != NULL || strstr(txt, "{%") != NULL)
			return true;
		/* int() reads a string of digits, with blanks around them */
		errno = 0;
		n = strtol(txt, &end, 10);
		while (isspace((unsigned char) *end))
			end++;
		return errno == 0 && end != txt && *end == '\0' && n >= lo && n <= INT_MAX;
	}
	if (v->type == jbvNumeric &&
		DatumGetInt32(DirectFunctionCall1(numeric_scale,
										  NumericGetDatum(v->val.numeric))) == 0)
	{
		char	   *txt = DatumGetCString(DirectFunctionCall1(numeric_out,
															  NumericGetDatum(v->val.numeric)));
		char	   *end;
		long		n;

		errno = 0;
		n = strtol(txt, &end, 10);
		return errno == 0 && *end == '\0' && n >= lo && n <= INT_MAX;
	}
	return false;
}

/*
 * normalize_loop unifies "loop: {collection|in, element|iterator, mode,
 * max_in_flight}" (and the fields of NoETL's older iterator step, passed in
 * the same mapping) into {collection, element, mode, max_in_flight?}, and
 * keeps NoETL's iterator settings as they are written: concurrency,
 * enumerate, where, order_by, limit and chunk (plugin/iterator/config.py
 * @58c2a16b, controller/iterator/config.py @32245391).  Other keys are
 * warned of and dropped.
 */
static JsonbValue *
normalize_loop(JsonbValue *raw, const char *loc)
{
	JsonbValue *out = jt_object();
	JsonbValue *collection;
	JsonbValue *element;
	JsonbValue *mode;
	JsonbValue *mif;
	JsonbValue *v;

	if (raw->type != jbvObject)
		pb_error(loc, "expected a mapping, found %s", jt_type_name(raw));
	pb_warn_unknown_keys(raw, PB_KEYS_LOOP, loc);
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

	/* NoETL read str(mode).strip().lower(), and ran any other mode sequentially */
	mode = jt_get(raw, "mode");
	if (mode == NULL || mode->type == jbvNull)
		jt_set(out, "mode", jt_string("sequential"));
	else
	{
		char	   *m = mode->type == jbvString ? jt_cstring(mode) : "";
		int			len;

		while (isspace((unsigned char) *m))
			m++;
		len = strlen(m);
		while (len > 0 && isspace((unsigned char) m[len - 1]))
			len--;
		m = pnstrdup(m, len);
		if (pg_strcasecmp(m, "sequential") == 0)
			jt_set(out, "mode", jt_string("sequential"));
		else if (pg_strcasecmp(m, "parallel") == 0 || pg_strcasecmp(m, "async") == 0)
			jt_set(out, "mode", jt_string("parallel"));
		else
		{
			if (mode->type == jbvString)
				pb_warn(loc, "loop mode \"%s\" is not \"sequential\", \"parallel\" or \"async\": the loop runs sequentially, as NoETL ran it",
						jt_cstring(mode));
			else
				pb_warn(loc, "loop mode (%s) is not \"sequential\", \"parallel\" or \"async\": the loop runs sequentially, as NoETL ran it",
						jt_type_name(mode));
			jt_set(out, "mode", jt_string("sequential"));
		}
	}

	mif = jt_get(raw, "max_in_flight");
	if (mif)
	{
		if (mif->type == jbvString || !loop_count(mif, 1))
			pb_error(loc, "\"max_in_flight\" must be a positive integer");
		jt_set(out, "max_in_flight", mif);
	}

	/* a concurrency NoETL's int() could not read stopped the loop */
	v = jt_get(raw, "concurrency");
	if (v && v->type != jbvNull)
	{
		if (!loop_count(v, 1))
			pb_error(loc, "\"concurrency\" must be a positive integer or a template, not %s",
					 value_text(v));
		jt_set(out, "concurrency", v);
	}
	/* a limit or chunk it could not read was ignored */
	v = jt_get(raw, "limit");
	if (v && v->type != jbvNull)
	{
		if (loop_count(v, 0))
			jt_set(out, "limit", v);
		else
			pb_warn(loc, "\"limit\" is not an integer of 0 or more (%s): ignored, as NoETL ignored it",
					value_text(v));
	}
	v = jt_get(raw, "chunk");
	if (v && v->type != jbvNull)
	{
		if (loop_count(v, 1))
			jt_set(out, "chunk", v);
		else
			pb_warn(loc, "\"chunk\" is not a positive integer (%s): ignored, as NoETL ignored it",
					value_text(v));
	}
	v = jt_get(raw, "enumerate");
	if (v && v->type != jbvNull)
	{
		if (v->type != jbvBool && v->type != jbvString)
			pb_error(loc, "\"enumerate\" must be a boolean, not %s", jt_type_name(v));
		jt_set(out, "enumerate", v);
	}
	v = jt_get(raw, "where");
	if (v && v->type != jbvNull)
	{
		if (v->type != jbvBool && v->type != jbvString)
			pb_error(loc, "\"where\" must be a condition (a string or a boolean), not %s",
					 jt_type_name(v));
		jt_set(out, "where", v);
	}
	v = jt_get(raw, "order_by");
	if (v && v->type != jbvNull)
	{
		if (v->type != jbvString)
			pb_error(loc, "\"order_by\" must be a template string, not %s", jt_type_name(v));
		jt_set(out, "order_by", v);
	}

	/*
	 * What a failed iteration does: era C failed the step ("N iteration(s)
	 * failed"), era B's iterator returned its list with the errors.  A loop:
	 * gets era C's rule unless it says otherwise; an iterator step era B's.
	 */
	v = jt_get(raw, "on_item_error");
	if (v == NULL || v->type == jbvNull)
		jt_set(out, "on_item_error", jt_string("fail"));
	else if (v->type == jbvString &&
			 (jt_is_string(v, "continue") || jt_is_string(v, "fail")))
		jt_set(out, "on_item_error", v);
	else
		pb_error(loc, "\"on_item_error\" must be \"continue\" or \"fail\", not %s",
				 v->type == jbvString ? psprintf("\"%s\"", jt_cstring(v)) : jt_type_name(v));
	return out;
}

/* value_text names a value in a message: a number as written, else its type */
static const char *
value_text(JsonbValue *v)
{
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v->val.numeric)));
	return jt_type_name(v);
}

/* numeric_cmp_int compares a number with an integer */
static int
numeric_cmp_int(JsonbValue *v, int64 i)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(v->val.numeric),
											 NumericGetDatum(int64_to_numeric(i))));
}

/*
 * number_between says whether v is a number from lo to hi; with integral,
 * it must also be written as an integer (3, not 3.0 or 3.7).
 */
static bool
number_between(JsonbValue *v, int64 lo, int64 hi, bool integral)
{
	if (v->type != jbvNumeric)
		return false;
	if (integral &&
		DatumGetInt32(DirectFunctionCall1(numeric_scale,
										  NumericGetDatum(v->val.numeric))) != 0)
		return false;
	return numeric_cmp_int(v, lo) >= 0 && numeric_cmp_int(v, hi) <= 0;
}

/* check_integer refuses a value (other than null) that is no integer from lo to hi */
static void
check_integer(JsonbValue *v, const char *loc, const char *what, int lo, int hi)
{
	if (v != NULL && v->type != jbvNull && !number_between(v, lo, hi, true))
		pb_error(loc, "%s must be an integer from %d to %d, not %s",
				 what, lo, hi, value_text(v));
}

/* check_number refuses a value (other than null) that is no number from lo to hi */
static void
check_number(JsonbValue *v, const char *loc, const char *what, int lo, int hi,
			 const char *unit)
{
	if (v != NULL && v->type != jbvNull && !number_between(v, lo, hi, false))
		pb_error(loc, "%s must be a number%s from %d to %d, not %s",
				 what, unit, lo, hi, value_text(v));
}

/* check_type refuses a value (other than null) of neither type t1 nor t2 */
static void
check_type(JsonbValue *v, const char *loc, const char *what,
		   enum jbvType t1, enum jbvType t2, const char *expected)
{
	if (v != NULL && v->type != jbvNull && v->type != t1 && v->type != t2)
		pb_error(loc, "%s must be %s, not %s", what, expected, jt_type_name(v));
}

/*
 * check_retry checks a retry policy: true/false, a number of attempts, or
 * a mapping of the settings NoETL knows, each within the bounds the broker
 * can act on (null stands for the default).  Other keys are kept, with a
 * warning: nothing reads them.
 */
static void
check_retry(JsonbValue *retry, const char *loc)
{
	static const char *const delays[] = {"initial_delay", "delay", "max_delay"};
	static const char *const conditions[] = {"retry_when", "stop_when"};
	int			i;

	if (retry->type == jbvBool || retry->type == jbvNull)
		return;
	if (retry->type == jbvNumeric)
	{
		check_integer(retry, loc, "the number of attempts", 1, MAX_ATTEMPTS);
		return;
	}
	if (retry->type != jbvObject)
		pb_error(loc, "retry must be true, false, a number of attempts or a mapping, not %s",
				 jt_type_name(retry));
	pb_warn_unknown_keys(retry, PB_KEYS_RETRY, loc);
	check_integer(jt_get(retry, "max_attempts"), loc, "\"max_attempts\"", 1, MAX_ATTEMPTS);
	for (i = 0; i < lengthof(delays); i++)
		check_number(jt_get(retry, delays[i]), loc, psprintf("\"%s\"", delays[i]),
					 0, MAX_SECONDS, " of seconds");
	check_number(jt_get(retry, "backoff_multiplier"), loc, "\"backoff_multiplier\"",
				 0, MAX_BACKOFF, "");
	check_type(jt_get(retry, "jitter"), loc, "\"jitter\"", jbvBool, jbvBool, "a boolean");
	for (i = 0; i < lengthof(conditions); i++)
		check_type(jt_get(retry, conditions[i]), loc, psprintf("\"%s\"", conditions[i]),
				   jbvString, jbvBool, "a string or a boolean");
}

/*
 * check_step_settings checks the settings of a task that the broker and
 * the workers read as numbers: its priority and its timeout (seconds).
 */
static void
check_step_settings(JsonbValue *obj, const char *loc)
{
	JsonbValue *timeout = jt_get(obj, "timeout");

	check_integer(jt_get(obj, "priority"), loc, "\"priority\"", -MAX_PRIORITY, MAX_PRIORITY);
	if (timeout != NULL && timeout->type != jbvNull &&
		!(number_between(timeout, 0, MAX_SECONDS, false) && numeric_cmp_int(timeout, 0) > 0))
		pb_error(loc, "\"timeout\" must be a number of seconds greater than 0 and at most %d, not %s",
				 MAX_SECONDS, value_text(timeout));
}

/*
 * check_script checks NoETL's "script:" ({uri, source: {type, ...},
 * encoding?}), kept as written for the worker: what NoETL's
 * validate_script_config always refused cannot run and is refused (not a
 * mapping, no source type, a type other than file, http, gcs and s3, no
 * uri); a source noetl's worker cannot load, or a tool that does not read
 * scripts, is a warning (plugin/shared/script/validation.py @32245391).
 */
static void
check_script(JsonbValue *script, const char *tool, const char *loc)
{
	static const char *const types[] = {"file", "http", "gcs", "s3"};
	JsonbValue *source;
	JsonbValue *type;
	JsonbValue *uri;
	char	   *t;

	if (script->type != jbvObject)
		pb_error(loc, "expected a mapping (uri, source), found %s", jt_type_name(script));
	source = jt_get(script, "source");
	if (source == NULL || source->type != jbvObject)
		pb_error(loc, "\"source\" must be a mapping with a \"type\"");
	type = jt_get(source, "type");
	if (type == NULL || type->type != jbvString)
		pb_error(loc, "\"source\" has no \"type\" (file, http, gcs or s3)");
	t = jt_cstring(type);
	if (!pb_in_list(t, types, lengthof(types)))
		pb_error(loc, "source type \"%s\" is not file, http, gcs or s3", t);
	uri = jt_get(script, "uri");
	if ((uri == NULL || uri->type != jbvString || uri->val.string.len == 0) &&
		!(strcmp(t, "http") == 0 && jt_get(source, "endpoint") != NULL))
		pb_error(loc, "\"uri\" must be a non-empty string");
	if (strcmp(t, "file") != 0 && strcmp(t, "http") != 0)
		pb_warn(loc, "noetl's worker cannot load a script from source type \"%s\" (it reads files under its --script-root and http(s) URLs)",
				t);
	if (tool == NULL || (strcmp(tool, "python") != 0 && strcmp(tool, "workbook") != 0))
		pb_warn(loc, "only the python tool of noetl's worker reads \"script\"; the %s%s%s step ignores it",
				tool ? "\"" : "", tool ? tool : "control", tool ? "\"" : "");
}

/*
 * pb_normalize_task normalises the parts every task shares, whether it is a
 * workflow step or a workbook entry: tool, inputs, sink, retry, loop.
 * Returns the tool, NULL for a control step.
 */
char *
pb_normalize_task(JsonbValue *obj, const char *loc)
{
	char	   *tool = unify_tool(obj, loc);
	bool		iterator = false;
	JsonbValue *v;
	JsonbValue *loop_sink = NULL;

	if (tool && strcmp(tool, "iterator") == 0)
	{
		/* NoETL's older loop: the body is under "task:" */
		JsonbValue *task = jt_get(obj, "task");
		JsonbValue *loop = jt_object();
		char	   *tloc = psprintf("%s.task", loc);
		static const char *const loopkeys[] = {
			"collection", "in", "element", "iterator", "mode", "max_in_flight",
			"concurrency", "enumerate", "where", "order_by", "limit", "chunk",
			"on_item_error"
		};
		int			i;
		int			twice;

		iterator = true;
		if (jt_get(obj, "loop"))
			pb_error(loc, "an iterator step cannot also have \"loop\"");
		if (task == NULL || task->type != jbvObject)
			pb_error(loc, "iterator step has no \"task\" mapping");
		/* copy before editing obj: edits move the values jt_get points to */
		task = jt_copy(task);
		pb_warn_unknown_keys(task, PB_KEYS_STEP, tloc);
		/* era B took "data" for the collection when there was none */
		if (jt_get(obj, "collection") == NULL && jt_get(obj, "in") == NULL &&
			jt_get(obj, "data") != NULL)
		{
			jt_set(loop, "collection", jt_copy(jt_get(obj, "data")));
			jt_delete(obj, "data");
		}
		for (i = 0; i < lengthof(loopkeys); i++)
		{
			v = jt_get(obj, loopkeys[i]);
			if (v)
			{
				jt_set(loop, loopkeys[i], jt_copy(v));
				jt_delete(obj, loopkeys[i]);
			}
		}
		/*
		 * The iterator's own save (or sink), beside its task's, ran once when
		 * the loop ended, over all the results (plugin/iterator/executor.py
		 * @58c2a16b): the loop's sink, not the items'.
		 */
		if (jt_get(obj, "save") != NULL || jt_get(obj, "sink") != NULL)
		{
			JsonbValue *holder = jt_object();

			v = jt_get(obj, "save");
			if (v != NULL)
				jt_set(holder, "save", jt_copy(v));
			v = jt_get(obj, "sink");
			if (v != NULL)
				jt_set(holder, "sink", jt_copy(v));
			jt_delete(obj, "save");
			jt_delete(obj, "sink");
			normalize_sink(holder, psprintf("%s.loop", loc), false);
			loop_sink = jt_copy(jt_get(holder, "sink"));
		}
		jt_delete(obj, "task");
		jt_delete(obj, "tool");
		tool = unify_tool(task, tloc);
		if (tool == NULL || strcmp(tool, "iterator") == 0)
			pb_error(tloc, "iterator task must name a tool other than \"iterator\"");
		/* the task's desc replaces the step's; any other key in both is refused */
		if (jt_get(task, "desc"))
			jt_delete(obj, "desc");
		for (i = 0; i < task->val.object.nPairs; i++)
		{
			JsonbValue *k = &task->val.object.pairs[i].key;

			if (jt_is_string(k, "step") || jt_is_string(k, "next"))
				break;
		}
		twice = jt_merge(obj, task, false);
		if (i < task->val.object.nPairs && (twice < 0 || i < twice))
			pb_error(tloc, "\"%s\" is not allowed inside an iterator task",
					 jt_cstring(&task->val.object.pairs[i].key));
		if (twice >= 0)
			pb_error(tloc, "\"%s\" is given both in the step and in its task",
					 jt_cstring(&task->val.object.pairs[twice].key));
		/* era B's iterator returned its list whatever failed */
		if (jt_get(loop, "on_item_error") == NULL)
			jt_set(loop, "on_item_error", jt_string("continue"));
		jt_set(obj, "loop", loop);
	}
	if (tool && pb_in_list(tool, control_tools, lengthof(control_tools)))
	{
		jt_delete(obj, "tool");
		tool = NULL;
	}
	pb_unify_args(obj, loc);
	normalize_sink(obj, loc, iterator);
	v = jt_get(obj, "retry");
	if (v)
		check_retry(v, psprintf("%s.retry", loc));
	check_step_settings(obj, loc);
	v = jt_get(obj, "loop");
	if (v)
	{
		JsonbValue *loop = normalize_loop(v, psprintf("%s.loop", loc));

		if (loop_sink != NULL)
			jt_set(loop, "sink", loop_sink);
		jt_set(obj, "loop", loop);
	}
	v = jt_get(obj, "script");
	if (v)
		check_script(v, tool, psprintf("%s.script", loc));
	if (tool && strcmp(tool, "playbook") == 0 && pb_optional_string(obj, "path", loc) == NULL)
		pb_error(loc, "a playbook step needs \"path\"");
	return tool;
}
