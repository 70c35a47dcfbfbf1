/*-------------------------------------------------------------------------
 *
 * tpl_budget.c
 *	  The budget of a template rendering: steps, memory and range().
 *
 * A template comes from a playbook, and a playbook from anyone who may
 * register one; the broker evaluates it in whichever backend reports an
 * event, or in its background worker.  So every rendering is bounded:
 *
 *	steps	noetl.template_max_steps.  One step per expression node
 *			evaluated and per statement executed, plus one per element and
 *			per TPL_BYTES_PER_STEP bytes that an operation touches (joining,
 *			repeating, replacing, comparing, sorting, materialising a list
 *			read from jsonb...), so that the time a rendering takes is
 *			bounded by its budget, whatever the template does.
 *	memory	noetl.template_max_memory.  A rendering allocates in a memory
 *			context of its own, whose size is checked whenever steps are
 *			charged, and before the operations that allocate much at once
 *			(tpl_charge_alloc).  Memory given to values that live elsewhere
 *			(tpl_owner_enter) is counted too.
 *	range	noetl.template_max_range: range() refuses to produce more
 *			items, as Jinja2's sandbox does (MAX_RANGE = 100000).
 *
 * Exceeding a budget raises SQLSTATE 54000 (program_limit_exceeded) naming
 * the setting, the limit and the template; template errors keep 22023.
 *
 * tpl_run_begin starts a rendering: a fresh budget and a fresh context
 * (a child of the caller's), made current.  tpl_run_end, which callers
 * run in PG_FINALLY so that it also runs on error, deletes that context,
 * switches back to the caller's context and restores the budget that was
 * in force before.  A rendering started inside another one (from a lookup
 * callback) gets at most what the outer one has left, and its steps are
 * charged to the outer one when it ends, so nesting cannot multiply the
 * bounds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "guc.h"
#include "template.h"

/* the budget of the rendering in progress, or NULL */
TplBudget  *tpl_budget = NULL;

static void budget_fail(const char *what) pg_attribute_noreturn();

/*
 * budget_fail raises the error for an exceeded budget; what names the
 * setting and its limit.
 */
static void
budget_fail(const char *what)
{
	const char *src = tpl_err_source ? tpl_err_source : "";
	int			len = strlen(src);
	int			clip = pg_mbcliplen(src, len, 200);

	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("template exceeded %s", what),
			 errdetail("The limit was reached at line %d, column %d of the template \"%.*s%s\".",
					   tpl_err_line, tpl_err_col, clip, src, clip < len ? "..." : ""),
			 errhint("Simplify the template, or ask a superuser to raise the setting.")));
}

/* memory_in_use is what the rendering in progress holds */
static Size
memory_in_use(TplBudget *b)
{
	return MemoryContextMemAllocated(b->cxt, true) + b->foreign;
}

/*
 * tpl_budget_check raises the error for a budget exceeded by the rendering
 * in progress.
 */
void
tpl_budget_check(void)
{
	TplBudget  *b = tpl_budget;

	if (b == NULL)
		return;
	if (b->steps > b->max_steps)
		budget_fail(psprintf("noetl.template_max_steps (%d steps)",
							 noetl_template_max_steps));
	if (memory_in_use(b) > b->max_bytes)
		budget_fail(psprintf("noetl.template_max_memory (%d kB)",
							 noetl_template_max_memory_kb));
}

/*
 * tpl_reserve is called before an operation allocates much at once: it
 * refuses, before the allocation, what would exceed the memory budget.
 */
void
tpl_reserve(Size bytes)
{
	TplBudget  *b = tpl_budget;

	CHECK_FOR_INTERRUPTS();
	if (b == NULL)
		return;
	if (bytes > b->max_bytes || memory_in_use(b) > b->max_bytes - bytes)
		budget_fail(psprintf("noetl.template_max_memory (%d kB)",
							 noetl_template_max_memory_kb));
}

/*
 * tpl_charge_alloc is tpl_reserve for an operation that also writes the
 * bytes it allocates (text), and charges the steps of writing them.
 */
void
tpl_charge_alloc(Size bytes)
{
	tpl_reserve(bytes);
	tpl_charge_bytes(bytes);
}

/*
 * tpl_check_range refuses a range() of more items than
 * noetl.template_max_range allows.
 */
void
tpl_check_range(int64 count)
{
	if (count > noetl_template_max_range)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("range() of " INT64_FORMAT " items exceeds noetl.template_max_range (%d items)",
						count, noetl_template_max_range),
				 errdetail("At line %d, column %d of the template.", tpl_err_line, tpl_err_col),
				 errhint("Iterate over a smaller range, or ask a superuser to raise noetl.template_max_range.")));
}

/*
 * tpl_run_begin starts a rendering: a fresh budget, and a memory context
 * of its own (a child of the current one), made current.
 */
void
tpl_run_begin(TplRun *run)
{
	TplBudget  *b = &run->budget;

	run->caller = CurrentMemoryContext;
	run->outer = tpl_budget;
	run->saved_source = tpl_err_source;
	run->saved_line = tpl_err_line;
	run->saved_col = tpl_err_col;
	b->cxt = AllocSetContextCreate(CurrentMemoryContext, "noetl template rendering",
								   ALLOCSET_DEFAULT_SIZES);
	b->steps = 0;
	b->max_steps = noetl_template_max_steps;
	b->max_bytes = (Size) noetl_template_max_memory_kb * 1024;
	b->foreign = 0;
	if (run->outer != NULL)
		b->max_steps = Max(0, Min(b->max_steps,
								  run->outer->max_steps - run->outer->steps));
	tpl_budget = b;
	MemoryContextSwitchTo(b->cxt);
}

/*
 * tpl_run_end ends a rendering, on success or on error: it switches back
 * to the caller's context, deletes the rendering's, and restores what was
 * in force before.  The caller must have copied its result out.
 */
void
tpl_run_end(TplRun *run)
{
	MemoryContextSwitchTo(run->caller);
	if (run->outer != NULL)
		run->outer->steps += run->budget.steps;
	tpl_budget = run->outer;
	tpl_err_source = run->saved_source;
	tpl_err_line = run->saved_line;
	tpl_err_col = run->saved_col;
	MemoryContextDelete(run->budget.cxt);
}

/* in_rendering says whether cxt is the rendering's context or inside it */
static bool
in_rendering(TplBudget *b, MemoryContext cxt)
{
	for (; cxt != NULL; cxt = cxt->parent)
		if (cxt == b->cxt)
			return true;
	return false;
}

/*
 * tpl_owner_enter makes the memory context that owns value (a palloc'd
 * chunk) current, so that what is attached to the value (its materialised
 * items, its index, what a lookup caches) lives as long as the value does.
 * For a value owned outside the rendering, what that context grows by
 * until tpl_owner_leave is counted as the rendering's memory.
 */
void
tpl_owner_enter(TplOwner *o, const void *value)
{
	o->owner = GetMemoryChunkContext((void *) value);
	o->foreign = tpl_budget != NULL && !in_rendering(tpl_budget, o->owner);
	o->before = o->foreign ? MemoryContextMemAllocated(o->owner, false) : 0;
	o->old = MemoryContextSwitchTo(o->owner);
}

/* tpl_owner_leave switches back, counting what a foreign owner gave */
void
tpl_owner_leave(TplOwner *o)
{
	MemoryContextSwitchTo(o->old);
	if (o->foreign && tpl_budget != NULL)
	{
		Size		after = MemoryContextMemAllocated(o->owner, false);

		if (after > o->before)
			tpl_budget->foreign += after - o->before;
		tpl_budget_check();
	}
}
