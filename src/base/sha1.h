/*
 * sha1.h - SHA-1 (RFC 3174), for the WebSocket handshake's
 * Sec-WebSocket-Accept only: libsodium has no SHA-1, and linking OpenSSL's
 * libcrypto for one hash of 60 bytes per upgrade is not worth a dependency.
 * Not for anything that needs a secure hash.
 */
#ifndef AGORA_BASE_SHA1_H
#define AGORA_BASE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

void sha1(const void *data, size_t len, uint8_t out[SHA1_LEN]);

#endif
