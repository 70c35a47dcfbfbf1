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
 * report.  Both go as frames: the payload's length in decimal, a newline,
 * then the payload, so that a payload of any size and any bytes passes.
 *
 * In the runner, descriptor 4 is the read end of its tasks' pipe and 3
 * the write end of its reports' pipe; its standard output and error go to
 * a third pipe, which the worker reads into the task's log (and its stack
 * trace, on failure), so that nothing a task prints reaches its report;
 * its standard input is /dev/null.  A runner is a process group of its
 * own, killed with its group when its task runs out of time or is taken
 * away, and it dies with the worker (PR_SET_PDEATHSIG).  A runner that
 * reads the end of its tasks' pipe exits: so does the python runner after
 * one task with --isolate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_RUNNER_H
#define CLIENT_RUNNER_H

#include <sys/types.h>

#include "pqexpbuffer.h"

#include "tool.h"

typedef struct Runner
{
	pid_t		pid;			/* 0: none, or reaped */
	int			task_fd;		/* the write end of its tasks' pipe, or -1 */
	int			report_fd;		/* the read end of its reports' pipe, or -1 */
	int			log_fd;			/* the read end of its output's pipe, or -1 */
	PQExpBufferData request;	/* the frame being sent */
	size_t		sent;			/* how much of it */
	PQExpBufferData report;		/* the frame being read */
	int			wstatus;		/* how it ended, once reaped */
	bool		garbled;		/* it sent what is not a frame: killed */
} Runner;

extern void runner_init(Runner *r);
extern bool runner_usable(const Runner *r);
extern bool runner_gone(const Runner *r);
extern bool runner_start(Runner *r, RunnerKind kind, const RunnerContext *cx);
extern void runner_send(Runner *r, const char *payload, size_t len);
extern void runner_write(Runner *r);
extern bool runner_sending(const Runner *r);
extern bool runner_read_report(Runner *r, const char **payload, size_t *len);
extern void runner_read_log(Runner *r, PQExpBuffer log);
extern void runner_kill(Runner *r);
extern void runner_close_tasks(Runner *r);
extern void runner_close(Runner *r);

#endif							/* CLIENT_RUNNER_H */
