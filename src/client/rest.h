/*
 * rest.h - the client side of the REST API (agora register, login, users,
 * send, inbox...): one HTTP request at a time on libcurl, every one bounded
 * in time (connect and total) and in the size of its answer, and the pure
 * helpers around it: the server URL made canonical, the one line an error
 * answer becomes, text made safe to print on a terminal.
 *
 * Conventions:
 * - Errors: rest_request returns 0 when the server answered, whatever the
 *   status (the caller reads answer.status), and a negative REST_E* code
 *   when no answer came (cannot connect, timeout, answer too large...),
 *   with a sentence in the caller's err buffer.
 * - Ownership: a struct rest_client owns its curl handle (created by the
 *   first request, freed by rest_client_release); the token it points to
 *   stays the caller's. A struct rest_answer owns its body, freed by
 *   rest_answer_release. Strings returned by rest_safe_dup are malloc'd.
 * - Process: rest_global_init once before any request (curl's global
 *   state), rest_global_cleanup once at the end. SIGPIPE must be ignored
 *   (a peer gone mid-write is an error code, not the end of the process).
 * - Everything except rest_request (and the init/cleanup pair) is pure: no
 *   I/O, no globals, so it is unit-tested (tests/unit/test_cli_api.c).
 */
#ifndef AGORA_CLIENT_REST_H
#define AGORA_CLIENT_REST_H

#include <stdbool.h>
#include <stddef.h>

/* `agora serve`'s default http_listener, 127.0.0.1:8080. */
#define REST_DEFAULT_SERVER "http://127.0.0.1:8080"
#define REST_URL_MAX 512
#define REST_CONNECT_TIMEOUT_MS 5000L
#define REST_TIMEOUT_MS 30000L
/* A page of 100 messages of 4,096 bytes, each byte escaped in JSON as
 * \u00XX at worst, is 2.4 MiB: 8 MiB leaves room and stays bounded. */
#define REST_ANSWER_MAX ((size_t)8 << 20)
/* Bytes of an error message from the server kept in an error line. */
#define REST_MESSAGE_MAX 300

enum rest_error {
	REST_ECONNECT = -1, /* cannot connect (refused, unreachable, connect timeout) */
	REST_ERESOLVE = -2, /* the host name does not resolve */
	REST_ETIMEOUT = -3, /* connected, but no whole answer within the timeout */
	REST_ETOOBIG = -4,  /* the answer is over max_answer bytes */
	REST_EPROTO = -5,   /* anything else: closed without an answer, ... */
	REST_ETLS = -6,     /* https: the server's certificate is not trusted (or not for
			     * its name), the CA file cannot be read, or the handshake
			     * failed */
};

struct rest_client {
	char server[REST_URL_MAX]; /* canonical (rest_url_canonical) */
	const char *token;         /* sent as Authorization: Bearer; NULL: none */
	/* https: the CA certificates (PEM) the server's must chain to, NULL:
	 * the system's; insecure: the server's certificate is not checked at
	 * all (development only). Unused over http. */
	const char *cafile;
	bool insecure;
	long connect_timeout_ms;
	long timeout_ms;           /* the whole request, connect included */
	size_t max_answer;         /* bytes of an answer's body */
	void *curl;                /* CURL *, kept between requests (keep-alive) */
};

struct rest_answer {
	long status;  /* HTTP status */
	char *body;   /* NUL-terminated (len bytes before it); NULL when len is 0 */
	size_t len;
};

/* The server URL, timeouts and size limit set to the defaults; allocates
 * nothing. The caller then copies a canonical URL into c->server. */
void rest_client_init(struct rest_client *c);
/* Frees the curl handle (closing its kept connection). */
void rest_client_release(struct rest_client *c);

/*
 * One request: method ("GET", "POST", "PATCH", "DELETE") on c->server
 * followed by path (which starts with '/', query included, already
 * escaped). body: a JSON text sent as application/json, or NULL for none.
 * Returns 0 and fills *answer when the server answered (any status), or a
 * REST_E* code with a sentence in err ("cannot connect to
 * http://127.0.0.1:9: Connection refused"); *answer is then empty.
 */
int rest_request(struct rest_client *c, const char *method, const char *path, const char *body,
		 struct rest_answer *answer, char *err, size_t errlen);
void rest_answer_release(struct rest_answer *a);

int rest_global_init(void);
void rest_global_cleanup(void);

/* ---- pure helpers ---- */

/*
 * The canonical form of a server URL, the key the credentials file keeps
 * accounts under: "http://" added when there is no scheme, scheme and host
 * in lower case, trailing '/' removed. Only http and https; no user
 * information, query or fragment; no spaces or control characters.
 * Returns 0, or -1 with a short reason in *why (static text).
 */
int rest_url_canonical(const char *in, char *out, size_t outlen, const char **why);

/*
 * The host of a canonical server URL (rest_url_canonical), without its
 * port or an IPv6 address's brackets: "http://[::1]:8080" gives "::1".
 * `agora inbox --follow` finds the MQTT server there by default. Returns
 * 0, or -1 when there is no host or it does not fit in out.
 */
int rest_url_host(const char *url, char *out, size_t outlen);

/*
 * The one line an error answer becomes: the server's message made safe
 * for a terminal and cut to REST_MESSAGE_MAX bytes, then the status and
 * the code, "no user 'bob' (404 not_found)". An answer whose body is not
 * {"error": {"code", "message"}} gives "the server answered 502" (never
 * the raw body). Always NUL-terminates out (when outlen > 0).
 */
void rest_error_line(long status, const char *body, size_t len, char *out, size_t outlen);

/*
 * A copy of s (len bytes of UTF-8) that a terminal shows as text: C0
 * control characters, DEL and C1 controls (U+0080 to U+009F, which some
 * terminals take for escape sequences) become visible escapes ("\x1b",
 * "\u009b"); a tab stays; a newline becomes `newline` (NULL: "\n" escaped
 * as two characters); bytes that are not UTF-8 become "\xNN". At most max
 * bytes of s are used, "..." marking a cut. Never returns NULL (aborts when
 * out of memory, like xmalloc).
 */
char *rest_safe_dup(const char *s, size_t len, const char *newline, size_t max);

#endif
