/*
 * test_traffic.c - the latency histogram and the pieces of the traffic
 * client that read network input: CLUSTER SLOTS entries, MOVED/ASK
 * redirects and sequenced values. Includes traffic.c to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

/* ---- replies built by hand ---- */

static redisReply *r_int(long long v)
{
	redisReply *r = calloc(1, sizeof(*r));
	r->type = REDIS_REPLY_INTEGER;
	r->integer = v;
	return r;
}

static redisReply *r_str(const char *s)
{
	redisReply *r = calloc(1, sizeof(*r));
	r->type = REDIS_REPLY_STRING;
	r->len = strlen(s);
	r->str = strdup(s);
	return r;
}

static redisReply *r_arr(size_t n, ...)
{
	redisReply *r = calloc(1, sizeof(*r));
	va_list ap;
	size_t i;

	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	r->element = calloc(n ? n : 1, sizeof(*r->element));
	va_start(ap, n);
	for (i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return r;
}

static ccl *new_ccl(void)
{
	static sp_traffic_opts o;
	ccl *cl = calloc(1, sizeof(*cl));
	size_t i;

	o = sp_traffic_defaults();
	cl->o = &o;
	for (i = 0; i < SP_SLOTS; i++)
		cl->map[i] = -1;
	return cl;
}

static sp_conn from = {.host = "10.0.0.9", .port = 7000};

static void test_slots_entry_maps_its_range(void **state)
{
	ccl *cl = new_ccl();
	redisReply *e =
	    r_arr(3, r_int(100), r_int(200),
		  r_arr(3, r_str("10.0.0.1"), r_int(7001), r_str("id")));

	(void)state;
	apply_range(cl, &from, e);
	assert_int_equal(cl->n, 1);
	assert_int_equal(cl->map[100], 0);
	assert_int_equal(cl->map[200], 0);
	assert_int_equal(cl->map[99], -1);
	assert_int_equal(cl->map[201], -1);
	assert_string_equal(cl->nodes[0].host, "10.0.0.1");
	freeReplyObject(e);
	ccl_free(cl);
	free(cl);
}

static void test_slots_entry_with_empty_host_uses_the_connection(void **state)
{
	ccl *cl = new_ccl();
	redisReply *e =
	    r_arr(3, r_int(0), r_int(0), r_arr(2, r_str(""), r_int(7002)));

	(void)state;
	apply_range(cl, &from, e);
	assert_int_equal(cl->map[0], 0);
	assert_string_equal(cl->nodes[0].host, "10.0.0.9");
	assert_int_equal(cl->nodes[0].port, 7002);
	freeReplyObject(e);
	ccl_free(cl);
	free(cl);
}

static void test_malformed_slots_entries_change_nothing(void **state)
{
	ccl *cl = new_ccl();
	redisReply *bad[] = {
	    r_int(5),
	    r_arr(2, r_int(0), r_int(10)),
	    r_arr(3, r_str("0"), r_int(10), r_arr(2, r_str("h"), r_int(1))),
	    r_arr(3, r_int(10), r_int(5), r_arr(2, r_str("h"), r_int(1))),
	    r_arr(3, r_int(0), r_int(16384), r_arr(2, r_str("h"), r_int(1))),
	    r_arr(3, r_int(-1), r_int(3), r_arr(2, r_str("h"), r_int(1))),
	    r_arr(3, r_int(0), r_int(3), r_arr(2, r_str("h"), r_int(0))),
	    r_arr(3, r_int(0), r_int(3), r_arr(2, r_str("h"), r_int(70000))),
	    r_arr(3, r_int(0), r_int(3), r_arr(1, r_str("h"))),
	    r_arr(3, r_int(0), r_int(3), r_arr(2, r_int(1), r_int(1))),
	    r_arr(3, r_int(0), r_int(3), r_str("not an array")),
	};
	size_t i, s;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		apply_range(cl, &from, bad[i]);
		freeReplyObject(bad[i]);
	}
	for (s = 0; s < SP_SLOTS; s++)
		assert_int_equal(cl->map[s], -1);
	assert_int_equal(cl->n, 0);
	ccl_free(cl);
	free(cl);
}

static void test_redirects_are_parsed_from_the_error(void **state)
{
	ccl *cl = new_ccl();

	(void)state;
	assert_int_equal(parse_redirect(cl,
					"127.0.0.1:7000: GET: MOVED 3999 "
					"127.0.0.1:6381",
					"MOVED "),
			 0);
	assert_int_equal(parse_redirect(cl, "x: SET: ASK 1 [::1]:7005", "ASK "),
			 1);
	assert_string_equal(cl->nodes[1].host, "::1");
	/* the same address again is the same node */
	assert_int_equal(parse_redirect(cl, "MOVED 5 127.0.0.1:6381", "MOVED "),
			 0);
	assert_int_equal(parse_redirect(cl, "MOVED", "MOVED "), -1);
	assert_int_equal(parse_redirect(cl, "MOVED 12", "MOVED "), -1);
	assert_int_equal(parse_redirect(cl, "MOVED 12 nohostport", "MOVED "),
			 -1);
	assert_int_equal(parse_redirect(cl, "MOVED 12 h:99999", "MOVED "), -1);
	assert_int_equal(cl->n, 2);
	ccl_free(cl);
	free(cl);
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
	    cmocka_unit_test(test_slots_entry_maps_its_range),
	    cmocka_unit_test(
		test_slots_entry_with_empty_host_uses_the_connection),
	    cmocka_unit_test(test_malformed_slots_entries_change_nothing),
	    cmocka_unit_test(test_redirects_are_parsed_from_the_error),
	    cmocka_unit_test(test_value_sequence_numbers),
	    cmocka_unit_test(test_options_are_validated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
