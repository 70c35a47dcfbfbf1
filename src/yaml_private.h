/*-------------------------------------------------------------------------
 *
 * yaml_private.h
 *	  What the files of the YAML reader share: the reader's state, the node
 *	  graph, and the functions they call in one another.
 *
 * The reader (yaml_read.h has its one entry point) is six files, in the
 * order a document goes through them:
 *
 *	yaml_read.c			the entry point, errors, libyaml's input, the bounds
 *	yaml_scan.c			where PyYAML's scanner is stricter than libyaml's
 *	yaml_compose.c		libyaml's events to a node graph, anchors and aliases
 *	yaml_resolve.c		PyYAML's implicit resolvers: the tag of a plain scalar
 *	yaml_construct.c	nodes to values: merge keys, mappings with keys
 *						compared as Python compares them, jsonb
 *	yaml_scalar.c		scalars to values: ints, floats, booleans, timestamps
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_YAML_PRIVATE_H
#define NOETL_YAML_PRIVATE_H

#include "postgres.h"

#include <yaml.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

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

/* yaml_read.c: errors, input, bounds */
extern void yaml_fail(int line, int column, const char *msg) pg_attribute_noreturn();
extern void yaml_node_fail(YNode *n, const char *msg) pg_attribute_noreturn();
extern void yaml_parser_fail(YamlReader *r) pg_attribute_noreturn();
extern void yaml_json_fail(YamlReader *r, YNode *n, int errcode, const char *msg);
extern const char *yaml_value_text(YNode *n);
extern ErrorData *yaml_catch_interrupt(void);
extern void yaml_set_input(yaml_parser_t *parser, YamlInput *in,
						   const unsigned char *text, size_t len);
extern void yaml_reraise(YamlInput *in);
extern void yaml_count_built(YamlReader *r, int64 values, int64 bytes);
extern void yaml_depth_enter(YamlReader *r, int line, int column);

/* yaml_scan.c */
extern const unsigned char *yaml_check_pyyaml_rules(YamlReader *r,
													const unsigned char *in,
													size_t *lenp);
extern void yaml_stream_end_position(YamlReader *r);

/* yaml_compose.c */
extern YNode *yaml_compose_document(YamlReader *r);

/* yaml_resolve.c */
extern size_t yaml_match_len(const char *s, size_t len);
extern const char *yaml_resolve_plain(const char *s, size_t len);
extern bool yaml_scan_timestamp(const char *s, size_t len, bool resolver,
								YTimestamp *ts);

/* yaml_construct.c */
extern JsonbValue *yaml_construct_document(YamlReader *r, YNode *root);

/* yaml_scalar.c */
extern void yaml_init_small_buf(StringInfo buf);
extern bool yaml_construct_int(YamlReader *r, YNode *n, StringInfo out);
extern double yaml_construct_float(YNode *n);
extern void yaml_construct_timestamp(YNode *n, StringInfo out);
extern bool yaml_construct_bool(YNode *n);

#endif							/* NOETL_YAML_PRIVATE_H */
