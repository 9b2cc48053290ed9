/*
 * test_adder.c - the integer adder's bytes (src/classic/adder.h), without
 * sockets: framing at every split, the two encodings told apart by the
 * fifth byte (and the length read in each one's order), sums that overflow
 * on the way or at the end, the replies byte for byte (the examples of
 * docs/protocols.md).
 */
#include "helpers.h"

#include "classic/adder.h"
#include "classic/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* docs/protocols.md: Agora's request for [1, 2, 3] and its reply. */
static const uint8_t agora_123[] = {
	0x00, 0x00, 0x00, 0x1d, 0xa1, 0x00, 0x00, 0x00, 0x03,
	0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
};
static const uint8_t agora_6[] = { 0x00, 0x00, 0x00, 0x0a, 0xa1, 0x00, 0, 0, 0, 0, 0, 0, 0, 6 };
/* The course's client: struct.pack('I', 14) + pickle.dumps([1, 2, 3], 3). */
static const uint8_t course_123[] = {
	0x0e, 0x00, 0x00, 0x00, 0x80, 0x03, 0x5d, 0x71, 0x00, 0x28,
	0x4b, 0x01, 0x4b, 0x02, 0x4b, 0x03, 0x65, 0x2e,
};

static void test_frame_at_every_split(void **state)
{
	static const struct {
		const uint8_t *b;
		size_t len;
		enum adder_kind kind;
	} reqs[] = {
		{ agora_123, sizeof(agora_123), ADDER_AGORA },
		{ course_123, sizeof(course_123), ADDER_PICKLE },
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		enum adder_kind kind;
		uint32_t plen = 0;

		for (size_t k = 0; k < reqs[i].len; k++) {
			assert_int_equal(adder_frame(reqs[i].b, k, 1024, &kind, &plen), 0);
			assert_int_equal(kind, k > 4 ? reqs[i].kind : ADDER_UNKNOWN);
		}
		assert_int_equal(adder_frame(reqs[i].b, reqs[i].len, 1024, &kind, &plen),
				 reqs[i].len);
		assert_int_equal(kind, reqs[i].kind);
		assert_int_equal(plen, reqs[i].len - ADDER_HEADER);
	}
}

/* The same four length bytes are 16 in one encoding and 2^28 in the
 * other: the fifth byte decides which order they are read in. */
static void test_length_order_by_fifth_byte(void **state)
{
	uint8_t b[5] = { 0x00, 0x00, 0x00, 0x10, ADDER_AGORA_V1 };
	enum adder_kind kind;
	uint32_t plen;

	(void)state;
	assert_int_equal(adder_frame(b, 5, 1u << 30, &kind, &plen), 0);
	assert_int_equal(kind, ADDER_AGORA);
	assert_int_equal(plen, 16);
	b[4] = ADDER_PICKLE_PROTO;
	assert_int_equal(adder_frame(b, 5, 1u << 30, &kind, &plen), 0);
	assert_int_equal(kind, ADDER_PICKLE);
	assert_int_equal(plen, 0x10000000);
	/* and with the course's limit, refused from these five bytes */
	assert_int_equal(adder_frame(b, 5, 1024, &kind, &plen), ADDER_FRAME_TOOLONG);
	assert_int_equal(kind, ADDER_PICKLE);
}

static void test_frame_errors(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0 };
	static const uint8_t text[] = "1 2 3\n";
	static const uint8_t huge_pickle[] = { 0xff, 0xff, 0xff, 0xff, 0x80 };
	static const uint8_t huge_agora[] = { 0x00, 0x10, 0x00, 0x01, 0xa1 };
	static const uint8_t future[] = { 0x00, 0x00, 0x00, 0x01, 0xa7 };
	enum adder_kind kind;
	uint32_t plen;

	(void)state;
	/* a length of 0 is refused at once: no fifth byte will come */
	assert_int_equal(adder_frame(zero, 3, 1024, &kind, &plen), 0);
	assert_int_equal(adder_frame(zero, 4, 1024, &kind, &plen), ADDER_FRAME_EMPTY);
	assert_int_equal(adder_frame(text, 6, 1024, &kind, &plen), ADDER_FRAME_UNKNOWN);
	assert_int_equal(adder_frame(huge_pickle, 5, 1024, &kind, &plen), ADDER_FRAME_TOOLONG);
	assert_int_equal(plen, UINT32_MAX);
	assert_int_equal(adder_frame(huge_agora, 5, 1024, &kind, &plen), ADDER_FRAME_TOOLONG);
	assert_int_equal(kind, ADDER_AGORA);
	/* any version nibble frames as Agora's (adder_compute says which it is) */
	assert_int_equal(adder_frame(future, 5, 1024, &kind, &plen), 5);
	assert_int_equal(kind, ADDER_AGORA);
}

/* An Agora payload for v[0..n) (after the length). */
static size_t agora_payload(const int64_t *v, size_t n, uint8_t *out, size_t cap)
{
	uint8_t buf[ADDER_HEADER + 5 + 8 * 8];
	size_t len = adder_encode_request(v, n, buf, sizeof(buf));

	assert_true(len <= sizeof(buf) && len - ADDER_HEADER <= cap);
	memcpy(out, buf + ADDER_HEADER, len - ADDER_HEADER);
	return len - ADDER_HEADER;
}

static void test_agora_sums(void **state)
{
	static const struct {
		int64_t v[4];
		size_t n;
		int status;
		int64_t sum;
	} cases[] = {
		{ { 1, 2, 3 }, 3, ADDER_OK, 6 },
		{ { 0 }, 0, ADDER_OK, 0 },
		{ { INT64_C(1) << 40, 1 }, 2, ADDER_OK, (INT64_C(1) << 40) + 1 },
		{ { -7, 2 }, 2, ADDER_OK, -5 },
		/* over on the way, back in range at the end */
		{ { INT64_MAX, 1, -1 }, 3, ADDER_OK, INT64_MAX },
		{ { INT64_MIN, -1, 1 }, 3, ADDER_OK, INT64_MIN },
		{ { INT64_MAX, 1 }, 2, ADDER_EOVERFLOW, 0 },
		{ { INT64_MIN, -1 }, 2, ADDER_EOVERFLOW, 0 },
		{ { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MIN }, 4, ADDER_EOVERFLOW, 0 },
	};
	uint8_t p[5 + 8 * 8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct adder_result r;
		size_t len = agora_payload(cases[i].v, cases[i].n, p, sizeof(p));

		adder_compute(ADDER_AGORA, p, len, &r);
		assert_int_equal(r.status, cases[i].status);
		if (r.status == ADDER_OK) {
			assert_int_equal(r.sum, cases[i].sum);
			assert_int_equal(r.count, cases[i].n);
		} else {
			assert_non_null(strstr(r.why, "64 bits"));
		}
	}
}

static void test_agora_malformed(void **state)
{
	int64_t v[2] = { 1, 2 };
	uint8_t p[5 + 16];
	struct adder_result r;
	size_t len = agora_payload(v, 2, p, sizeof(p));

	(void)state;
	adder_compute(ADDER_AGORA, p, len - 1, &r); /* a byte short of the count */
	assert_int_equal(r.status, ADDER_EMALFORMED);
	assert_non_null(strstr(r.why, "count says 2"));
	p[4] = 3; /* the count says 3, the payload holds 2 */
	adder_compute(ADDER_AGORA, p, len, &r);
	assert_int_equal(r.status, ADDER_EMALFORMED);
	adder_compute(ADDER_AGORA, p, 3, &r); /* no room for the count */
	assert_int_equal(r.status, ADDER_EMALFORMED);
	p[0] = 0xa2;
	adder_compute(ADDER_AGORA, p, len, &r);
	assert_int_equal(r.status, ADDER_EVERSION);
	assert_non_null(strstr(r.why, "version 2"));
	adder_compute(ADDER_AGORA, p, 0, &r);
	assert_int_equal(r.status, ADDER_EMALFORMED);
}

static void test_pickle_sums(void **state)
{
	static const struct {
		int64_t v[3];
		size_t n;
		int status;
		int64_t sum;
	} cases[] = {
		{ { 1, 2, 3 }, 3, ADDER_OK, 6 },
		{ { 0 }, 0, ADDER_OK, 0 },
		{ { -5, 10 }, 2, ADDER_OK, 5 },
		{ { INT64_C(4294967295) }, 1, ADDER_OK, INT64_C(4294967295) },
		{ { INT64_C(1) << 40, -(INT64_C(1) << 40), 7 }, 3, ADDER_OK, 7 },
		/* the course's reply is unsigned 32-bit */
		{ { INT64_C(4294967296) }, 1, ADDER_EOVERFLOW, 0 },
		{ { -1 }, 1, ADDER_EOVERFLOW, 0 },
		{ { INT64_MAX, INT64_MAX, 2 }, 3, ADDER_EOVERFLOW, 0 },
	};

	(void)state;
	for (int proto = 2; proto <= 5; proto++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint8_t p[128];
			size_t len = pickle_encode_ints(proto, cases[i].v, cases[i].n, p, sizeof(p));
			struct adder_result r;

			adder_compute(ADDER_PICKLE, p, len, &r);
			assert_int_equal(r.status, cases[i].status);
			assert_int_equal(r.version, proto);
			if (r.status == ADDER_OK)
				assert_int_equal(r.sum, cases[i].sum);
			else
				assert_non_null(strstr(r.why, "4294967295"));
		}
	}
}

static void test_pickle_refused(void **state)
{
	static const char reduce[] =
		"\x80\x02" "cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
	struct adder_result r;
	uint8_t reply[ADDER_REPLY_MAX];

	(void)state;
	adder_compute(ADDER_PICKLE, (const uint8_t *)reduce, sizeof(reduce) - 1, &r);
	assert_int_equal(r.status, ADDER_EMALFORMED);
	assert_non_null(strstr(r.why, "GLOBAL"));
	/* the course's reply has no room for it: none */
	assert_int_equal(adder_encode_reply(ADDER_PICKLE, &r, reply), 0);
	/* nor is an unknown encoding answered in any */
	assert_int_equal(adder_encode_reply(ADDER_UNKNOWN, &r, reply), 0);
	r.status = ADDER_OK;
	assert_int_equal(adder_encode_reply(ADDER_UNKNOWN, &r, reply), 0);
}

static void test_replies(void **state)
{
	struct adder_result r = { .status = ADDER_OK, .sum = 6 };
	uint8_t out[ADDER_REPLY_MAX];
	struct adder_reply rep;
	size_t n;

	(void)state;
	n = adder_encode_reply(ADDER_AGORA, &r, out);
	assert_int_equal(n, sizeof(agora_6));
	assert_memory_equal(out, agora_6, n);
	/* struct.pack('I', 6) */
	assert_int_equal(adder_encode_reply(ADDER_PICKLE, &r, out), 4);
	assert_memory_equal(out, "\x06\x00\x00\x00", 4);
	r.sum = UINT32_MAX;
	adder_encode_reply(ADDER_PICKLE, &r, out);
	assert_memory_equal(out, "\xff\xff\xff\xff", 4);
	/* an error: status, message */
	r.status = ADDER_EOVERFLOW;
	snprintf(r.why, sizeof(r.why), "too big");
	n = adder_encode_reply(ADDER_AGORA, &r, out);
	assert_int_equal(n, ADDER_HEADER + 2 + 7);
	assert_memory_equal(out, "\x00\x00\x00\x09\xa1\x03too big", n);
	assert_int_equal(adder_decode_reply(out, n, &rep), n);
	assert_int_equal(rep.status, ADDER_EOVERFLOW);
	assert_int_equal(rep.msg_len, 7);
	assert_memory_equal(rep.msg, "too big", 7);
	/* the longest message still fits ADDER_REPLY_MAX */
	memset(r.why, 'x', sizeof(r.why) - 1);
	r.why[sizeof(r.why) - 1] = '\0';
	n = adder_encode_reply(ADDER_AGORA, &r, out);
	assert_true(n <= ADDER_REPLY_MAX);
	assert_int_equal(adder_decode_reply(out, n, &rep), n);
}

static void test_decode_reply(void **state)
{
	struct adder_reply rep;
	uint8_t b[sizeof(agora_6)];

	(void)state;
	for (size_t k = 0; k < sizeof(agora_6); k++)
		assert_int_equal(adder_decode_reply(agora_6, k, &rep), 0);
	assert_int_equal(adder_decode_reply(agora_6, sizeof(agora_6), &rep), sizeof(agora_6));
	assert_int_equal(rep.status, ADDER_OK);
	assert_int_equal(rep.sum, 6);
	memcpy(b, agora_6, sizeof(b));
	b[4] = 0xa2; /* another version */
	assert_int_equal(adder_decode_reply(b, sizeof(b), &rep), -1);
	b[4] = 0xa1;
	b[3] = 9; /* OK with a 7-byte sum */
	assert_int_equal(adder_decode_reply(b, sizeof(b), &rep), -1);
	b[3] = 1; /* no room for the status */
	assert_int_equal(adder_decode_reply(b, sizeof(b), &rep), -1);
	b[2] = 1; /* longer than any reply */
	assert_int_equal(adder_decode_reply(b, 4, &rep), -1);
}

static void test_requests(void **state)
{
	int64_t v[3] = { 1, 2, 3 };
	uint8_t out[64];

	(void)state;
	assert_int_equal(adder_encode_request(v, 3, out, sizeof(out)), sizeof(agora_123));
	assert_memory_equal(out, agora_123, sizeof(agora_123));
	assert_int_equal(adder_encode_request(v, 3, out, 8), sizeof(agora_123)); /* measured */
	assert_int_equal(adder_encode_pickle_request(3, v, 3, out, sizeof(out)),
			 sizeof(course_123));
	assert_memory_equal(out, course_123, sizeof(course_123));
}

/* A request through the server's steps and back through the client's. */
static void test_round_trip(void **state)
{
	enum adder_kind kind;
	uint32_t plen;
	struct adder_result r;
	struct adder_reply rep;
	uint8_t out[ADDER_REPLY_MAX];
	int64_t n;

	(void)state;
	n = adder_frame(agora_123, sizeof(agora_123), 1024, &kind, &plen);
	assert_int_equal(n, sizeof(agora_123));
	adder_compute(kind, agora_123 + ADDER_HEADER, plen, &r);
	assert_int_equal(r.status, ADDER_OK);
	n = (int64_t)adder_encode_reply(kind, &r, out);
	assert_int_equal(adder_decode_reply(out, (size_t)n, &rep), n);
	assert_int_equal(rep.sum, 6);
	n = adder_frame(course_123, sizeof(course_123), 1024, &kind, &plen);
	adder_compute(kind, course_123 + ADDER_HEADER, plen, &r);
	assert_int_equal(r.sum, 6);
	assert_int_equal(r.count, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_at_every_split),
		cmocka_unit_test(test_length_order_by_fifth_byte),
		cmocka_unit_test(test_frame_errors),
		cmocka_unit_test(test_agora_sums),
		cmocka_unit_test(test_agora_malformed),
		cmocka_unit_test(test_pickle_sums),
		cmocka_unit_test(test_pickle_refused),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_decode_reply),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
