/*
 * internal.h - what the files of src/broker/ share with each other and with
 * nothing else: the broker and session structures and the steps of each
 * packet's handling.
 */
#ifndef AGORA_BROKER_INTERNAL_H
#define AGORA_BROKER_INTERNAL_H

#include "base/hmap.h"
#include "base/idset.h"
#include "base/ring.h"
#include "broker.h"
#include "journal.h"
#include "msg.h"
#include "tree.h"

#include <string.h>

/* Payloads up to this size are copied into the subscriber's output arena:
 * for small messages one memcpy is cheaper than an extra iovec and a
 * reference count. Larger payloads are shared by reference. */
#define BROKER_INLINE_PAYLOAD 256

/* Enhanced authentication mechanisms a broker can hold (auth.h). */
#define BROKER_MAX_MECHS 8

/* Deepest topic or filter accepted; the trie walks recurse per level. */
#define BROKER_MAX_TOPIC_LEVELS 128

enum inflight_state {
	IFL_FREE = 0,  /* acknowledged; a hole until the ring's head passes it */
	IFL_WAIT_ACK,  /* PUBLISH sent: waiting for PUBACK (QoS 1) or PUBREC (QoS 2) */
	IFL_WAIT_COMP, /* PUBREL sent: waiting for PUBCOMP */
};

/* A shared subscription group, "group/filter" [MQTT 5.0, 4.8.2]. */
struct share_group {
	uint32_t refs;         /* members, plus deliveries that remember it */
	struct sub **members;
	uint32_t nmembers, members_cap;
	uint32_t next;         /* round-robin cursor */
	uint64_t epoch;        /* routing: last message this group matched */
	uint16_t key_len;
	char key[];            /* "group/filter" */
};

struct inflight {
	uint64_t seq;    /* durable sessions: the delivery's number (journal.h) */
	struct msg *msg; /* NULL once PUBREC arrived */
	struct share_group *group; /* came through a shared subscription */
	uint16_t packet_id;
	uint8_t qos;
	uint8_t state;   /* enum inflight_state */
	bool retain;
};

struct queued {
	uint64_t seq;
	struct msg *msg;
	struct share_group *group;
	uint8_t qos;
	bool retain;
};

/*
 * A session's QoS 1/2 state, allocated when first needed and freed when it
 * empties while the client is away: most idle sessions have none.
 */
struct session_flow {
	/* Outgoing QoS 1/2 window: a ring of struct inflight in packet-id
	 * order. Its len counts slots from head to tail, holes (IFL_FREE,
	 * acknowledged out of order) included; the head is never a hole. */
	struct ring ifl;

	/* Messages waiting for room in the window (or for the client): a ring
	 * of struct queued. */
	struct ring q;

	/* Incoming QoS 2 packet ids received and not yet released: a set, so
	 * the duplicate check costs the same however many a client holds. */
	struct idset qos2_in;

	uint64_t dropped;

	/* MQTT 5 delayed will, waiting for its delay or the session's end. */
	struct msg *pending_will; /* owned reference */
	uint64_t will_due_ms;
	uint32_t will_expiry_s;   /* its Message Expiry Interval, from publication */
};

/* A session outlives its connection when clean_session is 0. */
struct session {
	struct broker_client *client; /* NULL while offline */
	struct sub **subs;
	uint32_t nsubs, subs_cap;
	struct session_flow *flow;    /* NULL while there is no QoS 1/2 state */
	char *account;        /* account of its last connection, NULL = anonymous */
	uint64_t match_epoch; /* routing: last message this session matched */
	uint64_t expires_at_ms; /* offline: when the session ends (0 = never) */
	uint32_t expiry_s;    /* session expiry interval; 0 = ends with the connection */
	uint64_t next_seq;    /* durable: number of its next QoS 1/2 delivery */
	bool durable;         /* journaled (journal.h): its changes are recorded */
	uint16_t next_packet_id;
	uint8_t match_qos;
	bool match_rap;       /* a matching subscription has retain-as-published */
	bool has_sub_ids;     /* some subscription carries a subscription identifier */
	/* For No Local: which session published a message. 32 bits wrap only
	 * after 4 billion sessions, long after any message of theirs is gone. */
	uint32_t serial;
	uint16_t id_len;
	char id[];            /* client identifier, NUL-terminated */
};

/* The taps' first levels a broker keeps to skip the walk (tap.c). */
#define TAP_FIRST_MAX 8

struct broker {
	struct broker_config cfg;
	struct broker_stats stats;
	uint64_t now_ms;
	bool clock_set;
	uint64_t start_ms;
	uint64_t last_sys_ms;
	struct tnode *subs;
	struct tnode *retained;
	struct hmap sessions; /* client id -> struct session */
	struct broker_client *clients;
	struct broker_client *dirty_head, *dirty_tail;
	struct outbuf_pool out_pool; /* storage for every client's output */
	struct msg_pool msg_pool;    /* freed small messages, reused */
	/* Routing scratch: sessions matched by the message being routed. */
	uint64_t epoch;
	struct session **matches;
	uint32_t nmatches, matches_cap;
	uint8_t *scratch; /* SUBACK codes */
	uint8_t *props_buf; /* building property blocks */
	size_t props_cap;
	struct session *route_from; /* routing: the publisher's session, for No Local */
	/* Taps (broker.h): their own tree, NULL until the first; the depth of
	 * the server's message being routed (broker_publish_at). */
	struct tnode *taps;
	struct broker_tap *tap_list;
	uint32_t ntaps;
	/* The taps' first levels, for a message that matches none to cost a
	 * few compares, not a walk (tap.c): the root's literal children when
	 * there are at most TAP_FIRST_MAX of them and no wildcard beside. */
	const struct tnode *tap_first[TAP_FIRST_MAX];
	uint8_t tap_nfirst;        /* TAP_FIRST_MAX + 1: too many, always walk */
	bool tap_wild_first;       /* a tap's filter starts with + or # */
	broker_tap_fn tap_fn;
	void *tap_ctx;
	uint8_t route_depth;
	broker_event_fn event_fn; /* client events (broker_set_event_fn) */
	void *event_ctx;
	uint64_t route_serial;
	const struct msg *route_msg; /* routing: its topic needs a may_read check */
	struct hmap groups;         /* "group/filter" -> struct share_group */
	struct share_group **gmatches; /* routing: groups the message matched */
	uint32_t ngmatches, gmatches_cap;
	struct session **due;       /* sessions_tick scratch */
	uint32_t due_cap;
	bool freeing;               /* broker_free running: no more wills */
	const struct auth_mechanism *mechs[BROKER_MAX_MECHS];
	int nmechs;
	/* Room for a QoS 0 message that no one keeps (see broker__handle_publish). */
	struct msg *transient;
	size_t transient_cap;
	uint32_t scratch_cap;
	uint64_t id_counter;
	uint32_t session_serial; /* last struct session.serial given */
	struct broker_hooks hooks;
	size_t hook_prefix_len;
	/* Durable state (journal.h). */
	bool journaling;
	struct jbuf journal;
	int64_t wall_offset_ms;     /* wall clock minus broker clock */
	uint64_t next_jid;          /* last journal id given to a message */
	uint64_t jid_floor;         /* ids at or below it are not in the current log */
	/* The journal's last record when it is a J_DONE: where its count is,
	 * its session and the seq that would extend it (journal_done). */
	size_t jdone_end;           /* journal.len just after it; 0: none */
	const struct session *jdone_s;
	uint64_t jdone_next;
	struct restore *restore;    /* while broker_restore runs, else NULL */
	char version[32];
};

/* A CONNECT waiting for its username/password check (hooks.login_begin). */
struct login_wait {
	uint8_t *connect; /* the packet, decoded again when the answer comes */
	uint32_t len;
	void *handle;     /* the hooks', for login_cancel */
};

/* A connection's will: the message and, for MQTT 5, when to send it and
 * how long it lives once sent. */
#define WILL_NO_EXPIRY UINT32_MAX
struct client_will {
	struct msg *msg;
	uint32_t delay_s;
	uint32_t expiry_s; /* WILL_NO_EXPIRY when it has none */
};

/* A connection's enhanced authentication (auth.h). */
struct auth_session {
	const struct auth_mechanism *mech;
	void *state;
	uint8_t *pending_connect; /* the CONNECT kept while the exchange runs */
	uint32_t pending_len;
	bool reauthenticating;
};

/* Session expiry interval meaning "never" [MQTT 5.0, 3.1.2.11.2]. */
#define SESSION_NEVER_EXPIRES UINT32_MAX

/* props.c: MQTT 5 properties in the core */
/* Copies the properties that travel with a message into out (at most
 * in->raw_len bytes); returns the bytes written. */
uint32_t props_forwardable(const struct mqtt_props *in, uint8_t *out);
/* Broker-clock deadline seconds from now (never 0, which means "none"). */
uint64_t msg_deadline(const struct broker *b, uint32_t seconds);
/* Broker-clock deadline from a Message Expiry Interval, 0 if none. */
uint64_t props_expiry_deadline(const struct broker *b, const struct mqtt_props *in);
bool msg_expired(const struct broker *b, const struct msg *m);
/* Seconds left, rounded up, for the Message Expiry Interval sent on. */
uint32_t msg_expiry_left(const struct broker *b, const struct msg *m);
/* A reusable buffer of at least need bytes, valid until the next call. */
uint8_t *broker_props_scratch(struct broker *b, size_t need);

/* share.c: shared subscriptions */
/* Splits "$share/group/filter": key "group/filter" and the filter. False if
 * f is not a shared subscription. */
bool share_parse(const struct mqtt_str *f, struct mqtt_str *key, struct mqtt_str *filter);
bool share_valid(const struct mqtt_str *key, const struct mqtt_str *filter);
struct share_group *share_group_get(struct broker *b, const struct mqtt_str *key);
void share_group_ref(struct share_group *g);
void share_group_unref(struct broker *b, struct share_group *g);
void share_add_member(struct share_group *g, struct sub *sub);
void share_remove_member(struct broker *b, struct sub *sub);
/* Gives m to one member of g. */
void share_deliver(struct broker *b, struct share_group *g, struct msg *m);
/* Gives m to an online member other than from; false if there is none. */
bool share_hand_over(struct broker *b, struct share_group *g, struct session *from,
		     struct msg *m, uint8_t qos);

/* alias.c: MQTT 5 topic aliases of one connection */
struct topic_aliases;
void aliases_free(struct topic_aliases *a);
/* Applies an incoming PUBLISH's Topic Alias: binds it, or fills in the
 * topic it stands for. Returns 0, or the reason code to DISCONNECT with. */
uint8_t alias_in_resolve(struct broker *b, struct broker_client *c, struct mqtt_publish *p);
/* The alias to send topic with (0: none); *bound when the client already
 * knows it, so the topic itself can be left out. */
uint16_t alias_out(struct broker_client *c, const char *topic, uint16_t len, bool *bound);

/* broker.c */
bool broker_client_online(const struct broker_client *c);
void broker_protocol_error(struct broker *b, struct broker_client *c, const char *detail);
/* Closes with the MQTT 5 reason code an MQTT 5 client is sent in DISCONNECT. */
void broker_client_close_code(struct broker *b, struct broker_client *c,
			      enum broker_close_reason reason, uint8_t code, const char *detail);
/* Whether a topic or filter has more than BROKER_MAX_TOPIC_LEVELS levels.
 * Inline: asked for every PUBLISH, and a topic shorter than the limit (the
 * common case) cannot have that many '/' to separate them. */
uint32_t broker_topic_levels(const uint8_t *s, size_t len);
static inline bool broker_too_deep(const uint8_t *s, size_t len)
{
	return len >= BROKER_MAX_TOPIC_LEVELS && broker_topic_levels(s, len) > BROKER_MAX_TOPIC_LEVELS;
}

/* send.c: encode into a client's output and mark it dirty */
void broker__send_packet(struct broker *b, struct broker_client *c, const struct mqtt_packet *p);
void broker__send_connack(struct broker *b, struct broker_client *c, bool present, uint8_t rc,
			  const struct mqtt_props *props);
/* MQTT 5 only: the server's DISCONNECT with a reason code (and reason
 * string when the client wants problem information). */
void broker__send_disconnect(struct broker *b, struct broker_client *c, uint8_t reason,
			     const char *why);
void broker__send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t packet_id);
/* With an MQTT 5 reason code (omitted when 0 or for older clients). */
void broker__send_ack_reason(struct broker *b, struct broker_client *c, uint8_t type,
			     uint16_t packet_id, uint8_t reason);
/* The same with a Reason String (why: NULL or empty for none), sent only
 * with a refusal to an MQTT 5 client that wants problem information. */
void broker__send_ack_why(struct broker *b, struct broker_client *c, uint8_t type,
			  uint16_t packet_id, uint8_t reason, const char *why);
void broker__send_simple(struct broker *b, struct broker_client *c, uint8_t type);
void broker__send_suback(struct broker *b, struct broker_client *c, uint16_t packet_id,
			 const uint8_t *codes, uint16_t count);
/* via: the shared subscription group the delivery comes through, or NULL
 * for the session's own subscriptions (which subscription identifiers the
 * MQTT 5 PUBLISH carries). */
void broker__send_publish(struct broker *b, struct broker_client *c, struct msg *m, uint8_t qos,
			  uint16_t packet_id, bool retain, bool dup, const struct share_group *via);
/* Size of the PUBLISH broker__send_publish would write, for the client's MQTT 5
 * Maximum Packet Size. */
size_t broker__publish_packet_size(struct broker *b, const struct broker_client *c,
				   const struct msg *m, uint8_t qos, const struct share_group *via);
void broker__send_unsuback(struct broker *b, struct broker_client *c, uint16_t packet_id,
			   const uint8_t *codes, uint16_t count);

/* Whether the per-topic hooks apply to this topic or filter: it is the
 * hooks' prefix or below it. Inline: asked for every PUBLISH. */
static inline bool broker_hooked(const struct broker *b, const uint8_t *t, size_t len)
{
	size_t n = b->hook_prefix_len;

	return n && len >= n && t[0] == (uint8_t)b->hooks.prefix[0] &&
	       memcmp(t, b->hooks.prefix, n) == 0 && (len == n || t[n] == '/');
}

/* Whether deliveries of m go through the may_read hook. */
static inline bool broker_read_checked(const struct broker *b, const struct msg *m)
{
	return b->hooks.may_read && broker_hooked(b, (const uint8_t *)m->topic, m->topic_len);
}

/* session.c */
/* An offline session whose expiry deadline has passed (whether or not the
 * tick has ended it yet). */
static inline bool session_past_deadline(const struct broker *b, const struct session *s)
{
	return s->expires_at_ms && b->now_ms >= s->expires_at_ms;
}
/* expiry_s: SESSION_NEVER_EXPIRES, seconds, or 0 (ends with the connection). */
struct session *session_new(struct broker *b, const uint8_t *id, uint16_t len, uint32_t expiry_s);
struct session *session_find(struct broker *b, const uint8_t *id, uint16_t len);
void session_destroy(struct broker *b, struct session *s);
/* Delivers m to s at qos (already the minimum of publish and subscription). */
void session_deliver(struct broker *b, struct session *s, struct msg *m, uint8_t qos, bool retain);
/* The same for a message chosen for s by shared subscription g. */
void session_deliver_shared(struct broker *b, struct session *s, struct msg *m, uint8_t qos,
			    bool retain, struct share_group *g);
/* s lost its connection: hand its not yet acknowledged QoS 1 and its
 * unsent shared-subscription messages to other members [MQTT 5.0, 4.8.2]. */
void session_share_hand_over(struct broker *b, struct session *s);
/* After a reconnect: resend the unacknowledged window, then the queue. */
void session_resume(struct broker *b, struct session *s);
/* The client's acknowledgements of messages it was sent. Each returns
 * false when the acknowledgement is of the wrong kind for the message
 * with that id (a Protocol Error: the caller closes, the message stays);
 * one for an id not in flight is not an error: ignored, except that an
 * unsolicited PUBREC below 0x80 is answered with PUBREL (0x92 at level 5)
 * so the client can finish its flow. */
bool session_puback(struct broker *b, struct session *s, uint16_t packet_id);
bool session_pubrec(struct broker *b, struct session *s, uint16_t packet_id, uint8_t reason);
bool session_pubcomp(struct broker *b, struct session *s, uint16_t packet_id);
bool session_qos2_seen(const struct session *s, uint16_t packet_id);
/* Records an incoming QoS 2 id until its PUBREL; the caller keeps the
 * count under receive_maximum. */
void session_qos2_add(struct broker *b, struct session *s, uint16_t packet_id);
uint32_t session_qos2_pending(const struct session *s);
/* Forgets an incoming QoS 2 id; false if it was not held. */
bool session_qos2_release(struct broker *b, struct session *s, uint16_t packet_id);
/* Restore (restore.c): an in-flight delivery (m NULL: PUBREC received,
 * PUBREL sent) appended to the window, in the order of the log, and a
 * queued one. Each takes its own references to m and g. */
void session_restore_inflight(struct session *s, uint64_t seq, struct msg *m, uint8_t qos,
			      bool retain, uint16_t packet_id, struct share_group *g);
void session_restore_queued(struct session *s, uint64_t seq, struct msg *m, uint8_t qos,
			    bool retain, struct share_group *g);
/* Frees empty window, queue and id storage (when the client goes away). */
void session_trim(struct session *s);
void session_remove_sub(struct broker *b, struct session *s, uint32_t index);
/* Keeps a delayed will until due_ms or the session's end; w gets a new
 * reference, and its expiry (seconds, or WILL_NO_EXPIRY) starts when sent. */
void session_park_will(struct broker *b, struct session *s, struct msg *w, uint64_t due_ms,
		       uint32_t expiry_s);
bool session_will_due(const struct broker *b, const struct session *s);
/* Publishes a delayed will now (and forgets it). */
void session_release_will(struct broker *b, struct session *s);
/* The client came back within the will delay: the will is not sent. */
void session_cancel_will(struct broker *b, struct session *s);

/* connect.c */
/* raw/len: the CONNECT's bytes, kept if an AUTH exchange must finish first. */
void broker__handle_connect(struct broker *b, struct broker_client *c, const struct mqtt_connect *p,
			    const uint8_t *raw, size_t len);
/* Everything after the checks: session, will, CONNACK (with the mechanism's
 * last data when enhanced authentication was used). */
void broker__connect_accept(struct broker *b, struct broker_client *c, const struct mqtt_connect *p,
			    const uint8_t *auth_data, size_t auth_len);
/* The AUTH exchange failed: CONNACK 0x87, close. */
void broker__connect_refuse_auth(struct broker *b, struct broker_client *c);

/* auth.c */
enum auth_begin {
	AUTH_BEGIN_DONE,    /* succeeded at once: connect, with out as final data */
	AUTH_BEGIN_WAIT,    /* AUTH 0x18 sent; the CONNECT is kept */
	AUTH_BEGIN_FAILED,  /* refuse 0x87 */
	AUTH_BEGIN_UNKNOWN, /* no such method: refuse 0x8C */
};
enum auth_begin auth_connect_begin(struct broker *b, struct broker_client *c,
				   const struct mqtt_connect *p, const uint8_t *raw, size_t len,
				   uint8_t *out, size_t *out_len);
void broker__handle_auth(struct broker *b, struct broker_client *c, const struct mqtt_reason *a);
/* Frees a client's mechanism state and kept CONNECT. */
void auth_release(struct broker_client *c);

/* publish.c */
void broker__handle_publish(struct broker *b, struct broker_client *c,
			    const struct mqtt_publish *p);
void broker__handle_pubrel(struct broker *b, struct broker_client *c, uint16_t packet_id);
/* False for topics clients may not publish to ($SYS/...). */
bool broker_client_may_publish(const uint8_t *topic, size_t len);
/* Routes m to every matching session and applies its retain flag; from is
 * the publisher's session (for No Local) or NULL. Returns the number of
 * sessions it went to. */
uint32_t broker_route(struct broker *b, struct msg *m, struct session *from);
/* tap.c: the taps whose filters match m, after its routing; and their end. */
void broker__tap_route(struct broker *b, const struct msg *m, const struct session *from);
void broker__taps_free(struct broker *b);
/* False when no tap can match m (its first level is none of theirs):
 * inline, for it runs on every routed message once a broker has a tap. */
static inline bool broker__tap_may_match(const struct broker *b, const struct msg *m)
{
	const char *slash;
	size_t len;

	if (b->tap_wild_first || b->tap_nfirst > TAP_FIRST_MAX)
		return true;
	slash = memchr(m->topic, '/', m->topic_len);
	len = slash ? (size_t)(slash - m->topic) : m->topic_len;
	for (uint8_t i = 0; i < b->tap_nfirst; i++)
		if (b->tap_first[i]->level_len == len &&
		    memcmp(b->tap_first[i]->level, m->topic, len) == 0)
			return true;
	return false;
}
/* tap.c: a client event for the event function (broker_set_event_fn), if
 * one is set; filter for BROKER_EVENT_SUBSCRIBED only. */
void broker__client_event(struct broker *b, const struct broker_client *c,
			  enum broker_event_kind kind, const uint8_t *filter, uint16_t len,
			  uint8_t qos);
/* broker_route from the broker itself (wills, $SYS). */
void broker_publish_msg(struct broker *b, struct msg *m);

/* restore.c: the scratch of an unfinished restore (broker_free). */
void broker__restore_free(struct broker *b);
/* The subscription a J_SUB record describes, added or replaced; false
 * if the filter is not one a client could have subscribed. */
bool broker__restore_sub(struct broker *b, struct session *s, const struct mqtt_str *filter,
			 uint8_t qos, uint8_t options, uint32_t sub_id);
/* The same for J_UNSUB (a filter no session has is not an error). */
bool broker__restore_unsub(struct broker *b, struct session *s, const struct mqtt_str *filter);
/* Stores or clears a retained message (an empty payload clears). */
void broker__retain(struct broker *b, struct msg *m);

/* subscribe.c */
void broker__handle_subscribe(struct broker *b, struct broker_client *c,
			      const struct mqtt_subscribe *p);
void broker__handle_unsubscribe(struct broker *b, struct broker_client *c,
				const struct mqtt_unsubscribe *p);

#endif
