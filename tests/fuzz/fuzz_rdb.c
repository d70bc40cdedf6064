/*
 * fuzz_rdb.c - libFuzzer target for the RDB check a backup runs on each
 * file (sp_rdb_check_file): header, EOF opcode, CRC-64 trailer. Any file
 * is accepted or refused with SP_ERR_PROTOCOL naming it.
 */
#include "ops/rdb.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("dump.rdb", data, size);
	sp_rdb_info info;
	sp_error err;
	sp_err rc;

	sp_error_clear(&err);
	rc = sp_rdb_check_file(path, &info, &err);
	if (info.bytes != (long long)size ||
	    (rc != SP_OK &&
	     (rc != SP_ERR_PROTOCOL || strstr(err.msg, path) == NULL)) ||
	    (rc == SP_OK && (info.version < 0 || info.version > 9999)))
		abort();
	return 0;
}
