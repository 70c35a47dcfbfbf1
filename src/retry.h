/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  Retry policies of steps: whether a failed task runs again, and when.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_RETRY_H
#define NOETL_RETRY_H

#include "postgres.h"

#include "utils/jsonb.h"

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

extern void retry_parse(JsonbValue *retry, BRetry *r);
extern double retry_delay(BRetry *r, int attempt);

#endif							/* NOETL_RETRY_H */
