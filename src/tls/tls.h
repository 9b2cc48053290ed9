/*
 * tls.h - TLS for Agora's connections (issue 15), over OpenSSL, with no
 * I/O of its own: bytes in, bytes out, like the codecs. The connection
 * layer's TLS transport (src/net/) and the command-line client
 * (src/client/) are the thin adapters that move those bytes to and from
 * sockets; tests drive a client engine against a server engine in memory.
 *
 * Two objects:
 * - struct tls_config: what one listener (or one client) asks for: its
 *   certificate and key, whom it trusts, the versions, ciphers, groups,
 *   ALPN, client certificates. Built once (tls_config_new), shared by every
 *   connection made with it, replaced whole on reload (SIGHUP): a
 *   connection keeps the config it started with (reference counted).
 * - struct tls_conn: one connection's TLS state (an SSL with two memory
 *   BIOs). The adapter feeds it what the socket read (tls_conn_feed),
 *   takes the plaintext it decrypted (tls_conn_read), gives it plaintext
 *   to send (tls_conn_write), and writes to the socket whatever ciphertext
 *   it has pending (tls_conn_pending / tls_conn_consume). The handshake
 *   runs inside these calls.
 *
 * Errors: 0 or a negative TLS_E* code; tls_strerror names it, and the
 * functions that fail write a sentence (OpenSSL's reason included) into
 * the caller's err buffer. No global state beyond OpenSSL's own
 * (initialised on first use, thread-safe as OpenSSL 1.1+ is).
 *
 * Ownership: tls_config_new returns a config with one reference;
 * tls_config_unref frees it with the last one (connections hold one each).
 * tls_conn_free frees a connection. Bytes returned by tls_conn_pending stay
 * valid until the next call on that connection.
 */
#ifndef AGORA_TLS_H
#define AGORA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tls_error {
	TLS_EOK = 0,
	TLS_ECONFIG = -1,    /* a file could not be read or does not fit (key/cert mismatch...) */
	TLS_EHANDSHAKE = -2, /* the peer failed the handshake (alert, bad certificate, not TLS) */
	TLS_EPROTO = -3,     /* a TLS record was malformed after the handshake */
	TLS_ECLOSED = -4,    /* the peer sent close_notify: no more plaintext */
	TLS_ENOMEM = -5,
};

const char *tls_strerror(int code);

enum tls_role { TLS_SERVER, TLS_CLIENT };

/* What a listener or a client asks for. Strings are paths or OpenSSL
 * lists; NULL or "" = not set. Copied by tls_config_new. */
struct tls_settings {
	enum tls_role role;
	const char *certfile;  /* PEM chain: required for a server, optional for a client */
	const char *keyfile;   /* PEM private key of certfile */
	const char *cafile;    /* PEM CA certificates trusted to verify the peer */
	const char *capath;    /* a directory of hashed CA certificates (c_rehash) */
	const char *crlfile;   /* PEM certificate revocation list(s): checked for the leaf */
	const char *ciphers;   /* TLS 1.2 cipher list (OpenSSL syntax); NULL: a strong default */
	const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL's default */
	const char *groups;    /* key exchange groups, e.g. "X25519:P-256"; NULL: default */
	const char *alpn;      /* comma-separated protocols, e.g. "mqtt" or "http/1.1";
				* a server picks the first of its list the client offers and
				* refuses a client that offers ALPN but none of them */
	const char *min_version; /* "1.2" (default) or "1.3" */
	/* Server: ask for a client certificate and refuse a handshake without
	 * a valid one (require_certificate). Client: verify the server (on
	 * unless insecure). */
	bool require_peer_cert;
	bool insecure;         /* client: do not verify the server at all (--insecure) */
	const char *server_name; /* client: SNI and the name (host or IP) to verify */
};

struct tls_config;
struct tls_conn;

/* Builds a config: loads and checks every file now (a server's key must
 * match its certificate; a CA file must parse), so a config that exists
 * works. NULL with a sentence in err (naming the file) on failure. */
struct tls_config *tls_config_new(const struct tls_settings *s, char *err, size_t errlen);
void tls_config_ref(struct tls_config *c);
void tls_config_unref(struct tls_config *c); /* accepts NULL */

/* A new connection with config c (it takes a reference). NULL only when
 * memory runs out. */
struct tls_conn *tls_conn_new(struct tls_config *c);
void tls_conn_free(struct tls_conn *t); /* accepts NULL */

/* Ciphertext read from the socket. Consumes all of it (OpenSSL's memory
 * BIO grows); the caller bounds how much it feeds between reads (a
 * connection's read chunk). Advances the handshake. Returns 0 or a TLS_E*
 * code (the connection is then unusable: the adapter writes what
 * tls_conn_pending still holds, an alert, and closes). */
int tls_conn_feed(struct tls_conn *t, const uint8_t *data, size_t len, char *err,
		  size_t errlen);

/* Decrypted plaintext into buf: the number of bytes (0: none yet), or a
 * TLS_E* code (TLS_ECLOSED after the peer's close_notify). */
long tls_conn_read(struct tls_conn *t, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* Plaintext to send: encrypted now if the handshake is done, else kept and
 * encrypted when it completes. Returns 0 or a TLS_E* code. */
int tls_conn_write(struct tls_conn *t, const uint8_t *data, size_t len, char *err,
		   size_t errlen);

/* Ciphertext waiting for the socket (handshake messages, records, alerts):
 * a pointer and its length (0: nothing). tls_conn_consume(t, n) says n of
 * them were written. */
size_t tls_conn_pending(struct tls_conn *t, const uint8_t **data);
void tls_conn_consume(struct tls_conn *t, size_t n);

/* A close_notify to send (then tls_conn_pending). */
void tls_conn_shutdown(struct tls_conn *t);

bool tls_conn_handshake_done(const struct tls_conn *t);
/* After the handshake: the negotiated version ("TLSv1.3"), cipher, ALPN
 * protocol ("" if none). */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
const char *tls_conn_alpn(const struct tls_conn *t);
/* The peer certificate's identity for use_identity_as_username: its
 * subject CN, else its first DNS or e-mail SAN; false if it has none (or
 * sent no certificate). Written NUL-terminated into out. */
bool tls_conn_peer_identity(const struct tls_conn *t, char *out, size_t cap);

/* Whether bytes that begin a connection look like a TLS ClientHello
 * (a handshake record, 0x16 0x03 ...): so that plain MQTT or HTTP sent to
 * a TLS port is told apart and logged as such. Needs 3 bytes; with fewer,
 * true while they still could be. Pure. */
bool tls_looks_like_hello(const uint8_t *data, size_t len);

#endif
