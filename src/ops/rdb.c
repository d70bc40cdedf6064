/*
 * rdb.c - the check of one RDB file: "REDIS" and a 4-digit version, the
 * EOF opcode before the 8-byte trailer, and the CRC-64 of the content
 * against that trailer. Reads the file only; backup.c calls it on what it
 * fetched and on what it verifies.
 */
#include "ops/rdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc64.h"

#define CHUNK (64 * 1024)

/* The 8 bytes at p as a little-endian number. */
static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Header "REDIS" + 4 digits; returns the version or -1. */
static int rdb_version(const unsigned char *h)
{
	int i, v = 0;

	if (memcmp(h, "REDIS", 5) != 0)
		return -1;
	for (i = 5; i < 9; i++) {
		if (h[i] < '0' || h[i] > '9')
			return -1;
		v = v * 10 + (h[i] - '0');
	}
	return v;
}

/* CRC-64 of the content: all but the 8-byte trailer. (A CRC over the
 * whole file would always be 0: a CRC with its own value appended leaves
 * no remainder.) */
static sp_err crc_file(int fd, const char *path, sp_rdb_info *info,
		       sp_error *err)
{
	unsigned char *buf = malloc(CHUNK);
	long long off = 0, body = info->bytes - 8;
	ssize_t n;

	if (buf == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	while ((n = pread(fd, buf, CHUNK, off)) > 0) {
		long long in_body = body - off;
		if (in_body > n)
			in_body = n;
		if (in_body > 0)
			info->computed =
			    sp_crc64(info->computed, buf, (size_t)in_body);
		off += n;
	}
	free(buf);
	if (n < 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot read %s: %s", path,
				 strerror(errno));
	return SP_OK;
}

/* Header, size, EOF opcode and trailer; the CRC when those are sane. */
static sp_err check_fd(int fd, const char *path, sp_rdb_info *info,
		       sp_error *err)
{
	unsigned char head[9], tail[9];
	struct stat st;
	sp_err rc;

	if (fstat(fd, &st) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot stat %s: %s", path,
				 strerror(errno));
	info->bytes = (long long)st.st_size;
	if (info->bytes < 9 || pread(fd, head, 9, 0) != 9 ||
	    (info->version = rdb_version(head)) < 0)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s is not an RDB file: it does not start "
				 "with \"REDIS\" and a 4-digit version",
				 path);
	if ((rc = crc_file(fd, path, info, err)) != SP_OK)
		return rc;
	if (info->bytes < 18 || pread(fd, tail, 9, st.st_size - 9) != 9 ||
	    tail[0] != 0xFF)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s is truncated: %lld bytes, no EOF opcode "
				 "before the checksum trailer",
				 path, info->bytes);
	info->trailer = le64(tail + 1);
	info->checksum_off = info->trailer == 0;
	if (!info->checksum_off && info->trailer != info->computed)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s is corrupted: RDB checksum mismatch "
				 "(trailer %016llx, content %016llx)",
				 path, (unsigned long long)info->trailer,
				 (unsigned long long)info->computed);
	return SP_OK;
}

sp_err sp_rdb_check_file(const char *path, sp_rdb_info *info, sp_error *err)
{
	int fd;
	sp_err rc;

	memset(info, 0, sizeof(*info));
	info->version = -1;
	if ((fd = open(path, O_RDONLY)) < 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot open %s: %s", path,
				 strerror(errno));
	rc = check_fd(fd, path, info, err);
	close(fd);
	return rc;
}
