/*
 * access.c - the visibility rule of agora/users (see access.h).
 *
 * The topics the rule knows are agora/users/{name}/{leaf}. A filter is
 * judged by whether it can match one of them that the account may read,
 * level by level and with no list of users: a status of any name, or the
 * account's own inbox.
 */
#include "access.h"

#include <string.h>
#include <strings.h>

#define PREFIX_LEN (sizeof(ACCESS_PREFIX) - 1)

enum kind {
	KIND_OUTSIDE, /* not under the prefix: the rule does not apply */
	KIND_STATUS,
	KIND_INBOX,
	KIND_NONE,    /* under the prefix, but no topic the rule knows */
};

static bool under_prefix(const uint8_t *t, size_t len)
{
	return len >= PREFIX_LEN && memcmp(t, ACCESS_PREFIX, PREFIX_LEN) == 0 &&
	       (len == PREFIX_LEN || t[PREFIX_LEN] == '/');
}

static bool bytes_are(const uint8_t *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* Names compare as the REST API compares them: ASCII case ignored. */
static bool name_is(const uint8_t *s, size_t len, const char *account)
{
	return len == strlen(account) && strncasecmp((const char *)s, account, len) == 0;
}

/* What the topic is; {name} in *name, *name_len for a status or an inbox. */
static enum kind classify(const uint8_t *t, size_t len, const uint8_t **name, size_t *name_len)
{
	const uint8_t *rest, *slash;
	size_t rest_len;

	if (!under_prefix(t, len))
		return KIND_OUTSIDE;
	if (len <= PREFIX_LEN + 1)
		return KIND_NONE; /* "agora/users" or "agora/users/" */
	rest = t + PREFIX_LEN + 1;
	rest_len = len - PREFIX_LEN - 1;
	slash = memchr(rest, '/', rest_len);
	if (!slash || slash == rest)
		return KIND_NONE;
	*name = rest;
	*name_len = (size_t)(slash - rest);
	rest_len -= *name_len + 1;
	if (bytes_are(slash + 1, rest_len, "status"))
		return KIND_STATUS;
	if (bytes_are(slash + 1, rest_len, "inbox"))
		return KIND_INBOX;
	return KIND_NONE; /* another leaf, or deeper */
}

bool access_may_read(const char *account, const uint8_t *topic, size_t len)
{
	const uint8_t *name = NULL;
	size_t name_len = 0;

	switch (classify(topic, len, &name, &name_len)) {
	case KIND_OUTSIDE:
	case KIND_STATUS: return true;
	case KIND_INBOX: return account && name_is(name, name_len, account);
	case KIND_NONE: break;
	}
	return false;
}

/* Level i of {name}/{leaf} in a filter: owner NULL stands for any name
 * (statuses), else for that one name (an inbox). */
static bool level_matches(const uint8_t *l, size_t n, int i, const char *owner, const char *leaf)
{
	if (n == 1 && l[0] == '+')
		return true;
	if (i == 1)
		return bytes_are(l, n, leaf);
	return owner ? name_is(l, n, owner) : n > 0; /* names are never empty */
}

/* Whether the levels of a filter after "agora/users/" can match some
 * {name}/{leaf} (see level_matches for owner). */
static bool rest_reaches(const uint8_t *f, size_t len, const char *owner, const char *leaf)
{
	const uint8_t *end = f + len, *level = f;

	for (int i = 0;; i++) {
		const uint8_t *slash = memchr(level, '/', (size_t)(end - level));
		size_t n = slash ? (size_t)(slash - level) : (size_t)(end - level);

		/* '#' matches the levels left, and its parent level too
		 * (4.7.1.2): "agora/users/bob/status/#" reaches the status. */
		if (n == 1 && level[0] == '#')
			return true;
		if (i == 2 || !level_matches(level, n, i, owner, leaf))
			return false;
		if (!slash)
			return i == 1;
		level = slash + 1;
	}
}

bool access_may_subscribe(const char *account, const uint8_t *filter, size_t len)
{
	const uint8_t *rest;
	size_t rest_len;

	if (!under_prefix(filter, len))
		return true; /* "#", "agora/#", "+/users/+/inbox": filtered per delivery */
	if (len <= PREFIX_LEN + 1)
		return false; /* "agora/users", "agora/users/": nothing to read there */
	rest = filter + PREFIX_LEN + 1;
	rest_len = len - PREFIX_LEN - 1;
	return rest_reaches(rest, rest_len, NULL, "status") ||
	       (account && rest_reaches(rest, rest_len, account, "inbox"));
}

bool access_may_publish(const char *account, const uint8_t *topic, size_t len)
{
	(void)account; /* the server writes every status and inbox message itself */
	return !under_prefix(topic, len);
}

bool access_inbox_write(const char *account, const uint8_t *topic, size_t len,
			const uint8_t **to, size_t *to_len)
{
	return account && classify(topic, len, to, to_len) == KIND_INBOX;
}
