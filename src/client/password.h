/*
 * password.h - a password from a file's first line, from the terminal (not
 * echoed; asked twice to confirm a new one) or from standard input's first
 * line when it is not a terminal. For `agora register` and `login`; the
 * MQTT commands' -P can use it too.
 *
 * At the prompt, SIGINT, SIGTERM and SIGQUIT put the terminal's echo back
 * before they end the process (their default action). The password is
 * written to the caller's buffer, which the caller wipes (explicit_bzero)
 * after use; the copies made here are wiped before returning.
 */
#ifndef AGORA_CLIENT_PASSWORD_H
#define AGORA_CLIENT_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

enum password_status {
	PASSWORD_OK = 0,
	PASSWORD_EMPTY = -1,    /* an empty first line, or nothing at all */
	PASSWORD_TOO_LONG = -2, /* the line does not fit the buffer */
	PASSWORD_EREAD = -3,    /* the file or the terminal failed: see errno */
	PASSWORD_MISMATCH = -4, /* confirm: the two answers differ */
};

/*
 * Reads a password into buf (n bytes, NUL-terminated, without the line's
 * "\n" or "\r\n"). file: a path, or NULL for the terminal or standard
 * input. prompt: shown on stderr at the terminal ("Password for alice: ").
 * *from names where it was read, for messages ("the terminal").
 */
int password_read(const char *file, const char *prompt, bool confirm, char *buf, size_t n,
		  const char **from);

#endif
