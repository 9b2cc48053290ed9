/*
 * parse.c - a rule's text taken apart: the SELECT keyword, the select
 * list up to the top-level FROM, the quoted sources, an optional WHERE and
 * its condition. The select list and the condition are copied into the
 * SQL the engine prepares, with dotted paths translated to json_extract;
 * every byte written is recorded in a span so that SQLite's error offset
 * can be mapped back to the text the user wrote. No SQLite here: SQL is
 * only tokenised as far as needed to tell strings, quoted identifiers,
 * comments and parentheses apart.
 */
#include "rules/internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/text.h"
#include "mqtt/mqtt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The subquery every rule selects from: the event's fields, bound. */
static const char FROM_EVENT[] =
    "\nFROM (SELECT ?1 AS topic, ?2 AS payload, ?3 AS clientid, ?4 AS username, "
    "?5 AS qos, ?6 AS retain, ?7 AS timestamp, ?8 AS event)";

static const char *const FIELDS[] = {"topic", "payload", "clientid",  "username",
				     "qos",   "retain",	 "timestamp", "event"};

/* Clause keywords that have no place at the top level of a select list or
 * a condition: with them a rule would be another statement than ours. */
static const char *const REFUSED_WORDS[] = {"SELECT", "UNION",	"INTERSECT", "EXCEPT",
					    "VALUES", "ORDER",	"GROUP",     "HAVING",
					    "LIMIT",  "WINDOW", "FROM"};

void rules__error(struct rules_error *err, int position, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->position = position;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* ---- tokens ---- */

enum tok_kind { T_END, T_SPACE, T_WORD, T_NUMBER, T_STRING, T_QUOTED, T_PUNCT };

struct tok {
	enum tok_kind kind;
	uint32_t start, len;
};

struct scan {
	const char *s;
	uint32_t len, pos;
	struct rules__parsed *p;
	struct rules_error *err;
	uint32_t copy_from; /* start of the text not yet copied into the SQL */
};

static bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_word_start(unsigned char c)
{
	return c == '_' || (unsigned)((c | 0x20) - 'a') < 26u || c >= 0x80;
}

static bool is_word_char(unsigned char c)
{
	return is_word_start(c) || (unsigned)(c - '0') < 10u || c == '$';
}

static bool is_digit(unsigned char c)
{
	return (unsigned)(c - '0') < 10u;
}

/* The end of the quoted run that starts at i with `open`, closed by
 * `close` (doubled inside for the quote characters), or 0 if unclosed. */
static uint32_t quoted_end(const struct scan *sc, uint32_t i, char close)
{
	for (uint32_t j = i + 1; j < sc->len; j++) {
		if (sc->s[j] != close)
			continue;
		if (close != ']' && j + 1 < sc->len && sc->s[j + 1] == close) {
			j++;
			continue;
		}
		return j + 1;
	}
	return 0;
}

static uint32_t number_end(const struct scan *sc, uint32_t i)
{
	const char *s = sc->s;

	if (s[i] == '0' && i + 1 < sc->len && (s[i + 1] | 0x20) == 'x')
		i += 2;
	while (i < sc->len && (is_word_char((unsigned char)s[i]) || s[i] == '.')) {
		/* an exponent's sign belongs to the number */
		if ((s[i] | 0x20) == 'e' && i + 1 < sc->len && (s[i + 1] == '+' || s[i + 1] == '-'))
			i++;
		i++;
	}
	return i;
}

/* The token at sc->pos, without consuming it: 0 or a syntax error for an
 * unterminated string, identifier or comment. */
static int peek(struct scan *sc, struct tok *t)
{
	const char *s = sc->s;
	uint32_t i = sc->pos, end;
	unsigned char c;

	t->start = i;
	if (i >= sc->len) {
		t->kind = T_END;
		t->len = 0;
		return 0;
	}
	c = (unsigned char)s[i];
	if (is_space(c)) {
		for (end = i; end < sc->len && is_space((unsigned char)s[end]); end++)
			;
		t->kind = T_SPACE;
	} else if (c == '-' && i + 1 < sc->len && s[i + 1] == '-') {
		const char *nl = memchr(s + i, '\n', sc->len - i);
		end = nl ? (uint32_t)(nl - s) : sc->len;
		t->kind = T_SPACE;
	} else if (c == '/' && i + 1 < sc->len && s[i + 1] == '*') {
		const char *close = memmem(s + i + 2, sc->len - i - 2, "*/", 2);
		if (!close) {
			rules__error(sc->err, (int)i, "unterminated comment");
			return RULES_ERR_SYNTAX;
		}
		end = (uint32_t)(close - s) + 2;
		t->kind = T_SPACE;
	} else if (c == '\'' || c == '"' || c == '`' || c == '[') {
		end = quoted_end(sc, i, c == '[' ? ']' : (char)c);
		if (!end) {
			rules__error(sc->err, (int)i,
				     c == '\'' ? "unterminated string literal"
					       : "unterminated quoted identifier");
			return RULES_ERR_SYNTAX;
		}
		t->kind = c == '\'' ? T_STRING : T_QUOTED;
	} else if (is_digit(c) ||
		   (c == '.' && i + 1 < sc->len && is_digit((unsigned char)s[i + 1]))) {
		end = number_end(sc, i);
		t->kind = T_NUMBER;
	} else if (is_word_start(c)) {
		for (end = i + 1; end < sc->len && is_word_char((unsigned char)s[end]); end++)
			;
		t->kind = T_WORD;
	} else {
		end = i + 1;
		t->kind = T_PUNCT;
	}
	t->len = end - i;
	return 0;
}

/* The next token that is not blank or a comment, consumed. */
static int next_solid(struct scan *sc, struct tok *t)
{
	int rc;

	while ((rc = peek(sc, t)) == 0 && t->kind == T_SPACE)
		sc->pos = t->start + t->len;
	if (rc == 0)
		sc->pos = t->start + t->len;
	return rc;
}

static bool word_is(const struct scan *sc, const struct tok *t, const char *w)
{
	return t->kind == T_WORD && t->len == strlen(w) &&
	       strncasecmp(sc->s + t->start, w, t->len) == 0;
}

static bool punct_is(const struct scan *sc, const struct tok *t, char c)
{
	return t->kind == T_PUNCT && sc->s[t->start] == c;
}

/* ---- the SQL being written ---- */

/* Records that SQL bytes [out, out + len) came from the text at in. */
static void add_span(struct rules__parsed *p, uint32_t out, uint32_t in, uint32_t len, bool copy)
{
	if (!len)
		return;
	ARRAY_GROW(p->spans, p->spans_cap, p->nspans + 1, 16, ARRAY_MAX);
	p->spans[p->nspans++] = (struct rules__span){out, in, len, copy};
}

static void put_sql(struct rules__parsed *p, const char *s, size_t n)
{
	ARRAY_GROW(p->sql, p->sql_cap, p->sql_len + n + 1, 256, ARRAY_MAX);
	memcpy(p->sql + p->sql_len, s, n);
	p->sql_len += (uint32_t)n;
	p->sql[p->sql_len] = '\0';
}

/* Our own text, standing for the construct at `in`. */
static void emit(struct rules__parsed *p, uint32_t in, const char *s, size_t n)
{
	add_span(p, p->sql_len, in, (uint32_t)n, false);
	put_sql(p, s, n);
}

/* Copies the text from copy_from up to `to`. */
static void flush(struct scan *sc, uint32_t to)
{
	if (to > sc->copy_from) {
		add_span(sc->p, sc->p->sql_len, sc->copy_from, to - sc->copy_from, true);
		put_sql(sc->p, sc->s + sc->copy_from, to - sc->copy_from);
	}
	sc->copy_from = to;
}

/* ---- dotted paths ---- */

static bool is_field(const struct scan *sc, const struct tok *t)
{
	for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
		if (word_is(sc, t, FIELDS[i]))
			return true;
	return false;
}

static bool is_key_char(unsigned char c)
{
	return c == '_' || (unsigned)((c | 0x20) - 'a') < 26u || is_digit(c) || c >= 0x80;
}

/* Appends to the SQL string literal being written, doubling quotes. */
static void put_quoted(struct rules__parsed *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_sql(p, s[i] == '\'' ? "''" : s + i, s[i] == '\'' ? 2 : 1);
}

/* The segments after a field (sc->pos at the first '.' or '['), written
 * as a JSON path; sc->pos ends after the last. */
static int translate_segments(struct scan *sc)
{
	struct rules__parsed *p = sc->p;
	const char *s = sc->s;
	uint32_t i = sc->pos, j;

	while (i < sc->len && (s[i] == '.' || s[i] == '[')) {
		if (s[i] == '[') {
			for (j = i + 1; j < sc->len && is_digit((unsigned char)s[j]); j++)
				;
			if (j == i + 1 || j >= sc->len || s[j] != ']' || j - i > 10)
				goto bad_index;
			j++;
		} else if (i + 1 < sc->len && s[i + 1] == '"') {
			const char *close = memchr(s + i + 2, '"', sc->len - i - 2);
			if (!close || close == s + i + 2)
				goto bad_key;
			j = (uint32_t)(close - s) + 1;
		} else {
			for (j = i + 1; j < sc->len && is_key_char((unsigned char)s[j]); j++)
				;
			if (j == i + 1)
				goto bad_key;
		}
		put_quoted(p, s + i, j - i);
		i = j;
	}
	sc->pos = i;
	return 0;
bad_index:
	rules__error(sc->err, (int)i, "expected an array index [n] in a path");
	return RULES_ERR_SYNTAX;
bad_key:
	rules__error(sc->err, (int)i,
		     "expected a key after '.' in a path (letters, digits, _ or \"quoted\")");
	return RULES_ERR_SYNTAX;
}

/* payload.a.b[2] -> json_extract(payload,'$.a.b[2]'); t is the field. */
static int translate_path(struct scan *sc, const struct tok *t)
{
	struct rules__parsed *p = sc->p;
	uint32_t out;
	int rc;

	flush(sc, t->start);
	out = p->sql_len;
	put_sql(p, "json_extract(", 13);
	put_sql(p, sc->s + t->start, t->len);
	put_sql(p, ",'$", 3);
	sc->pos = t->start + t->len;
	rc = translate_segments(sc);
	if (rc)
		return rc;
	put_sql(p, "')", 2);
	add_span(p, out, t->start, p->sql_len - out, false);
	sc->copy_from = sc->pos;
	return 0;
}

/* ---- the select list and the condition ---- */

enum section { SEC_SELECT, SEC_WHERE };

struct section_state {
	int depth;
	uint32_t open_at;	/* the outermost '(' still open */
	struct tok prev, prev2; /* the last two solid tokens */
	bool prev_set, prev2_set;
	bool seen; /* a solid token */
};

static void item_begin(struct scan *sc, uint32_t in)
{
	struct rules__parsed *p = sc->p;

	flush(sc, in);
	ARRAY_GROW(p->items, p->items_cap, p->nitems + 1, 8, ARRAY_MAX);
	p->items[p->nitems++] = (struct rules__item){in, in, p->sql_len, p->sql_len, false};
}

static void item_end(struct scan *sc, uint32_t in)
{
	struct rules__item *it = &sc->p->items[sc->p->nitems - 1];

	flush(sc, in);
	it->in_end = in;
	it->out_end = sc->p->sql_len;
}

static int refuse_word(struct scan *sc, const struct tok *t)
{
	for (size_t i = 0; i < sizeof(REFUSED_WORDS) / sizeof(REFUSED_WORDS[0]); i++) {
		if (word_is(sc, t, REFUSED_WORDS[i])) {
			rules__error(sc->err, (int)t->start,
				     "%s is not allowed here: a rule is one "
				     "SELECT ... FROM \"sources\" [WHERE condition]",
				     REFUSED_WORDS[i]);
			return RULES_ERR_SYNTAX;
		}
	}
	return 0;
}

/* Is t a word that is a keyword here, not a name after '.'? */
static bool is_keyword_pos(const struct scan *sc, const struct section_state *st)
{
	return !(st->prev_set && punct_is(sc, &st->prev, '.'));
}

/* The FROM of "a IS [NOT] DISTINCT FROM b", which is not the rule's. */
static bool is_distinct_from(const struct scan *sc, const struct section_state *st,
			     const struct tok *t)
{
	return word_is(sc, t, "FROM") && st->prev_set && word_is(sc, &st->prev, "DISTINCT") &&
	       st->prev2_set && (word_is(sc, &st->prev2, "IS") || word_is(sc, &st->prev2, "NOT"));
}

/* Only blanks and comments left (after a final ';'). */
static int expect_end(struct scan *sc)
{
	struct tok t;
	int rc = next_solid(sc, &t);

	if (rc)
		return rc;
	if (t.kind != T_END) {
		rules__error(sc->err, (int)t.start,
			     "a rule is one statement: nothing may follow ';'");
		return RULES_ERR_SYNTAX;
	}
	return 0;
}

/* One token of a section at depth st->depth; *stop set at the section's end. */
static int section_token(struct scan *sc, enum section sec, struct section_state *st,
			 const struct tok *t, bool *stop)
{
	uint32_t after = t->start + t->len;
	bool top = st->depth == 0;

	if (t->kind == T_PUNCT && sc->s[t->start] == '(') {
		if (st->depth++ == 0)
			st->open_at = t->start;
	} else if (t->kind == T_PUNCT && sc->s[t->start] == ')') {
		if (st->depth-- == 0) {
			rules__error(sc->err, (int)t->start, "unbalanced ')'");
			return RULES_ERR_SYNTAX;
		}
	} else if (t->kind == T_PUNCT && sc->s[t->start] == ';') {
		if (sec == SEC_SELECT) {
			rules__error(sc->err, (int)t->start,
				     "';' before FROM: a rule is one statement");
			return RULES_ERR_SYNTAX;
		}
		*stop = true;
		return 0;
	} else if (t->kind == T_PUNCT && sc->s[t->start] == ',' && top && sec == SEC_SELECT) {
		item_end(sc, t->start);
		item_begin(sc, after);
	} else if (t->kind == T_WORD && is_keyword_pos(sc, st)) {
		bool after_as = st->prev_set && word_is(sc, &st->prev, "AS");

		if (top && !is_distinct_from(sc, st, t)) {
			int rc;

			if (sec == SEC_SELECT && word_is(sc, t, "FROM")) {
				*stop = true;
				return 0;
			}
			rc = refuse_word(sc, t);
			if (rc)
				return rc;
		}
		if (!after_as && is_field(sc, t) && after < sc->len &&
		    (sc->s[after] == '.' || sc->s[after] == '[')) {
			if (sec == SEC_SELECT)
				sc->p->items[sc->p->nitems - 1].translated = true;
			return translate_path(sc, t);
		}
	}
	sc->pos = after;
	return 0;
}

/* Scans a select list (up to the top-level FROM, left at sc->pos) or a
 * condition (up to the end or a final ';'), translating as it goes. */
static int scan_section(struct scan *sc, enum section sec, uint32_t *end, bool *empty)
{
	struct section_state st = {0};
	struct tok t;
	bool stop = false;
	int rc;

	sc->copy_from = sc->pos;
	if (sec == SEC_SELECT)
		item_begin(sc, sc->pos);
	while (!stop) {
		rc = peek(sc, &t);
		if (rc)
			return rc;
		if (t.kind == T_END)
			break;
		if (t.kind == T_SPACE) {
			sc->pos = t.start + t.len;
			continue;
		}
		rc = section_token(sc, sec, &st, &t, &stop);
		if (rc)
			return rc;
		if (stop)
			break;
		st.prev2 = st.prev;
		st.prev2_set = st.prev_set;
		st.prev = t;
		st.prev_set = st.seen = true;
	}
	if (st.depth > 0) {
		rules__error(sc->err, (int)st.open_at, "unclosed '('");
		return RULES_ERR_SYNTAX;
	}
	*end = stop ? t.start : sc->len;
	*empty = !st.seen;
	if (sec == SEC_SELECT) {
		item_end(sc, *end);
		if (!stop) {
			rules__error(sc->err, (int)sc->len,
				     "expected FROM \"source\" after the select list");
			return RULES_ERR_SYNTAX;
		}
		sc->pos = t.start + t.len;
		return 0;
	}
	flush(sc, *end);
	if (stop) {
		sc->pos = t.start + t.len;
		return expect_end(sc);
	}
	return 0;
}

/* ---- sources ---- */

static const char *const EVENTS[RULES_EVENT_COUNT] = {
    [RULES_EVENT_MESSAGE] = "message",
    [RULES_EVENT_STATUS] = "status",
    [RULES_EVENT_VOTE] = "vote",
    [RULES_EVENT_CLIENT_CONNECTED] = "client_connected",
    [RULES_EVENT_CLIENT_DISCONNECTED] = "client_disconnected",
    [RULES_EVENT_SUBSCRIBED] = "subscribed",
};

const char *rules_event_name(enum rules_event_kind kind)
{
	return (unsigned)kind < RULES_EVENT_COUNT ? EVENTS[kind] : "?";
}

static int check_event(struct rules_source *src, struct rules_error *err)
{
	const char *name = src->text + 8; /* after "$events/" */

	for (int i = 0; i < RULES_EVENT_COUNT; i++) {
		if (strcmp(name, EVENTS[i]) == 0) {
			src->kind = RULES_SOURCE_EVENT;
			src->event = (enum rules_event_kind)i;
			return 0;
		}
	}
	rules__error(
	    err, src->position,
	    "unknown event \"%.64s\": one of $events/message, $events/status, $events/vote, "
	    "$events/client_connected, $events/client_disconnected, $events/subscribed",
	    src->text);
	return RULES_ERR_SOURCE;
}

static int check_source(struct rules__parsed *p, struct rules_source *src, struct rules_error *err)
{
	if (!src->len) {
		rules__error(err, src->position, "empty source: a topic filter or an event");
		return RULES_ERR_SOURCE;
	}
	if (strlen(src->text) != src->len) {
		rules__error(err, src->position, "a source holds no NUL character");
		return RULES_ERR_SOURCE;
	}
	for (uint32_t i = 0; i < p->nsources; i++) {
		if (p->sources[i].len == src->len && strcmp(p->sources[i].text, src->text) == 0) {
			rules__error(err, src->position, "source \"%.64s\" listed twice",
				     src->text);
			return RULES_ERR_SOURCE;
		}
	}
	if (strncmp(src->text, "$events/", 8) == 0)
		return check_event(src, err);
	if (strncmp(src->text, "$share/", 7) == 0) {
		rules__error(err, src->position,
			     "a shared subscription ($share/...) cannot be a source");
		return RULES_ERR_SOURCE;
	}
	if (!mqtt_topic_filter_valid((const uint8_t *)src->text, src->len)) {
		rules__error(err, src->position,
			     "\"%.64s\" is not a valid MQTT topic filter: '+' stands alone in its "
			     "level, '#' alone in the last one",
			     src->text);
		return RULES_ERR_SOURCE;
	}
	src->kind = RULES_SOURCE_FILTER;
	return 0;
}

/* The quoted source t, unquoted ("" is one "), checked and added. */
static int add_source(struct scan *sc, const struct tok *t)
{
	struct rules__parsed *p = sc->p;
	struct rules_source src = {.position = (int)t->start};
	char *text = xmalloc(t->len);
	size_t n = 0;
	int rc;

	for (uint32_t i = t->start + 1; i + 1 < t->start + t->len; i++) {
		text[n++] = sc->s[i];
		if (sc->s[i] == '"')
			i++;
	}
	text[n] = '\0';
	src.text = text;
	src.len = n;
	if (p->nsources == RULES_MAX_SOURCES) {
		rules__error(sc->err, src.position, "at most %d sources", RULES_MAX_SOURCES);
		rc = RULES_ERR_SOURCE;
		goto out_free_text;
	}
	rc = check_source(p, &src, sc->err);
	if (rc)
		goto out_free_text;
	if (!p->sources)
		p->sources = xcalloc(RULES_MAX_SOURCES, sizeof(*p->sources));
	p->sources[p->nsources++] = src;
	return 0;
out_free_text:
	free(text);
	return rc;
}

/* FROM "a", "b" [WHERE ...]: sc->pos just after FROM. *where is the WHERE
 * keyword's position, or -1. */
static int scan_sources(struct scan *sc, uint32_t from_at, int *where)
{
	struct tok t;
	int rc;

	*where = -1;
	for (;;) {
		rc = next_solid(sc, &t);
		if (rc)
			return rc;
		if (t.kind != T_QUOTED || sc->s[t.start] != '"') {
			rules__error(
			    sc->err, t.kind == T_END ? (int)from_at : (int)t.start,
			    "expected a source in double quotes: a topic filter (\"sensors/#\") "
			    "or an event (\"$events/message\")");
			return RULES_ERR_SYNTAX;
		}
		rc = add_source(sc, &t);
		if (rc)
			return rc;
		rc = next_solid(sc, &t);
		if (rc)
			return rc;
		if (punct_is(sc, &t, ','))
			continue;
		if (t.kind == T_END)
			return 0;
		if (punct_is(sc, &t, ';'))
			return expect_end(sc);
		if (word_is(sc, &t, "WHERE")) {
			*where = (int)t.start;
			return 0;
		}
		rules__error(sc->err, (int)t.start,
			     "expected ',', WHERE or the end after a source");
		return RULES_ERR_SYNTAX;
	}
}

/* ---- the whole ---- */

static int check_bytes(const char *s, size_t len, struct rules_error *err)
{
	for (size_t i = 0; i < len;) {
		size_t n = text_utf8_seq((const unsigned char *)s + i, len - i);
		if (!n || s[i] == '\0') {
			rules__error(err, (int)i,
				     s[i] ? "not valid UTF-8" : "a NUL byte in a rule");
			return RULES_ERR_SYNTAX;
		}
		i += n;
	}
	return 0;
}

static int scan_rule(struct scan *sc)
{
	struct rules__parsed *p = sc->p;
	struct tok t;
	uint32_t select_at, from_at, end;
	bool empty;
	int where, rc;

	rc = next_solid(sc, &t);
	if (rc)
		return rc;
	if (!word_is(sc, &t, "SELECT")) {
		rules__error(sc->err, (int)t.start,
			     t.kind == T_END ? "empty rule" : "a rule starts with SELECT");
		return RULES_ERR_SYNTAX;
	}
	select_at = t.start;
	emit(p, select_at, "SELECT ", 7);
	rc = scan_section(sc, SEC_SELECT, &from_at, &empty);
	if (rc)
		return rc;
	if (empty) {
		rules__error(sc->err, (int)from_at, "nothing selected before FROM");
		return RULES_ERR_SYNTAX;
	}
	emit(p, from_at, FROM_EVENT, sizeof(FROM_EVENT) - 1);
	rc = scan_sources(sc, from_at, &where);
	if (rc || where < 0)
		return rc;
	emit(p, (uint32_t)where, " WHERE ", 7);
	rc = next_solid(sc, &t);
	if (rc)
		return rc;
	if (t.kind == T_END || punct_is(sc, &t, ';')) {
		rules__error(sc->err, (int)t.start, "WHERE needs a condition");
		return RULES_ERR_SYNTAX;
	}
	sc->pos = t.start;
	return scan_section(sc, SEC_WHERE, &end, &empty);
}

int rules__parse(const char *text, size_t len, struct rules__parsed *p, struct rules_error *err)
{
	struct scan sc = {.s = text, .len = (uint32_t)len, .p = p, .err = err};
	int rc;

	p->text_len = (uint32_t)len;
	if (len > RULES_MAX_TEXT) {
		rules__error(err, RULES_MAX_TEXT, "a rule is at most %d bytes (this one has %zu)",
			     RULES_MAX_TEXT, len);
		return RULES_ERR_TOO_LONG;
	}
	rc = check_bytes(text, len, err);
	if (rc)
		return rc;
	return scan_rule(&sc);
}

void rules__parsed_release(struct rules__parsed *p)
{
	free(p->sql);
	free(p->spans);
	free(p->items);
	for (uint32_t i = 0; i < p->nsources; i++)
		free((char *)p->sources[i].text);
	free(p->sources);
	memset(p, 0, sizeof(*p));
}

int rules__map_offset(const struct rules__parsed *p, int offset)
{
	uint32_t o = (uint32_t)offset;

	if (offset < 0)
		return -1;
	for (uint32_t i = 0; i < p->nspans; i++) {
		const struct rules__span *sp = &p->spans[i];
		if (o >= sp->out && o - sp->out < sp->len)
			return (int)(sp->copy ? sp->in + (o - sp->out) : sp->in);
	}
	return (int)p->text_len; /* past the SQL's end: the rule's end */
}
