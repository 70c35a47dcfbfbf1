/*
 * task.c
 *	  Leasing tasks, with the fields their tools need.
 *
 * The worker does not parse JSON: it asks the server for the fields, with
 * jsonb operators, in the statement that leases.  A mapping (HTTP headers,
 * query parameters) comes as one text of key U+001F value pairs separated
 * by U+001E, characters that cannot occur in either.  The bind parameters
 * of a postgres task (its args, when they are a list: "params: [...]")
 * come as a comma-separated list of hex-encoded UTF-8 texts, "-" for NULL,
 * so that no value can be mistaken for a separator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noetl.h"

static const char *lease_sql =
"SELECT q.queue_id, q.execution_id, q.node_id, q.tool, q.attempts, q.action::text,"
"       CASE WHEN jsonb_typeof(q.action -> 'args') = 'object' THEN (q.action -> 'args')::text END,"
"       q.action ->> 'code',"
"       upper(coalesce(q.action ->> 'method', 'GET')),"
"       coalesce(q.action ->> 'url', q.action ->> 'endpoint'),"
"       (SELECT string_agg(key || chr(31) || value, chr(30))"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(q.action -> 'headers') = 'object'"
"                                    THEN q.action -> 'headers' ELSE '{}' END)),"
"       (SELECT string_agg(key || chr(31) || value, chr(30))"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(q.action -> 'args') = 'object'"
"                                    THEN q.action -> 'args' ELSE '{}' END)),"
"       coalesce(q.action ->> 'command', q.action ->> 'query', q.action ->> 'sql'),"
"       coalesce(q.action ->> 'dsn',"
"                CASE WHEN jsonb_typeof(q.action -> 'auth') = 'string'"
"                      AND (q.action ->> 'auth' LIKE '%=%' OR q.action ->> 'auth' LIKE 'postgres%://%')"
"                     THEN q.action ->> 'auth' END),"
"       CASE WHEN jsonb_typeof(q.action -> 'timeout') = 'number'"
"            THEN (q.action ->> 'timeout')::float8 END,"
"       q.lease_token,"
"       CASE WHEN jsonb_typeof(q.action -> 'args') = 'array' THEN"
"         coalesce((SELECT string_agg(CASE jsonb_typeof(e) WHEN 'null' THEN '-'"
"                                     WHEN 'string' THEN encode(convert_to(e #>> '{}', 'UTF8'), 'hex')"
"                                     ELSE encode(convert_to(e::text, 'UTF8'), 'hex') END, ',' ORDER BY i)"
"                     FROM jsonb_array_elements(q.action -> 'args') WITH ORDINALITY a(e, i)), '') END"
"  FROM noetl.lease($1, $2::int, $3::int, string_to_array($4, ',')) q";

/* hex_value decodes n hex digits at p; NULL for "-" */
static char *
hex_value(const char *p, size_t n)
{
	char	   *out;
	size_t		i;

	if (n == 1 && p[0] == '-')
		return NULL;
	out = malloc(n / 2 + 1);
	for (i = 0; i + 1 < n; i += 2)
	{
		char		byte[3] = {p[i], p[i + 1], '\0'};

		out[i / 2] = (char) strtol(byte, NULL, 16);
	}
	out[n / 2] = '\0';
	return out;
}

/* split_params reads the bind parameters of a postgres task */
static int
split_params(const char *text, char ***out)
{
	int			n = 0;
	const char *p = text;
	char	  **v;

	*out = NULL;
	if (text == NULL)
		return -1;				/* no list: no bind parameters */
	if (*text == '\0')
		return 0;
	for (; *p; p++)
		if (*p == ',')
			n++;
	v = calloc((size_t) n + 1, sizeof(char *));
	n = 0;
	p = text;
	for (;;)
	{
		const char *end = strchr(p, ',');
		size_t		len = end ? (size_t) (end - p) : strlen(p);

		v[n++] = hex_value(p, len);
		if (end == NULL)
			break;
		p = end + 1;
	}
	*out = v;
	return n;
}

static char *
col(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : strdup(PQgetvalue(r, row, c));
}

static int
split_pairs(const char *text, KeyValue **out)
{
	int			n = 0;
	int			cap = 4;
	const char *p = text;
	KeyValue   *kv;

	*out = NULL;
	if (text == NULL || *text == '\0')
		return 0;
	kv = malloc(sizeof(KeyValue) * cap);
	while (p != NULL)
	{
		const char *end = strchr(p, '\x1e');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		const char *sep = memchr(p, '\x1f', len);

		if (n == cap)
		{
			cap *= 2;
			kv = realloc(kv, sizeof(KeyValue) * cap);
		}
		if (sep != NULL)
		{
			kv[n].key = strndup(p, (size_t) (sep - p));
			kv[n].value = strndup(sep + 1, len - (size_t) (sep - p) - 1);
			n++;
		}
		p = end ? end + 1 : NULL;
	}
	*out = kv;
	return n;
}

/*
 * task_lease leases up to max tasks of the given tools (comma-separated)
 * for lease_seconds; returns how many, -1 on error.
 */
int
task_lease(PGconn *c, const char *worker, int max, int lease_seconds, const char *tools,
		   Task **tasks)
{
	char		smax[16];
	char		slease[16];
	const char *params[4];
	PGresult   *r;
	int			n;
	int			i;

	*tasks = NULL;
	snprintf(smax, sizeof(smax), "%d", max);
	snprintf(slease, sizeof(slease), "%d", lease_seconds);
	params[0] = worker;
	params[1] = smax;
	params[2] = slease;
	params[3] = tools;
	r = exec_params(c, lease_sql, 4, params);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	*tasks = calloc((size_t) (n > 0 ? n : 1), sizeof(Task));
	for (i = 0; i < n; i++)
	{
		Task	   *t = &(*tasks)[i];
		char	   *headers = col(r, i, 10);
		char	   *params_text = col(r, i, 11);

		t->queue_id = col(r, i, 0);
		t->execution_id = col(r, i, 1);
		t->node_id = col(r, i, 2);
		t->tool = col(r, i, 3);
		t->attempts = atoi(PQgetvalue(r, i, 4));
		t->action = col(r, i, 5);
		t->args = col(r, i, 6);
		t->code = col(r, i, 7);
		t->method = col(r, i, 8);
		t->url = col(r, i, 9);
		t->nheaders = split_pairs(headers, &t->headers);
		t->nparams = split_pairs(params_text, &t->params);
		t->command = col(r, i, 12);
		t->dsn = col(r, i, 13);
		t->timeout = PQgetisnull(r, i, 14) ? 0 : atof(PQgetvalue(r, i, 14));
		t->lease_token = col(r, i, 15);
		{
			char	   *bind = col(r, i, 16);

			t->nbind = split_params(bind, &t->bind);
			free(bind);
		}
		free(headers);
		free(params_text);
	}
	PQclear(r);
	return n;
}

static void
free_pairs(KeyValue *kv, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void
task_free(Task *t)
{
	free(t->queue_id);
	free(t->execution_id);
	free(t->node_id);
	free(t->tool);
	free(t->action);
	free(t->args);
	free(t->code);
	free(t->method);
	free(t->url);
	free_pairs(t->headers, t->nheaders);
	free_pairs(t->params, t->nparams);
	free(t->command);
	free(t->dsn);
	free(t->lease_token);
	if (t->bind)
	{
		int			i;

		for (i = 0; i < t->nbind; i++)
			free(t->bind[i]);
		free(t->bind);
	}
	memset(t, 0, sizeof(Task));
}
