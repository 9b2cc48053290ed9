/*
 * test_notify.c - the outbound queue (notify/notify.h) on a real libuv
 * loop against sinks on 127.0.0.1:
 *
 *  - an HTTP sink in this file, on the same loop, answering each request
 *    with the next status of a script (0: never answer): the request's
 *    method, headers and body as sent; 500 then 200 retried and
 *    delivered; 404 given up at once; a sink that never answers: a timeout
 *    per try, then failed; a refused connection; the running bound; a
 *    full queue; invalid jobs refused before anything is queued; free with
 *    jobs in flight;
 *  - an SMTP sink (tests/unit/smtp_sink.py on Debian's python3-aiosmtpd,
 *    forked and exec'd here; it prints its port): a message with a
 *    non-ASCII subject arrives with its headers and body, as Python's own
 *    e-mail parser reads them; SMTP 550 given up, 451 retried; CR/LF in a
 *    subject refused.
 *
 * The pure parts (the verdict of a try, an e-mail's bytes) are tested
 * without a socket first. Every wait runs the loop until an event, under
 * a deadline.
 */
#include "helpers.h"

#include "notify/internal.h"
#include "notify/mail.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define WAIT_MS 10000 /* the longest any wait may take */

/* ---- the loop ----------------------------------------------------------- */

static void on_guard(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Runs loop until *flag (an int counter reaching want), at most max_ms. */
static bool run_until(uv_loop_t *loop, const int *counter, int want, uint64_t max_ms)
{
	uv_timer_t guard;
	bool expired = false;

	uv_timer_init(loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, on_guard, max_ms, 0);
	while (*counter < want && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *counter >= want;
}

static void conn_closed(uv_handle_t *h);

/* What is still open at the end: the sink's listener, and connections
 * (theirs free their state). */
static void close_any(uv_handle_t *h, void *server)
{
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != server)
		uv_close(h, conn_closed);
	else
		uv_close(h, NULL);
}

/* Everything closed, the loop empty. */
static void loop_end(uv_loop_t *loop, uv_tcp_t *server)
{
	uv_walk(loop, close_any, server);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- what the queue reports --------------------------------------------- */

#define MAX_DONE 32

struct outcomes {
	int n;
	bool ok[MAX_DONE];
	char tag[MAX_DONE][32];
	char reason[MAX_DONE][256];
};

static void on_done(void *arg, const char *tag, bool ok, const char *reason)
{
	struct outcomes *o = arg;

	assert_true(o->n < MAX_DONE);
	assert_true(ok == (reason == NULL));
	o->ok[o->n] = ok;
	snprintf(o->tag[o->n], sizeof(o->tag[0]), "%s", tag);
	snprintf(o->reason[o->n], sizeof(o->reason[0]), "%s", reason ? reason : "");
	o->n++;
}

/* ---- the HTTP sink ------------------------------------------------------ */

#define MAX_REQ 32
#define MAX_CONN 16

struct sink_req {
	char method[8];
	char target[128];
	char head[4096]; /* the header lines */
	char body[4096];
	size_t body_len;
};

struct sink;

struct sink_conn {
	uv_tcp_t tcp;
	struct sink *s;
	char buf[16384];
	size_t len;
	bool answered;
	uv_write_t w;
	char out[256];
};

struct sink {
	uv_tcp_t server;
	int port;
	int script[MAX_REQ]; /* the status for request i; 0: never answer */
	int nscript;         /* past it, the last one again */
	struct sink_req req[MAX_REQ];
	int nreq;
	int open, max_open;  /* connections now, and at most at once */
	int accepted;
	/* the queue's running jobs at most, seen at each request: the
	 * connections above may include one its client has closed already */
	const struct notify *queue;
	uint32_t max_running;
};

static void conn_closed(uv_handle_t *h)
{
	struct sink_conn *c = h->data;

	c->s->open--;
	free(c);
}

static void conn_close(struct sink_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

/* A whole request in c->buf: headers and Content-Length bytes of body. */
static bool request_whole(struct sink_conn *c, size_t *head_len, size_t *body_len)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	const char *cl;

	if (!end)
		return false;
	*head_len = (size_t)(end - c->buf) + 4;
	*body_len = 0;
	cl = memmem(c->buf, *head_len, "\r\nContent-Length: ", 18);
	if (cl)
		*body_len = strtoul(cl + 18, NULL, 10);
	return c->len >= *head_len + *body_len;
}

/* A body longer than NOTIFY_RESPONSE_MAX, for statuses over 1000. */
static char long_answer[3 * NOTIFY_RESPONSE_MAX];

/* status, with Connection: close. Over 1000: status - 1000 with a body
 * longer than the queue reads; a 3xx sends a Location. */
static void answer(struct sink_conn *c, int status)
{
	size_t body_len = status > 1000 ? sizeof(long_answer) : 2;
	int n;

	status %= 1000;
	n = snprintf(c->out, sizeof(c->out),
		     "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		     status, body_len, status / 100 == 3 ? "Location: /elsewhere\r\n" : "");
	memset(long_answer, 'a', sizeof(long_answer));
	c->w.data = c;
	uv_write(&c->w, (uv_stream_t *)&c->tcp,
		 (uv_buf_t[]){ { .base = c->out, .len = (size_t)n },
			       { .base = body_len == 2 ? "ok" : long_answer, .len = body_len } },
		 2, on_written);
}

static void record(struct sink_conn *c, size_t head_len, size_t body_len)
{
	struct sink *s = c->s;
	struct sink_req *r = &s->req[s->nreq];
	const char *line_end = memmem(c->buf, head_len, "\r\n", 2);
	int status = s->script[s->nreq < s->nscript ? s->nreq : s->nscript - 1];

	assert_true(s->nreq < MAX_REQ);
	assert_true(head_len < sizeof(r->head) && body_len < sizeof(r->body));
	assert_int_equal(sscanf(c->buf, "%7s %127s", r->method, r->target), 2);
	memcpy(r->head, line_end + 2, head_len - (size_t)(line_end + 2 - c->buf));
	memcpy(r->body, c->buf + head_len, body_len);
	r->body_len = body_len;
	s->nreq++;
	c->answered = true;
	if (s->queue && notify_stats(s->queue)->running > s->max_running)
		s->max_running = notify_stats(s->queue)->running;
	if (status == 0)
		return; /* never answers: the client's timeout ends it */
	answer(c, status);
}

static void sink_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sink_conn *c = h->data;

	(void)hint;
	buf->base = c->buf + c->len;
	buf->len = sizeof(c->buf) - c->len;
}

static void sink_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sink_conn *c = st->data;
	size_t head_len, body_len;

	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	if (!c->answered && request_whole(c, &head_len, &body_len))
		record(c, head_len, body_len);
	if (c->len == sizeof(c->buf))
		conn_close(c);
}

static void sink_accept(uv_stream_t *server, int status)
{
	struct sink *s = server->data;
	struct sink_conn *c = calloc(1, sizeof(*c));

	assert_int_equal(status, 0);
	assert_non_null(c);
	c->s = s;
	uv_tcp_init(server->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
	s->accepted++;
	if (++s->open > s->max_open)
		s->max_open = s->open;
	uv_read_start((uv_stream_t *)&c->tcp, sink_alloc, sink_read);
}

/* A sink on 127.0.0.1 (a free port) answering with the statuses given,
 * ended by 0 ... the list's end is marked by -1. */
static void sink_start(uv_loop_t *loop, struct sink *s, const int *script)
{
	struct sockaddr_in addr;
	struct sockaddr_storage got;
	int len = sizeof(got);

	memset(s, 0, sizeof(*s));
	while (script[s->nscript] >= 0)
		s->script[s->nscript] = script[s->nscript], s->nscript++;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_tcp_init(loop, &s->server);
	s->server.data = s;
	assert_int_equal(uv_tcp_bind(&s->server, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->server, 16, sink_accept), 0);
	uv_tcp_getsockname(&s->server, (struct sockaddr *)&got, &len);
	s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static char *sink_url(const struct sink *s, const char *path)
{
	static char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	return url;
}

/* ---- a queue on a loop -------------------------------------------------- */

struct fixture {
	uv_loop_t loop;
	struct notify *n;
	struct outcomes done;
	struct sink sink;
};

static void fixture_start(struct fixture *f, struct notify_config *cfg)
{
	memset(f, 0, sizeof(*f));
	/* the sinks are on loopback: no proxy from the environment */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->n = notify_new(&f->loop, cfg);
	assert_non_null(f->n);
	notify_on_done(f->n, on_done, &f->done);
}

static void fixture_end(struct fixture *f)
{
	notify_free(f->n);
	loop_end(&f->loop, &f->sink.server);
}

/* A POST of "{}" to the sink's "/" with tag (timeout_ms 0: the default),
 * queued. */
static void post_to_sink(struct fixture *f, uint32_t timeout_ms, const char *tag)
{
	assert_int_equal(notify_webhook(f->n, sink_url(&f->sink, "/"), "POST", NULL, 0, "{}", 2,
					timeout_ms, tag),
			 0);
}

/* Defaults with short retries: 20 ms, then 40. */
static struct notify_config quick_config(void)
{
	struct notify_config cfg;

	notify_config_defaults(&cfg);
	cfg.retry_base_ms = 20;
	return cfg;
}

static const struct notify_stats *stats(const struct fixture *f)
{
	return notify_stats(f->n);
}

static const char *find_header(const struct sink_req *r, const char *line)
{
	return strstr(r->head, line);
}

/* ---- the verdict of a try (pure) ---------------------------------------- */

static void check_verdict(enum notify__kind kind, CURLcode rc, long code, bool cut,
			  enum notify__verdict want, const char *want_reason)
{
	char reason[128] = "";

	assert_int_equal(notify__verdict(kind, rc, code, cut, "", reason, sizeof(reason)), want);
	if (want_reason)
		assert_string_equal(reason, want_reason);
}

static void test_verdicts(void **state)
{
	(void)state;
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 200, false, NOTIFY__DELIVERED, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 204, false, NOTIFY__DELIVERED, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 500, false, NOTIFY__RETRY, "HTTP 500");
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 503, false, NOTIFY__RETRY, "HTTP 503");
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 429, false, NOTIFY__RETRY, "HTTP 429");
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 404, false, NOTIFY__GIVE_UP, "HTTP 404");
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 400, false, NOTIFY__GIVE_UP, "HTTP 400");
	check_verdict(NOTIFY__WEBHOOK, CURLE_OK, 301, false, NOTIFY__GIVE_UP,
		      "HTTP 301 (redirects are not followed)");
	/* an answer too long to read: its status decides */
	check_verdict(NOTIFY__WEBHOOK, CURLE_WRITE_ERROR, 200, true, NOTIFY__DELIVERED, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_WRITE_ERROR, 200, false, NOTIFY__GIVE_UP, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_COULDNT_CONNECT, 0, false, NOTIFY__RETRY, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_OPERATION_TIMEDOUT, 0, false, NOTIFY__RETRY, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_GOT_NOTHING, 0, false, NOTIFY__RETRY, NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_UNSUPPORTED_PROTOCOL, 0, false, NOTIFY__GIVE_UP,
		      NULL);
	check_verdict(NOTIFY__WEBHOOK, CURLE_URL_MALFORMAT, 0, false, NOTIFY__GIVE_UP, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_OK, 250, false, NOTIFY__DELIVERED, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_SEND_ERROR, 550, false, NOTIFY__GIVE_UP, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_SEND_ERROR, 451, false, NOTIFY__RETRY, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_LOGIN_DENIED, 0, false, NOTIFY__GIVE_UP, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_LOGIN_DENIED, 535, false, NOTIFY__GIVE_UP, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_COULDNT_CONNECT, 0, false, NOTIFY__RETRY, NULL);
	check_verdict(NOTIFY__EMAIL, CURLE_OPERATION_TIMEDOUT, 0, false, NOTIFY__RETRY, NULL);
}

/* ---- an e-mail's bytes (pure) ------------------------------------------- */

static char *compose(const char *from, const char *to, const char *subject, const char *body,
		     int want)
{
	struct notify_mail_addrs rcpt;
	struct text t = { 0 };

	assert_int_equal(notify_mail_parse_to(to, &rcpt), 0);
	assert_int_equal(notify_mail_compose(&(struct notify_mail){ .from = from,
								  .to = &rcpt,
								  .subject = subject,
								  .body = body,
								  .now_ms = 1796563236000,
								  .msgid_local = "1.2.3" },
					     &t),
			 want);
	return t.s;
}

/* Every line ends with CRLF and none is longer than max. */
static void assert_lines(const char *msg, size_t max)
{
	for (const char *p = msg; *p;) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		assert_true(nl > p && nl[-1] == '\r');
		if ((size_t)(nl - p) - 1 > max)
			fail_msg("line of %zu bytes: %.40s", (size_t)(nl - p) - 1, p);
		p = nl + 1;
	}
}

static void test_mail_ascii(void **state)
{
	char *m = compose("rules@agora.test", "a@example.org", "Hello", "one\ntwo\r\n", 0);

	(void)state;
	assert_string_equal(m, "Date: Sun, 06 Dec 2026 13:20:36 +0000\r\n"
			       "From: rules@agora.test\r\n"
			       "To: a@example.org\r\n"
			       "Subject: Hello\r\n"
			       "Message-ID: <1.2.3@agora.test>\r\n"
			       "MIME-Version: 1.0\r\n"
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: 7bit\r\n"
			       "Auto-Submitted: auto-generated\r\n"
			       "\r\n"
			       "one\r\n"
			       "two\r\n");
	free(m);
}

static void test_mail_encoded(void **state)
{
	char *m = compose("Agora Règles <rules@agora.test>", "a@example.org, b@example.org",
			  "Réponse ✓", "Ça va?\n= done \n", 0);

	(void)state;
	assert_non_null(
		strstr(m, "\r\nFrom: =?UTF-8?B?QWdvcmEgUsOoZ2xlcw==?= <rules@agora.test>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: a@example.org,\r\n b@example.org\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: =?UTF-8?B?UsOpcG9uc2Ug4pyT?=\r\n"));
	assert_non_null(strstr(m, "Content-Transfer-Encoding: quoted-printable\r\n"));
	/* '=' and the line's trailing space encoded, 8-bit bytes too */
	assert_non_null(strstr(m, "\r\n\r\n=C3=87a va?\r\n=3D done=20\r\n"));
	assert_lines(m, 78);
	free(m);
}

/* A long subject is folded into encoded words of whole characters; a long
 * body line gets soft breaks; no line passes 78 characters. */
static void test_mail_long(void **state)
{
	char subject[400], body[3000];
	char *m;

	(void)state;
	for (size_t i = 0; i < 100; i++)
		memcpy(subject + 3 * i, "\xe2\x9c\x93", 3); /* ✓ */
	subject[300] = '\0';
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	m = compose("rules@agora.test", "a@example.org", subject, body, 0);
	assert_non_null(strstr(m, "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_non_null(strstr(m, "?=\r\n =?UTF-8?B?"));
	assert_lines(m, 78);
	free(m);
	/* an ASCII subject that looks like an encoded word is encoded */
	m = compose("rules@agora.test", "a@example.org", "=?x?", "", 0);
	assert_non_null(strstr(m, "Subject: =?UTF-8?B?PT94Pw==?=\r\n"));
	free(m);
}

static void test_mail_refusals(void **state)
{
	struct notify_mail_addrs rcpt;
	char many[NOTIFY_MAX_RCPT * 8 + 8] = "";
	char *m;

	(void)state;
	free(compose("rules@agora.test", "a@example.org", "Hi\r\nBcc: x@y", "", NOTIFY_ESUBJECT));
	free(compose("rules@agora.test", "a@example.org", "Hi\nBcc: x@y", "", NOTIFY_ESUBJECT));
	free(compose("rules@agora.test", "a@example.org", "Hi\rX", "", NOTIFY_ESUBJECT));
	free(compose("rules@agora.test", "a@example.org", "\xc3", "", NOTIFY_ESUBJECT));
	free(compose("rules@agora.test", "a@example.org", "ok", "\xed\xa0\x80", NOTIFY_EBODY));
	free(compose("rules@", "a@example.org", "ok", "", NOTIFY_EADDRESS));
	free(compose("Name <rules@agora.test", "a@example.org", "ok", "", NOTIFY_EADDRESS));
	free(compose("Na\nme <rules@agora.test>", "a@example.org", "ok", "", NOTIFY_EADDRESS));
	m = compose("  Rules  <rules@agora.test>", "a@example.org", "ok", "", 0);
	assert_non_null(strstr(m, "\r\nFrom: \"Rules\" <rules@agora.test>\r\n"));
	free(m);
	assert_int_equal(notify_mail_parse_to("a@example.org\r\nBcc: x@y", &rcpt),
			 NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to("", &rcpt), NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to("a@example.org,", &rcpt), NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to("Al <a@example.org>", &rcpt), NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to("a@b@c", &rcpt), NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to("@c", &rcpt), NOTIFY_EADDRESS);
	assert_int_equal(notify_mail_parse_to(" a@b , c@d ", &rcpt), 0);
	assert_int_equal(rcpt.n, 2);
	assert_string_equal(rcpt.addr[1], "c@d");
	for (int i = 0; i < NOTIFY_MAX_RCPT; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sa%d@b", i ? "," : "",
			 i % 10);
	assert_int_equal(notify_mail_parse_to(many, &rcpt), 0);
	snprintf(many + strlen(many), sizeof(many) - strlen(many), ",z@b");
	assert_int_equal(notify_mail_parse_to(many, &rcpt), NOTIFY_EADDRESS);
}

/* ---- webhooks ----------------------------------------------------------- */

static void test_webhook_post_and_put(void **state)
{
	static const int script[] = { 200, 201, -1 };
	struct notify_config cfg = quick_config();
	struct notify_header h[] = { { "X-Rule", "urgent-mail" }, { "Authorization", "Bearer t" },
				     { "X-Empty", "" } };
	struct notify_header text[] = { { "content-type", "text/plain" } };
	const char body[] = "{\"subject\":\"urgent\",\"n\":1}";
	char big[3000]; /* past 1 KiB, where some libcurl versions send Expect: 100-continue */
	struct fixture f;
	struct sink_req *r;

	(void)state;
	memset(big, 'x', sizeof(big));
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/hook?x=1"), "POST", h, 3, body,
					strlen(body), 2000, "rule-1"),
			 0);
	assert_int_equal(run_until(&f.loop, &f.done.n, 1, WAIT_MS), true);
	assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/put"), "PUT", text, 1, big,
					sizeof(big), 0, "rule-2"),
			 0);
	assert_true(run_until(&f.loop, &f.done.n, 2, WAIT_MS));
	assert_true(f.done.ok[0] && f.done.ok[1]);
	assert_string_equal(f.done.tag[0], "rule-1");
	assert_string_equal(f.done.tag[1], "rule-2");
	assert_int_equal(f.sink.nreq, 2);
	r = &f.sink.req[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->target, "/hook?x=1");
	assert_non_null(find_header(r, "\r\nUser-Agent: agora/" AGORA_VERSION "\r\n"));
	assert_non_null(find_header(r, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(find_header(r, "\r\nX-Rule: urgent-mail\r\n"));
	assert_non_null(find_header(r, "\r\nAuthorization: Bearer t\r\n"));
	assert_non_null(find_header(r, "\r\nX-Empty:"));
	assert_null(find_header(r, "Expect:"));
	assert_int_equal(r->body_len, strlen(body));
	assert_memory_equal(r->body, body, strlen(body));
	r = &f.sink.req[1];
	assert_string_equal(r->method, "PUT");
	assert_non_null(find_header(r, "\r\ncontent-type: text/plain\r\n"));
	assert_null(find_header(r, "application/json"));
	assert_null(find_header(r, "Expect:"));
	assert_int_equal(r->body_len, sizeof(big));
	assert_memory_equal(r->body, big, sizeof(big));
	assert_int_equal(stats(&f)->queued, 2);
	assert_int_equal(stats(&f)->ok, 2);
	assert_int_equal(stats(&f)->failed, 0);
	assert_int_equal(stats(&f)->retried, 0);
	assert_int_equal(stats(&f)->waiting + stats(&f)->running, 0);
	fixture_end(&f);
}

/* 500, then 429, then 200: three tries, delivered; the retries waited
 * 20 ms and then 40. */
static void test_webhook_retries_then_delivers(void **state)
{
	static const int script[] = { 500, 429, 200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;
	uint64_t start;

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	uv_update_time(&f.loop);
	start = uv_now(&f.loop);
	post_to_sink(&f, 0, "r");
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_true(f.done.ok[0]);
	assert_int_equal(f.sink.nreq, 3);
	assert_true(uv_now(&f.loop) - start >= 60);
	assert_int_equal(stats(&f)->retried, 2);
	assert_int_equal(stats(&f)->ok, 1);
	assert_int_equal(stats(&f)->failed, 0);
	fixture_end(&f);
}

/* 500 on every try: failed after three, with the last status. */
static void test_webhook_5xx_gives_up_after_three(void **state)
{
	static const int script[] = { 500, 502, 503, 200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	post_to_sink(&f, 0, "r");
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_string_equal(f.done.reason[0], "HTTP 503");
	assert_int_equal(f.sink.nreq, NOTIFY_TRIES);
	assert_int_equal(stats(&f)->failed, 1);
	assert_int_equal(stats(&f)->retried, 2);
	fixture_end(&f);
}

/* 404: no retry. The job has ended, so no later request can come. */
static void test_webhook_4xx_not_retried(void **state)
{
	static const int script[] = { 404, 200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	post_to_sink(&f, 0, "r404");
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_string_equal(f.done.tag[0], "r404");
	assert_string_equal(f.done.reason[0], "HTTP 404");
	assert_int_equal(f.sink.nreq, 1);
	assert_int_equal(stats(&f)->retried, 0);
	assert_int_equal(stats(&f)->failed, 1);
	assert_int_equal(stats(&f)->waiting + stats(&f)->running, 0);
	fixture_end(&f);
}

/* A 302 is not followed; an answer's long body is not read to its end,
 * the status decides: 500 retried, 200 delivered. */
static void test_webhook_redirect_and_long_answers(void **state)
{
	static const int script[] = { 302, 1500, 1200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	post_to_sink(&f, 0, "moved");
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_string_equal(f.done.reason[0], "HTTP 302 (redirects are not followed)");
	assert_int_equal(f.sink.nreq, 1);
	post_to_sink(&f, 0, "long");
	assert_true(run_until(&f.loop, &f.done.n, 2, WAIT_MS));
	if (!f.done.ok[1])
		fail_msg("long answer: %s", f.done.reason[1]);
	assert_int_equal(f.sink.nreq, 3);
	assert_int_equal(stats(&f)->retried, 1);
	fixture_end(&f);
}

/* A sink that reads the request and never answers: each try times out. */
static void test_webhook_timeout(void **state)
{
	static const int script[] = { 0, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;
	uint64_t start;

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	uv_update_time(&f.loop);
	start = uv_now(&f.loop);
	post_to_sink(&f, 150, "slow");
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_non_null(strstr(f.done.reason[0], "timed out"));
	assert_int_equal(f.sink.nreq, NOTIFY_TRIES);
	assert_true(uv_now(&f.loop) - start >= 3 * 150 + 60);
	assert_int_equal(stats(&f)->failed, 1);
	assert_int_equal(stats(&f)->retried, 2);
	fixture_end(&f);
}

/* Nobody listens: connection refused, retried, failed. */
static void test_webhook_refused(void **state)
{
	static const int script[] = { 200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;
	char url[64];

	(void)state;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.sink.port);
	uv_close((uv_handle_t *)&f.sink.server, NULL); /* the port is free again */
	uv_run(&f.loop, UV_RUN_NOWAIT);
	assert_int_equal(notify_webhook(f.n, url, "POST", NULL, 0, "", 0, 0, "dead"), 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_non_null(strstr(f.done.reason[0], "onnect"));
	assert_int_equal(stats(&f)->retried, 2);
	fixture_end(&f);
}

/* max_parallel: at most two at once; the rest wait their turn. */
static void test_webhook_parallel_bound(void **state)
{
	static const int script[] = { 0, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	cfg.max_parallel = 2;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	f.sink.queue = f.n;
	for (int i = 0; i < 5; i++)
		assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/"), "POST", NULL, 0, "", 0,
						60, "p"),
				 0);
	/* they start from the loop, not from inside notify_webhook */
	assert_int_equal(stats(&f)->running, 0);
	assert_int_equal(stats(&f)->waiting, 5);
	assert_true(run_until(&f.loop, &f.done.n, 5, WAIT_MS));
	assert_int_equal(f.sink.nreq, 5 * NOTIFY_TRIES);
	assert_int_equal(f.sink.max_running, 2);
	assert_int_equal(stats(&f)->failed, 5);
	fixture_end(&f);
}

/* stderr into a file for a while: what the queue logs. */
struct capture {
	FILE *file;
	int saved;
};

static void stderr_capture(struct capture *c)
{
	c->file = tmpfile();
	assert_non_null(c->file);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* What was written meanwhile (the caller frees it); stderr is back. */
static char *stderr_release(struct capture *c)
{
	long len;
	char *text;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	assert_int_equal(fseek(c->file, 0, SEEK_END), 0); /* log.c writes to the fd */
	len = ftell(c->file);
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	rewind(c->file);
	assert_int_equal(fread(text, 1, (size_t)len, c->file), (size_t)len);
	fclose(c->file);
	return text;
}

/* queue_max counts waiting and running jobs: the next is refused and
 * counted, and there is room again once they end. */
static void test_overflow(void **state)
{
	static const int script[] = { 200, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;
	struct capture cap;
	char *logged;

	(void)state;
	cfg.queue_max = 3;
	cfg.max_parallel = 1;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	for (int i = 0; i < 3; i++)
		assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/"), "POST", NULL, 0, "", 0,
						0, "q"),
				 0);
	stderr_capture(&cap);
	for (int i = 0; i < 5; i++)
		assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/"), "POST", NULL, 0, "", 0,
						0, "dropped"),
				 NOTIFY_EFULL);
	logged = stderr_release(&cap);
	/* one line for the five: at most one a minute */
	assert_non_null(strstr(logged, "queue full (3 jobs): webhook of 'dropped' dropped"));
	assert_null(strstr(strstr(logged, "queue full") + 1, "queue full"));
	free(logged);
	assert_int_equal(stats(&f)->overflow, 5);
	assert_int_equal(stats(&f)->queued, 3);
	assert_true(run_until(&f.loop, &f.done.n, 3, WAIT_MS));
	for (int i = 0; i < 3; i++)
		assert_string_equal(f.done.tag[i], "q");
	assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/"), "POST", NULL, 0, "", 0, 0,
					"later"),
			 0);
	assert_true(run_until(&f.loop, &f.done.n, 4, WAIT_MS));
	assert_int_equal(stats(&f)->ok, 4);
	assert_int_equal(stats(&f)->overflow, 5);
	fixture_end(&f);
}

static void test_webhook_refusals(void **state)
{
	struct notify_config cfg = quick_config();
	struct fixture f;
	struct notify_header crlf[] = { { "X-A", "v\r\nX-Injected: 1" } };
	struct notify_header lf[] = { { "X-A", "v\nX: 1" } };
	struct notify_header space[] = { { "Bad Name", "v" } };
	struct notify_header colon[] = { { "Bad:", "v" } };
	struct notify_header length[] = { { "content-length", "5" } };
	struct notify_header te[] = { { "Transfer-Encoding", "chunked" } };
	struct notify_header many[NOTIFY_MAX_HEADERS + 1];
	char *big = calloc(1, NOTIFY_BODY_MAX + 1);
	const char *u = "http://127.0.0.1:9/";

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i <= NOTIFY_MAX_HEADERS; i++)
		many[i] = (struct notify_header){ "X-N", "1" };
	fixture_start(&f, &cfg);
	assert_int_equal(notify_webhook(f.n, "ftp://h/", "POST", NULL, 0, "", 0, 0, ""),
			 NOTIFY_EURL);
	assert_int_equal(notify_webhook(f.n, "file:///etc/passwd", "POST", NULL, 0, "", 0, 0, ""),
			 NOTIFY_EURL);
	assert_int_equal(notify_webhook(f.n, "gopher://h/", "PUT", NULL, 0, "", 0, 0, ""),
			 NOTIFY_EURL);
	assert_int_equal(notify_webhook(f.n, "http://h/a b", "POST", NULL, 0, "", 0, 0, ""),
			 NOTIFY_EURL);
	assert_int_equal(notify_webhook(f.n, "http://h/\r\n", "POST", NULL, 0, "", 0, 0, ""),
			 NOTIFY_EURL);
	assert_int_equal(notify_webhook(f.n, u, "GET", NULL, 0, "", 0, 0, ""), NOTIFY_EMETHOD);
	assert_int_equal(notify_webhook(f.n, u, "post", NULL, 0, "", 0, 0, ""), NOTIFY_EMETHOD);
	assert_int_equal(notify_webhook(f.n, u, "POST", crlf, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", lf, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", space, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", colon, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", length, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", te, 1, "", 0, 0, ""), NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", many, NOTIFY_MAX_HEADERS + 1, "", 0, 0, ""),
			 NOTIFY_EHEADER);
	assert_int_equal(notify_webhook(f.n, u, "POST", NULL, 0, "", 0, 60001, ""),
			 NOTIFY_ETIMEOUT);
	assert_int_equal(notify_webhook(f.n, u, "POST", NULL, 0, big, NOTIFY_BODY_MAX + 1, 0, ""),
			 NOTIFY_ETOOBIG);
	assert_int_equal(stats(&f)->rejected, 16);
	assert_int_equal(stats(&f)->queued, 0);
	assert_int_equal(stats(&f)->overflow, 0);
	assert_int_equal(f.done.n, 0);
	for (int e = NOTIFY_EFULL; e >= NOTIFY_ECURL; e--)
		assert_string_not_equal(notify_strerror(e), "unknown error");
	assert_string_equal(notify_strerror(-100), "unknown error");
	free(big);
	fixture_end(&f);
}

/* notify_free with a try in flight and jobs waiting: nothing reported,
 * everything freed (ASan's leak check) once the loop has run. */
static void test_free_cancels(void **state)
{
	static const int script[] = { 0, -1 };
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	cfg.max_parallel = 1;
	fixture_start(&f, &cfg);
	sink_start(&f.loop, &f.sink, script);
	for (int i = 0; i < 3; i++)
		assert_int_equal(notify_webhook(f.n, sink_url(&f.sink, "/"), "POST", NULL, 0, "", 0,
						5000, "c"),
				 0);
	assert_true(run_until(&f.loop, &f.sink.nreq, 1, WAIT_MS));
	fixture_end(&f);
	assert_int_equal(f.done.n, 0);
}

/* ---- e-mail ------------------------------------------------------------- */

struct smtp_sink {
	pid_t pid;
	int stdin_fd; /* closing it ends the sink */
	int port;
	char dir[256];
};

static const char *python(void)
{
	const char *p = getenv("PYTHON");

	return p && *p ? p : "/usr/bin/python3";
}

/* Reads the port line the sink prints, within WAIT_MS. */
static int read_port(int fd)
{
	char line[32];
	size_t len = 0;
	uint64_t deadline = uv_hrtime() / 1000000 + WAIT_MS;

	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - uv_hrtime() / 1000000);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		if ((n = read(fd, line + len, sizeof(line) - 1 - len)) <= 0)
			return -1;
		len += (size_t)n;
	}
	line[len] = '\0';
	return (int)strtol(line, NULL, 10);
}

/* A sink; login "USER:PASSWORD" required, or NULL. */
static void smtp_start_login(struct smtp_sink *s, const char *login)
{
	const char *tmp = getenv("TMPDIR");
	int in[2], out[2];

	snprintf(s->dir, sizeof(s->dir), "%s/agora-test-smtp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(s->dir));
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(python(), python(), "tests/unit/smtp_sink.py", s->dir, login, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->stdin_fd = in[1];
	s->port = read_port(out[0]);
	close(out[0]);
	if (s->port <= 0)
		fail_msg("the SMTP sink did not start (%s tests/unit/smtp_sink.py, from the "
			 "repository's root; python3-aiosmtpd)", python());
}

static void smtp_start(struct smtp_sink *s)
{
	smtp_start_login(s, NULL);
}

/* Ends the sink (SIGTERM: Python's default action ends it at once) and
 * removes its files. */
static void smtp_stop(struct smtp_sink *s)
{
	char cmd[300];
	int status;

	close(s->stdin_fd);
	kill(s->pid, SIGTERM);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
}

static char *read_file(const char *dir, const char *name)
{
	char path[400];
	FILE *fp;
	char *buf;
	long len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		fail_msg("%s: %s", path, strerror(errno));
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return buf;
}

static json_t *read_json(const char *dir, const char *name)
{
	char *text = read_file(dir, name);
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (!j)
		fail_msg("%s: %s", name, err.text);
	free(text);
	return j;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	if (b)
		v = json_object_get(v, b);
	if (!json_is_string(v))
		fail_msg("%s%s%s missing", a, b ? "." : "", b ? b : "");
	return json_string_value(v);
}

static struct notify_config smtp_config(const struct smtp_sink *s)
{
	struct notify_config cfg = quick_config();

	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtp://127.0.0.1:%d", s->port);
	snprintf(cfg.smtp_from, sizeof(cfg.smtp_from), "Agora Règles <rules@agora.test>");
	return cfg;
}

static void test_email_delivered(void **state)
{
	const char *subject = "Réponse urgente ✓ — «support»";
	const char *body = "Bonjour Åsa,\n.leading dot\n.\nlast line\n";
	struct smtp_sink sink;
	struct notify_config cfg;
	struct fixture f;
	json_t *j;
	char *raw;

	(void)state;
	smtp_start(&sink);
	cfg = smtp_config(&sink);
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "alice@example.org, bob@example.org", subject, body,
				      "mail-rule"),
			 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	if (!f.done.ok[0])
		fail_msg("e-mail failed: %s", f.done.reason[0]);
	assert_string_equal(f.done.tag[0], "mail-rule");
	j = read_json(sink.dir, "1.json");
	assert_string_equal(jstr(j, "mail_from", NULL), "rules@agora.test");
	assert_int_equal(json_array_size(json_object_get(j, "rcpt_tos")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "rcpt_tos"), 1)),
			    "bob@example.org");
	assert_string_equal(jstr(j, "headers", "Subject"), subject);
	assert_string_equal(jstr(j, "headers", "From"), "Agora Règles <rules@agora.test>");
	assert_string_equal(jstr(j, "headers", "To"), "alice@example.org, bob@example.org");
	assert_string_equal(jstr(j, "headers", "MIME-Version"), "1.0");
	assert_string_equal(jstr(j, "headers", "Content-Type"), "text/plain; charset=\"utf-8\"");
	assert_string_equal(jstr(j, "headers", "Content-Transfer-Encoding"), "quoted-printable");
	assert_non_null(strstr(jstr(j, "headers", "Message-ID"), "@agora.test>"));
	assert_non_null(strstr(jstr(j, "headers", "Date"), " +0000"));
	/* the body as Python decodes it: lines that start with a dot intact
	 * (libcurl stuffed them, aiosmtpd unstuffed them) */
	assert_string_equal(jstr(j, "body", NULL), body);
	assert_int_equal(json_integer_value(json_object_get(j, "bare_lf")), 0);
	assert_true(json_integer_value(json_object_get(j, "max_line")) <= 78);
	raw = read_file(sink.dir, "1.eml");
	assert_non_null(strstr(raw, "\r\nSubject: =?UTF-8?B?"));
	assert_non_null(strstr(raw, "\r\n.leading dot\r\n.\r\n"));
	free(raw);
	json_decref(j);
	assert_int_equal(stats(&f)->ok, 1);
	fixture_end(&f);
	smtp_stop(&sink);
}

/* A plain ASCII message goes as 7bit, as written. */
static void test_email_ascii(void **state)
{
	struct smtp_sink sink;
	struct notify_config cfg;
	struct fixture f;
	json_t *j;

	(void)state;
	smtp_start(&sink);
	cfg = smtp_config(&sink);
	snprintf(cfg.smtp_from, sizeof(cfg.smtp_from), "rules@agora.test");
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "carol@example.org", "Support request 42",
				      "A new request.\nSee the record.", "ascii"),
			 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_true(f.done.ok[0]);
	j = read_json(sink.dir, "1.json");
	assert_string_equal(jstr(j, "headers", "Subject"), "Support request 42");
	assert_string_equal(jstr(j, "headers", "From"), "rules@agora.test");
	assert_string_equal(jstr(j, "headers", "Content-Transfer-Encoding"), "7bit");
	assert_string_equal(jstr(j, "body", NULL), "A new request.\nSee the record.\n");
	json_decref(j);
	fixture_end(&f);
	smtp_stop(&sink);
}

/* 550 for a recipient: given up at once; 451: tried again, delivered. */
static void test_email_smtp_replies(void **state)
{
	struct smtp_sink sink;
	struct notify_config cfg;
	struct fixture f;
	char *log;

	(void)state;
	smtp_start(&sink);
	cfg = smtp_config(&sink);
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "nobody@example.org", "s", "b", "perm"), 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_non_null(strstr(f.done.reason[0], "SMTP 550"));
	assert_int_equal(stats(&f)->retried, 0);
	assert_int_equal(notify_email(f.n, "busy@example.org", "s", "b", "temp"), 0);
	assert_true(run_until(&f.loop, &f.done.n, 2, WAIT_MS));
	if (!f.done.ok[1])
		fail_msg("e-mail failed: %s", f.done.reason[1]);
	assert_int_equal(stats(&f)->retried, 1);
	log = read_file(sink.dir, "rcpt.log");
	assert_string_equal(log, "nobody@example.org 550\n"
				 "busy@example.org 451\n"
				 "busy@example.org 250\n");
	free(log);
	fixture_end(&f);
	smtp_stop(&sink);
}

/* smtp_user and smtp_password: the right ones log in and deliver; a
 * refused login is final (no retry). */
static void test_email_login(void **state)
{
	struct smtp_sink sink;
	struct notify_config cfg;
	struct fixture f;
	char *log;

	(void)state;
	smtp_start_login(&sink, "agora:s3cret:x");
	cfg = smtp_config(&sink);
	snprintf(cfg.smtp_user, sizeof(cfg.smtp_user), "agora");
	snprintf(cfg.smtp_password, sizeof(cfg.smtp_password), "s3cret:x");
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "a@example.org", "s", "b", "login"), 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	if (!f.done.ok[0])
		fail_msg("e-mail failed: %s", f.done.reason[0]);
	fixture_end(&f);

	snprintf(cfg.smtp_password, sizeof(cfg.smtp_password), "wrong");
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "a@example.org", "s", "b", "badlogin"), 0);
	assert_true(run_until(&f.loop, &f.done.n, 1, WAIT_MS));
	assert_false(f.done.ok[0]);
	assert_int_equal(stats(&f)->retried, 0);
	fixture_end(&f);
	log = read_file(sink.dir, "auth.log");
	assert_non_null(strstr(log, " ok\n"));
	assert_non_null(strstr(log, " refused\n"));
	free(log);
	log = read_file(sink.dir, "rcpt.log");
	assert_string_equal(log, "a@example.org 250\n"); /* one message only */
	free(log);
	smtp_stop(&sink);
}

/* CR or LF in a subject would start a header of its own: refused, nothing
 * queued, nothing sent. */
static void test_email_refusals(void **state)
{
	struct notify_config cfg = quick_config();
	struct fixture f;

	(void)state;
	fixture_start(&f, &cfg);
	/* not configured: refused at once, saying why */
	assert_int_equal(notify_email(f.n, "a@example.org", "s", "b", "t"), NOTIFY_ENOSMTP);
	assert_non_null(strstr(notify_strerror(NOTIFY_ENOSMTP), "smtp_url"));
	fixture_end(&f);

	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "http://127.0.0.1:9");
	snprintf(cfg.smtp_from, sizeof(cfg.smtp_from), "rules@agora.test");
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "a@example.org", "s", "b", "t"), NOTIFY_ESMTPURL);
	fixture_end(&f);

	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtp://127.0.0.1:9");
	fixture_start(&f, &cfg);
	assert_int_equal(notify_email(f.n, "a@example.org", "Hi\r\nBcc: x@example.org", "b", "t"),
			 NOTIFY_ESUBJECT);
	assert_int_equal(notify_email(f.n, "a@example.org", "Hi\nBcc: x@example.org", "b", "t"),
			 NOTIFY_ESUBJECT);
	assert_int_equal(notify_email(f.n, "a@example.org\r\nBcc: x@example.org", "s", "b", "t"),
			 NOTIFY_EADDRESS);
	assert_int_equal(notify_email(f.n, "a@example.org", "s", "\xff", "t"), NOTIFY_EBODY);
	assert_int_equal(stats(&f)->rejected, 4);
	assert_int_equal(stats(&f)->queued, 0);
	assert_int_equal(f.done.n, 0);
	fixture_end(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_mail_ascii),
		cmocka_unit_test(test_mail_encoded),
		cmocka_unit_test(test_mail_long),
		cmocka_unit_test(test_mail_refusals),
		cmocka_unit_test(test_webhook_post_and_put),
		cmocka_unit_test(test_webhook_retries_then_delivers),
		cmocka_unit_test(test_webhook_5xx_gives_up_after_three),
		cmocka_unit_test(test_webhook_4xx_not_retried),
		cmocka_unit_test(test_webhook_redirect_and_long_answers),
		cmocka_unit_test(test_webhook_timeout),
		cmocka_unit_test(test_webhook_refused),
		cmocka_unit_test(test_webhook_parallel_bound),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_webhook_refusals),
		cmocka_unit_test(test_free_cancels),
		cmocka_unit_test(test_email_delivered),
		cmocka_unit_test(test_email_ascii),
		cmocka_unit_test(test_email_smtp_replies),
		cmocka_unit_test(test_email_login),
		cmocka_unit_test(test_email_refusals),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
