/*
 * noetl.h
 *	  Declarations shared by the files of the noetl program.
 *
 *	main.c		options, connections, subcommand dispatch
 *	buf.c		growable strings, JSON writing and checking
 *	register.c	noetl register
 *	run.c		noetl run
 *	status.c	noetl status
 *	worker.c	noetl worker: leasing, children, reports, heartbeats
 *	task.c		what a task is, as the worker reads it from its lease
 *	tool_python.c, tool_http.c, tool_postgres.c: running one task
 */
#ifndef NOETL_CLIENT_H
#define NOETL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libpq-fe.h"

/* ---------------------------------------------------------------- buf.c */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_init(Buf *b);
extern void buf_free(Buf *b);
extern void buf_add(Buf *b, const char *s, size_t n);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_json_string(Buf *b, const char *s, size_t n);
extern bool json_valid(const char *s, size_t n);

/* ---------------------------------------------------------------- main.c */

extern const char *progname;
extern const char *opt_dsn;

extern PGconn *connect_db(void);
extern void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));
extern PGresult *exec_params(PGconn *c, const char *sql, int n, const char *const *values);
extern char *read_file(const char *path, size_t *len);
extern double now_seconds(void);

extern int	cmd_register(int argc, char **argv);
extern int	cmd_run(int argc, char **argv);
extern int	cmd_status(int argc, char **argv);
extern int	cmd_worker(int argc, char **argv);

/* ---------------------------------------------------------------- task.c */

/* a key and value of a task's mapping field (headers, params) */
typedef struct KeyValue
{
	char	   *key;
	char	   *value;
} KeyValue;

/* a leased task, with the fields its tool needs */
typedef struct Task
{
	char	   *queue_id;
	char	   *execution_id;
	char	   *node_id;
	char	   *tool;
	int			attempts;
	char	   *action;			/* the whole task, JSON */
	char	   *args;			/* JSON object, or NULL */
	char	   *code;			/* python */
	char	   *method;			/* http */
	char	   *url;
	KeyValue   *headers;
	int			nheaders;
	KeyValue   *params;
	int			nparams;
	char	   *command;		/* postgres */
	char	   *dsn;
	char	  **bind;			/* its bind parameters ($1..$n), NULL = SQL NULL */
	int			nbind;			/* -1: none given (args is no list) */
	double		timeout;		/* seconds, 0 = the worker's default */
	char	   *lease_token;	/* what reports of this lease must carry */
} Task;

extern int	task_lease(PGconn *c, const char *worker, int max, int lease_seconds,
					   const char *tools, Task **tasks);
extern void task_free(Task *t);

/* ---------------------------------------------------------------- tools */

/*
 * A tool runs in a child process: it writes its report to standard output
 * as one JSON document, {"ok": true, "result": ...} or {"ok": false,
 * "error": "...", "stack_trace": "...", "result": ...}, and exits.
 */
extern void tool_python(Task *t, double timeout) __attribute__((noreturn));
extern void tool_http(Task *t, double timeout) __attribute__((noreturn));
extern void tool_postgres(Task *t, double timeout) __attribute__((noreturn));
extern void report(Buf *json) __attribute__((noreturn));
extern void report_failure(const char *error, const char *stack_trace) __attribute__((noreturn));

#endif							/* NOETL_CLIENT_H */
