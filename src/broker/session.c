/*
 * session.c - per-client-id state: subscriptions, the outgoing QoS 1/2
 * window, the queue behind it, and incoming QoS 2 ids.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

struct session *session_new(struct broker *b, const uint8_t *id, uint16_t len, uint32_t expiry_s)
{
	struct session *s = xcalloc(1, sizeof(*s) + (size_t)len + 1);

	memcpy(s->id, id, len);
	s->id[len] = '\0';
	s->id_len = len;
	s->expiry_s = expiry_s;
	s->next_packet_id = 1;
	if (!++b->session_serial)
		b->session_serial = 1; /* 0 means "no session" in msg.origin */
	s->serial = b->session_serial;
	hmap_put(&b->sessions, s->id, len, s);
	b->stats.sessions++;
	return s;
}

struct session *session_find(struct broker *b, const uint8_t *id, uint16_t len)
{
	return hmap_get(&b->sessions, id, len);
}

void session_remove_sub(struct broker *b, struct session *s, uint32_t index)
{
	struct sub *sub = s->subs[index];
	struct tnode *node = sub->node;

	tree_remove_sub(sub);
	tree_prune(node);
	if (sub->group)
		share_remove_member(b, sub);
	s->subs[index] = s->subs[--s->nsubs];
	free(sub);
	b->stats.subscriptions--;
}

/* The flow state, created on first use. */
static struct session_flow *flow_get(struct session *s)
{
	if (!s->flow)
		s->flow = xcalloc(1, sizeof(*s->flow));
	return s->flow;
}

/* Slot i of the window and entry i of the queue, from their heads; the
 * heads themselves (no wrap to compute). */
static inline struct inflight *ifl_at(const struct session_flow *f, uint32_t i)
{
	return ring_at(&f->ifl, i, sizeof(struct inflight));
}

static inline struct inflight *ifl_head(const struct session_flow *f)
{
	return ring_head(&f->ifl, sizeof(struct inflight));
}

static inline struct queued *q_at(const struct session_flow *f, uint32_t i)
{
	return ring_at(&f->q, i, sizeof(struct queued));
}

static inline struct queued *q_head(const struct session_flow *f)
{
	return ring_head(&f->q, sizeof(struct queued));
}

static uint32_t queued_count(const struct session *s)
{
	return s->flow ? s->flow->q.len : 0;
}

static void flow_free(struct broker *b, struct session_flow *f)
{
	for (uint32_t i = 0; i < f->ifl.len; i++) {
		struct inflight *e = ifl_at(f, i);
		msg_unref(e->msg);
		share_group_unref(b, e->group);
	}
	ring_release(&f->ifl);
	for (uint32_t i = 0; i < f->q.len; i++) {
		struct queued *e = q_at(f, i);
		msg_unref(e->msg);
		share_group_unref(b, e->group);
	}
	ring_release(&f->q);
	idset_release(&f->qos2_in);
	msg_unref(f->pending_will);
	free(f);
}

void session_park_will(struct broker *b, struct session *s, struct msg *w, uint64_t due_ms,
		       uint32_t expiry_s)
{
	struct session_flow *f = flow_get(s);

	msg_unref(f->pending_will);
	f->pending_will = msg_ref(w);
	f->will_due_ms = due_ms;
	f->will_expiry_s = expiry_s;
	journal_will(b, s);
}

bool session_will_due(const struct broker *b, const struct session *s)
{
	return s->flow && s->flow->pending_will && b->now_ms >= s->flow->will_due_ms;
}

void session_release_will(struct broker *b, struct session *s)
{
	struct msg *w = s->flow ? s->flow->pending_will : NULL;

	if (!w)
		return;
	journal_will_del(b, s);
	s->flow->pending_will = NULL;
	if (s->flow->will_expiry_s != WILL_NO_EXPIRY)
		w->expires_ms = msg_deadline(b, s->flow->will_expiry_s);
	if (!b->freeing)
		broker_publish_msg(b, w);
	msg_unref(w);
}

void session_cancel_will(struct broker *b, struct session *s)
{
	if (!s->flow || !s->flow->pending_will)
		return;
	journal_will_del(b, s);
	msg_unref(s->flow->pending_will);
	s->flow->pending_will = NULL;
}

void session_destroy(struct broker *b, struct session *s)
{
	/* One record says it all: nothing it holds is recorded one by one. */
	journal_session_end(b, s);
	/* The session ends: a delayed will goes out now [MQTT-3.1.3-9]. */
	session_release_will(b, s);
	while (s->nsubs)
		session_remove_sub(b, s, s->nsubs - 1);
	free(s->subs);
	if (s->flow)
		flow_free(b, s->flow);
	hmap_del(&b->sessions, s->id, s->id_len);
	b->stats.sessions--;
	if (s->client)
		s->client->session = NULL;
	free(s->account);
	free(s);
}

/* ---- the outgoing window ---- */

/* The window: the configured maximum, or less if the MQTT 5 client asked
 * for less with its Receive Maximum [MQTT-3.3.4-9]. */
static uint32_t window_limit(const struct broker *b, const struct session *s)
{
	uint32_t limit = b->cfg.max_inflight;

	if (s->client && s->client->receive_max && s->client->receive_max < limit)
		limit = s->client->receive_max;
	return limit;
}

static bool window_has_room(const struct broker *b, const struct session *s)
{
	return !s->flow || s->flow->ifl.len < window_limit(b, s);
}

static uint16_t take_packet_id(struct session *s)
{
	uint16_t id = s->next_packet_id;

	/* The window holds at most max_inflight (< 65535) consecutive ids, so
	 * the id coming round again is never still in use. */
	s->next_packet_id = id == UINT16_MAX ? 1 : (uint16_t)(id + 1);
	return id;
}

/* A window slot at the tail, waiting for PUBACK/PUBREC (m NULL: PUBREC
 * came, waiting for PUBCOMP). The caller checked there is room below
 * limit: a full ring grows towards it, never past it. */
static struct inflight *window_append(struct session *s, uint32_t limit, uint64_t seq,
				      struct msg *m, uint8_t qos, bool retain,
				      struct share_group *g, uint16_t packet_id)
{
	struct ring *r = &flow_get(s)->ifl;
	struct inflight *f;

	if (ring_full(r))
		ring_grow(r, sizeof(struct inflight), 4, limit);
	f = ring_push(r, sizeof(struct inflight));
	*f = (struct inflight){ .seq = seq, .msg = m ? msg_ref(m) : NULL, .group = g,
				.packet_id = packet_id, .qos = qos,
				.state = m ? IFL_WAIT_ACK : IFL_WAIT_COMP, .retain = retain };
	if (g)
		share_group_ref(g);
	return f;
}

/* Advance the head past acknowledged slots. */
static void window_compact(struct session *s)
{
	struct session_flow *f = s->flow;

	while (f->ifl.len && ifl_head(f)->state == IFL_FREE)
		ring_pop(&f->ifl);
}

/* Acks nearly always come in order: look at the head first. Once per
 * acknowledgement, so a walk by pointer. */
static struct inflight *window_find(struct session *s, uint16_t packet_id)
{
	struct session_flow *fl = s->flow;
	struct inflight *f;

	if (!fl || !fl->ifl.len)
		return NULL;
	f = ifl_head(fl);
	for (uint32_t n = fl->ifl.len; n; n--, f = ring_next(&fl->ifl, f, sizeof(*f))) {
		if (f->state != IFL_FREE && f->packet_id == packet_id)
			return f;
	}
	return NULL;
}

/* g: the shared subscription it came through (the entry takes a reference).
 * seq: the delivery's number; queued: it was in the queue (recorded then),
 * else it is new. */
static void window_send(struct broker *b, struct session *s, struct msg *m, uint8_t qos,
			bool retain, struct share_group *g, uint64_t seq, bool queued)
{
	struct inflight *f = window_append(s, window_limit(b, s), seq, m, qos, retain, g,
					   take_packet_id(s));

	if (queued)
		journal_sent(b, s, seq, f->packet_id);
	else
		journal_deliver(b, s, seq, m, qos, retain, f->packet_id, g ? g->key : NULL,
				g ? g->key_len : 0);
	broker__send_publish(b, s->client, m, qos, f->packet_id, retain, false, g);
}

/* ---- the queue behind the window ---- */

/* A queue entry at the tail, below limit (a full ring grows towards it). */
static void queue_append(struct session *s, uint32_t limit, uint64_t seq, struct msg *m,
			 uint8_t qos, bool retain, struct share_group *g)
{
	struct ring *q = &flow_get(s)->q;
	struct queued *e;

	if (ring_full(q))
		ring_grow(q, sizeof(struct queued), 8, limit);
	e = ring_push(q, sizeof(struct queued));
	*e = (struct queued){ .seq = seq, .msg = msg_ref(m), .group = g, .qos = qos,
			      .retain = retain };
	if (g)
		share_group_ref(g);
}

static void queue_push(struct broker *b, struct session *s, struct msg *m, uint8_t qos,
		       bool retain, struct share_group *g)
{
	/* The caller checked there are fewer than max_queued. */
	uint64_t seq = s->next_seq++;

	queue_append(s, b->cfg.max_queued, seq, m, qos, retain, g);
	journal_deliver(b, s, seq, m, qos, retain, 0, g ? g->key : NULL, g ? g->key_len : 0);
}

static void drop(struct broker *b, struct session *s, const struct msg *m, const char *why)
{
	flow_get(s);
	b->stats.msgs_dropped++;
	/* Log the first drop of a burst, then every 1000th, not every one. */
	if (s->flow->dropped++ % 1000 == 0)
		log_warn("dropped message on '%s' for client %s: %s (%llu dropped so far)",
			 m->topic, s->id, why, (unsigned long long)s->flow->dropped);
}

/* False (and counted) when the client must not get m now: expired, or
 * larger than the MQTT 5 client's Maximum Packet Size [MQTT-3.1.2-25], in
 * which case the message is dropped as if delivered. */
static bool deliverable(struct broker *b, struct session *s, const struct msg *m, uint8_t qos,
			const struct share_group *via)
{
	struct broker_client *c = s->client;

	if (msg_expired(b, m))
		return false; /* [MQTT-3.3.2-5] */
	if (c && c->max_packet_out &&
	    broker__publish_packet_size(b, c, m, qos, via) > c->max_packet_out) {
		drop(b, s, m, "larger than the client's maximum packet size");
		return false;
	}
	return true;
}

/* Move queued messages into the window while it has room. */
static void queue_pump(struct broker *b, struct session *s)
{
	while (queued_count(s) && broker_client_online(s->client) && window_has_room(b, s)) {
		struct queued e = *q_head(s->flow);

		ring_pop(&s->flow->q);
		if (deliverable(b, s, e.msg, e.qos, e.group))
			window_send(b, s, e.msg, e.qos, e.retain, e.group, e.seq, true);
		else
			journal_done(b, s, e.seq);
		msg_unref(e.msg);
		share_group_unref(b, e.group);
	}
}

void session_deliver(struct broker *b, struct session *s, struct msg *m, uint8_t qos, bool retain)
{
	session_deliver_shared(b, s, m, qos, retain, NULL);
}

void session_deliver_shared(struct broker *b, struct session *s, struct msg *m, uint8_t qos,
			    bool retain, struct share_group *g)
{
	struct broker_client *c = s->client;

	if (!deliverable(b, s, m, qos, g))
		return;

	if (qos == 0) {
		/* QoS 0 is never queued for an offline client. */
		if (!broker_client_online(c))
			return;
		if (c->out.total > b->cfg.max_output_bytes) {
			drop(b, s, m, "client not reading (output buffer full)");
			return;
		}
		broker__send_publish(b, c, m, 0, 0, retain, false, g);
		return;
	}
	if (broker_client_online(c) && !queued_count(s) && window_has_room(b, s)) {
		window_send(b, s, m, qos, retain, g, s->next_seq++, false);
		return;
	}
	if (queued_count(s) >= b->cfg.max_queued) {
		drop(b, s, m, "queue full");
		return;
	}
	queue_push(b, s, m, qos, retain, g);
}

void session_resume(struct broker *b, struct session *s)
{
	/* [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP) and PUBREL, in
	 * their original order. */
	for (uint32_t i = 0; s->flow && i < s->flow->ifl.len; i++) {
		struct inflight *f = ifl_at(s->flow, i);

		if (f->state == IFL_WAIT_ACK)
			broker__send_publish(b, s->client, f->msg, f->qos, f->packet_id, f->retain,
					     true, f->group);
		else if (f->state == IFL_WAIT_COMP)
			broker__send_ack(b, s->client, MQTT_PUBREL, f->packet_id);
	}
	queue_pump(b, s);
}

static void complete(struct broker *b, struct session *s, struct inflight *f)
{
	journal_done(b, s, f->seq);
	msg_unref(f->msg);
	f->msg = NULL;
	share_group_unref(b, f->group);
	f->group = NULL;
	f->state = IFL_FREE;
	window_compact(s);
	queue_pump(b, s);
}

bool session_puback(struct broker *b, struct session *s, uint16_t packet_id)
{
	struct inflight *f = window_find(s, packet_id);

	if (!f) {
		log_debug("client %s: PUBACK for packet id %u, not in flight", s->id, packet_id);
		return true;
	}
	if (f->qos != 1)
		return false; /* a QoS 2 message is acknowledged by PUBREC, then PUBCOMP */
	complete(b, s, f);
	return true;
}

bool session_pubrec(struct broker *b, struct session *s, uint16_t packet_id, uint8_t reason)
{
	struct inflight *f = window_find(s, packet_id);

	if (!f) {
		log_debug("client %s: PUBREC for packet id %u, not in flight", s->id, packet_id);
		/* A PUBREC of 0x80 or more ends its flow [MQTT-4.3.3-4]: no PUBREL. */
		if (reason < 0x80)
			broker__send_ack_reason(b, s->client, MQTT_PUBREL, packet_id, 0x92);
		return true;
	}
	if (f->qos != 2)
		return false;
	if (reason >= 0x80) {
		/* MQTT 5: the client refused it; the flow ends here [MQTT-4.3.3-4] */
		complete(b, s, f);
		return true;
	}
	if (f->state == IFL_WAIT_ACK) {
		/* The message is delivered; only its id remains until PUBCOMP. */
		journal_seq(b, s, J_PUBREC, f->seq);
		msg_unref(f->msg);
		f->msg = NULL;
		f->state = IFL_WAIT_COMP;
	}
	broker__send_ack(b, s->client, MQTT_PUBREL, packet_id); /* again for a repeated PUBREC */
	return true;
}

bool session_pubcomp(struct broker *b, struct session *s, uint16_t packet_id)
{
	struct inflight *f = window_find(s, packet_id);

	if (!f) {
		log_debug("client %s: PUBCOMP for packet id %u, not in flight", s->id, packet_id);
		return true;
	}
	if (f->state != IFL_WAIT_COMP)
		return false; /* QoS 1, or QoS 2 before its PUBREL */
	complete(b, s, f);
	return true;
}

/* ---- incoming QoS 2 ---- */

bool session_qos2_seen(const struct session *s, uint16_t packet_id)
{
	return s->flow && idset_has(&s->flow->qos2_in, packet_id);
}

void session_qos2_add(struct broker *b, struct session *s, uint16_t packet_id)
{
	idset_add(&flow_get(s)->qos2_in, packet_id);
	journal_qos2(b, s, J_QOS2_IN, packet_id);
}

uint32_t session_qos2_pending(const struct session *s)
{
	return s->flow ? s->flow->qos2_in.count : 0;
}

bool session_qos2_release(struct broker *b, struct session *s, uint16_t packet_id)
{
	if (!s->flow || !idset_remove(&s->flow->qos2_in, packet_id))
		return false;
	journal_qos2(b, s, J_QOS2_REL, packet_id);
	return true;
}

void session_trim(struct session *s)
{
	struct session_flow *f = s->flow;

	/* Kept while a client is active (a steady stream would otherwise
	 * allocate per message), given back when it goes away. */
	if (!f || f->ifl.len || f->q.len || f->qos2_in.count || f->pending_will)
		return;
	flow_free(NULL, f); /* empty: no group to release */
	s->flow = NULL;
}

void session_share_hand_over(struct broker *b, struct session *s)
{
	struct session_flow *f = s->flow;
	uint32_t kept = 0;

	if (!f)
		return;
	/* Sent but unacknowledged QoS 1 may go to another member; a QoS 2
	 * message already sent stays with this one [MQTT-4.8.2-4]. */
	for (uint32_t i = 0; i < f->ifl.len; i++) {
		struct inflight *e = ifl_at(f, i);

		if (e->state == IFL_WAIT_ACK && e->qos == 1 && e->group &&
		    share_hand_over(b, e->group, s, e->msg, e->qos)) {
			journal_done(b, s, e->seq);
			msg_unref(e->msg);
			e->msg = NULL;
			share_group_unref(b, e->group);
			e->group = NULL;
			e->state = IFL_FREE;
		}
	}
	window_compact(s);
	/* Not yet sent: any QoS may go. The queue keeps its order. */
	for (uint32_t i = 0; i < f->q.len; i++) {
		struct queued e = *q_at(f, i);

		if (e.group && share_hand_over(b, e.group, s, e.msg, e.qos)) {
			journal_done(b, s, e.seq);
			msg_unref(e.msg);
			share_group_unref(b, e.group);
			continue;
		}
		*q_at(f, kept++) = e;
	}
	ring_truncate(&f->q, kept);
}

/* ---- restore (restore.c) ---- */

void session_restore_inflight(struct session *s, uint64_t seq, struct msg *m, uint8_t qos,
			      bool retain, uint16_t packet_id, struct share_group *g)
{
	/* A window the log holds may exceed today's limit: it drains down. */
	window_append(s, UINT16_MAX, seq, m, qos, retain, g, packet_id);
	s->next_packet_id = packet_id == UINT16_MAX ? 1 : (uint16_t)(packet_id + 1);
}

void session_restore_queued(struct session *s, uint64_t seq, struct msg *m, uint8_t qos,
			    bool retain, struct share_group *g)
{
	queue_append(s, UINT32_MAX, seq, m, qos, retain, g);
}
