/*-------------------------------------------------------------------------
 *
 * task.h
 *	  A leased task, with the fields its tool needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_TASK_H
#define CLIENT_TASK_H

#include "libpq-fe.h"
#include "pqexpbuffer.h"

#include "json.h"
#include "secrets.h"

typedef struct Task
{
	char	   *queue_id;
	char	   *execution_id;
	char	   *node_id;
	char	   *tool;
	int			attempts;
	char	   *lease_token;	/* what reports of this lease must carry */
	double		timeout;		/* seconds, 0 = the worker's default */
	char	   *args;			/* the args when an object, JSON; else NULL */
	char	   *code;			/* python */
	char	   *python;			/* its action's other python fields, a JSON object */
	bool		needs_context;	/* python: its code names "context" (task_read_context) */
	char	   *context_error;	/* why its context could not be read, or NULL */
	char	   *method;			/* http */
	char	   *url;
	bool		follow_redirects;	/* http: follow 3xx (not NoETL's default) */
	JsonFlat	headers;
	JsonFlat	query;			/* the args object's members, as text */
	char	   *command;		/* postgres */
	char	   *dsn;
	bool		has_bind;		/* the args are a list: bind parameters */
	JsonFlat	bind;			/* $1..$n as text, NULL = SQL NULL */
	JsonFlat	transfer;		/* a transfer's source and target, flattened
								 * (tool_transfer.c) */
	SecretList	secrets;		/* what it was given that must not be reported (secrets.h) */
} Task;

extern bool task_prepare(PGconn *conn);
extern int	task_lease(PGconn *conn, const char *worker, int max, int lease_seconds,
					   const char *tools, Task **tasks);
extern void task_report_started(PGconn *conn, Task *const *tasks, int n);
extern void task_read_context(PGconn *conn, Task *task);
extern void task_free(Task *task);
extern void task_pack(const Task *task, PQExpBuffer buf);
extern bool task_unpack(const char *data, size_t len, Task *task);

#endif							/* CLIENT_TASK_H */
