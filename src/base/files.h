/*
 * files.h - the few file-system helpers slotpilot needs.
 */
#ifndef SP_FILES_H
#define SP_FILES_H

#include "base/error.h"

/* Creates path and its missing parents (mode 0755), like mkdir -p. */
sp_err sp_mkdirs(const char *path, sp_error *err);

/*
 * Replaces path with data[0..len-1] so that a crash at any moment leaves
 * either the old file or the new one, complete, and the new one stays
 * after a power loss: writes path.tmp (mode 0600: state files, plans and
 * manifests are private), fsyncs it, renames it over path, fsyncs the
 * directory. On error path is untouched, path.tmp removed, and the message
 * names the step and path (SP_ERR_SYSTEM).
 */
sp_err sp_file_replace(const char *path, const char *data, size_t len,
		       sp_error *err);

#endif
