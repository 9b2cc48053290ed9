/*
 * tcp.c - the TCP transport: libuv's stream calls on the connection's own
 * handle. Reads land in the net's one read buffer; nothing is copied on
 * the way to the protocol.
 */
#include "internal.h"

#include "base/alloc.h"

#include <stdlib.h>

void net__read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct net_conn *c = (struct net_conn *)h;
	struct net *n = conn_net(c);

	(void)suggested;
	/* One buffer for every connection: libuv calls on_read right after
	 * on_alloc, and an idle connection then holds no read buffer. */
	*buf = uv_buf_init((char *)n->readbuf, sizeof(n->readbuf));
}

void net__read_start(struct net_conn *c, uv_read_cb on_read)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_read_start((uv_stream_t *)&c->tcp, net__read_alloc, on_read);
}

void net__read_with(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf,
		    void (*in)(struct net_conn *c, const uint8_t *data, size_t len))
{
	struct net_conn *c = (struct net_conn *)s;

	if (nread > 0) {
		in(c, (const uint8_t *)buf->base, (size_t)nread);
		/* A read that filled the buffer leaves more in the socket, which
		 * libuv reads next in this same turn. What this read produced
		 * goes out first: the peer works on it while the rest is read
		 * and handled (a pipeline, not a ping-pong of whole turns). */
		if ((size_t)nread == buf->len)
			net__turn_flush(conn_net(c));
	} else if (nread < 0) {
		net__eof(c, nread == UV_EOF ? 0 : (int)nread);
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	net__read_with(s, nread, buf, net__input);
}

static void tcp_read_start(struct net_conn *c)
{
	net__read_start(c, on_read);
}

static void tcp_read_stop(struct net_conn *c)
{
	uv_read_stop((uv_stream_t *)&c->tcp);
}

static int tcp_try_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	return uv_try_write((uv_stream_t *)&c->tcp, iov, n);
}

struct tcp_write {
	uv_write_t req;
	struct net_conn *conn;
};

static void on_write(uv_write_t *req, int status)
{
	struct tcp_write *w = req->data;
	struct net_conn *c = w->conn;

	free(w);
	net__write_done(c, status);
}

int net__stream_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct tcp_write *w = xmalloc(sizeof(*w));
	int rc;

	w->conn = c;
	w->req.data = w;
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, iov, n, on_write);
	if (rc < 0)
		free(w);
	return rc;
}

struct tcp_shutdown {
	uv_shutdown_t req;
	struct net_conn *conn;
};

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct tcp_shutdown *s = req->data;
	struct net_conn *c = s->conn;

	free(s);
	net__shutdown_done(c, status);
}

static int tcp_shutdown(struct net_conn *c)
{
	struct tcp_shutdown *s = xmalloc(sizeof(*s));
	int rc;

	s->conn = c;
	s->req.data = s;
	rc = uv_shutdown(&s->req, (uv_stream_t *)&c->tcp, on_shutdown);
	if (rc < 0)
		free(s);
	return rc;
}

static size_t tcp_queued(const struct net_conn *c)
{
	return c->tcp.write_queue_size;
}

static void on_closed(uv_handle_t *h)
{
	net__closed((struct net_conn *)h);
}

static void tcp_close(struct net_conn *c)
{
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

const struct net_transport net_tcp = {
	.name = "tcp",
	.read_start = tcp_read_start,
	.read_stop = tcp_read_stop,
	.try_write = tcp_try_write,
	.write = net__stream_write,
	.shutdown = tcp_shutdown,
	.queued = tcp_queued,
	.close = tcp_close,
};

/* Every transport, by index (internal.h): TCP first. */
const struct net_transport *const net__transports[] = {
	[NET_T_TCP] = &net_tcp,
	[NET_T_WS] = &net_ws,
	[NET_T_TLS] = &net_tls,
};
