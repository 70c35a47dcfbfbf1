/*-------------------------------------------------------------------------
 *
 * tool.h
 *	  The tools that run tasks, and how a tool reports.
 *
 * A tool runs a task in one of its job slot's runners (runner.h) and
 * writes its report as one JSON document, {"ok": true, "result": ...} or
 * {"ok": false, "error": "...", "stack_trace": "...", "result": ...}.
 * The python tool runs in a python3 process that runs the slot's python
 * tasks one after another (tool_python.c); the others are C functions
 * that the slot's native runner, a forked copy of the worker, calls once
 * a task (tool_http.c, tool_postgres.c, tool_transfer.c, which uses the
 * other two, and tool.c's sink, a loop's save task).  tool.c holds the
 * table of tools.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_TOOL_H
#define CLIENT_TOOL_H

#include "pqexpbuffer.h"

#include "task.h"

/* which runner runs a tool's tasks */
typedef enum RunnerKind
{
	RUNNER_PYTHON,				/* python3, with tool_python_script */
	RUNNER_NATIVE,				/* a forked copy of the worker */
	RUNNER_KINDS
} RunnerKind;

/*
 * what a runner knows of the worker: its id and slot (the native runner's
 * connections' names, a python task's context) and its script root (the
 * directory a python step's script files are read from, or NULL)
 */
typedef struct RunnerContext
{
	const char *worker_id;
	int			slot;
	const char *script_root;
} RunnerContext;

/* tool.c */
extern const char *const tool_names;
extern bool tool_exists(const char *name, size_t len);
extern RunnerKind tool_runner(const char *name);
extern void tool_run(const RunnerContext *cx, const Task *task, double timeout,
					 PQExpBuffer report);
extern void tool_after_task(void);
extern void tool_close(void);
extern void tool_failure(PQExpBuffer report, const char *error, const char *stack_trace);

/* tool_python.c */
extern const char *const tool_python_script;
extern void tool_python_request(const RunnerContext *cx, const Task *task, PQExpBuffer buf);

/* one file each: the native tools */
extern void tool_http(const RunnerContext *cx, const Task *task, double timeout,
					  PQExpBuffer report);
extern void tool_postgres(const RunnerContext *cx, const Task *task, double timeout,
						  PQExpBuffer report);
extern void tool_postgres_after_task(void);
extern void tool_postgres_close(void);
extern void tool_postgres_append_value(PQExpBuffer buf, PGresult *r, int row, int col);
extern PGconn *tool_postgres_connection(const RunnerContext *cx, const char *dsn, char **error);
extern void tool_transfer(const RunnerContext *cx, const Task *task, double timeout,
						  PQExpBuffer report);

#endif							/* CLIENT_TOOL_H */
