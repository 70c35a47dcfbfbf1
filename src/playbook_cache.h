/*-------------------------------------------------------------------------
 *
 * playbook_cache.h
 *	  Registered playbooks, parsed once per backend, as the broker runs them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PLAYBOOK_CACHE_H
#define NOETL_PLAYBOOK_CACHE_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "names.h"
#include "retry.h"
#include "template.h"

typedef struct BNext
{
	int			target;			/* index of the target step */
	const char *when;			/* condition text, NULL = always */
	int			when_len;
	int			when_const;		/* -1: evaluate, 0/1: a boolean constant */
	Jsonb	   *args;			/* args passed to the target, or NULL */
} BNext;

/* a loop step's settings, as registration normalised them */
typedef struct BLoop
{
	Jsonb	   *collection;		/* a template string or a list, as a one-key object */
	char	   *element;		/* the element's name */
	bool		parallel;		/* mode parallel (or async) */
	int			max_in_flight;	/* 0: not given */
	Jsonb	   *concurrency;	/* an integer or a template, or NULL */
	bool		fail;			/* on_item_error: fail (else continue) */
	const char *where;			/* a condition, or NULL */
	int			where_const;	/* -1: evaluate "where", 0/1: a constant */
	Jsonb	   *order_by;		/* a template (one-key object), or NULL */
	Jsonb	   *limit;			/* an integer or a template, or NULL */
	Jsonb	   *chunk;			/* likewise */
	Jsonb	   *enumerate;		/* a boolean or a condition, or NULL */
	Jsonb	   *sink;			/* {"sink": the loop's sink}, run once at its
								 * end (era B's step-level save), or NULL */
	bool		sink_fail;		/* its failure fails the step (on_error: fail) */
} BLoop;

typedef struct BStep
{
	char	   *name;
	char	   *tool;			/* NULL for a control step */
	Jsonb	   *task;			/* the step, as the task a worker receives */
	Jsonb	   *keep;			/* fields passed to the worker unrendered
								 * (sink), or NULL */
	Jsonb	   *args;			/* the step's args, or NULL */
	Jsonb	   *result;			/* the end step's result: mapping, or NULL */
	BNext	   *next;
	int			nnext;
	BRetry		retry;
	int			priority;
	BLoop	   *loop;			/* the loop's settings, NULL if not a loop */
	bool		subplaybook;	/* tool: playbook (not runnable yet) */
} BStep;

typedef struct BPlaybook
{
	int64		catalog_id;
	char	   *path;
	int			version;
	Jsonb	   *workload;		/* the playbook's workload: */
	BStep	   *steps;
	int			nsteps;
	int			start;			/* index of "start" */
	int			end;			/* index of "end", -1 if there is none */
	NameIndex	names;			/* steps by name */
	TplCache   *templates;		/* the playbook's parsed templates */
	MemoryContext cxt;
} BPlaybook;

extern BPlaybook *pb_get(int64 catalog_id);
extern int64 pb_resolve(Oid nsp, const char *path, int32 version, bool has_version);
extern int	pb_step_index(BPlaybook *pb, const char *name, int len);
extern void pb_check_runnable(BPlaybook *pb);

#endif							/* NOETL_PLAYBOOK_CACHE_H */
