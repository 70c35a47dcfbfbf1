/*-------------------------------------------------------------------------
 *
 * credential.c
 *	  noetl credential add|list|rm: manage named credentials.
 *
 *	noetl credential add NAME --type TYPE [--data JSON | --data-file FILE]
 *	                     [--description TEXT] [--tag TAG]...
 *	noetl credential list
 *	noetl credential rm NAME
 *
 * add stores (or replaces) a credential through noetl.credential_set, its
 * data (a JSON object) read from --data, from --data-file ("-": standard
 * input), or else from standard input.  The data goes to the server by
 * COPY into a temporary table, not as a statement's parameter: COPY's data
 * is never written to the server's log, whatever log_statement says, and
 * never shows in pg_stat_activity.  The data is checked here first, so
 * that the server's error for malformed JSON, which quotes it, is never
 * raised; nothing of it is ever printed.  --data puts the secret on the
 * command line, where other users of the machine may see it: prefer a
 * file or standard input.  list prints the credentials without their
 * data; rm removes one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"
#include "getopt_long.h"
#include "pqexpbuffer.h"

#include "commands.h"
#include "db.h"
#include "json.h"

/* the most data a credential may have */
#define MAX_CREDENTIAL_DATA (1024 * 1024)

/* usage prints how to call noetl credential */
static void
usage(FILE *f)
{
	fprintf(f,
			"usage: noetl credential add NAME --type TYPE [--data JSON | --data-file FILE]\n"
			"                            [--description TEXT] [--tag TAG]...\n"
			"       noetl credential list\n"
			"       noetl credential rm NAME\n"
			"\n"
			"add    stores the credential NAME (or replaces it), its data a JSON object read\n"
			"       from --data, --data-file (\"-\": standard input) or else standard input;\n"
			"       TYPE is postgres, bearer, basic, api_key, header or another word\n"
			"list   the credentials, without their data\n"
			"rm     removes the credential NAME\n");
}

/* read_data appends a file's contents ("-": standard input) to buf, bounded */
static bool
read_data(const char *path, PQExpBuffer buf)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char		chunk[8192];
	size_t		n;
	bool		ok;

	if (f == NULL)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf->len <= MAX_CREDENTIAL_DATA)
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

/* is_object says whether JSON text (valid) is an object */
static bool
is_object(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return *s == '{';
}

/* run runs a statement of no result; false (logged) on failure */
static bool
run(PGconn *conn, const char *context, const char *sql)
{
	PGresult   *r = db_exec(conn, context, sql, 0, NULL);

	PQclear(r);
	return r != NULL;
}

/* send_data copies data into pg_temp.noetl_credential_data as one CSV field */
static bool
send_data(PGconn *conn, const char *data)
{
	PQExpBufferData csv;
	PGresult   *r;
	const char *p;
	bool		ok;

	r = PQexec(conn, "COPY pg_temp.noetl_credential_data (data) FROM STDIN (FORMAT csv)");
	if (PQresultStatus(r) != PGRES_COPY_IN)
	{
		pg_log_error("could not send the credential's data: %s", PQerrorMessage(conn));
		PQclear(r);
		return false;
	}
	PQclear(r);
	initPQExpBuffer(&csv);
	appendPQExpBufferChar(&csv, '"');
	for (p = data; *p; p++)
	{
		if (*p == '"')
			appendPQExpBufferChar(&csv, '"');
		appendPQExpBufferChar(&csv, *p);
	}
	appendPQExpBufferStr(&csv, "\"\n");
	ok = !PQExpBufferDataBroken(csv) &&
		PQputCopyData(conn, csv.data, (int) csv.len) == 1 &&
		PQputCopyEnd(conn, NULL) == 1;
	/* the buffer held the secret */
	if (csv.data)
		memset(csv.data, 0, csv.maxlen);
	termPQExpBuffer(&csv);
	r = PQgetResult(conn);
	if (!ok || PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		pg_log_error("could not send the credential's data: %s", PQerrorMessage(conn));
		ok = false;
	}
	PQclear(r);
	while ((r = PQgetResult(conn)) != NULL)
		PQclear(r);
	return ok;
}

/* add is noetl credential add */
static int
add(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"type", required_argument, NULL, 't'},
		{"data", required_argument, NULL, 'j'},
		{"data-file", required_argument, NULL, 'f'},
		{"description", required_argument, NULL, 'D'},
		{"tag", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *type = NULL;
	const char *data_arg = NULL;
	const char *data_file = NULL;
	const char *description = NULL;
	const char *name;
	PQExpBufferData data;
	PQExpBufferData tags;
	const char *params[4];
	PGconn	   *conn;
	PGresult   *r;
	int			opt;
	int			status = 1;

	initPQExpBuffer(&tags);
	appendPQExpBufferChar(&tags, '[');
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1)
	{
		switch (opt)
		{
			case 't':
				type = optarg;
				break;
			case 'j':
				data_arg = optarg;
				break;
			case 'f':
				data_file = optarg;
				break;
			case 'D':
				description = optarg;
				break;
			case 'g':
				if (tags.len > 1)
					appendPQExpBufferChar(&tags, ',');
				json_append_string(&tags, optarg, strlen(optarg));
				break;
			case 'h':
				usage(stdout);
				termPQExpBuffer(&tags);
				return 0;
			default:
				usage(stderr);
				termPQExpBuffer(&tags);
				return 2;
		}
	}
	appendPQExpBufferChar(&tags, ']');
	if (optind != argc - 1 || type == NULL || (data_arg != NULL && data_file != NULL))
	{
		if (type == NULL && optind == argc - 1)
			pg_log_error("noetl credential add needs --type");
		else if (data_arg != NULL && data_file != NULL)
			pg_log_error("--data and --data-file cannot be used together");
		usage(stderr);
		termPQExpBuffer(&tags);
		return 2;
	}
	name = argv[optind];
	initPQExpBuffer(&data);
	if (data_arg != NULL)
		appendPQExpBufferStr(&data, data_arg);
	else if (!read_data(data_file ? data_file : "-", &data))
	{
		pg_log_error("could not read the credential's data from \"%s\": %m",
					 data_file ? data_file : "-");
		goto done;
	}
	if (PQExpBufferDataBroken(data) || PQExpBufferDataBroken(tags))
	{
		pg_log_error("out of memory");
		goto done;
	}
	if (data.len > MAX_CREDENTIAL_DATA)
	{
		pg_log_error("the data of credential \"%s\" is larger than %d bytes", name,
					 MAX_CREDENTIAL_DATA);
		goto done;
	}
	if (strlen(data.data) != data.len || !json_is_valid(data.data, data.len) ||
		!is_object(data.data))
	{
		pg_log_error("the data of credential \"%s\" is not a JSON object", name);
		pg_log_error_hint("Give the data as a JSON object, such as {\"user\": ..., \"password\": ...}.");
		goto done;
	}
	conn = db_connect(NULL, "noetl credential", false, true);
	if (run(conn, NULL, "BEGIN") &&
		run(conn, NULL, "CREATE TEMPORARY TABLE noetl_credential_data (data text) ON COMMIT DROP") &&
		send_data(conn, data.data))
	{
		params[0] = name;
		params[1] = type;
		params[2] = description;
		params[3] = tags.data;
		r = db_exec(conn, "could not add the credential",
					"SELECT noetl.credential_set($1, $2,"
					" (SELECT d.data::jsonb FROM pg_temp.noetl_credential_data d), $3,"
					" ARRAY(SELECT pg_catalog.jsonb_array_elements_text($4::jsonb)))",
					4, params);
		if (r != NULL && run(conn, NULL, "COMMIT"))
		{
			printf("credential \"%s\" stored (%s)\n", name, type);
			status = 0;
		}
		PQclear(r);
	}
	PQfinish(conn);
done:
	if (data.data)
		memset(data.data, 0, data.maxlen);
	termPQExpBuffer(&data);
	termPQExpBuffer(&tags);
	return status;
}

/* list is noetl credential list */
static int
list(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *r;
	int			row;

	if (argc != 1)
	{
		usage(stderr);
		return 2;
	}
	conn = db_connect(NULL, "noetl credential", false, true);
	r = db_exec(conn, "could not list the credentials",
				"SELECT c.name, c.type, pg_catalog.array_to_string(c.tags, ','),"
				" pg_catalog.to_char(c.updated_at, 'YYYY-MM-DD HH24:MI:SS'), c.description"
				" FROM noetl.credentials() c", 0, NULL);
	if (r == NULL)
	{
		PQfinish(conn);
		return 1;
	}
	printf("%-24s %-10s %-19s %-16s %s\n", "name", "type", "updated", "tags", "description");
	for (row = 0; row < PQntuples(r); row++)
		printf("%-24s %-10s %-19s %-16s %s\n", PQgetvalue(r, row, 0), PQgetvalue(r, row, 1),
			   PQgetvalue(r, row, 3), PQgetvalue(r, row, 2), PQgetvalue(r, row, 4));
	PQclear(r);
	PQfinish(conn);
	return 0;
}

/* rm is noetl credential rm */
static int
rm(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *r;
	const char *params[1];
	int			status = 1;

	if (argc != 2)
	{
		usage(stderr);
		return 2;
	}
	params[0] = argv[1];
	conn = db_connect(NULL, "noetl credential", false, true);
	r = db_exec(conn, "could not remove the credential",
				"SELECT noetl.credential_remove($1)", 1, params);
	if (r != NULL)
	{
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		{
			printf("credential \"%s\" removed\n", argv[1]);
			status = 0;
		}
		else
			pg_log_error("credential \"%s\" does not exist", argv[1]);
	}
	PQclear(r);
	PQfinish(conn);
	return status;
}

/* cmd_credential is noetl credential */
int
cmd_credential(int argc, char **argv)
{
	char	   *sub;
	int			status;

	if (argc < 2)
	{
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
		strcmp(argv[1], "help") == 0)
	{
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "list") != 0 &&
		strcmp(argv[1], "rm") != 0)
	{
		pg_log_error("unrecognized credential command \"%s\"", argv[1]);
		usage(stderr);
		return 2;
	}
	/* the subcommand's arguments, argv[0] naming it for getopt_long */
	sub = psprintf("%s %s", argv[0], argv[1]);
	argv[1] = sub;
	optind = 0;
	if (strcmp(argv[1] + strlen(argv[0]) + 1, "add") == 0)
		status = add(argc - 1, argv + 1);
	else if (strcmp(argv[1] + strlen(argv[0]) + 1, "list") == 0)
		status = list(argc - 1, argv + 1);
	else
		status = rm(argc - 1, argv + 1);
	pg_free(sub);
	return status;
}
