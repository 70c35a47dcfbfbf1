/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  The long-lived processes that run a job slot's tasks (runner.h):
 *	  starting them, the frames to and from them, and the native runner.
 *
 * The worker's side never blocks: its descriptors are non-blocking, and
 * a task's frame is written as the pipe takes it, between polls.  The
 * runner's side blocks, as it has nothing else to do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/logging.h"

#include "runner.h"
#include "task.h"

/* the descriptors of a runner */
#define RUNNER_REPORT_FD 3
#define RUNNER_TASK_FD 4

/* the largest frame either side accepts (a PQExpBuffer holds less than 1 GB) */
#define MAX_FRAME (1024 * 1024 * 1024 - 64)

/* runner_init makes r a runner that is not running */
void
runner_init(Runner *r)
{
	memset(r, 0, sizeof(Runner));
	r->task_fd = r->report_fd = r->log_fd = -1;
	initPQExpBuffer(&r->request);
	initPQExpBuffer(&r->report);
}

/* runner_usable says whether r is running and can take a task */
bool
runner_usable(const Runner *r)
{
	return r->pid > 0 && r->task_fd >= 0 && r->report_fd >= 0 && r->log_fd >= 0 && !r->garbled;
}

/* runner_gone says whether r has exited and closed its pipes */
bool
runner_gone(const Runner *r)
{
	return r->pid == 0 && r->report_fd < 0 && r->log_fd < 0;
}

/* close_fd closes *fd unless it is -1, and makes it -1 */
static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* write_all writes len bytes to a blocking fd; false on failure */
static bool
write_all(int fd, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t) n;
	}
	return true;
}

/* write_frame writes a frame to a blocking fd; false on failure */
static bool
write_frame(int fd, const char *payload, size_t len)
{
	char		header[32];

	snprintf(header, sizeof(header), "%zu\n", len);
	return write_all(fd, header, strlen(header)) && write_all(fd, payload, len);
}

/*
 * frame_complete looks at what buf holds of a frame: 1 if all of it (the
 * payload at *payload, *len bytes), 0 if not yet, -1 if it is no frame.
 */
static int
frame_complete(PQExpBuffer buf, const char **payload, size_t *len)
{
	char	   *nl;
	size_t		n = 0;
	size_t		header;
	char	   *p;

	if (PQExpBufferBroken(buf))
		return -1;
	nl = memchr(buf->data, '\n', buf->len);
	if (nl == NULL)
		return buf->len > 20 ? -1 : 0;
	if (nl == buf->data)
		return -1;
	for (p = buf->data; p < nl; p++)
	{
		if (*p < '0' || *p > '9' || n > MAX_FRAME / 10)
			return -1;
		n = n * 10 + (size_t) (*p - '0');
	}
	if (n > MAX_FRAME)
		return -1;
	header = (size_t) (nl - buf->data) + 1;
	if (buf->len - header < n)
		return 0;
	*payload = buf->data + header;
	*len = n;
	return 1;
}

/* ---------------------------------------------------------------- the native runner */

static void native_main(const RunnerContext *cx) pg_attribute_noreturn();

/*
 * native_main is the native runner: it reads tasks from RUNNER_TASK_FD,
 * runs each with its tool and writes the report on RUNNER_REPORT_FD,
 * until the worker closes the pipe
 */
static void
native_main(const RunnerContext *cx)
{
	PQExpBufferData in;
	PQExpBufferData report;

	initPQExpBuffer(&in);
	initPQExpBuffer(&report);
	for (;;)
	{
		const char *payload = NULL;
		size_t		len = 0;
		int			state;
		Task		task;

		while ((state = frame_complete(&in, &payload, &len)) == 0)
		{
			char		chunk[65536];
			ssize_t		n = read(RUNNER_TASK_FD, chunk, sizeof(chunk));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
			{
				pg_log_error("could not read a task: %m");
				_exit(1);
			}
			if (n == 0)
			{
				/* the worker is done with this runner */
				tool_close();
				_exit(in.len == 0 ? 0 : 1);
			}
			appendBinaryPQExpBuffer(&in, chunk, (size_t) n);
		}
		if (state < 0)
		{
			pg_log_error("could not read a task: not a frame");
			_exit(1);
		}
		resetPQExpBuffer(&report);
		if (!task_unpack(payload, len, &task))
			tool_failure(&report, "the worker sent a task that could not be read", NULL);
		else
		{
			tool_run(cx, &task, task.timeout, &report);
			task_free(&task);
		}
		if (PQExpBufferBroken(&report))
		{
			resetPQExpBuffer(&report);
			tool_failure(&report, "out of memory", NULL);
		}
		resetPQExpBuffer(&in);
		if (!write_frame(RUNNER_REPORT_FD, report.data, report.len))
			_exit(3);
		tool_after_task();
	}
}

/* ---------------------------------------------------------------- starting one */

/* pipe_pair makes a pipe whose ends close on exec; false (logged) on failure */
static bool
pipe_pair(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
	{
		pg_log_warning("could not create a pipe: %m");
		return false;
	}
	return true;
}

/*
 * child_setup makes the forked runner a process group that dies with the
 * worker, with its descriptors 0 to 4 (runner.h); it exits if it cannot.
 */
static void
child_setup(pid_t parent, int log_w, int report_w, int task_r)
{
	int			src[5];
	int			i;
	sigset_t	none;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* each one first above 4, so that none is overwritten before it is moved */
	src[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	src[1] = log_w;
	src[2] = log_w;
	src[RUNNER_REPORT_FD] = report_w;
	src[RUNNER_TASK_FD] = task_r;
	for (i = 0; i < 5; i++)
		if (src[i] < 0 || (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 5)) < 0)
			_exit(1);
	for (i = 0; i < 5; i++)
		if (dup2(src[i], i) < 0)
			_exit(1);
}

/*
 * runner_start starts a runner of that kind; false (logged) if it could
 * not.  A python runner that cannot run python3 reports that, as the
 * report of the task it is sent, and exits with status 127.
 */
bool
runner_start(Runner *r, RunnerKind kind, const RunnerContext *cx)
{
	int			task_pipe[2];
	int			report_pipe[2];
	int			log_pipe[2];
	pid_t		parent = getpid();
	pid_t		pid;

	if (!pipe_pair(task_pipe))
		return false;
	if (!pipe_pair(report_pipe))
	{
		close(task_pipe[0]);
		close(task_pipe[1]);
		return false;
	}
	if (!pipe_pair(log_pipe))
	{
		close(task_pipe[0]);
		close(task_pipe[1]);
		close(report_pipe[0]);
		close(report_pipe[1]);
		return false;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
	{
		child_setup(parent, log_pipe[1], report_pipe[1], task_pipe[0]);
		if (kind == RUNNER_PYTHON)
		{
			PQExpBufferData report;

			execlp("python3", "python3", "-c", tool_python_script, (char *) NULL);
			initPQExpBuffer(&report);
			tool_failure(&report, "could not run python3", strerror(errno));
			(void) write_frame(RUNNER_REPORT_FD, report.data, report.len);
			_exit(127);
		}
		/* the worker's descriptors: its connection, the other runners' pipes */
		if (close_range(5, ~0U, 0) < 0)
			_exit(1);
		native_main(cx);
	}
	close(task_pipe[0]);
	close(report_pipe[1]);
	close(log_pipe[1]);
	if (pid < 0)
	{
		pg_log_warning("could not fork: %m");
		close(task_pipe[1]);
		close(report_pipe[0]);
		close(log_pipe[0]);
		return false;
	}
	/* as the child does, so that a kill of the group cannot come first */
	(void) setpgid(pid, pid);
	r->pid = pid;
	r->task_fd = task_pipe[1];
	r->report_fd = report_pipe[0];
	r->log_fd = log_pipe[0];
	r->sent = 0;
	r->wstatus = 0;
	r->garbled = false;
	resetPQExpBuffer(&r->request);
	resetPQExpBuffer(&r->report);
	if (fcntl(r->task_fd, F_SETFL, O_NONBLOCK) < 0 ||
		fcntl(r->report_fd, F_SETFL, O_NONBLOCK) < 0 ||
		fcntl(r->log_fd, F_SETFL, O_NONBLOCK) < 0)
	{
		pg_log_warning("could not make a pipe non-blocking: %m");
		runner_kill(r);
		runner_close(r);
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- talking to one */

/* runner_send starts sending a task's frame (the rest follows in runner_write) */
void
runner_send(Runner *r, const char *payload, size_t len)
{
	resetPQExpBuffer(&r->request);
	resetPQExpBuffer(&r->report);
	appendPQExpBuffer(&r->request, "%zu\n", len);
	appendBinaryPQExpBuffer(&r->request, payload, len);
	r->sent = 0;
	if (PQExpBufferBroken(&r->request))
	{
		pg_log_error("out of memory");
		exit(2);
	}
	runner_write(r);
}

/* runner_sending says whether part of a frame is still to be written */
bool
runner_sending(const Runner *r)
{
	return r->task_fd >= 0 && r->sent < r->request.len;
}

/*
 * runner_write writes what the pipe takes of the frame being sent.  If
 * the runner is gone (EPIPE), it stops: the runner's end shows how.
 */
void
runner_write(Runner *r)
{
	while (runner_sending(r))
	{
		ssize_t		n = write(r->task_fd, r->request.data + r->sent, r->request.len - r->sent);

		if (n > 0)
			r->sent += (size_t) n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			return;
		else
		{
			close_fd(&r->task_fd);
			return;
		}
	}
}

/*
 * runner_read_report reads what came of the report; true once it is all
 * there (its payload at *payload, *len bytes, until the next task).  A
 * runner whose report is not a frame is killed.
 */
bool
runner_read_report(Runner *r, const char **payload, size_t *len)
{
	char		chunk[65536];

	while (r->report_fd >= 0)
	{
		ssize_t		n = read(r->report_fd, chunk, sizeof(chunk));

		if (n > 0)
			appendBinaryPQExpBuffer(&r->report, chunk, (size_t) n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			break;
		else
			close_fd(&r->report_fd);
	}
	switch (frame_complete(&r->report, payload, len))
	{
		case 1:
			return true;
		case 0:
			return false;
		default:
			r->garbled = true;
			runner_kill(r);
			close_fd(&r->report_fd);
			return false;
	}
}

/* runner_read_log appends what the runner printed to log */
void
runner_read_log(Runner *r, PQExpBuffer log)
{
	char		chunk[8192];

	while (r->log_fd >= 0)
	{
		ssize_t		n = read(r->log_fd, chunk, sizeof(chunk));

		if (n > 0)
			appendBinaryPQExpBuffer(log, chunk, (size_t) n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			return;
		else
			close_fd(&r->log_fd);
	}
}

/* runner_kill kills a runner and what it started */
void
runner_kill(Runner *r)
{
	if (r->pid > 0)
	{
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
	}
}

/* runner_close_tasks closes the runner's tasks' pipe: it exits when idle */
void
runner_close_tasks(Runner *r)
{
	close_fd(&r->task_fd);
}

/* runner_close closes the worker's ends of a runner's pipes (reaping is the caller's) */
void
runner_close(Runner *r)
{
	close_fd(&r->task_fd);
	close_fd(&r->report_fd);
	close_fd(&r->log_fd);
	resetPQExpBuffer(&r->request);
	resetPQExpBuffer(&r->report);
	r->sent = 0;
}
