/*
 * test_config.c - `agora serve` settings (server/config.h): every kind of
 * value with its bounds and every class of wrong value, the exact error
 * texts users read, the deprecated alias, later settings overriding earlier
 * ones, command-line listeners replacing the file's (config_build), the
 * file format, and the --help table of keys with their defaults.
 *
 * keys[] below restates every key from docs/configuration.md, independent
 * of config.c's own table: a key added there without a row here fails
 * test_print_keys_every_key.
 */
#include "helpers.h"

#include "base/log.h"
#include "server/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* offset and width of a numeric field of struct agora_config */
#define TOP(f)    offsetof(struct agora_config, f), sizeof(((struct agora_config *)0)->f)
#define BROKER(f) offsetof(struct agora_config, broker.f), sizeof(((struct broker_config *)0)->f)
#define HTTP(f)   offsetof(struct agora_config, http.f), sizeof(((struct http_config *)0)->f)
#define NOTIFY(f) offsetof(struct agora_config, notify.f), sizeof(((struct notify_config *)0)->f)
#define POLL(f)   offsetof(struct agora_config, poll.f), sizeof(((struct poll_config *)0)->f)

struct key_case {
	const char *name;
	const char *shown_default; /* as --help prints it */
	/* numeric keys only (scale 0 for the others): field, limits, and
	 * 1000 for keys given in seconds and kept in milliseconds */
	size_t offset, width;
	uint64_t min, max;
	unsigned scale;
};

#define NUM(name, def, field, min, max)  { name, def, field, min, max, 1 }
#define SECS(name, def, field, min, max) { name, def, field, min, max, 1000 }
#define OTHER(name, def)                 { name, def, 0, 0, 0, 0, 0 }

static const struct key_case keys[] = {
	OTHER("listener", "127.0.0.1:1883"),
	NUM("max_connections", "10000", TOP(max_connections), 1, 1000000),
	NUM("max_packet_size", "1048576", BROKER(max_packet_size), 16, 268435460),
	NUM("max_inflight_messages", "2000", BROKER(max_inflight), 1, 65534),
	NUM("max_queued_messages", "1000", BROKER(max_queued), 0, 10000000),
	NUM("keepalive_min", "0", BROKER(keepalive_min), 0, 65535),
	NUM("keepalive_max", "65535", BROKER(keepalive_max), 1, 65535),
	NUM("max_subscriptions", "10000", BROKER(max_subscriptions), 1, 10000000),
	NUM("max_retained_messages", "1000000", BROKER(max_retained), 0, 100000000),
	NUM("max_output_buffer", "16777216", BROKER(max_output_bytes), 4096, 1073741824),
	NUM("receive_maximum", "65535", BROKER(receive_maximum), 1, 65535),
	NUM("max_qos2_pending", "65535", BROKER(receive_maximum), 1, 65535),
	OTHER("strict_utf8", "yes"),
	NUM("topic_alias_maximum", "64", BROKER(topic_alias_maximum), 0, 65535),
	OTHER("response_information", "\"\""),
	OTHER("server_reference", "\"\""),
	OTHER("server_moved", "no"),
	SECS("connect_timeout", "10", BROKER(connect_timeout_ms), 1, 3600),
	NUM("sys_interval", "10", BROKER(sys_interval), 0, 86400),
	OTHER("log_level", "info"),
	OTHER("allow_anonymous", "loopback"),
	OTHER("data_dir", "agora-data"),
	OTHER("http_listener", "127.0.0.1:8080"),
	NUM("http_max_connections", "1024", HTTP(max_connections), 1, 1000000),
	NUM("http_max_header_size", "8192", HTTP(max_header_size), 256, 1048576),
	NUM("http_max_headers", "100", HTTP(max_headers), 1, 10000),
	NUM("http_max_uri", "2048", HTTP(max_uri), 64, 1048576),
	NUM("http_max_body", "1048576", HTTP(max_body), 0, 268435456),
	SECS("http_request_timeout", "10", HTTP(request_timeout_ms), 1, 3600),
	SECS("http_idle_timeout", "60", HTTP(idle_timeout_ms), 1, 86400),
	SECS("http_linger_time", "30", HTTP(linger_time_ms), 1, 3600),
	SECS("http_linger_timeout", "5", HTTP(linger_timeout_ms), 1, 3600),
	NUM("http_linger_bytes", "67108864", HTTP(linger_bytes), 0, 4294967295u),
	OTHER("cors_origins", "\"\""),
	OTHER("websocket_listener", "off"),
	OTHER("websocket_origins", "\"\""),
	NUM("websocket_max_message", "0", HTTP(websocket_max_message), 0, 268435460),
	NUM("message_max_length", "4096", HTTP(message_max), 1, 1048576),
	NUM("status_max_length", "256", HTTP(status_max), 1, 65536),
	NUM("poll_question_max_length", "500", HTTP(poll_question_max), 1, 65536),
	NUM("poll_option_max_length", "100", HTTP(poll_option_max), 1, 4096),
	OTHER("store_sync", "normal"),
	OTHER("persistence", "normal"),
	NUM("persistence_compact_size", "67108864", TOP(persistence_compact_size), 65536,
	    68719476736ull),
	SECS("persistence_rewrite_timeout", "600", TOP(persistence_rewrite_timeout_ms), 1, 86400),
	NUM("password_hash_memory", "19456", HTTP(password_hash_kib), 8, 4194304),
	NUM("password_hash_passes", "2", HTTP(password_hash_passes), 1, 100),
	NUM("login_failures_per_minute", "10", HTTP(login_failures_per_minute), 0, 1000000),
	OTHER("admins", "\"\""),
	OTHER("poll_listener", "off"),
	NUM("poll_max_connections", "1000", POLL(max_connections), 1, 1000000),
	NUM("poll_max_line", "1024", POLL(max_line), 16, 65536),
	SECS("poll_idle_timeout", "300", POLL(idle_timeout_ms), 1, 86400),
	NUM("poll_max_watches", "16", POLL(max_watches), 1, 1000),
	NUM("poll_max_output", "1048576", POLL(max_output), 4096, 1073741824),
	NUM("rules_max_depth", "4", TOP(rules_max_depth), 1, 16),
	NUM("rules_queue_max", "1000", NOTIFY(queue_max), 1, 1000000),
	OTHER("smtp_url", "\"\""),
	OTHER("smtp_user", "\"\""),
	OTHER("smtp_password", "\"\""),
	OTHER("smtp_from", "\"\""),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const listener_address_error = "not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)";

/* ---- helpers ---------------------------------------------------------- */

static uint64_t field_value(const struct agora_config *cfg, const struct key_case *kc)
{
	const char *p = (const char *)cfg + kc->offset;

	if (kc->width == 2)
		return *(const uint16_t *)p;
	if (kc->width == 8)
		return *(const uint64_t *)p;
	assert_int_equal(kc->width, 4);
	return *(const uint32_t *)p;
}

static void set_ok(struct agora_config *cfg, const char *key, const char *value)
{
	char err[CONFIG_ERR_LEN] = "";

	if (config_set(cfg, key, value, err, sizeof(err)) != 0)
		fail_msg("%s '%s' refused: %s", key, value, err);
}

/* The configuration as a refused setting must leave it. A refused listener
 * may have scribbled on the next free slot, which nothing reads. */
static void assert_same_config(const struct agora_config *before, const struct agora_config *after,
			       const char *key, const char *value)
{
	struct agora_config a, b;

	memcpy(&a, before, sizeof(a));
	memcpy(&b, after, sizeof(b));
	if (a.nlisteners < CONFIG_MAX_LISTENERS) {
		memset(&a.listeners[a.nlisteners], 0, sizeof(a.listeners[0]));
		memset(&b.listeners[a.nlisteners], 0, sizeof(b.listeners[0]));
	}
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail_msg("%s '%s' refused but changed the configuration", key, value);
}

/* Refused with exactly want as the message, cfg unchanged. */
static void set_bad(struct agora_config *cfg, const char *key, const char *value, const char *want)
{
	struct agora_config before;
	char err[CONFIG_ERR_LEN] = "";

	memcpy(&before, cfg, sizeof(before));
	if (config_set(cfg, key, value, err, sizeof(err)) == 0)
		fail_msg("%s '%s' accepted", key, value);
	assert_same_config(&before, cfg, key, value);
	assert_string_equal(err, want);
}

/* The message every numeric key gives. */
static void set_bad_number(struct agora_config *cfg, const struct key_case *kc, const char *value)
{
	char want[CONFIG_ERR_LEN];

	snprintf(want, sizeof(want), "%s: '%s' is not a whole number from %llu to %llu", kc->name,
		 value, (unsigned long long)kc->min, (unsigned long long)kc->max);
	set_bad(cfg, kc->name, value, want);
}

/* Refused, and the message says why (NULL: the address). */
static void set_bad_listener(struct agora_config *cfg, const char *value, const char *why)
{
	char want[CONFIG_ERR_LEN];

	snprintf(want, sizeof(want), "listener: '%s': %s", value, why ? why : listener_address_error);
	set_bad(cfg, "listener", value, want);
}

/* A string of n copies of c (the caller frees it). */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A config file with text in it; its path goes to path. */
static void write_conf(char *path, size_t pathlen, const char *text)
{
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(path, pathlen, "%s/agora-test-config-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text as a config file over cfg. want_error NULL: it must load;
 * else it must fail with the file's path followed by want_error. */
static void load_text(struct agora_config *cfg, const char *text, const char *want_error)
{
	char path[256], err[CONFIG_ERR_LEN] = "", want[CONFIG_ERR_LEN];
	int rc;

	write_conf(path, sizeof(path), text);
	rc = config_load_file(cfg, path, err, sizeof(err));
	unlink(path);
	if (want_error) {
		snprintf(want, sizeof(want), "%s%s", path, want_error);
		assert_int_equal(rc, -1);
		assert_string_equal(err, want);
	} else if (rc != 0) {
		fail_msg("file refused: %s", err);
	}
}

/* ---- numbers ---------------------------------------------------------- */

static void test_defaults_of_numbers(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_case *kc = &keys[i];

		if (kc->scale == 0)
			continue;
		if (field_value(&cfg, kc) != strtoull(kc->shown_default, NULL, 10) * kc->scale)
			fail_msg("%s: default %llu", kc->name,
				 (unsigned long long)field_value(&cfg, kc));
	}
}

static void check_number_set(struct agora_config *cfg, const struct key_case *kc, uint64_t v)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
	set_ok(cfg, kc->name, text);
	if (field_value(cfg, kc) != v * kc->scale)
		fail_msg("%s %s gave %llu", kc->name, text,
			 (unsigned long long)field_value(cfg, kc));
}

/* Both bounds are accepted, one past either is refused, for every
 * numeric key; a value in the middle lands in the field. */
static void test_numbers_bounds(void **state)
{
	struct agora_config cfg;
	char text[32];

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_case *kc = &keys[i];

		if (kc->scale == 0)
			continue;
		check_number_set(&cfg, kc, kc->min);
		check_number_set(&cfg, kc, kc->max);
		check_number_set(&cfg, kc, kc->min + (kc->max - kc->min) / 2);
		if (kc->min > 0) {
			snprintf(text, sizeof(text), "%llu", (unsigned long long)kc->min - 1);
			set_bad_number(&cfg, kc, text);
		}
		snprintf(text, sizeof(text), "%llu", (unsigned long long)kc->max + 1);
		set_bad_number(&cfg, kc, text);
	}
}

/* Every class of text that is not a plain decimal number. */
static void test_numbers_invalid(void **state)
{
	static const char *const bad[] = {
		"",       "-1",   "-0",    "+1",  "+0",   "12x",  "1 ",    "1\t", "0x10",
		"1.5",    "1e3",  "abc",   "one", "1,000", "1_000", "-",   "+",
		"4294967296",            /* past 32 bits */
		"18446744073709551615",  /* the largest 64-bit value */
		"18446744073709551616",  /* past 64 bits: strtoull overflows */
		"99999999999999999999999",
	};
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < N_KEYS; i++) {
		if (keys[i].scale == 0)
			continue;
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			if (keys[i].max > UINT32_MAX && strcmp(bad[j], "4294967296") == 0)
				continue; /* a 64-bit setting: in range */
			set_bad_number(&cfg, &keys[i], bad[j]);
		}
	}
}

/* A few messages spelled out, as users read them. */
static void test_numbers_messages(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	set_bad(&cfg, "max_connections", "0",
		"max_connections: '0' is not a whole number from 1 to 1000000");
	set_bad(&cfg, "max_packet_size", "12x",
		"max_packet_size: '12x' is not a whole number from 16 to 268435460");
	set_bad(&cfg, "http_linger_bytes", "4294967296",
		"http_linger_bytes: '4294967296' is not a whole number from 0 to 4294967295");
	set_bad(&cfg, "connect_timeout", "-1",
		"connect_timeout: '-1' is not a whole number from 1 to 3600");
	/* The message names the key as the table does, dashes or not. */
	set_bad(&cfg, "keepalive-max", "70000",
		"keepalive_max: '70000' is not a whole number from 1 to 65535");
}

/* Seconds are kept as milliseconds; the limits are in seconds. */
static void test_seconds_to_ms(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	set_ok(&cfg, "connect_timeout", "1");
	assert_int_equal(cfg.broker.connect_timeout_ms, 1000);
	set_ok(&cfg, "connect_timeout", "3600");
	assert_int_equal(cfg.broker.connect_timeout_ms, 3600000);
	set_ok(&cfg, "http_idle_timeout", "86400");
	assert_int_equal(cfg.http.idle_timeout_ms, 86400000);
	set_bad(&cfg, "connect_timeout", "0",
		"connect_timeout: '0' is not a whole number from 1 to 3600");
	set_bad(&cfg, "http_request_timeout", "3601",
		"http_request_timeout: '3601' is not a whole number from 1 to 3600");
	set_bad(&cfg, "http_linger_timeout", "1.5",
		"http_linger_timeout: '1.5' is not a whole number from 1 to 3600");
	assert_int_equal(cfg.http.linger_timeout_ms, 5000);
}

/* max_qos2_pending is receive_maximum's old name: same field, same
 * limits, its own name in messages. */
static void test_deprecated_alias(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	set_ok(&cfg, "max_qos2_pending", "5");
	assert_int_equal(cfg.broker.receive_maximum, 5);
	set_ok(&cfg, "receive_maximum", "7");
	assert_int_equal(cfg.broker.receive_maximum, 7);
	set_ok(&cfg, "max-qos2-pending", "65535");
	assert_int_equal(cfg.broker.receive_maximum, 65535);
	set_bad(&cfg, "max_qos2_pending", "0",
		"max_qos2_pending: '0' is not a whole number from 1 to 65535");
	set_bad(&cfg, "max_qos2_pending", "65536",
		"max_qos2_pending: '65536' is not a whole number from 1 to 65535");
}

/* ---- listeners -------------------------------------------------------- */

static void check_listener(const char *text, const char *host, uint16_t port, int anonymous)
{
	struct agora_config cfg;

	config_defaults(&cfg);
	set_ok(&cfg, "listener", text);
	assert_int_equal(cfg.nlisteners, 1);
	assert_string_equal(cfg.listeners[0].host, host);
	assert_int_equal(cfg.listeners[0].port, port);
	assert_int_equal(cfg.listeners[0].anonymous, anonymous);
}

static void test_listener_valid(void **state)
{
	char text[128];
	char *host63 = repeat('h', 63), *port63 = repeat('0', 63);

	port63[62] = '2'; /* port 2 in 63 digits: 127 bytes in all */

	(void)state;
	check_listener("127.0.0.1:1883", "127.0.0.1", 1883, -1);
	check_listener("0.0.0.0:0", "0.0.0.0", 0, -1);
	check_listener("127.0.0.1:65535", "127.0.0.1", 65535, -1);
	check_listener("[::1]:1883", "::1", 1883, -1);
	check_listener("localhost:1884", "127.0.0.1", 1884, -1);
	check_listener("127.0.0.1:1 anonymous=yes", "127.0.0.1", 1, 1);
	check_listener("127.0.0.1:1 anonymous=no", "127.0.0.1", 1, 0);
	check_listener("127.0.0.1:1\t \tanonymous=no", "127.0.0.1", 1, 0);
	check_listener("127.0.0.1:1   ", "127.0.0.1", 1, -1);
	/* the host's room is 63 bytes, the whole address's 127 */
	snprintf(text, sizeof(text), "%s:2", host63);
	check_listener(text, host63, 2, -1);
	snprintf(text, sizeof(text), "%s:%s", host63, port63);
	check_listener(text, host63, 2, -1);
	free(host63);
	free(port63);
}

static void test_listener_tls_options(void **state)
{
	struct agora_config cfg;
	const struct listener_tls *t;

	(void)state;
	config_defaults(&cfg);
	set_ok(&cfg, "listener", "127.0.0.1:8883");
	assert_false(cfg.listeners[0].tls.on);
	set_ok(&cfg, "listener",
	       "[::1]:8883 tls=yes certfile=/d/server.crt keyfile=/d/server.key cafile=/d/ca.crt "
	       "capath=/d/cas crlfile=/d/crl.pem require_certificate=yes ciphers=ECDHE+AESGCM "
	       "ciphersuites=TLS_AES_128_GCM_SHA256 tls_groups=X25519:P-256 alpn=mqtt "
	       "tls_version=1.3 anonymous=no use_identity_as_username=yes");
	assert_int_equal(cfg.nlisteners, 2);
	t = &cfg.listeners[1].tls;
	assert_true(t->on);
	assert_true(t->require_certificate);
	assert_true(t->use_identity);
	assert_false(cfg.listeners[0].tls.use_identity); /* off unless asked */
	assert_string_equal(t->certfile, "/d/server.crt");
	assert_string_equal(t->keyfile, "/d/server.key");
	assert_string_equal(t->cafile, "/d/ca.crt");
	assert_string_equal(t->capath, "/d/cas");
	assert_string_equal(t->crlfile, "/d/crl.pem");
	assert_string_equal(t->ciphers, "ECDHE+AESGCM");
	assert_string_equal(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_string_equal(t->groups, "X25519:P-256");
	assert_string_equal(t->alpn, "mqtt");
	assert_string_equal(t->version, "1.3");
	assert_int_equal(cfg.listeners[1].anonymous, 0);
	assert_string_equal(cfg.listeners[1].host, "::1");
}

static void test_listener_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"nonsense",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:99999",
		"127.0.0.1:-1",
		"127.0.0.1:+1",
		"127.0.0.1:1x",
		"127.0.0.1:18446744073709551616",
		":1883",
		"::1:1883",    /* IPv6 without brackets */
		"[::1:1883",
		"[::1]1883",
		"[::1]:",
		"[]:1883",
		" 127.0.0.1:1883",
	};
	/* Options: each refusal says which and why. */
	static const char *const bad_opts[][2] = {
		{ "127.0.0.1:1 anonymous=maybe", "anonymous is yes or no" },
		{ "127.0.0.1:1 anonymous=", "anonymous is yes or no" },
		{ "127.0.0.1:1 ANONYMOUS=yes", "unknown option 'ANONYMOUS=yes'" },
		{ "127.0.0.1:1 anonymous=yes extra", "unknown option 'extra'" },
		{ "127.0.0.1:1 anonymous=yes anonymous=no", "anonymous given twice" },
		{ "127.0.0.1:1 junk", "unknown option 'junk'" },
		{ "127.0.0.1:1 tls=maybe", "tls is yes or no" },
		{ "127.0.0.1:1 tls=yes", "tls=yes needs certfile= and keyfile=" },
		{ "127.0.0.1:1 tls=yes certfile=a.crt", "tls=yes needs certfile= and keyfile=" },
		{ "127.0.0.1:1 certfile=a.crt keyfile=a.key", "certfile= needs tls=yes" },
		{ "127.0.0.1:1 tls=no cafile=ca.crt", "cafile= needs tls=yes" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b certfile=c", "certfile given twice" },
		{ "127.0.0.1:1 tls=yes certfile= keyfile=b", "certfile must be 1 to 255 bytes" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b tls_version=1.1", "tls_version= is 1.2 or 1.3" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b require_certificate=yes",
		  "require_certificate=yes needs cafile= or capath=" },
		/* The certificate is the login: only where one is required. */
		{ "127.0.0.1:1 use_identity_as_username=yes", "use_identity_as_username= needs tls=yes" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b use_identity_as_username=yes",
		  "use_identity_as_username=yes needs require_certificate=yes" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b cafile=c require_certificate=no "
		  "use_identity_as_username=yes",
		  "use_identity_as_username=yes needs require_certificate=yes" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b cafile=c require_certificate=yes "
		  "use_identity_as_username=maybe", "use_identity_as_username is yes or no" },
	};
	struct agora_config cfg;
	char text[300];
	char *host64 = repeat('h', 64), *port64 = repeat('0', 64);

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		set_bad_listener(&cfg, bad[i], NULL);
	for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++)
		set_bad_listener(&cfg, bad_opts[i][0], bad_opts[i][1]);
	snprintf(text, sizeof(text), "%s:2", host64); /* host one byte too long */
	set_bad_listener(&cfg, text, NULL);
	port64[63] = '2'; /* port 2, but 128 bytes in all */
	snprintf(text, sizeof(text), "%.63s:%s", host64, port64);
	set_bad_listener(&cfg, text, NULL);
	assert_int_equal(cfg.nlisteners, 0);
	free(host64);
	free(port64);
}

/* The key repeats, up to CONFIG_MAX_LISTENERS, in order. */
static void test_listener_repeats(void **state)
{
	struct agora_config cfg;
	char text[32];

	(void)state;
	config_defaults(&cfg);
	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++) {
		snprintf(text, sizeof(text), "127.0.0.1:%d", 2000 + i);
		set_ok(&cfg, "listener", text);
	}
	assert_int_equal(cfg.nlisteners, CONFIG_MAX_LISTENERS);
	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++)
		assert_int_equal(cfg.listeners[i].port, 2000 + i);
	set_bad(&cfg, "listener", "127.0.0.1:3000", "listener: at most 16 listeners");
}

/* ---- words ------------------------------------------------------------ */

static void test_log_level(void **state)
{
	static const struct {
		const char *word;
		int level;
	} ok[] = { { "error", LOG_ERROR }, { "warn", LOG_WARN }, { "debug", LOG_DEBUG },
		   { "info", LOG_INFO } };
	static const char *const bad[] = { "", "INFO", "loud", "info ", "2", "warning" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.log_level, LOG_INFO);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_ok(&cfg, "log_level", ok[i].word);
		assert_int_equal(cfg.log_level, ok[i].level);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "log_level: '%s' is not error, warn, info or debug",
			 bad[i]);
		set_bad(&cfg, "log_level", bad[i], want);
	}
}

static void test_allow_anonymous(void **state)
{
	static const struct {
		const char *word;
		enum anon_policy policy;
	} ok[] = { { "yes", ANON_YES },	  { "no", ANON_NO },	      { "true", ANON_YES },
		   { "false", ANON_NO },  { "loopback", ANON_LOOPBACK } };
	static const char *const bad[] = { "", "maybe", "YES", "1", "0", "Loopback", "local" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.allow_anonymous, ANON_LOOPBACK);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_ok(&cfg, "allow_anonymous", ok[i].word);
		assert_int_equal(cfg.allow_anonymous, ok[i].policy);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "allow_anonymous: '%s' is not loopback, yes or no",
			 bad[i]);
		set_bad(&cfg, "allow_anonymous", bad[i], want);
	}
}

static bool *bool_field(struct agora_config *cfg, const char *key)
{
	return strcmp(key, "strict_utf8") == 0 ? &cfg->broker.strict_utf8
					       : &cfg->broker.server_moved;
}

static void test_bools(void **state)
{
	static const char *const bools[] = { "strict_utf8", "server_moved" };
	static const char *const bad[] = { "", "Yes", "TRUE", "1", "0", "on", "off", "y", "n" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_true(cfg.broker.strict_utf8);
	assert_false(cfg.broker.server_moved);
	for (size_t b = 0; b < 2; b++) {
		bool *field = bool_field(&cfg, bools[b]);

		set_ok(&cfg, bools[b], "no");
		assert_false(*field);
		set_ok(&cfg, bools[b], "true");
		assert_true(*field);
		set_ok(&cfg, bools[b], "false");
		assert_false(*field);
		set_ok(&cfg, bools[b], "yes");
		assert_true(*field);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(want, sizeof(want), "%s: '%s' is not yes or no", bools[b], bad[i]);
			set_bad(&cfg, bools[b], bad[i], want);
		}
	}
}

static void test_store_sync(void **state)
{
	static const char *const bad[] = { "", "sometimes", "FULL", "yes", "full " };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_false(cfg.http.store_sync_full);
	set_ok(&cfg, "store_sync", "full");
	assert_true(cfg.http.store_sync_full);
	set_ok(&cfg, "store_sync", "normal");
	assert_false(cfg.http.store_sync_full);
	set_ok(&cfg, "store_sync", "full");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "store_sync: '%s' is not normal or full", bad[i]);
		set_bad(&cfg, "store_sync", bad[i], want);
	}
	assert_true(cfg.http.store_sync_full);
}

static void test_persistence(void **state)
{
	static const char *const bad[] = { "", "on", "NORMAL", "yes", "full ", "true" };
	static const char *const words[] = { "off", "normal", "full" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.persistence, PERSIST_NORMAL);
	for (int i = 0; i < 3; i++) {
		set_ok(&cfg, "persistence", words[i]);
		assert_int_equal(cfg.persistence, (enum persistence)i);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "persistence: '%s' is not off, normal or full", bad[i]);
		set_bad(&cfg, "persistence", bad[i], want);
	}
	assert_int_equal(cfg.persistence, PERSIST_FULL);
}

/* ---- text ------------------------------------------------------------- */

static void test_data_dir(void **state)
{
	struct agora_config cfg;
	char *longest = repeat('d', 511), *too_long = repeat('d', 512);
	const char *want = "data_dir: path empty or longer than 511 bytes";

	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.data_dir, "agora-data");
	set_ok(&cfg, "data_dir", "/var/lib/agora data");
	assert_string_equal(cfg.data_dir, "/var/lib/agora data");
	set_ok(&cfg, "data_dir", longest);
	assert_string_equal(cfg.data_dir, longest);
	set_ok(&cfg, "data_dir", "x");
	set_bad(&cfg, "data_dir", "", want);
	set_bad(&cfg, "data_dir", too_long, want);
	assert_string_equal(cfg.data_dir, "x");
	free(longest);
	free(too_long);
}

/* response_information and server_reference hold 127 bytes, cors_origins
 * and admins 511, smtp_url and smtp_from 255, smtp_user and smtp_password 127; a
 * quoted "" empties them. */
static void check_string_key(const char *key, size_t offset, size_t room)
{
	struct agora_config cfg;
	char *longest = repeat('s', room - 1), *too_long = repeat('s', room);
	char want[CONFIG_ERR_LEN];
	const char *f = (const char *)&cfg + offset;

	config_defaults(&cfg);
	assert_string_equal(f, "");
	set_ok(&cfg, key, "a b,c");
	assert_string_equal(f, "a b,c");
	set_ok(&cfg, key, "\"\"");
	assert_string_equal(f, "");
	set_ok(&cfg, key, longest);
	assert_string_equal(f, longest);
	snprintf(want, sizeof(want), "%s: longer than %zu bytes", key, room - 1);
	set_bad(&cfg, key, too_long, want);
	set_ok(&cfg, key, "\"x\""); /* only "" alone is special */
	assert_string_equal(f, "\"x\"");
	set_ok(&cfg, key, "");
	assert_string_equal(f, "");
	free(longest);
	free(too_long);
}

static void test_strings(void **state)
{
	(void)state;
	check_string_key("response_information", BROKER(response_information));
	check_string_key("server_reference", BROKER(server_reference));
	check_string_key("cors_origins", HTTP(cors_origins));
	check_string_key("admins", HTTP(admins));
	check_string_key("websocket_origins", HTTP(websocket_origins));
	check_string_key("smtp_url", NOTIFY(smtp_url));
	check_string_key("smtp_user", NOTIFY(smtp_user));
	check_string_key("smtp_password", NOTIFY(smtp_password));
	check_string_key("smtp_from", NOTIFY(smtp_from));
}

/* Kept as written (http_server.c parses it when it binds). */
static void test_http_listener(void **state)
{
	static const char *const ok[] = { "off", "127.0.0.1:8080", "[::1]:80", "localhost:0",
					  "0.0.0.0:65535" };
	static const char *const bad[] = { "", "OFF", "nope", "1.2.3.4:70000", "::1:80",
					   "127.0.0.1", "off tls=yes", "nope tls=yes" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_ok(&cfg, "http_listener", ok[i]);
		assert_string_equal(cfg.http.listener, ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "http_listener: '%s' is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6) or off",
			 bad[i]);
		set_bad(&cfg, "http_listener", bad[i], want);
	}
}

/* http_listener and websocket_listener take a listener line's options
 * (HTTPS, secure WebSocket), checked as listener's are, except
 * anonymous=; kept as written (http_server.c parses them when it binds). */
static void test_http_listener_options(void **state)
{
	static const char *const keys_[] = { "http_listener", "websocket_listener" };
	static const char tls[] = "127.0.0.1:8443 tls=yes certfile=/d/s.crt keyfile=/d/s.key "
				  "cafile=/d/ca.crt require_certificate=yes tls_version=1.3 "
				  "alpn=http/1.1";
	static const char *const bad_opts[][2] = {
		{ "127.0.0.1:1 anonymous=no", "anonymous= is for MQTT listeners (MQTT over "
					      "WebSocket follows allow_anonymous)" },
		{ "127.0.0.1:1 anonymous=yes", "anonymous= is for MQTT listeners (MQTT over "
					       "WebSocket follows allow_anonymous)" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b cafile=c require_certificate=yes "
		  "use_identity_as_username=yes",
		  "use_identity_as_username= is for MQTT listeners (an HTTP request logs in with a "
		  "token; MQTT over WebSocket with a password)" },
		{ "127.0.0.1:1 tls=yes", "tls=yes needs certfile= and keyfile=" },
		{ "127.0.0.1:1 certfile=a keyfile=b", "certfile= needs tls=yes" },
		{ "127.0.0.1:1 tls=maybe", "tls is yes or no" },
		{ "127.0.0.1:1 junk", "unknown option 'junk'" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b tls_version=1.0",
		  "tls_version= is 1.2 or 1.3" },
		{ "127.0.0.1:1 tls=yes certfile=a keyfile=b alpn=h2 alpn=h2", "alpn given twice" },
	};
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN], *longest, *too_long;
	const char *field;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		config_defaults(&cfg);
		field = k ? cfg.http.websocket_listener : cfg.http.listener;
		set_ok(&cfg, keys_[k], tls);
		assert_string_equal(field, tls);
		set_ok(&cfg, keys_[k], "[::1]:8443 tls=no");
		assert_string_equal(field, "[::1]:8443 tls=no");
		set_ok(&cfg, keys_[k], "off");
		assert_string_equal(field, "off");
		for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
			snprintf(want, sizeof(want), "%s: '%s': %s", keys_[k], bad_opts[i][0],
				 bad_opts[i][1]);
			set_bad(&cfg, keys_[k], bad_opts[i][0], want);
		}
	}
	/* The longest text kept whole (options padded with blanks); one byte
	 * more is refused, not cut. */
	longest = repeat(' ', CONFIG_LISTENER_TEXT - 1);
	memcpy(longest, tls, strlen(tls));
	set_ok(&cfg, "http_listener", longest);
	assert_string_equal(cfg.http.listener, longest);
	too_long = repeat(' ', CONFIG_LISTENER_TEXT);
	memcpy(too_long, tls, strlen(tls));
	snprintf(want, sizeof(want), "http_listener: at most %d bytes", CONFIG_LISTENER_TEXT - 1);
	set_bad(&cfg, "http_listener", too_long, want);
	free(longest);
	free(too_long);
}

/* Off by default; repeats; a bare port is every IPv4 address; off forgets
 * the ones before it. */
static void test_poll_listener(void **state)
{
	static const char *const bad[] = { "", "OFF", "nope", "1.2.3.4:70000", "70000", "::1:80",
					   "127.0.0.1:80 anonymous=no", "127.0.0.1", "-1", "[::1]" };
	struct agora_config cfg;
	char want[CONFIG_ERR_LEN], text[32];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.poll.nlisteners, 0);
	set_ok(&cfg, "poll_listener", "127.0.0.1:7000");
	set_ok(&cfg, "poll-listener", "[::1]:7001");
	set_ok(&cfg, "poll_listener", "7002");
	set_ok(&cfg, "poll_listener", "localhost:0");
	assert_int_equal(cfg.poll.nlisteners, 4);
	assert_string_equal(cfg.poll.listeners[0].host, "127.0.0.1");
	assert_int_equal(cfg.poll.listeners[0].port, 7000);
	assert_string_equal(cfg.poll.listeners[1].host, "::1");
	assert_int_equal(cfg.poll.listeners[1].port, 7001);
	assert_string_equal(cfg.poll.listeners[2].host, "0.0.0.0");
	assert_int_equal(cfg.poll.listeners[2].port, 7002);
	assert_string_equal(cfg.poll.listeners[3].host, "127.0.0.1");
	assert_int_equal(cfg.poll.listeners[3].port, 0);
	assert_int_equal(cfg.nlisteners, 0); /* MQTT's are apart */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "poll_listener: '%s' is not [ADDRESS:]PORT ([ADDRESS]:PORT for IPv6) or off",
			 bad[i]);
		set_bad(&cfg, "poll_listener", bad[i], want);
	}
	set_ok(&cfg, "poll_listener", "off");
	assert_int_equal(cfg.poll.nlisteners, 0);
	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++) {
		snprintf(text, sizeof(text), "%d", 3000 + i);
		set_ok(&cfg, "poll_listener", text);
	}
	set_bad(&cfg, "poll_listener", "3100", "poll_listener: at most 16 listeners");
	set_ok(&cfg, "poll_listener", "off"); /* off is always accepted */
	assert_int_equal(cfg.poll.nlisteners, 0);
}

/* ---- key names and order ---------------------------------------------- */

static void test_key_names(void **state)
{
	struct agora_config cfg;
	char *long_key = repeat('x', 200);
	char want[CONFIG_ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	set_ok(&cfg, "max-connections", "5");
	assert_int_equal(cfg.max_connections, 5);
	set_ok(&cfg, "http-max_body", "6");
	assert_int_equal(cfg.http.max_body, 6);
	set_bad(&cfg, "bogus", "1", "unknown setting 'bogus' (see agora serve --help)");
	set_bad(&cfg, "", "1", "unknown setting '' (see agora serve --help)");
	set_bad(&cfg, "MAX_CONNECTIONS", "1",
		"unknown setting 'MAX_CONNECTIONS' (see agora serve --help)");
	set_bad(&cfg, "max_connection", "1",
		"unknown setting 'max_connection' (see agora serve --help)");
	set_bad(&cfg, "max_connections ", "1",
		"unknown setting 'max_connections ' (see agora serve --help)");
	memcpy(long_key, "max_connections", 15);
	snprintf(want, sizeof(want), "unknown setting '%s' (see agora serve --help)", long_key);
	set_bad(&cfg, long_key, "1", want);
	free(long_key);
}

static void test_later_setting_wins(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	set_ok(&cfg, "max_connections", "5");
	set_ok(&cfg, "max_connections", "6");
	assert_int_equal(cfg.max_connections, 6);
	set_ok(&cfg, "log_level", "debug");
	set_ok(&cfg, "log_level", "error");
	assert_int_equal(cfg.log_level, LOG_ERROR);
	load_text(&cfg, "sys_interval 5\nsys_interval 7\ndata_dir a\ndata_dir b\n", NULL);
	assert_int_equal(cfg.broker.sys_interval, 7);
	assert_string_equal(cfg.data_dir, "b");
}

/* ---- config_build ----------------------------------------------------- */

static int build(struct agora_config *cfg, const char *file_text, const char *const *kv, int n,
		 char *err)
{
	struct config_overrides ov = { .n = n };
	char path[256];
	int rc;

	for (int i = 0; i < n; i++) {
		ov.key[i] = kv[2 * i];
		ov.value[i] = kv[2 * i + 1];
	}
	if (file_text)
		write_conf(path, sizeof(path), file_text);
	rc = config_build(cfg, file_text ? path : NULL, &ov, err, CONFIG_ERR_LEN);
	if (file_text)
		unlink(path);
	return rc;
}

static const char file_two_listeners[] = "listener 127.0.0.1:1001\n"
					 "listener 127.0.0.1:1002\n"
					 "max_connections 5\n";

static void test_build_file_then_command_line(void **state)
{
	static const char *const kv[] = { "max-connections", "9", "sys_interval", "3" };
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg)); /* build starts from the defaults */
	assert_int_equal(build(&cfg, file_two_listeners, kv, 2, err), 0);
	assert_int_equal(cfg.max_connections, 9);
	assert_int_equal(cfg.broker.sys_interval, 3);
	assert_int_equal(cfg.broker.max_packet_size, 1048576);
	/* no listener on the command line: the file's stay */
	assert_int_equal(cfg.nlisteners, 2);
	assert_int_equal(cfg.listeners[1].port, 1002);
}

static void test_build_command_line_listeners_replace_file(void **state)
{
	static const char *const one[] = { "listener", "127.0.0.1:2001" };
	static const char *const two[] = { "listener", "127.0.0.1:2001", "max_connections", "7",
					   "listener", "[::1]:2002 anonymous=no" };
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(build(&cfg, file_two_listeners, one, 1, err), 0);
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 2001);
	assert_int_equal(cfg.max_connections, 5); /* the rest of the file stays */

	/* every command-line listener is kept, not only the first */
	assert_int_equal(build(&cfg, file_two_listeners, two, 3, err), 0);
	assert_int_equal(cfg.nlisteners, 2);
	assert_int_equal(cfg.listeners[0].port, 2001);
	assert_string_equal(cfg.listeners[1].host, "::1");
	assert_int_equal(cfg.listeners[1].anonymous, 0);

	assert_int_equal(build(&cfg, NULL, one, 1, err), 0);
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(build(&cfg, NULL, one, 0, err), 0);
	assert_int_equal(cfg.nlisteners, 0); /* the default listener */
}

/* An HTTPS listener given on the command line replaces the file's, as
 * any other key (`--http_listener "127.0.0.1:8443 tls=yes ..."`). */
static void test_build_command_line_https_listener(void **state)
{
	static const char file[] = "http_listener 127.0.0.1:8080\n"
				   "websocket_listener 127.0.0.1:8081\n";
	static const char *const kv[] = {
		"http-listener", "127.0.0.1:8443 tls=yes certfile=/d/s.crt keyfile=/d/s.key",
		"websocket_listener", "127.0.0.1:8444 tls=yes certfile=/d/s.crt keyfile=/d/s.key"
	};
	static const char *const bad[] = { "http_listener", "127.0.0.1:8443 anonymous=no" };
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(build(&cfg, file, kv, 2, err), 0);
	assert_string_equal(cfg.http.listener, kv[1]);
	assert_string_equal(cfg.http.websocket_listener, kv[3]);
	assert_int_equal(build(&cfg, file, bad, 1, err), -1);
	assert_string_equal(err, "--http_listener: http_listener: '127.0.0.1:8443 anonymous=no': "
				 "anonymous= is for MQTT listeners (MQTT over WebSocket follows "
				 "allow_anonymous)");
}

/* The same for poll_listener, independently of listener. */
static void test_build_command_line_poll_listeners_replace_file(void **state)
{
	static const char file[] = "listener 127.0.0.1:1001\n"
				   "poll_listener 127.0.0.1:7001\n"
				   "poll_listener 127.0.0.1:7002\n";
	static const char *const poll[] = { "poll-listener", "[::1]:7100", "poll_listener", "7101" };
	static const char *const mqtt[] = { "listener", "127.0.0.1:2001" };
	static const char *const off[] = { "poll-listener", "off" };
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(build(&cfg, file, poll, 2, err), 0);
	assert_int_equal(cfg.poll.nlisteners, 2);
	assert_string_equal(cfg.poll.listeners[0].host, "::1");
	assert_int_equal(cfg.poll.listeners[1].port, 7101);
	assert_int_equal(cfg.nlisteners, 1); /* the file's MQTT listener stays */
	assert_int_equal(build(&cfg, file, mqtt, 1, err), 0);
	assert_int_equal(cfg.poll.nlisteners, 2); /* and the other way round */
	assert_int_equal(cfg.poll.listeners[1].port, 7002);
	assert_int_equal(cfg.listeners[0].port, 2001);
	assert_int_equal(build(&cfg, file, off, 1, err), 0);
	assert_int_equal(cfg.poll.nlisteners, 0);
}

static void test_build_errors(void **state)
{
	static const char *const bad[] = { "max-connections", "0" };
	static const char *const unknown[] = { "bogus-option", "1" };
	static const char *const ok[] = { "max-connections", "3" };
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	assert_int_equal(build(&cfg, NULL, bad, 1, err), -1);
	assert_string_equal(err,
			    "--max-connections: max_connections: '0' is not a whole number from 1 "
			    "to 1000000");
	assert_int_equal(build(&cfg, NULL, unknown, 1, err), -1);
	assert_string_equal(err,
			    "--bogus-option: unknown setting 'bogus-option' (see agora serve --help)");
	/* a file error stops the build before the command line */
	assert_int_equal(build(&cfg, "max_connections 0\n", ok, 1, err), -1);
	assert_non_null(strstr(err, ":1: max_connections: '0' is not a whole number"));
}

/* ---- the file format -------------------------------------------------- */

static void test_file_format(void **state)
{
	struct agora_config cfg;

	(void)state;
	config_defaults(&cfg);
	load_text(&cfg,
		  "# a comment\n"
		  "\n"
		  "   \t \n"
		  "  max_connections   42  \n"
		  "\tsys_interval\t7\t# a comment after the value\n"
		  "log_level debug\r\n"
		  "listener 127.0.0.1:1 anonymous=no\n"
		  "listener [::1]:2\n"
		  "cors_origins https://a.example, https://b.example\n"
		  "response_information \"\"\n"
		  "data_dir /tmp/x#y\n"
		  "   # indented comment\n"
		  "store_sync full", /* no newline at the end */
		  NULL);
	assert_int_equal(cfg.max_connections, 42);
	assert_int_equal(cfg.broker.sys_interval, 7);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(cfg.nlisteners, 2);
	assert_int_equal(cfg.listeners[0].anonymous, 0);
	assert_string_equal(cfg.listeners[1].host, "::1");
	assert_string_equal(cfg.http.cors_origins, "https://a.example, https://b.example");
	assert_string_equal(cfg.broker.response_information, "");
	assert_string_equal(cfg.data_dir, "/tmp/x"); /* '#' always starts a comment */
	assert_true(cfg.http.store_sync_full);
}

static void test_file_empty(void **state)
{
	struct agora_config cfg, defaults;

	(void)state;
	config_defaults(&cfg);
	config_defaults(&defaults);
	load_text(&cfg, "", NULL);
	load_text(&cfg, "# nothing\n\n", NULL);
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
}

/* The line buffer holds 1022 bytes and the newline. */
static void test_file_line_too_long(void **state)
{
	struct agora_config cfg;
	char *text = malloc(2200);
	char *fill = repeat('x', 1021);

	(void)state;
	assert_non_null(text);
	config_defaults(&cfg);
	snprintf(text, 2200, "#%s\nmax_connections 8\n", fill); /* 1022 bytes: fits */
	load_text(&cfg, text, NULL);
	assert_int_equal(cfg.max_connections, 8);
	snprintf(text, 2200, "max_connections 9\n##%s\n", fill); /* 1023 bytes */
	load_text(&cfg, text, ":2: line longer than 1022 bytes");
	free(text);
	free(fill);
}

static void test_file_errors(void **state)
{
	struct agora_config cfg;
	char err[CONFIG_ERR_LEN] = "";
	const char *missing = "/nonexistent-agora-dir/agora.conf";

	(void)state;
	config_defaults(&cfg);
	load_text(&cfg, "# x\nsys_interval\n", ":2: 'sys_interval' needs a value");
	load_text(&cfg, "sys_interval   # 5\n", ":1: 'sys_interval' needs a value");
	load_text(&cfg, "\n\nbogus_key 1\n",
		  ":3: unknown setting 'bogus_key' (see agora serve --help)");
	load_text(&cfg, "max_connections 5\nmax_connections -1\n",
		  ":2: max_connections: '-1' is not a whole number from 1 to 1000000");
	load_text(&cfg, "listener nonsense\n",
		  ":1: listener: 'nonsense': not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
	/* the first error stops the file */
	config_defaults(&cfg);
	load_text(&cfg, "bogus 1\nmax_connections 77\n",
		  ":1: unknown setting 'bogus' (see agora serve --help)");
	assert_int_equal(cfg.max_connections, 10000);
	assert_int_equal(config_load_file(&cfg, missing, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent-agora-dir/agora.conf: No such file or directory");
}

/* ---- --help ----------------------------------------------------------- */

/* What config_print_keys writes to stdout (the caller frees it). stdout
 * points at a temporary file meanwhile. */
static char *print_keys_output(void)
{
	FILE *tmp = tmpfile();
	int saved;
	off_t len;
	char *out;

	assert_non_null(tmp);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
	config_print_keys();
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	len = lseek(fileno(tmp), 0, SEEK_END);
	assert_true(len > 0);
	out = malloc((size_t)len + 1);
	assert_non_null(out);
	assert_int_equal(pread(fileno(tmp), out, (size_t)len, 0), len);
	out[len] = '\0';
	fclose(tmp);
	return out;
}

/* The line for key: "  --key-name<padding> help (default X)". */
static const char *find_line(const char *out, const char *key, size_t *len)
{
	char flag[80];
	size_t n;

	n = (size_t)snprintf(flag, sizeof(flag), "  --%s ", key);
	for (size_t i = 4; i < n; i++)
		flag[i] = flag[i] == '_' ? '-' : flag[i];
	for (const char *line = out; *line; line += strcspn(line, "\n") + 1) {
		if (strncmp(line, flag, n) == 0) {
			*len = strcspn(line, "\n");
			return line;
		}
		if (!line[strcspn(line, "\n")])
			break;
	}
	return NULL;
}

static void test_print_keys_every_key(void **state)
{
	char *out = print_keys_output();
	size_t lines = 0;

	(void)state;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, N_KEYS); /* one line per key, and no key untested */
	for (size_t i = 0; i < N_KEYS; i++) {
		char want[128];
		size_t len, wlen;
		const char *line = find_line(out, keys[i].name, &len);

		if (!line)
			fail_msg("no --help line for %s", keys[i].name);
		wlen = (size_t)snprintf(want, sizeof(want), " (default %s)", keys[i].shown_default);
		if (len < wlen || memcmp(line + len - wlen, want, wlen) != 0)
			fail_msg("%s: %.*s", keys[i].name, (int)len, line);
	}
	free(out);
}

/* One line spelled out: the name padded to a column, the help, the
 * default. */
static void test_print_keys_layout(void **state)
{
	char *out = print_keys_output();
	size_t len;
	const char *line = find_line(out, "max_connections", &len);
	const char *want = "  --max-connections         simultaneous client connections; more are "
			   "closed at accept (default 10000)";

	(void)state;
	assert_non_null(line);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_of_numbers),
		cmocka_unit_test(test_numbers_bounds),
		cmocka_unit_test(test_numbers_invalid),
		cmocka_unit_test(test_numbers_messages),
		cmocka_unit_test(test_seconds_to_ms),
		cmocka_unit_test(test_deprecated_alias),
		cmocka_unit_test(test_listener_valid),
		cmocka_unit_test(test_listener_tls_options),
		cmocka_unit_test(test_listener_invalid),
		cmocka_unit_test(test_listener_repeats),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_allow_anonymous),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_store_sync),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_data_dir),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_http_listener),
		cmocka_unit_test(test_http_listener_options),
		cmocka_unit_test(test_build_command_line_https_listener),
		cmocka_unit_test(test_poll_listener),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_later_setting_wins),
		cmocka_unit_test(test_build_file_then_command_line),
		cmocka_unit_test(test_build_command_line_listeners_replace_file),
		cmocka_unit_test(test_build_command_line_poll_listeners_replace_file),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_file_format),
		cmocka_unit_test(test_file_empty),
		cmocka_unit_test(test_file_line_too_long),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_print_keys_every_key),
		cmocka_unit_test(test_print_keys_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
