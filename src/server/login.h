/*
 * login.h - an account's name and password checked off the event loop:
 * one implementation for every protocol that logs in with them (MQTT's
 * CONNECT in bridge.c, the poll line protocol's LOGIN in poll_service.c).
 *
 * argon2id takes tens of milliseconds, so the password is verified on
 * libuv's thread pool. The password may also be one of the account's API
 * tokens (docs/api.md, "Logging in"): a token is checked on the loop (a
 * hash and an indexed read) and argon2id is skipped, but the check still
 * ends through the pool, so both kinds finish the same way. Another
 * account's token, or a revoked one, is refused as the wrong password it
 * is.
 */
#ifndef AGORA_SERVER_LOGIN_H
#define AGORA_SERVER_LOGIN_H

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api;
struct store_user;
struct account_login;

/* The verdict, on the loop: u is the account (as stored now) when the
 * login is accepted, NULL when refused (an account deleted meanwhile is
 * refused). l is valid during the call only (freed after). */
typedef void (*account_login_fn)(void *ctx, const struct account_login *l,
				 const struct store_user *u);

struct account_login {
	uv_work_t req;
	struct api *api;
	account_login_fn done;
	void *ctx;             /* NULL once cancelled: done is not called */
	char name[68];         /* as given, for the log: cut, control bytes as '?' */
	char hash[256];
	uint8_t *password;
	size_t password_len;
	int64_t id;            /* the account's, when known */
	bool known;            /* a name of an account */
	bool ok;
	bool by_token;         /* the password is an API token of the account */
	bool proven;           /* the name was proven otherwise: no password (a TLS
				* client certificate's, account_login_proven) */
};

/* Starts a check (never fails): name and password as the client sent them
 * (a name that is empty, too long or holds a NUL is no account). */
struct account_login *account_login_start(uv_loop_t *loop, struct api *api, const uint8_t *name,
					  size_t name_len, const uint8_t *password,
					  size_t password_len, account_login_fn done, void *ctx);
/* The same for a name the transport proved (use_identity_as_username:
 * its TLS client certificate's): accepted when it is an account's name
 * (ASCII case ignored, as for a password login; done gets the account's
 * spelling), with no password. It still ends through the pool, so done
 * never comes before this returns. */
struct account_login *account_login_proven(uv_loop_t *loop, struct api *api, const char *name,
					   account_login_fn done, void *ctx);
/* The client is gone: done will not be called; the job frees itself. */
void account_login_cancel(struct account_login *l);

#endif
