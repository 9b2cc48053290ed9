/*
 * format.c - how `agora sub` prints a message (shell.h): the -F format
 * of mosquitto_sub (man mosquitto_sub, OUTPUT FORMAT) and the JSON object
 * of %j, %J and --json.
 *
 * A format is text with three kinds of sequences:
 *   %[-][0][width][.max]X  a field of the message (X below); width pads
 *                          (left with '-', zeros with '0' for numbers),
 *                          .max cuts %C, %I, %R and %t
 *   @X                     strftime's %X on the local receive time; @N the
 *                          nanoseconds, @@ an @
 *   \X                     \\ \0 \a \e \n \r \t \v
 * Fields: %% %A topic alias, %C content type, %D correlation data, %E
 * message expiry, %F payload format, %I ISO 8601 local time, %j JSON, %J
 * JSON with the payload as JSON, %l payload length, %m message id, %P user
 * properties (key:value, space-separated), %p payload, %q QoS, %R response
 * topic, %r retain, %S subscription identifier, %t topic, %U Unix time
 * with nanoseconds, %x %X payload in hexadecimal.
 */
#include "shell.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS "%ACDEFIjJlmPpqRrStUxX"
#define WIDTH_FIELDS "ACEFIlmpRStxX" /* a width applies */
#define MAX_FIELDS "CIRt"            /* a maximum width applies */
#define ZERO_FIELDS "AEFlmSxX"       /* '0' pads with zeros */
#define ESCAPES "\\0aenrtv"

static void put_str(struct client_buf *o, const char *s)
{
	client_buf_put(o, s, strlen(s));
}

static void put_uint(struct client_buf *o, uint64_t v)
{
	char n[24];
	int len = snprintf(n, sizeof(n), "%llu", (unsigned long long)v);

	client_buf_put(o, n, (size_t)len);
}

static bool has(const struct mqtt_publish *p, uint8_t id)
{
	return p->props.present & MQTT_PROP_BIT(id);
}

/* ---- JSON ---- */

/* A JSON string's contents (no quotes) from UTF-8 text. */
static void put_json_text(struct client_buf *o, const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		client_buf_put(o, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			client_buf_put(o, e, 2);
		} else if (c == '\n') {
			put_str(o, "\\n");
		} else if (c == '\t') {
			put_str(o, "\\t");
		} else if (c == '\r') {
			put_str(o, "\\r");
		} else {
			client_buf_put(o, esc, sizeof(esc));
		}
	}
	client_buf_put(o, s + run, len - run);
}

static void put_json_string(struct client_buf *o, const uint8_t *s, size_t len)
{
	put_str(o, "\"");
	put_json_text(o, s, len);
	put_str(o, "\"");
}

static void put_base64(struct client_buf *o, const uint8_t *s, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(cap);

	if (!b)
		abort();
	sodium_bin2base64(b, cap, s, len, sodium_base64_VARIANT_ORIGINAL);
	put_str(o, "\"");
	put_str(o, b);
	put_str(o, "\"");
	free(b);
}

/* "key":"text", or "key_base64":"..." for bytes that are not UTF-8. */
static void put_json_bytes(struct client_buf *o, const char *key, const uint8_t *s, size_t len)
{
	bool text = mqtt_utf8_data_valid(s, len);

	put_str(o, "\"");
	put_str(o, key);
	put_str(o, text ? "\":" : "_base64\":");
	if (text)
		put_json_string(o, s, len);
	else
		put_base64(o, s, len);
}

static void put_json_key(struct client_buf *o, bool *first, const char *key)
{
	put_str(o, *first ? "\"" : ",\"");
	*first = false;
	put_str(o, key);
	put_str(o, "\":");
}

static void put_json_props(struct client_buf *o, const struct mqtt_publish *p)
{
	const struct mqtt_props *pr = &p->props;
	bool first = true;
	struct mqtt_prop prop;
	uint32_t pos = 0;

	put_str(o, ",\"properties\":{");
	if (has(p, MQTT_PROP_PAYLOAD_FORMAT)) {
		put_json_key(o, &first, "payload-format-indicator");
		put_uint(o, pr->payload_format);
	}
	if (has(p, MQTT_PROP_MESSAGE_EXPIRY)) {
		put_json_key(o, &first, "message-expiry-interval");
		put_uint(o, pr->message_expiry);
	}
	if (has(p, MQTT_PROP_CONTENT_TYPE)) {
		put_json_key(o, &first, "content-type");
		put_json_string(o, pr->content_type.data, pr->content_type.len);
	}
	if (has(p, MQTT_PROP_RESPONSE_TOPIC)) {
		put_json_key(o, &first, "response-topic");
		put_json_string(o, pr->response_topic.data, pr->response_topic.len);
	}
	if (has(p, MQTT_PROP_CORRELATION_DATA)) {
		put_str(o, first ? "" : ",");
		first = false;
		put_json_bytes(o, "correlation-data", pr->correlation_data.data,
			       pr->correlation_data.len);
	}
	if (has(p, MQTT_PROP_TOPIC_ALIAS)) {
		put_json_key(o, &first, "topic-alias");
		put_uint(o, pr->topic_alias);
	}
	if (pr->sub_id_count) {
		bool one = true;
		put_json_key(o, &first, "subscription-identifiers");
		put_str(o, "[");
		while (mqtt_props_next(pr, &pos, &prop))
			if (prop.id == MQTT_PROP_SUBSCRIPTION_ID) {
				put_str(o, one ? "" : ",");
				one = false;
				put_uint(o, prop.value);
			}
		put_str(o, "]");
	}
	if (pr->user_count) {
		bool one = true;
		put_json_key(o, &first, "user-properties");
		put_str(o, "{");
		pos = 0;
		while (mqtt_props_next(pr, &pos, &prop))
			if (prop.id == MQTT_PROP_USER_PROPERTY) {
				put_str(o, one ? "" : ",");
				one = false;
				put_json_string(o, prop.str.data, prop.str.len);
				put_str(o, ":");
				put_json_string(o, prop.str2.data, prop.str2.len);
			}
		put_str(o, "}");
	}
	put_str(o, "}");
}

static bool any_props(const struct mqtt_publish *p)
{
	return p->props.present || p->props.user_count || p->props.sub_id_count;
}

/* RFC 3339 in UTC with microseconds: 2024-05-06T22:12:00.123456Z. */
static void put_tst(struct client_buf *o, const struct timespec *t)
{
	struct tm tm;
	char b[48];
	size_t n;

	gmtime_r(&t->tv_sec, &tm);
	n = strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(b + n, sizeof(b) - n, ".%06ldZ", t->tv_nsec / 1000);
	client_buf_put(o, b, n);
}

void client_format_json(struct client_buf *out, const struct client_msg *m, bool raw_payload)
{
	const struct mqtt_publish *p = m->p;

	put_str(out, "{\"tst\":\"");
	put_tst(out, &m->when);
	put_str(out, "\",\"topic\":");
	put_json_string(out, p->topic.data, p->topic.len);
	put_str(out, ",\"qos\":");
	put_uint(out, p->qos);
	put_str(out, ",\"retain\":");
	put_uint(out, p->retain);
	put_str(out, ",\"payloadlen\":");
	put_uint(out, p->payload_len);
	if (p->qos) {
		put_str(out, ",\"mid\":");
		put_uint(out, p->packet_id);
	}
	if (any_props(p))
		put_json_props(out, p);
	put_str(out, ",");
	if (raw_payload) {
		put_str(out, "\"payload\":");
		client_buf_put(out, p->payload, p->payload_len);
	} else {
		put_json_bytes(out, "payload", p->payload, p->payload_len);
	}
	put_str(out, "}");
}

static bool payload_is_json(const struct mqtt_publish *p)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)p->payload, p->payload_len, JSON_DECODE_ANY, &e);

	json_decref(j);
	return j != NULL;
}

/* ---- the fields ---- */

static void put_hex(struct client_buf *o, const uint8_t *s, size_t len, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		char h[2] = { digits[s[i] >> 4], digits[s[i] & 15] };
		client_buf_put(o, h, 2);
	}
}

/* strftime with a format built here: "%Y-%m-%dT%H:%M:%S%z" for %I, or
 * '%' and the character after an '@' (the user's choice, as mosquitto
 * passes it on), so the format is not a literal. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_time(struct client_buf *o, const char *strf, const struct timespec *t)
{
	struct tm tm;
	char b[128];
	size_t n;

	localtime_r(&t->tv_sec, &tm);
	n = strftime(b, sizeof(b), strf, &tm);
	client_buf_put(o, b, n);
}
#pragma GCC diagnostic pop

static void put_user_props(struct client_buf *o, const struct mqtt_props *pr)
{
	struct mqtt_prop prop;
	uint32_t pos = 0;
	bool first = true;

	while (mqtt_props_next(pr, &pos, &prop)) {
		if (prop.id != MQTT_PROP_USER_PROPERTY)
			continue;
		put_str(o, first ? "" : " ");
		first = false;
		client_buf_put(o, prop.str.data, prop.str.len);
		put_str(o, ":");
		client_buf_put(o, prop.str2.data, prop.str2.len);
	}
}

static void put_first_sub_id(struct client_buf *o, const struct mqtt_props *pr)
{
	struct mqtt_prop prop;
	uint32_t pos = 0;

	while (mqtt_props_next(pr, &pos, &prop))
		if (prop.id == MQTT_PROP_SUBSCRIPTION_ID) {
			put_uint(o, prop.value);
			return;
		}
}

/* One field's bytes (without width or maximum). -1: %J on a payload that
 * is not JSON. */
static int field(struct client_buf *o, char conv, const struct client_msg *m)
{
	const struct mqtt_publish *p = m->p;
	const struct mqtt_props *pr = &p->props;
	char ts[40];

	switch (conv) {
	case '%': put_str(o, "%"); break;
	case 'A': if (has(p, MQTT_PROP_TOPIC_ALIAS)) put_uint(o, pr->topic_alias); break;
	case 'C':
		if (has(p, MQTT_PROP_CONTENT_TYPE))
			client_buf_put(o, pr->content_type.data, pr->content_type.len);
		break;
	case 'D':
		if (has(p, MQTT_PROP_CORRELATION_DATA))
			client_buf_put(o, pr->correlation_data.data, pr->correlation_data.len);
		break;
	case 'E': if (has(p, MQTT_PROP_MESSAGE_EXPIRY)) put_uint(o, pr->message_expiry); break;
	case 'F': if (has(p, MQTT_PROP_PAYLOAD_FORMAT)) put_uint(o, pr->payload_format); break;
	case 'I': put_time(o, "%Y-%m-%dT%H:%M:%S%z", &m->when); break;
	case 'j': client_format_json(o, m, false); break;
	case 'J':
		if (!payload_is_json(p))
			return -1;
		client_format_json(o, m, true);
		break;
	case 'l': put_uint(o, p->payload_len); break;
	case 'm': put_uint(o, p->packet_id); break;
	case 'P': put_user_props(o, pr); break;
	case 'p': client_buf_put(o, p->payload, p->payload_len); break;
	case 'q': put_uint(o, p->qos); break;
	case 'R':
		if (has(p, MQTT_PROP_RESPONSE_TOPIC))
			client_buf_put(o, pr->response_topic.data, pr->response_topic.len);
		break;
	case 'r': put_uint(o, p->retain); break;
	case 'S': put_first_sub_id(o, pr); break;
	case 't': client_buf_put(o, p->topic.data, p->topic.len); break;
	case 'U':
		snprintf(ts, sizeof(ts), "%lld.%09ld", (long long)m->when.tv_sec, m->when.tv_nsec);
		put_str(o, ts);
		break;
	case 'x': put_hex(o, p->payload, p->payload_len, false); break;
	case 'X': put_hex(o, p->payload, p->payload_len, true); break;
	default: break;
	}
	return 0;
}

/* ---- the format ---- */

struct spec {
	bool left, zero;
	uint32_t width, max;
	bool has_max;
	char conv;
};

static uint32_t digits(const char **s)
{
	uint32_t v = 0;

	while (**s >= '0' && **s <= '9') {
		if (v < 100000)
			v = v * 10 + (uint32_t)(**s - '0');
		(*s)++;
	}
	return v;
}

/* Reads a % sequence after the '%'; *s moves past it. */
static bool read_spec(const char **s, struct spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	for (;; (*s)++) {
		if (**s == '-')
			sp->left = true;
		else if (**s == '0')
			sp->zero = true;
		else
			break;
	}
	sp->width = digits(s);
	if (**s == '.') {
		(*s)++;
		sp->has_max = true;
		sp->max = digits(s);
	}
	sp->conv = **s;
	if (!sp->conv || !strchr(FIELDS, sp->conv))
		return false;
	(*s)++;
	return true;
}

int client_format_check(const char *fmt, char *err, size_t errlen)
{
	const char *s = fmt;
	struct spec sp;

	while (*s) {
		char c = *s++;
		if (c == '%' && !read_spec(&s, &sp)) {
			snprintf(err, errlen, "-F: '%%%c' is not a field (see agora sub --help)",
				 *s ? *s : ' ');
			return -1;
		}
		if (c == '@' && !*s++) {
			snprintf(err, errlen, "-F: '@' at the end (@@ for an @)");
			return -1;
		}
		if (c == '\\') {
			if (!*s || !strchr(ESCAPES, *s)) {
				snprintf(err, errlen, "-F: '\\%c' is not an escape (\\\\ for a \\)",
					 *s ? *s : ' ');
				return -1;
			}
			s++;
		}
	}
	return 0;
}

/* A field with its width and maximum applied. */
static int put_field(struct client_buf *out, const struct spec *sp, const struct client_msg *m,
		     struct client_buf *tmp)
{
	uint32_t len, pad;
	bool zero;

	if (!sp->width && !sp->has_max)
		return field(out, sp->conv, m);
	tmp->len = 0;
	if (field(tmp, sp->conv, m))
		return -1;
	len = tmp->len;
	if (sp->has_max && strchr(MAX_FIELDS, sp->conv) && len > sp->max)
		len = sp->max;
	pad = strchr(WIDTH_FIELDS, sp->conv) && sp->width > len ? sp->width - len : 0;
	zero = sp->zero && !sp->left && strchr(ZERO_FIELDS, sp->conv);
	for (uint32_t i = 0; !sp->left && i < pad; i++)
		client_buf_put(out, zero ? "0" : " ", 1);
	client_buf_put(out, tmp->b, len);
	for (uint32_t i = 0; sp->left && i < pad; i++)
		client_buf_put(out, " ", 1);
	return 0;
}

static void put_escape(struct client_buf *out, char c)
{
	static const char from[] = ESCAPES, to[] = "\\\0\a\033\n\r\t\v";
	const char *at = strchr(from, c);

	if (at)
		client_buf_put(out, &to[at - from], 1);
}

static void put_at(struct client_buf *out, char c, const struct client_msg *m)
{
	char strf[3] = { '%', c, 0 }, ns[16];

	if (c == '@') {
		put_str(out, "@");
	} else if (c == 'N') {
		snprintf(ns, sizeof(ns), "%09ld", m->when.tv_nsec);
		put_str(out, ns);
	} else {
		put_time(out, strf, &m->when);
	}
}

int client_format(struct client_buf *out, const char *fmt, const struct client_msg *m, char *err,
		  size_t errlen)
{
	struct client_buf tmp = { 0 };
	uint32_t start = out->len;
	const char *s = fmt;
	struct spec sp;
	int rc = 0;

	while (*s && !rc) {
		const char *run = s;
		while (*s && *s != '%' && *s != '@' && *s != '\\')
			s++;
		client_buf_put(out, run, (size_t)(s - run));
		if (!*s)
			break;
		switch (*s++) {
		case '%':
			if (read_spec(&s, &sp))
				rc = put_field(out, &sp, m, &tmp);
			break;
		case '@':
			if (*s)
				put_at(out, *s++, m);
			break;
		default:
			if (*s)
				put_escape(out, *s++);
			break;
		}
	}
	client_buf_release(&tmp);
	if (rc) {
		out->len = start;
		snprintf(err, errlen, "the payload of a message on '%.*s' is not JSON (%%J)",
			 (int)m->p->topic.len, (const char *)m->p->topic.data);
	}
	return rc;
}
