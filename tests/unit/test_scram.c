/*
 * test_scram.c - SCRAM-SHA-256 (src/server/scram.c): the key derivation
 * against RFC 7677's example, and whole exchanges through the mechanism
 * over an in-memory store, with a client written here from the RFC.
 */
#include "helpers.h"

#include "server/scram.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
}

static void b64(const uint8_t *bin, size_t len, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

/* RFC 7677 section 3: user "user", password "pencil". */
static void test_rfc7677_server_signature(void **state)
{
	static const char auth_msg[] =
		"n=user,r=rOprNGfwEbeRWgbNEkqO,"
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	uint8_t salt[16], sig[32];
	size_t salt_len;
	struct store_scram cred;
	char sig64[64];

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(sodium_base642bin(salt, sizeof(salt), "W22ZaJ0SNY7soEsUEjb6gQ==", 24, NULL,
					   &salt_len, NULL, sodium_base64_VARIANT_ORIGINAL),
			 0);
	scram_derive("pencil", 6, salt, salt_len, 4096, &cred);
	hmac(cred.server_key, 32, auth_msg, sig);
	b64(sig, 32, sig64, sizeof(sig64));
	assert_string_equal(sig64, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

struct fixture {
	struct store *st;
	struct scram_mechanism sm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_user u;
	struct store_scram cred;
	char err[128];

	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(store_open(":memory:", STORE_SYNC_NORMAL, &f->st, err, sizeof(err)), 0);
	assert_int_equal(store_user_create(f->st, "Alice", "unused-hash", 1, &u), 0);
	scram_credentials("correct horse", 13, &cred);
	assert_int_equal(store_user_set_scram(f->st, u.id, &cred), 0);
	store_user_release(&u);
	scram_mechanism_init(&f->sm, f->st);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_free(f->st);
	free(f);
	return 0;
}

/* Runs a client exchange as `user` with `password`; returns the result of
 * the final step; *identity gets what the mechanism reports. */
static enum auth_result exchange(struct fixture *f, const char *user, const char *password,
				 const char **identity, bool tamper_nonce)
{
	const struct auth_mechanism *m = &f->sm.m;
	void *st = m->start(m, (const uint8_t *)"cid", 3);
	char first[128], final[512], auth_msg[2048], proof64[64], nonce[256], salt64[64];
	uint8_t out[AUTH_DATA_MAX + 1], salt[32], proof[32], client_key[32], stored[32], sig[32];
	size_t out_len, salt_len;
	struct store_scram mine;
	unsigned iterations;
	enum auth_result r;
	char *server_first;
	const char *p;

	snprintf(first, sizeof(first), "n,,n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user);
	r = m->step(st, (const uint8_t *)first, strlen(first), out, &out_len);
	assert_int_equal(r, AUTH_CONTINUE);
	out[out_len] = '\0';
	server_first = (char *)out;
	assert_int_equal(sscanf(server_first, "r=%255[^,],s=%63[^,],i=%u", nonce, salt64,
				&iterations),
			 3);
	assert_int_equal(strncmp(nonce, "fyko+d2lbbFgONRv9qkxdawL", 24), 0); /* ours, extended */
	assert_true(strlen(nonce) > 24);
	assert_int_equal(sodium_base642bin(salt, sizeof(salt), salt64, strlen(salt64), NULL,
					   &salt_len, NULL, sodium_base64_VARIANT_ORIGINAL),
			 0);
	/* The client side of RFC 5802: ClientProof = ClientKey XOR
	 * HMAC(StoredKey, AuthMessage). */
	scram_derive(password, strlen(password), salt, salt_len, iterations, &mine);
	{
		uint8_t salted_ck[32];
		/* ClientKey is not kept by scram_derive: recompute it from the
		 * salted password the same way the server did. */
		crypto_auth_hmacsha256_state hs;
		uint8_t u[32], salted[32], blk[20];

		memcpy(blk, salt, salt_len);
		memcpy(blk + salt_len, "\0\0\0\1", 4);
		crypto_auth_hmacsha256_init(&hs, (const uint8_t *)password, strlen(password));
		crypto_auth_hmacsha256_update(&hs, blk, salt_len + 4);
		crypto_auth_hmacsha256_final(&hs, u);
		memcpy(salted, u, 32);
		for (unsigned i = 1; i < iterations; i++) {
			crypto_auth_hmacsha256_init(&hs, (const uint8_t *)password, strlen(password));
			crypto_auth_hmacsha256_update(&hs, u, 32);
			crypto_auth_hmacsha256_final(&hs, u);
			for (int k = 0; k < 32; k++)
				salted[k] ^= u[k];
		}
		hmac(salted, 32, "Client Key", salted_ck);
		memcpy(client_key, salted_ck, 32);
	}
	crypto_hash_sha256(stored, client_key, 32);
	assert_memory_equal(stored, mine.stored_key, 32);
	snprintf(auth_msg, sizeof(auth_msg), "n=%s,r=fyko+d2lbbFgONRv9qkxdawL,%s,c=biws,r=%s%s",
		 user, server_first, nonce, tamper_nonce ? "x" : "");
	hmac(mine.stored_key, 32, auth_msg, sig);
	for (int k = 0; k < 32; k++)
		proof[k] = client_key[k] ^ sig[k];
	b64(proof, 32, proof64, sizeof(proof64));
	snprintf(final, sizeof(final), "c=biws,r=%s%s,p=%s", nonce, tamper_nonce ? "x" : "", proof64);
	r = m->step(st, (const uint8_t *)final, strlen(final), out, &out_len);
	if (r == AUTH_SUCCESS) {
		char want[64] = "v=";

		hmac(mine.server_key, 32, auth_msg, sig);
		b64(sig, 32, want + 2, sizeof(want) - 2);
		out[out_len] = '\0';
		assert_string_equal((char *)out, want); /* the server proves itself */
	}
	p = m->identity(st);
	*identity = p ? strdup(p) : NULL;
	m->end(st);
	return r;
}

static void test_exchange_succeeds(void **state)
{
	const char *who;

	assert_int_equal(exchange(*state, "alice", "correct horse", &who, false), AUTH_SUCCESS);
	assert_string_equal(who, "Alice"); /* the account's own spelling */
	free((char *)who);
}

static void test_wrong_password_fails(void **state)
{
	const char *who;

	assert_int_equal(exchange(*state, "alice", "wrong horse", &who, false), AUTH_FAIL);
	assert_null(who);
}

static void test_unknown_user_fails_at_the_proof(void **state)
{
	const char *who;

	/* the first step continues like a real user (no enumeration) */
	assert_int_equal(exchange(*state, "mallory", "anything", &who, false), AUTH_FAIL);
	assert_null(who);
}

static void test_nonce_must_match(void **state)
{
	const char *who;

	assert_int_equal(exchange(*state, "alice", "correct horse", &who, true), AUTH_FAIL);
	assert_null(who);
}

static void test_malformed_first_message(void **state)
{
	struct fixture *f = *state;
	const struct auth_mechanism *m = &f->sm.m;
	static const char *const bad[] = {
		"",	       "p=tls-unique,,n=alice,r=abc", "n,,r=abc", "n,,n=alice",
		"n,,n=al=ZZice,r=abc", "x,,n=alice,r=abc",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *st = m->start(m, NULL, 0);
		uint8_t out[AUTH_DATA_MAX];
		size_t out_len;

		assert_int_equal(m->step(st, (const uint8_t *)bad[i], strlen(bad[i]), out, &out_len),
				 AUTH_FAIL);
		m->end(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_server_signature),
		cmocka_unit_test_setup_teardown(test_exchange_succeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_fails_at_the_proof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonce_must_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_first_message, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
