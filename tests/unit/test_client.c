/*
 * test_client.c - the client connection layer (src/client/client.h)
 * against a scripted broker on the same libuv loop, over loopback TCP:
 * the acknowledgement flows both ways, the inflight window and the server's
 * Receive Maximum, packet ids wrapping past 65,535 with out-of-order acks,
 * QoS 2 resends, keepalive, DISCONNECT after the last output, and every
 * way a connection fails (nothing listening, no CONNACK, a malformed or
 * oversized packet, a refusal, the server's DISCONNECT). Over WebSocket: the
 * upgrade request, the server's answers to it (a refusal, a bad accept key,
 * one too long), the client's frames decoded by the server's codec (which
 * refuses unmasked ones), the server's output cut into 1 to 5-byte frames
 * so that packets span frames, a ping answered, a close frame.
 *
 * Each test runs the loop until the connection's `closed`; a guard timer
 * fails the test if that takes more than GUARD_MS.
 */
#include "helpers.h"

#include "client/client.h"
#include "http/websocket.h"
#include "net/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_MS 8000

/* ---- the scripted broker ---- */

struct fake;
typedef void (*fake_fn)(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			size_t len);

struct fake {
	uv_tcp_t server, peer;
	bool peer_open, saw_eof;
	uint16_t port;
	uint8_t level;
	uint8_t *in;
	size_t len, cap;
	fake_fn on_packet;
	uint32_t count[16]; /* packets received, by type */
	uint8_t last_type;
	/* WebSocket: the upgrade, then the client's frames decoded and ours
	 * cut into frames of 1 to frame_max bytes */
	bool ws, upgraded;
	const char *answer; /* the upgrade's scripted answer; NULL: a valid 101 */
	struct ws_codec *codec;
	uint32_t frame_max, frames_out;
	bool ping_first;    /* a ping right after the 101 */
};

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void fake_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void fake_write(struct fake *f, const void *b, size_t n)
{
	struct wreq *w = malloc(sizeof(*w) + n);
	uv_buf_t buf;

	assert_non_null(w);
	memcpy(w->data, b, n);
	buf = uv_buf_init((char *)w->data, (unsigned)n);
	assert_int_equal(uv_write(&w->req, (uv_stream_t *)&f->peer, &buf, 1, fake_written), 0);
}

/* Over WebSocket, b goes in frames of 1, 2... frame_max bytes in turn. */
static void fake_send_raw(struct fake *f, const void *b, size_t n)
{
	const uint8_t *p = b;
	uint8_t frame[WS_HEADER_MAX + 64];

	if (!f->upgraded) {
		fake_write(f, b, n);
		return;
	}
	while (n) {
		size_t k = 1 + f->frames_out++ % f->frame_max, h;
		if (k > n)
			k = n;
		h = ws_codec_header(f->codec, WS_OP_BINARY, k, frame);
		memcpy(frame + h, p, k);
		fake_write(f, frame, h + k);
		p += k;
		n -= k;
	}
}

static void fake_send(struct fake *f, const struct mqtt_packet *p)
{
	uint8_t b[8192];
	long n = mqtt_encode(p, f->level, b, sizeof(b));

	assert_true(n > 0);
	fake_send_raw(f, b, (size_t)n);
}

static void fake_ack(struct fake *f, uint8_t type, uint16_t id)
{
	struct mqtt_packet p = { .type = type };

	p.u.ack.packet_id = id;
	mqtt_props_clear(&p.u.ack.props);
	fake_send(f, &p);
}

/* CONNACK with a return code and, at level 5, properties. */
static void fake_connack(struct fake *f, uint8_t rc, const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = MQTT_CONNACK };

	p.u.connack.return_code = rc;
	if (props)
		p.u.connack.props = *props;
	else
		mqtt_props_clear(&p.u.connack.props);
	fake_send(f, &p);
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fake *f = h->data;

	(void)suggested;
	if (f->cap - f->len < 65536) {
		f->cap = f->cap ? f->cap * 2 : 1 << 17;
		f->in = realloc(f->in, f->cap);
		assert_non_null(f->in);
	}
	*buf = uv_buf_init((char *)f->in + f->len, (unsigned)(f->cap - f->len));
}

static void world_maybe_end(void);

static bool fake_ws_data(void *arg, const uint8_t *p, size_t n)
{
	struct fake *f = arg;

	memcpy(f->in + f->len, p, n); /* the frames were longer: room enough */
	f->len += n;
	return true;
}

static bool fake_ws_ping(void *arg, const uint8_t *p, size_t n)
{
	(void)arg, (void)p, (void)n;
	fail_msg("the client sent a ping");
	return false;
}

static bool fake_ws_close(void *arg, uint16_t status)
{
	(void)arg, (void)status;
	return false;
}

static const struct ws_events fake_ws_events = { fake_ws_data, fake_ws_ping, fake_ws_close };

/* The upgrade request, whole in f->in: checked, answered. */
static void fake_upgrade(struct fake *f, size_t end)
{
	char req[1024], key[25], answer[256];
	const char *k;
	uint8_t ping[] = { 0x89, 0x02, 'h', 'i' };

	assert_true(end < sizeof(req));
	assert_int_equal(f->len, end); /* nothing before the 101 */
	memcpy(req, f->in, end);
	req[end] = 0;
	assert_true(strncmp(req, "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:", 36) == 0);
	assert_non_null(strstr(req, "\r\nUpgrade: websocket\r\n"));
	assert_non_null(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
	assert_non_null(strstr(req, "\r\nSec-WebSocket-Protocol: mqtt\r\n"));
	k = strstr(req, "\r\nSec-WebSocket-Key: ");
	assert_non_null(k);
	memcpy(key, k + 21, 24);
	key[24] = 0;
	f->len = 0;
	f->codec = ws_codec_new(1 << 20);
	if (f->answer) {
		fake_write(f, f->answer, strlen(f->answer));
		return;
	}
	memcpy(answer, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		       "Connection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n"
		       "Sec-WebSocket-Accept: ", 128);
	http_ws_accept(key, answer + strlen(answer));
	memcpy(answer + strlen(answer), "\r\n\r\n", 5);
	fake_write(f, answer, strlen(answer));
	f->upgraded = true;
	if (f->ping_first)
		fake_write(f, ping, sizeof(ping));
}

/* n bytes just read over WebSocket: false when no packet can follow. */
static bool fake_ws_read(struct fake *f, size_t n)
{
	uint8_t *raw;
	int rc;

	if (!f->upgraded) {
		uint8_t *end = memmem(f->in, f->len, "\r\n\r\n", 4);
		if (end && !f->codec)
			fake_upgrade(f, (size_t)(end + 4 - f->in));
		return false;
	}
	raw = malloc(n);
	assert_non_null(raw);
	memcpy(raw, f->in + f->len - n, n);
	f->len -= n;
	rc = ws_codec_input(f->codec, raw, n, &fake_ws_events, f);
	free(raw);
	if (rc > 0)
		fail_msg("the client's frame broke a rule (close status %d)", rc);
	return true;
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fake *f = s->data;
	size_t pos = 0;

	(void)buf;
	if (n < 0) {
		f->saw_eof = true;
		if (f->peer_open) {
			f->peer_open = false;
			uv_close((uv_handle_t *)&f->peer, NULL);
		}
		world_maybe_end();
		return;
	}
	f->len += (size_t)n;
	if (f->ws && !fake_ws_read(f, (size_t)n))
		return;
	while (pos < f->len && f->peer_open) {
		struct mqtt_packet p;
		long m = mqtt_decode(f->in + pos, f->len - pos, f->level, 0, &p);
		if (m == MQTT_ERR_NEED_MORE)
			break;
		if (m < 0)
			fail_msg("the client sent a malformed packet: %s", mqtt_strerror((int)m));
		if (p.type == MQTT_CONNECT)
			f->level = p.u.connect.level;
		f->count[p.type]++;
		f->last_type = p.type;
		if (f->on_packet)
			f->on_packet(f, &p, f->in + pos, (size_t)m);
		pos += (size_t)m;
	}
	memmove(f->in, f->in + pos, f->len - pos);
	f->len -= pos;
}

static void fake_accept(uv_stream_t *server, int status)
{
	struct fake *f = server->data;

	assert_int_equal(status, 0);
	assert_false(f->peer_open); /* one client per test */
	uv_tcp_init(server->loop, &f->peer);
	f->peer.data = f;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&f->peer), 0);
	f->peer_open = true;
	uv_read_start((uv_stream_t *)&f->peer, fake_alloc, fake_read);
}

static void fake_listen(struct fake *f, uv_loop_t *loop, fake_fn on_packet)
{
	struct sockaddr_in a;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	memset(f, 0, sizeof(*f));
	f->on_packet = on_packet;
	uv_tcp_init(loop, &f->server);
	f->server.data = f;
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(uv_tcp_bind(&f->server, (const struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->server, 8, fake_accept), 0);
	uv_tcp_getsockname(&f->server, (struct sockaddr *)&bound, &len);
	f->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void fake_close(struct fake *f)
{
	if (!uv_is_closing((uv_handle_t *)&f->server))
		uv_close((uv_handle_t *)&f->server, NULL);
}

/* ---- one test's world ---- */

struct world {
	uv_loop_t loop;
	uv_timer_t guard;
	struct client_loop cl;
	struct client_conn c;
	struct client_opts o;
	struct fake f;
	bool closed;
	int err;
	/* what the callbacks saw */
	uint32_t connacks, messages, again, published, subacks, unsubacks, disconnects;
	uint8_t connack_rc, last_reason;
	uint64_t to_publish;      /* messages the test still wants sent */
	uint32_t max_inflight_seen;
	uint16_t unacked[65536];  /* the fake's view: ids in flight */
	bool in_flight[65536];
	uint32_t nunacked;
	uint8_t window;           /* the fake's Receive Maximum */
};

static struct world *W; /* the running test's (callbacks reach it through here) */

static void on_guard(uv_timer_t *t)
{
	(void)t;
	fail_msg("the connection did not end within %d ms", GUARD_MS);
}

/* The end: the client closed, and the fake read all it sent (to EOF). */
static void world_maybe_end(void)
{
	if (!W->closed || W->f.peer_open || uv_is_closing((uv_handle_t *)&W->guard))
		return;
	fake_close(&W->f);
	uv_close((uv_handle_t *)&W->guard, NULL);
	client_loop_close(&W->cl);
}

static void w_closed(struct client_conn *c, int err)
{
	(void)c;
	W->closed = true;
	W->err = err;
	world_maybe_end();
}

static void w_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	(void)c;
	W->connacks++;
	W->connack_rc = a->return_code;
}

static void world_init(struct world *w, uint8_t level, fake_fn on_packet)
{
	memset(w, 0, sizeof(*w));
	W = w;
	assert_int_equal(uv_loop_init(&w->loop), 0);
	assert_int_equal(client_loop_init(&w->cl, &w->loop), 0);
	uv_timer_init(&w->loop, &w->guard);
	uv_timer_start(&w->guard, on_guard, GUARD_MS, 0);
	fake_listen(&w->f, &w->loop, on_packet);
	w->o.connect.level = level;
	w->o.connect.clean_session = true;
	w->o.connect.client_id.data = (const uint8_t *)"t";
	w->o.connect.client_id.len = 1;
	mqtt_props_clear(&w->o.connect.props);
	mqtt_props_clear(&w->o.connect.will_props);
}

static void world_run(struct world *w, const struct client_cbs *cb, const char *host,
		      uint16_t port)
{
	client_conn_init(&w->c, &w->cl, &w->o, cb);
	assert_int_equal(client_connect(&w->c, host, port ? port : w->f.port), 0);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_true(w->closed);
	assert_int_equal(w->c.state, CLIENT_CLOSED);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	client_loop_release(&w->cl);
	free(w->f.in);
	ws_codec_free(w->f.codec);
}

static struct world *world_new(void)
{
	struct world *w = malloc(sizeof(*w));

	assert_non_null(w);
	return w;
}

/* ---- publishing: the window, ids, QoS 1 and 2 ---- */

#define WRAP_MESSAGES 70000u /* past 65,535: the ids wrap */

static void pub_fill(struct client_conn *c)
{
	while (W->to_publish && client_can_publish(c, 1)) {
		struct mqtt_publish p = { 0 };
		long id;

		p.topic.data = (const uint8_t *)"w";
		p.topic.len = 1;
		p.qos = W->to_publish % 7 == 0 ? 2 : 1;
		p.payload = (const uint8_t *)"x";
		p.payload_len = 1;
		id = client_publish(c, &p);
		assert_true(id > 0 && id <= 65535);
		assert_int_equal(p.packet_id, id);
		W->to_publish--;
		if (client_inflight(c) > W->max_inflight_seen)
			W->max_inflight_seen = client_inflight(c);
	}
	if (!W->to_publish && !client_inflight(c))
		client_disconnect(c, 0, NULL);
}

static void pub_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct mqtt_publish p = { 0 };

	w_connack(c, a);
	assert_int_equal(c->server.receive_maximum,
			 c->level == MQTT_LEVEL_5 ? W->window : 65535);
	pub_fill(c);
	assert_false(client_can_publish(c, 1)); /* the window is full... */
	assert_true(client_can_publish(c, 0));  /* ...QoS 0 is not held by it */
	p.qos = 1;
	p.topic.data = (const uint8_t *)"w";
	p.topic.len = 1;
	assert_int_equal(client_publish(c, &p), CLIENT_EFULL);
}

static void pub_published(struct client_conn *c, uint16_t id, uint8_t reason,
			  const struct mqtt_props *props)
{
	(void)id, (void)props;
	assert_int_equal(reason, 0);
	W->published++;
	pub_fill(c);
}

/* Acknowledges what arrived, newest first (out of order), once a read
 * brought the window's worth or less. */
static void flush_acks(struct fake *f)
{
	while (W->nunacked) {
		uint16_t id = W->unacked[--W->nunacked];
		fake_ack(f, MQTT_PUBACK, id);
		W->in_flight[id] = false;
	}
}

static void window_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			  size_t len)
{
	struct mqtt_props props;
	uint16_t id;

	(void)raw, (void)len;
	switch (p->type) {
	case MQTT_CONNECT:
		mqtt_props_clear(&props);
		props.receive_maximum = W->window;
		props.present = MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM);
		fake_connack(f, 0, &props);
		break;
	case MQTT_PUBLISH:
		id = p->u.publish.packet_id;
		if (W->in_flight[id])
			fail_msg("packet id %u reused while in flight", id);
		W->in_flight[id] = true;
		if (p->u.publish.qos == 2) {
			fake_ack(f, MQTT_PUBREC, id); /* PUBCOMP after PUBREL */
			break;
		}
		W->unacked[W->nunacked++] = id;
		assert_true(W->nunacked <= W->window); /* the Receive Maximum holds */
		if (W->nunacked == W->window || W->to_publish < W->window)
			flush_acks(f);
		break;
	case MQTT_PUBREL:
		id = p->u.ack.packet_id;
		assert_true(W->in_flight[id]);
		W->in_flight[id] = false;
		fake_ack(f, MQTT_PUBCOMP, id);
		break;
	default:
		break;
	}
}

static void test_window_ids_wrap_and_out_of_order_acks(void **state)
{
	static const struct client_cbs cb = {
		.connack = pub_connack, .published = pub_published, .closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_5, window_broker);
	w->window = 200;
	w->o.max_inflight = 1000; /* the server's 200 is the smaller */
	w->to_publish = WRAP_MESSAGES;
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->published, WRAP_MESSAGES);
	assert_int_equal(w->max_inflight_seen, 200);
	assert_int_equal(w->f.count[MQTT_PUBLISH], WRAP_MESSAGES);
	assert_int_equal(w->f.count[MQTT_PUBREL], WRAP_MESSAGES / 7);
	assert_int_equal(w->f.count[MQTT_DISCONNECT], 1);
	assert_true(w->f.saw_eof);
	free(w);
}

static void test_own_window_in_311(void **state)
{
	static const struct client_cbs cb = {
		.connack = pub_connack, .published = pub_published, .closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_311, window_broker); /* no Receive Maximum in 3.1.1 */
	w->window = 5;                                /* the fake acks every 5 */
	w->o.max_inflight = 5;                        /* the client's own limit */
	w->to_publish = 50;
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->published, 50);
	assert_int_equal(w->max_inflight_seen, 5);
	free(w);
}

/* ---- receiving: acks of incoming QoS 1 and 2, resends ---- */

static void recv_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	(void)c;
	W->messages++;
	W->again += again;
	assert_int_equal(p->payload_len, 2);
}

static void send_publish(struct fake *f, uint8_t qos, uint16_t id, bool dup)
{
	struct mqtt_packet p = { .type = MQTT_PUBLISH };

	p.u.publish.topic.data = (const uint8_t *)"in";
	p.u.publish.topic.len = 2;
	p.u.publish.qos = qos;
	p.u.publish.dup = dup;
	p.u.publish.packet_id = id;
	p.u.publish.payload = (const uint8_t *)"hi";
	p.u.publish.payload_len = 2;
	mqtt_props_clear(&p.u.publish.props);
	fake_send(f, &p);
}

static void recv_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			size_t len)
{
	switch (p->type) {
	case MQTT_CONNECT:
		fake_connack(f, 0, NULL);
		send_publish(f, 1, 5, false);
		send_publish(f, 2, 6, false);
		send_publish(f, 2, 6, true); /* the same again, before PUBREL */
		break;
	case MQTT_PUBACK:
		assert_int_equal(p->u.ack.packet_id, f->count[MQTT_PUBACK] == 1 ? 5 : 8);
		break;
	case MQTT_PUBREC:
		assert_int_equal(p->u.ack.packet_id, 6);
		if (f->count[MQTT_PUBREC] == 2) {
			fake_ack(f, MQTT_PUBREL, 6);
			fake_ack(f, MQTT_PUBREL, 7); /* unknown: PUBCOMP 0x92 */
		}
		break;
	case MQTT_PUBCOMP:
		if (f->count[MQTT_PUBCOMP] == 1) {
			assert_int_equal(p->u.ack.packet_id, 6);
			assert_int_equal(len, 4); /* reason 0 is left out */
		} else {
			assert_int_equal(p->u.ack.packet_id, 7);
			assert_int_equal(len, 5);
			assert_int_equal(raw[4], 0x92);
			/* the same id, a new message, after PUBCOMP; then
			 * one at QoS 1, the last the client takes */
			send_publish(f, 2, 6, false);
			send_publish(f, 1, 8, false);
		}
		break;
	default:
		break;
	}
}

static void recv_pubcomp_done(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	recv_message(c, p, again);
	if (W->messages == 5)
		client_disconnect(c, 0, NULL);
}

static void test_incoming_qos_flows(void **state)
{
	static const struct client_cbs cb = {
		.connack = w_connack, .message = recv_pubcomp_done, .closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_5, recv_broker);
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->messages, 5);
	assert_int_equal(w->again, 1); /* the resend was told apart */
	assert_int_equal(w->f.count[MQTT_PUBACK], 2);
	assert_int_equal(w->f.count[MQTT_PUBREC], 3);
	assert_int_equal(w->f.count[MQTT_PUBCOMP], 2);
	/* the ack of the last message went out before DISCONNECT */
	assert_int_equal(w->f.last_type, MQTT_DISCONNECT);
	free(w);
}

/* ---- subscribing ---- */

static void sub_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	static const struct client_filter f[] = { { "a/#", 1 }, { "b", 2 | MQTT_SUBOPT_NO_LOCAL } };
	static const char *const un[] = { "a/#" };

	w_connack(c, a);
	assert_int_equal(client_subscribe(c, f, 2, NULL), 1);
	assert_int_equal(client_unsubscribe(c, un, 1, NULL), 2);
	assert_int_equal(client_unsubscribe(c, un, 0, NULL), CLIENT_EINVAL);
}

static void sub_suback(struct client_conn *c, const struct mqtt_suback *s)
{
	(void)c;
	W->subacks++;
	assert_int_equal(s->count, 2);
	assert_int_equal(s->codes[1], 0x87);
}

static void sub_unsuback(struct client_conn *c, const struct mqtt_ack *a)
{
	W->unsubacks++;
	assert_int_equal(a->packet_id, 2);
	client_disconnect(c, 0, NULL);
}

static void sub_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
		       size_t len)
{
	static const uint8_t codes[] = { 1, 0x87 }, ucodes[] = { 0 };
	struct mqtt_packet a = { 0 };
	struct mqtt_topic_iter it = { &p->u.subscribe.filters, 0 };
	struct mqtt_str filter;
	uint8_t opts;

	(void)raw, (void)len;
	switch (p->type) {
	case MQTT_CONNECT:
		fake_connack(f, 0, NULL);
		break;
	case MQTT_SUBSCRIBE:
		assert_true(mqtt_topic_list_next_opts(&it, &filter, &opts));
		assert_int_equal(opts, 1);
		assert_true(mqtt_topic_list_next_opts(&it, &filter, &opts));
		assert_int_equal(filter.len, 1);
		assert_int_equal(opts, 2 | MQTT_SUBOPT_NO_LOCAL);
		a.type = MQTT_SUBACK;
		a.u.suback.packet_id = p->u.subscribe.packet_id;
		a.u.suback.codes = codes;
		a.u.suback.count = 2;
		mqtt_props_clear(&a.u.suback.props);
		fake_send(f, &a);
		break;
	case MQTT_UNSUBSCRIBE:
		a.type = MQTT_UNSUBACK;
		a.u.ack.packet_id = p->u.unsubscribe.packet_id;
		a.u.ack.codes = ucodes;
		a.u.ack.count = 1;
		mqtt_props_clear(&a.u.ack.props);
		fake_send(f, &a);
		break;
	default:
		break;
	}
}

static void test_subscribe_unsubscribe(void **state)
{
	static const struct client_cbs cb = {
		.connack = sub_connack, .suback = sub_suback, .unsuback = sub_unsuback,
		.closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_5, sub_broker);
	world_run(w, &cb, "localhost", 0); /* a name: ::1 may be tried first, then 127.0.0.1 */
	assert_int_equal(w->err, 0);
	assert_int_equal(w->subacks, 1);
	assert_int_equal(w->unsubacks, 1);
	free(w);
}

/* ---- keepalive ---- */

static void silent_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			  size_t len)
{
	struct mqtt_props props;

	(void)raw, (void)len;
	if (p->type != MQTT_CONNECT)
		return; /* PINGREQ: no answer */
	mqtt_props_clear(&props);
	props.server_keepalive = 1;
	props.present = MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEPALIVE);
	fake_connack(f, 0, &props);
}

static void test_keepalive_ping_then_timeout(void **state)
{
	static const struct client_cbs cb = { .connack = w_connack, .closed = w_closed };
	struct world *w = world_new();
	uint64_t start;

	(void)state;
	world_init(w, MQTT_LEVEL_5, silent_broker);
	w->o.connect.keepalive = 60; /* the server's 1 s is the one used */
	start = uv_hrtime();
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, CLIENT_ETIMEOUT);
	assert_int_equal(w->f.count[MQTT_PINGREQ], 1);
	/* PINGREQ after 1 s of silence, given up 1 s later */
	assert_true(uv_hrtime() - start >= 2000000000ull - 100000000ull);
	free(w);
}

/* ---- DISCONNECT after the last output ---- */

#define BIG (4u << 20)

static void big_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct mqtt_publish p = { 0 };
	uint8_t *payload = malloc(BIG);

	w_connack(c, a);
	assert_non_null(payload);
	memset(payload, 'z', BIG);
	p.topic.data = (const uint8_t *)"big";
	p.topic.len = 3;
	p.payload = payload;
	p.payload_len = BIG;
	assert_int_equal(client_publish(c, &p), 0);
	free(payload); /* copied */
	assert_true(client_out_pending(c) > BIG);
	assert_false(client_can_publish(c, 0) && client_out_pending(c) > c->opts.max_output);
	client_disconnect(c, 0, NULL);
	assert_int_equal(client_publish(c, &p), CLIENT_ESTATE);
}

static void big_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
		       size_t len)
{
	(void)raw, (void)len;
	if (p->type == MQTT_CONNECT)
		fake_connack(f, 0, NULL);
	if (p->type == MQTT_PUBLISH)
		assert_int_equal(p->u.publish.payload_len, BIG);
}

static void test_disconnect_after_output(void **state)
{
	static const struct client_cbs cb = { .connack = big_connack, .closed = w_closed };
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_311, big_broker);
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->f.count[MQTT_PUBLISH], 1);
	assert_int_equal(w->f.count[MQTT_DISCONNECT], 1);
	assert_int_equal(w->f.last_type, MQTT_DISCONNECT);
	free(w);
}

/* ---- failures ---- */

static void test_nothing_listening(void **state)
{
	static const struct client_cbs cb = { .connack = w_connack, .closed = w_closed };
	struct world *w = world_new();
	uint16_t port;

	(void)state;
	world_init(w, MQTT_LEVEL_311, NULL);
	port = w->f.port;
	uv_close((uv_handle_t *)&w->f.server, NULL); /* the port is free again */
	world_run(w, &cb, "127.0.0.1", port);
	assert_int_equal(w->err, UV_ECONNREFUSED);
	assert_int_equal(w->connacks, 0);
	free(w);
}

static void test_unknown_host(void **state)
{
	static const struct client_cbs cb = { .connack = w_connack, .closed = w_closed };
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_311, NULL);
	world_run(w, &cb, "no-such-host.invalid", 0);
	assert_true(w->err <= UV_EAI_ADDRFAMILY && w->err >= UV_EAI_PROTOCOL);
	free(w);
}

static void test_no_connack_times_out(void **state)
{
	static const struct client_cbs cb = { .connack = w_connack, .closed = w_closed };
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_311, NULL); /* reads CONNECT, answers nothing */
	w->o.connect_timeout_ms = 300;
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, CLIENT_ETIMEOUT);
	assert_int_equal(w->f.count[MQTT_CONNECT], 1);
	free(w);
}

/* What a broker answers CONNECT with, byte for byte, and how it ends. */
static const struct {
	const char *name;
	uint8_t level;
	const uint8_t *bytes;
	size_t len;
	int err;
	uint32_t connacks;
	uint8_t rc;
} answers[] = {
	{ "a PUBLISH before CONNACK", MQTT_LEVEL_311,
	  (const uint8_t[]){ 0x30, 0x03, 0x00, 0x01, 'a' }, 5, CLIENT_EPROTO, 0, 0 },
	{ "a reserved packet type", MQTT_LEVEL_311, (const uint8_t[]){ 0xF0, 0x00 }, 2,
	  CLIENT_EPROTO, 0, 0 },
	{ "a refusal", MQTT_LEVEL_311, (const uint8_t[]){ 0x20, 0x02, 0x00, 0x05 }, 4,
	  CLIENT_EREFUSED, 1, 5 },
	{ "a 3.1.1 refusal of MQTT 5", MQTT_LEVEL_5, (const uint8_t[]){ 0x20, 0x02, 0x00, 0x01 },
	  4, CLIENT_EREFUSED, 1, 1 },
	{ "an MQTT 5 refusal", MQTT_LEVEL_5, (const uint8_t[]){ 0x20, 0x03, 0x00, 0x86, 0x00 }, 5,
	  CLIENT_EREFUSED, 1, 0x86 },
	{ "two CONNACKs", MQTT_LEVEL_311,
	  (const uint8_t[]){ 0x20, 0x02, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00 }, 8, CLIENT_EPROTO, 1,
	  0 },
	{ "a packet over max_packet", MQTT_LEVEL_311,
	  (const uint8_t[]){ 0x20, 0x02, 0x00, 0x00, 0x30, 0xE8, 0x07 }, 7, CLIENT_EPROTO, 1, 0 },
	{ "the server's DISCONNECT", MQTT_LEVEL_5,
	  (const uint8_t[]){ 0x20, 0x03, 0x00, 0x00, 0x00, 0xE0, 0x02, 0x8E, 0x00 }, 9,
	  CLIENT_EDISCONNECTED, 1, 0 },
	{ "a closed connection", MQTT_LEVEL_311, (const uint8_t[]){ 0x20, 0x02, 0x00, 0x00 }, 4,
	  CLIENT_ECLOSED, 1, 0 },
};

static size_t answer_index;

static void answer_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			  size_t len)
{
	(void)raw, (void)len;
	if (p->type != MQTT_CONNECT)
		return;
	fake_send_raw(f, answers[answer_index].bytes, answers[answer_index].len);
	if (answers[answer_index].err == CLIENT_ECLOSED) {
		f->peer_open = false;
		uv_close((uv_handle_t *)&f->peer, NULL);
	}
}

static void count_disconnect(struct client_conn *c, const struct mqtt_reason *r)
{
	(void)c;
	W->disconnects++;
	W->last_reason = r->reason_code;
}

static void test_server_answers(void **state)
{
	static const struct client_cbs cb = {
		.connack = w_connack, .disconnect = count_disconnect, .closed = w_closed,
	};

	(void)state;
	for (answer_index = 0; answer_index < sizeof(answers) / sizeof(answers[0]);
	     answer_index++) {
		struct world *w = world_new();

		world_init(w, answers[answer_index].level, answer_broker);
		w->o.max_packet = 1000;
		world_run(w, &cb, "127.0.0.1", 0);
		if (w->err != answers[answer_index].err)
			fail_msg("%s: closed with %d (%s), want %d", answers[answer_index].name,
				 w->err, client_strerror(w->err), answers[answer_index].err);
		assert_int_equal(w->connacks, answers[answer_index].connacks);
		assert_int_equal(w->connack_rc, answers[answer_index].rc);
		if (w->err == CLIENT_EDISCONNECTED) {
			assert_int_equal(w->disconnects, 1);
			assert_int_equal(w->last_reason, 0x8E);
		}
		free(w);
	}
}

/* ---- limits the server set ---- */

static void limits_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct mqtt_publish p = { 0 };
	uint8_t payload[100] = { 0 };

	w_connack(c, a);
	p.topic.data = (const uint8_t *)"t";
	p.topic.len = 1;
	p.payload = payload;
	p.payload_len = sizeof(payload);
	assert_int_equal(client_publish(c, &p), CLIENT_ETOOBIG); /* above 64 bytes */
	p.payload_len = 40;
	assert_int_equal(client_publish(c, &p), 0);
	p.qos = 3;
	assert_int_equal(client_publish(c, &p), CLIENT_EINVAL);
	assert_int_equal(c->server.maximum_qos, 1);
	assert_false(c->server.retain_available);
	assert_int_equal(c->server.topic_alias_maximum, 4);
	client_disconnect(c, 0, NULL);
}

static void limits_broker(struct fake *f, const struct mqtt_packet *p, const uint8_t *raw,
			  size_t len)
{
	struct mqtt_props props;

	(void)raw, (void)len;
	if (p->type != MQTT_CONNECT)
		return;
	mqtt_props_clear(&props);
	props.maximum_packet_size = 64;
	props.maximum_qos = 1;
	props.retain_available = 0;
	props.topic_alias_maximum = 4;
	props.present = MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
			MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_QOS) |
			MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE) |
			MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
	fake_connack(f, 0, &props);
}

static void test_server_limits(void **state)
{
	static const struct client_cbs cb = { .connack = limits_connack, .closed = w_closed };
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_5, limits_broker);
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->f.count[MQTT_PUBLISH], 1);
	free(w);
}

static void test_strerror_and_reasons(void **state)
{
	(void)state;
	assert_string_equal(client_reason_name(0x87, MQTT_SUBACK, MQTT_LEVEL_5), "Not authorized");
	assert_string_equal(client_reason_name(0x80, MQTT_SUBACK, MQTT_LEVEL_311), "Failure");
	assert_string_equal(client_reason_name(4, MQTT_CONNACK, MQTT_LEVEL_311),
			    "Bad user name or password");
	assert_string_equal(client_reason_name(0x86, MQTT_CONNACK, MQTT_LEVEL_5),
			    "Bad User Name or Password");
	assert_string_equal(client_reason_name(9, MQTT_CONNACK, MQTT_LEVEL_311),
			    "Unknown return code");
	assert_string_equal(client_reason_name(0x00, MQTT_DISCONNECT, MQTT_LEVEL_5),
			    "Normal disconnection");
	assert_string_equal(client_reason_name(0x7F, MQTT_PUBACK, MQTT_LEVEL_5),
			    "Unknown reason code");
	assert_string_equal(client_strerror(CLIENT_ETIMEOUT), "timed out");
	assert_string_equal(client_strerror(UV_ECONNREFUSED), "connection refused");
}

/* ---- over WebSocket ---- */

static void world_ws(struct world *w, uint32_t frame_max)
{
	w->o.ws_path = "/mqtt";
	w->f.ws = true;
	w->f.frame_max = frame_max;
}

/* The QoS 1 and 2 flows of the window test, the acknowledgements cut
 * into frames of 1 to 5 bytes, a ping before CONNACK. */
static void test_ws_flows(void **state)
{
	static const struct client_cbs cb = {
		.connack = pub_connack, .published = pub_published, .closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_5, window_broker);
	world_ws(w, 5);
	w->f.ping_first = true;
	w->window = 50;
	w->to_publish = 3000;
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->err, 0);
	assert_true(w->f.upgraded);
	assert_int_equal(w->published, 3000);
	assert_int_equal(w->f.count[MQTT_PUBLISH], 3000);
	assert_int_equal(w->f.count[MQTT_PUBREL], 3000 / 7);
	assert_int_equal(w->f.count[MQTT_DISCONNECT], 1);
	free(w);
}

/* Incoming QoS 0 PUBLISHes in frames of 1 to 3 bytes: each arrives
 * whole, then the server's close frame ends the connection. */
static void close_after_three(struct fake *f, const struct mqtt_packet *p,
			      const uint8_t *raw, size_t len)
{
	static const uint8_t close_frame[] = { 0x88, 0x02, 0x03, 0xE8 };
	static const uint8_t pubs[] = { 0x30, 0x05, 0x00, 0x01, 'a', 'b', 'c',
					0x30, 0x04, 0x00, 0x01, 'a', 'b',
					0x30, 0x03, 0x00, 0x01, 'a' };

	(void)raw, (void)len;
	if (p->type != MQTT_CONNECT)
		return;
	fake_connack(f, 0, NULL);
	fake_send_raw(f, pubs, sizeof(pubs));
	fake_write(f, close_frame, sizeof(close_frame));
}

static void count_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	(void)c, (void)again;
	assert_int_equal(p->topic.len, 1);
	W->messages++;
}

static void test_ws_messages_then_close(void **state)
{
	static const struct client_cbs cb = {
		.connack = w_connack, .message = count_message, .closed = w_closed,
	};
	struct world *w = world_new();

	(void)state;
	world_init(w, MQTT_LEVEL_311, close_after_three);
	world_ws(w, 3);
	world_run(w, &cb, "127.0.0.1", 0);
	assert_int_equal(w->connacks, 1);
	assert_int_equal(w->messages, 3);
	assert_int_equal(w->err, CLIENT_ECLOSED);
	free(w);
}

/* Answers to the upgrade that end the connection before CONNECT. */
static void test_ws_bad_answers(void **state)
{
	static const struct client_cbs cb = { .connack = w_connack, .closed = w_closed };
	static char big[9000];
	static const struct {
		const char *answer;
		int err;
	} cases[] = {
		{ "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", CLIENT_EUPGRADE },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		  "Connection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n"
		  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", CLIENT_EHANDSHAKE },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		  "Connection: Upgrade\r\n\r\n", CLIENT_EHANDSHAKE },
		{ big, CLIENT_EHANDSHAKE },
	};

	(void)state;
	memcpy(big, "HTTP/1.1 101 OK\r\nX: ", 20);
	memset(big + 20, 'x', sizeof(big) - 21); /* no end of headers in 8 KiB */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct world *w = world_new();

		world_init(w, MQTT_LEVEL_311, NULL);
		world_ws(w, 1);
		w->f.answer = cases[i].answer;
		world_run(w, &cb, "127.0.0.1", 0);
		assert_int_equal(w->err, cases[i].err);
		assert_int_equal(w->connacks, 0);
		assert_int_equal(w->f.count[MQTT_CONNECT], 0);
		free(w);
	}
	assert_non_null(strstr(client_strerror(CLIENT_EUPGRADE), "WebSocket"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_ids_wrap_and_out_of_order_acks),
		cmocka_unit_test(test_own_window_in_311),
		cmocka_unit_test(test_incoming_qos_flows),
		cmocka_unit_test(test_subscribe_unsubscribe),
		cmocka_unit_test(test_keepalive_ping_then_timeout),
		cmocka_unit_test(test_disconnect_after_output),
		cmocka_unit_test(test_nothing_listening),
		cmocka_unit_test(test_unknown_host),
		cmocka_unit_test(test_no_connack_times_out),
		cmocka_unit_test(test_server_answers),
		cmocka_unit_test(test_server_limits),
		cmocka_unit_test(test_strerror_and_reasons),
		cmocka_unit_test(test_ws_flows),
		cmocka_unit_test(test_ws_messages_then_close),
		cmocka_unit_test(test_ws_bad_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
