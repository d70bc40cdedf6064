/*
 * keyslot.h - the hash slot of a key, as CLUSTER KEYSLOT computes it.
 *
 * CRC16 (XMODEM: poly 0x1021, init 0, no reflection) of the key, or of the
 * hash tag between the first '{' and the next '}' when that is non-empty,
 * modulo 16384. Keys are binary: a length is always given.
 */
#ifndef SP_KEYSLOT_H
#define SP_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

/* CRC16-XMODEM of len bytes. */
uint16_t sp_crc16(const char *buf, size_t len);

/* The hash slot (0..16383) of a key of len bytes. */
int sp_keyslot(const char *key, size_t len);

#endif
