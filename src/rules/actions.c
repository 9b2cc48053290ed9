/*
 * actions.c - a rule's actions (rules.h, "Actions"): the JSON array
 * checked field by field and compiled into struct rules_actions. Unknown
 * fields are refused, so a misspelt "retian" is an error rather than a
 * silent default. Nothing is executed here.
 */
#include "rules/internal.h"

#include "base/alloc.h"
#include "mqtt/mqtt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_PAIRS 32 /* user properties or headers of one action */

struct ctx {
	uint32_t index; /* the action's */
	struct rules_error *err;
};

static int fail(const struct ctx *c, const char *field, int position, const char *why)
{
	rules__error(c->err, position, "actions[%u].%s: %s", c->index, field, why);
	return RULES_ERR_ACTION;
}

/* A template field: *out compiled from the string, from def when absent
 * (NULL def: required). A template's error keeps its position. */
static int template_field(const struct ctx *c, const json_t *obj, const char *field,
			  const char *def, bool optional, struct rules_template **out)
{
	const json_t *v = json_object_get(obj, field);
	struct rules_error terr;
	int rc;

	if (!v && (def || optional)) {
		if (!def)
			return 0;
		return rules_template_compile(def, strlen(def), out, &terr) ? RULES_ERR_ACTION : 0;
	}
	if (!v)
		return fail(c, field, -1, "required");
	if (!json_is_string(v))
		return fail(c, field, -1, "must be a string");
	rc = rules_template_compile(json_string_value(v), json_string_length(v), out, &terr);
	if (rc) {
		fail(c, field, terr.position, terr.message);
		return RULES_ERR_SYNTAX;
	}
	return 0;
}

/* Refuses a field that type does not have. */
static int check_known(const struct ctx *c, const json_t *obj, const char *type,
		       const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i = 0;
		while (known[i] && strcmp(known[i], key) != 0)
			i++;
		if (!known[i]) {
			char why[96];
			snprintf(why, sizeof(why), "unknown field for a %s action", type);
			return fail(c, key, -1, why);
		}
	}
	return 0;
}

/* An HTTP header's name: a token (RFC 9110 tchar). */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((unsigned)((*s | 0x20) - 'a') < 26u || (unsigned)(*s - '0') < 10u ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* An object of strings: user properties (any name) or headers (tokens). */
static int pairs_field(const struct ctx *c, const json_t *obj, const char *field, bool headers,
		       struct rules_pair **out, uint32_t *count)
{
	const json_t *o = json_object_get(obj, field);
	struct rules_error terr;
	const char *key;
	json_t *v;
	char why[RULES_ERROR_MAX];

	if (!o)
		return 0;
	if (!json_is_object(o))
		return fail(c, field, -1, "must be an object of strings");
	if (json_object_size(o) > MAX_PAIRS)
		return fail(c, field, -1, "at most 32 entries");
	*out = xcalloc(json_object_size(o) + 1, sizeof(**out));
	json_object_foreach((json_t *)o, key, v)
	{
		struct rules_pair *p = &(*out)[*count];

		if (headers && !is_token(key))
			return fail(c, field, -1,
				    "a header's name is a token (letters, digits, -)");
		if (!json_is_string(v))
			return fail(c, field, -1, "must be an object of strings");
		if (rules_template_compile(json_string_value(v), json_string_length(v), &p->value,
					   &terr)) {
			snprintf(why, sizeof(why), "%.64s: %.150s", key, terr.message);
			fail(c, field, terr.position, why);
			return RULES_ERR_SYNTAX;
		}
		p->key = xstrdup(key);
		(*count)++;
	}
	return 0;
}

static int parse_republish(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	static const char *const known[] = {"type",   "topic",		 "payload",	 "qos",
					    "retain", "user_properties", "content_type", NULL};
	const json_t *qos = json_object_get(o, "qos"), *retain = json_object_get(o, "retain");
	const char *lit;
	size_t n;
	int rc;

	if ((rc = check_known(c, o, "republish", known)) ||
	    (rc = template_field(c, o, "topic", NULL, false, &a->republish.topic)) ||
	    (rc = template_field(c, o, "payload", "${*}", false, &a->republish.payload)) ||
	    (rc = template_field(c, o, "content_type", NULL, true, &a->republish.content_type)) ||
	    (rc = pairs_field(c, o, "user_properties", false, &a->republish.props,
			      &a->republish.nprops)))
		return rc;
	lit = rules_template_literal(a->republish.topic, &n);
	if (lit && !mqtt_topic_name_valid((const uint8_t *)lit, n))
		return fail(c, "topic", -1, "not a valid topic name (not empty, no + or #)");
	if (qos &&
	    (!json_is_integer(qos) || json_integer_value(qos) < 0 || json_integer_value(qos) > 2))
		return fail(c, "qos", -1, "must be 0, 1 or 2");
	a->republish.qos = qos ? (uint8_t)json_integer_value(qos) : 0;
	if (retain && !json_is_boolean(retain))
		return fail(c, "retain", -1, "must be true or false");
	a->republish.retain = retain && json_is_true(retain);
	return 0;
}

static int parse_message(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	static const char *const known[] = {"type", "to", "content", NULL};
	int rc;

	if ((rc = check_known(c, o, "message", known)) ||
	    (rc = template_field(c, o, "to", NULL, false, &a->message.to)) ||
	    (rc = template_field(c, o, "content", NULL, false, &a->message.content)))
		return rc;
	return 0;
}

static int parse_record(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	static const char *const known[] = {"type", "collection", NULL};
	const json_t *v = json_object_get(o, "collection");
	const char *s;
	size_t n;
	int rc;

	if ((rc = check_known(c, o, "record", known)))
		return rc;
	if (!v)
		return fail(c, "collection", -1, "required");
	s = json_is_string(v) ? json_string_value(v) : "";
	n = json_is_string(v) ? json_string_length(v) : 0;
	if (n < 1 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return fail(c, "collection", -1, "1 to 64 of a-z, 0-9, _ and -");
	memcpy(a->record.collection, s, n + 1);
	return 0;
}

static int parse_webhook(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	static const char *const known[] = {"type", "url",	  "method", "headers",
					    "body", "timeout_ms", NULL};
	const json_t *method = json_object_get(o, "method"), *t = json_object_get(o, "timeout_ms");
	const char *scheme;
	size_t n;
	int rc;

	if ((rc = check_known(c, o, "webhook", known)) ||
	    (rc = template_field(c, o, "url", NULL, false, &a->webhook.url)) ||
	    (rc = template_field(c, o, "body", "${*}", false, &a->webhook.body)) ||
	    (rc = pairs_field(c, o, "headers", true, &a->webhook.headers, &a->webhook.nheaders)))
		return rc;
	scheme = rules_template_prefix(a->webhook.url, &n);
	if (!((n > 7 && strncasecmp(scheme, "http://", 7) == 0) ||
	      (n > 8 && strncasecmp(scheme, "https://", 8) == 0)))
		return fail(c, "url", 0, "must start with http:// or https:// and a host");
	if (method && !(json_is_string(method) && (strcmp(json_string_value(method), "POST") == 0 ||
						   strcmp(json_string_value(method), "PUT") == 0)))
		return fail(c, "method", -1, "must be \"POST\" or \"PUT\"");
	a->webhook.put = method && strcmp(json_string_value(method), "PUT") == 0;
	if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
		  json_integer_value(t) > RULES_WEBHOOK_TIMEOUT_MAX))
		return fail(c, "timeout_ms", -1, "must be an integer from 1 to 60000");
	a->webhook.timeout_ms = t ? (uint32_t)json_integer_value(t) : RULES_WEBHOOK_TIMEOUT_DEFAULT;
	return 0;
}

static int parse_email(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	static const char *const known[] = {"type", "to", "subject", "body", NULL};
	int rc;

	if ((rc = check_known(c, o, "email", known)) ||
	    (rc = template_field(c, o, "to", NULL, false, &a->email.to)) ||
	    (rc = template_field(c, o, "subject", NULL, false, &a->email.subject)) ||
	    (rc = template_field(c, o, "body", "${*}", false, &a->email.body)))
		return rc;
	return 0;
}

static const struct {
	const char *name;
	enum rules_action_type type;
	int (*parse)(const struct ctx *, const json_t *, struct rules_action *);
} TYPES[] = {
    {"republish", RULES_ACTION_REPUBLISH, parse_republish},
    {"message", RULES_ACTION_MESSAGE, parse_message},
    {"record", RULES_ACTION_RECORD, parse_record},
    {"webhook", RULES_ACTION_WEBHOOK, parse_webhook},
    {"email", RULES_ACTION_EMAIL, parse_email},
};

static int parse_action(const struct ctx *c, const json_t *o, struct rules_action *a)
{
	const json_t *type = json_object_get(o, "type");

	if (!json_is_object(o))
		return fail(c, "type", -1, "an action is an object");
	for (size_t i = 0; json_is_string(type) && i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
		if (strcmp(json_string_value(type), TYPES[i].name) == 0) {
			a->type = TYPES[i].type;
			return TYPES[i].parse(c, o, a);
		}
	}
	return fail(c, "type", -1,
		    type ? "unknown type: republish, message, record, webhook or email"
			 : "required: republish, message, record, webhook or email");
}

static void free_pairs(struct rules_pair *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(p[i].key);
		rules_template_free(p[i].value);
	}
	free(p);
}

static void action_release(struct rules_action *a)
{
	switch (a->type) {
	case RULES_ACTION_REPUBLISH:
		rules_template_free(a->republish.topic);
		rules_template_free(a->republish.payload);
		rules_template_free(a->republish.content_type);
		free_pairs(a->republish.props, a->republish.nprops);
		break;
	case RULES_ACTION_MESSAGE:
		rules_template_free(a->message.to);
		rules_template_free(a->message.content);
		break;
	case RULES_ACTION_WEBHOOK:
		rules_template_free(a->webhook.url);
		rules_template_free(a->webhook.body);
		free_pairs(a->webhook.headers, a->webhook.nheaders);
		break;
	case RULES_ACTION_EMAIL:
		rules_template_free(a->email.to);
		rules_template_free(a->email.subject);
		rules_template_free(a->email.body);
		break;
	default: break;
	}
}

void rules_actions_free(struct rules_actions *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->count; i++)
		action_release(&a->items[i]);
	free(a->items);
	free(a);
}

int rules_actions_parse(const json_t *actions, struct rules_actions **out, struct rules_error *err)
{
	struct rules_actions *a;
	struct ctx c = {.err = err};
	size_t n = json_array_size(actions);
	int rc = 0;

	if (!json_is_array(actions) || n < 1 || n > RULES_MAX_ACTIONS) {
		rules__error(err, -1, "actions: an array of 1 to %d actions", RULES_MAX_ACTIONS);
		return RULES_ERR_ACTION;
	}
	a = xcalloc(1, sizeof(*a));
	a->items = xcalloc(n, sizeof(*a->items));
	for (c.index = 0; c.index < n && !rc; c.index++) {
		/* counted first: a half-parsed action is released too */
		a->count++;
		rc = parse_action(&c, json_array_get(actions, c.index), &a->items[c.index]);
	}
	if (rc) {
		rules_actions_free(a);
		return rc;
	}
	*out = a;
	return 0;
}
