/*
 * test_backoff.c - sp_backoff_ms: doubling per attempt, capped, jittered
 * within [d/2, d], deterministic for a seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/backoff.h"

static void
test_waits_stay_within_half_and_whole_of_the_doubled_base(void **state)
{
	unsigned seed = 7;
	int a, i;

	(void)state;
	for (a = 0; a < 6; a++)
		for (i = 0; i < 200; i++) {
			long long d = 50LL << a;
			long long w = sp_backoff_ms(a, 50, 2000, &seed);
			assert_true(w >= d / 2 && w <= d);
		}
}

static void test_waits_are_capped_at_max_even_for_huge_attempts(void **state)
{
	unsigned seed = 1;
	int a;

	(void)state;
	for (a = 5; a < 200; a++) {
		long long w = sp_backoff_ms(a, 50, 2000, &seed);
		assert_true(w >= 1000 && w <= 2000);
	}
}

static void test_the_same_seed_gives_the_same_waits(void **state)
{
	unsigned s1 = 42, s2 = 42;
	int a;

	(void)state;
	for (a = 0; a < 10; a++)
		assert_int_equal(sp_backoff_ms(a, 5, 200, &s1),
				 sp_backoff_ms(a, 5, 200, &s2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_waits_stay_within_half_and_whole_of_the_doubled_base),
	    cmocka_unit_test(
		test_waits_are_capped_at_max_even_for_huge_attempts),
	    cmocka_unit_test(test_the_same_seed_gives_the_same_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
