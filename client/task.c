/*-------------------------------------------------------------------------
 *
 * task.c
 *	  Leasing tasks, with the fields their tools need.
 *
 * The statement that leases also takes each task's action apart with
 * jsonb operators, so that the worker gets its fields as columns: text,
 * or, for a mapping (HTTP headers, query parameters) and a list (the bind
 * parameters of a postgres task), JSON flattened to one level of strings,
 * which json_read_flat reads.  Mapping members that are null are left out;
 * list elements that are null stay null (SQL NULL parameters).  A python
 * task also gets the python fields of its action other than code (script,
 * code_b64, code_base64, context, loop) as one JSON object, which the
 * python runner reads (tool_python.c); the lease marks the python tasks
 * whose code names "context" or cannot be seen here (script, code_b64),
 * and task_read_context adds the execution's context to those, so that
 * other tasks pay nothing for it.  Likewise the lease gives a postgres or
 * http task's auth (or credential) when it names a credential rather than
 * being a connection string, and task_read_credential resolves it.
 * A task with a sink also gets the sink, unrendered, and its loop frame
 * (an iteration's), for sink.c.
 *
 * Each task's action_started is reported in a transaction of its own,
 * after the lease's: the broker locks an execution's row before its
 * tasks' (src/state.c), so a statement that held the leased tasks while
 * reporting them would lock in the other order, and hold several
 * executions at once, deadlocking with other workers' leases and with
 * reports and cancellations.  The reports go in one round trip all the
 * same, pipelined (task_report_started).  The statements are prepared
 * once a connection (task_prepare).
 *
 * task_pack and task_unpack carry a task to the worker's native runner
 * (runner.c), a forked copy of the program: each field as its length in
 * decimal (-1 for NULL), a colon and its bytes, so that any bytes pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <limits.h>

#include "common/logging.h"

#include "db.h"
#include "task.h"

/* the columns of lease_sql */
enum
{
	COL_QUEUE_ID,
	COL_EXECUTION_ID,
	COL_NODE_ID,
	COL_TOOL,
	COL_ATTEMPTS,
	COL_LEASE_TOKEN,
	COL_TIMEOUT,
	COL_ARGS,
	COL_CODE,
	COL_METHOD,
	COL_URL,
	COL_HEADERS,
	COL_QUERY,
	COL_COMMAND,
	COL_DSN,
	COL_BIND,
	COL_PYTHON,
	COL_NEEDS_CONTEXT,
	COL_FOLLOW_REDIRECTS,
	COL_AUTH,
	COL_SINK,
	COL_SINK_CONTINUE,
	COL_SINK_TOOL,
	COL_FRAME,
	COL_TRANSFER
};

static const char *lease_sql =
"SELECT q.queue_id, q.execution_id, q.node_id, q.tool, q.attempts, q.lease_token,"
"       CASE WHEN jsonb_typeof(a -> 'timeout') = 'number' THEN (a ->> 'timeout')::float8 END,"
"       CASE WHEN jsonb_typeof(a -> 'args') = 'object' THEN (a -> 'args')::text END,"
"       a ->> 'code',"
"       upper(coalesce(a ->> 'method', 'GET')),"
"       coalesce(a ->> 'url', a ->> 'endpoint'),"
"       (SELECT jsonb_object_agg(key, value)::text"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(a -> 'headers') = 'object'"
"                                    THEN a -> 'headers' ELSE '{}' END)"
"         WHERE value IS NOT NULL),"
"       (SELECT jsonb_object_agg(key, value)::text"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(a -> 'args') = 'object'"
"                                    THEN a -> 'args' ELSE '{}' END)"
"         WHERE value IS NOT NULL),"
"       coalesce(a ->> 'command', a ->> 'query', a ->> 'sql'),"
"       coalesce(a ->> 'dsn',"
"                CASE WHEN jsonb_typeof(a -> 'auth') = 'string'"
"                      AND (a ->> 'auth' LIKE '%=%' OR a ->> 'auth' LIKE 'postgres%://%')"
"                     THEN a ->> 'auth' END),"
"       CASE WHEN jsonb_typeof(a -> 'args') = 'array' THEN"
"         to_jsonb(ARRAY(SELECT CASE jsonb_typeof(e) WHEN 'null' THEN NULL"
"                                                   WHEN 'string' THEN e #>> '{}'"
"                                                   ELSE e::text END"
"                          FROM jsonb_array_elements(a -> 'args') WITH ORDINALITY l(e, i)"
"                         ORDER BY i))::text END,"
"       CASE WHEN q.tool = 'python' THEN"
"         (SELECT coalesce(jsonb_object_agg(key, value), '{}')::text "
"           FROM jsonb_each(CASE WHEN jsonb_typeof(a) = 'object' THEN a ELSE '{}' END)"
"          WHERE key IN ('code_b64', 'code_base64', 'script', 'context', 'loop')) END,"
"       q.tool = 'python' AND jsonb_typeof(a) = 'object' AND NOT a ? 'context'"
"         AND (a ? 'script' OR a ? 'code_b64' OR a ? 'code_base64'"
"              OR strpos(a ->> 'code', 'context') > 0),"
"       coalesce(CASE WHEN jsonb_typeof(a -> 'follow_redirects') = 'boolean'"
"                     THEN (a -> 'follow_redirects')::boolean END, false),"
"       CASE WHEN q.tool IN ('postgres', 'http') AND jsonb_typeof(a) = 'object'"
"             AND (q.tool = 'http' OR NOT a ? 'dsn') THEN"
"         CASE WHEN jsonb_typeof(a -> 'auth') = 'object' THEN (a -> 'auth')::text"
"              WHEN jsonb_typeof(a -> 'auth') = 'string'"
"               AND (q.tool = 'http' OR NOT (a ->> 'auth' LIKE '%=%'"
"                                            OR a ->> 'auth' LIKE 'postgres%://%'))"
"                THEN (a -> 'auth')::text"
"              WHEN jsonb_typeof(a -> 'credential') IN ('string', 'object')"
"                THEN (a -> 'credential')::text END END,"
"       CASE WHEN jsonb_typeof(a -> 'sink') = 'object' THEN (a -> 'sink')::text END,"
"       coalesce(a #>> '{sink,on_error}' = 'continue', false),"
"       lower(coalesce(a #>> '{sink,tool}', 'event')),"
"       CASE WHEN jsonb_typeof(a -> 'sink') = 'object' AND jsonb_typeof(a -> 'loop') = 'object'"
"            THEN (a -> 'loop')::text END,"
/* a transfer's source and target, flattened (tool_transfer.c reads them) */
"       CASE WHEN q.tool = 'transfer' THEN"
"         (SELECT jsonb_strip_nulls(jsonb_build_object("
"            'source_tool', lower(coalesce(s ->> 'tool', s ->> 'type')),"
"            'url', coalesce(s ->> 'url', s ->> 'endpoint'),"
"            'method', upper(coalesce(s ->> 'method', 'GET')),"
"            'headers', (SELECT jsonb_object_agg(key, value)::text"
"                          FROM jsonb_each_text(CASE WHEN jsonb_typeof(s -> 'headers') = 'object'"
"                                                    THEN s -> 'headers' ELSE '{}' END)"
"                         WHERE value IS NOT NULL),"
"            'data_path', s ->> 'data_path',"
"            'query', coalesce(s ->> 'query', s ->> 'sql', s ->> 'command'),"
"            'source_dsn', coalesce(s ->> 'dsn', CASE WHEN jsonb_typeof(s -> 'auth') = 'string'"
"                  AND (s ->> 'auth' LIKE '%=%' OR s ->> 'auth' LIKE 'postgres%://%') THEN s ->> 'auth' END),"
"            'source_auth', CASE WHEN s ? 'dsn' OR (jsonb_typeof(s -> 'auth') = 'string'"
"                  AND (s ->> 'auth' LIKE '%=%' OR s ->> 'auth' LIKE 'postgres%://%')) THEN NULL"
"                  ELSE NULLIF(NULLIF(coalesce(s -> 'auth', s -> 'credential'), 'null'), '\"\"')::text END,"
"            'target_tool', lower(coalesce(t ->> 'tool', t ->> 'type')),"
"            'table', t ->> 'table',"
"            'target_query', t ->> 'query',"
"            'mode', lower(coalesce(t ->> 'mode', a ->> 'mode')),"
"            'key', CASE WHEN jsonb_typeof(t -> 'key') = 'string' THEN jsonb_build_array(t -> 'key')::text"
"                        WHEN jsonb_typeof(t -> 'key') = 'array' THEN (t -> 'key')::text END,"
"            'mapping', CASE WHEN jsonb_typeof(t -> 'mapping') = 'object' THEN (t -> 'mapping')::text END,"
"            'target_dsn', coalesce(t ->> 'dsn', CASE WHEN jsonb_typeof(t -> 'auth') = 'string'"
"                  AND (t ->> 'auth' LIKE '%=%' OR t ->> 'auth' LIKE 'postgres%://%') THEN t ->> 'auth' END),"
"            'target_auth', CASE WHEN t ? 'dsn' OR (jsonb_typeof(t -> 'auth') = 'string'"
"                  AND (t ->> 'auth' LIKE '%=%' OR t ->> 'auth' LIKE 'postgres%://%')) THEN NULL"
"                  ELSE NULLIF(NULLIF(coalesce(t -> 'auth', t -> 'credential'), 'null'), '\"\"')::text END,"
"            'chunk_size', coalesce(a ->> 'chunk_size', t ->> 'chunk_size')))::text"
"            FROM (SELECT CASE WHEN jsonb_typeof(a -> 'source') = 'object' THEN a -> 'source' ELSE '{}' END,"
"                         CASE WHEN jsonb_typeof(a -> 'target') = 'object' THEN a -> 'target' ELSE '{}' END) st(s, t)) END"
"  FROM noetl.lease($1, $2::int, $3::int, string_to_array($4, ',')) q,"
"       LATERAL (SELECT q.action) t(a)";

/*
 * The credential a task's auth names (noetl.task_credential), taken apart:
 * its dsn; the task's headers ($4) with the credential's added, except
 * those the task sets itself (its own win, whatever their case); and what
 * must not be reported: the dsn, the header values, and the data's
 * members whose names say they are secret.
 */
static const char *credential_sql =
"SELECT c ->> 'dsn',"
"       (SELECT jsonb_object_agg(h.key, h.value)::text"
"          FROM (SELECT e.key, e.value"
"                  FROM jsonb_each_text(CASE WHEN jsonb_typeof(c -> 'headers') = 'object'"
"                                            THEN c -> 'headers' ELSE '{}' END) e"
"                 WHERE lower(e.key) NOT IN (SELECT lower(k) FROM jsonb_object_keys($4::jsonb) k)"
"                UNION ALL"
"                SELECT e.key, e.value FROM jsonb_each_text($4::jsonb) e) h),"
"       to_jsonb(ARRAY(SELECT c ->> 'dsn' WHERE c ? 'dsn'"
"                      UNION ALL"
"                      SELECT e.value"
"                        FROM jsonb_each_text(CASE WHEN jsonb_typeof(c -> 'headers') = 'object'"
"                                                  THEN c -> 'headers' ELSE '{}' END) e"
"                      UNION ALL"
"                      SELECT e.value"
"                        FROM jsonb_each_text(CASE WHEN jsonb_typeof(c -> 'data') = 'object'"
"                                                  THEN c -> 'data' ELSE '{}' END) e"
"                       WHERE e.key ~* '(pass|secret|token|key|value|auth|private|credential|dsn)'"
"                         AND e.value IS NOT NULL))::text,"
"       c ->> 'type'"
"  FROM noetl.task_credential($1, $2, $3::jsonb) c";

/* task_prepare prepares the lease statements on conn; false (logged) on failure */
bool
task_prepare(PGconn *conn)
{
	return db_prepare(conn, "noetl_lease", lease_sql, 4) &&
		db_prepare(conn, "noetl_started", "SELECT noetl.report($1, $2, 'action_started')", 2) &&
		db_prepare(conn, "noetl_context",
				   "SELECT ($3::jsonb OPERATOR(pg_catalog.||)"
				   " pg_catalog.jsonb_build_object('context', noetl.task_context($1, $2)))::text", 3) &&
		db_prepare(conn, "noetl_credential", credential_sql, 4);
}

/* column returns a copy of a column's value, NULL for SQL NULL */
static char *
column(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : pg_strdup(PQgetvalue(r, row, col));
}

/* flat reads a column of flattened JSON; false if it is not */
static bool
flat(PGresult *r, int row, int col, JsonFlat *out)
{
	return json_read_flat(PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col), out);
}

/*
 * task_lease leases up to max tasks of the given tools (comma-separated)
 * for lease_seconds; returns how many, -1 on error.  task_prepare must
 * have prepared the statement on conn.
 */
int
task_lease(PGconn *conn, const char *worker, int max, int lease_seconds, const char *tools,
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
	r = db_exec_prepared(conn, "could not lease", "noetl_lease", 4, params);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	*tasks = pg_malloc0(sizeof(Task) * (n > 0 ? n : 1));
	for (i = 0; i < n; i++)
	{
		Task	   *t = &(*tasks)[i];

		t->queue_id = column(r, i, COL_QUEUE_ID);
		t->execution_id = column(r, i, COL_EXECUTION_ID);
		t->node_id = column(r, i, COL_NODE_ID);
		t->tool = column(r, i, COL_TOOL);
		t->attempts = atoi(PQgetvalue(r, i, COL_ATTEMPTS));
		t->lease_token = column(r, i, COL_LEASE_TOKEN);
		t->timeout = PQgetisnull(r, i, COL_TIMEOUT) ? 0 : atof(PQgetvalue(r, i, COL_TIMEOUT));
		t->args = column(r, i, COL_ARGS);
		t->code = column(r, i, COL_CODE);
		t->python = column(r, i, COL_PYTHON);
		t->needs_context = strcmp(PQgetvalue(r, i, COL_NEEDS_CONTEXT), "t") == 0;
		t->method = column(r, i, COL_METHOD);
		t->url = column(r, i, COL_URL);
		t->command = column(r, i, COL_COMMAND);
		t->dsn = column(r, i, COL_DSN);
		t->has_bind = !PQgetisnull(r, i, COL_BIND);
		t->follow_redirects = strcmp(PQgetvalue(r, i, COL_FOLLOW_REDIRECTS), "t") == 0;
		t->auth = column(r, i, COL_AUTH);
		t->sink = column(r, i, COL_SINK);
		t->sink_continue = strcmp(PQgetvalue(r, i, COL_SINK_CONTINUE), "t") == 0;
		t->sink_tool = column(r, i, COL_SINK_TOOL);
		t->frame = column(r, i, COL_FRAME);
		if (!flat(r, i, COL_HEADERS, &t->headers) || !flat(r, i, COL_QUERY, &t->query) ||
			!flat(r, i, COL_BIND, &t->bind) || !flat(r, i, COL_TRANSFER, &t->transfer))
			pg_log_warning("task %s: the lease statement's fields could not be read",
						   t->queue_id);
	}
	PQclear(r);
	return n;
}

/* warn_started logs a report of action_started that failed */
static void
warn_started(const Task *t, PGresult *r, PGconn *conn)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	pg_log_warning("could not report action_started of task %s: %s", t->queue_id,
				   msg ? msg : PQerrorMessage(conn));
}

/*
 * task_report_started reports action_started for n leased tasks, each in
 * a transaction of its own (a sync after each), in one round trip; a
 * report that fails is a warning, and its task runs all the same.
 */
void
task_report_started(PGconn *conn, Task *const *tasks, int n)
{
	int			sent;
	int			synced = 0;
	int			i;

	if (n <= 0)
		return;
	if (!PQenterPipelineMode(conn))
	{
		for (i = 0; i < n; i++)
			warn_started(tasks[i], NULL, conn);
		return;
	}
	for (sent = 0; sent < n; sent++)
	{
		const char *params[2] = {tasks[sent]->queue_id, tasks[sent]->lease_token};

		if (!PQsendQueryPrepared(conn, "noetl_started", 2, params, NULL, NULL, 0) ||
			!PQpipelineSync(conn))
			break;
	}
	/* each task's result, a NULL, then its sync */
	while (synced < sent)
	{
		PGresult   *r = PQgetResult(conn);

		if (r == NULL)
		{
			if (PQstatus(conn) != CONNECTION_OK)
				break;
			continue;
		}
		switch (PQresultStatus(r))
		{
			case PGRES_PIPELINE_SYNC:
				synced++;
				break;
			case PGRES_TUPLES_OK:
				break;
			default:
				warn_started(tasks[synced], r, conn);
				break;
		}
		PQclear(r);
	}
	for (i = synced; i < n; i++)
		warn_started(tasks[i], NULL, conn);
	if (PQstatus(conn) == CONNECTION_OK && !PQexitPipelineMode(conn))
		pg_log_warning("could not leave pipeline mode: %s", PQerrorMessage(conn));
}

/*
 * task_read_context adds the execution's context (noetl.task_context: the
 * workload, the finished steps' results) to a python task whose code names
 * it, in a statement of its own after the lease: a context that cannot be
 * read (too large, the lease lost) fails that task alone, with the reason
 * in context_error, instead of every lease that would meet it.
 */
void
task_read_context(PGconn *conn, Task *task)
{
	const char *params[3];
	PGresult   *r;

	params[0] = task->queue_id;
	params[1] = task->lease_token;
	params[2] = task->python ? task->python : "{}";
	r = PQexecPrepared(conn, "noetl_context", 3, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
	{
		pg_free(task->python);
		task->python = pg_strdup(PQgetvalue(r, 0, 0));
	}
	else
	{
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		task->context_error = psprintf("could not read the task's context: %s",
									   msg ? msg : PQerrorMessage(conn));
	}
	PQclear(r);
}

/* flat_object appends a JsonFlat of an object's members as a JSON object */
static void
flat_object(PQExpBuffer buf, const JsonFlat *flat)
{
	int			i;

	appendPQExpBufferChar(buf, '{');
	for (i = 0; flat->keys != NULL && i < flat->n; i++)
	{
		if (flat->values[i] == NULL)
			continue;
		if (buf->data[buf->len - 1] != '{')
			appendPQExpBufferChar(buf, ',');
		json_append_string(buf, flat->keys[i], strlen(flat->keys[i]));
		appendPQExpBufferChar(buf, ':');
		json_append_string(buf, flat->values[i], strlen(flat->values[i]));
	}
	appendPQExpBufferChar(buf, '}');
}

/*
 * task_read_credential resolves the credential a postgres or http task's
 * auth (or credential) names, through noetl.task_credential, in a
 * statement of its own after the lease, as task_read_context does: a
 * postgres task gets its dsn, an http task its headers, and every secret
 * goes into the task's secrets (secrets.h).  A credential that cannot be
 * resolved fails that task alone (context_error), naming the reason the
 * server gave, which names the credential and none of its data: the task
 * never runs on the worker's own database instead.
 */
void
task_read_credential(PGconn *conn, Task *task)
{
	const char *params[4];
	PQExpBufferData headers;
	PGresult   *r;
	JsonFlat	secrets;
	int			i;

	if (task->auth == NULL || task->context_error != NULL)
		return;
	initPQExpBuffer(&headers);
	flat_object(&headers, &task->headers);
	params[0] = task->queue_id;
	params[1] = task->lease_token;
	params[2] = task->auth;
	params[3] = headers.data;
	r = PQexecPrepared(conn, "noetl_credential", 4, params, NULL, NULL, 0);
	termPQExpBuffer(&headers);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		task->context_error = psprintf("could not resolve the task's auth: %s",
									   msg ? msg : PQerrorMessage(conn));
		PQclear(r);
		return;
	}
	memset(&secrets, 0, sizeof(secrets));
	if (json_read_flat(PQgetvalue(r, 0, 2), &secrets))
		for (i = 0; i < secrets.n; i++)
			secret_add(&task->secrets, secrets.values[i]);
	json_flat_free(&secrets);
	if (strcmp(task->tool, "postgres") == 0)
	{
		if (PQgetisnull(r, 0, 0))
			task->context_error =
				psprintf("could not resolve the task's auth: a credential of type \"%s\" gives no postgres connection",
						 PQgetvalue(r, 0, 3));
		else
		{
			pg_free(task->dsn);
			task->dsn = pg_strdup(PQgetvalue(r, 0, 0));
		}
	}
	else if (strcmp(PQgetvalue(r, 0, 3), "bearer") != 0 && strcmp(PQgetvalue(r, 0, 3), "basic") != 0 &&
			 strcmp(PQgetvalue(r, 0, 3), "api_key") != 0 && strcmp(PQgetvalue(r, 0, 3), "header") != 0)
		task->context_error =
			psprintf("could not resolve the task's auth: a credential of type \"%s\" gives no HTTP header",
					 PQgetvalue(r, 0, 3));
	else if (!PQgetisnull(r, 0, 1))
	{
		json_flat_free(&task->headers);
		if (!json_read_flat(PQgetvalue(r, 0, 1), &task->headers))
			task->context_error = pg_strdup("could not resolve the task's auth: its headers could not be read");
	}
	PQclear(r);
}

/* task_free frees what task_lease allocated for a task */
void
task_free(Task *task)
{
	pg_free(task->queue_id);
	pg_free(task->execution_id);
	pg_free(task->node_id);
	pg_free(task->tool);
	pg_free(task->lease_token);
	pg_free(task->args);
	pg_free(task->code);
	pg_free(task->python);
	pg_free(task->context_error);
	pg_free(task->method);
	pg_free(task->url);
	json_flat_free(&task->headers);
	json_flat_free(&task->query);
	pg_free(task->command);
	pg_free(task->dsn);
	pg_free(task->auth);
	json_flat_free(&task->bind);
	pg_free(task->sink);
	pg_free(task->sink_tool);
	pg_free(task->frame);
	json_flat_free(&task->transfer);
	secret_free(&task->secrets);
	memset(task, 0, sizeof(Task));
}

/* ---------------------------------------------------------------- packing */

/* pack_field appends one field: its length (-1: NULL), ':', its bytes */
static void
pack_field(PQExpBuffer buf, const char *s)
{
	if (s == NULL)
	{
		appendPQExpBufferStr(buf, "-1:");
		return;
	}
	appendPQExpBuffer(buf, "%zu:", strlen(s));
	appendPQExpBufferStr(buf, s);
}

/* pack_flat appends a JsonFlat: its count, then its keys and values */
static void
pack_flat(PQExpBuffer buf, const JsonFlat *flat)
{
	int			i;

	appendPQExpBuffer(buf, "%d:%d:", flat->n, flat->keys != NULL);
	for (i = 0; i < flat->n; i++)
	{
		if (flat->keys != NULL)
			pack_field(buf, flat->keys[i]);
		pack_field(buf, flat->values[i]);
	}
}

/* task_pack appends a task as task_unpack reads it */
void
task_pack(const Task *t, PQExpBuffer buf)
{
	char		timeout[64];

	snprintf(timeout, sizeof(timeout), "%.17g", t->timeout);
	pack_field(buf, t->queue_id);
	pack_field(buf, t->execution_id);
	pack_field(buf, t->node_id);
	pack_field(buf, t->tool);
	appendPQExpBuffer(buf, "%d:", t->attempts);
	pack_field(buf, t->lease_token);
	pack_field(buf, timeout);
	pack_field(buf, t->args);
	pack_field(buf, t->code);
	pack_field(buf, t->method);
	pack_field(buf, t->url);
	pack_flat(buf, &t->headers);
	pack_flat(buf, &t->query);
	pack_field(buf, t->command);
	pack_field(buf, t->dsn);
	appendPQExpBuffer(buf, "%d:", t->has_bind);
	pack_flat(buf, &t->bind);
	appendPQExpBuffer(buf, "%d:", t->follow_redirects);
	pack_flat(buf, &t->transfer);
}

/* what task_unpack reads from */
typedef struct Unpacker
{
	const char *p;
	const char *end;
	bool		ok;
} Unpacker;

/* unpack_int reads a number and its colon; 0 (and not ok) if there is none */
static long
unpack_int(Unpacker *u)
{
	long		v = 0;
	bool		negative = false;
	const char *start;

	if (u->p < u->end && *u->p == '-')
	{
		negative = true;
		u->p++;
	}
	start = u->p;
	while (u->p < u->end && *u->p >= '0' && *u->p <= '9' && v < INT_MAX)
		v = v * 10 + (*u->p++ - '0');
	if (u->p == start || u->p >= u->end || *u->p != ':' || v >= INT_MAX)
	{
		u->ok = false;
		return 0;
	}
	u->p++;
	return negative ? -v : v;
}

/* unpack_field reads a field as pack_field wrote it: a copy, or NULL */
static char *
unpack_field(Unpacker *u)
{
	long		len = unpack_int(u);
	char	   *s;

	if (!u->ok || len < 0)
		return NULL;
	if (len > u->end - u->p)
	{
		u->ok = false;
		return NULL;
	}
	s = pg_malloc(len + 1);
	memcpy(s, u->p, len);
	s[len] = '\0';
	u->p += len;
	return s;
}

/* unpack_flat reads a JsonFlat as pack_flat wrote it */
static void
unpack_flat(Unpacker *u, JsonFlat *flat)
{
	long		n = unpack_int(u);
	bool		keys = unpack_int(u) != 0;
	int			i;

	memset(flat, 0, sizeof(JsonFlat));
	if (!u->ok || n <= 0 || n > u->end - u->p)
		return;
	flat->keys = keys ? pg_malloc0(sizeof(char *) * n) : NULL;
	flat->values = pg_malloc0(sizeof(char *) * n);
	for (i = 0; i < n && u->ok; i++)
	{
		if (keys)
			flat->keys[i] = unpack_field(u);
		flat->values[i] = unpack_field(u);
		flat->n = i + 1;
	}
}

/* task_unpack reads a task that task_pack wrote; false if it is not one */
bool
task_unpack(const char *data, size_t len, Task *t)
{
	Unpacker	u = {data, data + len, true};
	char	   *timeout;

	memset(t, 0, sizeof(Task));
	t->queue_id = unpack_field(&u);
	t->execution_id = unpack_field(&u);
	t->node_id = unpack_field(&u);
	t->tool = unpack_field(&u);
	t->attempts = (int) unpack_int(&u);
	t->lease_token = unpack_field(&u);
	timeout = unpack_field(&u);
	t->timeout = timeout ? strtod(timeout, NULL) : 0;
	pg_free(timeout);
	t->args = unpack_field(&u);
	t->code = unpack_field(&u);
	t->method = unpack_field(&u);
	t->url = unpack_field(&u);
	unpack_flat(&u, &t->headers);
	unpack_flat(&u, &t->query);
	t->command = unpack_field(&u);
	t->dsn = unpack_field(&u);
	t->has_bind = unpack_int(&u) != 0;
	unpack_flat(&u, &t->bind);
	t->follow_redirects = unpack_int(&u) != 0;
	unpack_flat(&u, &t->transfer);
	if (!u.ok || u.p != u.end || t->queue_id == NULL || t->tool == NULL)
	{
		task_free(t);
		return false;
	}
	return true;
}
