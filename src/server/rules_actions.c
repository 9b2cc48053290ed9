/*
 * rules_actions.c - an action rendered from a rule's row and checked
 * (when the rule passes), then carried out (on the next loop turn):
 * republish through the broker, a direct message and a record through
 * the deps (the API's ways of writing), a webhook and an e-mail through
 * the notify queue, whose completion comes back here by tag.
 *
 * Rendering copies every field into the queue's bytes, so a job needs
 * nothing of its rule but the counters: a rule replaced in between still
 * gets its job run as it was rendered.
 */
#include "rules_internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"
#include "broker/broker.h"
#include "mqtt/mqtt.h"
#include "notify/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A message's "to": a user name (32 characters at most, with room). */
#define RS_NAME_MAX 64

static const char *const type_names[] = {
	[RULES_ACTION_REPUBLISH] = "republish", [RULES_ACTION_MESSAGE] = "message",
	[RULES_ACTION_RECORD] = "record",	[RULES_ACTION_WEBHOOK] = "webhook",
	[RULES_ACTION_EMAIL] = "email",
};

/* ---- writing into the queue's bytes ---- */

/* Appends n raw bytes; false past the buffer's maximum. */
static bool put(struct rules_buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->max)
		return false;
	ARRAY_GROW(b->s, b->cap, b->len + n + 1, 256, (uint32_t)b->max);
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
	return true;
}

/* Renders t as a NUL-terminated field: its offset and length in *off and
 * *len. False when the queue's bytes are full. */
static bool render_field(const struct rules_template *t, const struct rules_row *row,
			 struct rules_buf *b, uint32_t *off, uint32_t *len)
{
	size_t start = b->len;

	if (rules_template_render(t, row, b))
		return false;
	*off = (uint32_t)start;
	*len = (uint32_t)(b->len - start);
	if (!put(b, "", 1)) /* keeps the NUL: the next field starts after it */
		return false;
	return true;
}

/* An MQTT string property (id, two-byte length, bytes) whose value is
 * rendered from t. False with why. */
static bool put_prop_str(struct rules_buf *b, const struct rules_template *t,
			 const struct rules_row *row, const char *what, char *why, size_t cap)
{
	size_t head = b->len, n;

	if (!put(b, "\0\0", 2) || rules_template_render(t, row, b)) {
		snprintf(why, cap, "%s: the action queue is full", what);
		return false;
	}
	n = b->len - head - 2;
	if (n > 65535 || !mqtt_utf8_valid((const uint8_t *)b->s + head + 2, n)) {
		snprintf(why, cap, "%s: not an MQTT string (valid UTF-8 without U+0000, at most "
				   "65535 bytes)", what);
		return false;
	}
	b->s[head] = (char)(n >> 8);
	b->s[head + 1] = (char)(n & 0xff);
	return true;
}

/* ---- rendering and checking, by type ---- */

struct render {
	struct rules_service *rs;
	const struct rules_row *row;
	struct rules_buf *b;
	struct rs_job *job;
	char *why;
	size_t cap;
	const char *name; /* "actions[1]" */
};

static bool field(struct render *r, int i, const struct rules_template *t, const char *what)
{
	if (render_field(t, r->row, r->b, &r->job->off[i], &r->job->len[i]))
		return true;
	snprintf(r->why, r->cap, "%s.%s: the action queue is full", r->name, what);
	return false;
}

static const char *text_of(const struct render *r, int i)
{
	return r->b->s + r->job->off[i];
}

static int render_republish(struct render *r, const struct rules_action *a)
{
	const char *topic;
	uint32_t max = broker_get_config(r->rs->broker)->max_packet_size;
	size_t start;
	char what[128];

	if (!field(r, 0, a->republish.topic, "topic") || !field(r, 1, a->republish.payload, "payload"))
		return -1;
	topic = text_of(r, 0);
	if (r->job->len[0] == 0 || r->job->len[0] > MQTT_TOPIC_MAX ||
	    !mqtt_topic_name_valid((const uint8_t *)topic, r->job->len[0]) || topic[0] == '$') {
		snprintf(r->why, r->cap, "%s.topic: '%.64s' is not a topic a rule may publish to (a "
					 "topic name without wildcards, not starting with $)",
			 r->name, topic);
		return -1;
	}
	if (r->job->len[1] > max) {
		snprintf(r->why, r->cap, "%s.payload: %u bytes, over max_packet_size (%u)", r->name,
			 r->job->len[1], max);
		return -1;
	}
	start = r->b->len;
	if (a->republish.content_type) {
		snprintf(what, sizeof(what), "%s.content_type", r->name);
		if (!put(r->b, "\x03", 1) ||
		    !put_prop_str(r->b, a->republish.content_type, r->row, what, r->why, r->cap))
			return -1;
	}
	for (uint32_t i = 0; i < a->republish.nprops; i++) {
		const struct rules_pair *p = &a->republish.props[i];
		size_t klen = strlen(p->key);
		uint8_t head[3] = { MQTT_PROP_USER_PROPERTY, (uint8_t)(klen >> 8), (uint8_t)klen };

		snprintf(what, sizeof(what), "%s.user_properties.%.32s", r->name, p->key);
		if (klen > 65535 || !mqtt_utf8_valid((const uint8_t *)p->key, klen)) {
			snprintf(r->why, r->cap, "%s: the name is not an MQTT string", what);
			return -1;
		}
		if (!put(r->b, head, 3) || !put(r->b, p->key, klen) ||
		    !put_prop_str(r->b, p->value, r->row, what, r->why, r->cap))
			return -1;
	}
	r->job->off[2] = (uint32_t)start;
	r->job->len[2] = (uint32_t)(r->b->len - start);
	r->job->qos = a->republish.qos;
	r->job->retain = a->republish.retain;
	return 0;
}

static int render_message(struct render *r, const struct rules_action *a)
{
	if (!field(r, 0, a->message.to, "to") || !field(r, 1, a->message.content, "content"))
		return -1;
	if (r->job->len[0] == 0 || r->job->len[0] >= RS_NAME_MAX) {
		snprintf(r->why, r->cap, "%s.to: '%.64s' is not a user name", r->name, text_of(r, 0));
		return -1;
	}
	return 0;
}

static int render_record(struct render *r, const struct rules_action *a)
{
	size_t start = r->b->len;

	if (rules_row_json(r->row, r->b) || !put(r->b, "", 1)) {
		snprintf(r->why, r->cap, "%s: the action queue is full", r->name);
		return -1;
	}
	r->job->off[0] = (uint32_t)start;
	r->job->len[0] = (uint32_t)(r->b->len - 1 - start);
	r->job->off[1] = (uint32_t)r->b->len;
	r->job->len[1] = (uint32_t)strlen(a->record.collection);
	if (!put(r->b, a->record.collection, r->job->len[1] + 1)) {
		snprintf(r->why, r->cap, "%s: the action queue is full", r->name);
		return -1;
	}
	return 0;
}

/* A rendered URL: still http:// or https://, and nothing that would end
 * it or split a request line (blanks, controls). */
static bool url_ok(const char *u, size_t len)
{
	if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return false;
	return true;
}

static int render_webhook(struct render *r, const struct rules_action *a)
{
	size_t start;

	if (!field(r, 0, a->webhook.url, "url") || !field(r, 1, a->webhook.body, "body"))
		return -1;
	if (!url_ok(text_of(r, 0), r->job->len[0])) {
		snprintf(r->why, r->cap, "%s.url: '%.64s' is not an http:// or https:// URL",
			 r->name, text_of(r, 0));
		return -1;
	}
	if (r->job->len[1] > NOTIFY_BODY_MAX) {
		snprintf(r->why, r->cap, "%s.body: over %u bytes", r->name, NOTIFY_BODY_MAX);
		return -1;
	}
	start = r->b->len;
	for (uint32_t i = 0; i < a->webhook.nheaders; i++) {
		const struct rules_pair *p = &a->webhook.headers[i];
		uint32_t off, len;

		if (!put(r->b, p->key, strlen(p->key) + 1) ||
		    !render_field(p->value, r->row, r->b, &off, &len)) {
			snprintf(r->why, r->cap, "%s: the action queue is full", r->name);
			return -1;
		}
		if (memchr(r->b->s + off, '\r', len) || memchr(r->b->s + off, '\n', len) ||
		    strlen(r->b->s + off) != len ||
		    strlen(p->key) + 2 + len > NOTIFY_HEADER_MAX) {
			snprintf(r->why, r->cap, "%s.headers.%.32s: a value with CR, LF or NUL, or "
						 "too long",
				 r->name, p->key);
			return -1;
		}
	}
	r->job->off[2] = (uint32_t)start;
	r->job->len[2] = (uint32_t)(r->b->len - start);
	r->job->put = a->webhook.put;
	r->job->timeout_ms = a->webhook.timeout_ms;
	return 0;
}

static int render_email(struct render *r, const struct rules_action *a)
{
	if (!field(r, 0, a->email.to, "to") || !field(r, 1, a->email.subject, "subject") ||
	    !field(r, 2, a->email.body, "body"))
		return -1;
	if (memchr(text_of(r, 1), '\r', r->job->len[1]) ||
	    memchr(text_of(r, 1), '\n', r->job->len[1])) {
		snprintf(r->why, r->cap, "%s.subject: holds CR or LF", r->name);
		return -1;
	}
	if ((size_t)r->job->len[1] + r->job->len[2] > NOTIFY_BODY_MAX) {
		snprintf(r->why, r->cap, "%s: subject and body over %u bytes", r->name,
			 NOTIFY_BODY_MAX);
		return -1;
	}
	return 0;
}

int rs_render(struct rules_service *rs, const struct rs_rule *rr, uint32_t a,
	      const struct rules_row *row, unsigned depth, struct rs_queue *q, struct rs_job *job,
	      char *why, size_t why_cap)
{
	const struct rules_action *act = &rr->actions->items[a];
	size_t mark = q->bytes.len;
	char name[32];
	struct render r = { rs, row, &q->bytes, job, why, why_cap, name };
	int rc = -1;

	snprintf(name, sizeof(name), "actions[%u]", a);
	memset(job, 0, sizeof(*job));
	job->rule = (struct rs_rule *)rr;
	job->action = a;
	job->type = act->type;
	job->depth = (uint8_t)(depth > 255 ? 255 : depth);
	switch (act->type) {
	case RULES_ACTION_REPUBLISH: rc = render_republish(&r, act); break;
	case RULES_ACTION_MESSAGE: rc = render_message(&r, act); break;
	case RULES_ACTION_RECORD: rc = render_record(&r, act); break;
	case RULES_ACTION_WEBHOOK: rc = render_webhook(&r, act); break;
	case RULES_ACTION_EMAIL: rc = render_email(&r, act); break;
	}
	if (rc)
		q->bytes.len = mark; /* nothing of a failed rendering stays */
	return rc;
}

/* ---- carrying out ---- */

/* notify's tag: "rule <id> <type> (<name>)", the id read back when the
 * job ends (the rule may be gone by then: nothing points at it). */
static void make_tag(char *tag, size_t cap, const struct rs_rule *rr, enum rules_action_type t)
{
	snprintf(tag, cap, "rule %lld %s (%s)", (long long)rr->id, type_names[t], rr->name);
}

static void run_republish(struct rules_service *rs, struct rs_queue *q, const struct rs_job *j,
			  char *why, size_t cap, int *ok)
{
	*ok = broker_publish_props(rs->broker, rs_field(q, j, 0), rs_field(q, j, 1), j->len[1],
				   j->qos, j->retain, j->depth,
				   (const uint8_t *)rs_field(q, j, 2), j->len[2]);
	if (!*ok)
		snprintf(why, cap, "republish: the broker refused its properties");
}

static void run_webhook(struct rules_service *rs, struct rs_queue *q, const struct rs_job *j,
			const char *tag, char *why, size_t cap, int *ok)
{
	struct notify_header h[NOTIFY_MAX_HEADERS];
	const char *p = rs_field(q, j, 2), *end = p + j->len[2];
	size_t n = 0;
	int rc;

	while (p < end && n < NOTIFY_MAX_HEADERS) {
		h[n].name = p;
		p += strlen(p) + 1;
		h[n++].value = p;
		p += strlen(p) + 1;
	}
	rc = notify_webhook(rs->notify, rs_field(q, j, 0), j->put ? "PUT" : "POST", h, n,
			    rs_field(q, j, 1), j->len[1], j->timeout_ms, tag);
	*ok = rc == 0 ? -1 : 0; /* -1: its end is counted by rs_notify_done */
	if (rc)
		snprintf(why, cap, "webhook: %s", notify_strerror(rc));
}

static void run_email(struct rules_service *rs, struct rs_queue *q, const struct rs_job *j,
		      const char *tag, char *why, size_t cap, int *ok)
{
	int rc = notify_email(rs->notify, rs_field(q, j, 0), rs_field(q, j, 1), rs_field(q, j, 2),
			      tag);

	*ok = rc == 0 ? -1 : 0;
	if (rc)
		snprintf(why, cap, "email: %s", notify_strerror(rc));
}

static void run_deps(struct rules_service *rs, struct rs_queue *q, const struct rs_job *j,
		     char *why, size_t cap, int *ok)
{
	struct rules_deps *d = &rs->deps;
	const struct rs_rule *rr = j->rule;
	char reason[RULES_ERROR_MAX] = "";
	int rc = -1;

	if (j->type == RULES_ACTION_MESSAGE && d->send_message)
		rc = d->send_message(d->ctx, rr->owner, rs_field(q, j, 0), rs_field(q, j, 1),
				     j->depth, reason, sizeof(reason));
	else if (j->type == RULES_ACTION_RECORD && d->record)
		rc = d->record(d->ctx, rs_field(q, j, 1), rr->id, rs_field(q, j, 0), reason,
			       sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "not available in this server");
	*ok = rc == 0;
	if (rc)
		snprintf(why, cap, "%s: %.200s", type_names[j->type], reason);
}

void rs_run(struct rules_service *rs, struct rs_queue *q, const struct rs_job *job)
{
	char why[RULES_ERROR_MAX] = "", tag[160];
	int ok = 0; /* 1 done, 0 failed, -1 queued: counted when notify says */

	make_tag(tag, sizeof(tag), job->rule, job->type);
	switch (job->type) {
	case RULES_ACTION_REPUBLISH: run_republish(rs, q, job, why, sizeof(why), &ok); break;
	case RULES_ACTION_MESSAGE:
	case RULES_ACTION_RECORD: run_deps(rs, q, job, why, sizeof(why), &ok); break;
	case RULES_ACTION_WEBHOOK:
	case RULES_ACTION_EMAIL:
		if (!rs->notify)
			snprintf(why, sizeof(why), "%s: no outbound queue in this server",
				 type_names[job->type]);
		else if (job->type == RULES_ACTION_WEBHOOK)
			run_webhook(rs, q, job, tag, why, sizeof(why), &ok);
		else
			run_email(rs, q, job, tag, why, sizeof(why), &ok);
		break;
	}
	if (ok >= 0)
		rs_count(job->rule, ok == 1, why);
}

void rs_notify_done(void *arg, const char *tag, bool ok, const char *reason)
{
	struct rules_service *rs = arg;
	char why[RULES_ERROR_MAX];
	const char *kind;
	struct rs_rule *rr;
	char *end;
	long long id;

	if (!tag || strncmp(tag, "rule ", 5) != 0)
		return;
	id = strtoll(tag + 5, &end, 10);
	if (end == tag + 5 || !(rr = rs_find(rs, id)))
		return; /* uninstalled meanwhile: nothing to count against */
	kind = *end == ' ' ? end + 1 : "";
	snprintf(why, sizeof(why), "%.*s: %s", (int)strcspn(kind, " "), kind,
		 reason ? reason : "failed");
	rs_count(rr, ok, why);
}
