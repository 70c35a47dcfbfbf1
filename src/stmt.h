/*-------------------------------------------------------------------------
 *
 * stmt.h
 *	  Statements prepared once per backend, run through SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_STMT_H
#define NOETL_STMT_H

#include "postgres.h"

#include "executor/spi.h"

/* stmt.c: statements prepared once per backend, run through SPI */
typedef struct NoetlStmt
{
	const char *sql;
	int			nargs;
	Oid			types[8];
	SPIPlanPtr	plan;
} NoetlStmt;

extern uint64 noetl_spi_exec(NoetlStmt *s, Datum *values, const char *nulls, int expect);

#endif							/* NOETL_STMT_H */
