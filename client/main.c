/*
 * main.c
 *	  The noetl program: options, connections, subcommands.
 *
 *	noetl [--dsn DSN] register FILE...
 *	noetl [--dsn DSN] run PATH [--workload JSON] [--version N] [--wait]
 *	noetl [--dsn DSN] status [EXECUTION_ID]
 *	noetl [--dsn DSN] worker [--tools LIST] [--jobs N] [--id NAME] ...
 *
 * The connection comes from --dsn (a libpq connection string or URI), or
 * else from the usual PG* environment variables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noetl.h"

const char *progname = "noetl";
const char *opt_dsn = NULL;

static void
usage(FILE *f)
{
	fprintf(f,
			"noetl runs NoETL playbooks with the noetl PostgreSQL extension.\n"
			"\n"
			"Usage:\n"
			"  noetl [--dsn DSN] register FILE...\n"
			"  noetl [--dsn DSN] run PATH [--workload JSON] [--version N] [--wait]\n"
			"  noetl [--dsn DSN] status [EXECUTION_ID]\n"
			"  noetl [--dsn DSN] worker [--tools python,http,postgres] [--jobs N] [--id NAME]\n"
			"                    [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]\n"
			"\n"
			"register   stores each playbook as the next version of its path\n"
			"run        starts an execution; with --wait, follows it to the end (exit status 0\n"
			"           when it completed, 1 when it failed or was cancelled)\n"
			"status     recent executions, or one execution's timeline\n"
			"worker     leases tasks and runs them (python, http, postgres)\n"
			"\n"
			"The connection comes from --dsn, or else from the PG* environment variables.\n");
}

void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

PGconn *
connect_db(void)
{
	PGconn	   *c = PQconnectdb(opt_dsn ? opt_dsn : "");

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "%s: could not connect: %s", progname, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/*
 * exec_params runs a statement with text parameters; on failure it prints
 * the server's message and returns NULL.
 */
PGresult *
exec_params(PGconn *c, const char *sql, int n, const char *const *values)
{
	PGresult   *r = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		fprintf(stderr, "%s: %s\n", progname, msg ? msg : PQerrorMessage(c));
		PQclear(r);
		return NULL;
	}
	return r;
}

/* read_file returns a file's contents, NUL-terminated, or NULL (errno set) */
char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	Buf			b;
	char		chunk[8192];
	size_t		n;

	if (f == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	if (ferror(f))
	{
		int			e = errno;

		if (f != stdin)
			fclose(f);
		buf_free(&b);
		errno = e;
		return NULL;
	}
	if (f != stdin)
		fclose(f);
	if (len)
		*len = b.len;
	return b.data;
}

int
main(int argc, char **argv)
{
	int			i = 1;

	while (i < argc && argv[i][0] == '-')
	{
		if (strcmp(argv[i], "--dsn") == 0 && i + 1 < argc)
		{
			opt_dsn = argv[i + 1];
			i += 2;
		}
		else if (strncmp(argv[i], "--dsn=", 6) == 0)
			opt_dsn = argv[i++] + 6;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else if (strcmp(argv[i], "--version") == 0)
		{
			printf("noetl %s\n", NOETL_VERSION);
			return 0;
		}
		else
		{
			fprintf(stderr, "%s: unknown option \"%s\"\n", progname, argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc)
	{
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "register") == 0)
		return cmd_register(argc - i, argv + i);
	if (strcmp(argv[i], "run") == 0)
		return cmd_run(argc - i, argv + i);
	if (strcmp(argv[i], "status") == 0)
		return cmd_status(argc - i, argv + i);
	if (strcmp(argv[i], "worker") == 0)
		return cmd_worker(argc - i, argv + i);
	if (strcmp(argv[i], "help") == 0)
	{
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "%s: unknown command \"%s\"\n", progname, argv[i]);
	usage(stderr);
	return 2;
}
