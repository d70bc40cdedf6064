/*
 * test_plan.c - sp_moves_validate: the moves that could split a slot are
 * refused, naming the slot, and a sound plan passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "model/plan.h"

static int owners[SP_SLOTS];

/* Three nodes; node 0 owns 0-5460, node 1 5461-10922, node 2 the rest. */
static int setup(void **state)
{
	int s;

	(void)state;
	for (s = 0; s < SP_SLOTS; s++)
		owners[s] = s <= 5460 ? 0 : s <= 10922 ? 1 : 2;
	return 0;
}

static void test_sound_moves_pass(void **state)
{
	sp_move m[] = {{0, 0, 2}, {1, 0, 1}, {5461, 1, 0}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(m, 3, 3, owners, &e), SP_OK);
	assert_int_equal(sp_moves_validate(m, 3, 3, NULL, &e), SP_OK);
	assert_int_equal(sp_moves_validate(NULL, 0, 3, owners, &e), SP_OK);
}

static void test_one_slot_to_two_targets_is_refused_naming_it(void **state)
{
	sp_move m[] = {{7, 0, 1}, {8, 0, 1}, {7, 0, 2}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(m, 3, 3, owners, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 7 is listed twice"));
	/* the engine's own input: no owners known, still refused */
	assert_int_equal(sp_moves_validate(m, 3, 3, NULL, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 7"));
}

static void test_one_slot_twice_to_the_same_target_is_refused(void **state)
{
	sp_move m[] = {{100, 0, 1}, {100, 0, 1}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(m, 2, 3, NULL, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 100 is listed twice"));
}

static void test_unknown_node_index_is_refused_naming_the_slot(void **state)
{
	sp_move src[] = {{9, 3, 1}}, dst[] = {{10, 0, 7}},
		neg[] = {{11, -1, 1}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(src, 1, 3, NULL, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 9: move 0 names node 3"));
	assert_int_equal(sp_moves_validate(dst, 1, 3, NULL, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 10: move 0 names node 7"));
	assert_int_equal(sp_moves_validate(neg, 1, 3, owners, &e),
			 SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 11"));
}

static void test_slot_out_of_range_is_refused(void **state)
{
	sp_move m[] = {{16384, 0, 1}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(m, 1, 3, NULL, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 16384 is not a slot"));
}

static void test_source_that_does_not_own_the_slot_is_refused(void **state)
{
	sp_move m[] = {{1, 0, 2}, {6000, 0, 2}};
	sp_error e = {0};

	(void)state;
	assert_int_equal(sp_moves_validate(m, 2, 3, owners, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 6000: move 1 takes it from node 0, "
				      "but node 1 owns it"));
	/* without owners (the engine) there is nothing to compare with */
	assert_int_equal(sp_moves_validate(m, 2, 3, NULL, &e), SP_OK);
}

static void test_slot_nobody_owns_is_refused(void **state)
{
	sp_move m[] = {{42, 0, 1}};
	sp_error e = {0};

	(void)state;
	owners[42] = -1;
	assert_int_equal(sp_moves_validate(m, 1, 3, owners, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 42"));
	assert_non_null(strstr(e.msg, "nobody owns it"));
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sound_moves_pass),
	    T(test_one_slot_to_two_targets_is_refused_naming_it),
	    T(test_one_slot_twice_to_the_same_target_is_refused),
	    T(test_unknown_node_index_is_refused_naming_the_slot),
	    T(test_slot_out_of_range_is_refused),
	    T(test_source_that_does_not_own_the_slot_is_refused),
	    T(test_slot_nobody_owns_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
