/*-------------------------------------------------------------------------
 *
 * secret_markers.c
 *	  Replacing the markers token() and secret() left in a leased task's
 *	  fields with the secrets they stand for.
 *
 * The broker never sees a secret: rendering a task's fields, token(NAME)
 * and secret(NAME) give a marker "@@noetl-secret:v1:KIND:HEXNAME:MAC@@"
 * bound to the task (src/secret_marker.c).  After the lease, and after
 * the task's context and credential are read (so that no statement sends
 * the server a field with a secret in it: the headers go to
 * task_credential, the python fields to task_context, and the server may
 * log their parameters), the worker collects the markers in the task's
 * fields (its url, method, headers, args and query, command, dsn, bind
 * parameters, code and other python fields: every field task_lease takes
 * out of the action but auth, which the credential replaced), hands
 * them to noetl.task_secrets in one statement, which checks each one for
 * the task whose lease the worker holds, and puts each secret in place of
 * its marker: as it is in a text field, escaped as a JSON string holds it
 * in a JSON one (args, python).  Each secret goes into the task's
 * secrets (secrets.h), so that no report or printed output of the task
 * carries it.  A marker that does not check (malformed, rendered for
 * another task, brought in through a workload or a step result), a
 * credential that does not exist or lacks the field, fails the task alone,
 * with the server's message, which names the credential and never its
 * data.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"

#include "json.h"
#include "secret_markers.h"

#define MARKER_START "@@noetl-secret:"
#define MARKER_END "@@"
#define MARKER_MAX 2000			/* longer than any marker the broker makes */
#define MARKERS_MAX 1000		/* noetl.task_secrets takes no more */

static const char *secrets_sql =
"SELECT s FROM pg_catalog.unnest(noetl.task_secrets($1, $2,"
"         ARRAY(SELECT pg_catalog.jsonb_array_elements_text($3::jsonb)))) WITH ORDINALITY u(s, i)"
" ORDER BY i";

typedef struct Markers
{
	char	  **text;			/* each distinct marker, NUL-terminated */
	char	  **value;			/* its secret, once read */
	int			n;
	bool		too_many;
} Markers;

/* is_marker_char says whether c may be inside a marker */
static bool
is_marker_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == ':' || c == '-';
}

/*
 * marker_len returns the length of the marker (or of what looks like the
 * start of one, for noetl.task_secrets to call malformed) at p
 */
static size_t
marker_len(const char *p)
{
	size_t		n = strlen(MARKER_START);

	while (n < MARKER_MAX && is_marker_char(p[n]))
		n++;
	if (strncmp(p + n, MARKER_END, strlen(MARKER_END)) == 0)
		n += strlen(MARKER_END);
	return n;
}

/* collect adds the markers in s to m */
static void
collect(Markers *m, const char *s)
{
	const char *p = s;

	while (s != NULL && (p = strstr(p, MARKER_START)) != NULL)
	{
		size_t		len = marker_len(p);
		int			i;

		for (i = 0; i < m->n; i++)
			if (strlen(m->text[i]) == len && strncmp(m->text[i], p, len) == 0)
				break;
		if (i == m->n)
		{
			if (m->n == MARKERS_MAX)
			{
				m->too_many = true;
				return;
			}
			if (m->n % 16 == 0)
			{
				m->text = pg_realloc(m->text, sizeof(char *) * (m->n + 16));
				m->value = pg_realloc(m->value, sizeof(char *) * (m->n + 16));
			}
			m->text[m->n] = pnstrdup(p, len);
			m->value[m->n] = NULL;
			m->n++;
		}
		p += len;
	}
}

/* collect_flat adds the markers in a JsonFlat's names and values to m */
static void
collect_flat(Markers *m, const JsonFlat *f)
{
	int			i;

	for (i = 0; i < f->n; i++)
	{
		if (f->keys != NULL)
			collect(m, f->keys[i]);
		collect(m, f->values[i]);
	}
}

/*
 * substitute returns s with each marker of m replaced by its secret (as a
 * JSON string holds it if json), freeing s; NULL stays NULL
 */
static char *
substitute(const Markers *m, char *s, bool json)
{
	PQExpBufferData out;
	const char *p;
	const char *hit;

	if (s == NULL || strstr(s, MARKER_START) == NULL)
		return s;
	initPQExpBuffer(&out);
	p = s;
	while ((hit = strstr(p, MARKER_START)) != NULL)
	{
		size_t		len = marker_len(hit);
		int			i;

		appendBinaryPQExpBuffer(&out, p, hit - p);
		for (i = 0; i < m->n; i++)
			if (strlen(m->text[i]) == len && strncmp(m->text[i], hit, len) == 0)
				break;
		if (i < m->n && json)
		{
			PQExpBufferData q;

			initPQExpBuffer(&q);
			json_append_string(&q, m->value[i], strlen(m->value[i]));
			/* without its quotes: the marker is inside a JSON string */
			appendBinaryPQExpBuffer(&out, q.data + 1, q.len - 2);
			termPQExpBuffer(&q);
		}
		else if (i < m->n)
			appendPQExpBufferStr(&out, m->value[i]);
		p = hit + len;
	}
	appendPQExpBufferStr(&out, p);
	pg_free(s);
	return out.data;
}

/* substitute_flat replaces the markers in a JsonFlat's names and values */
static void
substitute_flat(const Markers *m, JsonFlat *f)
{
	int			i;

	for (i = 0; i < f->n; i++)
	{
		if (f->keys != NULL)
			f->keys[i] = substitute(m, f->keys[i], false);
		f->values[i] = substitute(m, f->values[i], false);
	}
}

/* markers_free frees m */
static void
markers_free(Markers *m)
{
	int			i;

	for (i = 0; i < m->n; i++)
	{
		pg_free(m->text[i]);
		pg_free(m->value[i]);
	}
	pg_free(m->text);
	pg_free(m->value);
}

/*
 * task_read_secrets replaces the token() and secret() markers of a leased
 * task's fields with their secrets (noetl.task_secrets); a task without
 * markers costs nothing, one that cannot have its secrets fails
 * (context_error).
 */
void
task_read_secrets(PGconn *conn, Task *task)
{
	Markers		m;
	PQExpBufferData list;
	const char *params[3];
	PGresult   *r;
	int			i;

	if (task->context_error != NULL)
		return;
	memset(&m, 0, sizeof(m));
	collect(&m, task->args);
	collect(&m, task->code);
	collect(&m, task->python);
	collect(&m, task->method);
	collect(&m, task->url);
	collect(&m, task->command);
	collect(&m, task->dsn);
	collect_flat(&m, &task->headers);
	collect_flat(&m, &task->query);
	collect_flat(&m, &task->bind);
	if (m.n == 0)
		return;
	if (m.too_many)
	{
		task->context_error = psprintf("could not resolve the task's token() and secret(): it has more than %d of them",
									   MARKERS_MAX);
		markers_free(&m);
		return;
	}
	initPQExpBuffer(&list);
	appendPQExpBufferChar(&list, '[');
	for (i = 0; i < m.n; i++)
	{
		if (i > 0)
			appendPQExpBufferChar(&list, ',');
		json_append_string(&list, m.text[i], strlen(m.text[i]));
	}
	appendPQExpBufferChar(&list, ']');
	params[0] = task->queue_id;
	params[1] = task->lease_token;
	params[2] = list.data;
	r = PQexecParams(conn, secrets_sql, 3, NULL, params, NULL, NULL, 0);
	termPQExpBuffer(&list);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != m.n)
	{
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		task->context_error = psprintf("could not resolve the task's token() and secret(): %s",
									   msg ? msg : PQresultStatus(r) == PGRES_TUPLES_OK ?
									   "noetl.task_secrets returned another number of secrets" :
									   PQerrorMessage(conn));
		PQclear(r);
		markers_free(&m);
		return;
	}
	for (i = 0; i < m.n; i++)
	{
		m.value[i] = pg_strdup(PQgetisnull(r, i, 0) ? "" : PQgetvalue(r, i, 0));
		secret_add(&task->secrets, m.value[i]);
	}
	PQclear(r);
	task->args = substitute(&m, task->args, true);
	task->code = substitute(&m, task->code, false);
	task->python = substitute(&m, task->python, true);
	task->method = substitute(&m, task->method, false);
	task->url = substitute(&m, task->url, false);
	task->command = substitute(&m, task->command, false);
	task->dsn = substitute(&m, task->dsn, false);
	substitute_flat(&m, &task->headers);
	substitute_flat(&m, &task->query);
	substitute_flat(&m, &task->bind);
	markers_free(&m);
}
