/*
 * broker_support.c - helpers shared by the broker core unit tests; see
 * broker_support.h. Linked into every unit test binary.
 */
#include "broker_support.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- broker and client bookkeeping ---- */

void *live_brokers[MAX_LIVE];
void *live_clients[MAX_LIVE];

void track(void **slots, void *p)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (!slots[i]) {
			slots[i] = p;
			return;
		}
	}
	fail_msg("more than %d live objects", MAX_LIVE);
}

void untrack(void **slots, void *p)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (slots[i] == p) {
			slots[i] = NULL;
			return;
		}
	}
	fail_msg("freeing an object the test does not own");
}

int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_LIVE; i++) {
		struct broker_client *c = live_clients[i];

		if (c)
			broker_client_free(c->broker, c);
		live_clients[i] = NULL;
	}
	for (int i = 0; i < MAX_LIVE; i++) {
		broker_free(live_brokers[i]);
		live_brokers[i] = NULL;
	}
	return 0;
}

void test_config(struct broker_config *cfg)
{
	broker_config_defaults(cfg);
	cfg->sys_interval = 0; /* no $SYS traffic unless a test asks for it */
}

struct broker *new_broker(const struct broker_config *cfg)
{
	struct broker *b = broker_new(cfg);

	assert_non_null(b);
	track(live_brokers, b);
	broker_set_time(b, T0);
	return b;
}

struct broker *default_broker(void)
{
	struct broker_config cfg;

	test_config(&cfg);
	return new_broker(&cfg);
}

void free_broker(struct broker *b)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		const struct broker_client *c = live_clients[i];

		assert_true(!c || c->broker != b);
	}
	untrack(live_brokers, b);
	broker_free(b);
}

void set_time(struct broker *b, uint64_t ms_after_t0)
{
	broker_set_time(b, T0 + ms_after_t0);
}

const struct broker_stats *stats(const struct broker *b)
{
	return broker_get_stats(b);
}

void free_client(struct broker *b, struct broker_client *c)
{
	untrack(live_clients, c);
	broker_client_free(b, c);
}

void drop_client(struct broker *b, struct broker_client *c)
{
	broker_client_close(b, c, CLOSE_PEER, NULL);
	free_client(b, c);
}

void assert_closed(const struct broker_client *c, enum broker_close_reason reason)
{
	assert_int_equal(c->state, CLIENT_CLOSING);
	assert_string_equal(broker_close_reason_str(c->close_reason),
			    broker_close_reason_str(reason));
}

/* ---- what a client sends ---- */

struct mqtt_str str(const char *s)
{
	return (struct mqtt_str){ (const uint8_t *)s, (uint16_t)strlen(s) };
}

uint16_t next_packet_id(void)
{
	static uint16_t id;

	id = id == UINT16_MAX ? 1 : (uint16_t)(id + 1);
	return id;
}

void feed(struct broker *b, struct broker_client *c, const uint8_t *buf, size_t len)
{
	assert_int_equal(broker_client_input(b, c, buf, len), len);
}

struct mqtt_topic_list topic_list(uint8_t *buf, size_t cap, const char *const *filters,
				  const uint8_t *options, uint16_t n)
{
	struct mqtt_topic_list l = { .data = buf, .count = n, .with_options = options != NULL };
	size_t pos = 0;

	for (uint16_t i = 0; i < n; i++) {
		size_t len = strlen(filters[i]);

		assert_true(pos + 3 + len <= cap);
		buf[pos++] = (uint8_t)(len >> 8);
		buf[pos++] = (uint8_t)len;
		memcpy(buf + pos, filters[i], len);
		pos += len;
		if (options)
			buf[pos++] = options[i];
	}
	l.len = (uint32_t)pos;
	return l;
}
