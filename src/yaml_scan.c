/*-------------------------------------------------------------------------
 *
 * yaml_scan.c
 *	  Where PyYAML's scanner is stricter than libyaml's, and the other way round.
 *
 * libyaml tokenizes the text for the reader, but PyYAML's own scanner
 * refuses some texts libyaml accepts (a tab where only a space may stand,
 * "?" inside a plain scalar of a flow collection, a block scalar header
 * followed by other text), accepts one libyaml refuses (a tab right after
 * a block scalar's indentation), and puts the end of a stream without a
 * final line break elsewhere.  This file finds those places, so that the
 * reader raises PyYAML's error at PyYAML's position, or reads the text as
 * PyYAML does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"

#include "yaml_private.h"

/* block scalars libyaml needs an explicit indentation for (block_tab_fix) */
#define YAML_MAX_TAB_FIXES	64

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

/* pos_before says whether position (l1, c1) comes before (l2, c2) */
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
			ErrorData  *err = yaml_catch_interrupt();

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
 * yaml_check_pyyaml_rules raises the error PyYAML would raise for a tab or a
 * question mark that libyaml lets through.  It returns the text to parse:
 * the input, or a copy with explicit block indentation (see block_tab_fix).
 * Each fix means another pass over the text, so their number is bounded.
 */
const unsigned char *
yaml_check_pyyaml_rules(YamlReader *r, const unsigned char *in, size_t *lenp)
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
 * yaml_stream_end_position records where PyYAML puts the end of a stream that
 * does not end with a line break: after the last character, where libyaml
 * puts it at the start of the next line.
 */
void
yaml_stream_end_position(YamlReader *r)
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

