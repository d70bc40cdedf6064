/*
 * test_placement.c - create's replica placement: no replica shares its
 * primary's host whenever a placement exists that avoids it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/create.h"

static int make(const char *const *addrs, size_t n, int replicas,
		sp_create_plan *p)
{
	sp_error err = {0};

	assert_int_equal(sp_create_plan_make(addrs, n, replicas, p, &err),
			 SP_OK);
	return sp_create_shared_hosts(p);
}

/* The case: three hosts, a primary and a spare on each. */
static void test_three_hosts_rotate_the_replicas(void **state)
{
	const char *by_host[] = {"10.99.0.1:6379", "10.99.0.1:6380",
				 "10.99.0.2:6379", "10.99.0.2:6380",
				 "10.99.0.3:6379", "10.99.0.3:6380"};
	const char *by_port[] = {"10.99.0.1:6379", "10.99.0.2:6379",
				 "10.99.0.3:6379", "10.99.0.1:6380",
				 "10.99.0.2:6380", "10.99.0.3:6380"};
	sp_create_plan p;
	size_t i;

	(void)state;
	assert_int_equal(make(by_host, 6, 1, &p), 0);
	for (i = 0; i < p.n; i++)
		if (p.nodes[i].primary_of >= 0)
			assert_string_not_equal(
			    p.nodes[i].host,
			    p.nodes[p.nodes[i].primary_of].host);
	sp_create_plan_free(&p);
	assert_int_equal(make(by_port, 6, 1, &p), 0);
	sp_create_plan_free(&p);
}

static void test_one_host_shares_every_replica(void **state)
{
	const char *a[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3",
			   "127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"};
	sp_create_plan p;

	(void)state;
	assert_int_equal(make(a, 6, 1, &p), 3);
	sp_create_plan_free(&p);
}

/* Fewest shared pairs over every way to seat the replica nodes, for the
 * primaries the plan chose (brute force over permutations). */
static int best(const sp_create_plan *p, int *cand, int k, int nc)
{
	int b = 1 << 20, i, t, shared = 0, seats = p->nprimaries * p->replicas;

	if (k == nc || k == seats) {
		for (i = 0; i < k && i < seats; i++)
			shared += strcmp(p->nodes[cand[i]].host,
					 p->nodes[i % p->nprimaries].host) == 0;
		return shared;
	}
	for (i = k; i < nc; i++) {
		int v;
		t = cand[k], cand[k] = cand[i], cand[i] = t;
		v = best(p, cand, k + 1, nc);
		b = v < b ? v : b;
		t = cand[k], cand[k] = cand[i], cand[i] = t;
	}
	return b;
}

static void test_random_layouts_match_the_brute_force_optimum(void **state)
{
	char buf[12][32];
	const char *addrs[12];
	int round, n, i, cand[12], nc;
	unsigned seed = 12345;

	(void)state;
	for (round = 0; round < 400; round++) {
		sp_create_plan p;
		int replicas = (int)(seed % 2) + 1, hosts;
		seed = seed * 1103515245u + 12345u;
		n = 3 * (replicas + 1) + (int)((seed >> 8) % 2);
		hosts = 1 + (int)((seed >> 12) % 4);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			snprintf(buf[i], sizeof(buf[i]), "10.99.0.%u:%d",
				 1 + (seed >> 16) % (unsigned)hosts, 7000 + i);
			addrs[i] = buf[i];
		}
		make(addrs, (size_t)n, replicas, &p);
		for (i = p.nprimaries, nc = 0; (size_t)i < p.n; i++)
			cand[nc++] = i;
		/* Only the seats primaries * replicas are compared; extra
		 * nodes beyond them are extra replicas. */
		if (nc == p.nprimaries * p.replicas) {
			int shared = 0;
			for (i = p.nprimaries; (size_t)i < p.n; i++)
				shared +=
				    strcmp(
					p.nodes[i].host,
					p.nodes[p.nodes[i].primary_of].host) ==
				    0;
			assert_int_equal(shared, best(&p, cand, 0, nc));
		}
		sp_create_plan_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_three_hosts_rotate_the_replicas),
	    cmocka_unit_test(test_one_host_shares_every_replica),
	    cmocka_unit_test(test_random_layouts_match_the_brute_force_optimum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
