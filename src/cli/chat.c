/* chat.c - `agora chat [HOST:]PORT`: parse the options, run the chat (classic/chat.h). */
#include "commands.h"

#include "classic/chat.h"
#include "classic/chat_text.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora chat [options] [HOST:]PORT\n"
		"\n"
		"Peer-to-peer UDP chat, the course's: binds PORT (every address, IPv6 and IPv4,\n"
		"or HOST only: 127.0.0.1:5000, [::1]:5000; port 0 picks a free one) and reads\n"
		"commands from the terminal while printing what arrives, one line per datagram:\n"
		"  /join HOST PORT   pick the peer (a name or an address)\n"
		"  /send TEXT        send TEXT to the peer; any line not starting with / too\n"
		"  /quit             forget the peer\n"
		"  /exit             leave (so do end of input, Ctrl-D, and Ctrl-C)\n"
		"Text goes as raw UTF-8 datagrams of at most %d bytes, cut at character\n"
		"boundaries. Received text is shown as ADDRESS:PORT: TEXT, with control\n"
		"characters and bytes that are not UTF-8 escaped (\\x1b, \\u{202e}).\n"
		"\n"
		"options:\n"
		"  --max-datagram BYTES  largest datagram sent (%d to %d, default %d)\n"
		"  --max-show BYTES      most bytes printed per datagram received (%d to %d,\n"
		"                        default %d)\n"
		"  --json                print each datagram received as a JSON object:\n"
		"                        {\"from\", \"bytes\", \"utf8\", \"text\", \"truncated\"}\n"
		"\n"
		"exit status: 0 after /exit, end of input or SIGINT; 1 usage; 2 the port cannot\n"
		"be bound; 4 the terminal cannot be read or the output written.\n",
		CHAT_DATAGRAM_DEFAULT, CHAT_DATAGRAM_MIN, CHAT_DATAGRAM_MAX, CHAT_DATAGRAM_DEFAULT,
		CHAT_SHOW_MIN, CHAT_SHOW_MAX, CHAT_SHOW_DEFAULT);
}

static int size_option(const char *flag, const char *v, size_t lo, size_t hi, size_t *out)
{
	unsigned long long x;
	char *end;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi) {
		fprintf(stderr, "agora chat: %s: '%s' is not a number from %zu to %zu\n", flag, v,
			lo, hi);
		return -1;
	}
	*out = (size_t)x;
	return 0;
}

int cmd_chat(int argc, char **argv)
{
	struct chat_opts o = { .max_datagram = CHAT_DATAGRAM_DEFAULT,
			       .max_show = CHAT_SHOW_DEFAULT };
	enum chat_status st;

	if (wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "--max-datagram") == 0 || strcmp(a, "--max-show") == 0) {
			bool dgram = a[6] == 'd';
			if (i + 1 >= argc) {
				fprintf(stderr, "agora chat: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			if (dgram ? size_option(a, argv[++i], CHAT_DATAGRAM_MIN, CHAT_DATAGRAM_MAX,
						&o.max_datagram)
				  : size_option(a, argv[++i], CHAT_SHOW_MIN, CHAT_SHOW_MAX,
						&o.max_show))
				return EXIT_USAGE;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "agora chat: unknown option '%s' (see agora chat --help)\n",
				a);
			return EXIT_USAGE;
		} else if (o.bind) {
			fprintf(stderr,
				"agora chat: one [HOST:]PORT only (see agora chat --help)\n");
			return EXIT_USAGE;
		} else {
			o.bind = a;
		}
	}
	if (!o.bind) {
		fprintf(stderr,
			"agora chat: which port? usage: agora chat [options] [HOST:]PORT\n");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN); /* a closed output is an error to report, not a death */
	st = chat_run(&o);
	switch (st) {
	case CHAT_OK: return EXIT_OK;
	case CHAT_EUSAGE: return EXIT_USAGE;
	case CHAT_ENET: return EXIT_NET;
	case CHAT_ELOCAL: return EXIT_LOCAL;
	}
	return EXIT_LOCAL;
}
