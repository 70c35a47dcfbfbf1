/*-------------------------------------------------------------------------
 *
 * tpl_value.c
 *	  Python values for the template engine.
 *
 * Jinja2 evaluates templates as Python: its values are Python's int (of
 * any size), float, str, bool, None, list and dict, plus Jinja2's
 * Undefined, and its operators are Python's.  This file makes those
 * values, reads them from jsonb, and answers len(), iteration, type names,
 * float() and truthiness.  Dicts are in tpl_dict.c, the operators in
 * tpl_ops.c, and what values become (str(), repr(), json.dumps, jsonb) in
 * tpl_output.c.
 *
 * Integers are int64 until an operation overflows, then numeric.  A JSON
 * number is a float when its jsonb numeric has digits after the point
 * (1.0) and an int otherwise (1, and also 1e3, which jsonb stores as
 * 1000).  Mappings and lists read from jsonb stay inside their container
 * until their elements are needed.  Strings are UTF-8; lengths and
 * indexes count code points, as Python's do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "template.h"

/* a TVal is one 64-byte chunk: values are many */
StaticAssertDecl(sizeof(TVal) <= 64, "TVal grew beyond 64 bytes");

/* tv_new returns a new value of kind, zeroed */
static TVal *
tv_new(TVKind kind)
{
	TVal	   *v = palloc0(sizeof(TVal));

	v->kind = kind;
	return v;
}

/* tv_undef returns Jinja2's Undefined; hint says why, for errors */
TVal *
tv_undef(const char *hint)
{
	TVal	   *v = tv_new(TV_UNDEF);

	v->u.undef.hint = hint;
	return v;
}

/* tv_none returns None */
TVal *
tv_none(void)
{
	return tv_new(TV_NONE);
}

/* tv_bool returns a bool */
TVal *
tv_bool(bool b)
{
	TVal	   *v = tv_new(TV_BOOL);

	v->u.b = b;
	return v;
}

/* tv_int returns an int */
TVal *
tv_int(int64 i)
{
	TVal	   *v = tv_new(TV_INT);

	v->u.i = i;
	return v;
}

/* tv_float returns a float */
TVal *
tv_float(double f)
{
	TVal	   *v = tv_new(TV_FLOAT);

	v->u.f = f;
	return v;
}

/* tv_str returns the string of len bytes at p (not copied) */
TVal *
tv_str(const char *p, int len)
{
	TVal	   *v = tv_new(TV_STR);

	v->u.s.p = p;
	v->u.s.len = len;
	return v;
}

/* tv_cstr returns the string s (not copied) */
TVal *
tv_cstr(const char *s)
{
	return tv_str(s, strlen(s));
}

/* tv_list returns the list of n items (the array is not copied) */
TVal *
tv_list(TVal **items, int n)
{
	TVal	   *v = tv_new(TV_LIST);

	v->u.list.items = items;
	v->u.list.n = n;
	return v;
}

/* tv_tuple returns the tuple of n items (the array is not copied) */
TVal *
tv_tuple(TVal **items, int n)
{
	TVal	   *v = tv_list(items, n);

	v->flags |= TVF_TUPLE;
	return v;
}

/* tv_generator returns a one-shot iterator of n items (what map, select, ... return) */
TVal *
tv_generator(TVal **items, int n)
{
	TVal	   *v = tv_list(items, n);

	v->flags |= TVF_GENERATOR;
	return v;
}

/* tv_dict_new returns a new empty dict */
TVal *
tv_dict_new(void)
{
	return tv_new(TV_DICT);
}

/*
 * tv_buf_init initialises a StringInfo for a value of about size bytes:
 * initStringInfo's 1 kB per value adds up when a filter makes a string per
 * element.
 */
void
tv_buf_init(StringInfo buf, int size)
{
	buf->maxlen = Max(size + 1, 16);
	buf->data = palloc(buf->maxlen);
	buf->data[0] = '\0';
	buf->len = 0;
	buf->cursor = 0;
}

/*
 * tv_num_datum returns an int or big value as a numeric datum.
 */
Datum
tv_num_datum(TVal *v)
{
	if (v->kind == TV_BIG)
		return NumericGetDatum(v->u.big);
	if (v->kind == TV_BOOL)
		return DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.b ? 1 : 0));
	return DirectFunctionCall1(int8_numeric, Int64GetDatum(v->u.i));
}

/*
 * tv_charge_numeric charges an operation on the numerics x and y: in
 * proportion to their size, or (multiplication, division) to the product
 * of their sizes.
 */
void
tv_charge_numeric(Datum x, Datum y, bool quadratic)
{
	Size		a = VARSIZE_ANY(DatumGetPointer(x));
	Size		b = VARSIZE_ANY(DatumGetPointer(y));

	if (quadratic)
		tpl_charge((int64) (a * b / 256));
	else
		tpl_charge_bytes(a + b);
}

/*
 * tv_big returns an integral numeric as an int value, as int64 when it fits.
 */
TVal *
tv_big(Numeric n)
{
	char	   *txt;
	char	   *end;
	int64		i;
	TVal	   *v;

	tv_charge_numeric(NumericGetDatum(n), NumericGetDatum(n), false);
	txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));

	errno = 0;
	i = strtoll(txt, &end, 10);
	if (errno == 0 && *end == '\0')
		return tv_int(i);
	v = tv_new(TV_BIG);
	v->u.big = n;
	return v;
}

/*
 * tv_from_py_int returns the value of an int that py_int_parse read: an
 * int64 when it fits, else a numeric.  Converting to decimal is quadratic
 * in the digits, so it is charged before it is done.
 */
TVal *
tv_from_py_int(const PyIntText *t)
{
	int64		i;
	double		lo;
	double		hi;
	StringInfoData buf;

	if (py_int_to_int64(t, &i))
		return tv_int(i);
	py_int_digit_bounds(t, &lo, &hi);
	tpl_charge((int64) (t->ndigits * hi / 256));
	tv_buf_init(&buf, (int) hi + 1);
	py_int_to_decimal(t, &buf);
	return tv_big(DatumGetNumeric(DirectFunctionCall3(numeric_in,
													  CStringGetDatum(buf.data),
													  ObjectIdGetDatum(InvalidOid),
													  Int32GetDatum(-1))));
}

/*
 * tv_from_numeric classifies a jsonb number: a float if it has digits
 * after the point, else an int.
 */
static TVal *
tv_from_numeric(Numeric n)
{
	int32		scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(n)));

	if (scale > 0)
		return tv_float(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														   NumericGetDatum(n))));
	return tv_big(n);
}

/*
 * tv_from_jsonb_value converts a jsonb value; containers stay lazy.
 */
TVal *
tv_from_jsonb_value(JsonbValue *jv)
{
	TVal	   *v;

	switch (jv->type)
	{
		case jbvNull:
			return tv_none();
		case jbvBool:
			return tv_bool(jv->val.boolean);
		case jbvNumeric:
			return tv_from_numeric(jv->val.numeric);
		case jbvString:
			return tv_str(jv->val.string.val, jv->val.string.len);
		case jbvBinary:
			if (JsonContainerIsArray(jv->val.binary.data))
			{
				v = tv_new(TV_LIST);
				v->u.list.jc = jv->val.binary.data;
				v->u.list.jclen = jv->val.binary.len;
				v->u.list.n = JsonContainerSize(jv->val.binary.data);
			}
			else
			{
				v = tv_new(TV_DICT);
				v->u.dict.jc = jv->val.binary.data;
				v->u.dict.jclen = jv->val.binary.len;
				v->u.dict.n = JsonContainerSize(jv->val.binary.data);
			}
			return v;
		case jbvArray:
			{
				TVal	  **items = palloc(sizeof(TVal *) * Max(jv->val.array.nElems, 1));
				int			i;

				for (i = 0; i < jv->val.array.nElems; i++)
				{
					tpl_charge(1);
					items[i] = tv_from_jsonb_value(&jv->val.array.elems[i]);
				}
				return tv_list(items, jv->val.array.nElems);
			}
		case jbvObject:
			{
				int			i;

				v = tv_dict_new();
				for (i = 0; i < jv->val.object.nPairs; i++)
					tv_dict_set(v, tv_from_jsonb_value(&jv->val.object.pairs[i].key),
								tv_from_jsonb_value(&jv->val.object.pairs[i].value));
				return v;
			}
		default:
			elog(ERROR, "unexpected jsonb value type %d", jv->type);
	}
	return NULL;
}

/*
 * tv_from_jsonb converts a jsonb datum.
 */
TVal *
tv_from_jsonb(Jsonb *jb)
{
	JsonbValue	jv;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		(void) JsonbExtractScalar(&jb->root, &jv);
		return tv_from_jsonb_value(&jv);
	}
	jv.type = jbvBinary;
	jv.val.binary.data = &jb->root;
	jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return tv_from_jsonb_value(&jv);
}

/*
 * tv_materialize turns a lazy list or dict into one with its own items.
 * The items are allocated where v is (v may be a value the broker keeps
 * beyond this rendering), and charged one step each.
 */
void
tv_materialize(TVal *v)
{
	TplOwner	o;

	if (v->kind == TV_LIST && v->u.list.jc != NULL)
	{
		JsonbContainer *jc = v->u.list.jc;
		int			n = v->u.list.n;
		TVal	  **items;
		JsonbIterator *it;
		JsonbValue	jv;
		JsonbIteratorToken tok;
		int			i = 0;

		tpl_reserve((Size) n * (sizeof(TVal *) + sizeof(TVal)));
		tpl_owner_enter(&o, v);
		items = palloc(sizeof(TVal *) * Max(n, 1));
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
			{
				tpl_charge(1);
				items[i++] = tv_from_jsonb_value(&jv);
			}
		v->u.list.items = items;
		v->u.list.n = i;
		v->u.list.jc = NULL;
		tpl_owner_leave(&o);
	}
	else if (v->kind == TV_DICT && v->u.dict.jc != NULL)
	{
		JsonbContainer *jc = v->u.dict.jc;
		int			n = v->u.dict.n;
		JsonbIterator *it;
		JsonbValue	jv;
		JsonbIteratorToken tok;
		int			i = 0;

		tpl_reserve((Size) n * 2 * (sizeof(TVal *) + sizeof(TVal)));
		tpl_owner_enter(&o, v);
		v->u.dict.keys = palloc(sizeof(TVal *) * Max(n, 1));
		v->u.dict.vals = palloc(sizeof(TVal *) * Max(n, 1));
		it = JsonbIteratorInit(jc);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				tpl_charge(1);
				v->u.dict.keys[i] = tv_str(jv.val.string.val, jv.val.string.len);
			}
			else if (tok == WJB_VALUE)
				v->u.dict.vals[i++] = tv_from_jsonb_value(&jv);
		}
		v->u.dict.n = i;
		v->u.dict.jc = NULL;
		tpl_owner_leave(&o);
	}
}

/* py_strlen counts the code points of a UTF-8 string */
static int
py_strlen(const char *p, int len)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* py_char_at returns the index'th code point of p, and its byte length */
const char *
py_char_at(const char *p, int len, int index, int *clen)
{
	int			i = 0;
	int			k = 0;

	while (i < len)
	{
		int			l = pg_utf_mblen((const unsigned char *) p + i);

		if (k == index)
		{
			*clen = Min(l, len - i);
			return p + i;
		}
		i += l;
		k++;
	}
	*clen = 0;
	return NULL;
}

/*
 * tv_len is Python's len(); an Undefined has length 0.
 */
int
tv_len(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
			return 0;
		case TV_STR:
			tpl_charge_bytes(v->u.s.len);
			return py_strlen(v->u.s.p, v->u.s.len);
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				tv_fail("object of type 'generator' has no len()");
			return v->u.list.n;
		case TV_DICT:
			return v->u.dict.n;
		case TV_RANGE:
			{
				int64		lo = v->u.range.start;
				int64		hi = v->u.range.stop;
				int64		st = v->u.range.step;
				uint64		n;

				/* in uint64: hi - lo and -st may not fit in int64 */
				if (st > 0)
					n = lo < hi ? ((uint64) hi - (uint64) lo - 1) / (uint64) st + 1 : 0;
				else
					n = lo > hi ? ((uint64) lo - (uint64) hi - 1) / ((uint64) 0 - (uint64) st) + 1 : 0;
				if (n > INT_MAX)
					tv_fail("range is too long");
				return (int) n;
			}
		default:
			tv_fail("object of type '%s' has no len()", tv_type_name(v));
	}
	return 0;
}

/*
 * tv_list_get returns element i (0 <= i < len) of a list or range.
 */
TVal *
tv_list_get(TVal *v, int i)
{
	if (v->kind == TV_RANGE)
		return tv_int(v->u.range.start + (int64) i * v->u.range.step);
	Assert(v->kind == TV_LIST);
	if (v->u.list.jc != NULL)
		return tv_from_jsonb_value(getIthJsonbValueFromContainer(v->u.list.jc, i));
	return v->u.list.items[i];
}

/*
 * tv_iter_items returns what "for x in v" iterates over: list elements,
 * dict keys, characters of a string, range members; nothing for Undefined.
 */
TVal *
tv_iter_items(TVal *v, int *n)
{
	TVal	   *out;
	int			i;

	switch (v->kind)
	{
		case TV_UNDEF:
			*n = 0;
			return tv_list(NULL, 0);
		case TV_LIST:
			tv_materialize(v);
			if (v->flags & TVF_GENERATOR)
			{
				/* what is left of a generator, which this consumes */
				*n = v->u.list.n - v->u.list.next;
				out = tv_list(v->u.list.items + v->u.list.next, *n);
				v->u.list.next = v->u.list.n;
				return out;
			}
			*n = v->u.list.n;
			return v;
		case TV_DICT:
			tv_materialize(v);
			*n = v->u.dict.n;
			return tv_list(v->u.dict.keys, v->u.dict.n);
		case TV_STR:
			{
				int			count = py_strlen(v->u.s.p, v->u.s.len);
				TVal	  **items;
				int			k = 0;

				tpl_reserve((Size) count * (sizeof(TVal *) + sizeof(TVal)));
				items = palloc(sizeof(TVal *) * Max(count, 1));
				for (i = 0; i < v->u.s.len;)
				{
					int			l = Min(pg_utf_mblen((const unsigned char *) v->u.s.p + i),
										v->u.s.len - i);

					tpl_charge(1);
					items[k++] = tv_str(v->u.s.p + i, l);
					i += l;
				}
				*n = k;
				return tv_list(items, k);
			}
		case TV_RANGE:
			{
				int			count = tv_len(v);
				TVal	  **items;

				tpl_reserve((Size) count * (sizeof(TVal *) + sizeof(TVal)));
				items = palloc(sizeof(TVal *) * Max(count, 1));
				for (i = 0; i < count; i++)
				{
					tpl_charge(1);
					items[i] = tv_int(v->u.range.start + (int64) i * v->u.range.step);
				}
				*n = count;
				out = tv_list(items, count);
				return out;
			}
		default:
			tv_fail("'%s' object is not iterable", tv_type_name(v));
	}
	return NULL;
}

/*
 * tv_type_name is the Python type name of a value.
 */
const char *
tv_type_name(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
			return "Undefined";
		case TV_NONE:
			return "NoneType";
		case TV_BOOL:
			return "bool";
		case TV_INT:
		case TV_BIG:
			return "int";
		case TV_FLOAT:
			return "float";
		case TV_STR:
			return (v->flags & TVF_MARKUP) ? "Markup" : "str";
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				return "generator";
			if (v->flags & TVF_KEYS)
				return "dict_keys";
			if (v->flags & TVF_VALUES)
				return "dict_values";
			if (v->flags & TVF_ITEMS)
				return "dict_items";
			return (v->flags & TVF_TUPLE) ? "tuple" : "list";
		case TV_DICT:
			return "dict";
		case TV_RANGE:
			return "range";
		case TV_LOOP:
			return "LoopContext";
	}
	return "object";
}

/* tv_is_number says whether v is a bool, an int or a float */
bool
tv_is_number(TVal *v)
{
	return v->kind == TV_BOOL || v->kind == TV_INT || v->kind == TV_BIG || v->kind == TV_FLOAT;
}

/*
 * tv_to_double converts a number to float as Python's float() does.
 */
double
tv_to_double(TVal *v)
{
	switch (v->kind)
	{
		case TV_BOOL:
			return v->u.b ? 1.0 : 0.0;
		case TV_INT:
			return (double) v->u.i;
		case TV_FLOAT:
			return v->u.f;
		case TV_BIG:
			{
				char	   *txt;
				double		d;

				tv_charge_numeric(NumericGetDatum(v->u.big), NumericGetDatum(v->u.big), false);
				txt = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->u.big)));
				d = strtod(txt, NULL);

				if (isinf(d))
					tv_fail("int too large to convert to float");
				return d;
			}
		default:
			tv_fail("must be real number, not %s", tv_type_name(v));
	}
	return 0;
}

/*
 * tv_to_index is Python's operator.index() of an int or bool (not one
 * beyond 64 bits); anything else is a TypeError, whose message ends with
 * what.
 */
int64
tv_to_index(TVal *v, const char *what)
{
	if (v->kind == TV_INT)
		return v->u.i;
	if (v->kind == TV_BOOL)
		return v->u.b ? 1 : 0;
	tv_fail("'%s' object cannot be interpreted as an integer%s", tv_type_name(v), what);
	return 0;
}

/*
 * tv_truthy is Python's bool().
 */
bool
tv_truthy(TVal *v)
{
	switch (v->kind)
	{
		case TV_UNDEF:
		case TV_NONE:
			return false;
		case TV_BOOL:
			return v->u.b;
		case TV_INT:
			return v->u.i != 0;
		case TV_BIG:
			return true;
		case TV_FLOAT:
			return v->u.f != 0.0;
		case TV_STR:
			return v->u.s.len > 0;
		case TV_LIST:
			if (v->flags & TVF_GENERATOR)
				return true;
			return v->u.list.n > 0;
		case TV_DICT:
			return v->u.dict.n > 0;
		case TV_RANGE:
			return tv_len(v) > 0;
		case TV_LOOP:
			return true;
	}
	return true;
}

