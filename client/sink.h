/*-------------------------------------------------------------------------
 *
 * sink.h
 *	  A task's sink: where its result is written once its tool succeeded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_SINK_H
#define CLIENT_SINK_H

#include "libpq-fe.h"
#include "pqexpbuffer.h"

#include "task.h"

/* what sink_begin made of a task's sink */
typedef enum SinkStart
{
	SINK_NONE,					/* the tool failed: there is no sink to run */
	SINK_RUN,					/* job is to be run by a runner of its tool */
	SINK_DONE,					/* report holds the sink's outcome already */
	SINK_LATER					/* the connection is gone: try again after reconnecting */
} SinkStart;

typedef struct Sink
{
	char	   *kind;			/* the sink's tool: event, postgres, http, python... */
	bool		fail;			/* on_error fail: a failed sink fails the task */
	Task		job;			/* what a runner runs (SINK_RUN) */
	PQExpBufferData report;		/* the outcome, as a tool's report (SINK_DONE) */
} Sink;

extern bool sink_prepare(PGconn *conn);
extern SinkStart sink_begin(PGconn *conn, Task *task, const char *tool_report, Sink *sink);
extern void sink_free(Sink *sink);

#endif							/* CLIENT_SINK_H */
