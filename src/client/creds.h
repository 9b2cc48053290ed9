/*
 * creds.h - the credentials file of `agora login`: which account, with
 * which token, on which server.
 *
 * The file is $XDG_CONFIG_HOME/agora/credentials (~/.config/agora/credentials
 * when XDG_CONFIG_HOME is unset or not an absolute path), mode 0600 in a
 * directory created 0700. It is JSON, one account per server:
 *
 *   {
 *     "accounts": [
 *       {"server": "http://127.0.0.1:8080", "name": "alice", "id": 1,
 *        "token": "2Yp...43 characters of base64url"}
 *     ]
 *   }
 *
 * "server" is the canonical URL (rest_url_canonical); logging in again on a
 * server replaces its entry. Members this version does not know are kept
 * as they are when the file is written again.
 *
 * Conventions: functions return 0, or -1 with a sentence in err (the
 * caller prefixes "agora CMD: "). The in-memory file is a jansson object
 * (the caller json_decref's it); struct creds_account's strings point into
 * it and live as long as it is not changed. creds_parse and creds_format
 * are pure (unit-tested, fuzzed); creds_load and creds_save do the I/O.
 */
#ifndef AGORA_CLIENT_CREDS_H
#define AGORA_CLIENT_CREDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CREDS_FILE_MAX ((size_t)1 << 20) /* bytes */
#define CREDS_ACCOUNTS_MAX 1000
#define CREDS_FIELD_MAX 512 /* bytes of a server URL, name or token */

struct creds_account {
	const char *server;
	const char *name;
	int64_t id;
	const char *token;
};

/* The file's path from the environment (XDG_CONFIG_HOME, HOME). */
int creds_path(char *out, size_t outlen, char *err, size_t errlen);

/* Parses a file's text into *root after checking its shape (an "accounts"
 * array of objects with string server, name and token and an integer id,
 * within the limits above). */
int creds_parse(const char *text, size_t len, json_t **root, char *err, size_t errlen);
/* The text of a file (malloc'd, ends with a newline); NULL when out of memory. */
char *creds_format(const json_t *root);
/* An empty file's object: {"accounts": []}. */
json_t *creds_empty(void);

/* The account kept for a server (a canonical URL): true and *out filled. */
bool creds_get(const json_t *root, const char *server, struct creds_account *out);
/* Adds the account, or replaces the one kept for its server. -1 when the
 * file would hold more than CREDS_ACCOUNTS_MAX accounts. */
int creds_put(json_t *root, const struct creds_account *a);
/* Forgets the server's account; false when there was none. */
bool creds_remove(json_t *root, const char *server);

/* Reads and parses the file; a file that does not exist is an empty one.
 * A file others may read is used, with a warning on stderr. */
int creds_load(const char *path, json_t **root, char *err, size_t errlen);
/* Writes the file whole (a temporary file in the same directory, mode
 * 0600, flushed, then renamed over it), creating missing directories with
 * mode 0700. */
int creds_save(const char *path, const json_t *root, char *err, size_t errlen);

#endif
