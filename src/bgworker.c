/*-------------------------------------------------------------------------
 *
 * bgworker.c
 *	  The broker worker: announcements after commit, lease expiry, delayed
 *	  tasks.
 *
 * One static background worker, "noetl broker", registered when the
 * library is preloaded and connected to noetl.database.  It sleeps on its
 * latch; a committing transaction that queued work sets the latch
 * (wakeup.c), and so do a due lease check and a due delayed task.  Per
 * wake-up it sends at most one NOTIFY per channel, in a transaction of its
 * own:
 *
 *	noetl.notify_channel (noetl_queue)	payload: the highest queue_id made
 *										ready since the last one
 *	noetl.cancel_channel (noetl_cancel)	payload: the execution ids whose
 *										tasks were cancelled, comma-separated
 *										("*" when there were too many)
 *
 * Notifications are hints: a worker leases after (re)connecting and on a
 * timer, so a lost one delays work and never loses it.  The queue is the
 * truth, which is also why a killed broker loses nothing: the postmaster
 * restarts it, and it announces what is ready when it starts.
 *
 * Every noetl.lease_check_interval it expires leases: each task leased
 * until a time that has passed gets an action_error event, "lease
 * expired", which the broker's triggers treat like a worker's report of
 * failure (the step's retry policy decides between retry and dead).  The
 * event says it is about an expired lease, so that a lease extended or a
 * task finished in the meantime is left alone (broker.c).
 *
 * The worker is written like worker_spi: core signal handlers, a latch loop
 * that exits with the postmaster, and activity reported to
 * pg_stat_activity, where its backend_type is "noetl broker".  PostgreSQL
 * 15 has no named wait events for extensions: it waits as "Extension".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "guc.h"
#include "shmem.h"
#include "state.h"
#include "stmt.h"
#include "subxact.h"

#define BROKER_RESTART_SECONDS	2
#define EXPIRE_BATCH			100
#define EXPIRE_BATCHES			10	/* per lease check, at most */

/* true in the broker worker, whose reports of expired leases need no token */
bool		noetl_in_broker_worker = false;

/*
 * noetl_register_worker registers the broker worker; called from _PG_init
 * while preloading.
 */
void
noetl_register_worker(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BROKER_RESTART_SECONDS;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "noetl");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "noetl_broker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "noetl broker");
	snprintf(w.bgw_type, BGW_MAXLEN, "noetl broker");
	RegisterBackgroundWorker(&w);
}

/* on exit, the worker is no longer there to be woken */
static void
broker_detach(int code, Datum arg)
{
	SpinLockAcquire(&noetl_shared->mutex);
	if (noetl_shared->broker_pid == MyProcPid)
	{
		noetl_shared->broker_pid = 0;
		noetl_shared->broker_latch = NULL;
	}
	SpinLockRelease(&noetl_shared->mutex);
}

static void
broker_attach(void)
{
	SpinLockAcquire(&noetl_shared->mutex);
	noetl_shared->broker_pid = MyProcPid;
	noetl_shared->broker_latch = MyLatch;
	noetl_shared->broker_database = MyDatabaseId;
	noetl_shared->broker_started = GetCurrentTimestamp();
	SpinLockRelease(&noetl_shared->mutex);
	before_shmem_exit(broker_detach, (Datum) 0);
}

/* what committed transactions left for the worker */
typedef struct Pending
{
	int64		ready_max;
	TimestampTz next_due;
	int			ncancelled;
	bool		cancel_overflow;
	int64		cancelled[NOETL_MAX_CANCELS];
} Pending;

/*
 * look_pending says whether there is work to announce, and when the next
 * delayed task is due; take_pending takes the work to announce.
 */
static bool
look_pending(TimestampTz *next_due)
{
	bool		any;

	SpinLockAcquire(&noetl_shared->mutex);
	any = noetl_shared->ready_max != 0 || noetl_shared->ncancelled > 0 ||
		noetl_shared->cancel_overflow;
	*next_due = noetl_shared->next_due;
	if (!any)
		noetl_shared->wake_requested = false;
	SpinLockRelease(&noetl_shared->mutex);
	return any;
}

static void
take_pending(Pending *p)
{
	SpinLockAcquire(&noetl_shared->mutex);
	p->ready_max = noetl_shared->ready_max;
	p->next_due = noetl_shared->next_due;
	p->ncancelled = noetl_shared->ncancelled;
	p->cancel_overflow = noetl_shared->cancel_overflow;
	memcpy(p->cancelled, noetl_shared->cancelled, sizeof(int64) * p->ncancelled);
	noetl_shared->ready_max = 0;
	noetl_shared->ncancelled = 0;
	noetl_shared->cancel_overflow = false;
	noetl_shared->wake_requested = false;
	SpinLockRelease(&noetl_shared->mutex);
}

/*
 * set_next_due replaces the time of the next delayed task, unless a
 * committing transaction brought an earlier one meanwhile.
 */
static void
set_next_due(TimestampTz seen, TimestampTz next)
{
	SpinLockAcquire(&noetl_shared->mutex);
	if (noetl_shared->next_due == seen ||
		(next != 0 && next < noetl_shared->next_due))
		noetl_shared->next_due = next;
	SpinLockRelease(&noetl_shared->mutex);
}

static bool
extension_installed(void)
{
	return OidIsValid(get_extension_oid("noetl", true));
}

/*
 * due_tasks finds the delayed tasks (waiting to retry) whose time has come
 * and the time of the next one: returns the highest queue_id of the ready
 * ones (0 if none) and sets *next (0 if none is waiting).
 */
static int64
due_tasks(TimestampTz *next)
{
	static NoetlStmt q = {
		"SELECT pg_catalog.max(queue_id)"
		"         FILTER (WHERE available_at OPERATOR(pg_catalog.<=) pg_catalog.now()),"
		"       pg_catalog.min(available_at)"
		"         FILTER (WHERE available_at OPERATOR(pg_catalog.>) pg_catalog.now())"
		"  FROM noetl.queue WHERE status OPERATOR(pg_catalog.=) 'retry'", 0
	};
	bool		isnull;
	int64		ready = 0;
	Datum		d;

	*next = 0;
	(void) noetl_spi_exec(&q, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ready = DatumGetInt64(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		*next = DatumGetTimestampTz(d);
	return ready;
}

/* the highest queue_id ready to lease now, 0 if none */
static int64
ready_tasks(void)
{
	static NoetlStmt q = {
		"SELECT pg_catalog.max(queue_id) FROM noetl.queue"
		" WHERE status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::pg_catalog.text[])"
		"   AND available_at OPERATOR(pg_catalog.<=) pg_catalog.now()", 0
	};
	bool		isnull;
	Datum		d;

	(void) noetl_spi_exec(&q, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * expire_leases reports every lease that has run out as an action_error
 * that names the lease (its attempt), each in a subtransaction of its own
 * so that one failure does not hold up the others; the broker's triggers
 * apply it only if that lease is still held and still expired.  It pages
 * through the expired leases in (lease_until, queue_id) order, so a lease
 * whose report fails never hides the ones after it.  Returns how many it
 * reported.
 */
static NoetlStmt expired = {
	"SELECT queue_id, attempts, lease_until FROM noetl.queue"
	" WHERE status OPERATOR(pg_catalog.=) 'leased'"
	"   AND lease_until OPERATOR(pg_catalog.<) pg_catalog.now()"
	"   AND (lease_until, queue_id) OPERATOR(pg_catalog.>) ($1, $2)"
	" ORDER BY lease_until, queue_id LIMIT " CppAsString2(EXPIRE_BATCH),
	2, {TIMESTAMPTZOID, INT8OID}
};
static NoetlStmt report = {
	"INSERT INTO noetl.event (event_type, queue_id, error, meta)"
	" VALUES ('action_error', $1, 'lease expired',"
	"         pg_catalog.jsonb_build_object('lease_expired', true, 'attempt', $2,"
	"                                       'lease_until', $3))",
	3, {INT8OID, INT4OID, TIMESTAMPTZOID}
};

/* report_expiry inserts one report of an expired lease (args: its key) */
static void
report_expiry(void *arg)
{
	(void) noetl_spi_exec(&report, (Datum *) arg, NULL, SPI_OK_INSERT);
}

static int
expire_leases(void)
{
	int64		ids[EXPIRE_BATCH];
	int32		attempts[EXPIRE_BATCH];
	TimestampTz untils[EXPIRE_BATCH];
	TimestampTz after_until = DT_NOBEGIN;
	int64		after_id = PG_INT64_MIN;
	int			batch;
	int			done = 0;

	for (batch = 0; batch < EXPIRE_BATCHES; batch++)
	{
		Datum		key[2];
		int			n;
		int			i;

		key[0] = TimestampTzGetDatum(after_until);
		key[1] = Int64GetDatum(after_id);
		n = (int) noetl_spi_exec(&expired, key, NULL, SPI_OK_SELECT);
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;

			ids[i] = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			attempts[i] = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
			untils[i] = DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull));
		}
		for (i = 0; i < n; i++)
		{
			Datum		args[3];
			ErrorData  *ed;

			CHECK_FOR_INTERRUPTS();
			args[0] = Int64GetDatum(ids[i]);
			args[1] = Int32GetDatum(attempts[i]);
			args[2] = TimestampTzGetDatum(untils[i]);
			ed = subxact_run(report_expiry, args);
			if (ed == NULL)
				done++;
			else if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED)
				ReThrowError(ed);
			else
			{
				ereport(WARNING,
						(errmsg("noetl broker could not expire the lease of task %lld: %s",
								(long long) ids[i], ed->message)));
				FreeErrorData(ed);
			}
		}
		if (n < EXPIRE_BATCH)
			break;
		after_until = untils[n - 1];
		after_id = ids[n - 1];
	}
	return done;
}

/*
 * cancel_orphans calls noetl.cancel_orphans(): sub-playbook executions
 * still running after their parent ended (a cascade passed them by while
 * another transaction evaluated them).  A schema older than sub-playbooks
 * has neither.
 */
static NoetlStmt orphans = {
	"SELECT noetl.cancel_orphans()", 0, {InvalidOid}
};

static void
call_orphans(void *arg)
{
	(void) noetl_spi_exec(&orphans, NULL, NULL, SPI_OK_SELECT);
}

static void
cancel_orphans(void)
{
	ErrorData  *ed;

	if (!state_loop_schema(InvalidOid))
		return;
	ed = subxact_run(call_orphans, NULL);
	if (ed == NULL)
		return;
	if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(ed);
	ereport(WARNING,
			(errmsg("noetl broker could not cancel orphaned executions: %s", ed->message)));
	FreeErrorData(ed);
}

/* milliseconds from now until t, at least 0 */
static long
ms_until(TimestampTz now, TimestampTz t)
{
	return t <= now ? 0 : (long) ((t - now + 999) / 1000);
}

/*
 * noetl_broker_main is the worker's entry point.
 *
 * Each round: take the work committed since the last notification (unless
 * one went out less than noetl.notify_interval ago: then the work waits,
 * and committing transactions do not set the latch again), find the
 * delayed tasks that came due, expire leases when their check is due,
 * send the notifications, and sleep until the next of: the tick, the lease
 * check, the next delayed task, the end of the notification interval.
 */
void
noetl_broker_main(Datum main_arg)
{
	TimestampTz last_lease_check = 0;
	TimestampTz last_notify = 0;
	int64		held_ready = 0;		/* due tasks found but not yet announced */
	bool		first = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(noetl_database, NULL, 0);
	noetl_in_broker_worker = true;

	/*
	 * The worker runs as the bootstrap superuser: whatever the database's
	 * default search_path, it looks nowhere but pg_catalog (and its own
	 * temporary schema, which no one else can write), and every statement
	 * it runs is schema-qualified, operators included.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	broker_attach();
	ereport(LOG,
			(errmsg("noetl broker started in database \"%s\"", noetl_database)));

	for (;;)
	{
		Pending		p;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz next_due;
		TimestampTz notify_at = TimestampTzPlusMilliseconds(last_notify, noetl_notify_interval_ms);
		bool		pending = look_pending(&next_due);
		bool		may_notify = now >= notify_at;
		bool		due = next_due != 0 && next_due <= now;
		bool		lease_check = TimestampDifferenceExceeds(last_lease_check, now,
															 noetl_lease_check_ms);
		long		timeout;

		memset(&p, 0, sizeof(p));
		if (pending && may_notify)
			take_pending(&p);

		if (first || p.ready_max != 0 || p.ncancelled > 0 || p.cancel_overflow || due ||
			lease_check || (held_ready != 0 && may_notify))
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "noetl broker: announcing work, expiring leases");

			if (extension_installed())
			{
				TimestampTz next;

				if (first || due)
				{
					held_ready = Max(held_ready, due_tasks(&next));
					set_next_due(next_due, next);
				}
				if (first)
					held_ready = Max(held_ready, ready_tasks());
				held_ready = Max(held_ready, p.ready_max);
				if (held_ready != 0 && may_notify)
				{
					char		payload[32];

					snprintf(payload, sizeof(payload), INT64_FORMAT, held_ready);
					Async_Notify(noetl_notify_channel, payload);
					held_ready = 0;
					last_notify = now;
				}
				if (p.ncancelled > 0 || p.cancel_overflow)
				{
					StringInfoData ids;
					int			i;

					initStringInfo(&ids);
					if (p.cancel_overflow)
						appendStringInfoChar(&ids, '*');
					else
						for (i = 0; i < p.ncancelled; i++)
							appendStringInfo(&ids, "%s" INT64_FORMAT, i > 0 ? "," : "",
											 p.cancelled[i]);
					Async_Notify(noetl_cancel_channel, ids.data);
					last_notify = now;
				}
				if (lease_check)
				{
					(void) expire_leases();
					cancel_orphans();
					last_lease_check = now;
				}
			}
			else
			{
				/* nothing to do until CREATE EXTENSION noetl */
				set_next_due(next_due, 0);
				held_ready = 0;
				if (lease_check)
					last_lease_check = now;
			}

			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();
			pgstat_report_stat(true);
			pgstat_report_activity(STATE_IDLE, NULL);
			first = false;
		}

		/* sleep until the tick, the lease check, the next delayed task or the next notification */
		now = GetCurrentTimestamp();
		timeout = Min(noetl_tick_ms,
					  ms_until(now, TimestampTzPlusMilliseconds(last_lease_check,
																noetl_lease_check_ms)));
		if (look_pending(&next_due) || held_ready != 0)
			timeout = Min(timeout, ms_until(now, TimestampTzPlusMilliseconds(last_notify,
																			 noetl_notify_interval_ms)));
		if (next_due != 0)
			timeout = Min(timeout, ms_until(now, next_due));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
