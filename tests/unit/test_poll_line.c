/*
 * test_poll_line.c - the poll line protocol's codec (polls/line.h): framing
 * at every split of a stream, the limit to the byte, NUL and every UTF-8
 * class of the shared samples, every command with its usage errors, ids at
 * their bounds, and answers that stay one line whatever they carry.
 */
#include "helpers.h"

#include "polls/line.h"
#include "utf8_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long next(const char *s, size_t max, size_t *line_len)
{
	return polls_line_next((const uint8_t *)s, strlen(s), max, line_len);
}

static struct polls_line_req parse(const char *line)
{
	struct polls_line_req r;

	polls_line_parse(line, strlen(line), &r);
	return r;
}

static void assert_text(const char *p, size_t n, const char *want)
{
	if (!p || n != strlen(want) || memcmp(p, want, n) != 0)
		fail_msg("got \"%.*s\", want \"%s\"", p ? (int)n : 6, p ? p : "(null)", want);
}

/* ---- framing ---- */

static void test_frame_ends(void **state)
{
	size_t n = 99;

	(void)state;
	assert_int_equal(next("POLLS\n", 64, &n), 6);
	assert_int_equal(n, 5);
	assert_int_equal(next("POLLS\r\nPOLL 1\n", 64, &n), 7); /* the first line only */
	assert_int_equal(n, 5);
	assert_int_equal(next("\n", 64, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(next("\r\n", 64, &n), 2);
	assert_int_equal(n, 0);
	assert_int_equal(next("a\rb\n", 64, &n), 4); /* a lone \r is text */
	assert_int_equal(n, 3);
	n = 99;
	assert_int_equal(next("POLLS", 64, &n), POLLS_LINE_NEED_MORE);
	assert_int_equal(next("POLLS\r", 64, &n), POLLS_LINE_NEED_MORE);
	assert_int_equal(next("", 64, &n), POLLS_LINE_NEED_MORE);
	assert_int_equal(n, 99); /* untouched unless a line was found */
}

/* A stream of lines cut at every byte: each prefix frames the lines it
 * holds whole and waits for the rest. */
static void test_frame_every_split(void **state)
{
	static const char stream[] = "LOGIN alice s3cret\r\nVOTE 3 été\n\nWATCH 3\r\n";
	static const size_t ends[] = { 20, 33, 34, 43 };
	size_t total = strlen(stream);

	(void)state;
	for (size_t cut = 0; cut <= total; cut++) {
		size_t off = 0, k = 0, n;
		long r;

		while ((r = polls_line_next((const uint8_t *)stream + off, cut - off, 64, &n)) > 0) {
			off += (size_t)r;
			assert_true(k < 4);
			assert_int_equal(off, ends[k]);
			k++;
		}
		assert_int_equal(r, POLLS_LINE_NEED_MORE);
		/* every line whose end is within the cut was framed */
		assert_int_equal(k, (size_t)(cut >= 43) + (cut >= 34) + (cut >= 33) + (cut >= 20));
	}
}

static void test_frame_limit(void **state)
{
	char buf[64];
	size_t n;

	(void)state;
	/* 8 bytes of text: the limit itself is fine, with either end */
	assert_int_equal(next("12345678\n", 8, &n), 9);
	assert_int_equal(n, 8);
	assert_int_equal(next("12345678\r\n", 8, &n), 10);
	assert_int_equal(n, 8);
	/* one more is not */
	assert_int_equal(next("123456789\n", 8, &n), POLLS_LINE_ETOOLONG);
	assert_int_equal(next("123456789\r\n", 8, &n), POLLS_LINE_ETOOLONG);
	/* without an end: waits until no end can come in time (max + 2) */
	assert_int_equal(next("123456789", 8, &n), POLLS_LINE_NEED_MORE);
	assert_int_equal(next("12345678\r", 8, &n), POLLS_LINE_NEED_MORE);
	assert_int_equal(next("1234567890", 8, &n), POLLS_LINE_ETOOLONG);
	/* a flood, whatever its length */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(polls_line_next((const uint8_t *)buf, sizeof(buf), 8, &n),
			 POLLS_LINE_ETOOLONG);
	/* a "\n" past the window does not count */
	memset(buf, 'x', 20);
	buf[15] = '\n';
	assert_int_equal(polls_line_next((const uint8_t *)buf, 20, 8, &n), POLLS_LINE_ETOOLONG);
	assert_int_equal(polls_line_next((const uint8_t *)buf, 20, 15, &n), 16);
	/* max 1 */
	assert_int_equal(next("a\n", 1, &n), 2);
	assert_int_equal(next("ab\n", 1, &n), POLLS_LINE_ETOOLONG);
}

static void test_frame_nul_and_utf8(void **state)
{
	static const uint8_t nul[] = { 'P', 'O', 0, 'L', '\n' };
	static const uint8_t cut_char[] = { 'V', ' ', 0xC3, '\n' };
	size_t n;

	(void)state;
	assert_int_equal(polls_line_next(nul, sizeof(nul), 64, &n), POLLS_LINE_ENUL);
	assert_int_equal(polls_line_next(cut_char, sizeof(cut_char), 64, &n), POLLS_LINE_EUTF8);
	/* only the line's text is checked: what follows waits its turn */
	assert_int_equal(polls_line_next((const uint8_t *)"ok\n\xff", 4, 64, &n), 3);
	for (size_t i = 0; i < sizeof(utf8_samples) / sizeof(utf8_samples[0]); i++) {
		const struct utf8_sample *s = &utf8_samples[i];
		uint8_t line[32];
		long want = s->cls & MQTT_UTF8_ILL_FORMED ? POLLS_LINE_EUTF8
			    : s->cls & MQTT_UTF8_NUL	  ? POLLS_LINE_ENUL
							  : (long)s->len + 7;

		if (memchr(s->s, '\n', s->len))
			continue; /* a line end, not text */
		memcpy(line, "VOTE 1 ", 7);
		memcpy(line + 7, s->s, s->len);
		line[7 + s->len] = '\n';
		if (polls_line_next(line, 8 + s->len, 64, &n) != want + (want > 0))
			fail_msg("sample %s: got %ld", s->name, polls_line_next(line, 8 + s->len, 64, &n));
	}
}

static void test_why(void **state)
{
	char out[64];

	(void)state;
	polls_line_why(POLLS_LINE_ETOOLONG, 1024, out, sizeof(out));
	assert_string_equal(out, "line longer than 1024 bytes");
	polls_line_why(POLLS_LINE_ENUL, 1024, out, sizeof(out));
	assert_non_null(strstr(out, "NUL"));
	polls_line_why(POLLS_LINE_EUTF8, 1024, out, sizeof(out));
	assert_non_null(strstr(out, "UTF-8"));
	polls_line_why(POLLS_LINE_ETOOLONG, 1024, out, 5);
	assert_string_equal(out, "line");
}

/* ---- commands ---- */

static void test_simple_commands(void **state)
{
	static const struct {
		const char *line;
		enum polls_line_cmd cmd;
	} cases[] = {
		{ "POLLS", POLLS_CMD_POLLS }, { "polls", POLLS_CMD_POLLS },
		{ "  PoLlS \t", POLLS_CMD_POLLS }, { "HELP", POLLS_CMD_HELP },
		{ "help", POLLS_CMD_HELP }, { "QUIT", POLLS_CMD_QUIT }, { "Quit", POLLS_CMD_QUIT },
		{ "", POLLS_CMD_NONE }, { " \t ", POLLS_CMD_NONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct polls_line_req r = parse(cases[i].line);

		if (r.cmd != cases[i].cmd)
			fail_msg("\"%s\": got %d, want %d", cases[i].line, r.cmd, cases[i].cmd);
	}
}

static void test_id_commands(void **state)
{
	static const struct {
		const char *line;
		enum polls_line_cmd cmd;
		int64_t id;
	} cases[] = {
		{ "POLL 3", POLLS_CMD_POLL, 3 },
		{ "poll\t42 ", POLLS_CMD_POLL, 42 },
		{ "WATCH 1", POLLS_CMD_WATCH, 1 },
		{ "unwatch 007", POLLS_CMD_UNWATCH, 7 },
		{ "POLL 9223372036854775807", POLLS_CMD_POLL, INT64_MAX },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct polls_line_req r = parse(cases[i].line);

		assert_int_equal(r.cmd, cases[i].cmd);
		assert_true(r.id == cases[i].id);
	}
}

static void test_bad_ids(void **state)
{
	static const char *const lines[] = {
		"POLL", "POLL 0", "POLL -1", "POLL +1", "POLL 1x", "POLL x", "POLL 1 2",
		"POLL 9223372036854775808", "POLL 99999999999999999999999", "WATCH", "WATCH 0",
		"UNWATCH 1.5", "VOTE", "VOTE 0 a", "VOTE a b", "POLLS 1", "HELP me", "QUIT now",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct polls_line_req r = parse(lines[i]);

		if (r.cmd != POLLS_CMD_USAGE)
			fail_msg("\"%s\": got %d, want usage", lines[i], r.cmd);
		assert_non_null(r.error);
		assert_non_null(strstr(r.error, "usage: "));
	}
	assert_non_null(strstr(parse("VOTE 1").error, "usage: VOTE id option"));
	assert_non_null(strstr(parse("POLL x").error, "usage: POLL id"));
	assert_text(parse("poll x").word, parse("poll x").word_len, "poll");
}

static void test_vote(void **state)
{
	struct polls_line_req r;

	(void)state;
	r = parse("VOTE 3 hiver");
	assert_int_equal(r.cmd, POLLS_CMD_VOTE);
	assert_true(r.id == 3);
	assert_text(r.arg, r.arg_len, "hiver");
	r = parse("vote 12   Été ou   printemps  \t");
	assert_int_equal(r.cmd, POLLS_CMD_VOTE);
	assert_true(r.id == 12);
	assert_text(r.arg, r.arg_len, "Été ou   printemps"); /* inner blanks kept */
	r = parse("VOTE 3 2");
	assert_text(r.arg, r.arg_len, "2"); /* a number is the option's business */
	r = parse("VOTE 3   ");
	assert_int_equal(r.cmd, POLLS_CMD_USAGE);
}

static void test_login(void **state)
{
	struct polls_line_req r;

	(void)state;
	r = parse("LOGIN alice s3cret-pw");
	assert_int_equal(r.cmd, POLLS_CMD_LOGIN);
	assert_text(r.name, r.name_len, "alice");
	assert_text(r.arg, r.arg_len, "s3cret-pw");
	r = parse("login  bob \tpass word with spaces ");
	assert_int_equal(r.cmd, POLLS_CMD_LOGIN);
	assert_text(r.name, r.name_len, "bob");
	assert_text(r.arg, r.arg_len, "pass word with spaces "); /* as typed */
	assert_int_equal(parse("LOGIN").cmd, POLLS_CMD_USAGE);
	assert_int_equal(parse("LOGIN alice").cmd, POLLS_CMD_USAGE);
	assert_int_equal(parse("LOGIN alice   ").cmd, POLLS_CMD_USAGE);
	assert_non_null(strstr(parse("LOGIN alice").error, "usage: LOGIN name password"));
}

static void test_unknown(void **state)
{
	struct polls_line_req r;
	char long_word[80];

	(void)state;
	r = parse("HELLO there");
	assert_int_equal(r.cmd, POLLS_CMD_UNKNOWN);
	assert_text(r.word, r.word_len, "HELLO");
	assert_int_equal(parse("POLLSX").cmd, POLLS_CMD_UNKNOWN); /* whole words only */
	assert_int_equal(parse("POL 1").cmd, POLLS_CMD_UNKNOWN);
	assert_int_equal(parse("GET / HTTP/1.1").cmd, POLLS_CMD_UNKNOWN);
	/* a long word is cut, never inside a character: 31 x then é (2 bytes) */
	memset(long_word, 'x', 31);
	memcpy(long_word + 31, "\xc3\xa9yyyy", 7);
	r = parse(long_word);
	assert_int_equal(r.cmd, POLLS_CMD_UNKNOWN);
	assert_int_equal(r.word_len, 31);
	long_word[30] = 'z';
	memcpy(long_word + 30, "\xc3\xa9yyyy", 7); /* é ends at byte 32: kept */
	r = parse(long_word);
	assert_int_equal(r.word_len, 32);
}

static void test_names_and_help(void **state)
{
	(void)state;
	assert_string_equal(polls_line_cmd_name(POLLS_CMD_VOTE), "VOTE");
	assert_string_equal(polls_line_cmd_name(POLLS_CMD_UNWATCH), "UNWATCH");
	/* HELP names every command */
	for (int c = POLLS_CMD_LOGIN; c <= POLLS_CMD_QUIT; c++)
		assert_non_null(strstr(polls_line_help(), polls_line_cmd_name(c)));
}

/* ---- answers ---- */

static char *format(enum polls_line_kind kind, const char *code, const char *text)
{
	size_t len = text ? strlen(text) : 0;
	size_t n = polls_line_format(NULL, 0, kind, code, text, len);
	char *out = malloc(n + 1);

	assert_non_null(out);
	assert_int_equal(polls_line_format(out, n, kind, code, text, len), n);
	out[n] = '\0';
	return out;
}

static void check_answer(enum polls_line_kind kind, const char *code, const char *text,
			 const char *want)
{
	char *got = format(kind, code, text);

	assert_string_equal(got, want);
	free(got);
}

static void test_answers(void **state)
{
	char small[4] = "abc";

	(void)state;
	check_answer(POLLS_ANSWER_OK, NULL, "bye", "OK bye\n");
	check_answer(POLLS_ANSWER_OK, NULL, "", "OK\n");
	check_answer(POLLS_ANSWER_OK, NULL, "{\"id\":3}", "OK {\"id\":3}\n");
	check_answer(POLLS_ANSWER_ERR, "already_voted", "you have already voted on poll 3",
		     "ERR already_voted you have already voted on poll 3\n");
	check_answer(POLLS_ANSWER_RESULTS, NULL, "{\"total\":2}", "RESULTS {\"total\":2}\n");
	check_answer(POLLS_ANSWER_OK, "ignored", "x", "OK x\n"); /* a code is for ERR */
	/* control bytes become spaces: one line whatever the text holds */
	check_answer(POLLS_ANSWER_ERR, "bad\ncode", "a\nb\rc\x1b[2Jd\x7f",
		     "ERR bad code a b c [2Jd \n");
	/* too small: the length, nothing written */
	assert_int_equal(polls_line_format(small, 3, POLLS_ANSWER_OK, NULL, "bye", 3), 7);
	assert_string_equal(small, "abc");
	/* exactly enough */
	assert_int_equal(polls_line_format(NULL, 0, POLLS_ANSWER_OK, NULL, "hi", 2), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_ends),
		cmocka_unit_test(test_frame_every_split),
		cmocka_unit_test(test_frame_limit),
		cmocka_unit_test(test_frame_nul_and_utf8),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_simple_commands),
		cmocka_unit_test(test_id_commands),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_vote),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_names_and_help),
		cmocka_unit_test(test_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
