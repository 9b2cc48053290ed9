/*
 * notify.c - the outbound queue (notify.h): checking and copying what is
 * queued, the running slots, retries, a job's end.
 *
 * A job is always in exactly one place: a FIFO (waiting: new jobs;
 * ready: retries that are due; retry[i]: waiting for retry i+1, which
 * waits retry_base_ms << i, so each of these FIFOs is in due order and
 * the retry timer only looks at their heads) or a running slot.
 */
#include "notify/internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An overflow is logged at most this often (the rest are counted). */
#define OVERFLOW_LOG_MS 60000
/* A webhook's URL, at most. */
#define URL_MAX 8192

static const char *const messages[] = {
	[0] = "success",
	[-NOTIFY_EFULL] = "the outbound queue is full (rules_queue_max)",
	[-NOTIFY_EURL] = "a webhook's URL must start with http:// or https://",
	[-NOTIFY_EMETHOD] = "a webhook's method is POST or PUT",
	[-NOTIFY_EHEADER] = "a webhook header is invalid (name, CR/LF in its value, "
			    "Content-Length, Transfer-Encoding, or too many)",
	[-NOTIFY_ETIMEOUT] = "a webhook's timeout is 1 to 60000 ms",
	[-NOTIFY_ETOOBIG] = "the body is larger than 1 MiB",
	[-NOTIFY_ENOSMTP] = "e-mail is not configured (smtp_url or smtp_from is empty)",
	[-NOTIFY_ESMTPURL] = "smtp_url must start with smtp:// or smtps://",
	[-NOTIFY_EADDRESS] = "not an e-mail address (local@domain; several: separated by commas)",
	[-NOTIFY_ESUBJECT] = "the subject has a control character (CR, LF, ...) or is not UTF-8",
	[-NOTIFY_EBODY] = "the e-mail's body is not UTF-8",
	[-NOTIFY_ECURL] = "libcurl could not be set up",
};

const char *notify_strerror(int err)
{
	if (err > 0 || -err >= (int)(sizeof(messages) / sizeof(messages[0])))
		return "unknown error";
	return messages[-err];
}

void notify_config_defaults(struct notify_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_max = 1000;
	cfg->max_parallel = 8;
	cfg->retry_base_ms = 1000;
	cfg->smtp_timeout_ms = 30000;
}

static void fifo_push(struct notify__fifo *f, struct notify__job *job)
{
	job->next = NULL;
	if (f->tail)
		f->tail->next = job;
	else
		f->head = job;
	f->tail = job;
}

static struct notify__job *fifo_pop(struct notify__fifo *f)
{
	struct notify__job *job = f->head;

	if (job && !(f->head = job->next))
		f->tail = NULL;
	return job;
}

static void job_free(struct notify__job *job)
{
	curl_slist_free_all(job->list);
	free(job->tag);
	free(job->url);
	free(job->body);
	free(job);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
	struct notify *n = h->data;

	if (--n->open_handles == 0)
		free(n);
}

struct notify *notify_new(uv_loop_t *loop, const struct notify_config *cfg)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	uv_random_t req;

	n->loop = loop;
	n->cfg = *cfg;
	if (n->cfg.queue_max == 0)
		n->cfg.queue_max = 1;
	if (n->cfg.max_parallel == 0)
		n->cfg.max_parallel = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("notify: libcurl cannot be initialised");
		free(n);
		return NULL;
	}
	if (notify__multi_init(n)) {
		log_error("notify: libcurl cannot make a multi handle");
		curl_global_cleanup();
		free(n);
		return NULL;
	}
	n->running = xcalloc(n->cfg.max_parallel, sizeof(*n->running));
	uv_timer_init(loop, &n->curl_timer);
	uv_timer_init(loop, &n->queue_timer);
	n->curl_timer.data = n->queue_timer.data = n;
	n->open_handles = 2;
	/* Message-IDs: this instance's random part (the time alone could
	 * repeat across restarts within a millisecond) */
	if (uv_random(loop, &req, &n->instance, sizeof(n->instance), 0, NULL) != 0)
		n->instance = (uint64_t)wall_clock_ms();
	return n;
}

void notify_free(struct notify *n)
{
	struct notify__fifo *fifos[NOTIFY_TRIES + 1];
	struct notify__job *job;
	uint64_t cancelled = 0;

	if (!n)
		return;
	n->closing = true;
	for (uint32_t i = 0; i < n->cfg.max_parallel; i++) {
		if ((job = n->running[i])) {
			notify__multi_cancel(n, job);
			job_free(job);
			cancelled++;
		}
	}
	fifos[0] = &n->waiting;
	fifos[1] = &n->ready;
	for (int i = 0; i < NOTIFY_TRIES - 1; i++)
		fifos[2 + i] = &n->retry[i];
	for (size_t i = 0; i < sizeof(fifos) / sizeof(fifos[0]); i++)
		while ((job = fifo_pop(fifos[i]))) {
			job_free(job);
			cancelled++;
		}
	notify__multi_close(n);
	curl_global_cleanup();
	free(n->running);
	if (cancelled)
		log_info("notify: %llu webhook and e-mail jobs cancelled at stop",
			 (unsigned long long)cancelled);
	uv_close((uv_handle_t *)&n->curl_timer, on_timer_closed);
	uv_close((uv_handle_t *)&n->queue_timer, on_timer_closed);
}

void notify_on_done(struct notify *n, notify_done_fn fn, void *arg)
{
	n->done = fn;
	n->done_arg = arg;
}

const struct notify_stats *notify_stats(const struct notify *n)
{
	return &n->stats;
}

/* ---- running, retrying, ending ------------------------------------------ */

static void pump(struct notify *n);

static void finish(struct notify__job *job, bool ok, const char *reason)
{
	struct notify *n = job->n;

	n->jobs--;
	if (ok) {
		n->stats.ok++;
	} else {
		n->stats.failed++;
		log_debug("notify: %s of '%s' failed after %d tries: %s",
			  job->kind == NOTIFY__WEBHOOK ? "webhook" : "e-mail", job->tag, job->tries,
			  reason);
	}
	if (n->done)
		n->done(n->done_arg, job->tag, ok, ok ? NULL : reason);
	job_free(job);
}

static void on_queue_timer(uv_timer_t *t);

/* The queue's timer: on the next loop turn when a job can start now, else
 * when the nearest retry is due. */
static void arm_queue_timer(struct notify *n)
{
	uint64_t now = uv_now(n->loop), due = UINT64_MAX;

	if (n->stats.running < n->cfg.max_parallel && (n->ready.head || n->waiting.head))
		due = now;
	for (int i = 0; i < NOTIFY_TRIES - 1; i++)
		if (n->retry[i].head && n->retry[i].head->due < due)
			due = n->retry[i].head->due;
	if (due == UINT64_MAX)
		uv_timer_stop(&n->queue_timer);
	else
		uv_timer_start(&n->queue_timer, on_queue_timer, due > now ? due - now : 0, 0);
}

static void on_queue_timer(uv_timer_t *t)
{
	struct notify *n = t->data;
	uint64_t now = uv_now(n->loop);

	for (int i = 0; i < NOTIFY_TRIES - 1; i++)
		while (n->retry[i].head && n->retry[i].head->due <= now)
			fifo_push(&n->ready, fifo_pop(&n->retry[i]));
	pump(n);
	arm_queue_timer(n);
}

/* What follows a try that did not deliver: a retry, or the end. */
static void after_failure(struct notify__job *job, enum notify__verdict v, const char *reason)
{
	struct notify *n = job->n;
	int i = job->tries - 1;

	if (v != NOTIFY__RETRY || job->tries >= NOTIFY_TRIES) {
		finish(job, false, reason);
		return;
	}
	log_debug("notify: try %d of '%s' failed, retrying: %s", job->tries, job->tag, reason);
	job->due = uv_now(n->loop) + ((uint64_t)n->cfg.retry_base_ms << i);
	fifo_push(&n->retry[i], job);
	n->stats.waiting++;
	arm_queue_timer(n);
}

/* A job's next try in a free slot. A try that cannot start (libcurl out
 * of memory, or too old for an option) counts as a failed one. */
static void start(struct notify *n, struct notify__job *job)
{
	if (job->tries++ > 0)
		n->stats.retried++;
	if (notify__job_setup(job) == 0 && notify__multi_add(n, job) == 0) {
		uint32_t slot = 0;

		while (n->running[slot])
			slot++;
		n->running[slot] = job;
		job->slot = slot;
		n->stats.running++;
		return;
	}
	after_failure(job, NOTIFY__RETRY, "libcurl could not start the transfer");
}

static void pump(struct notify *n)
{
	struct notify__job *job;

	while (n->stats.running < n->cfg.max_parallel &&
	       ((job = fifo_pop(&n->ready)) || (job = fifo_pop(&n->waiting)))) {
		n->stats.waiting--;
		start(n, job);
	}
}

void notify__try_done(struct notify__job *job, CURLcode rc, long code)
{
	struct notify *n = job->n;
	char reason[CURL_ERROR_SIZE + 32];
	enum notify__verdict v;

	n->running[job->slot] = NULL;
	n->stats.running--;
	v = notify__verdict(job->kind, rc, code, job->answer_cut, job->error, reason,
			    sizeof(reason));
	if (v == NOTIFY__DELIVERED)
		finish(job, true, NULL);
	else
		after_failure(job, v, reason);
	pump(n);
}

/* ---- queueing ----------------------------------------------------------- */

/* Room for one more job, or the overflow counted (and logged at most once
 * a minute, naming the job that was dropped). */
static int admit(struct notify *n, const char *what, const char *tag)
{
	uint64_t now = uv_now(n->loop);

	if (n->jobs < n->cfg.queue_max)
		return 0;
	n->stats.overflow++;
	n->overflow_unlogged++;
	if (n->overflow_logged_at && now - n->overflow_logged_at < OVERFLOW_LOG_MS)
		return NOTIFY_EFULL;
	log_warn("notify: queue full (%u jobs): %s of '%s' dropped (%llu dropped since the last "
		 "report)", n->cfg.queue_max, what, tag, (unsigned long long)n->overflow_unlogged);
	n->overflow_logged_at = now ? now : 1;
	n->overflow_unlogged = 0;
	return NOTIFY_EFULL;
}

static struct notify__job *job_new(struct notify *n, enum notify__kind kind, const char *tag)
{
	struct notify__job *job = xcalloc(1, sizeof(*job));

	job->n = n;
	job->kind = kind;
	job->tag = xstrdup(tag);
	return job;
}

/* The job starts from the loop, never from inside the call that queued
 * it: so the callback is never called from there either (a job that
 * cannot start at all ends at once). */
static void enqueue(struct notify *n, struct notify__job *job)
{
	n->jobs++;
	n->stats.queued++;
	n->stats.waiting++;
	fifo_push(&n->waiting, job);
	if (n->stats.running < n->cfg.max_parallel)
		arm_queue_timer(n);
}

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
		rc = admit(n, "webhook", tag);
	if (rc == 0)
		rc = header_list(headers, nheaders, &list);
	if (rc) {
		n->stats.rejected += rc != NOTIFY_EFULL;
		return rc;
	}
	job = job_new(n, NOTIFY__WEBHOOK, tag);
	job->url = xstrdup(url);
	job->body = xstrndup(body ? body : "", body ? len : 0);
	job->len = body ? len : 0;
	job->list = list;
	snprintf(job->method, sizeof(job->method), "%s", method);
	job->timeout_ms = timeout_ms ? timeout_ms : NOTIFY_TIMEOUT_DEFAULT_MS;
	enqueue(n, job);
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
		rc = admit(n, "e-mail", tag);
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
		job = job_new(n, NOTIFY__EMAIL, tag);
		rc = envelope(job, &rcpt);
	}
	if (rc) {
		n->stats.rejected += rc != NOTIFY_EFULL;
		if (job)
			job_free(job);
		free(msg.s);
		return rc;
	}
	job->body = msg.s;
	job->len = msg.len;
	job->timeout_ms = n->cfg.smtp_timeout_ms;
	enqueue(n, job);
	return 0;
}
