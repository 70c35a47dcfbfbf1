/*-------------------------------------------------------------------------
 *
 * secrets.c
 *	  The secrets a task was given, kept out of what the worker reports
 *	  (secrets.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "json.h"
#include "secrets.h"

/* secret_add keeps a copy of value (NULL and short values are ignored) */
void
secret_add(SecretList *list, const char *value)
{
	int			i;

	if (value == NULL || strlen(value) < SECRET_MIN_LENGTH)
		return;
	for (i = 0; i < list->n; i++)
		if (strcmp(list->values[i], value) == 0)
			return;
	if (list->n == list->cap)
	{
		list->cap = list->cap > 0 ? list->cap * 2 : 4;
		list->values = pg_realloc(list->values, sizeof(char *) * list->cap);
	}
	list->values[list->n++] = pg_strdup(value);
}

/* replace_all replaces every occurrence of needle in buf by SECRET_REDACTED */
static void
replace_all(PQExpBuffer buf, const char *needle, size_t len)
{
	PQExpBufferData out;
	const char *p;
	const char *hit;

	if (len == 0 || buf->len < len || strstr(buf->data, needle) == NULL)
		return;
	initPQExpBuffer(&out);
	p = buf->data;
	while ((hit = strstr(p, needle)) != NULL)
	{
		appendBinaryPQExpBuffer(&out, p, hit - p);
		appendPQExpBufferStr(&out, SECRET_REDACTED);
		p = hit + len;
	}
	appendPQExpBufferStr(&out, p);
	resetPQExpBuffer(buf);
	appendBinaryPQExpBuffer(buf, out.data, out.len);
	termPQExpBuffer(&out);
}

/*
 * secret_redact_json replaces each secret of list in buf, a JSON text, as
 * a JSON string holds it (quotes, backslashes and control characters
 * escaped; the secret may be part of a longer string), with
 * SECRET_REDACTED: the text stays valid JSON.
 */
void
secret_redact_json(const SecretList *list, PQExpBuffer buf)
{
	int			i;

	for (i = 0; i < list->n; i++)
	{
		PQExpBufferData escaped;

		initPQExpBuffer(&escaped);
		json_append_string(&escaped, list->values[i], strlen(list->values[i]));
		if (escaped.len >= 2)
		{
			escaped.data[escaped.len - 1] = '\0';
			replace_all(buf, escaped.data + 1, escaped.len - 2);
		}
		termPQExpBuffer(&escaped);
	}
}

/* secret_redact_text replaces each secret of list in buf, text, as written */
void
secret_redact_text(const SecretList *list, PQExpBuffer buf)
{
	int			i;

	for (i = 0; i < list->n; i++)
		replace_all(buf, list->values[i], strlen(list->values[i]));
}

/* secret_free forgets the secrets, wiping them first */
void
secret_free(SecretList *list)
{
	int			i;

	for (i = 0; i < list->n; i++)
	{
		explicit_bzero(list->values[i], strlen(list->values[i]));
		pg_free(list->values[i]);
	}
	pg_free(list->values);
	memset(list, 0, sizeof(SecretList));
}
