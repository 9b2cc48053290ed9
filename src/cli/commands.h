/* commands.h - the `agora` subcommands: one function per command. */
#ifndef AGORA_COMMANDS_H
#define AGORA_COMMANDS_H

struct command {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
	const char *help;
};

int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
