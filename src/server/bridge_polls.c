/*
 * bridge_polls.c - polls over MQTT (see bridge_polls.h).
 *
 * agora/polls/{id}/results    retained, QoS 1: the poll as GET /api/polls/{id} shows it
 * agora/users/{name}/notices  QoS 1: {"type": "vote_refused", "poll_id", "code", "message"}
 */
#include "bridge_polls.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"
#include "base/text.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"
#include "net/net.h"
#include "polls/polls.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX 128
#define LIST_PAGE 100 /* polls read at a time at attach */
#define ID_DIGITS_MAX 18 /* an int64_t without overflow */

/* ---- results ---- */

static void publish_results(struct bridge_polls *bp, const struct store_poll *p, int64_t now)
{
	char topic[TOPIC_MAX];
	char *payload = api_poll_payload(p, now);

	if (!payload) {
		log_error("poll %lld: results not published (out of memory)", (long long)p->id);
		return;
	}
	snprintf(topic, sizeof(topic), "agora/polls/%lld/results", (long long)p->id);
	broker_publish(bp->broker, topic, payload, strlen(payload), 1, true);
	free(payload);
}

/* ---- the closing schedule: which open polls close, and when ---- */

static uint32_t closing_find(const struct bridge_polls *bp, int64_t id)
{
	uint32_t i;

	for (i = 0; i < bp->nclosing && bp->closing[i].id != id; i++)
		;
	return i; /* nclosing: absent */
}

static void closing_remove(struct bridge_polls *bp, uint32_t i)
{
	bp->closing[i] = bp->closing[--bp->nclosing]; /* order does not matter */
}

/* Keeps p in the schedule while it is open with a closing time, drops it
 * otherwise (closed by its creator, or it has just expired). */
static void closing_note(struct bridge_polls *bp, const struct store_poll *p, int64_t now)
{
	uint32_t i = closing_find(bp, p->id);
	bool timed = p->closes_at && polls_is_open(p, now);

	if (!timed) {
		if (i < bp->nclosing)
			closing_remove(bp, i);
		return;
	}
	if (i == bp->nclosing) {
		ARRAY_GROW(bp->closing, bp->closing_cap, bp->nclosing + 1, 16, ARRAY_MAX);
		bp->nclosing++;
	}
	bp->closing[i] = (struct bridge_polls_closing){ p->id, p->closes_at };
}

static void on_closing(uv_timer_t *t);

/* The timer at the nearest closing time, or stopped when none is left.
 * The wall clock (closes_at's) and the loop's may drift apart: a timer
 * that fires early finds nothing due and is armed again. */
static void closing_arm(struct bridge_polls *bp, int64_t now)
{
	int64_t next = 0;

	for (uint32_t i = 0; i < bp->nclosing; i++)
		if (!next || bp->closing[i].at < next)
			next = bp->closing[i].at;
	if (next == bp->armed_at)
		return;
	bp->armed_at = next;
	if (!next) {
		uv_timer_stop(&bp->closer);
		return;
	}
	uv_timer_start(&bp->closer, on_closing, next > now ? (uint64_t)(next - now) : 0, 0);
}

/* ---- the turn: what changed is published once ---- */

static void mark(struct bridge_polls *bp, int64_t id)
{
	/* A linear look: a turn changes a handful of polls, however many votes */
	for (uint32_t i = 0; i < bp->ndirty; i++)
		if (bp->dirty[i] == id)
			return;
	ARRAY_GROW(bp->dirty, bp->dirty_cap, bp->ndirty + 1, 16, ARRAY_MAX);
	bp->dirty[bp->ndirty++] = id;
}

/* The polls module's observer: a poll's results or state moved. */
static void poll_changed(void *ctx, int64_t poll_id)
{
	mark(ctx, poll_id);
}

static void on_closing(uv_timer_t *t)
{
	struct bridge_polls *bp = t->data;
	int64_t now = wall_clock_ms();

	bp->armed_at = 0; /* a one-shot timer: it is stopped now */
	for (uint32_t i = 0; i < bp->nclosing;) {
		if (bp->closing[i].at > now) {
			i++;
			continue;
		}
		mark(bp, bp->closing[i].id); /* published this same loop turn */
		closing_remove(bp, i);
	}
	closing_arm(bp, now);
}

static void publish_changed(struct bridge_polls *bp, int64_t id, int64_t now)
{
	struct store_poll p = { 0 };
	int rc = polls_get(bp->polls, id, &p);

	if (rc) {
		log_error("poll %lld: results not published: %s", (long long)id,
			  polls_message(rc));
		return;
	}
	publish_results(bp, &p, now);
	closing_note(bp, &p, now);
	store_poll_release(&p);
}

static void publish_notices(struct bridge_polls *bp)
{
	for (uint32_t i = 0; i < bp->nnotices; i++) {
		struct bridge_polls_notice *n = &bp->notices[i];

		broker_publish(bp->broker, n->topic, n->payload, strlen(n->payload), 1, false);
		free(n->topic);
		free(n->payload);
	}
	bp->nnotices = 0;
}

/* The turn hook (net_on_turn): the results of each poll changed during
 * the turn, then the notices, all before the MQTT service's hook hands
 * the broker's output to the connections. */
static void on_turn(void *ctx)
{
	struct bridge_polls *bp = ctx;
	int64_t now;

	if (bp->ndirty) {
		now = wall_clock_ms();
		for (uint32_t i = 0; i < bp->ndirty; i++)
			publish_changed(bp, bp->dirty[i], now);
		bp->ndirty = 0;
		closing_arm(bp, now);
	}
	if (bp->nnotices)
		publish_notices(bp);
}

/* ---- set up and tear down ---- */

void bridge_polls_init(struct bridge_polls *bp, uv_loop_t *loop, struct net *net,
		       struct broker *b)
{
	memset(bp, 0, sizeof(*bp));
	bp->broker = b;
	uv_timer_init(loop, &bp->closer);
	bp->closer.data = bp;
	uv_unref((uv_handle_t *)&bp->closer); /* waits for nothing at shutdown */
	net_on_turn(net, on_turn, bp);
}

/* Every poll, a page at a time: its results retained, its closing time
 * scheduled. */
static void publish_all(struct bridge_polls *bp, int64_t now)
{
	struct store_poll_query q = { .now = now, .limit = LIST_PAGE };
	struct store_poll_list l;
	int rc;

	bool more = true;

	while (more) {
		memset(&l, 0, sizeof(l));
		if ((rc = store_poll_list(bp->polls->store, &q, &l))) {
			log_error("polls: results not published at start: %s", store_strerror(rc));
			return;
		}
		for (size_t i = 0; i < l.n; i++) {
			publish_results(bp, &l.items[i], now);
			closing_note(bp, &l.items[i], now);
		}
		q.offset += (int64_t)l.n;
		more = l.n > 0 && q.offset < l.total;
		store_poll_list_free(&l);
	}
}

int bridge_polls_attach(struct bridge_polls *bp, struct polls *ps)
{
	int64_t now = wall_clock_ms();

	if (polls_observe(ps, poll_changed, bp)) {
		log_error("polls: no room for the MQTT bridge's observer");
		return -1;
	}
	bp->polls = ps;
	publish_all(bp, now);
	closing_arm(bp, now);
	return 0;
}

void bridge_polls_release(struct bridge_polls *bp)
{
	if (bp->polls)
		polls_unobserve(bp->polls, poll_changed, bp);
	bp->polls = NULL;
	for (uint32_t i = 0; i < bp->nnotices; i++) {
		free(bp->notices[i].topic);
		free(bp->notices[i].payload);
	}
	free(bp->notices);
	free(bp->dirty);
	free(bp->closing);
	bp->notices = NULL;
	bp->dirty = NULL;
	bp->closing = NULL;
	bp->nnotices = bp->ndirty = bp->nclosing = 0;
	bp->notices_cap = bp->dirty_cap = bp->closing_cap = 0;
}

/* ---- votes ---- */

/* What a vote came to: its acknowledgement's reason code (MQTT 5, 3.4.2.1),
 * the API's code word and a sentence. */
struct answer {
	uint8_t reason;
	const char *code;
	const char *message;
};

static struct answer answer_of(int err)
{
	struct answer a = { 0x80, polls_code(err), polls_message(err) };

	switch (err) {
	case POLLS_OK: a.reason = 0x00; break;
	case POLLS_ENOTFOUND: a.reason = 0x90; break; /* Topic Name invalid */
	case POLLS_EFORBIDDEN: a.reason = 0x87; break; /* Not authorized: no such account */
	case POLLS_ECLOSED: a.reason = 0x83; break;   /* Implementation specific error */
	case POLLS_EVOTED: a.reason = 0x97; break;    /* Quota exceeded */
	case POLLS_EOPTION:
	case POLLS_EINVALID: a.reason = 0x99; break;  /* Payload format invalid */
	default: break;                               /* Unspecified error: the store */
	}
	return a;
}

/* {id} as the results topic spells it (decimal, no sign, no leading zero),
 * or 0. */
static int64_t poll_id_of(const uint8_t *s, size_t len)
{
	int64_t id = 0;

	if (len == 0 || len > ID_DIGITS_MAX || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		id = id * 10 + (s[i] - '0');
	}
	return id;
}

/* The option as text: "hiver\n" from `echo hiver | mosquitto_pub -s` is
 * "hiver" (a label never holds a control character); false when it is
 * not UTF-8 text. */
static bool option_text(const uint8_t *s, size_t *len)
{
	if (*len && s[*len - 1] == '\n')
		(*len)--;
	if (*len && s[*len - 1] == '\r')
		(*len)--;
	return *len > 0 && !memchr(s, 0, *len) && mqtt_utf8_data_valid(s, *len);
}

/* The vote of an authenticated account on poll_id (a number already). */
static struct answer cast(struct bridge_polls *bp, const char *account, int64_t poll_id,
			  const uint8_t *option, size_t len)
{
	static const struct answer gone = { 0x87, "unauthorized",
					    "your account was deleted" };
	struct store_user u = { 0 };
	struct polls_ballot ballot = { .poll_id = poll_id, .option = (const char *)option,
				       .option_len = len, .mode = POLLS_CAST };
	int rc = store_user_by_name(bp->polls->store, account, &u);

	if (rc == STORE_ENOTFOUND)
		return gone;
	if (rc) {
		log_error("store: %s", store_strerror(rc));
		return answer_of(POLLS_ESTORE);
	}
	ballot.user_id = u.id;
	ballot.now = wall_clock_ms();
	store_user_release(&u);
	return answer_of(polls_vote(bp->polls, &ballot, NULL, NULL));
}

/* The refusal told to account, on its notices topic, at the end of the
 * turn (after the acknowledgement). */
static void notify(struct bridge_polls *bp, const char *account, int64_t poll_id,
		   const struct answer *a)
{
	char topic[TOPIC_MAX];
	json_t *o = json_pack("{s:s, s:o, s:s, s:s}", "type", "vote_refused", "poll_id",
			      poll_id ? json_integer(poll_id) : json_null(), "code", a->code,
			      "message", a->message);
	char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!payload) {
		log_error("notice to %s not published (out of memory)", account);
		return;
	}
	snprintf(topic, sizeof(topic), "agora/users/%s/notices", account);
	ARRAY_GROW(bp->notices, bp->notices_cap, bp->nnotices + 1, 16, ARRAY_MAX);
	bp->notices[bp->nnotices++] = (struct bridge_polls_notice){ xstrdup(topic), payload };
}

int bridge_polls_vote(struct bridge_polls *bp, const char *account, const uint8_t *id,
		      size_t id_len, const uint8_t *payload, size_t len, char *why, size_t why_cap)
{
	static const struct answer not_text = {
		0x99, "unknown_option", "the option must be a label or a number, as UTF-8 text"
	};
	int64_t poll_id = poll_id_of(id, id_len);
	struct answer a;

	if (!poll_id)
		a = answer_of(POLLS_ENOTFOUND);
	else if (!option_text(payload, &len))
		a = not_text;
	else
		a = cast(bp, account, poll_id, payload, len);
	if (a.reason == 0x00)
		return 0x00;
	/* a store failure is the operator's business; the rest the voter's */
	log_write(a.reason == 0x80 ? LOG_ERROR : LOG_INFO,
		  "MQTT vote from %s on poll '%.*s' refused (reason code 0x%02x): %s: %s", account,
		  (int)(id_len < 32 ? id_len : 32), (const char *)id, a.reason, a.code, a.message);
	snprintf(why, why_cap, "%s: %s", a.code, a.message);
	notify(bp, account, poll_id, &a);
	return a.reason;
}
