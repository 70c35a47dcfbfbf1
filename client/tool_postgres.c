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
 * text.  An error is the server's message.
 *
 * Connections are kept: the native runner of a job slot, which runs the
 * slot's postgres tasks one after another, holds a few, one for each
 * connection string its tasks used (the task's dsn, or the worker's own),
 * the least recently used going when a new one needs room (no dsn and
 * dsn "" are two: the worker's --dsn, and the PG* variables alone).
 * Before a kept connection is used, what the server sent while it was
 * idle is read: one the server closed (idle_session_timeout,
 * pg_terminate_backend) is replaced, and so is one found closed by the
 * task's first statement, which names the connection, before anything of
 * the task ran; a connection lost after the task's command was sent is
 * not, as the command may have run.  After each task, once its report is
 * sent, its connection is put back as a new one would be: a transaction
 * the command left open (or failed) is rolled back, then DISCARD ALL
 * drops what else the session kept (settings, temp tables, prepared
 * statements, cursors, LISTENs, advisory locks, a SET ROLE).  DISCARD ALL
 * does not reach what extensions keep per session: dblink's named
 * connections, postgres_fdw's cached connections, the state a procedural
 * language keeps per session (PL/Python's GD and SD, PL/Perl's %_SHARED),
 * and libraries LOADed; tasks that must not see these use --isolate.  A
 * command that starts COPY is refused and its connection closed.
 *
 * A connection's application_name is "noetl task QUEUE_ID" while it runs
 * a task (set by the task's first statement, pipelined with a command
 * that has params) and "noetl worker ID slot N" while idle, unless its
 * dsn (or PGAPPNAME) names one, which it keeps.  TCP keepalives are libpq's default (on, with the
 * system's timings) unless the dsn says otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <poll.h>

#include "catalog/pg_type_d.h"

#include "db.h"
#include "json.h"
#include "tool.h"

/* append_value appends a column's value as JSON (the transfer tool's rows too) */
void
tool_postgres_append_value(PQExpBuffer buf, PGresult *r, int row, int col)
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
			tool_postgres_append_value(buf, r, i, k);
		}
		appendPQExpBufferChar(buf, '}');
	}
	appendPQExpBufferChar(buf, ']');
}

/* the most connections a native runner keeps */
#define POOL_SIZE 4

/* the statement that names a connection after its task */
#define SET_NAME_SQL "SELECT pg_catalog.set_config('application_name', $1, false)"

/* SQLSTATE idle_session_timeout: the server closed an idle session */
#define IDLE_SESSION_TIMEOUT "57P05"

/* a kept connection */
typedef struct Pooled
{
	bool		in_use;
	char	   *dsn;			/* the task's connection string; NULL: the worker's own */
	PGconn	   *conn;
	bool		named;			/* its dsn (or PGAPPNAME) set application_name */
	bool		lent;			/* lent to another tool for the task (tool_postgres_connection) */
	unsigned long used;			/* when last used, in tasks */
} Pooled;

static Pooled pool[POOL_SIZE];
static unsigned long tasks_run = 0;
static Pooled *last_used = NULL;	/* the connection of the task just run */

/* drop closes a kept connection */
static void
drop(Pooled *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	pg_free(p->dsn);
	memset(p, 0, sizeof(Pooled));
}

/* same_dsn: are two connection strings (NULL: the worker's own) the same? */
static bool
same_dsn(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* ignore_notice is a notice processor that drops what it is given */
static void
ignore_notice(void *arg, const char *message)
{
}

/*
 * alive says whether a kept connection is still open.  libpq notices a
 * connection the server closed only when it reads from it: if the socket
 * is readable while the connection is idle, what came is read (a server
 * that closed the session says why, idle_session_timeout or
 * pg_terminate_backend, then closes it), without printing it into the
 * next task's log, and notifications are dropped.
 */
static bool
alive(PGconn *conn)
{
	struct pollfd pfd;
	PQnoticeProcessor old;
	PGnotify   *nf;
	bool		ok;

	if (PQstatus(conn) != CONNECTION_OK || PQsocket(conn) < 0)
		return false;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return true;
	old = PQsetNoticeProcessor(conn, ignore_notice, NULL);
	ok = PQconsumeInput(conn) != 0;
	(void) PQsetNoticeProcessor(conn, old, NULL);
	while ((nf = PQnotifies(conn)) != NULL)
		PQfreemem(nf);
	return ok && PQstatus(conn) == CONNECTION_OK;
}

/* named says whether a connection's application_name was set, not its fallback */
static bool
named(PGconn *conn)
{
	PQconninfoOption *options = PQconninfo(conn);
	PQconninfoOption *o;
	bool		found = false;

	for (o = options; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "application_name") == 0 && o->val != NULL && *o->val != '\0')
			found = true;
	PQconninfoFree(options);
	return found;
}

/*
 * pooled_connection returns the kept connection for dsn (NULL: the
 * worker's own), connecting if there is none or it is closed (*reused
 * says whether it was kept); NULL (the message in *error, to be freed)
 * if it cannot connect.
 */
static Pooled *
pooled_connection(const RunnerContext *cx, const char *dsn, bool *reused, char **error)
{
	Pooled	   *p = NULL;
	char	   *application_name;
	int			i;

	for (i = 0; i < POOL_SIZE; i++)
		if (pool[i].in_use && same_dsn(pool[i].dsn, dsn))
		{
			p = &pool[i];
			break;
		}
	if (p != NULL && !alive(p->conn))
	{
		drop(p);
		p = NULL;
	}
	*reused = p != NULL;
	if (p == NULL)
	{
		/* a free place, or the least recently used */
		p = &pool[0];
		for (i = 0; i < POOL_SIZE; i++)
		{
			if (!pool[i].in_use)
			{
				p = &pool[i];
				break;
			}
			if (pool[i].used < p->used)
				p = &pool[i];
		}
		drop(p);
		application_name = psprintf("noetl worker %s slot %d", cx->worker_id, cx->slot);
		p->conn = db_connect(dsn, application_name, true, false);
		pg_free(application_name);
		if (PQstatus(p->conn) != CONNECTION_OK)
		{
			*error = psprintf("could not connect: %s", PQerrorMessage(p->conn));
			drop(p);
			return NULL;
		}
		p->in_use = true;
		p->dsn = dsn ? pg_strdup(dsn) : NULL;
		p->named = named(p->conn);
	}
	p->used = ++tasks_run;
	return p;
}

/*
 * closed_while_idle says whether a failed result is a connection's loss
 * that came before anything sent after it could run: the statement that
 * named the connection failed because the server had closed the idle
 * session (or, if that statement was sent alone, because the connection
 * was lost at all)
 */
static bool
closed_while_idle(PGconn *conn, PGresult *r, bool alone)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (state != NULL && strcmp(state, IDLE_SESSION_TIMEOUT) == 0)
		return true;
	return alone && PQstatus(conn) != CONNECTION_OK;
}

/*
 * send_command names the connection after the task ("noetl task
 * QUEUE_ID", which DISCARD ALL takes back after the task), unless its
 * dsn named it, and sends the task's command.  A command with params is pipelined after the name, in
 * one round trip; a command without, which may hold several statements,
 * goes by the simple protocol, which libpq does not pipeline, after the
 * name's round trip.  Returns 1 if the command was sent (its results
 * next), 0 if it failed before anything of the task ran (*retry: because
 * the kept connection had been closed), -1 on another failure (the
 * message in out).
 */
static int
send_command(Pooled *p, const Task *t, PQExpBuffer out, bool *retry)
{
	PGconn	   *conn = p->conn;
	char	   *name;
	const char *params[1];
	PGresult   *r;
	bool		ok;

	*retry = false;
	if (p->named)
	{
		/* the connection keeps the name its dsn gave it */
		if (t->has_bind ?
			!PQsendQueryParams(conn, t->command, t->bind.n, NULL,
							   (const char *const *) t->bind.values, NULL, NULL, 0) :
			!PQsendQuery(conn, t->command))
		{
			tool_failure(out, PQerrorMessage(conn), NULL);
			return -1;
		}
		return 1;
	}
	name = psprintf("noetl task %s", t->queue_id);
	params[0] = name;
	if (!t->has_bind)
	{
		r = PQexecParams(conn, SET_NAME_SQL, 1, NULL, params, NULL, NULL, 0);
		pg_free(name);
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
		{
			*retry = closed_while_idle(conn, r, true);
			tool_failure(out, PQerrorMessage(conn), NULL);
		}
		PQclear(r);
		if (!ok)
			return 0;
		if (!PQsendQuery(conn, t->command))
		{
			tool_failure(out, PQerrorMessage(conn), NULL);
			return -1;
		}
		return 1;
	}
	ok = PQenterPipelineMode(conn) &&
		PQsendQueryParams(conn, SET_NAME_SQL, 1, NULL, params, NULL, NULL, 0) &&
		PQpipelineSync(conn) &&
		PQsendQueryParams(conn, t->command, t->bind.n, NULL,
						  (const char *const *) t->bind.values, NULL, NULL, 0) &&
		PQpipelineSync(conn);
	pg_free(name);
	if (!ok)
	{
		tool_failure(out, PQerrorMessage(conn), NULL);
		return -1;
	}
	/* the name's result, the end of its results, its sync */
	r = PQgetResult(conn);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
	{
		*retry = closed_while_idle(conn, r, false);
		tool_failure(out, PQerrorMessage(conn), NULL);
		PQclear(r);
		return *retry ? 0 : -1;
	}
	PQclear(r);
	while ((r = PQgetResult(conn)) != NULL)
		PQclear(r);
	r = PQgetResult(conn);
	ok = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
	PQclear(r);
	if (!ok)
	{
		tool_failure(out, PQerrorMessage(conn), NULL);
		return -1;
	}
	return 1;
}

/*
 * tool_postgres runs a postgres task (the worker enforces timeout).  On a
 * kept connection that turns out closed before anything of the task ran,
 * it runs once more on a new connection.
 */
void
tool_postgres(const RunnerContext *cx, const Task *t, double timeout, PQExpBuffer out)
{
	Pooled	   *p;
	PGconn	   *conn;
	PGresult   *r;
	PGresult   *last = NULL;
	char	   *error = NULL;
	const char *status;
	bool		failed = false;
	bool		reused;
	bool		retry;
	int			attempt;
	int			sent = 0;

	last_used = NULL;
	if (t->command == NULL || *t->command == '\0')
	{
		tool_failure(out, "a postgres task needs a command (or query, or sql)", NULL);
		return;
	}
	for (attempt = 0; attempt < 2 && sent <= 0; attempt++)
	{
		resetPQExpBuffer(out);
		if ((p = pooled_connection(cx, t->dsn, &reused, &error)) == NULL)
		{
			tool_failure(out, error, NULL);
			pg_free(error);
			return;
		}
		conn = p->conn;
		sent = send_command(p, t, out, &retry);
		if (sent <= 0)
		{
			drop(p);
			if (sent < 0 || !reused || !retry)
				return;
		}
	}
	if (sent <= 0)
		return;
	resetPQExpBuffer(out);
	last_used = p;
	for (;;)
	{
		ExecStatusType st;

		if ((r = PQgetResult(conn)) == NULL)
		{
			/* a pipelined command's sync follows the end of its results */
			if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF || PQstatus(conn) != CONNECTION_OK)
				break;
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC)
		{
			PQclear(r);
			break;
		}
		if (failed)
		{
			/* what follows the error, to the end of the command */
			PQclear(r);
			continue;
		}
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
		{
			/* nothing to copy from or to: the connection cannot go on */
			tool_failure(out, "the postgres tool does not run COPY FROM STDIN or TO STDOUT",
						 NULL);
			PQclear(r);
			if (last)
				PQclear(last);
			drop(p);
			last_used = NULL;
			return;
		}
		if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR)
		{
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

			tool_failure(out, msg ? msg : PQerrorMessage(conn), detail);
			failed = true;
			PQclear(r);
			if (PQstatus(conn) != CONNECTION_OK)
				break;
			continue;
		}
		if (last)
			PQclear(last);
		last = r;
	}
	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF &&
		(PQstatus(conn) != CONNECTION_OK || !PQexitPipelineMode(conn)))
	{
		/* a pipeline left unfinished: the connection cannot be put back */
		drop(p);
		last_used = NULL;
	}
	if (!failed)
	{
		status = last ? PQcmdStatus(last) : "";
		appendPQExpBufferStr(out, "{\"ok\": true, \"result\": {\"command\": ");
		json_append_string(out, status, strlen(status));
		if (last && PQresultStatus(last) == PGRES_TUPLES_OK)
		{
			appendPQExpBuffer(out, ", \"row_count\": %d, \"rows\": ", PQntuples(last));
			append_rows(out, last);
		}
		else
			appendPQExpBuffer(out, ", \"row_count\": %s",
							  last && *PQcmdTuples(last) ? PQcmdTuples(last) : "0");
		appendPQExpBufferStr(out, "}}");
	}
	if (last)
		PQclear(last);
}

/*
 * tool_postgres_connection lends another native tool (transfer) the kept
 * connection for dsn (NULL: the worker's own), for the task it runs: put
 * back after the task as the postgres tool's own are.  NULL, the message
 * in *error (to be freed), if it cannot connect.
 */
PGconn *
tool_postgres_connection(const RunnerContext *cx, const char *dsn, char **error)
{
	bool		reused;
	Pooled	   *p = pooled_connection(cx, dsn, &reused, error);

	if (p == NULL)
		return NULL;
	p->lent = true;
	return p->conn;
}

/* tool_postgres_close closes the kept connections, as the runner exits */
void
tool_postgres_close(void)
{
	int			i;

	for (i = 0; i < POOL_SIZE; i++)
		drop(&pool[i]);
	last_used = NULL;
}

/* reset runs a statement of the reset; false if the connection must go */
static bool
reset(PGconn *conn, const char *sql)
{
	PGresult   *r = PQexec(conn, sql);
	bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok;
}

/* put_back puts a kept connection back as a new one would be, or drops it */
static void
put_back(Pooled *p)
{
	PGTransactionStatusType ts;

	p->lent = false;
	if (p->conn == NULL)
		return;
	if (PQstatus(p->conn) != CONNECTION_OK)
	{
		drop(p);
		return;
	}
	ts = PQtransactionStatus(p->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
	{
		if (!reset(p->conn, "ROLLBACK"))
		{
			drop(p);
			return;
		}
	}
	else if (ts != PQTRANS_IDLE)
	{
		drop(p);
		return;
	}
	if (!reset(p->conn, "DISCARD ALL"))
		drop(p);
}

/*
 * tool_postgres_after_task puts the connections of the task just run
 * back as new ones would be, or drops them
 */
void
tool_postgres_after_task(void)
{
	int			i;

	if (last_used != NULL)
		put_back(last_used);
	last_used = NULL;
	for (i = 0; i < POOL_SIZE; i++)
		if (pool[i].in_use && pool[i].lent)
			put_back(&pool[i]);
}
