/*-------------------------------------------------------------------------
 *
 * event_limits.c
 *	  Bounds on what events may carry.
 *
 * Every event is evaluated in the transaction that inserts it, and what it
 * carries is kept: the workload of an execution is read by every later
 * evaluation of it, a task's result by every template that names its step.
 * So the broker refuses, before anything is evaluated or stored, a
 * workload larger than noetl.max_workload_size, a result or meta larger
 * than noetl.max_result_size, and any of them nested deeper than
 * noetl.max_json_depth (SQLSTATE 54000, naming the setting).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "utils/jsonb.h"

#include "event_limits.h"
#include "guc.h"
#include "jtree.h"

/*
 * check_event_jsonb refuses the jsonb value d of an event's column when it
 * is larger than max_kb kilobytes (the setting called setting) or nested
 * deeper than noetl.max_json_depth.  what names the value in the message.
 */
void
check_event_jsonb(Datum d, const char *what, int max_kb, const char *setting)
{
	Size		size = toast_raw_datum_size(d);

	if (size > (Size) max_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s of %zu bytes exceeds %s (%d kB)", what, size, setting, max_kb),
				 errhint("Keep large data outside the broker and pass a reference to it.")));
	if (jb_depth_exceeds(DatumGetJsonbP(d), noetl_max_json_depth))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is nested deeper than noetl.max_json_depth (%d)", what,
						noetl_max_json_depth)));
}
