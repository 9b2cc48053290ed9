/* subscribe.c - SUBSCRIBE and UNSUBSCRIBE. */
#include "internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>

static struct sub *find_sub(const struct session *s, const struct tnode *node, uint32_t *index)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		if (s->subs[i]->node == node) {
			*index = i;
			return s->subs[i];
		}
	}
	return NULL;
}

static bool filter_acceptable(const struct mqtt_str *f)
{
	return mqtt_topic_filter_valid(f->data, f->len) &&
	       broker_topic_levels(f->data, f->len) <= BROKER_MAX_TOPIC_LEVELS;
}

/* Adds or updates one subscription; returns the SUBACK code. */
static uint8_t subscribe_one(struct broker *b, struct session *s, const struct mqtt_str *f,
			     uint8_t qos)
{
	struct tnode *node;
	struct sub *sub;
	uint32_t index;

	if (!filter_acceptable(f))
		return MQTT_SUBACK_FAILURE;
	node = tree_lookup(b->subs, f->data, f->len, true);
	sub = find_sub(s, node, &index);
	if (sub) {
		sub->qos = qos; /* [MQTT-3.8.4-3] replaces the existing one */
		return qos;
	}
	if (s->nsubs >= b->cfg.max_subscriptions) {
		tree_prune(node);
		log_warn("client %s: max_subscriptions (%u) reached", s->id,
			 b->cfg.max_subscriptions);
		return MQTT_SUBACK_FAILURE;
	}
	sub = xcalloc(1, sizeof(*sub));
	sub->session = s;
	sub->qos = qos;
	tree_add_sub(node, sub);
	if (s->nsubs == s->subs_cap) {
		s->subs_cap = s->subs_cap ? s->subs_cap * 2 : 4;
		s->subs = xrealloc(s->subs, s->subs_cap * sizeof(*s->subs));
	}
	s->subs[s->nsubs++] = sub;
	b->stats.subscriptions++;
	return qos;
}

struct retained_ctx {
	struct broker *b;
	struct session *s;
	uint8_t qos;
};

static void send_retained(void *ctx, struct msg *m)
{
	struct retained_ctx *rc = ctx;
	uint8_t qos = m->qos < rc->qos ? m->qos : rc->qos;

	session_deliver(rc->b, rc->s, m, qos, true); /* [MQTT-3.3.1-8] */
}

void handle_subscribe(struct broker *b, struct broker_client *c, const struct mqtt_subscribe *p)
{
	struct session *s = c->session;
	struct mqtt_topic_iter it = { &p->filters, 0 };
	struct mqtt_str f;
	uint8_t qos;
	uint16_t n = 0;

	if (b->scratch_cap < p->filters.count) {
		b->scratch_cap = p->filters.count;
		b->scratch = xrealloc(b->scratch, b->scratch_cap);
	}
	while (mqtt_topic_list_next(&it, &f, &qos))
		b->scratch[n++] = subscribe_one(b, s, &f, qos);
	send_suback(b, c, p->packet_id, b->scratch, n);

	/* Retained messages follow the SUBACK, filter by filter. */
	it.pos = 0;
	n = 0;
	while (mqtt_topic_list_next(&it, &f, &qos)) {
		struct retained_ctx rc = { b, s, qos };
		if (b->scratch[n++] != MQTT_SUBACK_FAILURE)
			tree_match_retained(b->retained, f.data, f.len, send_retained, &rc);
	}
}

void handle_unsubscribe(struct broker *b, struct broker_client *c,
			const struct mqtt_unsubscribe *p)
{
	struct session *s = c->session;
	struct mqtt_topic_iter it = { &p->filters, 0 };
	struct mqtt_str f;
	uint8_t qos;

	while (mqtt_topic_list_next(&it, &f, &qos)) {
		struct tnode *node = tree_lookup(b->subs, f.data, f.len, false);
		uint32_t index;

		if (node && find_sub(s, node, &index))
			session_remove_sub(b, s, index);
	}
	send_ack(b, c, MQTT_UNSUBACK, p->packet_id);
}
