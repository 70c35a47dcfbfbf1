/*-------------------------------------------------------------------------
 *
 * tool.h
 *	  The tools that run tasks, and how a tool reports.
 *
 * A tool runs one task in a child process of the worker: it writes its
 * report to standard output as one JSON document, {"ok": true, "result":
 * ...} or {"ok": false, "error": "...", "stack_trace": "...", "result":
 * ...}, and exits.  tool.c holds the table of tools; each tool has a file
 * of its own (tool_python.c, tool_http.c, tool_postgres.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_TOOL_H
#define CLIENT_TOOL_H

#include "pqexpbuffer.h"

#include "task.h"

/* tool.c */
extern const char *const tool_names;
extern bool tool_exists(const char *name, size_t len);
extern void tool_run(const Task *task, double timeout) pg_attribute_noreturn();
extern void tool_report(PQExpBuffer json) pg_attribute_noreturn();
extern void tool_report_failure(const char *error, const char *stack_trace) pg_attribute_noreturn();

/* one file each */
extern void tool_python(const Task *task, double timeout) pg_attribute_noreturn();
extern void tool_http(const Task *task, double timeout) pg_attribute_noreturn();
extern void tool_postgres(const Task *task, double timeout) pg_attribute_noreturn();

#endif							/* CLIENT_TOOL_H */
