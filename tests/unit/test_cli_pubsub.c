/*
 * test_cli_pubsub.c - the pure parts of `agora pub` and `agora sub`
 * (src/client/shell.h): MQTT 5 properties from -D (checked by encoding
 * them with the codec and decoding them back, as the far side would), -L
 * URLs, the -F format and the JSON of %j and --json, and the command line
 * as a whole.
 */
#include "helpers.h"

#include "client/shell.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* A -D argument list: the words after -D, then the rest of a command line. */
static int prop_arg(struct client_propset *sets, const char *const *words, int n, char *err)
{
	char *argv[8];

	for (int i = 0; i < n; i++)
		argv[i] = (char *)words[i];
	return client_prop_arg(sets, n, argv, err, 200);
}

/* Encodes a packet at level 5 and decodes it into *out (the bytes kept in
 * *buf, freed by the caller): what the far side sees. */
static void round_trip(const struct mqtt_packet *p, uint8_t **buf, struct mqtt_packet *out)
{
	long size = mqtt_encoded_size(p, MQTT_LEVEL_5);

	assert_true(size > 0);
	*buf = malloc((size_t)size);
	assert_int_equal(mqtt_encode(p, MQTT_LEVEL_5, *buf, (size_t)size), size);
	assert_int_equal(mqtt_decode(*buf, (size_t)size, MQTT_LEVEL_5, 0, out), size);
}

static bool str_is(struct mqtt_props_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

/* The user properties of a decoded block, "k=v;k=v;". */
static void user_props(const struct mqtt_props *p, char *out, size_t cap)
{
	struct mqtt_prop prop;
	uint32_t pos = 0;
	size_t len = 0;

	out[0] = 0;
	while (mqtt_props_next(p, &pos, &prop))
		if (prop.id == MQTT_PROP_USER_PROPERTY)
			len += (size_t)snprintf(out + len, cap - len, "%.*s=%.*s;", prop.str.len,
						(const char *)prop.str.data, prop.str2.len,
						(const char *)prop.str2.data);
}

/* ---- -D ---- */

static void test_publish_props_reach_the_far_side(void **state)
{
	static const char *const args[][5] = {
		{ "publish", "content-type", "text/plain" },
		{ "publish", "correlation-data", "id-7" },
		{ "publish", "response-topic", "re/ply" },
		{ "publish", "message-expiry-interval", "4294967295" },
		{ "publish", "payload-format-indicator", "1" },
		{ "PUBLISH", "Topic-Alias", "65535" }, /* any case, as mosquitto */
		{ "publish", "user-property", "k1", "v1" },
		{ "publish", "user-property", "k1", "second" },
	};
	struct client_propset sets[CLIENT_PROPS_N];
	struct mqtt_packet p = { .type = MQTT_PUBLISH }, d;
	char err[200], users[200];
	uint8_t *buf;

	(void)state;
	client_propsets_init(sets);
	assert_false(client_propsets_any(sets));
	for (size_t i = 0; i < ARRAY_SIZE(args); i++)
		assert_int_equal(prop_arg(sets, args[i], args[i][3] ? 4 : 3, err),
				 args[i][3] ? 4 : 3);
	client_propsets_finish(sets);
	assert_true(client_propsets_any(sets));
	p.u.publish.topic.data = (const uint8_t *)"t";
	p.u.publish.topic.len = 1;
	p.u.publish.props = sets[CLIENT_PROPS_PUBLISH].props;
	round_trip(&p, &buf, &d);
	assert_true(str_is(d.u.publish.props.content_type, "text/plain"));
	assert_true(str_is(d.u.publish.props.correlation_data, "id-7"));
	assert_true(str_is(d.u.publish.props.response_topic, "re/ply"));
	assert_int_equal(d.u.publish.props.message_expiry, UINT32_MAX);
	assert_int_equal(d.u.publish.props.payload_format, 1);
	assert_int_equal(d.u.publish.props.topic_alias, 65535);
	user_props(&d.u.publish.props, users, sizeof(users));
	assert_string_equal(users, "k1=v1;k1=second;"); /* in order, duplicates kept */
	/* nothing leaked into the other packets */
	assert_false(sets[CLIENT_PROPS_CONNECT].props.present);
	assert_int_equal(sets[CLIENT_PROPS_CONNECT].user.len, 0);
	free(buf);
	client_propsets_release(sets);
}

static void test_connect_will_subscribe_props(void **state)
{
	static const char *const args[][5] = {
		{ "connect", "session-expiry-interval", "60" },
		{ "connect", "receive-maximum", "10" },
		{ "connect", "maximum-packet-size", "2048" },
		{ "connect", "topic-alias-maximum", "0" },
		{ "connect", "request-problem-information", "0" },
		{ "connect", "user-property", "who", "me" },
		{ "will", "will-delay-interval", "5" },
		{ "will", "content-type", "x" },
		{ "subscribe", "subscription-identifier", "268435455" },
		{ "unsubscribe", "user-property", "u", "" },
		{ "disconnect", "session-expiry-interval", "0" },
		{ "disconnect", "reason-string", "bye" },
	};
	struct client_propset sets[CLIENT_PROPS_N];
	struct mqtt_packet p = { .type = MQTT_CONNECT }, d;
	struct mqtt_props *c;
	char err[200], users[200];
	uint8_t *buf;

	(void)state;
	client_propsets_init(sets);
	for (size_t i = 0; i < ARRAY_SIZE(args); i++)
		assert_int_equal(prop_arg(sets, args[i], args[i][3] ? 4 : 3, err),
				 args[i][3] ? 4 : 3);
	client_propsets_finish(sets);
	p.u.connect.protocol_name.data = (const uint8_t *)"MQTT";
	p.u.connect.protocol_name.len = 4;
	p.u.connect.level = MQTT_LEVEL_5;
	p.u.connect.will = true;
	p.u.connect.will_topic.data = (const uint8_t *)"w";
	p.u.connect.will_topic.len = 1;
	p.u.connect.props = sets[CLIENT_PROPS_CONNECT].props;
	p.u.connect.will_props = sets[CLIENT_PROPS_WILL].props;
	round_trip(&p, &buf, &d);
	c = &d.u.connect.props;
	assert_int_equal(c->session_expiry, 60);
	assert_int_equal(c->receive_maximum, 10);
	assert_int_equal(c->maximum_packet_size, 2048);
	assert_true(c->present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
	assert_int_equal(c->topic_alias_maximum, 0);
	assert_int_equal(c->request_problem_info, 0);
	user_props(c, users, sizeof(users));
	assert_string_equal(users, "who=me;");
	assert_int_equal(d.u.connect.will_props.will_delay, 5);
	assert_true(str_is(d.u.connect.will_props.content_type, "x"));
	free(buf);
	assert_int_equal(sets[CLIENT_PROPS_SUBSCRIBE].props.subscription_id, MQTT_SUB_ID_MAX);
	assert_int_equal(sets[CLIENT_PROPS_UNSUBSCRIBE].user.len, 1 + 2 + 1 + 2);
	assert_true(str_is(sets[CLIENT_PROPS_DISCONNECT].props.reason_string, "bye"));
	client_propsets_release(sets);
}

static void test_prop_errors(void **state)
{
	static const struct {
		const char *words[5];
		const char *why;
	} bad[] = {
		{ { "publish", "content-type" }, "needs a command, a property and a value" },
		{ { "pubilsh", "content-type", "x" }, "'pubilsh' is not one of connect" },
		{ { "publish", "colour", "x" }, "'colour' is not an MQTT 5 property" },
		{ { "publish", "session-expiry-interval", "1" }, "not a property a client sends in publish" },
		{ { "connect", "topic-alias", "1" }, "not a property a client sends in connect" },
		{ { "subscribe", "content-type", "x" }, "not a property a client sends" },
		{ { "will", "topic-alias", "1" }, "not a property a client sends in will" },
		{ { "connect", "assigned-client-identifier", "x" }, "is not an MQTT 5 property" },
		{ { "publish", "payload-format-indicator", "2" }, "not a number from 0 to 1" },
		{ { "publish", "message-expiry-interval", "-1" }, "not a number from 0 to 4294967295" },
		{ { "publish", "message-expiry-interval", "4294967296" }, "not a number" },
		{ { "publish", "message-expiry-interval", "12a" }, "not a number" },
		{ { "publish", "message-expiry-interval", "" }, "not a number" },
		{ { "publish", "topic-alias", "0" }, "not a number from 1 to 65535" },
		{ { "connect", "receive-maximum", "65536" }, "not a number from 1 to 65535" },
		{ { "subscribe", "subscription-identifier", "268435456" }, "not a number" },
		{ { "publish", "user-property", "k" }, "needs a name and a value" },
		{ { "publish", "content-type", "\xff" }, "not valid UTF-8" },
		{ { "publish", "user-property", "k", "\xc0\x80" }, "not valid UTF-8" },
		{ { "publish", "response-topic", "a/#" }, "is not a topic name" },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct client_propset sets[CLIENT_PROPS_N];
		int n = 0;

		while (n < 5 && bad[i].words[n])
			n++;
		client_propsets_init(sets);
		err[0] = 0;
		if (prop_arg(sets, bad[i].words, n, err) != -1 || !strstr(err, bad[i].why))
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].why);
		assert_false(client_propsets_any(sets));
		client_propsets_release(sets);
	}
}

static void test_prop_given_twice(void **state)
{
	static const char *const once[] = { "publish", "content-type", "a" };
	static const char *const user[] = { "publish", "user-property", "a", "b" };
	struct client_propset sets[CLIENT_PROPS_N];
	char err[200];

	(void)state;
	client_propsets_init(sets);
	assert_int_equal(prop_arg(sets, once, 3, err), 3);
	assert_int_equal(prop_arg(sets, once, 3, err), -1);
	assert_non_null(strstr(err, "given twice"));
	/* user properties repeat freely */
	assert_int_equal(prop_arg(sets, user, 4, err), 4);
	assert_int_equal(prop_arg(sets, user, 4, err), 4);
	assert_int_equal(sets[CLIENT_PROPS_PUBLISH].user.len, 2 * (1 + 3 + 3));
	client_propsets_release(sets);
}

/* ---- -L and agora inbox --mqtt: HOST[:PORT] ---- */

static void test_address(void **state)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
	} good[] = {
		{ "localhost", "localhost", 1883 },
		{ "127.0.0.1:2883", "127.0.0.1", 2883 },
		{ "[::1]", "::1", 1883 },
		{ "[::1]:1", "::1", 1 },
		{ "h:65535", "h", 65535 },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "no host" },	     { ":1883", "no host" },
		{ "[]:1", "no host" },	     { "h:0", "not a port" },
		{ "h:65536", "not a port" }, { "h:", "not a port" },
		{ "h:1x", "not a port" },    { "h:1:2", "not a port" },
		{ "[::1", "without ']'" },   { "[::1]1883", "':PORT' expected" },
	};
	char err[200], *host;
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		host = NULL;
		if (client_address_parse(good[i].in, strlen(good[i].in), 1883, &host, &port, err,
					 sizeof(err)))
			fail_msg("%s: %s", good[i].in, err);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		free(host);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		host = NULL;
		err[0] = 0;
		if (client_address_parse(bad[i].in, strlen(bad[i].in), 1883, &host, &port, err,
					 sizeof(err)) != -1 ||
		    !strstr(err, bad[i].why))
			fail_msg("%s: got '%s', want '%s'", bad[i].in, err, bad[i].why);
		assert_null(host);
	}
	/* Only len bytes are read: the rest of a URL is not the address. */
	assert_int_equal(client_address_parse("h:12/topic", 4, 1883, &host, &port, err,
					      sizeof(err)), 0);
	assert_string_equal(host, "h");
	assert_int_equal(port, 12);
	free(host);
}

/* ---- -L ---- */

static void test_url(void **state)
{
	static const struct {
		const char *url, *user, *password, *host, *topic;
		uint16_t port;
	} good[] = {
		{ "mqtt://example.org/a", NULL, NULL, "example.org", "a", 1883 },
		{ "mqtt://u:p@127.0.0.1:1884/a/b", "u", "p", "127.0.0.1", "a/b", 1884 },
		{ "mqtt://u@h/t", "u", NULL, "h", "t", 1883 },
		{ "mqtt://u:@h/t", "u", "", "h", "t", 1883 },
		{ "mqtt://u:p@ss@h/t", "u", "p@ss", "h", "t", 1883 },
		{ "mqtt://[::1]:1885/x/#", NULL, NULL, "::1", "x/#", 1885 },
		{ "mqtt://[::1]/+/y", NULL, NULL, "::1", "+/y", 1883 },
		{ "mqtt://h:65535/t?x=1", NULL, NULL, "h", "t?x=1", 65535 },
	};
	static const struct {
		const char *url, *why;
	} bad[] = {
		{ "http://h/t", "does not start with mqtt://" },
		{ "mqtts://h/t", "TLS" },
		{ "mqtt://h", "no topic" },
		{ "mqtt://h/", "no topic" },
		{ "mqtt:///t", "no host" },
		{ "mqtt://u:p@/t", "no host" },
		{ "mqtt://h:0/t", "not a port" },
		{ "mqtt://h:65536/t", "not a port" },
		{ "mqtt://h:/t", "not a port" },
		{ "mqtt://h:1x/t", "not a port" },
		{ "mqtt://[::1/t", "without ']'" },
		{ "mqtt://[::1]x/t", "':PORT' expected" },
	};
	struct client_url u;
	char err[200];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (client_url_parse(&u, good[i].url, err, sizeof(err)))
			fail_msg("%s: %s", good[i].url, err);
		if (good[i].user)
			assert_string_equal(u.user, good[i].user);
		else
			assert_null(u.user);
		if (good[i].password)
			assert_string_equal(u.password, good[i].password);
		else
			assert_null(u.password);
		assert_string_equal(u.host, good[i].host);
		assert_string_equal(u.topic, good[i].topic);
		assert_int_equal(u.port, good[i].port);
		client_url_release(&u);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = 0;
		if (client_url_parse(&u, bad[i].url, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].why))
			fail_msg("%s: got '%s', want '%s'", bad[i].url, err, bad[i].why);
		assert_null(u.host);
		client_url_release(&u);
	}
}

/* ---- -F and JSON ---- */

/* A message as it arrives: encoded with the given properties and decoded. */
struct sample {
	uint8_t *bytes;
	struct mqtt_packet p;
	struct client_msg m;
};

static void sample_make(struct sample *s, const char *topic, const void *payload, size_t len,
			uint8_t qos, bool retain, const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = MQTT_PUBLISH };

	p.u.publish.topic.data = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint16_t)strlen(topic);
	p.u.publish.qos = qos;
	p.u.publish.packet_id = qos ? 4242 : 0;
	p.u.publish.retain = retain;
	p.u.publish.payload = payload;
	p.u.publish.payload_len = (uint32_t)len;
	if (props)
		p.u.publish.props = *props;
	else
		mqtt_props_clear(&p.u.publish.props);
	round_trip(&p, &s->bytes, &s->p);
	s->m.p = &s->p.u.publish;
	s->m.when.tv_sec = 1700000000; /* 2023-11-14T22:13:20Z */
	s->m.when.tv_nsec = 123456789;
}

/* Renders fmt; the result as a NUL-terminated string (static). */
static const char *render(const struct sample *s, const char *fmt)
{
	static char out[4096];
	struct client_buf b = { 0 };
	char err[200];

	if (client_format_check(fmt, err, sizeof(err)))
		fail_msg("%s: %s", fmt, err);
	if (client_format(&b, fmt, &s->m, err, sizeof(err)))
		fail_msg("%s: %s", fmt, err);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.b, b.len);
	out[b.len] = 0;
	client_buf_release(&b);
	return out;
}

/* The properties every field of -F can show. */
static void full_props(struct client_propset *sets, struct mqtt_props *props)
{
	static const char *const args[][5] = {
		{ "publish", "content-type", "text/x" },
		{ "publish", "correlation-data", "cd" },
		{ "publish", "response-topic", "r/t" },
		{ "publish", "message-expiry-interval", "30" },
		{ "publish", "payload-format-indicator", "1" },
		{ "publish", "topic-alias", "3" },
		{ "publish", "user-property", "a", "1" },
		{ "publish", "user-property", "b", "2" },
	};
	static const uint32_t sub_ids[] = { 7, 9 };
	char err[200];

	client_propsets_init(sets);
	for (size_t i = 0; i < ARRAY_SIZE(args); i++)
		assert_true(prop_arg(sets, args[i], args[i][3] ? 4 : 3, err) > 0);
	client_propsets_finish(sets);
	*props = sets[CLIENT_PROPS_PUBLISH].props;
	/* a server's PUBLISH may carry subscription identifiers */
	props->sub_ids = sub_ids;
	props->sub_id_count = 2;
	props->present |= MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
}

static void test_format_fields(void **state)
{
	struct client_propset sets[CLIENT_PROPS_N];
	struct mqtt_props props;
	struct sample s, bare;

	(void)state;
	full_props(sets, &props);
	sample_make(&s, "a/b", "Hi!", 3, 1, true, &props);
	sample_make(&bare, "t", "", 0, 0, false, NULL);
	assert_string_equal(render(&s, "%t %p %q %r %l %m"), "a/b Hi! 1 1 3 4242");
	assert_string_equal(render(&s, "%C|%D|%R|%E|%F|%A|%S|%P"),
			    "text/x|cd|r/t|30|1|3|7|a:1 b:2");
	assert_string_equal(render(&s, "%x %X"), "486921 486921");
	assert_string_equal(render(&s, "%U @N"), "1700000000.123456789 123456789");
	assert_string_equal(render(&s, "%I"), "2023-11-14T22:13:20+0000"); /* TZ=UTC */
	assert_string_equal(render(&s, "@Y-@m-@d @H:@M:@S @@ %%"), "2023-11-14 22:13:20 @ %");
	/* absent properties print nothing; QoS 0 has message id 0 */
	assert_string_equal(render(&bare, "[%C%D%R%E%F%A%S%P%p%x] %l %m"), "[] 0 0");
	/* escapes */
	assert_string_equal(render(&bare, "\\\\\\a\\e\\n\\r\\t\\v"), "\\\a\033\n\r\t\v");
	{
		struct client_buf b = { 0 };
		char err[200];
		assert_int_equal(client_format(&b, "%t\\0%t", &bare.m, err, sizeof(err)), 0);
		assert_int_equal(b.len, 3);
		assert_memory_equal(b.b, "t\0t", 3);
		client_buf_release(&b);
	}
	free(s.bytes);
	free(bare.bytes);
	client_propsets_release(sets);
}

static void test_format_width(void **state)
{
	struct sample s;

	(void)state;
	sample_make(&s, "topic", "ab", 2, 2, false, NULL);
	assert_string_equal(render(&s, "[%8t]"), "[   topic]");
	assert_string_equal(render(&s, "[%-8t]"), "[topic   ]");
	assert_string_equal(render(&s, "[%.3t]"), "[top]");
	assert_string_equal(render(&s, "[%5.2t]"), "[   to]");
	assert_string_equal(render(&s, "[%-5.2t]"), "[to   ]");
	assert_string_equal(render(&s, "[%05l]"), "[00002]");
	assert_string_equal(render(&s, "[%-05l]"), "[2    ]"); /* '-' wins over '0' */
	assert_string_equal(render(&s, "[%08m]"), "[00004242]");
	assert_string_equal(render(&s, "[%06x]"), "[006162]");
	assert_string_equal(render(&s, "[%04p]"), "[  ab]");  /* no zeros for text */
	assert_string_equal(render(&s, "[%.1p]"), "[ab]");    /* no maximum for the payload */
	assert_string_equal(render(&s, "[%5q%5r]"), "[20]");  /* nor a width for %q %r */
	assert_string_equal(render(&s, "[%1t]"), "[topic]");  /* a width never cuts */
	free(s.bytes);
}

static void test_format_check(void **state)
{
	static const struct {
		const char *fmt, *why;
	} bad[] = {
		{ "%Z", "'%Z' is not a field" },
		{ "%", "is not a field" },
		{ "%5", "is not a field" },
		{ "%-.t", NULL }, /* flags, an empty width and maximum: valid */
		{ "a@", "'@' at the end" },
		{ "\\q", "'\\q' is not an escape" },
		{ "\\", "is not an escape" },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = client_format_check(bad[i].fmt, err, sizeof(err));
		if (!bad[i].why) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc != -1 || !strstr(err, bad[i].why))
			fail_msg("%s: got %d '%s'", bad[i].fmt, rc, err);
	}
}

static json_t *parse_json(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, JSON_ALLOW_NUL, &e);

	if (!j)
		fail_msg("not JSON (%s): %s", e.text, s);
	return j;
}

static void test_json(void **state)
{
	struct client_propset sets[CLIENT_PROPS_N];
	struct mqtt_props props;
	struct sample s;
	json_t *j, *pr;

	(void)state;
	full_props(sets, &props);
	sample_make(&s, "t/\"q\"", "a\"b\\c\n\x01\0é", 10, 2, true, &props);
	j = parse_json(render(&s, "%j"));
	assert_string_equal(json_string_value(json_object_get(j, "tst")),
			    "2023-11-14T22:13:20.123456Z");
	assert_string_equal(json_string_value(json_object_get(j, "topic")), "t/\"q\"");
	assert_int_equal(json_integer_value(json_object_get(j, "qos")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "retain")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "payloadlen")), 10);
	assert_int_equal(json_integer_value(json_object_get(j, "mid")), 4242);
	/* the escapes themselves, byte for byte */
	assert_non_null(strstr(render(&s, "%j"), "\"payload\":\"a\\\"b\\\\c\\n\\u0001\\u0000é\""));
	pr = json_object_get(j, "properties");
	assert_string_equal(json_string_value(json_object_get(pr, "content-type")), "text/x");
	assert_string_equal(json_string_value(json_object_get(pr, "correlation-data")), "cd");
	assert_string_equal(json_string_value(json_object_get(pr, "response-topic")), "r/t");
	assert_int_equal(json_integer_value(json_object_get(pr, "message-expiry-interval")), 30);
	assert_int_equal(json_integer_value(json_object_get(pr, "payload-format-indicator")), 1);
	assert_int_equal(json_integer_value(json_object_get(pr, "topic-alias")), 3);
	assert_int_equal(json_array_size(json_object_get(pr, "subscription-identifiers")), 2);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(pr, "user-properties"), "b")),
		"2");
	json_decref(j);
	free(s.bytes);
	client_propsets_release(sets);
}

static void test_json_binary_and_raw(void **state)
{
	struct sample bin, obj, notjson;
	struct client_buf b = { 0 };
	char err[200];
	json_t *j;

	(void)state;
	sample_make(&bin, "t", "\xff\xfe\x00", 3, 0, false, NULL);
	j = parse_json(render(&bin, "%j"));
	assert_null(json_object_get(j, "payload"));
	assert_string_equal(json_string_value(json_object_get(j, "payload_base64")), "//4A");
	assert_null(json_object_get(j, "mid")); /* QoS 0 */
	assert_null(json_object_get(j, "properties"));
	json_decref(j);
	/* %J: the payload is JSON and goes in as it is */
	sample_make(&obj, "t", "[1,{\"a\":null}]", 14, 0, false, NULL);
	j = parse_json(render(&obj, "%J"));
	assert_int_equal(json_array_size(json_object_get(j, "payload")), 2);
	json_decref(j);
	/* not JSON: an error, nothing appended */
	sample_make(&notjson, "x/y", "{1", 2, 0, false, NULL);
	client_buf_put(&b, "keep", 4);
	assert_int_equal(client_format(&b, "a%Jb", &notjson.m, err, sizeof(err)), -1);
	assert_int_equal(b.len, 4);
	assert_non_null(strstr(err, "'x/y' is not JSON"));
	client_buf_release(&b);
	free(bin.bytes);
	free(obj.bytes);
	free(notjson.bytes);
}

/* ---- the command line ---- */

static int parse(struct client_cmdline *o, bool sub, const char *line, char *err)
{
	char copy[512], *argv[64];
	int argc = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	argv[argc++] = (char *)(sub ? "sub" : "pub");
	/* split on spaces (strtok is banned) */
	for (char *p = copy; *p;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	argv[argc] = NULL;
	err[0] = 0;
	return client_cmdline_parse(o, sub, argc, argv, err, 300);
}

static void test_cmdline_good(void **state)
{
	struct client_cmdline o;
	char err[300];

	(void)state;
	assert_int_equal(parse(&o, false, "-t a -m hello", err), 0);
	assert_string_equal(o.host, "localhost");
	assert_int_equal(o.port, 1883);
	assert_int_equal(o.level, MQTT_LEVEL_311);
	assert_int_equal(o.source, CLIENT_SRC_MESSAGE);
	assert_true(o.clean);
	assert_int_equal(o.keepalive, 60);
	client_cmdline_release(&o);

	assert_int_equal(parse(&o, false, "-h ::1 -p 1884 -t a/b -l -q 2 -r -i me -u u -P p "
					  "-k 5 -V mqttv31 -d --will-topic w --will-payload x "
					  "--will-qos 1 --will-retain -c", err), 0);
	assert_string_equal(o.host, "::1");
	assert_int_equal(o.port, 1884);
	assert_int_equal(o.source, CLIENT_SRC_LINES);
	assert_int_equal(o.qos, 2);
	assert_true(o.retain && o.debug && o.will_retain && !o.clean);
	assert_int_equal(o.level, MQTT_LEVEL_31);
	assert_int_equal(o.will_qos, 1);
	client_cmdline_release(&o);

	/* -D alone chooses MQTT 5 */
	assert_int_equal(parse(&o, false, "-t a -n -D publish content-type x", err), 0);
	assert_int_equal(o.level, MQTT_LEVEL_5);
	client_cmdline_release(&o);

	/* sub: repeated -t, -T, -U, every output option */
	assert_int_equal(parse(&o, true, "-t a -t b/+ -T b/x -U c -C 3 -W 9 -N -R -v -V 5 -x -1 "
					 "-F %t",
			       err),
			 0);
	assert_int_equal(o.ntopics, 2);
	assert_int_equal(o.nfilter_out, 1);
	assert_int_equal(o.nunsub, 1);
	assert_int_equal(o.count, 3);
	assert_int_equal(o.timeout, 9);
	assert_true(o.no_newline && o.no_retained && o.verbose);
	assert_true(o.has_session_expiry);
	assert_int_equal(o.session_expiry, UINT32_MAX);
	client_cmdline_release(&o);

	/* -L: host, port, credentials and the topic */
	assert_int_equal(parse(&o, true, "-L mqtt://ann:pw@10.0.0.1:2883/x/# --json", err), 0);
	assert_string_equal(o.host, "10.0.0.1");
	assert_int_equal(o.port, 2883);
	assert_string_equal(o.username, "ann");
	assert_string_equal(o.password, "pw");
	assert_int_equal(o.ntopics, 1);
	assert_string_equal(o.topics[0], "x/#");
	client_cmdline_release(&o);

	/* -U alone is a job for sub */
	assert_int_equal(parse(&o, true, "-U a -c -i me", err), 0);
	client_cmdline_release(&o);

	/* TLS, as mosquitto's: any of its options moves the default port to 8883 */
	assert_int_equal(parse(&o, false, "-t a -m x --cafile /c/ca.crt --cert c.crt --key c.key",
			       err),
			 0);
	assert_true(client_tls_wanted(&o.tls));
	assert_int_equal(o.port, 8883);
	assert_string_equal(o.tls.cafile, "/c/ca.crt");
	assert_string_equal(o.tls.certfile, "c.crt");
	assert_string_equal(o.tls.keyfile, "c.key");
	client_cmdline_release(&o);
	assert_int_equal(parse(&o, true, "-t a --insecure -p 18883 --capath /etc/ssl/certs", err),
			 0);
	assert_true(o.tls.insecure);
	assert_int_equal(o.port, 18883); /* -p wins, whatever its place */
	assert_string_equal(o.tls.capath, "/etc/ssl/certs");
	client_cmdline_release(&o);
	assert_int_equal(parse(&o, true, "-t a", err), 0);
	assert_false(client_tls_wanted(&o.tls));
	assert_int_equal(o.port, 1883);
	client_cmdline_release(&o);
}

static void test_cmdline_help(void **state)
{
	struct client_cmdline o;
	char err[300];

	(void)state;
	assert_int_equal(parse(&o, false, "--help", err), 1);
	client_cmdline_release(&o);
	assert_int_equal(parse(&o, true, "-h", err), 1); /* -h alone */
	client_cmdline_release(&o);
	assert_int_equal(parse(&o, true, "-t a -h", err), 1);
	client_cmdline_release(&o);
	assert_int_equal(parse(&o, true, "-h host -t a", err), 0); /* -h HOST */
	assert_string_equal(o.host, "host");
	client_cmdline_release(&o);
}

static void test_cmdline_bad(void **state)
{
	static const struct {
		bool sub;
		const char *line, *why;
	} bad[] = {
		{ false, "-t a", "no message" },
		{ false, "-m x", "no topic" },
		{ false, "-t a -t b -m x", "give one topic" },
		{ false, "-t a -m x -f y", "only one message" },
		{ false, "-t a -s -l", "only one message" },
		{ false, "-t a/+ -m x", "not a valid topic name" },
		{ false, "-t a -m x -q -1", "not a number from 0 to 2" },
		{ false, "-t a -m x -p 0", "not a number from 1 to 65535" },
		{ false, "-t a -m x -k 65536", "not a number from 0 to 65535" },
		{ false, "-t a -m x -V 3.1", "is not mqttv31" },
		{ false, "-t a -m x -V 311 -D publish content-type x", "need MQTT 5" },
		{ false, "-t a -m x -x 5", "needs MQTT 5" },
		{ false, "-t a -m x -P pw", "needs a user name" },
		{ false, "-t a -m x -c", "needs a client id" },
		{ false, "-t a -m x --will-payload p", "need --will-topic" },
		{ false, "-t a -m x --will-topic w/#", "not a valid topic name" },
		{ false, "-t a -m x -v", "unknown option '-v'" },
		{ false, "-t a -m", "-m needs a value" },
		{ false, "-t a -m x -D", "needs a command" },
		{ false, "-t a -m x -L mqtt://h/t", "give one topic" },
		{ true, "", "no topic" },
		{ true, "-t a -m x", "unknown option '-m'" },
		{ true, "-t a/#/b", "not a valid topic filter" },
		{ true, "-t a -T ##", "not a valid topic filter" },
		{ true, "-t a -C 0", "not a number from 1" },
		{ true, "-t a -W 0", "not a number from 1" },
		{ true, "-t a -F %y", "not a field" },
		{ true, "-t a --json -F %t", "--json cannot go with" },
		{ true, "-L mqtt://h/a -L mqtt://h/b", "-L given twice" },
		{ true, "-L ftp://h/a", "does not start with mqtt://" },
		{ false, "-t a -m x --cert c.crt", "--cert and --key go together" },
		{ true, "-t a --key c.key", "--cert and --key go together" },
		{ true, "-t a --cafile a --cafile b", "--cafile given twice" },
		{ true, "-t a --cafile", "--cafile needs a value" },
	};
	struct client_cmdline o;
	char err[300];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = parse(&o, bad[i].sub, bad[i].line, err);
		if (rc != -1 || !strstr(err, bad[i].why))
			fail_msg("%s '%s': got %d '%s', want '%s'", bad[i].sub ? "sub" : "pub",
				 bad[i].line, rc, err, bad[i].why);
		client_cmdline_release(&o);
	}
}

static void test_cmdline_topic_limit(void **state)
{
	char *argv[2 * CLIENT_MAX_TOPICS + 4];
	struct client_cmdline o;
	char err[300];
	int argc = 0;

	(void)state;
	argv[argc++] = (char *)"sub";
	for (int i = 0; i <= CLIENT_MAX_TOPICS; i++) {
		argv[argc++] = (char *)"-t";
		argv[argc++] = (char *)"a";
	}
	assert_int_equal(client_cmdline_parse(&o, true, argc, argv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 1024"));
	client_cmdline_release(&o);
	assert_int_equal(client_cmdline_parse(&o, true, argc - 2, argv, err, sizeof(err)), 0);
	assert_int_equal(o.ntopics, CLIENT_MAX_TOPICS);
	client_cmdline_release(&o);
}

/* The TLS options on their own, as agora bench parses them. */
static void test_tls_arg(void **state)
{
	char *cafile[] = { (char *)"--cafile", (char *)"ca.crt", (char *)"-p" };
	char *insecure[] = { (char *)"--insecure", (char *)"-p" };
	char *other[] = { (char *)"-p", (char *)"1883" };
	char *novalue[] = { (char *)"--key" };
	struct client_tls_args t = { 0 };
	char err[300];

	(void)state;
	assert_false(client_tls_wanted(&t));
	assert_int_equal(client_tls_arg(&t, 2, other, err, sizeof(err)), 0);
	assert_int_equal(client_tls_arg(&t, 3, cafile, err, sizeof(err)), 2);
	assert_string_equal(t.cafile, "ca.crt");
	assert_int_equal(client_tls_arg(&t, 2, insecure, err, sizeof(err)), 1);
	assert_true(t.insecure && client_tls_wanted(&t));
	assert_int_equal(client_tls_args_check(&t, err, sizeof(err)), 0);
	assert_int_equal(client_tls_arg(&t, 3, cafile, err, sizeof(err)), -1);
	assert_string_equal(err, "--cafile given twice");
	assert_int_equal(client_tls_arg(&t, 1, novalue, err, sizeof(err)), -1);
	assert_string_equal(err, "--key needs a value");
	t.certfile = "c.crt";
	assert_int_equal(client_tls_args_check(&t, err, sizeof(err)), -1);
	assert_string_equal(err, "--cert and --key go together");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_props_reach_the_far_side),
		cmocka_unit_test(test_connect_will_subscribe_props),
		cmocka_unit_test(test_prop_errors),
		cmocka_unit_test(test_prop_given_twice),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_format_fields),
		cmocka_unit_test(test_format_width),
		cmocka_unit_test(test_format_check),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_binary_and_raw),
		cmocka_unit_test(test_cmdline_good),
		cmocka_unit_test(test_cmdline_help),
		cmocka_unit_test(test_cmdline_bad),
		cmocka_unit_test(test_cmdline_topic_limit),
		cmocka_unit_test(test_tls_arg),
	};

	setenv("TZ", "UTC", 1); /* %I and @ sequences in local time */
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
