/*
 * rules_service_bench.c - the rules at work through the broker core
 * (server/rules_service.h), beside the broker's own cost per delivery,
 * for issue 16's targets: 100 rules on unrelated topics cost little, and
 * a rule that matches every message and republishes it sustains 200,000
 * evaluations per second on one core. `make bench-rules` runs it after
 * the engine's own benchmark.
 *
 * One QoS 0 subscriber (a broker client with no socket: its output is
 * dropped after each batch) gets every message the server publishes on
 * sensors/k/temp. Scenarios: no rule; 100 rules on other topics; one rule
 * on sensors/# republishing each message to copy/... (nobody subscribed),
 * its actions carried out every 64 messages as loop turns would. The
 * difference per message is the rules' cost.
 */
#include "broker/broker.h"
#include "server/rules_service.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TURN 64 /* messages per loop turn */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 3.1.1 client "s" subscribed to sensors/# at QoS 0. */
static struct broker_client *subscriber(struct broker *b)
{
	static const uint8_t connect[] = { 0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 1,
					   's' };
	static const uint8_t subscribe[] = { 0x82, 0x0e, 0, 1, 0, 9, 's', 'e', 'n', 's',
					     'o',  'r',  's', '/', '#', 0 };
	struct broker_client *c = broker_client_new(b, NULL, "bench:1", true);

	broker_client_input(b, c, connect, sizeof(connect));
	broker_client_input(b, c, subscribe, sizeof(subscribe));
	return c;
}

static void drain(struct broker *b, struct broker_client *c)
{
	while (broker_pop_dirty(b))
		;
	outbuf_reset(&c->out);
}

/* ns per message published, over about a second. */
static double measure(struct broker *b, struct broker_client *c, struct rules_service *rs)
{
	static const char payload[] = "{\"t\": 21.5, \"unit\": \"C\"}";
	long n = 0;
	double t0 = now_s(), t;

	do {
		for (int i = 0; i < TURN; i++)
			broker_publish(b, "sensors/k/temp", payload, sizeof(payload) - 1, 0, false);
		if (rs)
			rules_service_run(rs);
		drain(b, c);
		n += TURN;
		t = now_s() - t0;
	} while (t < 1.0);
	return t * 1e9 / (double)n;
}

static void install(struct rules_service *rs, int64_t id, const char *sql)
{
	struct store_rule r = {
		.id = id,
		.name = (char *)"bench",
		.owner_name = (char *)"bench",
		.sql = (char *)sql,
		.actions = (char *)"[{\"type\":\"republish\",\"topic\":\"copy/${topic}\","
				   "\"payload\":\"${payload}\"}]",
		.enabled = true,
	};
	struct rules_error err;

	if (rules_service_install(rs, &r, &err)) {
		fprintf(stderr, "%s: %s\n", sql, err.message);
		exit(1);
	}
}

int main(void)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c;
	struct rules_service *rs;
	struct rules_stats st;
	double base, unrelated, matching;
	char sql[64];

	broker_config_defaults(&cfg);
	b = broker_new(&cfg);
	c = subscriber(b);
	measure(b, c, NULL); /* warm-up */
	base = measure(b, c, NULL);
	rs = rules_service_new(b, NULL, NULL, NULL, NULL);
	if (!rs)
		return 1;
	for (int i = 1; i <= 100; i++) {
		snprintf(sql, sizeof(sql), "SELECT * FROM \"other/%d/#\"", i);
		install(rs, i, sql);
	}
	unrelated = measure(b, c, rs);
	for (int i = 1; i <= 100; i++)
		rules_service_uninstall(rs, i);
	install(rs, 1000, "SELECT topic, payload FROM \"sensors/#\"");
	matching = measure(b, c, rs);
	rules_service_stats(rs, 1000, &st);
	printf("%-40s %6.0f ns per message\n", "delivery to 1 subscriber, no rule", base);
	printf("%-40s %6.0f ns per message (%+.1f%%)\n", "100 rules on other topics", unrelated,
	       (unrelated - base) / base * 100);
	printf("%-40s %6.0f ns per message: %.0f ns per evaluation with its republish, "
	       "%.0f evaluations/s\n",
	       "1 rule republishing every message", matching, matching - base,
	       1e9 / (matching - base));
	if (broker_get_stats(b)->msgs_sent == 0) {
		fprintf(stderr, "the subscriber got nothing: not a delivery benchmark\n");
		return 1;
	}
	rules_service_free(rs);
	broker_client_free(b, c);
	broker_free(b);
	return st.actions_ok && st.actions_failed == 0 ? 0 : 1;
}
