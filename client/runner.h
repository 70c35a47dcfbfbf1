/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  The long-lived processes that run a job slot's tasks.
 *
 * Each job slot of noetl worker keeps up to one runner of each kind
 * (tool.h): a python3 process for python tasks, and a forked copy of the
 * worker for the native tools (http, postgres), each started at the
 * slot's first task of its kind and kept for the next ones.  The worker
 * sends a runner one task at a time, and the runner sends back one
 * report.  Both go as frames: a header of two numbers in decimal, the
 * task's sequence number in its runner and the payload's length,
 * separated by a space and ended by a newline, then the payload, so that
 * a payload of any size and any bytes passes.  A report carries the
 * number of its task: one that carries another (something else the task
 * left behind wrote to the reports' pipe), or is not a frame, or is
 * larger than MAX_REPORT, makes the worker kill the runner.
 *
 * In the runner, descriptor 4 is the read end of its tasks' pipe and 3
 * the write end of its reports' pipe (the python runner moves both above
 * 100 before it runs a task, tool_python.c); its standard output and
 * error go to a third pipe, which the worker reads into the task's log
 * (and its stack trace, on failure), so that nothing a task prints
 * reaches its report; its standard input is /dev/null; it holds no other
 * descriptor of the worker's.  A runner is a process group of its own,
 * killed with its group when its task runs out of time or is taken away,
 * and with --isolate once its report is in; it dies with the worker
 * (PR_SET_PDEATHSIG).  A killed runner takes no other task.  A runner
 * that reads the end of its tasks' pipe exits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_RUNNER_H
#define CLIENT_RUNNER_H

#include <sys/types.h>

#include "pqexpbuffer.h"

#include "tool.h"

/*
 * The largest report the worker reads: the broker refuses a result above
 * noetl.max_result_size (64 MB by default), so a report a little larger
 * than that (for its error and stack trace) is as much as is worth
 * holding; a larger one fails its task.
 */
#define MAX_REPORT ((size_t) 65 * 1024 * 1024)

/* what went wrong with a runner's report, if anything */
typedef enum RunnerFault
{
	RUNNER_OK,
	RUNNER_GARBLED,				/* it sent what is not a frame */
	RUNNER_FOREIGN,				/* a report of another task than the one sent */
	RUNNER_OVERSIZED			/* a report larger than MAX_REPORT */
} RunnerFault;

typedef struct Runner
{
	pid_t		pid;			/* 0: none, or reaped */
	int			task_fd;		/* the write end of its tasks' pipe, or -1 */
	int			report_fd;		/* the read end of its reports' pipe, or -1 */
	int			log_fd;			/* the read end of its output's pipe, or -1 */
	unsigned long seq;			/* the sequence number of the task sent last */
	PQExpBufferData request;	/* the frame being sent */
	size_t		sent;			/* how much of it */
	PQExpBufferData report;		/* the frame being read */
	int			wstatus;		/* how it ended, once reaped */
	double		reaped_at;		/* when it was reaped (monotonic), 0 if not */
	bool		killed;			/* sent SIGKILL: it takes no more tasks */
	RunnerFault fault;			/* a report that was refused: killed */
} Runner;

extern void runner_init(Runner *r);
extern bool runner_usable(const Runner *r);
extern bool runner_gone(const Runner *r);
extern bool runner_start(Runner *r, RunnerKind kind, const RunnerContext *cx);
extern bool runner_send(Runner *r, const char *payload, size_t len);
extern void runner_write(Runner *r);
extern bool runner_sending(const Runner *r);
extern bool runner_send_failed(const Runner *r);
extern bool runner_read_report(Runner *r, const char **payload, size_t *len);
extern size_t runner_read_log(Runner *r, PQExpBuffer log, size_t keep);
extern void runner_kill(Runner *r);
extern void runner_close_tasks(Runner *r);
extern void runner_close(Runner *r);

#endif							/* CLIENT_RUNNER_H */
