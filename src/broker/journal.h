/*
 * journal.h - the broker's durable state as a stream of records (issue 14,
 * docs/ARCHITECTURE.md "Persistence"). Internal to src/broker/.
 *
 * The core never writes a file. When journaling is on (broker_journal_on),
 * every change to durable state is appended as one record to b->journal;
 * the server takes those bytes once per loop turn (broker_journal_take) and
 * makes them durable before any acknowledgement produced in the same turn
 * reaches a socket. At start the server feeds the records back
 * (broker_restore) to rebuild the state, and from time to time asks for a
 * snapshot of the whole state (broker_snapshot) to replace the log.
 *
 * Durable: retained messages (not the broker's own $SYS topics), and the
 * sessions that outlive their connection (s->durable: expiry_s > 0) with
 * their subscriptions, QoS 1/2 deliveries (queued and in flight, by
 * session-local sequence number), incoming QoS 2 ids and delayed will.
 * A QoS 1/2 message is written once (J_MSG, by its journal id m->jid),
 * however many sessions it goes to; clean sessions and QoS 0 cost nothing.
 *
 * Record layout: a type byte, then fixed fields in little-endian order;
 * "s16" is a u16 length and bytes, "b32" a u32 length and bytes. Times are
 * wall-clock milliseconds (broker_set_wall_clock), 0 = none.
 */
#ifndef AGORA_BROKER_JOURNAL_H
#define AGORA_BROKER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct session;
struct msg;
struct sub;
struct mqtt_str;

enum journal_record {
	J_RETAIN = 'R',      /* topic s16, qos u8, expiry u64, props b32, payload b32 */
	J_RETAIN_DEL = 'r',  /* topic s16 */
	J_SESSION = 'S',     /* id s16, expiry_s u32, deadline u64 (0: connected or
			      * never), next packet id u16, has account u8, account s16 */
	J_SESSION_END = 's', /* id s16: the session and all it holds are gone */
	J_SUB = 'U',         /* id s16, filter s16 (with "$share/g/"), qos u8,
			      * options u8, subscription id u32 */
	J_UNSUB = 'u',       /* id s16, filter s16 */
	J_MSG = 'M',         /* jid u64, topic s16, qos u8, retain u8, expiry u64,
			      * props b32, payload b32 */
	J_DELIVER = 'D',     /* id s16, seq u64, jid u64, qos u8, retain u8,
			      * packet id u16 (0: queued), group s16 ("" none) */
	J_SENT = 'T',        /* id s16, seq u64, packet id u16: queued -> in flight */
	J_PUBREC = 'P',      /* id s16, seq u64: QoS 2 received, PUBREL sent */
	J_DONE = 'd',        /* id s16, seq u64, count u32: deliveries seq .. seq+count-1
			      * acknowledged, expired or handed over (acknowledgements
			      * in order, the common case, extend the turn's last one) */
	J_QOS2_IN = 'Q',     /* id s16, packet id u16 */
	J_QOS2_REL = 'q',    /* id s16, packet id u16 */
	J_WILL = 'W',        /* id s16, due u64, expiry_s u32, topic s16, qos u8,
			      * retain u8, props b32, payload b32 */
	J_WILL_DEL = 'w',    /* id s16 */
};

/* The growable record buffer (b->journal). */
struct jbuf {
	uint8_t *data;
	size_t len, cap;
};

/* Wall-clock milliseconds of a broker-clock deadline (0 stays 0), and back. */
uint64_t journal_wall(const struct broker *b, uint64_t mono_ms);
uint64_t journal_mono(const struct broker *b, uint64_t wall_ms);

/* The emitters: each appends one record when journaling is on and (for
 * session records) the session is durable; otherwise they cost a test. */
void journal_retain(struct broker *b, const struct msg *m);
void journal_retain_del(struct broker *b, const char *topic, uint16_t len);
/* The session's durability follows its expiry: J_SESSION when it has one
 * (again after a reconnect or DISCONNECT changed it), J_SESSION_END when a
 * durable session stops being one. Its deadline is recorded while it is
 * offline with one (s->expires_at_ms); a restart gives a session without
 * one its whole interval. */
void journal_session(struct broker *b, struct session *s);
void journal_session_end(struct broker *b, struct session *s);
void journal_sub(struct broker *b, struct session *s, const struct mqtt_str *filter,
		 const struct sub *sub);
void journal_unsub(struct broker *b, struct session *s, const struct mqtt_str *filter);
void journal_deliver(struct broker *b, struct session *s, uint64_t seq, struct msg *m,
		     uint8_t qos, bool retain, uint16_t packet_id, const char *group,
		     uint16_t group_len);
void journal_sent(struct broker *b, struct session *s, uint64_t seq, uint16_t packet_id);
/* J_PUBREC for a delivery. */
void journal_seq(struct broker *b, struct session *s, enum journal_record type, uint64_t seq);
/* J_DONE for a delivery. */
void journal_done(struct broker *b, struct session *s, uint64_t seq);
void journal_qos2(struct broker *b, struct session *s, enum journal_record type,
		  uint16_t packet_id);
void journal_will(struct broker *b, struct session *s);
void journal_will_del(struct broker *b, struct session *s);

#endif
