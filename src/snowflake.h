/*-------------------------------------------------------------------------
 *
 * snowflake.h
 *	  Time-ordered ids.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_SNOWFLAKE_H
#define NOETL_SNOWFLAKE_H

#include "postgres.h"

/* snowflake.c */
extern int64 noetl_next_id(void);

#endif							/* NOETL_SNOWFLAKE_H */
