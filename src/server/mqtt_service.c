/*
 * mqtt_service.c - MQTT on the connection layer (mqtt_service.h).
 *
 * Path of one PUBLISH: the layer reads up to 64 KiB into its loop-wide
 * buffer -> mqtt_input -> broker_client_input decodes every complete packet
 * and appends the deliveries to each subscriber's outbuf, marking it dirty
 * -> once per loop turn, mark_dirty_clients hands those connections to the
 * layer -> mqtt_output moves each outbuf into a pooled batch the layer
 * writes with one vectored try-write.
 */
#include "mqtt_service.h"

#include "base/alloc.h"
#include "base/log.h"
#include "broker/broker.h"
#include "persist.h"
#include "tls_setup.h"

#include <stdlib.h>
#include <string.h>

static struct mqtt_service *service_of(const struct net_conn *conn)
{
	return net_conn_ctx(conn);
}

static bool anonymous_allowed_on(const struct mqtt_service *m, int8_t anonymous, bool loopback)
{
	if (anonymous >= 0)
		return anonymous; /* the listener's own "anonymous=" */
	switch (m->anonymous) {
	case ANON_YES:
		return true;
	case ANON_NO:
		return false;
	default:
		return loopback;
	}
}

static bool anonymous_allowed(const struct mqtt_service *m, const struct net_listener *l)
{
	return anonymous_allowed_on(m, l->anonymous, l->loopback);
}

static bool mqtt_open(struct net_conn *conn, const struct net_listener *l)
{
	struct mqtt_service *m = service_of(conn);
	struct broker_client *c;
	char peer[80];

	net_conn_peer(conn, peer, sizeof(peer), true);
	broker_set_time(m->broker, net_now(m->net));
	c = broker_client_new(m->broker, conn, peer, anonymous_allowed(m, l));
	c->by_identity = l->use_identity;
	net_conn_set_state(conn, c);
	log_debug("connection from %s on %s", peer, l->name);
	return true;
}

/* use_identity_as_username: the name the client certificate proves, for
 * its CONNECT. Taken at the first input: the handshake is over once any
 * plaintext comes. Names longer than an account's are no account's. */
static void take_identity(struct net_conn *conn, struct broker_client *c)
{
	char name[256];

	broker_client_set_identity(c,
				   net_conn_peer_identity(conn, name, sizeof(name)) ? name : NULL);
}

/* Over max_connections: closed at once by the layer, so the backlog does
 * not fill with clients left waiting; logged at most once a second. */
static void mqtt_refuse(struct net_conn *conn, const struct net_listener *l)
{
	struct mqtt_service *m = service_of(conn);
	uint64_t now = net_now(m->net);

	(void)l;
	if (now - m->last_refusal_log >= 1000) {
		log_warn("refusing connection: max_connections (%u) reached", m->svc.max_conns);
		m->last_refusal_log = now;
	}
}

/* The broker's verdicts after input: a close (its goodbye written first),
 * or a login under way (input held until mqtt_service_resume). */
static void follow_client(struct net_conn *conn, struct broker_client *c)
{
	if (c->state == CLIENT_CLOSING)
		net_conn_close(conn, NET_CLOSE_AFTER_WRITE);
	else if (broker_client_waiting(c))
		net_conn_pause(conn, true);
}

static size_t mqtt_input(struct net_conn *conn, const uint8_t *data, size_t len)
{
	struct mqtt_service *m = service_of(conn);
	struct broker_client *c = net_conn_state(conn);
	size_t used;

	broker_set_time(m->broker, net_now(m->net));
	if (c->by_identity && !c->level) /* no CONNECT yet */
		take_identity(conn, c);
	used = broker_client_input(m->broker, c, data, len);
	follow_client(conn, c);
	return used;
}

/* Output frozen until the log is synced up to upto (persistence full):
 * later output keeps gathering in c->out behind it. */
static void hold_output(struct mqtt_service *m, struct broker_client *c, uint64_t upto)
{
	c->io_held = xmalloc(sizeof(*c->io_held));
	outbuf_init(c->io_held, broker_outbuf_pool(m->broker));
	outbuf_move(c->io_held, &c->out);
	c->io_held_upto = upto;
}

static struct net_out *release_held(struct mqtt_service *m, struct broker_client *c)
{
	struct net_out *out = outbatch_take(&m->batches, c->io_held);

	free(c->io_held);
	c->io_held = NULL;
	return out;
}

/*
 * The promise of an acknowledgement: what it acknowledges is in the log
 * before it leaves. The turn's records are written here if the turn hook
 * has not yet (a write completing mid-turn asks for output early). With
 * persistence full the output then waits for a sync of those records; the
 * client is marked again, and asked again each turn until it is out. If
 * the records cannot be written, the output waits in the client's buffer.
 */
static struct net_out *durable_output(struct mqtt_service *m, struct broker_client *c)
{
	uint64_t upto;

	if (c->io_held) {
		if (!persist_durable(m->persist, c->io_held_upto))
			goto wait;
		if (c->out.total) /* what came behind it: its turn after this write */
			broker_mark_dirty(m->broker, c);
		return release_held(m, c);
	}
	if (!c->out.total)
		return NULL;
	if (persist_flush(m->persist))
		goto wait;
	upto = persist_written(m->persist);
	if (persist_durable(m->persist, upto))
		return outbatch_take(&m->batches, &c->out);
	hold_output(m, c, upto);
wait:
	broker_mark_dirty(m->broker, c);
	return NULL;
}

static struct net_out *mqtt_output(struct net_conn *conn)
{
	struct mqtt_service *m = service_of(conn);
	struct broker_client *c = net_conn_state(conn);

	if (m->persist)
		return durable_output(m, c);
	return outbatch_take(&m->batches, &c->out);
}

static void mqtt_eof(struct net_conn *conn, int status)
{
	struct mqtt_service *m = service_of(conn);

	broker_set_time(m->broker, net_now(m->net));
	broker_client_close(m->broker, net_conn_state(conn), CLOSE_PEER,
			    status ? uv_strerror(status) : NULL);
	net_conn_close(conn, NET_CLOSE_NOW); /* nothing is sent to a client that left */
}

/* Shutting down: v5 clients get DISCONNECT 0x8B, then the close. */
static void mqtt_stop(struct net_conn *conn)
{
	struct mqtt_service *m = service_of(conn);

	broker_client_close(m->broker, net_conn_state(conn), CLOSE_SHUTDOWN, NULL);
	net_conn_close(conn, NET_CLOSE_AFTER_WRITE);
}

static void mqtt_close(struct net_conn *conn)
{
	struct mqtt_service *m = service_of(conn);
	struct broker_client *c = net_conn_state(conn); /* NULL: refused at accept */

	if (c && c->io_held) { /* never acknowledged: the client resends it */
		outbuf_release(c->io_held);
		free(c->io_held);
		c->io_held = NULL;
	}
	broker_set_time(m->broker, net_now(m->net));
	broker_client_free(m->broker, net_conn_state(conn)); /* closes it first if need be */
}

static const struct net_proto mqtt_proto = {
	.name = "mqtt",
	.open = mqtt_open,
	.refuse = mqtt_refuse,
	.input = mqtt_input,
	.output = mqtt_output,
	.eof = mqtt_eof,
	.stop = mqtt_stop,
	.close = mqtt_close,
};

/* Once per loop turn: every client the broker gave output or a close to
 * since the last turn (deliveries from other connections' input, timers,
 * the HTTP API) is handed to the layer. */
static void mark_dirty_clients(void *ctx)
{
	struct mqtt_service *m = ctx;
	struct broker_client *c;

	/* One batch for the whole turn (group commit), also when no output
	 * waits on it (a message queued for an offline session). */
	if (m->persist)
		persist_turn(m->persist);

	while ((c = broker_pop_dirty(m->broker))) {
		if (c->state == CLIENT_CLOSING)
			net_conn_close(c->io, NET_CLOSE_AFTER_WRITE);
		else
			net_conn_want_write(c->io);
	}
}

void mqtt_service_init(struct mqtt_service *m, struct net *n, struct broker *b,
		       const struct agora_config *cfg)
{
	memset(m, 0, sizeof(*m));
	m->net = n;
	m->broker = b;
	m->svc.proto = &mqtt_proto;
	m->svc.ctx = m;
	m->anonymous = cfg->allow_anonymous;
	outbatch_pool_init(&m->batches, broker_outbuf_pool(b));
	mqtt_service_reconfigure(m, cfg);
	net_on_turn(n, mark_dirty_clients, m);
}

void mqtt_service_reconfigure(struct mqtt_service *m, const struct agora_config *cfg)
{
	m->svc.max_conns = cfg->max_connections;
}

int mqtt_service_listen(struct mqtt_service *m, struct tls_listeners *tls,
			const struct listener_config *lc)
{
	/* ALPN "mqtt" when none is set: what MQTT-over-TLS clients on a shared
	 * port (443) offer; a client that offers none is served. */
	struct net_listener *l = tls_setup_listen(tls, m->net, lc, &m->svc, "MQTT", "mqtt");
	const char *note = "";

	if (!l)
		return -1;
	if (l->use_identity) /* every client has a name: anonymous does not apply */
		note = " (user names from client certificates)";
	else if (!anonymous_allowed(m, l))
		note = " (anonymous clients refused)";
	log_info("listening on %s%s%s", l->name, lc->tls.on ? " (TLS)" : "", note);
	return 0;
}

struct broker_client *mqtt_service_adopt(struct mqtt_service *m, struct net_conn *conn,
					 bool loopback)
{
	char peer[80];

	if (m->svc.max_conns && m->svc.nconns >= m->svc.max_conns) {
		m->svc.refused++;
		return NULL;
	}
	net_conn_peer(conn, peer, sizeof(peer), true);
	broker_set_time(m->broker, net_now(m->net));
	log_debug("websocket connection from %s", peer);
	return broker_client_new(m->broker, conn, peer, anonymous_allowed_on(m, -1, loopback));
}

void mqtt_service_resume(struct mqtt_service *m, struct broker_client *c)
{
	struct net_conn *conn = c->io;

	(void)m;
	if (net_conn_closing(conn))
		return;
	net_conn_pause(conn, false); /* what waited is fed first */
	follow_client(conn, c);
}

void mqtt_service_release(struct mqtt_service *m)
{
	outbatch_pool_release(&m->batches);
}
