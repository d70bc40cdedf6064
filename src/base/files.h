/*
 * files.h - the few file-system helpers slotpilot needs.
 */
#ifndef SP_FILES_H
#define SP_FILES_H

#include "base/error.h"

/* Creates path and its missing parents (mode 0755), like mkdir -p. */
sp_err sp_mkdirs(const char *path, sp_error *err);

#endif
