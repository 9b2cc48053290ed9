/*
 * fuzz_adder.c - libFuzzer target for the integer adder's bytes
 * (classic/adder.h), as the server meets them: the input is a stream of
 * requests, framed, summed and answered one after the other until one is
 * incomplete or refused. Nothing is read past a frame (ASan); every Agora
 * reply decodes back to what was answered; a course reply exists only for
 * a sum in 0..4294967295.
 */
#include "classic/adder.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		enum adder_kind kind;
		uint32_t plen = 0;
		struct adder_result r;
		struct adder_reply rep;
		uint8_t reply[ADDER_REPLY_MAX];
		int64_t n = adder_frame(data + off, size - off, 1024, &kind, &plen);
		size_t m;

		if (n <= 0)
			break;
		if ((size_t)n > size - off || (size_t)n != ADDER_HEADER + plen)
			abort();
		adder_compute(kind, data + off + ADDER_HEADER, plen, &r);
		m = adder_encode_reply(kind, &r, reply);
		if (m > ADDER_REPLY_MAX)
			abort();
		if (kind == ADDER_PICKLE) {
			if ((m == 4) != (r.status == ADDER_OK) ||
			    (m && (r.sum < 0 || r.sum > UINT32_MAX)))
				abort();
		} else if (adder_decode_reply(reply, m, &rep) != (int64_t)m ||
			   rep.status != r.status || (r.status == ADDER_OK && rep.sum != r.sum) ||
			   (r.status != ADDER_OK && rep.msg_len != strlen(r.why))) {
			abort();
		}
		if (r.status != ADDER_OK)
			break; /* the server closes the connection */
		off += (size_t)n;
	}
	return 0;
}
