/*-------------------------------------------------------------------------
 *
 * tool.c
 *	  The table of tools, and how a tool reports.
 *
 * A tool runs in a child process of the worker (worker.c forks it), and
 * its report, on standard output, is the child's last act.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <unistd.h>

#include "json.h"
#include "tool.h"

typedef void (*ToolFunction) (const Task *task, double timeout);

typedef struct Tool
{
	const char *name;
	ToolFunction run;
} Tool;

static const Tool tools[] = {
	{"python", tool_python},
	{"http", tool_http},
	{"postgres", tool_postgres},
};

/* the tools of the table, as --tools names them */
const char *const tool_names = "python,http,postgres";

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

/* tool_run runs a task with its tool, which reports; the child ends there */
void
tool_run(const Task *task, double timeout)
{
	const Tool *tool = find(task->tool, strlen(task->tool));

	if (tool == NULL)
		tool_report_failure("this worker does not run this tool", task->tool);
	tool->run(task, timeout);
	pg_unreachable();			/* a tool reports and exits */
}

/* write_all writes len bytes to fd, or ends the child with status 3 */
static void
write_all(int fd, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		data += n;
		len -= (size_t) n;
	}
}

/* tool_report writes a tool's report, and ends the child */
void
tool_report(PQExpBuffer json)
{
	static const char out_of_memory[] = "{\"ok\": false, \"error\": \"out of memory\"}";

	if (PQExpBufferBroken(json))
		write_all(STDOUT_FILENO, out_of_memory, sizeof(out_of_memory) - 1);
	else
		write_all(STDOUT_FILENO, json->data, json->len);
	_exit(0);
}

/* tool_report_failure reports an error, with a stack trace if not NULL */
void
tool_report_failure(const char *error, const char *stack_trace)
{
	PQExpBufferData buf;

	initPQExpBuffer(&buf);
	appendPQExpBufferStr(&buf, "{\"ok\": false, \"error\": ");
	json_append_string(&buf, error, strlen(error));
	if (stack_trace)
	{
		appendPQExpBufferStr(&buf, ", \"stack_trace\": ");
		json_append_string(&buf, stack_trace, strlen(stack_trace));
	}
	appendPQExpBufferChar(&buf, '}');
	tool_report(&buf);
}
