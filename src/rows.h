/*-------------------------------------------------------------------------
 *
 * rows.h
 *	  Rows of noetl's tables read and written directly, below SQL.
 *
 * The columns of the tables the broker reads and writes this way, named by
 * enums so that callers never depend on attribute numbers: a table is
 * mapped to them once per backend (and again when its definition
 * changes).  Columns a later version of the schema added are optional;
 * columns the library does not know are tolerated when they are nullable
 * or have a default, which new rows then get.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_ROWS_H
#define NOETL_ROWS_H

#include "postgres.h"

#include "access/skey.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* noetl.queue */
typedef enum QueueColumn
{
	Q_QUEUE_ID, Q_EXECUTION_ID, Q_CATALOG_ID, Q_NODE_ID, Q_NODE_NAME, Q_TOOL, Q_ACTION,
	Q_RESULT, Q_STATUS, Q_PRIORITY, Q_ATTEMPTS, Q_MAX_ATTEMPTS, Q_AVAILABLE_AT,
	Q_LEASE_UNTIL, Q_WORKER_ID, Q_LAST_HEARTBEAT, Q_CREATED_AT, Q_UPDATED_AT,
	/* since 1.1 */
	Q_LEASE_TOKEN,
	/* since 1.2 */
	Q_ERROR,
	NQCOLS
} QueueColumn;

/* noetl.event */
typedef enum EventColumn
{
	C_EXECUTION_ID, C_EVENT_ID, C_PARENT_EVENT_ID, C_PARENT_EXECUTION_ID, C_CATALOG_ID,
	C_EVENT_TYPE, C_NODE_ID, C_NODE_NAME, C_NODE_TYPE, C_STATUS, C_CONTEXT, C_RESULT,
	C_META, C_ERROR, C_STACK_TRACE, C_WORKER_ID, C_QUEUE_ID, C_DURATION, C_CREATED_AT,
	/* since 1.1 */
	C_LEASE_TOKEN,
	NCOLS
} EventColumn;

/* noetl.execution */
typedef enum ExecColumn
{
	X_CATALOG_ID, X_STATUS, X_PENDING, X_WORKLOAD, X_PARENT_EXECUTION_ID,
	X_EXECUTION_ID, X_RESULT, X_ERROR, X_ENDED_AT, X_UPDATED_AT, X_STARTED_AT,
	/* since 1.2 */
	X_PARENT_STEP, X_DEPTH,
	NXCOLS
} ExecColumn;

/* noetl.step_state */
typedef enum StepColumn
{
	S_EXECUTION_ID, S_STEP, S_STATUS, S_ARGS, S_RESULT, S_STARTED_AT, S_ENDED_AT,
	/* since 1.2 */
	S_LOOP_TOTAL, S_LOOP_NEXT, S_LOOP_DONE, S_LOOP_FAILED, S_LOOP_WINDOW,
	NSCOLS
} StepColumn;

typedef enum RowsTable
{
	ROWS_QUEUE, ROWS_EVENT, ROWS_EXECUTION, ROWS_STEP
} RowsTable;

/* the most columns unknown to the library, with defaults, a table may have */
#define ROWS_MAXEXTRA 16

/* a table open for writing rows directly */
typedef struct RowWriter
{
	Relation	rel;
	RowsTable	table;
	const AttrNumber *att;		/* the table's attributes, by column enum */
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row being formed */
	TupleTableSlot *old;		/* the row being updated */
	int			ndefaults;		/* unknown columns with a default */
	AttrNumber	def_att[ROWS_MAXEXTRA];
	ExprState  *def_state[ROWS_MAXEXTRA];
	bool		own_rel;
	bool		cached;			/* the state is the table's cached one (rows.c) */
} RowWriter;

extern Oid	rows_relid(Oid nsp, const char *name);
extern const AttrNumber *rows_columns(Relation rel, RowsTable table);

extern void rows_open(RowWriter *w, Relation rel, RowsTable table, bool own_rel);
extern void rows_close(RowWriter *w);
extern void rows_new(RowWriter *w);
extern void rows_fetch(RowWriter *w, ItemPointer tid, int col_id, int64 id);
extern void rows_set(RowWriter *w, int col, Datum value);
extern void rows_set_null(RowWriter *w, int col);
extern void rows_set_text(RowWriter *w, int col, const char *s);
extern void rows_insert(RowWriter *w);
extern void rows_update(RowWriter *w);

extern bool rows_find(Relation rel, Relation idx, ScanKey keys, int nkeys,
					  TupleTableSlot *slot, LockWaitPolicy wait);
extern bool rows_probe(Relation rel, Relation idx, ScanKey keys, int nkeys,
					   TupleTableSlot *slot);
extern void rows_key_int8(ScanKey key, AttrNumber att, int64 value);
extern void rows_key_text(ScanKey key, AttrNumber att, Relation idx, const char *value);

extern char *rows_text(TupleTableSlot *slot, AttrNumber att);
extern int64 rows_int8(TupleTableSlot *slot, AttrNumber att, bool *isnull);
extern int32 rows_int4(TupleTableSlot *slot, AttrNumber att);
extern void rows_done(void);

#endif							/* NOETL_ROWS_H */
