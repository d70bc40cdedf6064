/*
 * files.c - mkdir -p.
 */
#include "base/files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
