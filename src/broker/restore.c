/*
 * restore.c - rebuilding the durable state from journal records
 * (journal.h) at start.
 *
 * Records are applied in log order. Most go straight into the broker
 * (sessions, subscriptions, retained messages, wills, incoming QoS 2 ids);
 * messages and deliveries wait in the restore's scratch, since a delivery
 * may be completed by a later record, until broker_restore_done puts the
 * ones still alive into their sessions' windows and queues.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* A J_MSG, by journal id (the map's key lives here). */
struct rmsg {
	uint64_t jid;
	struct msg *m; /* one reference */
};

/* A delivery, by session serial and sequence number: a session destroyed
 * during the replay leaves its deliveries behind with a serial no session
 * has any more, and they are dropped at the end. */
struct rdel_key {
	uint32_t serial;
	uint32_t zero; /* keys are compared as bytes: no padding */
	uint64_t seq;
};

struct rdel {
	struct rdel_key key;
	struct msg *m;   /* one reference; NULL: unknown message or PUBREC came */
	uint16_t packet_id;
	uint8_t qos;
	bool retain;
	bool pubrec;
	char group[];    /* shared subscription key, "" for none */
};

struct restore {
	struct hmap msgs; /* jid -> struct rmsg */
	struct hmap dels; /* struct rdel_key -> struct rdel */
};

/* Journal ids and sequence numbers count up from 1 and 0 by one per message:
 * a value past this is damage, and refusing it keeps every +1 in range. */
#define COUNTER_MAX (UINT64_C(1) << 62)

/* ---- reading records ---- */

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *at = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return at;
}

static uint64_t get_le(struct reader *r, int n)
{
	const uint8_t *p = take(r, (size_t)n);
	uint64_t v = 0;

	for (int i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t get_u8(struct reader *r) { return (uint8_t)get_le(r, 1); }
static uint16_t get_u16(struct reader *r) { return (uint16_t)get_le(r, 2); }
static uint32_t get_u32(struct reader *r) { return (uint32_t)get_le(r, 4); }
static uint64_t get_u64(struct reader *r) { return get_le(r, 8); }

/* A length-prefixed string (u16) or blob (u32). */
static struct mqtt_str get_s16(struct reader *r)
{
	struct mqtt_str s;

	s.len = get_u16(r);
	s.data = take(r, s.len);
	return s;
}

static const uint8_t *get_b32(struct reader *r, uint32_t *len)
{
	*len = get_u32(r);
	return take(r, *len);
}

/* A message's fields as J_MSG, J_RETAIN and J_WILL write them. */
struct rfields {
	struct mqtt_str topic;
	uint8_t qos;
	bool retain;
	uint64_t expiry; /* wall clock */
	const uint8_t *props, *payload;
	uint32_t props_len, payload_len;
};

static void get_message(struct reader *r, struct rfields *f, bool with_retain)
{
	f->topic = get_s16(r);
	f->qos = get_u8(r);
	f->retain = with_retain ? get_u8(r) != 0 : true;
	f->expiry = get_u64(r);
	f->props = get_b32(r, &f->props_len);
	f->payload = get_b32(r, &f->payload_len);
	if (f->qos > 2 || f->topic.len == 0)
		r->bad = true;
}

static struct msg *message_of(struct broker *b, const struct rfields *f)
{
	struct msg_spec spec = {
		.topic = f->topic.data,
		.topic_len = f->topic.len,
		.payload = f->payload,
		.payload_len = f->payload_len,
		.qos = f->qos,
		.retain = f->retain,
		.props = f->props,
		.props_len = f->props_len,
		.expires_ms = journal_mono(b, f->expiry),
	};

	return msg_new(&b->msg_pool, &spec);
}

/* ---- applying them ---- */

static struct restore *restore_get(struct broker *b)
{
	if (!b->restore) {
		b->restore = xcalloc(1, sizeof(*b->restore));
		hmap_init(&b->restore->msgs);
		hmap_init(&b->restore->dels);
	}
	return b->restore;
}

static void apply_retain(struct broker *b, struct reader *r, bool set)
{
	struct rfields f = { 0 };
	struct msg *m;

	if (set)
		get_message(r, &f, false);
	else
		f.topic = get_s16(r);
	if (r->bad)
		return;
	if (set && f.expiry && journal_mono(b, f.expiry) <= b->now_ms)
		set = false; /* expired while the broker was down: gone */
	if (!set)
		f.payload_len = 0; /* an empty retained message clears the topic */
	m = message_of(b, &f);
	broker__retain(b, m);
	msg_unref(m);
}

/* The session a record names; NULL (and r->bad) if it is unknown. */
static struct session *named_session(struct broker *b, struct reader *r)
{
	struct mqtt_str id = get_s16(r);
	struct session *s = r->bad ? NULL : session_find(b, id.data, id.len);

	if (!s)
		r->bad = true;
	return s;
}

static void apply_session(struct broker *b, struct reader *r)
{
	struct mqtt_str id = get_s16(r), account;
	uint32_t expiry_s = get_u32(r);
	uint64_t deadline = get_u64(r);
	uint16_t next_pid = get_u16(r);
	bool has_account = get_u8(r);
	struct session *s;

	account = get_s16(r);
	if (r->bad || expiry_s == 0)
		return (void)(r->bad = true);
	s = session_find(b, id.data, id.len);
	if (!s)
		s = session_new(b, id.data, id.len, expiry_s);
	s->durable = true;
	s->expiry_s = expiry_s;
	s->next_packet_id = next_pid ? next_pid : 1;
	if (deadline)
		s->expires_at_ms = journal_mono(b, deadline);
	else /* connected when the log ended: it went away now */
		s->expires_at_ms = expiry_s == SESSION_NEVER_EXPIRES
					   ? 0
					   : b->now_ms + (uint64_t)expiry_s * 1000;
	free(s->account);
	s->account = has_account ? xstrndup((const char *)account.data, account.len) : NULL;
}

static void apply_session_end(struct broker *b, struct reader *r)
{
	struct session *s = named_session(b, r);

	if (s)
		session_destroy(b, s); /* journaling is off: nothing recorded, no will */
}

static void apply_sub(struct broker *b, struct reader *r, bool add)
{
	struct session *s = named_session(b, r);
	struct mqtt_str filter = get_s16(r);
	uint8_t qos = add ? get_u8(r) : 0, options = add ? get_u8(r) : 0;
	uint32_t sub_id = add ? get_u32(r) : 0;

	if (r->bad)
		return;
	if (add ? !broker__restore_sub(b, s, &filter, qos, options, sub_id)
		: !broker__restore_unsub(b, s, &filter))
		r->bad = true;
}

static void apply_msg(struct broker *b, struct reader *r)
{
	struct restore *rs = restore_get(b);
	uint64_t jid = get_u64(r);
	struct rfields f;
	struct rmsg *rm;

	get_message(r, &f, true);
	if (r->bad || !jid || jid > COUNTER_MAX)
		return (void)(r->bad = true);
	rm = xmalloc(sizeof(*rm));
	rm->jid = jid;
	rm->m = message_of(b, &f);
	rm->m->jid = jid;
	if (jid > b->next_jid)
		b->next_jid = jid;
	rm = hmap_put(&rs->msgs, &rm->jid, sizeof(rm->jid), rm);
	if (rm) { /* the same id again (a snapshot's copy): the newer stays */
		msg_unref(rm->m);
		free(rm);
	}
}

static struct rdel_key del_key(const struct session *s, uint64_t seq)
{
	return (struct rdel_key){ .serial = s->serial, .seq = seq };
}

static void del_free(struct rdel *d)
{
	msg_unref(d->m);
	free(d);
}

static void apply_deliver(struct broker *b, struct reader *r)
{
	struct restore *rs = restore_get(b);
	struct session *s = named_session(b, r);
	uint64_t seq = get_u64(r), jid = get_u64(r);
	uint8_t qos = get_u8(r);
	bool retain = get_u8(r);
	uint16_t packet_id = get_u16(r);
	struct mqtt_str group = get_s16(r);
	struct rmsg *rm;
	struct rdel *d;

	/* No body only for a QoS 2 message past PUBREC, which has its id. */
	if (r->bad || qos < 1 || qos > 2 || seq > COUNTER_MAX || (!jid && (!packet_id || qos != 2)))
		return (void)(r->bad = true);
	d = xcalloc(1, sizeof(*d) + (size_t)group.len + 1);
	d->key = del_key(s, seq);
	rm = jid ? hmap_get(&rs->msgs, &jid, sizeof(jid)) : NULL;
	d->m = rm ? msg_ref(rm->m) : NULL;
	d->packet_id = packet_id;
	d->qos = qos;
	d->retain = retain;
	d->pubrec = !jid; /* a snapshot's QoS 2 message past PUBREC has no body */
	memcpy(d->group, group.data, group.len);
	if (seq >= s->next_seq)
		s->next_seq = seq + 1;
	d = hmap_put(&rs->dels, &d->key, sizeof(d->key), d);
	if (d)
		del_free(d);
}

/* J_SENT, J_PUBREC: a delivery of the named session moves on. */
static void apply_step(struct broker *b, struct reader *r, enum journal_record type)
{
	struct restore *rs = restore_get(b);
	struct session *s = named_session(b, r);
	uint64_t seq = get_u64(r);
	uint16_t packet_id = type == J_SENT ? get_u16(r) : 0;
	struct rdel_key key;
	struct rdel *d;

	if (r->bad || (type == J_SENT && !packet_id))
		return (void)(r->bad = true);
	key = del_key(s, seq);
	d = hmap_get(&rs->dels, &key, sizeof(key));
	if (!d)
		return; /* a step of a delivery the snapshot no longer had */
	if (type == J_SENT) {
		d->packet_id = packet_id;
	} else if (!d->packet_id || d->qos != 2) {
		r->bad = true; /* only a QoS 2 message in flight gets PUBREC */
	} else {
		d->pubrec = true;
		msg_unref(d->m);
		d->m = NULL;
	}
}

/* Every delivery of s in [seq, seq + count) is gone: the range's own ids
 * looked up when it is short, else the live deliveries scanned once, so a
 * damaged count costs no more than the deliveries there are. */
static void drop_range(struct restore *rs, const struct session *s, uint64_t seq,
		       uint64_t count)
{
	struct rdel **gone = NULL;
	uint32_t n = 0, cap = 0;
	void *v;

	if (count <= rs->dels.count) {
		for (uint64_t i = 0; i < count; i++) {
			struct rdel_key key = del_key(s, seq + i);
			struct rdel *d = hmap_del(&rs->dels, &key, sizeof(key));

			if (d)
				del_free(d);
		}
		return;
	}
	for (uint32_t i = 0; hmap_next(&rs->dels, &i, &v);) {
		struct rdel *d = v;

		if (d->key.serial == s->serial && d->key.seq - seq < count) {
			ARRAY_GROW(gone, cap, n + 1, 16, ARRAY_MAX);
			gone[n++] = d;
		}
	}
	for (uint32_t i = 0; i < n; i++) /* not while iterating the map */
		del_free(hmap_del(&rs->dels, &gone[i]->key, sizeof(gone[i]->key)));
	free(gone);
}

/* J_DONE: a run of deliveries ends. */
static void apply_done(struct broker *b, struct reader *r)
{
	struct restore *rs = restore_get(b);
	struct session *s = named_session(b, r);
	uint64_t seq = get_u64(r);
	uint32_t count = get_u32(r);

	if (r->bad || count == 0)
		return (void)(r->bad = true);
	drop_range(rs, s, seq, count);
}

static void apply_qos2(struct broker *b, struct reader *r, bool add)
{
	struct session *s = named_session(b, r);
	uint16_t packet_id = get_u16(r);

	if (r->bad || !packet_id)
		return (void)(r->bad = true);
	if (add)
		session_qos2_add(b, s, packet_id);
	else
		session_qos2_release(b, s, packet_id);
}

static void apply_will(struct broker *b, struct reader *r, bool set)
{
	struct session *s = named_session(b, r);
	uint64_t due = set ? get_u64(r) : 0;
	uint32_t expiry_s = set ? get_u32(r) : 0;
	struct rfields f;
	struct msg *w;

	if (!set) {
		if (s)
			session_cancel_will(b, s);
		return;
	}
	get_message(r, &f, true);
	if (r->bad)
		return;
	w = message_of(b, &f);
	w->expires_ms = 0; /* its expiry starts when it is sent */
	session_park_will(b, s, w, journal_mono(b, due), expiry_s);
	msg_unref(w);
}

static void apply_one(struct broker *b, struct reader *r)
{
	enum journal_record type = get_u8(r);

	switch (type) {
	case J_RETAIN: apply_retain(b, r, true); break;
	case J_RETAIN_DEL: apply_retain(b, r, false); break;
	case J_SESSION: apply_session(b, r); break;
	case J_SESSION_END: apply_session_end(b, r); break;
	case J_SUB: apply_sub(b, r, true); break;
	case J_UNSUB: apply_sub(b, r, false); break;
	case J_MSG: apply_msg(b, r); break;
	case J_DELIVER: apply_deliver(b, r); break;
	case J_SENT:
	case J_PUBREC: apply_step(b, r, type); break;
	case J_DONE: apply_done(b, r); break;
	case J_QOS2_IN: apply_qos2(b, r, true); break;
	case J_QOS2_REL: apply_qos2(b, r, false); break;
	case J_WILL: apply_will(b, r, true); break;
	case J_WILL_DEL: apply_will(b, r, false); break;
	default: r->bad = true;
	}
}

int broker_restore(struct broker *b, const uint8_t *records, size_t len)
{
	struct reader r = { records, records + len, false };

	while (r.p < r.end && !r.bad)
		apply_one(b, &r);
	return r.bad ? -1 : 0;
}

/* ---- the end of the restore ---- */

static int del_cmp(const void *a, const void *b)
{
	const struct rdel *x = *(struct rdel *const *)a, *y = *(struct rdel *const *)b;

	if (x->key.serial != y->key.serial)
		return x->key.serial < y->key.serial ? -1 : 1;
	return x->key.seq < y->key.seq ? -1 : x->key.seq > y->key.seq;
}

/* The delivery's group (created if no member brought it back: the
 * session's entry takes the first reference). */
static struct share_group *group_of(struct broker *b, const struct rdel *d)
{
	struct mqtt_str key = { .data = (const uint8_t *)d->group,
				.len = (uint16_t)strlen(d->group) };

	return key.len ? share_group_get(b, &key) : NULL;
}

/* One session's deliveries, sorted: the window first (same packet ids, in
 * the order they were sent), then the queue. */
static void place(struct broker *b, struct session *s, struct rdel **d, size_t n,
		  struct broker_restore_stats *st)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			bool inflight = d[i]->pubrec || d[i]->packet_id;
			struct share_group *g;

			if (inflight != (pass == 0))
				continue;
			if (!d[i]->pubrec && (!d[i]->m || msg_expired(b, d[i]->m))) {
				st->discarded++;
				continue;
			}
			g = group_of(b, d[i]);
			if (inflight)
				session_restore_inflight(s, d[i]->key.seq, d[i]->m, d[i]->qos,
							 d[i]->retain, d[i]->packet_id, g);
			else
				session_restore_queued(s, d[i]->key.seq, d[i]->m, d[i]->qos,
						       d[i]->retain, g);
			st->messages++;
		}
	}
}

/* The sessions by serial, for the deliveries' keys. */
static void index_sessions(struct broker *b, struct hmap *by_serial)
{
	void *v;

	hmap_init(by_serial);
	for (uint32_t i = 0; hmap_next(&b->sessions, &i, &v);) {
		struct session *s = v;

		hmap_put(by_serial, &s->serial, sizeof(s->serial), s);
	}
}

/* Every delivery still alive, in (session, sequence) order; the map is
 * emptied (its entries are now the array's). */
static struct rdel **sorted_deliveries(struct restore *rs, size_t *count)
{
	struct rdel **all = NULL;
	uint32_t n = 0, cap = 0;
	void *v;

	for (uint32_t i = 0; hmap_next(&rs->dels, &i, &v);) {
		ARRAY_GROW(all, cap, n + 1, 64, ARRAY_MAX);
		all[n++] = v;
	}
	hmap_release(&rs->dels);
	hmap_init(&rs->dels);
	if (n)
		qsort(all, n, sizeof(*all), del_cmp);
	*count = n;
	return all;
}

static void place_all(struct broker *b, struct restore *rs, struct broker_restore_stats *st)
{
	struct hmap by_serial;
	size_t n, i = 0;
	struct rdel **all = sorted_deliveries(rs, &n);

	index_sessions(b, &by_serial);
	while (i < n) {
		size_t j = i;
		struct session *s;

		while (j < n && all[j]->key.serial == all[i]->key.serial)
			j++;
		s = hmap_get(&by_serial, &all[i]->key.serial, sizeof(all[i]->key.serial));
		if (s)
			place(b, s, all + i, j - i, st);
		for (; i < j; i++)
			del_free(all[i]);
	}
	free(all);
	hmap_release(&by_serial);
}

void broker__restore_free(struct broker *b)
{
	struct restore *rs = b->restore;
	void *v;

	if (!rs)
		return;
	for (uint32_t i = 0; hmap_next(&rs->dels, &i, &v);)
		del_free(v);
	hmap_release(&rs->dels);
	for (uint32_t i = 0; hmap_next(&rs->msgs, &i, &v);) {
		struct rmsg *rm = v;

		msg_unref(rm->m);
		free(rm);
	}
	hmap_release(&rs->msgs);
	free(rs);
	b->restore = NULL;
}

void broker_restore_done(struct broker *b, struct broker_restore_stats *st)
{
	void *v;

	*st = (struct broker_restore_stats){ 0 };
	if (b->restore)
		place_all(b, b->restore, st);
	broker__restore_free(b);
	for (uint32_t i = 0; hmap_next(&b->sessions, &i, &v);) {
		struct session *s = v;

		st->sessions += s->durable;
		session_trim(s);
	}
	st->retained = b->stats.retained;
	/* Every message id restored is in the log: new ones follow them. */
	b->jid_floor = 0;
}
