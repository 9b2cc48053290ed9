/*
 * rules_test.c - the dry run behind POST /api/rules/{id}/test and `agora
 * rule test`: a rule compiled (not installed), a sample event built from
 * JSON, evaluated, and every action rendered and checked as it would be,
 * without being carried out. The answer's shape is docs/rules.md's
 * ("Testing a rule").
 */
#include "rules_internal.h"

#include "base/alloc.h"
#include "base/text.h"
#include "mqtt/mqtt.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the sample ---- */

struct sample {
	json_t *root;
	char topic[80]; /* "$events/<name>" for an event */
	char *payload;	/* malloc'ed when dumped from JSON */
	struct rules_event ev;
	bool is_event;
	enum rules_event_kind kind;
};

static int bad(struct rules_error *err, const char *msg)
{
	err->position = -1;
	snprintf(err->message, sizeof(err->message), "sample: %s", msg);
	return -1;
}

/* "clientid" and "username": a string, null or absent. */
static int opt_string(json_t *o, const char *key, const char **s, size_t *len,
		      struct rules_error *err)
{
	json_t *v = json_object_get(o, key);
	char msg[64];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "'%s' must be a string or null", key);
		return bad(err, msg);
	}
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* The event's name ("vote" or "$events/vote"; absent or "message.publish"
 * for an MQTT message) and its topic. */
static int sample_source(struct sample *s, struct rules_error *err)
{
	json_t *ev = json_object_get(s->root, "event"), *topic = json_object_get(s->root, "topic");
	const char *name = json_is_string(ev) ? json_string_value(ev) : NULL;

	if (ev && !name)
		return bad(err, "'event' must be a string");
	if (name && strncmp(name, "$events/", 8) == 0)
		name += 8;
	if (name && strcmp(name, "message.publish") != 0) {
		for (int k = 0; k < RULES_EVENT_COUNT; k++) {
			if (strcmp(name, rules_event_name(k)) == 0) {
				s->is_event = true;
				s->kind = k;
			}
		}
		if (!s->is_event)
			return bad(err, "'event' is not one of the $events names");
		s->ev.topic_len = (size_t)snprintf(s->topic, sizeof(s->topic), "$events/%s", name);
		s->ev.topic = s->topic;
		s->ev.event = rules_event_name(s->kind);
		s->ev.event_len = strlen(s->ev.event);
		return 0;
	}
	if (!json_is_string(topic) ||
	    !mqtt_topic_name_valid((const uint8_t *)json_string_value(topic),
				   json_string_length(topic)))
		return bad(err, "'topic' must be a topic name (no wildcards)");
	s->ev.topic = json_string_value(topic);
	s->ev.topic_len = json_string_length(topic);
	s->ev.event = "message.publish";
	s->ev.event_len = strlen(s->ev.event);
	return 0;
}

static int sample_parse(struct sample *s, const char *text, struct rules_error *err)
{
	json_error_t je;
	json_t *v;

	s->root = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(s->root))
		return bad(err, "not a JSON object");
	if (sample_source(s, err) ||
	    opt_string(s->root, "clientid", &s->ev.clientid, &s->ev.clientid_len, err) ||
	    opt_string(s->root, "username", &s->ev.username, &s->ev.username_len, err))
		return -1;
	v = json_object_get(s->root, "payload");
	if (json_is_string(v)) {
		s->ev.payload = json_string_value(v);
		s->ev.payload_len = json_string_length(v);
	} else if (v && !json_is_null(v)) {
		/* an object (an event's payload): its compact JSON text */
		s->payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		s->ev.payload = s->payload;
		s->ev.payload_len = s->payload ? strlen(s->payload) : 0;
	} else {
		s->ev.payload = "";
	}
	v = json_object_get(s->root, "qos");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2))
		return bad(err, "'qos' must be 0, 1 or 2");
	s->ev.qos = v ? (int)json_integer_value(v) : 0;
	v = json_object_get(s->root, "retain");
	if (v && !json_is_boolean(v))
		return bad(err, "'retain' must be true or false");
	s->ev.retain = json_is_true(v);
	s->ev.timestamp = wall_clock_ms();
	return 0;
}

/* ---- the answer ---- */

/* A rendered text as a JSON string; one that is not UTF-8 (a blob) as
 * "<key>_hex" with its bytes in hex instead. */
static void set_text(json_t *o, const char *key, const char *s, size_t len)
{
	char k[64];
	char *hex;

	if (mqtt_utf8_data_valid((const uint8_t *)s, len)) {
		json_object_set_new(o, key, json_stringn(s, len));
		return;
	}
	hex = xmalloc(len * 2 + 1);
	text_hex(hex, s, len);
	snprintf(k, sizeof(k), "%s_hex", key);
	json_object_set_new(o, k, json_stringn(hex, len * 2));
	free(hex);
}

static void field_text(json_t *o, const char *key, const struct rs_queue *q,
		       const struct rs_job *j, int i)
{
	set_text(o, key, rs_field(q, j, i), j->len[i]);
}

/* The MQTT 5 properties rs_render encoded, back as fields. */
static void republish_props(json_t *o, const uint8_t *p, uint32_t len)
{
	json_t *user = json_object();
	uint32_t i = 0;

	while (i + 3 <= len) {
		uint8_t id = p[i];
		uint32_t n = (uint32_t)p[i + 1] << 8 | p[i + 2];
		const char *s = (const char *)p + i + 3;

		if (id == MQTT_PROP_CONTENT_TYPE) {
			json_object_set_new(o, "content_type", json_stringn(s, n));
			i += 3 + n;
		} else {
			uint32_t vn = (uint32_t)p[i + 3 + n] << 8 | p[i + 4 + n];
			char key[256];

			snprintf(key, sizeof(key), "%.*s", (int)n, s);
			json_object_set_new(user, key, json_stringn(s + n + 2, vn));
			i += 5 + n + vn;
		}
	}
	json_object_set_new(o, "user_properties", user);
}

static void webhook_headers(json_t *o, const char *p, uint32_t len)
{
	json_t *h = json_object();
	const char *end = p + len;

	while (p < end) {
		const char *name = p, *value = p + strlen(p) + 1;

		json_object_set_new(h, name, json_string(value));
		p = value + strlen(value) + 1;
	}
	json_object_set_new(o, "headers", h);
}

static json_t *action_json(const struct rs_rule *rr, const struct rs_queue *q,
			   const struct rs_job *j)
{
	json_t *o = json_object();
	json_t *data;

	switch (j->type) {
	case RULES_ACTION_REPUBLISH:
		json_object_set_new(o, "type", json_string("republish"));
		field_text(o, "topic", q, j, 0);
		field_text(o, "payload", q, j, 1);
		json_object_set_new(o, "qos", json_integer(j->qos));
		json_object_set_new(o, "retain", json_boolean(j->retain));
		republish_props(o, (const uint8_t *)rs_field(q, j, 2), j->len[2]);
		break;
	case RULES_ACTION_MESSAGE:
		json_object_set_new(o, "type", json_string("message"));
		json_object_set_new(o, "from", json_string(rr->owner));
		field_text(o, "to", q, j, 0);
		field_text(o, "content", q, j, 1);
		break;
	case RULES_ACTION_RECORD:
		json_object_set_new(o, "type", json_string("record"));
		field_text(o, "collection", q, j, 1);
		data = json_loads(rs_field(q, j, 0), 0, NULL);
		if (data)
			json_object_set_new(o, "data", data);
		else
			field_text(o, "data", q, j, 0);
		break;
	case RULES_ACTION_WEBHOOK:
		json_object_set_new(o, "type", json_string("webhook"));
		json_object_set_new(o, "method", json_string(j->put ? "PUT" : "POST"));
		field_text(o, "url", q, j, 0);
		webhook_headers(o, rs_field(q, j, 2), j->len[2]);
		field_text(o, "body", q, j, 1);
		json_object_set_new(o, "timeout_ms", json_integer(j->timeout_ms));
		break;
	case RULES_ACTION_EMAIL:
		json_object_set_new(o, "type", json_string("email"));
		field_text(o, "to", q, j, 0);
		field_text(o, "subject", q, j, 1);
		field_text(o, "body", q, j, 2);
		break;
	}
	return o;
}

static const char *type_name(enum rules_action_type t)
{
	static const char *const names[] = { "republish", "message", "record", "webhook", "email" };

	return names[t];
}

/* Every action rendered from row as it would be, or its error. */
static json_t *actions_json(struct rules_service *rs, const struct rs_rule *rr,
			    const struct rules_row *row)
{
	struct rs_queue q = { .bytes.max = RS_QUEUE_BYTES_MAX };
	json_t *a = json_array();
	char why[RULES_ERROR_MAX];
	struct rs_job j;

	for (uint32_t i = 0; i < rr->actions->count; i++) {
		if (rs_render(rs, rr, i, row, 1, &q, &j, why, sizeof(why)) == 0) {
			json_array_append_new(a, action_json(rr, &q, &j));
		} else {
			json_array_append_new(a, json_pack("{s:s,s:s}", "type",
							   type_name(rr->actions->items[i].type),
							   "error", why));
		}
	}
	free(q.bytes.s);
	return a;
}

static json_t *fields_json(const struct rules_row *row)
{
	struct rules_buf b = { 0 };
	json_t *o = NULL;

	if (rules_row_json(row, &b) == 0)
		o = json_loadb(b.s, b.len, 0, NULL);
	free(b.s);
	return o ? o : json_null();
}

static const char *const outcome_names[] = {
	[RULES_PASSED] = "passed",
	[RULES_NOT_PASSED] = "not_passed",
	[RULES_FAILED] = "failed",
	[RULES_LOOP_STOPPED] = "loop_stopped",
};

static json_t *run(struct rules_service *rs, struct rs_rule *rr, struct sample *s)
{
	struct rules_row row = { 0 };
	enum rules_outcome out;
	bool matched;
	json_t *o;

	matched = s->is_event ? rules_rule_matches_event(rr->rule, s->kind)
			      : rules_rule_matches_topic(rr->rule, s->ev.topic, s->ev.topic_len);
	/* Evaluated even when no source matches: what the WHERE says is
	 * worth seeing; "matched" says the service would not get there. */
	out = rules_eval(rr->rule, &s->ev, &row);
	o = json_pack("{s:b,s:b,s:s}", "matched", matched, "passed", out == RULES_PASSED,
		      "outcome", outcome_names[out]);
	json_object_set_new(o, "error",
			    out == RULES_FAILED ? json_string(row.error) : json_null());
	json_object_set_new(o, "fields", out == RULES_PASSED ? fields_json(&row) : json_null());
	json_object_set_new(o, "actions",
			    out == RULES_PASSED ? actions_json(rs, rr, &row) : json_array());
	rules_row_release(&row);
	return o;
}

char *rs_test(struct rules_service *rs, const struct store_rule *r, const char *sample_json,
	      struct rules_error *err)
{
	struct rs_rule rr = { .id = r->id, .name = r->name, .owner = r->owner_name };
	struct sample s = { 0 };
	char *text = NULL;
	json_t *o;

	if (sample_parse(&s, sample_json, err))
		goto out;
	if (rs_compile(rs, r, &rr.rule, &rr.actions, err))
		goto out;
	if (!rr.name)
		rr.name = "";
	if (!rr.owner)
		rr.owner = "";
	o = run(rs, &rr, &s);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rules_rule_free(rr.rule);
	rules_actions_free(rr.actions);
out:
	json_decref(s.root);
	free(s.payload);
	return text;
}
