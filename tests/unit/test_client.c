/*
 * test_client.c - the pieces of the cluster client that read network
 * input: CLUSTER SLOTS entries and MOVED/ASK redirects. Includes client.c
 * to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/client.c"
#include "replies.h"

static sp_client *new_client(void)
{
	sp_client *cl = calloc(1, sizeof(*cl));
	size_t i;

	cl->o.max_attempts = 16;
	for (i = 0; i < SP_SLOTS; i++)
		cl->map[i] = -1;
	return cl;
}

static sp_conn from = {.host = "10.0.0.9", .port = 7000};

static void test_slots_entry_maps_its_range(void **state)
{
	sp_client *cl = new_client();
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
	sp_client_free(cl);
}

static void test_slots_entry_with_empty_host_uses_the_connection(void **state)
{
	sp_client *cl = new_client();
	redisReply *e =
	    r_arr(3, r_int(0), r_int(0), r_arr(2, r_str(""), r_int(7002)));

	(void)state;
	apply_range(cl, &from, e);
	assert_int_equal(cl->map[0], 0);
	assert_string_equal(cl->nodes[0].host, "10.0.0.9");
	assert_int_equal(cl->nodes[0].port, 7002);
	freeReplyObject(e);
	sp_client_free(cl);
}

static void test_malformed_slots_entries_change_nothing(void **state)
{
	sp_client *cl = new_client();
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
	sp_client_free(cl);
}

static void test_redirects_are_parsed_from_the_error(void **state)
{
	sp_client *cl = new_client();

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
	sp_client_free(cl);
}

static void test_free_accepts_null(void **state)
{
	(void)state;
	sp_client_free(NULL);
}

static void test_event_names(void **state)
{
	(void)state;
	assert_string_equal(sp_cev_name(SP_CEV_MOVED), "moved");
	assert_string_equal(sp_cev_name(SP_CEV_OTHER), "other");
	assert_string_equal(sp_cev_name(SP_CEV__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slots_entry_maps_its_range),
	    cmocka_unit_test(
		test_slots_entry_with_empty_host_uses_the_connection),
	    cmocka_unit_test(test_malformed_slots_entries_change_nothing),
	    cmocka_unit_test(test_redirects_are_parsed_from_the_error),
	    cmocka_unit_test(test_free_accepts_null),
	    cmocka_unit_test(test_event_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
