/*-------------------------------------------------------------------------
 *
 * tpl_output.c
 *	  What template values become: str(), repr(), json.dumps and jsonb.
 *
 * {{ x }} prints str(x): Python's spelling of each value, repr() inside
 * lists and dicts (with Python's choice of quotes and escapes), floats as
 * repr() writes them (pynum.c), ints refused beyond 4300 digits as Python
 * 3.11 refuses them.  The tojson filter is json.dumps(sort_keys=True).  A
 * value that becomes jsonb (noetl.render, noetl.eval, the broker) keeps
 * its JSON type; floats get at least one fractional digit, so that jsonb
 * keeps them apart from ints, and containers read from jsonb are copied
 * without being expanded.
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
#include "template.h"

/* ------------------------------------------------------------ str / repr */

/*
 * py_printable approximates Python's str.isprintable for one code point:
 * control characters, separators other than space, format characters,
 * surrogates, private use and non-characters are not printable.
 */
static bool
py_printable(pg_wchar c)
{
	if (c < 0x20 || (c >= 0x7F && c <= 0xA0))
		return false;
	if (c == 0xAD || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
		(c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
		(c >= 0x2066 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
		(c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x600 && c <= 0x605) ||
		c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E ||
		(c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFDD0 && c <= 0xFDEF) ||
		(c & 0xFFFE) == 0xFFFE || c >= 0xF0000 ||
		(c >= 0xE0000 && c <= 0xE0FFF))
		return false;
	return true;
}

/*
 * repr_str appends Python's repr() of a string.
 */
static void
repr_str(StringInfo out, const char *p, int len)
{
	bool		has_single = memchr(p, '\'', len) != NULL;
	bool		has_double = memchr(p, '"', len) != NULL;
	char		quote = (has_single && !has_double) ? '"' : '\'';
	int			i = 0;

	tpl_charge_alloc((Size) len);
	appendStringInfoChar(out, quote);
	while (i < len)
	{
		unsigned char c = (unsigned char) p[i];
		int			l;
		pg_wchar	w;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		if (c < 0x80)
		{
			if (c == quote || c == '\\')
			{
				appendStringInfoChar(out, '\\');
				appendStringInfoChar(out, c);
			}
			else if (c == '\t')
				appendStringInfoString(out, "\\t");
			else if (c == '\n')
				appendStringInfoString(out, "\\n");
			else if (c == '\r')
				appendStringInfoString(out, "\\r");
			else if (c < 0x20 || c == 0x7F)
				appendStringInfo(out, "\\x%02x", c);
			else
				appendStringInfoChar(out, c);
			i++;
			continue;
		}
		l = Min(pg_utf_mblen((const unsigned char *) p + i), len - i);
		w = utf8_to_unicode((const unsigned char *) p + i);
		if (py_printable(w))
			appendBinaryStringInfo(out, p + i, l);
		else if (w <= 0xFF)
			appendStringInfo(out, "\\x%02x", (unsigned int) w);
		else if (w <= 0xFFFF)
			appendStringInfo(out, "\\u%04x", (unsigned int) w);
		else
			appendStringInfo(out, "\\U%08x", (unsigned int) w);
		i += l;
	}
	appendStringInfoChar(out, quote);
}

/* append_number appends str() of a bool, an int or a float */
static void
append_number(StringInfo out, TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			appendStringInfoString(out, v->u.b ? "True" : "False");
			break;
		case TV_INT:
			appendStringInfo(out, INT64_FORMAT, v->u.i);
			break;
		case TV_BIG:
			{
				char	   *txt;

				tv_charge_numeric(NumericGetDatum(v->u.big), NumericGetDatum(v->u.big), false);
				txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->u.big)));
				/* Python 3.11's str() of an int stops at 4300 digits */
				if (strlen(txt) - (txt[0] == '-') > PY_INT_MAX_DIGITS)
					tv_fail("Exceeds the limit (%d digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit",
							PY_INT_MAX_DIGITS);
				appendStringInfoString(out, txt);
				break;
			}
		case TV_FLOAT:
			py_float_repr(out, v->u.f);
			break;
		default:
			break;
	}
}

/* repr_or_str appends repr(v), or str(v) unless repr */
static void
repr_or_str(StringInfo out, TVal *v, bool repr)
{
	int			i;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_UNDEF:
			if (repr)
				appendStringInfoString(out, "Undefined");
			break;
		case TV_NONE:
			appendStringInfoString(out, "None");
			break;
		case TV_BOOL:
		case TV_INT:
		case TV_BIG:
		case TV_FLOAT:
			append_number(out, v);
			break;
		case TV_STR:
			if (!repr)
			{
				tpl_charge_alloc(v->u.s.len);
				appendBinaryStringInfo(out, v->u.s.p, v->u.s.len);
			}
			else if (v->flags & TVF_MARKUP)
			{
				appendStringInfoString(out, "Markup(");
				repr_str(out, v->u.s.p, v->u.s.len);
				appendStringInfoChar(out, ')');
			}
			else
				repr_str(out, v->u.s.p, v->u.s.len);
			break;
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				tv_fail("a generator (the result of unique, map, select, batch, ...) cannot be printed; apply |list first");
			if (v->flags & TVF_VIEW)
			{
				/* dict_keys(['a']): the view's type around a list */
				appendStringInfo(out, "%s(", tv_type_name(v));
			}
			appendStringInfoChar(out, (v->flags & TVF_TUPLE) ? '(' : '[');
			for (i = 0; i < v->u.list.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				repr_or_str(out, tv_list_get(v, i), true);
			}
			if ((v->flags & TVF_TUPLE) && v->u.list.n == 1)
				appendStringInfoChar(out, ',');
			appendStringInfoChar(out, (v->flags & TVF_TUPLE) ? ')' : ']');
			if (v->flags & TVF_VIEW)
				appendStringInfoChar(out, ')');
			break;
		case TV_DICT:
			tv_materialize(v);
			appendStringInfoChar(out, '{');
			for (i = 0; i < v->u.dict.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, ", ");
				repr_or_str(out, v->u.dict.keys[i], true);
				appendStringInfoString(out, ": ");
				repr_or_str(out, v->u.dict.vals[i], true);
			}
			appendStringInfoChar(out, '}');
			break;
		case TV_RANGE:
			if (v->u.range.step == 1)
				appendStringInfo(out, "range(" INT64_FORMAT ", " INT64_FORMAT ")",
								 v->u.range.start, v->u.range.stop);
			else
				appendStringInfo(out, "range(" INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT ")",
								 v->u.range.start, v->u.range.stop, v->u.range.step);
			break;
		case TV_LOOP:
			appendStringInfo(out, "<LoopContext " INT64_FORMAT "/" INT64_FORMAT ">",
							 v->u.loop.index0 + 1, v->u.loop.length);
			break;
	}
}

/* tv_str_out appends Python's str(v) (Undefined prints nothing) */
void
tv_str_out(StringInfo out, TVal *v)
{
	repr_or_str(out, v, false);
}

/* tv_repr appends Python's repr(v) */
void
tv_repr(StringInfo out, TVal *v)
{
	repr_or_str(out, v, true);
}

/*
 * tv_soft_str is Jinja2's soft_str: a string stays itself (Markup too),
 * anything else becomes str() of it.
 */
TVal *
tv_soft_str(TVal *v)
{
	StringInfoData buf;

	if (v->kind == TV_STR)
		return v;
	tv_buf_init(&buf, 16);
	tv_str_out(&buf, v);
	return tv_str(buf.data, buf.len);
}

/* tv_plain_str is str(): the text of any value, never Markup */
TVal *
tv_plain_str(TVal *v)
{
	TVal	   *s = tv_soft_str(v);

	if (s->flags & TVF_MARKUP)
		s = tv_str(s->u.s.p, s->u.s.len);
	return s;
}

/* ------------------------------------------------------------ json.dumps */

/* json_string appends a string as json.dumps writes it (ensure_ascii) */
static void
json_string(StringInfo out, const char *p, int len)
{
	int			i = 0;

	tpl_charge_alloc((Size) len);
	appendStringInfoChar(out, '"');
	while (i < len)
	{
		unsigned char c = (unsigned char) p[i];

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		if (c < 0x80)
		{
			switch (c)
			{
				case '"':
					appendStringInfoString(out, "\\\"");
					break;
				case '\\':
					appendStringInfoString(out, "\\\\");
					break;
				case '\n':
					appendStringInfoString(out, "\\n");
					break;
				case '\r':
					appendStringInfoString(out, "\\r");
					break;
				case '\t':
					appendStringInfoString(out, "\\t");
					break;
				case '\b':
					appendStringInfoString(out, "\\b");
					break;
				case '\f':
					appendStringInfoString(out, "\\f");
					break;
				default:
					if (c < 0x20 || c == 0x7F)
						appendStringInfo(out, "\\u%04x", c);
					else
						appendStringInfoChar(out, c);
			}
			i++;
		}
		else
		{
			int			l = Min(pg_utf_mblen((const unsigned char *) p + i), len - i);
			pg_wchar	w = utf8_to_unicode((const unsigned char *) p + i);

			if (w > 0xFFFF)
			{
				w -= 0x10000;
				appendStringInfo(out, "\\u%04x\\u%04x",
								 (unsigned int) (0xD800 | (w >> 10)),
								 (unsigned int) (0xDC00 | (w & 0x3FF)));
			}
			else
				appendStringInfo(out, "\\u%04x", (unsigned int) w);
			i += l;
		}
	}
	appendStringInfoChar(out, '"');
}

/* json_newline starts a new line indented for level (json.dumps(indent=)) */
static void
json_newline(StringInfo out, int indent, int level)
{
	int			i;

	tpl_charge_alloc((Size) indent * level + 1);
	appendStringInfoChar(out, '\n');
	for (i = 0; i < indent * level; i++)
		appendStringInfoChar(out, ' ');
}

/* json_key appends the json.dumps spelling of a dict key */
static void
json_key(StringInfo out, TVal *k)
{
	StringInfoData buf;

	switch (k->kind)
	{
		case TV_STR:
			json_string(out, k->u.s.p, k->u.s.len);
			return;
		case TV_BOOL:
			appendStringInfoString(out, k->u.b ? "\"true\"" : "\"false\"");
			return;
		case TV_NONE:
			appendStringInfoString(out, "\"null\"");
			return;
		case TV_INT:
		case TV_BIG:
		case TV_FLOAT:
			tv_buf_init(&buf, 32);
			if (k->kind == TV_FLOAT && isnan(k->u.f))
				appendStringInfoString(&buf, "NaN");
			else if (k->kind == TV_FLOAT && isinf(k->u.f))
				appendStringInfoString(&buf, k->u.f > 0 ? "Infinity" : "-Infinity");
			else
				append_number(&buf, k);
			json_string(out, buf.data, buf.len);
			return;
		default:
			tv_fail("keys must be str, int, float, bool or None, not %s", tv_type_name(k));
	}
}

/* key_sort_cmp orders dict keys for json.dumps(sort_keys=True) */
static int
key_sort_cmp(const void *a, const void *b)
{
	TVal	   *x = **(TVal ***) a;
	TVal	   *y = **(TVal ***) b;

	tpl_charge(1);
	return tv_compare(x, y, "<");
}

/*
 * tv_json_dumps appends json.dumps(v, sort_keys=True) (with indent when
 * indent >= 0), as the tojson filter calls it.
 */
void
tv_json_dumps(StringInfo out, TVal *v, int indent, int level)
{
	int			i;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_NONE:
			appendStringInfoString(out, "null");
			return;
		case TV_BOOL:
			appendStringInfoString(out, v->u.b ? "true" : "false");
			return;
		case TV_INT:
		case TV_BIG:
			append_number(out, v);
			return;
		case TV_FLOAT:
			if (isnan(v->u.f))
				appendStringInfoString(out, "NaN");
			else if (isinf(v->u.f))
				appendStringInfoString(out, v->u.f > 0 ? "Infinity" : "-Infinity");
			else
				py_float_repr(out, v->u.f);
			return;
		case TV_STR:
			json_string(out, v->u.s.p, v->u.s.len);
			return;
		case TV_LIST:
			if (v->flags & (TVF_GENERATOR | TVF_VIEW))
				break;
			if (v->u.list.n == 0)
			{
				appendStringInfoString(out, "[]");
				return;
			}
			appendStringInfoChar(out, '[');
			for (i = 0; i < v->u.list.n; i++)
			{
				if (i > 0)
					appendStringInfoString(out, indent >= 0 ? "," : ", ");
				if (indent >= 0)
					json_newline(out, indent, level + 1);
				tv_json_dumps(out, tv_list_get(v, i), indent, level + 1);
			}
			if (indent >= 0)
				json_newline(out, indent, level);
			appendStringInfoChar(out, ']');
			return;
		case TV_DICT:
			{
				TVal	  **order[1];
				TVal	 ***idx;

				tv_materialize(v);
				if (v->u.dict.n == 0)
				{
					appendStringInfoString(out, "{}");
					return;
				}
				/* sort pointers to the keys, keeping each key's value */
				idx = palloc(sizeof(TVal **) * v->u.dict.n);
				for (i = 0; i < v->u.dict.n; i++)
					idx[i] = &v->u.dict.keys[i];
				(void) order;
				qsort(idx, v->u.dict.n, sizeof(TVal **), key_sort_cmp);
				appendStringInfoChar(out, '{');
				for (i = 0; i < v->u.dict.n; i++)
				{
					int			k = idx[i] - v->u.dict.keys;

					if (i > 0)
						appendStringInfoString(out, indent >= 0 ? "," : ", ");
					if (indent >= 0)
						json_newline(out, indent, level + 1);
					json_key(out, v->u.dict.keys[k]);
					appendStringInfoString(out, ": ");
					tv_json_dumps(out, v->u.dict.vals[k], indent, level + 1);
				}
				if (indent >= 0)
					json_newline(out, indent, level);
				appendStringInfoChar(out, '}');
				return;
			}
		default:
			break;
	}
	tv_fail("Object of type %s is not JSON serializable", tv_type_name(v));
}

/* ------------------------------------------------------------ to jsonb */

/*
 * push_key pushes a dict key with its json.dumps spelling.
 */
static void
push_key(JsonbParseState **st, TVal *k)
{
	JsonbValue	jk;
	StringInfoData buf;

	jk.type = jbvString;
	if (k->kind == TV_STR)
	{
		jk.val.string.val = (char *) k->u.s.p;
		jk.val.string.len = k->u.s.len;
	}
	else
	{
		tv_buf_init(&buf, 32);
		switch (k->kind)
		{
			case TV_BOOL:
				appendStringInfoString(&buf, k->u.b ? "true" : "false");
				break;
			case TV_NONE:
				appendStringInfoString(&buf, "null");
				break;
			case TV_INT:
			case TV_BIG:
			case TV_FLOAT:
				if (k->kind == TV_FLOAT && !isfinite(k->u.f))
					tv_fail("key %s cannot be represented in JSON", isnan(k->u.f) ? "nan" : "inf");
				append_number(&buf, k);
				break;
			default:
				tv_fail("keys must be str, int, float, bool or None, not %s", tv_type_name(k));
		}
		jk.val.string.val = buf.data;
		jk.val.string.len = buf.len;
	}
	pushJsonbValue(st, WJB_KEY, &jk);
}

/*
 * tv_to_jsonb_value pushes v into a jsonb under construction; returns
 * what pushJsonbValue returned for v's last token.  Undefined becomes
 * null; containers read from jsonb are copied without being expanded.
 */
static JsonbValue *
tv_to_jsonb_value(TVal *v, JsonbParseState **st, JsonbIteratorToken tok)
{
	JsonbValue	jv;
	int			i;
	StringInfoData buf;

	check_stack_depth();
	tpl_charge(1);
	switch (v->kind)
	{
		case TV_UNDEF:
		case TV_NONE:
			jv.type = jbvNull;
			return pushJsonbValue(st, tok, &jv);
		case TV_BOOL:
			jv.type = jbvBool;
			jv.val.boolean = v->u.b;
			return pushJsonbValue(st, tok, &jv);
		case TV_INT:
			jv.type = jbvNumeric;
			jv.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.i)));
			return pushJsonbValue(st, tok, &jv);
		case TV_BIG:
			jv.type = jbvNumeric;
			jv.val.numeric = v->u.big;
			return pushJsonbValue(st, tok, &jv);
		case TV_FLOAT:
			if (!isfinite(v->u.f))
				tv_fail("float %s cannot be represented in JSON",
						isnan(v->u.f) ? "nan" : (v->u.f > 0 ? "inf" : "-inf"));
			tv_buf_init(&buf, 32);
			py_float_decimal(&buf, v->u.f);
			jv.type = jbvNumeric;
			jv.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																 CStringGetDatum(buf.data),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)));
			return pushJsonbValue(st, tok, &jv);
		case TV_STR:
			if (v->u.s.len > JENTRY_OFFLENMASK)
				tv_fail("string too long to represent as jsonb string");
			jv.type = jbvString;
			jv.val.string.val = (char *) v->u.s.p;
			jv.val.string.len = v->u.s.len;
			return pushJsonbValue(st, tok, &jv);
		case TV_LIST:
			if (v->u.list.jc != NULL && tok != WJB_DONE)
			{
				/* pushJsonbValue copies the container, element by element */
				tpl_charge_alloc((Size) v->u.list.jclen * 2);
				jv.type = jbvBinary;
				jv.val.binary.data = v->u.list.jc;
				jv.val.binary.len = 0;
				return pushJsonbValue(st, tok, &jv);
			}
			pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
			for (i = 0; i < v->u.list.n; i++)
				tv_to_jsonb_value(tv_list_get(v, i), st, WJB_ELEM);
			return pushJsonbValue(st, WJB_END_ARRAY, NULL);
		case TV_RANGE:
			{
				int			n = tv_len(v);

				pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
				for (i = 0; i < n; i++)
					tv_to_jsonb_value(tv_list_get(v, i), st, WJB_ELEM);
				return pushJsonbValue(st, WJB_END_ARRAY, NULL);
			}
		case TV_DICT:
			if (v->u.dict.jc != NULL && tok != WJB_DONE)
			{
				tpl_charge_alloc((Size) v->u.dict.jclen * 2);
				jv.type = jbvBinary;
				jv.val.binary.data = v->u.dict.jc;
				jv.val.binary.len = 0;
				return pushJsonbValue(st, tok, &jv);
			}
			tv_materialize(v);
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			for (i = 0; i < v->u.dict.n; i++)
			{
				push_key(st, v->u.dict.keys[i]);
				tv_to_jsonb_value(v->u.dict.vals[i], st, WJB_VALUE);
			}
			return pushJsonbValue(st, WJB_END_OBJECT, NULL);
		default:
			tv_fail("a value of type '%s' cannot be represented in JSON", tv_type_name(v));
	}
	return NULL;
}

/*
 * tv_to_jsonb converts a value to a jsonb datum.
 */
Jsonb *
tv_to_jsonb(TVal *v)
{
	JsonbParseState *st = NULL;

	if ((v->kind == TV_LIST && v->u.list.jc != NULL) ||
		(v->kind == TV_DICT && v->u.dict.jc != NULL))
	{
		JsonbValue	jv;

		jv.type = jbvBinary;
		jv.val.binary.data = v->kind == TV_LIST ? v->u.list.jc : v->u.dict.jc;
		jv.val.binary.len = v->kind == TV_LIST ? v->u.list.jclen : v->u.dict.jclen;
		return JsonbValueToJsonb(&jv);
	}
	if (v->kind != TV_LIST && v->kind != TV_DICT && v->kind != TV_RANGE)
	{

		jb_begin_scalar_root(&st);
		tv_to_jsonb_value(v, &st, WJB_ELEM);
		return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
	}
	return JsonbValueToJsonb(tv_to_jsonb_value(v, &st, WJB_DONE));
}

