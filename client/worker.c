/*
 * worker.c
 *	  noetl worker: the reference worker.
 *
 *	noetl worker [--tools python,http,postgres] [--jobs N] [--id NAME]
 *				 [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]
 *				 [--grace SECONDS]
 *
 * It LISTENs on the queue channel and leases when told, on a timer (--poll)
 * and after every (re)connection: the queue is the truth, notifications are
 * hints.  It leases only tasks of the tools it runs.  Each task runs in a
 * child process of its own (python3 for python tasks; a forked copy of the
 * worker for http and postgres) that writes a JSON report on its standard
 * output; up to --jobs run at once.  The worker reports what happens as
 * events: action_started when a task starts, then action_completed or
 * action_error with the result, the error, the stack trace and the
 * duration.  It heartbeats every third of the lease, and drops a task whose
 * lease it lost (expired and taken over, or cancelled): a cancellation
 * notice makes it check at once.  A task that outlives its timeout (the
 * task's own, else --task-timeout) is killed and reported failed.
 *
 * SIGTERM or SIGINT: it stops leasing and lets running tasks finish; after
 * --grace seconds, or at a second signal, it kills them and releases their
 * tasks (action_released) for other workers, then exits 0.  If the worker
 * itself is killed, its children die with it, and the broker expires its
 * leases.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "noetl.h"

typedef struct Slot
{
	bool		busy;
	Task		task;
	pid_t		pid;			/* 0 once reaped */
	int			out_fd;			/* -1 once read to the end */
	int			err_fd;
	Buf			out;
	Buf			err;
	double		started;
	double		deadline;
	double		next_heartbeat;
	int			wstatus;
	bool		timed_out;
	bool		lost;			/* no longer ours: nothing to report */
} Slot;

static const char *opt_tools = "python,http,postgres";
static int	opt_jobs = 2;
static char *opt_id = NULL;
static int	opt_lease = 60;
static double opt_poll = 5;
static double opt_task_timeout = 300;
static double opt_grace = 5;

static volatile sig_atomic_t stop_requests = 0;
static int	wake_pipe[2] = {-1, -1};
static char queue_channel[64] = "noetl_queue";
static char cancel_channel[64] = "noetl_cancel";

static void
logmsg(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
logmsg(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "noetl worker %s: ", opt_id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

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

/* ---------------------------------------------------------------- children */

static void
write_all(int fd, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		data += n;
		len -= (size_t) n;
	}
}

/* report writes a tool's report (a child's last act) */
void
report(Buf *json)
{
	write_all(STDOUT_FILENO, json->data, json->len);
	_exit(0);
}

void
report_failure(const char *error, const char *stack_trace)
{
	Buf			b;

	buf_init(&b);
	buf_puts(&b, "{\"ok\": false, \"error\": ");
	buf_json_string(&b, error, strlen(error));
	if (stack_trace)
	{
		buf_puts(&b, ", \"stack_trace\": ");
		buf_json_string(&b, stack_trace, strlen(stack_trace));
	}
	buf_puts(&b, "}");
	report(&b);
}

static double
task_timeout(Task *t)
{
	return t->timeout > 0 ? t->timeout : opt_task_timeout;
}

static bool
start_child(Slot *s)
{
	int			out[2];
	int			err[2];
	pid_t		pid;

	if (pipe(out) < 0 || pipe(err) < 0)
	{
		logmsg("could not create pipes: %s", strerror(errno));
		return false;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		logmsg("could not fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		return false;
	}
	if (pid == 0)
	{
		Task	   *t = &s->task;
		sigset_t	none;

		/* the task dies with the worker, and its own children with it */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		if (strcmp(t->tool, "python") == 0)
			tool_python(t, task_timeout(t));
		if (strcmp(t->tool, "http") == 0)
			tool_http(t, task_timeout(t));
		if (strcmp(t->tool, "postgres") == 0)
			tool_postgres(t, task_timeout(t));
		report_failure("this worker does not run this tool", t->tool);
	}
	close(out[1]);
	close(err[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	s->pid = pid;
	s->out_fd = out[0];
	s->err_fd = err[0];
	buf_init(&s->out);
	buf_init(&s->err);
	s->started = now_seconds();
	s->deadline = s->started + task_timeout(&s->task);
	s->next_heartbeat = s->started + opt_lease / 3.0;
	s->timed_out = false;
	s->lost = false;
	return true;
}

static void
kill_child(Slot *s)
{
	if (s->pid > 0)
		kill(-s->pid, SIGKILL);
}

/* reads what a child wrote; closes the pipe at its end */
static void
drain(int *fd, Buf *b)
{
	char		chunk[8192];

	while (*fd >= 0)
	{
		ssize_t		n = read(*fd, chunk, sizeof(chunk));

		if (n > 0)
			buf_add(b, chunk, (size_t) n);
		else if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		else
		{
			close(*fd);
			*fd = -1;
		}
	}
}

static void
reap(Slot *slots)
{
	int			wstatus;
	pid_t		pid;
	int			i;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		for (i = 0; i < opt_jobs; i++)
			if (slots[i].busy && slots[i].pid == pid)
			{
				slots[i].pid = 0;
				slots[i].wstatus = wstatus;
			}
}

/* ---------------------------------------------------------------- reports */

/*
 * Reports go through noetl.report with the lease's token: the worker's
 * role needs EXECUTE on it, and no privilege on the tables.
 */
static const char *report_sql =
"SELECT noetl.report($1, $2,"
"        CASE WHEN (r ->> 'ok')::boolean THEN 'action_completed' ELSE 'action_error' END,"
"        r -> 'result',"
"        CASE WHEN (r ->> 'ok')::boolean THEN NULL ELSE coalesce(r ->> 'error', 'task failed') END,"
"        r ->> 'stack_trace', $4::float8)"
"   FROM (SELECT $3::jsonb AS r) s";

static bool
event(PGconn *c, const char *type, Slot *s)
{
	const char *params[3] = {s->task.queue_id, s->task.lease_token, type};
	PGresult   *r = PQexecParams(c, "SELECT noetl.report($1, $2, $3)", 3, NULL, params, NULL,
								 NULL, 0);
	bool		ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		logmsg("could not report %s of task %s: %s", type, s->task.queue_id,
			   PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

/*
 * finish reports a child's outcome; false if the report could not be sent
 * (the connection is gone: it is sent again after reconnecting).
 */
static bool
finish(PGconn *c, Slot *s)
{
	Buf			report_json;
	char		duration[32];
	const char *params[4];
	PGresult   *r;
	bool		ok;
	bool		sent = true;

	buf_init(&report_json);
	if (!s->timed_out && s->out.len > 0 && json_valid(s->out.data, s->out.len))
		buf_add(&report_json, s->out.data, s->out.len);
	else
	{
		/* no report of its own: say what happened, with what it printed */
		Buf			msg;

		buf_init(&msg);
		if (s->timed_out)
			buf_printf(&msg, "timed out after %g s", task_timeout(&s->task));
		else if (WIFSIGNALED(s->wstatus))
			buf_printf(&msg, "the %s task was killed by signal %d", s->task.tool,
					   WTERMSIG(s->wstatus));
		else
			buf_printf(&msg, "the %s task exited with status %d without a report", s->task.tool,
					   WEXITSTATUS(s->wstatus));
		buf_puts(&report_json, "{\"ok\": false, \"error\": ");
		buf_json_string(&report_json, msg.data, msg.len);
		buf_puts(&report_json, ", \"stack_trace\": ");
		buf_json_string(&report_json, s->err.data, s->err.len);
		buf_puts(&report_json, "}");
		buf_free(&msg);
	}
	snprintf(duration, sizeof(duration), "%.6f", now_seconds() - s->started);
	params[0] = s->task.queue_id;
	params[1] = s->task.lease_token;
	params[2] = report_json.data;
	params[3] = duration;
	r = PQexecParams(c, report_sql, 4, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (ok)
		logmsg("task %s (%s, step %s) %s in %s s", s->task.queue_id, s->task.tool,
			   s->task.node_id, strstr(report_json.data, "\"ok\": true") ? "done" : "failed",
			   duration);
	else if (PQstatus(c) != CONNECTION_OK)
		sent = false;
	else
		logmsg("could not report task %s: %s", s->task.queue_id, PQresultErrorMessage(r));
	PQclear(r);
	buf_free(&report_json);
	return sent;
}

static void
free_slot(Slot *s)
{
	if (s->out_fd >= 0)
		close(s->out_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	buf_free(&s->out);
	buf_free(&s->err);
	task_free(&s->task);
	s->busy = false;
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
	r = PQexecParams(c, "SELECT noetl.heartbeat($1, $2, $3::int)", 3, NULL, params, NULL, NULL, 0);
	held = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!held && PQstatus(c) == CONNECTION_OK)
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "55000") != 0)
		{
			logmsg("heartbeat of task %s failed: %s", s->task.queue_id, PQresultErrorMessage(r));
			held = true;		/* try again later */
		}
	}
	else if (!held)
		held = true;			/* disconnected: try again after reconnecting */
	PQclear(r);
	s->next_heartbeat = now_seconds() + opt_lease / 3.0;
	return held;
}

/* ---------------------------------------------------------------- connection */

static PGconn *
connect_and_listen(void)
{
	PGconn	   *c = PQconnectdb(opt_dsn ? opt_dsn : "");
	PGresult   *r;
	Buf			sql;

	if (PQstatus(c) != CONNECTION_OK)
	{
		logmsg("could not connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, "SELECT coalesce(current_setting('noetl.notify_channel', true), 'noetl_queue'),"
			   "       coalesce(current_setting('noetl.cancel_channel', true), 'noetl_cancel')");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
	{
		snprintf(queue_channel, sizeof(queue_channel), "%s", PQgetvalue(r, 0, 0));
		snprintf(cancel_channel, sizeof(cancel_channel), "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	buf_init(&sql);
	{
		char	   *q = PQescapeIdentifier(c, queue_channel, strlen(queue_channel));
		char	   *k = PQescapeIdentifier(c, cancel_channel, strlen(cancel_channel));

		buf_printf(&sql, "LISTEN %s; LISTEN %s", q, k);
		PQfreemem(q);
		PQfreemem(k);
	}
	r = PQexec(c, sql.data);
	buf_free(&sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		logmsg("could not LISTEN: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* does a comma-separated list of execution ids (or "*") name eid? */
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

/* watch adds fd (unless closed, -1) to the set select waits on */
static void
watch(int fd, fd_set *set, int *maxfd)
{
	if (fd < 0)
		return;
	FD_SET(fd, set);
	if (fd > *maxfd)
		*maxfd = fd;
}

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

				if (s->busy && s->pid > 0 && !s->lost &&
					names_execution(nf->extra, s->task.execution_id) && !heartbeat(c, s))
				{
					s->lost = true;
					kill_child(s);
				}
			}
		PQfreemem(nf);
	}
}

static void
usage_worker(void)
{
	fprintf(stderr, "usage: %s worker [--tools python,http,postgres] [--jobs N] [--id NAME]\n"
			"                    [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]\n"
			"                    [--grace SECONDS]\n", progname);
}

int
cmd_worker(int argc, char **argv)
{
	PGconn	   *conn = NULL;
	Slot	   *slots;
	bool		need_lease = true;
	double		next_poll = 0;
	double		stop_at = 0;
	double		backoff = 0.5;
	struct sigaction sa;
	int			i;

	for (i = 1; i < argc; i++)
	{
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--tools") == 0 && v)
			opt_tools = v;
		else if (strcmp(argv[i], "--jobs") == 0 && v)
			opt_jobs = atoi(v);
		else if (strcmp(argv[i], "--id") == 0 && v)
			opt_id = strdup(v);
		else if (strcmp(argv[i], "--lease-seconds") == 0 && v)
			opt_lease = atoi(v);
		else if (strcmp(argv[i], "--poll") == 0 && v)
			opt_poll = atof(v);
		else if (strcmp(argv[i], "--task-timeout") == 0 && v)
			opt_task_timeout = atof(v);
		else if (strcmp(argv[i], "--grace") == 0 && v)
			opt_grace = atof(v);
		else
		{
			usage_worker();
			return 2;
		}
		i++;
	}
	if (opt_jobs < 1 || opt_lease < 1 || opt_poll <= 0 || opt_task_timeout <= 0 || opt_grace < 0)
	{
		usage_worker();
		return 2;
	}
	if (opt_id == NULL)
	{
		char		host[256] = "worker";
		Buf			b;

		gethostname(host, sizeof(host) - 1);
		buf_init(&b);
		buf_printf(&b, "%s-%d", host, (int) getpid());
		opt_id = b.data;
	}

	if (pipe(wake_pipe) < 0)
		die("could not create a pipe: %s", strerror(errno));
	fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(wake_pipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(wake_pipe[1], F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	slots = calloc((size_t) opt_jobs, sizeof(Slot));
	logmsg("started: tools %s, %d jobs, leases of %d s", opt_tools, opt_jobs, opt_lease);

	for (;;)
	{
		double		now = now_seconds();
		double		timeout;
		int			busy = 0;
		int			maxfd;
		fd_set		in;
		struct timeval tv;

		if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		{
			if (conn != NULL)
			{
				logmsg("lost the connection; reconnecting");
				PQfinish(conn);
			}
			conn = connect_and_listen();
			if (conn != NULL)
			{
				need_lease = true;
				backoff = 0.5;
			}
		}

		reap(slots);
		for (i = 0; i < opt_jobs; i++)
		{
			Slot	   *s = &slots[i];

			if (!s->busy)
				continue;
			if (s->pid == 0 && s->out_fd < 0 && s->err_fd < 0)
			{
				if (s->lost)
					logmsg("task %s was taken away (cancelled, or its lease lost)", s->task.queue_id);
				else if (conn == NULL || !finish(conn, s))
					continue;	/* report after reconnecting */
				free_slot(s);
				continue;
			}
			busy++;
		}

		/* stopping: let tasks finish, then release what is left */
		if (stop_requests > 0 && stop_at == 0)
		{
			stop_at = now + opt_grace;
			logmsg("stopping: no more leases; %d task(s) running", busy);
		}
		if (stop_requests > 0 && busy == 0)
			break;
		if (stop_requests > 1 || (stop_at > 0 && now >= stop_at))
		{
			for (i = 0; i < opt_jobs; i++)
			{
				Slot	   *s = &slots[i];

				if (!s->busy)
					continue;
				kill_child(s);
				if (conn != NULL && !s->lost && event(conn, "action_released", s))
					logmsg("task %s released", s->task.queue_id);
				if (s->pid > 0)
					waitpid(s->pid, NULL, 0);
				s->pid = 0;
				free_slot(s);
			}
			break;
		}

		if (conn != NULL)
			take_notifications(conn, slots, &need_lease);

		/* lease, when told, on the timer, and after connecting */
		if (conn != NULL && stop_requests == 0 && busy < opt_jobs && (need_lease || now >= next_poll))
		{
			Task	   *tasks = NULL;
			int			want = opt_jobs - busy;
			int			n = task_lease(conn, opt_id, want, opt_lease, opt_tools, &tasks);
			int			k = 0;

			for (i = 0; i < opt_jobs && k < n; i++)
				if (!slots[i].busy)
				{
					Slot	   *s = &slots[i];

					s->task = tasks[k++];
					s->busy = true;
					logmsg("task %s (%s, step %s of execution %s, attempt %d) leased",
						   s->task.queue_id, s->task.tool, s->task.node_id, s->task.execution_id,
						   s->task.attempts);
					(void) event(conn, "action_started", s);
					if (!start_child(s))
					{
						/* reported as a task that exited with status 127 */
						s->pid = 0;
						s->wstatus = 127 << 8;
						s->out_fd = s->err_fd = -1;
						buf_init(&s->out);
						buf_init(&s->err);
						s->started = now_seconds();
					}
				}
			free(tasks);
			need_lease = n > 0 && n == want;
			next_poll = now + opt_poll;
			if (n > 0)
				continue;
		}

		/* heartbeats, timeouts */
		now = now_seconds();
		timeout = conn == NULL ? backoff : next_poll - now;
		for (i = 0; i < opt_jobs; i++)
		{
			Slot	   *s = &slots[i];

			if (!s->busy || s->pid == 0)
				continue;
			if (now >= s->deadline && !s->timed_out)
			{
				logmsg("task %s timed out after %g s", s->task.queue_id, task_timeout(&s->task));
				s->timed_out = true;
				kill_child(s);
			}
			if (conn != NULL && now >= s->next_heartbeat && !s->lost && !heartbeat(conn, s))
			{
				s->lost = true;
				kill_child(s);
			}
			if (s->deadline - now < timeout)
				timeout = s->deadline - now;
			if (s->next_heartbeat - now < timeout)
				timeout = s->next_heartbeat - now;
		}
		if (stop_at > 0 && stop_at - now < timeout)
			timeout = stop_at - now;
		if (conn != NULL)
		{
			/* statements above may have brought notifications */
			take_notifications(conn, slots, &need_lease);
			if (need_lease && busy < opt_jobs && stop_requests == 0)
				continue;
		}
		if (timeout < 0)
			timeout = 0;
		if (conn == NULL)
			backoff = backoff * 2 > 5 ? 5 : backoff * 2;

		/* wait for the server, a child, or a signal */
		FD_ZERO(&in);
		maxfd = -1;
		watch(wake_pipe[0], &in, &maxfd);
		if (conn != NULL)
			watch(PQsocket(conn), &in, &maxfd);
		for (i = 0; i < opt_jobs; i++)
		{
			Slot	   *s = &slots[i];

			if (!s->busy)
				continue;
			watch(s->out_fd, &in, &maxfd);
			watch(s->err_fd, &in, &maxfd);
		}
		tv.tv_sec = (long) timeout;
		tv.tv_usec = (long) ((timeout - (double) tv.tv_sec) * 1e6);
		if (select(maxfd + 1, &in, NULL, NULL, &tv) < 0 && errno != EINTR)
			die("select failed: %s", strerror(errno));

		if (FD_ISSET(wake_pipe[0], &in))
		{
			char		junk[64];

			while (read(wake_pipe[0], junk, sizeof(junk)) > 0)
				;
		}
		for (i = 0; i < opt_jobs; i++)
		{
			Slot	   *s = &slots[i];

			if (!s->busy)
				continue;
			drain(&s->out_fd, &s->out);
			drain(&s->err_fd, &s->err);
		}
		if (conn != NULL && FD_ISSET(PQsocket(conn), &in) && !PQconsumeInput(conn))
			continue;			/* the connection is gone: reconnect */
	}
	logmsg("stopped");
	if (conn != NULL)
		PQfinish(conn);
	return 0;
}
