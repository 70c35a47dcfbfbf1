/*-------------------------------------------------------------------------
 *
 * playbook.h
 *	  Validation and normalisation of playbooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_PLAYBOOK_H
#define NOETL_PLAYBOOK_H

#include "postgres.h"

#include "utils/jsonb.h"

/* playbook.c: validation and normalisation of playbooks */
extern JsonbValue *noetl_normalize_playbook(JsonbValue *doc, char **path_out);
extern bool noetl_in_list(const char *s, const char *const *list, int n);

#endif							/* NOETL_PLAYBOOK_H */
