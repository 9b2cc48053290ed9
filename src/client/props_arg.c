/*
 * props_arg.c - MQTT 5 properties from the command line (shell.h):
 * `-D COMMAND PROPERTY VALUE`, or `-D COMMAND user-property NAME VALUE`,
 * with mosquitto's names for the commands and properties and the
 * properties a client may send in each packet.
 */
#include "shell.h"

#include "base/array.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the byte buffer ---- */

void client_buf_put(struct client_buf *o, const void *data, size_t len)
{
	ARRAY_GROW(o->b, o->cap, (size_t)o->len + len, 256, ARRAY_MAX);
	if (len)
		memcpy(o->b + o->len, data, len);
	o->len += (uint32_t)len;
}

void client_buf_release(struct client_buf *o)
{
	free(o->b);
	o->b = NULL;
	o->len = o->cap = 0;
}

/* ---- the tables ---- */

static const char *const cmd_names[CLIENT_PROPS_N] = {
	[CLIENT_PROPS_CONNECT] = "connect",   [CLIENT_PROPS_PUBLISH] = "publish",
	[CLIENT_PROPS_SUBSCRIBE] = "subscribe", [CLIENT_PROPS_UNSUBSCRIBE] = "unsubscribe",
	[CLIENT_PROPS_DISCONNECT] = "disconnect", [CLIENT_PROPS_WILL] = "will",
};

enum ptype { P_BYTE, P_U16, P_U32, P_VARINT, P_STR, P_BIN, P_PAIR };

#define C(x) (1u << CLIENT_PROPS_##x)

/* What a client may send, per packet [MQTT 5.0, 2.2.2.2], by the names
 * mosquitto_pub and mosquitto_sub use; min and max bound integers. */
static const struct prop_def {
	const char *name;
	uint8_t id;
	uint8_t type;
	unsigned cmds;
	uint32_t min, max;
} defs[] = {
	{ "payload-format-indicator", MQTT_PROP_PAYLOAD_FORMAT, P_BYTE, C(PUBLISH) | C(WILL), 0, 1 },
	{ "message-expiry-interval", MQTT_PROP_MESSAGE_EXPIRY, P_U32, C(PUBLISH) | C(WILL), 0,
	  UINT32_MAX },
	{ "content-type", MQTT_PROP_CONTENT_TYPE, P_STR, C(PUBLISH) | C(WILL), 0, 0 },
	{ "response-topic", MQTT_PROP_RESPONSE_TOPIC, P_STR, C(PUBLISH) | C(WILL), 0, 0 },
	{ "correlation-data", MQTT_PROP_CORRELATION_DATA, P_BIN, C(PUBLISH) | C(WILL), 0, 0 },
	{ "subscription-identifier", MQTT_PROP_SUBSCRIPTION_ID, P_VARINT, C(SUBSCRIBE), 1,
	  MQTT_SUB_ID_MAX },
	{ "session-expiry-interval", MQTT_PROP_SESSION_EXPIRY, P_U32, C(CONNECT) | C(DISCONNECT),
	  0, UINT32_MAX },
	{ "authentication-method", MQTT_PROP_AUTH_METHOD, P_STR, C(CONNECT), 0, 0 },
	{ "authentication-data", MQTT_PROP_AUTH_DATA, P_BIN, C(CONNECT), 0, 0 },
	{ "request-problem-information", MQTT_PROP_REQUEST_PROBLEM_INFO, P_BYTE, C(CONNECT), 0,
	  1 },
	{ "will-delay-interval", MQTT_PROP_WILL_DELAY, P_U32, C(WILL), 0, UINT32_MAX },
	{ "request-response-information", MQTT_PROP_REQUEST_RESPONSE_INFO, P_BYTE, C(CONNECT), 0,
	  1 },
	{ "reason-string", MQTT_PROP_REASON_STRING, P_STR, C(DISCONNECT), 0, 0 },
	{ "receive-maximum", MQTT_PROP_RECEIVE_MAXIMUM, P_U16, C(CONNECT), 1, UINT16_MAX },
	{ "topic-alias-maximum", MQTT_PROP_TOPIC_ALIAS_MAXIMUM, P_U16, C(CONNECT), 0, UINT16_MAX },
	{ "topic-alias", MQTT_PROP_TOPIC_ALIAS, P_U16, C(PUBLISH), 1, UINT16_MAX },
	{ "user-property", MQTT_PROP_USER_PROPERTY, P_PAIR,
	  C(CONNECT) | C(PUBLISH) | C(SUBSCRIBE) | C(UNSUBSCRIBE) | C(DISCONNECT) | C(WILL), 0, 0 },
	{ "maximum-packet-size", MQTT_PROP_MAXIMUM_PACKET_SIZE, P_U32, C(CONNECT), 1,
	  MQTT_MAX_REMAINING + MQTT_MAX_HEADER },
};

#undef C

void client_propsets_init(struct client_propset sets[CLIENT_PROPS_N])
{
	for (int i = 0; i < CLIENT_PROPS_N; i++) {
		memset(&sets[i], 0, sizeof(sets[i]));
		mqtt_props_clear(&sets[i].props);
	}
}

static int find_cmd(const char *name)
{
	for (int i = 0; i < CLIENT_PROPS_N; i++)
		if (strcasecmp(name, cmd_names[i]) == 0)
			return i;
	return -1;
}

static const struct prop_def *find_prop(const char *name)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (strcasecmp(name, defs[i].name) == 0)
			return &defs[i];
	return NULL;
}

/* A string property's value: at most 65,535 bytes, and UTF-8 unless it is
 * binary data. */
static int check_str(const struct prop_def *d, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len > UINT16_MAX) {
		snprintf(err, errlen, "-D %s: the value is longer than 65535 bytes", d->name);
		return -1;
	}
	if (d->type != P_BIN && !mqtt_utf8_valid((const uint8_t *)v, len)) {
		snprintf(err, errlen, "-D %s: the value is not valid UTF-8", d->name);
		return -1;
	}
	if (d->id == MQTT_PROP_RESPONSE_TOPIC && !mqtt_topic_name_valid((const uint8_t *)v, len)) {
		snprintf(err, errlen, "-D response-topic: '%s' is not a topic name", v);
		return -1;
	}
	return 0;
}

static int parse_int(const struct prop_def *d, const char *v, uint32_t *out, char *err,
		     size_t errlen)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x < d->min || x > d->max) {
		snprintf(err, errlen, "-D %s: '%s' is not a number from %u to %u", d->name, v,
			 (unsigned)d->min, (unsigned)d->max);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

static struct mqtt_props_str str_of(const char *v)
{
	struct mqtt_props_str s = { (const uint8_t *)v, (uint16_t)strlen(v) };

	return s;
}

/* Stores an integer property in its field. */
static void set_int(struct mqtt_props *p, uint8_t id, uint32_t v)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT: p->payload_format = (uint8_t)v; break;
	case MQTT_PROP_MESSAGE_EXPIRY: p->message_expiry = v; break;
	case MQTT_PROP_SUBSCRIPTION_ID: p->subscription_id = v; break;
	case MQTT_PROP_SESSION_EXPIRY: p->session_expiry = v; break;
	case MQTT_PROP_REQUEST_PROBLEM_INFO: p->request_problem_info = (uint8_t)v; break;
	case MQTT_PROP_WILL_DELAY: p->will_delay = v; break;
	case MQTT_PROP_REQUEST_RESPONSE_INFO: p->request_response_info = (uint8_t)v; break;
	case MQTT_PROP_RECEIVE_MAXIMUM: p->receive_maximum = (uint16_t)v; break;
	case MQTT_PROP_TOPIC_ALIAS_MAXIMUM: p->topic_alias_maximum = (uint16_t)v; break;
	case MQTT_PROP_TOPIC_ALIAS: p->topic_alias = (uint16_t)v; break;
	case MQTT_PROP_MAXIMUM_PACKET_SIZE: p->maximum_packet_size = v; break;
	default: break;
	}
}

/* Stores a string or binary property in its field. */
static void set_str(struct mqtt_props *p, uint8_t id, const char *v)
{
	switch (id) {
	case MQTT_PROP_CONTENT_TYPE: p->content_type = str_of(v); break;
	case MQTT_PROP_RESPONSE_TOPIC: p->response_topic = str_of(v); break;
	case MQTT_PROP_CORRELATION_DATA: p->correlation_data = str_of(v); break;
	case MQTT_PROP_AUTH_METHOD: p->auth_method = str_of(v); break;
	case MQTT_PROP_AUTH_DATA: p->auth_data = str_of(v); break;
	case MQTT_PROP_REASON_STRING: p->reason_string = str_of(v); break;
	default: break;
	}
}

static void put_str16(struct client_buf *o, const char *s)
{
	size_t len = strlen(s);
	uint8_t n[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	client_buf_put(o, n, 2);
	client_buf_put(o, s, len);
}

int client_prop_arg(struct client_propset sets[CLIENT_PROPS_N], int argc, char **argv, char *err,
		    size_t errlen)
{
	const struct prop_def *d;
	struct client_propset *set;
	int cmd, used;
	uint32_t v;

	if (argc < 3) {
		snprintf(err, errlen, "-D needs a command, a property and a value");
		return -1;
	}
	cmd = find_cmd(argv[0]);
	if (cmd < 0) {
		snprintf(err, errlen, "-D: '%s' is not one of connect, publish, subscribe, "
				      "unsubscribe, disconnect, will", argv[0]);
		return -1;
	}
	d = find_prop(argv[1]);
	if (!d) {
		snprintf(err, errlen, "-D: '%s' is not an MQTT 5 property", argv[1]);
		return -1;
	}
	if (!(d->cmds & (1u << cmd))) {
		snprintf(err, errlen, "-D: %s is not a property a client sends in %s", d->name,
			 cmd_names[cmd]);
		return -1;
	}
	set = &sets[cmd];
	used = d->type == P_PAIR ? 4 : 3;
	if (argc < used) {
		snprintf(err, errlen, "-D %s %s needs %s", cmd_names[cmd], d->name,
			 d->type == P_PAIR ? "a name and a value" : "a value");
		return -1;
	}
	if (d->type == P_PAIR) {
		if (check_str(d, argv[2], err, errlen) || check_str(d, argv[3], err, errlen))
			return -1;
		client_buf_put(&set->user, (const uint8_t[]){ MQTT_PROP_USER_PROPERTY }, 1);
		put_str16(&set->user, argv[2]);
		put_str16(&set->user, argv[3]);
		set->props.user_count++;
		return used;
	}
	if (set->props.present & MQTT_PROP_BIT(d->id)) {
		snprintf(err, errlen, "-D %s %s given twice", cmd_names[cmd], d->name);
		return -1;
	}
	if (d->type == P_STR || d->type == P_BIN) {
		if (check_str(d, argv[2], err, errlen))
			return -1;
		set_str(&set->props, d->id, argv[2]);
	} else {
		if (parse_int(d, argv[2], &v, err, errlen))
			return -1;
		set_int(&set->props, d->id, v);
	}
	set->props.present |= MQTT_PROP_BIT(d->id);
	return used;
}

void client_propsets_finish(struct client_propset sets[CLIENT_PROPS_N])
{
	for (int i = 0; i < CLIENT_PROPS_N; i++) {
		sets[i].props.user_raw = sets[i].user.b;
		sets[i].props.user_raw_len = sets[i].user.len;
	}
}

bool client_propsets_any(const struct client_propset sets[CLIENT_PROPS_N])
{
	for (int i = 0; i < CLIENT_PROPS_N; i++)
		if (sets[i].props.present || sets[i].user.len)
			return true;
	return false;
}

void client_propsets_release(struct client_propset sets[CLIENT_PROPS_N])
{
	for (int i = 0; i < CLIENT_PROPS_N; i++) {
		client_buf_release(&sets[i].user);
		sets[i].props.user_raw = NULL;
		sets[i].props.user_raw_len = 0;
	}
}
