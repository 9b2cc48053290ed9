/*
 * http_server.c - the HTTP API's listener and connections, on the broker's
 * event loop.
 *
 * Bytes read go to the connection's http_reader; each complete request is
 * answered by api_handle and written at once: uv_try_write, so an answer
 * the socket takes whole costs one writev and no allocation (and libuv
 * never has to watch the socket for writability); only what the socket
 * refused is copied or kept and queued with uv_write (libuv keeps writes in
 * order, so pipelined answers go out in order). Time limits: a request
 * must arrive whole within request_timeout of its first byte (408, then
 * close: a client that trickles bytes cannot hold a connection), and an
 * idle keep-alive connection is closed after idle_timeout. A client that
 * does not read its answers stops being read once MAX_UNSENT bytes wait
 * for it.
 *
 * Closing after an answer (an early error such as 413, 431 or 408, or
 * "Connection: close") is nginx's lingering close: the write side is shut
 * once the answer is out, and what the client still sends is read and
 * dropped, within linger_bytes and linger_time (linger_timeout between two
 * reads), before the socket is closed. Closing at once would make the
 * kernel answer the client's further bytes with a reset, which destroys
 * the answer the client has not read yet (a client still sending a body
 * the server refused never sees the 413).
 */
#include "http_server.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/text.h"
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <uv.h>

#define READ_CHUNK (16 * 1024)
#define MAX_UNSENT (1024 * 1024)
#define HEAD_MAX 2048
#define DISCARD_CHUNK (64 * 1024)

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct http_config cfg;
	struct http_limits lim;
	struct api *api;
	uint32_t nconns;
	uint64_t requests, accepted, refused;
	bool stopping;
	char date[40];
	time_t date_at;
	char name[80];
	struct hconn *conns; /* every live connection, to close them at stop */
	/* What lingering connections read and drop: one buffer for all (libuv
	 * calls the read callback right after the allocation). */
	char discard[DISCARD_CHUNK];
};

struct hconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown; /* the lingering close's half-close */
	struct http_server *hs;
	struct hconn *prev, *next;
	struct http_reader rd;
	uint8_t *in;          /* bytes read and not yet parsed */
	size_t in_len, in_cap;
	uint64_t linger_until; /* loop time (ms) the lingering close ends at the latest */
	uint64_t discarded;   /* bytes read and dropped while lingering */
	uint64_t idle_since;  /* loop time (ms) the last request was answered */
	bool timing_request;  /* the timer runs for a started request */
	bool continue_sent;
	bool lingering;       /* the last answer is out or queued: closing (linger_start) */
	bool shut;            /* ... and all out, the write side shut: the linger timers run */
	bool reading;
	bool waiting;         /* a request's slow work runs on a worker thread */
	int handles_open;     /* tcp and timer: freed when both closed, and not waiting */
	char peer[64];        /* address only, for logs and rate limits */
};

/* A request's api_job on libuv's thread pool. */
struct hjob {
	uv_work_t req;
	struct hconn *conn;
	struct api_job *job;
	uint64_t t0;
	size_t route; /* for api_observe */
};

/* What uv_try_write left of an answer, queued with uv_write. */
struct hwrite {
	uv_write_t req;
	struct hconn *conn;
	char *owned;  /* the answer's own body, freed once written; or NULL */
	char data[];  /* copied: the head's rest, and a borrowed body's rest */
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

/* ---- connection lifetime ---- */

static void conn_free(struct hconn *c)
{
	http_reader_release(&c->rd);
	free(c->in);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct hconn *c = h->data;

	/* A job still out refers to c: on_job_done frees it then. */
	if (--c->handles_open > 0 || c->waiting)
		return;
	conn_free(c);
}

static void conn_close(struct hconn *c)
{
	struct http_server *hs = c->hs;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		hs->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	hs->nconns--;
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_timeout(uv_timer_t *t);
static void process_input(struct hconn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* After input was taken: the request's clock runs from its first byte (not
 * reset by later bytes); otherwise the connection is idle from now. The
 * idle timer is not moved on every request (a timer heap update each):
 * one due sooner is left running, and on_timeout looks at idle_since. */
static void timer_arm(struct hconn *c)
{
	uint32_t idle = c->hs->cfg.idle_timeout_ms;
	uint64_t due;

	if (http_reader_busy(&c->rd)) {
		if (!c->timing_request)
			uv_timer_start(&c->timer, on_timeout, c->hs->cfg.request_timeout_ms, 0);
		c->timing_request = true;
		return;
	}
	c->timing_request = false;
	c->idle_since = uv_now(c->hs->loop);
	due = uv_timer_get_due_in(&c->timer); /* 0: not running */
	if (due == 0 || due > idle)
		uv_timer_start(&c->timer, on_timeout, idle, 0);
}

/* ---- the lingering close ---- */

static void linger_arm(struct hconn *c)
{
	uint64_t now = uv_now(c->hs->loop);
	uint64_t wait = c->hs->cfg.linger_timeout_ms;

	if (now >= c->linger_until) {
		conn_close(c);
		return;
	}
	if (wait > c->linger_until - now)
		wait = c->linger_until - now;
	uv_timer_start(&c->timer, on_timeout, wait, 0);
}

static void on_linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hconn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->hs->discard, sizeof(c->hs->discard));
}

/* Bytes after the last request: dropped. EOF (the client is done) or an
 * error ends the connection, and so does going past linger_bytes. */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hconn *c = s->data;

	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->discarded += (uint64_t)nread;
	if (c->discarded > c->hs->cfg.linger_bytes) {
		conn_close(c);
		return;
	}
	if (nread > 0 && c->shut)
		linger_arm(c); /* linger_timeout counts from the last byte */
}

/* The last answer is all out and the write side shut: the client has had
 * its FIN, and the linger timers start. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct hconn *c = req->data;

	/* UV_ECANCELED: the connection closed meanwhile (c lives until its
	 * handles' close callbacks, which come after this one). */
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	c->shut = true;
	c->linger_until = uv_now(c->hs->loop) + c->hs->cfg.linger_time_ms;
	linger_arm(c);
}

/* c's last answer is written or queued: no more requests are read. The
 * write side is shut once the queue is out (uv_shutdown waits for it), and
 * reading goes on into the discard buffer, bounded by linger_bytes and the
 * timers, so the client reads the answer before the close. Until the
 * answer is out, the connection has idle_timeout to take it, as a
 * keep-alive one has; the linger timers run from then (on_shutdown). */
static void linger_start(struct hconn *c)
{
	uv_stream_t *s = (uv_stream_t *)&c->tcp;

	if (c->lingering || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	c->lingering = true;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, s, on_shutdown) != 0) {
		conn_close(c);
		return;
	}
	/* The unparsed input goes in process_input, which may be using it. */
	uv_read_stop(s);
	c->reading = true;
	uv_read_start(s, on_linger_alloc, on_linger_read);
	uv_timer_start(&c->timer, on_timeout, c->hs->cfg.idle_timeout_ms, 0);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
	struct hwrite *w = req->data;
	struct hconn *c = w->conn;

	free(w->owned);
	free(w);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (!c->reading && !c->waiting && !c->lingering &&
	    c->tcp.write_queue_size < MAX_UNSENT / 2) {
		c->reading = true; /* the client caught up: read (and parse) again */
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

/* Queues what uv_try_write left of bufs (the first `sent` bytes went out).
 * bufs[0] is the head (on the caller's stack: copied), bufs[1] rs's body:
 * an owned body is taken over, a borrowed one copied, a static one used in
 * place. 0 or a libuv error. */
static int queue_rest(struct hconn *c, const uv_buf_t *bufs, unsigned nbufs, size_t sent,
		      struct http_response *rs)
{
	size_t head_len = bufs[0].len;
	size_t head_left = sent < head_len ? head_len - sent : 0;
	size_t body_off = sent > head_len ? sent - head_len : 0;
	size_t body_left = nbufs > 1 ? bufs[1].len - body_off : 0;
	size_t copied = head_left + (rs->body_borrowed ? body_left : 0);
	struct hwrite *w = xmalloc(sizeof(*w) + copied);
	uv_buf_t rest[2];
	unsigned n = 0;
	int rc;

	memcpy(w->data, bufs[0].base + head_len - head_left, head_left);
	if (head_left)
		rest[n++] = uv_buf_init(w->data, (unsigned)head_left);
	if (body_left) {
		char *body = bufs[1].base + body_off;

		if (rs->body_borrowed) {
			memcpy(w->data + head_left, body, body_left);
			body = w->data + head_left;
		}
		rest[n++] = uv_buf_init(body, (unsigned)body_left);
	}
	w->owned = rs->body; /* NULL unless the response owned its body */
	rs->body = NULL;
	w->conn = c;
	w->req.data = w;
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, rest, n, on_write);
	if (rc) {
		free(w->owned);
		free(w);
	}
	return rc;
}

/* Sends rs (released here). Without keep_alive (or with rs->close) it is
 * the connection's last answer: the lingering close follows. */
static void send_response(struct hconn *c, struct http_response *rs, bool head, bool keep_alive)
{
	struct http_write_opts o = { .head = head, .keep_alive = keep_alive,
				     .date = http_date(c->hs) };
	bool last = !keep_alive || rs->close;
	char headbuf[HEAD_MAX];
	uv_buf_t bufs[2];
	unsigned nbufs = 1;
	size_t n, total;
	int sent;

	n = http_response_write_head(rs, &o, headbuf, sizeof(headbuf));
	if (n == 0)
		goto out_close;
	bufs[0] = uv_buf_init(headbuf, (unsigned)n);
	total = n;
	if (!head && rs->body_len && rs->status != 204) {
		bufs[nbufs++] = uv_buf_init(rs->body ? rs->body : (char *)rs->body_static,
					    (unsigned)rs->body_len);
		total += rs->body_len;
	}
	/* UV_EAGAIN: nothing went, or writes are queued already (in order
	 * behind them, then). */
	sent = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
	if (sent == UV_EAGAIN)
		sent = 0;
	if (sent < 0 || ((size_t)sent < total && queue_rest(c, bufs, nbufs, (size_t)sent, rs)))
		goto out_close;
	http_response_release(rs);
	if (last)
		linger_start(c);
	return;
out_close:
	http_response_release(rs);
	conn_close(c);
}

static void send_error(struct hconn *c, int status, const char *why)
{
	struct http_response rs;

	http_response_init(&rs);
	http_response_error(&rs, status, NULL, "%s", why);
	log_info("http %s - - %d (%s)", c->peer, status, why);
	send_response(c, &rs, false, false);
}

/* ---- requests ---- */

/* The access-log line: "http PEER METHOD TARGET STATUS BYTES MICROSECONDSus",
 * put together without printf (it is written for every request). */
static void access_log(struct hconn *c, int status, size_t bytes, uint64_t ns)
{
	const struct http_request *rq = &c->rd.rq;
	char line[1024];
	struct text_fixed t = { .buf = line, .cap = sizeof(line) };

	TEXT_PUT_LIT(&t, "http ");
	text_put_str(&t, c->peer);
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

/* The answer to c's current request goes out (rs taken over). */
static void finish_request(struct hconn *c, struct http_response *rs_in, size_t route,
			   uint64_t t0)
{
	struct http_server *hs = c->hs;
	const struct http_request *rq = &c->rd.rq;
	struct http_response rs = *rs_in;
	bool head = strcmp(rq->method, "HEAD") == 0;
	uint64_t ns = uv_hrtime() - t0;
	bool keep_alive = rq->keep_alive && !hs->stopping;

	api_observe(hs->api, route, rs.status, (double)ns / 1e9);
	hs->requests++;
	if (log_enabled(LOG_INFO))
		access_log(c, rs.status, head ? 0 : rs.body_len, ns);
	send_response(c, &rs, head, keep_alive);
}

static void job_run(uv_work_t *req)
{
	struct hjob *w = req->data;

	w->job->run(w->job); /* a worker thread: the job's own data only */
}

static void on_job_done(uv_work_t *req, int status)
{
	struct hjob *w = req->data;
	struct hconn *c = w->conn;
	struct http_server *hs = c->hs;
	struct http_response rs;

	c->waiting = false;
	if (uv_is_closing((uv_handle_t *)&c->tcp)) {
		/* the client left meanwhile: nothing to answer */
		w->job->free(w->job);
		free(w);
		if (c->handles_open == 0)
			conn_free(c);
		return;
	}
	http_response_init(&rs);
	hs->api->now_ms = wall_clock_ms();
	hs->api->peer = c->peer;
	if (status < 0 || hs->stopping) {
		http_response_error(&rs, 503, NULL, "the server is stopping");
		rs.close = true;
	} else {
		w->job->finish(hs->api, w->job, &rs);
	}
	w->job->free(w->job);
	finish_request(c, &rs, w->route, w->t0);
	free(w);
	http_reader_next(&c->rd);
	c->timing_request = false;
	c->continue_sent = false;
	if (!c->lingering && !c->reading) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
	process_input(c); /* pipelined requests that waited */
}

/* Answers c's current request; false when its work went to the thread
 * pool (the answer comes from on_job_done). */
static bool handle_request(struct hconn *c)
{
	struct http_server *hs = c->hs;
	const struct http_request *rq = &c->rd.rq;
	struct http_response rs;
	uint64_t t0 = uv_hrtime();
	size_t route = SIZE_MAX; /* "other" */
	struct hjob *w;

	http_response_init(&rs);
	hs->api->now_ms = wall_clock_ms();
	hs->api->peer = c->peer;
	if (hs->stopping) {
		http_response_error(&rs, 503, NULL, "the server is stopping");
		rs.close = true;
	} else {
		route = api_handle(hs->api, rq, &rs);
	}
	if (!hs->api->deferred) {
		finish_request(c, &rs, route, t0);
		return true;
	}
	http_response_release(&rs);
	w = xcalloc(1, sizeof(*w));
	w->conn = c;
	w->job = hs->api->deferred;
	w->t0 = t0;
	w->route = route;
	w->req.data = w;
	hs->api->deferred = NULL;
	c->waiting = true;
	uv_queue_work(hs->loop, &w->req, job_run, on_job_done);
	return false;
}

/* Parses and answers every complete request in c->in, in order. */
static void process_input(struct hconn *c)
{
	size_t off = 0;

	if (c->waiting)
		return; /* the current request's answer comes first (on_job_done) */
	while (!c->lingering && !uv_is_closing((uv_handle_t *)&c->tcp) && off < c->in_len) {
		size_t used;
		enum http_read_status st = http_reader_feed(&c->rd, c->in + off, c->in_len - off, &used);

		off += used;
		if (st == HTTP_READ_MORE)
			break;
		if (st == HTTP_READ_ERROR) {
			send_error(c, c->rd.error_status, c->rd.error_why);
			break;
		}
		if (!handle_request(c)) {
			/* Its work is on a worker thread: nothing more is read or
			 * parsed on this connection, and no timer runs, until the
			 * answer is out (on_job_done). */
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
			uv_timer_stop(&c->timer);
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
			return;
		}
		http_reader_next(&c->rd);
		c->timing_request = false;
		c->continue_sent = false;
		if (c->tcp.write_queue_size >= MAX_UNSENT) {
			/* Not reading its answers: leave the rest parked. */
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
			break;
		}
	}
	if (c->lingering || uv_is_closing((uv_handle_t *)&c->tcp)) {
		/* Nothing more is parsed: the rest of the input goes. */
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
		return;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->rd.expect_continue && !c->continue_sent) {
		static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);

		c->continue_sent = true;
		uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: the client waits or not */
	}
	timer_arm(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hconn *c = h->data;

	(void)suggested;
	if (c->in_cap - c->in_len < READ_CHUNK) {
		c->in_cap = c->in_len + READ_CHUNK;
		c->in = xrealloc(c->in, c->in_cap);
	}
	*buf = uv_buf_init((char *)c->in + c->in_len, READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hconn *c = s->data;

	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	process_input(c);
}

static void on_timeout(uv_timer_t *t)
{
	struct hconn *c = t->data;

	if (c->lingering) {
		/* linger_timeout or linger_time is over, or the last answer
		 * was not taken within idle_timeout */
		conn_close(c);
		return;
	}
	if (c->timing_request && http_reader_busy(&c->rd)) {
		send_error(c, 408, "the request did not arrive in time");
		return;
	}
	if (!c->timing_request) {
		uint64_t idle = uv_now(c->hs->loop) - c->idle_since;

		if (idle < c->hs->cfg.idle_timeout_ms) { /* active since the timer started */
			uv_timer_start(&c->timer, on_timeout, c->hs->cfg.idle_timeout_ms - idle, 0);
			return;
		}
	}
	conn_close(c); /* idle */
}

static void peer_address(uv_tcp_t *tcp, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(out, cap, "?");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
	else if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct http_server *hs = l->data;
	struct hconn *c;

	if (status < 0) {
		log_warn("http accept: %s", uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->hs = hs;
	uv_tcp_init(hs->loop, &c->tcp);
	uv_timer_init(hs->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles_open = 2;
	http_reader_init(&c->rd, &hs->lim);
	c->next = hs->conns;
	if (hs->conns)
		hs->conns->prev = c;
	hs->conns = c;
	hs->nconns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_address(&c->tcp, c->peer, sizeof(c->peer));
	if (hs->nconns > hs->cfg.max_connections || hs->stopping) {
		hs->refused++;
		send_error(c, 503, hs->stopping ? "the server is stopping"
						 : "too many connections (http_max_connections)");
		return;
	}
	hs->accepted++;
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	timer_arm(c);
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

struct http_server *http_server_start(uv_loop_t *loop, const struct http_config *cfg,
				      struct api *api)
{
	struct http_server *hs;
	struct listener_config lc;
	struct sockaddr_storage addr;
	unsigned flags = 0;
	int rc;

	if (config_parse_listener(cfg->listener, &lc))
		return NULL;
	memset(&addr, 0, sizeof(addr));
	if (uv_ip4_addr(lc.host, lc.port, (struct sockaddr_in *)&addr) != 0) {
		if (uv_ip6_addr(lc.host, lc.port, (struct sockaddr_in6 *)&addr) != 0) {
			log_error("http_listener %s: not a numeric IPv4 or IPv6 address", cfg->listener);
			return NULL;
		}
		flags = UV_TCP_IPV6ONLY;
	}
	hs = xcalloc(1, sizeof(*hs));
	hs->loop = loop;
	hs->cfg = *cfg;
	hs->api = api;
	hs->lim = (struct http_limits){ .max_uri = cfg->max_uri,
					.max_header = cfg->max_header_size,
					.max_body = cfg->max_body,
					.max_headers = cfg->max_headers };
	snprintf(hs->name, sizeof(hs->name), "%s", cfg->listener);
	uv_tcp_init(loop, &hs->listener);
	hs->listener.data = hs;
	rc = uv_tcp_bind(&hs->listener, (const struct sockaddr *)&addr, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&hs->listener, 1024, on_connection);
	if (rc < 0) {
		log_error("cannot listen for HTTP on %s: %s", cfg->listener, uv_strerror(rc));
		uv_close((uv_handle_t *)&hs->listener, free_on_close);
		return NULL;
	}
	log_info("HTTP API on http://%s/api (docs: /api/doc)", cfg->listener);
	return hs;
}

void http_server_stop(struct http_server *hs)
{
	if (!hs)
		return;
	if (!uv_is_closing((uv_handle_t *)&hs->listener))
		uv_close((uv_handle_t *)&hs->listener, NULL);
	hs->stopping = true;
	/* Idle connections go now; one with a request on the way gets its
	 * answer (503) as it arrives, within the shutdown grace. */
	for (struct hconn *c = hs->conns, *next; c; c = next) {
		next = c->next;
		if (!http_reader_busy(&c->rd) && !c->tcp.write_queue_size && !c->waiting &&
		    !c->lingering)
			conn_close(c);
	}
}

void http_server_close_all(struct http_server *hs)
{
	if (!hs)
		return;
	for (struct hconn *c = hs->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c);
	}
}

void http_server_free(struct http_server *hs)
{
	free(hs);
}

uint32_t http_server_connections(const struct http_server *hs)
{
	return hs ? hs->nconns : 0;
}

uint64_t http_server_requests(const struct http_server *hs)
{
	return hs ? hs->requests : 0;
}
