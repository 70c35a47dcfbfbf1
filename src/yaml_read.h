/*-------------------------------------------------------------------------
 *
 * yaml_read.h
 *	  YAML text to jsonb, with PyYAML's safe_load semantics.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_YAML_READ_H
#define NOETL_YAML_READ_H

#include "postgres.h"

#include "utils/jsonb.h"

/* yaml_read.c: YAML text -> jsonb, with PyYAML's safe_load semantics */
extern Jsonb *noetl_yaml_to_jsonb(const char *text, int len);

#endif							/* NOETL_YAML_READ_H */
