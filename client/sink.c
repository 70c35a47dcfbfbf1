/*-------------------------------------------------------------------------
 *
 * sink.c
 *	  A task's sink (NoETL's save: and sink:), the second phase of a task.
 *
 * Registration keeps a step's sink as {tool, ..., on_error}, unrendered
 * (src/playbook_task.c); the lease gives it to the worker with the loop
 * frame of an iteration (task.c).  Once the task's tool has reported
 * success, the worker (worker.c) calls sink_begin, which renders the sink
 * with noetl.render in the execution's context (noetl.task_context) plus
 * "result" (the tool's result, NoETL's {id?, status, data, meta?} envelope
 * unwrapped to its data, as the broker unwraps a step's result: ev_unwrap),
 * "data" (the same), "this" (the result as the tool gave
 * it) and, for an iteration, the element, _loop and the loop step's
 * {result_index}, as the python runner sets them.  The sink's "code" (python) is not rendered.  Then, by the
 * sink's tool:
 *
 *	event, event_log	nothing is written: the outcome is the rendered data
 *						(or args), at once
 *	postgres			a task of the postgres tool: with "table", an INSERT
 *						of the data mapping's members, every value a bind
 *						parameter and every name a quoted identifier
 *						(schema.table allowed); "mode: upsert" with "key" (a
 *						name or a list) adds ON CONFLICT (key) DO UPDATE SET
 *						each other column = EXCLUDED's (DO NOTHING if there
 *						is none).  With "statement" (or command, sql,
 *						query), NoETL's ":name" placeholders for members of
 *						the data (or args, or params) become bind
 *						parameters, outside quoted text, comments and "::"
 *						casts; the statement's own templates are rendered,
 *						as a postgres step's command is.  It runs where
 *						"dsn", or "auth" as a connection string, says; any
 *						other "auth" (a credential's name, or a mapping) is
 *						resolved by noetl.task_credential.  A postgres sink
 *						with neither fails: it is never written into the
 *						worker's own database.
 *	http				a task of the http tool: endpoint (or url), method
 *						(POST), headers, and payload (or data, or args) as
 *						the JSON body
 *	python				a task of the python tool: code with main(data),
 *						its args {"data": the data}
 *
 * and any other tool fails, as "sink tool X is not supported".  Every
 * secret a credential gives is added to the task's secrets (secrets.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>

#include "db.h"
#include "json.h"
#include "sink.h"

/* the most bind parameters a statement may have (the protocol's limit) */
#define MAX_BIND 65535

/* the columns of render_sql */
enum
{
	COL_OK,
	COL_KIND,
	COL_DATA,
	COL_DATA_FLAT,
	COL_TABLE,
	COL_MODE,
	COL_KEYS,
	COL_STATEMENT,
	COL_DSN,
	COL_AUTH,
	COL_URL,
	COL_METHOD,
	COL_HEADERS,
	COL_CODE
};

/*
 * $1 queue_id, $2 lease_token, $3 the tool's report, $4 the sink, $5 the
 * loop frame, $6 the task's node_id (an iteration's step[i]: "step" gets
 * {result_index: i}, as the python runner gives it).  Nothing is rendered
 * when the tool failed: its row says so.
 */
static const char *render_sql =
"SELECT x.ok, lower(coalesce(s.s ->> 'tool', 'event')),"
"       d.d::text,"
"       CASE WHEN jsonb_typeof(d.d) = 'object' THEN"
"         (SELECT coalesce(jsonb_object_agg(key, value), '{}')"
"            FROM jsonb_each_text(d.d))::text END,"
"       s.s ->> 'table', lower(s.s ->> 'mode'),"
"       CASE jsonb_typeof(coalesce(s.s -> 'key', s.s -> 'keys'))"
"         WHEN 'string' THEN jsonb_build_array(coalesce(s.s -> 'key', s.s -> 'keys'))::text"
"         WHEN 'array' THEN coalesce(s.s -> 'key', s.s -> 'keys')::text"
"         WHEN 'null' THEN NULL"
"         ELSE '{}' END,"
"       coalesce(s.s ->> 'statement', s.s ->> 'command', s.s ->> 'sql', s.s ->> 'query'),"
"       coalesce(s.s ->> 'dsn',"
"                CASE WHEN jsonb_typeof(s.s -> 'auth') = 'string'"
"                      AND (s.s ->> 'auth' LIKE '%=%' OR s.s ->> 'auth' LIKE 'postgres%://%')"
"                     THEN s.s ->> 'auth' END),"
"       CASE WHEN coalesce(jsonb_typeof(coalesce(s.s -> 'auth', s.s -> 'credential')), 'null') <> 'null'"
"            THEN coalesce(s.s -> 'auth', s.s -> 'credential')::text END,"
"       coalesce(s.s ->> 'endpoint', s.s ->> 'url'),"
"       upper(coalesce(s.s ->> 'method', 'POST')),"
"       (SELECT jsonb_object_agg(key, value)::text"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(s.s -> 'headers') = 'object'"
"                                    THEN s.s -> 'headers' ELSE '{}' END)"
"         WHERE value IS NOT NULL),"
"       $4::jsonb ->> 'code'"
"  FROM (SELECT $3::jsonb AS r) j"
"  CROSS JOIN LATERAL (SELECT coalesce((j.r ->> 'ok')::boolean, false) AS ok,"
"                             coalesce(j.r -> 'result', 'null') AS this) x"
"  CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(x.this) = 'object' AND x.this ? 'status'"
"                                   AND x.this ? 'data'"
"                                   AND NOT EXISTS (SELECT FROM jsonb_object_keys(x.this) k"
"                                                    WHERE k NOT IN ('id', 'status', 'data', 'meta'))"
"                              THEN x.this -> 'data' ELSE x.this END AS data) u"
"  CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof($5::jsonb) = 'object' THEN"
"                         jsonb_build_object(regexp_replace($6::text, '\\[[0-9]+\\]$', ''),"
"                                            jsonb_build_object('result_index', $5::jsonb -> 'index'))"
"                         || jsonb_build_object(coalesce($5::jsonb ->> 'element', 'item'),"
"                                            $5::jsonb -> 'item',"
"                                            '_loop', jsonb_build_object("
"                                              'current_index', $5::jsonb -> 'index',"
"                                              'index', $5::jsonb -> 'index',"
"                                              'item', $5::jsonb -> 'item',"
"                                              'count', $5::jsonb -> 'count'))"
"                         || CASE WHEN $5::jsonb ? 'batch'"
"                                 THEN jsonb_build_object('batch', $5::jsonb -> 'batch')"
"                                 ELSE '{}' END"
"                       ELSE '{}' END AS f) f"
"  CROSS JOIN LATERAL (SELECT CASE WHEN x.ok THEN"
"                         noetl.render($4::jsonb - 'on_error' - 'code',"
"                                      noetl.task_context($1, $2) || f.f"
"                                      || jsonb_build_object('result', u.data, 'data', u.data,"
"                                                            'this', x.this))"
"                       END AS s) s"
"  CROSS JOIN LATERAL (SELECT coalesce(s.s -> 'data', s.s -> 'args', s.s -> 'payload',"
"                                      s.s -> 'params') AS d) d";

/* what a credential gives a sink: its dsn, its headers, and every string of its data */
static const char *credential_sql =
"SELECT c ->> 'dsn',"
"       (SELECT jsonb_object_agg(key, value)::text"
"          FROM jsonb_each_text(CASE WHEN jsonb_typeof(c -> 'headers') = 'object'"
"                                    THEN c -> 'headers' ELSE '{}' END)"
"         WHERE value IS NOT NULL),"
"       (SELECT coalesce(jsonb_agg(v #>> '{}'), '[]')"
"          FROM jsonb_path_query(coalesce(c -> 'data', '{}'), 'strict $.**') v"
"         WHERE jsonb_typeof(v) = 'string')::text"
"  FROM noetl.task_credential($1::bigint, $2::text, $3::jsonb) c";

/* sink_prepare prepares the sink's statement on conn; false (logged) on failure */
bool
sink_prepare(PGconn *conn)
{
	return db_prepare(conn, "noetl_sink", render_sql, 6);
}

/* column returns a copy of a column's value, NULL for SQL NULL */
static char *
column(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : pg_strdup(PQgetvalue(r, 0, col));
}

/* done sets the sink's outcome: a success with result (JSON, or null) */
static SinkStart
done(Sink *sink, const char *result)
{
	resetPQExpBuffer(&sink->report);
	appendPQExpBufferStr(&sink->report, "{\"ok\": true, \"result\": ");
	appendPQExpBufferStr(&sink->report, result ? result : "null");
	appendPQExpBufferChar(&sink->report, '}');
	return SINK_DONE;
}

/* failed sets the sink's outcome: a failure, with msg (freed) */
static SinkStart
failed(Sink *sink, char *msg)
{
	resetPQExpBuffer(&sink->report);
	appendPQExpBufferStr(&sink->report, "{\"ok\": false, \"error\": ");
	json_append_string(&sink->report, msg, strlen(msg));
	appendPQExpBufferChar(&sink->report, '}');
	pg_free(msg);
	return SINK_DONE;
}

/* result_error is a failed statement's message, copied */
static char *
result_error(PGconn *conn, PGresult *r)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char	   *s = pg_strdup(msg ? msg : PQerrorMessage(conn));
	size_t		n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* flat_find is the index of key in an object's JsonFlat, -1 if it is not there */
static int
flat_find(const JsonFlat *f, const char *key, size_t len)
{
	int			i;

	for (i = 0; i < f->n; i++)
		if (f->keys[i] != NULL && strlen(f->keys[i]) == len && strncmp(f->keys[i], key, len) == 0)
			return i;
	return -1;
}

/* flat_push appends a value (copied; NULL stays NULL) to an array's JsonFlat */
static void
flat_push(JsonFlat *f, const char *v)
{
	f->values = pg_realloc(f->values, sizeof(char *) * (f->n + 1));
	f->values[f->n++] = v ? pg_strdup(v) : NULL;
}

/*
 * bind_names turns NoETL's ":name" placeholders into $n, for the names
 * the data has, adding each value to bind once (a name used twice is one
 * parameter).  Quoted text ('...', E'...', "...", $tag$...$tag$),
 * comments and "::" are copied as they are.  Returns the statement, or
 * NULL with *error set.
 */
static char *
bind_names(const char *sql, const JsonFlat *data, JsonFlat *bind, char **error)
{
	PQExpBufferData out;
	int		   *param = pg_malloc0(sizeof(int) * (data->n > 0 ? data->n : 1));
	const char *p = sql;

	initPQExpBuffer(&out);
	while (*p)
	{
		if (*p == '\'' || *p == '"')
		{
			char		q = *p;
			bool		esc = q == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
				(p - 1 == sql || !(isalnum((unsigned char) p[-2]) || p[-2] == '_'));
			const char *s = p++;

			while (*p)
			{
				if (esc && *p == '\\' && p[1])
					p += 2;
				else if (*p == q && p[1] == q)
					p += 2;
				else if (*p == q)
				{
					p++;
					break;
				}
				else
					p++;
			}
			appendBinaryPQExpBuffer(&out, s, p - s);
		}
		else if (p[0] == '-' && p[1] == '-')
		{
			size_t		n = strcspn(p, "\n");

			appendBinaryPQExpBuffer(&out, p, n);
			p += n;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			const char *s = p;
			int			depth = 0;

			do
			{
				if (p[0] == '/' && p[1] == '*')
				{
					depth++;
					p += 2;
				}
				else if (p[0] == '*' && p[1] == '/')
				{
					depth--;
					p += 2;
				}
				else
					p++;
			} while (*p && depth > 0);
			appendBinaryPQExpBuffer(&out, s, p - s);
		}
		else if (*p == '$' && (p == sql || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')) &&
				 (p[1] == '$' || isalpha((unsigned char) p[1]) || p[1] == '_'))
		{
			/* a dollar quote: $$ or $tag$, up to the same again */
			const char *t = p + 1;
			const char *end;

			while (isalnum((unsigned char) *t) || *t == '_')
				t++;
			if (*t != '$')
			{
				appendPQExpBufferChar(&out, *p++);
				continue;
			}
			{
				size_t		taglen = t - p + 1;
				char	   *tag = pnstrdup(p, taglen);

				end = strstr(t + 1, tag);
				pg_free(tag);
				end = end ? end + taglen : p + strlen(p);
			}
			appendBinaryPQExpBuffer(&out, p, end - p);
			p = end;
		}
		else if (p[0] == ':' && p[1] == ':')
		{
			appendPQExpBufferStr(&out, "::");
			p += 2;
		}
		else if (p[0] == ':' && (isalpha((unsigned char) p[1]) || p[1] == '_'))
		{
			const char *name = p + 1;
			const char *e = name;
			int			k;

			while (isalnum((unsigned char) *e) || *e == '_')
				e++;
			k = flat_find(data, name, e - name);
			if (k < 0)
			{
				appendBinaryPQExpBuffer(&out, p, e - p);
				p = e;
				continue;
			}
			if (param[k] == 0)
			{
				if (bind->n >= MAX_BIND)
				{
					*error = psprintf("the postgres sink's statement has more than %d parameters",
									  MAX_BIND);
					pg_free(param);
					termPQExpBuffer(&out);
					return NULL;
				}
				flat_push(bind, data->values[k]);
				param[k] = bind->n;
			}
			appendPQExpBuffer(&out, "$%d", param[k]);
			p = e;
		}
		else
			appendPQExpBufferChar(&out, *p++);
	}
	pg_free(param);
	if (PQExpBufferDataBroken(out))
	{
		*error = pg_strdup("out of memory");
		return NULL;
	}
	return out.data;
}

/* append_ident appends a name as a quoted identifier; false if it cannot be quoted */
static bool
append_ident(PGconn *conn, PQExpBuffer buf, const char *name, size_t len)
{
	char	   *q = PQescapeIdentifier(conn, name, len);

	if (q == NULL)
		return false;
	appendPQExpBufferStr(buf, q);
	PQfreemem(q);
	return true;
}

/*
 * insert_sql builds the INSERT (or upsert) of a table sink: the data's
 * members as columns and bind parameters.  Returns it, or NULL with
 * *error set.
 */
static char *
insert_sql(PGconn *conn, const char *table, const char *mode, const char *keys_json,
		   const JsonFlat *data, JsonFlat *bind, char **error)
{
	PQExpBufferData sql;
	JsonFlat	keys = {0};
	const char *p = table;
	int			parts = 0;
	int			i;
	int			k;
	bool		upsert = mode != NULL && strcmp(mode, "upsert") == 0;
	bool		any = false;

	if (data->n == 0)
	{
		*error = pg_strdup("the postgres sink into a table needs data (or args): a mapping of columns to values");
		return NULL;
	}
	if (upsert && (keys_json == NULL || !json_read_flat(keys_json, &keys) || keys.n == 0 ||
				   keys.keys != NULL))
	{
		*error = pg_strdup("a postgres sink with mode upsert needs key: a column name or a list of them");
		json_flat_free(&keys);
		return NULL;
	}
	initPQExpBuffer(&sql);
	appendPQExpBufferStr(&sql, "INSERT INTO ");
	/* schema.table (or catalog.schema.table), each part quoted */
	for (;;)
	{
		size_t		n = strcspn(p, ".");

		if (n == 0 || ++parts > 3 || !append_ident(conn, &sql, p, n))
		{
			*error = psprintf("the postgres sink's table \"%s\" is not a name, schema.name or catalog.schema.name",
							  table);
			termPQExpBuffer(&sql);
			json_flat_free(&keys);
			return NULL;
		}
		if (p[n] == '\0')
			break;
		appendPQExpBufferChar(&sql, '.');
		p += n + 1;
	}
	appendPQExpBufferStr(&sql, " (");
	for (i = 0; i < data->n; i++)
	{
		if (i > 0)
			appendPQExpBufferStr(&sql, ", ");
		if (!append_ident(conn, &sql, data->keys[i], strlen(data->keys[i])))
		{
			*error = pg_strdup("a column name of the postgres sink cannot be quoted");
			termPQExpBuffer(&sql);
			json_flat_free(&keys);
			return NULL;
		}
		flat_push(bind, data->values[i]);
	}
	appendPQExpBufferStr(&sql, ") VALUES (");
	for (i = 0; i < data->n; i++)
		appendPQExpBuffer(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendPQExpBufferChar(&sql, ')');
	if (upsert)
	{
		appendPQExpBufferStr(&sql, " ON CONFLICT (");
		for (k = 0; k < keys.n; k++)
		{
			if (k > 0)
				appendPQExpBufferStr(&sql, ", ");
			if (keys.values[k] == NULL ||
				!append_ident(conn, &sql, keys.values[k], strlen(keys.values[k])))
			{
				*error = pg_strdup("the postgres sink's key must be column names");
				termPQExpBuffer(&sql);
				json_flat_free(&keys);
				return NULL;
			}
		}
		appendPQExpBufferStr(&sql, ") DO UPDATE SET ");
		for (i = 0; i < data->n; i++)
		{
			bool		is_key = false;

			for (k = 0; k < keys.n; k++)
				is_key |= strcmp(keys.values[k], data->keys[i]) == 0;
			if (is_key)
				continue;
			if (any)
				appendPQExpBufferStr(&sql, ", ");
			(void) append_ident(conn, &sql, data->keys[i], strlen(data->keys[i]));
			appendPQExpBufferStr(&sql, " = EXCLUDED.");
			(void) append_ident(conn, &sql, data->keys[i], strlen(data->keys[i]));
			any = true;
		}
		if (!any)
		{
			/* every column is a key: nothing to update */
			sql.len -= strlen(" DO UPDATE SET ");
			sql.data[sql.len] = '\0';
			appendPQExpBufferStr(&sql, " DO NOTHING");
		}
	}
	json_flat_free(&keys);
	if (PQExpBufferDataBroken(sql))
	{
		*error = pg_strdup("out of memory");
		return NULL;
	}
	return sql.data;
}

/*
 * resolve_credential resolves a sink's auth (a name or a mapping) with
 * noetl.task_credential: its dsn, its headers; every secret it holds goes
 * to the task's secrets.  Returns an error (allocated) or NULL.
 */
static char *
resolve_credential(PGconn *conn, Task *task, const char *auth, char **dsn, JsonFlat *headers)
{
	const char *params[3] = {task->queue_id, task->lease_token, auth};
	PGresult   *r = PQexecParams(conn, credential_sql, 3, NULL, params, NULL, NULL, 0);
	JsonFlat	strings = {0};
	char	   *error = NULL;
	int			i;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		char	   *msg = result_error(conn, r);

		error = psprintf("could not resolve the sink's credential: %s", msg);
		pg_free(msg);
		PQclear(r);
		return error;
	}
	if (!PQgetisnull(r, 0, 0))
	{
		*dsn = pg_strdup(PQgetvalue(r, 0, 0));
		secret_add(&task->secrets, *dsn);
	}
	if (!PQgetisnull(r, 0, 2) && json_read_flat(PQgetvalue(r, 0, 2), &strings))
		for (i = 0; i < strings.n; i++)
			if (strings.values[i] != NULL)
				secret_add(&task->secrets, strings.values[i]);
	json_flat_free(&strings);
	if (!PQgetisnull(r, 0, 1))
	{
		JsonFlat	h = {0};

		if (json_read_flat(PQgetvalue(r, 0, 1), &h))
			for (i = 0; i < h.n; i++)
			{
				if (h.values[i] == NULL)
					continue;
				secret_add(&task->secrets, h.values[i]);
				/* the sink's own headers win */
				if (flat_find(headers, h.keys[i], strlen(h.keys[i])) >= 0)
					continue;
				headers->keys = pg_realloc(headers->keys, sizeof(char *) * (headers->n + 1));
				headers->values = pg_realloc(headers->values, sizeof(char *) * (headers->n + 1));
				headers->keys[headers->n] = pg_strdup(h.keys[i]);
				headers->values[headers->n++] = pg_strdup(h.values[i]);
			}
		json_flat_free(&h);
	}
	PQclear(r);
	return NULL;
}

/* job_of starts the sink's job as a task of tool, the leased task's identity copied */
static void
job_of(Sink *sink, const Task *task, const char *tool)
{
	Task	   *j = &sink->job;

	memset(j, 0, sizeof(Task));
	j->queue_id = pg_strdup(task->queue_id);
	j->execution_id = task->execution_id ? pg_strdup(task->execution_id) : NULL;
	j->node_id = pg_strdup(task->node_id);
	j->tool = pg_strdup(tool);
	j->attempts = task->attempts;
	j->lease_token = pg_strdup(task->lease_token);
	j->timeout = task->timeout;
}

/*
 * sink_begin renders a task's sink after its tool reported (tool_report)
 * and makes its job: SINK_RUN (sink->job is for a runner), SINK_DONE
 * (sink->report is the outcome: an event sink, or a sink that failed
 * before it ran), SINK_NONE (the tool failed: no sink), or SINK_LATER
 * (the connection is gone).
 */
SinkStart
sink_begin(PGconn *conn, Task *task, const char *tool_report, Sink *sink)
{
	const char *params[6] = {task->queue_id, task->lease_token, tool_report, task->sink,
	task->frame, task->node_id};
	PGresult   *r;
	JsonFlat	data = {0};
	char	   *dsn = NULL;
	char	   *auth = NULL;
	char	   *error = NULL;
	SinkStart	res;

	memset(sink, 0, sizeof(Sink));
	initPQExpBuffer(&sink->report);
	r = PQexecPrepared(conn, "noetl_sink", 6, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		char	   *msg;

		if (PQstatus(conn) != CONNECTION_OK)
		{
			PQclear(r);
			return SINK_LATER;
		}
		sink->kind = pg_strdup(task->sink_tool ? task->sink_tool : "event");
		sink->fail = !task->sink_continue;
		msg = result_error(conn, r);
		PQclear(r);
		return failed(sink, psprintf("could not render the sink: %s", msg));
	}
	if (strcmp(PQgetvalue(r, 0, COL_OK), "t") != 0)
	{
		PQclear(r);
		return SINK_NONE;
	}
	sink->kind = column(r, COL_KIND);
	sink->fail = !task->sink_continue;
	if (!PQgetisnull(r, 0, COL_DATA_FLAT) &&
		!json_read_flat(PQgetvalue(r, 0, COL_DATA_FLAT), &data))
		memset(&data, 0, sizeof(data));

	if (strcmp(sink->kind, "event") == 0 || strcmp(sink->kind, "event_log") == 0)
	{
		res = done(sink, PQgetisnull(r, 0, COL_DATA) ? NULL : PQgetvalue(r, 0, COL_DATA));
		goto out;
	}
	if (strcmp(sink->kind, "postgres") != 0 && strcmp(sink->kind, "http") != 0 &&
		strcmp(sink->kind, "python") != 0)
	{
		res = failed(sink, psprintf("sink tool \"%s\" is not supported by this worker (it runs event, event_log, postgres, http and python sinks)",
									sink->kind));
		goto out;
	}

	/* the sink's credential, unless its auth is a connection string */
	dsn = column(r, COL_DSN);
	auth = column(r, COL_AUTH);
	job_of(sink, task, sink->kind);
	if (!PQgetisnull(r, 0, COL_HEADERS))
		(void) json_read_flat(PQgetvalue(r, 0, COL_HEADERS), &sink->job.headers);
	if (dsn == NULL && auth != NULL && strcmp(sink->kind, "python") != 0 &&
		(error = resolve_credential(conn, task, auth, &dsn, &sink->job.headers)) != NULL)
	{
		if (PQstatus(conn) != CONNECTION_OK)
		{
			pg_free(error);
			res = SINK_LATER;
			goto out;
		}
		res = failed(sink, error);
		goto out;
	}

	if (strcmp(sink->kind, "postgres") == 0)
	{
		const char *table = PQgetisnull(r, 0, COL_TABLE) ? NULL : PQgetvalue(r, 0, COL_TABLE);
		const char *stmt = PQgetisnull(r, 0, COL_STATEMENT) ? NULL : PQgetvalue(r, 0, COL_STATEMENT);

		if (dsn == NULL)
		{
			res = failed(sink, pg_strdup("the postgres sink has no auth or dsn: noetl does not write a sink into the worker's own database"));
			goto out;
		}
		sink->job.dsn = pg_strdup(dsn);
		if (stmt != NULL && *stmt != '\0')
			sink->job.command = bind_names(stmt, &data, &sink->job.bind, &error);
		else if (table != NULL && *table != '\0')
			sink->job.command = insert_sql(conn, table,
										   PQgetisnull(r, 0, COL_MODE) ? NULL : PQgetvalue(r, 0, COL_MODE),
										   PQgetisnull(r, 0, COL_KEYS) ? NULL : PQgetvalue(r, 0, COL_KEYS),
										   &data, &sink->job.bind, &error);
		else
			error = pg_strdup("the postgres sink needs a table, or a statement");
		/* a statement without parameters may be several, as a postgres step's command */
		sink->job.has_bind = sink->job.bind.n > 0;
		res = error ? failed(sink, error) : SINK_RUN;
	}
	else if (strcmp(sink->kind, "http") == 0)
	{
		sink->job.method = column(r, COL_METHOD);
		sink->job.url = column(r, COL_URL);
		if (strcmp(sink->job.method, "GET") == 0 || strcmp(sink->job.method, "HEAD") == 0 ||
			strcmp(sink->job.method, "DELETE") == 0)
			(void) json_read_flat(PQgetvalue(r, 0, COL_DATA_FLAT), &sink->job.query);
		else
			sink->job.args = column(r, COL_DATA);
		res = SINK_RUN;
	}
	else
	{
		PQExpBufferData args;

		initPQExpBuffer(&args);
		appendPQExpBufferStr(&args, "{\"data\": ");
		appendPQExpBufferStr(&args, PQgetisnull(r, 0, COL_DATA) ? "null" : PQgetvalue(r, 0, COL_DATA));
		appendPQExpBufferChar(&args, '}');
		sink->job.args = args.data;
		sink->job.code = PQgetisnull(r, 0, COL_CODE) ?
			pg_strdup("def main(data):\n    return {'saved': 'python', 'data': data}\n") :
			column(r, COL_CODE);
		res = SINK_RUN;
	}

out:
	if (res != SINK_RUN)
	{
		task_free(&sink->job);
		memset(&sink->job, 0, sizeof(Task));
	}
	json_flat_free(&data);
	pg_free(dsn);
	pg_free(auth);
	PQclear(r);
	return res;
}

/* sink_free frees what sink_begin made */
void
sink_free(Sink *sink)
{
	pg_free(sink->kind);
	if (sink->job.queue_id != NULL)
		task_free(&sink->job);
	termPQExpBuffer(&sink->report);
	memset(sink, 0, sizeof(Sink));
}
