/*
 * flow.c - what the client connection layer sends and what it does with
 * the bytes from the server (client.h): framing them into packets, then
 * CONNECT and CONNACK, PUBLISH and its acknowledgements both ways,
 * SUBSCRIBE and UNSUBSCRIBE, PINGREQ, DISCONNECT. The input path is in one
 * file so the per-packet steps inline (the bench receives millions).
 *
 * Outgoing packet ids are taken in order (1, 2, ... 65535, 1...) and kept
 * in a ring of one state byte each, in id order: an acknowledgement finds
 * its slot by subtraction, and a slot acknowledged out of order stays a
 * hole until the head passes it. So an id is never reused while in flight,
 * and a window of thousands costs as many bytes.
 */
#include "internal.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define KEEP_RBUF_MAX (1u << 20) /* a larger input buffer is freed once used */

/* ---- sending ---- */

static void trace_sent(struct client_conn *c, const struct mqtt_packet *p)
{
	if (c->cb->trace)
		c->cb->trace(c, p, true);
}

/* Encodes p into the output; 0 or CLIENT_EINVAL. */
static int send_packet(struct client_conn *c, const struct mqtt_packet *p)
{
	long size = mqtt_encoded_size(p, c->level);
	long n;

	if (size < 0)
		return CLIENT_EINVAL;
	n = mqtt_encode(p, c->level, client__reserve(c, (size_t)size), (size_t)size);
	if (n < 0)
		return CLIENT_EINVAL;
	c->wlen += (uint32_t)n;
	trace_sent(c, p);
	return 0;
}

static void trace_ack(struct client_conn *c, uint8_t type, uint16_t id, uint8_t reason)
	__attribute__((cold));

/* PUBACK, PUBREC, PUBREL, PUBCOMP: 4 bytes (MQTT 5 drops reason 0), or 5
 * with a reason. Inline: one per message received at QoS 1 or 2. */
static inline void send_ack(struct client_conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
	bool with_reason = reason && c->level == MQTT_LEVEL_5;
	uint8_t *d = client__reserve(c, 5);

	d[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0));
	d[1] = with_reason ? 3 : 2;
	d[2] = (uint8_t)(id >> 8);
	d[3] = (uint8_t)id;
	d[4] = reason;
	c->wlen += with_reason ? 5 : 4;
	if (__builtin_expect(c->cb->trace != NULL, 0))
		trace_ack(c, type, id, reason);
}

static void trace_ack(struct client_conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
	struct mqtt_packet p = { .type = type };

	p.u.ack.packet_id = id;
	p.u.ack.reason_code = reason;
	mqtt_props_clear(&p.u.ack.props);
	trace_sent(c, &p);
}

void client__send_simple(struct client_conn *c, uint8_t type)
{
	struct mqtt_packet p = { .type = type };

	send_packet(c, &p);
}

void client__send_disconnect(struct client_conn *c, uint8_t reason, const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = MQTT_DISCONNECT };

	p.u.reason.reason_code = reason;
	if (props)
		p.u.reason.props = *props;
	else
		mqtt_props_clear(&p.u.reason.props);
	send_packet(c, &p);
}

void client__send_connect(struct client_conn *c)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };

	p.u.connect = c->opts.connect;
	if (!p.u.connect.protocol_name.len) {
		bool v31 = p.u.connect.level == MQTT_LEVEL_31;
		p.u.connect.protocol_name.data = (const uint8_t *)(v31 ? "MQIsdp" : "MQTT");
		p.u.connect.protocol_name.len = v31 ? 6 : 4;
	}
	if (send_packet(c, &p) < 0)
		client__fail(c, CLIENT_EINVAL);
}

/* ---- outgoing packet ids ---- */

/* The id i places after the head. */
static uint16_t id_at(const struct client_conn *c, uint32_t i)
{
	uint32_t v = (uint32_t)c->first_id - 1 + i;

	if (v >= CLIENT_IDS)
		v -= CLIENT_IDS;
	return (uint16_t)(v + 1);
}

/* The slot of an id in flight, or NULL. */
static uint8_t *slot_of(const struct client_conn *c, uint16_t id)
{
	uint32_t off;

	if (!id)
		return NULL;
	off = id >= c->first_id ? (uint32_t)(id - c->first_id)
				: (uint32_t)id + CLIENT_IDS - c->first_id;
	return off < c->inflight.len ? ring_at(&c->inflight, off, 1) : NULL;
}

/* Takes the next id for a packet awaiting `state` (the caller checked
 * that fewer than CLIENT_IDS are in flight). Inline: once per message. */
static inline uint16_t take_id(struct client_conn *c, uint8_t state)
{
	uint16_t id = id_at(c, c->inflight.len);

	if (__builtin_expect(ring_full(&c->inflight), 0))
		ring_grow(&c->inflight, 1, 16, CLIENT_IDS);
	*(uint8_t *)ring_push(&c->inflight, 1) = state;
	return id;
}

/* The id's flow is over: free its slot, and move the head past holes. */
static void free_slot(struct client_conn *c, uint8_t *slot)
{
	*slot = SLOT_FREE;
	while (c->inflight.len && *(uint8_t *)ring_head(&c->inflight, 1) == SLOT_FREE) {
		ring_pop(&c->inflight);
		c->first_id = c->first_id == CLIENT_IDS ? 1 : c->first_id + 1;
	}
}

/* ---- publishing ---- */

/* client_publish_reserve without the trace (client_publish traces once
 * the payload is in place); inlined into both. */
static inline __attribute__((always_inline)) long reserve_publish(struct client_conn *c,
								 struct mqtt_publish *p,
								 uint8_t **payload)
{
	uint32_t props = c->level == MQTT_LEVEL_5 ? mqtt_props_size(&p->props) : 0;
	uint64_t rem = 2 + (uint64_t)p->topic.len + (p->qos ? 2 : 0) + props + p->payload_len;
	uint32_t max = c->server.maximum_packet_size;
	size_t head = MQTT_MAX_HEADER + (size_t)rem - p->payload_len;
	uint8_t *dst;
	long n;

	if (__builtin_expect(!client_can_publish(c, p->qos), 0))
		return c->state != CLIENT_CONNECTED ? CLIENT_ESTATE : CLIENT_EFULL;
	if (__builtin_expect(p->qos > 2 || rem > MQTT_MAX_REMAINING, 0))
		return CLIENT_EINVAL;
	if (max && 1 + (uint64_t)mqtt_varint_size((uint32_t)rem) + rem > max)
		return CLIENT_ETOOBIG;
	p->packet_id = 0;
	if (p->qos) {
		p->packet_id = take_id(c, p->qos == 1 ? SLOT_PUBACK : SLOT_PUBREC);
		c->npub++;
	} else {
		p->dup = false;
	}
	dst = client__reserve(c, head + p->payload_len);
	/* cannot fail: QoS, size and packet id are checked above */
	n = mqtt_encode_publish_header(p, c->level, dst, head);
	*payload = dst + n;
	c->wlen += (uint32_t)n + p->payload_len;
	return p->packet_id;
}

static void trace_publish(struct client_conn *c, const struct mqtt_publish *p)
	__attribute__((cold));

static void trace_publish(struct client_conn *c, const struct mqtt_publish *p)
{
	struct mqtt_packet t = { .type = MQTT_PUBLISH };

	t.u.publish = *p;
	trace_sent(c, &t);
}

long client_publish_reserve(struct client_conn *c, struct mqtt_publish *p, uint8_t **payload)
{
	long id = reserve_publish(c, p, payload);

	if (__builtin_expect(c->cb->trace != NULL, 0) && id >= 0)
		trace_publish(c, p);
	return id;
}

long client_publish(struct client_conn *c, struct mqtt_publish *p)
{
	uint8_t *dst;
	long id = reserve_publish(c, p, &dst);

	if (id < 0)
		return id;
	if (p->payload_len)
		memcpy(dst, p->payload, p->payload_len);
	if (__builtin_expect(c->cb->trace != NULL, 0))
		trace_publish(c, p);
	return id;
}

/* ---- subscribing ---- */

/* SUBSCRIBE and UNSUBSCRIBE: the filters (with an options byte each for
 * SUBSCRIBE) laid out as the codec's topic list. */
static long send_list(struct client_conn *c, uint8_t type, const char *const *filters,
		      const uint8_t *options, uint32_t n, const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = type };
	struct mqtt_topic_list *list = type == MQTT_SUBSCRIBE ? &p.u.subscribe.filters
							      : &p.u.unsubscribe.filters;
	size_t len = 0, pos = 0;
	uint8_t *body;
	uint16_t id;
	int rc;

	if (c->state != CLIENT_CONNECTED)
		return CLIENT_ESTATE;
	if (!n || n > UINT16_MAX)
		return CLIENT_EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		size_t fl = strlen(filters[i]);
		if (!fl || fl > UINT16_MAX)
			return CLIENT_EINVAL;
		len += 2 + fl + (options ? 1 : 0);
	}
	if (len > MQTT_MAX_REMAINING)
		return CLIENT_EINVAL;
	if (c->inflight.len >= CLIENT_IDS)
		return CLIENT_EFULL;
	body = xmalloc(len);
	for (uint32_t i = 0; i < n; i++) {
		size_t fl = strlen(filters[i]);
		body[pos++] = (uint8_t)(fl >> 8);
		body[pos++] = (uint8_t)fl;
		memcpy(body + pos, filters[i], fl);
		pos += fl;
		if (options)
			body[pos++] = options[i];
	}
	list->data = body;
	list->len = (uint32_t)len;
	list->count = (uint16_t)n;
	list->with_options = options != NULL;
	id = take_id(c, type == MQTT_SUBSCRIBE ? SLOT_SUBACK : SLOT_UNSUBACK);
	if (type == MQTT_SUBSCRIBE) {
		p.u.subscribe.packet_id = id;
		if (props)
			p.u.subscribe.props = *props;
		else
			mqtt_props_clear(&p.u.subscribe.props);
	} else {
		p.u.unsubscribe.packet_id = id;
		if (props)
			p.u.unsubscribe.props = *props;
		else
			mqtt_props_clear(&p.u.unsubscribe.props);
	}
	rc = send_packet(c, &p);
	free(body);
	if (rc < 0) {
		free_slot(c, slot_of(c, id));
		return rc;
	}
	return id;
}

long client_subscribe(struct client_conn *c, const struct client_filter *f, uint32_t n,
		      const struct mqtt_props *props)
{
	const char **filters;
	uint8_t *options;
	long rc;

	if (!n || n > UINT16_MAX)
		return CLIENT_EINVAL;
	filters = xmalloc(n * sizeof(*filters));
	options = xmalloc(n);
	for (uint32_t i = 0; i < n; i++) {
		filters[i] = f[i].filter;
		options[i] = f[i].options;
	}
	rc = send_list(c, MQTT_SUBSCRIBE, filters, options, n, props);
	free(filters);
	free(options);
	return rc;
}

long client_unsubscribe(struct client_conn *c, const char *const *filters, uint32_t n,
			const struct mqtt_props *props)
{
	return send_list(c, MQTT_UNSUBSCRIBE, filters, NULL, n, props);
}

/* ---- packets from the server ---- */

static void on_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	const struct mqtt_props *pr = &a->props;
	struct client_server *s = &c->server;

	if (c->state != CLIENT_WAIT_CONNACK) {
		client__fail(c, CLIENT_EPROTO); /* a second CONNACK */
		return;
	}
	s->receive_maximum = MQTT_PROP_OR(pr, MQTT_PROP_RECEIVE_MAXIMUM, receive_maximum, 65535);
	s->topic_alias_maximum =
		MQTT_PROP_OR(pr, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, topic_alias_maximum, 0);
	s->keepalive = MQTT_PROP_OR(pr, MQTT_PROP_SERVER_KEEPALIVE, server_keepalive,
				    c->opts.connect.keepalive);
	s->maximum_packet_size =
		MQTT_PROP_OR(pr, MQTT_PROP_MAXIMUM_PACKET_SIZE, maximum_packet_size, 0);
	s->maximum_qos = MQTT_PROP_OR(pr, MQTT_PROP_MAXIMUM_QOS, maximum_qos, 2);
	s->retain_available = MQTT_PROP_OR(pr, MQTT_PROP_RETAIN_AVAILABLE, retain_available, 1);
	s->session_present = a->session_present;
	if (a->return_code) {
		if (c->cb->connack)
			c->cb->connack(c, a);
		client__fail(c, CLIENT_EREFUSED);
		return;
	}
	c->state = CLIENT_CONNECTED;
	c->deadline_ms = 0;
	c->last_out_ms = client__now(c);
	client__update_timed(c);
	if (c->cb->connack)
		c->cb->connack(c, a);
}

static void on_publish(struct client_conn *c, const struct mqtt_publish *p)
{
	bool again = false;

	/* The acknowledgement goes first: if the application ends the
	 * connection from its callback, the ack still precedes DISCONNECT. */
	if (p->qos == 1) {
		send_ack(c, MQTT_PUBACK, p->packet_id, 0);
	} else if (p->qos == 2) {
		again = idset_has(&c->qos2_in, p->packet_id);
		if (!again)
			idset_add(&c->qos2_in, p->packet_id);
		send_ack(c, MQTT_PUBREC, p->packet_id, 0);
	}
	if (c->cb->message)
		c->cb->message(c, p, again);
}

/* PUBACK, PUBREC and PUBCOMP of our PUBLISHes. */
static void on_pub_ack(struct client_conn *c, uint8_t type, const struct mqtt_ack *a)
{
	uint8_t *slot = slot_of(c, a->packet_id);
	uint8_t want = type == MQTT_PUBACK ? SLOT_PUBACK : type == MQTT_PUBREC ? SLOT_PUBREC
									     : SLOT_PUBCOMP;

	if (type == MQTT_PUBREC && a->reason_code < 0x80 &&
	    (!slot || *slot == SLOT_PUBCOMP || *slot == SLOT_PUBREC)) {
		/* PUBREL, also for a PUBREC sent again, and for an id we do not
		 * know (0x92) so that the server's flow can end */
		if (slot)
			*slot = SLOT_PUBCOMP;
		send_ack(c, MQTT_PUBREL, a->packet_id, slot ? 0 : 0x92);
		return;
	}
	if (!slot || *slot != want)
		return; /* not ours (any more): nothing to do */
	free_slot(c, slot);
	c->npub--;
	if (c->cb->published)
		c->cb->published(c, a->packet_id, a->reason_code, &a->props);
}

static void on_pubrel(struct client_conn *c, const struct mqtt_ack *a)
{
	bool known = idset_remove(&c->qos2_in, a->packet_id);

	send_ack(c, MQTT_PUBCOMP, a->packet_id, known ? 0 : 0x92);
}

static void on_sub_ack(struct client_conn *c, const struct mqtt_packet *p)
{
	uint16_t id = p->type == MQTT_SUBACK ? p->u.suback.packet_id : p->u.ack.packet_id;
	uint8_t *slot = slot_of(c, id);

	if (!slot || *slot != (p->type == MQTT_SUBACK ? SLOT_SUBACK : SLOT_UNSUBACK))
		return;
	free_slot(c, slot);
	if (p->type == MQTT_SUBACK && c->cb->suback)
		c->cb->suback(c, &p->u.suback);
	else if (p->type == MQTT_UNSUBACK && c->cb->unsuback)
		c->cb->unsuback(c, &p->u.ack);
}

static void handle_packet(struct client_conn *c, const struct mqtt_packet *p)
{
	if (c->cb->trace)
		c->cb->trace(c, p, false);
	if (c->state == CLIENT_WAIT_CONNACK && p->type != MQTT_CONNACK) {
		client__fail(c, CLIENT_EPROTO); /* the first packet is CONNACK */
		return;
	}
	switch (p->type) {
	case MQTT_CONNACK:
		on_connack(c, &p->u.connack);
		break;
	case MQTT_PUBLISH:
		on_publish(c, &p->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		on_pub_ack(c, p->type, &p->u.ack);
		break;
	case MQTT_PUBREL:
		on_pubrel(c, &p->u.ack);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		on_sub_ack(c, p);
		break;
	case MQTT_PINGRESP:
		c->ping_out = false;
		c->deadline_ms = 0;
		break;
	case MQTT_DISCONNECT:
		if (c->cb->disconnect)
			c->cb->disconnect(c, &p->u.reason);
		client__fail(c, CLIENT_EDISCONNECTED);
		break;
	default: /* CONNECT, SUBSCRIBE, PINGREQ, AUTH: not the server's to send */
		client__fail(c, CLIENT_EPROTO);
		break;
	}
}

/* ---- input ---- */

/* A level 5 CONNECT answered by a server of an older level: its CONNACK
 * has no properties and a 3.1.1 return code, which level 5 decoding calls
 * malformed. Read it at level 4 so the refusal is reported as such. */
static long decode_old_connack(const struct client_conn *c, const uint8_t *data, size_t len,
			       struct mqtt_packet *p)
{
	struct mqtt_decode_opts o = { .level = MQTT_LEVEL_311, .sender = MQTT_SENDER_SERVER };

	if (c->state != CLIENT_WAIT_CONNACK || len < 4 || data[0] != MQTT_CONNACK << 4 ||
	    data[1] != 2 || data[3] == 0 || data[3] > MQTT_CONNACK_NOT_AUTHORIZED)
		return MQTT_ERR_REASON;
	return mqtt_decode_with(data, 4, &o, p);
}

/* Decodes and handles every complete packet in data; returns the bytes
 * used (the rest is an unfinished packet), or -1 once c is ending. */
static long decode_all(struct client_conn *c, const uint8_t *data, size_t len)
{
	struct mqtt_decode_opts o = { .level = c->level, .sender = MQTT_SENDER_SERVER,
				      .max_packet = c->opts.max_packet };
	size_t pos = 0;

	while (pos < len) {
		struct mqtt_packet p;
		long n = mqtt_decode_with(data + pos, len - pos, &o, &p);

		if (n == MQTT_ERR_NEED_MORE)
			break;
		if (n < 0 && c->level == MQTT_LEVEL_5)
			n = decode_old_connack(c, data + pos, len - pos, &p);
		if (n < 0) {
			client__fail(c, CLIENT_EPROTO);
			return -1;
		}
		handle_packet(c, &p);
		if (c->state >= CLIENT_DISCONNECTING)
			return -1;
		pos += (size_t)n;
	}
	return (long)pos;
}

void client__input(struct client_conn *c, const uint8_t *data, size_t len)
{
	long used;

	if (c->state == CLIENT_DISCONNECTING || c->state >= CLIENT_CLOSING)
		return; /* nothing may follow our DISCONNECT, not even an ack */
	if (c->rlen) {
		/* bounded: decoding refuses a packet above max_packet from its
		 * fixed header, so what is kept is at most one packet */
		ARRAY_GROW(c->rbuf, c->rcap, (size_t)c->rlen + len, 4096, ARRAY_MAX);
		memcpy(c->rbuf + c->rlen, data, len);
		c->rlen += (uint32_t)len;
		data = c->rbuf;
		len = c->rlen;
	}
	used = decode_all(c, data, len);
	if (used < 0)
		return;
	if ((size_t)used < len) {
		size_t rest = len - (size_t)used;
		if (data != c->rbuf)
			ARRAY_GROW(c->rbuf, c->rcap, rest, 4096, ARRAY_MAX);
		memmove(c->rbuf, data + used, rest);
		c->rlen = (uint32_t)rest;
	} else {
		c->rlen = 0;
		if (c->rcap > KEEP_RBUF_MAX) {
			free(c->rbuf);
			c->rbuf = NULL;
			c->rcap = 0;
		}
	}
}
