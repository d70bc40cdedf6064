/*
 * traffic_run.c - printing a traffic run: the live line of each second and
 * the side-by-side report (the run itself is traffic/phases.c).
 */
#include "cli/traffic_run.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static double pct_ms(const sp_traffic_counts *c, double p)
{
	return sp_traffic_pct_ms(c, p);
}

/* The sampler's callback: one second's line (stderr, or JSON on stdout). */
static void live_line(void *ud, double at, const char *phase,
		      const sp_traffic_counts *d)
{
	const sp_trun *r = ud;

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
		    (json_int_t)d->events[SP_CEV_MOVED], "ask",
		    (json_int_t)d->events[SP_CEV_ASK]));
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
		(unsigned long long)d->events[SP_CEV_MOVED],
		(unsigned long long)d->events[SP_CEV_ASK],
		r->cli->tty ? "  " : "\n");
}

int sp_trun_start(sp_trun *r, const sp_cli *cli, const sp_traffic_opts *to,
		  const sp_trun_opts *o, const char *phase)
{
	sp_phases_opts po = {.series = o->series};
	sp_error err = {0};

	memset(r, 0, sizeof(*r));
	r->cli = cli;
	r->o = *o;
	if (o->live) {
		po.tick = live_line;
		po.ud = r;
	}
	if (sp_phases_start(to, &po, phase, &r->p, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	return SP_EXIT_OK;
}

void sp_trun_phase(sp_trun *r, const char *name)
{
	sp_phases_next(r->p, name);
}

static json_t *counts_json(const sp_phase *p)
{
	const sp_traffic_counts *c = &p->c;
	json_t *o = json_object(), *f = json_object(), *e = json_object();
	int i;

	for (i = 0; i < SP_CEV__COUNT; i++) {
		json_object_set_new(f, sp_cev_name(i),
				    json_integer((json_int_t)c->failed[i]));
		json_object_set_new(e, sp_cev_name(i),
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

static void report_json(const sp_phase *ph, int nph, int verify,
			const sp_traffic_verify *v)
{
	json_t *o = json_object(), *a = json_array();
	char *s;
	int i;

	for (i = 0; i < nph; i++)
		json_array_append_new(a, counts_json(&ph[i]));
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
	return (double)p->c.events[SP_CEV_MOVED];
}
static double c_ask(const sp_phase *p)
{
	return (double)p->c.events[SP_CEV_ASK];
}
static double c_retry(const sp_phase *p)
{
	return (double)(p->c.events[SP_CEV_TRYAGAIN] +
			p->c.events[SP_CEV_CLUSTERDOWN] +
			p->c.events[SP_CEV_LOADING] + p->c.events[SP_CEV_CONN] +
			p->c.events[SP_CEV_TIMEOUT]);
}
static double c_bad(const sp_phase *p)
{
	return (double)(p->c.stale_reads + p->c.lost_reads);
}

static void report_text(const sp_phase *ph, int nph, int verify,
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
	for (k = 0; k < nph; k++)
		printf("%10s", ph[k].name);
	printf("\n");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		printf("%-14s", rows[i].name);
		for (k = 0; k < nph; k++)
			printf(rows[i].fmt, rows[i].fn(&ph[k]));
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
	const sp_phase *ph;
	int bad = 0, nph;
	sp_err rc = sp_phases_finish(r->p, verify, v, &err);

	if (r->o.live && r->cli->tty && !r->cli->json)
		fputc('\n', stderr);
	if (rc != SP_OK) {
		sp_cli_errorf("%s", err.msg);
		bad = 1;
	}
	bad |= sp_phases_bad(r->p, v);
	ph = sp_phases_get(r->p, &nph);
	if (r->cli->json)
		report_json(ph, nph, verify, v);
	else
		report_text(ph, nph, verify, v);
	fflush(stdout);
	sp_phases_free(r->p);
	r->p = NULL;
	return bad;
}
