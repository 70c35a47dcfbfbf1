/*-------------------------------------------------------------------------
 *
 * secret_markers.h
 *	  Replacing a leased task's token() and secret() markers with their
 *	  secrets (secret_markers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_SECRET_MARKERS_H
#define CLIENT_SECRET_MARKERS_H

#include "task.h"

extern void task_read_secrets(PGconn *conn, Task *task);

#endif							/* CLIENT_SECRET_MARKERS_H */
