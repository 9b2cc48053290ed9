/* report.c - bench options, /proc sampling and the human or JSON report. */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const names[] = {
	[BENCH_PUBSUB] = "pubsub", [BENCH_FANOUT] = "fanout", [BENCH_FANIN] = "fanin",
	[BENCH_RETAINED] = "retained", [BENCH_CONNS] = "conns",
};

const char *bench_scenario_name(enum bench_scenario s)
{
	return names[s];
}

int bench_scenario_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void bench_opts_defaults(struct bench_opts *o, enum bench_scenario s)
{
	memset(o, 0, sizeof(*o));
	o->scenario = s;
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->port = 1883;
	o->publishers = 1;
	o->subscribers = 1;
	o->topics = 1;
	o->payload = 64;
	o->count = 100000;
	o->duration = 10;
	o->window = 1000;
	o->connections = 1000;
	o->connect_rate = 0;
	o->hold = 1;
	o->retained = 1000;
	o->protocol = 4; /* MQTT 3.1.1 */
	snprintf(o->topic_prefix, sizeof(o->topic_prefix), "bench");
	if (s == BENCH_FANOUT)
		o->subscribers = 100;
	if (s == BENCH_FANIN) {
		o->publishers = 100;
		o->window = 1000;
	}
	if (s == BENCH_RETAINED)
		o->subscribers = 100;
}

struct proc_sample proc_sample_read(int pid)
{
	struct proc_sample s = { 0 };
	char path[64], buf[1024];
	FILE *f;
	long tick = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);

	if (pid == 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		s.user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		s.sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		pid = getpid();
	} else {
		unsigned long ut = 0, st = 0;
		char *close_paren;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			return s;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			return s;
		}
		fclose(f);
		/* Fields after the command name, which may hold spaces: state is
		 * field 3, utime 14, stime 15. */
		close_paren = strrchr(buf, ')');
		if (!close_paren ||
		    sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &st) != 2)
			return s;
		s.user_s = (double)ut / (double)tick;
		s.sys_s = (double)st / (double)tick;
	}
	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "r");
	if (f) {
		unsigned long size = 0, rss = 0;
		if (fscanf(f, "%lu %lu", &size, &rss) == 2)
			s.rss_bytes = (uint64_t)rss * (uint64_t)page;
		fclose(f);
	}
	s.valid = true;
	return s;
}

static double cpu_share(const struct proc_sample *a, const struct proc_sample *b, double secs,
			double *user, double *sys)
{
	*user = b->user_s - a->user_s;
	*sys = b->sys_s - a->sys_s;
	return secs > 0 ? (*user + *sys) / secs * 100.0 : 0.0;
}

/* The error text as a JSON string body: quotes, backslashes and control
 * characters escaped. */
static void print_json_string(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_json(const struct bench_opts *o, const struct bench_result *r)
{
	double bu, bs, su, ss;
	double bcpu = cpu_share(&r->broker_before, &r->broker_after, r->elapsed_s, &bu, &bs);
	double scpu = cpu_share(&r->self_before, &r->self_after, r->elapsed_s, &su, &ss);
	const struct hist *h = &r->latency;

	printf("{\"scenario\":\"%s\",\"mqtt\":\"%s\",\"qos\":%u,\"publishers\":%u,\"subscribers\":%u,"
	       "\"topics\":%u,\"payload\":%u,\"rate\":%.0f,\"window\":%u,\"persistent\":%s,",
	       bench_scenario_name(o->scenario), o->protocol == 5 ? "5.0" : "3.1.1", o->qos,
	       o->publishers, o->subscribers, o->topics, o->payload, o->rate, o->window,
	       o->persistent ? "true" : "false");
	printf("\"elapsed_s\":%.6f,\"sent\":%llu,\"expected\":%llu,\"delivered\":%llu,"
	       "\"sent_per_s\":%.1f,\"delivered_per_s\":%.1f,",
	       r->elapsed_s, (unsigned long long)r->sent, (unsigned long long)r->expected,
	       (unsigned long long)r->delivered, r->elapsed_s > 0 ? (double)r->sent / r->elapsed_s : 0,
	       r->elapsed_s > 0 ? (double)r->delivered / r->elapsed_s : 0);
	printf("\"lost\":%llu,\"duplicates\":%llu,\"out_of_order\":%llu,\"acks_missing\":%llu,"
	       "\"timed_out\":%s,",
	       (unsigned long long)r->lost, (unsigned long long)r->duplicates,
	       (unsigned long long)r->out_of_order, (unsigned long long)r->acks_missing,
	       r->timed_out ? "true" : "false");
	printf("\"latency_us\":{\"count\":%llu,\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
	       "\"p999\":%.1f,\"max\":%.1f},",
	       (unsigned long long)h->total, hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
	       us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
	       us(hist_percentile(h, 99.9)), us(h->total ? h->max : 0));
	printf("\"broker\":{\"sampled\":%s,\"cpu_pct\":%.1f,\"user_s\":%.3f,\"sys_s\":%.3f,"
	       "\"rss_before\":%llu,\"rss_after\":%llu},",
	       r->broker_after.valid ? "true" : "false", bcpu, bu, bs,
	       (unsigned long long)r->broker_before.rss_bytes,
	       (unsigned long long)r->broker_after.rss_bytes);
	printf("\"bench\":{\"cpu_pct\":%.1f,\"user_s\":%.3f,\"sys_s\":%.3f},", scpu, su, ss);
	printf("\"connections\":%llu,\"connect_s\":%.6f,\"connect_failures\":%llu,"
	       "\"error\":\"",
	       (unsigned long long)r->connections, r->connect_s,
	       (unsigned long long)r->connect_failures);
	print_json_string(r->error);
	printf("\"}\n");
}

static void print_human(const struct bench_opts *o, const struct bench_result *r)
{
	double bu, bs, su, ss;
	double bcpu = cpu_share(&r->broker_before, &r->broker_after, r->elapsed_s, &bu, &bs);
	double scpu = cpu_share(&r->self_before, &r->self_after, r->elapsed_s, &su, &ss);
	const struct hist *h = &r->latency;

	printf("scenario        %s (MQTT %s, QoS %u, %u publisher(s), %u subscriber(s), %u topic(s), "
	       "%u-byte payload, %s)\n",
	       bench_scenario_name(o->scenario), o->protocol == 5 ? "5.0" : "3.1.1", o->qos,
	       o->publishers, o->subscribers, o->topics, o->payload,
	       o->rate > 0 ? "fixed rate" : "window");
	if (o->scenario == BENCH_CONNS) {
		printf("connections     %llu held, %llu failed\n", (unsigned long long)r->connections,
		       (unsigned long long)r->connect_failures);
		printf("connect time    %.3f s (%.0f connections/s)\n", r->connect_s,
		       r->connect_s > 0 ? (double)r->connections / r->connect_s : 0);
		if (r->broker_after.valid && r->connections)
			printf("broker memory   %.0f bytes per connection (RSS %.1f -> %.1f MiB)\n",
			       ((double)r->broker_after.rss_bytes - (double)r->broker_before.rss_bytes) /
				       (double)r->connections,
			       (double)r->broker_before.rss_bytes / 1048576.0,
			       (double)r->broker_after.rss_bytes / 1048576.0);
	} else {
		printf("elapsed         %.3f s%s\n", r->elapsed_s,
		       r->timed_out ? " (cut by --duration)" : "");
		printf("sent            %llu (%.0f msg/s)\n", (unsigned long long)r->sent,
		       r->elapsed_s > 0 ? (double)r->sent / r->elapsed_s : 0);
		printf("delivered       %llu of %llu expected (%.0f msg/s)\n",
		       (unsigned long long)r->delivered, (unsigned long long)r->expected,
		       r->elapsed_s > 0 ? (double)r->delivered / r->elapsed_s : 0);
		printf("lost / dup / out of order   %llu / %llu / %llu\n", (unsigned long long)r->lost,
		       (unsigned long long)r->duplicates, (unsigned long long)r->out_of_order);
		printf("latency (us)    p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		       us(hist_percentile(h, 50)), us(hist_percentile(h, 90)),
		       us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)),
		       us(h->total ? h->max : 0));
	}
	if (r->broker_after.valid)
		printf("broker CPU      %.1f %% of a core (user %.2f s, sys %.2f s), RSS %.1f MiB\n",
		       bcpu, bu, bs, (double)r->broker_after.rss_bytes / 1048576.0);
	printf("bench CPU       %.1f %% of a core (user %.2f s, sys %.2f s)\n", scpu, su, ss);
	if (r->error[0])
		printf("error           %s\n", r->error);
}

void bench_print(const struct bench_opts *o, const struct bench_result *r)
{
	if (o->json)
		print_json(o, r);
	else
		print_human(o, r);
}
