/*
 * test_plog.c - CRC-32C (base/crc32c.h) and the broker's log of batches
 * (persist/plog.h): the check values, incremental calls composing and
 * slicing-by-8 against the bit-by-bit definition at every length and
 * alignment; the file's header and framing, append and replay in order
 * across the replay's read buffer, a torn end cut at every byte, damage
 * (checksum, length, a refused batch) cut and saved to ".damaged", wrong
 * magic or version refused with the file untouched, short files rewritten,
 * compaction (commit, abort, a stale ".new", a failed commit), the limits
 * of a batch, a failed append cut back, PLOG_SYNC_DATA, relative paths.
 * Every test works in a fresh directory that must be empty at the end.
 */
#include "helpers.h"

#include "base/crc32c.h"
#include "persist/plog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NO_REFUSAL ((size_t)-1)

/* ---- fault injection ---- */

/* plog's writev(2) calls land here: a definition in the executable comes
 * before libc's. While fault_max is set, every other call fails with
 * EINTR and the others write at most fault_max bytes, so plog must retry
 * and resume mid-iovec. */
static size_t fault_max;
static unsigned fault_calls;

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec cut[8];
	size_t left = fault_max;
	int n = 0;

	if (!fault_max || iovcnt > 8)
		return syscall(SYS_writev, fd, iov, iovcnt);
	if (fault_calls++ % 2 == 0) {
		errno = EINTR;
		return -1;
	}
	for (; n < iovcnt && left; n++) {
		cut[n] = iov[n];
		if (cut[n].iov_len > left)
			cut[n].iov_len = left;
		left -= cut[n].iov_len;
	}
	return syscall(SYS_writev, fd, cut, n);
}

/* ---- CRC-32C ---- */

/* The definition, one bit at a time: what the tables must agree with. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? crc >> 1 ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_crc32c_check_values(void **state)
{
	uint8_t buf[32];

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI), appendix B.4 */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc32c(0, buf, sizeof(buf)), 0x8A9136AA);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc32c(0, buf, sizeof(buf)), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32c(0, buf, sizeof(buf)), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(0, buf, sizeof(buf)), 0x113FDB5C);
}

/* Every length at every alignment (the 8-byte steps and the tail), and
 * every split of a buffer into two and three calls. */
static void test_crc32c_composes(void **state)
{
	uint8_t buf[300 + 8];
	uint32_t whole;

	(void)state;
	fill_pattern(buf, sizeof(buf), 7);
	/* crc32c may be the processor's instruction: both it and the tables
	 * agree with the bit-by-bit definition. */
	for (size_t align = 0; align < 8; align++) {
		for (size_t len = 0; len <= 300; len++) {
			assert_int_equal(crc32c(0, buf + align, len),
					 crc_bitwise(0, buf + align, len));
			assert_int_equal(crc32c_portable(0, buf + align, len),
					 crc_bitwise(0, buf + align, len));
		}
	}
	whole = crc32c(0, buf, 300);
	for (size_t a = 0; a <= 300; a++) {
		assert_int_equal(crc32c(crc32c(0, buf, a), buf + a, 300 - a), whole);
		for (size_t b = a; b <= 300; b += 13)
			assert_int_equal(crc32c(crc32c(crc32c(0, buf, a), buf + a, b - a), buf + b,
						300 - b),
					 whole);
	}
}

/* ---- the test directory ---- */

struct tmp {
	char dir[64];
	char log[128];
	char log_new[160];
	char log_damaged[160];
	char other[128];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/agora-test-plog-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->log, sizeof(t->log), "%s/agora.log", t->dir);
	snprintf(t->log_new, sizeof(t->log_new), "%s.new", t->log);
	snprintf(t->log_damaged, sizeof(t->log_damaged), "%s.damaged", t->log);
	snprintf(t->other, sizeof(t->other), "%s/other", t->dir);
	*state = t;
	return 0;
}

/* Removes what the tests make (files, or directories standing in their
 * place), then the directory: a file plog left behind fails the test. */
static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	const char *paths[] = { t->log, t->log_new, t->log_damaged, t->other };
	int ret;

	fault_max = 0; /* a test that failed with faults on must not spread them */

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		if (unlink(paths[i]) && errno != ENOENT)
			rmdir(paths[i]);
	ret = rmdir(t->dir);
	if (ret)
		fprintf(stderr, "could not remove %s: %s\n", t->dir, strerror(errno));
	free(t);
	return ret;
}

/* ---- files ---- */

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static off_t size_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* The whole file, allocated; its length in *len. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t size = (size_t)size_of(path);
	uint8_t *buf = malloc(size + 1);

	assert_non_null(f);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, size, f), size);
	fclose(f);
	*len = size;
	return buf;
}

static void spill(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The file holds exactly buf. */
static void assert_file_is(const char *path, const uint8_t *buf, size_t len)
{
	size_t got_len;
	uint8_t *got = slurp(path, &got_len);

	assert_int_equal(got_len, len);
	assert_memory_equal(got, buf, len);
	free(got);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const uint8_t header[PLOG_HEADER_SIZE] = { 'A', 'G', 'O', 'R', 'A', 'L', 'O', 'G',
						  1,   0,   0,   0,   0,   0,   0,   0 };

/* ---- batches: batch i's body is a pattern of i, so order shows ---- */

static void body_fill(uint8_t *p, size_t len, size_t i)
{
	for (size_t j = 0; j < len; j++)
		p[j] = (uint8_t)(i * 131 + j * 7 + (j >> 8) + 1);
}

static bool body_is(const uint8_t *p, size_t len, size_t i)
{
	for (size_t j = 0; j < len; j++)
		if (p[j] != (uint8_t)(i * 131 + j * 7 + (j >> 8) + 1))
			return false;
	return true;
}

/* What the replay callback saw, against the lengths expected in order. */
struct seen {
	const size_t *lens;
	size_t n;
	size_t calls;
	size_t bad;       /* calls whose body was not batch `call`'s */
	size_t refuse_at; /* the call to refuse, or NO_REFUSAL */
};

static int on_batch(void *ctx, const uint8_t *body, size_t len)
{
	struct seen *s = ctx;
	size_t i;

	if (!s) /* a test that only wants the log open */
		return 0;
	i = s->calls++;
	if (i == s->refuse_at)
		return 1;
	if (i >= s->n || len != s->lens[i] || !body_is(body, len, i))
		s->bad++;
	return 0;
}

static struct plog *open_log(const char *path, enum plog_sync sync, struct seen *s,
			     struct plog_replay_stats *st)
{
	struct plog *l = NULL;
	char err[512] = "";
	int ret = plog_open(path, sync, on_batch, s, &l, st, err, sizeof(err));

	if (ret)
		fail_msg("plog_open(%s): %d: %s", path, ret, err);
	assert_non_null(l);
	return l;
}

/* Opens path, which must replay batches 0 .. n-1 of lens with nothing cut. */
static struct plog *reopen_expect(const char *path, const size_t *lens, size_t n)
{
	struct seen s = { lens, n, 0, 0, NO_REFUSAL };
	struct plog_replay_stats st;
	struct plog *l = open_log(path, PLOG_SYNC_NONE, &s, &st);

	assert_int_equal(s.calls, n);
	assert_int_equal(s.bad, 0);
	assert_int_equal(st.batches, n);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.damaged, 0);
	assert_int_equal(st.bytes, plog_size(l));
	assert_int_equal(st.bytes, size_of(path));
	return l;
}

/* Batch i's body, len bytes (the caller frees it). */
static uint8_t *batch_body(size_t i, size_t len)
{
	uint8_t *body = malloc(len);

	assert_non_null(body);
	body_fill(body, len, i);
	return body;
}

static void append_batch(struct plog *l, size_t i, size_t len)
{
	uint8_t *body = batch_body(i, len);
	char err[512] = "";
	int ret = plog_append(l, body, len, err, sizeof(err));

	free(body);
	if (ret)
		fail_msg("plog_append(%zu bytes): %d: %s", len, ret, err);
}

static void rewrite_batch(struct plog_rewrite *w, size_t i, size_t len)
{
	uint8_t *body = batch_body(i, len);
	char err[512] = "";
	int ret = plog_rewrite_add(w, body, len, err, sizeof(err));

	free(body);
	if (ret)
		fail_msg("plog_rewrite_add(%zu bytes): %d: %s", len, ret, err);
}

static struct plog_rewrite *rewrite_begin(struct plog *l)
{
	struct plog_rewrite *w = NULL;
	char err[512] = "";
	int ret = plog_rewrite_begin(l, &w, err, sizeof(err));

	if (ret)
		fail_msg("plog_rewrite_begin: %d: %s", ret, err);
	assert_non_null(w);
	return w;
}

/* A log of batches 0 .. n-1; ends[k] is where batch k starts (ends[0] the
 * header's end, ends[n] the file's). */
static void build_log(const char *path, const size_t *lens, size_t n, uint64_t *ends)
{
	struct plog *l = open_log(path, PLOG_SYNC_NONE, NULL, NULL);

	ends[0] = PLOG_HEADER_SIZE;
	for (size_t k = 0; k < n; k++) {
		append_batch(l, k, lens[k]);
		ends[k + 1] = ends[k] + PLOG_BATCH_HEADER + lens[k];
		assert_int_equal(plog_size(l), ends[k + 1]);
	}
	plog_close(l);
}

/* The batches used where the sizes don't matter: one of a single byte,
 * some crossing 256. */
static const size_t std_lens[] = { 5, 20, 1, 300, 7 };
#define STD_N ARRAY_SIZE(std_lens)

/* ---- creating, appending, replaying ---- */

static void test_create_new(void **state)
{
	struct tmp *t = *state;
	struct plog_replay_stats st;
	struct seen s = { NULL, 0, 0, 0, NO_REFUSAL };
	struct plog *l;

	memset(&st, 0xaa, sizeof(st));
	l = open_log(t->log, PLOG_SYNC_NONE, &s, &st);
	assert_int_equal(s.calls, 0);
	assert_int_equal(st.batches, 0);
	assert_int_equal(st.bytes, PLOG_HEADER_SIZE);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.damaged, 0);
	assert_int_equal(plog_size(l), PLOG_HEADER_SIZE);
	assert_string_equal(plog_path(l), t->log);
	assert_file_is(t->log, header, sizeof(header));
	assert_false(exists(t->log_new));
	plog_close(l);
	plog_close(NULL);
	l = reopen_expect(t->log, NULL, 0);
	plog_close(l);
}

/* The bytes on disk are the documented format, and a reopen gives the
 * same batches back in order. */
static void test_append_reopen_replays(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	uint8_t body[300];
	uint8_t *file;
	size_t len;
	struct plog *l;

	build_log(t->log, std_lens, STD_N, ends);
	file = slurp(t->log, &len);
	assert_int_equal(len, ends[STD_N]);
	assert_memory_equal(file, header, sizeof(header));
	for (size_t k = 0; k < STD_N; k++) {
		const uint8_t *b = file + ends[k];

		body_fill(body, std_lens[k], k);
		assert_int_equal(get_le32(b), std_lens[k]);
		assert_int_equal(get_le32(b + 4), crc32c(0, body, std_lens[k]));
		assert_memory_equal(b + PLOG_BATCH_HEADER, body, std_lens[k]);
	}
	free(file);
	l = reopen_expect(t->log, std_lens, STD_N);
	assert_int_equal(plog_size(l), ends[STD_N]);
	plog_close(l);
}

/* Enough batches to refill the replay's buffer many times, small ones
 * split across its reads, and big ones that make it grow. */
static void test_many_batches(void **state)
{
	struct tmp *t = *state;
	static size_t lens[3000];
	struct plog *l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		lens[i] = i % 997 + 1;
		if (i == 1000)
			lens[i] = 200 * 1024;
		if (i == 2999)
			lens[i] = 1024 * 1024 + 3;
		append_batch(l, i, lens[i]);
	}
	plog_close(l);
	l = reopen_expect(t->log, lens, ARRAY_SIZE(lens));
	plog_close(l);
}

/* ---- a torn end ---- */

/* The file cut at every byte from the header's end to the last batch's
 * end: the whole batches before the cut replay, the rest is cut without a
 * ".damaged", and a batch appended next replays after them. */
static void test_torn_tail_every_offset(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	size_t lens[STD_N + 1], len;
	uint8_t *full;

	build_log(t->log, std_lens, STD_N, ends);
	full = slurp(t->log, &len);
	memcpy(lens, std_lens, sizeof(std_lens));
	for (uint64_t cut = PLOG_HEADER_SIZE; cut <= len; cut++) {
		struct seen s = { std_lens, STD_N, 0, 0, NO_REFUSAL };
		struct plog_replay_stats st;
		struct plog *l;
		size_t k = 0;

		while (k < STD_N && ends[k + 1] <= cut)
			k++;
		spill(t->log, full, (size_t)cut);
		l = open_log(t->log, PLOG_SYNC_NONE, &s, &st);
		assert_int_equal(s.calls, k);
		assert_int_equal(s.bad, 0);
		assert_int_equal(st.batches, k);
		assert_int_equal(st.dropped, cut - ends[k]);
		assert_int_equal(st.damaged, 0);
		assert_int_equal(st.bytes, ends[k]);
		assert_int_equal(plog_size(l), ends[k]);
		assert_int_equal(size_of(t->log), ends[k]);
		assert_false(exists(t->log_damaged));
		lens[k] = 9;
		append_batch(l, k, lens[k]);
		plog_close(l);
		l = reopen_expect(t->log, lens, k + 1);
		plog_close(l);
		if (k < STD_N)
			lens[k] = std_lens[k];
	}
	free(full);
}

/* A length field that reaches past the end of the file looks just like a
 * torn write (plog.h says so): cut, but nothing saved. */
static void test_length_past_end_is_torn(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	struct seen s = { std_lens, STD_N, 0, 0, NO_REFUSAL };
	struct plog_replay_stats st;
	struct plog *l;
	uint8_t *file;
	size_t len;

	build_log(t->log, std_lens, STD_N, ends);
	file = slurp(t->log, &len);
	set_le32(file + ends[1], (uint32_t)(len - ends[1])); /* one byte past the end */
	spill(t->log, file, len);
	free(file);
	l = open_log(t->log, PLOG_SYNC_NONE, &s, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.damaged, 0);
	assert_int_equal(st.dropped, len - ends[1]);
	assert_false(exists(t->log_damaged));
	plog_close(l);
}

/* ---- damage ---- */

/* Opens a log whose batch `at` is damaged: batches before it replay, it
 * and the rest are cut and saved in ".damaged", a new batch follows. */
static void expect_damaged_at(struct tmp *t, const uint8_t *orig, size_t len,
			      const uint64_t *ends, size_t at, struct seen *s)
{
	struct plog_replay_stats st;
	size_t lens[STD_N];
	struct plog *l = open_log(t->log, PLOG_SYNC_NONE, s, &st);

	assert_int_equal(s->bad, 0);
	assert_int_equal(st.batches, at);
	assert_int_equal(st.damaged, 1);
	assert_int_equal(st.dropped, len - ends[at]);
	assert_int_equal(st.bytes, ends[at]);
	assert_int_equal(plog_size(l), ends[at]);
	assert_int_equal(size_of(t->log), ends[at]);
	assert_file_is(t->log, orig, ends[at]);
	memcpy(lens, std_lens, sizeof(lens));
	lens[at] = 4;
	append_batch(l, at, lens[at]);
	plog_close(l);
	l = reopen_expect(t->log, lens, at + 1);
	plog_close(l);
}

/* The standard log with the n bytes at off replaced by patch (flip: xored
 * with it) must be damaged at batch at, and ".damaged" hold its bytes from
 * there on. */
static void patched_damaged_at(struct tmp *t, size_t off, const uint8_t *patch, size_t n,
			       bool flip, size_t at)
{
	struct seen s = { std_lens, STD_N, 0, 0, NO_REFUSAL };
	uint64_t ends[STD_N + 1];
	size_t len;
	uint8_t *orig;

	build_log(t->log, std_lens, STD_N, ends);
	orig = slurp(t->log, &len);
	for (size_t i = 0; i < n; i++)
		orig[off + i] = flip ? orig[off + i] ^ patch[i] : patch[i];
	spill(t->log, orig, len);
	expect_damaged_at(t, orig, len, ends, at, &s);
	assert_file_is(t->log_damaged, orig + ends[at], len - ends[at]);
	assert_int_equal(unlink(t->log), 0);
	free(orig);
}

/* The standard log with its byte at off flipped. */
static void corrupt_and_check(struct tmp *t, size_t off, size_t at)
{
	const uint8_t bit = 0x40;

	patched_damaged_at(t, off, &bit, 1, true, at);
}

/* A flipped byte in a middle batch's body or checksum, or in the last
 * batch's (whole, so not torn): damaged there. A ".damaged" from before
 * is replaced. */
static void test_bad_checksum(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];

	spill(t->log_damaged, "an older one", 12);
	build_log(t->log, std_lens, STD_N, ends);
	assert_int_equal(unlink(t->log), 0);
	corrupt_and_check(t, ends[2] + PLOG_BATCH_HEADER, 2);
	corrupt_and_check(t, ends[3] + PLOG_BATCH_HEADER + 299, 3);
	corrupt_and_check(t, ends[1] + 4, 1);
	corrupt_and_check(t, ends[1] + 7, 1);
	corrupt_and_check(t, ends[0] + PLOG_BATCH_HEADER + 2, 0);
	corrupt_and_check(t, ends[STD_N - 1] + PLOG_BATCH_HEADER, STD_N - 1);
}

/* Length fields of 0 and above PLOG_MAX_BATCH (also at the very end of
 * the file): damaged. */
static void test_bad_length(void **state)
{
	struct tmp *t = *state;
	const uint32_t bad[] = { PLOG_MAX_BATCH + 1, 0, UINT32_MAX };
	uint64_t ends[STD_N + 1];

	build_log(t->log, std_lens, STD_N, ends);
	assert_int_equal(unlink(t->log), 0);
	for (size_t b = 0; b < ARRAY_SIZE(bad); b++) {
		for (size_t at = 1; at < STD_N; at += 3) {
			uint8_t field[4];

			set_le32(field, bad[b]);
			patched_damaged_at(t, ends[at], field, 4, false, at);
		}
	}
}

/* A batch the callback cannot understand stops the replay as damage:
 * the callback saw it, stats.batches counts only those before. */
static void test_callback_refuses(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	struct seen s = { std_lens, STD_N, 0, 0, 2 };
	size_t len;
	uint8_t *orig;

	build_log(t->log, std_lens, STD_N, ends);
	orig = slurp(t->log, &len);
	expect_damaged_at(t, orig, len, ends, 2, &s);
	assert_int_equal(s.calls, 3);
	assert_file_is(t->log_damaged, orig + ends[2], len - ends[2]);
	free(orig);
}

/* When the damaged end cannot be saved, nothing is cut. */
static void test_damaged_save_fails(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	struct plog *l = NULL;
	char err[512] = "";
	size_t len;
	uint8_t *orig;

	build_log(t->log, std_lens, STD_N, ends);
	orig = slurp(t->log, &len);
	orig[ends[1] + PLOG_BATCH_HEADER] ^= 1;
	spill(t->log, orig, len);
	assert_int_equal(mkdir(t->log_damaged, 0700), 0);
	assert_int_equal(plog_open(t->log, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, err,
				   sizeof(err)),
			 -EISDIR);
	assert_null(l);
	assert_non_null(strstr(err, t->log_damaged));
	assert_file_is(t->log, orig, len);
	free(orig);
}

/* ---- files that are not (yet) logs ---- */

/* A refused file stays as it is, and so does a ".new" beside it. */
static void expect_refused(struct tmp *t, const uint8_t *bytes, size_t len, int code)
{
	struct plog *l = NULL;
	char err[512] = "";

	spill(t->log, bytes, len);
	spill(t->log_new, "snap", 4);
	assert_int_equal(plog_open(t->log, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, err,
				   sizeof(err)),
			 code);
	assert_null(l);
	assert_non_null(strstr(err, t->log));
	assert_file_is(t->log, bytes, len);
	assert_file_is(t->log_new, (const uint8_t *)"snap", 4);
}

static void test_bad_magic(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	size_t len;
	uint8_t *file;

	build_log(t->log, std_lens, STD_N, ends);
	file = slurp(t->log, &len);
	file[7] = 'X';
	expect_refused(t, file, len, -EPROTO);
	memcpy(file, "SQLite format 3", 16);
	expect_refused(t, file, len, -EPROTO);
	expect_refused(t, file, PLOG_HEADER_SIZE, -EPROTO);
	free(file);
}

static void test_other_version(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	size_t len;
	uint8_t *file;

	build_log(t->log, std_lens, STD_N, ends);
	file = slurp(t->log, &len);
	set_le32(file + 8, PLOG_VERSION + 1);
	expect_refused(t, file, len, -EPROTO);
	set_le32(file + 8, 0);
	expect_refused(t, file, len, -EPROTO);
	free(file);
}

/* A file shorter than a header that is a beginning of one (or zeros: a
 * crash while creating it) is rewritten and usable; another is refused. */
static void test_short_file(void **state)
{
	struct tmp *t = *state;
	const uint8_t zeros[10] = { 0 };
	const size_t lens[] = { 6 };
	struct plog_replay_stats st;
	struct plog *l;

	for (size_t cut = 0; cut <= sizeof(header); cut++) {
		spill(t->log, cut < sizeof(header) ? header : zeros,
		      cut < sizeof(header) ? cut : sizeof(zeros));
		l = open_log(t->log, PLOG_SYNC_NONE, NULL, &st);
		assert_int_equal(st.batches, 0);
		assert_int_equal(st.bytes, PLOG_HEADER_SIZE);
		assert_int_equal(st.dropped, 0);
		assert_int_equal(st.damaged, 0);
		assert_file_is(t->log, header, sizeof(header));
		append_batch(l, 0, lens[0]);
		plog_close(l);
		l = reopen_expect(t->log, lens, 1);
		plog_close(l);
		assert_false(exists(t->log_new));
		assert_int_equal(unlink(t->log), 0);
	}
	expect_refused(t, (const uint8_t *)"hello\n", 6, -EPROTO);
	expect_refused(t, (const uint8_t *)"AGORALOG\2", 9, -EPROTO);
}

/* What cannot be opened at all: the error names the path. */
static void test_open_errors(void **state)
{
	struct tmp *t = *state;
	char path[200], err[512] = "";
	struct plog *l = NULL;

	snprintf(path, sizeof(path), "%s/missing/agora.log", t->dir);
	assert_int_equal(plog_open(path, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, err,
				   sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(plog_open(t->dir, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, err,
				   sizeof(err)),
			 -EISDIR);
	assert_non_null(strstr(err, t->dir));
	assert_int_equal(mkfifo(t->other, 0600), 0);
	err[0] = '\0';
	assert_int_equal(plog_open(t->other, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, err,
				   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, t->other));
	/* no err buffer: still the code */
	assert_int_equal(plog_open(t->dir, PLOG_SYNC_NONE, on_batch, NULL, &l, NULL, NULL, 0),
			 -EISDIR);
	assert_null(l);
}

/* ---- compaction ---- */

/* After a commit the file holds the snapshot only; appends made during
 * the rewrite went with the old file; appends after it follow the
 * snapshot. */
static void test_rewrite_commit(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	const size_t lens[] = { 3, 40, 11 };
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l;

	build_log(t->log, std_lens, STD_N, ends);
	l = reopen_expect(t->log, std_lens, STD_N);
	w = rewrite_begin(l);
	assert_true(exists(t->log_new));
	assert_int_equal(size_of(t->log_new), PLOG_HEADER_SIZE);
	rewrite_batch(w, 0, lens[0]);
	append_batch(l, STD_N, 50); /* to the old file, replaced below */
	rewrite_batch(w, 1, lens[1]);
	assert_int_equal(plog_size(l), ends[STD_N] + PLOG_BATCH_HEADER + 50);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
	assert_false(exists(t->log_new));
	assert_int_equal(plog_size(l), PLOG_HEADER_SIZE + 2 * PLOG_BATCH_HEADER + 3 + 40);
	assert_int_equal(size_of(t->log), plog_size(l));
	append_batch(l, 2, lens[2]);
	assert_int_equal(size_of(t->log), plog_size(l));
	/* a second rewrite works once the first is over */
	plog_close(l);
	l = reopen_expect(t->log, lens, 3);
	w = rewrite_begin(l);
	rewrite_batch(w, 0, lens[0]);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
	plog_close(l);
	l = reopen_expect(t->log, lens, 1);
	plog_close(l);
}

/* A rewrite written by a forked child (plog.h): the child's batches, then
 * the log's batches appended meanwhile, copied in two steps (a worker's,
 * then the rest at the commit), make the new log; the replay sees them in
 * that order. */
static void test_rewrite_by_a_child(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	/* batches 0-1 the snapshot's, 2-4 appended meanwhile */
	const size_t lens[] = { 3, 40, 11, 1, 300 };
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l;
	uint64_t from, mid;
	int st;
	pid_t pid;

	build_log(t->log, std_lens, STD_N, ends);
	l = reopen_expect(t->log, std_lens, STD_N);
	w = rewrite_begin(l);
	from = plog_size(l);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* no cmocka here: the status says it */
		for (size_t i = 0; i < 2; i++) {
			uint8_t *body = batch_body(i, lens[i]);

			if (plog_rewrite_add(w, body, lens[i], err, sizeof(err)))
				_exit(1);
			free(body);
		}
		_exit(plog_rewrite_sync(w, err, sizeof(err)) ? 1 : 0);
	}
	append_batch(l, 2, lens[2]); /* while the child writes */
	mid = plog_size(l);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	append_batch(l, 3, lens[3]);
	assert_int_equal(plog_rewrite_adopt(w, err, sizeof(err)), 0);
	assert_int_equal(plog_rewrite_copy(w, from, mid, err, sizeof(err)), 0);
	append_batch(l, 4, lens[4]);
	assert_int_equal(plog_rewrite_copy(w, mid, plog_size(l), err, sizeof(err)), 0);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
	assert_false(exists(t->log_new));
	assert_int_equal(size_of(t->log), plog_size(l));
	append_batch(l, 5, 7); /* appends go on after it */
	plog_close(l);
	{
		const size_t all[] = { 3, 40, 11, 1, 300, 7 };

		l = reopen_expect(t->log, all, ARRAY_SIZE(all));
	}
	/* a range that is not the log's is refused, the file untouched */
	w = rewrite_begin(l);
	assert_int_equal(plog_rewrite_copy(w, 0, 8, err, sizeof(err)), -EINVAL);
	assert_int_equal(plog_rewrite_copy(w, plog_size(l), plog_size(l) - 1, err,
					   sizeof(err)), -EINVAL);
	plog_rewrite_abort(w);
	plog_close(l);
}

/* An empty snapshot is a log with no batches. */
static void test_rewrite_empty(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	char err[512] = "";
	struct plog *l;

	build_log(t->log, std_lens, STD_N, ends);
	l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);
	assert_int_equal(plog_rewrite_commit(rewrite_begin(l), err, sizeof(err)), 0);
	assert_file_is(t->log, header, sizeof(header));
	plog_close(l);
}

static void test_rewrite_abort(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	size_t lens[STD_N + 1], len;
	struct plog_rewrite *w;
	struct plog *l;
	uint8_t *orig;

	build_log(t->log, std_lens, STD_N, ends);
	orig = slurp(t->log, &len);
	l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);
	w = rewrite_begin(l);
	rewrite_batch(w, 0, 77);
	plog_rewrite_abort(w);
	plog_rewrite_abort(NULL);
	assert_false(exists(t->log_new));
	assert_file_is(t->log, orig, len);
	assert_int_equal(plog_size(l), len);
	memcpy(lens, std_lens, sizeof(std_lens));
	lens[STD_N] = 12;
	append_batch(l, STD_N, lens[STD_N]);
	plog_close(l);
	l = reopen_expect(t->log, lens, STD_N + 1);
	plog_close(l);
	free(orig);
}

/* One rewrite at a time; closing the log aborts an unfinished one. */
static void test_rewrite_busy_and_close(void **state)
{
	struct tmp *t = *state;
	struct plog_rewrite *w, *w2 = NULL;
	char err[512] = "";
	struct plog *l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);

	w = rewrite_begin(l);
	assert_int_equal(plog_rewrite_begin(l, &w2, err, sizeof(err)), -EBUSY);
	assert_null(w2);
	assert_non_null(strstr(err, t->log));
	rewrite_batch(w, 0, 5);
	plog_close(l);
	assert_false(exists(t->log_new));
	assert_file_is(t->log, header, sizeof(header));
}

/* A ".new" left by a crash during a rewrite is removed at open. */
static void test_stale_new_removed(void **state)
{
	struct tmp *t = *state;
	uint64_t ends[STD_N + 1];
	struct plog *l;

	build_log(t->log, std_lens, STD_N, ends);
	spill(t->log_new, header, 12);
	l = reopen_expect(t->log, std_lens, STD_N);
	assert_false(exists(t->log_new));
	plog_close(l);
}

/* A commit whose rename fails (a directory took the log's name) acts as
 * an abort: ".new" removed, the log still takes appends. */
static void test_rewrite_commit_fails(void **state)
{
	struct tmp *t = *state;
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);

	append_batch(l, 0, 10);
	w = rewrite_begin(l);
	rewrite_batch(w, 0, 3);
	assert_int_equal(unlink(t->log), 0);
	assert_int_equal(mkdir(t->log, 0700), 0);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, t->log_new));
	assert_false(exists(t->log_new));
	append_batch(l, 1, 10);
	assert_int_equal(plog_size(l), PLOG_HEADER_SIZE + 2 * (PLOG_BATCH_HEADER + 10));
	w = rewrite_begin(l); /* the failed one is over */
	plog_rewrite_abort(w);
	plog_close(l);
}

/* ---- limits, failures, durability ---- */

static void test_append_bad_length(void **state)
{
	struct tmp *t = *state;
	uint8_t body[8] = { 1 };
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);

	append_batch(l, 0, PLOG_BATCH_HEADER);
	assert_int_equal(plog_append(l, body, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, t->log));
	/* refused on its length alone: body is not read */
	assert_int_equal(plog_append(l, body, (size_t)PLOG_MAX_BATCH + 1, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(plog_append(l, body, 0, NULL, 0), -EINVAL);
	w = rewrite_begin(l);
	err[0] = '\0';
	assert_int_equal(plog_rewrite_add(w, body, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, t->log_new));
	assert_int_equal(plog_rewrite_add(w, body, (size_t)PLOG_MAX_BATCH + 1, err, sizeof(err)),
			 -EINVAL);
	plog_rewrite_abort(w);
	assert_int_equal(plog_size(l), PLOG_HEADER_SIZE + 2 * PLOG_BATCH_HEADER);
	plog_close(l);
	l = reopen_expect(t->log, (const size_t[]){ PLOG_BATCH_HEADER }, 1);
	plog_close(l);
}

/* Appends while the file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) stands
 * in for a full disk; the limit is lifted before returning. */
static int append_limited(struct plog *l, rlim_t limit, size_t i, size_t len)
{
	struct rlimit old, lim;
	uint8_t *body = malloc(len);
	char err[512] = "";
	int ret;

	assert_non_null(body);
	body_fill(body, len, i);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ret = plog_append(l, body, len, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	free(body);
	if (ret)
		assert_non_null(strstr(err, plog_path(l)));
	return ret;
}

/* A failed append (a short write then an error, or an error at once)
 * leaves no partial batch, and the next append works. */
static void test_append_failure_cut_back(void **state)
{
	struct tmp *t = *state;
	const size_t lens[] = { 10, 100, 30 };
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	uint64_t size;
	struct plog *l = open_log(t->log, PLOG_SYNC_DATA, NULL, NULL);

	append_batch(l, 0, lens[0]);
	size = plog_size(l);
	assert_int_equal(append_limited(l, (rlim_t)size + 20, 1, lens[1]), -EFBIG);
	assert_int_equal(plog_size(l), size);
	assert_int_equal(size_of(t->log), size);
	assert_int_equal(append_limited(l, (rlim_t)size, 1, lens[1]), -EFBIG);
	assert_int_equal(size_of(t->log), size);
	append_batch(l, 1, lens[1]);
	append_batch(l, 2, lens[2]);
	signal(SIGXFSZ, old_handler);
	plog_close(l);
	l = reopen_expect(t->log, lens, 3);
	plog_close(l);
}

/* Writes interrupted (EINTR) and cut short at every size around the
 * batch header's: the log and a snapshot still hold every byte. */
static void test_short_writes_and_eintr(void **state)
{
	struct tmp *t = *state;
	const size_t maxes[] = { 1, 3, 7, 8, 9, 64 };
	size_t lens[STD_N * 2];
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l;

	for (size_t m = 0; m < ARRAY_SIZE(maxes); m++) {
		fault_max = maxes[m];
		fault_calls = 0;
		l = open_log(t->log, PLOG_SYNC_NONE, NULL, NULL);
		w = rewrite_begin(l);
		for (size_t i = 0; i < STD_N; i++)
			rewrite_batch(w, i, std_lens[i]);
		assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
		for (size_t i = 0; i < STD_N; i++) {
			lens[i] = lens[STD_N + i] = std_lens[i];
			append_batch(l, STD_N + i, std_lens[i]);
		}
		assert_true(fault_calls > 2 * STD_N);
		fault_max = 0;
		plog_close(l);
		l = reopen_expect(t->log, lens, ARRAY_SIZE(lens));
		plog_close(l);
		assert_int_equal(unlink(t->log), 0);
	}
}

static void test_sync_data(void **state)
{
	struct tmp *t = *state;
	const size_t lens[] = { 1, 4096, 17 };
	char err[512] = "";
	struct plog_rewrite *w;
	struct plog *l = open_log(t->log, PLOG_SYNC_DATA, NULL, NULL);

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		append_batch(l, i, lens[i]);
	plog_close(l);
	l = reopen_expect(t->log, lens, 3);
	plog_close(l);
	l = open_log(t->log, PLOG_SYNC_DATA, NULL, NULL);
	w = rewrite_begin(l);
	rewrite_batch(w, 0, lens[0]);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
	append_batch(l, 1, lens[1]);
	plog_close(l);
	l = reopen_expect(t->log, lens, 2);
	plog_close(l);
}

/* A path without a directory part: the directory to fsync is ".". */
static void test_relative_path(void **state)
{
	struct tmp *t = *state;
	const size_t lens[] = { 2, 3 };
	char cwd[4096], err[512] = "";
	struct plog_rewrite *w;
	struct plog *l;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->dir), 0);
	l = open_log("agora.log", PLOG_SYNC_DATA, NULL, NULL);
	append_batch(l, 0, 9);
	w = rewrite_begin(l);
	rewrite_batch(w, 0, lens[0]);
	assert_int_equal(plog_rewrite_commit(w, err, sizeof(err)), 0);
	append_batch(l, 1, lens[1]);
	plog_close(l);
	l = reopen_expect("agora.log", lens, 2);
	plog_close(l);
	assert_int_equal(chdir(cwd), 0);
	assert_true(exists(t->log));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_values),
		cmocka_unit_test(test_crc32c_composes),
		T(test_create_new),
		T(test_append_reopen_replays),
		T(test_many_batches),
		T(test_torn_tail_every_offset),
		T(test_length_past_end_is_torn),
		T(test_bad_checksum),
		T(test_bad_length),
		T(test_callback_refuses),
		T(test_damaged_save_fails),
		T(test_bad_magic),
		T(test_other_version),
		T(test_short_file),
		T(test_open_errors),
		T(test_rewrite_commit),
		T(test_rewrite_by_a_child),
		T(test_rewrite_empty),
		T(test_rewrite_abort),
		T(test_rewrite_busy_and_close),
		T(test_stale_new_removed),
		T(test_rewrite_commit_fails),
		T(test_append_bad_length),
		T(test_append_failure_cut_back),
		T(test_short_writes_and_eintr),
		T(test_sync_data),
		T(test_relative_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
