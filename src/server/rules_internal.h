/*
 * rules_internal.h - what the files of the rules service share
 * (rules_service.c: rules, taps, events, evaluation and the queue;
 * rules_actions.c: an action rendered and carried out; rules_test.c: the
 * dry run). Not a contract: rules_service.h is.
 */
#ifndef AGORA_RULES_INTERNAL_H
#define AGORA_RULES_INTERNAL_H

#include "rules_service.h"

#include <uv.h>

/* Jobs waiting in one queue, and the bytes of their rendered fields. */
#define RS_QUEUE_JOBS_MAX  10000
#define RS_QUEUE_BYTES_MAX (64u * 1024 * 1024)
/* Log a rule's loop stops, and its failed actions, at most this often. */
#define RS_LOG_EVERY_MS 60000

struct broker_tap;

/* An installed rule. Its struct stays while the id is installed: a
 * replacement swaps what is inside, so queued jobs keep pointing at it. */
struct rs_rule {
	int64_t id;
	char *name, *owner;
	bool enabled;
	struct rules_rule *rule;
	struct rules_actions *actions;
	struct broker_tap **taps; /* one per topic filter; none while disabled */
	uint32_t ntaps;
	uint64_t last_serial;	  /* the last routed message evaluated: once per message */
	int64_t loop_logged_at;	  /* wall ms of the last loop-stop log line */
	int64_t fail_logged_at;	  /* and of the last failed action's */
	uint64_t fails_unlogged;
	struct rs_rule *next;
};

/* The fields an action renders, by type (offsets into its queue's bytes):
 *   republish  topic, payload, properties (MQTT 5 property bytes)
 *   message    to, content
 *   record     data (${*})
 *   webhook    url, body, headers ("name\0value\0" each)
 *   email      to, subject, body */
#define RS_FIELDS 3

struct rs_job {
	struct rs_rule *rule;	 /* NULL: uninstalled since, the job is dropped */
	uint32_t action;	 /* its index in rule->actions when rendered */
	enum rules_action_type type;
	uint8_t depth;		 /* of what it produces: its event's + 1 */
	uint8_t qos;
	bool retain, put;
	uint32_t timeout_ms;
	uint32_t off[RS_FIELDS], len[RS_FIELDS];
};

struct rs_queue {
	struct rs_job *jobs;
	uint32_t n, cap;
	struct rules_buf bytes;
};

struct rules_service {
	struct broker *broker;
	struct notify *notify;
	struct rules_deps deps;
	struct rules_engine *engine;
	struct rs_rule *rules;
	uint32_t event_rules[RULES_EVENT_COUNT]; /* enabled rules per event source */
	struct rules_row row;			 /* every evaluation's, reused */
	/* Jobs fill one queue while the other is carried out (an action's
	 * event queues more: they wait for the next turn). */
	struct rs_queue q[2];
	int filling;
	uv_idle_t *idle; /* armed while jobs wait: the loop turns without blocking */
	uint64_t queue_overflow;
};

/* rules_actions.c */

/* Renders action a of rr against row into q's bytes and fills job (type,
 * fields, depth): 0, or -1 with why (the check that failed; nothing kept
 * in q). */
int rs_render(struct rules_service *rs, const struct rs_rule *rr, uint32_t a,
	      const struct rules_row *row, unsigned depth, struct rs_queue *q, struct rs_job *job,
	      char *why, size_t why_cap);
/* Carries out a job rendered into q (its rule still installed). */
void rs_run(struct rules_service *rs, struct rs_queue *q, const struct rs_job *job);
/* notify's completion callback: counts the job against its rule by tag. */
void rs_notify_done(void *arg, const char *tag, bool ok, const char *reason);
/* A field of a job, NUL-terminated in q's bytes. */
static inline const char *rs_field(const struct rs_queue *q, const struct rs_job *job, int i)
{
	return q->bytes.s + job->off[i];
}

/* rules_service.c */
/* Compiles a stored rule's sql and actions: 0, or -1 with err. */
int rs_compile(struct rules_service *rs, const struct store_rule *r, struct rules_rule **rule,
	       struct rules_actions **actions, struct rules_error *err);
struct rs_rule *rs_find(struct rules_service *rs, int64_t id);
/* Counts an action's end against rr and keeps why as its last error. */
void rs_count(struct rs_rule *rr, bool ok, const char *why);

/* rules_test.c */
char *rs_test(struct rules_service *rs, const struct store_rule *r, const char *sample_json,
	      struct rules_error *err);

#endif
