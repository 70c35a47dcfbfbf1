/*-------------------------------------------------------------------------
 *
 * snowflake.c
 *	  Time-ordered 64-bit ids with NoETL's snowflake layout.
 *
 * An id is (milliseconds since 2024-01-01 UTC) << 23 | shard << 18 | seq:
 * 41 bits of time, 5 bits of shard (noetl.shard_id) and an 18-bit sequence
 * within the millisecond.  Ids sort by creation time, which lets
 * "ORDER BY event_id" stand for "in the order they happened".
 *
 * Uniqueness across backends comes from one 64-bit atomic in shared memory
 * holding the last (milliseconds << 18 | seq) handed out: a new id takes
 * max(now << 18, last + 1), installed with compare-and-swap.  Ids are
 * therefore strictly increasing cluster-wide, even if the clock stalls or
 * more than 2^18 ids are drawn in a millisecond (time then runs slightly
 * ahead, as in other snowflake generators).
 *
 * Without shared memory (library not preloaded), the sequence part comes
 * from the sequence noetl.snowflake_seq instead, which is unique unless
 * 2^18 ids are drawn within one millisecond.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "shmem.h"
#include "snowflake.h"

PG_FUNCTION_INFO_V1(noetl_snowflake_id);

/* 2024-01-01 00:00:00 UTC in milliseconds since the PostgreSQL epoch */
#define NOETL_EPOCH_MS	((int64) 757382400000)
#define SEQ_BITS		18
#define SHARD_BITS		5
#define SEQ_MASK		((INT64CONST(1) << SEQ_BITS) - 1)

/*
 * now_ms returns milliseconds since NoETL's epoch.
 */
static int64
now_ms(void)
{
	return GetCurrentTimestamp() / 1000 - NOETL_EPOCH_MS;
}

/*
 * noetl_next_id returns a new id.
 */
int64
noetl_next_id(void)
{
	uint64		t = (uint64) now_ms() << SEQ_BITS;
	uint64		next;

	if (noetl_shared != NULL)
	{
		uint64		last = pg_atomic_read_u64(&noetl_shared->snowflake_last);

		for (;;)
		{
			next = Max(t, last + 1);
			if (pg_atomic_compare_exchange_u64(&noetl_shared->snowflake_last,
											   &last, next))
				break;
		}
	}
	else
	{
		Oid			nsp = get_namespace_oid("noetl", false);
		Oid			seq = get_relname_relid("snowflake_seq", nsp);

		if (!OidIsValid(seq))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("sequence \"noetl.snowflake_seq\" does not exist"),
					 errhint("Add noetl to shared_preload_libraries, or reinstall the extension.")));
		next = t | ((uint64) nextval_internal(seq, false) & SEQ_MASK);
	}
	return (int64) (((next >> SEQ_BITS) << (SEQ_BITS + SHARD_BITS)) |
					((uint64) noetl_shard_id << SEQ_BITS) |
					(next & SEQ_MASK));
}

/*
 * noetl.snowflake_id() returns bigint
 */
Datum
noetl_snowflake_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(noetl_next_id());
}
