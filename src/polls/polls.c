/*
 * polls.c - the voting rules of polls.h over the store: what a create,
 * a vote or a close may do, the words and sentences of each refusal, and
 * the observers told of every change.
 */
#include "polls/polls.h"

#include "base/text.h"
#include "mqtt/mqtt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The most bytes of a label quoted in a refusal. */
#define QUOTE_MAX 60

static const struct {
	int err;
	const char *code;
	const char *message;
} errors[] = {
	{ POLLS_OK, "ok", "done" },
	{ POLLS_EINVALID, "validation_failed", "the poll's question, options or closing time are "
					       "refused" },
	{ POLLS_ENOTFOUND, "not_found", "there is no such poll" },
	{ POLLS_EFORBIDDEN, "forbidden", "not allowed: only its creator closes a poll, and only "
					 "an existing account creates or votes" },
	{ POLLS_ECLOSED, "poll_closed", "the poll is closed: it takes no more votes" },
	{ POLLS_EVOTED, "already_voted", "you have already voted on this poll; changing a vote "
					 "is a separate request" },
	{ POLLS_ENOVOTE, "no_vote", "you have not voted on this poll" },
	{ POLLS_EOPTION, "unknown_option", "the poll has no such option: name one by its label or "
					   "its number (1 for the first)" },
	{ POLLS_ESTORE, "internal", "the store failed; the error is logged" },
};

#define N_ERRORS (sizeof(errors) / sizeof(errors[0]))

const char *polls_code(int err)
{
	for (size_t i = 0; i < N_ERRORS; i++)
		if (errors[i].err == err)
			return errors[i].code;
	return "internal";
}

const char *polls_message(int err)
{
	for (size_t i = 0; i < N_ERRORS; i++)
		if (errors[i].err == err)
			return errors[i].message;
	return "unknown error";
}

void polls_limits_defaults(struct polls_limits *lim)
{
	lim->question_max = 500;
	lim->option_max = 100;
}

void polls_init(struct polls *ps, struct store *st, const struct polls_limits *lim)
{
	memset(ps, 0, sizeof(*ps));
	ps->store = st;
	if (lim)
		ps->lim = *lim;
	else
		polls_limits_defaults(&ps->lim);
}

int polls_observe(struct polls *ps, polls_changed_fn fn, void *ctx)
{
	if (ps->n_observers == POLLS_OBSERVERS_MAX)
		return -1;
	ps->observers[ps->n_observers].fn = fn;
	ps->observers[ps->n_observers].ctx = ctx;
	ps->n_observers++;
	return 0;
}

void polls_unobserve(struct polls *ps, polls_changed_fn fn, void *ctx)
{
	for (size_t i = 0; i < ps->n_observers; i++) {
		if (ps->observers[i].fn != fn || ps->observers[i].ctx != ctx)
			continue;
		memmove(&ps->observers[i], &ps->observers[i + 1],
			(ps->n_observers - i - 1) * sizeof(ps->observers[0]));
		ps->n_observers--;
		return;
	}
}

/* Tells every observer; from a copy, as one may unobserve while told. */
static void changed(struct polls *ps, int64_t poll_id)
{
	struct polls copy = *ps;

	for (size_t i = 0; i < copy.n_observers; i++)
		copy.observers[i].fn(copy.observers[i].ctx, poll_id);
}

void polls_on_vote(struct polls *ps, polls_voted_fn fn, void *ctx)
{
	ps->voted = fn;
	ps->voted_ctx = ctx;
}

static void voted(struct polls *ps, const struct polls_ballot *b, const struct store_poll *p,
		  size_t option)
{
	struct polls_vote_info v = {
		.poll_id = b->poll_id,
		.user_id = b->user_id,
		.option = option,
		.label = p->options[option],
		.changed = b->mode == POLLS_CHANGE,
	};

	if (ps->voted)
		ps->voted(ps->voted_ctx, &v);
}

/* A store failure as a polls error: not found stays itself. */
static int from_store(int ret)
{
	return ret == STORE_OK ? POLLS_OK : ret == STORE_ENOTFOUND ? POLLS_ENOTFOUND : POLLS_ESTORE;
}

bool polls_is_open(const struct store_poll *p, int64_t now)
{
	return p->closed_at == 0 && (p->closes_at == 0 || now < p->closes_at);
}

/* ASCII letters compared without case; other bytes as they are (so two
 * spellings of "é" differ, as they would anywhere else). */
static bool same_label(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Digits only (no sign, no space), 1 to n: the option's index, or -1. */
static long option_number(const char *s, size_t len, size_t n)
{
	size_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (size_t)(s[i] - '0');
		if (v > n)
			return -1; /* and no overflow however many digits come */
	}
	return v >= 1 ? (long)v - 1 : -1;
}

long polls_find_option(const struct store_poll *p, const char *option, size_t len)
{
	if (!option)
		return -1;
	for (size_t i = 0; i < p->n_options; i++)
		if (same_label(p->options[i], strlen(p->options[i]), option, len))
			return (long)i;
	return option_number(option, len, p->n_options);
}

/* ---- create ---- */

static void set_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Text a poll may hold: len from 1 to max bytes of UTF-8 without control
 * characters (U+0000 to U+001F, U+007F to U+009F: no line breaks in a
 * question, nothing that drives a terminal) or non-characters. field
 * names it in why ("question", "option 2"). */
static bool text_ok(const char *s, size_t max, const char *field, char *why, size_t whylen)
{
	size_t len = strlen(s);
	unsigned found;

	if (len < 1 || len > max) {
		set_why(why, whylen, "%s: must be 1 to %zu bytes (it has %zu)", field, max, len);
		return false;
	}
	found = mqtt_utf8_scan((const uint8_t *)s, len);
	if (found & MQTT_UTF8_ILL_FORMED) {
		set_why(why, whylen, "%s: must be UTF-8 text", field);
		return false;
	}
	if (found & (MQTT_UTF8_NUL | MQTT_UTF8_DISCOURAGED)) {
		set_why(why, whylen,
			"%s: must not contain control characters (such as line breaks or tabs) "
			"or Unicode non-characters",
			field);
		return false;
	}
	return true;
}

/* Every option valid and no label twice (ASCII case ignored). */
static bool options_ok(const struct polls_limits *lim, const char *const *options, size_t n,
		       char *why, size_t whylen)
{
	char field[32];

	if (n < 2 || n > STORE_POLL_OPTIONS_MAX) {
		set_why(why, whylen, "options: there must be 2 to %d (there are %zu)",
			STORE_POLL_OPTIONS_MAX, n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "options: option %zu", i + 1);
		if (!text_ok(options[i], lim->option_max, field, why, whylen))
			return false;
	}
	for (size_t i = 1; i < n; i++) {
		size_t len = strlen(options[i]);

		for (size_t j = 0; j < i; j++) {
			if (!same_label(options[j], strlen(options[j]), options[i], len))
				continue;
			set_why(why, whylen, "options: '%.*s' appears twice (labels are compared "
					     "without regard to ASCII case)",
				(int)text_utf8_cut(options[i], len, QUOTE_MAX), options[i]);
			return false;
		}
	}
	return true;
}

static bool poll_ok(const struct polls_limits *lim, const char *question,
		    const char *const *options, size_t n, int64_t closes_at, int64_t now, char *why,
		    size_t whylen)
{
	if (!text_ok(question, lim->question_max, "question", why, whylen) ||
	    !options_ok(lim, options, n, why, whylen))
		return false;
	/* At closes_at the poll is closed already (polls_is_open). */
	if (closes_at != 0 && closes_at <= now) {
		set_why(why, whylen, "closes_at: must be in the future");
		return false;
	}
	return true;
}

int polls_create(struct polls *ps, int64_t creator_id, const char *question,
		 const char *const *options, size_t n, int64_t closes_at, int64_t now,
		 struct store_poll *out, char *why, size_t whylen)
{
	struct store_poll p;
	int ret;

	if (!poll_ok(&ps->lim, question, options, n, closes_at, now, why, whylen))
		return POLLS_EINVALID;
	ret = store_poll_create(ps->store, creator_id, question, options, n, closes_at, now, &p);
	/* The creator's account is the only row the poll refers to. */
	if (ret == STORE_ENOTFOUND)
		return POLLS_EFORBIDDEN;
	if (ret)
		return POLLS_ESTORE;
	changed(ps, p.id);
	if (out)
		*out = p;
	else
		store_poll_release(&p);
	return POLLS_OK;
}

/* ---- vote ---- */

/* The 0-based option the ballot names in p, or -1. */
static long ballot_option(const struct store_poll *p, const struct polls_ballot *b)
{
	if (b->option)
		return polls_find_option(p, b->option, b->option_len);
	return b->number >= 1 && (size_t)b->number <= p->n_options ? b->number - 1 : -1;
}

/* Stores the vote (the option checked); the polls error. */
static int store_vote(struct polls *ps, const struct polls_ballot *b, size_t option)
{
	int ret;

	if (b->mode == POLLS_CHANGE) {
		ret = store_vote_change(ps->store, b->poll_id, b->user_id, option, b->now);
		return ret == STORE_ENOTFOUND ? POLLS_ENOVOTE : ret ? POLLS_ESTORE : POLLS_OK;
	}
	ret = store_vote_cast(ps->store, b->poll_id, b->user_id, option, b->now);
	if (ret == STORE_ECONFLICT)
		return POLLS_EVOTED;
	/* The poll was just read and polls are never deleted: what is
	 * missing is the voter's account. */
	if (ret == STORE_ENOTFOUND)
		return POLLS_EFORBIDDEN;
	return ret ? POLLS_ESTORE : POLLS_OK;
}

int polls_vote(struct polls *ps, const struct polls_ballot *b, struct store_poll *out,
	       size_t *chosen)
{
	struct store_poll p;
	long option = -1;
	int ret = from_store(store_poll_get(ps->store, b->poll_id, &p));

	if (ret)
		return ret;
	/* Closed first: on a closed poll no option is worth naming. */
	if (!polls_is_open(&p, b->now))
		ret = POLLS_ECLOSED;
	else if ((option = ballot_option(&p, b)) < 0)
		ret = POLLS_EOPTION;
	if (!ret)
		ret = store_vote(ps, b, (size_t)option);
	if (!ret) {
		changed(ps, b->poll_id);
		voted(ps, b, &p, (size_t)option); /* p: the option's label */
	}
	store_poll_release(&p);
	if (ret)
		return ret;
	if (chosen)
		*chosen = (size_t)option;
	/* The vote is stored: a failure to read the results back says so. */
	return out ? from_store(store_poll_get(ps->store, b->poll_id, out)) : POLLS_OK;
}

/* ---- close, read ---- */

int polls_close(struct polls *ps, int64_t user_id, int64_t poll_id, int64_t now,
		struct store_poll *out)
{
	struct store_poll p;
	int ret = from_store(store_poll_get(ps->store, poll_id, &p));

	if (ret)
		return ret;
	/* A deleted creator is 0, which no account is: nobody closes it. */
	if (p.creator_id == 0 || p.creator_id != user_id) {
		ret = POLLS_EFORBIDDEN;
		goto out_release;
	}
	if (p.closed_at == 0) {
		ret = from_store(store_poll_close(ps->store, poll_id, now));
		if (ret)
			goto out_release;
		p.closed_at = now;
		changed(ps, poll_id);
	}
	if (out) {
		*out = p;
		return POLLS_OK;
	}
out_release:
	store_poll_release(&p);
	return ret;
}

int polls_get(struct polls *ps, int64_t poll_id, struct store_poll *out)
{
	return from_store(store_poll_get(ps->store, poll_id, out));
}

int polls_my_vote(struct polls *ps, int64_t poll_id, int64_t user_id, size_t *option,
		  int64_t *voted_at)
{
	int ret = store_vote_get(ps->store, poll_id, user_id, option, voted_at);

	if (ret == STORE_ENOTFOUND) {
		/* No vote, or no poll at all: tell them apart. */
		ret = store_poll_get(ps->store, poll_id, NULL);
		return ret == STORE_OK ? POLLS_ENOVOTE : from_store(ret);
	}
	return ret ? POLLS_ESTORE : POLLS_OK;
}
