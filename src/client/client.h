/*
 * client.h - the client side of MQTT on libuv: connections from this
 * process to a broker, speaking through the project's codec (mqtt.h).
 * `agora pub`, `agora sub` and `agora bench` are built on it.
 *
 *   client_loop   one per uv loop: the loop-wide read buffer, the list of
 *                 connections with output to write, the tick that runs
 *                 keepalives and deadlines
 *   client_conn   one connection: name resolution (getaddrinfo, IPv4 and
 *                 IPv6, each address in turn) or a given address, CONNECT
 *                 (3.1, 3.1.1, 5), the acknowledgement flows of QoS 1 and 2
 *                 both ways, SUBSCRIBE and UNSUBSCRIBE, keepalive,
 *                 DISCONNECT; over TCP, or over WebSocket (RFC 6455,
 *                 MQTT 5.0 section 6) when opts.ws_path is set
 *
 * Conventions
 *
 * - Errors: 0 or a positive value is success; a negative value is a libuv
 *   error (UV_ECONNREFUSED, UV_EAI_NONAME...) or a CLIENT_E* below, and
 *   client_strerror() words either. A call that fails changes nothing and
 *   calls no callback.
 * - Output: what a call queues (a PUBLISH, an acknowledgement) is appended
 *   to the connection's buffer; once per loop turn, after the poll phase
 *   (a uv_check handle), every connection with output writes it with one
 *   try-write, the rest with one uv_write (one write in flight at a time).
 *   client_loop_flush does it now, for output queued from a timer.
 * - Input: every connection reads into the loop's one buffer and decodes
 *   each complete packet where it lies; only an unfinished packet is kept,
 *   in a per-connection buffer (freed once used if it grew past 1 MiB). A
 *   packet above the connection's max_packet closes it (CLIENT_EPROTO)
 *   after its first bytes.
 * - Flow control: outgoing QoS 1/2 PUBLISHes are limited to max_inflight,
 *   lowered to the server's Receive Maximum (MQTT 5); client_publish says
 *   CLIENT_EFULL when the window, or the output buffer (max_output), is
 *   full: wait for `published` or `drained`. Incoming QoS 2 ids are kept
 *   until PUBREL, so a resent PUBLISH is recognised (`again`).
 * - Lifecycle: client_loop_init / client_conn_init allocate nothing but
 *   the loop's read buffer; a connection ends in exactly one call of its
 *   `closed` callback, once its handle is closed and its buffers freed:
 *   the caller may free the struct there or later. client_loop_close
 *   closes the loop's own handles: run the loop until uv_run returns, then
 *   client_loop_release.
 * - Ownership: the caller owns both structs. What struct client_opts points
 *   to (client id, will, user name, password, properties) must stay valid
 *   until CONNECT is written (in practice: until `connack`). A payload is
 *   copied by client_publish. Decoded packets handed to callbacks point
 *   into the read buffer: valid during the callback only.
 * - Single-threaded: every call on the loop's thread.
 */
#ifndef AGORA_CLIENT_H
#define AGORA_CLIENT_H

#include "base/idset.h"
#include "base/ring.h"
#include "mqtt/mqtt.h"

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tls_config;
struct tls_conn;
struct client_conn;

#define CLIENT_READ_CHUNK (64 * 1024)   /* the loop-wide read buffer */
#define CLIENT_TICK_MS 100              /* keepalives and deadlines are checked this often */
#define CLIENT_CONNECT_TIMEOUT_MS 10000 /* default: TCP connect to CONNACK */
#define CLIENT_CLOSE_STALL_MS 2000      /* DISCONNECT's time to be written */
#define CLIENT_MAX_PACKET (64u << 20)   /* default largest packet accepted */
#define CLIENT_MAX_OUTPUT (64u << 20)   /* default output buffered before EFULL */

/* Errors of the layer (beside libuv's). */
enum client_err {
	CLIENT_EREFUSED = -40001,     /* CONNACK refused the connection */
	CLIENT_EPROTO = -40002,       /* the server sent a malformed packet or broke the protocol */
	CLIENT_ETIMEOUT = -40003,     /* no CONNACK, or no PINGRESP, in time */
	CLIENT_ECLOSED = -40004,      /* the server closed the connection */
	CLIENT_EDISCONNECTED = -40005, /* the server sent DISCONNECT (MQTT 5) */
	CLIENT_EFULL = -40006,        /* the inflight window or the output buffer is full: wait */
	CLIENT_ETOOBIG = -40007,      /* the packet is above the server's Maximum Packet Size */
	CLIENT_ESTATE = -40008,       /* not connected (before CONNACK, or closing) */
	CLIENT_ESTALLED = -40009,     /* the server stopped reading: output not taken in time */
	CLIENT_EINVAL = -40010,       /* a field the codec cannot encode (QoS 3, no filter...) */
	CLIENT_EUPGRADE = -40011,     /* WebSocket: the answer to the upgrade was not 101 */
	CLIENT_EHANDSHAKE = -40012,   /* WebSocket: a 101 that is not a valid one (accept
				       * key, Upgrade, subprotocol), or an answer over 8 KiB */
	CLIENT_ETLS = -40013,         /* TLS: the handshake failed (client_tls_error says why)
				       * or a record was bad */
};

/* Words for a client or libuv error. */
const char *client_strerror(int err);
/* After CLIENT_ETLS: OpenSSL's reason ("certificate verify failed: ..."). */
const char *client_tls_error(const struct client_conn *c);

/* The name MQTT 5 gives a reason code in a packet of this type ("Not
 * authorized", "Bad User Name or Password"...); below level 5, the
 * CONNACK return codes' (level < 5 and type MQTT_CONNACK). Never NULL. */
const char *client_reason_name(uint8_t code, int type, uint8_t level);

struct client_conn;
struct client_loop;

/* What the application is told. Every callback is optional but `closed`.
 * They run from the loop; each may call any function of this header on
 * any connection, including closing the one it is about. */
struct client_cbs {
	/* The CONNACK, accepted or not (return_code). After a refusal the
	 * connection closes and `closed` gets CLIENT_EREFUSED. */
	void (*connack)(struct client_conn *c, const struct mqtt_connack *a);
	/* A PUBLISH from the server. again: a QoS 2 PUBLISH whose packet id
	 * awaits PUBREL, i.e. sent again: already delivered (count it, do not
	 * deliver it). Its acknowledgement is queued after the callback. */
	void (*message)(struct client_conn *c, const struct mqtt_publish *p, bool again);
	/* An outgoing QoS 1/2 PUBLISH's flow ended: PUBACK, PUBCOMP, or a
	 * PUBREC with a reason >= 0x80 (MQTT 5: refused). props: the ack's. */
	void (*published)(struct client_conn *c, uint16_t id, uint8_t reason,
			  const struct mqtt_props *props);
	void (*suback)(struct client_conn *c, const struct mqtt_suback *s);
	void (*unsuback)(struct client_conn *c, const struct mqtt_ack *a);
	/* MQTT 5: the server's DISCONNECT; the connection then closes with
	 * CLIENT_EDISCONNECTED. */
	void (*disconnect)(struct client_conn *c, const struct mqtt_reason *r);
	/* Everything queued so far has been written. */
	void (*drained)(struct client_conn *c);
	/* Every packet decoded (sent false) or encoded (sent true): debug
	 * traces. A PUBLISH sent by client_publish_reserve has no payload yet. */
	void (*trace)(struct client_conn *c, const struct mqtt_packet *p, bool sent);
	/* The end: handle closed, buffers freed. err 0 after client_disconnect
	 * or client_close(c, 0), else why it ended. */
	void (*closed)(struct client_conn *c, int err);
};

/* How to connect. Zero means the default for every number. */
struct client_opts {
	/* The CONNECT to send: level, clean session, keepalive (seconds; 0
	 * none), client id, will, user name, password, properties. An empty
	 * protocol_name is filled in from the level ("MQIsdp" or "MQTT"). */
	struct mqtt_connect connect;
	uint32_t max_packet;         /* largest packet accepted from the server */
	uint32_t max_output;         /* bytes queued before client_publish says EFULL */
	uint16_t max_inflight;       /* outgoing QoS 1/2 in flight (the server may lower it) */
	uint32_t connect_timeout_ms; /* TCP connect, WebSocket upgrade and CONNACK */
	/* Non-NULL: MQTT over WebSocket. After TCP connect, GET ws_path with
	 * Upgrade: websocket and subprotocol mqtt; once the 101 is checked,
	 * every write batch is one masked binary frame, the server's frames
	 * are decoded into the packet stream, pings are answered and a close
	 * frame ends the connection (CLIENT_ECLOSED). */
	const char *ws_path;
	/* Non-NULL: MQTT over TLS with this config (tls/tls.h, role client,
	 * its server_name the host to verify), which the caller keeps alive
	 * until the connection is closed. Not with ws_path (yet). */
	struct tls_config *tls;
};

/* What the server's CONNACK allowed (MQTT 5 properties, or the defaults). */
struct client_server {
	uint16_t receive_maximum;
	uint16_t topic_alias_maximum;
	uint16_t keepalive;          /* the one in use: the server's, if it set it */
	uint32_t maximum_packet_size; /* 0: the protocol's limit */
	uint8_t maximum_qos;
	bool retain_available;
	bool session_present;
};

enum client_state {
	CLIENT_IDLE,        /* initialised, not started */
	CLIENT_RESOLVING,
	CLIENT_CONNECTING,  /* TCP connect under way */
	CLIENT_WAIT_CONNACK,
	CLIENT_CONNECTED,
	CLIENT_DISCONNECTING, /* DISCONNECT queued: closes once it is written */
	CLIENT_CLOSING,     /* the handle is closing */
	CLIENT_CLOSED,      /* `closed` was called */
};

struct client_loop {
	uv_loop_t *uv;
	/* Optional: called once per loop turn, after the poll phase and
	 * before output is written. */
	void (*turn)(struct client_loop *l);
	void *data;                    /* the application's */
	/* -- inside -- */
	uv_check_t check;
	uv_timer_t tick;
	uint8_t *readbuf;              /* CLIENT_READ_CHUNK */
	struct client_conn *dirty;     /* output to write this turn */
	struct client_conn *timed;     /* connections with a deadline or a keepalive */
	uint32_t ntimed;
	bool ticking, closing;
};

struct client_conn {
	uv_tcp_t tcp;
	void *data;                     /* the application's */
	/* -- inside -- */
	struct client_loop *loop;
	const struct client_cbs *cb;
	struct client_opts opts;
	struct client_server server;
	enum client_state state;
	uint8_t level;
	bool writing, dirty, timed, ping_out;
	bool tcp_open;                  /* the handle is initialised and not closing */
	int err;                        /* why it ends, for `closed` */
	/* connecting */
	uv_getaddrinfo_t *gai;
	struct addrinfo *ai, *ai_next;  /* resolved addresses, the next to try */
	uv_connect_t creq;
	char port[8];
	/* output: filled (wbuf) and in flight (fbuf) */
	uv_write_t wreq;
	uint8_t *wbuf, *fbuf;
	uint32_t wlen, wcap, flen, fcap; /* flen: bytes of the write in flight */
	/* input: an unfinished packet */
	uint8_t *rbuf;
	uint32_t rlen, rcap;
	/* outgoing flows: packet ids first_id, first_id + 1... in flight, one
	 * state byte each (a ring in id order); npub QoS 1/2 PUBLISHes among
	 * them */
	struct ring inflight;
	uint16_t first_id;
	uint32_t npub;
	struct idset qos2_in;           /* incoming QoS 2 ids awaiting PUBREL */
	struct client_ws *ws;           /* WebSocket: the framing's state (ws.c); NULL over TCP */
	struct tls_conn *tls;           /* TLS (tls.c): the engine; NULL over plain TCP */
	char tls_error[200];            /* why the TLS handshake failed ("" if it did not) */
	/* time, in the loop's milliseconds */
	uint64_t deadline_ms;           /* connect, CONNACK, PINGRESP or close; 0 none */
	uint64_t last_out_ms;
	struct client_conn *dirty_next, *timed_prev, *timed_next;
};

/* ---- TLS ---- */

struct client_tls_args;
/* The client TLS config the options of pub, sub and bench ask for
 * (shell.h), verifying the server by host (a name or an address) unless
 * --insecure; every file is read now. The caller holds the reference
 * (tls_config_unref). NULL with a sentence in err when a file cannot be
 * used. */
struct tls_config *client_tls_config(const struct client_tls_args *t, const char *host,
				     char *err, size_t errlen);

/* ---- the loop ---- */

/* Sets up l on uv (allocates the read buffer). Returns 0 or a libuv error. */
int client_loop_init(struct client_loop *l, uv_loop_t *uv);
/* Writes every connection's pending output now (from a timer callback). */
void client_loop_flush(struct client_loop *l);
/* Closes the loop's handles; run the loop to the end, then release. */
void client_loop_close(struct client_loop *l);
void client_loop_release(struct client_loop *l);

/* ---- a connection ---- */

/* Sets up c on l; opts is copied (what it points to is not: see above). */
void client_conn_init(struct client_conn *c, struct client_loop *l, const struct client_opts *o,
		      const struct client_cbs *cb);
/* Resolves host (a name or an address) and connects to each address in
 * turn; sends CONNECT once connected. Returns 0, after which every failure
 * comes through `closed` (the last address's error), or an error when it
 * cannot start (c untouched, nothing will be called). */
int client_connect(struct client_conn *c, const char *host, uint16_t port);
/* The same with an address already resolved (the bench: thousands of
 * connections to one address). Returns 0: failures come through `closed`. */
int client_connect_addr(struct client_conn *c, const struct sockaddr *addr);

/*
 * Queues a PUBLISH (topic, qos, retain, properties, payload copied). At QoS
 * 1/2 the packet id is chosen here: returned, and set in p. Returns the id
 * (0 at QoS 0) or CLIENT_ESTATE, CLIENT_EFULL, CLIENT_ETOOBIG, CLIENT_EINVAL.
 */
long client_publish(struct client_conn *c, struct mqtt_publish *p);
/* The same without the payload: *payload receives where p->payload_len
 * bytes go, to be written before control returns to the loop. */
long client_publish_reserve(struct client_conn *c, struct mqtt_publish *p, uint8_t **payload);
/* Could a PUBLISH at this QoS be queued now? Inline: the bench asks
 * before every message. */
static inline bool client_can_publish(const struct client_conn *c, uint8_t qos)
{
	uint32_t window = c->opts.max_inflight < c->server.receive_maximum
				  ? c->opts.max_inflight
				  : c->server.receive_maximum;

	if (c->state != CLIENT_CONNECTED || c->wlen >= c->opts.max_output)
		return false;
	return !qos || (c->npub < window && c->inflight.len < 65535);
}

/* One filter of a SUBSCRIBE: its options byte is the QoS and the MQTT 5
 * MQTT_SUBOPT_* bits. */
struct client_filter {
	const char *filter;
	uint8_t options;
};
/* Queues a SUBSCRIBE of n filters (props: MQTT 5, may be NULL); returns
 * its packet id or an error. `suback` follows. */
long client_subscribe(struct client_conn *c, const struct client_filter *f, uint32_t n,
		      const struct mqtt_props *props);
long client_unsubscribe(struct client_conn *c, const char *const *filters, uint32_t n,
			const struct mqtt_props *props);

/* Queues DISCONNECT (MQTT 5: reason and properties, props may be NULL),
 * then closes once it is written: `closed` gets 0, or CLIENT_ESTALLED when
 * the server did not take it within CLIENT_CLOSE_STALL_MS. Before CONNACK
 * it just closes. Does nothing to a connection never started or already
 * ending. */
void client_disconnect(struct client_conn *c, uint8_t reason, const struct mqtt_props *props);
/* Closes now: `closed` gets err (0: the application's own choice). Does
 * nothing to a connection never started or already closing. */
void client_close(struct client_conn *c, int err);

/* Bytes queued and not yet taken by the socket. */
size_t client_out_pending(const struct client_conn *c);
/* QoS 1/2 PUBLISHes sent and not yet acknowledged. */
static inline uint32_t client_inflight(const struct client_conn *c)
{
	return c->npub;
}

#endif
