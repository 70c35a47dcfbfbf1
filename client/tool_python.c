/*-------------------------------------------------------------------------
 *
 * tool_python.c
 *	  The python tool: the task's code defines main(), which runs in the
 *	  job slot's python3 process; its return value is the step's result.
 *
 * NoETL's conventions, in both its eras (docs/compatibility.md, "The
 * python tool", gives each rule's source): the code comes from the step's
 * script (a file under the worker's --script-root), else code_b64,
 * code_base64 or code; it runs with a global "context" (and os, json,
 * datetime, uuid) and defines main, a function or a coroutine (async
 * def).  Each of main's parameters gets: "context" the context; a name
 * that the args hold, that arg; else that key of the context; else, for
 * input_data or a lone parameter, the args as one dict; else its
 * default; **kwargs gets the args that no parameter took.  An arg that is
 * a string looking like a JSON or Python list or dict ({...}, [...]) is
 * parsed first.  The context holds what the broker sent in the action's
 * "context" (an object), then "input" and "data" (the args), "env" (the
 * worker's environment), "execution_id" and "job" (the task's queue id,
 * step, attempt and worker).  A loop's iteration, sent in the action's
 * "loop" ({"element", "item", "index", "count", "batch"}), puts the item
 * in the context under its element's name and in the args as "value"
 * (NoETL's older convention), and "_loop" in the context.  What the code
 * prints goes to the worker's log, not into the result (worker.c).  An
 * exception is the error, with its traceback as the stack trace.  The
 * result must be JSON: other objects are written as their str().
 *
 * tool_python_script is the python runner, python_runner.py (client/
 * Makefile makes it a C string, python_runner.c; runner.c starts it as
 * python3 -c SCRIPT): it reads tasks from descriptor 4, each a frame
 * (runner.h) holding the JSON object that tool_python_request writes,
 * and writes each report as a frame on descriptor 3, with the task's
 * sequence number; it first moves both descriptors above 100
 * (close-on-exec), so that a task's os.write(3, ...) or os.closerange(3,
 * 100) does not reach them.  Its standard output and error are the
 * worker's log.  It runs the tasks of its slot one after another, each
 * task's code executed in a namespace of its own.
 *
 * What one task leaves in the interpreter the next one sees: the modules
 * imported (which is the point: they are imported once, not at every
 * task) and their state (module globals, caches, sys.path, threads, open
 * files, signal handlers, logging), atexit handlers (run only when the
 * runner exits), resource limits (resource.setrlimit),
 * sys.setrecursionlimit, sys.settrace and sys.setprofile,
 * socket.setdefaulttimeout, and a TZ set with time.tzset (os.environ is
 * put back, but not what tzset read from it).  After each task the runner
 * puts back sys.stdin, sys.stdout and sys.stderr, the working directory,
 * os.environ and the umask as they were when it started, and cancels a
 * pending signal.alarm and the interval timers (signal.setitimer).  The
 * tasks of a slot trust each other: a task can change what the runner
 * itself uses (json, os, its functions) and so see or change the tasks
 * that follow.  With noetl worker --isolate the runner runs one task and
 * is killed, so that each task has a fresh python3, as before version 1.2.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "json.h"
#include "tool.h"

/* append_string_or_null appends s as a JSON string, or null */
static void
append_string_or_null(PQExpBuffer buf, const char *s)
{
	if (s == NULL)
		appendPQExpBufferStr(buf, "null");
	else
		json_append_string(buf, s, strlen(s));
}

/*
 * tool_python_request writes what the python runner reads of a task: the
 * task's identity (for its context), the worker's script root, its code
 * and args, and the python fields of its action that the lease passes
 * through as they are (task.c)
 */
void
tool_python_request(const RunnerContext *cx, const Task *task, PQExpBuffer buf)
{
	appendPQExpBufferStr(buf, "{\"step\": ");
	json_append_string(buf, task->node_id, strlen(task->node_id));
	appendPQExpBufferStr(buf, ", \"execution_id\": ");
	append_string_or_null(buf, task->execution_id);
	appendPQExpBufferStr(buf, ", \"queue_id\": ");
	append_string_or_null(buf, task->queue_id);
	appendPQExpBuffer(buf, ", \"attempt\": %d, \"worker_id\": ", task->attempts);
	append_string_or_null(buf, cx->worker_id);
	appendPQExpBufferStr(buf, ", \"script_root\": ");
	append_string_or_null(buf, cx->script_root);
	appendPQExpBufferStr(buf, ", \"code\": ");
	append_string_or_null(buf, task->code);
	appendPQExpBufferStr(buf, ", \"args\": ");
	appendPQExpBufferStr(buf, task->args ? task->args : "{}");
	appendPQExpBufferStr(buf, ", \"action\": ");
	appendPQExpBufferStr(buf, task->python ? task->python : "{}");
	appendPQExpBufferChar(buf, '}');
}
