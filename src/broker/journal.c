/*
 * journal.c - recording the durable state's changes (journal.h), and the
 * snapshot of the whole state that replaces a long log.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

/* ---- the record buffer ---- */

static uint8_t *jb_room(struct jbuf *j, size_t n)
{
	if (j->cap - j->len < n) {
		size_t cap = j->cap ? j->cap : 4096;

		while (cap - j->len < n)
			cap *= 2;
		j->data = xrealloc(j->data, cap);
		j->cap = cap;
	}
	return j->data + j->len;
}

static void put_u8(struct jbuf *j, uint8_t v)
{
	*jb_room(j, 1) = v;
	j->len++;
}

/* Little-endian fields, each one store (a byte loop was 7% of the broker's
 * CPU with persistence normal). */
static void put_u16(struct jbuf *j, uint16_t v)
{
	uint16_t le = htole16(v);

	memcpy(jb_room(j, 2), &le, 2);
	j->len += 2;
}

static void put_u32(struct jbuf *j, uint32_t v)
{
	uint32_t le = htole32(v);

	memcpy(jb_room(j, 4), &le, 4);
	j->len += 4;
}

static void put_u64(struct jbuf *j, uint64_t v)
{
	uint64_t le = htole64(v);

	memcpy(jb_room(j, 8), &le, 8);
	j->len += 8;
}

static void put_bytes(struct jbuf *j, const void *data, size_t len)
{
	if (len)
		memcpy(jb_room(j, len), data, len);
	j->len += len;
}

static void put_s16(struct jbuf *j, const void *data, uint16_t len)
{
	put_u16(j, len);
	put_bytes(j, data, len);
}

static void put_b32(struct jbuf *j, const void *data, uint32_t len)
{
	put_u32(j, len);
	put_bytes(j, data, len);
}

/* A session record's head: type and client id. */
static void put_head(struct jbuf *j, enum journal_record type, const struct session *s)
{
	put_u8(j, (uint8_t)type);
	put_s16(j, s->id, s->id_len);
}

/* ---- clocks ---- */

void broker_set_wall_clock(struct broker *b, uint64_t wall_ms)
{
	/* Both clocks are far below 2^62 ms: the difference cannot overflow. */
	b->wall_offset_ms = (int64_t)(wall_ms & INT64_MAX) - (int64_t)(b->now_ms & INT64_MAX);
}

/* t + offset, kept within 1 .. UINT64_MAX: a date from a damaged log is
 * far in the past or the future, never an overflow. */
static uint64_t shift(uint64_t t, int64_t offset)
{
	uint64_t r;

	if (offset >= 0)
		return __builtin_add_overflow(t, (uint64_t)offset, &r) ? UINT64_MAX : r;
	r = (uint64_t)-offset; /* broker_set_wall_clock keeps it above INT64_MIN */
	return t > r ? t - r : 1;
}

uint64_t journal_wall(const struct broker *b, uint64_t mono_ms)
{
	return mono_ms ? shift(mono_ms, b->wall_offset_ms) : 0;
}

uint64_t journal_mono(const struct broker *b, uint64_t wall_ms)
{
	/* long past: due at once (1), never "none" (0) */
	return wall_ms ? shift(wall_ms, -b->wall_offset_ms) : 0;
}

/* ---- the public switch and buffer ---- */

void broker_journal_on(struct broker *b)
{
	b->journaling = true;
}

bool broker_journal_enabled(const struct broker *b)
{
	return b->journaling;
}

const uint8_t *broker_journal(const struct broker *b, size_t *len)
{
	*len = b->journal.len;
	return b->journal.len ? b->journal.data : NULL;
}

void broker_journal_clear(struct broker *b)
{
	b->journal.len = 0;
	b->jdone_end = 0;
	/* A burst (a snapshot-sized turn) does not pin its memory for good. */
	if (b->journal.cap > (4u << 20)) {
		free(b->journal.data);
		b->journal = (struct jbuf){ 0 };
	}
}

/* ---- the records ---- */

static void put_message(struct jbuf *j, const struct broker *b, const struct msg *m)
{
	put_s16(j, m->topic, m->topic_len);
	put_u8(j, m->qos);
	put_u8(j, m->retain);
	put_u64(j, journal_wall(b, m->expires_ms));
	put_b32(j, m->props, m->props_len);
	put_b32(j, m->payload, m->payload_len);
}

static void put_retain(struct jbuf *j, const struct broker *b, const struct msg *m)
{
	put_u8(j, J_RETAIN);
	put_s16(j, m->topic, m->topic_len);
	put_u8(j, m->qos);
	put_u64(j, journal_wall(b, m->expires_ms));
	put_b32(j, m->props, m->props_len);
	put_b32(j, m->payload, m->payload_len);
}

void journal_retain(struct broker *b, const struct msg *m)
{
	if (b->journaling)
		put_retain(&b->journal, b, m);
}

void journal_retain_del(struct broker *b, const char *topic, uint16_t len)
{
	if (!b->journaling)
		return;
	put_u8(&b->journal, J_RETAIN_DEL);
	put_s16(&b->journal, topic, len);
}

static void put_session(struct jbuf *j, const struct broker *b, const struct session *s)
{
	put_head(j, J_SESSION, s);
	put_u32(j, s->expiry_s);
	/* Connected, or no deadline: none (a restart gives it its whole
	 * interval); offline: when it ends. */
	put_u64(j, s->client ? 0 : journal_wall(b, s->expires_at_ms));
	put_u16(j, s->next_packet_id);
	put_u8(j, s->account != NULL);
	put_s16(j, s->account ? s->account : "",
		(uint16_t)(s->account ? strnlen(s->account, UINT16_MAX) : 0));
}

void journal_session(struct broker *b, struct session *s)
{
	if (!b->journaling)
		return;
	if (s->expiry_s == 0) {
		journal_session_end(b, s);
		return;
	}
	s->durable = true;
	put_session(&b->journal, b, s);
}

void journal_session_end(struct broker *b, struct session *s)
{
	if (!b->journaling || !s->durable)
		return;
	s->durable = false;
	put_head(&b->journal, J_SESSION_END, s);
}

/* The filter as the client wrote it: "$share/" + group key when shared. */
static void put_sub(struct jbuf *j, const struct session *s, const struct sub *sub)
{
	const struct share_group *g = sub->group;
	size_t len = g ? 7 + (size_t)g->key_len : tree_filter_len(sub->node);
	uint8_t *p;

	put_head(j, J_SUB, s);
	put_u16(j, (uint16_t)len);
	p = jb_room(j, len);
	if (g) {
		memcpy(p, "$share/", 7);
		memcpy(p + 7, g->key, g->key_len); /* "group/filter" */
	} else {
		tree_filter_write(sub->node, p);
	}
	j->len += len;
	put_u8(j, sub->qos);
	put_u8(j, sub->options);
	put_u32(j, sub->sub_id);
}

void journal_sub(struct broker *b, struct session *s, const struct mqtt_str *filter,
		 const struct sub *sub)
{
	struct jbuf *j = &b->journal;

	if (!b->journaling || !s->durable)
		return;
	put_head(j, J_SUB, s);
	put_s16(j, filter->data, filter->len);
	put_u8(j, sub->qos);
	put_u8(j, sub->options);
	put_u32(j, sub->sub_id);
}

void journal_unsub(struct broker *b, struct session *s, const struct mqtt_str *filter)
{
	if (!b->journaling || !s->durable)
		return;
	put_head(&b->journal, J_UNSUB, s);
	put_s16(&b->journal, filter->data, filter->len);
}

/* The message's body, once per message whatever the sessions it goes to:
 * a journal id above the floor is in the current log already; at or below
 * it (0 included), the log has no copy (a snapshot replaced the one it
 * had), so it is written again under a new id. */
static void journal_msg(struct broker *b, struct jbuf *j, struct msg *m)
{
	if (m->jid > b->jid_floor)
		return;
	m->jid = ++b->next_jid;
	put_u8(j, J_MSG);
	put_u64(j, m->jid);
	put_message(j, b, m);
}

static void put_deliver(struct jbuf *j, const struct session *s, uint64_t seq, uint64_t jid,
			uint8_t qos, bool retain, uint16_t packet_id, const char *group,
			uint16_t group_len)
{
	put_head(j, J_DELIVER, s);
	put_u64(j, seq);
	put_u64(j, jid);
	put_u8(j, qos);
	put_u8(j, retain);
	put_u16(j, packet_id);
	put_s16(j, group ? group : "", group_len);
}

void journal_deliver(struct broker *b, struct session *s, uint64_t seq, struct msg *m,
		     uint8_t qos, bool retain, uint16_t packet_id, const char *group,
		     uint16_t group_len)
{
	if (!b->journaling || !s->durable)
		return;
	journal_msg(b, &b->journal, m);
	put_deliver(&b->journal, s, seq, m->jid, qos, retain, packet_id, group, group_len);
}

void journal_sent(struct broker *b, struct session *s, uint64_t seq, uint16_t packet_id)
{
	if (!b->journaling || !s->durable)
		return;
	put_head(&b->journal, J_SENT, s);
	put_u64(&b->journal, seq);
	put_u16(&b->journal, packet_id);
}

void journal_seq(struct broker *b, struct session *s, enum journal_record type, uint64_t seq)
{
	if (!b->journaling || !s->durable)
		return;
	put_head(&b->journal, type, s);
	put_u64(&b->journal, seq);
}

void journal_done(struct broker *b, struct session *s, uint64_t seq)
{
	struct jbuf *j = &b->journal;
	uint8_t *count;
	uint32_t n;

	if (!b->journaling || !s->durable)
		return;
	if (b->jdone_end && b->jdone_end == j->len && b->jdone_s == s && b->jdone_next == seq) {
		count = j->data + j->len - 4; /* extend it: one more in the range */
		n = (uint32_t)count[0] | (uint32_t)count[1] << 8 | (uint32_t)count[2] << 16 |
		    (uint32_t)count[3] << 24;
		if (n < UINT32_MAX) {
			n++;
			for (int i = 0; i < 4; i++)
				count[i] = (uint8_t)(n >> (8 * i));
			b->jdone_next++;
			return;
		}
	}
	put_head(j, J_DONE, s);
	put_u64(j, seq);
	put_u32(j, 1);
	b->jdone_end = j->len;
	b->jdone_s = s;
	b->jdone_next = seq + 1;
}

void journal_qos2(struct broker *b, struct session *s, enum journal_record type,
		  uint16_t packet_id)
{
	if (!b->journaling || !s->durable)
		return;
	put_head(&b->journal, type, s);
	put_u16(&b->journal, packet_id);
}

static void put_will(struct jbuf *j, const struct broker *b, const struct session *s)
{
	const struct session_flow *f = s->flow;

	put_head(j, J_WILL, s);
	put_u64(j, journal_wall(b, f->will_due_ms));
	put_u32(j, f->will_expiry_s);
	put_message(j, b, f->pending_will);
}

void journal_will(struct broker *b, struct session *s)
{
	if (!b->journaling || !s->durable || !s->flow || !s->flow->pending_will)
		return;
	put_will(&b->journal, b, s);
}

void journal_will_del(struct broker *b, struct session *s)
{
	if (!b->journaling || !s->durable)
		return;
	put_head(&b->journal, J_WILL_DEL, s);
}

/* ---- the snapshot ---- */

struct snap {
	struct broker *b;
	struct jbuf j;
	size_t chunk;
	int (*emit)(void *ctx, const uint8_t *records, size_t len);
	void *ctx;
	int rc;
	uint64_t start; /* journal ids above it were written by this snapshot */
};

static void snap_flush(struct snap *sn, bool last)
{
	if (sn->rc || !sn->j.len || (!last && sn->j.len < sn->chunk))
		return;
	sn->rc = sn->emit(sn->ctx, sn->j.data, sn->j.len);
	sn->j.len = 0;
}

static void snap_retained(void *ctx, struct msg *m)
{
	struct snap *sn = ctx;

	if (!broker_client_may_publish((const uint8_t *)m->topic, m->topic_len))
		return; /* the broker's own $SYS: rebuilt, not kept */
	if (msg_expired(sn->b, m))
		return;
	put_retain(&sn->j, sn->b, m);
	snap_flush(sn, false);
}

/* A message's J_MSG, the first time this snapshot meets it: under a new
 * journal id, so an id above the snapshot's start says "written". */
static void snap_msg(struct snap *sn, struct msg *m)
{
	if (m->jid > sn->start)
		return;
	m->jid = ++sn->b->next_jid;
	put_u8(&sn->j, J_MSG);
	put_u64(&sn->j, m->jid);
	put_message(&sn->j, sn->b, m);
}

static void snap_delivery(struct snap *sn, const struct session *s, uint64_t seq, struct msg *m,
			  uint8_t qos, bool retain, uint16_t packet_id,
			  const struct share_group *g)
{
	if (m)
		snap_msg(sn, m);
	put_deliver(&sn->j, s, seq, m ? m->jid : 0, qos, retain, packet_id, g ? g->key : NULL,
		    g ? g->key_len : 0);
}

static void snap_flow(struct snap *sn, const struct session *s)
{
	const struct session_flow *f = s->flow;

	for (uint32_t i = 0; i < f->ifl.len; i++) {
		const struct inflight *e = ring_at(&f->ifl, i, sizeof(*e));

		if (e->state == IFL_FREE)
			continue;
		snap_delivery(sn, s, e->seq, e->msg, e->qos, e->retain, e->packet_id, e->group);
		if (e->state == IFL_WAIT_COMP) {
			put_head(&sn->j, J_PUBREC, s);
			put_u64(&sn->j, e->seq);
		}
	}
	for (uint32_t i = 0; i < f->q.len; i++) {
		const struct queued *e = ring_at(&f->q, i, sizeof(*e));

		snap_delivery(sn, s, e->seq, e->msg, e->qos, e->retain, 0, e->group);
	}
	for (uint32_t i = 0; i < f->qos2_in.cap; i++) {
		if (!f->qos2_in.slots[i])
			continue;
		put_head(&sn->j, J_QOS2_IN, s);
		put_u16(&sn->j, f->qos2_in.slots[i]);
	}
	if (f->pending_will)
		put_will(&sn->j, sn->b, s);
}

static void snap_session(struct snap *sn, const struct session *s)
{
	put_session(&sn->j, sn->b, s);
	for (uint32_t i = 0; i < s->nsubs; i++)
		put_sub(&sn->j, s, s->subs[i]);
	if (s->flow)
		snap_flow(sn, s);
	snap_flush(sn, false);
}

int broker_snapshot(struct broker *b, size_t chunk,
		    int (*emit)(void *ctx, const uint8_t *records, size_t len), void *ctx)
{
	struct snap sn = { .b = b, .chunk = chunk ? chunk : 1, .emit = emit, .ctx = ctx,
			   .start = b->next_jid };
	void *v;

	tree_walk_retained(b->retained, snap_retained, &sn);
	for (uint32_t i = 0; !sn.rc && hmap_next(&b->sessions, &i, &v);) {
		const struct session *s = v;

		if (s->expiry_s)
			snap_session(&sn, s);
	}
	snap_flush(&sn, true);
	free(sn.j.data);
	/* The log the snapshot starts holds only the messages it wrote. */
	b->jid_floor = sn.start;
	return sn.rc;
}

void broker_journal_resync(struct broker *b)
{
	b->jid_floor = b->next_jid;
}

/* Room for the ids a forked snapshot gives (one per message it holds):
 * more messages than fit in memory. */
#define SNAPSHOT_ID_ROOM (UINT64_C(1) << 32)

void broker_journal_fork(struct broker *b)
{
	b->next_jid += SNAPSHOT_ID_ROOM;
	b->jid_floor = b->next_jid;
}
