/*
 * adder_client.c - `agora adder [--pickle] HOST:PORT N...` (adder.h): one
 * request, its reply, the sum printed.
 */
#include "adder.h"

#include "base/alloc.h"
#include "tcp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void print_sum(const struct adder_client_opts *o, int64_t sum)
{
	if (o->json)
		printf("{\"sum\":%" PRId64 ",\"count\":%zu,\"encoding\":\"%s\"}\n", sum, o->n,
		       o->pickle ? "pickle" : "agora");
	else
		printf("%" PRId64 "\n", sum);
}

/* The course's reply: 4 bytes, unsigned, little-endian, or nothing at
 * all when its server could not answer. */
static int pickle_reply(const struct adder_client_opts *o, int fd)
{
	uint8_t b[4];
	size_t got;
	int rc = classic_recv_exact(o->prog, fd, b, sizeof(b), &got, o->timeout_ms);

	if (rc == CLASSIC_ENET && got < sizeof(b)) {
		fprintf(stderr, "%s: the server closed the connection without a sum (a course "
				"server cannot answer a sum outside 0..4294967295)\n", o->prog);
		return rc;
	}
	if (rc)
		return rc;
	print_sum(o, (int64_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			       (uint32_t)b[3] << 24));
	return CLASSIC_OK;
}

/* Agora's reply: its length, then the status and the sum or the error. */
static int agora_reply(const struct adder_client_opts *o, int fd)
{
	uint8_t b[ADDER_REPLY_MAX];
	struct adder_reply rep;
	uint32_t n;
	size_t got;
	int rc = classic_recv_exact(o->prog, fd, b, ADDER_HEADER, &got, o->timeout_ms);

	if (rc == CLASSIC_ENET && got < ADDER_HEADER)
		fprintf(stderr, "%s: the server closed the connection without a reply\n", o->prog);
	if (rc)
		return rc;
	n = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	if (n < 2 || n > ADDER_REPLY_MAX - ADDER_HEADER)
		goto out_malformed;
	rc = classic_recv_exact(o->prog, fd, b + ADDER_HEADER, n, &got, o->timeout_ms);
	if (rc == CLASSIC_ENET && got < n)
		fprintf(stderr, "%s: the server closed the connection mid-reply\n", o->prog);
	if (rc)
		return rc;
	if (adder_decode_reply(b, ADDER_HEADER + n, &rep) <= 0)
		goto out_malformed;
	if (rep.status != ADDER_OK) {
		fprintf(stderr, "%s: the server refused: %.*s\n", o->prog, (int)rep.msg_len, rep.msg);
		return CLASSIC_EREFUSED;
	}
	print_sum(o, rep.sum);
	return CLASSIC_OK;
out_malformed:
	fprintf(stderr, "%s: the reply is not Agora's adder reply (version 1)\n", o->prog);
	return CLASSIC_ENET;
}

int adder_client_run(const struct adder_client_opts *o)
{
	size_t len = o->pickle ? adder_encode_pickle_request(o->proto, o->v, o->n, NULL, 0)
			       : adder_encode_request(o->v, o->n, NULL, 0);
	uint8_t *req = xmalloc(len);
	int fd, rc;

	if (o->pickle)
		adder_encode_pickle_request(o->proto, o->v, o->n, req, len);
	else
		adder_encode_request(o->v, o->n, req, len);
	fd = classic_connect(o->prog, o->host, o->port, o->timeout_ms);
	if (fd < 0) {
		free(req);
		return fd == -2 ? CLASSIC_EINTR : CLASSIC_ENET;
	}
	rc = classic_send_all(o->prog, fd, req, len, o->timeout_ms);
	if (rc == CLASSIC_OK)
		rc = o->pickle ? pickle_reply(o, fd) : agora_reply(o, fd);
	close(fd);
	free(req);
	return rc;
}
