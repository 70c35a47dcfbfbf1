/*
 * notify_bench: helper of bench/notify.sh.
 *
 *	notify_bench latency N PATH GAP_MS
 *		starts N executions of playbook PATH one after another, GAP_MS
 *		after the previous one was announced, and for each measures the
 *		time from the end of the producer's statement (its commit follows at
 *		once; taken on the server's clock) to the listener's wake-up on
 *		noetl_queue; prints "median MS p99 MS max MS lost N".
 *	notify_bench listen
 *		a listener that LISTENs on noetl_queue and reads what arrives until
 *		it is killed (an idle worker).
 *
 * Connections use the PG* variables.
 */
#include <string.h>
#include <unistd.h>

#include "listen.h"

static void
exec_or_die(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "\"%s\" failed: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	PQclear(r);
}

/* waits for one notification; returns 0 on timeout */
static int
wait_one(PGconn *c, double timeout_ms)
{
	PGnotify   *n = wait_notify(c, timeout_ms);

	if (n == NULL)
		return 0;
	PQfreemem(n);
	return 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static int
latency(int n, const char *path, int gap_ms)
{
	PGconn	   *listener = connect_or_die();
	PGconn	   *producer = connect_or_die();
	double	   *lat = malloc(sizeof(double) * n);
	char		sql[512];
	const char *params[1] = {path};
	int			lost = 0;
	int			i;

	exec_or_die(listener, "LISTEN noetl_queue");
	while (wait_one(listener, 200))
		;
	snprintf(sql, sizeof(sql),
			 "SELECT noetl.execute($1), extract(epoch FROM clock_timestamp()) * 1000");
	for (i = 0; i < n; i++)
	{
		PGresult   *r;
		double		t0;

		if (gap_ms > 0)
			usleep(gap_ms * 1000);
		r = PQexecParams(producer, sql, 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "%s", PQerrorMessage(producer));
			return 2;
		}
		t0 = atof(PQgetvalue(r, 0, 1));
		PQclear(r);
		if (wait_one(listener, 5000))
			lat[i] = now_ms() - t0;
		else
		{
			lat[i] = 5000;
			lost++;
		}
		while (wait_one(listener, 0))
			;
	}
	qsort(lat, n, sizeof(double), cmp_double);
	printf("median %.3f p99 %.3f max %.3f lost %d\n",
		   lat[n / 2], lat[(int) (n * 0.99)], lat[n - 1], lost);
	PQfinish(listener);
	PQfinish(producer);
	return lost > 0;
}

static int
listen_forever(void)
{
	PGconn	   *c = connect_or_die();

	exec_or_die(c, "LISTEN noetl_queue");
	for (;;)
		(void) wait_one(c, 60000);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "latency") == 0)
		return latency(atoi(argv[2]), argv[3], atoi(argv[4]));
	if (argc == 2 && strcmp(argv[1], "listen") == 0)
		return listen_forever();
	fprintf(stderr, "usage: notify_bench latency N PATH GAP_MS | notify_bench listen\n");
	return 2;
}
