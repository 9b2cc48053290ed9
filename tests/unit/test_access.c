/*
 * test_access.c - the visibility rule of agora/users and agora/polls
 * (src/server/access.h, docs/api.md "Who sees what"), case by case: what an
 * anonymous client, the owner and another account may read, subscribe to
 * and publish.
 */
#include "helpers.h"

#include "server/access.h"

#include <stdbool.h>
#include <string.h>

/* One topic or filter and the answer for each kind of client. */
struct row {
	const char *s;
	bool anon, alice, bob; /* anonymous, the account "alice", the account "bob" */
};

typedef bool (*rule_fn)(const char *account, const uint8_t *s, size_t len);

static void check_rows(const char *what, rule_fn rule, const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *s = (const uint8_t *)rows[i].s;
		size_t len = strlen(rows[i].s);
		bool got[3] = { rule(NULL, s, len), rule("alice", s, len), rule("bob", s, len) };
		bool want[3] = { rows[i].anon, rows[i].alice, rows[i].bob };

		for (int k = 0; k < 3; k++)
			if (got[k] != want[k])
				fail_msg("%s '%s' by %s: %s, expected %s", what, rows[i].s,
					 k == 0 ? "anonymous" : k == 1 ? "alice" : "bob",
					 got[k] ? "allowed" : "refused",
					 want[k] ? "allowed" : "refused");
	}
}

#define ROWS(r) (r), sizeof(r) / sizeof((r)[0])

/* Deliveries: statuses and results to everyone, an inbox and notices to
 * their owner only (ASCII case ignored), votes to nobody, nothing else
 * under agora/users and agora/polls, everything outside. */
static void test_read(void **state)
{
	static const struct row rows[] = {
		{ "agora/users/alice/status", true, true, true },
		{ "agora/users/bob/status", true, true, true },
		{ "agora/users/alice/inbox", false, true, false },
		{ "agora/users/ALICE/inbox", false, true, false },
		{ "agora/users/bob/inbox", false, false, true },
		{ "agora/users/alicex/inbox", false, false, false },
		{ "agora/users/alic/inbox", false, false, false },
		{ "agora/users/alice/inbox/x", false, false, false },
		{ "agora/users/alice/status/x", false, false, false },
		{ "agora/users/alice/other", false, false, false },
		{ "agora/users/alice", false, false, false },
		{ "agora/users//inbox", false, false, false },
		{ "agora/users/", false, false, false },
		{ "agora/users", false, false, false },
		{ "agora/users/alice/notices", false, true, false },
		{ "agora/users/Alice/notices", false, true, false },
		{ "agora/users/bob/notices", false, false, true },
		{ "agora/users/alice/notices/x", false, false, false },
		{ "agora/polls/3/results", true, true, true },
		{ "agora/polls/x/results", true, true, true }, /* never published: harmless */
		{ "agora/polls/3/vote", false, false, false },
		{ "agora/polls/3/results/x", false, false, false },
		{ "agora/polls/3/other", false, false, false },
		{ "agora/polls//results", false, false, false },
		{ "agora/polls/3", false, false, false },
		{ "agora/polls/", false, false, false },
		{ "agora/polls", false, false, false },
		{ "agora/usersx/alice/inbox", true, true, true }, /* not a section */
		{ "agora/pollsx/3/vote", true, true, true },
		{ "agora/+x/alice/inbox", true, true, true },
		{ "agora/other", true, true, true },
		{ "agora/", true, true, true },
		{ "agora", true, true, true },
		{ "agorax/users/alice/inbox", true, true, true },
		{ "anything/else", true, true, true },
	};

	(void)state;
	check_rows("reading", access_may_read, ROWS(rows));
}

/* Subscriptions: refused when the filter can match only what the client
 * may not read; granted when it can reach a status, results, or the
 * client's own inbox or notices (what it then delivers is checked per
 * message). */
static void test_subscribe(void **state)
{
	static const struct row rows[] = {
		{ "agora/users/+/status", true, true, true },
		{ "agora/users/alice/status", true, true, true },
		{ "agora/users/alice/status/#", true, true, true }, /* '#' matches the parent */
		{ "agora/users/alice/+", true, true, true },
		{ "agora/users/alice/#", true, true, true },
		{ "agora/users/+/+", true, true, true },
		{ "agora/users/+/#", true, true, true },
		{ "agora/users/#", true, true, true },
		{ "agora/users/alice/inbox", false, true, false },
		{ "agora/users/Alice/inbox", false, true, false },
		{ "agora/users/alice/inbox/#", false, true, false },
		{ "agora/users/+/inbox", false, true, true }, /* own inbox among them */
		{ "agora/users/bob/inbox", false, false, true },
		{ "agora/users/carol/inbox", false, false, false },
		{ "agora/users/alice/inbox/x", false, false, false },
		{ "agora/users/alice/inbox/+", false, false, false },
		{ "agora/users/alice/status/+", false, false, false },
		{ "agora/users/alice/other", false, false, false },
		{ "agora/users/alice", false, false, false },
		{ "agora/users/+", false, false, false },
		{ "agora/users//status", false, false, false },
		{ "agora/users/", false, false, false },
		{ "agora/users", false, false, false },
		{ "agora/users/alice/notices", false, true, false },
		{ "agora/users/ALICE/notices/#", false, true, false },
		{ "agora/users/+/notices", false, true, true }, /* own notices among them */
		{ "agora/users/bob/notices", false, false, true },
		{ "agora/users/alice/notices/+", false, false, false },
		{ "agora/polls/+/results", true, true, true },
		{ "agora/polls/3/results", true, true, true },
		{ "agora/polls/3/results/#", true, true, true },
		{ "agora/polls/3/+", true, true, true },
		{ "agora/polls/+/+", true, true, true },
		{ "agora/polls/#", true, true, true },
		{ "agora/polls/+/#", true, true, true },
		{ "agora/polls/3/vote", false, false, false }, /* votes are never delivered */
		{ "agora/polls/+/vote", false, false, false },
		{ "agora/polls/+/vote/#", false, false, false },
		{ "agora/polls/3/results/x", false, false, false },
		{ "agora/polls/3/other", false, false, false },
		{ "agora/polls/3", false, false, false },
		{ "agora/polls/+", false, false, false },
		{ "agora/polls//results", false, false, false },
		{ "agora/polls/", false, false, false },
		{ "agora/polls", false, false, false },
		/* not in a section: granted, filtered per delivery */
		{ "#", true, true, true },
		{ "agora/#", true, true, true },
		{ "agora/+", true, true, true },
		{ "agora/+/+/vote", true, true, true },
		{ "+/users/+/inbox", true, true, true },
		{ "+/polls/+/vote", true, true, true },
		{ "agora/+/bob/inbox", true, true, true },
		{ "agora/chat/#", true, true, true },
		{ "agora", true, true, true },
	};

	(void)state;
	check_rows("subscribing to", access_may_subscribe, ROWS(rows));
}

/* Nothing a client sends is routed under agora/users or agora/polls,
 * wills included: the server publishes statuses, inbox messages, notices
 * and results itself, and takes votes. */
static void test_publish(void **state)
{
	static const struct row rows[] = {
		{ "agora/users/alice/status", false, false, false },
		{ "agora/users/alice/inbox", false, false, false },
		{ "agora/users/bob/inbox", false, false, false },
		{ "agora/users/x", false, false, false },
		{ "agora/users", false, false, false },
		{ "agora/users/alice/notices", false, false, false },
		{ "agora/polls/3/results", false, false, false },
		{ "agora/polls/3/vote", false, false, false }, /* taken before, never routed */
		{ "agora/polls/3/x", false, false, false },
		{ "agora/polls", false, false, false },
		{ "agora/usersx", true, true, true },
		{ "agora/chat/room", true, true, true },
		{ "agora", true, true, true },
		{ "some/topic", true, true, true },
	};

	(void)state;
	check_rows("publishing to", access_may_publish, ROWS(rows));
}

/* An account's PUBLISH on an inbox is a message to {name}, any name (the
 * store says whether the user exists); never an anonymous one. */
static void test_inbox_write(void **state)
{
	static const char *const refused[] = {
		"agora/users/bob/status", "agora/users/bob/inbox/x", "agora/users//inbox",
		"agora/users/inbox", "agora/users", "other/bob/inbox", "agora/users/bob/notices",
		"agora/polls/bob/inbox",
	};
	const char *topic = "agora/users/bob/inbox";
	const uint8_t *to = NULL;
	size_t to_len = 0;

	(void)state;
	assert_true(access_inbox_write("alice", (const uint8_t *)topic, strlen(topic), &to,
				       &to_len));
	assert_int_equal(to_len, 3);
	assert_memory_equal(to, "bob", 3);
	assert_true(access_inbox_write("bob", (const uint8_t *)topic, strlen(topic), &to,
				       &to_len)); /* to oneself, as over HTTP */
	assert_false(access_inbox_write(NULL, (const uint8_t *)topic, strlen(topic), &to,
					&to_len));
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (access_inbox_write("alice", (const uint8_t *)refused[i], strlen(refused[i]),
				       &to, &to_len))
			fail_msg("'%s' taken as an inbox write", refused[i]);
}

/* An account's PUBLISH on agora/polls/{id}/vote is its vote, whatever
 * {id} is (the bridge says whether it names a poll); never an anonymous
 * one. */
static void test_vote_write(void **state)
{
	static const char *const refused[] = {
		"agora/polls/3/results", "agora/polls/3/vote/x", "agora/polls//vote",
		"agora/polls/vote", "agora/polls", "other/polls/3/vote", "agora/users/3/vote",
	};
	const char *topic = "agora/polls/42/vote", *odd = "agora/polls/x1/vote";
	const uint8_t *id = NULL;
	size_t id_len = 0;

	(void)state;
	assert_true(access_vote_write("alice", (const uint8_t *)topic, strlen(topic), &id,
				      &id_len));
	assert_int_equal(id_len, 2);
	assert_memory_equal(id, "42", 2);
	assert_true(access_vote_write("bob", (const uint8_t *)odd, strlen(odd), &id, &id_len));
	assert_int_equal(id_len, 2);
	assert_memory_equal(id, "x1", 2);
	assert_false(access_vote_write(NULL, (const uint8_t *)topic, strlen(topic), &id,
				       &id_len));
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (access_vote_write("alice", (const uint8_t *)refused[i], strlen(refused[i]),
				      &id, &id_len))
			fail_msg("'%s' taken as a vote", refused[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_inbox_write),
		cmocka_unit_test(test_vote_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
