/*
 * bridge.c - the REST API's changes, published over MQTT; MQTT logins with
 * the API's accounts; the broker hooks that apply access.h's rule and turn
 * an MQTT inbox write into a stored message; the server-wide counters for
 * /metrics.
 *
 * agora/users/{name}/status  retained, QoS 1: {"name", "status", "status_updated_at"}
 * agora/users/{name}/inbox   QoS 1: the message as GET /api/messages/{id} shows it
 */
#include "bridge.h"

#include "access.h"
#include "api/api.h"
#include "base/alloc.h"
#include "base/text.h"
#include "base/log.h"
#include "bridge_polls.h"
#include "broker/broker.h"
#include "net/net.h"
#include "rules_service.h"
#include "http_server.h"
#include "login.h"
#include "scram.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX 128

/* Publishes payload at QoS 1 on agora/users/{name}/{leaf}. */
static void publish_user_topic(struct bridge *b, const char *name, const char *leaf,
			       const char *payload, bool retain)
{
	char topic[TOPIC_MAX];

	snprintf(topic, sizeof(topic), "agora/users/%s/%s", name, leaf);
	broker_publish_at(b->broker, topic, payload, strlen(payload), 1, retain,
			  (uint8_t)(b->depth > 255 ? 255 : b->depth));
}

static void status_changed(void *ctx, const struct store_user *u)
{
	struct bridge *b = ctx;
	char *payload = api_status_payload(u);

	if (payload) {
		publish_user_topic(b, u->name, "status", payload, true);
		rules_service_event(b->rules, RULES_EVENT_STATUS, payload, u->name, NULL, b->depth);
	}
	free(payload);
}

/* However it was sent (REST, MQTT, a rule), at the depth of what sent it. */
static void message_created(void *ctx, const struct store_message *m)
{
	struct bridge *b = ctx;
	char *payload = api_message_payload(m);

	if (payload) {
		publish_user_topic(b, m->to_name, "inbox", payload, false);
		rules_service_event(b->rules, RULES_EVENT_MESSAGE, payload, m->from_name, NULL,
				    b->depth);
	}
	free(payload);
}

/* SCRAM credentials for accounts that have none yet (registered now, or
 * before SCRAM existed). Passwords never change once set (there is no
 * route for it), so existing credentials stay: no PBKDF2 per login. */
static void password_known(void *ctx, int64_t user_id, const char *password)
{
	struct bridge *b = ctx;
	struct store_user u = { 0 };
	struct store_scram cred;
	int rc;

	if (store_user_by_id(b->api->store, user_id, &u) != 0)
		return;
	rc = store_user_scram(b->api->store, u.name, &cred);
	store_user_release(&u);
	if (rc == 0)
		return;
	scram_credentials(password, strlen(password), &cred);
	rc = store_user_set_scram(b->api->store, user_id, &cred);
	if (rc)
		log_warn("SCRAM credentials of user %lld not stored: %s", (long long)user_id,
			 store_strerror(rc));
}

static void user_deleted(void *ctx, const char *name)
{
	/* An empty retained message clears the status topic [MQTT-3.3.1-10]. */
	publish_user_topic(ctx, name, "status", "", true);
}

static void counter(struct text *t, const char *name, const char *help, unsigned long long v)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

static void gauge(struct text *t, const char *name, const char *help, unsigned long long v)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, v);
}

/* The connection layer's counters, one series per protocol. */
static void connection_counters(struct text *t, const struct bridge *b)
{
	static const char *const help[2][2] = {
		{ "agora_connections_accepted_total", "Connections accepted, by protocol." },
		{ "agora_connections_refused_total",
		  "Connections refused over the protocol's connection limit, by protocol." },
	};

	for (int k = 0; k < 2; k++) {
		text_printf(t, "# HELP %s %s\n# TYPE %s counter\n", help[k][0], help[k][1],
			    help[k][0]);
		for (int i = 0; i < BRIDGE_MAX_SERVICES && b->services[i]; i++) {
			const struct net_service *svc = b->services[i];

			text_printf(t, "%s{protocol=\"%s\"} %llu\n", help[k][0], svc->proto->name,
				    (unsigned long long)(k ? svc->refused : svc->accepted));
		}
	}
}

/* MQTT over WebSocket: counted with MQTT's (agora_mqtt_connections,
 * protocol "mqtt") and here on their own. */
static void websocket_counters(struct text *t, const struct bridge *b)
{
	uint32_t open = 0;
	uint64_t accepted = 0;

	if (b->net)
		net_ws_counts(b->net, &open, &accepted);
	gauge(t, "agora_websocket_connections", "MQTT over WebSocket connections open.", open);
	counter(t, "agora_websocket_connections_total",
		"MQTT over WebSocket connections upgraded since the start.", accepted);
}

static void metrics(void *ctx, char **out, size_t *len)
{
	struct bridge *b = ctx;
	const struct broker_stats *s = broker_get_stats(b->broker);
	struct text t = { 0 };

	gauge(&t, "agora_mqtt_connections", "MQTT clients connected.", s->clients_connected);
	connection_counters(&t, b);
	gauge(&t, "agora_http_connections", "HTTP connections open.",
	      http_server_connections(b->http));
	websocket_counters(&t, b);
	text_printf(&t, "# HELP agora_mqtt_messages_received_total PUBLISH packets received, by QoS.\n"
		"# TYPE agora_mqtt_messages_received_total counter\n");
	for (int q = 0; q < 3; q++)
		text_printf(&t, "agora_mqtt_messages_received_total{qos=\"%d\"} %llu\n", q,
		    (unsigned long long)s->msgs_received_qos[q]);
	text_printf(&t, "# HELP agora_mqtt_messages_sent_total PUBLISH packets sent, by QoS.\n"
		"# TYPE agora_mqtt_messages_sent_total counter\n");
	for (int q = 0; q < 3; q++)
		text_printf(&t, "agora_mqtt_messages_sent_total{qos=\"%d\"} %llu\n", q,
		    (unsigned long long)s->msgs_sent_qos[q]);
	counter(&t, "agora_mqtt_messages_dropped_total", "Messages dropped (queue or output full).",
		s->msgs_dropped);
	gauge(&t, "agora_mqtt_subscriptions", "Subscriptions.", s->subscriptions);
	gauge(&t, "agora_mqtt_retained_messages", "Retained messages.", s->retained);
	*out = t.s;
	*len = t.len;
	rules_service_metrics(b->rules, out, len); /* nothing without rules */
}

/* ---- MQTT side: accounts and access rules ---- */

/*
 * ---- MQTT username/password logins (login.h: off the loop) ----
 *
 * The password is the account's password, or one of its API tokens
 * (docs/api.md, "Logging in"): `agora inbox --follow` logs in with the
 * token `agora login` kept, and never holds the password.
 */

/* A password just proven gives the account its SCRAM credentials; a token
 * is not the password, so it gives none. */
static void derive_scram(struct bridge *b, const struct account_login *l)
{
	char pw[1024];

	if (l->by_token || l->proven || l->password_len >= sizeof(pw) ||
	    memchr(l->password, 0, l->password_len))
		return;
	memcpy(pw, l->password, l->password_len);
	pw[l->password_len] = '\0';
	password_known(b, l->id, pw);
	sodium_memzero(pw, sizeof(pw));
}

struct mqtt_login {
	struct bridge *b;
	struct broker_client *c;
	struct account_login *check;
};

static void login_done(void *ctx, const struct account_login *l, const struct store_user *u)
{
	struct mqtt_login *m = ctx;
	struct bridge *b = m->b;

	if (u)
		derive_scram(b, l);
	if (l->proven)
		log_info("MQTT login as '%s' by client certificate: %s", l->name,
			 u ? "accepted" : "refused: no account has that name");
	else
		log_info("MQTT login as '%s': %s", l->name,
			 !u ? "refused" : l->by_token ? "accepted (API token)" : "accepted");
	broker_login_done(b->broker, m->c, u != NULL, u ? u->name : NULL);
	if (b->resume)
		b->resume(b->resume_ctx, m->c);
	free(m);
}

static void *hook_login_begin(void *ctx, struct broker_client *c, const uint8_t *user,
			      size_t user_len, const uint8_t *password, size_t password_len)
{
	struct bridge *b = ctx;
	struct mqtt_login *m = xcalloc(1, sizeof(*m));

	m->b = b;
	m->c = c;
	m->check = account_login_start(b->loop, b->api, user, user_len, password, password_len,
				       login_done, m);
	return m;
}

/* use_identity_as_username: the certificate's name must be an account's
 * for the account's rules (its inbox) to apply; one that is no account's
 * is refused rather than let in as a bare name, which would read the inbox
 * of whoever registers that name later. */
static void *hook_identity_begin(void *ctx, struct broker_client *c, const char *name)
{
	struct bridge *b = ctx;
	struct mqtt_login *m = xcalloc(1, sizeof(*m));

	m->b = b;
	m->c = c;
	m->check = account_login_proven(b->loop, b->api, name, login_done, m);
	return m;
}

/* The client left while its login was checked: the verdict is dropped. */
static void hook_login_cancel(void *ctx, void *job)
{
	struct mqtt_login *m = job;

	(void)ctx;
	if (!m)
		return;
	account_login_cancel(m->check);
	free(m);
}

/* The rule of access.h (docs/api.md, "Who sees what"), as the broker's
 * hooks: asked only about topics and filters under agora/users. */
static bool hook_may_read(void *ctx, const char *account, const uint8_t *topic, size_t len)
{
	(void)ctx;
	return access_may_read(account, topic, len);
}

static bool hook_may_subscribe(void *ctx, const char *account, const uint8_t *f, size_t len)
{
	(void)ctx;
	return access_may_subscribe(account, f, len);
}

static bool hook_may_publish(void *ctx, const char *account, const uint8_t *topic, size_t len)
{
	(void)ctx;
	return access_may_publish(account, topic, len);
}

/* PUBACK/PUBREC reason codes of an MQTT write to an inbox (MQTT 5, 3.4.2.1). */
enum inbox_reason {
	INBOX_STORED = 0x00,
	INBOX_STORE_FAILED = 0x80, /* Unspecified error: the store failed */
	INBOX_SENDER_GONE = 0x87,  /* Not authorized: the account was deleted meanwhile */
	INBOX_NO_SUCH_USER = 0x90, /* Topic Name invalid: no user has that name */
	INBOX_BAD_CONTENT = 0x99,  /* Payload format invalid */
};

/* A message from account to the user called to, stored then published as
 * the API does; else the reason code, and why in the log's words. */
static enum inbox_reason inbox_store(struct bridge *b, const char *account, const char *to,
				     const char *content, char *why, size_t cap)
{
	struct store_user from = { 0 }, rcpt = { 0 };
	struct store_message m = { 0 };
	enum inbox_reason reason = INBOX_STORE_FAILED;
	int rc;

	rc = store_user_by_name(b->api->store, account, &from);
	if (rc == STORE_ENOTFOUND) {
		reason = INBOX_SENDER_GONE;
		snprintf(why, cap, "the sender's account was deleted");
	}
	if (rc)
		goto out_failed;
	rc = store_user_by_name(b->api->store, to, &rcpt);
	if (rc == STORE_ENOTFOUND) {
		reason = INBOX_NO_SUCH_USER;
		snprintf(why, cap, "no such user");
	}
	if (rc)
		goto out_release_from;
	rc = store_message_create(b->api->store, from.id, rcpt.id, content, wall_clock_ms(), &m);
	if (rc)
		goto out_release_rcpt;
	reason = INBOX_STORED;
	message_created(b, &m);
	store_message_release(&m);
out_release_rcpt:
	store_user_release(&rcpt);
out_release_from:
	store_user_release(&from);
out_failed:
	if (reason == INBOX_STORE_FAILED)
		snprintf(why, cap, "%s", store_strerror(rc));
	return reason;
}

/* The checks of POST /api/messages on content and recipient, then the
 * store; why is written when the answer is not INBOX_STORED. */
static enum inbox_reason inbox_write(struct bridge *b, const char *account, const uint8_t *to,
				     size_t to_len, const uint8_t *payload, size_t len, char *why,
				     size_t cap)
{
	char name[64], *content;
	enum inbox_reason reason;

	if (len == 0 || len > b->api->cfg.message_max || memchr(payload, 0, len) ||
	    !mqtt_utf8_data_valid(payload, len)) {
		snprintf(why, cap, "content must be 1 to %zu bytes of UTF-8 text",
			 b->api->cfg.message_max);
		return INBOX_BAD_CONTENT;
	}
	if (to_len >= sizeof(name)) {
		snprintf(why, cap, "no such user"); /* names have 32 characters at most */
		return INBOX_NO_SUCH_USER;
	}
	memcpy(name, to, to_len);
	name[to_len] = '\0';
	content = xstrndup(payload, len);
	reason = inbox_store(b, account, name, content, why, cap);
	free(content);
	return reason;
}

/* A vote, however cast: $events/vote for the rules, with its voter's
 * name (looked up only when a rule listens). */
static void vote_cast(void *ctx, const struct polls_vote_info *v)
{
	struct bridge *b = ctx;
	struct store_user u = { 0 };
	char *payload;
	json_t *o;

	if (!b->rules || !rules_service_listens(b->rules, RULES_EVENT_VOTE) ||
	    store_user_by_id(b->api->store, v->user_id, &u) != 0)
		return;
	o = json_pack("{s:I,s:s,s:I,s:s,s:b}", "poll_id", (json_int_t)v->poll_id, "option",
		      v->label, "option_number", (json_int_t)v->option + 1, "voter", u.name,
		      "changed", v->changed);
	payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (payload)
		rules_service_event(b->rules, RULES_EVENT_VOTE, payload, u.name, NULL, b->depth);
	free(payload);
	json_decref(o);
	store_user_release(&u);
}

int bridge_rule_message(struct bridge *b, const char *from, const char *to, const char *content,
			unsigned depth, char *why, size_t why_cap)
{
	enum inbox_reason reason;

	b->depth = depth;
	reason = inbox_write(b, from, (const uint8_t *)to, strlen(to), (const uint8_t *)content,
			     strlen(content), why, why_cap);
	b->depth = 0;
	return reason == INBOX_STORED ? 0 : -1;
}

/* An account's PUBLISH to agora/users/{name}/inbox is a message to {name},
 * one to agora/polls/{id}/vote its vote (bridge_polls.c). Refusals are
 * logged here, whatever the protocol level: an MQTT 3.1.1 publisher has no
 * reason code to learn them from; why is the Reason String. Anything else
 * under agora/users and agora/polls is left to may_publish, which refuses
 * it. */
static int hook_take_publish(void *ctx, const char *account, const uint8_t *topic,
			     size_t topic_len, const uint8_t *payload, size_t payload_len,
			     char *why, size_t why_cap)
{
	struct bridge *b = ctx;
	const uint8_t *to, *id;
	size_t to_len, id_len;
	enum inbox_reason reason;

	if (b->polls && access_vote_write(account, topic, topic_len, &id, &id_len))
		return bridge_polls_vote(b->polls, account, id, id_len, payload, payload_len, why,
					 why_cap);
	if (!access_inbox_write(account, topic, topic_len, &to, &to_len))
		return BROKER_TAKE_ROUTE;
	reason = inbox_write(ctx, account, to, to_len, payload, payload_len, why, why_cap);
	if (reason != INBOX_STORED)
		log_info("MQTT message from %s to '%.*s' refused (reason code 0x%02x): %s",
			 account, (int)(to_len < 64 ? to_len : 64), (const char *)to, reason, why);
	return reason;
}

void bridge_attach(struct bridge *b, struct api *api)
{
	struct broker_hooks hooks = {
		.ctx = b,
		.login_begin = hook_login_begin,
		.login_cancel = hook_login_cancel,
		.identity_begin = hook_identity_begin,
		.may_subscribe = hook_may_subscribe,
		.may_publish = hook_may_publish,
		.may_read = hook_may_read,
		.prefix = ACCESS_PREFIX,
		.take_publish = hook_take_publish,
	};

	b->api = api;
	broker_set_hooks(b->broker, &hooks);
	api->bridge = (struct api_bridge){
		.ctx = b,
		.status_changed = status_changed,
		.message_created = message_created,
		.user_deleted = user_deleted,
		.password_known = password_known,
	};
	polls_on_vote(&api->polls, vote_cast, b);
	api->metrics_extra = metrics;
	api->metrics_ctx = b;
}
