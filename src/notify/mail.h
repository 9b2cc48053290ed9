/*
 * mail.h - an e-mail's bytes, as SMTP's DATA carries them (pure: no I/O,
 * no clock; the caller gives the time and the Message-ID's left part).
 *
 * The message is text/plain in UTF-8 with RFC 5322 headers, in this order:
 * Date, From, To, Subject, Message-ID, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, Auto-Submitted (auto-generated: RFC 3834, so
 * that vacation responders do not answer a robot); every line ends with
 * CRLF. A subject or sender name that is not plain ASCII (or that would
 * look like an encoded word, or not fit a 78-character line) goes as RFC
 * 2047 "B" encoded words of whole UTF-8 characters, folded one per line.
 * The body's line ends (LF or CRLF) become CRLF; a body in plain ASCII
 * with lines of at most 998 bytes goes as 7bit, anything else as
 * quoted-printable (RFC 2045: no line over 76 characters, no 8-bit byte,
 * so no server needs 8BITMIME). Dot-stuffing is libcurl's (it doubles a
 * dot that starts a line while it sends DATA).
 *
 * Header injection cannot happen: recipients are bare addresses without
 * spaces or specials, and a subject with a control character is refused.
 */
#ifndef AGORA_NOTIFY_MAIL_H
#define AGORA_NOTIFY_MAIL_H

#include "base/text.h"
#include "notify/notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address's bytes at most (RFC 5321's path limit less the brackets). */
#define NOTIFY_ADDR_MAX 254

struct notify_mail_addrs {
	int n;
	char addr[NOTIFY_MAX_RCPT][NOTIFY_ADDR_MAX + 1];
};

/* local@domain: printable ASCII without spaces or the specials ()<>[]:;,\"
 * and exactly one '@' with something on both sides. */
bool notify_mail_address_ok(const char *s, size_t len);

/* `to`: addresses separated by commas (spaces around them are dropped).
 * 0, or NOTIFY_EADDRESS (none, an empty one, a bad one, too many). */
int notify_mail_parse_to(const char *to, struct notify_mail_addrs *out);

/* smtp_from: "addr" or "Display Name <addr>" into addr (at least
 * NOTIFY_ADDR_MAX + 1 bytes) and name ("" when none; namelen bytes).
 * 0, or NOTIFY_EADDRESS. */
int notify_mail_parse_from(const char *from, char *addr, char *name, size_t namelen);

/* Valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
bool notify_mail_utf8_ok(const char *s, size_t len);

/* UTF-8 without C0 controls (tab aside) or DEL. */
bool notify_mail_subject_ok(const char *subject);

struct notify_mail {
	const char *from;                    /* smtp_from as configured */
	const struct notify_mail_addrs *to;
	const char *subject;
	const char *body;
	int64_t now_ms;                      /* the Date header's time */
	const char *msgid_local;             /* the Message-ID's part before '@' */
};

/* Appends the whole message to out (the caller frees out->s). 0, or
 * NOTIFY_EADDRESS (from), NOTIFY_ESUBJECT or NOTIFY_EBODY; out may then
 * hold part of it. */
int notify_mail_compose(const struct notify_mail *m, struct text *out);

#endif
