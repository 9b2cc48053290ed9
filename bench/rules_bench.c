/*
 * rules_bench.c - evaluations per second of the rules engine's core
 * (src/rules/) on one core, for issue 16's target: a rule that matches
 * every message and republishes it sustains at least 200,000 evaluations
 * per second. `make bench-rules` builds it optimised and runs it.
 *
 * Each scenario evaluates one compiled rule against one event in a loop
 * for about a second (after a warm-up) and prints evaluations per second
 * and the cost of one; "republish" also renders the action's topic and
 * payload templates, as the server would for every passed evaluation.
 */
#include "rules/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scenario {
	const char *name, *sql, *topic, *payload;
	const char *topic_tpl, *payload_tpl; /* rendered after a pass, when set */
};

static const struct scenario SCENARIOS[] = {
    {"topic LIKE, SELECT *", "SELECT * FROM \"sensors/#\" WHERE topic LIKE 'sensors/%'",
     "sensors/kitchen/temp", "{\"t\": 21.5, \"unit\": \"C\"}", NULL, NULL},
    {"JSON condition", "SELECT payload.t AS t FROM \"sensors/#\" WHERE payload.t > 20",
     "sensors/kitchen/temp", "{\"t\": 21.5, \"unit\": \"C\"}", NULL, NULL},
    {"republish every message", "SELECT topic, payload, clientid FROM \"#\"",
     "sensors/kitchen/temp", "{\"t\": 21.5, \"unit\": \"C\"}", "copy/${topic}", "${payload}"},
    {"republish ${*}", "SELECT topic, payload.t AS t, qos FROM \"#\"", "sensors/kitchen/temp",
     "{\"t\": 21.5, \"unit\": \"C\"}", "copy/${clientid}", "${*}"},
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rules_template *template(const char *text)
{
	struct rules_template *t = NULL;
	struct rules_error err;

	if (text && rules_template_compile(text, strlen(text), &t, &err)) {
		fprintf(stderr, "template %s: %s\n", text, err.message);
		exit(1);
	}
	return t;
}

/* One batch of n evaluations (and renderings); 0 or -1 if one did not pass. */
static int batch(struct rules_rule *r, const struct rules_event *ev, struct rules_row *row,
		 struct rules_template *tt, struct rules_template *pt, struct rules_buf *b, long n)
{
	for (long i = 0; i < n; i++) {
		if (rules_eval(r, ev, row) != RULES_PASSED)
			return -1;
		b->len = 0;
		if (tt && (rules_template_render(tt, row, b) || rules_template_render(pt, row, b)))
			return -1;
	}
	return 0;
}

static int run(struct rules_engine *e, const struct scenario *s)
{
	struct rules_rule *r = NULL;
	struct rules_error err;
	struct rules_row row = {0};
	struct rules_buf b = {0};
	struct rules_template *tt = template(s->topic_tpl), *pt = template(s->payload_tpl);
	struct rules_event ev = {.topic = s->topic,
				 .topic_len = strlen(s->topic),
				 .payload = s->payload,
				 .payload_len = strlen(s->payload),
				 .clientid = "bench-1",
				 .clientid_len = 7,
				 .qos = 1,
				 .timestamp = 1700000000000,
				 .event = "message.publish",
				 .event_len = 15};
	long n = 0, step = 10000;
	double t0, t;
	int rc = 0;

	if (rules_compile(e, s->sql, strlen(s->sql), &r, &err)) {
		fprintf(stderr, "%s: %s at %d\n", s->sql, err.message, err.position);
		return -1;
	}
	if (batch(r, &ev, &row, tt, pt, &b, step)) /* warm-up */
		goto out_fail;
	t0 = now_s();
	do {
		if (batch(r, &ev, &row, tt, pt, &b, step))
			goto out_fail;
		n += step;
		t = now_s() - t0;
	} while (t < 1.0);
	printf("%-26s %10.0f evaluations/s  %6.0f ns each\n", s->name, (double)n / t,
	       t * 1e9 / (double)n);
	goto out_free;
out_fail:
	fprintf(stderr, "%s: did not pass: %s\n", s->name, row.error);
	rc = -1;
out_free:
	rules_template_free(tt);
	rules_template_free(pt);
	free(b.s);
	rules_row_release(&row);
	rules_rule_free(r);
	return rc;
}

int main(void)
{
	struct rules_engine *e = rules_engine_new();
	int rc = 0;

	if (!e)
		return 1;
	for (size_t i = 0; i < sizeof(SCENARIOS) / sizeof(SCENARIOS[0]); i++)
		rc |= run(e, &SCENARIOS[i]);
	rules_engine_free(e);
	return rc ? 1 : 0;
}
