/*
 * test_guard.c - the guard's decisions and budget, on a guard built by
 * hand with probe samples put in its ring: over budget the pace shrinks
 * within its floor, well within it grows within its ceiling, and the
 * default budget is twice the baseline and at least 1 ms above it.
 * Includes guard.c to reach its statics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/guard.c"

static sp_migrate_opts opts;

/* A guard on 2 nodes with baseline 0.2 ms and budget 1.2 ms; no thread. */
static sp_guard *fake(void)
{
	sp_guard *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->turn, NULL);
	opts = sp_migrate_defaults();
	g->o = &opts;
	g->n = 2;
	g->par = (sp_knob){1, 1, 8};
	g->share = g->low_share = START_SHARE;
	g->duty = g->low_duty = START_DUTY;
	g->low_par = 1;
	g->baseline_ms = 0.2;
	g->budget_ms = 1.2;
	return g;
}

static void drop(sp_guard *g)
{
	pthread_cond_destroy(&g->turn);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* n samples of us microseconds, taken just before now. */
static void samples(sp_guard *g, long long now, size_t n, uint32_t us)
{
	size_t i;

	for (i = 0; i < n; i++) {
		g->ring[g->head] = (sample){now - 1, us};
		g->head = (g->head + 1) % RING;
		if (g->count < RING)
			g->count++;
	}
}

static void test_over_budget_shrinks_the_pace_down_to_its_floor(void **state)
{
	sp_guard *g = fake();
	long long now = 1000000;
	int i;

	(void)state;
	g->par.cur = 8;
	for (i = 0; i < 40; i++) {
		samples(g, now, 100, 5000); /* 5 ms: far over 1.2 */
		decide(g, now);
		now += PERIOD_MS;
	}
	assert_true(g->share >= MIN_SHARE && g->share < MIN_SHARE + 1e-9);
	assert_true(g->duty >= MIN_DUTY && g->duty < MIN_DUTY + 1e-9);
	assert_int_equal(g->par.cur, 1);
	assert_true(slowest(g));
	assert_true(g->floor_ms > 0); /* over budget at the slowest pace */
	assert_true(g->worst_ms >= 5.0);
	drop(g);
}

static void test_within_budget_grows_the_pace_up_to_its_ceiling(void **state)
{
	sp_guard *g = fake();
	long long now = 1000000;
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		samples(g, now, 100, 150); /* 0.15 ms: well within */
		decide(g, now);
		now += PERIOD_MS;
	}
	assert_true(g->share <= MAX_SHARE && g->share > MAX_SHARE - 1e-9);
	assert_true(g->duty <= MAX_DUTY && g->duty > MAX_DUTY - 1e-9);
	assert_int_equal(g->par.cur, 8);
	assert_true(full_speed(g));
	assert_true(g->floor_ms == 0);
	drop(g);
}

static void test_few_samples_decide_nothing(void **state)
{
	sp_guard *g = fake();

	(void)state;
	samples(g, 1000, 3, 9000);
	decide(g, 1000);
	assert_true(g->share == START_SHARE && g->duty == START_DUTY);
	drop(g);
}

static void test_a_round_may_block_for_a_share_of_the_headroom(void **state)
{
	sp_guard *g = fake();

	(void)state;
	/* (1.2 - 0.2) ms * 0.5 */
	assert_true(block_us(g) > 499.9 && block_us(g) < 500.1);
	g->budget_ms = 0.1; /* no headroom: no time at all */
	assert_true(block_us(g) == 0);
	drop(g);
}

static void
test_default_budget_is_twice_the_baseline_at_least_1ms_above(void **state)
{
	sp_guard *g = fake();
	sp_error e;

	(void)state;
	g->baseline_ms = 0.3;
	assert_int_equal(set_budget(g, &e), SP_OK);
	assert_true(g->by_default);
	assert_true(g->budget_ms > 1.2999 && g->budget_ms < 1.3001);
	g->baseline_ms = 4.0;
	assert_int_equal(set_budget(g, &e), SP_OK);
	assert_true(g->budget_ms > 7.9999 && g->budget_ms < 8.0001);
	opts.max_p99_ms = 3.0; /* at or below the baseline: refused */
	assert_int_equal(set_budget(g, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "--max-p99-ms"));
	opts.max_p99_ms = 9.0;
	assert_int_equal(set_budget(g, &e), SP_OK);
	assert_true(g->budget_ms == 9.0);
	opts.max_p99_ms = 0;
	opts.max_increase_pct = 50; /* 4.0 * 1.5 */
	assert_int_equal(set_budget(g, &e), SP_OK);
	assert_true(g->budget_ms > 5.9999 && g->budget_ms < 6.0001);
	drop(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_over_budget_shrinks_the_pace_down_to_its_floor),
	    cmocka_unit_test(
		test_within_budget_grows_the_pace_up_to_its_ceiling),
	    cmocka_unit_test(test_few_samples_decide_nothing),
	    cmocka_unit_test(
		test_a_round_may_block_for_a_share_of_the_headroom),
	    cmocka_unit_test(
		test_default_budget_is_twice_the_baseline_at_least_1ms_above),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
