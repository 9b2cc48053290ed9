/*
 * rules_deps.h - the server's struct rules_deps (rules_service.h): what
 * a rule's message and record actions go through, so that they are the
 * same as the API's own writes.
 *
 *   send_message  bridge_rule_message: POST /api/messages's checks, the
 *                 store, the recipient's inbox topic, $events/message,
 *                 all at the action's depth
 *   record        store_record_add on the API's store, at the wall clock
 *
 * Ownership: the deps point at b, which must outlive the rules service.
 */
#ifndef AGORA_RULES_DEPS_H
#define AGORA_RULES_DEPS_H

#include "rules_service.h"

struct bridge;

void rules_deps_init(struct rules_deps *d, struct bridge *b);

#endif
