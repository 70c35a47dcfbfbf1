/*-------------------------------------------------------------------------
 *
 * state.h
 *	  The state machine of tasks, executions and steps.
 *
 *	task		queued -> leased -> done | retry (-> leased ...) | dead,
 *				and cancelled from waiting, queued, leased or retry; a loop's
 *				iteration beyond its window starts waiting -> queued
 *	execution	running -> completed | failed | cancelled
 *	step		waiting (the end step, a join) -> dispatched -> completed,
 *				and completed at once for a control step
 *
 * state.c owns every transition, whether it writes the row directly
 * (rows.c) or in SQL; statuses are enums here and text only in the tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_STATE_H
#define NOETL_STATE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"

typedef enum TaskStatus
{
	TASK_WAITING, TASK_QUEUED, TASK_LEASED, TASK_DONE, TASK_RETRY, TASK_DEAD, TASK_CANCELLED
} TaskStatus;

typedef enum ExecStatus
{
	EXEC_RUNNING, EXEC_COMPLETED, EXEC_FAILED, EXEC_CANCELLED
} ExecStatus;

typedef enum StepStatus
{
	STEP_WAITING, STEP_DISPATCHED, STEP_COMPLETED, STEP_FAILED, STEP_CANCELLED
} StepStatus;

/* an execution, as its row says */
typedef struct ExecState
{
	int64		execution_id;
	int64		catalog_id;
	ExecStatus	status;
	int32		pending;		/* outstanding tasks */
	Jsonb	   *workload;
	int64		parent_execution_id;
	bool		has_parent;
	const char *parent_step;	/* a sub-playbook's: the parent's node_id */
	int32		depth;			/* 0, or the parent's depth + 1 */
} ExecState;

/* a task, as its queue row says (and where it was locked) */
typedef struct TaskState
{
	ItemPointerData tid;
	int64		queue_id;
	int64		execution_id;
	char	   *node_id;
	char	   *node_name;
	TaskStatus	status;
	char	   *worker_id;		/* NULL when not leased */
	TimestampTz lease_until;	/* 0 when not leased */
	int32		attempts;
	int32		max_attempts;
	int32		priority;
	char	   *tool;
	bool		has_token_column;	/* the schema has queue.lease_token (1.1) */
	bytea	   *lease_token;	/* SHA-256 of the latest lease's token, or NULL */
} TaskState;

/* a task to queue */
typedef struct TaskSpec
{
	int64		queue_id;
	const char *node;
	const char *tool;
	Jsonb	   *action;
	int32		priority;
	int32		max_attempts;
	const char *node_id;		/* a loop's iteration step[i]; NULL: node */
	bool		waiting;		/* beyond its loop's window: not ready yet */
	bool		fresh;			/* its node_id is known to be new */
	int64		child_id;		/* a sub-playbook's: held by this child execution */
} TaskSpec;

/* a loop step's counters (step_state.loop_*) */
typedef struct LoopState
{
	int32		total;			/* iterations */
	int32		next;			/* iterations admitted, so the next one's index */
	int32		done;			/* iterations finished, done or dead */
	int32		failed;			/* iterations dead */
	int32		window;			/* the most outstanding at once */
} LoopState;

/* a loop's iterations as the ordered read finds them (state_loop_results) */
typedef struct LoopItem
{
	bool		seen;
	bool		dead;
	Jsonb	   *result;
	char	   *error;
} LoopItem;

/* executions */
extern bool state_lock_execution(int64 execution_id, ExecState *ex);
extern bool state_execution_exists(Oid nsp, int64 execution_id);
extern void state_insert_execution(Oid nsp, const ExecState *ex, Jsonb *result,
								   const char *error, bool ended);
extern void state_update_execution(Oid nsp, int64 execution_id, ExecStatus status,
								   int32 pending, Jsonb *result, const char *error, bool ended);

/* steps: the control steps and the end step's join */
extern bool state_insert_step(Oid nsp, int64 execution_id, const char *step,
							  StepStatus status, Jsonb *args);
extern void state_set_step(Oid nsp, int64 execution_id, const char *step, StepStatus status,
						   Jsonb *result);
extern void state_delete_step(Oid nsp, int64 execution_id, const char *step);
extern bool state_get_step(Oid nsp, int64 execution_id, const char *step, StepStatus *status,
						   Jsonb **args);
extern Jsonb *state_step_result(int64 execution_id, const char *step, bool actionable,
								bool *found);

/* loops */
extern bool state_loop_schema(Oid nsp);
extern bool state_insert_loop(Oid nsp, int64 execution_id, const char *step, StepStatus status,
							  Jsonb *args, Jsonb *result, const LoopState *ls);
extern bool state_get_loop(Oid nsp, int64 execution_id, const char *step, StepStatus *status,
						   Jsonb **args, LoopState *ls);
extern void state_set_loop(Oid nsp, int64 execution_id, const char *step, const LoopState *ls,
						   StepStatus status, bool end, Jsonb *result);
extern bool state_admit_item(Oid nsp, int64 execution_id, const char *node_id,
							 Jsonb **action, TaskState *q);
extern void state_queue_admitted(Oid nsp, TaskState *q, Jsonb *action, int64 child_id);
extern void state_loop_results(Oid nsp, int64 execution_id, const char *step, int32 total,
							   LoopItem *items);

/* tasks */
extern bool state_lock_task(Oid nsp, bool by_id, int64 queue_id, int64 execution_id,
							const char *node_id, ExecState *ex, TaskState *q);
extern int	state_queue_tasks(Oid nsp, int64 execution_id, int64 catalog_id, TaskSpec *tasks,
							  int n, bool *queued);
extern void state_finish_task(Oid nsp, TaskState *q, TaskStatus status, Jsonb *result,
							  const char *error);
extern void state_retry_task(Oid nsp, TaskState *q, TimestampTz available_at);
extern void state_release_task(Oid nsp, TaskState *q);
extern int	state_cancel_tasks(int64 execution_id);

/* sub-playbooks */
extern void state_child_retry(Oid nsp, TaskState *q, int64 child_id);
extern Jsonb *state_task_action(Oid nsp, TaskState *q);
extern char *state_child_link(Oid nsp, int64 execution_id, int32 *depth);
extern int64 *state_running_children(Oid nsp, int64 execution_id, int *n);

#endif							/* NOETL_STATE_H */
