/*
 * tls_args.c - the TLS options of `agora pub`, `agora sub` and `agora
 * bench` (shell.h): --cafile, --capath, --cert, --key, --insecure, parsed
 * by one function so that the three commands spell and check them alike.
 */
#include "shell.h"

#include <stdio.h>
#include <string.h>

/* The path option called name, or NULL. */
static const char **path_slot(struct client_tls_args *t, const char *name)
{
	if (!strcmp(name, "--cafile"))
		return &t->cafile;
	if (!strcmp(name, "--capath"))
		return &t->capath;
	if (!strcmp(name, "--cert"))
		return &t->certfile;
	if (!strcmp(name, "--key"))
		return &t->keyfile;
	return NULL;
}

int client_tls_arg(struct client_tls_args *t, int argc, char **argv, char *err, size_t errlen)
{
	const char **slot;

	if (argc < 1)
		return 0;
	if (!strcmp(argv[0], "--insecure")) {
		t->insecure = true;
		return 1;
	}
	slot = path_slot(t, argv[0]);
	if (!slot)
		return 0;
	if (argc < 2) {
		snprintf(err, errlen, "%s needs a value", argv[0]);
		return -1;
	}
	if (*slot) {
		snprintf(err, errlen, "%s given twice", argv[0]);
		return -1;
	}
	*slot = argv[1];
	return 2;
}

int client_tls_args_check(const struct client_tls_args *t, char *err, size_t errlen)
{
	if ((t->certfile != NULL) != (t->keyfile != NULL)) {
		snprintf(err, errlen, "--cert and --key go together");
		return -1;
	}
	return 0;
}
