/*-------------------------------------------------------------------------
 *
 * run.c
 *	  noetl run PATH [--workload JSON] [--version N] [--wait]
 *
 * Starts an execution (noetl.execute) and prints its id.  With --wait it
 * follows the execution to its end: on a terminal, one line redrawn in
 * place (steps done / dispatched, the steps running, the time elapsed);
 * otherwise a line per step event.  Then it prints the outcome and the
 * result, and exits 0 if the execution completed, 1 if it failed or was
 * cancelled; 2 if it could not start or follow it.  While it follows,
 * it warns once of each tool whose tasks in the execution have been ready
 * for --warn-after seconds (10) with no live worker running it
 * (unserved.c), every second or so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <limits.h>
#include <unistd.h>

#include "common/logging.h"
#include "fe_utils/option_utils.h"
#include "getopt_long.h"

#include "commands.h"
#include "db.h"
#include "unserved.h"

#define POLL_SECONDS 0.1
/* how many polls between two looks for tools no worker runs */
#define UNSERVED_POLLS 10

static const char *progress_sql =
"SELECT x.status, x.result::text, x.error, p.done, p.dispatched,"
"       (SELECT string_agg(n, ', ' ORDER BY n) FROM ("
"           SELECT node_name FROM noetl.event WHERE execution_id = x.execution_id"
"              AND event_type = 'step_started'"
"           EXCEPT"
"           SELECT node_name FROM noetl.event WHERE execution_id = x.execution_id"
"              AND event_type IN ('step_completed', 'step_failed')) r(n)),"
"       extract(epoch FROM coalesce(x.ended_at, clock_timestamp()) - x.started_at),"
"       jsonb_pretty(x.result)"
"  FROM noetl.execution x,"
"       LATERAL (SELECT count(*) FILTER (WHERE event_type = 'step_completed') AS done,"
"                       count(DISTINCT node_name) AS dispatched"
"                  FROM noetl.event WHERE execution_id = x.execution_id"
"                   AND event_type IN ('step_started', 'step_completed')) p"
" WHERE x.execution_id = $1";

static const char *events_sql =
"SELECT e.event_id, e.event_type, coalesce(e.node_name, ''), coalesce(e.error, ''),"
"       to_char(extract(epoch FROM e.created_at - x.started_at), 'FM99990.000')"
"  FROM noetl.event e JOIN noetl.execution x USING (execution_id)"
" WHERE e.execution_id = $1 AND e.event_id > $2"
"   AND e.event_type IN ('step_started', 'step_completed', 'step_failed', 'step_retry', 'warning',"
"                        'execution_complete', 'execution_failed', 'execution_cancelled')"
" ORDER BY e.event_id";

/* follow shows an execution's progress until it ends; returns the exit status */
static int
follow(PGconn *c, const char *eid, double warn_after)
{
	bool		tty = isatty(STDOUT_FILENO);
	char		last_event[32] = "0";
	int			width = 0;
	Unserved	unserved = {0};
	int			polls = 0;

	for (;;)
	{
		const char *params[2] = {eid, last_event};
		PGresult   *r = db_exec(c, NULL, progress_sql, 1, params);
		const char *status;

		if (r == NULL)
			return 2;
		if (PQntuples(r) == 0)
		{
			PQclear(r);
			pg_log_error("execution %s does not exist", eid);
			return 2;
		}
		status = PQgetvalue(r, 0, 0);
		if (tty)
		{
			char		line[256];
			int			n = snprintf(line, sizeof(line), "execution %s: %s, %s/%s steps done%s%s, %.1f s",
									 eid, status, PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4),
									 PQgetisnull(r, 0, 5) ? "" : ", running ",
									 PQgetisnull(r, 0, 5) ? "" : PQgetvalue(r, 0, 5),
									 atof(PQgetvalue(r, 0, 6)));

			printf("\r%s%*s", line, width > n ? width - n : 0, "");
			width = n;
			fflush(stdout);
		}
		else
		{
			PGresult   *ev = db_exec(c, NULL, events_sql, 2, params);
			int			i;

			if (ev == NULL)
			{
				PQclear(r);
				return 2;
			}
			for (i = 0; i < PQntuples(ev); i++)
			{
				printf("%9ss  %-19s %s%s%s\n", PQgetvalue(ev, i, 4), PQgetvalue(ev, i, 1),
					   PQgetvalue(ev, i, 2), *PQgetvalue(ev, i, 3) ? "  " : "",
					   PQgetvalue(ev, i, 3));
				snprintf(last_event, sizeof(last_event), "%s", PQgetvalue(ev, i, 0));
			}
			fflush(stdout);
			PQclear(ev);
		}
		if (strcmp(status, "running") != 0)
		{
			int			rc = strcmp(status, "completed") == 0 ? 0 : 1;

			if (tty)
				printf("\n");
			printf("execution %s %s in %.3f s\n", eid, status, atof(PQgetvalue(r, 0, 6)));
			if (!PQgetisnull(r, 0, 2))
				printf("error: %s\n", PQgetvalue(r, 0, 2));
			if (!PQgetisnull(r, 0, 7))
				printf("result: %s\n", PQgetvalue(r, 0, 7));
			PQclear(r);
			unserved_free(&unserved);
			return rc;
		}
		PQclear(r);
		if (++polls % UNSERVED_POLLS == 0)
		{
			/* the warning goes to stderr: the line redrawn on stdout is ended first */
			if (unserved_warn(c, eid, warn_after, tty && width > 0, &unserved) > 0 && tty)
				width = 0;
		}
		usleep((useconds_t) (POLL_SECONDS * 1e6));
	}
}

/* usage prints how to call noetl run */
static void
usage(FILE *f)
{
	fprintf(f, "usage: noetl run PATH [--workload JSON] [--version N] [--wait [--warn-after SECONDS]]\n");
}

/* cmd_run is noetl run */
int
cmd_run(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"workload", required_argument, NULL, 'w'},
		{"version", required_argument, NULL, 'v'},
		{"wait", no_argument, NULL, 'W'},
		{"warn-after", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0}
	};
	const char *path;
	const char *workload = NULL;
	char		version[16];
	bool		wait = false;
	double		warn_after = UNSERVED_WARN_AFTER;
	const char *params[3] = {NULL, NULL, NULL};
	PGconn	   *c;
	PGresult   *r;
	char	   *eid;
	int			rc;
	int			opt;
	int			n;

	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1)
	{
		switch (opt)
		{
			case 'w':
				workload = optarg;
				break;
			case 'v':
				if (!option_parse_int(optarg, "--version", 1, INT_MAX, &n))
					return 2;
				snprintf(version, sizeof(version), "%d", n);
				params[2] = version;
				break;
			case 'W':
				wait = true;
				break;
			case 'a':
				{
					char	   *end;

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
				break;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind != argc - 1)
	{
		usage(stderr);
		return 2;
	}
	path = argv[optind];
	c = db_connect(NULL, "noetl run", false, true);
	params[0] = path;
	params[1] = workload;
	r = db_exec(c, NULL, "SELECT noetl.execute($1, coalesce($2::jsonb, '{}'), $3::int)", 3, params);
	if (r == NULL)
	{
		PQfinish(c);
		return 2;
	}
	eid = pg_strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (!wait)
	{
		printf("%s\n", eid);
		PQfinish(c);
		pg_free(eid);
		return 0;
	}
	printf("execution %s of %s started\n", eid, path);
	fflush(stdout);
	rc = follow(c, eid, warn_after);
	PQfinish(c);
	pg_free(eid);
	return rc;
}
