/*
 * test_hooks.c - the take_publish contract of struct broker_hooks, in the
 * broker core with no sockets: what the hook answers is what the publisher's
 * PUBACK or PUBREC carries (MQTT 5), a refusing PUBREC ends the QoS 2 flow
 * and frees its packet id, MQTT 3.1.1 publishers are acknowledged as usual,
 * a refusal's sentence is the Reason String of MQTT 5 publishers that want
 * one, and what the hook leaves to routing goes through may_publish first.
 *
 * Then the login hooks when the transport proved the client's name
 * (by_identity, a TLS listener's use_identity_as_username): the name is the
 * login whatever the CONNECT's user name, one that is missing or no
 * account's is refused as not authorized.
 *
 * The test policy covers the prefix "acl": "acl/take" is the hook's, which
 * answers with take.answer; everything else there is left to routing, and
 * may_publish lets accounts (not anonymous clients) publish it.
 */
#include "broker_client.h"

#include "base/log.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the test policy ---- */

static struct {
	int answer;  /* what take_publish returns for "acl/take" */
	int calls;   /* take_publish calls, whatever the topic */
	const char *why; /* written in its why for "acl/take" when not NULL */
	size_t why_cap;  /* the room it was given */
	char account[32], topic[64], payload[64];
} take;

static int login_handle; /* its address is the login check's handle */
static struct {
	int logins, identities;  /* login_begin and identity_begin calls */
	char name[32];           /* the name identity_begin was given */
} checks;

static void *hook_login_begin(void *ctx, struct broker_client *c, const uint8_t *user,
			      size_t user_len, const uint8_t *password, size_t password_len)
{
	(void)ctx;
	(void)c;
	(void)user;
	(void)user_len;
	(void)password;
	(void)password_len;
	checks.logins++;
	return &login_handle; /* answered by the test: broker_login_done */
}

static void *hook_identity_begin(void *ctx, struct broker_client *c, const char *name)
{
	(void)ctx;
	(void)c;
	checks.identities++;
	snprintf(checks.name, sizeof(checks.name), "%s", name);
	return &login_handle;
}

static void hook_login_cancel(void *ctx, void *handle)
{
	(void)ctx;
	(void)handle;
}

static bool hook_may_publish(void *ctx, const char *account, const uint8_t *t, size_t len)
{
	(void)ctx;
	(void)t;
	(void)len;
	return account != NULL;
}

static int hook_take_publish(void *ctx, const char *account, const uint8_t *t, size_t len,
			     const uint8_t *payload, size_t payload_len, char *why, size_t why_cap)
{
	(void)ctx;
	assert_int_equal(why[0], '\0'); /* given empty */
	take.calls++;
	take.why_cap = why_cap;
	snprintf(take.account, sizeof(take.account), "%s", account ? account : "(anonymous)");
	snprintf(take.topic, sizeof(take.topic), "%.*s", (int)len, (const char *)t);
	snprintf(take.payload, sizeof(take.payload), "%.*s", (int)payload_len,
		 (const char *)payload);
	if (len != 8 || memcmp(t, "acl/take", 8) != 0)
		return BROKER_TAKE_ROUTE;
	if (take.why)
		snprintf(why, why_cap, "%s", take.why);
	return take.answer;
}

static struct broker *hooked_broker_with(struct broker_config *cfg)
{
	struct broker *b = new_broker(cfg);
	struct broker_hooks h = {
		.prefix = "acl",
		.login_begin = hook_login_begin,
		.login_cancel = hook_login_cancel,
		.identity_begin = hook_identity_begin,
		.may_publish = hook_may_publish,
		.take_publish = hook_take_publish,
	};

	memset(&take, 0, sizeof(take));
	memset(&checks, 0, sizeof(checks));
	broker_set_hooks(b, &h);
	return b;
}

static struct broker *hooked_broker(void)
{
	struct broker_config cfg;

	test_config(&cfg);
	return hooked_broker_with(&cfg);
}

/* ---- packets in and out, at the client's level (broker_client.h) ---- */

/* This PUBLISH; returns its packet id. */
static uint16_t expect_publish_id(struct broker_client *c, const char *topic, const char *payload)
{
	struct mqtt_packet p;

	expect_packet(c, MQTT_PUBLISH, &p);
	assert_int_equal(p.u.publish.topic.len, strlen(topic));
	assert_memory_equal(p.u.publish.topic.data, topic, strlen(topic));
	assert_int_equal(p.u.publish.payload_len, strlen(payload));
	assert_memory_equal(p.u.publish.payload, payload, strlen(payload));
	return p.u.publish.packet_id;
}

/* A client at level, logged in as account (through the login hook), or
 * anonymous when account is NULL; an MQTT 5 one that asks for no problem
 * information (Request Problem Information 0) when quiet. */
static struct broker_client *connect_with(struct broker *b, uint8_t level, const char *id,
					  const char *account, bool quiet)
{
	struct broker_client *c = new_client(b);
	struct mqtt_packet p = { .type = MQTT_CONNECT };

	if (quiet) {
		p.u.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO);
		p.u.connect.props.request_problem_info = 0;
	}

	p.u.connect.protocol_name = str("MQTT");
	p.u.connect.level = level;
	p.u.connect.clean_session = true;
	p.u.connect.client_id = str(id);
	if (account) {
		p.u.connect.has_username = p.u.connect.has_password = true;
		p.u.connect.username = str(account);
		p.u.connect.password = str("pw");
	}
	send_packet_at(b, c, &p, level);
	if (account)
		broker_login_done(b, c, true, account);
	expect_packet(c, MQTT_CONNACK, &p);
	assert_int_equal(p.u.connack.return_code, 0);
	return c;
}

static struct broker_client *connect_as(struct broker *b, uint8_t level, const char *id,
					const char *account)
{
	return connect_with(b, level, id, account, false);
}

static void subscribe(struct broker *b, struct broker_client *c, const char *filter)
{
	uint8_t list[128], qos = 1;
	struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };

	p.u.subscribe.packet_id = next_packet_id();
	p.u.subscribe.filters = topic_list(list, sizeof(list), &filter, &qos, 1);
	send_packet_at(b, c, &p, c->level);
	expect_packet(c, MQTT_SUBACK, &p);
	assert_int_equal(p.u.suback.codes[0], qos);
}

/* ---- the tests ---- */

/* MQTT 5, QoS 1: the hook's answer is the PUBACK's reason code. A taken
 * message is not routed, and a success is 0x00 even with no subscriber
 * (no 0x10: the hook did something with it). */
static void test_take_answer_is_the_puback_code(void **state)
{
	static const uint8_t answers[] = { 0x00, 0x99, 0x90, 0x87, 0x80 };
	struct broker *b = hooked_broker();
	struct broker_client *pub = connect_as(b, MQTT_LEVEL_5, "pub", "alice");
	struct broker_client *sub = connect_as(b, MQTT_LEVEL_5, "sub", "bob");

	(void)state;
	subscribe(b, sub, "acl/#");
	for (size_t i = 0; i < sizeof(answers); i++) {
		uint16_t id = next_packet_id();

		take.answer = answers[i];
		client_send_publish(b, pub, "acl/take", "hello", 1, id);
		expect_ack(pub, MQTT_PUBACK, id, answers[i]);
		assert_int_equal(take.calls, (int)i + 1);
	}
	assert_string_equal(take.account, "alice");
	assert_string_equal(take.topic, "acl/take");
	assert_string_equal(take.payload, "hello");
	expect_nothing(sub);
	assert_int_equal(pub->state, CLIENT_CONNECTED);

	/* QoS 0: no acknowledgement to carry a refusal, nothing routed. */
	take.answer = 0x99;
	client_send_publish(b, pub, "acl/take", "zero", 0, 0);
	assert_string_equal(take.payload, "zero");
	expect_nothing(pub);
	expect_nothing(sub);
	drop_client(b, sub);
	drop_client(b, pub);
	free_broker(b);
}

/* MQTT 5, QoS 2: a PUBREC of 0x80 or more ends the flow [MQTT-4.3.3-4].
 * The id is not held: no PUBREL is awaited (one sent anyway is answered
 * 0x92), the same id starts a new message at once, and refusals take no
 * slot of the Receive Maximum. An accepted message keeps its id until
 * PUBREL, and a resend of it is not offered to the hook again. */
static void test_take_refusing_pubrec_frees_the_id(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *pub;

	(void)state;
	test_config(&cfg);
	cfg.receive_maximum = 2;
	b = hooked_broker_with(&cfg);
	pub = connect_as(b, MQTT_LEVEL_5, "pub", "alice");

	take.answer = 0x99;
	client_send_publish(b, pub, "acl/take", "bad", 2, 7);
	expect_ack(pub, MQTT_PUBREC, 7, 0x99);
	client_send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7, 0x92); /* not held */

	for (int i = 0; i < 5; i++) { /* more than receive_maximum */
		client_send_publish(b, pub, "acl/take", "bad", 2, 7);
		expect_ack(pub, MQTT_PUBREC, 7, 0x99);
	}
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	assert_int_equal(take.calls, 6);

	/* The same id, now a message the hook accepts: exactly once. */
	take.answer = 0x00;
	client_send_publish(b, pub, "acl/take", "good", 2, 7);
	expect_ack(pub, MQTT_PUBREC, 7, 0x00);
	assert_int_equal(take.calls, 7);
	assert_string_equal(take.payload, "good");
	client_send_publish(b, pub, "acl/take", "good", 2, 7); /* a resend before PUBREL */
	expect_ack(pub, MQTT_PUBREC, 7, 0x00);
	assert_int_equal(take.calls, 7);
	client_send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7, 0x00);
	drop_client(b, pub);
	free_broker(b);
}

/* MQTT 3.1.1 has no reason codes: a refused message is acknowledged as
 * any other, and at QoS 2 the publisher goes on with PUBREL, so the id
 * is held until then (a resend is not offered to the hook again). */
static void test_take_refusal_to_mqtt311(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *pub = connect_as(b, MQTT_LEVEL_311, "pub", "alice");

	(void)state;
	take.answer = 0x90;
	client_send_publish(b, pub, "acl/take", "to nobody", 1, 3);
	expect_ack(pub, MQTT_PUBACK, 3, 0);
	client_send_publish(b, pub, "acl/take", "to nobody", 2, 4);
	expect_ack(pub, MQTT_PUBREC, 4, 0);
	assert_int_equal(take.calls, 2);
	client_send_publish(b, pub, "acl/take", "to nobody", 2, 4);
	expect_ack(pub, MQTT_PUBREC, 4, 0);
	assert_int_equal(take.calls, 2);
	client_send_ack(b, pub, MQTT_PUBREL, 4);
	expect_ack(pub, MQTT_PUBCOMP, 4, 0);
	assert_int_equal(pub->state, CLIENT_CONNECTED);
	drop_client(b, pub);
	free_broker(b);
}

/* The acknowledgement of c's PUBLISH id: its reason code and Reason
 * String (NULL: none). */
static void expect_ack_why(struct broker_client *c, uint8_t type, uint16_t id, uint8_t reason,
			   const char *why)
{
	struct mqtt_packet p;

	expect_packet(c, type, &p);
	assert_int_equal(p.u.ack.packet_id, id);
	assert_int_equal(p.u.ack.reason_code, reason);
	if (!why) {
		assert_false(has_prop(&p.u.ack.props, MQTT_PROP_REASON_STRING));
		return;
	}
	assert_true(has_prop(&p.u.ack.props, MQTT_PROP_REASON_STRING));
	assert_pstr(p.u.ack.props.reason_string, why, strlen(why));
}

/* A refusal's sentence is the PUBACK's or PUBREC's Reason String for an
 * MQTT 5 publisher, unless it set Request Problem Information to 0
 * [MQTT-3.1.2-29]; a success carries none, nor does MQTT 3.1.1. */
static void test_take_why_is_the_reason_string(void **state)
{
	static const char why[] = "already_voted: you have already voted on this poll";
	struct broker *b = hooked_broker();
	struct broker_client *pub = connect_as(b, MQTT_LEVEL_5, "pub", "alice");
	struct broker_client *quiet = connect_with(b, MQTT_LEVEL_5, "quiet", "bob", true);
	struct broker_client *old = connect_as(b, MQTT_LEVEL_311, "old", "carol");

	(void)state;
	take.why = why;
	take.answer = 0x97;
	client_send_publish(b, pub, "acl/take", "hiver", 1, 1);
	expect_ack_why(pub, MQTT_PUBACK, 1, 0x97, why);
	assert_int_equal(take.why_cap, BROKER_WHY_MAX);
	client_send_publish(b, pub, "acl/take", "hiver", 2, 2);
	expect_ack_why(pub, MQTT_PUBREC, 2, 0x97, why);
	client_send_publish(b, quiet, "acl/take", "hiver", 1, 3);
	expect_ack_why(quiet, MQTT_PUBACK, 3, 0x97, NULL);
	client_send_publish(b, old, "acl/take", "hiver", 1, 4);
	expect_ack(old, MQTT_PUBACK, 4, 0);
	take.answer = 0x00; /* a sentence with a success is not sent */
	client_send_publish(b, pub, "acl/take", "hiver", 1, 5);
	expect_ack(pub, MQTT_PUBACK, 5, 0x00);
	take.why = NULL; /* a refusal without one */
	take.answer = 0x90;
	client_send_publish(b, pub, "acl/take", "hiver", 1, 6);
	expect_ack_why(pub, MQTT_PUBACK, 6, 0x90, NULL);
	drop_client(b, old);
	drop_client(b, quiet);
	drop_client(b, pub);
	free_broker(b);
}

/* BROKER_TAKE_ROUTE: may_publish decides, then the message is routed as
 * any other. The hook is offered only client PUBLISH packets under the
 * prefix: not other topics, not wills. */
static void test_take_route_then_may_publish(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *alice = connect_as(b, MQTT_LEVEL_5, "alice", "alice");
	struct broker_client *anon = connect_as(b, MQTT_LEVEL_5, "anon", NULL);
	struct broker_client *sub = connect_as(b, MQTT_LEVEL_311, "sub", "bob");
	uint16_t id;

	(void)state;
	subscribe(b, sub, "#");
	id = next_packet_id();
	client_send_publish(b, alice, "acl/x", "routed", 1, id);
	expect_ack(alice, MQTT_PUBACK, id, 0x00);
	client_send_ack(b, sub, MQTT_PUBACK, expect_publish_id(sub, "acl/x", "routed"));
	assert_int_equal(take.calls, 1);

	id = next_packet_id();
	client_send_publish(b, anon, "acl/x", "refused", 1, id);
	expect_ack(anon, MQTT_PUBACK, id, 0x87); /* may_publish said no */
	assert_int_equal(take.calls, 2);
	assert_string_equal(take.account, "(anonymous)");
	expect_nothing(sub);

	id = next_packet_id();
	client_send_publish(b, alice, "other/t", "outside", 1, id);
	expect_ack(alice, MQTT_PUBACK, id, 0x00);
	expect_publish_id(sub, "other/t", "outside");
	assert_int_equal(take.calls, 2); /* outside the prefix: never offered */
	drop_client(b, anon);
	drop_client(b, alice);
	drop_client(b, sub);
	free_broker(b);
}

/* The hook sees the topic a Topic Alias stands for (MQTT 5). */
static void test_take_sees_aliased_topic(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *pub = connect_as(b, MQTT_LEVEL_5, "pub", "alice");
	struct mqtt_packet p;

	(void)state;
	take.answer = 0x90;
	p = publish_packet("acl/take", "bound", 5, 1, false, 1);
	p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.props.topic_alias = 1;
	send_packet_at(b, pub, &p, MQTT_LEVEL_5);
	expect_ack(pub, MQTT_PUBACK, 1, 0x90);
	p.u.publish.topic = str("");
	p.u.publish.payload = (const uint8_t *)"aliased";
	p.u.publish.payload_len = 7;
	p.u.publish.packet_id = 2;
	send_packet_at(b, pub, &p, MQTT_LEVEL_5);
	expect_ack(pub, MQTT_PUBACK, 2, 0x90);
	assert_string_equal(take.topic, "acl/take");
	assert_string_equal(take.payload, "aliased");
	drop_client(b, pub);
	free_broker(b);
}

/* A will under the prefix is checked with may_publish only: it is never
 * offered to take_publish, which is for what a client sends. */
static void test_take_not_offered_wills(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *sub = connect_as(b, MQTT_LEVEL_311, "sub", "bob");
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p = { .type = MQTT_CONNECT };

	(void)state;
	subscribe(b, sub, "acl/#");
	assert_non_null(c);
	track(live_clients, c);
	p.u.connect.protocol_name = str("MQTT");
	p.u.connect.level = MQTT_LEVEL_311;
	p.u.connect.clean_session = true;
	p.u.connect.client_id = str("willing");
	p.u.connect.will = true;
	p.u.connect.will_topic = str("acl/take");
	p.u.connect.will_payload = str("last words");
	p.u.connect.has_username = p.u.connect.has_password = true;
	p.u.connect.username = str("alice");
	p.u.connect.password = str("pw");
	send_packet_at(b, c, &p, MQTT_LEVEL_311);
	broker_login_done(b, c, true, "alice");
	expect_packet(c, MQTT_CONNACK, &p);
	drop_client(b, c);
	expect_publish_id(sub, "acl/take", "last words");
	assert_int_equal(take.calls, 0);
	drop_client(b, sub);
	free_broker(b);
}

/* ---- the transport's identity (use_identity_as_username) ---- */

/* A client whose transport proved name (NULL: none), sending a CONNECT at
 * level with the user name bob and a password. */
static struct broker_client *connect_proven(struct broker *b, uint8_t level, const char *name)
{
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet p = connect_packet(level, "dev", true, 30, 0);

	c->by_identity = true;
	broker_client_set_identity(c, name);
	p.u.connect.has_username = p.u.connect.has_password = true;
	p.u.connect.username = str("bob");
	p.u.connect.password = str("bob's password");
	send_packet_at(b, c, &p, level);
	return c;
}

/* The proven name is checked, not the user name; the account the check
 * answers with is the client's. */
static void test_identity_is_the_login(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *c = connect_proven(b, MQTT_LEVEL_311, "alice");

	(void)state;
	assert_int_equal(checks.logins, 0);
	assert_int_equal(checks.identities, 1);
	assert_string_equal(checks.name, "alice");
	expect_nothing(c); /* waiting for the check */
	assert_true(broker_client_waiting(c));
	broker_login_done(b, c, true, "Alice"); /* the account's spelling */
	expect_connack(c, false, 0, NULL);
	assert_string_equal(c->account, "Alice");
	drop_client(b, c);
	free_broker(b);
}

/* No name, or a name that is no account's: not authorized (3.1.1's 5,
 * 5's 0x87), never "bad user name or password" (there was none to get
 * wrong). */
static void test_identity_refusals(void **state)
{
	static const uint8_t levels[] = { MQTT_LEVEL_311, MQTT_LEVEL_5 };
	struct broker *b = hooked_broker();

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		uint8_t rc = levels[i] == MQTT_LEVEL_5 ? 0x87 : 5;
		struct broker_client *c;

		memset(&checks, 0, sizeof(checks));
		c = connect_proven(b, levels[i], NULL);
		expect_connack(c, false, rc, NULL);
		assert_int_equal(c->state, CLIENT_CLOSING);
		assert_int_equal(checks.identities + checks.logins, 0);
		drop_client(b, c);

		c = connect_proven(b, levels[i], "carol");
		assert_int_equal(checks.identities, 1);
		broker_login_done(b, c, false, NULL);
		expect_connack(c, false, rc, NULL);
		assert_null(c->account);
		drop_client(b, c);
	}
	free_broker(b);
}

/* An MQTT 5 authentication method beside the certificate: refused, so no
 * mechanism names another account. */
static void test_identity_with_auth_method_refused(void **state)
{
	struct broker *b = hooked_broker();
	struct broker_client *c = new_client_on(b, false);
	struct mqtt_packet p = connect_packet(MQTT_LEVEL_5, "dev", true, 30, 0);

	(void)state;
	c->by_identity = true;
	broker_client_set_identity(c, "alice");
	p.u.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	p.u.connect.props.auth_method = pstr("SCRAM-SHA-256");
	send_packet_at(b, c, &p, MQTT_LEVEL_5);
	expect_connack(c, false, 0x87, NULL);
	assert_int_equal(checks.identities, 0);
	drop_client(b, c);
	free_broker(b);
}

/* Without accounts to check it against, the proven name is the account as
 * it is (and the user name still ignored). */
static void test_identity_without_hooks(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c;

	(void)state;
	test_config(&cfg);
	b = new_broker(&cfg);
	c = connect_proven(b, MQTT_LEVEL_311, "device-7.example");
	expect_connack(c, false, 0, NULL);
	assert_string_equal(c->account, "device-7.example");
	drop_client(b, c);
	free_broker(b);
}

int main(void)
{
#define TEST(f) cmocka_unit_test_teardown(f, teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_take_answer_is_the_puback_code),
		TEST(test_take_refusing_pubrec_frees_the_id),
		TEST(test_take_refusal_to_mqtt311),
		TEST(test_take_why_is_the_reason_string),
		TEST(test_take_route_then_may_publish),
		TEST(test_take_sees_aliased_topic),
		TEST(test_take_not_offered_wills),
		TEST(test_identity_is_the_login),
		TEST(test_identity_refusals),
		TEST(test_identity_with_auth_method_refused),
		TEST(test_identity_without_hooks),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
