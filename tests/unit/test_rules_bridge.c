/*
 * test_rules_bridge.c - the rules wired to the API through the bridge
 * (server/bridge.h, server/rules_deps.h): the API's messages and status
 * changes become $events/message and $events/status, votes $events/vote,
 * a rule's message
 * action is stored and published like POST /api/messages, and its depth
 * goes with it, so that two accounts' auto-replies stop at
 * rules_max_depth. An in-memory store and API (api_harness.h), a broker
 * core, the service run by hand (no loop: rules_service_run).
 */
#include "api_harness.h"

#include "broker/broker.h"
#include "server/bridge.h"
#include "server/rules_deps.h"
#include "server/rules_service.h"

struct rig {
	struct fixture *f;
	struct broker *b;
	struct bridge br;
	struct rules_service *rs;
	char ann[128], bob[128];
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct broker_config bc;
	struct rules_deps deps;
	void *fs;

	setup(&fs);
	r->f = fs;
	broker_config_defaults(&bc);
	r->b = broker_new(&bc);
	r->br = (struct bridge){ .broker = r->b };
	bridge_attach(&r->br, r->f->api);
	rules_deps_init(&deps, &r->br);
	r->rs = rules_service_new(r->b, NULL, NULL, &deps, NULL);
	assert_non_null(r->rs);
	r->br.rules = r->rs;
	register_user(r->f, "ann", r->ann, sizeof(r->ann));
	register_user(r->f, "bob", r->bob, sizeof(r->bob));
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	void *fs = r->f;

	rules_service_free(r->rs);
	broker_free(r->b);
	teardown_fixture(&fs);
	free(r);
	return 0;
}

static void install(struct rig *r, int64_t id, const char *owner, const char *sql,
		    const char *actions)
{
	struct store_rule sr = { .id = id, .name = (char *)"r", .owner_name = (char *)owner,
				 .sql = (char *)sql, .actions = (char *)actions, .enabled = true };
	struct rules_error err = { 0 };

	assert_int_equal(rules_service_install(r->rs, &sr, &err), 0);
}

/* Runs the queued actions until none is left (bounded). */
static int drain(struct rig *r)
{
	int turns = 0;

	while (rules_service_pending(r->rs) && turns < 50) {
		rules_service_run(r->rs);
		turns++;
	}
	return turns;
}

static json_t *inbox(struct rig *r, const char *token)
{
	const char *const h[] = { token, NULL };

	assert_int_equal(call(r->f, "GET", "/api/messages", NULL, h), 200);
	return json_object_get(r->f->body, "messages");
}

/* A message sent over the API is $events/message with its JSON and its
 * sender; the rule's reply is stored in the sender's inbox, from the
 * rule's owner. */
static void test_message_event_and_reply(void **state)
{
	struct rig *r = *state;
	const char *const h[] = { r->ann, "content-type: application/json", NULL };
	struct rules_stats st;
	json_t *m;

	install(r, 1, "bob",
		"SELECT username, payload.content AS c FROM \"$events/message\" "
		"WHERE payload.\"to\" = 'bob' AND username != 'bob'",
		"[{\"type\":\"message\",\"to\":\"${username}\",\"content\":\"bob is away (${c})\"}]");
	assert_int_equal(call(r->f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"hi\"}", h),
			 201);
	assert_int_equal(drain(r), 1);
	m = inbox(r, r->ann);
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
			    "bob is away (hi)");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "from")), "bob");
	rules_service_stats(r->rs, 1, &st);
	assert_int_equal(st.matched, 2); /* ann's, then bob's reply */
	assert_int_equal(st.passed, 1);
	assert_int_equal(st.actions_ok, 1);
}

/* Two auto-replies answering each other: each reply one deeper, the
 * chain stops at rules_max_depth (4): four replies, one stop. */
static void test_reply_loop_stops(void **state)
{
	struct rig *r = *state;
	const char *const h[] = { r->ann, "content-type: application/json", NULL };
	struct rules_stats st;

	install(r, 1, "bob", "SELECT username FROM \"$events/message\" WHERE username = 'ann'",
		"[{\"type\":\"message\",\"to\":\"ann\",\"content\":\"from bob\"}]");
	install(r, 2, "ann", "SELECT username FROM \"$events/message\" WHERE username = 'bob'",
		"[{\"type\":\"message\",\"to\":\"bob\",\"content\":\"from ann\"}]");
	assert_int_equal(call(r->f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"go\"}", h),
			 201);
	assert_int_equal(drain(r), 4);
	assert_int_equal(json_array_size(inbox(r, r->ann)), 2); /* depths 1 and 3 */
	assert_int_equal(json_array_size(inbox(r, r->bob)), 3); /* "go", depths 2 and 4 */
	rules_service_stats(r->rs, 1, &st);
	assert_int_equal(st.loop_stopped, 1); /* the event at depth 4: neither rule runs */
	assert_int_equal(st.matched, 4);      /* depths 0 to 3 */
	rules_service_stats(r->rs, 2, &st);
	assert_int_equal(st.loop_stopped, 1);
}

/* A rule's message with a bad recipient fails with the API's reason. */
static void test_reply_refused(void **state)
{
	struct rig *r = *state;
	const char *const h[] = { r->ann, "content-type: application/json", NULL };
	struct rules_stats st;

	install(r, 1, "bob", "SELECT 1 FROM \"$events/message\"",
		"[{\"type\":\"message\",\"to\":\"nobody\",\"content\":\"x\"}]");
	assert_int_equal(call(r->f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"hi\"}", h),
			 201);
	drain(r);
	rules_service_stats(r->rs, 1, &st);
	assert_int_equal(st.actions_failed, 1);
	assert_string_equal(st.last_error, "message: no such user");
}

/* A status change is $events/status with {"name","status",...}. */
static void test_status_event(void **state)
{
	struct rig *r = *state;
	const char *const h[] = { r->ann, "content-type: application/json", NULL };
	json_t *m;

	install(r, 1, "bob",
		"SELECT payload.name AS n, payload.status AS s, event FROM \"$events/status\"",
		"[{\"type\":\"message\",\"to\":\"bob\",\"content\":\"${event}: ${n} is ${s}\"}]");
	assert_int_equal(call(r->f, "PATCH", "/api/users/ann", "{\"status\":\"busy\"}", h), 200);
	drain(r);
	m = inbox(r, r->bob);
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
			    "status: ann is busy");
}

/* A vote (the survey case): $events/vote with the poll, the option's
 * label and number and the voter, as docs/rules.md shows; the rule's
 * reply depends on the answer and lands in the voter's inbox. */
static void test_vote_event(void **state)
{
	struct rig *r = *state;
	const char *const ha[] = { r->ann, "content-type: application/json", NULL };
	const char *const hb[] = { r->bob, "content-type: application/json", NULL };
	char path[64], want[256];
	json_int_t id;
	json_t *m;

	install(r, 1, "ann",
		"SELECT payload.voter AS voter, payload.option AS o, payload FROM \"$events/vote\"",
		"[{\"type\":\"message\",\"to\":\"${voter}\","
		"\"content\":\"You chose ${o}: ${payload}\"}]");
	assert_int_equal(call(r->f, "POST", "/api/polls",
			      "{\"question\":\"Tea?\",\"options\":[\"yes\",\"no\"]}", ha),
			 201);
	id = json_integer_value(json_object_get(r->f->body, "id"));
	snprintf(path, sizeof(path), "/api/polls/%lld/votes", (long long)id);
	assert_int_equal(call(r->f, "POST", path, "{\"option\":\"no\"}", hb), 201);
	drain(r);
	m = inbox(r, r->bob);
	assert_int_equal(json_array_size(m), 1);
	snprintf(want, sizeof(want),
		 "You chose no: {\"poll_id\":%lld,\"option\":\"no\",\"option_number\":2,"
		 "\"voter\":\"bob\",\"changed\":false}",
		 (long long)id);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
			    want);
}

/* /metrics has the rules' counters after the server's own. */
static void test_metrics(void **state)
{
	struct rig *r = *state;
	const char *const h[] = { r->ann, "content-type: application/json", NULL };

	install(r, 1, "bob", "SELECT 1 FROM \"$events/message\"",
		"[{\"type\":\"record\",\"collection\":\"x\"}]");
	assert_int_equal(call(r->f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"hi\"}", h),
			 201);
	assert_int_equal(call(r->f, "GET", "/metrics", NULL, NULL), 200);
	assert_non_null(strstr(r->f->rs.body, "\nagora_rule_matched_total{rule=\"r\"} 1\n"));
	assert_non_null(strstr(r->f->rs.body, "\nagora_rules_queue_overflow_total 0\n"));
	assert_non_null(strstr(r->f->rs.body, "\nagora_mqtt_connections 0\n"));
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, rig_setup, rig_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_message_event_and_reply),
		TEST(test_reply_loop_stops),
		TEST(test_reply_refused),
		TEST(test_status_event),
		TEST(test_vote_event),
		TEST(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
