/*
 * fuzz_mail.c - libFuzzer target for an e-mail's bytes (notify/mail.h),
 * which carry text a rule renders from what clients publish.
 *
 * The input is four NUL-separated strings: smtp_from, to, subject, body.
 * Whatever they hold, a message composed from them is 7-bit ASCII (what is
 * not is encoded), every line ends with CRLF with no bare CR or LF, no
 * line passes 998 bytes, and its head holds exactly the nine headers
 * composed (continuation lines aside): nothing a client wrote can start a
 * header of its own.
 */
#include "notify/mail.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADERS 9

static void check_message(const char *m, size_t len)
{
	size_t line_start = 0;
	int headers = 0;
	bool in_head = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];

		if (c >= 0x80 || c == 0)
			abort();
		if (c == '\r' && (i + 1 == len || m[i + 1] != '\n'))
			abort(); /* a bare CR */
		if (c != '\n')
			continue;
		if (i == 0 || m[i - 1] != '\r' || i - 1 - line_start > 998)
			abort(); /* a bare LF, a long line */
		if (in_head && i - 1 == line_start)
			in_head = false; /* the empty line */
		else if (in_head && m[line_start] != ' ')
			headers++;
		line_start = i + 1;
	}
	if (line_start != len || in_head || headers != HEADERS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 4);
	const char *field[4];
	struct notify_mail_addrs to;
	struct text out = { 0 };
	size_t at = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(copy + size, 0, 4);
	for (int i = 0; i < 4; i++) {
		field[i] = copy + at;
		at += strlen(copy + at) + 1;
		if (at > size)
			at = size;
	}
	if (notify_mail_parse_to(field[1], &to) == 0 &&
	    notify_mail_compose(&(struct notify_mail){ .from = field[0],
						      .to = &to,
						      .subject = field[2],
						      .body = field[3],
						      .now_ms = 1796563236000,
						      .msgid_local = "1.2.3" },
				&out) == 0)
		check_message(out.s, out.len);
	free(out.s);
	free(copy);
	return 0;
}
