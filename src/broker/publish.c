/*
 * publish.c - an incoming PUBLISH: check, acknowledge, store if retained,
 * route to every matching session once at the highest granted QoS.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Collects each matching session once, keeping its highest granted QoS
 * ([MQTT-3.3.5-1]: overlapping subscriptions deliver one copy). */
static void collect(void *ctx, struct sub *sub)
{
	struct broker *b = ctx;
	struct session *s = sub->session;

	if (s->match_epoch == b->epoch) {
		if (sub->qos > s->match_qos)
			s->match_qos = sub->qos;
		return;
	}
	s->match_epoch = b->epoch;
	s->match_qos = sub->qos;
	if (b->nmatches == b->matches_cap) {
		b->matches_cap = b->matches_cap ? b->matches_cap * 2 : 64;
		b->matches = xrealloc(b->matches, b->matches_cap * sizeof(*b->matches));
	}
	b->matches[b->nmatches++] = s;
}

static void store_retained(struct broker *b, struct msg *m)
{
	struct tnode *n;

	if (m->payload_len == 0) {
		/* [MQTT-3.3.1-10] a zero-length retained message clears the topic */
		n = tree_lookup(b->retained, (const uint8_t *)m->topic, m->topic_len, false);
		if (n && n->retained) {
			msg_unref(n->retained);
			n->retained = NULL;
			b->stats.retained--;
			tree_prune(n);
		}
		return;
	}
	n = tree_lookup(b->retained, (const uint8_t *)m->topic, m->topic_len, true);
	if (!n->retained) {
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
}

void broker_publish_msg(struct broker *b, struct msg *m)
{
	if (m->retain)
		store_retained(b, m);
	b->epoch++;
	b->nmatches = 0;
	tree_match(b->subs, (const uint8_t *)m->topic, m->topic_len, collect, b);
	for (uint32_t i = 0; i < b->nmatches; i++) {
		struct session *s = b->matches[i];
		uint8_t qos = m->qos < s->match_qos ? m->qos : s->match_qos;
		/* [MQTT-3.3.1-9] live deliveries carry retain 0 */
		session_deliver(b, s, m, qos, false);
	}
}

/*
 * A QoS 0, non-retained message with a payload small enough to be copied
 * into each subscriber's output is never referenced after routing: QoS 0
 * deliveries copy it, nothing queues or retains it. It is built in reusable
 * broker memory instead of the heap, so the QoS 0 path allocates nothing.
 */
static struct msg *message_for(struct broker *b, const struct mqtt_publish *p)
{
	size_t size;

	if (p->qos || p->retain || p->payload_len > BROKER_INLINE_PAYLOAD)
		return msg_new(p->topic.data, p->topic.len, p->payload, p->payload_len, p->qos,
			       p->retain);
	size = msg_size(p->topic.len, p->payload_len);
	if (size > b->transient_cap) {
		free(b->transient);
		b->transient = xmalloc(size);
		b->transient_cap = size;
	}
	return msg_build(b->transient, p->topic.data, p->topic.len, p->payload, p->payload_len,
			 0, false);
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

void handle_publish(struct broker *b, struct broker_client *c, const struct mqtt_publish *p)
{
	struct session *s = c->session;
	struct msg *m;

	b->stats.msgs_received++;
	if (p->qos == 2 && session_qos2_seen(s, p->packet_id)) {
		/* A resend of a message we already routed: acknowledge only
		 * (exactly once, [MQTT-4.3.3-2]). */
		send_ack(b, c, MQTT_PUBREC, p->packet_id);
		return;
	}
	if (broker_topic_levels(p->topic.data, p->topic.len) > BROKER_MAX_TOPIC_LEVELS) {
		broker_protocol_error(b, c, "topic has too many levels");
		return;
	}
	if (p->qos == 2 && !session_qos2_add(b, s, p->packet_id)) {
		broker_protocol_error(b, c, "too many QoS 2 messages awaiting PUBREL");
		return;
	}
	if (broker_client_may_publish(p->topic.data, p->topic.len)) {
		m = message_for(b, p);
		broker_publish_msg(b, m);
		message_done(b, m);
	}
	if (p->qos == 1)
		send_ack(b, c, MQTT_PUBACK, p->packet_id);
	else if (p->qos == 2)
		send_ack(b, c, MQTT_PUBREC, p->packet_id);
}

void handle_pubrel(struct broker *b, struct broker_client *c, uint16_t packet_id)
{
	session_qos2_release(c->session, packet_id);
	send_ack(b, c, MQTT_PUBCOMP, packet_id); /* [MQTT-4.3.3-2] even for an unknown id */
}
