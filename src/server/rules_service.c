/*
 * rules_service.c - the rules at work (rules_service.h): installed rules
 * by id, a broker tap per topic filter, Agora's events, evaluation, and
 * the queue of actions carried out on the next loop turn.
 *
 * Why a uv_idle_t and not a turn hook (net_on_turn): a tap or an event
 * fires while the loop reads; the actions it selects must not run inside
 * it (broker.h: a tap must not publish). Queued, they run in the idle
 * phase of the next turn, whose poll then does not block, and what they
 * publish reaches the connections in that same turn through the MQTT
 * service's turn hook, whatever order services were created in (a turn
 * hook registered after the MQTT service's would leave a republish
 * unwritten until something else woke the loop). An idle handle can also
 * be closed, which a turn hook cannot be undone.
 */
#include "rules_internal.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"
#include "base/text.h"
#include "broker/broker.h"
#include "net/net.h"
#include "notify/notify.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- installed rules ---- */

struct rs_rule *rs_find(struct rules_service *rs, int64_t id)
{
	for (struct rs_rule *rr = rs->rules; rr; rr = rr->next)
		if (rr->id == id)
			return rr;
	return NULL;
}

void rs_count(struct rs_rule *rr, bool ok, const char *why)
{
	int64_t now;

	if (ok) {
		rr->rule->stats.actions_ok++;
		return;
	}
	rr->rule->stats.actions_failed++;
	snprintf(rr->rule->stats.last_error, sizeof(rr->rule->stats.last_error), "%s", why);
	/* A rule failing on every message must not flood the log. */
	rr->fails_unlogged++;
	now = wall_clock_ms();
	if (now - rr->fail_logged_at < RS_LOG_EVERY_MS)
		return;
	log_info("rule %lld (%s): an action failed: %s (%llu failures since the last report; "
		 "reported once a minute)",
		 (long long)rr->id, rr->name, why, (unsigned long long)rr->fails_unlogged);
	rr->fail_logged_at = now;
	rr->fails_unlogged = 0;
}

static void taps_remove(struct rules_service *rs, struct rs_rule *rr)
{
	for (uint32_t i = 0; i < rr->ntaps; i++)
		broker_tap_remove(rs->broker, rr->taps[i]);
	free(rr->taps);
	rr->taps = NULL;
	rr->ntaps = 0;
}

/* A tap per topic filter of an enabled rule (its event sources are
 * counted in event_rules instead). */
static void taps_add(struct rules_service *rs, struct rs_rule *rr)
{
	const struct rules_rule *r = rr->rule;

	rr->taps = xcalloc(r->nsources ? r->nsources : 1, sizeof(*rr->taps));
	for (uint32_t i = 0; i < r->nsources; i++) {
		const struct rules_source *src = &r->sources[i];
		struct broker_tap *t;

		if (src->kind != RULES_SOURCE_FILTER)
			continue;
		/* rules_compile checked the filter as a SUBSCRIBE's, as the
		 * broker does: it cannot be refused here. */
		t = broker_tap_add(rs->broker, (const uint8_t *)src->text, (uint16_t)src->len, rr);
		if (t)
			rr->taps[rr->ntaps++] = t;
	}
}

static void count_event_rules(struct rules_service *rs)
{
	memset(rs->event_rules, 0, sizeof(rs->event_rules));
	for (struct rs_rule *rr = rs->rules; rr; rr = rr->next)
		for (int k = 0; rr->enabled && k < RULES_EVENT_COUNT; k++)
			rs->event_rules[k] += rules_rule_matches_event(rr->rule, k);
}

/* Compiles a stored rule's sql and actions: 0, or -1 with err. */
int rs_compile(struct rules_service *rs, const struct store_rule *r, struct rules_rule **rule,
		   struct rules_actions **actions, struct rules_error *err)
{
	json_error_t je;
	json_t *a;
	int rc;

	if (!r->sql || rules_compile(rs->engine, r->sql, strlen(r->sql), rule, err))
		goto out_failed;
	a = json_loads(r->actions ? r->actions : "", JSON_REJECT_DUPLICATES, &je);
	if (!a) {
		err->position = -1;
		snprintf(err->message, sizeof(err->message), "actions: %s", je.text);
		goto out_free_rule;
	}
	rc = rules_actions_parse(a, actions, err);
	json_decref(a);
	if (rc)
		goto out_free_rule;
	return 0;
out_free_rule:
	rules_rule_free(*rule);
out_failed:
	if (!r->sql) {
		err->position = -1;
		snprintf(err->message, sizeof(err->message), "sql: missing");
	}
	return -1;
}

/* Queued jobs of a rule that goes are dropped, not carried out. */
static void drop_jobs(struct rules_service *rs, const struct rs_rule *rr)
{
	for (int i = 0; i < 2; i++)
		for (uint32_t j = 0; j < rs->q[i].n; j++)
			if (rs->q[i].jobs[j].rule == rr)
				rs->q[i].jobs[j].rule = NULL;
}

int rules_service_install(struct rules_service *rs, const struct store_rule *r,
			  struct rules_error *err)
{
	struct rules_rule *rule;
	struct rules_actions *actions;
	struct rs_rule *rr;

	if (rs_compile(rs, r, &rule, &actions, err))
		return -1;
	rr = rs_find(rs, r->id);
	if (!rr) {
		rr = xcalloc(1, sizeof(*rr));
		rr->id = r->id;
		rr->next = rs->rules;
		rs->rules = rr;
	} else {
		/* The counters stay with the id; jobs rendered from the old
		 * version still run (they hold what they need). */
		taps_remove(rs, rr);
		rule->stats = rr->rule->stats;
		rules_rule_free(rr->rule);
		rules_actions_free(rr->actions);
		free(rr->name);
		free(rr->owner);
	}
	rr->rule = rule;
	rr->actions = actions;
	rr->name = xstrdup(r->name ? r->name : "");
	rr->owner = xstrdup(r->owner_name ? r->owner_name : "");
	rr->enabled = r->enabled;
	rr->last_serial = 0;
	if (rr->enabled)
		taps_add(rs, rr);
	count_event_rules(rs);
	return 0;
}

static void rule_free(struct rules_service *rs, struct rs_rule *rr)
{
	taps_remove(rs, rr);
	drop_jobs(rs, rr);
	rules_rule_free(rr->rule);
	rules_actions_free(rr->actions);
	free(rr->name);
	free(rr->owner);
	free(rr);
}

void rules_service_uninstall(struct rules_service *rs, int64_t id)
{
	for (struct rs_rule **pp = &rs->rules; *pp; pp = &(*pp)->next) {
		struct rs_rule *rr = *pp;

		if (rr->id == id) {
			*pp = rr->next;
			rule_free(rs, rr);
			count_event_rules(rs);
			return;
		}
	}
}

/* ---- the queue ---- */

static void on_idle(uv_idle_t *h);

/* Renders and queues action a of rr; a failure is counted now. */
static void queue_action(struct rules_service *rs, struct rs_rule *rr, uint32_t a,
			 unsigned depth)
{
	struct rs_queue *q = &rs->q[rs->filling];
	char why[RULES_ERROR_MAX];
	struct rs_job job;

	if (q->n >= RS_QUEUE_JOBS_MAX) {
		rs->queue_overflow++;
		snprintf(why, sizeof(why), "actions[%u]: the action queue is full (%u jobs)", a,
			 RS_QUEUE_JOBS_MAX);
		rs_count(rr, false, why);
		return;
	}
	if (rs_render(rs, rr, a, &rs->row, depth, q, &job, why, sizeof(why))) {
		rs_count(rr, false, why);
		return;
	}
	ARRAY_GROW(q->jobs, q->cap, q->n + 1, 64, RS_QUEUE_JOBS_MAX);
	q->jobs[q->n++] = job;
	/* Not once closed (a server's last turns, connections closing after
	 * uv_walk closed every handle: what they cause waits, and goes with
	 * rules_service_free). */
	if (rs->idle && !uv_is_active((uv_handle_t *)rs->idle) &&
	    !uv_is_closing((uv_handle_t *)rs->idle))
		uv_idle_start(rs->idle, on_idle);
}

/* After a burst, the queue's memory goes back (past 1 MiB of bytes or
 * 4096 jobs); a steady stream keeps and reuses it. */
static void queue_shrink(struct rs_queue *q)
{
	if (q->bytes.cap > (1u << 20)) {
		free(q->bytes.s);
		q->bytes.s = NULL;
		q->bytes.cap = 0;
	}
	if (q->cap > 4096) {
		free(q->jobs);
		q->jobs = NULL;
		q->cap = 0;
	}
}

void rules_service_run(struct rules_service *rs)
{
	struct rs_queue *q = &rs->q[rs->filling];

	/* What these jobs cause is queued in the other queue, for the next
	 * turn: one generation per turn, however long a chain. */
	rs->filling ^= 1;
	for (uint32_t i = 0; i < q->n; i++)
		if (q->jobs[i].rule)
			rs_run(rs, q, &q->jobs[i]);
	q->n = 0;
	q->bytes.len = 0;
	queue_shrink(q);
	if (rs->idle && rs->q[rs->filling].n == 0)
		uv_idle_stop(rs->idle);
}

static void on_idle(uv_idle_t *h)
{
	rules_service_run(h->data);
}

bool rules_service_pending(const struct rules_service *rs)
{
	return rs->q[0].n || rs->q[1].n;
}

/* ---- evaluation ---- */

static void loop_stopped(struct rs_rule *rr, const struct rules_event *ev)
{
	int64_t now = wall_clock_ms();

	if (now - rr->loop_logged_at < RS_LOG_EVERY_MS)
		return;
	rr->loop_logged_at = now;
	log_warn("rule %lld (%s): not run on '%.*s' at depth %u (rules_max_depth): a loop? "
		 "(%llu stops so far; logged once a minute)",
		 (long long)rr->id, rr->name, (int)ev->topic_len, ev->topic, ev->depth,
		 (unsigned long long)rr->rule->stats.loop_stopped);
}

static void evaluate(struct rules_service *rs, struct rs_rule *rr, const struct rules_event *ev)
{
	switch (rules_eval(rr->rule, ev, &rs->row)) {
	case RULES_PASSED:
		for (uint32_t i = 0; i < rr->actions->count; i++)
			queue_action(rs, rr, i, ev->depth + 1);
		break;
	case RULES_LOOP_STOPPED:
		loop_stopped(rr, ev);
		break;
	case RULES_NOT_PASSED:
	case RULES_FAILED: /* counted, its error kept, by rules_eval */
		break;
	}
}

static void on_tap(void *ctx, void *cookie, const struct broker_tap_msg *m)
{
	static const char publish[] = "message.publish";
	struct rules_service *rs = ctx;
	struct rs_rule *rr = cookie;
	struct rules_event ev = {
		.topic = (const char *)m->topic,
		.topic_len = m->topic_len,
		.payload = m->payload,
		.payload_len = m->payload_len,
		.clientid = m->client_id,
		.clientid_len = m->client_id ? strlen(m->client_id) : 0,
		.username = m->account,
		.username_len = m->account ? strlen(m->account) : 0,
		.qos = m->qos,
		.retain = m->retain,
		.event = publish,
		.event_len = sizeof(publish) - 1,
		.depth = m->depth,
	};

	/* Two of a rule's filters matching one message: it runs once. */
	if (m->serial == rr->last_serial)
		return;
	rr->last_serial = m->serial;
	ev.timestamp = wall_clock_ms();
	evaluate(rs, rr, &ev);
}

void rules_service_event(struct rules_service *rs, enum rules_event_kind kind,
			 const char *payload, const char *username, const char *clientid,
			 unsigned depth)
{
	char topic[64];
	const char *name = rules_event_name(kind);
	struct rules_event ev = {
		.payload = payload,
		.payload_len = payload ? strlen(payload) : 0,
		.clientid = clientid,
		.clientid_len = clientid ? strlen(clientid) : 0,
		.username = username,
		.username_len = username ? strlen(username) : 0,
		.event = name,
		.event_len = strlen(name),
		.depth = depth,
	};

	if (!rs || kind >= RULES_EVENT_COUNT || !rs->event_rules[kind])
		return;
	ev.topic_len = (size_t)snprintf(topic, sizeof(topic), "$events/%s", name);
	ev.topic = topic;
	ev.timestamp = wall_clock_ms();
	for (struct rs_rule *rr = rs->rules; rr; rr = rr->next)
		if (rr->enabled && rules_rule_matches_event(rr->rule, kind))
			evaluate(rs, rr, &ev);
}

bool rules_service_listens(const struct rules_service *rs, enum rules_event_kind kind)
{
	return rs && kind < RULES_EVENT_COUNT && rs->event_rules[kind];
}

/* ---- the broker's client events ---- */

static void on_client_event(void *ctx, const struct broker_event *e)
{
	static const enum rules_event_kind kinds[] = {
		[BROKER_EVENT_CONNECTED] = RULES_EVENT_CLIENT_CONNECTED,
		[BROKER_EVENT_DISCONNECTED] = RULES_EVENT_CLIENT_DISCONNECTED,
		[BROKER_EVENT_SUBSCRIBED] = RULES_EVENT_SUBSCRIBED,
	};
	struct rules_service *rs = ctx;
	enum rules_event_kind kind = kinds[e->kind];
	json_t *o;
	char *payload;

	if (!rs->event_rules[kind])
		return; /* no rule listens: no JSON built */
	o = json_pack("{s:s, s:s?, s:s}", "clientid", e->client_id, "username", e->account,
		      "peer", e->peer ? e->peer : "");
	if (!o)
		return; /* a client id that is not UTF-8 (strict_utf8 off): no event */
	if (e->kind == BROKER_EVENT_DISCONNECTED)
		json_object_set_new(o, "reason", json_string(e->reason));
	if (e->kind == BROKER_EVENT_SUBSCRIBED) {
		json_object_set_new(o, "filter", json_stringn((const char *)e->filter, e->filter_len));
		json_object_set_new(o, "qos", json_integer(e->qos));
	}
	payload = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (payload)
		rules_service_event(rs, kind, payload, e->account, e->client_id, 0);
	free(payload);
}

/* ---- life ---- */

struct rules_service *rules_service_new(struct broker *b, struct net *n, struct notify *notify,
					const struct rules_deps *deps,
					const struct rules_service_config *cfg)
{
	struct rules_service *rs;
	struct rules_engine *e = rules_engine_new();

	if (!e) {
		log_error("rules: the engine could not start (SQLite in memory)");
		return NULL;
	}
	rs = xcalloc(1, sizeof(*rs));
	rs->broker = b;
	rs->notify = notify;
	if (deps)
		rs->deps = *deps;
	rs->engine = e;
	rules_engine_set_max_depth(e, cfg && cfg->max_depth ? cfg->max_depth
							   : RULES_MAX_DEPTH_DEFAULT);
	if (cfg && cfg->max_ms)
		rules_engine_set_max_ms(e, cfg->max_ms);
	for (int i = 0; i < 2; i++)
		rs->q[i].bytes.max = RS_QUEUE_BYTES_MAX;
	if (n) {
		rs->idle = xmalloc(sizeof(*rs->idle));
		uv_idle_init(net_loop(n), rs->idle);
		rs->idle->data = rs;
	}
	broker_set_tap_fn(b, on_tap, rs);
	broker_set_event_fn(b, on_client_event, rs);
	if (notify)
		notify_on_done(notify, rs_notify_done, rs);
	return rs;
}

void rules_service_set_notify(struct rules_service *rs, struct notify *notify)
{
	if (rs->notify)
		notify_on_done(rs->notify, NULL, NULL);
	rs->notify = notify;
	if (notify)
		notify_on_done(notify, rs_notify_done, rs);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

void rules_service_free(struct rules_service *rs)
{
	if (!rs)
		return;
	while (rs->rules) {
		struct rs_rule *rr = rs->rules;

		rs->rules = rr->next;
		rule_free(rs, rr);
	}
	broker_set_tap_fn(rs->broker, NULL, NULL);
	broker_set_event_fn(rs->broker, NULL, NULL);
	if (rs->notify)
		notify_on_done(rs->notify, NULL, NULL);
	if (rs->idle && uv_is_closing((uv_handle_t *)rs->idle))
		free(rs->idle); /* closed with the loop's handles, and the loop ran since */
	else if (rs->idle)
		uv_close((uv_handle_t *)rs->idle, free_handle);
	for (int i = 0; i < 2; i++) {
		free(rs->q[i].jobs);
		free(rs->q[i].bytes.s);
	}
	rules_row_release(&rs->row);
	rules_engine_free(rs->engine);
	free(rs);
}

/* ---- the REST API's hooks ---- */

static int api_install(void *ctx, const struct store_rule *r, struct rules_error *err)
{
	struct rules_service *rs = ctx;
	struct rules_rule *rule;
	struct rules_actions *actions;

	if (r->id != 0)
		return rules_service_install(rs, r, err);
	/* Not stored yet: checked only. */
	if (rs_compile(rs, r, &rule, &actions, err))
		return -1;
	rules_rule_free(rule);
	rules_actions_free(actions);
	return 0;
}

static void api_uninstall(void *ctx, int64_t id)
{
	rules_service_uninstall(ctx, id);
}

static char *api_test(void *ctx, const struct store_rule *r, const char *sample_json,
		      struct rules_error *err)
{
	return rs_test(ctx, r, sample_json, err);
}

static void api_stats(void *ctx, int64_t id, struct rules_stats *out)
{
	const struct rs_rule *rr = rs_find(ctx, id);

	if (rr)
		*out = rr->rule->stats;
	else
		memset(out, 0, sizeof(*out));
}

void rules_service_api(struct rules_service *rs, struct api_rules *out)
{
	*out = (struct api_rules){
		.ctx = rs,
		.install = api_install,
		.uninstall = api_uninstall,
		.test = api_test,
		.stats = api_stats,
	};
}

void rules_service_stats(struct rules_service *rs, int64_t id, struct rules_stats *out)
{
	api_stats(rs, id, out);
}

/* ---- /metrics ---- */

/* A Prometheus label value: \, " and newline escaped. */
static void label(struct text *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			text_printf(t, "\\%c", *s);
		else if (*s == '\n')
			text_printf(t, "\\n");
		else
			text_printf(t, "%c", *s);
	}
}

static void rule_counter(struct text *t, struct rules_service *rs, const char *name,
			 const char *help, size_t field)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (struct rs_rule *rr = rs->rules; rr; rr = rr->next) {
		const char *stats = (const char *)&rr->rule->stats;
		uint64_t v;

		memcpy(&v, stats + field, sizeof(v));
		text_printf(t, "%s{rule=\"", name);
		label(t, rr->name);
		text_printf(t, "\"} %llu\n", (unsigned long long)v);
	}
}

static void actions_counter(struct text *t, struct rules_service *rs)
{
	static const char name[] = "agora_rule_actions_total";

	text_printf(t, "# HELP %s Actions carried out by a rule, by result.\n# TYPE %s counter\n",
		    name, name);
	for (struct rs_rule *rr = rs->rules; rr; rr = rr->next) {
		for (int ok = 1; ok >= 0; ok--) {
			text_printf(t, "%s{rule=\"", name);
			label(t, rr->name);
			text_printf(t, "\",result=\"%s\"} %llu\n", ok ? "ok" : "failed",
				    (unsigned long long)(ok ? rr->rule->stats.actions_ok
							    : rr->rule->stats.actions_failed));
		}
	}
}

static void queue_counters(struct text *t, struct rules_service *rs)
{
	static const struct {
		const char *name, *help;
		size_t field;
	} c[] = {
		{ "agora_rules_queue_queued_total", "Webhooks and e-mails queued.",
		  offsetof(struct notify_stats, queued) },
		{ "agora_rules_queue_ok_total", "Webhooks and e-mails delivered.",
		  offsetof(struct notify_stats, ok) },
		{ "agora_rules_queue_failed_total", "Webhooks and e-mails not delivered.",
		  offsetof(struct notify_stats, failed) },
		{ "agora_rules_queue_retried_total", "Tries after a first.",
		  offsetof(struct notify_stats, retried) },
		{ "agora_rules_queue_overflow_total", "Refused: the queue was full.",
		  offsetof(struct notify_stats, overflow) },
		{ "agora_rules_queue_rejected_total", "Refused: invalid.",
		  offsetof(struct notify_stats, rejected) },
	};
	const struct notify_stats *s = rs->notify ? notify_stats(rs->notify) : NULL;
	struct notify_stats zero = { 0 };

	if (!s)
		s = &zero;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t v;

		memcpy(&v, (const char *)s + c[i].field, sizeof(v));
		text_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", c[i].name, c[i].help,
			    c[i].name, c[i].name, (unsigned long long)v);
	}
	text_printf(t, "# HELP agora_rules_queue_waiting Webhooks and e-mails waiting.\n"
		       "# TYPE agora_rules_queue_waiting gauge\nagora_rules_queue_waiting %u\n",
		    s->waiting);
	text_printf(t, "# HELP agora_rules_queue_running Webhooks and e-mails running.\n"
		       "# TYPE agora_rules_queue_running gauge\nagora_rules_queue_running %u\n",
		    s->running);
	text_printf(t, "# HELP agora_rules_actions_dropped_total Actions dropped: the service's "
		       "queue was full.\n# TYPE agora_rules_actions_dropped_total counter\n"
		       "agora_rules_actions_dropped_total %llu\n",
		    (unsigned long long)rs->queue_overflow);
}

void rules_service_metrics(struct rules_service *rs, char **buf, size_t *len)
{
	struct text t = { .s = *buf, .len = *len, .cap = (uint32_t)*len };

	if (!rs)
		return;
	rule_counter(&t, rs, "agora_rule_matched_total", "Events a rule evaluated.",
		     offsetof(struct rules_stats, matched));
	rule_counter(&t, rs, "agora_rule_passed_total", "Evaluations that selected a row.",
		     offsetof(struct rules_stats, passed));
	rule_counter(&t, rs, "agora_rule_failed_total", "Evaluations that failed (an SQL error).",
		     offsetof(struct rules_stats, failed));
	rule_counter(&t, rs, "agora_rule_loop_stopped_total",
		     "Events not evaluated: at rules_max_depth.",
		     offsetof(struct rules_stats, loop_stopped));
	actions_counter(&t, rs);
	queue_counters(&t, rs);
	*buf = t.s;
	*len = t.len;
}
