/* mail.c - an e-mail's headers and body (mail.h). */
#include "notify/mail.h"

#include <string.h>
#include <time.h>

/* A header line should fit in 78 characters (RFC 5322 2.1.1); an encoded
 * word of 42 bytes is 68 characters, which leaves room for "Subject: ". */
#define WORD_BYTES 42
#define LINE_SOFT 78
/* RFC 5322's hard limit on a line, CRLF aside: longer body lines go QP. */
#define LINE_HARD 998
/* quoted-printable lines, the "=" of a soft break included (RFC 2045). */
#define QP_LINE 76

bool notify_mail_address_ok(const char *s, size_t len)
{
	const char *at = NULL;

	if (len == 0 || len > NOTIFY_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || strchr("()<>[]:;,\\\"", c))
			return false;
		if (c == '@') {
			if (at)
				return false;
			at = s + i;
		}
	}
	return at && at > s && at < s + len - 1;
}

int notify_mail_parse_to(const char *to, struct notify_mail_addrs *out)
{
	const char *p = to;

	out->n = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *start = p, *end = p + len;

		while (start < end && *start == ' ')
			start++;
		while (end > start && end[-1] == ' ')
			end--;
		if (out->n == NOTIFY_MAX_RCPT ||
		    !notify_mail_address_ok(start, (size_t)(end - start)))
			return NOTIFY_EADDRESS;
		memcpy(out->addr[out->n], start, (size_t)(end - start));
		out->addr[out->n++][end - start] = '\0';
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int notify_mail_parse_from(const char *from, char *addr, char *name, size_t namelen)
{
	const char *lt = strchr(from, '<');
	const char *a = from, *end;
	size_t nlen = 0;

	if (lt) {
		a = lt + 1;
		end = strchr(a, '>');
		if (!end || end[1])
			return NOTIFY_EADDRESS;
		while (*from == ' ')
			from++;
		nlen = lt > from ? (size_t)(lt - from) : 0;
		while (nlen && from[nlen - 1] == ' ')
			nlen--;
	} else {
		end = from + strlen(from);
	}
	if (nlen >= namelen || !notify_mail_address_ok(a, (size_t)(end - a)))
		return NOTIFY_EADDRESS;
	memcpy(addr, a, (size_t)(end - a));
	addr[end - a] = '\0';
	memcpy(name, from, nlen);
	name[nlen] = '\0';
	return name[0] && !notify_mail_subject_ok(name) ? NOTIFY_EADDRESS : 0;
}

bool notify_mail_utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0, k; i < len; i += k)
		if (!(k = text_utf8_seq(p + i, len - i)))
			return false;
	return true;
}

bool notify_mail_subject_ok(const char *subject)
{
	size_t len = strlen(subject);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)subject[i];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	return notify_mail_utf8_ok(subject, len);
}

static void put(struct text *t, const char *s, size_t n)
{
	text_printf(t, "%.*s", (int)n, s);
}

static void base64(struct text *t, const unsigned char *s, size_t n)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4 * ((WORD_BYTES + 2) / 3)];
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);

		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	put(t, out, o);
}

/* Plain ASCII that cannot be taken for an encoded word and fits the line
 * after a header name of `used` characters. */
static bool header_text_plain(const char *s, size_t used)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return !strstr(s, "=?") && used + len <= LINE_SOFT;
}

/* s as RFC 2047 encoded words of whole characters, one per line. */
static void encoded_words(struct text *t, const char *s)
{
	size_t len = strlen(s);
	bool first = true;

	while (len) {
		size_t n = text_utf8_cut(s, len, WORD_BYTES);

		text_printf(t, "%s=?UTF-8?B?", first ? "" : "\r\n ");
		base64(t, (const unsigned char *)s, n);
		put(t, "?=", 2);
		s += n;
		len -= n;
		first = false;
	}
}

static void header_date(struct text *t, int64_t now_ms)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	text_printf(t, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
		    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
}

static void header_from(struct text *t, const char *addr, const char *name)
{
	put(t, "From: ", 6);
	if (!name[0])
		text_printf(t, "%s", addr);
	else if (!strpbrk(name, "\"\\") && header_text_plain(name, 0))
		text_printf(t, "\"%s\" <%s>", name, addr);
	else {
		encoded_words(t, name);
		text_printf(t, " <%s>", addr);
	}
	put(t, "\r\n", 2);
}

static void header_to(struct text *t, const struct notify_mail_addrs *to)
{
	put(t, "To: ", 4);
	for (int i = 0; i < to->n; i++)
		text_printf(t, "%s%s", i ? ",\r\n " : "", to->addr[i]);
	put(t, "\r\n", 2);
}

static void header_subject(struct text *t, const char *subject)
{
	put(t, "Subject: ", 9);
	if (header_text_plain(subject, 9))
		text_printf(t, "%s", subject);
	else
		encoded_words(t, subject);
	put(t, "\r\n", 2);
}

/* The next line of the body from *p: its bytes (line end excluded) in
 * *len; *p moves past the line end. false at the end of the body. */
static bool next_line(const char **p, const char **line, size_t *len)
{
	const char *nl;

	if (!**p)
		return false;
	*line = *p;
	nl = strchr(*p, '\n');
	*len = nl ? (size_t)(nl - *p) : strlen(*p);
	*p += *len + (nl != NULL);
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

/* 7bit will do: ASCII without controls (tab aside), short lines. */
static bool body_is_7bit(const char *body)
{
	const char *line;
	size_t len;

	while (next_line(&body, &line, &len)) {
		if (len > LINE_HARD)
			return false;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)line[i];

			if (c >= 0x7f || (c < ' ' && c != '\t'))
				return false;
		}
	}
	return true;
}

/* One body line in quoted-printable, with soft breaks (RFC 2045 6.7):
 * '=' and what is not printable ASCII as =XX, and a space or tab at the
 * line's end too (a transport may strip it). */
static void qp_line(struct text *t, const char *line, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[QP_LINE + 8];
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		bool last = i + 1 == len;
		bool plain = (c >= 33 && c <= 126 && c != '=') ||
			     ((c == ' ' || c == '\t') && !last);
		size_t need = plain ? 1 : 3;

		/* keep room for the soft break's '=', unless this ends the line */
		if (o + need > QP_LINE - (last ? 0 : 1)) {
			put(t, out, o);
			put(t, "=\r\n", 3);
			o = 0;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '=';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	put(t, out, o);
	put(t, "\r\n", 2);
}

static void body(struct text *t, const char *text, bool qp)
{
	const char *line;
	size_t len;

	while (next_line(&text, &line, &len)) {
		if (qp)
			qp_line(t, line, len);
		else {
			put(t, line, len);
			put(t, "\r\n", 2);
		}
	}
}

int notify_mail_compose(const struct notify_mail *m, struct text *out)
{
	char addr[NOTIFY_ADDR_MAX + 1], name[128];
	bool qp;

	if (notify_mail_parse_from(m->from, addr, name, sizeof(name)))
		return NOTIFY_EADDRESS;
	if (!notify_mail_subject_ok(m->subject))
		return NOTIFY_ESUBJECT;
	if (!notify_mail_utf8_ok(m->body, strlen(m->body)))
		return NOTIFY_EBODY;
	qp = !body_is_7bit(m->body);
	header_date(out, m->now_ms);
	header_from(out, addr, name);
	header_to(out, m->to);
	header_subject(out, m->subject);
	text_printf(out, "Message-ID: <%s@%s>\r\n", m->msgid_local, strchr(addr, '@') + 1);
	text_printf(out, "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: %s\r\n"
			 "Auto-Submitted: auto-generated\r\n\r\n",
		    qp ? "quoted-printable" : "7bit");
	body(out, m->body, qp);
	return 0;
}
