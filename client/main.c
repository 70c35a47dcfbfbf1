/*-------------------------------------------------------------------------
 *
 * main.c
 *	  The noetl program: its options, and the subcommand it runs.
 *
 *	noetl [--dsn DSN] register FILE...
 *	noetl [--dsn DSN] run PATH [--workload JSON] [--version N] [--wait [--warn-after SECONDS]]
 *	noetl [--dsn DSN] status [--warn-after SECONDS] [EXECUTION_ID]
 *	noetl [--dsn DSN] worker [--tools LIST] [--jobs N] [--id NAME] ...
 *	noetl [--dsn DSN] credential add|list|rm ...
 *
 * The connection comes from --dsn (a libpq connection string or URI), or
 * else from the usual PG* environment variables.  The options before the
 * subcommand are the program's; those after it are the subcommand's
 * (commands.h).  Exit status 2 means that the program could not do what
 * it was asked (wrong usage, no connection).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"
#include "getopt_long.h"

#include "commands.h"
#include "db.h"

typedef struct Command
{
	const char *name;
	int			(*run) (int argc, char **argv);
} Command;

static const Command commands[] = {
	{"credential", cmd_credential},
	{"register", cmd_register},
	{"run", cmd_run},
	{"status", cmd_status},
	{"worker", cmd_worker},
};

/* usage prints how to call the program */
static void
usage(FILE *f)
{
	fprintf(f,
			"noetl runs NoETL playbooks with the noetl PostgreSQL extension.\n"
			"\n"
			"Usage:\n"
			"  noetl [--dsn DSN] register FILE...\n"
			"  noetl [--dsn DSN] run PATH [--workload JSON] [--version N] [--wait [--warn-after SECONDS]]\n"
			"  noetl [--dsn DSN] status [--warn-after SECONDS] [EXECUTION_ID]\n"
			"  noetl [--dsn DSN] worker [--tools python,http,postgres,transfer,sink] [--jobs N] [--id NAME]\n"
			"                    [--lease-seconds N] [--poll SECONDS] [--task-timeout SECONDS]\n"
			"                    [--grace SECONDS] [--isolate] [--script-root DIR]\n"
			"  noetl [--dsn DSN] credential add NAME --type TYPE [--data-file FILE] [--description TEXT]\n"
			"                    [--tag TAG]...\n"
			"  noetl [--dsn DSN] credential list | rm NAME\n"
			"\n"
			"register   stores each playbook as the next version of its path\n"
			"run        starts an execution; with --wait, follows it to the end (exit status 0\n"
			"           when it completed, 1 when it failed or was cancelled)\n"
			"status     recent executions, or one execution's timeline\n"
			"worker     leases tasks and runs them (python, http, postgres)\n"
			"credential stores, lists and removes the named credentials tasks' auth refers to\n"
			"           (the data from --data-file or standard input; never printed)\n"
			"\n"
			"The connection comes from --dsn, or else from the PG* environment variables.\n");
}

/* main reads the program's options and runs the subcommand */
int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	const char *progname = get_progname(argv[0]);
	const char *name;
	char	  **sub_argv;
	int			opt;
	int			i;

	pg_logging_init(argv[0]);
	argv[0] = unconstify(char *, progname);	/* for getopt_long's messages */

	/* "+": the program's options end at the subcommand */
	while ((opt = getopt_long(argc, argv, "+h", long_options, NULL)) != -1)
	{
		switch (opt)
		{
			case 'd':
				db_set_default_dsn(optarg);
				break;
			case 'h':
				usage(stdout);
				return 0;
			case 'V':
				printf("noetl %s\n", NOETL_VERSION);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind >= argc)
	{
		usage(stderr);
		return 2;
	}
	name = argv[optind];
	if (strcmp(name, "help") == 0)
	{
		usage(stdout);
		return 0;
	}
	for (i = 0; i < lengthof(commands); i++)
	{
		if (strcmp(name, commands[i].name) != 0)
			continue;

		/*
		 * The subcommand parses what follows it.  getopt_long names argv[0]
		 * in its messages: "noetl worker: unrecognized option ...".  optind
		 * 0 makes it start afresh (glibc and the BSDs), permuting again.
		 */
		sub_argv = argv + optind;
		sub_argv[0] = psprintf("%s %s", progname, name);
		optind = 0;
		return commands[i].run(argc - (int) (sub_argv - argv), sub_argv);
	}
	pg_log_error("unrecognized command \"%s\"", name);
	usage(stderr);
	return 2;
}
