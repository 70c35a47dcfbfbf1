/*
 * notify_test: what a worker LISTENing on noetl's channels hears.
 *
 * A TAP program (run by test/tap/notify.sh) with two connections, a
 * listener and a producer, to the database of the running cluster (PG*
 * variables).  It checks that a committed enqueue is announced on
 * noetl_queue by the broker worker (not by the producer), with the new
 * task's queue_id, for twenty executions in a row, and prints the median
 * and worst latency from the producer's commit to the notification; that
 * a rolled back transaction or savepoint announces nothing; that a
 * cancellation is announced on noetl_cancel with the execution id; and
 * that a broker worker killed and restarted by the postmaster announces
 * the work queued while it was away.
 */
#include <stdarg.h>
#include <string.h>

#include "listen.h"

static int	test_no = 0;
static int	failures = 0;

static void ok(int cond, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	printf("%sok %d - ", cond ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

/* runs a statement; returns the first value of the result (malloc'd) or NULL */
static char *
query(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);
	char	   *v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		printf("Bail out! \"%s\" failed: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void
drain(PGconn *c, double quiet_ms)
{
	PGnotify   *n;

	while ((n = wait_notify(c, quiet_ms)) != NULL)
		PQfreemem(n);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static char *
broker_pid(PGconn *c)
{
	return query(c, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'");
}

int
main(void)
{
	PGconn	   *listener = connect_or_die();
	PGconn	   *producer = connect_or_die();
	char	   *broker = broker_pid(producer);
	int			producer_pid = PQbackendPID(producer);
	double		lat[20];
	int			good = 0;
	int			i;
	char		sql[512];
	PGnotify   *n;
	char	   *eid;
	char	   *old_broker;
	char	   *qid;

	printf("1..%d\n", 20 + 10);
	if (broker == NULL)
	{
		printf("Bail out! no noetl broker worker is running\n");
		return 2;
	}
	query(producer, "SELECT noetl.register(E'metadata: {path: tests/notify/one}\\n"
		  "workflow:\\n  - step: start\\n    next: [task]\\n"
		  "  - step: task\\n    tool: python\\n    code: x\\n')");
	query(listener, "LISTEN noetl_queue");
	query(listener, "LISTEN noetl_cancel");
	drain(listener, 300);

	/* twenty executions: each is announced by the broker with its task */
	for (i = 0; i < 20; i++)
	{
		double		t0;
		char	   *task;
		int			from_broker;

		/*
		 * The latency runs from the end of the producer's statement, taken
		 * on the server just before its commit, to the notification here.
		 */
		{
			PGresult   *r = PQexec(producer,
								   "SELECT noetl.execute('tests/notify/one'),"
								   "       extract(epoch FROM clock_timestamp()) * 1000");

			if (PQresultStatus(r) != PGRES_TUPLES_OK)
			{
				printf("Bail out! %s", PQerrorMessage(producer));
				return 2;
			}
			eid = strdup(PQgetvalue(r, 0, 0));
			t0 = atof(PQgetvalue(r, 0, 1));
			PQclear(r);
		}
		n = wait_notify(listener, 5000);
		lat[i] = now_ms() - t0;
		snprintf(sql, sizeof(sql), "SELECT queue_id FROM noetl.queue WHERE execution_id = %s", eid);
		task = query(producer, sql);
		from_broker = n != NULL && n->be_pid == atoi(broker) && n->be_pid != producer_pid;
		ok(n != NULL && from_broker && strcmp(n->relname, "noetl_queue") == 0 &&
		   task != NULL && strcmp(n->extra, task) == 0,
		   "execution %d: noetl_queue from the broker (pid %s, not the producer's %d) with queue_id %s",
		   i + 1, broker, producer_pid, task ? task : "?");
		if (n == NULL)
			lat[i] = 5000;
		else
		{
			good++;
			if (n->be_pid != atoi(broker))
				printf("# got pid %d, payload %s\n", n->be_pid, n->extra);
			PQfreemem(n);
		}
		free(task);
		free(eid);
		drain(listener, 5);
	}
	qsort(lat, 20, sizeof(double), cmp_double);
	printf("# latency from the producer's commit to the listener's wake-up, 20 executions: "
		   "median %.2f ms, worst %.2f ms\n", (lat[9] + lat[10]) / 2, lat[19]);

	/*
	 * A rolled back transaction announces nothing.  (Work committed by
	 * others meanwhile would be announced with its own queue_id, which is
	 * not the one rolled back.)
	 */
	query(producer, "BEGIN");
	eid = query(producer, "SELECT noetl.execute('tests/notify/one')");
	snprintf(sql, sizeof(sql), "SELECT queue_id FROM noetl.queue WHERE execution_id = %s", eid);
	qid = query(producer, sql);
	query(producer, "ROLLBACK");
	n = wait_notify(listener, 500);
	ok(n == NULL || strcmp(n->extra, qid) != 0, "a rolled back enqueue is not announced");
	if (n)
		PQfreemem(n);
	free(eid);
	free(qid);

	/* nor does a rolled back savepoint, though its transaction commits */
	query(producer, "BEGIN");
	query(producer, "SAVEPOINT s");
	eid = query(producer, "SELECT noetl.execute('tests/notify/one')");
	snprintf(sql, sizeof(sql), "SELECT queue_id FROM noetl.queue WHERE execution_id = %s", eid);
	qid = query(producer, sql);
	query(producer, "ROLLBACK TO SAVEPOINT s");
	query(producer, "COMMIT");
	n = wait_notify(listener, 500);
	ok(n == NULL || strcmp(n->extra, qid) != 0, "an enqueue rolled back to a savepoint is not announced");
	if (n)
		PQfreemem(n);
	free(eid);
	free(qid);

	/* ... while a released savepoint's work is */
	query(producer, "BEGIN");
	query(producer, "SAVEPOINT s");
	eid = query(producer, "SELECT noetl.execute('tests/notify/one')");
	query(producer, "RELEASE SAVEPOINT s");
	query(producer, "COMMIT");
	n = wait_notify(listener, 5000);
	ok(n != NULL && strcmp(n->relname, "noetl_queue") == 0,
	   "an enqueue in a released savepoint is announced");
	if (n)
		PQfreemem(n);
	drain(listener, 5);

	/* a cancellation is announced with the execution id */
	snprintf(sql, sizeof(sql), "SELECT noetl.cancel(%s)", eid);
	query(producer, sql);
	n = wait_notify(listener, 5000);
	ok(n != NULL && strcmp(n->relname, "noetl_cancel") == 0 && strcmp(n->extra, eid) == 0,
	   "noetl.cancel(%s) is announced on noetl_cancel with the execution id", eid);
	if (n)
		PQfreemem(n);
	free(eid);
	drain(listener, 5);

	/* a task waiting to retry is announced when it comes due, not before */
	query(producer, "SELECT noetl.register(E'metadata: {path: tests/notify/retry}\\n"
		  "workflow:\\n  - step: start\\n    next: [task]\\n"
		  "  - step: task\\n    tool: notify_probe\\n    code: x\\n"
		  "    retry: {max_attempts: 2, initial_delay: 1}\\n')");
	eid = query(producer, "SELECT noetl.execute('tests/notify/retry')");
	drain(listener, 50);
	free(query(producer, "CREATE TEMP TABLE notify_lease AS SELECT queue_id, lease_token"
			   " FROM noetl.lease('notify-test', 1, 60, ARRAY['notify_probe'])"));
	qid = query(producer, "SELECT queue_id FROM notify_lease");
	snprintf(sql, sizeof(sql), "SELECT noetl.fail(queue_id, lease_token, 'failing on purpose')"
			 " FROM notify_lease");
	{
		double		t0 = now_ms();
		double		waited;

		query(producer, sql);
		n = wait_notify(listener, 5000);
		waited = now_ms() - t0;
		ok(n != NULL && qid != NULL && strcmp(n->extra, qid) == 0 && waited >= 900,
		   "a task waiting 1 s to retry is announced when it comes due (after %.0f ms)", waited);
	}
	if (n)
		PQfreemem(n);
	free(eid);
	free(qid);
	drain(listener, 5);

	/* a killed broker is restarted, and announces what was queued meanwhile */
	old_broker = broker;
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", old_broker);
	query(producer, sql);
	/* wait until it is gone (the postmaster restarts it after 2 s) */
	for (i = 0; i < 100; i++)
	{
		broker = broker_pid(producer);
		if (broker == NULL || strcmp(broker, old_broker) != 0)
			break;
		free(broker);
		broker = NULL;
		query(producer, "SELECT pg_sleep(0.05)");
	}
	free(broker);
	broker = NULL;
	eid = query(producer, "SELECT noetl.execute('tests/notify/one')");
	snprintf(sql, sizeof(sql), "SELECT queue_id FROM noetl.queue WHERE execution_id = %s", eid);
	qid = query(producer, sql);
	ok(qid != NULL, "a task is queued while the broker worker is away");
	for (i = 0; i < 200 && broker == NULL; i++)
	{
		query(producer, "SELECT pg_sleep(0.05)");
		broker = broker_pid(producer);
	}
	ok(broker != NULL && strcmp(broker, old_broker) != 0,
	   "the postmaster restarts the broker worker (pid %s, was %s)", broker ? broker : "none", old_broker);
	n = NULL;
	for (;;)
	{
		PGnotify   *m = wait_notify(listener, n ? 300 : 5000);

		if (m == NULL)
			break;
		if (n)
			PQfreemem(n);
		n = m;
	}
	ok(n != NULL && broker != NULL && n->be_pid == atoi(broker) && qid != NULL &&
	   atoll(n->extra) >= atoll(qid),
	   "the restarted broker announces the task queued while it was away");
	if (n)
		PQfreemem(n);
	snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM noetl.queue WHERE execution_id = %s AND status = 'queued'", eid);
	qid = query(producer, sql);
	ok(qid != NULL && strcmp(qid, "1") == 0, "the task is still there to lease");
	ok(good == 20, "all twenty executions were announced");

	PQfinish(listener);
	PQfinish(producer);
	return failures > 0;
}
