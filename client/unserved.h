/*-------------------------------------------------------------------------
 *
 * unserved.h
 *	  Warning of ready tasks that wait for a tool no live worker runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_UNSERVED_H
#define CLIENT_UNSERVED_H

#include "libpq-fe.h"

/* what has been warned of, so that each tool is named once */
typedef struct Unserved
{
	bool		broken;			/* the server cannot tell: stop asking */
	int			nwarned;
	char	   *warned[64];
} Unserved;

/* the default of --warn-after */
#define UNSERVED_WARN_AFTER 10.0

extern int	unserved_warn(PGconn *c, const char *eid, double warn_after, bool end_line,
						  Unserved *u);
extern void unserved_free(Unserved *u);

#endif							/* CLIENT_UNSERVED_H */
