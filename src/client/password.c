/*
 * password.c - a password from a file, the terminal without echo, or
 * standard input (password.h).
 */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define CONFIRM_PROMPT "Password again: "

static struct termios saved_tio;
static volatile sig_atomic_t tio_changed;

/* A signal at the prompt: echo back on, then the signal's default action. */
static void restore_echo(int sig)
{
	if (tio_changed)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from fd into buf (without the newline or a '\r' before
 * it): its length, or PASSWORD_EREAD, PASSWORD_TOO_LONG. read(2) rather
 * than stdio, so no buffer of ours keeps the bytes after the line. */
static long read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;
	ssize_t r;
	char *nl;

	while (len < n) {
		r = read(fd, buf + len, n - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return PASSWORD_EREAD;
		if (r == 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
		if (nl) {
			len = (size_t)(nl - buf);
			break;
		}
	}
	if (len == n)
		return PASSWORD_TOO_LONG;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (long)len;
}

/* Prompts on stderr and reads a line from the terminal without echo. */
static long ask_hidden(const char *prompt, char *buf, size_t n)
{
	struct sigaction sa = { .sa_handler = restore_echo }, old_int, old_term, old_quit;
	struct termios tio;
	long len;

	if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
		return PASSWORD_EREAD;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGQUIT, &sa, &old_quit);
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)ECHO;
	tio.c_lflag |= ECHONL; /* the newline typed is shown, the password not */
	/* Echo off before the prompt shows: all that is typed after it is hidden. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) != 0) {
		len = PASSWORD_EREAD;
		goto out_signals;
	}
	tio_changed = 1;
	fputs(prompt, stderr);
	fflush(stderr);
	len = read_line(STDIN_FILENO, buf, n);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_changed = 0;
out_signals:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	return len;
}

/* Asks twice; the second answer must be the first. */
static long ask_confirmed(const char *prompt, char *buf, size_t n)
{
	long len = ask_hidden(prompt, buf, n), len2;
	char *again;

	if (len <= 0)
		return len;
	if (!(again = malloc(n))) {
		errno = ENOMEM;
		return PASSWORD_EREAD;
	}
	len2 = ask_hidden(CONFIRM_PROMPT, again, n);
	if (len2 >= 0 && (len2 != len || memcmp(buf, again, (size_t)len) != 0))
		len2 = PASSWORD_MISMATCH;
	explicit_bzero(again, n);
	free(again);
	return len2 < 0 ? len2 : len;
}

int password_read(const char *file, const char *prompt, bool confirm, char *buf, size_t n,
		  const char **from)
{
	long len;
	int fd, saved;

	if (file) {
		*from = file;
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
			return PASSWORD_EREAD;
		len = read_line(fd, buf, n);
		saved = errno;
		close(fd);
		errno = saved;
	} else if (isatty(STDIN_FILENO)) {
		*from = "the terminal";
		len = confirm ? ask_confirmed(prompt, buf, n) : ask_hidden(prompt, buf, n);
	} else {
		*from = "standard input";
		len = read_line(STDIN_FILENO, buf, n);
	}
	if (len < 0)
		explicit_bzero(buf, n);
	return len < 0 ? (int)len : len == 0 ? PASSWORD_EMPTY : PASSWORD_OK;
}
