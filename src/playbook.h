/*-------------------------------------------------------------------------
 *
 * playbook.h
 *	  Validation and normalisation of playbooks.
 *
 * Three files: playbook.c takes the document as a whole (metadata, step
 * names, transitions, the workbook, templates), playbook_task.c the parts
 * every task has (tool, inputs, sink, loop, retry policy, settings),
 * playbook_keys.c the keys NoETL read, to warn of the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PLAYBOOK_H
#define NOETL_PLAYBOOK_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/*
 * noetl_normalize_playbook validates a parsed document (a jtree.c tree) and
 * returns its normalised form; *path_out receives the catalog path and
 * *warnings (if not NULL) a List of the warnings, C strings that start with
 * their location as errors do.  Problems are errors with SQLSTATE 22023
 * naming where they are.
 */
extern JsonbValue *noetl_normalize_playbook(JsonbValue *doc, char **path_out,
											List **warnings);

/* the parts of a playbook whose keys playbook_keys.c knows */
typedef enum PbKeySet
{
	PB_KEYS_DOCUMENT,
	PB_KEYS_STEP,
	PB_KEYS_NEXT,
	PB_KEYS_LOOP,
	PB_KEYS_RETRY
} PbKeySet;

/* between playbook.c and playbook_task.c */
extern void pb_error(const char *loc, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern void pb_warn(const char *loc, const char *fmt,...) pg_attribute_printf(2, 3);
extern bool pb_known_key(PbKeySet set, const char *key, int len);
extern void pb_warn_unknown_keys(JsonbValue *obj, PbKeySet set, const char *loc);
extern bool pb_in_list(const char *s, const char *const *list, int n);
extern char *pb_optional_string(JsonbValue *obj, const char *key, const char *loc);
extern bool pb_is_args_alias(const char *k);
extern void pb_unify_args(JsonbValue *obj, const char *loc);
extern char *pb_normalize_task(JsonbValue *obj, const char *loc);

#endif							/* NOETL_PLAYBOOK_H */
