/*
 * rdb.h - the check of one RDB file (header, EOF opcode, CRC-64 trailer),
 * as a backup writes and verifies it.
 */
#ifndef SP_RDB_H
#define SP_RDB_H

#include <stdint.h>

#include "base/error.h"

/* What checking one RDB file found. */
typedef struct sp_rdb_info {
	int version;	  /* the 4 digits after "REDIS" */
	long long bytes;  /* file size */
	uint64_t trailer; /* the CRC-64 stored in its last 8 bytes */
	/* CRC-64 of everything before the trailer: the manifest's "crc64"
	 * (equal to the trailer when checksums are on) */
	uint64_t computed;
	int checksum_off; /* the trailer is 0: saved with rdbchecksum no */
} sp_rdb_info;

/*
 * Checks the RDB file at path: "REDIS" and a 4-digit version, the EOF
 * opcode (0xFF) before an 8-byte little-endian CRC-64 trailer that
 * matches the content (a trailer of 0 means checksums were off: accepted,
 * with checksum_off set). Fills *info (as far as it got) in every case.
 * SP_ERR_PROTOCOL naming the file and what is wrong; SP_ERR_SYSTEM when
 * it cannot be read.
 */
sp_err sp_rdb_check_file(const char *path, sp_rdb_info *info, sp_error *err);

#endif
