/*
 * rest_print.h - how `agora users`, `status` and `inbox` show the API's
 * objects: one line per message, a table of users, a status; or, with
 * --json, each object as one compact JSON line (JSON Lines), as the server
 * sent it.
 *
 * Text from other users (message content, statuses, error messages) goes
 * through rest_safe_dup: nothing a peer sends reaches the terminal as a
 * control sequence. Times are shown in local time, "2026-11-23 14:05".
 *
 * These write to the FILE given and keep no state: `agora inbox --follow`
 * prints each message that arrives over MQTT (rest_message_parse, then
 * rest_print_message) exactly as the listing prints the stored ones.
 * Ownership: the json_t arguments stay the caller's.
 */
#ifndef AGORA_CLIENT_REST_PRINT_H
#define AGORA_CLIENT_REST_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* A time as the API writes it ("2026-11-23T13:05:00.123Z") in local time,
 * "2026-11-23 14:05"; "-" for null or anything else. */
void rest_local_time(const json_t *iso, char *out, size_t outlen);

/* One message: "* #12 2026-11-23 14:05 alice: hello" ('*' when unread,
 * ' ' when read; the lines of a multi-line content indented by 4 spaces). */
void rest_print_message(FILE *out, const json_t *m, bool json);
/* A message's JSON text (an MQTT inbox payload) parsed: NULL when it is
 * not a JSON object with the members of a message (an integer "id",
 * string "from" and "content"); else the caller's to json_decref. */
json_t *rest_message_parse(const char *payload, size_t len);
/* The same from a message's JSON text (an MQTT inbox payload): -1 when it
 * is not a JSON object with the members of a message (nothing printed). */
int rest_print_message_payload(FILE *out, const char *payload, size_t len, bool json);

/* The users of `agora users`: a table ID, NAME, UPDATED (the status's
 * time), STATUS, with a header line; or one object per line. */
void rest_print_users(FILE *out, const json_t *users, bool json);

/* A user's status: "alice: coding (since 2026-11-23 14:05)" or
 * "alice: no status"; or the user object. */
void rest_print_status(FILE *out, const json_t *user, bool json);

#endif
