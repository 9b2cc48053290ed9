/*
 * follow.c - the live part of the API's commands over MQTT (follow.h):
 * connect (with the account's token, or anonymously), subscribe to one
 * topic, let the command list through REST, then hand it each message
 * until a signal, the connection's end or the command's own.
 */
#include "follow.h"

#include "commands.h"

#include "base/alloc.h"
#include "client/client.h"
#include "tls/tls.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_S 60

struct follow {
	const struct follow_opts *o;
	uv_loop_t loop;
	struct client_loop cl;
	struct client_conn conn;
	struct client_opts copts;
	uv_signal_t sigint, sigterm, sigwinch;
	int rc;
	bool decided, connacked, subscribed, interrupted;
};

/* ---- ending ---- */

static void decide(struct follow *f, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records how the run ends (the first decision counts), with its one
 * line on stderr when fmt is given. */
static void decide(struct follow *f, int rc, const char *fmt, ...)
{
	va_list ap;

	if (f->decided)
		return;
	f->decided = true;
	f->rc = rc;
	if (!fmt)
		return;
	fprintf(stderr, "agora %s: ", f->o->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* DISCONNECT, then the connection closes and `closed` ends the loop. */
static void finish(struct follow *f, int rc)
{
	decide(f, rc, NULL);
	client_disconnect(&f->conn, 0, NULL);
}

/* What a callback said: go on, or end (FOLLOW_DONE: with EXIT_OK). */
static bool go_on(struct follow *f, int rc)
{
	if (rc == FOLLOW_GO_ON)
		return true;
	finish(f, rc == FOLLOW_DONE ? EXIT_OK : rc);
	return false;
}

/* The loop's other handles, so uv_run returns. */
static void close_handles(struct follow *f)
{
	uv_close((uv_handle_t *)&f->sigint, NULL);
	uv_close((uv_handle_t *)&f->sigterm, NULL);
	if (f->o->resized)
		uv_close((uv_handle_t *)&f->sigwinch, NULL);
	client_loop_close(&f->cl);
}

static void on_closed(struct client_conn *c, int err)
{
	struct follow *f = c->data;
	const char *host = f->o->host;

	if (!err || f->decided)
		decide(f, EXIT_OK, NULL);
	else if (err <= UV_EAI_ADDRFAMILY && err >= UV_EAI_PROTOCOL)
		decide(f, EXIT_NET, "cannot resolve '%s': %s", host, client_strerror(err));
	else if (err == CLIENT_ETLS)
		decide(f, EXIT_NET, "cannot connect to the MQTT server %s port %u: TLS: %s", host,
		       f->o->port, client_tls_error(c));
	else if (!f->connacked)
		decide(f, EXIT_NET, "cannot connect to the MQTT server %s port %u%s: %s", host,
		       f->o->port, f->o->tls.on ? " over TLS" : "", client_strerror(err));
	else
		decide(f, EXIT_NET, "lost the connection to the MQTT server %s port %u: %s", host,
		       f->o->port, client_strerror(err));
	close_handles(f);
}

/* SIGINT, SIGTERM: DISCONNECT and exit 0; a second one does not wait for
 * the DISCONNECT to be written. */
static void on_signal(uv_signal_t *h, int signum)
{
	struct follow *f = h->data;

	(void)signum;
	if (f->interrupted) {
		client_close(&f->conn, 0);
		return;
	}
	f->interrupted = true;
	finish(f, EXIT_OK);
}

static void on_winch(uv_signal_t *h, int signum)
{
	struct follow *f = h->data;

	(void)signum;
	if (f->subscribed && !f->decided)
		go_on(f, f->o->resized(f->o->ctx));
}

/* ---- the connection's events ---- */

/* A refused CONNACK, in words: with an account, bad user name or password
 * and not authorized mean its token was revoked (agora logout elsewhere)
 * or its user deleted. */
static void say_connack_refused(struct follow *f, const struct client_conn *c, uint8_t code)
{
	const char *name = f->o->name;
	const char *words = client_reason_name(code, MQTT_CONNACK, c->level);

	if (!name) {
		decide(f, EXIT_REFUSED,
		       "the MQTT server %s port %u refused the connection: %s (%u)", f->o->host,
		       f->o->port, words, code);
		return;
	}
	decide(f, EXIT_REFUSED, "the MQTT server %s port %u refused the login as %s: %s (%u)%s%s",
	       f->o->host, f->o->port, name, words, code,
	       code == 4 || code == 5 ? "; log in again: agora login " : "",
	       code == 4 || code == 5 ? name : "");
}

static void on_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct follow *f = c->data;
	struct client_filter filter = { f->o->topic, 1 };
	long rc;

	if (a->return_code) {
		say_connack_refused(f, c, a->return_code);
		return; /* the layer closes the connection */
	}
	f->connacked = true;
	if (f->interrupted)
		return; /* finish() ran before the CONNACK: closing */
	rc = client_subscribe(c, &filter, 1, NULL);
	if (rc < 0) {
		decide(f, EXIT_NET, "cannot subscribe to %s: %s", f->o->topic,
		       client_strerror((int)rc));
		finish(f, EXIT_NET);
	}
}

/* The subscription holds: what was stored before can be listed now, and
 * what comes after arrives over MQTT. */
static void on_suback(struct client_conn *c, const struct mqtt_suback *s)
{
	struct follow *f = c->data;

	if (s->count < 1 || s->codes[0] >= 0x80) {
		decide(f, EXIT_REFUSED, "the MQTT server refused the subscription to %s (0x%02X)",
		       f->o->topic, s->count ? s->codes[0] : 0);
		finish(f, EXIT_REFUSED);
		return;
	}
	if (f->interrupted)
		return;
	if (f->o->subscribed && !go_on(f, f->o->subscribed(f->o->ctx)))
		return;
	f->subscribed = true;
}

static void on_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	struct follow *f = c->data;

	/* The broker sends SUBACK before anything the subscription matches,
	 * so every message comes after `subscribed`. The session is clean:
	 * nothing is sent again from an earlier connection. */
	if (again || !f->subscribed || f->decided)
		return;
	go_on(f, f->o->message(f->o->ctx, (const char *)p->payload, p->payload_len));
}

/* ---- the run ---- */

static void connect_opts(struct follow *f)
{
	struct mqtt_connect *c = &f->copts.connect;

	/* MQTT 3.1.1, a clean session and an empty client id: the server
	 * names it, so two followers of one account coexist. */
	c->level = MQTT_LEVEL_311;
	c->clean_session = true;
	c->keepalive = KEEPALIVE_S;
	if (!f->o->name)
		return;
	c->has_username = true;
	c->username.data = (const uint8_t *)f->o->name;
	c->username.len = (uint16_t)strlen(f->o->name);
	c->has_password = true;
	c->password.data = (const uint8_t *)f->o->token;
	c->password.len = (uint16_t)strlen(f->o->token);
}

static void start(struct follow *f)
{
	static const struct client_cbs cbs = {
		.connack = on_connack,
		.suback = on_suback,
		.message = on_message,
		.closed = on_closed,
	};
	int rc;

	uv_signal_init(&f->loop, &f->sigint);
	uv_signal_init(&f->loop, &f->sigterm);
	f->sigint.data = f->sigterm.data = f->sigwinch.data = f;
	uv_signal_start(&f->sigint, on_signal, SIGINT);
	uv_signal_start(&f->sigterm, on_signal, SIGTERM);
	if (f->o->resized) {
		uv_signal_init(&f->loop, &f->sigwinch);
		uv_signal_start(&f->sigwinch, on_winch, SIGWINCH);
	}
	connect_opts(f);
	client_conn_init(&f->conn, &f->cl, &f->copts, &cbs);
	f->conn.data = f;
	rc = client_connect(&f->conn, f->o->host, f->o->port);
	if (rc < 0) {
		decide(f, EXIT_NET, "cannot resolve '%s': %s", f->o->host, client_strerror(rc));
		close_handles(f);
	}
}

/* MQTT over TLS: the server checked as `agora pub --cafile` checks it, by
 * the host's name or address. -1 (said) when the config cannot be made (a
 * CA file that does not load). */
static int tls_config(struct follow *f)
{
	struct tls_settings s = {
		.role = TLS_CLIENT,
		.cafile = f->o->tls.cafile,
		.insecure = f->o->tls.insecure,
		.server_name = f->o->host,
	};
	char err[512];

	if (!f->o->tls.on)
		return 0;
	f->copts.tls = tls_config_new(&s, err, sizeof(err));
	if (!f->copts.tls) {
		decide(f, EXIT_USAGE, "MQTT over TLS: %s", err);
		return -1;
	}
	return 0;
}

int follow_run(const struct follow_opts *o)
{
	struct follow *f;
	int rc;

	if (strlen(o->topic) > UINT16_MAX ||
	    (o->name && (strlen(o->name) > UINT16_MAX || strlen(o->token) > UINT16_MAX))) {
		fprintf(stderr, "agora %s: the kept account's name or token is too long\n", o->cmd);
		return EXIT_LOCAL;
	}
	f = xcalloc(1, sizeof(*f));
	f->o = o;
	uv_loop_init(&f->loop);
	if (tls_config(f) == 0) {
		if (client_loop_init(&f->cl, &f->loop) == 0) {
			start(f);
			uv_run(&f->loop, UV_RUN_DEFAULT);
		} else {
			decide(f, EXIT_LOCAL, "cannot set up the event loop");
		}
		client_loop_release(&f->cl);
	}
	uv_loop_close(&f->loop);
	tls_config_unref(f->copts.tls);
	rc = f->rc;
	free(f);
	return rc;
}
