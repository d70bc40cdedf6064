/*
 * guard.c - the latency guard (see guard.h).
 */
#include "engine/guard.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

#define RING		4096 /* probe samples kept */
#define PERIOD_MS	250  /* between control decisions */
#define WINDOW_MS	1000 /* samples a decision looks at */
#define BASELINE_ROUNDS 40   /* one second of probes before the move */
#define MAX_PAUSE_MS	200
#define START_PAUSE_MS	5
#define START_BATCH	16 /* keys per MIGRATE at first */

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
	size_t n;
	const sp_migrate_opts *o;
	sample ring[RING];
	uint32_t sorted[RING]; /* scratch for p99_since */
	size_t head, count;
	sp_knob win, depth, batch, par, pause; /* batch: keys per MIGRATE;
						  par: pairs moving at once */
	double budget_ms, baseline_ms, worst_ms;
	long long changed_ms, throttled_ms, last_ms;
	int low_win, low_par, high_pause; /* for the report */
	int active;
	pthread_cond_t turn; /* a pair may start a window */
	long long floor_ms;  /* time over budget at the slowest pace */
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* One PING to every node; samples go into the ring. */
static void probe_round(sp_guard *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		const sp_endpoint *e = &g->nodes[g->which[i]];
		sp_error err;
		long long t0;
		if (g->c[i] == NULL &&
		    sp_conn_open(e->host, e->port, g->o->conn, &g->c[i],
				 &err) != SP_OK)
			continue;
		t0 = now_us();
		if (sp_conn_cmd(g->c[i], NULL, &err, "PING") != SP_OK) {
			sp_conn_close(g->c[i]);
			g->c[i] = NULL;
			continue;
		}
		pthread_mutex_lock(&g->mu);
		g->ring[g->head] =
		    (sample){sp_now_ms(), (uint32_t)(now_us() - t0)};
		g->head = (g->head + 1) % RING;
		if (g->count < RING)
			g->count++;
		pthread_mutex_unlock(&g->mu);
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

/*
 * One AIMD decision. The p99 is within budget when at most 1 % of the
 * samples are above it; with a few hundred samples that fraction is
 * noisy, so "over" needs 1 % plus two standard errors. The caller holds
 * g->mu.
 */
/* Sets k to v, kept within its range. */
static void knob_set(sp_knob *k, int v)
{
	k->cur = v < k->min ? k->min : v > k->max ? k->max : v;
}

static void knob_halve(sp_knob *k)
{
	knob_set(k, k->cur / 2);
}

/* Every control at its slowest: one slot, one MIGRATE of one key, one
 * pair, the longest pause. */
static int slowest(const sp_guard *g)
{
	return g->win.cur == g->win.min && g->depth.cur == g->depth.min &&
	       g->batch.cur == g->batch.min && g->par.cur == g->par.min &&
	       g->pause.cur == g->pause.max;
}

static int full_speed(const sp_guard *g)
{
	return g->win.cur >= g->win.max && g->depth.cur >= g->depth.max &&
	       g->batch.cur >= g->batch.max && g->par.cur >= g->par.max &&
	       g->pause.cur <= g->pause.min;
}

static void decide(sp_guard *g, long long now)
{
	long long since =
	    now - WINDOW_MS > g->changed_ms ? now - WINDOW_MS : g->changed_ms;
	size_t n;
	double p99 = p99_since(g, since, &n), frac, slack;

	if (n < g->n * 8) /* too few fresh samples to judge */
		return;
	if (p99 > g->worst_ms)
		g->worst_ms = p99;
	frac = over_since(g, since);
	slack = 0.01 + 2.0 * sqrt(0.01 * 0.99 / (double)n);
	if (frac > slack && slowest(g))
		g->floor_ms += now - g->changed_ms;
	if (frac > slack) {
		/* Multiplicative decrease: fewer slots at once first (a
		 * window's worth of MIGRATEs is one long stall), and longer
		 * pauses between steps. */
		knob_halve(&g->win);
		knob_halve(&g->depth);
		knob_halve(&g->batch);
		knob_halve(&g->par);
		knob_set(&g->pause,
			 g->pause.cur ? g->pause.cur * 2 : START_PAUSE_MS);
		g->changed_ms = now;
	} else if (frac <= 0.01) {
		/* Additive increase, in small steps: pauses shrink by a
		 * millisecond, then window and depth grow by one. */
		if (g->pause.cur > g->pause.min)
			knob_set(&g->pause, g->pause.cur - 1);
		else if (g->batch.cur < g->batch.max)
			knob_set(&g->batch, g->batch.cur + 4);
		else if (g->par.cur < g->par.max) {
			knob_set(&g->par, g->par.cur + 1);
			pthread_cond_broadcast(&g->turn);
		} else if (g->win.cur < g->win.max ||
			   g->depth.cur < g->depth.max) {
			knob_set(&g->win, g->win.cur + 1);
			knob_set(&g->depth, g->depth.cur + 1);
		} else
			return;
		g->changed_ms = now;
	}
	if (g->win.cur < g->low_win)
		g->low_win = g->win.cur;
	if (g->par.cur < g->low_par)
		g->low_par = g->par.cur;
	if (g->pause.cur > g->high_pause)
		g->high_pause = g->pause.cur;
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

static void set_budget(sp_guard *g)
{
	const sp_migrate_opts *o = g->o;
	double rel = g->baseline_ms * (1.0 + o->max_increase_pct / 100.0);

	if (o->max_p99_ms > 0 && o->max_increase_pct > 0)
		g->budget_ms = o->max_p99_ms < rel ? o->max_p99_ms : rel;
	else
		g->budget_ms = o->max_p99_ms > 0 ? o->max_p99_ms : rel;
}

sp_err sp_guard_start(const sp_endpoint *nodes, const int *which, size_t n,
		      const sp_migrate_opts *o, sp_guard **out, sp_error *err)
{
	sp_guard *g;

	*out = NULL;
	if (o->max_p99_ms <= 0 && o->max_increase_pct <= 0)
		return SP_OK;
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->c = calloc(n ? n : 1, sizeof(*g->c))) == NULL) {
		free(g);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->turn, NULL);
	g->nodes = nodes;
	g->which = which;
	g->n = n;
	g->o = o;
	/* Slow start: a move that begins at full speed has hurt clients
	 * before the first measurement can say so. */
	g->win = (sp_knob){1, 1, o->window};
	g->depth =
	    (sp_knob){1, 1,
		      o->pipeline > 0 && o->pipeline < o->window ? o->pipeline
								 : o->window};
	g->par = (sp_knob){1, 1, o->parallel};
	g->batch =
	    (sp_knob){o->batch_keys < START_BATCH ? o->batch_keys : START_BATCH,
		      1, o->batch_keys};
	g->pause = (sp_knob){START_PAUSE_MS, 0, MAX_PAUSE_MS};
	g->low_win = g->low_par = 1;
	g->high_pause = START_PAUSE_MS;
	baseline(g);
	set_budget(g);
	g->last_ms = g->changed_ms = sp_now_ms();
	g->running = pthread_create(&g->tid, NULL, guard_main, g) == 0;
	*out = g;
	return SP_OK;
}

void sp_guard_limits(sp_guard *g, const sp_migrate_opts *o, sp_limits *out)
{
	if (g == NULL) {
		*out = (sp_limits){o->window, o->pipeline, o->batch_keys, 0};
		return;
	}
	pthread_mutex_lock(&g->mu);
	*out =
	    (sp_limits){g->win.cur, g->depth.cur, g->batch.cur, g->pause.cur};
	pthread_mutex_unlock(&g->mu);
}

void sp_guard_stop(sp_guard *g, sp_guard_report *rep)
{
	size_t i;

	if (g == NULL)
		return;
	atomic_store(&g->stop, 1);
	if (g->running)
		pthread_join(g->tid, NULL);
	if (rep != NULL)
		*rep = (sp_guard_report){
		    .baseline_p99_ms = g->baseline_ms,
		    .budget_ms = g->budget_ms,
		    .worst_p99_ms = g->worst_ms,
		    .throttled_s = (double)g->throttled_ms / 1000.0,
		    .min_window = g->low_win,
		    .min_parallel = g->low_par,
		    .max_pause_ms = g->high_pause,
		    .out_of_reach_s = (double)g->floor_ms / 1000.0};
	for (i = 0; i < g->n; i++)
		sp_conn_close(g->c[i]);
	free(g->c);
	pthread_cond_destroy(&g->turn);
	pthread_mutex_destroy(&g->mu);
	free(g);
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
