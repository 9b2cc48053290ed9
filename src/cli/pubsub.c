/* pubsub.c - not written yet (issue 11): every command here says so and fails. */
#include "commands.h"

#include <stdio.h>

int cmd_pub(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora pub: not available yet\n");
	return EXIT_USAGE;
}

int cmd_sub(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora sub: not available yet\n");
	return EXIT_USAGE;
}

