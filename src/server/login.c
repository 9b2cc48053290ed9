/* login.c - see login.h. */
#include "login.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/text.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 63 /* an account name (32 characters) fits */

static void login_free(struct account_login *l)
{
	if (l->password) {
		sodium_memzero(l->password, l->password_len);
		free(l->password);
	}
	free(l);
}

static void login_work(uv_work_t *req)
{
	struct account_login *l = req->data;

	/* argon2id: tens of milliseconds, so never on the event loop */
	l->ok = l->by_token || (l->proven && l->known) ||
		(l->known && api_password_verify(l->hash, l->password, l->password_len));
}

static void login_after(uv_work_t *req, int status)
{
	struct account_login *l = req->data;
	struct store_user u = { 0 };
	bool ok = l->ok && status == 0;

	if (l->ctx) {
		if (ok && store_user_by_id(l->api->store, l->id, &u) != 0)
			ok = false; /* deleted meanwhile */
		l->done(l->ctx, l, ok ? &u : NULL);
	}
	store_user_release(&u);
	login_free(l);
}

/* The name for the log: what a client typed, cut, control bytes out. */
static void log_name(struct account_login *l, const uint8_t *name, size_t len)
{
	size_t n = len <= NAME_MAX_BYTES ? len : text_utf8_cut((const char *)name, len, 32);

	snprintf(l->name, sizeof(l->name), "%.*s%s", (int)n, (const char *)name,
		 n < len ? "..." : "");
	for (char *s = l->name; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			*s = '?';
}

/* Whether the password is an API token of the account the name names. */
static bool is_token(const struct account_login *l)
{
	int64_t owner;

	return l->known && l->password_len &&
	       api_token_user(l->api, l->password, l->password_len, &owner) == 0 &&
	       owner == l->id;
}

/* A new check of name: whether it is an account's (and its hash). */
static struct account_login *login_new(struct api *api, const uint8_t *name, size_t name_len,
				       account_login_fn done, void *ctx)
{
	struct account_login *l = xcalloc(1, sizeof(*l));

	l->api = api;
	l->done = done;
	l->ctx = ctx;
	l->req.data = l;
	if (name_len > 0 && name_len <= NAME_MAX_BYTES && !memchr(name, 0, name_len)) {
		char key[NAME_MAX_BYTES + 1];

		memcpy(key, name, name_len);
		key[name_len] = '\0';
		l->known = store_user_password(api->store, key, &l->id, l->hash,
					       sizeof(l->hash)) == 0;
	}
	log_name(l, name, name_len);
	return l;
}

struct account_login *account_login_proven(uv_loop_t *loop, struct api *api, const char *name,
					   account_login_fn done, void *ctx)
{
	struct account_login *l = login_new(api, (const uint8_t *)name, strlen(name), done, ctx);

	l->proven = true;
	uv_queue_work(loop, &l->req, login_work, login_after);
	return l;
}

struct account_login *account_login_start(uv_loop_t *loop, struct api *api, const uint8_t *name,
					  size_t name_len, const uint8_t *password,
					  size_t password_len, account_login_fn done, void *ctx)
{
	struct account_login *l = login_new(api, name, name_len, done, ctx);

	l->password = xmalloc(password_len + 1);
	if (password_len)
		memcpy(l->password, password, password_len);
	l->password_len = password ? password_len : 0;
	l->by_token = is_token(l);
	uv_queue_work(loop, &l->req, login_work, login_after);
	return l;
}

void account_login_cancel(struct account_login *l)
{
	if (l)
		l->ctx = NULL;
}
