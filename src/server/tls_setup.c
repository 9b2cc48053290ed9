/* tls_setup.c - a listener's TLS settings made into the engine's config. */
#include "tls_setup.h"

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
