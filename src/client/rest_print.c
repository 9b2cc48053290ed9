/*
 * rest_print.c - the API's objects as `agora` prints them (rest_print.h).
 */
#include "rest_print.h"

#include "rest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_SHOWN_MAX 64      /* names are at most 32 bytes; this is a backstop */
#define CONTENT_SHOWN_MAX 65536 /* message_max_length is 4096 by default */
#define STATUS_SHOWN_MAX 4096

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void print_json_line(FILE *out, const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s)
		fprintf(out, "%s\n", s);
	free(s);
}

/* s made safe (rest_safe_dup) from the string member key. */
static char *safe_member(const json_t *o, const char *key, const char *newline, size_t max)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return rest_safe_dup("", 0, newline, max);
	return rest_safe_dup(json_string_value(v), json_string_length(v), newline, max);
}

void rest_local_time(const json_t *iso, char *out, size_t outlen)
{
	const char *s = json_string_value(iso), *end;
	struct tm tm;
	time_t t;

	snprintf(out, outlen, "-");
	if (!s)
		return;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end != '.' && *end != 'Z'))
		return;
	t = timegm(&tm);
	if (t == (time_t)-1 || !localtime_r(&t, &tm))
		return;
	strftime(out, outlen, "%Y-%m-%d %H:%M", &tm);
}

void rest_print_message(FILE *out, const json_t *m, bool json)
{
	char when[32];
	char *from, *content;

	if (json) {
		print_json_line(out, m);
		return;
	}
	rest_local_time(json_object_get(m, "created_at"), when, sizeof(when));
	from = safe_member(m, "from", NULL, NAME_SHOWN_MAX);
	content = safe_member(m, "content", "\n    ", CONTENT_SHOWN_MAX);
	fprintf(out, "%c #%lld %s %s: %s\n", json_is_true(json_object_get(m, "read")) ? ' ' : '*',
		(long long)json_integer_value(json_object_get(m, "id")), when, from, content);
	free(from);
	free(content);
}

json_t *rest_message_parse(const char *payload, size_t len)
{
	json_t *m = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);

	if (json_is_object(m) && json_is_integer(json_object_get(m, "id")) &&
	    json_is_string(json_object_get(m, "from")) &&
	    json_is_string(json_object_get(m, "content")))
		return m;
	json_decref(m);
	return NULL;
}

int rest_print_message_payload(FILE *out, const char *payload, size_t len, bool json)
{
	json_t *m = rest_message_parse(payload, len);

	if (!m)
		return -1;
	rest_print_message(out, m, json);
	json_decref(m);
	return 0;
}

static int digits(long long v)
{
	int n = 1;

	for (; v >= 10 || v <= -10; v /= 10)
		n++;
	return n + (v < 0);
}

void rest_print_users(FILE *out, const json_t *users, bool json)
{
	int id_w = 2, name_w = 4;
	const json_t *u;
	size_t i;

	if (json) {
		json_array_foreach(users, i, u)
			print_json_line(out, u);
		return;
	}
	json_array_foreach(users, i, u) {
		int d = digits((long long)json_integer_value(json_object_get(u, "id")));
		int n = (int)strlen(str(u, "name"));

		id_w = d > id_w ? d : id_w;
		name_w = n > name_w ? (n < NAME_SHOWN_MAX ? n : NAME_SHOWN_MAX) : name_w;
	}
	fprintf(out, "%-*s  %-*s  %-16s  STATUS\n", id_w, "ID", name_w, "NAME", "UPDATED");
	json_array_foreach(users, i, u) {
		char *name = safe_member(u, "name", NULL, NAME_SHOWN_MAX);
		char *status = safe_member(u, "status", NULL, STATUS_SHOWN_MAX);
		char when[32];

		rest_local_time(json_object_get(u, "status_updated_at"), when, sizeof(when));
		/* no trailing spaces when there is no status */
		fprintf(out, "%-*lld  %-*s  %-*s%s%s\n", id_w,
			(long long)json_integer_value(json_object_get(u, "id")), name_w, name,
			status[0] ? 16 : 0, status[0] ? when : "-", status[0] ? "  " : "", status);
		free(name);
		free(status);
	}
}

void rest_print_status(FILE *out, const json_t *user, bool json)
{
	char *name, *status;
	char when[32];

	if (json) {
		print_json_line(out, user);
		return;
	}
	name = safe_member(user, "name", NULL, NAME_SHOWN_MAX);
	status = safe_member(user, "status", NULL, STATUS_SHOWN_MAX);
	rest_local_time(json_object_get(user, "status_updated_at"), when, sizeof(when));
	if (status[0])
		fprintf(out, "%s: %s (since %s)\n", name, status, when);
	else
		fprintf(out, "%s: no status\n", name);
	free(name);
	free(status);
}
