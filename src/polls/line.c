/*
 * line.c - the poll line protocol's codec (line.h): framing, checks,
 * parsing and answers, as pure functions over the caller's buffers.
 */
#include "line.h"

#include "base/text.h"
#include "mqtt/mqtt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WORD_SHOWN_MAX 32 /* bytes of an unknown command word an answer repeats */

/* ---- framing ---- */

long polls_line_next(const uint8_t *buf, size_t len, size_t max, size_t *line_len)
{
	/* The text may be max bytes, then "\r\n": past that, no "\n" can come
	 * in time, so a flood without one is refused after max + 2 bytes. */
	size_t window = len < max + 2 ? len : max + 2;
	const uint8_t *nl = memchr(buf, '\n', window);
	size_t n;
	unsigned found;

	if (!nl)
		return len < max + 2 ? POLLS_LINE_NEED_MORE : POLLS_LINE_ETOOLONG;
	n = (size_t)(nl - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > max)
		return POLLS_LINE_ETOOLONG;
	found = mqtt_utf8_scan(buf, n);
	if (found & MQTT_UTF8_ILL_FORMED)
		return POLLS_LINE_EUTF8;
	if (found & MQTT_UTF8_NUL)
		return POLLS_LINE_ENUL;
	*line_len = n;
	return (long)(nl - buf) + 1;
}

void polls_line_why(int err, size_t max, char *out, size_t cap)
{
	switch (err) {
	case POLLS_LINE_ETOOLONG:
		snprintf(out, cap, "line longer than %zu bytes", max);
		break;
	case POLLS_LINE_ENUL:
		snprintf(out, cap, "NUL byte in the line");
		break;
	case POLLS_LINE_EUTF8:
		snprintf(out, cap, "the line is not UTF-8 text");
		break;
	default:
		snprintf(out, cap, "bad line");
		break;
	}
}

/* ---- parsing ---- */

/* What follows a command word. */
enum args {
	ARGS_NONE,  /* nothing */
	ARGS_ID,    /* id */
	ARGS_VOTE,  /* id option... */
	ARGS_LOGIN, /* name password... */
};

static const struct {
	const char *name;
	enum polls_line_cmd cmd;
	enum args args;
	const char *usage;
} commands[] = {
	{ "LOGIN", POLLS_CMD_LOGIN, ARGS_LOGIN, "usage: LOGIN name password" },
	{ "POLLS", POLLS_CMD_POLLS, ARGS_NONE, "usage: POLLS (no argument)" },
	{ "POLL", POLLS_CMD_POLL, ARGS_ID, "usage: POLL id (a whole number from 1)" },
	{ "VOTE", POLLS_CMD_VOTE, ARGS_VOTE, "usage: VOTE id option (id a whole number from 1)" },
	{ "WATCH", POLLS_CMD_WATCH, ARGS_ID, "usage: WATCH id (a whole number from 1)" },
	{ "UNWATCH", POLLS_CMD_UNWATCH, ARGS_ID, "usage: UNWATCH id (a whole number from 1)" },
	{ "HELP", POLLS_CMD_HELP, ARGS_NONE, "usage: HELP (no argument)" },
	{ "QUIT", POLLS_CMD_QUIT, ARGS_NONE, "usage: QUIT (no argument)" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* A cursor over the line. */
struct scan {
	const char *p, *end;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void skip_blanks(struct scan *s)
{
	while (s->p < s->end && is_blank(*s->p))
		s->p++;
}

/* The next word (after blanks): its start, its length in *n (0: none). */
static const char *next_word(struct scan *s, size_t *n)
{
	const char *w;

	skip_blanks(s);
	w = s->p;
	while (s->p < s->end && !is_blank(*s->p))
		s->p++;
	*n = (size_t)(s->p - w);
	return w;
}

/* The rest of the line without its leading and trailing blanks. */
static const char *rest_trimmed(struct scan *s, size_t *n)
{
	const char *e = s->end;

	skip_blanks(s);
	while (e > s->p && is_blank(e[-1]))
		e--;
	*n = (size_t)(e - s->p);
	return s->p;
}

static bool at_end(struct scan *s)
{
	skip_blanks(s);
	return s->p == s->end;
}

/* A positive decimal integer up to INT64_MAX, digits only. */
static bool parse_id(const char *w, size_t n, int64_t *id)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return false;
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(w[i] - '0')) / 10)
			return false; /* v * 10 + digit would pass INT64_MAX */
		v = v * 10 + (uint64_t)(w[i] - '0');
	}
	*id = (int64_t)v;
	return v >= 1;
}

static bool word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

static bool parse_args(struct scan *s, enum args args, struct polls_line_req *req)
{
	const char *w;
	size_t n;

	switch (args) {
	case ARGS_NONE:
		return at_end(s);
	case ARGS_ID:
		w = next_word(s, &n);
		return parse_id(w, n, &req->id) && at_end(s);
	case ARGS_VOTE:
		w = next_word(s, &n);
		if (!parse_id(w, n, &req->id))
			return false;
		req->arg = rest_trimmed(s, &req->arg_len);
		return req->arg_len > 0;
	case ARGS_LOGIN:
		req->name = next_word(s, &req->name_len);
		skip_blanks(s);
		/* The password as typed: spaces inside it or at its end are its own. */
		req->arg = s->p;
		req->arg_len = (size_t)(s->end - s->p);
		return req->name_len > 0 && req->arg_len > 0;
	}
	return false;
}

void polls_line_parse(const char *line, size_t len, struct polls_line_req *req)
{
	struct scan s = { line, line + len };
	const char *w;
	size_t n;

	memset(req, 0, sizeof(*req));
	w = next_word(&s, &n);
	if (n == 0)
		return; /* POLLS_CMD_NONE */
	req->word = w;
	req->word_len = text_utf8_cut(w, n, WORD_SHOWN_MAX); /* whole characters */
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (!word_is(w, n, commands[i].name))
			continue;
		req->cmd = commands[i].cmd;
		if (!parse_args(&s, commands[i].args, req)) {
			req->cmd = POLLS_CMD_USAGE;
			req->error = commands[i].usage;
		}
		return;
	}
	req->cmd = POLLS_CMD_UNKNOWN;
}

const char *polls_line_cmd_name(enum polls_line_cmd cmd)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (commands[i].cmd == cmd)
			return commands[i].name;
	return "?";
}

const char *polls_line_help(void)
{
	return "commands: LOGIN name password | POLLS | POLL id | VOTE id option | WATCH id | "
	       "UNWATCH id | HELP | QUIT";
}

/* ---- answers ---- */

/* n bytes of s into out, each control byte as a space. */
static void put_one_line(char *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
	}
}

size_t polls_line_format(char *out, size_t cap, enum polls_line_kind kind, const char *code,
			 const char *text, size_t len)
{
	static const char *const words[] = { "OK", "ERR", "RESULTS" };
	const char *word = words[kind];
	size_t wlen = strlen(word), clen = kind == POLLS_ANSWER_ERR && code ? strlen(code) : 0;
	size_t need = wlen + (clen ? 1 + clen : 0) + (len ? 1 + len : 0) + 1;
	size_t at = wlen;

	if (cap < need)
		return need;
	memcpy(out, word, wlen);
	if (clen) {
		out[at++] = ' ';
		put_one_line(out + at, code, clen);
		at += clen;
	}
	if (len) {
		out[at++] = ' ';
		put_one_line(out + at, text, len);
		at += len;
	}
	out[at] = '\n';
	return need;
}
