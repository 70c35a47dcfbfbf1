/*-------------------------------------------------------------------------
 *
 * names.h
 *	  Finding things by name: an index of (name, position) pairs, sorted
 *	  once and searched by binary search.
 *
 * A playbook's steps and workbook tasks are referred to by name, and a
 * playbook can have 100,000 of them, so each lookup must be O(log n):
 *
 *	NameIndex	ix;
 *
 *	names_init(&ix, nsteps);
 *	for (i = 0; i < nsteps; i++)
 *		names_add(&ix, steps[i].name, strlen(steps[i].name), i);
 *	names_sort(&ix);
 *	...
 *	i = names_find(&ix, name, len);		(-1: no such step)
 *
 * Names are compared as bytes; they are not copied, so they must outlive
 * the index.  Several entries may share a name: names_find returns the
 * lowest position among them; names_first_repeat finds the first position
 * (in the order of positions) whose name a lower one has, for refusing
 * duplicates in document order.  The index lives in the memory context
 * current at names_init.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_NAMES_H
#define NOETL_NAMES_H

#include "postgres.h"

typedef struct NameEntry
{
	const char *name;			/* not necessarily NUL-terminated */
	int			len;
	int			pos;
} NameEntry;

typedef struct NameIndex
{
	NameEntry  *entries;		/* by name, then position, once sorted */
	int			n;
	int			cap;
} NameIndex;

extern void names_init(NameIndex *ix, int cap);
extern void names_add(NameIndex *ix, const char *name, int len, int pos);
extern void names_sort(NameIndex *ix);
extern int	names_find(const NameIndex *ix, const char *name, int len);
extern int	names_first_repeat(const NameIndex *ix, int *earlier);

#endif							/* NOETL_NAMES_H */
