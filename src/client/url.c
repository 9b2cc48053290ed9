/*
 * url.c - `-L mqtt://[user[:password]@]host[:port]/topic` (shell.h), as
 * mosquitto_pub and mosquitto_sub read it: everything after the first '/'
 * following the address is the topic, as it is (a filter may hold '#',
 * which a URL would call a fragment). mqtts:// needs TLS, which Agora's
 * client does not speak yet: refused with a clear message. The address
 * part is client_address_parse, which `agora inbox --mqtt` uses too.
 */
#include "shell.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_url_release(struct client_url *u)
{
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->topic);
	memset(u, 0, sizeof(*u));
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	uint32_t v = 0;

	if (!len || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int client_address_parse(const char *s, size_t len, uint16_t default_port, char **host,
			 uint16_t *port, char *err, size_t errlen)
{
	const char *h = s, *colon = NULL;
	size_t hlen = len;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close) {
			snprintf(err, errlen, "'[' without ']' in the address");
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(close - h);
		if (close + 1 < s + len) {
			if (close[1] != ':') {
				snprintf(err, errlen, "':PORT' expected after ']'");
				return -1;
			}
			colon = close + 1;
		}
	} else {
		colon = memchr(s, ':', len);
		if (colon)
			hlen = (size_t)(colon - s);
	}
	if (!hlen) {
		snprintf(err, errlen, "the address has no host");
		return -1;
	}
	*port = default_port;
	if (colon && parse_port(colon + 1, (size_t)(s + len - colon - 1), port)) {
		snprintf(err, errlen, "'%.*s' is not a port from 1 to 65535",
			 (int)(s + len - colon - 1), colon + 1);
		return -1;
	}
	*host = xstrndup(h, hlen);
	return 0;
}

/* host[:port] or [v6]:port, in s[0..len), with -L's prefix on errors. */
static int parse_address(struct client_url *u, const char *s, size_t len, char *err,
			 size_t errlen)
{
	char why[160];

	if (client_address_parse(s, len, 1883, &u->host, &u->port, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "-L: %s", why);
	return -1;
}

int client_url_parse(struct client_url *u, const char *url, char *err, size_t errlen)
{
	static const char scheme[] = "mqtt://";
	const char *p, *slash, *at;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "mqtts://", 8) == 0) {
		snprintf(err, errlen, "-L: mqtts:// needs TLS, which agora does not speak yet");
		return -1;
	}
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
		snprintf(err, errlen, "-L: '%s' does not start with mqtt://", url);
		return -1;
	}
	p = url + sizeof(scheme) - 1;
	slash = strchr(p, '/');
	if (!slash || !slash[1]) {
		snprintf(err, errlen, "-L: the URL has no topic (mqtt://HOST[:PORT]/TOPIC)");
		return -1;
	}
	/* user[:password]@ before the address; the last '@' ends it, so a
	 * password may hold one */
	at = NULL;
	for (const char *q = p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			u->user = xstrndup(p, (size_t)(colon - p));
			u->password = xstrndup(colon + 1, (size_t)(at - colon - 1));
		} else {
			u->user = xstrndup(p, (size_t)(at - p));
		}
		p = at + 1;
	}
	if (parse_address(u, p, (size_t)(slash - p), err, errlen)) {
		client_url_release(u);
		return -1;
	}
	u->topic = xstrdup(slash + 1);
	return 0;
}
