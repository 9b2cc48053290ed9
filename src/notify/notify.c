/*
 * notify.c - the outbound queue (notify.h): its life, room for a job, the
 * running slots, retries, a job's end.
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

/* An overflow is logged at most this often (the rest are counted). */
#define OVERFLOW_LOG_MS 60000

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

void notify__job_free(struct notify__job *job)
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out_free;
	if (notify__multi_init(n))
		goto out_global;
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

out_global:
	curl_global_cleanup();
out_free:
	log_error("notify: libcurl cannot be set up: no webhooks, no e-mail");
	free(n);
	return NULL;
}

/* Every job, running or waiting, freed unreported; how many. */
static uint64_t cancel_all(struct notify *n)
{
	struct notify__fifo *fifos[NOTIFY_TRIES + 1];
	struct notify__job *job;
	uint64_t cancelled = 0;

	for (uint32_t i = 0; i < n->cfg.max_parallel; i++) {
		if ((job = n->running[i])) {
			notify__multi_cancel(n, job);
			notify__job_free(job);
			cancelled++;
		}
	}
	fifos[0] = &n->waiting;
	fifos[1] = &n->ready;
	for (int i = 0; i < NOTIFY_TRIES - 1; i++)
		fifos[2 + i] = &n->retry[i];
	for (size_t i = 0; i < sizeof(fifos) / sizeof(fifos[0]); i++) {
		while ((job = fifo_pop(fifos[i]))) {
			notify__job_free(job);
			cancelled++;
		}
	}
	return cancelled;
}

void notify_free(struct notify *n)
{
	uint64_t cancelled;

	if (!n)
		return;
	n->closing = true;
	cancelled = cancel_all(n);
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
	notify__job_free(job);
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
int notify__admit(struct notify *n, const char *what, const char *tag)
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

struct notify__job *notify__job_new(struct notify *n, enum notify__kind kind, const char *tag)
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
void notify__enqueue(struct notify *n, struct notify__job *job)
{
	n->jobs++;
	n->stats.queued++;
	n->stats.waiting++;
	fifo_push(&n->waiting, job);
	if (n->stats.running < n->cfg.max_parallel)
		arm_queue_timer(n);
}
