/* broker_client.c - see broker_client.h. */
#include "broker_client.h"

#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- broker and client bookkeeping ---- */

/* Moves the clock and runs the periodic work. */
void tick_at(struct broker *b, uint64_t ms_after_t0)
{
	set_time(b, ms_after_t0);
	broker_tick(b);
}

struct broker_client *new_client_on(struct broker *b, bool anonymous_ok)
{
	struct broker_client *c = broker_client_new(b, NULL, "t:1", anonymous_ok);

	assert_non_null(c);
	track(live_clients, c);
	return c;
}

struct broker_client *new_client(struct broker *b)
{
	return new_client_on(b, true);
}

/* ---- what a client sends ---- */

struct mqtt_props_str pstr(const char *s)
{
	return (struct mqtt_props_str){ (const uint8_t *)s, (uint16_t)strlen(s) };
}

void send_packet_at(struct broker *b, struct broker_client *c, const struct mqtt_packet *p,
			   uint8_t level)
{
	long size = mqtt_encoded_size(p, level);
	uint8_t *buf;
	long n;

	assert_true(size > 0);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	n = mqtt_encode(p, level, buf, (size_t)size);
	if (n != size) {
		free(buf);
		fail_msg("test packet does not encode: %ld", n);
	}
	feed(b, c, buf, (size_t)n);
	free(buf);
}

void send5(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	send_packet_at(b, c, p, MQTT_LEVEL_5);
}

/* A CONNECT at its own level; anything else at the level c speaks, MQTT
 * 3.1.1 before c has connected. */
void client_send(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	uint8_t level = c->level ? c->level : MQTT_LEVEL_311;

	if (p->type == MQTT_CONNECT)
		level = p->u.connect.level;
	send_packet_at(b, c, p, level);
}

void encode_packet(const struct mqtt_packet *p, uint8_t level, uint8_t *buf, size_t cap,
		   size_t *pos)
{
	long n = mqtt_encode(p, level, buf + *pos, cap - *pos);

	if (n <= 0)
		fail_msg("test packet does not encode (level %u): %ld", level, n);
	*pos += (size_t)n;
}

void client_send_simple(struct broker *b, struct broker_client *c, uint8_t type)
{
	struct mqtt_packet p = { .type = type };

	client_send(b, c, &p);
}

/* Appends one User Property (0x26, key, value) to buf at *pos. */
void user_prop(uint8_t *buf, size_t cap, size_t *pos, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);

	assert_true(*pos + 5 + kl + vl <= cap);
	buf[(*pos)++] = MQTT_PROP_USER_PROPERTY;
	buf[(*pos)++] = (uint8_t)(kl >> 8);
	buf[(*pos)++] = (uint8_t)kl;
	memcpy(buf + *pos, k, kl);
	*pos += kl;
	buf[(*pos)++] = (uint8_t)(vl >> 8);
	buf[(*pos)++] = (uint8_t)vl;
	memcpy(buf + *pos, v, vl);
	*pos += vl;
}

/* A CONNECT; a non-zero expiry is sent as the Session Expiry Interval. */
struct mqtt_packet connect_packet(uint8_t level, const char *id, bool clean,
					 uint16_t keepalive, uint32_t expiry)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };
	struct mqtt_connect *cn = &p.u.connect;

	cn->protocol_name = str(level == MQTT_LEVEL_31 ? "MQIsdp" : "MQTT");
	cn->level = level;
	cn->clean_session = clean;
	cn->keepalive = keepalive;
	cn->client_id = str(id);
	if (expiry) {
		cn->props.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
		cn->props.session_expiry = expiry;
	}
	return p;
}

void set_will(struct mqtt_packet *p, const char *topic, const char *payload, uint8_t qos,
		     bool retain)
{
	p->u.connect.will = true;
	p->u.connect.will_topic = str(topic);
	p->u.connect.will_payload = str(payload);
	p->u.connect.will_qos = qos;
	p->u.connect.will_retain = retain;
}

void set_will_delay(struct mqtt_packet *p, uint32_t delay)
{
	p->u.connect.will_props.present |= MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY);
	p->u.connect.will_props.will_delay = delay;
}

struct mqtt_packet publish_packet(const char *topic, const void *payload, size_t len,
					 uint8_t qos, bool retain, uint16_t id)
{
	struct mqtt_packet p = { .type = MQTT_PUBLISH };

	p.u.publish.topic = str(topic);
	p.u.publish.payload = payload;
	p.u.publish.payload_len = (uint32_t)len;
	p.u.publish.qos = qos;
	p.u.publish.retain = retain;
	p.u.publish.packet_id = qos ? id : 0;
	return p;
}

void client_send_publish_bin(struct broker *b, struct broker_client *c, const char *topic,
			     const void *payload, size_t len, uint8_t qos, uint16_t id)
{
	struct mqtt_packet p = publish_packet(topic, payload, len, qos, false, id);

	client_send(b, c, &p);
}

void client_send_publish(struct broker *b, struct broker_client *c, const char *topic,
			 const char *payload, uint8_t qos, uint16_t id)
{
	client_send_publish_bin(b, c, topic, payload, strlen(payload), qos, id);
}

void client_send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet p = { .type = type };

	p.u.ack.packet_id = id;
	client_send(b, c, &p);
}

void send_ack5(struct broker *b, struct broker_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet p = { .type = type };

	p.u.ack.packet_id = id;
	send5(b, c, &p);
}

void send_disconnect5(struct broker *b, struct broker_client *c, uint8_t reason,
			     const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = MQTT_DISCONNECT };

	p.u.reason.reason_code = reason;
	if (props)
		p.u.reason.props = *props;
	send5(b, c, &p);
}

/* A SUBSCRIBE (options given) or UNSUBSCRIBE (options NULL) of n filters,
 * written into list. */
static struct mqtt_packet filters_packet(uint8_t *list, size_t cap, uint16_t id,
					 const char *const *filters, const uint8_t *options,
					 uint16_t n)
{
	struct mqtt_topic_list l = topic_list(list, cap, filters, options, n);
	struct mqtt_packet p = { .type = MQTT_UNSUBSCRIBE };

	if (options) {
		p.type = MQTT_SUBSCRIBE;
		p.u.subscribe.packet_id = id;
		p.u.subscribe.filters = l;
	} else {
		p.u.unsubscribe.packet_id = id;
		p.u.unsubscribe.filters = l;
	}
	return p;
}

void client_send_subscribe(struct broker *b, struct broker_client *c, uint16_t id,
			   const char *const *filters, const uint8_t *options, uint16_t n)
{
	uint8_t list[1024];
	struct mqtt_packet p = filters_packet(list, sizeof(list), id, filters, options, n);

	client_send(b, c, &p);
}

void send_subscribe5(struct broker *b, struct broker_client *c, uint16_t id,
			    const char *const *filters, const uint8_t *options, uint16_t n,
			    uint32_t sub_id)
{
	uint8_t list[1024];
	struct mqtt_packet p = filters_packet(list, sizeof(list), id, filters, options, n);

	if (sub_id) {
		p.u.subscribe.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
		p.u.subscribe.props.subscription_id = sub_id;
	}
	send5(b, c, &p);
}

void client_send_unsubscribe(struct broker *b, struct broker_client *c, uint16_t id,
			     const char *const *filters, uint16_t n)
{
	uint8_t list[1024];
	struct mqtt_packet p = filters_packet(list, sizeof(list), id, filters, NULL, n);

	client_send(b, c, &p);
}

void send_unsubscribe5(struct broker *b, struct broker_client *c, uint16_t id,
			      const char *const *filters, uint16_t n)
{
	uint8_t list[1024];
	struct mqtt_packet p = filters_packet(list, sizeof(list), id, filters, NULL, n);

	send5(b, c, &p);
}

/* ---- what the broker sent ---- */

/* The bytes of the packet pop_packet returned last: its fields point here. */
uint8_t last_packet[65536];
size_t last_packet_len;

/* Removes the first packet from c's output and decodes it, at the level c
 * speaks, into *p. */
bool pop_packet(struct broker_client *c, struct mqtt_packet *p)
{
	uint8_t level = c->level ? c->level : MQTT_LEVEL_311;
	size_t total = c->out.total;
	uint8_t *all;
	long n;

	if (total == 0)
		return false;
	all = malloc(total);
	assert_non_null(all);
	assert_int_equal(outbuf_copy(&c->out, all, total), total);
	n = mqtt_decode(all, total, level, 0, p);
	if (n < 0 || (size_t)n > sizeof(last_packet)) {
		free(all);
		fail_msg("broker sent an undecodable packet (level %u): %s", level,
			 mqtt_strerror((int)n));
	}
	memcpy(last_packet, all, (size_t)n);
	last_packet_len = (size_t)n;
	assert_int_equal(mqtt_decode(last_packet, (size_t)n, level, 0, p), n);
	outbuf_reset(&c->out);
	outbuf_append(&c->out, all + n, total - (size_t)n);
	free(all);
	return true;
}

void expect_packet(struct broker_client *c, uint8_t type, struct mqtt_packet *p)
{
	if (!pop_packet(c, p))
		fail_msg("expected %s, the broker sent nothing", mqtt_type_name(type));
	assert_string_equal(mqtt_type_name(p->type), mqtt_type_name(type));
}

void expect_nothing(struct broker_client *c)
{
	struct mqtt_packet p;

	if (pop_packet(c, &p))
		fail_msg("unexpected %s from the broker", mqtt_type_name(p.type));
}

void expect_connack(struct broker_client *c, bool present, uint8_t rc,
			   struct mqtt_packet *p)
{
	struct mqtt_packet local;

	if (!p)
		p = &local;
	expect_packet(c, MQTT_CONNACK, p);
	assert_int_equal(p->u.connack.return_code, rc);
	assert_int_equal(p->u.connack.session_present, present);
}

void expect_ack(struct broker_client *c, uint8_t type, uint16_t id, uint8_t reason)
{
	struct mqtt_packet p;

	expect_packet(c, type, &p);
	assert_int_equal(p.u.ack.packet_id, id);
	if (c->level == MQTT_LEVEL_5)
		assert_int_equal(p.u.ack.reason_code, reason);
	else
		assert_int_equal(last_packet_len, 4);
}

void expect_ack5(struct broker_client *c, uint8_t type, uint16_t id, uint8_t reason)
{
	struct mqtt_packet p;

	expect_packet(c, type, &p);
	assert_int_equal(p.u.ack.packet_id, id);
	assert_int_equal(p.u.ack.reason_code, reason);
}

void expect_disconnect(struct broker_client *c, uint8_t reason)
{
	struct mqtt_packet p;

	expect_packet(c, MQTT_DISCONNECT, &p);
	assert_int_equal(p.u.reason.reason_code, reason);
}

void expect_suback(struct broker_client *c, uint16_t id, const uint8_t *codes, uint16_t n)
{
	struct mqtt_packet p;

	expect_packet(c, MQTT_SUBACK, &p);
	assert_int_equal(p.u.suback.packet_id, id);
	assert_int_equal(p.u.suback.count, n);
	assert_memory_equal(p.u.suback.codes, codes, n);
}

uint16_t expect_publish_bin(struct broker_client *c, const char *topic, const void *payload,
			    size_t len, uint8_t qos, bool retain, bool dup, struct mqtt_packet *p)
{
	struct mqtt_packet local;
	const struct mqtt_publish *pub;

	if (!p)
		p = &local;
	pub = &p->u.publish;
	expect_packet(c, MQTT_PUBLISH, p);
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

uint16_t expect_publish(struct broker_client *c, const char *topic, const char *payload,
			uint8_t qos, bool retain, struct mqtt_packet *p)
{
	return expect_publish_bin(c, topic, payload, strlen(payload), qos, retain, false, p);
}

bool has_prop(const struct mqtt_props *props, uint8_t id)
{
	return (props->present & MQTT_PROP_BIT(id)) != 0;
}

void assert_pstr(struct mqtt_props_str s, const void *want, size_t len)
{
	assert_int_equal(s.len, len);
	if (len)
		assert_memory_equal(s.data, want, len);
}

/* The Subscription Identifiers of a decoded PUBLISH, in order. */
uint16_t sub_ids_of(const struct mqtt_props *props, uint32_t *ids, uint16_t cap)
{
	struct mqtt_prop pr;
	uint32_t pos = 0;
	uint16_t n = 0;

	while (mqtt_props_next(props, &pos, &pr)) {
		if (pr.id != MQTT_PROP_SUBSCRIPTION_ID)
			continue;
		assert_true(n < cap);
		ids[n++] = pr.value;
	}
	assert_int_equal(n, props->sub_id_count);
	return n;
}

/* The sub ids of a PUBLISH are exactly this set (order unspecified). */
void expect_sub_ids(const struct mqtt_props *props, const uint32_t *want, uint16_t n)
{
	uint32_t ids[8];
	bool seen[8] = { false };
	uint16_t got = sub_ids_of(props, ids, 8);

	assert_int_equal(got, n);
	for (uint16_t i = 0; i < n; i++) {
		uint16_t k;

		for (k = 0; k < n; k++)
			if (ids[k] == want[i] && !seen[k])
				break;
		if (k == n)
			fail_msg("subscription identifier %u missing", want[i]);
		seen[k] = true;
	}
}

/* The User Properties of a decoded block are exactly these pairs, in order
 * ([MQTT-3.3.2-18]: forwarded unaltered, order kept). */
void expect_user_props(const struct mqtt_props *props, const char *const (*pairs)[2],
			      size_t n)
{
	struct mqtt_prop pr;
	uint32_t pos = 0;
	size_t i = 0;

	while (mqtt_props_next(props, &pos, &pr)) {
		if (pr.id != MQTT_PROP_USER_PROPERTY)
			continue;
		if (i >= n)
			fail_msg("more user properties than the %zu sent", n);
		assert_pstr(pr.str, pairs[i][0], strlen(pairs[i][0]));
		assert_pstr(pr.str2, pairs[i][1], strlen(pairs[i][1]));
		i++;
	}
	assert_int_equal(pos, props->raw_len); /* the walk reached the end */
	assert_int_equal(i, n);
}

/* ---- sessions ---- */

/* Sends a CONNECT that must be accepted; returns the CONNACK in *ack. */
struct broker_client *connect_packet_ok(struct broker *b, const struct mqtt_packet *cp,
					       bool present, struct mqtt_packet *ack)
{
	struct broker_client *c = new_client(b);

	send_packet_at(b, c, cp, cp->u.connect.level);
	expect_connack(c, present, 0, ack);
	assert_int_equal(c->state, CLIENT_CONNECTED);
	assert_int_equal(c->level, cp->u.connect.level);
	return c;
}

struct broker_client *connect5(struct broker *b, const char *id, bool clean,
				      uint32_t expiry, bool present)
{
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, id, clean, 0, expiry);
	struct mqtt_packet ack;

	return connect_packet_ok(b, &cp, present, &ack);
}

struct broker_client *connect311(struct broker *b, const char *id, bool clean,
					uint16_t keepalive, bool present)
{
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_311, id, clean, keepalive, 0);
	struct mqtt_packet ack;

	return connect_packet_ok(b, &cp, present, &ack);
}

void subscribe5(struct broker *b, struct broker_client *c, const char *filter,
		       uint8_t options, uint32_t sub_id)
{
	uint16_t id = next_packet_id();
	uint8_t code = MQTT_SUBOPT_QOS(options);

	send_subscribe5(b, c, id, &filter, &options, 1, sub_id);
	expect_suback(c, id, &code, 1);
}

void subscribe311(struct broker *b, struct broker_client *c, const char *filter,
			 uint8_t qos)
{
	uint16_t id = next_packet_id();
	uint8_t list[512];
	struct mqtt_packet p = filters_packet(list, sizeof(list), id, &filter, &qos, 1);

	send_packet_at(b, c, &p, MQTT_LEVEL_311);
	expect_suback(c, id, &qos, 1);
}

static void publish_flow(struct broker *b, struct broker_client *c, const char *topic,
			 const void *payload, size_t len, uint8_t qos, bool retain,
			 const struct mqtt_props *props, uint8_t reason)
{
	uint16_t id = qos ? next_packet_id() : 0;
	struct mqtt_packet p = publish_packet(topic, payload, len, qos, retain, id);

	if (props)
		p.u.publish.props = *props;
	client_send(b, c, &p);
	if (qos == 1) {
		expect_ack(c, MQTT_PUBACK, id, reason);
	} else if (qos == 2) {
		expect_ack(c, MQTT_PUBREC, id, reason);
		if (reason < 0x80) {
			client_send_ack(b, c, MQTT_PUBREL, id);
			expect_ack(c, MQTT_PUBCOMP, id, 0);
		}
	}
	assert_int_equal(c->state, CLIENT_CONNECTED);
}

void publish5_props(struct broker *b, struct broker_client *c, const char *topic,
		    const void *payload, size_t len, uint8_t qos, bool retain,
		    const struct mqtt_props *props, uint8_t reason)
{
	assert_int_equal(c->level, MQTT_LEVEL_5);
	publish_flow(b, c, topic, payload, len, qos, retain, props, reason);
}

void publish5(struct broker *b, struct broker_client *c, const char *topic,
		     const char *payload, uint8_t qos, bool retain, uint8_t reason)
{
	publish5_props(b, c, topic, payload, strlen(payload), qos, retain, NULL, reason);
}

void publish(struct broker *b, struct broker_client *c, const char *topic, const char *payload,
	     uint8_t qos, bool retain)
{
	publish_flow(b, c, topic, payload, strlen(payload), qos, retain, NULL, 0x00);
}

struct mqtt_props expiry_props(uint32_t seconds)
{
	struct mqtt_props props = { 0 };

	props.present = MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
	props.message_expiry = seconds;
	return props;
}
