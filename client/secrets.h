/*-------------------------------------------------------------------------
 *
 * secrets.h
 *	  The secrets a task was given, kept out of what the worker reports.
 *
 * Whatever part of the worker resolves a credential for a task (its auth,
 * a sink's auth, a token() or secret()) adds each secret value it hands
 * the task to the task's list (Task.secrets) with secret_add; before a
 * report or a log line of the task leaves the worker, secret_redact_json
 * (a report: each secret as a JSON string escapes it) and
 * secret_redact_text (what the task printed: as written) replace every
 * occurrence of each of them with "[redacted]".  Values shorter than SECRET_MIN_LENGTH bytes are
 * not kept: redacting every "1" would garble the report and hide little.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_SECRETS_H
#define CLIENT_SECRETS_H

#include "pqexpbuffer.h"

#define SECRET_MIN_LENGTH 4
#define SECRET_REDACTED "[redacted]"

typedef struct SecretList
{
	char	  **values;
	int			n;
	int			cap;
} SecretList;

extern void secret_add(SecretList *list, const char *value);
extern void secret_redact_json(const SecretList *list, PQExpBuffer buf);
extern void secret_redact_text(const SecretList *list, PQExpBuffer buf);
extern void secret_free(SecretList *list);

#endif							/* CLIENT_SECRETS_H */
