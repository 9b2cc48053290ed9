/*
 * persist.h - the broker's state on disk (persistence normal|full): the
 * log in data_dir/broker.log (src/persist/plog.h) joined to the broker's
 * journal (broker.h, "Durable state").
 *
 * At start the log is replayed into the broker before any listener opens.
 * Then every loop turn's records are appended as one batch (group commit)
 * before any output of that turn is written: the MQTT service calls
 * persist_flush before it hands a client's output to the connection layer,
 * and its turn hook (persist_turn) flushes what no output waited for. With persistence full
 * the output also waits for an fdatasync covering its records
 * (persist_durable), run on the thread pool so the loop goes on: batches
 * written meanwhile share the next sync. When the log has
 * grown past persistence_compact_size and twice its last snapshot, it is
 * replaced by a snapshot of the state, written by a forked child while
 * the loop goes on (persist.c, "The rewrite in the background"), and at a
 * clean stop.
 *
 * Ownership: persist_open returns the handle the server frees with
 * persist_close, after the last connection is gone and before the broker.
 */
#ifndef AGORA_PERSIST_H
#define AGORA_PERSIST_H

#include "config.h"

#include <stdbool.h>

struct broker;
struct net;
struct persist;

/* Opens and replays the log (logging what was restored and any damage),
 * then turns the broker's journaling on. Returns 0 with *out set (NULL
 * for persistence off), or -1 (logged) when the log cannot be used. */
int persist_open(struct persist **out, struct broker *b, struct net *n,
		 const struct agora_config *cfg);

/* Appends the broker's pending records, if any. 0 when they are durable
 * (or there were none); -1 when the write failed (logged): the records
 * stay pending, and output must wait for a later, successful flush. */
int persist_flush(struct persist *p);

/* How far the log has been written: a position in the stream of batches
 * appended since the start (not a file offset: rewrites do not move it
 * back). The records of every output produced so far are within it once
 * persist_flush returned 0. */
uint64_t persist_written(const struct persist *p);
/* Whether the log is durable up to upto bytes: always with persistence
 * normal (written is enough); with full, once an fdatasync that began after
 * they were written has finished. False starts that sync (on the thread
 * pool) if none is running; when it ends the loop turns again, so what
 * waits is asked again by the MQTT service's turn hook. */
bool persist_durable(struct persist *p, uint64_t upto);

/* The end of a loop turn, before its output is written (the MQTT
 * service's turn hook): the turn's batch, its sync under way (full), and
 * the rewrite when the log has grown too long. */
void persist_turn(struct persist *p);

/* Housekeeping, from the server's tick (accepts NULL): the wall clock for
 * deadlines, a retry after a failed write or sync. */
void persist_tick(struct persist *p);

/* The server is stopping: a rewrite in the background is given up (its
 * child killed); persist_close rewrites at once if the log is long.
 * Accepts NULL. */
void persist_stop(struct persist *p);

/* The last records out, a rewrite if the log is long, the file closed.
 * Accepts NULL. */
void persist_close(struct persist *p);

#endif
