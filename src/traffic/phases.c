/*
 * phases.c - the generator around an operation or on its own: the
 * one-second sampler, the CSV series and the phases (see phases.h).
 */
#include "traffic/phases.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

struct sp_phases {
	sp_traffic *t;
	sp_phases_opts o;
	FILE *series;
	pthread_t tid;
	int sampling;
	atomic_int stop;
	pthread_mutex_t mu; /* ph, nph, mark, mark_ms */
	sp_phase ph[SP_MAX_PHASES];
	int nph;
	sp_traffic_counts mark; /* snapshot at the current phase start */
	long long mark_ms, start_ms;
};

static const char csv_head[] =
    "seconds,phase,ops,reads,writes,p50_ms,p99_ms,p999_ms,max_ms,errors,"
    "moved,ask,tryagain,clusterdown,conn\n";

double sp_traffic_pct_ms(const sp_traffic_counts *c, double p)
{
	return sp_us_ms(sp_hist_pct(&c->lat, p));
}

static void series_line(sp_phases *r, double at, const char *phase,
			const sp_traffic_counts *d)
{
	fprintf(r->series,
		"%.1f,%s,%llu,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%llu,"
		"%llu,%llu,%llu,%llu,%llu\n",
		at, phase, (unsigned long long)d->lat.n,
		(unsigned long long)d->reads, (unsigned long long)d->writes,
		sp_traffic_pct_ms(d, 0.5), sp_traffic_pct_ms(d, 0.99),
		sp_traffic_pct_ms(d, 0.999), sp_us_ms(d->lat.max_us),
		(unsigned long long)d->errors,
		(unsigned long long)d->events[SP_CEV_MOVED],
		(unsigned long long)d->events[SP_CEV_ASK],
		(unsigned long long)d->events[SP_CEV_TRYAGAIN],
		(unsigned long long)d->events[SP_CEV_CLUSTERDOWN],
		(unsigned long long)d->events[SP_CEV_CONN]);
	fflush(r->series);
}

/* One second's interval d, to the series and the callback. */
static void sample(sp_phases *r, long long now, const sp_traffic_counts *d)
{
	double at = (double)(now - r->start_ms) / 1000.0;
	char phase[16];

	pthread_mutex_lock(&r->mu);
	snprintf(phase, sizeof(phase), "%s", r->ph[r->nph - 1].name);
	pthread_mutex_unlock(&r->mu);
	if (r->series != NULL)
		series_line(r, at, phase, d);
	if (r->o.tick != NULL)
		r->o.tick(r->o.ud, at, phase, d);
}

/* Every second: the interval since the last one, to the outputs. */
static void *sampler_main(void *arg)
{
	sp_phases *r = arg;
	sp_traffic_counts *prev = calloc(1, sizeof(*prev));
	sp_traffic_counts *cur = calloc(1, sizeof(*cur));
	sp_traffic_counts *d = calloc(1, sizeof(*d));
	long long next = r->start_ms + 1000;

	while (prev != NULL && cur != NULL && d != NULL &&
	       !atomic_load(&r->stop)) {
		long long now = sp_now_ms();
		sp_traffic_counts *tmp;
		if (now < next) {
			sp_sleep_ms(next - now < 50 ? next - now : 50);
			continue;
		}
		next += 1000;
		sp_traffic_snapshot(r->t, cur);
		*d = *cur;
		sp_traffic_counts_sub(d, prev);
		tmp = prev;
		prev = cur;
		cur = tmp;
		sample(r, now, d);
	}
	free(prev);
	free(cur);
	free(d);
	return NULL;
}

sp_err sp_phases_start(const sp_traffic_opts *to, const sp_phases_opts *o,
		       const char *phase, sp_phases **out, sp_error *err)
{
	sp_phases *r = calloc(1, sizeof(*r));
	sp_err rc;

	*out = NULL;
	if (r == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	r->o = *o;
	pthread_mutex_init(&r->mu, NULL);
	if (o->series != NULL) {
		if ((r->series = fopen(o->series, "w")) == NULL) {
			sp_phases_free(r);
			return sp_seterr(err, SP_ERR_USAGE,
					 "cannot write the series file %s",
					 o->series);
		}
		fputs(csv_head, r->series);
	}
	if ((rc = sp_traffic_start(to, &r->t, err)) != SP_OK) {
		sp_phases_free(r);
		return rc;
	}
	r->start_ms = r->mark_ms = sp_now_ms();
	snprintf(r->ph[0].name, sizeof(r->ph[0].name), "%s", phase);
	r->nph = 1;
	r->sampling = pthread_create(&r->tid, NULL, sampler_main, r) == 0;
	*out = r;
	return SP_OK;
}

/* Closes the current phase at now (the caller holds r->mu). */
static void close_phase(sp_phases *r)
{
	sp_traffic_counts *now = malloc(sizeof(*now));
	sp_phase *p = &r->ph[r->nph - 1];

	if (now == NULL)
		return;
	sp_traffic_snapshot(r->t, now);
	p->c = *now;
	sp_traffic_counts_sub(&p->c, &r->mark);
	p->seconds = (double)(sp_now_ms() - r->mark_ms) / 1000.0;
	r->mark = *now;
	r->mark_ms = sp_now_ms();
	free(now);
}

void sp_phases_next(sp_phases *r, const char *name)
{
	pthread_mutex_lock(&r->mu);
	close_phase(r);
	if (r->nph < SP_MAX_PHASES) {
		memset(&r->ph[r->nph], 0, sizeof(r->ph[r->nph]));
		snprintf(r->ph[r->nph].name, sizeof(r->ph[r->nph].name), "%s",
			 name);
		r->nph++;
	}
	pthread_mutex_unlock(&r->mu);
}

static void stop_sampler(sp_phases *r)
{
	atomic_store(&r->stop, 1);
	if (r->sampling)
		pthread_join(r->tid, NULL);
	r->sampling = 0;
}

sp_err sp_phases_finish(sp_phases *r, int verify, sp_traffic_verify *v,
			sp_error *err)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&r->mu);
	close_phase(r);
	pthread_mutex_unlock(&r->mu);
	stop_sampler(r);
	sp_traffic_stop(r->t);
	return verify ? sp_traffic_verify_keys(r->t, v, err) : SP_OK;
}

const sp_phase *sp_phases_get(const sp_phases *r, int *n)
{
	*n = r->nph;
	return r->ph;
}

int sp_phases_bad(const sp_phases *r, const sp_traffic_verify *v)
{
	int bad = 0, k;

	for (k = 0; k < r->nph; k++)
		bad |= r->ph[k].c.errors > 0 || r->ph[k].c.stale_reads > 0 ||
		       r->ph[k].c.lost_reads > 0;
	return bad | (v->lost > 0 || v->stale > 0 || v->failed > 0);
}

void sp_phases_free(sp_phases *r)
{
	if (r == NULL)
		return;
	stop_sampler(r);
	sp_traffic_free(r->t);
	if (r->series != NULL)
		fclose(r->series);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
