/*
 * tcp_serve.c - a classic TCP server's run (tcp.h): the loop, the
 * connection layer with one service, its listeners, the signals; and the
 * values both sides' command lines give (`[HOST:]PORT`, `HOST:PORT`,
 * numbers, seconds).
 */
#include "tcp.h"

#include "base/fdlimit.h"
#include "base/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOP_GRACE_MS 500 /* connections' time to take their last bytes */

/* ---- values ---- */

int classic_parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (*end || errno || x > max)
		return -1;
	*v = x;
	return 0;
}

const char *classic_option(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int classic_parse_seconds(const char *s, uint32_t *ms)
{
	char *end;
	double x;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	x = strtod(s, &end);
	if (*end || !(x >= 0 && x <= 30 * 86400.0))
		return -1;
	*ms = (uint32_t)(x * 1000 + 0.5);
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (classic_parse_uint(s, 65535, &v))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* HOST:PORT or [HOST]:PORT into host and port; with host_optional a bare
 * PORT too (host ""). An IPv6 address needs its brackets. */
static int split_hostport(const char *arg, char *host, size_t cap, uint16_t *port,
			  bool host_optional)
{
	const char *colon, *h = arg;
	size_t hlen;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			return -1;
		h = arg + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strchr(arg, ':');
		if (!colon) {
			if (!host_optional)
				return -1;
			host[0] = '\0';
			return parse_port(arg, port);
		}
		if (strchr(colon + 1, ':'))
			return -1; /* an IPv6 address without brackets */
		hlen = (size_t)(colon - arg);
	}
	if (hlen == 0 || hlen >= cap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return parse_port(colon + 1, port);
}

int classic_parse_listen(const char *arg, char *host, size_t cap, uint16_t *port)
{
	return split_hostport(arg, host, cap, port, true);
}

int classic_parse_hostport(const char *arg, char *host, size_t cap, uint16_t *port)
{
	if (split_hostport(arg, host, cap, port, false) || *port == 0)
		return -1;
	return 0;
}

/* ---- the run ---- */

struct runner {
	uv_loop_t loop;
	struct net *net;
	struct net_service *svc;
	const char *what;
	uv_signal_t sig_int, sig_term;
	uv_prepare_t log_turn;
	bool stopping;
};

void classic_log_refusal(struct net_conn *c, uint64_t *last, const char *what)
{
	uint64_t now = net_now(net_conn_net(c));
	char peer[80];

	if (*last && now - *last < 1000)
		return;
	*last = now ? now : 1;
	net_conn_peer(c, peer, sizeof(peer), true);
	log_warn("%s: refusing %s: too many connections (--max-connections)", what, peer);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct runner *r = h->data;

	if (r->stopping)
		return;
	r->stopping = true;
	log_info("%s: %s: stopping (%u connections)", r->what, signum == SIGINT ? "SIGINT" : "SIGTERM",
		 r->svc->nconns);
	uv_close((uv_handle_t *)&r->sig_int, NULL);
	uv_close((uv_handle_t *)&r->sig_term, NULL);
	net_stop(r->net, STOP_GRACE_MS);
}

/* Right before the loop waits: the turn's log lines in one write. */
static void on_log_turn(uv_prepare_t *h)
{
	(void)h;
	log_flush();
}

static struct net_listener *listen_on(struct runner *r, const char *host, uint16_t port)
{
	struct net_listener_config lc = { .host = host, .port = port, .anonymous = -1 };
	struct net_listener *l = net_listen(r->net, &lc, r->svc, r->what);

	if (l)
		log_info("listening on %s (%s)", l->name, r->what);
	return l;
}

/* No host: every IPv4 address, then every IPv6 one on the same port (the
 * one the first got, for port 0). A system without IPv6 still serves
 * IPv4. */
static int listen_all(struct runner *r, const char *host, uint16_t port)
{
	struct net_listener *l;

	if (host[0])
		return listen_on(r, host, port) ? 0 : -1;
	l = listen_on(r, "0.0.0.0", port);
	if (!l)
		return -1;
	if (!port)
		port = (uint16_t)strtoul(strrchr(l->name, ':') + 1, NULL, 10);
	if (!listen_on(r, "::", port))
		log_warn("%s: serving IPv4 clients only", r->what);
	return 0;
}

static void start_signal(struct runner *r, uv_signal_t *h, int signum)
{
	uv_signal_init(&r->loop, h);
	h->data = r;
	uv_signal_start(h, on_signal, signum);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int classic_serve(struct net_service *svc, const char *what, const char *host, uint16_t port)
{
	struct runner r = { .svc = svc, .what = what };
	int rc;

	/* A client gone mid-write is an error on its connection, not the
	 * end of the process; one descriptor per connection. */
	signal(SIGPIPE, SIG_IGN);
	if (svc->max_conns)
		fdlimit_raise((uint64_t)svc->max_conns + 32);
	uv_loop_init(&r.loop);
	r.net = net_new(&r.loop);
	start_signal(&r, &r.sig_int, SIGINT);
	start_signal(&r, &r.sig_term, SIGTERM);
	rc = listen_all(&r, host, port);
	if (rc == 0) {
		net_start(r.net);
		uv_prepare_init(&r.loop, &r.log_turn);
		uv_prepare_start(&r.log_turn, on_log_turn);
		uv_unref((uv_handle_t *)&r.log_turn);
		log_flush_on_crash();
		log_buffering(true);
		uv_run(&r.loop, UV_RUN_DEFAULT);
		log_buffering(false);
		log_info("%s: stopped", what);
	} else {
		net_stop(r.net, 0); /* no connection yet: the net's handles close */
	}
	uv_walk(&r.loop, close_handle, NULL);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&r.loop) != 0)
		log_warn("%s: event loop closed with handles still open", what);
	net_free(r.net);
	return rc;
}
