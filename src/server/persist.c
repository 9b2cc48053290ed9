/* persist.c - the broker's state on disk (persist.h). */
#include "persist.h"

#include "base/alloc.h"
#include "base/log.h"
#include "broker/broker.h"
#include "net/net.h"
#include "persist/plog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* Snapshot batches: large enough to amortise a write, small enough that
 * the buffer stays modest with a million retained messages. */
#define SNAPSHOT_CHUNK (1u << 20)

struct persist {
	struct broker *broker;
	struct plog *log;
	uv_loop_t *loop;
	enum persistence mode;
	uint64_t compact_size;
	uint64_t snapshot_size; /* the log's size after its last rewrite (or at start) */
	bool failing;           /* the last append failed: logged once until it works */
	/* Positions in the stream of batches appended since the start, never
	 * reset (a rewrite replaces the file, not this count): what output
	 * waits for (persist_durable) stays comparable across rewrites. */
	uint64_t appended;      /* body bytes appended */
	/* persistence full: one fdatasync at a time on the thread pool,
	 * covering every batch appended before it began. */
	uint64_t synced;        /* position known to be on the disk */
	uint64_t sync_upto;     /* what the sync in flight covers */
	uv_work_t sync_req;
	bool syncing;
	bool sync_failing;      /* the last sync failed: retried from the tick */
	int sync_rc;
	char sync_err[256];     /* the worker's: apart from err */
	char err[512];
};

static uint64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int replay_batch(void *ctx, const uint8_t *body, size_t len)
{
	return broker_restore(ctx, body, len);
}

static void report_restore(const struct persist *p, const struct plog_replay_stats *rs,
			   const struct broker_restore_stats *st, uint64_t ms)
{
	const char *path = plog_path(p->log);

	if (rs->damaged)
		log_error("%s: damaged record batch found; the state before it is restored, the "
			  "%llu bytes from it on were saved to %s.damaged",
			  path, (unsigned long long)rs->dropped, path);
	else if (rs->dropped)
		log_warn("%s: the last %llu bytes were an incomplete write (the process ended "
			 "during it; nothing in it was acknowledged): dropped",
			 path, (unsigned long long)rs->dropped);
	if (st->discarded)
		log_warn("%s: %u queued messages expired while the broker was down: dropped", path,
			 st->discarded);
	log_info("persistence %s: %s: restored %u sessions, %u retained messages, %u queued "
		 "messages in %llu ms",
		 p->mode == PERSIST_FULL ? "full" : "normal", path, st->sessions, st->retained,
		 st->messages, (unsigned long long)ms);
}

int persist_open(struct persist **out, struct broker *b, struct net *n,
		 const struct agora_config *cfg)
{
	char path[sizeof(cfg->data_dir) + 16];
	struct plog_replay_stats rs = { 0 };
	struct broker_restore_stats st;
	struct persist *p;
	/* Not net_now: the loop's cached time does not move before it runs. */
	uint64_t t0 = uv_hrtime();

	*out = NULL;
	snprintf(path, sizeof(path), "%s/broker.log", cfg->data_dir);
	if (cfg->persistence == PERSIST_OFF) {
		FILE *f = fopen(path, "r");

		if (f) {
			fclose(f);
			log_warn("persistence off: %s is ignored (and left as it is)", path);
		}
		return 0;
	}
	p = xcalloc(1, sizeof(*p));
	p->broker = b;
	p->loop = net_loop(n);
	p->mode = cfg->persistence;
	p->compact_size = cfg->persistence_compact_size;
	broker_set_wall_clock(b, wall_now_ms());
	/* full syncs batches in groups, off the loop (persist_durable) */
	if (plog_open(path, PLOG_SYNC_NONE, replay_batch, b, &p->log, &rs, p->err,
		      sizeof(p->err))) {
		log_error("%s", p->err);
		free(p);
		return -1;
	}
	broker_restore_done(b, &st);
	report_restore(p, &rs, &st, (uv_hrtime() - t0) / 1000000);
	p->snapshot_size = plog_size(p->log);
	broker_journal_on(b);
	*out = p;
	return 0;
}

int persist_flush(struct persist *p)
{
	size_t len;
	const uint8_t *rec = broker_journal(p->broker, &len);

	if (!rec)
		return 0;
	if (plog_append(p->log, rec, len, p->err, sizeof(p->err))) {
		if (!p->failing)
			log_error("%s: acknowledgements wait until the log can be written", p->err);
		p->failing = true;
		return -1;
	}
	if (p->failing)
		log_info("%s: written again", plog_path(p->log));
	p->failing = false;
	broker_journal_clear(p->broker);
	p->appended += len;
	if (p->mode == PERSIST_NORMAL)
		p->synced = p->appended; /* written is durable enough */
	return 0;
}

uint64_t persist_written(const struct persist *p)
{
	return p->appended;
}

/* ---- persistence full: the syncs ---- */

static void sync_work(uv_work_t *req)
{
	struct persist *p = req->data;

	p->sync_rc = plog_sync(p->log, p->sync_err, sizeof(p->sync_err));
}

static void start_sync(struct persist *p);

static void sync_done(uv_work_t *req, int status)
{
	struct persist *p = req->data;

	p->syncing = false;
	if (status || p->sync_rc) {
		if (!p->sync_failing)
			log_error("%s: acknowledgements wait until it succeeds",
				  status ? uv_strerror(status) : p->sync_err);
		p->sync_failing = true; /* retried from the tick, not at once */
		return;
	}
	if (p->sync_failing)
		log_info("%s: synced again", plog_path(p->log));
	p->sync_failing = false;
	if (p->sync_upto > p->synced) /* a rewrite meanwhile may have gone further */
		p->synced = p->sync_upto;
	/* Batches written during that sync: the next one starts now (what
	 * waits on them is asked again at the end of this loop turn). */
	if (p->appended > p->synced)
		start_sync(p);
}

static void start_sync(struct persist *p)
{
	if (p->syncing)
		return;
	p->syncing = true;
	p->sync_upto = p->appended;
	p->sync_req.data = p;
	if (uv_queue_work(p->loop, &p->sync_req, sync_work, sync_done)) {
		p->syncing = false;
		p->sync_failing = true;
	}
}

bool persist_durable(struct persist *p, uint64_t upto)
{
	if (p->synced >= upto)
		return true;
	if (!p->sync_failing)
		start_sync(p);
	return false;
}

/* ---- the rewrite ---- */

/* Where a snapshot's batches go. */
struct rewrite_to {
	struct persist *p;
	struct plog_rewrite *w;
};

static int add_snapshot_batch(void *ctx, const uint8_t *records, size_t len)
{
	struct rewrite_to *to = ctx;

	return plog_rewrite_add(to->w, records, len, to->p->err, sizeof(to->p->err));
}

/* The rewrite failed: the old log goes on, and the messages the snapshot
 * numbered anew must be written to it again (broker_journal_resync). */
static void rewrite_failed(struct persist *p)
{
	log_error("%s: the log is kept as it is", p->err);
	broker_journal_resync(p->broker);
}

/* Replaces the log by a snapshot of the state. The records of this turn
 * go to the old log first: if the rewrite fails, it is still complete. */
static void rewrite(struct persist *p)
{
	uint64_t before = plog_size(p->log), t0 = uv_hrtime();
	struct rewrite_to to = { .p = p };

	if (persist_flush(p) || p->syncing)
		return; /* the sync in flight holds the file the rewrite replaces */
	if (plog_rewrite_begin(p->log, &to.w, p->err, sizeof(p->err))) {
		log_error("%s", p->err);
		return;
	}
	if (broker_snapshot(p->broker, SNAPSHOT_CHUNK, add_snapshot_batch, &to)) {
		plog_rewrite_abort(to.w);
		rewrite_failed(p);
		return;
	}
	/* The commit frees the rewrite whatever it returns (plog.h). */
	if (plog_rewrite_commit(to.w, p->err, sizeof(p->err))) {
		rewrite_failed(p);
		return;
	}
	p->snapshot_size = plog_size(p->log);
	p->synced = p->appended; /* the commit synced the new file: all of it */
	log_info("%s rewritten: %llu -> %llu bytes in %llu ms", plog_path(p->log),
		 (unsigned long long)before, (unsigned long long)p->snapshot_size,
		 (unsigned long long)((uv_hrtime() - t0) / 1000000));
}

static bool too_long(const struct persist *p)
{
	uint64_t size = plog_size(p->log);

	return size > p->compact_size && size > 2 * p->snapshot_size;
}

void persist_turn(struct persist *p)
{
	if (persist_flush(p))
		return;
	persist_durable(p, p->appended); /* full: its sync under way */
	if (too_long(p))
		rewrite(p);
}

void persist_tick(struct persist *p)
{
	if (!p)
		return;
	broker_set_wall_clock(p->broker, wall_now_ms());
	if (p->failing)
		persist_flush(p);
	if (p->sync_failing && !p->syncing)
		start_sync(p); /* a retry: logged again only once it works */
}

void persist_close(struct persist *p)
{
	if (!p)
		return;
	/* The loop has ended: no sync is in flight. */
	if (plog_size(p->log) > p->compact_size)
		rewrite(p); /* the next start reads the state, not its history */
	else if (persist_flush(p) ||
		 (p->mode == PERSIST_FULL && plog_sync(p->log, p->err, sizeof(p->err))))
		log_error("%s: the last changes could not be written", plog_path(p->log));
	plog_close(p->log);
	free(p);
}
