/*
 * poll_text.c - what `agora poll` and `agora vote` read and print
 * (poll_text.h).
 */
#include "poll_text.h"

#include "rest.h"
#include "rest_print.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_SHOWN_MAX 64        /* names are at most 32 bytes; a backstop */
#define QUESTION_SHOWN_MAX 4096  /* poll_question_max is 500 by default */
#define LABEL_SHOWN_MAX 1024     /* poll_option_max is 100 by default */
#define DURATION_PART_DIGITS 9   /* 999,999,999 of a unit at most: no overflow */

/* ---- the command line ---- */

int poll_text_id(const char *s, int64_t *id)
{
	int64_t v = 0;

	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v == 0)
		return -1;
	*id = v;
	return 0;
}

/* The ms in one unit of a duration, 0 for no unit of that letter. */
static int64_t unit_ms(char u)
{
	switch (u) {
	case 'd': return 24 * 3600 * 1000LL;
	case 'h': return 3600 * 1000LL;
	case 'm': return 60 * 1000LL;
	case 's': return 1000;
	default: return 0;
	}
}

int poll_text_duration(const char *s, int64_t *ms, const char **why)
{
	int64_t total = 0, last_unit = INT64_MAX;
	const char *p = s;

	*why = "a duration is a number and a unit (d, h, m, s): 90s, 10m, 2h, 1h30m";
	if (!*p)
		return -1;
	while (*p) {
		int64_t v = 0, u;
		int n = 0;

		for (; *p >= '0' && *p <= '9'; p++, n++)
			if (n < DURATION_PART_DIGITS)
				v = v * 10 + (*p - '0');
		/* units largest first, each once: "30m1h" is more likely a typo */
		if (n == 0 || n > DURATION_PART_DIGITS || !(u = unit_ms(*p)) || u >= last_unit)
			return -1;
		last_unit = u;
		p++;
		total += v * u;
		if (total > POLL_TEXT_DURATION_MAX_MS) {
			*why = "a poll closes within 366 days at most";
			return -1;
		}
	}
	if (total == 0) {
		*why = "the duration must be more than 0";
		return -1;
	}
	*ms = total;
	return 0;
}

/* Exactly n digits at *p, moved past them, within [min, max]. */
static bool read_digits(const char **p, int n, int min, int max, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	if (v < min || v > max)
		return false;
	*p += n;
	*out = v;
	return true;
}

/* HH:MM[:SS] at *p into tm's time of day. */
static bool read_clock(const char **p, struct tm *tm)
{
	if (!read_digits(p, 2, 0, 23, &tm->tm_hour) || **p != ':')
		return false;
	(*p)++;
	if (!read_digits(p, 2, 0, 59, &tm->tm_min))
		return false;
	tm->tm_sec = 0;
	if (**p != ':')
		return true;
	(*p)++;
	return read_digits(p, 2, 0, 59, &tm->tm_sec);
}

/* ".fff" (1 to 9 digits, the first 3 kept) at *p, if there; ms in *frac. */
static bool read_fraction(const char **p, int *frac)
{
	int n = 0, scale = 100;

	*frac = 0;
	if (**p != '.')
		return true;
	for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, n++) {
		*frac += (**p - '0') * scale;
		scale /= 10;
	}
	return n >= 1 && n <= 9;
}

/* The zone at *p: "Z" or ±HH[:]MM, as seconds east of UTC; *local when
 * there is none (the string ends). */
static bool read_zone(const char **p, long *offset, bool *local)
{
	int h, m, sign;

	*offset = 0;
	*local = **p == '\0';
	if (*local)
		return true;
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!read_digits(p, 2, 0, 23, &h))
		return false;
	if (**p == ':')
		(*p)++;
	if (!read_digits(p, 2, 0, 59, &m))
		return false;
	*offset = sign * (h * 3600L + m * 60L);
	return true;
}

/* The next local HH:MM[:SS] after now_ms. */
static int next_clock_time(const struct tm *want, int64_t now_ms, int64_t *ms)
{
	time_t now = (time_t)(now_ms / 1000), t;
	struct tm tm;

	for (int day = 0; day < 2; day++) {
		if (!localtime_r(&now, &tm))
			return -1;
		tm.tm_mday += day;
		tm.tm_hour = want->tm_hour;
		tm.tm_min = want->tm_min;
		tm.tm_sec = want->tm_sec;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t == (time_t)-1)
			return -1;
		if ((int64_t)t * 1000 > now_ms) {
			*ms = (int64_t)t * 1000;
			return 0;
		}
	}
	return -1;
}

/* A date and time read into tm, with its zone, to ms; -1 for a date that
 * does not exist (April 31st). */
static int date_time_ms(struct tm *tm, int frac, long offset, bool local, int64_t *ms)
{
	struct tm want = *tm, back;
	time_t t;

	tm->tm_isdst = -1;
	t = local ? mktime(tm) : timegm(tm);
	if (t == (time_t)-1)
		return -1;
	if (local)
		back = *tm; /* mktime normalised it: April 31st became May 1st */
	else if (!gmtime_r(&t, &back))
		return -1;
	if (back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
	    back.tm_mday != want.tm_mday)
		return -1;
	*ms = ((int64_t)t - offset) * 1000 + frac;
	return 0;
}

int poll_text_time(const char *s, int64_t now_ms, int64_t *ms, const char **why)
{
	const char *p = s;
	struct tm tm;
	long offset;
	bool local;
	int frac;

	*why = "a time is YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] (local time without a zone) or HH:MM";
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) <= 8) { /* HH:MM[:SS] */
		if (!read_clock(&p, &tm) || *p)
			return -1;
		return next_clock_time(&tm, now_ms, ms);
	}
	if (!read_digits(&p, 4, 1970, 9999, &tm.tm_year) || *p++ != '-' ||
	    !read_digits(&p, 2, 1, 12, &tm.tm_mon) || *p++ != '-' ||
	    !read_digits(&p, 2, 1, 31, &tm.tm_mday) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (!read_clock(&p, &tm) || !read_fraction(&p, &frac) || !read_zone(&p, &offset, &local) ||
	    *p)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (date_time_ms(&tm, frac, offset, local, ms)) {
		*why = "no such date";
		return -1;
	}
	return 0;
}

void poll_text_iso(int64_t ms, char *out, size_t outlen)
{
	int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	time_t t = (time_t)sec;
	struct tm tm;
	char day[24];

	if (!gmtime_r(&t, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, outlen, "?");
		return;
	}
	snprintf(out, outlen, "%s.%03dZ", day, (int)(ms - sec * 1000));
}

/* ---- columns ---- */

/* Code points a terminal shows in 0 or 2 columns (Unicode's East Asian
 * Width W and F, and the combining marks in common use). */
static const struct {
	uint32_t lo, hi;
	uint8_t cols;
} widths[] = {
	{ 0x0300, 0x036f, 0 },   { 0x0483, 0x0489, 0 },   { 0x0591, 0x05bd, 0 },
	{ 0x0610, 0x061a, 0 },   { 0x064b, 0x065f, 0 },   { 0x1100, 0x115f, 2 },
	{ 0x1ab0, 0x1aff, 0 },   { 0x1dc0, 0x1dff, 0 },   { 0x200b, 0x200f, 0 },
	{ 0x20d0, 0x20ff, 0 },   { 0x231a, 0x231b, 2 },   { 0x2329, 0x232a, 2 },
	{ 0x23e9, 0x23ec, 2 },   { 0x25fd, 0x25fe, 2 },   { 0x2614, 0x2615, 2 },
	{ 0x2648, 0x2653, 2 },   { 0x26aa, 0x26ab, 2 },   { 0x26bd, 0x26be, 2 },
	{ 0x2705, 0x2705, 2 },   { 0x270a, 0x270b, 2 },   { 0x2728, 0x2728, 2 },
	{ 0x274c, 0x274c, 2 },   { 0x2753, 0x2755, 2 },   { 0x2795, 0x2797, 2 },
	{ 0x2b1b, 0x2b1c, 2 },   { 0x2b50, 0x2b50, 2 },   { 0x2e80, 0x303e, 2 },
	{ 0x3041, 0x33ff, 2 },   { 0x3400, 0x4dbf, 2 },   { 0x4e00, 0x9fff, 2 },
	{ 0xa000, 0xa4cf, 2 },   { 0xa960, 0xa97f, 2 },   { 0xac00, 0xd7a3, 2 },
	{ 0xf900, 0xfaff, 2 },   { 0xfe00, 0xfe0f, 0 },   { 0xfe10, 0xfe19, 2 },
	{ 0xfe20, 0xfe2f, 0 },   { 0xfe30, 0xfe6f, 2 },   { 0xff00, 0xff60, 2 },
	{ 0xffe0, 0xffe6, 2 },   { 0x16fe0, 0x18cff, 2 }, { 0x1b000, 0x1b2ff, 2 },
	{ 0x1f004, 0x1f004, 2 }, { 0x1f0cf, 0x1f0cf, 2 }, { 0x1f18e, 0x1f18e, 2 },
	{ 0x1f191, 0x1f19a, 2 }, { 0x1f200, 0x1f251, 2 }, { 0x1f300, 0x1f64f, 2 },
	{ 0x1f680, 0x1f6ff, 2 }, { 0x1f7e0, 0x1f7eb, 2 }, { 0x1f90c, 0x1f9ff, 2 },
	{ 0x1fa70, 0x1faff, 2 }, { 0x20000, 0x3fffd, 2 }, { 0xe0100, 0xe01ef, 0 },
};

static size_t cp_columns(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(widths) / sizeof(widths[0]);

	while (lo < hi) { /* the table is in order: a binary search */
		size_t mid = (lo + hi) / 2;

		if (cp < widths[mid].lo)
			hi = mid;
		else if (cp > widths[mid].hi)
			lo = mid + 1;
		else
			return widths[mid].cols;
	}
	return 1;
}

/* The code point at s (at most n bytes) and its length; a byte that does
 * not start a sequence counts as one character of its own. */
static size_t next_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;

	if (len > n) {
		*cp = '?';
		return 1;
	}
	*cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = '?';
			return 1;
		}
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	return len;
}

size_t poll_text_columns(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t cols = 0;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		i += next_cp(u + i, len - i, &cp);
		cols += cp_columns(cp);
	}
	return cols;
}

int poll_text_rows(const char *s, int columns)
{
	int rows = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		size_t cols = poll_text_columns(s, len);

		/* an empty line is a row; a full one does not wrap into the next */
		if (columns > 0 && cols > 0)
			rows += (int)((cols + (size_t)columns - 1) / (size_t)columns);
		else
			rows++;
		s += len + (nl ? 1 : 0);
	}
	return rows;
}

/* s in at most `cols` columns, "…" ending what was cut, then spaces up to
 * `cols` (pad) or not. */
static void put_cut(struct text *t, const char *s, size_t cols, bool pad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), used = 0, i = 0, fit;
	uint32_t cp;

	if (poll_text_columns(s, len) <= cols) {
		fit = len;
		used = poll_text_columns(s, len);
	} else {
		/* keep a column for the ellipsis */
		while (i < len) {
			size_t n = next_cp(u + i, len - i, &cp), w = cp_columns(cp);

			if (used + w + 1 > cols)
				break;
			used += w;
			i += n;
		}
		fit = i;
	}
	text_printf(t, "%.*s%s", (int)fit, s, fit < len ? "…" : "");
	used += fit < len ? 1 : 0;
	if (pad && used < cols)
		text_printf(t, "%*s", (int)(cols - used), "");
}

/* ---- what is printed ---- */

static char *safe_member(const json_t *o, const char *key, size_t max)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return rest_safe_dup("", 0, NULL, max);
	return rest_safe_dup(json_string_value(v), json_string_length(v), NULL, max);
}

static long long int_member(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static int digits(long long v)
{
	int n = 1;

	for (; v >= 10 || v <= -10; v /= 10)
		n++;
	return n + (v < 0);
}

void poll_text_bar(struct text *t, int64_t votes, int64_t total, int cells)
{
	long eighths = 0, full;

	if (cells < 0)
		cells = 0;
	if (total > 0 && votes > 0 && cells > 0) {
		double share = votes >= total ? 1.0 : (double)votes / (double)total;

		eighths = (long)(share * cells * 8 + 0.5);
		if (eighths == 0)
			eighths = 1; /* a vote is never invisible */
	}
	full = eighths / 8;
	for (long i = 0; i < full; i++)
		text_printf(t, "\xe2\x96\x88");
	if (eighths % 8)
		/* U+2589 (7/8) down to U+258F (1/8) */
		text_printf(t, "\xe2\x96%c", (char)(0x90 - eighths % 8));
	text_printf(t, "%*s", (int)(cells - full - (eighths % 8 ? 1 : 0)), "");
}

/* The widths of a results block's columns. */
struct layout {
	int number, label, bar, count;
};

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static void layout(struct layout *l, const json_t *options, int columns)
{
	const json_t *o;
	size_t i;
	int fixed;

	l->number = l->label = l->count = 1;
	json_array_foreach(options, i, o) {
		char *label = safe_member(o, "label", LABEL_SHOWN_MAX);

		l->number = max_int(l->number, digits(int_member(o, "number")));
		l->label = max_int(l->label, (int)poll_text_columns(label, strlen(label)));
		l->count = max_int(l->count, digits(int_member(o, "votes")));
		free(label);
	}
	if (l->label > POLL_TEXT_LABEL_MAX)
		l->label = POLL_TEXT_LABEL_MAX;
	l->bar = POLL_TEXT_BAR_PLAIN;
	if (columns <= 0)
		return;
	/* "  N  LABEL  BAR  COUNT  PPP.P%", and the last column left free:
	 * some terminals wrap as soon as it is written */
	fixed = 2 + l->number + 2 + 2 + 2 + l->count + 2 + 6 + 1;
	if (columns - fixed - l->label < POLL_TEXT_BAR_MIN)
		l->label = max_int(POLL_TEXT_LABEL_MIN, columns - fixed - POLL_TEXT_BAR_MIN);
	l->bar = columns - fixed - l->label;
	l->bar = l->bar < POLL_TEXT_BAR_MIN ? POLL_TEXT_BAR_MIN
		 : l->bar > POLL_TEXT_BAR_MAX ? POLL_TEXT_BAR_MAX : l->bar;
}

static void option_row(struct text *t, const json_t *o, const struct layout *l, int64_t total)
{
	char *label = safe_member(o, "label", LABEL_SHOWN_MAX);
	long long votes = int_member(o, "votes");

	text_printf(t, "  %*lld  ", l->number, int_member(o, "number"));
	put_cut(t, label, (size_t)l->label, true);
	text_printf(t, "  ");
	poll_text_bar(t, votes, total, l->bar);
	text_printf(t, "  %*lld  %5.1f%%\n", l->count, votes,
		    total > 0 ? (double)votes * 100.0 / (double)total : 0.0);
	free(label);
}

/* "open", "open until WHEN", "closed WHEN" or "closed". */
static void state_words(struct text *t, const json_t *poll)
{
	bool open = json_is_true(json_object_get(poll, "open"));
	const json_t *when = json_object_get(poll, "closes_at");
	char local[32];

	if (!open && json_is_string(json_object_get(poll, "closed_at")))
		when = json_object_get(poll, "closed_at");
	text_printf(t, "%s", open ? "open" : "closed");
	if (!json_is_string(when))
		return;
	rest_local_time(when, local, sizeof(local));
	text_printf(t, "%s%s", open ? " until " : " ", local);
}

void poll_text_results(struct text *t, const json_t *poll, int columns)
{
	const json_t *options = json_object_get(poll, "options"), *o;
	char *question = safe_member(poll, "question", QUESTION_SHOWN_MAX);
	char *creator = safe_member(poll, "creator", NAME_SHOWN_MAX);
	long long total = int_member(poll, "total");
	struct layout l;
	size_t i;

	layout(&l, options, columns);
	text_printf(t, "#%lld %s\n", int_member(poll, "id"), question);
	json_array_foreach(options, i, o)
		option_row(t, o, &l, total);
	text_printf(t, "total %lld vote%s, ", total, total == 1 ? "" : "s");
	state_words(t, poll);
	if (creator[0]) /* null once the account is deleted */
		text_printf(t, ", by %s", creator);
	text_printf(t, "\n");
	free(question);
	free(creator);
}

void poll_text_list(struct text *t, const json_t *polls)
{
	int id_w = 2, votes_w = 5;
	const json_t *p;
	size_t i;

	if (json_array_size(polls) == 0) {
		text_printf(t, "no polls\n");
		return;
	}
	json_array_foreach(polls, i, p) {
		id_w = max_int(id_w, digits(int_member(p, "id")));
		votes_w = max_int(votes_w, digits(int_member(p, "total")));
	}
	text_printf(t, "%-*s  %-6s  %*s  %-16s  QUESTION\n", id_w, "ID", "STATE", votes_w, "VOTES",
		    "CLOSES");
	json_array_foreach(polls, i, p) {
		bool open = json_is_true(json_object_get(p, "open"));
		const json_t *when = json_object_get(p, open ? "closes_at" : "closed_at");
		char *question = safe_member(p, "question", QUESTION_SHOWN_MAX);
		char local[32];

		if (!open && !json_is_string(when))
			when = json_object_get(p, "closes_at"); /* expired, not closed by hand */
		rest_local_time(when, local, sizeof(local));
		text_printf(t, "%-*lld  %-6s  %*lld  %-16s  %s\n", id_w, int_member(p, "id"),
			    open ? "open" : "closed", votes_w, int_member(p, "total"), local,
			    question);
		free(question);
	}
}

void poll_text_created(struct text *t, const json_t *poll)
{
	const json_t *options = json_object_get(poll, "options"), *o;
	const json_t *closes = json_object_get(poll, "closes_at");
	char *question = safe_member(poll, "question", QUESTION_SHOWN_MAX);
	int number_w = digits((long long)json_array_size(options));
	size_t i;

	text_printf(t, "created poll #%lld: %s\n", int_member(poll, "id"), question);
	json_array_foreach(options, i, o) {
		char *label = safe_member(o, "label", LABEL_SHOWN_MAX);

		text_printf(t, "  %*lld  %s\n", number_w, int_member(o, "number"), label);
		free(label);
	}
	if (json_is_string(closes)) {
		char when[32];

		rest_local_time(closes, when, sizeof(when));
		text_printf(t, "open until %s\n", when);
	}
	free(question);
}

void poll_text_voted(struct text *t, const json_t *vote, bool changed)
{
	const json_t *option = json_object_get(vote, "option");
	char *label = safe_member(option, "label", LABEL_SHOWN_MAX);

	if (changed)
		text_printf(t, "changed your vote on poll #%lld to %s (option %lld)\n",
			    int_member(vote, "poll_id"), label, int_member(option, "number"));
	else
		text_printf(t, "voted for %s (option %lld) on poll #%lld\n", label,
			    int_member(option, "number"), int_member(vote, "poll_id"));
	free(label);
}
