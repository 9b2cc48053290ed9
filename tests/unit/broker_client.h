/*
 * broker_client.h - the client side of the broker core unit tests at any
 * protocol level (test_broker.c, test_broker5.c, test_broker_input.c,
 * test_hooks.c): packets a test client sends, encoded at the level it
 * speaks, and what the broker sent it, decoded packet by packet from its
 * output buffer.
 *
 * Levels: client_send and the client_send_* helpers encode at the level the
 * client speaks (MQTT 3.1.1 before its CONNECT; the plain send_* names are
 * the broker core's own), send5 and the send_*5 helpers at level 5 whatever
 * the client speaks, send_packet_at at the level it is given. What the
 * broker sent is decoded at the level the client speaks. The other helpers
 * with a 5 or 311 suffix are for a client at that level; those without one
 * work at any level.
 */
#ifndef AGORA_TEST_BROKER_CLIENT_H
#define AGORA_TEST_BROKER_CLIENT_H

#include "broker_support.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- broker and client bookkeeping ---- */

/* Moves the clock and runs the periodic work. */
void tick_at(struct broker *b, uint64_t ms_after_t0);

struct broker_client *new_client_on(struct broker *b, bool anonymous_ok);

struct broker_client *new_client(struct broker *b);

/* ---- what a client sends ---- */

struct mqtt_props_str pstr(const char *s);

void send_packet_at(struct broker *b, struct broker_client *c, const struct mqtt_packet *p,
			   uint8_t level);

void send5(struct broker *b, struct broker_client *c, const struct mqtt_packet *p);

/* A CONNECT at its own level; anything else at the level c speaks. */
void client_send(struct broker *b, struct broker_client *c, const struct mqtt_packet *p);

/* Appends p, encoded at level, to buf at *pos: for several packets in one
 * input. */
void encode_packet(const struct mqtt_packet *p, uint8_t level, uint8_t *buf, size_t cap,
		   size_t *pos);

/* A packet that is only its type (PINGREQ; DISCONNECT before MQTT 5). */
void client_send_simple(struct broker *b, struct broker_client *c, uint8_t type);

/* Appends one User Property (0x26, key, value) to buf at *pos. */
void user_prop(uint8_t *buf, size_t cap, size_t *pos, const char *k, const char *v);

/* A CONNECT ("MQIsdp" at MQTT 3.1); a non-zero expiry is sent as the Session
 * Expiry Interval. */
struct mqtt_packet connect_packet(uint8_t level, const char *id, bool clean,
					 uint16_t keepalive, uint32_t expiry);

void set_will(struct mqtt_packet *p, const char *topic, const char *payload, uint8_t qos,
		     bool retain);

void set_will_delay(struct mqtt_packet *p, uint32_t delay);

struct mqtt_packet publish_packet(const char *topic, const void *payload, size_t len,
					 uint8_t qos, bool retain, uint16_t id);

/* A PUBLISH with retain 0 and DUP 0 (publish_packet and client_send for
 * anything else). */
void client_send_publish_bin(struct broker *b, struct broker_client *c, const char *topic,
			     const void *payload, size_t len, uint8_t qos, uint16_t id);

/* The same with a string payload. */
void client_send_publish(struct broker *b, struct broker_client *c, const char *topic,
			 const char *payload, uint8_t qos, uint16_t id);

void client_send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t id);

void send_ack5(struct broker *b, struct broker_client *c, uint8_t type, uint16_t id);

void send_disconnect5(struct broker *b, struct broker_client *c, uint8_t reason,
			     const struct mqtt_props *props);

/* options: one byte a filter, the QoS before MQTT 5. */
void client_send_subscribe(struct broker *b, struct broker_client *c, uint16_t id,
			   const char *const *filters, const uint8_t *options, uint16_t n);

void send_subscribe5(struct broker *b, struct broker_client *c, uint16_t id,
			    const char *const *filters, const uint8_t *options, uint16_t n,
			    uint32_t sub_id);

void client_send_unsubscribe(struct broker *b, struct broker_client *c, uint16_t id,
			     const char *const *filters, uint16_t n);

void send_unsubscribe5(struct broker *b, struct broker_client *c, uint16_t id,
			      const char *const *filters, uint16_t n);

/* Subscription options byte [MQTT 5.0, 3.8.3.1]. */
#define OPT_NL MQTT_SUBOPT_NO_LOCAL
#define OPT_RAP MQTT_SUBOPT_RETAIN_AS_PUBLISHED
#define OPT_RH(n) ((uint8_t)((n) << 4))

/* ---- what the broker sent ---- */

/* The bytes of the packet pop_packet returned last: its fields point here. */
extern uint8_t last_packet[65536];
extern size_t last_packet_len;

/* Removes the first packet from c's output and decodes it, at the level c
 * speaks, into *p. */
bool pop_packet(struct broker_client *c, struct mqtt_packet *p);

void expect_packet(struct broker_client *c, uint8_t type, struct mqtt_packet *p);

void expect_nothing(struct broker_client *c);

/* Leaves the CONNACK in *p unless p is NULL. */
void expect_connack(struct broker_client *c, bool present, uint8_t rc,
			   struct mqtt_packet *p);

/* An acknowledgement with this id; at MQTT 5 with this reason code, before
 * it in the 4-byte form (no code). */
void expect_ack(struct broker_client *c, uint8_t type, uint16_t id, uint8_t reason);

/* An acknowledgement with this id and reason code (a client at MQTT 5). */
void expect_ack5(struct broker_client *c, uint8_t type, uint16_t id, uint8_t reason);

void expect_disconnect(struct broker_client *c, uint8_t reason);

void expect_suback(struct broker_client *c, uint16_t id, const uint8_t *codes, uint16_t n);

/* Checks the next packet is this PUBLISH, DUP flag included, and leaves it
 * in *p unless p is NULL; returns its packet id. */
uint16_t expect_publish_bin(struct broker_client *c, const char *topic, const void *payload,
			    size_t len, uint8_t qos, bool retain, bool dup, struct mqtt_packet *p);

/* The same with a string payload and DUP 0 (not a resend). */
uint16_t expect_publish(struct broker_client *c, const char *topic, const char *payload,
			uint8_t qos, bool retain, struct mqtt_packet *p);

bool has_prop(const struct mqtt_props *props, uint8_t id);

void assert_pstr(struct mqtt_props_str s, const void *want, size_t len);

/* The Subscription Identifiers of a decoded PUBLISH, in order. */
uint16_t sub_ids_of(const struct mqtt_props *props, uint32_t *ids, uint16_t cap);

/* The sub ids of a PUBLISH are exactly this set (order unspecified). */
void expect_sub_ids(const struct mqtt_props *props, const uint32_t *want, uint16_t n);

/* The User Properties of a decoded block are exactly these pairs, in order
 * ([MQTT-3.3.2-18]: forwarded unaltered, order kept). */
void expect_user_props(const struct mqtt_props *props, const char *const (*pairs)[2],
			      size_t n);

/* ---- sessions ---- */

/* Sends a CONNECT that must be accepted; returns the CONNACK in *ack (unless
 * ack is NULL). */
struct broker_client *connect_packet_ok(struct broker *b, const struct mqtt_packet *cp,
					       bool present, struct mqtt_packet *ack);

struct broker_client *connect5(struct broker *b, const char *id, bool clean,
				      uint32_t expiry, bool present);

struct broker_client *connect311(struct broker *b, const char *id, bool clean,
					uint16_t keepalive, bool present);

void subscribe5(struct broker *b, struct broker_client *c, const char *filter,
		       uint8_t options, uint32_t sub_id);

void subscribe311(struct broker *b, struct broker_client *c, const char *filter,
			 uint8_t qos);

/* A PUBLISH from a client at MQTT 5, with its acknowledgement flow, which
 * must carry reason. */
void publish5_props(struct broker *b, struct broker_client *c, const char *topic,
			   const void *payload, size_t len, uint8_t qos, bool retain,
			   const struct mqtt_props *props, uint8_t reason);

void publish5(struct broker *b, struct broker_client *c, const char *topic,
		     const char *payload, uint8_t qos, bool retain, uint8_t reason);

/* A PUBLISH with its acknowledgement flow, at the level c speaks, every
 * acknowledgement a success. */
void publish(struct broker *b, struct broker_client *c, const char *topic, const char *payload,
	     uint8_t qos, bool retain);

struct mqtt_props expiry_props(uint32_t seconds);

#endif
