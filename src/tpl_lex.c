/*-------------------------------------------------------------------------
 *
 * tpl_lex.c
 *	  The template lexer: Jinja2's default syntax and lexing rules.
 *
 * Line breaks (\r\n, \r, \n) become \n and one trailing newline is dropped,
 * as Jinja2's default keep_trailing_newline=False does.  Outside tags the
 * text is data; "{{", "{%" and "{#" open a print tag, a statement tag and a
 * comment.  A "-" right inside a tag's delimiter strips the whitespace
 * before it ("{{-") or after it ("-}}"); "+" is accepted and does nothing
 * (lstrip_blocks is off).  {% raw %} ... {% endraw %} passes text through.
 *
 * Inside tags the rules are tried in Jinja2's order: the end delimiter
 * (only while no bracket is open), whitespace, float, integer, name,
 * string, operator.  Numbers and strings are decoded here: numbers as
 * Jinja2 decodes them, with Python's int(text, 0) and float(text) (pynum.c:
 * so an int literal of more than 4300 decimal digits is refused), strings
 * with Python's unicode-escape rules.  Whitespace is Python's \s.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "template.h"

typedef struct Lexer
{
	const char *src;			/* normalised source */
	int			len;
	int			pos;
	const char *orig;			/* for error messages */
	TToken	   *toks;
	int			ntoks;
	int			cap;
	char		brackets[256];	/* balancing stack */
	int			nbrackets;
	int			pos_off;		/* last position computed by pos_of */
	int			pos_line;
	int			pos_col;
} Lexer;

#define ISDIGIT(c) ((c) >= '0' && (c) <= '9')

/*
 * pos_of computes the line and column (1-based, in characters) of byte
 * offset off.
 */
static void
pos_of(Lexer *lx, int off, int *line, int *col)
{
	int			i;
	int			l;
	int			c;

	/* positions are asked for in increasing order; continue from the last */
	if (off < lx->pos_off || lx->pos_line == 0)
	{
		lx->pos_off = 0;
		lx->pos_line = 1;
		lx->pos_col = 1;
	}
	l = lx->pos_line;
	c = lx->pos_col;
	for (i = lx->pos_off; i < off && i < lx->len; i++)
	{
		if (lx->src[i] == '\n')
		{
			l++;
			c = 1;
		}
		else if ((lx->src[i] & 0xC0) != 0x80)
			c++;
	}
	lx->pos_off = Min(off, lx->len);
	lx->pos_line = l;
	lx->pos_col = c;
	*line = l;
	*col = c;
}

/* lex_fail raises a template error at byte offset off */
static void
lex_fail(Lexer *lx, int off, const char *msg) pg_attribute_noreturn();

static void
lex_fail(Lexer *lx, int off, const char *msg)
{
	int			line;
	int			col;

	pos_of(lx, off, &line, &col);
	tpl_error(lx->orig, line, col, "%s", msg);
}

/* add_token appends a token that starts at byte offset off */
static TToken *
add_token(Lexer *lx, TTokKind kind, int off, const char *text, int len)
{
	TToken	   *t;

	if (lx->ntoks == lx->cap)
	{
		lx->cap = lx->cap ? lx->cap * 2 : 64;
		lx->toks = lx->toks ? repalloc(lx->toks, sizeof(TToken) * lx->cap)
			: palloc(sizeof(TToken) * lx->cap);
	}
	t = &lx->toks[lx->ntoks++];
	memset(t, 0, sizeof(TToken));
	t->kind = kind;
	pos_of(lx, off, &t->line, &t->col);
	t->text = text;
	t->len = len;
	return t;
}

/* skip_ws returns the position after the whitespace at pos (Python's \s*) */
static int
skip_ws(Lexer *lx, int pos)
{
	int			w;

	while (pos < lx->len && (w = py_space_len(lx->src + pos, lx->len - pos)) > 0)
		pos += w;
	return pos;
}

/*
 * digits_us matches (\d+_)*\d+ at pos, digits with single underscores
 * between them; returns its length or 0.
 */
static int
digits_us(const char *s, int pos, int len)
{
	int			p = pos;

	if (p >= len || !ISDIGIT(s[p]))
		return 0;
	for (;;)
	{
		while (p < len && ISDIGIT(s[p]))
			p++;
		if (p + 1 < len && s[p] == '_' && ISDIGIT(s[p + 1]))
		{
			p++;
			continue;
		}
		break;
	}
	return p - pos;
}

/*
 * match_float matches Jinja2's float_re at pos; returns its length or 0.
 * (?<!\.)(\d+_)*\d+((\.(\d+_)*\d+)?e[+\-]?(\d+_)*\d+|\.(\d+_)*\d+)
 */
static int
match_float(const char *s, int pos, int len)
{
	int			p;
	int			n;

	if (pos > 0 && s[pos - 1] == '.')
		return 0;
	n = digits_us(s, pos, len);
	if (n == 0)
		return 0;
	p = pos + n;
	/* fraction followed by exponent, or exponent alone */
	{
		int			q = p;
		int			f = 0;

		if (q < len && s[q] == '.')
		{
			f = digits_us(s, q + 1, len);
			if (f > 0)
				q = q + 1 + f;
		}
		if (q < len && (s[q] == 'e' || s[q] == 'E'))
		{
			int			r = q + 1;
			int			e;

			if (r < len && (s[r] == '+' || s[r] == '-'))
				r++;
			e = digits_us(s, r, len);
			if (e > 0)
				return r + e - pos;
		}
		/* required fractional part */
		if (p < len && s[p] == '.')
		{
			f = digits_us(s, p + 1, len);
			if (f > 0)
				return p + 1 + f - pos;
		}
	}
	return 0;
}

/*
 * match_int matches Jinja2's integer_re at pos; returns its length or 0.
 */
static int
match_int(const char *s, int pos, int len)
{
	int			p = pos;
	char		c;

	if (p >= len || !ISDIGIT(s[p]))
		return 0;
	if (s[p] == '0' && p + 1 < len)
	{
		c = s[p + 1] | 0x20;
		if (c == 'b' || c == 'o' || c == 'x')
		{
			int			q = p + 2;
			int			groups = 0;

			for (;;)
			{
				int			r = q;

				if (r < len && s[r] == '_')
					r++;
				if (r < len &&
					((c == 'b' && (s[r] == '0' || s[r] == '1')) ||
					 (c == 'o' && s[r] >= '0' && s[r] <= '7') ||
					 (c == 'x' && isxdigit((unsigned char) s[r]))))
				{
					q = r + 1;
					groups++;
					continue;
				}
				break;
			}
			if (groups > 0)
				return q - pos;
		}
	}
	if (s[p] >= '1' && s[p] <= '9')
	{
		p++;
		for (;;)
		{
			int			r = p;

			if (r < len && s[r] == '_')
				r++;
			if (r < len && ISDIGIT(s[r]))
			{
				p = r + 1;
				continue;
			}
			break;
		}
		return p - pos;
	}
	/* 0(_?0)* */
	p++;
	for (;;)
	{
		int			r = p;

		if (r < len && s[r] == '_')
			r++;
		if (r < len && s[r] == '0')
		{
			p = r + 1;
			continue;
		}
		break;
	}
	return p - pos;
}

/*
 * name_start says whether byte c can start a name: ASCII identifiers, and
 * any character beyond ASCII (Jinja2 takes Python's identifiers; noetl does
 * not check Unicode categories, but the caller stops a name at whitespace).
 */
static bool
name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* name_char says whether byte c can continue a name */
static bool
name_char(unsigned char c)
{
	return name_start(c) || ISDIGIT(c);
}

/* hexval is the value of a hexadecimal digit, or -1 */
static int
hexval(char c)
{
	if (ISDIGIT(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * decode_string applies Python's unicode-escape decoding to the body of a
 * string literal.
 */
static char *
decode_string(Lexer *lx, int off, const char *p, int len, int *outlen)
{
	StringInfoData buf;
	int			i = 0;

	initStringInfo(&buf);
	while (i < len)
	{
		char		c = p[i];

		if (c != '\\' || i + 1 >= len)
		{
			appendStringInfoChar(&buf, c);
			i++;
			continue;
		}
		c = p[i + 1];
		i += 2;
		switch (c)
		{
			case '\n':
				break;			/* line continuation */
			case '\\':
				appendStringInfoChar(&buf, '\\');
				break;
			case '\'':
				appendStringInfoChar(&buf, '\'');
				break;
			case '"':
				appendStringInfoChar(&buf, '"');
				break;
			case 'a':
				appendStringInfoChar(&buf, '\a');
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
			case 'v':
				appendStringInfoChar(&buf, '\v');
				break;
			case '0':
			case '1':
			case '2':
			case '3':
			case '4':
			case '5':
			case '6':
			case '7':
				{
					pg_wchar	w = c - '0';
					int			k;
					unsigned char u[8];

					for (k = 0; k < 2 && i < len && p[i] >= '0' && p[i] <= '7'; k++)
						w = w * 8 + (p[i++] - '0');
					unicode_to_utf8(w, u);
					appendBinaryStringInfo(&buf, (char *) u, pg_utf_mblen(u));
					break;
				}
			case 'x':
			case 'u':
			case 'U':
				{
					int			n = c == 'x' ? 2 : (c == 'u' ? 4 : 8);
					pg_wchar	w = 0;
					int			k;
					unsigned char u[8];

					for (k = 0; k < n; k++)
					{
						int			h = i + k < len ? hexval(p[i + k]) : -1;

						if (h < 0)
							lex_fail(lx, off, psprintf("truncated \\%c escape in a string literal", c));
						w = w * 16 + h;
					}
					i += n;
					if (w > 0x10FFFF || (w >= 0xD800 && w <= 0xDFFF))
						lex_fail(lx, off, "illegal Unicode character in string literal");
					if (w == 0)
						lex_fail(lx, off, "a NUL character in a string literal cannot be stored");
					unicode_to_utf8(w, u);
					appendBinaryStringInfo(&buf, (char *) u, pg_utf_mblen(u));
					break;
				}
			case 'N':
				lex_fail(lx, off, "\\N{...} escapes are not supported");
				break;
			default:
				/* unknown escapes keep their backslash */
				appendStringInfoChar(&buf, '\\');
				appendStringInfoChar(&buf, c);
				break;
		}
	}
	if (memchr(buf.data, '\0', buf.len) != NULL)
		lex_fail(lx, off, "a NUL character in a string literal cannot be stored");
	*outlen = buf.len;
	return buf.data;
}

static const char *const operators[] = {
	"//", "**", "==", "!=", ">=", "<=",
	"+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
	">", "<", "=", ".", ":", "|", ",", ";"
};

/*
 * lex_tag tokenizes the inside of a tag that starts at pos, up to and
 * including its end delimiter ("}}" if is_var, else "%}"); returns the
 * position after it.
 */
static int
lex_tag(Lexer *lx, int pos, bool is_var)
{
	const char *s = lx->src;
	int			len = lx->len;
	char		endc = is_var ? '}' : '%';

	lx->nbrackets = 0;
	for (;;)
	{
		int			n;
		unsigned char c;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (pos >= len)
			return pos;			/* the parser reports the missing end */

		/* the end delimiter, only while no bracket is open */
		if (lx->nbrackets == 0)
		{
			if (!is_var && s[pos] == '+' && pos + 2 < len && s[pos + 1] == '%' && s[pos + 2] == '}')
			{
				add_token(lx, TT_BLOCK_END, pos, NULL, 0);
				return pos + 3;
			}
			if (s[pos] == '-' && pos + 2 < len &&
				s[pos + 1] == endc && s[pos + 2] == '}')
			{
				add_token(lx, is_var ? TT_VAR_END : TT_BLOCK_END, pos, NULL, 0);
				return skip_ws(lx, pos + 3);
			}
			if (s[pos] == endc && pos + 1 < len && s[pos + 1] == '}')
			{
				add_token(lx, is_var ? TT_VAR_END : TT_BLOCK_END, pos, NULL, 0);
				return pos + 2;
			}
		}
		n = py_space_len(s + pos, len - pos);
		if (n > 0)
		{
			pos += n;
			continue;
		}
		c = (unsigned char) s[pos];
		if ((n = match_float(s, pos, len)) > 0)
		{
			TToken	   *t = add_token(lx, TT_FLOAT, pos, s + pos, n);
			double		d;

			/* Jinja2: float(text.replace("_", "")) */
			if (!py_float_parse(s + pos, n, &d))
				elog(ERROR, "float literal \"%.*s\" not understood", n, s + pos);
			t->num = tv_float(d);
			pos += n;
			continue;
		}
		if ((n = match_int(s, pos, len)) > 0)
		{
			TToken	   *t = add_token(lx, TT_INT, pos, s + pos, n);
			PyIntText	it;
			PyIntStatus st;

			/* Jinja2: int(text.replace("_", ""), 0) */
			st = py_int_parse(s + pos, n, 0, &it);
			if (st == PYINT_TOO_LONG)
				lex_fail(lx, pos, psprintf("Exceeds the limit (%d digits) for integer string conversion: value has %d digits; use sys.set_int_max_str_digits() to increase the limit",
										   PY_INT_MAX_DIGITS, it.ndigits));
			if (st != PYINT_OK)
				elog(ERROR, "integer literal \"%.*s\" not understood", n, s + pos);
			t->num = tv_from_py_int(&it);
			pos += n;
			continue;
		}
		if (name_start(c))
		{
			int			q = pos + 1;

			while (q < len && name_char((unsigned char) s[q]) &&
				   py_space_len(s + q, len - q) == 0)
				q++;
			add_token(lx, TT_NAME, pos, s + pos, q - pos);
			pos = q;
			continue;
		}
		if (c == '\'' || c == '"')
		{
			int			q = pos + 1;
			TToken	   *t;
			int			dlen;
			char	   *d;

			while (q < len && s[q] != (char) c)
			{
				if (s[q] == '\\' && q + 1 < len)
					q++;
				q++;
			}
			if (q >= len)
			{
				/* no string rule matches: Jinja2 reports the character */
				lex_fail(lx, pos, psprintf("unexpected char '%c'", c));
			}
			d = decode_string(lx, pos, s + pos + 1, q - pos - 1, &dlen);
			t = add_token(lx, TT_STRING, pos, d, dlen);
			(void) t;
			pos = q + 1;
			continue;
		}
		for (i = 0; i < lengthof(operators); i++)
		{
			int			ol = strlen(operators[i]);

			if (pos + ol <= len && memcmp(s + pos, operators[i], ol) == 0)
				break;
		}
		if (i == lengthof(operators))
			lex_fail(lx, pos, psprintf("unexpected char '%.*s'",
									   pg_utf_mblen((const unsigned char *) s + pos), s + pos));
		{
			const char *op = operators[i];

			if (op[1] == '\0' && (op[0] == '{' || op[0] == '(' || op[0] == '['))
			{
				if (lx->nbrackets >= (int) sizeof(lx->brackets))
					lex_fail(lx, pos, "brackets are nested too deeply");
				lx->brackets[lx->nbrackets++] = op[0] == '{' ? '}' : (op[0] == '(' ? ')' : ']');
			}
			else if (op[1] == '\0' && (op[0] == '}' || op[0] == ')' || op[0] == ']'))
			{
				if (lx->nbrackets == 0)
					lex_fail(lx, pos, psprintf("unexpected '%c'", op[0]));
				if (lx->brackets[lx->nbrackets - 1] != op[0])
					lex_fail(lx, pos, psprintf("unexpected '%c', expected '%c'",
											   op[0], lx->brackets[lx->nbrackets - 1]));
				lx->nbrackets--;
			}
			add_token(lx, TT_OP, pos, op, strlen(op));
			pos += strlen(op);
		}
	}
}

/*
 * find_endraw finds "{%[-+]? endraw %}" from pos; returns the offset of its
 * "{%", and sets *after to the position after the tag and *strip to
 * whether its "{%-" strips the whitespace before it.
 */
static int
find_endraw(Lexer *lx, int pos, int *after, bool *strip)
{
	const char *s = lx->src;
	int			len = lx->len;

	for (; pos + 1 < len; pos++)
	{
		int			q;

		if (s[pos] != '{' || s[pos + 1] != '%')
			continue;
		q = pos + 2;
		*strip = false;
		if (q < len && (s[q] == '-' || s[q] == '+'))
		{
			*strip = s[q] == '-';
			q++;
		}
		q = skip_ws(lx, q);
		if (q + 6 > len || memcmp(s + q, "endraw", 6) != 0)
			continue;
		q = skip_ws(lx, q + 6);
		if (q + 1 < len && s[q] == '+' && q + 2 < len && s[q + 1] == '%' && s[q + 2] == '}')
		{
			*after = q + 3;
			return pos;
		}
		if (q + 2 < len && s[q] == '-' && s[q + 1] == '%' && s[q + 2] == '}')
		{
			*after = skip_ws(lx, q + 3);
			return pos;
		}
		if (q + 1 < len && s[q] == '%' && s[q + 1] == '}')
		{
			*after = q + 2;
			return pos;
		}
	}
	return -1;
}

/*
 * match_raw_begin matches "{%[-+]?\s*raw\s*(-%}\s*|%})" at pos.
 */
static int
match_raw_begin(Lexer *lx, int pos, bool *strip_before)
{
	const char *s = lx->src;
	int			len = lx->len;
	int			q = pos + 2;

	*strip_before = false;
	if (q < len && (s[q] == '-' || s[q] == '+'))
	{
		*strip_before = s[q] == '-';
		q++;
	}
	q = skip_ws(lx, q);
	if (q + 3 > len || memcmp(s + q, "raw", 3) != 0)
		return -1;
	q = skip_ws(lx, q + 3);
	if (q + 2 < len && s[q] == '-' && s[q + 1] == '%' && s[q + 2] == '}')
		return skip_ws(lx, q + 3);
	if (q + 1 < len && s[q] == '%' && s[q + 1] == '}')
		return q + 2;
	return -1;
}

/*
 * tpl_tokenize turns template source into tokens, ending with TT_EOF.
 */
TToken *
tpl_tokenize(const char *src, int len, int *ntokens)
{
	Lexer		lx;
	StringInfoData norm;
	int			i;
	int			pos;

	memset(&lx, 0, sizeof(lx));
	lx.orig = pnstrdup(src, len);

	/* line breaks become \n; one trailing newline is dropped */
	initStringInfo(&norm);
	for (i = 0; i < len; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (src[i] == '\r')
		{
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
			appendStringInfoChar(&norm, '\n');
		}
		else
			appendStringInfoChar(&norm, src[i]);
	}
	if (norm.len > 0 && norm.data[norm.len - 1] == '\n')
		norm.data[--norm.len] = '\0';
	lx.src = norm.data;
	lx.len = norm.len;

	pos = 0;
	while (pos < lx.len)
	{
		int			start = pos;
		int			tag = -1;
		char		kind = 0;
		char		sign = 0;
		int			datalen;
		int			after_raw = -1;
		bool		raw_strip = false;

		/* find the next tag start, a "{" at a time */
		CHECK_FOR_INTERRUPTS();
		for (i = pos; i + 1 < lx.len; i++)
		{
			const char *brace = memchr(lx.src + i, '{', lx.len - 1 - i);

			if (brace == NULL)
				break;
			i = brace - lx.src;
			if (lx.src[i + 1] == '{' || lx.src[i + 1] == '%' || lx.src[i + 1] == '#')
			{
				tag = i;
				kind = lx.src[i + 1];
				break;
			}
		}
		if (tag < 0)
		{
			add_token(&lx, TT_DATA, start, lx.src + start, lx.len - start);
			break;
		}
		if (kind == '%')
			after_raw = match_raw_begin(&lx, tag, &raw_strip);
		if (after_raw < 0 && tag + 2 < lx.len &&
			(lx.src[tag + 2] == '-' || lx.src[tag + 2] == '+'))
			sign = lx.src[tag + 2];
		if (after_raw >= 0)
			sign = raw_strip ? '-' : 0;
		datalen = tag - start;
		if (sign == '-')
			datalen = py_rstrip_len(lx.src + start, datalen);
		if (datalen > 0)
			add_token(&lx, TT_DATA, start, lx.src + start, datalen);

		if (after_raw >= 0)
		{
			int			after;
			bool		strip;
			int			end = find_endraw(&lx, after_raw, &after, &strip);
			int			rlen;

			if (end < 0)
				lex_fail(&lx, tag, "missing end of raw directive");
			rlen = end - after_raw;
			if (strip)
				rlen = py_rstrip_len(lx.src + after_raw, rlen);
			if (rlen > 0)
				add_token(&lx, TT_DATA, after_raw, lx.src + after_raw, rlen);
			pos = after;
			continue;
		}

		pos = tag + 2 + (sign ? 1 : 0);
		if (kind == '#')
		{
			/* (.*?)((?:\+#}|\-#}\s*|#})) */
			int			q;

			for (q = pos; q + 1 < lx.len; q++)
				if (lx.src[q] == '#' && lx.src[q + 1] == '}')
					break;
			if (q + 1 >= lx.len)
				lex_fail(&lx, tag, "missing end of comment tag");
			if (q > pos && lx.src[q - 1] == '-')
				pos = skip_ws(&lx, q + 2);
			else
				pos = q + 2;
			continue;
		}
		add_token(&lx, kind == '{' ? TT_VAR_BEGIN : TT_BLOCK_BEGIN, tag, NULL, 0);
		pos = lex_tag(&lx, pos, kind == '{');
	}
	add_token(&lx, TT_EOF, lx.len, NULL, 0);
	*ntokens = lx.ntoks;
	return lx.toks;
}
