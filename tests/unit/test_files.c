/*
 * test_files.c - sp_file_replace: the new content replaces the old one
 * whole, and both the file and its directory are fsynced (counted by
 * wrapping fsync around the included files.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_syncs, dir_syncs;

static int counting_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		dir_syncs++;
	else
		file_syncs++;
	return fsync(fd);
}

#define fsync counting_fsync
#include "base/files.c"
#undef fsync

static int dir_setup(void **state)
{
	char *d = strdup("/tmp/sp-test-files-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	*state = d;
	file_syncs = dir_syncs = 0;
	return 0;
}

static int dir_teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

static void read_back(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_replace_writes_whole_content_and_leaves_no_temp(void **state)
{
	char path[512], tmp[600], buf[64];
	sp_error e = {0};

	snprintf(path, sizeof(path), "%s/expand.state", (char *)*state);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(sp_file_replace(path, "old", 3, &e), SP_OK);
	assert_int_equal(sp_file_replace(path, "{\"done\":true}", 13, &e),
			 SP_OK);
	read_back(path, buf, sizeof(buf));
	assert_string_equal(buf, "{\"done\":true}");
	assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_replace_fsyncs_the_file_and_its_directory(void **state)
{
	char path[512];
	sp_error e = {0};

	snprintf(path, sizeof(path), "%s/manifest.json", (char *)*state);
	assert_int_equal(sp_file_replace(path, "{}", 2, &e), SP_OK);
	assert_int_equal(file_syncs, 1);
	assert_int_equal(dir_syncs, 1);
}

static void test_replace_failure_names_the_path_and_keeps_nothing(void **state)
{
	char path[512];
	sp_error e = {0};

	snprintf(path, sizeof(path), "%s/missing/plan.json", (char *)*state);
	assert_int_equal(sp_file_replace(path, "{}", 2, &e), SP_ERR_SYSTEM);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(file_syncs + dir_syncs, 0);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    DIR_TEST(test_replace_writes_whole_content_and_leaves_no_temp),
	    DIR_TEST(test_replace_fsyncs_the_file_and_its_directory),
	    DIR_TEST(test_replace_failure_names_the_path_and_keeps_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
