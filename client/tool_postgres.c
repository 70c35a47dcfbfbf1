/*
 * tool_postgres.c
 *	  The postgres tool, with libpq.
 *
 * Fields: command (or query, or sql), and where to run it: dsn, or auth
 * when it is a connection string; otherwise the worker's own database
 * (its --dsn or PG* variables).  NoETL's named credentials are not
 * resolved by this worker.  With params (a list; the step's args), the
 * command is one statement whose $1..$n are bound to them: the values
 * never become SQL text, so nothing in them can be executed.  Without, the
 * command may hold several statements; the result describes the last: {"command": "SELECT 2", "row_count": 2,
 * "rows": [{column: value}, ...]} ("rows" only for statements that return
 * rows).  Values keep their JSON types: numbers, booleans, json and jsonb
 * as such, everything else as text.  An error is the server's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noetl.h"

/* type OIDs (catalog/pg_type_d.h) */
#define BOOLOID		16
#define INT8OID		20
#define INT2OID		21
#define INT4OID		23
#define OIDOID		26
#define FLOAT4OID	700
#define FLOAT8OID	701
#define NUMERICOID	1700
#define JSONOID		114
#define JSONBOID	3802

static void
value(Buf *b, PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);
	size_t		len = (size_t) PQgetlength(r, row, col);

	if (PQgetisnull(r, row, col))
	{
		buf_puts(b, "null");
		return;
	}
	switch (PQftype(r, col))
	{
		case BOOLOID:
			buf_puts(b, strcmp(v, "t") == 0 ? "true" : "false");
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
			if (json_valid(v, len))
			{
				buf_add(b, v, len);
				return;
			}
			break;
		default:
			break;
	}
	buf_json_string(b, v, len);
}

void
tool_postgres(Task *t, double timeout)
{
	PGconn	   *c;
	PGresult   *r;
	PGresult   *last = NULL;
	Buf			out;
	int			i;
	int			k;

	(void) timeout;				/* the worker enforces it */
	if (t->command == NULL || *t->command == '\0')
		report_failure("a postgres task needs a command (or query, or sql)", NULL);
	c = PQconnectdb(t->dsn ? t->dsn : (opt_dsn ? opt_dsn : ""));
	if (PQstatus(c) != CONNECTION_OK)
	{
		Buf			msg;

		buf_init(&msg);
		buf_printf(&msg, "could not connect: %s", PQerrorMessage(c));
		report_failure(msg.data, NULL);
	}
	if (t->nbind >= 0 ?
		!PQsendQueryParams(c, t->command, t->nbind, NULL, (const char *const *) t->bind,
						   NULL, NULL, 0) :
		!PQsendQuery(c, t->command))
		report_failure(PQerrorMessage(c), NULL);
	while ((r = PQgetResult(c)) != NULL)
	{
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR)
		{
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

			report_failure(msg ? msg : PQerrorMessage(c), detail);
		}
		if (last)
			PQclear(last);
		last = r;
	}
	buf_init(&out);
	buf_puts(&out, "{\"ok\": true, \"result\": {\"command\": ");
	buf_json_string(&out, last ? PQcmdStatus(last) : "", last ? strlen(PQcmdStatus(last)) : 0);
	if (last && PQresultStatus(last) == PGRES_TUPLES_OK)
	{
		buf_printf(&out, ", \"row_count\": %d, \"rows\": [", PQntuples(last));
		for (i = 0; i < PQntuples(last); i++)
		{
			buf_puts(&out, i > 0 ? ", {" : "{");
			for (k = 0; k < PQnfields(last); k++)
			{
				buf_puts(&out, k > 0 ? ", " : "");
				buf_json_string(&out, PQfname(last, k), strlen(PQfname(last, k)));
				buf_puts(&out, ": ");
				value(&out, last, i, k);
			}
			buf_puts(&out, "}");
		}
		buf_puts(&out, "]");
	}
	else
		buf_printf(&out, ", \"row_count\": %s",
				   last && *PQcmdTuples(last) ? PQcmdTuples(last) : "0");
	buf_puts(&out, "}}");
	PQfinish(c);
	report(&out);
}
