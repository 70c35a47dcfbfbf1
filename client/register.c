/*-------------------------------------------------------------------------
 *
 * register.c
 *	  noetl register FILE...: store playbooks in the catalog.
 *
 * Each file ("-": standard input) is stored as the next version of its
 * playbook's path; what registration ignored, and the tools no worker has
 * announced, are printed to stderr as warnings (they do not change the
 * exit status); a file the server refuses is reported with the server's
 * message, and the exit status is then 1.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"
#include "getopt_long.h"
#include "pqexpbuffer.h"

#include "commands.h"
#include "db.h"

/* usage prints how to call noetl register */
static void
usage(FILE *f)
{
	fprintf(f, "usage: noetl register FILE...\n");
}

/* read_file appends a file's contents ("-": standard input) to buf */
static bool
read_file(const char *path, PQExpBuffer buf)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char		chunk[8192];
	size_t		n;
	bool		ok;

	if (f == NULL)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryPQExpBuffer(buf, chunk, n);
	ok = !ferror(f);
	if (f != stdin)
	{
		int			save_errno = errno;

		fclose(f);
		errno = save_errno;
	}
	return ok;
}

/* cmd_register is noetl register */
int
cmd_register(int argc, char **argv)
{
	static const struct option long_options[] = {
		{NULL, 0, NULL, 0}
	};
	PGconn	   *conn;
	int			failed = 0;
	int			i;

	if (getopt_long(argc, argv, "", long_options, NULL) != -1 || optind >= argc)
	{
		usage(stderr);
		return 2;
	}
	conn = db_connect(NULL, "noetl register", false, true);
	for (i = optind; i < argc; i++)
	{
		PQExpBufferData text;
		const char *params[1];
		PGresult   *r;

		initPQExpBuffer(&text);
		if (!read_file(argv[i], &text))
		{
			pg_log_error("could not read file \"%s\": %m", argv[i]);
			failed++;
		}
		else if (PQExpBufferDataBroken(text))
		{
			pg_log_error("out of memory");
			failed++;
		}
		else
		{
			params[0] = text.data;
			/* one row per warning, or one row with none */
			r = db_exec(conn, argv[i],
						"SELECT r.path, r.version, w.w FROM noetl.register($1) r"
						" LEFT JOIN LATERAL pg_catalog.unnest(r.warnings) WITH ORDINALITY AS w(w, n) ON true"
						" ORDER BY w.n", 1, params);
			if (r == NULL)
				failed++;
			else
			{
				int			row;

				for (row = 0; row < PQntuples(r); row++)
					if (!PQgetisnull(r, row, 2))
						pg_log_warning("%s: %s", argv[i], PQgetvalue(r, row, 2));
				printf("%s version %s (%s)\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), argv[i]);
			}
			PQclear(r);
		}
		termPQExpBuffer(&text);
	}
	PQfinish(conn);
	return failed > 0 ? 1 : 0;
}
