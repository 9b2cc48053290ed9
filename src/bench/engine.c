/*
 * engine.c - the bench's clients and the phases of a run.
 *
 * Phases: subscribers connect and subscribe; publishers connect; the
 * measured phase publishes (paced by --rate, or keeping --window messages in
 * flight end to end) until --count messages are sent and delivered, or the
 * --duration bound; then every connection sends DISCONNECT and closes.
 * Like the broker, a client's output accumulates during a loop turn and is
 * written with one uv_write from a uv_check handle.
 */
#include "bench.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/fdlimit.h"
#include "mqtt/mqtt.h"
#include "seqtrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PAYLOAD_MAGIC 0x41474f52u /* "AGOR" */
#define READ_CHUNK (64 * 1024)
#define TICK_MS 1
#define CONNECT_TIMEOUT_NS (10 * 1000000000ull)
#define QUIET_NS (1000000000ull) /* QoS 0: a full window that stays quiet this long is written off */
#define MAX_CONNECTS_IN_FLIGHT 256
#define DRAIN_NS (5 * 1000000000ull) /* after the deadline: wait this long for what is in flight */

enum role { ROLE_PUB, ROLE_SUB, ROLE_IDLE, ROLE_SEEDER };
enum phase { PH_SUBSCRIBE, PH_PUBLISHERS, PH_SEED, PH_RUN, PH_CLOSE };

struct bench;

struct bconn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	struct bench *bn;
	enum role role;
	uint32_t index;
	uint32_t topic;
	uint8_t *rbuf;
	size_t rlen;
	uint32_t rcap;
	uint8_t *wbuf, *fbuf;     /* filling, in flight */
	size_t wlen;
	uint32_t wcap, fcap;
	bool writing, dirty, ready, closing, started;
	uint64_t sent, quota, unacked; /* quota: messages to send, UINT64_MAX = until the deadline */
	uint16_t next_pid;
	struct seqtrack *tracks;  /* subscriber: one per publisher */
	uint64_t received;
	uint64_t subscribed_ns;   /* retained: when SUBSCRIBE went out */
	struct bconn *dirty_next;
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
	uv_check_t check;
	uv_timer_t timer;
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
	struct bconn *dirty_head;
	uint8_t *payload;         /* template */
	uint8_t readbuf[READ_CHUNK];
	bool failed;
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

/* ---- output ---- */

static void mark_dirty(struct bconn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->bn->dirty_head;
	c->bn->dirty_head = c;
}

static uint8_t *out_reserve(struct bconn *c, size_t len)
{
	ARRAY_GROW(c->wbuf, c->wcap, c->wlen + len, 4096, ARRAY_MAX);
	mark_dirty(c);
	return c->wbuf + c->wlen;
}

static void out_packet(struct bconn *c, const struct mqtt_packet *p)
{
	long size = mqtt_encoded_size(p, c->bn->o->protocol);
	uint8_t *dst = out_reserve(c, (size_t)size);

	c->wlen += (size_t)mqtt_encode(p, c->bn->o->protocol, dst, (size_t)size);
}

static void out_ack(struct bconn *c, uint8_t type, uint16_t id)
{
	uint8_t *d = out_reserve(c, 4);

	d[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0));
	d[1] = 2;
	d[2] = (uint8_t)(id >> 8);
	d[3] = (uint8_t)id;
	c->wlen += 4;
}

static void on_closed(uv_handle_t *h)
{
	struct bconn *c = h->data;
	c->bn->closed++;
}

static void conn_close(struct bconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct bconn *c = req->data;

	c->writing = false;
	if (status < 0 && !c->closing) {
		if (c->bn->phase != PH_CLOSE)
			fail(c->bn, "write failed", uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->wlen && !c->closing)
		mark_dirty(c); /* output queued while this write was in flight */
}

static void flush(struct bconn *c)
{
	uv_buf_t buf;
	uint8_t *t;
	uint32_t tc;

	if (c->writing || !c->wlen || c->closing)
		return;
	/* Swap the filling buffer with the idle one and write it. */
	t = c->fbuf;
	tc = c->fcap;
	c->fbuf = c->wbuf;
	c->fcap = c->wcap;
	buf = uv_buf_init((char *)c->fbuf, (unsigned)c->wlen);
	c->wbuf = t;
	c->wcap = tc;
	c->wlen = 0;
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_written) == 0)
		c->writing = true;
}

static void flush_dirty(struct bench *bn)
{
	while (bn->dirty_head) {
		struct bconn *c = bn->dirty_head;

		bn->dirty_head = c->dirty_next;
		c->dirty = false;
		flush(c); /* if a write is in flight, on_written marks it again */
	}
}

/* ---- publishing ---- */

static void publish_one(struct bconn *c)
{
	struct bench *bn = c->bn;
	const struct bench_opts *o = bn->o;
	struct mqtt_publish p = { 0 };
	uint8_t *dst;
	long n;
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
	if (p.qos) {
		p.packet_id = c->next_pid;
		c->next_pid = c->next_pid == UINT16_MAX ? 1 : c->next_pid + 1;
		c->unacked++;
	}
	p.payload_len = o->payload;
	/* MQTT 5 adds one byte: an empty property block. */
	dst = out_reserve(c, MQTT_MAX_HEADER + 5 + p.topic.len + o->payload);
	n = mqtt_encode_publish_header(&p, o->protocol, dst, MQTT_MAX_HEADER + 5 + p.topic.len);
	memcpy(dst + n, bn->payload, o->payload);
	memcpy(dst + n, &c->index, 4);
	memcpy(dst + n + 4, &magic, 4);
	memcpy(dst + n + 8, &seq, 8);
	memcpy(dst + n + 16, &t, 8);
	c->wlen += (size_t)n + o->payload;
	c->sent++;
	if (c->role == ROLE_PUB) {
		bn->sent_total++;
		bn->expected_total += bn->fan[c->index];
		bn->topic_sent[c->topic]++;
		if (bn->topic_subs[c->topic])
			bn->window_used++;
	}
}

static bool pub_has_quota(const struct bconn *c)
{
	return c->ready && !c->closing && !c->bn->draining &&
	       c->sent < c->quota;
}

/* Next publisher with messages left, round robin; NULL when all are done. */
static struct bconn *next_publisher(struct bench *bn)
{
	for (uint32_t k = 0; k < bn->npubs; k++) {
		struct bconn *c = bn->pubs[(bn->pub_cursor + k) % bn->npubs];
		if (pub_has_quota(c)) {
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

static void send_subscribe(struct bconn *c)
{
	struct bench *bn = c->bn;
	const char *topic = bn->o->scenario == BENCH_RETAINED ? "" : bn->topics[c->topic];
	char filter[128];
	uint8_t body[160];
	size_t flen;
	struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };

	if (bn->o->scenario == BENCH_RETAINED)
		snprintf(filter, sizeof(filter), "%s/r/#", bn->o->topic_prefix);
	else
		snprintf(filter, sizeof(filter), "%s", topic);
	flen = strlen(filter);
	body[0] = (uint8_t)(flen >> 8);
	body[1] = (uint8_t)flen;
	memcpy(body + 2, filter, flen);
	body[2 + flen] = bn->o->scenario == BENCH_RETAINED ? 1 : bn->o->qos;
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.filters.data = body;
	p.u.subscribe.filters.len = (uint32_t)(flen + 3);
	p.u.subscribe.filters.count = 1;
	p.u.subscribe.filters.with_options = true;
	out_packet(c, &p);
	c->subscribed_ns = now_ns();
}

static void became_ready(struct bconn *c)
{
	c->ready = true;
	c->bn->ready++;
	start_when_ready(c->bn);
}

static void handle_packet(struct bconn *c, const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNACK:
		if (p->u.connack.return_code != 0) {
			fail(c->bn, "broker refused CONNECT", "return code");
			return;
		}
		if (c->role == ROLE_SUB)
			send_subscribe(c);
		else
			became_ready(c);
		break;
	case MQTT_SUBACK:
		if (p->u.suback.count < 1 || p->u.suback.codes[0] >= MQTT_SUBACK_FAILURE)
			fail(c->bn, "broker refused SUBSCRIBE", "");
		else if (c->bn->o->scenario != BENCH_RETAINED)
			became_ready(c);
		break;
	case MQTT_PUBLISH:
		record_delivery(c, &p->u.publish);
		if (p->u.publish.qos == 1)
			out_ack(c, MQTT_PUBACK, p->u.publish.packet_id);
		else if (p->u.publish.qos == 2)
			out_ack(c, MQTT_PUBREC, p->u.publish.packet_id);
		break;
	case MQTT_PUBREL:
		out_ack(c, MQTT_PUBCOMP, p->u.ack.packet_id);
		break;
	case MQTT_PUBREC:
		out_ack(c, MQTT_PUBREL, p->u.ack.packet_id);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBCOMP:
		if (c->unacked)
			c->unacked--;
		break;
	default:
		break;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct bconn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->bn->readbuf, READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct bconn *c = s->data;
	const uint8_t *data = (const uint8_t *)buf->base;
	size_t len = (size_t)nread, pos = 0;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (c->bn->phase != PH_CLOSE)
			fail(c->bn, "broker closed a connection", uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (c->rlen) {
		ARRAY_GROW(c->rbuf, c->rcap, c->rlen + len, 4096, ARRAY_MAX);
		memcpy(c->rbuf + c->rlen, data, len);
		c->rlen += len;
		data = c->rbuf;
		len = c->rlen;
	}
	while (pos < len) {
		struct mqtt_packet p;
		long n = mqtt_decode(data + pos, len - pos, c->bn->o->protocol, 0, &p);

		if (n == MQTT_ERR_NEED_MORE)
			break;
		if (n < 0) {
			fail(c->bn, "malformed packet from the broker", mqtt_strerror((int)n));
			conn_close(c);
			return;
		}
		handle_packet(c, &p);
		pos += (size_t)n;
	}
	if (pos < len) {
		size_t rest = len - pos;
		if (data != c->rbuf)
			ARRAY_GROW(c->rbuf, c->rcap, rest, 4096, ARRAY_MAX);
		memmove(c->rbuf, data + pos, rest);
		c->rlen = rest;
	} else {
		c->rlen = 0;
	}
}

/* ---- connecting ---- */

static void send_connect(struct bconn *c)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };
	char id[48];
	static const char *const role_names[] = { "pub", "sub", "idle", "seed" };

	snprintf(id, sizeof(id), "bench-%s-%u-%llx", role_names[c->role], c->index,
		 (unsigned long long)(c->bn->start_ns & 0xffffff));
	p.u.connect.protocol_name.data = (const uint8_t *)"MQTT";
	p.u.connect.protocol_name.len = 4;
	p.u.connect.level = c->bn->o->protocol;
	p.u.connect.clean_session = true;
	p.u.connect.keepalive = c->role == ROLE_IDLE ? 0 : 60;
	p.u.connect.client_id.data = (const uint8_t *)id;
	p.u.connect.client_id.len = (uint16_t)strlen(id);
	out_packet(c, &p);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct bconn *c = req->data;
	struct bench *bn = c->bn;

	bn->connects_in_flight--;
	if (status < 0) {
		conn_close(c);
		if (bn->o->scenario == BENCH_CONNS) {
			bn->r->connect_failures++;
			start_when_ready(bn); /* the last attempt may have been this one */
		} else {
			fail(bn, "cannot connect to the broker", uv_strerror(status));
		}
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	send_connect(c);
}

static void start_connect(struct bench *bn, struct bconn *c)
{
	struct sockaddr_storage addr;
	int rc;

	if (uv_ip4_addr(bn->o->host, bn->o->port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(bn->o->host, bn->o->port, (struct sockaddr_in6 *)&addr) != 0) {
		fail(bn, "--host is not a numeric address", bn->o->host);
		return;
	}
	uv_tcp_init(&bn->loop, &c->tcp);
	c->tcp.data = c;
	c->creq.data = c;
	c->started = true;
	bn->connects_in_flight++;
	rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connected);
	if (rc < 0) {
		bn->connects_in_flight--;
		fail(bn, "cannot connect to the broker", uv_strerror(rc)); /* e.g. too many open files */
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		c->closing = true;
	}
}

static struct bconn *new_conn(struct bench *bn, enum role role, uint32_t index, uint32_t topic)
{
	struct bconn *c = xcalloc(1, sizeof(*c));

	c->bn = bn;
	c->role = role;
	c->index = index;
	c->topic = topic;
	c->next_pid = 1;
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
			if (bn->pubs[i]->unacked)
				return t - bn->sent_done_ns > QUIET_NS; /* wait for the last acks */
		return true;
	}
	/* A publish the broker has not acknowledged may still be delivered:
	 * wait (the deadline and the drain bound it). Otherwise stop once
	 * nothing has arrived for a while, counting from the last send too. */
	for (uint32_t i = 0; i < bn->npubs; i++)
		if (bn->pubs[i]->unacked)
			return false;
	return t - (bn->last_progress_ns > bn->sent_done_ns ? bn->last_progress_ns
							     : bn->sent_done_ns) >
	       QUIET_NS;
}

static void end_run(struct bench *bn)
{
	uint64_t end;

	if (bn->o->scenario == BENCH_CONNS) {
		bn->r->connections = bn->ready; /* however the run ended */
		if (bn->ready == 0)
			fail(bn, "no connection could be opened", NULL);
	}
	struct mqtt_packet p = { .type = MQTT_DISCONNECT };

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
	for (uint32_t i = 0; i < bn->nconns; i++) {
		struct bconn *c = bn->conns[i];
		if (c->started && !c->closing)
			out_packet(c, &p);
	}
	flush_dirty(bn);
	for (uint32_t i = 0; i < bn->nconns; i++)
		if (bn->conns[i]->started)
			conn_close(bn->conns[i]);
	uv_timer_stop(&bn->timer);
	uv_close((uv_handle_t *)&bn->timer, NULL);
	uv_close((uv_handle_t *)&bn->check, NULL);
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
		if (bn->conns[0]->ready && bn->conns[0]->sent == o->retained &&
		    !bn->conns[0]->unacked) {
			begin_measure(bn); /* the subscribe storm starts now */
			bn->connect_next = 1;
		} else if (bn->conns[0]->ready) {
			while (bn->conns[0]->sent < o->retained)
				publish_one(bn->conns[0]);
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
	flush_dirty(bn);
}

static void on_check(uv_check_t *h)
{
	step(h->data);
}

static void on_timer(uv_timer_t *h)
{
	step(h->data);
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
		r->acks_missing += bn->pubs[p]->unacked;
}

static void free_all(struct bench *bn)
{
	for (uint32_t i = 0; i < bn->nconns; i++) {
		struct bconn *c = bn->conns[i];
		free(c->rbuf);
		free(c->wbuf);
		free(c->fbuf);
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
	bn->start_ns = now_ns();
	bn->t0_ns = bn->start_ns;
	make_topics(bn);
	build_clients(bn);
	bn->phase = o->scenario == BENCH_RETAINED ? PH_SEED
		    : o->scenario == BENCH_CONNS  ? PH_PUBLISHERS
						  : PH_SUBSCRIBE;
	if (o->scenario == BENCH_RETAINED) {
		start_connect(bn, bn->conns[0]);
		bn->connect_next = 1;
	}
	if (o->scenario == BENCH_CONNS) {
		bn->r->broker_before = broker_sample(o);
		bn->r->self_before = proc_sample_read(0);
		bn->deadline_ns = UINT64_MAX;
	}
	uv_check_init(&bn->loop, &bn->check);
	bn->check.data = bn;
	uv_check_start(&bn->check, on_check);
	uv_timer_init(&bn->loop, &bn->timer);
	bn->timer.data = bn;
	uv_timer_start(&bn->timer, on_timer, TICK_MS, TICK_MS);
	uv_run(&bn->loop, UV_RUN_DEFAULT);
	account(bn);
	rc = bn->failed ? -1 : 0;
	uv_loop_close(&bn->loop);
	free_all(bn);
	free(bn);
	return rc;
}
