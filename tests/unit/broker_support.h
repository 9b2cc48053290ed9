/*
 * broker_support.h - helpers shared by the broker core unit tests
 * (test_broker.c and test_broker5.c): bookkeeping of the brokers and clients
 * a test creates, the test clock, and the packet-building helpers that do not
 * depend on the protocol level.
 */
#ifndef AGORA_TEST_BROKER_SUPPORT_H
#define AGORA_TEST_BROKER_SUPPORT_H

#include "helpers.h"

#include "broker/broker.h"
#include "mqtt/mqtt.h"

#include <stddef.h>
#include <stdint.h>

/* Start of every test's clock, far from 0 like a real monotonic clock. */
#define T0 1000000u

/* ---- broker and client bookkeeping ---- */

/*
 * Every broker and client a test creates is recorded until the test frees
 * it, so that the teardown can free what a failed assertion left behind:
 * LeakSanitizer would otherwise bury the failure under leak reports.
 */
#define MAX_LIVE 16
extern void *live_brokers[MAX_LIVE];
extern void *live_clients[MAX_LIVE];

void track(void **slots, void *p);
void untrack(void **slots, void *p);
/* cmocka teardown: frees every client, then every broker, still live. */
int teardown(void **state);

void test_config(struct broker_config *cfg);
struct broker *new_broker(const struct broker_config *cfg);
struct broker *default_broker(void);
/* The contract: every client is freed before its broker. */
void free_broker(struct broker *b);
void set_time(struct broker *b, uint64_t ms_after_t0);
const struct broker_stats *stats(const struct broker *b);

void free_client(struct broker *b, struct broker_client *c);
/* A network drop: the I/O layer closes then frees. */
void drop_client(struct broker *b, struct broker_client *c);
void assert_closed(const struct broker_client *c, enum broker_close_reason reason);

/* ---- what a client sends ---- */

struct mqtt_str str(const char *s);
uint16_t next_packet_id(void);
/* Feeds bytes that must all be consumed. */
void feed(struct broker *b, struct broker_client *c, const uint8_t *buf, size_t len);
/* Writes a SUBSCRIBE (options given) or UNSUBSCRIBE (options NULL) list. */
struct mqtt_topic_list topic_list(uint8_t *buf, size_t cap, const char *const *filters,
				  const uint8_t *options, uint16_t n);

#endif
