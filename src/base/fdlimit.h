/*
 * fdlimit.h - open-file limit of the process: a broker or load generator
 * holding tens of thousands of connections needs one descriptor each.
 */
#ifndef AGORA_FDLIMIT_H
#define AGORA_FDLIMIT_H

#include <stdint.h>

/* Raises the soft limit to at least `wanted` descriptors: first within the
 * hard limit, then (where the process may, as root can) the hard limit
 * itself, up to the kernel's fs.nr_open. Returns the soft limit now in
 * force. */
uint64_t fdlimit_raise(uint64_t wanted);

#endif
