/*
 * tls_setup.h - a listener's TLS settings (config.h, struct listener_tls)
 * made into the engine's config (src/tls/tls.h), for every service that
 * listens with tls=yes (MQTT, HTTP, WebSocket), and the one registry of
 * those listeners that SIGHUP reloads.
 *
 * Ownership: the registry is the caller's (server.c holds one for the
 * process) and outlives its listeners' use; it holds no reference of its
 * own (the listener holds its config).
 */
#ifndef AGORA_TLS_SETUP_H
#define AGORA_TLS_SETUP_H

#include "config.h"
#include "net/net.h"

struct tls_config;

/* Every listener started with tls=yes, with what made its config: the
 * reload makes it again from the same files. */
struct tls_listeners {
	struct tls_listener_entry {
		struct net_listener *l;
		struct listener_tls tls;
		const char *alpn_default; /* static text */
	} v[NET_MAX_LISTENERS];
	int n;
};

/* The config for a listener (every file loaded and checked now), or NULL
 * with the reason in err. alpn_default: the ALPN protocol offered when the
 * listener sets none ("mqtt", "http/1.1"), or NULL. */
struct tls_config *tls_setup_listener(const struct listener_tls *t, const char *alpn_default,
				      char *err, size_t errlen);

/* net_listen on lc for svc, with TLS when lc says tls=yes (its config
 * made with alpn_default, the listener put in reg for the reload). NULL,
 * logged ("listener ADDRESS: why", or net_listen's line), if it cannot. */
struct net_listener *tls_setup_listen(struct tls_listeners *reg, struct net *n,
				      const struct listener_config *lc, struct net_service *svc,
				      const char *what, const char *alpn_default);

/* SIGHUP: every registered listener's certificate, key, CAs and CRL read
 * again from the files it was started with. New connections use them;
 * open ones keep theirs. A listener whose files no longer load keeps the
 * old ones (logged, with why). */
void tls_listeners_reload(struct tls_listeners *reg);

#endif
