/*
 * test_log.c - the log's buffering (base/log.h): lines wait for log_flush
 * while buffering is on, warn and error go out at once with everything
 * before them, order is kept, a full buffer writes itself out, long lines
 * are cut; and the fixed text buffer (base/text.h) the access log uses.
 *
 * stderr is pointed at a pipe for the test, so what reached it can be read.
 */
#include "helpers.h"

#include "base/log.h"
#include "base/text.h"
#include "utf8_samples.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct capture {
	int saved;   /* the real stderr */
	int rd;      /* the pipe's read end */
	char got[1 << 20];
	size_t len;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	/* big enough for every test's output, and read without blocking */
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	c->saved = dup(STDERR_FILENO);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);
	c->rd = fds[0];
	log_set_level(LOG_INFO);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	log_buffering(false);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	close(c->rd);
	free(c);
	return 0;
}

/* Everything written to stderr so far, appended to c->got. */
static const char *drain(struct capture *c)
{
	ssize_t n;

	while ((n = read(c->rd, c->got + c->len, sizeof(c->got) - 1 - c->len)) > 0)
		c->len += (size_t)n;
	c->got[c->len] = '\0';
	return c->got;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_unbuffered_line_goes_at_once(void **state)
{
	struct capture *c = *state;

	log_info("hello %d", 42);
	assert_non_null(strstr(drain(c), " info  hello 42\n"));
	/* "2026-11-23T10:00:00.123Z info  ": the prefix's shape */
	assert_int_equal(c->got[4], '-');
	assert_int_equal(c->got[10], 'T');
	assert_int_equal(c->got[19], '.');
	assert_int_equal(c->got[23], 'Z');
}

static void test_buffered_lines_wait_for_flush_in_order(void **state)
{
	struct capture *c = *state;
	const char *a, *b, *w, *d;

	log_buffering(true);
	log_info("first");
	log_text(LOG_INFO, "second (preformatted)", strlen("second (preformatted)"));
	log_debug("not at info level");
	assert_int_equal(strlen(drain(c)), 0); /* nothing yet */
	log_warn("a warning");                  /* out at once, after the two */
	drain(c);
	a = strstr(c->got, "info  first\n");
	b = strstr(c->got, "info  second (preformatted)\n");
	w = strstr(c->got, "warn  a warning\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(w);
	assert_true(a < b && b < w);
	assert_null(strstr(c->got, "not at info level"));
	log_info("after");
	assert_null(strstr(drain(c), "after"));
	log_flush();
	d = strstr(drain(c), "info  after\n");
	assert_non_null(d);
	assert_true(d > w);
	log_info("last");
	log_buffering(false); /* turning it off writes what waits */
	assert_non_null(strstr(drain(c), "info  last\n"));
}

static void test_full_buffer_writes_itself_out(void **state)
{
	struct capture *c = *state;
	char filler[200];

	memset(filler, 'f', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	log_buffering(true);
	/* 64 KiB of buffer: 1000 lines of about 230 bytes do not fit. */
	for (int i = 0; i < 1000; i++)
		log_info("%04d %s", i, filler);
	drain(c);
	assert_true(c->len > 32 * 1024);
	assert_true(count_lines(c->got) < 1000);
	assert_non_null(strstr(c->got, "info  0000 f"));
	log_flush();
	drain(c);
	assert_int_equal(count_lines(c->got), 1000);
	assert_non_null(strstr(c->got, "info  0999 f"));
}

static void test_long_line_is_cut(void **state)
{
	struct capture *c = *state;
	static char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	log_text(LOG_INFO, big, sizeof(big) - 1);
	log_info("%s", big);
	drain(c);
	assert_int_equal(count_lines(c->got), 2);
	assert_true(c->len <= 2 * 1024);
	assert_int_equal(c->got[c->len - 1], '\n');
}

static void test_text_fixed_cuts_and_says_so(void **state)
{
	char buf[16];
	struct text_fixed t = { .buf = buf, .cap = sizeof(buf) };

	(void)state;
	TEXT_PUT_LIT(&t, "n=");
	text_put_uint(&t, 0);
	text_put_str(&t, " ");
	text_put_uint(&t, 18446744073709551615u);
	assert_true(t.cut);
	assert_int_equal(t.len, sizeof(buf));
	assert_memory_equal(buf, "n=0 184467440737", sizeof(buf));
	t = (struct text_fixed){ .buf = buf, .cap = sizeof(buf) };
	text_put_uint(&t, 1234567890);
	assert_false(t.cut);
	assert_int_equal(t.len, 10);
	assert_memory_equal(buf, "1234567890", 10);
}

static void test_utf8_cut_keeps_sequences_whole(void **state)
{
	/* "aé€😀": 1, 2, 3 and 4 bytes. */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10 };
	size_t len = sizeof(s) - 1;

	(void)state;
	for (size_t max = 0; max < sizeof(want) / sizeof(want[0]); max++) {
		if (text_utf8_cut(s, len, max) != want[max])
			fail_msg("max %zu: %zu, expected %zu", max, text_utf8_cut(s, len, max),
				 want[max]);
	}
	/* Shorter than max: all of it, whatever it ends with. */
	assert_int_equal(text_utf8_cut("ab\xc3", 3, 8), 3);
	assert_int_equal(text_utf8_cut("", 0, 8), 0);
}

/* text_utf8_seq walks the codec's samples to the same verdict as
 * mqtt_utf8_scan: a sample is ill-formed exactly when the walk stops. */
static void test_utf8_seq_agrees_with_the_codec(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_samples) / sizeof(utf8_samples[0]); i++) {
		const struct utf8_sample *u = &utf8_samples[i];
		size_t at = 0, k;

		while (at < u->len && (k = text_utf8_seq(u->s + at, u->len - at)))
			at += k;
		if ((at == u->len) != !(u->cls & MQTT_UTF8_ILL_FORMED))
			fail_msg("%s: walked %zu of %zu bytes", u->name, at, u->len);
	}
	assert_int_equal(text_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(text_utf8_seq((const unsigned char *)"\xf0\x9f\x98", 3), 0);
}

static void test_hex(void **state)
{
	char out[8];

	(void)state;
	text_hex(out, "\x00\x9f\xff\x10", 4);
	assert_memory_equal(out, "009fff10", 8);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_unbuffered_line_goes_at_once),
		T(test_buffered_lines_wait_for_flush_in_order),
		T(test_full_buffer_writes_itself_out),
		T(test_long_line_is_cut),
		T(test_text_fixed_cuts_and_says_so),
		T(test_utf8_cut_keeps_sequences_whole),
		T(test_utf8_seq_agrees_with_the_codec),
		T(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
