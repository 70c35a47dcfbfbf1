/*-------------------------------------------------------------------------
 *
 * json.h
 *	  JSON text: writing strings, checking documents, reading flat ones.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_JSON_H
#define CLIENT_JSON_H

#include "pqexpbuffer.h"

/*
 * What json_read_flat read: the members of an object whose values are
 * scalars, or the elements of an array of scalars.  A string is its
 * de-escaped text, another scalar its JSON text, and null is NULL.
 */
typedef struct JsonFlat
{
	int			n;
	char	  **keys;			/* the members' names; NULL for an array */
	char	  **values;
} JsonFlat;

extern void json_append_string(PQExpBuffer buf, const char *s, size_t len);
extern bool json_is_valid(const char *s, size_t len);
extern bool json_read_flat(const char *json, JsonFlat *flat);
extern void json_flat_free(JsonFlat *flat);

#endif							/* CLIENT_JSON_H */
