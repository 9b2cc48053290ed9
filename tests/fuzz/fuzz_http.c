/*
 * fuzz_http.c - libFuzzer target for the HTTP side: the request reader and
 * the REST API behind it, over an in-memory store.
 *
 * The input is fed in two pieces (split where its first byte says), as a
 * socket might deliver it; every complete request is answered by
 * api_handle, whose response must be a valid status with a head that
 * serialises. Requests on the same input share the store, so a fuzzed
 * registration can be followed by fuzzed requests using it.
 */
#include "api/api.h"
#include "http/http.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api *api_once(void)
{
	static struct api *a;
	static struct store *st;
	char err[256];

	if (!a) {
		struct api_config cfg;

		if (store_open(":memory:", STORE_SYNC_NORMAL, &st, err, sizeof(err)))
			abort();
		api_config_defaults(&cfg);
		cfg.pwhash_ops = 1; /* cheap hashes: speed, not security, here */
		cfg.pwhash_mem = 8192;
		a = api_new(st, &cfg);
	}
	return a;
}

static void answer(struct api *a, const struct http_request *rq)
{
	struct http_response rs;
	struct http_write_opts o = { .keep_alive = rq->keep_alive };
	char head[4096];

	http_response_init(&rs);
	a->now_ms = 1700000000000;
	api_handle(a, rq, &rs);
	api_run_deferred(a, &rs);
	if (rs.status < 100 || rs.status > 599)
		abort();
	if (http_response_write_head(&rs, &o, head, sizeof(head)) == 0)
		abort();
	http_response_release(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { 2048, 8192, 65536, 100 };
	struct api *a = api_once();
	struct http_reader r;
	size_t split = size ? data[0] % (size + 1) : 0;
	size_t off = 0;

	http_reader_init(&r, &lim);
	for (int piece = 0; piece < 2; piece++) {
		size_t end = piece == 0 ? split : size;

		while (off < end) {
			size_t used;
			enum http_read_status st = http_reader_feed(&r, data + off, end - off, &used);

			off += used;
			if (st == HTTP_READ_MORE)
				break;
			if (st == HTTP_READ_ERROR) {
				if (r.error_status < 400 || r.error_status > 599)
					abort();
				goto out;
			}
			answer(a, &r.rq);
			http_reader_next(&r);
		}
	}
out:
	http_reader_release(&r);
	return 0;
}
