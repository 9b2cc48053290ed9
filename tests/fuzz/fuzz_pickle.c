/*
 * fuzz_pickle.c - libFuzzer target for the pickle subset (classic/pickle.h).
 *
 * The input is read as a pickle: never past its end (ASan), never an
 * integer outside what the bytes hold. What reads whole writes again at
 * the protocol it came in, and that reads back to the same integers; an
 * error is described without overflowing the sentence's buffer.
 */
#include "classic/pickle.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INTS 4096 /* -max_len=4096: each integer takes 2 bytes at least */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int64_t v[MAX_INTS];
	struct pickle_reader r;
	size_t n = 0, len, k = 0;
	char why[64];
	uint8_t *out;
	int64_t x;
	int rc;

	pickle_reader_init(&r, data, size);
	while ((rc = pickle_next_int(&r, &x)) == 1) {
		if (n == MAX_INTS)
			return 0;
		v[n++] = x;
	}
	if (rc < 0) {
		pickle_describe(&r, rc, why, sizeof(why));
		if (strlen(why) >= sizeof(why) || pickle_next_int(&r, &x) != rc)
			abort(); /* cut to the buffer; errors are sticky */
		return 0;
	}
	if (r.proto < PICKLE_PROTO_MIN || r.proto > PICKLE_PROTO_MAX || r.pos != size)
		abort();
	len = pickle_encode_ints(r.proto, v, n, NULL, 0);
	out = malloc(len);
	if (pickle_encode_ints(r.proto, v, n, out, len) != len)
		abort();
	pickle_reader_init(&r, out, len);
	while ((rc = pickle_next_int(&r, &x)) == 1)
		if (k >= n || v[k++] != x)
			abort();
	if (rc != 0 || k != n)
		abort();
	free(out);
	return 0;
}
