/*
 * test_broker.c - the broker core driven through its public API with no
 * sockets: clients are fed encoded packets and what the broker sends them is
 * decoded back, packet by packet, from their output buffers. Time only moves
 * through broker_set_time and broker_tick.
 */
#include "broker_client.h"

#include "base/log.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the broker sent (the rest: broker_client.h) ---- */

/* Pops n retained PUBLISH packets and checks they carry exactly these topics,
 * in any order (the order of a wildcard match is not specified). */
static void expect_retained_set(struct broker_client *c, const char *const *topics, size_t n)
{
	bool seen[16] = { false };

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		struct mqtt_packet p;
		size_t k;

		expect_packet(c, MQTT_PUBLISH, &p);
		assert_true(p.u.publish.retain);
		for (k = 0; k < n; k++) {
			if (strlen(topics[k]) == p.u.publish.topic.len &&
			    memcmp(topics[k], p.u.publish.topic.data, p.u.publish.topic.len) == 0)
				break;
		}
		if (k == n)
			fail_msg("unexpected retained topic '%.*s'", (int)p.u.publish.topic.len,
				 (const char *)p.u.publish.topic.data);
		assert_false(seen[k]);
		seen[k] = true;
	}
}

/* ---- client sessions (MQTT 3.1.1; the rest: broker_client.h) ---- */

struct will {
	const char *topic;
	const char *payload;
	uint8_t qos;
	bool retain;
};

/* A new connection with a will, whose CONNECT must be accepted. */
static struct broker_client *connect_will(struct broker *b, const char *id, bool clean,
					  uint16_t keepalive, const struct will *w)
{
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, id, clean, keepalive, 0);

	set_will(&cp, w->topic, w->payload, w->qos, w->retain);
	return connect_packet_ok(b, &cp, false, NULL);
}

/* Sends a CONNECT that must be refused with rc, then frees the client. */
static void connect_refused(struct broker *b, struct broker_client *c, const char *id, bool clean,
			    uint16_t keepalive, uint8_t rc)
{
	uint32_t connected = stats(b)->clients_connected;
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, id, clean, keepalive, 0);

	client_send(b, c, &cp);
	expect_connack(c, false, rc, NULL); /* [MQTT-3.2.2-4] session present 0 */
	expect_nothing(c);
	assert_closed(c, CLOSE_REFUSED);
	assert_int_equal(stats(b)->clients_connected, connected);
	free_client(b, c);
}

static void disconnect_client(struct broker *b, struct broker_client *c)
{
	client_send_simple(b, c, MQTT_DISCONNECT);
	assert_closed(c, CLOSE_DISCONNECT);
	free_client(b, c);
}

/* ---- CONNECT ---- */

static void test_connect_accepted(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c;

	(void)state;
	c = connect311(b, "alpha", true, 0, false);
	expect_nothing(c);
	assert_int_equal(c->level, MQTT_LEVEL_311);
	assert_int_equal(stats(b)->clients_connected, 1);
	assert_int_equal(stats(b)->clients_total_connects, 1);
	assert_int_equal(stats(b)->sessions, 1);
	disconnect_client(b, c);
	assert_int_equal(stats(b)->clients_connected, 0);
	assert_int_equal(stats(b)->sessions, 0);
	free_broker(b);
}

static void test_connect_session_present(void **state)
{
	struct broker *b = default_broker();

	(void)state;
	drop_client(b, connect311(b, "p", false, 0, false));
	assert_int_equal(stats(b)->sessions, 1);
	drop_client(b, connect311(b, "p", false, 0, true));
	/* clean_session 1 discards the stored session [MQTT-3.1.2-6] */
	drop_client(b, connect311(b, "p", true, 0, false));
	assert_int_equal(stats(b)->sessions, 0);
	drop_client(b, connect311(b, "p", false, 0, false));
	free_broker(b);
}

static void test_connect_empty_id(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c1, *c2, *c3;

	(void)state;
	/* Each gets its own assigned identifier: neither takes the other over. */
	c1 = connect311(b, "", true, 0, false);
	c2 = connect311(b, "", true, 0, false);
	assert_int_equal(c1->state, CLIENT_CONNECTED);
	assert_int_equal(stats(b)->clients_connected, 2);

	c3 = new_client(b);
	connect_refused(b, c3, "", false, 0, MQTT_CONNACK_ID_REJECTED); /* [MQTT-3.1.3-8] */
	drop_client(b, c1);
	drop_client(b, c2);
	free_broker(b);
}

static void test_connect_mqtt31(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b), *bad = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_31, "old-client", true, 30, 0);

	(void)state;
	client_send(b, c, &cp);
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED, NULL);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	assert_int_equal(c->level, MQTT_LEVEL_31);
	subscribe311(b, c, "t", 1);

	/* MQTT 3.1 has no server-assigned identifiers. */
	cp = connect_packet(MQTT_LEVEL_31, "", true, 30, 0);
	client_send(b, bad, &cp);
	expect_connack(bad, false, MQTT_CONNACK_ID_REJECTED, NULL);
	assert_closed(bad, CLOSE_REFUSED);
	free_client(b, bad);
	drop_client(b, c);
	free_broker(b);
}

/* CONNECT with protocol name "MQTT" and the given level, laid out as MQTT 5
 * would (a property length byte after the keepalive). */
static size_t connect_bytes_level(uint8_t level, uint8_t *out)
{
	static const uint8_t tmpl[] = {
		0x10, 14,                       /* CONNECT, remaining length */
		0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
		0x00,                           /* level, patched */
		0x02,                           /* clean start */
		0x00, 0x3C,                     /* keepalive 60 */
		0x00,                           /* property length */
		0x00, 0x01, 'x',                /* client id */
	};

	memcpy(out, tmpl, sizeof(tmpl));
	out[8] = level;
	return sizeof(tmpl);
}

static void test_connect_unsupported_level(void **state)
{
	static const uint8_t levels[] = { 6, 2, 7 };
	struct broker *b = default_broker();

	(void)state;
	for (size_t i = 0; i < sizeof(levels); i++) {
		struct broker_client *c = new_client(b);
		uint8_t buf[32];
		size_t n = connect_bytes_level(levels[i], buf);

		feed(b, c, buf, n);
		expect_connack(c, false, MQTT_CONNACK_BAD_VERSION, NULL); /* [MQTT-3.1.2-2] */
		expect_nothing(c);
		assert_closed(c, CLOSE_REFUSED);
		free_client(b, c);
	}
	assert_int_equal(stats(b)->clients_connected, 0);
	free_broker(b);
}

/* A level-5 CONNECT is accepted and answered with an MQTT 5 CONNACK that
 * states the broker's limits. */
static void test_connect_mqtt5_accepted(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b);
	struct mqtt_packet pkt;
	uint8_t buf[32], out[256];
	size_t n = connect_bytes_level(5, buf), got;
	long len;

	(void)state;
	feed(b, c, buf, n);
	got = outbuf_copy(&c->out, out, sizeof(out));
	len = mqtt_decode(out, got, MQTT_LEVEL_5, 0, &pkt);
	assert_int_equal(len, (long)got);
	assert_int_equal(pkt.type, MQTT_CONNACK);
	assert_int_equal(pkt.u.connack.return_code, 0);
	assert_false(pkt.u.connack.session_present);
	assert_true(pkt.u.connack.props.present & MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE));
	assert_int_equal(pkt.u.connack.props.maximum_packet_size,
			 broker_get_config(b)->max_packet_size);
	/* Absent means available: shared subscriptions are supported. */
	assert_false(pkt.u.connack.props.present & MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE));
	assert_int_equal(c->state, CLIENT_CONNECTED);
	assert_int_equal(c->level, MQTT_LEVEL_5);
	free_client(b, c);
	free_broker(b);
}

static void test_connect_first_packet_not_connect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *ping = new_client(b), *pub = new_client(b);

	(void)state;
	client_send_simple(b, ping, MQTT_PINGREQ);
	assert_closed(ping, CLOSE_PROTOCOL);
	expect_nothing(ping);

	client_send_publish(b, pub, "t", "x", 0, 0);
	assert_closed(pub, CLOSE_PROTOCOL);
	expect_nothing(pub);
	assert_int_equal(stats(b)->msgs_received, 0);

	free_client(b, ping);
	free_client(b, pub);
	free_broker(b);
}

static void test_connect_second_connect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect311(b, "twice", true, 0, false);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, "twice", true, 0, 0);

	(void)state;
	client_send(b, c, &cp); /* [MQTT-3.1.0-2] */
	assert_closed(c, CLOSE_PROTOCOL);
	expect_nothing(c);
	assert_int_equal(stats(b)->clients_connected, 0);
	free_client(b, c);
	free_broker(b);
}

static void test_connect_not_authorized(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client_on(b, false);

	(void)state;
	connect_refused(b, c, "anon", true, 0, MQTT_CONNACK_NOT_AUTHORIZED);
	assert_int_equal(stats(b)->sessions, 0);
	free_broker(b);
}

static void test_connect_keepalive_max(void **state)
{
	static const uint16_t refused[] = { 120, 0, 61 };
	static const uint16_t accepted[] = { 60, 1, 30 };
	struct broker_config cfg;
	struct broker *b;

	(void)state;
	test_config(&cfg);
	cfg.keepalive_max = 60;
	b = new_broker(&cfg);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct broker_client *c = new_client(b);

		connect_refused(b, c, "ka", true, refused[i], MQTT_CONNACK_ID_REJECTED);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		struct broker_client *c = connect311(b, "ka", true, accepted[i], false);

		assert_int_equal(c->keepalive, accepted[i]);
		drop_client(b, c);
	}
	free_broker(b);
}

/* ---- takeover ---- */

static void test_takeover_publishes_will(void **state)
{
	const struct will w = { "wills/dev", "dev lost", 1, false };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *first, *second;

	(void)state;
	subscribe311(b, watch, "wills/#", 1);
	first = connect_will(b, "dev", false, 0, &w);
	subscribe311(b, first, "dev/in", 1);

	second = connect311(b, "dev", false, 0, true); /* [MQTT-3.1.4-2] */
	expect_nothing(second);
	assert_closed(first, CLOSE_TAKEN_OVER);
	expect_nothing(first);
	expect_publish(watch, "wills/dev", "dev lost", 1, false, NULL);
	assert_int_equal(stats(b)->clients_connected, 2);

	/* The session, with its subscription, now belongs to the new connection. */
	publish(b, watch, "dev/in", "hello", 1, false);
	expect_publish(second, "dev/in", "hello", 1, false, NULL);
	expect_nothing(first);

	free_client(b, first);
	drop_client(b, second);
	drop_client(b, watch);
	free_broker(b);
}

static void test_takeover_clean_session(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *first = connect311(b, "dev", false, 0, false);
	struct broker_client *second, *pub;

	(void)state;
	subscribe311(b, first, "dev/in", 1);
	second = connect311(b, "dev", true, 0, false);
	assert_closed(first, CLOSE_TAKEN_OVER);
	assert_int_equal(stats(b)->subscriptions, 0);

	pub = connect311(b, "pub", true, 0, false);
	publish(b, pub, "dev/in", "hello", 1, false);
	expect_nothing(second);
	expect_nothing(first);

	free_client(b, first);
	drop_client(b, second);

	/* A clean session taken over is gone: nothing to resume. */
	first = connect311(b, "dev2", true, 0, false);
	second = connect311(b, "dev2", false, 0, false);
	assert_closed(first, CLOSE_TAKEN_OVER);
	free_client(b, first);
	drop_client(b, second);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- keepalive and timeouts ---- */

static void test_keepalive_timeout(void **state)
{
	const struct will w = { "wills/k", "timed out", 0, false };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *c = connect_will(b, "k", true, 10, &w);

	(void)state;
	subscribe311(b, watch, "wills/k", 0);
	set_time(b, 14900);
	broker_tick(b);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	expect_nothing(watch);

	set_time(b, 15000); /* 1.5 x keepalive [MQTT-3.1.2-24] */
	broker_tick(b);
	assert_closed(c, CLOSE_KEEPALIVE);
	expect_publish(watch, "wills/k", "timed out", 0, false, NULL);
	assert_int_equal(watch->state, CLIENT_CONNECTED); /* keepalive 0: never */

	free_client(b, c);
	drop_client(b, watch);
	free_broker(b);
}

static void test_keepalive_reset_by_input(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect311(b, "k", true, 10, false);

	(void)state;
	set_time(b, 10000);
	client_send_simple(b, c, MQTT_PINGREQ);
	expect_packet(c, MQTT_PINGRESP, &(struct mqtt_packet){ 0 });
	set_time(b, 24999);
	broker_tick(b);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	set_time(b, 25000);
	broker_tick(b);
	assert_closed(c, CLOSE_KEEPALIVE);
	free_client(b, c);
	free_broker(b);
}

static void test_keepalive_min_enforced(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c;

	(void)state;
	test_config(&cfg);
	cfg.keepalive_min = 20;
	b = new_broker(&cfg);
	c = connect311(b, "k", true, 5, false);
	assert_int_equal(c->keepalive, 20);
	set_time(b, 29999);
	broker_tick(b);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	set_time(b, 30000);
	broker_tick(b);
	assert_closed(c, CLOSE_KEEPALIVE);
	free_client(b, c);
	free_broker(b);
}

static void test_connect_timeout(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *silent, *late;

	(void)state;
	test_config(&cfg);
	cfg.connect_timeout_ms = 5000;
	b = new_broker(&cfg);
	silent = new_client(b);
	set_time(b, 1000);
	late = new_client(b);

	set_time(b, 4999);
	broker_tick(b);
	assert_int_equal(silent->state, CLIENT_NEW);
	set_time(b, 5000);
	broker_tick(b);
	assert_closed(silent, CLOSE_CONNECT_TIMEOUT);
	expect_nothing(silent);
	assert_int_equal(late->state, CLIENT_NEW); /* its 5 s count from its accept */

	set_time(b, 6000);
	broker_tick(b);
	assert_closed(late, CLOSE_CONNECT_TIMEOUT);
	free_client(b, silent);
	free_client(b, late);
	free_broker(b);
}

/* ---- will ---- */

static void test_will_on_peer_close_retained(void **state)
{
	const struct will w = { "status/dev", "offline", 1, true };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w);
	struct broker_client *later;

	(void)state;
	subscribe311(b, watch, "status/+", 2);
	drop_client(b, dev);
	/* Delivered at the will QoS; live deliveries carry retain 0. */
	expect_publish(watch, "status/dev", "offline", 1, false, NULL);
	assert_int_equal(stats(b)->retained, 1);

	later = connect311(b, "later", true, 0, false);
	subscribe311(b, later, "status/#", 2);
	expect_publish(later, "status/dev", "offline", 1, true, NULL);
	expect_nothing(later);

	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

static void test_will_not_on_disconnect(void **state)
{
	const struct will w = { "status/dev", "offline", 1, true };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w);
	struct broker_client *later;

	(void)state;
	subscribe311(b, watch, "status/#", 1);
	disconnect_client(b, dev); /* [MQTT-3.1.2-10] */
	expect_nothing(watch);
	assert_int_equal(stats(b)->retained, 0);

	later = connect311(b, "later", true, 0, false);
	subscribe311(b, later, "status/#", 1);
	expect_nothing(later);

	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

static void test_will_on_protocol_error(void **state)
{
	const struct will w = { "status/dev", "broken", 0, false };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w);
	static const uint8_t reserved[] = { 0x00, 0x00 };

	(void)state;
	subscribe311(b, watch, "status/#", 0);
	feed(b, dev, reserved, sizeof(reserved));
	assert_closed(dev, CLOSE_PROTOCOL);
	expect_publish(watch, "status/dev", "broken", 0, false, NULL);
	free_client(b, dev);
	drop_client(b, watch);
	free_broker(b);
}

/* Clients cannot write the broker's $SYS tree (a PUBLISH there is dropped);
 * a will is a client's message too and must not get around that. */
static void test_will_cannot_write_sys(void **state)
{
	const struct will w = { "$SYS/broker/version", "spoofed", 0, true };
	struct broker *b = default_broker();
	struct broker_client *watch = connect311(b, "watch", true, 0, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w);
	struct broker_client *later;

	(void)state;
	subscribe311(b, watch, "$SYS/#", 0);
	drop_client(b, dev);
	expect_nothing(watch);
	assert_int_equal(stats(b)->retained, 0);

	later = connect311(b, "later", true, 0, false);
	subscribe311(b, later, "$SYS/broker/version", 0);
	expect_nothing(later);
	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

/* ---- QoS flows ---- */

static void test_qos_levels_downgrade(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub[3];
	const char *names[3] = { "s0", "s1", "s2" };
	const char *topics[3] = { "q/0", "q/1", "q/2" };

	(void)state;
	for (uint8_t s = 0; s < 3; s++) {
		sub[s] = connect311(b, names[s], true, 0, false);
		subscribe311(b, sub[s], "q/#", s);
	}
	for (uint8_t q = 0; q < 3; q++) {
		publish(b, pub, topics[q], "m", q, false);
		for (uint8_t s = 0; s < 3; s++) {
			uint8_t want = q < s ? q : s;
			uint16_t id = expect_publish(sub[s], topics[q], "m", want, false, NULL);

			if (want == 1) {
				client_send_ack(b, sub[s], MQTT_PUBACK, id);
			} else if (want == 2) {
				client_send_ack(b, sub[s], MQTT_PUBREC, id);
				expect_ack(sub[s], MQTT_PUBREL, id, 0);
				client_send_ack(b, sub[s], MQTT_PUBCOMP, id);
			}
			expect_nothing(sub[s]);
		}
	}
	expect_nothing(pub);
	for (int s = 0; s < 3; s++)
		drop_client(b, sub[s]);
	drop_client(b, pub);
	free_broker(b);
}

static void test_qos1_publisher_puback(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);

	(void)state;
	subscribe311(b, sub, "t", 1);
	client_send_publish(b, pub, "t", "one", 1, 0x1234);
	expect_ack(pub, MQTT_PUBACK, 0x1234, 0);
	expect_nothing(pub);
	expect_publish(sub, "t", "one", 1, false, NULL);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_publisher_flow(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);

	(void)state;
	subscribe311(b, sub, "t", 2);
	client_send_publish(b, pub, "t", "two", 2, 77);
	expect_ack(pub, MQTT_PUBREC, 77, 0);
	expect_nothing(pub);
	client_send_ack(b, pub, MQTT_PUBREL, 77);
	expect_ack(pub, MQTT_PUBCOMP, 77, 0);
	expect_nothing(pub);
	expect_publish(sub, "t", "two", 2, false, NULL);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* A broker with a small outgoing window: with room for one message, each
 * completed flow is visible as the next message being sent. */
static struct broker *window_broker(uint16_t max_inflight)
{
	struct broker_config cfg;

	test_config(&cfg);
	cfg.max_inflight = max_inflight;
	return new_broker(&cfg);
}

static void test_qos1_delivery_awaits_puback(void **state)
{
	struct broker *b = window_broker(1);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	uint16_t id;

	(void)state;
	subscribe311(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	id = expect_publish(sub, "t", "m1", 1, false, NULL);
	expect_nothing(sub);
	client_send_ack(b, sub, MQTT_PUBACK, (uint16_t)(id + 100)); /* unknown id: ignored */
	expect_nothing(sub);
	client_send_ack(b, sub, MQTT_PUBACK, id);
	expect_publish(sub, "t", "m2", 1, false, NULL);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_outgoing_flow(void **state)
{
	struct broker *b = window_broker(1);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	uint16_t id;

	(void)state;
	subscribe311(b, sub, "t", 2);
	publish(b, pub, "t", "m1", 2, false);
	publish(b, pub, "t", "m2", 2, false);
	id = expect_publish(sub, "t", "m1", 2, false, NULL);
	expect_nothing(sub);
	/* (Acks of the wrong kind: test_broker_input.c.) */
	client_send_ack(b, sub, MQTT_PUBREC, id);
	expect_ack(sub, MQTT_PUBREL, id, 0);
	expect_nothing(sub); /* the id stays in use until PUBCOMP */
	client_send_ack(b, sub, MQTT_PUBREC, id); /* repeated: PUBREL again */
	expect_ack(sub, MQTT_PUBREL, id, 0);
	expect_nothing(sub);
	client_send_ack(b, sub, MQTT_PUBCOMP, id);
	expect_publish(sub, "t", "m2", 2, false, NULL);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_exactly_once_receive(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	struct mqtt_packet resend = publish_packet("t", "first", 5, 2, false, 7);

	(void)state;
	resend.u.publish.dup = true;
	subscribe311(b, sub, "t", 0);
	client_send_publish(b, pub, "t", "first", 2, 7);
	expect_ack(pub, MQTT_PUBREC, 7, 0);
	client_send(b, pub, &resend); /* resend, DUP */
	expect_ack(pub, MQTT_PUBREC, 7, 0);
	expect_publish(sub, "t", "first", 0, false, NULL);
	expect_nothing(sub); /* [MQTT-4.3.3-2] */

	client_send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7, 0);
	/* Released: the id can carry a new message. */
	client_send_publish(b, pub, "t", "second", 2, 7);
	expect_ack(pub, MQTT_PUBREC, 7, 0);
	expect_publish(sub, "t", "second", 0, false, NULL);
	expect_nothing(sub);
	client_send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7, 0);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* The QoS 2 id survives a reconnect of a persistent session: the client's
 * resend after reconnecting is still recognised. */
static void test_qos2_exactly_once_across_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", false, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	struct mqtt_packet resend = publish_packet("t", "once", 4, 2, false, 9);

	(void)state;
	resend.u.publish.dup = true;
	subscribe311(b, sub, "t", 0);
	client_send_publish(b, pub, "t", "once", 2, 9);
	expect_ack(pub, MQTT_PUBREC, 9, 0);
	drop_client(b, pub);
	expect_publish(sub, "t", "once", 0, false, NULL);

	pub = connect311(b, "pub", false, 0, true);
	client_send(b, pub, &resend);
	expect_ack(pub, MQTT_PUBREC, 9, 0);
	client_send_ack(b, pub, MQTT_PUBREL, 9);
	expect_ack(pub, MQTT_PUBCOMP, 9, 0);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_overlapping_subscriptions(void **state)
{
	static const char *const filters[] = { "a/#", "a/+", "a/b" };
	static const uint8_t qos[] = { 0, 2, 1 };
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);

	(void)state;
	client_send_subscribe(b, sub, 5, filters, qos, 3);
	expect_suback(sub, 5, qos, 3);
	publish(b, pub, "a/b", "once", 2, false);
	expect_publish(sub, "a/b", "once", 2, false, NULL); /* [MQTT-3.3.5-1] */
	expect_nothing(sub);

	/* "a/c" matches "a/#" (0) and "a/+" (2); "a/b/c" and "a" only "a/#". */
	publish(b, pub, "a/c", "c", 1, false);
	expect_publish(sub, "a/c", "c", 1, false, NULL);
	publish(b, pub, "a/b/c", "deep", 2, false);
	expect_publish(sub, "a/b/c", "deep", 0, false, NULL);
	publish(b, pub, "a", "parent", 2, false);
	expect_publish(sub, "a", "parent", 0, false, NULL);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* The examples of MQTT 3.1.1 section 4.7: which filter matches which topic. */
static void test_wildcard_routing(void **state)
{
	static const char *const topics[] = {
		"sport/tennis/player1", "sport/tennis/player1/ranking",
		"sport/tennis/player1/score/wimbledon", "sport", "sport/", "/finance",
		"sport/tennis",
	};
	static const struct {
		const char *filter;
		const char *matches; /* one character per topic above */
	} rows[] = {
		{ "sport/tennis/player1/#", "1110000" },
		{ "sport/tennis/+", "1000000" },
		{ "sport/+", "0000101" },
		{ "sport/#", "1111101" },
		{ "+/tennis/#", "1110001" },
		{ "+/+", "0000111" },
		{ "/+", "0000010" },
		{ "+", "0001000" },
		{ "#", "1111111" },
	};
	enum { NROWS = sizeof(rows) / sizeof(rows[0]) };
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub[NROWS];
	char id[8];

	(void)state;
	for (size_t r = 0; r < NROWS; r++) {
		snprintf(id, sizeof(id), "s%zu", r);
		sub[r] = connect311(b, id, true, 0, false);
		subscribe311(b, sub[r], rows[r].filter, 0);
	}
	for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
		publish(b, pub, topics[t], "x", 0, false);
		for (size_t r = 0; r < NROWS; r++) {
			struct mqtt_packet p;
			bool got = pop_packet(sub[r], &p);

			if (got != (rows[r].matches[t] == '1'))
				fail_msg("filter '%s', topic '%s': %s", rows[r].filter, topics[t],
					 got ? "delivered" : "not delivered");
			expect_nothing(sub[r]);
		}
	}
	for (size_t r = 0; r < NROWS; r++)
		drop_client(b, sub[r]);
	drop_client(b, pub);
	free_broker(b);
}

static void test_max_qos2_pending(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub;

	(void)state;
	test_config(&cfg);
	cfg.receive_maximum = 2;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	client_send_publish(b, pub, "t", "1", 2, 1);
	client_send_publish(b, pub, "t", "2", 2, 2);
	expect_ack(pub, MQTT_PUBREC, 1, 0);
	expect_ack(pub, MQTT_PUBREC, 2, 0);
	client_send_ack(b, pub, MQTT_PUBREL, 1);
	expect_ack(pub, MQTT_PUBCOMP, 1, 0);
	client_send_publish(b, pub, "t", "3", 2, 3); /* 1 was released */
	expect_ack(pub, MQTT_PUBREC, 3, 0);
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	client_send_publish(b, pub, "t", "4", 2, 4);
	assert_closed(pub, CLOSE_PROTOCOL);
	free_client(b, pub);
	free_broker(b);
}

/* ---- SUBSCRIBE and UNSUBSCRIBE ---- */

static void test_suback_codes(void **state)
{
	/* (Malformed filters close a 3.1.1 connection: test_broker_input.c.) */
	static const char *const filters[] = { "ok/+", "#", "+/x/#", "q2" };
	static const uint8_t qos[] = { 1, 0, 1, 2 };
	struct broker *b = default_broker();
	struct broker_client *c = connect311(b, "c", true, 0, false);

	(void)state;
	client_send_subscribe(b, c, 300, filters, qos, 4);
	expect_suback(c, 300, qos, 4);
	expect_nothing(c);
	assert_int_equal(stats(b)->subscriptions, 4);
	drop_client(b, c);
	assert_int_equal(stats(b)->subscriptions, 0);
	free_broker(b);
}

/* Topics and filters of up to 128 levels are accepted; one level more gets
 * SUBACK 0x80 for a filter and closes the connection for a PUBLISH (the trie
 * walks recurse per level). */
static void levels(char *out, size_t cap, int n)
{
	size_t pos = 0;

	for (int i = 0; i < n && pos + 2 < cap; i++) {
		if (i)
			out[pos++] = '/';
		out[pos++] = 'a';
	}
	out[pos] = '\0';
}

static void test_topic_levels_limit(void **state)
{
	char deep[300], deeper[300];
	const char *filters[2] = { deep, deeper };
	static const uint8_t qos[] = { 0, 0 };
	static const uint8_t codes[] = { 0, 0x80 };
	struct broker *b = default_broker();
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *bad = connect311(b, "bad", true, 0, false);

	(void)state;
	levels(deep, sizeof(deep), 128);
	levels(deeper, sizeof(deeper), 129);
	client_send_subscribe(b, sub, 7, filters, qos, 2);
	expect_suback(sub, 7, codes, 2);
	client_send_publish(b, pub, deep, "x", 0, 0);
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	assert_int_equal(stats(b)->msgs_sent, 1); /* the 128-level message went out */
	client_send_publish(b, bad, deeper, "x", 0, 0);
	assert_closed(bad, CLOSE_PROTOCOL);
	drop_client(b, sub);
	drop_client(b, pub);
	free_client(b, bad);
	free_broker(b);
}

static void test_max_subscriptions(void **state)
{
	static const char *const filters[] = { "s/1", "s/2", "s/3" };
	static const uint8_t qos[] = { 0, 1, 0 };
	static const uint8_t codes[] = { 0, 1, 0x80 };
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c, *pub;

	(void)state;
	test_config(&cfg);
	cfg.max_subscriptions = 2;
	b = new_broker(&cfg);
	c = connect311(b, "c", true, 0, false);
	pub = connect311(b, "pub", true, 0, false);
	publish(b, pub, "s/3", "retained", 0, true);
	client_send_subscribe(b, c, 1, filters, qos, 3);
	expect_suback(c, 1, codes, 3);
	expect_nothing(c); /* no retained message for a refused filter */
	assert_int_equal(stats(b)->subscriptions, 2);

	/* Replacing an existing subscription is not a new one [MQTT-3.8.4-3]. */
	subscribe311(b, c, "s/1", 2);
	assert_int_equal(stats(b)->subscriptions, 2);

	publish(b, pub, "s/3", "refused filter", 0, false);
	expect_nothing(c);
	publish(b, pub, "s/1", "upgraded", 2, false);
	expect_publish(c, "s/1", "upgraded", 2, false, NULL);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

static void test_unsubscribe(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);

	(void)state;
	subscribe311(b, sub, "u/1", 0);
	subscribe311(b, sub, "u/2", 0);
	publish(b, pub, "u/1", "before", 0, false);
	expect_publish(sub, "u/1", "before", 0, false, NULL);

	client_send_unsubscribe(b, sub, 4242, (const char *const[]){ "u/1" }, 1);
	expect_ack(sub, MQTT_UNSUBACK, 4242, 0);
	assert_int_equal(stats(b)->subscriptions, 1);
	publish(b, pub, "u/1", "after", 0, false);
	expect_nothing(sub);
	publish(b, pub, "u/2", "other", 0, false);
	expect_publish(sub, "u/2", "other", 0, false, NULL);

	/* Unknown filters are acknowledged too [MQTT-3.10.4-5]. */
	client_send_unsubscribe(b, sub, 4243, (const char *const[]){ "never/subscribed" }, 1);
	expect_ack(sub, MQTT_UNSUBACK, 4243, 0);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ---- $ topics ---- */

static void test_dollar_topics(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *all = connect311(b, "all", true, 0, false);
	struct broker_client *plus = connect311(b, "plus", true, 0, false);
	struct broker_client *foo = connect311(b, "foo", true, 0, false);

	(void)state;
	subscribe311(b, all, "#", 0);
	subscribe311(b, plus, "+/x", 0);
	subscribe311(b, foo, "$foo/#", 0);

	publish(b, pub, "$foo", "root", 0, false);
	publish(b, pub, "$foo/x", "dollar", 0, false);
	expect_nothing(all); /* [MQTT-4.7.2-1] */
	expect_nothing(plus);
	expect_publish(foo, "$foo", "root", 0, false, NULL);
	expect_publish(foo, "$foo/x", "dollar", 0, false, NULL);

	publish(b, pub, "foo/x", "plain", 0, false);
	expect_publish(all, "foo/x", "plain", 0, false, NULL);
	expect_publish(plus, "foo/x", "plain", 0, false, NULL);
	expect_nothing(foo);
	drop_client(b, pub);
	drop_client(b, all);
	drop_client(b, plus);
	drop_client(b, foo);
	free_broker(b);
}

static void test_client_publish_to_sys_dropped(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sys = connect311(b, "sys", true, 0, false);
	struct broker_client *later;

	(void)state;
	subscribe311(b, sys, "$SYS/#", 0);
	publish(b, pub, "$SYS/x", "fake", 1, true); /* acknowledged... */
	publish(b, pub, "$SYS/broker/uptime", "fake", 2, false);
	expect_nothing(sys); /* ...but not routed */
	expect_nothing(pub);
	assert_int_equal(stats(b)->retained, 0);

	later = connect311(b, "later", true, 0, false);
	subscribe311(b, later, "$SYS/#", 0);
	expect_nothing(later);
	drop_client(b, later);
	drop_client(b, pub);
	drop_client(b, sys);
	free_broker(b);
}

/* ---- retained messages ---- */

static void test_retained_last_wins(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *live = connect311(b, "live", true, 0, false);
	struct broker_client *late;
	uint8_t qos = 1;
	uint16_t id;

	(void)state;
	subscribe311(b, live, "r/t", 2);
	publish(b, pub, "r/t", "one", 1, true);
	publish(b, pub, "r/t", "two", 2, true);
	expect_publish(live, "r/t", "one", 1, false, NULL); /* [MQTT-3.3.1-9] */
	expect_publish(live, "r/t", "two", 2, false, NULL);
	assert_int_equal(stats(b)->retained, 1);

	late = connect311(b, "late", true, 0, false);
	id = next_packet_id();
	client_send_subscribe(b, late, id, (const char *const[]){ "r/t" }, &qos, 1);
	expect_suback(late, id, &qos, 1); /* the SUBACK comes first */
	expect_publish(late, "r/t", "two", 1, true, NULL); /* [MQTT-3.3.1-8] */
	expect_nothing(late);
	drop_client(b, late);
	drop_client(b, live);
	drop_client(b, pub);
	free_broker(b);
}

static void test_retained_delete(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *late;

	(void)state;
	publish(b, pub, "r/t", "keep me", 0, true);
	publish(b, pub, "r/u", "other", 0, true);
	assert_int_equal(stats(b)->retained, 2);
	publish(b, pub, "r/t", "", 0, true); /* [MQTT-3.3.1-10] */
	assert_int_equal(stats(b)->retained, 1);

	late = connect311(b, "late", true, 0, false);
	subscribe311(b, late, "r/t", 0);
	expect_nothing(late);
	subscribe311(b, late, "r/#", 0);
	expect_publish(late, "r/u", "other", 0, true, NULL);
	expect_nothing(late);
	drop_client(b, late);
	drop_client(b, pub);
	free_broker(b);
}

static void test_retained_wildcards(void **state)
{
	static const char *const topics[] = { "a/b", "c/b", "a/c", "x/y/b" };
	static const char *const plus_b[] = { "a/b", "c/b" };
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *s1 = connect311(b, "s1", true, 0, false);
	struct broker_client *s2 = connect311(b, "s2", true, 0, false);

	(void)state;
	for (size_t i = 0; i < 4; i++)
		publish(b, pub, topics[i], topics[i], 1, true);
	publish(b, pub, "$foo/b", "hidden", 0, true);

	subscribe311(b, s1, "+/b", 0);
	expect_retained_set(s1, plus_b, 2);
	expect_nothing(s1);
	subscribe311(b, s2, "#", 0);
	expect_retained_set(s2, topics, 4);
	expect_nothing(s2);

	/* "#" also matches its parent level. */
	subscribe311(b, s1, "a/#", 0);
	expect_retained_set(s1, (const char *const[]){ "a/b", "a/c" }, 2);
	subscribe311(b, s1, "x/y/b/#", 0);
	expect_retained_set(s1, (const char *const[]){ "x/y/b" }, 1);
	expect_nothing(s1);
	drop_client(b, s1);
	drop_client(b, s2);
	drop_client(b, pub);
	free_broker(b);
}

static void test_max_retained(void **state)
{
	static const char *const kept[] = { "r/1", "r/2" };
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub, *late;

	(void)state;
	test_config(&cfg);
	cfg.max_retained = 2;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	publish(b, pub, "r/1", "1", 0, true);
	publish(b, pub, "r/2", "2", 0, true);
	publish(b, pub, "r/3", "3", 0, true);
	assert_int_equal(stats(b)->retained, 2);
	assert_int_equal(stats(b)->msgs_dropped, 1);
	publish(b, pub, "r/1", "1b", 0, true); /* replacing needs no new slot */
	assert_int_equal(stats(b)->retained, 2);

	late = connect311(b, "late", true, 0, false);
	subscribe311(b, late, "r/#", 0);
	expect_retained_set(late, kept, 2);
	expect_nothing(late);

	/* Deleting one frees a slot. */
	publish(b, pub, "r/2", "", 0, true);
	publish(b, pub, "r/3", "3", 0, true);
	assert_int_equal(stats(b)->retained, 2);
	drop_client(b, late);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- persistent sessions ---- */

static void test_persistent_session_queue(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", false, 0, false);

	(void)state;
	subscribe311(b, sub, "p/t", 1);
	drop_client(b, sub);
	assert_int_equal(stats(b)->subscriptions, 1);
	publish(b, pub, "p/t", "m1", 1, false);
	publish(b, pub, "p/t", "m2", 1, false);
	publish(b, pub, "p/t", "zero", 0, false); /* QoS 0 is not stored */
	publish(b, pub, "p/t", "m3", 2, false);   /* downgraded to the granted 1 */

	sub = connect311(b, "sub", false, 0, true);
	expect_publish(sub, "p/t", "m1", 1, false, NULL);
	expect_publish(sub, "p/t", "m2", 1, false, NULL);
	expect_publish(sub, "p/t", "m3", 1, false, NULL);
	expect_nothing(sub);

	/* The subscription is still there. */
	publish(b, pub, "p/t", "live", 0, false);
	expect_publish(sub, "p/t", "live", 0, false, NULL);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

static void test_persistent_session_max_queued(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub, *sub;
	char payload[16];

	(void)state;
	test_config(&cfg);
	cfg.max_queued = 2;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	sub = connect311(b, "sub", false, 0, false);
	subscribe311(b, sub, "p/t", 1);
	drop_client(b, sub);
	for (int i = 1; i <= 5; i++) {
		snprintf(payload, sizeof(payload), "m%d", i);
		publish(b, pub, "p/t", payload, 1, false);
	}
	assert_true(stats(b)->msgs_dropped >= 3);

	sub = connect311(b, "sub", false, 0, true);
	expect_publish(sub, "p/t", "m1", 1, false, NULL);
	expect_publish(sub, "p/t", "m2", 1, false, NULL);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- the outgoing window ---- */

static void test_inflight_window(void **state)
{
	struct broker *b = window_broker(2);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	uint16_t id1, id2, id3;

	(void)state;
	subscribe311(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	publish(b, pub, "t", "m3", 1, false);
	publish(b, pub, "t", "m4", 1, false);
	id1 = expect_publish(sub, "t", "m1", 1, false, NULL);
	id2 = expect_publish(sub, "t", "m2", 1, false, NULL);
	assert_int_not_equal(id1, id2);
	expect_nothing(sub);

	client_send_ack(b, sub, MQTT_PUBACK, id1);
	id3 = expect_publish(sub, "t", "m3", 1, false, NULL);
	assert_int_not_equal(id3, id2);
	expect_nothing(sub);
	client_send_ack(b, sub, MQTT_PUBACK, id2);
	expect_publish(sub, "t", "m4", 1, false, NULL);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_inflight_resent_after_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", false, 0, false);
	uint16_t id1, id2, id3;

	(void)state;
	subscribe311(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	publish(b, pub, "t", "m3", 1, false);
	id1 = expect_publish(sub, "t", "m1", 1, false, NULL);
	id2 = expect_publish(sub, "t", "m2", 1, false, NULL);
	id3 = expect_publish(sub, "t", "m3", 1, false, NULL);
	client_send_ack(b, sub, MQTT_PUBACK, id2); /* only the middle one */
	drop_client(b, sub);
	publish(b, pub, "t", "m4", 1, false); /* queued while offline */

	sub = connect311(b, "sub", false, 0, true);
	/* [MQTT-4.4.0-1]: same ids, DUP set, original order. */
	assert_int_equal(expect_publish_bin(sub, "t", "m1", 2, 1, false, true, NULL), id1);
	assert_int_equal(expect_publish_bin(sub, "t", "m3", 2, 1, false, true, NULL), id3);
	expect_publish(sub, "t", "m4", 1, false, NULL);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

static void test_pubrel_resent_after_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", false, 0, false);
	uint16_t id;

	(void)state;
	subscribe311(b, sub, "t", 2);
	publish(b, pub, "t", "m1", 2, false);
	id = expect_publish(sub, "t", "m1", 2, false, NULL);
	client_send_ack(b, sub, MQTT_PUBREC, id);
	expect_ack(sub, MQTT_PUBREL, id, 0);
	drop_client(b, sub);

	sub = connect311(b, "sub", false, 0, true);
	expect_ack(sub, MQTT_PUBREL, id, 0); /* not the PUBLISH again */
	expect_nothing(sub);
	client_send_ack(b, sub, MQTT_PUBCOMP, id);
	expect_nothing(sub);
	drop_client(b, sub);

	/* Completed: nothing left to resend. */
	sub = connect311(b, "sub", false, 0, true);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- malformed input ---- */

struct bad_input {
	const char *what;
	uint8_t bytes[16];
	size_t len;
};

static const struct bad_input bad_inputs[] = {
	{ "remaining length of 5 bytes", { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, 6 },
	{ "reserved type 0", { 0x00, 0x00 }, 2 },
	{ "reserved type 15", { 0xF0, 0x00 }, 2 },
	{ "SUBSCRIBE flags 0", { 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00 }, 8 },
	{ "PUBREL flags 0", { 0x60, 0x02, 0x00, 0x01 }, 4 },
	{ "PINGREQ flags 1", { 0xC1, 0x00 }, 2 },
	{ "PUBLISH QoS 3", { 0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01 }, 7 },
	{ "PUBLISH QoS 0 with DUP", { 0x38, 0x03, 0x00, 0x01, 't' }, 5 },
	{ "PUBLISH to a/+", { 0x30, 0x06, 0x00, 0x03, 'a', '/', '+', 'x' }, 8 },
	{ "PUBLISH with empty topic", { 0x30, 0x03, 0x00, 0x00, 'x' }, 5 },
	{ "PUBLISH QoS 1 with packet id 0", { 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00 }, 7 },
	{ "SUBSCRIBE without filters", { 0x82, 0x02, 0x00, 0x01 }, 4 },
	{ "CONNACK from a client", { 0x20, 0x02, 0x00, 0x00 }, 4 },
	{ "PUBACK with trailing bytes", { 0x40, 0x03, 0x00, 0x01, 0x00 }, 5 },
	/* 2048 bytes announced with max_packet_size 1024: only the header is fed. */
	{ "oversized packet header", { 0x30, 0x80, 0x10 }, 3 },
};

static void test_malformed_input_closes_only_that_client(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub, *sub;

	(void)state;
	test_config(&cfg);
	cfg.max_packet_size = 1024;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	sub = connect311(b, "sub", true, 0, false);
	subscribe311(b, sub, "#", 0);

	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const struct bad_input *t = &bad_inputs[i];
		struct broker_client *c = connect311(b, "bad", true, 0, false);

		if (broker_client_input(b, c, t->bytes, t->len) != t->len ||
		    c->state != CLIENT_CLOSING || c->close_reason != CLOSE_PROTOCOL)
			fail_msg("%s: not closed as a protocol error", t->what);
		expect_nothing(c);
		/* Further input is ignored and reported consumed. */
		assert_int_equal(broker_client_input(b, c, t->bytes, t->len), t->len);
		expect_nothing(c);
		free_client(b, c);
		expect_nothing(sub);
	}
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	assert_int_equal(sub->state, CLIENT_CONNECTED);
	publish(b, pub, "still/works", "yes", 1, false);
	expect_publish(sub, "still/works", "yes", 0, false, NULL);
	assert_int_equal(stats(b)->clients_connected, 2);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_max_packet_size_boundary(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub, *sub;
	/* 1 + 2 (remaining length) + 2 + 1 (topic "t") + 1018 = 1024 bytes */
	uint8_t payload[1019];

	(void)state;
	test_config(&cfg);
	cfg.max_packet_size = 1024;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	sub = connect311(b, "sub", true, 0, false);
	subscribe311(b, sub, "t", 0);
	memset(payload, 'p', sizeof(payload));
	client_send_publish_bin(b, pub, "t", payload, sizeof(payload) - 1, 0, 0);
	expect_publish_bin(sub, "t", payload, sizeof(payload) - 1, 0, false, false, NULL);
	assert_int_equal(pub->state, CLIENT_CONNECTED);

	client_send_publish_bin(b, pub, "t", payload, sizeof(payload), 0, 0);
	assert_closed(pub, CLOSE_PROTOCOL);
	expect_nothing(sub);
	free_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ---- input framing ---- */

/* CONNECT, SUBSCRIBE "t" at QoS 1, PUBLISH to "t" at QoS 1, PINGREQ. */
static size_t session_stream(uint8_t *buf, size_t cap)
{
	static const char *const filter = "t";
	static const uint8_t qos = 1;
	uint8_t list[16];
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, "bytes", true, 30, 0);
	size_t n = 0;

	encode_packet(&p, MQTT_LEVEL_311, buf, cap, &n);
	p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.filters = topic_list(list, sizeof(list), &filter, &qos, 1);
	encode_packet(&p, MQTT_LEVEL_311, buf, cap, &n);
	p = publish_packet("t", "hello", 5, 1, false, 2);
	encode_packet(&p, MQTT_LEVEL_311, buf, cap, &n);
	p = (struct mqtt_packet){ .type = MQTT_PINGREQ };
	encode_packet(&p, MQTT_LEVEL_311, buf, cap, &n);
	return n;
}

/* Feeds one byte at a time the way the I/O layer does: the unconsumed tail
 * is kept and presented again with the next byte. */
static void feed_bytewise(struct broker *b, struct broker_client *c, const uint8_t *stream,
			  size_t len)
{
	uint8_t pending[256];
	size_t have = 0;

	for (size_t i = 0; i < len; i++) {
		size_t used;

		assert_true(have < sizeof(pending));
		pending[have++] = stream[i];
		used = broker_client_input(b, c, pending, have);
		assert_true(used == 0 || used == have); /* one byte completes at most one packet */
		memmove(pending, pending + used, have - used);
		have -= used;
	}
	assert_int_equal(have, 0);
}

static void expect_session_stream_answer(struct broker_client *c)
{
	const uint8_t granted = 1;

	expect_connack(c, false, MQTT_CONNACK_ACCEPTED, NULL);
	expect_suback(c, 1, &granted, 1);
	expect_publish(c, "t", "hello", 1, false, NULL);
	expect_ack(c, MQTT_PUBACK, 2, 0);
	expect_packet(c, MQTT_PINGRESP, &(struct mqtt_packet){ 0 });
	expect_nothing(c);
}

static void test_bytewise_input(void **state)
{
	uint8_t stream[256];
	size_t len = session_stream(stream, sizeof(stream));
	struct broker *b1 = default_broker(), *b2 = default_broker();
	struct broker_client *whole = new_client(b1), *bytes = new_client(b2);
	uint8_t out1[256], out2[256];
	size_t n1, n2;

	(void)state;
	feed(b1, whole, stream, len);
	feed_bytewise(b2, bytes, stream, len);

	n1 = outbuf_copy(&whole->out, out1, sizeof(out1));
	n2 = outbuf_copy(&bytes->out, out2, sizeof(out2));
	assert_int_equal(n1, n2);
	assert_memory_equal(out1, out2, n1);
	expect_session_stream_answer(whole);
	expect_session_stream_answer(bytes);
	assert_int_equal(stats(b1)->bytes_received, len);
	assert_int_equal(stats(b2)->bytes_received, len);

	drop_client(b1, whole);
	drop_client(b2, bytes);
	free_broker(b1);
	free_broker(b2);
}

static void test_partial_packet_not_consumed(void **state)
{
	uint8_t stream[256];
	size_t len = session_stream(stream, sizeof(stream));
	struct mqtt_packet cn = connect_packet(MQTT_LEVEL_311, "bytes", true, 30, 0);
	size_t connect_len = (size_t)mqtt_encoded_size(&cn, MQTT_LEVEL_311);
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b);
	size_t used;

	(void)state;
	/* The CONNECT and 3 bytes of the SUBSCRIBE: only the CONNECT is used. */
	used = broker_client_input(b, c, stream, connect_len + 3);
	assert_int_equal(used, connect_len);
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED, NULL);
	expect_nothing(c);
	feed(b, c, stream + used, len - used);
	expect_suback(c, 1, (const uint8_t[]){ 1 }, 1);
	drop_client(b, c);
	free_broker(b);
}

/* ---- $SYS and statistics ---- */

/* Pops every packet (all must be QoS 0 $SYS PUBLISH with the given retain
 * flag); copies the payload of `topic` into value. Returns the count. */
static size_t drain_sys(struct broker_client *c, bool retain, const char *topic, char *value,
			size_t cap)
{
	struct mqtt_packet p;
	size_t count = 0;

	value[0] = '\0';
	while (pop_packet(c, &p)) {
		const struct mqtt_publish *pub = &p.u.publish;

		assert_string_equal(mqtt_type_name(p.type), "PUBLISH");
		assert_true(pub->topic.len > 5);
		assert_memory_equal(pub->topic.data, "$SYS/", 5);
		assert_int_equal(pub->qos, 0);
		assert_int_equal(pub->retain, retain);
		if (pub->topic.len == strlen(topic) &&
		    memcmp(pub->topic.data, topic, pub->topic.len) == 0)
			snprintf(value, cap, "%.*s", (int)pub->payload_len,
				 (const char *)pub->payload);
		count++;
	}
	return count;
}

static void test_sys_on_tick(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *sys, *late;
	char value[64];

	(void)state;
	test_config(&cfg);
	cfg.sys_interval = 1;
	b = new_broker(&cfg);
	drop_client(b, connect311(b, "offline", false, 0, false));
	sys = connect311(b, "sys", true, 0, false);
	subscribe311(b, sys, "$SYS/#", 0);

	set_time(b, 999);
	broker_tick(b);
	expect_nothing(sys);

	set_time(b, 1000);
	broker_tick(b);
	assert_true(drain_sys(sys, false, "$SYS/broker/clients/connected", value,
			      sizeof(value)) >= 10);
	assert_string_equal(value, "1"); /* the offline session is not connected */

	set_time(b, 1500);
	broker_tick(b);
	expect_nothing(sys);

	/* The values are retained: a later subscriber gets the last ones. */
	late = connect311(b, "late", true, 0, false);
	subscribe311(b, late, "$SYS/broker/uptime", 0);
	expect_publish(late, "$SYS/broker/uptime", "1 seconds", 0, true, NULL);

	set_time(b, 2000);
	broker_tick(b);
	drain_sys(sys, false, "$SYS/broker/clients/connected", value, sizeof(value));
	assert_string_equal(value, "2");
	drop_client(b, late);
	drop_client(b, sys);
	free_broker(b);
}

static void test_sys_direct(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sys = connect311(b, "sys", true, 0, false);
	char value[64];
	uint16_t id;

	(void)state;
	subscribe311(b, sys, "$SYS/broker/+", 0);
	set_time(b, 100000);
	broker_tick(b); /* sys_interval 0: off */
	expect_nothing(sys);

	publish(b, pub, "x", "1", 0, false);
	publish(b, pub, "y", "2", 1, false);
	broker_set_version(b, "9.8.7");
	broker_publish_sys(b);
	drain_sys(sys, false, "$SYS/broker/version", value, sizeof(value));
	assert_string_equal(value, "9.8.7");

	id = next_packet_id();
	client_send_unsubscribe(b, sys, id, (const char *const[]){ "$SYS/broker/+" }, 1);
	expect_ack(sys, MQTT_UNSUBACK, id, 0);
	subscribe311(b, sys, "$SYS/broker/messages/received", 0);
	expect_publish(sys, "$SYS/broker/messages/received", "2", 0, true, NULL);
	expect_nothing(sys);
	drop_client(b, pub);
	drop_client(b, sys);
	free_broker(b);
}

static void test_stats_counters(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *s1 = connect311(b, "s1", true, 0, false);
	struct broker_client *s2 = connect311(b, "s2", false, 0, false);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	const struct broker_stats *st = stats(b);

	(void)state;
	subscribe311(b, s1, "s/#", 1);
	subscribe311(b, s2, "s/a", 0);
	subscribe311(b, s2, "other", 0);
	assert_int_equal(st->subscriptions, 3);
	assert_int_equal(st->clients_connected, 3);
	assert_int_equal(st->clients_maximum, 3);

	publish(b, pub, "s/a", "1", 1, true);  /* to s1 and s2 */
	publish(b, pub, "s/b", "2", 0, false); /* to s1 */
	publish(b, pub, "none", "3", 0, false);
	expect_publish(s1, "s/a", "1", 1, false, NULL);
	expect_publish(s1, "s/b", "2", 0, false, NULL);
	expect_publish(s2, "s/a", "1", 0, false, NULL);
	assert_int_equal(st->msgs_received, 3);
	assert_int_equal(st->msgs_sent, 3);
	assert_int_equal(st->retained, 1);
	assert_int_equal(st->msgs_dropped, 0);

	drop_client(b, s1);
	drop_client(b, s2); /* persistent: its 2 subscriptions stay */
	assert_int_equal(st->clients_connected, 1);
	assert_int_equal(st->clients_maximum, 3);
	assert_int_equal(st->subscriptions, 2);
	assert_int_equal(st->sessions, 2);
	assert_int_equal(st->clients_total_connects, 3);
	drop_client(b, pub);
	free_broker(b);
}

static void test_qos0_dropped_when_output_full(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub, *sub;
	char payload[61];

	(void)state;
	test_config(&cfg);
	cfg.max_output_bytes = 100;
	b = new_broker(&cfg);
	pub = connect311(b, "pub", true, 0, false);
	sub = connect311(b, "sub", true, 0, false);
	subscribe311(b, sub, "t", 0);
	memset(payload, 'x', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	for (int i = 0; i < 3; i++)
		publish(b, pub, "t", payload, 0, false);
	assert_int_equal(stats(b)->msgs_dropped, 1);
	expect_publish(sub, "t", payload, 0, false, NULL);
	expect_publish(sub, "t", payload, 0, false, NULL);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ---- dirty list ---- */

static void drain_dirty(struct broker *b)
{
	while (broker_pop_dirty(b))
		;
}

static void test_pop_dirty(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	struct broker_client *idle = connect311(b, "idle", true, 0, false);
	struct broker_client *first, *second;

	(void)state;
	subscribe311(b, sub, "t", 0);
	drain_dirty(b);
	assert_null(broker_pop_dirty(b));

	publish(b, pub, "t", "a", 1, false);
	publish(b, pub, "t", "b", 1, false);
	first = broker_pop_dirty(b);
	second = broker_pop_dirty(b);
	assert_null(broker_pop_dirty(b));
	assert_non_null(first);
	assert_non_null(second);
	assert_ptr_not_equal(first, second);
	assert_true((first == sub && second == pub) || (first == pub && second == sub));
	assert_false(idle->dirty);

	broker_mark_dirty(b, idle);
	broker_mark_dirty(b, idle);
	assert_ptr_equal(broker_pop_dirty(b), idle);
	assert_null(broker_pop_dirty(b));

	/* A client freed while on the list leaves it. */
	broker_mark_dirty(b, idle);
	broker_mark_dirty(b, sub);
	drop_client(b, idle);
	assert_ptr_equal(broker_pop_dirty(b), sub);
	assert_null(broker_pop_dirty(b));

	/* A close is something to carry out too. */
	broker_client_close(b, sub, CLOSE_PROTOCOL, NULL);
	assert_ptr_equal(broker_pop_dirty(b), sub);
	assert_null(broker_pop_dirty(b));
	free_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- large payloads ---- */

/* The queued segment holding a payload shared by reference, or NULL. */
static const uint8_t *shared_payload(const struct broker_client *c)
{
	for (uint32_t i = 0; i < c->out.nsegs; i++)
		if (c->out.segs[i].msg)
			return outbuf_seg_data(&c->out, i);
	return NULL;
}

/* ---- account hooks (struct broker_hooks): what the server plugs in ---- */

/* A test policy over the prefix "acl": anonymous clients may neither
 * subscribe to nor publish under it; "acl/NAME/..." is read by NAME only;
 * a publish to "acl/take" is taken by the hook, not routed. Logins are
 * answered by the test itself, through broker_login_done. */
struct hook_log {
	int logins, cancels, reads;
	void *cancelled;
	char user[32], password[32], taken[32];
};

static struct hook_log hook_log;
static int login_handle; /* its address is the handle */

static void *hook_login_begin(void *ctx, struct broker_client *c, const uint8_t *user,
			      size_t user_len, const uint8_t *password, size_t password_len)
{
	(void)ctx;
	(void)c;
	hook_log.logins++;
	snprintf(hook_log.user, sizeof(hook_log.user), "%.*s", (int)user_len, (const char *)user);
	snprintf(hook_log.password, sizeof(hook_log.password), "%.*s", (int)password_len,
		 (const char *)password);
	return &login_handle;
}

static void hook_login_cancel(void *ctx, void *handle)
{
	(void)ctx;
	hook_log.cancels++;
	hook_log.cancelled = handle;
}

static bool hook_may_subscribe(void *ctx, const char *account, const uint8_t *f, size_t len)
{
	(void)ctx;
	(void)f;
	(void)len;
	return account != NULL;
}

static bool hook_may_publish(void *ctx, const char *account, const uint8_t *t, size_t len)
{
	(void)ctx;
	(void)t;
	(void)len;
	return account != NULL;
}

static bool hook_may_read(void *ctx, const char *account, const uint8_t *t, size_t len)
{
	size_t n = account ? strlen(account) : 0;

	(void)ctx;
	hook_log.reads++;
	return account && len > 4 + n && memcmp(t + 4, account, n) == 0 && t[4 + n] == '/';
}

static int hook_take_publish(void *ctx, const char *account, const uint8_t *t, size_t len,
			     const uint8_t *payload, size_t payload_len, char *why, size_t why_cap)
{
	(void)ctx;
	(void)account;
	(void)why;
	(void)why_cap;
	if (len != 8 || memcmp(t, "acl/take", 8) != 0)
		return BROKER_TAKE_ROUTE;
	snprintf(hook_log.taken, sizeof(hook_log.taken), "%.*s", (int)payload_len,
		 (const char *)payload);
	return 0x00;
}

static struct broker *hooked_broker(void)
{
	struct broker *b = default_broker();
	struct broker_hooks h = {
		.prefix = "acl",
		.login_begin = hook_login_begin,
		.login_cancel = hook_login_cancel,
		.may_subscribe = hook_may_subscribe,
		.may_publish = hook_may_publish,
		.may_read = hook_may_read,
		.take_publish = hook_take_publish,
	};

	memset(&hook_log, 0, sizeof(hook_log));
	broker_set_hooks(b, &h);
	return b;
}

/* Sends a CONNECT with credentials; the broker must hold it for the hook. */
static struct broker_client *connect_with_login(struct broker *b, const char *id,
						const char *user, const char *password)
{
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, id, true, 0, 0);

	p.u.connect.has_username = true;
	p.u.connect.username = str(user);
	p.u.connect.has_password = true;
	p.u.connect.password = str(password);
	client_send(b, c, &p);
	assert_true(broker_client_waiting(c));
	expect_nothing(c); /* no CONNACK before the answer */
	return c;
}

/* Logging in off the loop: the CONNECT waits for broker_login_done, and
 * input after it stays unconsumed meanwhile (the I/O layer keeps it). */
static void test_hooks_login_async(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, "alice-1", true, 0, 0);
	const char *filter = "acl/alice/#";
	uint8_t qos = 1, buf[256];
	size_t n = 0, used;
	uint16_t sid = next_packet_id();

	(void)state;
	p.u.connect.has_username = true;
	p.u.connect.username = str("alice");
	p.u.connect.has_password = true;
	p.u.connect.password = str("secret");
	encode_packet(&p, MQTT_LEVEL_311, buf, sizeof(buf), &n);
	p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
	{
		uint8_t list[64];

		p.u.subscribe.packet_id = sid;
		p.u.subscribe.filters = topic_list(list, sizeof(list), &filter, &qos, 1);
		encode_packet(&p, MQTT_LEVEL_311, buf, sizeof(buf),
			      &n); /* CONNECT and SUBSCRIBE in one read */
	}
	used = broker_client_input(b, c, buf, n);
	assert_true(used < n); /* the SUBSCRIBE waits */
	assert_true(broker_client_waiting(c));
	assert_int_equal(hook_log.logins, 1);
	assert_string_equal(hook_log.user, "alice");
	assert_string_equal(hook_log.password, "secret");
	expect_nothing(c);
	broker_login_done(b, c, true, "alice");
	assert_false(broker_client_waiting(c));
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED, NULL);
	assert_string_equal(c->account, "alice");
	feed(b, c, buf + used, n - used);
	expect_suback(c, sid, &qos, 1);
	drop_client(b, c);
	assert_int_equal(hook_log.cancels, 0); /* answered: nothing to cancel */

	/* A wrong password: 0x04 and closed, whatever the listener allows. */
	c = connect_with_login(b, "alice-2", "alice", "wrong");
	broker_login_done(b, c, false, NULL);
	expect_connack(c, false, MQTT_CONNACK_BAD_CREDENTIALS, NULL);
	assert_closed(c, CLOSE_REFUSED);
	free_client(b, c);

	/* The client leaves first: its check is cancelled, with its handle. */
	c = connect_with_login(b, "alice-3", "alice", "secret");
	drop_client(b, c);
	assert_int_equal(hook_log.cancels, 1);
	assert_ptr_equal(hook_log.cancelled, &login_handle);
	free_broker(b);
}

/* Access rules: asked only about topics under the prefix; wildcard
 * subscriptions are filtered per delivery, retained messages included. */
static void test_hooks_access_rules(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *anon = connect311(b, "anon", true, 0, false);
	struct broker_client *alice, *bob;
	const char *filter = "acl/bob/x";
	uint8_t refused = MQTT_SUBACK_FAILURE, qos = 0;
	uint16_t id = next_packet_id();

	(void)state;
	alice = connect_with_login(b, "alice", "alice", "a");
	broker_login_done(b, alice, true, "alice");
	expect_connack(alice, false, MQTT_CONNACK_ACCEPTED, NULL);
	bob = connect_with_login(b, "bob", "bob", "b");
	broker_login_done(b, bob, true, "bob");
	expect_connack(bob, false, MQTT_CONNACK_ACCEPTED, NULL);

	client_send_subscribe(b, anon, id, &filter, &qos, 1); /* anonymous, under the prefix */
	expect_suback(anon, id, &refused, 1);
	subscribe311(b, anon, "#", 0);	/* outside the prefix: never asked */
	subscribe311(b, alice, "#", 0); /* allowed; what it reads is filtered */
	subscribe311(b, bob, "acl/bob/#", 0);

	broker_publish(b, "acl/bob/x", "for bob", 7, 0, true);
	expect_publish(bob, "acl/bob/x", "for bob", 0, false, NULL);
	expect_nothing(alice); /* '#' reaches it, may_read says no */
	expect_nothing(anon);
	assert_true(hook_log.reads > 0);

	hook_log.reads = 0;
	publish(b, anon, "other/t", "free", 0, false);
	expect_publish(alice, "other/t", "free", 0, false, NULL);
	expect_publish(anon, "other/t", "free", 0, false, NULL);
	assert_int_equal(hook_log.reads, 0); /* outside the prefix: no call */

	/* an anonymous publish under the prefix is dropped */
	publish(b, anon, "acl/bob/x", "forged", 0, false);
	expect_nothing(bob);
	/* a publish the hook takes is not routed */
	publish(b, alice, "acl/take", "taken", 0, false);
	assert_string_equal(hook_log.taken, "taken");
	expect_nothing(alice);
	expect_nothing(bob);

	/* retained on SUBSCRIBE: the same read rule */
	subscribe311(b, alice, "acl/#", 0);
	expect_nothing(alice);
	subscribe311(b, bob, "acl/#", 0);
	expect_publish(bob, "acl/bob/x", "for bob", 0, true, NULL);
	drop_client(b, anon);
	drop_client(b, alice);
	drop_client(b, bob);
	free_broker(b);
}

static void test_large_payload(void **state)
{
	static const size_t sizes[] = { 256, 257, 10000 };
	static uint8_t payload[10000];
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct broker_client *sub[3];
	const char *names[3] = { "s0", "s1", "s2" };
	const uint8_t *shared;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + i / 251);
	for (uint8_t s = 0; s < 3; s++) {
		sub[s] = connect311(b, names[s], true, 0, false);
		subscribe311(b, sub[s], "big", s);
	}
	for (size_t k = 0; k < 3; k++) {
		client_send_publish_bin(b, pub, "big", payload, sizes[k], 1, 1);
		expect_ack(pub, MQTT_PUBACK, 1, 0);
		for (uint8_t s = 0; s < 3; s++) {
			uint16_t id = expect_publish_bin(sub[s], "big", payload, sizes[k],
							 s ? 1 : 0, false, false, NULL);
			if (s)
				client_send_ack(b, sub[s], MQTT_PUBACK, id);
			expect_nothing(sub[s]);
		}
	}
	/* One copy of a large payload is shared by every subscriber's output
	 * (outbuf.h), and output queued after it stays in order. */
	client_send_publish_bin(b, pub, "big", payload, sizeof(payload), 0, 0);
	client_send_publish(b, pub, "big", "tail", 0, 0);
	shared = shared_payload(sub[0]);
	assert_non_null(shared);
	for (uint8_t s = 0; s < 3; s++) {
		assert_ptr_equal(shared_payload(sub[s]), shared);
		expect_publish_bin(sub[s], "big", payload, sizeof(payload), 0, false, false, NULL);
		expect_publish(sub[s], "big", "tail", 0, false, NULL);
	}
	for (int s = 0; s < 3; s++)
		drop_client(b, sub[s]);
	drop_client(b, pub);
	free_broker(b);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_connect_accepted),
		TEST(test_connect_session_present),
		TEST(test_connect_empty_id),
		TEST(test_connect_mqtt31),
		TEST(test_connect_unsupported_level),
		TEST(test_connect_mqtt5_accepted),
		TEST(test_connect_first_packet_not_connect),
		TEST(test_connect_second_connect),
		TEST(test_connect_not_authorized),
		TEST(test_connect_keepalive_max),
		TEST(test_takeover_publishes_will),
		TEST(test_takeover_clean_session),
		TEST(test_keepalive_timeout),
		TEST(test_keepalive_reset_by_input),
		TEST(test_keepalive_min_enforced),
		TEST(test_connect_timeout),
		TEST(test_will_on_peer_close_retained),
		TEST(test_will_not_on_disconnect),
		TEST(test_will_on_protocol_error),
		TEST(test_will_cannot_write_sys),
		TEST(test_qos_levels_downgrade),
		TEST(test_qos1_publisher_puback),
		TEST(test_qos2_publisher_flow),
		TEST(test_qos1_delivery_awaits_puback),
		TEST(test_qos2_outgoing_flow),
		TEST(test_qos2_exactly_once_receive),
		TEST(test_qos2_exactly_once_across_reconnect),
		TEST(test_overlapping_subscriptions),
		TEST(test_wildcard_routing),
		TEST(test_max_qos2_pending),
		TEST(test_suback_codes),
		TEST(test_topic_levels_limit),
		TEST(test_max_subscriptions),
		TEST(test_unsubscribe),
		TEST(test_dollar_topics),
		TEST(test_client_publish_to_sys_dropped),
		TEST(test_retained_last_wins),
		TEST(test_retained_delete),
		TEST(test_retained_wildcards),
		TEST(test_max_retained),
		TEST(test_persistent_session_queue),
		TEST(test_persistent_session_max_queued),
		TEST(test_inflight_window),
		TEST(test_inflight_resent_after_reconnect),
		TEST(test_pubrel_resent_after_reconnect),
		TEST(test_malformed_input_closes_only_that_client),
		TEST(test_max_packet_size_boundary),
		TEST(test_bytewise_input),
		TEST(test_partial_packet_not_consumed),
		TEST(test_sys_on_tick),
		TEST(test_sys_direct),
		TEST(test_stats_counters),
		TEST(test_qos0_dropped_when_output_full),
		TEST(test_pop_dirty),
		TEST(test_large_payload),
		TEST(test_hooks_login_async),
		TEST(test_hooks_access_rules),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
