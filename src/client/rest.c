/*
 * rest.c - one REST API request on libcurl, bounded in time and size, and
 * the pure helpers of rest.h (URL, error line, terminal-safe text).
 */
#include "rest.h"

#include "base/alloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 1024 /* the Authorization line: "Bearer " and a 43-byte token */

void rest_client_init(struct rest_client *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->server, sizeof(c->server), "%s", REST_DEFAULT_SERVER);
	c->connect_timeout_ms = REST_CONNECT_TIMEOUT_MS;
	c->timeout_ms = REST_TIMEOUT_MS;
	c->max_answer = REST_ANSWER_MAX;
}

void rest_client_release(struct rest_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void rest_answer_release(struct rest_answer *a)
{
	free(a->body);
	a->body = NULL;
	a->len = 0;
}

int rest_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void rest_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- the request ---- */

struct sink {
	char *buf;
	size_t len, cap, max;
	bool too_big;
};

/* curl's write callback: appends, refusing past sink->max (returning less
 * than given makes curl stop with CURLE_WRITE_ERROR). */
static size_t sink_write(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;

	if (len > s->max - s->len) {
		s->too_big = true;
		return 0;
	}
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;

		while (cap < s->len + len + 1)
			cap *= 2;
		s->buf = xrealloc(s->buf, cap);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

/* The sentence for a request that got no answer, and its REST_E* code. */
static int transfer_error(const struct rest_client *c, CURLcode rc, const struct sink *s,
			  const char *curl_err, char *err, size_t errlen)
{
	long os_errno = 0;

	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "the answer from %s is over %zu bytes", c->server,
			 c->max_answer);
		return REST_ETOOBIG;
	}
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "cannot resolve the host name of %s", c->server);
		return REST_ERESOLVE;
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "cannot connect to %s: %s", c->server,
			 os_errno ? strerror((int)os_errno) : curl_err);
		return REST_ECONNECT;
	case CURLE_OPERATION_TIMEDOUT: {
		curl_off_t connected_us = 0; /* 0: the connection never came up */

		curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected_us);
		if (connected_us == 0) {
			snprintf(err, errlen, "cannot connect to %s within %ld ms", c->server,
				 c->connect_timeout_ms < c->timeout_ms ? c->connect_timeout_ms
								       : c->timeout_ms);
			return REST_ECONNECT;
		}
		snprintf(err, errlen, "no answer from %s within %ld ms", c->server, c->timeout_ms);
		return REST_ETIMEOUT;
	}
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(err, errlen, "the certificate of %s is not trusted (%s); give the CA that "
			 "signed it with --cafile FILE (or AGORA_CAFILE)", c->server,
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return REST_ETLS;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(err, errlen, "cannot use the CA file %s: %s", c->cafile ? c->cafile : "(system)",
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return REST_ETLS;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(err, errlen, "TLS handshake with %s failed: %s", c->server,
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return REST_ETLS;
	case CURLE_GOT_NOTHING:
		snprintf(err, errlen, "%s closed the connection without answering", c->server);
		return REST_EPROTO;
	default:
		snprintf(err, errlen, "request to %s failed: %s", c->server,
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return REST_EPROTO;
	}
}

/* The request's headers; NULL when out of memory. */
static struct curl_slist *request_headers(const struct rest_client *c, const char *body)
{
	struct curl_slist *h = NULL, *next;
	char auth[HEADER_MAX];
	const char *lines[4];
	size_t n = 0;

	lines[n++] = "Accept: application/json";
	/* No "Expect: 100-continue": bodies are small, and it costs a round trip. */
	lines[n++] = "Expect:";
	/* A POST with no body would otherwise say it is a form. */
	lines[n++] = body ? "Content-Type: application/json" : "Content-Type:";
	for (size_t i = 0; i < n; i++) {
		if (!(next = curl_slist_append(h, lines[i])))
			goto out_fail;
		h = next;
	}
	if (c->token) {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token) >=
		    sizeof(auth))
			goto out_fail;
		next = curl_slist_append(h, auth);
		memset(auth, 0, sizeof(auth));
		if (!next)
			goto out_fail;
		h = next;
	}
	return h;
out_fail:
	curl_slist_free_all(h);
	return NULL;
}

/* Every option of one request; CURLE_OK or the first failure. */
static CURLcode set_options(struct rest_client *c, const char *method, const char *url,
			    const char *body, struct curl_slist *headers, struct sink *s,
			    char *curl_err)
{
	CURL *h = c->curl;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                          \
	do {                                                                                   \
		if (rc == CURLE_OK)                                                            \
			rc = curl_easy_setopt(h, opt, val);                                    \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM */
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_answer);
	SET(CURLOPT_WRITEFUNCTION, sink_write);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_ERRORBUFFER, curl_err);
	SET(CURLOPT_USERAGENT, "agora/" AGORA_VERSION);
	SET(CURLOPT_HTTPHEADER, headers);
	if (c->cafile)
		SET(CURLOPT_CAINFO, c->cafile);
	if (c->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "GET") != 0)
		SET(CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		SET(CURLOPT_POSTFIELDS, body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		SET(CURLOPT_POSTFIELDS, "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
#undef SET
	return rc;
}

int rest_request(struct rest_client *c, const char *method, const char *path, const char *body,
		 struct rest_answer *answer, char *err, size_t errlen)
{
	char url[REST_URL_MAX + 1024];
	char curl_err[CURL_ERROR_SIZE] = "";
	struct sink s = { .max = c->max_answer };
	struct curl_slist *headers;
	CURLcode rc;
	int ret;

	memset(answer, 0, sizeof(*answer));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->server, path) >= sizeof(url)) {
		snprintf(err, errlen, "the request URL is too long");
		return REST_EPROTO;
	}
	if (!c->curl && !(c->curl = curl_easy_init())) {
		snprintf(err, errlen, "cannot start a request (libcurl): out of memory");
		return REST_EPROTO;
	}
	/* Options back to defaults, the kept connection and DNS cache stay. */
	curl_easy_reset(c->curl);
	if (!(headers = request_headers(c, body))) {
		snprintf(err, errlen, "cannot build the request: out of memory");
		return REST_EPROTO;
	}
	rc = set_options(c, method, url, body, headers, &s, curl_err);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		ret = transfer_error(c, rc, &s, curl_err, err, errlen);
		free(s.buf);
		goto out_headers;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &answer->status);
	answer->body = s.buf;
	answer->len = s.len;
	ret = 0;
out_headers:
	/* The Authorization header's copy in the list holds the token. */
	for (struct curl_slist *l = headers; l; l = l->next)
		memset(l->data, 0, strlen(l->data));
	curl_slist_free_all(headers);
	return ret;
}

/* ---- pure helpers ---- */

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* host[:port] or [v6]:port: a host, and a port of 1 to 65535 if any. */
static bool authority_valid(const char *a, size_t len, const char **why)
{
	const char *port = NULL, *end = a + len;
	long v = 0;

	*why = "the URL has no host";
	if (len == 0)
		return false;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', len);

		*why = "an IPv6 address in a URL is written [address]:port";
		if (!close || close == a + 1)
			return false;
		if (close + 1 < end && close[1] != ':')
			return false;
		if (close + 1 < end)
			port = close + 2;
	} else {
		const char *colon = memchr(a, ':', len);

		if (colon == a)
			return false;
		if (colon)
			port = colon + 1;
	}
	if (memchr(a, '@', len)) {
		*why = "a server URL must not hold a user name or password";
		return false;
	}
	if (!port)
		return true;
	*why = "the port must be a number from 1 to 65535";
	if (port == end)
		return false;
	for (const char *p = port; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return false;
	}
	return v > 0;
}

int rest_url_canonical(const char *in, char *out, size_t outlen, const char **why)
{
	const char *sep = strstr(in, "://"), *rest, *slash;
	char scheme[8] = "http";
	size_t alen, plen, n;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			*why = "a URL has no spaces or control characters";
			return -1;
		}
		if (*p == '?' || *p == '#') {
			*why = "a server URL has no query or fragment";
			return -1;
		}
	}
	rest = in;
	if (sep) {
		n = (size_t)(sep - in);
		if (n >= sizeof(scheme)) {
			*why = "only http:// and https:// URLs are supported";
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			scheme[i] = lower(in[i]);
		scheme[n] = '\0';
		rest = sep + 3;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		*why = "only http:// and https:// URLs are supported";
		return -1;
	}
	slash = strchr(rest, '/');
	alen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!authority_valid(rest, alen, why))
		return -1;
	plen = slash ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	n = strlen(scheme) + 3 + alen + plen;
	if (n >= outlen) {
		*why = "the URL is too long";
		return -1;
	}
	n = (size_t)snprintf(out, outlen, "%s://", scheme);
	/* The host in lower case (names compare without case); the port is digits. */
	for (size_t i = 0; i < alen; i++)
		out[n++] = lower(rest[i]);
	if (plen)
		memcpy(out + n, slash, plen);
	out[n + plen] = '\0';
	return 0;
}

int rest_url_host(const char *url, char *out, size_t outlen)
{
	const char *sep = strstr(url, "://");
	const char *h = sep ? sep + 3 : url, *end;

	if (*h == '[') {
		end = strchr(++h, ']');
	} else {
		end = h + strcspn(h, ":/");
	}
	if (!end || end == h || (size_t)(end - h) >= outlen)
		return -1;
	memcpy(out, h, (size_t)(end - h));
	out[end - h] = '\0';
	return 0;
}

/* The error object of a body, or NULL; *root to json_decref. */
static json_t *error_object(const char *body, size_t len, json_t **root)
{
	json_t *e;

	*root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	e = json_object_get(*root, "error");
	return json_is_object(e) ? e : NULL;
}

void rest_error_line(long status, const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root, *e = error_object(body, len, &root);
	json_t *code = json_object_get(e, "code"), *message = json_object_get(e, "message");
	char *m, *c;

	if (outlen == 0)
		goto out;
	if (!json_is_string(message) || !json_is_string(code)) {
		snprintf(out, outlen, "the server answered %ld", status);
		goto out;
	}
	m = rest_safe_dup(json_string_value(message), json_string_length(message), NULL,
			  REST_MESSAGE_MAX);
	c = rest_safe_dup(json_string_value(code), json_string_length(code), NULL, 64);
	snprintf(out, outlen, "%s (%ld %s)", m, status, c);
	free(m);
	free(c);
out:
	json_decref(root);
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *rest_safe_dup(const char *str, size_t len, const char *newline, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t nl = newline ? strlen(newline) : 2;
	size_t use = len < max ? len : max, i = 0, o = 0;
	/* The longest a byte can become: "\u009b" is 6 for 2 bytes, "\xNN" 4
	 * for 1, the newline nl for 1; then "..." and the NUL. */
	size_t cap = use * (nl > 4 ? nl : 4) + 4;
	char *out = xmalloc(cap);

	while (i < use) {
		size_t n = utf8_len(s + i, use - i);

		if (n == 0) {
			/* cut inside a character by max: stop there, not "\xNN" */
			if (use < len && use - i < 4 && utf8_len(s + i, len - i) > use - i)
				break;
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", s[i]);
			i++;
		} else if (n == 1 && s[i] == '\n') {
			if (newline) {
				memcpy(out + o, newline, nl);
				o += nl;
			} else {
				memcpy(out + o, "\\n", 2);
				o += 2;
			}
			i++;
		} else if (n == 1 && ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", s[i]);
			i++;
		} else if (n == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", s[i + 1]);
			i += 2;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	if (use < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
