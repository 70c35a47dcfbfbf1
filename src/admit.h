/*-------------------------------------------------------------------------
 *
 * admit.h
 *	  Admitting an event: the BEFORE INSERT trigger on noetl.event.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_ADMIT_H
#define NOETL_ADMIT_H

#include "postgres.h"

#include "state.h"

extern bool admit_restoring(Oid relowner);
extern bool admit_recall(int64 event_id, ExecState *ex, TaskState *q);
extern void admit_forget(void);

#endif							/* NOETL_ADMIT_H */
