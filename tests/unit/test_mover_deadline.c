/*
 * test_mover_deadline.c - the slot mover's deadline on a silent node
 * (mover.h): a node that stops answering for give_up_ms, or one a step
 * ran out of retries on, is given up on, and the worker's connection
 * calls to it then fail at once instead of waiting again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/mover.h"

typedef struct fixture {
	sp_migrate_opts o;
	sp_endpoint nodes[2];
	long long since[2];
	unsigned char gone[2];
	sp_conn *conns[2];
	shared sh;
	worker w;
} fixture;

static void setup(fixture *f, int give_up_ms)
{
	memset(f, 0, sizeof(*f));
	f->o = sp_migrate_defaults();
	f->o.give_up_ms = give_up_ms;
	sp_endpoint_set(&f->nodes[0], "a", "127.0.0.1", 1);
	sp_endpoint_set(&f->nodes[1], "b", "127.0.0.1", 2);
	pthread_mutex_init(&f->sh.mu, NULL);
	f->sh.nodes = f->nodes;
	f->sh.nnodes = 2;
	f->sh.o = &f->o;
	f->sh.silent_since = f->since;
	f->sh.gone = f->gone;
	f->w.sh = &f->sh;
	f->w.conns = f->conns;
}

static void test_a_node_that_answers_again_is_not_given_up_on(void **state)
{
	fixture f;

	(void)state;
	setup(&f, 20);
	sp_mover_heard(&f.w, 0, 0);
	sp_sleep_ms(40);
	sp_mover_heard(&f.w, 0, 1); /* it answered before anyone asked */
	assert_false(sp_mover_gone(&f.w, 0));
	sp_mover_heard(&f.w, 0, 0);
	assert_false(sp_mover_gone(&f.w, 0));
}

static void test_a_node_silent_for_give_up_ms_is_given_up_on(void **state)
{
	fixture f;

	(void)state;
	setup(&f, 20);
	sp_mover_heard(&f.w, 1, 0);
	assert_false(sp_mover_gone(&f.w, 1));
	sp_sleep_ms(40);
	assert_true(sp_mover_gone(&f.w, 1));
	sp_mover_heard(&f.w, 1, 1); /* too late: not asked again */
	assert_true(sp_mover_gone(&f.w, 1));
	assert_false(sp_mover_gone(&f.w, 0));
}

static void test_a_node_given_up_on_is_not_connected_to_again(void **state)
{
	char names[64] = "";
	fixture f;
	sp_conn *c = NULL;

	(void)state;
	setup(&f, 60000);
	sp_mover_give_up(&f.w, 1);
	assert_int_equal(sp_mover_conn_to(&f.w, 1, &c), SP_ERR_TIMEOUT);
	assert_null(c);
	assert_non_null(strstr(f.w.err.msg, "127.0.0.1:2 does not answer"));
	assert_int_equal(sp_mover_gone_names(&f.sh, names, sizeof(names)), 1);
	assert_string_equal(names, "127.0.0.1:2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_node_that_answers_again_is_not_given_up_on),
	    cmocka_unit_test(test_a_node_silent_for_give_up_ms_is_given_up_on),
	    cmocka_unit_test(test_a_node_given_up_on_is_not_connected_to_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
