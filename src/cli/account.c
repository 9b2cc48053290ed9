/*
 * account.c - the REST API from the shell: agora register, login, logout,
 * users, status, send, inbox. This file parses options, reads passwords
 * and decides what each command asks; the requests are src/client/rest.c
 * (libcurl), the credentials file src/client/creds.c, the output
 * src/client/rest_print.c; `inbox --follow`'s MQTT side is follow.c.
 *
 * Exit codes (commands.h): EXIT_USAGE for bad options and arguments,
 * EXIT_NET when the server cannot be reached or answers something that is
 * not the API's, EXIT_REFUSED when it answers 4xx or 5xx (shown as one line
 * built from its JSON error body), EXIT_LOCAL for the credentials file, the
 * terminal, and "not logged in".
 */
#include "commands.h"
#include "follow.h"

#include "client/creds.h"
#include "client/password.h"
#include "client/rest.h"
#include "client/rest_print.h"
#include "client/shell.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MAX 1024      /* bytes read; the server takes 8 to 256 */
#define TEXT_MAX ((size_t)1 << 20) /* a status or message from argv: http_max_body */
#define PAGE 100               /* the API's largest page */
#define USERS_MAX 100000       /* users listed at most (1,000 pages) */
#define INBOX_LIMIT_DEFAULT 50
#define INBOX_LIMIT_MAX 1000
#define TIMEOUT_MAX_S 3600.0
#define MQTT_PORT_DEFAULT 1883
#define HOST_MAX 256

/* ---- options ---- */

enum {
	F_PASSWORD_FILE = 1 << 0,
	F_JSON = 1 << 1,
	F_UNREAD = 1 << 2,
	F_FOLLOW = 1 << 3,
	F_LIMIT = 1 << 4,
	F_MARK_READ = 1 << 5,
	F_LOCAL = 1 << 6,
	F_MQTT = 1 << 7,
};

/* getopt_long's values for the long options */
enum { OPT_SERVER = 256, OPT_TIMEOUT, OPT_PASSWORD_FILE, OPT_JSON, OPT_UNREAD, OPT_FOLLOW,
       OPT_LIMIT, OPT_MARK_READ, OPT_LOCAL, OPT_MQTT };

struct spec {
	const char *name;
	unsigned flags;   /* F_*: the options this command takes beyond the common ones */
	int min_args, max_args; /* operands; max -1: any number */
	const char *synopsis;
	const char *text; /* what it does and its own options */
};

struct opts {
	const struct spec *spec;
	const char *server_arg; /* --server, else $AGORA_SERVER, else the default */
	const char *password_file;
	char *mqtt_host;        /* --mqtt (malloc'd), else NULL: --server's host */
	uint16_t mqtt_port;
	long timeout_ms;
	long limit;
	bool json, unread, follow, mark_read, local;
	int nargs;
	char **args;
};

static const char common_help[] =
	"  --server URL           the server's API (default: $AGORA_SERVER, else "
	REST_DEFAULT_SERVER ")\n"
	"  --timeout SECONDS      give up on a request after this long (default 30)\n"
	"  -h, --help             this help\n"
	"\n"
	"The token of `agora login` is kept in $XDG_CONFIG_HOME/agora/credentials\n"
	"(~/.config/agora/credentials). Exit status: 0 done, 1 bad usage, 2 cannot reach the\n"
	"server, 3 refused by the server, 4 local failure (credentials file, terminal, not\n"
	"logged in).\n";

static const char password_help[] =
	"The password is asked on the terminal (not echoed), or read from the first line of\n"
	"FILE, or from the first line of standard input when it is not a terminal.\n"
	"\n"
	"  --password-file FILE   read the password from FILE's first line\n";

static const struct spec specs[] = {
	{ "register", F_PASSWORD_FILE, 1, 1, "NAME [--password-file FILE]",
	  "Creates the account NAME and logs in with it, as `agora login` does. The password\n"
	  "(8 to 256 bytes) is asked twice on a terminal.\n" },
	{ "login", F_PASSWORD_FILE, 1, 1, "NAME [--password-file FILE]",
	  "Logs in as NAME and keeps the token for the other commands, one account per server\n"
	  "(logging in again replaces it, and the old token is revoked).\n" },
	{ "logout", F_LOCAL, 0, 0, "[--local]",
	  "Revokes the kept token on the server and forgets it.\n\n"
	  "  --local                only forget the token, without asking the server\n" },
	{ "users", F_JSON, 0, 0, "[--json]",
	  "Lists the server's users: id, name, when the status changed, status.\n\n"
	  "  --json                 one JSON object per user and line, as the API gives it\n" },
	{ "status", F_JSON, 0, -1, "[TEXT...] [--json]",
	  "Shows your status, or sets it to TEXT (the words joined by spaces; \"\" clears it).\n\n"
	  "  --json                 print your user object as JSON\n" },
	{ "send", F_JSON, 2, -1, "USER TEXT... [--json]",
	  "Sends TEXT (the words joined by spaces) to USER, a name or an id. Put -- before a\n"
	  "TEXT that starts with '-'.\n\n"
	  "  --json                 print the message as JSON\n" },
	{ "inbox", F_JSON | F_UNREAD | F_FOLLOW | F_LIMIT | F_MARK_READ | F_MQTT, 0, 0,
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

static void usage(const struct spec *s)
{
	printf("usage: agora %s %s [--server URL]\n\n%s", s->name, s->synopsis, s->text);
	if (s->flags & F_PASSWORD_FILE)
		printf("\n%s", password_help);
	printf("%s%s", s->flags & F_PASSWORD_FILE ? "" : "\n", common_help);
}

/* A number of seconds, > 0 and at most TIMEOUT_MAX_S, in ms. */
static bool parse_timeout(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > TIMEOUT_MAX_S)
		return false;
	*ms = (long)ceil(v * 1000);
	return true;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "unread", no_argument, NULL, OPT_UNREAD },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "mark-read", no_argument, NULL, OPT_MARK_READ },
	{ "local", no_argument, NULL, OPT_LOCAL },
	{ "mqtt", required_argument, NULL, OPT_MQTT },
	{ NULL, 0, NULL, 0 },
};

/* The F_* flag an option needs, 0 for the common ones. */
static unsigned option_flag(int opt)
{
	switch (opt) {
	case OPT_PASSWORD_FILE: return F_PASSWORD_FILE;
	case OPT_JSON: return F_JSON;
	case OPT_UNREAD: return F_UNREAD;
	case OPT_FOLLOW: return F_FOLLOW;
	case OPT_LIMIT: return F_LIMIT;
	case OPT_MARK_READ: return F_MARK_READ;
	case OPT_LOCAL: return F_LOCAL;
	case OPT_MQTT: return F_MQTT;
	default: return 0;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* --mqtt HOST[:PORT] (an IPv6 address in brackets). */
static bool parse_mqtt(struct opts *o, const char *arg)
{
	char err[160];

	free(o->mqtt_host); /* given again: the last one counts */
	o->mqtt_host = NULL;
	if (client_address_parse(arg, strlen(arg), MQTT_PORT_DEFAULT, &o->mqtt_host,
				 &o->mqtt_port, err, sizeof(err)) == 0 &&
	    strlen(o->mqtt_host) < HOST_MAX)
		return true;
	fprintf(stderr, "agora %s: --mqtt '%s': %s\n", o->spec->name, arg,
		o->mqtt_host ? "the host name is too long" : err);
	return false;
}

/* Applies one option; false (with the error said) when its value is bad. */
static bool apply_option(struct opts *o, int opt, const char *arg)
{
	const char *cmd = o->spec->name;

	switch (opt) {
	case OPT_MQTT: return parse_mqtt(o, arg);
	case OPT_SERVER: o->server_arg = arg; break;
	case OPT_PASSWORD_FILE: o->password_file = arg; break;
	case OPT_JSON: o->json = true; break;
	case OPT_UNREAD: o->unread = true; break;
	case OPT_FOLLOW: o->follow = true; break;
	case OPT_MARK_READ: o->mark_read = true; break;
	case OPT_LOCAL: o->local = true; break;
	case OPT_TIMEOUT:
		if (!parse_timeout(arg, &o->timeout_ms)) {
			fprintf(stderr, "agora %s: --timeout '%s': a number of seconds above 0, "
					"at most %.0f\n",
				cmd, arg, TIMEOUT_MAX_S);
			return false;
		}
		break;
	case OPT_LIMIT:
		if (!parse_long(arg, 1, INBOX_LIMIT_MAX, &o->limit)) {
			fprintf(stderr, "agora %s: --limit '%s': a number from 1 to %d\n", cmd, arg,
				INBOX_LIMIT_MAX);
			return false;
		}
		break;
	}
	return true;
}

/* Returns -1 on success (go on), else the exit status (--help: EXIT_OK). */
static int parse(const struct spec *s, int argc, char **argv, struct opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->spec = s;
	o->timeout_ms = REST_TIMEOUT_MS;
	o->limit = INBOX_LIMIT_DEFAULT;
	opterr = 0; /* our own messages */
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		if (opt == 'h') {
			usage(s);
			return EXIT_OK;
		}
		if (opt == '?' || opt == ':') {
			const char *prev = argv[optind - 1];
			char shortopt[3] = { '-', (char)optopt, '\0' };
			/* a long option is argv's word; a short one may be in a group */
			const char *bad = strncmp(prev, "--", 2) == 0 ? prev : shortopt;

			if (opt == ':')
				fprintf(stderr, "agora %s: %s needs a value\n", s->name, bad);
			else
				fprintf(stderr,
					"agora %s: unknown option '%s'; see agora %s --help\n",
					s->name, bad, s->name);
			return EXIT_USAGE;
		}
		if (option_flag(opt) && !(s->flags & option_flag(opt))) {
			fprintf(stderr, "agora %s: --%s does not apply to this command; "
					"see agora %s --help\n",
				s->name, option_name(opt), s->name);
			return EXIT_USAGE;
		}
		if (!apply_option(o, opt, optarg))
			return EXIT_USAGE;
	}
	if (o->mqtt_host && !o->follow) {
		fprintf(stderr, "agora %s: --mqtt goes with --follow\n", s->name);
		return EXIT_USAGE;
	}
	o->nargs = argc - optind;
	o->args = argv + optind;
	if (o->nargs < s->min_args || (s->max_args >= 0 && o->nargs > s->max_args)) {
		fprintf(stderr, "agora %s: %s; usage: agora %s %s\n", s->name,
			o->nargs < s->min_args ? "missing arguments" : "too many arguments",
			s->name, s->synopsis);
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- one command's run ---- */

struct ctx {
	struct opts o;
	const char *cmd;
	struct rest_client rc;
	char creds_path[PATH_MAX];
	json_t *creds;           /* the credentials file, once loaded */
	struct creds_account me; /* the account kept for rc.server (need_login) */
	long status;             /* of the last answer, 0 when none came */
};

/* The server from --server, $AGORA_SERVER or the default, made canonical. */
static int choose_server(struct ctx *c)
{
	const char *env = getenv("AGORA_SERVER");
	const char *url = c->o.server_arg ? c->o.server_arg
			  : env && env[0]     ? env
					      : REST_DEFAULT_SERVER;
	const char *why;

	if (rest_url_canonical(url, c->rc.server, sizeof(c->rc.server), &why)) {
		fprintf(stderr, "agora %s: %s '%s': %s\n", c->cmd,
			c->o.server_arg ? "--server" : "AGORA_SERVER", url, why);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int load_creds(struct ctx *c)
{
	char err[PATH_MAX + 256];

	if (c->creds)
		return EXIT_OK;
	if (creds_path(c->creds_path, sizeof(c->creds_path), err, sizeof(err)) ||
	    creds_load(c->creds_path, &c->creds, err, sizeof(err))) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

static int save_creds(struct ctx *c)
{
	char err[PATH_MAX + 256];
	sigset_t block, old;
	int rc;

	/* Not killed by ^C between the temporary file and its rename. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	rc = creds_save(c->creds_path, c->creds, err, sizeof(err));
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

/* The account kept for this server; its token goes with every request. */
static int need_login(struct ctx *c)
{
	int rc = load_creds(c);

	if (rc)
		return rc;
	if (!creds_get(c->creds, c->rc.server, &c->me)) {
		fprintf(stderr, "agora %s: not logged in on %s (run: agora login NAME)\n", c->cmd,
			c->rc.server);
		return EXIT_LOCAL;
	}
	c->rc.token = c->me.token;
	return EXIT_OK;
}

/* The one line for a refusal; a refused token says how to get another. */
static void say_refused(struct ctx *c, const struct rest_answer *a)
{
	char line[REST_MESSAGE_MAX + 128];

	rest_error_line(a->status, a->body, a->len, line, sizeof(line));
	if (a->status == 401 && c->rc.token)
		fprintf(stderr, "agora %s: %s; log in again: agora login %s\n", c->cmd, line,
			c->me.name ? c->me.name : "NAME");
	else
		fprintf(stderr, "agora %s: %s\n", c->cmd, line);
}

/* An answer that is not what the API sends (another server on that port?). */
static int not_the_api(struct ctx *c)
{
	fprintf(stderr, "agora %s: the answer of %s is not the API's JSON\n", c->cmd,
		c->rc.server);
	return EXIT_NET;
}

/*
 * One request. body (may be NULL) is sent as JSON and zeroed after (it
 * may hold a password). The answer must have status `expect`; then, unless
 * it is 204, *out gets its JSON (the caller decrefs). Returns EXIT_OK or
 * the exit status, the error said, except a refusal with status `quiet`
 * (0: none), left to the caller (c->status).
 */
static int call(struct ctx *c, const char *method, const char *path, const json_t *body,
		long expect, json_t **out, long quiet)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct rest_answer a;
	char err[REST_URL_MAX + 256];
	int rc;

	c->status = 0;
	if (out)
		*out = NULL;
	if (body && !text) {
		fprintf(stderr, "agora %s: out of memory\n", c->cmd);
		return EXIT_LOCAL;
	}
	rc = rest_request(&c->rc, method, path, text, &a, err, sizeof(err));
	if (text) {
		memset(text, 0, strlen(text));
		free(text);
	}
	if (rc) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_NET;
	}
	c->status = a.status;
	if (a.status != expect) {
		if (a.status != quiet)
			say_refused(c, &a);
		rc = a.status >= 400 ? EXIT_REFUSED : EXIT_NET;
		goto out;
	}
	if (out && expect != 204) {
		*out = json_loadb(a.body ? a.body : "", a.len, 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = not_the_api(c);
		}
	}
out:
	if (a.body)
		memset(a.body, 0, a.len); /* may hold a token */
	rest_answer_release(&a);
	return rc;
}

/* The words joined by spaces into a malloc'd string; NULL if too long. */
static char *join_words(struct ctx *c, char **words, int n)
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
static int read_password(struct ctx *c, const char *name, bool confirm, char *pw, size_t n)
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
static void revoke_quietly(struct ctx *c, const char *token)
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
static int keep_login(struct ctx *c, const json_t *user, const char *token)
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
		return not_the_api(c);
	}
	if (creds_get(c->creds, c->rc.server, &old) && strcmp(old.token, token) != 0)
		old_token = strdup(old.token);
	if (creds_put(c->creds, &acc)) {
		fprintf(stderr, "agora %s: the credentials file holds too many accounts\n", c->cmd);
		rc = EXIT_LOCAL;
	} else {
		rc = save_creds(c);
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
static int account_request(struct ctx *c, bool create)
{
	const char *name = c->o.args[0];
	char pw[PASSWORD_MAX + 1];
	json_t *body, *ans = NULL;
	const json_t *user;
	int rc;

	if ((rc = load_creds(c))) /* a broken file fails before the server is asked */
		return rc;
	if ((rc = read_password(c, name, create, pw, sizeof(pw))))
		goto out_pw;
	body = json_pack("{s:s,s:s}", "name", name, "password", pw);
	if (!body) {
		fprintf(stderr, "agora %s: the name and password must be UTF-8 text\n", c->cmd);
		rc = EXIT_USAGE;
		goto out_pw;
	}
	rc = call(c, "POST", create ? "/api/users" : "/api/login", body, create ? 201 : 200, &ans,
		  0);
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

static int do_register(struct ctx *c)
{
	return account_request(c, true);
}

static int do_login(struct ctx *c)
{
	return account_request(c, false);
}

static int do_logout(struct ctx *c)
{
	char *name;
	int rc;

	if ((rc = need_login(c)))
		return rc;
	if (!c->o.local) {
		/* 401: the server no longer knows the token; forgetting it is all
		 * that is left to do. Another failure keeps it for a retry. */
		rc = call(c, "POST", "/api/logout", NULL, 204, NULL, 401);
		if (rc && c->status != 401) {
			fprintf(stderr, "agora logout: the token is kept; 'agora logout --local' "
					"forgets it without the server\n");
			return rc;
		}
	}
	name = strdup(c->me.name); /* c->me points into the entry removed */
	creds_remove(c->creds, c->rc.server);
	if ((rc = save_creds(c)) == EXIT_OK)
		printf("logged out of %s (%s)\n", c->rc.server, name ? name : "?");
	free(name);
	return rc;
}

/* ---- users, status, send ---- */

static int do_users(struct ctx *c)
{
	json_t *all = json_array(), *page = NULL;
	char path[64];
	long long total = 0;
	int rc = EXIT_OK;

	for (size_t offset = 0; offset < USERS_MAX; offset += PAGE) {
		json_t *items;
		size_t got;

		snprintf(path, sizeof(path), "/api/users?limit=%d&offset=%zu", PAGE, offset);
		if ((rc = call(c, "GET", path, NULL, 200, &page, 0)))
			break;
		items = json_object_get(page, "users");
		total = json_integer_value(json_object_get(page, "total"));
		if (!json_is_array(items)) {
			rc = not_the_api(c);
			break;
		}
		got = json_array_size(items);
		json_array_extend(all, items);
		json_decref(page); /* items with it */
		page = NULL;
		if (got < PAGE || (long long)(offset + PAGE) >= total)
			break;
	}
	json_decref(page);
	if (rc == EXIT_OK)
		rest_print_users(stdout, all, c->o.json);
	json_decref(all);
	return rc;
}

static int do_status(struct ctx *c)
{
	json_t *user = NULL, *body;
	char path[64];
	char *text;
	int rc;

	if ((rc = need_login(c)))
		return rc;
	snprintf(path, sizeof(path), "/api/users/%lld", (long long)c->me.id);
	if (c->o.nargs == 0) {
		rc = call(c, "GET", path, NULL, 200, &user, 0);
	} else {
		if (!(text = join_words(c, c->o.args, c->o.nargs)))
			return EXIT_USAGE;
		body = json_pack("{s:s}", "status", text);
		free(text);
		if (!body) {
			fprintf(stderr, "agora status: the status must be UTF-8 text\n");
			return EXIT_USAGE;
		}
		rc = call(c, "PATCH", path, body, 200, &user, 0);
		json_decref(body);
	}
	if (rc == EXIT_OK)
		rest_print_status(stdout, user, c->o.json);
	json_decref(user);
	return rc;
}

static int do_send(struct ctx *c)
{
	json_t *msg = NULL, *body;
	char *text, *to;
	int rc;

	if ((rc = need_login(c)))
		return rc;
	if (!(text = join_words(c, c->o.args + 1, c->o.nargs - 1)))
		return EXIT_USAGE;
	body = json_pack("{s:s,s:s}", "to", c->o.args[0], "content", text);
	free(text);
	if (!body) {
		fprintf(stderr, "agora send: the user and the text must be UTF-8\n");
		return EXIT_USAGE;
	}
	rc = call(c, "POST", "/api/messages", body, 201, &msg, 0);
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
static int fetch_inbox(struct ctx *c, json_t **out)
{
	json_t *all = json_array(), *page = NULL;
	char path[96];
	int rc = EXIT_OK;

	while ((long)json_array_size(all) < c->o.limit) {
		size_t offset = json_array_size(all);
		long want = c->o.limit - (long)offset;
		json_t *items;
		size_t got;

		snprintf(path, sizeof(path), "/api/messages?limit=%ld&offset=%zu%s",
			 want < PAGE ? want : PAGE, offset, c->o.unread ? "&unread=true" : "");
		if ((rc = call(c, "GET", path, NULL, 200, &page, 0)))
			break;
		items = json_object_get(page, "messages");
		if (!json_is_array(items)) {
			rc = not_the_api(c);
			break;
		}
		got = json_array_size(items);
		json_array_extend(all, items);
		json_decref(page); /* items with it */
		page = NULL;
		if (got < (size_t)(want < PAGE ? want : PAGE))
			break;
	}
	json_decref(page);
	if (rc)
		json_decref(all);
	else
		*out = all;
	return rc;
}

/* PATCH {"read": true} on each unread message of the list. */
static int mark_read(struct ctx *c, const json_t *messages)
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
		if ((rc = call(c, "PATCH", path, body, 200, &ans, 0)))
			break;
		json_decref(ans);
	}
	json_decref(body);
	return rc;
}

/* Lists (and with --mark-read marks) the inbox; *shown gets the messages
 * printed, newest first, for the caller to json_decref. */
static int list_inbox(struct ctx *c, json_t **shown)
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

/* --follow: the listing, printed at once (the live lines follow it). */
static int follow_list(void *ctx, json_t **listed)
{
	struct ctx *c = ctx;
	int rc = list_inbox(c, listed);

	fflush(stdout);
	return rc;
}

/* --follow --mark-read: a live message shown is read too. */
static int follow_printed(void *ctx, const json_t *m)
{
	struct ctx *c = ctx;
	json_t *one = json_array();
	int rc;

	json_array_append(one, (json_t *)m);
	rc = mark_read(c, one);
	json_decref(one);
	return rc;
}

/* The listing and then the live messages, over MQTT with the same account
 * (follow.h): its name, and its token as the password. */
static int follow_inbox(struct ctx *c)
{
	char host[HOST_MAX];
	struct follow_opts f = {
		.cmd = c->cmd,
		.host = c->o.mqtt_host,
		.port = c->o.mqtt_host ? c->o.mqtt_port : MQTT_PORT_DEFAULT,
		.name = c->me.name,
		.token = c->me.token,
		.json = c->o.json,
		.list = follow_list,
		.printed = c->o.mark_read ? follow_printed : NULL,
		.ctx = c,
	};

	if (!f.host) {
		if (rest_url_host(c->rc.server, host, sizeof(host))) {
			fprintf(stderr, "agora %s: no host in %s; give --mqtt HOST:PORT\n", c->cmd,
				c->rc.server);
			return EXIT_USAGE;
		}
		f.host = host;
	}
	return follow_run(&f);
}

static int do_inbox(struct ctx *c)
{
	json_t *messages = NULL;
	int rc;

	if ((rc = need_login(c)))
		return rc;
	if (c->o.follow)
		return follow_inbox(c);
	rc = list_inbox(c, &messages);
	json_decref(messages);
	return rc;
}

/* ---- entry points ---- */

static int run(enum spec_id id, int (*fn)(struct ctx *), int argc, char **argv)
{
	struct ctx c = { .cmd = specs[id].name };
	int rc = parse(&specs[id], argc, argv, &c.o);

	if (rc >= 0)
		goto out_opts;
	rest_client_init(&c.rc);
	c.rc.timeout_ms = c.o.timeout_ms;
	if (c.rc.connect_timeout_ms > c.o.timeout_ms)
		c.rc.connect_timeout_ms = c.o.timeout_ms;
	if ((rc = choose_server(&c)))
		goto out_opts;
	/* A server gone mid-request is an error code, not the end of agora. */
	signal(SIGPIPE, SIG_IGN);
	if (rest_global_init()) {
		fprintf(stderr, "agora %s: cannot initialise libcurl\n", c.cmd);
		rc = EXIT_LOCAL;
		goto out_opts;
	}
	rc = fn(&c);
	rest_client_release(&c.rc);
	rest_global_cleanup();
	json_decref(c.creds);
	/* `agora users | head -1` is not an error; a full disk is. */
	if (fflush(stdout) != 0 && errno != EPIPE && rc == EXIT_OK) {
		fprintf(stderr, "agora %s: cannot write the output: %s\n", c.cmd, strerror(errno));
		rc = EXIT_LOCAL;
	}
out_opts:
	free(c.o.mqtt_host);
	return rc;
}

int cmd_register(int argc, char **argv)
{
	return run(S_REGISTER, do_register, argc, argv);
}

int cmd_login(int argc, char **argv)
{
	return run(S_LOGIN, do_login, argc, argv);
}

int cmd_logout(int argc, char **argv)
{
	return run(S_LOGOUT, do_logout, argc, argv);
}

int cmd_users(int argc, char **argv)
{
	return run(S_USERS, do_users, argc, argv);
}

int cmd_status(int argc, char **argv)
{
	return run(S_STATUS, do_status, argc, argv);
}

int cmd_send(int argc, char **argv)
{
	return run(S_SEND, do_send, argc, argv);
}

int cmd_inbox(int argc, char **argv)
{
	return run(S_INBOX, do_inbox, argc, argv);
}
