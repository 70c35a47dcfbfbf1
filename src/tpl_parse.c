/*-------------------------------------------------------------------------
 *
 * tpl_parse.c
 *	  The template parser: Jinja2's grammar, restricted to noetl's subset.
 *
 * Precedence follows Jinja2's parser, which differs from Python's in
 * places: "**" is left-associative, unary minus binds tighter than "**"
 * ("-2 ** 2" is 4), and filters and tests bind to the unary operand
 * ("-x | abs" is abs(-x), "a + b is number" is a + (b is number)):
 *
 *	expr	 := or ["if" or ["else" expr]]
 *	or		 := and ("or" and)*
 *	and		 := not ("and" not)*
 *	not		 := "not" not | compare
 *	compare  := math1 (("=="|"!="|"<"|"<="|">"|">="|"in"|"not" "in") math1)*
 *	math1	 := concat (("+"|"-") concat)*
 *	concat	 := math2 ("~" math2)*
 *	math2	 := pow (("*"|"/"|"//"|"%") pow)*
 *	pow		 := unary ("**" unary)*
 *	unary	 := ("-"|"+") unary | primary postfix* (filter | test | call)*
 *
 * Tuples are Jinja2's: "(a, b)", "(a,)", "()", and a bare "a, b" where
 * Jinja2 parses a tuple (a print tag, the iterable of a for, the value
 * of a set, the test of an if).  Subscripts take slices ("a[b:c:d]"),
 * calls take methods ("s.split(',')", evaluated by tpl_methods.c).
 *
 * Constructs outside the subset (macro, include and the other statements,
 * slices inside tuple subscripts, nested unpacking, namespace attributes
 * as set targets) are refused here
 * with their position; filters and tests Jinja2 does not know are refused
 * too, except inside if/else branches, where Jinja2 only fails when they
 * are reached.
 *
 * One file of about 1400 lines, on purpose: it is one recursive-descent
 * grammar whose rules call one another (statements hold expressions, an
 * expression's filters hold argument lists of expressions), share the
 * parser's position, its "conditional" depth and a dozen token helpers,
 * and read best in the order of the table above.  Split, those helpers and
 * the Parser would become an interface of their own for no reader's
 * benefit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "template.h"

typedef struct Parser
{
	const char *source;
	TToken	   *toks;
	int			ntoks;
	int			pos;
	int			conditional;	/* depth of if/condexpr nesting */
	TTemplate  *tpl;
} Parser;

static const char *const filter_names[] = {
	"default", "d", "length", "count", "tojson", "lower", "upper",
	"capitalize", "title", "replace", "join", "int", "float", "string",
	"trim", "first", "last", "abs", "round", "list", "sort", "unique",
	"min", "max", "sum",
	"map", "select", "reject", "selectattr", "rejectattr", "dictsort",
	"items", "reverse", "batch", "slice", "groupby", "truncate", "wordcount",
	"center", "indent", "format", "urlencode", "filesizeformat",
	"b64encode", "b64decode"
};

static const char *const test_names[] = {
	"defined", "undefined", "none", "number", "string", "mapping",
	"sequence", "true", "false",
	"odd", "even", "divisibleby", "sameas", "in", "eq", "equalto", "==",
	"ne", "!=", "gt", "greaterthan", ">", "ge", ">=", "lt", "lessthan", "<",
	"le", "<=", "integer", "float", "boolean", "iterable", "lower", "upper",
	"callable", "filter", "test", "escaped"
};

static const char *const function_names[] = {
	"range", "now", "dict", "token", "secret"
};

/* functions of Jinja2's default namespace that noetl does not have */
static const char *const other_functions[] = {
	"lipsum", "cycler", "joiner", "namespace"
};

/* statements Jinja2 has and noetl does not */
static const char *const other_statements[] = {
	"macro", "call", "block", "extends", "include", "import", "from",
	"with", "autoescape", "filter", "print", "do", "break", "continue",
	"trans", "pluralize", "endblock", "endmacro", "endcall",
	"endwith", "endautoescape", "endfilter", "endtrans"
};

static TNode *parse_expression(Parser *p, bool with_condexpr);
static TNode *parse_unary(Parser *p, bool with_filter);
static TNode **parse_body(Parser *p, int *n, const char *const *ends, int nends);
static TNode *parse_tuple(Parser *p, bool with_condexpr, bool explicit);

/*
 * tpl_verror raises a template error naming the template and the position;
 * tpl_error is the same with its arguments spelled out.
 */
void
tpl_verror(const char *source, int line, int col, const char *fmt, va_list args)
{
	StringInfoData msg;
	int			srclen = source ? strlen(source) : 0;
	int			clip = source ? pg_mbcliplen(source, srclen, 200) : 0;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&msg, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("template error at line %d, column %d: %s", line, col, msg.data),
			 errdetail("The template is \"%.*s%s\".",
					   clip, source ? source : "",
					   clip < srclen ? "..." : "")));
}

/* tpl_error is tpl_verror with its arguments spelled out */
void
tpl_error(const char *source, int line, int col, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	tpl_verror(source, line, col, fmt, args);
}

/* lookup returns the index of name in names, or -1 */
static int
lookup(const char *name, const char *const *names, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* tpl_filter_id returns the number of the filter name, or -1 */
int
tpl_filter_id(const char *name)
{
	return lookup(name, filter_names, lengthof(filter_names));
}

/* tpl_test_id returns the number of the test name, or -1 */
int
tpl_test_id(const char *name)
{
	return lookup(name, test_names, lengthof(test_names));
}

/* tpl_function_id returns the number of the function name, or -1 */
static int
tpl_function_id(const char *name)
{
	return lookup(name, function_names, lengthof(function_names));
}

/* cur returns the current token */
static TToken *
cur(Parser *p)
{
	return &p->toks[p->pos];
}

/* peek returns the token ahead positions after the current one, or EOF */
static TToken *
peek(Parser *p, int ahead)
{
	int			i = Min(p->pos + ahead, p->ntoks - 1);

	return &p->toks[i];
}

/* advance moves to the next token, staying on EOF */
static void
advance(Parser *p)
{
	if (p->pos < p->ntoks - 1)
		p->pos++;
}

/* is_op says whether t is the operator op */
static bool
is_op(TToken *t, const char *op)
{
	return t->kind == TT_OP && t->len == (int) strlen(op) && memcmp(t->text, op, t->len) == 0;
}

/* is_name says whether t is the name name */
static bool
is_name(TToken *t, const char *name)
{
	return t->kind == TT_NAME && t->len == (int) strlen(name) && memcmp(t->text, name, t->len) == 0;
}

/* describe names a token for error messages, as Jinja2 does */
static const char *
describe(TToken *t)
{
	switch (t->kind)
	{
		case TT_EOF:
			return "end of template";
		case TT_VAR_END:
			return "end of print statement";
		case TT_BLOCK_END:
			return "end of statement block";
		case TT_VAR_BEGIN:
			return "begin of print statement";
		case TT_BLOCK_BEGIN:
			return "begin of statement block";
		case TT_DATA:
			return "template data";
		case TT_STRING:
			return "string";
		case TT_INT:
			return "integer";
		case TT_FLOAT:
			return "float";
		default:
			return pnstrdup(t->text, t->len);
	}
}

/* fail_at raises a template error at token t */
static void
fail_at(Parser *p, TToken *t, const char *fmt,...) pg_attribute_printf(3, 4) pg_attribute_noreturn();

static void
fail_at(Parser *p, TToken *t, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	tpl_verror(p->source, t->line, t->col, fmt, args);
}

/* unsupported refuses a construct outside noetl's subset, at token t */
static void
unsupported(Parser *p, TToken *t, const char *what) pg_attribute_noreturn();

static void
unsupported(Parser *p, TToken *t, const char *what)
{
	fail_at(p, t, "%s is not supported by noetl templates", what);
}

/* expect_op consumes the operator op, or fails as Jinja2 does */
static void
expect_op(Parser *p, const char *op)
{
	TToken	   *t = cur(p);

	if (!is_op(t, op))
		fail_at(p, t, "expected token '%s', got '%s'", op, describe(t));
	advance(p);
}

/* new_node makes a node of kind at the position of token t */
static TNode *
new_node(TNodeKind kind, TToken *t)
{
	TNode	   *n = palloc0(sizeof(TNode));

	n->kind = kind;
	n->line = t->line;
	n->col = t->col;
	n->id = -1;
	return n;
}

/* add_item appends item to a growing array of nodes */
static void
add_item(TNode ***items, int *n, int *cap, TNode *item)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 4;
		*items = *items ? repalloc(*items, sizeof(TNode *) * *cap)
			: palloc(sizeof(TNode *) * *cap);
	}
	(*items)[(*n)++] = item;
}

/* is_expr_end says whether t ends an expression list: a tag's end or ")" */
static bool
is_expr_end(TToken *t)
{
	return t->kind == TT_VAR_END || t->kind == TT_BLOCK_END || t->kind == TT_EOF ||
		is_op(t, ")");
}

/*
 * parse_args parses "(args, key=value)" after a filter or a function name.
 */
static void
parse_args(Parser *p, TNode *n)
{
	TToken	   *open = cur(p);
	int			cap = 0;
	int			kcap = 0;
	bool		need_comma = false;

	expect_op(p, "(");
	while (!is_op(cur(p), ")"))
	{
		TToken	   *t;

		if (need_comma)
		{
			expect_op(p, ",");
			if (is_op(cur(p), ")"))
				break;
		}
		t = cur(p);
		if (is_op(t, "*") || is_op(t, "**"))
			unsupported(p, t, "argument unpacking");
		if (t->kind == TT_NAME && is_op(peek(p, 1), "="))
		{
			if (n->nkwargs == kcap)
			{
				kcap = kcap ? kcap * 2 : 4;
				n->kwnames = n->kwnames ? repalloc(n->kwnames, sizeof(char *) * kcap)
					: palloc(sizeof(char *) * kcap);
				n->kwargs = n->kwargs ? repalloc(n->kwargs, sizeof(TNode *) * kcap)
					: palloc(sizeof(TNode *) * kcap);
			}
			n->kwnames[n->nkwargs] = pnstrdup(t->text, t->len);
			advance(p);
			advance(p);
			n->kwargs[n->nkwargs++] = parse_expression(p, true);
		}
		else
		{
			if (n->nkwargs > 0)
				fail_at(p, open, "invalid syntax for function call expression");
			add_item(&n->items, &n->nitems, &cap, parse_expression(p, true));
		}
		need_comma = true;
	}
	expect_op(p, ")");
}

/* parse_list parses a list literal: [a, b, ...] */
static TNode *
parse_list(Parser *p)
{
	TToken	   *t = cur(p);
	TNode	   *n = new_node(TN_LIST, t);
	int			cap = 0;

	expect_op(p, "[");
	while (!is_op(cur(p), "]"))
	{
		if (n->nitems > 0)
			expect_op(p, ",");
		if (is_op(cur(p), "]"))
			break;
		add_item(&n->items, &n->nitems, &cap, parse_expression(p, true));
	}
	expect_op(p, "]");
	return n;
}

/* parse_dict parses a dict literal: {k: v, ...} */
static TNode *
parse_dict(Parser *p)
{
	TToken	   *t = cur(p);
	TNode	   *n = new_node(TN_DICT, t);
	int			cap = 0;

	expect_op(p, "{");
	while (!is_op(cur(p), "}"))
	{
		if (n->nitems > 0)
			expect_op(p, ",");
		if (is_op(cur(p), "}"))
			break;
		add_item(&n->items, &n->nitems, &cap, parse_expression(p, true));
		expect_op(p, ":");
		add_item(&n->items, &n->nitems, &cap, parse_expression(p, true));
	}
	expect_op(p, "}");
	return n;
}

/* parse_primary parses a name, a literal, a list, a dict or (expr) */
static TNode *
parse_primary(Parser *p)
{
	TToken	   *t = cur(p);
	TNode	   *n;

	if (t->kind == TT_NAME)
	{
		if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False"))
		{
			n = new_node(TN_CONST, t);
			n->value = tv_bool(t->text[0] == 't' || t->text[0] == 'T');
		}
		else if (is_name(t, "none") || is_name(t, "None"))
		{
			n = new_node(TN_CONST, t);
			n->value = tv_none();
		}
		else
		{
			n = new_node(TN_NAME, t);
			n->name = pnstrdup(t->text, t->len);
		}
		advance(p);
		return n;
	}
	if (t->kind == TT_STRING)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		n = new_node(TN_CONST, t);
		while (cur(p)->kind == TT_STRING)
		{
			appendBinaryStringInfo(&buf, cur(p)->text, cur(p)->len);
			advance(p);
		}
		n->value = tv_str(buf.data, buf.len);
		return n;
	}
	if (t->kind == TT_INT || t->kind == TT_FLOAT)
	{
		n = new_node(TN_CONST, t);
		n->value = t->num;
		advance(p);
		return n;
	}
	if (is_op(t, "("))
	{
		advance(p);
		n = parse_tuple(p, true, true);
		expect_op(p, ")");
		return n;
	}
	if (is_op(t, "["))
		return parse_list(p);
	if (is_op(t, "{"))
		return parse_dict(p);
	fail_at(p, t, "unexpected '%s'", describe(t));
}

/*
 * is_constant says whether Jinja2's optimizer can fold n: literals, and
 * lists, tuples, dicts and signs of them.
 */
static bool
is_constant(TNode *n)
{
	int			i;

	if (n == NULL)
		return true;
	check_stack_depth();
	switch (n->kind)
	{
		case TN_CONST:
			return true;
		case TN_NEG:
		case TN_POS:
			return is_constant(n->a);
		case TN_LIST:
		case TN_TUPLE:
		case TN_DICT:
			for (i = 0; i < n->nitems; i++)
				if (!is_constant(n->items[i]))
					return false;
			return true;
		default:
			return false;
	}
}

/* is_constant_slice says whether n is a slice of literals */
static bool
is_constant_slice(TNode *n)
{
	return n->kind == TN_SLICE && is_constant(n->a) && is_constant(n->items[0]) &&
		is_constant(n->items[1]) && is_constant(n->items[2]);
}

/* parse_subscript parses .name, .0 or [expr] after node */
static TNode *
parse_subscript(Parser *p, TNode *node)
{
	TToken	   *t = cur(p);
	TNode	   *n;

	if (is_op(t, "."))
	{
		TToken	   *a;

		advance(p);
		a = cur(p);
		if (a->kind == TT_NAME)
		{
			n = new_node(TN_GETATTR, t);
			n->a = node;
			n->name = pnstrdup(a->text, a->len);
			advance(p);
			return n;
		}
		if (a->kind != TT_INT)
			fail_at(p, a, "expected name or number");
		n = new_node(TN_GETITEM, t);
		n->a = node;
		n->b = new_node(TN_CONST, a);
		n->b->value = a->num;
		advance(p);
		return n;
	}
	/* "[": an index, or a slice [start:stop:step] with any part left out */
	advance(p);
	{
		TNode	   *first = NULL;

		if (!is_op(cur(p), ":"))
			first = parse_expression(p, true);
		if (is_op(cur(p), ":"))
		{
			n = new_node(TN_SLICE, t);
			n->a = node;
			n->items = palloc0(sizeof(TNode *) * 3);
			n->nitems = 3;
			n->items[0] = first;
			advance(p);
			if (!is_op(cur(p), "]") && !is_op(cur(p), ",") && !is_op(cur(p), ":"))
				n->items[1] = parse_expression(p, true);
			if (is_op(cur(p), ":"))
			{
				advance(p);
				if (!is_op(cur(p), "]") && !is_op(cur(p), ","))
					n->items[2] = parse_expression(p, true);
			}
		}
		else if (is_op(cur(p), ","))
		{
			/* x[a, b]: a tuple index, which no value of noetl's has */
			TNode	   *tuple = new_node(TN_TUPLE, t);
			int			cap = 0;

			add_item(&tuple->items, &tuple->nitems, &cap, first);
			while (is_op(cur(p), ","))
			{
				advance(p);
				if (is_op(cur(p), "]"))
					fail_at(p, cur(p), "unexpected ']'");
				if (is_op(cur(p), ":"))
					unsupported(p, cur(p), "a slice in a tuple index");
				add_item(&tuple->items, &tuple->nitems, &cap, parse_expression(p, true));
				if (is_op(cur(p), ":"))
					unsupported(p, cur(p), "a slice in a tuple index");
			}
			n = new_node(TN_GETITEM, t);
			n->a = node;
			n->b = tuple;
		}
		else
		{
			n = new_node(TN_GETITEM, t);
			n->a = node;
			n->b = first;
		}
	}
	if (is_op(cur(p), ","))
		unsupported(p, cur(p), "a slice in a tuple index");
	expect_op(p, "]");
	return n;
}

/* parse_call parses name(args): only functions called by name */
static TNode *
parse_call(Parser *p, TNode *node)
{
	TToken	   *t = cur(p);
	TNode	   *n;

	if (node->kind == TN_GETATTR)
	{
		/* obj.name(args): a method call, or a call of what obj.name holds */
		n = new_node(TN_METHOD, t);
		n->line = node->line;
		n->col = node->col;
		n->a = node->a;
		n->name = node->name;
		parse_args(p, n);
		return n;
	}
	if (node->kind != TN_NAME)
		unsupported(p, t, "calling anything but a function or a method (results of calls, items)");
	n = new_node(TN_CALL, t);
	n->line = node->line;
	n->col = node->col;
	n->name = node->name;
	n->id = tpl_function_id(node->name);
	if (lookup(n->name, other_functions, lengthof(other_functions)) >= 0)
		unsupported(p, t, psprintf("the function %s()", n->name));
	if (n->id < 0)
		p->tpl->worker_side = true;
	parse_args(p, n);
	return n;
}

/* parse_postfix parses the subscripts and calls after a primary */
static TNode *
parse_postfix(Parser *p, TNode *node)
{
	for (;;)
	{
		TToken	   *t = cur(p);

		if (is_op(t, ".") || is_op(t, "["))
			node = parse_subscript(p, node);
		else if (is_op(t, "("))
			node = parse_call(p, node);
		else
			return node;
	}
}

/*
 * dotted_name reads "name(.name)*" for filters and tests.
 */
static char *
dotted_name(Parser *p, bool *dotted)
{
	TToken	   *t = cur(p);
	StringInfoData buf;

	if (t->kind != TT_NAME)
		fail_at(p, t, "expected token 'name', got '%s'", describe(t));
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, t->text, t->len);
	advance(p);
	*dotted = false;
	while (is_op(cur(p), "."))
	{
		advance(p);
		t = cur(p);
		if (t->kind != TT_NAME)
			fail_at(p, t, "expected token 'name', got '%s'", describe(t));
		appendStringInfoChar(&buf, '.');
		appendBinaryStringInfo(&buf, t->text, t->len);
		advance(p);
		*dotted = true;
	}
	return buf.data;
}

/* parse_filter parses "| name" or "| name(args)" after node */
static TNode *
parse_filter(Parser *p, TNode *node)
{
	TToken	   *t;
	TNode	   *n;
	bool		dotted;

	advance(p);					/* "|" */
	t = cur(p);
	n = new_node(TN_FILTER, t);
	n->a = node;
	n->name = dotted_name(p, &dotted);
	n->id = dotted ? -1 : tpl_filter_id(n->name);
	n->conditional = p->conditional > 0;
	if (n->id < 0 && !n->conditional)
		fail_at(p, t, "no filter named '%s'", n->name);
	if (is_op(cur(p), "("))
		parse_args(p, n);
	return n;
}

/* parse_test parses "is [not] name", with its argument, after node */
static TNode *
parse_test(Parser *p, TNode *node)
{
	TToken	   *is = cur(p);
	TToken	   *t;
	TNode	   *n;
	bool		dotted;
	int			cap = 0;

	advance(p);					/* "is" */
	n = new_node(TN_TEST, is);
	n->a = node;
	if (is_name(cur(p), "not"))
	{
		n->negated = true;
		advance(p);
	}
	t = cur(p);
	n->name = dotted_name(p, &dotted);
	n->id = dotted ? -1 : tpl_test_id(n->name);
	n->conditional = p->conditional > 0;
	if (n->id < 0 && !n->conditional)
		fail_at(p, t, "no test named '%s'", n->name);
	t = cur(p);
	if (is_op(t, "("))
		parse_args(p, n);
	else if ((t->kind == TT_NAME || t->kind == TT_STRING || t->kind == TT_INT ||
			  t->kind == TT_FLOAT || is_op(t, "(") || is_op(t, "[") || is_op(t, "{")) &&
			 !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and"))
	{
		TNode	   *arg;

		if (is_name(t, "is"))
			fail_at(p, t, "You cannot chain multiple tests with is");
		arg = parse_postfix(p, parse_primary(p));
		add_item(&n->items, &n->nitems, &cap, arg);
	}
	return n;
}

/* parse_filter_expr parses the filters, tests and calls after node */
static TNode *
parse_filter_expr(Parser *p, TNode *node)
{
	for (;;)
	{
		TToken	   *t = cur(p);

		if (is_op(t, "|"))
			node = parse_filter(p, node);
		else if (is_name(t, "is"))
			node = parse_test(p, node);
		else if (is_op(t, "("))
			node = parse_call(p, node);
		else
			return node;
	}
}

/*
 * parse_unary parses unary (see the grammar above); with_filter lets
 * filters and tests bind to it
 */
static TNode *
parse_unary(Parser *p, bool with_filter)
{
	TToken	   *t = cur(p);
	TNode	   *n;

	check_stack_depth();
	if (is_op(t, "-") || is_op(t, "+"))
	{
		advance(p);
		n = new_node(is_op(t, "-") ? TN_NEG : TN_POS, t);
		n->a = parse_unary(p, false);
	}
	else
		n = parse_primary(p);
	n = parse_postfix(p, n);
	if (with_filter)
		n = parse_filter_expr(p, n);
	return n;
}

/* binary makes the node of a binary operator */
static TNode *
binary(TNodeKind kind, TToken *t, TNode *a, TNode *b)
{
	TNode	   *n = new_node(kind, t);

	n->a = a;
	n->b = b;
	return n;
}

/* parse_pow parses pow := unary ("**" unary)* */
static TNode *
parse_pow(Parser *p)
{
	TNode	   *left = parse_unary(p, true);

	while (is_op(cur(p), "**"))
	{
		TToken	   *t = cur(p);

		advance(p);
		left = binary(TN_POW, t, left, parse_unary(p, true));
	}
	return left;
}

/* parse_math2 parses math2 := pow (("*"|"/"|"//"|"%") pow)* */
static TNode *
parse_math2(Parser *p)
{
	TNode	   *left = parse_pow(p);

	for (;;)
	{
		TToken	   *t = cur(p);
		TNodeKind	k;

		if (is_op(t, "*"))
			k = TN_MUL;
		else if (is_op(t, "/"))
			k = TN_DIV;
		else if (is_op(t, "//"))
			k = TN_FLOORDIV;
		else if (is_op(t, "%"))
			k = TN_MOD;
		else
			return left;
		advance(p);
		left = binary(k, t, left, parse_pow(p));
	}
}

/* parse_concat parses concat := math2 ("~" math2)* */
static TNode *
parse_concat(Parser *p)
{
	TToken	   *t = cur(p);
	TNode	   *first = parse_math2(p);
	TNode	   *n;
	int			cap = 0;

	if (!is_op(cur(p), "~"))
		return first;
	n = new_node(TN_CONCAT, t);
	add_item(&n->items, &n->nitems, &cap, first);
	while (is_op(cur(p), "~"))
	{
		advance(p);
		add_item(&n->items, &n->nitems, &cap, parse_math2(p));
	}

	/*
	 * Jinja2's optimizer folds a "~" of constants into its string, slices of
	 * literals included (their Undefined is printed as nothing, see
	 * tpl_slice); anything not constant leaves the slices to run.
	 */
	{
		int			i;
		bool		folds = true;

		for (i = 0; i < n->nitems && folds; i++)
			folds = is_constant(n->items[i]) || is_constant_slice(n->items[i]);
		for (i = 0; i < n->nitems && folds; i++)
			if (n->items[i]->kind == TN_SLICE)
				n->items[i]->constant = true;
	}
	return n;
}

/* parse_math1 parses math1 := concat (("+"|"-") concat)* */
static TNode *
parse_math1(Parser *p)
{
	TNode	   *left = parse_concat(p);

	for (;;)
	{
		TToken	   *t = cur(p);

		if (is_op(t, "+"))
		{
			advance(p);
			left = binary(TN_ADD, t, left, parse_concat(p));
		}
		else if (is_op(t, "-"))
		{
			advance(p);
			left = binary(TN_SUB, t, left, parse_concat(p));
		}
		else
			return left;
	}
}

/* parse_compare parses a comparison chain: math1 (op math1)* */
static TNode *
parse_compare(Parser *p)
{
	TToken	   *t = cur(p);
	TNode	   *expr = parse_math1(p);
	TNode	   *n = NULL;
	int			cap = 0;
	int			ocap = 0;

	for (;;)
	{
		TToken	   *o = cur(p);
		TCmpOp		op;

		if (is_op(o, "=="))
			op = TC_EQ;
		else if (is_op(o, "!="))
			op = TC_NE;
		else if (is_op(o, "<"))
			op = TC_LT;
		else if (is_op(o, "<="))
			op = TC_LE;
		else if (is_op(o, ">"))
			op = TC_GT;
		else if (is_op(o, ">="))
			op = TC_GE;
		else if (is_name(o, "in"))
			op = TC_IN;
		else if (is_name(o, "not") && is_name(peek(p, 1), "in"))
		{
			op = TC_NOTIN;
			advance(p);
		}
		else
			break;
		advance(p);
		if (n == NULL)
		{
			n = new_node(TN_COMPARE, t);
			add_item(&n->items, &n->nitems, &cap, expr);
		}
		if (n->nitems == ocap + 1)
		{
			ocap = ocap ? ocap * 2 : 4;
			n->ops = n->ops ? repalloc(n->ops, sizeof(TCmpOp) * ocap)
				: palloc(sizeof(TCmpOp) * ocap);
		}
		n->ops[n->nitems - 1] = op;
		add_item(&n->items, &n->nitems, &cap, parse_math1(p));
	}
	return n ? n : expr;
}

/* parse_not parses not := "not" not | compare */
static TNode *
parse_not(Parser *p)
{
	TToken	   *t = cur(p);

	if (is_name(t, "not"))
	{
		TNode	   *n = new_node(TN_NOT, t);

		advance(p);
		check_stack_depth();
		n->a = parse_not(p);
		return n;
	}
	return parse_compare(p);
}

/* parse_and parses and := not ("and" not)* */
static TNode *
parse_and(Parser *p)
{
	TNode	   *left = parse_not(p);

	while (is_name(cur(p), "and"))
	{
		TToken	   *t = cur(p);

		advance(p);
		left = binary(TN_AND, t, left, parse_not(p));
	}
	return left;
}

/* parse_or parses or := and ("or" and)* */
static TNode *
parse_or(Parser *p)
{
	TNode	   *left = parse_and(p);

	while (is_name(cur(p), "or"))
	{
		TToken	   *t = cur(p);

		advance(p);
		left = binary(TN_OR, t, left, parse_and(p));
	}
	return left;
}

/* parse_condexpr parses expr := or ["if" or ["else" expr]] */
static TNode *
parse_condexpr(Parser *p)
{
	TNode	   *expr1;

	/* both branches are conditional: unknown filters there fail late */
	p->conditional++;
	expr1 = parse_or(p);
	p->conditional--;
	if (!is_name(cur(p), "if"))
	{
		/* not a conditional after all: re-check what was parsed */
		return expr1;
	}
	while (is_name(cur(p), "if"))
	{
		TToken	   *t = cur(p);
		TNode	   *n = new_node(TN_COND, t);

		advance(p);
		n->b = expr1;
		p->conditional++;
		n->a = parse_or(p);
		p->conditional--;
		if (is_name(cur(p), "else"))
		{
			advance(p);
			p->conditional++;
			n->c = parse_condexpr(p);
			p->conditional--;
		}
		expr1 = n;
	}
	return expr1;
}

/*
 * recheck_unknown refuses unknown filters and tests in an expression that
 * turned out not to be conditional.
 */
static void
recheck_unknown(Parser *p, TNode *n)
{
	int			i;

	if (n == NULL)
		return;
	check_stack_depth();
	if ((n->kind == TN_FILTER || n->kind == TN_TEST) && n->id < 0 && n->conditional)
	{
		n->conditional = false;
		tpl_error(p->source, n->line, n->col, "no %s named '%s'",
				  n->kind == TN_FILTER ? "filter" : "test", n->name);
	}
	if (n->kind == TN_COND)
		return;					/* all of a conditional fails late */
	recheck_unknown(p, n->a);
	recheck_unknown(p, n->b);
	recheck_unknown(p, n->c);
	for (i = 0; i < n->nitems; i++)
		recheck_unknown(p, n->items[i]);
	for (i = 0; i < n->nkwargs; i++)
		recheck_unknown(p, n->kwargs[i]);
}

/*
 * parse_expression parses an expression, with if-else unless
 * with_condexpr is false
 */
static TNode *
parse_expression(Parser *p, bool with_condexpr)
{
	TNode	   *n;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (!with_condexpr)
		return parse_or(p);
	n = parse_condexpr(p);
	if (n->kind != TN_COND && p->conditional == 0)
		recheck_unknown(p, n);
	return n;
}

/*
 * parse_tuple is Jinja2's parse_tuple: an expression, or expressions
 * separated by commas (a trailing one allowed), which make a tuple.
 * explicit is set inside parentheses, where "()" is the empty tuple.
 */
static TNode *
parse_tuple(Parser *p, bool with_condexpr, bool explicit)
{
	TToken	   *t = cur(p);
	TNode	   *n = new_node(TN_TUPLE, t);
	int			cap = 0;
	bool		is_tuple = false;

	for (;;)
	{
		TNode	   *item;

		if (n->nitems > 0)
			expect_op(p, ",");
		if (is_expr_end(cur(p)))
			break;
		item = parse_expression(p, with_condexpr);
		if (!with_condexpr && p->conditional == 0)
			recheck_unknown(p, item);
		add_item(&n->items, &n->nitems, &cap, item);
		if (!is_op(cur(p), ","))
			break;
		is_tuple = true;
	}
	if (!is_tuple)
	{
		if (n->nitems > 0)
			return n->items[0];
		if (!explicit)
			fail_at(p, cur(p), "Expected an expression, got '%s'", describe(cur(p)));
	}
	return n;
}

/*
 * parse_tag_expression parses the expression of a print tag or a
 * statement: a tuple where Jinja2 allows one.
 */
static TNode *
parse_tag_expression(Parser *p, bool with_condexpr)
{
	return parse_tuple(p, with_condexpr, false);
}

/*
 * parse_targets parses the names a for loop or a set assigns: "name",
 * "a, b", "(a, b)".  One name is n->name; several are n->names.
 */
static void
parse_targets(Parser *p, TNode *n, const char *what)
{
	bool		paren = false;
	int			cap = 0;
	bool		is_tuple = false;

	if (is_op(cur(p), "("))
	{
		paren = true;
		advance(p);
	}
	for (;;)
	{
		TToken	   *t = cur(p);
		char	   *name;

		if (n->nnames > 0)
		{
			/* Jinja2 takes no trailing comma here */
			expect_op(p, ",");
			t = cur(p);
		}
		if (is_op(t, "("))
			unsupported(p, t, "nested unpacking");
		if (t->kind != TT_NAME)
			fail_at(p, t, "expected %s, got '%s'", what, describe(t));
		name = pnstrdup(t->text, t->len);
		if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0 ||
			strcmp(name, "none") == 0 || strcmp(name, "True") == 0 ||
			strcmp(name, "False") == 0 || strcmp(name, "None") == 0)
			fail_at(p, t, "can't assign to '%s'", name);
		if (n->nnames == cap)
		{
			cap = cap ? cap * 2 : 4;
			n->names = n->names ? repalloc(n->names, sizeof(char *) * cap)
				: palloc(sizeof(char *) * cap);
		}
		n->names[n->nnames++] = name;
		advance(p);
		if (is_op(cur(p), "."))
			unsupported(p, cur(p), "assigning to an attribute (namespace())");
		if (!is_op(cur(p), ","))
			break;
		is_tuple = true;
	}
	if (paren)
		expect_op(p, ")");
	if (!is_tuple && !paren)
	{
		n->name = n->names[0];
		n->names = NULL;
		n->nnames = 0;
	}
	else if (!is_tuple)
	{
		/* "(a)" is the name a */
		n->name = n->names[0];
		n->names = NULL;
		n->nnames = 0;
	}
}

/* expect_block_end consumes the end of a statement tag */
static void
expect_block_end(Parser *p)
{
	TToken	   *t = cur(p);

	if (t->kind != TT_BLOCK_END)
		fail_at(p, t, "expected token 'end of statement block', got '%s'", describe(t));
	advance(p);
}

/* parse_if parses {% if %} ... {% elif %} ... {% else %} ... {% endif %} */
static TNode *
parse_if(Parser *p, TToken *t)
{
	static const char *const ends[] = {"elif", "else", "endif"};
	TNode	   *result = new_node(TN_IF, t);
	TNode	   *node = result;

	for (;;)
	{
		TToken	   *kw;

		/* the whole if statement, test included, fails late */
		p->conditional++;
		node->a = parse_tag_expression(p, false);
		expect_block_end(p);
		node->items = parse_body(p, &node->nitems, ends, lengthof(ends));
		p->conditional--;
		kw = cur(p);
		advance(p);
		if (is_name(kw, "elif"))
		{
			TNode	   *next = new_node(TN_IF, kw);

			/* an elif is an if in the else branch */
			node->items2 = palloc(sizeof(TNode *));
			node->items2[0] = next;
			node->nitems2 = 1;
			node = next;
			continue;
		}
		if (is_name(kw, "else"))
		{
			static const char *const endif[] = {"endif"};

			expect_block_end(p);
			p->conditional++;
			node->items2 = parse_body(p, &node->nitems2, endif, 1);
			p->conditional--;
			advance(p);			/* endif */
		}
		expect_block_end(p);
		return result;
	}
}

/* parse_for parses {% for x in seq [if cond] %} ... {% else %} ... {% endfor %} */
static TNode *
parse_for(Parser *p, TToken *t)
{
	static const char *const ends[] = {"endfor", "else"};
	TNode	   *n = new_node(TN_FOR, t);
	TToken	   *target = cur(p);
	TToken	   *kw;
	int			saved;
	int			i;

	parse_targets(p, n, "a loop variable");
	for (i = 0; i < Max(n->nnames, 1); i++)
		if (strcmp(n->nnames ? n->names[i] : n->name, "loop") == 0)
			fail_at(p, target, "Can't assign to special loop variable in for-loop target");
	if (!is_name(cur(p), "in"))
		fail_at(p, cur(p), "expected token 'in', got '%s'", describe(cur(p)));
	advance(p);
	n->a = parse_tag_expression(p, false);
	if (is_name(cur(p), "if"))
	{
		/* a loop filter: only items for which the test holds are looped over */
		advance(p);
		n->b = parse_tag_expression(p, true);
	}
	if (is_name(cur(p), "recursive"))
		unsupported(p, cur(p), "a recursive loop");
	expect_block_end(p);
	/* a loop body is checked eagerly even inside an if, as Jinja2 does */
	saved = p->conditional;
	p->conditional = 0;
	n->items = parse_body(p, &n->nitems, ends, lengthof(ends));
	kw = cur(p);
	advance(p);
	if (is_name(kw, "else"))
	{
		static const char *const endfor[] = {"endfor"};

		expect_block_end(p);
		n->items2 = parse_body(p, &n->nitems2, endfor, 1);
		advance(p);
	}
	p->conditional = saved;
	expect_block_end(p);
	return n;
}

/*
 * parse_set parses {% set names = expr %} and the block form
 * {% set name %}...{% endset %}.
 */
static TNode *
parse_set(Parser *p, TToken *t)
{
	static const char *const ends[] = {"endset"};
	TNode	   *n = new_node(TN_SET, t);

	parse_targets(p, n, "a variable name");
	if (is_op(cur(p), "="))
	{
		advance(p);
		n->a = parse_tag_expression(p, true);
		expect_block_end(p);
		return n;
	}
	if (n->nnames > 0)
		fail_at(p, cur(p), "expected token '=', got '%s'", describe(cur(p)));
	if (is_op(cur(p), "|"))
	{
		/* {% set x | f %}: the filters apply to the rendered block, a name
		 * no template can spell */
		TNode	   *block = new_node(TN_NAME, cur(p));

		block->name = " block";
		n->b = block;
		while (is_op(cur(p), "|"))
			n->b = parse_filter(p, n->b);
		if (p->conditional == 0)
			recheck_unknown(p, n->b);
	}
	expect_block_end(p);
	n->items = parse_body(p, &n->nitems, ends, lengthof(ends));
	advance(p);					/* endset */
	expect_block_end(p);
	return n;
}

/*
 * parse_body parses template content until a statement tag whose keyword
 * is one of ends (left as the current token), or the end of the template
 * when ends is NULL.
 */
static TNode **
parse_body(Parser *p, int *n, const char *const *ends, int nends)
{
	TNode	  **body = NULL;
	int			cap = 0;

	*n = 0;
	check_stack_depth();
	for (;;)
	{
		TToken	   *t = cur(p);

		CHECK_FOR_INTERRUPTS();
		if (t->kind == TT_EOF)
		{
			if (ends != NULL)
			{
				StringInfoData exp;
				int			i;

				initStringInfo(&exp);
				for (i = 0; i < nends; i++)
					appendStringInfo(&exp, "%s'%s'", i ? " or " : "", ends[i]);
				fail_at(p, t, "Unexpected end of template. Jinja was looking for the following tags: %s.",
						exp.data);
			}
			return body;
		}
		if (t->kind == TT_DATA)
		{
			TNode	   *d = new_node(TN_TEXT, t);

			d->value = tv_str(t->text, t->len);
			add_item(&body, n, &cap, d);
			advance(p);
			continue;
		}
		if (t->kind == TT_VAR_BEGIN)
		{
			TNode	   *o = new_node(TN_OUTPUT, t);
			TToken	   *e;

			advance(p);
			o->a = parse_tag_expression(p, true);

			/*
			 * Jinja2's code generator folds an output that is constant as a
			 * whole; a slice of constants folds through environment.getitem
			 * (see tpl_slice).  Nested in a larger expression it runs.
			 */
			if (o->a->kind == TN_SLICE)
				o->a->constant = is_constant_slice(o->a);
			e = cur(p);
			if (e->kind != TT_VAR_END)
				fail_at(p, e, "expected token 'end of print statement', got '%s'", describe(e));
			advance(p);
			add_item(&body, n, &cap, o);
			continue;
		}
		if (t->kind == TT_BLOCK_BEGIN)
		{
			TToken	   *kw;
			int			i;

			advance(p);
			kw = cur(p);
			if (kw->kind != TT_NAME)
				fail_at(p, kw, "tag name expected");
			for (i = 0; i < nends; i++)
				if (is_name(kw, ends[i]))
					return body;
			advance(p);
			if (is_name(kw, "if"))
				add_item(&body, n, &cap, parse_if(p, kw));
			else if (is_name(kw, "for"))
				add_item(&body, n, &cap, parse_for(p, kw));
			else if (is_name(kw, "set"))
				add_item(&body, n, &cap, parse_set(p, kw));
			else
			{
				char	   *word = pnstrdup(kw->text, kw->len);

				if (lookup(word, other_statements, lengthof(other_statements)) >= 0)
					unsupported(p, kw, psprintf("the statement {%% %s %%}", word));
				fail_at(p, kw, "Encountered unknown tag '%s'.", word);
			}
			continue;
		}
		fail_at(p, t, "unexpected '%s'", describe(t));
	}
}

/*
 * find_single sets tpl->single when the template is one {{ expr }} with
 * nothing but blanks around it.
 */
static void
find_single(TTemplate *tpl)
{
	TNode	   *expr = NULL;
	int			i;

	for (i = 0; i < tpl->nbody; i++)
	{
		TNode	   *n = tpl->body[i];

		if (n->kind == TN_TEXT)
		{
			if (py_rstrip_len(n->value->u.s.p, n->value->u.s.len) > 0)
				return;
		}
		else if (n->kind == TN_OUTPUT && expr == NULL)
			expr = n->a;
		else
			return;
	}
	tpl->single = expr;
}

/*
 * tpl_parse parses a template.
 */
TTemplate *
tpl_parse(const char *src, int len)
{
	Parser		p;
	TTemplate  *tpl = palloc0(sizeof(TTemplate));

	memset(&p, 0, sizeof(p));
	tpl->source = pnstrdup(src, len);
	p.source = tpl->source;
	p.tpl = tpl;
	p.toks = tpl_tokenize(src, len, &p.ntoks);
	tpl->body = parse_body(&p, &tpl->nbody, NULL, 0);
	find_single(tpl);
	return tpl;
}

/*
 * tpl_parse_expression parses a bare expression (no delimiters), as
 * noetl.eval() takes it.
 */
TTemplate *
tpl_parse_expression(const char *src, int len)
{
	StringInfoData buf;
	TTemplate  *tpl;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{{ ");
	appendBinaryStringInfo(&buf, src, len);
	appendStringInfoString(&buf, " }}");
	tpl = tpl_parse(buf.data, buf.len);
	if (tpl->single == NULL || tpl->nbody != 1)
		tpl_error(tpl->source, 1, 1, "expected a single expression");
	return tpl;
}
