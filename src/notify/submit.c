/*
 * submit.c - what notify_webhook and notify_email check and copy before a
 * job joins the queue (notify.h): URL, method, headers, timeout and size
 * of a webhook; configuration, recipients, subject and body of an e-mail,
 * composed here once (mail.c) rather than at every try.
 */
#include "notify/internal.h"

#include "base/alloc.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A webhook's URL, at most. */
#define URL_MAX 8192

/* An HTTP token (RFC 9110 5.6.2). */
static bool token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* Printable or 8-bit: no CR, LF or other control character but tab. */
static bool value_ok(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < ' ' && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static bool has_header(const struct notify_header *h, size_t nh, const char *name)
{
	for (size_t i = 0; i < nh; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return true;
	return false;
}

static int check_headers(const struct notify_header *h, size_t nh)
{
	if (nh > NOTIFY_MAX_HEADERS)
		return NOTIFY_EHEADER;
	for (size_t i = 0; i < nh; i++)
		if (!token_ok(h[i].name) || !value_ok(h[i].value) ||
		    strlen(h[i].name) + strlen(h[i].value) + 2 > NOTIFY_HEADER_MAX)
			return NOTIFY_EHEADER;
	/* the framing is libcurl's */
	if (has_header(h, nh, "Content-Length") || has_header(h, nh, "Transfer-Encoding"))
		return NOTIFY_EHEADER;
	return 0;
}

static bool append(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (l)
		*list = l;
	return l != NULL;
}

/* The request's header lines: the caller's, then JSON unless it said
 * otherwise, and no "Expect: 100-continue" (a body waits for no answer). */
static int header_list(const struct notify_header *h, size_t nh, struct curl_slist **out)
{
	char line[NOTIFY_HEADER_MAX + 2];
	bool ok = true;

	*out = NULL;
	for (size_t i = 0; ok && i < nh; i++) {
		/* "Name;" is how libcurl sends a header with an empty value */
		snprintf(line, sizeof(line), h[i].value[0] ? "%s: %s" : "%s;", h[i].name,
			 h[i].value);
		ok = append(out, line);
	}
	if (ok && !has_header(h, nh, "Content-Type"))
		ok = append(out, "Content-Type: application/json");
	if (ok && !has_header(h, nh, "Expect"))
		ok = append(out, "Expect:");
	if (!ok) {
		curl_slist_free_all(*out);
		return NOTIFY_ECURL;
	}
	return 0;
}

static int check_webhook(const char *url, const char *method, const struct notify_header *h,
			 size_t nh, size_t len, uint32_t timeout_ms)
{
	size_t ulen = strlen(url);

	if ((strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) ||
	    ulen > URL_MAX || !value_ok(url) || strchr(url, ' '))
		return NOTIFY_EURL;
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
		return NOTIFY_EMETHOD;
	if (timeout_ms > NOTIFY_TIMEOUT_MAX_MS)
		return NOTIFY_ETIMEOUT;
	if (len > NOTIFY_BODY_MAX)
		return NOTIFY_ETOOBIG;
	return check_headers(h, nh);
}

int notify_webhook(struct notify *n, const char *url, const char *method,
		   const struct notify_header *headers, size_t nheaders, const char *body,
		   size_t len, uint32_t timeout_ms, const char *tag)
{
	struct curl_slist *list = NULL;
	struct notify__job *job;
	int rc;

	tag = tag ? tag : "";
	rc = check_webhook(url, method, headers, nheaders, len, timeout_ms);
	if (rc == 0)
		rc = notify__admit(n, "webhook", tag);
	if (rc == 0)
		rc = header_list(headers, nheaders, &list);
	if (rc) {
		n->stats.rejected += rc != NOTIFY_EFULL;
		return rc;
	}
	job = notify__job_new(n, NOTIFY__WEBHOOK, tag);
	job->url = xstrdup(url);
	job->body = xstrndup(body ? body : "", body ? len : 0);
	job->len = body ? len : 0;
	job->list = list;
	snprintf(job->method, sizeof(job->method), "%s", method);
	job->timeout_ms = timeout_ms ? timeout_ms : NOTIFY_TIMEOUT_DEFAULT_MS;
	notify__enqueue(n, job);
	return 0;
}

static int check_email(const struct notify_config *cfg, const char *to, const char *subject,
		       const char *body, struct notify_mail_addrs *rcpt)
{
	if (!cfg->smtp_url[0] || !cfg->smtp_from[0])
		return NOTIFY_ENOSMTP;
	if (strncasecmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncasecmp(cfg->smtp_url, "smtps://", 8) != 0)
		return NOTIFY_ESMTPURL;
	if (strlen(subject) + strlen(body) > NOTIFY_BODY_MAX)
		return NOTIFY_ETOOBIG;
	if (notify_mail_parse_to(to, rcpt))
		return NOTIFY_EADDRESS;
	if (!notify_mail_subject_ok(subject))
		return NOTIFY_ESUBJECT;
	return 0;
}

/* The envelope: MAIL FROM and one RCPT TO per recipient, as <addr>. */
static int envelope(struct notify__job *job, const struct notify_mail_addrs *rcpt)
{
	char name[128], addr[NOTIFY_ADDR_MAX + 1], line[NOTIFY_ADDR_MAX + 3];

	if (notify_mail_parse_from(job->n->cfg.smtp_from, addr, name, sizeof(name)))
		return NOTIFY_EADDRESS;
	snprintf(job->mail_from, sizeof(job->mail_from), "<%s>", addr);
	for (int i = 0; i < rcpt->n; i++) {
		snprintf(line, sizeof(line), "<%s>", rcpt->addr[i]);
		if (!append(&job->list, line))
			return NOTIFY_ECURL;
	}
	return 0;
}

int notify_email(struct notify *n, const char *to, const char *subject, const char *body,
		 const char *tag)
{
	struct notify_mail_addrs rcpt;
	struct notify__job *job = NULL;
	struct text msg = { 0 };
	char msgid[64];
	int64_t now = wall_clock_ms();
	int rc;

	tag = tag ? tag : "";
	rc = check_email(&n->cfg, to, subject, body, &rcpt);
	if (rc == 0)
		rc = notify__admit(n, "e-mail", tag);
	if (rc == 0) {
		snprintf(msgid, sizeof(msgid), "%llu.%llu.%016llx", (unsigned long long)now,
			 (unsigned long long)++n->mail_seq, (unsigned long long)n->instance);
		rc = notify_mail_compose(&(struct notify_mail){ .from = n->cfg.smtp_from,
							       .to = &rcpt,
							       .subject = subject,
							       .body = body,
							       .now_ms = now,
							       .msgid_local = msgid },
					 &msg);
	}
	if (rc == 0) {
		job = notify__job_new(n, NOTIFY__EMAIL, tag);
		rc = envelope(job, &rcpt);
	}
	if (rc) {
		n->stats.rejected += rc != NOTIFY_EFULL;
		if (job)
			notify__job_free(job);
		free(msg.s);
		return rc;
	}
	job->body = msg.s;
	job->len = msg.len;
	job->timeout_ms = n->cfg.smtp_timeout_ms;
	notify__enqueue(n, job);
	return 0;
}
