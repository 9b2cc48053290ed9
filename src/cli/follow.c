/*
 * follow.c - `agora inbox --follow` over MQTT (follow.h): connect with the
 * account's token, subscribe to its inbox, let the caller list through
 * REST, then print each new message until a signal or the connection's end.
 */
#include "follow.h"

#include "commands.h"

#include "base/alloc.h"
#include "client/client.h"
#include "client/rest_print.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_S 60
#define TOPIC_MAX 128 /* "agora/users/" and a name of 32 characters at most */

struct follow {
	const struct follow_opts *o;
	uv_loop_t loop;
	struct client_loop cl;
	struct client_conn conn;
	struct client_opts copts;
	uv_signal_t sigint, sigterm;
	char topic[TOPIC_MAX];
	int64_t *seen; /* the ids listed, sorted: not printed again */
	size_t nseen;
	int rc;
	bool decided, connacked, listed, interrupted;
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

static void on_closed(struct client_conn *c, int err)
{
	struct follow *f = c->data;
	const char *host = f->o->host;

	if (!err || f->decided)
		decide(f, EXIT_OK, NULL);
	else if (err <= UV_EAI_ADDRFAMILY && err >= UV_EAI_PROTOCOL)
		decide(f, EXIT_NET, "cannot resolve '%s': %s", host, client_strerror(err));
	else if (!f->connacked)
		decide(f, EXIT_NET, "cannot connect to the MQTT server %s port %u: %s", host,
		       f->o->port, client_strerror(err));
	else
		decide(f, EXIT_NET, "lost the connection to the MQTT server %s port %u: %s", host,
		       f->o->port, client_strerror(err));
	uv_close((uv_handle_t *)&f->sigint, NULL);
	uv_close((uv_handle_t *)&f->sigterm, NULL);
	client_loop_close(&f->cl);
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

/* ---- the ids listed ---- */

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Keeps the ids of the messages listed (and drops the list). */
static void remember_listed(struct follow *f, json_t *listed)
{
	size_t i, n = json_array_size(listed);
	json_t *m;

	if (n) {
		f->seen = xmalloc(n * sizeof(*f->seen));
		json_array_foreach(listed, i, m)
			f->seen[f->nseen++] = json_integer_value(json_object_get(m, "id"));
		qsort(f->seen, f->nseen, sizeof(*f->seen), cmp_id);
	}
	json_decref(listed);
}

static bool listed_already(const struct follow *f, int64_t id)
{
	return f->nseen && bsearch(&id, f->seen, f->nseen, sizeof(id), cmp_id);
}

/* ---- the connection's events ---- */

static void on_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct follow *f = c->data;
	struct client_filter filter = { f->topic, 1 };
	long rc;

	if (a->return_code) {
		/* Bad user name or password, not authorized: the token was
		 * revoked (agora logout elsewhere) or its user deleted. */
		bool login = a->return_code == 4 || a->return_code == 5;

		decide(f, EXIT_REFUSED,
		       "the MQTT server %s port %u refused the login as %s: %s (%u)%s%s",
		       f->o->host, f->o->port, f->o->name,
		       client_reason_name(a->return_code, MQTT_CONNACK, c->level), a->return_code,
		       login ? "; log in again: agora login " : "", login ? f->o->name : "");
		return; /* the layer closes the connection */
	}
	f->connacked = true;
	if (f->interrupted)
		return; /* finish() ran before the CONNACK: closing */
	rc = client_subscribe(c, &filter, 1, NULL);
	if (rc < 0) {
		decide(f, EXIT_NET, "cannot subscribe to %s: %s", f->topic,
		       client_strerror((int)rc));
		finish(f, EXIT_NET);
	}
}

/* The subscription holds: what was stored before can be listed now, and
 * what comes after arrives over MQTT. */
static void on_suback(struct client_conn *c, const struct mqtt_suback *s)
{
	struct follow *f = c->data;
	json_t *listed = NULL;
	int rc;

	if (s->count < 1 || s->codes[0] >= 0x80) {
		decide(f, EXIT_REFUSED, "the MQTT server refused the subscription to %s (0x%02X)",
		       f->topic, s->count ? s->codes[0] : 0);
		finish(f, EXIT_REFUSED);
		return;
	}
	if (f->interrupted)
		return;
	rc = f->o->list(f->o->ctx, &listed);
	if (rc != EXIT_OK) {
		finish(f, rc); /* said by the callback */
		return;
	}
	remember_listed(f, listed);
	f->listed = true;
}

/* Prints a message as the listing does; false when stdout failed. */
static bool print_live(struct follow *f, const json_t *m)
{
	rest_print_message(stdout, m, f->o->json);
	if (fflush(stdout) == 0)
		return true;
	/* `agora inbox --follow | head -3` is done, not failed. */
	if (errno != EPIPE)
		decide(f, EXIT_LOCAL, "cannot write the output: %s", strerror(errno));
	finish(f, EXIT_OK);
	return false;
}

static void on_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	struct follow *f = c->data;
	json_t *m;
	int rc;

	/* The broker sends SUBACK before anything the subscription matches,
	 * so every message comes after the listing began; one stored before
	 * the listing's read was listed, and is skipped here. The session is
	 * clean: nothing is sent again from an earlier connection. */
	if (again || !f->listed || f->decided)
		return;
	m = rest_message_parse((const char *)p->payload, p->payload_len);
	if (!m) {
		fprintf(stderr, "agora %s: skipped a message on %s that is not the API's JSON\n",
			f->o->cmd, f->topic);
		return;
	}
	if (listed_already(f, json_integer_value(json_object_get(m, "id"))))
		goto out_decref;
	if (!print_live(f, m))
		goto out_decref;
	if (f->o->printed && (rc = f->o->printed(f->o->ctx, m)) != EXIT_OK)
		finish(f, rc);
out_decref:
	json_decref(m);
}

/* ---- the run ---- */

static void connect_opts(struct follow *f)
{
	struct mqtt_connect *c = &f->copts.connect;

	/* MQTT 3.1.1, a clean session and an empty client id: the server
	 * names it, so two `agora inbox --follow` of one account coexist. */
	c->level = MQTT_LEVEL_311;
	c->clean_session = true;
	c->keepalive = KEEPALIVE_S;
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
	f->sigint.data = f->sigterm.data = f;
	uv_signal_start(&f->sigint, on_signal, SIGINT);
	uv_signal_start(&f->sigterm, on_signal, SIGTERM);
	connect_opts(f);
	client_conn_init(&f->conn, &f->cl, &f->copts, &cbs);
	f->conn.data = f;
	rc = client_connect(&f->conn, f->o->host, f->o->port);
	if (rc < 0) {
		decide(f, EXIT_NET, "cannot resolve '%s': %s", f->o->host, client_strerror(rc));
		uv_close((uv_handle_t *)&f->sigint, NULL);
		uv_close((uv_handle_t *)&f->sigterm, NULL);
		client_loop_close(&f->cl);
	}
}

int follow_run(const struct follow_opts *o)
{
	struct follow *f = xcalloc(1, sizeof(*f));
	int rc;

	f->o = o;
	if (strlen(o->name) > TOPIC_MAX - 32 || strlen(o->token) > UINT16_MAX) {
		fprintf(stderr, "agora %s: the kept account's name or token is too long\n", o->cmd);
		free(f);
		return EXIT_LOCAL;
	}
	snprintf(f->topic, sizeof(f->topic), "agora/users/%s/inbox", o->name);
	uv_loop_init(&f->loop);
	if (client_loop_init(&f->cl, &f->loop) == 0) {
		start(f);
		uv_run(&f->loop, UV_RUN_DEFAULT);
	} else {
		decide(f, EXIT_LOCAL, "cannot set up the event loop");
	}
	uv_loop_close(&f->loop);
	client_loop_release(&f->cl);
	rc = f->rc;
	free(f->seen);
	free(f);
	return rc;
}
