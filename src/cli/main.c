/*
 * main.c - the `agora` command table (after git's git.c): one row per
 * command, each family of commands in its own file.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "serve", cmd_serve, "run the server: MQTT broker, REST API, web client" },
	{ "pub", cmd_pub, "publish MQTT messages (flags as mosquitto_pub)" },
	{ "sub", cmd_sub, "subscribe and print MQTT messages (flags as mosquitto_sub)" },
	{ "register", cmd_register, "create an account on an Agora server" },
	{ "login", cmd_login, "log in and keep the token for the next commands" },
	{ "logout", cmd_logout, "forget the kept token (and revoke it)" },
	{ "users", cmd_users, "list the server's users and their status" },
	{ "status", cmd_status, "show or set your status" },
	{ "send", cmd_send, "send a direct message to a user" },
	{ "inbox", cmd_inbox, "list your messages, or follow them live" },
	{ "poll", cmd_poll, "create, list, show (live) and close polls" },
	{ "vote", cmd_vote, "vote on a poll, or change your vote" },
	{ "rule", cmd_rule, "manage the server's rules (admins): add, list, show, test, ..." },
	{ "echo", cmd_echo, "TCP echo server (echo serve) and client" },
	{ "adder", cmd_adder, "integer-adder server (adder serve) and client" },
	{ "chat", cmd_chat, "peer-to-peer UDP chat" },
	{ "lookup", cmd_lookup, "look up a host name or address" },
	{ "bench", cmd_bench, "load-test an MQTT broker (loopback)" },
	{ "tls", cmd_tls, "create a development CA and server certificate (tls init)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "list the commands, or describe one (help COMMAND)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	return 0;
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* The usage of the two commands defined here (`agora help version`,
 * `agora version --help`: the same text). */
static int builtin_usage(const struct command *c)
{
	printf("usage: agora %s%s\n%s\n", c->name, c->fn == cmd_help ? " [COMMAND]" : "",
	       c->help);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 0 && wants_help(argc, argv))
		return builtin_usage(find("version"));
	printf("agora %s\n", AGORA_VERSION);
	return EXIT_OK;
}

static void list_commands(FILE *out)
{
	fprintf(out, "usage: agora <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'agora help COMMAND' or 'agora COMMAND --help' describes a command; "
		     "'man agora' all of them.\n");
}

/* `agora help`: the list; `agora help COMMAND`: that command's --help. */
static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	char help_flag[] = "--help";
	char *sub_argv[3];

	if (argc < 2) {
		list_commands(stdout);
		return EXIT_OK;
	}
	if (wants_help(2, argv)) /* `agora help --help` */
		return builtin_usage(find("help"));
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "agora help: '%s' is not a command; see 'agora help'\n", argv[1]);
		return EXIT_USAGE;
	}
	if (c->fn == cmd_help || c->fn == cmd_version)
		return builtin_usage(c);
	sub_argv[0] = argv[1];
	sub_argv[1] = help_flag;
	sub_argv[2] = NULL;
	return c->fn(2, sub_argv);
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		list_commands(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		return cmd_version(0, NULL);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "agora: '%s' is not a command; see 'agora help'\n", argv[1]);
		return EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
