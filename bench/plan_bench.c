/*
 * plan_bench.c - how long sp_plan_rebalance takes, and how much memory it
 * needs, on a cluster of 1,000 primaries (the size DESIGN.md promises).
 * A benchmark, not a test: it asserts no timing. It fails only when a
 * plan is wrong (an error, a slot lost, a node off its share by more than
 * planner.h allows), so the figures are for plans that are right.
 *
 * Six cases, each by slot count and by random slot weights (keys per
 * slot): slots owned at random, one new empty node next to balanced ones,
 * and one node drained (weight 0). Each is planned REPS times; the
 * figures are the median and the fastest, in ms per plan, then the peak
 * RSS of the process (getrusage ru_maxrss) after all of them.
 *
 *     plan_bench [NODES [REPS [JSON_OUT]]]     defaults: 1000 21 -
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/planner.h"

typedef enum layout { RANDOM, NEW_EMPTY, DRAIN_ONE } layout;

static const char *const layout_name[] = {"random owners", "one new empty",
					  "drain one"};

typedef struct result {
	double med_ms, min_ms;
	size_t moves;
	double worst; /* largest |load - share| after the plan */
} result;

static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Contiguous, balanced ranges over the first k nodes. */
static void balanced(int *owner, size_t k)
{
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		owner[s] = (int)((size_t)s * k / SP_SLOTS);
}

static void build(layout l, size_t n, int *owner, double *nw, uint64_t *r)
{
	size_t i;
	int s;

	for (i = 0; i < n; i++)
		nw[i] = 1;
	if (l == RANDOM)
		for (s = 0; s < SP_SLOTS; s++)
			owner[s] = (int)(next(r) % n);
	else if (l == NEW_EMPTY)
		balanced(owner, n - 1); /* node n-1 has just joined */
	else {
		balanced(owner, n);
		nw[0] = 0;
	}
}

/* Keys per slot: mostly 0..2000, one slot in 100 ten times hotter. */
static void random_weights(double *sw, uint64_t *r)
{
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		sw[s] =
		    (double)(next(r) % 2001) * (next(r) % 100 == 0 ? 10 : 1);
}

/* The largest slot weight, the tolerance of planner.h (1 by count). */
static double heaviest(const double *sw)
{
	double h = 0;
	int s;

	if (sw == NULL)
		return 1;
	for (s = 0; s < SP_SLOTS; s++)
		h = fmax(h, sw[s]);
	return h;
}

/* Checks the last plan: an error here means the planner is wrong. */
static int check(const sp_plan *p, size_t n, const double *sw, result *res)
{
	size_t i;

	res->moves = p->nmoves;
	res->worst = 0;
	for (i = 0; i < n; i++)
		res->worst = fmax(res->worst, fabs(p->load[i] - p->target[i]));
	if (res->worst > heaviest(sw) * (1 + 1e-9)) {
		fprintf(stderr, "plan_bench: a node is %g off its share\n",
			res->worst);
		return -1;
	}
	return 0;
}

static int run(const sp_plan_input *in, int reps, result *res)
{
	double *ms = calloc((size_t)reps, sizeof(*ms)), t;
	sp_plan p = {0};
	sp_error err = {0};
	int k, rc = -1;

	if (ms == NULL)
		return -1;
	for (k = 0; k < reps; k++) {
		sp_plan_free(&p);
		t = now_ms();
		if (sp_plan_rebalance(in, &p, &err) != SP_OK) {
			fprintf(stderr, "plan_bench: %s\n", err.msg);
			goto out;
		}
		ms[k] = now_ms() - t;
	}
	qsort(ms, (size_t)reps, sizeof(*ms), cmp_double);
	res->med_ms = ms[reps / 2];
	res->min_ms = ms[0];
	rc = check(&p, in->nnodes, in->slot_weight, res);
out:
	sp_plan_free(&p);
	free(ms);
	return rc;
}

static void print_json(FILE *f, size_t n, int reps, const result *res, long rss)
{
	int l, w;

	fprintf(f,
		"{\"nodes\": %zu, \"reps\": %d, \"peak_rss_kib\": %ld, "
		"\"cases\": [",
		n, reps, rss);
	for (l = 0; l < 3; l++)
		for (w = 0; w < 2; w++) {
			const result *r = &res[l * 2 + w];

			fprintf(f,
				"%s\n  {\"layout\": \"%s\", \"by\": \"%s\", "
				"\"median_ms\": %.3f, \"min_ms\": %.3f, "
				"\"moves\": %zu, \"worst_off_share\": %g}",
				l + w ? "," : "", layout_name[l],
				w ? "keys" : "slots", r->med_ms, r->min_ms,
				r->moves, r->worst);
		}
	fprintf(f, "\n]}\n");
}

static int bench(size_t n, int reps, const char *json)
{
	static int owner[SP_SLOTS];
	static double sw[SP_SLOTS];
	double *nw = calloc(n, sizeof(*nw));
	long rss0 = peak_rss_kib();
	result res[6];
	uint64_t r = 0x5107B11075EEDULL;
	FILE *f;
	int l, w, rc = 1;

	if (nw == NULL)
		goto out;
	printf("%-14s %-6s %10s %10s %7s %12s\n", "layout", "by", "median ms",
	       "min ms", "moves", "worst off");
	for (l = 0; l < 3; l++)
		for (w = 0; w < 2; w++) {
			sp_plan_input in = {n, owner, w ? sw : NULL, nw, 0};
			result *x = &res[l * 2 + w];

			build((layout)l, n, owner, nw, &r);
			random_weights(sw, &r);
			if (run(&in, reps, x) != 0)
				goto out;
			printf("%-14s %-6s %10.3f %10.3f %7zu %12.1f\n",
			       layout_name[l], w ? "keys" : "slots", x->med_ms,
			       x->min_ms, x->moves, x->worst);
		}
	printf("nodes %zu, %d plans per case; peak RSS %ld KiB "
	       "(%ld KiB before planning)\n",
	       n, reps, peak_rss_kib(), rss0);
	if (json != NULL && (f = fopen(json, "w")) != NULL) {
		print_json(f, n, reps, res, peak_rss_kib());
		fclose(f);
	}
	rc = 0;
out:
	free(nw);
	return rc;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long reps = argc > 2 ? strtol(argv[2], NULL, 10) : 21;

	if (n < 2 || n > 100000 || reps < 1 || reps > 100000) {
		fprintf(stderr,
			"usage: plan_bench [NODES [REPS [JSON_OUT]]]\n");
		return 2;
	}
	return bench((size_t)n, (int)reps, argc > 3 ? argv[3] : NULL);
}
