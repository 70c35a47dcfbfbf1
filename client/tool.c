/*-------------------------------------------------------------------------
 *
 * tool.c
 *	  The table of tools, and how a tool reports.
 *
 * Each tool says which of a slot's runners runs its tasks (runner.h): the
 * python runner, or the native runner, which calls the tool's function
 * here once a task, with a buffer for its report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "json.h"
#include "tool.h"

typedef void (*ToolFunction) (const RunnerContext *cx, const Task *task, double timeout,
							  PQExpBuffer report);

typedef struct Tool
{
	const char *name;
	RunnerKind	runner;
	ToolFunction run;			/* native tools: runs a task */
	void		(*after_task) (void);	/* native tools: tidies up after one */
	void		(*close) (void);	/* native tools: before the runner exits */
} Tool;

/*
 * tool_sink runs the task of a loop's own sink (era B's step-level save of
 * an iterator, src/loop.c): a tool that returns its args ({results,
 * errors, count}) as its result, which the task's sink then renders and
 * writes, as it does after any tool.
 */
static void
tool_sink(const RunnerContext *cx, const Task *task, double timeout, PQExpBuffer report)
{
	appendPQExpBufferStr(report, "{\"ok\": true, \"result\": ");
	appendPQExpBufferStr(report, task->args != NULL ? task->args : "null");
	appendPQExpBufferChar(report, '}');
}

static const Tool tools[] = {
	{"python", RUNNER_PYTHON, NULL, NULL, NULL},
	{"http", RUNNER_NATIVE, tool_http, NULL, NULL},
	{"postgres", RUNNER_NATIVE, tool_postgres, tool_postgres_after_task, tool_postgres_close},
	{"sink", RUNNER_NATIVE, tool_sink, NULL, NULL},
	{"transfer", RUNNER_NATIVE, tool_transfer, NULL, NULL},
};

/* the tools of the table, as --tools names them */
const char *const tool_names = "python,http,postgres,sink,transfer";

/* find returns the tool of that name (len bytes), or NULL */
static const Tool *
find(const char *name, size_t len)
{
	int			i;

	for (i = 0; i < lengthof(tools); i++)
		if (strlen(tools[i].name) == len && strncmp(tools[i].name, name, len) == 0)
			return &tools[i];
	return NULL;
}

/* tool_exists says whether there is a tool of that name (len bytes) */
bool
tool_exists(const char *name, size_t len)
{
	return find(name, len) != NULL;
}

/* tool_runner says which runner runs the tasks of a tool (the native one if none) */
RunnerKind
tool_runner(const char *name)
{
	const Tool *tool = find(name, strlen(name));

	return tool != NULL ? tool->runner : RUNNER_NATIVE;
}

/* tool_run runs a task in the native runner, writing its report */
void
tool_run(const RunnerContext *cx, const Task *task, double timeout, PQExpBuffer report)
{
	const Tool *tool = find(task->tool, strlen(task->tool));

	if (tool == NULL || tool->run == NULL)
		tool_failure(report, "this worker does not run this tool", task->tool);
	else
		tool->run(cx, task, timeout, report);
}

/* tool_after_task lets the native tools tidy up once a report is sent */
void
tool_after_task(void)
{
	int			i;

	for (i = 0; i < lengthof(tools); i++)
		if (tools[i].after_task != NULL)
			tools[i].after_task();
}

/* tool_close lets the native tools close what they keep, as the runner exits */
void
tool_close(void)
{
	int			i;

	for (i = 0; i < lengthof(tools); i++)
		if (tools[i].close != NULL)
			tools[i].close();
}

/* tool_failure writes a report of an error, with a stack trace if not NULL */
void
tool_failure(PQExpBuffer report, const char *error, const char *stack_trace)
{
	resetPQExpBuffer(report);
	appendPQExpBufferStr(report, "{\"ok\": false, \"error\": ");
	json_append_string(report, error, strlen(error));
	if (stack_trace)
	{
		appendPQExpBufferStr(report, ", \"stack_trace\": ");
		json_append_string(report, stack_trace, strlen(stack_trace));
	}
	appendPQExpBufferChar(report, '}');
}
