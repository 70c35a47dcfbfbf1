/*-------------------------------------------------------------------------
 *
 * tool_postgres.c
 *	  The postgres tool, with libpq.
 *
 * Fields: command (or query, or sql), and where to run it: dsn, or auth
 * when it is a connection string; otherwise the worker's own database
 * (its --dsn or PG* variables).  NoETL's named credentials are not
 * resolved by this worker.  With params (a list; the step's args), the
 * command is one statement whose $1..$n are bound to them: the values
 * never become SQL text, so nothing in them can be executed.  Without, the
 * command may hold several statements.  The result describes the last:
 * {"command": "SELECT 2", "row_count": 2, "rows": [{column: value}, ...]}
 * ("rows" only for statements that return rows).  Values keep their JSON
 * types: numbers, booleans, json and jsonb as such, everything else as
 * text.  An error is the server's message.  The connection's
 * application_name is "noetl task QUEUE_ID" unless its dsn names one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "catalog/pg_type_d.h"

#include "db.h"
#include "json.h"
#include "tool.h"

/* append_value appends a column's value as JSON */
static void
append_value(PQExpBuffer buf, PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);
	size_t		len = (size_t) PQgetlength(r, row, col);

	if (PQgetisnull(r, row, col))
	{
		appendPQExpBufferStr(buf, "null");
		return;
	}
	switch (PQftype(r, col))
	{
		case BOOLOID:
			appendPQExpBufferStr(buf, strcmp(v, "t") == 0 ? "true" : "false");
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case JSONOID:
		case JSONBOID:
			/* NaN and Infinity are not JSON: they stay text */
			if (json_is_valid(v, len))
			{
				appendBinaryPQExpBuffer(buf, v, len);
				return;
			}
			break;
		default:
			break;
	}
	json_append_string(buf, v, len);
}

/* append_rows appends a result's rows as a JSON array of objects */
static void
append_rows(PQExpBuffer buf, PGresult *r)
{
	int			i;
	int			k;

	appendPQExpBufferChar(buf, '[');
	for (i = 0; i < PQntuples(r); i++)
	{
		appendPQExpBufferStr(buf, i > 0 ? ", {" : "{");
		for (k = 0; k < PQnfields(r); k++)
		{
			appendPQExpBufferStr(buf, k > 0 ? ", " : "");
			json_append_string(buf, PQfname(r, k), strlen(PQfname(r, k)));
			appendPQExpBufferStr(buf, ": ");
			append_value(buf, r, i, k);
		}
		appendPQExpBufferChar(buf, '}');
	}
	appendPQExpBufferChar(buf, ']');
}

/* tool_postgres runs a postgres task (the worker enforces timeout) */
void
tool_postgres(const Task *t, double timeout)
{
	PGconn	   *conn;
	PGresult   *r;
	PGresult   *last = NULL;
	PQExpBufferData out;
	char	   *application_name;
	const char *status;

	if (t->command == NULL || *t->command == '\0')
		tool_report_failure("a postgres task needs a command (or query, or sql)", NULL);
	application_name = psprintf("noetl task %s", t->queue_id);
	conn = db_connect(t->dsn, application_name, true, false);
	if (PQstatus(conn) != CONNECTION_OK)
		tool_report_failure(psprintf("could not connect: %s", PQerrorMessage(conn)), NULL);
	if (t->has_bind ?
		!PQsendQueryParams(conn, t->command, t->bind.n, NULL,
						   (const char *const *) t->bind.values, NULL, NULL, 0) :
		!PQsendQuery(conn, t->command))
		tool_report_failure(PQerrorMessage(conn), NULL);
	while ((r = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR)
		{
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

			tool_report_failure(msg ? msg : PQerrorMessage(conn), detail);
		}
		if (last)
			PQclear(last);
		last = r;
	}
	status = last ? PQcmdStatus(last) : "";
	initPQExpBuffer(&out);
	appendPQExpBufferStr(&out, "{\"ok\": true, \"result\": {\"command\": ");
	json_append_string(&out, status, strlen(status));
	if (last && PQresultStatus(last) == PGRES_TUPLES_OK)
	{
		appendPQExpBuffer(&out, ", \"row_count\": %d, \"rows\": ", PQntuples(last));
		append_rows(&out, last);
	}
	else
		appendPQExpBuffer(&out, ", \"row_count\": %s",
						  last && *PQcmdTuples(last) ? PQcmdTuples(last) : "0");
	appendPQExpBufferStr(&out, "}}");
	PQfinish(conn);
	tool_report(&out);
}
