/*
 * fuzz_cli_api.c - libFuzzer target for what `agora register/login/users/
 * send/inbox...` read from elsewhere: a server's answers (the error line
 * built from an error body, a message printed from its JSON, as --follow
 * will print MQTT payloads) and the credentials file, and the server URL
 * given on the command line.
 *
 * Checks, beyond no crash, leak or UB: the error line and the printed text
 * carry no control character but '\n' and '\t' (nothing reaches the
 * terminal as an escape sequence); a credentials file that parses formats
 * to one that parses to the same thing; a canonical URL is its own
 * canonical form.
 */
#include "client/creds.h"
#include "client/rest.h"
#include "client/rest_print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_controls(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			abort();
		/* C1 controls as UTF-8: C2 80 to C2 9F */
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0)
			abort();
	}
}

static void error_line(const char *text, size_t size)
{
	char line[REST_MESSAGE_MAX + 128];

	rest_error_line(404, text, size, line, sizeof(line));
	no_controls(line, strlen(line));
}

static void print_payload(const char *text, size_t size)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return;
	(void)rest_print_message_payload(out, text, size, false);
	fclose(out);
	no_controls(buf, len);
	free(buf);
}

static void creds_roundtrip(const char *text, size_t size)
{
	char err[256], *again;
	json_t *root, *root2;

	if (creds_parse(text, size, &root, err, sizeof(err)))
		return;
	again = creds_format(root);
	if (!again || creds_parse(again, strlen(again), &root2, err, sizeof(err)) ||
	    !json_equal(root, root2))
		abort();
	json_decref(root2);
	free(again);
	json_decref(root);
}

static void url(const char *text)
{
	char out[REST_URL_MAX], out2[REST_URL_MAX];
	const char *why;

	if (rest_url_canonical(text, out, sizeof(out), &why))
		return;
	if (rest_url_canonical(out, out2, sizeof(out2), &why) || strcmp(out, out2) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A NUL-terminated copy, exactly sized, so ASan sees any over-read. */
	char *text = malloc(size + 1);
	char *safe;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	error_line(text, size);
	print_payload(text, size);
	creds_roundtrip(text, size);
	url(text);
	safe = rest_safe_dup(text, size, "\n    ", size / 2 + 1);
	no_controls(safe, strlen(safe));
	free(safe);
	free(text);
	return 0;
}
