/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Telling the broker worker about committed work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_WAKEUP_H
#define NOETL_WAKEUP_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* wakeup.c: telling the broker worker about committed work */
extern void wake_record_ready(int64 queue_id);
extern void wake_record_due(TimestampTz available_at);
extern void wake_record_cancel(int64 execution_id);

#endif							/* NOETL_WAKEUP_H */
