/*-------------------------------------------------------------------------
 *
 * playbook.h
 *	  Validation and normalisation of playbooks.
 *
 * Two files: playbook.c takes the document as a whole (metadata, step
 * names, transitions, the workbook, templates), playbook_task.c the parts
 * every task has (tool, inputs, sink, loop, retry policy, settings).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PLAYBOOK_H
#define NOETL_PLAYBOOK_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * noetl_normalize_playbook validates a parsed document (a jtree.c tree) and
 * returns its normalised form; *path_out receives the catalog path.
 * Problems are errors with SQLSTATE 22023 naming where they are.
 */
extern JsonbValue *noetl_normalize_playbook(JsonbValue *doc, char **path_out);

/* between playbook.c and playbook_task.c */
extern void pb_error(const char *loc, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern bool pb_in_list(const char *s, const char *const *list, int n);
extern char *pb_optional_string(JsonbValue *obj, const char *key, const char *loc);
extern bool pb_is_args_alias(const char *k);
extern void pb_unify_args(JsonbValue *obj, const char *loc);
extern char *pb_normalize_task(JsonbValue *obj, const char *loc);

#endif							/* NOETL_PLAYBOOK_H */
