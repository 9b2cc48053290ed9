/*
 * net.h - the connection layer every listener goes through: listeners,
 * connections, transports and the protocols above them, on one libuv loop.
 *
 *   listener  --accept-->  connection  --bytes-->  transport  --bytes-->  protocol
 *   (bind, port list,       (read-buffer policy,     (how bytes cross      (MQTT, HTTP:
 *    limit, options,         batched writes,          the socket: TCP,     bytes in; output
 *    the log line)           deadlines, one close     TLS, WebSocket       segments and close
 *                            path, counters)          framing over either) decisions out)
 *
 * A protocol is a table of callbacks (struct net_proto) registered as a
 * service (struct net_service: the protocol, its context, its connection
 * limit and counters); listeners are bound to a service. The layer owns
 * what every protocol needs alike and nothing else:
 *
 * - Reading: one loop-wide read buffer; a connection keeps only the tail a
 *   protocol did not take (a partial packet or request), freed once
 *   consumed. An idle connection holds no buffer. A protocol can pause its
 *   input (net_conn_pause: a login or a request's work is under way) and
 *   resume it, the kept bytes being fed first.
 * - Writing: a protocol marks a connection (net_conn_want_write); once per
 *   loop turn, after the poll phase, the layer asks it for its output
 *   (proto->output: segments and a release function) and writes it with
 *   one vectored try-write. A read that filled the read buffer does the
 *   same at once, before the rest is read: the peer works on that output
 *   while this side handles the rest (a pipeline between the two
 *   processes, not a ping-pong of whole turns). What the socket refuses
 *   is queued, one write at a time per connection, and the next output is
 *   asked for when it is out.
 * - Deadlines: one per connection (net_conn_deadline), checked by the
 *   layer's tick (NET_TICK_MS); a connection closing after its last output
 *   (NET_CLOSE_AFTER_WRITE) gets NET_WRITE_STALL_MS to take it.
 * - Closing: net_conn_close is the only way a connection ends: the protocol
 *   gets proto->close once, output handed out is released, the handle is
 *   closed and the connection freed in its close callback. The lingering
 *   close (NET_CLOSE_LINGER: the write side shut once the output is out,
 *   what the peer still sends read and dropped within bounds) is the
 *   layer's too. net_stop and the end of its grace close every connection
 *   through the same path.
 * - Transports: a table of operations (struct net_transport) under each
 *   connection; TCP's calls libuv's stream functions directly, so plain TCP
 *   costs no copy. A stacked transport (TLS, WebSocket framing) turns bytes
 *   on the socket into bytes for the protocol and back, and they stack: the
 *   WebSocket framing goes over TCP or over TLS (the stream under it is a
 *   small set of operations, ws.c's struct ws_lower), and TLS hands its
 *   plaintext to whatever is above it, the protocol or the framing. Each
 *   keeps its state in the connection's occasional allocation, so plain
 *   TCP and plain WebSocket pay nothing for TLS.
 *
 * Ownership: struct net is the caller's (net_new/net_free). Listeners and
 * connections belong to the net. A protocol's per-connection state is the
 * protocol's: set with net_conn_set_state at open, freed by the protocol in
 * proto->close. Output handed out by proto->output is the protocol's until
 * the layer calls its release function (always, written or not).
 *
 * Single-threaded: every call on the loop's thread.
 */
#ifndef AGORA_NET_H
#define AGORA_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define NET_READ_CHUNK (32 * 1024) /* the loop-wide read buffer; a full one flushes */
#define NET_TICK_MS 100            /* deadlines are checked this often */
#define NET_WRITE_STALL_MS 2000    /* a closing connection's time to take its last bytes */
#define NET_MAX_LISTENERS 32
#define NET_MAX_TURN_HOOKS 4

struct net;
struct net_conn;
struct net_service;
struct net_listener;
struct tls_config;

/* Output a protocol hands the layer: iov[0..n) (total bytes). The array is
 * read only while the layer writes it (transports copy what they keep: it
 * may be one scratch array for all); the bytes it points to stay valid
 * until release(out) is called, once, when they are all written or the
 * connection closed. */
struct net_out {
	const uv_buf_t *iov;
	uint32_t n;
	size_t total;
	void (*release)(struct net_out *out);
};

/* How a connection's bytes cross the socket. Every operation gets the
 * connection; reading delivers into the layer (net__input). */
struct net_transport {
	const char *name;
	void (*read_start)(struct net_conn *c);
	void (*read_stop)(struct net_conn *c);
	/* Bytes written at once (maybe fewer than asked), or a libuv error
	 * (UV_EAGAIN: none now). */
	int (*try_write)(struct net_conn *c, const uv_buf_t *iov, uint32_t n);
	/* Queues the rest; net__write_done when it is out. 0 or an error. */
	int (*write)(struct net_conn *c, const uv_buf_t *iov, uint32_t n);
	/* Half-close once the queued writes are out; net__shutdown_done. */
	int (*shutdown)(struct net_conn *c);
	/* Bytes queued and not yet written. */
	size_t (*queued)(const struct net_conn *c);
	/* Drops what is queued (its callbacks come, cancelled), releases the
	 * transport's own state and closes the socket; net__closed once the
	 * connection's memory may go. */
	void (*close)(struct net_conn *c);
	/* Optional: bytes read from the socket before this transport took the
	 * connection over (what followed an upgrade request in the same read),
	 * handled as if just read. */
	void (*replay)(struct net_conn *c, const uint8_t *data, size_t len);
};

extern const struct net_transport net_tcp;
extern const struct net_transport net_ws;
extern const struct net_transport net_tls;

/*
 * A protocol. input and output are required, the rest optional. Calls come
 * from the layer, on the loop: open once (not for a connection over the
 * limit: refuse instead), then any of the others, then close once, after
 * which nothing else. close comes for every connection, also when open
 * returned false or refuse set no state (state is then NULL).
 */
struct net_proto {
	const char *name;      /* in logs and /metrics ("mqtt", "http") */
	/* Accepted through listener l: set up state (net_conn_set_state).
	 * False: close at once (the protocol logged why). */
	bool (*open)(struct net_conn *c, const struct net_listener *l);
	/* The service is over its connection limit: the protocol may answer
	 * (state, output, then net_conn_close with AFTER_WRITE or LINGER);
	 * otherwise the layer closes it at once. It is not counted in nconns. */
	void (*refuse)(struct net_conn *c, const struct net_listener *l);
	/* Bytes in: how many were taken; the rest is kept and presented again,
	 * followed by new bytes. Taking none of a tail is fine (a partial
	 * unit); the layer keeps whatever is not taken, so the protocol bounds
	 * its units (MQTT's maximum packet size, HTTP's header and body
	 * limits). */
	size_t (*input)(struct net_conn *c, const uint8_t *data, size_t len);
	/* What to write now, or NULL. Asked at the end of a loop turn in which
	 * the connection was marked (net_conn_want_write), when a queued write
	 * has gone out, and, once a close after output was asked for, until
	 * it returns NULL; never while a write is in flight. */
	struct net_out *(*output)(struct net_conn *c);
	/* Output handed out is all written (the socket took it at once, or
	 * the queued rest went out): room to read again. May come more than
	 * once for one output. */
	void (*drained)(struct net_conn *c);
	/* The peer closed its side (status 0) or the socket failed (a libuv
	 * error). On an error the layer closes the connection after this call;
	 * at EOF the protocol decides: answer what came first and close with
	 * AFTER_WRITE, or close NOW (nothing more is read either way). Without
	 * eof, both close at once. */
	void (*eof)(struct net_conn *c, int status);
	/* The deadline set with net_conn_deadline passed. */
	void (*deadline)(struct net_conn *c);
	/* The server is stopping (net_stop): end the connection within the
	 * grace (a goodbye, the answer under way) with net_conn_close, or not:
	 * at the grace's end the layer closes it. Without it: closed at once. */
	void (*stop)(struct net_conn *c);
	/* The connection ends: free the state. */
	void (*close)(struct net_conn *c);
};

/* A protocol served: its callbacks' context, its connection limit and the
 * counters /metrics and $SYS read. The caller owns it (it outlives the net). */
struct net_service {
	const struct net_proto *proto;
	void *ctx;             /* net_conn_ctx() */
	uint32_t max_conns;    /* 0 = no limit */
	/* NET_CLOSE_LINGER's bounds: total time (0: closed once the output
	 * is out), time without a byte (0: no such bound), bytes read and
	 * dropped (0: the first byte ends it). */
	uint32_t linger_time_ms, linger_timeout_ms;
	uint64_t linger_bytes;
	/* Counters: open now (lingering ones included), since the start. */
	uint32_t nconns;
	uint64_t accepted, refused;
};

/* A listener: an address, its service and its options. */
struct net_listener_config {
	const char *host;      /* numeric IPv4 or IPv6 */
	uint16_t port;         /* 0: a free one (its name says which) */
	int8_t anonymous;      /* "anonymous=": 1 yes, 0 no, -1 unset */
	/* TLS on every connection it accepts (tls_transport.c), NULL: plain
	 * TCP. The listener takes a reference. */
	struct tls_config *tls;
	/* "use_identity_as_username=": the protocol takes its clients' names
	 * from their certificates (net_conn_peer_identity), not their logins. */
	bool use_identity;
};

struct net_listener {
	struct net *net;       /* first: tcp.data is the listener, never tcp itself */
	uv_tcp_t tcp;
	struct net_service *svc;
	bool loopback;         /* bound to 127.0.0.0/8 or ::1 */
	int8_t anonymous;      /* from its config */
	struct tls_config *tls; /* one reference; NULL: plain TCP */
	bool use_identity;     /* from its config */
	char name[80];         /* "address:port" as bound ("[::1]:port" for IPv6) */
};

/* ---- the loop ---- */

/* A net on loop (initialised by the caller, which runs it). The loop's
 * `data` must not be used by anyone else: connections find the net there. */
struct net *net_new(uv_loop_t *loop);
/* Called once per loop turn, before the layer writes (the broker's dirty
 * clients are marked there), and after a read that filled the read buffer
 * (its output goes out before the next read: net__read_with). At most
 * NET_MAX_TURN_HOOKS (4) per net: one more is a programming error and
 * aborts. */
void net_on_turn(struct net *n, void (*fn)(void *ctx), void *ctx);
/* Starts the write handle and the deadline tick. */
void net_start(struct net *n);
/* Stops accepting (listeners closed), tells every connection
 * (proto->stop) and, after grace_ms, closes every connection still open
 * (through net_conn_close, so the protocol frees its state); the loop then
 * ends when nothing else holds it. */
void net_stop(struct net *n, uint32_t grace_ms);
/* After the loop has ended: frees the net (every connection is gone). */
void net_free(struct net *n);
uint64_t net_now(const struct net *n);
uv_loop_t *net_loop(const struct net *n);

/* ---- listeners ---- */

/* Binds and listens; NULL (logged: "cannot listen on ..." with what, e.g.
 * "HTTP") on failure. The "listening on NAME" line is the caller's: what a
 * service says about itself varies. */
struct net_listener *net_listen(struct net *n, const struct net_listener_config *lc,
				struct net_service *svc, const char *what);

/* New connections use cfg (a reload: open ones keep the config they
 * started with); the listener takes a reference and drops the old one. */
void net_listener_set_tls(struct net_listener *l, struct tls_config *cfg);

/* ---- connections ---- */

enum net_close {
	NET_CLOSE_NOW,          /* drop what is queued, close the socket */
	NET_CLOSE_AFTER_WRITE,  /* write what the protocol has, then close
				 * (within NET_WRITE_STALL_MS) */
	NET_CLOSE_LINGER,       /* write it (within the deadline set last, or
				 * NET_WRITE_STALL_MS), shut the write side, then
				 * read and drop what the peer sends until it
				 * closes or a bound of the service's linger_* is
				 * reached (a peer whose EOF comes before the output
				 * is out: written, then closed) */
};

void net_conn_set_state(struct net_conn *c, void *state);
void *net_conn_state(const struct net_conn *c);
void *net_conn_ctx(const struct net_conn *c);
struct net *net_conn_net(const struct net_conn *c);
/* "address:port" of the peer, into out. */
void net_conn_peer(const struct net_conn *c, char *out, size_t cap, bool with_port);
/* The identity of the peer's TLS certificate, verified by the handshake
 * (tls.h, tls_conn_peer_identity: its subject's CN, else its first DNS or
 * e-mail SAN), NUL-terminated into out; false on a connection that is not
 * TLS, before the handshake is done (a protocol's input comes after it),
 * or when the certificate has no identity that fits in cap bytes. */
bool net_conn_peer_identity(const struct net_conn *c, char *out, size_t cap);

/* Hands the connection to another protocol (the HTTP -> WebSocket
 * upgrade), from any callback of the current one: to's protocol gets
 * state and everything from now on (input not taken by the current call
 * included, fed at once); the current protocol's close is not called
 * (state handed over is the new protocol's to free). It counts in to's
 * connections (and its accepted) from now on; to's limit is not checked
 * (it was at accept). Output the current protocol queued and had not
 * handed out is not asked for any more: put it in the new state (the 101
 * answer of an upgrade). */
void net_conn_upgrade(struct net_conn *c, struct net_service *to, void *state);
/* net_conn_upgrade onto the WebSocket transport (ws.c), from the current
 * protocol's input: raw[0..nraw) (the 101 answer, copied) is written as it
 * is, then everything is framed: the new protocol reads the payload of the
 * client's binary messages as one stream and its output goes out in
 * binary frames. Bytes after the upgrade request that the current input
 * call did not take are decoded as frames. A frame or a fragmented message
 * over max_message bytes closes the connection with status 1009. The
 * deadline is cleared. A TCP connection or a TLS one is upgraded (over
 * TLS the frames travel inside it: wss://); any other transport aborts. */
void net_conn_upgrade_ws(struct net_conn *c, struct net_service *to, void *state,
			 const uv_buf_t *raw, uint32_t nraw, uint64_t max_message);
/* WebSocket connections open now and since the start (they count in their
 * protocol's service too). */
void net_ws_counts(const struct net *n, uint32_t *open, uint64_t *accepted);
/* The protocol has output: it is asked for it (proto->output) at the end
 * of this loop turn, or when the write in flight is out. */
void net_conn_want_write(struct net_conn *c);
/* Stops feeding input (a login or a request's work is under way), or
 * resumes: the bytes kept meanwhile are fed first. */
void net_conn_pause(struct net_conn *c, bool paused);
bool net_conn_paused(const struct net_conn *c);
/* Bytes written to the transport and not yet sent. */
size_t net_conn_queued(const struct net_conn *c);
/* proto->deadline once ms have passed (checked every NET_TICK_MS: never
 * early, at most a tick late; at most NET_DEADLINE_MAX_MS, about 12 days,
 * longer is cut to it); 0 clears it. */
void net_conn_deadline(struct net_conn *c, uint64_t ms);
/* Ends the connection (idempotent; a later, stronger request wins: NOW
 * over AFTER_WRITE over LINGER). */
void net_conn_close(struct net_conn *c, enum net_close how);
bool net_conn_closing(const struct net_conn *c);


/* ---- what transports call ---- */

void net__input(struct net_conn *c, const uint8_t *data, size_t len);
void net__eof(struct net_conn *c, int status);
void net__write_done(struct net_conn *c, int status);
void net__shutdown_done(struct net_conn *c, int status);
/* uv_write of iov (the array is copied) on the connection's TCP stream,
 * net__write_done when it ends: TCP's write, and what a transport stacked
 * on TCP writes its framed output with (tcp.c). */
int net__stream_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n);
void net__closed(struct net_conn *c);

#endif
