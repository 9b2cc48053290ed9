/* chat_text.c - the pure parts of `agora chat`: commands, UTF-8, escaping, addresses. */
#include "chat_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* --- commands -------------------------------------------------------- */

static bool word_is(const char *w, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(w, name, n) == 0;
}

static bool only_spaces(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* "PORT" for /join: 1..65535, digits only. */
static bool parse_peer_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* The next space-separated token of s[*i..n), or false when none is left. */
static bool next_token(const char *s, size_t n, size_t *i, const char **tok, size_t *tlen)
{
	size_t j;

	while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
	if (*i == n)
		return false;
	j = *i;
	while (j < n && s[j] != ' ' && s[j] != '\t')
		j++;
	*tok = s + *i;
	*tlen = j - *i;
	*i = j;
	return true;
}

static void parse_join(const char *arg, size_t n, struct chat_cmd *cmd)
{
	const char *host, *port, *extra;
	size_t i = 0, hlen, plen, elen;

	if (!next_token(arg, n, &i, &host, &hlen) || !next_token(arg, n, &i, &port, &plen) ||
	    next_token(arg, n, &i, &extra, &elen)) {
		cmd->kind = CHAT_CMD_BAD;
		cmd->error = "usage: /join HOST PORT";
		return;
	}
	if (!parse_peer_port(port, plen, &cmd->port)) {
		cmd->kind = CHAT_CMD_BAD;
		cmd->error = "the port is a number from 1 to 65535";
		return;
	}
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0) {
		cmd->kind = CHAT_CMD_BAD;
		cmd->error = "usage: /join HOST PORT";
		return;
	}
	cmd->kind = CHAT_CMD_JOIN;
	cmd->host = host;
	cmd->host_len = hlen;
}

void chat_parse_line(const char *line, size_t len, struct chat_cmd *cmd)
{
	const char *arg;
	size_t wlen, alen;

	memset(cmd, 0, sizeof(*cmd));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		cmd->kind = CHAT_CMD_EMPTY;
		return;
	}
	if (line[0] != '/') {
		cmd->kind = CHAT_CMD_SEND;
		cmd->text = line;
		cmd->len = len;
		return;
	}
	/* The course splits at the first space: the command, then its parameter. */
	for (wlen = 0; wlen < len && line[wlen] != ' '; wlen++)
		;
	arg = wlen < len ? line + wlen + 1 : line + len;
	alen = wlen < len ? len - wlen - 1 : 0;
	cmd->text = line;
	cmd->len = wlen;
	if (word_is(line, wlen, "/send")) {
		if (alen == 0) {
			cmd->kind = CHAT_CMD_BAD;
			cmd->error = "usage: /send TEXT";
			return;
		}
		cmd->kind = CHAT_CMD_SEND;
		cmd->text = arg;
		cmd->len = alen;
	} else if (word_is(line, wlen, "/join")) {
		parse_join(arg, alen, cmd);
	} else if (word_is(line, wlen, "/quit") || word_is(line, wlen, "/exit") ||
		   word_is(line, wlen, "/help")) {
		cmd->kind = line[1] == 'q' ? CHAT_CMD_QUIT
			    : line[1] == 'e' ? CHAT_CMD_EXIT
					     : CHAT_CMD_HELP;
		if (!only_spaces(arg, alen)) {
			cmd->kind = CHAT_CMD_BAD;
			cmd->error = "takes no argument";
		}
	} else {
		cmd->kind = CHAT_CMD_BAD;
		cmd->error = "unknown command (/join HOST PORT, /send TEXT, /quit, /exit, /help)";
	}
}

/* --- UTF-8 ----------------------------------------------------------- */

size_t chat_utf8_char(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint8_t c = s[0];
	uint32_t v;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0; /* a continuation byte, C0/C1 (overlong), F5..FF */
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[k] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

bool chat_utf8_valid(const uint8_t *s, size_t len)
{
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = chat_utf8_char(s + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t chat_split(const uint8_t *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	/* s[n] starts the next datagram: back up to a byte that starts a character. */
	n = max;
	while (n > 0 && (s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* --- escaping -------------------------------------------------------- */

/* Code points a terminal would act on rather than show, or that reorder
 * the text around them ("Trojan Source", CVE-2021-42574). */
static bool cp_needs_escape(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static const char hex[] = "0123456789abcdef";

/* The escape of one ASCII byte, or of a byte of a bad sequence, in e. */
static size_t escape_byte(uint8_t c, char *e)
{
	e[0] = '\\';
	switch (c) {
	case '\\': e[1] = '\\'; return 2;
	case '\t': e[1] = 't'; return 2;
	case '\n': e[1] = 'n'; return 2;
	case '\r': e[1] = 'r'; return 2;
	default:
		e[1] = 'x';
		e[2] = hex[c >> 4];
		e[3] = hex[c & 15];
		return 4;
	}
}

/* "\u{HHHH}": the code points cp_needs_escape names are all below 0x10000. */
static size_t escape_cp(uint32_t cp, char *e)
{
	e[0] = '\\';
	e[1] = 'u';
	e[2] = '{';
	e[3] = hex[(cp >> 12) & 15];
	e[4] = hex[(cp >> 8) & 15];
	e[5] = hex[(cp >> 4) & 15];
	e[6] = hex[cp & 15];
	e[7] = '}';
	return 8;
}

size_t chat_escape(const uint8_t *s, size_t len, char *out, size_t cap, size_t *used)
{
	size_t i = 0, o = 0;

	while (i < len) {
		char e[8];
		const char *src = e;
		size_t n, step;
		uint32_t cp;

		n = chat_utf8_char(s + i, len - i, &cp);
		if (n == 0) {
			step = 1;
			n = escape_byte(s[i], e);
		} else if (n == 1 && (cp < 0x20 || cp == 0x7F || cp == '\\')) {
			step = 1;
			n = escape_byte(s[i], e);
		} else if (n > 1 && cp_needs_escape(cp)) {
			step = n;
			n = escape_cp(cp, e);
		} else {
			step = n;
			src = (const char *)s + i;
		}
		if (n > cap - o)
			break;
		memcpy(out + o, src, n);
		o += n;
		i += step;
	}
	*used = i;
	return o;
}

/* --- addresses ------------------------------------------------------- */

/* "0".."65535", digits only. */
static int parse_bind_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int chat_parse_bind(const char *spec, struct sockaddr_storage *ss, bool *any)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *port;
	size_t hlen;
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	*any = false;
	if (!strchr(spec, ':')) {
		if (parse_bind_port(spec, &p))
			return -1;
		*any = true;
		in6->sin6_family = AF_INET6; /* in6addr_any: all zeroes */
		in6->sin6_port = htons(p);
		return 0;
	}
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - spec - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
		if (parse_bind_port(close + 2, &p) ||
		    inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		return 0;
	}
	colon = strrchr(spec, ':');
	if (colon != strchr(spec, ':'))
		return -1; /* an IPv6 address needs its brackets */
	hlen = (size_t)(colon - spec);
	port = colon + 1;
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (parse_bind_port(port, &p) || inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -1;
	in4->sin_family = AF_INET;
	in4->sin_port = htons(p);
	return 0;
}

void chat_format_addr(const struct sockaddr *sa, char *out)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, a, sizeof(a));
		snprintf(out, CHAT_ADDR_MAX, "%s:%u", a, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, a, sizeof(a));
			snprintf(out, CHAT_ADDR_MAX, "%s:%u", a, ntohs(in6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
			snprintf(out, CHAT_ADDR_MAX, "[%s]:%u", a, ntohs(in6->sin6_port));
		}
	} else {
		snprintf(out, CHAT_ADDR_MAX, "(unknown address family %d)", sa->sa_family);
	}
}
