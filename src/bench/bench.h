/*
 * bench.h - `agora bench`: an MQTT load generator on Agora's own codec.
 *
 * One process, one libuv loop, any number of client connections. Publishers
 * put [publisher index, sequence number, send time] at the start of every
 * payload; subscribers read it back to measure latency (log-bucket
 * histogram) and to count lost, duplicated and out-of-order messages per
 * publisher. Every run is bounded in messages and in time.
 */
#ifndef AGORA_BENCH_H
#define AGORA_BENCH_H

#include "hist.h"

#include <stdbool.h>
#include <stdint.h>

struct tls_config;

enum bench_scenario {
	BENCH_PUBSUB,   /* P publishers -> S subscribers over T topics */
	BENCH_FANOUT,   /* 1 -> N */
	BENCH_FANIN,    /* N -> 1 */
	BENCH_RETAINED, /* M retained topics, then a storm of S subscribers */
	BENCH_CONNS,    /* N idle connections, opened at a given rate and held */
};

/* Header every bench payload starts with. */
#define BENCH_PAYLOAD_MIN 24

struct bench_opts {
	enum bench_scenario scenario;
	char host[64];
	uint16_t port;
	uint32_t publishers;
	uint32_t subscribers;
	uint32_t topics;          /* pubsub: publisher i uses topic i % topics */
	uint8_t qos;
	uint32_t payload;         /* bytes, >= BENCH_PAYLOAD_MIN */
	uint64_t count;           /* messages in all (all publishers), 0 = until duration */
	double duration;          /* seconds, hard bound on the measured phase */
	double rate;              /* messages per second in all, 0 = use window */
	uint32_t window;          /* messages in flight end to end (window mode) */
	uint32_t connections;     /* conns */
	double connect_rate;      /* conns: new connections per second */
	double hold;              /* conns: seconds to hold them */
	uint32_t retained;        /* retained: topics */
	int broker_pid;           /* 0 = do not sample the broker's CPU and memory */
	bool json;
	bool persistent;          /* subscribers keep their session: clean session 0
	                           * (MQTT 5: clean start 0, Session Expiry Interval) */
	uint8_t protocol;         /* MQTT_LEVEL_311 or MQTT_LEVEL_5 */
	char topic_prefix[64];
	char ws_path[128];        /* "": every client over TCP; else over WebSocket, this path */
	/* Non-NULL: every client over TLS with this client config (the
	 * caller's: it must outlive bench_run). Not with ws_path. */
	struct tls_config *tls;
};

void bench_opts_defaults(struct bench_opts *o, enum bench_scenario s);
const char *bench_scenario_name(enum bench_scenario s);
int bench_scenario_parse(const char *name);

/* CPU and memory of a process, from /proc. */
struct proc_sample {
	double user_s, sys_s;
	uint64_t rss_bytes;
	bool valid;
};
struct proc_sample proc_sample_read(int pid); /* pid 0 = this process */

struct bench_result {
	double elapsed_s;            /* measured phase */
	uint64_t sent, delivered;
	uint64_t expected;           /* deliveries expected from what was sent */
	uint64_t lost, duplicates, out_of_order;
	uint64_t acks_missing;       /* QoS 1/2 publishes never acknowledged */
	struct hist latency;         /* nanoseconds */
	struct proc_sample broker_before, broker_after;
	struct proc_sample self_before, self_after;
	uint64_t connections;        /* conns: held at the end */
	double connect_s;            /* conns: time to open them all */
	uint64_t connect_failures;
	bool timed_out;              /* the time bound cut the run */
	char error[160];             /* non-empty: the run failed */
};

/* Runs one scenario. Returns 0, or -1 with result->error set. */
int bench_run(const struct bench_opts *o, struct bench_result *r);
void bench_print(const struct bench_opts *o, const struct bench_result *r);

#endif
