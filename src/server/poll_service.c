/*
 * poll_service.c - the poll line protocol on the connection layer
 * (poll_service.h).
 *
 * Path of one VOTE: the layer reads into its loop-wide buffer -> poll_input
 * frames each whole line (polls_line_next) and parses it (polls_line_parse)
 * -> cmd_vote -> polls_vote stores the vote and tells the observers, among
 * them on_poll_changed, which marks the poll in the watch set -> the answer
 * line is appended to the connection's outbuf. Once per loop turn,
 * push_changed takes every marked poll, reads it once, formats its JSON
 * once and appends a RESULTS line to each watcher; then the layer asks
 * poll_output for each marked connection and writes it with one try-write.
 *
 * A client that does not read: its input waits once half of poll_max_output
 * is unsent (commands are not taken faster than answers are read), and it
 * is closed when an answer or a push would put more than poll_max_output
 * bytes in wait, or when it stays behind for poll_idle_timeout.
 */
#include "poll_service.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"
#include "base/text.h"
#include "broker/outbuf.h"
#include "login.h"
#include "poll_watch.h"
#include "polls/line.h"
#include "polls/polls.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_FAILURES_MAX 3 /* failed LOGINs before the connection closes */
#define POLLS_LISTED 100     /* polls a POLLS answer lists */
#define NAME_BYTES 64        /* an account name (32 characters) fits */
#define ERR_MESSAGE_MAX 255  /* bytes of an ERR line's message */
#define OPTION_QUOTED_MAX 60 /* bytes of a VOTE's option an ERR line quotes */
/* The lingering close after a last answer (a bad line, QUIT, a refusal):
 * what the client still sends is dropped for this long at most, so the
 * kernel does not reset the connection under an answer it has not read. */
#define LINGER_TIME_MS 5000
#define LINGER_TIMEOUT_MS 2000
#define LINGER_BYTES (1024 * 1024)

struct poll_service {
	struct net_service svc;
	struct net *net;
	struct poll_config cfg;
	struct api *api;              /* not owned: accounts and polls */
	struct outbuf_pool *bufs;     /* the answers' storage (the broker's pool) */
	struct poll_watch_set watches;
	void **pushing;               /* watchers of the poll being pushed (a copy) */
	uint32_t pushing_cap;
	uv_buf_t *iov;                /* one scratch array for every write (net_out) */
	uint32_t iov_cap;
	uv_timer_t closer;            /* the nearest closing time of a watched poll */
	int64_t closer_at;            /* what it is set for (0: stopped) */
	uint64_t last_refusal_log;
};

struct account_login;

/* One connection. Its answers are queued in `out`; the layer writes them
 * from `sending` (the two swap, each keeping its storage). */
struct pconn {
	struct net_conn *conn;    /* NULL once closed (freed when no write holds it) */
	struct poll_service *ps;
	struct outbuf out, sending;
	struct net_out wout;
	bool sending_busy;        /* wout is the layer's until released */
	bool backlogged;          /* input paused: half of max_output waits unread */
	bool overflow;            /* an answer found max_output in wait: close it */
	bool ending;              /* the last answer is queued: closing */
	bool peer_done;           /* the client shut its side */
	bool refused;             /* over poll_max_connections: told so, closing */
	uint8_t failures;         /* failed LOGINs */
	struct account_login *login; /* a LOGIN under way: input paused */
	int64_t user_id;          /* 0 until LOGIN succeeds */
	char name[NAME_BYTES];
	int64_t *watching;        /* the polls it WATCHes */
	uint32_t nwatching, watching_cap;
	uint64_t lines;           /* commands taken */
	char peer[80];
	char why[96];             /* how it ended, for the last log line */
};

/* ---- output ---- */

static size_t unsent(const struct pconn *pc)
{
	return pc->out.total + net_conn_queued(pc->conn);
}

/* Queues one answer line. False when the client is not reading (the bytes
 * waiting and this line would pass max_output): nothing is queued,
 * overflow is set and settle() closes it. One line longer than the bound
 * still goes to a client that has read everything. */
static bool answer(struct pconn *pc, enum polls_line_kind kind, const char *code,
		   const char *text, size_t len)
{
	size_t n = polls_line_format(NULL, 0, kind, code, text, len);
	size_t waiting = unsent(pc);
	uint8_t *p;

	if (waiting && waiting + n > pc->ps->cfg.max_output) {
		snprintf(pc->why, sizeof(pc->why), "not reading (%zu bytes waiting)", waiting);
		pc->overflow = true;
		return false;
	}
	p = outbuf_reserve(&pc->out, n);
	polls_line_format((char *)p, n, kind, code, text, len);
	outbuf_commit(&pc->out, n);
	net_conn_want_write(pc->conn);
	return true;
}

static bool answer_ok(struct pconn *pc, const char *text)
{
	return answer(pc, POLLS_ANSWER_OK, NULL, text, strlen(text));
}

static bool answer_err(struct pconn *pc, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool answer_err(struct pconn *pc, const char *code, const char *fmt, ...)
{
	char msg[ERR_MESSAGE_MAX + 2]; /* one byte past the cut, to see where it falls */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A long message is cut between two characters. */
	return answer(pc, POLLS_ANSWER_ERR, code, msg,
		      text_utf8_cut(msg, strlen(msg), ERR_MESSAGE_MAX));
}

/* A refusal of the voting rules: polls_code()'s word and a sentence about
 * this poll (option: the VOTE's, or NULL). */
static bool answer_polls_err(struct pconn *pc, int err, int64_t id, const char *option,
			     size_t option_len)
{
	const char *code = polls_code(err);

	switch (err) {
	case POLLS_ENOTFOUND:
		return answer_err(pc, code, "no poll %" PRId64, id);
	case POLLS_EFORBIDDEN:
		return answer_err(pc, code, "this account cannot vote: it no longer exists");
	case POLLS_ECLOSED:
		return answer_err(pc, code, "poll %" PRId64 " is closed: it takes no more votes", id);
	case POLLS_EVOTED:
		return answer_err(pc, code, "you have already voted on poll %" PRId64 " (a vote is "
				  "changed over the REST API: PUT /api/polls/%" PRId64 "/votes/me)",
				  id, id);
	case POLLS_EOPTION:
		return answer_err(pc, code, "poll %" PRId64 " has no option '%.*s': name one by "
				  "its label or its number (1 for the first)", id,
				  (int)text_utf8_cut(option, option_len, OPTION_QUOTED_MAX), option);
	default:
		return answer_err(pc, code, "poll %" PRId64 ": %s", id, polls_message(err));
	}
}

/* After answers: a client found not reading is closed now. False when it
 * was: pc is gone (or going), the caller must not touch it. */
static bool settle(struct pconn *pc)
{
	if (!pc->overflow)
		return true;
	net_conn_close(pc->conn, NET_CLOSE_NOW);
	return false;
}

/* The last answer is queued: it goes out, then the connection ends (what
 * the client still sends is dropped meanwhile). */
static void end_after_answer(struct pconn *pc)
{
	pc->ending = true;
	net_conn_close(pc->conn, NET_CLOSE_LINGER);
}

static void pconn_maybe_free(struct pconn *pc)
{
	if (pc->conn || pc->sending_busy)
		return;
	outbuf_release(&pc->out);
	outbuf_release(&pc->sending);
	free(pc->watching);
	free(pc);
}

static void poll_sent(struct net_out *out)
{
	struct pconn *pc = (struct pconn *)(void *)((char *)out - offsetof(struct pconn, wout));

	outbuf_reset(&pc->sending); /* storage kept for the next answers */
	pc->sending_busy = false;
	pconn_maybe_free(pc);
}

static struct net_out *poll_output(struct net_conn *c)
{
	struct pconn *pc = net_conn_state(c);
	struct poll_service *ps = pc->ps;
	struct outbuf queued = pc->out;

	if (!queued.total)
		return NULL;
	pc->out = pc->sending; /* empty, with its storage */
	pc->sending = queued;
	pc->sending_busy = true;
	ARRAY_GROW(ps->iov, ps->iov_cap, queued.nsegs, 16, ARRAY_MAX);
	for (uint32_t i = 0; i < queued.nsegs; i++)
		ps->iov[i] = uv_buf_init((char *)outbuf_seg_data(&pc->sending, i),
					 queued.segs[i].len);
	pc->wout = (struct net_out){ .iov = ps->iov, .n = queued.nsegs, .total = queued.total,
				     .release = poll_sent };
	return &pc->wout;
}

/* ---- time limits ---- */

/* A connection that sends nothing for idle_timeout closes; one watching
 * polls may stay silent (it waits for pushes), but not leave half of
 * max_output unread that long. */
static void arm_deadline(struct pconn *pc)
{
	bool waits_for_pushes = pc->nwatching && !pc->backlogged;

	net_conn_deadline(pc->conn, waits_for_pushes || pc->login ? 0 : pc->ps->cfg.idle_timeout_ms);
}

/* Half of max_output unread: the client's next commands wait (poll_drained
 * resumes them), and it has idle_timeout to catch up (a watcher too). */
static void check_backlog(struct pconn *pc)
{
	if (pc->backlogged || unsent(pc) < pc->ps->cfg.max_output / 2)
		return;
	pc->backlogged = true;
	net_conn_pause(pc->conn, true);
	arm_deadline(pc);
}

/* ---- watches ---- */

static void watch_add(struct pconn *pc, int64_t id)
{
	poll_watch_add(&pc->ps->watches, id, pc);
	ARRAY_GROW(pc->watching, pc->watching_cap, pc->nwatching + 1, 4, pc->ps->cfg.max_watches);
	pc->watching[pc->nwatching++] = id;
}

static bool watch_remove(struct pconn *pc, int64_t id)
{
	for (uint32_t i = 0; i < pc->nwatching; i++) {
		if (pc->watching[i] != id)
			continue;
		pc->watching[i] = pc->watching[--pc->nwatching];
		poll_watch_remove(&pc->ps->watches, id, pc);
		return true;
	}
	return false;
}

static void watch_remove_all(struct pconn *pc)
{
	while (pc->nwatching)
		watch_remove(pc, pc->watching[pc->nwatching - 1]);
}

/* ---- closing by the clock: a change the polls module cannot see ---- */

static void on_closer(uv_timer_t *t);

/* The timer at the nearest closing time of a watched poll, or stopped. The
 * wall clock (closes_at's) and the loop's may drift apart: a timer that
 * fires early finds nothing due and is set again. */
static void closer_arm(struct poll_service *ps)
{
	int64_t next = poll_watch_next_closing(&ps->watches), now;

	if (next == ps->closer_at)
		return;
	ps->closer_at = next;
	if (!next) {
		uv_timer_stop(&ps->closer);
		return;
	}
	now = wall_clock_ms();
	uv_timer_start(&ps->closer, on_closer, next > now ? (uint64_t)(next - now) : 0, 0);
}

/* Polls whose time has come are marked: their watchers get RESULTS with
 * "open": false at the end of this loop turn. */
static void on_closer(uv_timer_t *t)
{
	struct poll_service *ps = t->data;

	ps->closer_at = 0; /* a one-shot timer: stopped now */
	poll_watch_mark_closed(&ps->watches, wall_clock_ms());
	closer_arm(ps);
}

/* p was just read: when it closes by the clock, if anyone watches it. */
static void note_closing(struct poll_service *ps, const struct store_poll *p, int64_t now)
{
	poll_watch_closing(&ps->watches, p->id, polls_is_open(p, now) ? p->closes_at : 0);
	closer_arm(ps);
}

/* The API's polls changed (a vote, a close, from any protocol): pushed at
 * the end of the loop turn, once however many changes came. */
static void on_poll_changed(void *ctx, int64_t poll_id)
{
	struct poll_service *ps = ctx;

	poll_watch_mark(&ps->watches, poll_id);
}

/* One poll's results to the n watchers in ps->pushing (a copy: a watcher
 * closed for not reading leaves the set, not the copy). */
static void push_results(struct poll_service *ps, int64_t id, uint32_t n)
{
	struct store_poll p = { 0 };
	char *json;
	int64_t now;
	int rc = polls_get(&ps->api->polls, id, &p);

	if (rc) {
		log_warn("poll line: results of poll %" PRId64 " not pushed: %s", id,
			 polls_code(rc));
		return;
	}
	now = wall_clock_ms();
	json = api_poll_payload(&p, now);
	note_closing(ps, &p, now);
	store_poll_release(&p);
	if (!json)
		return;
	for (uint32_t i = 0; i < n; i++) {
		struct pconn *pc = ps->pushing[i];

		if (net_conn_closing(pc->conn))
			continue; /* its last answer is its last line */
		if (answer(pc, POLLS_ANSWER_RESULTS, NULL, json, strlen(json)))
			check_backlog(pc);
		else
			settle(pc); /* pc is gone; each is in the copy once */
	}
	free(json);
}

/* Once per loop turn, before the layer writes. */
static void push_changed(void *ctx)
{
	struct poll_service *ps = ctx;
	int64_t id;
	uint32_t n;

	while (poll_watch_next_changed(&ps->watches, &id, &ps->pushing, &ps->pushing_cap, &n))
		push_results(ps, id, n);
}

/* ---- LOGIN: the account's password or one of its API tokens (login.h) ---- */

/* The verdict, answered; false when the connection is closing. */
static bool login_answer(struct pconn *pc, const struct account_login *l,
			 const struct store_user *u)
{
	log_info("poll line login as '%s' from %s: %s", l->name, pc->peer,
		 !u ? "refused" : l->by_token ? "accepted (API token)" : "accepted");
	if (u) {
		pc->user_id = u->id;
		snprintf(pc->name, sizeof(pc->name), "%s", u->name);
		answer_ok(pc, pc->name);
	} else if (++pc->failures < LOGIN_FAILURES_MAX) {
		answer_err(pc, "unauthorized", "wrong name or password");
	} else {
		answer_err(pc, "unauthorized", "wrong name or password (%d failed logins: closing)",
			   LOGIN_FAILURES_MAX);
		snprintf(pc->why, sizeof(pc->why), "%d failed logins", LOGIN_FAILURES_MAX);
		end_after_answer(pc);
	}
	return settle(pc) && !pc->ending;
}

static void login_done(void *ctx, const struct account_login *l, const struct store_user *u)
{
	struct pconn *pc = ctx;

	pc->login = NULL;
	if (!login_answer(pc, l, u) || net_conn_closing(pc->conn))
		return;
	if (pc->peer_done) {
		net_conn_close(pc->conn, NET_CLOSE_AFTER_WRITE);
	} else {
		arm_deadline(pc);
		/* Last: what the client sent meanwhile is taken now (and may close
		 * the connection). */
		net_conn_pause(pc->conn, false);
	}
}

static void cmd_login(struct pconn *pc, const struct polls_line_req *rq)
{
	if (pc->user_id) {
		answer_err(pc, "bad_request", "already logged in as %s", pc->name);
		return;
	}
	net_conn_pause(pc->conn, true); /* the next lines wait for the verdict */
	pc->login = account_login_start(net_loop(pc->ps->net), pc->ps->api,
					(const uint8_t *)rq->name, rq->name_len,
					(const uint8_t *)rq->arg, rq->arg_len, login_done, pc);
}

/* ---- the other commands ---- */

/* {"polls":[poll, ...]}: the first POLLS_LISTED, open ones first. */
static char *polls_list_payload(struct poll_service *ps, int64_t now)
{
	struct store_poll_query q = { .now = now, .limit = POLLS_LISTED, .offset = 0 };
	struct store_poll_list list = { 0 };
	struct text t = { 0 };

	if (store_poll_list(ps->api->store, &q, &list))
		return NULL;
	text_printf(&t, "{\"polls\":[");
	for (size_t i = 0; i < list.n; i++) {
		char *json = api_poll_payload(&list.items[i], now);

		if (json)
			text_printf(&t, "%s%s", i ? "," : "", json);
		free(json);
	}
	text_printf(&t, "]}");
	store_poll_list_free(&list);
	return t.s;
}

static void cmd_polls(struct pconn *pc)
{
	char *json = polls_list_payload(pc->ps, wall_clock_ms());

	if (json)
		answer_ok(pc, json);
	else
		answer_err(pc, "internal", "the polls cannot be read now");
	free(json);
}

/* OK and the poll's JSON, or the refusal. watch: it is watched from now on
 * (WATCH), once however many times it is asked. */
static void answer_poll(struct pconn *pc, int64_t id, bool watch)
{
	struct store_poll p = { 0 };
	int64_t now = wall_clock_ms();
	char *json;
	int rc = polls_get(&pc->ps->api->polls, id, &p);

	if (rc) {
		answer_polls_err(pc, rc, id, NULL, 0);
		return;
	}
	json = api_poll_payload(&p, now);
	if (watch && !poll_watch_has(&pc->ps->watches, id, pc))
		watch_add(pc, id);
	if (watch)
		note_closing(pc->ps, &p, now);
	store_poll_release(&p);
	if (json)
		answer_ok(pc, json);
	else
		answer_err(pc, "internal", "poll %" PRId64 " cannot be shown now", id);
	free(json);
}

static void cmd_vote(struct pconn *pc, const struct polls_line_req *rq)
{
	struct polls_ballot b = { .poll_id = rq->id, .user_id = pc->user_id, .option = rq->arg,
				  .option_len = rq->arg_len, .mode = POLLS_CAST,
				  .now = wall_clock_ms() };
	struct store_poll p = { 0 };
	size_t chosen = 0;
	char *json;
	int rc;

	if (!pc->user_id) {
		answer_err(pc, "unauthorized", "log in first: LOGIN name password");
		return;
	}
	rc = polls_vote(&pc->ps->api->polls, &b, &p, &chosen);
	if (rc) {
		answer_polls_err(pc, rc, rq->id, rq->arg, rq->arg_len);
		return;
	}
	json = api_vote_payload(&p, chosen, b.now, b.now);
	store_poll_release(&p);
	if (json)
		answer_ok(pc, json);
	else
		answer_err(pc, "internal", "the vote is stored; its answer cannot be shown now");
	free(json);
}

static void cmd_watch(struct pconn *pc, const struct polls_line_req *rq)
{
	uint32_t max = pc->ps->cfg.max_watches;
	bool again = poll_watch_has(&pc->ps->watches, rq->id, pc);

	if (!again && pc->nwatching >= max) {
		answer_err(pc, "too_many_watches", "at most %" PRIu32 " polls watched at once: "
			   "UNWATCH one first", max);
		return;
	}
	answer_poll(pc, rq->id, true); /* again: the results again */
}

static void cmd_unwatch(struct pconn *pc, const struct polls_line_req *rq)
{
	char text[48];

	if (!watch_remove(pc, rq->id)) {
		answer_err(pc, "not_watching", "you are not watching poll %" PRId64, rq->id);
		return;
	}
	snprintf(text, sizeof(text), "unwatched %" PRId64, rq->id);
	answer_ok(pc, text);
}

static void cmd_quit(struct pconn *pc)
{
	answer_ok(pc, "bye");
	snprintf(pc->why, sizeof(pc->why), "QUIT");
	end_after_answer(pc);
}

static void run_line(struct pconn *pc, const char *line, size_t len)
{
	struct polls_line_req rq;

	polls_line_parse(line, len, &rq);
	if (rq.cmd != POLLS_CMD_NONE)
		pc->lines++;
	switch (rq.cmd) {
	case POLLS_CMD_NONE:
		break;
	case POLLS_CMD_LOGIN:
		cmd_login(pc, &rq);
		break;
	case POLLS_CMD_POLLS:
		cmd_polls(pc);
		break;
	case POLLS_CMD_POLL:
		answer_poll(pc, rq.id, false);
		break;
	case POLLS_CMD_VOTE:
		cmd_vote(pc, &rq);
		break;
	case POLLS_CMD_WATCH:
		cmd_watch(pc, &rq);
		break;
	case POLLS_CMD_UNWATCH:
		cmd_unwatch(pc, &rq);
		break;
	case POLLS_CMD_HELP:
		answer_ok(pc, polls_line_help());
		break;
	case POLLS_CMD_QUIT:
		cmd_quit(pc);
		break;
	case POLLS_CMD_UNKNOWN:
		answer_err(pc, "unknown_command", "unknown command '%.*s' (HELP lists them)",
			   (int)rq.word_len, rq.word);
		break;
	case POLLS_CMD_USAGE:
		answer_err(pc, "bad_request", "%s", rq.error);
		break;
	}
}

/* ---- the protocol ---- */

static void bad_line(struct pconn *pc, int err)
{
	char why[64];

	polls_line_why(err, pc->ps->cfg.max_line, why, sizeof(why));
	answer_err(pc, "bad_line", "%s: closing", why);
	snprintf(pc->why, sizeof(pc->why), "bad line: %s", why);
	end_after_answer(pc);
}

/* Whether the next line may be taken now. */
static bool taking(const struct pconn *pc)
{
	return !pc->ending && !pc->overflow && !pc->login && !pc->backlogged;
}

/* Answers every whole line in data, in order; returns the bytes taken (the
 * rest waits: a partial line, or what follows a LOGIN under way). */
static size_t poll_input(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct pconn *pc = net_conn_state(c);
	size_t off = 0, n;
	long r;

	while (off < len && taking(pc)) {
		r = polls_line_next(data + off, len - off, pc->ps->cfg.max_line, &n);
		if (r == POLLS_LINE_NEED_MORE)
			break;
		if (r < 0) {
			bad_line(pc, (int)r);
			break;
		}
		run_line(pc, (const char *)data + off, n);
		off += (size_t)r;
		if (!pc->overflow && !pc->ending)
			check_backlog(pc);
	}
	if (pc->ending || pc->overflow)
		off = len; /* nothing more is read */
	else
		arm_deadline(pc);
	return settle(pc) ? off : len;
}

/* Output went out: a client that caught up is read again. */
static void poll_drained(struct net_conn *c)
{
	struct pconn *pc = net_conn_state(c);

	if (!pc->backlogged || unsent(pc) >= pc->ps->cfg.max_output / 4)
		return;
	pc->backlogged = false;
	arm_deadline(pc);
	net_conn_pause(c, false); /* last: the waiting lines run now */
}

/* The client shut its side (`nc -N`, a script's shutdown): what it sent
 * before is answered, then the connection closes. */
static void poll_eof(struct net_conn *c, int status)
{
	struct pconn *pc = net_conn_state(c);

	if (status < 0) {
		snprintf(pc->why, sizeof(pc->why), "%s", uv_strerror(status));
		return; /* the layer closes it */
	}
	pc->peer_done = true;
	snprintf(pc->why, sizeof(pc->why), "closed by the client");
	if (!pc->login) /* else login_after closes it after the verdict */
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

static void poll_deadline(struct net_conn *c)
{
	struct pconn *pc = net_conn_state(c);
	uint32_t s = pc->ps->cfg.idle_timeout_ms / 1000;

	if (pc->backlogged) {
		snprintf(pc->why, sizeof(pc->why), "not reading (%zu bytes waiting for %" PRIu32
			 " s)", unsent(pc), s);
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	snprintf(pc->why, sizeof(pc->why), "idle for %" PRIu32 " s", s);
	answer_err(pc, "idle_timeout", "no command for %" PRIu32 " s: closing", s);
	end_after_answer(pc);
}

static struct pconn *pconn_new(struct poll_service *ps, struct net_conn *c)
{
	struct pconn *pc = xcalloc(1, sizeof(*pc));

	pc->conn = c;
	pc->ps = ps;
	outbuf_init(&pc->out, ps->bufs);
	outbuf_init(&pc->sending, ps->bufs);
	net_conn_peer(c, pc->peer, sizeof(pc->peer), true);
	net_conn_set_state(c, pc);
	return pc;
}

static bool poll_open(struct net_conn *c, const struct net_listener *l)
{
	struct pconn *pc = pconn_new(net_conn_ctx(c), c);

	log_info("poll line connection from %s on %s", pc->peer, l->name);
	arm_deadline(pc);
	return true;
}

/* Over poll_max_connections: told so (logged at most once a second), then
 * the lingering close. */
static void poll_refuse(struct net_conn *c, const struct net_listener *l)
{
	struct poll_service *ps = net_conn_ctx(c);
	struct pconn *pc = pconn_new(ps, c);
	uint64_t now = net_now(ps->net);

	(void)l;
	if (now - ps->last_refusal_log >= 1000) {
		log_warn("poll line: refusing %s: poll_max_connections (%" PRIu32 ") reached",
			 pc->peer, ps->svc.max_conns);
		ps->last_refusal_log = now;
	}
	answer_err(pc, "too_many_connections", "the server has %" PRIu32 " poll connections "
		   "(poll_max_connections): try again later", ps->svc.max_conns);
	pc->refused = true;
	pc->ending = true;
	net_conn_close(c, NET_CLOSE_LINGER);
}

/* Stopping: answers already queued go out, then the close. */
static void poll_stop(struct net_conn *c)
{
	struct pconn *pc = net_conn_state(c);

	snprintf(pc->why, sizeof(pc->why), "server stopping");
	net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

static void poll_close(struct net_conn *c)
{
	struct pconn *pc = net_conn_state(c);

	if (!pc)
		return;
	if (!pc->refused)
		log_info("poll line connection from %s closed%s%s (%" PRIu64 " commands)",
			 pc->peer, pc->why[0] ? ": " : "", pc->why, pc->lines);
	account_login_cancel(pc->login); /* its verdict is dropped */
	watch_remove_all(pc);
	pc->conn = NULL;
	pconn_maybe_free(pc); /* or poll_sent does */
}

static const struct net_proto poll_proto = {
	.name = "poll",
	.open = poll_open,
	.refuse = poll_refuse,
	.input = poll_input,
	.output = poll_output,
	.drained = poll_drained,
	.eof = poll_eof,
	.deadline = poll_deadline,
	.stop = poll_stop,
	.close = poll_close,
};

struct poll_service *poll_service_new(struct net *n, const struct poll_config *cfg,
				      struct api *api, struct outbuf_pool *bufs)
{
	struct poll_service *ps = xcalloc(1, sizeof(*ps));

	ps->net = n;
	ps->cfg = *cfg;
	ps->api = api;
	ps->bufs = bufs;
	poll_watch_init(&ps->watches);
	ps->svc = (struct net_service){ .proto = &poll_proto, .ctx = ps,
					.max_conns = cfg->max_connections,
					.linger_time_ms = LINGER_TIME_MS,
					.linger_timeout_ms = LINGER_TIMEOUT_MS,
					.linger_bytes = LINGER_BYTES };
	if (polls_observe(&api->polls, on_poll_changed, ps)) {
		log_error("poll line protocol: too many observers of the polls");
		poll_service_free(ps);
		return NULL;
	}
	net_on_turn(n, push_changed, ps);
	uv_timer_init(net_loop(n), &ps->closer);
	ps->closer.data = ps;
	uv_unref((uv_handle_t *)&ps->closer); /* it never keeps a stopping server up */
	return ps;
}

int poll_service_listen(struct poll_service *ps)
{
	for (int i = 0; i < ps->cfg.nlisteners; i++) {
		const struct listener_config *lc = &ps->cfg.listeners[i];
		struct net_listener_config nl = { .host = lc->host, .port = lc->port,
						  .anonymous = -1 };
		struct net_listener *l = net_listen(ps->net, &nl, &ps->svc, "poll line protocol");

		if (!l)
			return -1;
		log_info("listening on %s (poll line protocol)", l->name);
	}
	return 0;
}

/* The closer timer was closed with every handle (server_free's walk)
 * before the loop ended. */
void poll_service_free(struct poll_service *ps)
{
	if (!ps)
		return;
	polls_unobserve(&ps->api->polls, on_poll_changed, ps);
	poll_watch_release(&ps->watches);
	free(ps->pushing);
	free(ps->iov);
	free(ps);
}

const struct net_service *poll_service_service(const struct poll_service *ps)
{
	return &ps->svc;
}
