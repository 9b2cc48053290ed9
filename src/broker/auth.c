/*
 * auth.c - the MQTT 5 AUTH exchange [MQTT 5.0, 4.12], around the mechanisms
 * of auth.h. The CONNECT that starts an exchange is kept (a copy of its
 * bytes) until the mechanism succeeds, then finished as any other CONNECT.
 */
#include "internal.h"

#include "auth.h"
#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

int broker_auth_register(struct broker *b, const struct auth_mechanism *m)
{
	if (b->nmechs == BROKER_MAX_MECHS)
		return -1;
	b->mechs[b->nmechs++] = m;
	return 0;
}

static const struct auth_mechanism *find(const struct broker *b, const struct mqtt_props *props)
{
	if (!(props->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
		return NULL;
	for (int i = 0; i < b->nmechs; i++) {
		const char *name = b->mechs[i]->name;
		if (strlen(name) == props->auth_method.len &&
		    memcmp(name, props->auth_method.data, props->auth_method.len) == 0)
			return b->mechs[i];
	}
	return NULL;
}

void auth_release(struct broker_client *c)
{
	struct auth_session *a = c->auth;

	if (!a)
		return;
	if (a->mech->end)
		a->mech->end(a->state);
	free(a->pending_connect);
	free(a);
	c->auth = NULL;
}

/* AUTH with a reason code, the method and (if any) data. */
static void send_auth(struct broker *b, struct broker_client *c, uint8_t reason,
		      const uint8_t *data, size_t len)
{
	struct mqtt_packet p = { .type = MQTT_AUTH };

	p.u.reason.reason_code = reason;
	p.u.reason.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	p.u.reason.props.auth_method.data = (const uint8_t *)c->auth->mech->name;
	p.u.reason.props.auth_method.len = (uint16_t)strlen(c->auth->mech->name);
	if (len) {
		p.u.reason.props.present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
		p.u.reason.props.auth_data.data = data;
		p.u.reason.props.auth_data.len = (uint16_t)len;
	}
	broker__send_packet(b, c, &p);
}

static enum auth_result step(struct broker_client *c, const struct mqtt_props *props,
			     uint8_t *out, size_t *out_len)
{
	bool has_data = props->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
	enum auth_result r;

	*out_len = 0;
	r = c->auth->mech->step(c->auth->state, has_data ? props->auth_data.data : NULL,
				has_data ? props->auth_data.len : 0, out, out_len);
	if (*out_len > AUTH_DATA_MAX)
		return AUTH_FAIL; /* a mechanism bug must not overrun anything */
	return r;
}

/* The account an exchange proved, for the connection to act as. */
static void take_identity(struct broker_client *c)
{
	const char *who = c->auth->mech->identity ? c->auth->mech->identity(c->auth->state) : NULL;

	if (who) {
		free(c->account);
		c->account = xstrdup(who);
	}
}

enum auth_begin auth_connect_begin(struct broker *b, struct broker_client *c,
				   const struct mqtt_connect *p, const uint8_t *raw, size_t len,
				   uint8_t *out, size_t *out_len)
{
	const struct auth_mechanism *m = find(b, &p->props);

	if (!m)
		return AUTH_BEGIN_UNKNOWN;
	c->auth = xcalloc(1, sizeof(*c->auth));
	c->auth->mech = m;
	c->auth->state = m->start ? m->start(m, p->client_id.data, p->client_id.len) : NULL;
	switch (step(c, &p->props, out, out_len)) {
	case AUTH_SUCCESS:
		take_identity(c);
		return AUTH_BEGIN_DONE;
	case AUTH_FAIL:
		return AUTH_BEGIN_FAILED;
	case AUTH_CONTINUE:
		break;
	}
	/* Keep the CONNECT to finish it when the exchange succeeds. */
	c->auth->pending_connect = xmalloc(len);
	memcpy(c->auth->pending_connect, raw, len);
	c->auth->pending_len = (uint32_t)len;
	send_auth(b, c, 0x18, out, *out_len);
	return AUTH_BEGIN_WAIT;
}

/* The client's AUTH while it connects: the exchange goes on. */
static void continue_connect(struct broker *b, struct broker_client *c,
			     const struct mqtt_reason *a)
{
	uint8_t out[AUTH_DATA_MAX];
	size_t out_len;
	struct mqtt_packet connect;

	if (a->reason_code != 0x18) {
		broker_protocol_error(b, c, "AUTH while connecting must continue the exchange");
		return;
	}
	switch (step(c, &a->props, out, &out_len)) {
	case AUTH_CONTINUE:
		send_auth(b, c, 0x18, out, out_len);
		return;
	case AUTH_FAIL:
		broker__connect_refuse_auth(b, c);
		return;
	case AUTH_SUCCESS:
		take_identity(c);
		break;
	}
	if (mqtt_decode(c->auth->pending_connect, c->auth->pending_len, 0, 0, &connect) <= 0) {
		broker_protocol_error(b, c, "kept CONNECT no longer decodes"); /* cannot happen */
		return;
	}
	broker__connect_accept(b, c, &connect.u.connect, out, out_len);
	free(c->auth->pending_connect); /* broker__connect_accept copied what it keeps */
	c->auth->pending_connect = NULL;
	c->auth->pending_len = 0;
}

/* The client's AUTH once connected: re-authentication [MQTT 5.0, 4.12.1]. */
static void reauthenticate(struct broker *b, struct broker_client *c, const struct mqtt_reason *a)
{
	uint8_t out[AUTH_DATA_MAX];
	size_t out_len;

	if (a->reason_code == 0x19) {
		const struct auth_mechanism *m = c->auth->mech;

		if (m->end)
			m->end(c->auth->state);
		c->auth->state = m->start ? m->start(m, (const uint8_t *)c->session->id,
						     c->session->id_len)
					  : NULL;
		c->auth->reauthenticating = true;
	} else if (a->reason_code != 0x18 || !c->auth->reauthenticating) {
		broker_protocol_error(b, c, "AUTH out of sequence");
		return;
	}
	switch (step(c, &a->props, out, &out_len)) {
	case AUTH_CONTINUE:
		send_auth(b, c, 0x18, out, out_len);
		return;
	case AUTH_FAIL:
		broker_client_close_code(b, c, CLOSE_PROTOCOL, 0x87, "re-authentication failed");
		return;
	case AUTH_SUCCESS:
		c->auth->reauthenticating = false;
		send_auth(b, c, 0x00, out, out_len);
		return;
	}
}

void broker__handle_auth(struct broker *b, struct broker_client *c, const struct mqtt_reason *a)
{
	/* [MQTT-4.12.0-7]: only in an exchange the CONNECT started, and with
	 * the same method [MQTT-4.12.1-1]. */
	if (!c->auth) {
		broker_protocol_error(b, c, "AUTH without an authentication method at CONNECT");
		return;
	}
	if (!(a->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) ||
	    a->props.auth_method.len != strlen(c->auth->mech->name) ||
	    memcmp(a->props.auth_method.data, c->auth->mech->name, a->props.auth_method.len) != 0) {
		broker_protocol_error(b, c, "AUTH with another authentication method");
		return;
	}
	if (c->state == CLIENT_NEW)
		continue_connect(b, c, a);
	else
		reauthenticate(b, c, a);
}
