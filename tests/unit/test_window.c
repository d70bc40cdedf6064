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

/* Replies captured from Redis 7.0 and Valkey 8.0 nodes. */
static void test_setslot_replies_sort_into_results(void **state)
{
	(void)state;
	assert_int_equal(setslot_result(SP_OK, ""), R_OK);
	assert_int_equal(setslot_result(SP_ERR_SERVER,
					"ERR I'm already the owner of hash "
					"slot 5"),
			 R_OWNER);
	assert_int_equal(setslot_result(SP_ERR_SERVER,
					"ERR Please use SETSLOT only with "
					"masters."),
			 R_NOT_MASTER);
	/* Valkey 8: the source lost its last slot by gossip while its
	 * SETSLOT NODE waited for its replicas, and turned replica */
	assert_int_equal(
	    setslot_result(SP_ERR_SERVER,
			   "CLUSTER SETSLOT: UNBLOCKED force unblock from "
			   "blocking operation, instance state changed "
			   "(master -> replica?)"),
	    R_NOT_MASTER);
	assert_int_equal(setslot_result(SP_ERR_SERVER,
					"NOREPLICAS Not enough good "
					"replicas to write."),
			 R_BUSY);
	/* an UNBLOCKED for another reason is no role change */
	assert_int_equal(setslot_result(SP_ERR_SERVER,
					"UNBLOCKED client unblocked via "
					"CLIENT UNBLOCK"),
			 R_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unexpected_owner_state_quotes_the_node_error),
	    cmocka_unit_test(test_a_node_error_fails_the_window_as_it_is),
	    cmocka_unit_test(test_accepted_results_pass),
	    cmocka_unit_test(test_setslot_replies_sort_into_results),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
