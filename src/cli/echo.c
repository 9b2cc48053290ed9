/* echo.c - not written yet (issue 11): every command here says so and fails. */
#include "commands.h"

#include <stdio.h>

int cmd_echo(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "agora echo: not available yet\n");
	return EXIT_USAGE;
}

