/*
 * test_chat.c - the pure parts of `agora chat` (classic/chat_text.h): every
 * command and its usage errors, UTF-8 against the shared samples, the split
 * into datagrams at every length of every mix of 1- to 4-byte characters,
 * the escapes of everything a peer could send to drive a terminal, output
 * cut only between escapes, [HOST:]PORT and addresses for display.
 */
#include "helpers.h"

#include "classic/chat_text.h"
#include "utf8_samples.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct chat_cmd parse(const char *line)
{
	struct chat_cmd c;

	chat_parse_line(line, strlen(line), &c);
	return c;
}

static void assert_text(const char *p, size_t n, const char *want)
{
	if (n != strlen(want) || memcmp(p, want, n) != 0)
		fail_msg("got \"%.*s\", want \"%s\"", (int)n, p, want);
}

static void test_plain_lines_are_sent(void **state)
{
	struct chat_cmd c;

	(void)state;
	c = parse("hello world");
	assert_int_equal(c.kind, CHAT_CMD_SEND);
	assert_text(c.text, c.len, "hello world");
	c = parse("  spaces kept  \r"); /* only the \r of a CRLF goes */
	assert_int_equal(c.kind, CHAT_CMD_SEND);
	assert_text(c.text, c.len, "  spaces kept  ");
	c = parse("");
	assert_int_equal(c.kind, CHAT_CMD_EMPTY);
	c = parse("\r");
	assert_int_equal(c.kind, CHAT_CMD_EMPTY);
}

static void test_send(void **state)
{
	struct chat_cmd c;

	(void)state;
	c = parse("/send bonjour à tous");
	assert_int_equal(c.kind, CHAT_CMD_SEND);
	assert_text(c.text, c.len, "bonjour à tous");
	c = parse("/send /join is text here");
	assert_int_equal(c.kind, CHAT_CMD_SEND);
	assert_text(c.text, c.len, "/join is text here");
	c = parse("/send  two spaces");
	assert_text(c.text, c.len, " two spaces");
	c = parse("/send");
	assert_int_equal(c.kind, CHAT_CMD_BAD);
	assert_non_null(strstr(c.error, "/send TEXT"));
	c = parse("/send ");
	assert_int_equal(c.kind, CHAT_CMD_BAD);
	c = parse("/sendx y"); /* the command is the whole first word */
	assert_int_equal(c.kind, CHAT_CMD_BAD);
	assert_text(c.text, c.len, "/sendx");
}

static void test_join(void **state)
{
	struct chat_cmd c;

	(void)state;
	c = parse("/join 127.0.0.1 5000");
	assert_int_equal(c.kind, CHAT_CMD_JOIN);
	assert_text(c.host, c.host_len, "127.0.0.1");
	assert_int_equal(c.port, 5000);
	c = parse("/join  localhost\t65535  ");
	assert_int_equal(c.kind, CHAT_CMD_JOIN);
	assert_text(c.host, c.host_len, "localhost");
	assert_int_equal(c.port, 65535);
	c = parse("/join [::1] 1");
	assert_int_equal(c.kind, CHAT_CMD_JOIN);
	assert_text(c.host, c.host_len, "::1");
	assert_int_equal(c.port, 1);
	c = parse("/join ::1 7");
	assert_text(c.host, c.host_len, "::1");

	static const char *bad[] = { "/join",           "/join host",     "/join host 0",
				     "/join host 65536", "/join host 5x",  "/join host -1",
				     "/join a b c",      "/join [] 5000",  "/join host 123456" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = parse(bad[i]);
		if (c.kind != CHAT_CMD_BAD)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(c.error);
	}
}

static void test_other_commands(void **state)
{
	(void)state;
	assert_int_equal(parse("/quit").kind, CHAT_CMD_QUIT);
	assert_int_equal(parse("/quit  ").kind, CHAT_CMD_QUIT);
	assert_int_equal(parse("/exit").kind, CHAT_CMD_EXIT);
	assert_int_equal(parse("/exit\r").kind, CHAT_CMD_EXIT);
	assert_int_equal(parse("/help").kind, CHAT_CMD_HELP);
	assert_int_equal(parse("/quit now").kind, CHAT_CMD_BAD);
	assert_int_equal(parse("/exit 1").kind, CHAT_CMD_BAD);
	assert_int_equal(parse("/").kind, CHAT_CMD_BAD);
	assert_int_equal(parse("/QUIT").kind, CHAT_CMD_BAD); /* as the course: exact names */
	struct chat_cmd c = parse("/nope arg");
	assert_int_equal(c.kind, CHAT_CMD_BAD);
	assert_text(c.text, c.len, "/nope");
	assert_non_null(strstr(c.error, "unknown command"));
}

static void test_utf8_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		const struct utf8_sample *x = &utf8_samples[i];
		bool want = !(x->cls & MQTT_UTF8_ILL_FORMED);
		if (chat_utf8_valid(x->s, x->len) != want)
			fail_msg("sample %s: valid=%d", x->name, !want);
	}
	assert_true(chat_utf8_valid((const uint8_t *)"", 0));
	/* A character cut at the end of the buffer. */
	assert_false(chat_utf8_valid((const uint8_t *)"\xe2\x82", 2));
	assert_false(chat_utf8_valid((const uint8_t *)"\xf0\x9f\x99", 3));
	assert_true(chat_utf8_valid((const uint8_t *)"\xf0\x9f\x99\x82", 4));
}

static void test_utf8_char(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(chat_utf8_char((const uint8_t *)"A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(chat_utf8_char((const uint8_t *)"\xc3\xa9", 2, &cp), 2);
	assert_int_equal(cp, 0xE9);
	assert_int_equal(chat_utf8_char((const uint8_t *)"\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20AC);
	assert_int_equal(chat_utf8_char((const uint8_t *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
	assert_int_equal(chat_utf8_char((const uint8_t *)"\xc3\xa9", 1, &cp), 0);
}

/* Text of n characters, each 1, 2, 3 or 4 bytes long by a pattern. */
static size_t mixed_text(uint8_t *out, size_t chars, unsigned seed)
{
	static const char *const ch[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x99\x82" };
	size_t o = 0;

	for (size_t i = 0; i < chars; i++) {
		const char *c = ch[(i * 7 + seed + i / 3) % 4];
		size_t n = strlen(c);
		memcpy(out + o, c, n);
		o += n;
	}
	return o;
}

/* Every datagram fits, decodes on its own, and together they are the text. */
static void test_split_everywhere(void **state)
{
	uint8_t text[4 * 700], again[sizeof(text)];

	(void)state;
	for (unsigned seed = 0; seed < 4; seed++) {
		size_t len = mixed_text(text, 700, seed);
		for (size_t max = 4; max <= 1100; max += (max < 40 ? 1 : 37)) {
			size_t off = 0, o = 0, count = 0;
			while (off < len) {
				size_t n = chat_split(text + off, len - off, max);
				assert_true(n > 0 && n <= max);
				/* as long as possible: the next character did not fit */
				if (off + n < len) {
					uint32_t cp;
					size_t k =
						chat_utf8_char(text + off + n, len - off - n, &cp);
					assert_true(n + k > max);
				}
				assert_true(chat_utf8_valid(text + off, n));
				memcpy(again + o, text + off, n);
				o += n;
				off += n;
				count++;
			}
			assert_int_equal(o, len);
			assert_memory_equal(again, text, len);
			assert_true(count >= (len + max - 1) / max);
		}
	}
}

static void test_split_course_limit(void **state)
{
	uint8_t text[3000];

	(void)state;
	memset(text, 'x', sizeof(text));
	assert_int_equal(chat_split(text, 1024, CHAT_DATAGRAM_DEFAULT), 1024);
	assert_int_equal(chat_split(text, 1025, CHAT_DATAGRAM_DEFAULT), 1024);
	assert_int_equal(chat_split(text, 10, CHAT_DATAGRAM_DEFAULT), 10);
	/* "a" then "é"s: byte 1024 is the middle of an "é", so 1023 go. */
	text[0] = 'a';
	for (size_t i = 1; i + 1 < sizeof(text); i += 2) {
		text[i] = 0xC3;
		text[i + 1] = 0xA9;
	}
	assert_int_equal(chat_split(text, 2999, CHAT_DATAGRAM_DEFAULT), 1023);
	assert_int_equal(chat_split(text + 1023, 2999 - 1023, CHAT_DATAGRAM_DEFAULT), 1024);
}

static void assert_escape(const char *in, size_t len, const char *want)
{
	char out[512];
	size_t used, n = chat_escape((const uint8_t *)in, len, out, sizeof(out), &used);

	assert_int_equal(used, len);
	if (n != strlen(want) || memcmp(out, want, n) != 0)
		fail_msg("escape: got \"%.*s\", want \"%s\"", (int)n, out, want);
}

#define ESC(lit, want) assert_escape(lit, sizeof(lit) - 1, want)

static void test_escape(void **state)
{
	(void)state;
	ESC("plain text, ça va ? 🙂 €", "plain text, ça va ? 🙂 €");
	ESC("a\\b", "a\\\\b");
	ESC("tab\there\nnew\rcr", "tab\\there\\nnew\\rcr");
	ESC("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	ESC("\x1b]0;title\x07", "\\x1b]0;title\\x07");
	ESC("nul\0x", "nul\\x00x");
	ESC("del\x7f", "del\\x7f");
	/* C1 controls as UTF-8: U+009B is CSI for terminals that honour C1. */
	ESC("\xc2\x9b" "31m", "\\u{009b}31m");
	ESC("\xc2\x80\xc2\x9f\xc2\xa0", "\\u{0080}\\u{009f}\xc2\xa0");
	/* Bidirectional overrides and isolates, line and paragraph separators. */
	ESC("abc\xe2\x80\xae" "fed", "abc\\u{202e}fed");
	ESC("\xe2\x81\xa6\xe2\x81\xa9", "\\u{2066}\\u{2069}");
	ESC("\xe2\x80\xa8\xe2\x80\xa9", "\\u{2028}\\u{2029}");
	ESC("\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f", "\\u{061c}\\u{200e}\\u{200f}");
	/* Not UTF-8: each byte of the bad sequence, the rest as it is. */
	ESC("\xff\xfe ok", "\\xff\\xfe ok");
	ESC("\xc3(", "\\xc3(");
	ESC("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
	ESC("\xc0\xaf", "\\xc0\\xaf");          /* overlong "/" */
	ESC("\xe2\x82", "\\xe2\\x82");          /* cut */
	ESC("\xf0\x9f\x99\x82\xf0\x9f", "🙂\\xf0\\x9f");
}

/* What comes out holds no byte a terminal acts on, whatever goes in. */
static void test_escape_output_is_inert(void **state)
{
	uint8_t in[256];
	char out[4 * sizeof(in)];
	size_t used, n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i; /* every byte, in every bad sequence it makes */
	n = chat_escape(in, sizeof(in), out, sizeof(out), &used);
	assert_int_equal(used, sizeof(in));
	assert_true(chat_utf8_valid((const uint8_t *)out, n));
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)out[i];
		assert_true(c >= 0x20 && c < 0x7F); /* all of it escaped, here */
	}
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		const struct utf8_sample *x = &utf8_samples[i];
		uint32_t cp;
		n = chat_escape(x->s, x->len, out, sizeof(out), &used);
		assert_int_equal(used, x->len);
		assert_true(chat_utf8_valid((const uint8_t *)out, n));
		for (size_t k = 0; k < n;) {
			k += chat_utf8_char((const uint8_t *)out + k, n - k, &cp);
			if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
				fail_msg("sample %s: U+%04x in the output", x->name, cp);
		}
	}
}

/* A small output takes whole escapes only, and says how far it got. */
static void test_escape_cut(void **state)
{
	const char *in = "ab\x1b" "c\xe2\x80\xae" "d€";
	size_t len = strlen(in), used, n;
	char out[64];

	(void)state;
	n = chat_escape((const uint8_t *)in, len, out, 2, &used);
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	n = chat_escape((const uint8_t *)in, len, out, 5, &used); /* "ab" + no room for \x1b */
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	n = chat_escape((const uint8_t *)in, len, out, 6, &used);
	assert_text(out, n, "ab\\x1b");
	assert_int_equal(used, 3);
	n = chat_escape((const uint8_t *)in, len, out, 14, &used); /* \u{202e} is 8 */
	assert_text(out, n, "ab\\x1bc");
	assert_int_equal(used, 4);
	n = chat_escape((const uint8_t *)in, len, out, 17, &used); /* € (3 bytes) does not fit */
	assert_text(out, n, "ab\\x1bc\\u{202e}d");
	assert_int_equal(used, len - 3);
	n = chat_escape((const uint8_t *)in, len, out, sizeof(out), &used);
	assert_int_equal(used, len);
	n = chat_escape((const uint8_t *)in, len, out, 0, &used);
	assert_int_equal(n, 0);
	assert_int_equal(used, 0);
}

static void test_parse_bind(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	bool any;

	(void)state;
	assert_int_equal(chat_parse_bind("5000", &ss, &any), 0);
	assert_true(any);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr));
	assert_int_equal(ntohs(in6->sin6_port), 5000);
	assert_int_equal(chat_parse_bind("0", &ss, &any), 0);
	assert_int_equal(ntohs(in6->sin6_port), 0);

	assert_int_equal(chat_parse_bind("127.0.0.1:6000", &ss, &any), 0);
	assert_false(any);
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7F000001);
	assert_int_equal(ntohs(in4->sin_port), 6000);

	assert_int_equal(chat_parse_bind("[::1]:65535", &ss, &any), 0);
	assert_false(any);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	assert_int_equal(ntohs(in6->sin6_port), 65535);

	static const char *bad[] = {
		"", "x", "65536", "-1", "5000x", ":5000", "127.0.0.1:", "127.0.0.1:x",
		"localhost:5000", "::1:5000", "[::1]5000", "[::1]:", "[]:5000",
		"[127.0.0.1]:5000", "1.2.3:5", "127.0.0.1:99999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (chat_parse_bind(bad[i], &ss, &any) == 0)
			fail_msg("'%s' was accepted", bad[i]);
}

static void test_format_addr(void **state)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(5000) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(6000) };
	char out[CHAT_ADDR_MAX];

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
	chat_format_addr((struct sockaddr *)&in4, out);
	assert_string_equal(out, "127.0.0.1:5000");
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	chat_format_addr((struct sockaddr *)&in6, out);
	assert_string_equal(out, "[::1]:6000");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr); /* through a dual-stack socket */
	chat_format_addr((struct sockaddr *)&in6, out);
	assert_string_equal(out, "127.0.0.1:6000");
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &in6.sin6_addr);
	in6.sin6_port = htons(65535);
	chat_format_addr((struct sockaddr *)&in6, out);
	assert_string_equal(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lines_are_sent),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_utf8_samples),
		cmocka_unit_test(test_utf8_char),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_split_course_limit),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_output_is_inert),
		cmocka_unit_test(test_escape_cut),
		cmocka_unit_test(test_parse_bind),
		cmocka_unit_test(test_format_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
