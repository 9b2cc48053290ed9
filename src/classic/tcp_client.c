/*
 * tcp_client.c - the classic clients' socket plumbing (tcp.h): SIGINT that
 * ends a wait, connecting with a timeout, sending and receiving exactly.
 */
#include "tcp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_sigint;
static sigset_t poll_mask; /* the mask while waiting: SIGINT let through */
static bool signals_set;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

void classic_client_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint; /* no SA_RESTART: the wait returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &poll_mask);
	sigdelset(&poll_mask, SIGINT);
	signals_set = true;
}

int classic_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec ts, *tp = NULL;
	int rc;

	if (got_sigint)
		return -2;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	rc = ppoll(fds, n, tp, signals_set ? &poll_mask : NULL);
	if (got_sigint)
		return -2;
	if (rc < 0 && errno == EINTR) { /* another signal: nothing ready */
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = 0;
		return 1;
	}
	return rc;
}

/* "host:port", "[v6]:port" for messages. */
static void show_addr(const char *host, uint16_t port, char *out, size_t cap)
{
	snprintf(out, cap, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

/* One address: 0 and *fd, or an errno value (ETIMEDOUT after timeout_ms),
 * or -2 on SIGINT. */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fd)
{
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p;
	socklen_t len = sizeof(int);
	int err = 0, one = 1, rc;

	if (s < 0)
		return errno;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			close(s);
			return err;
		}
		p = (struct pollfd){ .fd = s, .events = POLLOUT };
		rc = classic_poll(&p, 1, timeout_ms);
		if (rc <= 0) {
			close(s);
			return rc == -2 ? -2 : rc == 0 ? ETIMEDOUT : errno;
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			close(s);
			return err;
		}
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	return 0;
}

int classic_connect(const char *prog, const char *host, uint16_t port, int timeout_ms)
{
	struct addrinfo hints, *res, *ai;
	char service[8], where[CLASSIC_HOST_MAX + 16];
	int rc, err = 0, fd = -1;

	show_addr(host, port, where, sizeof(where));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc) {
		fprintf(stderr, "%s: cannot resolve %s: %s\n", prog, host,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		err = connect_one(ai, timeout_ms, &fd);
		if (err == 0 || err == -2)
			break;
	}
	freeaddrinfo(res);
	if (err == -2)
		return -2;
	if (err) {
		if (err == ETIMEDOUT)
			fprintf(stderr, "%s: cannot connect to %s: no answer within %d ms\n", prog,
				where, timeout_ms);
		else
			fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, where, strerror(err));
		return -1;
	}
	return fd;
}

/* Waits for events on fd within timeout_ms: a classic_result (said). */
static int wait_for(const char *prog, int fd, short events, int timeout_ms, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc = classic_poll(&p, 1, timeout_ms);

	if (rc == -2)
		return CLASSIC_EINTR;
	if (rc == 0) {
		fprintf(stderr, "%s: %s within %d ms\n", prog, what, timeout_ms);
		return CLASSIC_ENET;
	}
	return CLASSIC_OK; /* ready, or an error the next call reports */
}

int classic_send_all(const char *prog, int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	ssize_t n;
	int rc;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "%s: sending failed: %s\n", prog, strerror(errno));
			return CLASSIC_ENET;
		}
		rc = wait_for(prog, fd, POLLOUT, timeout_ms, "the server took nothing more");
		if (rc)
			return rc;
	}
	return CLASSIC_OK;
}

int classic_recv_exact(const char *prog, int fd, void *buf, size_t len, size_t *got,
		       int timeout_ms)
{
	char *p = buf;
	ssize_t n;
	int rc;

	*got = 0;
	while (*got < len) {
		n = recv(fd, p + *got, len - *got, 0);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return CLASSIC_ENET; /* closed: the caller says what was missing */
		if (errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "%s: the connection failed: %s\n", prog, strerror(errno));
			return CLASSIC_ENET;
		}
		rc = wait_for(prog, fd, POLLIN, timeout_ms, "no answer");
		if (rc)
			return rc;
	}
	return CLASSIC_OK;
}
