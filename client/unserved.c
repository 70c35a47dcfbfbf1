/*-------------------------------------------------------------------------
 *
 * unserved.c
 *	  Warning of ready tasks that wait for a tool no live worker runs.
 *
 * noetl run --wait and noetl status ask noetl.unserved_tools for the
 * tasks (of one execution, or of all) ready for at least --warn-after
 * seconds whose tool no live worker has announced (noetl.worker), and
 * print a warning naming the tool and its steps.  Each tool is named once
 * per Unserved.  A server that cannot answer (an extension without the
 * function, a role without the grant) is asked no more, with a notice of
 * its own, since the warning is advice, not the command's purpose.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"

#include "unserved.h"

static const char *unserved_sql =
"SELECT tool, tasks, array_to_string(steps, ', '), round(waited_seconds::numeric, 1)"
"  FROM noetl.unserved_tools($1::bigint, $2::float8)";

/* warned says whether the tool was named already */
static bool
warned(const Unserved *u, const char *tool)
{
	int			i;

	for (i = 0; i < u->nwarned; i++)
		if (strcmp(u->warned[i], tool) == 0)
			return true;
	return false;
}

/*
 * unserved_warn prints a warning for each tool not warned of yet whose
 * ready tasks (of execution eid, or of all executions when eid is NULL)
 * have waited warn_after seconds or more with no live worker running it;
 * returns how many it printed.  With end_line, a line being redrawn on
 * stdout is ended before the first warning.
 */
int
unserved_warn(PGconn *c, const char *eid, double warn_after, bool end_line, Unserved *u)
{
	char		secs[32];
	const char *params[2] = {eid, secs};
	PGresult   *r;
	int			printed = 0;
	int			i;

	if (u->broken)
		return 0;
	snprintf(secs, sizeof(secs), "%g", warn_after);
	r = PQexecParams(c, unserved_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		if (PQstatus(c) == CONNECTION_OK)
			pg_log_info("cannot tell whether workers run the tools of waiting tasks: %s",
						PQresultErrorMessage(r));
		u->broken = true;
		PQclear(r);
		return 0;
	}
	for (i = 0; i < PQntuples(r); i++)
	{
		const char *tool = PQgetvalue(r, i, 0);

		if (warned(u, tool))
			continue;
		if (printed == 0 && end_line)
		{
			putchar('\n');
			fflush(stdout);
		}
		if (eid != NULL)
			pg_log_warning("%s task(s) of execution %s (step(s) %s) waited %s s for tool \"%s\", which no live worker runs",
						   PQgetvalue(r, i, 1), eid, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), tool);
		else
			pg_log_warning("%s ready task(s) (step(s) %s) waited up to %s s for tool \"%s\", which no live worker runs",
						   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), tool);
		pg_log_warning_hint("Start a worker that runs it (noetl worker --tools %s); SELECT * FROM noetl.workers() lists the workers.",
							tool);
		printed++;
		if (u->nwarned < lengthof(u->warned))
			u->warned[u->nwarned++] = pg_strdup(tool);
	}
	PQclear(r);
	return printed;
}

/* unserved_free frees what u keeps */
void
unserved_free(Unserved *u)
{
	int			i;

	for (i = 0; i < u->nwarned; i++)
		pg_free(u->warned[i]);
	u->nwarned = 0;
}
