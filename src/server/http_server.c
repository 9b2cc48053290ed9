/*
 * http_server.c - HTTP/1.1 on the connection layer (http_server.h).
 *
 * Bytes read go to the connection's http_reader; each complete request is
 * answered by api_handle, its answer appended to the connection's output
 * (the head copied, a static body by reference), which the layer writes
 * once per loop turn: pipelined answers go out together, in order. Slow
 * work (password hashing) runs on libuv's thread pool while the
 * connection's input is paused. Time limits: a request must arrive whole
 * within request_timeout of its first byte (408, then close: a client that
 * trickles bytes cannot hold a connection), and an idle keep-alive
 * connection is closed after idle_timeout. A client that does not read its
 * answers stops being read once MAX_UNSENT bytes wait for it.
 *
 * Closing after an answer (an early error such as 413, 431 or 408, or
 * "Connection: close") is the layer's lingering close (NET_CLOSE_LINGER,
 * nginx's): the write side is shut once the answer is out, and what the
 * client still sends is read and dropped, within linger_bytes and
 * linger_time (linger_timeout between two reads). Closing at once would
 * make the kernel answer the client's further bytes with a reset, which
 * destroys the answer the client has not read yet (a client still sending
 * a body the server refused never sees the 413).
 */
#include "http_server.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"
#include "base/text.h"
#include "http/http.h"
#include "http/websocket.h"
#include "mqtt_service.h"
#include "tls_setup.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_UNSENT (1024 * 1024)

struct http_server {
	struct net_service svc;
	struct net *net;
	struct http_config cfg;
	struct http_limits lim;
	struct api *api;
	struct outbuf_pool *bufs;   /* the answers' storage (the broker's pool) */
	uv_buf_t *iov;              /* one scratch array for every write (net_out) */
	uint32_t iov_cap;
	uint64_t requests;
	bool stopping;
	bool ws_only;               /* websocket_listener: GET /mqtt and nothing else */
	struct mqtt_service *mqtt;  /* GET /mqtt's (NULL: 404) */
	uint64_t ws_max_message;
	char date[40];
	time_t date_at;
};

/* One connection's HTTP state. Its answers are queued in `out`; the layer
 * writes them from `sending` (the two swap, each keeping its storage, so
 * an answer costs no allocation and no trip through the pool). */
struct hconn {
	struct net_conn *conn;  /* NULL once closed (freed when nothing else is out) */
	struct http_server *hs;
	struct http_reader rd;
	struct outbuf out;      /* answers not yet handed to the layer */
	struct outbuf sending;  /* handed to the layer as wout, until released */
	struct net_out wout;
	bool sending_busy;      /* wout is the layer's */
	bool timing_request;    /* the request timeout runs */
	bool continue_sent;
	bool waiting;           /* a request's slow work runs on a worker thread */
	bool backlogged;        /* input paused: MAX_UNSENT bytes wait for the client */
	bool last;              /* the last answer is queued: closing */
	bool peer_done;         /* the client shut its side: close once answered */
	bool loopback;          /* accepted on a loopback listener */
	char peer[64];          /* address only, for logs and rate limits */
};

/* A request's api_job on libuv's thread pool. */
struct hjob {
	uv_work_t req;
	struct hconn *h;
	struct api_job *job;
	uint64_t t0;
	size_t route; /* for api_observe */
};

/* The Date header, formatted once a second. */
static const char *http_date(struct http_server *hs)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != hs->date_at && gmtime_r(&now, &tm)) {
		strftime(hs->date, sizeof(hs->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		hs->date_at = now;
	}
	return hs->date;
}

/* Frees h once the connection is closed and neither a job nor a write
 * still refers to it. */
static void hconn_maybe_free(struct hconn *h)
{
	if (h->conn || h->waiting || h->sending_busy)
		return;
	http_reader_release(&h->rd);
	outbuf_release(&h->out);
	outbuf_release(&h->sending);
	free(h);
}

static struct hconn *hconn_new(struct http_server *hs, struct net_conn *conn)
{
	struct hconn *h = xcalloc(1, sizeof(*h));

	h->conn = conn;
	h->hs = hs;
	http_reader_init(&h->rd, &hs->lim);
	outbuf_init(&h->out, hs->bufs);
	outbuf_init(&h->sending, hs->bufs);
	net_conn_peer(conn, h->peer, sizeof(h->peer), false);
	net_conn_set_state(conn, h);
	return h;
}

/* ---- answers ---- */

static size_t unsent(const struct hconn *h)
{
	return h->out.total + net_conn_queued(h->conn);
}

/* Queues rs (released here). Without keep_alive (or with rs->close) it is
 * the connection's last answer: the lingering close follows, the answer
 * having idle_timeout to be taken. */
static void send_response(struct hconn *h, struct http_response *rs, bool head, bool keep_alive)
{
	struct http_write_opts o = { .head = head, .keep_alive = keep_alive,
				     .date = http_date(h->hs) };
	bool with_body = !head && rs->body_len && rs->status != 204;
	/* a static body by reference; any other is copied after the head */
	bool by_ref = with_body && rs->body_static && !rs->body_borrowed;
	size_t copied = with_body && !by_ref ? rs->body_len : 0;
	size_t cap = http_response_head_size(rs);
	char *at = (char *)outbuf_reserve(&h->out, cap + copied);
	size_t n = http_response_write_head(rs, &o, at, cap);

	if (n == 0) { /* cannot happen: head_size bounds it */
		http_response_release(rs);
		net_conn_close(h->conn, NET_CLOSE_NOW);
		return;
	}
	if (copied)
		memcpy(at + n, rs->body ? rs->body : (const char *)rs->body_static, copied);
	outbuf_commit(&h->out, n + copied);
	if (by_ref)
		outbuf_append_static(&h->out, rs->body_static, rs->body_len);
	net_conn_want_write(h->conn);
	if (!keep_alive || rs->close) {
		h->last = true;
		net_conn_deadline(h->conn, h->hs->cfg.idle_timeout_ms);
		net_conn_close(h->conn, NET_CLOSE_LINGER);
	}
	http_response_release(rs);
}

static void send_error(struct hconn *h, int status, const char *why)
{
	struct http_response rs;

	http_response_init(&rs);
	http_response_error(&rs, status, NULL, "%s", why);
	log_info("http %s - - %d (%s)", h->peer, status, why);
	send_response(h, &rs, false, false);
}

/* The access-log line: "http PEER METHOD TARGET STATUS BYTES MICROSECONDSus",
 * put together without printf (it is written for every request). */
static void access_log(const struct hconn *h, int status, size_t bytes, uint64_t ns)
{
	const struct http_request *rq = &h->rd.rq;
	char line[1024];
	struct text_fixed t = { .buf = line, .cap = sizeof(line) };

	TEXT_PUT_LIT(&t, "http ");
	text_put_str(&t, h->peer);
	TEXT_PUT_LIT(&t, " ");
	text_put_str(&t, rq->method);
	TEXT_PUT_LIT(&t, " ");
	text_put_str(&t, rq->target);
	TEXT_PUT_LIT(&t, " ");
	text_put_uint(&t, (uint64_t)status);
	TEXT_PUT_LIT(&t, " ");
	text_put_uint(&t, bytes);
	TEXT_PUT_LIT(&t, " ");
	text_put_uint(&t, (ns + 500) / 1000);
	TEXT_PUT_LIT(&t, "us");
	log_text(LOG_INFO, line, t.len);
}

/* The answer to h's current request goes out (rs taken over). */
static void finish_request(struct hconn *h, struct http_response *rs, size_t route, uint64_t t0)
{
	struct http_server *hs = h->hs;
	const struct http_request *rq = &h->rd.rq;
	bool head = strcmp(rq->method, "HEAD") == 0;
	uint64_t ns = uv_hrtime() - t0;
	bool keep_alive = rq->keep_alive && !hs->stopping;

	api_observe(hs->api, route, rs->status, (double)ns / 1e9);
	hs->requests++;
	if (log_enabled(LOG_INFO))
		access_log(h, rs->status, head ? 0 : rs->body_len, ns);
	send_response(h, rs, head, keep_alive);
}

/* ---- requests ---- */

static void job_run(uv_work_t *req)
{
	struct hjob *w = req->data;

	w->job->run(w->job); /* a worker thread: the job's own data only */
}

static void on_job_done(uv_work_t *req, int status)
{
	struct hjob *w = req->data;
	struct hconn *h = w->h;
	struct http_server *hs = h->hs;
	struct http_response rs;

	h->waiting = false;
	if (!h->conn) {
		/* the client left meanwhile: nothing to answer */
		w->job->free(w->job);
		free(w);
		hconn_maybe_free(h);
		return;
	}
	http_response_init(&rs);
	hs->api->now_ms = wall_clock_ms();
	hs->api->peer = h->peer;
	if (status < 0 || hs->stopping) {
		http_response_error(&rs, 503, NULL, "the server is stopping");
		rs.close = true;
	} else {
		w->job->finish(hs->api, w->job, &rs);
	}
	w->job->free(w->job);
	finish_request(h, &rs, w->route, w->t0);
	free(w);
	http_reader_next(&h->rd);
	h->timing_request = false;
	h->continue_sent = false;
	if (!h->last)
		net_conn_pause(h->conn, false); /* pipelined requests that waited, first */
	if (h->peer_done && !h->waiting && h->conn)
		net_conn_close(h->conn, NET_CLOSE_AFTER_WRITE);
}

/* Answers h's current request; false when its work went to the thread
 * pool (the answer comes from on_job_done). */
static bool handle_request(struct hconn *h)
{
	struct http_server *hs = h->hs;
	struct http_response rs;
	uint64_t t0 = uv_hrtime();
	size_t route = SIZE_MAX; /* "other" */
	struct hjob *w;

	http_response_init(&rs);
	hs->api->now_ms = wall_clock_ms();
	hs->api->peer = h->peer;
	if (hs->stopping) {
		http_response_error(&rs, 503, NULL, "the server is stopping");
		rs.close = true;
	} else {
		route = api_handle(hs->api, &h->rd.rq, &rs);
	}
	if (!hs->api->deferred) {
		finish_request(h, &rs, route, t0);
		return true;
	}
	http_response_release(&rs);
	w = xcalloc(1, sizeof(*w));
	w->h = h;
	w->job = hs->api->deferred;
	w->t0 = t0;
	w->route = route;
	w->req.data = w;
	hs->api->deferred = NULL;
	h->waiting = true;
	uv_queue_work(net_loop(hs->net), &w->req, job_run, on_job_done);
	return false;
}

/* ---- MQTT over WebSocket ---- */

/* The 101 answer (after any answer queued and not yet handed out), then
 * the connection is the MQTT service's, framed by the WebSocket transport;
 * h is done with. */
static void ws_switch(struct hconn *h, struct broker_client *bc, const struct http_ws_handshake *w)
{
	struct http_server *hs = h->hs;
	char head[256];
	uv_buf_t iov[65];
	uint32_t k = 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
			 "Sec-WebSocket-Protocol: %s\r\n\r\n", w->accept, w->protocol);

	for (uint32_t i = 0; i < h->out.nsegs && k < 64; i++) /* pipelined answers first */
		iov[k++] = uv_buf_init((char *)outbuf_seg_data(&h->out, i), h->out.segs[i].len);
	iov[k++] = uv_buf_init(head, (unsigned)n);
	hs->requests++;
	if (log_enabled(LOG_INFO))
		access_log(h, 101, 0, 0);
	net_conn_upgrade_ws(h->conn, &hs->mqtt->svc, bc, iov, k, hs->ws_max_message);
	outbuf_reset(&h->out);
	h->conn = NULL;
	hconn_maybe_free(h);
}

static void ws_refuse(struct hconn *h, int status, const char *why)
{
	struct http_response rs;

	http_response_init(&rs);
	http_response_error(&rs, status, NULL, "%s", why);
	if (status == 426)
		http_response_header(&rs, "Sec-WebSocket-Version: 13");
	rs.close = true;
	finish_request(h, &rs, SIZE_MAX, uv_hrtime());
}

/* GET /mqtt: true when the connection was upgraded (no longer h's);
 * otherwise a refusal was answered. */
static bool ws_request(struct hconn *h)
{
	struct http_server *hs = h->hs;
	struct http_ws_handshake w;
	struct broker_client *bc;

	if (!hs->mqtt || hs->stopping) {
		ws_refuse(h, 503, "MQTT over WebSocket is not available");
		return false;
	}
	http_ws_handshake(&h->rd.rq, hs->cfg.websocket_origins, &w);
	if (w.status != 101) {
		ws_refuse(h, w.status, w.why);
		return false;
	}
	bc = mqtt_service_adopt(hs->mqtt, h->conn, h->loopback);
	if (!bc) {
		ws_refuse(h, 503, "too many MQTT connections (max_connections)");
		return false;
	}
	ws_switch(h, bc, &w);
	return true;
}

/* A complete request: GET /mqtt is the WebSocket upgrade; anything else
 * the API's (on the WebSocket listener: 404). Returns what handle_request
 * does, or -1 when the connection was upgraded. */
static int route_request(struct hconn *h)
{
	struct http_response rs;

	if (strcmp(h->rd.rq.path, "/mqtt") == 0)
		return ws_request(h) ? -1 : 1;
	if (!h->hs->ws_only)
		return handle_request(h);
	http_response_init(&rs);
	http_response_error(&rs, 404, NULL, "this listener serves MQTT over WebSocket at /mqtt");
	finish_request(h, &rs, SIZE_MAX, uv_hrtime());
	return 1;
}

/* After input was taken: the request's clock runs from its first byte (not
 * reset by later bytes); otherwise the connection is idle from now. */
static void arm_deadline(struct hconn *h)
{
	if (http_reader_busy(&h->rd)) {
		if (!h->timing_request)
			net_conn_deadline(h->conn, h->hs->cfg.request_timeout_ms);
		h->timing_request = true;
		return;
	}
	h->timing_request = false;
	net_conn_deadline(h->conn, h->hs->cfg.idle_timeout_ms);
}

/* Parses and answers every complete request in data, in order; returns
 * the bytes taken (the rest waits while the input is paused). */
static size_t http_input(struct net_conn *conn, const uint8_t *data, size_t len)
{
	struct hconn *h = net_conn_state(conn);
	size_t off = 0;

	while (off < len) {
		size_t used;
		enum http_read_status st = http_reader_feed(&h->rd, data + off, len - off, &used);

		off += used;
		if (st == HTTP_READ_MORE)
			break;
		if (st == HTTP_READ_ERROR) {
			send_error(h, h->rd.error_status, h->rd.error_why);
			return len; /* nothing more is parsed */
		}
		int routed = route_request(h);

		if (routed < 0)
			return off; /* upgraded: the rest is decoded as frames */
		if (!routed) {
			/* Its work is on a worker thread: nothing more is read or
			 * parsed on this connection, and no deadline runs, until
			 * the answer is out (on_job_done). */
			net_conn_deadline(conn, 0);
			net_conn_pause(conn, true);
			return off;
		}
		if (h->last)
			return len;
		http_reader_next(&h->rd);
		h->timing_request = false;
		h->continue_sent = false;
		if (unsent(h) >= MAX_UNSENT) {
			/* Not reading its answers: the rest waits (http_drained). */
			h->backlogged = true;
			net_conn_pause(conn, true);
			break;
		}
	}
	if (h->rd.expect_continue && !h->continue_sent) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		h->continue_sent = true;
		outbuf_append_static(&h->out, cont, sizeof(cont) - 1);
		net_conn_want_write(conn);
	}
	arm_deadline(h);
	return off;
}

static void http_sent(struct net_out *out)
{
	struct hconn *h = (struct hconn *)(void *)((char *)out - offsetof(struct hconn, wout));

	outbuf_reset(&h->sending); /* static bodies' references dropped; storage kept */
	h->sending_busy = false;
	hconn_maybe_free(h);
}

static struct net_out *http_output(struct net_conn *conn)
{
	struct hconn *h = net_conn_state(conn);
	struct http_server *hs = h->hs;
	struct outbuf queued = h->out;

	if (!queued.total)
		return NULL;
	h->out = h->sending; /* empty, with its storage */
	h->sending = queued;
	h->sending_busy = true;
	ARRAY_GROW(hs->iov, hs->iov_cap, queued.nsegs, 64, ARRAY_MAX);
	for (uint32_t i = 0; i < queued.nsegs; i++)
		hs->iov[i] = uv_buf_init((char *)outbuf_seg_data(&h->sending, i),
					 queued.segs[i].len);
	h->wout = (struct net_out){ .iov = hs->iov, .n = queued.nsegs, .total = queued.total,
				    .release = http_sent };
	return &h->wout;
}

/* Output went out: a client that caught up is read (and parsed) again. */
static void http_drained(struct net_conn *conn)
{
	struct hconn *h = net_conn_state(conn);

	if (h->backlogged && unsent(h) < MAX_UNSENT / 2) {
		h->backlogged = false;
		net_conn_pause(conn, false);
	}
}

/* The client shut its side (an HTTP/1.0 client, `nc -N`): the requests it
 * sent before are answered, then the connection closes. An error: closed
 * by the layer. */
static void http_eof(struct net_conn *conn, int status)
{
	struct hconn *h = net_conn_state(conn);

	if (status < 0)
		return;
	h->peer_done = true;
	if (!h->waiting) /* else on_job_done closes it after the answer */
		net_conn_close(conn, NET_CLOSE_AFTER_WRITE);
}

static void http_deadline(struct net_conn *conn)
{
	struct hconn *h = net_conn_state(conn);

	if (h->timing_request && http_reader_busy(&h->rd))
		send_error(h, 408, "the request did not arrive in time");
	else
		net_conn_close(conn, NET_CLOSE_NOW); /* idle */
}

static bool http_open(struct net_conn *conn, const struct net_listener *l)
{
	struct hconn *h = hconn_new(net_conn_ctx(conn), conn);

	h->loopback = l->loopback;
	arm_deadline(h);
	return true;
}

/* Over http_max_connections: a 503 says so, then the lingering close. */
static void http_refuse(struct net_conn *conn, const struct net_listener *l)
{
	struct hconn *h = hconn_new(net_conn_ctx(conn), conn);

	(void)l;
	send_error(h, 503, "too many connections (http_max_connections)");
}

/* Stopping: an idle connection closes now; one with a request under way
 * gets its answer (a 503) as it completes, within the shutdown grace. */
static void http_stop(struct net_conn *conn)
{
	struct hconn *h = net_conn_state(conn);

	h->hs->stopping = true;
	if (!http_reader_busy(&h->rd) && !h->waiting && !unsent(h))
		net_conn_close(conn, NET_CLOSE_NOW);
}

static void http_close(struct net_conn *conn)
{
	struct hconn *h = net_conn_state(conn);

	if (!h)
		return;
	h->conn = NULL;
	hconn_maybe_free(h); /* or on_job_done, or http_sent, does */
}

static const struct net_proto http_proto = {
	.name = "http",
	.open = http_open,
	.refuse = http_refuse,
	.input = http_input,
	.output = http_output,
	.drained = http_drained,
	.eof = http_eof,
	.deadline = http_deadline,
	.stop = http_stop,
	.close = http_close,
};

static struct http_server *server_new(struct net *n, const struct http_config *cfg,
				      struct api *api, struct outbuf_pool *bufs,
				      struct tls_listeners *tls, bool ws_only)
{
	struct http_server *hs;
	struct listener_config lc;
	struct net_listener *l;
	const char *key = ws_only ? "websocket_listener" : "http_listener";
	const char *where = ws_only ? cfg->websocket_listener : cfg->listener;
	char err[CONFIG_ERR_LEN];

	if (config_parse_listener_opts(where, &lc, err, sizeof(err))) { /* checked at load */
		log_error("%s %s: %s", key, where, err);
		return NULL;
	}
	hs = xcalloc(1, sizeof(*hs));
	hs->net = n;
	hs->cfg = *cfg;
	hs->api = api;
	hs->lim = (struct http_limits){ .max_uri = cfg->max_uri,
					.max_header = cfg->max_header_size,
					.max_body = cfg->max_body,
					.max_headers = cfg->max_headers };
	hs->bufs = bufs;
	hs->ws_only = ws_only;
	hs->svc = (struct net_service){ .proto = &http_proto, .ctx = hs,
					.max_conns = cfg->max_connections,
					.linger_time_ms = cfg->linger_time_ms,
					.linger_timeout_ms = cfg->linger_timeout_ms,
					.linger_bytes = cfg->linger_bytes };
	/* ALPN "http/1.1" when none is set: a client that offers h2 first
	 * (curl, browsers) then settles on HTTP/1.1, the only one served. */
	l = tls_setup_listen(tls, n, &lc, &hs->svc, ws_only ? "WebSocket" : "HTTP", "http/1.1");
	if (!l) {
		free(hs);
		return NULL;
	}
	if (ws_only)
		log_info("MQTT over WebSocket on %s://%s/mqtt", lc.tls.on ? "wss" : "ws", l->name);
	else
		log_info("HTTP API on %s://%s/api (docs: /api/doc)", lc.tls.on ? "https" : "http",
			 l->name);
	return hs;
}

struct http_server *http_server_new(struct net *n, const struct http_config *cfg,
				    struct api *api, struct outbuf_pool *bufs,
				    struct tls_listeners *tls)
{
	return server_new(n, cfg, api, bufs, tls, false);
}

struct http_server *http_server_new_ws(struct net *n, const struct http_config *cfg,
				       struct api *api, struct outbuf_pool *bufs,
				       struct tls_listeners *tls)
{
	return server_new(n, cfg, api, bufs, tls, true);
}

void http_server_set_mqtt(struct http_server *hs, struct mqtt_service *m, uint32_t max_packet)
{
	hs->mqtt = m;
	hs->ws_max_message = hs->cfg.websocket_max_message ? hs->cfg.websocket_max_message
							    : max_packet;
}

void http_server_free(struct http_server *hs)
{
	if (!hs)
		return;
	free(hs->iov);
	free(hs);
}

uint32_t http_server_connections(const struct http_server *hs)
{
	return hs ? hs->svc.nconns : 0;
}

const struct net_service *http_server_service(const struct http_server *hs)
{
	return &hs->svc;
}

uint64_t http_server_requests(const struct http_server *hs)
{
	return hs ? hs->requests : 0;
}
