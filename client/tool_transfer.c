/*-------------------------------------------------------------------------
 *
 * tool_transfer.c
 *	  The transfer tool: rows from an http endpoint or a postgres query
 *	  into a postgres table.
 *
 * NoETL's transfer tool (plugin/transfer/executor.py @58c2a16b,
 * plugin/tools/transfer/executor.py @32245391) copied http -> postgres and
 * between postgres and snowflake; this one copies http -> postgres and
 * postgres -> postgres (docs/compatibility.md, "The transfer tool").
 * Fields: source {tool (or type): http | postgres, url (or endpoint),
 * method, headers, data_path; query; auth or dsn}, target {tool:
 * postgres, table, mapping {column: field}, mode insert | append | replace
 * | upsert (or the step's mode), key (upsert), auth or dsn}, chunk_size
 * (1000).  task.c's lease flattens them into Task.transfer.
 *
 * Where the rows come from: for http, the http tool's own request
 * (tool_http, with the task's timeout), its response's data, at data_path
 * (dotted) when given, a list (anything else is a list of one, as NoETL
 * made it); for postgres, the source query, read a row at a time on a
 * connection of its own, in batches of chunk_size rows.  Each row's
 * columns are the mapping's fields of it (dotted paths into nested
 * objects; for a postgres source without a mapping, its own columns).
 * Where they go: the target's table, found by its name as regclass reads
 * it, in one transaction on the postgres tool's kept connection for the
 * target: an INSERT a batch, whose rows are one bind parameter (JSON)
 * made into the table's row type by jsonb_populate_record, so that the
 * server converts each value to its column's type and nothing of the data
 * becomes SQL text; replace truncates the table first, upsert updates the
 * rows whose key (target.key, else the first column) is there.
 *
 * auth: a connection string is used as it is; anything else (a credential
 * name, NoETL's mapping) is resolved through noetl.task_credential on the
 * worker's own database, for this task's lease (its dsn for postgres, its
 * headers for http), and what it gives is kept out of the report.  A
 * target (or a postgres source) without either is refused: a transfer
 * never writes into, or reads from, the worker's own database unasked.
 *
 * The result is NoETL's: {direction, source_type, target_type, mode,
 * rows_transferred, chunks_processed, records_fetched, columns}.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "db.h"
#include "json.h"
#include "tool.h"

/* bounds of chunk_size, and of the JSON of one batch of a postgres source */
#define MAX_CHUNK 100000
#define MAX_BATCH_BYTES ((size_t) 16 * 1024 * 1024)
/* the most columns of a mapping */
#define MAX_COLUMNS 1000

typedef struct Transfer
{
	const Task *task;
	const RunnerContext *cx;
	SecretList	secrets;		/* what credentials gave: redacted from the report */
	const char *mode;
	int			chunk;
	int			ncols;
	char	  **cols;			/* the target's columns */
	char	  **fields;			/* the source's field (path) of each */
	char	   *table;			/* the target table, quoted as regclass writes it */
	char	   *insert;			/* the INSERT of a batch */
	long		transferred;
	long		fetched;
	int			chunks;
	PGconn	   *target;
} Transfer;

/* field returns a flattened field of the transfer, NULL if absent */
static const char *
field(const Task *t, const char *name)
{
	int			i;

	for (i = 0; i < t->transfer.n; i++)
		if (t->transfer.keys != NULL && t->transfer.keys[i] != NULL &&
			strcmp(t->transfer.keys[i], name) == 0)
			return t->transfer.values[i];
	return NULL;
}

/* server_message is a failed result's primary message, or the connection's */
static const char *
server_message(PGconn *conn, PGresult *r)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return msg ? msg : PQerrorMessage(conn);
}

/*
 * resolve gets what the credential auth (JSON: a name, or NoETL's mapping)
 * gives this task: its dsn (when dsn is not NULL) or its headers (into
 * headers).  Every value it gives is a secret.  NULL on success, else the
 * error (to be freed).
 */
static char *
resolve(Transfer *x, const char *side, const char *auth, char **dsn, JsonFlat *headers)
{
	static const char *sql =
	"SELECT c ->> 'dsn',"
	"       (SELECT pg_catalog.jsonb_object_agg(key, value)::text"
	"          FROM pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(c -> 'headers') = 'object'"
	"                                               THEN c -> 'headers' ELSE '{}' END)"
	"         WHERE value IS NOT NULL),"
	"       (SELECT pg_catalog.jsonb_object_agg(key, value)::text"
	"          FROM pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(c -> 'data') = 'object'"
	"                                               THEN c -> 'data' ELSE '{}' END)"
	"         WHERE value IS NOT NULL)"
	"  FROM (SELECT noetl.task_credential($1::bigint, $2, $3::jsonb) AS c) s";
	const char *params[3] = {x->task->queue_id, x->task->lease_token, auth};
	char	   *error = NULL;
	PGconn	   *own = tool_postgres_connection(x->cx, NULL, &error);
	PGresult   *r;
	JsonFlat	data;
	char	   *msg = NULL;
	int			i;

	if (own == NULL)
	{
		msg = psprintf("the transfer's %s credential could not be resolved: %s", side, error);
		pg_free(error);
		return msg;
	}
	r = PQexecParams(own, sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		msg = psprintf("the transfer's %s credential could not be resolved: %s", side,
					   server_message(own, r));
		PQclear(r);
		return msg;
	}
	memset(&data, 0, sizeof(data));
	if (json_read_flat(PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2), &data))
		for (i = 0; i < data.n; i++)
			if (data.values[i] != NULL)
				secret_add(&x->secrets, data.values[i]);
	json_flat_free(&data);
	if (dsn != NULL)
	{
		if (PQgetisnull(r, 0, 0))
			msg = psprintf("the transfer's %s credential is not a postgres one: it gives no connection string",
						   side);
		else
		{
			*dsn = pg_strdup(PQgetvalue(r, 0, 0));
			secret_add(&x->secrets, *dsn);
		}
	}
	if (headers != NULL && !PQgetisnull(r, 0, 1))
	{
		JsonFlat	h;

		memset(&h, 0, sizeof(h));
		if (json_read_flat(PQgetvalue(r, 0, 1), &h))
		{
			for (i = 0; i < h.n; i++)
			{
				if (h.values[i] != NULL)
					secret_add(&x->secrets, h.values[i]);
				headers->keys = pg_realloc(headers->keys, sizeof(char *) * (headers->n + 1));
				headers->values = pg_realloc(headers->values, sizeof(char *) * (headers->n + 1));
				headers->keys[headers->n] = h.keys[i];
				headers->values[headers->n] = h.values[i];
				headers->n++;
			}
			/* the strings moved into headers */
			pg_free(h.keys);
			pg_free(h.values);
		}
	}
	PQclear(r);
	return msg;
}

/*
 * side_dsn is where a postgres side (source or target) connects: its dsn
 * (a connection string given as auth or dsn), else its credential's.
 */
static char *
side_dsn(Transfer *x, const char *side, char **dsn)
{
	const char *given = field(x->task, psprintf("%s_dsn", side));
	const char *auth = field(x->task, psprintf("%s_auth", side));

	*dsn = NULL;
	if (given != NULL)
	{
		*dsn = pg_strdup(given);
		secret_add(&x->secrets, given);
		return NULL;
	}
	if (auth == NULL)
		return psprintf("the transfer's %s needs auth (a credential, or a connection string) or a dsn: it does not use the worker's own database",
						side);
	return resolve(x, side, auth, dsn, NULL);
}

/* split_flat reads a JSON text of a mapping (or a list) of scalars; false if it is not one */
static bool
split_flat(const char *json, JsonFlat *out)
{
	memset(out, 0, sizeof(JsonFlat));
	return json == NULL || json_read_flat(json, out);
}

/* quoted is an identifier quoted for the target; NULL (with *error) if it cannot be */
static char *
quoted(Transfer *x, const char *name, char **error)
{
	char	   *q = PQescapeIdentifier(x->target, name, strlen(name));
	char	   *copy;

	if (q == NULL)
	{
		*error = psprintf("column name \"%s\" cannot be quoted: %s", name,
						  PQerrorMessage(x->target));
		return NULL;
	}
	copy = pg_strdup(q);
	PQfreemem(q);
	return copy;
}

/*
 * build_insert writes the INSERT of a batch: $1 the batch's JSON, $2 the
 * dotted path to its list of rows in it, then each column's name and its
 * field's dotted path, as parameters.
 */
static char *
build_insert(Transfer *x, const char *key_json)
{
	PQExpBufferData sql;
	char	  **q = pg_malloc0(sizeof(char *) * x->ncols);
	bool	   *is_key = pg_malloc0(sizeof(bool) * x->ncols);
	char	   *error = NULL;
	int			i;
	int			nkeys = 0;

	for (i = 0; i < x->ncols; i++)
		if ((q[i] = quoted(x, x->cols[i], &error)) == NULL)
			return error;
	if (strcmp(x->mode, "upsert") == 0)
	{
		JsonFlat	keys;

		if (!split_flat(key_json, &keys))
			return pg_strdup("target.key must be a column name or a list of them");
		for (i = 0; i < keys.n; i++)
		{
			int			k;

			for (k = 0; k < x->ncols; k++)
				if (keys.values[i] != NULL && strcmp(keys.values[i], x->cols[k]) == 0)
					break;
			if (k == x->ncols)
			{
				error = psprintf("upsert key \"%s\" is not one of the columns transferred",
								 keys.values[i] ? keys.values[i] : "null");
				json_flat_free(&keys);
				return error;
			}
			is_key[k] = true;
			nkeys++;
		}
		json_flat_free(&keys);
		if (nkeys == 0)
		{
			/* NoETL's upsert took the first column for the key */
			is_key[0] = true;
			nkeys = 1;
		}
	}
	initPQExpBuffer(&sql);
	appendPQExpBuffer(&sql,
					  "WITH src AS (SELECT r.* FROM pg_catalog.jsonb_array_elements("
					  "COALESCE((SELECT CASE pg_catalog.jsonb_typeof(d.x) WHEN 'array' THEN d.x"
					  " ELSE pg_catalog.jsonb_build_array(d.x) END"
					  " FROM (SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.#>)"
					  " pg_catalog.string_to_array($2::pg_catalog.text, '.')) d(x)), '[]'::pg_catalog.jsonb)) WITH ORDINALITY e(v, i),"
					  " LATERAL pg_catalog.jsonb_populate_record(NULL::%s, pg_catalog.jsonb_build_object(",
					  x->table);
	for (i = 0; i < x->ncols; i++)
		appendPQExpBuffer(&sql, "%s$%d::pg_catalog.text, e.v OPERATOR(pg_catalog.#>) pg_catalog.string_to_array($%d::pg_catalog.text, '.')",
						  i > 0 ? ", " : "", 3 + 2 * i, 4 + 2 * i);
	appendPQExpBuffer(&sql, ")) r ORDER BY e.i), ins AS (INSERT INTO %s (", x->table);
	for (i = 0; i < x->ncols; i++)
		appendPQExpBuffer(&sql, "%s%s", i > 0 ? ", " : "", q[i]);
	appendPQExpBufferStr(&sql, ") SELECT ");
	for (i = 0; i < x->ncols; i++)
		appendPQExpBuffer(&sql, "%ssrc.%s", i > 0 ? ", " : "", q[i]);
	appendPQExpBufferStr(&sql, " FROM src");
	if (nkeys > 0)
	{
		bool		first = true;

		appendPQExpBufferStr(&sql, " ON CONFLICT (");
		for (i = 0; i < x->ncols; i++)
			if (is_key[i])
			{
				appendPQExpBuffer(&sql, "%s%s", first ? "" : ", ", q[i]);
				first = false;
			}
		appendPQExpBufferStr(&sql, ") DO ");
		if (nkeys == x->ncols)
			appendPQExpBufferStr(&sql, "NOTHING");
		else
		{
			first = true;
			appendPQExpBufferStr(&sql, "UPDATE SET ");
			for (i = 0; i < x->ncols; i++)
				if (!is_key[i])
				{
					appendPQExpBuffer(&sql, "%s%s = EXCLUDED.%s", first ? "" : ", ", q[i], q[i]);
					first = false;
				}
		}
	}
	appendPQExpBufferStr(&sql, " RETURNING 1) SELECT (SELECT pg_catalog.count(*) FROM src),"
						 " (SELECT pg_catalog.count(*) FROM ins)");
	for (i = 0; i < x->ncols; i++)
		pg_free(q[i]);
	pg_free(q);
	pg_free(is_key);
	x->insert = sql.data;
	return NULL;
}

/* insert_batch inserts the rows at path in json; NULL, or the error (to be freed) */
static char *
insert_batch(Transfer *x, const char *json, const char *path)
{
	int			n = 2 + 2 * x->ncols;
	const char **params = pg_malloc0(sizeof(char *) * n);
	PGresult   *r;
	char	   *error = NULL;
	int			i;

	params[0] = json;
	params[1] = path;
	for (i = 0; i < x->ncols; i++)
	{
		params[2 + 2 * i] = x->cols[i];
		params[3 + 2 * i] = x->fields[i];
	}
	r = PQexecParams(x->target, x->insert, n, NULL, params, NULL, NULL, 0);
	pg_free(params);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

		error = psprintf("the insert into %s failed: %s%s%s", x->table,
						 server_message(x->target, r), detail ? " " : "", detail ? detail : "");
	}
	else
	{
		x->fetched += atol(PQgetvalue(r, 0, 0));
		x->transferred += atol(PQgetvalue(r, 0, 1));
		x->chunks++;
	}
	PQclear(r);
	return error;
}

/* run_command runs a statement on the target without parameters */
static char *
run_command(Transfer *x, const char *sql)
{
	PGresult   *r = PQexec(x->target, sql);
	char	   *error = NULL;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		error = psprintf("%s on the target failed: %s", sql, server_message(x->target, r));
	PQclear(r);
	return error;
}

/* set_mapping takes the target's columns and the source's fields from the mapping */
static char *
set_mapping(Transfer *x, const char *mapping)
{
	JsonFlat	m;
	int			i;

	if (!split_flat(mapping, &m) || (mapping != NULL && m.keys == NULL))
		return pg_strdup("target.mapping must map column names to field names (strings)");
	if (m.n > MAX_COLUMNS)
	{
		json_flat_free(&m);
		return psprintf("target.mapping has more than %d columns", MAX_COLUMNS);
	}
	for (i = 0; i < m.n; i++)
		if (m.keys[i] == NULL || *m.keys[i] == '\0' || m.values[i] == NULL)
		{
			json_flat_free(&m);
			return pg_strdup("target.mapping must map column names to field names (strings)");
		}
	x->ncols = m.n;
	x->cols = m.keys;
	x->fields = m.values;
	return NULL;
}

/* from_http fetches the source's rows with the http tool and inserts them in one batch */
static char *
from_http(Transfer *x, double timeout)
{
	const Task *t = x->task;
	Task		req;
	PQExpBufferData doc;
	char	   *error = NULL;
	const char *data_path = field(t, "data_path");
	const char *auth = field(t, "source_auth");
	char	   *path;

	memset(&req, 0, sizeof(req));
	req.queue_id = t->queue_id;
	req.tool = "http";
	req.method = (char *) (field(t, "method") ? field(t, "method") : "GET");
	req.url = (char *) field(t, "url");
	if (req.url == NULL || *req.url == '\0')
		return pg_strdup("the transfer's http source needs a url (or endpoint)");
	if (!split_flat(field(t, "headers"), &req.headers))
		return pg_strdup("source.headers must be a mapping of strings");
	if (auth != NULL && (error = resolve(x, "source", auth, NULL, &req.headers)) != NULL)
	{
		json_flat_free(&req.headers);
		return error;
	}
	if (x->ncols == 0)
	{
		json_flat_free(&req.headers);
		return pg_strdup("a transfer from http needs target.mapping {column: field}");
	}
	if ((error = build_insert(x, field(t, "key"))) != NULL)
	{
		json_flat_free(&req.headers);
		return error;
	}
	initPQExpBuffer(&doc);
	tool_http(x->cx, &req, timeout, &doc);
	json_flat_free(&req.headers);
	if (strncmp(doc.data, "{\"ok\": true", 11) != 0)
	{
		/* the http tool's own message */
		const char *params[1] = {doc.data};
		PGresult   *r = PQexecParams(x->target, "SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'error'",
									 1, NULL, params, NULL, NULL, 0);

		error = psprintf("the transfer's http source failed: %s",
						 PQresultStatus(r) == PGRES_TUPLES_OK && !PQgetisnull(r, 0, 0) ?
						 PQgetvalue(r, 0, 0) : "no response");
		PQclear(r);
		termPQExpBuffer(&doc);
		return error;
	}
	path = data_path != NULL && *data_path != '\0' ?
		psprintf("result.data.%s", data_path) : pg_strdup("result.data");
	error = insert_batch(x, doc.data, path);
	pg_free(path);
	termPQExpBuffer(&doc);
	return error;
}

/* from_postgres reads the source query a row at a time and inserts batches of chunk rows */
static char *
from_postgres(Transfer *x)
{
	const Task *t = x->task;
	const char *query = field(t, "query");
	char	   *dsn = NULL;
	char	   *error;
	PGconn	   *src;
	PGresult   *r;
	PQExpBufferData batch;
	int			rows = 0;
	bool		identity = x->ncols == 0;
	char	   *appname;

	if (query == NULL || *query == '\0')
		return pg_strdup("the transfer's postgres source needs a query");
	if ((error = side_dsn(x, "source", &dsn)) != NULL)
		return error;
	appname = psprintf("noetl task %s transfer source", t->queue_id);
	src = db_connect(dsn, appname, true, false);
	pg_free(appname);
	pg_free(dsn);
	if (PQstatus(src) != CONNECTION_OK)
	{
		error = psprintf("could not connect to the transfer's source: %s", PQerrorMessage(src));
		PQfinish(src);
		return error;
	}
	if (!PQsendQueryParams(src, query, 0, NULL, NULL, NULL, NULL, 0) || !PQsetSingleRowMode(src))
	{
		error = psprintf("the transfer's source query could not be sent: %s", PQerrorMessage(src));
		PQfinish(src);
		return error;
	}
	initPQExpBuffer(&batch);
	while ((r = PQgetResult(src)) != NULL)
	{
		ExecStatusType st = PQresultStatus(r);
		int			k;

		if (error != NULL)
		{
			/* the rest of the source is not wanted */
			PGcancel   *cancel = PQgetCancel(src);
			char		buf[256];

			if (cancel != NULL)
			{
				(void) PQcancel(cancel, buf, sizeof(buf));
				PQfreeCancel(cancel);
			}
			PQclear(r);
			while ((r = PQgetResult(src)) != NULL)
				PQclear(r);
			break;
		}
		if (st == PGRES_TUPLES_OK)
		{
			/* the end of the rows (or a query that returned none) */
			PQclear(r);
			continue;
		}
		if (st != PGRES_SINGLE_TUPLE)
		{
			error = st == PGRES_COMMAND_OK ?
				pg_strdup("the transfer's source query returns no rows") :
				psprintf("the transfer's source query failed: %s", server_message(src, r));
			PQclear(r);
			continue;
		}
		if (x->insert == NULL)
		{
			if (identity)
			{
				/* no mapping: the source's columns, each under its own name */
				x->ncols = Min(PQnfields(r), MAX_COLUMNS);
				x->cols = pg_malloc0(sizeof(char *) * Max(x->ncols, 1));
				x->fields = pg_malloc0(sizeof(char *) * Max(x->ncols, 1));
				for (k = 0; k < x->ncols; k++)
				{
					x->cols[k] = pg_strdup(PQfname(r, k));
					x->fields[k] = pg_strdup(PQfname(r, k));
				}
			}
			if (x->ncols == 0)
				error = pg_strdup("the transfer's source query returns rows without columns");
			else
				error = build_insert(x, field(t, "key"));
			if (error != NULL)
			{
				PQclear(r);
				continue;
			}
		}
		appendPQExpBufferStr(&batch, rows == 0 ? "[{" : ", {");
		for (k = 0; k < PQnfields(r); k++)
		{
			appendPQExpBufferStr(&batch, k > 0 ? ", " : "");
			json_append_string(&batch, PQfname(r, k), strlen(PQfname(r, k)));
			appendPQExpBufferStr(&batch, ": ");
			tool_postgres_append_value(&batch, r, 0, k);
		}
		appendPQExpBufferChar(&batch, '}');
		PQclear(r);
		if (++rows == x->chunk || batch.len > MAX_BATCH_BYTES)
		{
			appendPQExpBufferChar(&batch, ']');
			error = insert_batch(x, batch.data, "");
			resetPQExpBuffer(&batch);
			rows = 0;
		}
	}
	if (error == NULL && rows > 0)
	{
		appendPQExpBufferChar(&batch, ']');
		error = insert_batch(x, batch.data, "");
	}
	termPQExpBuffer(&batch);
	PQfinish(src);
	return error;
}

/* tool_transfer runs a transfer task (the worker enforces timeout) */
void
tool_transfer(const RunnerContext *cx, const Task *t, double timeout, PQExpBuffer out)
{
	Transfer	x;
	const char *source = field(t, "source_tool");
	const char *target = field(t, "target_tool");
	const char *table = field(t, "table");
	const char *chunk = field(t, "chunk_size");
	char	   *dsn = NULL;
	char	   *error = NULL;
	bool		began = false;
	int			i;

	memset(&x, 0, sizeof(x));
	x.task = t;
	x.cx = cx;
	x.mode = field(t, "mode") ? field(t, "mode") : "append";
	x.chunk = 1000;
	if (source == NULL || (strcmp(source, "http") != 0 && strcmp(source, "postgres") != 0))
		error = psprintf("a transfer's source must be http or postgres, not %s%s%s",
						 source ? "\"" : "", source ? source : "none", source ? "\"" : "");
	else if (target == NULL || strcmp(target, "postgres") != 0)
		error = psprintf("a transfer's target must be postgres, not %s%s%s",
						 target ? "\"" : "", target ? target : "none", target ? "\"" : "");
	else if (field(t, "target_query") != NULL)
		error = pg_strdup("a transfer's target.query is not supported: give target.table (and mapping)");
	else if (table == NULL || *table == '\0')
		error = pg_strdup("a transfer's target needs a table");
	else if (strcmp(x.mode, "append") != 0 && strcmp(x.mode, "insert") != 0 &&
			 strcmp(x.mode, "replace") != 0 && strcmp(x.mode, "upsert") != 0)
		error = psprintf("a transfer's mode must be insert, append, replace or upsert, not \"%s\"",
						 x.mode);
	else if (chunk != NULL && ((x.chunk = atoi(chunk)) < 1 || x.chunk > MAX_CHUNK ||
							   strspn(chunk, "0123456789") != strlen(chunk)))
		error = psprintf("a transfer's chunk_size must be an integer from 1 to %d, not \"%s\"",
						 MAX_CHUNK, chunk);
	if (error == NULL)
		error = set_mapping(&x, field(t, "mapping"));
	if (error == NULL)
		error = side_dsn(&x, "target", &dsn);
	if (error == NULL && (x.target = tool_postgres_connection(cx, dsn, &error)) == NULL)
	{
		char	   *e = psprintf("could not reach the transfer's target: %s", error);

		pg_free(error);
		error = e;
	}
	pg_free(dsn);
	if (error == NULL)
	{
		const char *params[1] = {table};
		PGresult   *r = PQexecParams(x.target, "SELECT $1::pg_catalog.regclass::pg_catalog.text",
									 1, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			x.table = pg_strdup(PQgetvalue(r, 0, 0));
		else
			error = psprintf("the transfer's target table: %s", server_message(x.target, r));
		PQclear(r);
	}
	if (error == NULL && (error = run_command(&x, "BEGIN")) == NULL)
		began = true;
	if (error == NULL && strcmp(x.mode, "replace") == 0)
	{
		char	   *sql = psprintf("TRUNCATE TABLE %s", x.table);

		error = run_command(&x, sql);
		pg_free(sql);
	}
	if (error == NULL)
		error = strcmp(source, "http") == 0 ? from_http(&x, timeout) : from_postgres(&x);
	if (error == NULL)
		error = run_command(&x, "COMMIT");
	else if (began)
		pg_free(run_command(&x, "ROLLBACK"));

	resetPQExpBuffer(out);
	if (error != NULL)
	{
		char	   *msg = psprintf("transfer failed: %s", error);

		tool_failure(out, msg, NULL);
		pg_free(msg);
	}
	else
	{
		appendPQExpBuffer(out, "{\"ok\": true, \"result\": {\"direction\": \"%s_to_postgres\","
						  " \"source_type\": \"%s\", \"target_type\": \"postgres\", \"mode\": ",
						  source, source);
		json_append_string(out, x.mode, strlen(x.mode));
		appendPQExpBuffer(out, ", \"rows_transferred\": %ld, \"chunks_processed\": %d,"
						  " \"records_fetched\": %ld, \"columns\": [",
						  x.transferred, x.chunks, x.fetched);
		for (i = 0; i < x.ncols; i++)
		{
			appendPQExpBufferStr(out, i > 0 ? ", " : "");
			json_append_string(out, x.cols[i], strlen(x.cols[i]));
		}
		appendPQExpBufferStr(out, "]}}");
	}
	secret_redact_json(&x.secrets, out);
	secret_free(&x.secrets);
	for (i = 0; i < x.ncols; i++)
	{
		pg_free(x.cols[i]);
		pg_free(x.fields[i]);
	}
	pg_free(x.cols);
	pg_free(x.fields);
	pg_free(x.table);
	pg_free(x.insert);
	pg_free(error);
}
