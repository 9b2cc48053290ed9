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
 * The count is not atomic: configs and their connections belong to one
 * thread (the event loop's). tls_conn_free frees a connection. Bytes
 * returned by tls_conn_pending stay valid until the next call on that
 * connection.
 *
 * Driving a connection (what an adapter does):
 * - After every call, write what tls_conn_pending holds: the handshake's
 *   messages come out of tls_conn_new (a client's ClientHello) and
 *   tls_conn_feed, but tls_conn_read can produce some too (a TLS 1.3
 *   key update's answer), and a failure leaves its alert there.
 * - After every tls_conn_feed, call tls_conn_read until it returns 0: the
 *   bytes that complete the handshake often carry the first records
 *   (a client's Finished and its MQTT CONNECT in one segment).
 * - The application protocol starts when tls_conn_handshake_done turns
 *   true (check it after each feed). It may write before (a client's
 *   CONNECT): up to TLS_EARLY_MAX bytes are kept and sent when the
 *   handshake completes; an adapter that may write more holds its output
 *   until then.
 * - Ciphertext per plaintext: records of at most 16 KiB of plaintext,
 *   each longer by 22 bytes in TLS 1.3 (header, content type, tag), 29
 *   with TLS 1.2's AES-GCM (explicit nonce) and 21 with its ChaCha20: about
 *   0.2% on bulk data, but 22 bytes on every small write. Each
 *   tls_conn_write makes its own records, so writing a turn's output at
 *   once is cheaper than packet by packet. A server's first flight holds
 *   its certificate chain: 1-2 KiB with ECDSA.
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
	TLS_ECLOSED = -4,    /* the peer sent close_notify: no more plaintext comes, but
			      * this side may still write (then tls_conn_shutdown) */
	TLS_ENOMEM = -5,     /* out of memory, or more than TLS_EARLY_MAX bytes written
			      * before the handshake completed */
};

/* The most plaintext tls_conn_write keeps before the handshake completes
 * (an MQTT CONNECT with a large will fits). */
#define TLS_EARLY_MAX (64u * 1024)

const char *tls_strerror(int code);

enum tls_role { TLS_SERVER, TLS_CLIENT };

/* What a listener or a client asks for. Strings are paths or OpenSSL
 * lists; NULL or "" = not set. Read by tls_config_new, not kept.
 * Refused (TLS_ECONFIG) as misleading: certfile without keyfile or the
 * reverse; a server's require_peer_cert without cafile or capath; a
 * client that verifies the server without server_name; crlfile on a side
 * that does not verify its peer. insecure and server_name are ignored on
 * a server. */
struct tls_settings {
	enum tls_role role;
	const char *certfile;  /* PEM chain: required for a server, optional for a client */
	const char *keyfile;   /* PEM private key of certfile */
	const char *cafile;    /* PEM CA certificates trusted to verify the peer */
	const char *capath;    /* a directory of hashed CA certificates (c_rehash) */
	const char *crlfile;   /* PEM certificate revocation list(s): checked for the peer's own
				* certificate; one whose issuer has no CRL here, or once
				* the CRL's nextUpdate has passed, is refused */
	const char *ciphers;   /* TLS 1.2 cipher list (OpenSSL syntax); NULL: ECDHE with
				* AES-GCM or ChaCha20-Poly1305 only */
	const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL's default */
	const char *groups;    /* key exchange groups, e.g. "X25519:P-256"; NULL: default */
	const char *alpn;      /* comma-separated protocols, e.g. "mqtt" or "http/1.1";
				* a server picks the first of its list the client offers and
				* refuses a client that offers ALPN but none of them */
	const char *min_version; /* "1.2" (default) or "1.3" */
	/* Server: ask for a client certificate and refuse a handshake without
	 * a valid one (require_certificate). Not read by a client, which
	 * always verifies the server unless insecure: against cafile/capath,
	 * or the system's CAs when neither is set. */
	bool require_peer_cert;
	bool insecure;         /* client: do not verify the server at all (--insecure) */
	const char *server_name; /* client: the name (host or IP address) the server's
				  * certificate must carry; also sent as SNI when a host */
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
 * memory runs out. A client's ClientHello is pending at once (a failure
 * to make it is returned by the next call). */
struct tls_conn *tls_conn_new(struct tls_config *c);
void tls_conn_free(struct tls_conn *t); /* accepts NULL */

/* Ciphertext read from the socket. Consumes all of it (OpenSSL's memory
 * BIO grows); the caller bounds how much it feeds between reads (a
 * connection's read chunk). Advances the handshake. Returns 0 or a TLS_E*
 * code (the connection is then unusable: the adapter writes what
 * tls_conn_pending still holds, an alert, and closes). */
int tls_conn_feed(struct tls_conn *t, const uint8_t *data, size_t len, char *err,
		  size_t errlen);

/* Decrypted plaintext into buf, as much as it holds (across records; the
 * rest of a record stays for the next call): the number of bytes (0: none yet, or the handshake is still running), or a TLS_E*
 * code: TLS_ECLOSED after the peer's close_notify; TLS_EHANDSHAKE when
 * the session fails before any plaintext came (a TLS 1.3 client
 * completes its side before the server checks the client's certificate,
 * and learns of a refusal here, from the server's alert); TLS_EPROTO
 * after. Plaintext that came before a failure is returned first, the
 * failure by the next call. */
long tls_conn_read(struct tls_conn *t, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* Plaintext to send: encrypted now if the handshake is done, else kept
 * (at most TLS_EARLY_MAX bytes in all: TLS_ENOMEM past that) and
 * encrypted when it completes. Returns 0 or a TLS_E* code. */
int tls_conn_write(struct tls_conn *t, const uint8_t *data, size_t len, char *err,
		   size_t errlen);

/* Ciphertext waiting for the socket (handshake messages, records, alerts):
 * a pointer and its length (0: nothing). tls_conn_consume(t, n) says n of
 * them were written. */
size_t tls_conn_pending(struct tls_conn *t, const uint8_t **data);
void tls_conn_consume(struct tls_conn *t, size_t n);

/* A close_notify to send (then tls_conn_pending); once. Before the
 * handshake completes, it is sent after it, behind what was written. */
void tls_conn_shutdown(struct tls_conn *t);

bool tls_conn_handshake_done(const struct tls_conn *t);
/* After the handshake: the negotiated version ("TLSv1.3"), cipher, ALPN
 * protocol ("" if none); "" before. Valid while t lives. */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
const char *tls_conn_alpn(const struct tls_conn *t);
/* The peer certificate's identity for use_identity_as_username: its
 * subject's first CN, else (no CN at all) its first DNS or e-mail SAN;
 * false if it has none, sent no certificate, or the name does not fit in
 * cap bytes with its NUL or holds a NUL (never cut: a cut name could be
 * another account's). Written NUL-terminated into out. The certificate
 * was verified unless this side does not verify (a server without
 * require_peer_cert asks for none; an insecure client). */
bool tls_conn_peer_identity(const struct tls_conn *t, char *out, size_t cap);

/* Whether bytes that begin a connection look like a TLS ClientHello
 * (a handshake record, 0x16 0x03 ...): so that plain MQTT or HTTP sent to
 * a TLS port is told apart and logged as such. Needs 3 bytes; with fewer,
 * true while they still could be. Pure. */
bool tls_looks_like_hello(const uint8_t *data, size_t len);

#endif
