/*
 * tls.c - the TLS engine (tls.h) over OpenSSL 3: one SSL_CTX per config,
 * one SSL per connection between two memory BIOs (rbio: ciphertext fed
 * in; wbio: ciphertext waiting for the socket).
 *
 * Memory BIOs rather than a socket BIO keep this file free of I/O: the
 * handshake and every record are driven by the bytes the adapter gives,
 * so a test pumps a client against a server without a socket, and the
 * event loop stays the only thing that reads and writes. The price is one
 * copy of the ciphertext each way (into rbio, out of wbio).
 *
 * OpenSSL reports errors on a per-thread queue, and SSL_get_error reads
 * that queue: an error left behind by an earlier call makes a later,
 * healthy call look failed. So every entry point that calls OpenSSL
 * empties the queue before the call and after reading the reason.
 */
#include "tls/tls.h"

#include "base/alloc.h"
#include "base/array.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The TLS 1.2 suites when the settings name none: forward secrecy (ECDHE)
 * and AEAD only, Mozilla's "intermediate" list less its finite-field DHE
 * suites (slow, and they need DH parameters). The client's order picks
 * among them (no SSL_OP_CIPHER_SERVER_PREFERENCE): all are strong, and a
 * client without AES instructions knows to prefer ChaCha20. */
#define TLS_DEFAULT_CIPHERS                                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* A memory BIO keeps the largest buffer it ever needed. An empty one that
 * grew past this is replaced by a fresh one once TLS_TRIM_AFTER bursts in
 * a row no longer filled half of it (conn_trim), so a connection that once
 * sent or received a large message does not idle holding that much (the
 * memory per idle connection is measured in make bench); a smaller one is
 * kept, so the usual traffic reuses it without reallocating. */
#define TLS_BIO_KEEP (64 * 1024)
#define TLS_TRIM_AFTER 4

/* Where tls_conn_consume drops the ciphertext written: a memory BIO has no
 * way to skip bytes but reading them. */
#define TLS_SINK_SIZE (16 * 1024)

/* A server's session id context: OpenSSL refuses to resume a session
 * whose client certificate was verified unless one is set. */
static const unsigned char tls_sid_ctx[] = "agora";

struct tls_config {
	SSL_CTX *ctx;
	uint32_t refs;
	enum tls_role role;
	uint32_t alpn_len; /* bytes of alpn_wire */
	/* The ALPN list in wire format (each name after its length byte), and
	 * the same names NUL-terminated at the same offsets less one: the name
	 * whose length byte is alpn_wire[k] is alpn_names + k. NULL: none. */
	uint8_t *alpn_wire;
	char *alpn_names;
	char *sni; /* client: the host name sent as SNI; NULL for an address or none */
};

struct tls_conn {
	SSL *ssl;		/* owns both memory BIOs */
	struct tls_config *cfg; /* one reference */
	const char *alpn;	/* into cfg->alpn_names, or "" */
	char *failure;		/* the sentence of the error that ended the connection */
	uint8_t *early;		/* plaintext written before the handshake completed */
	uint32_t early_len, early_cap;
	int failed;	 /* 0, or the TLS_E* code every later call returns */
	bool done;	 /* the handshake completed */
	bool want_close; /* tls_conn_shutdown came before the handshake completed */
	bool got_data;	 /* plaintext came from the peer */
	/* Per memory BIO (0 rbio, 1 wbio): the most bytes it held since it was
	 * last empty, the bursts in a row that filled at most half of an
	 * oversized buffer, whether its handshake buffer was given back. */
	size_t peak[2];
	uint8_t small[2];
	bool settled[2];
};

const char *tls_strerror(int code)
{
	switch (code) {
	case TLS_EOK: return "success";
	case TLS_ECONFIG: return "TLS configuration refused";
	case TLS_EHANDSHAKE: return "TLS handshake failed";
	case TLS_EPROTO: return "TLS protocol error";
	case TLS_ECLOSED: return "TLS session closed by the peer";
	case TLS_ENOMEM: return "TLS out of memory";
	}
	return "unknown TLS error";
}

/* ---- OpenSSL's reasons ---- */

/* OpenSSL's reason for what just failed: the oldest error on the queue is
 * the cause (those after it are its callers' "PEM lib"); the queue is then
 * emptied (see the top of the file). */
static void ssl_reason(char *out, size_t cap)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, out, cap);
	else
		snprintf(out, cap, "no reason given by OpenSSL");
	ERR_clear_error();
}

/* A config step failed on file `file` (the setting `what`): the sentence
 * names both and gives OpenSSL's reason. */
static int config_fail(char *err, size_t errlen, const char *what, const char *file)
{
	char reason[256];

	ssl_reason(reason, sizeof(reason));
	if (file)
		snprintf(err, errlen, "%s %s: %s", what, file, reason);
	else
		snprintf(err, errlen, "%s: %s", what, reason);
	return TLS_ECONFIG;
}

/* ---- ALPN (pure) ---- */

/* "mqtt,http/1.1" into wire ("\4mqtt\10http/1.1") and names
 * ("mqtt\0http/1.1\0"), both strlen(list) + 1 bytes: each name's length
 * byte takes the place of the comma before it. -1 for an empty name or
 * one longer than 255 bytes (the protocol's limit). */
static int alpn_parse(const char *list, size_t len, uint8_t *wire, char *names)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		size_t n = i - start;

		if (i < len && list[i] != ',')
			continue;
		if (n == 0 || n > 255)
			return -1;
		wire[start] = (uint8_t)n;
		memcpy(wire + start + 1, list + start, n);
		memcpy(names + start, list + start, n);
		names[start + n] = '\0';
		start = i + 1;
	}
	return 0;
}

/* The first of our protocols the client offers: our list is the order of
 * preference. theirs is the client's list as received; its framing is
 * checked again here rather than trusted. NULL: none in common. */
static const uint8_t *alpn_pick(const uint8_t *ours, size_t ourlen, const uint8_t *theirs,
				size_t theirlen)
{
	for (size_t i = 0; i < ourlen; i += 1u + ours[i]) {
		for (size_t j = 0; j < theirlen && j + 1u + theirs[j] <= theirlen;
		     j += 1u + theirs[j]) {
			if (ours[i] == theirs[j] && !memcmp(ours + i + 1, theirs + j + 1, ours[i]))
				return ours + i;
		}
	}
	return NULL;
}

/* The NUL-terminated name of the protocol p (n bytes) in c's list, or "". */
static const char *alpn_name(const struct tls_config *c, const uint8_t *p, unsigned n)
{
	for (size_t k = 0; k < c->alpn_len; k += 1u + c->alpn_wire[k]) {
		if (c->alpn_wire[k] == n && !memcmp(c->alpn_wire + k + 1, p, n))
			return c->alpn_names + k;
	}
	return "";
}

/* OpenSSL's ALPN callback on a server, called only when the client offers
 * ALPN: a client that offers none of ours is refused with the
 * no_application_protocol alert (RFC 7301), rather than let through to
 * speak a protocol this listener does not expect. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tls_config *c = arg;
	const uint8_t *p = alpn_pick(c->alpn_wire, c->alpn_len, in, inlen);

	(void)ssl;
	if (!p)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = p + 1;
	*outlen = p[0];
	return SSL_TLSEXT_ERR_OK;
}

/* ---- tls_config ---- */

/* OpenSSL asks for a passphrase when a key is encrypted, by default on the
 * terminal: a server must not block reading stdin, so there is none. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;
}

static bool is_set(const char *s)
{
	return s && *s;
}

static bool is_ip_address(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* TLS1_2_VERSION or TLS1_3_VERSION for the min_version setting; 0 if it
 * is neither. */
static int min_version(const char *v)
{
	if (!is_set(v) || !strcmp(v, "1.2"))
		return TLS1_2_VERSION;
	if (!strcmp(v, "1.3"))
		return TLS1_3_VERSION;
	return 0;
}

/* Whether this side verifies its peer's certificate. */
static bool verifies_peer(const struct tls_settings *s)
{
	return s->role == TLS_SERVER ? s->require_peer_cert : !s->insecure;
}

/* The combinations refused before any file is read: each would give a
 * config that does not do what it seems to (a CRL never checked, a client
 * accepting any certificate a public CA signed for any name). */
static int settings_check(const struct tls_settings *s, char *err, size_t errlen)
{
	const char *why = NULL;

	if (!min_version(s->min_version))
		why = "min_version must be 1.2 or 1.3";
	else if (s->role == TLS_SERVER && !(is_set(s->certfile) && is_set(s->keyfile)))
		why = "a server needs certfile and keyfile";
	else if (is_set(s->certfile) != is_set(s->keyfile))
		why = "certfile and keyfile go together";
	else if (s->role == TLS_SERVER && s->require_peer_cert && !is_set(s->cafile) &&
		 !is_set(s->capath))
		why =
		    "require_peer_cert needs cafile or capath (the CAs of the client certificates)";
	else if (s->role == TLS_CLIENT && !s->insecure && !is_set(s->server_name))
		why = "a client that verifies the server needs server_name";
	else if (s->role == TLS_CLIENT && is_set(s->server_name) && strlen(s->server_name) > 255)
		why = "server_name is longer than 255 bytes";
	else if (is_set(s->crlfile) && !verifies_peer(s))
		why = "crlfile is only checked when the peer's certificate is verified";
	if (why)
		snprintf(err, errlen, "%s", why);
	return why ? TLS_ECONFIG : 0;
}

/* Versions, suites, groups and the options every connection gets. */
static int config_protocol(struct tls_config *c, const struct tls_settings *s, char *err,
			   size_t errlen)
{
	SSL_CTX *ctx = c->ctx;
	const char *ciphers = is_set(s->ciphers) ? s->ciphers : TLS_DEFAULT_CIPHERS;

	if (!SSL_CTX_set_min_proto_version(ctx, min_version(s->min_version)))
		return config_fail(err, errlen, "min_version", NULL);
	/* Renegotiation is a denial-of-service lever and a source of past
	 * bugs, and nothing of ours needs it; compression leaks (CRIME). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Idle connections give back their 16 KiB record buffers: most MQTT
	 * connections are idle most of the time. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase_cb);
	if (!SSL_CTX_set_cipher_list(ctx, ciphers))
		return config_fail(err, errlen, "ciphers", ciphers);
	if (is_set(s->ciphersuites) && !SSL_CTX_set_ciphersuites(ctx, s->ciphersuites))
		return config_fail(err, errlen, "ciphersuites", s->ciphersuites);
	if (is_set(s->groups) && !SSL_CTX_set1_groups_list(ctx, s->groups))
		return config_fail(err, errlen, "groups", s->groups);
	if (s->role == TLS_SERVER &&
	    !SSL_CTX_set_session_id_context(ctx, tls_sid_ctx, sizeof(tls_sid_ctx) - 1))
		return config_fail(err, errlen, "session id context", NULL);
	return 0;
}

/* A key that could not be used. OpenSSL compares it with the certificate
 * as it loads it, so a mismatch shows here as well as in
 * SSL_CTX_check_private_key. */
static int key_fail(const struct tls_settings *s, char *err, size_t errlen)
{
	unsigned long e = ERR_peek_error();
	bool mismatch =
	    ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
	char reason[256];

	ssl_reason(reason, sizeof(reason));
	if (mismatch)
		snprintf(err, errlen, "keyfile %s is not the key of certfile %s: %s", s->keyfile,
			 s->certfile, reason);
	else
		snprintf(err, errlen,
			 "keyfile %s: %s (a PEM private key without passphrase is needed)",
			 s->keyfile, reason);
	return TLS_ECONFIG;
}

/* This side's certificate chain and key, and that they belong together. */
static int config_identity(struct tls_config *c, const struct tls_settings *s, char *err,
			   size_t errlen)
{
	if (!is_set(s->certfile))
		return 0;
	if (SSL_CTX_use_certificate_chain_file(c->ctx, s->certfile) != 1)
		return config_fail(err, errlen, "certfile", s->certfile);
	if (SSL_CTX_use_PrivateKey_file(c->ctx, s->keyfile, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1)
		return key_fail(s, err, errlen);
	return 0;
}

/* A server asking for client certificates names the CAs it accepts, so a
 * client holding several picks the right one. */
static int config_client_ca_list(struct tls_config *c, const char *cafile, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);

	if (!names)
		return config_fail(err, errlen, "cafile", cafile);
	SSL_CTX_set_client_CA_list(c->ctx, names);
	return 0;
}

/* The revocation lists, checked for the peer's own certificate (not its
 * CAs': X509_V_FLAG_CRL_CHECK_ALL would then require a CRL from every CA
 * up to the root). A certificate whose issuer has no CRL in the file is
 * refused ("unable to get certificate CRL"), and so is every certificate
 * once the CRL's nextUpdate has passed: the file must be kept fresh. */
static int config_crl(struct tls_config *c, const char *crlfile, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(c->ctx);
	X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

	if (!lookup || X509_load_crl_file(lookup, crlfile, X509_FILETYPE_PEM) <= 0)
		return config_fail(err, errlen, "crlfile", crlfile);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/* Whom this side trusts to vouch for its peer. */
static int config_trust(struct tls_config *c, const struct tls_settings *s, char *err,
			size_t errlen)
{
	struct stat st;

	if (is_set(s->cafile) && SSL_CTX_load_verify_file(c->ctx, s->cafile) != 1)
		return config_fail(err, errlen, "cafile", s->cafile);
	if (is_set(s->cafile) && s->role == TLS_SERVER && s->require_peer_cert &&
	    config_client_ca_list(c, s->cafile, err, errlen))
		return TLS_ECONFIG;
	if (is_set(s->capath)) {
		/* OpenSSL looks into the directory only during a handshake:
		 * check now that it is one. */
		if (stat(s->capath, &st) != 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "capath %s: not a directory", s->capath);
			return TLS_ECONFIG;
		}
		if (SSL_CTX_load_verify_dir(c->ctx, s->capath) != 1)
			return config_fail(err, errlen, "capath", s->capath);
	}
	/* A client given no CA trusts the system's (a public server). */
	if (s->role == TLS_CLIENT && !s->insecure && !is_set(s->cafile) && !is_set(s->capath) &&
	    SSL_CTX_set_default_verify_paths(c->ctx) != 1)
		return config_fail(err, errlen, "the system's CA certificates", NULL);
	if (is_set(s->crlfile))
		return config_crl(c, s->crlfile, err, errlen);
	return 0;
}

/* Whether and how the peer is verified; a client's name to check. */
static int config_verify(struct tls_config *c, const struct tls_settings *s, char *err,
			 size_t errlen)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(c->ctx);
	const char *name = s->server_name;

	if (s->role == TLS_SERVER) {
		SSL_CTX_set_verify(c->ctx,
				   s->require_peer_cert
				       ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				       : SSL_VERIFY_NONE,
				   NULL);
		return 0;
	}
	SSL_CTX_set_verify(c->ctx, s->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (!is_set(name))
		return 0;
	/* SNI carries host names only (RFC 6066); an address is checked
	 * against the certificate's IP SANs instead of its DNS ones. */
	if (is_ip_address(name)) {
		if (!s->insecure && X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1)
			return config_fail(err, errlen, "server_name", name);
		return 0;
	}
	c->sni = xstrdup(name);
	if (s->insecure)
		return 0;
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
		return config_fail(err, errlen, "server_name", name);
	return 0;
}

/* The ALPN list: offered by a client, chosen from by a server. */
static int config_alpn(struct tls_config *c, const struct tls_settings *s, char *err, size_t errlen)
{
	size_t len = is_set(s->alpn) ? strlen(s->alpn) : 0;

	if (!len)
		return 0;
	/* The whole list travels in one extension: at most 65535 bytes. */
	c->alpn_wire = xmalloc(len + 1);
	c->alpn_names = xmalloc(len + 1);
	if (len + 1 > 65535 || alpn_parse(s->alpn, len, c->alpn_wire, c->alpn_names)) {
		snprintf(err, errlen, "alpn '%s': names separated by commas, each 1 to 255 bytes",
			 s->alpn);
		return TLS_ECONFIG;
	}
	c->alpn_len = (uint32_t)(len + 1);
	if (s->role == TLS_SERVER)
		SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select_cb, c);
	else if (SSL_CTX_set_alpn_protos(c->ctx, c->alpn_wire, c->alpn_len) != 0)
		return config_fail(err, errlen, "alpn", s->alpn); /* 0 is success here */
	return 0;
}

typedef int (*config_step)(struct tls_config *c, const struct tls_settings *s, char *err,
			   size_t errlen);

static const config_step config_steps[] = {
    config_protocol, config_identity, config_trust, config_verify, config_alpn,
};

static void config_free(struct tls_config *c)
{
	SSL_CTX_free(c->ctx);
	free(c->alpn_wire);
	free(c->alpn_names);
	free(c->sni);
	free(c);
}

struct tls_config *tls_config_new(const struct tls_settings *s, char *err, size_t errlen)
{
	struct tls_config *c = NULL;

	ERR_clear_error();
	if (settings_check(s, err, errlen))
		goto out;
	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->role = s->role;
	c->ctx = SSL_CTX_new(s->role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!c->ctx) {
		config_fail(err, errlen, "TLS context", NULL);
		goto out_free_config;
	}
	for (size_t i = 0; i < sizeof(config_steps) / sizeof(config_steps[0]); i++) {
		if (config_steps[i](c, s, err, errlen))
			goto out_free_config;
	}
	goto out;

out_free_config:
	config_free(c);
	c = NULL;
out:
	/* Some calls that succeed still leave an error behind (a system CA
	 * directory that does not exist, for one). */
	ERR_clear_error();
	return c;
}

void tls_config_ref(struct tls_config *c)
{
	c->refs++;
}

void tls_config_unref(struct tls_config *c)
{
	if (c && --c->refs == 0)
		config_free(c);
}

/* ---- tls_conn: errors ---- */

/* Ends t with code and the sentence line, kept so that every later call
 * says the same. */
static int conn_end(struct tls_conn *t, int code, const char *line, char *err, size_t errlen)
{
	t->failed = code;
	free(t->failure);
	t->failure = xstrdup(line);
	snprintf(err, errlen, "%s", line);
	ERR_clear_error();
	return code;
}

/* Ends t after OpenSSL failed: its reason, and when a certificate was the
 * cause, the verification's verdict (which certificate check failed). */
static int conn_fail(struct tls_conn *t, int code, char *err, size_t errlen)
{
	char reason[256], line[512];
	unsigned long e = ERR_peek_error();
	long v = SSL_get_verify_result(t->ssl);
	bool cert = ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK;

	ssl_reason(reason, sizeof(reason));
	snprintf(line, sizeof(line), "%s: %s%s%s", tls_strerror(code), reason, cert ? ": " : "",
		 cert ? X509_verify_cert_error_string(v) : "");
	return conn_end(t, code, line, err, errlen);
}

/* What a connection that already ended answers. */
static int conn_ended(const struct tls_conn *t, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", t->failure ? t->failure : tls_strerror(t->failed));
	return t->failed;
}

/* ---- tls_conn: the handshake and the plaintext kept for after it ---- */

/* Encrypts len bytes of plaintext into wbio (which grows: all of it goes,
 * as records of at most 16 KiB). */
static int conn_encrypt(struct tls_conn *t, const uint8_t *data, size_t len, char *err,
			size_t errlen)
{
	size_t written;
	int r;

	ERR_clear_error();
	r = SSL_write_ex(t->ssl, data, len, &written);
	if (r == 1)
		return 0;
	if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)
		return conn_end(t, TLS_ECLOSED,
				"TLS session closed by this side: nothing more is sent", err,
				errlen);
	return conn_fail(t, TLS_EPROTO, err, errlen);
}

/* Keeps plaintext written before the handshake completed, up to
 * TLS_EARLY_MAX bytes in all. */
static int conn_keep(struct tls_conn *t, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	char line[160];

	if (len > TLS_EARLY_MAX - t->early_len) {
		snprintf(line, sizeof(line),
			 "more than %u bytes written before the TLS handshake completed",
			 (unsigned)TLS_EARLY_MAX);
		return conn_end(t, TLS_ENOMEM, line, err, errlen);
	}
	ARRAY_GROW(t->early, t->early_cap, (size_t)t->early_len + len, 1024, TLS_EARLY_MAX);
	memcpy(t->early + t->early_len, data, len);
	t->early_len += (uint32_t)len;
	return 0;
}

/* Sends close_notify, once. */
static void conn_close(struct tls_conn *t)
{
	if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)
		return;
	ERR_clear_error();
	SSL_shutdown(
	    t->ssl); /* 0: sent, the peer's not yet seen; with memory BIOs it cannot block */
	ERR_clear_error();
}

/* The handshake just completed: what was kept goes out, in order. */
static int conn_established(struct tls_conn *t, char *err, size_t errlen)
{
	const unsigned char *p;
	unsigned n = 0;
	int rc = 0;

	t->done = true;
	SSL_get0_alpn_selected(t->ssl, &p, &n);
	t->alpn = n ? alpn_name(t->cfg, p, n) : "";
	if (t->early_len)
		rc = conn_encrypt(t, t->early, t->early_len, err, errlen);
	free(t->early);
	t->early = NULL;
	t->early_len = t->early_cap = 0;
	if (!rc && t->want_close)
		conn_close(t);
	return rc;
}

/* One step of the handshake with what rbio holds. */
static int conn_handshake(struct tls_conn *t, char *err, size_t errlen)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return conn_established(t, err, errlen);
	if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ)
		return 0;
	return conn_fail(t, TLS_EHANDSHAKE, err, errlen);
}

/* ---- tls_conn: memory BIOs ---- */

static BIO *mem_bio_new(void)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b) /* empty means "wait for more", not end of stream */
		BIO_set_mem_eof_return(b, -1);
	return b;
}

/* Notes what BIO i (0 rbio, 1 wbio) holds now, for conn_trim. */
static void conn_note(struct tls_conn *t, int i, size_t held)
{
	if (held > t->peak[i])
		t->peak[i] = held;
}

/* Whether BIO i, empty, holds a buffer the connection does not need: the
 * one the handshake grew (certificates: given back the first time it is
 * empty after it, so an idle connection holds none), or one past
 * TLS_BIO_KEEP that the last TLS_TRIM_AFTER bursts did not fill to half.
 * A connection whose bursts are still that large now and then keeps its
 * buffer: giving it back each time cost, per burst, the regrowth (a copy
 * per step) and, the buffer being at the heap's top, a brk that shrinks
 * the heap and flushes the TLB (a quarter of the broker's time at QoS 0
 * 1 -> 1 over TLS). */
static bool bio_spare(struct tls_conn *t, int i, BIO *b)
{
	BUF_MEM *m = NULL;
	bool spare = false;

	if (BIO_ctrl_pending(b) != 0)
		return false;
	BIO_get_mem_ptr(b, &m);
	if (m && m->max > TLS_BIO_KEEP)
		t->small[i] = t->peak[i] <= m->max / 2 ? t->small[i] + 1 : 0;
	if (!t->settled[i])
		spare = m && m->max > 0;
	else if (t->small[i] >= TLS_TRIM_AFTER)
		spare = true;
	if (spare)
		t->small[i] = 0;
	t->settled[i] = true;
	t->peak[i] = 0;
	return spare;
}

/* Gives back the buffer of an empty rbio or wbio the connection does not
 * need. Only after the handshake: during it OpenSSL stacks a buffering
 * BIO on wbio. A failed allocation keeps the old one. */
static void conn_trim(struct tls_conn *t)
{
	BIO *b;

	if (!t->done)
		return;
	if (bio_spare(t, 0, SSL_get_rbio(t->ssl)) && (b = mem_bio_new()))
		SSL_set0_rbio(t->ssl, b); /* frees the old one */
	if (bio_spare(t, 1, SSL_get_wbio(t->ssl)) && (b = mem_bio_new()))
		SSL_set0_wbio(t->ssl, b);
}

/* ---- tls_conn: the calls ---- */

/* A client's first flight (ClientHello) is pending at once. */
static void conn_start_client(struct tls_conn *t)
{
	char err[1];

	if (t->cfg->sni)
		SSL_set_tlsext_host_name(t->ssl, t->cfg->sni);
	SSL_set_connect_state(t->ssl);
	conn_handshake(t, err, sizeof(err)); /* a failure is kept for the next call */
}

struct tls_conn *tls_conn_new(struct tls_config *c)
{
	struct tls_conn *t = xcalloc(1, sizeof(*t));
	BIO *rbio = NULL, *wbio = NULL;

	ERR_clear_error();
	t->alpn = "";
	t->ssl = SSL_new(c->ctx);
	if (!t->ssl)
		goto out_free_conn;
	rbio = mem_bio_new();
	wbio = mem_bio_new();
	if (!rbio || !wbio)
		goto out_free_bios;
	SSL_set_bio(t->ssl, rbio, wbio);
	tls_config_ref(c);
	t->cfg = c;
	if (c->role == TLS_CLIENT)
		conn_start_client(t);
	else
		SSL_set_accept_state(t->ssl);
	return t;

out_free_bios:
	BIO_free(rbio);
	BIO_free(wbio);
	SSL_free(t->ssl);
out_free_conn:
	free(t);
	ERR_clear_error();
	return NULL;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	tls_config_unref(t->cfg);
	free(t->early);
	free(t->failure);
	free(t);
}

int tls_conn_feed(struct tls_conn *t, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	BIO *rbio = SSL_get_rbio(t->ssl);

	if (t->failed)
		return conn_ended(t, err, errlen);
	ERR_clear_error();
	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		int n = BIO_write(rbio, data, chunk);

		if (n <= 0)
			return conn_end(t, TLS_ENOMEM, "TLS out of memory for the bytes read", err,
					errlen);
		data += n;
		len -= (size_t)n;
	}
	conn_note(t, 0, BIO_ctrl_pending(rbio));
	return t->done ? 0 : conn_handshake(t, err, errlen);
}

/* A read failed with OpenSSL's error e: the peer closed, or broke the
 * session. Before any plaintext came, the failure is the handshake's: a
 * TLS 1.3 client completes its side before the server has checked its
 * certificate, and learns of a refusal from the alert that follows. */
static int conn_read_failed(struct tls_conn *t, int e, char *err, size_t errlen)
{
	if (e == SSL_ERROR_ZERO_RETURN) {
		/* Not an end: only the peer's half is closed, and an answer
		 * may still go (an HTTP client may close its side after the
		 * request). OpenSSL answers every later read the same. */
		ERR_clear_error();
		snprintf(err, errlen, "TLS session closed by the peer (close_notify)");
		return TLS_ECLOSED;
	}
	return conn_fail(t, t->got_data ? TLS_EPROTO : TLS_EHANDSHAKE, err, errlen);
}

long tls_conn_read(struct tls_conn *t, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
	size_t got = 0, n;
	int r, e = SSL_ERROR_NONE;

	if (t->failed)
		return conn_ended(t, err, errlen);
	if (!t->done)
		return 0;
	if (cap > LONG_MAX)
		cap = LONG_MAX;
	/* Record after record until buf is full or rbio has no whole one. */
	while (got < cap) {
		ERR_clear_error();
		r = SSL_read_ex(t->ssl, buf + got, cap - got, &n);
		if (r != 1) {
			e = SSL_get_error(t->ssl, r);
			break;
		}
		got += n;
	}
	if (got)
		t->got_data = true;
	if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
		/* The plaintext before the failure is returned now, the
		 * failure by the next call. */
		if (got) {
			conn_read_failed(t, e, NULL, 0);
			return (long)got;
		}
		return conn_read_failed(t, e, err, errlen);
	}
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ)
		conn_trim(t);
	return (long)got;
}

int tls_conn_write(struct tls_conn *t, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	if (t->failed)
		return conn_ended(t, err, errlen);
	if (len == 0)
		return 0;
	if (!t->done)
		return conn_keep(t, data, len, err, errlen);
	return conn_encrypt(t, data, len, err, errlen);
}

size_t tls_conn_pending(struct tls_conn *t, const uint8_t **data)
{
	char *p = NULL;
	long n = BIO_get_mem_data(SSL_get_wbio(t->ssl), &p);

	*data = (const uint8_t *)p;
	if (n <= 0)
		return 0;
	conn_note(t, 1, (size_t)n);
	return (size_t)n;
}

void tls_conn_consume(struct tls_conn *t, size_t n)
{
	uint8_t sink[TLS_SINK_SIZE];
	BIO *wbio = SSL_get_wbio(t->ssl);

	while (n > 0) {
		int r = BIO_read(wbio, sink, n > sizeof(sink) ? (int)sizeof(sink) : (int)n);

		if (r <= 0)
			break;
		n -= (size_t)r;
	}
	conn_trim(t);
}

void tls_conn_shutdown(struct tls_conn *t)
{
	if (t->failed)
		return;
	if (t->done)
		conn_close(t);
	else
		t->want_close = true;
}

bool tls_conn_handshake_done(const struct tls_conn *t)
{
	return t->done;
}

const char *tls_conn_version(const struct tls_conn *t)
{
	return t->done ? SSL_get_version(t->ssl) : "";
}

const char *tls_conn_cipher(const struct tls_conn *t)
{
	const SSL_CIPHER *c = t->done ? SSL_get_current_cipher(t->ssl) : NULL;

	return c ? SSL_CIPHER_get_name(c) : "";
}

const char *tls_conn_alpn(const struct tls_conn *t)
{
	return t->alpn;
}

/* ---- the peer's identity ---- */

/* s as NUL-terminated UTF-8 into out; false if it does not fit, or holds a
 * NUL (a name "admin\0.example.com" must not pass for "admin"). */
static bool identity_copy(const ASN1_STRING *s, char *out, size_t cap)
{
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, s);
	bool ok = n > 0 && (size_t)n < cap && !memchr(utf8, '\0', (size_t)n);

	if (ok) {
		memcpy(out, utf8, (size_t)n);
		out[n] = '\0';
	}
	OPENSSL_free(utf8);
	return ok;
}

/* The subject's first common name (as Mosquitto takes it), into out; -1
 * if the subject has none. */
static int identity_cn(X509 *cert, char *out, size_t cap)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

	if (i < 0)
		return -1;
	return identity_copy(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)), out, cap);
}

/* The first DNS or e-mail subjectAltName. */
static bool identity_san(X509 *cert, char *out, size_t cap)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool found = false;

	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type == GEN_DNS || g->type == GEN_EMAIL) {
			found = identity_copy(g->d.ia5, out, cap);
			break;
		}
	}
	GENERAL_NAMES_free(sans);
	return found;
}

bool tls_conn_peer_identity(const struct tls_conn *t, char *out, size_t cap)
{
	X509 *cert = t->done ? SSL_get0_peer_certificate(t->ssl) : NULL;
	bool found = false;

	if (cap)
		out[0] = '\0';
	/* A CN that cannot be used is no identity: falling back to a SAN
	 * would map the certificate to another account. */
	if (cert) {
		int cn = identity_cn(cert, out, cap);

		found = cn < 0 ? identity_san(cert, out, cap) : cn == 1;
	}
	ERR_clear_error();
	return found;
}

bool tls_looks_like_hello(const uint8_t *data, size_t len)
{
	/* A handshake record (22), version 3.x: SSL 3.0 (3.0) to TLS 1.3 (3.4)
	 * in what a client puts there. */
	return (len < 1 || data[0] == 0x16) && (len < 2 || data[1] == 0x03) &&
	       (len < 3 || data[2] <= 0x04);
}
