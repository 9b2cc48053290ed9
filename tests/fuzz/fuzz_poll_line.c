/*
 * fuzz_poll_line.c - libFuzzer target for the poll line protocol's codec
 * (polls/line.h), which sees every byte a client of poll_listener sends.
 *
 * The input is framed as a stream, line after line, at a limit taken from
 * its first byte: a framed line lies inside the input, is at most the limit,
 * holds no NUL, is valid UTF-8 and ends just before a "\n" ("\r\n"); a
 * stream that stops with an error or "need more" is right to (nothing
 * framed past the limit). Each line is parsed: what a command points at
 * lies inside the line, ids are positive, a usage error says how it goes.
 * Each answer formatted from the line's bytes is one line, of the length
 * announced, and nothing is written past it.
 */
#include "polls/line.h"

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void check_inside(const char *p, size_t n, const char *line, size_t len)
{
	if (n && (p < line || p + n > line + len))
		abort();
}

/* valid: the line was framed (UTF-8), so a word cut from it must be too. */
static void check_parse(const char *line, size_t len, bool valid)
{
	struct polls_line_req r;

	polls_line_parse(line, len, &r);
	check_inside(r.name, r.name_len, line, len);
	check_inside(r.arg, r.arg_len, line, len);
	check_inside(r.word, r.word_len, line, len);
	switch (r.cmd) {
	case POLLS_CMD_POLL:
	case POLLS_CMD_WATCH:
	case POLLS_CMD_UNWATCH:
		if (r.id < 1)
			abort();
		break;
	case POLLS_CMD_VOTE:
		if (r.id < 1 || !r.arg_len || is_blank(r.arg[0]) || is_blank(r.arg[r.arg_len - 1]))
			abort();
		break;
	case POLLS_CMD_LOGIN:
		if (!r.name_len || !r.arg_len || memchr(r.name, ' ', r.name_len))
			abort();
		break;
	case POLLS_CMD_USAGE:
		if (!r.error || strncmp(r.error, "usage: ", 7) != 0)
			abort();
		break;
	case POLLS_CMD_UNKNOWN:
		if (valid && (!r.word_len ||
			      !mqtt_utf8_data_valid((const uint8_t *)r.word, r.word_len)))
			abort(); /* cut between characters */
		break;
	default:
		break;
	}
}

static void check_format(const char *text, size_t len)
{
	static char out[8192];
	enum polls_line_kind kind = (enum polls_line_kind)(len % 3);
	size_t need = polls_line_format(NULL, 0, kind, "code", text, len);

	if (need > sizeof(out) - 1)
		return;
	out[need] = '#';
	if (polls_line_format(out, need, kind, "code", text, len) != need || out[need] != '#')
		abort(); /* the announced length, nothing past it */
	if (out[need - 1] != '\n' || memchr(out, '\n', need - 1) || memchr(out, '\r', need))
		abort(); /* one line */
}

static void check_line(const uint8_t *p, size_t used, size_t n, size_t max)
{
	if (n > max || n >= used || p[used - 1] != '\n' || used - n > 2)
		abort();
	if (used - n == 2 && p[n] != '\r')
		abort();
	if (memchr(p, 0, n) || !mqtt_utf8_data_valid(p, n))
		abort();
	check_parse((const char *)p, n, true);
	check_format((const char *)p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, off = 1, n;
	long r;

	if (size < 1)
		return 0;
	max = 1 + data[0] % 128; /* small limits, so inputs reach them */
	while (off < size && (r = polls_line_next(data + off, size - off, max, &n)) > 0) {
		check_line(data + off, (size_t)r, n, max);
		off += (size_t)r;
	}
	/* The whole input as one line's text, whatever it holds. */
	check_parse((const char *)data, size, false);
	check_format((const char *)data, size);
	return 0;
}
