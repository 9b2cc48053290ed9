/*
 * chat.h - `agora chat`: the course's peer-to-peer UDP chat, on one libuv
 * loop that waits on the terminal (or a pipe, or a file) and the socket at
 * once: no thread, no busy-waiting, no polling with a timeout.
 *
 * The socket is bound to [HOST:]PORT: PORT alone binds every address, IPv6
 * and IPv4 on one socket ([::] with IPV6_V6ONLY off; 0.0.0.0 on a machine
 * without IPv6); a numeric host binds that address only. Lines read from
 * standard input are commands or text (chat_text.h): text goes to the peer
 * chosen with /join as UTF-8 datagrams of at most max_datagram bytes, cut
 * at character boundaries. Every datagram received, from anyone, is
 * printed on standard output as one line "ADDRESS:PORT: text", escaped for
 * the terminal and cut to max_show bytes; with json, one JSON object per
 * datagram instead. Notices and errors go to standard error, one line each,
 * "agora chat: ...".
 *
 * The chat ends on /exit, at the end of the input (what was sent is handed
 * to the kernel first) and on SIGINT or SIGTERM (at once).
 */
#ifndef AGORA_CLASSIC_CHAT_H
#define AGORA_CLASSIC_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#define CHAT_SHOW_DEFAULT 4096 /* bytes printed per datagram received */
#define CHAT_SHOW_MIN 64
#define CHAT_SHOW_MAX 262144
#define CHAT_LINE_MAX 65536    /* a longer line of input is refused, not sent */
#define CHAT_RESOLVE_MS 10000  /* how long /join waits for the resolver */

struct chat_opts {
	const char *bind;    /* "[HOST:]PORT" as given on the command line */
	size_t max_datagram; /* CHAT_DATAGRAM_MIN..CHAT_DATAGRAM_MAX (chat_text.h) */
	size_t max_show;     /* CHAT_SHOW_MIN..CHAT_SHOW_MAX */
	bool json;
};

enum chat_status {
	CHAT_OK,     /* /exit, end of input, SIGINT or SIGTERM */
	CHAT_EUSAGE, /* opts->bind is not [HOST:]PORT */
	CHAT_ENET,   /* the socket could not be opened or bound */
	CHAT_ELOCAL, /* standard input or output failed, or is of an unusable kind */
};

/* Runs the chat until it ends (above). Every error has been printed (one
 * line on standard error) when it returns; everything it allocated is
 * freed. The caller ignores SIGPIPE, so a closed output is an error, not a
 * death. */
enum chat_status chat_run(const struct chat_opts *opts);

#endif
