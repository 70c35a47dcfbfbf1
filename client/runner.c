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

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/logging.h"

#include "runner.h"
#include "task.h"

/* the descriptors of a runner */
#define RUNNER_REPORT_FD 3
#define RUNNER_TASK_FD 4

/* the largest task frame (a PQExpBuffer holds less than 1 GB) */
#define MAX_FRAME ((size_t) 1024 * 1024 * 1024 - 64)

/* the longest frame header: two numbers of at most 20 digits, a space, a newline */
#define MAX_HEADER 42

/* a buffer that grew larger than this is freed after its frame */
#define KEEP_BUFFER (1024 * 1024)

/* runner_init makes r a runner that is not running */
void
runner_init(Runner *r)
{
	memset(r, 0, sizeof(Runner));
	r->task_fd = r->report_fd = r->log_fd = -1;
	initPQExpBuffer(&r->request);
	initPQExpBuffer(&r->report);
}

/*
 * runner_usable says whether r is running and can take a task: not killed
 * (a killed runner can hold its pipes open for a while before it is
 * reaped), nor refused for what it sent
 */
bool
runner_usable(const Runner *r)
{
	return r->pid > 0 && r->task_fd >= 0 && r->report_fd >= 0 && r->log_fd >= 0 &&
		!r->killed && r->fault == RUNNER_OK;
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
		(void) close(*fd);
	*fd = -1;
}

/* reset_buffer empties buf, freeing its memory if it grew large */
static void
reset_buffer(PQExpBuffer buf)
{
	if (buf->maxlen > KEEP_BUFFER || PQExpBufferBroken(buf))
	{
		termPQExpBuffer(buf);
		initPQExpBuffer(buf);
	}
	else
		resetPQExpBuffer(buf);
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
write_frame(int fd, unsigned long seq, const char *payload, size_t len)
{
	char		header[MAX_HEADER + 1];

	snprintf(header, sizeof(header), "%lu %zu\n", seq, len);
	return write_all(fd, header, strlen(header)) && write_all(fd, payload, len);
}

/* the outcomes of frame_complete */
typedef enum FrameState
{
	FRAME_BROKEN = -1,			/* not a frame */
	FRAME_PARTIAL = 0,			/* not all of it yet */
	FRAME_COMPLETE = 1,
	FRAME_TOO_LARGE = 2			/* a header announcing more than max */
} FrameState;

/*
 * read_number reads a decimal number from *p up to end, without leading
 * zeros, at most max; false if there is none
 */
static bool
read_number(const char **p, const char *end, size_t max, size_t *v, bool *too_large)
{
	const char *start = *p;
	size_t		n = 0;

	*too_large = false;
	for (; *p < end && **p >= '0' && **p <= '9'; (*p)++)
	{
		if (n > (SIZE_MAX - 9) / 10)
			return false;
		n = n * 10 + (size_t) (**p - '0');
	}
	if (*p == start || (*start == '0' && *p - start > 1))
		return false;
	*too_large = n > max;
	*v = n;
	return true;
}

/*
 * frame_complete looks at what buf holds of a frame of at most max bytes:
 * FRAME_COMPLETE if all of it (its sequence number in *seq, the payload
 * at *payload, *len bytes), FRAME_PARTIAL if not yet, FRAME_BROKEN if it
 * is no frame or bytes follow it (a side sends one frame at a time), and
 * FRAME_TOO_LARGE if its header announces more than max.
 */
static FrameState
frame_complete(PQExpBuffer buf, size_t max, unsigned long *seq, const char **payload,
			   size_t *len)
{
	const char *nl;
	const char *p = buf->data;
	size_t		s;
	size_t		n;
	size_t		header;
	bool		too_large;

	if (PQExpBufferBroken(buf))
		return FRAME_BROKEN;
	nl = memchr(buf->data, '\n', Min(buf->len, MAX_HEADER));
	if (nl == NULL)
		return buf->len >= MAX_HEADER ? FRAME_BROKEN : FRAME_PARTIAL;
	if (!read_number(&p, nl, ULONG_MAX, &s, &too_large) || too_large ||
		p >= nl || *p++ != ' ' ||
		!read_number(&p, nl, max, &n, &too_large) || p != nl)
		return FRAME_BROKEN;
	if (too_large)
		return FRAME_TOO_LARGE;
	header = (size_t) (nl - buf->data) + 1;
	if (buf->len - header < n)
		return FRAME_PARTIAL;
	if (buf->len - header > n)
		return FRAME_BROKEN;
	*seq = (unsigned long) s;
	*payload = buf->data + header;
	*len = n;
	return FRAME_COMPLETE;
}

/* runner_fail writes why a runner could not start on fd 2, and exits */
static void runner_fail(const char *what) pg_attribute_noreturn();

static void
runner_fail(const char *what)
{
	char		msg[256];

	snprintf(msg, sizeof(msg), "noetl worker: the runner could not start: %s: %m\n", what);
	(void) write_all(2, msg, strlen(msg));
	_exit(1);
}

/*
 * close_fds_from closes every descriptor from low up, the worker's (its
 * connection, the other runners' pipes), which a forked runner must not
 * hold.  close_range(2) can be missing (ENOSYS on kernels before 5.9) or
 * refused (EPERM under some seccomp filters): then the descriptors
 * /proc/self/fd lists, and without /proc every one up to the limit.
 */
static void
close_fds_from(int low)
{
	DIR		   *dir;
	long		max;
	int			fd;

	if (close_range((unsigned int) low, ~0U, 0) == 0)
		return;
	if ((dir = opendir("/proc/self/fd")) != NULL)
	{
		bool		closed = true;

		/* closing while reading the directory: again until a pass closes none */
		while (closed)
		{
			struct dirent *de;

			closed = false;
			rewinddir(dir);
			while ((de = readdir(dir)) != NULL)
			{
				char	   *end;
				long		v = strtol(de->d_name, &end, 10);

				if (*end == '\0' && end != de->d_name && v >= low && v != dirfd(dir) &&
					v <= INT_MAX)
				{
					(void) close((int) v);
					closed = true;
				}
			}
		}
		(void) closedir(dir);
		return;
	}
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1024 * 1024)
		max = 1024 * 1024;
	for (fd = low; fd < max; fd++)
		(void) close(fd);
}

/* ---------------------------------------------------------------- the native runner */

static void native_main(const RunnerContext *cx) pg_attribute_noreturn();

/*
 * native_main is the native runner: it reads tasks from RUNNER_TASK_FD,
 * runs each with its tool and writes the report, with the task's
 * sequence number, on RUNNER_REPORT_FD, until the worker closes the pipe
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
		unsigned long seq = 0;
		FrameState	state;
		Task		task;

		while ((state = frame_complete(&in, MAX_FRAME, &seq, &payload, &len)) == FRAME_PARTIAL)
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
		if (state != FRAME_COMPLETE)
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
			reset_buffer(&report);
			tool_failure(&report, "out of memory", NULL);
		}
		reset_buffer(&in);
		if (!write_frame(RUNNER_REPORT_FD, seq, report.data, report.len))
			_exit(3);
		reset_buffer(&report);
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
 * worker, with its descriptors 0 to 4 (runner.h) and no others; it exits,
 * saying why on descriptor 2, if it cannot.
 */
static void
child_setup(pid_t parent, int log_w, int report_w, int task_r)
{
	int			src[5];
	int			i;
	sigset_t	none;

	if (setpgid(0, 0) < 0)
		runner_fail("setpgid");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		runner_fail("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != parent)
		_exit(1);				/* the worker is gone already */
	(void) signal(SIGTERM, SIG_DFL);
	(void) signal(SIGINT, SIG_DFL);
	(void) signal(SIGCHLD, SIG_DFL);
	(void) signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);

	/* each one first above 4, so that none is overwritten before it is moved */
	src[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	src[1] = log_w;
	src[2] = log_w;
	src[RUNNER_REPORT_FD] = report_w;
	src[RUNNER_TASK_FD] = task_r;
	for (i = 0; i < 5; i++)
		if (src[i] < 0 || (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 5)) < 0)
			runner_fail("its descriptors could not be set up");
	for (i = 0; i < 5; i++)
		if (dup2(src[i], i) < 0)
			runner_fail("its descriptors could not be set up");
	/* the worker's descriptors: its connection, the other runners' pipes */
	close_fds_from(5);
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
			int			save;

			execlp("python3", "python3", "-c", tool_python_script, (char *) NULL);
			save = errno;
			initPQExpBuffer(&report);
			errno = save;
			tool_failure(&report, "could not run python3", strerror(save));
			/* the task it would have run is the first: number 1 */
			(void) write_frame(RUNNER_REPORT_FD, 1, report.data, report.len);
			_exit(127);
		}
		(void) signal(SIGPIPE, SIG_IGN);	/* a write to a closed pipe fails instead */
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
	r->seq = 0;
	r->sent = 0;
	r->wstatus = 0;
	r->reaped_at = 0;
	r->killed = false;
	r->fault = RUNNER_OK;
	reset_buffer(&r->request);
	reset_buffer(&r->report);
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

/*
 * runner_send starts sending a task's frame, the runner's next task (the
 * rest follows in runner_write); false if it cannot be made (too large,
 * out of memory): nothing is sent, and the runner can take another.
 */
bool
runner_send(Runner *r, const char *payload, size_t len)
{
	reset_buffer(&r->request);
	reset_buffer(&r->report);
	r->sent = 0;
	if (len > MAX_FRAME)
		return false;
	appendPQExpBuffer(&r->request, "%lu %zu\n", r->seq + 1, len);
	appendBinaryPQExpBuffer(&r->request, payload, len);
	if (PQExpBufferBroken(&r->request))
	{
		reset_buffer(&r->request);
		return false;
	}
	r->seq++;
	runner_write(r);
	return true;
}

/* runner_sending says whether part of a frame is still to be written */
bool
runner_sending(const Runner *r)
{
	return r->task_fd >= 0 && r->sent < r->request.len;
}

/*
 * runner_send_failed says whether the runner's end of the tasks' pipe
 * closed before the whole frame was written: the runner never had the
 * task (it starts a task only once its frame is complete).
 */
bool
runner_send_failed(const Runner *r)
{
	return r->task_fd < 0 && r->request.len > 0 && r->sent < r->request.len;
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
	if (r->sent == r->request.len && r->request.maxlen > KEEP_BUFFER)
	{
		/* all sent: a large frame's memory goes (runner_send_failed stays false) */
		termPQExpBuffer(&r->request);
		initPQExpBuffer(&r->request);
		r->sent = 0;
	}
}

/* refuse kills a runner for what it sent */
static void
refuse(Runner *r, RunnerFault fault)
{
	r->fault = fault;
	runner_kill(r);
	close_fd(&r->report_fd);
	reset_buffer(&r->report);
}

/*
 * runner_read_report reads what came of the report; true once it is all
 * there (its payload at *payload, *len bytes, until the next task).  A
 * runner whose report is not a frame, is the report of another task
 * than the one it was sent last, or is larger than MAX_REPORT, is killed
 * (r->fault says why).
 */
bool
runner_read_report(Runner *r, const char **payload, size_t *len)
{
	char		chunk[65536];
	unsigned long seq = 0;

	while (r->report_fd >= 0)
	{
		ssize_t		n = read(r->report_fd, chunk, sizeof(chunk));

		if (n > 0)
		{
			appendBinaryPQExpBuffer(&r->report, chunk, (size_t) n);
			if (r->report.len > MAX_REPORT + MAX_HEADER)
				break;			/* frame_complete says which fault */
		}
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			break;
		else
			close_fd(&r->report_fd);
	}
	if (r->report.len == 0)
		return false;
	switch (frame_complete(&r->report, MAX_REPORT, &seq, payload, len))
	{
		case FRAME_COMPLETE:
			if (seq != r->seq)
			{
				refuse(r, RUNNER_FOREIGN);
				return false;
			}
			return true;
		case FRAME_PARTIAL:
			return false;
		case FRAME_TOO_LARGE:
			refuse(r, RUNNER_OVERSIZED);
			return false;
		default:
			refuse(r, RUNNER_GARBLED);
			return false;
	}
}

/*
 * runner_read_log appends what the runner printed to log, keeping at most
 * the last "keep" bytes of it (0: all); returns how many bytes it cut
 * from the start of log
 */
size_t
runner_read_log(Runner *r, PQExpBuffer log, size_t keep)
{
	char		chunk[8192];
	size_t		cut = 0;

	while (r->log_fd >= 0)
	{
		ssize_t		n = read(r->log_fd, chunk, sizeof(chunk));

		if (n > 0)
		{
			appendBinaryPQExpBuffer(log, chunk, (size_t) n);
			if (keep > 0 && log->len > 2 * keep && !PQExpBufferBroken(log))
			{
				size_t		drop = log->len - keep;

				memmove(log->data, log->data + drop, keep + 1);
				log->len = keep;
				cut += drop;
			}
		}
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			break;
		else
			close_fd(&r->log_fd);
	}
	return cut;
}

/* runner_kill kills a runner and what it started: it takes no more tasks */
void
runner_kill(Runner *r)
{
	if (r->pid > 0)
	{
		(void) kill(-r->pid, SIGKILL);
		(void) kill(r->pid, SIGKILL);
		r->killed = true;
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
	reset_buffer(&r->request);
	reset_buffer(&r->report);
	r->sent = 0;
}
