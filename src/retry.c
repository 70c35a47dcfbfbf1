/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  Retry policies of steps.
 *
 * A step's "retry" is NoETL's: absent or false (one attempt), true (three
 * attempts), a number of attempts, or a mapping
 *
 *	{max_attempts: 3, initial_delay: 1, backoff_multiplier: 2,
 *	 max_delay: 60, jitter: false, retry_when: "...", stop_when: "..."}
 *
 * The delay before attempt n+1, after n failed attempts, is
 * initial_delay * backoff_multiplier^(n-1), at most max_delay; with jitter
 * it is drawn uniformly from [delay/2, delay].  Whether an error is
 * retried at all is decided by the broker (evaluate.c), which evaluates
 * retry_when and stop_when against the error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <math.h>

#include "common/pg_prng.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "jtree.h"
#include "retry.h"
#include "jtree.h"

#define DEFAULT_ATTEMPTS	3
#define DEFAULT_DELAY		1.0
#define DEFAULT_BACKOFF		2.0
#define DEFAULT_MAX_DELAY	60.0
#define LONGEST_DELAY		31536000.0	/* one year, as registration allows */

static double
number_of(JsonbValue *v, double dflt)
{
	if (v == NULL || v->type != jbvNumeric)
		return dflt;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/*
 * attempts_of reads a number of attempts, at least 1 and at most what an
 * int holds (registration refuses more than 10000; this only keeps the
 * conversion defined for whatever a catalog row holds).
 */
static int
attempts_of(JsonbValue *v, int dflt)
{
	double		d = number_of(v, dflt);

	if (isnan(d) || d < 1)
		return 1;
	if (d > INT_MAX)
		return INT_MAX;
	return (int) d;
}

/*
 * condition_of reads retry_when or stop_when: a template, or a boolean,
 * which stands for the condition that is always (or never) true.
 */
static const char *
condition_of(JsonbValue *v)
{
	if (v != NULL && v->type == jbvBool)
		return v->val.boolean ? "true" : "false";
	return jt_cstring(v);
}

/*
 * retry_parse reads a retry policy (NULL when the step has none).
 */
void
retry_parse(JsonbValue *retry, BRetry *r)
{
	memset(r, 0, sizeof(BRetry));
	r->max_attempts = 1;
	r->initial_delay = DEFAULT_DELAY;
	r->backoff = DEFAULT_BACKOFF;
	r->max_delay = DEFAULT_MAX_DELAY;
	if (retry == NULL || retry->type == jbvNull)
		return;
	if (retry->type == jbvBool)
	{
		r->max_attempts = retry->val.boolean ? DEFAULT_ATTEMPTS : 1;
		return;
	}
	if (retry->type == jbvNumeric)
	{
		r->max_attempts = attempts_of(retry, 1);
		return;
	}
	if (retry->type != jbvObject)
		return;
	r->max_attempts = attempts_of(jt_get(retry, "max_attempts"), DEFAULT_ATTEMPTS);
	r->initial_delay = number_of(jt_get(retry, "initial_delay"),
								 number_of(jt_get(retry, "delay"), DEFAULT_DELAY));
	r->backoff = number_of(jt_get(retry, "backoff_multiplier"), DEFAULT_BACKOFF);
	r->max_delay = number_of(jt_get(retry, "max_delay"), DEFAULT_MAX_DELAY);
	r->jitter = jt_get(retry, "jitter") != NULL && jt_get(retry, "jitter")->type == jbvBool &&
		jt_get(retry, "jitter")->val.boolean;
	r->retry_when = condition_of(jt_get(retry, "retry_when"));
	r->stop_when = condition_of(jt_get(retry, "stop_when"));
}

/*
 * retry_delay returns the seconds to wait after failed attempt number
 * attempt (1 for the first).
 */
double
retry_delay(BRetry *r, int attempt)
{
	double		d = r->initial_delay * pow(r->backoff, Max(attempt - 1, 0));

	if (r->max_delay > 0 && d > r->max_delay)
		d = r->max_delay;
	if (isnan(d) || d < 0)
		d = 0;
	if (d > LONGEST_DELAY)
		d = LONGEST_DELAY;	/* also infinity: the time must stay a timestamp */
	if (r->jitter)
		d *= 0.5 + 0.5 * pg_prng_double(&pg_global_prng_state);
	return d;
}
