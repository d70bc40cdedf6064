/*
 * test_guard.c - the guard's controls (sp_knob) stay within their range
 * however the AIMD steps push them. Includes guard.c to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/guard.c"

static void test_knob_halves_down_to_its_min(void **state)
{
	sp_knob k = {8, 1, 128};

	(void)state;
	knob_halve(&k);
	assert_int_equal(k.cur, 4);
	knob_halve(&k);
	knob_halve(&k);
	knob_halve(&k);
	assert_int_equal(k.cur, 1);
}

static void test_knob_grows_up_to_its_max(void **state)
{
	sp_knob k = {98, 1, 100};

	(void)state;
	knob_set(&k, k.cur + 4);
	assert_int_equal(k.cur, 100);
	knob_set(&k, -5);
	assert_int_equal(k.cur, 1);
}

static void test_pause_doubles_up_to_its_max(void **state)
{
	sp_knob p = {0, 0, MAX_PAUSE_MS};

	(void)state;
	knob_set(&p, p.cur ? p.cur * 2 : START_PAUSE_MS);
	assert_int_equal(p.cur, START_PAUSE_MS);
	while (p.cur < MAX_PAUSE_MS)
		knob_set(&p, p.cur * 2);
	assert_int_equal(p.cur, MAX_PAUSE_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_knob_halves_down_to_its_min),
	    cmocka_unit_test(test_knob_grows_up_to_its_max),
	    cmocka_unit_test(test_pause_doubles_up_to_its_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
