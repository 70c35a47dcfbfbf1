/*-------------------------------------------------------------------------
 *
 * bgworker.h
 *	  The broker worker, "noetl broker".
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_BGWORKER_H
#define NOETL_BGWORKER_H

#include "postgres.h"

/* bgworker.c: the broker worker */
extern bool noetl_in_broker_worker;
extern void noetl_register_worker(void);
extern PGDLLEXPORT void noetl_broker_main(Datum main_arg);

#endif							/* NOETL_BGWORKER_H */
