/*
 * connect.c - CONNECT: check, authorise, take over or resume the session,
 * answer CONNACK.
 */
#include "internal.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>

static const char *level_name(uint8_t level)
{
	return level == MQTT_LEVEL_31 ? "3.1" : level == MQTT_LEVEL_311 ? "3.1.1" : "5.0";
}

static void refuse(struct broker *b, struct broker_client *c, uint8_t rc, const char *why,
		   const struct mqtt_connect *p)
{
	log_info("refused client %.*s from %s: %s", (int)p->client_id.len,
		 (const char *)p->client_id.data, c->peer, why);
	send_connack(b, c, false, rc);
	broker_client_close(b, c, CLOSE_REFUSED, why);
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

/* Returns the reason to refuse, or NULL when the CONNECT is acceptable. */
static const char *check_connect(const struct broker *b, const struct broker_client *c,
				 const struct mqtt_connect *p, uint8_t *rc)
{
	/* The codec speaks MQTT 5; the broker's MQTT 5 semantics (session
	 * expiry, flow control, aliases...) are not in yet, so a v5 client is
	 * told "unacceptable protocol version" [MQTT-3.1.2-2] and may fall back
	 * to 3.1.1, as clients of 3.1.1-only brokers do. */
	*rc = MQTT_CONNACK_BAD_VERSION;
	if (p->level == MQTT_LEVEL_5)
		return "MQTT 5 is not supported yet";
	*rc = MQTT_CONNACK_ID_REJECTED;
	if (p->client_id.len == 0 && p->level == MQTT_LEVEL_31)
		return "MQTT 3.1 requires a client identifier";
	if (p->client_id.len == 0 && !p->clean_session)
		return "empty client identifier with clean session 0"; /* [MQTT-3.1.3-8] */
	/* MQTT 3.1.1 cannot tell a client which keepalive to use, so one
	 * outside the configured maximum is refused (as Mosquitto does). */
	if (b->cfg.keepalive_max < UINT16_MAX &&
	    (p->keepalive == 0 || p->keepalive > b->cfg.keepalive_max))
		return "keepalive above keepalive_max";
	if (p->will && broker_topic_levels(p->will_topic.data, p->will_topic.len) >
			       BROKER_MAX_TOPIC_LEVELS)
		return "will topic has too many levels";
	*rc = MQTT_CONNACK_NOT_AUTHORIZED;
	/* No account store yet: a listener either admits everyone or no one. */
	if (!c->anonymous_ok)
		return "anonymous clients are not allowed on this listener";
	return NULL;
}

/* Ends any current connection of this id and returns the session to use. */
static struct session *take_session(struct broker *b, const uint8_t *id, uint16_t len,
				    bool clean, bool *present)
{
	struct session *s = session_find(b, id, len);

	if (s && s->client) {
		/* [MQTT-3.1.4-2] the existing connection goes; its will is sent. */
		broker_client_close(b, s->client, CLOSE_TAKEN_OVER, NULL);
		s = session_find(b, id, len); /* gone if it was a clean session */
	}
	if (s && clean) {
		session_destroy(b, s); /* [MQTT-3.1.2-6] */
		s = NULL;
	}
	*present = s != NULL;
	if (!s)
		s = session_new(b, id, len, clean);
	return s;
}

void handle_connect(struct broker *b, struct broker_client *c, const struct mqtt_connect *p)
{
	char assigned[48];
	const uint8_t *id = p->client_id.data;
	uint16_t id_len = p->client_id.len;
	struct session *s;
	bool present;
	uint8_t rc;
	const char *why = check_connect(b, c, p, &rc);

	if (why) {
		refuse(b, c, rc, why, p);
		return;
	}
	if (id_len == 0) {
		id_len = (uint16_t)assign_id(b, assigned, sizeof(assigned));
		id = (const uint8_t *)assigned;
	}
	s = take_session(b, id, id_len, p->clean_session, &present);
	s->client = c;
	c->session = s;
	c->level = p->level;
	c->keepalive = p->keepalive && p->keepalive < b->cfg.keepalive_min ? b->cfg.keepalive_min
									   : p->keepalive;
	if (p->will && !broker_client_may_publish(p->will_topic.data, p->will_topic.len))
		log_info("client %s: will on '%.*s' ignored: clients cannot publish to $SYS", s->id,
			 (int)p->will_topic.len, (const char *)p->will_topic.data);
	else if (p->will)
		c->will = msg_new(p->will_topic.data, p->will_topic.len, p->will_payload.data,
				  p->will_payload.len, p->will_qos, p->will_retain);
	c->state = CLIENT_CONNECTED;
	b->stats.clients_total_connects++;
	b->stats.clients_connected++;
	if (b->stats.clients_connected > b->stats.clients_maximum)
		b->stats.clients_maximum = b->stats.clients_connected;
	log_info("client %s connected from %s (MQTT %s, clean session %d, keepalive %u%s)", s->id,
		 c->peer, level_name(c->level), p->clean_session, c->keepalive,
		 present ? ", session resumed" : "");
	send_connack(b, c, present, MQTT_CONNACK_ACCEPTED);
	if (present)
		session_resume(b, s);
}
