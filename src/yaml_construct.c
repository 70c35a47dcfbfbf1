/*-------------------------------------------------------------------------
 *
 * yaml_construct.c
 *	  Nodes become values, as PyYAML's SafeConstructor builds them, and jsonb.
 *
 * Each node's tag picks its constructor: the collections are built here,
 * the scalars in yaml_scalar.c.  Merge keys ("<<") are flattened as
 * SafeConstructor.flatten_mapping does, and mapping keys are compared the
 * way a Python dict compares them (1, 1.0 and true are one key; the first
 * spelling and the last value win); what json.dumps makes of a key that is
 * not a string is the key jsonb gets.
 * What json.dumps would refuse is recorded (yaml_json_fail) and raised only
 * once the whole document is built, so that a YAML error later in the text
 * comes first, as in PyYAML.  Every value built is counted against the
 * bounds of the expanded document.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jtree.h"
#include "pynum.h"
#include "yaml_private.h"

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

static JsonbValue *construct(YamlReader *r, YNode *n, JsonbParseState **st,
							 JsonbIteratorToken tok);

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
		yaml_node_fail(n, "found a merge key that includes its own mapping");
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
				yaml_count_built(r, val->nitems / 2, 0);
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
						yaml_node_fail(val->items[s],
								  psprintf("expected a mapping for merging, but found %s",
										   val->items[s]->kind == YN_SCALAR ? "scalar" : "sequence"));
					flatten_mapping(r, val->items[s]);
				}
				/* later mappings first, so that earlier ones override them */
				for (s = val->nitems - 1; s >= 0; s--)
				{
					YNode	   *sub = val->items[s];

					yaml_count_built(r, sub->nitems / 2, 0);
					for (j = 0; j < sub->nitems; j += 2)
						MERGE_ADD(sub->items[j], sub->items[j + 1]);
				}
			}
			else
				yaml_node_fail(val, "expected a mapping or list of mappings for merging, but found scalar");
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
 * scalar_node returns the scalar node that n stands for as a scalar.  Like
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
	yaml_node_fail(n, psprintf("expected a scalar node, but found %s",
						  n->kind == YN_MAPPING ? "mapping" : "sequence"));
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
		yaml_json_fail(r, n, ERRCODE_UNTRANSLATABLE_CHARACTER,
				  "a NUL character cannot be stored in JSON text");
	if (st == NULL || r->json_failed)
		return;
	conv = pg_any_to_server(s, len, PG_UTF8);
	v.type = jbvString;
	v.val.string.val = conv;
	v.val.string.len = (conv == s) ? len : strlen(conv);
	pushJsonbValue(st, tok, &v);
}

/* emit_numeric adds a number given as its decimal text */
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

/* emit_simple adds null, or the boolean b */
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

	yaml_init_small_buf(&buf);
	if (k->kind != YN_SCALAR && (strcmp(tag, TAG_SEQ) == 0 || strcmp(tag, TAG_MAP) == 0 ||
								 strcmp(tag, TAG_OMAP) == 0 || strcmp(tag, TAG_PAIRS) == 0 ||
								 strcmp(tag, TAG_SET) == 0))
		yaml_node_fail(k, "found unhashable key");
	if (strcmp(tag, TAG_STR) == 0)
	{
		YNode	   *s = scalar_node(k);

		if (memchr(s->value, '\0', s->len) != NULL)
			yaml_json_fail(r, s, ERRCODE_UNTRANSLATABLE_CHARACTER,
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
		bool		b = yaml_construct_bool(scalar_node(k));

		key->text = b ? "true" : "false";
		key->kind = 'n';
		key->canon = b ? "1" : "0";
	}
	else if (strcmp(tag, TAG_INT) == 0)
	{
		if (yaml_construct_int(r, scalar_node(k), &buf))
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
		double		d = yaml_construct_float(scalar_node(k));

		if (!isfinite(d))
			yaml_json_fail(r, k, ERRCODE_INVALID_TEXT_REPRESENTATION,
					  psprintf("float \"%s\" cannot be represented in JSON", yaml_value_text(scalar_node(k))));
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
		yaml_json_fail(r, k, ERRCODE_INVALID_TEXT_REPRESENTATION,
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

/* ykey_pos_cmp orders keys by their position in the mapping */
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
		yaml_node_fail(n, psprintf("while constructing %s: expected a sequence, but found %s",
							  what, n->kind == YN_SCALAR ? "scalar" : "mapping"));
	ypush(r, st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n->nitems; i++)
	{
		YNode	   *sub = n->items[i];

		if (sub->kind != YN_MAPPING)
			yaml_node_fail(sub, psprintf("while constructing %s: expected a mapping of length 1, but found %s",
									what, sub->kind == YN_SCALAR ? "scalar" : "sequence"));
		if (sub->nitems != 2)
			yaml_node_fail(sub, psprintf("while constructing %s: expected a single mapping item, but found %d items",
									what, sub->nitems / 2));
		yaml_depth_enter(r, sub->line, sub->column);
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
	yaml_count_built(r, 1, n->kind == YN_SCALAR ? (int64) n->len : 0);
	if (n->building)
	{
		yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "found a recursive structure, which cannot be represented in JSON");
		return NULL;
	}
	n->building = true;
	if (n->kind != YN_SCALAR)
		yaml_depth_enter(r, n->line, n->column);

	if (strcmp(tag, TAG_MAP) == 0)
	{
		if (n->kind != YN_MAPPING)
			yaml_node_fail(n, psprintf("expected a mapping node, but found %s",
								  n->kind == YN_SCALAR ? "scalar" : "sequence"));
		res = construct_mapping(r, n, st);
	}
	else if (strcmp(tag, TAG_SEQ) == 0)
	{
		int			i;

		if (n->kind != YN_SEQUENCE)
			yaml_node_fail(n, psprintf("expected a sequence node, but found %s",
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
		emit_simple(r, jbvBool, yaml_construct_bool(scalar_node(n)), st, tok);
	else if (strcmp(tag, TAG_INT) == 0)
	{
		yaml_init_small_buf(&buf);
		if (yaml_construct_int(r, scalar_node(n), &buf))
			emit_numeric(r, buf.data, st, tok);
	}
	else if (strcmp(tag, TAG_FLOAT) == 0)
	{
		double		d = yaml_construct_float(scalar_node(n));

		if (!isfinite(d))
			yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
					  psprintf("float \"%s\" cannot be represented in JSON", yaml_value_text(scalar_node(n))));
		else
		{
			yaml_init_small_buf(&buf);
			py_float_decimal(&buf, d);
			emit_numeric(r, buf.data, st, tok);
		}
	}
	else if (strcmp(tag, TAG_TIMESTAMP) == 0)
	{
		YNode	   *s = scalar_node(n);

		yaml_init_small_buf(&buf);
		yaml_construct_timestamp(s, &buf);
		emit_string(r, s, buf.data, buf.len, st, tok);
	}
	else if (strcmp(tag, TAG_OMAP) == 0)
		res = construct_pairs(r, n, st, "an ordered map");
	else if (strcmp(tag, TAG_PAIRS) == 0)
		res = construct_pairs(r, n, st, "pairs");
	else if (strcmp(tag, TAG_SET) == 0)
	{
		if (n->kind != YN_MAPPING)
			yaml_node_fail(n, psprintf("expected a mapping node, but found %s",
								  n->kind == YN_SCALAR ? "scalar" : "sequence"));
		r->dry++;
		construct_mapping(r, n, NULL);
		r->dry--;
		yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "a !!set cannot be represented in JSON");
	}
	else if (strcmp(tag, TAG_BINARY) == 0)
	{
		(void) scalar_node(n);
		yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "!!binary data cannot be represented in JSON");
	}
	else
		yaml_node_fail(n, psprintf("could not determine a constructor for the tag \"%s\"", tag));

	if (n->kind != YN_SCALAR)
		r->depth--;
	n->building = false;
	return res;
}


/*
 * yaml_construct_document builds the value of the document whose root is
 * root (NULL for an empty stream, which is null) and returns it as
 * pushJsonbValue returned it; the caller raises what yaml_json_fail
 * recorded.
 */
JsonbValue *
yaml_construct_document(YamlReader *r, YNode *root)
{
	JsonbParseState *st = NULL;

	if (root == NULL)
	{
		JsonbValue *nullv = palloc(sizeof(JsonbValue));

		nullv->type = jbvNull;
		return nullv;
	}
	if (root->kind == YN_SCALAR ||
		(strcmp(root->tag, TAG_MAP) != 0 && strcmp(root->tag, TAG_SEQ) != 0 &&
		 strcmp(root->tag, TAG_OMAP) != 0 && strcmp(root->tag, TAG_PAIRS) != 0))
	{
		/* a scalar document is wrapped the way jsonb stores scalars */
		jb_begin_scalar_root(&st);
		construct(r, root, &st, WJB_ELEM);
		return ypush(r, &st, WJB_END_ARRAY, NULL);
	}
	return construct(r, root, &st, WJB_ELEM);
}
