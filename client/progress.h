/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  How noetl run and noetl status show a loop's counters, and a line
 *	  fitted to the terminal.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_PROGRESS_H
#define CLIENT_PROGRESS_H

#include "pqexpbuffer.h"

/* the width a terminal is taken to have when it does not say */
#define PROGRESS_COLUMNS 100

extern void progress_loop(PQExpBuffer buf, const char *total, const char *done,
						  const char *failed, const char *next);
extern int	progress_width(const char *s);
extern void progress_fit(PQExpBuffer buf, int columns);
extern int	progress_columns(int fd);

#endif							/* CLIENT_PROGRESS_H */
