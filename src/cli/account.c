/* account.c - not written yet (issue 11): every command here says so and fails. */
#include "commands.h"

#include <stdio.h>

int cmd_register(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora register: not available yet\n");
	return EXIT_USAGE;
}

int cmd_login(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora login: not available yet\n");
	return EXIT_USAGE;
}

int cmd_logout(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora logout: not available yet\n");
	return EXIT_USAGE;
}

int cmd_users(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora users: not available yet\n");
	return EXIT_USAGE;
}

int cmd_status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora status: not available yet\n");
	return EXIT_USAGE;
}

int cmd_send(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora send: not available yet\n");
	return EXIT_USAGE;
}

int cmd_inbox(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora inbox: not available yet\n");
	return EXIT_USAGE;
}

