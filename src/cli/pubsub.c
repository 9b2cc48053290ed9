/*
 * pubsub.c - `agora pub` and `agora sub`: MQTT from the shell, with the
 * options of mosquitto_pub and mosquitto_sub (parsed by
 * src/client/options.c), on the client connection layer that `agora bench`
 * uses too (src/client/client.h).
 *
 * One run is one connection on one libuv loop: resolve, CONNECT, then pub
 * publishes its message(s) and waits for their acknowledgements, or sub
 * subscribes and prints what arrives; both end with DISCONNECT. SIGINT and
 * SIGTERM end a run cleanly (DISCONNECT sent, so no will goes out). The
 * exit status says how it ended (commands.h): 0 done, 1 bad options, 2 the
 * network, the protocol or a timeout, 3 the server said no (CONNACK,
 * SUBACK, a PUBACK or PUBREC reason, a DISCONNECT refusing something), 4
 * a local file, stdin or stdout.
 */
#include "commands.h"

#include "base/alloc.h"
#include "base/array.h"
#include "client/client.h"
#include "client/shell.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STDIN_CHUNK (64 * 1024)
#define PUB_OUT_HIGH (1u << 20) /* -l: stdin waits while this much output is queued */
/* The largest payload a PUBLISH can carry with a short topic: -f, -s, -l
 * refuse more before connecting (the server may accept less: ETOOBIG). */
#define MAX_PAYLOAD (MQTT_MAX_REMAINING - 65536)

struct run {
	const char *cmd;          /* "pub" or "sub" */
	struct client_cmdline o;
	uv_loop_t loop;
	struct client_loop cl;
	struct client_conn conn;
	struct client_opts copts;
	uv_signal_t sigint, sigterm;
	uv_timer_t wait_timer;    /* sub -W */
	char id[32];              /* a generated client id */
	char label[64];           /* the client id in -d traces */
	int rc;                   /* exit status once decided */
	bool decided, connacked, finishing, interrupted;
	/* pub */
	uint8_t *payload;         /* -m, -f, -s, -n: the one message */
	size_t payload_len;
	bool sent_one, source_done, alias_set;
	uint64_t published;
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
	} in;
	uv_idle_t file_pump;      /* -l from a regular file */
	bool in_stream, in_file, in_reading, in_open;
	struct client_buf line;   /* -l: input not yet published */
	uint32_t line_pos;
	/* sub */
	uint64_t printed;
	struct client_buf out;
};

/* ---- ending ---- */

/* Records how the run ends (the first decision counts) with one line for
 * stderr when it is an error. */
static void decide(struct run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void decide(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->decided)
		return;
	r->decided = true;
	r->rc = rc;
	if (!fmt)
		return;
	fprintf(stderr, "agora %s: ", r->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Ends the run: DISCONNECT (with -D disconnect properties), then close. */
static void finish(struct run *r, int rc)
{
	decide(r, rc, NULL);
	r->finishing = true;
	client_disconnect(&r->conn, 0, &r->o.props[CLIENT_PROPS_DISCONNECT].props);
}

static void close_stdin(struct run *r);

/* After `closed`: the loop's other handles, so uv_run returns. */
static void close_all(struct run *r)
{
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
	uv_close((uv_handle_t *)&r->wait_timer, NULL);
	close_stdin(r);
	client_loop_close(&r->cl);
}

static const char *reason_words(const struct run *r, uint8_t code, int type, char *buf,
				size_t len)
{
	const char *name = client_reason_name(code, type, r->o.level);

	if (r->o.level == MQTT_LEVEL_5)
		snprintf(buf, len, "%s (0x%02X)", name, code);
	else
		snprintf(buf, len, "%s (%u)", name, code);
	return buf;
}

/* MQTT 5 reason strings, appended to an error line when present. */
static const char *reason_string(const struct mqtt_props *p, char *buf, size_t len)
{
	if (!p || !(p->present & MQTT_PROP_BIT(MQTT_PROP_REASON_STRING)))
		return "";
	snprintf(buf, len, ": %.*s", (int)p->reason_string.len,
		 (const char *)p->reason_string.data);
	return buf;
}

static void on_closed(struct client_conn *c, int err)
{
	struct run *r = c->data;
	const char *host = r->o.host;

	if (!err || r->decided) {
		decide(r, EXIT_OK, NULL);
	} else if (err <= UV_EAI_ADDRFAMILY && err >= UV_EAI_PROTOCOL) {
		decide(r, EXIT_NET, "cannot resolve '%s': %s", host, client_strerror(err));
	} else if (err == CLIENT_ETLS) {
		decide(r, EXIT_NET, "cannot connect to %s port %u: TLS: %s", host, r->o.port,
		       client_tls_error(c));
	} else if (!r->connacked && err != CLIENT_EREFUSED && err != CLIENT_EPROTO) {
		decide(r, EXIT_NET, "cannot connect to %s port %u: %s", host, r->o.port,
		       client_strerror(err));
	} else {
		decide(r, EXIT_NET, "%s", client_strerror(err));
	}
	close_all(r);
}

static void stop_reading(struct run *r);

/* SIGINT, SIGTERM: DISCONNECT and exit 0, unless pub leaves a message
 * unsent or unacknowledged (a stream of lines the user stops is not
 * unsent); a second signal does not wait for DISCONNECT to go out. */
static void on_signal(uv_signal_t *h, int signum)
{
	struct run *r = h->data;
	bool lines = r->o.source == CLIENT_SRC_LINES;

	(void)signum;
	if (r->interrupted) {
		client_close(&r->conn, 0);
		return;
	}
	r->interrupted = true;
	if (!r->o.sub) {
		stop_reading(r);
		if (client_inflight(&r->conn) || (!lines && !r->source_done))
			decide(r, EXIT_NET, "interrupted before every message was acknowledged");
	}
	finish(r, EXIT_OK);
}

/* A CONNACK refusal (the layer closes after this), with its words. */
static bool connack_refused(struct run *r, const struct mqtt_connack *a)
{
	char words[96], why[300];

	if (!a->return_code)
		return false;
	decide(r, EXIT_REFUSED, "%s refused the connection: %s%s", r->o.host,
	       reason_words(r, a->return_code, MQTT_CONNACK, words, sizeof(words)),
	       reason_string(&a->props, why, sizeof(why)));
	return true;
}

/* A DISCONNECT from the server: a refusal (3) when it says no to what
 * the client did, otherwise the connection's end (2). */
static void on_disconnect(struct client_conn *c, const struct mqtt_reason *d)
{
	static const uint8_t refusals[] = { 0x87, 0x8A, 0x8F, 0x90, 0x93, 0x94, 0x95,
					    0x97, 0x99, 0x9A, 0x9B, 0x9E, 0xA1, 0xA2 };
	struct run *r = c->data;
	char words[96], why[300];
	bool refused = memchr(refusals, d->reason_code, sizeof(refusals)) != NULL;

	decide(r, refused ? EXIT_REFUSED : EXIT_NET, "the server disconnected: %s%s",
	       reason_words(r, d->reason_code, MQTT_DISCONNECT, words, sizeof(words)),
	       reason_string(&d->props, why, sizeof(why)));
}

/* ---- -d: the packets, one line each on stderr ---- */

static void trace(struct client_conn *c, const struct mqtt_packet *p, bool sent)
{
	struct run *r = c->data;
	const char *dir = sent ? "sending" : "received";
	const char *name = mqtt_type_name(p->type);

	switch (p->type) {
	case MQTT_CONNACK:
		if (p->u.connack.props.present & MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID))
			snprintf(r->label, sizeof(r->label), "%.*s",
				 (int)p->u.connack.props.assigned_client_id.len,
				 (const char *)p->u.connack.props.assigned_client_id.data);
		fprintf(stderr, "Client %s %s CONNACK (%u)\n", r->label, dir,
			p->u.connack.return_code);
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *m = &p->u.publish;
		fprintf(stderr, "Client %s %s PUBLISH (d%d, q%u, r%d, m%u, '%.*s', ... (%u bytes))\n",
			r->label, dir, m->dup, m->qos, m->retain, m->packet_id, (int)m->topic.len,
			(const char *)m->topic.data, m->payload_len);
		break;
	}
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		fprintf(stderr, "Client %s %s %s (m%u, rc%u)\n", r->label, dir, name,
			p->u.ack.packet_id, p->u.ack.reason_code);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		const struct mqtt_topic_list *l = p->type == MQTT_SUBSCRIBE
							  ? &p->u.subscribe.filters
							  : &p->u.unsubscribe.filters;
		struct mqtt_topic_iter it = { l, 0 };
		struct mqtt_str f;
		uint8_t opts;
		while (mqtt_topic_list_next_opts(&it, &f, &opts))
			fprintf(stderr, "Client %s %s %s (Mid: %u, Topic: %.*s, QoS: %u)\n",
				r->label, dir, name,
				p->type == MQTT_SUBSCRIBE ? p->u.subscribe.packet_id
							  : p->u.unsubscribe.packet_id,
				(int)f.len, (const char *)f.data,
				l->with_options ? MQTT_SUBOPT_QOS(opts) : 0);
		break;
	}
	case MQTT_SUBACK:
		fprintf(stderr, "Client %s %s SUBACK (Mid: %u, %u code%s)\n", r->label, dir,
			p->u.suback.packet_id, p->u.suback.count, p->u.suback.count == 1 ? "" : "s");
		break;
	case MQTT_DISCONNECT:
		fprintf(stderr, "Client %s %s DISCONNECT (rc%u)\n", r->label, dir,
			r->o.level == MQTT_LEVEL_5 ? p->u.reason.reason_code : 0);
		break;
	default:
		fprintf(stderr, "Client %s %s %s\n", r->label, dir, name);
		break;
	}
}

/* ---- connecting ---- */

/* --cafile, --cert... : the TLS config (verifying the server by the name
 * or address given with -h, unless --insecure). -1 (said) if it cannot be
 * made. */
static int tls_opts(struct run *r)
{
	char err[512];

	if (!client_tls_wanted(&r->o.tls))
		return 0;
	r->copts.tls = client_tls_config(&r->o.tls, r->o.host, err, sizeof(err));
	if (!r->copts.tls) {
		decide(r, EXIT_USAGE, "%s", err);
		return -1;
	}
	return 0;
}

static void connect_opts(struct run *r)
{
	const struct client_cmdline *o = &r->o;
	struct mqtt_connect *c = &r->copts.connect;
	struct mqtt_props *props = &c->props;

	*props = o->props[CLIENT_PROPS_CONNECT].props;
	c->will_props = o->props[CLIENT_PROPS_WILL].props;
	c->level = o->level;
	c->clean_session = o->clean;
	c->keepalive = o->keepalive;
	if (o->id) {
		c->client_id.data = (const uint8_t *)o->id;
	} else if (o->level != MQTT_LEVEL_5) {
		/* MQTT 5 servers assign one to an empty id; 3.1 needs one */
		snprintf(r->id, sizeof(r->id), "agora-%s-%d", r->cmd, (int)getpid());
		c->client_id.data = (const uint8_t *)r->id;
	}
	c->client_id.len = (uint16_t)(c->client_id.data ? strlen((const char *)c->client_id.data) : 0);
	snprintf(r->label, sizeof(r->label), "%s", c->client_id.len ? (const char *)c->client_id.data
								     : "(null)");
	if (o->level == MQTT_LEVEL_5 && (o->has_session_expiry || !o->clean)) {
		/* -c: the session outlives the connection, forever unless -x */
		props->session_expiry = o->has_session_expiry ? o->session_expiry : UINT32_MAX;
		props->present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
	}
	if (o->will_topic) {
		c->will = true;
		c->will_topic.data = (const uint8_t *)o->will_topic;
		c->will_topic.len = (uint16_t)strlen(o->will_topic);
		c->will_payload.data = (const uint8_t *)(o->will_payload ? o->will_payload : "");
		c->will_payload.len = (uint16_t)strlen((const char *)c->will_payload.data);
		c->will_qos = o->will_qos;
		c->will_retain = o->will_retain;
	}
	if (o->username) {
		c->has_username = true;
		c->username.data = (const uint8_t *)o->username;
		c->username.len = (uint16_t)strlen(o->username);
	}
	if (o->password) {
		c->has_password = true;
		c->password.data = (const uint8_t *)o->password;
		c->password.len = (uint16_t)strlen(o->password);
	}
	if (props->present & MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE))
		r->copts.max_packet = props->maximum_packet_size;
}

static int open_stdin(struct run *r);

/* Sets up the loop, the signals, stdin for pub -l and the connection, and
 * runs it all. Returns the exit status. */
static int run_loop(struct run *r, const struct client_cbs *cbs, void (*turn)(struct client_loop *))
{
	bool bad_tls;
	int rc;

	signal(SIGPIPE, SIG_IGN); /* a closed socket or stdout is an error, not a death */
	uv_loop_init(&r->loop);
	client_loop_init(&r->cl, &r->loop);
	r->cl.data = r;
	r->cl.turn = turn;
	uv_signal_init(&r->loop, &r->sigint);
	uv_signal_init(&r->loop, &r->sigterm);
	r->sigint.data = r->sigterm.data = r;
	uv_signal_start(&r->sigint, on_signal, SIGINT);
	uv_signal_start(&r->sigterm, on_signal, SIGTERM);
	uv_timer_init(&r->loop, &r->wait_timer);
	r->wait_timer.data = r;
	connect_opts(r);
	bad_tls = tls_opts(r) != 0; /* before client_conn_init copies the options */
	client_conn_init(&r->conn, &r->cl, &r->copts, cbs);
	r->conn.data = r;
	rc = bad_tls || (r->o.source == CLIENT_SRC_LINES && open_stdin(r))
		     ? UV_EINVAL
		     : client_connect(&r->conn, r->o.host, r->o.port);
	if (rc < 0 && r->decided) {
		close_all(r); /* stdin: said already */
	} else if (rc < 0) {
		decide(r, EXIT_NET, "cannot resolve '%s': %s", r->o.host, client_strerror(rc));
		close_all(r);
	}
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
	client_loop_release(&r->cl);
	tls_config_unref(r->copts.tls);
	return r->rc;
}

/* ---- pub: the message(s) ---- */

/* Reads all of fd (a file or stdin) into the single message. */
static int read_all(struct run *r, int fd, const char *what)
{
	size_t cap = 0;
	ssize_t n;

	for (;;) {
		if (r->payload_len == cap) {
			if (cap >= MAX_PAYLOAD) {
				decide(r, EXIT_LOCAL, "%s is larger than a message can be (%u bytes)",
				       what, MAX_PAYLOAD);
				return -1;
			}
			cap = cap ? cap * 2 : STDIN_CHUNK;
			r->payload = xrealloc(r->payload, cap);
		}
		n = read(fd, r->payload + r->payload_len, cap - r->payload_len);
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			decide(r, EXIT_LOCAL, "cannot read %s: %s", what, strerror(errno));
			return -1;
		}
		r->payload_len += (size_t)n;
	}
}

static int load_message(struct run *r)
{
	int fd, rc;

	switch (r->o.source) {
	case CLIENT_SRC_MESSAGE:
		r->payload_len = strlen(r->o.message);
		r->payload = (uint8_t *)xstrndup(r->o.message, r->payload_len);
		return 0;
	case CLIENT_SRC_FILE:
		fd = open(r->o.file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			decide(r, EXIT_LOCAL, "cannot read %s: %s", r->o.file, strerror(errno));
			return -1;
		}
		rc = read_all(r, fd, r->o.file);
		close(fd);
		return rc;
	case CLIENT_SRC_STDIN:
		return read_all(r, STDIN_FILENO, "stdin");
	default:
		return 0; /* -n: empty; -l: read as it comes */
	}
}

/* One PUBLISH of payload on the topic, with the -D publish properties.
 * Returns 1 sent, 0 the layer is full (try again later), -1 the run ends. */
static int publish(struct run *r, const uint8_t *payload, size_t len)
{
	struct mqtt_publish p = { 0 };
	const char *topic = r->o.topics[0];
	long rc;

	p.topic.data = (const uint8_t *)topic;
	p.topic.len = (uint16_t)strlen(topic);
	p.qos = r->o.qos;
	p.retain = r->o.retain;
	p.payload = payload;
	p.payload_len = (uint32_t)len;
	p.props = r->o.props[CLIENT_PROPS_PUBLISH].props;
	if (r->alias_set)
		p.topic.len = 0; /* the alias stands for the topic from the second on */
	rc = client_publish(&r->conn, &p);
	if (rc == CLIENT_EFULL)
		return 0;
	if (rc < 0) {
		decide(r, rc == CLIENT_ETOOBIG ? EXIT_REFUSED : EXIT_NET,
		       "cannot publish a message of %zu bytes: %s", len, client_strerror((int)rc));
		finish(r, EXIT_NET);
		return -1;
	}
	r->alias_set = (p.props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)) != 0;
	r->published++;
	return 1;
}

/* Done when the source is exhausted, every QoS 1/2 message acknowledged
 * and the output written. */
static void pub_maybe_done(struct run *r)
{
	if (r->source_done && !r->finishing && !client_inflight(&r->conn) &&
	    !client_out_pending(&r->conn))
		finish(r, EXIT_OK);
}

/* ---- pub -l: stdin, a message per line ---- */

static void pump_lines(struct run *r);

static void stop_reading(struct run *r)
{
	if (!r->in_reading)
		return;
	r->in_reading = false;
	if (r->in_stream)
		uv_read_stop((uv_stream_t *)&r->in);
	else
		uv_idle_stop(&r->file_pump);
}

static void on_stdin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct run *r = h->data;

	(void)suggested;
	ARRAY_GROW(r->line.b, r->line.cap, (size_t)r->line.len + STDIN_CHUNK, STDIN_CHUNK,
		   ARRAY_MAX);
	*buf = uv_buf_init((char *)r->line.b + r->line.len, STDIN_CHUNK);
}

/* Bytes read (n > 0), the end (0) or an error (< 0) of stdin. */
static void stdin_data(struct run *r, ssize_t n)
{
	if (n > 0) {
		r->line.len += (uint32_t)n;
		pump_lines(r);
		return;
	}
	stop_reading(r);
	if (n < 0 && n != UV_EOF) {
		decide(r, EXIT_LOCAL, "cannot read stdin: %s", uv_strerror((int)n));
		finish(r, EXIT_LOCAL);
		return;
	}
	r->source_done = true;
	pump_lines(r); /* the last line, without a newline */
}

static void on_stdin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n != 0)
		stdin_data(s->data, n == UV_EOF ? 0 : n);
}

/* A regular file cannot be polled: read it a chunk per loop turn while
 * the connection takes messages. */
static void on_file_pump(uv_idle_t *h)
{
	struct run *r = h->data;
	uv_buf_t buf;
	ssize_t n;

	on_stdin_alloc((uv_handle_t *)h, STDIN_CHUNK, &buf);
	n = read(STDIN_FILENO, buf.base, buf.len);
	if (n < 0 && errno == EINTR)
		return;
	stdin_data(r, n < 0 ? uv_translate_sys_error(errno) : n);
}

static void start_reading(struct run *r)
{
	if (r->in_reading || r->source_done || r->finishing)
		return;
	r->in_reading = true;
	if (r->in_stream)
		uv_read_start((uv_stream_t *)&r->in, on_stdin_alloc, on_stdin_read);
	else
		uv_idle_start(&r->file_pump, on_file_pump);
}

/* Publishes every complete line read (and the rest at the end of input);
 * stops reading while the connection cannot take more. */
static void pump_lines(struct run *r)
{
	while (!r->finishing) {
		uint8_t *start = r->line.b + r->line_pos;
		size_t avail = r->line.len - r->line_pos;
		uint8_t *nl = avail ? memchr(start, '\n', avail) : NULL;
		size_t len = nl ? (size_t)(nl - start) : avail;
		int rc;

		if (!nl && !(r->source_done && avail)) {
			if (avail > MAX_PAYLOAD) {
				decide(r, EXIT_LOCAL, "a line of stdin is longer than a message can "
						      "be (%u bytes)", MAX_PAYLOAD);
				finish(r, EXIT_LOCAL);
				return;
			}
			break;
		}
		rc = publish(r, start, len);
		if (rc < 0)
			return;
		if (rc == 0 || client_out_pending(&r->conn) > PUB_OUT_HIGH) {
			if (rc == 1)
				r->line_pos += (uint32_t)(len + (nl ? 1 : 0));
			stop_reading(r); /* `published` or `drained` resumes */
			return;
		}
		r->line_pos += (uint32_t)(len + (nl ? 1 : 0));
	}
	/* keep only the unfinished line */
	memmove(r->line.b, r->line.b + r->line_pos, r->line.len - r->line_pos);
	r->line.len -= r->line_pos;
	r->line_pos = 0;
	if (r->source_done)
		pub_maybe_done(r);
	else
		start_reading(r);
}

static int open_stdin(struct run *r)
{
	uv_handle_type t = uv_guess_handle(STDIN_FILENO);
	int rc = 0;

	if (t == UV_TTY) {
		rc = uv_tty_init(&r->loop, &r->in.tty, STDIN_FILENO, 1);
		r->in_stream = true;
	} else if (t == UV_NAMED_PIPE || t == UV_TCP) {
		rc = uv_pipe_init(&r->loop, &r->in.pipe, 0);
		if (!rc)
			rc = uv_pipe_open(&r->in.pipe, STDIN_FILENO);
		r->in_stream = true;
	} else if (t == UV_FILE) {
		rc = uv_idle_init(&r->loop, &r->file_pump);
		r->in_file = true;
	} else {
		rc = UV_EINVAL;
	}
	if (rc < 0) {
		decide(r, EXIT_LOCAL, "cannot read stdin: %s", uv_strerror(rc));
		return -1;
	}
	r->in_open = true;
	r->in.pipe.data = r;
	r->file_pump.data = r;
	return 0;
}

static void close_stdin(struct run *r)
{
	if (!r->in_open)
		return;
	r->in_open = false;
	if (r->in_stream)
		uv_close((uv_handle_t *)&r->in, NULL);
	else
		uv_close((uv_handle_t *)&r->file_pump, NULL);
}

/* ---- pub: the connection's events ---- */

/* What the server's CONNACK says pub may not do. */
static bool pub_allowed(struct run *r)
{
	const struct client_server *s = &r->conn.server;
	const struct mqtt_props *pp = &r->o.props[CLIENT_PROPS_PUBLISH].props;

	if (r->o.qos > s->maximum_qos) {
		decide(r, EXIT_REFUSED, "the server accepts QoS %u at most, not %u", s->maximum_qos,
		       r->o.qos);
		return false;
	}
	if (r->o.retain && !s->retain_available) {
		decide(r, EXIT_REFUSED, "the server does not keep retained messages");
		return false;
	}
	if ((pp->present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)) &&
	    pp->topic_alias > s->topic_alias_maximum) {
		decide(r, EXIT_REFUSED, "the server accepts topic aliases up to %u, not %u",
		       s->topic_alias_maximum, pp->topic_alias);
		return false;
	}
	return true;
}

static void pub_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct run *r = c->data;

	if (connack_refused(r, a))
		return;
	r->connacked = true;
	if (r->interrupted || !pub_allowed(r)) {
		finish(r, EXIT_REFUSED);
		return;
	}
	if (r->o.source == CLIENT_SRC_LINES) {
		start_reading(r);
		return;
	}
	if (publish(r, r->payload, r->payload_len) == 1) {
		r->source_done = true;
		pub_maybe_done(r);
	}
}

static void pub_published(struct client_conn *c, uint16_t id, uint8_t reason,
			  const struct mqtt_props *props)
{
	struct run *r = c->data;
	char words[96], why[300];

	(void)id;
	if (reason >= 0x80) {
		decide(r, EXIT_REFUSED, "the server refused the message: %s%s",
		       reason_words(r, reason, MQTT_PUBACK, words, sizeof(words)),
		       reason_string(props, why, sizeof(why)));
		finish(r, EXIT_REFUSED);
		return;
	}
	if (r->o.source == CLIENT_SRC_LINES && !r->in_reading && !r->finishing)
		pump_lines(r);
	pub_maybe_done(r);
}

static void pub_drained(struct client_conn *c)
{
	struct run *r = c->data;

	if (r->o.source == CLIENT_SRC_LINES && !r->in_reading && !r->finishing && r->connacked)
		pump_lines(r);
	pub_maybe_done(r);
}

/* ---- sub: printing ---- */

static bool filtered_out(const struct run *r, const struct mqtt_publish *p)
{
	for (uint32_t i = 0; i < r->o.nfilter_out; i++) {
		const char *f = r->o.filter_out[i];
		if (mqtt_topic_match((const uint8_t *)f, strlen(f), p->topic.data, p->topic.len))
			return true;
	}
	return false;
}

/* The message as -v, -F, --json or plain ask, into r->out; -1 for a %J
 * payload that is not JSON (said on stderr, the message skipped). */
static int render(struct run *r, const struct mqtt_publish *p)
{
	struct client_msg m = { p, { 0, 0 } };
	char err[200];

	clock_gettime(CLOCK_REALTIME, &m.when);
	if (r->o.json) {
		client_format_json(&r->out, &m, false);
	} else if (r->o.format) {
		if (client_format(&r->out, r->o.format, &m, err, sizeof(err))) {
			fprintf(stderr, "agora sub: %s\n", err);
			return -1;
		}
	} else {
		if (r->o.verbose) {
			client_buf_put(&r->out, p->topic.data, p->topic.len);
			client_buf_put(&r->out, " ", 1);
			if (!p->payload_len)
				client_buf_put(&r->out, "(null)", 6); /* as mosquitto_sub -v */
		}
		client_buf_put(&r->out, p->payload, p->payload_len);
	}
	if (!r->o.no_newline || r->o.json)
		client_buf_put(&r->out, "\n", 1);
	return 0;
}

/* Once per loop turn: what was rendered goes to stdout together. */
static void sub_turn(struct client_loop *l)
{
	struct run *r = l->data;

	if (!r->out.len)
		return;
	if (fwrite(r->out.b, 1, r->out.len, stdout) != r->out.len || fflush(stdout) != 0) {
		decide(r, EXIT_LOCAL, "cannot write the output: %s", strerror(errno));
		finish(r, EXIT_LOCAL);
	}
	r->out.len = 0;
}

static void sub_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	struct run *r = c->data;

	if (again || r->finishing || (r->o.no_retained && p->retain) || filtered_out(r, p))
		return;
	if (render(r, p))
		return;
	r->printed++;
	if (r->o.count && r->printed >= r->o.count) {
		sub_turn(&r->cl);
		finish(r, EXIT_OK);
	}
}

/* ---- sub: the connection's events ---- */

static void on_wait_timeout(uv_timer_t *t)
{
	struct run *r = t->data;

	decide(r, EXIT_NET, "timed out after %u s (-W), %llu message%s", r->o.timeout,
	       (unsigned long long)r->printed, r->printed == 1 ? "" : "s");
	finish(r, EXIT_NET);
}

static void sub_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	struct run *r = c->data;
	struct client_filter f[CLIENT_MAX_TOPICS];
	long rc = 0;

	if (connack_refused(r, a))
		return;
	r->connacked = true;
	if (r->interrupted) {
		finish(r, EXIT_OK);
		return;
	}
	if (r->o.timeout)
		uv_timer_start(&r->wait_timer, on_wait_timeout, (uint64_t)r->o.timeout * 1000, 0);
	for (uint32_t i = 0; i < r->o.ntopics; i++) {
		f[i].filter = r->o.topics[i];
		f[i].options = r->o.qos;
	}
	if (r->o.ntopics)
		rc = client_subscribe(c, f, r->o.ntopics, &r->o.props[CLIENT_PROPS_SUBSCRIBE].props);
	if (rc >= 0 && r->o.nunsub) {
		rc = client_unsubscribe(c, r->o.unsub, r->o.nunsub,
					&r->o.props[CLIENT_PROPS_UNSUBSCRIBE].props);
	}
	if (rc < 0) {
		decide(r, EXIT_NET, "cannot subscribe: %s", client_strerror((int)rc));
		finish(r, EXIT_NET);
	}
}

static void sub_suback(struct client_conn *c, const struct mqtt_suback *s)
{
	struct run *r = c->data;
	char words[96], why[300];

	for (uint16_t i = 0; i < s->count && i < r->o.ntopics; i++) {
		if (s->codes[i] < 0x80)
			continue;
		decide(r, EXIT_REFUSED, "subscription to '%s' refused: %s%s", r->o.topics[i],
		       reason_words(r, s->codes[i], MQTT_SUBACK, words, sizeof(words)),
		       reason_string(&s->props, why, sizeof(why)));
		finish(r, EXIT_REFUSED);
		return;
	}
}

static void sub_unsuback(struct client_conn *c, const struct mqtt_ack *a)
{
	struct run *r = c->data;

	(void)a;
	if (!r->o.ntopics)
		finish(r, EXIT_OK); /* -U alone: the unsubscription was the job */
}

/* ---- the commands ---- */

static void pub_usage(void)
{
	printf("usage: agora pub -t TOPIC (-m MESSAGE | -f FILE | -s | -l | -n) [options]\n"
	       "       agora pub -L mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC ...\n"
	       "\n"
	       "Publishes MQTT messages, with the options of mosquitto_pub.\n"
	       "\n"
	       "  -h HOST            broker (default localhost; a name, IPv4 or IPv6)\n"
	       "  -p PORT            port (default 1883)\n"
	       "  -t TOPIC           topic to publish on\n"
	       "  -m MESSAGE         one message from the command line\n"
	       "  -f FILE            one message: the file's contents\n"
	       "  -s                 one message: all of stdin\n"
	       "  -l                 a message per line of stdin\n"
	       "  -n                 one empty message\n"
	       "  -q QOS             0, 1 or 2 (default 0)\n"
	       "  -r                 retain\n"
	       "  -i ID              client id      -c  persistent session (needs -i)\n"
	       "  -u USER -P PASS    credentials    -k SECONDS  keepalive (default 60)\n"
	       "  -V VERSION         mqttv31, mqttv311 (default) or mqttv5 (31, 311, 5)\n"
	       "  -x SECONDS         MQTT 5 session expiry (-1: never)\n"
	       "  -D CMD PROP VALUE  MQTT 5 property (implies -V 5): e.g. -D publish\n"
	       "                     user-property KEY VALUE, -D publish content-type text/plain\n"
	       "  --will-topic T --will-payload P --will-qos Q --will-retain\n"
	       CLIENT_TLS_HELP
	       "  -d                 show the packets sent and received on stderr\n"
	       "  --help             this help\n");
	client_print_long_names(stdout, false);
	printf("\n"
	       "Exit status: 0 sent (and acknowledged at QoS 1 and 2), 1 bad options,\n"
	       "2 network, protocol or timeout, 3 refused by the server, 4 a file or stdin.\n");
}

static void sub_usage(void)
{
	printf("usage: agora sub -t FILTER [-t FILTER]... [options]\n"
	       "       agora sub -L mqtt://[USER[:PASSWORD]@]HOST[:PORT]/FILTER ...\n"
	       "\n"
	       "Subscribes and prints the messages, with the options of mosquitto_sub.\n"
	       "\n"
	       "  -h HOST            broker (default localhost; a name, IPv4 or IPv6)\n"
	       "  -p PORT            port (default 1883)\n"
	       "  -t FILTER          topic filter to subscribe to (repeatable)\n"
	       "  -T FILTER          do not print topics matching FILTER (repeatable)\n"
	       "  -U FILTER          unsubscribe from FILTER (repeatable; with -c)\n"
	       "  -q QOS             0, 1 or 2 (default 0)\n"
	       "  -C COUNT           exit after COUNT messages\n"
	       "  -W SECONDS         exit after SECONDS (status 2: a timeout)\n"
	       "  -R                 do not print retained (stale) messages\n"
	       "  -v                 print the topic before the payload\n"
	       "  -N                 no newline after each message\n"
	       "  -F FORMAT          print with FORMAT: %%t topic, %%p payload, %%q QoS, %%r retain,\n"
	       "                     %%l length, %%m message id, %%j JSON, %%J JSON payload, %%x hex,\n"
	       "                     %%P user properties, %%C %%D %%E %%F %%R %%A %%S properties,\n"
	       "                     %%I %%U times, @X strftime, \\n \\t \\0 escapes (man agora)\n"
	       "  --json             one JSON object per message and line\n"
	       "  -i ID              client id      -c  persistent session (needs -i)\n"
	       "  -u USER -P PASS    credentials    -k SECONDS  keepalive (default 60)\n"
	       "  -V VERSION         mqttv31, mqttv311 (default) or mqttv5 (31, 311, 5)\n"
	       "  -x SECONDS         MQTT 5 session expiry (-1: never)\n"
	       "  -D CMD PROP VALUE  MQTT 5 property (implies -V 5)\n"
	       "  --will-topic T --will-payload P --will-qos Q --will-retain\n"
	       CLIENT_TLS_HELP
	       "  -d                 show the packets sent and received on stderr\n"
	       "  --help             this help\n");
	client_print_long_names(stdout, true);
	printf("\n"
	       "SIGINT ends it with DISCONNECT (no will), status 0. Exit status: 0 done,\n"
	       "1 bad options, 2 network, protocol or timeout (-W), 3 refused, 4 stdout.\n");
}

/* Parses the command line; returns -1 to go on, else the exit status. */
static int parse(struct run *r, bool sub, int argc, char **argv)
{
	char err[300];
	int rc;

	r->cmd = sub ? "sub" : "pub";
	rc = client_cmdline_parse(&r->o, sub, argc, argv, err, sizeof(err));
	if (rc == 1) {
		if (sub)
			sub_usage();
		else
			pub_usage();
		return EXIT_OK;
	}
	if (rc < 0) {
		fprintf(stderr, "agora %s: %s\n", r->cmd, err);
		return EXIT_USAGE;
	}
	return -1;
}

static void run_free(struct run *r)
{
	client_cmdline_release(&r->o);
	client_buf_release(&r->line);
	client_buf_release(&r->out);
	free(r->payload);
	free(r);
}

int cmd_pub(int argc, char **argv)
{
	static const struct client_cbs cbs = {
		.connack = pub_connack,
		.published = pub_published,
		.drained = pub_drained,
		.disconnect = on_disconnect,
		.closed = on_closed,
	};
	static const struct client_cbs debug_cbs = {
		.connack = pub_connack,
		.published = pub_published,
		.drained = pub_drained,
		.disconnect = on_disconnect,
		.trace = trace,
		.closed = on_closed,
	};
	struct run *r = xcalloc(1, sizeof(*r));
	int rc = parse(r, false, argc, argv);

	/* -f and -s are read before connecting, as mosquitto_pub does */
	if (rc < 0 && load_message(r) < 0)
		rc = r->rc;
	if (rc < 0)
		rc = run_loop(r, r->o.debug ? &debug_cbs : &cbs, NULL);
	run_free(r);
	return rc;
}

int cmd_sub(int argc, char **argv)
{
	static const struct client_cbs cbs = {
		.connack = sub_connack,
		.message = sub_message,
		.suback = sub_suback,
		.unsuback = sub_unsuback,
		.disconnect = on_disconnect,
		.closed = on_closed,
	};
	static const struct client_cbs debug_cbs = {
		.connack = sub_connack,
		.message = sub_message,
		.suback = sub_suback,
		.unsuback = sub_unsuback,
		.disconnect = on_disconnect,
		.trace = trace,
		.closed = on_closed,
	};
	struct run *r = xcalloc(1, sizeof(*r));
	int rc = parse(r, true, argc, argv);

	if (rc < 0)
		rc = run_loop(r, r->o.debug ? &debug_cbs : &cbs, sub_turn);
	run_free(r);
	return rc;
}
