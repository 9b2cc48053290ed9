/*
 * commands.h - the `agora` subcommands: one function per command, one file
 * per family of commands, and the exit codes every command uses.
 */
#ifndef AGORA_COMMANDS_H
#define AGORA_COMMANDS_H

/* Exit codes (docs/agora.1, "EXIT STATUS"): the same for every command. */
enum agora_exit {
	EXIT_OK = 0,
	EXIT_USAGE = 1,    /* a bad option, argument or configuration value */
	EXIT_NET = 2,      /* cannot connect or listen, the connection failed, a
			    * protocol error, a timeout */
	EXIT_REFUSED = 3,  /* the server said no: a CONNACK or SUBACK refusal, an
			    * HTTP 4xx or 5xx answer */
	EXIT_LOCAL = 4,    /* a local failure: a file, the terminal, the store */
	EXIT_CHECK = 5,    /* agora bench: the run completed but a QoS 1/2
			    * message was lost, duplicated or reordered */
};

struct command {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
	const char *help;                 /* one line for `agora help` */
};

/* serve.c, bench.c */
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* pubsub.c: MQTT from the shell */
int cmd_pub(int argc, char **argv);
int cmd_sub(int argc, char **argv);
/* account.c: the REST API from the shell */
int cmd_register(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
/* poll.c (and poll_follow.c): polls from the shell */
int cmd_poll(int argc, char **argv);
int cmd_vote(int argc, char **argv);
/* rule.c: rules from the shell (admins) */
int cmd_rule(int argc, char **argv);
/* echo.c, adder.c, chat.c, lookup.c: the classic socket programs */
int cmd_echo(int argc, char **argv);
int cmd_adder(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
/* tls.c: a CA and certificates for development and tests */
int cmd_tls(int argc, char **argv);

/* True when argv holds -h or --help: the command prints its usage on
 * stdout and exits EXIT_OK. */
int wants_help(int argc, char **argv);

#endif
