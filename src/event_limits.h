/*-------------------------------------------------------------------------
 *
 * event_limits.h
 *	  Bounds on what events may carry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_EVENT_LIMITS_H
#define NOETL_EVENT_LIMITS_H

#include "postgres.h"

extern void check_event_jsonb(Datum d, const char *what, int max_kb, const char *setting);

#endif							/* NOETL_EVENT_LIMITS_H */
