/*
 * test_proc.c - sp_proc_run, the one child-process runner: environment
 * built for the child (set and dropped variables), input, captured
 * output, exit codes, the deadline, and programs that cannot start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/proc.h"

/* Runs sh -c script with spec's other fields; returns the exit code. */
static int sh(const char *script, sp_proc_spec *spec, char **out, sp_err *rc)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	sp_error err = {0};
	int code = -2;

	spec->argv = argv;
	*rc = sp_proc_run(spec, &code, out, &err);
	return code;
}

static void test_output_is_captured_and_exit_code_returned(void **state)
{
	sp_proc_spec spec = {.capture = 1};
	char *out = NULL;
	sp_err rc;

	(void)state;
	assert_int_equal(sh("echo 127.0.0.1:7000; exit 3", &spec, &out, &rc),
			 3);
	assert_int_equal(rc, SP_OK);
	assert_string_equal(out, "127.0.0.1:7000\n");
	free(out);
}

static void
test_env_set_and_dropped_variables_reach_only_the_child(void **state)
{
	const char *set[] = {"SLOTPILOT_COUNT=2", NULL};
	const char *drop[] = {"REDISCLI_AUTH", "SP_TEST_*", NULL};
	sp_proc_spec spec = {.capture = 1, .env_set = set, .env_drop = drop};
	char *out = NULL;
	sp_err rc;

	(void)state;
	setenv("REDISCLI_AUTH", "secret", 1);
	setenv("SP_TEST_A", "a", 1);
	setenv("SP_TESTB", "b", 1);
	/* the operator passes all three; drop still wins */
	setenv(SP_PASS_ENV, "REDISCLI_AUTH,SP_TEST*", 1);
	assert_int_equal(sh("echo \"$SLOTPILOT_COUNT/${REDISCLI_AUTH-none}/"
			    "${SP_TEST_A-none}/$SP_TESTB\"",
			    &spec, &out, &rc),
			 0);
	assert_string_equal(out, "2/none/none/b\n");
	assert_null(getenv("SLOTPILOT_COUNT")); /* ours is untouched */
	free(out);
	unsetenv(SP_PASS_ENV);
}

static void test_only_base_variables_are_inherited_unless_passed(void **state)
{
	sp_proc_spec spec = {.capture = 1};
	char *out = NULL;
	sp_err rc;

	(void)state;
	setenv("REDISCLI_AUTH", "secret", 1);
	setenv("SP_TEST_TOKEN", "t", 1);
	setenv("HOME", "/home/sp-test", 1);
	unsetenv(SP_PASS_ENV);
	assert_int_equal(sh("echo \"${REDISCLI_AUTH-none}/${SP_TEST_TOKEN-none}"
			    "/$HOME/${SLOTPILOT_PASS_ENV-none}\"",
			    &spec, &out, &rc),
			 0);
	assert_string_equal(out, "none/none//home/sp-test/none\n");
	free(out);
	setenv(SP_PASS_ENV, " SP_TEST_TOKEN REDISCLI_AUTH ", 1);
	assert_int_equal(
	    sh("echo \"$REDISCLI_AUTH/$SP_TEST_TOKEN\"", &spec, &out, &rc), 0);
	assert_string_equal(out, "secret/t\n");
	free(out);
	unsetenv(SP_PASS_ENV);
	unsetenv("REDISCLI_AUTH");
	unsetenv("SP_TEST_TOKEN");
}

static void test_input_is_fed_to_stdin(void **state)
{
	sp_proc_spec spec = {.capture = 1, .input = "{\"code\":\"x\"}\n"};
	char *out = NULL;
	sp_err rc;

	(void)state;
	assert_int_equal(sh("cat", &spec, &out, &rc), 0);
	assert_string_equal(out, "{\"code\":\"x\"}\n");
	free(out);
}

static void test_child_not_reading_a_large_input_does_not_kill_us(void **state)
{
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	sp_proc_spec spec = {0};
	sp_err rc;

	(void)state;
	memset(big, 'x', n);
	big[n] = '\0';
	spec.input = big;
	assert_int_equal(sh("exec 0<&-; exit 0", &spec, NULL, &rc), 0);
	assert_int_equal(rc, SP_OK);
	free(big);
}

static void test_a_child_past_its_deadline_is_killed(void **state)
{
	sp_proc_spec spec = {.timeout_ms = 200};
	sp_err rc;

	(void)state;
	assert_int_equal(sh("sleep 30", &spec, NULL, &rc), -1);
	assert_int_equal(rc, SP_ERR_TIMEOUT);
}

static void test_output_is_cut_at_max_out(void **state)
{
	sp_proc_spec spec = {.capture = 1, .max_out = 4};
	char *out = NULL;
	sp_err rc;

	(void)state;
	assert_int_equal(sh("echo 0123456789", &spec, &out, &rc), 0);
	assert_string_equal(out, "0123");
	free(out);
}

static void test_a_missing_program_is_a_system_error(void **state)
{
	const char *argv[] = {"/nonexistent/redis-server", NULL};
	sp_proc_spec spec = {.argv = argv};
	sp_error err = {0};
	int code = 0;

	(void)state;
	assert_int_equal(sp_proc_run(&spec, &code, NULL, &err), SP_ERR_SYSTEM);
	assert_int_equal(code, -1);
	assert_non_null(strstr(err.msg, "/nonexistent/redis-server"));
}

static void test_working_directory_is_set(void **state)
{
	sp_proc_spec spec = {.capture = 1, .dir = "/"};
	char *out = NULL;
	sp_err rc;

	(void)state;
	assert_int_equal(sh("pwd", &spec, &out, &rc), 0);
	assert_string_equal(out, "/\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_output_is_captured_and_exit_code_returned),
	    cmocka_unit_test(
		test_env_set_and_dropped_variables_reach_only_the_child),
	    cmocka_unit_test(
		test_only_base_variables_are_inherited_unless_passed),
	    cmocka_unit_test(test_input_is_fed_to_stdin),
	    cmocka_unit_test(
		test_child_not_reading_a_large_input_does_not_kill_us),
	    cmocka_unit_test(test_a_child_past_its_deadline_is_killed),
	    cmocka_unit_test(test_output_is_cut_at_max_out),
	    cmocka_unit_test(test_a_missing_program_is_a_system_error),
	    cmocka_unit_test(test_working_directory_is_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
