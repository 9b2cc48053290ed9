/*
 * test_pickle.c - the pickle subset (src/classic/pickle.h): what CPython's
 * pickle.dumps writes for lists of ints at protocols 2 to 5 is read, and
 * written again byte for byte; everything else is refused, never read
 * past; every truncation is an error; frames as the C pickler cuts them.
 */
#include "helpers.h"

#include "classic/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pickle.dumps(list, protocol) in CPython 3.11 (generated with python3). */
static const struct sample {
	int proto;
	size_t len;
	const char *bytes;
	size_t n;
	int64_t v[18];
} samples[] = {
	{ 2, 6, "\x80\x02\x5d\x71\x00\x2e", 0, { 0 } }, /* empty */
	{ 3, 6, "\x80\x03\x5d\x71\x00\x2e", 0, { 0 } }, /* empty */
	{ 4, 5, "\x80\x04\x5d\x94\x2e", 0, { 0 } }, /* empty */
	{ 5, 5, "\x80\x05\x5d\x94\x2e", 0, { 0 } }, /* empty */
	{ 2, 9, "\x80\x02\x5d\x71\x00\x4b\x07\x61\x2e", 1, { INT64_C(7) } }, /* one */
	{ 3, 9, "\x80\x03\x5d\x71\x00\x4b\x07\x61\x2e", 1, { INT64_C(7) } }, /* one */
	{ 4, 17, "\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x4b\x07\x61\x2e", 1, { INT64_C(7) } }, /* one */
	{ 5, 17, "\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x4b\x07\x61\x2e", 1, { INT64_C(7) } }, /* one */
	{ 2, 14, "\x80\x02\x5d\x71\x00\x28\x4b\x01\x4b\x02\x4b\x03\x65\x2e", 3, { INT64_C(1), INT64_C(2), INT64_C(3) } }, /* three */
	{ 3, 14, "\x80\x03\x5d\x71\x00\x28\x4b\x01\x4b\x02\x4b\x03\x65\x2e", 3, { INT64_C(1), INT64_C(2), INT64_C(3) } }, /* three */
	{ 4, 22, "\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x4b\x01\x4b\x02\x4b\x03\x65\x2e", 3, { INT64_C(1), INT64_C(2), INT64_C(3) } }, /* three */
	{ 5, 22, "\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x4b\x01\x4b\x02\x4b\x03\x65\x2e", 3, { INT64_C(1), INT64_C(2), INT64_C(3) } }, /* three */
	{ 2, 102, "\x80\x02\x5d\x71\x00\x28\x4b\x00\x4a\xff\xff\xff\xff\x4b\xff\x4d\x00\x01\x4d\xff\xff\x4a\x00\x00\x01\x00\x4a\xff\xff\xff\x7f\x4a\x00\x00\x00\x80\x8a\x05\x00\x00\x00\x80\x00\x8a\x05\xff\xff\xff\x7f\xff\x4b\x7f\x4b\x80\x4a\x80\xff\xff\xff\x4a\x7f\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x65\x2e", 18, { INT64_C(0), INT64_C(-1), INT64_C(255), INT64_C(256), INT64_C(65535), INT64_C(65536), INT64_C(2147483647), INT64_C(-2147483648), INT64_C(2147483648), INT64_C(-2147483649), INT64_C(127), INT64_C(128), INT64_C(-128), INT64_C(-129), INT64_C(1099511627776), INT64_C(-1099511627776), INT64_C(9223372036854775807), INT64_MIN } }, /* edges */
	{ 3, 102, "\x80\x03\x5d\x71\x00\x28\x4b\x00\x4a\xff\xff\xff\xff\x4b\xff\x4d\x00\x01\x4d\xff\xff\x4a\x00\x00\x01\x00\x4a\xff\xff\xff\x7f\x4a\x00\x00\x00\x80\x8a\x05\x00\x00\x00\x80\x00\x8a\x05\xff\xff\xff\x7f\xff\x4b\x7f\x4b\x80\x4a\x80\xff\xff\xff\x4a\x7f\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x65\x2e", 18, { INT64_C(0), INT64_C(-1), INT64_C(255), INT64_C(256), INT64_C(65535), INT64_C(65536), INT64_C(2147483647), INT64_C(-2147483648), INT64_C(2147483648), INT64_C(-2147483649), INT64_C(127), INT64_C(128), INT64_C(-128), INT64_C(-129), INT64_C(1099511627776), INT64_C(-1099511627776), INT64_C(9223372036854775807), INT64_MIN } }, /* edges */
	{ 4, 110, "\x80\x04\x95\x63\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x4b\x00\x4a\xff\xff\xff\xff\x4b\xff\x4d\x00\x01\x4d\xff\xff\x4a\x00\x00\x01\x00\x4a\xff\xff\xff\x7f\x4a\x00\x00\x00\x80\x8a\x05\x00\x00\x00\x80\x00\x8a\x05\xff\xff\xff\x7f\xff\x4b\x7f\x4b\x80\x4a\x80\xff\xff\xff\x4a\x7f\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x65\x2e", 18, { INT64_C(0), INT64_C(-1), INT64_C(255), INT64_C(256), INT64_C(65535), INT64_C(65536), INT64_C(2147483647), INT64_C(-2147483648), INT64_C(2147483648), INT64_C(-2147483649), INT64_C(127), INT64_C(128), INT64_C(-128), INT64_C(-129), INT64_C(1099511627776), INT64_C(-1099511627776), INT64_C(9223372036854775807), INT64_MIN } }, /* edges */
	{ 5, 110, "\x80\x05\x95\x63\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x4b\x00\x4a\xff\xff\xff\xff\x4b\xff\x4d\x00\x01\x4d\xff\xff\x4a\x00\x00\x01\x00\x4a\xff\xff\xff\x7f\x4a\x00\x00\x00\x80\x8a\x05\x00\x00\x00\x80\x00\x8a\x05\xff\xff\xff\x7f\xff\x4b\x7f\x4b\x80\x4a\x80\xff\xff\xff\x4a\x7f\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x65\x2e", 18, { INT64_C(0), INT64_C(-1), INT64_C(255), INT64_C(256), INT64_C(65535), INT64_C(65536), INT64_C(2147483647), INT64_C(-2147483648), INT64_C(2147483648), INT64_C(-2147483649), INT64_C(127), INT64_C(128), INT64_C(-128), INT64_C(-129), INT64_C(1099511627776), INT64_C(-1099511627776), INT64_C(9223372036854775807), INT64_MIN } }, /* edges */
};

#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

/* Reads a whole pickle: the integers into v (at most cap), the count in
 * *n; the final code (0 or an error). */
static int read_all(const void *buf, size_t len, int64_t *v, size_t cap, size_t *n,
		    struct pickle_reader *r)
{
	int64_t x;
	int rc;

	pickle_reader_init(r, buf, len);
	*n = 0;
	while ((rc = pickle_next_int(r, &x)) == 1) {
		if (*n < cap)
			v[*n] = x;
		(*n)++;
	}
	return rc;
}

static int read_one(const char *bytes, size_t len, struct pickle_reader *r)
{
	int64_t v[4];
	size_t n;

	return read_all(bytes, len, v, 4, &n, r);
}

static void test_reads_what_python_writes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct pickle_reader r;
		int64_t v[18];
		size_t n;

		assert_int_equal(read_all(s->bytes, s->len, v, 18, &n, &r), 0);
		assert_int_equal(n, s->n);
		assert_memory_equal(v, s->v, n * sizeof(int64_t));
		assert_int_equal(r.proto, s->proto);
		/* the end is sticky */
		assert_int_equal(pickle_next_int(&r, &v[0]), 0);
	}
}

static void test_writes_what_python_writes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		size_t len = pickle_encode_ints(s->proto, s->v, s->n, NULL, 0);
		uint8_t *out;

		assert_int_equal(len, s->len);
		out = malloc(len); /* exactly: ASan sees a byte written past it */
		assert_int_equal(pickle_encode_ints(s->proto, s->v, s->n, out, len), len);
		assert_memory_equal(out, s->bytes, len);
		/* too small a buffer: the size, nothing written past it */
		assert_int_equal(pickle_encode_ints(s->proto, s->v, s->n, out, len - 1), len);
		free(out);
	}
}

/* Every prefix of a valid pickle is refused: the reader never takes a
 * pickle that ends early for a complete one, nor reads past the end. */
static void test_every_truncation_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];

		for (size_t k = 0; k < s->len; k++) {
			struct pickle_reader r;
			char *copy = malloc(k ? k : 1);
			int rc;

			memcpy(copy, s->bytes, k);
			rc = read_one(copy, k, &r);
			/* a frame that claims more than is left, or the bytes end */
			assert_true(rc == PICKLE_ETRUNCATED || rc == PICKLE_EFRAME);
			free(copy);
		}
	}
}

/* The pure-Python pickler ends a batch of one with APPEND. */
static void test_append_after_appends(void **state)
{
	static const char p[] = "\x80\x02]q\x00(K\x01K\x02" "eK\x03" "a.";
	struct pickle_reader r;
	int64_t v[4];
	size_t n;

	(void)state;
	assert_int_equal(read_all(p, sizeof(p) - 1, v, 4, &n, &r), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[2], 3);
}

static const struct hostile {
	const char *what;
	const char *bytes;
	size_t len;
	int err;
	const char *says; /* in pickle_describe's sentence */
} hostile[] = {
#define H(what, lit, err, says) { what, lit, sizeof(lit) - 1, err, says }
	H("os.system via REDUCE (protocol 2)",
	  "\x80\x02" "cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
	  PICKLE_EREFUSED, "GLOBAL (0x63) at byte 2"),
	H("os.system via STACK_GLOBAL (protocol 4)",
	  "\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93"
	  "\x94\x8c\x02id\x94\x85\x94R\x94.",
	  PICKLE_EREFUSED, "SHORT_BINUNICODE"),
	H("REDUCE inside the list", "\x80\x02]q\x00(K\x01R.", PICKLE_EREFUSED, "REDUCE"),
	H("a nested list", "\x80\x02]q\x00]q\x01K\x01" "aa.", PICKLE_ESHAPE, "EMPTY_LIST (0x5d) at byte 5"),
	H("a dict", "\x80\x02}q\x00K\x01K\x02s.", PICKLE_EREFUSED, "EMPTY_DICT"),
	H("a string", "\x80\x03]q\x00X\x01\x00\x00\x00" "aq\x01" "a.", PICKLE_EREFUSED, "BINUNICODE"),
	H("a float", "\x80\x02]q\x00G?\xf8\x00\x00\x00\x00\x00\x00" "a.", PICKLE_EREFUSED, "BINFLOAT"),
	H("True", "\x80\x02]q\x00\x88" "a.", PICKLE_EREFUSED, "NEWTRUE"),
	H("None", "\x80\x02]q\x00Na.", PICKLE_EREFUSED, "NONE"),
	H("a tuple", "\x80\x02K\x01K\x02\x86q\x00.", PICKLE_ESHAPE, "BININT1"),
	H("a bare int", "\x80\x02K\x05.", PICKLE_ESHAPE, "BININT1"),
	H("a memo read back", "\x80\x02]q\x00(h\x00" "e.", PICKLE_EREFUSED, "BINGET"),
	H("PROTO twice", "\x80\x02]q\x00\x80\x02.", PICKLE_ESHAPE, "PROTO"),
	H("APPEND with nothing pushed", "\x80\x02]q\x00" "a.", PICKLE_ESHAPE, "APPEND"),
	H("STOP inside MARK", "\x80\x02]q\x00(K\x01.", PICKLE_ESHAPE, "STOP"),
	H("two memo entries", "\x80\x04]\x94\x94.", PICKLE_ESHAPE, "MEMOIZE"),
	H("no opcode at all", "\x80\x02]q\x00\xff", PICKLE_EREFUSED, "0xff"),
	H("protocol 0", "(lp0\nI1\na.", PICKLE_EPROTOCOL, "protocol 0 or 1"),
	H("protocol 1", "]q\x00(K\x01K\x02" "e.", PICKLE_EPROTOCOL, "protocol 0 or 1"),
	H("protocol 6", "\x80\x06]\x94.", PICKLE_EPROTOCOL, "protocol 6"),
	H("an empty pickle", "", PICKLE_ETRUNCATED, "ends at byte 0"),
	H("bytes after STOP", "\x80\x02]q\x00.junk", PICKLE_ETRAILING, "4 bytes after STOP"),
	H("2**63 in LONG1", "\x80\x02]q\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00" "a.",
	  PICKLE_ERANGE, "64 bits"),
	H("-2**63-1 in LONG1", "\x80\x02]q\x00\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\xff" "a.",
	  PICKLE_ERANGE, "64 bits"),
	H("LONG4 with a negative length", "\x80\x02]q\x00\x8b\xff\xff\xff\xff" "a.",
	  PICKLE_ESHAPE, "LONG4"),
	H("LONG4 longer than the pickle", "\x80\x02]q\x00\x8b\x00\x00\x01\x00\x01" "a.",
	  PICKLE_ETRUNCATED, "ends"),
	H("FRAME at protocol 2", "\x80\x02\x95\x03\x00\x00\x00\x00\x00\x00\x00]q\x00.",
	  PICKLE_EFRAME, "before protocol 4"),
	H("FRAME longer than the rest", "\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00]\x94.",
	  PICKLE_EFRAME, "FRAME"),
	H("FRAME inside a frame",
	  "\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x95\x01\x00\x00\x00\x00\x00\x00\x00.",
	  PICKLE_EFRAME, "FRAME"),
	H("BININT across a frame's end",
	  "\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00]\x94J\x01\x00\x00\x00" "a.", PICKLE_EFRAME,
	  "BININT"),
#undef H
};

static void test_hostile_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		struct pickle_reader r;
		char *copy = malloc(h->len ? h->len : 1); /* exact: over-reads are caught */
		char why[160];
		int64_t v;
		int rc;

		memcpy(copy, h->bytes, h->len);
		rc = read_one(copy, h->len, &r);
		if (rc != h->err)
			fail_msg("%s: %d (%s), expected %d", h->what, rc, pickle_strerror(rc), h->err);
		pickle_describe(&r, rc, why, sizeof(why));
		if (!strstr(why, h->says))
			fail_msg("%s: \"%s\" lacks \"%s\"", h->what, why, h->says);
		assert_int_equal(pickle_next_int(&r, &v), rc); /* sticky */
		free(copy);
	}
}

static void test_unusual_but_valid(void **state)
{
	/* LONG1 with redundant sign bytes; LONG1 of 0 bytes; LONG4; LONG_BINPUT;
	 * no memo entry; an empty MARK batch; a frame that ends before STOP. */
	static const char p1[] = "\x80\x02]r\x00\x00\x00\x00(\x8a\x0a\x05\x00\x00\x00\x00\x00\x00"
				 "\x00\x00\x00\x8a\x00\x8b\x02\x00\x00\x00\xfe\xff" "e(e.";
	static const char p2[] = "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94K\x07" "a.";
	static const char p3[] = "\x80\x02]K\x09" "a.";
	struct pickle_reader r;
	int64_t v[4];
	size_t n;

	(void)state;
	assert_int_equal(read_all(p1, sizeof(p1) - 1, v, 4, &n, &r), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0], 5);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], -2);
	assert_int_equal(read_all(p2, sizeof(p2) - 1, v, 4, &n, &r), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], 7);
	assert_int_equal(read_all(p3, sizeof(p3) - 1, v, 4, &n, &r), 0);
	assert_int_equal(v[0], 9);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

/* list(range(100000)) at protocol 4: CPython's frames are 65537, 65537,
 * 65536... bytes at offsets 2, 65548, 131094 and the pickle 368931 bytes
 * (pickletools.genops); APPENDS batches of 1000. Read back whole. */
static void test_large_list_frames(void **state)
{
	size_t n = 100000, len, k;
	int64_t *v = malloc(n * sizeof(*v)), x;
	uint8_t *out;
	struct pickle_reader r;
	int rc;

	(void)state;
	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)i;
	len = pickle_encode_ints(4, v, n, NULL, 0);
	assert_int_equal(len, 368931);
	out = malloc(len);
	pickle_encode_ints(4, v, n, out, len);
	assert_int_equal(out[2], 0x95);
	assert_int_equal(le64(out + 3), 65537);
	assert_int_equal(out[65548], 0x95);
	assert_int_equal(le64(out + 65549), 65537);
	assert_int_equal(out[131094], 0x95);
	assert_int_equal(le64(out + 131095), 65536);
	pickle_reader_init(&r, out, len);
	for (k = 0; (rc = pickle_next_int(&r, &x)) == 1; k++)
		assert_int_equal(x, (int64_t)k);
	assert_int_equal(rc, 0);
	assert_int_equal(k, n);
	/* protocol 2: no frames, 100 MARK ... APPENDS batches */
	len = pickle_encode_ints(2, v, n, NULL, 0);
	free(out);
	out = malloc(len);
	pickle_encode_ints(2, v, n, out, len);
	k = 0;
	for (size_t i = 0; i < len; i++)
		k += out[i] == 'e';
	assert_true(k >= 100);
	pickle_reader_init(&r, out, len);
	for (k = 0; (rc = pickle_next_int(&r, &x)) == 1; k++)
		;
	assert_int_equal(rc, 0);
	assert_int_equal(k, n);
	free(out);
	free(v);
}

static void test_opcode_names(void **state)
{
	(void)state;
	assert_string_equal(pickle_opcode_name(0x52), "REDUCE");
	assert_string_equal(pickle_opcode_name(0x93), "STACK_GLOBAL");
	assert_null(pickle_opcode_name(0xff));
	assert_non_null(strstr(pickle_strerror(PICKLE_ERANGE), "64 bits"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_what_python_writes),
		cmocka_unit_test(test_writes_what_python_writes),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_append_after_appends),
		cmocka_unit_test(test_hostile_refused),
		cmocka_unit_test(test_unusual_but_valid),
		cmocka_unit_test(test_large_list_frames),
		cmocka_unit_test(test_opcode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
