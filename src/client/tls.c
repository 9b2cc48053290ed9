/*
 * tls.c - the client's MQTT over TLS (opts.tls): the engine
 * (src/tls/tls.h) between the packets and the socket. The CONNECT is
 * queued at once and kept by the engine until the handshake is done; the
 * handshake's own messages go out with the ordinary flush. Also the
 * config that the commands' TLS options (shell.h) ask for.
 */
#include "internal.h"

#include "shell.h"
#include "tls/tls.h"

#include <stdlib.h>

struct tls_config *client_tls_config(const struct client_tls_args *t, const char *host,
				     char *err, size_t errlen)
{
	struct tls_settings s = {
		.role = TLS_CLIENT,
		.certfile = t->certfile,
		.keyfile = t->keyfile,
		.cafile = t->cafile,
		.capath = t->capath,
		.insecure = t->insecure,
		.server_name = host,
	};

	return tls_config_new(&s, err, errlen);
}

void client__tls_connected(struct client_conn *c)
{
	c->tls_error[0] = '\0';
	c->tls = tls_conn_new(c->opts.tls);
	if (!c->tls)
		abort(); /* out of memory, as xmalloc's */
	client__mark_dirty(c); /* the ClientHello */
}

bool client__tls_pending(const struct client_conn *c)
{
	const uint8_t *p;

	return tls_conn_pending(c->tls, &p) > 0;
}

const char *client_tls_error(const struct client_conn *c)
{
	return c->tls_error[0] ? c->tls_error : "unknown reason";
}

void client__tls_flush(struct client_conn *c)
{
	const uint8_t *p;
	size_t n;
	uv_buf_t b;
	int w;

	if (c->wlen) {
		if (tls_conn_write(c->tls, c->wbuf, c->wlen, c->tls_error, sizeof(c->tls_error))) {
			client__fail(c, CLIENT_ETLS);
			return;
		}
		c->wlen = 0;
	}
	n = tls_conn_pending(c->tls, &p);
	if (!n)
		return;
	b = uv_buf_init((char *)p, (unsigned)n);
	w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (w < 0 && w != UV_EAGAIN) {
		client__fail(c, w);
		return;
	}
	if (w > 0)
		tls_conn_consume(c->tls, (size_t)w);
	n = tls_conn_pending(c->tls, &p);
	if (n) {
		client__write_fbuf(c, p, n); /* copied: the engine's bytes move on */
		tls_conn_consume(c->tls, n);
	} else if (tls_conn_handshake_done(c->tls)) {
		client__wrote_all(c); /* before it, the output waits in the engine */
	}
}

void client__tls_input(struct client_conn *c, const uint8_t *data, size_t len)
{
	long got;

	if (tls_conn_feed(c->tls, data, len, c->tls_error, sizeof(c->tls_error))) {
		client__fail(c, CLIENT_ETLS);
		return;
	}
	/* The loop's read buffer holds the plaintext: the ciphertext it held
	 * is inside the engine now. */
	while (c->state < CLIENT_CLOSING &&
	       (got = tls_conn_read(c->tls, c->loop->readbuf, CLIENT_READ_CHUNK, c->tls_error,
				    sizeof(c->tls_error))) != 0) {
		if (got < 0) {
			client__fail(c, got == TLS_ECLOSED ? CLIENT_ECLOSED : CLIENT_ETLS);
			return;
		}
		client__input(c, c->loop->readbuf, (size_t)got);
	}
	if (c->state < CLIENT_CLOSING && client__tls_pending(c))
		client__mark_dirty(c); /* the handshake's answer, or what waited for it */
}
