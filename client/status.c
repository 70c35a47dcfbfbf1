/*-------------------------------------------------------------------------
 *
 * status.c
 *	  noetl status [--warn-after SECONDS] [EXECUTION_ID]: recent
 *	  executions, or one execution's timeline; and a warning for each tool
 *	  whose tasks (of that execution, or of any) have been ready for
 *	  --warn-after seconds (10) with no live worker running it.
 *
 * One execution's view names its parent (a sub-playbook's: "parent: P
 * (step[i])"), its loops with their counters (noetl.step_state), its child
 * executions (the first CHILDREN_SHOWN started, with their ids, so that
 * "noetl status CHILD" follows one; then how many more), and the timeline,
 * where an iteration is "step[i]" and an event about a child names it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"
#include "getopt_long.h"

#include "commands.h"
#include "db.h"
#include "progress.h"
#include "unserved.h"

/* how many children one execution's view lists */
#define CHILDREN_SHOWN 20

static const char *recent_sql =
"SELECT x.execution_id, c.path || ' v' || c.version, x.status,"
"       to_char(x.started_at, 'YYYY-MM-DD HH24:MI:SS'),"
"       to_char(extract(epoch FROM coalesce(x.ended_at, clock_timestamp()) - x.started_at), 'FM999990.000')"
"  FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)"
" ORDER BY x.execution_id DESC LIMIT 20";

static const char *one_sql =
"SELECT c.path || ' v' || c.version, x.status, to_char(x.started_at, 'YYYY-MM-DD HH24:MI:SS.MS TZ'),"
"       to_char(extract(epoch FROM coalesce(x.ended_at, clock_timestamp()) - x.started_at), 'FM999990.000'),"
"       x.pending, x.error, x.result::text, x.parent_execution_id, coalesce(x.parent_step, ''),"
"       has_table_privilege('noetl.step_state', 'SELECT')"
"  FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id) WHERE x.execution_id = $1";

/* the execution's loops: its step_state rows, by their key (dispatched: running) */
static const char *loops_sql =
"SELECT step, CASE status WHEN 'dispatched' THEN 'running' ELSE status END,"
"       loop_total, loop_done, loop_failed, loop_next, loop_window"
"  FROM noetl.step_state WHERE execution_id = $1 AND loop_total IS NOT NULL"
" ORDER BY started_at, step";

/* the first children started, and how many there are (execution_parent_idx) */
static const char *children_sql =
"SELECT execution_id, coalesce(parent_step, ''), status,"
"       to_char(extract(epoch FROM coalesce(ended_at, clock_timestamp()) - started_at), 'FM999990.000'),"
"       count(*) OVER (), count(*) FILTER (WHERE status = 'running') OVER (),"
"       count(*) FILTER (WHERE status = 'completed') OVER (),"
"       count(*) FILTER (WHERE status = 'failed') OVER (),"
"       count(*) FILTER (WHERE status = 'cancelled') OVER ()"
"  FROM noetl.execution WHERE parent_execution_id = $1"
" ORDER BY execution_id LIMIT " CppAsString2(CHILDREN_SHOWN);

static const char *timeline_sql =
"SELECT to_char(extract(epoch FROM e.created_at - x.started_at), 'FM99990.000'), e.event_type,"
"       coalesce(e.node_id, e.node_name, ''), coalesce(e.status, ''), coalesce(e.worker_id, ''),"
"       coalesce(e.error, ''), e.meta ->> 'child_execution_id'"
"  FROM noetl.event e JOIN noetl.execution x USING (execution_id)"
" WHERE e.execution_id = $1 ORDER BY e.event_id";

/* recent lists the latest executions */
static int
recent(PGconn *c, double warn_after)
{
	Unserved	unserved = {0};
	PGresult   *r = db_exec(c, NULL, recent_sql, 0, NULL);
	int			i;

	if (r == NULL)
		return 2;
	printf("%-20s %-36s %-10s %-19s %10s\n", "execution", "playbook", "status", "started", "seconds");
	for (i = 0; i < PQntuples(r); i++)
		printf("%-20s %-36s %-10s %-19s %10s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	if (PQntuples(r) == 0)
		printf("(no executions)\n");
	PQclear(r);
	fflush(stdout);
	(void) unserved_warn(c, NULL, warn_after, false, &unserved);
	unserved_free(&unserved);
	return 0;
}

/* loops prints the execution's loops and their counters */
static bool
loops(PGconn *c, const char *eid)
{
	const char *params[1] = {eid};
	PGresult   *r = db_exec(c, NULL, loops_sql, 1, params);
	PQExpBufferData buf;
	int			i;

	if (r == NULL)
		return false;
	if (PQntuples(r) > 0)
		printf("\nloops:\n");
	initPQExpBuffer(&buf);
	for (i = 0; i < PQntuples(r); i++)
	{
		resetPQExpBuffer(&buf);
		progress_loop(&buf, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
					  PQgetvalue(r, i, 5));
		printf("  %-20s %-10s %s, window %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), buf.data,
			   PQgetisnull(r, i, 6) ? "-" : PQgetvalue(r, i, 6));
	}
	termPQExpBuffer(&buf);
	PQclear(r);
	return true;
}

/* children prints the first children started and how many more there are */
static bool
children(PGconn *c, const char *eid)
{
	const char *params[1] = {eid};
	PGresult   *r = db_exec(c, NULL, children_sql, 1, params);
	static const char *const statuses[] = {"running", "completed", "failed", "cancelled"};
	long		total;
	int			i;

	if (r == NULL)
		return false;
	if (PQntuples(r) > 0)
	{
		const char *sep = " (";

		total = atol(PQgetvalue(r, 0, 4));
		printf("\nchildren: %ld", total);
		for (i = 0; i < lengthof(statuses); i++)
		{
			if (atol(PQgetvalue(r, 0, 5 + i)) == 0)
				continue;
			printf("%s%s %s", sep, PQgetvalue(r, 0, 5 + i), statuses[i]);
			sep = ", ";
		}
		printf(")\n");
		printf("  %-20s %-20s %-10s %10s\n", "execution", "step", "status", "seconds");
		for (i = 0; i < PQntuples(r); i++)
			printf("  %-20s %-20s %-10s %10s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
				   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		if (total > PQntuples(r))
			printf("  ... and %ld more\n", total - PQntuples(r));
	}
	PQclear(r);
	return true;
}

/* one prints an execution, its loops, its children and its timeline */
static int
one(PGconn *c, const char *eid, double warn_after)
{
	Unserved	unserved = {0};
	const char *params[1] = {eid};
	PGresult   *r = db_exec(c, NULL, one_sql, 1, params);
	bool		read_loops;
	int			i;

	if (r == NULL)
		return 2;
	if (PQntuples(r) == 0)
	{
		pg_log_error("execution %s does not exist", eid);
		PQclear(r);
		return 1;
	}
	printf("execution %s of %s: %s (started %s, %s s", eid, PQgetvalue(r, 0, 0),
		   PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
	if (strcmp(PQgetvalue(r, 0, 1), "running") == 0)
		printf(", %s tasks outstanding", PQgetvalue(r, 0, 4));
	printf(")\n");
	if (!PQgetisnull(r, 0, 7))
		printf("parent: %s (%s)\n", PQgetvalue(r, 0, 7), PQgetvalue(r, 0, 8));
	if (!PQgetisnull(r, 0, 5))
		printf("error: %s\n", PQgetvalue(r, 0, 5));
	if (!PQgetisnull(r, 0, 6))
		printf("result: %s\n", PQgetvalue(r, 0, 6));
	read_loops = strcmp(PQgetvalue(r, 0, 9), "t") == 0;
	PQclear(r);
	if ((read_loops && !loops(c, eid)) || !children(c, eid))
		return 2;

	r = db_exec(c, NULL, timeline_sql, 1, params);
	if (r == NULL)
		return 2;
	printf("\n%9s  %-19s %-20s %-10s %-16s %s\n", "seconds", "event", "step", "status", "worker", "child, error");
	for (i = 0; i < PQntuples(r); i++)
	{
		printf("%9s  %-19s %-20s %-10s %-16s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		if (!PQgetisnull(r, i, 6))
			printf(" child %s%s", PQgetvalue(r, i, 6), *PQgetvalue(r, i, 5) ? "  " : "");
		else if (*PQgetvalue(r, i, 5))
			printf(" ");
		printf("%s\n", PQgetvalue(r, i, 5));
	}
	PQclear(r);
	fflush(stdout);
	(void) unserved_warn(c, eid, warn_after, false, &unserved);
	unserved_free(&unserved);
	return 0;
}

/* cmd_status is noetl status */
int
cmd_status(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"warn-after", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0}
	};
	PGconn	   *c;
	double		warn_after = UNSERVED_WARN_AFTER;
	int			rc;
	int			opt;

	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1)
	{
		char	   *end;

		if (opt != 'a')
		{
			fprintf(stderr, "usage: noetl status [--warn-after SECONDS] [EXECUTION_ID]\n");
			return 2;
		}
		errno = 0;
		warn_after = strtod(optarg, &end);
		if (end == optarg || *end != '\0' || errno == ERANGE || !(warn_after >= 0) ||
			warn_after > 1e9)
		{
			pg_log_error("invalid value \"%s\" for option --warn-after", optarg);
			pg_log_error_hint("Give a number of seconds, at least 0.");
			return 2;
		}
	}
	if (argc - optind > 1)
	{
		fprintf(stderr, "usage: noetl status [--warn-after SECONDS] [EXECUTION_ID]\n");
		return 2;
	}
	c = db_connect(NULL, "noetl status", false, true);
	rc = optind < argc ? one(c, argv[optind], warn_after) : recent(c, warn_after);
	PQfinish(c);
	return rc;
}
