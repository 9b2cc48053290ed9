/*
 * broker.h - the MQTT broker core: sessions, subscriptions, retained
 * messages, QoS flows. It never touches a socket.
 *
 * The I/O layer creates one broker_client per network connection and feeds
 * it the bytes it reads (broker_client_input). The core decodes every
 * complete packet, applies it, and answers by appending encoded packets to
 * the output buffers of the clients concerned and by flagging clients to be
 * closed. Every client whose output or state changed is put on the broker's
 * "dirty" list; the I/O layer drains that list (broker_pop_dirty) once per
 * loop turn and writes each client's output in one vectored write. Tests
 * drive the same API with no sockets at all.
 *
 * Time is given by the caller (broker->now_ms, milliseconds on a monotonic
 * clock), so timing rules are testable without waiting.
 *
 * Ownership: broker_new/broker_free own everything inside. A broker_client
 * belongs to the broker; the I/O layer owns its `io` pointer and must call
 * broker_client_free once it no longer writes the client's output, and
 * release every outbuf it took (outbuf_move) before broker_free.
 */
#ifndef AGORA_BROKER_H
#define AGORA_BROKER_H

#include "mqtt/mqtt.h"
#include "outbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct session;
struct client_will;
struct auth_session;
struct login_wait;

/* Limits and policy. broker_config_defaults() fills the documented defaults
 * (see docs/configuration.md). */
struct broker_config {
	uint32_t max_packet_size;     /* bytes, whole packet; incoming packets */
	uint16_t max_inflight;        /* outgoing QoS 1/2 messages unacknowledged, per client */
	uint32_t max_queued;          /* QoS 1/2 messages queued per session beyond inflight */
	uint16_t keepalive_max;       /* seconds; clients asking more (or 0) are refused */
	uint16_t keepalive_min;       /* seconds; shorter keepalives are enforced as this */
	uint32_t max_subscriptions;   /* per client */
	uint32_t max_retained;        /* retained messages in the whole broker */
	uint32_t max_output_bytes;    /* pending output per client before QoS 0 drops */
	uint32_t connect_timeout_ms;  /* time allowed between TCP accept and CONNECT */
	uint32_t sys_interval;        /* seconds between $SYS updates, 0 = off */
	/* Incoming flow control [MQTT 5.0, 3.3.4]: QoS 1/2 PUBLISH packets a
	 * client may have unacknowledged, announced in every MQTT 5 CONNACK and
	 * enforced for every version (QoS 1 is acknowledged as it is
	 * processed, so in practice this counts QoS 2 awaiting PUBREL). */
	uint16_t receive_maximum;
	/* Refuse control characters and non-characters in client identifiers,
	 * user names, will topics, topic names and filters (docs/mqtt.md). */
	bool strict_utf8;
	uint16_t topic_alias_maximum; /* MQTT 5 aliases a client may bind, 0 = none */
	/* MQTT 5: the basis of response topics, given to clients that ask
	 * ("" = none); they get "<response_information>/<client id>". */
	char response_information[128];
	/* MQTT 5 redirection: when set, CONNECTs are refused with this Server
	 * Reference, 0x9D if server_moved else 0x9C (3.1.1 clients: 0x03). */
	char server_reference[128];
	bool server_moved;
};

void broker_config_defaults(struct broker_config *cfg);

/* Counters published on $SYS and used by tests. */
struct broker_stats {
	uint64_t clients_total_connects;
	uint32_t clients_connected;
	uint32_t clients_maximum;
	uint64_t msgs_received;   /* PUBLISH packets in */
	uint64_t msgs_sent;       /* PUBLISH packets out */
	uint64_t msgs_received_qos[3], msgs_sent_qos[3]; /* the same, by QoS */
	uint64_t bytes_received;
	uint64_t bytes_sent;      /* bytes handed to the I/O layer */
	uint64_t msgs_dropped;    /* queue full, output full, or retained limit */
	uint32_t subscriptions;
	uint32_t retained;
	uint32_t sessions;        /* connected and offline persistent sessions */
};

/* Why a connection ends; decides whether the will is published. */
enum broker_close_reason {
	CLOSE_NONE = 0,
	CLOSE_DISCONNECT,       /* client sent DISCONNECT: will discarded */
	CLOSE_DISCONNECT_WILL,  /* MQTT 5 DISCONNECT other than 0x00: will published */
	CLOSE_PEER,             /* socket closed or failed: will published */
	CLOSE_PROTOCOL,         /* malformed or forbidden packet */
	CLOSE_KEEPALIVE,        /* silent for 1.5x keepalive */
	CLOSE_CONNECT_TIMEOUT,  /* no CONNECT in time */
	CLOSE_TAKEN_OVER,       /* another connection took the client id */
	CLOSE_REFUSED,          /* CONNACK with a failure code was sent */
	CLOSE_SHUTDOWN,         /* broker stopping */
};

const char *broker_close_reason_str(enum broker_close_reason r);

enum client_state {
	CLIENT_NEW,        /* waiting for CONNECT */
	CLIENT_CONNECTED,
	CLIENT_CLOSING,    /* close requested; output still flushed */
};

struct broker_client {
	struct broker *broker;
	void *io;                  /* the I/O layer's connection */
	struct session *session;   /* NULL before CONNECT and after close */
	struct client_will *will;  /* owned, NULL if none */
	struct outbuf out;         /* encoded packets waiting to be written */
	uint64_t last_rx_ms;
	uint64_t created_ms;
	enum client_state state;
	enum broker_close_reason close_reason;
	uint16_t keepalive;        /* seconds, as enforced */
	uint8_t level;             /* protocol level, 0 before CONNECT */
	/* MQTT 5: what the client announced in CONNECT. */
	uint16_t receive_max;      /* its Receive Maximum, 0 = not given */
	uint32_t max_packet_out;   /* largest packet it accepts, 0 = no limit */
	bool problem_info;         /* reason strings wanted */
	uint16_t alias_out_max;    /* its Topic Alias Maximum: aliases we may bind */
	struct auth_session *auth; /* MQTT 5 enhanced authentication, when used */
	struct topic_aliases *aliases; /* per connection, created on first use */
	uint8_t close_code;        /* MQTT 5 reason code for the DISCONNECT we send */
	bool anonymous_ok;         /* set by the I/O layer from the listener */
	/* The transport names the client, not its CONNECT (a TLS listener with
	 * use_identity_as_username): set by the I/O layer from the listener,
	 * which then calls broker_client_set_identity before it feeds the
	 * CONNECT. */
	bool by_identity;
	/* A username/password check runs off the loop (hooks.login_begin):
	 * the CONNECT waits in `login` and no further input is taken. */
	bool login_pending;
	bool dirty;                /* on the broker's dirty list */
	char *account;             /* the account it logged in as, NULL = anonymous */
	char *identity;            /* by_identity: the name the transport proved, NULL: none */
	struct login_wait *login;  /* while login_pending */
	struct broker_client *dirty_next;
	struct broker_client *prev, *next; /* all clients, for timers */
	/* The I/O layer's, never touched by the core: output taken from out
	 * and held until the durable log holds what it acknowledges (the
	 * server's persistence full), and the log size that must be synced. */
	struct outbuf *io_held;
	uint64_t io_held_upto;
	const char *peer;          /* "address:port" for logs, in this allocation */
};

struct broker *broker_new(const struct broker_config *cfg);
/* Frees every session, subscription and retained message. Clients must have
 * been freed by the I/O layer first. */
void broker_free(struct broker *b);

const struct broker_config *broker_get_config(const struct broker *b);
/* The pool client output buffers draw from; the I/O layer's write batches
 * use it too. Valid until broker_free. */
struct outbuf_pool *broker_outbuf_pool(struct broker *b);
const struct broker_stats *broker_get_stats(const struct broker *b);
/* Updates the limits while running (SIGHUP): every one applies at once;
 * windows and queues larger than a lowered limit drain down to it. */
void broker_set_config(struct broker *b, const struct broker_config *cfg);

/* The clock: the I/O layer sets it before each batch of calls. */
void broker_set_time(struct broker *b, uint64_t now_ms);

/* A new connection. peer is copied. */
struct broker_client *broker_client_new(struct broker *b, void *io, const char *peer,
					bool anonymous_ok);

/*
 * Feeds bytes read from the connection. Decodes and applies every complete
 * packet; returns how many bytes were consumed. The caller keeps the
 * unconsumed tail and presents it again, followed by new bytes. After a
 * protocol error the client is CLOSING and further input is ignored (all of
 * it is reported consumed). A packet whose fixed header announces more than
 * max_packet_size closes the connection before its body is buffered.
 */
size_t broker_client_input(struct broker *b, struct broker_client *c, const uint8_t *buf,
			   size_t len);

/*
 * The name the transport proved for a client with by_identity (its TLS
 * client certificate's, docs/configuration.md "use_identity_as_username"),
 * or NULL when it proves none. The CONNECT's user name and password are
 * then ignored: the name is the login, checked with hooks.identity_begin
 * (an account must have it) or, without that hook, taken as it is. With
 * NULL, or when the CONNECT also names an authentication method, the
 * CONNECT is refused as not authorized. name is copied; call before the
 * CONNECT is fed (again is harmless).
 */
void broker_client_set_identity(struct broker_client *c, const char *name);

/* Requests that the connection be closed (idempotent). The will is published
 * unless reason is CLOSE_DISCONNECT; the session is detached (and removed if
 * it was a clean session). */
void broker_client_close(struct broker *b, struct broker_client *c,
			 enum broker_close_reason reason, const char *detail);

/* Frees a client after the I/O layer is done with it. Closes it first if
 * that has not happened (reason CLOSE_PEER). */
void broker_client_free(struct broker *b, struct broker_client *c);

/* All clients, for periodic housekeeping: first, then c->next. */
struct broker_client *broker_first_client(struct broker *b);

/* Next client needing the I/O layer's attention (output to write or a close
 * to carry out), or NULL. Each client appears once until popped. */
struct broker_client *broker_pop_dirty(struct broker *b);
/* Puts a client back on the dirty list (e.g. after a write completed and
 * more output is waiting). */
void broker_mark_dirty(struct broker *b, struct broker_client *c);

/* Periodic work at broker->now_ms: keepalive and CONNECT timeouts, $SYS.
 * Call about once a second. */
void broker_tick(struct broker *b);

/* Publishes $SYS/broker/... now (also done by broker_tick every
 * sys_interval seconds). version is the program version string. */
void broker_publish_sys(struct broker *b);

/*
 * Accounts and access rules, supplied by the server (the REST API's users;
 * docs/api.md "Over MQTT"). Without hooks every username is accepted as
 * anonymous and everything is allowed. `account` is NULL for anonymous
 * clients. The topic and filter bytes are not NUL-terminated.
 *
 * The per-topic hooks (may_subscribe, may_publish, may_read, take_publish)
 * are only asked about topics and filters under `prefix` (the prefix
 * itself or below it): all other traffic pays one comparison, no call.
 */
struct broker_hooks {
	void *ctx;
	const char *prefix; /* e.g. "agora/users"; NULL: per-topic hooks unused */
	/* A CONNECT with a username: start checking it against the accounts
	 * (password hashing: not on the event loop), return a handle for the
	 * check, answer later with broker_login_done. The client takes no
	 * input meanwhile (broker_client_waiting). If the client is freed
	 * first, login_cancel(ctx, handle) is called and no answer may follow.
	 * Without this hook a username is not checked (anonymous rules apply). */
	void *(*login_begin)(void *ctx, struct broker_client *c, const uint8_t *user,
			     size_t user_len, const uint8_t *password, size_t password_len);
	void (*login_cancel)(void *ctx, void *handle);
	/* A CONNECT on a connection whose transport proved the name (by_identity):
	 * the same as login_begin, with no password to check (the name
	 * must be an account's). Answered with broker_login_done; cancelled
	 * with login_cancel. NULL: the name is taken as the account as it is. */
	void *(*identity_begin)(void *ctx, struct broker_client *c, const char *name);
	bool (*may_subscribe)(void *ctx, const char *account, const uint8_t *filter, size_t len);
	bool (*may_publish)(void *ctx, const char *account, const uint8_t *topic, size_t len);
	/* Per delivery: whether a session logged in as account may get it
	 * (a wildcard subscription may reach a topic its owner may not read). */
	bool (*may_read)(void *ctx, const char *account, const uint8_t *topic, size_t len);
	/* A client PUBLISH under the prefix (never a will), offered before
	 * may_publish and routing. The hook either takes it, and returns the
	 * reason code of its PUBACK or PUBREC: 0x00 when it did what it wanted
	 * with it (it publishes what it wants itself), a code of 0x80 or more
	 * when it refused it (and logged why). Or it returns BROKER_TAKE_ROUTE:
	 * may_publish then decides, and the message is routed as any other.
	 * Codes reach MQTT 5 publishers only; a 3.1.1 publisher is acknowledged
	 * as usual, and QoS 0 gets nothing. A refusing PUBREC ends that QoS 2
	 * flow [MQTT-4.3.3-4]: no PUBREL follows, and the packet id is free at
	 * once for a new message. A refusing hook may also write a sentence in
	 * why (why_cap bytes, NUL-terminated; the broker gives it empty): the
	 * acknowledgement's Reason String, for MQTT 5 publishers that did not
	 * set Request Problem Information to 0 [MQTT-3.1.2-29]. */
	int (*take_publish)(void *ctx, const char *account, const uint8_t *topic, size_t topic_len,
			    const uint8_t *payload, size_t payload_len, char *why, size_t why_cap);
};

/* take_publish's answer for a message it leaves to routing. */
#define BROKER_TAKE_ROUTE (-1)
/* The room take_publish gets for its Reason String. */
#define BROKER_WHY_MAX 256

/* Copies the hooks (their ctx must outlive the broker). */
void broker_set_hooks(struct broker *b, const struct broker_hooks *h);
/* The end of a login_begin or identity_begin: account is the account's
 * spelling when ok. The CONNECT then completes (or is refused with "bad
 * user name or password"; a proven name that is no account's with "not
 * authorized"), and the I/O layer feeds the input it held back. */
void broker_login_done(struct broker *b, struct broker_client *c, bool ok, const char *account);
/* True while the client must not be fed input (a login in progress). */
static inline bool broker_client_waiting(const struct broker_client *c)
{
	return c->login_pending;
}
/* Publishes a message of the server's own (the REST API's status and inbox
 * messages): routed like a client's PUBLISH, retained if asked (an empty
 * retained payload clears the topic). The bytes are copied. */
void broker_publish(struct broker *b, const char *topic, const void *payload, size_t len,
		    uint8_t qos, bool retain);
void broker_set_version(struct broker *b, const char *version);

/*
 * Durable state (docs/ARCHITECTURE.md "Persistence"). The core writes no
 * file: with journaling on, every change to the state that must survive a
 * restart (retained messages, persistent sessions with their
 * subscriptions, QoS 1/2 messages, incoming QoS 2 ids, delayed wills) is
 * recorded in a buffer. The server makes each loop turn's records durable
 * BEFORE it writes any output of that turn (the acknowledgements among it),
 * then clears them. At start it feeds a log's records back with
 * broker_restore; broker_snapshot writes the whole state as records.
 */
/* The wall clock (ms since the epoch) now: deadlines are stored in wall
 * time so that expiry continues across a restart. Set it with the monotonic
 * clock (broker_set_time) before restoring or journaling. */
void broker_set_wall_clock(struct broker *b, uint64_t wall_ms);
/* Start recording changes (after the restore). */
void broker_journal_on(struct broker *b);
bool broker_journal_enabled(const struct broker *b);
/* The records since the last clear (NULL if none); valid until the next
 * call into the broker. */
const uint8_t *broker_journal(const struct broker *b, size_t *len);
void broker_journal_clear(struct broker *b);
/* Applies records (a whole number of them, e.g. one log batch). Returns 0,
 * or -1 when they are malformed (nothing of the faulty record is applied;
 * the caller stops there). Journaling must be off. */
int broker_restore(struct broker *b, const uint8_t *records, size_t len);
struct broker_restore_stats {
	uint32_t sessions;  /* persistent sessions restored */
	uint32_t retained;  /* retained messages */
	uint32_t messages;  /* QoS 1/2 deliveries waiting in those sessions */
	uint32_t discarded; /* deliveries dropped: their message expired or was missing */
};
/* After the last broker_restore: the sessions' windows and queues are
 * built (in flight first, same packet ids, then the queue, in order),
 * expired sessions, wills and messages go, and the restore's scratch is
 * freed. Every session is offline; one that was connected when the log
 * ended expires its interval from now. */
void broker_restore_done(struct broker *b, struct broker_restore_stats *st);
/* The whole durable state as records, in pieces of about chunk bytes
 * (each a whole number of records) given to emit; stops at emit's first
 * non-zero return and returns it. Also works with journaling off. */
int broker_snapshot(struct broker *b, size_t chunk,
		    int (*emit)(void *ctx, const uint8_t *records, size_t len), void *ctx);
/* The snapshot did not become the log (the rewrite failed): the records
 * that follow must not count on it. */
void broker_journal_resync(struct broker *b);
/* A snapshot of the state as it is now is being written by another
 * process (a forked child: its own copy of the memory, so its numbering
 * of messages does not show here). The records from now on follow that
 * snapshot in the new log, and the old log until the new one replaces it,
 * so they count on neither: a message they need is written again, under
 * an id above every id the snapshot can give. Call it in the parent, at
 * the moment of the fork, with the journal flushed. */
void broker_journal_fork(struct broker *b);

/*
 * Taps (issue 16's rules, docs/rules-spec): topic filters whose messages
 * are also handed to one function, once per tap whose filter matches,
 * after the message is routed, whether or not any session got it. A tap
 * sees every routed message: clients' (not $SYS, not one a hook took or
 * refused), the server's own (broker_publish), wills. The function must
 * not publish from inside the call (queue, then publish after it: the
 * routing scratch is in use); what it is given lives for the call only.
 * Filters are validated as a SUBSCRIBE's (no $share/).
 */
struct broker_tap_msg {
	const uint8_t *topic;
	uint16_t topic_len;
	const uint8_t *payload;
	uint32_t payload_len;
	const char *client_id;  /* the publisher's; NULL for the server's own */
	const char *account;    /* its account; NULL: anonymous, or the server */
	uint8_t qos;            /* as published */
	bool retain;
	/* 0: published by a client or the API; n + 1: by an action of a tap's
	 * at depth n (broker_publish_at), for loop limits. */
	uint8_t depth;
	uint64_t serial;        /* the routed message's number: a message that
				 * matches several taps has one serial */
};
struct broker_tap;
typedef void (*broker_tap_fn)(void *ctx, void *cookie, const struct broker_tap_msg *m);
/* The one function every tap calls (set before adding taps). */
void broker_set_tap_fn(struct broker *b, broker_tap_fn fn, void *ctx);
/* A tap on filter with cookie; NULL when the filter is not a valid
 * filter (or a $share/ one). Freed by broker_tap_remove or broker_free. */
struct broker_tap *broker_tap_add(struct broker *b, const uint8_t *filter, uint16_t len,
				  void *cookie);
void broker_tap_remove(struct broker *b, struct broker_tap *t);
/* broker_publish at a depth (a tap's action publishing: depth + 1). */
void broker_publish_at(struct broker *b, const char *topic, const void *payload, size_t len,
		       uint8_t qos, bool retain, uint8_t depth);
/* broker_publish_at with MQTT 5 properties that travel with the message
 * (a rule's republish: content type, user properties): props[0..props_len)
 * is a PUBLISH's property bytes without their length, as
 * mqtt_props_encode writes them. They are checked (mqtt_props_decode for a
 * PUBLISH; only payload format, content type, response topic, correlation
 * data and user properties): false, and nothing published, when they are
 * not valid. MQTT 5 subscribers get them; 3.1.1 subscribers get the
 * message without them. */
bool broker_publish_props(struct broker *b, const char *topic, const void *payload, size_t len,
			  uint8_t qos, bool retain, uint8_t depth, const uint8_t *props,
			  uint32_t props_len);

/*
 * Client events (issue 16's $events/client_connected, client_disconnected
 * and subscribed): one function told when a client's CONNECT is accepted
 * (after its CONNACK is queued), when a connected client's connection ends
 * (before its session is detached) and for each filter a SUBSCRIBE is
 * granted. Like a tap it must not call into the broker from inside the
 * call (queue, act later); what it is given lives for the call only.
 */
enum broker_event_kind {
	BROKER_EVENT_CONNECTED,
	BROKER_EVENT_DISCONNECTED,
	BROKER_EVENT_SUBSCRIBED,
};

struct broker_event {
	enum broker_event_kind kind;
	const char *client_id;
	const char *account;	  /* NULL: anonymous */
	const char *peer;	  /* "address:port" */
	const char *reason;	  /* DISCONNECTED: broker_close_reason_str's word */
	const uint8_t *filter;	  /* SUBSCRIBED: as the client wrote it ($share/... included) */
	uint16_t filter_len;
	uint8_t qos;		  /* SUBSCRIBED: granted */
};

typedef void (*broker_event_fn)(void *ctx, const struct broker_event *ev);
/* The one function told (NULL: none, the default). */
void broker_set_event_fn(struct broker *b, broker_event_fn fn, void *ctx);

/* Closes every client with CLOSE_SHUTDOWN (no wills), for a clean stop. */
void broker_shutdown(struct broker *b);

#endif
