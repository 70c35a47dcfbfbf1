/*-------------------------------------------------------------------------
 *
 * json.c
 *	  JSON text: writing strings, checking documents, reading flat ones.
 *
 * The program reads tasks through the server's jsonb operators (task.c),
 * which hand it scalars, and objects and arrays flattened to one level of
 * strings: json_read_flat reads those.  Reports are JSON text that the
 * server parses: what the program writes is escaped here, and what it
 * passes through unparsed (a child's report, an HTTP body, a column of
 * type json) is checked here first.  Parsing is PostgreSQL's own
 * (common/jsonapi.h), as in the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <limits.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "json.h"

/*
 * The deepest nesting json_is_valid accepts.  pg_parse_json recurses once
 * a level, with no stack check in a frontend program.
 */
#define JSON_MAX_DEPTH 1000

/* the state of json_read_flat's semantic actions */
typedef struct FlatState
{
	JsonFlat   *flat;
	int			depth;			/* of the value being parsed */
	int			cap;			/* room in flat->keys and flat->values */
	bool		not_flat;		/* a value below the first level, or none */
	char	   *key;			/* the member whose value comes next */
} FlatState;

/*
 * json_append_string appends s (len bytes, UTF-8) as a JSON string.  Bytes
 * that are not well-formed UTF-8 become U+FFFD, and so does U+0000 (jsonb
 * cannot hold it).
 */
void
json_append_string(PQExpBuffer buf, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	appendPQExpBufferChar(buf, '"');
	while (p < end)
	{
		int			n = pg_utf_mblen(p);

		if (*p == '"' || *p == '\\')
		{
			appendPQExpBufferChar(buf, '\\');
			appendPQExpBufferChar(buf, (char) *p);
		}
		else if (*p == '\n')
			appendPQExpBufferStr(buf, "\\n");
		else if (*p == '\t')
			appendPQExpBufferStr(buf, "\\t");
		else if (*p == '\r')
			appendPQExpBufferStr(buf, "\\r");
		else if (*p == '\0')
			appendPQExpBufferStr(buf, "\\ufffd");
		else if (*p < 0x20)
			appendPQExpBuffer(buf, "\\u%04x", *p);
		else if (n > end - p || !pg_utf8_islegal(p, n))
			appendPQExpBufferStr(buf, "\\ufffd");
		else
		{
			appendBinaryPQExpBuffer(buf, (const char *) p, n);
			p += n;
			continue;
		}
		p++;
	}
	appendPQExpBufferChar(buf, '"');
}

/* lex_create makes a lexer for len bytes of JSON at s */
static JsonLexContext *
lex_create(const char *s, size_t len, bool need_escapes)
{
	return makeJsonLexContextCstringLen(unconstify(char *, s), (int) len, PG_UTF8,
										need_escapes);
}

/* lex_free frees a lexer (PostgreSQL 15 has no function for it) */
static void
lex_free(JsonLexContext *lex)
{
	if (lex->strval != NULL)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}

/* depth_within says whether no array or object in s is nested too deep */
static bool
depth_within(const char *s, size_t len)
{
	JsonLexContext *lex = lex_create(s, len, false);
	int			depth = 0;
	bool		ok = true;

	while (ok && json_lex(lex) == JSON_SUCCESS && lex->token_type != JSON_TOKEN_END)
	{
		if (lex->token_type == JSON_TOKEN_OBJECT_START ||
			lex->token_type == JSON_TOKEN_ARRAY_START)
			ok = ++depth <= JSON_MAX_DEPTH;
		else if (lex->token_type == JSON_TOKEN_OBJECT_END ||
				 lex->token_type == JSON_TOKEN_ARRAY_END)
			depth--;
	}
	lex_free(lex);
	return ok;
}

/* parse runs pg_parse_json over s with the given semantic actions */
static bool
parse(const char *s, size_t len, JsonSemAction *sem)
{
	JsonLexContext *lex = lex_create(s, len, true);
	bool		ok = pg_parse_json(lex, sem) == JSON_SUCCESS;

	lex_free(lex);
	return ok;
}

/*
 * json_is_valid says whether s (len bytes) is one JSON document that jsonb
 * accepts: well-formed UTF-8 without NUL characters, no \u0000 or unpaired
 * surrogate escapes, nested at most JSON_MAX_DEPTH deep.
 */
bool
json_is_valid(const char *s, size_t len)
{
	if (len > INT_MAX || pg_encoding_verifymbstr(PG_UTF8, s, (int) len) != (int) len)
		return false;
	return depth_within(s, len) && parse(s, len, &nullSemAction);
}

/* flat_open starts an object or an array: only the outermost is read */
static void
flat_open(FlatState *st, bool object)
{
	if (++st->depth > 1)
		st->not_flat = true;
	else if (object)
		st->flat->keys = pg_malloc0(sizeof(char *) * st->cap);
}

/* flat_object_start is the object_start action of json_read_flat */
static void
flat_object_start(void *state)
{
	flat_open(state, true);
}

/* flat_array_start is the array_start action of json_read_flat */
static void
flat_array_start(void *state)
{
	flat_open(state, false);
}

/* flat_close is the object_end and array_end action of json_read_flat */
static void
flat_close(void *state)
{
	((FlatState *) state)->depth--;
}

/* flat_field is the object_field_start action: it keeps the member's name */
static void
flat_field(void *state, char *fname, bool isnull)
{
	FlatState  *st = state;

	if (st->depth == 1)
	{
		if (st->key != NULL)
			pfree(st->key);
		st->key = fname;
	}
	else
		pfree(fname);
}

/* flat_scalar is the scalar action: it appends a member or an element */
static void
flat_scalar(void *state, char *token, JsonTokenType type)
{
	FlatState  *st = state;
	JsonFlat   *flat = st->flat;

	if (st->depth != 1)
	{
		st->not_flat = true;
		pfree(token);
		return;
	}
	if (flat->n == st->cap)
	{
		st->cap *= 2;
		flat->values = pg_realloc(flat->values, sizeof(char *) * st->cap);
		if (flat->keys != NULL)
			flat->keys = pg_realloc(flat->keys, sizeof(char *) * st->cap);
	}
	if (type == JSON_TOKEN_NULL)
	{
		pfree(token);
		token = NULL;
	}
	if (flat->keys != NULL)
	{
		flat->keys[flat->n] = st->key;
		st->key = NULL;
	}
	flat->values[flat->n++] = token;
}

/*
 * json_read_flat reads json, an object of scalars or an array of scalars,
 * into flat; false (and flat empty) if json is no such thing.  NULL json is
 * an empty array.
 */
bool
json_read_flat(const char *json, JsonFlat *flat)
{
	FlatState	st = {flat, 0, 4, false, NULL};
	JsonSemAction sem = {0};
	bool		ok;

	memset(flat, 0, sizeof(JsonFlat));
	if (json == NULL)
		return true;
	flat->values = pg_malloc0(sizeof(char *) * st.cap);
	sem.semstate = &st;
	sem.object_start = flat_object_start;
	sem.array_start = flat_array_start;
	sem.object_end = flat_close;
	sem.array_end = flat_close;
	sem.object_field_start = flat_field;
	sem.scalar = flat_scalar;
	ok = parse(json, strlen(json), &sem);
	if (st.key != NULL)
		pfree(st.key);
	if (!ok || st.not_flat)
	{
		json_flat_free(flat);
		return false;
	}
	return true;
}

/* json_flat_free frees what json_read_flat read */
void
json_flat_free(JsonFlat *flat)
{
	int			i;

	for (i = 0; i < flat->n; i++)
	{
		if (flat->keys != NULL && flat->keys[i] != NULL)
			pfree(flat->keys[i]);
		if (flat->values[i] != NULL)
			pfree(flat->values[i]);
	}
	if (flat->keys != NULL)
		pfree(flat->keys);
	if (flat->values != NULL)
		pfree(flat->values);
	memset(flat, 0, sizeof(JsonFlat));
}
