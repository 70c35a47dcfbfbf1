/*-------------------------------------------------------------------------
 *
 * tpl_coerce.c
 *	  NoETL's coercion of rendered text back to values.
 *
 * NoETL's render_template (noetl/core/dsl/render.py, at 58c2a16b and
 * 32245391) does not return the text Jinja2 rendered as it is: text that
 * starts with "[" and ends with "]", or starts with "{" and ends with "}",
 * is json.loads()'d, or failing that ast.literal_eval()'d; then "true" and
 * "false" in any case become booleans, text of digits an int, float-like
 * text (digits with one ".", "e" or "E" and a leading sign) a float, text
 * that is "none" or "null" once stripped and in any case None, and
 * anything else ast.literal_eval() can read that value; text that is only
 * whitespace becomes "".  Anything else stays the text.
 *
 * tpl_coerce applies these rules.  It reads JSON as json.loads does and
 * the Python literals that can be JSON (strings, numbers, True, False,
 * None, lists, tuples as lists, dicts) as ast.literal_eval does; what
 * cannot be JSON (sets, bytes, complex numbers, NaN and infinities, a
 * lone surrogate, "\0") leaves the text as it is, as does a literal
 * nested deeper than noetl.max_json_depth.  Nothing here raises: text it
 * cannot read is text.  The work is charged to the rendering's budget.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"

#include "guc.h"
#include "template.h"

typedef struct Lit
{
	const char *p;
	const char *end;
	bool		python;			/* ast.literal_eval, else json.loads */
	int			depth;			/* brackets open */
} Lit;

static TVal *lit_value(Lit *l);

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		c == '_' || (unsigned char) c >= 0x80;
}

/*
 * skip_blanks skips what may stand between tokens: JSON's four blanks;
 * in Python, blanks and comments, and line ends only inside brackets.
 */
static void
skip_blanks(Lit *l)
{
	while (l->p < l->end)
	{
		char		c = *l->p;

		if (c == ' ' || c == '\t' || (l->python && c == '\f') ||
			((!l->python || l->depth > 0) && (c == '\n' || c == '\r')))
			l->p++;
		else if (l->python && c == '#')
		{
			while (l->p < l->end && *l->p != '\n' && *l->p != '\r')
				l->p++;
		}
		else
			break;
	}
}

static bool
take(Lit *l, char c)
{
	skip_blanks(l);
	if (l->p < l->end && *l->p == c)
	{
		l->p++;
		return true;
	}
	return false;
}

static bool
word(Lit *l, const char *w)
{
	int			n = strlen(w);

	if (l->end - l->p < n || memcmp(l->p, w, n) != 0 ||
		(l->end - l->p > n && is_ident(l->p[n])))
		return false;
	l->p += n;
	return true;
}

/* append_code appends code point c in UTF-8; false for what JSON cannot hold */
static bool
append_code(StringInfo buf, pg_wchar c)
{
	unsigned char u[8];

	if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return false;
	unicode_to_utf8(c, u);
	appendBinaryStringInfo(buf, (char *) u, pg_utf_mblen(u));
	return true;
}

static int
hex_value(const char *p, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		char		c = p[i];

		v <<= 4;
		if (is_digit(c))
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* json_string reads a JSON string, l->p at its opening quote */
static TVal *
json_string(Lit *l)
{
	StringInfoData buf;

	l->p++;
	tv_buf_init(&buf, 32);
	while (l->p < l->end)
	{
		unsigned char c = (unsigned char) *l->p;

		if (c == '"')
		{
			l->p++;
			return tv_str(buf.data, buf.len);
		}
		if (c < 0x20)
			return NULL;		/* json.loads is strict */
		if (c != '\\')
		{
			appendStringInfoChar(&buf, (char) c);
			l->p++;
			continue;
		}
		if (l->end - l->p < 2)
			return NULL;
		c = (unsigned char) l->p[1];
		l->p += 2;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&buf, (char) c);
				break;
			case 'b':
				appendStringInfoChar(&buf, '\b');
				break;
			case 'f':
				appendStringInfoChar(&buf, '\f');
				break;
			case 'n':
				appendStringInfoChar(&buf, '\n');
				break;
			case 'r':
				appendStringInfoChar(&buf, '\r');
				break;
			case 't':
				appendStringInfoChar(&buf, '\t');
				break;
			case 'u':
				{
					int			u;

					if (l->end - l->p < 4 || (u = hex_value(l->p, 4)) < 0)
						return NULL;
					l->p += 4;
					if (u >= 0xD800 && u <= 0xDBFF && l->end - l->p >= 6 &&
						l->p[0] == '\\' && l->p[1] == 'u')
					{
						int			lo = hex_value(l->p + 2, 4);

						if (lo >= 0xDC00 && lo <= 0xDFFF)
						{
							u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
							l->p += 6;
						}
					}
					if (!append_code(&buf, (pg_wchar) u))
						return NULL;
					break;
				}
			default:
				return NULL;
		}
	}
	return NULL;
}

/*
 * py_escape reads the escape at l->p (after the backslash) of a Python
 * string that is not raw.
 */
static bool
py_escape(Lit *l, StringInfo buf)
{
	char		c = *l->p++;
	int			n;
	int			v;

	switch (c)
	{
		case '\n':
			return true;		/* a continued line */
		case '\r':
			if (l->p < l->end && *l->p == '\n')
				l->p++;
			return true;
		case '\\':
		case '\'':
		case '"':
			appendStringInfoChar(buf, c);
			return true;
		case 'a':
			appendStringInfoChar(buf, '\a');
			return true;
		case 'b':
			appendStringInfoChar(buf, '\b');
			return true;
		case 'f':
			appendStringInfoChar(buf, '\f');
			return true;
		case 'n':
			appendStringInfoChar(buf, '\n');
			return true;
		case 'r':
			appendStringInfoChar(buf, '\r');
			return true;
		case 't':
			appendStringInfoChar(buf, '\t');
			return true;
		case 'v':
			appendStringInfoChar(buf, '\v');
			return true;
		case 'x':
		case 'u':
		case 'U':
			n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			if (l->end - l->p < n)
				return false;
			if (n == 8)
			{
				int			hi = hex_value(l->p, 4);
				int			lo = hex_value(l->p + 4, 4);

				if (hi < 0 || lo < 0 || hi > 0x10)
					return false;
				v = (hi << 16) | lo;
			}
			else if ((v = hex_value(l->p, n)) < 0)
				return false;
			l->p += n;
			return append_code(buf, (pg_wchar) v);
		default:
			if (c >= '0' && c <= '7')
			{
				v = c - '0';
				for (n = 1; n < 3 && l->p < l->end && *l->p >= '0' && *l->p <= '7'; n++)
					v = v * 8 + (*l->p++ - '0');
				return append_code(buf, (pg_wchar) v);
			}
			if (c == 'N')
				return false;	/* \N{name}: not read here */
			/* an unknown escape keeps its backslash */
			appendStringInfoChar(buf, '\\');
			l->p--;
			return true;
	}
}

/* py_string reads adjacent Python string literals, l->p at the first */
static TVal *
py_string(Lit *l)
{
	StringInfoData buf;
	bool		any = false;

	tv_buf_init(&buf, 32);
	for (;;)
	{
		const char *save = l->p;
		bool		raw = false;
		char		q;
		bool		triple;

		skip_blanks(l);
		if (l->p < l->end && (*l->p == 'r' || *l->p == 'R' || *l->p == 'u' || *l->p == 'U') &&
			l->end - l->p > 1 && (l->p[1] == '\'' || l->p[1] == '"'))
			raw = (*l->p++ == 'r' || l->p[-1] == 'R');
		if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
		{
			l->p = save;
			break;
		}
		q = *l->p;
		triple = l->end - l->p >= 3 && l->p[1] == q && l->p[2] == q;
		l->p += triple ? 3 : 1;
		for (;;)
		{
			if (l->p >= l->end)
				return NULL;
			if (*l->p == q && (!triple || (l->end - l->p >= 3 && l->p[1] == q && l->p[2] == q)))
			{
				l->p += triple ? 3 : 1;
				break;
			}
			if (!triple && (*l->p == '\n' || *l->p == '\r'))
				return NULL;
			if (*l->p == '\\')
			{
				if (l->end - l->p < 2)
					return NULL;
				l->p++;
				if (raw)
				{
					/* a raw string keeps the backslash and what it quotes */
					appendStringInfoChar(&buf, '\\');
					appendStringInfoChar(&buf, *l->p++);
				}
				else if (!py_escape(l, &buf))
					return NULL;
				continue;
			}
			if (*l->p == '\0')
				return NULL;
			appendStringInfoChar(&buf, *l->p++);
		}
		any = true;
	}
	return any ? tv_str(buf.data, buf.len) : NULL;
}

/*
 * number reads a JSON number, or a Python int or float literal (with one
 * sign, as literal_eval allows), l->p at its first character.
 */
static TVal *
number(Lit *l)
{
	const char *s = l->p;
	const char *p = s;
	bool		is_float = false;
	TVal	   *v;

	if (l->python && p < l->end && (*p == '-' || *p == '+'))
	{
		/* one sign, blanks allowed after it: "- 1" is a UnaryOp too */
		bool		neg = *p++ == '-';

		while (p < l->end && (*p == ' ' || *p == '\t' || *p == '\f'))
			p++;
		if (p >= l->end || !(is_digit(*p) || *p == '.'))
			return NULL;
		l->p = p;
		v = number(l);
		return v != NULL && neg ? tv_negate(v, true) : v;
	}
	if (p < l->end && *p == '-')
		p++;
	if (l->python)
	{
		if (l->end - p > 1 && p[0] == '0' && p[1] != '\0' && strchr("xXoObB", p[1]) != NULL)
		{
			PyIntText t;
			const char *q = p + 2;

			while (q < l->end && (is_ident(*q)))
				q++;
			if (py_int_parse(s, q - s, 0, &t) != PYINT_OK)
				return NULL;
			l->p = q;
			return tv_from_py_int(&t);
		}
		while (p < l->end && (is_digit(*p) || *p == '_'))
			p++;
		if (p < l->end && *p == '.')
		{
			is_float = true;
			p++;
			while (p < l->end && (is_digit(*p) || *p == '_'))
				p++;
		}
	}
	else
	{
		if (p >= l->end || !is_digit(*p))
			return NULL;
		if (*p == '0')
			p++;
		else
			while (p < l->end && is_digit(*p))
				p++;
		if (p < l->end && *p == '.')
		{
			is_float = true;
			p++;
			if (p >= l->end || !is_digit(*p))
				return NULL;
			while (p < l->end && is_digit(*p))
				p++;
		}
	}
	if (p < l->end && (*p == 'e' || *p == 'E'))
	{
		is_float = true;
		p++;
		if (p < l->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= l->end || !is_digit(*p))
			return NULL;
		while (p < l->end && (is_digit(*p) || (l->python && *p == '_')))
			p++;
	}
	if (p < l->end && is_ident(*p))
		return NULL;			/* 1j, 1abc, ... */
	if (is_float)
	{
		double		d;

		if (!py_float_parse(s, p - s, &d) || !isfinite(d))
			return NULL;
		v = tv_float(d);
	}
	else
	{
		PyIntText	t;
		const char *q;

		/* Python refuses leading zeros in a decimal literal: 007 */
		for (q = s; q < p && !is_digit(*q); q++)
			;
		if (l->python && p - q > 1 && *q == '0')
		{
			for (; q < p; q++)
				if (*q != '0' && *q != '_')
					return NULL;
		}
		if (py_int_parse(s, p - s, 10, &t) != PYINT_OK)
			return NULL;
		v = tv_from_py_int(&t);
	}
	l->p = p;
	return v;
}

/*
 * sequence reads the items of a list, tuple or dict after its opening
 * bracket (and after first, the first item of a tuple, when it was read
 * already), up to close; Python allows a trailing comma, JSON does not.
 * In Python "{a, b}" is a set, which JSON cannot hold: it fails here.
 */
static TVal *
sequence(Lit *l, char close, bool dict, TVal *first)
{
	TVal	   *d = dict ? tv_dict_new() : NULL;
	TVal	  **items = NULL;
	int			n = 0;
	int			cap = 0;

	if (first == NULL && take(l, close))
		return dict ? d : tv_list(NULL, 0);
	for (;;)
	{
		TVal	   *k = first != NULL ? first : lit_value(l);

		first = NULL;
		if (k == NULL)
			return NULL;
		if (dict)
		{
			TVal	   *v;

			if (!take(l, ':') || (v = lit_value(l)) == NULL)
				return NULL;
			if (k->kind == TV_LIST || k->kind == TV_DICT || (!l->python && k->kind != TV_STR))
				return NULL;	/* unhashable, or not JSON */
			tv_dict_set(d, k, v);
		}
		else
		{
			if (n == cap)
			{
				cap = cap ? cap * 2 : 8;
				items = items ? repalloc(items, sizeof(TVal *) * cap) : palloc(sizeof(TVal *) * cap);
			}
			items[n++] = k;
		}
		if (take(l, close))
			break;
		if (!take(l, ','))
			return NULL;
		if (l->python && take(l, close))
			break;
	}
	return dict ? d : tv_list(items, n);
}

/* bracketed reads what follows an opening bracket, one level deeper */
static TVal *
bracketed(Lit *l, char close, bool dict)
{
	TVal	   *v;

	if (l->depth >= noetl_max_json_depth)
		return NULL;
	l->depth++;
	l->p++;
	if (close == ')')
	{
		/* (), (v) or a tuple (v, ...) */
		if (take(l, ')'))
			v = tv_list(NULL, 0);
		else if ((v = lit_value(l)) != NULL && !take(l, ')'))
			v = sequence(l, ')', false, v);
	}
	else
		v = sequence(l, close, dict, NULL);
	l->depth--;
	return v;
}

/* lit_value reads one value */
static TVal *
lit_value(Lit *l)
{
	char		c;

	check_stack_depth();
	tpl_charge(1);
	skip_blanks(l);
	if (l->p >= l->end)
		return NULL;
	c = *l->p;
	switch (c)
	{
		case '[':
			return bracketed(l, ']', false);
		case '{':
			return bracketed(l, '}', true);
		case '(':
			return l->python ? bracketed(l, ')', false) : NULL;
		case '"':
			return l->python ? py_string(l) : json_string(l);
		case '\'':
		case 'r':
		case 'R':
		case 'u':
		case 'U':
			if (!l->python)
				return NULL;
			if (c != '\'' && !(l->end - l->p > 1 && (l->p[1] == '\'' || l->p[1] == '"')))
				return NULL;
			return py_string(l);
		default:
			break;
	}
	if (l->python)
	{
		if (word(l, "True"))
			return tv_bool(true);
		if (word(l, "False"))
			return tv_bool(false);
		if (word(l, "None"))
			return tv_none();
	}
	else
	{
		if (word(l, "true"))
			return tv_bool(true);
		if (word(l, "false"))
			return tv_bool(false);
		if (word(l, "null"))
			return tv_none();
	}
	if (c == '-' || c == '+' || c == '.' || is_digit(c))
		return number(l);
	return NULL;
}

/*
 * parse reads all of s as one literal; NULL when it is not one.  A Python
 * literal at the top level may be a tuple without parentheses.
 */
static TVal *
parse(const char *s, int len, bool python)
{
	Lit			l;
	TVal	   *v;

	l.p = s;
	l.end = s + len;
	l.python = python;
	l.depth = 0;
	if (python)
	{
		/* literal_eval strips leading blanks; eval mode allows line ends around */
		while (l.p < l.end && (*l.p == ' ' || *l.p == '\t' || *l.p == '\n' || *l.p == '\r'))
			l.p++;
	}
	v = lit_value(&l);
	if (v == NULL)
		return NULL;
	if (python && take(&l, ','))
	{
		/* a tuple without parentheses: 1, 2 */
		TVal	  **items = palloc(sizeof(TVal *) * 8);
		int			n = 1;
		int			cap = 8;

		items[0] = v;
		for (;;)
		{
			skip_blanks(&l);
			if (l.p >= l.end || *l.p == '\n' || *l.p == '\r')
				break;			/* a trailing comma */
			if ((v = lit_value(&l)) == NULL)
				return NULL;
			if (n == cap)
			{
				cap *= 2;
				items = repalloc(items, sizeof(TVal *) * cap);
			}
			items[n++] = v;
			if (!take(&l, ','))
				break;
		}
		v = tv_list(items, n);
	}
	/* what may follow: blanks, line ends, comments */
	for (;;)
	{
		skip_blanks(&l);
		if (l.p < l.end && (*l.p == '\n' || *l.p == '\r'))
			l.p++;
		else
			break;
	}
	return l.p == l.end ? v : NULL;
}

static bool
equal_ci(const char *s, int len, const char *w)
{
	return (int) strlen(w) == len && pg_strncasecmp(s, w, len) == 0;
}

/*
 * float_like is NoETL's test: one of ".eE" in s, and s without its first
 * ".", "e" and "E" and its leading signs is digits.
 */
static bool
float_like(const char *s, int len)
{
	bool		dot = false,
				e = false,
				E = false,
				any = false;
	bool		lead = true;
	int			i;

	if (memchr(s, '.', len) == NULL && memchr(s, 'e', len) == NULL && memchr(s, 'E', len) == NULL)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '.' && !dot)
			dot = true;
		else if (c == 'e' && !e)
			e = true;
		else if (c == 'E' && !E)
			E = true;
		else if (lead && (c == '+' || c == '-'))
			continue;
		else if (is_digit(c))
		{
			lead = false;
			any = true;
		}
		else
			return false;
	}
	return any;
}

/*
 * tpl_coerce returns what NoETL's render_template makes of rendered text
 * s: a value read from it, or the text.
 */
TVal *
tpl_coerce(const char *s, int len)
{
	const char *t = s;
	int			tlen = len;
	TVal	   *v;
	int			i;

	tpl_charge_bytes(len);
	if (len >= 2 && ((s[0] == '[' && s[len - 1] == ']') || (s[0] == '{' && s[len - 1] == '}')))
	{
		if ((v = parse(s, len, false)) != NULL || (v = parse(s, len, true)) != NULL)
			return v;
		return tv_str(s, len);	/* no rule below reads brackets: not parsed again */
	}
	if (equal_ci(s, len, "true") || equal_ci(s, len, "false"))
		return tv_bool(len == 4);
	for (i = 0; i < len && is_digit(s[i]); i++)
		;
	if (len > 0 && i == len)
	{
		PyIntText	pt;

		if (py_int_parse(s, len, 10, &pt) != PYINT_OK)
			return tv_str(s, len);
		return tv_from_py_int(&pt);
	}
	if (float_like(s, len))
	{
		double		d;

		/* float() raising ends the coercion: the text stays */
		if (!py_float_parse(s, len, &d) || !isfinite(d))
			return tv_str(s, len);
		return tv_float(d);
	}
	py_strip(&t, &tlen);
	if (equal_ci(t, tlen, "none") || equal_ci(t, tlen, "null"))
		return tv_none();
	if ((v = parse(s, len, true)) != NULL)
		return v;
	if (tlen == 0)
		return tv_str("", 0);
	return tv_str(s, len);
}

/*
 * tpl_read_list reads text as NoETL's iterator read a collection that
 * rendered to text (coerce_items, plugin/iterator/utils.py @58c2a16b):
 * stripped, as JSON, else as a Python literal.  Returns the list, or NULL
 * when the text is not one.
 */
TVal *
tpl_read_list(const char *s, int len)
{
	const char *t = s;
	int			tlen = len;
	TVal	   *v;

	py_strip(&t, &tlen);
	if (tlen < 2 || t[0] != '[')
		return NULL;
	if ((v = parse(t, tlen, false)) == NULL)
		v = parse(t, tlen, true);
	return v != NULL && v->kind == TV_LIST ? v : NULL;
}
