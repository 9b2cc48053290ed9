/*
 * lookup.h - `agora lookup NAME|ADDRESS`: what the course shows with
 * Python's gethostbyname, gethostbyaddr and getfqdn, through getaddrinfo
 * and getnameinfo (IPv6 too).
 *
 * A name: its canonical name, every IPv4 (A) and IPv6 (AAAA) address, and
 * the reverse name (PTR) of each. An address: its reverse name, then all of
 * the above for that name. The machine's own resolver answers (nsswitch:
 * /etc/hosts, DNS, ...). Names under the reserved TLD .invalid are answered
 * "no such host" at once, without asking anyone, as RFC 6761 section 6.4
 * asks of name resolution libraries.
 *
 * The resolver's calls block and cannot be cancelled, so lookup_run runs
 * them on a thread of their own and waits for them with a deadline (and
 * SIGINT, SIGTERM): on timeout the command ends and the thread is left to
 * finish, or to be ended with the process.
 *
 * Ownership: results are plain structs filled by the callee; the
 * formatting functions return malloc'd text the caller frees.
 */
#ifndef AGORA_CLASSIC_LOOKUP_H
#define AGORA_CLASSIC_LOOKUP_H

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base/text.h"

#define LOOKUP_MAX_ADDRS 64           /* addresses listed (and reversed) at most */
#define LOOKUP_TIMEOUT_DEFAULT_MS 10000
#define LOOKUP_QUERY_MAX 1024         /* NI_MAXHOST less the NUL */

enum lookup_status {
	LOOKUP_OK,
	LOOKUP_NO_HOST,     /* the name does not exist (NXDOMAIN, not in /etc/hosts; .invalid) */
	LOOKUP_NO_ADDRESS,  /* the name exists but has no address (EAI_NODATA) */
	LOOKUP_NO_NAME,     /* the address has no name (no PTR record, not in /etc/hosts) */
	LOOKUP_AGAIN,       /* the resolver could not answer now: no DNS server reachable */
	LOOKUP_FAIL,        /* the resolver failed for good (a server error, a bad answer) */
	LOOKUP_TIMEOUT,     /* no answer before the deadline */
	LOOKUP_INTERRUPTED, /* SIGINT or SIGTERM while waiting */
	LOOKUP_BAD_QUERY,   /* empty, longer than LOOKUP_QUERY_MAX, control characters */
	LOOKUP_LOCAL,       /* out of memory, no thread, a system error */
};

struct lookup_addr {
	struct sockaddr_storage sa;
	socklen_t salen;
	char text[INET6_ADDRSTRLEN]; /* "127.0.0.1", "::1" */
	enum lookup_status reverse_status; /* LOOKUP_OK: reverse holds the name */
	char reverse[NI_MAXHOST];
};

struct lookup_result {
	char query[LOOKUP_QUERY_MAX + 1];
	bool is_address;
	/* An address: its name, and how looking that name up went (the
	 * fields below describe that name; a failure there is not the
	 * command's failure: the address did have a name). */
	char reverse[NI_MAXHOST];
	enum lookup_status forward_status;
	/* The name's canonical name (may be the name itself) and addresses. */
	char canonical[NI_MAXHOST];
	struct lookup_addr addrs[LOOKUP_MAX_ADDRS];
	unsigned naddrs;
	bool more; /* the name had more than LOOKUP_MAX_ADDRS addresses */
};

/* One line for a status: "no such host", "no answer in time", ... */
const char *lookup_strerror(enum lookup_status st);

/* The status for a getaddrinfo or getnameinfo error code (EAI_*). */
enum lookup_status lookup_status_from_eai(int eai);

/* Whether name is "invalid" or ends in ".invalid" (any case, a final dot
 * allowed): RFC 6761's name that never exists. */
bool lookup_is_invalid_tld(const char *name);

/* LOOKUP_OK, or LOOKUP_BAD_QUERY for what no resolver could take. */
enum lookup_status lookup_check_query(const char *query);

/* The whole look-up, blocking: fills *r (zeroed first) and returns
 * LOOKUP_OK, or the status of the step that failed (the forward look-up of
 * a name, the reverse look-up of an address). */
enum lookup_status lookup_resolve(const char *query, struct lookup_result *r);

typedef enum lookup_status (*lookup_fn)(const char *query, struct lookup_result *r);

/* Runs fn(query) (lookup_resolve, or a test's stand-in) on a thread and
 * waits at most timeout_ms for it, or until SIGINT or SIGTERM (their
 * handlers are replaced while it waits, then restored). On LOOKUP_OK and
 * fn's own errors *r holds what fn filled; LOOKUP_TIMEOUT and
 * LOOKUP_INTERRUPTED leave it untouched, and the thread finishes on its own
 * (lookup_jobs_alive counts it until then). */
enum lookup_status lookup_run(const char *query, int timeout_ms, lookup_fn fn,
			      struct lookup_result *r);

/* Threads of lookup_run still running: for tests, which wait for theirs to end. */
unsigned lookup_jobs_alive(void);

/* The result as text for a terminal: "key  value" lines, names escaped
 * (chat_escape: a resolver's answer may hold any byte). Appends to out. */
void lookup_format_text(const struct lookup_result *r, struct text *out);

/* The result as one JSON object, ASCII only, no newline; the caller frees
 * it. {"query", "kind": "name"|"address", "reverse" (address),
 * "canonical", "addresses": [{"family": "ipv4"|"ipv6", "address",
 * "reverse": NAME or null, "reverse_error" (when null)}], "truncated",
 * "error" (address whose name has no address)}. */
char *lookup_format_json(const struct lookup_result *r);

#endif
