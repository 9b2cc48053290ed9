/*
 * test_access.c - the visibility rule of agora/users (src/server/access.h,
 * docs/api.md "Who sees what"), case by case: what an anonymous client, the
 * owner and another account may read, subscribe to and publish.
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

/* Deliveries: statuses to everyone, an inbox to its owner only (ASCII case
 * ignored), nothing else under agora/users, everything outside. */
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
		{ "agora/usersx/alice/inbox", true, true, true }, /* not under the prefix */
		{ "agora/other", true, true, true },
		{ "anything/else", true, true, true },
	};

	(void)state;
	check_rows("reading", access_may_read, ROWS(rows));
}

/* Subscriptions: refused when the filter can match only what the client
 * may not read; granted when it can reach a status or the client's own
 * inbox (what it then delivers is checked per message). */
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
		/* not under the prefix: granted, filtered per delivery */
		{ "#", true, true, true },
		{ "agora/#", true, true, true },
		{ "+/users/+/inbox", true, true, true },
		{ "agora/+/bob/inbox", true, true, true },
	};

	(void)state;
	check_rows("subscribing to", access_may_subscribe, ROWS(rows));
}

/* Nothing a client sends is routed under agora/users, wills included: the
 * server publishes statuses and inbox messages itself. */
static void test_publish(void **state)
{
	static const struct row rows[] = {
		{ "agora/users/alice/status", false, false, false },
		{ "agora/users/alice/inbox", false, false, false },
		{ "agora/users/bob/inbox", false, false, false },
		{ "agora/users/x", false, false, false },
		{ "agora/users", false, false, false },
		{ "agora/usersx", true, true, true },
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
		"agora/users/inbox", "agora/users", "other/bob/inbox",
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_inbox_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
