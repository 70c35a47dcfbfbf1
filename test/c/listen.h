/*
 * listen.h: what the LISTEN clients of the tests and benchmarks share
 * (notify_test.c, notify_bench.c): a wall clock comparable with the
 * server's clock_timestamp(), connecting, and waiting for a notification.
 * Connections use the PG* variables.
 */
#ifndef NOETL_TEST_LISTEN_H
#define NOETL_TEST_LISTEN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>

#include "libpq-fe.h"

/* wall-clock milliseconds */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static PGconn *
connect_or_die(void)
{
	PGconn	   *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "cannot connect: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

/*
 * wait_notify waits up to timeout_ms for a notification; returns it (to be
 * freed with PQfreemem) or NULL.
 */
static PGnotify *
wait_notify(PGconn *c, double timeout_ms)
{
	double		end = now_ms() + timeout_ms;
	PGnotify   *n;

	for (;;)
	{
		fd_set		in;
		struct timeval tv;
		double		left = end - now_ms();

		if (!PQconsumeInput(c))
		{
			fprintf(stderr, "%s", PQerrorMessage(c));
			exit(2);
		}
		if ((n = PQnotifies(c)) != NULL)
			return n;
		if (left <= 0)
			return NULL;
		FD_ZERO(&in);
		FD_SET(PQsocket(c), &in);
		tv.tv_sec = (long) (left / 1000);
		tv.tv_usec = (long) ((left - tv.tv_sec * 1000.0) * 1000);
		if (select(PQsocket(c) + 1, &in, NULL, NULL, &tv) < 0)
		{
			perror("select");
			exit(2);
		}
	}
}

#endif							/* NOETL_TEST_LISTEN_H */
