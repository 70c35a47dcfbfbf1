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
	char	   *context_error;	/* why its context or its credential could not
								 * be read (it fails), or NULL */
	char	   *method;			/* http */
	char	   *url;
	bool		follow_redirects;	/* http: follow 3xx (not NoETL's default) */
	JsonFlat	headers;
	JsonFlat	query;			/* the args object's members, as text */
	char	   *command;		/* postgres */
	char	   *dsn;
	char	   *auth;			/* postgres, http: the credential its auth or
								 * credential names, JSON (task_read_credential) */
	bool		has_bind;		/* the args are a list: bind parameters */
	JsonFlat	bind;			/* $1..$n as text, NULL = SQL NULL */
	char	   *sink;			/* its sink, unrendered JSON, or NULL (sink.c) */
	bool		sink_continue;	/* its on_error is continue (registration's rule) */
	char	   *sink_tool;		/* its tool as written (before rendering), for messages */
	char	   *frame;			/* a loop iteration's frame, JSON, when it has a sink */
	JsonFlat	transfer;		/* a transfer's source and target, flattened
								 * (tool_transfer.c) */
	SecretList	secrets;		/* what it was given that must not be reported (secrets.h) */
} Task;

extern bool task_prepare(PGconn *conn);
extern int	task_lease(PGconn *conn, const char *worker, int max, int lease_seconds,
					   const char *tools, Task **tasks);
extern void task_report_started(PGconn *conn, Task *const *tasks, int n);
extern void task_read_context(PGconn *conn, Task *task);
extern void task_read_credential(PGconn *conn, Task *task);
extern void task_free(Task *task);
extern void task_pack(const Task *task, PQExpBuffer buf);
extern bool task_unpack(const char *data, size_t len, Task *task);

#endif							/* CLIENT_TASK_H */
