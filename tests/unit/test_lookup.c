/*
 * test_lookup.c - `agora lookup`'s own rules (classic/lookup.h), without the
 * network: the resolver's error codes, RFC 6761's .invalid, the queries
 * refused, the thread under a deadline (a stand-in resolver that answers,
 * one that never answers in time, one during which SIGINT arrives), and the
 * text and JSON of a made-up result, with hostile names escaped.
 */
#include "helpers.h"

#include "classic/lookup.h"

#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_status_from_eai(void **state)
{
	(void)state;
	assert_int_equal(lookup_status_from_eai(0), LOOKUP_OK);
	assert_int_equal(lookup_status_from_eai(EAI_NONAME), LOOKUP_NO_HOST);
	assert_int_equal(lookup_status_from_eai(EAI_NODATA), LOOKUP_NO_ADDRESS);
	assert_int_equal(lookup_status_from_eai(EAI_ADDRFAMILY), LOOKUP_NO_ADDRESS);
	assert_int_equal(lookup_status_from_eai(EAI_AGAIN), LOOKUP_AGAIN);
	assert_int_equal(lookup_status_from_eai(EAI_FAIL), LOOKUP_FAIL);
	assert_int_equal(lookup_status_from_eai(EAI_MEMORY), LOOKUP_LOCAL);
	assert_int_equal(lookup_status_from_eai(EAI_SYSTEM), LOOKUP_LOCAL);
	for (int s = LOOKUP_OK; s <= LOOKUP_LOCAL; s++)
		assert_true(strlen(lookup_strerror(s)) > 3);
	assert_string_equal(lookup_strerror(LOOKUP_NO_HOST), "no such host");
}

static void test_invalid_tld(void **state)
{
	(void)state;
	assert_true(lookup_is_invalid_tld("invalid"));
	assert_true(lookup_is_invalid_tld("x.invalid"));
	assert_true(lookup_is_invalid_tld("a.b.INVALID"));
	assert_true(lookup_is_invalid_tld("no-such-host.Invalid."));
	assert_false(lookup_is_invalid_tld("notinvalid"));
	assert_false(lookup_is_invalid_tld("x.invalid.example"));
	assert_false(lookup_is_invalid_tld("invalid.x"));
	assert_false(lookup_is_invalid_tld("valid"));
	assert_false(lookup_is_invalid_tld(""));
}

static void test_queries(void **state)
{
	char longq[LOOKUP_QUERY_MAX + 2];
	struct lookup_result *r = malloc(sizeof(*r));

	(void)state;
	assert_int_equal(lookup_check_query("localhost"), LOOKUP_OK);
	assert_int_equal(lookup_check_query("::1"), LOOKUP_OK);
	assert_int_equal(lookup_check_query(""), LOOKUP_BAD_QUERY);
	assert_int_equal(lookup_check_query("a\nb"), LOOKUP_BAD_QUERY);
	assert_int_equal(lookup_check_query("a\x1b[2J"), LOOKUP_BAD_QUERY);
	assert_int_equal(lookup_check_query("a\x7f"), LOOKUP_BAD_QUERY);
	memset(longq, 'a', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	assert_int_equal(lookup_check_query(longq), LOOKUP_BAD_QUERY);
	longq[LOOKUP_QUERY_MAX] = '\0';
	assert_int_equal(lookup_check_query(longq), LOOKUP_OK);
	/* Answered without asking any resolver (RFC 6761, 6.4). */
	assert_int_equal(lookup_resolve("no-such-host.invalid", r), LOOKUP_NO_HOST);
	assert_int_equal(lookup_resolve("", r), LOOKUP_BAD_QUERY);
	free(r);
}

/* --- the deadline: stand-in resolvers --------------------------------- */

static sem_t release_stub;

static enum lookup_status stub_answers(const char *q, struct lookup_result *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->query, sizeof(r->query), "%s", q);
	snprintf(r->canonical, sizeof(r->canonical), "canonical.example");
	r->naddrs = 1;
	snprintf(r->addrs[0].text, sizeof(r->addrs[0].text), "192.0.2.7");
	r->addrs[0].sa.ss_family = AF_INET;
	return LOOKUP_OK;
}

static enum lookup_status stub_refuses(const char *q, struct lookup_result *r)
{
	(void)q;
	memset(r, 0, sizeof(*r));
	return LOOKUP_NO_HOST;
}

/* Blocks until the test lets it go: a resolver that never answers in time. */
static enum lookup_status stub_hangs(const char *q, struct lookup_result *r)
{
	(void)q;
	(void)r;
	while (sem_wait(&release_stub) != 0)
		;
	return LOOKUP_OK;
}

/* Sends SIGINT to the process (the waiting thread takes it), then hangs. */
static enum lookup_status stub_interrupted(const char *q, struct lookup_result *r)
{
	kill(getpid(), SIGINT);
	return stub_hangs(q, r);
}

/* Waits (bounded) until every lookup thread has ended and freed its job. */
static void wait_jobs_done(void)
{
	struct timespec tick = { 0, 1000000 };

	for (int i = 0; i < 5000 && lookup_jobs_alive() > 0; i++)
		nanosleep(&tick, NULL);
	assert_int_equal(lookup_jobs_alive(), 0);
}

static void test_run_answers(void **state)
{
	struct lookup_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_int_equal(lookup_run("a.example", 5000, stub_answers, r), LOOKUP_OK);
	assert_string_equal(r->query, "a.example");
	assert_string_equal(r->canonical, "canonical.example");
	assert_int_equal(r->naddrs, 1);
	assert_int_equal(lookup_run("b.example", 5000, stub_refuses, r), LOOKUP_NO_HOST);
	wait_jobs_done();
	free(r);
}

static void test_run_deadline(void **state)
{
	struct lookup_result *r = calloc(1, sizeof(*r));
	struct timespec t0, t1;
	long ms;

	(void)state;
	sem_init(&release_stub, 0, 0);
	r->naddrs = 42;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lookup_run("slow.example", 200, stub_hangs, r), LOOKUP_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190 && ms < 3000);
	assert_int_equal(r->naddrs, 42); /* untouched */
	assert_int_equal(lookup_jobs_alive(), 1); /* still blocked in the resolver */
	sem_post(&release_stub);
	wait_jobs_done(); /* it ends on its own and frees the job */
	sem_destroy(&release_stub);
	free(r);
}

static int sigint_seen;
static void count_sigint(int sig)
{
	(void)sig;
	sigint_seen++;
}

static void test_run_interrupted(void **state)
{
	struct lookup_result *r = calloc(1, sizeof(*r));
	struct sigaction sa = { .sa_handler = count_sigint }, old;

	(void)state;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	sem_init(&release_stub, 0, 0);
	assert_int_equal(lookup_run("x.example", 20000, stub_interrupted, r), LOOKUP_INTERRUPTED);
	sem_post(&release_stub);
	wait_jobs_done();
	/* The caller's handler is back. */
	kill(getpid(), SIGINT);
	assert_int_equal(sigint_seen, 1);
	sigaction(SIGINT, &old, NULL);
	sem_destroy(&release_stub);
	free(r);
}

/* --- formatting ------------------------------------------------------- */

static void add(struct lookup_result *r, int family, const char *text, enum lookup_status st,
		const char *reverse)
{
	struct lookup_addr *a = &r->addrs[r->naddrs++];

	a->sa.ss_family = (sa_family_t)family;
	snprintf(a->text, sizeof(a->text), "%s", text);
	a->reverse_status = st;
	snprintf(a->reverse, sizeof(a->reverse), "%s", reverse);
}

static struct lookup_result *sample(void)
{
	struct lookup_result *r = calloc(1, sizeof(*r));

	snprintf(r->query, sizeof(r->query), "host.example");
	snprintf(r->canonical, sizeof(r->canonical), "www.host.example");
	add(r, AF_INET, "192.0.2.1", LOOKUP_OK, "one.example");
	add(r, AF_INET6, "2001:db8::1", LOOKUP_NO_NAME, "");
	add(r, AF_INET, "192.0.2.2", LOOKUP_AGAIN, "");
	/* A resolver's answer may hold anything: an escape sequence, bad UTF-8. */
	add(r, AF_INET, "192.0.2.3", LOOKUP_OK, "evil\x1b]0;pwned\x07\xff.example");
	return r;
}

static void test_text(void **state)
{
	struct lookup_result *r = sample();
	struct text t = { 0 };

	(void)state;
	lookup_format_text(r, &t);
	assert_non_null(strstr(t.s, "name       host.example\n"));
	assert_non_null(strstr(t.s, "canonical  www.host.example\n"));
	assert_non_null(strstr(t.s, "IPv4       192.0.2.1    reverse one.example\n"));
	assert_non_null(strstr(t.s, "IPv6       2001:db8::1  no reverse name\n"));
	assert_non_null(strstr(t.s, "192.0.2.2    reverse unknown: the resolver could not"));
	assert_non_null(strstr(t.s, "reverse evil\\x1b]0;pwned\\x07\\xff.example\n"));
	assert_null(strchr(t.s, '\x1b'));
	assert_null(strchr(t.s, '\x07'));
	free(t.s);

	/* An address whose name has no address. */
	memset(r, 0, sizeof(*r));
	r->is_address = true;
	snprintf(r->query, sizeof(r->query), "192.0.2.9");
	snprintf(r->reverse, sizeof(r->reverse), "nine.example");
	r->forward_status = LOOKUP_NO_HOST;
	memset(&t, 0, sizeof(t));
	lookup_format_text(r, &t);
	assert_string_equal(t.s, "address    192.0.2.9\n"
				 "reverse    nine.example\n"
				 "addresses  none: no such host\n");
	free(t.s);
	free(r);
}

static void test_json(void **state)
{
	struct lookup_result *r = sample();
	json_error_t err;
	json_t *j, *a;
	char *s;

	(void)state;
	r->more = true;
	s = lookup_format_json(r);
	assert_non_null(s);
	for (const char *p = s; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7F);
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "query")), "host.example");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "name");
	assert_string_equal(json_string_value(json_object_get(j, "canonical")), "www.host.example");
	assert_true(json_is_true(json_object_get(j, "truncated")));
	assert_null(json_object_get(j, "reverse"));
	a = json_object_get(j, "addresses");
	assert_int_equal(json_array_size(a), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "family")),
			    "ipv4");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "reverse")),
			    "one.example");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "family")),
			    "ipv6");
	assert_true(json_is_null(json_object_get(json_array_get(a, 1), "reverse")));
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(a, 1), "reverse_error")),
		"no name for this address");
	/* Not UTF-8: escaped, so still a JSON string. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 3), "reverse")),
			    "evil\\x1b]0;pwned\\x07\\xff.example");
	json_decref(j);
	free(s);

	r->is_address = true;
	snprintf(r->reverse, sizeof(r->reverse), "host.example");
	r->forward_status = LOOKUP_NO_ADDRESS;
	s = lookup_format_json(r);
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "address");
	assert_string_equal(json_string_value(json_object_get(j, "reverse")), "host.example");
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "the name exists but has no address");
	json_decref(j);
	free(s);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_from_eai), cmocka_unit_test(test_invalid_tld),
		cmocka_unit_test(test_queries),         cmocka_unit_test(test_run_answers),
		cmocka_unit_test(test_run_deadline),    cmocka_unit_test(test_run_interrupted),
		cmocka_unit_test(test_text),            cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
