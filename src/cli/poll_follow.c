/*
 * poll_follow.c - `agora poll show ID --follow`: the poll's results live,
 * from the retained MQTT topic agora/polls/{ID}/results (the server
 * publishes the poll object there after every change), on the client
 * connection layer `agora sub` uses (src/client/client.h).
 *
 * One libuv loop: the signals first (so a SIGINT that comes while the
 * first results are printed still ends the run cleanly), the results the
 * REST API gave, then the connection: CONNACK, SUBSCRIBE at QoS 1, and
 * every PUBLISH on the topic shown when it differs from what is shown
 * (the retained copy usually repeats the REST answer). SIGINT or SIGTERM
 * sends DISCONNECT and ends with status 0.
 *
 * On a terminal each new state replaces the last one: the cursor goes up
 * the rows the last frame took (long lines wrap: poll_text_rows) and the
 * screen below is cleared. Elsewhere (a pipe, a file) each state is a
 * block of its own after an empty line, or a JSON line with --json.
 */
#include "commands.h"

#include "base/alloc.h"
#include "base/text.h"
#include "client/client.h"
#include "client/poll_text.h"
#include "poll.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_S 60
#define RESULTS_MAX (1u << 20) /* a poll's JSON is a few KiB; this is a backstop */

struct follow {
	const struct poll_follow_args *a;
	char topic[64];
	uv_loop_t loop;
	struct client_loop cl;
	struct client_conn conn;
	struct client_opts copts;
	uv_signal_t sigint, sigterm, sigwinch;
	json_t *shown;  /* the poll shown last */
	char *frame;    /* its text on the terminal (tty only), to redraw after a resize */
	int rows;       /* the rows that text takes */
	bool tty;       /* stdout is a terminal and there are bars to redraw */
	int rc;         /* exit status once decided */
	bool decided, interrupted, connacked;
};

/* ---- ending ---- */

static void decide(struct follow *f, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records how the run ends (the first decision counts), with one line on
 * stderr for an error. */
static void decide(struct follow *f, int rc, const char *fmt, ...)
{
	va_list ap;

	if (f->decided)
		return;
	f->decided = true;
	f->rc = rc;
	if (!fmt)
		return;
	fprintf(stderr, "agora %s: ", f->a->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void finish(struct follow *f, int rc)
{
	decide(f, rc, NULL);
	client_disconnect(&f->conn, 0, NULL);
}

/* After `closed`: the loop's other handles, so uv_run returns. */
static void close_all(struct follow *f)
{
	uv_close((uv_handle_t *)&f->sigint, NULL);
	uv_close((uv_handle_t *)&f->sigterm, NULL);
	uv_close((uv_handle_t *)&f->sigwinch, NULL);
	client_loop_close(&f->cl);
}

static void on_closed(struct client_conn *c, int err)
{
	struct follow *f = c->data;
	const struct poll_follow_args *a = f->a;

	if (!err || f->decided)
		decide(f, EXIT_OK, NULL);
	else if (err <= UV_EAI_ADDRFAMILY && err >= UV_EAI_PROTOCOL)
		decide(f, EXIT_NET, "cannot resolve '%s': %s", a->host, client_strerror(err));
	else if (!f->connacked && err != CLIENT_EREFUSED && err != CLIENT_EPROTO)
		decide(f, EXIT_NET, "cannot connect to the broker %s port %u: %s", a->host, a->port,
		       client_strerror(err));
	else
		decide(f, EXIT_NET, "the broker %s port %u: %s", a->host, a->port,
		       client_strerror(err));
	close_all(f);
}

/* A reason code in words, with the server's reason string if it sent one. */
static void say_reason(struct follow *f, int rc, const char *what, uint8_t code, int type,
		       const struct mqtt_props *p)
{
	bool has_why = p && (p->present & MQTT_PROP_BIT(MQTT_PROP_REASON_STRING));

	decide(f, rc, "%s: %s (0x%02X)%s%.*s", what, client_reason_name(code, type, MQTT_LEVEL_5),
	       code, has_why ? ": " : "", has_why ? (int)p->reason_string.len : 0,
	       has_why ? (const char *)p->reason_string.data : "");
}

/* SIGINT, SIGTERM: DISCONNECT and exit 0; a second one does not wait. */
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

/* ---- showing ---- */

/* Writes s; a reader gone (EPIPE: `| head`) ends the run quietly. */
static void write_out(struct follow *f, const char *s, size_t len)
{
	if (fwrite(s, 1, len, stdout) == len && fflush(stdout) == 0)
		return;
	if (errno != EPIPE)
		decide(f, EXIT_LOCAL, "cannot write the output: %s", strerror(errno));
	finish(f, EXIT_OK);
}

/* The terminal: up the rows of the last frame, clear below, the new one. */
static void redraw(struct follow *f, const json_t *poll)
{
	int columns = poll_stdout_columns();
	struct text t = { 0 }, frame = { 0 };

	poll_text_results(&frame, poll, columns);
	if (f->frame && f->rows > 0)
		text_printf(&t, "\x1b[%dA\r\x1b[J", f->rows);
	text_printf(&t, "%s", frame.s);
	write_out(f, t.s, t.len);
	free(t.s);
	free(f->frame);
	f->frame = frame.s;
	f->rows = poll_text_rows(frame.s, columns);
}

/* Shows poll (taken over) unless it is what is shown already. */
static void show(struct follow *f, json_t *poll)
{
	struct text t = { 0 };

	if (f->shown && json_equal(f->shown, poll)) {
		json_decref(poll);
		return;
	}
	if (f->tty) {
		redraw(f, poll);
	} else {
		size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
		char *json = f->a->json ? json_dumps(poll, flags) : NULL;

		if (json)
			text_printf(&t, "%s\n", json);
		else if (!f->a->json && f->shown)
			text_printf(&t, "\n"); /* blocks apart */
		if (!f->a->json)
			poll_text_results(&t, poll, 0);
		if (t.len)
			write_out(f, t.s, t.len);
		free(json);
		free(t.s);
	}
	json_decref(f->shown);
	f->shown = poll;
}

/* A resized terminal: the last frame again at the new width. The terminal
 * may have rewrapped the old one; its rows at the new width is the best
 * guess of how far up it now starts. */
static void on_winch(uv_signal_t *h, int signum)
{
	struct follow *f = h->data;

	(void)signum;
	if (!f->tty || !f->frame || f->decided)
		return;
	f->rows = poll_text_rows(f->frame, poll_stdout_columns());
	redraw(f, f->shown);
}

/* ---- the connection ---- */

static void on_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct follow *f = c->data;
	struct client_filter filter = { f->topic, 1 };
	long rc;

	if (a->return_code) {
		char what[300];

		snprintf(what, sizeof(what), "the broker %s port %u refused the connection",
			 f->a->host, f->a->port);
		say_reason(f, EXIT_REFUSED, what, a->return_code, MQTT_CONNACK, &a->props);
		return; /* the layer closes it */
	}
	f->connacked = true;
	if (f->interrupted) {
		finish(f, EXIT_OK);
		return;
	}
	rc = client_subscribe(c, &filter, 1, NULL);
	if (rc < 0) {
		decide(f, EXIT_NET, "cannot subscribe: %s", client_strerror((int)rc));
		finish(f, EXIT_NET);
	}
}

static void on_suback(struct client_conn *c, const struct mqtt_suback *s)
{
	struct follow *f = c->data;
	char what[128];

	if (s->count < 1 || s->codes[0] < 0x80)
		return;
	snprintf(what, sizeof(what), "subscription to '%s' refused", f->topic);
	say_reason(f, EXIT_REFUSED, what, s->codes[0], MQTT_SUBACK, &s->props);
	finish(f, EXIT_REFUSED);
}

static void on_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	struct follow *f = c->data;
	json_t *poll;

	if (again || f->decided || p->topic.len != strlen(f->topic) ||
	    memcmp(p->topic.data, f->topic, p->topic.len) != 0)
		return;
	poll = json_loadb((const char *)p->payload, p->payload_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(poll) || json_integer_value(json_object_get(poll, "id")) != f->a->id ||
	    !json_is_array(json_object_get(poll, "options"))) {
		fprintf(stderr, "agora %s: ignored a message on %s that is not this poll\n",
			f->a->cmd, f->topic);
		json_decref(poll);
		return;
	}
	show(f, poll);
}

static void on_disconnect(struct client_conn *c, const struct mqtt_reason *d)
{
	struct follow *f = c->data;

	say_reason(f, EXIT_NET, "the broker disconnected", d->reason_code, MQTT_DISCONNECT,
		   &d->props);
}

/* ---- the run ---- */

static void setup(struct follow *f)
{
	struct mqtt_connect *cn = &f->copts.connect;

	signal(SIGPIPE, SIG_IGN); /* a closed socket or stdout is an error, not a death */
	uv_loop_init(&f->loop);
	client_loop_init(&f->cl, &f->loop);
	f->cl.data = f;
	uv_signal_init(&f->loop, &f->sigint);
	uv_signal_init(&f->loop, &f->sigterm);
	uv_signal_init(&f->loop, &f->sigwinch);
	f->sigint.data = f->sigterm.data = f->sigwinch.data = f;
	uv_signal_start(&f->sigint, on_signal, SIGINT);
	uv_signal_start(&f->sigterm, on_signal, SIGTERM);
	uv_signal_start(&f->sigwinch, on_winch, SIGWINCH);
	/* MQTT 5: the server names the client, and refusals come with reasons */
	cn->level = MQTT_LEVEL_5;
	cn->clean_session = true;
	cn->keepalive = KEEPALIVE_S;
	f->copts.max_packet = RESULTS_MAX;
}

int poll_follow(const struct poll_follow_args *a, json_t *first)
{
	static const struct client_cbs cbs = {
		.connack = on_connack,
		.message = on_message,
		.suback = on_suback,
		.disconnect = on_disconnect,
		.closed = on_closed,
	};
	struct follow *f = xcalloc(1, sizeof(*f));
	int rc;

	f->a = a;
	f->tty = !a->json && poll_stdout_columns() > 0;
	snprintf(f->topic, sizeof(f->topic), "agora/polls/%lld/results", (long long)a->id);
	setup(f);
	client_conn_init(&f->conn, &f->cl, &f->copts, &cbs);
	f->conn.data = f;
	show(f, first);
	rc = f->decided ? 0 : client_connect(&f->conn, a->host, a->port);
	if (rc < 0)
		decide(f, EXIT_NET, "cannot resolve '%s': %s", a->host, client_strerror(rc));
	if (rc < 0 || f->decided)
		close_all(f); /* no connection started: nothing will call `closed` */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	client_loop_release(&f->cl);
	rc = f->rc;
	json_decref(f->shown);
	free(f->frame);
	free(f);
	return rc;
}
