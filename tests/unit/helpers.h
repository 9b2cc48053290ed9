/* helpers.h - shared includes for cmocka unit tests. */
#ifndef AGORA_TEST_HELPERS_H
#define AGORA_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child process and checks that it aborts (SIGABRT)
 * with `message` in what it writes to stderr: how the base helpers refuse
 * to go past a limit. */
static inline void expect_abort(void (*fn)(void *), void *arg, const char *message)
{
	char out[1024];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn(arg);
		_exit(0); /* it returned: the parent sees a clean exit */
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("expected SIGABRT, got status 0x%x; stderr: %s", status, out);
	if (!strstr(out, message))
		fail_msg("stderr lacks \"%s\": %s", message, out);
}

#endif
