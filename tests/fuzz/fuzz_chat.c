/*
 * fuzz_chat.c - libFuzzer target for the pure parts of `agora chat`
 * (classic/chat_text.h), which see a peer's datagrams and the user's lines.
 *
 * chat_escape, at several output sizes: never writes past the output,
 * covers a prefix of the input, and what it writes is valid UTF-8 without a
 * control character, a C1 control or a bidi override, whatever the bytes.
 * chat_split: on valid UTF-8, datagrams that fit, decode alone and add up
 * to the text. chat_parse_line: what it points at lies inside the line.
 * chat_parse_bind: any string, NUL-terminated.
 */
#include "classic/chat_text.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inert(const char *out, size_t n)
{
	uint32_t cp;

	for (size_t k = 0; k < n;) {
		size_t c = chat_utf8_char((const uint8_t *)out + k, n - k, &cp);
		if (c == 0)
			abort(); /* not UTF-8 */
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x202E || cp == 0x2066)
			abort();
		k += c;
	}
}

static void fuzz_escape(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 0, 1, 3, 7, 8, 64, 4096 };
	static char out[4 * 4096 + 8];

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		size_t cap = caps[i], used, n;
		n = chat_escape(data, size, out, cap, &used);
		if (n > cap || used > size)
			abort();
		if (cap >= 4 * size + 8 * size && used != size)
			abort(); /* room for everything: all of it */
		check_inert(out, n);
	}
}

static void fuzz_split(const uint8_t *data, size_t size)
{
	size_t max = 4 + (size ? data[0] % 64 : 0), off = 0;

	if (!chat_utf8_valid(data, size))
		return;
	while (off < size) {
		size_t n = chat_split(data + off, size - off, max);
		if (n == 0 || n > max || !chat_utf8_valid(data + off, n))
			abort();
		off += n;
	}
	if (off != size)
		abort();
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	const char *end = line + size;
	struct chat_cmd cmd;

	chat_parse_line(line, size, &cmd);
	if (cmd.kind == CHAT_CMD_SEND && (cmd.text < line || cmd.text + cmd.len > end))
		abort();
	if (cmd.kind == CHAT_CMD_JOIN && (cmd.host < line || cmd.host + cmd.host_len > end ||
					  cmd.host_len == 0 || cmd.port == 0))
		abort();
	if (cmd.kind == CHAT_CMD_BAD && !cmd.error)
		abort();
}

static void fuzz_bind(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	char spec[128];
	bool any;

	if (size >= sizeof(spec))
		return;
	memcpy(spec, data, size);
	spec[size] = '\0';
	if (chat_parse_bind(spec, &ss, &any) == 0 && ss.ss_family != AF_INET &&
	    ss.ss_family != AF_INET6)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_escape(data, size);
	fuzz_split(data, size);
	fuzz_parse(data, size);
	fuzz_bind(data, size);
	return 0;
}
