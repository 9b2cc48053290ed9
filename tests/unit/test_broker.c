/*
 * test_broker.c - the broker core driven through its public API with no
 * sockets: clients are fed encoded packets and what the broker sends them is
 * decoded back, packet by packet, from their output buffers. Time only moves
 * through broker_set_time and broker_tick.
 */
#include "broker_support.h"

#include "base/log.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what a client sends ---- */

/* Encodes p at *pos in buf and advances *pos. */
static void encode_at(const struct mqtt_packet *p, uint8_t *buf, size_t cap, size_t *pos)
{
	long n = mqtt_encode(p, MQTT_LEVEL_311, buf + *pos, cap - *pos);

	assert_true(n > 0);
	*pos += (size_t)n;
}

static void send_packet(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	long size = mqtt_encoded_size(p, MQTT_LEVEL_311);
	uint8_t *buf;
	size_t n = 0;

	assert_true(size > 0);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	encode_at(p, buf, (size_t)size, &n);
	feed(b, c, buf, n);
	free(buf);
}

struct will {
	const char *topic;
	const char *payload;
	uint8_t qos;
	bool retain;
};

static struct mqtt_packet connect_packet(uint8_t level, const char *id, bool clean,
					 uint16_t keepalive, const struct will *w)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };
	struct mqtt_connect *cn = &p.u.connect;

	cn->protocol_name = str(level == MQTT_LEVEL_31 ? "MQIsdp" : "MQTT");
	cn->level = level;
	cn->clean_session = clean;
	cn->keepalive = keepalive;
	cn->client_id = str(id);
	if (w) {
		cn->will = true;
		cn->will_topic = str(w->topic);
		cn->will_payload = str(w->payload);
		cn->will_qos = w->qos;
		cn->will_retain = w->retain;
	}
	return p;
}

static void send_connect(struct broker *b, struct broker_client *c, uint8_t level, const char *id,
			 bool clean, uint16_t keepalive, const struct will *w)
{
	struct mqtt_packet p = connect_packet(level, id, clean, keepalive, w);

	send_packet(b, c, &p);
}

static void send_simple(struct broker *b, struct broker_client *c, uint8_t type)
{
	struct mqtt_packet p = { .type = type };

	send_packet(b, c, &p);
}

static void send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet p = { .type = type };

	p.u.ack.packet_id = id;
	send_packet(b, c, &p);
}

static struct mqtt_packet publish_packet(const char *topic, const void *payload, size_t len,
					 uint8_t qos, bool retain, bool dup, uint16_t id)
{
	struct mqtt_packet p = { .type = MQTT_PUBLISH };

	p.u.publish.topic = str(topic);
	p.u.publish.payload = payload;
	p.u.publish.payload_len = (uint32_t)len;
	p.u.publish.qos = qos;
	p.u.publish.retain = retain;
	p.u.publish.dup = dup;
	p.u.publish.packet_id = id;
	return p;
}

static void send_publish(struct broker *b, struct broker_client *c, const char *topic,
			 const void *payload, size_t len, uint8_t qos, bool retain, bool dup,
			 uint16_t id)
{
	struct mqtt_packet p = publish_packet(topic, payload, len, qos, retain, dup, id);

	send_packet(b, c, &p);
}

static void send_subscribe(struct broker *b, struct broker_client *c, uint16_t id,
			   const char *const *filters, const uint8_t *qos, uint16_t n)
{
	uint8_t list[1024];
	struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };

	p.u.subscribe.packet_id = id;
	p.u.subscribe.filters = topic_list(list, sizeof(list), filters, qos, n);
	send_packet(b, c, &p);
}

static void send_unsubscribe(struct broker *b, struct broker_client *c, uint16_t id,
			     const char *filter)
{
	uint8_t list[512];
	struct mqtt_packet p = { .type = MQTT_UNSUBSCRIBE };

	p.u.unsubscribe.packet_id = id;
	p.u.unsubscribe.filters = topic_list(list, sizeof(list), &filter, NULL, 1);
	send_packet(b, c, &p);
}

/* ---- what the broker sent ---- */

/* The bytes of the packet pop_packet returned last: its fields point here. */
static uint8_t last_packet[65536];

/* Removes the first packet from c's output and decodes it into *p. */
static bool pop_packet(struct broker_client *c, struct mqtt_packet *p)
{
	size_t total = c->out.total;
	uint8_t *all;
	long n;

	if (total == 0)
		return false;
	all = malloc(total);
	assert_non_null(all);
	assert_int_equal(outbuf_copy(&c->out, all, total), total);
	n = mqtt_decode(all, total, MQTT_LEVEL_311, 0, p);
	if (n < 0 || (size_t)n > sizeof(last_packet)) {
		free(all);
		fail_msg("broker sent an undecodable packet: %s", mqtt_strerror((int)n));
	}
	memcpy(last_packet, all, (size_t)n);
	assert_int_equal(mqtt_decode(last_packet, (size_t)n, MQTT_LEVEL_311, 0, p), n);
	outbuf_reset(&c->out);
	outbuf_append(&c->out, all + n, total - (size_t)n);
	free(all);
	return true;
}

static void expect_packet(struct broker_client *c, uint8_t type, struct mqtt_packet *p)
{
	if (!pop_packet(c, p))
		fail_msg("expected %s, the broker sent nothing", mqtt_type_name(type));
	assert_string_equal(mqtt_type_name(p->type), mqtt_type_name(type));
}

static void expect_nothing(struct broker_client *c)
{
	struct mqtt_packet p;

	if (pop_packet(c, &p))
		fail_msg("unexpected %s from the broker", mqtt_type_name(p.type));
}

static void expect_connack(struct broker_client *c, bool present, uint8_t rc)
{
	struct mqtt_packet p;

	expect_packet(c, MQTT_CONNACK, &p);
	assert_int_equal(p.u.connack.return_code, rc);
	assert_int_equal(p.u.connack.session_present, present);
}

static void expect_ack(struct broker_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet p;

	expect_packet(c, type, &p);
	assert_int_equal(p.u.ack.packet_id, id);
}

static void expect_suback(struct broker_client *c, uint16_t id, const uint8_t *codes, uint16_t n)
{
	struct mqtt_packet p;

	expect_packet(c, MQTT_SUBACK, &p);
	assert_int_equal(p.u.suback.packet_id, id);
	assert_int_equal(p.u.suback.count, n);
	assert_memory_equal(p.u.suback.codes, codes, n);
}

/* Checks the next packet is this PUBLISH; returns its packet id. */
static uint16_t expect_publish_bin(struct broker_client *c, const char *topic, const void *payload,
				   size_t len, uint8_t qos, bool retain, bool dup)
{
	struct mqtt_packet p;
	const struct mqtt_publish *pub = &p.u.publish;

	expect_packet(c, MQTT_PUBLISH, &p);
	assert_int_equal(pub->topic.len, strlen(topic));
	assert_memory_equal(pub->topic.data, topic, pub->topic.len);
	assert_int_equal(pub->payload_len, len);
	if (len)
		assert_memory_equal(pub->payload, payload, len);
	assert_int_equal(pub->qos, qos);
	assert_int_equal(pub->retain, retain);
	assert_int_equal(pub->dup, dup);
	if (qos)
		assert_int_not_equal(pub->packet_id, 0);
	return pub->packet_id;
}

static uint16_t expect_publish(struct broker_client *c, const char *topic, const char *payload,
			       uint8_t qos, bool retain, bool dup)
{
	return expect_publish_bin(c, topic, payload, strlen(payload), qos, retain, dup);
}

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

/* ---- client sessions ---- */

static struct broker_client *new_client_on(struct broker *b, bool anonymous_ok)
{
	struct broker_client *c = broker_client_new(b, NULL, "test:1", anonymous_ok);

	assert_non_null(c);
	track(live_clients, c);
	return c;
}

static struct broker_client *new_client(struct broker *b)
{
	return new_client_on(b, true);
}

/* A new connection whose CONNECT must be accepted. */
static struct broker_client *connect_will(struct broker *b, const char *id, bool clean,
					  uint16_t keepalive, const struct will *w, bool present)
{
	struct broker_client *c = new_client(b);

	send_connect(b, c, MQTT_LEVEL_311, id, clean, keepalive, w);
	expect_connack(c, present, MQTT_CONNACK_ACCEPTED);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	return c;
}

static struct broker_client *connect_client(struct broker *b, const char *id, bool clean,
					    bool present)
{
	return connect_will(b, id, clean, 0, NULL, present);
}

/* Sends a CONNECT that must be refused with rc, then frees the client. */
static void connect_refused(struct broker *b, struct broker_client *c, const char *id, bool clean,
			    uint16_t keepalive, uint8_t rc)
{
	uint32_t connected = stats(b)->clients_connected;

	send_connect(b, c, MQTT_LEVEL_311, id, clean, keepalive, NULL);
	expect_connack(c, false, rc); /* [MQTT-3.2.2-4] session present 0 */
	expect_nothing(c);
	assert_closed(c, CLOSE_REFUSED);
	assert_int_equal(stats(b)->clients_connected, connected);
	free_client(b, c);
}

static void disconnect_client(struct broker *b, struct broker_client *c)
{
	send_simple(b, c, MQTT_DISCONNECT);
	assert_closed(c, CLOSE_DISCONNECT);
	free_client(b, c);
}

/* PUBLISH with the whole acknowledgement flow on the publisher's side. */
static void publish(struct broker *b, struct broker_client *c, const char *topic,
		    const char *payload, uint8_t qos, bool retain)
{
	uint16_t id = qos ? next_packet_id() : 0;

	send_publish(b, c, topic, payload, strlen(payload), qos, retain, false, id);
	if (qos == 1) {
		expect_ack(c, MQTT_PUBACK, id);
	} else if (qos == 2) {
		expect_ack(c, MQTT_PUBREC, id);
		send_ack(b, c, MQTT_PUBREL, id);
		expect_ack(c, MQTT_PUBCOMP, id);
	}
}

static void subscribe(struct broker *b, struct broker_client *c, const char *filter, uint8_t qos)
{
	uint16_t id = next_packet_id();

	send_subscribe(b, c, id, &filter, &qos, 1);
	expect_suback(c, id, &qos, 1);
}

static void unsubscribe(struct broker *b, struct broker_client *c, const char *filter)
{
	uint16_t id = next_packet_id();

	send_unsubscribe(b, c, id, filter);
	expect_ack(c, MQTT_UNSUBACK, id);
}

/* ---- CONNECT ---- */

static void test_connect_accepted(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c;

	(void)state;
	c = connect_client(b, "alpha", true, false);
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
	drop_client(b, connect_client(b, "p", false, false));
	assert_int_equal(stats(b)->sessions, 1);
	drop_client(b, connect_client(b, "p", false, true));
	/* clean_session 1 discards the stored session [MQTT-3.1.2-6] */
	drop_client(b, connect_client(b, "p", true, false));
	assert_int_equal(stats(b)->sessions, 0);
	drop_client(b, connect_client(b, "p", false, false));
	free_broker(b);
}

static void test_connect_empty_id(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c1, *c2, *c3;

	(void)state;
	/* Each gets its own assigned identifier: neither takes the other over. */
	c1 = connect_client(b, "", true, false);
	c2 = connect_client(b, "", true, false);
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

	(void)state;
	send_connect(b, c, MQTT_LEVEL_31, "old-client", true, 30, NULL);
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	assert_int_equal(c->level, MQTT_LEVEL_31);
	subscribe(b, c, "t", 1);

	/* MQTT 3.1 has no server-assigned identifiers. */
	send_connect(b, bad, MQTT_LEVEL_31, "", true, 30, NULL);
	expect_connack(bad, false, MQTT_CONNACK_ID_REJECTED);
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
		expect_connack(c, false, MQTT_CONNACK_BAD_VERSION); /* [MQTT-3.1.2-2] */
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
	send_simple(b, ping, MQTT_PINGREQ);
	assert_closed(ping, CLOSE_PROTOCOL);
	expect_nothing(ping);

	send_publish(b, pub, "t", "x", 1, 0, false, false, 0);
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
	struct broker_client *c = connect_client(b, "twice", true, false);

	(void)state;
	send_connect(b, c, MQTT_LEVEL_311, "twice", true, 0, NULL); /* [MQTT-3.1.0-2] */
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
		struct broker_client *c = connect_will(b, "ka", true, accepted[i], NULL, false);

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
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *first, *second;

	(void)state;
	subscribe(b, watch, "wills/#", 1);
	first = connect_will(b, "dev", false, 0, &w, false);
	subscribe(b, first, "dev/in", 1);

	second = connect_client(b, "dev", false, true); /* [MQTT-3.1.4-2] */
	expect_nothing(second);
	assert_closed(first, CLOSE_TAKEN_OVER);
	expect_nothing(first);
	expect_publish(watch, "wills/dev", "dev lost", 1, false, false);
	assert_int_equal(stats(b)->clients_connected, 2);

	/* The session, with its subscription, now belongs to the new connection. */
	publish(b, watch, "dev/in", "hello", 1, false);
	expect_publish(second, "dev/in", "hello", 1, false, false);
	expect_nothing(first);

	free_client(b, first);
	drop_client(b, second);
	drop_client(b, watch);
	free_broker(b);
}

static void test_takeover_clean_session(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *first = connect_client(b, "dev", false, false);
	struct broker_client *second, *pub;

	(void)state;
	subscribe(b, first, "dev/in", 1);
	second = connect_client(b, "dev", true, false);
	assert_closed(first, CLOSE_TAKEN_OVER);
	assert_int_equal(stats(b)->subscriptions, 0);

	pub = connect_client(b, "pub", true, false);
	publish(b, pub, "dev/in", "hello", 1, false);
	expect_nothing(second);
	expect_nothing(first);

	free_client(b, first);
	drop_client(b, second);

	/* A clean session taken over is gone: nothing to resume. */
	first = connect_client(b, "dev2", true, false);
	second = connect_client(b, "dev2", false, false);
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
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *c = connect_will(b, "k", true, 10, &w, false);

	(void)state;
	subscribe(b, watch, "wills/k", 0);
	set_time(b, 14900);
	broker_tick(b);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	expect_nothing(watch);

	set_time(b, 15000); /* 1.5 x keepalive [MQTT-3.1.2-24] */
	broker_tick(b);
	assert_closed(c, CLOSE_KEEPALIVE);
	expect_publish(watch, "wills/k", "timed out", 0, false, false);
	assert_int_equal(watch->state, CLIENT_CONNECTED); /* keepalive 0: never */

	free_client(b, c);
	drop_client(b, watch);
	free_broker(b);
}

static void test_keepalive_reset_by_input(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect_will(b, "k", true, 10, NULL, false);

	(void)state;
	set_time(b, 10000);
	send_simple(b, c, MQTT_PINGREQ);
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
	c = connect_will(b, "k", true, 5, NULL, false);
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
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w, false);
	struct broker_client *later;

	(void)state;
	subscribe(b, watch, "status/+", 2);
	drop_client(b, dev);
	/* Delivered at the will QoS; live deliveries carry retain 0. */
	expect_publish(watch, "status/dev", "offline", 1, false, false);
	assert_int_equal(stats(b)->retained, 1);

	later = connect_client(b, "later", true, false);
	subscribe(b, later, "status/#", 2);
	expect_publish(later, "status/dev", "offline", 1, true, false);
	expect_nothing(later);

	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

static void test_will_not_on_disconnect(void **state)
{
	const struct will w = { "status/dev", "offline", 1, true };
	struct broker *b = default_broker();
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w, false);
	struct broker_client *later;

	(void)state;
	subscribe(b, watch, "status/#", 1);
	disconnect_client(b, dev); /* [MQTT-3.1.2-10] */
	expect_nothing(watch);
	assert_int_equal(stats(b)->retained, 0);

	later = connect_client(b, "later", true, false);
	subscribe(b, later, "status/#", 1);
	expect_nothing(later);

	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

static void test_will_on_protocol_error(void **state)
{
	const struct will w = { "status/dev", "broken", 0, false };
	struct broker *b = default_broker();
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w, false);
	static const uint8_t reserved[] = { 0x00, 0x00 };

	(void)state;
	subscribe(b, watch, "status/#", 0);
	feed(b, dev, reserved, sizeof(reserved));
	assert_closed(dev, CLOSE_PROTOCOL);
	expect_publish(watch, "status/dev", "broken", 0, false, false);
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
	struct broker_client *watch = connect_client(b, "watch", true, false);
	struct broker_client *dev = connect_will(b, "dev", true, 0, &w, false);
	struct broker_client *later;

	(void)state;
	subscribe(b, watch, "$SYS/#", 0);
	drop_client(b, dev);
	expect_nothing(watch);
	assert_int_equal(stats(b)->retained, 0);

	later = connect_client(b, "later", true, false);
	subscribe(b, later, "$SYS/broker/version", 0);
	expect_nothing(later);
	drop_client(b, later);
	drop_client(b, watch);
	free_broker(b);
}

/* ---- QoS flows ---- */

static void test_qos_levels_downgrade(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub[3];
	const char *names[3] = { "s0", "s1", "s2" };
	const char *topics[3] = { "q/0", "q/1", "q/2" };

	(void)state;
	for (uint8_t s = 0; s < 3; s++) {
		sub[s] = connect_client(b, names[s], true, false);
		subscribe(b, sub[s], "q/#", s);
	}
	for (uint8_t q = 0; q < 3; q++) {
		publish(b, pub, topics[q], "m", q, false);
		for (uint8_t s = 0; s < 3; s++) {
			uint8_t want = q < s ? q : s;
			uint16_t id = expect_publish(sub[s], topics[q], "m", want, false, false);

			if (want == 1) {
				send_ack(b, sub[s], MQTT_PUBACK, id);
			} else if (want == 2) {
				send_ack(b, sub[s], MQTT_PUBREC, id);
				expect_ack(sub[s], MQTT_PUBREL, id);
				send_ack(b, sub[s], MQTT_PUBCOMP, id);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	subscribe(b, sub, "t", 1);
	send_publish(b, pub, "t", "one", 3, 1, false, false, 0x1234);
	expect_ack(pub, MQTT_PUBACK, 0x1234);
	expect_nothing(pub);
	expect_publish(sub, "t", "one", 1, false, false);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_publisher_flow(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	subscribe(b, sub, "t", 2);
	send_publish(b, pub, "t", "two", 3, 2, false, false, 77);
	expect_ack(pub, MQTT_PUBREC, 77);
	expect_nothing(pub);
	send_ack(b, pub, MQTT_PUBREL, 77);
	expect_ack(pub, MQTT_PUBCOMP, 77);
	expect_nothing(pub);
	expect_publish(sub, "t", "two", 2, false, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);
	uint16_t id;

	(void)state;
	subscribe(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	id = expect_publish(sub, "t", "m1", 1, false, false);
	expect_nothing(sub);
	send_ack(b, sub, MQTT_PUBACK, (uint16_t)(id + 100)); /* unknown id: ignored */
	expect_nothing(sub);
	send_ack(b, sub, MQTT_PUBACK, id);
	expect_publish(sub, "t", "m2", 1, false, false);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_outgoing_flow(void **state)
{
	struct broker *b = window_broker(1);
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);
	uint16_t id;

	(void)state;
	subscribe(b, sub, "t", 2);
	publish(b, pub, "t", "m1", 2, false);
	publish(b, pub, "t", "m2", 2, false);
	id = expect_publish(sub, "t", "m1", 2, false, false);
	expect_nothing(sub);
	/* (Acks of the wrong kind: test_broker_input.c.) */
	send_ack(b, sub, MQTT_PUBREC, id);
	expect_ack(sub, MQTT_PUBREL, id);
	expect_nothing(sub); /* the id stays in use until PUBCOMP */
	send_ack(b, sub, MQTT_PUBREC, id); /* repeated: PUBREL again */
	expect_ack(sub, MQTT_PUBREL, id);
	expect_nothing(sub);
	send_ack(b, sub, MQTT_PUBCOMP, id);
	expect_publish(sub, "t", "m2", 2, false, false);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_qos2_exactly_once_receive(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	subscribe(b, sub, "t", 0);
	send_publish(b, pub, "t", "first", 5, 2, false, false, 7);
	expect_ack(pub, MQTT_PUBREC, 7);
	send_publish(b, pub, "t", "first", 5, 2, false, true, 7); /* resend, DUP */
	expect_ack(pub, MQTT_PUBREC, 7);
	expect_publish(sub, "t", "first", 0, false, false);
	expect_nothing(sub); /* [MQTT-4.3.3-2] */

	send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7);
	/* Released: the id can carry a new message. */
	send_publish(b, pub, "t", "second", 6, 2, false, false, 7);
	expect_ack(pub, MQTT_PUBREC, 7);
	expect_publish(sub, "t", "second", 0, false, false);
	expect_nothing(sub);
	send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* The QoS 2 id survives a reconnect of a persistent session: the client's
 * resend after reconnecting is still recognised. */
static void test_qos2_exactly_once_across_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", false, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	subscribe(b, sub, "t", 0);
	send_publish(b, pub, "t", "once", 4, 2, false, false, 9);
	expect_ack(pub, MQTT_PUBREC, 9);
	drop_client(b, pub);
	expect_publish(sub, "t", "once", 0, false, false);

	pub = connect_client(b, "pub", false, true);
	send_publish(b, pub, "t", "once", 4, 2, false, true, 9);
	expect_ack(pub, MQTT_PUBREC, 9);
	send_ack(b, pub, MQTT_PUBREL, 9);
	expect_ack(pub, MQTT_PUBCOMP, 9);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	send_subscribe(b, sub, 5, filters, qos, 3);
	expect_suback(sub, 5, qos, 3);
	publish(b, pub, "a/b", "once", 2, false);
	expect_publish(sub, "a/b", "once", 2, false, false); /* [MQTT-3.3.5-1] */
	expect_nothing(sub);

	/* "a/c" matches "a/#" (0) and "a/+" (2); "a/b/c" and "a" only "a/#". */
	publish(b, pub, "a/c", "c", 1, false);
	expect_publish(sub, "a/c", "c", 1, false, false);
	publish(b, pub, "a/b/c", "deep", 2, false);
	expect_publish(sub, "a/b/c", "deep", 0, false, false);
	publish(b, pub, "a", "parent", 2, false);
	expect_publish(sub, "a", "parent", 0, false, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub[NROWS];
	char id[8];

	(void)state;
	for (size_t r = 0; r < NROWS; r++) {
		snprintf(id, sizeof(id), "s%zu", r);
		sub[r] = connect_client(b, id, true, false);
		subscribe(b, sub[r], rows[r].filter, 0);
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
	pub = connect_client(b, "pub", true, false);
	send_publish(b, pub, "t", "1", 1, 2, false, false, 1);
	send_publish(b, pub, "t", "2", 1, 2, false, false, 2);
	expect_ack(pub, MQTT_PUBREC, 1);
	expect_ack(pub, MQTT_PUBREC, 2);
	send_ack(b, pub, MQTT_PUBREL, 1);
	expect_ack(pub, MQTT_PUBCOMP, 1);
	send_publish(b, pub, "t", "3", 1, 2, false, false, 3); /* 1 was released */
	expect_ack(pub, MQTT_PUBREC, 3);
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	send_publish(b, pub, "t", "4", 1, 2, false, false, 4);
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
	struct broker_client *c = connect_client(b, "c", true, false);

	(void)state;
	send_subscribe(b, c, 300, filters, qos, 4);
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
	struct broker_client *sub = connect_client(b, "sub", true, false);
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *bad = connect_client(b, "bad", true, false);

	(void)state;
	levels(deep, sizeof(deep), 128);
	levels(deeper, sizeof(deeper), 129);
	send_subscribe(b, sub, 7, filters, qos, 2);
	expect_suback(sub, 7, codes, 2);
	send_publish(b, pub, deep, "x", 1, 0, false, false, 0);
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	assert_int_equal(stats(b)->msgs_sent, 1); /* the 128-level message went out */
	send_publish(b, bad, deeper, "x", 1, 0, false, false, 0);
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
	c = connect_client(b, "c", true, false);
	pub = connect_client(b, "pub", true, false);
	publish(b, pub, "s/3", "retained", 0, true);
	send_subscribe(b, c, 1, filters, qos, 3);
	expect_suback(c, 1, codes, 3);
	expect_nothing(c); /* no retained message for a refused filter */
	assert_int_equal(stats(b)->subscriptions, 2);

	/* Replacing an existing subscription is not a new one [MQTT-3.8.4-3]. */
	subscribe(b, c, "s/1", 2);
	assert_int_equal(stats(b)->subscriptions, 2);

	publish(b, pub, "s/3", "refused filter", 0, false);
	expect_nothing(c);
	publish(b, pub, "s/1", "upgraded", 2, false);
	expect_publish(c, "s/1", "upgraded", 2, false, false);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

static void test_unsubscribe(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);

	(void)state;
	subscribe(b, sub, "u/1", 0);
	subscribe(b, sub, "u/2", 0);
	publish(b, pub, "u/1", "before", 0, false);
	expect_publish(sub, "u/1", "before", 0, false, false);

	send_unsubscribe(b, sub, 4242, "u/1");
	expect_ack(sub, MQTT_UNSUBACK, 4242);
	assert_int_equal(stats(b)->subscriptions, 1);
	publish(b, pub, "u/1", "after", 0, false);
	expect_nothing(sub);
	publish(b, pub, "u/2", "other", 0, false);
	expect_publish(sub, "u/2", "other", 0, false, false);

	/* Unknown filters are acknowledged too [MQTT-3.10.4-5]. */
	send_unsubscribe(b, sub, 4243, "never/subscribed");
	expect_ack(sub, MQTT_UNSUBACK, 4243);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ---- $ topics ---- */

static void test_dollar_topics(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *all = connect_client(b, "all", true, false);
	struct broker_client *plus = connect_client(b, "plus", true, false);
	struct broker_client *foo = connect_client(b, "foo", true, false);

	(void)state;
	subscribe(b, all, "#", 0);
	subscribe(b, plus, "+/x", 0);
	subscribe(b, foo, "$foo/#", 0);

	publish(b, pub, "$foo", "root", 0, false);
	publish(b, pub, "$foo/x", "dollar", 0, false);
	expect_nothing(all); /* [MQTT-4.7.2-1] */
	expect_nothing(plus);
	expect_publish(foo, "$foo", "root", 0, false, false);
	expect_publish(foo, "$foo/x", "dollar", 0, false, false);

	publish(b, pub, "foo/x", "plain", 0, false);
	expect_publish(all, "foo/x", "plain", 0, false, false);
	expect_publish(plus, "foo/x", "plain", 0, false, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sys = connect_client(b, "sys", true, false);
	struct broker_client *later;

	(void)state;
	subscribe(b, sys, "$SYS/#", 0);
	publish(b, pub, "$SYS/x", "fake", 1, true); /* acknowledged... */
	publish(b, pub, "$SYS/broker/uptime", "fake", 2, false);
	expect_nothing(sys); /* ...but not routed */
	expect_nothing(pub);
	assert_int_equal(stats(b)->retained, 0);

	later = connect_client(b, "later", true, false);
	subscribe(b, later, "$SYS/#", 0);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *live = connect_client(b, "live", true, false);
	struct broker_client *late;
	uint8_t qos = 1;
	uint16_t id;

	(void)state;
	subscribe(b, live, "r/t", 2);
	publish(b, pub, "r/t", "one", 1, true);
	publish(b, pub, "r/t", "two", 2, true);
	expect_publish(live, "r/t", "one", 1, false, false); /* [MQTT-3.3.1-9] */
	expect_publish(live, "r/t", "two", 2, false, false);
	assert_int_equal(stats(b)->retained, 1);

	late = connect_client(b, "late", true, false);
	id = next_packet_id();
	send_subscribe(b, late, id, (const char *const[]){ "r/t" }, &qos, 1);
	expect_suback(late, id, &qos, 1); /* the SUBACK comes first */
	expect_publish(late, "r/t", "two", 1, true, false); /* [MQTT-3.3.1-8] */
	expect_nothing(late);
	drop_client(b, late);
	drop_client(b, live);
	drop_client(b, pub);
	free_broker(b);
}

static void test_retained_delete(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *late;

	(void)state;
	publish(b, pub, "r/t", "keep me", 0, true);
	publish(b, pub, "r/u", "other", 0, true);
	assert_int_equal(stats(b)->retained, 2);
	publish(b, pub, "r/t", "", 0, true); /* [MQTT-3.3.1-10] */
	assert_int_equal(stats(b)->retained, 1);

	late = connect_client(b, "late", true, false);
	subscribe(b, late, "r/t", 0);
	expect_nothing(late);
	subscribe(b, late, "r/#", 0);
	expect_publish(late, "r/u", "other", 0, true, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *s1 = connect_client(b, "s1", true, false);
	struct broker_client *s2 = connect_client(b, "s2", true, false);

	(void)state;
	for (size_t i = 0; i < 4; i++)
		publish(b, pub, topics[i], topics[i], 1, true);
	publish(b, pub, "$foo/b", "hidden", 0, true);

	subscribe(b, s1, "+/b", 0);
	expect_retained_set(s1, plus_b, 2);
	expect_nothing(s1);
	subscribe(b, s2, "#", 0);
	expect_retained_set(s2, topics, 4);
	expect_nothing(s2);

	/* "#" also matches its parent level. */
	subscribe(b, s1, "a/#", 0);
	expect_retained_set(s1, (const char *const[]){ "a/b", "a/c" }, 2);
	subscribe(b, s1, "x/y/b/#", 0);
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
	pub = connect_client(b, "pub", true, false);
	publish(b, pub, "r/1", "1", 0, true);
	publish(b, pub, "r/2", "2", 0, true);
	publish(b, pub, "r/3", "3", 0, true);
	assert_int_equal(stats(b)->retained, 2);
	assert_int_equal(stats(b)->msgs_dropped, 1);
	publish(b, pub, "r/1", "1b", 0, true); /* replacing needs no new slot */
	assert_int_equal(stats(b)->retained, 2);

	late = connect_client(b, "late", true, false);
	subscribe(b, late, "r/#", 0);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", false, false);

	(void)state;
	subscribe(b, sub, "p/t", 1);
	drop_client(b, sub);
	assert_int_equal(stats(b)->subscriptions, 1);
	publish(b, pub, "p/t", "m1", 1, false);
	publish(b, pub, "p/t", "m2", 1, false);
	publish(b, pub, "p/t", "zero", 0, false); /* QoS 0 is not stored */
	publish(b, pub, "p/t", "m3", 2, false);   /* downgraded to the granted 1 */

	sub = connect_client(b, "sub", false, true);
	expect_publish(sub, "p/t", "m1", 1, false, false);
	expect_publish(sub, "p/t", "m2", 1, false, false);
	expect_publish(sub, "p/t", "m3", 1, false, false);
	expect_nothing(sub);

	/* The subscription is still there. */
	publish(b, pub, "p/t", "live", 0, false);
	expect_publish(sub, "p/t", "live", 0, false, false);
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
	pub = connect_client(b, "pub", true, false);
	sub = connect_client(b, "sub", false, false);
	subscribe(b, sub, "p/t", 1);
	drop_client(b, sub);
	for (int i = 1; i <= 5; i++) {
		snprintf(payload, sizeof(payload), "m%d", i);
		publish(b, pub, "p/t", payload, 1, false);
	}
	assert_true(stats(b)->msgs_dropped >= 3);

	sub = connect_client(b, "sub", false, true);
	expect_publish(sub, "p/t", "m1", 1, false, false);
	expect_publish(sub, "p/t", "m2", 1, false, false);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* ---- the outgoing window ---- */

static void test_inflight_window(void **state)
{
	struct broker *b = window_broker(2);
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);
	uint16_t id1, id2, id3;

	(void)state;
	subscribe(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	publish(b, pub, "t", "m3", 1, false);
	publish(b, pub, "t", "m4", 1, false);
	id1 = expect_publish(sub, "t", "m1", 1, false, false);
	id2 = expect_publish(sub, "t", "m2", 1, false, false);
	assert_int_not_equal(id1, id2);
	expect_nothing(sub);

	send_ack(b, sub, MQTT_PUBACK, id1);
	id3 = expect_publish(sub, "t", "m3", 1, false, false);
	assert_int_not_equal(id3, id2);
	expect_nothing(sub);
	send_ack(b, sub, MQTT_PUBACK, id2);
	expect_publish(sub, "t", "m4", 1, false, false);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_inflight_resent_after_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", false, false);
	uint16_t id1, id2, id3;

	(void)state;
	subscribe(b, sub, "t", 1);
	publish(b, pub, "t", "m1", 1, false);
	publish(b, pub, "t", "m2", 1, false);
	publish(b, pub, "t", "m3", 1, false);
	id1 = expect_publish(sub, "t", "m1", 1, false, false);
	id2 = expect_publish(sub, "t", "m2", 1, false, false);
	id3 = expect_publish(sub, "t", "m3", 1, false, false);
	send_ack(b, sub, MQTT_PUBACK, id2); /* only the middle one */
	drop_client(b, sub);
	publish(b, pub, "t", "m4", 1, false); /* queued while offline */

	sub = connect_client(b, "sub", false, true);
	/* [MQTT-4.4.0-1]: same ids, DUP set, original order. */
	assert_int_equal(expect_publish(sub, "t", "m1", 1, false, true), id1);
	assert_int_equal(expect_publish(sub, "t", "m3", 1, false, true), id3);
	expect_publish(sub, "t", "m4", 1, false, false);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

static void test_pubrel_resent_after_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", false, false);
	uint16_t id;

	(void)state;
	subscribe(b, sub, "t", 2);
	publish(b, pub, "t", "m1", 2, false);
	id = expect_publish(sub, "t", "m1", 2, false, false);
	send_ack(b, sub, MQTT_PUBREC, id);
	expect_ack(sub, MQTT_PUBREL, id);
	drop_client(b, sub);

	sub = connect_client(b, "sub", false, true);
	expect_ack(sub, MQTT_PUBREL, id); /* not the PUBLISH again */
	expect_nothing(sub);
	send_ack(b, sub, MQTT_PUBCOMP, id);
	expect_nothing(sub);
	drop_client(b, sub);

	/* Completed: nothing left to resend. */
	sub = connect_client(b, "sub", false, true);
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
	pub = connect_client(b, "pub", true, false);
	sub = connect_client(b, "sub", true, false);
	subscribe(b, sub, "#", 0);

	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const struct bad_input *t = &bad_inputs[i];
		struct broker_client *c = connect_client(b, "bad", true, false);

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
	expect_publish(sub, "still/works", "yes", 0, false, false);
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
	pub = connect_client(b, "pub", true, false);
	sub = connect_client(b, "sub", true, false);
	subscribe(b, sub, "t", 0);
	memset(payload, 'p', sizeof(payload));
	send_publish(b, pub, "t", payload, sizeof(payload) - 1, 0, false, false, 0);
	expect_publish_bin(sub, "t", payload, sizeof(payload) - 1, 0, false, false);
	assert_int_equal(pub->state, CLIENT_CONNECTED);

	send_publish(b, pub, "t", payload, sizeof(payload), 0, false, false, 0);
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
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, "bytes", true, 30, NULL);
	size_t n = 0;

	encode_at(&p, buf, cap, &n);
	p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.filters = topic_list(list, sizeof(list), &filter, &qos, 1);
	encode_at(&p, buf, cap, &n);
	p = publish_packet("t", "hello", 5, 1, false, false, 2);
	encode_at(&p, buf, cap, &n);
	p = (struct mqtt_packet){ .type = MQTT_PINGREQ };
	encode_at(&p, buf, cap, &n);
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

	expect_connack(c, false, MQTT_CONNACK_ACCEPTED);
	expect_suback(c, 1, &granted, 1);
	expect_publish(c, "t", "hello", 1, false, false);
	expect_ack(c, MQTT_PUBACK, 2);
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
	struct mqtt_packet cn = connect_packet(MQTT_LEVEL_311, "bytes", true, 30, NULL);
	size_t connect_len = (size_t)mqtt_encoded_size(&cn, MQTT_LEVEL_311);
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b);
	size_t used;

	(void)state;
	/* The CONNECT and 3 bytes of the SUBSCRIBE: only the CONNECT is used. */
	used = broker_client_input(b, c, stream, connect_len + 3);
	assert_int_equal(used, connect_len);
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED);
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
	drop_client(b, connect_client(b, "offline", false, false));
	sys = connect_client(b, "sys", true, false);
	subscribe(b, sys, "$SYS/#", 0);

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
	late = connect_client(b, "late", true, false);
	subscribe(b, late, "$SYS/broker/uptime", 0);
	expect_publish(late, "$SYS/broker/uptime", "1 seconds", 0, true, false);

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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sys = connect_client(b, "sys", true, false);
	char value[64];

	(void)state;
	subscribe(b, sys, "$SYS/broker/+", 0);
	set_time(b, 100000);
	broker_tick(b); /* sys_interval 0: off */
	expect_nothing(sys);

	publish(b, pub, "x", "1", 0, false);
	publish(b, pub, "y", "2", 1, false);
	broker_set_version(b, "9.8.7");
	broker_publish_sys(b);
	drain_sys(sys, false, "$SYS/broker/version", value, sizeof(value));
	assert_string_equal(value, "9.8.7");

	unsubscribe(b, sys, "$SYS/broker/+");
	subscribe(b, sys, "$SYS/broker/messages/received", 0);
	expect_publish(sys, "$SYS/broker/messages/received", "2", 0, true, false);
	expect_nothing(sys);
	drop_client(b, pub);
	drop_client(b, sys);
	free_broker(b);
}

static void test_stats_counters(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *s1 = connect_client(b, "s1", true, false);
	struct broker_client *s2 = connect_client(b, "s2", false, false);
	struct broker_client *pub = connect_client(b, "pub", true, false);
	const struct broker_stats *st = stats(b);

	(void)state;
	subscribe(b, s1, "s/#", 1);
	subscribe(b, s2, "s/a", 0);
	subscribe(b, s2, "other", 0);
	assert_int_equal(st->subscriptions, 3);
	assert_int_equal(st->clients_connected, 3);
	assert_int_equal(st->clients_maximum, 3);

	publish(b, pub, "s/a", "1", 1, true);  /* to s1 and s2 */
	publish(b, pub, "s/b", "2", 0, false); /* to s1 */
	publish(b, pub, "none", "3", 0, false);
	expect_publish(s1, "s/a", "1", 1, false, false);
	expect_publish(s1, "s/b", "2", 0, false, false);
	expect_publish(s2, "s/a", "1", 0, false, false);
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
	pub = connect_client(b, "pub", true, false);
	sub = connect_client(b, "sub", true, false);
	subscribe(b, sub, "t", 0);
	memset(payload, 'x', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	for (int i = 0; i < 3; i++)
		publish(b, pub, "t", payload, 0, false);
	assert_int_equal(stats(b)->msgs_dropped, 1);
	expect_publish(sub, "t", payload, 0, false, false);
	expect_publish(sub, "t", payload, 0, false, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub = connect_client(b, "sub", true, false);
	struct broker_client *idle = connect_client(b, "idle", true, false);
	struct broker_client *first, *second;

	(void)state;
	subscribe(b, sub, "t", 0);
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
			     const uint8_t *payload, size_t payload_len)
{
	(void)ctx;
	(void)account;
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
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, id, true, 0, NULL);

	p.u.connect.has_username = true;
	p.u.connect.username = str(user);
	p.u.connect.has_password = true;
	p.u.connect.password = str(password);
	send_packet(b, c, &p);
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
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_311, "alice-1", true, 0, NULL);
	const char *filter = "acl/alice/#";
	uint8_t qos = 1, buf[256];
	size_t n = 0, used;
	uint16_t sid = next_packet_id();

	(void)state;
	p.u.connect.has_username = true;
	p.u.connect.username = str("alice");
	p.u.connect.has_password = true;
	p.u.connect.password = str("secret");
	encode_at(&p, buf, sizeof(buf), &n);
	p = (struct mqtt_packet){ .type = MQTT_SUBSCRIBE };
	{
		uint8_t list[64];

		p.u.subscribe.packet_id = sid;
		p.u.subscribe.filters = topic_list(list, sizeof(list), &filter, &qos, 1);
		encode_at(&p, buf, sizeof(buf), &n); /* CONNECT and SUBSCRIBE in one read */
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
	expect_connack(c, false, MQTT_CONNACK_ACCEPTED);
	assert_string_equal(c->account, "alice");
	feed(b, c, buf + used, n - used);
	expect_suback(c, sid, &qos, 1);
	drop_client(b, c);
	assert_int_equal(hook_log.cancels, 0); /* answered: nothing to cancel */

	/* A wrong password: 0x04 and closed, whatever the listener allows. */
	c = connect_with_login(b, "alice-2", "alice", "wrong");
	broker_login_done(b, c, false, NULL);
	expect_connack(c, false, MQTT_CONNACK_BAD_CREDENTIALS);
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
	struct broker_client *anon = connect_client(b, "anon", true, false);
	struct broker_client *alice, *bob;
	const char *filter = "acl/bob/x";
	uint8_t refused = MQTT_SUBACK_FAILURE, qos = 0;
	uint16_t id = next_packet_id();

	(void)state;
	alice = connect_with_login(b, "alice", "alice", "a");
	broker_login_done(b, alice, true, "alice");
	expect_connack(alice, false, MQTT_CONNACK_ACCEPTED);
	bob = connect_with_login(b, "bob", "bob", "b");
	broker_login_done(b, bob, true, "bob");
	expect_connack(bob, false, MQTT_CONNACK_ACCEPTED);

	send_subscribe(b, anon, id, &filter, &qos, 1); /* anonymous, under the prefix */
	expect_suback(anon, id, &refused, 1);
	subscribe(b, anon, "#", 0);  /* outside the prefix: never asked */
	subscribe(b, alice, "#", 0); /* allowed; what it reads is filtered */
	subscribe(b, bob, "acl/bob/#", 0);

	broker_publish(b, "acl/bob/x", "for bob", 7, 0, true);
	expect_publish(bob, "acl/bob/x", "for bob", 0, false, false);
	expect_nothing(alice); /* '#' reaches it, may_read says no */
	expect_nothing(anon);
	assert_true(hook_log.reads > 0);

	hook_log.reads = 0;
	publish(b, anon, "other/t", "free", 0, false);
	expect_publish(alice, "other/t", "free", 0, false, false);
	expect_publish(anon, "other/t", "free", 0, false, false);
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
	subscribe(b, alice, "acl/#", 0);
	expect_nothing(alice);
	subscribe(b, bob, "acl/#", 0);
	expect_publish(bob, "acl/bob/x", "for bob", 0, true, false);
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
	struct broker_client *pub = connect_client(b, "pub", true, false);
	struct broker_client *sub[3];
	const char *names[3] = { "s0", "s1", "s2" };
	const uint8_t *shared;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + i / 251);
	for (uint8_t s = 0; s < 3; s++) {
		sub[s] = connect_client(b, names[s], true, false);
		subscribe(b, sub[s], "big", s);
	}
	for (size_t k = 0; k < 3; k++) {
		send_publish(b, pub, "big", payload, sizes[k], 1, false, false, 1);
		expect_ack(pub, MQTT_PUBACK, 1);
		for (uint8_t s = 0; s < 3; s++) {
			uint16_t id = expect_publish_bin(sub[s], "big", payload, sizes[k],
							 s ? 1 : 0, false, false);
			if (s)
				send_ack(b, sub[s], MQTT_PUBACK, id);
			expect_nothing(sub[s]);
		}
	}
	/* One copy of a large payload is shared by every subscriber's output
	 * (outbuf.h), and output queued after it stays in order. */
	send_publish(b, pub, "big", payload, sizeof(payload), 0, false, false, 0);
	send_publish(b, pub, "big", "tail", 4, 0, false, false, 0);
	shared = shared_payload(sub[0]);
	assert_non_null(shared);
	for (uint8_t s = 0; s < 3; s++) {
		assert_ptr_equal(shared_payload(sub[s]), shared);
		expect_publish_bin(sub[s], "big", payload, sizeof(payload), 0, false, false);
		expect_publish(sub[s], "big", "tail", 0, false, false);
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
