/*
 * internal.h - what the files of src/notify/ share: the queue, a job, and
 * the steps between them.
 *
 *   notify.c   the queue: new/free, room for a job, the slots, retries, outcomes
 *   submit.c   notify_webhook, notify_email: their checks, the job's copy
 *   multi.c    libcurl's multi handle on the libuv loop (sockets, timer)
 *   job.c      a job's easy handle: a webhook's or an e-mail's options
 *   outcome.c  a finished try's verdict: delivered, try again, or give up
 *   mail.c     an e-mail's bytes (mail.h, pure)
 */
#ifndef AGORA_NOTIFY_INTERNAL_H
#define AGORA_NOTIFY_INTERNAL_H

#include "notify/mail.h"
#include "notify/notify.h"

#include <curl/curl.h>

enum notify__kind { NOTIFY__WEBHOOK, NOTIFY__EMAIL };

struct notify__job {
	struct notify__job *next; /* in one FIFO while not running */
	struct notify *n;
	enum notify__kind kind;
	char *tag;
	char *url;                /* a webhook's; an e-mail goes to cfg.smtp_url */
	char *body;               /* a webhook's body, or the whole e-mail */
	size_t len;
	size_t sent;              /* an e-mail: bytes handed to libcurl this try */
	size_t answered;          /* a webhook: bytes of the answer read this try */
	bool answer_cut;          /* ... and the reading stopped at NOTIFY_RESPONSE_MAX */
	struct curl_slist *list;  /* a webhook's headers, an e-mail's recipients */
	char method[8];
	char mail_from[NOTIFY_ADDR_MAX + 3]; /* "<addr>" */
	uint32_t timeout_ms;
	int tries;                /* tries started */
	uint64_t due;             /* waiting for a retry: when (uv_now) */
	CURL *easy;               /* while running, */
	uint32_t slot;            /* ... in n->running[slot] */
	char error[CURL_ERROR_SIZE];
};

struct notify__fifo {
	struct notify__job *head, *tail;
};

/* A socket libcurl asked us to watch. */
struct notify__sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct notify *n;
	struct notify__sock *prev, *next; /* n->socks, until closed */
};

struct notify {
	uv_loop_t *loop;
	struct notify_config cfg;
	notify_done_fn done;
	void *done_arg;
	CURLM *multi;
	uv_timer_t curl_timer;    /* libcurl's timeout */
	uv_timer_t queue_timer;   /* a job to start now, or the nearest retry */
	struct notify__sock *socks;
	struct notify__job **running; /* cfg.max_parallel slots, NULL when free */
	int open_handles;         /* handles not closed yet: free at 0 after closing */
	bool closing;
	struct notify__fifo waiting;                 /* new jobs */
	struct notify__fifo ready;                   /* retries due: before new jobs */
	struct notify__fifo retry[NOTIFY_TRIES - 1]; /* retry i waits base << i: FIFO = due order */
	uint32_t jobs;            /* all of them: the queue_max bound */
	struct notify_stats stats;
	uint64_t overflow_logged_at; /* uv_now of the last overflow line */
	uint64_t overflow_unlogged;  /* overflows since */
	uint64_t mail_seq;        /* Message-IDs */
	uint64_t instance;        /* random: Message-IDs of two processes differ */
};

/* multi.c */
int notify__multi_init(struct notify *n);
/* Starts a job whose easy handle is set up; -1 (nothing started) on
 * failure. */
int notify__multi_add(struct notify *n, struct notify__job *job);
/* Cancels a running job: its easy handle leaves the multi handle. */
void notify__multi_cancel(struct notify *n, struct notify__job *job);
/* Closes the multi handle and every handle of its sockets. */
void notify__multi_close(struct notify *n);

/* notify.c: a running try ended (its easy handle is already gone). */
void notify__try_done(struct notify__job *job, CURLcode rc, long code);
/* Room for one more job: 0, or NOTIFY_EFULL (counted; logged at most
 * once a minute naming what, a "webhook" or an "e-mail", and the tag). */
int notify__admit(struct notify *n, const char *what, const char *tag);
/* A job of kind with a copy of tag; the caller fills in the rest, then
 * enqueues it (or frees it). */
struct notify__job *notify__job_new(struct notify *n, enum notify__kind kind, const char *tag);
void notify__enqueue(struct notify *n, struct notify__job *job);
void notify__job_free(struct notify__job *job);

/* job.c: the easy handle of the job's next try; -1 when libcurl fails. */
int notify__job_setup(struct notify__job *job);

/* outcome.c */
enum notify__verdict { NOTIFY__DELIVERED, NOTIFY__RETRY, NOTIFY__GIVE_UP };
/* What a try that ended with rc and the last status (HTTP) or reply
 * (SMTP) code means; reason gets a short text when not delivered.
 * answer_cut: a webhook's reading stopped at NOTIFY_RESPONSE_MAX (then rc
 * is CURLE_WRITE_ERROR and the status decides). */
enum notify__verdict notify__verdict(enum notify__kind kind, CURLcode rc, long code,
				     bool answer_cut, const char *error, char *reason,
				     size_t reasonlen);

#endif
