/*
 * test_tap.c - taps (broker.h): the rules engine's view of routed
 * messages. What a tap is given, which messages reach it, its filter's
 * matching, removal, and the depth of the server's own messages. The
 * client events (broker_set_event_fn) and the server's messages with
 * properties (broker_publish_props), the rules' other ways in and out.
 */
#include "broker_client.h"

#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 16

/* What the tap function saw, copied (the message lives for the call). */
struct seen {
	int n;
	struct {
		void *cookie;
		char topic[64], payload[64], client_id[32], account[32];
		bool has_client, has_account;
		uint8_t qos, depth;
		bool retain;
		uint64_t serial;
	} m[MAX_SEEN];
};

static void on_tap(void *ctx, void *cookie, const struct broker_tap_msg *m)
{
	struct seen *s = ctx;
	int i = s->n++;

	assert_true(i < MAX_SEEN);
	s->m[i].cookie = cookie;
	snprintf(s->m[i].topic, sizeof(s->m[i].topic), "%.*s", (int)m->topic_len,
		 (const char *)m->topic);
	snprintf(s->m[i].payload, sizeof(s->m[i].payload), "%.*s", (int)m->payload_len,
		 (const char *)m->payload);
	s->m[i].has_client = m->client_id != NULL;
	s->m[i].has_account = m->account != NULL;
	snprintf(s->m[i].client_id, sizeof(s->m[i].client_id), "%s",
		 m->client_id ? m->client_id : "");
	snprintf(s->m[i].account, sizeof(s->m[i].account), "%s", m->account ? m->account : "");
	s->m[i].qos = m->qos;
	s->m[i].retain = m->retain;
	s->m[i].depth = m->depth;
	s->m[i].serial = m->serial;
}

static struct broker_tap *tap(struct broker *b, const char *filter, void *cookie)
{
	return broker_tap_add(b, (const uint8_t *)filter, (uint16_t)strlen(filter), cookie);
}

static int cookie_a, cookie_b;

/* A client's message reaches every tap whose filter matches, with what it
 * was published with, whether or not a session got it. */
static void test_tap_sees_matching_messages(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct seen s = { 0 };

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	assert_non_null(tap(b, "sensors/#", &cookie_a));
	assert_non_null(tap(b, "sensors/+/temp", &cookie_b));
	publish(b, pub, "sensors/k/temp", "21.5", 1, false);
	assert_int_equal(s.n, 2);
	assert_true((s.m[0].cookie == &cookie_a && s.m[1].cookie == &cookie_b) ||
		    (s.m[0].cookie == &cookie_b && s.m[1].cookie == &cookie_a));
	for (int i = 0; i < 2; i++) {
		assert_string_equal(s.m[i].topic, "sensors/k/temp");
		assert_string_equal(s.m[i].payload, "21.5");
		assert_string_equal(s.m[i].client_id, "pub");
		assert_false(s.m[i].has_account); /* anonymous */
		assert_int_equal(s.m[i].qos, 1);
		assert_false(s.m[i].retain);
		assert_int_equal(s.m[i].depth, 0);
	}
	assert_true(s.m[0].serial == s.m[1].serial); /* one message */
	publish(b, pub, "sensors/k/hum", "40", 0, true);
	assert_int_equal(s.n, 3);
	assert_ptr_equal(s.m[2].cookie, &cookie_a);
	assert_true(s.m[2].retain);
	assert_true(s.m[2].serial > s.m[0].serial);
	publish(b, pub, "other/x", "no", 0, false);
	assert_int_equal(s.n, 3);
}

/* Wildcards as a subscription's: '#' does not match '$' topics, and $SYS
 * is not a client's to publish. */
static void test_tap_filters_follow_the_standard(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct seen s = { 0 };
	const char *bad[] = { "", "a/#/b", "a+/b", "$share/g/t", "#x" };

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(tap(b, bad[i], &cookie_a));
	assert_non_null(tap(b, "#", &cookie_a));
	publish(b, pub, "$other/x", "d", 0, false);
	publish(b, pub, "a", "ok", 0, false);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.m[0].topic, "a");
}

/* The server's own messages: no client, and the depth it was published
 * at (a tap's action publishing one level deeper). */
static void test_tap_server_messages_carry_their_depth(void **state)
{
	struct broker *b = default_broker();
	struct seen s = { 0 };

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	assert_non_null(tap(b, "out/#", &cookie_a));
	broker_publish(b, "out/1", "api", 3, 0, false);
	broker_publish_at(b, "out/2", "rule", 4, 1, false, 3);
	broker_publish(b, "out/3", "api again", 9, 0, false);
	assert_int_equal(s.n, 3);
	assert_false(s.m[0].has_client);
	assert_int_equal(s.m[0].depth, 0);
	assert_int_equal(s.m[1].depth, 3);
	assert_int_equal(s.m[1].qos, 1);
	assert_int_equal(s.m[2].depth, 0); /* not left over from the last */
}

/* A removed tap sees nothing more; the others go on; broker_free frees
 * those left (LeakSanitizer checks). */
static void test_tap_remove(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct seen s = { 0 };
	struct broker_tap *t1, *t2;

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	t1 = tap(b, "t", &cookie_a);
	t2 = tap(b, "t", &cookie_b);
	assert_non_null(tap(b, "u/+", &cookie_a));
	broker_tap_remove(b, t1);
	publish(b, pub, "t", "1", 0, false);
	assert_int_equal(s.n, 1);
	assert_ptr_equal(s.m[0].cookie, &cookie_b);
	broker_tap_remove(b, t2);
	publish(b, pub, "t", "2", 0, false);
	assert_int_equal(s.n, 1);
	publish(b, pub, "u/v", "3", 0, false);
	assert_int_equal(s.n, 2);
}

/* The first-level shortcut (a message none of the taps' first levels
 * names costs no walk) never hides a match: with more first levels than
 * it keeps, with a wildcard first level, after removals. */
static void test_tap_first_levels(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	struct seen s = { 0 };
	struct broker_tap *t[10], *wild;
	char f[16];

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	for (int i = 0; i < 10; i++) {
		snprintf(f, sizeof(f), "l%d/#", i);
		t[i] = tap(b, f, &cookie_a);
		assert_non_null(t[i]);
	}
	/* 10 first levels, more than the 8 kept: every one still matches */
	for (int i = 0; i < 10; i++) {
		snprintf(f, sizeof(f), "l%d/a", i);
		publish(b, pub, f, "in", 0, false);
	}
	publish(b, pub, "zz/a", "out", 0, false);
	assert_int_equal(s.n, 10);
	for (int i = 0; i < 5; i++)
		broker_tap_remove(b, t[i]);
	s.n = 0;
	publish(b, pub, "l9/b", "4", 0, false); /* 5 kept now: by the shortcut */
	publish(b, pub, "l1/b", "5", 0, false); /* removed */
	publish(b, pub, "l", "6", 0, false);    /* a prefix of l5..l9 is not them */
	assert_int_equal(s.n, 1);
	assert_string_equal(s.m[0].payload, "4");
	wild = tap(b, "+/w", &cookie_b);
	publish(b, pub, "q/w", "7", 0, false);
	assert_int_equal(s.n, 2);
	assert_ptr_equal(s.m[1].cookie, &cookie_b);
	broker_tap_remove(b, wild);
	publish(b, pub, "q/w", "8", 0, false);
	assert_int_equal(s.n, 2);
}

/* A logged-in publisher's account reaches the tap; a will too. */
static void test_tap_account_and_will(void **state)
{
	struct broker *b = default_broker();
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, "w", true, 0, 0);
	struct broker_client *c;
	struct seen s = { 0 };

	(void)state;
	broker_set_tap_fn(b, on_tap, &s);
	assert_non_null(tap(b, "bye/#", &cookie_a));
	set_will(&cp, "bye/w", "gone", 0, false);
	c = connect_packet_ok(b, &cp, false, NULL);
	drop_client(b, c);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.m[0].topic, "bye/w");
	assert_string_equal(s.m[0].payload, "gone");
}

/* ---- client events ---- */

struct events {
	int n;
	struct {
		enum broker_event_kind kind;
		char client_id[32], account[32], peer[64], reason[32], filter[64];
		bool has_account;
		uint8_t qos;
	} e[MAX_SEEN];
};

static void on_event(void *ctx, const struct broker_event *ev)
{
	struct events *s = ctx;
	int i = s->n++;

	assert_true(i < MAX_SEEN);
	s->e[i].kind = ev->kind;
	snprintf(s->e[i].client_id, sizeof(s->e[i].client_id), "%s", ev->client_id);
	s->e[i].has_account = ev->account != NULL;
	snprintf(s->e[i].account, sizeof(s->e[i].account), "%s", ev->account ? ev->account : "");
	snprintf(s->e[i].peer, sizeof(s->e[i].peer), "%s", ev->peer ? ev->peer : "");
	snprintf(s->e[i].reason, sizeof(s->e[i].reason), "%s", ev->reason ? ev->reason : "");
	snprintf(s->e[i].filter, sizeof(s->e[i].filter), "%.*s", (int)ev->filter_len,
		 ev->filter ? (const char *)ev->filter : "");
	s->e[i].qos = ev->qos;
}

static bool refuse_all(void *ctx, const char *account, const uint8_t *filter, size_t len)
{
	(void)ctx, (void)account, (void)filter, (void)len;
	return false;
}

/* A connect, each granted filter of a SUBSCRIBE (not a refused one), and
 * the end of the connection, with the client's id, account and peer. */
static void test_events_connect_subscribe_disconnect(void **state)
{
	struct broker *b = default_broker();
	struct events s = { 0 };
	struct broker_client *c;

	(void)state;
	broker_set_event_fn(b, on_event, &s);
	c = connect311(b, "ev1", true, 0, false);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.e[0].kind, BROKER_EVENT_CONNECTED);
	assert_string_equal(s.e[0].client_id, "ev1");
	assert_false(s.e[0].has_account);
	assert_string_equal(s.e[0].peer, c->peer);
	subscribe311(b, c, "a/+/c", 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.e[1].kind, BROKER_EVENT_SUBSCRIBED);
	assert_string_equal(s.e[1].filter, "a/+/c");
	assert_int_equal(s.e[1].qos, 1);
	/* of two filters, the one the hooks refuse is no event */
	{
		struct broker_hooks h = { .prefix = "priv", .may_subscribe = refuse_all };
		const char *const filters[] = { "priv/x", "pub/y" };
		const uint8_t opts[] = { 0, 2 };

		broker_set_hooks(b, &h);
		client_send_subscribe(b, c, 7, filters, opts, 2);
	}
	assert_int_equal(s.n, 3);
	assert_string_equal(s.e[2].filter, "pub/y");
	assert_int_equal(s.e[2].qos, 2);
	broker_client_close(b, c, CLOSE_KEEPALIVE, NULL);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.e[3].kind, BROKER_EVENT_DISCONNECTED);
	assert_string_equal(s.e[3].client_id, "ev1");
	assert_string_equal(s.e[3].reason, broker_close_reason_str(CLOSE_KEEPALIVE));
	drop_client(b, c);
	assert_int_equal(s.n, 4); /* ended once */
}

/* A connection refused or closed before CONNECT is no client event. */
static void test_events_not_for_unconnected(void **state)
{
	struct broker *b = default_broker();
	struct events s = { 0 };
	struct broker_client *c = new_client(b);

	(void)state;
	broker_set_event_fn(b, on_event, &s);
	drop_client(b, c);
	assert_int_equal(s.n, 0);
}

/* ---- publishing with properties ---- */

/* A server message with a content type and user properties: an MQTT 5
 * subscriber gets them, a 3.1.1 one the message alone; invalid property
 * bytes publish nothing. */
static void test_publish_props(void **state)
{
	struct broker *b = default_broker();
	struct broker_client *s5 = connect5(b, "s5", true, 0, false);
	struct broker_client *s3 = connect311(b, "s3", true, 0, false);
	const char *const pairs[][2] = { { "k", "v" }, { "k", "w" } };
	uint8_t props[64];
	size_t n = 0;
	struct mqtt_packet p;

	(void)state;
	subscribe5(b, s5, "p/#", 0, 0);
	subscribe311(b, s3, "p/#", 0);
	props[n++] = MQTT_PROP_CONTENT_TYPE;
	props[n++] = 0;
	props[n++] = 4;
	memcpy(props + n, "text", 4);
	n += 4;
	user_prop(props, sizeof(props), &n, "k", "v");
	user_prop(props, sizeof(props), &n, "k", "w");
	assert_true(broker_publish_props(b, "p/1", "x", 1, 0, false, 1, props, (uint32_t)n));
	expect_publish(s5, "p/1", "x", 0, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_CONTENT_TYPE));
	assert_pstr(p.u.publish.props.content_type, "text", 4);
	expect_user_props(&p.u.publish.props, pairs, 2);
	expect_publish(s3, "p/1", "x", 0, false, NULL);
	/* a topic alias is not a message's property; a truncated block is no block */
	props[0] = MQTT_PROP_TOPIC_ALIAS;
	assert_false(broker_publish_props(b, "p/2", "x", 1, 0, false, 1, props, 3));
	assert_false(broker_publish_props(b, "p/2", "x", 1, 0, false, 1,
					  (const uint8_t *)"\x03\x00\x09te", 5));
	expect_nothing(s5);
	expect_nothing(s3);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_tap_sees_matching_messages),
		TEST(test_tap_filters_follow_the_standard),
		TEST(test_tap_server_messages_carry_their_depth),
		TEST(test_tap_remove),
		TEST(test_tap_first_levels),
		TEST(test_tap_account_and_will),
		TEST(test_events_connect_subscribe_disconnect),
		TEST(test_events_not_for_unconnected),
		TEST(test_publish_props),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
