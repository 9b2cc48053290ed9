/*
 * plog.h - the broker's durable log: one append-only file of batches.
 *
 * The broker core records every change of its durable state (sessions,
 * subscriptions, queued and in-flight messages, retained messages, wills)
 * as opaque records; the server appends each loop turn's records as ONE
 * batch, before that turn's acknowledgements are written to any socket
 * (group commit). This file only knows batches: their framing, their
 * checksum, replaying them in order at start, and replacing the whole file
 * by a compact snapshot. What a batch holds is the broker's business
 * (src/broker/journal.c).
 *
 * File format (little-endian):
 *   header  8 bytes "AGORALOG", u32 version (PLOG_VERSION), u32 0 (reserved)
 *   batch   u32 body length (1 .. PLOG_MAX_BATCH), u32 CRC-32C of the body,
 *           the body
 * A batch is written with one write(2) (header and body in one writev); a
 * crash can only tear the last one, and a torn batch was never
 * acknowledged (its acknowledgements wait for the append to return).
 *
 * Durability (enum plog_sync): PLOG_SYNC_NONE returns once write(2) has
 * put the batch in the kernel's page cache: it survives the process being
 * killed (kill -9, a crash), not a power loss. PLOG_SYNC_DATA also calls
 * fdatasync(2) before returning: it survives a power loss.
 *
 * Errors: functions return 0 or a negative errno value and write a
 * sentence naming the file into err (when given). Not thread-safe: one
 * loop owns a plog.
 */
#ifndef AGORA_PLOG_H
#define AGORA_PLOG_H

#include <stddef.h>
#include <stdint.h>

#define PLOG_VERSION 1
#define PLOG_HEADER_SIZE 16
#define PLOG_BATCH_HEADER 8
/* Largest batch body: a length field above it is a torn or damaged batch. */
#define PLOG_MAX_BATCH (256u * 1024 * 1024)

enum plog_sync {
	PLOG_SYNC_NONE, /* write(2): survives the process, not the machine */
	PLOG_SYNC_DATA, /* write(2) then fdatasync(2): survives a power loss */
};

struct plog;

/* What a replay found, for the log line and for tests. */
struct plog_replay_stats {
	uint64_t batches;      /* intact batches the callback accepted */
	uint64_t bytes;        /* file size after the replay (header included) */
	uint64_t dropped;      /* bytes cut from the end (torn or damaged), 0 if none */
	int damaged;           /* 1: the replay stopped at a batch that is all there
			        * but wrong (length 0 or above PLOG_MAX_BATCH, bad
			        * checksum, refused by the callback), not at a torn
			        * last write (the file ending inside a batch); the
			        * cut bytes were saved to "<path>.damaged" first */
};

/* Called once per intact batch, in file order. body is valid only during
 * the call. A non-zero return means the body could not be understood: the
 * replay treats that batch as damaged (as a checksum mismatch). */
typedef int (*plog_replay_fn)(void *ctx, const uint8_t *body, size_t len);

/*
 * Opens (creating it, with its header, if missing) the log at path and
 * replays it: fn for every intact batch. The first batch that is cut short
 * (torn), has a bad length or checksum, or that fn refuses, ends the
 * replay: the file is truncated just before it, so new batches follow the
 * last good one, and stats says how much was cut (a warning is logged by
 * the caller). A damaged end is first copied to "<path>.damaged" (replacing
 * an older one) and fsynced; if that fails, plog_open fails and cuts
 * nothing. A length damaged so that the batch reaches past the end of the
 * file cannot be told from a torn write and is cut as torn.
 * A missing or wrong magic, or another version, is an error (-EPROTO) and
 * the file is left as it is (so is "<path>.new"). A file shorter than its
 * header whose bytes are a beginning of one (zeros allowed: a crash while
 * creating it) is rewritten; another short file is -EPROTO too. A path
 * that is not a regular file is -EINVAL.
 * A new log is written as "<path>.new" and renamed into place (fsync of the
 * file and of its directory), so path never names a half-written header.
 * *out is the open log, positioned at its end, on success only; stats may
 * be NULL. The caller frees the log with plog_close.
 */
int plog_open(const char *path, enum plog_sync sync, plog_replay_fn fn, void *ctx,
	      struct plog **out, struct plog_replay_stats *stats, char *err, size_t errlen);

/* Appends one batch (len 1 .. PLOG_MAX_BATCH) and, with PLOG_SYNC_DATA,
 * fdatasyncs. Retries short writes and EINTR. On failure (disk full, I/O
 * error) the file is truncated back to its previous size when possible (if
 * not, the next append tries again before writing), so a failed append
 * leaves no partial batch behind; the caller may retry. */
int plog_append(struct plog *l, const void *body, size_t len, char *err, size_t errlen);

/* fdatasync(2) of the log: what every append so far wrote is on the disk
 * when it returns 0. May run on another thread while the loop's thread
 * appends (the sync covers at least what was appended before it began);
 * not while a rewrite commits or the log closes. For a caller that opens
 * with PLOG_SYNC_NONE and syncs batches in groups, off its loop. */
int plog_sync(const struct plog *l, char *err, size_t errlen);

/* Bytes in the file, header included. */
uint64_t plog_size(const struct plog *l);
const char *plog_path(const struct plog *l);

/*
 * Compaction: a new file holding a snapshot of the state replaces the
 * log. plog_rewrite_begin creates "<path>.new" (truncated if it exists) with
 * its header; plog_rewrite_add appends snapshot batches to it (same rules as
 * plog_append); plog_rewrite_commit fsyncs it (always: a rename must not
 * publish an empty file), renames it over path, fsyncs the directory, and
 * from then on plog_append writes to the new file. plog_rewrite_abort
 * removes "<path>.new" and leaves the log as it was. A crash at any point
 * leaves either the old log or the new one complete; plog_open removes a
 * stale "<path>.new". At most one rewrite at a time (a second begin is
 * -EBUSY).
 *
 * The rewrite is the log's: plog_rewrite_commit and plog_rewrite_abort
 * (which accepts NULL) free it, whatever they return, and plog_close
 * aborts one still open.
 * plog_rewrite_add does not fdatasync (the commit fsyncs the whole file).
 * A commit that fails before the rename acts as plog_rewrite_abort; one
 * whose directory fsync fails after the rename returns the error, but the
 * log has switched to the new file (path names it). Batches appended to
 * the log during a rewrite go to the old file and are replaced with it:
 * the snapshot must cover them.
 */
struct plog_rewrite;
int plog_rewrite_begin(struct plog *l, struct plog_rewrite **out, char *err, size_t errlen);
int plog_rewrite_add(struct plog_rewrite *w, const void *body, size_t len, char *err,
		     size_t errlen);
int plog_rewrite_commit(struct plog_rewrite *w, char *err, size_t errlen);
void plog_rewrite_abort(struct plog_rewrite *w);

/*
 * A rewrite written by another process (a forked child holding a copy of
 * the state, so the writer's process goes on): after plog_rewrite_begin,
 * the child writes its batches with plog_rewrite_add, fsyncs them with
 * plog_rewrite_sync (the bulk of the rewrite's disk work, off the parent)
 * and exits; plog_rewrite_fd is the one descriptor it needs (it closes the
 * others: a socket it kept open would not close when the parent closes
 * it). The parent, meanwhile, appends to the log as usual; once the child
 * has exited with success, plog_rewrite_adopt takes the file's size as the
 * child left it, and plog_rewrite_copy appends the log's batches in bytes
 * [from, to) to it: the batches appended since the child's state, from
 * plog_size at the fork to plog_size now. plog_rewrite_copy only reads the
 * log (pread) below to, so it may run on another thread while the loop's
 * thread appends past to; call it again for what came meanwhile, then
 * commit (which fsyncs only what is not yet on the disk).
 */
int plog_rewrite_sync(struct plog_rewrite *w, char *err, size_t errlen);
int plog_rewrite_fd(const struct plog_rewrite *w);
int plog_rewrite_adopt(struct plog_rewrite *w, char *err, size_t errlen);
int plog_rewrite_copy(struct plog_rewrite *w, uint64_t from, uint64_t to, char *err,
		      size_t errlen);

/* Closes the file (no sync beyond what each append did). Accepts NULL. */
void plog_close(struct plog *l);

#endif
