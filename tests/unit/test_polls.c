/*
 * test_polls.c - the voting rules (src/polls/polls.h) over an in-memory
 * store: every refusal of a poll's question, options and closing time
 * (with the field its sentence names), options by label or number, open,
 * closed and expired polls, casting and changing a vote, closing by the
 * creator only, the error words and sentences, and the observers.
 */
#include "helpers.h"

#include "mqtt/mqtt.h"
#include "polls/polls.h"
#include "store/store.h"
#include "store_memory.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NOW 1000000

/* What the observers heard. */
struct heard {
	int64_t ids[16];
	size_t n;
};

struct fixture {
	struct store *st;
	struct polls ps;
	int64_t alice, bob, carol;
	struct heard heard;
};

static void on_change(void *ctx, int64_t poll_id)
{
	struct heard *h = ctx;

	assert_true(h->n < ARRAY_SIZE(h->ids));
	h->ids[h->n++] = poll_id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct polls_limits lim = { .question_max = 40, .option_max = 12 };

	assert_non_null(f);
	f->st = memory_store();
	f->alice = add_user(f->st, "alice");
	f->bob = add_user(f->st, "bob");
	f->carol = add_user(f->st, "carol");
	polls_init(&f->ps, f->st, &lim);
	assert_int_equal(polls_observe(&f->ps, on_change, &f->heard), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_free(f->st);
	free(f);
	return 0;
}

/* Asserts what the observers heard since the last call, then forgets. */
static void expect_heard(struct fixture *f, const int64_t *ids, size_t n)
{
	if (f->heard.n != n)
		fail_msg("observers told %zu times, expected %zu", f->heard.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->heard.ids[i], ids[i]);
	f->heard.n = 0;
}

static const char *const seasons[] = { "été", "Hiver", "printemps" };

/* A poll by alice with the three seasons; its id. */
static int64_t make_poll(struct fixture *f, int64_t closes_at)
{
	struct store_poll p;
	char why[200] = "";
	int64_t id;

	assert_int_equal(polls_create(&f->ps, f->alice, "Saison ?", seasons, 3, closes_at, NOW,
				      &p, why, sizeof(why)),
			 POLLS_OK);
	id = p.id;
	store_poll_release(&p);
	f->heard.n = 0;
	return id;
}

/* ---- errors ---- */

static void test_codes_and_messages(void **state)
{
	static const struct {
		int err;
		const char *code;
	} want[] = {
		{ POLLS_EINVALID, "validation_failed" }, { POLLS_ENOTFOUND, "not_found" },
		{ POLLS_EFORBIDDEN, "forbidden" },	 { POLLS_ECLOSED, "poll_closed" },
		{ POLLS_EVOTED, "already_voted" },	 { POLLS_ENOVOTE, "no_vote" },
		{ POLLS_EOPTION, "unknown_option" },	 { POLLS_ESTORE, "internal" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const char *m = polls_message(want[i].err);

		assert_string_equal(polls_code(want[i].err), want[i].code);
		assert_true(strlen(m) > 10);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m, polls_message(want[j].err));
	}
	assert_string_equal(polls_code(-1000), "internal");
	assert_non_null(polls_message(-1000));
}

static void test_limits_defaults(void **state)
{
	struct polls_limits lim;
	struct polls ps;

	(void)state;
	polls_limits_defaults(&lim);
	assert_int_equal(lim.question_max, 500);
	assert_int_equal(lim.option_max, 100);
	memset(&ps, 0xff, sizeof(ps));
	polls_init(&ps, NULL, NULL);
	assert_int_equal(ps.lim.question_max, 500);
	assert_int_equal(ps.lim.option_max, 100);
	assert_int_equal(ps.n_observers, 0);
	assert_null(ps.store);
}

/* ---- create ---- */

static void test_create(void **state)
{
	struct fixture *f = *state;
	struct store_poll p;
	char why[200] = "untouched";
	const char *two[] = { "oui", "non" };

	assert_int_equal(polls_create(&f->ps, f->bob, "Été ou hiver ?", seasons, 3, NOW + 1, NOW,
				      &p, why, sizeof(why)),
			 POLLS_OK);
	assert_string_equal(why, "untouched");
	assert_string_equal(p.question, "Été ou hiver ?");
	assert_string_equal(p.creator_name, "bob");
	assert_int_equal(p.n_options, 3);
	assert_int_equal(p.closes_at, NOW + 1);
	assert_int_equal(p.created_at, NOW);
	assert_true(polls_is_open(&p, NOW));
	{
		const int64_t ids[] = { p.id };

		expect_heard(f, ids, 1);
	}
	store_poll_release(&p);
	/* Without a closing time nor a record. */
	assert_int_equal(polls_create(&f->ps, f->bob, "q", two, 2, 0, NOW, NULL, NULL, 0),
			 POLLS_OK);
	assert_int_equal(f->heard.n, 1);
}

/* polls_create refuses; why must name `field`; nothing is stored and
 * nobody is told. */
static void expect_invalid(struct fixture *f, const char *question, const char *const *options,
			   size_t n, int64_t closes_at, const char *field)
{
	struct store_poll_query q = { .now = NOW, .limit = 100 };
	struct store_poll_list l;
	struct store_poll p = { .id = 42 };
	char why[200] = "";

	assert_int_equal(polls_create(&f->ps, f->alice, question, options, n, closes_at, NOW, &p,
				      why, sizeof(why)),
			 POLLS_EINVALID);
	if (strncmp(why, field, strlen(field)) != 0)
		fail_msg("why '%s' does not start with '%s'", why, field);
	/* A sentence in valid UTF-8, whatever was refused. */
	assert_true(mqtt_utf8_valid((const uint8_t *)why, strlen(why)));
	assert_int_equal(p.id, 42);
	assert_int_equal(f->heard.n, 0);
	assert_int_equal(store_poll_list(f->st, &q, &l), STORE_OK);
	assert_int_equal(l.total, 0);
	store_poll_list_free(&l);
}

static void test_question_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",		    /* empty */
		"0123456789012345678901234567890123456789x", /* 41 bytes, 40 at most */
		"a\xc3",	    /* truncated UTF-8 */
		"\xed\xa0\x80",	    /* a surrogate */
		"\xc0\xaf",	    /* overlong */
		"two\nlines",	    /* control characters */
		"tab\there",
		"del\x7f",
		"nel\xc2\x85",	    /* U+0085, a C1 control */
		"\xef\xb7\x90",	    /* U+FDD0, a non-character */
	};
	char why[200];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_invalid(f, bad[i], seasons, 3, 0, "question: ");
	/* Exactly the limit, in bytes: "é" is two. */
	assert_int_equal(polls_create(&f->ps, f->alice, "0123456789012345678901234567890123456789",
				      seasons, 3, 0, NOW, NULL, why, sizeof(why)),
			 POLLS_OK);
	assert_int_equal(polls_create(&f->ps, f->alice, "ééééééééééééééééééééx", seasons, 3, 0,
				      NOW, NULL, why, sizeof(why)),
			 POLLS_EINVALID);
	assert_non_null(strstr(why, "41"));
}

static void test_options_refused(void **state)
{
	struct fixture *f = *state;
	const char *many[STORE_POLL_OPTIONS_MAX + 1];
	char labels[STORE_POLL_OPTIONS_MAX + 1][8];
	const char *one[] = { "seul" };
	const char *empty[] = { "a", "" };
	const char *longer[] = { "a", "0123456789abc" }; /* 13 bytes, 12 at most */
	const char *invalid[] = { "a", "\xff" };
	const char *control[] = { "a", "b\r" };
	const char *twice[] = { "hiver", "été", "HIVER" };
	char why[200];

	for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
		snprintf(labels[i], sizeof(labels[i]), "o%zu", i);
		many[i] = labels[i];
	}
	expect_invalid(f, "q", one, 1, 0, "options: ");
	expect_invalid(f, "q", many, 0, 0, "options: ");
	expect_invalid(f, "q", many, ARRAY_SIZE(many), 0, "options: ");
	expect_invalid(f, "q", empty, 2, 0, "options: option 2: ");
	expect_invalid(f, "q", longer, 2, 0, "options: option 2: ");
	expect_invalid(f, "q", invalid, 2, 0, "options: option 2: ");
	expect_invalid(f, "q", control, 2, 0, "options: option 2: ");
	expect_invalid(f, "q", twice, 3, 0, "options: 'HIVER' appears twice");
	/* The most options there may be, each of the longest. */
	assert_int_equal(polls_create(&f->ps, f->alice, "q", many, STORE_POLL_OPTIONS_MAX, 0, NOW,
				      NULL, why, sizeof(why)),
			 POLLS_OK);
	f->heard.n = 0;
	/* Case is ASCII's only: "É" and "é" are two labels. */
	{
		const char *accents[] = { "É", "é", "0123456789ab" };

		assert_int_equal(polls_create(&f->ps, f->alice, "q", accents, 3, 0, NOW, NULL, why,
					      sizeof(why)),
				 POLLS_OK);
	}
}

static void test_duplicate_quote_cut(void **state)
{
	struct fixture *f = *state;
	struct polls_limits lim = { .question_max = 500, .option_max = 100 };
	/* 100 bytes of "é": quoting cuts it, never inside a character. */
	char label[101];
	const char *twice[2] = { label, label };
	char why[400] = "";

	for (size_t i = 0; i < 100; i += 2)
		memcpy(label + i, "\xc3\xa9", 2);
	label[100] = '\0';
	f->ps.lim = lim;
	assert_int_equal(polls_create(&f->ps, f->alice, "q", twice, 2, 0, NOW, NULL, why,
				      sizeof(why)),
			 POLLS_EINVALID);
	assert_non_null(strstr(why, "appears twice"));
	assert_true(strlen(why) < 100 + 80);
	assert_true(mqtt_utf8_valid((const uint8_t *)why, strlen(why)));
}

static void test_closes_at(void **state)
{
	struct fixture *f = *state;
	struct store_poll p;
	char why[200];

	/* Now or before: it would be closed from the start. */
	expect_invalid(f, "q", seasons, 3, NOW, "closes_at: ");
	expect_invalid(f, "q", seasons, 3, NOW - 1, "closes_at: ");
	expect_invalid(f, "q", seasons, 3, -5, "closes_at: ");
	assert_int_equal(polls_create(&f->ps, f->alice, "q", seasons, 3, NOW + 1, NOW, &p, why,
				      sizeof(why)),
			 POLLS_OK);
	/* Open until the millisecond before closes_at, closed at it. */
	assert_true(polls_is_open(&p, NOW));
	assert_false(polls_is_open(&p, NOW + 1));
	assert_false(polls_is_open(&p, NOW + 2));
	store_poll_release(&p);
}

static void test_creator_unknown(void **state)
{
	struct fixture *f = *state;
	char why[200];

	assert_int_equal(polls_create(&f->ps, f->carol + 50, "q", seasons, 3, 0, NOW, NULL, why,
				      sizeof(why)),
			 POLLS_EFORBIDDEN);
	assert_int_equal(polls_create(&f->ps, 0, "q", seasons, 3, 0, NOW, NULL, why, sizeof(why)),
			 POLLS_EFORBIDDEN);
	assert_int_equal(f->heard.n, 0);
}

/* ---- options ---- */

static void test_find_option(void **state)
{
	char *labels[] = { "Été", "hiver", "2", "printemps" };
	struct store_poll p = { .n_options = 4, .options = labels };
	static const struct {
		const char *text;
		long want;
	} cases[] = {
		{ "hiver", 1 },	   { "HIVER", 1 },   { "Hiver", 1 },  { "Été", 0 },
		{ "été", -1 },	   /* not ASCII: case is not folded */
		{ "ÉTÉ", -1 },	   { "1", 0 },	     { "3", 2 },      /* a number: the third */
		{ "2", 2 },	   /* the label "2" wins over the second option */
		{ "4", 3 },	   { "04", 3 },	     { "0", -1 },     { "5", -1 },
		{ "-1", -1 },	   { "+1", -1 },     { " 1", -1 },    { "1 ", -1 },
		{ "1.0", -1 },	   { "", -1 },	     { "hive", -1 },  { "hivers", -1 },
		{ "99999999999999999999999", -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		long got = polls_find_option(&p, cases[i].text, strlen(cases[i].text));

		if (got != cases[i].want)
			fail_msg("'%s': %ld, expected %ld", cases[i].text, got, cases[i].want);
	}
	/* By length, not by NUL: a prefix of a label is not that label. */
	assert_int_equal(polls_find_option(&p, "hiverXX", 5), 1);
	assert_int_equal(polls_find_option(&p, "hiver", 4), -1);
	assert_int_equal(polls_find_option(&p, NULL, 0), -1);
}

/* ---- votes ---- */

static struct polls_ballot ballot(int64_t poll, int64_t user, const char *option,
				  enum polls_mode mode, int64_t now)
{
	return (struct polls_ballot){ .poll_id = poll,
				      .user_id = user,
				      .option = option,
				      .option_len = option ? strlen(option) : 0,
				      .mode = mode,
				      .now = now };
}

static struct polls_ballot by_number(int64_t poll, int64_t user, long number,
				     enum polls_mode mode, int64_t now)
{
	struct polls_ballot b = ballot(poll, user, NULL, mode, now);

	b.number = number;
	return b;
}

static void expect_counts(struct fixture *f, int64_t id, int64_t a, int64_t b, int64_t c)
{
	struct store_poll p;

	assert_int_equal(polls_get(&f->ps, id, &p), POLLS_OK);
	assert_int_equal(p.n_options, 3);
	if (p.counts[0] != a || p.counts[1] != b || p.counts[2] != c)
		fail_msg("poll %lld: %lld %lld %lld, expected %lld %lld %lld", (long long)id,
			 (long long)p.counts[0], (long long)p.counts[1], (long long)p.counts[2],
			 (long long)a, (long long)b, (long long)c);
	assert_int_equal(p.total, a + b + c);
	store_poll_release(&p);
}

static void test_cast(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, 0);
	struct polls_ballot b = ballot(id, f->bob, "hiver", POLLS_CAST, NOW + 5);
	struct store_poll p;
	size_t chosen = 99, option = 99;
	int64_t at = 0;

	assert_int_equal(polls_vote(&f->ps, &b, &p, &chosen), POLLS_OK);
	assert_int_equal(chosen, 1);
	assert_int_equal(p.id, id);
	assert_int_equal(p.counts[1], 1);
	assert_int_equal(p.total, 1);
	store_poll_release(&p);
	{
		const int64_t ids[] = { id };

		expect_heard(f, ids, 1);
	}
	assert_int_equal(polls_my_vote(&f->ps, id, f->bob, &option, &at), POLLS_OK);
	assert_int_equal(option, 1);
	assert_int_equal(at, NOW + 5);
	/* A second cast, for any option: refused, nothing moves. */
	b.now = NOW + 6;
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EVOTED);
	b = ballot(id, f->bob, "été", POLLS_CAST, NOW + 6);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_EVOTED);
	assert_int_equal(chosen, 1); /* untouched */
	expect_counts(f, id, 0, 1, 0);
	assert_int_equal(f->heard.n, 0);
	/* By number, as JSON's integers come. */
	b = by_number(id, f->carol, 3, POLLS_CAST, NOW + 7);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_OK);
	assert_int_equal(chosen, 2);
	b = by_number(id, f->alice, 1, POLLS_CAST, NOW + 7);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	expect_counts(f, id, 1, 1, 1);
	assert_int_equal(f->heard.n, 2);
}

static void test_unknown_option(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, 0);
	static const char *const texts[] = { "automne", "0", "4", "", "hiver ", "-1" };
	static const long numbers[] = { 0, 4, -1, 1000000 };
	struct polls_ballot b;

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		b = ballot(id, f->bob, texts[i], POLLS_CAST, NOW);
		assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EOPTION);
	}
	for (size_t i = 0; i < ARRAY_SIZE(numbers); i++) {
		b = by_number(id, f->bob, numbers[i], POLLS_CAST, NOW);
		assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EOPTION);
	}
	/* Changing to an unknown option: refused before looking for a vote. */
	b = ballot(id, f->bob, "automne", POLLS_CHANGE, NOW);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EOPTION);
	expect_counts(f, id, 0, 0, 0);
	assert_int_equal(f->heard.n, 0);
	/* Nothing was stored: bob may still vote. */
	b = ballot(id, f->bob, "3", POLLS_CAST, NOW);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
}

static void test_label_wins_over_number(void **state)
{
	struct fixture *f = *state;
	const char *numbered[] = { "1", "2", "deux" };
	const char *swapped[] = { "2", "1" };
	struct store_poll p;
	struct polls_ballot b;
	size_t chosen;
	char why[200];

	assert_int_equal(polls_create(&f->ps, f->alice, "q", swapped, 2, 0, NOW, &p, why,
				      sizeof(why)),
			 POLLS_OK);
	/* "2" is the label of the first option, not the second option. */
	b = ballot(p.id, f->bob, "2", POLLS_CAST, NOW);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_OK);
	assert_int_equal(chosen, 0);
	/* The integer 2 is the second option, whatever the labels. */
	b = by_number(p.id, f->carol, 2, POLLS_CAST, NOW);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_OK);
	assert_int_equal(chosen, 1);
	store_poll_release(&p);
	assert_int_equal(polls_create(&f->ps, f->alice, "q", numbered, 3, 0, NOW, &p, why,
				      sizeof(why)),
			 POLLS_OK);
	b = ballot(p.id, f->bob, "3", POLLS_CAST, NOW); /* no label "3": the number */
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_OK);
	assert_int_equal(chosen, 2);
	store_poll_release(&p);
}

static void test_change(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, 0);
	struct polls_ballot b = ballot(id, f->bob, "printemps", POLLS_CHANGE, NOW);
	struct store_poll p;
	size_t chosen = 99, option;
	int64_t at;

	/* Nothing to change yet: refused, and no vote appears. */
	assert_int_equal(polls_vote(&f->ps, &b, NULL, &chosen), POLLS_ENOVOTE);
	assert_int_equal(chosen, 99);
	assert_int_equal(polls_my_vote(&f->ps, id, f->bob, &option, &at), POLLS_ENOVOTE);
	b.mode = POLLS_CAST;
	b.option = "été";
	b.option_len = strlen(b.option);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	f->heard.n = 0;
	b = ballot(id, f->bob, "PRINTEMPS", POLLS_CHANGE, NOW + 10);
	assert_int_equal(polls_vote(&f->ps, &b, &p, &chosen), POLLS_OK);
	assert_int_equal(chosen, 2);
	assert_int_equal(p.counts[0], 0);
	assert_int_equal(p.counts[2], 1);
	assert_int_equal(p.total, 1);
	store_poll_release(&p);
	{
		const int64_t ids[] = { id };

		expect_heard(f, ids, 1);
	}
	assert_int_equal(polls_my_vote(&f->ps, id, f->bob, &option, &at), POLLS_OK);
	assert_int_equal(option, 2);
	assert_int_equal(at, NOW + 10);
	/* By number too. */
	b = by_number(id, f->bob, 2, POLLS_CHANGE, NOW + 11);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	expect_counts(f, id, 0, 1, 0);
}

static void test_closed_and_expired(void **state)
{
	struct fixture *f = *state;
	int64_t closing = make_poll(f, NOW + 100);
	int64_t closed = make_poll(f, 0);
	struct polls_ballot b;

	/* Before its closing time a vote counts; at it, none does. */
	b = ballot(closing, f->bob, "hiver", POLLS_CAST, NOW + 99);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	b = ballot(closing, f->carol, "hiver", POLLS_CAST, NOW + 100);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	b = ballot(closing, f->bob, "été", POLLS_CHANGE, NOW + 100);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	/* Closed outranks the other refusals: an unknown option, a second
	 * vote. */
	b = ballot(closing, f->carol, "automne", POLLS_CAST, NOW + 200);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	b = ballot(closing, f->bob, "hiver", POLLS_CAST, NOW + 200);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	expect_counts(f, closing, 0, 1, 0);
	f->heard.n = 0;

	b = ballot(closed, f->bob, "hiver", POLLS_CAST, NOW + 1);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	assert_int_equal(polls_close(&f->ps, f->alice, closed, NOW + 2, NULL), POLLS_OK);
	f->heard.n = 0;
	b = ballot(closed, f->carol, "hiver", POLLS_CAST, NOW + 2);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	b = ballot(closed, f->bob, "été", POLLS_CHANGE, NOW + 3);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ECLOSED);
	/* Results stay readable. */
	expect_counts(f, closed, 0, 1, 0);
	assert_int_equal(f->heard.n, 0);
}

static void test_vote_not_found(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, 0);
	struct polls_ballot b = ballot(id + 1, f->bob, "hiver", POLLS_CAST, NOW);
	struct store_poll p;

	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ENOTFOUND);
	b.mode = POLLS_CHANGE;
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_ENOTFOUND);
	assert_int_equal(polls_get(&f->ps, id + 1, &p), POLLS_ENOTFOUND);
	assert_int_equal(polls_my_vote(&f->ps, id + 1, f->bob, NULL, NULL), POLLS_ENOTFOUND);
	/* An account that is not there (deleted, or 0: anonymous). */
	b = ballot(id, f->carol + 50, "hiver", POLLS_CAST, NOW);
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EFORBIDDEN);
	b.user_id = 0;
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_EFORBIDDEN);
	expect_counts(f, id, 0, 0, 0);
	assert_int_equal(f->heard.n, 0);
}

/* ---- close ---- */

static void test_close(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, NOW + 1000);
	struct store_poll p;

	assert_int_equal(polls_close(&f->ps, f->bob, id, NOW + 1, &p), POLLS_EFORBIDDEN);
	assert_int_equal(polls_close(&f->ps, f->alice, id + 1, NOW + 1, &p), POLLS_ENOTFOUND);
	assert_int_equal(f->heard.n, 0);
	assert_int_equal(polls_close(&f->ps, f->alice, id, NOW + 2, &p), POLLS_OK);
	assert_int_equal(p.closed_at, NOW + 2);
	assert_false(polls_is_open(&p, NOW + 2));
	store_poll_release(&p);
	{
		const int64_t ids[] = { id };

		expect_heard(f, ids, 1);
	}
	/* Again: fine, the first time stays, nobody is told. */
	assert_int_equal(polls_close(&f->ps, f->alice, id, NOW + 3, &p), POLLS_OK);
	assert_int_equal(p.closed_at, NOW + 2);
	store_poll_release(&p);
	assert_int_equal(polls_close(&f->ps, f->alice, id, NOW + 4, NULL), POLLS_OK);
	assert_int_equal(f->heard.n, 0);
	/* Still forbidden to others once closed. */
	assert_int_equal(polls_close(&f->ps, f->bob, id, NOW + 5, NULL), POLLS_EFORBIDDEN);
}

static void test_close_expired(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, NOW + 10);
	struct store_poll p;

	/* Expired, then closed by hand: closed_at records it. */
	assert_int_equal(polls_close(&f->ps, f->alice, id, NOW + 20, &p), POLLS_OK);
	assert_int_equal(p.closed_at, NOW + 20);
	assert_int_equal(p.closes_at, NOW + 10);
	store_poll_release(&p);
}

static void test_creator_deleted(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f, 0);
	int64_t again;
	struct polls_ballot b = ballot(id, f->bob, "hiver", POLLS_CAST, NOW);

	assert_int_equal(store_user_delete(f->st, f->alice), STORE_OK);
	again = add_user(f->st, "alice");
	/* Nobody closes it: not the new alice, not id 0. */
	assert_int_equal(polls_close(&f->ps, again, id, NOW, NULL), POLLS_EFORBIDDEN);
	assert_int_equal(polls_close(&f->ps, 0, id, NOW, NULL), POLLS_EFORBIDDEN);
	assert_int_equal(polls_close(&f->ps, f->alice, id, NOW, NULL), POLLS_EFORBIDDEN);
	/* It still takes votes. */
	assert_int_equal(polls_vote(&f->ps, &b, NULL, NULL), POLLS_OK);
	expect_counts(f, id, 0, 1, 0);
}

/* ---- observers ---- */

struct selfish {
	struct polls *ps;
	int calls;
};

static void leave_when_told(void *ctx, int64_t poll_id)
{
	struct selfish *s = ctx;

	(void)poll_id;
	s->calls++;
	polls_unobserve(s->ps, leave_when_told, s);
}

static void test_observers(void **state)
{
	struct fixture *f = *state;
	struct heard other = { 0 };
	struct selfish s = { .ps = &f->ps };
	int64_t id;

	/* The fixture's, then the one that leaves, then another. */
	assert_int_equal(polls_observe(&f->ps, leave_when_told, &s), 0);
	assert_int_equal(polls_observe(&f->ps, on_change, &other), 0);
	assert_int_equal(polls_observe(&f->ps, on_change, &other), 0); /* twice: told twice */
	assert_int_equal(polls_observe(&f->ps, on_change, &other), -1); /* full */
	id = make_poll(f, 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(other.n, 2);
	assert_int_equal(other.ids[0], id);
	assert_int_equal(f->ps.n_observers, 3);
	/* Gone: not told again. Removing one removes one. */
	polls_unobserve(&f->ps, on_change, &other);
	polls_unobserve(&f->ps, leave_when_told, &s); /* absent: nothing */
	assert_int_equal(f->ps.n_observers, 2);
	make_poll(f, 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(other.n, 3);
	polls_unobserve(&f->ps, on_change, &other);
	polls_unobserve(&f->ps, on_change, &f->heard);
	assert_int_equal(f->ps.n_observers, 0);
	make_poll(f, 0);
	assert_int_equal(other.n, 3);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_and_messages),
		cmocka_unit_test(test_limits_defaults),
		cmocka_unit_test(test_find_option),
		T(test_create),
		T(test_question_refused),
		T(test_options_refused),
		T(test_duplicate_quote_cut),
		T(test_closes_at),
		T(test_creator_unknown),
		T(test_cast),
		T(test_unknown_option),
		T(test_label_wins_over_number),
		T(test_change),
		T(test_closed_and_expired),
		T(test_vote_not_found),
		T(test_close),
		T(test_close_expired),
		T(test_creator_deleted),
		T(test_observers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
