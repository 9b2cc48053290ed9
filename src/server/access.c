/*
 * access.c - the visibility rule of agora/ (see access.h).
 *
 * The topics the rule knows are agora/{section}/{key}/{leaf}: a section
 * (users, polls), a key (a user's name, a poll's id) and a leaf, each leaf
 * with its readers. A filter is judged by whether it can match one of them
 * that the account may read, level by level and with no list of users or
 * polls: a status or results of any key, or the account's own inbox and
 * notices. Topics of agora/ outside the sections are nobody's concern.
 */
#include "access.h"

#include <string.h>
#include <strings.h>

#define PREFIX_LEN (sizeof(ACCESS_PREFIX) - 1)

enum kind {
	KIND_OUTSIDE, /* not in a section: the rule does not apply */
	KIND_STATUS,
	KIND_INBOX,
	KIND_NOTICES,
	KIND_RESULTS,
	KIND_VOTE,
	KIND_NONE,    /* in a section, but no topic the rule knows */
};

enum readers {
	READ_ALL,    /* every client that may connect */
	READ_OWNER,  /* the account whose name is the key */
	READ_NOBODY,
};

struct leaf {
	const char *name;
	enum kind kind;
	enum readers readers;
};

struct section {
	const char *name;
	const struct leaf *leaves;
	size_t nleaves;
};

static const struct leaf user_leaves[] = {
	{ "status", KIND_STATUS, READ_ALL },
	{ "inbox", KIND_INBOX, READ_OWNER },
	{ "notices", KIND_NOTICES, READ_OWNER },
};

static const struct leaf poll_leaves[] = {
	{ "results", KIND_RESULTS, READ_ALL },
	{ "vote", KIND_VOTE, READ_NOBODY }, /* votes are not public: taken, never routed */
};

static const struct section sections[] = {
	{ "users", user_leaves, sizeof(user_leaves) / sizeof(user_leaves[0]) },
	{ "polls", poll_leaves, sizeof(poll_leaves) / sizeof(poll_leaves[0]) },
};

static const struct leaf outside = { NULL, KIND_OUTSIDE, READ_ALL };
static const struct leaf nothing = { NULL, KIND_NONE, READ_NOBODY };

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

static bool is_wildcard(const uint8_t *l, size_t n)
{
	return n == 1 && (l[0] == '+' || l[0] == '#');
}

/* The level starting at s (up to end): *n gets its length; returns the
 * start of the next level, NULL when it is the last. */
static const uint8_t *split(const uint8_t *s, const uint8_t *end, size_t *n)
{
	const uint8_t *slash = memchr(s, '/', (size_t)(end - s));

	*n = (size_t)((slash ? slash : end) - s);
	return slash ? slash + 1 : NULL;
}

static const struct section *section_named(const uint8_t *l, size_t n)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (bytes_are(l, n, sections[i].name))
			return &sections[i];
	return NULL;
}

static const struct leaf *leaf_named(const struct section *sec, const uint8_t *l, size_t n)
{
	for (size_t i = 0; i < sec->nleaves; i++)
		if (bytes_are(l, n, sec->leaves[i].name))
			return &sec->leaves[i];
	return &nothing;
}

/* What the topic is; its key in *key, *key_len for a topic of a section. */
static const struct leaf *classify(const uint8_t *t, size_t len, const uint8_t **key,
				   size_t *key_len)
{
	const uint8_t *end = t + len, *level, *next;
	const struct section *sec;
	size_t n;

	if (!under_prefix(t, len) || len == PREFIX_LEN)
		return &outside; /* "agora" itself is nobody's concern either */
	next = split(t + PREFIX_LEN + 1, end, &n);
	if (!(sec = section_named(t + PREFIX_LEN + 1, n)))
		return &outside;
	if (!next)
		return &nothing; /* "agora/users" */
	*key = next;
	next = split(next, end, key_len);
	if (!next || *key_len == 0)
		return &nothing; /* "agora/users/bob", "agora/users//inbox" */
	level = next;
	if (split(level, end, &n))
		return &nothing; /* deeper than a leaf */
	return leaf_named(sec, level, n);
}

bool access_may_read(const char *account, const uint8_t *topic, size_t len)
{
	const uint8_t *key = NULL;
	size_t key_len = 0;
	const struct leaf *leaf = classify(topic, len, &key, &key_len);

	switch (leaf->readers) {
	case READ_ALL: return true;
	case READ_OWNER: return account && name_is(key, key_len, account);
	case READ_NOBODY: break;
	}
	return false;
}

/* Level i of {key}/{leaf} in a filter: owner NULL stands for any key,
 * else for that one name (an inbox, notices). */
static bool level_matches(const uint8_t *l, size_t n, int i, const char *owner, const char *leaf)
{
	if (n == 1 && l[0] == '+')
		return true;
	if (i == 1)
		return bytes_are(l, n, leaf);
	return owner ? name_is(l, n, owner) : n > 0; /* keys are never empty */
}

/* Whether the levels of a filter after "agora/{section}/" can match some
 * {key}/{leaf} (see level_matches for owner). */
static bool rest_reaches(const uint8_t *f, size_t len, const char *owner, const char *leaf)
{
	const uint8_t *end = f + len, *level = f;

	for (int i = 0;; i++) {
		size_t n;
		const uint8_t *next = split(level, end, &n);

		/* '#' matches the levels left, and its parent level too
		 * (4.7.1.2): "agora/users/bob/status/#" reaches the status. */
		if (n == 1 && level[0] == '#')
			return true;
		if (i == 2 || !level_matches(level, n, i, owner, leaf))
			return false;
		if (!next)
			return i == 1;
		level = next;
	}
}

/* Whether a filter's levels after "agora/{section}/" can match a topic of
 * the section that account may read. */
static bool section_reaches(const struct section *sec, const char *account, const uint8_t *f,
			    size_t len)
{
	for (size_t i = 0; i < sec->nleaves; i++) {
		const struct leaf *l = &sec->leaves[i];

		if (l->readers == READ_ALL && rest_reaches(f, len, NULL, l->name))
			return true;
		if (l->readers == READ_OWNER && account && rest_reaches(f, len, account, l->name))
			return true;
	}
	return false;
}

bool access_may_subscribe(const char *account, const uint8_t *filter, size_t len)
{
	const uint8_t *end = filter + len, *level, *next;
	const struct section *sec;
	size_t n;

	if (!under_prefix(filter, len) || len == PREFIX_LEN)
		return true; /* "#", "+/users/+/inbox", "agora": filtered per delivery */
	level = filter + PREFIX_LEN + 1;
	next = split(level, end, &n);
	/* "agora/#", "agora/+/bob/inbox", "agora/chat": they reach topics
	 * outside the sections too */
	if (is_wildcard(level, n) || !(sec = section_named(level, n)))
		return true;
	if (!next)
		return false; /* "agora/users": nothing to read there */
	return section_reaches(sec, account, next, (size_t)(end - next));
}

bool access_may_publish(const char *account, const uint8_t *topic, size_t len)
{
	const uint8_t *key;
	size_t key_len;

	(void)account; /* the server writes every status, message, notice and result itself */
	return classify(topic, len, &key, &key_len)->kind == KIND_OUTSIDE;
}

bool access_inbox_write(const char *account, const uint8_t *topic, size_t len,
			const uint8_t **to, size_t *to_len)
{
	return account && classify(topic, len, to, to_len)->kind == KIND_INBOX;
}

bool access_vote_write(const char *account, const uint8_t *topic, size_t len,
		       const uint8_t **id, size_t *id_len)
{
	return account && classify(topic, len, id, id_len)->kind == KIND_VOTE;
}
