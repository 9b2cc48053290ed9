/*
 * poll.c - polls from the shell: agora poll create, list, show, close and
 * agora vote, on the REST API (docs/api.md, "Polls"). Options, requests,
 * credentials and exit codes are apicmd.c's, as for account.c; what is read
 * from the command line and printed is src/client/poll_text.c (pure, unit
 * tested); `poll show --follow` goes on over MQTT in poll_follow.c.
 *
 * A refusal of the server (a 4xx: already voted, poll closed, unknown
 * option, forbidden, not found) is its message as one line and exit status
 * 3, with the command's own way out where there is one (--change).
 */
#include "commands.h"

#include "apicmd.h"
#include "base/text.h"
#include "client/poll_text.h"
#include "poll.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TERMINAL_COLUMNS 80 /* when a terminal does not say its width */

static const struct apicmd_spec specs[] = {
	{ "poll create", APICMD_JSON | APICMD_CLOSES, 3, -1,
	  "QUESTION OPTION OPTION... [--closes-in DURATION | --closes-at TIME] [--json]",
	  "Creates a poll (2 to 20 options, each label once) and prints its id and options.\n"
	  "Put -- before a word that starts with '-'.\n\n"
	  "  --closes-in DURATION   close it after DURATION: 90s, 10m, 2h, 1d, 1h30m\n"
	  "  --closes-at TIME       close it at TIME: 2026-12-06T09:00 (local time),\n"
	  "                         2026-12-06T08:00Z, ...+01:00, or HH:MM (the next one)\n"
	  "  --json                 print the poll as JSON\n" },
	{ "poll list", APICMD_JSON | APICMD_LIMIT | APICMD_OFFSET, 0, 0,
	  "[--limit N] [--offset N] [--json]",
	  "Lists the polls, open ones first, newest first: id, open or closed, votes, when it\n"
	  "closes (or closed), question. No login needed.\n\n"
	  "  --limit N              at most N polls (1 to 1000, default 50)\n"
	  "  --offset N             skip the first N\n"
	  "  --json                 one JSON object per poll and line, as the API gives it\n" },
	{ "poll show", APICMD_JSON | APICMD_FOLLOW | APICMD_MQTT, 1, 1,
	  "ID [--follow [--mqtt HOST:PORT]] [--json]",
	  "Shows a poll's results: a bar per option with its votes and share, the total, and\n"
	  "whether it is open. No login needed.\n\n"
	  "  --follow               then redraw them live until interrupted (^C: exit status\n"
	  "                         0), over MQTT (agora/polls/ID/results) as the account of\n"
	  "                         agora login if any; one block per change when not on a\n"
	  "                         terminal\n"
	  "  --mqtt HOST:PORT       the MQTT server for --follow (default: the --server's\n"
	  "                         host, port 1883)\n"
	  "  --json                 print the poll as JSON (with --follow: once per change)\n" },
	{ "poll close", APICMD_JSON, 1, 1, "ID [--json]",
	  "Closes a poll you created and shows its final results.\n\n"
	  "  --json                 print the poll as JSON\n" },
	{ "vote", APICMD_JSON | APICMD_CHANGE, 2, 2, "ID OPTION [--change] [--json]",
	  "Votes on poll ID for OPTION, a label (case ignored) or a number (1: the first;\n"
	  "a label wins), and shows the results. One vote per account and poll.\n\n"
	  "  --change               change the vote you cast\n"
	  "  --json                 print the server's answer as JSON\n" },
};

enum spec_id { S_CREATE, S_LIST, S_SHOW, S_CLOSE, S_VOTE };

/* ---- helpers ---- */

int poll_stdout_columns(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO))
		return 0;
	/* a terminal that does not say its size (a serial line) is a classic one */
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
		return TERMINAL_COLUMNS;
	return ws.ws_col;
}

/* Writes what was built and frees it. */
static void put(struct text *t)
{
	if (t->len)
		fwrite(t->s, 1, t->len, stdout);
	free(t->s);
	memset(t, 0, sizeof(*t));
}

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	free(s);
}

static void print_results(const json_t *poll)
{
	struct text t = { 0 };

	poll_text_results(&t, poll, poll_stdout_columns());
	put(&t);
}

/* The poll id operand; EXIT_USAGE (said) when it is not one. */
static int read_id(struct apicmd *c, const char *arg, int64_t *id)
{
	if (poll_text_id(arg, id) == 0)
		return EXIT_OK;
	fprintf(stderr, "agora %s: '%s' is not a poll id (a whole number from 1)\n", c->cmd, arg);
	return EXIT_USAGE;
}

/* An answer that must be a poll: an object with an id and options. */
static bool is_poll(const json_t *p)
{
	return json_is_integer(json_object_get(p, "id")) &&
	       json_is_array(json_object_get(p, "options"));
}

/* ---- create ---- */

/* --closes-in or --closes-at as the API's closes_at, into iso ("" when
 * neither); EXIT_USAGE (said) when bad. */
static int closing_time(struct apicmd *c, char *iso, size_t len)
{
	const char *in = c->o.closes_in, *at = c->o.closes_at, *why;
	int64_t now = wall_clock_ms(), ms = 0;

	iso[0] = '\0';
	if (in && at) {
		fprintf(stderr, "agora %s: --closes-in or --closes-at, not both\n", c->cmd);
		return EXIT_USAGE;
	}
	if ((in && poll_text_duration(in, &ms, &why)) ||
	    (at && poll_text_time(at, now, &ms, &why))) {
		fprintf(stderr, "agora %s: --closes-%s '%s': %s\n", c->cmd, in ? "in" : "at",
			in ? in : at, why);
		return EXIT_USAGE;
	}
	if (in)
		ms += now;
	if (in || at)
		poll_text_iso(ms, iso, len);
	return EXIT_OK;
}

/* {"question", "options", "closes_at"?}; NULL (said) when not UTF-8. */
static json_t *create_body(struct apicmd *c, const char *closes)
{
	json_t *options = json_array(), *body;
	json_t *question = json_string(c->o.args[0]);

	for (int i = 1; i < c->o.nargs; i++)
		if (json_array_append_new(options, json_string(c->o.args[i])))
			break; /* a NULL: not UTF-8 */
	if (!question || json_array_size(options) != (size_t)c->o.nargs - 1) {
		fprintf(stderr, "agora %s: the question and the options must be UTF-8 text\n",
			c->cmd);
		json_decref(question);
		json_decref(options);
		return NULL;
	}
	body = json_pack("{s:o,s:o}", "question", question, "options", options);
	if (body && closes[0])
		json_object_set_new(body, "closes_at", json_string(closes));
	return body;
}

static int do_create(struct apicmd *c)
{
	char closes[POLL_TEXT_ISO_MAX];
	json_t *body, *poll = NULL;
	struct text t = { 0 };
	int rc;

	if ((rc = closing_time(c, closes, sizeof(closes))))
		return rc;
	if (!(body = create_body(c, closes)))
		return EXIT_USAGE;
	if ((rc = apicmd_need_login(c)) == EXIT_OK)
		rc = apicmd_call(c, "POST", "/api/polls", body, 201, &poll, 0);
	json_decref(body);
	if (rc == EXIT_OK && !is_poll(poll))
		rc = apicmd_not_the_api(c);
	if (rc == EXIT_OK && c->o.json) {
		print_json(poll);
	} else if (rc == EXIT_OK) {
		poll_text_created(&t, poll);
		put(&t);
	}
	json_decref(poll);
	return rc;
}

/* ---- list ---- */

/* c->o.limit polls from c->o.offset, a page at a time, into *out; *total
 * gets the server's count of every poll. */
static int fetch_polls(struct apicmd *c, json_t **out, long long *total)
{
	return apicmd_get_pages(c, "/api/polls?", "polls", c->o.offset, c->o.limit, out, total);
}

static int do_list(struct apicmd *c)
{
	json_t *polls = NULL, *p;
	long long total = 0;
	struct text t = { 0 };
	size_t i, n;
	int rc;

	if ((rc = fetch_polls(c, &polls, &total)))
		return rc;
	n = json_array_size(polls);
	if (c->o.json) {
		json_array_foreach(polls, i, p)
			print_json(p);
	} else {
		poll_text_list(&t, polls);
		if (n && c->o.offset + (long long)n < total)
			text_printf(&t, "(polls %ld to %lld of %lld; --offset %lld for more)\n",
				    c->o.offset + 1, c->o.offset + (long long)n, total,
				    c->o.offset + (long long)n);
		put(&t);
	}
	json_decref(polls);
	return rc;
}

/* ---- show, close ---- */

/* --follow logs in with the account kept for this server, if any (the
 * MQTT server may refuse anonymous clients); anonymous otherwise. */
static int follow_account(struct apicmd *c, struct poll_follow_args *f)
{
	int rc = apicmd_load_creds(c);

	if (rc == EXIT_OK && creds_get(c->creds, c->rc.server, &c->me)) {
		f->name = c->me.name;
		f->token = c->me.token;
	}
	return rc;
}

static int do_show(struct apicmd *c)
{
	char path[64], host[APICMD_HOST_MAX];
	struct poll_follow_args f = { .cmd = c->cmd, .json = c->o.json, .host = host };
	json_t *poll = NULL;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &f.id)))
		return rc;
	if (c->o.follow && ((rc = apicmd_mqtt_address(c, host, sizeof(host), &f.port, &f.tls)) ||
			    (rc = follow_account(c, &f))))
		return rc;
	snprintf(path, sizeof(path), "/api/polls/%lld", (long long)f.id);
	if ((rc = apicmd_call(c, "GET", path, NULL, 200, &poll, 0)))
		return rc;
	if (!is_poll(poll)) {
		json_decref(poll);
		return apicmd_not_the_api(c);
	}
	if (c->o.follow) {
		rest_client_release(&c->rc); /* no HTTP connection kept open meanwhile */
		return poll_follow(&f, poll);
	}
	if (c->o.json)
		print_json(poll);
	else
		print_results(poll);
	json_decref(poll);
	return EXIT_OK;
}

static int do_close(struct apicmd *c)
{
	char path[64];
	json_t *poll = NULL;
	int64_t id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)) || (rc = apicmd_need_login(c)))
		return rc;
	snprintf(path, sizeof(path), "/api/polls/%lld/close", (long long)id);
	if ((rc = apicmd_call(c, "POST", path, NULL, 200, &poll, 0)))
		return rc;
	if (!is_poll(poll)) {
		rc = apicmd_not_the_api(c);
	} else if (c->o.json) {
		print_json(poll);
	} else {
		printf("closed poll #%lld\n", (long long)id);
		print_results(poll);
	}
	json_decref(poll);
	return rc;
}

/* ---- vote ---- */

static int do_vote(struct apicmd *c)
{
	const char *option = c->o.args[1];
	char path[80], hint[160];
	json_t *body, *ans = NULL, *results;
	struct text t = { 0 };
	int64_t id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)))
		return rc;
	/* Always a string: a label wins over a number, the server decides. */
	if (!(body = json_pack("{s:s}", "option", option))) {
		fprintf(stderr, "agora vote: the option must be UTF-8 text\n");
		return EXIT_USAGE;
	}
	/* The API's messages name its routes; the shell has its own way. */
	c->hint_code = c->o.change ? "no_vote" : "already_voted";
	c->hint = hint;
	if (c->o.change)
		snprintf(hint, sizeof(hint), "vote first: agora vote %lld OPTION", (long long)id);
	else
		snprintf(hint, sizeof(hint), "change it with: agora vote %lld OPTION --change",
			 (long long)id);
	snprintf(path, sizeof(path), "/api/polls/%lld/votes%s", (long long)id,
		 c->o.change ? "/me" : "");
	if ((rc = apicmd_need_login(c)) == EXIT_OK)
		rc = apicmd_call(c, c->o.change ? "PUT" : "POST", path, body,
				 c->o.change ? 200 : 201, &ans, 0);
	json_decref(body);
	results = json_object_get(ans, "results");
	if (rc == EXIT_OK && !is_poll(results))
		rc = apicmd_not_the_api(c);
	if (rc == EXIT_OK && c->o.json) {
		print_json(ans);
	} else if (rc == EXIT_OK) {
		poll_text_voted(&t, ans, c->o.change);
		put(&t);
		print_results(results);
	}
	json_decref(ans);
	return rc;
}

/* ---- entry points ---- */

static void poll_usage(FILE *out)
{
	fprintf(out, "usage: agora poll create %s\n", specs[S_CREATE].synopsis);
	for (int i = S_LIST; i <= S_CLOSE; i++)
		fprintf(out, "       agora %s %s\n", specs[i].name, specs[i].synopsis);
	fprintf(out,
		"       (each with [--server URL]; to vote: agora vote ID OPTION [--change])\n"
		"\n"
		"Polls on an Agora server: create one (logged in), list them, show one's results\n"
		"(live with --follow), close one you created. 'agora poll COMMAND --help'\n"
		"describes each.\n\n%s",
		apicmd_common_help);
}

int cmd_poll(int argc, char **argv)
{
	static const struct {
		const char *word;
		enum spec_id spec;
		int (*fn)(struct apicmd *);
	} subs[] = {
		{ "create", S_CREATE, do_create },
		{ "list", S_LIST, do_list },
		{ "show", S_SHOW, do_show },
		{ "close", S_CLOSE, do_close },
	};

	if (argc < 2) {
		poll_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		poll_usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].word) == 0)
			return apicmd_run(&specs[subs[i].spec], subs[i].fn, argc - 1, argv + 1);
	fprintf(stderr, "agora poll: '%s' is not a poll command (create, list, show, close); "
			"see agora poll --help\n",
		argv[1]);
	return EXIT_USAGE;
}

int cmd_vote(int argc, char **argv)
{
	return apicmd_run(&specs[S_VOTE], do_vote, argc, argv);
}
