/*
 * register.c
 *	  noetl register FILE...: store playbooks in the catalog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noetl.h"

int
cmd_register(int argc, char **argv)
{
	PGconn	   *c;
	int			failed = 0;
	int			i;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s register FILE...\n", progname);
		return 2;
	}
	if ((c = connect_db()) == NULL)
		return 2;
	for (i = 1; i < argc; i++)
	{
		char	   *text = read_file(argv[i], NULL);
		const char *params[1];
		PGresult   *r;

		if (text == NULL)
		{
			fprintf(stderr, "%s: could not read \"%s\": %s\n", progname, argv[i], strerror(errno));
			failed++;
			continue;
		}
		params[0] = text;
		r = PQexecParams(c, "SELECT path, version FROM noetl.register($1)", 1, NULL, params,
						 NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);

			fprintf(stderr, "%s: %s: %s\n", progname, argv[i], msg ? msg : PQerrorMessage(c));
			if (detail)
				fprintf(stderr, "%s: %s\n", progname, detail);
			failed++;
		}
		else
			printf("%s version %s (%s)\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), argv[i]);
		PQclear(r);
		free(text);
	}
	PQfinish(c);
	return failed > 0 ? 1 : 0;
}
