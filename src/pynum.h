/*-------------------------------------------------------------------------
 *
 * pynum.h
 *	  Numbers read and written as Python reads and writes them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PYNUM_H
#define NOETL_PYNUM_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* pynum.c: numbers formatted as Python formats them */
extern void py_float_repr(StringInfo out, double d);
extern void py_float_decimal(StringInfo out, double d);

#endif							/* NOETL_PYNUM_H */
