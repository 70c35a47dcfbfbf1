/*-------------------------------------------------------------------------
 *
 * db.h
 *	  Connecting to the database, and running a statement that reports
 *	  its own failure.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_DB_H
#define CLIENT_DB_H

#include "libpq-fe.h"

extern void db_set_default_dsn(const char *dsn);
extern PGconn *db_connect(const char *dsn, const char *application_name, bool fail_ok, bool own);
extern PGresult *db_exec(PGconn *conn, const char *context, const char *sql,
						 int nparams, const char *const *params);
extern bool db_prepare(PGconn *conn, const char *name, const char *sql, int nparams);
extern PGresult *db_exec_prepared(PGconn *conn, const char *context, const char *name,
								  int nparams, const char *const *params);

#endif							/* CLIENT_DB_H */
