/*-------------------------------------------------------------------------
 *
 * token.h
 *	  Lease tokens: the proof that a report comes from the lease's holder.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOETL_TOKEN_H
#define NOETL_TOKEN_H

#include "postgres.h"

extern bytea *lease_token_hash(const char *token, int len);
extern bool lease_token_matches(const char *token, int len, bytea *stored);

#endif							/* NOETL_TOKEN_H */
