/*
 * test_journal.c - the broker's durable state (broker.h "Durable state",
 * src/broker/journal.h): what a broker records, and a second broker
 * rebuilt from those records, as after a restart. No file is involved:
 * the records a broker wrote are fed to the next one as the server does
 * from its log.
 *
 * Every scenario runs twice: from the records as written one by one (the
 * log after `kill -9`), and from a snapshot of the state (the log after a
 * rewrite, or a clean stop).
 */
#include "broker_client.h"

#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Wall clock at T0 (ms since the epoch): 2026-12-06, far from 0. */
#define WALL0 1796515200000ull

enum source { FROM_LOG, FROM_SNAPSHOT };

/* test_<name>_log and test_<name>_snapshot: scenario fn run both ways. */
#define BOTH_WAYS(name, fn)                                                                    \
	static void test_##name##_log(void **state)                                            \
	{                                                                                      \
		(void)state;                                                                   \
		fn(FROM_LOG);                                                                  \
	}                                                                                      \
	static void test_##name##_snapshot(void **state)                                       \
	{                                                                                      \
		(void)state;                                                                   \
		fn(FROM_SNAPSHOT);                                                             \
	}

static struct broker *durable_broker(void)
{
	struct broker *b = default_broker();

	broker_set_wall_clock(b, WALL0);
	broker_journal_on(b);
	return b;
}

/* Records gathered from one broker. */
struct records {
	uint8_t *data;
	size_t len;
};

static int gather(void *ctx, const uint8_t *rec, size_t len)
{
	struct records *r = ctx;

	assert_true(len > 0);
	r->data = realloc(r->data, r->len + len);
	assert_non_null(r->data);
	memcpy(r->data + r->len, rec, len);
	r->len += len;
	return 0;
}

/* The state of a as the next broker would read it: its whole journal so
 * far, or a snapshot taken in small pieces (each a whole number of
 * records, which the restore checks by refusing a partial one). */
static struct records state_of(struct broker *a, enum source src)
{
	struct records r = { 0 };
	size_t len;
	const uint8_t *j;

	if (src == FROM_SNAPSHOT) {
		assert_int_equal(broker_snapshot(a, 64, gather, &r), 0);
		return r;
	}
	j = broker_journal(a, &len);
	if (j)
		gather(&r, j, len);
	return r;
}

/* A broker started ms_later after a's T0 (wall clock), from records. */
static struct broker *restart_from(struct records *r, uint64_t ms_later,
				   struct broker_restore_stats *st)
{
	struct broker *b = default_broker();
	struct broker_restore_stats ignored;

	broker_set_wall_clock(b, WALL0 + ms_later);
	if (r->len)
		assert_int_equal(broker_restore(b, r->data, r->len), 0);
	broker_restore_done(b, st ? st : &ignored);
	broker_journal_on(b);
	free(r->data);
	r->data = NULL;
	return b;
}

/* Captures a's state and frees a and its clients (the process is gone),
 * then starts the next broker from that state. */
static struct broker *restart(struct broker *a, enum source src, uint64_t ms_later,
			      struct broker_restore_stats *st)
{
	struct records r = state_of(a, src);

	teardown(NULL); /* every client, then a: nothing they do now is recorded */
	return restart_from(&r, ms_later, st);
}

static void ack_all_qos1(struct broker *b, struct broker_client *c, int n)
{
	for (int i = 0; i < n; i++) {
		struct mqtt_packet p;

		expect_packet(c, MQTT_PUBLISH, &p);
		client_send_ack(b, c, MQTT_PUBACK, p.u.publish.packet_id);
	}
}

/* ---- what is recorded ---- */

static void test_clean_sessions_and_qos0_cost_nothing(void **state)
{
	struct broker *b = durable_broker();
	struct broker_client *sub = connect311(b, "sub", true, 0, false);
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	size_t len;

	(void)state;
	subscribe311(b, sub, "t/#", 1);
	publish(b, pub, "t/a", "x", 0, false);
	publish(b, pub, "t/a", "y", 1, false);
	expect_publish(sub, "t/a", "x", 0, false, NULL);
	ack_all_qos1(b, sub, 1);
	assert_null(broker_journal(b, &len));
	assert_int_equal(len, 0);
}

static void test_journal_clear(void **state)
{
	struct broker *b = durable_broker();
	struct broker_client *pub = connect311(b, "pub", true, 0, false);
	size_t len;

	(void)state;
	publish(b, pub, "r", "kept", 0, true);
	assert_non_null(broker_journal(b, &len));
	assert_true(len > 4);
	broker_journal_clear(b);
	assert_null(broker_journal(b, &len));
}

/* ---- retained messages ---- */

static void retained_survive(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	struct broker_restore_stats st;
	struct broker_client *sub;
	struct broker *b;

	publish(a, pub, "r/kept", "v1", 1, true);
	publish(a, pub, "r/kept", "v2", 1, true); /* the newer wins */
	publish(a, pub, "r/gone", "x", 0, true);
	publish(a, pub, "r/gone", "", 0, true); /* cleared */
	broker_publish_sys(a);                   /* $SYS: rebuilt, not restored */
	b = restart(a, src, 1000, &st);
	assert_int_equal(st.retained, 1);
	sub = connect311(b, "s", true, 0, false);
	subscribe311(b, sub, "r/#", 1);
	expect_publish(sub, "r/kept", "v2", 1, true, NULL);
	expect_nothing(sub);
	subscribe311(b, sub, "$SYS/#", 0);
	expect_nothing(sub);
}

BOTH_WAYS(retained, retained_survive)

/* MQTT 5 properties travel with the retained message; its expiry counts
 * in wall-clock time across the restart. */
static void retained_props_and_expiry(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect5(a, "pub", true, 0, false);
	struct mqtt_props props = expiry_props(10);
	struct broker_client *sub;
	struct mqtt_packet p;
	struct broker *b;

	props.present |= MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE);
	props.content_type = pstr("text/plain");
	publish5_props(a, pub, "r/short", "x", 1, 0, true, &props, 0x10);
	props = expiry_props(100);
	publish5_props(a, pub, "r/long", "y", 1, 0, true, &props, 0x10);
	b = restart(a, src, 11000, NULL); /* r/short expired while down */
	sub = connect5(b, "s", true, 0, false);
	subscribe5(b, sub, "r/#", 0, 0);
	expect_publish(sub, "r/long", "y", 0, true, &p);
	/* 100 s, 11 s of them gone */
	assert_int_equal(p.u.publish.props.message_expiry, 89);
	expect_nothing(sub);
}

BOTH_WAYS(retained_expiry, retained_props_and_expiry)

/* ---- sessions ---- */

/* A persistent session comes back with its subscriptions; a clean one and
 * an unsubscribed filter do not. */
static void sessions_survive(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *s1 = connect311(a, "s1", false, 0, false);
	struct broker_client *clean = connect311(a, "clean", true, 0, false);
	struct broker_client *pub;
	struct broker *b;

	subscribe311(a, s1, "a/+", 1);
	subscribe311(a, s1, "b/#", 0);
	subscribe311(a, s1, "gone", 1);
	client_send_unsubscribe(a, s1, 9, (const char *const[]){ "gone" }, 1);
	subscribe311(a, clean, "a/#", 1);
	b = restart(a, src, 500, NULL);
	s1 = connect311(b, "s1", false, 0, true);
	clean = connect311(b, "clean", false, 0, false);
	pub = connect311(b, "pub", true, 0, false);
	publish(b, pub, "a/x", "1", 1, false);
	publish(b, pub, "gone", "2", 1, false);
	publish(b, pub, "b/c/d", "3", 1, false);
	expect_publish(s1, "a/x", "1", 1, false, NULL);
	expect_publish(s1, "b/c/d", "3", 0, false, NULL);
	expect_nothing(s1);
	expect_nothing(clean);
}

BOTH_WAYS(sessions, sessions_survive)

/* MQTT 5 subscription options and identifiers, and shared membership. */
static void options_survive(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect5(a, "s", false, 3600, false);
	struct broker_client *pub;
	struct mqtt_packet p;
	struct broker *b;

	subscribe5(a, s, "nl/#", 1 | OPT_NL | OPT_RAP, 42);
	subscribe5(a, s, "$share/g/sh/#", 1, 0);
	b = restart(a, src, 0, NULL);
	s = connect5(b, "s", false, 3600, true);
	publish5(b, s, "nl/own", "mine", 1, false, 0x10); /* No Local: not back */
	expect_nothing(s);
	pub = connect5(b, "pub", true, 0, false);
	publish5(b, pub, "nl/x", "r", 1, true, 0x00);
	expect_publish(s, "nl/x", "r", 1, true, &p); /* Retain As Published */
	expect_sub_ids(&p.u.publish.props, (const uint32_t[]){ 42 }, 1);
	client_send_ack(b, s, MQTT_PUBACK, p.u.publish.packet_id);
	publish5(b, pub, "sh/1", "shared", 1, false, 0x00);
	expect_publish(s, "sh/1", "shared", 1, false, NULL);
}

BOTH_WAYS(options, options_survive)

/* An offline session's deadline is wall-clock time: a restart does not
 * give it a new interval. */
static void expiry_survives(enum source src, uint64_t down_ms, bool present)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect5(a, "s", false, 10, false);
	struct broker *b;

	subscribe5(a, s, "t", 1, 0);
	set_time(a, 2000);
	drop_client(a, s); /* offline from T0+2 s: ends at T0+12 s */
	b = restart(a, src, down_ms, NULL);
	/* No tick yet: the reconnect itself sees the deadline passed. */
	connect5(b, "s", false, 10, present);
}

static void test_expiry_kept_log(void **state) { (void)state; expiry_survives(FROM_LOG, 11000, true); }
static void test_expiry_passed_log(void **state) { (void)state; expiry_survives(FROM_LOG, 12500, false); }
static void test_expiry_passed_snapshot(void **state)
{
	(void)state;
	expiry_survives(FROM_SNAPSHOT, 12500, false);
}

/* A session connected when the broker died counts its interval from the
 * restart. */
static void test_expiry_of_connected_session(void **state)
{
	struct broker *a = durable_broker();
	struct broker *b;

	(void)state;
	connect5(a, "s", false, 10, false);
	b = restart(a, FROM_LOG, 60000, NULL);
	tick_at(b, 9000);
	connect5(b, "s", false, 10, true);
}

/* A clean stop is not the client leaving: the same, from the log and from
 * the snapshot written at the stop. */
static void expiry_after_clean_stop(enum source src)
{
	struct broker *a = durable_broker();
	struct broker *b;

	connect5(a, "s", false, 10, false);
	broker_shutdown(a);
	b = restart(a, src, 60000, NULL);
	tick_at(b, 9000);
	connect5(b, "s", false, 10, true);
}

BOTH_WAYS(expiry_after_clean_stop, expiry_after_clean_stop)

/* A clean start ends the session in the log too. */
static void test_session_end_recorded(void **state)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect311(a, "s", false, 0, false);
	struct broker_restore_stats st;
	struct broker *b;

	(void)state;
	subscribe311(a, s, "t", 1);
	drop_client(a, s);
	connect311(a, "s", true, 0, false); /* clean: the old session ends */
	b = restart(a, FROM_LOG, 0, &st);
	assert_int_equal(st.sessions, 0);
	connect311(b, "s", false, 0, false);
}

/* ---- QoS 1 and 2 messages ---- */

/* Queued for an offline session: delivered after the restart, in order. */
static void queue_survives(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect311(a, "s", false, 0, false);
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	struct broker_restore_stats st;
	struct broker *b;

	subscribe311(a, s, "q/#", 2);
	drop_client(a, s);
	publish(a, pub, "q/1", "one", 1, false);
	publish(a, pub, "q/2", "two", 2, false);
	publish(a, pub, "q/3", "three", 1, false);
	b = restart(a, src, 100, &st);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.messages, 3);
	s = connect311(b, "s", false, 0, true);
	expect_publish(s, "q/1", "one", 1, false, NULL);
	expect_publish(s, "q/2", "two", 2, false, NULL);
	expect_publish(s, "q/3", "three", 1, false, NULL);
	expect_nothing(s);
}

BOTH_WAYS(queue, queue_survives)

/* Sent and not acknowledged: again with DUP and the same packet id, then
 * PUBREL for the QoS 2 one already received; acknowledged ones never. */
static void inflight_survives(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect311(a, "s", false, 0, false);
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	uint16_t done, q1, q2;
	struct broker *b;

	subscribe311(a, s, "f/#", 2);
	publish(a, pub, "f/acked", "a", 1, false);
	publish(a, pub, "f/q1", "b", 1, false);
	publish(a, pub, "f/q2", "c", 2, false);
	done = expect_publish(s, "f/acked", "a", 1, false, NULL);
	q1 = expect_publish(s, "f/q1", "b", 1, false, NULL);
	q2 = expect_publish(s, "f/q2", "c", 2, false, NULL);
	client_send_ack(a, s, MQTT_PUBACK, done);
	client_send_ack(a, s, MQTT_PUBREC, q2);
	expect_ack(s, MQTT_PUBREL, q2, 0);
	b = restart(a, src, 100, NULL); /* s was connected: the "kill -9" case */
	s = connect311(b, "s", false, 0, true);
	assert_int_equal(expect_publish_bin(s, "f/q1", "b", 1, 1, false, true, NULL), q1);
	expect_ack(s, MQTT_PUBREL, q2, 0);
	expect_nothing(s);
	client_send_ack(b, s, MQTT_PUBACK, q1);
	client_send_ack(b, s, MQTT_PUBCOMP, q2);
	/* New messages take ids after the restored ones. */
	pub = connect311(b, "pub", true, 0, false);
	publish(b, pub, "f/new", "d", 1, false);
	assert_int_equal(expect_publish(s, "f/new", "d", 1, false, NULL), q2 + 1);
}

BOTH_WAYS(inflight, inflight_survives)

/* Acknowledgements in order extend one record; out of order they start a
 * new one; after the restart only the unacknowledged one comes back. */
static void test_done_ranges(void **state)
{
	struct broker *a = durable_broker();
	struct broker_client *s = connect311(a, "s", false, 0, false);
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	uint16_t id[5];
	size_t before, after_first, after_third, after_fifth;
	struct broker *b;

	(void)state;
	subscribe311(a, s, "t", 1);
	for (int i = 0; i < 5; i++) {
		char payload[2] = { (char)('0' + i), '\0' };

		publish(a, pub, "t", payload, 1, false);
		id[i] = expect_publish(s, "t", payload, 1, false, NULL);
	}
	broker_journal(a, &before);
	client_send_ack(a, s, MQTT_PUBACK, id[0]);
	broker_journal(a, &after_first);
	client_send_ack(a, s, MQTT_PUBACK, id[1]);
	client_send_ack(a, s, MQTT_PUBACK, id[2]);
	broker_journal(a, &after_third);
	assert_true(after_first > before);
	assert_int_equal(after_third, after_first); /* extended in place */
	client_send_ack(a, s, MQTT_PUBACK, id[4]);  /* out of order: a new record */
	broker_journal(a, &after_fifth);
	assert_int_equal(after_fifth - after_third, after_first - before);
	b = restart(a, FROM_LOG, 0, NULL);
	s = connect311(b, "s", false, 0, true);
	assert_int_equal(expect_publish_bin(s, "t", "3", 1, 1, false, true, NULL), id[3]);
	expect_nothing(s);
}

/* Exactly once across the restart: a publisher's QoS 2 id awaiting PUBREL
 * is remembered, so its resend is not routed twice. */
static void qos2_in_survives(enum source src)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect311(a, "pub", false, 0, false);
	struct broker_client *s = connect311(a, "s", false, 0, false);
	struct mqtt_packet p;
	struct broker *b;

	subscribe311(a, s, "x", 1);
	drop_client(a, s);
	client_send_publish(a, pub, "x", "once", 2, 7);
	expect_ack(pub, MQTT_PUBREC, 7, 0);
	b = restart(a, src, 100, NULL);
	pub = connect311(b, "pub", false, 0, true);
	p = publish_packet("x", "once", 4, 2, false, 7);
	p.u.publish.dup = true;
	client_send(b, pub, &p);
	expect_ack(pub, MQTT_PUBREC, 7, 0);
	client_send_ack(b, pub, MQTT_PUBREL, 7);
	expect_ack(pub, MQTT_PUBCOMP, 7, 0);
	s = connect311(b, "s", false, 0, true);
	expect_publish(s, "x", "once", 1, false, NULL);
	expect_nothing(s);
}

BOTH_WAYS(qos2_in, qos2_in_survives)

/* A message one session still needs after a snapshot, delivered after it
 * to another session: its body is written again, for the new log has no
 * copy. */
static void test_message_written_again_after_snapshot(void **state)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	struct broker_client *s1 = connect311(a, "s1", false, 0, false);
	struct broker_client *s2;
	struct records snap = { 0 };
	struct records log;
	struct broker *b;
	size_t len;
	const uint8_t *j;

	(void)state;
	publish(a, pub, "r", "retained", 1, true);
	subscribe311(a, s1, "r", 1);
	ack_all_qos1(a, s1, 1); /* written (J_MSG), then done */
	broker_journal_clear(a);
	assert_int_equal(broker_snapshot(a, 1 << 20, gather, &snap), 0);
	s2 = connect311(a, "s2", false, 0, false);
	drop_client(a, s2);
	s2 = connect311(a, "s2", false, 0, true);
	subscribe311(a, s2, "r", 1); /* the retained message, queued in flight */
	j = broker_journal(a, &len);
	log = snap;
	gather(&log, j, len);
	teardown(NULL);
	b = restart_from(&log, 0, NULL);
	s2 = connect311(b, "s2", false, 0, true);
	expect_publish_bin(s2, "r", "retained", 8, 1, true, true, NULL);
}

/* The snapshot taken in a forked child (the server's rewrite in the
 * background): the child's numbering of messages is its own, so what the
 * parent records after broker_journal_fork must stand on its own after
 * that snapshot: a message the old log holds, queued for a new session,
 * is written again, and new messages take ids the snapshot did not give. */
static void test_snapshot_by_a_forked_child(void **state)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	struct broker_client *s1 = connect311(a, "s1", false, 0, false);
	struct broker_client *q = connect311(a, "q", false, 0, false);
	struct records log = { 0 };
	int fds[2], st;
	uint8_t buf[4096];
	ssize_t n;
	size_t len;
	const uint8_t *j;
	struct broker *b;
	pid_t pid;

	(void)state;
	subscribe311(a, q, "q/#", 1);
	drop_client(a, q);
	publish(a, pub, "q/1", "old", 1, false); /* queued: J_MSG under an id */
	publish(a, pub, "k", "kept", 1, true);
	subscribe311(a, s1, "k", 1);             /* the retained one, in flight */
	expect_publish(s1, "k", "kept", 1, true, NULL);
	broker_journal_clear(a);                 /* the old log has it all */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct records r = { 0 };

		close(fds[0]);
		if (broker_snapshot(a, 64, gather, &r))
			_exit(1);
		for (size_t off = 0; off < r.len;) {
			n = write(fds[1], r.data + off, r.len - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(fds[1]);
	broker_journal_fork(a);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		gather(&log, buf, (size_t)n);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(log.len > 0);
	/* meanwhile, in the parent */
	{
		struct broker_client *s2 = connect311(a, "s2", false, 0, false);

		subscribe311(a, s2, "k", 1);
		expect_publish(s2, "k", "kept", 1, true, NULL);
	}
	publish(a, pub, "q/2", "new", 1, false);
	j = broker_journal(a, &len);
	gather(&log, j, len);
	teardown(NULL);
	b = restart_from(&log, 0, NULL);
	q = connect311(b, "q", false, 0, true);
	expect_publish(q, "q/1", "old", 1, false, NULL);
	expect_publish(q, "q/2", "new", 1, false, NULL);
	expect_nothing(q);
	s1 = connect311(b, "s1", false, 0, true);
	expect_publish_bin(s1, "k", "kept", 4, 1, true, true, NULL);
	{
		struct broker_client *s2 = connect311(b, "s2", false, 0, true);

		expect_publish_bin(s2, "k", "kept", 4, 1, true, true, NULL);
	}
}

/* A delayed will of a session that went away fires after the restart. */
static void test_delayed_will_survives(void **state)
{
	struct broker *a = durable_broker();
	struct mqtt_packet cp = connect_packet(MQTT_LEVEL_5, "w", false, 0, 3600);
	struct broker_client *c, *watcher;
	struct broker *b;

	(void)state;
	set_will(&cp, "wills/w", "gone", 1, false);
	set_will_delay(&cp, 5);
	c = connect_packet_ok(a, &cp, false, NULL);
	drop_client(a, c); /* will due at T0 + 5 s, wall clock */
	b = restart(a, FROM_LOG, 1000, NULL); /* the new clock's T0 is 1 s later */
	watcher = connect311(b, "watch", true, 0, false);
	subscribe311(b, watcher, "wills/#", 1);
	tick_at(b, 3900);
	expect_nothing(watcher);
	tick_at(b, 4000);
	expect_publish(watcher, "wills/w", "gone", 1, false, NULL);
}

/* ---- records that are not whole ---- */

static void test_malformed_records_refused(void **state)
{
	struct broker *a = durable_broker();
	struct broker_client *pub = connect311(a, "pub", true, 0, false);
	const uint8_t unknown[] = { 'Z', 0, 0 };
	struct broker_restore_stats st;
	struct records r;
	struct broker *b;

	(void)state;
	publish(a, pub, "r", "value", 0, true);
	r = state_of(a, FROM_LOG);
	teardown(NULL);
	b = default_broker();
	/* Each cut short: refused, nothing of it applied. */
	for (size_t cut = 1; cut < r.len; cut++)
		assert_int_equal(broker_restore(b, r.data, cut), -1);
	assert_int_equal(broker_restore(b, unknown, sizeof(unknown)), -1);
	broker_restore_done(b, &st);
	assert_int_equal(st.retained, 0);
	free(r.data);
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_clean_sessions_and_qos0_cost_nothing),
		TEST(test_journal_clear),
		TEST(test_retained_log),
		TEST(test_retained_snapshot),
		TEST(test_retained_expiry_log),
		TEST(test_retained_expiry_snapshot),
		TEST(test_sessions_log),
		TEST(test_sessions_snapshot),
		TEST(test_options_log),
		TEST(test_options_snapshot),
		TEST(test_expiry_kept_log),
		TEST(test_expiry_passed_log),
		TEST(test_expiry_passed_snapshot),
		TEST(test_expiry_of_connected_session),
		TEST(test_expiry_after_clean_stop_log),
		TEST(test_expiry_after_clean_stop_snapshot),
		TEST(test_session_end_recorded),
		TEST(test_queue_log),
		TEST(test_queue_snapshot),
		TEST(test_inflight_log),
		TEST(test_inflight_snapshot),
		TEST(test_done_ranges),
		TEST(test_qos2_in_log),
		TEST(test_qos2_in_snapshot),
		TEST(test_message_written_again_after_snapshot),
		TEST(test_snapshot_by_a_forked_child),
		TEST(test_delayed_will_survives),
		TEST(test_malformed_records_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
