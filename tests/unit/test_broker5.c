/*
 * test_broker5.c - the MQTT 5.0 behaviour of the broker core, driven through
 * its public API with no sockets (as test_broker.c does for MQTT 3.1.1).
 *
 * Clients are fed packets encoded at level 5 and what the broker sends back
 * is decoded, packet by packet, at the level the client speaks. Time only
 * moves through broker_set_time and broker_tick.
 *
 * Statement ids ([MQTT-x.y.z-n]) and section numbers refer to OASIS MQTT
 * Version 5.0.
 */
#include "broker_client.h"

#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include "base/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== CONNECT and CONNACK ==== */

/* [MQTT 5.0, 3.2.2.3]: the CONNACK states this broker's limits. */
static void test5_connack_properties(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c;
	struct mqtt_packet cp, ack;

	(void)state;
	test_config(&cfg);
	cfg.max_packet_size = 4096;
	cfg.receive_maximum = 20;
	b = new_broker(&cfg);
	cp = connect_packet(MQTT_LEVEL_5, "alpha", true, 60, 0);
	c = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_MAXIMUM_PACKET_SIZE));
	assert_int_equal(ack.u.connack.props.maximum_packet_size, 4096);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_RECEIVE_MAXIMUM));
	assert_int_equal(ack.u.connack.props.receive_maximum, 20);
	/* Shared Subscription Available: see test5_shared_subscription_announced. */
	/* The client chose its id and a keepalive within the limits. */
	assert_false(has_prop(&ack.u.connack.props, MQTT_PROP_ASSIGNED_CLIENT_ID));
	assert_false(has_prop(&ack.u.connack.props, MQTT_PROP_SERVER_KEEPALIVE));
	expect_nothing(c);
	assert_int_equal(stats(b)->clients_connected, 1);
	assert_int_equal(stats(b)->sessions, 1);
	drop_client(b, c);
	free_broker(b);
}

/* [MQTT-3.1.3-6], [MQTT-3.2.2-16]: an empty client id gets one assigned and
 * announced; MQTT 5 allows it with clean start 0 too (3.1.3.1). */
static void test5_assigned_client_id(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c1, *c2, *c3;
	struct mqtt_packet cp, ack;
	char id1[64], id2[64];
	uint16_t n;

	(void)state;
	cp = connect_packet(MQTT_LEVEL_5, "", true, 0, 0);
	c1 = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_ASSIGNED_CLIENT_ID));
	n = ack.u.connack.props.assigned_client_id.len;
	assert_true(n > 0 && n < sizeof(id1));
	memcpy(id1, ack.u.connack.props.assigned_client_id.data, n);
	id1[n] = '\0';

	cp = connect_packet(MQTT_LEVEL_5, "", false, 0, 100);
	c2 = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_ASSIGNED_CLIENT_ID));
	n = ack.u.connack.props.assigned_client_id.len;
	assert_true(n > 0 && n < sizeof(id2));
	memcpy(id2, ack.u.connack.props.assigned_client_id.data, n);
	id2[n] = '\0';
	assert_string_not_equal(id1, id2);
	assert_int_equal(c1->state, CLIENT_CONNECTED); /* not taken over */
	assert_int_equal(stats(b)->clients_connected, 2);

	/* The assigned id names a session that outlives the connection. */
	drop_client(b, c2);
	assert_int_equal(stats(b)->sessions, 2);
	cp = connect_packet(MQTT_LEVEL_5, id2, false, 0, 100);
	c3 = connect_packet_ok(b, &cp, true, &ack);
	assert_false(has_prop(&ack.u.connack.props, MQTT_PROP_ASSIGNED_CLIENT_ID));
	drop_client(b, c1);
	drop_client(b, c3);
	free_broker(b);
}

/* [MQTT-3.2.2-21]: a keepalive above keepalive_max (or 0) is replaced by
 * the maximum, announced as Server Keep Alive and enforced as such
 * ([MQTT-3.1.2-24]: 1.5 times, then DISCONNECT 0x8D). */
static void test5_server_keepalive(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *slow, *none, *fine;
	struct mqtt_packet cp, ack;

	(void)state;
	test_config(&cfg);
	cfg.keepalive_max = 30;
	b = new_broker(&cfg);

	cp = connect_packet(MQTT_LEVEL_5, "slow", true, 60, 0);
	slow = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_SERVER_KEEPALIVE));
	assert_int_equal(ack.u.connack.props.server_keepalive, 30);

	cp = connect_packet(MQTT_LEVEL_5, "none", true, 0, 0);
	none = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_SERVER_KEEPALIVE));
	assert_int_equal(ack.u.connack.props.server_keepalive, 30);

	cp = connect_packet(MQTT_LEVEL_5, "fine", true, 20, 0);
	fine = connect_packet_ok(b, &cp, false, &ack);
	assert_false(has_prop(&ack.u.connack.props, MQTT_PROP_SERVER_KEEPALIVE));

	/* "fine" stays alive; the others are silent. */
	set_time(b, 20000);
	ack = (struct mqtt_packet){ .type = MQTT_PINGREQ };
	send5(b, fine, &ack);
	expect_packet(fine, MQTT_PINGRESP, &ack);

	tick_at(b, 44999);
	assert_int_equal(slow->state, CLIENT_CONNECTED);
	assert_int_equal(none->state, CLIENT_CONNECTED);
	expect_nothing(slow);
	expect_nothing(none);

	tick_at(b, 45000); /* 1.5 x 30 s, not 1.5 x 60 s */
	expect_disconnect(slow, 0x8D);
	expect_nothing(slow);
	assert_closed(slow, CLOSE_KEEPALIVE);
	expect_disconnect(none, 0x8D);
	assert_closed(none, CLOSE_KEEPALIVE);
	assert_int_equal(fine->state, CLIENT_CONNECTED);
	expect_nothing(fine);

	free_client(b, slow);
	free_client(b, none);
	drop_client(b, fine);
	free_broker(b);
}

/* Checks a refused CONNECT's CONNACK: reason code, a Reason String, no
 * session, then the close. */
static void expect_refusal(struct broker *b, struct broker_client *c, uint8_t rc)
{
	struct mqtt_packet ack;

	expect_connack(c, false, rc, &ack); /* [MQTT-3.2.2-6] session present 0 */
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_REASON_STRING));
	assert_true(ack.u.connack.props.reason_string.len > 0);
	expect_nothing(c);
	assert_closed(c, CLOSE_REFUSED);
	assert_int_equal(stats(b)->clients_connected, 0);
	assert_int_equal(stats(b)->sessions, 0);
}

/* No enhanced authentication method is available: 0x8C Bad authentication
 * method (3.1.2.11.9, 4.12). */
static void test5_auth_method_refused(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "auth", true, 0, 0);

	(void)state;
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	cp.u.connect.props.auth_method = pstr("SCRAM-SHA-1");
	send5(b, c, &cp);
	expect_refusal(b, c, 0x8C);
	free_client(b, c);
	free_broker(b);
}

static void test5_anonymous_refused(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "anon", false, 0, 100);

	(void)state;
	send5(b, c, &cp);
	expect_refusal(b, c, 0x87);
	free_client(b, c);
	free_broker(b);
}

/* A level-5 CONNECT without its property length is malformed: CONNACK in
 * the MQTT 5 format with 0x81, then the close ([MQTT-3.1.4-1], 4.13). */
static void test5_malformed_connect(void **state)
{
	static const uint8_t bad[] = {
		0x10, 13,                       /* CONNECT, remaining length */
		0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
		0x05,                           /* level 5 */
		0x02,                           /* clean start */
		0x00, 0x3C,                     /* keepalive 60 */
		/* no property length */
		0x00, 0x01, 'x',                /* client id */
	};
	struct broker *b = default_broker();
	struct broker_client *c = new_client(b);
	struct mqtt_packet ack;

	(void)state;
	feed(b, c, bad, sizeof(bad));
	assert_int_equal(c->level, MQTT_LEVEL_5);
	expect_connack(c, false, 0x81, &ack); /* decodes only as an MQTT 5 CONNACK */
	expect_nothing(c);
	assert_closed(c, CLOSE_REFUSED);
	assert_int_equal(stats(b)->clients_connected, 0);
	assert_int_equal(stats(b)->sessions, 0);
	free_client(b, c);
	free_broker(b);
}

/* ==== session expiry ==== */

/* Clean start 1 and no Session Expiry Interval: the session ends with the
 * connection (3.1.2.11.2). */
static void test5_session_ends_with_connection(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c;

	(void)state;
	c = connect5(b, "brief", true, 0, false);
	subscribe5(b, c, "t", 1, 0);
	drop_client(b, c);
	assert_int_equal(stats(b)->sessions, 0);
	assert_int_equal(stats(b)->subscriptions, 0);
	c = connect5(b, "brief", false, 0, false);
	drop_client(b, c);
	assert_int_equal(stats(b)->sessions, 0);
	free_broker(b);
}

/* Session Expiry Interval N: kept N seconds offline, queueing QoS 1 messages
 * ([MQTT-3.1.2-23]); resumed with session present 1 [MQTT-3.2.2-2]; gone
 * after N seconds. */
static void test5_session_expiry_interval(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *sub = connect5(b, "sub", true, 10, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, sub, "t", 1, 0);
	drop_client(b, sub);
	assert_int_equal(stats(b)->sessions, 2);
	publish5(b, pub, "t", "kept", 1, false, 0x00);

	tick_at(b, 9999);
	assert_int_equal(stats(b)->sessions, 2);
	sub = connect5(b, "sub", false, 10, true);
	expect_publish(sub, "t", "kept", 1, false, &p);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	expect_nothing(sub);

	drop_client(b, sub); /* at 9999: the new interval counts from here */
	publish5(b, pub, "t", "lost", 1, false, 0x00);
	tick_at(b, 9999 + 9999);
	assert_int_equal(stats(b)->sessions, 2);
	tick_at(b, 9999 + 10000);
	assert_int_equal(stats(b)->sessions, 1);
	assert_int_equal(stats(b)->subscriptions, 0);
	sub = connect5(b, "sub", false, 10, false);
	expect_nothing(sub);
	publish5(b, pub, "t", "none", 1, false, 0x10);
	expect_nothing(sub);

	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* Session Expiry Interval 0xFFFFFFFF: the session does not expire. */
static void test5_session_never_expires(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "forever", true, UINT32_MAX, false);

	(void)state;
	drop_client(b, c);
	tick_at(b, (uint64_t)UINT32_MAX * 1000 - 1000);
	assert_int_equal(stats(b)->sessions, 1);
	c = connect5(b, "forever", false, UINT32_MAX, true);
	drop_client(b, c);
	free_broker(b);
}

static struct mqtt_props session_expiry_props(uint32_t seconds)
{
	struct mqtt_props props = { 0 };

	props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
	props.session_expiry = seconds;
	return props;
}

/* The DISCONNECT's Session Expiry Interval replaces the CONNECT's
 * (3.14.2.2.2). */
static void test5_disconnect_changes_expiry(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c;
	struct mqtt_props props;

	(void)state;
	/* 100 -> 0: the session ends now. */
	c = connect5(b, "shorter", true, 100, false);
	props = session_expiry_props(0);
	send_disconnect5(b, c, 0x00, &props);
	assert_closed(c, CLOSE_DISCONNECT);
	expect_nothing(c);
	free_client(b, c);
	assert_int_equal(stats(b)->sessions, 0);

	/* 5 -> 1000: still there after 5 s. */
	c = connect5(b, "longer", true, 5, false);
	props = session_expiry_props(1000);
	send_disconnect5(b, c, 0x00, &props);
	assert_closed(c, CLOSE_DISCONNECT);
	free_client(b, c);
	tick_at(b, 6000);
	assert_int_equal(stats(b)->sessions, 1);
	c = connect5(b, "longer", false, 0, true);
	drop_client(b, c);
	assert_int_equal(stats(b)->sessions, 0); /* that CONNECT said 0 */
	free_broker(b);
}

/* CONNECT with expiry 0, DISCONNECT with a non-zero one: a Protocol Error
 * (3.14.2.2.2), not a valid DISCONNECT: DISCONNECT 0x82 from the server,
 * and, since the will was not discarded by a normal DISCONNECT, the will
 * goes out [MQTT-3.1.2-8]. */
static void test5_disconnect_expiry_after_zero(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "zero", true, 0, 0), p;
	struct mqtt_props props = session_expiry_props(30);

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	set_will(&cp, "will/zero", "bye", 0, false);
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	send_disconnect5(b, c, 0x00, &props);
	expect_disconnect(c, 0x82);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
	free_client(b, c);
	assert_int_equal(stats(b)->sessions, 1); /* "zero" ended with its connection */
	expect_publish(watch, "will/zero", "bye", 0, false, &p);
	drop_client(b, watch);
	free_broker(b);
}

/* Clean start 1 discards an existing session [MQTT-3.1.2-4]. */
static void test5_clean_start_discards_session(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *c = connect5(b, "x", false, 100, false);

	(void)state;
	subscribe5(b, c, "t", 1, 0);
	drop_client(b, c);
	publish5(b, pub, "t", "queued", 1, false, 0x00);
	c = connect5(b, "x", true, 100, false);
	expect_nothing(c); /* neither the queued message ... */
	publish5(b, pub, "t", "after", 1, false, 0x10); /* ... nor the subscription */
	expect_nothing(c);
	assert_int_equal(stats(b)->subscriptions, 0);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* ==== will ==== */

/* The Will Properties that travel with the message reach the subscriber
 * (3.1.3.2: payload format, content type, response topic, correlation
 * data, user properties in order). */
static void test5_will_properties_forwarded(void **state)
{
	static const char *const users[][2] = {
		{ "k1", "v1" }, { "k1", "v2" }, { "k0", "v0" }, { "k1", "v1" },
	};
	static const uint8_t corr[] = { 0x00, 0x01, 0xFF };
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *old = connect311(b, "old", true, 0, false);
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "willer", true, 0, 0), p;
	struct mqtt_props *wp = &cp.u.connect.will_props;
	uint8_t raw[128];
	size_t n = 0;

	(void)state;
	subscribe5(b, watch, "will/#", 1, 0);
	subscribe311(b, old, "will/#", 1);
	for (size_t i = 0; i < 4; i++)
		user_prop(raw, sizeof(raw), &n, users[i][0], users[i][1]);
	set_will(&cp, "will/a", "gone", 1, false);
	wp->present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
		      MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
		      MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
		      MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA);
	wp->payload_format = 1;
	wp->content_type = pstr("text/plain");
	wp->response_topic = pstr("reply/to/me");
	wp->correlation_data = (struct mqtt_props_str){ corr, sizeof(corr) };
	wp->user_raw = raw;
	wp->user_raw_len = (uint32_t)n;
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	drop_client(b, c);

	expect_publish(watch, "will/a", "gone", 1, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_PAYLOAD_FORMAT));
	assert_int_equal(p.u.publish.props.payload_format, 1);
	assert_pstr(p.u.publish.props.content_type, "text/plain", 10);
	assert_pstr(p.u.publish.props.response_topic, "reply/to/me", 11);
	assert_pstr(p.u.publish.props.correlation_data, corr, sizeof(corr));
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_WILL_DELAY)); /* not a PUBLISH property */
	expect_user_props(&p.u.publish.props, users, 4);
	expect_nothing(watch);
	/* The MQTT 3.1.1 subscriber gets the bare message. */
	expect_publish(old, "will/a", "gone", 1, false, &p);
	expect_nothing(old);
	drop_client(b, watch);
	drop_client(b, old);
	free_broker(b);
}

/* A client with a will, a session expiry and a will delay. */
static struct broker_client *connect_will_delay(struct broker *b, const char *id,
						uint32_t expiry, uint32_t delay, const char *topic)
{
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, id, true, 0, expiry), ack;

	set_will(&cp, topic, "late", 0, false);
	if (delay)
		set_will_delay(&cp, delay);
	return connect_packet_ok(b, &cp, false, &ack);
}

/* Will Delay Interval (3.1.3.2.2): published when the delay passes. */
static void test5_will_delay(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = connect_will_delay(b, "w", 100, 5, "will/w");
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	drop_client(b, c);
	expect_nothing(watch); /* not at once */
	tick_at(b, 4999);
	expect_nothing(watch);
	tick_at(b, 5000);
	expect_publish(watch, "will/w", "late", 0, false, &p);
	tick_at(b, 10000);
	expect_nothing(watch); /* once */
	assert_int_equal(stats(b)->sessions, 2); /* the session outlives its will */
	drop_client(b, watch);
	free_broker(b);
}

/* Back within the delay: the will is not sent [MQTT-3.1.3-9]. */
static void test5_will_delay_cancelled_by_reconnect(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = connect_will_delay(b, "w", 100, 5, "will/w");

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	drop_client(b, c);
	tick_at(b, 3000);
	c = connect5(b, "w", false, 100, true);
	tick_at(b, 5000);
	tick_at(b, 60000);
	expect_nothing(watch);
	send_disconnect5(b, c, 0x00, NULL);
	free_client(b, c);
	tick_at(b, 120000);
	expect_nothing(watch);
	drop_client(b, watch);
	free_broker(b);
}

/* The session ends before the delay: the will goes then [MQTT-3.1.3-9]
 * ("until the Will Delay Interval has passed or the Session ends, whichever
 * happens first"). */
static void test5_will_delay_session_ends_first(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = connect_will_delay(b, "w", 3, 10, "will/w");
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	drop_client(b, c);
	tick_at(b, 2999);
	expect_nothing(watch);
	assert_int_equal(stats(b)->sessions, 2);
	tick_at(b, 3000);
	expect_publish(watch, "will/w", "late", 0, false, &p);
	assert_int_equal(stats(b)->sessions, 1);
	tick_at(b, 10000);
	expect_nothing(watch);

	/* Session expiry 0: the session ends with the connection, the will
	 * goes at once. */
	c = connect_will_delay(b, "now", 0, 10, "will/now");
	drop_client(b, c);
	expect_publish(watch, "will/now", "late", 0, false, &p);
	drop_client(b, watch);
	free_broker(b);
}

/* DISCONNECT 0x04 asks for the will (3.14.2.1); 0x00 discards it
 * [MQTT-3.14.4-3]. */
static void test5_disconnect_with_will(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = connect_will_delay(b, "a", 0, 0, "will/a");
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	send_disconnect5(b, c, 0x04, NULL);
	assert_closed(c, CLOSE_DISCONNECT_WILL);
	expect_nothing(c);
	free_client(b, c);
	expect_publish(watch, "will/a", "late", 0, false, &p);

	c = connect_will_delay(b, "b", 0, 0, "will/b");
	send_disconnect5(b, c, 0x00, NULL);
	assert_closed(c, CLOSE_DISCONNECT);
	free_client(b, c);
	expect_nothing(watch);
	drop_client(b, watch);
	free_broker(b);
}

/* The will's Message Expiry Interval is its lifetime from publication: a
 * subscriber that picks it up later gets the time left. */
static void test5_will_message_expiry(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *sub = connect5(b, "sub", true, 100, false);
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "w", true, 0, 0), p;

	(void)state;
	subscribe5(b, sub, "will/#", 1, 0);
	drop_client(b, sub);
	set_will(&cp, "will/w", "bye", 1, false);
	cp.u.connect.will_props.present = MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
	cp.u.connect.will_props.message_expiry = 10;
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	set_time(b, 1000);
	drop_client(b, c); /* published now, at +1 s */

	set_time(b, 5000);
	sub = connect5(b, "sub", false, 100, true);
	expect_publish(sub, "will/w", "bye", 1, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(p.u.publish.props.message_expiry, 6);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	drop_client(b, sub);

	/* Picked up after it expired: not delivered. */
	c = new_client(b);
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	drop_client(b, c); /* at +5 s */
	set_time(b, 15000);
	sub = connect5(b, "sub", false, 100, true);
	expect_nothing(sub);
	drop_client(b, sub);
	free_broker(b);
}

/* A delayed will: its Message Expiry Interval is "sent as the Publication
 * Expiry Interval when the Server publishes the Will Message" (3.1.3.2.4),
 * so it starts when the delay ends, not at the disconnection. */
static void test5_delayed_will_expiry_from_publication(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "w", true, 0, 100), p;

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	set_will(&cp, "will/w", "bye", 0, false);
	set_will_delay(&cp, 5);
	cp.u.connect.will_props.present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
	cp.u.connect.will_props.message_expiry = 10;
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	drop_client(b, c);
	tick_at(b, 5000);
	expect_publish(watch, "will/w", "bye", 0, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(p.u.publish.props.message_expiry, 10);
	drop_client(b, watch);
	free_broker(b);
}

/* The same with a will delay longer than the will's lifetime: the will must
 * still be published, with its full lifetime. */
static void test5_delayed_will_outlasting_its_expiry(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *watch = connect5(b, "watch", true, 0, false);
	struct broker_client *c = new_client(b);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "w", true, 0, 100), p;

	(void)state;
	subscribe5(b, watch, "will/#", 0, 0);
	set_will(&cp, "will/w", "bye", 0, false);
	set_will_delay(&cp, 10);
	cp.u.connect.will_props.present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
	cp.u.connect.will_props.message_expiry = 5;
	send5(b, c, &cp);
	expect_connack(c, false, 0, &p);
	drop_client(b, c);
	tick_at(b, 9999);
	expect_nothing(watch);
	tick_at(b, 10000);
	expect_publish(watch, "will/w", "bye", 0, false, &p);
	assert_int_equal(p.u.publish.props.message_expiry, 5);
	drop_client(b, watch);
	free_broker(b);
}

/* ==== PUBLISH properties ==== */

/* Payload format, content type, response topic, correlation data and user
 * properties go to MQTT 5 subscribers unaltered ([MQTT-3.3.2-4],
 * [MQTT-3.3.2-15..20]), user properties in order with duplicates; an MQTT
 * 3.1.1 subscriber gets the same message without them. */
static void test5_publish_properties_forwarded(void **state)
{
	static const char *const users[][2] = {
		{ "a", "1" }, { "b", "2" }, { "a", "1" }, { "a", "3" }, { "", "" },
	};
	static const uint8_t corr[] = { 0xDE, 0xAD, 0x00, 0xBE, 0xEF };
	struct broker *b = default_broker();
	struct broker_client *v5 = connect5(b, "v5", true, 0, false);
	struct broker_client *v3 = connect311(b, "v3", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_props props = { 0 };
	struct mqtt_packet p;
	uint8_t raw[128];
	size_t n = 0;

	(void)state;
	subscribe5(b, v5, "data/#", 1, 0);
	subscribe311(b, v3, "data/#", 1);
	for (size_t i = 0; i < 5; i++)
		user_prop(raw, sizeof(raw), &n, users[i][0], users[i][1]);
	props.present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
			MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
			MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
			MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA);
	props.payload_format = 1;
	props.content_type = pstr("application/json");
	props.response_topic = pstr("data/reply");
	props.correlation_data = (struct mqtt_props_str){ corr, sizeof(corr) };
	props.user_raw = raw;
	props.user_raw_len = (uint32_t)n;
	publish5_props(b, pub, "data/x", "{\"v\":1}", 7, 1, false, &props, 0x00);

	expect_publish(v5, "data/x", "{\"v\":1}", 1, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_PAYLOAD_FORMAT));
	assert_int_equal(p.u.publish.props.payload_format, 1);
	assert_pstr(p.u.publish.props.content_type, "application/json", 16);
	assert_pstr(p.u.publish.props.response_topic, "data/reply", 10);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_CORRELATION_DATA));
	assert_pstr(p.u.publish.props.correlation_data, corr, sizeof(corr));
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(p.u.publish.props.sub_id_count, 0);
	expect_user_props(&p.u.publish.props, users, 5);
	expect_nothing(v5);

	/* Decoded at level 4, any property bytes would show in the payload. */
	expect_publish(v3, "data/x", "{\"v\":1}", 1, false, &p);
	expect_nothing(v3);

	/* QoS 0 takes another path (no heap message): the same result. */
	publish5_props(b, pub, "data/y", "zero", 4, 0, false, &props, 0);
	expect_publish(v5, "data/y", "zero", 0, false, &p);
	assert_pstr(p.u.publish.props.content_type, "application/json", 16);
	expect_user_props(&p.u.publish.props, users, 5);
	expect_publish(v3, "data/y", "zero", 0, false, &p);

	/* A message without properties gets none. */
	publish5(b, pub, "data/z", "bare", 0, false, 0);
	expect_publish(v5, "data/z", "bare", 0, false, &p);
	assert_int_equal(p.u.publish.props.present, 0);
	assert_int_equal(p.u.publish.props.raw_len, 0);
	drop_client(b, v5);
	drop_client(b, v3);
	drop_client(b, pub);
	free_broker(b);
}

/* Message Expiry Interval: sent on as the time left [MQTT-3.3.2-6]. */
static void test5_message_expiry_forwarded(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *live = connect5(b, "live", true, 0, false);
	struct broker_client *sub = connect5(b, "sub", true, 100, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_props props = expiry_props(10);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, live, "e", 0, 0);
	subscribe5(b, sub, "e", 1, 0);
	drop_client(b, sub);
	publish5_props(b, pub, "e", "ten", 3, 1, false, &props, 0x00);
	expect_publish(live, "e", "ten", 0, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(p.u.publish.props.message_expiry, 10);

	set_time(b, 4000);
	broker_tick(b);
	sub = connect5(b, "sub", false, 100, true);
	expect_publish(sub, "e", "ten", 1, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(p.u.publish.props.message_expiry, 6);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	expect_nothing(sub);
	drop_client(b, live);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* Message Expiry Interval 0: no expiry (as Mosquitto), so the message is
 * delivered live, queued for an offline session and retained, and carries
 * no interval on. */
static void test5_message_expiry_zero_never_expires(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *live = connect5(b, "live", true, 0, false);
	struct broker_client *away = connect5(b, "away", true, 100, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_props props = expiry_props(0);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, live, "z", 1, 0);
	subscribe5(b, away, "z", 1, 0);
	drop_client(b, away);
	publish5_props(b, pub, "z", "zero", 4, 1, true, &props, 0x00);
	expect_publish(live, "z", "zero", 1, false, &p);
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	set_time(b, 50 * 1000); /* within the session expiry */
	broker_tick(b);
	away = connect5(b, "away", false, 100, true);
	expect_publish(away, "z", "zero", 1, false, &p);
	subscribe5(b, pub, "z", 1, 0);
	expect_publish(pub, "z", "zero", 1, true, &p);
	drop_client(b, live);
	drop_client(b, away);
	drop_client(b, pub);
	free_broker(b);
}

/* An expired message is not delivered from an offline queue
 * [MQTT-3.3.2-5]; one without expiry queued beside it is. */
static void test5_expired_not_delivered_from_queue(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *sub = connect5(b, "sub", true, 100, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_props props = expiry_props(2);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, sub, "q", 2, 0);
	drop_client(b, sub);
	publish5_props(b, pub, "q", "short", 5, 1, false, &props, 0x00);
	publish5_props(b, pub, "q", "short2", 6, 2, false, &props, 0x00);
	publish5(b, pub, "q", "stays", 1, false, 0x00);
	set_time(b, 3000);
	broker_tick(b);
	sub = connect5(b, "sub", false, 100, true);
	expect_publish(sub, "q", "stays", 1, false, &p);
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_MESSAGE_EXPIRY));
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* A retained message with an expiry: sent to new subscribers with the time
 * left, not at all once expired [MQTT-3.3.2-5]. */
static void test5_retained_message_expiry(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *sub = connect5(b, "sub", true, 0, false);
	struct mqtt_props props = expiry_props(5);
	struct mqtt_packet p;

	(void)state;
	publish5_props(b, pub, "r", "kept", 4, 1, true, &props, 0x10);
	set_time(b, 2000);
	subscribe5(b, sub, "r", 1, 0);
	expect_publish(sub, "r", "kept", 1, true, &p);
	assert_int_equal(p.u.publish.props.message_expiry, 3);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	set_time(b, 5000);
	subscribe5(b, sub, "r", 1, 0);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

static struct mqtt_props format_props(uint8_t indicator)
{
	struct mqtt_props props = { 0 };

	props.present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT);
	props.payload_format = indicator;
	return props;
}

/* Payload Format Indicator 1 with a payload that is not UTF-8: PUBACK or
 * PUBREC 0x99 (Payload format invalid), and the message goes nowhere
 * (3.3.2.3.2, 3.4.2.1). */
static void test5_payload_format_invalid(void **state)
{
	static const uint8_t bad[] = { 'o', 'k', 0xFF, 0xFE };
	static const char good[] = "h\xC3\xA9llo"; /* "héllo" */
	struct broker *b = default_broker();
	struct broker_client *sub = connect5(b, "sub", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *late;
	struct mqtt_props utf8 = format_props(1), binary = format_props(0);
	struct mqtt_packet p;
	uint64_t sent;

	(void)state;
	subscribe5(b, sub, "p/#", 1, 0);
	publish5_props(b, pub, "p/1", bad, sizeof(bad), 1, false, &utf8, 0x99);
	publish5_props(b, pub, "p/2", bad, sizeof(bad), 2, false, &utf8, 0x99);
	publish5_props(b, pub, "p/3", bad, sizeof(bad), 1, true, &utf8, 0x99);
	expect_nothing(sub);
	assert_int_equal(stats(b)->retained, 0);
	late = connect5(b, "late", true, 0, false);
	subscribe5(b, late, "p/#", 1, 0);
	expect_nothing(late); /* not retained either */

	/* Well-formed UTF-8 with the indicator, and any bytes without it. */
	sent = stats(b)->msgs_sent;
	publish5_props(b, pub, "p/4", good, strlen(good), 1, false, &utf8, 0x00);
	expect_publish(sub, "p/4", good, 1, false, &p);
	assert_int_equal(p.u.publish.props.payload_format, 1);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	expect_publish(late, "p/4", good, 1, false, &p);
	send_ack5(b, late, MQTT_PUBACK, p.u.publish.packet_id);
	publish5_props(b, pub, "p/5", bad, sizeof(bad), 1, false, &binary, 0x00);
	expect_packet(sub, MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.payload_len, sizeof(bad));
	assert_memory_equal(p.u.publish.payload, bad, sizeof(bad));
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	expect_packet(late, MQTT_PUBLISH, &p);
	send_ack5(b, late, MQTT_PUBACK, p.u.publish.packet_id);
	assert_int_equal(stats(b)->msgs_sent, sent + 4);

	/* U+0000 is well-formed UTF-8: allowed in a payload (unlike in MQTT
	 * strings), so it is routed. */
	{
		static const uint8_t nul[] = { 'a', 0x00, 'b' };
		publish5_props(b, pub, "p/6", nul, sizeof(nul), 1, false, &utf8, 0x00);
		expect_packet(sub, MQTT_PUBLISH, &p);
		assert_int_equal(p.u.publish.payload_len, sizeof(nul));
		assert_memory_equal(p.u.publish.payload, nul, sizeof(nul));
	}
	drop_client(b, sub);
	drop_client(b, late);
	drop_client(b, pub);
	free_broker(b);
}

/* 0x92 Packet Identifier not found (3.6.2.1, 3.7.2.1): a PUBREL or PUBREC
 * for an id the broker does not hold is answered with it; an MQTT 3.1.1
 * client gets the plain PUBCOMP. */
static void test5_unknown_packet_id_0x92(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	send_ack5(b, c, MQTT_PUBREL, 77);
	expect_packet(c, MQTT_PUBCOMP, &p);
	assert_int_equal(p.u.ack.packet_id, 77);
	assert_int_equal(p.u.ack.reason_code, 0x92);
	send_ack5(b, c, MQTT_PUBREC, 78);
	expect_packet(c, MQTT_PUBREL, &p);
	assert_int_equal(p.u.ack.packet_id, 78);
	assert_int_equal(p.u.ack.reason_code, 0x92);
	expect_nothing(c);
	drop_client(b, c);
	free_broker(b);
}

/* 0x10 No matching subscribers on PUBACK and PUBREC (3.4.2.1, 3.5.2.1);
 * 0x00 once someone subscribes; an MQTT 3.1.1 publisher gets the plain
 * acknowledgement. */
static void test5_no_matching_subscribers(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *old = connect311(b, "old", true, 0, false);
	struct broker_client *sub;
	struct mqtt_packet p = publish_packet("nobody", "x", 1, 1, false, 77);

	(void)state;
	publish5(b, pub, "nobody", "a", 1, false, 0x10);
	publish5(b, pub, "nobody", "b", 2, false, 0x10);
	send_packet_at(b, old, &p, MQTT_LEVEL_311);
	expect_packet(old, MQTT_PUBACK, &p);
	assert_int_equal(p.u.ack.packet_id, 77);
	assert_int_equal(last_packet_len, 4);

	sub = connect5(b, "sub", true, 0, false);
	subscribe5(b, sub, "nobody", 0, 0);
	publish5(b, pub, "nobody", "c", 1, false, 0x00);
	publish5(b, pub, "nobody", "d", 2, false, 0x00);
	expect_publish(sub, "nobody", "c", 0, false, &p);
	expect_publish(sub, "nobody", "d", 0, false, &p);
	drop_client(b, sub);
	drop_client(b, old);
	drop_client(b, pub);
	free_broker(b);
}

/* Sends a PUBLISH with this Topic Alias, which must be refused with
 * DISCONNECT 0x94 Topic Alias invalid and go nowhere. */
static void topic_alias_refused(struct broker *b, struct broker_client *sub, uint16_t alias)
{
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p = publish_packet("ta", "x", 1, 1, false, 9);

	p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = alias;
	send5(b, pub, &p);
	expect_disconnect(pub, 0x94);
	expect_nothing(pub);
	assert_closed(pub, CLOSE_PROTOCOL);
	expect_nothing(sub);
	free_client(b, pub);
}

/* With topic_alias_maximum 0 the CONNACK carries no Topic Alias Maximum,
 * which means 0 [MQTT-3.2.2-18]: any Topic Alias from the client is
 * DISCONNECT 0x94 [MQTT-3.3.2-9] (3.3.2.3.4); with a maximum of 2, alias 3
 * is. */
static void test5_topic_alias_refused(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *sub;
	struct mqtt_packet cp, ack;

	(void)state;
	test_config(&cfg);
	cfg.topic_alias_maximum = 0;
	b = new_broker(&cfg);
	cp = connect_packet(MQTT_LEVEL_5, "sub", true, 0, 0);
	sub = connect_packet_ok(b, &cp, false, &ack);
	assert_false(has_prop(&ack.u.connack.props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
	subscribe5(b, sub, "ta", 0, 0);
	topic_alias_refused(b, sub, 1);
	drop_client(b, sub);
	free_broker(b);

	cfg.topic_alias_maximum = 2;
	b = new_broker(&cfg);
	sub = connect_packet_ok(b, &cp, false, &ack);
	assert_true(has_prop(&ack.u.connack.props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
	assert_int_equal(ack.u.connack.props.topic_alias_maximum, 2);
	subscribe5(b, sub, "ta", 0, 0);
	topic_alias_refused(b, sub, 3);
	drop_client(b, sub);
	free_broker(b);
}

/* A PUBLISH from a client must not carry a Subscription Identifier
 * [MQTT-3.3.4-6]: Protocol Error, DISCONNECT 0x82. */
static void test5_subscription_id_from_client(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *sub = connect5(b, "sub", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p = publish_packet("si", "x", 1, 0, false, 0);

	(void)state;
	subscribe5(b, sub, "si", 0, 0);
	p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	p.u.publish.props.subscription_id = 5;
	send5(b, pub, &p);
	expect_disconnect(pub, 0x82);
	expect_nothing(pub);
	assert_closed(pub, CLOSE_PROTOCOL);
	expect_nothing(sub);
	free_client(b, pub);
	drop_client(b, sub);
	free_broker(b);
}

/* ==== SUBSCRIBE options and identifiers ==== */

/* No Local: not back to the publishing connection [MQTT-3.8.3-3], still to
 * everyone else. */
static void test5_no_local(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *a = connect5(b, "a", true, 0, false);
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, a, "nl/#", 1 | OPT_NL, 0);
	subscribe5(b, c, "nl/#", 0, 0);
	publish5(b, a, "nl/x", "from a", 1, false, 0x00);
	expect_nothing(a);
	expect_publish(c, "nl/x", "from a", 0, false, &p);
	publish5(b, c, "nl/x", "from c", 0, false, 0);
	expect_publish(a, "nl/x", "from c", 0, false, &p);
	expect_publish(c, "nl/x", "from c", 0, false, &p); /* c has no No Local */
	expect_nothing(a);
	expect_nothing(c);
	drop_client(b, a);
	drop_client(b, c);
	free_broker(b);
}

/* Retain As Published: live deliveries keep the publisher's retain flag
 * [MQTT-3.3.1-13]; without it they carry 0 [MQTT-3.3.1-12]. */
static void test5_retain_as_published(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *rap = connect5(b, "rap", true, 0, false);
	struct broker_client *plain = connect5(b, "plain", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, rap, "r", OPT_RAP, 0);
	subscribe5(b, plain, "r", 0, 0);
	publish5(b, pub, "r", "kept", 0, true, 0);
	expect_publish(rap, "r", "kept", 0, true, &p);
	expect_publish(plain, "r", "kept", 0, false, &p);
	publish5(b, pub, "r", "live", 0, false, 0);
	expect_publish(rap, "r", "live", 0, false, &p);
	expect_publish(plain, "r", "live", 0, false, &p);
	/* Messages sent because of a new subscription are retained ones
	 * [MQTT-3.3.1-8]: retain 1 either way. */
	subscribe5(b, plain, "r", 0, 0);
	expect_publish(plain, "r", "kept", 0, true, &p);
	drop_client(b, rap);
	drop_client(b, plain);
	drop_client(b, pub);
	free_broker(b);
}

/* Retain Handling 0: retained messages on every SUBSCRIBE; 1: only for a
 * new subscription; 2: never [MQTT-3.3.1-9..11]. */
static void test5_retain_handling(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	publish5(b, pub, "rh/x", "old news", 0, true, 0);

	subscribe5(b, c, "rh/x", OPT_RH(0), 0);
	expect_publish(c, "rh/x", "old news", 0, true, &p);
	subscribe5(b, c, "rh/x", OPT_RH(0), 0);
	expect_publish(c, "rh/x", "old news", 0, true, &p);

	subscribe5(b, c, "rh/+", OPT_RH(1), 0);
	expect_publish(c, "rh/x", "old news", 0, true, &p);
	subscribe5(b, c, "rh/+", OPT_RH(1), 0);
	expect_nothing(c);

	subscribe5(b, c, "rh/#", OPT_RH(2), 0);
	expect_nothing(c);
	subscribe5(b, c, "rh/#", OPT_RH(2), 0);
	expect_nothing(c);

	/* The subscriptions themselves work: one copy of a live message. */
	publish5(b, pub, "rh/x", "new", 0, false, 0);
	expect_publish(c, "rh/x", "new", 0, false, &p);
	expect_nothing(c);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* A Subscription Identifier comes back on the messages of that
 * subscription [MQTT-3.3.4-3]; a SUBSCRIBE without one replaces it
 * [MQTT-3.8.4-3]. */
static void test5_subscription_identifier(void **state)
{
	static const uint32_t seven[] = { 7 };
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct broker_client *old = connect311(b, "old", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, c, "si/+", 0, 7);
	subscribe311(b, old, "si/+", 0);
	publish5(b, pub, "si/a", "one", 0, false, 0);
	expect_publish(c, "si/a", "one", 0, false, &p);
	expect_sub_ids(&p.u.publish.props, seven, 1);
	expect_publish(old, "si/a", "one", 0, false, &p);

	publish5(b, pub, "other", "x", 0, false, 0);
	expect_nothing(c);

	subscribe5(b, c, "si/+", 0, 0);
	publish5(b, pub, "si/b", "two", 0, false, 0);
	expect_publish(c, "si/b", "two", 0, false, &p);
	assert_int_equal(p.u.publish.props.sub_id_count, 0);
	assert_false(has_prop(&p.u.publish.props, MQTT_PROP_SUBSCRIPTION_ID));
	expect_publish(old, "si/b", "two", 0, false, &p);
	drop_client(b, c);
	drop_client(b, old);
	drop_client(b, pub);
	free_broker(b);
}

/* Overlapping subscriptions: one copy carrying every matching subscription's
 * identifier [MQTT-3.3.4-4], at the highest QoS [MQTT-3.3.4-2 / 3.3.5-1]. */
static void test5_overlapping_subscription_ids(void **state)
{
	static const uint32_t both[] = { 1, 2 }, first[] = { 1 };
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, c, "o/#", 0, 1);
	subscribe5(b, c, "o/x", 1, 2);
	publish5(b, pub, "o/x", "both", 1, false, 0x00);
	expect_publish(c, "o/x", "both", 1, false, &p);
	expect_sub_ids(&p.u.publish.props, both, 2);
	send_ack5(b, c, MQTT_PUBACK, p.u.publish.packet_id);
	expect_nothing(c);

	publish5(b, pub, "o/y", "one", 1, false, 0x00);
	expect_publish(c, "o/y", "one", 0, false, &p);
	expect_sub_ids(&p.u.publish.props, first, 1);
	expect_nothing(c);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* Only the subscriptions a delivery comes from lend it their identifiers
 * [MQTT-3.3.4-3, -4]: a No Local one skipped for the client's own message
 * does not, and a shared subscription's copy is apart from the session's
 * own: each carries its own identifiers. */
static void test5_sub_ids_only_of_causing_subscriptions(void **state)
{
	static const uint32_t two[] = { 2 };
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct broker_client *other = connect5(b, "other", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p;
	int mine = 0, shared = 0;

	(void)state;
	/* No Local: c's own message comes through "n/x" only. */
	subscribe5(b, c, "n/#", MQTT_SUBOPT_NO_LOCAL, 1);
	subscribe5(b, c, "n/x", 0, 2);
	publish5(b, c, "n/x", "self", 0, false, 0);
	expect_publish(c, "n/x", "self", 0, false, &p);
	expect_sub_ids(&p.u.publish.props, two, 1);
	expect_nothing(c);
	publish5(b, pub, "n/x", "peer", 0, false, 0);
	expect_publish(c, "n/x", "peer", 0, false, &p);
	expect_sub_ids(&p.u.publish.props, (const uint32_t[]){ 1, 2 }, 2);

	/* c's own "s" (id 1) and its share of "$share/g/s" (id 3), with other. */
	subscribe5(b, c, "s", 0, 1);
	subscribe5(b, c, "$share/g/s", 0, 3);
	subscribe5(b, other, "$share/g/s", 0, 9);
	publish5(b, pub, "s", "m", 0, false, 0);
	publish5(b, pub, "s", "m", 0, false, 0);
	/* Two messages: c's own copy of each, and the group's copy of one
	 * (round robin gives the other to "other"). */
	while (mine + shared < 3) {
		uint32_t id = 0;
		expect_publish(c, "s", "m", 0, false, &p);
		assert_int_equal(sub_ids_of(&p.u.publish.props, &id, 1), 1);
		if (id == 1)
			mine++;
		else
			shared++;
		assert_true(id == 1 || id == 3);
	}
	assert_int_equal(mine, 2);
	assert_int_equal(shared, 1);
	expect_nothing(c);
	expect_publish(other, "s", "m", 0, false, &p);
	expect_sub_ids(&p.u.publish.props, (const uint32_t[]){ 9 }, 1);
	expect_nothing(other);
	drop_client(b, c);
	drop_client(b, other);
	drop_client(b, pub);
	free_broker(b);
}

/* SUBACK reason codes (3.9.3): 0x8F Topic Filter invalid, 0x97 Quota
 * exceeded; failed filters take no quota. */
static void test5_suback_codes(void **state)
{
	static const char *const filters[] = { "a", "b/#/c", "c", "e/+x", "d", "" };
	static const uint8_t opts[] = { 0, 1, 2, 0, 1, 1 };
	static const uint8_t want[] = { 0, 0x8F, 2, 0x8F, 0x97, 0x8F };
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c, *pub;
	struct mqtt_packet p;

	(void)state;
	test_config(&cfg);
	cfg.max_subscriptions = 2;
	b = new_broker(&cfg);
	c = connect5(b, "c", true, 0, false);
	pub = connect5(b, "pub", true, 0, false);
	send_subscribe5(b, c, 42, filters, opts, 6, 0);
	expect_suback(c, 42, want, 6);
	expect_nothing(c);
	assert_int_equal(stats(b)->subscriptions, 2);
	publish5(b, pub, "d", "over quota", 1, false, 0x10);
	expect_nothing(c);
	publish5(b, pub, "c", "granted", 2, false, 0x00);
	expect_publish(c, "c", "granted", 2, false, &p);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* Shared subscriptions as the CONNACK announces them (3.2.2.3.14: absent
 * or 1 means supported): when they are not, "$share/g/t" gets SUBACK 0x9E
 * Shared Subscriptions not supported and no delivery; when they are, it is
 * granted and delivers. */
static void test5_shared_subscription_announced(void **state)
{
	static const char *const filter = "$share/g/t";
	static const uint8_t opts = 1;
	struct broker *b = default_broker();
	struct broker_client *c, *pub;
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "c", true, 0, 0), ack, p;
	bool supported;
	uint8_t code;

	(void)state;
	c = connect_packet_ok(b, &cp, false, &ack);
	supported = !has_prop(&ack.u.connack.props, MQTT_PROP_SHARED_SUB_AVAILABLE) ||
		    ack.u.connack.props.shared_sub_available == 1;
	pub = connect5(b, "pub", true, 0, false);
	code = supported ? 1 : 0x9E;
	send_subscribe5(b, c, 44, &filter, &opts, 1, 0);
	expect_suback(c, 44, &code, 1);
	expect_nothing(c);
	if (supported) {
		publish5(b, pub, "t", "one of the group", 1, false, 0x00);
		expect_publish(c, "t", "one of the group", 1, false, &p);
	} else {
		assert_int_equal(stats(b)->subscriptions, 0);
		publish5(b, pub, "t", "nobody", 1, false, 0x10);
	}
	expect_nothing(c);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* UNSUBACK reason codes (3.11.3): 0x00 Success, 0x11 No subscription
 * existed. */
static void test5_unsuback_codes(void **state)
{
	static const char *const filters[] = { "u", "never", "u" };
	static const uint8_t want[] = { 0x00, 0x11, 0x11 };
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "c", true, 0, false);
	struct broker_client *pub = connect5(b, "pub", true, 0, false);
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, c, "u", 0, 0);
	send_unsubscribe5(b, c, 43, filters, 3);
	expect_packet(c, MQTT_UNSUBACK, &p);
	assert_int_equal(p.u.ack.packet_id, 43);
	assert_int_equal(p.u.ack.count, 3);
	assert_memory_equal(p.u.ack.codes, want, 3);
	expect_nothing(c);
	assert_int_equal(stats(b)->subscriptions, 0);
	publish5(b, pub, "u", "gone", 1, false, 0x10);
	expect_nothing(c);
	drop_client(b, c);
	drop_client(b, pub);
	free_broker(b);
}

/* ==== flow control ==== */

/* The client's Receive Maximum caps unacknowledged QoS 1/2 deliveries
 * [MQTT-3.3.4-9], below max_inflight. */
static void test5_receive_maximum(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *small, *big, *pub;
	struct mqtt_packet cp, p;
	uint16_t id1, id2, id3;

	(void)state;
	test_config(&cfg);
	cfg.max_inflight = 10;
	b = new_broker(&cfg);
	cp = connect_packet(MQTT_LEVEL_5, "small", true, 0, 0);
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM);
	cp.u.connect.props.receive_maximum = 2;
	small = connect_packet_ok(b, &cp, false, &p);
	big = connect5(b, "big", true, 0, false);
	pub = connect5(b, "pub", true, 0, false);
	subscribe5(b, small, "f", 2, 0);
	subscribe5(b, big, "f", 1, 0);

	publish5(b, pub, "f", "1", 1, false, 0x00);
	publish5(b, pub, "f", "2", 2, false, 0x00);
	publish5(b, pub, "f", "3", 1, false, 0x00);
	publish5(b, pub, "f", "4", 1, false, 0x00);
	expect_publish(small, "f", "1", 1, false, &p);
	id1 = p.u.publish.packet_id;
	expect_publish(small, "f", "2", 2, false, &p);
	id2 = p.u.publish.packet_id;
	expect_nothing(small);
	for (int i = 0; i < 4; i++) {
		char want[2] = { (char)('1' + i), '\0' };

		expect_publish(big, "f", want, 1, false, &p);
	}
	expect_nothing(big);

	/* A PUBREC does not free a slot: the QoS 2 flow ends at PUBCOMP. */
	send_ack5(b, small, MQTT_PUBREC, id2);
	expect_ack5(small, MQTT_PUBREL, id2, 0);
	expect_nothing(small);
	send_ack5(b, small, MQTT_PUBACK, id1);
	expect_publish(small, "f", "3", 1, false, &p);
	id3 = p.u.publish.packet_id;
	expect_nothing(small);
	send_ack5(b, small, MQTT_PUBCOMP, id2);
	expect_publish(small, "f", "4", 1, false, &p);
	expect_nothing(small);
	send_ack5(b, small, MQTT_PUBACK, id3);
	send_ack5(b, small, MQTT_PUBACK, p.u.publish.packet_id);
	expect_nothing(small);
	drop_client(b, small);
	drop_client(b, big);
	drop_client(b, pub);
	free_broker(b);
}

/* The client's Maximum Packet Size: a larger message is not sent to it
 * and counts as dropped [MQTT-3.1.2-24], [MQTT-3.1.2-25]; smaller ones are. */
static void test5_client_maximum_packet_size(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *sub, *pub;
	struct mqtt_packet cp, p;
	uint64_t dropped;

	(void)state;
	cp = connect_packet(MQTT_LEVEL_5, "sub", true, 0, 0);
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
	cp.u.connect.props.maximum_packet_size = 16;
	sub = connect_packet_ok(b, &cp, false, &p);
	pub = connect5(b, "pub", true, 0, false);
	subscribe5(b, sub, "t", 1, 0);
	dropped = stats(b)->msgs_dropped;

	/* QoS 0: 1 + 1 + (2 + 1) topic + 1 property length + payload. */
	publish5(b, pub, "t", "0123456789", 0, false, 0);
	expect_publish(sub, "t", "0123456789", 0, false, &p);
	assert_int_equal(last_packet_len, 16);
	publish5(b, pub, "t", "0123456789A", 0, false, 0);
	expect_nothing(sub);
	assert_int_equal(stats(b)->msgs_dropped, dropped + 1);

	/* QoS 1 adds the packet identifier. */
	publish5(b, pub, "t", "012345678", 1, false, 0x00);
	expect_nothing(sub);
	assert_int_equal(stats(b)->msgs_dropped, dropped + 2);
	publish5(b, pub, "t", "01234567", 1, false, 0x00);
	expect_publish(sub, "t", "01234567", 1, false, &p);
	assert_int_equal(last_packet_len, 16);
	send_ack5(b, sub, MQTT_PUBACK, p.u.publish.packet_id);

	/* A Message Expiry Interval counts too (5 more bytes). */
	{
		struct mqtt_props props = expiry_props(60);

		publish5_props(b, pub, "t", "0123", 4, 0, false, &props, 0);
		expect_publish(sub, "t", "0123", 0, false, &p);
		assert_int_equal(last_packet_len, 15);
		publish5_props(b, pub, "t", "012345", 6, 0, false, &props, 0);
		expect_nothing(sub);
		assert_int_equal(stats(b)->msgs_dropped, dropped + 3);
	}
	publish5(b, pub, "t", "small", 0, false, 0);
	expect_publish(sub, "t", "small", 0, false, &p);

	/* Not only messages: a SUBACK for 16 filters (21 bytes) is not sent
	 * either, though the subscriptions are made; one for 11 (16) is. */
	{
		static const char *const filters[16] = { "a", "b", "c", "d", "e", "f", "g", "h",
							 "i", "j", "k", "l", "m", "n", "o", "p" };
		uint8_t options[16] = { 0 };
		uint16_t id = next_packet_id();

		send_subscribe5(b, sub, id, filters, options, 16, 0);
		expect_nothing(sub);
		publish5(b, pub, "p", "x", 0, false, 0);
		expect_publish(sub, "p", "x", 0, false, &p);
		id = next_packet_id();
		send_subscribe5(b, sub, id, filters, options, 11, 0);
		expect_packet(sub, MQTT_SUBACK, &p);
		assert_int_equal(last_packet_len, 16);
	}
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* More QoS 2 PUBLISH awaiting PUBREL than the Receive Maximum this broker
 * announced: DISCONNECT 0x93 Receive Maximum exceeded [MQTT-3.3.4-8]. */
static void test5_receive_maximum_exceeded(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c;
	struct mqtt_packet cp, p;

	(void)state;
	test_config(&cfg);
	cfg.receive_maximum = 2;
	b = new_broker(&cfg);
	cp = connect_packet(MQTT_LEVEL_5, "q2", true, 0, 0);
	c = connect_packet_ok(b, &cp, false, &p);
	assert_int_equal(p.u.connack.props.receive_maximum, 2);

	/* Released ones do not count. */
	p = publish_packet("q", "1", 1, 2, false, 1);
	send5(b, c, &p);
	expect_ack5(c, MQTT_PUBREC, 1, 0x10);
	p = publish_packet("q", "2", 1, 2, false, 2);
	send5(b, c, &p);
	expect_ack5(c, MQTT_PUBREC, 2, 0x10);
	send_ack5(b, c, MQTT_PUBREL, 1);
	expect_ack5(c, MQTT_PUBCOMP, 1, 0);
	p = publish_packet("q", "3", 1, 2, false, 3);
	send5(b, c, &p);
	expect_ack5(c, MQTT_PUBREC, 3, 0x10);
	assert_int_equal(c->state, CLIENT_CONNECTED);

	p = publish_packet("q", "4", 1, 2, false, 4); /* third awaiting PUBREL */
	send5(b, c, &p);
	expect_disconnect(c, 0x93);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
	free_client(b, c);
	free_broker(b);
}

/* ==== the server's DISCONNECT (4.13.2) ==== */

/* [MQTT-3.1.4-3]: the existing connection gets DISCONNECT 0x8E. */
static void test5_takeover(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *old = connect5(b, "dup", true, 100, false);
	struct broker_client *now;

	(void)state;
	subscribe5(b, old, "t", 1, 0);
	now = connect5(b, "dup", false, 100, true);
	expect_disconnect(old, 0x8E);
	expect_nothing(old);
	assert_closed(old, CLOSE_TAKEN_OVER);
	expect_nothing(now);
	assert_int_equal(stats(b)->clients_connected, 1);
	assert_int_equal(stats(b)->subscriptions, 1);
	free_client(b, old);
	drop_client(b, now);
	free_broker(b);
}

/* A malformed packet (a topic that is not UTF-8 [MQTT-1.5.4-1]): 0x81. */
static void test5_malformed_packet(void **state)
{
	static const uint8_t bad[] = {
		0x30, 6,                /* PUBLISH QoS 0 */
		0x00, 0x02, 0xC3, 0x28, /* topic: invalid UTF-8 */
		0x00,                   /* property length */
		'x',
	};
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "m", true, 0, false);

	(void)state;
	feed(b, c, bad, sizeof(bad));
	expect_disconnect(c, 0x81);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
	assert_int_equal(stats(b)->msgs_received, 0);
	free_client(b, c);
	free_broker(b);
}

/* A second CONNECT is a Protocol Error [MQTT-3.1.0-2]: 0x82, with a Reason
 * String unless the client asked for no problem information. */
static void test5_protocol_error(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = connect5(b, "twice", true, 0, false), *quiet;
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "twice", true, 0, 0), p;

	(void)state;
	send5(b, c, &cp);
	expect_packet(c, MQTT_DISCONNECT, &p);
	assert_int_equal(p.u.reason.reason_code, 0x82);
	assert_true(has_prop(&p.u.reason.props, MQTT_PROP_REASON_STRING));
	assert_true(p.u.reason.props.reason_string.len > 0);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
	free_client(b, c);

	cp = connect_packet(MQTT_LEVEL_5, "quiet", true, 0, 0);
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO);
	cp.u.connect.props.request_problem_info = 0;
	quiet = connect_packet_ok(b, &cp, false, &p);
	send5(b, quiet, &cp);
	expect_packet(quiet, MQTT_DISCONNECT, &p);
	assert_int_equal(p.u.reason.reason_code, 0x82);
	assert_false(has_prop(&p.u.reason.props, MQTT_PROP_REASON_STRING));
	assert_closed(quiet, CLOSE_PROTOCOL);
	free_client(b, quiet);
	assert_int_equal(stats(b)->clients_connected, 0);
	free_broker(b);
}

/* A fixed header announcing more than max_packet_size: 0x95 Packet too
 * large at once, before the body arrives. */
static void test5_packet_too_large(void **state)
{
	static const uint8_t header[] = { 0x30, 0x3F }; /* PUBLISH, 63 more bytes */
	static const uint8_t fits[] = { 0x30, 0x3E };   /* 62 more: 64 in all */
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c, *ok;

	(void)state;
	test_config(&cfg);
	cfg.max_packet_size = 64;
	b = new_broker(&cfg);
	ok = connect5(b, "ok", true, 0, false);
	assert_int_equal(broker_client_input(b, ok, fits, sizeof(fits)), 0); /* waits */
	expect_nothing(ok);
	assert_int_equal(ok->state, CLIENT_CONNECTED);

	c = connect5(b, "big", true, 0, false);
	feed(b, c, header, sizeof(header));
	expect_disconnect(c, 0x95);
	expect_nothing(c);
	assert_closed(c, CLOSE_PROTOCOL);
	free_client(b, c);
	drop_client(b, ok);
	free_broker(b);
}

/* broker_shutdown: 0x8B Server shutting down to MQTT 5 clients; nothing to
 * MQTT 3.1.1 clients, which have no server DISCONNECT. */
static void test5_shutdown(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *v5 = connect5(b, "v5", true, 0, false);
	struct broker_client *v3 = connect311(b, "v3", true, 0, false);

	(void)state;
	broker_shutdown(b);
	expect_disconnect(v5, 0x8B);
	expect_nothing(v5);
	assert_closed(v5, CLOSE_SHUTDOWN);
	expect_nothing(v3);
	assert_closed(v3, CLOSE_SHUTDOWN);
	free_client(b, v5);
	free_client(b, v3);
	free_broker(b);
}

/* MQTT 3.1.1 has no server DISCONNECT: keepalive timeout, takeover,
 * protocol error and malformed packet all close silently. */
static void test5_v311_never_gets_disconnect(void **state)
{
	static const uint8_t bad[] = { 0x30, 5, 0x00, 0x02, 0xC3, 0x28, 'x' };
	struct broker *b = default_broker();
	struct broker_client *idle = connect311(b, "idle", true, 10, false);
	struct broker_client *old = connect311(b, "dup", true, 0, false), *now;
	struct broker_client *twice = connect311(b, "twice", true, 0, false);
	struct broker_client *bent = connect311(b, "bent", true, 0, false);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, "twice", true, 0, 0);

	(void)state;
	now = connect311(b, "dup", true, 0, false);
	assert_closed(old, CLOSE_TAKEN_OVER);
	expect_nothing(old);

	send_packet_at(b, twice, &cp, MQTT_LEVEL_311);
	assert_closed(twice, CLOSE_PROTOCOL);
	expect_nothing(twice);

	feed(b, bent, bad, sizeof(bad));
	assert_closed(bent, CLOSE_PROTOCOL);
	expect_nothing(bent);

	tick_at(b, 15000);
	assert_closed(idle, CLOSE_KEEPALIVE);
	expect_nothing(idle);

	free_client(b, idle);
	free_client(b, old);
	free_client(b, twice);
	free_client(b, bent);
	drop_client(b, now);
	free_broker(b);
}

/* ==== the client's Maximum Packet Size and optional properties ==== */

/* [MQTT-3.2.2-19]: the Reason String is left out of a CONNACK it would take
 * past the client's Maximum Packet Size (a refusal is sent all the same). */
static void test5_refusal_fits_client_maximum_packet_size(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "anon", true, 0, 0), ack;

	(void)state;
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
	cp.u.connect.props.maximum_packet_size = 32;
	send5(b, c, &cp);
	expect_connack(c, false, 0x87, &ack);
	if (last_packet_len > 32)
		fail_msg("CONNACK of %zu bytes to a client whose Maximum Packet Size is 32",
			 last_packet_len);
	expect_nothing(c);
	assert_closed(c, CLOSE_REFUSED);
	free_client(b, c);
	free_broker(b);
}

/* [MQTT-3.14.2-3]: the same for the Reason String of the server's
 * DISCONNECT. */
static void test5_disconnect_fits_client_maximum_packet_size(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *c;
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "small", true, 0, 0), p;

	(void)state;
	cp.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
	cp.u.connect.props.maximum_packet_size = 32;
	c = connect_packet_ok(b, &cp, false, &p);
	p = publish_packet("si", "x", 1, 0, false, 0);
	p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	p.u.publish.props.subscription_id = 5;
	send5(b, c, &p);
	expect_disconnect(c, 0x82);
	if (last_packet_len > 32)
		fail_msg("DISCONNECT of %zu bytes to a client whose Maximum Packet Size is 32",
			 last_packet_len);
	assert_closed(c, CLOSE_PROTOCOL);
	free_client(b, c);
	free_broker(b);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test5_connack_properties),
		TEST(test5_assigned_client_id),
		TEST(test5_server_keepalive),
		TEST(test5_auth_method_refused),
		TEST(test5_anonymous_refused),
		TEST(test5_malformed_connect),
		TEST(test5_session_ends_with_connection),
		TEST(test5_session_expiry_interval),
		TEST(test5_session_never_expires),
		TEST(test5_disconnect_changes_expiry),
		TEST(test5_disconnect_expiry_after_zero),
		TEST(test5_clean_start_discards_session),
		TEST(test5_will_properties_forwarded),
		TEST(test5_will_delay),
		TEST(test5_will_delay_cancelled_by_reconnect),
		TEST(test5_will_delay_session_ends_first),
		TEST(test5_disconnect_with_will),
		TEST(test5_will_message_expiry),
		TEST(test5_delayed_will_expiry_from_publication),
		TEST(test5_delayed_will_outlasting_its_expiry),
		TEST(test5_publish_properties_forwarded),
		TEST(test5_message_expiry_forwarded),
		TEST(test5_message_expiry_zero_never_expires),
		TEST(test5_expired_not_delivered_from_queue),
		TEST(test5_retained_message_expiry),
		TEST(test5_payload_format_invalid),
		TEST(test5_no_matching_subscribers),
		TEST(test5_unknown_packet_id_0x92),
		TEST(test5_topic_alias_refused),
		TEST(test5_subscription_id_from_client),
		TEST(test5_no_local),
		TEST(test5_retain_as_published),
		TEST(test5_retain_handling),
		TEST(test5_subscription_identifier),
		TEST(test5_overlapping_subscription_ids),
		TEST(test5_sub_ids_only_of_causing_subscriptions),
		TEST(test5_suback_codes),
		TEST(test5_shared_subscription_announced),
		TEST(test5_unsuback_codes),
		TEST(test5_receive_maximum),
		TEST(test5_client_maximum_packet_size),
		TEST(test5_receive_maximum_exceeded),
		TEST(test5_takeover),
		TEST(test5_malformed_packet),
		TEST(test5_protocol_error),
		TEST(test5_packet_too_large),
		TEST(test5_shutdown),
		TEST(test5_v311_never_gets_disconnect),
		TEST(test5_refusal_fits_client_maximum_packet_size),
		TEST(test5_disconnect_fits_client_maximum_packet_size),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
