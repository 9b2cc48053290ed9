/*
 * http_server.c - the HTTP API's listener and connections, on the broker's
 * event loop.
 *
 * Bytes read go to the connection's http_reader; each complete request is
 * answered by api_handle and written at once (libuv keeps writes in order,
 * so pipelined answers go out in order). Time limits: a request must arrive
 * whole within request_timeout of its first byte (408, then close: a client
 * that trickles bytes cannot hold a connection), and an idle keep-alive
 * connection is closed after idle_timeout. A client that does not read its
 * answers stops being read once MAX_UNSENT bytes wait for it.
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
};

struct hconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct http_server *hs;
	struct hconn *prev, *next;
	struct http_reader rd;
	uint8_t *in;          /* bytes read and not yet parsed */
	size_t in_len, in_cap;
	bool timing_request;  /* the timer runs for a started request */
	bool continue_sent;
	bool closing_after_write;
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

struct hwrite {
	uv_write_t req;
	struct hconn *conn;
	struct http_response rs;
	bool close;
	char head[HEAD_MAX];
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

static void timer_arm(struct hconn *c)
{
	bool busy = http_reader_busy(&c->rd);

	if (busy && c->timing_request)
		return; /* the request's clock runs from its first byte, not reset */
	c->timing_request = busy;
	uv_timer_start(&c->timer, on_timeout,
		       busy ? c->hs->cfg.request_timeout_ms : c->hs->cfg.idle_timeout_ms, 0);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
	struct hwrite *w = req->data;
	struct hconn *c = w->conn;
	bool close = w->close || status < 0;

	http_response_release(&w->rs);
	free(w);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (close) {
		conn_close(c);
		return;
	}
	if (!c->reading && !c->waiting && c->tcp.write_queue_size < MAX_UNSENT / 2) {
		c->reading = true; /* the client caught up: read (and parse) again */
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

/* Sends rs (taking it over); close: close the connection once it is out. */
static void send_response(struct hconn *c, struct http_response *rs, bool head, bool keep_alive)
{
	struct hwrite *w = xmalloc(sizeof(*w));
	struct http_write_opts o = { .head = head, .keep_alive = keep_alive,
				     .date = http_date(c->hs) };
	uv_buf_t bufs[2];
	size_t n;

	w->conn = c;
	w->rs = *rs;
	w->close = !keep_alive || rs->close;
	w->req.data = w;
	n = http_response_write_head(&w->rs, &o, w->head, sizeof(w->head));
	bufs[0] = uv_buf_init(w->head, (unsigned)n);
	bufs[1] = uv_buf_init(w->rs.body ? w->rs.body : (char *)w->rs.body_static,
			      (unsigned)w->rs.body_len);
	if (n == 0 || uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs,
			       head || !w->rs.body_len || w->rs.status == 204 ? 1 : 2, on_write)) {
		http_response_release(&w->rs);
		free(w);
		conn_close(c);
	}
}

static void send_error(struct hconn *c, int status, const char *why)
{
	struct http_response rs;

	http_response_init(&rs);
	http_response_error(&rs, status, NULL, "%s", why);
	send_response(c, &rs, false, false);
	log_info("http %s - - %d (%s)", c->peer, status, why);
}

/* ---- requests ---- */

/* The answer to c's current request goes out (rs taken over). */
static void finish_request(struct hconn *c, struct http_response *rs_in, size_t route,
			   uint64_t t0)
{
	struct http_server *hs = c->hs;
	const struct http_request *rq = &c->rd.rq;
	struct http_response rs = *rs_in;
	bool head = strcmp(rq->method, "HEAD") == 0;
	bool keep_alive;
	double secs;

	keep_alive = rq->keep_alive && !hs->stopping;
	secs = (double)(uv_hrtime() - t0) / 1e9;
	api_observe(hs->api, route, rs.status, secs);
	hs->requests++;
	log_info("http %s %s %s %d %zu %.0fus", c->peer, rq->method, rq->target, rs.status,
		 head ? 0 : rs.body_len, secs * 1e6);
	send_response(c, &rs, head, keep_alive);
	if (!keep_alive)
		c->closing_after_write = true;
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
	if (!c->closing_after_write && !c->reading) {
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
	while (!c->closing_after_write && off < c->in_len) {
		size_t used;
		enum http_read_status st = http_reader_feed(&c->rd, c->in + off, c->in_len - off, &used);

		off += used;
		if (st == HTTP_READ_MORE)
			break;
		if (st == HTTP_READ_ERROR) {
			send_error(c, c->rd.error_status, c->rd.error_why);
			c->closing_after_write = true;
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
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->rd.expect_continue && !c->continue_sent && !c->closing_after_write) {
		static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);

		c->continue_sent = true;
		uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: the client waits or not */
	}
	if (c->closing_after_write) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		uv_timer_stop(&c->timer);
		return;
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

	if (c->timing_request && http_reader_busy(&c->rd)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->closing_after_write = true;
		send_error(c, 408, "the request did not arrive in time");
		return;
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
		c->closing_after_write = true;
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
		if (!http_reader_busy(&c->rd) && !c->tcp.write_queue_size && !c->waiting)
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
