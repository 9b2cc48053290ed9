/*
 * engine.c - the bench's clients and the phases of a run.
 *
 * Phases: subscribers connect and subscribe; publishers connect; the
 * measured phase publishes (paced by --rate, or keeping --window messages in
 * flight end to end) until --count messages are sent and delivered, or the
 * --duration bound; then every connection sends DISCONNECT and closes.
 * The connections are the client layer's (src/client/client.h): it
 * connects, frames and acknowledges, and writes each client's output once
 * per loop turn; the bench decides what to publish and reads its payloads.
 */
#include "bench.h"

#include "base/alloc.h"
#include "base/fdlimit.h"
#include "client/client.h"
#include "mqtt/mqtt.h"
#include "seqtrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PAYLOAD_MAGIC 0x41474f52u /* "AGOR" */
#define TICK_MS 1
#define CONNECT_TIMEOUT_NS (10 * 1000000000ull)
#define QUIET_NS (1000000000ull) /* QoS 0: a full window that stays quiet this long is written off */
#define MAX_CONNECTS_IN_FLIGHT 256
#define DRAIN_NS (5 * 1000000000ull) /* after the deadline: wait this long for what is in flight */

enum role { ROLE_PUB, ROLE_SUB, ROLE_IDLE, ROLE_SEEDER };
enum phase { PH_SUBSCRIBE, PH_PUBLISHERS, PH_SEED, PH_RUN, PH_CLOSE };

struct bench;

struct bconn {
	struct client_conn mc;
	struct bench *bn;
	enum role role;
	uint32_t index;
	uint32_t topic;
	bool ready, started, connacked;
	uint64_t sent, quota;     /* quota: messages to send, UINT64_MAX = until the deadline */
	struct seqtrack *tracks;  /* subscriber: one per publisher */
	uint64_t received;
	uint64_t subscribed_ns;   /* retained: when SUBSCRIBE went out */
	char id[48];              /* the client id CONNECT points to */
};

struct bench {
	uv_loop_t loop;
	const struct bench_opts *o;
	struct bench_result *r;
	struct bconn **conns;
	uint32_t nconns, npubs, nsubs;
	struct bconn **pubs, **subs;
	uint32_t *fan;            /* per publisher: subscribers on its topic */
	char **topics;
	struct client_loop cl;    /* its turn hook runs step() */
	uv_timer_t timer;
	struct sockaddr_storage addr; /* the broker */
	enum phase phase;
	uint64_t start_ns, t0_ns, deadline_ns, last_progress_ns, sent_done_ns;
	bool draining;            /* deadline passed: no more publishing */
	uint64_t last_writeoff_ns; /* QoS 0: last time the window was written off */
	uint64_t sent_total, delivered_total, expected_total, written_off;
	uint64_t distinct_total;  /* deliveries that were not duplicates: ends the run */
	uint32_t ready, connect_next, connects_in_flight, closed;
	uint32_t pub_cursor;
	/* Window: a message is in flight until every subscriber of its topic
	 * has it. Per topic: messages sent, and the slowest subscriber's count
	 * (refreshed when the window looks full). */
	uint64_t *topic_sent, *topic_slowest;
	uint32_t *topic_subs;
	uint64_t window_used;
	uint8_t *payload;         /* template */
	bool failed, handles_closed;
};

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* The broker's CPU and memory, only when its pid was given (pid 0 would
 * read this process). */
static struct proc_sample broker_sample(const struct bench_opts *o)
{
	struct proc_sample none = { 0 };
	return o->broker_pid > 0 ? proc_sample_read(o->broker_pid) : none;
}

/* Records the first failure ("what: detail") and ends the run. */
static void fail(struct bench *bn, const char *what, const char *detail)
{
	if (!bn->r->error[0])
		snprintf(bn->r->error, sizeof(bn->r->error), "%s%s%s", what,
			 detail && *detail ? ": " : "", detail ? detail : "");
	bn->failed = true;
}

/* ---- publishing ---- */

/* Publishes the next message of c; false when the client layer cannot
 * take it now (its window of packet ids is full). */
static bool publish_one(struct bconn *c)
{
	struct bench *bn = c->bn;
	const struct bench_opts *o = bn->o;
	struct mqtt_publish p = { 0 };
	uint8_t *dst;
	uint64_t seq = c->sent;
	uint64_t t = now_ns();
	uint32_t magic = PAYLOAD_MAGIC;
	const char *topic;

	if (c->role == ROLE_SEEDER)
		c->topic = (uint32_t)c->sent; /* one retained message per topic */
	topic = bn->topics[c->topic];
	p.qos = c->role == ROLE_SEEDER ? 1 : o->qos;
	p.retain = c->role == ROLE_SEEDER;
	p.topic.data = (const uint8_t *)topic;
	p.topic.len = (uint16_t)strlen(topic);
	p.payload_len = o->payload;
	/* The payload is written in place: the template, then the header. */
	if (client_publish_reserve(&c->mc, &p, &dst) < 0)
		return false;
	memcpy(dst, bn->payload, o->payload);
	memcpy(dst, &c->index, 4);
	memcpy(dst + 4, &magic, 4);
	memcpy(dst + 8, &seq, 8);
	memcpy(dst + 16, &t, 8);
	c->sent++;
	if (c->role == ROLE_PUB) {
		bn->sent_total++;
		bn->expected_total += bn->fan[c->index];
		bn->topic_sent[c->topic]++;
		if (bn->topic_subs[c->topic])
			bn->window_used++;
	}
	return true;
}

static bool pub_has_quota(const struct bconn *c)
{
	return c->ready && c->mc.state == CLIENT_CONNECTED && !c->bn->draining &&
	       c->sent < c->quota;
}

/* Next publisher with messages left and room to send them, round robin;
 * NULL when there is none. */
static struct bconn *next_publisher(struct bench *bn)
{
	for (uint32_t k = 0; k < bn->npubs; k++) {
		struct bconn *c = bn->pubs[(bn->pub_cursor + k) % bn->npubs];
		if (pub_has_quota(c) && client_can_publish(&c->mc, bn->o->qos)) {
			bn->pub_cursor = (bn->pub_cursor + k + 1) % bn->npubs;
			return c;
		}
	}
	return NULL;
}

/* Recomputes the messages in flight from the slowest subscriber per topic. */
static void refresh_window(struct bench *bn)
{
	uint64_t used = 0;

	for (uint32_t t = 0; t < bn->o->topics; t++)
		bn->topic_slowest[t] = UINT64_MAX;
	for (uint32_t i = 0; i < bn->nsubs; i++) {
		struct bconn *c = bn->subs[i];
		if (c->received < bn->topic_slowest[c->topic])
			bn->topic_slowest[c->topic] = c->received;
	}
	for (uint32_t t = 0; t < bn->o->topics; t++)
		if (bn->topic_subs[t] && bn->topic_sent[t] > bn->topic_slowest[t])
			used += bn->topic_sent[t] - bn->topic_slowest[t];
	bn->window_used = used > bn->written_off ? used - bn->written_off : 0;
}

static void fill_window(struct bench *bn)
{
	struct bconn *c;

	for (;;) {
		if (bn->window_used >= bn->o->window) {
			refresh_window(bn);
			if (bn->window_used >= bn->o->window)
				return;
		}
		c = next_publisher(bn);
		if (!c)
			return;
		publish_one(c);
	}
}

static void fill_rate(struct bench *bn, uint64_t t)
{
	double elapsed = (double)(t - bn->t0_ns) / 1e9;
	uint64_t due = (uint64_t)(bn->o->rate * elapsed);
	uint64_t budget = 100000; /* per tick, so a stall cannot burst unbounded */
	struct bconn *c;

	while (bn->sent_total < due && budget-- && (c = next_publisher(bn)))
		publish_one(c);
}

/* ---- input ---- */

static void record_delivery(struct bconn *c, const struct mqtt_publish *p)
{
	struct bench *bn = c->bn;
	uint32_t pub, magic;
	uint64_t seq, sent_at, dups, t = now_ns();

	if (p->payload_len < BENCH_PAYLOAD_MIN)
		return;
	memcpy(&pub, p->payload, 4);
	memcpy(&magic, p->payload + 4, 4);
	memcpy(&seq, p->payload + 8, 8);
	memcpy(&sent_at, p->payload + 16, 8);
	if (magic != PAYLOAD_MAGIC)
		return;
	if (bn->o->scenario == BENCH_RETAINED) {
		if (!p->retain)
			return;
		c->received++;
		bn->delivered_total++;
		hist_record(&bn->r->latency, t - c->subscribed_ns);
		bn->last_progress_ns = t;
		return;
	}
	if (pub >= bn->npubs)
		return;
	dups = c->tracks[pub].duplicates;
	seqtrack_add(&c->tracks[pub], seq);
	bn->delivered_total++;
	if (c->tracks[pub].duplicates == dups) {
		/* Only new messages move the window and count towards the end of
		 * the run: a duplicating broker must not end it early. */
		c->received++;
		bn->distinct_total++;
	}
	bn->last_progress_ns = t;
	if (t >= sent_at)
		hist_record(&bn->r->latency, t - sent_at);
}

static void start_when_ready(struct bench *bn);
static void close_when_done(struct bench *bn);

static void send_subscribe(struct bconn *c)
{
	struct bench *bn = c->bn;
	char filter[128];
	struct client_filter f = { filter, bn->o->scenario == BENCH_RETAINED ? 1 : bn->o->qos };

	if (bn->o->scenario == BENCH_RETAINED)
		snprintf(filter, sizeof(filter), "%s/r/#", bn->o->topic_prefix);
	else
		snprintf(filter, sizeof(filter), "%s", bn->topics[c->topic]);
	if (client_subscribe(&c->mc, &f, 1, NULL) < 0)
		fail(bn, "cannot subscribe", filter);
	c->subscribed_ns = now_ns();
}

static void became_ready(struct bconn *c)
{
	c->ready = true;
	c->bn->ready++;
	start_when_ready(c->bn);
}

/* ---- the client layer's callbacks ---- */

static void on_connack(struct client_conn *mc, const struct mqtt_connack *a)
{
	struct bconn *c = mc->data;

	c->bn->connects_in_flight--;
	c->connacked = true;
	if (a->return_code != 0) {
		fail(c->bn, "broker refused CONNECT",
		     client_reason_name(a->return_code, MQTT_CONNACK, c->bn->o->protocol));
		return;
	}
	if (c->role == ROLE_SUB)
		send_subscribe(c);
	else
		became_ready(c);
}

static void on_suback(struct client_conn *mc, const struct mqtt_suback *s)
{
	struct bconn *c = mc->data;

	if (s->count < 1 || s->codes[0] >= MQTT_SUBACK_FAILURE)
		fail(c->bn, "broker refused SUBSCRIBE", "");
	else if (c->bn->o->scenario != BENCH_RETAINED)
		became_ready(c);
}

/* Every PUBLISH is counted, a QoS 2 one sent again too (again): the bench
 * measures what the broker does, duplicates included. */
static void on_message(struct client_conn *mc, const struct mqtt_publish *p, bool again)
{
	(void)again;
	record_delivery(mc->data, p);
}

static void on_closed(struct client_conn *mc, int err)
{
	struct bconn *c = mc->data;
	struct bench *bn = c->bn;

	bn->closed++;
	if (!c->connacked) {
		bn->connects_in_flight--;
		if (bn->o->scenario == BENCH_CONNS && err != UV_EMFILE && err != UV_ENFILE) {
			bn->r->connect_failures++;
			start_when_ready(bn); /* the last attempt may have been this one */
		} else if (bn->phase != PH_CLOSE) {
			fail(bn, "cannot connect to the broker",
			     err == CLIENT_ETLS ? client_tls_error(mc) : client_strerror(err));
		}
	} else if (bn->phase != PH_CLOSE && err) {
		fail(bn, err == CLIENT_EPROTO ? "malformed packet from the broker"
					      : "broker closed a connection",
		     client_strerror(err));
	}
	close_when_done(bn);
}

static const struct client_cbs bench_cbs = {
	.connack = on_connack,
	.message = on_message,
	.suback = on_suback,
	.closed = on_closed,
};

/* ---- connecting ---- */

static void start_connect(struct bench *bn, struct bconn *c)
{
	static const char *const role_names[] = { "pub", "sub", "idle", "seed" };
	struct client_opts o = { 0 };

	snprintf(c->id, sizeof(c->id), "bench-%s-%u-%llx", role_names[c->role], c->index,
		 (unsigned long long)(bn->start_ns & 0xffffff));
	o.connect.level = bn->o->protocol;
	o.connect.keepalive = c->role == ROLE_IDLE ? 0 : 60;
	o.connect.client_id.data = (const uint8_t *)c->id;
	o.connect.client_id.len = (uint16_t)strlen(c->id);
	mqtt_props_clear(&o.connect.props);
	mqtt_props_clear(&o.connect.will_props);
	/* --persistent: a subscriber's session outlives its connection (a new
	 * client id each run, so each run starts with a fresh session) */
	o.connect.clean_session = !(bn->o->persistent && c->role == ROLE_SUB);
	if (!o.connect.clean_session && bn->o->protocol == MQTT_LEVEL_5) {
		o.connect.props.session_expiry = 3600;
		o.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
	}
	/* the bench's window and bounds decide: the layer's own limit is only
	 * the server's Receive Maximum and the 65,535 packet ids */
	o.max_packet = MQTT_MAX_REMAINING + MQTT_MAX_HEADER;
	o.max_output = UINT32_MAX;
	o.ws_path = bn->o->ws_path[0] ? bn->o->ws_path : NULL;
	o.tls = bn->o->tls;
	client_conn_init(&c->mc, &bn->cl, &o, &bench_cbs);
	c->mc.data = c;
	c->started = true;
	bn->connects_in_flight++;
	client_connect_addr(&c->mc, (const struct sockaddr *)&bn->addr);
}

static struct bconn *new_conn(struct bench *bn, enum role role, uint32_t index, uint32_t topic)
{
	struct bconn *c = xcalloc(1, sizeof(*c));

	c->bn = bn;
	c->role = role;
	c->index = index;
	c->topic = topic;
	bn->conns[bn->nconns++] = c;
	return c;
}

/* Opens connections [connect_next, ...) of one role group, a few at a time
 * (the broker's accept backlog is finite), or paced by --connect-rate. */
static void connect_more(struct bench *bn, uint32_t upto, uint64_t t)
{
	uint32_t limit = upto;

	if (bn->o->scenario == BENCH_CONNS && bn->o->connect_rate > 0) {
		uint64_t due = (uint64_t)(bn->o->connect_rate * (double)(t - bn->t0_ns) / 1e9) + 1;
		if (due < limit)
			limit = (uint32_t)due;
	}
	while (bn->connect_next < limit && bn->connects_in_flight < MAX_CONNECTS_IN_FLIGHT &&
	       !bn->failed)
		start_connect(bn, bn->conns[bn->connect_next++]);
}

/* ---- phases ---- */

static void begin_measure(struct bench *bn)
{
	bn->phase = PH_RUN;
	bn->t0_ns = now_ns();
	bn->last_progress_ns = bn->t0_ns;
	bn->deadline_ns = bn->t0_ns + (uint64_t)(bn->o->duration * 1e9);
	bn->r->broker_before = broker_sample(bn->o);
	bn->r->self_before = proc_sample_read(0);
}

static void start_when_ready(struct bench *bn)
{
	const struct bench_opts *o = bn->o;

	if (o->scenario == BENCH_RETAINED)
		return; /* the seeder's readiness is watched by step() */
	if (bn->phase == PH_SUBSCRIBE && bn->ready == bn->nsubs)
		bn->phase = PH_PUBLISHERS;
	if (bn->phase == PH_PUBLISHERS && bn->ready == bn->nsubs + bn->npubs &&
	    o->scenario != BENCH_RETAINED && o->scenario != BENCH_CONNS)
		begin_measure(bn);
	if (o->scenario == BENCH_CONNS && bn->ready + bn->r->connect_failures == bn->nconns &&
	    !bn->r->connect_s) {
		bn->r->connect_s = (double)(now_ns() - bn->t0_ns) / 1e9;
		bn->deadline_ns = now_ns() + (uint64_t)(o->hold * 1e9);
	}
}

static bool run_finished(struct bench *bn, uint64_t t)
{
	const struct bench_opts *o = bn->o;
	bool all_sent = true;

	if (o->scenario == BENCH_RETAINED) {
		if (t >= bn->deadline_ns)
			bn->r->timed_out = true;
		return t >= bn->deadline_ns ||
		       bn->delivered_total >= (uint64_t)bn->nsubs * o->retained;
	}
	if (t >= bn->deadline_ns && !bn->draining) {
		/* Stop publishing; what is in flight may still arrive, and is not
		 * lost until the drain period says so. Only a run bounded by a
		 * count is "cut short" by the clock. */
		bn->draining = true;
		bn->r->timed_out = o->count > 0;
		bn->sent_done_ns = t;
	}
	if (bn->draining && t - bn->deadline_ns >= DRAIN_NS)
		return true;
	for (uint32_t i = 0; i < bn->npubs; i++)
		if (pub_has_quota(bn->pubs[i]) || !bn->pubs[i]->ready)
			all_sent = false;
	if (!all_sent && !bn->draining)
		return false;
	if (!bn->sent_done_ns)
		bn->sent_done_ns = t;
	if (bn->distinct_total >= bn->expected_total) {
		for (uint32_t i = 0; i < bn->npubs; i++)
			if (client_inflight(&bn->pubs[i]->mc))
				return t - bn->sent_done_ns > QUIET_NS; /* wait for the last acks */
		return true;
	}
	/* A publish the broker has not acknowledged may still be delivered:
	 * wait (the deadline and the drain bound it). Otherwise stop once
	 * nothing has arrived for a while, counting from the last send too. */
	for (uint32_t i = 0; i < bn->npubs; i++)
		if (client_inflight(&bn->pubs[i]->mc))
			return false;
	return t - (bn->last_progress_ns > bn->sent_done_ns ? bn->last_progress_ns
							     : bn->sent_done_ns) >
	       QUIET_NS;
}

/* After end_run: once every connection is closed, the loop's handles. */
static void close_when_done(struct bench *bn)
{
	uint32_t started = 0;

	for (uint32_t i = 0; i < bn->nconns; i++)
		started += bn->conns[i]->started;
	if (bn->phase != PH_CLOSE || bn->closed < started || bn->handles_closed)
		return;
	bn->handles_closed = true;
	uv_timer_stop(&bn->timer);
	uv_close((uv_handle_t *)&bn->timer, NULL);
	client_loop_close(&bn->cl);
}

static void end_run(struct bench *bn)
{
	uint64_t end;

	if (bn->o->scenario == BENCH_CONNS) {
		bn->r->connections = bn->ready; /* however the run ended */
		if (bn->ready == 0)
			fail(bn, "no connection could be opened", NULL);
	}
	/* Rates are over the time messages flowed: up to the last delivery,
	 * not the quiet wait or drain that confirmed the run was over. */
	end = now_ns();
	if (bn->o->scenario != BENCH_CONNS && bn->last_progress_ns > bn->t0_ns &&
	    bn->distinct_total)
		end = bn->last_progress_ns;
	bn->r->elapsed_s = (double)(end - bn->t0_ns) / 1e9;
	/* conns: after the hold, so what is measured is idle connections. */
	bn->r->broker_after = broker_sample(bn->o);
	bn->r->self_after = proc_sample_read(0);
	bn->phase = PH_CLOSE;
	/* DISCONNECT from every connection, closed once written (the layer
	 * bounds the wait); the loop's handles close after the last one. */
	for (uint32_t i = 0; i < bn->nconns; i++)
		if (bn->conns[i]->started)
			client_disconnect(&bn->conns[i]->mc, 0, NULL);
	client_loop_flush(&bn->cl);
	close_when_done(bn);
}

static void step(struct bench *bn)
{
	uint64_t t = now_ns();
	const struct bench_opts *o = bn->o;

	if (bn->phase == PH_CLOSE)
		return;
	if (bn->failed) {
		end_run(bn);
		return;
	}
	if (bn->phase == PH_SEED) {
		/* retained: the seeder's messages are all acknowledged */
		struct bconn *seeder = bn->conns[0];

		if (seeder->ready && seeder->sent == o->retained && !client_inflight(&seeder->mc)) {
			begin_measure(bn); /* the subscribe storm starts now */
			bn->connect_next = 1;
		} else if (seeder->ready) {
			/* as fast as the layer's window of packet ids lets it */
			while (seeder->sent < o->retained && publish_one(seeder))
				;
		}
	}
	if (o->scenario == BENCH_CONNS || (o->scenario == BENCH_RETAINED && bn->phase == PH_RUN))
		connect_more(bn, bn->nconns, t);
	else if (bn->phase == PH_SUBSCRIBE)
		connect_more(bn, bn->nsubs, t);
	else if (bn->phase == PH_PUBLISHERS)
		connect_more(bn, bn->nconns, t);
	if (bn->phase != PH_RUN && o->scenario != BENCH_CONNS &&
	    t - bn->start_ns > CONNECT_TIMEOUT_NS) {
		fail(bn, "connecting and subscribing took more than 10 s", "");
		end_run(bn);
		return;
	}
	if (bn->phase == PH_RUN || (o->scenario == BENCH_CONNS && bn->r->connect_s)) {
		if (o->scenario == BENCH_CONNS) {
			if (t >= bn->deadline_ns) {
				bn->r->connections = bn->ready;
				end_run(bn);
				return;
			}
		} else {
			if (o->scenario != BENCH_RETAINED) {
				if (o->rate > 0)
					fill_rate(bn, t);
				else
					fill_window(bn);
			}
			if (!o->rate && o->scenario != BENCH_RETAINED && o->qos == 0 &&
			    t - bn->last_progress_ns > QUIET_NS &&
			    t - bn->last_writeoff_ns > QUIET_NS) {
				/* A lost QoS 0 message would hold the window forever.
				 * last_progress_ns stays: run_finished's quiet rule
				 * still ends a run whose last messages were lost. */
				refresh_window(bn);
				bn->written_off += bn->window_used;
				bn->window_used = 0;
				bn->last_writeoff_ns = t;
			}
			if (run_finished(bn, t)) {
				end_run(bn);
				return;
			}
		}
	} else if (o->scenario == BENCH_CONNS && t - bn->t0_ns > (uint64_t)(o->duration * 1e9)) {
		bn->r->connections = bn->ready;
		bn->r->timed_out = true;
		end_run(bn);
		return;
	}
}

/* Once per loop turn, before the client layer writes the output. */
static void on_turn(struct client_loop *l)
{
	step(l->data);
}

/* Pacing and bounds when nothing arrives; the output is written here,
 * since the loop may next block in poll. */
static void on_timer(uv_timer_t *h)
{
	struct bench *bn = h->data;

	step(bn);
	client_loop_flush(&bn->cl);
}

/* ---- setup ---- */

static void make_topics(struct bench *bn)
{
	const struct bench_opts *o = bn->o;
	uint32_t n = o->scenario == BENCH_RETAINED ? o->retained : o->topics;

	bn->topics = xcalloc(n ? n : 1, sizeof(char *));
	for (uint32_t i = 0; i < n; i++) {
		char t[128];
		if (o->scenario == BENCH_RETAINED)
			snprintf(t, sizeof(t), "%s/r/%u", o->topic_prefix, i);
		else
			snprintf(t, sizeof(t), "%s/t/%u", o->topic_prefix, i);
		bn->topics[i] = xstrdup(t);
	}
}

static void build_clients(struct bench *bn)
{
	const struct bench_opts *o = bn->o;
	uint32_t total;

	if (o->scenario == BENCH_CONNS) {
		bn->conns = xcalloc(o->connections, sizeof(*bn->conns));
		for (uint32_t i = 0; i < o->connections; i++)
			new_conn(bn, ROLE_IDLE, i, 0);
		return;
	}
	if (o->scenario == BENCH_RETAINED) {
		bn->conns = xcalloc(1 + o->subscribers, sizeof(*bn->conns));
		bn->subs = xcalloc(o->subscribers, sizeof(*bn->subs));
		new_conn(bn, ROLE_SEEDER, 0, 0);
		for (uint32_t i = 0; i < o->subscribers; i++)
			bn->subs[bn->nsubs++] = new_conn(bn, ROLE_SUB, i, 0);
		return;
	}
	total = o->publishers + o->subscribers;
	bn->conns = xcalloc(total, sizeof(*bn->conns));
	bn->subs = xcalloc(o->subscribers, sizeof(*bn->subs));
	bn->pubs = xcalloc(o->publishers, sizeof(*bn->pubs));
	bn->fan = xcalloc(o->publishers, sizeof(*bn->fan));
	bn->topic_sent = xcalloc(o->topics, sizeof(*bn->topic_sent));
	bn->topic_slowest = xcalloc(o->topics, sizeof(*bn->topic_slowest));
	bn->topic_subs = xcalloc(o->topics, sizeof(*bn->topic_subs));
	/* Subscribers first: they connect and subscribe before anyone publishes. */
	for (uint32_t i = 0; i < o->subscribers; i++) {
		struct bconn *c = new_conn(bn, ROLE_SUB, i, i % o->topics);
		bn->topic_subs[c->topic]++;
		c->tracks = xmalloc(o->publishers * sizeof(*c->tracks));
		for (uint32_t p = 0; p < o->publishers; p++)
			seqtrack_init(&c->tracks[p]);
		bn->subs[bn->nsubs++] = c;
	}
	for (uint32_t i = 0; i < o->publishers; i++) {
		struct bconn *c = new_conn(bn, ROLE_PUB, i, i % o->topics);
		/* -n below -P leaves some publishers with nothing to send. */
		c->quota = o->count ? o->count / o->publishers + (i < o->count % o->publishers)
				    : UINT64_MAX;
		bn->pubs[bn->npubs++] = c;
		for (uint32_t s = 0; s < o->subscribers; s++)
			bn->fan[i] += bn->subs[s]->topic == c->topic;
	}
}

static void account(struct bench *bn)
{
	struct bench_result *r = bn->r;

	r->sent = bn->sent_total;
	r->expected = bn->expected_total;
	r->delivered = bn->delivered_total;
	if (bn->o->scenario == BENCH_RETAINED) {
		r->sent = bn->o->retained;
		r->expected = (uint64_t)bn->nsubs * bn->o->retained;
		r->lost = r->expected > r->delivered ? r->expected - r->delivered : 0;
		return;
	}
	for (uint32_t s = 0; s < bn->nsubs; s++) {
		struct bconn *c = bn->subs[s];
		for (uint32_t p = 0; p < bn->npubs; p++) {
			struct seqtrack *t = &c->tracks[p];
			if (bn->pubs[p]->topic != c->topic)
				continue;
			seqtrack_finish(t, bn->pubs[p]->sent);
			r->lost += t->lost;
			r->duplicates += t->duplicates;
			r->out_of_order += t->out_of_order;
		}
	}
	for (uint32_t p = 0; p < bn->npubs; p++)
		r->acks_missing += client_inflight(&bn->pubs[p]->mc);
}

static void free_all(struct bench *bn)
{
	for (uint32_t i = 0; i < bn->nconns; i++) {
		struct bconn *c = bn->conns[i];
		free(c->tracks);
		free(c);
	}
	if (bn->topics) {
		uint32_t n = bn->o->scenario == BENCH_RETAINED ? bn->o->retained : bn->o->topics;
		for (uint32_t i = 0; i < n; i++)
			free(bn->topics[i]);
	}
	free(bn->topics);
	free(bn->conns);
	free(bn->subs);
	free(bn->pubs);
	free(bn->fan);
	free(bn->topic_sent);
	free(bn->topic_slowest);
	free(bn->topic_subs);
	free(bn->payload);
}

int bench_run(const struct bench_opts *o, struct bench_result *r)
{
	struct bench *bn = xcalloc(1, sizeof(*bn));
	int rc;

	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	fdlimit_raise((uint64_t)o->connections + o->publishers + o->subscribers + 64);
	bn->o = o;
	bn->r = r;
	bn->payload = xcalloc(1, o->payload);
	uv_loop_init(&bn->loop);
	client_loop_init(&bn->cl, &bn->loop);
	bn->cl.turn = on_turn;
	bn->cl.data = bn;
	if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&bn->addr) != 0 &&
	    uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&bn->addr) != 0)
		fail(bn, "--host is not a numeric address", o->host);
	bn->start_ns = now_ns();
	bn->t0_ns = bn->start_ns;
	make_topics(bn);
	build_clients(bn);
	bn->phase = o->scenario == BENCH_RETAINED ? PH_SEED
		    : o->scenario == BENCH_CONNS  ? PH_PUBLISHERS
						  : PH_SUBSCRIBE;
	if (o->scenario == BENCH_RETAINED && !bn->failed) {
		start_connect(bn, bn->conns[0]);
		bn->connect_next = 1;
	}
	if (o->scenario == BENCH_CONNS) {
		bn->r->broker_before = broker_sample(o);
		bn->r->self_before = proc_sample_read(0);
		bn->deadline_ns = UINT64_MAX;
	}
	uv_timer_init(&bn->loop, &bn->timer);
	bn->timer.data = bn;
	uv_timer_start(&bn->timer, on_timer, TICK_MS, TICK_MS);
	uv_run(&bn->loop, UV_RUN_DEFAULT);
	account(bn);
	rc = bn->failed ? -1 : 0;
	uv_loop_close(&bn->loop);
	client_loop_release(&bn->cl);
	free_all(bn);
	free(bn);
	return rc;
}
