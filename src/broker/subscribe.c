/* subscribe.c - SUBSCRIBE and UNSUBSCRIBE. */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* The session's subscription to node: its own (group NULL) or as a member
 * of shared group g. */
static struct sub *find_sub(const struct session *s, const struct tnode *node,
			    const struct share_group *g, uint32_t *index)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		if (s->subs[i]->node == node && s->subs[i]->group == g) {
			*index = i;
			return s->subs[i];
		}
	}
	return NULL;
}


/* One filter of a SUBSCRIBE, with what the packet says about it. */
struct sub_request {
	struct mqtt_str filter;
	uint8_t options;  /* QoS in the low bits; MQTT 5 flags above */
	uint32_t sub_id;  /* MQTT 5 subscription identifier, 0 = none */
	bool existed;     /* out: replaced an existing subscription */
};

/* A SUBSCRIBE or UNSUBSCRIBE filter, taken apart. */
struct filter_parts {
	struct mqtt_str filter; /* what the trie holds */
	struct mqtt_str key;    /* "group/filter" when shared */
	bool shared;
};

/* False when the filter breaks the standard's rules [MQTT-4.7.1-1 ..
 * 4.7.3-1, 4.8.2-1, 4.8.2-2]: empty, a misplaced wildcard, a shared
 * subscription without a group or a filter. */
static bool classify(const struct mqtt_str *f, struct filter_parts *fp)
{
	fp->filter = *f;
	fp->shared = share_parse(f, &fp->key, &fp->filter);
	if (fp->shared)
		return share_valid(&fp->key, &fp->filter);
	return mqtt_topic_filter_valid(fp->filter.data, fp->filter.len);
}

/* MQTT 3.1.1 has no code to refuse one malformed filter and keep the
 * rest: the whole packet is a protocol violation and the connection closes
 * [MQTT-4.8.0-1] (MQTT 5 answers 0x8F for that filter instead). Closes c
 * and returns false when a filter of the list is malformed. */
static bool filters_well_formed(struct broker *b, struct broker_client *c,
				const struct mqtt_topic_list *filters)
{
	struct mqtt_topic_iter it = { filters, 0 };
	struct filter_parts fp;
	struct mqtt_str f;
	uint8_t opts;

	if (c->level == MQTT_LEVEL_5)
		return true;
	while (mqtt_topic_list_next_opts(&it, &f, &opts)) {
		if (!classify(&f, &fp)) {
			broker_protocol_error(b, c, "invalid topic filter");
			return false;
		}
	}
	return true;
}

/* The session's existing subscription for these parts, if any. */
static struct sub *existing_sub(struct broker *b, const struct session *s,
				const struct filter_parts *fp, uint32_t *index)
{
	struct tnode *node = tree_lookup(b->subs, fp->filter.data, fp->filter.len, false);
	struct share_group *g = NULL;

	if (!node)
		return NULL;
	if (fp->shared && !(g = hmap_get(&b->groups, fp->key.data, fp->key.len)))
		return NULL;
	return find_sub(s, node, g, index);
}

static struct sub *add_sub(struct broker *b, struct session *s, const struct filter_parts *fp)
{
	struct sub *sub = xcalloc(1, sizeof(*sub));

	sub->session = s;
	tree_add_sub(tree_lookup(b->subs, fp->filter.data, fp->filter.len, true), sub);
	if (fp->shared)
		share_add_member(share_group_get(b, &fp->key), sub);
	ARRAY_GROW(s->subs, s->subs_cap, s->nsubs + 1, 4, ARRAY_MAX);
	s->subs[s->nsubs++] = sub;
	b->stats.subscriptions++;
	return sub;
}

/* What a subscription keeps of its options (Retain Handling is used once,
 * when subscribing). */
static void sub_set(struct session *s, struct sub *sub, uint8_t qos, uint8_t options,
		    uint32_t sub_id)
{
	sub->qos = qos;
	sub->options = options & (MQTT_SUBOPT_NO_LOCAL | MQTT_SUBOPT_RETAIN_AS_PUBLISHED);
	sub->sub_id = sub_id;
	s->has_sub_ids |= sub_id != 0;
}

/* Adds or updates one subscription; returns the SUBACK code (MQTT 5 reason
 * codes for MQTT 5 clients, 0x80 for every failure before). */
static uint8_t subscribe_one(struct broker *b, struct broker_client *c, struct sub_request *rq)
{
	struct session *s = c->session;
	bool v5 = c->level == MQTT_LEVEL_5;
	struct filter_parts fp;
	struct sub *sub;
	uint32_t index;

	rq->existed = false;
	/* A well-formed filter deeper than the trie allows is refused by
	 * policy, not as a protocol error. */
	if (!classify(&rq->filter, &fp) ||
	    broker_too_deep(fp.filter.data, fp.filter.len))
		return v5 ? 0x8F : MQTT_SUBACK_FAILURE;
	if (b->hooks.may_subscribe && broker_hooked(b, fp.filter.data, fp.filter.len) &&
	    !b->hooks.may_subscribe(b->hooks.ctx, c->account, fp.filter.data, fp.filter.len)) {
		log_info("client %s (%s): subscription to '%.*s' refused: not authorized", s->id,
			 c->account ? c->account : "anonymous", (int)rq->filter.len,
			 (const char *)rq->filter.data);
		return v5 ? 0x87 : MQTT_SUBACK_FAILURE;
	}
	sub = existing_sub(b, s, &fp, &index);
	if (!sub && s->nsubs >= b->cfg.max_subscriptions) {
		log_warn("client %s: max_subscriptions (%u) reached", s->id,
			 b->cfg.max_subscriptions);
		return v5 ? 0x97 : MQTT_SUBACK_FAILURE;
	}
	rq->existed = sub != NULL;
	if (!sub)
		sub = add_sub(b, s, &fp); /* [MQTT-3.8.4-3]: else replaced */
	sub_set(s, sub, MQTT_SUBOPT_QOS(rq->options), rq->options, rq->sub_id);
	journal_sub(b, s, &rq->filter, sub);
	return sub->qos;
}

bool broker__restore_sub(struct broker *b, struct session *s, const struct mqtt_str *filter,
			 uint8_t qos, uint8_t options, uint32_t sub_id)
{
	struct filter_parts fp;
	struct sub *sub;
	uint32_t index;

	if (!classify(filter, &fp) || broker_too_deep(fp.filter.data, fp.filter.len) || qos > 2)
		return false;
	sub = existing_sub(b, s, &fp, &index);
	if (!sub)
		sub = add_sub(b, s, &fp);
	sub_set(s, sub, qos, options, sub_id);
	return true;
}

bool broker__restore_unsub(struct broker *b, struct session *s, const struct mqtt_str *filter)
{
	struct filter_parts fp;
	uint32_t index;

	if (!classify(filter, &fp))
		return false;
	if (existing_sub(b, s, &fp, &index))
		session_remove_sub(b, s, index);
	return true;
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
	struct broker *b = rc->b;

	if (broker_read_checked(b, m) &&
	    !b->hooks.may_read(b->hooks.ctx, rc->s->account, (const uint8_t *)m->topic, m->topic_len))
		return; /* a wildcard reaching a topic this account may not read */
	session_deliver(b, rc->s, m, qos, true); /* [MQTT-3.3.1-8] */
}

/* MQTT 5 Retain Handling [MQTT-3.3.1-9..11]: 0 always, 1 only for a new
 * subscription, 2 never. */
static bool wants_retained(uint8_t options, bool existed)
{
	uint8_t rh = MQTT_SUBOPT_RETAIN_HANDLING(options);
	return rh == 0 || (rh == 1 && !existed);
}

/* [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error. */
static bool no_local_on_shared(const struct mqtt_subscribe *p)
{
	struct mqtt_topic_iter it = { &p->filters, 0 };
	struct mqtt_str f, key, filter;
	uint8_t opts;

	while (mqtt_topic_list_next_opts(&it, &f, &opts))
		if ((opts & MQTT_SUBOPT_NO_LOCAL) && share_parse(&f, &key, &filter))
			return true;
	return false;
}

void broker__handle_subscribe(struct broker *b, struct broker_client *c,
			      const struct mqtt_subscribe *p)
{
	struct session *s = c->session;
	struct mqtt_topic_iter it = { &p->filters, 0 };
	struct sub_request rq = {
		.sub_id = MQTT_PROP_OR(&p->props, MQTT_PROP_SUBSCRIPTION_ID, subscription_id, 0),
	};
	struct mqtt_str key, filter;
	uint16_t n = 0;

	if (!filters_well_formed(b, c, &p->filters))
		return;
	if (c->level == MQTT_LEVEL_5 && no_local_on_shared(p)) {
		broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x82,
					 "No Local on a shared subscription");
		return;
	}
	/* Two bytes per filter: its code, then whether it existed before. */
	ARRAY_GROW(b->scratch, b->scratch_cap, 2u * p->filters.count, 64, ARRAY_MAX);
	while (mqtt_topic_list_next_opts(&it, &rq.filter, &rq.options)) {
		b->scratch[n] = subscribe_one(b, c, &rq);
		b->scratch[p->filters.count + n++] = rq.existed;
	}
	broker__send_suback(b, c, p->packet_id, b->scratch, n);

	/* Retained messages follow the SUBACK, filter by filter; never for a
	 * shared subscription [MQTT-3.8.4-...]. */
	it.pos = 0;
	n = 0;
	while (mqtt_topic_list_next_opts(&it, &rq.filter, &rq.options)) {
		struct retained_ctx rc = { b, s, MQTT_SUBOPT_QOS(rq.options) };
		bool granted = b->scratch[n] <= 2;
		bool existed = b->scratch[p->filters.count + n++];

		if (granted && b->event_fn)
			broker__client_event(b, c, BROKER_EVENT_SUBSCRIBED, rq.filter.data,
					     rq.filter.len, b->scratch[n - 1]);
		if (granted && wants_retained(rq.options, existed) &&
		    !share_parse(&rq.filter, &key, &filter))
			tree_match_retained(b->retained, rq.filter.data, rq.filter.len,
					    send_retained, &rc);
	}
}

void broker__handle_unsubscribe(struct broker *b, struct broker_client *c,
				const struct mqtt_unsubscribe *p)
{
	struct session *s = c->session;
	struct mqtt_topic_iter it = { &p->filters, 0 };
	struct mqtt_str f;
	uint8_t qos;
	uint16_t n = 0;

	if (!filters_well_formed(b, c, &p->filters))
		return;
	ARRAY_GROW(b->scratch, b->scratch_cap, p->filters.count, 64, ARRAY_MAX);
	while (mqtt_topic_list_next(&it, &f, &qos)) {
		struct filter_parts fp;
		uint32_t index;

		if (!classify(&f, &fp)) {
			b->scratch[n++] = 0x8F; /* MQTT 5: Topic Filter invalid */
		} else if (existing_sub(b, s, &fp, &index)) {
			session_remove_sub(b, s, index);
			journal_unsub(b, s, &f);
			b->scratch[n++] = 0x00;
		} else {
			b->scratch[n++] = 0x11; /* MQTT 5: no subscription existed */
		}
	}
	broker__send_unsuback(b, c, p->packet_id, b->scratch, n);
}
