/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Lease tokens: the proof that a report comes from the lease's holder.
 *
 * noetl.lease gives every lease of a task a token of its own, a random
 * UUID (drawn from pg_strong_random, state.c), returns it to the
 * caller and keeps only its SHA-256 in noetl.queue.lease_token.  Whoever
 * can read the queue therefore cannot report in a worker's name: a report
 * (an action_* event, noetl.heartbeat) must carry the token itself, which
 * only the caller of noetl.lease ever saw.  The hash of the latest lease
 * stays on the row after the task ends, so that a late or repeated report
 * of that lease is recognised (and stored as ignored) while a report with
 * any other token is refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"

#include "token.h"

/*
 * lease_token_hash returns the SHA-256 of token (len bytes), as the queue
 * keeps it.
 */
bytea *
lease_token_hash(const char *token, int len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	bool		ok;

	ok = ctx != NULL &&
		pg_cryptohash_init(ctx) == 0 &&
		pg_cryptohash_update(ctx, (const uint8 *) token, len) == 0 &&
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(hash), PG_SHA256_DIGEST_LENGTH) == 0;
	if (ctx != NULL)
		pg_cryptohash_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the SHA-256 of a lease token")));
	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return hash;
}

/*
 * lease_token_matches says whether token (len bytes) hashes to stored, the
 * SHA-256 kept for a task's latest lease (NULL when it was never leased),
 * comparing in constant time.
 */
bool
lease_token_matches(const char *token, int len, bytea *stored)
{
	bytea	   *hash;

	if (token == NULL || stored == NULL ||
		VARSIZE_ANY_EXHDR(stored) != PG_SHA256_DIGEST_LENGTH)
		return false;
	hash = lease_token_hash(token, len);
	return timingsafe_bcmp(VARDATA(hash), VARDATA_ANY(stored), PG_SHA256_DIGEST_LENGTH) == 0;
}
