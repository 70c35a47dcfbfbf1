/*-------------------------------------------------------------------------
 *
 * secret_marker.h
 *	  The markers token() and secret() render in a task's fields
 *	  (secret_marker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_SECRET_MARKER_H
#define NOETL_SECRET_MARKER_H

/* the longest credential name, in characters (noetl.credential_set's) */
#define SECRET_NAME_MAX 200

/*
 * The task whose fields are being rendered (evaluate.c sets it around
 * the rendering of a task's action): token() and secret() give a marker
 * only there, and fail anywhere else.
 */
typedef struct SecretScope
{
	int64		execution_id;
	const char *node_id;		/* NULL: not rendering a task's fields */
} SecretScope;

extern SecretScope secret_scope;

extern bool secret_key_set(void);
extern bool secret_name_ok(const char *name, int len);
extern char *secret_marker(int64 execution_id, const char *node_id, const char *kind,
						   const char *name, int len);

#endif							/* NOETL_SECRET_MARKER_H */
