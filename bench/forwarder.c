/*
 * forwarder.c - the trivial forwarder: this machine's ceiling for
 * `agora bench`, and a deliberately faulty broker for the bench's own tests.
 *
 * It speaks just enough MQTT for the bench's clients to start: a fixed
 * CONNACK, a SUBACK granting QoS 0, PUBACK (PUBREC, PUBCOMP) so that QoS 1
 * and 2 publishers complete, PINGRESP. Every complete PUBLISH from any
 * connection is copied byte for byte to every connection that has sent
 * SUBSCRIBE: no topic matching, no sessions, no queues, no codec. Whatever a
 * broker costs beyond this is its own overhead. What one read (up to 64 KiB)
 * brings is forwarded with one write per subscriber.
 *
 * usage: forwarder -p PORT [--drop N] [--dup N] [--reorder N]
 *
 * The faults count forwarded PUBLISH packets (1, 2, 3, ... over all
 * publishers): --drop N drops every Nth, --dup N sends every Nth twice,
 * --reorder N holds every Nth back and sends it after the next one.
 * Deliberately independent of src/: it must not share the bugs it measures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_SIZE (64 * 1024)
#define BACKLOG 1024
/* A held (--reorder) PUBLISH that no other follows goes out after this, so
 * the end of a run is delayed, never lost. */
#define HOLD_MS 20

enum {
	T_CONNECT = 1,
	T_PUBLISH = 3,
	T_PUBREL = 6,
	T_SUBSCRIBE = 8,
	T_UNSUBSCRIBE = 10,
	T_PINGREQ = 12,
	T_DISCONNECT = 14,
};

/* Bytes shared by every write that carries them; freed with the last. */
struct block {
	unsigned refs;
	size_t len, cap;
	uint8_t data[];
};

struct wreq {
	uv_write_t req;
	struct block *b;
};

struct conn {
	uv_tcp_t tcp;
	struct conn *prev, *next;
	uint8_t *pend; /* an incomplete packet carried over to the next read */
	size_t plen, pcap;
	bool connected, subscriber, closing;
};

static uv_loop_t loop;
static uv_tcp_t listener;
static uv_signal_t sigterm, sigint;
static uv_timer_t hold_timer;
static struct conn *conns;
static uint8_t readbuf[READ_SIZE];
static struct block *batch; /* PUBLISH packets of the current read */
static struct block *held;  /* --reorder: waiting for its successor */
static unsigned long drop_every, dup_every, reorder_every;
static uint64_t publishes;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fputs("forwarder: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

/* ---- blocks and writes ---- */

/* Appends to *bp, creating it (one reference, its owner's) if needed. */
static void append(struct block **bp, const void *data, size_t len)
{
	struct block *b = *bp;
	size_t used = b ? b->len : 0;
	size_t cap = b ? b->cap : 4096;

	if (!b || used + len > cap) {
		while (cap < used + len)
			cap *= 2;
		b = xrealloc(b, sizeof(*b) + cap);
		if (!*bp) {
			b->refs = 1;
			b->len = 0;
		}
		b->cap = cap;
		*bp = b;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void block_put(struct block *b)
{
	if (--b->refs == 0)
		free(b);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(c->pend);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Pending writes end with UV_ECANCELED before on_conn_closed runs. */
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->handle->data;

	block_put(w->b);
	free(w);
	if (status < 0)
		conn_close(c);
}

static void send_block(struct conn *c, struct block *b)
{
	struct wreq *w = xrealloc(NULL, sizeof(*w));
	uv_buf_t buf = uv_buf_init((char *)b->data, (unsigned)b->len);

	w->b = b;
	b->refs++;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
		block_put(b);
		free(w);
		conn_close(c);
	}
}

/* Sends b to every subscriber and drops the owner's reference. */
static void broadcast(struct block *b)
{
	struct conn *c, *next;

	for (c = conns; c; c = next) {
		next = c->next; /* send_block may unlink c */
		if (c->subscriber)
			send_block(c, b);
	}
	block_put(b);
}

/* ---- forwarding ---- */

static void on_hold_timeout(uv_timer_t *t)
{
	(void)t;
	if (held) {
		broadcast(held);
		held = NULL;
	}
}

/* Queues one PUBLISH for the subscribers, with the faults asked for. */
static void forward(const uint8_t *p, size_t n)
{
	uint64_t k = ++publishes;
	int copies = dup_every && k % dup_every == 0 ? 2 : 1;

	if (drop_every && k % drop_every == 0)
		return;
	if (reorder_every && !held && k % reorder_every == 0) {
		append(&held, p, n);
		uv_timer_start(&hold_timer, on_hold_timeout, HOLD_MS, 0);
		return;
	}
	while (copies--)
		append(&batch, p, n);
	if (held) {
		/* the swap: the successor went first, the held one follows */
		append(&batch, held->data, held->len);
		block_put(held);
		held = NULL;
		uv_timer_stop(&hold_timer);
	}
}

/* ---- the little MQTT there is ---- */

/* A 4-byte ack: type and flags, then the packet id at id[0..1]. */
static void ack(struct block **replies, uint8_t first, const uint8_t *id)
{
	uint8_t a[4] = { first, 2, id[0], id[1] };

	append(replies, a, sizeof(a));
}

/* SUBSCRIBE: grant QoS 0 to each filter (2-byte length, filter, options). */
static int suback(struct block **replies, const uint8_t *v, size_t vlen)
{
	uint8_t head[5];
	size_t pos = 2, filters = 0, rem, h = 0;
	static const uint8_t granted[1];

	if (vlen < 2)
		return -1;
	while (pos + 2 <= vlen) {
		pos += 2 + ((size_t)v[pos] << 8 | v[pos + 1]) + 1;
		filters++;
	}
	if (pos != vlen || !filters)
		return -1;
	rem = 2 + filters;
	head[h++] = 0x90;
	do {
		head[h++] = (uint8_t)((rem & 0x7f) | (rem > 0x7f ? 0x80 : 0));
		rem >>= 7;
	} while (rem);
	head[h++] = v[0];
	head[h++] = v[1];
	append(replies, head, h);
	while (filters--)
		append(replies, granted, 1);
	return 0;
}

static int publish(const uint8_t *p, size_t n, size_t hdr, struct block **replies)
{
	const uint8_t *v = p + hdr;
	size_t vlen = n - hdr, tlen;
	uint8_t qos = (uint8_t)(p[0] >> 1 & 3);

	if (vlen < 2 || qos == 3)
		return -1;
	tlen = (size_t)v[0] << 8 | v[1];
	if (vlen < 2 + tlen + (qos ? 2 : 0))
		return -1;
	if (qos)
		ack(replies, qos == 1 ? 0x40 : 0x50, v + 2 + tlen);
	forward(p, n);
	return 0;
}

/* One complete packet of n bytes, hdr of them the fixed header. Returns -1
 * when the connection must close (DISCONNECT, or anything unexpected). */
static int handle(struct conn *c, const uint8_t *p, size_t n, size_t hdr, struct block **replies)
{
	static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
	static const uint8_t pingresp[] = { 0xd0, 0x00 };
	uint8_t type = p[0] >> 4;

	if (!c->connected) {
		if (type != T_CONNECT)
			return -1;
		c->connected = true;
		append(replies, connack, sizeof(connack));
		return 0;
	}
	switch (type) {
	case T_PUBLISH:
		return publish(p, n, hdr, replies);
	case T_SUBSCRIBE:
		c->subscriber = true;
		return suback(replies, p + hdr, n - hdr);
	case T_UNSUBSCRIBE: /* still a subscriber: there are no topics */
	case T_PUBREL:
		if (n - hdr < 2)
			return -1;
		ack(replies, type == T_PUBREL ? 0x70 : 0xb0, p + hdr);
		return 0;
	case T_PINGREQ:
		append(replies, pingresp, sizeof(pingresp));
		return 0;
	case T_CONNECT:
	case T_DISCONNECT:
		return -1;
	default: /* PUBACK, PUBREC, PUBCOMP from subscribers: swallowed */
		return 0;
	}
}

/* Length of the packet at p[0..len) if complete, 0 if not yet, -1 if the
 * remaining length is malformed. *hdr gets the fixed header's size. */
static long frame(const uint8_t *p, size_t len, size_t *hdr)
{
	size_t rem = 0;

	for (size_t i = 1; i <= 4; i++) {
		if (i >= len)
			return 0;
		rem |= (size_t)(p[i] & 0x7f) << (7 * (i - 1));
		if (!(p[i] & 0x80)) {
			*hdr = i + 1;
			return len - *hdr >= rem ? (long)(*hdr + rem) : 0;
		}
	}
	return -1;
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init((char *)readbuf, READ_SIZE);
}

/* Keeps the incomplete tail data[0..rest) for the next read. */
static void keep(struct conn *c, const uint8_t *data, size_t rest)
{
	c->plen = rest;
	if (!rest)
		return;
	if (rest > c->pcap) {
		c->pcap = rest * 2;
		c->pend = xrealloc(c->pend, c->pcap);
	}
	if (data != c->pend) /* a partial packet alone in pend stays put */
		memmove(c->pend, data, rest);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct block *replies = NULL;
	const uint8_t *data = (const uint8_t *)buf->base;
	size_t len = (size_t)nread, pos = 0, hdr = 0;
	bool ok = true;

	if (nread == 0)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->plen) {
		if (c->plen + len > c->pcap) {
			c->pcap = (c->plen + len) * 2;
			c->pend = xrealloc(c->pend, c->pcap);
		}
		memcpy(c->pend + c->plen, data, len);
		data = c->pend;
		len += c->plen;
	}
	while (pos < len) {
		long n = frame(data + pos, len - pos, &hdr);

		if (n == 0)
			break;
		if (n < 0 || handle(c, data + pos, (size_t)n, hdr, &replies) < 0) {
			ok = false;
			break;
		}
		pos += (size_t)n;
	}
	if (ok)
		keep(c, data + pos, len - pos);
	if (batch) {
		broadcast(batch);
		batch = NULL;
	}
	if (replies) {
		if (ok)
			send_block(c, replies);
		block_put(replies);
	}
	if (!ok)
		conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn *c;

	if (status < 0)
		return;
	c = xrealloc(NULL, sizeof(*c));
	memset(c, 0, sizeof(*c));
	uv_tcp_init(&loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		return;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* ---- process ---- */

static void shutdown_all(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	while (conns)
		conn_close(conns);
	if (held) {
		block_put(held);
		held = NULL;
	}
	uv_close((uv_handle_t *)&listener, NULL);
	uv_close((uv_handle_t *)&hold_timer, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	shutdown_all();
}

static int number(const char *flag, const char *v, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(v ? v : "", &end, 10);
	if (!v || errno || *end || end == v || *v == '-' || *out > max) {
		fprintf(stderr, "forwarder: %s needs a number from 0 to %lu\n", flag, max);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, unsigned long *port)
{
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc;

		if (strcmp(f, "-p") == 0 || strcmp(f, "--port") == 0)
			rc = number(f, v, 65535, port);
		else if (strcmp(f, "--drop") == 0)
			rc = number(f, v, UINT32_MAX, &drop_every);
		else if (strcmp(f, "--dup") == 0)
			rc = number(f, v, UINT32_MAX, &dup_every);
		else if (strcmp(f, "--reorder") == 0)
			rc = number(f, v, UINT32_MAX, &reorder_every);
		else
			rc = -1;
		if (rc)
			return -1;
		i++;
	}
	return *port <= 65535 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int namelen = sizeof(bound), rc;
	unsigned long port = ULONG_MAX;

	if (parse_args(argc, argv, &port)) {
		fputs("usage: forwarder -p PORT [--drop N] [--dup N] [--reorder N]\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a subscriber gone mid-write is an error code */
	uv_loop_init(&loop);
	uv_tcp_init(&loop, &listener);
	uv_timer_init(&loop, &hold_timer);
	uv_signal_init(&loop, &sigterm);
	uv_signal_init(&loop, &sigint);
	uv_ip4_addr("127.0.0.1", (int)port, &addr);
	rc = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&listener, BACKLOG, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &namelen);
	if (rc) {
		fprintf(stderr, "forwarder: cannot listen on 127.0.0.1:%lu: %s\n", port,
			uv_strerror(rc));
		shutdown_all();
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	fprintf(stderr, "forwarder listening on 127.0.0.1:%u\n",
		ntohs(((struct sockaddr_in *)&bound)->sin_port));
	uv_run(&loop, UV_RUN_DEFAULT);
	free(batch);
	uv_loop_close(&loop);
	return 0;
}
