/*
 * publish.c - an incoming PUBLISH: check, acknowledge, store if retained,
 * route to every matching session once at the highest granted QoS.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Out of line and cold: most messages are not under the hooks' prefix, and
 * the call must not weigh on collect's common path. */
static __attribute__((noinline, cold)) bool readable(struct broker *b, const struct session *s)
{
	return b->hooks.may_read(b->hooks.ctx, s->account, (const uint8_t *)b->route_msg->topic,
				 b->route_msg->topic_len);
}

/* Collects each matching session once, keeping its highest granted QoS
 * ([MQTT-3.3.5-1]: overlapping subscriptions deliver one copy). */
static void collect(void *ctx, struct sub *sub)
{
	struct broker *b = ctx;
	struct session *s = sub->session;
	bool rap = sub->options & MQTT_SUBOPT_RETAIN_AS_PUBLISHED;

	if (sub->group) {
		/* A shared subscription: its group gets the message once, for
		 * one member; apart from the session's own subscriptions. */
		struct share_group *g = sub->group;
		if (g->epoch == b->epoch)
			return;
		g->epoch = b->epoch;
		ARRAY_GROW(b->gmatches, b->gmatches_cap, b->ngmatches + 1, 16, ARRAY_MAX);
		b->gmatches[b->ngmatches++] = g;
		return;
	}
	/* MQTT 5 No Local [MQTT-3.8.3-3]: not back to the publisher. */
	if ((sub->options & MQTT_SUBOPT_NO_LOCAL) && s == b->route_from)
		return;
	if (b->route_msg && !readable(b, s))
		return; /* a wildcard subscription reaching a topic it may not read */
	if (s->match_epoch == b->epoch) {
		if (sub->qos > s->match_qos)
			s->match_qos = sub->qos;
		s->match_rap |= rap;
		return;
	}
	s->match_epoch = b->epoch;
	s->match_qos = sub->qos;
	s->match_rap = rap;
	ARRAY_GROW(b->matches, b->matches_cap, b->nmatches + 1, 64, ARRAY_MAX);
	b->matches[b->nmatches++] = s;
}

/* Retained messages clients stored: what max_retained_messages limits and
 * $SYS/broker/retained messages/count reports. The broker's own $SYS
 * topics are kept beside them, uncounted. */
static void store_retained(struct broker *b, struct msg *m)
{
	bool counted = broker_client_may_publish((const uint8_t *)m->topic, m->topic_len);
	struct tnode *n;

	if (m->payload_len == 0) {
		/* [MQTT-3.3.1-10] a zero-length retained message clears the topic */
		n = tree_lookup(b->retained, (const uint8_t *)m->topic, m->topic_len, false);
		if (n && n->retained) {
			if (counted)
				journal_retain_del(b, m->topic, m->topic_len);
			msg_unref(n->retained);
			n->retained = NULL;
			b->stats.retained -= counted;
			tree_prune(n);
		}
		return;
	}
	n = tree_lookup(b->retained, (const uint8_t *)m->topic, m->topic_len, true);
	if (!n->retained && counted) {
		if (b->stats.retained >= b->cfg.max_retained) {
			b->stats.msgs_dropped++;
			log_warn("not retaining message on '%s': max_retained_messages (%u) reached",
				 m->topic, b->cfg.max_retained);
			tree_prune(n);
			return;
		}
		b->stats.retained++;
	}
	msg_unref(n->retained);
	n->retained = msg_ref(m);
	if (counted)
		journal_retain(b, m);
}

void broker__retain(struct broker *b, struct msg *m)
{
	store_retained(b, m);
}

uint32_t broker_route(struct broker *b, struct msg *m, struct session *from)
{
	if (m->retain)
		store_retained(b, m);
	b->epoch++;
	b->nmatches = 0;
	b->ngmatches = 0;
	b->route_from = from;
	b->route_msg = broker_read_checked(b, m) ? m : NULL;
	tree_match(b->subs, (const uint8_t *)m->topic, m->topic_len, collect, b);
	b->route_from = NULL;
	b->route_msg = NULL;
	for (uint32_t i = 0; i < b->nmatches; i++) {
		struct session *s = b->matches[i];
		uint8_t qos = m->qos < s->match_qos ? m->qos : s->match_qos;
		/* [MQTT-3.3.1-9] live deliveries carry retain 0, unless an MQTT 5
		 * subscription asked for Retain As Published [MQTT-3.3.1-13]. */
		session_deliver(b, s, m, qos, m->retain && s->match_rap);
	}
	for (uint32_t i = 0; i < b->ngmatches; i++)
		share_deliver(b, b->gmatches[i], m);
	if (b->ntaps && broker__tap_may_match(b, m))
		broker__tap_route(b, m, from);
	return b->nmatches + b->ngmatches;
}

void broker_publish_msg(struct broker *b, struct msg *m)
{
	broker_route(b, m, NULL);
}

void broker_publish(struct broker *b, const char *topic, const void *payload, size_t len,
		    uint8_t qos, bool retain)
{
	broker_publish_at(b, topic, payload, len, qos, retain, 0);
}

void broker_publish_at(struct broker *b, const char *topic, const void *payload, size_t len,
		       uint8_t qos, bool retain, uint8_t depth)
{
	broker_publish_props(b, topic, payload, len, qos, retain, depth, NULL, 0);
}

/* Properties a rule may set on what it republishes: well-formed for a
 * PUBLISH, and only those that travel with a message (props.c). */
static bool props_publishable(struct broker *b, const uint8_t *props, uint32_t len)
{
	const uint64_t allowed =
	    MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
	    MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) | MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) |
	    MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
	struct mqtt_props p;
	uint8_t *block;
	int head;
	long rc;

	if (len > 268435455u) /* what a varint holds */
		return false;
	block = broker_props_scratch(b, len + 4);
	head = mqtt_varint_encode(len, block);
	memcpy(block + head, props, len);
	rc = mqtt_props_decode(block, (size_t)head + len, MQTT_PUBLISH, &p);
	return rc == (long)head + (long)len && !(p.present & ~allowed) && !p.sub_id_count;
}

bool broker_publish_props(struct broker *b, const char *topic, const void *payload, size_t len,
			  uint8_t qos, bool retain, uint8_t depth, const uint8_t *props,
			  uint32_t props_len)
{
	struct msg_spec spec = {
		.topic = (const uint8_t *)topic,
		.topic_len = (uint16_t)strlen(topic),
		.payload = payload,
		.payload_len = (uint32_t)len,
		.qos = qos,
		.retain = retain,
		.props = props,
		.props_len = props_len,
	};
	struct msg *m;

	if (props_len && !props_publishable(b, props, props_len))
		return false;
	m = msg_new(&b->msg_pool, &spec);
	b->route_depth = depth;
	broker_route(b, m, NULL);
	b->route_depth = 0;
	msg_unref(m);
	return true;
}

/*
 * A QoS 0, non-retained message with a payload small enough to be copied
 * into each subscriber's output is never referenced after routing: QoS 0
 * deliveries copy it, nothing queues or retains it. It is built in reusable
 * broker memory instead of the heap, so the QoS 0 path allocates nothing.
 */
static struct msg *message_for(struct broker *b, const struct mqtt_publish *p,
			       const struct session *from)
{
	struct msg_spec spec = {
		.origin = from->serial,
		.topic = p->topic.data,
		.topic_len = p->topic.len,
		.payload = p->payload,
		.payload_len = p->payload_len,
		.qos = p->qos,
		.retain = p->retain,
	};
	size_t size;

	if (p->props.raw_len) {
		uint8_t *buf = broker_props_scratch(b, p->props.raw_len);
		spec.props = buf;
		spec.props_len = props_forwardable(&p->props, buf);
		spec.expires_ms = props_expiry_deadline(b, &p->props);
	}
	if (p->qos || p->retain || p->payload_len > BROKER_INLINE_PAYLOAD)
		return msg_new(&b->msg_pool, &spec);
	size = msg_size(&spec);
	if (size > b->transient_cap) {
		free(b->transient);
		b->transient = xmalloc(size);
		b->transient_cap = size;
	}
	return msg_build(b->transient, &spec);
}

static void message_done(struct broker *b, struct msg *m)
{
	if (m != b->transient)
		msg_unref(m);
	else
		assert(m->refs == 1); /* nobody may keep the transient message */
}

bool broker_client_may_publish(const uint8_t *topic, size_t len)
{
	/* Clients do not write the broker's own $SYS tree: such a PUBLISH is
	 * acknowledged and dropped (as Mosquitto does), such a will ignored. */
	return !(len >= 4 && memcmp(topic, "$SYS", 4) == 0 && (len == 4 || topic[4] == '/'));
}

/* MQTT 5 checks on a PUBLISH that has properties, and its topic alias
 * resolved; false when the connection was closed for it. */
static bool publish_props_acceptable(struct broker *b, struct broker_client *c,
				     struct mqtt_publish *p)
{
	uint8_t rc;

	rc = alias_in_resolve(b, c, p);
	if (rc) {
		broker_client_close_code(b, c, CLOSE_PROTOCOL, rc,
					 rc == 0x94 ? "topic alias out of range"
						    : "topic alias used before it was set");
		return false;
	}
	/* [MQTT-3.3.4-6] subscription identifiers go server to client only */
	if (p->props.sub_id_count) {
		broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x82,
					 "PUBLISH from a client with a subscription identifier");
		return false;
	}
	return true;
}

/* [MQTT-3.3.2-..]: Payload Format Indicator 1 promises UTF-8. */
static bool payload_format_ok(const struct mqtt_publish *p)
{
	return !MQTT_PROP_OR(&p->props, MQTT_PROP_PAYLOAD_FORMAT, payload_format, 0) ||
	       mqtt_utf8_data_valid(p->payload, p->payload_len);
}

/* The account hooks' access rule for a PUBLISH under their prefix (logged
 * when refused). */
static __attribute__((noinline, cold)) bool
publish_authorized(struct broker *b, const struct broker_client *c, const struct mqtt_publish *p)
{
	if (!b->hooks.may_publish ||
	    b->hooks.may_publish(b->hooks.ctx, c->account, p->topic.data, p->topic.len))
		return true;
	log_info("client %s (%s): PUBLISH on '%.*s' dropped: not authorized", c->session->id,
		 c->account ? c->account : "anonymous", (int)p->topic.len,
		 (const char *)p->topic.data);
	return false;
}

/* The account hooks' take_publish (broker.h): its reason code, or
 * BROKER_TAKE_ROUTE; why gets its Reason String. Out of line and cold:
 * only topics under the hooks' prefix get here. */
static __attribute__((noinline, cold)) int publish_taken(struct broker *b, struct broker_client *c,
							 const struct mqtt_publish *p, char *why)
{
	if (!b->hooks.take_publish)
		return BROKER_TAKE_ROUTE;
	return b->hooks.take_publish(b->hooks.ctx, c->account, p->topic.data, p->topic.len,
				     p->payload, p->payload_len, why, BROKER_WHY_MAX);
}

/* Routes an accepted PUBLISH, or refuses it; returns the reason code its
 * acknowledgement carries (MQTT 5; 0 = success), and in why (BROKER_WHY_MAX
 * bytes, empty on entry) the Reason String a hook gave with a refusal. */
static uint8_t publish_apply(struct broker *b, struct broker_client *c,
			     const struct mqtt_publish *p, char *why)
{
	struct session *s = c->session;
	/* After the alias is resolved: the topic the hooks must see. */
	bool hooked = broker_hooked(b, p->topic.data, p->topic.len);
	uint8_t reason = 0;
	struct msg *m;
	int taken;

	if (!payload_format_ok(p)) {
		if (p->qos == 0)
			log_info("client %s: PUBLISH on '%.*s' dropped: payload is not UTF-8", s->id,
				 (int)p->topic.len, (const char *)p->topic.data);
		return 0x99; /* payload format invalid: acknowledged, not routed */
	}
	/* The server makes it its own message (a REST API inbox write) or
	 * refuses it; a QoS 0 publisher gets no code (the hook logged). */
	if (hooked && (taken = publish_taken(b, c, p, why)) != BROKER_TAKE_ROUTE)
		return p->qos ? (uint8_t)taken : 0;
	if (hooked && !publish_authorized(b, c, p))
		return 0x87; /* not authorized: acknowledged (MQTT 5 says so), dropped */
	if (broker_client_may_publish(p->topic.data, p->topic.len)) {
		m = message_for(b, p, s);
		if (!broker_route(b, m, s) && c->level == MQTT_LEVEL_5)
			reason = 0x10; /* accepted, but no matching subscribers */
		message_done(b, m);
	}
	return reason;
}

void broker__handle_publish(struct broker *b, struct broker_client *c,
			    const struct mqtt_publish *in)
{
	struct mqtt_publish with_props; /* a copy only when properties came */
	const struct mqtt_publish *p = in;
	struct session *s = c->session;
	char why[BROKER_WHY_MAX]; /* only its first byte is set: not a memset per message */
	uint8_t reason;

	why[0] = '\0';
	b->stats.msgs_received++;
	b->stats.msgs_received_qos[p->qos]++;
	if (c->level == MQTT_LEVEL_5 && in->props.present) {
		with_props = *in; /* its topic may come from an alias */
		if (!publish_props_acceptable(b, c, &with_props))
			return;
		p = &with_props;
	}
	if (p->qos == 2 && session_qos2_seen(s, p->packet_id)) {
		/* A resend of a message we already routed: acknowledge only
		 * (exactly once, [MQTT-4.3.3-2]). */
		broker__send_ack(b, c, MQTT_PUBREC, p->packet_id);
		return;
	}
	if (broker_too_deep(p->topic.data, p->topic.len)) {
		broker_protocol_error(b, c, "topic has too many levels");
		return;
	}
	/* Receive Maximum [MQTT-3.3.4-7]: QoS 1 is acknowledged below, at once,
	 * so what can be outstanding is QoS 2 awaiting PUBREL. */
	if (p->qos == 2 && session_qos2_pending(s) >= b->cfg.receive_maximum) {
		broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x93,
					 "more QoS 2 messages awaiting PUBREL than receive_maximum");
		return;
	}
	reason = publish_apply(b, c, p, why);
	/* A PUBREC of 0x80 or more ends the flow: no PUBREL will come for it
	 * [MQTT-4.3.3-4]. Before MQTT 5 every PUBREC is a success. */
	if (p->qos == 2 && !(c->level == MQTT_LEVEL_5 && reason >= 0x80))
		session_qos2_add(b, s, p->packet_id);
	if (p->qos == 1)
		broker__send_ack_why(b, c, MQTT_PUBACK, p->packet_id, reason, why);
	else if (p->qos == 2)
		broker__send_ack_why(b, c, MQTT_PUBREC, p->packet_id, reason, why);
}

void broker__handle_pubrel(struct broker *b, struct broker_client *c, uint16_t packet_id)
{
	bool known = session_qos2_release(b, c->session, packet_id);

	/* [MQTT-4.3.3-2] answered even for an unknown id; MQTT 5 says so with
	 * 0x92 Packet Identifier not found. */
	broker__send_ack_reason(b, c, MQTT_PUBCOMP, packet_id, known ? 0x00 : 0x92);
}
