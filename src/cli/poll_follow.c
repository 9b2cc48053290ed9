/*
 * poll_follow.c - `agora poll show ID --follow`: the poll's results live,
 * from the retained MQTT topic agora/polls/{ID}/results (the server
 * publishes the poll object there after every change), through follow.c
 * as `agora inbox --follow` does.
 *
 * Once the subscription holds, the results the REST API gave are shown;
 * then every message on the topic is shown when it differs from what is
 * shown (the retained copy usually repeats the REST answer).
 *
 * On a terminal each new state replaces the last one: the cursor goes up
 * the rows the last frame took (long lines wrap: poll_text_rows) and the
 * screen below is cleared; a resized terminal gets the frame again at its
 * new width. Elsewhere (a pipe, a file) each state is a block of its own
 * after an empty line, or a JSON line with --json.
 */
#include "commands.h"

#include "base/text.h"
#include "client/poll_text.h"
#include "follow.h"
#include "poll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX 64 /* "agora/polls/", 19 digits, "/results" */

struct poll_view {
	const struct poll_follow_args *a;
	char topic[TOPIC_MAX];
	json_t *first; /* the REST answer, until shown */
	json_t *shown; /* the poll shown last */
	char *frame;   /* its text on the terminal (tty only), to redraw after a resize */
	int rows;      /* the rows that text takes */
	bool tty;      /* stdout is a terminal, and bars are redrawn in place */
};

/* Writes s: FOLLOW_GO_ON, or how the run ends (a reader gone is no error). */
static int write_out(struct poll_view *v, const char *s, size_t len)
{
	if (fwrite(s, 1, len, stdout) == len && fflush(stdout) == 0)
		return FOLLOW_GO_ON;
	if (errno == EPIPE)
		return FOLLOW_DONE;
	fprintf(stderr, "agora %s: cannot write the output: %s\n", v->a->cmd, strerror(errno));
	return EXIT_LOCAL;
}

/* The terminal: up the rows of the last frame, clear below, the new one. */
static int redraw(struct poll_view *v, const json_t *poll)
{
	int columns = poll_stdout_columns();
	struct text t = { 0 }, frame = { 0 };
	int rc;

	poll_text_results(&frame, poll, columns);
	if (v->frame && v->rows > 0)
		text_printf(&t, "\x1b[%dA\r\x1b[J", v->rows);
	text_printf(&t, "%s", frame.s);
	rc = write_out(v, t.s, t.len);
	free(t.s);
	free(v->frame);
	v->frame = frame.s;
	v->rows = poll_text_rows(frame.s, columns);
	return rc;
}

/* A pipe or a file: a block (after an empty line) or a JSON line. */
static int append(struct poll_view *v, const json_t *poll)
{
	struct text t = { 0 };
	char *json = NULL;
	int rc;

	if (v->a->json) {
		json = json_dumps(poll, JSON_COMPACT | JSON_PRESERVE_ORDER);
		text_printf(&t, "%s\n", json ? json : "{}");
	} else {
		if (v->shown)
			text_printf(&t, "\n"); /* blocks apart */
		poll_text_results(&t, poll, 0);
	}
	rc = write_out(v, t.s, t.len);
	free(json);
	free(t.s);
	return rc;
}

/* Shows poll (taken over) unless it is what is shown already. */
static int show(struct poll_view *v, json_t *poll)
{
	int rc;

	if (v->shown && json_equal(v->shown, poll)) {
		json_decref(poll);
		return FOLLOW_GO_ON;
	}
	rc = v->tty ? redraw(v, poll) : append(v, poll);
	json_decref(v->shown);
	v->shown = poll;
	return rc;
}

/* ---- follow.h's callbacks ---- */

static int view_subscribed(void *ctx)
{
	struct poll_view *v = ctx;
	json_t *first = v->first;

	v->first = NULL;
	return show(v, first);
}

static int view_message(void *ctx, const char *payload, size_t len)
{
	struct poll_view *v = ctx;
	json_t *poll = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(poll) || json_integer_value(json_object_get(poll, "id")) != v->a->id ||
	    !json_is_array(json_object_get(poll, "options"))) {
		fprintf(stderr, "agora %s: skipped a message on %s that is not this poll\n",
			v->a->cmd, v->topic);
		json_decref(poll);
		return FOLLOW_GO_ON;
	}
	return show(v, poll);
}

/* The terminal may have rewrapped the last frame at its new width: its
 * rows at that width are the best guess of how far up it now starts. */
static int view_resized(void *ctx)
{
	struct poll_view *v = ctx;

	if (!v->tty || !v->frame)
		return FOLLOW_GO_ON;
	v->rows = poll_text_rows(v->frame, poll_stdout_columns());
	return redraw(v, v->shown);
}

int poll_follow(const struct poll_follow_args *a, json_t *first)
{
	struct poll_view v = { .a = a, .first = first };
	struct follow_opts o = {
		.cmd = a->cmd,
		.host = a->host,
		.port = a->port,
		.tls = a->tls,
		.name = a->name,
		.token = a->token,
		.topic = v.topic,
		.subscribed = view_subscribed,
		.message = view_message,
		.ctx = &v,
	};
	int rc;

	v.tty = !a->json && poll_stdout_columns() > 0;
	if (v.tty)
		o.resized = view_resized;
	snprintf(v.topic, sizeof(v.topic), "agora/polls/%lld/results", (long long)a->id);
	rc = follow_run(&o);
	json_decref(v.first); /* not shown: the connection never held */
	json_decref(v.shown);
	free(v.frame);
	return rc;
}
