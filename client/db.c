/*-------------------------------------------------------------------------
 *
 * db.c
 *	  Connecting to the database, and running a statement that reports
 *	  its own failure.
 *
 * Connections come from a connection string or URI (--dsn, or a postgres
 * task's dsn), else from the PG* environment variables, as for any libpq
 * program.  Each says what it is in application_name unless the
 * connection string names one: "noetl run", "noetl worker ID", ...  The
 * program's own connections look up names in pg_catalog only (its SQL
 * names noetl's objects in full), so that nothing another role planted
 * where the search_path looks runs as the program's role; a postgres
 * task's connection keeps its settings, the task's SQL being the user's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"

#include "db.h"

static const char *default_dsn = NULL;

/* db_set_default_dsn sets what db_connect uses when given no dsn (--dsn) */
void
db_set_default_dsn(const char *dsn)
{
	default_dsn = dsn;
}

/*
 * db_connect connects with dsn (NULL: the default), application_name as
 * its fallback; with own (the program's own connections), the search_path
 * is pinned to pg_catalog.  On failure it logs libpq's message and exits
 * 2, or, with fail_ok, returns the failed connection for the caller to
 * report.
 */
PGconn *
db_connect(const char *dsn, const char *application_name, bool fail_ok, bool own)
{
	const char *keywords[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {dsn ? dsn : default_dsn, application_name, NULL};
	PGconn	   *conn = PQconnectdbParams(keywords, values, true);

	if (PQstatus(conn) == CONNECTION_OK && own)
		PQclear(PQexec(conn, "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)"));
	if (PQstatus(conn) != CONNECTION_OK && !fail_ok)
	{
		pg_log_error("%s", PQerrorMessage(conn));
		exit(2);
	}
	return conn;
}

/*
 * checked logs the server's message of a failed result, after "context: "
 * unless context is NULL, and frees it: NULL; else returns it
 */
static PGresult *
checked(PGconn *conn, const char *context, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

		pg_log_error("%s%s%s", context ? context : "", context ? ": " : "",
					 msg ? msg : PQerrorMessage(conn));
		if (detail)
			pg_log_error_detail("%s", detail);
		PQclear(r);
		return NULL;
	}
	return r;
}

/*
 * db_exec runs a statement with text parameters; on failure it logs the
 * server's message, after "context: " unless context is NULL, and returns
 * NULL.
 */
PGresult *
db_exec(PGconn *conn, const char *context, const char *sql, int nparams,
		const char *const *params)
{
	return checked(conn, context,
				   PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0));
}

/*
 * db_prepare prepares a statement of text parameters under a name, for
 * the session; false (logged) on failure
 */
bool
db_prepare(PGconn *conn, const char *name, const char *sql, int nparams)
{
	PGresult   *r = checked(conn, name, PQprepare(conn, name, sql, nparams, NULL));

	PQclear(r);
	return r != NULL;
}

/* db_exec_prepared is db_exec for a statement that db_prepare prepared */
PGresult *
db_exec_prepared(PGconn *conn, const char *context, const char *name, int nparams,
				 const char *const *params)
{
	return checked(conn, context,
				   PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0));
}
