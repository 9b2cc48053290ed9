/*
 * test_connect5.c - what an MQTT 5 CONNECT can start beyond the basics: the
 * AUTH exchange and the mechanism interface (with a test mechanism: the
 * client says "hello", the broker challenges with "challenge", the client
 * must answer "response", and the broker ends with "welcome"), redirection
 * with a Server Reference, and Response Information. No sockets: bytes in,
 * packets out.
 */
#include "helpers.h"

#include "base/log.h"
#include "broker/auth.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the test mechanism ---- */

struct test_state {
	int steps;
	int *ends; /* counts end() calls, to check states are freed */
};

static int ends_seen;

static void *test_start(const struct auth_mechanism *m, const uint8_t *id, size_t len)
{
	struct test_state *st = calloc(1, sizeof(*st));

	(void)m;
	(void)id;
	(void)len;
	st->ends = &ends_seen;
	return st;
}

static bool data_is(const uint8_t *in, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(in, want, len) == 0;
}

static enum auth_result answer(uint8_t *out, size_t *out_len, const char *text,
			       enum auth_result r)
{
	*out_len = strlen(text);
	memcpy(out, text, *out_len);
	return r;
}

static enum auth_result test_step(void *state, const uint8_t *in, size_t len, uint8_t *out,
				  size_t *out_len)
{
	struct test_state *st = state;

	switch (st->steps++) {
	case 0:
		if (!data_is(in, len, "hello"))
			return AUTH_FAIL;
		return answer(out, out_len, "challenge", AUTH_CONTINUE);
	case 1:
		if (!data_is(in, len, "response"))
			return AUTH_FAIL;
		return answer(out, out_len, "welcome", AUTH_SUCCESS);
	default:
		return AUTH_FAIL;
	}
}

static void test_end(void *state)
{
	struct test_state *st = state;

	(*st->ends)++;
	free(st);
}

static const struct auth_mechanism challenge = {
	.name = "TEST-CHALLENGE", .start = test_start, .step = test_step, .end = test_end,
};

/* A mechanism that accepts at once, with no state. */
static enum auth_result accept_step(void *state, const uint8_t *in, size_t len, uint8_t *out,
				    size_t *out_len)
{
	(void)state;
	(void)in;
	(void)len;
	return answer(out, out_len, "ok", AUTH_SUCCESS);
}

static const struct auth_mechanism instant = { .name = "TEST-INSTANT", .step = accept_step };

/* ---- packets ---- */

static struct broker *new_broker(void)
{
	struct broker_config cfg;
	struct broker *b;

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	b = broker_new(&cfg);
	broker_set_time(b, 1000000);
	assert_int_equal(broker_auth_register(b, &challenge), 0);
	assert_int_equal(broker_auth_register(b, &instant), 0);
	return b;
}

static void feed_packet(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	uint8_t buf[512];
	long n = mqtt_encode(p, MQTT_LEVEL_5, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(broker_client_input(b, c, buf, (size_t)n), (size_t)n);
}

static void set_auth(struct mqtt_props *props, const char *method, const char *data)
{
	props->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	props->auth_method.data = (const uint8_t *)method;
	props->auth_method.len = (uint16_t)strlen(method);
	if (data) {
		props->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
		props->auth_data.data = (const uint8_t *)data;
		props->auth_data.len = (uint16_t)strlen(data);
	}
}

static void send_connect_props(struct broker *b, struct broker_client *c, const char *method,
			       const char *data, bool ask_response_info)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };

	p.u.connect.protocol_name.data = (const uint8_t *)"MQTT";
	p.u.connect.protocol_name.len = 4;
	p.u.connect.level = MQTT_LEVEL_5;
	p.u.connect.clean_session = true;
	p.u.connect.keepalive = 60;
	p.u.connect.client_id.data = (const uint8_t *)"authc";
	p.u.connect.client_id.len = 5;
	if (method)
		set_auth(&p.u.connect.props, method, data);
	if (ask_response_info) {
		p.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_REQUEST_RESPONSE_INFO);
		p.u.connect.props.request_response_info = 1;
	}
	feed_packet(b, c, &p);
}

static void send_connect(struct broker *b, struct broker_client *c, const char *method,
			 const char *data)
{
	send_connect_props(b, c, method, data, false);
}

static void send_auth(struct broker *b, struct broker_client *c, uint8_t reason,
		      const char *method, const char *data)
{
	struct mqtt_packet p = { .type = MQTT_AUTH };

	p.u.reason.reason_code = reason;
	if (method)
		set_auth(&p.u.reason.props, method, data);
	feed_packet(b, c, &p);
}

/* Takes the next packet the broker sent c (decoded at level 5). The bytes
 * stay in a static buffer the packet points into. */
static struct mqtt_packet next_packet(struct broker_client *c)
{
	static uint8_t buf[4096];
	static size_t len, pos;
	struct mqtt_packet p;
	long n;

	if (pos >= len) {
		len = outbuf_copy(&c->out, buf, sizeof(buf));
		pos = 0;
		outbuf_reset(&c->out);
	}
	assert_true(len > pos);
	n = mqtt_decode(buf + pos, len - pos, MQTT_LEVEL_5, 0, &p);
	assert_true(n > 0);
	pos += (size_t)n;
	if (pos >= len)
		len = pos = 0;
	return p;
}

static void assert_str(struct mqtt_props_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.data, want, s.len);
}

static void expect_auth(struct broker_client *c, uint8_t reason, const char *data)
{
	struct mqtt_packet p = next_packet(c);

	assert_int_equal(p.type, MQTT_AUTH);
	assert_int_equal(p.u.reason.reason_code, reason);
	assert_str(p.u.reason.props.auth_method, "TEST-CHALLENGE");
	assert_str(p.u.reason.props.auth_data, data);
}

static void finish(struct broker *b, struct broker_client *c)
{
	broker_client_close(b, c, CLOSE_PEER, NULL);
	broker_client_free(b, c);
	broker_free(b);
}

/* ---- tests ---- */

static void test_exchange_succeeds(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	ends_seen = 0;
	send_connect(b, c, "TEST-CHALLENGE", "hello");
	expect_auth(c, 0x18, "challenge");
	assert_int_equal(c->state, CLIENT_NEW); /* not connected until it answers */
	send_auth(b, c, 0x18, "TEST-CHALLENGE", "response");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0);
	assert_str(p.u.connack.props.auth_method, "TEST-CHALLENGE");
	assert_str(p.u.connack.props.auth_data, "welcome");
	assert_int_equal(c->state, CLIENT_CONNECTED);
	finish(b, c);
	assert_int_equal(ends_seen, 1); /* the state was released */
}

static void test_exchange_fails(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	send_connect(b, c, "TEST-CHALLENGE", "hello");
	expect_auth(c, 0x18, "challenge");
	send_auth(b, c, 0x18, "TEST-CHALLENGE", "wrong");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0x87);
	assert_int_equal(c->state, CLIENT_CLOSING);
	assert_int_equal(broker_get_stats(b)->clients_connected, 0);
	finish(b, c);
}

static void test_bad_first_data_fails_at_connect(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	send_connect(b, c, "TEST-CHALLENGE", "bonjour");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0x87);
	assert_int_equal(c->state, CLIENT_CLOSING);
	finish(b, c);
}

static void test_unknown_method(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	send_connect(b, c, "SCRAM-SHA-256", "n,,n=user");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0x8C); /* bad authentication method */
	assert_int_equal(c->state, CLIENT_CLOSING);
	finish(b, c);
}

static void test_instant_success_and_anonymous_listener(void **state)
{
	struct broker *b = new_broker();
	/* A listener that refuses anonymous clients admits an authenticated one. */
	struct broker_client *c = broker_client_new(b, NULL, "t:1", false);
	struct mqtt_packet p;

	(void)state;
	send_connect(b, c, "TEST-INSTANT", NULL);
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0);
	assert_str(p.u.connack.props.auth_data, "ok");
	assert_int_equal(c->state, CLIENT_CONNECTED);
	finish(b, c);
}

static void test_only_auth_during_exchange(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	uint8_t ping[] = { 0xC0, 0x00 };

	(void)state;
	send_connect(b, c, "TEST-CHALLENGE", "hello");
	expect_auth(c, 0x18, "challenge");
	broker_client_input(b, c, ping, sizeof(ping));
	assert_int_equal(c->state, CLIENT_CLOSING);
	assert_int_equal(c->close_reason, CLOSE_PROTOCOL);
	finish(b, c);
}

static void connect_authenticated(struct broker *b, struct broker_client *c)
{
	struct mqtt_packet p;

	send_connect(b, c, "TEST-CHALLENGE", "hello");
	expect_auth(c, 0x18, "challenge");
	send_auth(b, c, 0x18, "TEST-CHALLENGE", "response");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	assert_int_equal(p.u.connack.return_code, 0);
}

static void test_reauthentication(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);

	(void)state;
	connect_authenticated(b, c);
	send_auth(b, c, 0x19, "TEST-CHALLENGE", "hello"); /* re-authenticate */
	expect_auth(c, 0x18, "challenge");
	send_auth(b, c, 0x18, "TEST-CHALLENGE", "response");
	expect_auth(c, 0x00, "welcome");
	assert_int_equal(c->state, CLIENT_CONNECTED);
	finish(b, c);
}

static void test_reauthentication_fails(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	connect_authenticated(b, c);
	send_auth(b, c, 0x19, "TEST-CHALLENGE", "hello");
	expect_auth(c, 0x18, "challenge");
	send_auth(b, c, 0x18, "TEST-CHALLENGE", "nope");
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_DISCONNECT);
	assert_int_equal(p.u.reason.reason_code, 0x87);
	assert_int_equal(c->state, CLIENT_CLOSING);
	finish(b, c);
}

static void test_auth_without_method_at_connect(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	send_connect(b, c, NULL, NULL);
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_CONNACK);
	send_auth(b, c, 0x19, "TEST-CHALLENGE", "hello"); /* [MQTT-4.12.0-7]: not allowed */
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_DISCONNECT);
	assert_int_equal(p.u.reason.reason_code, 0x82);
	assert_int_equal(c->state, CLIENT_CLOSING);
	finish(b, c);
}

static void test_auth_with_another_method(void **state)
{
	struct broker *b = new_broker();
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	struct mqtt_packet p;

	(void)state;
	connect_authenticated(b, c);
	send_auth(b, c, 0x19, "TEST-INSTANT", NULL);
	p = next_packet(c);
	assert_int_equal(p.type, MQTT_DISCONNECT);
	assert_int_equal(p.u.reason.reason_code, 0x82);
	finish(b, c);
}

static void test_register_limit(void **state)
{
	struct broker_config cfg;
	struct broker *b;
	int ok = 0;

	(void)state;
	broker_config_defaults(&cfg);
	b = broker_new(&cfg);
	for (int i = 0; i < 20; i++)
		ok += broker_auth_register(b, &instant) == 0;
	assert_int_equal(ok, 8);
	broker_free(b);
}

/* ---- redirection and response information ---- */

static struct broker *broker_with(void (*tune)(struct broker_config *cfg))
{
	struct broker_config cfg;
	struct broker *b;

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	tune(&cfg);
	b = broker_new(&cfg);
	broker_set_time(b, 1000000);
	return b;
}

static void use_another(struct broker_config *cfg)
{
	snprintf(cfg->server_reference, sizeof(cfg->server_reference), "other.example:1883");
}

static void moved(struct broker_config *cfg)
{
	use_another(cfg);
	cfg->server_moved = true;
}

static void responses(struct broker_config *cfg)
{
	snprintf(cfg->response_information, sizeof(cfg->response_information), "replies");
}

static void test_server_reference(void **state)
{
	void (*tunes[])(struct broker_config *) = { use_another, moved };
	const uint8_t codes[] = { 0x9C, 0x9D };

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct broker *b = broker_with(tunes[i]);
		struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
		struct mqtt_packet p;

		send_connect(b, c, NULL, NULL);
		p = next_packet(c);
		assert_int_equal(p.type, MQTT_CONNACK);
		assert_int_equal(p.u.connack.return_code, codes[i]);
		assert_str(p.u.connack.props.server_reference, "other.example:1883");
		assert_int_equal(c->state, CLIENT_CLOSING);
		finish(b, c);
	}
}

static void test_server_reference_311(void **state)
{
	struct broker *b = broker_with(use_another);
	struct broker_client *c = broker_client_new(b, NULL, "t:1", true);
	static const uint8_t connect311[] = { 0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0,
					      60, 0, 1, 'x' };
	uint8_t out[8];

	(void)state;
	broker_client_input(b, c, connect311, sizeof(connect311));
	assert_int_equal(outbuf_copy(&c->out, out, sizeof(out)), 4);
	assert_int_equal(out[3], MQTT_CONNACK_UNAVAILABLE); /* 3.1.1 cannot redirect */
	assert_int_equal(c->state, CLIENT_CLOSING);
	finish(b, c);
}

static void test_response_information(void **state)
{
	struct broker *b = broker_with(responses);
	struct broker_client *asks = broker_client_new(b, NULL, "t:1", true);
	struct broker_client *quiet = broker_client_new(b, NULL, "t:2", true);
	struct mqtt_packet p;

	(void)state;
	send_connect_props(b, asks, NULL, NULL, true);
	p = next_packet(asks);
	assert_int_equal(p.u.connack.return_code, 0);
	assert_str(p.u.connack.props.response_info, "replies/authc");
	/* [MQTT-3.1.2-28]: not sent to a client that did not ask */
	broker_client_close(b, asks, CLOSE_PEER, NULL);
	broker_client_free(b, asks);
	send_connect(b, quiet, NULL, NULL);
	p = next_packet(quiet);
	assert_int_equal(p.u.connack.return_code, 0);
	assert_false(p.u.connack.props.present & MQTT_PROP_BIT(MQTT_PROP_RESPONSE_INFO));
	finish(b, quiet);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange_succeeds),
		cmocka_unit_test(test_exchange_fails),
		cmocka_unit_test(test_bad_first_data_fails_at_connect),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_instant_success_and_anonymous_listener),
		cmocka_unit_test(test_only_auth_during_exchange),
		cmocka_unit_test(test_reauthentication),
		cmocka_unit_test(test_reauthentication_fails),
		cmocka_unit_test(test_auth_without_method_at_connect),
		cmocka_unit_test(test_auth_with_another_method),
		cmocka_unit_test(test_register_limit),
		cmocka_unit_test(test_server_reference),
		cmocka_unit_test(test_server_reference_311),
		cmocka_unit_test(test_response_information),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
