/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Running code in an internal subtransaction, as PL/pgSQL's exception
 *	  blocks do.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_SUBXACT_H
#define NOETL_SUBXACT_H

#include "postgres.h"

extern ErrorData *subxact_run(void (*fn) (void *arg), void *arg);

#endif							/* NOETL_SUBXACT_H */
