/*
 * test_tap.c - taps (broker.h): the rules engine's view of routed
 * messages. What a tap is given, which messages reach it, its filter's
 * matching, removal, and the depth of the server's own messages.
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

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_tap_sees_matching_messages),
		TEST(test_tap_filters_follow_the_standard),
		TEST(test_tap_server_messages_carry_their_depth),
		TEST(test_tap_remove),
		TEST(test_tap_account_and_will),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
