/*
 * preflight.c - the read-only readiness report: cluster check, config
 * drift, big keys and hot slots, memory headroom (now and after a plan),
 * replication links and lag, PING latency. See preflight.h for what each
 * section measures; the pure comparisons come first in this file, the
 * reading of the nodes after them.
 */
#include "ops/preflight.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "cluster/gather.h"
#include "ops/rebalance.h"

#define PIPE_CHUNK 1024

static const char *const default_params[] = {
    "cluster-node-timeout",
    "cluster-require-full-coverage",
    "cluster-migration-barrier",
    "cluster-allow-reads-when-down",
    "cluster-allow-replica-migration",
    "cluster-replica-validity-factor",
    "maxmemory",
    "maxmemory-policy",
    "appendonly",
    "appendfsync",
    "save",
    "repl-diskless-sync",
    "repl-backlog-size",
    "proto-max-bulk-len",
};

sp_preflight_opts sp_preflight_defaults(void)
{
	sp_preflight_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.check = sp_check_defaults();
	o.nparams = sizeof(default_params) / sizeof(default_params[0]);
	for (i = 0; i < o.nparams; i++)
		o.params[i] = default_params[i];
	o.scan = 1;
	o.scan_o = sp_scan_defaults();
	o.hot_slot_pct = 15;
	o.max_mem_pct = 80;
	o.plan_margin_pct = 10;
	o.max_lag_ms = 500;
	o.probes = 50;
	o.lat_avg_ms = 5;
	o.lat_p99_ms = 20;
	return o;
}

const char *sp_preflight_section(const char *code)
{
	static const struct {
		const char *code, *section;
	} map[] = {
	    {"version-drift", "config"},
	    {"config-drift", "config"},
	    {"config-unreadable", "config"},
	    {"big-key", "bigkeys"},
	    {"hot-slot", "bigkeys"},
	    {"scan-failed", "bigkeys"},
	    {"memory-high", "headroom"},
	    {"plan-overfill", "headroom"},
	    {"plan-stale", "headroom"},
	    {"replica-link-down", "replication"},
	    {"replica-lag", "replication"},
	    {"latency-avg", "latency"},
	    {"latency-p99", "latency"},
	    {"latency-failed", "latency"},
	};
	size_t i;

	for (i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].section;
	return "check";
}

/* ------------------------------------------------------------------ */
/* Pure parts                                                          */

static double mb(long long b)
{
	return (double)b / 1e6;
}

/* The value of parameter p on node i; version when p < 0. */
static const char *value_of(const sp_pf_node *n, int p)
{
	if (p < 0)
		return n->version[0] ? n->version : NULL;
	return n->values[p] ? n->values[p] : "(absent)";
}

static int compared(const sp_pf_node *n, int p)
{
	return n->reachable && (p < 0 ? n->version[0] != '\0' : n->config_read);
}

/* The most common value of parameter p (ties: the first node's) and how
 * many nodes hold it; NULL when no node is compared. */
static const char *reference(const sp_pf_node *nodes, size_t n, int p,
			     size_t *agree)
{
	const char *best = NULL;
	size_t i, j, cnt;

	*agree = 0;
	for (i = 0; i < n; i++) {
		if (!compared(&nodes[i], p))
			continue;
		for (j = 0, cnt = 0; j < n; j++)
			cnt += compared(&nodes[j], p) &&
			       strcmp(value_of(&nodes[i], p),
				      value_of(&nodes[j], p)) == 0;
		if (cnt > *agree) {
			best = value_of(&nodes[i], p);
			*agree = cnt;
		}
	}
	return best;
}

sp_err sp_pf_drift(const sp_pf_node *nodes, size_t n, const char *const *params,
		   size_t nparams, sp_findings *out, sp_error *err)
{
	const char *ref, *v;
	size_t agree, i;
	int p;

	for (p = -1; p < (int)nparams; p++) {
		if ((ref = reference(nodes, n, p, &agree)) == NULL)
			continue;
		for (i = 0; i < n; i++) {
			if (!compared(&nodes[i], p) ||
			    strcmp(v = value_of(&nodes[i], p), ref) == 0)
				continue;
			if (sp_findings_add(
				out, p < 0 ? "version-drift" : "config-drift",
				SP_SEV_WARN, -1, nodes[i].addr,
				"%s is \"%s\" on %s, \"%s\" on %zu other "
				"node%s: new and old nodes must match",
				p < 0 ? "redis_version" : params[p], v,
				nodes[i].addr, ref, agree,
				agree == 1 ? "" : "s") != SP_OK)
				return sp_seterr(err, SP_ERR_OOM,
						 "out of memory");
		}
	}
	return SP_OK;
}

/* Fills plan_in, plan_out and projected from the moves. */
static void project(sp_pf_node *nodes, size_t n, const sp_pf_move *moves,
		    size_t nmoves, double margin_pct)
{
	size_t i;

	for (i = 0; i < n; i++)
		nodes[i].plan_in = nodes[i].plan_out = 0;
	for (i = 0; i < nmoves; i++) {
		if (moves[i].src >= 0 && (size_t)moves[i].src < n)
			nodes[moves[i].src].plan_out += moves[i].bytes;
		if (moves[i].dst >= 0 && (size_t)moves[i].dst < n)
			nodes[moves[i].dst].plan_in += moves[i].bytes;
	}
	for (i = 0; i < n; i++)
		nodes[i].projected =
		    moves == NULL
			? -1
			: nodes[i].used_memory - nodes[i].plan_out +
			      (long long)llround((double)nodes[i].plan_in *
						 (1.0 + margin_pct / 100.0));
}

/* memory-high, or a note for maxmemory 0; and the plan's verdict. */
static sp_err headroom_node(const sp_pf_node *x, double max_pct,
			    sp_findings *out, sp_findings *notes)
{
	long long limit = (long long)((double)x->maxmemory * max_pct / 100.0);
	sp_err rc = SP_OK;

	if (x->maxmemory <= 0) {
		if (x->projected >= 0 && x->plan_in > 0)
			return sp_findings_add(
			    notes, "maxmemory-unlimited", SP_SEV_WARN, -1,
			    x->addr,
			    "%s receives about %.1f MB from the plan; "
			    "maxmemory "
			    "is 0 (unlimited): headroom not checked",
			    x->addr, mb(x->plan_in));
		return sp_findings_add(notes, "maxmemory-unlimited",
				       SP_SEV_WARN, -1, x->addr,
				       "maxmemory is 0 (unlimited) on %s: "
				       "headroom not checked",
				       x->addr);
	}
	if (x->used_memory > limit)
		rc = sp_findings_add(
		    out, "memory-high", SP_SEV_ERR, -1, x->addr,
		    "%s uses %.1f MB of its %.1f MB maxmemory (%.0f%%), above "
		    "the %.0f%% limit by %.1f MB",
		    x->addr, mb(x->used_memory), mb(x->maxmemory),
		    100.0 * (double)x->used_memory / (double)x->maxmemory,
		    max_pct, mb(x->used_memory - limit));
	if (rc == SP_OK && x->projected > limit && x->plan_in > 0)
		rc = sp_findings_add(
		    out, "plan-overfill", SP_SEV_ERR, -1, x->addr,
		    "after the plan %s would use about %.1f MB of its %.1f MB "
		    "maxmemory (%.0f%%): %.1f MB over the %.0f%% limit "
		    "(%.1f MB); it receives %.1f MB",
		    x->addr, mb(x->projected), mb(x->maxmemory),
		    100.0 * (double)x->projected / (double)x->maxmemory,
		    mb(x->projected - limit), max_pct, mb(limit),
		    mb(x->plan_in));
	return rc;
}

sp_err sp_pf_headroom(sp_pf_node *nodes, size_t n, const sp_pf_move *moves,
		      size_t nmoves, double max_pct, double margin_pct,
		      sp_findings *out, sp_findings *notes, sp_error *err)
{
	size_t i;

	project(nodes, n, moves, nmoves, margin_pct);
	for (i = 0; i < n; i++) {
		if (!nodes[i].reachable || !nodes[i].primary)
			continue;
		if (headroom_node(&nodes[i], max_pct, out, notes) != SP_OK)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	return SP_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void sp_pf_latency_stats(double *ms, size_t n, double *avg, double *p50,
			 double *p99, double *max)
{
	double sum = 0;
	size_t i, rank;

	*avg = *p50 = *p99 = *max = 0;
	if (n == 0)
		return;
	qsort(ms, n, sizeof(*ms), cmp_double);
	for (i = 0; i < n; i++)
		sum += ms[i];
	*avg = sum / (double)n;
	*p50 = ms[(n - 1) / 2];
	rank = (size_t)ceil(0.99 * (double)n); /* nearest rank, 1-based */
	*p99 = ms[rank > 0 ? rank - 1 : 0];
	*max = ms[n - 1];
}

void sp_pf_printable(const char *s, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			buf[o++] = (char)ch;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[ch >> 4];
		buf[o++] = hex[ch & 15];
	}
	if (buflen > 0)
		buf[o < buflen ? o : buflen - 1] = '\0';
}

long long sp_pf_slot_estimate(long long dataset, long long keys_on_node,
			      long long keys_in_slot)
{
	if (keys_on_node <= 0 || dataset <= 0 || keys_in_slot <= 0)
		return 0;
	return (long long)((double)dataset * (double)keys_in_slot /
			   (double)keys_on_node);
}

/* ------------------------------------------------------------------ */
/* The report's nodes from the gathered cluster                        */

static void node_from_state(const sp_cluster *c, const sp_node_state *s,
			    sp_pf_node *n)
{
	const sp_node *self = sp_view_self(&s->view);
	int k;

	snprintf(n->addr, sizeof(n->addr), "%s", s->addr);
	snprintf(n->id, sizeof(n->id), "%s", s->id);
	snprintf(n->version, sizeof(n->version), "%s", s->version);
	n->reachable = s->reachable;
	n->primary = self != NULL && sp_node_is_primary(self);
	n->used_memory = s->used_memory;
	n->maxmemory = s->maxmemory;
	n->keys = s->keys;
	n->link_up = s->master_link_up;
	n->last_io_s = s->master_last_io_secs;
	n->lag_ms = -1;
	n->projected = -1;
	if (self != NULL && !n->primary && self->master_id[0] &&
	    (k = sp_cluster_find_id(c, self->master_id)) >= 0)
		snprintf(n->primary_addr, sizeof(n->primary_addr), "%s",
			 c->nodes[k].addr);
}

static sp_err init_nodes(const sp_cluster *c, sp_preflight_report *r,
			 sp_error *err)
{
	size_t i;

	if ((r->nodes = calloc(c->nnodes + 1, sizeof(*r->nodes))) == NULL ||
	    (r->slot_bytes = calloc(SP_SLOTS, sizeof(long long))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	r->nnodes = c->nnodes;
	for (i = 0; i < c->nnodes; i++) {
		node_from_state(c, &c->nodes[i], &r->nodes[i]);
		r->nprimaries += r->nodes[i].reachable && r->nodes[i].primary;
	}
	return SP_OK;
}

static int node_index(const sp_preflight_report *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nnodes; i++)
		if (strcmp(r->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

static sp_err open_node(const sp_pf_node *n, const sp_conn_opts *co,
			sp_conn **c, sp_error *err)
{
	char host[SP_HOST_MAX];
	int port;
	sp_err rc;

	if ((rc = sp_parse_hostport(n->addr, host, &port, err)) != SP_OK)
		return rc;
	return sp_conn_open(host, port, co, c, err);
}

/* ------------------------------------------------------------------ */
/* Per node: config, dataset size, latency                             */

/* One CONFIG GET reply: [name, value], or [] when the version lacks it. */
static int take_value(const redisReply *r, char **out)
{
	if (r->type != REDIS_REPLY_ARRAY ||
	    (r->elements != 0 && r->elements != 2))
		return -1;
	if (r->elements == 0)
		return 0;
	if (r->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	*out = strdup(r->element[1]->str);
	return *out == NULL ? -1 : 0;
}

/* CONFIG GET of every parameter, pipelined. A refusal (renamed command,
 * NOPERM) is recorded on the node, not returned: the report goes on. */
static sp_err read_config(sp_conn *c, sp_pf_node *n, const sp_preflight_opts *o,
			  sp_error *err)
{
	redisReply *r;
	sp_err rc = SP_OK, e;
	size_t i;
	int bad;

	n->config_read = 1;
	for (i = 0; i < o->nparams && rc == SP_OK; i++)
		rc = sp_conn_append(c, err, "CONFIG GET %s", o->params[i]);
	for (i = 0; i < o->nparams && rc == SP_OK; i++) {
		e = sp_conn_read(c, &r, err, "CONFIG GET");
		if (e == SP_ERR_IO || e == SP_ERR_TIMEOUT || e == SP_ERR_OOM) {
			rc = e;
			break;
		}
		bad = e != SP_OK;
		if (e == SP_OK && take_value(r, &n->values[i]) != 0)
			bad = sp_seterr(err, SP_ERR_PROTOCOL,
					"%s: CONFIG GET %s: unexpected reply",
					n->addr, o->params[i]) != SP_OK;
		if (e == SP_OK)
			freeReplyObject(r);
		if (bad && n->config_read) {
			n->config_read = 0;
			snprintf(n->config_err, sizeof(n->config_err), "%s",
				 err->msg);
		}
	}
	return rc;
}

static sp_err read_dataset(sp_conn *c, sp_pf_node *n, sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if ((rc = sp_conn_cmd(c, &r, err, "INFO memory")) == SP_OK &&
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "INFO", err)) ==
		SP_OK &&
	    !sp_info_ll(r->str, "used_memory_dataset", &n->dataset))
		n->dataset = n->used_memory;
	freeReplyObject(r);
	return rc;
}

static double now_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* o->probes PING round trips, one at a time. */
static sp_err probe_latency(sp_conn *c, sp_pf_node *n, int probes,
			    sp_error *err)
{
	double *ms = calloc((size_t)probes + 1, sizeof(double)), t0;
	sp_err rc = SP_OK;
	int i;

	if (ms == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < probes && rc == SP_OK; i++) {
		t0 = now_ms_f();
		if ((rc = sp_conn_cmd(c, NULL, err, "PING")) == SP_OK)
			ms[n->probes++] = now_ms_f() - t0;
	}
	sp_pf_latency_stats(ms, (size_t)n->probes, &n->avg_ms, &n->p50_ms,
			    &n->p99_ms, &n->max_ms);
	free(ms);
	return rc;
}

static sp_err latency_findings(const sp_pf_node *n, const sp_preflight_opts *o,
			       sp_findings *out)
{
	sp_err rc = SP_OK;

	if (n->avg_ms > o->lat_avg_ms)
		rc = sp_findings_add(
		    out, "latency-avg", SP_SEV_WARN, -1, n->addr,
		    "%s: average PING round trip %.2f ms over "
		    "%d probes, above %.2f ms",
		    n->addr, n->avg_ms, n->probes, o->lat_avg_ms);
	if (rc == SP_OK && n->p99_ms > o->lat_p99_ms)
		rc = sp_findings_add(
		    out, "latency-p99", SP_SEV_WARN, -1, n->addr,
		    "%s: p99 PING round trip %.2f ms over %d "
		    "probes, above %.2f ms",
		    n->addr, n->p99_ms, n->probes, o->lat_p99_ms);
	return rc;
}

/* Config, dataset and latency of one node on one connection. Problems
 * become findings; only OOM is returned. */
static sp_err visit_node(sp_pf_node *n, const sp_preflight_opts *o,
			 sp_findings *out)
{
	sp_conn *c = NULL;
	sp_error e = {0};
	sp_err rc;

	if ((rc = open_node(n, o->conn, &c, &e)) == SP_OK &&
	    (rc = read_config(c, n, o, &e)) == SP_OK &&
	    (rc = read_dataset(c, n, &e)) == SP_OK)
		rc = probe_latency(c, n, o->probes, &e);
	sp_conn_close(c);
	if (rc == SP_OK && !n->config_read)
		rc = sp_findings_add(out, "config-unreadable", SP_SEV_WARN, -1,
				     n->addr,
				     "could not read config of %s (CONFIG "
				     "renamed or forbidden?): %s",
				     n->addr, n->config_err);
	else if (rc != SP_OK && rc != SP_ERR_OOM)
		rc = sp_findings_add(out, "latency-failed", SP_SEV_ERR, -1,
				     n->addr, "%s stopped answering: %s",
				     n->addr, e.msg);
	if (rc == SP_OK && n->probes > 0)
		rc = latency_findings(n, o, out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Replication                                                         */

static sp_err repl_offset(sp_conn *c, const char *field, long long *off,
			  sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;

	if ((rc = sp_conn_cmd(c, &r, err, "INFO replication")) == SP_OK &&
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "INFO", err)) ==
		SP_OK &&
	    !sp_info_ll(r->str, field, off))
		rc =
		    sp_seterr(err, SP_ERR_PROTOCOL,
			      "%s: INFO replication has no %s", c->addr, field);
	freeReplyObject(r);
	return rc;
}

/*
 * Lag, measured as time: the primary's master_repl_offset is read, then
 * the replica's slave_repl_offset is polled until it reaches that offset.
 * The time that takes (including one round trip) is how far behind the
 * replica is. master_last_io_seconds_ago alone cannot say it: an idle
 * primary pings its replicas only every repl-ping-replica-period (10 s).
 * Polling stops at twice the limit (at least one second).
 */
static sp_err measure_lag(sp_pf_node *rep, const sp_pf_node *pri,
			  const sp_preflight_opts *o, sp_error *err)
{
	long long target, off, t0, cap = 2LL * o->max_lag_ms;
	sp_conn *pc = NULL, *rn = NULL;
	sp_err rc;

	cap = cap < 1000 ? 1000 : cap;
	if ((rc = open_node(pri, o->conn, &pc, err)) != SP_OK ||
	    (rc = open_node(rep, o->conn, &rn, err)) != SP_OK)
		goto out;
	t0 = sp_now_ms();
	if ((rc = repl_offset(pc, "master_repl_offset", &target, err)))
		goto out;
	rep->behind_bytes = -1;
	for (;;) {
		if ((rc = repl_offset(rn, "slave_repl_offset", &off, err)))
			goto out;
		if (rep->behind_bytes < 0)
			rep->behind_bytes = target > off ? target - off : 0;
		if (off >= target || sp_now_ms() - t0 > cap)
			break;
		sp_sleep_ms(5);
	}
	rep->lag_ms = off >= target ? sp_now_ms() - t0 : -1;
out:
	sp_conn_close(pc);
	sp_conn_close(rn);
	return rc;
}

static sp_err replica_findings(sp_pf_node *rep, const sp_pf_node *pri,
			       const sp_preflight_opts *o, sp_findings *out)
{
	sp_error e = {0};

	if (!rep->link_up || pri == NULL)
		return sp_findings_add(
		    out, "replica-link-down", SP_SEV_ERR, -1, rep->addr,
		    "replica %s is not linked to its primary %s "
		    "(master_link_status:down)",
		    rep->addr, rep->primary_addr[0] ? rep->primary_addr : "?");
	if (measure_lag(rep, pri, o, &e) != SP_OK)
		return sp_findings_add(
		    out, "replica-lag", SP_SEV_ERR, -1, rep->addr,
		    "could not measure the lag of %s: %s", rep->addr, e.msg);
	if (rep->lag_ms < 0)
		return sp_findings_add(
		    out, "replica-lag", SP_SEV_ERR, -1, rep->addr,
		    "replica %s did not reach its primary's offset within "
		    "%d ms (%lld bytes behind)",
		    rep->addr,
		    2 * o->max_lag_ms < 1000 ? 1000 : 2 * o->max_lag_ms,
		    rep->behind_bytes);
	if (rep->lag_ms > o->max_lag_ms)
		return sp_findings_add(
		    out, "replica-lag", SP_SEV_ERR, -1, rep->addr,
		    "replica %s took %lld ms to reach its primary's offset, "
		    "above %d ms",
		    rep->addr, rep->lag_ms, o->max_lag_ms);
	return SP_OK;
}

static sp_err check_replication(sp_preflight_report *r,
				const sp_preflight_opts *o)
{
	const sp_pf_node *pri;
	sp_err rc = SP_OK;
	size_t i, j;

	for (i = 0; i < r->nnodes && rc == SP_OK; i++) {
		sp_pf_node *n = &r->nodes[i];
		if (!n->reachable || n->primary)
			continue;
		for (j = 0, pri = NULL; j < r->nnodes; j++)
			if (r->nodes[j].reachable &&
			    strcmp(r->nodes[j].addr, n->primary_addr) == 0)
				pri = &r->nodes[j];
		rc = replica_findings(n, pri, o, &r->findings);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Big keys: one thread per primary                                    */

typedef struct scan_job {
	const sp_preflight_opts *o;
	sp_pf_node *node;
	int index;
	sp_big_keys big;
	long long *slot_bytes; /* owned, [SP_SLOTS] */
	sp_err rc;
	sp_error err;
} scan_job;

static void *scan_thread(void *arg)
{
	scan_job *j = arg;
	sp_conn *c = NULL;

	if ((j->rc = open_node(j->node, j->o->conn, &c, &j->err)) == SP_OK)
		j->rc =
		    sp_scan_big_keys(c, j->index, &j->o->scan_o, &j->big,
				     j->slot_bytes, &j->node->scan, &j->err);
	j->node->scanned = j->rc == SP_OK && j->node->scan.complete;
	sp_conn_close(c);
	return NULL;
}

static sp_err add_hot(sp_preflight_report *r, int node, int slot,
		      long long bytes, double pct, double limit)
{
	sp_hot_slot *tmp;

	if ((tmp = realloc(r->hot, (r->nhot + 1) * sizeof(*tmp))) == NULL)
		return SP_ERR_OOM;
	r->hot = tmp;
	r->hot[r->nhot++] = (sp_hot_slot){slot, node, bytes, pct};
	return sp_findings_add(
	    &r->findings, "hot-slot", SP_SEV_WARN, slot, r->nodes[node].addr,
	    "slot %d holds %.1f MB, %.0f%% of the %.1f MB %s uses (limit "
	    "%.0f%%): moving it moves that much at once",
	    slot, mb(bytes), pct, mb(r->nodes[node].used_memory),
	    r->nodes[node].addr, limit);
}

/* Big keys and hot slots of one finished scan, merged into the report. */
static sp_err merge_scan(sp_preflight_report *r, scan_job *j)
{
	const sp_pf_node *n = j->node;
	double pct;
	sp_err rc = SP_OK;
	size_t i;
	int s;

	if (j->rc != SP_OK)
		return sp_findings_add(
		    &r->findings, "scan-failed", SP_SEV_ERR, -1, n->addr,
		    "big-key scan of %s failed: %s", n->addr, j->err.msg);
	for (i = 0; i < j->big.n && rc == SP_OK; i++) {
		const sp_big_key *b = &j->big.items[i];
		char key[SP_PF_KEY_MAX];
		sp_pf_printable(b->key, b->keylen < 127 ? b->keylen : 127, key,
				sizeof(key));
		rc = sp_findings_add(
		    &r->findings, "big-key", SP_SEV_WARN, b->slot, n->addr,
		    "key \"%.80s\"%s in slot %d on %s uses %.1f MB, above "
		    "%.1f MB: it moves in one blocking MIGRATE",
		    key, b->keylen > 127 || strlen(key) > 80 ? "..." : "",
		    b->slot, n->addr, mb(b->bytes), mb(j->o->scan_o.limit));
		if (rc == SP_OK && sp_big_keys_append(&r->big, b) != SP_OK)
			rc = SP_ERR_OOM;
	}
	for (s = 0; s < SP_SLOTS && rc == SP_OK; s++) {
		r->slot_bytes[s] += j->slot_bytes[s];
		pct = n->used_memory > 0 ? 100.0 * (double)j->slot_bytes[s] /
					       (double)n->used_memory
					 : 0;
		if (pct > j->o->hot_slot_pct)
			rc = add_hot(r, j->index, s, j->slot_bytes[s], pct,
				     j->o->hot_slot_pct);
	}
	return rc;
}

static sp_err scan_primaries(sp_preflight_report *r, const sp_preflight_opts *o,
			     sp_error *err)
{
	scan_job *jobs = calloc(r->nnodes + 1, sizeof(*jobs));
	pthread_t *th = calloc(r->nnodes + 1, sizeof(*th));
	int *started = calloc(r->nnodes + 1, sizeof(int));
	sp_err rc = SP_OK;
	size_t i;

	if (jobs == NULL || th == NULL || started == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (i = 0; i < r->nnodes; i++) {
		if (!r->nodes[i].reachable || !r->nodes[i].primary)
			continue;
		jobs[i] =
		    (scan_job){.o = o, .node = &r->nodes[i], .index = (int)i};
		if ((jobs[i].slot_bytes =
			 calloc(SP_SLOTS, sizeof(long long))) == NULL) {
			rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
			break;
		}
		if (pthread_create(&th[i], NULL, scan_thread, &jobs[i]) == 0)
			started[i] = 1;
		else
			scan_thread(&jobs[i]);
	}
	for (i = 0; i < r->nnodes; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	for (i = 0; i < r->nnodes && rc == SP_OK; i++)
		if (jobs[i].node != NULL && merge_scan(r, &jobs[i]) != SP_OK)
			rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
out:
	for (i = 0; jobs != NULL && i < r->nnodes; i++) {
		sp_big_keys_free(&jobs[i].big);
		free(jobs[i].slot_bytes);
	}
	free(jobs);
	free(th);
	free(started);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The plan                                                            */

/* COUNTKEYSINSLOT of each move's slot on its source, pipelined. */
static sp_err count_moved_keys(const sp_opplan *p, int src,
			       const sp_conn_opts *co, long long *keys,
			       sp_error *err)
{
	sp_conn *c = NULL;
	redisReply *r;
	size_t i;
	sp_err rc;

	if ((rc = sp_conn_open(p->nodes[src].host, p->nodes[src].port, co, &c,
			       err)) != SP_OK)
		return rc;
	for (i = 0; i < p->nmoves && rc == SP_OK; i++)
		if (p->moves[i].src == src)
			rc =
			    sp_conn_append(c, err, "CLUSTER COUNTKEYSINSLOT %d",
					   p->moves[i].slot);
	for (i = 0; i < p->nmoves && rc == SP_OK; i++) {
		if (p->moves[i].src != src)
			continue;
		if ((rc = sp_conn_read(c, &r, err, "COUNTKEYSINSLOT")))
			break;
		keys[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
		freeReplyObject(r);
	}
	sp_conn_close(c);
	return rc;
}

/*
 * Bytes per move: the scanned bytes of the slot when its source was
 * scanned to the end, else the source's dataset size times the slot's
 * share of its keys.
 */
static sp_err moves_bytes(const sp_preflight_report *r, const sp_opplan *p,
			  const sp_conn_opts *co, sp_pf_move *mv, sp_error *err)
{
	long long *keys = calloc(p->nmoves + 1, sizeof(long long));
	sp_err rc = SP_OK;
	size_t i, s;

	if (keys == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (s = 0; s < p->nnodes && rc == SP_OK; s++) {
		int ni = node_index(r, p->nodes[s].id);
		if (ni < 0 || !r->nodes[ni].scanned)
			rc = count_moved_keys(p, (int)s, co, keys, err);
	}
	for (i = 0; i < p->nmoves && rc == SP_OK; i++) {
		const sp_move *m = &p->moves[i];
		const sp_pf_node *src;
		mv[i] =
		    (sp_pf_move){m->slot, node_index(r, p->nodes[m->src].id),
				 node_index(r, p->nodes[m->dst].id), 0};
		if (mv[i].src < 0)
			continue;
		src = &r->nodes[mv[i].src];
		mv[i].bytes =
		    src->scanned
			? r->slot_bytes[m->slot]
			: sp_pf_slot_estimate(src->dataset, src->keys, keys[i]);
	}
	free(keys);
	return rc;
}

/* Checks the plan against the cluster and projects it. A stale plan is a
 * finding (apply would refuse it), not an error. */
static sp_err plan_headroom(sp_preflight_report *r, sp_plan_file *f,
			    const sp_cluster *c, const sp_preflight_opts *o,
			    sp_error *err)
{
	sp_pf_move *mv = NULL;
	sp_error e = {0};
	sp_err rc;
	size_t i;

	if (sp_plan_against(f, c, &e) != SP_OK) {
		if (e.code == SP_ERR_OOM)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
		if (sp_findings_add(&r->findings, "plan-stale", SP_SEV_ERR, -1,
				    NULL, "%s", e.msg) != SP_OK)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
		return sp_pf_headroom(r->nodes, r->nnodes, NULL, 0,
				      o->max_mem_pct, 0, &r->findings,
				      &r->notes, err);
	}
	if ((mv = calloc(f->plan.nmoves + 1, sizeof(*mv))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = moves_bytes(r, &f->plan, o->conn, mv, &e)) != SP_OK)
		rc = sp_findings_add(&r->findings, "plan-stale", SP_SEV_ERR, -1,
				     NULL, "could not measure the plan: %s",
				     e.msg);
	r->plan_used = 1;
	r->plan_moves = f->plan.nmoves;
	for (i = 0; i < f->plan.nmoves; i++)
		r->plan_bytes += mv[i].bytes;
	if (rc == SP_OK)
		rc = sp_pf_headroom(r->nodes, r->nnodes, mv, f->plan.nmoves,
				    o->max_mem_pct, o->plan_margin_pct,
				    &r->findings, &r->notes, err);
	free(mv);
	return rc;
}

/* ------------------------------------------------------------------ */

static sp_err visit_all(sp_preflight_report *r, const sp_preflight_opts *o,
			sp_error *err)
{
	size_t i;

	for (i = 0; i < r->nnodes; i++) {
		if (!r->nodes[i].reachable)
			continue;
		sp_logf(o->log, "preflight", "%s: config, memory, latency",
			r->nodes[i].addr);
		if (visit_node(&r->nodes[i], o, &r->findings) != SP_OK)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	if (sp_pf_drift(r->nodes, r->nnodes, o->params, o->nparams,
			&r->findings, err) != SP_OK ||
	    check_replication(r, o) != SP_OK)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	return SP_OK;
}

sp_err sp_preflight_run(const char *host, int port, const sp_preflight_opts *o,
			sp_preflight_report *out, sp_error *err)
{
	long long t0 = sp_now_ms();
	sp_plan_file f = {0};
	sp_cluster c = {0};
	sp_err rc;

	memset(out, 0, sizeof(*out));
	if ((o->plan_path && (rc = sp_plan_read(o->plan_path, &f, err))) ||
	    (rc = sp_cluster_gather(host, port, o->conn, &c, err)) != SP_OK ||
	    (rc = init_nodes(&c, out, err)) != SP_OK ||
	    (rc = sp_check_cluster(&c, &o->check, &out->findings, err)))
		goto out;
	if ((rc = visit_all(out, o, err)) != SP_OK)
		goto out;
	sp_logf(o->log, "preflight", "scanning %zu primaries for big keys",
		out->nprimaries);
	if (o->scan && (rc = scan_primaries(out, o, err)) != SP_OK)
		goto out;
	rc = o->plan_path ? plan_headroom(out, &f, &c, o, err)
			  : sp_pf_headroom(out->nodes, out->nnodes, NULL, 0,
					   o->max_mem_pct, 0, &out->findings,
					   &out->notes, err);
out:
	out->seconds = (double)(sp_now_ms() - t0) / 1000.0;
	sp_plan_file_free(&f);
	sp_cluster_free(&c);
	return rc;
}

void sp_preflight_report_free(sp_preflight_report *r)
{
	size_t i, p;

	if (r == NULL)
		return;
	for (i = 0; r->nodes != NULL && i < r->nnodes; i++)
		for (p = 0; p < SP_PF_MAX_PARAMS; p++)
			free(r->nodes[i].values[p]);
	free(r->nodes);
	sp_findings_free(&r->findings);
	sp_findings_free(&r->notes);
	sp_big_keys_free(&r->big);
	free(r->hot);
	free(r->slot_bytes);
	memset(r, 0, sizeof(*r));
}
