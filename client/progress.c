/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  How noetl run and noetl status show a loop's counters, and a line
 *	  fitted to the terminal.
 *
 * A loop's counters are its noetl.step_state row's (docs/loops.md, §1.1):
 * loop_total iterations, loop_done finished (done or dead), loop_failed
 * dead, loop_next admitted; so loop_next - loop_done are in flight
 * (queued, leased or awaiting a retry), and the rest wait for the window.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <sys/ioctl.h>

#include "progress.h"

/*
 * progress_loop appends "37/100 (3 in flight, 1 failed)" for a loop's
 * counters, as text from the server (a NULL or empty one counts 0); the
 * parenthesis says only what is not 0
 */
void
progress_loop(PQExpBuffer buf, const char *total, const char *done, const char *failed,
			  const char *next)
{
	long		t = total ? atol(total) : 0;
	long		d = done ? atol(done) : 0;
	long		f = failed ? atol(failed) : 0;
	long		x = next ? atol(next) : 0;

	appendPQExpBuffer(buf, "%ld/%ld", d, t);
	if (x > d)
		appendPQExpBuffer(buf, " (%ld in flight", x - d);
	if (f > 0)
		appendPQExpBuffer(buf, "%s%ld failed", x > d ? ", " : " (", f);
	if (x > d || f > 0)
		appendPQExpBufferChar(buf, ')');
}

/* progress_width is the columns UTF-8 text takes: one per character */
int
progress_width(const char *s)
{
	int			w = 0;

	for (; *s; s++)
		if ((*s & 0xC0) != 0x80)
			w++;
	return w;
}

/*
 * progress_fit cuts buf to columns - 1 characters (so that the cursor
 * stays on the line), the last one "…" when it cut, at a character's
 * boundary
 */
void
progress_fit(PQExpBuffer buf, int columns)
{
	int			w = 0;
	size_t		i;

	if (columns < 2 || progress_width(buf->data) <= columns - 1)
		return;
	for (i = 0; i < buf->len; i++)
	{
		if ((buf->data[i] & 0xC0) != 0x80 && ++w == columns - 1)
			break;
	}
	buf->data[i] = '\0';
	buf->len = i;
	appendPQExpBufferStr(buf, "\xE2\x80\xA6");
}

/* progress_columns is the width of the terminal on fd, else PROGRESS_COLUMNS */
int
progress_columns(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return PROGRESS_COLUMNS;
}
