/*-------------------------------------------------------------------------
 *
 * event.c
 *	  noetl.event: the types of events, an event's row, the broker's own.
 *
 * Accepted spellings include NoETL's older and newer names; an event is
 * stored under the first.  Events of the broker's own types are written
 * by the broker alone, directly (rows.c), in the order it decided them;
 * while it appends them noetl_broker_inserting is set, so that the
 * triggers on noetl.event let them by.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "event.h"
#include "rows.h"

/* set while the broker appends its own events, so the triggers let them by */
bool		noetl_broker_inserting = false;

static const EvType event_types[] = {
	{"execution_start", EV_START, "execution_start"},
	{"execution_started", EV_START, "execution_start"},
	{"playbook_started", EV_START, "execution_start"},
	{"action_completed", EV_COMPLETED, "action_completed"},
	{"action_error", EV_ERROR, "action_error"},
	{"action_failed", EV_ERROR, "action_error"},
	{"execution_cancel", EV_CANCEL, "execution_cancel"},
	{"action_released", EV_RELEASE, "action_released"},
	{"action_started", EV_ACTION_LOG, "action_started"},
	{"step_result", EV_ACTION_LOG, "step_result"},
	{"step_started", EV_BROKER, "step_started"},
	{"step_completed", EV_BROKER, "step_completed"},
	{"step_failed", EV_BROKER, "step_failed"},
	{"step_retry", EV_BROKER, "step_retry"},
	{"loop_iteration", EV_BROKER, "loop_iteration"},
	{"iteration_failed", EV_BROKER, "iteration_failed"},
	{"execution_complete", EV_BROKER, "execution_complete"},
	{"execution_completed", EV_BROKER, "execution_complete"},
	{"execution_failed", EV_BROKER, "execution_failed"},
	{"execution_cancelled", EV_BROKER, "execution_cancelled"},
};

/* event_type_of returns what an event type is, NULL for one only logged */
const EvType *
event_type_of(const char *name)
{
	int			i;

	for (i = 0; name != NULL && i < lengthof(event_types); i++)
		if (strcmp(event_types[i].name, name) == 0)
			return &event_types[i];
	return NULL;
}

/*
 * event_check_trigger refuses a call of the event triggers' functions that
 * is not the trigger it is written for.
 */
void
event_check_trigger(FunctionCallInfo fcinfo, bool before)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("noetl event functions must be called as triggers")));
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		(before ? !TRIGGER_FIRED_BEFORE(td->tg_event) : !TRIGGER_FIRED_AFTER(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("noetl event functions must fire %s INSERT FOR EACH ROW",
						before ? "BEFORE" : "AFTER")));
}

/* event_reports_task says whether events of kind report on a task */
bool
event_reports_task(EvKind kind)
{
	return kind == EV_COMPLETED || kind == EV_ERROR || kind == EV_RELEASE ||
		kind == EV_ACTION_LOG;
}

/* event_evaluated says whether events of kind change an execution's state */
bool
event_evaluated(EvKind kind)
{
	return kind == EV_START || kind == EV_COMPLETED || kind == EV_ERROR ||
		kind == EV_CANCEL || kind == EV_RELEASE;
}

/* ---------------------------------------------------------------- rows */

/* event_read reads tuple, a row of noetl.event (rel) */
void
event_read(EventRow *r, Relation rel, HeapTuple tuple)
{
	int			i;

	r->tuple = tuple;
	r->td = RelationGetDescr(rel);
	r->cxt = CurrentMemoryContext;
	r->att = rows_columns(rel, ROWS_EVENT);
	for (i = 0; i < NCOLS; i++)
	{
		if (r->att[i] == InvalidAttrNumber)
		{
			r->values[i] = (Datum) 0;
			r->nulls[i] = true;
		}
		else
			r->values[i] = heap_getattr(tuple, r->att[i], r->td, &r->nulls[i]);
		r->replace[i] = false;
	}
}

/* event_text returns a text column as a C string, or NULL */
char *
event_text(EventRow *r, int col)
{
	return r->nulls[col] ? NULL : TextDatumGetCString(r->values[col]);
}

/* event_int8 returns a bigint column (the caller checks that it is set) */
int64
event_int8(EventRow *r, int col)
{
	Assert(!r->nulls[col]);
	return DatumGetInt64(r->values[col]);
}

/* event_jsonb returns a jsonb column, or NULL */
Jsonb *
event_jsonb(EventRow *r, int col)
{
	return r->nulls[col] ? NULL : DatumGetJsonbP(r->values[col]);
}

/* event_set_value sets a column to a by-value datum */
void
event_set_value(EventRow *r, int col, Datum value)
{
	if (r->att[col] == InvalidAttrNumber)
		return;
	r->values[col] = value;
	r->nulls[col] = false;
	r->replace[col] = true;
}

/* event_set_text sets a column to a copy of s, made in the row's context */
void
event_set_text(EventRow *r, int col, const char *s)
{
	MemoryContext old;

	if (r->att[col] == InvalidAttrNumber)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	r->values[col] = CStringGetTextDatum(s);
	MemoryContextSwitchTo(old);
	r->nulls[col] = false;
	r->replace[col] = true;
}

/* event_set_null sets a column to NULL */
void
event_set_null(EventRow *r, int col)
{
	if (r->att[col] == InvalidAttrNumber)
		return;
	r->values[col] = (Datum) 0;
	r->nulls[col] = true;
	r->replace[col] = true;
}

/* event_form returns the row's tuple with the columns set replaced */
HeapTuple
event_form(EventRow *r)
{
	int			cols[NCOLS];
	Datum		vals[NCOLS];
	bool		nulls[NCOLS];
	int			n = 0;
	int			i;

	for (i = 0; i < NCOLS; i++)
		if (r->replace[i])
		{
			cols[n] = r->att[i];
			vals[n] = r->values[i];
			nulls[n] = r->nulls[i];
			n++;
		}
	if (n == 0)
		return r->tuple;
	return heap_modify_tuple_by_cols(r->tuple, r->td, n, cols, vals, nulls);
}

/* ---------------------------------------------------------------- appending */

/*
 * event_append appends the broker's events evs of one execution to rel
 * (noetl.event), in order; parent_event_id is the event whose evaluation
 * decided them.
 */
void
event_append(Relation rel, int64 execution_id, int64 catalog_id,
			 int64 parent_execution_id, int64 parent_event_id, BEvent **evs, int n)
{
	RowWriter	w;
	bool		saved = noetl_broker_inserting;
	int			i;

	if (n == 0)
		return;
	noetl_broker_inserting = true;
	PG_TRY();
	{
		rows_open(&w, rel, ROWS_EVENT, false);
		for (i = 0; i < n; i++)
		{
			BEvent	   *e = evs[i];

			rows_new(&w);
			rows_set(&w, C_EXECUTION_ID, Int64GetDatum(execution_id));
			rows_set(&w, C_EVENT_ID, Int64GetDatum(e->event_id));
			if (parent_event_id != 0)
				rows_set(&w, C_PARENT_EVENT_ID, Int64GetDatum(parent_event_id));
			if (parent_execution_id != 0)
				rows_set(&w, C_PARENT_EXECUTION_ID, Int64GetDatum(parent_execution_id));
			rows_set(&w, C_CATALOG_ID, Int64GetDatum(catalog_id));
			rows_set_text(&w, C_EVENT_TYPE, e->event_type);
			rows_set_text(&w, C_NODE_ID, e->node_id ? e->node_id : e->node_name);
			rows_set_text(&w, C_NODE_NAME, e->node_name);
			rows_set_text(&w, C_NODE_TYPE, e->node_type);
			rows_set_text(&w, C_STATUS, e->status);
			if (e->result != NULL)
				rows_set(&w, C_RESULT, JsonbPGetDatum(e->result));
			if (e->meta != NULL)
				rows_set(&w, C_META, JsonbPGetDatum(e->meta));
			if (e->context != NULL)
				rows_set(&w, C_CONTEXT, JsonbPGetDatum(e->context));
			rows_set_text(&w, C_ERROR, e->error);
			if (e->queue_id != 0)
				rows_set(&w, C_QUEUE_ID, Int64GetDatum(e->queue_id));
			rows_set(&w, C_CREATED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
			rows_insert(&w);
		}
		rows_close(&w);
	}
	PG_FINALLY();
	{
		noetl_broker_inserting = saved;
	}
	PG_END_TRY();
}
