/*
 * lookup.c - `agora lookup` (lookup.h): the resolver's calls, and the thread
 * that runs them under a deadline.
 */
#include "lookup.h"

#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* --- pure rules ------------------------------------------------------ */

enum lookup_status lookup_status_from_eai(int eai)
{
	switch (eai) {
	case 0: return LOOKUP_OK;
	case EAI_NONAME: return LOOKUP_NO_HOST;
#ifdef EAI_NODATA
	case EAI_NODATA: return LOOKUP_NO_ADDRESS;
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY: return LOOKUP_NO_ADDRESS;
#endif
	case EAI_AGAIN: return LOOKUP_AGAIN;
	case EAI_MEMORY:
	case EAI_SYSTEM: return LOOKUP_LOCAL;
	default: return LOOKUP_FAIL; /* EAI_FAIL, EAI_OVERFLOW, ... */
	}
}

bool lookup_is_invalid_tld(const char *name)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n < 7 || strncasecmp(name + n - 7, "invalid", 7) != 0)
		return false;
	return n == 7 || name[n - 8] == '.';
}

enum lookup_status lookup_check_query(const char *q)
{
	size_t n = strlen(q);

	if (n == 0 || n > LOOKUP_QUERY_MAX)
		return LOOKUP_BAD_QUERY;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)q[i] < 0x20 || q[i] == 0x7F)
			return LOOKUP_BAD_QUERY;
	return LOOKUP_OK;
}

/* --- the look-up ----------------------------------------------------- */

static enum lookup_status reverse_of(const struct sockaddr *sa, socklen_t len, char *name)
{
	int rc = getnameinfo(sa, len, name, NI_MAXHOST, NULL, 0, NI_NAMEREQD);

	if (rc == EAI_NONAME) {
		name[0] = '\0';
		return LOOKUP_NO_NAME; /* the address exists: its name does not */
	}
	if (rc)
		name[0] = '\0';
	return lookup_status_from_eai(rc);
}

static bool have_addr(const struct lookup_result *r, const char *text)
{
	for (unsigned i = 0; i < r->naddrs; i++)
		if (strcmp(r->addrs[i].text, text) == 0)
			return true;
	return false;
}

static void add_addr(struct lookup_result *r, const struct addrinfo *a)
{
	struct lookup_addr *x;
	char text[INET6_ADDRSTRLEN];
	const void *bytes;

	if (a->ai_family == AF_INET)
		bytes = &((const struct sockaddr_in *)a->ai_addr)->sin_addr;
	else if (a->ai_family == AF_INET6)
		bytes = &((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
	else
		return;
	if (!inet_ntop(a->ai_family, bytes, text, sizeof(text)) || have_addr(r, text))
		return; /* /etc/hosts may list an address twice */
	if (r->naddrs == LOOKUP_MAX_ADDRS) {
		r->more = true;
		return;
	}
	x = &r->addrs[r->naddrs++];
	memcpy(&x->sa, a->ai_addr, a->ai_addrlen);
	x->salen = a->ai_addrlen;
	memcpy(x->text, text, sizeof(text));
}

/* A name: canonical name, addresses, and each address's name. */
static enum lookup_status forward(const char *name, struct lookup_result *r)
{
	/* One socket type, or each address comes three times (stream, datagram, raw). */
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_CANONNAME };
	struct addrinfo *res;
	int rc;

	if (lookup_is_invalid_tld(name))
		return LOOKUP_NO_HOST; /* RFC 6761, 6.4: without asking anyone */
	rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc)
		return lookup_status_from_eai(rc);
	if (res->ai_canonname)
		snprintf(r->canonical, sizeof(r->canonical), "%s", res->ai_canonname);
	for (const struct addrinfo *a = res; a; a = a->ai_next)
		add_addr(r, a);
	freeaddrinfo(res);
	for (unsigned i = 0; i < r->naddrs; i++) {
		struct lookup_addr *x = &r->addrs[i];
		x->reverse_status = reverse_of((struct sockaddr *)&x->sa, x->salen, x->reverse);
	}
	return LOOKUP_OK;
}

enum lookup_status lookup_resolve(const char *query, struct lookup_result *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *res;
	enum lookup_status st;

	memset(r, 0, sizeof(*r));
	st = lookup_check_query(query);
	if (st != LOOKUP_OK)
		return st;
	snprintf(r->query, sizeof(r->query), "%s", query);
	if (getaddrinfo(query, NULL, &hints, &res) != 0)
		return forward(query, r);
	/* An address (gethostbyaddr): its name, then that name's addresses. */
	r->is_address = true;
	st = reverse_of(res->ai_addr, res->ai_addrlen, r->reverse);
	freeaddrinfo(res);
	if (st != LOOKUP_OK)
		return st;
	r->forward_status = forward(r->reverse, r);
	return LOOKUP_OK;
}

/* --- under a deadline ------------------------------------------------ */

/* The resolver's thread and the waiting one share a job; whoever lets go
 * last frees it. The thread says "done" with a byte in a pipe, and the
 * signal handlers with another, so one poll waits for both and the
 * deadline. */
struct job {
	pthread_mutex_t lock;
	int refs;   /* 2 while both hold it */
	int wfd;    /* the pipe's write end: 'd' done, 'i' a signal */
	lookup_fn fn;
	char *query;
	enum lookup_status status;
	struct lookup_result result;
};

static atomic_uint jobs_alive;
static volatile sig_atomic_t signal_fd = -1;

unsigned lookup_jobs_alive(void)
{
	return atomic_load(&jobs_alive);
}

static void job_release(struct job *j)
{
	bool last;

	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	close(j->wfd);
	pthread_mutex_destroy(&j->lock);
	free(j->query);
	free(j);
	atomic_fetch_sub(&jobs_alive, 1);
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	char done = 'd';

	j->status = j->fn(j->query, &j->result);
	pthread_mutex_lock(&j->lock);
	if (j->refs == 2) /* still waited for: the read end is open */
		(void)!write(j->wfd, &done, 1);
	pthread_mutex_unlock(&j->lock);
	job_release(j);
	return NULL;
}

static void on_signal(int sig)
{
	int saved = errno;
	char b = 'i';

	(void)sig;
	if (signal_fd >= 0)
		(void)!write(signal_fd, &b, 1);
	errno = saved;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for a byte in rfd until the deadline: 'd', 'i', or 0 for the deadline. */
static char wait_byte(int rfd, int64_t deadline)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	char b;

	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		if (poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left) < 0 && errno != EINTR)
			return 0;
		if (read(rfd, &b, 1) == 1)
			return b;
	}
}

/* Starts the thread with SIGINT and SIGTERM blocked in it, so that they
 * reach the waiting thread's handler. */
static int start_thread(struct job *j)
{
	sigset_t block, old;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

enum lookup_status lookup_run(const char *query, int timeout_ms, lookup_fn fn,
			      struct lookup_result *r)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	enum lookup_status st = LOOKUP_LOCAL;
	struct job *j;
	int fds[2];
	char b;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		return LOOKUP_LOCAL;
	j = xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	j->refs = 2;
	j->wfd = fds[1];
	j->fn = fn;
	j->query = xstrdup(query);
	atomic_fetch_add(&jobs_alive, 1);

	sigemptyset(&sa.sa_mask);
	signal_fd = fds[1];
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (start_thread(j)) {
		job_release(j); /* the thread's share */
		goto out_restore;
	}
	b = wait_byte(fds[0], now_ms() + timeout_ms);
	if (b == 'd') {
		pthread_mutex_lock(&j->lock); /* what the thread wrote is visible */
		st = j->status;
		memcpy(r, &j->result, sizeof(*r));
		pthread_mutex_unlock(&j->lock);
	} else {
		st = b == 'i' ? LOOKUP_INTERRUPTED : LOOKUP_TIMEOUT;
	}
out_restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	signal_fd = -1;
	job_release(j);
	close(fds[0]);
	return st;
}
