/*
 * server.c - libuv listeners and connections feeding the broker core.
 *
 * Path of one PUBLISH: on_read gets up to 64 KiB in the loop-wide read
 * buffer -> broker_client_input decodes every complete packet and appends
 * the deliveries to each subscriber's outbuf -> on_check (after the poll
 * phase) pops every dirty client and writes its outbuf with one
 * uv_try_write of several buffers (what the socket refuses: one uv_write,
 * whose on_write releases the rest's message references).
 */
#include "server.h"

#include "api/api.h"
#include "broker/auth.h"
#include "base/alloc.h"
#include "base/fdlimit.h"
#include "base/log.h"
#include "bridge.h"
#include "http_server.h"
#include "scram.h"
#include "store/store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define READ_CHUNK (64 * 1024)
#define TICK_MS 250
#define CLOSE_GRACE_MS 2000  /* a closing client gets this long to take its last bytes */
#define SHUTDOWN_GRACE_MS 500

struct server;

struct listener {
	uv_tcp_t tcp;
	struct server *srv;
	bool loopback;
	int8_t anonymous;  /* from its config: -1 = allow_anonymous decides */
	char name[80];
};

/* One uv_write in flight and the output it carries. Pooled by the server,
 * so an idle connection holds no write request and no buffer. */
struct wbatch {
	uv_write_t req;
	struct outbuf out;
	struct conn *conn;
	uint64_t started_ms;     /* a closing client gets CLOSE_GRACE_MS to take it */
	struct wbatch *next_free;
};

/* Kept small: one per connection, most of them idle. The server is
 * reached through the loop (loop.data), closing through libuv. */
struct conn {
	uv_tcp_t tcp;
	struct broker_client *client;
	struct wbatch *writing;  /* NULL when no write is in flight */
	uint8_t *pending;        /* unconsumed input: a partial packet */
	uint32_t pending_len, pending_cap;
};

struct server {
	uv_loop_t loop;
	struct broker *broker;
	struct agora_config cfg;
	const char *config_path;
	const struct config_overrides *overrides;
	struct listener listeners[CONFIG_MAX_LISTENERS];
	int nlisteners;
	uv_timer_t tick;
	uv_check_t flush;
	uv_prepare_t log_turn;      /* writes the buffered log before the loop waits */
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_timer_t shutdown_timer;
	uint32_t nconns;
	uint64_t last_refusal_log;
	bool stopping;
	uv_buf_t *iov;
	uint32_t iov_cap;
	struct wbatch *free_batches;
	uint32_t nfree_batches;
	struct store *store;
	struct api *api;
	struct http_server *http;
	struct bridge bridge;
	struct scram_mechanism scram;
	uv_work_t checkpoint;       /* store_checkpoint on the thread pool */
	bool checkpointing;
	uint64_t last_checkpoint_ms;
	uint64_t checkpointed_changes; /* store_changes() at the last checkpoint */
	uint8_t readbuf[READ_CHUNK];
};

/* ---- connections ---- */

static struct server *conn_server(const struct conn *conn)
{
	return conn->tcp.loop->data;
}

static bool conn_closing(const struct conn *conn)
{
	return uv_is_closing((const uv_handle_t *)&conn->tcp);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *conn = h->data;
	struct server *srv = conn_server(conn);

	broker_client_free(srv->broker, conn->client);
	free(conn->pending);
	free(conn);
	srv->nconns--;
}

static void conn_close(struct conn *conn)
{
	if (conn_closing(conn))
		return;
	uv_read_stop((uv_stream_t *)&conn->tcp);
	uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
}

#define MAX_FREE_BATCHES 1024

static struct wbatch *batch_get(struct server *srv)
{
	struct wbatch *w = srv->free_batches;

	if (w) {
		srv->free_batches = w->next_free;
		srv->nfree_batches--;
		return w;
	}
	w = xcalloc(1, sizeof(*w));
	outbuf_init(&w->out, broker_outbuf_pool(srv->broker));
	return w;
}

static void batch_put(struct server *srv, struct wbatch *w)
{
	outbuf_release(&w->out); /* drops message references, storage to the pool */
	if (srv->nfree_batches >= MAX_FREE_BATCHES) {
		free(w);
		return;
	}
	w->next_free = srv->free_batches;
	srv->free_batches = w;
	srv->nfree_batches++;
}

static void conn_flush(struct conn *conn);

static void on_write(uv_write_t *req, int status)
{
	struct wbatch *w = req->data;
	struct conn *conn = w->conn;
	struct server *srv = conn_server(conn);

	conn->writing = NULL;
	batch_put(srv, w);
	if (conn_closing(conn))
		return;
	if (status < 0)
		broker_client_close(srv->broker, conn->client, CLOSE_PEER, uv_strerror(status));
	/* Write callbacks run before the poll phase: waiting for on_check would
	 * leave what queued meanwhile (or a close) until the next I/O event, so
	 * the next batch goes out, or the connection closes, right here. */
	conn_flush(conn);
	if (conn->client->state == CLIENT_CLOSING && !conn->writing)
		conn_close(conn);
}

static uv_buf_t *iov_for(struct server *srv, uint32_t n)
{
	if (n > srv->iov_cap) {
		srv->iov_cap = n;
		srv->iov = xrealloc(srv->iov, n * sizeof(*srv->iov));
	}
	return srv->iov;
}

/* Skips the first `done` bytes of iov[0..n): returns the index of the first
 * buffer with bytes left, that buffer advanced past what was written. */
static uint32_t iov_skip(uv_buf_t *iov, uint32_t n, size_t done)
{
	uint32_t i = 0;

	while (i < n && done >= iov[i].len)
		done -= iov[i++].len;
	if (i < n) {
		iov[i].base += done;
		iov[i].len -= done;
	}
	return i;
}

/* Writes everything queued for the client: at once with uv_try_write when
 * the socket takes it all (the common case: no write request, no callback,
 * and no epoll_ctl, which libuv issues to re-arm the watcher after every
 * uv_write), and what it refuses with one uv_write. */
static void conn_flush(struct conn *conn)
{
	struct server *srv = conn_server(conn);
	struct broker_client *c = conn->client;
	struct wbatch *w;
	struct outbuf *o;
	uv_buf_t *iov;
	size_t total;
	uint32_t first;
	int rc;

	if (conn_closing(conn) || conn->writing || !c->out.total)
		return;
	w = batch_get(srv);
	w->conn = conn;
	w->req.data = w;
	o = &w->out;
	outbuf_move(o, &c->out);
	total = o->total;
	iov = iov_for(srv, o->nsegs);
	for (uint32_t i = 0; i < o->nsegs; i++)
		iov[i] = uv_buf_init((char *)outbuf_seg_data(o, i), o->segs[i].len);
	rc = uv_try_write((uv_stream_t *)&conn->tcp, iov, o->nsegs);
	if (rc == (int)total) {
		batch_put(srv, w); /* all in the kernel: references dropped now */
		return;
	}
	if (rc < 0 && rc != UV_EAGAIN) {
		batch_put(srv, w);
		broker_client_close(srv->broker, c, CLOSE_PEER, uv_strerror(rc));
		return;
	}
	first = iov_skip(iov, o->nsegs, rc > 0 ? (size_t)rc : 0);
	/* uv_write copies the iov array, so one scratch array serves all. */
	rc = uv_write(&w->req, (uv_stream_t *)&conn->tcp, iov + first, o->nsegs - first, on_write);
	if (rc < 0) {
		batch_put(srv, w);
		broker_client_close(srv->broker, c, CLOSE_PEER, uv_strerror(rc));
		return;
	}
	conn->writing = w;
	w->started_ms = uv_now(&srv->loop);
}

/* Right before the loop waits for I/O: what this turn logged goes out in
 * one write (base/log.h). */
static void on_log_turn(uv_prepare_t *h)
{
	(void)h;
	log_flush();
}

static void on_check(uv_check_t *h)
{
	struct server *srv = h->data;
	struct broker_client *c;

	while ((c = broker_pop_dirty(srv->broker))) {
		struct conn *conn = c->io;

		conn_flush(conn);
		if (c->state == CLIENT_CLOSING && !conn->writing)
			conn_close(conn);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *conn = h->data;

	(void)suggested;
	/* One loop-wide buffer: libuv calls on_read right after on_alloc, and an
	 * idle connection then holds no read buffer at all. */
	*buf = uv_buf_init((char *)conn_server(conn)->readbuf, READ_CHUNK);
}

static void keep_pending(struct conn *conn, const uint8_t *data, size_t len)
{
	size_t need = (size_t)conn->pending_len + len;

	if (need > conn->pending_cap) {
		size_t cap = conn->pending_cap ? conn->pending_cap : 1024;
		while (cap < need)
			cap *= 2;
		conn->pending = xrealloc(conn->pending, cap);
		conn->pending_cap = (uint32_t)cap;
	}
	memmove(conn->pending + conn->pending_len, data, len);
	conn->pending_len = (uint32_t)need;
}

static void feed(struct conn *conn, const uint8_t *data, size_t len);

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *conn = stream->data;
	struct server *srv = conn_server(conn);
	struct broker *b = srv->broker;
	const uint8_t *data = (const uint8_t *)buf->base;
	size_t len = (size_t)nread;

	if (nread == 0)
		return;
	broker_set_time(b, uv_now(&srv->loop));
	if (nread < 0) {
		broker_client_close(b, conn->client,
				    CLOSE_PEER, nread == UV_EOF ? NULL : uv_strerror((int)nread));
		conn_close(conn);
		return;
	}
	if (conn->pending_len) {
		/* Complete the partial packet left from the previous read. */
		keep_pending(conn, data, len);
		data = conn->pending;
		len = conn->pending_len;
	}
	feed(conn, data, len);
}

/* Gives the broker what was read; keeps what it did not take. */
static void feed(struct conn *conn, const uint8_t *data, size_t len)
{
	struct broker *b = conn_server(conn)->broker;
	size_t used = broker_client_input(b, conn->client, data, len);

	if (data == conn->pending) {
		memmove(conn->pending, conn->pending + used, len - used);
		conn->pending_len = (uint32_t)(len - used);
		if (!conn->pending_len) {
			/* A partial packet is rare and short-lived: hold no buffer. */
			free(conn->pending);
			conn->pending = NULL;
			conn->pending_cap = 0;
		}
	} else if (used < len) {
		keep_pending(conn, data + used, len - used);
	}
	if (conn->client->state == CLIENT_CLOSING || broker_client_waiting(conn->client))
		uv_read_stop((uv_stream_t *)&conn->tcp); /* a login holds input back */
}

/* A login finished (broker_login_done): the input held back goes in, and
 * reading resumes. */
static void resume_client(void *ctx, struct broker_client *c)
{
	struct conn *conn = c->io;

	(void)ctx;
	if (conn_closing(conn))
		return;
	if (conn->pending_len) {
		uint8_t *held = conn->pending;
		uint32_t len = conn->pending_len;

		/* feed() keeps what is left in a fresh buffer */
		conn->pending = NULL;
		conn->pending_len = conn->pending_cap = 0;
		feed(conn, held, len);
		free(held);
	}
	if (!conn_closing(conn) && conn->client->state != CLIENT_CLOSING &&
	    !broker_client_waiting(conn->client))
		uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(a->sin_port));
	}
}

static bool anonymous_allowed(const struct server *srv, const struct listener *l)
{
	if (l->anonymous >= 0)
		return l->anonymous; /* the listener's own "anonymous=" */
	switch (srv->cfg.allow_anonymous) {
	case ANON_YES:
		return true;
	case ANON_NO:
		return false;
	default:
		return l->loopback;
	}
}

static void refuse_over_limit(struct server *srv, uv_stream_t *server_handle)
{
	uv_tcp_t *tmp = xmalloc(sizeof(*tmp));
	uint64_t now = uv_now(&srv->loop);

	/* Accept and close at once, so the backlog does not fill with clients
	 * left waiting. Logged at most once a second. */
	uv_tcp_init(&srv->loop, tmp);
	if (uv_accept(server_handle, (uv_stream_t *)tmp) == 0 && now - srv->last_refusal_log >= 1000) {
		log_warn("refusing connection: max_connections (%u) reached",
			 srv->cfg.max_connections);
		srv->last_refusal_log = now;
	}
	uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
}

static void on_connection(uv_stream_t *server_handle, int status)
{
	struct listener *l = server_handle->data;
	struct server *srv = l->srv;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char peer[64];
	struct conn *conn;

	if (status < 0) {
		log_warn("accept on %s failed: %s", l->name, uv_strerror(status));
		return;
	}
	if (srv->stopping)
		return;
	if (srv->nconns >= srv->cfg.max_connections) {
		refuse_over_limit(srv, server_handle);
		return;
	}
	conn = xcalloc(1, sizeof(*conn));
	uv_tcp_init(&srv->loop, &conn->tcp);
	conn->tcp.data = conn;
	if (uv_accept(server_handle, (uv_stream_t *)&conn->tcp) < 0) {
		uv_close((uv_handle_t *)&conn->tcp, (uv_close_cb)free);
		return;
	}
	srv->nconns++;
	uv_tcp_nodelay(&conn->tcp, 1);
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sslen) == 0)
		format_peer(&ss, peer, sizeof(peer));
	else
		snprintf(peer, sizeof(peer), "?");
	broker_set_time(srv->broker, uv_now(&srv->loop));
	conn->client = broker_client_new(srv->broker, conn, peer, anonymous_allowed(srv, l));
	log_debug("connection from %s on %s", peer, l->name);
	uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

/* ---- housekeeping ---- */

#define CHECKPOINT_MS 1000

static void checkpoint_work(uv_work_t *req)
{
	struct server *srv = req->data;

	store_checkpoint(srv->store); /* its own connection: writes go on */
}

static void checkpoint_done(uv_work_t *req, int status)
{
	struct server *srv = req->data;

	(void)status;
	srv->checkpointing = false;
}

/* The store's WAL goes into the database file off the loop, once a second
 * (store_checkpoint_elsewhere): no request waits for that fsync. */
static void maybe_checkpoint(struct server *srv, uint64_t now)
{
	uint64_t changes;

	if (!srv->store || srv->checkpointing || srv->stopping ||
	    now - srv->last_checkpoint_ms < CHECKPOINT_MS)
		return;
	srv->last_checkpoint_ms = now;
	changes = store_changes(srv->store);
	if (changes == srv->checkpointed_changes)
		return; /* nothing written since: no disk work at all */
	srv->checkpointed_changes = changes;
	srv->checkpointing = true;
	srv->checkpoint.data = srv;
	uv_queue_work(&srv->loop, &srv->checkpoint, checkpoint_work, checkpoint_done);
}

static void on_tick(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint64_t now = uv_now(&srv->loop);

	broker_set_time(srv->broker, now);
	broker_tick(srv->broker);
	maybe_checkpoint(srv, now);
	for (struct broker_client *c = broker_first_client(srv->broker); c; c = c->next) {
		struct conn *conn = c->io;

		if (c->state == CLIENT_CLOSING && conn->writing &&
		    now - conn->writing->started_ms >= CLOSE_GRACE_MS)
			conn_close(conn); /* it never took its last bytes */
	}
}

/* ---- listeners ---- */

static bool host_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static int listener_start(struct server *srv, struct listener *l, const struct listener_config *lc)
{
	struct sockaddr_storage addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	unsigned flags = 0;
	int rc;

	memset(&addr, 0, sizeof(addr));
	if (uv_ip4_addr(lc->host, lc->port, (struct sockaddr_in *)&addr) != 0) {
		if (uv_ip6_addr(lc->host, lc->port, (struct sockaddr_in6 *)&addr) != 0) {
			log_error("listener %s:%u: not a numeric IPv4 or IPv6 address", lc->host,
				  lc->port);
			return -1;
		}
		flags = UV_TCP_IPV6ONLY;
	}
	l->srv = srv;
	l->loopback = host_is_loopback(lc->host);
	l->anonymous = lc->anonymous;
	uv_tcp_init(&srv->loop, &l->tcp);
	l->tcp.data = l;
	rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
	if (rc < 0) {
		log_error("cannot listen on %s%s%s:%u: %s", flags ? "[" : "", lc->host,
			  flags ? "]" : "", lc->port, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, NULL);
		return -1;
	}
	format_peer(&bound, l->name, sizeof(l->name));
	log_info("listening on %s%s", l->name,
		 anonymous_allowed(srv, l) ? "" : " (anonymous clients refused)");
	return 0;
}

/* ---- signals and shutdown ---- */

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_shutdown_timer(uv_timer_t *t)
{
	struct server *srv = t->data;

	/* Whatever has not closed by now is closed hard; the loop then ends.
	 * Connections first, through their own close paths, which free what
	 * they hold; then every other handle. */
	for (struct broker_client *c = broker_first_client(srv->broker); c; c = c->next)
		conn_close(c->io);
	http_server_close_all(srv->http);
	uv_walk(&srv->loop, close_handle, NULL);
}

static void server_stop(struct server *srv, const char *why)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("%s: stopping (%u connections)", why, srv->nconns);
	for (int i = 0; i < srv->nlisteners; i++)
		uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
	http_server_stop(srv->http);
	broker_shutdown(srv->broker);
	uv_timer_stop(&srv->tick);
	uv_close((uv_handle_t *)&srv->tick, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	uv_timer_start(&srv->shutdown_timer, on_shutdown_timer, SHUTDOWN_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&srv->shutdown_timer);
	/* on_check closes each client once its goodbye bytes are written; the
	 * check handle itself must not keep the loop alive after that. */
	uv_unref((uv_handle_t *)&srv->flush);
}

static void reload(struct server *srv)
{
	struct agora_config fresh;
	char err[CONFIG_ERR_LEN];

	if (config_build(&fresh, srv->config_path, srv->overrides, err, sizeof(err))) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		return;
	}
	log_set_level((enum log_level)fresh.log_level);
	broker_set_config(srv->broker, &fresh.broker);
	srv->cfg.broker = fresh.broker;
	srv->cfg.max_connections = fresh.max_connections;
	srv->cfg.log_level = fresh.log_level;
	log_info("SIGHUP: configuration reloaded (log_level %s); listeners, data_dir, "
		 "allow_anonymous and HTTP settings apply at the next start",
		 log_level_name((enum log_level)fresh.log_level));
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	if (signum == SIGHUP)
		reload(srv);
	else
		server_stop(srv, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int ensure_data_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0750) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
		return 0;
	log_error("data_dir %s: %s", dir, errno == EEXIST ? "not a directory" : strerror(errno));
	return -1;
}

/* The store in data_dir and the API over it; false (logged) if the
 * database cannot be opened. */
static bool api_open(struct server *srv, const struct agora_config *cfg)
{
	char path[sizeof(cfg->data_dir) + 16];
	char err[512];
	struct api_config ac;
	int rc;

	snprintf(path, sizeof(path), "%s/agora.db", cfg->data_dir);
	rc = store_open(path, cfg->http.store_sync_full ? STORE_SYNC_FULL : STORE_SYNC_NORMAL,
			&srv->store, err, sizeof(err));
	if (rc) {
		log_error("%s", err);
		return false;
	}
	api_config_defaults(&ac);
	ac.message_max = cfg->http.message_max;
	ac.status_max = cfg->http.status_max;
	ac.cors_origins = srv->cfg.http.cors_origins; /* srv->cfg outlives the api */
	ac.pwhash_mem = (size_t)cfg->http.password_hash_kib * 1024;
	ac.pwhash_ops = cfg->http.password_hash_passes;
	ac.login_failures_per_minute = cfg->http.login_failures_per_minute;
	if (store_checkpoint_elsewhere(srv->store))
		log_warn("store: checkpoints stay inside writes");
	srv->api = api_new(srv->store, &ac);
	srv->bridge.broker = srv->broker;
	srv->bridge.loop = &srv->loop;
	srv->bridge.resume = resume_client;
	srv->bridge.resume_ctx = srv;
	bridge_attach(&srv->bridge, srv->api);
	scram_mechanism_init(&srv->scram, srv->store);
	broker_auth_register(srv->broker, &srv->scram.m);
	return true;
}

static void start_signal(struct server *srv, uv_signal_t *h, int signum)
{
	uv_signal_init(&srv->loop, h);
	h->data = srv;
	uv_signal_start(h, on_signal, signum);
}

int server_run(const struct agora_config *cfg, const char *config_path,
	       const struct config_overrides *ov)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	struct listener_config def;
	const struct listener_config *lcs = cfg->listeners;
	int nl = cfg->nlisteners;
	int status = 0;

	srv->cfg = *cfg;
	srv->config_path = config_path;
	srv->overrides = ov;
	log_set_level((enum log_level)cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	/* One descriptor per connection, plus listeners and a margin. */
	if (fdlimit_raise((uint64_t)cfg->max_connections + 64) < (uint64_t)cfg->max_connections + 64)
		log_warn("the open-file limit is below max_connections (%u): connections beyond "
			 "it will fail to be accepted", cfg->max_connections);
	if (ensure_data_dir(cfg->data_dir)) {
		free(srv);
		return 1;
	}
	uv_loop_init(&srv->loop);
	srv->loop.data = srv; /* connections find the server through their loop */
	srv->broker = broker_new(&cfg->broker);
	broker_set_version(srv->broker, "agora " AGORA_VERSION);
	broker_set_time(srv->broker, uv_now(&srv->loop));

	/* Signals first: a SIGTERM that arrives as soon as the "listening" line
	 * is out must find its handler. */
	start_signal(srv, &srv->sig_int, SIGINT);
	start_signal(srv, &srv->sig_term, SIGTERM);
	start_signal(srv, &srv->sig_hup, SIGHUP);
	if (nl == 0) {
		config_parse_listener_opts("127.0.0.1:1883", &def);
		lcs = &def;
		nl = 1;
	}
	for (int i = 0; i < nl; i++) {
		if (listener_start(srv, &srv->listeners[srv->nlisteners], &lcs[i])) {
			status = 1;
			break;
		}
		srv->nlisteners++;
	}
	if (status == 0 && !api_open(srv, cfg))
		status = 1;
	if (status == 0 && strcmp(cfg->http.listener, "off") != 0) {
		srv->http = http_server_start(&srv->loop, &srv->cfg.http, srv->api);
		srv->bridge.http = srv->http;
		if (!srv->http)
			status = 1;
	}
	uv_timer_init(&srv->loop, &srv->tick);
	srv->tick.data = srv;
	uv_timer_init(&srv->loop, &srv->shutdown_timer);
	srv->shutdown_timer.data = srv;
	uv_check_init(&srv->loop, &srv->flush);
	srv->flush.data = srv;
	uv_prepare_init(&srv->loop, &srv->log_turn);
	if (status == 0) {
		uv_timer_start(&srv->tick, on_tick, TICK_MS, TICK_MS);
		uv_check_start(&srv->flush, on_check);
		uv_prepare_start(&srv->log_turn, on_log_turn);
		uv_unref((uv_handle_t *)&srv->log_turn);
		log_flush_on_crash();
		log_buffering(true);
		log_info("agora %s ready (max %u connections, max packet %u bytes)", AGORA_VERSION,
			 cfg->max_connections, cfg->broker.max_packet_size);
		uv_run(&srv->loop, UV_RUN_DEFAULT);
	}
	/* Close anything left (also the path after a failed start). */
	uv_walk(&srv->loop, close_handle, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	log_buffering(false);
	if (uv_loop_close(&srv->loop) != 0)
		log_warn("event loop closed with handles still open");
	while (srv->free_batches) {
		struct wbatch *w = srv->free_batches;
		srv->free_batches = w->next_free;
		free(w);
	}
	http_server_free(srv->http);
	api_free(srv->api);
	store_free(srv->store);
	broker_free(srv->broker);
	free(srv->iov);
	free(srv);
	if (status == 0)
		log_info("stopped");
	return status;
}
