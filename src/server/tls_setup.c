/* tls_setup.c - a listener's TLS settings made into the engine's config;
 * the listeners with TLS, for the reload (tls_setup.h). */
#include "tls_setup.h"

#include "base/log.h"
#include "tls/tls.h"

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

struct tls_config *tls_setup_listener(const struct listener_tls *t, const char *alpn_default,
				      char *err, size_t errlen)
{
	struct tls_settings s = {
		.role = TLS_SERVER,
		.certfile = or_null(t->certfile),
		.keyfile = or_null(t->keyfile),
		.cafile = or_null(t->cafile),
		.capath = or_null(t->capath),
		.crlfile = or_null(t->crlfile),
		.ciphers = or_null(t->ciphers),
		.ciphersuites = or_null(t->ciphersuites),
		.groups = or_null(t->groups),
		.alpn = t->alpn[0] ? t->alpn : alpn_default,
		.min_version = or_null(t->version),
		.require_peer_cert = t->require_certificate,
	};

	return tls_config_new(&s, err, errlen);
}

struct net_listener *tls_setup_listen(struct tls_listeners *reg, struct net *n,
				      const struct listener_config *lc, struct net_service *svc,
				      const char *what, const char *alpn_default)
{
	struct net_listener_config nl = { .host = lc->host, .port = lc->port,
					  .anonymous = lc->anonymous,
					  .use_identity = lc->tls.use_identity };
	struct net_listener *l;
	char err[512];

	if (lc->tls.on) {
		nl.tls = tls_setup_listener(&lc->tls, alpn_default, err, sizeof(err));
		if (!nl.tls) {
			log_error("listener %s:%u (%s): %s", lc->host, lc->port, what, err);
			return NULL;
		}
	}
	l = net_listen(n, &nl, svc, what);
	tls_config_unref(nl.tls); /* the listener holds its own */
	/* net_listen refuses more than NET_MAX_LISTENERS: the registry fits */
	if (l && lc->tls.on && reg->n < NET_MAX_LISTENERS)
		reg->v[reg->n++] = (struct tls_listener_entry){ l, lc->tls, alpn_default };
	return l;
}

void tls_listeners_reload(struct tls_listeners *reg)
{
	char err[512];

	for (int i = 0; i < reg->n; i++) {
		const struct tls_listener_entry *e = &reg->v[i];
		struct tls_config *cfg = tls_setup_listener(&e->tls, e->alpn_default, err,
							    sizeof(err));

		if (!cfg) {
			log_error("SIGHUP: %s: certificates not reloaded, the loaded ones stay: %s",
				  e->l->name, err);
			continue;
		}
		net_listener_set_tls(e->l, cfg);
		tls_config_unref(cfg);
		log_info("SIGHUP: %s: certificates reloaded (new connections use them)",
			 e->l->name);
	}
}
