/*
 * listener.c - binding, listening and accepting, for every service: the
 * address forms, the connection limit, the log lines.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool host_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* "a.b.c.d:port" or "[v6]:port". */
static void format_address(const struct sockaddr_storage *ss, char *out, size_t cap)
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

void net_conn_peer(const struct net_conn *c, char *out, size_t cap, bool with_port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(out, cap, "?");
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (with_port)
		format_address(&ss, out, cap);
	else if (ss.ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)&ss, out, cap);
	else
		uv_ip4_name((const struct sockaddr_in *)&ss, out, cap);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct net_listener *l = server->data;
	struct net_service *svc = l->svc;
	struct net_conn *c;

	if (status < 0) {
		log_warn("accept on %s failed: %s", l->name, uv_strerror(status));
		return;
	}
	if (l->net->stopping)
		return;
	c = net__conn_new(l->net, svc);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (l->tls)
		net__tls_attach(c, l->tls); /* a refusal (HTTP's 503) is encrypted too */
	if (svc->max_conns && svc->nconns >= svc->max_conns) {
		/* Accepted and answered (or closed) at once, so the backlog does
		 * not fill with clients left waiting. */
		svc->refused++;
		if (svc->proto->refuse)
			svc->proto->refuse(c, l);
		if (c->mode == MODE_OPEN)
			net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	svc->nconns++;
	svc->accepted++;
	c->flags |= F_COUNTED;
	if (svc->proto->open && !svc->proto->open(c, l)) {
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	if (c->mode == MODE_OPEN && !(c->flags & F_PAUSED))
		conn_transport(c)->read_start(c);
}

static void free_listener(uv_handle_t *h)
{
	struct net_listener *l = h->data;

	tls_config_unref(l->tls);
	free(l);
}

void net__listener_close(struct net_listener *l)
{
	uv_close((uv_handle_t *)&l->tcp, free_listener);
}

/* The socket address for host:port; flags UV_TCP_IPV6ONLY for IPv6. */
static int resolve(const struct net_listener_config *lc, struct sockaddr_storage *addr,
		   unsigned *flags)
{
	memset(addr, 0, sizeof(*addr));
	*flags = 0;
	if (uv_ip4_addr(lc->host, lc->port, (struct sockaddr_in *)addr) == 0)
		return 0;
	if (uv_ip6_addr(lc->host, lc->port, (struct sockaddr_in6 *)addr) == 0) {
		*flags = UV_TCP_IPV6ONLY;
		return 0;
	}
	return -1;
}

struct net_listener *net_listen(struct net *n, const struct net_listener_config *lc,
				struct net_service *svc, const char *what)
{
	struct net_listener *l;
	struct sockaddr_storage addr, bound;
	int len = sizeof(bound);
	unsigned flags;
	int rc;

	if (n->nlisteners == NET_MAX_LISTENERS) {
		log_error("cannot listen on %s:%u (%s): at most %d listeners", lc->host, lc->port,
			  what, NET_MAX_LISTENERS);
		return NULL;
	}
	if (resolve(lc, &addr, &flags)) {
		log_error("listener %s:%u (%s): not a numeric IPv4 or IPv6 address", lc->host,
			  lc->port, what);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->net = n;
	l->svc = svc;
	l->loopback = host_is_loopback(lc->host);
	l->anonymous = lc->anonymous;
	l->use_identity = lc->use_identity;
	net_listener_set_tls(l, lc->tls);
	uv_tcp_init(n->loop, &l->tcp);
	l->tcp.data = l;
	rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
	if (rc < 0) {
		log_error("cannot listen on %s%s%s:%u (%s): %s", flags ? "[" : "", lc->host,
			  flags ? "]" : "", lc->port, what, uv_strerror(rc));
		net__listener_close(l);
		return NULL;
	}
	format_address(&bound, l->name, sizeof(l->name));
	n->listeners[n->nlisteners++] = l;
	return l;
}
