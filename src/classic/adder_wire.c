/*
 * adder_wire.c - the integer adder's bytes (adder.h): framing, the two
 * payload encodings, the sum, the replies. Pure: no I/O, no allocation.
 */
#include "adder.h"

#include "pickle.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static int64_t be64s(const uint8_t *p)
{
	uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
	int64_t v;

	memcpy(&v, &u, sizeof(v)); /* two's complement, without an implementation-defined cast */
	return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be64(uint8_t *p, int64_t v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	put_be32(p, (uint32_t)(u >> 32));
	put_be32(p + 4, (uint32_t)u);
}

int64_t adder_frame(const uint8_t *buf, size_t len, uint32_t max_payload, enum adder_kind *kind,
		    uint32_t *payload_len)
{
	uint32_t n;

	*kind = ADDER_UNKNOWN;
	if (len >= ADDER_HEADER && !(buf[0] | buf[1] | buf[2] | buf[3]))
		return ADDER_FRAME_EMPTY; /* zero in either order: no fifth byte will come */
	if (len < ADDER_HEADER + 1)
		return 0;
	if (buf[4] == ADDER_PICKLE_PROTO) {
		*kind = ADDER_PICKLE;
		n = le32(buf);
	} else if ((buf[4] & 0xf0) == (ADDER_AGORA_V1 & 0xf0)) {
		*kind = ADDER_AGORA;
		n = be32(buf);
	} else {
		return ADDER_FRAME_UNKNOWN;
	}
	*payload_len = n;
	if (n > max_payload)
		return ADDER_FRAME_TOOLONG;
	if (len - ADDER_HEADER < n)
		return 0;
	return (int64_t)ADDER_HEADER + n;
}

/* ---- the sum ---- */

/* A sum that may overflow on the way: the wrapped value and how many
 * times it wrapped (the true sum is sum + wraps * 2^64), so [MAX, 1, -1]
 * sums to MAX. */
struct acc {
	int64_t sum;
	int64_t wraps;
};

static void acc_add(struct acc *a, int64_t v)
{
	int64_t r;

	if (__builtin_add_overflow(a->sum, v, &r))
		a->wraps += v > 0 ? 1 : -1;
	a->sum = r; /* the wrapped result */
}

static void fail(struct adder_result *r, int status, const char *why)
{
	r->status = status;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void compute_agora(const uint8_t *p, size_t len, struct adder_result *r)
{
	struct acc a = { 0, 0 };
	uint32_t count;

	r->version = p[0];
	if (p[0] != ADDER_AGORA_V1) {
		r->status = ADDER_EVERSION;
		snprintf(r->why, sizeof(r->why),
			 "Agora encoding version %u: this server speaks version 1", p[0] & 0x0f);
		return;
	}
	if (len < 5) {
		fail(r, ADDER_EMALFORMED, "the payload ends before its count");
		return;
	}
	count = be32(p + 1);
	if ((len - 5) % 8 || (len - 5) / 8 != count) {
		r->status = ADDER_EMALFORMED;
		snprintf(r->why, sizeof(r->why),
			 "the count says %" PRIu32 " integers, the payload holds %zu bytes of them",
			 count, len - 5);
		return;
	}
	for (uint32_t i = 0; i < count; i++)
		acc_add(&a, be64s(p + 5 + 8 * (size_t)i));
	r->count = count;
	if (a.wraps) {
		fail(r, ADDER_EOVERFLOW, "the sum does not fit 64 bits");
		return;
	}
	r->sum = a.sum;
}

static void compute_pickle(const uint8_t *p, size_t len, struct adder_result *r)
{
	struct pickle_reader rd;
	struct acc a = { 0, 0 };
	int64_t v;
	int rc;

	pickle_reader_init(&rd, p, len);
	while ((rc = pickle_next_int(&rd, &v)) == 1) {
		acc_add(&a, v);
		r->count++;
	}
	r->version = rd.proto;
	if (rc < 0) {
		r->status = ADDER_EMALFORMED;
		pickle_describe(&rd, rc, r->why, sizeof(r->why));
		return;
	}
	if (a.wraps) {
		fail(r, ADDER_EOVERFLOW, "the sum does not fit 64 bits (nor the course's reply, "
					 "0 to 4294967295)");
		return;
	}
	r->sum = a.sum;
	if (a.sum < 0 || a.sum > UINT32_MAX) {
		r->status = ADDER_EOVERFLOW;
		snprintf(r->why, sizeof(r->why),
			 "the sum %" PRId64 " does not fit the course's reply (0 to 4294967295)",
			 a.sum);
	}
}

void adder_compute(enum adder_kind kind, const uint8_t *payload, size_t len,
		   struct adder_result *r)
{
	memset(r, 0, sizeof(*r));
	if (len == 0) { /* adder_frame refuses it; a direct caller may not */
		fail(r, ADDER_EMALFORMED, "an empty payload");
		return;
	}
	if (kind == ADDER_AGORA)
		compute_agora(payload, len, r);
	else if (kind == ADDER_PICKLE)
		compute_pickle(payload, len, r);
	else
		fail(r, ADDER_EMALFORMED, "an unknown encoding");
}

size_t adder_encode_reply(enum adder_kind kind, const struct adder_result *r, uint8_t *out)
{
	size_t m;

	if (kind != ADDER_AGORA) {
		if (kind == ADDER_UNKNOWN || r->status != ADDER_OK)
			return 0; /* an unknown encoding is answered in none */
		put_le32(out, (uint32_t)r->sum); /* 0..UINT32_MAX: adder_compute checked */
		return 4;
	}
	out[4] = ADDER_AGORA_V1;
	out[5] = (uint8_t)r->status;
	if (r->status == ADDER_OK) {
		put_be32(out, 10);
		put_be64(out + 6, r->sum);
		return ADDER_HEADER + 10;
	}
	m = strnlen(r->why, sizeof(r->why) - 1);
	put_be32(out, (uint32_t)(2 + m));
	memcpy(out + 6, r->why, m);
	return ADDER_HEADER + 2 + m;
}

/* ---- the client's side ---- */

size_t adder_encode_request(const int64_t *v, size_t n, uint8_t *out, size_t cap)
{
	size_t size = ADDER_HEADER + 5 + 8 * n;

	if (size > cap)
		return size;
	put_be32(out, (uint32_t)(5 + 8 * n));
	out[4] = ADDER_AGORA_V1;
	put_be32(out + 5, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		put_be64(out + 9 + 8 * i, v[i]);
	return size;
}

size_t adder_encode_pickle_request(int proto, const int64_t *v, size_t n, uint8_t *out,
				   size_t cap)
{
	size_t plen = pickle_encode_ints(proto, v, n, NULL, 0);

	if (ADDER_HEADER + plen > cap)
		return ADDER_HEADER + plen;
	put_le32(out, (uint32_t)plen);
	pickle_encode_ints(proto, v, n, out + ADDER_HEADER, plen);
	return ADDER_HEADER + plen;
}

int64_t adder_decode_reply(const uint8_t *buf, size_t len, struct adder_reply *rep)
{
	uint32_t n;

	if (len < ADDER_HEADER)
		return 0;
	n = be32(buf);
	if (n < 2 || n > ADDER_REPLY_MAX - ADDER_HEADER)
		return -1;
	if (len - ADDER_HEADER < n)
		return 0;
	if (buf[4] != ADDER_AGORA_V1)
		return -1;
	memset(rep, 0, sizeof(*rep));
	rep->status = buf[5];
	if (rep->status == ADDER_OK) {
		if (n != 10)
			return -1;
		rep->sum = be64s(buf + 6);
	} else {
		rep->msg = (const char *)buf + 6;
		rep->msg_len = n - 2;
	}
	return (int64_t)ADDER_HEADER + n;
}
