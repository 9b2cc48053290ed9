/* tree.c - the topic trie behind subscriptions and retained messages. */
#include "tree.h"

#include "base/alloc.h"
#include "base/array.h"
#include "msg.h"

#include <stdlib.h>
#include <string.h>

static struct tnode *node_new(struct tnode *parent, const uint8_t *level, size_t len)
{
	struct tnode *n = xcalloc(1, sizeof(*n) + len);

	n->parent = parent;
	n->level_len = (uint16_t)len;
	memcpy(n->level, level, len);
	hmap_init(&n->children);
	return n;
}

struct tnode *tree_new_root(void)
{
	return node_new(NULL, (const uint8_t *)"", 0);
}

static void node_free(struct tnode *n)
{
	void *child;

	for (uint32_t i = 0; hmap_next(&n->children, &i, &child);)
		node_free(child);
	if (n->plus)
		node_free(n->plus);
	if (n->hash)
		node_free(n->hash);
	hmap_release(&n->children);
	msg_unref(n->retained);
	free(n->subs);
	free(n);
}

void tree_free(struct tnode *root)
{
	if (root)
		node_free(root);
}

static size_t level_len(const uint8_t *s, size_t len)
{
	const uint8_t *slash = memchr(s, '/', len);
	return slash ? (size_t)(slash - s) : len;
}

static bool is_wild(const uint8_t *s, size_t len, char c)
{
	return len == 1 && s[0] == (uint8_t)c;
}

/* The literal child named lvl, or NULL; remembered in n->last. */
static inline struct tnode *literal_child(struct tnode *n, const uint8_t *lvl, size_t len)
{
	struct tnode *c = n->last;

	if (c && c->level_len == len && memcmp(c->level, lvl, len) == 0)
		return c;
	if (!n->children.count || !(c = hmap_get(&n->children, lvl, len)))
		return NULL;
	n->last = c;
	return c;
}

static struct tnode *child_get(struct tnode *n, const uint8_t *lvl, size_t len, bool create)
{
	struct tnode **slot = NULL;
	struct tnode *c;

	if (is_wild(lvl, len, '+'))
		slot = &n->plus;
	else if (is_wild(lvl, len, '#'))
		slot = &n->hash;
	if (slot) {
		if (!*slot && create)
			*slot = node_new(n, lvl, len);
		return *slot;
	}
	c = literal_child(n, lvl, len);
	if (!c && create) {
		c = node_new(n, lvl, len);
		hmap_put(&n->children, c->level, len, c);
	}
	return c;
}

struct tnode *tree_lookup(struct tnode *root, const uint8_t *path, size_t len, bool create)
{
	struct tnode *n = root;
	size_t pos = 0;

	for (;;) {
		size_t l = level_len(path + pos, len - pos);
		n = child_get(n, path + pos, l, create);
		if (!n)
			return NULL;
		pos += l + 1;
		if (pos > len)
			return n;
	}
}

static bool node_empty(const struct tnode *n)
{
	return !n->nsubs && !n->retained && !n->children.count && !n->plus && !n->hash;
}

void tree_prune(struct tnode *n)
{
	while (n && n->parent && node_empty(n)) {
		struct tnode *p = n->parent;

		if (p->plus == n)
			p->plus = NULL;
		else if (p->hash == n)
			p->hash = NULL;
		else
			hmap_del(&p->children, n->level, n->level_len);
		if (p->last == n)
			p->last = NULL;
		hmap_release(&n->children);
		free(n->subs);
		free(n);
		n = p;
	}
}

void tree_add_sub(struct tnode *n, struct sub *s)
{
	ARRAY_GROW(n->subs, n->subs_cap, n->nsubs + 1, 2, ARRAY_MAX);
	s->node = n;
	s->node_idx = n->nsubs;
	n->subs[n->nsubs++] = s;
}

void tree_remove_sub(struct sub *s)
{
	struct tnode *n = s->node;
	struct sub *last = n->subs[--n->nsubs];

	/* Swap the last subscription into the hole. */
	n->subs[s->node_idx] = last;
	last->node_idx = s->node_idx;
	if (!n->nsubs) {
		free(n->subs);
		n->subs = NULL;
		n->subs_cap = 0;
	}
	s->node = NULL;
}

static void emit_subs(const struct tnode *n, tree_sub_fn fn, void *ctx)
{
	for (uint32_t i = 0; i < n->nsubs; i++)
		fn(ctx, n->subs[i]);
}

/* n matched the levels before t; t/len is the rest, done when none is left. */
static void match_from(struct tnode *n, const uint8_t *t, size_t len, bool done, tree_sub_fn fn,
		       void *ctx)
{
	size_t l;
	bool next_done;
	const uint8_t *next;
	size_t next_len;
	struct tnode *c;

	if (done) {
		emit_subs(n, fn, ctx);
		if (n->hash) /* "a/#" also matches "a" */
			emit_subs(n->hash, fn, ctx);
		return;
	}
	l = level_len(t, len);
	next_done = l == len;
	next = next_done ? t + len : t + l + 1;
	next_len = next_done ? 0 : len - l - 1;
	if ((c = literal_child(n, t, l)))
		match_from(c, next, next_len, next_done, fn, ctx);
	if (n->plus)
		match_from(n->plus, next, next_len, next_done, fn, ctx);
	if (n->hash)
		emit_subs(n->hash, fn, ctx);
}

void tree_match(struct tnode *root, const uint8_t *topic, size_t len, tree_sub_fn fn, void *ctx)
{
	size_t l = level_len(topic, len);
	bool done = l == len;
	const uint8_t *next = done ? topic + len : topic + l + 1;
	size_t next_len = done ? 0 : len - l - 1;
	struct tnode *c = literal_child(root, topic, l);

	if (c)
		match_from(c, next, next_len, done, fn, ctx);
	/* [MQTT-4.7.2-1] wildcards in the first level never match "$..." */
	if (len && topic[0] == '$')
		return;
	if (root->plus)
		match_from(root->plus, next, next_len, done, fn, ctx);
	if (root->hash)
		emit_subs(root->hash, fn, ctx);
}

static void emit_all_retained(struct tnode *n, bool skip_dollar, tree_msg_fn fn, void *ctx)
{
	void *child;

	for (uint32_t i = 0; hmap_next(&n->children, &i, &child);) {
		struct tnode *c = child;
		if (skip_dollar && c->level_len && c->level[0] == '$')
			continue;
		if (c->retained)
			fn(ctx, c->retained);
		emit_all_retained(c, false, fn, ctx);
	}
}

static void retained_from(struct tnode *n, const uint8_t *f, size_t len, bool done,
			  tree_msg_fn fn, void *ctx)
{
	bool root = n->parent == NULL;
	size_t l;
	bool next_done;
	const uint8_t *next;
	size_t next_len;

	if (done) {
		if (n->retained)
			fn(ctx, n->retained);
		return;
	}
	l = level_len(f, len);
	next_done = l == len;
	next = next_done ? f + len : f + l + 1;
	next_len = next_done ? 0 : len - l - 1;
	if (is_wild(f, l, '#')) {
		if (n->retained) /* "a/#" matches "a" itself */
			fn(ctx, n->retained);
		emit_all_retained(n, root, fn, ctx);
	} else if (is_wild(f, l, '+')) {
		void *child;
		for (uint32_t i = 0; hmap_next(&n->children, &i, &child);) {
			struct tnode *c = child;
			if (root && c->level_len && c->level[0] == '$')
				continue;
			retained_from(c, next, next_len, next_done, fn, ctx);
		}
	} else {
		struct tnode *c = hmap_get(&n->children, f, l);
		if (c)
			retained_from(c, next, next_len, next_done, fn, ctx);
	}
}

void tree_match_retained(struct tnode *root, const uint8_t *filter, size_t len, tree_msg_fn fn,
			 void *ctx)
{
	retained_from(root, filter, len, false, fn, ctx);
}

void tree_walk_retained(struct tnode *root, tree_msg_fn fn, void *ctx)
{
	emit_all_retained(root, false, fn, ctx);
}

size_t tree_filter_len(const struct tnode *n)
{
	size_t len = 0;

	for (; n->parent; n = n->parent)
		len += n->level_len + 1u;
	return len ? len - 1 : 0; /* no separator before the first level */
}

size_t tree_filter_write(const struct tnode *n, uint8_t *out)
{
	size_t len = tree_filter_len(n), pos = len;

	for (; n->parent; n = n->parent) {
		pos -= n->level_len;
		memcpy(out + pos, n->level, n->level_len);
		if (pos)
			out[--pos] = '/';
	}
	return len;
}
