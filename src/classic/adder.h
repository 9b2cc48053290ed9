/*
 * adder.h - the integer adder (docs/protocols.md, "Integer adder"): a
 * client sends a 4-byte length and a payload holding a list of integers,
 * the server answers their sum.
 *
 * The payload's first byte (the request's fifth) says how to read both the
 * payload and the length before it:
 *
 *   0xA0..0xAF  Agora's encoding, version in the low nibble (1 today): the
 *               length big-endian, then version, count (4 bytes) and count
 *               64-bit signed integers, all big-endian. The reply: a
 *               big-endian length, the version, a status byte, then the
 *               sum (8 bytes, signed) or an error message (UTF-8).
 *   0x80        pickle's PROTO: the course's Python client, whose length is
 *               struct.pack('I', n), native order, little-endian on the
 *               machines the course uses; the payload is
 *               pickle.dumps(list_of_ints) at protocol 2 to 5 (pickle.h).
 *               The reply is struct.pack('I', total): 4 bytes, unsigned,
 *               little-endian, with no room for an error: a request that
 *               fails (or whose sum is outside 0..4294967295) gets no reply
 *               and the connection is closed.
 *
 * Any other fifth byte is refused: no length is trusted before the
 * encoding is known. The wire codec (adder_wire.c) is pure; the service
 * (adder.c) runs it on the connection layer; adder_client.c is
 * `agora adder HOST:PORT N...`.
 */
#ifndef AGORA_ADDER_H
#define AGORA_ADDER_H

#include "net/net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDER_HEADER 4           /* the length before every payload */
#define ADDER_AGORA_V1 0xA1      /* Agora's encoding, version 1 */
#define ADDER_PICKLE_PROTO 0x80  /* pickle's first opcode */
#define ADDER_WHY_MAX 160        /* an error message, NUL included */
#define ADDER_REPLY_MAX (ADDER_HEADER + 2 + ADDER_WHY_MAX)

enum adder_kind {
	ADDER_UNKNOWN = 0, /* not known yet (fewer than 5 bytes) */
	ADDER_AGORA,
	ADDER_PICKLE,
};

/* The status byte of an Agora reply. */
enum adder_status {
	ADDER_OK = 0,
	ADDER_EMALFORMED = 1, /* the payload does not follow its encoding */
	ADDER_ETOOLONG = 2,   /* the length is over the server's limit */
	ADDER_EOVERFLOW = 3,  /* the sum does not fit the reply */
	ADDER_ETIMEOUT = 4,   /* the request did not arrive whole in time */
	ADDER_EVERSION = 5,   /* an Agora version this server does not speak */
};

/* adder_frame's errors. */
enum adder_frame_err {
	ADDER_FRAME_EMPTY = -1,   /* a length of 0 */
	ADDER_FRAME_UNKNOWN = -2, /* a fifth byte that is no known encoding */
	ADDER_FRAME_TOOLONG = -3, /* a length over max_payload (kind set) */
};

/* The request at the start of buf: its size (ADDER_HEADER + payload), 0
 * when more bytes are needed, or an adder_frame_err, as soon as the first
 * five bytes tell. *kind and *payload_len are set once known. */
int64_t adder_frame(const uint8_t *buf, size_t len, uint32_t max_payload, enum adder_kind *kind,
		    uint32_t *payload_len);

/* One request's outcome. */
struct adder_result {
	int status;           /* ADDER_OK or an error */
	int64_t sum;
	uint32_t count;       /* integers read */
	uint8_t version;      /* the payload's first byte's detail: the pickle
			       * protocol, or Agora's version */
	char why[ADDER_WHY_MAX]; /* the error, for the log and Agora's reply */
};

/* Sums a payload of kind (adder_frame's). Agora's: a sum beyond 64 bits is
 * ADDER_EOVERFLOW; a pickle's: a sum outside 0..UINT32_MAX (the course's
 * reply) is. Integers may overflow on the way as long as the sum fits. */
void adder_compute(enum adder_kind kind, const uint8_t *payload, size_t len,
		   struct adder_result *r);

/* The reply to r in kind's format into out (ADDER_REPLY_MAX bytes): its
 * size, or 0 for none (a pickle request that failed, an unknown kind). */
size_t adder_encode_reply(enum adder_kind kind, const struct adder_result *r, uint8_t *out);

/* ---- the client's side ---- */

/* Agora's request for v[0..n) into out: its size (ADDER_HEADER + 5 + 8n),
 * out written only when that fits cap. */
size_t adder_encode_request(const int64_t *v, size_t n, uint8_t *out, size_t cap);
/* The course's request: a little-endian length, then the pickle at proto
 * (2..5) exactly as pickle.dumps writes it. Same contract. */
size_t adder_encode_pickle_request(int proto, const int64_t *v, size_t n, uint8_t *out,
				   size_t cap);

struct adder_reply {
	int status;           /* ADDER_OK: sum; else msg */
	int64_t sum;
	const char *msg;      /* points into the reply, msg_len bytes, not NUL-terminated */
	size_t msg_len;
};

/* An Agora reply at the start of buf: its size, 0 when more bytes are
 * needed, -1 when it is no reply of version 1. */
int64_t adder_decode_reply(const uint8_t *buf, size_t len, struct adder_reply *rep);

/* ---- the service (adder.c) ---- */

struct adder_config {
	uint32_t max_conns;
	uint32_t max_length;  /* a payload's bytes at most */
	uint32_t timeout_ms;  /* a request arrives whole within this of its first byte */
	uint32_t idle_ms;     /* a connection with no request under way closes after
			       * this; 0: never */
};

struct adder_service {
	struct net_service svc;
	struct adder_config cfg;
	uint64_t last_refusal;
};

/* Sets up the service (svc ready for classic_serve); allocates nothing. */
void adder_service_init(struct adder_service *a, const struct adder_config *cfg);

/* ---- the client (adder_client.c) ---- */

struct adder_client_opts {
	const char *prog;     /* "agora adder", the prefix of its error lines */
	const char *host;
	uint16_t port;
	const int64_t *v;
	size_t n;
	bool pickle;          /* the course's format, at protocol proto */
	int proto;
	bool json;
	int timeout_ms;
};

/* Sends the request, prints the sum: a classic_result (tcp.h). */
int adder_client_run(const struct adder_client_opts *o);

#endif
