/*
 * connect.c - CONNECT: check, authorise, take over or resume the session,
 * answer CONNACK.
 *
 * MQTT 3.1.1's clean session maps onto MQTT 5's pair: clean session 1 is
 * "clean start, session ends with the connection" (expiry 0), clean session
 * 0 is "resume, session never expires".
 */
#include "internal.h"

#include "auth.h"
#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *level_name(uint8_t level)
{
	return level == MQTT_LEVEL_31 ? "3.1" : level == MQTT_LEVEL_311 ? "3.1.1" : "5.0";
}

/* A refusal: the code as each version spells it, and the reason for logs. */
struct refusal {
	uint8_t rc3;      /* MQTT 3.1.1 CONNACK return code */
	uint8_t rc5;      /* MQTT 5 CONNACK reason code */
	const char *why;
};

static void refuse(struct broker *b, struct broker_client *c, const struct refusal *r,
		   const struct mqtt_connect *p)
{
	struct mqtt_props props = { 0 };

	log_info("refused client %.*s from %s: %s", (int)p->client_id.len,
		 (const char *)p->client_id.data, c->peer, r->why);
	if (c->level == MQTT_LEVEL_5) {
		/* Allowed on CONNACK whatever the client asked [MQTT-3.1.2-29], but
		 * a client that asked for no problem information gets none. */
		if (c->problem_info) {
			props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
			props.reason_string.data = (const uint8_t *)r->why;
			props.reason_string.len = (uint16_t)strlen(r->why);
		}
		if (r->rc5 == 0x9C || r->rc5 == 0x9D) { /* where to go [MQTT 5.0, 4.11] */
			props.present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_REFERENCE);
			props.server_reference.data = (const uint8_t *)b->cfg.server_reference;
			props.server_reference.len = (uint16_t)strlen(b->cfg.server_reference);
		}
	}
	broker__send_connack(b, c, false, c->level == MQTT_LEVEL_5 ? r->rc5 : r->rc3, &props);
	broker_client_close(b, c, CLOSE_REFUSED, r->why);
}

/* Server-assigned identifier for an empty client id [MQTT-3.1.3-6]. */
static int assign_id(struct broker *b, char *out, size_t cap)
{
	int n;

	do {
		b->id_counter++;
		n = snprintf(out, cap, "agora-%llx-%llx", (unsigned long long)b->start_ms,
			     (unsigned long long)b->id_counter);
	} while (session_find(b, (const uint8_t *)out, (uint16_t)n));
	return n;
}

/* Fills r and returns true when the CONNECT must be refused. */
static bool check_connect(const struct broker *b, const struct broker_client *c,
			  const struct mqtt_connect *p, struct refusal *r)
{
	bool v5 = p->level == MQTT_LEVEL_5;

	*r = (struct refusal){ MQTT_CONNACK_ID_REJECTED, 0x85, NULL };
	if (b->cfg.server_reference[0])
		*r = (struct refusal){ MQTT_CONNACK_UNAVAILABLE, b->cfg.server_moved ? 0x9D : 0x9C,
				       b->cfg.server_moved ? "server moved" : "use another server" };
	else if (p->client_id.len == 0 && p->level == MQTT_LEVEL_31)
		r->why = "MQTT 3.1 requires a client identifier";
	else if (p->client_id.len == 0 && !p->clean_session && !v5)
		r->why = "empty client identifier with clean session 0"; /* [MQTT-3.1.3-8] */
	/* MQTT 3.1.1 cannot tell a client which keepalive to use, so one
	 * outside the configured maximum is refused (as Mosquitto does);
	 * MQTT 5 is told the server keep alive instead. */
	else if (!v5 && b->cfg.keepalive_max < UINT16_MAX &&
		 (p->keepalive == 0 || p->keepalive > b->cfg.keepalive_max))
		r->why = "keepalive above keepalive_max";
	else if (p->will && broker_too_deep(p->will_topic.data, p->will_topic.len))
		*r = (struct refusal){ MQTT_CONNACK_ID_REJECTED, 0x90,
				       "will topic has too many levels" };
	/* use_identity_as_username: the certificate is the login, whatever
	 * the CONNECT says; one that names nobody logs nobody in. */
	else if (c->by_identity && !c->identity)
		*r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
				       "the client certificate names no user" };
	else if (c->by_identity && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
		*r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
				       "the client certificate is the login here: no "
				       "authentication method" };
	/* Without credentials (a username the account hooks check, or an
	 * enhanced authentication method) a client is anonymous. */
	else if (!c->anonymous_ok && !c->by_identity &&
		 !(p->has_username && b->hooks.login_begin) &&
		 !(p->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
		*r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
				       "anonymous clients are not allowed on this listener" };
	return r->why != NULL;
}

/* A session acts for the account it was made by: what is queued in it
 * passed that account's access rules (an inbox), and a connection under
 * another account, or an anonymous one, must neither resume it, take it
 * over, nor wipe it with a clean start. Anonymous sessions are nobody's:
 * any anonymous client may take them. A session past its end is gone. */
static bool id_held_by_another_account(struct broker *b, const struct broker_client *c,
				       const uint8_t *id, uint16_t len)
{
	struct session *s = session_find(b, id, len);

	if (!s || (!s->client && session_past_deadline(b, s)))
		return false;
	if (!s->account || !c->account)
		return s->account != c->account;
	return strcmp(s->account, c->account) != 0;
}

/* Ends any current connection of this id and returns the session to use. */
static struct session *take_session(struct broker *b, const uint8_t *id, uint16_t len,
				    bool clean_start, uint32_t expiry_s, bool *present)
{
	struct session *s = session_find(b, id, len);

	if (s && s->client) {
		/* [MQTT-3.1.4-2] the existing connection goes; its will is sent. */
		broker_client_close(b, s->client, CLOSE_TAKEN_OVER, NULL);
		s = session_find(b, id, len); /* gone if it ended with its connection */
	}
	if (s && !s->client && session_past_deadline(b, s)) {
		/* Past its end, before the tick noticed (just after a restart,
		 * all of them): gone, its will sent. */
		log_info("session %s expired", s->id);
		session_destroy(b, s);
		s = NULL;
	}
	if (s && clean_start) {
		session_destroy(b, s); /* [MQTT-3.1.2-6], [MQTT-3.1.2-4] */
		s = NULL;
	}
	*present = s != NULL;
	if (!s)
		return session_new(b, id, len, expiry_s);
	if (session_will_due(b, s))
		session_release_will(b, s); /* its delay passed: it goes, late */
	else
		session_cancel_will(b, s); /* back within the will delay */
	s->expiry_s = expiry_s;
	s->expires_at_ms = 0;
	return s;
}

/* The session expiry the client asked for, in MQTT 5 terms. */
static uint32_t requested_expiry(const struct mqtt_connect *p)
{
	if (p->level != MQTT_LEVEL_5)
		return p->clean_session ? 0 : SESSION_NEVER_EXPIRES;
	/* absent: 0 [MQTT 5.0, 3.1.2.11.2] */
	return MQTT_PROP_OR(&p->props, MQTT_PROP_SESSION_EXPIRY, session_expiry, 0);
}

static uint16_t effective_keepalive(const struct broker *b, const struct mqtt_connect *p)
{
	uint16_t ka = p->keepalive;

	if (ka && ka < b->cfg.keepalive_min)
		ka = b->cfg.keepalive_min;
	/* MQTT 5: a keepalive above the maximum (or none) is replaced by the
	 * maximum and announced as Server Keep Alive [MQTT-3.2.2-21]. */
	if (p->level == MQTT_LEVEL_5 && b->cfg.keepalive_max < UINT16_MAX &&
	    (ka == 0 || ka > b->cfg.keepalive_max))
		ka = b->cfg.keepalive_max;
	return ka;
}

static struct client_will *make_will(struct broker *b, const struct mqtt_connect *p)
{
	struct client_will *w = xmalloc(sizeof(*w));
	struct msg_spec spec = {
		.topic = p->will_topic.data,
		.topic_len = p->will_topic.len,
		.payload = p->will_payload.data,
		.payload_len = p->will_payload.len,
		.qos = p->will_qos,
		.retain = p->will_retain,
	};

	if (p->level == MQTT_LEVEL_5) {
		uint8_t *buf = broker_props_scratch(b, p->will_props.raw_len);
		spec.props = buf;
		spec.props_len = props_forwardable(&p->will_props, buf);
	}
	w->msg = msg_new(&b->msg_pool, &spec);
	w->delay_s = p->level == MQTT_LEVEL_5
			     ? MQTT_PROP_OR(&p->will_props, MQTT_PROP_WILL_DELAY, will_delay, 0)
			     : 0;
	/* The will's expiry clock starts when it is published. */
	w->expiry_s = p->level == MQTT_LEVEL_5 && (p->will_props.present &
						     MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))
			      ? p->will_props.message_expiry
			      : WILL_NO_EXPIRY;
	return w;
}

/* Records what the client announced about itself (MQTT 5). */
static void take_client_limits(struct broker_client *c, const struct mqtt_connect *p)
{
	c->receive_max = 0;
	c->max_packet_out = 0;
	c->problem_info = true;
	c->alias_out_max = 0;
	if (p->level != MQTT_LEVEL_5)
		return;
	/* absent: 0, no aliases */
	c->alias_out_max = MQTT_PROP_OR(&p->props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, topic_alias_maximum, 0);
	if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM))
		c->receive_max = p->props.receive_maximum;
	if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE))
		c->max_packet_out = p->props.maximum_packet_size;
	if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO))
		c->problem_info = p->props.request_problem_info;
}

/* The identity a CONNECT is accepted under: the client's own id or one
 * the broker assigned. */
struct accepted_id {
	const uint8_t *data;
	uint16_t len;
	bool assigned;
};

/* The properties of the accepting MQTT 5 CONNACK: what this broker allows,
 * so the client never has to guess [MQTT 5.0, 3.2.2.3]. Absent properties
 * mean "no limit". Strings in *props point into id, auth_data and the
 * broker's scratch buffer, valid until the next broker_props_scratch. */
static void accept_props(struct broker *b, const struct broker_client *c,
			 const struct mqtt_connect *p, const struct accepted_id *id,
			 const uint8_t *auth_data, size_t auth_len, struct mqtt_props *props)
{
	memset(props, 0, sizeof(*props));
	if (c->level != MQTT_LEVEL_5)
		return;
	props->present = MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
			 MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM);
	props->maximum_packet_size = b->cfg.max_packet_size;
	props->receive_maximum = b->cfg.receive_maximum;
	if (b->cfg.topic_alias_maximum) {
		props->present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
		props->topic_alias_maximum = b->cfg.topic_alias_maximum;
	}
	if (id->assigned) {
		props->present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
		props->assigned_client_id.data = id->data;
		props->assigned_client_id.len = id->len;
	}
	if (c->auth) { /* the method, and its last data [MQTT 5.0, 4.12] */
		props->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
		props->auth_method.data = (const uint8_t *)c->auth->mech->name;
		props->auth_method.len = (uint16_t)strlen(c->auth->mech->name);
		if (auth_len) {
			props->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
			props->auth_data.data = auth_data;
			props->auth_data.len = (uint16_t)auth_len;
		}
	}
	if (b->cfg.response_information[0] &&
	    MQTT_PROP_OR(&p->props, MQTT_PROP_REQUEST_RESPONSE_INFO, request_response_info, 0)) {
		/* [MQTT-3.1.2-28]: only when asked for. Sized for the longest
		 * client id: never cut inside a character. */
		size_t plen = strlen(b->cfg.response_information);
		size_t n = plen + 1 + id->len;
		uint8_t *buf = broker_props_scratch(b, n);

		memcpy(buf, b->cfg.response_information, plen);
		buf[plen] = '/';
		memcpy(buf + plen + 1, id->data, id->len);
		if (n <= UINT16_MAX) {
			props->present |= MQTT_PROP_BIT(MQTT_PROP_RESPONSE_INFO);
			props->response_info.data = buf;
			props->response_info.len = (uint16_t)n;
		}
	}
	if (c->keepalive != p->keepalive) {
		props->present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEPALIVE);
		props->server_keepalive = c->keepalive;
	}
}

/* Whether the client can take the CONNACK at all: its Maximum Packet Size
 * [MQTT-3.1.2-24] may be smaller than any answer. */
static bool connack_fits(const struct broker_client *c, const struct mqtt_props *props)
{
	struct mqtt_packet ack = { .type = MQTT_CONNACK };

	if (!c->max_packet_out)
		return true;
	ack.u.connack.props = *props;
	return (uint64_t)mqtt_encoded_size(&ack, c->level) <= c->max_packet_out;
}

void broker__connect_refuse_auth(struct broker *b, struct broker_client *c)
{
	struct mqtt_props props = { 0 };
	const char *why = "authentication failed";

	log_info("refused connection from %s: %s", c->peer, why);
	if (c->problem_info) {
		props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		props.reason_string.data = (const uint8_t *)why;
		props.reason_string.len = (uint16_t)strlen(why);
	}
	broker__send_connack(b, c, false, 0x87, &props);
	broker_client_close(b, c, CLOSE_REFUSED, why);
}

static void connect_authenticated(struct broker *b, struct broker_client *c,
				  const struct mqtt_connect *p, const uint8_t *raw, size_t len);

/* The accounts' check runs off the loop: the CONNECT waits, copied, for
 * broker_login_done (the caller starts the check and keeps its handle). */
static void wait_for_login(struct broker_client *c, const uint8_t *raw, size_t len)
{
	c->login = xmalloc(sizeof(*c->login));
	c->login->connect = xmalloc(len);
	memcpy(c->login->connect, raw, len);
	c->login->len = (uint32_t)len;
	c->login_pending = true;
}

void broker__handle_connect(struct broker *b, struct broker_client *c, const struct mqtt_connect *p,
			    const uint8_t *raw, size_t len)
{
	struct refusal r;

	c->level = p->level; /* the CONNACK, even a refusal, speaks the client's version */
	take_client_limits(c, p); /* a refusal too must fit its Maximum Packet Size */
	if (check_connect(b, c, p, &r)) {
		refuse(b, c, &r, p);
		return;
	}
	if (c->by_identity && b->hooks.identity_begin) {
		wait_for_login(c, raw, len);
		c->login->handle = b->hooks.identity_begin(b->hooks.ctx, c, c->identity);
		return;
	}
	if (c->by_identity) { /* no accounts to check it against */
		free(c->account);
		c->account = xstrdup(c->identity);
	} else if (p->has_username && b->hooks.login_begin) {
		wait_for_login(c, raw, len);
		c->login->handle = b->hooks.login_begin(b->hooks.ctx, c, p->username.data,
							p->username.len,
							p->has_password ? p->password.data : NULL,
							p->has_password ? p->password.len : 0);
		return;
	}
	connect_authenticated(b, c, p, raw, len);
}

/* After the username check (if any): an enhanced authentication exchange,
 * or the CONNACK. */
static void connect_authenticated(struct broker *b, struct broker_client *c,
				  const struct mqtt_connect *p, const uint8_t *raw, size_t len)
{
	uint8_t out[AUTH_DATA_MAX];
	size_t out_len = 0;
	struct refusal r;

	if (c->level == MQTT_LEVEL_5 && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD))) {
		switch (auth_connect_begin(b, c, p, raw, len, out, &out_len)) {
		case AUTH_BEGIN_WAIT:
			return; /* finished by broker__handle_auth */
		case AUTH_BEGIN_UNKNOWN:
			r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x8C,
					      "unknown authentication method" };
			refuse(b, c, &r, p);
			return;
		case AUTH_BEGIN_FAILED:
			r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
					      "authentication failed" };
			refuse(b, c, &r, p);
			return;
		case AUTH_BEGIN_DONE:
			break;
		}
	}
	broker__connect_accept(b, c, p, out, out_len);
}

void broker_login_done(struct broker *b, struct broker_client *c, bool ok, const char *account)
{
	struct mqtt_packet p;
	uint8_t *raw = c->login->connect;
	size_t len = c->login->len;

	free(c->login);
	c->login = NULL;
	c->login_pending = false;
	if (c->state == CLIENT_CLOSING || mqtt_decode(raw, len, 0, 0, &p) <= 0) {
		free(raw); /* closed meanwhile (or cannot happen: it decoded before) */
		return;
	}
	if (!ok) {
		struct refusal r = { MQTT_CONNACK_BAD_CREDENTIALS, 0x86, "bad user name or password" };

		if (c->by_identity) /* there was no password to get wrong */
			r = (struct refusal){ MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
					      "no account has the client certificate's name" };
		refuse(b, c, &r, &p.u.connect);
	} else {
		free(c->account);
		c->account = xstrdup(account);
		connect_authenticated(b, c, &p.u.connect, raw, len);
	}
	free(raw); /* what the connection keeps was copied */
	broker_mark_dirty(b, c);
}

void broker__connect_accept(struct broker *b, struct broker_client *c, const struct mqtt_connect *p,
			    const uint8_t *auth_data, size_t auth_len)
{
	char assigned[48];
	struct accepted_id id = { p->client_id.data, p->client_id.len, false };
	struct mqtt_props props;
	struct session *s;
	bool present;

	if (id.len == 0) {
		id.len = (uint16_t)assign_id(b, assigned, sizeof(assigned));
		id.data = (const uint8_t *)assigned;
		id.assigned = true;
	}
	c->keepalive = effective_keepalive(b, p);
	accept_props(b, c, p, &id, auth_data, auth_len, &props);
	if (!connack_fits(c, &props)) {
		/* Nothing can be said to such a client: close at once, before
		 * its session (or a connection using its id) is touched. */
		log_info("refused client %.*s from %s: its maximum packet size (%u) is too small for "
			 "the CONNACK", (int)p->client_id.len, (const char *)p->client_id.data,
			 c->peer, c->max_packet_out);
		broker_client_close(b, c, CLOSE_REFUSED, "maximum packet size too small");
		return;
	}
	if (id_held_by_another_account(b, c, id.data, id.len)) {
		struct refusal r = { MQTT_CONNACK_NOT_AUTHORIZED, 0x87,
				     "client identifier in use by another account" };

		refuse(b, c, &r, p);
		return;
	}
	s = take_session(b, id.data, id.len, p->clean_session, requested_expiry(p), &present);
	s->client = c;
	c->session = s;
	free(s->account); /* the session now acts for this connection's account */
	s->account = c->account ? xstrdup(c->account) : NULL;
	journal_session(b, s); /* before the CONNACK that says "session present" */
	if (p->will && !broker_client_may_publish(p->will_topic.data, p->will_topic.len))
		log_info("client %s: will on '%.*s' ignored: clients cannot publish to $SYS", s->id,
			 (int)p->will_topic.len, (const char *)p->will_topic.data);
	else if (p->will && b->hooks.may_publish &&
		 broker_hooked(b, p->will_topic.data, p->will_topic.len) &&
		 !b->hooks.may_publish(b->hooks.ctx, c->account, p->will_topic.data,
				       p->will_topic.len))
		log_info("client %s: will on '%.*s' ignored: not authorized", s->id,
			 (int)p->will_topic.len, (const char *)p->will_topic.data);
	else if (p->will)
		c->will = make_will(b, p);
	c->state = CLIENT_CONNECTED;
	b->stats.clients_total_connects++;
	b->stats.clients_connected++;
	if (b->stats.clients_connected > b->stats.clients_maximum)
		b->stats.clients_maximum = b->stats.clients_connected;
	log_info("client %s connected from %s as %s%s (MQTT %s, clean %s %d, keepalive %u%s)",
		 s->id, c->peer, c->account ? c->account : "anonymous",
		 c->by_identity ? " (client certificate)" : "", level_name(c->level),
		 c->level == MQTT_LEVEL_5 ? "start" : "session", p->clean_session, c->keepalive,
		 present ? ", session resumed" : "");
	broker__send_connack(b, c, present, MQTT_CONNACK_ACCEPTED, &props);
	if (present)
		session_resume(b, s);
	if (b->event_fn)
		broker__client_event(b, c, BROKER_EVENT_CONNECTED, NULL, 0, 0);
}
