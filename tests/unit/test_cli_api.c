/*
 * test_cli_api.c - the pure parts of the REST API's client side
 * (src/client/rest.h, creds.h, rest_print.h): server URLs made canonical,
 * the one line an error answer becomes, text made safe for a terminal, the
 * credentials file's shape (and its mode on disk), how messages, users and
 * statuses are printed.
 */
#include "helpers.h"

#include "client/creds.h"
#include "client/rest.h"
#include "client/rest_print.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- URLs ---- */

static void expect_url(const char *in, const char *want)
{
	char out[REST_URL_MAX];
	const char *why = NULL;
	int rc = rest_url_canonical(in, out, sizeof(out), &why);

	if (rc != 0)
		fail_msg("'%s' refused: %s", in, why);
	assert_string_equal(out, want);
}

static void expect_bad_url(const char *in, const char *why_part)
{
	char out[REST_URL_MAX];
	const char *why = NULL;

	if (rest_url_canonical(in, out, sizeof(out), &why) == 0)
		fail_msg("'%s' accepted as '%s'", in, out);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("'%s': reason '%s' lacks '%s'", in, why, why_part);
}

static void test_url_canonical(void **state)
{
	(void)state;
	expect_url("http://127.0.0.1:8080", "http://127.0.0.1:8080");
	expect_url("127.0.0.1:8080", "http://127.0.0.1:8080");
	expect_url("HTTP://LocalHost:8080///", "http://localhost:8080");
	expect_url("https://Example.org", "https://example.org");
	expect_url("http://[::1]:8080/", "http://[::1]:8080");
	expect_url("http://[::1]", "http://[::1]");
	/* a path prefix (a reverse proxy) is kept, its case too */
	expect_url("http://host/Agora/", "http://host/Agora");
	expect_url("localhost", "http://localhost");

	expect_bad_url("", "no host");
	expect_bad_url("http://", "no host");
	expect_bad_url("http:///x", "no host");
	expect_bad_url(":8080", "no host");
	expect_bad_url("ftp://host", "only http");
	expect_bad_url("httpss://host", "only http");
	expect_bad_url("averyverylongscheme://host", "only http");
	expect_bad_url("http://host:0", "port");
	expect_bad_url("http://host:65536", "port");
	expect_bad_url("http://host:99999999999999999999", "port");
	expect_bad_url("http://host:", "port");
	expect_bad_url("http://host:8o", "port");
	expect_bad_url("http://[::1", "IPv6");
	expect_bad_url("http://[]:80", "IPv6");
	expect_bad_url("http://[::1]80", "IPv6");
	expect_bad_url("http://user:pw@host", "user name");
	expect_bad_url("http://host/?q=1", "query");
	expect_bad_url("http://host/#top", "query");
	expect_bad_url("http://ho st", "spaces");
	expect_bad_url("http://host\x1b", "control");
}

static void test_url_too_long(void **state)
{
	char in[600], out[64];
	const char *why;

	(void)state;
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(rest_url_canonical(in, out, sizeof(out), &why), -1);
	assert_non_null(strstr(why, "too long"));
	/* exactly fitting: "http://" + 56 + NUL = 64 */
	in[56] = '\0';
	assert_int_equal(rest_url_canonical(in, out, sizeof(out), &why), 0);
	assert_int_equal(strlen(out), 63);
	in[57 - 1] = 'a';
	in[57] = '\0';
	assert_int_equal(rest_url_canonical(in, out, sizeof(out), &why), -1);
}

/* The host `agora inbox --follow` takes for MQTT from the server URL. */
static void test_url_host(void **state)
{
	static const struct {
		const char *url, *host;
	} good[] = {
		{ "http://127.0.0.1:8080", "127.0.0.1" },
		{ "https://example.org", "example.org" },
		{ "http://example.org/agora", "example.org" },
		{ "http://[::1]:8080/x", "::1" },
		{ "http://[fe80::1]", "fe80::1" },
	};
	static const char *const bad[] = { "http://", "http://:8080", "http://[::1", "http://[]" };
	char out[32], tiny[4];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(rest_url_host(good[i].url, out, sizeof(out)), 0);
		assert_string_equal(out, good[i].host);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rest_url_host(bad[i], out, sizeof(out)), -1);
	/* "abc" and its NUL fit in 4 bytes; "abcd" does not. */
	assert_int_equal(rest_url_host("http://abc:1", tiny, sizeof(tiny)), 0);
	assert_string_equal(tiny, "abc");
	assert_int_equal(rest_url_host("http://abcd:1", tiny, sizeof(tiny)), -1);
}

/* ---- error lines ---- */

static void expect_line(long status, const char *body, const char *want)
{
	char out[512];

	rest_error_line(status, body, body ? strlen(body) : 0, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_error_line(void **state)
{
	(void)state;
	expect_line(404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no user 'bob'\"}}",
		    "no user 'bob' (404 not_found)");
	/* members in any order, more members ignored */
	expect_line(401, "{\"x\":1,\"error\":{\"message\":\"wrong name or password\",\"extra\":[],"
			 "\"code\":\"unauthorized\"}}",
		    "wrong name or password (401 unauthorized)");
	/* anything else: the status alone, never the body */
	expect_line(502, "<html>bad gateway</html>", "the server answered 502");
	expect_line(500, NULL, "the server answered 500");
	expect_line(500, "", "the server answered 500");
	expect_line(500, "{\"error\":\"boom\"}", "the server answered 500");
	expect_line(500, "{\"error\":{\"code\":5,\"message\":\"m\"}}", "the server answered 500");
	expect_line(500, "{\"error\":{\"code\":\"internal\"}}", "the server answered 500");
	expect_line(500, "[1,2]", "the server answered 500");
	/* control characters in the message are shown, not sent */
	expect_line(418, "{\"error\":{\"code\":\"te\\u001bapot\",\"message\":\"a\\nb\\u009bc\"}}",
		    "a\\nb\\u009bc (418 te\\x1bapot)");
}

static void test_error_line_is_bounded(void **state)
{
	char body[4096], out[512], tiny[8];
	int n;

	(void)state;
	n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"c\",\"message\":\"");
	memset(body + n, 'm', 2000);
	snprintf(body + n + 2000, sizeof(body) - (size_t)n - 2000, "\"}}");
	rest_error_line(422, body, strlen(body), out, sizeof(out));
	/* REST_MESSAGE_MAX bytes of message, "...", then the status and code */
	assert_int_equal(strlen(out), REST_MESSAGE_MAX + strlen("... (422 c)"));
	assert_string_equal(out + REST_MESSAGE_MAX, "... (422 c)");
	/* a buffer too small: cut, NUL-terminated */
	rest_error_line(422, body, strlen(body), tiny, sizeof(tiny));
	assert_string_equal(tiny, "mmmmmmm");
	rest_error_line(422, body, strlen(body), tiny, 0); /* writes nothing */
}

/* ---- terminal-safe text ---- */

static void expect_safe(const char *in, size_t len, const char *newline, size_t max,
			const char *want)
{
	char *got = rest_safe_dup(in, len, newline, max);

	assert_string_equal(got, want);
	free(got);
}

static void test_safe_text(void **state)
{
	(void)state;
	expect_safe("plain text", 10, NULL, 100, "plain text");
	expect_safe("tab\tkept", 8, NULL, 100, "tab\tkept");
	expect_safe("\x1b[31mred", 8, NULL, 100, "\\x1b[31mred");
	expect_safe("bell\x07 del\x7f", 10, NULL, 100, "bell\\x07 del\\x7f");
	expect_safe("a\nb", 3, NULL, 100, "a\\nb");
	expect_safe("a\nb", 3, "\n    ", 100, "a\n    b");
	expect_safe("a\r\nb", 4, "\n", 100, "a\\x0d\nb");
	/* NUL inside the given length */
	expect_safe("a\0b", 3, NULL, 100, "a\\x00b");
	/* C1 controls (CSI is U+009B) escaped; U+00A0 and beyond kept */
	expect_safe("x\xc2\x9b" "1m\xc2\xa0\xc3\xa9", 9, NULL, 100, "x\\u009b1m\xc2\xa0\xc3\xa9");
	expect_safe("\xc2\x80", 2, NULL, 100, "\\u0080");
	/* UTF-8 kept whole: 3 and 4 bytes */
	expect_safe("\xe2\x82\xac \xf0\x9f\x98\x80", 8, NULL, 100, "\xe2\x82\xac \xf0\x9f\x98\x80");
	/* not UTF-8: each byte shown */
	expect_safe("\xff\xfe", 2, NULL, 100, "\\xff\\xfe");
	expect_safe("\xc0\xaf", 2, NULL, 100, "\\xc0\\xaf");             /* overlong */
	expect_safe("\xe0\x80\xaf", 3, NULL, 100, "\\xe0\\x80\\xaf");     /* overlong */
	expect_safe("\xed\xa0\x80", 3, NULL, 100, "\\xed\\xa0\\x80");     /* surrogate */
	expect_safe("\xf4\x90\x80\x80", 4, NULL, 100, "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	expect_safe("\xc3", 1, NULL, 100, "\\xc3");                       /* truncated */
	/* the cut */
	expect_safe("abcdef", 6, NULL, 3, "abc...");
	expect_safe("abc", 3, NULL, 3, "abc");
	/* a cut inside a character drops the whole character */
	expect_safe("ab\xc3\xa9", 4, NULL, 3, "ab...");
	expect_safe("a\xf0\x9f\x98\x80", 5, NULL, 3, "a...");
	/* ... but a byte that is not UTF-8 before the cut is still shown */
	expect_safe("a\xff" "bc", 4, NULL, 2, "a\\xff...");
	expect_safe("", 0, NULL, 10, "");
}

static void test_safe_text_worst_case(void **state)
{
	char in[256], *out;

	(void)state;
	/* every byte value: no overflow of the computed capacity (ASan) */
	for (int i = 0; i < 256; i++)
		in[i] = (char)i;
	out = rest_safe_dup(in, sizeof(in), "\n        long indent ", sizeof(in));
	assert_null(strchr(out, 0x1b));
	free(out);
	memset(in, '\n', sizeof(in));
	out = rest_safe_dup(in, sizeof(in), "0123456789", sizeof(in));
	assert_int_equal(strlen(out), sizeof(in) * 10);
	free(out);
	memset(in, 0x01, sizeof(in));
	out = rest_safe_dup(in, sizeof(in), NULL, sizeof(in));
	assert_int_equal(strlen(out), sizeof(in) * 4);
	free(out);
}

/* ---- the credentials file ---- */

static const char two_accounts[] =
	"{\"accounts\":[{\"server\":\"http://127.0.0.1:8080\",\"name\":\"alice\",\"id\":1,"
	"\"token\":\"tok-a\"},{\"server\":\"https://example.org\",\"name\":\"bob\",\"id\":2,"
	"\"token\":\"tok-b\",\"note\":\"kept\"}],\"future\":true}";

static void test_creds_parse_and_get(void **state)
{
	struct creds_account a;
	char err[256];
	json_t *root;

	(void)state;
	assert_int_equal(creds_parse(two_accounts, strlen(two_accounts), &root, err, sizeof(err)),
			 0);
	assert_true(creds_get(root, "https://example.org", &a));
	assert_string_equal(a.name, "bob");
	assert_string_equal(a.token, "tok-b");
	assert_string_equal(a.server, "https://example.org");
	assert_int_equal(a.id, 2);
	assert_true(creds_get(root, "http://127.0.0.1:8080", &a));
	assert_string_equal(a.name, "alice");
	assert_false(creds_get(root, "http://127.0.0.1:8081", &a));
	assert_false(creds_get(root, "http://127.0.0.1:808", &a));
	json_decref(root);
}

static void expect_bad_creds(const char *text, const char *why_part)
{
	char err[256] = "";
	json_t *root = (json_t *)1;

	if (creds_parse(text, strlen(text), &root, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", text);
	assert_null(root);
	if (!strstr(err, why_part))
		fail_msg("%s: error '%s' lacks '%s'", text, err, why_part);
}

static void test_creds_bad_shapes(void **state)
{
	(void)state;
	expect_bad_creds("", "not JSON");
	expect_bad_creds("{", "not JSON");
	expect_bad_creds("[]", "no \"accounts\"");
	expect_bad_creds("{}", "no \"accounts\"");
	expect_bad_creds("{\"accounts\":{}}", "no \"accounts\"");
	expect_bad_creds("{\"accounts\":[1]}", "account 1 is not an object");
	expect_bad_creds("{\"accounts\":[{\"server\":\"s\",\"name\":\"n\",\"id\":1}]}",
			 "account 1: \"token\"");
	expect_bad_creds("{\"accounts\":[{\"server\":\"s\",\"name\":\"\",\"id\":1,"
			 "\"token\":\"t\"}]}",
			 "\"name\"");
	expect_bad_creds("{\"accounts\":[{\"server\":\"s\",\"name\":\"n\",\"id\":1.5,"
			 "\"token\":\"t\"}]}",
			 "\"id\" must be an integer");
	expect_bad_creds("{\"accounts\":[{\"server\":\"s\",\"name\":\"n\",\"id\":1,"
			 "\"token\":\"t\"},{\"server\":5,\"name\":\"n\",\"id\":1,"
			 "\"token\":\"t\"}]}",
			 "account 2: \"server\"");
	/* a NUL inside a string would make it a different C string */
	expect_bad_creds("{\"accounts\":[{\"server\":\"s\\u0000x\",\"name\":\"n\",\"id\":1,"
			 "\"token\":\"t\"}]}",
			 "not JSON");
	expect_bad_creds("{\"accounts\":[],\"accounts\":[]}", "not JSON");
}

#define ONE_ACCOUNT_FMT                                                                        \
	"{\"accounts\":[{\"server\":\"s\",\"name\":\"n\",\"id\":1,\"token\":\"%s\"}]}"

static void test_creds_limits(void **state)
{
	size_t big = CREDS_FILE_MAX + 1;
	char *text = malloc(big + 1), err[256];
	char field[CREDS_FIELD_MAX + 2];
	json_t *root, *again;
	struct creds_account a = { .server = "s", .name = "n", .id = 1, .token = "t" };
	char server[32];

	(void)state;
	/* over the size limit, even if it is valid JSON */
	memset(text, ' ', big);
	memcpy(text, "{\"accounts\":[]}", 15);
	text[big] = '\0';
	assert_int_equal(creds_parse(text, big, &root, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over"));
	free(text);
	/* a field over CREDS_FIELD_MAX bytes */
	memset(field, 'f', sizeof(field) - 1);
	field[sizeof(field) - 1] = '\0';
	text = malloc(4096);
	snprintf(text, 4096, ONE_ACCOUNT_FMT, field);
	assert_int_equal(creds_parse(text, strlen(text), &root, err, sizeof(err)), -1);
	field[CREDS_FIELD_MAX] = '\0'; /* exactly the limit: fine */
	snprintf(text, 4096, ONE_ACCOUNT_FMT, field);
	assert_int_equal(creds_parse(text, strlen(text), &root, err, sizeof(err)), 0);
	json_decref(root);
	free(text);
	/* at most CREDS_ACCOUNTS_MAX accounts; replacing one is still fine */
	root = creds_empty();
	for (int i = 0; i < CREDS_ACCOUNTS_MAX; i++) {
		snprintf(server, sizeof(server), "http://h%d", i);
		a.server = server;
		assert_int_equal(creds_put(root, &a), 0);
	}
	a.server = "http://one-too-many";
	assert_int_equal(creds_put(root, &a), -1);
	a.server = "http://h7";
	a.name = "replaced";
	assert_int_equal(creds_put(root, &a), 0);
	assert_int_equal(json_array_size(json_object_get(root, "accounts")), CREDS_ACCOUNTS_MAX);
	/* the file read back: exactly the limit is fine, one more is not */
	text = creds_format(root);
	assert_int_equal(creds_parse(text, strlen(text), &again, err, sizeof(err)), 0);
	json_decref(again);
	free(text);
	json_array_append_new(json_object_get(root, "accounts"),
			      json_pack("{s:s,s:s,s:i,s:s}", "server", "x", "name", "n", "id", 1,
					"token", "t"));
	text = creds_format(root);
	assert_int_equal(creds_parse(text, strlen(text), &again, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 1000 accounts"));
	free(text);
	json_decref(root);
}

static void test_creds_put_remove_format(void **state)
{
	struct creds_account a = { "http://127.0.0.1:8080", "carol", 3, "tok-c" }, got;
	char err[256], *text;
	json_t *root, *again;

	(void)state;
	assert_int_equal(creds_parse(two_accounts, strlen(two_accounts), &root, err, sizeof(err)),
			 0);
	/* replaces alice's entry in place; bob's unknown member stays */
	assert_int_equal(creds_put(root, &a), 0);
	assert_int_equal(json_array_size(json_object_get(root, "accounts")), 2);
	text = creds_format(root);
	assert_non_null(text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_non_null(strstr(text, "\"note\": \"kept\""));
	assert_non_null(strstr(text, "\"future\": true"));
	assert_null(strstr(text, "alice"));
	assert_int_equal(creds_parse(text, strlen(text), &again, err, sizeof(err)), 0);
	assert_true(creds_get(again, "http://127.0.0.1:8080", &got));
	assert_string_equal(got.name, "carol");
	assert_int_equal(got.id, 3);
	assert_string_equal(got.token, "tok-c");
	/* remove */
	assert_true(creds_remove(again, "http://127.0.0.1:8080"));
	assert_false(creds_remove(again, "http://127.0.0.1:8080"));
	assert_false(creds_get(again, "http://127.0.0.1:8080", &got));
	assert_true(creds_get(again, "https://example.org", &got));
	/* a new server is appended */
	a.server = "http://[::1]:8080";
	assert_int_equal(creds_put(again, &a), 0);
	assert_int_equal(json_array_size(json_object_get(again, "accounts")), 2);
	free(text);
	json_decref(root);
	json_decref(again);
}

static void test_creds_file_on_disk(void **state)
{
	char dir[] = "/tmp/agora-creds-XXXXXX", path[PATH_MAX], err[PATH_MAX + 256];
	struct creds_account a = { "http://127.0.0.1:8080", "dave", 4, "tok-d" }, got;
	struct stat st;
	json_t *root;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cfg/agora/credentials", dir);
	/* missing: an empty file */
	assert_int_equal(creds_load(path, &root, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(json_object_get(root, "accounts")), 0);
	assert_int_equal(creds_put(root, &a), 0);
	assert_int_equal(creds_save(path, root, err, sizeof(err)), 0);
	json_decref(root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/cfg/agora", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/cfg/agora/credentials", dir);
	assert_int_equal(creds_load(path, &root, err, sizeof(err)), 0);
	assert_true(creds_get(root, "http://127.0.0.1:8080", &got));
	assert_string_equal(got.token, "tok-d");
	json_decref(root);
	/* a broken file: the error names it */
	f = fopen(path, "w");
	fputs("{\"accounts\": [", f);
	fclose(f);
	assert_int_equal(creds_load(path, &root, err, sizeof(err)), -1);
	assert_null(root);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not JSON"));
	/* a directory where the file should be */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(creds_load(path, &root, err, sizeof(err)), -1);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/cfg/agora", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/cfg", dir);
	rmdir(path);
	rmdir(dir);
}

static void test_creds_path(void **state)
{
	char path[PATH_MAX], err[256];
	char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *saved_xdg = xdg ? strdup(xdg) : NULL, *saved_home = home ? strdup(home) : NULL;

	(void)state;
	setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(creds_path(path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/x/cfg/agora/credentials");
	/* relative or empty XDG_CONFIG_HOME: ignored (XDG spec) */
	setenv("XDG_CONFIG_HOME", "rel/cfg", 1);
	assert_int_equal(creds_path(path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/home/u/.config/agora/credentials");
	setenv("XDG_CONFIG_HOME", "", 1);
	assert_int_equal(creds_path(path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/home/u/.config/agora/credentials");
	assert_int_equal(creds_path(path, 10, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	if (saved_xdg)
		setenv("XDG_CONFIG_HOME", saved_xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	if (saved_home)
		setenv("HOME", saved_home, 1);
	free(saved_xdg);
	free(saved_home);
}

/* ---- printing ---- */

/* What fn printed, through a memory stream (malloc'd). */
#define CAPTURE(buf, call)                                                                     \
	do {                                                                                   \
		size_t capture_len;                                                            \
		FILE *out = open_memstream(&(buf), &capture_len);                               \
		call;                                                                          \
		fclose(out);                                                                   \
	} while (0)

static int utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void test_local_time(void **state)
{
	char out[32];
	json_t *t;

	(void)state;
	t = json_string("2026-11-23T13:05:00.123Z");
	rest_local_time(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-23 13:05");
	json_decref(t);
	setenv("TZ", "CET-1", 1); /* one hour ahead of UTC, no tzdata needed */
	tzset();
	t = json_string("2026-11-23T23:30:59Z");
	rest_local_time(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-24 00:30");
	json_decref(t);
	utc(NULL);
	rest_local_time(json_null(), out, sizeof(out));
	assert_string_equal(out, "-");
	t = json_string("yesterday");
	rest_local_time(t, out, sizeof(out));
	assert_string_equal(out, "-");
	json_decref(t);
	t = json_string("2026-11-23T13:05:00+02:00");
	rest_local_time(t, out, sizeof(out));
	assert_string_equal(out, "-");
	json_decref(t);
}

static const char message_json[] =
	"{\"id\":12,\"from\":\"alice\",\"from_id\":1,\"to\":\"bob\",\"to_id\":2,"
	"\"content\":\"hello\\nworld \\u001b[2J\",\"created_at\":\"2026-11-23T13:05:00.123Z\","
	"\"read\":false,\"read_at\":null}";

static void test_print_message(void **state)
{
	char *buf = NULL;
	json_t *m = json_loads(message_json, 0, NULL);

	(void)state;
	CAPTURE(buf, rest_print_message(out, m, false));
	assert_string_equal(buf, "* #12 2026-11-23 13:05 alice: hello\n    world \\x1b[2J\n");
	free(buf);
	json_object_set_new(m, "read", json_true());
	CAPTURE(buf, rest_print_message(out, m, false));
	assert_string_equal(buf, "  #12 2026-11-23 13:05 alice: hello\n    world \\x1b[2J\n");
	free(buf);
	/* --json: the object, compact, on one line, members in the server's order */
	json_object_set_new(m, "read", json_false());
	CAPTURE(buf, rest_print_message(out, m, true));
	{
		json_t *back = json_loads(buf, 0, NULL);

		assert_true(json_equal(back, m));
		assert_non_null(strstr(buf, "{\"id\":12,\"from\":\"alice\""));
		assert_int_equal(strchr(buf, '\n') - buf, strlen(buf) - 1);
		json_decref(back);
	}
	free(buf);
	json_decref(m);
}

static void test_print_message_payload(void **state)
{
	char *buf = NULL;

	(void)state;
	CAPTURE(buf, assert_int_equal(rest_print_message_payload(out, message_json,
								 strlen(message_json), false),
				      0));
	assert_string_equal(buf, "* #12 2026-11-23 13:05 alice: hello\n    world \\x1b[2J\n");
	free(buf);
	/* not a message: nothing printed, nothing parsed */
	static const char *const bad[] = { "", "not json", "[]", "{\"id\":1}",
					   "{\"id\":\"1\",\"from\":\"a\",\"content\":\"c\"}",
					   "{\"id\":1,\"from\":\"a\",\"content\":2}",
					   "{\"id\":1,\"id\":2,\"from\":\"a\",\"content\":\"c\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CAPTURE(buf, assert_int_equal(rest_print_message_payload(out, bad[i],
									 strlen(bad[i]), false),
					      -1));
		assert_string_equal(buf, "");
		free(buf);
		assert_null(rest_message_parse(bad[i], strlen(bad[i])));
	}
}

/* What --follow parses a live message with: the object, its id for the
 * duplicate check. */
static void test_message_parse(void **state)
{
	json_t *m;

	(void)state;
	m = rest_message_parse(message_json, strlen(message_json));
	assert_non_null(m);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 12);
	assert_string_equal(json_string_value(json_object_get(m, "from")), "alice");
	json_decref(m);
}

static void test_print_users(void **state)
{
	const char *text =
		"[{\"id\":1,\"name\":\"alice\",\"status\":\"coding\","
		"\"status_updated_at\":\"2026-11-23T13:05:00.123Z\",\"created_at\":\"x\"},"
		"{\"id\":123,\"name\":\"bo\",\"status\":\"\",\"status_updated_at\":null},"
		"{\"id\":7,\"name\":\"a-much-longer-name\",\"status\":\"\\u001b]0;x\\u0007\","
		"\"status_updated_at\":\"2026-11-24T00:00:00Z\"}]";
	json_t *users = json_loads(text, 0, NULL);
	char *buf = NULL;

	(void)state;
	assert_non_null(users);
	CAPTURE(buf, rest_print_users(out, users, false));
	assert_string_equal(buf,
			    "ID   NAME                UPDATED           STATUS\n"
			    "1    alice               2026-11-23 13:05  coding\n"
			    "123  bo                  -\n"
			    "7    a-much-longer-name  2026-11-24 00:00  \\x1b]0;x\\x07\n");
	free(buf);
	CAPTURE(buf, rest_print_users(out, users, true));
	{
		char *line = buf;
		size_t n = 0;

		for (char *nl; (nl = strchr(line, '\n')); line = nl + 1, n++) {
			json_t *u = json_loadb(line, (size_t)(nl - line), 0, NULL);

			assert_true(json_equal(u, json_array_get(users, n)));
			json_decref(u);
		}
		assert_int_equal(n, 3);
	}
	free(buf);
	/* no users: the header alone */
	json_array_clear(users);
	CAPTURE(buf, rest_print_users(out, users, false));
	assert_string_equal(buf, "ID  NAME  UPDATED           STATUS\n");
	free(buf);
	json_decref(users);
}

static void test_print_status(void **state)
{
	json_t *u = json_pack("{s:i,s:s,s:s,s:s}", "id", 1, "name", "alice", "status",
			      "on the \x1b[5mgo", "status_updated_at", "2026-11-23T13:05:00.000Z");
	char *buf = NULL;

	(void)state;
	CAPTURE(buf, rest_print_status(out, u, false));
	assert_string_equal(buf, "alice: on the \\x1b[5mgo (since 2026-11-23 13:05)\n");
	free(buf);
	json_object_set_new(u, "status", json_string(""));
	CAPTURE(buf, rest_print_status(out, u, false));
	assert_string_equal(buf, "alice: no status\n");
	free(buf);
	CAPTURE(buf, rest_print_status(out, u, true));
	assert_string_equal(buf, "{\"id\":1,\"name\":\"alice\",\"status\":\"\","
				 "\"status_updated_at\":\"2026-11-23T13:05:00.000Z\"}\n");
	free(buf);
	json_decref(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_canonical),
		cmocka_unit_test(test_url_too_long),
		cmocka_unit_test(test_url_host),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_error_line_is_bounded),
		cmocka_unit_test(test_safe_text),
		cmocka_unit_test(test_safe_text_worst_case),
		cmocka_unit_test(test_creds_parse_and_get),
		cmocka_unit_test(test_creds_bad_shapes),
		cmocka_unit_test(test_creds_limits),
		cmocka_unit_test(test_creds_put_remove_format),
		cmocka_unit_test(test_creds_file_on_disk),
		cmocka_unit_test(test_creds_path),
		cmocka_unit_test(test_local_time),
		cmocka_unit_test(test_print_message),
		cmocka_unit_test(test_print_message_payload),
		cmocka_unit_test(test_message_parse),
		cmocka_unit_test(test_print_users),
		cmocka_unit_test(test_print_status),
	};

	return cmocka_run_group_tests(tests, utc, NULL);
}
