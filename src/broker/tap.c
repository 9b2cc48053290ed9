/*
 * tap.c - taps (broker.h): filters whose messages also go to one function,
 * for the rules engine. They live in a tree of their own, so a broker with
 * no tap pays one test per routed message, and routing to sessions is
 * untouched; a tap is a struct sub with no session, found again from it.
 * The client events (connected, disconnected, subscribed) go to their one
 * function from here too.
 */
#include "internal.h"

#include "base/alloc.h"
#include "mqtt/mqtt.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct broker_tap {
	struct sub sub;         /* in b->taps; sub.session is NULL */
	void *cookie;
	struct broker_tap *prev, *next; /* every tap, for broker_free */
};

static struct broker_tap *tap_of(struct sub *s)
{
	return (struct broker_tap *)((char *)s - offsetof(struct broker_tap, sub));
}

/* The root's children again, after a tap came or went (rare: a rule
 * saved). */
static void first_levels(struct broker *b)
{
	const struct tnode *root = b->taps;
	void *v;

	b->tap_nfirst = 0;
	b->tap_wild_first = root && (root->plus || root->hash);
	if (!root)
		return;
	for (uint32_t i = 0; hmap_next(&root->children, &i, &v);) {
		if (b->tap_nfirst == TAP_FIRST_MAX) {
			b->tap_nfirst = TAP_FIRST_MAX + 1;
			return;
		}
		b->tap_first[b->tap_nfirst++] = v;
	}
}

void broker_set_tap_fn(struct broker *b, broker_tap_fn fn, void *ctx)
{
	b->tap_fn = fn;
	b->tap_ctx = ctx;
}

struct broker_tap *broker_tap_add(struct broker *b, const uint8_t *filter, uint16_t len,
				  void *cookie)
{
	struct broker_tap *t;

	if (!mqtt_topic_filter_valid(filter, len) ||
	    (len >= 7 && memcmp(filter, "$share/", 7) == 0))
		return NULL;
	if (!b->taps)
		b->taps = tree_new_root();
	t = xcalloc(1, sizeof(*t));
	t->cookie = cookie;
	tree_add_sub(tree_lookup(b->taps, filter, len, true), &t->sub);
	t->next = b->tap_list;
	if (t->next)
		t->next->prev = t;
	b->tap_list = t;
	b->ntaps++;
	first_levels(b);
	return t;
}

void broker_tap_remove(struct broker *b, struct broker_tap *t)
{
	struct tnode *n;

	if (!t)
		return;
	n = t->sub.node;
	tree_remove_sub(&t->sub);
	tree_prune(n);
	if (t->prev)
		t->prev->next = t->next;
	else
		b->tap_list = t->next;
	if (t->next)
		t->next->prev = t->prev;
	b->ntaps--;
	free(t);
	first_levels(b);
}

void broker__taps_free(struct broker *b)
{
	while (b->tap_list)
		broker_tap_remove(b, b->tap_list);
	tree_free(b->taps);
	b->taps = NULL;
	first_levels(b);
}

struct tap_call {
	struct broker *b;
	const struct broker_tap_msg *m;
};

static void call_tap(void *ctx, struct sub *s)
{
	struct tap_call *tc = ctx;

	tc->b->tap_fn(tc->b->tap_ctx, tap_of(s)->cookie, tc->m);
}

void broker__tap_route(struct broker *b, const struct msg *m, const struct session *from)
{
	struct broker_tap_msg tm = {
		.topic = (const uint8_t *)m->topic,
		.topic_len = m->topic_len,
		.payload = m->payload,
		.payload_len = m->payload_len,
		.client_id = from ? from->id : NULL,
		.account = from ? from->account : NULL,
		.qos = m->qos,
		.retain = m->retain,
		.depth = from ? 0 : b->route_depth,
		.serial = ++b->route_serial,
	};
	struct tap_call tc = { b, &tm };

	if (!b->tap_fn)
		return;
	tree_match(b->taps, (const uint8_t *)m->topic, m->topic_len, call_tap, &tc);
}

/* ---- client events ---- */

void broker_set_event_fn(struct broker *b, broker_event_fn fn, void *ctx)
{
	b->event_fn = fn;
	b->event_ctx = ctx;
}

void broker__client_event(struct broker *b, const struct broker_client *c,
			  enum broker_event_kind kind, const uint8_t *filter, uint16_t len,
			  uint8_t qos)
{
	struct broker_event ev = {
		.kind = kind,
		.client_id = c->session ? c->session->id : "",
		.account = c->account,
		.peer = c->peer,
		.reason = kind == BROKER_EVENT_DISCONNECTED ? broker_close_reason_str(c->close_reason)
							    : NULL,
		.filter = filter,
		.filter_len = len,
		.qos = qos,
	};

	if (b->event_fn)
		b->event_fn(b->event_ctx, &ev);
}
