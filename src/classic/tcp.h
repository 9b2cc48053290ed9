/*
 * tcp.h - what the classic TCP programs (echo.h, adder.h) share: running a
 * service on the connection layer (tcp_serve.c), a connection's output
 * queue (tcp_out.c) and the client side's socket plumbing (tcp_client.c).
 *
 * Servers: one libuv loop, the connection layer (net/net.h) and one
 * service; `[HOST:]PORT` with no host listens on 0.0.0.0 and [::] (IPv6
 * only, so the two do not clash); SIGINT and SIGTERM stop it (connections
 * get a short grace to take their last bytes), then everything is freed.
 *
 * Clients: plain non-blocking sockets and ppoll(2), one connection, every
 * wait bounded by a timeout; SIGINT ends a wait (CLASSIC_EINTR) so the
 * command exits cleanly. Their errors are printed as one line, "PROG:
 * what went wrong", on stderr.
 */
#ifndef AGORA_CLASSIC_TCP_H
#define AGORA_CLASSIC_TCP_H

#include "net/net.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a client run ended; the command maps it to its exit status. */
enum classic_result {
	CLASSIC_OK = 0,
	CLASSIC_EINTR,    /* SIGINT: the user stopped it */
	CLASSIC_ENET,     /* cannot connect, the connection failed, a timeout,
			   * bytes that do not follow the protocol */
	CLASSIC_EREFUSED, /* the server answered with an error */
	CLASSIC_ELOCAL,   /* stdin or stdout failed */
};

#define CLASSIC_HOST_MAX 256

/* ---- values the command lines give (tcp_serve.c) ---- */

/* A whole number 0..max (decimal digits only): 0, or -1. */
int classic_parse_uint(const char *s, uint64_t max, uint64_t *v);
/* "NAME VALUE" or "NAME=VALUE" at argv[*i]: the value (*i moved past
 * it), or NULL when argv[*i] is not NAME, or (*missing set) when no
 * value follows it. */
const char *classic_option(int argc, char **argv, int *i, const char *name, bool *missing);
/* Seconds, maybe with a fraction ("0.5"), 0 to 30 days, into ms: 0, or -1. */
int classic_parse_seconds(const char *s, uint32_t *ms);

/* ---- servers (tcp_serve.c) ---- */

/* "[HOST:]PORT": PORT, HOST:PORT or [IPV6]:PORT; host "" when absent.
 * -1 when it is none of these (a port must be 0..65535). */
int classic_parse_listen(const char *arg, char *host, size_t cap, uint16_t *port);

/* Runs svc until SIGINT or SIGTERM: listeners for host:port as above (a
 * host must be a numeric address), "listening on ADDRESS:PORT (what)"
 * logged for each. 0 after a clean stop, -1 when it could not listen
 * (logged). Everything it made is freed before it returns. */
int classic_serve(struct net_service *svc, const char *what, const char *host, uint16_t port);

/* Over the service's connection limit: logged at most once a second
 * (*last holds when it was); the layer closes the connection. */
void classic_log_refusal(struct net_conn *c, uint64_t *last, const char *what);

/* ---- a connection's output (tcp_out.c) ---- */

/* Bytes for one connection: appended to one buffer while the other is
 * written. The owner bounds what it appends (classic_out_len); a buffer
 * grown past 64 KiB is freed once written, so an idle connection keeps
 * little. */
struct classic_out;

struct classic_out *classic_out_new(void);
/* From proto->close: freed now, or when the layer releases the batch it
 * still writes. */
void classic_out_free(struct classic_out *q);
void classic_out_append(struct classic_out *q, const void *data, size_t len);
/* Bytes waiting, those being written included. */
size_t classic_out_len(const struct classic_out *q);
/* For proto->output: what was appended since the last batch, or NULL
 * (nothing, or a batch still out). */
struct net_out *classic_out_take(struct classic_out *q);

/* ---- clients (tcp_client.c) ---- */

/* "HOST:PORT" or "[IPV6]:PORT" (a name or an address; port 1..65535);
 * -1 when not. */
int classic_parse_hostport(const char *arg, char *host, size_t cap, uint16_t *port);

/* SIGINT is caught (and blocked outside classic_poll, so it cannot be
 * lost between two waits); SIGPIPE left alone (sockets use MSG_NOSIGNAL). */
void classic_client_signals(void);

/* ppoll with SIGINT let through: poll(2)'s result, or -2 once SIGINT came
 * (now or before). timeout_ms < 0: no timeout. */
int classic_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* A non-blocking socket connected to host:port (each address the name
 * has, in turn) within timeout_ms; -1 (said on stderr as "PROG: ...") or
 * -2 on SIGINT. */
int classic_connect(const char *prog, const char *host, uint16_t port, int timeout_ms);

/* Writes all of buf to fd, waiting at most timeout_ms each time the
 * socket is full: a classic_result (errors said on stderr). */
int classic_send_all(const char *prog, int fd, const void *buf, size_t len, int timeout_ms);

/* Reads exactly len bytes (each wait at most timeout_ms): a
 * classic_result; CLASSIC_ENET with *got < len when the peer closed first
 * (not said: the caller knows what was missing), said otherwise. */
int classic_recv_exact(const char *prog, int fd, void *buf, size_t len, size_t *got,
		       int timeout_ms);

#endif
