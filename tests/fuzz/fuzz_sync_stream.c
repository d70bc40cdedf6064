/*
 * fuzz_sync_stream.c - libFuzzer target for the backup's reading of a
 * SYNC answer: keep-alive newlines, "$<len>" or "$EOF:<mark>" (diskless),
 * then the payload; the input plays the node, over a socketpair whose far
 * end is closed after it. What was streamed is then put through the RDB
 * check, as a backup does. Includes backup.c to reach its statics.
 */
#include "ops/backup.c"

#include <sys/socket.h>

#include "fuzz.h"

/* At most what one socketpair buffers, so the writer never blocks. */
#define FUZZ_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("stream.rdb", NULL, 0);
	sp_conn *c = NULL;
	sp_rdb_info info;
	sp_error err;
	int sv[2], fd;

	if (size > FUZZ_MAX || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	/* the connection owns sv[0] from here (sp_conn_close closes it) */
	if (sp_conn_adopt(sv[0], "127.0.0.1:7000", NULL, &c, NULL) != SP_OK)
		abort();
	if ((fd = open(path, O_WRONLY | O_TRUNC)) < 0)
		abort();
	sp_error_clear(&err);
	if (stream_rdb(c, fd, path, &err) == SP_OK)
		sp_rdb_check_file(path, &info, &err);
	else if (err.msg[0] == '\0')
		abort();
	close(fd);
	sp_conn_close(c);
	close(sv[1]);
	return 0;
}
