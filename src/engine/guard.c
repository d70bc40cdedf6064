/*
 * guard.c - the latency guard (see guard.h).
 */
#include "engine/guard.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

#define RING		4096 /* probe samples kept */
#define PERIOD_MS	250  /* between control decisions */
#define WINDOW_MS	1000 /* samples a decision looks at */
#define BASELINE_ROUNDS 24   /* 0.6 s of probes before the move */
/* The share of the headroom (budget - baseline) one MIGRATE round may
 * block its source for, and the share of time a pair may spend inside
 * MIGRATE (its duty cycle): where they start, and their ranges. */
#define START_SHARE 0.5
#define MIN_SHARE   0.05
#define MAX_SHARE   1.0
#define START_DUTY  0.5
#define MIN_DUTY    0.05
#define MAX_DUTY    0.9

typedef struct sample {
	long long at_ms;
	uint32_t us;
} sample;

struct sp_guard {
	pthread_mutex_t mu; /* everything below the thread fields */
	pthread_t tid;
	int running;
	atomic_int stop;
	const sp_endpoint *nodes;
	const int *which;
	sp_conn **c;
	long long *rest_until; /* per node: see probe_round */
	sp_conn_opts po;       /* the move's, with the probes' timeouts */
	size_t n;
	const sp_migrate_opts *o;
	sample ring[RING];
	uint32_t sorted[RING]; /* scratch for p99_since */
	size_t head, count;
	sp_knob par;	    /* pairs moving at once */
	double share, duty; /* see START_SHARE */
	double budget_ms, baseline_ms, worst_ms, now_ms;
	long long changed_ms, throttled_ms, last_ms;
	int low_win, low_par, by_default; /* for the report */
	double low_share, low_duty;
	int active;
	pthread_cond_t turn; /* a pair may start a window */
	long long floor_ms;  /* time over budget at the slowest pace */
};

/* The probes' own timeouts: a node that does not answer a PING within a
 * second is slow enough to count as over any budget, and must not hold
 * the probe thread (or the baseline, or the guard's stop) for the move's
 * 5 s reply timeout. */
#define PROBE_CONNECT_MS 1000
#define PROBE_REPLY_MS	 1000
#define PROBE_REST_MS	 1000 /* a node that failed is left alone that long */

static void add_sample(sp_guard *g, long long us)
{
	pthread_mutex_lock(&g->mu);
	g->ring[g->head] = (sample){sp_now_ms(), (uint32_t)us};
	g->head = (g->head + 1) % RING;
	if (g->count < RING)
		g->count++;
	pthread_mutex_unlock(&g->mu);
}

/* One PING to every node; samples go into the ring. A PING that timed
 * out counts as a sample of its whole wait; a node whose connection
 * failed is probed again only after PROBE_REST_MS. */
static void probe_round(sp_guard *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		const sp_endpoint *e = &g->nodes[g->which[i]];
		sp_error err;
		long long t0;
		sp_err rc;
		if (g->c[i] == NULL && sp_now_ms() < g->rest_until[i])
			continue;
		if (g->c[i] == NULL && sp_conn_open(e->host, e->port, &g->po,
						    &g->c[i], &err) != SP_OK) {
			g->rest_until[i] = sp_now_ms() + PROBE_REST_MS;
			continue;
		}
		t0 = sp_now_us();
		rc = sp_conn_cmd(g->c[i], NULL, &err, "PING");
		if (rc == SP_OK || rc == SP_ERR_TIMEOUT)
			add_sample(g, sp_now_us() - t0);
		if (rc != SP_OK) {
			sp_conn_close(g->c[i]);
			g->c[i] = NULL;
			g->rest_until[i] = sp_now_ms() + PROBE_REST_MS;
		}
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p99 in ms of the samples taken after `since`; *n is how many. The
 * caller holds g->mu. */
static double p99_since(sp_guard *g, long long since, size_t *n)
{
	uint32_t *v = g->sorted;
	size_t i, k = 0;

	for (i = 0; i < g->count; i++) {
		const sample *s = &g->ring[(g->head + RING - 1 - i) % RING];
		if (s->at_ms <= since)
			break;
		v[k++] = s->us;
	}
	*n = k;
	if (k == 0)
		return 0;
	qsort(v, k, sizeof(v[0]), cmp_u32);
	return (double)v[(k * 99 + 99) / 100 - 1] / 1000.0;
}

/* Fraction of the samples taken after `since` that are above the
 * budget. The caller holds g->mu. */
static double over_since(sp_guard *g, long long since)
{
	size_t i, n = 0, over = 0;

	for (i = 0; i < g->count; i++) {
		const sample *s = &g->ring[(g->head + RING - 1 - i) % RING];
		if (s->at_ms <= since)
			break;
		n++;
		over += (double)s->us / 1000.0 > g->budget_ms;
	}
	return n ? (double)over / (double)n : 0;
}

/* Sets k to v, kept within its range. */
static void knob_set(sp_knob *k, int v)
{
	k->cur = v < k->min ? k->min : v > k->max ? k->max : v;
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The slowest pace: the least blocking per round, the lowest duty, one
 * pair. */
static int slowest(const sp_guard *g)
{
	return g->share <= MIN_SHARE && g->duty <= MIN_DUTY &&
	       g->par.cur == g->par.min;
}

static int full_speed(const sp_guard *g)
{
	return g->share >= MAX_SHARE && g->duty >= MAX_DUTY &&
	       g->par.cur >= g->par.max;
}

/* The blocking time one MIGRATE round may cost its source, in us. */
static double block_us(const sp_guard *g)
{
	double head = g->budget_ms - g->baseline_ms;

	return g->share * (head > 0 ? head : 0) * 1000.0;
}

/*
 * One decision: the model (see sp_guard_limits) sets the pace; the probes
 * correct it. The p99 is within budget when at most 1 % of the samples
 * are above it; with a few hundred samples that fraction is noisy, so
 * "over" needs 1 % plus two standard errors. Over: every MIGRATE round
 * may block for less (share), pairs spend less of their time inside
 * MIGRATE (duty) and fewer move at once (multiplicative decrease). Well
 * within (p99 under 80 % of the budget): a little more of each (additive
 * increase). The caller holds g->mu.
 */
static void decide(sp_guard *g, long long now)
{
	long long since =
	    now - WINDOW_MS > g->changed_ms ? now - WINDOW_MS : g->changed_ms;
	size_t n;
	double p99 = p99_since(g, since, &n), frac, slack;

	if (n < g->n * 8) /* too few fresh samples to judge */
		return;
	g->now_ms = p99;
	if (p99 > g->worst_ms)
		g->worst_ms = p99;
	frac = over_since(g, since);
	slack = 0.01 + 2.0 * sqrt(0.01 * 0.99 / (double)n);
	if (frac > slack && slowest(g))
		g->floor_ms += now - g->changed_ms;
	if (frac > slack) {
		g->share = clampd(g->share * 0.6, MIN_SHARE, MAX_SHARE);
		g->duty = clampd(g->duty * 0.7, MIN_DUTY, MAX_DUTY);
		knob_set(&g->par, g->par.cur / 2);
		g->changed_ms = now;
	} else if (frac <= 0.01 && p99 <= 0.8 * g->budget_ms &&
		   !full_speed(g)) {
		g->share = clampd(g->share + 0.05, MIN_SHARE, MAX_SHARE);
		g->duty = clampd(g->duty + 0.05, MIN_DUTY, MAX_DUTY);
		if (g->par.cur < g->par.max) {
			knob_set(&g->par, g->par.cur + 1);
			pthread_cond_broadcast(&g->turn);
		}
		g->changed_ms = now;
	}
	if (g->par.cur < g->low_par)
		g->low_par = g->par.cur;
	if (g->share < g->low_share)
		g->low_share = g->share;
	if (g->duty < g->low_duty)
		g->low_duty = g->duty;
}

static void *guard_main(void *arg)
{
	sp_guard *g = arg;
	int probe = g->o->probe_ms > 0 ? g->o->probe_ms : 25;
	long long next_decision = sp_now_ms() + PERIOD_MS;

	while (!atomic_load(&g->stop)) {
		long long now;
		probe_round(g);
		now = sp_now_ms();
		pthread_mutex_lock(&g->mu);
		if (!full_speed(g))
			g->throttled_ms += now - g->last_ms;
		g->last_ms = now;
		if (now >= next_decision) {
			decide(g, now);
			next_decision = now + PERIOD_MS;
		}
		pthread_mutex_unlock(&g->mu);
		sp_sleep_ms(probe);
	}
	return NULL;
}

/* Probes every node a few times before anything moves. */
static void baseline(sp_guard *g)
{
	size_t n;
	int i;

	/* At the same pace as during the move: how often a node is woken up
	 * changes how fast it answers. */
	for (i = 0; i < BASELINE_ROUNDS; i++) {
		probe_round(g);
		sp_sleep_ms(g->o->probe_ms > 0 ? g->o->probe_ms : 25);
	}
	pthread_mutex_lock(&g->mu);
	g->baseline_ms = p99_since(g, 0, &n);
	pthread_mutex_unlock(&g->mu);
}

/*
 * The budget: --max-p99-ms, or the baseline raised by
 * --max-latency-increase, the lower of the two when both are given; with
 * neither, the default: twice the baseline p99, and at least 1 ms above
 * it (README, "The latency guard": what clients feel as a hiccup on a
 * quiet loopback cluster and what a move at that pace costs in time).
 */
static sp_err set_budget(sp_guard *g, sp_error *err)
{
	const sp_migrate_opts *o = g->o;
	double rel = g->baseline_ms * (1.0 + o->max_increase_pct / 100.0);

	if (o->max_p99_ms > 0 && o->max_p99_ms <= g->baseline_ms)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--max-p99-ms %g is not above the p99 the "
				 "nodes answer in before anything moves (%.3f "
				 "ms): no pace could keep it; give a budget "
				 "above it, or --fast for no guard",
				 o->max_p99_ms, g->baseline_ms);
	if (o->max_p99_ms > 0 && o->max_increase_pct > 0)
		g->budget_ms = o->max_p99_ms < rel ? o->max_p99_ms : rel;
	else if (o->max_p99_ms > 0 || o->max_increase_pct > 0)
		g->budget_ms = o->max_p99_ms > 0 ? o->max_p99_ms : rel;
	else {
		g->by_default = 1;
		g->budget_ms = 2.0 * g->baseline_ms;
		if (g->budget_ms < g->baseline_ms + 1.0)
			g->budget_ms = g->baseline_ms + 1.0;
	}
	return SP_OK;
}

static void guard_free(sp_guard *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		sp_conn_close(g->c[i]);
	free(g->c);
	free(g->rest_until);
	pthread_cond_destroy(&g->turn);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

sp_err sp_guard_start(const sp_endpoint *nodes, const int *which, size_t n,
		      const sp_migrate_opts *o, sp_guard **out, sp_error *err)
{
	sp_guard *g;
	sp_err rc;

	*out = NULL;
	if (o->fast)
		return SP_OK;
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->c = calloc(n ? n : 1, sizeof(*g->c))) == NULL ||
	    (g->rest_until = calloc(n ? n : 1, sizeof(long long))) == NULL) {
		if (g != NULL)
			free(g->c);
		free(g);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	if (o->conn != NULL)
		g->po = *o->conn;
	g->po.connect_timeout_ms = PROBE_CONNECT_MS;
	g->po.timeout_ms = PROBE_REPLY_MS;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->turn, NULL);
	g->nodes = nodes;
	g->which = which;
	g->n = n;
	g->o = o;
	/* One pair at first: a move that begins at full speed has hurt
	 * clients before the first measurement can say so. */
	g->par = (sp_knob){1, 1, o->parallel};
	g->share = g->low_share = START_SHARE;
	g->duty = g->low_duty = START_DUTY;
	g->low_win = o->window;
	g->low_par = 1;
	baseline(g);
	if ((rc = set_budget(g, err)) != SP_OK) {
		guard_free(g);
		return rc;
	}
	g->now_ms = g->baseline_ms;
	g->last_ms = g->changed_ms = sp_now_ms();
	g->running = pthread_create(&g->tid, NULL, guard_main, g) == 0;
	*out = g;
	return SP_OK;
}

void sp_guard_limits(sp_guard *g, const sp_migrate_opts *o, sp_limits *out)
{
	double us, win;

	if (g == NULL) {
		*out = (sp_limits){.window = o->window,
				   .depth = o->pipeline,
				   .batch = o->batch_keys,
				   .duty = 1.0};
		return;
	}
	pthread_mutex_lock(&g->mu);
	us = block_us(g);
	/* A window's SETSLOT pipelines block their nodes too, and every
	 * window's end sends clients MOVED: fewer, larger windows cost them
	 * fewer topology refreshes. The window follows the share. */
	win = (double)o->window * g->share / MAX_SHARE;
	*out = (sp_limits){.window = win < 1	       ? 1
				     : win > o->window ? o->window
						       : (int)win,
			   .depth = 1,
			   .batch = o->batch_keys,
			   .block_us = us > 1 ? us : 1,
			   .duty = g->duty};
	if (out->window < g->low_win)
		g->low_win = out->window;
	pthread_mutex_unlock(&g->mu);
}

void sp_guard_now(sp_guard *g, sp_guard_now_t *out)
{
	memset(out, 0, sizeof(*out));
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	out->budget_ms = g->budget_ms;
	out->p99_ms = g->now_ms;
	out->block_us = block_us(g);
	out->duty = g->duty;
	out->parallel = g->par.cur;
	pthread_mutex_unlock(&g->mu);
}

void sp_guard_stop(sp_guard *g, sp_guard_report *rep)
{
	if (g == NULL)
		return;
	atomic_store(&g->stop, 1);
	if (g->running)
		pthread_join(g->tid, NULL);
	if (rep != NULL)
		*rep = (sp_guard_report){
		    .baseline_p99_ms = g->baseline_ms,
		    .budget_ms = g->budget_ms,
		    .by_default = g->by_default,
		    .worst_p99_ms = g->worst_ms,
		    .throttled_s = (double)g->throttled_ms / 1000.0,
		    .min_window = g->low_win,
		    .min_parallel = g->low_par,
		    .min_share = g->low_share,
		    .min_duty = g->low_duty,
		    .out_of_reach_s = (double)g->floor_ms / 1000.0};
	guard_free(g);
}

void sp_guard_enter(sp_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	while (g->active >= g->par.cur)
		pthread_cond_wait(&g->turn, &g->mu);
	g->active++;
	pthread_mutex_unlock(&g->mu);
}

void sp_guard_leave(sp_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->active--;
	pthread_cond_broadcast(&g->turn);
	pthread_mutex_unlock(&g->mu);
}
