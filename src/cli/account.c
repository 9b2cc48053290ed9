/*
 * account.c - the REST API from the shell: agora register, login, logout,
 * users, status, send, inbox. This file reads passwords and decides what
 * each command asks; the options, the requests and the run around them
 * are apicmd.c's (shared with poll.c), the requests' libcurl side
 * src/client/rest.c, the credentials file src/client/creds.c, the output
 * src/client/rest_print.c; `inbox --follow`'s MQTT side is follow.c.
 * Exit codes: apicmd.h.
 */
#include "commands.h"

#include "apicmd.h"
#include "base/alloc.h"
#include "client/password.h"
#include "client/rest_print.h"
#include "follow.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MAX 1024      /* bytes read; the server takes 8 to 256 */
#define TEXT_MAX ((size_t)1 << 20) /* a status or message from argv: http_max_body */
#define USERS_MAX 100000       /* users listed at most (1,000 pages) */
#define TOPIC_MAX 128          /* "agora/users/", a name of 32 characters at most, "/inbox" */

/* ---- the commands ---- */

static const struct apicmd_spec specs[] = {
	{ "register", APICMD_PASSWORD_FILE, 1, 1, "NAME [--password-file FILE]",
	  "Creates the account NAME and logs in with it, as `agora login` does. The password\n"
	  "(8 to 256 bytes) is asked twice on a terminal.\n" },
	{ "login", APICMD_PASSWORD_FILE, 1, 1, "NAME [--password-file FILE]",
	  "Logs in as NAME and keeps the token for the other commands, one account per server\n"
	  "(logging in again replaces it, and the old token is revoked).\n" },
	{ "logout", APICMD_LOCAL, 0, 0, "[--local]",
	  "Revokes the kept token on the server and forgets it.\n\n"
	  "  --local                only forget the token, without asking the server\n" },
	{ "users", APICMD_JSON, 0, 0, "[--json]",
	  "Lists the server's users: id, name, when the status changed, status.\n\n"
	  "  --json                 one JSON object per user and line, as the API gives it\n" },
	{ "status", APICMD_JSON, 0, -1, "[TEXT...] [--json]",
	  "Shows your status, or sets it to TEXT (the words joined by spaces; \"\" clears it).\n\n"
	  "  --json                 print your user object as JSON\n" },
	{ "send", APICMD_JSON, 2, -1, "USER TEXT... [--json]",
	  "Sends TEXT (the words joined by spaces) to USER, a name or an id. Put -- before a\n"
	  "TEXT that starts with '-'.\n\n"
	  "  --json                 print the message as JSON\n" },
	{ "inbox",
	  APICMD_JSON | APICMD_UNREAD | APICMD_FOLLOW | APICMD_LIMIT | APICMD_MARK_READ |
		  APICMD_MQTT,
	  0, 0,
	  "[--unread] [--limit N] [--mark-read] [--follow [--mqtt HOST:PORT]] [--json]",
	  "Lists the messages you received, oldest first, one per line:\n"
	  "  * #12 2026-11-23 14:05 alice: hello\n"
	  "('*' marks an unread message; times are local).\n\n"
	  "  --unread               only the unread messages\n"
	  "  --limit N              the N latest messages (1 to 1000, default 50)\n"
	  "  --mark-read            mark the messages shown as read\n"
	  "  --follow               then print new messages as they arrive, over MQTT with\n"
	  "                         the same account, until interrupted (^C: exit status 0)\n"
	  "  --mqtt HOST:PORT       the MQTT server for --follow (default: the --server's\n"
	  "                         host, port 1883)\n"
	  "  --json                 one JSON object per message and line\n" },
};

enum spec_id { S_REGISTER, S_LOGIN, S_LOGOUT, S_USERS, S_STATUS, S_SEND, S_INBOX };

/* The words joined by spaces into a malloc'd string; NULL if too long. */
static char *join_words(struct apicmd *c, char **words, int n)
{
	size_t len = 0, o = 0;
	char *s;

	for (int i = 0; i < n; i++) {
		len += strlen(words[i]) + 1;
		if (len > TEXT_MAX) {
			fprintf(stderr, "agora %s: the text is over %zu bytes\n", c->cmd, TEXT_MAX);
			return NULL;
		}
	}
	s = malloc(len + 1);
	if (!s) {
		fprintf(stderr, "agora %s: out of memory\n", c->cmd);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		size_t w = strlen(words[i]);

		if (i)
			s[o++] = ' ';
		memcpy(s + o, words[i], w);
		o += w;
	}
	s[o] = '\0';
	return s;
}

/* ---- passwords ---- */

/* A password from --password-file, the terminal (twice when confirming),
 * or standard input. Returns EXIT_OK or the exit status, the error said. */
static int read_password(struct apicmd *c, const char *name, bool confirm, char *pw, size_t n)
{
	char prompt[128];
	const char *from;
	int rc;

	snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
	rc = password_read(c->o.password_file, prompt, confirm, pw, n, &from);
	switch (rc) {
	case PASSWORD_OK:
		return EXIT_OK;
	case PASSWORD_EMPTY:
		fprintf(stderr, "agora %s: no password given (an empty line from %s)\n", c->cmd,
			from);
		return EXIT_USAGE;
	case PASSWORD_TOO_LONG:
		fprintf(stderr, "agora %s: the password from %s is over %zu bytes\n", c->cmd, from,
			n - 1);
		return EXIT_USAGE;
	case PASSWORD_MISMATCH:
		fprintf(stderr, "agora %s: the two passwords differ\n", c->cmd);
		return EXIT_USAGE;
	default:
		fprintf(stderr, "agora %s: cannot read the password from %s: %s\n", c->cmd, from,
			strerror(errno));
		return EXIT_LOCAL;
	}
}

/* ---- register, login, logout ---- */

/* Best effort: the server forgets a token (errors are not the user's
 * concern: the token is forgotten here anyway). */
static void revoke_quietly(struct apicmd *c, const char *token)
{
	const char *kept = c->rc.token;
	struct rest_answer a;
	char err[REST_URL_MAX + 256];

	c->rc.token = token;
	if (rest_request(&c->rc, "POST", "/api/logout", NULL, &a, err, sizeof(err)) == 0)
		rest_answer_release(&a);
	c->rc.token = kept;
}

/* Keeps the account and token a registration or login gave (its JSON
 * user and token), replacing (and revoking) the one kept for the server. */
static int keep_login(struct apicmd *c, const json_t *user, const char *token)
{
	struct creds_account acc = {
		.server = c->rc.server,
		.name = json_string_value(json_object_get(user, "name")),
		.id = json_integer_value(json_object_get(user, "id")),
		.token = token,
	};
	struct creds_account old;
	char *old_token = NULL;
	int rc;

	if (!acc.name || !token || !json_is_integer(json_object_get(user, "id"))) {
		return apicmd_not_the_api(c);
	}
	if (creds_get(c->creds, c->rc.server, &old) && strcmp(old.token, token) != 0)
		old_token = strdup(old.token);
	if (creds_put(c->creds, &acc)) {
		fprintf(stderr, "agora %s: the credentials file holds too many accounts\n", c->cmd);
		rc = EXIT_LOCAL;
	} else {
		rc = apicmd_save_creds(c);
	}
	/* Kept: the old token is of no use any more. Not kept: the new one. */
	if (rc == EXIT_OK && old_token)
		revoke_quietly(c, old_token);
	else if (rc != EXIT_OK)
		revoke_quietly(c, token);
	if (old_token) {
		explicit_bzero(old_token, strlen(old_token));
		free(old_token);
	}
	return rc;
}

/* register and login: the same but for the route and the answer's shape. */
static int account_request(struct apicmd *c, bool create)
{
	const char *name = c->o.args[0];
	char pw[PASSWORD_MAX + 1];
	json_t *body, *ans = NULL;
	const json_t *user;
	int rc;

	if ((rc = apicmd_load_creds(c))) /* a broken file fails before the server is asked */
		return rc;
	if ((rc = read_password(c, name, create, pw, sizeof(pw))))
		goto out_pw;
	body = json_pack("{s:s,s:s}", "name", name, "password", pw);
	if (!body) {
		fprintf(stderr, "agora %s: the name and password must be UTF-8 text\n", c->cmd);
		rc = EXIT_USAGE;
		goto out_pw;
	}
	rc = apicmd_call(c, "POST", create ? "/api/users" : "/api/login", body,
			 create ? 201 : 200, &ans, 0);
	json_decref(body);
	if (rc)
		goto out_pw;
	user = create ? ans : json_object_get(ans, "user");
	rc = keep_login(c, user, json_string_value(json_object_get(ans, "token")));
	if (rc == EXIT_OK)
		printf("%s %s (id %lld) on %s\n",
		       create ? "registered and logged in as" : "logged in as",
		       json_string_value(json_object_get(user, "name")),
		       (long long)json_integer_value(json_object_get(user, "id")), c->rc.server);
	json_decref(ans);
out_pw:
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static int do_register(struct apicmd *c)
{
	return account_request(c, true);
}

static int do_login(struct apicmd *c)
{
	return account_request(c, false);
}

static int do_logout(struct apicmd *c)
{
	char *name;
	int rc;

	if ((rc = apicmd_need_login(c)))
		return rc;
	if (!c->o.local) {
		/* 401: the server no longer knows the token; forgetting it is all
		 * that is left to do. Another failure keeps it for a retry. */
		rc = apicmd_call(c, "POST", "/api/logout", NULL, 204, NULL, 401);
		if (rc && c->status != 401) {
			fprintf(stderr, "agora logout: the token is kept; 'agora logout --local' "
					"forgets it without the server\n");
			return rc;
		}
	}
	name = strdup(c->me.name); /* c->me points into the entry removed */
	creds_remove(c->creds, c->rc.server);
	if ((rc = apicmd_save_creds(c)) == EXIT_OK)
		printf("logged out of %s (%s)\n", c->rc.server, name ? name : "?");
	free(name);
	return rc;
}

/* ---- users, status, send ---- */

static int do_users(struct apicmd *c)
{
	json_t *all = NULL;
	int rc = apicmd_get_pages(c, "/api/users?", "users", 0, USERS_MAX, &all, NULL);

	if (rc == EXIT_OK)
		rest_print_users(stdout, all, c->o.json);
	json_decref(all);
	return rc;
}

static int do_status(struct apicmd *c)
{
	json_t *user = NULL, *body;
	char path[64];
	char *text;
	int rc;

	if ((rc = apicmd_need_login(c)))
		return rc;
	snprintf(path, sizeof(path), "/api/users/%lld", (long long)c->me.id);
	if (c->o.nargs == 0) {
		rc = apicmd_call(c, "GET", path, NULL, 200, &user, 0);
	} else {
		if (!(text = join_words(c, c->o.args, c->o.nargs)))
			return EXIT_USAGE;
		body = json_pack("{s:s}", "status", text);
		free(text);
		if (!body) {
			fprintf(stderr, "agora status: the status must be UTF-8 text\n");
			return EXIT_USAGE;
		}
		rc = apicmd_call(c, "PATCH", path, body, 200, &user, 0);
		json_decref(body);
	}
	if (rc == EXIT_OK)
		rest_print_status(stdout, user, c->o.json);
	json_decref(user);
	return rc;
}

static int do_send(struct apicmd *c)
{
	json_t *msg = NULL, *body;
	char *text, *to;
	int rc;

	if ((rc = apicmd_need_login(c)))
		return rc;
	if (!(text = join_words(c, c->o.args + 1, c->o.nargs - 1)))
		return EXIT_USAGE;
	body = json_pack("{s:s,s:s}", "to", c->o.args[0], "content", text);
	free(text);
	if (!body) {
		fprintf(stderr, "agora send: the user and the text must be UTF-8\n");
		return EXIT_USAGE;
	}
	rc = apicmd_call(c, "POST", "/api/messages", body, 201, &msg, 0);
	json_decref(body);
	if (rc == EXIT_OK && c->o.json) {
		rest_print_message(stdout, msg, true);
	} else if (rc == EXIT_OK) {
		json_t *to_v = json_object_get(msg, "to");

		to = rest_safe_dup(json_string_value(to_v) ? json_string_value(to_v) : "",
				   json_string_length(to_v), NULL, 64);
		printf("sent to %s (message #%lld)\n", to,
		       (long long)json_integer_value(json_object_get(msg, "id")));
		free(to);
	}
	json_decref(msg);
	return rc;
}

/* ---- inbox ---- */

/* The c->o.limit latest messages (of the inbox, or only the unread ones),
 * newest first as the API gives them, into *out. */
static int fetch_inbox(struct apicmd *c, json_t **out)
{
	return apicmd_get_pages(c, c->o.unread ? "/api/messages?unread=true&" : "/api/messages?",
				"messages", 0, c->o.limit, out, NULL);
}

/* PATCH {"read": true} on each unread message of the list. */
static int mark_read(struct apicmd *c, const json_t *messages)
{
	json_t *body = json_pack("{s:b}", "read", 1), *m, *ans;
	char path[64];
	size_t i;
	int rc = EXIT_OK;

	json_array_foreach(messages, i, m) {
		if (json_is_true(json_object_get(m, "read")))
			continue;
		snprintf(path, sizeof(path), "/api/messages/%lld",
			 (long long)json_integer_value(json_object_get(m, "id")));
		if ((rc = apicmd_call(c, "PATCH", path, body, 200, &ans, 0)))
			break;
		json_decref(ans);
	}
	json_decref(body);
	return rc;
}

/* Lists (and with --mark-read marks) the inbox; *shown gets the messages
 * printed, newest first, for the caller to json_decref. */
static int list_inbox(struct apicmd *c, json_t **shown)
{
	json_t *messages = NULL;
	size_t n;
	int rc;

	if ((rc = fetch_inbox(c, &messages)))
		return rc;
	n = json_array_size(messages);
	if (n == 0 && !c->o.json)
		printf("no %smessages\n", c->o.unread ? "unread " : "");
	for (size_t i = n; i-- > 0;) /* oldest first, as a conversation reads */
		rest_print_message(stdout, json_array_get(messages, i), c->o.json);
	if (c->o.mark_read)
		rc = mark_read(c, messages);
	if (rc)
		json_decref(messages);
	else
		*shown = messages;
	return rc;
}

/* ---- inbox --follow ---- */

/* What `inbox --follow` keeps between the callbacks of follow.h. */
struct inbox_follow {
	struct apicmd *c;
	char topic[TOPIC_MAX];
	int64_t *seen; /* the ids listed, sorted: not printed again */
	size_t nseen;
};

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Keeps the ids of the messages listed (and drops the list). */
static void remember_listed(struct inbox_follow *f, json_t *listed)
{
	size_t i, n = json_array_size(listed);
	json_t *m;

	if (n) {
		f->seen = xmalloc(n * sizeof(*f->seen));
		json_array_foreach(listed, i, m)
			f->seen[f->nseen++] = json_integer_value(json_object_get(m, "id"));
		qsort(f->seen, f->nseen, sizeof(*f->seen), cmp_id);
	}
	json_decref(listed);
}

static bool listed_already(const struct inbox_follow *f, int64_t id)
{
	return f->nseen && bsearch(&id, f->seen, f->nseen, sizeof(id), cmp_id);
}

/* The subscription holds: the listing, printed at once (the live lines
 * follow it). A message stored before the listing's read is listed, and
 * skipped when it arrives over MQTT too. */
static int inbox_subscribed(void *ctx)
{
	struct inbox_follow *f = ctx;
	json_t *listed = NULL;
	int rc = list_inbox(f->c, &listed);

	fflush(stdout);
	if (rc == EXIT_OK)
		remember_listed(f, listed);
	return rc;
}

/* Prints a live message as the listing does; FOLLOW_GO_ON, or how the
 * run ends when stdout failed. */
static int print_live(struct inbox_follow *f, const json_t *m)
{
	rest_print_message(stdout, m, f->c->o.json);
	if (fflush(stdout) == 0)
		return FOLLOW_GO_ON;
	/* `agora inbox --follow | head -3` is done, not failed. */
	if (errno == EPIPE)
		return FOLLOW_DONE;
	fprintf(stderr, "agora %s: cannot write the output: %s\n", f->c->cmd, strerror(errno));
	return EXIT_LOCAL;
}

/* A message from the inbox's topic; with --mark-read it is read once shown. */
static int inbox_message(void *ctx, const char *payload, size_t len)
{
	struct inbox_follow *f = ctx;
	json_t *m = rest_message_parse(payload, len), *one;
	int rc;

	if (!m) {
		fprintf(stderr, "agora %s: skipped a message on %s that is not the API's JSON\n",
			f->c->cmd, f->topic);
		return FOLLOW_GO_ON;
	}
	rc = FOLLOW_GO_ON;
	if (listed_already(f, json_integer_value(json_object_get(m, "id"))))
		goto out_decref;
	rc = print_live(f, m);
	if (rc == FOLLOW_GO_ON && f->c->o.mark_read) {
		one = json_array();
		json_array_append(one, m);
		rc = mark_read(f->c, one);
		json_decref(one);
	}
out_decref:
	json_decref(m);
	return rc;
}

/* The listing and then the live messages, over MQTT with the same account
 * (follow.h): its name, and its token as the password. */
static int follow_inbox(struct apicmd *c)
{
	char host[APICMD_HOST_MAX];
	struct inbox_follow f = { .c = c };
	struct follow_opts o = {
		.cmd = c->cmd,
		.host = host,
		.name = c->me.name,
		.token = c->me.token,
		.topic = f.topic,
		.subscribed = inbox_subscribed,
		.message = inbox_message,
		.ctx = &f,
	};
	int rc;

	if ((rc = apicmd_mqtt_address(c, host, sizeof(host), &o.port, &o.tls)))
		return rc;
	if (strlen(c->me.name) > TOPIC_MAX - 32) {
		fprintf(stderr, "agora %s: the kept account's name is too long\n", c->cmd);
		return EXIT_LOCAL;
	}
	snprintf(f.topic, sizeof(f.topic), "agora/users/%s/inbox", c->me.name);
	rc = follow_run(&o);
	free(f.seen);
	return rc;
}

static int do_inbox(struct apicmd *c)
{
	json_t *messages = NULL;
	int rc;

	if ((rc = apicmd_need_login(c)))
		return rc;
	if (c->o.follow)
		return follow_inbox(c);
	rc = list_inbox(c, &messages);
	json_decref(messages);
	return rc;
}

/* ---- entry points ---- */

int cmd_register(int argc, char **argv)
{
	return apicmd_run(&specs[S_REGISTER], do_register, argc, argv);
}

int cmd_login(int argc, char **argv)
{
	return apicmd_run(&specs[S_LOGIN], do_login, argc, argv);
}

int cmd_logout(int argc, char **argv)
{
	return apicmd_run(&specs[S_LOGOUT], do_logout, argc, argv);
}

int cmd_users(int argc, char **argv)
{
	return apicmd_run(&specs[S_USERS], do_users, argc, argv);
}

int cmd_status(int argc, char **argv)
{
	return apicmd_run(&specs[S_STATUS], do_status, argc, argv);
}

int cmd_send(int argc, char **argv)
{
	return apicmd_run(&specs[S_SEND], do_send, argc, argv);
}

int cmd_inbox(int argc, char **argv)
{
	return apicmd_run(&specs[S_INBOX], do_inbox, argc, argv);
}
