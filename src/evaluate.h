/*-------------------------------------------------------------------------
 *
 * evaluate.h
 *	  The evaluation of an event, shared by evaluate.c (steps, tasks, the
 *	  trigger), loop.c (loops) and child.c (sub-playbooks).  Private to
 *	  them: nothing else includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_EVALUATE_H
#define NOETL_EVALUATE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "event.h"
#include "playbook_cache.h"
#include "state.h"
#include "template.h"

/*
 * The frame of a loop's iteration being rendered: what its templates see
 * beside the execution's names (loop_admit), or while the loop's where and
 * order_by are evaluated (loop_elements).
 */
typedef struct LoopFrame
{
	const char *element_name;
	TVal	   *element;		/* the element; with chunk, the batch */
	TVal	   *loop;			/* _loop: {current_index, index, item, count} */
	TVal	   *index;			/* index, with enumerate; else NULL */
	TVal	   *batch;			/* batch, with chunk; else NULL */
	const char *step;			/* the loop step's name ... */
	TVal	   *self;			/* ... which means {result_index} */
} LoopFrame;

/* the event being evaluated, and what the evaluation decided */
typedef struct Run
{
	MemoryContext cxt;
	Relation	event_rel;		/* the trigger's relation: noetl.event */
	ExecState	ex;
	BPlaybook  *pb;
	int64		event_id;		/* the triggering event */
	Jsonb	   *exec_result;
	char	   *exec_error;
	bool		ended;
	int64		end_event_id;	/* this evaluation ended the execution: its event */
	Jsonb	   *end_result;		/* ... and its result or error */
	char	   *end_error;
	TVal	   *result;			/* "result" in templates */
	TVal	   *ctx;			/* the lazy template context */
	LoopFrame  *frame;			/* the iteration being rendered, or NULL */
	Jsonb	   *report_meta;	/* the meta of the worker's report being
								 * evaluated (a sink's outcome), or NULL */
	int32		orig_pending;	/* the execution row as last written */
	ExecStatus	orig_status;
	bool		new_exec;		/* the execution row is not written yet */
	/* writes, buffered until ev_flush() */
	Oid			nsp;			/* the noetl schema */
	TaskState	fin_task;		/* the task that finished, as locked */
	bool		fin;			/* it is to be written */
	TaskStatus	fin_status;		/* done, dead or retry */
	Jsonb	   *fin_result;
	const char *fin_error;		/* dead: the last attempt's error */
	TimestampTz fin_at;			/* retry: when it is due */
	TaskSpec   *tasks;			/* tasks to queue */
	int			ntasks;
	int			captasks;
	BEvent	   *events;			/* broker events */
	int			nevents;
	int			capevents;
	/* step results already read, for repeated template lookups */
	int			nseen;
	const char *seen_names[16];
	TVal	   *seen_values[16];
} Run;

/* how a child execution ended, when it has */
typedef struct ChildEnd
{
	bool		ended;
	bool		started;		/* its execution exists (else it never started) */
	ExecStatus	status;
	Jsonb	   *result;			/* completed: its result (see child_result) */
	const char *error;
} ChildEnd;

/* evaluate.c */
extern Jsonb *ev_unwrap(Jsonb *result);
extern void ev_know_result(Run *run, int idx, Jsonb *result);
extern TVal *ev_make_context(Run *run);
extern BEvent *ev_emit(Run *run, const char *type, const char *step, const char *node_type, const char *status, Jsonb *result, Jsonb *meta, const char *error, int64 queue_id);
extern bool ev_flush(Run *run);
extern void ev_finish_task(Run *run, TaskState *q, TaskStatus status, Jsonb *result, TimestampTz at);
extern Jsonb *ev_meta_of(const char *key, const char *value);
extern Jsonb *ev_render(Run *run, Jsonb *tpl, char **err);
extern Jsonb *ev_render_task(Run *run, Jsonb *tpl, const char *node_id, char **err);
extern bool ev_truthy(Run *run, const char *cond, int len, TVal *ctx, char **err);
extern void ev_fail_execution(Run *run, const char *step, const char *error);
extern TaskSpec *ev_new_task(Run *run);
extern void ev_evaluate_next(Run *run, int idx);
extern void ev_finish(Run *run);
extern void ev_start_with(Run *run, Jsonb *given);
extern int ev_step_of_task(Run *run, TaskState *q);
extern void ev_task_done(Run *run, TaskState *q, Jsonb *result);
extern void ev_task_error(Run *run, TaskState *q, const char *error, Jsonb *result, bool may_retry);

/* child.c */
extern ChildEnd child_start(Run *run, BStep *s, const char *node_id, int64 child_id, Jsonb *action, int64 parent_event_id);
extern JsonbValue *child_meta(int64 child_id);
extern char *child_message(int64 child_id, const ChildEnd *e);
extern bool child_holds(TaskState *q, int64 child_id);
extern void child_enqueue(Run *run, int idx, Jsonb *action);
extern void child_retry(Run *run, TaskState *q, BStep *s, const char *error, int attempt);
extern void child_propagate(Run *c);
extern void child_cancel_children(Run *run);

/* loop.c */
#define LOOP_SAVE (-2)			/* loop_item_of: the loop's sink task, step[save] */
extern void loop_start(Run *run, int idx, Jsonb *args);
extern void loop_save_done(Run *run, TaskState *q, int idx, bool dead, Jsonb *result, const char *error);
extern int32 loop_item_of(TaskState *q);
extern void loop_item_done(Run *run, TaskState *q, int idx, int32 k, bool dead, Jsonb *result, const char *error);

#endif							/* NOETL_EVALUATE_H */
