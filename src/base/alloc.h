/*
 * alloc.h - allocation that never returns NULL.
 *
 * A broker that runs out of memory cannot keep its promises to clients, so
 * it stops loudly (abort with a message) rather than limping on. Growth of
 * anything a client controls is capped by configured limits before it gets
 * here.
 */
#ifndef AGORA_ALLOC_H
#define AGORA_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Copy of len bytes plus a terminating NUL. */
char *xstrndup(const void *s, size_t len);
char *xstrdup(const char *s);

#endif
