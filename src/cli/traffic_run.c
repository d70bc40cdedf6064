/*
 * traffic_run.c - the generator around an operation or on its own: the
 * one-second sampler, phases, and the side-by-side report.
 */
#include "cli/traffic_run.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

static const char csv_head[] =
    "seconds,phase,ops,reads,writes,p50_ms,p99_ms,p999_ms,max_ms,errors,"
    "moved,ask,tryagain,clusterdown,conn\n";

static double pct_ms(const sp_traffic_counts *c, double p)
{
	return sp_us_ms(sp_hist_pct(&c->lat, p));
}

static void series_line(sp_trun *r, double at, const char *phase,
			const sp_traffic_counts *d)
{
	fprintf(r->series,
		"%.1f,%s,%llu,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%llu,"
		"%llu,%llu,%llu,%llu,%llu\n",
		at, phase, (unsigned long long)d->lat.n,
		(unsigned long long)d->reads, (unsigned long long)d->writes,
		pct_ms(d, 0.5), pct_ms(d, 0.99), pct_ms(d, 0.999),
		sp_us_ms(d->lat.max_us), (unsigned long long)d->errors,
		(unsigned long long)d->events[SP_TE_MOVED],
		(unsigned long long)d->events[SP_TE_ASK],
		(unsigned long long)d->events[SP_TE_TRYAGAIN],
		(unsigned long long)d->events[SP_TE_CLUSTERDOWN],
		(unsigned long long)d->events[SP_TE_CONN]);
	fflush(r->series);
}

static void live_line(sp_trun *r, double at, const char *phase,
		      const sp_traffic_counts *d)
{
	if (r->cli->json) {
		sp_cli_json_print(json_pack(
		    "{s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I}",
		    "event", "traffic_second", "seconds", sp_json_fixed(at, 1),
		    "phase", phase, "ops", (json_int_t)d->lat.n, "p50_ms",
		    sp_json_fixed(pct_ms(d, 0.5), 3), "p99_ms",
		    sp_json_fixed(pct_ms(d, 0.99), 3), "p999_ms",
		    sp_json_fixed(pct_ms(d, 0.999), 3), "max_ms",
		    sp_json_fixed(sp_us_ms(d->lat.max_us), 3), "errors",
		    (json_int_t)d->errors, "moved",
		    (json_int_t)d->events[SP_TE_MOVED], "ask",
		    (json_int_t)d->events[SP_TE_ASK]));
		fflush(stdout);
		return;
	}
	fprintf(stderr,
		"%s%6.1fs %-8s %7llu ops/s  p50 %.2f  p99 %.2f  p99.9 %.2f  "
		"max %.2f ms  errors %llu  moved %llu  ask %llu%s",
		r->cli->tty ? "\r" : "", at, phase,
		(unsigned long long)d->lat.n, pct_ms(d, 0.5), pct_ms(d, 0.99),
		pct_ms(d, 0.999), sp_us_ms(d->lat.max_us),
		(unsigned long long)d->errors,
		(unsigned long long)d->events[SP_TE_MOVED],
		(unsigned long long)d->events[SP_TE_ASK],
		r->cli->tty ? "  " : "\n");
}

/* Every second: the interval since the last one, to the outputs. */
static void *sampler_main(void *arg)
{
	sp_trun *r = arg;
	sp_traffic_counts *prev = calloc(1, sizeof(*prev));
	sp_traffic_counts *cur = calloc(1, sizeof(*cur));
	sp_traffic_counts *d = calloc(1, sizeof(*d));
	long long next = r->start_ms + 1000;
	char phase[16];

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
		pthread_mutex_lock(&r->mu);
		snprintf(phase, sizeof(phase), "%s", r->ph[r->nph - 1].name);
		pthread_mutex_unlock(&r->mu);
		if (r->series != NULL)
			series_line(r, (double)(now - r->start_ms) / 1000.0,
				    phase, d);
		if (r->o.live)
			live_line(r, (double)(now - r->start_ms) / 1000.0,
				  phase, d);
	}
	free(prev);
	free(cur);
	free(d);
	return NULL;
}

void sp_trun_defaults_for_op(sp_traffic_opts *to)
{
	*to = sp_traffic_defaults();
}

int sp_trun_start(sp_trun *r, const sp_cli *cli, const sp_traffic_opts *to,
		  const sp_trun_opts *o, const char *phase)
{
	sp_error err = {0};

	memset(r, 0, sizeof(*r));
	r->cli = cli;
	r->o = *o;
	pthread_mutex_init(&r->mu, NULL);
	if (o->series != NULL) {
		if ((r->series = fopen(o->series, "w")) == NULL) {
			sp_cli_errorf("cannot write the series file %s",
				      o->series);
			pthread_mutex_destroy(&r->mu);
			return SP_EXIT_USAGE;
		}
		fputs(csv_head, r->series);
	}
	if (sp_traffic_start(to, &r->t, &err) != SP_OK) {
		if (r->series != NULL)
			fclose(r->series);
		pthread_mutex_destroy(&r->mu);
		return sp_cli_fail(cli, &err);
	}
	r->start_ms = r->mark_ms = sp_now_ms();
	snprintf(r->ph[0].name, sizeof(r->ph[0].name), "%s", phase);
	r->nph = 1;
	r->sampling = pthread_create(&r->tid, NULL, sampler_main, r) == 0;
	return SP_EXIT_OK;
}

/* Closes the current phase at now (the caller holds r->mu). */
static void close_phase(sp_trun *r)
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

void sp_trun_phase(sp_trun *r, const char *name)
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

static json_t *counts_json(const sp_phase *p)
{
	const sp_traffic_counts *c = &p->c;
	json_t *o = json_object(), *f = json_object(), *e = json_object();
	int i;

	for (i = 0; i < SP_TE__COUNT; i++) {
		json_object_set_new(f, sp_terr_name(i),
				    json_integer((json_int_t)c->failed[i]));
		json_object_set_new(e, sp_terr_name(i),
				    json_integer((json_int_t)c->events[i]));
	}
	json_object_set_new(o, "phase", json_string(p->name));
	json_object_set_new(o, "seconds", json_real(p->seconds));
	json_object_set_new(o, "ops", json_integer((json_int_t)c->lat.n));
	json_object_set_new(
	    o, "ops_per_s",
	    json_real(p->seconds > 0 ? (double)c->lat.n / p->seconds : 0));
	json_object_set_new(o, "reads", json_integer((json_int_t)c->reads));
	json_object_set_new(o, "writes", json_integer((json_int_t)c->writes));
	json_object_set_new(o, "p50_ms", json_real(pct_ms(c, 0.5)));
	json_object_set_new(o, "p99_ms", json_real(pct_ms(c, 0.99)));
	json_object_set_new(o, "p999_ms", json_real(pct_ms(c, 0.999)));
	json_object_set_new(o, "max_ms", json_real(sp_us_ms(c->lat.max_us)));
	json_object_set_new(o, "errors", json_integer((json_int_t)c->errors));
	json_object_set_new(o, "failed", f);
	json_object_set_new(o, "events", e);
	json_object_set_new(o, "stale_reads",
			    json_integer((json_int_t)c->stale_reads));
	json_object_set_new(o, "lost_reads",
			    json_integer((json_int_t)c->lost_reads));
	return o;
}

static json_t *verify_json(const sp_traffic_verify *v)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "keys_written",
			 (json_int_t)v->keys_written, "checked",
			 (json_int_t)v->checked, "lost", (json_int_t)v->lost,
			 "stale", (json_int_t)v->stale, "unreadable",
			 (json_int_t)v->failed, "seq_sum",
			 (json_int_t)v->seq_sum);
}

static void report_json(const sp_trun *r, int verify,
			const sp_traffic_verify *v)
{
	json_t *o = json_object(), *a = json_array();
	char *s;
	int i;

	for (i = 0; i < r->nph; i++)
		json_array_append_new(a, counts_json(&r->ph[i]));
	json_object_set_new(o, "event", json_string("traffic"));
	json_object_set_new(o, "phases", a);
	if (verify)
		json_object_set_new(o, "verify", verify_json(v));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

typedef double (*col_fn)(const sp_phase *p);
static double c_secs(const sp_phase *p)
{
	return p->seconds;
}
static double c_rate(const sp_phase *p)
{
	return p->seconds > 0 ? (double)p->c.lat.n / p->seconds : 0;
}
static double c_p50(const sp_phase *p)
{
	return pct_ms(&p->c, 0.5);
}
static double c_p99(const sp_phase *p)
{
	return pct_ms(&p->c, 0.99);
}
static double c_p999(const sp_phase *p)
{
	return pct_ms(&p->c, 0.999);
}
static double c_max(const sp_phase *p)
{
	return sp_us_ms(p->c.lat.max_us);
}
static double c_err(const sp_phase *p)
{
	return (double)p->c.errors;
}
static double c_moved(const sp_phase *p)
{
	return (double)p->c.events[SP_TE_MOVED];
}
static double c_ask(const sp_phase *p)
{
	return (double)p->c.events[SP_TE_ASK];
}
static double c_retry(const sp_phase *p)
{
	return (double)(p->c.events[SP_TE_TRYAGAIN] +
			p->c.events[SP_TE_CLUSTERDOWN] +
			p->c.events[SP_TE_LOADING] + p->c.events[SP_TE_CONN] +
			p->c.events[SP_TE_TIMEOUT]);
}
static double c_bad(const sp_phase *p)
{
	return (double)(p->c.stale_reads + p->c.lost_reads);
}

static void report_text(const sp_trun *r, int verify,
			const sp_traffic_verify *v)
{
	static const struct {
		const char *name, *fmt;
		col_fn fn;
	} rows[] = {
	    {"seconds", "%10.1f", c_secs},     {"ops/s", "%10.0f", c_rate},
	    {"p50 ms", "%10.3f", c_p50},       {"p99 ms", "%10.3f", c_p99},
	    {"p99.9 ms", "%10.3f", c_p999},    {"max ms", "%10.3f", c_max},
	    {"errors", "%10.0f", c_err},       {"moved", "%10.0f", c_moved},
	    {"ask", "%10.0f", c_ask},	       {"retries", "%10.0f", c_retry},
	    {"stale/lost rd", "%10.0f", c_bad}};
	size_t i;
	int k;

	printf("%-14s", "traffic");
	for (k = 0; k < r->nph; k++)
		printf("%10s", r->ph[k].name);
	printf("\n");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		printf("%-14s", rows[i].name);
		for (k = 0; k < r->nph; k++)
			printf(rows[i].fmt, rows[i].fn(&r->ph[k]));
		printf("\n");
	}
	if (verify)
		printf("verify: %llu keys written, %llu read back, %llu lost, "
		       "%llu stale, %llu unreadable\n",
		       (unsigned long long)v->keys_written,
		       (unsigned long long)v->checked,
		       (unsigned long long)v->lost,
		       (unsigned long long)v->stale,
		       (unsigned long long)v->failed);
}

int sp_trun_finish(sp_trun *r, int verify, sp_traffic_verify *v)
{
	sp_error err = {0};
	int bad = 0, k;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&r->mu);
	close_phase(r);
	pthread_mutex_unlock(&r->mu);
	atomic_store(&r->stop, 1);
	if (r->sampling)
		pthread_join(r->tid, NULL);
	if (r->o.live && r->cli->tty && !r->cli->json)
		fputc('\n', stderr);
	sp_traffic_stop(r->t);
	if (verify && sp_traffic_verify_keys(r->t, v, &err) != SP_OK) {
		sp_cli_errorf("%s", err.msg);
		bad = 1;
	}
	for (k = 0; k < r->nph; k++)
		bad |= r->ph[k].c.errors > 0 || r->ph[k].c.stale_reads > 0 ||
		       r->ph[k].c.lost_reads > 0;
	bad |= v->lost > 0 || v->stale > 0 || v->failed > 0;
	if (r->cli->json)
		report_json(r, verify, v);
	else
		report_text(r, verify, v);
	fflush(stdout);
	sp_traffic_free(r->t);
	r->t = NULL;
	if (r->series != NULL)
		fclose(r->series);
	pthread_mutex_destroy(&r->mu);
	return bad;
}
