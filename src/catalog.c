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
 * JSON text is read in one pass that builds the jsonb as jsonb_in does,
 * refusing documents nested deeper than noetl.max_json_depth (SQLSTATE
 * 54000, as the YAML reader does) and letting interrupts through, so that
 * a statement_timeout stops a huge playbook while it is read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "guc.h"
#include "jtree.h"
#include "playbook.h"
#include "yaml_read.h"

PG_FUNCTION_INFO_V1(noetl_parse_playbook);
PG_FUNCTION_INFO_V1(noetl_check_playbook);

/* the state of read_json while it builds a document */
typedef struct JsonDoc
{
	JsonbParseState *parse;
	JsonbValue *res;
	int			depth;
	uint32		count;
} JsonDoc;

/* json_count lets interrupts through now and then */
static void
json_count(JsonDoc *doc)
{
	if ((++doc->count & 0x3FF) == 0)
		CHECK_FOR_INTERRUPTS();
}

/* json_open starts an object or an array, within noetl.max_json_depth */
static void
json_open(JsonDoc *doc, JsonbIteratorToken tok)
{
	json_count(doc);
	if (++doc->depth > noetl_max_json_depth)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JSON document is nested deeper than noetl.max_json_depth (%d levels)",
						noetl_max_json_depth),
				 errhint("Flatten the document, or ask a superuser to raise noetl.max_json_depth.")));
	doc->res = pushJsonbValue(&doc->parse, tok, NULL);
}

/* json_object_start is the semantic action for "{" */
static void
json_object_start(void *state)
{
	json_open((JsonDoc *) state, WJB_BEGIN_OBJECT);
}

/* json_array_start is the semantic action for "[" */
static void
json_array_start(void *state)
{
	json_open((JsonDoc *) state, WJB_BEGIN_ARRAY);
}

/* json_object_end is the semantic action for "}" */
static void
json_object_end(void *state)
{
	JsonDoc    *doc = (JsonDoc *) state;

	doc->depth--;
	doc->res = pushJsonbValue(&doc->parse, WJB_END_OBJECT, NULL);
}

/* json_array_end is the semantic action for "]" */
static void
json_array_end(void *state)
{
	JsonDoc    *doc = (JsonDoc *) state;

	doc->depth--;
	doc->res = pushJsonbValue(&doc->parse, WJB_END_ARRAY, NULL);
}

/* json_check_length refuses a string jsonb cannot hold, as jsonb_in does */
static void
json_check_length(size_t len)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("string too long to represent as jsonb string"),
				 errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
						   JENTRY_OFFLENMASK)));
}

/* json_field pushes an object key */
static void
json_field(void *state, char *fname, bool isnull)
{
	JsonDoc    *doc = (JsonDoc *) state;
	JsonbValue	v;

	json_count(doc);
	json_check_length(strlen(fname));
	v.type = jbvString;
	v.val.string.len = strlen(fname);
	v.val.string.val = fname;
	doc->res = pushJsonbValue(&doc->parse, WJB_KEY, &v);
}

/* json_scalar pushes a scalar, as a value of an object or an element */
static void
json_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JsonDoc    *doc = (JsonDoc *) state;
	JsonbValue	v;

	json_count(doc);
	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			json_check_length(strlen(token));
			v.type = jbvString;
			v.val.string.len = strlen(token);
			v.val.string.val = token;
			break;
		case JSON_TOKEN_NUMBER:
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																CStringGetDatum(token),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
			break;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			v.type = jbvBool;
			v.val.boolean = tokentype == JSON_TOKEN_TRUE;
			break;
		default:
			v.type = jbvNull;
			break;
	}
	/* the root is an object (read_json checks for "{"), so there is a parent */
	doc->res = pushJsonbValue(&doc->parse,
							  doc->parse->contVal.type == jbvArray ? WJB_ELEM : WJB_VALUE,
							  &v);
}

/*
 * read_json reads text as a JSON object into jsonb, as jsonb_in would
 * (the last of duplicate keys wins), or returns NULL if the text is not a
 * JSON object: one whose first non-blank character is "{" and that
 * PostgreSQL's JSON parser accepts.
 */
static Jsonb *
read_json(char *text, int len)
{
	int			i = 0;
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonDoc		doc;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work;
	Jsonb	   *result = NULL;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
					   text[i] == '\r'))
		i++;
	if (i >= len || text[i] != '{')
		return NULL;

	/* what is built before the text turns out not to be JSON is thrown away */
	work = AllocSetContextCreate(CurrentMemoryContext, "noetl JSON reader",
								 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);
	memset(&doc, 0, sizeof(doc));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &doc;
	sem.object_start = json_object_start;
	sem.object_end = json_object_end;
	sem.array_start = json_array_start;
	sem.array_end = json_array_end;
	sem.object_field_start = json_field;
	sem.scalar = json_scalar;
	lex = makeJsonLexContextCstringLen(text, len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) == JSON_SUCCESS)
	{
		MemoryContextSwitchTo(caller);
		result = JsonbValueToJsonb(doc.res);
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	return result;
}

/*
 * noetl_read_document parses playbook text (YAML or JSON) into jsonb.
 */
static Jsonb *
noetl_read_document(text *t)
{
	char	   *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	Jsonb	   *doc = read_json(s, len);

	return doc != NULL ? doc : noetl_yaml_to_jsonb(s, len);
}

/*
 * noetl_parse_playbook: noetl.parse_playbook(content text) returns jsonb
 *
 * Parses, validates and normalises a playbook without storing it; returns
 * the payload noetl.register() would store, and raises what registration
 * ignores as WARNINGs (noetl.check_playbook returns them instead).
 */
Datum
noetl_parse_playbook(PG_FUNCTION_ARGS)
{
	text	   *content = PG_GETARG_TEXT_PP(0);
	Jsonb	   *doc = noetl_read_document(content);
	char	   *path;
	JsonbValue *payload;
	List	   *warnings;
	ListCell   *lc;

	payload = noetl_normalize_playbook(jt_from_jsonb(doc), &path, &warnings);
	foreach(lc, warnings)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s", (char *) lfirst(lc))));
	PG_RETURN_JSONB_P(jt_to_jsonb(payload));
}

/*
 * noetl_check_playbook: noetl.check_playbook(content text, OUT payload
 * jsonb, OUT warnings text[])
 *
 * As noetl.parse_playbook, but returns the warnings (an empty array when
 * there are none) instead of raising them.
 */
Datum
noetl_check_playbook(PG_FUNCTION_ARGS)
{
	text	   *content = PG_GETARG_TEXT_PP(0);
	Jsonb	   *doc = noetl_read_document(content);
	char	   *path;
	JsonbValue *payload;
	List	   *warnings;
	ListCell   *lc;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	Datum	   *texts;
	int			n = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);
	payload = noetl_normalize_playbook(jt_from_jsonb(doc), &path, &warnings);
	texts = palloc(sizeof(Datum) * Max(list_length(warnings), 1));
	foreach(lc, warnings)
		texts[n++] = CStringGetTextDatum((char *) lfirst(lc));
	values[0] = JsonbPGetDatum(jt_to_jsonb(payload));
	values[1] = PointerGetDatum(construct_array(texts, n, TEXTOID, -1, false, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
