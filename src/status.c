/*-------------------------------------------------------------------------
 *
 * status.c
 *	  noetl.status(): is the broker worker there, and how much work waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "jtree.h"
#include "shmem.h"
#include "stmt.h"

PG_FUNCTION_INFO_V1(noetl_status);

static void
put(JsonbValue *obj, const char *key, JsonbValue *v)
{
	jt_set(obj, key, v);
}

static JsonbValue *
num(int64 n)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(n);
	return v;
}

static JsonbValue *
null_value(void)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	v->type = jbvNull;
	return v;
}

static JsonbValue *
boolean(bool b)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	v->type = jbvBool;
	v->val.boolean = b;
	return v;
}

/*
 * Datum noetl_status() returns jsonb
 *
 * {"preloaded": bool, "broker": {"pid", "database", "started_at"} or null,
 *  "notify_channel", "cancel_channel",
 *  "queue": {"queued", "retry", "leased", "ready"}, "oldest_ready_seconds",
 *  "running_executions", "unserved_tools", "note"}
 *
 * unserved_tools lists the tools whose ready tasks no live worker runs
 * (noetl.unserved_tools): [{"tool", "tasks", "steps", "waited_seconds"}],
 * empty when every ready task has a worker; null when the extension's
 * objects predate it (an update not yet applied).
 */
Datum
noetl_status(PG_FUNCTION_ARGS)
{
	JsonbValue *o = jt_object();
	JsonbValue *queue = jt_object();
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext spi_cxt;
	pid_t		pid = 0;
	Oid			db = InvalidOid;
	TimestampTz started = 0;
	bool		isnull;
	Datum		d;
	int			i;
	static const char *const names[] = {"queued", "retry", "leased", "ready"};
	static NoetlStmt counts[] = {
		{"SELECT pg_catalog.count(*) FROM noetl.queue"
		 " WHERE status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::pg_catalog.text[])"
		 "   AND status OPERATOR(pg_catalog.=) 'queued'", 0},
		{"SELECT pg_catalog.count(*) FROM noetl.queue"
		 " WHERE status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::pg_catalog.text[])"
		 "   AND status OPERATOR(pg_catalog.=) 'retry'", 0},
		{"SELECT pg_catalog.count(*) FROM noetl.queue WHERE status OPERATOR(pg_catalog.=) 'leased'", 0},
		{"SELECT pg_catalog.count(*) FROM noetl.queue"
		 " WHERE status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::pg_catalog.text[])"
		 "   AND available_at OPERATOR(pg_catalog.<=) pg_catalog.now()", 0},
	};
	static NoetlStmt oldest = {
		"SELECT pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-)"
		"                            pg_catalog.min(available_at))"
		"  FROM noetl.queue"
		" WHERE status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::pg_catalog.text[])"
		"   AND available_at OPERATOR(pg_catalog.<=) pg_catalog.now()", 0
	};
	static NoetlStmt has_unserved = {
		"SELECT pg_catalog.to_regprocedure('noetl.unserved_tools(bigint, double precision)')"
		"       IS NOT NULL", 0
	};
	static NoetlStmt unserved = {
		"SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(u) ORDER BY u.tool), '[]')"
		"  FROM noetl.unserved_tools(NULL, 0) u", 0
	};
	static NoetlStmt running = {
		"SELECT pg_catalog.count(*) FROM noetl.execution"
		" WHERE status OPERATOR(pg_catalog.=) 'running'", 0
	};

	put(o, "preloaded", boolean(noetl_shared != NULL));
	if (noetl_shared != NULL)
	{
		SpinLockAcquire(&noetl_shared->mutex);
		pid = noetl_shared->broker_pid;
		db = noetl_shared->broker_database;
		started = noetl_shared->broker_started;
		SpinLockRelease(&noetl_shared->mutex);
	}
	if (pid != 0)
	{
		JsonbValue *b = jt_object();
		char	   *dbname = get_database_name(db);

		put(b, "pid", num(pid));
		put(b, "database", dbname ? jt_string(dbname) : null_value());
		put(b, "started_at", jt_string(JsonEncodeDateTime(NULL, TimestampTzGetDatum(started),
														   TIMESTAMPTZOID, NULL)));
		put(o, "broker", b);
	}
	else
		put(o, "broker", null_value());
	put(o, "notify_channel", jt_string(noetl_notify_channel));
	put(o, "cancel_channel", jt_string(noetl_cancel_channel));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* what is built now must outlive SPI_finish */
	spi_cxt = MemoryContextSwitchTo(caller);
	for (i = 0; i < lengthof(counts); i++)
	{
		(void) noetl_spi_exec(&counts[i], NULL, NULL, SPI_OK_SELECT);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		put(queue, names[i], num(DatumGetInt64(d)));
	}
	put(o, "queue", queue);
	(void) noetl_spi_exec(&oldest, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		put(o, "oldest_ready_seconds", null_value());
	else
	{
		JsonbValue *v = palloc(sizeof(JsonbValue));

		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, d));
		put(o, "oldest_ready_seconds", v);
	}
	(void) noetl_spi_exec(&running, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	put(o, "running_executions", num(DatumGetInt64(d)));
	(void) noetl_spi_exec(&has_unserved, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (DatumGetBool(d))
	{
		/* copied out of the SPI tuple, which SPI_finish frees */
		(void) noetl_spi_exec(&unserved, NULL, NULL, SPI_OK_SELECT);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		put(o, "unserved_tools", jt_from_jsonb(DatumGetJsonbPCopy(d)));
	}
	else
		put(o, "unserved_tools", null_value());
	MemoryContextSwitchTo(spi_cxt);
	SPI_finish();

	if (noetl_shared == NULL)
		put(o, "note", jt_string("noetl is not in shared_preload_libraries: the SQL API works, but "
								 "no worker is told of new tasks and no lease expires"));
	else if (pid == 0)
		put(o, "note", jt_string("the noetl broker worker is not running: workers are not told "
								 "of new tasks and no lease expires until it is back"));
	else if (db != MyDatabaseId)
		put(o, "note", jt_string("the noetl broker worker serves another database "
								 "(noetl.database): work here is not announced and no lease "
								 "expires"));
	PG_RETURN_JSONB_P(jt_to_jsonb(o));
}
