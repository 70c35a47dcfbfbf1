/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Running as the owner of noetl's tables, with a pinned search_path.
 *
 * The broker's triggers and its C functions (noetl.lease, noetl.heartbeat)
 * act as the owner of noetl's tables (the extension's owner), so that a
 * client allowed only to insert events, or a worker allowed only to call
 * the worker functions, can drive executions; and with the search_path
 * pinned to pg_catalog, so that no object a caller can create is ever
 * resolved by name (every statement they run is schema-qualified too).
 * This is what a SECURITY DEFINER function with SET search_path does,
 * done the way PostgreSQL's own RI triggers switch user: without the GUC
 * machinery that SET costs on every call, and with prepared plans whose
 * search_path never changes.  Errors need no cleanup: aborting the
 * (sub)transaction restores the user and pops the path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "miscadmin.h"

#include "owner.h"

/* owner_enter becomes owner, with search_path pg_catalog, until owner_leave */
void
owner_enter(Oid owner, OwnerSave *save)
{
	OverrideSearchPath path;

	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(owner, save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	path.schemas = NIL;
	path.addCatalog = true;
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
}

/* owner_leave returns to the user and search_path before owner_enter */
void
owner_leave(OwnerSave *save)
{
	PopOverrideSearchPath();
	SetUserIdAndSecContext(save->userid, save->sec_context);
}
