/*
 * scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced
 * authentication method against the REST API's accounts.
 *
 * The server never sees the password during the exchange: it keeps, per
 * user, a salt, an iteration count, StoredKey and ServerKey (struct
 * store_scram), derived when the password is set or used to log in over
 * HTTP. A client sends "n,,n=NAME,r=NONCE" as the CONNECT's Authentication
 * Data, gets "r=...,s=SALT,i=ITER" in AUTH 0x18, answers
 * "c=biws,r=...,p=PROOF" in AUTH 0x18, and on success gets "v=SIGNATURE"
 * with its CONNACK, proving the server knew its key too.
 */
#ifndef AGORA_SCRAM_H
#define AGORA_SCRAM_H

#include "broker/auth.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define SCRAM_ITERATIONS 4096

/* Credentials for password with a fresh random salt. */
void scram_credentials(const char *password, size_t len, struct store_scram *out);
/* The same with a given salt and count (tests use RFC 7677's example). */
void scram_derive(const char *password, size_t len, const uint8_t *salt, size_t salt_len,
		  uint32_t iterations, struct store_scram *out);

/* The mechanism, bound to a store (not owned) that outlives it. */
struct scram_mechanism {
	struct auth_mechanism m; /* first: the broker holds &m */
	struct store *store;
	uint8_t secret[32];      /* for stable fake salts of unknown users */
};

void scram_mechanism_init(struct scram_mechanism *sm, struct store *st);

#endif
