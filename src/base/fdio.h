/*
 * fdio.h - writing a whole buffer to a blocking file descriptor (a file,
 * stdout), the loop every such write needs.
 */
#ifndef AGORA_FDIO_H
#define AGORA_FDIO_H

#include <stddef.h>

/* Writes all len bytes, again after EINTR and short writes. 0, or -1 with
 * errno set (a write of 0 bytes counts as a failure: the file is full). */
int fd_write_all(int fd, const void *data, size_t len);

#endif
