/* persist.c - the broker's state on disk (persist.h). */
#include "persist.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/text.h"
#include "broker/broker.h"
#include "net/net.h"
#include "persist/plog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

/* Snapshot batches: large enough to amortise a write, small enough that
 * the buffer stays modest with a million retained messages. */
#define SNAPSHOT_CHUNK (1u << 20)
/* What a rewrite's child reports through its pipe: an error text. */
#define CHILD_MSG_MAX 512
/* The rewrite's last copy is on the loop: the worker copies in rounds
 * until at most this much is left (or after this many rounds). */
#define COPY_ON_LOOP_MAX (1u << 20)
#define COPY_ROUNDS_MAX 4

struct persist {
	struct broker *broker;
	struct plog *log;
	uv_loop_t *loop;
	enum persistence mode;
	uint64_t compact_size;
	uint32_t rewrite_timeout_ms; /* persistence_rewrite_timeout */
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
	/* The rewrite in the background (rewrite_start). */
	enum { RW_IDLE, RW_CHILD, RW_COPYING, RW_COMMIT } rw_state;
	struct plog_rewrite *rw;
	pid_t child;            /* writing the snapshot (RW_CHILD) */
	bool child_killed;      /* by the tick, for running too long */
	uv_pipe_t child_pipe;   /* its report */
	char child_msg[CHILD_MSG_MAX];
	size_t child_msg_len;
	uint64_t rw_from;       /* the log's size at the fork: what follows the snapshot */
	uint64_t copy_from, copy_to; /* the worker's round: that part of the log */
	int copy_rounds;
	uint64_t rw_t0;
	uv_work_t copy_req;
	int copy_rc;
	char copy_err[256];
	bool stopping;
	char err[512];
};

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
	p->rewrite_timeout_ms = cfg->persistence_rewrite_timeout_ms;
	broker_set_wall_clock(b, (uint64_t)wall_clock_ms());
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
	/* A rewrite about to commit: its fsync covers every batch, and the
	 * commit must not close the descriptor of a sync under way. */
	if (p->syncing || p->rw_state == RW_COMMIT)
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
	struct plog_rewrite *w;
	char *err;
	size_t errlen;
};

static int add_snapshot_batch(void *ctx, const uint8_t *records, size_t len)
{
	struct rewrite_to *to = ctx;

	return plog_rewrite_add(to->w, records, len, to->err, to->errlen);
}

/* Replaces the log by a snapshot of the state, on the caller's thread:
 * at a clean stop, when nothing waits. The records of this turn go to the
 * old log first: if the rewrite fails, it is still complete (and the
 * messages the snapshot numbered anew are written to it again). */
static void rewrite_now(struct persist *p)
{
	uint64_t before = plog_size(p->log), t0 = uv_hrtime();
	struct rewrite_to to = { .err = p->err, .errlen = sizeof(p->err) };

	if (persist_flush(p))
		return;
	if (plog_rewrite_begin(p->log, &to.w, p->err, sizeof(p->err))) {
		log_error("%s", p->err);
		return;
	}
	if (broker_snapshot(p->broker, SNAPSHOT_CHUNK, add_snapshot_batch, &to)) {
		plog_rewrite_abort(to.w);
		log_error("%s: the log is kept as it is", p->err);
		broker_journal_resync(p->broker);
		return;
	}
	/* The commit frees the rewrite whatever it returns (plog.h). */
	if (plog_rewrite_commit(to.w, p->err, sizeof(p->err))) {
		log_error("%s: the log is kept as it is", p->err);
		broker_journal_resync(p->broker);
		return;
	}
	p->snapshot_size = plog_size(p->log);
	p->synced = p->appended; /* the commit synced the new file: all of it */
	log_info("%s rewritten: %llu -> %llu bytes in %llu ms", plog_path(p->log),
		 (unsigned long long)before, (unsigned long long)p->snapshot_size,
		 (unsigned long long)((uv_hrtime() - t0) / 1000000));
}

/*
 * The rewrite in the background, as Redis rewrites its append-only file:
 * a forked child writes the snapshot from its copy of the memory (the
 * parent's pages are shared until either writes them) and fsyncs it; the
 * loop goes on meanwhile, appending to the old log. When the child has
 * exited with success, a worker thread copies the batches appended since
 * the fork to the new file and fsyncs them, in rounds while the log grows
 * faster than it copies; then, on the loop, the few batches appended
 * during the last round follow and the new file replaces the log. The
 * loop's part is that last copy (at most about COPY_ON_LOOP_MAX), its
 * fsync and the rename.
 *
 * The child's numbering of messages (broker_snapshot gives each one a new
 * journal id) is its own; broker_journal_fork makes the parent's records
 * from the fork on independent of it. A rewrite that fails at any step
 * leaves the old log, complete, in use.
 */

static void rewrite_end(struct persist *p)
{
	plog_rewrite_abort(p->rw); /* NULL after a commit: nothing */
	p->rw = NULL;
	p->rw_state = RW_IDLE;
}

/* The old log goes on; the next try waits until it has doubled again
 * (a full disk would otherwise fork at every turn). */
static void rewrite_failed(struct persist *p, const char *why)
{
	rewrite_end(p); /* broker.log.new removed before the line says so */
	p->snapshot_size = plog_size(p->log);
	log_error("%s: rewrite failed: %s: the log is kept as it is", plog_path(p->log), why);
}

/* The child: the snapshot into the new file, fsynced; exits 0, or 1
 * after writing why to report. Only its two descriptors stay open. */
static void child_main(struct persist *p, pid_t parent, int report)
{
	struct rewrite_to to = { .w = p->rw, .err = p->err, .errlen = sizeof(p->err) };
	int keep[2] = { plog_rewrite_fd(p->rw), report };
	int lo = keep[0] < keep[1] ? keep[0] : keep[1], hi = keep[0] ^ keep[1] ^ lo;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* the parent killed: no orphan goes on */
	if (getppid() != parent)
		_exit(1); /* it died before that */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* The sockets: a connection the parent closes must really close. */
	close_range(3, (unsigned)lo - 1, 0);
	close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
	/* For tests: the child stops itself before writing, so a test can
	 * act for as long as it needs while a rewrite is under way, then let
	 * it go on (SIGCONT) or end it (SIGKILL). */
	if (getenv("AGORA_TEST_REWRITE_STOP"))
		raise(SIGSTOP);
	rc = broker_snapshot(p->broker, SNAPSHOT_CHUNK, add_snapshot_batch, &to);
	if (!rc)
		rc = plog_rewrite_sync(p->rw, p->err, sizeof(p->err));
	if (rc && write(report, p->err, strnlen(p->err, CHILD_MSG_MAX))) {
		/* nothing more to do about a failed report: the status says it */
	}
	_exit(rc ? 1 : 0);
}

/* The worker's copy: [copy_from, copy_to) of the log after what the new
 * file holds (the child's snapshot, adopted on the first round), synced. */
static void copy_work(uv_work_t *req)
{
	struct persist *p = req->data;

	p->copy_rc = 0;
	if (p->copy_from == p->rw_from)
		p->copy_rc = plog_rewrite_adopt(p->rw, p->copy_err, sizeof(p->copy_err));
	if (!p->copy_rc)
		p->copy_rc = plog_rewrite_copy(p->rw, p->copy_from, p->copy_to, p->copy_err,
					       sizeof(p->copy_err));
	if (!p->copy_rc)
		p->copy_rc = plog_rewrite_sync(p->rw, p->copy_err, sizeof(p->copy_err));
}

static void copy_done(uv_work_t *req, int status);

/* A round of the copy, on the thread pool, up to the log's end now. */
static void copy_start(struct persist *p, uint64_t from)
{
	p->rw_state = RW_COPYING;
	p->copy_from = from;
	p->copy_to = plog_size(p->log);
	p->copy_rounds++;
	p->copy_req.data = p;
	if (uv_queue_work(p->loop, &p->copy_req, copy_work, copy_done))
		rewrite_failed(p, "cannot queue the copy");
}

static void try_commit(struct persist *p);

/* Under load the log grew during that round: another round, so that
 * what is left for the loop stays small (each round is shorter). */
static void copy_done(uv_work_t *req, int status)
{
	struct persist *p = req->data;

	if (p->stopping) {
		rewrite_end(p); /* persist_close rewrites at once if need be */
		return;
	}
	if (status || p->copy_rc) {
		rewrite_failed(p, status ? uv_strerror(status) : p->copy_err);
		return;
	}
	if (plog_size(p->log) - p->copy_to > COPY_ON_LOOP_MAX && p->copy_rounds < COPY_ROUNDS_MAX) {
		copy_start(p, p->copy_to);
		return;
	}
	p->rw_state = RW_COMMIT;
	try_commit(p);
}

/* The child has exited (status st): the copy of what came since. */
static void child_exited(struct persist *p, int st)
{
	char why[CHILD_MSG_MAX + 64];

	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFSIGNALED(st))
			snprintf(why, sizeof(why), "the writing process was killed by signal %d",
				 WTERMSIG(st));
		else
			snprintf(why, sizeof(why), "%.*s", (int)p->child_msg_len, p->child_msg);
		rewrite_failed(p, why);
		return;
	}
	p->copy_rounds = 0;
	copy_start(p, p->rw_from);
}

static void child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct persist *p = h->data;

	(void)suggested;
	*buf = uv_buf_init(p->child_msg + p->child_msg_len,
			   (unsigned)(sizeof(p->child_msg) - p->child_msg_len));
}

/* The child's report: text, then EOF when it exits (it holds the only
 * writing end). */
static void child_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct persist *p = s->data;
	int st = 0;

	(void)buf;
	if (nread > 0) {
		p->child_msg_len += (size_t)nread;
		if (p->child_msg_len < sizeof(p->child_msg))
			return;
	} else if (nread == 0) {
		return;
	}
	uv_close((uv_handle_t *)s, NULL);
	while (waitpid(p->child, &st, 0) < 0 && errno == EINTR) {
	}
	p->child = 0;
	child_exited(p, st);
}

/* Starts the background rewrite: the child forked, the parent's records
 * made independent of its snapshot. */
static void rewrite_start(struct persist *p)
{
	int fds[2];
	pid_t pid, parent;

	if (persist_flush(p))
		return; /* the fork's state must be all in the old log */
	if (pipe2(fds, O_CLOEXEC)) {
		log_error("%s: cannot rewrite: pipe: %s", plog_path(p->log), strerror(errno));
		p->snapshot_size = plog_size(p->log);
		return;
	}
	if (plog_rewrite_begin(p->log, &p->rw, p->err, sizeof(p->err))) {
		close(fds[0]);
		close(fds[1]);
		rewrite_failed(p, p->err);
		return;
	}
	parent = getpid();
	pid = fork();
	if (pid == 0)
		child_main(p, parent, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		rewrite_failed(p, strerror(errno));
		return;
	}
	broker_journal_fork(p->broker);
	p->child = pid;
	p->child_killed = false;
	p->child_msg_len = 0;
	p->rw_from = plog_size(p->log);
	p->rw_t0 = uv_hrtime();
	p->rw_state = RW_CHILD;
	uv_pipe_init(p->loop, &p->child_pipe, 0);
	p->child_pipe.data = p;
	uv_pipe_open(&p->child_pipe, fds[0]);
	uv_read_start((uv_stream_t *)&p->child_pipe, child_alloc, child_read);
	log_info("%s: %llu bytes: rewriting it in the background (process %d)",
		 plog_path(p->log), (unsigned long long)p->rw_from, (int)pid);
}

/* The last batches, appended while the worker copied, and the switch: on
 * the loop, with no sync of the old file under way (it would be on the
 * descriptor the commit closes). */
static void try_commit(struct persist *p)
{
	uint64_t t0 = uv_hrtime(), end;

	if (p->syncing || persist_flush(p))
		return; /* again at the end of a later turn */
	end = plog_size(p->log);
	if (plog_rewrite_copy(p->rw, p->copy_to, end, p->err, sizeof(p->err))) {
		rewrite_failed(p, p->err);
		return;
	}
	/* The commit frees the rewrite whatever it returns (plog.h). */
	if (plog_rewrite_commit(p->rw, p->err, sizeof(p->err))) {
		p->rw = NULL;
		rewrite_failed(p, p->err);
		return;
	}
	p->rw = NULL;
	rewrite_end(p);
	p->snapshot_size = plog_size(p->log);
	p->synced = p->appended; /* the commit synced the new file: all of it */
	log_info("%s rewritten: %llu -> %llu bytes in %llu ms (%llu ms of it on the loop, "
		 "%llu bytes copied there)",
		 plog_path(p->log), (unsigned long long)end,
		 (unsigned long long)p->snapshot_size,
		 (unsigned long long)((uv_hrtime() - p->rw_t0) / 1000000),
		 (unsigned long long)((uv_hrtime() - t0) / 1000000),
		 (unsigned long long)(end - p->copy_to));
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
	if (p->rw_state == RW_COMMIT) {
		try_commit(p); /* its fsync covers this turn's batch */
		return;
	}
	persist_durable(p, p->appended); /* full: its sync under way */
	if (p->rw_state == RW_IDLE && too_long(p))
		rewrite_start(p);
}

/* The child, if one is writing, is killed and reaped. */
static void child_kill(struct persist *p)
{
	int st;

	if (!p->child)
		return;
	kill(p->child, SIGKILL);
	while (waitpid(p->child, &st, 0) < 0 && errno == EINTR) {
	}
	p->child = 0;
}

void persist_stop(struct persist *p)
{
	if (!p)
		return;
	p->stopping = true;
	if (p->rw_state == RW_CHILD) {
		child_kill(p);
		uv_close((uv_handle_t *)&p->child_pipe, NULL);
		rewrite_end(p);
	} else if (p->rw_state == RW_COMMIT) {
		rewrite_end(p);
	}
	/* RW_COPYING: the worker ends it (copy_done), the loop waits for it. */
}

void persist_tick(struct persist *p)
{
	if (!p)
		return;
	broker_set_wall_clock(p->broker, (uint64_t)wall_clock_ms());
	if (p->failing)
		persist_flush(p);
	if (p->sync_failing && !p->syncing)
		start_sync(p); /* a retry: logged again only once it works */
	/* A child that never ends (stopped, or stuck: forked from a threaded
	 * process, it could wait forever on a lock another thread held) must
	 * not stop compaction for good: killed, the rewrite fails, and the
	 * next one forks anew. */
	if (p->rw_state == RW_CHILD && p->child && !p->child_killed &&
	    uv_hrtime() - p->rw_t0 > (uint64_t)p->rewrite_timeout_ms * 1000000) {
		log_error("%s: the rewrite's process %d has run for more than "
			  "persistence_rewrite_timeout (%u s): killed",
			  plog_path(p->log), (int)p->child, p->rewrite_timeout_ms / 1000);
		kill(p->child, SIGKILL); /* its pipe's end brings child_exited */
		p->child_killed = true;
	}
}

void persist_close(struct persist *p)
{
	if (!p)
		return;
	/* The loop has ended: no sync or copy is in flight; a child still
	 * writing (no persist_stop: a failed start) goes. */
	child_kill(p);
	rewrite_end(p);
	if (plog_size(p->log) > p->compact_size)
		rewrite_now(p); /* the next start reads the state, not its history */
	else if (persist_flush(p) ||
		 (p->mode == PERSIST_FULL && plog_sync(p->log, p->err, sizeof(p->err))))
		log_error("%s: the last changes could not be written", plog_path(p->log));
	plog_close(p->log);
	free(p);
}
