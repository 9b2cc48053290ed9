/*
 * multi.c - libcurl's multi handle on the libuv loop (internal.h).
 *
 * libcurl says which sockets to watch for what (on_socket) and when to
 * call it back if nothing happens (on_timer_set); the loop tells it what
 * happened (curl_multi_socket_action from on_poll and on_timeout), then
 * the finished transfers are collected. libcurl's callbacks never call
 * back into libcurl: it forbids it, and a zero timeout is a timer firing
 * on the next loop turn.
 */
#include "notify/internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>

static void on_sock_closed(uv_handle_t *h)
{
	struct notify__sock *k = h->data;
	struct notify *n = k->n;

	free(k);
	if (--n->open_handles == 0 && n->closing)
		free(n);
}

static void sock_close(struct notify__sock *k)
{
	struct notify *n = k->n;

	if (k->prev)
		k->prev->next = k->next;
	else
		n->socks = k->next;
	if (k->next)
		k->next->prev = k->prev;
	uv_close((uv_handle_t *)&k->poll, on_sock_closed);
}

/* Every try that ended: its easy handle leaves, the queue hears of it. */
static void collect(struct notify *n)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(n->multi, &left))) {
		struct notify__job *job = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&job);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(n->multi, easy);
		curl_easy_cleanup(easy);
		job->easy = NULL;
		notify__try_done(job, rc, code);
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct notify__sock *k = h->data;
	struct notify *n = k->n;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(n->multi, k->fd, flags, &running);
	collect(n);
}

static void on_timeout(uv_timer_t *t)
{
	struct notify *n = t->data;
	int running;

	curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(n);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *arg)
{
	struct notify *n = arg;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&n->curl_timer);
	else
		uv_timer_start(&n->curl_timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static struct notify__sock *sock_open(struct notify *n, curl_socket_t fd)
{
	struct notify__sock *k = xcalloc(1, sizeof(*k));

	if (uv_poll_init_socket(n->loop, &k->poll, fd) != 0) {
		free(k);
		return NULL;
	}
	k->fd = fd;
	k->n = n;
	k->poll.data = k;
	k->next = n->socks;
	if (n->socks)
		n->socks->prev = k;
	n->socks = k;
	n->open_handles++;
	curl_multi_assign(n->multi, fd, k);
	return k;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct notify *n = arg;
	struct notify__sock *k = sockp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* libcurl closes the socket after this: stop watching it first */
		if (k)
			sock_close(k);
		return 0;
	}
	if (!k && !(k = sock_open(n, fd)))
		return -1; /* libcurl fails the transfer */
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&k->poll, events, on_poll) == 0 ? 0 : -1;
}

int notify__multi_init(struct notify *n)
{
	if (!(n->multi = curl_multi_init()))
		return -1;
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
	return 0;
}

int notify__multi_add(struct notify *n, struct notify__job *job)
{
	if (curl_multi_add_handle(n->multi, job->easy) != CURLM_OK) {
		curl_easy_cleanup(job->easy);
		job->easy = NULL;
		return -1;
	}
	return 0;
}

void notify__multi_cancel(struct notify *n, struct notify__job *job)
{
	curl_multi_remove_handle(n->multi, job->easy);
	curl_easy_cleanup(job->easy);
	job->easy = NULL;
}

void notify__multi_close(struct notify *n)
{
	/* The cleanup closes the connections libcurl kept, telling on_socket
	 * of each; what is left after it is ours to close. */
	curl_multi_cleanup(n->multi);
	n->multi = NULL;
	while (n->socks)
		sock_close(n->socks);
}
