/*-------------------------------------------------------------------------
 *
 * stmt.c
 *	  Statements prepared once per backend, run through SPI.
 *
 * The SQL noetl runs off its hot path is written as text, prepared on
 * first use (SPI_prepare + SPI_keepplan) and executed with parameters.
 * Every such statement names its schemas and operators in full
 * (OPERATOR(pg_catalog.=)): it runs as the extension's owner, or as the
 * broker worker's superuser, whatever the caller's search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/snapmgr.h"

#include "stmt.h"

/*
 * noetl_spi_exec executes a statement (preparing it on first use, and
 * keeping the plan for the life of the backend) and returns the number of
 * rows processed.  The caller must be connected to SPI.
 *
 * Statements see the latest committed state, whatever the isolation level
 * of the inserting transaction, as PostgreSQL's foreign-key triggers do:
 * the broker evaluates under the execution's lock, and what other events
 * of the execution committed before it got the lock is the state it must
 * see.  (At REPEATABLE READ the transaction's snapshot would hide it.)
 */
uint64
noetl_spi_exec(NoetlStmt *s, Datum *values, const char *nulls, int expect)
{
	int			rc;

	if (s->plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(s->sql, s->nargs, s->types);

		if (p == NULL)
			elog(ERROR, "could not prepare noetl statement \"%s\": %s",
				 s->sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		s->plan = p;
	}
	rc = SPI_execute_snapshot(s->plan, values, nulls, GetLatestSnapshot(), InvalidSnapshot,
							  false, true, 0);
	if (rc != expect)
		elog(ERROR, "noetl statement \"%s\" returned %s", s->sql, SPI_result_code_string(rc));
	return SPI_processed;
}

