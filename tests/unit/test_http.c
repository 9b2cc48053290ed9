/*
 * test_http.c - the HTTP request reader and response writer (src/http),
 * without sockets: every request split at every byte, pipelining, each
 * limit with its status, chunked bodies, query and path decoding.
 */
#include "helpers.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct http_limits lim = {
	.max_uri = 64, .max_header = 256, .max_body = 32, .max_headers = 8,
};

/* Feeds text in pieces of at most `step` bytes until a request or an error;
 * returns the status and how many bytes were consumed in all. */
static enum http_read_status feed_steps(struct http_reader *r, const char *text, size_t step,
					size_t *consumed)
{
	size_t len = strlen(text), off = 0;
	enum http_read_status st = HTTP_READ_MORE;

	while (off < len) {
		size_t n = len - off < step ? len - off : step, used;

		st = http_reader_feed(r, (const uint8_t *)text + off, n, &used);
		off += used;
		if (st != HTTP_READ_MORE)
			break;
		assert_int_equal(used, n); /* "more" means everything was taken */
	}
	*consumed = off;
	return st;
}

static const char post[] = "POST /api/users?x=1 HTTP/1.1\r\n"
			   "Host: a\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: 11\r\n"
			   "\r\n"
			   "{\"a\":\"bc\"}\n";

static void test_request_at_every_split(void **state)
{
	(void)state;
	for (size_t step = 1; step <= sizeof(post); step++) {
		struct http_reader r;
		size_t used;

		http_reader_init(&r, &lim);
		assert_int_equal(feed_steps(&r, post, step, &used), HTTP_READ_REQUEST);
		assert_int_equal(used, strlen(post));
		assert_string_equal(r.rq.method, "POST");
		assert_string_equal(r.rq.path, "/api/users");
		assert_string_equal(r.rq.query, "x=1");
		assert_string_equal(http_header_get(&r.rq, "content-type"), "application/json");
		assert_int_equal(r.rq.body_len, 11);
		assert_memory_equal(r.rq.body, "{\"a\":\"bc\"}\n", 11);
		assert_true(r.rq.keep_alive);
		http_reader_release(&r);
	}
}

static void test_pipelined_requests_one_at_a_time(void **state)
{
	const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n"
			   "Connection: close\r\n\r\n";
	struct http_reader r;
	size_t used, off;

	(void)state;
	http_reader_init(&r, &lim);
	assert_int_equal(http_reader_feed(&r, (const uint8_t *)two, strlen(two), &used),
			 HTTP_READ_REQUEST);
	assert_string_equal(r.rq.path, "/a");
	assert_true(used < strlen(two));
	off = used;
	http_reader_next(&r);
	assert_int_equal(http_reader_feed(&r, (const uint8_t *)two + off, strlen(two) - off, &used),
			 HTTP_READ_REQUEST);
	assert_string_equal(r.rq.path, "/b");
	assert_false(r.rq.keep_alive);
	assert_int_equal(off + used, strlen(two));
	http_reader_release(&r);
}

static void test_chunked_body(void **state)
{
	const char text[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
	struct http_reader r;
	size_t used;

	(void)state;
	for (size_t step = 1; step <= sizeof(text); step += 3) {
		http_reader_init(&r, &lim);
		assert_int_equal(feed_steps(&r, text, step, &used), HTTP_READ_REQUEST);
		assert_true(r.rq.has_body);
		assert_int_equal(r.rq.body_len, 7);
		assert_memory_equal(r.rq.body, "abcdefg", 7);
		http_reader_release(&r);
	}
}

/* Requests in a row on one reader, which keeps its arena, header array and
 * body buffer from one to the next: nothing of one may leak into the next,
 * at every split. Names lower-cased, an empty value, a trailer. */
static void test_requests_in_a_row_on_one_reader(void **state)
{
	const char text[] = "POST /first?q=1&r=%20 HTTP/1.1\r\nHost: A\r\nX-Empty:\r\n"
			    "X-MiXeD: Value\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
			    "GET /second HTTP/1.1\r\n\r\n"
			    "DELETE /third/x HTTP/1.0\r\nHost: b\r\n\r\n";
	size_t len = strlen(text);

	(void)state;
	for (size_t step = 1; step <= len; step++) {
		struct http_reader r;
		size_t off = 0;
		int seen = 0;

		http_reader_init(&r, &lim);
		while (off < len) {
			size_t n = len - off < step ? len - off : step, used;
			enum http_read_status st = http_reader_feed(&r, (const uint8_t *)text + off, n,
								    &used);

			off += used;
			assert_int_not_equal(st, HTTP_READ_ERROR);
			if (st == HTTP_READ_MORE)
				continue;
			if (seen == 0) {
				assert_string_equal(r.rq.method, "POST");
				assert_string_equal(r.rq.target, "/first?q=1&r=%20");
				assert_string_equal(r.rq.path, "/first");
				assert_string_equal(r.rq.query, "q=1&r=%20");
				assert_string_equal(http_header_get(&r.rq, "host"), "A");
				assert_string_equal(http_header_get(&r.rq, "x-empty"), "");
				assert_string_equal(http_header_get(&r.rq, "x-mixed"), "Value");
				assert_string_equal(http_header_get(&r.rq, "x-trailer"), "t");
				assert_int_equal(r.rq.body_len, 3);
				assert_memory_equal(r.rq.body, "abc", 4); /* and its NUL */
			} else if (seen == 1) {
				assert_string_equal(r.rq.method, "GET");
				assert_string_equal(r.rq.target, "/second");
				assert_string_equal(r.rq.query, "");
				assert_int_equal(r.rq.nheaders, 0);
				assert_null(http_header_get(&r.rq, "host"));
				assert_false(r.rq.has_body);
				assert_int_equal(r.rq.body_len, 0);
				assert_string_equal((const char *)r.rq.body, "");
			} else {
				assert_string_equal(r.rq.method, "DELETE");
				assert_string_equal(r.rq.path, "/third/x");
				assert_int_equal(r.rq.nheaders, 1);
				assert_string_equal(http_header_get(&r.rq, "host"), "b");
				assert_false(r.rq.keep_alive);
			}
			seen++;
			http_reader_next(&r);
		}
		assert_int_equal(seen, 3);
		http_reader_release(&r);
	}
}

/* The status a request gets from the reader alone. */
static int error_of(const char *text)
{
	struct http_reader r;
	size_t used;
	enum http_read_status st;
	int status;

	http_reader_init(&r, &lim);
	st = feed_steps(&r, text, strlen(text), &used);
	status = st == HTTP_READ_ERROR ? r.error_status : 0;
	if (st == HTTP_READ_ERROR)
		assert_non_null(r.error_why);
	http_reader_release(&r);
	return status;
}

static void test_limits(void **state)
{
	char buf[1024];

	(void)state;
	/* a URI of 65 bytes: 414 */
	snprintf(buf, sizeof(buf), "GET /%064d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(error_of(buf), 414);
	snprintf(buf, sizeof(buf), "GET /%062d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(error_of(buf), 0);
	/* headers over 256 bytes: 431 */
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX-Long: %0250d\r\n\r\n", 0);
	assert_int_equal(error_of(buf), 431);
	/* more than 8 header lines: 431 */
	assert_int_equal(error_of("GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n"
				  "f: 1\r\ng: 1\r\nh: 1\r\ni: 1\r\n\r\n"),
			 431);
	/* a Content-Length over 32: 413 before any body byte */
	assert_int_equal(error_of("POST / HTTP/1.1\r\nContent-Length: 33\r\n\r\n"), 413);
	assert_int_equal(error_of("POST / HTTP/1.1\r\nContent-Length: 32\r\n\r\n"), 0);
	/* a chunked body growing past 32: 413 */
	assert_int_equal(error_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "20\r\n01234567890123456789012345678901\r\n1\r\nx\r\n0\r\n\r\n"),
			 413);
}

static void test_malformed(void **state)
{
	(void)state;
	assert_int_equal(error_of("\x01\x02garbage\r\n\r\n"), 400);
	assert_int_equal(error_of("GET / HTTP/1.1\r\nbad header line\r\n\r\n"), 400);
	assert_int_equal(error_of("GET http://example.com/ HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(error_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
			 400);
}

/* An Upgrade is answered like any request, then the connection closes. */
static void test_upgrade_not_kept(void **state)
{
	const char text[] = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	struct http_reader r;
	size_t used;

	(void)state;
	http_reader_init(&r, &lim);
	assert_int_equal(feed_steps(&r, text, sizeof(text), &used), HTTP_READ_REQUEST);
	assert_false(r.rq.keep_alive);
	http_reader_release(&r);
}

static void test_query_and_segments(void **state)
{
	struct http_request rq = { .query = "n=3&min=-5&name=a%20b+c&flag&bad=%zz" };
	char buf[16], out[8];

	(void)state;
	assert_string_equal(http_query_get(&rq, "n", buf, sizeof(buf)), "3");
	assert_string_equal(http_query_get(&rq, "min", buf, sizeof(buf)), "-5");
	assert_string_equal(http_query_get(&rq, "name", buf, sizeof(buf)), "a b c");
	assert_string_equal(http_query_get(&rq, "flag", buf, sizeof(buf)), "");
	assert_null(http_query_get(&rq, "bad", buf, sizeof(buf)));
	assert_true(http_query_has(&rq, "bad"));
	assert_null(http_query_get(&rq, "max", buf, sizeof(buf)));
	assert_false(http_query_has(&rq, "max"));
	assert_null(http_query_get(&rq, "name", buf, 4)); /* too long for buf */

	assert_true(http_segment_decode("al%69ce", 7, out, sizeof(out)));
	assert_string_equal(out, "alice");
	assert_false(http_segment_decode("a%2Fb", 5, out, sizeof(out))); /* '/' */
	assert_false(http_segment_decode("a%00b", 5, out, sizeof(out))); /* NUL */
	assert_false(http_segment_decode("a%2", 3, out, sizeof(out)));
	assert_false(http_segment_decode("abcdefghij", 10, out, sizeof(out)));
}

static void test_response_head(void **state)
{
	struct http_response rs;
	struct http_write_opts o = { .keep_alive = true, .date = "Mon, 23 Nov 2026 13:00:00 GMT" };
	char head[512];
	size_t n;

	(void)state;
	http_response_init(&rs);
	http_response_error(&rs, 404, NULL, "no user '%s'", "a\"b");
	assert_string_equal(rs.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no user 'a\\\"b'\"}}");
	http_response_header(&rs, "Allow: GET");
	n = http_response_write_head(&rs, &o, head, sizeof(head));
	head[n] = '\0';
	assert_non_null(strstr(head, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(head, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(head, "Allow: GET\r\n"));
	assert_null(strstr(head, "Connection: close"));
	assert_true(n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0);
	o.keep_alive = false;
	n = http_response_write_head(&rs, &o, head, sizeof(head));
	head[n] = '\0';
	assert_non_null(strstr(head, "Connection: close\r\n"));
	assert_int_equal(http_response_write_head(&rs, &o, head, 16), 0); /* does not fit */
	http_response_release(&rs);

	http_response_init(&rs);
	rs.status = 204;
	n = http_response_write_head(&rs, &o, head, sizeof(head));
	head[n] = '\0';
	assert_null(strstr(head, "Content-Length")); /* [RFC 9110 8.6] none on 204 */
	http_response_release(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_at_every_split),
		cmocka_unit_test(test_pipelined_requests_one_at_a_time),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_requests_in_a_row_on_one_reader),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_upgrade_not_kept),
		cmocka_unit_test(test_query_and_segments),
		cmocka_unit_test(test_response_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
