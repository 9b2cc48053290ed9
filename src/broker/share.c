/*
 * share.c - shared subscriptions, `$share/{group}/{filter}` [MQTT 5.0,
 * 4.8.2], for MQTT 5 and 3.1.1 members alike (as Mosquitto and EMQX do).
 *
 * A member is an ordinary struct sub in the filter's trie node with `group`
 * set. Routing collects each matching group once per message and gives the
 * message to one member, round robin, preferring members that are online.
 * QoS 1/2 deliveries remember their group, so that a member that goes away
 * before acknowledging hands them to another member (share_redistribute).
 * Groups are reference-counted: members and such deliveries hold them.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

bool share_parse(const struct mqtt_str *f, struct mqtt_str *key, struct mqtt_str *filter)
{
	const uint8_t *p, *slash;
	size_t left;

	if (f->len < 7 || memcmp(f->data, "$share/", 7) != 0)
		return false;
	p = f->data + 7;
	left = f->len - 7u;
	slash = memchr(p, '/', left);
	key->data = p; /* "group/filter": unique per group, as the map key */
	key->len = (uint16_t)left;
	filter->data = slash ? slash + 1 : p + left;
	filter->len = slash ? (uint16_t)(left - (size_t)(slash - p) - 1) : 0;
	return true;
}

bool share_valid(const struct mqtt_str *key, const struct mqtt_str *filter)
{
	size_t glen = (size_t)(filter->data - key->data) - 1;

	/* [MQTT-4.8.2-1, -2]: a non-empty group name without wildcards, then a
	 * valid filter */
	if (filter->data == key->data + key->len || glen == 0 || memchr(key->data, '+', glen) ||
	    memchr(key->data, '#', glen))
		return false;
	return mqtt_topic_filter_valid(filter->data, filter->len);
}

struct share_group *share_group_get(struct broker *b, const struct mqtt_str *key)
{
	struct share_group *g = hmap_get(&b->groups, key->data, key->len);

	if (g)
		return g;
	g = xcalloc(1, sizeof(*g) + key->len + 1u);
	memcpy(g->key, key->data, key->len);
	g->key_len = key->len;
	hmap_put(&b->groups, g->key, g->key_len, g);
	return g;
}

void share_group_ref(struct share_group *g)
{
	g->refs++;
}

void share_group_unref(struct broker *b, struct share_group *g)
{
	if (!g || --g->refs)
		return;
	hmap_del(&b->groups, g->key, g->key_len);
	free(g->members);
	free(g);
}

void share_add_member(struct share_group *g, struct sub *sub)
{
	ARRAY_GROW(g->members, g->members_cap, g->nmembers + 1, 4, ARRAY_MAX);
	g->members[g->nmembers++] = sub;
	sub->group = g;
	share_group_ref(g);
}

void share_remove_member(struct broker *b, struct sub *sub)
{
	struct share_group *g = sub->group;

	for (uint32_t i = 0; i < g->nmembers; i++) {
		if (g->members[i] == sub) {
			g->members[i] = g->members[--g->nmembers];
			break;
		}
	}
	sub->group = NULL;
	share_group_unref(b, g);
}

/* Whether member may get m: the account hooks' read rule, for topics under
 * their prefix (a member's `$share/g/#` must not reach an inbox that its
 * account may not read). */
static bool may_get(struct broker *b, const struct sub *member, const struct msg *m,
		    bool checked)
{
	return !checked || b->hooks.may_read(b->hooks.ctx, member->session->account,
					     (const uint8_t *)m->topic, m->topic_len);
}

/* The next member allowed to get m, round robin; one that is online if any
 * is. */
static struct sub *pick(struct broker *b, struct share_group *g, const struct msg *m,
			const struct session *not_this)
{
	bool checked = broker_read_checked(b, m);
	struct sub *fallback = NULL;

	for (uint32_t k = 0; k < g->nmembers; k++) {
		uint32_t i = (g->next + k) % g->nmembers;
		struct sub *member = g->members[i];

		if (member->session == not_this || !may_get(b, member, m, checked))
			continue;
		if (broker_client_online(member->session->client)) {
			g->next = (i + 1) % g->nmembers;
			return member;
		}
		if (!fallback)
			fallback = member;
	}
	if (fallback)
		g->next = (g->next + 1) % g->nmembers;
	return fallback; /* all offline: queued in one member's session */
}

void share_deliver(struct broker *b, struct share_group *g, struct msg *m)
{
	struct sub *member = pick(b, g, m, NULL);
	uint8_t qos;

	if (!member)
		return;
	qos = m->qos < member->qos ? m->qos : member->qos;
	session_deliver_shared(b, member->session, m, qos,
			       m->retain && (member->options & MQTT_SUBOPT_RETAIN_AS_PUBLISHED), g);
}

bool share_hand_over(struct broker *b, struct share_group *g, struct session *from,
		     struct msg *m, uint8_t qos)
{
	struct sub *member = pick(b, g, m, from);

	if (!member || !broker_client_online(member->session->client))
		return false;
	if (qos > member->qos)
		qos = member->qos;
	session_deliver_shared(b, member->session, m, qos, false, g);
	return true;
}
