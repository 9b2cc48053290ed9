/*
 * internal.h - what the files of src/net/ share and nothing else: the net
 * and connection structures.
 */
#ifndef AGORA_NET_INTERNAL_H
#define AGORA_NET_INTERNAL_H

#include "net.h"

struct turn_hook {
	void (*fn)(void *ctx);
	void *ctx;
};


struct net {
	uv_loop_t *loop;
	uv_check_t check;        /* after each poll phase: the writes */
	uv_timer_t tick;         /* deadlines */
	uv_timer_t grace;        /* the end of net_stop's grace */
	uint64_t start_ms;
	uint32_t nconns;         /* every connection, refused ones included */
	bool stopping;
	bool finished;           /* the net's own handles are closed */
	struct turn_hook hooks[NET_MAX_TURN_HOOKS];
	int nhooks;
	struct net_listener *listeners[NET_MAX_LISTENERS];
	int nlisteners;
	/* Connections with output to write this turn (net_conn_want_write);
	 * a flag in each says it is here. */
	uint32_t ws_open;        /* WebSocket connections (ws.c) */
	uint64_t ws_accepted;
	struct net_conn **dirty;
	uint32_t ndirty, dirty_cap;
	uint8_t readbuf[NET_READ_CHUNK];
};

/* Close modes in the order of strength: a later, stronger one wins. */
enum conn_mode {
	MODE_OPEN = 0,
	MODE_LINGER,       /* NET_CLOSE_LINGER asked */
	MODE_AFTER_WRITE,  /* NET_CLOSE_AFTER_WRITE asked */
	MODE_CLOSED,       /* uv_close called */
};

enum {
	F_PAUSED = 1 << 0,    /* input not fed to the protocol */
	F_DIRTY = 1 << 1,     /* in net->dirty */
	F_COUNTED = 1 << 2,   /* counted in its service's nconns */
	F_PROTO_DONE = 1 << 3, /* proto->close was called */
	F_SHUT = 1 << 4,      /* lingering: the write side is shut */
	F_IN_INPUT = 1 << 5,  /* net__input running: no re-entry from pause */
	F_LINGERING = 1 << 6, /* state is the layer's struct conn_linger */
	F_DEADLINE = 1 << 7,  /* deadline is set */
};

/* What a connection holds only now and then, allocated while needed and
 * freed when empty: the input kept for later (a partial unit, or what came
 * while paused), and the output the transport still writes. */
struct conn_aux {
	struct net_out *writing;     /* handed to the transport, not yet out */
	uint8_t *pending;
	uint32_t pending_len, pending_cap;
	/* The stacked transports' state, a slot each so that they stack
	 * (WebSocket framing over TLS): tls_transport.c's link, ws.c's
	 * framing. */
	void *tls;
	void *ws;
};

/* A lingering close's state, in the slot of the protocol's state (the
 * protocol is done with the connection by then). */
struct conn_linger {
	uint64_t until_ms;     /* the end of the service's linger_time */
	uint64_t dropped;
};

/*
 * One connection: kept small (most are idle MQTT clients, and its size is
 * in make bench's memory per idle connection).
 */
struct net_conn {
	uv_tcp_t tcp;                /* first: tcp.data == the conn itself */
	struct net_service *svc;
	void *state;                 /* the protocol's; struct conn_linger while lingering */
	struct conn_aux *aux;        /* NULL: nothing kept, nothing being written */
	uint32_t deadline;           /* ms since the net started, wrapping (F_DEADLINE) */
	uint8_t mode;                /* enum conn_mode */
	uint8_t flags;               /* F_* */
	uint8_t transport;           /* index in net__transports */
};

static inline struct net *conn_net(const struct net_conn *c)
{
	return c->tcp.loop->data;
}

/* Transports by index: a connection names its own in one byte (its state,
 * for a stacked one, goes in conn_aux), so plain TCP costs nothing more.
 * NET_T_WS is the WebSocket framing over whatever is under it (TCP, or
 * TLS when the connection has a TLS link: ws.c's struct ws_lower). */
enum { NET_T_TCP = 0, NET_T_WS = 1, NET_T_TLS = 2 };
extern const struct net_transport *const net__transports[];

static inline const struct net_transport *conn_transport(const struct net_conn *c)
{
	return net__transports[c->transport];
}

/* conn.c */
struct net_conn *net__conn_new(struct net *n, struct net_service *svc);
/* The connection's conn_aux, allocated if need be. */
struct conn_aux *net__aux(struct net_conn *c);
void net__flush(struct net_conn *c);
void net__turn_flush(struct net *n);
void net__deadline_check(struct net_conn *c, uint32_t now);
/* Milliseconds since the net started, wrapping every 49 days: deadlines
 * compare with wrapping arithmetic, so none may be further than
 * NET_DEADLINE_MAX_MS away. */
uint32_t net__clock(const struct net *n);
#define NET_DEADLINE_MAX_MS (UINT32_MAX / 4)

/* net.c */
void net__dirty_remove(struct net *n, struct net_conn *c);
/* Stopping and no connection left: closes the net's own handles, so the
 * loop can end. */
void net__finish(struct net *n);

/* tcp.c, for the transports stacked on TCP: the net's one read buffer as
 * libuv's allocation, reading started with a transport's callback, and
 * that callback's body: bytes to in, the end or an error to net__eof. */
void net__read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void net__read_start(struct net_conn *c, uv_read_cb on_read);
void net__read_with(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf,
		    void (*in)(struct net_conn *c, const uint8_t *data, size_t len));

/* tls_transport.c: the connection speaks TLS with cfg from now on (at
 * accept, before anything is read or written). */
void net__tls_attach(struct net_conn *c, struct tls_config *cfg);
/* The plaintext TLS reads goes to up from now on (net__input until then:
 * the protocol; the WebSocket decoder once a TLS connection is upgraded),
 * also the rest of what is being delivered now. */
void net__tls_deliver_to(struct net_conn *c,
			 void (*up)(struct net_conn *c, const uint8_t *data, size_t len));
/* Bytes of a transport stacked on TLS (the 101 answer, a pong, a close
 * frame) encrypted behind everything written before, and sent as the
 * socket takes them (copied; no completion). */
void net__tls_write_own(struct net_conn *c, const uv_buf_t *iov, uint32_t n);

/* listener.c */
void net__listener_close(struct net_listener *l);

#endif
