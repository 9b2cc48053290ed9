/* adder.c - not written yet (issue 11): every command here says so and fails. */
#include "commands.h"

#include <stdio.h>

int cmd_adder(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora adder: not available yet\n");
	return EXIT_USAGE;
}

