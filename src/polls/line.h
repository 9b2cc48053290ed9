/*
 * line.h - the poll line protocol's codec (docs/protocols.md, "Poll line
 * protocol"): bytes in, one line framed and checked, a line parsed into a
 * command; answers formatted into the caller's buffer. No I/O, no
 * allocation, no state between calls: the server (src/server/poll_service.c)
 * reads into its buffer and calls these in a loop, the unit tests and the
 * fuzz target call them on plain arrays.
 *
 * The protocol: lines of UTF-8 text ending in "\n" ("\r\n" accepted), at
 * most a configured number of bytes each (the end not counted). A client
 * sends a command per line; the server answers each with exactly one line,
 * "OK ..." or "ERR code message", and pushes "RESULTS json" lines for the
 * polls a connection watches.
 *
 *   LOGIN name password   the password is the rest of the line as it is
 *   POLLS                 POLL id     VOTE id option     WATCH id
 *   UNWATCH id            HELP        QUIT
 *
 * Command words are ASCII, any case. Words are separated by blanks (spaces
 * or tabs). An id is a positive decimal integer (digits only, at most
 * INT64_MAX). A VOTE's option is the rest of the line with its leading and
 * trailing blanks removed (a label may hold spaces). A blank line is no
 * command and gets no answer.
 *
 * Pointers in a parsed command point into the caller's line.
 */
#ifndef AGORA_POLLS_LINE_H
#define AGORA_POLLS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLLS_LINE_MAX_DEFAULT 1024

/* What polls_line_next finds wrong with the first line: each is answered
 * "ERR bad_line ..." and the connection closed. */
enum polls_line_err {
	POLLS_LINE_NEED_MORE = 0, /* no whole line yet, and what came may still become one */
	POLLS_LINE_ETOOLONG = -1, /* more than max bytes before the end of the line */
	POLLS_LINE_ENUL = -2,     /* a NUL byte in the line */
	POLLS_LINE_EUTF8 = -3,    /* not well-formed UTF-8 (RFC 3629) */
};

/*
 * The first line of buf[0..len): returns the bytes it takes, its end
 * included (> 0), with *line_len the bytes of its text (the "\n" and a "\r"
 * before it left out); POLLS_LINE_NEED_MORE; or an error. A line's text may
 * be max bytes (max >= 1): without a "\n" in the first max + 2 bytes the
 * line is too long, refused without waiting for its end. The text is
 * checked for NUL and UTF-8 once whole.
 */
long polls_line_next(const uint8_t *buf, size_t len, size_t max, size_t *line_len);

/* The message of "ERR bad_line MESSAGE" for err (< 0), naming max for
 * POLLS_LINE_ETOOLONG, into out (NUL-terminated, cut to cap). */
void polls_line_why(int err, size_t max, char *out, size_t cap);

enum polls_line_cmd {
	POLLS_CMD_NONE,    /* a blank line: nothing to do, nothing to answer */
	POLLS_CMD_LOGIN,
	POLLS_CMD_POLLS,
	POLLS_CMD_POLL,
	POLLS_CMD_VOTE,
	POLLS_CMD_WATCH,
	POLLS_CMD_UNWATCH,
	POLLS_CMD_HELP,
	POLLS_CMD_QUIT,
	POLLS_CMD_UNKNOWN, /* not a command word: word says which ("ERR unknown_command") */
	POLLS_CMD_USAGE,   /* a command with wrong arguments: error says how it goes
			    * ("ERR bad_request") */
};

struct polls_line_req {
	enum polls_line_cmd cmd;
	int64_t id;         /* POLL, VOTE, WATCH, UNWATCH: >= 1 */
	const char *name;   /* LOGIN: the account's name (no blank in it) */
	size_t name_len;
	const char *arg;    /* LOGIN: the password; VOTE: the option (never empty) */
	size_t arg_len;
	const char *word;   /* UNKNOWN, USAGE: the command word as sent (maybe cut) */
	size_t word_len;
	const char *error;  /* USAGE: a static sentence, "usage: VOTE id option" */
};

/* Parses one line's text (as polls_line_next framed it). Never fails:
 * problems are POLLS_CMD_UNKNOWN or POLLS_CMD_USAGE. */
void polls_line_parse(const char *line, size_t len, struct polls_line_req *req);

/* The command's name as the protocol spells it ("VOTE"). */
const char *polls_line_cmd_name(enum polls_line_cmd cmd);

/* The text of HELP's answer, "commands: LOGIN name password, ...". */
const char *polls_line_help(void);

enum polls_line_kind {
	POLLS_ANSWER_OK,      /* "OK text" ("OK" alone when text is empty) */
	POLLS_ANSWER_ERR,     /* "ERR code text" */
	POLLS_ANSWER_RESULTS, /* "RESULTS text": a watched poll changed */
};

/*
 * One answer line, "\n" included, into out: returns its length, and writes
 * it only when cap is at least that (so a caller asks with cap 0, then
 * reserves). code (ERR only; NULL otherwise) and text[0..len) are copied
 * with every byte below 0x20 and 0x7F turned into a space: whatever they
 * hold, the answer is one line.
 */
size_t polls_line_format(char *out, size_t cap, enum polls_line_kind kind, const char *code,
			 const char *text, size_t len);

#endif
