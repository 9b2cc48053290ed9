/*
 * access.h - who may read and write what under agora/: the rule of
 * docs/api.md ("Who sees what"), once, as pure functions over topic and
 * filter bytes (no store, no I/O, no state). bridge.c plugs them into the
 * broker's hooks; the REST API keeps the same rule on its routes (users,
 * statuses and polls without a token, messages and votes with one).
 *
 *  - agora/users/{name}/status: read by every client that may connect,
 *    anonymous ones included; written by the server only.
 *  - agora/users/{name}/inbox: read by the account {name} only (ASCII case
 *    ignored, as the API compares names). An account's PUBLISH there is a
 *    message to {name}: the bridge stores it and publishes it itself.
 *  - agora/users/{name}/notices: read by the account {name} only; written
 *    by the server only (its answers to that account: a refused vote).
 *  - agora/polls/{id}/results: read by every client that may connect;
 *    written by the server only.
 *  - agora/polls/{id}/vote: read by nobody. An account's PUBLISH there is
 *    its vote: the bridge takes it (bridge_polls.h), nothing is routed.
 *  - nothing else exists under agora/users and agora/polls: nobody reads
 *    or writes it.
 *  - no client message, will included, is ever routed under agora/users or
 *    agora/polls. The rest of agora/ (and agora itself) is everybody's, as
 *    any topic outside it.
 *
 * `account` is the name the client logged in as, NULL for an anonymous
 * client. Topics and filters are not NUL-terminated and must be valid
 * (the codec checked them); names handed back point into them.
 */
#ifndef AGORA_ACCESS_H
#define AGORA_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The broker hooks' prefix: the rule covers this topic and all below it
 * (agora/users and agora/polls, and the rest of agora/ it lets through). */
#define ACCESS_PREFIX "agora"

/* Reading: a delivery of this topic to this account. */
bool access_may_read(const char *account, const uint8_t *topic, size_t len);

/* Subscribing: granted unless the filter can match only topics the account
 * may not read; what a granted filter delivers is then checked per message
 * with access_may_read ("agora/users/#", "#" and the like). */
bool access_may_subscribe(const char *account, const uint8_t *filter, size_t len);

/* Publishing a message as it is (PUBLISH or will): only outside
 * agora/users and agora/polls. */
bool access_may_publish(const char *account, const uint8_t *topic, size_t len);

/* A message from account to the user whose inbox topic is: true for an
 * account's PUBLISH on agora/users/{name}/inbox, with *to, *to_len set to
 * {name} (whether that user exists is the store's to say). */
bool access_inbox_write(const char *account, const uint8_t *topic, size_t len,
			const uint8_t **to, size_t *to_len);

/* A vote: true for an account's PUBLISH on agora/polls/{id}/vote, with
 * *id, *id_len set to {id} as it is (whether it names a poll, or is a
 * number at all, is the bridge's to say). */
bool access_vote_write(const char *account, const uint8_t *topic, size_t len,
		       const uint8_t **id, size_t *id_len);

#endif
