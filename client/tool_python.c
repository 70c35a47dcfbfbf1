/*-------------------------------------------------------------------------
 *
 * tool_python.c
 *	  The python tool: the task's code defines main(), which runs in the
 *	  job slot's python3 process; its return value is the step's result.
 *
 * NoETL's conventions: main may be a function or a coroutine (async def);
 * it receives the task's args as keyword arguments, or, if it takes one
 * parameter that is not among them (NoETL's older main(input_data)), the
 * args as one dict; parameters it does not name are left out.  What the
 * code prints goes to the worker's log, not into the result.  An exception
 * is the error, with its traceback as the stack trace.  The result must be
 * JSON: other objects are written as their str().
 *
 * tool_python_script is the python runner (runner.c starts it as python3
 * -c SCRIPT): it reads tasks from descriptor 4, each a frame (runner.h)
 * holding {"step", "code", "args"}, and writes each report as a frame on
 * descriptor 3, with the task's sequence number; it first moves both
 * descriptors above 100 (close-on-exec), so that a task's os.write(3,
 * ...) or os.closerange(3, 100) does not reach them.  Its standard output
 * and error are the worker's log.  It runs the tasks of its slot one
 * after another, each task's code executed in a namespace of its own.
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

const char *const tool_python_script =
"import fcntl, inspect, json, os, signal, sys, traceback\n"
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
"def _noetl_run(task):\n"
"    try:\n"
"        ns = {'__name__': '__main__'}\n"
"        exec(compile(task.get('code') or '', '<step %s>' % task.get('step'), 'exec'), ns)\n"
"        main = ns.get('main')\n"
"        if not callable(main):\n"
"            raise NameError(\"the step's code defines no main()\")\n"
"        result = _noetl_call(main, task.get('args') or {})\n"
"        if inspect.isawaitable(result):\n"
"            import asyncio\n"
"            result = asyncio.run(_noetl_await(result))\n"
"        return json.dumps({'ok': True, 'result': result}, default=str, allow_nan=False)\n"
"    except BaseException as e:\n"
"        message = '%s: %s' % (type(e).__name__, e) if str(e) else type(e).__name__\n"
"        return json.dumps({'ok': False, 'error': message, 'stack_trace': traceback.format_exc()},\n"
"                          default=str)\n"
"def _noetl_flush(*files):\n"
"    for f in files:\n"
"        try:\n"
"            f.flush()\n"
"        except BaseException:\n"
"            pass\n"
"def _noetl_reset(umask):\n"
"    signal.alarm(0)\n"
"    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):\n"
"        signal.setitimer(timer, 0)\n"
"    os.umask(umask)\n"
"def _noetl_loop():\n"
"    task_fd = fcntl.fcntl(4, fcntl.F_DUPFD_CLOEXEC, 100)\n"
"    report_fd = fcntl.fcntl(3, fcntl.F_DUPFD_CLOEXEC, 100)\n"
"    os.close(3)\n"
"    os.close(4)\n"
"    tasks = os.fdopen(task_fd, 'rb')\n"
"    reports = os.fdopen(report_fd, 'wb')\n"
"    std = (sys.stdin, sys.stdout, sys.stderr)\n"
"    cwd = os.getcwd()\n"
"    env = dict(os.environ)\n"
"    umask = os.umask(0o22)\n"
"    os.umask(umask)\n"
"    while True:\n"
"        line = tasks.readline()\n"
"        if not line:\n"
"            return\n"
"        seq, size = line.split()\n"
"        data = tasks.read(int(size))\n"
"        sys.stdout = sys.stderr\n"
"        try:\n"
"            text = _noetl_run(json.loads(data))\n"
"        finally:\n"
"            _noetl_flush(sys.stdout, sys.stderr, *std)\n"
"            sys.stdin, sys.stdout, sys.stderr = std\n"
"            try:\n"
"                os.chdir(cwd)\n"
"            except OSError:\n"
"                pass\n"
"            if os.environ != env:\n"
"                os.environ.clear()\n"
"                os.environ.update(env)\n"
"            _noetl_reset(umask)\n"
"        out = text.encode()\n"
"        reports.write(b'%s %d\\n' % (seq, len(out)) + out)\n"
"        reports.flush()\n"
"_noetl_loop()\n";

/* tool_python_request writes what the python runner reads of a task */
void
tool_python_request(const Task *task, PQExpBuffer buf)
{
	appendPQExpBufferStr(buf, "{\"step\": ");
	json_append_string(buf, task->node_id, strlen(task->node_id));
	appendPQExpBufferStr(buf, ", \"code\": ");
	json_append_string(buf, task->code ? task->code : "", task->code ? strlen(task->code) : 0);
	appendPQExpBufferStr(buf, ", \"args\": ");
	appendPQExpBufferStr(buf, task->args ? task->args : "{}");
	appendPQExpBufferChar(buf, '}');
}
