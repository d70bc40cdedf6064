/*
 * test_fix_plan.c - what fix decides before it changes anything, on
 * clusters built from CLUSTER NODES texts: a primary that does not
 * answer stops it unless the operator names it, and a slot claimed twice
 * waits for --owner with each claimant's key count and config epoch.
 * Includes recover.c to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/recover.c"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccc"

/* Node A and B each claim slot 100 in their own view; C owns the rest
 * and, with c_down, does not answer. */
static const char view_a[] =
    ID_A " 127.0.0.1:7000@17000 myself,master - 0 0 3 connected 0-100\n" ID_B
	 " 127.0.0.1:7001@17001 master - 0 0 5 connected 101-10922\n" ID_C
	 " 127.0.0.1:7002@17002 master - 0 0 1 connected 10923-16383\n";
static const char view_b[] = ID_A
    " 127.0.0.1:7000@17000 master - 0 0 3 connected 0-99\n" ID_B
    " 127.0.0.1:7001@17001 myself,master - 0 0 5 connected 100-10922\n" ID_C
    " 127.0.0.1:7002@17002 master - 0 0 1 connected 10923-16383\n";

static void add(sp_cluster *c, int port, const char *id, const char *view,
		long long epoch)
{
	sp_node_state *n = sp_cluster_add(c, "127.0.0.1", port);
	sp_error e;

	assert_non_null(n);
	if (view == NULL)
		return; /* unreachable: no id, no view */
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->reachable = 1;
	n->my_epoch = epoch;
	assert_int_equal(sp_view_parse(&n->view, view, strlen(view), &e),
			 SP_OK);
}

/* A fixer over A, B and (answering only with c_up) C. */
static fixer *make(int c_up)
{
	fixer *f = calloc(1, sizeof(*f));
	sp_error e;
	int s;

	assert_non_null(f);
	add(&f->c, 7000, ID_A, view_a, 3);
	add(&f->c, 7001, ID_B, view_b, 5);
	add(&f->c, 7002, ID_C,
	    c_up ? ID_C " 127.0.0.1:7002@17002 myself,master - 0 0 1 "
			"connected 10923-16383\n"
		 : NULL,
	    1);
	assert_int_equal(sp_opplan_from_cluster(&f->c, &f->p, &e), SP_OK);
	sp_cluster_claims(&f->c, f->claims);
	for (s = 0; s < SP_SLOTS; s++)
		f->chosen[s] = f->planned[s] = -1;
	return f;
}

static void test_a_primary_that_does_not_answer_stops_fix(void **state)
{
	fixer *f = make(0);
	sp_error e = {0};

	(void)state;
	assert_int_equal(check_unreachable(f, NULL, &e), SP_ERR_CLUSTER);
	assert_non_null(strstr(e.msg, "primary 127.0.0.1:7002 (cccccccc)"));
	assert_non_null(strstr(e.msg, "--with-unreachable 127.0.0.1:7002"));
	sp_fix_plan_free(f);
}

static void test_naming_the_unreachable_primary_lets_fix_go_on(void **state)
{
	const char *gone[] = {"127.0.0.1:7002"}, *prefix[] = {"cccccc"};
	sp_fix_opts fo = {.with_unreachable = gone, .nwith_unreachable = 1};
	fixer *f = make(0);
	sp_error e = {0};

	(void)state;
	assert_int_equal(check_unreachable(f, &fo, &e), SP_OK);
	fo.with_unreachable = prefix;
	assert_int_equal(check_unreachable(f, &fo, &e), SP_OK);
	sp_fix_plan_free(f);
}

static void test_naming_a_primary_that_answers_is_a_usage_error(void **state)
{
	const char *up[] = {"127.0.0.1:7001"};
	sp_fix_opts fo = {.with_unreachable = up, .nwith_unreachable = 1};
	fixer *f = make(1);
	sp_error e = {0};

	(void)state;
	assert_int_equal(check_unreachable(f, &fo, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "--with-unreachable 127.0.0.1:7001"));
	sp_fix_plan_free(f);
}

static void test_a_slot_claimed_twice_waits_for_the_operator(void **state)
{
	long long counts[3] = {12, 0, 0};
	fixer *f = make(1);
	sp_fix_step st;

	(void)state;
	assert_int_equal(f->claims[100], -2);
	decide_counts(f, 100, counts, &st);
	assert_int_equal(st.kind, SP_FIX_CHOOSE);
	assert_non_null(
	    strstr(st.what, "127.0.0.1:7000 (12 keys, config epoch 3)"));
	assert_non_null(
	    strstr(st.what, "127.0.0.1:7001 (0 keys, config epoch 5)"));
	assert_non_null(strstr(st.what, "--owner 100=NODE"));
	sp_fix_plan_free(f);
}

static void test_the_chosen_claimant_gets_the_others_keys(void **state)
{
	long long counts[3] = {12, 0, 0};
	fixer *f = make(1);
	sp_fix_step st;

	(void)state;
	f->chosen[100] = 1; /* --owner 100=127.0.0.1:7001 */
	decide_counts(f, 100, counts, &st);
	assert_int_equal(st.kind, SP_FIX_HOME);
	assert_int_equal(st.owner, 1);
	assert_true(st.claimed_twice && st.assign);
	assert_non_null(strstr(st.what, "keep 127.0.0.1:7001 (--owner)"));
	sp_fix_plan_free(f);
}

static void test_owner_for_a_slot_with_one_owner_is_refused(void **state)
{
	const char *own[] = {"5000=127.0.0.1:7000"}, *bad[] = {"100=nobody"};
	sp_fix_opts fo = {.owners = own, .nowners = 1};
	fixer *f = make(1);
	sp_error e = {0};

	(void)state;
	assert_int_equal(read_choices(f, &fo, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "slot 5000 has one owner"));
	fo.owners = bad;
	assert_int_equal(read_choices(f, &fo, &e), SP_ERR_USAGE);
	sp_fix_plan_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_primary_that_does_not_answer_stops_fix),
	    cmocka_unit_test(
		test_naming_the_unreachable_primary_lets_fix_go_on),
	    cmocka_unit_test(
		test_naming_a_primary_that_answers_is_a_usage_error),
	    cmocka_unit_test(test_a_slot_claimed_twice_waits_for_the_operator),
	    cmocka_unit_test(test_the_chosen_claimant_gets_the_others_keys),
	    cmocka_unit_test(test_owner_for_a_slot_with_one_owner_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
