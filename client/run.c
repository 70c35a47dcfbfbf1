/*-------------------------------------------------------------------------
 *
 * run.c
 *	  noetl run PATH [--workload JSON] [--version N] [--wait]
 *
 * Starts an execution (noetl.execute) and prints its id.  With --wait it
 * follows the execution to its end: on a terminal, one line redrawn in
 * place (steps done / dispatched, the steps running, a loop with its
 * counters, the running children with their ids), fitted to the
 * terminal's width; otherwise a line per step event (an iteration's only
 * when it fails or starts a child, with the child's id), and a loop's
 * counters when they changed, at most every second.  Then it prints the
 * outcome and the result, and exits 0 if the execution completed, 1 if it
 * failed or was cancelled; 2 if it could not start or follow it.  While it
 * follows, it warns once of each tool whose tasks in the execution have
 * been ready for --warn-after seconds (10) with no live worker running it
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
#include "progress.h"
#include "unserved.h"

#define POLL_SECONDS 0.1
/* how many polls between two looks for tools no worker runs */
#define UNSERVED_POLLS 10
/* the most events one poll reads (the next poll reads on at once) */
#define EVENTS_PER_POLL 1000
/* the most step names followed (a step's events are a log anyone may add to) */
#define MAX_STEPS 4096
/* how many running children the line on a terminal names */
#define CHILDREN_SHOWN 3
/* without a terminal: the least seconds between two lines of a loop's counters */
#define LOOP_LINE_SECONDS 1.0

static const char *execution_sql =
"SELECT x.status, x.error,"
"       extract(epoch FROM coalesce(x.ended_at, clock_timestamp()) - x.started_at),"
"       jsonb_pretty(x.result)"
"  FROM noetl.execution x WHERE x.execution_id = $1";

/*
 * the step events since the last read, by the event log's key; the
 * iterations and ends that name a child execution (docs/loops.md, §4), not
 * every iteration's
 */
static const char *events_sql =
"SELECT e.event_id, e.event_type, coalesce(e.node_id, e.node_name, ''), coalesce(e.node_name, ''),"
"       coalesce(e.node_type, ''), coalesce(e.error, ''), e.meta ->> 'child_execution_id',"
"       to_char(extract(epoch FROM e.created_at - x.started_at), 'FM99990.000')"
"  FROM noetl.event e JOIN noetl.execution x USING (execution_id)"
" WHERE e.execution_id = $1 AND e.event_id > $2"
"   AND (e.event_type IN ('step_started', 'step_completed', 'step_failed', 'step_retry', 'warning',"
"                         'iteration_failed',"
"                         'execution_complete', 'execution_failed', 'execution_cancelled')"
"        OR (e.event_type IN ('loop_iteration', 'action_completed', 'action_error')"
"            AND e.meta ? 'child_execution_id'))"
" ORDER BY e.event_id LIMIT " CppAsString2(EVENTS_PER_POLL);

/* the running loops' counters: the execution's step_state rows, by their key */
static const char *loops_sql =
"SELECT step, loop_total, loop_done, loop_failed, loop_next FROM noetl.step_state"
" WHERE execution_id = $1 AND status = 'dispatched' AND loop_total IS NOT NULL";

/* the running children, the first ones started, and how many run (execution_parent_idx) */
static const char *children_sql =
"SELECT execution_id, coalesce(parent_step, ''), count(*) OVER () FROM noetl.execution"
" WHERE parent_execution_id = $1 AND status = 'running'"
" ORDER BY execution_id LIMIT " CppAsString2(CHILDREN_SHOWN);

/* a step of the execution, as its events tell */
typedef struct Step
{
	char	   *name;
	bool		running;		/* started, not yet completed or failed */
	bool		loop;			/* its step_started's node_type: a loop */
	bool		playbook;		/* it has started a child execution */
	char	   *shown;			/* without a terminal: its counters last printed */
} Step;

/* what follow knows of the execution between polls */
typedef struct Follow
{
	PGconn	   *c;
	const char *eid;
	bool		tty;
	char		last_event[32];
	Step	   *steps;
	int			nsteps;
	int			done;			/* step_completed events */
	bool		read_loops;		/* the role may read noetl.step_state */
	double		shown_at;		/* without a terminal: when counters were last printed */
	int			width;			/* on a terminal: the width of the line drawn */
} Follow;

/* step_of finds the step named name, adding it (NULL past MAX_STEPS) */
static Step *
step_of(Follow *f, const char *name)
{
	int			i;

	for (i = 0; i < f->nsteps; i++)
		if (strcmp(f->steps[i].name, name) == 0)
			return &f->steps[i];
	if (f->nsteps == MAX_STEPS || *name == '\0')
		return NULL;
	if (f->steps == NULL)
		f->steps = pg_malloc0(MAX_STEPS * sizeof(Step));
	f->steps[f->nsteps].name = pg_strdup(name);
	return &f->steps[f->nsteps++];
}

/*
 * any_running tells whether a running step is a loop (loops), or else has
 * started a child: a sub-playbook step, or a loop of them
 */
static bool
any_running(Follow *f, bool loops)
{
	int			i;

	for (i = 0; i < f->nsteps; i++)
		if (f->steps[i].running && (loops ? f->steps[i].loop : f->steps[i].playbook))
			return true;
	return false;
}

/*
 * read_events reads the events since the last poll into f's steps, and
 * without a terminal prints them; the number read (EVENTS_PER_POLL: there
 * may be more), or -1 on error
 */
static int
read_events(Follow *f)
{
	const char *params[2] = {f->eid, f->last_event};
	PGresult   *ev = db_exec(f->c, NULL, events_sql, 2, params);
	int			i;
	int			n;

	if (ev == NULL)
		return -1;
	n = PQntuples(ev);
	for (i = 0; i < n; i++)
	{
		const char *type = PQgetvalue(ev, i, 1);
		const char *error = PQgetvalue(ev, i, 5);
		Step	   *s = NULL;

		if (strcmp(type, "step_started") == 0 || strcmp(type, "step_completed") == 0 ||
			strcmp(type, "step_failed") == 0 || strcmp(type, "loop_iteration") == 0)
			s = step_of(f, PQgetvalue(ev, i, 3));
		if (s != NULL && strcmp(type, "loop_iteration") == 0)
			s->playbook = true; /* events_sql reads one only when it starts a child */
		else if (s != NULL && strcmp(type, "step_started") == 0)
		{
			s->running = true;
			s->loop = strcmp(PQgetvalue(ev, i, 4), "loop") == 0;
			s->playbook = strcmp(PQgetvalue(ev, i, 4), "playbook") == 0;
		}
		else if (s != NULL)
		{
			s->running = false;
			if (strcmp(type, "step_completed") == 0)
				f->done++;
		}
		if (!f->tty)
		{
			printf("%9ss  %-19s %s", PQgetvalue(ev, i, 7), type, PQgetvalue(ev, i, 2));
			if (!PQgetisnull(ev, i, 6))
				printf("  child %s", PQgetvalue(ev, i, 6));
			if (*error)
				printf("  %s", error);
			printf("\n");
		}
		snprintf(f->last_event, sizeof(f->last_event), "%s", PQgetvalue(ev, i, 0));
	}
	if (!f->tty)
		fflush(stdout);
	PQclear(ev);
	return n;
}

/* loop_row is the row of loops (a loops_sql result) for step, or -1 */
static int
loop_row(PGresult *loops, const char *step)
{
	int			i;

	for (i = 0; loops != NULL && i < PQntuples(loops); i++)
		if (strcmp(PQgetvalue(loops, i, 0), step) == 0)
			return i;
	return -1;
}

/* append_counters appends row i of loops's counters */
static void
append_counters(PQExpBuffer buf, PGresult *loops, int i)
{
	progress_loop(buf, PQgetvalue(loops, i, 1), PQgetvalue(loops, i, 2),
				  PQgetvalue(loops, i, 3), PQgetvalue(loops, i, 4));
}

/*
 * draw redraws the line on a terminal: status, time, steps done, the
 * running steps (a loop with its counters), the first running children
 * with their ids; false on error
 */
static bool
draw(Follow *f, const char *status, double seconds)
{
	const char *params[1] = {f->eid};
	PGresult   *loops = NULL;
	PGresult   *children = NULL;
	PQExpBufferData line;
	int			columns = progress_columns(STDOUT_FILENO);
	int			i;
	bool		first = true;
	int			w;

	if (f->read_loops && any_running(f, true) &&
		(loops = db_exec(f->c, NULL, loops_sql, 1, params)) == NULL)
		return false;
	if (any_running(f, false) && (children = db_exec(f->c, NULL, children_sql, 1, params)) == NULL)
	{
		PQclear(loops);
		return false;
	}
	initPQExpBuffer(&line);
	appendPQExpBuffer(&line, "%s, %.1f s, %d/%d steps done", status, seconds, f->done, f->nsteps);
	for (i = 0; i < f->nsteps; i++)
	{
		Step	   *s = &f->steps[i];
		int			row;

		if (!s->running)
			continue;
		appendPQExpBufferStr(&line, first ? ": " : ", ");
		appendPQExpBufferStr(&line, s->name);
		first = false;
		if (s->loop && (row = loop_row(loops, s->name)) >= 0)
		{
			appendPQExpBufferChar(&line, ' ');
			append_counters(&line, loops, row);
		}
	}
	if (children != NULL && PQntuples(children) > 0)
	{
		long		running = atol(PQgetvalue(children, 0, 2));
		size_t		start = line.len;
		int			shown = 0;

		appendPQExpBufferStr(&line, "; children:");
		for (i = 0; i < PQntuples(children); i++)
		{
			size_t		len = line.len;
			char		more[32] = "";

			appendPQExpBuffer(&line, "%s %s (%s)", i > 0 ? "," : "", PQgetvalue(children, i, 0),
							  PQgetvalue(children, i, 1));
			if (running > i + 1)
				snprintf(more, sizeof(more), " +%ld", running - i - 1);
			/* an id cut short is no use: leave it out, for the count */
			if (progress_width(line.data) + (int) strlen(more) > columns - 1)
			{
				line.data[len] = '\0';
				line.len = len;
				break;
			}
			shown++;
		}
		if (shown == 0)
		{
			line.data[start] = '\0';
			line.len = start;
			appendPQExpBuffer(&line, "; %ld running children", running);
		}
		else if (running > shown)
			appendPQExpBuffer(&line, " +%ld", running - shown);
	}
	PQclear(loops);
	PQclear(children);
	progress_fit(&line, columns);
	w = progress_width(line.data);
	printf("\r%s%*s", line.data, f->width > w ? f->width - w : 0, "");
	f->width = w;
	fflush(stdout);
	termPQExpBuffer(&line);
	return true;
}

/*
 * loop_lines prints, without a terminal, a line for each running loop whose
 * counters changed, at most every LOOP_LINE_SECONDS; false on error
 */
static bool
loop_lines(Follow *f, double seconds)
{
	const char *params[1] = {f->eid};
	PGresult   *loops;
	PQExpBufferData buf;
	int			i;

	if (!f->read_loops || !any_running(f, true) || seconds - f->shown_at < LOOP_LINE_SECONDS)
		return true;
	if ((loops = db_exec(f->c, NULL, loops_sql, 1, params)) == NULL)
		return false;
	initPQExpBuffer(&buf);
	for (i = 0; i < f->nsteps; i++)
	{
		Step	   *s = &f->steps[i];
		int			row;

		if (!s->running || !s->loop || (row = loop_row(loops, s->name)) < 0)
			continue;
		resetPQExpBuffer(&buf);
		append_counters(&buf, loops, row);
		if (s->shown != NULL && strcmp(s->shown, buf.data) == 0)
			continue;
		printf("%9.3fs  %-19s %s %s\n", seconds, "loop_progress", s->name, buf.data);
		pg_free(s->shown);
		s->shown = pg_strdup(buf.data);
		f->shown_at = seconds;
	}
	fflush(stdout);
	termPQExpBuffer(&buf);
	PQclear(loops);
	return true;
}

/* follow_free frees what f holds */
static void
follow_free(Follow *f)
{
	int			i;

	for (i = 0; i < f->nsteps; i++)
	{
		pg_free(f->steps[i].name);
		pg_free(f->steps[i].shown);
	}
	pg_free(f->steps);
}

/*
 * follow shows an execution's progress until it ends; returns the exit
 * status.  Each poll reads the execution's row, the events since the last
 * poll (by the log's key, so a poll costs what happened since the last),
 * and while a loop runs its step_state row, while a loop or a sub-playbook
 * step runs the execution's running children (execution_parent_idx): never
 * the whole log, nor every iteration's row.
 */
static int
follow(PGconn *c, const char *eid, double warn_after)
{
	Follow		f = {0};
	Unserved	unserved = {0};
	int			polls = 0;
	int			rc = -1;
	PGresult   *r;

	f.c = c;
	f.eid = eid;
	f.tty = isatty(STDOUT_FILENO);
	strcpy(f.last_event, "0");
	r = db_exec(c, NULL, "SELECT has_table_privilege('noetl.step_state', 'SELECT')", 0, NULL);
	if (r == NULL)
		return 2;
	f.read_loops = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);

	while (rc < 0)
	{
		const char *params[1] = {eid};
		const char *status;
		double		seconds;
		int			nread;

		/* the row before the events: once it has ended, every event is there */
		if ((r = db_exec(c, NULL, execution_sql, 1, params)) == NULL)
			return 2;
		if (PQntuples(r) == 0)
		{
			PQclear(r);
			pg_log_error("execution %s does not exist", eid);
			rc = 2;
			break;
		}
		status = PQgetvalue(r, 0, 0);
		seconds = atof(PQgetvalue(r, 0, 2));
		if ((nread = read_events(&f)) < 0 ||
			(f.tty ? !draw(&f, status, seconds) : !loop_lines(&f, seconds)))
		{
			PQclear(r);
			rc = 2;
			break;
		}
		if (nread == EVENTS_PER_POLL)
		{
			/* more to read before the next look, or the end */
			PQclear(r);
			continue;
		}
		if (strcmp(status, "running") != 0)
		{
			rc = strcmp(status, "completed") == 0 ? 0 : 1;
			if (f.tty)
				printf("\n");
			printf("execution %s %s in %.3f s\n", eid, status, seconds);
			if (!PQgetisnull(r, 0, 1))
				printf("error: %s\n", PQgetvalue(r, 0, 1));
			if (!PQgetisnull(r, 0, 3))
				printf("result: %s\n", PQgetvalue(r, 0, 3));
			PQclear(r);
			break;
		}
		PQclear(r);
		if (++polls % UNSERVED_POLLS == 0)
		{
			/* the warning goes to stderr: the line redrawn on stdout is ended first */
			if (unserved_warn(c, eid, warn_after, f.tty && f.width > 0, &unserved) > 0 && f.tty)
				f.width = 0;
		}
		usleep((useconds_t) (POLL_SECONDS * 1e6));
	}
	unserved_free(&unserved);
	follow_free(&f);
	return rc;
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
