/*
 * test_traffic.c - the latency histogram and the pieces of the traffic
 * generator that read network input: sequenced values. Includes traffic.c
 * to reach its statics (the cluster client's are in test_client.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replies.h"
#include "traffic/traffic.c"

/* ---- histogram ---- */

static void test_hist_percentiles_of_1_to_1000_us(void **state)
{
	sp_hist *h = calloc(1, sizeof(*h));
	uint64_t i;

	(void)state;
	for (i = 1; i <= 1000; i++)
		sp_hist_add(h, i);
	assert_int_equal(h->n, 1000);
	assert_int_equal(h->max_us, 1000);
	/* 1 us buckets below 1 ms: exact up to the bucket's upper bound. */
	assert_in_range(sp_hist_pct(h, 0.5), 500, 501);
	assert_in_range(sp_hist_pct(h, 0.99), 990, 991);
	assert_int_equal(sp_hist_pct(h, 1.0), 1000);
	free(h);
}

static void test_hist_is_within_one_percent_up_to_100_ms(void **state)
{
	sp_hist *h = calloc(1, sizeof(*h));
	uint64_t v[] = {1234, 56789, 99999, 15000};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t got;
		memset(h, 0, sizeof(*h));
		sp_hist_add(h, v[i]);
		sp_hist_add(h, 1); /* max is not the answer below */
		got = sp_hist_pct(h, 1.0);
		assert_true(got >= v[i] && got <= v[i] + v[i] / 100);
	}
	free(h);
}

static void test_hist_difference_is_the_interval(void **state)
{
	sp_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		sp_hist_add(a, 100);
	*b = *a; /* the earlier snapshot */
	for (i = 0; i < 10; i++)
		sp_hist_add(a, 5000);
	sp_hist_sub(a, b);
	assert_int_equal(a->n, 10);
	assert_in_range(sp_hist_pct(a, 0.5), 5000, 5010);
	assert_in_range(a->max_us, 5000, 5010);
	free(a);
	free(b);
}

static void test_hist_empty_and_huge_samples(void **state)
{
	sp_hist *h = calloc(1, sizeof(*h));

	(void)state;
	assert_int_equal(sp_hist_pct(h, 0.99), 0);
	sp_hist_add(h, UINT64_MAX / 2); /* the last bucket, not past it */
	assert_int_equal(h->b[SP_HIST_BUCKETS - 1], 1);
	assert_int_equal(sp_hist_pct(h, 0.5), UINT64_MAX / 2);
	free(h);
}

static void test_value_sequence_numbers(void **state)
{
	redisReply *a = r_str("42:vvvvvvv"), *b = r_str("garbage"),
		   *c = r_str("99999999999999999999999:");

	(void)state;
	assert_int_equal(value_seq(a), 42);
	assert_int_equal(value_seq(b), 0);
	assert_int_equal(value_seq(NULL), 0);
	(void)value_seq(c); /* any number, no overflow trap */
	freeReplyObject(a);
	freeReplyObject(b);
	freeReplyObject(c);
}

static void test_options_are_validated(void **state)
{
	sp_traffic_opts o = sp_traffic_defaults();
	sp_error e;

	(void)state;
	assert_int_equal(sp_traffic_validate(&o, &e), SP_OK);
	o.read_ratio = 1.01;
	assert_int_equal(sp_traffic_validate(&o, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "read ratio"));
	o = sp_traffic_defaults();
	o.keys = 2; /* fewer keys than connections */
	assert_int_equal(sp_traffic_validate(&o, &e), SP_ERR_USAGE);
	o = sp_traffic_defaults();
	o.rate = -1;
	assert_int_equal(sp_traffic_validate(&o, &e), SP_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist_percentiles_of_1_to_1000_us),
	    cmocka_unit_test(test_hist_is_within_one_percent_up_to_100_ms),
	    cmocka_unit_test(test_hist_difference_is_the_interval),
	    cmocka_unit_test(test_hist_empty_and_huge_samples),
	    cmocka_unit_test(test_value_sequence_numbers),
	    cmocka_unit_test(test_options_are_validated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
