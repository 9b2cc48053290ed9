/*
 * rules_service.h - the rules at work (issue 16, docs/rules.md): the
 * engine of src/rules/ fed with the broker's messages (through taps) and
 * Agora's events, and the actions it selects carried out: republish,
 * direct message, record, webhook and e-mail (src/notify/).
 *
 * Rules come from the store (the server installs them at start) and from
 * the REST API (its struct api_rules hooks are rules_service_api's). An
 * evaluation runs where its event happens (a tap call, an event call);
 * the actions it selects are rendered and checked then (a failure is
 * counted at once), queued, and carried out on the loop's next turn, in
 * its idle phase (a tap must not publish: broker.h), a republish or a
 * message at depth + 1 so that a rule triggering itself stops at
 * rules_max_depth. What an action causes is carried out on the turn after:
 * one link of a chain per turn, the loop never held by a chain.
 *
 * Ownership: the caller owns the service and frees it before the broker,
 * the notify queue and whatever deps reach. The service owns one uv_idle_t
 * on n's loop: rules_service_free closes it (freed in its close callback),
 * or, when the caller closed it already with the loop's other handles
 * (server_free's uv_walk) and ran the loop since, frees it at once.
 * Single-threaded (the loop's).
 */
#ifndef AGORA_RULES_SERVICE_H
#define AGORA_RULES_SERVICE_H

#include "rules/rules.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct notify;
struct store_rule;
struct api_rules;
struct net;

/* What the service reaches besides the broker and the queue: the API's
 * ways of writing, so that a message or a record is the same as one the
 * API makes (stored, published over MQTT, counted). Each returns 0, or -1
 * with a short reason in why. */
struct rules_deps {
	void *ctx;
	/* A direct message from the account `from` to `to` (stored, then
	 * published to to's inbox topic at depth). */
	int (*send_message)(void *ctx, const char *from, const char *to, const char *content,
			    unsigned depth, char *why, size_t why_cap);
	/* A record action's row (data: a JSON object's text). */
	int (*record)(void *ctx, const char *collection, int64_t rule_id, const char *data,
		      char *why, size_t why_cap);
};

struct rules_service_config {
	unsigned max_depth;  /* rules_max_depth */
	uint32_t max_ms;     /* an evaluation's time limit (0: the engine's default) */
};

struct rules_service;

/* NULL when the engine cannot start (logged). notify may be NULL: webhook
 * and e-mail actions then fail (counted, last_error says why); else the
 * service is its completion callback (notify_on_done). Sets the broker's
 * tap function (broker_set_tap_fn) and client event function
 * (broker_set_event_fn): the broker has no other. n gives the loop of its
 * idle handle (NULL: none, the caller calls rules_service_run). deps
 * (copied) may be NULL or lack a function: those actions then fail,
 * counted. cfg NULL: the defaults (depth 4). */
struct rules_service *rules_service_new(struct broker *b, struct net *n, struct notify *notify,
					const struct rules_deps *deps,
					const struct rules_service_config *cfg);
void rules_service_free(struct rules_service *rs);
/* Changes the outbound queue (NULL: none, webhooks and e-mails then fail,
 * counted): a server stopping frees its queue before the service (notify.h
 * says when), and detaches it here first. Jobs already queued there end
 * without being counted. */
void rules_service_set_notify(struct rules_service *rs, struct notify *notify);

/* The REST API's hooks (api.h, struct api_rules), bound to rs. */
void rules_service_api(struct rules_service *rs, struct api_rules *out);

/* Installs (or replaces, by id) a stored rule; a disabled one is kept for
 * its counters but evaluates nothing. 0, or -1 with err. A failing
 * replacement leaves the rule it would replace as it was. */
int rules_service_install(struct rules_service *rs, const struct store_rule *r,
			  struct rules_error *err);
void rules_service_uninstall(struct rules_service *rs, int64_t id);

/* One of Agora's events (not MQTT messages: those come through taps):
 * payload is the event's JSON text (docs/rules.md, "Events"), username
 * the acting account (NULL: anonymous or the server), clientid the MQTT
 * client's for the connection events (else NULL), depth 0 unless an
 * action caused it. rs NULL (no rules in this server): nothing. */
void rules_service_event(struct rules_service *rs, enum rules_event_kind kind,
			 const char *payload, const char *username, const char *clientid,
			 unsigned depth);

/* A rule's counters now (zero for an id not installed). */
void rules_service_stats(struct rules_service *rs, int64_t id, struct rules_stats *out);

/* Carries out the actions queued so far (what they cause waits for the
 * next call). The service's idle handle calls it on the loop's next turn;
 * a service made without a net (n NULL: tests, tools) is run by its
 * caller. */
void rules_service_run(struct rules_service *rs);
/* Whether actions wait to be carried out. */
bool rules_service_pending(const struct rules_service *rs);

/* Whether an enabled rule has this event among its sources (a caller may
 * skip building the event's JSON when none has). rs NULL: false. */
bool rules_service_listens(const struct rules_service *rs, enum rules_event_kind kind);

/* Appends the per-rule counters as Prometheus text to *buf (realloc'ed,
 * *len updated): agora_rule_matched_total{rule="name"} and the others of
 * docs/rules.md. */
void rules_service_metrics(struct rules_service *rs, char **buf, size_t *len);

#endif
