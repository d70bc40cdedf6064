/*
 * fuzz.h - what the libFuzzer targets share: the input as a C string, and
 * the input written to a file for the parsers that read a path (journal,
 * plan, state files, RDB). The files live in one temporary directory per
 * process, removed at exit. Header-only: each target is one program.
 */
#ifndef SP_FUZZ_H
#define SP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input with a NUL after it (the caller frees); NULL on OOM. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		if (size > 0)
			memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

static char fuzz_dir_path[64];
static char fuzz_file_path[128];

static inline void fuzz_cleanup(void)
{
	if (fuzz_file_path[0] != '\0')
		unlink(fuzz_file_path);
	if (fuzz_dir_path[0] != '\0')
		rmdir(fuzz_dir_path);
}

/* The temporary directory (made on first use); aborts if it cannot be. */
static inline const char *fuzz_dir(void)
{
	if (fuzz_dir_path[0] == '\0') {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path),
			 "/tmp/sp-fuzz-XXXXXX");
		if (mkdtemp(fuzz_dir_path) == NULL)
			abort();
		atexit(fuzz_cleanup);
	}
	return fuzz_dir_path;
}

/* Writes the input to DIR/name and returns that path; aborts on failure
 * (a harness problem, not a finding). */
static inline const char *fuzz_file(const char *name, const uint8_t *data,
				    size_t size)
{
	FILE *f;

	snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/%s", fuzz_dir(),
		 name);
	if ((f = fopen(fuzz_file_path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	return fuzz_file_path;
}

#endif
