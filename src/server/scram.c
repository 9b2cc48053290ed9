/*
 * scram.c - SCRAM-SHA-256 for MQTT 5 enhanced authentication (RFC 5802
 * with SHA-256, RFC 7677), on libsodium's SHA-256 and HMAC-SHA-256.
 *
 * An unknown user is not told apart from a wrong password: the exchange
 * goes on with a salt derived from the name and a server secret, and fails
 * at the proof, as RFC 5802 section 5.1 suggests.
 */
#include "scram.h"

#include "base/alloc.h"
#include "base/log.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_BYTES 18 /* 24 base64 characters of our own */
#define NAME_MAX_LEN 64
#define MSG_MAX 512

static void hmac(const uint8_t *key, size_t key_len, const void *msg, size_t len,
		 uint8_t out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
}

/* PBKDF2-HMAC-SHA-256 with one output block: Hi() of RFC 5802. */
static void hi(const char *password, size_t len, const uint8_t *salt, size_t salt_len,
	       uint32_t iterations, uint8_t out[32])
{
	uint8_t u[32], first[STORE_SCRAM_SALT_LEN + 4];
	size_t n = salt_len < STORE_SCRAM_SALT_LEN ? salt_len : STORE_SCRAM_SALT_LEN;

	memcpy(first, salt, n);
	memcpy(first + n, "\0\0\0\1", 4); /* INT(1) */
	hmac((const uint8_t *)password, len, first, n + 4, u);
	memcpy(out, u, 32);
	for (uint32_t i = 1; i < iterations; i++) {
		hmac((const uint8_t *)password, len, u, 32, u);
		for (int k = 0; k < 32; k++)
			out[k] ^= u[k];
	}
	sodium_memzero(u, sizeof(u));
}

void scram_derive(const char *password, size_t len, const uint8_t *salt, size_t salt_len,
		  uint32_t iterations, struct store_scram *out)
{
	uint8_t salted[32], client_key[32];

	hi(password, len, salt, salt_len, iterations, salted);
	hmac(salted, 32, "Client Key", 10, client_key);
	crypto_hash_sha256(out->stored_key, client_key, 32);
	hmac(salted, 32, "Server Key", 10, out->server_key);
	memset(out->salt, 0, sizeof(out->salt));
	memcpy(out->salt, salt, salt_len < STORE_SCRAM_SALT_LEN ? salt_len : STORE_SCRAM_SALT_LEN);
	out->iterations = iterations;
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(client_key, sizeof(client_key));
}

void scram_credentials(const char *password, size_t len, struct store_scram *out)
{
	uint8_t salt[STORE_SCRAM_SALT_LEN];

	randombytes_buf(salt, sizeof(salt));
	scram_derive(password, len, salt, sizeof(salt), SCRAM_ITERATIONS, out);
}

/* ---- the exchange ---- */

enum scram_phase { WANT_CLIENT_FIRST, WANT_CLIENT_FINAL, DONE };

struct scram_state {
	const struct scram_mechanism *sm;
	enum scram_phase phase;
	bool known;            /* the user exists with credentials */
	struct store_scram cred;
	char name[NAME_MAX_LEN + 1];
	char client_first_bare[MSG_MAX];
	char server_first[MSG_MAX];
	char nonce[MSG_MAX];   /* client nonce + ours */
	char gs2[16];          /* the GS2 header, "n,," or "y,," */
};

static void *scram_start(const struct auth_mechanism *m, const uint8_t *client_id, size_t len)
{
	struct scram_state *s = xcalloc(1, sizeof(*s));

	(void)client_id;
	(void)len;
	s->sm = (const struct scram_mechanism *)m;
	return s;
}

static void scram_end(void *state)
{
	if (state)
		sodium_memzero(state, sizeof(struct scram_state));
	free(state);
}

static const char *scram_identity(void *state)
{
	struct scram_state *s = state;
	return s->phase == DONE && s->known ? s->name : NULL;
}

/* The value of attribute `key` ("r=") in a comma-separated message. */
static bool attr(const char *msg, char key, char *out, size_t cap)
{
	for (const char *p = msg; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (p[0] == key && p[1] == '=') {
			const char *end = strchr(p, ',');
			size_t n = end ? (size_t)(end - p - 2) : strlen(p + 2);

			if (n >= cap)
				return false;
			memcpy(out, p + 2, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* saslname: "=2C" is ',' and "=3D" is '='; anything else after '=' is bad. */
static bool unescape_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in; in++) {
		char c = *in;

		if (c == '=') {
			if (strncmp(in, "=2C", 3) == 0)
				c = ',';
			else if (strncmp(in, "=3D", 3) == 0)
				c = '=';
			else
				return false;
			in += 2;
		}
		if (n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0;
}

static bool b64_encode(const uint8_t *bin, size_t len, char *out, size_t cap)
{
	if (sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) > cap)
		return false;
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
	return true;
}

/* Credentials for the name, or stable fake ones for an unknown user. */
static void load_credentials(struct scram_state *s)
{
	uint8_t fake[32];

	struct store_user u = { 0 };

	s->known = store_user_scram(s->sm->store, s->name, &s->cred) == 0 &&
		   store_user_by_name(s->sm->store, s->name, &u) == 0;
	if (s->known) {
		snprintf(s->name, sizeof(s->name), "%s", u.name); /* the account's spelling */
		store_user_release(&u);
		return;
	}
	hmac(s->sm->secret, sizeof(s->sm->secret), s->name, strlen(s->name), fake);
	memset(&s->cred, 0, sizeof(s->cred));
	memcpy(s->cred.salt, fake, STORE_SCRAM_SALT_LEN);
	s->cred.iterations = SCRAM_ITERATIONS;
}

static enum auth_result client_first(struct scram_state *s, const char *msg, char *out,
				     size_t *out_len)
{
	char enc_name[NAME_MAX_LEN * 3 + 1], cnonce[256], salt64[64];
	uint8_t ours[NONCE_BYTES];
	char ours64[64];
	const char *bare;
	int n;

	/* gs2-header: "n,," or "y,," (no channel binding over MQTT), no authzid */
	if (strncmp(msg, "n,,", 3) != 0 && strncmp(msg, "y,,", 3) != 0)
		return AUTH_FAIL;
	memcpy(s->gs2, msg, 3);
	s->gs2[3] = '\0';
	bare = msg + 3;
	if (strncmp(bare, "n=", 2) != 0 || strlen(bare) >= sizeof(s->client_first_bare))
		return AUTH_FAIL;
	if (!attr(bare, 'n', enc_name, sizeof(enc_name)) ||
	    !unescape_name(enc_name, s->name, sizeof(s->name)) ||
	    !attr(bare, 'r', cnonce, sizeof(cnonce)) || !*cnonce)
		return AUTH_FAIL;
	snprintf(s->client_first_bare, sizeof(s->client_first_bare), "%s", bare);
	load_credentials(s);
	randombytes_buf(ours, sizeof(ours));
	b64_encode(ours, sizeof(ours), ours64, sizeof(ours64));
	b64_encode(s->cred.salt, STORE_SCRAM_SALT_LEN, salt64, sizeof(salt64));
	n = snprintf(s->nonce, sizeof(s->nonce), "%s%s", cnonce, ours64);
	if (n < 0 || (size_t)n >= sizeof(s->nonce))
		return AUTH_FAIL;
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce, salt64,
		     s->cred.iterations);
	if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n > AUTH_DATA_MAX)
		return AUTH_FAIL;
	memcpy(out, s->server_first, (size_t)n);
	*out_len = (size_t)n;
	s->phase = WANT_CLIENT_FINAL;
	return AUTH_CONTINUE;
}

static enum auth_result client_final(struct scram_state *s, const char *msg, char *out,
				     size_t *out_len)
{
	char cbind[32], expect_cbind[32], nonce[MSG_MAX], proof64[128], auth_msg[3 * MSG_MAX];
	uint8_t proof[64], client_sig[32], client_key[32], stored[32], server_sig[32];
	size_t proof_len;
	const char *p_attr = strstr(msg, ",p=");
	int n;
	bool ok;

	if (!p_attr || !attr(msg, 'c', cbind, sizeof(cbind)) || !attr(msg, 'r', nonce, sizeof(nonce)) ||
	    !attr(p_attr + 1, 'p', proof64, sizeof(proof64)))
		return AUTH_FAIL;
	b64_encode((const uint8_t *)s->gs2, strlen(s->gs2), expect_cbind, sizeof(expect_cbind));
	if (strcmp(cbind, expect_cbind) != 0 || strcmp(nonce, s->nonce) != 0)
		return AUTH_FAIL;
	if (sodium_base642bin(proof, sizeof(proof), proof64, strlen(proof64), NULL, &proof_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    proof_len != 32)
		return AUTH_FAIL;
	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	n = snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%.*s", s->client_first_bare, s->server_first,
		     (int)(p_attr - msg), msg);
	if (n < 0 || (size_t)n >= sizeof(auth_msg))
		return AUTH_FAIL;
	hmac(s->cred.stored_key, 32, auth_msg, (size_t)n, client_sig);
	for (int k = 0; k < 32; k++)
		client_key[k] = proof[k] ^ client_sig[k];
	crypto_hash_sha256(stored, client_key, 32);
	ok = s->known && sodium_memcmp(stored, s->cred.stored_key, 32) == 0;
	log_info("SCRAM-SHA-256 login as '%s': %s", s->name, ok ? "accepted" : "refused");
	if (!ok)
		return AUTH_FAIL;
	hmac(s->cred.server_key, 32, auth_msg, (size_t)n, server_sig);
	memcpy(out, "v=", 2);
	b64_encode(server_sig, 32, out + 2, AUTH_DATA_MAX - 2);
	*out_len = strlen(out);
	s->phase = DONE;
	return AUTH_SUCCESS;
}

static enum auth_result scram_step(void *state, const uint8_t *in, size_t in_len, uint8_t *out,
				   size_t *out_len)
{
	struct scram_state *s = state;
	char msg[MSG_MAX];

	*out_len = 0;
	if (!in || in_len == 0 || in_len >= sizeof(msg) || memchr(in, 0, in_len))
		return AUTH_FAIL;
	memcpy(msg, in, in_len);
	msg[in_len] = '\0';
	switch (s->phase) {
	case WANT_CLIENT_FIRST:
		return client_first(s, msg, (char *)out, out_len);
	case WANT_CLIENT_FINAL:
		return client_final(s, msg, (char *)out, out_len);
	case DONE:
		break;
	}
	return AUTH_FAIL;
}

void scram_mechanism_init(struct scram_mechanism *sm, struct store *st)
{
	memset(sm, 0, sizeof(*sm));
	sm->m.name = "SCRAM-SHA-256";
	sm->m.start = scram_start;
	sm->m.step = scram_step;
	sm->m.end = scram_end;
	sm->m.identity = scram_identity;
	sm->store = st;
	randombytes_buf(sm->secret, sizeof(sm->secret));
}
