/*
 * echo_client.c - `agora echo HOST:PORT [TEXT...]` (echo.h): the text, or
 * stdin as it comes, goes to the server; what comes back is printed as it
 * comes; done when every byte sent is back.
 *
 * One ppoll loop over the socket and stdin: stdin is read only once the
 * previous chunk is sent (so a server that stops reading stops us too,
 * within the timeout), and the timeout runs only while something is owed
 * by the server (an interactive session may wait for its user forever).
 */
#include "echo.h"

#include "base/alloc.h"
#include "base/fdio.h"
#include "tcp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

struct echo_run {
	const struct echo_client_opts *o;
	int fd;
	const uint8_t *out;   /* to send: the text, or the last chunk of stdin */
	size_t out_len, out_off;
	uint64_t sent, back;
	bool input_done;      /* no more to send once out is */
	uint8_t *chunk, *buf; /* stdin's chunk, the socket's reads */
	char where[CLASSIC_HOST_MAX + 16];
};

/* What the server sent back: printed; more than was sent is no echo. */
static int take_back(struct echo_run *e)
{
	const char *prog = e->o->prog;
	ssize_t n = recv(e->fd, e->buf, CHUNK, 0);
	size_t owed = (size_t)(e->sent - e->back), k;

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return CLASSIC_OK;
		fprintf(stderr, "%s: the connection to %s failed: %s\n", prog, e->where,
			strerror(errno));
		return CLASSIC_ENET;
	}
	if (n == 0) {
		fprintf(stderr, "%s: %s closed the connection with %" PRIu64 " of %" PRIu64
			" bytes back\n", prog, e->where, e->back, e->sent);
		return CLASSIC_ENET;
	}
	k = (size_t)n < owed ? (size_t)n : owed;
	if (fd_write_all(STDOUT_FILENO, e->buf, k)) {
		fprintf(stderr, "%s: stdout: %s\n", prog, strerror(errno));
		return CLASSIC_ELOCAL;
	}
	e->back += k;
	if ((size_t)n > k) {
		fprintf(stderr, "%s: %s sent bytes that were never sent to it: not an echo server?\n",
			prog, e->where);
		return CLASSIC_ENET;
	}
	return CLASSIC_OK;
}

static int send_some(struct echo_run *e)
{
	ssize_t n = send(e->fd, e->out + e->out_off, e->out_len - e->out_off, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return CLASSIC_OK;
		fprintf(stderr, "%s: sending to %s failed: %s\n", e->o->prog, e->where,
			strerror(errno));
		return CLASSIC_ENET;
	}
	e->out_off += (size_t)n;
	e->sent += (uint64_t)n;
	return CLASSIC_OK;
}

static int read_stdin(struct echo_run *e)
{
	ssize_t n = read(STDIN_FILENO, e->chunk, CHUNK);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return CLASSIC_OK;
		fprintf(stderr, "%s: stdin: %s\n", e->o->prog, strerror(errno));
		return CLASSIC_ELOCAL;
	}
	if (n == 0)
		e->input_done = true;
	e->out = e->chunk;
	e->out_len = (size_t)n;
	e->out_off = 0;
	return CLASSIC_OK;
}

static int run(struct echo_run *e)
{
	struct pollfd p[2];
	bool pending, owed;
	nfds_t n;
	int rc;

	for (;;) {
		pending = e->out_off < e->out_len;
		owed = pending || e->back < e->sent;
		if (e->input_done && !owed)
			return CLASSIC_OK;
		p[0] = (struct pollfd){ .fd = e->fd, .events = POLLIN | (pending ? POLLOUT : 0) };
		p[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		n = e->input_done || pending ? 1 : 2;
		rc = classic_poll(p, n, owed ? e->o->timeout_ms : -1);
		if (rc == -2)
			return CLASSIC_EINTR;
		if (rc < 0) {
			fprintf(stderr, "%s: poll: %s\n", e->o->prog, strerror(errno));
			return CLASSIC_ELOCAL;
		}
		if (rc == 0) {
			fprintf(stderr, "%s: %s %s within %d ms (%" PRIu64 " of %" PRIu64
				" bytes back)\n", e->o->prog, e->where,
				pending ? "took nothing more" : "sent nothing back", e->o->timeout_ms,
				e->back, e->sent);
			return CLASSIC_ENET;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && (rc = take_back(e)))
			return rc;
		if ((p[0].revents & POLLOUT) && (rc = send_some(e)))
			return rc;
		if (n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && (rc = read_stdin(e)))
			return rc;
	}
}

int echo_client_run(const struct echo_client_opts *o)
{
	struct echo_run e = { .o = o };
	int rc;

	snprintf(e.where, sizeof(e.where), strchr(o->host, ':') ? "[%s]:%u" : "%s:%u", o->host,
		 o->port);
	e.fd = classic_connect(o->prog, o->host, o->port, o->timeout_ms);
	if (e.fd < 0)
		return e.fd == -2 ? CLASSIC_EINTR : CLASSIC_ENET;
	e.buf = xmalloc(CHUNK);
	if (o->text) {
		e.out = o->text;
		e.out_len = o->text_len;
		e.input_done = true;
	} else {
		e.chunk = xmalloc(CHUNK);
	}
	rc = run(&e);
	close(e.fd);
	free(e.buf);
	free(e.chunk);
	return rc;
}
