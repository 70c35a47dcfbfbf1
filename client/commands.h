/*-------------------------------------------------------------------------
 *
 * commands.h
 *	  The noetl program's subcommands, which main.c dispatches to.
 *
 * Each subcommand's file (credential.c, register.c, run.c, status.c,
 * worker.c) exports only its entry point, so they share this one header.  An entry point
 * gets the subcommand's own arguments, argv[0] naming it, and returns the
 * program's exit status.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_COMMANDS_H
#define CLIENT_COMMANDS_H

extern int	cmd_credential(int argc, char **argv);
extern int	cmd_register(int argc, char **argv);
extern int	cmd_run(int argc, char **argv);
extern int	cmd_status(int argc, char **argv);
extern int	cmd_worker(int argc, char **argv);

#endif							/* CLIENT_COMMANDS_H */
