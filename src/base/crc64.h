/*
 * crc64.h - the CRC-64 that Redis puts at the end of every RDB file.
 *
 * Jones polynomial (0xad93d23594c935a9), reflected input and output,
 * initial value 0, no final xor: crc64("123456789") = 0xe9c6d914c4b8d9ca,
 * the test vector of Redis's own src/crc64.c. Written by hand (a 256-entry
 * table) because no Debian library offers this variant.
 */
#ifndef SP_CRC64_H
#define SP_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes of buf; start with crc = 0. */
uint64_t sp_crc64(uint64_t crc, const void *buf, size_t len);

/* The same, one bit at a time from the polynomial: slow, for tests that
 * check the table against its definition. */
uint64_t sp_crc64_bitwise(uint64_t crc, const void *buf, size_t len);

#endif
