/*
 * outbuf.h - bytes waiting to be written to one client, as a list of
 * segments ready for one vectored write.
 *
 * Small pieces (packet headers, acks, short payloads) are copied into one
 * growable byte arena; a large payload is referenced from its shared,
 * reference-counted message instead of being copied per subscriber. The
 * outbuf holds one reference per referenced message until outbuf_reset().
 *
 * Ownership: the broker core appends; the I/O layer takes the whole outbuf
 * (outbuf_move), writes it, then calls outbuf_release() from the write
 * callback. Nothing here touches a socket.
 *
 * Storage comes from a pool shared by all the outbufs of one broker: an
 * outbuf with nothing queued holds no memory (idle connections stay small),
 * and a busy connection takes a pooled block and gives it back each loop
 * turn instead of calling malloc. The pool keeps at most max_bytes of
 * blocks (each at most OUTBUF_POOL_BLOCK_MAX); the rest goes back to malloc.
 */
#ifndef AGORA_OUTBUF_H
#define AGORA_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

struct msg;

/* Where a segment's bytes are: in the arena at off, or elsewhere (off is
 * then one of the two tags below). 16 bytes: a fan-out queues many. */
#define OUTBUF_SEG_MSG UINT32_MAX          /* msg's payload (a reference held) */
#define OUTBUF_SEG_STATIC (UINT32_MAX - 1) /* ext: bytes that outlive the outbuf */

struct out_seg {
	uint32_t off;
	uint32_t len;
	union {
		struct msg *msg;    /* OUTBUF_SEG_MSG; NULL for arena bytes */
		const uint8_t *ext; /* OUTBUF_SEG_STATIC */
	};
};

#define OUTBUF_POOL_BLOCK_MAX (256 * 1024)

/* Free blocks; single-threaded, owned by the broker. */
struct outbuf_pool {
	struct outbuf_block *free;
	size_t bytes;      /* held in free blocks */
	size_t max_bytes;
};

struct outbuf {
	struct outbuf_pool *pool;
	uint8_t *arena;
	uint32_t arena_len, arena_cap;
	struct out_seg *segs;
	uint32_t nsegs, segs_cap;
	size_t total; /* bytes queued in all segments */
};

void outbuf_pool_init(struct outbuf_pool *p, size_t max_bytes);
/* Frees the pooled blocks (every outbuf using the pool must be released). */
void outbuf_pool_release(struct outbuf_pool *p);

/* pool may be NULL (plain malloc). Allocates nothing. */
void outbuf_init(struct outbuf *o, struct outbuf_pool *pool);
/* Drops every queued byte and message reference; returns the storage. */
void outbuf_release(struct outbuf *o);
/* Drops queued bytes and references but keeps storage for reuse. */
void outbuf_reset(struct outbuf *o);
/* Moves src's content and storage into dst (dst's own storage is returned
 * first); src is left empty, holding no storage. */
void outbuf_move(struct outbuf *dst, struct outbuf *src);

/* Reserves len bytes at the end of the arena and returns where to write
 * them; the caller then commits what it wrote with outbuf_commit. */
uint8_t *outbuf_reserve(struct outbuf *o, size_t len);
void outbuf_commit(struct outbuf *o, size_t len);
void outbuf_append(struct outbuf *o, const void *data, size_t len);
/* Queues the payload of m by reference (takes a reference). */
void outbuf_append_msg_payload(struct outbuf *o, struct msg *m);
/* Queues len bytes at data by reference: they must outlive the outbuf
 * (static data, such as a file compiled into the program). */
void outbuf_append_static(struct outbuf *o, const void *data, size_t len);

/* Segment bytes: start pointer and length of segment i. */
const uint8_t *outbuf_seg_data(const struct outbuf *o, uint32_t i);

/* Copies up to cap queued bytes into dst, in order; returns the count.
 * For tests and diagnostics; the I/O layer writes segments directly. */
size_t outbuf_copy(const struct outbuf *o, uint8_t *dst, size_t cap);

#endif
