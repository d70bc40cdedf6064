/*
 * files.c - mkdir -p, and replacing a file durably (write a temporary,
 * fsync it, rename it over the old one, fsync the directory).
 */
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sp_err sp_mkdirs(const char *path, sp_error *err)
{
	char tmp[1024];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return sp_seterr(err, SP_ERR_USAGE, "path too long: %s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		goto fail;
	return SP_OK;
fail:
	return sp_seterr(err, SP_ERR_SYSTEM, "cannot create %s: %s", tmp,
			 strerror(errno));
}

/* Writes all of data to fd. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsyncs the directory holding path, so that a rename in it lasts. */
static int sync_dir(const char *path)
{
	char dir[1024];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

sp_err sp_file_replace(const char *path, const char *data, size_t len,
		       sp_error *err)
{
	char tmp[1100];
	const char *step = "write";
	int fd = -1, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return sp_seterr(err, SP_ERR_USAGE, "path too long: %s", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
		0 ||
	    write_all(fd, data, len) != 0 || (step = "fsync", fsync(fd)) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if ((step = "rename", rename(tmp, path)) != 0)
		goto fail;
	if (sync_dir(path) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "cannot fsync the directory of %s: %s", path,
				 strerror(errno));
	return SP_OK;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return sp_seterr(err, SP_ERR_SYSTEM, "cannot %s %s: %s", step, path,
			 strerror(saved));
}
