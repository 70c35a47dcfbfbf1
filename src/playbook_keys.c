/*-------------------------------------------------------------------------
 *
 * playbook_keys.c
 *	  The keys NoETL read in each part of a playbook, so that registration
 *	  can warn of the ones it would ignore.
 *
 * NoETL never refused a key it did not know: a step with "nexts:" instead
 * of "next:", or a transition with "wehn:", registered and ran without
 * the rest of the playbook or without its condition.  noetl registers
 * such playbooks too, but says what it ignores: every key below is one
 * that NoETL's broker, its worker or one of its tools read (at commit
 * 58c2a16b, era B, or 32245391, era C; docs/compatibility.md gives the
 * files), or one that noetl's own broker or worker reads (the http tool's
 * follow_redirects); anything else is a
 * warning naming the key and where it is.
 *
 * Step keys are one list for all tools: NoETL passed the whole step to its
 * tool, and its tools read many keys (credentials, connection settings,
 * transfer mappings), so a key that some tool reads is accepted on any
 * step.  The lists are sorted (strcmp order) and searched by bsearch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "miscadmin.h"

#include "playbook.h"

/* the document itself (era B also read "steps" for "workflow") */
static const char *const document_keys[] = {
	"apiVersion", "kind", "metadata", "name", "path", "steps", "workbook",
	"workflow", "workload"
};

/*
 * A step or workbook entry: the broker's keys, then every key NoETL's
 * tools read from the task (http, python, postgres, duckdb, snowflake,
 * transfer, snowflake_transfer, container, playbook, workbook, iterator,
 * secrets), and "assert", which NoETL kept as documentation.
 */
static const char *const step_keys[] = {
	"args", "assert", "auth", "chunk", "chunk_size", "cloud_credential",
	"code", "code_b64", "code_base64", "collection", "command", "command_b64",
	"commands", "commands_b64", "concurrency", "content", "credential",
	"credentials", "data", "data_path", "database", "db_conn_string",
	"db_host", "db_name", "db_password", "db_port", "db_user", "desc",
	"description", "direction", "element", "endpoint", "enumerate", "env",
	"follow_redirects", "gcs_credential", "headers", "in", "input", "iterator", "limit", "loop",
	"mapping", "max_in_flight", "method", "mode", "name", "next", "on_item_error", "order_by",
	"params", "path", "payload", "pg_database", "pg_host", "pg_password",
	"pg_port", "pg_user", "playbook_content", "playbook_path", "priority",
	"query", "require_cloud_output", "resource_path", "result", "retry",
	"return_step", "runtime", "save", "script", "sink", "source",
	"source_query", "sql", "step", "table", "target", "target_table", "task",
	"timeout", "tool", "transfer_direction", "type", "url", "version",
	"where", "with"
};

/* a "next" entry: era B's "name" for "step", era C's "then", the args aliases */
static const char *const next_keys[] = {
	"args", "data", "desc", "else", "input", "name", "params", "payload",
	"step", "then", "when", "with"
};

/* a loop: era B's iterator settings, era C's loop, DSL v2's aliases */
static const char *const loop_keys[] = {
	"chunk", "collection", "concurrency", "element", "enumerate", "in",
	"iterator", "limit", "max_in_flight", "mode", "on_item_error", "order_by", "where"
};

/* a retry policy: what NoETL's runtime/retry.py read, and noetl's aliases */
static const char *const retry_keys[] = {
	"backoff_multiplier", "delay", "initial_delay", "jitter", "max_attempts",
	"max_delay", "retry_on", "retry_when", "stop_when"
};

typedef struct KeyList
{
	const char *const *keys;
	int			n;
	const char *what;			/* for the message: "key", "loop setting" */
} KeyList;

static const KeyList key_lists[] = {
	[PB_KEYS_DOCUMENT] = {document_keys, lengthof(document_keys), "top-level key"},
	[PB_KEYS_STEP] = {step_keys, lengthof(step_keys), "key"},
	[PB_KEYS_NEXT] = {next_keys, lengthof(next_keys), "key"},
	[PB_KEYS_LOOP] = {loop_keys, lengthof(loop_keys), "loop setting"},
	[PB_KEYS_RETRY] = {retry_keys, lengthof(retry_keys), "retry setting"},
};

/* a key of a jsonb object, for bsearch */
typedef struct KeyRef
{
	const char *s;
	int			len;
} KeyRef;

/* cmp_key compares a KeyRef with a list entry, as strcmp would */
static int
cmp_key(const void *a, const void *b)
{
	const KeyRef *k = a;
	const char *s = *(const char *const *) b;
	int			slen = strlen(s);
	int			c = memcmp(k->s, s, Min(k->len, slen));

	if (c != 0)
		return c;
	return k->len < slen ? -1 : (k->len > slen ? 1 : 0);
}

/* pb_known_key says whether key (of len bytes) is in the list */
bool
pb_known_key(PbKeySet set, const char *key, int len)
{
	const KeyList *l = &key_lists[set];
	KeyRef		k;

#ifdef USE_ASSERT_CHECKING
	for (int i = 1; i < l->n; i++)
		Assert(strcmp(l->keys[i - 1], l->keys[i]) < 0);
#endif
	k.s = key;
	k.len = len;
	return bsearch(&k, l->keys, l->n, sizeof(char *), cmp_key) != NULL;
}

/*
 * pb_warn_unknown_keys warns of each key of obj that is not in the list:
 * "workflow[3]: unknown key "nexts" (ignored)".  obj must be a mapping.
 */
void
pb_warn_unknown_keys(JsonbValue *obj, PbKeySet set, const char *loc)
{
	const KeyList *l = &key_lists[set];
	int			i;

	Assert(obj->type == jbvObject);
	for (i = 0; i < obj->val.object.nPairs; i++)
	{
		JsonbValue *k = &obj->val.object.pairs[i].key;

		CHECK_FOR_INTERRUPTS();
		if (pb_known_key(set, k->val.string.val, k->val.string.len))
			continue;
		if (loc == NULL)
			pb_warn(NULL, "unknown %s \"%.*s\" (ignored)", l->what,
					k->val.string.len, k->val.string.val);
		else
			pb_warn(loc, "unknown %s \"%.*s\" (ignored)", l->what,
					k->val.string.len, k->val.string.val);
	}
}
