/*
 * alias.c - MQTT 5 topic aliases, per network connection, both ways
 * [MQTT 5.0, 3.3.2.3.4].
 *
 * Inbound: the client may bind aliases 1..topic_alias_maximum (ours, sent in
 * CONNACK) to topics and then publish with an empty topic. Outbound: when
 * the client announced a Topic Alias Maximum, the broker binds its own
 * aliases to the topics it sends most recently, so a repeated topic costs
 * two bytes instead of its length. When all outbound aliases are taken the
 * oldest binding is reused (round robin), which needs no bookkeeping per
 * message. The table is created on first use and lives as long as the
 * connection: aliases never carry over to a new connection.
 */
#include "internal.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

struct alias_topic {
	uint16_t len;
	char topic[]; /* not NUL-terminated */
};

struct topic_aliases {
	struct alias_topic **in;   /* [alias - 1], client's bindings */
	uint16_t in_max;
	struct alias_topic **out;  /* [alias - 1], our bindings */
	struct hmap out_by_topic;  /* topic -> alias (stored as pointer-sized int) */
	uint16_t out_max, out_next;
};

static struct alias_topic *topic_copy(const uint8_t *t, uint16_t len)
{
	struct alias_topic *a = xmalloc(sizeof(*a) + len);

	a->len = len;
	memcpy(a->topic, t, len);
	return a;
}

static struct topic_aliases *table(struct broker_client *c)
{
	if (!c->aliases) {
		c->aliases = xcalloc(1, sizeof(*c->aliases));
		hmap_init(&c->aliases->out_by_topic);
	}
	return c->aliases;
}

void aliases_free(struct topic_aliases *a)
{
	if (!a)
		return;
	for (uint16_t i = 0; i < a->in_max; i++)
		free(a->in[i]);
	for (uint16_t i = 0; i < a->out_max; i++)
		free(a->out[i]);
	free(a->in);
	free(a->out);
	hmap_release(&a->out_by_topic);
	free(a);
}

uint8_t alias_in_resolve(struct broker *b, struct broker_client *c, struct mqtt_publish *p)
{
	uint16_t alias = p->props.topic_alias;
	struct topic_aliases *a;

	if (!(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
		return 0;
	if (alias > b->cfg.topic_alias_maximum) /* 0 was refused by the codec */
		return 0x94;                       /* [MQTT-3.3.2-9] */
	a = table(c);
	if (!a->in) {
		a->in_max = b->cfg.topic_alias_maximum;
		a->in = xcalloc(a->in_max, sizeof(*a->in));
	}
	if (alias > a->in_max)
		return 0x94; /* the maximum was lowered by a reload since */
	if (p->topic.len) {
		/* Binds (or rebinds) the alias [MQTT-3.3.2-12]. */
		free(a->in[alias - 1]);
		a->in[alias - 1] = topic_copy(p->topic.data, p->topic.len);
		return 0;
	}
	if (!a->in[alias - 1])
		return 0x82; /* an alias used before it was bound: protocol error */
	p->topic.data = (const uint8_t *)a->in[alias - 1]->topic;
	p->topic.len = a->in[alias - 1]->len;
	return 0;
}

uint16_t alias_out(struct broker_client *c, const char *topic, uint16_t len, bool *bound)
{
	struct topic_aliases *a;
	uintptr_t known;
	uint16_t alias;

	*bound = false;
	if (!c->alias_out_max)
		return 0;
	a = table(c);
	known = (uintptr_t)hmap_get(&a->out_by_topic, topic, len);
	if (known) {
		*bound = true; /* the client knows it: send an empty topic */
		return (uint16_t)known;
	}
	if (!a->out) {
		a->out_max = c->alias_out_max;
		a->out = xcalloc(a->out_max, sizeof(*a->out));
	}
	alias = (uint16_t)(a->out_next + 1);
	a->out_next = (uint16_t)((a->out_next + 1) % a->out_max);
	if (a->out[alias - 1]) { /* reuse the oldest binding */
		hmap_del(&a->out_by_topic, a->out[alias - 1]->topic, a->out[alias - 1]->len);
		free(a->out[alias - 1]);
	}
	a->out[alias - 1] = topic_copy((const uint8_t *)topic, len);
	hmap_put(&a->out_by_topic, a->out[alias - 1]->topic, len, (void *)(uintptr_t)alias);
	return alias; /* sent with the topic, which binds it */
}
