/*-------------------------------------------------------------------------
 *
 * yaml_read.c
 *	  YAML text to jsonb, with the semantics of PyYAML's yaml.safe_load.
 *
 * NoETL reads playbooks with PyYAML's safe_load, so a playbook means here
 * exactly what it means there.  libyaml (the C library PyYAML's own parser
 * was ported from) turns the text into events; the rest of PyYAML's
 * SafeLoader is reproduced on top of them:
 *
 *	composer	events become a node graph; anchors are registered when their
 *				node starts (so an alias may refer to an enclosing node),
 *				duplicate anchors and undefined aliases are errors, and the
 *				stream must hold at most one document;
 *	resolver	plain scalars get YAML 1.1 tags by the same patterns
 *				(yes/no/on/off booleans, ints in bases 2, 8, 10, 16 and 60,
 *				floats that need a dot, "~" and "" as null, timestamps);
 *	constructor tags become values, merge keys ("<<") are flattened as
 *				SafeConstructor.flatten_mapping does, and mapping keys are
 *				compared the way a Python dict compares them (1, 1.0 and true
 *				are one key, the first spelling and the last value win).
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

#include <limits.h>

#include <math.h>
#include <yaml.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "guc.h"
#include "pynum.h"
#include "yaml_read.h"

PG_FUNCTION_INFO_V1(noetl_yaml_to_jsonb_sql);

#define TAG_PREFIX		"tag:yaml.org,2002:"
#define TAG_NULL		TAG_PREFIX "null"
#define TAG_BOOL		TAG_PREFIX "bool"
#define TAG_INT			TAG_PREFIX "int"
#define TAG_FLOAT		TAG_PREFIX "float"
#define TAG_STR			TAG_PREFIX "str"
#define TAG_SEQ			TAG_PREFIX "seq"
#define TAG_MAP			TAG_PREFIX "map"
#define TAG_MERGE		TAG_PREFIX "merge"
#define TAG_VALUE		TAG_PREFIX "value"
#define TAG_TIMESTAMP	TAG_PREFIX "timestamp"
#define TAG_BINARY		TAG_PREFIX "binary"
#define TAG_OMAP		TAG_PREFIX "omap"
#define TAG_PAIRS		TAG_PREFIX "pairs"
#define TAG_SET			TAG_PREFIX "set"

/*
 * Bounds on the expanded document, which stop alias bombs ("billion
 * laughs"): at most YAML_EXPANSION times the values (nodes) and bytes
 * (scalar text) of the document as written, or the floors for small ones.
 */
#define YAML_EXPANSION		10
#define YAML_MIN_VALUES		1000000
#define YAML_MIN_BYTES		(64 * 1024 * 1024)

/* block scalars libyaml needs an explicit indentation for (block_tab_fix) */
#define YAML_MAX_TAB_FIXES	64

typedef enum YNodeKind
{
	YN_SCALAR,
	YN_SEQUENCE,
	YN_MAPPING
} YNodeKind;

typedef struct YNode
{
	YNodeKind	kind;
	const char *tag;			/* resolved tag */
	char	   *value;			/* scalar text, UTF-8, NUL-terminated */
	size_t		len;			/* length of value in bytes */
	int			line;			/* 1-based start position */
	int			column;
	int			nitems;			/* sequence: items; mapping: 2 per pair */
	int			cap;
	struct YNode **items;
	bool		flattened;		/* merge keys already resolved */
	bool		flattening;		/* inside flatten_mapping (cycle guard) */
	bool		building;		/* inside construct (cycle guard) */
	struct YNode *scalar;		/* scalar_node's answer, once known */
	char	   *int_text;		/* construct_int's answer, once known */
} YNode;

typedef struct YAnchor
{
	char	   *name;
	YNode	   *node;
	struct YAnchor *next;
} YAnchor;

/*
 * The text libyaml reads, handed over in pieces by yaml_read; an interrupt
 * that arrived meanwhile is kept in interrupt, to be raised once libyaml
 * has returned.
 */
typedef struct YamlInput
{
	const unsigned char *text;
	size_t		len;
	size_t		pos;
	ErrorData  *interrupt;
} YamlInput;

typedef struct YamlReader
{
	yaml_parser_t parser;
	const unsigned char *input;
	size_t		input_len;
	YamlInput	in;				/* what the parser reads */
	YAnchor   **anchors;		/* hash table: anchor_buckets chains */
	int			anchor_buckets;
	int			nanchors;
	int64		composed;		/* nodes composed from the text */
	int			depth;			/* nesting while composing or constructing */
	int64		built;			/* values constructed so far */
	int64		built_bytes;	/* scalar bytes constructed so far */
	int64		max_built;		/* bounds of both, once composed */
	int64		max_bytes;
	int			viol_line;		/* first violation of PyYAML's stricter */
	int			viol_col;		/* scanner rules (1-based), or 0 */
	const char *viol_msg;
	int			end_line;		/* where PyYAML puts the end of the */
	int			end_col;		/* stream (1-based), if libyaml differs */
	int			dry;			/* > 0 while building values PyYAML would
								 * build but json.dumps never sees */
	bool		json_failed;	/* a value JSON cannot hold was found */
	int			json_errcode;
	int			json_line;
	int			json_col;
	const char *json_msg;
} YamlReader;

/* a mapping key as Python would see it */
typedef struct YKey
{
	char		kind;			/* equality class: 's' str, 'n' integral
								 * number, 'f' other float, 'z' None, 'x'
								 * never equal to another key */
	const char *canon;			/* text compared within the class */
	char	   *text;			/* spelling as a JSON object key */
	int			index;			/* position of the pair in the mapping */
	YNode	   *value;
} YKey;

static YNode *compose_node(YamlReader *r, yaml_event_t *ev);
static JsonbValue *construct(YamlReader *r, YNode *n, JsonbParseState **st,
							 JsonbIteratorToken tok);

/* the reader in use, so that error reports can consult it */
static YamlReader *current_reader = NULL;

/*
 * yaml_fail raises the error for a node or position.  PyYAML reports the
 * first problem in the text; if the scanner-rule check found one earlier
 * than this, that one is reported instead.
 */
static void
yaml_fail(int line, int column, const char *msg) pg_attribute_noreturn();

static void
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

static void
node_fail(YNode *n, const char *msg) pg_attribute_noreturn();

static void
node_fail(YNode *n, const char *msg)
{
	yaml_fail(n->line, n->column, msg);
}

/*
 * json_fail records that a value cannot be represented in JSON.  PyYAML
 * would build such a value and json.dumps would refuse it only afterwards,
 * so construction goes on (without output) to report a YAML error that
 * comes later in the document first, as PyYAML would.
 */
static void
json_fail(YamlReader *r, YNode *n, int errcode, const char *msg)
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
 * ypush is pushJsonbValue, skipped when only checking (st is NULL) or once
 * the result is known to be unrepresentable.
 */
static JsonbValue *
ypush(YamlReader *r, JsonbParseState **st, JsonbIteratorToken tok, JsonbValue *v)
{
	if (st == NULL || r->json_failed)
		return NULL;
	return pushJsonbValue(st, tok, v);
}

/*
 * parser_fail reports what libyaml found wrong with the text.
 */
static void
parser_fail(YamlReader *r) pg_attribute_noreturn();

static void
parser_fail(YamlReader *r)
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
 * catch_interrupt processes a pending interrupt and returns the error it
 * raises (a cancel, a statement timeout), or NULL: for code that must not
 * be left by an error, such as a caller of libyaml holding its state.
 */
static ErrorData *
catch_interrupt(void)
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
	in->interrupt = catch_interrupt();
	if (in->interrupt != NULL)
		return 0;
	memcpy(buffer, in->text + in->pos, n);
	in->pos += n;
	*size_read = n;
	return 1;
}

/* yaml_set_input makes parser read text through yaml_read */
static void
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
static void
yaml_reraise(YamlInput *in)
{
	if (in->interrupt != NULL)
		ReThrowError(in->interrupt);
}

/*
 * next_event pulls the next event from libyaml.  The event's buffers belong
 * to libyaml; callers copy what they keep and delete the event.
 */
static void
next_event(YamlReader *r, yaml_event_t *ev)
{
	CHECK_FOR_INTERRUPTS();
	if (!yaml_parser_parse(&r->parser, ev))
	{
		yaml_reraise(&r->in);
		parser_fail(r);
	}
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

/* count_built counts values and bytes built, within the bounds */
static inline void
count_built(YamlReader *r, int64 values, int64 bytes)
{
	r->built += values;
	r->built_bytes += bytes;
	if (r->built > r->max_built || r->built_bytes > r->max_bytes)
		expansion_fail(r);
	if ((r->built & 0x3FF) == 0)
		CHECK_FOR_INTERRUPTS();
}

/*
 * depth_enter counts one level of nesting at node n (line and column
 * given), refusing documents nested deeper than noetl.max_json_depth.
 */
static void
depth_enter(YamlReader *r, int line, int column)
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

static uint32
anchor_hash(const char *s)
{
	uint32		h = 5381;

	while (*s)
		h = h * 33 + (unsigned char) *s++;
	return h;
}

static YAnchor *
anchor_find(YamlReader *r, const char *name)
{
	YAnchor    *a;

	if (r->anchor_buckets == 0)
		return NULL;
	for (a = r->anchors[anchor_hash(name) & (r->anchor_buckets - 1)]; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* anchor_grow doubles (or creates) the anchor hash table */
static void
anchor_grow(YamlReader *r)
{
	int			nb = r->anchor_buckets ? r->anchor_buckets * 2 : 64;
	YAnchor   **buckets = palloc0(sizeof(YAnchor *) * nb);
	int			i;

	for (i = 0; i < r->anchor_buckets; i++)
	{
		YAnchor    *a = r->anchors[i];

		while (a)
		{
			YAnchor    *next = a->next;
			uint32		h = anchor_hash(a->name) & (nb - 1);

			a->next = buckets[h];
			buckets[h] = a;
			a = next;
		}
	}
	r->anchors = buckets;
	r->anchor_buckets = nb;
}

/*
 * anchor_define registers an anchor; PyYAML refuses to redefine one.
 */
static void
anchor_define(YamlReader *r, const char *name, YNode *n)
{
	YAnchor    *a = anchor_find(r, name);
	uint32		h;

	if (a != NULL)
	{
		char	   *msg = psprintf("found duplicate anchor \"%s\" (first occurrence at line %d, column %d)",
								   name, a->node->line, a->node->column);

		node_fail(n, msg);
	}
	if (r->nanchors >= r->anchor_buckets)
		anchor_grow(r);
	h = anchor_hash(name) & (r->anchor_buckets - 1);
	a = palloc(sizeof(YAnchor));
	a->name = pstrdup(name);
	a->node = n;
	a->next = r->anchors[h];
	r->anchors[h] = a;
	r->nanchors++;
}

static YNode *
new_node(YamlReader *r, YNodeKind kind, yaml_mark_t mark)
{
	YNode	   *n = palloc0(sizeof(YNode));

	r->composed++;
	n->kind = kind;
	n->line = (int) mark.line + 1;
	n->column = (int) mark.column + 1;
	return n;
}

static void
node_add(YNode *n, YNode *child)
{
	if (n->nitems == n->cap)
	{
		n->cap = n->cap ? n->cap * 2 : 4;
		n->items = n->items ? repalloc(n->items, sizeof(YNode *) * n->cap)
			: palloc(sizeof(YNode *) * n->cap);
	}
	n->items[n->nitems++] = child;
}

/*
 * The implicit resolvers of PyYAML's Resolver, one function per pattern.
 * Python's "$" also matches before a final newline, so a value may end in
 * one "\n" that the pattern does not see.
 */
static size_t
match_len(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		return len - 1;
	return len;
}

#define ISDIGIT(c) ((c) >= '0' && (c) <= '9')

/* digits matches [0-9_]* or [first][0-9_]*; returns characters consumed */
static size_t
scan_digits_us(const char *s, size_t i, size_t len)
{
	size_t		j = i;

	while (j < len && (ISDIGIT(s[j]) || s[j] == '_'))
		j++;
	return j - i;
}

/* sexagesimal tail (?::[0-5]?[0-9])+ ; returns consumed length or 0 */
static size_t
scan_sexagesimal(const char *s, size_t i, size_t len)
{
	size_t		j = i;
	int			groups = 0;

	while (j < len && s[j] == ':')
	{
		size_t		k = j + 1;

		if (k + 1 < len && s[k] >= '0' && s[k] <= '5' && ISDIGIT(s[k + 1]))
			k += 2;
		else if (k < len && ISDIGIT(s[k]))
			k += 1;
		else
			break;
		j = k;
		groups++;
	}
	return groups > 0 ? j - i : 0;
}

static bool
is_bool_text(const char *s, size_t len)
{
	static const char *const words[] = {
		"yes", "Yes", "YES", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF"
	};
	int			i;

	for (i = 0; i < lengthof(words); i++)
		if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return true;
	return false;
}

static bool
is_null_text(const char *s, size_t len)
{
	return len == 0 ||
		(len == 1 && s[0] == '~') ||
		(len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
					  memcmp(s, "NULL", 4) == 0));
}

/* optional [eE][-+][0-9]+ at i; returns consumed length */
static size_t
scan_exponent(const char *s, size_t i, size_t len)
{
	size_t		j;

	if (i + 2 < len + 0 && (s[i] == 'e' || s[i] == 'E') &&
		(s[i + 1] == '-' || s[i + 1] == '+') && ISDIGIT(s[i + 2]))
	{
		j = i + 2;
		while (j < len && ISDIGIT(s[j]))
			j++;
		return j - i;
	}
	return 0;
}

static bool
is_float_text(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		n;

	if (len == 0)
		return false;
	/* \.[0-9][0-9_]*(?:[eE][-+][0-9]+)? and \.(?:nan|NaN|NAN) */
	if (s[0] == '.')
	{
		if (len == 4 && (memcmp(s, ".nan", 4) == 0 || memcmp(s, ".NaN", 4) == 0 ||
						 memcmp(s, ".NAN", 4) == 0))
			return true;
		if (len == 4 && (memcmp(s, ".inf", 4) == 0 || memcmp(s, ".Inf", 4) == 0 ||
						 memcmp(s, ".INF", 4) == 0))
			return true;
		if (len >= 2 && ISDIGIT(s[1]))
		{
			i = 2 + scan_digits_us(s, 2, len);
			i += scan_exponent(s, i, len);
			return i == len;
		}
		return false;
	}
	if (s[0] == '-' || s[0] == '+')
		i = 1;
	/* [-+]?\.(?:inf|Inf|INF) */
	if (len - i == 4 && s[i] == '.' &&
		(memcmp(s + i, ".inf", 4) == 0 || memcmp(s + i, ".Inf", 4) == 0 ||
		 memcmp(s + i, ".INF", 4) == 0))
		return true;
	if (i >= len || !ISDIGIT(s[i]))
		return false;
	n = 1 + scan_digits_us(s, i + 1, len);
	i += n;
	if (i < len && s[i] == '.')
	{
		/* [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)? */
		i++;
		i += scan_digits_us(s, i, len);
		i += scan_exponent(s, i, len);
		return i == len;
	}
	/* [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]* */
	n = scan_sexagesimal(s, i, len);
	if (n == 0)
		return false;
	i += n;
	if (i < len && s[i] == '.')
	{
		i++;
		i += scan_digits_us(s, i, len);
		return i == len;
	}
	return false;
}

static bool
is_int_text(const char *s, size_t len)
{
	size_t		i = 0;

	if (len == 0)
		return false;
	if (s[0] == '-' || s[0] == '+')
		i = 1;
	if (i >= len || !ISDIGIT(s[i]))
		return false;
	if (s[i] == '0')
	{
		size_t		j;

		if (i + 1 == len)
			return true;		/* 0 */
		if (s[i + 1] == 'b')
		{
			/* 0b[0-1_]+ */
			for (j = i + 2; j < len && (s[j] == '0' || s[j] == '1' || s[j] == '_'); j++)
				;
			return j > i + 2 && j == len;
		}
		if (s[i + 1] == 'x')
		{
			/* 0x[0-9a-fA-F_]+ */
			for (j = i + 2; j < len && (isxdigit((unsigned char) s[j]) || s[j] == '_'); j++)
				;
			return j > i + 2 && j == len;
		}
		/* 0[0-7_]+ */
		for (j = i + 1; j < len && ((s[j] >= '0' && s[j] <= '7') || s[j] == '_'); j++)
			;
		return j == len;
	}
	/* [1-9][0-9_]* optionally followed by (?::[0-5]?[0-9])+ */
	i += 1 + scan_digits_us(s, i + 1, len);
	if (i == len)
		return true;
	i += scan_sexagesimal(s, i, len);
	return i == len;
}

/* 1 or 2 digits at i; returns consumed length */
static size_t
scan_1_2_digits(const char *s, size_t i, size_t len)
{
	if (i < len && ISDIGIT(s[i]))
		return (i + 1 < len && ISDIGIT(s[i + 1])) ? 2 : 1;
	return 0;
}

/*
 * Timestamp fields, as captured by the constructor's pattern.
 */
typedef struct YTimestamp
{
	int			year,
				month,
				day;
	bool		has_time;
	int			hour,
				minute,
				second;
	int			micro;
	bool		has_tz;
	bool		tz_utc;
	int			tz_sign;
	int			tz_hour,
				tz_minute;
} YTimestamp;

static int
digits_value(const char *s, size_t n)
{
	int			v = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * scan_timestamp matches the constructor's timestamp pattern; with
 * strict_date it requires the two-digit month and day that the resolver
 * demands of a date without a time.  Returns false if it does not match.
 */
static bool
scan_timestamp(const char *s, size_t len, bool resolver, YTimestamp *ts)
{
	size_t		i = 0;
	size_t		n;
	size_t		mlen,
				dlen;

	memset(ts, 0, sizeof(*ts));
	if (len < 8 || !ISDIGIT(s[0]) || !ISDIGIT(s[1]) || !ISDIGIT(s[2]) ||
		!ISDIGIT(s[3]) || s[4] != '-')
		return false;
	ts->year = digits_value(s, 4);
	i = 5;
	mlen = scan_1_2_digits(s, i, len);
	if (mlen == 0)
		return false;
	ts->month = digits_value(s + i, mlen);
	i += mlen;
	if (i >= len || s[i] != '-')
		return false;
	i++;
	dlen = scan_1_2_digits(s, i, len);
	if (dlen == 0)
		return false;
	ts->day = digits_value(s + i, dlen);
	i += dlen;
	if (i == len)
		return !resolver || (mlen == 2 && dlen == 2);

	/* (?:[Tt]|[ \t]+) */
	if (s[i] == 'T' || s[i] == 't')
		i++;
	else if (s[i] == ' ' || s[i] == '\t')
	{
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
	}
	else
		return false;
	ts->has_time = true;
	n = scan_1_2_digits(s, i, len);
	if (n == 0)
		return false;
	ts->hour = digits_value(s + i, n);
	i += n;
	if (i + 3 > len || s[i] != ':' || !ISDIGIT(s[i + 1]) || !ISDIGIT(s[i + 2]))
		return false;
	ts->minute = digits_value(s + i + 1, 2);
	i += 3;
	if (i + 3 > len || s[i] != ':' || !ISDIGIT(s[i + 1]) || !ISDIGIT(s[i + 2]))
		return false;
	ts->second = digits_value(s + i + 1, 2);
	i += 3;
	if (i < len && s[i] == '.')
	{
		size_t		j = i + 1;
		int			k = 0;

		while (j < len && ISDIGIT(s[j]))
		{
			if (k < 6)
			{
				ts->micro = ts->micro * 10 + (s[j] - '0');
				k++;
			}
			j++;
		}
		for (; k < 6; k++)
			ts->micro *= 10;
		i = j;
	}
	if (i == len)
		return true;
	{
		size_t		j = i;

		while (j < len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j < len && s[j] == 'Z')
		{
			ts->has_tz = true;
			ts->tz_utc = true;
			return j + 1 == len;
		}
		if (j < len && (s[j] == '-' || s[j] == '+'))
		{
			ts->has_tz = true;
			ts->tz_sign = s[j] == '-' ? -1 : 1;
			j++;
			n = scan_1_2_digits(s, j, len);
			if (n == 0)
				return false;
			ts->tz_hour = digits_value(s + j, n);
			j += n;
			if (j == len)
				return true;
			if (j + 3 == len && s[j] == ':' && ISDIGIT(s[j + 1]) && ISDIGIT(s[j + 2]))
			{
				ts->tz_minute = digits_value(s + j + 1, 2);
				return true;
			}
			return false;
		}
	}
	return false;
}

/*
 * resolve_plain gives the tag PyYAML's implicit resolvers give a plain
 * scalar (or a scalar tagged with the non-specific "!").
 */
static const char *
resolve_plain(const char *s, size_t len)
{
	YTimestamp	ts;

	len = match_len(s, len);
	if (len == 0)
		return TAG_NULL;
	switch (s[0])
	{
		case 'y':
		case 'Y':
		case 'n':
		case 'N':
		case 't':
		case 'T':
		case 'f':
		case 'F':
		case 'o':
		case 'O':
			if (is_bool_text(s, len))
				return TAG_BOOL;
			if ((s[0] == 'n' || s[0] == 'N') && is_null_text(s, len))
				return TAG_NULL;
			break;
		case '~':
			if (len == 1)
				return TAG_NULL;
			break;
		case '<':
			if (len == 2 && s[1] == '<')
				return TAG_MERGE;
			break;
		case '=':
			if (len == 1)
				return TAG_VALUE;
			break;
		case '.':
			if (is_float_text(s, len))
				return TAG_FLOAT;
			break;
		case '-':
		case '+':
			if (is_float_text(s, len))
				return TAG_FLOAT;
			if (is_int_text(s, len))
				return TAG_INT;
			break;
		default:
			if (ISDIGIT(s[0]))
			{
				if (is_float_text(s, len))
					return TAG_FLOAT;
				if (is_int_text(s, len))
					return TAG_INT;
				if (scan_timestamp(s, len, true, &ts))
					return TAG_TIMESTAMP;
			}
			break;
	}
	return TAG_STR;
}

/*
 * PyYAML's scanner is stricter than libyaml's in two places, and a document
 * it refuses must be refused here too:
 *
 *	- a tab is only ever whitespace inside quoted scalars, block scalar
 *	  content and comments; anywhere else ("a: 1\t# c", "a: x\ty",
 *	  "[1,\t2]") PyYAML reports "found character '\t' that cannot start
 *	  any token", where libyaml skips it as blank;
 *	- inside flow collections, "?" ends a plain scalar ("[a?b]"), where
 *	  libyaml reads it as part of the scalar.
 *
 * Both are checked with a scan of libyaml's tokens, only for documents that
 * contain a tab or a question mark.
 */
typedef struct TokRange
{
	int			sl,
				sc;				/* start line and column (0-based) */
	int			el,
				ec;				/* end, exclusive */
	char		style;			/* 'p' plain, 'q' quoted, 'b' block */
} TokRange;

static bool
pos_before(int l1, int c1, int l2, int c2)
{
	return l1 < l2 || (l1 == l2 && c1 < c2);
}

/*
 * block_tab_fix handles the one place where libyaml is stricter than PyYAML:
 * a block scalar whose first content line has a tab right after its
 * indentation spaces.  PyYAML takes the indentation from the spaces and the
 * tab as content; libyaml refuses.  Writing the indentation PyYAML would
 * detect as an explicit indentation indicator ("|" becomes "|2") makes
 * libyaml read the block the same way.  Returns the rewritten text, or NULL
 * when the error is something else.
 */
static unsigned char *
block_tab_fix(yaml_parser_t *p, const unsigned char *in, size_t *len)
{
	size_t		i = 0;
	size_t		hdr = 0;
	size_t		k;
	int			line = 0;
	int			col = 0;
	int			max_indent;
	int			base;
	int			increment;
	int			cur;
	unsigned char *out;

	if (p->error != YAML_SCANNER_ERROR || p->problem == NULL || p->context == NULL ||
		strcmp(p->problem, "found a tab character where an indentation space is expected") != 0 ||
		strcmp(p->context, "while scanning a block scalar") != 0)
		return NULL;
	/* find the header's byte offset from its (line, column) */
	if (*len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF)
		i = 3;
	for (; i < *len; i++)
	{
		if (line == (int) p->context_mark.line && col == (int) p->context_mark.column)
			break;
		if (in[i] == '\n')
		{
			line++;
			col = 0;
		}
		else if ((in[i] & 0xC0) != 0x80)
			col++;
	}
	hdr = i;
	if (hdr >= *len || (in[hdr] != '|' && in[hdr] != '>'))
		return NULL;
	for (k = hdr + 1; k < *len && (in[k] == '+' || in[k] == '-'); k++)
		;
	if (k < *len && in[k] >= '0' && in[k] <= '9')
		return NULL;
	/* the indentation PyYAML detects: the most spaces before the content */
	max_indent = (int) p->problem_mark.column;
	for (i = hdr; i < *len && in[i] != '\n'; i++)
		;
	/* blank lines between the header and the failing line count too */
	line++;
	cur = 0;
	for (i++; i < *len && line < (int) p->problem_mark.line; i++)
	{
		if (in[i] == '\n')
		{
			max_indent = Max(max_indent, cur);
			cur = 0;
			line++;
		}
		else if (in[i] == ' ')
			cur++;
	}
	base = p->indent >= 0 ? p->indent : 0;
	max_indent = Max(max_indent, p->indent + 1);
	max_indent = Max(max_indent, 1);
	increment = max_indent - base;
	if (increment < 1 || increment > 9)
		return NULL;
	out = palloc(*len + 2);
	memcpy(out, in, k);
	out[k] = '0' + increment;
	memcpy(out + k + 1, in + k, *len - k);
	out[*len + 1] = '\0';
	*len += 1;
	return out;
}

/*
 * block_header_suspect says whether some "|" or ">" is followed, after
 * indicator characters, by something other than a blank or a line break:
 * the only texts in which a block scalar header can break PyYAML's rule.
 */
static bool
block_header_suspect(const unsigned char *in, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (in[i] == '|' || in[i] == '>')
		{
			size_t		k = i + 1;

			while (k < len && (in[k] == '+' || in[k] == '-' || (in[k] >= '0' && in[k] <= '9')))
				k++;
			if (k < len && in[k] != ' ' && in[k] != '\n' && in[k] != '\r')
				return true;
		}
	}
	return false;
}

/*
 * pyyaml_rules_pass records the error PyYAML would raise for a tab or a
 * question mark that libyaml lets through, and returns the text.  When
 * libyaml needs a block scalar's indentation spelled out (block_tab_fix),
 * it returns NULL and the rewritten text in *fixed, to be checked again.
 */
static const unsigned char *
pyyaml_rules_pass(YamlReader *r, const unsigned char *in, size_t *lenp,
				  const unsigned char **fixed_out)
{
	size_t		len = *lenp;
	yaml_parser_t p;
	YamlInput	input;
	yaml_token_t tok;
	TokRange   *ranges = NULL;
	int			nranges = 0;
	int			cap = 0;
	int			flow = 0;
	bool		scan_ok = true;
	int			stop_l = INT_MAX;
	int			stop_c = 0;
	int			q_l = INT_MAX;
	int			q_c = 0;
	size_t		i;
	int			line = 0;
	int			col = 0;
	int			ti = 0;
	int			comment_line = -1;
	int			hash_line = -1; /* the last line a '#' was seen on */

	*fixed_out = NULL;
	if (memchr(in, '\t', len) == NULL && memchr(in, '?', len) == NULL &&
		!block_header_suspect(in, len))
		return in;
	if (!yaml_parser_initialize(&p))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not initialise the YAML parser.")));
	yaml_set_input(&p, &input, in, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	for (;;)
	{
		if (!yaml_parser_scan(&p, &tok))
		{
			if (input.interrupt != NULL)
			{
				yaml_parser_delete(&p);
				yaml_reraise(&input);
			}
			scan_ok = false;
			break;
		}
		if (InterruptPending)
		{
			ErrorData  *err = catch_interrupt();

			if (err != NULL)
			{
				yaml_token_delete(&tok);
				yaml_parser_delete(&p);
				ReThrowError(err);
			}
		}
		if (tok.type == YAML_STREAM_END_TOKEN)
		{
			yaml_token_delete(&tok);
			break;
		}
		if (tok.type == YAML_FLOW_SEQUENCE_START_TOKEN ||
			tok.type == YAML_FLOW_MAPPING_START_TOKEN)
			flow++;
		else if (tok.type == YAML_FLOW_SEQUENCE_END_TOKEN ||
				 tok.type == YAML_FLOW_MAPPING_END_TOKEN)
			flow--;
		else if (tok.type == YAML_SCALAR_TOKEN)
		{
			yaml_scalar_style_t st = tok.data.scalar.style;

			if (nranges == cap)
			{
				cap = cap ? cap * 2 : 64;
				ranges = ranges ? repalloc(ranges, sizeof(TokRange) * cap)
					: palloc(sizeof(TokRange) * cap);
			}
			ranges[nranges].sl = (int) tok.start_mark.line;
			ranges[nranges].sc = (int) tok.start_mark.column;
			ranges[nranges].el = (int) tok.end_mark.line;
			ranges[nranges].ec = (int) tok.end_mark.column;
			ranges[nranges].style = st == YAML_PLAIN_SCALAR_STYLE ? 'p' :
				(st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE) ? 'b' : 'q';
			nranges++;
			if (st == YAML_PLAIN_SCALAR_STYLE && flow > 0 &&
				memchr(tok.data.scalar.value, '?', tok.data.scalar.length) != NULL &&
				q_l == INT_MAX)
			{
				q_l = (int) tok.start_mark.line;
				q_c = (int) tok.start_mark.column;
			}
		}
		yaml_token_delete(&tok);
	}
	if (!scan_ok)
	{
		unsigned char *fixed = block_tab_fix(&p, in, lenp);

		if (fixed != NULL)
		{
			yaml_parser_delete(&p);
			*fixed_out = fixed;
			return NULL;
		}
		stop_l = (int) p.problem_mark.line;
		stop_c = (int) p.problem_mark.column;
		/* tabs inside the token that failed are that token's business */
		if (p.context &&
			pos_before((int) p.context_mark.line, (int) p.context_mark.column, stop_l, stop_c))
		{
			stop_l = (int) p.context_mark.line;
			stop_c = (int) p.context_mark.column;
		}
	}
	yaml_parser_delete(&p);

	/* walk the text by (line, column) as libyaml counts them */
	i = 0;
	if (len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF)
		i = 3;
	for (; i < len; i++)
	{
		unsigned char c = in[i];
		bool		brk = false;
		size_t		w = 1;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!pos_before(line, col, stop_l, stop_c))
			break;
		if (!pos_before(line, col, q_l, q_c))
			break;
		while (ti < nranges && !pos_before(line, col, ranges[ti].el, ranges[ti].ec))
			ti++;
		if (ti < nranges && ranges[ti].style == 'b' && line == ranges[ti].sl &&
			col == ranges[ti].sc && (c == '|' || c == '>'))
		{
			/* PyYAML wants a space or a line break after the indicators */
			size_t		k = i + 1;

			while (k < len && (in[k] == '+' || in[k] == '-' || (in[k] >= '0' && in[k] <= '9')))
				k++;
			if (k < len && in[k] != ' ' && in[k] != '\n' && in[k] != '\r' && in[k] != '\t' &&
				in[k] != 0xC2 && in[k] != 0xE2)
			{
				r->viol_line = line + 1;
				r->viol_col = col + 1 + (int) (k - i);
				r->viol_msg = psprintf("expected chomping or indentation indicators, but found \"%c\"", in[k]);
				return in;
			}
		}
		if (c == '#' && comment_line != line &&
			(ti >= nranges || pos_before(line, col, ranges[ti].sl, ranges[ti].sc)) &&
			(col == 0 || in[i - 1] == ' ' || in[i - 1] == '\t'))
			comment_line = line;
		if (c == '#')
			hash_line = line;
		if (c == '\t')
		{
			bool		inside = ti < nranges &&
				!pos_before(line, col, ranges[ti].sl, ranges[ti].sc);
			bool		bad;

			if (!inside)
				bad = comment_line != line;
			else if (ranges[ti].style == 'q')
				bad = false;
			else if (ranges[ti].style == 'b')
			{
				/* on the header line only a comment may hold a tab */
				bad = line == ranges[ti].sl && comment_line != line &&
					hash_line != line;
			}
			else
				bad = true;
			if (bad)
			{
				r->viol_line = line + 1;
				r->viol_col = col + 1;
				r->viol_msg = "found character '\\t' that cannot start any token";
				return in;
			}
		}

		if (c == '\n')
			brk = true;
		else if (c == '\r')
		{
			brk = true;
			if (i + 1 < len && in[i + 1] == '\n')
				i++;
		}
		else if (c == 0xC2 && i + 1 < len && in[i + 1] == 0x85)
		{
			brk = true;
			w = 2;
		}
		else if (c == 0xE2 && i + 2 < len && in[i + 1] == 0x80 &&
				 (in[i + 2] == 0xA8 || in[i + 2] == 0xA9))
		{
			brk = true;
			w = 3;
		}
		else if (c >= 0xF0)
			w = 4;
		else if (c >= 0xE0)
			w = 3;
		else if (c >= 0xC0)
			w = 2;
		i += w - 1;
		if (brk)
		{
			line++;
			col = 0;
		}
		else
			col++;
	}
	if (q_l != INT_MAX)
	{
		r->viol_line = q_l + 1;
		r->viol_col = q_c + 1;
		r->viol_msg = "found \"?\" inside a plain scalar in a flow collection";
	}
	return in;
}

/*
 * check_pyyaml_rules raises the error PyYAML would raise for a tab or a
 * question mark that libyaml lets through.  It returns the text to parse:
 * the input, or a copy with explicit block indentation (see block_tab_fix).
 * Each fix means another pass over the text, so their number is bounded.
 */
static const unsigned char *
check_pyyaml_rules(YamlReader *r, const unsigned char *in, size_t *lenp)
{
	int			fixes = 0;

	for (;;)
	{
		const unsigned char *fixed;
		const unsigned char *res = pyyaml_rules_pass(r, in, lenp, &fixed);

		if (fixed == NULL)
			return res;
		if (++fixes > YAML_MAX_TAB_FIXES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("YAML document has more than %d block scalars whose first line starts with a tab after the indentation",
							YAML_MAX_TAB_FIXES),
					 errhint("Give those block scalars an explicit indentation indicator, as in \"|2\".")));
		CHECK_FOR_INTERRUPTS();
		in = fixed;
	}
}

/*
 * stream_end_position records where PyYAML puts the end of a stream that
 * does not end with a line break: after the last character, where libyaml
 * puts it at the start of the next line.
 */
static void
stream_end_position(YamlReader *r)
{
	const unsigned char *in = r->input;
	size_t		len = r->input_len;
	size_t		i;
	int			line = 1;
	int			col = 1;

	if (len == 0 || in[len - 1] == '\n' || in[len - 1] == '\r')
		return;
	for (i = 0; i < len; i++)
	{
		if (in[i] == '\n' || (in[i] == '\r' && (i + 1 >= len || in[i + 1] != '\n')))
		{
			line++;
			col = 1;
		}
		else if ((in[i] & 0xC0) != 0x80 && in[i] != '\r')
			col++;
	}
	if (len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF && line == 1)
		col--;
	r->end_line = line;
	r->end_col = col;
}

/*
 * compose_node builds the node that starts with event ev (which it
 * deletes), reading further events for collections.
 */
static YNode *
compose_node(YamlReader *r, yaml_event_t *ev)
{
	YNode	   *n;
	char	   *anchor = NULL;
	char	   *tag = NULL;

	check_stack_depth();
	switch (ev->type)
	{
		case YAML_ALIAS_EVENT:
			{
				YAnchor    *a = anchor_find(r, (char *) ev->data.alias.anchor);

				if (a == NULL)
				{
					char	   *msg = psprintf("found undefined alias \"%s\"",
											   (char *) ev->data.alias.anchor);
					int			line = (int) ev->start_mark.line + 1;
					int			col = (int) ev->start_mark.column + 1;

					yaml_event_delete(ev);
					yaml_fail(line, col, msg);
				}
				yaml_event_delete(ev);
				r->composed++;
				return a->node;
			}
		case YAML_SCALAR_EVENT:
			n = new_node(r, YN_SCALAR, ev->start_mark);
			n->len = ev->data.scalar.length;
			n->value = palloc(n->len + 1);
			memcpy(n->value, ev->data.scalar.value, n->len);
			n->value[n->len] = '\0';
			if (ev->data.scalar.tag)
				tag = pstrdup((char *) ev->data.scalar.tag);
			if (tag != NULL && strcmp(tag, "!") == 0)
				n->tag = resolve_plain(n->value, n->len);
			else if (tag == NULL)
				n->tag = ev->data.scalar.plain_implicit ?
					resolve_plain(n->value, n->len) : TAG_STR;
			else
				n->tag = tag;
			if (ev->data.scalar.anchor)
				anchor = pstrdup((char *) ev->data.scalar.anchor);
			yaml_event_delete(ev);
			if (anchor)
				anchor_define(r, anchor, n);
			return n;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			{
				bool		is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
				yaml_event_type_t end = is_seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
				yaml_char_t *t = is_seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
				yaml_char_t *a = is_seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

				n = new_node(r, is_seq ? YN_SEQUENCE : YN_MAPPING, ev->start_mark);
				if (t && strcmp((char *) t, "!") != 0)
					n->tag = pstrdup((char *) t);
				else
					n->tag = is_seq ? TAG_SEQ : TAG_MAP;
				if (a)
					anchor = pstrdup((char *) a);
				yaml_event_delete(ev);
				if (anchor)
					anchor_define(r, anchor, n);
				depth_enter(r, n->line, n->column);
				for (;;)
				{
					yaml_event_t child;

					next_event(r, &child);
					if (child.type == end)
					{
						yaml_event_delete(&child);
						break;
					}
					node_add(n, compose_node(r, &child));
				}
				r->depth--;
				return n;
			}
		default:
			{
				int			line = (int) ev->start_mark.line + 1;
				int			col = (int) ev->start_mark.column + 1;

				yaml_event_delete(ev);
				yaml_fail(line, col, "unexpected event");
			}
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * compose_document reads the stream: nothing (null), or exactly one
 * document.
 */
static YNode *
compose_document(YamlReader *r)
{
	yaml_event_t ev;
	YNode	   *root;

	next_event(r, &ev);
	Assert(ev.type == YAML_STREAM_START_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	if (ev.type == YAML_STREAM_END_EVENT)
	{
		yaml_event_delete(&ev);
		return NULL;
	}
	Assert(ev.type == YAML_DOCUMENT_START_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	root = compose_node(r, &ev);
	next_event(r, &ev);
	Assert(ev.type == YAML_DOCUMENT_END_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	if (ev.type != YAML_STREAM_END_EVENT)
	{
		int			line = (int) ev.start_mark.line + 1;
		int			col = (int) ev.start_mark.column + 1;

		yaml_event_delete(&ev);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid YAML at line %d, column %d: expected a single document in the stream, but found another document",
						line, col)));
	}
	yaml_event_delete(&ev);
	return root;
}

/*
 * flatten_mapping resolves merge keys as SafeConstructor.flatten_mapping
 * does: merged pairs go first (so explicit keys win), and of several merged
 * mappings the earlier one wins.  Keys tagged "value" (a plain "=") become
 * strings.  One pass keeps the pairs that are not merge keys in place and
 * collects the merged ones; merged pairs count as values built, since they
 * repeat the merged mapping's.
 */
static void
flatten_mapping(YamlReader *r, YNode *n)
{
	YNode	  **merge = NULL;
	int			nmerge = 0;
	int			capmerge = 0;
	int			i;
	int			kept = 0;

	if (n->flattened)
		return;
	if (n->flattening)
		node_fail(n, "found a merge key that includes its own mapping");
	n->flattening = true;
	check_stack_depth();

#define MERGE_ADD(k, v) \
	do { \
		if (nmerge + 2 > capmerge) \
		{ \
			capmerge = capmerge ? capmerge * 2 : 16; \
			merge = merge ? repalloc(merge, sizeof(YNode *) * capmerge) \
				: palloc(sizeof(YNode *) * capmerge); \
		} \
		merge[nmerge++] = (k); \
		merge[nmerge++] = (v); \
	} while (0)

	for (i = 0; i < n->nitems; i += 2)
	{
		YNode	   *key = n->items[i];
		YNode	   *val = n->items[i + 1];

		CHECK_FOR_INTERRUPTS();
		if (strcmp(key->tag, TAG_MERGE) == 0)
		{
			if (val->kind == YN_MAPPING)
			{
				int			j;

				flatten_mapping(r, val);
				count_built(r, val->nitems / 2, 0);
				for (j = 0; j < val->nitems; j += 2)
					MERGE_ADD(val->items[j], val->items[j + 1]);
			}
			else if (val->kind == YN_SEQUENCE)
			{
				int			s;
				int			j;

				for (s = 0; s < val->nitems; s++)
				{
					if (val->items[s]->kind != YN_MAPPING)
						node_fail(val->items[s],
								  psprintf("expected a mapping for merging, but found %s",
										   val->items[s]->kind == YN_SCALAR ? "scalar" : "sequence"));
					flatten_mapping(r, val->items[s]);
				}
				/* later mappings first, so that earlier ones override them */
				for (s = val->nitems - 1; s >= 0; s--)
				{
					YNode	   *sub = val->items[s];

					count_built(r, sub->nitems / 2, 0);
					for (j = 0; j < sub->nitems; j += 2)
						MERGE_ADD(sub->items[j], sub->items[j + 1]);
				}
			}
			else
				node_fail(val, "expected a mapping or list of mappings for merging, but found scalar");
		}
		else
		{
			if (strcmp(key->tag, TAG_VALUE) == 0)
				key->tag = TAG_STR;
			n->items[kept++] = key;
			n->items[kept++] = val;
		}
	}
#undef MERGE_ADD
	n->nitems = kept;

	if (nmerge > 0)
	{
		YNode	  **items = palloc(sizeof(YNode *) * (nmerge + n->nitems + 1));

		memcpy(items, merge, sizeof(YNode *) * nmerge);
		if (n->nitems > 0)
			memcpy(items + nmerge, n->items, sizeof(YNode *) * n->nitems);
		n->items = items;
		n->nitems += nmerge;
		n->cap = n->nitems + 1;
	}
	n->flattening = false;
	n->flattened = true;
}

/*
 * scalar_text gives the text of a node used as a scalar.  Like
 * SafeConstructor.construct_scalar, a mapping with a "=" key stands for the
 * value of that key.
 */
static YNode *
scalar_node(YNode *n)
{
	if (n->kind == YN_SCALAR)
		return n;
	if (n->scalar != NULL)
		return n->scalar;
	check_stack_depth();
	if (n->kind == YN_MAPPING)
	{
		int			i;

		for (i = 0; i < n->nitems; i += 2)
			if (strcmp(n->items[i]->tag, TAG_VALUE) == 0)
			{
				/* the answer is kept: aliases may ask again and again */
				n->scalar = scalar_node(n->items[i + 1]);
				return n->scalar;
			}
	}
	node_fail(n, psprintf("expected a scalar node, but found %s",
						  n->kind == YN_MAPPING ? "mapping" : "sequence"));
}

/* strip_underscores returns a copy of s without "_", lower-cased if lower */
static char *
strip_underscores(const char *s, size_t len, bool lower)
{
	char	   *out = palloc(len + 1);
	size_t		i;
	size_t		j = 0;

	for (i = 0; i < len; i++)
		if (s[i] != '_')
			out[j++] = lower ? pg_ascii_tolower((unsigned char) s[i]) : s[i];
	out[j] = '\0';
	return out;
}

/*
 * init_small_buf initialises a StringInfo with a small buffer; numbers and
 * keys are short, and initStringInfo's 1 kB per value adds up in big
 * documents.
 */
static void
init_small_buf(StringInfo buf)
{
	buf->maxlen = 32;
	buf->data = palloc(buf->maxlen);
	buf->data[0] = '\0';
	buf->len = 0;
	buf->cursor = 0;
}

/* what construct_int found */
typedef enum YIntResult
{
	YINT_OK,
	YINT_INVALID,				/* int() raises ValueError */
	YINT_TOO_LONG,				/* int() refuses the digits (ValueError) */
	YINT_TOO_BIG				/* json.dumps would refuse to print it */
} YIntResult;

/*
 * yaml_int_digits appends the decimal value of int(s, base) to out, as
 * PyYAML computes a YAML int: s is what follows the sign (and a 0b or 0x
 * prefix), so a value that itself carries a sign keeps it.  Values that
 * str() would refuse to print are not computed.
 */
static YIntResult
yaml_int_digits(const char *s, int base, StringInfo out)
{
	PyIntText	t;

	switch (py_int_parse(s, strlen(s), base, &t))
	{
		case PYINT_OK:
			break;
		case PYINT_TOO_LONG:
			return YINT_TOO_LONG;
		default:
			return YINT_INVALID;
	}
	if (py_int_decimal_digits(&t) > PY_INT_MAX_DIGITS + 1)
		return YINT_TOO_BIG;
	py_int_to_decimal(&t, out);
	return YINT_OK;
}

/*
 * yaml_int_base60 appends the decimal value of a sexagesimal int (after its
 * sign), as PyYAML computes it: Python's int() of each part between ":",
 * the parts weighted by powers of 60, the last one by 1.  The parts are
 * read once to find errors and the size of the value, and once more to
 * compute it if json.dumps could print it.
 */
static YIntResult
yaml_int_base60(const char *v, StringInfo out)
{
	int			nparts = 0;
	int			maxlen = 0;
	const char *p;
	Datum		acc = NumericGetDatum(int64_to_numeric(0));
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		for (p = v;; p++)
		{
			int			len = strcspn(p, ":");
			PyIntText	t;

			if ((++nparts & 0x3FF) == 0)
				CHECK_FOR_INTERRUPTS();
			switch (py_int_parse(p, len, 10, &t))
			{
				case PYINT_OK:
					break;
				case PYINT_TOO_LONG:
					return YINT_TOO_LONG;
				default:
					return YINT_INVALID;
			}
			maxlen = Max(maxlen, t.ndigits);
			if (pass == 1)
			{
				StringInfoData dec;

				init_small_buf(&dec);
				py_int_to_decimal(&t, &dec);
				acc = DirectFunctionCall2(numeric_mul, acc,
										  NumericGetDatum(int64_to_numeric(60)));
				acc = DirectFunctionCall2(numeric_add, acc,
										  DirectFunctionCall3(numeric_in,
															  CStringGetDatum(dec.data),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
			}
			pfree(t.digits);
			p += len;
			if (*p == '\0')
				break;
		}
		/* the value has at most this many digits: not computed beyond */
		if (pass == 0 && maxlen + (nparts - 1) * log10(60.0) > PY_INT_MAX_DIGITS + 1)
			return YINT_TOO_BIG;
		nparts = 0;
	}
	appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out, acc)));
	return YINT_OK;
}

/*
 * construct_int appends the decimal text of SafeConstructor.construct_yaml_int
 * and returns true, or returns false when json.dumps could not print the
 * value (recorded with json_fail).  The text is kept in the node: aliases
 * may ask for it again.
 */
static bool
construct_int(YamlReader *r, YNode *n, StringInfo out)
{
	char	   *v;
	bool		neg = false;
	YIntResult	res;
	StringInfoData digits;

	if (n->int_text != NULL)
	{
		appendStringInfoString(out, n->int_text);
		return true;
	}
	v = strip_underscores(n->value, n->len, false);
	if (v[0] == '\0')
		node_fail(n, "invalid integer \"\"");
	if (v[0] == '-')
		neg = true;
	if (v[0] == '+' || v[0] == '-')
		v++;
	init_small_buf(&digits);
	if (strcmp(v, "0") == 0)
	{
		appendStringInfoChar(out, '0');
		return true;
	}
	if (strncmp(v, "0b", 2) == 0)
		res = yaml_int_digits(v + 2, 2, &digits);
	else if (strncmp(v, "0x", 2) == 0)
		res = yaml_int_digits(v + 2, 16, &digits);
	else if (v[0] == '0')
		res = yaml_int_digits(v, 8, &digits);
	else if (strchr(v, ':') != NULL)
		res = yaml_int_base60(v, &digits);
	else
		res = yaml_int_digits(v, 10, &digits);
	if (res == YINT_INVALID)
		node_fail(n, psprintf("invalid integer \"%s\"", n->value));
	if (res == YINT_TOO_LONG)
		node_fail(n, psprintf("invalid integer: it has more than the %d digits Python converts",
							  PY_INT_MAX_DIGITS));
	if (res == YINT_TOO_BIG || digits.len - (digits.data[0] == '-') > PY_INT_MAX_DIGITS)
	{
		json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  psprintf("integer of more than %d decimal digits cannot be represented in JSON",
						   PY_INT_MAX_DIGITS));
		return false;
	}
	/* sign * value: a value that itself carried a sign keeps it */
	if (neg)
	{
		if (digits.data[0] == '-')
			n->int_text = pstrdup(digits.data + 1);
		else if (strcmp(digits.data, "0") == 0)
			n->int_text = "0";
		else
			n->int_text = psprintf("-%s", digits.data);
	}
	else
		n->int_text = digits.data;
	appendStringInfoString(out, n->int_text);
	return true;
}

/*
 * construct_float returns the double of SafeConstructor.construct_yaml_float.
 */
static double
construct_float(YNode *n)
{
	char	   *v = strip_underscores(n->value, n->len, true);
	double		sign = 1.0;
	double		d = 0.0;

	if (v[0] == '\0')
		node_fail(n, "invalid float \"\"");
	if (v[0] == '-')
		sign = -1.0;
	if (v[0] == '+' || v[0] == '-')
		v++;
	if (strcmp(v, ".inf") == 0)
		return sign * get_float8_infinity();
	if (strcmp(v, ".nan") == 0)
		return get_float8_nan();
	if (strchr(v, ':') != NULL)
	{
		/* the parts are summed least significant first, as PyYAML does */
		const char *end = v + strlen(v);
		double		base = 1.0;
		uint32		k = 0;

		for (;;)
		{
			const char *start = end;
			double		p;

			if ((++k & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			while (start > v && start[-1] != ':')
				start--;
			if (!py_float_parse(start, end - start, &p))
				node_fail(n, psprintf("invalid float \"%s\"", n->value));
			d += p * base;
			base *= 60;
			if (start == v)
				break;
			end = start - 1;
		}
	}
	else if (!py_float_parse(v, strlen(v), &d))
		node_fail(n, psprintf("invalid float \"%s\"", n->value));
	return sign * d;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * construct_timestamp appends the isoformat() of the date or datetime that
 * SafeConstructor.construct_yaml_timestamp builds.
 */
static void
construct_timestamp(YNode *n, StringInfo out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	YTimestamp	ts;
	int			dim;

	if (!scan_timestamp(n->value, match_len(n->value, n->len), false, &ts))
		node_fail(n, psprintf("invalid timestamp \"%s\"", n->value));
	if (ts.year < 1 || ts.month < 1 || ts.month > 12)
		node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	dim = mdays[ts.month - 1] + (ts.month == 2 && is_leap(ts.year) ? 1 : 0);
	if (ts.day < 1 || ts.day > dim)
		node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	appendStringInfo(out, "%04d-%02d-%02d", ts.year, ts.month, ts.day);
	if (!ts.has_time)
		return;
	if (ts.hour > 23 || ts.minute > 59 || ts.second > 59)
		node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	appendStringInfo(out, "T%02d:%02d:%02d", ts.hour, ts.minute, ts.second);
	if (ts.micro != 0)
		appendStringInfo(out, ".%06d", ts.micro);
	if (ts.has_tz)
	{
		int			minutes = ts.tz_utc ? 0 : ts.tz_hour * 60 + ts.tz_minute;

		if (minutes >= 24 * 60)
			node_fail(n, psprintf("timestamp \"%s\" has an out-of-range time zone", n->value));
		if (ts.tz_sign < 0 && minutes > 0)
			appendStringInfo(out, "-%02d:%02d", minutes / 60, minutes % 60);
		else
			appendStringInfo(out, "+%02d:%02d", minutes / 60, minutes % 60);
	}
}

/*
 * emit_string adds a string value, converted to the server encoding.
 */
static void
emit_string(YamlReader *r, YNode *n, const char *s, size_t len,
			JsonbParseState **st, JsonbIteratorToken tok)
{
	JsonbValue	v;
	char	   *conv;

	if (memchr(s, '\0', len) != NULL)
		json_fail(r, n, ERRCODE_UNTRANSLATABLE_CHARACTER,
				  "a NUL character cannot be stored in JSON text");
	if (st == NULL || r->json_failed)
		return;
	conv = pg_any_to_server(s, len, PG_UTF8);
	v.type = jbvString;
	v.val.string.val = conv;
	v.val.string.len = (conv == s) ? len : strlen(conv);
	pushJsonbValue(st, tok, &v);
}

static void
emit_numeric(YamlReader *r, const char *text, JsonbParseState **st,
			 JsonbIteratorToken tok)
{
	JsonbValue	v;

	if (st == NULL || r->json_failed)
		return;
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														CStringGetDatum(text),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	pushJsonbValue(st, tok, &v);
}

static void
emit_simple(YamlReader *r, enum jbvType type, bool b, JsonbParseState **st,
			JsonbIteratorToken tok)
{
	JsonbValue	v;

	if (st == NULL || r->json_failed)
		return;
	v.type = type;
	v.val.boolean = b;
	pushJsonbValue(st, tok, &v);
}

/*
 * construct_bool gives the value of SafeConstructor.construct_yaml_bool.
 */
static bool
construct_bool(YNode *n)
{
	char	   *low = pstrdup(n->value);
	char	   *c;

	for (c = low; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	if (strcmp(low, "yes") == 0 || strcmp(low, "true") == 0 || strcmp(low, "on") == 0)
		return true;
	if (strcmp(low, "no") == 0 || strcmp(low, "false") == 0 || strcmp(low, "off") == 0)
		return false;
	node_fail(n, psprintf("invalid boolean \"%s\"", n->value));
}

/*
 * key_of computes how Python would hash and json.dumps would spell the key
 * node k.  Keys that are not str, int, float, bool or None are errors: a
 * list or mapping is unhashable in Python, anything else is refused by
 * json.dumps.
 */
static void
key_of(YamlReader *r, YNode *k, YKey *key)
{
	StringInfoData buf;
	const char *tag = k->tag;

	init_small_buf(&buf);
	if (k->kind != YN_SCALAR && (strcmp(tag, TAG_SEQ) == 0 || strcmp(tag, TAG_MAP) == 0 ||
								 strcmp(tag, TAG_OMAP) == 0 || strcmp(tag, TAG_PAIRS) == 0 ||
								 strcmp(tag, TAG_SET) == 0))
		node_fail(k, "found unhashable key");
	if (strcmp(tag, TAG_STR) == 0)
	{
		YNode	   *s = scalar_node(k);

		if (memchr(s->value, '\0', s->len) != NULL)
			json_fail(r, s, ERRCODE_UNTRANSLATABLE_CHARACTER,
					  "a NUL character cannot be stored in JSON text");
		key->text = s->value;
		key->kind = 's';
		key->canon = s->value;
	}
	else if (strcmp(tag, TAG_NULL) == 0)
	{
		(void) scalar_node(k);
		key->text = "null";
		key->kind = 'z';
		key->canon = "";
	}
	else if (strcmp(tag, TAG_BOOL) == 0)
	{
		bool		b = construct_bool(scalar_node(k));

		key->text = b ? "true" : "false";
		key->kind = 'n';
		key->canon = b ? "1" : "0";
	}
	else if (strcmp(tag, TAG_INT) == 0)
	{
		if (construct_int(r, scalar_node(k), &buf))
		{
			key->text = buf.data;
			key->kind = 'n';
			key->canon = buf.data;
		}
		else
		{
			key->text = "";
			key->kind = 'x';
			key->canon = "";
		}
	}
	else if (strcmp(tag, TAG_FLOAT) == 0)
	{
		double		d = construct_float(scalar_node(k));

		if (!isfinite(d))
			json_fail(r, k, ERRCODE_INVALID_TEXT_REPRESENTATION,
					  psprintf("float \"%s\" cannot be represented in JSON", scalar_node(k)->value));
		py_float_repr(&buf, d);
		key->text = buf.data;
		if (!isfinite(d))
		{
			key->kind = 'x';
			key->canon = "";
		}
		else if (d == floor(d))
		{
			key->kind = 'n';
			key->canon = psprintf("%.0f", d == 0.0 ? 0.0 : d);
		}
		else
		{
			key->kind = 'f';
			key->canon = buf.data;
		}
	}
	else
	{
		/* dates, datetimes, bytes and unknown tags: build to report errors */
		r->dry++;
		construct(r, k, NULL, WJB_VALUE);
		r->dry--;
		json_fail(r, k, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  psprintf("mapping key of type \"%s\" cannot be represented in JSON", tag));
		key->text = "";
		key->kind = 'x';
		key->canon = "";
	}
}

/*
 * ykey_cmp orders keys by equality class and canonical text, then by
 * position.  A mapping can have a million keys: the sort checks for
 * interrupts now and then (pg_qsort allocates nothing, so an error may
 * leave it).
 */
static int
ykey_cmp(const void *a, const void *b)
{
	const YKey *ka = a;
	const YKey *kb = b;
	int			c;
	static uint32 calls = 0;

	if ((++calls & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();
	if (ka->kind != kb->kind)
		return ka->kind - kb->kind;
	if (ka->kind != 'x')
	{
		c = strcmp(ka->canon, kb->canon);
		if (c != 0)
			return c;
	}
	return ka->index - kb->index;
}

static int
ykey_pos_cmp(const void *a, const void *b)
{
	return ((const YKey *) a)->index - ((const YKey *) b)->index;
}

/*
 * construct_mapping builds a mapping: merge keys flattened, keys compared
 * as Python compares dict keys, the first spelling and the last value kept.
 */
static JsonbValue *
construct_mapping(YamlReader *r, YNode *n, JsonbParseState **st)
{
	int			npairs;
	YKey	   *keys;
	YKey	   *winners;
	int			nwin = 0;
	int			i;

	flatten_mapping(r, n);
	npairs = n->nitems / 2;
	keys = palloc(sizeof(YKey) * Max(npairs, 1));
	winners = palloc(sizeof(YKey) * Max(npairs, 1));
	for (i = 0; i < npairs; i++)
	{
		CHECK_FOR_INTERRUPTS();
		keys[i].index = i;
		key_of(r, n->items[2 * i], &keys[i]);
		keys[i].value = n->items[2 * i + 1];
	}
	qsort(keys, npairs, sizeof(YKey), ykey_cmp);
	for (i = 0; i < npairs;)
	{
		int			j = i;

		while (j + 1 < npairs && keys[i].kind != 'x' && keys[j + 1].kind == keys[i].kind &&
			   strcmp(keys[j + 1].canon, keys[i].canon) == 0)
		{
			/* an overwritten value is still built, so its errors surface */
			r->dry++;
			construct(r, keys[j].value, NULL, WJB_VALUE);
			r->dry--;
			j++;
		}
		winners[nwin] = keys[i];
		winners[nwin].value = keys[j].value;
		nwin++;
		i = j + 1;
	}
	qsort(winners, nwin, sizeof(YKey), ykey_pos_cmp);

	ypush(r, st, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < nwin; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (st && !r->json_failed)
		{
			JsonbValue	k;
			char	   *conv;

			conv = pg_any_to_server(winners[i].text, strlen(winners[i].text), PG_UTF8);
			k.type = jbvString;
			k.val.string.val = conv;
			k.val.string.len = strlen(conv);
			ypush(r, st, WJB_KEY, &k);
		}
		construct(r, winners[i].value, st, WJB_VALUE);
	}
	return ypush(r, st, WJB_END_OBJECT, NULL);
}

/*
 * construct_pairs builds !!omap and !!pairs: a list of [key, value].
 */
static JsonbValue *
construct_pairs(YamlReader *r, YNode *n, JsonbParseState **st, const char *what)
{
	int			i;

	if (n->kind != YN_SEQUENCE)
		node_fail(n, psprintf("while constructing %s: expected a sequence, but found %s",
							  what, n->kind == YN_SCALAR ? "scalar" : "mapping"));
	ypush(r, st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n->nitems; i++)
	{
		YNode	   *sub = n->items[i];

		if (sub->kind != YN_MAPPING)
			node_fail(sub, psprintf("while constructing %s: expected a mapping of length 1, but found %s",
									what, sub->kind == YN_SCALAR ? "scalar" : "sequence"));
		if (sub->nitems != 2)
			node_fail(sub, psprintf("while constructing %s: expected a single mapping item, but found %d items",
									what, sub->nitems / 2));
		depth_enter(r, sub->line, sub->column);
		ypush(r, st, WJB_BEGIN_ARRAY, NULL);
		construct(r, sub->items[0], st, WJB_ELEM);
		construct(r, sub->items[1], st, WJB_ELEM);
		ypush(r, st, WJB_END_ARRAY, NULL);
		r->depth--;
	}
	return ypush(r, st, WJB_END_ARRAY, NULL);
}

/*
 * construct builds the value of node n and pushes it with token tok, or
 * only checks it when st is NULL.  It returns what pushJsonbValue returned
 * for the node's last token, which for the root collection is the tree.
 */
static JsonbValue *
construct(YamlReader *r, YNode *n, JsonbParseState **st, JsonbIteratorToken tok)
{
	const char *tag = n->tag;
	StringInfoData buf;
	JsonbValue *res = NULL;

	check_stack_depth();
	count_built(r, 1, n->kind == YN_SCALAR ? (int64) n->len : 0);
	if (n->building)
	{
		json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "found a recursive structure, which cannot be represented in JSON");
		return NULL;
	}
	n->building = true;
	if (n->kind != YN_SCALAR)
		depth_enter(r, n->line, n->column);

	if (strcmp(tag, TAG_MAP) == 0)
	{
		if (n->kind != YN_MAPPING)
			node_fail(n, psprintf("expected a mapping node, but found %s",
								  n->kind == YN_SCALAR ? "scalar" : "sequence"));
		res = construct_mapping(r, n, st);
	}
	else if (strcmp(tag, TAG_SEQ) == 0)
	{
		int			i;

		if (n->kind != YN_SEQUENCE)
			node_fail(n, psprintf("expected a sequence node, but found %s",
								  n->kind == YN_SCALAR ? "scalar" : "mapping"));
		ypush(r, st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < n->nitems; i++)
			construct(r, n->items[i], st, WJB_ELEM);
		res = ypush(r, st, WJB_END_ARRAY, NULL);
	}
	else if (strcmp(tag, TAG_STR) == 0)
	{
		YNode	   *s = scalar_node(n);

		emit_string(r, s, s->value, s->len, st, tok);
	}
	else if (strcmp(tag, TAG_NULL) == 0)
	{
		(void) scalar_node(n);
		emit_simple(r, jbvNull, false, st, tok);
	}
	else if (strcmp(tag, TAG_BOOL) == 0)
		emit_simple(r, jbvBool, construct_bool(scalar_node(n)), st, tok);
	else if (strcmp(tag, TAG_INT) == 0)
	{
		init_small_buf(&buf);
		if (construct_int(r, scalar_node(n), &buf))
			emit_numeric(r, buf.data, st, tok);
	}
	else if (strcmp(tag, TAG_FLOAT) == 0)
	{
		double		d = construct_float(scalar_node(n));

		if (!isfinite(d))
			json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
					  psprintf("float \"%s\" cannot be represented in JSON", scalar_node(n)->value));
		else
		{
			init_small_buf(&buf);
			py_float_decimal(&buf, d);
			emit_numeric(r, buf.data, st, tok);
		}
	}
	else if (strcmp(tag, TAG_TIMESTAMP) == 0)
	{
		YNode	   *s = scalar_node(n);

		init_small_buf(&buf);
		construct_timestamp(s, &buf);
		emit_string(r, s, buf.data, buf.len, st, tok);
	}
	else if (strcmp(tag, TAG_OMAP) == 0)
		res = construct_pairs(r, n, st, "an ordered map");
	else if (strcmp(tag, TAG_PAIRS) == 0)
		res = construct_pairs(r, n, st, "pairs");
	else if (strcmp(tag, TAG_SET) == 0)
	{
		if (n->kind != YN_MAPPING)
			node_fail(n, psprintf("expected a mapping node, but found %s",
								  n->kind == YN_SCALAR ? "scalar" : "sequence"));
		r->dry++;
		construct_mapping(r, n, NULL);
		r->dry--;
		json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "a !!set cannot be represented in JSON");
	}
	else if (strcmp(tag, TAG_BINARY) == 0)
	{
		(void) scalar_node(n);
		json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "!!binary data cannot be represented in JSON");
	}
	else
		node_fail(n, psprintf("could not determine a constructor for the tag \"%s\"", tag));

	if (n->kind != YN_SCALAR)
		r->depth--;
	n->building = false;
	return res;
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
		JsonbParseState *st = NULL;
		JsonbValue *res;

		if (!yaml_parser_initialize(&r->parser))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not initialise the YAML parser.")));
		parser_live = true;
		r->input_len = len;
		current_reader = r;
		r->input = check_pyyaml_rules(r, (const unsigned char *) utf8, &r->input_len);
		stream_end_position(r);
		yaml_set_input(&r->parser, &r->in, r->input, r->input_len);
		yaml_parser_set_encoding(&r->parser, YAML_UTF8_ENCODING);

		root = compose_document(r);
		r->max_built = Max(YAML_MIN_VALUES, YAML_EXPANSION * r->composed);
		r->max_bytes = Max(YAML_MIN_BYTES, YAML_EXPANSION * (int64) r->input_len);
		if (r->viol_line > 0)
			yaml_fail(r->viol_line, r->viol_col, r->viol_msg);
		yaml_parser_delete(&r->parser);
		parser_live = false;

		if (root == NULL)
		{
			JsonbValue	nullv;

			nullv.type = jbvNull;
			MemoryContextSwitchTo(old);
			result = JsonbValueToJsonb(&nullv);
		}
		else if (root->kind == YN_SCALAR ||
				 (strcmp(root->tag, TAG_MAP) != 0 && strcmp(root->tag, TAG_SEQ) != 0 &&
				  strcmp(root->tag, TAG_OMAP) != 0 && strcmp(root->tag, TAG_PAIRS) != 0))
		{
			/* a scalar document is wrapped the way jsonb stores scalars */
			JsonbValue	arr;

			arr.type = jbvArray;
			arr.val.array.rawScalar = true;
			arr.val.array.nElems = 1;
			arr.val.array.elems = NULL;
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, &arr);
			construct(r, root, &st, WJB_ELEM);
			res = ypush(r, &st, WJB_END_ARRAY, NULL);
			if (r->json_failed)
				json_raise(r);
			MemoryContextSwitchTo(old);
			result = JsonbValueToJsonb(res);
		}
		else
		{
			res = construct(r, root, &st, WJB_ELEM);
			if (r->json_failed)
				json_raise(r);
			MemoryContextSwitchTo(old);
			result = JsonbValueToJsonb(res);
		}
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
 * noetl.yaml_to_jsonb(text) returns jsonb
 */
Datum
noetl_yaml_to_jsonb_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_JSONB_P(noetl_yaml_to_jsonb(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}
