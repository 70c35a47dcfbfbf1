/*-------------------------------------------------------------------------
 *
 * yaml_read.c
 *	  YAML text to jsonb, with the semantics of PyYAML's yaml.safe_load.
 *
 * NoETL reads playbooks with PyYAML's safe_load, so a playbook means here
 * exactly what it means there.  libyaml (the C library PyYAML's own parser
 * was ported from) turns the text into events; the rest of PyYAML's
 * SafeLoader is reproduced on top of them, one file per part (their
 * shared state is in yaml_private.h):
 *
 *	scanner		PyYAML's scanner is stricter than libyaml's in a few places
 *				(yaml_scan.c): the text is checked for them first;
 *	composer	events become a node graph; anchors are registered when their
 *				node starts (so an alias may refer to an enclosing node),
 *				duplicate anchors and undefined aliases are errors, and the
 *				stream must hold at most one document (yaml_compose.c);
 *	resolver	plain scalars get YAML 1.1 tags by the same patterns
 *				(yes/no/on/off booleans, ints in bases 2, 8, 10, 16 and 60,
 *				floats that need a dot, "~" and "" as null, timestamps)
 *				(yaml_resolve.c);
 *	constructor tags become values, merge keys ("<<") are flattened as
 *				SafeConstructor.flatten_mapping does, and mapping keys are
 *				compared the way a Python dict compares them (1, 1.0 and true
 *				are one key, the first spelling and the last value win)
 *				(yaml_construct.c).
 *
 * This file has the entry point, the errors, libyaml's input and the
 * bounds every part counts against.
 *
 * Documents can be large and can be hostile, so reading one is bounded
 * and interruptible.  libyaml reads the text in pieces through yaml_read,
 * which lets a cancel or a statement_timeout through between pieces; every
 * loop over nodes checks for interrupts; nothing is quadratic in the size of
 * the text (anchors are hashed, merge keys flattened in one pass, the
 * decimal text of an int computed once per node).  Aliases and merge keys
 * can repeat a node many times, so the values and bytes the expanded
 * document may hold are bounded by YAML_EXPANSION times what the text
 * itself holds (with floors for small documents): a "billion laughs" fails
 * with SQLSTATE 54000 instead of filling memory.  So does a document nested
 * deeper than noetl.max_json_depth, in the text or once expanded.  Ints are
 * refused beyond Python's 4300 decimal digits, where int() (and
 * json.dumps) fail in Python 3.11 too.
 *
 * The result is what json.dumps(safe_load(text)) would produce: non-string
 * keys become their JSON spelling, dates and datetimes become ISO 8601 text,
 * ordered maps and pairs become lists of [key, value].  What JSON cannot
 * hold (infinities, NaN, sets, binary data, recursive structures, NUL
 * characters) is an error rather than a silent change.  Floats are stored
 * with at least one fractional digit so that jsonb keeps them apart from
 * integers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "guc.h"
#include "yaml_private.h"
#include "yaml_read.h"

PG_FUNCTION_INFO_V1(noetl_yaml_to_jsonb_sql);

/*
 * Bounds on the expanded document, which stop alias bombs ("billion
 * laughs"): at most YAML_EXPANSION times the values (nodes) and bytes
 * (scalar text) of the document as written, or the floors for small ones.
 */
#define YAML_EXPANSION		10
#define YAML_MIN_VALUES		1000000
#define YAML_MIN_BYTES		(64 * 1024 * 1024)

/* how much of a scalar an error message quotes */
#define YAML_ERROR_VALUE	200

/* the reader in use, so that error reports can consult it */
static YamlReader *current_reader = NULL;

/*
 * yaml_fail raises the error for a node or position.  PyYAML reports the
 * first problem in the text; if the scanner-rule check found one earlier
 * than this, that one is reported instead.
 */
void
yaml_fail(int line, int column, const char *msg)
{
	YamlReader *r = current_reader;

	if (r && r->viol_line > 0 &&
		(r->viol_line < line || (r->viol_line == line && r->viol_col <= column)))
	{
		line = r->viol_line;
		column = r->viol_col;
		msg = r->viol_msg;
	}
	else if (r && r->end_line > 0 && line == r->end_line + 1 && column == 1)
	{
		/* libyaml puts the end of a stream without final newline on a new line */
		line = r->end_line;
		column = r->end_col;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid YAML at line %d, column %d: %s",
					line, column, msg)));
}

/* yaml_node_fail raises the error msg at node n */
void
yaml_node_fail(YNode *n, const char *msg)
{
	yaml_fail(n->line, n->column, msg);
}

/*
 * yaml_value_text returns the text of scalar node n for an error message:
 * at most YAML_ERROR_VALUE bytes of it (cut at a character), then "...".
 */
const char *
yaml_value_text(YNode *n)
{
	size_t		len = n->len;

	if (len <= YAML_ERROR_VALUE)
		return n->value;
	len = YAML_ERROR_VALUE;
	while (len > 0 && (n->value[len] & 0xC0) == 0x80)
		len--;
	return psprintf("%.*s...", (int) len, n->value);
}

/*
 * yaml_json_fail records that a value cannot be represented in JSON.  PyYAML
 * would build such a value and json.dumps would refuse it only afterwards,
 * so construction goes on (without output) to report a YAML error that
 * comes later in the document first, as PyYAML would.
 */
void
yaml_json_fail(YamlReader *r, YNode *n, int errcode, const char *msg)
{
	if (r->json_failed || r->dry > 0)
		return;
	r->json_failed = true;
	r->json_errcode = errcode;
	r->json_line = n->line;
	r->json_col = n->column;
	r->json_msg = msg;
}

/*
 * json_raise raises the recorded representation error.
 */
static void
json_raise(YamlReader *r) pg_attribute_noreturn();

static void
json_raise(YamlReader *r)
{
	ereport(ERROR,
			(errcode(r->json_errcode),
			 errmsg("invalid YAML at line %d, column %d: %s",
					r->json_line, r->json_col, r->json_msg)));
}

/*
 * yaml_parser_fail reports what libyaml found wrong with the text.
 */
void
yaml_parser_fail(YamlReader *r)
{
	yaml_parser_t *p = &r->parser;
	int			line;
	int			column;
	const char *problem = p->problem ? p->problem : "malformed document";

	if (p->error == YAML_READER_ERROR)
	{
		/* reader errors carry a byte offset, not a mark */
		size_t		i;
		size_t		off = Min(p->problem_offset, r->input_len);

		line = 1;
		column = 1;
		for (i = 0; i < off; i++)
		{
			if (r->input[i] == '\n')
			{
				line++;
				column = 1;
			}
			else if ((r->input[i] & 0xC0) != 0x80)
				column++;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid YAML at line %d, column %d: %s",
						line, column, problem),
				 p->problem_value >= 0 ?
				 errdetail("The offending character is U+%04X.",
						   (unsigned int) p->problem_value) : 0));
	}
	line = (int) p->problem_mark.line + 1;
	column = (int) p->problem_mark.column + 1;
	if (r->viol_line > 0 &&
		(r->viol_line < line || (r->viol_line == line && r->viol_col <= column)))
		yaml_fail(line, column, problem);
	if (r->end_line > 0 && line == r->end_line + 1 && column == 1)
		yaml_fail(line, column, problem);
	if (p->context)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid YAML at line %d, column %d: %s",
						line, column, problem),
				 errdetail("The error was found %s that starts at line %d, column %d.",
						   p->context,
						   (int) p->context_mark.line + 1,
						   (int) p->context_mark.column + 1)));
	yaml_fail(line, column, problem);
}

/*
 * yaml_catch_interrupt processes a pending interrupt and returns the error it
 * raises (a cancel, a statement timeout), or NULL: for code that must not
 * be left by an error, such as a caller of libyaml holding its state.
 */
ErrorData *
yaml_catch_interrupt(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile err = NULL;

	if (!InterruptPending)
		return NULL;
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		err = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return err;
}

/*
 * yaml_read is libyaml's read handler: it hands over the next piece of the
 * text (libyaml asks for at most its 16 kB raw buffer), so that interrupts
 * are checked between pieces, however long a single token is.  An error
 * cannot be raised through libyaml, whose state would be left half
 * updated: a pending cancel is caught here and reported to libyaml as a
 * failed read; yaml_reraise raises it once libyaml has returned.
 */
static int
yaml_read(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
	YamlInput  *in = (YamlInput *) data;
	size_t		n = Min(size, in->len - in->pos);

	*size_read = 0;
	in->interrupt = yaml_catch_interrupt();
	if (in->interrupt != NULL)
		return 0;
	memcpy(buffer, in->text + in->pos, n);
	in->pos += n;
	*size_read = n;
	return 1;
}

/* yaml_set_input makes parser read text through yaml_read */
void
yaml_set_input(yaml_parser_t *parser, YamlInput *in, const unsigned char *text,
			   size_t len)
{
	in->text = text;
	in->len = len;
	in->pos = 0;
	in->interrupt = NULL;
	yaml_parser_set_input(parser, yaml_read, in);
}

/* yaml_reraise raises the interrupt yaml_read caught, if any */
void
yaml_reraise(YamlInput *in)
{
	if (in->interrupt != NULL)
		ReThrowError(in->interrupt);
}

/*
 * expansion_fail reports a document that expands, through aliases and
 * merge keys, beyond the bounds of YAML_EXPANSION.
 */
static void
expansion_fail(YamlReader *r) pg_attribute_noreturn();

static void
expansion_fail(YamlReader *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("YAML document expands to more than " INT64_FORMAT " values or " INT64_FORMAT " bytes",
					r->max_built, r->max_bytes),
			 errdetail("Aliases and merge keys can repeat a node many times; the expanded document may hold at most %d times the values and bytes of its text.",
					   YAML_EXPANSION)));
}

/* yaml_count_built counts values and bytes built, within the bounds */
void
yaml_count_built(YamlReader *r, int64 values, int64 bytes)
{
	r->built += values;
	r->built_bytes += bytes;
	if (r->built > r->max_built || r->built_bytes > r->max_bytes)
		expansion_fail(r);
	if ((r->built & 0x3FF) == 0)
		CHECK_FOR_INTERRUPTS();
}

/*
 * yaml_depth_enter counts one level of nesting at node n (line and column
 * given), refusing documents nested deeper than noetl.max_json_depth.
 */
void
yaml_depth_enter(YamlReader *r, int line, int column)
{
	if (++r->depth > noetl_max_json_depth)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("YAML document is nested deeper than noetl.max_json_depth (%d levels)",
						noetl_max_json_depth),
				 errdetail("The collection at line %d, column %d is at depth %d.",
						   line, column, r->depth),
				 errhint("Flatten the document, or ask a superuser to raise noetl.max_json_depth.")));
}

/*
 * noetl_yaml_to_jsonb parses YAML text (in the server encoding) into jsonb.
 * Everything it allocates lives in a private context, deleted on return;
 * the libyaml parser is released on error too.
 */
Jsonb *
noetl_yaml_to_jsonb(const char *text, int len)
{
	MemoryContext work;
	MemoryContext old;
	YamlReader *r;
	Jsonb	   *result = NULL;
	volatile bool parser_live = false;
	const char *utf8;

	work = AllocSetContextCreate(CurrentMemoryContext, "noetl YAML reader",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	r = palloc0(sizeof(YamlReader));
	utf8 = pg_server_to_any(text, len, PG_UTF8);
	if (utf8 != text)
		len = strlen(utf8);

	PG_TRY();
	{
		YNode	   *root;
		JsonbValue *res;

		if (!yaml_parser_initialize(&r->parser))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not initialise the YAML parser.")));
		parser_live = true;
		r->input_len = len;
		current_reader = r;
		r->input = yaml_check_pyyaml_rules(r, (const unsigned char *) utf8, &r->input_len);
		yaml_stream_end_position(r);
		yaml_set_input(&r->parser, &r->in, r->input, r->input_len);
		yaml_parser_set_encoding(&r->parser, YAML_UTF8_ENCODING);

		root = yaml_compose_document(r);
		r->max_built = Max(YAML_MIN_VALUES, YAML_EXPANSION * r->composed);
		r->max_bytes = Max(YAML_MIN_BYTES, YAML_EXPANSION * (int64) r->input_len);
		if (r->viol_line > 0)
			yaml_fail(r->viol_line, r->viol_col, r->viol_msg);
		yaml_parser_delete(&r->parser);
		parser_live = false;

		res = yaml_construct_document(r, root);
		if (r->json_failed)
			json_raise(r);
		MemoryContextSwitchTo(old);
		result = JsonbValueToJsonb(res);
	}
	PG_CATCH();
	{
		current_reader = NULL;
		if (parser_live)
			yaml_parser_delete(&r->parser);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(work);
		PG_RE_THROW();
	}
	PG_END_TRY();

	current_reader = NULL;
	MemoryContextDelete(work);
	return result;
}

/*
 * noetl_yaml_to_jsonb_sql: noetl.yaml_to_jsonb(text) returns jsonb
 */
Datum
noetl_yaml_to_jsonb_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_JSONB_P(noetl_yaml_to_jsonb(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

