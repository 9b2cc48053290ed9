/*
 * tree.h - topic trie, one node per topic level.
 *
 * Two instances live in a broker: the subscription tree (filters, whose
 * levels may be "+" or "#") and the retained tree (topic names). Matching a
 * topic visits at most the nodes along its levels plus the "+" and "#"
 * branches beside them, so its cost grows with the topic's depth, not with
 * the number of subscriptions.
 *
 * Ownership: nodes belong to the tree. A node's subs array holds pointers to
 * struct sub owned by the session that subscribed; its retained message is
 * one reference owned by the node.
 */
#ifndef AGORA_TREE_H
#define AGORA_TREE_H

#include "base/hmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct msg;

/* One subscription: a session, the filter's node and the granted QoS. */
struct sub {
	struct session *session;
	struct tnode *node;
	uint32_t node_idx; /* position in node->subs, for O(1) removal */
	uint32_t sub_id;   /* MQTT 5 subscription identifier, 0 = none */
	uint8_t qos;
	uint8_t options;   /* MQTT 5 options: MQTT_SUBOPT_NO_LOCAL, ..._RETAIN_AS_PUBLISHED */
	struct share_group *group; /* member of a shared subscription, or NULL */
};

struct tnode {
	struct tnode *parent;
	struct hmap children;  /* literal levels */
	struct tnode *last;    /* the literal child found last: a topic published
				* again and again skips the hashing */
	struct tnode *plus;    /* "+" child */
	struct tnode *hash;    /* "#" child */
	struct sub **subs;
	uint32_t nsubs, subs_cap;
	struct msg *retained;
	uint16_t level_len;
	char level[];          /* not NUL-terminated */
};

struct tnode *tree_new_root(void);
/* Frees the whole tree, dropping retained references (subs are not freed). */
void tree_free(struct tnode *root);

/* The node for a topic or filter, created when create is true (else NULL if
 * absent). */
struct tnode *tree_lookup(struct tnode *root, const uint8_t *path, size_t len, bool create);
/* Removes n and its ancestors while they hold nothing. */
void tree_prune(struct tnode *n);

void tree_add_sub(struct tnode *n, struct sub *s);
void tree_remove_sub(struct sub *s);

/* The topic or filter node n stands for: its length, and writing it into
 * out (tree_filter_len bytes, not NUL-terminated). */
size_t tree_filter_len(const struct tnode *n);
size_t tree_filter_write(const struct tnode *n, uint8_t *out);

typedef void (*tree_sub_fn)(void *ctx, struct sub *s);
typedef void (*tree_msg_fn)(void *ctx, struct msg *m);

/* Calls fn for every subscription whose filter matches the topic name
 * (a session may come up several times, once per matching filter). */
void tree_match(struct tnode *root, const uint8_t *topic, size_t len, tree_sub_fn fn, void *ctx);
/* Calls fn for every retained message whose topic matches the filter. */
void tree_match_retained(struct tnode *root, const uint8_t *filter, size_t len, tree_msg_fn fn,
			 void *ctx);
/* Calls fn for every retained message, '$' topics included. */
void tree_walk_retained(struct tnode *root, tree_msg_fn fn, void *ctx);

#endif
