/*
 * tls_setup.h - a listener's TLS settings (config.h, struct listener_tls)
 * made into the engine's config (src/tls/tls.h), for every service that
 * listens with tls=yes.
 */
#ifndef AGORA_TLS_SETUP_H
#define AGORA_TLS_SETUP_H

#include "config.h"

struct tls_config;

/* The config for a listener (every file loaded and checked now), or NULL
 * with the reason in err. alpn_default: the ALPN protocol offered when the
 * listener sets none ("mqtt", "http/1.1"), or NULL. */
struct tls_config *tls_setup_listener(const struct listener_tls *t, const char *alpn_default,
				      char *err, size_t errlen);

#endif
