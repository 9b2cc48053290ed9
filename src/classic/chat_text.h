/*
 * chat_text.h - the pure parts of `agora chat` (no I/O, no allocation): a
 * terminal line parsed into a command, UTF-8 checked and cut into datagrams
 * at character boundaries, received bytes made safe for a terminal, the
 * [HOST:]PORT of the command line parsed, an address formatted for display.
 *
 * The wire format is the course's Python chat's (docs/protocols.md, "UDP
 * chat"): a datagram is the UTF-8 bytes of some text, nothing else (no
 * header, no newline). The course's peer reads a datagram with
 * recvfrom(1024) and decodes it strictly, so what we send is cut into
 * datagrams of at most CHAT_DATAGRAM_DEFAULT bytes, each valid UTF-8 on its
 * own.
 *
 * Conventions: text arguments are (pointer, length), never NUL-terminated
 * unless said; outputs point into the caller's buffers.
 */
#ifndef AGORA_CLASSIC_CHAT_TEXT_H
#define AGORA_CLASSIC_CHAT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CHAT_DATAGRAM_DEFAULT 1024 /* what the course's peer reads: recvfrom(1024) */
#define CHAT_DATAGRAM_MIN 16
#define CHAT_DATAGRAM_MAX 65507 /* the largest UDP payload over IPv4 */

/* "[ffff:...:ffff%interface]:65535" fits, NUL included. */
#define CHAT_ADDR_MAX 80

enum chat_cmd_kind {
	CHAT_CMD_EMPTY, /* an empty line: nothing to do */
	CHAT_CMD_SEND,  /* a plain line, or /send TEXT */
	CHAT_CMD_JOIN,  /* /join HOST PORT */
	CHAT_CMD_QUIT,  /* /quit: forget the peer */
	CHAT_CMD_EXIT,  /* /exit: leave */
	CHAT_CMD_HELP,  /* /help */
	CHAT_CMD_BAD,   /* a usage error or an unknown command: see error */
};

struct chat_cmd {
	enum chat_cmd_kind kind;
	/* SEND: the text to send. BAD: the command word that was wrong. */
	const char *text;
	size_t len;
	/* JOIN: the host as typed, without the brackets of "[::1]". */
	const char *host;
	size_t host_len;
	uint16_t port;   /* JOIN: 1..65535 */
	const char *error; /* BAD: a static message, e.g. "usage: /join HOST PORT" */
};

/* Parses one line of input (without its "\n"; a trailing "\r" is
 * ignored). A line that does not start with '/' is text to send, as it is;
 * "/send TEXT" sends what follows the first space (so "/send /x" sends
 * "/x"); commands are the course's: /join HOST PORT, /send TEXT, /quit,
 * /exit, plus /help. Never fails: problems are CHAT_CMD_BAD. */
void chat_parse_line(const char *line, size_t len, struct chat_cmd *cmd);

/* The length (1 to 4) of the well-formed UTF-8 character at the start of
 * s (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF) and
 * its code point in *cp; 0 when s does not start with one. len > 0. */
size_t chat_utf8_char(const uint8_t *s, size_t len, uint32_t *cp);

/* Whether all of s is well-formed UTF-8 (what Python's bytes.decode()
 * accepts). */
bool chat_utf8_valid(const uint8_t *s, size_t len);

/* The length of the first datagram to send of the valid UTF-8 text s: all
 * of it when len <= max, else the longest prefix of at most max bytes that
 * ends on a character boundary. max >= 4, so it is never 0 for len > 0. */
size_t chat_split(const uint8_t *s, size_t len, size_t max);

/* Writes s, bytes from the network, made safe for a terminal into out (at
 * most cap bytes, not NUL-terminated) and returns how many bytes it wrote;
 * *used tells how many bytes of s that covers: len, unless out filled up
 * (an escape is never cut in two). What is escaped:
 *   \\           a backslash, so that every escape below is unambiguous
 *   \t \n \r     those three controls
 *   \xHH         every other C0 control, DEL, and each byte of a sequence
 *                that is not well-formed UTF-8
 *   \u{HHHH}     C1 controls (U+0080..U+009F: some terminals obey them),
 *                the bidirectional formatting characters (U+061C,
 *                U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and the
 *                line and paragraph separators U+2028, U+2029
 * Everything else (printable ASCII, other well-formed UTF-8) is copied. */
size_t chat_escape(const uint8_t *s, size_t len, char *out, size_t cap, size_t *used);

/* Parses the command line's "[HOST:]PORT" into ss: "PORT" (every address:
 * *any is set and ss is [::]:PORT, which the caller may have to turn into
 * 0.0.0.0:PORT on a machine without IPv6), "A.B.C.D:PORT" or
 * "[IPV6]:PORT", a numeric address only. PORT is 0..65535 (0: the
 * system picks one). Returns 0, or -1 when spec is none of these. */
int chat_parse_bind(const char *spec, struct sockaddr_storage *ss, bool *any);

/* Writes "127.0.0.1:5000" or "[::1]:5000" into out (CHAT_ADDR_MAX bytes,
 * NUL-terminated); an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack socket reports for an IPv4 peer) is shown as IPv4. */
void chat_format_addr(const struct sockaddr *sa, char *out);

#endif
