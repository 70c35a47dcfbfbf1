/*-------------------------------------------------------------------------
 *
 * broker.h
 *	  Declarations shared by the modules of the broker.
 *
 *	pbcache.c	registered playbooks, parsed once per backend and kept by
 *				catalog_id (catalog versions never change)
 *	rows.c		the hot path on rows directly: locking a task and its
 *				execution, finishing and queueing tasks, appending events
 *	state.c		everything else on the state tables, through SPI plans
 *				prepared once
 *	retry.c		retry policies: whether a failed task runs again, and when
 *	broker.c	the triggers on noetl.event: validation and evaluation
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_BROKER_H
#define NOETL_BROKER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "access/attnum.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "template.h"

/* ---------------------------------------------------------------- playbooks */

typedef struct BNext
{
	int			target;			/* index of the target step */
	const char *when;			/* condition text, NULL = always */
	int			when_len;
	int			when_const;		/* -1: evaluate, 0/1: a boolean constant */
	Jsonb	   *args;			/* args passed to the target, or NULL */
} BNext;

typedef struct BRetry
{
	int			max_attempts;	/* 1 = no retry */
	double		initial_delay;	/* seconds */
	double		backoff;
	double		max_delay;		/* seconds, 0 = no cap */
	bool		jitter;
	const char *retry_when;		/* condition that must hold to retry */
	const char *stop_when;		/* condition that stops retrying */
} BRetry;

typedef struct BStep
{
	char	   *name;
	char	   *tool;			/* NULL for a control step */
	Jsonb	   *task;			/* the step, as the task a worker receives */
	Jsonb	   *keep;			/* fields passed to the worker unrendered
								 * (sink), or NULL */
	Jsonb	   *args;			/* the step's args, or NULL */
	Jsonb	   *result;			/* the end step's result: mapping, or NULL */
	BNext	   *next;
	int			nnext;
	BRetry		retry;
	int			priority;
	bool		loop;			/* uses loop: (not runnable yet) */
	bool		subplaybook;	/* tool: playbook (not runnable yet) */
} BStep;

typedef struct BPlaybook
{
	int64		catalog_id;
	char	   *path;
	int			version;
	Jsonb	   *workload;		/* the playbook's workload: */
	BStep	   *steps;
	int			nsteps;
	int			start;			/* index of "start" */
	int			end;			/* index of "end", -1 if there is none */
	char	  **sorted_names;	/* for lookups by name */
	int		   *sorted_index;
	TplCache   *templates;		/* the playbook's parsed templates */
	MemoryContext cxt;
} BPlaybook;

extern BPlaybook *pb_get(int64 catalog_id);
extern int	pb_step_index(BPlaybook *pb, const char *name, int len);
extern void pb_check_runnable(BPlaybook *pb);

/* ---------------------------------------------------------------- state */

typedef struct ExecState
{
	int64		execution_id;
	int64		catalog_id;
	char		status[16];
	int32		pending;
	Jsonb	   *workload;
	int64		parent_execution_id;
	bool		has_parent;
} ExecState;

typedef struct QueueState
{
	ItemPointerData tid;		/* where the row was locked */
	int64		queue_id;
	int64		execution_id;
	char	   *node_id;
	char	   *node_name;
	char		status[16];
	char	   *worker_id;		/* NULL when not leased */
	TimestampTz lease_until;	/* 0 when not leased */
	int32		attempts;
	int32		max_attempts;
	char	   *tool;
	bool		has_token_column;	/* the schema has queue.lease_token (1.1) */
	bytea	   *lease_token;	/* SHA-256 of the latest lease's token, or NULL */
} QueueState;

/* the columns of noetl.event */
typedef enum EventColumn
{
	C_EXECUTION_ID, C_EVENT_ID, C_PARENT_EVENT_ID, C_PARENT_EXECUTION_ID, C_CATALOG_ID,
	C_EVENT_TYPE, C_NODE_ID, C_NODE_NAME, C_NODE_TYPE, C_STATUS, C_CONTEXT, C_RESULT,
	C_META, C_ERROR, C_STACK_TRACE, C_WORKER_ID, C_QUEUE_ID, C_DURATION, C_CREATED_AT,
	/* since 1.1 */
	C_LEASE_TOKEN,
	NCOLS
} EventColumn;

#define C_FIRST_OPTIONAL C_LEASE_TOKEN

/* a broker event to insert */
typedef struct BEvent
{
	int64		event_id;		/* assigned when emitted: ids follow emit order */
	const char *event_type;
	const char *node_name;
	const char *node_type;
	const char *status;
	Jsonb	   *result;
	Jsonb	   *meta;
	const char *error;
	int64		queue_id;		/* 0 = none */
	bool		if_queued;		/* written only if task queue_id was queued */
} BEvent;

/* a task to queue */
typedef struct BTask
{
	int64		queue_id;
	const char *node;
	const char *tool;
	Jsonb	   *action;
	int32		priority;
	int32		max_attempts;
} BTask;

extern bool noetl_broker_inserting;

extern bool state_lock_execution(int64 execution_id, ExecState *st);
extern void state_insert_execution(int64 execution_id, int64 catalog_id, Jsonb *workload);
extern void state_update_execution(int64 execution_id, const char *status, int32 pending,
								   Jsonb *result, const char *error, bool ended);
extern int	state_cancel_queue(int64 execution_id);
extern void state_release_task(int64 queue_id);
extern bool state_insert_step(int64 execution_id, const char *step, const char *status,
							  Jsonb *args);
extern void state_set_step(int64 execution_id, const char *step, const char *status,
						   Jsonb *result);
extern bool state_get_step(int64 execution_id, const char *step, char *status, Jsonb **args);
extern Jsonb *state_step_result(int64 execution_id, const char *step, bool actionable,
								bool *found);
extern int64 state_resolve_catalog(const char *path, int32 version, bool has_version);
extern Jsonb *state_catalog_payload(int64 catalog_id, char **path, int32 *version);

/* ---------------------------------------------------------------- rows */

extern bool rows_lock_task(Oid nsp, bool by_id, int64 queue_id, int64 execution_id,
						   const char *node_id, ExecState *ex, QueueState *q);
extern void rows_finish_task(Oid nsp, QueueState *q, const char *status, Jsonb *result,
							 TimestampTz available_at);
extern int	rows_queue_tasks(Oid nsp, int64 execution_id, int64 catalog_id, BTask *tasks,
							 int n, bool *queued);
extern void rows_append_events(Relation rel, int64 execution_id, int64 catalog_id,
							   int64 parent_event_id, BEvent **evs, int n);
extern void rows_done(void);
extern const AttrNumber *rows_event_columns(Relation rel);

/* ---------------------------------------------------------------- limits */

extern void check_event_jsonb(Datum d, const char *what, int max_kb, const char *setting);

/* ---------------------------------------------------------------- token */

extern bool lease_token_matches(const char *token, int len, bytea *stored);

/* ---------------------------------------------------------------- retry */

extern void retry_parse(JsonbValue *retry, BRetry *r);
extern double retry_delay(BRetry *r, int attempt);

#endif							/* NOETL_BROKER_H */
