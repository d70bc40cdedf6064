/*
 * test_window.c - the window steps of the slot mover that need no node:
 * how SETSLOT results fail a window. Includes window.c to reach its
 * statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/window.c"

static void test_unexpected_owner_state_quotes_the_node_error(void **state)
{
	worker w = {0};
	wslot ws[2] = {{.slot = 7}, {.slot = 42}};
	int res[2] = {R_OK, R_NOT_OWNER};

	(void)state;
	sp_seterr(&w.err, SP_ERR_SERVER, "ERR I'm not the owner of hash slot");
	assert_int_equal(check_results(&w, ws, 2, res, R_OWNER),
			 SP_ERR_CLUSTER);
	assert_string_equal(w.err.msg, "slot 42: unexpected owner state "
				       "(ERR I'm not the owner of hash slot)");
}

static void test_a_node_error_fails_the_window_as_it_is(void **state)
{
	worker w = {0};
	wslot ws[1] = {{.slot = 3}};
	int res[1] = {R_ERR};

	(void)state;
	sp_seterr(&w.err, SP_ERR_SERVER, "ERR Unknown node");
	assert_int_equal(check_results(&w, ws, 1, res, R_OWNER), SP_ERR_SERVER);
	assert_string_equal(w.err.msg, "ERR Unknown node");
}

static void test_accepted_results_pass(void **state)
{
	worker w = {0};
	wslot ws[2] = {{.slot = 1}, {.slot = 2}};
	int res[2] = {R_OK, R_OWNER};

	(void)state;
	assert_int_equal(check_results(&w, ws, 2, res, R_OWNER), SP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unexpected_owner_state_quotes_the_node_error),
	    cmocka_unit_test(test_a_node_error_fails_the_window_as_it_is),
	    cmocka_unit_test(test_accepted_results_pass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
