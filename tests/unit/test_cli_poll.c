/*
 * test_cli_poll.c - the pure side of `agora poll` and `agora vote`
 * (src/client/poll_text.h): poll ids, durations, closing times; terminal
 * columns and rows; the bars, the results block, the
 * list, a new poll and a vote as printed.
 */
#include "helpers.h"

#include "client/poll_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FULL "\xe2\x96\x88" /* U+2588 FULL BLOCK */

static int utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* s repeated n times into buf (the test fails if it does not fit). */
static const char *rep(const char *s, int n, char *buf, size_t len)
{
	size_t o = 0, l = strlen(s);

	assert_true(l * (size_t)n < len);
	for (int i = 0; i < n; i++, o += l)
		memcpy(buf + o, s, l);
	buf[o] = '\0';
	return buf;
}

static char *bar(int64_t votes, int64_t total, int cells)
{
	struct text t = { 0 };

	poll_text_bar(&t, votes, total, cells);
	return t.s ? t.s : calloc(1, 1);
}

/* ---- the command line ---- */

static void test_id(void **state)
{
	int64_t id = 0;

	(void)state;
	assert_int_equal(poll_text_id("3", &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(poll_text_id("9223372036854775807", &id), 0);
	assert_true(id == INT64_MAX);
	static const char *const bad[] = { "", "0", "-1", "+1", "1.0", "1x", " 1", "0x10",
					   "9223372036854775808", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (poll_text_id(bad[i], &id) == 0)
			fail_msg("'%s' taken for a poll id", bad[i]);
}

static void expect_duration(const char *s, int64_t want)
{
	const char *why = NULL;
	int64_t ms = -1;

	if (poll_text_duration(s, &ms, &why) != 0)
		fail_msg("'%s' refused: %s", s, why);
	if (ms != want)
		fail_msg("'%s': %lld ms, not %lld", s, (long long)ms, (long long)want);
}

static void expect_bad_duration(const char *s, const char *why_part)
{
	const char *why = NULL;
	int64_t ms = 0;

	if (poll_text_duration(s, &ms, &why) == 0)
		fail_msg("'%s' accepted as %lld ms", s, (long long)ms);
	if (!strstr(why, why_part))
		fail_msg("'%s': reason '%s' lacks '%s'", s, why, why_part);
}

static void test_duration(void **state)
{
	(void)state;
	expect_duration("90s", 90000);
	expect_duration("10m", 600000);
	expect_duration("2h", 7200000);
	expect_duration("1d", 86400000);
	expect_duration("1h30m", 5400000);
	expect_duration("1d2h3m4s", ((24 + 2) * 3600 + 3 * 60 + 4) * 1000LL);
	expect_duration("0h1s", 1000);
	expect_duration("366d", POLL_TEXT_DURATION_MAX_MS);
	expect_duration("8784h", POLL_TEXT_DURATION_MAX_MS);

	expect_bad_duration("", "90s, 10m, 2h");
	expect_bad_duration("90", "a number and a unit");
	expect_bad_duration("s", "a number and a unit");
	expect_bad_duration("10x", "a number and a unit");
	expect_bad_duration("10 m", "a number and a unit");
	expect_bad_duration("-5m", "a number and a unit");
	expect_bad_duration("1.5h", "a number and a unit");
	expect_bad_duration("30m1h", "a number and a unit"); /* largest first */
	expect_bad_duration("1m1m", "a number and a unit");
	expect_bad_duration("10M", "a number and a unit");
	expect_bad_duration("0s", "more than 0");
	expect_bad_duration("0h0m", "more than 0");
	expect_bad_duration("367d", "366 days");
	expect_bad_duration("366d1s", "366 days");
	expect_bad_duration("9999999999s", "a number and a unit"); /* 10 digits */
	expect_bad_duration("999999999d", "366 days");
}

static void expect_time(const char *s, int64_t now, const char *want_iso)
{
	char iso[POLL_TEXT_ISO_MAX];
	const char *why = NULL;
	int64_t ms = 0;

	if (poll_text_time(s, now, &ms, &why) != 0)
		fail_msg("'%s' refused: %s", s, why);
	poll_text_iso(ms, iso, sizeof(iso));
	if (strcmp(iso, want_iso) != 0)
		fail_msg("'%s' -> %s, not %s", s, iso, want_iso);
}

static void expect_bad_time(const char *s, const char *why_part)
{
	const char *why = NULL;
	int64_t ms = 0;

	if (poll_text_time(s, 0, &ms, &why) == 0)
		fail_msg("'%s' accepted as %lld", s, (long long)ms);
	if (!strstr(why, why_part))
		fail_msg("'%s': reason '%s' lacks '%s'", s, why, why_part);
}

static void test_time(void **state)
{
	/* 2026-12-06T08:00:00.000Z */
	const int64_t now = 1796544000000LL;

	(void)state;
	expect_time("2026-12-06T09:00:00Z", now, "2026-12-06T09:00:00.000Z");
	expect_time("2026-12-06t09:00z", now, "2026-12-06T09:00:00.000Z");
	expect_time("2026-12-06 09:30:15.25Z", now, "2026-12-06T09:30:15.250Z");
	expect_time("2026-12-06T09:00:00.123456789Z", now, "2026-12-06T09:00:00.123Z");
	expect_time("2026-12-06T09:00+01:00", now, "2026-12-06T08:00:00.000Z");
	expect_time("2026-12-06T09:00-0130", now, "2026-12-06T10:30:00.000Z");
	expect_time("2028-02-29T00:00Z", now, "2028-02-29T00:00:00.000Z");
	/* no zone: local time (UTC here, then one hour east) */
	expect_time("2026-12-06T09:00", now, "2026-12-06T09:00:00.000Z");
	setenv("TZ", "CET-1", 1);
	tzset();
	expect_time("2026-12-06T09:00", now, "2026-12-06T08:00:00.000Z");
	expect_time("2026-12-06 09:00:30", now, "2026-12-06T08:00:30.000Z");
	/* HH:MM: the next one to come, local: 09:30 CET is 08:30Z today... */
	expect_time("09:30", now, "2026-12-06T08:30:00.000Z");
	/* ... 08:59:59 CET (07:59:59Z) has passed: tomorrow's */
	expect_time("08:59:59", now, "2026-12-07T07:59:59.000Z");
	/* now exactly is not "to come" */
	expect_time("09:00", now, "2026-12-07T08:00:00.000Z");
	utc(NULL);
	expect_time("23:59", now, "2026-12-06T23:59:00.000Z");
	expect_time("00:00", now, "2026-12-07T00:00:00.000Z");

	expect_bad_time("", "YYYY-MM-DD");
	expect_bad_time("tomorrow", "YYYY-MM-DD");
	expect_bad_time("2026-12-06", "YYYY-MM-DD"); /* a day is not a time */
	expect_bad_time("2026-12-06T", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T9:00Z", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T24:00Z", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T09:60Z", "YYYY-MM-DD");
	expect_bad_time("2026-13-06T09:00Z", "YYYY-MM-DD");
	expect_bad_time("2026-12-00T09:00Z", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T09:00:00.Z", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T09:00+1", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T09:00+01:00x", "YYYY-MM-DD");
	expect_bad_time("2026-12-06T09:00 ", "YYYY-MM-DD");
	expect_bad_time("1969-12-31T23:59Z", "YYYY-MM-DD");
	expect_bad_time("25:00", "YYYY-MM-DD");
	expect_bad_time("9:00", "YYYY-MM-DD");
	expect_bad_time("09:00:", "YYYY-MM-DD");
	expect_bad_time("2026-04-31T09:00Z", "no such date");
	expect_bad_time("2026-02-29T09:00", "no such date");
}

static void test_iso(void **state)
{
	char iso[POLL_TEXT_ISO_MAX];

	(void)state;
	poll_text_iso(0, iso, sizeof(iso));
	assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
	poll_text_iso(1796544000007LL, iso, sizeof(iso));
	assert_string_equal(iso, "2026-12-06T08:00:00.007Z");
	poll_text_iso(253402300799999LL, iso, sizeof(iso));
	assert_string_equal(iso, "9999-12-31T23:59:59.999Z");
}

/* ---- columns and rows ---- */

static void test_columns(void **state)
{
	(void)state;
	assert_int_equal(poll_text_columns("hiver", 5), 5);
	assert_int_equal(poll_text_columns("été", strlen("été")), 3);
	assert_int_equal(poll_text_columns("e\xcc\x81t\xc3\xa9", 5), 3); /* e + U+0301 */
	assert_int_equal(poll_text_columns("夏天", strlen("夏天")), 4);
	assert_int_equal(poll_text_columns("\xf0\x9f\x8d\xa6!", 5), 3); /* U+1F366 ice cream */
	assert_int_equal(poll_text_columns(FULL FULL, 6), 2);
	/* a broken or cut sequence counts a column a byte, and stops nowhere */
	assert_int_equal(poll_text_columns("\xff\xc3", 2), 2);
	assert_int_equal(poll_text_columns("\xe5\xa4", 2), 2);
	assert_int_equal(poll_text_columns("", 0), 0);
}

static void test_rows(void **state)
{
	char buf[1024];

	(void)state;
	assert_int_equal(poll_text_rows("", 80), 0);
	assert_int_equal(poll_text_rows("a\nb\n", 80), 2);
	assert_int_equal(poll_text_rows("a\n\nb\n", 80), 3); /* an empty line is a row */
	assert_int_equal(poll_text_rows("no newline", 80), 1);
	/* 80 columns fit in 80; 81 wrap into two rows; wide characters count twice */
	assert_int_equal(poll_text_rows(rep("x", 80, buf, sizeof(buf)), 80), 1);
	assert_int_equal(poll_text_rows(rep("x", 81, buf, sizeof(buf)), 80), 2);
	assert_int_equal(poll_text_rows(rep("夏", 41, buf, sizeof(buf)), 80), 2);
	assert_int_equal(poll_text_rows(rep(FULL, 160, buf, sizeof(buf)), 80), 2);
	/* columns 0 (not a terminal): one row a line */
	assert_int_equal(poll_text_rows(rep("x", 300, buf, sizeof(buf)), 0), 1);
}

/* ---- bars ---- */

static void test_bar_eighths(void **state)
{
	static const char *const eighth[8] = { "", "\xe2\x96\x8f", "\xe2\x96\x8e",
					       "\xe2\x96\x8d", "\xe2\x96\x8c", "\xe2\x96\x8b",
					       "\xe2\x96\x8a", "\xe2\x96\x89" };
	char want[256], full[256];

	(void)state;
	/* one cell: k votes of 8 are k eighths of it */
	for (int k = 1; k < 8; k++) {
		char *b = bar(k, 8, 1);

		assert_string_equal(b, eighth[k]);
		free(b);
	}
	/* 8 of 8 is the whole cell; 5 of 8 on 4 cells is 2.5 cells */
	char *b = bar(8, 8, 1);
	assert_string_equal(b, FULL);
	free(b);
	b = bar(5, 8, 4);
	snprintf(want, sizeof(want), "%s%s ", rep(FULL, 2, full, sizeof(full)), eighth[4]);
	assert_string_equal(b, want);
	free(b);
	/* 2 of 3 on 40 cells: 213.33 eighths, rounded: 26 cells and 5/8 */
	b = bar(2, 3, 40);
	snprintf(want, sizeof(want), "%s%s%13s", rep(FULL, 26, full, sizeof(full)), eighth[5],
		 "");
	assert_string_equal(b, want);
	assert_int_equal(poll_text_columns(b, strlen(b)), 40);
	free(b);
}

static void test_bar_edges(void **state)
{
	char full[256], spaces[64];

	(void)state;
	/* nothing, no votes at all, a bad total: an empty bar of the width */
	char *b = bar(0, 10, 20);
	assert_string_equal(b, rep(" ", 20, spaces, sizeof(spaces)));
	free(b);
	b = bar(0, 0, 5);
	assert_string_equal(b, "     ");
	free(b);
	b = bar(3, -1, 5);
	assert_string_equal(b, "     ");
	free(b);
	/* one vote in a million still shows */
	b = bar(1, 1000000, 3);
	assert_string_equal(b, "\xe2\x96\x8f  ");
	free(b);
	/* more votes than the total (an inconsistent answer): a full bar, no more */
	b = bar(7, 3, 4);
	assert_string_equal(b, rep(FULL, 4, full, sizeof(full)));
	free(b);
	b = bar(INT64_MAX, INT64_MAX, 50);
	assert_string_equal(b, rep(FULL, 50, full, sizeof(full)));
	free(b);
	/* no cells: nothing */
	b = bar(1, 1, 0);
	assert_string_equal(b, "");
	free(b);
	b = bar(1, 1, -3);
	assert_string_equal(b, "");
	free(b);
}

/* Every row of a results block, with the bar's cells: the same width. */
static void test_bars_scale_with_votes(void **state)
{
	(void)state;
	for (int64_t total = 1; total <= 50; total++) {
		for (int64_t v = 0; v <= total; v++) {
			char *b = bar(v, total, 40);

			assert_int_equal(poll_text_columns(b, strlen(b)), 40);
			free(b);
		}
	}
}

/* ---- the results block ---- */

static const char poll_json[] =
	"{\"id\":3,\"question\":\"\\u00c9t\\u00e9 ou hiver ?\","
	"\"options\":[{\"number\":1,\"label\":\"\\u00e9t\\u00e9\",\"votes\":2},"
	"{\"number\":2,\"label\":\"hiver\",\"votes\":1}],"
	"\"total\":3,\"creator\":\"alice\",\"created_at\":\"2026-12-06T08:00:00.000Z\","
	"\"closes_at\":null,\"closed_at\":null,\"open\":true}";

static char *results(const json_t *poll, int columns)
{
	struct text t = { 0 };

	poll_text_results(&t, poll, columns);
	return t.s;
}

static void test_results_plain(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);
	char want[1024], a[128], b[128];
	char *got = results(poll, 0);

	(void)state;
	snprintf(want, sizeof(want),
		 "#3 Été ou hiver ?\n"
		 "  1  été    %s\xe2\x96\x8b%13s  2   66.7%%\n"
		 "  2  hiver  %s\xe2\x96\x8d%26s  1   33.3%%\n"
		 "total 3 votes, open, by alice\n",
		 rep(FULL, 26, a, sizeof(a)), "", rep(FULL, 13, b, sizeof(b)), "");
	assert_string_equal(got, want);
	free(got);
	json_decref(poll);
}

static void test_results_states(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);
	char *got;

	(void)state;
	json_object_set_new(poll, "closes_at", json_string("2026-12-06T09:00:00.000Z"));
	got = results(poll, 0);
	assert_non_null(strstr(got, "\ntotal 3 votes, open until 2026-12-06 09:00, by alice\n"));
	free(got);
	/* closed by hand: when it was; expired: when it closed by itself */
	json_object_set_new(poll, "open", json_false());
	json_object_set_new(poll, "closed_at", json_string("2026-12-06T08:30:00.000Z"));
	got = results(poll, 0);
	assert_non_null(strstr(got, "\ntotal 3 votes, closed 2026-12-06 08:30, by alice\n"));
	free(got);
	json_object_set_new(poll, "closed_at", json_null());
	got = results(poll, 0);
	assert_non_null(strstr(got, "\ntotal 3 votes, closed 2026-12-06 09:00, by alice\n"));
	free(got);
	/* closed, no times; the creator's account deleted; one vote */
	json_object_set_new(poll, "closes_at", json_null());
	json_object_set_new(poll, "creator", json_null());
	json_object_set_new(poll, "total", json_integer(1));
	got = results(poll, 0);
	assert_non_null(strstr(got, "\ntotal 1 vote, closed\n"));
	free(got);
	json_decref(poll);
}

static void test_results_no_votes(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);
	json_t *o;
	size_t i;
	char *got;

	(void)state;
	json_array_foreach(json_object_get(poll, "options"), i, o)
		json_object_set_new(o, "votes", json_integer(0));
	json_object_set_new(poll, "total", json_integer(0));
	got = results(poll, 0);
	assert_non_null(strstr(got, "  1  été    " "                                        "
				    "  0    0.0%\n"));
	assert_non_null(strstr(got, "\ntotal 0 votes, open, by alice\n"));
	free(got);
	json_decref(poll);
}

/* Each line's columns, the longest. */
static int widest_line(const char *s)
{
	int widest = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		int w = (int)poll_text_columns(s, (size_t)(nl - s));

		widest = w > widest ? w : widest;
		s = nl + 1;
	}
	return widest;
}

static void test_results_fit_the_terminal(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);

	(void)state;
	/* the bars take what the rest of the line leaves, but the last column */
	for (int cols = 40; cols <= 240; cols++) {
		char *got = results(poll, cols);
		/* "  1  été    " 12, then the bar, "  2   66.7%" 11, 1 free */
		int bar = cols - 12 - 11 - 1;

		bar = bar < POLL_TEXT_BAR_MIN ? POLL_TEXT_BAR_MIN
		      : bar > POLL_TEXT_BAR_MAX ? POLL_TEXT_BAR_MAX : bar;
		assert_int_equal(widest_line(got), 12 + bar + 11);
		assert_int_equal(poll_text_rows(got, cols), 4);
		free(got);
	}
	json_decref(poll);
}

static void test_results_long_labels(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);
	json_t *o = json_array_get(json_object_get(poll, "options"), 1);
	char label[128], *got;

	(void)state;
	/* 60 columns of label: cut to POLL_TEXT_LABEL_MAX with an ellipsis */
	json_object_set_new(o, "label", json_string(rep("夏", 30, label, sizeof(label))));
	got = results(poll, 0);
	snprintf(label, sizeof(label), "  2  %s… ", rep("夏", 14, (char[64]){ 0 }, 64));
	if (!strstr(got, label))
		fail_msg("no cut label '%s' in:\n%s", label, got);
	free(got);
	/* a narrow terminal: labels shrink (not below POLL_TEXT_LABEL_MIN) before bars */
	got = results(poll, 50);
	assert_true(widest_line(got) <= 49);
	free(got);
	got = results(poll, 20);
	assert_int_equal(widest_line(got), 2 + 1 + 2 + POLL_TEXT_LABEL_MIN + 2 +
						    POLL_TEXT_BAR_MIN + 2 + 1 + 2 + 6);
	free(got);
	json_decref(poll);
}

static void test_results_escape_control_characters(void **state)
{
	json_t *poll = json_loads(poll_json, 0, NULL);
	json_t *o = json_array_get(json_object_get(poll, "options"), 0);
	char *got;

	(void)state;
	json_object_set_new(poll, "question", json_string("Q\x1b[2J?\nnext"));
	json_object_set_new(o, "label", json_string("\x1b]0;x\x07"));
	json_object_set_new(poll, "creator", json_string("al\x9b" "ice"));
	got = results(poll, 0);
	assert_null(strchr(got, '\x1b'));
	assert_null(strchr(got, '\x07'));
	assert_non_null(strstr(got, "#3 Q\\x1b[2J?\\nnext\n"));
	assert_non_null(strstr(got, "\\x1b]0;x\\x07"));
	free(got);
	json_decref(poll);
}

static void test_results_of_garbage(void **state)
{
	static const char *const shapes[] = {
		"{}", "{\"id\":\"3\",\"options\":{}}", "{\"options\":[1,null,\"x\",[]]}",
		"{\"options\":[{\"number\":-5,\"label\":7,\"votes\":-3}],\"total\":-2}",
		"{\"options\":[{\"votes\":9223372036854775807}],\"total\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		json_t *p = json_loads(shapes[i], 0, NULL);
		char *got;

		assert_non_null(p);
		got = results(p, 0);
		assert_non_null(strstr(got, "total "));
		free(got);
		got = results(p, 80);
		assert_true(widest_line(got) < 80 + 40);
		free(got);
		json_decref(p);
	}
}

/* ---- list, created, voted ---- */

static void test_list(void **state)
{
	json_t *polls = json_array();
	json_t *p = json_loads(poll_json, 0, NULL), *q;
	struct text t = { 0 };

	(void)state;
	poll_text_list(&t, polls);
	assert_string_equal(t.s, "no polls\n");
	free(t.s);
	memset(&t, 0, sizeof(t));
	json_object_set_new(p, "closes_at", json_string("2026-12-06T09:00:00.000Z"));
	json_array_append(polls, p);
	q = json_deep_copy(p);
	json_object_set_new(q, "id", json_integer(123));
	json_object_set_new(q, "open", json_false());
	json_object_set_new(q, "closed_at", json_string("2026-12-06T08:30:00.000Z"));
	json_object_set_new(q, "total", json_integer(1234567));
	json_object_set_new(q, "question", json_string("Tabs\tor \x1b spaces?"));
	json_array_append_new(polls, q);
	q = json_deep_copy(p);
	json_object_set_new(q, "id", json_integer(7));
	json_object_set_new(q, "closes_at", json_null());
	json_array_append_new(polls, q);
	poll_text_list(&t, polls);
	assert_string_equal(t.s,
			    "ID   STATE     VOTES  CLOSES            QUESTION\n"
			    "3    open          3  2026-12-06 09:00  Été ou hiver ?\n"
			    "123  closed  1234567  2026-12-06 08:30  Tabs\tor \\x1b spaces?\n"
			    "7    open          3  -                 Été ou hiver ?\n");
	free(t.s);
	json_decref(p);
	json_decref(polls);
}

static void test_created(void **state)
{
	json_t *p = json_loads(poll_json, 0, NULL);
	struct text t = { 0 };

	(void)state;
	poll_text_created(&t, p);
	assert_string_equal(t.s, "created poll #3: Été ou hiver ?\n"
				 "  1  été\n"
				 "  2  hiver\n");
	free(t.s);
	memset(&t, 0, sizeof(t));
	json_object_set_new(p, "closes_at", json_string("2026-12-06T09:00:00.000Z"));
	poll_text_created(&t, p);
	assert_string_equal(t.s, "created poll #3: Été ou hiver ?\n"
				 "  1  été\n"
				 "  2  hiver\n"
				 "open until 2026-12-06 09:00\n");
	free(t.s);
	json_decref(p);
}

static void test_voted(void **state)
{
	json_t *v = json_loads("{\"poll_id\":3,\"option\":{\"number\":2,\"label\":\"hiver\"},"
			       "\"voted_at\":\"2026-12-06T08:01:00.000Z\"}",
			       0, NULL);
	struct text t = { 0 };

	(void)state;
	poll_text_voted(&t, v, false);
	assert_string_equal(t.s, "voted for hiver (option 2) on poll #3\n");
	free(t.s);
	memset(&t, 0, sizeof(t));
	poll_text_voted(&t, v, true);
	assert_string_equal(t.s, "changed your vote on poll #3 to hiver (option 2)\n");
	free(t.s);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_bar_eighths),
		cmocka_unit_test(test_bar_edges),
		cmocka_unit_test(test_bars_scale_with_votes),
		cmocka_unit_test(test_results_plain),
		cmocka_unit_test(test_results_states),
		cmocka_unit_test(test_results_no_votes),
		cmocka_unit_test(test_results_fit_the_terminal),
		cmocka_unit_test(test_results_long_labels),
		cmocka_unit_test(test_results_escape_control_characters),
		cmocka_unit_test(test_results_of_garbage),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_created),
		cmocka_unit_test(test_voted),
	};

	return cmocka_run_group_tests(tests, utc, NULL);
}
