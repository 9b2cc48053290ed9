/*
 * test_broker_input.c - how the broker core answers input the standards say
 * it must refuse, class by class, in every field and version where the class
 * applies (issue 9; docs/mqtt.md, "Input the broker refuses"):
 *
 * - strings: the CONNACK each CONNECT field gets, and the close (MQTT 5:
 *   DISCONNECT 0x81) for topics and filters; strict_utf8 off;
 * - malformed topic filters: MQTT 3.1.1 closes, MQTT 5 answers 0x8F;
 * - acknowledgements of the wrong kind, and the session keeping the message;
 * - unsolicited PUBREC;
 * - client DISCONNECT and AUTH codes only a server may send;
 * - a Maximum Packet Size too small for the CONNACK;
 * - Receive Maximum, both versions.
 *
 * No sockets: clients are fed packets and what the broker sends back is
 * decoded from their output (broker_client.h).
 */
#include "broker_client.h"
#include "utf8_samples.h"

#include "base/log.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t all_levels[] = { MQTT_LEVEL_31, MQTT_LEVEL_311, MQTT_LEVEL_5 };

static struct broker *strict_broker(bool strict)
{
	struct broker_config cfg;

	test_config(&cfg);
	cfg.strict_utf8 = strict;
	return new_broker(&cfg);
}

static struct mqtt_packet connect_at(uint8_t level, const char *id, bool clean, uint32_t expiry)
{
	struct mqtt_packet p = connect_packet(level, id, clean, 0, level == MQTT_LEVEL_5 ? expiry : 0);

	if (level == MQTT_LEVEL_31)
		p.u.connect.protocol_name = str("MQIsdp");
	return p;
}

/* A client that connected at level (persistent when expiry > 0, which
 * MQTT 3.1.1 spells clean session 0). */
static struct broker_client *connect_level(struct broker *b, uint8_t level, const char *id,
					   uint32_t expiry, bool present)
{
	struct mqtt_packet cp = connect_at(level, id, expiry == 0, expiry), ack;

	return connect_packet_ok(b, &cp, present, &ack);
}

static void send_at(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	send_packet_at(b, c, p, c->level);
}

/* The connection was closed for a protocol error, with DISCONNECT reason
 * (MQTT 5) first, or nothing at all (before MQTT 5). */
static void expect_protocol_close(struct broker_client *c, uint8_t reason)
{
	if (c->level == MQTT_LEVEL_5)
		expect_disconnect(c, reason);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
}

/* ==== strings ==== */

/* The CONNACK a CONNECT gets for a bad string in field (0: none, and the
 * connection closes); docs/mqtt.md gives the reasons. */
static int want_connack(uint8_t level, uint8_t field, unsigned cls)
{
	bool v5 = level == MQTT_LEVEL_5;

	switch (field) {
	case MQTT_FIELD_CLIENT_ID:
		return v5 ? 0x85 : (cls & MQTT_UTF8_REFUSED) ? -1 : MQTT_CONNACK_ID_REJECTED;
	case MQTT_FIELD_USERNAME:
		return v5 ? 0x86 : MQTT_CONNACK_BAD_CREDENTIALS;
	default:
		return v5 ? 0x90 : -1;
	}
}

static void connect_with_bad_field(struct broker *b, uint8_t level, uint8_t field,
				   const struct utf8_sample *x, bool strict)
{
	struct mqtt_packet cp = connect_at(level, "good", true, 0), ack;
	uint8_t text[16];
	struct mqtt_str s = { text, 0 };
	struct broker_client *c = new_client(b);
	uint32_t connected = stats(b)->clients_connected;
	bool refused = (x->cls & MQTT_UTF8_REFUSED) || (strict && x->cls);
	size_t len;
	int rc;

	utf8_embed(x, text, &len);
	s.len = (uint16_t)len;
	set_will(&cp, "will/t", "bye", 0, false);
	if (field == MQTT_FIELD_CLIENT_ID)
		cp.u.connect.client_id = s;
	else if (field == MQTT_FIELD_USERNAME)
		cp.u.connect.has_username = true, cp.u.connect.username = s;
	else
		cp.u.connect.will_topic = s;
	send_packet_at(b, c, &cp, level);
	if (!refused) {
		expect_connack(c, false, 0, &ack);
		drop_client(b, c);
		return;
	}
	rc = want_connack(level, field, x->cls);
	if (rc >= 0) {
		expect_connack(c, false, (uint8_t)rc, &ack);
		expect_nothing(c);
		assert_closed(c, CLOSE_REFUSED);
	} else {
		expect_nothing(c);
		assert_closed(c, CLOSE_PROTOCOL);
	}
	assert_int_equal(stats(b)->clients_connected, connected);
	free_client(b, c);
}

static void test_connect_fields(void **state)
{
	static const uint8_t fields[] = { MQTT_FIELD_CLIENT_ID, MQTT_FIELD_USERNAME,
					  MQTT_FIELD_WILL_TOPIC };

	(void)state;
	for (int strict = 0; strict < 2; strict++) {
		struct broker *b = strict_broker(strict);

		for (size_t l = 0; l < sizeof(all_levels); l++)
			for (size_t f = 0; f < sizeof(fields); f++)
				for (size_t i = 0; i < UTF8_SAMPLES; i++)
					connect_with_bad_field(b, all_levels[l], fields[f],
							       &utf8_samples[i], strict);
		free_broker(b);
	}
}

/* A will topic with wildcards or none at all: the same answers. */
static void test_connect_will_topic_rules(void **state)
{
	static const char *const bad[] = { "", "a/+", "a/#", "#" };
	struct broker *b = default_broker();

	(void)state;
	for (size_t l = 0; l < sizeof(all_levels); l++)
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			struct mqtt_packet cp = connect_at(all_levels[l], "w", true, 0), ack;
			struct broker_client *c = new_client(b);

			set_will(&cp, bad[i], "bye", 0, false);
			send_packet_at(b, c, &cp, all_levels[l]);
			if (all_levels[l] == MQTT_LEVEL_5) {
				expect_connack(c, false, 0x90, &ack);
				assert_closed(c, CLOSE_REFUSED);
			} else {
				assert_closed(c, CLOSE_PROTOCOL);
			}
			expect_nothing(c);
			free_client(b, c);
		}
	free_broker(b);
}

/* A SUBSCRIBE (options) or UNSUBSCRIBE list: "ok/#", then the filter given
 * as bytes (it may hold U+0000). buf needs len + 12 bytes. */
static struct mqtt_topic_list ok_then(uint8_t *buf, const uint8_t *f, size_t len, bool options)
{
	struct mqtt_topic_list l = { buf, 0, 2, options };
	size_t pos = 0;

	memcpy(buf, "\x00\x04ok/#", 6);
	pos = 6;
	if (options)
		buf[pos++] = 1;
	buf[pos++] = 0;
	buf[pos++] = (uint8_t)len;
	memcpy(buf + pos, f, len);
	pos += len;
	if (options)
		buf[pos++] = 0;
	l.len = (uint32_t)pos;
	return l;
}

/* Topic names and filters: a bad string makes the packet malformed. */
static void test_topic_and_filter_strings(void **state)
{
	static const uint8_t levels[] = { MQTT_LEVEL_311, MQTT_LEVEL_5 };

	(void)state;
	for (int strict = 0; strict < 2; strict++) {
		struct broker *b = strict_broker(strict);
		struct broker_client *watch = connect_level(b, MQTT_LEVEL_311, "watch", 0, false);

		subscribe311(b, watch, "#", 0);
		for (size_t l = 0; l < sizeof(levels); l++)
			for (size_t i = 0; i < UTF8_SAMPLES; i++)
				for (int what = 0; what < 3; what++) {
					const struct utf8_sample *x = &utf8_samples[i];
					bool refused = (x->cls & MQTT_UTF8_REFUSED) || (strict && x->cls);
					struct broker_client *c = connect_level(b, levels[l], "c", 0, false);
					uint32_t subs = stats(b)->subscriptions;
					uint8_t text[16], list[64];
					struct mqtt_packet p;
					size_t len;

					utf8_embed(x, text, &len);
					if (what == 0) {
						p = publish_packet("", "x", 1, 1, false, 5);
						p.u.publish.topic = (struct mqtt_str){ text, (uint16_t)len };
					} else {
						p = (struct mqtt_packet){ .type = what == 1 ? MQTT_SUBSCRIBE
											     : MQTT_UNSUBSCRIBE };
						p.u.subscribe.packet_id = 9;
						p.u.subscribe.filters =
							ok_then(list, text, len, what == 1);
					}
					send_at(b, c, &p);
					if (refused) {
						expect_protocol_close(c, 0x81);
						assert_int_equal(stats(b)->subscriptions, subs);
					} else {
						assert_int_equal(c->state, CLIENT_CONNECTED);
					}
					drop_client(b, c);
				}
		/* Nothing refused reached the watcher: only the accepted topics. */
		for (struct mqtt_packet p; pop_packet(watch, &p);)
			assert_int_equal(p.type, MQTT_PUBLISH);
		drop_client(b, watch);
		free_broker(b);
	}
}

/* The strings a strict broker refuses never reach subscribers: checked by
 * count, each refused PUBLISH being of a class strictness covers. */
static void test_refused_topics_not_routed(void **state)
{
	struct broker *b = strict_broker(true);
	struct broker_client *watch = connect_level(b, MQTT_LEVEL_5, "watch", 0, false);
	struct mqtt_packet p;
	uint32_t sent = 0;

	(void)state;
	subscribe5(b, watch, "#", 0, 0);
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		struct broker_client *c = connect_level(b, MQTT_LEVEL_311, "pub", 0, false);
		uint8_t text[16];
		size_t len;

		utf8_embed(&utf8_samples[i], text, &len);
		p = publish_packet("", "x", 1, 0, false, 0);
		p.u.publish.topic = (struct mqtt_str){ text, (uint16_t)len };
		send_at(b, c, &p);
		sent += utf8_samples[i].cls == 0;
		drop_client(b, c);
	}
	for (uint32_t k = 0; k < sent; k++)
		expect_packet(watch, MQTT_PUBLISH, &p);
	expect_nothing(watch);
	drop_client(b, watch);
	free_broker(b);
}

/* ==== malformed topic filters ==== */

static const char *const bad_filters[] = {
	"", "$share/g", "$share/g/", "$share//t", "$share/", "$share/g+/t", "$share/g#/t",
	"a/b#", "a+/b", "#/a", "a/#/b", "++",
};

static void test_bad_filters_close_311(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_filters); i++)
		for (int unsub = 0; unsub < 2; unsub++) {
			struct broker *b = default_broker();
			struct broker_client *c = connect_level(b, MQTT_LEVEL_311, "c", 0, false);
			const char *filters[2] = { "ok/+", bad_filters[i] };
			uint8_t opts[2] = { 1, 1 }, list[64];
			struct mqtt_packet p = { .type = unsub ? MQTT_UNSUBSCRIBE : MQTT_SUBSCRIBE };

			p.u.subscribe.packet_id = 4;
			p.u.subscribe.filters =
				topic_list(list, sizeof(list), filters, unsub ? NULL : opts, 2);
			send_at(b, c, &p);
			expect_protocol_close(c, 0);
			assert_int_equal(stats(b)->subscriptions, 0); /* not even "ok/+" */
			free_client(b, c);
			free_broker(b);
		}
}

static void test_bad_filters_0x8f_v5(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_filters); i++) {
		const char *filters[2] = { "ok/+", bad_filters[i] };
		const char *unsub[3] = { "ok/+", bad_filters[i], "never/subscribed" };
		uint8_t opts[2] = { 1, 1 };
		static const uint8_t sub_codes[2] = { 1, 0x8F }, unsub_codes[3] = { 0, 0x8F, 0x11 };
		struct mqtt_packet p;
		uint16_t id = next_packet_id();

		send_subscribe5(b, c, id, filters, opts, 2, 0);
		expect_suback(c, id, sub_codes, 2);
		assert_int_equal(stats(b)->subscriptions, 1);
		send_unsubscribe5(b, c, id, unsub, 3);
		expect_packet(c, MQTT_UNSUBACK, &p);
		assert_int_equal(p.u.ack.count, 3);
		assert_memory_equal(p.u.ack.codes, unsub_codes, 3);
		assert_int_equal(stats(b)->subscriptions, 0);
		assert_int_equal(c->state, CLIENT_CONNECTED);
	}
	drop_client(b, c);
	free_broker(b);
}

/* ==== acknowledgements of the wrong kind ==== */

enum wrong_ack {
	QOS1_PUBREC,     /* QoS 1 answered by PUBREC */
	QOS1_PUBCOMP,    /* QoS 1 answered by PUBCOMP */
	QOS2_PUBACK,     /* QoS 2 answered by PUBACK */
	QOS2_PUBCOMP,    /* QoS 2 answered by PUBCOMP, no PUBREL sent */
	QOS2_LATE_PUBACK, /* QoS 2: PUBREC, PUBREL, then PUBACK */
};

static void wrong_ack_case(uint8_t level, enum wrong_ack k)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect_level(b, level, "pub", 0, false);
	struct broker_client *sub = connect_level(b, level, "sub", 600, false);
	uint8_t qos = k <= QOS1_PUBCOMP ? 1 : 2;
	struct mqtt_packet p, m;
	uint16_t id;

	if (level == MQTT_LEVEL_5)
		subscribe5(b, sub, "t/#", 2, 0);
	else
		subscribe311(b, sub, "t/#", 2);
	p = publish_packet("t/x", "m", 1, qos, false, 77);
	send_at(b, pub, &p);
	expect_packet(pub, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, &m);
	expect_publish(sub, "t/x", "m", qos, false, &m);
	id = m.u.publish.packet_id;
	if (k == QOS2_LATE_PUBACK) {
		send_ack5(b, sub, MQTT_PUBREC, id); /* level-free for a 2-byte body */
		expect_packet(sub, MQTT_PUBREL, &m);
	}
	p = (struct mqtt_packet){ .type = k == QOS1_PUBREC ? MQTT_PUBREC
					  : (k == QOS1_PUBCOMP || k == QOS2_PUBCOMP) ? MQTT_PUBCOMP
										     : MQTT_PUBACK };
	p.u.ack.packet_id = id;
	send_at(b, sub, &p);
	expect_protocol_close(sub, 0x82);
	free_client(b, sub);

	/* The session kept the message: resent (DUP) or its PUBREL again. */
	sub = connect_level(b, level, "sub", 600, true);
	if (k == QOS2_LATE_PUBACK) {
		expect_packet(sub, MQTT_PUBREL, &m);
		assert_int_equal(m.u.ack.packet_id, id);
	} else {
		expect_publish_bin(sub, "t/x", "m", 1, qos, false, true, &m); /* DUP */
		assert_int_equal(m.u.publish.packet_id, id);
	}
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

static void test_wrong_kind_acks(void **state)
{
	(void)state;
	for (size_t l = 0; l < sizeof(all_levels); l++)
		for (int k = QOS1_PUBREC; k <= QOS2_LATE_PUBACK; k++)
			wrong_ack_case(all_levels[l], (enum wrong_ack)k);
}

/* Acknowledgements of ids not in flight (late duplicates, say) are not
 * errors; an unsolicited PUBREC below 0x80 gets a PUBREL so the client can
 * end its flow; one of 0x80 or more has ended it already. */
static void test_acks_for_unknown_ids(void **state)
{
	struct broker *b = default_broker();

	(void)state;
	for (size_t l = 0; l < sizeof(all_levels); l++) {
		struct broker_client *c = connect_level(b, all_levels[l], "c", 0, false);
		struct mqtt_packet p;

		send_ack5(b, c, MQTT_PUBACK, 999);
		send_ack5(b, c, MQTT_PUBCOMP, 998);
		expect_nothing(c);
		send_ack5(b, c, MQTT_PUBREC, 997);
		expect_packet(c, MQTT_PUBREL, &p);
		assert_int_equal(p.u.ack.packet_id, 997);
		assert_int_equal(p.u.ack.reason_code, all_levels[l] == MQTT_LEVEL_5 ? 0x92 : 0);
		if (all_levels[l] == MQTT_LEVEL_5) {
			p = (struct mqtt_packet){ .type = MQTT_PUBREC };
			p.u.ack.packet_id = 996;
			p.u.ack.reason_code = 0x80;
			send5(b, c, &p);
			p.u.ack.reason_code = 0x87;
			send5(b, c, &p);
			expect_nothing(c);
		}
		assert_int_equal(c->state, CLIENT_CONNECTED);
		drop_client(b, c);
	}
	free_broker(b);
}

/* MQTT 5: a PUBREC of 0x80 or more ends the QoS 2 flow: no PUBREL, and
 * nothing to resend after a reconnect [MQTT-4.3.3-4]. */
static void test_pubrec_failure_ends_flow(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *sub = connect5(b, "sub", false, 600, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, sub, "t", 2, 0);
	publish5(b, pub, "t", "m", 2, false, 0);
	expect_publish(sub, "t", "m", 2, false, &p);
	p = (struct mqtt_packet){ .type = MQTT_PUBREC, .u.ack = { .packet_id = p.u.publish.packet_id,
								  .reason_code = 0x80 } };
	send5(b, sub, &p);
	expect_nothing(sub);
	drop_client(b, sub);
	sub = connect5(b, "sub", false, 600, true);
	expect_nothing(sub);
	drop_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ==== codes only a server may send ==== */

static void test_client_disconnect_server_code(void **state)
{
	static const uint8_t server_only[] = { 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B,
					       0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2 };
	static const uint8_t undefined[] = { 0x01, 0x05, 0x7F, 0x84, 0xFF };

	(void)state;
	for (size_t i = 0; i < sizeof(server_only) + sizeof(undefined); i++) {
		uint8_t code = i < sizeof(server_only) ? server_only[i]
						       : undefined[i - sizeof(server_only)];
		struct broker *b = default_broker();
		struct broker_client *watch = connect5(b, "watch", true, 0, false);
		struct mqtt_packet cp = connect_at(MQTT_LEVEL_5, "c", false, 10), ack, p;
		struct mqtt_props expiry = { 0 };
		struct broker_client *c;

		subscribe5(b, watch, "will", 0, 0);
		set_will(&cp, "will", "gone", 0, false);
		c = connect_packet_ok(b, &cp, false, &ack);
		expiry.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
		expiry.session_expiry = 1000;
		send_disconnect5(b, c, code, &expiry);
		expect_protocol_close(c, 0x81);
		free_client(b, c);
		expect_publish(watch, "will", "gone", 0, false, &p); /* not a normal disconnect */
		/* Its Session Expiry Interval was not applied: 10 s, not 1000. */
		assert_int_equal(stats(b)->sessions, 2);
		set_time(b, 11000);
		broker_tick(b);
		assert_int_equal(stats(b)->sessions, 1);
		drop_client(b, watch);
		free_broker(b);
	}
}

/* AUTH 0x00 (Success) is the server's word. */
static void test_client_auth_success_code(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct mqtt_packet p = { .type = MQTT_AUTH };

	(void)state;
	send5(b, c, &p);
	expect_protocol_close(c, 0x81);
	free_client(b, c);
	free_broker(b);
}

/* ==== a Maximum Packet Size too small for the CONNACK ==== */

static void test_connack_larger_than_client_maximum(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *old = connect5(b, "c", false, 600, false);
	struct mqtt_packet cp = connect_at(MQTT_LEVEL_5, "c", false, 600), ack;
	long need;

	(void)state;
	/* The size of the CONNACK the broker sends this CONNECT. */
	{
		struct broker_client *probe = new_client(b);
		struct mqtt_packet pc = connect_at(MQTT_LEVEL_5, "probe", true, 0);

		send5(b, probe, &pc);
		expect_connack(probe, false, 0, &ack);
		need = (long)last_packet_len;
		drop_client(b, probe);
	}
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
	for (uint32_t max = 2; max < (uint32_t)need; max += max < 8 ? 1 : 3) {
		struct broker_client *c = new_client(b);

		cp.u.connect.props.maximum_packet_size = max;
		send5(b, c, &cp);
		expect_nothing(c); /* no CONNACK can be sent: closed at once */
		assert_closed(c, CLOSE_REFUSED);
		free_client(b, c);
		/* The connection using the id, and its session, are untouched. */
		assert_int_equal(old->state, CLIENT_CONNECTED);
	}
	cp.u.connect.props.maximum_packet_size = (uint32_t)need;
	{
		struct broker_client *c = new_client(b);

		send5(b, c, &cp);
		free_client(b, old); /* taken over */
		expect_connack(c, true, 0, &ack);
		drop_client(b, c);
	}
	free_broker(b);
}

/* ==== Receive Maximum ==== */

static void test_receive_maximum_both_versions(void **state)
{
	(void)state;
	for (size_t l = 0; l < sizeof(all_levels); l++) {
		struct broker_config cfg;
		struct broker *b;
		struct broker_client *c;
		struct mqtt_packet cp, ack, p;

		test_config(&cfg);
		cfg.receive_maximum = 3;
		b = new_broker(&cfg);
		cp = connect_at(all_levels[l], "c", true, 0);
		c = connect_packet_ok(b, &cp, false, &ack);
		if (all_levels[l] == MQTT_LEVEL_5)
			assert_int_equal(ack.u.connack.props.receive_maximum, 3);
		/* QoS 1 is acknowledged at once: never outstanding. */
		for (uint16_t id = 1; id <= 10; id++) {
			p = publish_packet("q", "1", 1, 1, false, id);
			send_at(b, c, &p);
		}
		for (uint16_t id = 1; id <= 10; id++)
			expect_packet(c, MQTT_PUBACK, &p);
		/* Three QoS 2 awaiting PUBREL; a fourth is one too many. */
		for (uint16_t id = 1; id <= 3; id++) {
			p = publish_packet("q", "2", 1, 2, false, id);
			send_at(b, c, &p);
			expect_packet(c, MQTT_PUBREC, &p);
		}
		p = publish_packet("q", "2", 1, 2, false, 4);
		send_at(b, c, &p);
		expect_protocol_close(c, 0x93);
		free_client(b, c);
		free_broker(b);
	}
}

/* A QoS 2 PUBLISH answered with a PUBREC of 0x80 or more takes no slot and
 * leaves its id free: reusing it at once is a new message, not a resend. */
static void test_refused_qos2_takes_no_slot(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c, *sub;
	struct mqtt_packet p;
	struct mqtt_props pfi = { 0 };

	(void)state;
	test_config(&cfg);
	cfg.receive_maximum = 2;
	b = new_broker(&cfg);
	c = connect5(b, "c", true, 0, false);
	sub = connect5(b, "sub", true, 0, false);
	subscribe5(b, sub, "q", 2, 0);
	pfi.present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT);
	pfi.payload_format = 1;
	for (uint16_t id = 1; id <= 5; id++) {
		p = publish_packet("q", "\xff", 1, 2, false, id);
		p.u.publish.props = pfi;
		send5(b, c, &p);
		expect_ack5(c, MQTT_PUBREC, id, 0x99);
	}
	expect_nothing(sub);
	p = publish_packet("q", "ok", 2, 2, false, 1);
	send5(b, c, &p);
	expect_ack5(c, MQTT_PUBREC, 1, 0);
	expect_publish(sub, "q", "ok", 2, false, &p);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	drop_client(b, c);
	drop_client(b, sub);
	free_broker(b);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_connect_fields),
		TEST(test_connect_will_topic_rules),
		TEST(test_topic_and_filter_strings),
		TEST(test_refused_topics_not_routed),
		TEST(test_bad_filters_close_311),
		TEST(test_bad_filters_0x8f_v5),
		TEST(test_wrong_kind_acks),
		TEST(test_acks_for_unknown_ids),
		TEST(test_pubrec_failure_ends_flow),
		TEST(test_client_disconnect_server_code),
		TEST(test_client_auth_success_code),
		TEST(test_connack_larger_than_client_maximum),
		TEST(test_receive_maximum_both_versions),
		TEST(test_refused_qos2_takes_no_slot),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
