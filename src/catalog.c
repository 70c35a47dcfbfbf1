/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading playbook documents for the catalog.
 *
 * noetl.register() accepts a playbook as YAML or as JSON text.  JSON text
 * (a document whose first non-blank character is "{" and that parses as
 * JSON) is read by PostgreSQL's own JSON parser, so its numbers mean what
 * JSON says; everything else is read as YAML with PyYAML's safe_load
 * semantics, as NoETL reads it.  The document is then validated and
 * normalised by playbook.c.  Storing it is plain SQL (noetl--1.0.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "noetl.h"

PG_FUNCTION_INFO_V1(noetl_parse_playbook);

/*
 * looks_like_json says whether text is a JSON object: it starts with "{"
 * and PostgreSQL's JSON parser accepts it.
 */
static bool
looks_like_json(char *text, int len)
{
	int			i = 0;
	JsonLexContext *lex;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
					   text[i] == '\r'))
		i++;
	if (i >= len || text[i] != '{')
		return false;
	lex = makeJsonLexContextCstringLen(text, len, GetDatabaseEncoding(), true);
	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

/*
 * noetl_read_document parses playbook text (YAML or JSON) into jsonb.
 */
static Jsonb *
noetl_read_document(text *t)
{
	char	   *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (looks_like_json(s, len))
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												  CStringGetDatum(text_to_cstring(t))));
	return noetl_yaml_to_jsonb(s, len);
}

/*
 * noetl.parse_playbook(content text) returns jsonb
 *
 * Parses, validates and normalises a playbook without storing it; returns
 * the payload noetl.register() would store.
 */
Datum
noetl_parse_playbook(PG_FUNCTION_ARGS)
{
	text	   *content = PG_GETARG_TEXT_PP(0);
	Jsonb	   *doc = noetl_read_document(content);
	char	   *path;
	JsonbValue *payload;

	payload = noetl_normalize_playbook(jt_from_jsonb(doc), &path);
	PG_RETURN_JSONB_P(jt_to_jsonb(payload));
}
