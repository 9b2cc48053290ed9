/*
 * broker.c - broker and client lifecycle, input dispatch, timers and the
 * dirty list the I/O layer drains.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void broker_config_defaults(struct broker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg)); /* strings empty, flags off */
	cfg->max_packet_size = 1024 * 1024;
	cfg->max_inflight = 2000; /* docs/PERFORMANCE.md: the window and slow subscribers */
	cfg->max_queued = 1000;
	cfg->keepalive_max = 65535;
	cfg->keepalive_min = 0;
	cfg->max_subscriptions = 10000;
	cfg->max_retained = 1000000;
	cfg->max_output_bytes = 16 * 1024 * 1024;
	cfg->connect_timeout_ms = 10000;
	cfg->sys_interval = 10;
	cfg->receive_maximum = 65535;
	cfg->strict_utf8 = true;
	cfg->topic_alias_maximum = 64;
}

const char *broker_close_reason_str(enum broker_close_reason r)
{
	switch (r) {
	case CLOSE_NONE: return "open";
	case CLOSE_DISCONNECT: return "disconnected";
	case CLOSE_DISCONNECT_WILL: return "disconnected, will requested";
	case CLOSE_PEER: return "connection closed by peer";
	case CLOSE_PROTOCOL: return "protocol error";
	case CLOSE_KEEPALIVE: return "keepalive timeout";
	case CLOSE_CONNECT_TIMEOUT: return "no CONNECT in time";
	case CLOSE_TAKEN_OVER: return "session taken over";
	case CLOSE_REFUSED: return "connection refused";
	case CLOSE_SHUTDOWN: return "server shutting down";
	}
	return "unknown";
}

struct broker *broker_new(const struct broker_config *cfg)
{
	struct broker *b = xcalloc(1, sizeof(*b));

	b->cfg = *cfg;
	b->subs = tree_new_root();
	b->retained = tree_new_root();
	hmap_init(&b->sessions);
	hmap_init(&b->groups);
	/* Free output blocks kept for the next loop turn: enough for a fan-out
	 * to a few hundred subscribers to reuse grown blocks rather than
	 * free them and grow new ones (make bench's allocations per delivery). */
	outbuf_pool_init(&b->out_pool, 4 * 1024 * 1024);
	snprintf(b->version, sizeof(b->version), "agora");
	return b;
}

/* Every session, gathered first and then destroyed: taking the first one
 * left from slot 0 each time rescans every slot emptied before it
 * (quadratic: 100,000 sessions took seconds to stop). */
static void free_sessions(struct broker *b)
{
	struct session **all = xmalloc(((size_t)b->sessions.count + 1) * sizeof(*all));
	uint32_t n = 0;
	void *v;

	for (uint32_t i = 0; hmap_next(&b->sessions, &i, &v);)
		all[n++] = v;
	for (uint32_t i = 0; i < n; i++)
		session_destroy(b, all[i]);
	free(all);
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	/* Sessions first: they unhook their subscriptions from the tree. No
	 * delayed will goes out while the broker itself is going away. */
	b->freeing = true;
	b->journaling = false; /* the end of the process, not of the sessions */
	broker__restore_free(b);
	free_sessions(b);
	hmap_release(&b->sessions);
	hmap_release(&b->groups); /* empty: members and deliveries are gone */
	free(b->gmatches);
	broker__taps_free(b);
	tree_free(b->subs);
	tree_free(b->retained);
	free(b->journal.data);
	free(b->matches);
	free(b->scratch);
	free(b->transient);
	free(b->props_buf);
	free(b->due);
	outbuf_pool_release(&b->out_pool);
	msg_pool_release(&b->msg_pool);
	free(b);
}

struct outbuf_pool *broker_outbuf_pool(struct broker *b)
{
	return &b->out_pool;
}

const struct broker_config *broker_get_config(const struct broker *b)
{
	return &b->cfg;
}

const struct broker_stats *broker_get_stats(const struct broker *b)
{
	return &b->stats;
}

void broker_set_config(struct broker *b, const struct broker_config *cfg)
{
	b->cfg = *cfg;
}

void broker_set_time(struct broker *b, uint64_t now_ms)
{
	if (!b->clock_set) {
		b->clock_set = true;
		b->start_ms = now_ms;
		b->last_sys_ms = now_ms;
	}
	b->now_ms = now_ms;
}

void broker_set_version(struct broker *b, const char *version)
{
	snprintf(b->version, sizeof(b->version), "%s", version);
}

/* ---- clients ---- */

struct broker_client *broker_client_new(struct broker *b, void *io, const char *peer,
					bool anonymous_ok)
{
	size_t plen = strlen(peer ? peer : "?");
	/* One allocation with the peer string behind the struct: an idle
	 * connection costs one malloc chunk less. */
	struct broker_client *c = xcalloc(1, sizeof(*c) + plen + 1);

	c->broker = b;
	c->io = io;
	c->anonymous_ok = anonymous_ok;
	c->created_ms = b->now_ms;
	c->last_rx_ms = b->now_ms;
	c->state = CLIENT_NEW;
	outbuf_init(&c->out, &b->out_pool);
	memcpy(c + 1, peer ? peer : "?", plen + 1);
	c->peer = (const char *)(c + 1);
	c->next = b->clients;
	if (b->clients)
		b->clients->prev = c;
	b->clients = c;
	return c;
}

void broker_client_set_identity(struct broker_client *c, const char *name)
{
	free(c->identity);
	c->identity = name ? xstrdup(name) : NULL;
}

struct broker_client *broker_first_client(struct broker *b)
{
	return b->clients;
}

bool broker_client_online(const struct broker_client *c)
{
	return c && c->state == CLIENT_CONNECTED;
}

void broker_mark_dirty(struct broker *b, struct broker_client *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = NULL;
	if (b->dirty_tail)
		b->dirty_tail->dirty_next = c;
	else
		b->dirty_head = c;
	b->dirty_tail = c;
}

struct broker_client *broker_pop_dirty(struct broker *b)
{
	struct broker_client *c = b->dirty_head;

	if (!c)
		return NULL;
	b->dirty_head = c->dirty_next;
	if (!b->dirty_head)
		b->dirty_tail = NULL;
	c->dirty = false;
	c->dirty_next = NULL;
	return c;
}

static void unlink_dirty(struct broker *b, struct broker_client *c)
{
	struct broker_client **pp = &b->dirty_head, *prev = NULL;

	if (!c->dirty)
		return;
	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->dirty_next;
	}
	if (*pp)
		*pp = c->dirty_next;
	if (b->dirty_tail == c)
		b->dirty_tail = prev;
	c->dirty = false;
}

static void detach_session(struct broker *b, struct broker_client *c)
{
	struct session *s = c->session;

	if (!s)
		return;
	c->session = NULL;
	s->client = NULL;
	session_share_hand_over(b, s);
	if (s->expiry_s == 0) {
		session_destroy(b, s);
		return;
	}
	session_trim(s);
	/* The broker stopping is not the client leaving: no deadline, so the
	 * restart gives it its whole interval, as after a crash. */
	s->expires_at_ms = s->expiry_s == SESSION_NEVER_EXPIRES || c->close_reason == CLOSE_SHUTDOWN
				   ? 0
				   : b->now_ms + (uint64_t)s->expiry_s * 1000;
	journal_session(b, s); /* its deadline (or a new expiry from DISCONNECT) */
}

/* The reason code an MQTT 5 client is sent in DISCONNECT, 0 for none. */
static uint8_t disconnect_code(const struct broker_client *c, enum broker_close_reason r)
{
	switch (r) {
	case CLOSE_PROTOCOL: return c->close_code ? c->close_code : 0x82;
	case CLOSE_KEEPALIVE: return 0x8D;
	case CLOSE_TAKEN_OVER: return 0x8E;
	case CLOSE_SHUTDOWN: return 0x8B;
	default: return 0;
	}
}

/* The will goes out now, or (MQTT 5 Will Delay Interval) when the delay
 * passes or the session ends, whichever comes first [MQTT-3.1.3-9]. */
static void release_will(struct broker *b, struct broker_client *c)
{
	struct session *s = c->session;
	struct msg *w = c->will->msg;

	if (c->will->delay_s && s && s->expiry_s) {
		session_park_will(b, s, w, b->now_ms + (uint64_t)c->will->delay_s * 1000,
				  c->will->expiry_s);
		return;
	}
	if (c->will->expiry_s != WILL_NO_EXPIRY)
		w->expires_ms = msg_deadline(b, c->will->expiry_s);
	broker_publish_msg(b, w);
}

void broker_client_close_code(struct broker *b, struct broker_client *c,
			      enum broker_close_reason reason, uint8_t code, const char *detail)
{
	if (c->state != CLIENT_CLOSING)
		c->close_code = code;
	broker_client_close(b, c, reason, detail);
}

void broker_client_close(struct broker *b, struct broker_client *c,
			 enum broker_close_reason reason, const char *detail)
{
	enum client_state was = c->state;
	uint8_t code;

	if (was == CLIENT_CLOSING)
		return;
	code = disconnect_code(c, reason);
	if (was == CLIENT_CONNECTED && c->level == MQTT_LEVEL_5 && code)
		broker__send_disconnect(b, c, code, detail); /* [MQTT-4.13.2-1] */
	c->state = CLIENT_CLOSING;
	c->close_reason = reason;
	if (was == CLIENT_CONNECTED) {
		log_info("client %s disconnected from %s: %s%s%s",
			 c->session ? c->session->id : "?", c->peer,
			 broker_close_reason_str(reason), detail ? ": " : "", detail ? detail : "");
		b->stats.clients_connected--;
		if (b->event_fn) /* before detach_session: it names the client */
			broker__client_event(b, c, BROKER_EVENT_DISCONNECTED, NULL, 0, 0);
		/* [MQTT-3.1.2-8]: the will goes out on any close but DISCONNECT;
		 * a server shutdown is not the client's failure. */
		if (c->will && reason != CLOSE_DISCONNECT && reason != CLOSE_SHUTDOWN)
			release_will(b, c);
	} else if (reason != CLOSE_REFUSED) {
		log_info("connection from %s closed before CONNECT: %s%s%s", c->peer,
			 broker_close_reason_str(reason), detail ? ": " : "", detail ? detail : "");
	}
	if (c->will) {
		msg_unref(c->will->msg);
		free(c->will);
		c->will = NULL;
	}
	detach_session(b, c);
	broker_mark_dirty(b, c);
}

void broker_protocol_error(struct broker *b, struct broker_client *c, const char *detail)
{
	broker_client_close(b, c, CLOSE_PROTOCOL, detail);
}

void broker_client_free(struct broker *b, struct broker_client *c)
{
	if (!c)
		return;
	if (c->state != CLIENT_CLOSING)
		broker_client_close(b, c, CLOSE_PEER, NULL);
	unlink_dirty(b, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		b->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	outbuf_release(&c->out);
	if (c->login) {
		if (b->hooks.login_cancel)
			b->hooks.login_cancel(b->hooks.ctx, c->login->handle);
		free(c->login->connect);
		free(c->login);
	}
	free(c->account);
	free(c->identity);
	aliases_free(c->aliases);
	auth_release(c);
	free(c);
}

void broker_set_hooks(struct broker *b, const struct broker_hooks *h)
{
	b->hooks = *h;
	b->hook_prefix_len = h->prefix ? strlen(h->prefix) : 0;
}

uint32_t broker_topic_levels(const uint8_t *s, size_t len)
{
	uint32_t n = 1;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '/';
	return n;
}

/* ---- input ---- */

static void handle_disconnect(struct broker *b, struct broker_client *c,
			      const struct mqtt_reason *d);

/* PUBACK, PUBREC or PUBCOMP for a message this client was sent. One of
 * the wrong kind for that message (PUBREC for QoS 1, PUBACK for QoS 2,
 * PUBCOMP before PUBREL) is a Protocol Error; the session keeps the
 * message, resent when the client comes back. */
static void handle_ack(struct broker *b, struct broker_client *c, uint8_t type,
		       const struct mqtt_ack *a)
{
	struct session *s = c->session;
	bool ok;

	if (type == MQTT_PUBACK)
		ok = session_puback(b, s, a->packet_id);
	else if (type == MQTT_PUBREC)
		ok = session_pubrec(b, s, a->packet_id, a->reason_code);
	else
		ok = session_pubcomp(b, s, a->packet_id);
	if (!ok)
		broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x82,
					 type == MQTT_PUBACK    ? "PUBACK for a QoS 2 message"
					 : type == MQTT_PUBREC ? "PUBREC for a QoS 1 message"
								: "PUBCOMP for a message it had no PUBREL for");
}

static void dispatch(struct broker *b, struct broker_client *c, const struct mqtt_packet *p,
		     const uint8_t *raw, size_t len)
{
	if (c->state == CLIENT_NEW) {
		bool exchanging = c->auth && c->auth->pending_connect;

		if (p->type == MQTT_CONNECT && !exchanging)
			broker__handle_connect(b, c, &p->u.connect, raw, len);
		else if (p->type == MQTT_AUTH && exchanging)
			broker__handle_auth(b, c, &p->u.reason); /* the CONNECT's exchange */
		else
			broker_protocol_error(b, c, exchanging ? "expected AUTH"
							       : "first packet is not CONNECT");
		return;
	}
	switch (p->type) {
	case MQTT_PUBLISH:
		broker__handle_publish(b, c, &p->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		handle_ack(b, c, p->type, &p->u.ack);
		break;
	case MQTT_PUBREL:
		broker__handle_pubrel(b, c, p->u.ack.packet_id);
		break;
	case MQTT_SUBSCRIBE:
		broker__handle_subscribe(b, c, &p->u.subscribe);
		break;
	case MQTT_UNSUBSCRIBE:
		broker__handle_unsubscribe(b, c, &p->u.unsubscribe);
		break;
	case MQTT_PINGREQ:
		broker__send_simple(b, c, MQTT_PINGRESP);
		break;
	case MQTT_DISCONNECT:
		handle_disconnect(b, c, &p->u.reason);
		break;
	case MQTT_AUTH:
		broker__handle_auth(b, c, &p->u.reason);
		break;
	case MQTT_CONNECT:
		broker_protocol_error(b, c, "second CONNECT"); /* [MQTT-3.1.0-2] */
		break;
	default:
		broker_protocol_error(b, c, "packet type only a server sends");
		break;
	}
}

/* MQTT 5's reason code for a packet the codec refused [MQTT 5.0, 4.13]. */
static uint8_t decode_error_code(long err)
{
	if (err == MQTT_ERR_TOO_LARGE)
		return 0x95;
	return mqtt_err_is_protocol_error((int)err) ? 0x82 : 0x81;
}

/* The CONNACK code for a CONNECT whose string field the codec refused
 * (field: MQTT_FIELD_*), in the client's version; 0 when that version has
 * none that fits, and the connection just closes. */
static uint8_t bad_field_code(uint8_t level, uint8_t field, long err)
{
	bool v5 = level == MQTT_LEVEL_5;

	switch (field) {
	case MQTT_FIELD_CLIENT_ID:
		/* 3.1.1's 0x02 is for an identifier that is "correct UTF-8 but
		 * not allowed by the Server": not for ill-formed UTF-8. */
		return v5 ? 0x85 : err == MQTT_ERR_UTF8_CHARS ? MQTT_CONNACK_ID_REJECTED : 0;
	case MQTT_FIELD_USERNAME:
		/* 3.1.1's 0x04: "the data in the user name or password is malformed" */
		return v5 ? 0x86 : MQTT_CONNACK_BAD_CREDENTIALS;
	case MQTT_FIELD_WILL_TOPIC:
		return v5 ? 0x90 : 0; /* Topic Name invalid */
	default:
		return 0;
	}
}

/* A CONNECT the codec refused still gets a CONNACK where the spec asks for
 * one (an unknown level [MQTT-3.1.2-2]), where a field has its own code
 * (client identifier, user name, will topic), and for any broken MQTT 5
 * CONNECT [MQTT 5.0, 4.13.1]. Returns false when no CONNACK applies. */
static bool refuse_bad_connect(struct broker *b, struct broker_client *c, const uint8_t *buf,
			       size_t len, long err, const struct mqtt_packet *p)
{
	struct mqtt_header h;
	uint8_t level = 0, code;

	if (c->state != CLIENT_NEW || (buf[0] >> 4) != MQTT_CONNECT ||
	    mqtt_frame(buf, len, 0, &h) < 0 ||
	    mqtt_connect_peek_level(buf + h.header_len, len - h.header_len, &level) != 0)
		return false;
	if (err == MQTT_ERR_UNSUPPORTED) {
		log_info("refused connection from %s: unsupported protocol level %u", c->peer, level);
		broker__send_connack(b, c, false, MQTT_CONNACK_BAD_VERSION, NULL);
		broker_client_close(b, c, CLOSE_REFUSED, "unsupported protocol level");
		return true;
	}
	code = bad_field_code(level, p->type == MQTT_CONNECT ? p->u.connect.bad_field : 0, err);
	if (!code && level == MQTT_LEVEL_5)
		code = decode_error_code(err);
	if (!code)
		return false;
	log_info("refused connection from %s: malformed CONNECT: %s", c->peer,
		 mqtt_strerror((int)err));
	c->level = level;
	broker__send_connack(b, c, false, code, NULL);
	broker_client_close(b, c, CLOSE_REFUSED, mqtt_strerror((int)err));
	return true;
}

static void decode_failed(struct broker *b, struct broker_client *c, const uint8_t *buf,
			  size_t len, long err, const struct mqtt_packet *p)
{
	if (refuse_bad_connect(b, c, buf, len, err, p))
		return;
	if (log_enabled(LOG_DEBUG))
		log_debug("malformed %s from %s: %s", mqtt_type_name(buf[0] >> 4), c->peer,
			  mqtt_strerror((int)err));
	broker_client_close_code(b, c, CLOSE_PROTOCOL, decode_error_code(err),
				 mqtt_strerror((int)err));
}

static void handle_disconnect(struct broker *b, struct broker_client *c,
			      const struct mqtt_reason *d)
{
	struct session *s = c->session;

	if (c->level == MQTT_LEVEL_5 &&
	    (d->props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY))) {
		/* [MQTT-3.14.2-2]: no session expiry set at DISCONNECT when the
		 * CONNECT said the session ends with the connection. */
		if (s->expiry_s == 0 && d->props.session_expiry != 0) {
			broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x82,
						 "session expiry set at DISCONNECT after 0");
			return;
		}
		s->expiry_s = d->props.session_expiry;
	}
	/* [MQTT-3.1.2-8]: only a normal disconnection (0x00) deletes the will;
	 * 0x04 asks for it, and so does any error the client reports. */
	broker_client_close(b, c,
			    c->level == MQTT_LEVEL_5 && d->reason_code != 0x00 ? CLOSE_DISCONNECT_WILL
									       : CLOSE_DISCONNECT,
			    NULL);
}

size_t broker_client_input(struct broker *b, struct broker_client *c, const uint8_t *buf,
			   size_t len)
{
	struct mqtt_decode_opts opts = {
		.level = c->level,
		.sender = MQTT_SENDER_CLIENT,
		.strict_utf8 = b->cfg.strict_utf8,
		.max_packet = b->cfg.max_packet_size,
	};
	size_t pos = 0;

	if (c->state == CLIENT_CLOSING)
		return len;
	c->last_rx_ms = b->now_ms;
	while (pos < len && !c->login_pending) {
		struct mqtt_packet p;
		long n;

		opts.level = c->level; /* set by the CONNECT */
		p.type = 0;            /* stays 0 if the frame itself is refused */
		n = mqtt_decode_with(buf + pos, len - pos, &opts, &p);
		if (n == MQTT_ERR_NEED_MORE)
			break;
		if (n < 0) {
			decode_failed(b, c, buf + pos, len - pos, n, &p);
			return len;
		}
		b->stats.bytes_received += (uint64_t)n;
		dispatch(b, c, &p, buf + pos, (size_t)n);
		pos += (size_t)n;
		if (c->state == CLIENT_CLOSING)
			return len;
	}
	return pos;
}

/* ---- timers ---- */

/* Offline sessions: delayed wills that fall due, sessions that expire. The
 * map is scanned first and acted on after, since ending a session edits it. */
static void sessions_tick(struct broker *b)
{
	uint32_t n = 0;
	void *v;

	for (uint32_t i = 0; hmap_next(&b->sessions, &i, &v);) {
		struct session *s = v;
		bool will_due = session_will_due(b, s);
		bool expired = session_past_deadline(b, s);

		if (s->client || !(will_due || expired))
			continue;
		ARRAY_GROW(b->due, b->due_cap, n + 1, 16, ARRAY_MAX);
		b->due[n++] = s;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct session *s = b->due[i];

		if (session_past_deadline(b, s)) {
			log_info("session %s expired", s->id);
			session_destroy(b, s); /* publishes a will still waiting */
		} else {
			session_release_will(b, s);
		}
	}
}

void broker_tick(struct broker *b)
{
	for (struct broker_client *c = b->clients; c; c = c->next) {
		uint64_t idle = b->now_ms - c->last_rx_ms;

		if (c->state == CLIENT_NEW && b->now_ms - c->created_ms >= b->cfg.connect_timeout_ms)
			broker_client_close(b, c, CLOSE_CONNECT_TIMEOUT, NULL);
		else if (c->state == CLIENT_CONNECTED && c->keepalive &&
			 idle >= (uint64_t)c->keepalive * 1500) /* [MQTT-3.1.2-24] */
			broker_client_close(b, c, CLOSE_KEEPALIVE, NULL);
	}
	if (b->stats.sessions > b->stats.clients_connected)
		sessions_tick(b);
	if (b->cfg.sys_interval &&
	    b->now_ms - b->last_sys_ms >= (uint64_t)b->cfg.sys_interval * 1000) {
		b->last_sys_ms = b->now_ms;
		broker_publish_sys(b);
	}
}

void broker_shutdown(struct broker *b)
{
	for (struct broker_client *c = b->clients; c; c = c->next)
		broker_client_close(b, c, CLOSE_SHUTDOWN, NULL);
}
