/*-------------------------------------------------------------------------
 *
 * template.h
 *	  A Jinja2-compatible template engine over jsonb.
 *
 * NoETL playbooks are Jinja2 templates evaluated against JSON data.  This
 * engine implements a documented subset of Jinja2 3.1 (see README,
 * "Templates") with Jinja2's semantics: Python values and operators,
 * Jinja2's default Undefined, Python's str() for output.  The pieces:
 *
 *	tpl_lex.c		source text -> tokens (Jinja2's lexer rules)
 *	tpl_parse.c		tokens -> syntax tree (Jinja2's grammar)
 *	tpl_value.c		Python values: making them, reading them from jsonb,
 *					len(), iteration, float(), truthiness
 *	tpl_dict.c		dicts: hashed lookups, insertion order
 *	tpl_ops.c		==, ordering, arithmetic
 *	tpl_output.c	str(), repr(), json.dumps, and values to jsonb
 *	tpl_eval.c		evaluation of expressions and rendering of templates,
 *					{% set %} and the scopes of names
 *	tpl_filter.c	filters: argument binding, strings, numbers, tojson
 *	tpl_filter_seq.c	filters on sequences: sort, unique, min, max, ...
 *	tpl_methods.c	method calls (s.split(','), d.get('k')) and slices
 *	tpl_format.c	'%s' % args: Python's printf-style formatting
 *	tpl_filter_iter.c	filters that apply filters and tests: map, select, ...
 *	tpl_filter_str.c	filters on text: truncate, indent, urlencode, ...
 *	tpl_unicode_word.c	Python's \w beyond ASCII (wordcount)
 *	tpl_tests.c		tests (is defined, ...) and functions (range, now)
 *	tpl_budget.c	the budget of a rendering: steps, memory, range()
 *	tpl_proxy.c		NoETL's result proxy: step.data, step.result, is_defined
 *	tpl_coerce.c	NoETL's coercion of rendered text to values
 *	tpl_sql.c		the SQL functions and the per-backend template cache
 *
 * Numbers and whitespace are Python's (pynum.c), jsonb keys are read with
 * jtree.c's helpers.
 *
 * Values borrow from the context jsonb: a mapping or list taken from the
 * context stays a pointer into its container until something needs its
 * elements.  Parsed templates live in the context given to tpl_parse.
 *
 * Every rendering (tpl_render_jsonb, tpl_truthy and the SQL functions) runs
 * within a budget, in a memory context of its own that is deleted when it
 * returns; the result is copied into the caller's context.  Evaluation
 * charges one step per expression node and statement, and steps in
 * proportion to the elements and bytes an operation touches (tpl_charge),
 * so that the work of a rendering is bounded by noetl.template_max_steps;
 * its memory is bounded by noetl.template_max_memory.  A value that lives
 * elsewhere (one the broker's lookup returned, and everything reached
 * through it) is never given memory from the rendering's context: a lazy
 * value is materialised, a dict indexed and a lookup run in the context
 * that owns the value (tpl_owner_enter), and what that costs is counted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_TEMPLATE_H
#define NOETL_TEMPLATE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "pynum.h"

/* ---------------------------------------------------------------- values */

typedef enum TVKind
{
	TV_UNDEF,					/* Jinja2's Undefined */
	TV_NONE,
	TV_BOOL,
	TV_INT,						/* int64 */
	TV_BIG,						/* an int beyond int64, as a numeric */
	TV_FLOAT,
	TV_STR,
	TV_LIST,					/* list (or a generator, see flags) */
	TV_DICT,
	TV_RANGE,
	TV_LOOP						/* the "loop" variable of a for loop */
} TVKind;

/* flags */
#define TVF_MARKUP		0x01	/* a markupsafe.Markup string (tojson) */
#define TVF_GENERATOR	0x02	/* a one-shot iterator (unique) */
#define TVF_TUPLE		0x04	/* a tuple, not a list */
#define TVF_KEYS		0x08	/* dict.keys(): a view */
#define TVF_VALUES		0x10	/* dict.values(): a view */
#define TVF_ITEMS		0x20	/* dict.items(): a view of (key, value) tuples */
#define TVF_VIEW		(TVF_KEYS | TVF_VALUES | TVF_ITEMS)
#define TVF_GROUP		0x40	/* groupby's (grouper, list) namedtuple */
#define TVF_PROXY		0x80	/* a step result under NoETL's rules (tpl_proxy.c) */

typedef struct TVal TVal;

struct TVal
{
	TVKind		kind;
	uint8		flags;
	union
	{
		bool		b;
		int64		i;
		Numeric		big;
		double		f;
		struct
		{
			const char *p;		/* UTF-8 bytes, not NUL-terminated */
			int			len;
		}			s;
		struct
		{
			JsonbContainer *jc; /* lazy: elements still in jsonb */
			int			jclen;	/* its length in bytes */
			TVal	  **items;	/* or materialised */
			int			n;
			int			next;	/* a generator: the items before it are
								 * consumed */
		}			list;
		struct
		{
			JsonbContainer *jc; /* lazy: pairs still in jsonb */
			int			jclen;	/* its length in bytes */
			int			n;
			TVal	  **keys;	/* or materialised, in insertion order */
			TVal	  **vals;
			struct TDictIndex *index;	/* room and hash index, once grown */
			/* or computed: a lookup function (the broker's context) */
			TVal	   *(*lookup) (void *arg, const char *key, int keylen);
			void	   *lookup_arg;
		}			dict;
		struct
		{
			int64		start;
			int64		stop;
			int64		step;
		}			range;
		struct
		{
			int64		index0;
			int64		length;
			TVal	  **items;	/* what the loop iterates over */
		}			loop;
		struct
		{
			const char *hint;	/* why it is undefined, for errors */
		}			undef;
	}			u;
};

/* ---------------------------------------------------------------- syntax */

typedef enum TNodeKind
{
	TN_CONST,
	TN_NAME,
	TN_GETATTR,
	TN_GETITEM,
	TN_NEG,
	TN_POS,
	TN_NOT,
	TN_ADD,
	TN_SUB,
	TN_MUL,
	TN_DIV,
	TN_FLOORDIV,
	TN_MOD,
	TN_POW,
	TN_CONCAT,
	TN_COMPARE,
	TN_AND,
	TN_OR,
	TN_COND,
	TN_FILTER,
	TN_TEST,
	TN_CALL,
	TN_LIST,
	TN_DICT,
	TN_TUPLE,
	TN_SLICE,					/* a[b:c:d]: a, then items[0..2] (NULL if absent) */
	TN_METHOD,					/* a.name(args) */
	/* statements */
	TN_TEXT,
	TN_OUTPUT,
	TN_IF,
	TN_FOR,
	TN_SET						/* {% set names = a %}, or a block set (items) */
} TNodeKind;

typedef enum TCmpOp
{
	TC_EQ,
	TC_NE,
	TC_LT,
	TC_LE,
	TC_GT,
	TC_GE,
	TC_IN,
	TC_NOTIN
} TCmpOp;

typedef struct TNode TNode;

struct TNode
{
	TNodeKind	kind;
	int			line;
	int			col;
	TNode	   *a;				/* operand, object, test, iterable */
	TNode	   *b;				/* right operand, index, then-branch */
	TNode	   *c;				/* else-branch */
	TNode	  **items;			/* list/dict items, args, concat parts,
								 * compare operands, statement bodies */
	int			nitems;
	TNode	  **items2;			/* else bodies */
	int			nitems2;
	char	  **kwnames;		/* keyword argument names (filters, calls) */
	TNode	  **kwargs;
	int			nkwargs;
	TCmpOp	   *ops;			/* compare operators */
	char	   *name;			/* variable, attribute, filter, test, function */
	char	  **names;			/* targets of for and set when unpacking */
	int			nnames;			/* 0: the single target "name" */
	int			id;				/* filter/test/function number, -1 unknown */
	bool		negated;		/* "is not" */
	bool		conditional;	/* inside if/condexpr: unknown names fail late */
	bool		constant;		/* a slice Jinja2 folds at compile time */
	TVal	   *value;			/* constants and text */
};

typedef struct TTemplate
{
	const char *source;			/* the template text */
	TNode	  **body;
	int			nbody;
	TNode	   *single;			/* the expression, if the template is exactly
								 * one {{ expr }} (blanks around allowed) */
	bool		worker_side;	/* calls functions only workers provide */
	const char *unsupported;	/* first construct outside noetl's subset */
	int			unsupported_line;
	int			unsupported_col;
} TTemplate;

/* ---------------------------------------------------------------- tokens */

typedef enum TTokKind
{
	TT_DATA,
	TT_VAR_BEGIN,
	TT_VAR_END,
	TT_BLOCK_BEGIN,
	TT_BLOCK_END,
	TT_NAME,
	TT_STRING,
	TT_INT,
	TT_FLOAT,
	TT_OP,
	TT_EOF
} TTokKind;

typedef struct TToken
{
	TTokKind	kind;
	int			line;
	int			col;
	const char *text;			/* DATA: the text; NAME/OP: the spelling;
								 * STRING: decoded value */
	int			len;
	TVal	   *num;			/* INT/FLOAT value */
} TToken;

/* ---------------------------------------------------------------- budget */

/*
 * The budget of the rendering in progress (tpl_budget.c).  Steps are
 * counted against max_steps; memory is what the rendering's context holds
 * plus what was given to values owned elsewhere (foreign).
 */
typedef struct TplBudget
{
	int64		steps;
	int64		max_steps;
	Size		max_bytes;
	Size		foreign;
	MemoryContext cxt;			/* the rendering's own memory context */
} TplBudget;

/* a rendering in progress: its budget and what it replaced */
typedef struct TplRun
{
	TplBudget	budget;
	TplBudget  *outer;			/* the budget of an enclosing rendering */
	MemoryContext caller;		/* where the result goes */
	const char *saved_source;	/* the enclosing rendering's position */
	int			saved_line;
	int			saved_col;
} TplRun;

/* bytes an operation may touch per step */
#define TPL_BYTES_PER_STEP	64

/* switching to the memory context that owns a value, and back */
typedef struct TplOwner
{
	MemoryContext old;
	MemoryContext owner;
	bool		foreign;		/* owner is outside the rendering's context */
	Size		before;			/* owner's allocation when entered */
} TplOwner;

extern PGDLLIMPORT TplBudget *tpl_budget;
extern const char *tpl_err_source;	/* position of the node being evaluated */
extern int	tpl_err_line;
extern int	tpl_err_col;

extern void tpl_run_begin(TplRun *run);
extern void tpl_run_end(TplRun *run);
extern void tpl_budget_check(void);
extern void tpl_reserve(Size bytes);
extern void tpl_charge_alloc(Size bytes);
extern void tpl_check_range(int64 count);
extern void tpl_owner_enter(TplOwner *o, const void *value);
extern void tpl_owner_leave(TplOwner *o);

/*
 * tpl_charge counts steps against the budget of the rendering in progress
 * (if any), checks its memory, and lets interrupts through.
 */
static inline void
tpl_charge(int64 steps)
{
	CHECK_FOR_INTERRUPTS();
	if (tpl_budget != NULL)
	{
		tpl_budget->steps += steps;
		tpl_budget_check();
	}
}

/* tpl_charge_bytes charges an operation that touches n bytes */
static inline void
tpl_charge_bytes(Size n)
{
	tpl_charge((int64) (n / TPL_BYTES_PER_STEP));
}

/* ---------------------------------------------------------------- API */

/* tpl_lex.c */
extern TToken *tpl_tokenize(const char *src, int len, int *ntokens);

/* tpl_parse.c */
extern TTemplate *tpl_parse(const char *src, int len);
extern TTemplate *tpl_parse_expression(const char *src, int len);
extern void tpl_error(const char *source, int line, int col, const char *fmt,...)
			pg_attribute_printf(4, 5) pg_attribute_noreturn();
extern void tpl_verror(const char *source, int line, int col, const char *fmt, va_list args)
			pg_attribute_printf(4, 0) pg_attribute_noreturn();

/* tpl_value.c */
extern TVal *tv_undef(const char *hint);
extern TVal *tv_none(void);
extern TVal *tv_bool(bool b);
extern TVal *tv_int(int64 i);
extern TVal *tv_big(Numeric n);
extern TVal *tv_from_py_int(const PyIntText *t);
extern TVal *tv_float(double f);
extern TVal *tv_str(const char *p, int len);
extern TVal *tv_cstr(const char *s);
extern TVal *tv_list(TVal **items, int n);
extern TVal *tv_tuple(TVal **items, int n);
extern TVal *tv_generator(TVal **items, int n);
extern TVal *tv_dict_new(void);
extern void tv_buf_init(StringInfo buf, int size);
extern Datum tv_num_datum(TVal *v);
extern void tv_charge_numeric(Datum x, Datum y, bool quadratic);
extern TVal *tv_from_jsonb_value(JsonbValue *jv);
extern TVal *tv_from_jsonb(Jsonb *jb);
extern void tv_materialize(TVal *v);
extern const char *py_char_at(const char *p, int len, int index, int *clen);
extern int	tv_len(TVal *v);
extern TVal *tv_list_get(TVal *v, int i);
extern TVal *tv_iter_items(TVal *v, int *n);
extern const char *tv_type_name(TVal *v);
extern bool tv_is_number(TVal *v);
extern double tv_to_double(TVal *v);
extern int64 tv_to_index(TVal *v, const char *what);
extern bool tv_truthy(TVal *v);

/* tpl_dict.c */
extern void tv_key_hashable(TVal *key);
extern TVal *tv_dict_lookup(TVal *d, TVal *key, bool *found);
extern TVal *tv_dict_get_str(TVal *d, const char *key, int keylen);
extern void tv_dict_set(TVal *d, TVal *key, TVal *val);
extern void tv_dict_update(TVal *d, TVal *from);

/* tpl_ops.c */
extern bool tv_equal(TVal *a, TVal *b);
extern int	tv_compare(TVal *a, TVal *b, const char *op);
extern TVal *tv_arith(TNodeKind op, TVal *a, TVal *b);
extern TVal *tv_negate(TVal *v, bool negate);

/* tpl_output.c */
extern void tv_str_out(StringInfo out, TVal *v);
extern void tv_repr(StringInfo out, TVal *v);
extern TVal *tv_soft_str(TVal *v);
extern TVal *tv_plain_str(TVal *v);
extern void tv_json_dumps(StringInfo out, TVal *v, int indent, int level);
extern Jsonb *tv_to_jsonb(TVal *v);

/* raised by value operations: a Python exception of the given kind (tpl_eval.c) */
extern void tv_fail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

/* tpl_eval.c */
extern void tpl_render(TTemplate *t, TVal *ctx, StringInfo out);
extern TVal *tpl_eval_expr(TTemplate *t, TNode *expr, TVal *ctx);
extern TVal *tpl_getitem(TVal *obj, TVal *key);
extern bool tpl_compare_op(TVal *a, TCmpOp op, TVal *b);

/* tpl_parse.c */
extern int	tpl_filter_id(const char *name);
extern int	tpl_test_id(const char *name);

extern TVal *tpl_getattr(TVal *obj, const char *name, int namelen);
extern bool tpl_is_method(TVal *obj, const char *name, int len);

/* tpl_methods.c */
extern TVal *tpl_call_method(TVal *obj, const char *name, TVal **args, int nargs,
							 char **kwnames, TVal **kwargs, int nkwargs);
extern TVal *tpl_slice(TVal *obj, TVal *start, TVal *stop, TVal *step,
						bool constant);

/* tpl_format.c */
extern TVal *tpl_str_format(TVal *fmt, TVal *args);

/* tpl_proxy.c */
extern PGDLLIMPORT bool tpl_noetl_rules;
extern TVal *tpl_proxy_mark(const char *name, TVal *v);
extern TVal *tpl_proxy_attr(TVal *obj, const char *name, int len);

/* tpl_coerce.c */
extern TVal *tpl_coerce(const char *s, int len);
extern TVal *tpl_read_list(const char *s, int len);

/* tpl_filter.c */
extern TVal *tpl_apply_filter(int id, const char *name, TVal *v, TVal **args,
							  int nargs, char **kwnames, TVal **kwargs, int nkwargs);
extern TVal *tpl_str_lower(TVal *s);
extern void tpl_bind(const char *fname, TVal **args, int nargs, char **kwnames,
					 TVal **kwargs, int nkwargs, const char *const *params,
					 TVal **defaults, int nparams, TVal **out);
extern bool tpl_is_jinja2_filter(const char *name);

/* tpl_filter_seq.c */
extern TVal *tpl_filter_sort(TVal *v, TVal *reverse, TVal *case_sensitive,
							 TVal *attribute);
extern TVal *tpl_filter_unique(TVal *v, TVal *case_sensitive, TVal *attribute);
extern TVal *tpl_filter_min_max(TVal *v, bool max, TVal *case_sensitive,
								TVal *attribute);
extern TVal *tpl_filter_sum(TVal *v, TVal *attribute, TVal *start);
extern TVal *tpl_filter_join(TVal *v, TVal *d, TVal *attribute);
extern TVal *tpl_filter_first_last(TVal *v, bool last);
extern TVal **tpl_attr_parts(TVal *attribute, int *n);
extern TVal *tpl_attr_get(TVal *item, TVal **parts, int nparts, TVal *dflt);
extern TVal *tpl_filter_dictsort(TVal *v, TVal *case_sensitive, TVal *by, TVal *reverse);
extern TVal *tpl_filter_items(TVal *v);
extern TVal *tpl_filter_reverse(TVal *v);
extern TVal *tpl_filter_batch(TVal *v, TVal *linecount, TVal *fill_with);
extern TVal *tpl_filter_slice(TVal *v, TVal *slices, TVal *fill_with);
extern TVal *tpl_filter_groupby(TVal *v, TVal *attribute, TVal *dflt,
								TVal *case_sensitive);

/* tpl_filter_iter.c */
extern TVal *tpl_filter_map(TVal *v, TVal **args, int nargs, char **kwnames,
							TVal **kwargs, int nkwargs);
extern TVal *tpl_filter_select(TVal *v, bool reject, bool attr, TVal **args,
							   int nargs, char **kwnames, TVal **kwargs,
							   int nkwargs);

/* tpl_filter_str.c */
extern TVal *tpl_filter_truncate(TVal *v, TVal *length, TVal *killwords,
								 TVal *end, TVal *leeway);
extern TVal *tpl_filter_wordcount(TVal *v);
extern TVal *tpl_filter_center(TVal *v, TVal *width);
extern TVal *tpl_filter_indent(TVal *v, TVal *width, TVal *first, TVal *blank);
extern TVal *tpl_filter_urlencode(TVal *v);
extern TVal *tpl_filter_filesizeformat(TVal *v, TVal *binary);
extern TVal *tpl_filter_b64encode(TVal *v);
extern TVal *tpl_filter_b64decode(TVal *v);

/* tpl_unicode_word.c */
extern bool tpl_is_word_char(pg_wchar w);

/* tpl_tests.c */
extern bool tpl_case_test(TVal *v, bool upper);
extern bool tpl_apply_test(int id, const char *name, TVal *v, TVal **args, int nargs,
						   char **kwnames, TVal **kwargs, int nkwargs);
extern TVal *tpl_call_function(int id, const char *name, TVal **args, int nargs);

/* tpl_sql.c */
typedef struct TplCache TplCache;
extern TplCache *tplcache_create(MemoryContext parent, int max);
extern Jsonb *tpl_render_jsonb(Jsonb *t, TVal *ctx, TplCache *cache);
extern bool tpl_truthy(const char *cond, int len, TVal *ctx, TplCache *cache);
extern void tpl_check_playbook_template(const char *src, int len,
										const char *(*where) (void *arg),
										void *arg);

#endif							/* NOETL_TEMPLATE_H */
