/*
 * rule.c - rules from the shell: agora rule add, list, show, enable,
 * disable, rm and test, on the REST API (docs/api.md, "Rules"; admins
 * only). Options, requests, credentials and exit codes are apicmd.c's, as
 * for poll.c. enable and disable read the rule and PUT it back with the
 * same fields and the other state.
 *
 * What the server says is printed readably, or as it came with --json. A
 * rule the engine refuses (422 invalid_rule) is its message, then its
 * line of the rule's text with a caret under the position.
 */
#include "commands.h"

#include "apicmd.h"
#include "client/rest_print.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct apicmd_spec specs[] = {
	{ "rule add", APICMD_JSON | APICMD_RULE, 2, 2,
	  "NAME SQL --action JSON [--action JSON...] [--disabled] [--json]",
	  "Creates a rule (admins only) and shows it: SQL is its text, each --action one\n"
	  "action as a JSON object (1 to 8). It takes effect at once unless --disabled. A rule\n"
	  "the server refuses is its message, with a caret under the place in SQL.\n\n"
	  "  --action JSON          an action: '{\"type\":\"record\",\"collection\":\"support\"}'\n"
	  "  --disabled             store it without running it\n"
	  "  --json                 print the rule as JSON\n" },
	{ "rule list", APICMD_JSON, 0, 0, "[--json]",
	  "Lists the rules: id, name, on or off, owner, events matched and passed, text.\n\n"
	  "  --json                 one JSON object per rule and line, as the API gives it\n" },
	{ "rule show", APICMD_JSON, 1, 1, "ID [--json]",
	  "Shows a rule: its text, actions and counters.\n\n"
	  "  --json                 print the rule as JSON\n" },
	{ "rule enable", APICMD_JSON, 1, 1, "ID [--json]",
	  "Turns a rule on (at once).\n\n"
	  "  --json                 print the rule as JSON\n" },
	{ "rule disable", APICMD_JSON, 1, 1, "ID [--json]",
	  "Turns a rule off (at once); it stays stored.\n\n"
	  "  --json                 print the rule as JSON\n" },
	{ "rule rm", 0, 1, 1, "ID", "Deletes a rule; the records it wrote stay.\n" },
	{ "rule test", APICMD_JSON | APICMD_SAMPLE, 1, 1,
	  "ID --topic T --payload P [--username U] [--clientid C] [--qos N] [--retain] [--json]",
	  "Runs rule ID (enabled or not) against a sample MQTT message and prints what it\n"
	  "would do: whether it passes, the fields it selects, its actions as they would be\n"
	  "carried out. Nothing is published, sent or recorded.\n\n"
	  "  --topic TOPIC          the message's topic\n"
	  "  --payload PAYLOAD      its payload (text)\n"
	  "  --username NAME        the account that sent it (default: none)\n"
	  "  --clientid ID          the client that sent it (default: none)\n"
	  "  --qos N                its QoS, 0 to 2 (default 0)\n"
	  "  --retain               a retained message\n"
	  "  --json                 print the server's answer as JSON\n" },
};

enum spec_id { S_ADD, S_LIST, S_SHOW, S_ENABLE, S_DISABLE, S_RM, S_TEST };

#define TEXT_MAX 4096 /* bytes of a rule's text or an action shown in a list */

/* ---- printing ---- */

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* s made safe for the terminal, newlines as `nl`. */
static void put_safe(const char *s, const char *nl)
{
	char *safe = rest_safe_dup(s ? s : "", s ? strlen(s) : 0, nl, TEXT_MAX);

	fputs(safe, stdout);
	free(safe);
}

static json_int_t int_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* An answer that must be a rule. */
static bool is_rule(const json_t *r)
{
	return json_is_integer(json_object_get(r, "id")) &&
	       json_is_string(json_object_get(r, "name")) &&
	       json_is_string(json_object_get(r, "sql")) &&
	       json_is_array(json_object_get(r, "actions"));
}

static const char *owner_of(const json_t *r)
{
	const char *o = json_string_value(json_object_get(r, "owner"));

	return o ? o : "(deleted)";
}

static void print_rule(const json_t *r)
{
	const json_t *st = json_object_get(r, "stats");
	const char *err = json_string_value(json_object_get(st, "last_error"));
	char created[32], updated[32];
	json_t *a;
	size_t i;

	rest_local_time(json_object_get(r, "created_at"), created, sizeof(created));
	rest_local_time(json_object_get(r, "updated_at"), updated, sizeof(updated));
	printf("rule #%lld ", (long long)int_of(r, "id"));
	put_safe(json_string_value(json_object_get(r, "name")), NULL);
	printf(" (%s), owner ", json_is_true(json_object_get(r, "enabled")) ? "enabled"
									     : "disabled");
	put_safe(owner_of(r), NULL);
	printf("\ncreated %s, updated %s\nsql:     ", created, updated);
	put_safe(json_string_value(json_object_get(r, "sql")), "\n         ");
	printf("\nactions:\n");
	json_array_foreach(json_object_get(r, "actions"), i, a) {
		char *s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("  %zu. ", i + 1);
		put_safe(s, NULL);
		printf("\n");
		free(s);
	}
	printf("stats:   matched %lld, passed %lld, failed %lld; actions ok %lld, failed %lld; "
	       "loops stopped %lld\n",
	       (long long)int_of(st, "matched"), (long long)int_of(st, "passed"),
	       (long long)int_of(st, "failed"), (long long)int_of(st, "actions_ok"),
	       (long long)int_of(st, "actions_failed"), (long long)int_of(st, "loop_stopped"));
	if (err) {
		printf("last error: ");
		put_safe(err, NULL);
		printf("\n");
	}
}

/* The rule's line of text where the server's position points, with a
 * caret under it (on stderr), after a 422 invalid_rule about that text. */
static void show_position(struct apicmd *c, const char *sql)
{
	const char *code = json_string_value(json_object_get(c->refusal, "code"));
	json_t *pos = json_object_get(c->refusal, "position");
	size_t at, start, end, len = strlen(sql);
	char *line;

	if (!code || strcmp(code, "invalid_rule") != 0 || !json_is_integer(pos) ||
	    json_integer_value(pos) < 0 || (size_t)json_integer_value(pos) > len)
		return;
	at = (size_t)json_integer_value(pos);
	for (start = at; start > 0 && sql[start - 1] != '\n'; start--)
		;
	for (end = at; end < len && sql[end] != '\n'; end++)
		;
	line = rest_safe_dup(sql + start, end - start, NULL, TEXT_MAX);
	fprintf(stderr, "  %s\n  ", line);
	free(line);
	/* tabs kept as tabs, so that the caret lines up */
	for (size_t i = start; i < at && i - start < TEXT_MAX; i++)
		if ((sql[i] & 0xc0) != 0x80) /* one column per character */
			fputc(sql[i] == '\t' ? '\t' : ' ', stderr);
	fprintf(stderr, "^\n");
}

/* The rule id operand; EXIT_USAGE (said) when it is not one. */
static int read_id(struct apicmd *c, const char *arg, long long *id)
{
	char *end;

	errno = 0;
	*id = strtoll(arg, &end, 10);
	if (arg[0] >= '0' && arg[0] <= '9' && !*end && !errno && *id > 0)
		return EXIT_OK;
	fprintf(stderr, "agora %s: '%s' is not a rule id (a whole number from 1)\n", c->cmd, arg);
	return EXIT_USAGE;
}

/* Prints a rule the API answered (or says it is not one). */
static int print_answer(struct apicmd *c, const json_t *r, const char *done)
{
	if (!is_rule(r))
		return apicmd_not_the_api(c);
	if (c->o.json) {
		print_json(r);
		return EXIT_OK;
	}
	if (done)
		printf("%s rule #%lld\n", done, (long long)int_of(r, "id"));
	print_rule(r);
	return EXIT_OK;
}

/* ---- add ---- */

/* {"name", "sql", "actions", "enabled"}; NULL (said) when an --action is
 * not a JSON object or a text is not UTF-8. */
static json_t *add_body(struct apicmd *c)
{
	json_t *actions = json_array(), *name, *sql;

	if (c->o.nactions == 0) {
		fprintf(stderr, "agora %s: a rule needs an --action\n", c->cmd);
		json_decref(actions);
		return NULL;
	}
	for (int i = 0; i < c->o.nactions; i++) {
		json_error_t e;
		json_t *a = json_loads(c->o.actions[i], 0, &e);

		if (!json_is_object(a)) {
			fprintf(stderr, "agora %s: --action '%s': not a JSON object%s%s\n", c->cmd,
				c->o.actions[i], a ? "" : ": ", a ? "" : e.text);
			json_decref(a);
			json_decref(actions);
			return NULL;
		}
		json_array_append_new(actions, a);
	}
	name = json_string(c->o.args[0]);
	sql = json_string(c->o.args[1]);
	if (!name || !sql) {
		fprintf(stderr, "agora %s: NAME and SQL must be UTF-8 text\n", c->cmd);
		json_decref(name);
		json_decref(sql);
		json_decref(actions);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:o,s:b}", "name", name, "sql", sql, "actions", actions,
			 "enabled", !c->o.disabled);
}

static int do_add(struct apicmd *c)
{
	json_t *body, *rule = NULL;
	int rc;

	if (!(body = add_body(c)))
		return EXIT_USAGE;
	if ((rc = apicmd_need_login(c)) == EXIT_OK)
		rc = apicmd_call(c, "POST", "/api/rules", body, 201, &rule, 0);
	json_decref(body);
	if (rc == EXIT_REFUSED)
		show_position(c, c->o.args[1]);
	if (rc == EXIT_OK)
		rc = print_answer(c, rule, "created");
	json_decref(rule);
	return rc;
}

/* ---- list, show ---- */

static void print_list(const json_t *rules)
{
	const json_t *r;
	size_t i;

	if (json_array_size(rules) == 0) {
		printf("no rules\n");
		return;
	}
	printf("%5s  %-20s %-4s %-12s %9s %9s  %s\n", "ID", "NAME", "ON", "OWNER", "MATCHED",
	       "PASSED", "SQL");
	json_array_foreach(rules, i, r) {
		const json_t *st = json_object_get(r, "stats");
		char *name = rest_safe_dup(json_string_value(json_object_get(r, "name")),
					   json_string_length(json_object_get(r, "name")), NULL, 64);
		char *owner = rest_safe_dup(owner_of(r), strlen(owner_of(r)), NULL, 32);

		printf("%5lld  %-20s %-4s %-12s %9lld %9lld  ", (long long)int_of(r, "id"), name,
		       json_is_true(json_object_get(r, "enabled")) ? "on" : "off", owner,
		       (long long)int_of(st, "matched"), (long long)int_of(st, "passed"));
		put_safe(json_string_value(json_object_get(r, "sql")), " ");
		printf("\n");
		free(name);
		free(owner);
	}
}

static int do_list(struct apicmd *c)
{
	json_t *rules = NULL, *r;
	long long total = 0;
	size_t i;
	int rc;

	if ((rc = apicmd_need_login(c)) ||
	    (rc = apicmd_get_pages(c, "/api/rules?", "rules", 0, APICMD_LIMIT_MAX, &rules,
				   &total)))
		return rc;
	json_array_foreach(rules, i, r) {
		if (!is_rule(r)) {
			json_decref(rules);
			return apicmd_not_the_api(c);
		}
	}
	if (c->o.json) {
		json_array_foreach(rules, i, r)
			print_json(r);
	} else {
		print_list(rules);
		if ((long long)json_array_size(rules) < total)
			printf("(the first %zu of %lld rules)\n", json_array_size(rules), total);
	}
	json_decref(rules);
	return EXIT_OK;
}

/* GET /api/rules/{id} into *rule. */
static int get_rule(struct apicmd *c, long long id, json_t **rule)
{
	char path[64];
	int rc;

	snprintf(path, sizeof(path), "/api/rules/%lld", id);
	if ((rc = apicmd_call(c, "GET", path, NULL, 200, rule, 0)))
		return rc;
	if (!is_rule(*rule)) {
		json_decref(*rule);
		*rule = NULL;
		return apicmd_not_the_api(c);
	}
	return EXIT_OK;
}

static int do_show(struct apicmd *c)
{
	json_t *rule = NULL;
	long long id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)) || (rc = apicmd_need_login(c)) ||
	    (rc = get_rule(c, id, &rule)))
		return rc;
	rc = print_answer(c, rule, NULL);
	json_decref(rule);
	return rc;
}

/* ---- enable, disable ---- */

/* Reads the rule and PUTs it back with enabled = on. */
static int set_enabled(struct apicmd *c, bool on)
{
	json_t *rule = NULL, *body, *saved = NULL;
	char path[64];
	long long id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)) || (rc = apicmd_need_login(c)) ||
	    (rc = get_rule(c, id, &rule)))
		return rc;
	body = json_pack("{s:O,s:O,s:O,s:b}", "name", json_object_get(rule, "name"), "sql",
			 json_object_get(rule, "sql"), "actions", json_object_get(rule, "actions"),
			 "enabled", on);
	snprintf(path, sizeof(path), "/api/rules/%lld", id);
	rc = apicmd_call(c, "PUT", path, body, 200, &saved, 0);
	if (rc == EXIT_REFUSED)
		show_position(c, json_string_value(json_object_get(rule, "sql")));
	if (rc == EXIT_OK)
		rc = print_answer(c, saved, on ? "enabled" : "disabled");
	json_decref(body);
	json_decref(saved);
	json_decref(rule);
	return rc;
}

static int do_enable(struct apicmd *c)
{
	return set_enabled(c, true);
}

static int do_disable(struct apicmd *c)
{
	return set_enabled(c, false);
}

/* ---- rm ---- */

static int do_rm(struct apicmd *c)
{
	char path[64];
	long long id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)) || (rc = apicmd_need_login(c)))
		return rc;
	snprintf(path, sizeof(path), "/api/rules/%lld", id);
	if ((rc = apicmd_call(c, "DELETE", path, NULL, 204, NULL, 0)))
		return rc;
	printf("deleted rule #%lld\n", id);
	return EXIT_OK;
}

/* ---- test ---- */

/* The sample event of the options; NULL (said) when one is missing or
 * not UTF-8. */
static json_t *sample_body(struct apicmd *c)
{
	json_t *o = json_object();
	const struct {
		const char *key, *value;
	} texts[] = {
		{ "topic", c->o.topic },
		{ "payload", c->o.payload },
		{ "username", c->o.username },
		{ "clientid", c->o.clientid },
	};

	if (!c->o.topic || !c->o.payload) {
		fprintf(stderr, "agora %s: --topic and --payload are needed\n", c->cmd);
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (texts[i].value && json_object_set_new(o, texts[i].key,
							   json_string(texts[i].value))) {
			fprintf(stderr, "agora %s: --%s must be UTF-8 text\n", c->cmd,
				texts[i].key);
			json_decref(o);
			return NULL;
		}
	}
	json_object_set_new(o, "qos", json_integer(c->o.qos < 0 ? 0 : c->o.qos));
	json_object_set_new(o, "retain", json_boolean(c->o.retain));
	return o;
}

static void print_test(const json_t *t)
{
	const json_t *fields = json_object_get(t, "fields");
	const char *err = json_string_value(json_object_get(t, "error"));
	json_t *a;
	size_t i;

	printf("passed: %s\n", json_is_true(json_object_get(t, "passed")) ? "yes" : "no");
	if (err) {
		printf("error: ");
		put_safe(err, NULL);
		printf("\n");
	}
	if (json_is_object(fields) && json_object_size(fields)) {
		char *s = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("fields: ");
		put_safe(s, NULL);
		printf("\n");
		free(s);
	}
	if (json_array_size(json_object_get(t, "actions")))
		printf("would do:\n");
	json_array_foreach(json_object_get(t, "actions"), i, a) {
		char *s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("  %zu. ", i + 1);
		put_safe(s, NULL);
		printf("\n");
		free(s);
	}
}

static int do_test(struct apicmd *c)
{
	json_t *body, *ans = NULL;
	char path[64];
	long long id;
	int rc;

	if ((rc = read_id(c, c->o.args[0], &id)))
		return rc;
	if (!(body = sample_body(c)))
		return EXIT_USAGE;
	snprintf(path, sizeof(path), "/api/rules/%lld/test", id);
	if ((rc = apicmd_need_login(c)) == EXIT_OK)
		rc = apicmd_call(c, "POST", path, body, 200, &ans, 0);
	json_decref(body);
	if (rc == EXIT_OK && !json_is_boolean(json_object_get(ans, "passed")))
		rc = apicmd_not_the_api(c);
	if (rc == EXIT_OK && c->o.json)
		print_json(ans);
	else if (rc == EXIT_OK)
		print_test(ans);
	json_decref(ans);
	return rc;
}

/* ---- entry point ---- */

static void rule_usage(FILE *out)
{
	fprintf(out, "usage: agora rule add %s\n", specs[S_ADD].synopsis);
	for (int i = S_LIST; i <= S_TEST; i++)
		fprintf(out, "       agora %s %s\n", specs[i].name, specs[i].synopsis);
	fprintf(out,
		"       (each with [--server URL])\n"
		"\n"
		"Rules on an Agora server (\"when this arrives, do that\"; docs/rules.md), for\n"
		"the accounts its admins setting names, logged in with agora login. 'agora rule\n"
		"COMMAND --help' describes each.\n\n%s",
		apicmd_common_help);
}

int cmd_rule(int argc, char **argv)
{
	static const struct {
		const char *word;
		enum spec_id spec;
		int (*fn)(struct apicmd *);
	} subs[] = {
		{ "add", S_ADD, do_add },	  { "list", S_LIST, do_list },
		{ "show", S_SHOW, do_show },	  { "enable", S_ENABLE, do_enable },
		{ "disable", S_DISABLE, do_disable }, { "rm", S_RM, do_rm },
		{ "test", S_TEST, do_test },
	};

	if (argc < 2) {
		rule_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		rule_usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].word) == 0)
			return apicmd_run(&specs[subs[i].spec], subs[i].fn, argc - 1, argv + 1);
	fprintf(stderr, "agora rule: '%s' is not a rule command (add, list, show, enable, "
			"disable, rm, test); see agora rule --help\n",
		argv[1]);
	return EXIT_USAGE;
}
