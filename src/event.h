/*-------------------------------------------------------------------------
 *
 * event.h
 *	  noetl.event: the types of events, an event's row, the broker's own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_EVENT_H
#define NOETL_EVENT_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "rows.h"

/* what an event type does */
typedef enum EvKind
{
	EV_START,					/* execution_start */
	EV_COMPLETED,				/* a task done */
	EV_ERROR,					/* a task failed */
	EV_CANCEL,					/* an execution cancelled */
	EV_RELEASE,					/* a worker gives a leased task back */
	EV_ACTION_LOG,				/* action_started, step_result: about a task */
	EV_BROKER,					/* written by the broker only */
	EV_LOG						/* anything else */
} EvKind;

typedef struct EvType
{
	const char *name;
	EvKind		kind;
	const char *canonical;		/* the name it is stored under */
} EvType;

extern const EvType *event_type_of(const char *name);
extern void event_check_trigger(FunctionCallInfo fcinfo, bool before);
extern bool event_reports_task(EvKind kind);
extern bool event_evaluated(EvKind kind);

/*
 * An event's row, read from a trigger's tuple.  Values set are allocated
 * in cxt, the memory context the row was read in: a trigger forms its new
 * tuple after SPI_finish, which frees what was allocated while SPI was
 * connected.  A column of a later schema version that the table does not
 * have reads as NULL and is never set.
 */
typedef struct EventRow
{
	HeapTuple	tuple;
	TupleDesc	td;
	MemoryContext cxt;
	const AttrNumber *att;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	bool		replace[NCOLS];
} EventRow;

extern void event_read(EventRow *r, Relation rel, HeapTuple tuple);
extern char *event_text(EventRow *r, int col);
extern int64 event_int8(EventRow *r, int col);
extern Jsonb *event_jsonb(EventRow *r, int col);
extern void event_set_value(EventRow *r, int col, Datum value);
extern void event_set_text(EventRow *r, int col, const char *s);
extern void event_set_null(EventRow *r, int col);
extern HeapTuple event_form(EventRow *r);

/* an event the broker writes */
typedef struct BEvent
{
	int64		event_id;		/* assigned when decided: ids follow the order */
	const char *event_type;
	const char *node_name;
	const char *node_id;		/* NULL: the node_name (a step, not an item) */
	const char *node_type;
	const char *status;
	Jsonb	   *result;
	Jsonb	   *meta;
	Jsonb	   *context;		/* a sub-playbook's execution_start: {path, ...} */
	const char *error;
	int64		queue_id;		/* 0 = none */
	bool		if_queued;		/* written only if task queue_id was queued */
} BEvent;

extern bool noetl_broker_inserting;
extern void event_append(Relation rel, int64 execution_id, int64 catalog_id,
						 int64 parent_execution_id, int64 parent_event_id,
						 BEvent **evs, int n);

#endif							/* NOETL_EVENT_H */
