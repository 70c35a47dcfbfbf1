/*-------------------------------------------------------------------------
 *
 * yaml_construct.c
 *	  Nodes become values, as PyYAML's SafeConstructor builds them, and jsonb.
 *
 * Tags become values: merge keys ("<<") are flattened as
 * SafeConstructor.flatten_mapping does, ints and floats are read with
 * Python's int() and float() (pynum.c), timestamps become ISO 8601 text,
 * and mapping keys are compared the way a Python dict compares them (1,
 * 1.0 and true are one key; the first spelling and the last value win).
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
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

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
	yaml_node_fail(n, psprintf("expected a scalar node, but found %s",
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
 * value (recorded with yaml_json_fail).  The text is kept in the node: aliases
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
		yaml_node_fail(n, "invalid integer \"\"");
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
		yaml_node_fail(n, psprintf("invalid integer \"%s\"", n->value));
	if (res == YINT_TOO_LONG)
		yaml_node_fail(n, psprintf("invalid integer: it has more than the %d digits Python converts",
							  PY_INT_MAX_DIGITS));
	if (res == YINT_TOO_BIG || digits.len - (digits.data[0] == '-') > PY_INT_MAX_DIGITS)
	{
		yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
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
		yaml_node_fail(n, "invalid float \"\"");
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
				yaml_node_fail(n, psprintf("invalid float \"%s\"", n->value));
			d += p * base;
			base *= 60;
			if (start == v)
				break;
			end = start - 1;
		}
	}
	else if (!py_float_parse(v, strlen(v), &d))
		yaml_node_fail(n, psprintf("invalid float \"%s\"", n->value));
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

	if (!yaml_scan_timestamp(n->value, yaml_match_len(n->value, n->len), false, &ts))
		yaml_node_fail(n, psprintf("invalid timestamp \"%s\"", n->value));
	if (ts.year < 1 || ts.month < 1 || ts.month > 12)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	dim = mdays[ts.month - 1] + (ts.month == 2 && is_leap(ts.year) ? 1 : 0);
	if (ts.day < 1 || ts.day > dim)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	appendStringInfo(out, "%04d-%02d-%02d", ts.year, ts.month, ts.day);
	if (!ts.has_time)
		return;
	if (ts.hour > 23 || ts.minute > 59 || ts.second > 59)
		yaml_node_fail(n, psprintf("timestamp \"%s\" is out of range", n->value));
	appendStringInfo(out, "T%02d:%02d:%02d", ts.hour, ts.minute, ts.second);
	if (ts.micro != 0)
		appendStringInfo(out, ".%06d", ts.micro);
	if (ts.has_tz)
	{
		int			minutes = ts.tz_utc ? 0 : ts.tz_hour * 60 + ts.tz_minute;

		if (minutes >= 24 * 60)
			yaml_node_fail(n, psprintf("timestamp \"%s\" has an out-of-range time zone", n->value));
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
	yaml_node_fail(n, psprintf("invalid boolean \"%s\"", n->value));
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
			yaml_json_fail(r, k, ERRCODE_INVALID_TEXT_REPRESENTATION,
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
			yaml_json_fail(r, n, ERRCODE_INVALID_TEXT_REPRESENTATION,
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
		JsonbValue	arr;

		arr.type = jbvArray;
		arr.val.array.rawScalar = true;
		arr.val.array.nElems = 1;
		arr.val.array.elems = NULL;
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, &arr);
		construct(r, root, &st, WJB_ELEM);
		return ypush(r, &st, WJB_END_ARRAY, NULL);
	}
	return construct(r, root, &st, WJB_ELEM);
}
