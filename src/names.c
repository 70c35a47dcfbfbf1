/*-------------------------------------------------------------------------
 *
 * names.c
 *	  An index of (name, position) pairs: sorted once, searched by binary
 *	  search (see names.h).
 *
 * Playbook normalisation finds steps and workbook tasks by name through
 * it; any lookup of a playbook's parts by name should.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "names.h"

/* name_cmp orders names as bytes, a prefix first */
static int
name_cmp(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/*
 * entry_cmp orders entries by name, then by position.  Sorting 100,000
 * names lets interrupts through now and then (pg_qsort allocates nothing,
 * so an error may leave it).
 */
static int
entry_cmp(const void *a, const void *b)
{
	const NameEntry *x = a;
	const NameEntry *y = b;
	static uint32 calls = 0;
	int			c;

	if ((++calls & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();
	c = name_cmp(x->name, x->len, y->name, y->len);
	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

/* names_init makes an empty index with room for cap names */
void
names_init(NameIndex *ix, int cap)
{
	ix->cap = Max(cap, 1);
	ix->n = 0;
	ix->entries = palloc(sizeof(NameEntry) * ix->cap);
}

/* names_add records that the entry at pos is called name (len bytes) */
void
names_add(NameIndex *ix, const char *name, int len, int pos)
{
	if (ix->n == ix->cap)
	{
		ix->cap *= 2;
		ix->entries = repalloc(ix->entries, sizeof(NameEntry) * ix->cap);
	}
	ix->entries[ix->n].name = name;
	ix->entries[ix->n].len = len;
	ix->entries[ix->n].pos = pos;
	ix->n++;
}

/* names_sort sorts the index, after the last names_add and before names_find */
void
names_sort(NameIndex *ix)
{
	qsort(ix->entries, ix->n, sizeof(NameEntry), entry_cmp);
}

/*
 * names_find returns the lowest position recorded for name (len bytes), or
 * -1 if there is none.
 */
int
names_find(const NameIndex *ix, const char *name, int len)
{
	int			lo = 0;
	int			hi = ix->n;

	/* the first entry not below name */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const NameEntry *e = &ix->entries[mid];

		if (name_cmp(e->name, e->len, name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ix->n && name_cmp(ix->entries[lo].name, ix->entries[lo].len, name, len) == 0)
		return ix->entries[lo].pos;
	return -1;
}

/*
 * names_first_repeat returns the lowest position whose name a lower
 * position also has (the first repeat in the order of positions), or -1;
 * *earlier, if not NULL, receives the lowest position with that name.
 */
int
names_first_repeat(const NameIndex *ix, int *earlier)
{
	int			repeat = -1;
	int			run = 0;		/* first entry of the current run of a name */
	int			k;

	for (k = 1; k < ix->n; k++)
	{
		const NameEntry *e = &ix->entries[k];

		if (name_cmp(e->name, e->len, ix->entries[run].name, ix->entries[run].len) != 0)
		{
			run = k;
			continue;
		}
		if (repeat < 0 || e->pos < repeat)
		{
			repeat = e->pos;
			if (earlier != NULL)
				*earlier = ix->entries[run].pos;
		}
	}
	return repeat;
}
