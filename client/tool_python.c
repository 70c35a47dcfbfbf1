/*-------------------------------------------------------------------------
 *
 * tool_python.c
 *	  The python tool: the task's code defines main(), which runs in a
 *	  python3 process; its return value is the step's result.
 *
 * NoETL's conventions: main may be a function or a coroutine (async def);
 * it receives the task's args as keyword arguments, or, if it takes one
 * parameter that is not among them (NoETL's older main(input_data)), the
 * args as one dict; parameters it does not name are left out.  What the
 * code prints goes to the worker's log, not into the result.  An exception
 * is the error, with its traceback as the stack trace.  The result must be
 * JSON: other objects are written as their str().
 *
 * The task reaches python3 on standard input (a deleted temporary file, so
 * its size is not limited); the report comes back on standard output.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <unistd.h>

#include "json.h"
#include "tool.h"

static const char *wrapper =
"import asyncio, inspect, json, sys, traceback\n"
"def _noetl_call(main, args):\n"
"    try:\n"
"        params = list(inspect.signature(main).parameters.values())\n"
"    except (TypeError, ValueError):\n"
"        return main(**args)\n"
"    if any(p.kind == p.VAR_KEYWORD for p in params):\n"
"        return main(**args)\n"
"    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]\n"
"    if all(k in names for k in args):\n"
"        return main(**args)\n"
"    if len(params) == 1 and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):\n"
"        return main(args)\n"
"    return main(**{k: v for k, v in args.items() if k in names})\n"
"async def _noetl_await(a):\n"
"    return await a\n"
"def _noetl_run():\n"
"    task = json.load(sys.stdin)\n"
"    out = sys.stdout\n"
"    sys.stdout = sys.stderr\n"
"    try:\n"
"        ns = {'__name__': '__main__'}\n"
"        exec(compile(task.get('code') or '', '<step %s>' % task.get('step'), 'exec'), ns)\n"
"        main = ns.get('main')\n"
"        if not callable(main):\n"
"            raise NameError(\"the step's code defines no main()\")\n"
"        result = _noetl_call(main, task.get('args') or {})\n"
"        if inspect.isawaitable(result):\n"
"            result = asyncio.run(_noetl_await(result))\n"
"        text = json.dumps({'ok': True, 'result': result}, default=str, allow_nan=False)\n"
"    except BaseException as e:\n"
"        message = '%s: %s' % (type(e).__name__, e) if str(e) else type(e).__name__\n"
"        text = json.dumps({'ok': False, 'error': message, 'stack_trace': traceback.format_exc()},\n"
"                          default=str)\n"
"    out.write(text)\n"
"    out.flush()\n"
"_noetl_run()\n";

/* tool_python runs a python task in python3 (the worker enforces timeout) */
void
tool_python(const Task *task, double timeout)
{
	char		path[] = "/tmp/noetl-task-XXXXXX";
	int			fd = mkstemp(path);
	PQExpBufferData buf;
	size_t		done = 0;

	if (fd < 0)
		tool_report_failure("could not create a temporary file for the task", strerror(errno));
	unlink(path);
	initPQExpBuffer(&buf);
	appendPQExpBufferStr(&buf, "{\"step\": ");
	json_append_string(&buf, task->node_id, strlen(task->node_id));
	appendPQExpBufferStr(&buf, ", \"code\": ");
	json_append_string(&buf, task->code ? task->code : "", task->code ? strlen(task->code) : 0);
	appendPQExpBufferStr(&buf, ", \"args\": ");
	appendPQExpBufferStr(&buf, task->args ? task->args : "{}");
	appendPQExpBufferChar(&buf, '}');
	if (PQExpBufferDataBroken(buf))
		tool_report_failure("out of memory", NULL);
	while (done < buf.len)
	{
		ssize_t		n = write(fd, buf.data + done, buf.len - done);

		if (n <= 0)
			tool_report_failure("could not write the task for python3", strerror(errno));
		done += (size_t) n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, STDIN_FILENO) < 0)
		tool_report_failure("could not pass the task to python3", strerror(errno));
	close(fd);
	execlp("python3", "python3", "-c", wrapper, (char *) NULL);
	tool_report_failure("could not run python3", strerror(errno));
}
