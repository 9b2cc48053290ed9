/*
 * test_rules_service.c - the rules at work (server/rules_service.h) over a
 * real broker core (broker_client.h's clients, no sockets) and a real
 * libuv loop for the idle turn that carries actions out; deps are stubs
 * that record their calls. A dead webhook runs through a real notify
 * queue against a loopback port nobody listens on.
 */
#include "broker_client.h"

#include "api/api.h"
#include "base/text.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"
#include "net/net.h"
#include "notify/notify.h"
#include "server/rules_service.h"
#include "store/store.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 10000

/* ---- stub deps ---- */

struct calls {
	int messages, records;
	char from[32], to[32], content[256];
	unsigned depth;
	char collection[80], data[512];
	int64_t rule_id;
	bool fail; /* answer -1 */
};

static int stub_send(void *ctx, const char *from, const char *to, const char *content,
		     unsigned depth, char *why, size_t cap)
{
	struct calls *c = ctx;

	c->messages++;
	snprintf(c->from, sizeof(c->from), "%s", from);
	snprintf(c->to, sizeof(c->to), "%s", to);
	snprintf(c->content, sizeof(c->content), "%s", content);
	c->depth = depth;
	if (c->fail)
		snprintf(why, cap, "no such user");
	return c->fail ? -1 : 0;
}

static int stub_record(void *ctx, const char *collection, int64_t rule_id, const char *data,
		       char *why, size_t cap)
{
	struct calls *c = ctx;

	(void)why, (void)cap;
	c->records++;
	snprintf(c->collection, sizeof(c->collection), "%s", collection);
	snprintf(c->data, sizeof(c->data), "%s", data);
	c->rule_id = rule_id;
	return 0;
}

/* ---- the fixture: a loop, a net (for its loop), a broker, the service ---- */

struct fx {
	uv_loop_t loop;
	struct net *net;
	struct broker *b;
	struct notify *notify;
	struct rules_service *rs;
	struct calls calls;
};

static struct fx *fx_new(unsigned max_depth, struct notify_config *nc)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rules_deps deps = { &f->calls, stub_send, stub_record };
	struct rules_service_config cfg = { .max_depth = max_depth };

	uv_loop_init(&f->loop);
	f->net = net_new(&f->loop);
	f->b = default_broker();
	if (nc)
		f->notify = notify_new(&f->loop, nc);
	f->rs = rules_service_new(f->b, f->net, f->notify, &deps, &cfg);
	assert_non_null(f->rs);
	return f;
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void fx_free(struct fx *f)
{
	rules_service_free(f->rs); /* its idle handle closes with the loop's run */
	notify_free(f->notify);
	uv_walk(&f->loop, close_any, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	net_free(f->net);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
}

/* One loop turn that does not block: the idle phase runs queued actions. */
static void turn(struct fx *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int install(struct fx *f, int64_t id, const char *name, const char *sql,
		   const char *actions, bool enabled)
{
	struct store_rule r = {
		.id = id,
		.name = (char *)name,
		.owner_name = (char *)"admin",
		.sql = (char *)sql,
		.actions = (char *)actions,
		.enabled = enabled,
	};
	struct rules_error err = { 0 };
	int rc = rules_service_install(f->rs, &r, &err);

	if (rc)
		print_message("install: %s at %d\n", err.message, err.position);
	return rc;
}

static struct rules_stats rstats(struct fx *f, int64_t id)
{
	struct rules_stats s;

	rules_service_stats(f->rs, id, &s);
	return s;
}

/* ---- republish ---- */

/* A rule's republish reaches a subscriber on the loop's next turn, not
 * inside the publish, with its rendered topic and payload and, for an
 * MQTT 5 subscriber, its content type and user properties. */
static void test_republish_reaches_subscriber(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	struct broker_client *sub = connect5(f->b, "sub", true, 0, false);
	const char *const pairs[][2] = { { "from", "pub" } };
	struct mqtt_packet p;

	(void)state;
	assert_int_equal(install(f, 1, "temp",
				 "SELECT payload.t AS t, clientid FROM \"s/+\" WHERE payload.t > 20",
				 "[{\"type\":\"republish\",\"topic\":\"alerts/${clientid}\","
				 "\"payload\":\"hot: ${t}\",\"qos\":1,\"content_type\":\"text/plain\","
				 "\"user_properties\":{\"from\":\"${clientid}\"}}]",
				 true),
			 0);
	subscribe5(f->b, sub, "alerts/#", 1, 0);
	publish(f->b, pub, "s/k", "{\"t\":21.5}", 0, false);
	publish(f->b, pub, "s/k", "{\"t\":19}", 0, false);
	expect_nothing(sub); /* queued, not published inside the tap */
	assert_true(rules_service_pending(f->rs));
	turn(f);
	assert_false(rules_service_pending(f->rs));
	expect_publish(sub, "alerts/pub", "hot: 21.5", 1, false, &p);
	assert_true(has_prop(&p.u.publish.props, MQTT_PROP_CONTENT_TYPE));
	assert_pstr(p.u.publish.props.content_type, "text/plain", 10);
	expect_user_props(&p.u.publish.props, pairs, 1);
	client_send_ack(f->b, sub, MQTT_PUBACK, p.u.publish.packet_id);
	expect_nothing(sub);
	assert_int_equal(rstats(f, 1).matched, 2);
	assert_int_equal(rstats(f, 1).passed, 1);
	assert_int_equal(rstats(f, 1).actions_ok, 1);
	fx_free(f);
}

/* A rendered topic that is not a topic a rule may publish to (a wildcard,
 * $SYS) fails the action when the rule passes: counted, its error kept,
 * nothing published. */
static void test_republish_topic_checked(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	struct broker_client *sub = connect311(f->b, "sub", true, 0, false);

	(void)state;
	assert_int_equal(install(f, 1, "r", "SELECT payload AS p FROM \"in\"",
				 "[{\"type\":\"republish\",\"topic\":\"out/${p}\"}]", true),
			 0);
	subscribe311(f->b, sub, "#", 0);
	publish(f->b, pub, "in", "#", 0, false);
	expect_publish(sub, "in", "#", 0, false, NULL);
	turn(f);
	expect_nothing(sub);
	assert_int_equal(rstats(f, 1).actions_failed, 1);
	assert_non_null(strstr(rstats(f, 1).last_error, "actions[0].topic"));
	assert_int_equal(install(f, 1, "r", "SELECT payload AS p FROM \"in\"",
				 "[{\"type\":\"republish\",\"topic\":\"${p}/x\"}]", true),
			 0);
	publish(f->b, pub, "in", "$SYS", 0, false);
	expect_publish(sub, "in", "$SYS", 0, false, NULL);
	turn(f);
	expect_nothing(sub);
	assert_int_equal(rstats(f, 1).actions_failed, 2);
	fx_free(f);
}

/* ---- message and record ---- */

/* A message action calls send_message from the rule's owner with its
 * rendered fields at depth + 1; a failure is counted with its reason. */
static void test_message_action(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);

	(void)state;
	assert_int_equal(install(f, 7, "survey",
				 "SELECT payload.voter AS voter, payload.answer AS a FROM "
				 "\"surveys/+/answers\"",
				 "[{\"type\":\"message\",\"to\":\"${voter}\","
				 "\"content\":\"Thanks! You said ${a}.\"}]",
				 true),
			 0);
	publish(f->b, pub, "surveys/3/answers", "{\"voter\":\"ann\",\"answer\":\"yes\"}", 0,
		false);
	assert_int_equal(f->calls.messages, 0);
	turn(f);
	assert_int_equal(f->calls.messages, 1);
	assert_string_equal(f->calls.from, "admin");
	assert_string_equal(f->calls.to, "ann");
	assert_string_equal(f->calls.content, "Thanks! You said yes.");
	assert_int_equal(f->calls.depth, 1);
	assert_int_equal(rstats(f, 7).actions_ok, 1);
	f->calls.fail = true;
	publish(f->b, pub, "surveys/3/answers", "{\"voter\":\"bob\",\"answer\":\"no\"}", 0, false);
	turn(f);
	assert_int_equal(f->calls.messages, 2);
	assert_int_equal(rstats(f, 7).actions_failed, 1);
	assert_string_equal(rstats(f, 7).last_error, "message: no such user");
	fx_free(f);
}

/* A record action hands the selected row as one JSON object (${*}). */
static void test_record_action(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	json_t *row;

	(void)state;
	assert_int_equal(install(f, 3, "support",
				 "SELECT payload.subject AS subject, qos, clientid FROM "
				 "\"support/requests\"",
				 "[{\"type\":\"record\",\"collection\":\"requests\"}]", true),
			 0);
	publish(f->b, pub, "support/requests", "{\"subject\":\"urgent: printer\"}", 1, false);
	turn(f);
	assert_int_equal(f->calls.records, 1);
	assert_string_equal(f->calls.collection, "requests");
	assert_int_equal(f->calls.rule_id, 3);
	row = json_loads(f->calls.data, 0, NULL);
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "subject")), "urgent: printer");
	assert_int_equal(json_integer_value(json_object_get(row, "qos")), 1);
	assert_string_equal(json_string_value(json_object_get(row, "clientid")), "pub");
	assert_int_equal(json_object_size(row), 3);
	json_decref(row);
	fx_free(f);
}

/* ---- evaluation ---- */

/* A message matching two of a rule's sources is evaluated once. */
static void test_overlapping_sources_once(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);

	(void)state;
	assert_int_equal(install(f, 1, "two", "SELECT * FROM \"a/#\", \"a/+/c\"",
				 "[{\"type\":\"record\",\"collection\":\"x\"}]", true),
			 0);
	publish(f->b, pub, "a/b/c", "1", 0, false);
	assert_int_equal(rstats(f, 1).matched, 1);
	publish(f->b, pub, "a/b", "2", 0, false);
	assert_int_equal(rstats(f, 1).matched, 2);
	turn(f);
	assert_int_equal(f->calls.records, 2);
	fx_free(f);
}

/* A rule republishing to its own source runs max_depth times for one
 * message, then stops (counted): one link per loop turn, never forever. */
static void test_loop_stopped(void **state)
{
	struct fx *f = fx_new(3, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	struct broker_client *sub = connect311(f->b, "sub", true, 0, false);
	int turns = 0;

	(void)state;
	assert_int_equal(install(f, 1, "loop", "SELECT payload FROM \"loop/#\"",
				 "[{\"type\":\"republish\",\"topic\":\"loop/again\","
				 "\"payload\":\"${payload}+\"}]",
				 true),
			 0);
	subscribe311(f->b, sub, "loop/#", 0);
	publish(f->b, pub, "loop/start", "x", 0, false);
	expect_publish(sub, "loop/start", "x", 0, false, NULL);
	while (rules_service_pending(f->rs) && turns < 20) {
		turn(f);
		turns++;
	}
	assert_int_equal(turns, 3);
	expect_publish(sub, "loop/again", "x+", 0, false, NULL);
	expect_publish(sub, "loop/again", "x++", 0, false, NULL);
	expect_publish(sub, "loop/again", "x+++", 0, false, NULL);
	expect_nothing(sub);
	assert_int_equal(rstats(f, 1).matched, 3); /* depths 0, 1, 2 */
	assert_int_equal(rstats(f, 1).loop_stopped, 1);
	fx_free(f);
}

/* An evaluation that fails (json_extract over a payload that is not JSON)
 * is counted with its error; no action runs. */
static void test_failed_evaluation(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);

	(void)state;
	assert_int_equal(install(f, 1, "j", "SELECT payload.x FROM \"j\"",
				 "[{\"type\":\"record\",\"collection\":\"x\"}]", true),
			 0);
	publish(f->b, pub, "j", "not json", 0, false);
	turn(f);
	assert_int_equal(rstats(f, 1).failed, 1);
	assert_non_null(strstr(rstats(f, 1).last_error, "JSON"));
	assert_int_equal(f->calls.records, 0);
	fx_free(f);
}

/* ---- install, replace, uninstall, disable ---- */

/* A replacement takes the old taps away and keeps the counters; a failing
 * one leaves the rule as it was; uninstall removes it, its queued actions
 * too. */
static void test_install_replace_uninstall(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	const char *rec = "[{\"type\":\"record\",\"collection\":\"x\"}]";

	(void)state;
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"a/#\"", rec, true), 0);
	publish(f->b, pub, "a/1", "1", 0, false);
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"b/#\"", rec, true), 0);
	publish(f->b, pub, "a/1", "2", 0, false); /* no longer a source */
	assert_int_equal(rstats(f, 1).matched, 1);
	publish(f->b, pub, "b/1", "3", 0, false);
	assert_int_equal(rstats(f, 1).matched, 2);
	/* a broken replacement: refused, the rule still on b/# */
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"c/#\" WHERE (", rec, true), -1);
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"c/#\"", "[{\"type\":\"nope\"}]", true),
			 -1);
	publish(f->b, pub, "b/1", "4", 0, false);
	publish(f->b, pub, "c/1", "5", 0, false);
	assert_int_equal(rstats(f, 1).matched, 3);
	/* uninstalled with 3 actions queued: none runs */
	rules_service_uninstall(f->rs, 1);
	turn(f);
	assert_int_equal(f->calls.records, 0);
	assert_int_equal(rstats(f, 1).matched, 0);
	publish(f->b, pub, "b/1", "6", 0, false);
	assert_false(rules_service_pending(f->rs));
	fx_free(f);
}

/* A disabled rule keeps its counters and evaluates nothing. */
static void test_disabled_rule(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	const char *rec = "[{\"type\":\"record\",\"collection\":\"x\"}]";

	(void)state;
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"a/#\"", rec, true), 0);
	publish(f->b, pub, "a/1", "1", 0, false);
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"a/#\"", rec, false), 0);
	publish(f->b, pub, "a/1", "2", 0, false);
	assert_int_equal(rstats(f, 1).matched, 1);
	turn(f);
	assert_int_equal(f->calls.records, 1); /* the one before */
	fx_free(f);
}

/* ---- events ---- */

/* $events/client_connected, _disconnected and subscribed from the broker,
 * their payload JSON as docs/rules.md shows it; an event from the API
 * (rules_service_event) at its depth. */
static void test_events(void **state)
{
	struct fx *f = fx_new(0, NULL);
	const char *rec = "[{\"type\":\"record\",\"collection\":\"ev\"}]";
	struct broker_client *c;

	(void)state;
	assert_int_equal(install(f, 1, "conn",
				 "SELECT event, topic, payload, clientid FROM "
				 "\"$events/client_connected\", \"$events/client_disconnected\"",
				 rec, true),
			 0);
	assert_int_equal(install(f, 2, "subs", "SELECT payload.filter AS f, payload.qos AS q FROM "
					       "\"$events/subscribed\"",
				 rec, true),
			 0);
	c = connect311(f->b, "dev1", true, 0, false);
	turn(f);
	assert_int_equal(f->calls.records, 1);
	assert_string_equal(f->calls.data,
			    "{\"event\":\"client_connected\",\"topic\":\"$events/client_connected\","
			    "\"payload\":\"{\\\"clientid\\\":\\\"dev1\\\",\\\"username\\\":null,"
			    "\\\"peer\\\":\\\"t:1\\\"}\",\"clientid\":\"dev1\"}");
	subscribe311(f->b, c, "x/#", 1);
	turn(f);
	assert_int_equal(f->calls.records, 2);
	assert_string_equal(f->calls.data, "{\"f\":\"x/#\",\"q\":1}");
	broker_client_close(f->b, c, CLOSE_PEER, NULL);
	turn(f);
	assert_int_equal(f->calls.records, 3);
	assert_non_null(strstr(f->calls.data, "\\\"reason\\\":\\\""));
	assert_non_null(strstr(f->calls.data, "client_disconnected"));
	/* an API event, caused by an action at depth 3: rules_max_depth 4 lets
	 * it run; at 4 it stops */
	assert_int_equal(install(f, 3, "msg", "SELECT payload.content AS c, username FROM "
					      "\"$events/message\"",
				 "[{\"type\":\"message\",\"to\":\"${username}\",\"content\":\"re: ${c}\"}]",
				 true),
			 0);
	rules_service_event(f->rs, RULES_EVENT_MESSAGE, "{\"content\":\"hi\"}", "ann", NULL, 3);
	rules_service_event(f->rs, RULES_EVENT_MESSAGE, "{\"content\":\"hi\"}", "ann", NULL, 4);
	rules_service_event(f->rs, RULES_EVENT_STATUS, "{}", "ann", NULL, 0); /* no rule: nothing */
	turn(f);
	assert_int_equal(f->calls.messages, 1);
	assert_string_equal(f->calls.to, "ann");
	assert_string_equal(f->calls.content, "re: hi");
	assert_int_equal(f->calls.depth, 4);
	assert_int_equal(rstats(f, 3).loop_stopped, 1);
	drop_client(f->b, c);
	fx_free(f);
}

/* ---- webhooks ---- */

/* A port on 127.0.0.1 that refuses connections: bound, then closed. */
static int dead_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void on_guard(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* A webhook to a dead server: the republish of the same rule goes out on
 * the first turn all the same; the webhook fails after its tries and is
 * counted against the rule by its tag; one over the queue's bound fails
 * at once as overflow. */
static void test_dead_webhook(void **state)
{
	struct notify_config nc;
	struct fx *f;
	struct broker_client *pub, *sub;
	char actions[512];
	uv_timer_t guard;
	bool expired = false;

	(void)state;
	notify_config_defaults(&nc);
	nc.queue_max = 1;
	nc.retry_base_ms = 1;
	f = fx_new(0, &nc);
	pub = connect311(f->b, "pub", true, 0, false);
	sub = connect311(f->b, "sub", true, 0, false);
	subscribe311(f->b, sub, "out", 0);
	snprintf(actions, sizeof(actions),
		 "[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:%d/hook\","
		 "\"headers\":{\"X-Rule\":\"${topic}\"},\"timeout_ms\":2000},"
		 "{\"type\":\"republish\",\"topic\":\"out\",\"payload\":\"${payload}\"}]",
		 dead_port());
	assert_int_equal(install(f, 5, "hook", "SELECT * FROM \"in\"", actions, true), 0);
	publish(f->b, pub, "in", "1", 0, false);
	publish(f->b, pub, "in", "2", 0, false);
	turn(f);
	expect_publish(sub, "out", "1", 0, false, NULL);
	expect_publish(sub, "out", "2", 0, false, NULL);
	/* the second webhook found the queue (1 job) full: failed at once */
	assert_int_equal(rstats(f, 5).actions_failed, 1);
	assert_non_null(strstr(rstats(f, 5).last_error, "webhook"));
	assert_int_equal(notify_stats(f->notify)->overflow, 1);
	uv_timer_init(&f->loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, on_guard, WAIT_MS, 0);
	while (rstats(f, 5).actions_failed < 2 && !expired)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	assert_int_equal(rstats(f, 5).actions_failed, 2);
	assert_int_equal(rstats(f, 5).actions_ok, 2); /* the republishes */
	assert_non_null(strstr(rstats(f, 5).last_error, "webhook: "));
	assert_int_equal(notify_stats(f->notify)->failed, 1);
	/* detached (a server stopping): a webhook now fails at once, counted */
	rules_service_set_notify(f->rs, NULL);
	publish(f->b, pub, "in", "3", 0, false);
	turn(f);
	expect_publish(sub, "out", "3", 0, false, NULL);
	assert_int_equal(rstats(f, 5).actions_failed, 3);
	assert_string_equal(rstats(f, 5).last_error, "webhook: no outbound queue in this server");
	fx_free(f);
}

/* A server's end: every handle closed (uv_walk), then a connection's last
 * events still reach the rules. Their actions wait (never run, the idle
 * handle is not started again) and go with the service. */
static void on_timer(uv_timer_t *t)
{
	(void)t;
}

static void test_events_after_handles_closed(void **state)
{
	struct fx *f = fx_new(0, NULL);
	uv_timer_t timer;
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);

	(void)state;
	assert_int_equal(install(f, 1, "r", "SELECT * FROM \"a\"",
				 "[{\"type\":\"record\",\"collection\":\"x\"}]", true),
			 0);
	uv_walk(&f->loop, close_any, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	publish(f->b, pub, "a", "1", 0, false);
	assert_true(rules_service_pending(f->rs));
	uv_run(&f->loop, UV_RUN_DEFAULT); /* nothing left to run: returns */
	assert_int_equal(f->calls.records, 0);
	rules_service_free(f->rs);
	f->rs = NULL;
	/* one more turn of the loop: a handle started again after its close
	 * and freed would be walked there (ASan) */
	uv_timer_init(&f->loop, &timer);
	uv_timer_start(&timer, on_timer, 1, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	net_free(f->net);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
}

/* ---- the dry run ---- */

static json_t *dry_run(struct fx *f, const char *sql, const char *actions, const char *sample)
{
	struct api_rules api;
	struct store_rule r = { .id = 9, .name = (char *)"t", .owner_name = (char *)"admin",
				.sql = (char *)sql, .actions = (char *)actions, .enabled = true };
	struct rules_error err = { 0 };
	char *text;
	json_t *o;

	rules_service_api(f->rs, &api);
	text = api.test(api.ctx, &r, sample, &err);
	if (!text)
		return json_pack("{s:s,s:i}", "invalid", err.message, "position", err.position);
	o = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(o);
	return o;
}

/* The test hook: fields and every action rendered, nothing carried out,
 * nothing installed; a failing action shows its error; the outcomes. */
static void test_dry_run(void **state)
{
	struct fx *f = fx_new(0, NULL);
	const char *actions =
	    "[{\"type\":\"republish\",\"topic\":\"out/${s}\",\"retain\":true,"
	    "\"user_properties\":{\"k\":\"${s}\"}},"
	    "{\"type\":\"message\",\"to\":\"${username}\",\"content\":\"got ${s}\"},"
	    "{\"type\":\"record\",\"collection\":\"c\"},"
	    "{\"type\":\"webhook\",\"url\":\"https://h/${s}\",\"method\":\"PUT\","
	    "\"headers\":{\"X-A\":\"${s}\"},\"body\":\"b\"},"
	    "{\"type\":\"email\",\"to\":\"a@b.c\",\"subject\":\"S ${s}\",\"body\":\"B\"},"
	    "{\"type\":\"republish\",\"topic\":\"${s}/#\"}]";
	json_t *o, *a;

	(void)state;
	o = dry_run(f, "SELECT payload.s AS s, username FROM \"in/#\"", actions,
		    "{\"topic\":\"in/1\",\"payload\":{\"s\":\"x\"},\"username\":\"ann\"}");
	assert_true(json_is_true(json_object_get(o, "matched")));
	assert_true(json_is_true(json_object_get(o, "passed")));
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "passed");
	assert_true(json_is_null(json_object_get(o, "error")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "fields"), "s")),
			    "x");
	a = json_object_get(o, "actions");
	assert_int_equal(json_array_size(a), 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "topic")),
			    "out/x");
	assert_true(json_is_true(json_object_get(json_array_get(a, 0), "retain")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "payload")),
			    "{\"s\":\"x\",\"username\":\"ann\"}");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(a, 0), "user_properties"), "k")),
			    "x");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "from")),
			    "admin");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "content")),
			    "got x");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(a, 2), "data"), "username")),
			    "ann");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 3), "method")),
			    "PUT");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 3), "url")),
			    "https://h/x");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(a, 3), "headers"), "X-A")),
			    "x");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 4), "subject")),
			    "S x");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(a, 5), "error")),
			       "topic"));
	json_decref(o);
	assert_int_equal(f->calls.messages + f->calls.records, 0);
	assert_int_equal(rstats(f, 9).matched, 0); /* not installed */

	o = dry_run(f, "SELECT * FROM \"in/#\" WHERE payload = 'y'", "[{\"type\":\"record\","
		    "\"collection\":\"c\"}]", "{\"topic\":\"other\",\"payload\":\"n\"}");
	assert_true(json_is_false(json_object_get(o, "matched")));
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "not_passed");
	assert_int_equal(json_array_size(json_object_get(o, "actions")), 0);
	json_decref(o);

	o = dry_run(f, "SELECT payload.x FROM \"$events/vote\"", "[{\"type\":\"record\","
		    "\"collection\":\"c\"}]", "{\"event\":\"vote\",\"payload\":\"nope\"}");
	assert_true(json_is_true(json_object_get(o, "matched")));
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "failed");
	assert_true(json_is_string(json_object_get(o, "error")));
	json_decref(o);

	o = dry_run(f, "SELECT * FROM \"a\"", "[{\"type\":\"record\",\"collection\":\"c\"}]",
		    "{\"topic\":\"a/#\"}");
	assert_non_null(strstr(json_string_value(json_object_get(o, "invalid")), "sample"));
	json_decref(o);
	fx_free(f);
}

/* ---- /metrics ---- */

static void test_metrics(void **state)
{
	struct fx *f = fx_new(0, NULL);
	struct broker_client *pub = connect311(f->b, "pub", true, 0, false);
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(install(f, 1, "we\"ird", "SELECT * FROM \"m\"",
				 "[{\"type\":\"record\",\"collection\":\"x\"}]", true),
			 0);
	publish(f->b, pub, "m", "1", 0, false);
	turn(f);
	rules_service_metrics(f->rs, &buf, &len);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	assert_non_null(strstr(buf, "agora_rule_matched_total{rule=\"we\\\"ird\"} 1\n"));
	assert_non_null(strstr(buf, "agora_rule_passed_total{rule=\"we\\\"ird\"} 1\n"));
	assert_non_null(
	    strstr(buf, "agora_rule_actions_total{rule=\"we\\\"ird\",result=\"ok\"} 1\n"));
	assert_non_null(
	    strstr(buf, "agora_rule_actions_total{rule=\"we\\\"ird\",result=\"failed\"} 0\n"));
	assert_non_null(strstr(buf, "agora_rules_queue_overflow_total 0\n"));
	free(buf);
	fx_free(f);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_republish_reaches_subscriber),
		TEST(test_republish_topic_checked),
		TEST(test_message_action),
		TEST(test_record_action),
		TEST(test_overlapping_sources_once),
		TEST(test_loop_stopped),
		TEST(test_failed_evaluation),
		TEST(test_install_replace_uninstall),
		TEST(test_disabled_rule),
		TEST(test_events),
		TEST(test_dead_webhook),
		TEST(test_events_after_handles_closed),
		TEST(test_dry_run),
		TEST(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
