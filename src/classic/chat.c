/*
 * chat.c - `agora chat` (chat.h): a UDP socket and standard input on one
 * libuv loop.
 *
 * Input is read into one line buffer and handled a line at a time. Two
 * things make the chat wait before the next line: a /join whose name the
 * resolver is looking up (the lines after it must go to the new peer), and
 * too many datagrams the socket has not taken yet. Then reading stops, so
 * a pipe pouring lines in is held back by the kernel rather than by our
 * memory; it resumes when the wait is over.
 *
 * UDP has no connections, so the chat does not go through the connection
 * layer (src/net/ is TCP listeners and streams): the socket is a uv_udp_t
 * of its own.
 */
#include "chat.h"

#include "base/alloc.h"
#include "chat_text.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define CHAT_MAX_PENDING 256  /* datagrams queued in libuv before input waits */
#define CHAT_RECV_BUF 65536   /* more than the largest UDP payload */
#define CHAT_NOTICE_MAX 512

enum input_kind { INPUT_STREAM, INPUT_FILE };

/* A datagram the socket did not take at once: libuv sends it later. */
struct chat_send {
	uv_udp_send_t req;
	struct chat *chat;
	char data[];
};

/* A /join whose host is a name. chat is NULL once the chat gave up on it
 * (deadline, closing): the callback then only frees it. */
struct chat_resolve {
	uv_getaddrinfo_t req;
	struct chat *chat;
	char host[NI_MAXHOST];
};

struct chat {
	uv_loop_t loop;
	const struct chat_opts *o;
	enum chat_status status;
	bool closing; /* every handle is being closed: the loop is ending */
	bool exiting; /* /exit or end of input: close once the queue is out */

	uv_udp_t udp;
	bool udp_open;
	int family;   /* of the socket */
	bool v6_any;  /* bound to [::] with IPV6_V6ONLY off: IPv4 peers too */
	unsigned pending;

	bool has_peer;
	struct sockaddr_storage peer;
	char peer_name[CHAT_ADDR_MAX];

	union {
		uv_stream_t stream;
		uv_tty_t tty;
		uv_pipe_t pipe;
	} in;
	uv_fs_t in_fs;
	enum input_kind in_kind;
	bool in_open, in_reading, in_eof, discarding;
	size_t in_len;

	uv_signal_t sigint, sigterm;
	uv_timer_t timer; /* the resolver's deadline */
	struct chat_resolve *resolving;

	char *show; /* one line of output */
	size_t show_cap;
	char in_buf[CHAT_LINE_MAX];
	char recv_buf[CHAT_RECV_BUF];
};

static void process_input(struct chat *c);
static void close_all(struct chat *c);

/* --- output ---------------------------------------------------------- */

/* Writes all of s to fd. Blocking, on purpose: when the terminal is slow
 * the chat waits for it, and datagrams wait in the kernel (or are dropped
 * there, as UDP allows). If fd was made non-blocking by someone sharing it,
 * poll waits for room rather than losing output. */
static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line on standard error: "agora chat: ...". */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[CHAT_NOTICE_MAX];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "agora chat: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write_all(STDERR_FILENO, line, (size_t)n);
}

/* A line on standard output; a failure ends the chat. */
static void out(struct chat *c, const char *s, size_t n)
{
	if (c->closing)
		return;
	if (write_all(STDOUT_FILENO, s, n)) {
		say("cannot write the output: %s", strerror(errno));
		c->status = CHAT_ELOCAL;
		close_all(c);
	}
}

/* --- showing what arrives -------------------------------------------- */

static void show_text(struct chat *c, const char *from, const uint8_t *d, size_t n)
{
	size_t o, used;

	o = (size_t)snprintf(c->show, c->show_cap, "%s: ", from);
	o += chat_escape(d, n, c->show + o, c->o->max_show, &used);
	if (used < n)
		o += (size_t)snprintf(c->show + o, c->show_cap - o, " [... %zu more bytes]",
				      n - used);
	c->show[o++] = '\n';
	out(c, c->show, o);
}

/* {"from":..., "bytes":N, "utf8":bool, "text":..., "truncated":bool}: text
 * is the datagram itself when it is UTF-8 (cut at a character boundary),
 * its escaped form (chat_escape) when it is not. */
static void show_json(struct chat *c, const char *from, const uint8_t *d, size_t n)
{
	bool utf8 = chat_utf8_valid(d, n);
	json_t *j = json_object();
	size_t k, used;
	char *s;

	json_object_set_new(j, "from", json_string(from));
	json_object_set_new(j, "bytes", json_integer((json_int_t)n));
	json_object_set_new(j, "utf8", json_boolean(utf8));
	if (utf8) {
		used = chat_split(d, n, c->o->max_show);
		json_object_set_new(j, "text", json_stringn((const char *)d, used));
	} else {
		k = chat_escape(d, n, c->show, c->o->max_show, &used);
		json_object_set_new(j, "text", json_stringn(c->show, k));
	}
	json_object_set_new(j, "truncated", json_boolean(used < n));
	/* ASCII only: no byte of a peer's text reaches the terminal as it is. */
	s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!s) {
		say("cannot format a datagram as JSON");
		return;
	}
	k = strlen(s);
	s[k] = '\n'; /* replaces the NUL: written with its length */
	out(c, s, k + 1);
	free(s);
}

static void on_recv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct chat *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->recv_buf, sizeof(c->recv_buf));
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		    unsigned flags)
{
	struct chat *c = h->data;
	char from[CHAT_ADDR_MAX];

	(void)flags; /* UV_UDP_PARTIAL cannot happen: the buffer holds any datagram */
	if (nread < 0) {
		say("receive error: %s", uv_strerror((int)nread));
		return;
	}
	if (!addr)
		return; /* nothing more to read now (nread is 0) */
	chat_format_addr(addr, from);
	if (c->o->json)
		show_json(c, from, (const uint8_t *)buf->base, (size_t)nread);
	else
		show_text(c, from, (const uint8_t *)buf->base, (size_t)nread);
}

/* --- sending --------------------------------------------------------- */

static bool busy(const struct chat *c)
{
	return c->resolving || c->pending >= CHAT_MAX_PENDING;
}

static void on_sent(uv_udp_send_t *req, int status)
{
	struct chat_send *s = (struct chat_send *)req;
	struct chat *c = s->chat;

	free(s);
	c->pending--;
	if (status && status != UV_ECANCELED)
		say("a datagram was not sent: %s", uv_strerror(status));
	if (c->closing)
		return;
	if (c->exiting && c->pending == 0)
		close_all(c);
	else if (c->pending == CHAT_MAX_PENDING / 2)
		process_input(c); /* input waited for the queue to go down */
}

/* Sends one datagram to the peer: at once when the socket takes it (the
 * usual case: no allocation), else queued. Returns 0 or -1 (said). */
static int send_datagram(struct chat *c, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	struct chat_send *s;
	int r;

	r = uv_udp_try_send(&c->udp, &b, 1, (const struct sockaddr *)&c->peer);
	if (r >= 0)
		return 0;
	if (r != UV_EAGAIN)
		goto out_fail;
	s = xmalloc(sizeof(*s) + n);
	s->chat = c;
	memcpy(s->data, p, n);
	b = uv_buf_init(s->data, (unsigned)n);
	r = uv_udp_send(&s->req, &c->udp, &b, 1, (const struct sockaddr *)&c->peer, on_sent);
	if (r) {
		free(s);
		goto out_fail;
	}
	c->pending++;
	return 0;
out_fail:
	say("cannot send to %s: %s", c->peer_name, uv_strerror(r));
	return -1;
}

/* A line of text: UTF-8, cut into datagrams of at most max_datagram bytes
 * at character boundaries, so that each decodes on its own at the other end. */
static void send_text(struct chat *c, const char *text, size_t len)
{
	const uint8_t *t = (const uint8_t *)text;

	if (!c->has_peer) {
		say("no peer: /join HOST PORT first (not sent)");
		return;
	}
	if (!chat_utf8_valid(t, len)) {
		say("the line is not valid UTF-8 (not sent)");
		return;
	}
	while (len > 0) {
		size_t n = chat_split(t, len, c->o->max_datagram);
		if (send_datagram(c, (const char *)t, n))
			return;
		t += n;
		len -= n;
	}
}

/* --- choosing the peer ----------------------------------------------- */

/* The address of res the socket can reach. A dual-stack socket prefers
 * IPv4, the family of the course's peer (socket.socket(type=SOCK_DGRAM)
 * is AF_INET), so "/join localhost 5000" reaches it when the name has
 * both; "/join ::1 5000" still picks IPv6. */
static const struct addrinfo *pick(const struct chat *c, const struct addrinfo *res)
{
	const struct addrinfo *v4 = NULL, *v6 = NULL;

	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET && !v4)
			v4 = a;
		if (a->ai_family == AF_INET6 && !v6)
			v6 = a;
	}
	if (c->family == AF_INET)
		return v4;
	if (!c->v6_any)
		return v6;
	return v4 ? v4 : v6;
}

static void set_peer(struct chat *c, const char *host, const struct addrinfo *res)
{
	const struct addrinfo *a = pick(c, res);
	struct sockaddr_in6 *m = (struct sockaddr_in6 *)&c->peer;

	if (!a) {
		say("/join: %s has no %s address this socket can reach", host,
		    c->family == AF_INET ? "IPv4" : "IPv6");
		return;
	}
	memset(&c->peer, 0, sizeof(c->peer));
	if (a->ai_family == AF_INET && c->family == AF_INET6) {
		/* ::ffff:a.b.c.d: an IPv4 peer through the dual-stack socket */
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)a->ai_addr;
		m->sin6_family = AF_INET6;
		m->sin6_port = in4->sin_port;
		m->sin6_addr.s6_addr[10] = 0xff;
		m->sin6_addr.s6_addr[11] = 0xff;
		memcpy(m->sin6_addr.s6_addr + 12, &in4->sin_addr, 4);
	} else {
		memcpy(&c->peer, a->ai_addr, a->ai_addrlen);
	}
	c->has_peer = true;
	chat_format_addr((const struct sockaddr *)&c->peer, c->peer_name);
	say("peer is %s", c->peer_name);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct chat_resolve *r = (struct chat_resolve *)req;
	struct chat *c = r->chat;

	if (c) {
		c->resolving = NULL;
		uv_timer_stop(&c->timer);
		if (status)
			say("/join: cannot resolve %s: %s", r->host, uv_strerror(status));
		else
			set_peer(c, r->host, res);
	}
	uv_freeaddrinfo(res);
	free(r);
	if (c)
		process_input(c);
}

/* Gives up on the name being resolved: its callback will only free it. */
static void abandon_resolve(struct chat *c)
{
	struct chat_resolve *r = c->resolving;

	if (!r)
		return;
	r->chat = NULL;
	c->resolving = NULL;
	uv_timer_stop(&c->timer);
	uv_cancel((uv_req_t *)&r->req); /* works only if it has not started yet */
}

static void on_resolve_timeout(uv_timer_t *t)
{
	struct chat *c = t->data;

	say("/join: cannot resolve %s: no answer in %d s", c->resolving->host,
	    CHAT_RESOLVE_MS / 1000);
	abandon_resolve(c);
	process_input(c);
}

static void join(struct chat *c, const char *host, size_t hlen, uint16_t port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	struct chat_resolve *r;
	struct addrinfo *res;
	char h[NI_MAXHOST], p[8];
	int rc;

	if (hlen >= sizeof(h)) {
		say("/join: the host name is too long");
		return;
	}
	memcpy(h, host, hlen);
	h[hlen] = '\0';
	snprintf(p, sizeof(p), "%u", port);
	/* An address: no resolver, no waiting. */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(h, p, &hints, &res);
	if (rc == 0) {
		set_peer(c, h, res);
		freeaddrinfo(res);
		return;
	}
	/* A name: the resolver runs on libuv's threads; input waits for it. */
	hints.ai_flags = AI_NUMERICSERV;
	hints.ai_family = c->family == AF_INET ? AF_INET : c->v6_any ? AF_UNSPEC : AF_INET6;
	r = xcalloc(1, sizeof(*r));
	r->chat = c;
	memcpy(r->host, h, hlen + 1);
	rc = uv_getaddrinfo(&c->loop, &r->req, on_resolved, r->host, p, &hints);
	if (rc) {
		say("/join: cannot resolve %s: %s", h, uv_strerror(rc));
		free(r);
		return;
	}
	c->resolving = r;
	uv_timer_start(&c->timer, on_resolve_timeout, CHAT_RESOLVE_MS, 0);
}

/* --- commands -------------------------------------------------------- */

static void begin_exit(struct chat *c)
{
	c->exiting = true;
	if (c->pending == 0)
		close_all(c);
}

static void handle_line(struct chat *c, const char *line, size_t len)
{
	struct chat_cmd cmd;

	chat_parse_line(line, len, &cmd);
	switch (cmd.kind) {
	case CHAT_CMD_EMPTY:
		break;
	case CHAT_CMD_SEND:
		send_text(c, cmd.text, cmd.len);
		break;
	case CHAT_CMD_JOIN:
		join(c, cmd.host, cmd.host_len, cmd.port);
		break;
	case CHAT_CMD_QUIT:
		if (c->has_peer)
			say("no peer now (was %s)", c->peer_name);
		else
			say("no peer to forget");
		c->has_peer = false;
		break;
	case CHAT_CMD_EXIT:
		begin_exit(c);
		break;
	case CHAT_CMD_HELP:
		say("/join HOST PORT picks the peer; a line, or /send TEXT, goes to it; "
		    "/quit forgets it; /exit leaves");
		break;
	case CHAT_CMD_BAD:
		say("%.*s: %s", (int)(cmd.len > 32 ? 32 : cmd.len), cmd.text, cmd.error);
		break;
	}
}

/* --- reading the input ----------------------------------------------- */

static void on_in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct chat *c = h->data;

	(void)hint;
	/* process_input leaves room: a full buffer without a newline is dropped. */
	*buf = uv_buf_init(c->in_buf + c->in_len, (unsigned)(CHAT_LINE_MAX - c->in_len));
}

static void input_ended(struct chat *c, ssize_t err)
{
	if (err != UV_EOF) {
		say("cannot read the input: %s", uv_strerror((int)err));
		c->status = CHAT_ELOCAL;
		close_all(c);
		return;
	}
	c->in_eof = true;
	process_input(c);
}

static void on_in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct chat *c = s->data;

	(void)buf;
	if (nread > 0) {
		c->in_len += (size_t)nread;
		process_input(c);
	} else if (nread < 0) {
		uv_read_stop(s);
		c->in_reading = false;
		input_ended(c, nread);
	}
}

static void on_in_fs_read(uv_fs_t *req)
{
	struct chat *c = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	c->in_reading = false;
	if (c->closing)
		return;
	if (n > 0) {
		c->in_len += (size_t)n;
		process_input(c);
	} else {
		input_ended(c, n == 0 ? UV_EOF : n);
	}
}

static void input_pause(struct chat *c)
{
	if (c->in_kind == INPUT_STREAM && c->in_reading) {
		uv_read_stop(&c->in.stream);
		c->in_reading = false;
	}
	/* A file is read one request at a time: the next is simply not asked. */
}

static void input_resume(struct chat *c)
{
	uv_buf_t b;
	int r;

	if (c->in_eof || c->closing || c->in_reading)
		return;
	if (c->in_kind == INPUT_STREAM) {
		r = uv_read_start(&c->in.stream, on_in_alloc, on_in_read);
	} else {
		b = uv_buf_init(c->in_buf + c->in_len, (unsigned)(CHAT_LINE_MAX - c->in_len));
		r = uv_fs_read(&c->loop, &c->in_fs, STDIN_FILENO, &b, 1, -1, on_in_fs_read);
	}
	if (r) {
		say("cannot read the input: %s", uv_strerror(r));
		c->status = CHAT_ELOCAL;
		close_all(c);
		return;
	}
	c->in_reading = true;
}

/* Handles the complete lines in the buffer, until one makes the chat wait
 * (busy) or the chat ends; then reads more or waits. */
static void process_input(struct chat *c)
{
	size_t off = 0;

	while (!c->closing && !c->exiting) {
		char *line = c->in_buf + off, *nl;
		size_t rest = c->in_len - off;

		if (busy(c)) {
			input_pause(c);
			break;
		}
		nl = memchr(line, '\n', rest);
		if (nl) {
			if (!c->discarding)
				handle_line(c, line, (size_t)(nl - line));
			c->discarding = false;
			off += (size_t)(nl - line) + 1;
			continue;
		}
		if (rest == CHAT_LINE_MAX) { /* no newline in a full buffer */
			if (!c->discarding)
				say("a line of more than %d bytes (not sent)", CHAT_LINE_MAX);
			c->discarding = true;
			off = c->in_len;
			continue;
		}
		if (c->in_eof) {
			if (rest > 0 && !c->discarding)
				handle_line(c, line, rest); /* the last line, without its newline */
			off = c->in_len;
			if (!c->resolving)
				begin_exit(c);
			continue; /* a /join on the last line: wait for it, then exit */
		}
		/* A partial line: keep it at the start of the buffer, read the rest
		 * after it (a file read is asked at once, into the free tail). */
		memmove(c->in_buf, line, rest);
		c->in_len = rest;
		off = 0;
		input_resume(c);
		break;
	}
	if (c->exiting || c->closing)
		input_pause(c);
	memmove(c->in_buf, c->in_buf + off, c->in_len - off);
	c->in_len -= off;
}

/* --- setting up and closing ------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	close_all(h->data);
}

static void close_all(struct chat *c)
{
	if (c->closing)
		return;
	c->closing = true;
	abandon_resolve(c);
	if (c->in_kind == INPUT_FILE && c->in_reading)
		uv_cancel((uv_req_t *)&c->in_fs); /* else it ends soon: files do not block */
	if (c->in_open) {
		uv_close((uv_handle_t *)&c->in.stream, NULL);
		c->in_reading = false;
	}
	if (c->udp_open)
		uv_close((uv_handle_t *)&c->udp, NULL); /* queued sends end with UV_ECANCELED */
	uv_close((uv_handle_t *)&c->sigint, NULL);
	uv_close((uv_handle_t *)&c->sigterm, NULL);
	uv_close((uv_handle_t *)&c->timer, NULL);
}

/* Whether this machine can open an IPv6 socket at all. */
static bool ipv6_available(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static enum chat_status open_socket(struct chat *c)
{
	struct sockaddr_storage ss, bound;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	char name[CHAT_ADDR_MAX];
	int r, off = 0, len = sizeof(bound);
	uv_os_fd_t fd;
	bool any;

	if (chat_parse_bind(c->o->bind, &ss, &any)) {
		say("'%s' is not [HOST:]PORT (a numeric address: 127.0.0.1:5000, [::1]:5000)",
		    c->o->bind);
		return CHAT_EUSAGE;
	}
	if (any && !ipv6_available()) {
		uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		memset(&ss, 0, sizeof(ss));
		in4->sin_family = AF_INET;
		in4->sin_port = port;
		any = false;
	}
	c->family = ss.ss_family;
	c->v6_any = any;
	r = uv_udp_init_ex(&c->loop, &c->udp, (unsigned)c->family);
	if (r)
		goto out_fail;
	c->udp_open = true;
	c->udp.data = c;
	/* One socket for IPv6 and IPv4, whatever net.ipv6.bindv6only says. */
	if (c->family == AF_INET6 && uv_fileno((uv_handle_t *)&c->udp, &fd) == 0)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	r = uv_udp_bind(&c->udp, (const struct sockaddr *)&ss, 0);
	if (r)
		goto out_fail;
	r = uv_udp_recv_start(&c->udp, on_recv_alloc, on_recv);
	if (r)
		goto out_fail;
	if (uv_udp_getsockname(&c->udp, (struct sockaddr *)&bound, &len) == 0)
		chat_format_addr((struct sockaddr *)&bound, name);
	else
		snprintf(name, sizeof(name), "%s", c->o->bind);
	say("listening on %s%s; /join HOST PORT picks the peer, /help lists the commands", name,
	    any ? " (IPv6 and IPv4)" : "");
	return CHAT_OK;
out_fail:
	say("cannot bind %s: %s", c->o->bind, uv_strerror(r));
	return CHAT_ENET;
}

static enum chat_status open_input(struct chat *c)
{
	uv_handle_type t = uv_guess_handle(STDIN_FILENO);
	int r;

	if (t == UV_TTY) {
		r = uv_tty_init(&c->loop, &c->in.tty, STDIN_FILENO, 1);
	} else if (t == UV_NAMED_PIPE) {
		r = uv_pipe_init(&c->loop, &c->in.pipe, 0);
		if (r == 0) {
			c->in_open = true;
			r = uv_pipe_open(&c->in.pipe, STDIN_FILENO);
		}
	} else if (t == UV_FILE) {
		c->in_kind = INPUT_FILE;
		c->in_fs.data = c;
		return CHAT_OK;
	} else {
		say("the input is not a terminal, a pipe or a file");
		return CHAT_ELOCAL;
	}
	if (r == 0)
		c->in_open = true;
	c->in.stream.data = c;
	c->in_kind = INPUT_STREAM;
	if (r) {
		say("cannot read the input: %s", uv_strerror(r));
		return CHAT_ELOCAL;
	}
	return CHAT_OK;
}

enum chat_status chat_run(const struct chat_opts *o)
{
	struct chat *c = xcalloc(1, sizeof(*c));
	enum chat_status st;

	c->o = o;
	c->show_cap = CHAT_ADDR_MAX + 2 + o->max_show + 64;
	c->show = xmalloc(c->show_cap);
	if (uv_loop_init(&c->loop)) {
		say("cannot start the event loop");
		free(c->show);
		free(c);
		return CHAT_ELOCAL;
	}
	uv_signal_init(&c->loop, &c->sigint);
	uv_signal_init(&c->loop, &c->sigterm);
	uv_timer_init(&c->loop, &c->timer);
	c->sigint.data = c->sigterm.data = c->timer.data = c;
	/* Before the "listening" line: a signal sent once it is seen ends the chat cleanly. */
	uv_signal_start(&c->sigint, on_signal, SIGINT);
	uv_signal_start(&c->sigterm, on_signal, SIGTERM);

	st = open_socket(c);
	if (st == CHAT_OK)
		st = open_input(c);
	if (st != CHAT_OK) {
		c->status = st;
		close_all(c);
	} else {
		process_input(c);
	}
	uv_run(&c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&c->loop))
		say("internal error: the event loop did not close");
	st = c->status;
	free(c->show);
	free(c);
	return st;
}
