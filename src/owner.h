/*-------------------------------------------------------------------------
 *
 * owner.h
 *	  Running as the owner of noetl's tables, with a pinned search_path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_OWNER_H
#define NOETL_OWNER_H

#include "postgres.h"

typedef struct OwnerSave
{
	Oid			userid;
	int			sec_context;
} OwnerSave;

extern void owner_enter(Oid owner, OwnerSave *save);
extern void owner_leave(OwnerSave *save);

#endif							/* NOETL_OWNER_H */
