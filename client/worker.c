/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  noetl worker: the reference worker.
 *
 *	noetl worker [--tools python,http,postgres] [--jobs N] [--id NAME]
 *				 [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]
 *				 [--grace SECONDS] [--isolate] [--script-root DIR]
 *
 * It LISTENs on the queue channel and leases when told, on a timer (--poll)
 * and after every (re)connection: the queue is the truth, notifications are
 * hints.  It leases only tasks of the tools it runs.  Up to --jobs tasks
 * run at once, one in each job slot.  A slot runs its tasks in runners
 * (runner.h) that it keeps from one task to the next: a python3 process
 * for python tasks, a forked copy of the worker for http and postgres
 * (which keeps the slot's connections, tool_postgres.c), each started at
 * the slot's first task of its kind; with --isolate, a runner runs one
 * task and exits, so that each task has a fresh process.  The worker
 * reports what happens as events: action_started when a task starts (after
 * the lease, before the task is sent to its runner, task.c), then
 * action_completed or action_error with the result, the error, the stack
 * trace and the duration.  A task with a sink (sink.c) has a second phase
 * once its tool succeeded: the sink, rendered on the worker's connection,
 * runs in the slot's runner of its tool (a postgres, http or python task
 * of the same lease), and one report carries both, the sink's outcome in
 * its meta (begin_sink, report_sql).  What a task printed goes to the worker's log
 * once it is done, a line at a time after the task's id and step, its
 * last LOG_KEEP bytes (log_output).  It heartbeats every third of the
 * lease, and drops a task whose lease it lost (expired and taken over, or
 * cancelled): a cancellation notice makes it check at once.  A task that
 * outlives its timeout (the task's own, else --task-timeout) is killed,
 * with its runner, and reported failed once that runner is gone; so is a
 * task whose runner dies.  A killed runner is sent no other task: the
 * slot starts a new runner for its next task.  Python steps' script files
 * are read from --script-root (or NOETL_SCRIPT_ROOT) and nowhere else.
 *
 * SIGTERM or SIGINT: it stops leasing and lets running tasks finish; after
 * --grace seconds, or at a second signal, it kills them and releases their
 * tasks (action_released) for other workers, then exits 0.  If the worker
 * itself is killed, its runners die with it, and the broker expires its
 * leases.
 *
 * It announces itself in noetl.worker (noetl.worker_announce: its id,
 * tools, host, pid, jobs and version) after every (re)connection, refreshes
 * its row on a timer, every third of noetl.worker_live_seconds (which the
 * announcement returns), one statement whatever the number of tasks, and
 * removes it when it stops (noetl.worker_leave).  A worker whose role may
 * not announce runs all the same, with a warning.
 *
 * It waits with poll(), on the wake-up pipe of its signal handler, the
 * server's socket and its runners' pipes, so that any number of jobs can
 * be watched.  Its connection's application_name is "noetl worker ID".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/logging.h"
#include "fe_utils/option_utils.h"
#include "getopt_long.h"
#include "pqexpbuffer.h"

#include "commands.h"
#include "db.h"
#include "json.h"
#include "runner.h"
#include "secret_markers.h"
#include "sink.h"
#include "task.h"
#include "tool.h"

/* the most jobs, as noetl.lease leases at most 1000 tasks at once */
#define MAX_JOBS 1000
/* the longest lease noetl.lease gives */
#define MAX_LEASE_SECONDS 86400

/* how much of what a task prints the worker keeps: the end of it */
#define LOG_KEEP (64 * 1024)
/* how long the pipes of a reaped runner may stay open (something it started holds them) */
#define LINGER_SECONDS 1.0

/* a job slot: its runners, and the task it runs */
typedef struct Slot
{
	bool		busy;
	Task		task;
	RunnerContext cx;			/* the worker's id and the slot's number */
	Runner		runners[RUNNER_KINDS];
	Runner	   *runner;			/* the one that runs the task */
	bool		reported;		/* the runner's report is in out */
	bool		resent;			/* sent again, to a new runner */
	const char *failure;		/* why the task failed before a runner had it, or NULL */
	PQExpBufferData out;		/* the report */
	PQExpBufferData err;		/* what the runner printed while the task ran */
	size_t		err_cut;		/* how much of that was cut from its start */
	PQExpBufferData idle;		/* what the slot's runners printed outside a task */
	size_t		idle_cut;		/* how much of that was cut from its start */
	double		started;
	double		deadline;
	double		next_heartbeat;
	bool		timed_out;
	bool		lost;			/* no longer ours: nothing to report */
	bool		sinking;		/* the task's second phase: its sink (sink.c) runs */
	PQExpBufferData tool_out;	/* then: the tool's report */
	Sink		sink;			/* and the sink */
} Slot;

static const char *opt_tools = NULL;
static int	opt_jobs = 2;
static char *opt_id = NULL;
static int	opt_lease = 60;
static double opt_poll = 5;
static double opt_task_timeout = 300;
static double opt_grace = 5;
static bool opt_isolate = false;
static char *opt_script_root = NULL;	/* python steps' script files, or NULL */

static char *opt_host = NULL;

/* the announcement: whether it holds, and when to refresh it */
static bool announced = false;
static bool announce_warned = false;
static double refresh_every = 20;
static double next_refresh = 0;

static volatile sig_atomic_t stop_requests = 0;
static int	wake_pipe[2] = {-1, -1};
static char queue_channel[64] = "noetl_queue";
static char cancel_channel[64] = "noetl_cancel";

/* now_seconds is the time on a monotonic clock */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* on_signal counts stop requests and wakes the loop */
static void
on_signal(int sig)
{
	int			save = errno;

	if (sig == SIGTERM || sig == SIGINT)
		stop_requests++;
	if (write(wake_pipe[1], "x", 1) < 0)
	{
		/* the pipe is full: the loop is awake anyway */
	}
	errno = save;
}

/* ---------------------------------------------------------------- runners */

/* task_timeout is how long a task may run */
static double
task_timeout(const Task *t)
{
	return t->timeout > 0 ? t->timeout : opt_task_timeout;
}

/* reset_buffer empties buf, freeing its memory if it grew large */
static void
reset_buffer(PQExpBuffer buf)
{
	if (buf->maxlen > LOG_KEEP * 4 || PQExpBufferBroken(buf))
	{
		termPQExpBuffer(buf);
		initPQExpBuffer(buf);
	}
	else
		resetPQExpBuffer(buf);
}

/*
 * read_log reads what a slot's runner printed: into the task's log if it
 * runs the slot's task, else into what the slot printed outside a task
 */
static void
read_log(Slot *s, Runner *r)
{
	if (s->busy && r == s->runner)
		s->err_cut += runner_read_log(r, &s->err, LOG_KEEP);
	else
		s->idle_cut += runner_read_log(r, &s->idle, LOG_KEEP);
}

/* trim_log keeps the last LOG_KEEP bytes of what a slot's task printed */
static void
trim_log(Slot *s)
{
	if (s->err.len > LOG_KEEP && !PQExpBufferDataBroken(s->err))
	{
		size_t		drop = s->err.len - LOG_KEEP;

		memmove(s->err.data, s->err.data + drop, LOG_KEEP + 1);
		s->err.len = LOG_KEEP;
		s->err_cut += drop;
	}
}

/*
 * log_output writes what a task (or a slot's runner, outside a task)
 * printed to the worker's log, a line each, every line after the prefix
 * so that the lines of tasks that ran at once can be told apart.  Only
 * the last LOG_KEEP bytes of it are kept (read_log): if more was printed,
 * a line first says how much was dropped, and the kept part starts at its
 * first whole line.
 */
static void
log_output(const char *prefix, const PQExpBufferData *out, size_t cut)
{
	const char *p = out->data;
	const char *end = out->data + out->len;

	if (PQExpBufferDataBroken(*out) || out->len == 0)
		return;
	if (cut > 0)
	{
		const char *nl = memchr(p, '\n', out->len);

		if (nl != NULL && nl + 1 < end)
		{
			cut += (size_t) (nl + 1 - p);
			p = nl + 1;
		}
		pg_log_info("%s: [%zu bytes of output dropped, the last %zu kept]", prefix, cut,
					(size_t) (end - p));
	}
	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;

		pg_log_info("%s: %.*s", prefix, (int) (eol - p), p);
		p = nl ? nl + 1 : end;
	}
}

/*
 * retire drops a runner that cannot take a task (it died, was killed, or
 * sent what was refused): it is killed, what it left in its output goes
 * to the slot's, not to the next task's, and its pipes are closed; it is
 * reaped as a stranger if it is still there
 */
static void
retire(Slot *s, Runner *r)
{
	runner_kill(r);
	s->idle_cut += runner_read_log(r, &s->idle, LOG_KEEP);
	runner_close(r);
	r->pid = 0;
	r->reaped_at = 0;
}

/*
 * send_task sends a slot's task to the runner of its tool, starting one
 * if the slot has none that can take it.  A runner that cannot be started
 * leaves the task to be reported as one that exited with status 127; a
 * task that cannot be sent (too large) fails.
 */
static void
send_task(Slot *s)
{
	Task	   *job = s->sinking ? &s->sink.job : &s->task;
	RunnerKind	kind = tool_runner(job->tool);
	Runner	   *r = &s->runners[kind];
	PQExpBufferData payload;

	s->runner = r;
	if (!s->sinking && s->task.context_error != NULL)
	{
		s->failure = s->task.context_error;		/* reported by finish() */
		return;
	}
	if (!runner_usable(r))
	{
		retire(s, r);
		if (!runner_start(r, kind, &s->cx))
		{
			r->wstatus = 127 << 8;
			return;
		}
	}
	initPQExpBuffer(&payload);
	if (kind == RUNNER_PYTHON)
		tool_python_request(&s->cx, job, &payload);
	else
		task_pack(job, &payload);
	if (PQExpBufferDataBroken(payload) || !runner_send(r, payload.data, payload.len))
		s->failure = "the task is too large to send to its runner";
	termPQExpBuffer(&payload);
}

static void reap(Slot *slots);

/*
 * start_task starts a slot's task: the runners that exited are reaped
 * first, so that a runner that died while idle is not sent the task
 */
static void
start_task(Slot *slots, Slot *s)
{
	s->reported = false;
	s->resent = false;
	s->failure = NULL;
	s->timed_out = false;
	s->lost = false;
	s->sinking = false;
	reset_buffer(&s->out);
	reset_buffer(&s->err);
	s->err_cut = 0;
	s->started = now_seconds();
	s->deadline = s->started + task_timeout(&s->task);
	s->next_heartbeat = s->started + opt_lease / 3.0;
	reap(slots);
	send_task(s);
}

/* kill_task kills the runner of a slot's task, and what it started */
static void
kill_task(Slot *s)
{
	runner_kill(s->runner);
}

/* reap collects the runners that exited */
static void
reap(Slot *slots)
{
	int			wstatus;
	pid_t		pid;
	int			i;
	int			k;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		for (i = 0; i < opt_jobs; i++)
			for (k = 0; k < RUNNER_KINDS; k++)
				if (slots[i].runners[k].pid == pid)
				{
					slots[i].runners[k].pid = 0;
					slots[i].runners[k].wstatus = wstatus;
					slots[i].runners[k].reaped_at = now_seconds();
				}
}

/*
 * linger closes the pipes of a runner reaped LINGER_SECONDS ago: what it
 * started and left running (a daemon in a session of its own) can hold
 * them open, which must not keep its task, or slot, waiting
 */
static void
linger(Slot *s, Runner *r, double now)
{
	if (r->pid != 0 || r->reaped_at == 0 || runner_gone(r) ||
		now < r->reaped_at + LINGER_SECONDS)
		return;
	read_log(s, r);
	runner_close(r);
	r->reaped_at = 0;
}

/* stop_runner makes a runner exit, and waits for it */
static void
stop_runner(Runner *r)
{
	runner_kill(r);
	if (r->pid > 0)
	{
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		r->pid = 0;
	}
	runner_close(r);
}

/*
 * stop_runners makes the idle runners exit, closing their tasks' pipes
 * (the native runner closes its connections), and kills what is left
 * after a second
 */
static void
stop_runners(Slot *slots)
{
	double		until = now_seconds() + 1;
	bool		left;
	int			i;
	int			k;

	for (i = 0; i < opt_jobs; i++)
		for (k = 0; k < RUNNER_KINDS; k++)
			runner_close_tasks(&slots[i].runners[k]);
	do
	{
		struct timespec pause = {0, 10 * 1000 * 1000};

		reap(slots);
		left = false;
		for (i = 0; i < opt_jobs; i++)
			for (k = 0; k < RUNNER_KINDS; k++)
				left |= slots[i].runners[k].pid > 0;
		if (left)
			(void) nanosleep(&pause, NULL);
	} while (left && now_seconds() < until);
	for (i = 0; i < opt_jobs; i++)
		for (k = 0; k < RUNNER_KINDS; k++)
			stop_runner(&slots[i].runners[k]);
}

/* raise_fd_limit raises the soft limit of descriptors, for the runners' pipes */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t		want = (rlim_t) 64 + (rlim_t) opt_jobs * 3 * RUNNER_KINDS;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		pg_log_warning("could not raise the limit of open files: %m");
}

/* ---------------------------------------------------------------- reports */

/*
 * Reports go through noetl.report with the lease's token: the worker's
 * role needs EXECUTE on it, and no privilege on the tables.  task.c
 * reports action_started; these report the rest.  All are prepared once
 * a connection (connect_and_listen).
 *
 * A task with a sink reports both phases at once: $3 is the tool's
 * report, $7 the sink's ($5 its kind, $6 its on_error).  The result is
 * the tool's; the meta is {"sink": {kind, status, data | error}}, with
 * "save_error" when the sink failed and on_error is continue (the task
 * then succeeds); with on_error fail, a failed sink fails the task, with
 * the sink's error.
 */
static const char *report_sql =
"SELECT noetl.report($1, $2, CASE WHEN ok THEN 'action_completed' ELSE 'action_error' END,"
"                    r -> 'result',"
"                    CASE WHEN NOT ok THEN coalesce(r ->> 'error', sink_error, 'task failed') END,"
"                    CASE WHEN NOT ok THEN coalesce(r ->> 'stack_trace', k ->> 'stack_trace') END,"
"                    $4::float8, meta),"
"       ok"
"  FROM (SELECT r, k, tool_ok AND (k IS NULL OR sink_ok OR $6::text = 'continue') AS ok,"
"               CASE WHEN k IS NOT NULL AND NOT sink_ok"
"                    THEN format('%s sink failed: %s', $5::text, coalesce(k ->> 'error', 'sink failed')) END"
"                 AS sink_error,"
"               CASE WHEN k IS NOT NULL THEN"
"                 jsonb_build_object('sink', jsonb_build_object('kind', $5::text,"
"                                                'status', CASE WHEN sink_ok THEN 'success' ELSE 'error' END)"
"                                            || CASE WHEN sink_ok"
"                                                    THEN jsonb_build_object('data', k -> 'result')"
"                                                    ELSE jsonb_build_object('error', k -> 'error') END)"
"                 || CASE WHEN NOT sink_ok AND $6::text = 'continue'"
"                         THEN jsonb_build_object('save_error', coalesce(k -> 'error', '\"sink failed\"'))"
"                         ELSE '{}' END END AS meta"
"          FROM (SELECT $3::jsonb AS r, $7::jsonb AS k) j,"
"               LATERAL (SELECT coalesce((r ->> 'ok')::boolean, false) AS tool_ok,"
"                               coalesce((k ->> 'ok')::boolean, false) AS sink_ok) o) s";

/* event reports an event of a slot's task that carries nothing else */
static bool
event(PGconn *c, const char *type, Slot *s)
{
	const char *params[3] = {s->task.queue_id, s->task.lease_token, type};
	PGresult   *r = PQexecPrepared(c, "noetl_event", 3, params, NULL, NULL, 0);
	bool		ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		pg_log_warning("could not report %s of task %s: %s", type, s->task.queue_id,
					   PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

/*
 * failure_report writes the report of a task whose runner wrote none of
 * its own: what happened, with what it printed as the stack trace.
 */
static void
failure_report(Slot *s, PQExpBuffer json)
{
	char	   *msg;
	char	   *cut = NULL;
	int			wstatus = s->runner->wstatus;

	if (s->failure != NULL)
		msg = pg_strdup(s->failure);
	else if (s->timed_out)
		msg = psprintf("timed out after %g s", task_timeout(&s->task));
	else if (s->runner->fault == RUNNER_GARBLED)
		msg = psprintf("the %s task's runner sent a report that is not a frame", s->task.tool);
	else if (s->runner->fault == RUNNER_FOREIGN)
		msg = psprintf("the %s task's runner sent a report of another task", s->task.tool);
	else if (s->runner->fault == RUNNER_OVERSIZED)
		msg = psprintf("the %s task's report is larger than %zu MB", s->task.tool,
					   MAX_REPORT / (1024 * 1024));
	else if (WIFSIGNALED(wstatus))
		msg = psprintf("the %s task was killed by signal %d", s->task.tool, WTERMSIG(wstatus));
	else
		msg = psprintf("the %s task exited with status %d without a report", s->task.tool,
					   WEXITSTATUS(wstatus));
	appendPQExpBufferStr(json, "{\"ok\": false, \"error\": ");
	json_append_string(json, msg, strlen(msg));
	appendPQExpBufferStr(json, ", \"stack_trace\": ");
	if (s->err_cut > 0)
	{
		cut = psprintf("[the first %zu bytes of what the task printed were cut]\n%s",
					   s->err_cut, s->err.data);
		json_append_string(json, cut, strlen(cut));
	}
	else
		json_append_string(json, s->err.data, s->err.len);
	appendPQExpBufferChar(json, '}');
	pg_free(msg);
	pg_free(cut);
}

/*
 * finish reports a task's outcome; false if the report could not be sent
 * (the connection is gone: it is sent again after reconnecting).
 */
static bool
finish(PGconn *c, Slot *s)
{
	PQExpBufferData json;
	PQExpBufferData sink;
	char		duration[32];
	const char *params[7];
	PGresult   *r;
	bool		own_report;
	bool		sent = true;

	initPQExpBuffer(&json);
	initPQExpBuffer(&sink);
	own_report = s->reported && !s->timed_out && s->failure == NULL &&
		!PQExpBufferDataBroken(s->out) &&
		s->out.len > 0 && json_is_valid(s->out.data, s->out.len);
	/* in the sink's phase, what went wrong is the sink's; the tool's report stands */
	if (s->sinking)
	{
		appendBinaryPQExpBuffer(&json, s->tool_out.data, s->tool_out.len);
		if (own_report)
			appendBinaryPQExpBuffer(&sink, s->out.data, s->out.len);
		else
			failure_report(s, &sink);
		own_report = true;
	}
	else if (own_report)
		appendBinaryPQExpBuffer(&json, s->out.data, s->out.len);
	else
		failure_report(s, &json);
	/* nothing a task was given as a secret leaves the worker (secrets.h) */
	secret_redact_json(&s->task.secrets, &json);
	secret_redact_json(&s->task.secrets, &sink);
	secret_redact_text(&s->task.secrets, &s->err);
	if (PQExpBufferDataBroken(json) || PQExpBufferDataBroken(sink))
	{
		pg_log_error("out of memory");
		exit(2);
	}
	snprintf(duration, sizeof(duration), "%.6f", now_seconds() - s->started);
	params[0] = s->task.queue_id;
	params[1] = s->task.lease_token;
	params[2] = json.data;
	params[3] = duration;
	params[4] = s->sinking ? s->sink.kind : NULL;
	params[5] = s->sinking ? (s->sink.fail ? "fail" : "continue") : NULL;
	params[6] = s->sinking ? sink.data : NULL;
	r = PQexecPrepared(c, "noetl_report", 7, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
	{
		pg_log_info("task %s (%s%s%s, step %s) %s in %s s", s->task.queue_id, s->task.tool,
					s->sinking ? ", sink " : "", s->sinking ? s->sink.kind : "",
					s->task.node_id, strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? "done" : "failed",
					duration);
		/* what it printed, unless that was its stack trace */
		if (own_report)
		{
			char	   *prefix = psprintf("task %s (step %s)", s->task.queue_id,
										  s->task.node_id);

			log_output(prefix, &s->err, s->err_cut);
			pg_free(prefix);
		}
	}
	else if (PQstatus(c) != CONNECTION_OK)
		sent = false;
	else
		pg_log_warning("could not report task %s: %s", s->task.queue_id,
					   PQresultErrorMessage(r));
	PQclear(r);
	termPQExpBuffer(&json);
	termPQExpBuffer(&sink);
	return sent;
}

/* free_slot empties a slot, keeping its runners */
static void
free_slot(Slot *s)
{
	reset_buffer(&s->out);
	reset_buffer(&s->err);
	s->err_cut = 0;
	if (s->sinking)
	{
		reset_buffer(&s->tool_out);
		sink_free(&s->sink);
		s->sinking = false;
	}
	task_free(&s->task);
	s->busy = false;
	s->reported = false;
	s->failure = NULL;
}

/* heartbeat extends a lease; false if the lease is no longer ours */
static bool
heartbeat(PGconn *c, Slot *s)
{
	char		secs[16];
	const char *params[3] = {s->task.queue_id, s->task.lease_token, secs};
	PGresult   *r;
	bool		held;

	snprintf(secs, sizeof(secs), "%d", opt_lease);
	r = PQexecPrepared(c, "noetl_heartbeat", 3, params, NULL, NULL, 0);
	held = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!held && PQstatus(c) == CONNECTION_OK)
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "55000") != 0)
		{
			pg_log_warning("heartbeat of task %s failed: %s", s->task.queue_id,
						   PQresultErrorMessage(r));
			held = true;		/* try again later */
		}
	}
	else if (!held)
		held = true;			/* disconnected: try again after reconnecting */
	PQclear(r);
	s->next_heartbeat = now_seconds() + opt_lease / 3.0;
	return held;
}

/* ---------------------------------------------------------------- announcement */

/*
 * announce says in noetl.worker that this worker runs, with its tools; a
 * failure (a role without the grant, an extension without the function)
 * is a warning: the worker runs unannounced, and is tried again at the
 * next refresh.  The row's last_seen is fresh once it returns.
 */
static void
announce(PGconn *c)
{
	char		pid[16];
	char		jobs[16];
	const char *params[6] = {opt_id, opt_tools, opt_host, pid, jobs, NOETL_VERSION};
	PGresult   *r;

	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	snprintf(jobs, sizeof(jobs), "%d", opt_jobs);
	r = PQexecParams(c, "SELECT noetl.worker_announce($1, string_to_array($2, ','), $3, $4::int,"
					 "                              $5::int, $6)", 6, NULL, params, NULL, NULL, 0);
	announced = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	if (announced)
	{
		int			live = atoi(PQgetvalue(r, 0, 0));

		refresh_every = live >= 3 ? live / 3.0 : 1;
	}
	else if (PQstatus(c) == CONNECTION_OK && !announce_warned)
	{
		/* once: it is tried again at every refresh, and fails the same way */
		pg_log_warning("could not announce worker %s in noetl.worker: %s", opt_id,
					   PQresultErrorMessage(r));
		pg_log_warning_hint("The worker runs all the same; noetl run --wait and noetl status may warn that no worker runs its tools.");
		announce_warned = true;
	}
	PQclear(r);
	next_refresh = now_seconds() + refresh_every;
}

/*
 * refresh keeps the worker's row fresh, announcing it again if it is gone
 * (deleted while the worker was away), or was never made
 */
static void
refresh(PGconn *c)
{
	const char *params[1] = {opt_id};
	PGresult   *r;

	if (!announced)
	{
		announce(c);
		return;
	}
	/* the setting can change with a reload: the period follows it */
	r = PQexecParams(c, "SELECT noetl.worker_refresh($1), noetl.worker_live_seconds()",
					 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		announced = false;
	else if (PQresultStatus(r) == PGRES_TUPLES_OK && !PQgetisnull(r, 0, 1))
	{
		int			live = atoi(PQgetvalue(r, 0, 1));

		refresh_every = live >= 3 ? live / 3.0 : 1;
	}
	else if (PQresultStatus(r) != PGRES_TUPLES_OK && PQstatus(c) == CONNECTION_OK)
		pg_log_warning("could not refresh worker %s in noetl.worker: %s", opt_id,
					   PQresultErrorMessage(r));
	PQclear(r);
	if (!announced)
		announce(c);
	else
		next_refresh = now_seconds() + refresh_every;
}

/* leave removes the worker's row, as it stops */
static void
leave(PGconn *c)
{
	const char *params[1] = {opt_id};
	PGresult   *r;

	if (!announced)
		return;
	r = PQexecParams(c, "SELECT noetl.worker_leave($1)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		pg_log_warning("could not remove worker %s from noetl.worker: %s", opt_id,
					   PQresultErrorMessage(r));
	PQclear(r);
	announced = false;
}

/* ---------------------------------------------------------------- connection */

/*
 * connect_and_listen connects, LISTENs on the channels and prepares the
 * statements; NULL on failure
 */
static PGconn *
connect_and_listen(const char *application_name)
{
	PGconn	   *c = db_connect(NULL, application_name, true, true);
	PGresult   *r;
	char	   *q;
	char	   *k;
	char	   *sql;

	if (PQstatus(c) != CONNECTION_OK)
	{
		pg_log_warning("could not connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, "SELECT coalesce(current_setting('noetl.notify_channel', true), 'noetl_queue'),"
			   "       coalesce(current_setting('noetl.cancel_channel', true), 'noetl_cancel')");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
	{
		strlcpy(queue_channel, PQgetvalue(r, 0, 0), sizeof(queue_channel));
		strlcpy(cancel_channel, PQgetvalue(r, 0, 1), sizeof(cancel_channel));
	}
	PQclear(r);
	q = PQescapeIdentifier(c, queue_channel, strlen(queue_channel));
	k = PQescapeIdentifier(c, cancel_channel, strlen(cancel_channel));
	sql = psprintf("LISTEN %s; LISTEN %s", q, k);
	PQfreemem(q);
	PQfreemem(k);
	r = PQexec(c, sql);
	pg_free(sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		pg_log_warning("could not LISTEN: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	if (!task_prepare(c) ||
		!sink_prepare(c) ||
		!db_prepare(c, "noetl_report", report_sql, 7) ||
		!db_prepare(c, "noetl_event", "SELECT noetl.report($1, $2, $3)", 3) ||
		!db_prepare(c, "noetl_heartbeat", "SELECT noetl.heartbeat($1, $2, $3::int)", 3))
	{
		PQfinish(c);
		return NULL;
	}
	announce(c);
	return c;
}

/* names_execution: does a comma-separated list of ids (or "*") name eid? */
static bool
names_execution(const char *list, const char *eid)
{
	size_t		n = strlen(eid);
	const char *p = list;

	if (strcmp(list, "*") == 0)
		return true;
	while ((p = strstr(p, eid)) != NULL)
	{
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/* ---------------------------------------------------------------- the loop */

/*
 * take_notifications handles what arrived on the channels.  libpq keeps
 * notifications that come with the results of other statements, so this
 * runs every round, not only when the socket is readable.
 */
static void
take_notifications(PGconn *c, Slot *slots, bool *need_lease)
{
	PGnotify   *nf;
	int			i;

	while ((nf = PQnotifies(c)) != NULL)
	{
		if (strcmp(nf->relname, queue_channel) == 0)
			*need_lease = true;
		else if (strcmp(nf->relname, cancel_channel) == 0)
			for (i = 0; i < opt_jobs; i++)
			{
				Slot	   *s = &slots[i];

				if (s->busy && s->runner->pid > 0 && !s->lost && !s->reported &&
					names_execution(nf->extra, s->task.execution_id) && !heartbeat(c, s))
				{
					s->lost = true;
					kill_task(s);
				}
			}
		PQfreemem(nf);
	}
}

/*
 * begin_sink starts the second phase of a task whose tool reported: its
 * sink (sink.c).  The tool's report is kept; a sink to run goes to the
 * runner of its tool, with a deadline of its own (the task's timeout, from
 * now).  Returns whether the task goes on (the sink runs, or must wait
 * for the connection); false if it is to be reported now: its tool
 * failed, or the sink's outcome is known already (an event sink, or a
 * sink that failed before it ran).
 */
static bool
begin_sink(PGconn *conn, Slot *slots, Slot *s)
{
	SinkStart	st;

	if (PQExpBufferDataBroken(s->out) || !json_is_valid(s->out.data, s->out.len))
		return false;			/* finish() reports what is wrong */
	st = sink_begin(conn, &s->task, s->out.data, &s->sink);
	if (st == SINK_NONE || st == SINK_LATER)
	{
		sink_free(&s->sink);
		return st == SINK_LATER;
	}
	s->sinking = true;
	resetPQExpBuffer(&s->tool_out);
	appendBinaryPQExpBuffer(&s->tool_out, s->out.data, s->out.len);
	resetPQExpBuffer(&s->out);
	if (st == SINK_DONE)
	{
		appendBinaryPQExpBuffer(&s->out, s->sink.report.data, s->sink.report.len);
		return false;
	}
	s->reported = false;
	s->resent = false;
	s->deadline = now_seconds() + task_timeout(&s->task);
	reap(slots);
	send_task(s);
	return true;
}

/*
 * collect reports the tasks that are done (unless disconnected: then they
 * are reported after reconnecting) and frees their slots; returns how
 * many slots are still busy.  A task is done when its report is in, when
 * it failed before its runner had it, or when its runner is gone
 * (exited, its pipes closed).  A killed runner's report is not taken
 * (take_runner_input): its task is done once the runner is gone, so
 * that the slot's next task goes to a new one.  With --isolate, the
 * runner is killed once its report is in.
 */
static int
collect(PGconn *conn, Slot *slots)
{
	int			busy = 0;
	double		now;
	int			i;
	int			k;

	reap(slots);
	now = now_seconds();
	for (i = 0; i < opt_jobs; i++)
	{
		Slot	   *s = &slots[i];
		Runner	   *r = s->runner;

		for (k = 0; k < RUNNER_KINDS; k++)
			linger(s, &s->runners[k], now);
		/* what a runner printed outside a task (a thread of an earlier task) */
		if (s->idle.len > 0)
		{
			char	   *prefix = psprintf("slot %d, outside a task", i);

			log_output(prefix, &s->idle, s->idle_cut);
			pg_free(prefix);
			reset_buffer(&s->idle);
			s->idle_cut = 0;
		}
		if (!s->busy)
			continue;
		if (s->failure == NULL && !s->reported && !runner_gone(r))
		{
			busy++;
			continue;
		}
		/* the tool reported: a sink runs next, in the same task */
		if (!s->sinking && s->task.sink != NULL && s->reported && !s->timed_out && !s->lost &&
			s->failure == NULL)
		{
			if (conn == NULL || begin_sink(conn, slots, s))
			{
				busy++;
				continue;
			}
			r = s->runner;
		}
		if (s->lost)
			pg_log_info("task %s was taken away (cancelled, or its lease lost)",
						s->task.queue_id);
		if (!runner_gone(r))
			read_log(s, r);		/* what came just before */
		trim_log(s);
		if (opt_isolate && s->reported)
			runner_kill(r);		/* done: its next task gets a fresh process */
		if (s->lost || (conn != NULL && finish(conn, s)))
		{
			if (runner_gone(r))
				runner_close(r);
			free_slot(s);
		}
		else
			busy++;
	}
	return busy;
}

/* release_all kills the running tasks and gives them back */
static void
release_all(PGconn *conn, Slot *slots)
{
	int			i;

	for (i = 0; i < opt_jobs; i++)
	{
		Slot	   *s = &slots[i];

		if (!s->busy)
			continue;
		kill_task(s);
		if (conn != NULL && !s->lost && event(conn, "action_released", s))
			pg_log_info("task %s released", s->task.queue_id);
		stop_runner(s->runner);
		free_slot(s);
	}
}

/* lease leases tasks for the free slots and starts them; returns how many */
/*
 * lease leases tasks for the free slots and starts them; returns how
 * many.  Each task's action_started is reported (task_report_started)
 * before its runner is sent the task.
 */
static int
lease(PGconn *conn, Slot *slots, int want)
{
	Task	   *tasks = NULL;
	int			n = task_lease(conn, opt_id, want, opt_lease, opt_tools, &tasks);
	Slot	  **leased = pg_malloc(sizeof(Slot *) * (n > 0 ? n : 1));
	Task	  **started = pg_malloc(sizeof(Task *) * (n > 0 ? n : 1));
	int			k = 0;
	int			i;

	for (i = 0; i < opt_jobs && k < n; i++)
	{
		Slot	   *s = &slots[i];

		if (s->busy)
			continue;
		s->task = tasks[k];
		s->busy = true;
		/* the runner's tool sees the timeout the worker enforces (http's own) */
		s->task.timeout = task_timeout(&s->task);
		pg_log_info("task %s (%s, step %s of execution %s, attempt %d) leased",
					s->task.queue_id, s->task.tool, s->task.node_id, s->task.execution_id,
					s->task.attempts);
		leased[k] = s;
		started[k] = &s->task;
		k++;
	}
	task_report_started(conn, started, k);
	for (i = 0; i < k; i++)
	{
		if (leased[i]->task.needs_context)
			task_read_context(conn, &leased[i]->task);
		if (leased[i]->task.auth != NULL)
			task_read_credential(conn, &leased[i]->task);
		task_read_secrets(conn, &leased[i]->task);
		start_task(slots, leased[i]);
	}
	pg_free(started);
	pg_free(leased);
	pg_free(tasks);
	return n;
}

/*
 * tend kills the tasks that ran out of time, and heartbeats; returns how
 * long the loop may sleep: until the next of these, or until "until".
 */
static double
tend(PGconn *conn, Slot *slots, double until)
{
	double		now = now_seconds();
	double		timeout = until - now;
	int			i;

	for (i = 0; i < opt_jobs; i++)
	{
		Slot	   *s = &slots[i];
		int			k;

		/* the pipes of a reaped runner close after a while (linger) */
		for (k = 0; k < RUNNER_KINDS; k++)
		{
			Runner	   *r = &s->runners[k];

			if (r->pid == 0 && r->reaped_at > 0 && !runner_gone(r) &&
				r->reaped_at + LINGER_SECONDS - now < timeout)
				timeout = r->reaped_at + LINGER_SECONDS - now;
		}
		if (!s->busy || s->runner->pid == 0 || s->reported || s->failure != NULL)
			continue;
		if (now >= s->deadline && !s->timed_out)
		{
			pg_log_info("task %s timed out after %g s", s->task.queue_id,
						task_timeout(&s->task));
			s->timed_out = true;
			kill_task(s);
		}
		if (conn != NULL && now >= s->next_heartbeat && !s->lost && !heartbeat(conn, s))
		{
			s->lost = true;
			kill_task(s);
		}
		if (s->deadline - now < timeout)
			timeout = s->deadline - now;
		if (s->next_heartbeat - now < timeout)
			timeout = s->next_heartbeat - now;
	}
	return timeout;
}

/* watch adds fd (unless closed, -1) to what poll waits on; returns its index */
static int
watch(struct pollfd *fds, int *nfds, int fd, short events)
{
	if (fd < 0)
		return -1;
	fds[*nfds].fd = fd;
	fds[*nfds].events = events;
	fds[*nfds].revents = 0;
	return (*nfds)++;
}

/*
 * take_runner_input writes what a slot's runners can take of their tasks
 * and reads what they wrote: the task's report, what they printed.  A
 * runner found gone before it had all of its task's frame never started
 * it: the task is sent once more, to a new runner.  The report of a task
 * that timed out or was taken away, whose runner is killed, is not taken:
 * the task is over, and so is the runner.
 */
static void
take_runner_input(Slot *s)
{
	int			k;

	for (k = 0; k < RUNNER_KINDS; k++)
	{
		Runner	   *r = &s->runners[k];
		const char *payload;
		size_t		len;

		runner_write(r);
		if (s->busy && r == s->runner && runner_send_failed(r) && !s->resent &&
			!s->timed_out && !s->lost)
		{
			pg_log_info("the runner of task %s was gone before it had the task: sending it to a new one",
						s->task.queue_id);
			s->resent = true;
			send_task(s);
			runner_write(r);
		}
		read_log(s, r);
		if (r->report_fd < 0)
			continue;
		if (runner_read_report(r, &payload, &len))
		{
			if (s->busy && r == s->runner && !s->reported && !s->timed_out && !s->lost &&
				!r->killed)
			{
				appendBinaryPQExpBuffer(&s->out, payload, len);
				s->reported = true;
				/* the log came before the report */
				read_log(s, r);
			}
			reset_buffer(&r->report);
		}
	}
}

/*
 * wait_for_input waits up to timeout seconds for the server, a runner or
 * a signal, then takes what the runners wrote and what the server sent (a
 * connection found broken is mended at the top of the loop).  fds has
 * room for the pipes of every runner, the wake-up pipe and the socket.
 */
static void
wait_for_input(PGconn *conn, Slot *slots, struct pollfd *fds, double timeout)
{
	int			nfds = 0;
	int			sock = -1;
	int			ms;
	int			i;
	int			k;

	(void) watch(fds, &nfds, wake_pipe[0], POLLIN);
	if (conn != NULL)
		sock = watch(fds, &nfds, PQsocket(conn), POLLIN);
	for (i = 0; i < opt_jobs; i++)
		for (k = 0; k < RUNNER_KINDS; k++)
		{
			Runner	   *r = &slots[i].runners[k];

			if (runner_sending(r))
				(void) watch(fds, &nfds, r->task_fd, POLLOUT);
			(void) watch(fds, &nfds, r->report_fd, POLLIN);
			(void) watch(fds, &nfds, r->log_fd, POLLIN);
		}
	ms = timeout <= 0 ? 0 : timeout >= INT_MAX / 1000.0 ? INT_MAX : (int) ceil(timeout * 1000);
	if (poll(fds, nfds, ms) < 0 && errno != EINTR)
	{
		pg_log_error("could not wait for input: %m");
		exit(2);
	}
	if (fds[0].revents != 0)
	{
		char		junk[64];

		while (read(wake_pipe[0], junk, sizeof(junk)) > 0)
			;
	}
	for (i = 0; i < opt_jobs; i++)
		take_runner_input(&slots[i]);
	if (sock >= 0 && fds[sock].revents != 0)
		(void) PQconsumeInput(conn);
}

/* ---------------------------------------------------------------- options */

/* usage prints how to call noetl worker */
static void
usage(FILE *f)
{
	fprintf(f, "usage: noetl worker [--tools python,http,postgres] [--jobs N] [--id NAME]\n"
			"                    [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]\n"
			"                    [--grace SECONDS] [--isolate] [--script-root DIR]\n");
}

/*
 * option_parse_seconds reads a number of seconds, more than 0 (or at least
 * 0 with zero_ok), for option optname; as option_parse_int does, it logs
 * what is wrong and returns false.
 */
static bool
option_parse_seconds(const char *arg, const char *optname, bool zero_ok, double *result)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v))
	{
		pg_log_error("invalid value \"%s\" for option %s", arg, optname);
		return false;
	}
	if (zero_ok && v < 0)
	{
		pg_log_error("%s must be at least 0", optname);
		return false;
	}
	if (!zero_ok && v <= 0)
	{
		pg_log_error("%s must be greater than 0", optname);
		return false;
	}
	*result = v;
	return true;
}

/* in_path says whether an executable of that name is on PATH */
static bool
in_path(const char *name)
{
	const char *path = getenv("PATH");
	const char *p = path;

	if (path == NULL || *path == '\0')
		return false;
	for (;;)
	{
		size_t		len = strcspn(p, ":");
		char	   *file = psprintf("%.*s/%s", (int) len, len == 0 ? "." : p, name);
		bool		found = access(file, X_OK) == 0;

		pg_free(file);
		if (found)
			return true;
		if (p[len] == '\0')
			return false;
		p += len + 1;
	}
}

/* tool_missing says why this worker cannot run a tool it has, or NULL */
static const char *
tool_missing(const char *name, size_t len)
{
	if (len == 6 && strncmp(name, "python", 6) == 0 && !in_path("python3"))
		return "python3 is not on PATH";
	return NULL;
}

/* distance is the edit distance of two short names, at most 64 bytes each */
static int
distance(const char *a, size_t alen, const char *b)
{
	int			row[65];
	size_t		blen = strlen(b);
	size_t		i;
	size_t		j;

	if (alen > 64 || blen > 64)
		return INT_MAX;
	for (j = 0; j <= blen; j++)
		row[j] = (int) j;
	for (i = 1; i <= alen; i++)
	{
		int			diag = row[0];

		row[0] = (int) i;
		for (j = 1; j <= blen; j++)
		{
			int			up = row[j];
			int			best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

/* closest_tool is the tool whose name is within two edits of name, or NULL */
static const char *
closest_tool(const char *name, size_t len)
{
	static const char *const names[] = {"python", "http", "postgres"};
	int			i;

	for (i = 0; i < lengthof(names); i++)
		if (distance(name, len, names[i]) <= 2)
			return names[i];
	return NULL;
}

/*
 * option_parse_tools checks a --tools list: tools of this worker,
 * comma-separated, each of which it can run here (python needs python3)
 */
static bool
option_parse_tools(const char *arg)
{
	const char *p = arg;

	for (;;)
	{
		size_t		len = strcspn(p, ",");
		const char *why;

		if (!tool_exists(p, len))
		{
			const char *like = closest_tool(p, len);

			pg_log_error("invalid value \"%s\" for option --tools: no tool \"%.*s\"", arg,
						 (int) len, p);
			if (like != NULL)
				pg_log_error_hint("Did you mean \"%s\"? The tools are %s.", like, tool_names);
			else
				pg_log_error_hint("The tools are %s.", tool_names);
			return false;
		}
		if ((why = tool_missing(p, len)) != NULL)
		{
			pg_log_error("this worker cannot run tool \"%.*s\": %s", (int) len, p, why);
			pg_log_error_hint("Install it, or leave the tool out of --tools.");
			return false;
		}
		if (p[len] == '\0')
			return true;
		p += len + 1;
	}
}

/*
 * default_tools is every tool this worker can run here: a tool it cannot
 * run (python without python3) is left out, with a warning
 */
static const char *
default_tools(void)
{
	PQExpBufferData list;
	const char *p = tool_names;

	initPQExpBuffer(&list);
	for (;;)
	{
		size_t		len = strcspn(p, ",");
		const char *why = tool_missing(p, len);

		if (why != NULL)
			pg_log_warning("not running %.*s tasks: %s", (int) len, p, why);
		else
			appendPQExpBuffer(&list, "%s%.*s", list.len > 0 ? "," : "", (int) len, p);
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	if (PQExpBufferDataBroken(list))
	{
		pg_log_error("out of memory");
		exit(2);
	}
	return list.data;
}

/*
 * option_parse_script_root reads the directory python steps' script files
 * are read from (python_runner.py refuses a path out of it): kept as its
 * real path, so that the working directory and symbolic links do not
 * change it later
 */
static bool
option_parse_script_root(const char *arg, const char *optname)
{
	char	   *path = realpath(arg, NULL);
	struct stat st;

	if (path == NULL || stat(path, &st) < 0)
	{
		pg_log_error("invalid value \"%s\" for %s: %m", arg, optname);
		free(path);
		return false;
	}
	if (!S_ISDIR(st.st_mode))
	{
		pg_log_error("invalid value \"%s\" for %s: not a directory", arg, optname);
		free(path);
		return false;
	}
	free(opt_script_root);
	opt_script_root = path;
	return true;
}

/* parse_options reads noetl worker's options; false (logged) if wrong */
static bool
parse_options(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"tools", required_argument, NULL, 't'},
		{"jobs", required_argument, NULL, 'j'},
		{"id", required_argument, NULL, 'i'},
		{"lease-seconds", required_argument, NULL, 'l'},
		{"poll", required_argument, NULL, 'p'},
		{"task-timeout", required_argument, NULL, 'T'},
		{"grace", required_argument, NULL, 'g'},
		{"isolate", no_argument, NULL, 'I'},
		{"script-root", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0}
	};
	int			opt;
	bool		ok = true;

	opt_tools = NULL;
	while (ok && (opt = getopt_long(argc, argv, "", long_options, NULL)) != -1)
	{
		switch (opt)
		{
			case 't':
				ok = option_parse_tools(optarg);
				opt_tools = optarg;
				break;
			case 'j':
				ok = option_parse_int(optarg, "--jobs", 1, MAX_JOBS, &opt_jobs);
				break;
			case 'i':
				if (*optarg == '\0')
				{
					pg_log_error("invalid value \"\" for option --id");
					ok = false;
				}
				opt_id = optarg;
				break;
			case 'l':
				ok = option_parse_int(optarg, "--lease-seconds", 1, MAX_LEASE_SECONDS,
									  &opt_lease);
				break;
			case 'p':
				ok = option_parse_seconds(optarg, "--poll", false, &opt_poll);
				break;
			case 'T':
				ok = option_parse_seconds(optarg, "--task-timeout", false, &opt_task_timeout);
				break;
			case 'g':
				ok = option_parse_seconds(optarg, "--grace", true, &opt_grace);
				break;
			case 'I':
				opt_isolate = true;
				break;
			case 'S':
				ok = option_parse_script_root(optarg, "--script-root");
				break;
			default:
				usage(stderr);
				return false;
		}
	}
	if (ok && opt_script_root == NULL && getenv("NOETL_SCRIPT_ROOT") != NULL &&
		getenv("NOETL_SCRIPT_ROOT")[0] != '\0')
		ok = option_parse_script_root(getenv("NOETL_SCRIPT_ROOT"), "NOETL_SCRIPT_ROOT");
	if (ok && optind < argc)
	{
		pg_log_error("too many command-line arguments (first is \"%s\")", argv[optind]);
		usage(stderr);
		return false;
	}
	if (ok && opt_tools == NULL)
		opt_tools = default_tools();
	return ok;
}

/* ---------------------------------------------------------------- noetl worker */

/* cmd_worker is noetl worker */
int
cmd_worker(int argc, char **argv)
{
	PGconn	   *conn = NULL;
	Slot	   *slots;
	struct pollfd *fds;
	char	   *application_name;
	bool		need_lease = true;
	double		next_poll = 0;
	double		stop_at = 0;
	double		backoff = 0.5;
	struct sigaction sa;
	int			i;
	int			k;

	if (!parse_options(argc, argv))
		return 2;
	{
		char		host[256] = "";

		if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
			opt_host = pg_strdup(host);
		if (opt_id == NULL)
			opt_id = psprintf("%s-%d", opt_host ? opt_host : "worker", (int) getpid());
	}
	application_name = psprintf("noetl worker %s", opt_id);

	if (pipe(wake_pipe) < 0)
	{
		pg_log_error("could not create a pipe: %m");
		return 2;
	}
	if (fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
		fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK) < 0 ||
		fcntl(wake_pipe[0], F_SETFD, FD_CLOEXEC) < 0 ||
		fcntl(wake_pipe[1], F_SETFD, FD_CLOEXEC) < 0)
	{
		pg_log_error("could not set up a pipe: %m");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
		sigaction(SIGCHLD, &sa, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
	{
		pg_log_error("could not set up signal handling: %m");
		return 2;
	}

	raise_fd_limit();
	slots = pg_malloc0(sizeof(Slot) * opt_jobs);
	for (i = 0; i < opt_jobs; i++)
	{
		slots[i].cx.worker_id = opt_id;
		slots[i].cx.slot = i;
		slots[i].cx.script_root = opt_script_root;
		slots[i].runner = &slots[i].runners[0];
		initPQExpBuffer(&slots[i].out);
		initPQExpBuffer(&slots[i].tool_out);
		initPQExpBuffer(&slots[i].err);
		initPQExpBuffer(&slots[i].idle);
		for (k = 0; k < RUNNER_KINDS; k++)
			runner_init(&slots[i].runners[k]);
	}
	fds = pg_malloc(sizeof(struct pollfd) * (2 + 3 * RUNNER_KINDS * opt_jobs));
	pg_log_info("worker %s started: tools %s, %d jobs, leases of %d s%s", opt_id, opt_tools,
				opt_jobs, opt_lease, opt_isolate ? ", a process per task" : "");
	if (opt_script_root != NULL)
		pg_log_info("python steps' script files are read from %s", opt_script_root);

	for (;;)
	{
		double		now = now_seconds();
		double		until;
		double		timeout;
		int			busy;

		if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		{
			if (conn != NULL)
			{
				pg_log_warning("lost the connection; reconnecting");
				PQfinish(conn);
			}
			conn = connect_and_listen(application_name);
			if (conn != NULL)
			{
				need_lease = true;
				backoff = 0.5;
			}
		}

		busy = collect(conn, slots);

		/* stopping: let tasks finish, then release what is left */
		if (stop_requests > 0 && stop_at == 0)
		{
			stop_at = now + opt_grace;
			pg_log_info("stopping: no more leases; %d task(s) running", busy);
			if (conn != NULL)
				leave(conn);
		}
		if (stop_requests > 0 && busy == 0)
			break;
		if (stop_requests > 1 || (stop_at > 0 && now >= stop_at))
		{
			release_all(conn, slots);
			break;
		}

		if (conn != NULL)
			take_notifications(conn, slots, &need_lease);

		/* lease, when told, on the timer, and after connecting */
		if (conn != NULL && stop_requests == 0 && busy < opt_jobs &&
			(need_lease || now >= next_poll))
		{
			int			want = opt_jobs - busy;
			int			n = lease(conn, slots, want);

			need_lease = n > 0 && n == want;
			next_poll = now + opt_poll;
			if (n > 0)
				continue;
		}

		/* sleep until the next lease, reconnection or kill at the latest */
		until = conn == NULL ? now + backoff : next_poll;
		if (stop_at > 0 && stop_at < until)
			until = stop_at;
		if (conn != NULL && stop_requests == 0 && now_seconds() >= next_refresh)
			refresh(conn);
		if (conn != NULL && stop_requests == 0 && next_refresh < until)
			until = next_refresh;
		timeout = tend(conn, slots, until);
		if (conn != NULL)
		{
			/* statements above may have brought notifications */
			take_notifications(conn, slots, &need_lease);
			if (need_lease && busy < opt_jobs && stop_requests == 0)
				continue;
		}
		if (conn == NULL)
			backoff = backoff * 2 > 5 ? 5 : backoff * 2;

		wait_for_input(conn, slots, fds, timeout);
	}
	stop_runners(slots);
	for (i = 0; i < opt_jobs; i++)
	{
		for (k = 0; k < RUNNER_KINDS; k++)
		{
			termPQExpBuffer(&slots[i].runners[k].request);
			termPQExpBuffer(&slots[i].runners[k].report);
		}
		termPQExpBuffer(&slots[i].out);
		termPQExpBuffer(&slots[i].tool_out);
		termPQExpBuffer(&slots[i].err);
		termPQExpBuffer(&slots[i].idle);
	}
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		leave(conn);
	pg_log_info("worker %s stopped", opt_id);
	if (conn != NULL)
		PQfinish(conn);
	pg_free(fds);
	pg_free(slots);
	pg_free(application_name);
	return 0;
}
