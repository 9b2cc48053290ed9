/*
 * notify.h - the outbound queue: webhooks (HTTP POST/PUT) and e-mail (SMTP)
 * sent on behalf of the server, for the rules' webhook and email actions
 * (issue 16), without ever blocking the event loop.
 *
 * The model:
 *  - notify_webhook and notify_email copy everything they are given into a
 *    job and put it in a queue; they return at once. The queue holds at
 *    most cfg->queue_max jobs (waiting, waiting for a retry, and running);
 *    beyond, the job is dropped, counted (overflow) and logged at most once
 *    a minute with its tag: a dead or slow server fills the queue, it
 *    never slows the caller.
 *  - At most cfg->max_parallel jobs run at once, as libcurl easy handles in
 *    one multi handle driven by the caller's libuv loop
 *    (curl_multi_socket_action: a uv_poll_t per socket libcurl opens, one
 *    uv_timer_t for libcurl's timeouts). No thread, no blocking call: name
 *    resolution is libcurl's (its threaded resolver when built with it).
 *  - A try that fails for a reason that may pass (connection refused or
 *    reset, a timeout, HTTP 5xx or 429, an SMTP 4xx reply) is tried again
 *    after cfg->retry_base_ms, then twice that: NOTIFY_TRIES tries in all.
 *    A failure that will not pass (HTTP 4xx, an SMTP 5xx reply, a refused
 *    login, a bad URL) ends the job at once. Retries wait on a second
 *    timer, out of the running slots; when due they run before new jobs.
 *  - A job's end is reported once, to the callback set with notify_on_done
 *    (with the job's tag and, on failure, a short reason) and in the
 *    counters (notify_stats).
 *
 * Webhooks: http:// and https:// only (libcurl is told so too; an https
 * server's certificate is verified against the system's CAs); redirects
 * are not followed (a 3xx fails the job); the answer's body is read and
 * thrown away (at most NOTIFY_RESPONSE_MAX bytes: past that the status
 * decides); "User-Agent: agora/VERSION"; "Content-Type: application/json"
 * unless a header given says otherwise.
 *
 * E-mail: a text/plain UTF-8 message with RFC 5322 headers (mail.h says
 * which) sent through cfg->smtp_url: smtps:// is TLS from the start,
 * smtp:// upgrades with STARTTLS when the server offers it. With
 * smtp_user set, libcurl logs in with smtp_user and smtp_password.
 *
 * Errors: 0 is success; a call that fails returns a negative NOTIFY_E*
 * code (notify_strerror names it), queues nothing and never calls the
 * callback.
 *
 * Ownership: the caller owns what it passes (everything is copied). The
 * struct notify belongs to the caller's loop: one thread, the loop's.
 */
#ifndef AGORA_NOTIFY_H
#define AGORA_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Tries in all for a job whose failures may pass: the first and two
 * retries, after retry_base_ms and then twice that. */
#define NOTIFY_TRIES 3
/* Bytes of a webhook's answer read (and discarded) at most. */
#define NOTIFY_RESPONSE_MAX 65536
/* A webhook's body, or an e-mail's subject and body together, at most. */
#define NOTIFY_BODY_MAX (1024 * 1024)
/* Headers a webhook may add, and the bytes of one ("name: value"). */
#define NOTIFY_MAX_HEADERS 32
#define NOTIFY_HEADER_MAX 8192
/* Recipients of one e-mail. */
#define NOTIFY_MAX_RCPT 16
/* A webhook's timeout: 0 means the default. */
#define NOTIFY_TIMEOUT_MAX_MS 60000
#define NOTIFY_TIMEOUT_DEFAULT_MS 10000

enum notify_err {
	NOTIFY_OK = 0,
	NOTIFY_EFULL = -1,     /* the queue holds queue_max jobs: dropped, counted */
	NOTIFY_EURL = -2,      /* a webhook's URL is not http:// or https:// */
	NOTIFY_EMETHOD = -3,   /* a webhook's method is not POST or PUT */
	NOTIFY_EHEADER = -4,   /* a header's name is not a token, its value has CR, LF or
				* NUL, it sets Content-Length or Transfer-Encoding, or
				* there are too many */
	NOTIFY_ETIMEOUT = -5,  /* timeout_ms beyond NOTIFY_TIMEOUT_MAX_MS */
	NOTIFY_ETOOBIG = -6,   /* a body (or subject) longer than NOTIFY_BODY_MAX */
	NOTIFY_ENOSMTP = -7,   /* e-mail is not configured: smtp_url or smtp_from empty */
	NOTIFY_ESMTPURL = -8,  /* smtp_url is not smtp:// or smtps:// */
	NOTIFY_EADDRESS = -9,  /* a recipient (or smtp_from) is not an address */
	NOTIFY_ESUBJECT = -10, /* the subject has a control character (CR, LF, ...) or is
				* not UTF-8 */
	NOTIFY_EBODY = -11,    /* an e-mail's body is not UTF-8 */
	NOTIFY_ECURL = -12,    /* libcurl could not be set up (out of memory) */
};

const char *notify_strerror(int err);

/*
 * Settings. struct agora_config holds one (server/config.h): smtp_*,
 * queue_max (the setting rules_queue_max). Empty strings are unset.
 */
struct notify_config {
	uint32_t queue_max;        /* jobs waiting and running; default 1000 */
	uint32_t max_parallel;     /* jobs running at once; default 8 */
	uint32_t retry_base_ms;    /* the first retry's wait, doubled after; default 1000 */
	uint32_t smtp_timeout_ms;  /* one try of an e-mail in all; default 30000 */
	char smtp_url[256];        /* smtp://host:port or smtps://host:port */
	char smtp_user[128];
	char smtp_password[128];
	char smtp_from[256];       /* "addr@example.org" or "Name <addr@example.org>" */
};

void notify_config_defaults(struct notify_config *cfg);

/* What happened so far; /metrics exports it. waiting and running are now,
 * the rest counts since notify_new. */
struct notify_stats {
	uint64_t queued;    /* jobs accepted */
	uint64_t ok;        /* ended delivered */
	uint64_t failed;    /* ended not delivered (after its tries) */
	uint64_t retried;   /* tries after a first (a job may count twice) */
	uint64_t overflow;  /* refused: queue full (NOTIFY_EFULL) */
	uint64_t rejected;  /* refused: invalid (the other NOTIFY_E* codes) */
	uint32_t waiting;   /* in the queue, or waiting for a retry */
	uint32_t running;   /* easy handles in the multi handle */
};

struct notify;

/* How a job ended: ok, or not with a short reason ("HTTP 404", "SMTP 550",
 * "Connection refused", "Operation timed out after 200 milliseconds ...");
 * NULL when ok. tag is the one given when queued. Both are valid during
 * the call only. Called from the loop, never from inside notify_webhook
 * or notify_email; it may queue more jobs, but not call notify_free. */
typedef void (*notify_done_fn)(void *arg, const char *tag, bool ok, const char *reason);

/* A new queue on loop with a copy of cfg. NULL when libcurl cannot be set
 * up (logged). */
struct notify *notify_new(uv_loop_t *loop, const struct notify_config *cfg);

/* Cancels every job, running or waiting, without calling the callback (the
 * count is logged), and closes its handles: the struct is freed by the
 * last close callback, so the loop must run once more (it waits for
 * nothing else). NULL is fine. While jobs run or wait for a retry its
 * handles keep the loop running: a server frees it when it starts to stop
 * (and before closing whatever handles are left with uv_walk, which would
 * leave the struct and libcurl's state behind). */
void notify_free(struct notify *n);

/* The callback for every job's end (NULL: none). */
void notify_on_done(struct notify *n, notify_done_fn fn, void *arg);

struct notify_header {
	const char *name;  /* an HTTP token: "Authorization", "X-Rule" */
	const char *value; /* may be empty */
};

/*
 * Queues an HTTP request: method "POST" or "PUT", body of len bytes (the
 * caller renders it; may be empty), the headers given (nheaders at most
 * NOTIFY_MAX_HEADERS), timeout_ms for each try (1..NOTIFY_TIMEOUT_MAX_MS,
 * 0 for NOTIFY_TIMEOUT_DEFAULT_MS). tag names the job in logs and in the
 * callback (a rule's name; NULL is ""). Returns 0 or a NOTIFY_E* code.
 */
int notify_webhook(struct notify *n, const char *url, const char *method,
		   const struct notify_header *headers, size_t nheaders, const char *body,
		   size_t len, uint32_t timeout_ms, const char *tag);

/*
 * Queues an e-mail from cfg->smtp_from to `to` (one address or several
 * separated by commas, at most NOTIFY_MAX_RCPT, each a bare
 * local@domain in ASCII), with subject and body in UTF-8 (a subject has no
 * control character: CR or LF would start a header of its own). Returns 0
 * or a NOTIFY_E* code: NOTIFY_ENOSMTP at once when smtp_url is empty.
 */
int notify_email(struct notify *n, const char *to, const char *subject, const char *body,
		 const char *tag);

const struct notify_stats *notify_stats(const struct notify *n);

#endif
