/*
 * test_net.c - the connection layer (src/net/) on its own: a small line
 * protocol defined here, on real loopback TCP (127.0.0.1) with a private
 * uv_loop_t. The clients are plain non-blocking POSIX sockets in this
 * thread; the loop is driven one turn at a time (UV_RUN_NOWAIT) until a
 * condition holds, every wait bounded in wall time (WAIT_MS) and failing
 * when it runs out. The only fixed-length runs (run_for) are observation
 * windows for "this does not happen".
 *
 * The line protocol ("fake"): input takes complete '\n'-terminated lines
 * only; each line is recorded, and echoed when the service says so. Some
 * lines are commands: PAUSE, CLOSE NOW|AFTER|LINGER, BIG <n> (n bytes of a
 * known pattern), UPGRADE. Everything the layer does to it is counted, and
 * what breaks the contract (input after a close was requested, output asked
 * while a write is in flight, input not starting with the tail left last
 * time...) is recorded as a violation, asserted in the test's body: no
 * assertion runs inside a libuv callback.
 *
 * The last tests pin defects found while writing these (deadlines a tick
 * early, a paused connection outliving net_stop, the net's handles left
 * open, an answer lost at a half-close, a linger bound of 0): each fails
 * on the code as it was.
 *
 * The stacked transports (section 13): WS upgrades to the WebSocket
 * framing (net_conn_upgrade_ws), on a plain listener and on one with TLS
 * (certificates made by certgen in a temporary directory); the peer then
 * speaks masked frames, through the TLS engine's client side (tls.h) when
 * the listener has TLS.
 */
#include "helpers.h"

#include "net/net.h"
#include "net/ws.h"
#include "tls/certgen.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#define WAIT_MS 5000         /* any one wait gives up (and fails) after this */
#define MAX_STEPS 5000000L   /* and after this many loop turns */
#define POLL_MS 2            /* at most this long idle between two turns */
#define MAX_PEERS 8
#define MAX_OPENED 16
#define BIG_SEG (64 * 1024)  /* BIG's output segments */
#define BIG_STALL ((size_t)8 << 20) /* more than a loopback socket pair holds */
#define SMALL_RCVBUF 4096    /* a peer's receive buffer when it must stall us */

/* ---- small records ---- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	if (!len)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_set(struct bytes *b, const void *data, size_t len)
{
	b->len = 0;
	bytes_add(b, data, len);
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool bytes_is(const struct bytes *b, const char *s)
{
	size_t n = strlen(s);

	return b->len == n && (n == 0 || memcmp(b->p, s, n) == 0);
}

/* What BIG writes: byte i of a stream, never periodic at a small stride, so
 * a lost, repeated or reordered segment shows. */
static uint8_t pattern(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	return (uint8_t)((x >> 24) ^ (i >> 16));
}

static bool is_pattern(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i] != pattern(i))
			return false;
	return true;
}

/* ---- the fake protocol ---- */

struct fixture;
struct fconn;

enum refuse_mode { REFUSE_NOTHING, REFUSE_ANSWER };
enum stop_mode { STOP_BYE, STOP_NOTHING };
enum eof_mode { EOF_CLOSE, EOF_BYE };
enum deadline_mode { DL_COUNT, DL_REARM, DL_BIG_AFTER };

/* A service's context: how its protocol behaves and what happened to it. */
struct fake {
	struct fixture *fx;
	struct net_service svc;
	struct net_listener *listener;
	uint16_t port;
	/* behaviour */
	bool echo;
	enum refuse_mode refuse_mode;
	enum stop_mode stop_mode;
	enum eof_mode eof_mode;
	enum deadline_mode deadline_mode;
	uint64_t rearm_ms;          /* DL_REARM: the next deadline, once */
	struct fake *upgrade_to;    /* UPGRADE hands the connection there */
	int hook_writes;            /* the turn hook queues "tick\n" so often */
	/* what happened */
	int opens, refuses, inputs, outputs, outputs_null, drained, eofs, deadlines, stops;
	int closes, close_null, upgrades, double_out;
	int last_eof_status;
	int violations;
	char violation[200];        /* the first one */
	uint64_t handed, released, handed_bytes;
	uint32_t last_out_n;
	struct fconn *conns;        /* states alive (set and not yet closed) */
	void *opened[MAX_OPENED];   /* states, in the order of open */
	int nopened;
	struct net_conn *last_conn;
	struct fconn *last_state;
	const void *last_closed;    /* the state close saw last (compared only) */
	struct bytes closed_got;    /* the lines of the connection closed last */
	struct bytes upgraded_got;  /* the lines before the last upgrade */
	uint64_t close_at, deadline_set_at, upgrade_turn, hook_turn;
	uint64_t deadline_at[16];
	int ndeadline_at;
};

struct seg {
	uint8_t *data;
	size_t len;
};

/* One output handed to the layer. */
struct fout {
	struct net_out out;         /* first */
	struct fake *f;
	struct fconn *owner;        /* NULL once the connection's state is freed */
	struct seg *segs;
	uint32_t nsegs;
	uv_buf_t *iov;
};

/* The per-connection state. */
struct fconn {
	struct fake *f;
	struct net_conn *c;
	struct fconn *next, **pprev;
	struct bytes got;           /* every line taken, with its '\n' */
	struct bytes last_in;       /* what the last input call was offered */
	struct bytes tail;          /* what it left of it */
	uint32_t lines, ninputs;
	struct seg *segs;           /* output queued */
	uint32_t nsegs, segs_cap;
	struct fout *flight;        /* handed out, not yet released */
	bool out_turn_set, had_input;
	uint64_t out_turn, first_input_turn;
	uint64_t handed_at_input;   /* the service's outputs handed by the last input */
};

struct peer {
	int fd;
	bool reading;               /* read what comes at every turn */
	struct bytes in;            /* over TLS: the plaintext */
	bool eof;
	int err;
	struct tls_conn *tls;       /* NULL: plain TCP */
	bool sending;               /* peer_send copies the ciphertext out: no flush */
};

struct fixture {
	uv_loop_t loop;
	struct net *net;
	bool loop_closed;
	uint64_t turns;             /* net_on_turn calls */
	struct bytes order;         /* marks left by the turn hooks */
	struct bytes scratch[2];    /* a test's buffers, freed by teardown */
	struct fake a, b, c, u;
	struct peer peers[MAX_PEERS];
	int npeers;
	/* section 13: certgen's files, and the two ends' TLS configs */
	char certdir[64];
	struct tls_config *tls_server, *tls_client;
};

static void note(struct fake *f, const char *what)
{
	if (!f->violations++)
		snprintf(f->violation, sizeof(f->violation), "%s", what);
}

static struct fconn *fconn_new(struct fake *f, struct net_conn *c)
{
	struct fconn *fc = calloc(1, sizeof(*fc));

	if (!fc)
		abort();
	fc->f = f;
	fc->c = c;
	fc->next = f->conns;
	if (f->conns)
		f->conns->pprev = &fc->next;
	fc->pprev = &f->conns;
	f->conns = fc;
	f->last_state = fc;
	f->last_conn = c;
	return fc;
}

static void fconn_free(struct fconn *fc)
{
	*fc->pprev = fc->next;
	if (fc->next)
		fc->next->pprev = fc->pprev;
	if (fc->flight)
		fc->flight->owner = NULL;
	for (uint32_t i = 0; i < fc->nsegs; i++)
		free(fc->segs[i].data);
	free(fc->segs);
	bytes_free(&fc->got);
	bytes_free(&fc->last_in);
	bytes_free(&fc->tail);
	free(fc);
}

static uint8_t *queue_seg(struct fconn *fc, size_t len)
{
	uint8_t *d = malloc(len);

	if (!d)
		abort();
	if (fc->nsegs == fc->segs_cap) {
		fc->segs_cap = fc->segs_cap ? fc->segs_cap * 2 : 8;
		fc->segs = realloc(fc->segs, fc->segs_cap * sizeof(*fc->segs));
		if (!fc->segs)
			abort();
	}
	fc->segs[fc->nsegs++] = (struct seg){ d, len };
	return d;
}

static void queue(struct fconn *fc, const void *data, size_t len)
{
	memcpy(queue_seg(fc, len), data, len);
}

static void queue_big(struct fconn *fc, size_t n)
{
	for (size_t off = 0; off < n; off += BIG_SEG) {
		size_t k = n - off < BIG_SEG ? n - off : BIG_SEG;
		uint8_t *d = queue_seg(fc, k);

		for (size_t i = 0; i < k; i++)
			d[i] = pattern(off + i);
	}
}

static bool line_is(const uint8_t *line, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(line, word, len) == 0;
}

/* "WORD <number>" */
static bool line_arg(const uint8_t *line, size_t len, const char *word, unsigned long *arg)
{
	size_t wl = strlen(word);
	char num[24], *end;

	if (len <= wl + 1 || len - wl - 1 >= sizeof(num) || memcmp(line, word, wl) != 0 ||
	    line[wl] != ' ')
		return false;
	memcpy(num, line + wl + 1, len - wl - 1);
	num[len - wl - 1] = '\0';
	errno = 0;
	*arg = strtoul(num, &end, 10);
	return errno == 0 && end != num && *end == '\0';
}

#define WS_TEST_MAX (1u << 20) /* the upgrade's frame and message limit */

/* UPGRADE: the same transport; WS (ws): the WebSocket framing, with "ws\n"
 * as the upgrade's raw answer. */
static void upgrade(struct fconn *fc, bool ws)
{
	struct fake *f = fc->f, *to = f->upgrade_to;
	struct net_conn *c = fc->c;
	struct fconn *nfc;
	uv_buf_t answer = uv_buf_init((char *)"ws\n", 3);

	f->upgrades++;
	f->upgrade_turn = f->fx->turns;
	bytes_set(&f->upgraded_got, fc->got.p, fc->got.len);
	nfc = fconn_new(to, c);
	if (ws)
		net_conn_upgrade_ws(c, &to->svc, nfc, &answer, 1, WS_TEST_MAX);
	else
		net_conn_upgrade(c, &to->svc, nfc);
	if (net_conn_state(c) != nfc || net_conn_ctx(c) != to)
		note(f, "upgrade: state or context not switched");
	fconn_free(fc); /* the old protocol's own: its close is not called */
}

enum line_result { L_GO, L_STOP, L_GONE /* fc is freed */ };

static enum line_result take_line(struct fconn *fc, const uint8_t *line, size_t len)
{
	struct fake *f = fc->f;
	struct net_conn *c = fc->c;
	unsigned long arg;

	if (line_is(line, len, "PAUSE")) {
		net_conn_pause(c, true);
		return L_STOP;
	}
	if (line_is(line, len, "CLOSE NOW")) {
		net_conn_close(c, NET_CLOSE_NOW); /* proto->close frees fc now */
		return L_GONE;
	}
	if (line_is(line, len, "CLOSE AFTER")) {
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
		return L_STOP;
	}
	if (line_is(line, len, "CLOSE LINGER")) {
		net_conn_close(c, NET_CLOSE_LINGER);
		return L_STOP;
	}
	if (line_is(line, len, "CLOSE LINGER EOF")) {
		/* the transport reads the peer's EOF in this same turn, before
		 * the output is written (a read that filled the buffer, then
		 * another) */
		int closes = f->closes;

		net_conn_close(c, NET_CLOSE_LINGER);
		net__eof(c, 0);
		return f->closes != closes ? L_GONE : L_STOP; /* closed: fc is freed */
	}
	if ((line_is(line, len, "UPGRADE") || line_is(line, len, "WS")) && f->upgrade_to) {
		upgrade(fc, line_is(line, len, "WS"));
		return L_GONE;
	}
	if (line_arg(line, len, "BIG", &arg)) {
		queue_big(fc, arg);
		net_conn_want_write(c);
		return L_GO;
	}
	if (f->echo) {
		queue(fc, line, len + 1); /* with its '\n' */
		net_conn_want_write(c);
	}
	return L_GO;
}

static bool fake_open(struct net_conn *c, const struct net_listener *l)
{
	struct fake *f = net_conn_ctx(c);
	struct fconn *fc;

	f->opens++;
	if (l != f->listener)
		note(f, "open: not through this service's listener");
	if (net_conn_state(c))
		note(f, "open: a state is already set");
	fc = fconn_new(f, c);
	net_conn_set_state(c, fc);
	if (f->nopened < MAX_OPENED)
		f->opened[f->nopened++] = fc;
	return true;
}

static void fake_refuse(struct net_conn *c, const struct net_listener *l)
{
	struct fake *f = net_conn_ctx(c);
	struct fconn *fc;

	f->refuses++;
	if (l != f->listener)
		note(f, "refuse: not through this service's listener");
	if (f->refuse_mode != REFUSE_ANSWER)
		return;
	fc = fconn_new(f, c);
	net_conn_set_state(c, fc);
	queue(fc, "busy\n", 5);
	net_conn_want_write(c);
	net_conn_close(c, NET_CLOSE_LINGER);
}

static size_t fake_input(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);
	size_t off = 0;

	f->inputs++;
	if (!fc || fc->f != f) {
		note(f, "input: the state is not this protocol's (after its close?)");
		return len;
	}
	if (net_conn_closing(c))
		note(f, "input after a close was requested");
	if (net_conn_paused(c))
		note(f, "input while paused");
	if (!len)
		note(f, "input of no bytes");
	if (len < fc->tail.len || (fc->tail.len && memcmp(data, fc->tail.p, fc->tail.len) != 0))
		note(f, "input does not start with the tail left last time");
	fc->ninputs++;
	if (!fc->had_input) {
		fc->had_input = true;
		fc->first_input_turn = f->fx->turns;
	}
	bytes_set(&fc->last_in, data, len);
	fc->handed_at_input = f->handed;
	while (off < len) {
		const uint8_t *nl = memchr(data + off, '\n', len - off);
		enum line_result r;
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - (data + off));
		bytes_add(&fc->got, data + off, n + 1);
		fc->lines++;
		r = take_line(fc, data + off, n);
		off += n + 1;
		if (r == L_GONE)
			return off;
		if (r == L_STOP)
			break;
	}
	bytes_set(&fc->tail, data + off, len - off);
	return off;
}

static void fake_release(struct net_out *out)
{
	struct fout *o = (struct fout *)out;

	o->f->released++;
	if (o->owner)
		o->owner->flight = NULL;
	for (uint32_t i = 0; i < o->nsegs; i++)
		free(o->segs[i].data);
	free(o->segs);
	free(o->iov);
	free(o);
}

/* Everything queued, in one output. */
static struct net_out *fake_output(struct net_conn *c)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);
	struct fout *o;
	size_t total = 0;

	f->outputs++;
	if (!fc) {
		note(f, "output asked without a state (after close?)");
		return NULL;
	}
	if (fc->flight)
		note(f, "output asked while a write is in flight");
	if (fc->out_turn_set && fc->out_turn == f->fx->turns)
		f->double_out++;
	fc->out_turn_set = true;
	fc->out_turn = f->fx->turns;
	if (!fc->nsegs) {
		f->outputs_null++;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o || !(o->iov = calloc(fc->nsegs, sizeof(*o->iov))))
		abort();
	o->f = f;
	o->owner = fc;
	o->segs = fc->segs;
	o->nsegs = fc->nsegs;
	fc->segs = NULL;
	fc->nsegs = fc->segs_cap = 0;
	for (uint32_t i = 0; i < o->nsegs; i++) {
		o->iov[i] = uv_buf_init((char *)o->segs[i].data, (unsigned)o->segs[i].len);
		total += o->segs[i].len;
	}
	o->out = (struct net_out){
		.iov = o->iov, .n = o->nsegs, .total = total, .release = fake_release
	};
	fc->flight = o;
	f->handed++;
	f->handed_bytes += total;
	f->last_out_n = o->nsegs;
	return &o->out;
}

static void fake_drained(struct net_conn *c)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);

	f->drained++;
	if (!fc)
		note(f, "drained without a state");
	else if (fc->flight)
		note(f, "drained while the output is still in flight");
}

static void fake_eof(struct net_conn *c, int status)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);

	f->eofs++;
	f->last_eof_status = status;
	if (f->eof_mode == EOF_BYE && status == 0 && fc) {
		/* the peer is done sending: answer, then close (net.h: "the
		 * protocol closes the connection or keeps writing") */
		queue(fc, "bye\n", 4);
		net_conn_want_write(c);
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
		return;
	}
	net_conn_close(c, NET_CLOSE_NOW);
}

static void fake_deadline(struct net_conn *c)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);
	uint64_t now = net_now(net_conn_net(c));

	f->deadlines++;
	if (f->ndeadline_at < 16)
		f->deadline_at[f->ndeadline_at++] = now;
	if (!fc) {
		note(f, "deadline without a state");
		return;
	}
	if (f->deadline_mode == DL_REARM && f->rearm_ms) {
		net_conn_deadline(c, f->rearm_ms);
		f->deadline_set_at = now;
		f->rearm_ms = 0;
	} else if (f->deadline_mode == DL_BIG_AFTER) {
		queue_big(fc, BIG_STALL);
		net_conn_want_write(c);
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
		f->deadline_set_at = now;
	}
}

static void fake_stop(struct net_conn *c)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);

	f->stops++;
	if (f->stop_mode == STOP_BYE && fc) {
		queue(fc, "bye\n", 4);
		net_conn_want_write(c);
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
	}
}

static void fake_close(struct net_conn *c)
{
	struct fconn *fc = net_conn_state(c);
	struct fake *f = net_conn_ctx(c);

	f->closes++;
	f->last_closed = fc;
	f->close_at = net_now(net_conn_net(c));
	if (!fc) {
		f->close_null++;
		return;
	}
	if (fc->f != f)
		note(f, "close: the state is not this protocol's");
	bytes_set(&f->closed_got, fc->got.p, fc->got.len);
	fconn_free(fc);
	net_conn_set_state(c, NULL);
}

static const struct net_proto fake_proto = {
	.name = "fake",
	.open = fake_open,
	.refuse = fake_refuse,
	.input = fake_input,
	.output = fake_output,
	.drained = fake_drained,
	.eof = fake_eof,
	.deadline = fake_deadline,
	.stop = fake_stop,
	.close = fake_close,
};

/* The same without stop: net_stop closes its connections at once. */
static const struct net_proto fake_proto_nostop = {
	.name = "fake-nostop",
	.open = fake_open,
	.refuse = fake_refuse,
	.input = fake_input,
	.output = fake_output,
	.drained = fake_drained,
	.eof = fake_eof,
	.deadline = fake_deadline,
	.close = fake_close,
};

#define assert_no_violation(f)                                                        \
	do {                                                                          \
		if ((f)->violations)                                                  \
			fail_msg("%d contract violation(s), the first: %s", (f)->violations, \
				 (f)->violation);                                     \
	} while (0)

/* ---- peers: plain sockets ---- */

/* A connected, non-blocking socket to 127.0.0.1:port, or -errno. */
static int connect_to(uint16_t port, int rcvbuf)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static struct peer *peer_connect(struct fixture *fx, uint16_t port, int rcvbuf)
{
	int fd = connect_to(port, rcvbuf);
	struct peer *p;

	if (fd < 0)
		fail_msg("connect to 127.0.0.1:%u: %s", port, strerror(-fd));
	assert_true(fx->npeers < MAX_PEERS);
	p = &fx->peers[fx->npeers++];
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->reading = true;
	return p;
}

/* Over TLS: the engine's ciphertext, sent as far as the socket takes it
 * (the rest at the next read or send). */
static void peer_flush(struct peer *p)
{
	const uint8_t *d;
	size_t n;
	ssize_t k;

	while (p->tls && !p->sending && p->fd >= 0 && (n = tls_conn_pending(p->tls, &d))) {
		k = send(p->fd, d, n, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		tls_conn_consume(p->tls, (size_t)k);
	}
}

/* Bytes from the socket: as they are, or through the TLS engine (its
 * handshake answers sent, the plaintext kept). */
static void peer_take(struct peer *p, const uint8_t *data, size_t n)
{
	uint8_t plain[16 * 1024];
	char err[256];
	long got;

	if (!p->tls) {
		bytes_add(&p->in, data, n);
		return;
	}
	if (tls_conn_feed(p->tls, data, n, err, sizeof(err))) {
		p->err = EPROTO;
		return;
	}
	while ((got = tls_conn_read(p->tls, plain, sizeof(plain), err, sizeof(err))) > 0)
		bytes_add(&p->in, plain, (size_t)got);
	if (got == TLS_ECLOSED)
		p->eof = true;
	else if (got < 0)
		p->err = EPROTO;
	peer_flush(p);
}

static void peer_read(struct peer *p)
{
	uint8_t buf[64 * 1024];

	while (p->fd >= 0 && !p->eof && !p->err) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			peer_take(p, buf, (size_t)n);
		} else if (n == 0) {
			p->eof = true;
		} else if (errno != EINTR) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				p->err = errno;
			break;
		}
	}
}

/* One recv after the peer saw EOF: 0 (EOF again), or -errno (a reset). */
static int peer_probe(struct peer *p)
{
	uint8_t b;
	ssize_t n = recv(p->fd, &b, 1, 0);

	return n < 0 ? -errno : (int)n;
}

static bool peer_closed(const struct peer *p)
{
	return p->eof || p->err;
}

static void peer_shut(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	tls_conn_free(p->tls);
	p->tls = NULL;
}

/* ---- driving the loop ---- */

/* One loop turn, then what the reading peers got. */
static void turn(struct fixture *fx)
{
	if (!fx->loop_closed)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	for (int i = 0; i < fx->npeers; i++)
		if (fx->peers[i].reading)
			peer_read(&fx->peers[i]);
}

/* Waits (at most POLL_MS) for the loop or a reading peer to have
 * something, then one turn. */
static void wait_step(struct fixture *fx)
{
	struct pollfd pf[1 + MAX_PEERS];
	nfds_t n = 0;
	int t = POLL_MS;

	if (!fx->loop_closed) {
		t = uv_backend_timeout(&fx->loop);
		if (t < 0 || t > POLL_MS)
			t = POLL_MS;
		pf[n++] = (struct pollfd){ .fd = uv_backend_fd(&fx->loop), .events = POLLIN };
	}
	for (int i = 0; i < fx->npeers; i++) {
		struct peer *p = &fx->peers[i];

		if (p->reading && p->fd >= 0 && !peer_closed(p))
			pf[n++] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
	}
	poll(pf, n, t);
	turn(fx);
}

/* Turns until cond holds; fails after WAIT_MS. */
#define WAIT_FOR(fx, cond)                                                            \
	do {                                                                          \
		uint64_t wf_end_ = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;        \
		long wf_steps_ = 0;                                                   \
		while (!(cond)) {                                                     \
			if (uv_hrtime() > wf_end_ || ++wf_steps_ > MAX_STEPS)         \
				fail_msg("line %d: gave up after %d ms waiting for %s", \
					 __LINE__, WAIT_MS, #cond);                   \
			wait_step(fx);                                                \
		}                                                                     \
	} while (0)

/* Turns until cond holds or ms passed; ok says which. */
#define WAIT_WITHIN(fx, ms, ok, cond)                                                 \
	do {                                                                          \
		uint64_t ww_end_ = uv_hrtime() + (uint64_t)(ms) * 1000000u;           \
		(ok) = true;                                                          \
		while (!(cond)) {                                                     \
			if (uv_hrtime() > ww_end_) {                                  \
				(ok) = false;                                         \
				break;                                                \
			}                                                             \
			wait_step(fx);                                                \
		}                                                                     \
	} while (0)

/* An observation window: turns for ms of wall time (for "does not happen"). */
static void run_for(struct fixture *fx, unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;

	while (uv_hrtime() < end)
		wait_step(fx);
}

static void run_turns(struct fixture *fx, int n)
{
	for (int i = 0; i < n; i++)
		turn(fx);
}

static void raw_send(struct fixture *fx, struct peer *p, const void *data, size_t len)
{
	const uint8_t *d = data;
	uint64_t end = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(p->fd, d + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (uv_hrtime() > end)
				fail_msg("send: the server took nothing for %d ms", WAIT_MS);
			wait_step(fx);
		} else if (n < 0 && errno != EINTR) {
			fail_msg("send: %s", strerror(errno));
		}
	}
}

/* data as it is, or encrypted: the engine's ciphertext copied out (the
 * turns run meanwhile must not send it too). */
static void peer_send(struct fixture *fx, struct peer *p, const void *data, size_t len)
{
	struct bytes out = { 0 };
	const uint8_t *d;
	char err[256];
	size_t n;

	if (!p->tls) {
		raw_send(fx, p, data, len);
		return;
	}
	if (tls_conn_write(p->tls, data, len, err, sizeof(err)))
		fail_msg("tls_conn_write: %s", err);
	n = tls_conn_pending(p->tls, &d);
	bytes_add(&out, d, n);
	tls_conn_consume(p->tls, n);
	p->sending = true;
	raw_send(fx, p, out.p, out.len);
	p->sending = false;
	bytes_free(&out);
}

static void peer_says(struct fixture *fx, struct peer *p, const char *s)
{
	peer_send(fx, p, s, strlen(s));
}

/* ---- the fixture ---- */

static void count_turn(void *ctx)
{
	struct fixture *fx = ctx;

	fx->turns++;
}

static void fake_init(struct fake *f, struct fixture *fx, const struct net_proto *proto)
{
	memset(f, 0, sizeof(*f));
	f->fx = fx;
	f->svc.proto = proto;
	f->svc.ctx = f;
	f->svc.linger_time_ms = 3000;
	f->svc.linger_timeout_ms = 2000;
	f->svc.linger_bytes = 1 << 20;
}

static uint16_t port_of(const char *name)
{
	const char *colon = strrchr(name, ':');
	char *end;
	unsigned long v;

	if (!colon)
		return 0;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	return errno || end == colon + 1 || *end || v > 65535 ? 0 : (uint16_t)v;
}

static void fake_listen_with(struct fixture *fx, struct fake *f, struct tls_config *tls)
{
	struct net_listener_config lc = { .host = "127.0.0.1", .port = 0, .anonymous = -1,
					  .tls = tls };

	f->listener = net_listen(fx->net, &lc, &f->svc, "test");
	assert_non_null(f->listener);
	f->port = port_of(f->listener->name);
	assert_int_not_equal(f->port, 0);
}

static void fake_listen(struct fixture *fx, struct fake *f)
{
	fake_listen_with(fx, f, NULL);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || uv_loop_init(&fx->loop) != 0)
		return -1;
	fx->net = net_new(&fx->loop);
	net_on_turn(fx->net, count_turn, fx);
	fake_init(&fx->a, fx, &fake_proto);
	fake_init(&fx->b, fx, &fake_proto);
	fake_init(&fx->c, fx, &fake_proto_nostop);
	fake_init(&fx->u, fx, &fake_proto);
	net_start(fx->net);
	fake_listen(fx, &fx->a);
	*state = fx;
	return 0;
}

static void close_left(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void drain(struct fixture *fx)
{
	uint64_t end = uv_hrtime() + 2000000000u;

	while (uv_loop_alive(&fx->loop) && uv_hrtime() < end)
		wait_step(fx);
}

static const char *const cert_files[] = { "ca.crt", "ca.key", "server.crt", "server.key" };

/* certgen's files and their directory; -1 when one is missing or
 * something else is left. */
static int remove_certs(const char *dir)
{
	char path[128];
	int bad = 0;

	for (size_t i = 0; i < sizeof(cert_files) / sizeof(cert_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cert_files[i]);
		bad |= unlink(path) != 0;
	}
	bad |= rmdir(dir) != 0;
	if (bad)
		fprintf(stderr, "teardown: certificates left in %s\n", dir);
	return bad ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct fake *all[] = { &fx->a, &fx->b, &fx->c, &fx->u };
	int rc = 0;

	if (!fx->loop_closed && fx->net) {
		/* What a failed test left open goes through the one close path. */
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			for (int k = 0; k < 64 && all[i]->conns; k++) /* close unlinks it */
				net_conn_close(all[i]->conns->c, NET_CLOSE_NOW);
		net_stop(fx->net, 0);
		drain(fx);
		/* the net's own handles when its grace never ran (see
		 * test_stop_without_connections) */
		uv_walk(&fx->loop, close_left, NULL);
		drain(fx);
		if (uv_loop_close(&fx->loop) != 0) {
			fprintf(stderr, "teardown: the loop still holds handles\n");
			rc = -1;
		}
	}
	net_free(fx->net);
	for (int i = 0; i < fx->npeers; i++) {
		peer_shut(&fx->peers[i]);
		bytes_free(&fx->peers[i].in);
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		bytes_free(&all[i]->closed_got);
		bytes_free(&all[i]->upgraded_got);
	}
	bytes_free(&fx->order);
	bytes_free(&fx->scratch[0]);
	bytes_free(&fx->scratch[1]);
	tls_config_unref(fx->tls_server);
	tls_config_unref(fx->tls_client);
	if (fx->certdir[0])
		rc |= remove_certs(fx->certdir);
	free(fx);
	return rc;
}

/* ---- 1. listening ---- */

static void test_listen(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct net_listener_config lc = { .host = "127.0.0.1", .port = 0, .anonymous = 1 };
	struct sockaddr_in local;
	socklen_t llen = sizeof(local);
	char expect[80], got[80];
	struct net_listener *l2;
	struct peer *p;

	/* the name carries the real port */
	snprintf(expect, sizeof(expect), "127.0.0.1:%u", a->port);
	assert_string_equal(a->listener->name, expect);
	assert_ptr_equal(a->listener->svc, &a->svc);
	assert_ptr_equal(a->listener->net, fx->net);
	assert_true(a->listener->loopback);
	assert_int_equal(a->listener->anonymous, -1);

	/* it is the port clients reach: one connects and is opened through it */
	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	assert_ptr_equal(a->last_state, a->opened[0]);
	assert_int_equal(getsockname(p->fd, (struct sockaddr *)&local, &llen), 0);
	snprintf(expect, sizeof(expect), "127.0.0.1:%u", ntohs(local.sin_port));
	net_conn_peer(a->last_conn, got, sizeof(got), true);
	assert_string_equal(got, expect);
	net_conn_peer(a->last_conn, got, sizeof(got), false);
	assert_string_equal(got, "127.0.0.1");

	/* not a numeric address */
	lc.host = "localhost";
	assert_null(net_listen(fx->net, &lc, &a->svc, "test"));
	lc.host = "127.0.0.256";
	assert_null(net_listen(fx->net, &lc, &a->svc, "test"));
	lc.host = "";
	assert_null(net_listen(fx->net, &lc, &a->svc, "test"));

	/* a port already in use */
	lc.host = "127.0.0.1";
	lc.port = a->port;
	assert_null(net_listen(fx->net, &lc, &a->svc, "test"));

	/* a second one on port 0 gets a port of its own, and its options */
	lc.port = 0;
	l2 = net_listen(fx->net, &lc, &fx->b.svc, "test");
	assert_non_null(l2);
	assert_int_not_equal(port_of(l2->name), 0);
	assert_int_not_equal(port_of(l2->name), a->port);
	assert_int_equal(l2->anonymous, 1);
	assert_ptr_equal(l2->svc, &fx->b.svc);
	assert_no_violation(a);
}

/* ---- 2. open, EOF, close, counters ---- */

static void test_open_close_counters(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p1, *p2;

	assert_int_equal(a->svc.nconns, 0);
	assert_int_equal(a->svc.accepted, 0);
	p1 = peer_connect(fx, a->port, 0);
	p2 = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 2);
	assert_int_equal(a->svc.nconns, 2);
	assert_int_equal(a->svc.accepted, 2);
	assert_int_equal(a->svc.refused, 0);
	assert_int_equal(a->closes, 0);
	assert_int_equal(a->refuses, 0);

	/* the first peer closes: EOF (status 0), the protocol closes, close
	 * sees the state open set (accepted in the order of connect) */
	peer_shut(p1);
	WAIT_FOR(fx, a->closes == 1);
	assert_int_equal(a->eofs, 1);
	assert_int_equal(a->last_eof_status, 0);
	assert_ptr_equal(a->last_closed, a->opened[0]);
	assert_int_equal(a->svc.nconns, 1);

	peer_shut(p2);
	WAIT_FOR(fx, a->closes == 2);
	assert_int_equal(a->eofs, 2);
	assert_int_equal(a->last_eof_status, 0);
	assert_ptr_equal(a->last_closed, a->opened[1]);
	assert_int_equal(a->svc.nconns, 0);
	assert_int_equal(a->svc.accepted, 2);

	/* once each, and nothing after */
	run_for(fx, 50);
	assert_int_equal(a->closes, 2);
	assert_int_equal(a->eofs, 2);
	assert_int_equal(a->opens, 2);
	assert_null(a->conns);
	assert_no_violation(a);
}

/* ---- 3. input framing ---- */

static void test_input_framing(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct fconn *fc;
	struct peer *p;
	struct bytes *expect = &fx->scratch[0], *longline = &fx->scratch[1];
	const char *before = "hello world\nsecond\nthird\nx\ny\nz\n";
	const size_t longlen = 200000;

	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	fc = a->last_state;

	/* a line in three pieces: each input offers the tail left, then the
	 * new bytes, and nothing else */
	peer_says(fx, p, "hel");
	WAIT_FOR(fx, fc->ninputs == 1);
	assert_true(bytes_is(&fc->last_in, "hel"));
	assert_int_equal(fc->lines, 0);
	peer_says(fx, p, "lo wor");
	WAIT_FOR(fx, fc->ninputs == 2);
	assert_true(bytes_is(&fc->last_in, "hello wor"));
	assert_int_equal(fc->lines, 0);
	peer_says(fx, p, "ld\nsecond\nthi");
	WAIT_FOR(fx, fc->ninputs == 3);
	assert_true(bytes_is(&fc->last_in, "hello world\nsecond\nthi"));
	assert_int_equal(fc->lines, 2);
	peer_says(fx, p, "rd\n");
	WAIT_FOR(fx, fc->ninputs == 4);
	assert_true(bytes_is(&fc->last_in, "third\n"));
	assert_int_equal(fc->lines, 3);

	/* several lines in one write: each once, in order */
	peer_says(fx, p, "x\ny\nz\n");
	WAIT_FOR(fx, fc->lines == 6);
	assert_true(bytes_is(&fc->got, before));

	/* a line longer than the read buffer (several reads) arrives whole */
	for (size_t i = 0; i < longlen; i++)
		bytes_add(longline, &"abcdefghijklmnopqrstuvwxyz"[i % 26], 1);
	bytes_add(longline, "\n", 1);
	peer_send(fx, p, longline->p, longline->len);
	WAIT_FOR(fx, fc->lines == 7);
	bytes_add(expect, before, strlen(before));
	bytes_add(expect, longline->p, longline->len);
	assert_int_equal(fc->got.len, expect->len);
	assert_memory_equal(fc->got.p, expect->p, expect->len);
	/* one input per read, a read at most NET_READ_CHUNK bytes */
	assert_true(fc->ninputs >= 5 + (longline->len + NET_READ_CHUNK - 1) / NET_READ_CHUNK);

	/* and nothing of it is kept: the next input is the next line alone */
	peer_says(fx, p, "end\n");
	WAIT_FOR(fx, fc->lines == 8);
	assert_true(bytes_is(&fc->last_in, "end\n"));
	assert_int_equal(fc->tail.len, 0);
	assert_no_violation(a);
}

/* ---- 4. output and its release ---- */

static void test_output_release(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p, *q;
	struct net_conn *qc;
	uint64_t handed;
	int outputs;

	a->echo = true;
	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);

	/* three lines, three want_write calls, one output of three segments */
	peer_says(fx, p, "a\nb\nc\n");
	WAIT_FOR(fx, p->in.len == 6);
	assert_true(bytes_is(&p->in, "a\nb\nc\n"));
	assert_int_equal(a->outputs, 1);
	assert_int_equal(a->handed, 1);
	assert_int_equal(a->last_out_n, 3);
	assert_int_equal(a->released, 1);
	assert_int_equal(a->double_out, 0);
	assert_true(a->drained >= 1);

	/* not asked again without net_conn_want_write */
	run_turns(fx, 20);
	assert_int_equal(a->outputs, 1);

	/* one output per turn with something to say */
	peer_says(fx, p, "d\n");
	WAIT_FOR(fx, p->in.len == 8);
	assert_int_equal(a->handed, 2);
	assert_int_equal(a->released, 2);

	/* queued, then closed at once in the same input: never asked, the
	 * queued bytes freed by the protocol's close, nothing reaches the peer */
	outputs = a->outputs;
	peer_says(fx, p, "e\nCLOSE NOW\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(a->closes, 1);
	assert_int_equal(a->outputs, outputs);
	assert_true(bytes_is(&p->in, "a\nb\nc\nd\n"));
	assert_int_equal(a->double_out, 0);

	/* an output in flight when the connection closes is released too */
	q = peer_connect(fx, a->port, SMALL_RCVBUF);
	q->reading = false;
	WAIT_FOR(fx, a->opens == 2);
	qc = a->last_conn;
	handed = a->handed;
	peer_says(fx, q, "BIG 8388608\n");
	WAIT_FOR(fx, a->handed == handed + 1);
	run_turns(fx, 5);
	assert_true(net_conn_queued(qc) > 0);
	assert_int_equal(a->released, handed); /* the big one is not */
	net_conn_close(qc, NET_CLOSE_NOW);
	assert_int_equal(a->closes, 2);
	WAIT_FOR(fx, a->released == a->handed);
	WAIT_FOR(fx, a->svc.nconns == 0);
	run_turns(fx, 5);
	assert_int_equal(a->released, a->handed); /* once each */
	assert_no_violation(a);
}

/* ---- 5. back-pressure ---- */

static void test_backpressure(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct fconn *fc;
	struct net_conn *c;
	struct peer *p;
	const size_t big = BIG_STALL;

	a->echo = true;
	p = peer_connect(fx, a->port, SMALL_RCVBUF);
	p->reading = false;
	WAIT_FOR(fx, a->opens == 1);
	fc = a->last_state;
	c = a->last_conn;

	peer_says(fx, p, "BIG 8388608\n");
	WAIT_FOR(fx, a->handed == 1);
	assert_int_equal(a->handed_bytes, big);
	assert_int_equal(a->last_out_n, big / BIG_SEG);
	run_turns(fx, 5);
	/* the socket refused most of it: queued, in flight, not drained */
	assert_true(net_conn_queued(c) > 0);
	assert_non_null(fc->flight);
	assert_int_equal(a->drained, 0);
	assert_int_equal(a->released, 0);

	/* more output meanwhile: marked, but not asked for while in flight */
	peer_says(fx, p, "ping\n");
	WAIT_FOR(fx, fc->lines == 2);
	run_for(fx, 50);
	assert_int_equal(a->outputs, 1);
	assert_int_equal(a->handed, 1);
	assert_int_equal(a->drained, 0);

	/* the peer reads: everything arrives in order, then drained */
	p->reading = true;
	WAIT_FOR(fx, p->in.len >= big + 5);
	assert_int_equal(p->in.len, big + 5);
	assert_true(is_pattern(p->in.p, big));
	assert_memory_equal(p->in.p + big, "ping\n", 5);
	WAIT_FOR(fx, a->drained >= 1);
	assert_int_equal(a->handed, 2);
	assert_int_equal(a->released, 2);
	assert_int_equal(net_conn_queued(c), 0);
	assert_null(fc->flight);
	assert_no_violation(a);
}

/* ---- 6. pause and resume ---- */

static void test_pause_resume(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct fconn *fc;
	struct net_conn *c;
	struct peer *p;
	uint32_t ninputs;

	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	fc = a->last_state;
	c = a->last_conn;

	/* paused from inside input: the rest of that read is kept */
	peer_says(fx, p, "a\nPAUSE\nb\n");
	WAIT_FOR(fx, fc->lines == 2);
	assert_true(bytes_is(&fc->got, "a\nPAUSE\n"));
	assert_true(net_conn_paused(c));
	ninputs = fc->ninputs;

	/* bytes sent meanwhile are not delivered */
	peer_says(fx, p, "c\n");
	run_for(fx, 100);
	assert_int_equal(fc->ninputs, ninputs);
	assert_int_equal(fc->lines, 2);

	/* resumed: the kept bytes first, at once, then what waited */
	net_conn_pause(c, false);
	assert_false(net_conn_paused(c));
	assert_int_equal(fc->lines, 3);
	assert_true(bytes_is(&fc->got, "a\nPAUSE\nb\n"));
	WAIT_FOR(fx, fc->lines == 4);
	assert_true(bytes_is(&fc->got, "a\nPAUSE\nb\nc\n"));

	/* reading goes on */
	peer_says(fx, p, "d\n");
	WAIT_FOR(fx, fc->lines == 5);

	/* paused from outside a callback, the same */
	net_conn_pause(c, true);
	ninputs = fc->ninputs;
	peer_says(fx, p, "e\n");
	run_for(fx, 100);
	assert_int_equal(fc->ninputs, ninputs);
	net_conn_pause(c, false);
	WAIT_FOR(fx, fc->lines == 6);
	assert_true(bytes_is(&fc->got, "a\nPAUSE\nb\nc\nd\ne\n"));
	assert_no_violation(a);
}

/* ---- 7. close modes ---- */

static void test_close_modes(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	const size_t mb = 1 << 20;
	struct peer *p;
	uint8_t junk[600];
	uint64_t t;

	a->svc.linger_bytes = 1000;
	a->svc.linger_time_ms = 3000;
	a->svc.linger_timeout_ms = 2000;
	memset(junk, 'j', sizeof(junk));

	/* NOW: closed; what followed in the same read is not input */
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "x\nCLOSE NOW\nafter\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(a->closes, 1);
	assert_true(bytes_is(&a->closed_got, "x\nCLOSE NOW\n"));
	WAIT_FOR(fx, a->svc.nconns == 0);

	/* AFTER_WRITE: the whole megabyte, then EOF (not a reset) */
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "BIG 1048576\nCLOSE AFTER\nignored\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(p->err, 0);
	assert_int_equal(p->in.len, mb);
	assert_true(is_pattern(p->in.p, mb));
	assert_int_equal(a->closes, 2);
	assert_true(bytes_is(&a->closed_got, "BIG 1048576\nCLOSE AFTER\n"));
	WAIT_FOR(fx, a->svc.nconns == 0);

	/* LINGER: the megabyte, then EOF; the protocol is closed then, the
	 * connection still counted while it lingers */
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "BIG 1048576\nCLOSE LINGER\nignored\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(p->err, 0);
	assert_int_equal(p->in.len, mb);
	assert_true(is_pattern(p->in.p, mb));
	assert_int_equal(a->closes, 3);
	assert_true(bytes_is(&a->closed_got, "BIG 1048576\nCLOSE LINGER\n"));
	assert_int_equal(a->svc.nconns, 1);
	/* the peer may still send, within linger_bytes, without a reset */
	peer_send(fx, p, junk, sizeof(junk));
	run_for(fx, 100);
	assert_int_equal(a->svc.nconns, 1);
	assert_int_equal(peer_probe(p), 0);
	/* beyond linger_bytes (600 + 600 > 1000): closed, long before the
	 * linger timeout (2 s) */
	t = net_now(fx->net);
	peer_send(fx, p, junk, sizeof(junk));
	WAIT_FOR(fx, a->svc.nconns == 0);
	assert_true(net_now(fx->net) - t < 1000);
	assert_int_equal(a->closes, 3);

	/* LINGER, the peer idle: closed after linger_timeout (tick rounding:
	 * within a tick either side, see test_deadline_never_early) */
	a->svc.linger_timeout_ms = 200;
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "CLOSE LINGER\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(p->err, 0);
	assert_int_equal(a->closes, 4);
	t = net_now(fx->net);
	assert_int_equal(a->svc.nconns, 1);
	WAIT_FOR(fx, a->svc.nconns == 0);
	assert_true(net_now(fx->net) - t >= 200 - NET_TICK_MS);
	assert_true(net_now(fx->net) - t <= 200 + 2 * NET_TICK_MS + 100);

	/* LINGER, the peer closes: closed at once */
	a->svc.linger_timeout_ms = 2000;
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "CLOSE LINGER\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(a->closes, 5);
	t = net_now(fx->net);
	peer_shut(p);
	WAIT_FOR(fx, a->svc.nconns == 0);
	assert_true(net_now(fx->net) - t < 1000);

	/* close came once per connection, and no input after a close */
	run_for(fx, 50);
	assert_int_equal(a->closes, 5);
	assert_int_equal(a->opens, 5);
	assert_int_equal(a->released, a->handed);
	assert_no_violation(a);
}

/* ---- 8. deadlines ---- */

static void test_deadline(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct net_conn *c;
	uint64_t gap;

	peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	c = a->last_conn;

	/* the first fires at the next tick; from its callback (at a tick) a
	 * 250 ms one: not before 250 ms, within a tick and some slack after */
	a->deadline_mode = DL_REARM;
	a->rearm_ms = 250;
	net_conn_deadline(c, 1);
	WAIT_FOR(fx, a->deadlines == 2);
	gap = a->deadline_at[1] - a->deadline_set_at;
	assert_int_equal(a->deadline_set_at, a->deadline_at[0]);
	assert_true(gap >= 250);
	assert_true(gap <= 250 + NET_TICK_MS + 150);

	/* one-shot: nothing more */
	run_for(fx, 300);
	assert_int_equal(a->deadlines, 2);

	/* 0 clears it */
	a->deadline_mode = DL_COUNT;
	net_conn_deadline(c, 100);
	net_conn_deadline(c, 0);
	run_for(fx, 400);
	assert_int_equal(a->deadlines, 2);
	assert_int_equal(a->closes, 0);
	assert_no_violation(a);
}

/*
 * A deadline never fires early: it used to be "now in whole ticks, rounded
 * down" + ceil(ms / tick), so a 100 ms deadline set 60 ms after a tick
 * fired at the next tick, 40 ms later.
 */
static void test_deadline_never_early(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct net_conn *c;
	uint64_t tick_at, set_at, gap;

	peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	c = a->last_conn;
	net_conn_deadline(c, 1);
	WAIT_FOR(fx, a->deadlines == 1);
	tick_at = a->deadline_at[0]; /* a tick just ran */
	WAIT_FOR(fx, net_now(fx->net) >= tick_at + 60);
	set_at = net_now(fx->net);
	net_conn_deadline(c, 100);
	WAIT_FOR(fx, a->deadlines == 2);
	gap = a->deadline_at[1] - set_at;
	if (gap < 100)
		fail_msg("net_conn_deadline(c, 100) fired after %llu ms",
			 (unsigned long long)gap);
	assert_no_violation(a);
}

/* A closing connection (AFTER_WRITE) whose peer never reads is closed
 * NET_WRITE_STALL_MS after the close (set at a tick, so never early). */
static void test_write_stall(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p;
	uint64_t took;

	p = peer_connect(fx, a->port, SMALL_RCVBUF);
	p->reading = false;
	WAIT_FOR(fx, a->opens == 1);
	a->deadline_mode = DL_BIG_AFTER; /* 8 MB, then AFTER_WRITE */
	net_conn_deadline(a->last_conn, 1);
	WAIT_FOR(fx, a->deadlines == 1);
	WAIT_FOR(fx, a->handed == 1);
	run_turns(fx, 5);
	assert_true(net_conn_queued(a->last_conn) > 0);
	assert_int_equal(a->closes, 0);
	WAIT_FOR(fx, a->closes == 1);
	took = a->close_at - a->deadline_set_at;
	assert_true(took >= NET_WRITE_STALL_MS);
	assert_true(took <= NET_WRITE_STALL_MS + 2 * NET_TICK_MS + 200);
	assert_int_equal(a->deadlines, 1); /* the layer's own deadline */
	WAIT_FOR(fx, a->svc.nconns == 0);
	WAIT_FOR(fx, a->released == 1);
	assert_int_equal(a->handed, 1);
	assert_no_violation(a);
}

/* ---- 9. connection limit ---- */

static void test_connection_limit(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p1, *p2, *p3, *p4;

	a->svc.max_conns = 1;
	p1 = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);

	/* refuse does nothing: closed at once, not counted, not opened; its
	 * close comes, with no state (nothing was set) */
	p2 = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->refuses == 1);
	WAIT_FOR(fx, peer_closed(p2));
	assert_int_equal(p2->in.len, 0);
	assert_int_equal(a->opens, 1);
	assert_int_equal(a->svc.nconns, 1);
	assert_int_equal(a->svc.accepted, 1);
	assert_int_equal(a->svc.refused, 1);
	assert_int_equal(a->closes, 1);
	assert_int_equal(a->close_null, 1);

	/* refuse answers and lingers: the peer reads the answer, then EOF */
	a->refuse_mode = REFUSE_ANSWER;
	p3 = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, peer_closed(p3));
	assert_int_equal(p3->err, 0);
	assert_true(bytes_is(&p3->in, "busy\n"));
	assert_int_equal(a->refuses, 2);
	assert_int_equal(a->svc.refused, 2);
	assert_int_equal(a->opens, 1);
	assert_int_equal(a->svc.nconns, 1); /* lingering, but never counted */
	assert_int_equal(a->closes, 2);
	peer_shut(p3);
	run_for(fx, 50);
	assert_int_equal(a->closes, 2);

	/* the one counted goes: room again */
	peer_shut(p1);
	WAIT_FOR(fx, a->svc.nconns == 0);
	assert_int_equal(a->closes, 3);
	p4 = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 2);
	assert_int_equal(a->svc.nconns, 1);
	assert_int_equal(a->svc.accepted, 2);
	assert_int_equal(a->svc.refused, 2);
	assert_false(peer_closed(p4));
	assert_int_equal(a->released, a->handed);
	assert_no_violation(a);
}

/* ---- 10. net_stop ---- */

static void test_stop(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a, *b = &fx->b, *c = &fx->c;
	struct peer *pa, *pb, *pc;
	uint64_t t0;

	b->stop_mode = STOP_NOTHING; /* c has no stop at all */
	fake_listen(fx, b);
	fake_listen(fx, c);
	pa = peer_connect(fx, a->port, 0);
	pb = peer_connect(fx, b->port, 0);
	pc = peer_connect(fx, c->port, 0);
	WAIT_FOR(fx, a->opens == 1 && b->opens == 1 && c->opens == 1);

	t0 = net_now(fx->net);
	net_stop(fx->net, 300);
	/* no stop callback: closed at once */
	assert_int_equal(c->stops, 0);
	assert_int_equal(c->closes, 1);
	assert_int_equal(a->stops, 1);
	assert_int_equal(b->stops, 1);
	/* the listeners are gone */
	assert_int_equal(connect_to(a->port, 0), -ECONNREFUSED);
	assert_int_equal(connect_to(b->port, 0), -ECONNREFUSED);

	/* the goodbye goes out, then EOF */
	WAIT_FOR(fx, peer_closed(pa));
	assert_int_equal(pa->err, 0);
	assert_true(bytes_is(&pa->in, "bye\n"));
	assert_int_equal(a->closes, 1);
	WAIT_FOR(fx, peer_closed(pc));

	/* the silent one is closed at the end of the grace, by its close */
	WAIT_FOR(fx, b->closes == 1);
	assert_true(b->close_at - t0 >= 300);
	assert_true(b->close_at - t0 <= 300 + 200);
	WAIT_FOR(fx, peer_closed(pb));
	assert_int_equal(pb->in.len, 0);

	/* then the loop ends, and everything can go */
	WAIT_FOR(fx, !uv_loop_alive(&fx->loop));
	assert_int_equal(a->svc.nconns + b->svc.nconns + c->svc.nconns, 0);
	assert_int_equal(a->stops + b->stops + c->stops, 2);
	assert_int_equal(a->closes + b->closes + c->closes, 3);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	fx->loop_closed = true;
	net_free(fx->net);
	fx->net = NULL;
	assert_int_equal(a->released, a->handed);
	assert_no_violation(a);
	assert_no_violation(b);
	assert_no_violation(c);
}

/*
 * A connection paused (read stopped, nothing being written) whose stop
 * does nothing still keeps the loop running until the grace ends, and is
 * then closed through proto->close: the grace timer used to be
 * unreferenced, so the loop ended at once and the state leaked.
 */
static void test_stop_paused_connection(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct net_conn *c;
	struct peer *p;
	bool ok;
	int closed;

	a->stop_mode = STOP_NOTHING;
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "PAUSE\n");
	WAIT_FOR(fx, a->opens == 1 && a->last_state->lines == 1);
	c = a->last_conn;
	assert_true(net_conn_paused(c));
	net_stop(fx->net, 300);
	assert_int_equal(a->stops, 1);
	WAIT_WITHIN(fx, 2000, ok, a->closes == 1 || !uv_loop_alive(&fx->loop));
	assert_true(ok);
	closed = a->closes;
	if (!closed) {
		/* clean up by hand, so the failure below is the only report */
		net_conn_close(c, NET_CLOSE_NOW);
		drain(fx);
	}
	if (closed != 1)
		fail_msg("the loop ended with the paused connection open (close called "
			 "%d times)", closed);
	WAIT_FOR(fx, !uv_loop_alive(&fx->loop));
	assert_int_equal(a->svc.nconns, 0);
	assert_no_violation(a);
}

/*
 * net_stop with no connection closes the net's own handles (check, tick,
 * grace), so the loop ends and uv_loop_close succeeds: they used to be
 * closed only when the grace ran out, which an ended loop never sees.
 */
static void test_stop_without_connections(void **state)
{
	struct fixture *fx = *state;
	int rc;

	net_stop(fx->net, 100);
	WAIT_FOR(fx, !uv_loop_alive(&fx->loop));
	rc = uv_loop_close(&fx->loop);
	if (rc == 0) {
		fx->loop_closed = true;
		net_free(fx->net);
		fx->net = NULL;
	}
	if (rc != 0)
		fail_msg("after net_stop with no connection the loop ended, "
			 "uv_loop_close: %s", uv_strerror(rc));
}

/* ---- 11. upgrade ---- */

static void test_upgrade(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a, *u = &fx->u;
	struct fconn *ufc;
	struct peer *p, *q;
	int inputs;

	a->upgrade_to = u;
	u->echo = true;
	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);

	/* the switch point in the middle of a read: the rest goes to the new
	 * protocol in the same turn, in order, its partial line kept for it */
	peer_says(fx, p, "hello\nUPGRADE\nx\ny\npart");
	WAIT_FOR(fx, a->upgrades == 1);
	assert_true(bytes_is(&a->upgraded_got, "hello\nUPGRADE\n"));
	ufc = u->last_state;
	assert_non_null(ufc);
	assert_int_equal(ufc->ninputs, 1);
	assert_true(bytes_is(&ufc->last_in, "x\ny\npart"));
	assert_true(bytes_is(&ufc->got, "x\ny\n"));
	assert_int_equal(ufc->first_input_turn, a->upgrade_turn);
	assert_int_equal(a->svc.nconns, 0);
	assert_int_equal(u->svc.nconns, 1);
	assert_int_equal(a->svc.accepted, 1);

	peer_says(fx, p, "ial\n");
	WAIT_FOR(fx, ufc->lines == 3);
	assert_true(bytes_is(&ufc->last_in, "partial\n"));
	/* the new protocol's output */
	WAIT_FOR(fx, p->in.len == 12);
	assert_true(bytes_is(&p->in, "x\ny\npartial\n"));

	/* the switch point in the kept tail */
	q = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 2);
	inputs = a->inputs;
	peer_says(fx, q, "UPGR");
	WAIT_FOR(fx, a->inputs == inputs + 1);
	peer_says(fx, q, "ADE\nz\n");
	WAIT_FOR(fx, a->upgrades == 2);
	assert_true(bytes_is(&a->upgraded_got, "UPGRADE\n"));
	ufc = u->last_state;
	assert_true(bytes_is(&ufc->got, "z\n"));
	assert_int_equal(ufc->first_input_turn, a->upgrade_turn);
	assert_int_equal(u->svc.nconns, 2);
	assert_int_equal(a->svc.nconns, 0);

	/* the end: the new protocol's close, once each; never the old one's */
	peer_shut(p);
	peer_shut(q);
	WAIT_FOR(fx, u->closes == 2);
	assert_int_equal(a->closes, 0);
	assert_int_equal(u->svc.nconns, 0);
	assert_int_equal(a->svc.nconns, 0);
	run_for(fx, 50);
	assert_int_equal(u->closes, 2);
	assert_int_equal(a->closes, 0);
	assert_int_equal(u->opens, 0);
	assert_int_equal(u->released, u->handed);
	assert_no_violation(a);
	assert_no_violation(u);
}

/* ---- 12. turn hooks ---- */

static void hook_x(void *ctx)
{
	struct fixture *fx = ctx;

	bytes_add(&fx->order, "x", 1);
}

static void hook_write(void *ctx)
{
	struct fake *f = ctx;

	bytes_add(&f->fx->order, "y", 1);
	if (f->hook_writes > 0 && f->conns) {
		f->hook_writes--;
		f->hook_turn = f->fx->turns;
		queue(f->conns, "tick\n", 5);
		net_conn_want_write(f->conns->c);
	}
}

static void test_turn_hooks(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p;
	uint64_t turns, handed;

	net_on_turn(fx->net, hook_x, fx);
	net_on_turn(fx->net, hook_write, a);
	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);

	/* once per turn, in the order registered */
	fx->order.len = 0;
	turns = fx->turns;
	run_turns(fx, 10);
	assert_int_equal(fx->turns, turns + 10);
	assert_true(bytes_is(&fx->order, "xyxyxyxyxyxyxyxyxyxy"));

	/* a hook's want_write is written in that same turn */
	handed = a->handed;
	a->hook_writes = 1;
	turns = fx->turns;
	run_turns(fx, 1);
	assert_int_equal(fx->turns, turns + 1);
	assert_int_equal(a->hook_turn, fx->turns);
	assert_int_equal(a->handed, handed + 1);
	assert_int_equal(a->released, handed + 1);
	assert_int_equal(a->last_state->out_turn, fx->turns);
	WAIT_FOR(fx, p->in.len == 5);
	assert_true(bytes_is(&p->in, "tick\n"));
	assert_int_equal(a->double_out, 0);
	assert_no_violation(a);
}

/*
 * A read that fills the read buffer leaves more in the socket, which the
 * layer reads next in the same turn. What that read produced is handed out
 * first, so the peer works on it while the rest is read and handled: a
 * pipeline instead of a ping-pong of whole turns (QoS 1 1->1 ran at half
 * the forwarder's rate for want of it). The whole write is in the kernel
 * before the loop runs, so without it every read of it would be taken
 * before any output.
 */
static void test_full_read_hands_output_first(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct bytes *lines = &fx->scratch[0];
	static const char line[] = "a line of sixty-four bytes, that the fake protocol echoes back.\n";
	struct fconn *fc;
	struct peer *p;
	uint64_t handed, turns;

	assert_int_equal(strlen(line), 64);
	a->echo = true;
	p = peer_connect(fx, a->port, 0);
	WAIT_FOR(fx, a->opens == 1);
	fc = a->last_state;
	while (lines->len < 3 * NET_READ_CHUNK)
		bytes_add(lines, line, 64);
	/* room for all of it on the peer's side, whatever the defaults */
	assert_int_equal(setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &(int){ 1 << 20 }, sizeof(int)), 0);
	handed = a->handed;
	turns = fx->turns;
	raw_send(fx, p, lines->p, lines->len);
	assert_int_equal(fx->turns, turns); /* all sent before the loop ran */
	p->reading = true;
	WAIT_FOR(fx, fc->lines == lines->len / 64);
	/* the last read was taken after an output of this write was handed */
	assert_true(fc->handed_at_input > handed);
	WAIT_FOR(fx, p->in.len == lines->len);
	assert_memory_equal(p->in.p, lines->p, lines->len);
	assert_no_violation(a);
}

/* ---- more defects ---- */

/*
 * A peer that sends a request and shuts its write side (HTTP/1.0 clients,
 * `nc -N`, shutdown(SHUT_WR)) gets its answer: at EOF a protocol with an
 * eof callback decides (here: say bye, close after writing); the layer
 * used to close at once whatever the protocol did.
 */
static void test_eof_then_answer(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p;

	a->echo = true;
	a->eof_mode = EOF_BYE;
	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "hello\n");
	assert_int_equal(shutdown(p->fd, SHUT_WR), 0);
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(a->eofs, 1);
	assert_int_equal(a->last_eof_status, 0);
	assert_int_equal(a->closes, 1);
	assert_int_equal(a->released, a->handed);
	if (!bytes_is(&p->in, "hello\nbye\n"))
		fail_msg("after a half-close the peer got %zu bytes, not \"hello\\nbye\\n\"",
			 p->in.len);
	assert_no_violation(a);
}

/*
 * The peer's EOF read after a lingering close was asked for, before the
 * last output went out: the output is written, then the connection
 * closes (it used to close at once, the answer lost).
 */
static void test_eof_before_the_last_output(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a;
	struct peer *p;

	p = peer_connect(fx, a->port, 0);
	peer_says(fx, p, "BIG 65536\nCLOSE LINGER EOF\n");
	WAIT_FOR(fx, peer_closed(p));
	assert_int_equal(p->err, 0);
	assert_int_equal(p->in.len, 65536);
	assert_true(is_pattern(p->in.p, 65536));
	assert_int_equal(a->closes, 1);
	assert_int_equal(a->released, a->handed);
	WAIT_FOR(fx, a->svc.nconns == 0);
	assert_no_violation(a);
}

/*
 * A linger bound of 0 does not disable the other bound: the lingering
 * deadline used to be min(timeout, time), and a 0 there cleared it, so a
 * silent peer kept its connection (and its slot) forever.
 */
static void test_linger_zero_bound(void **state)
{
	struct fixture *fx = *state;
	struct fake *a = &fx->a, *b = &fx->b;
	struct peer *pa, *pb;
	bool ok;

	a->svc.linger_time_ms = 300; /* total 300 ms, no idle timeout */
	a->svc.linger_timeout_ms = 0;
	b->svc.linger_time_ms = 0; /* idle 200 ms, no total bound */
	b->svc.linger_timeout_ms = 200;
	fake_listen(fx, b);
	pa = peer_connect(fx, a->port, 0);
	pb = peer_connect(fx, b->port, 0);
	peer_says(fx, pa, "CLOSE LINGER\n");
	peer_says(fx, pb, "CLOSE LINGER\n");
	WAIT_FOR(fx, peer_closed(pa) && peer_closed(pb));
	assert_int_equal(a->closes + b->closes, 2);
	WAIT_WITHIN(fx, 800, ok, a->svc.nconns == 0 && b->svc.nconns == 0);
	if (!ok)
		fail_msg("silent peers still lingering after 800 ms (linger_time 300 ms "
			 "with timeout 0: %u open; timeout 200 ms with time 0: %u open)",
			 a->svc.nconns, b->svc.nconns);
}

/* ---- 13. stacked transports: WebSocket framing over TCP and over TLS ---- */

/* A plain fixture, and fx->b listening with TLS: a CA and a server
 * certificate for localhost and 127.0.0.1 made by certgen, the client's
 * config trusting that CA. */
static int setup_tls(void **state)
{
	static const char *const dns[] = { "localhost", NULL };
	static const char *const ips[] = { "127.0.0.1", NULL };
	struct fixture *fx;
	char err[512], crt[128], key[128], ca[128];
	struct certgen_request r = { .dns = dns, .ips = ips, .days = 2, .ca_days = 2 };
	struct tls_settings ss = { .role = TLS_SERVER, .certfile = crt, .keyfile = key };
	struct tls_settings cs = { .role = TLS_CLIENT, .cafile = ca, .server_name = "localhost" };

	if (setup(state))
		return -1;
	fx = *state;
	snprintf(fx->certdir, sizeof(fx->certdir), "/tmp/agora-test-net-XXXXXX");
	if (!mkdtemp(fx->certdir)) {
		fx->certdir[0] = '\0';
		return -1;
	}
	r.dir = fx->certdir;
	snprintf(crt, sizeof(crt), "%s/server.crt", fx->certdir);
	snprintf(key, sizeof(key), "%s/server.key", fx->certdir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->certdir);
	if (certgen_init(&r, err, sizeof(err)) < 0 ||
	    !(fx->tls_server = tls_config_new(&ss, err, sizeof(err))) ||
	    !(fx->tls_client = tls_config_new(&cs, err, sizeof(err)))) {
		fprintf(stderr, "setup_tls: %s\n", err);
		return -1;
	}
	fake_listen_with(fx, &fx->b, fx->tls_server);
	return 0;
}

/* A peer on f's listener, speaking TLS when the fixture has made its
 * certificates (the ClientHello goes at once). */
static struct peer *peer_for(struct fixture *fx, struct fake *f)
{
	struct peer *p = peer_connect(fx, f->port, 0);

	if (f->listener->tls) {
		p->tls = tls_conn_new(fx->tls_client);
		assert_non_null(p->tls);
		peer_flush(p);
	}
	return p;
}

/* A client's frame: masked, final, opcode op, appended to out. */
static void ws_frame(struct bytes *out, uint8_t op, const void *payload, size_t n)
{
	static const uint8_t key[4] = { 0x5a, 0x01, 0xc3, 0x7e };
	uint8_t hdr[WS_MASKED_HEADER_MAX];
	size_t h = ws_masked_header(op, n, key, hdr), at;

	bytes_add(out, hdr, h);
	at = out->len;
	bytes_add(out, payload, n);
	ws_mask(out->p + at, n, key);
}

static void peer_frame(struct fixture *fx, struct peer *p, uint8_t op, const void *payload,
		       size_t n)
{
	struct bytes f = { 0 };

	ws_frame(&f, op, payload, n);
	peer_send(fx, p, f.p, f.len);
	bytes_free(&f);
}

/* What the server's frames in in[from..) say: the payload of its binary
 * frames in order, its pongs' payload, its close frames and the status of
 * the last. Server frames are unmasked and never fragmented here. */
struct ws_seen {
	struct bytes data, pong;
	int closes;
	uint16_t status;
	bool bad;               /* a frame no server sends */
};

static void ws_parse(const struct bytes *in, size_t from, struct ws_seen *w)
{
	size_t at = from;

	bytes_free(&w->data);
	bytes_free(&w->pong);
	w->closes = 0;
	w->bad = false;
	while (in->len - at >= 2) {
		const uint8_t *h = in->p + at;
		uint64_t n = h[1] & 0x7f;
		size_t hl = 2;

		if (!(h[0] & 0x80) || (h[1] & 0x80))
			w->bad = true;
		if (n == 126 && in->len - at >= 4) {
			n = (uint64_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (n == 127 && in->len - at >= 10) {
			n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | h[2 + i];
			hl = 10;
		} else if (n >= 126) {
			return;
		}
		if (in->len - at - hl < n)
			return; /* not whole yet */
		if ((h[0] & 0x0f) == WS_OP_BINARY)
			bytes_add(&w->data, h + hl, (size_t)n);
		else if ((h[0] & 0x0f) == WS_OP_PONG)
			bytes_add(&w->pong, h + hl, (size_t)n);
		else if ((h[0] & 0x0f) == WS_OP_CLOSE && n >= 2)
			w->status = (uint16_t)(h[hl] << 8 | h[hl + 1]);
		else
			w->bad = true;
		w->closes += (h[0] & 0x0f) == WS_OP_CLOSE;
		at += hl + (size_t)n;
	}
}

/* The server's frames the peer has read, after the upgrade's "ws\n". */
static struct ws_seen *ws_seen(struct peer *p, struct ws_seen *w)
{
	ws_parse(&p->in, 3, w);
	return w;
}

static bool ws_data_is(struct peer *p, struct ws_seen *w, const char *s)
{
	return bytes_is(&ws_seen(p, w)->data, s);
}

/* The whole life of a WebSocket connection on f's listener (TLS or not):
 * the upgrade with a frame behind it in the same bytes, a line across two
 * frames, a ping, a large answer, the client's close. */
static void ws_life(struct fixture *fx, struct fake *f)
{
	struct fake *u = &fx->u;
	struct ws_seen w = { 0 };
	struct bytes first = { 0 };
	struct peer *p;
	uint32_t open;
	uint64_t accepted;
	size_t big = 300000;

	f->upgrade_to = u;
	u->echo = true;
	p = peer_for(fx, f);
	WAIT_FOR(fx, f->opens == 1);

	/* the switch in the middle of one read: the frame behind WS is
	 * decoded by the new transport, in the same turn */
	bytes_add(&first, "hello\nWS\n", 9);
	ws_frame(&first, WS_OP_BINARY, "x\ny\npart", 8);
	peer_send(fx, p, first.p, first.len);
	bytes_free(&first);
	WAIT_FOR(fx, f->upgrades == 1 && u->last_state && u->last_state->lines == 2);
	assert_true(bytes_is(&f->upgraded_got, "hello\nWS\n"));
	assert_int_equal(u->last_state->first_input_turn, f->upgrade_turn);
	assert_true(bytes_is(&u->last_state->tail, "part"));
	net_ws_counts(fx->net, &open, &accepted);
	assert_int_equal(open, 1);
	assert_int_equal(accepted, 1);
	assert_int_equal(u->svc.nconns, 1);
	assert_int_equal(f->svc.nconns, 0);
	WAIT_FOR(fx, p->in.len >= 3 && ws_data_is(p, &w, "x\ny\n"));
	assert_memory_equal(p->in.p, "ws\n", 3); /* the raw answer before any frame */

	/* a line across frames; a ping between them is answered */
	peer_frame(fx, p, WS_OP_BINARY, "ia", 2);
	peer_frame(fx, p, WS_OP_PING, "are you there", 13);
	peer_frame(fx, p, WS_OP_BINARY, "l\n", 2);
	WAIT_FOR(fx, ws_data_is(p, &w, "x\ny\npartial\n"));
	WAIT_FOR(fx, bytes_is(&ws_seen(p, &w)->pong, "are you there"));

	/* more than the socket takes at once: frames written in parts */
	{
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "BIG %zu\n", big);
		peer_frame(fx, p, WS_OP_BINARY, cmd, strlen(cmd));
	}
	WAIT_FOR(fx, ws_seen(p, &w)->data.len >= 12 + big);
	assert_true(is_pattern(w.data.p + 12, big));
	assert_false(w.bad);
	assert_int_equal(w.closes, 0);

	/* the client closes: its status echoed, the connection ends, the
	 * new protocol's close once, the old one's never */
	peer_frame(fx, p, WS_OP_CLOSE, "\x03\xe8", 2);
	WAIT_FOR(fx, u->closes == 1 && peer_closed(p));
	ws_seen(p, &w);
	assert_int_equal(w.closes, 1);
	assert_int_equal(w.status, 1000);
	assert_false(w.bad);
	assert_int_equal(f->closes, 0);
	assert_int_equal(u->released, u->handed);
	net_ws_counts(fx->net, &open, &accepted);
	assert_int_equal(open, 0);
	assert_int_equal(u->svc.nconns, 0);
	assert_no_violation(f);
	assert_no_violation(u);
	bytes_free(&w.data);
	bytes_free(&w.pong);
}

static void test_ws_over_tcp(void **state)
{
	struct fixture *fx = *state;

	ws_life(fx, &fx->a);
}

static void test_ws_over_tls(void **state)
{
	struct fixture *fx = *state;

	ws_life(fx, &fx->b);
	assert_non_null(fx->b.listener->tls);
}

/* A rule broken over TLS (an unmasked frame): the close frame says which
 * (1002), encrypted, and the connection ends. */
static void test_ws_over_tls_protocol_error(void **state)
{
	struct fixture *fx = *state;
	struct fake *b = &fx->b, *u = &fx->u;
	static const uint8_t unmasked[] = { 0x82, 0x02, 'a', '\n' };
	struct ws_seen w = { 0 };
	struct peer *p;

	b->upgrade_to = u;
	p = peer_for(fx, b);
	peer_says(fx, p, "WS\n");
	WAIT_FOR(fx, b->upgrades == 1 && p->in.len >= 3);
	peer_send(fx, p, unmasked, sizeof(unmasked));
	WAIT_FOR(fx, u->closes == 1 && peer_closed(p));
	ws_seen(p, &w);
	assert_int_equal(w.closes, 1);
	assert_int_equal(w.status, WS_CLOSE_PROTOCOL);
	assert_int_equal(w.data.len, 0);
	assert_int_equal(u->eofs, 1);
	assert_int_equal(u->last_eof_status, UV_EPROTO);
	assert_no_violation(b);
	assert_no_violation(u);
	bytes_free(&w.data);
	bytes_free(&w.pong);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_never_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_paused_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_without_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_turn_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_read_hands_output_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_then_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_before_the_last_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_zero_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_over_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_over_tls, setup_tls, teardown),
		cmocka_unit_test_setup_teardown(test_ws_over_tls_protocol_error, setup_tls,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* a write to a reset peer is an error, not a death */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
