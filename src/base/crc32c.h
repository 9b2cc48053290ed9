/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as in
 * iSCSI, ext4 and LevelDB: the checksum of the broker log's batches.
 * Pure: no state beyond a table built at compile time or on first use.
 */
#ifndef AGORA_CRC32C_H
#define AGORA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) with len bytes. crc32c(0, "123456789", 9) is
 * 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The same with the tables, whatever the processor (tests compare both). */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
