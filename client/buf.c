/*
 * buf.c
 *	  Growable strings; writing JSON strings; checking that text is JSON.
 *
 * The program never needs to understand JSON: tasks are read through the
 * server's jsonb operators (task.c) and reports are parsed by the server.
 * What it writes is escaped here, and what it passes through unparsed
 * (an HTTP body, a column of type json) is checked here first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noetl.h"

void
buf_init(Buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->data = malloc(b->cap);
	if (b->data == NULL)
		die("out of memory");
	b->data[0] = '\0';
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void
reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
		die("out of memory");
}

void
buf_add(Buf *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/*
 * buf_json_string writes s (n bytes, UTF-8) as a JSON string.  Bytes that
 * are not valid UTF-8 become U+FFFD, and U+0000 (which jsonb cannot hold)
 * becomes U+FFFD too.
 */
void
buf_json_string(Buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	buf_add(b, "\"", 1);
	while (i < n)
	{
		unsigned char c = p[i];
		int			len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 :
			(c >> 3) == 0x1e ? 4 : 0;
		int			k;

		if (c == '"' || c == '\\')
		{
			buf_add(b, "\\", 1);
			buf_add(b, (const char *) &p[i], 1);
			i++;
			continue;
		}
		if (c == 0)
		{
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		if (c < 0x20)
		{
			if (c == '\n')
				buf_puts(b, "\\n");
			else if (c == '\t')
				buf_puts(b, "\\t");
			else if (c == '\r')
				buf_puts(b, "\\r");
			else
				buf_printf(b, "\\u%04x", c);
			i++;
			continue;
		}
		/* a well-formed UTF-8 sequence is copied, anything else replaced */
		for (k = 1; len > 1 && k < len; k++)
			if (i + k >= n || (p[i + k] & 0xc0) != 0x80)
				len = 0;
		if (len == 0)
		{
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		buf_add(b, (const char *) &p[i], (size_t) len);
		i += (size_t) len;
	}
	buf_add(b, "\"", 1);
}

/* ---------------------------------------------------------------- checking */

typedef struct Scan
{
	const char *p;
	const char *end;
	int			depth;
} Scan;

static bool value(Scan *s);

static void
blank(Scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
literal(Scan *s, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool
string(Scan *s)
{
	s->p++;
	while (s->p < s->end && *s->p != '"')
	{
		if ((unsigned char) *s->p < 0x20)
			return false;
		if (*s->p == '\\')
		{
			s->p++;
			if (s->p >= s->end)
				return false;
			if (*s->p == 'u')
			{
				int			i;

				for (i = 1; i <= 4; i++)
					if (s->p + i >= s->end || !strchr("0123456789abcdefABCDEF", s->p[i]) ||
						s->p[i] == '\0')
						return false;
				/* jsonb refuses \u0000 */
				if (memcmp(s->p + 1, "0000", 4) == 0)
					return false;
				s->p += 4;
			}
			else if (!strchr("\"\\/bfnrt", *s->p) || *s->p == '\0')
				return false;
		}
		s->p++;
	}
	if (s->p >= s->end)
		return false;
	s->p++;
	return true;
}

static bool
digits(Scan *s)
{
	const char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool
number(Scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.')
	{
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
	{
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool
members(Scan *s, char close, bool keys)
{
	if (++s->depth > 1000)
		return false;
	s->p++;
	blank(s);
	if (s->p < s->end && *s->p == close)
	{
		s->p++;
		s->depth--;
		return true;
	}
	for (;;)
	{
		if (keys)
		{
			if (s->p >= s->end || *s->p != '"' || !string(s))
				return false;
			blank(s);
			if (s->p >= s->end || *s->p != ':')
				return false;
			s->p++;
		}
		if (!value(s))
			return false;
		blank(s);
		if (s->p < s->end && *s->p == ',')
		{
			s->p++;
			blank(s);
			continue;
		}
		if (s->p < s->end && *s->p == close)
		{
			s->p++;
			s->depth--;
			return true;
		}
		return false;
	}
}

static bool
value(Scan *s)
{
	blank(s);
	if (s->p >= s->end)
		return false;
	switch (*s->p)
	{
		case '{':
			return members(s, '}', true);
		case '[':
			return members(s, ']', false);
		case '"':
			return string(s);
		case 't':
			return literal(s, "true");
		case 'f':
			return literal(s, "false");
		case 'n':
			return literal(s, "null");
		default:
			return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && number(s);
	}
}

/* utf8_valid says whether s (n bytes) is well-formed UTF-8 without NUL */
static bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = p[i];
		int			len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 :
			(c >> 3) == 0x1e ? 4 : 0;
		int			k;

		if (c == 0 || len == 0 || i + (size_t) len > n)
			return false;
		for (k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += (size_t) len;
	}
	return true;
}

/*
 * json_valid says whether s (n bytes) is one JSON document that jsonb
 * accepts (RFC 8259 in well-formed UTF-8, without NUL characters, nested
 * at most 1000 deep).
 */
bool
json_valid(const char *s, size_t n)
{
	Scan		sc;

	if (!utf8_valid(s, n))
		return false;
	sc.p = s;
	sc.end = s + n;
	sc.depth = 0;
	if (!value(&sc))
		return false;
	blank(&sc);
	return sc.p == sc.end;
}
