/*
 * cmd_preflight.c - `slotpilot preflight HOST:PORT [--plan FILE]`: the
 * readiness report before scaling, for humans or (--json) for CI.
 * Exit: 0 ready, 1 findings, 2 usage or a bad plan file, 3 entry node
 * unreachable. It never changes the cluster.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/preflight.h"

enum { O_NOSCAN = 1, O_LAG, O_PARAMS };

typedef struct pf_args {
	sp_preflight_opts o;
	char *params_buf; /* owned copy of --params, split in place */
} pf_args;

#define PF_NUM(n, l, h, f) SP_OPT_TYPED(n, SP_OPT_NUM, 1, l, h, pf_args, o.f)

static const sp_optdef opts[] = {
    SP_OPT_S("plan", pf_args, o.plan_path),
    SP_OPT_TYPED("big-key-bytes", SP_OPT_BYTES, 1, 0, 0, pf_args,
		 o.scan_o.limit),
    PF_NUM("hot-slot-pct", 0, 100, hot_slot_pct),
    SP_OPT_I("scan-count", 1, 100000, pf_args, o.scan_o.count),
    SP_OPT_I("scan-rate", 0, 100000000, pf_args, o.scan_o.rate),
    SP_OPT_I("scan-sleep-ms", 0, 60000, pf_args, o.scan_o.sleep_ms),
    SP_OPT_I("memory-samples", 0, 100000, pf_args, o.scan_o.samples),
    {.name = "no-scan", .id = O_NOSCAN},
    PF_NUM("max-memory-pct", 1, 100, max_mem_pct),
    PF_NUM("plan-margin-pct", 0, 1000, plan_margin_pct),
    {.name = "max-lag-ms", .has_arg = 1, .id = O_LAG},
    SP_OPT_I("probes", 1, SP_PF_MAX_PROBES, pf_args, o.probes),
    PF_NUM("latency-avg-ms", 0, 1e6, lat_avg_ms),
    PF_NUM("latency-p99-ms", 0, 1e6, lat_p99_ms),
    {.name = "params", .has_arg = 1, .id = O_PARAMS},
    SP_OPT_END};

static int set_params(pf_args *a, const char *val)
{
	char *tok, *save = NULL;

	free(a->params_buf);
	if ((a->params_buf = strdup(val)) == NULL)
		return -1;
	a->o.nparams = 0;
	for (tok = strtok_r(a->params_buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (a->o.nparams == SP_PF_MAX_PARAMS) {
			sp_cli_errorf("--params: at most %d parameters",
				      SP_PF_MAX_PARAMS);
			return -1;
		}
		a->o.params[a->o.nparams++] = tok;
	}
	return 0;
}

static int on_opt(void *ud, int id, const char *val)
{
	pf_args *a = ud;
	double lag;

	switch (id) {
	case O_NOSCAN:
		a->o.scan = 0;
		return 0;
	case O_LAG:
		if (sp_cli_num("--max-lag-ms", val, 0, 3600000, &lag) != 0)
			return -1;
		a->o.max_lag_ms = (int)lag;
		return 0;
	case O_PARAMS:
		return set_params(a, val);
	}
	return -1;
}

static const char help[] =
    "usage: slotpilot preflight HOST:PORT [--plan FILE] [--json]\n"
    "  check        the cluster check (as slotpilot check)\n"
    "  config       redis_version and --params (CONFIG GET) equal on "
    "every node\n"
    "  bigkeys      SCAN + MEMORY USAGE of every primary, in parallel, "
    "rate-limited:\n"
    "               --big-key-bytes 10m   keys above this are listed with "
    "their slot\n"
    "               --hot-slot-pct 15     slots above this share of "
    "used_memory\n"
    "               --scan-count 100 --scan-rate 20000 (keys/s per node, "
    "0: no cap)\n"
    "               --scan-sleep-ms 0 --memory-samples 5 --no-scan\n"
    "  headroom     --max-memory-pct 80: used_memory of each primary "
    "under this share\n"
    "               of maxmemory (0 = unlimited: noted, not checked); "
    "with --plan,\n"
    "               each target after the plan, moved bytes + "
    "--plan-margin-pct 10\n"
    "  replication  replicas linked; lag (time for the replica to reach "
    "the primary's\n"
    "               current offset) under --max-lag-ms 500\n"
    "  latency      --probes 50 PINGs per node: average under "
    "--latency-avg-ms 5,\n"
    "               p99 under --latency-p99-ms 20\n"
    "Read-only: it never changes the cluster.\n"
    "Exit: 0 ready, 1 findings, 2 usage or bad plan file, 3 unreachable.\n";

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static json_t *findings_json(const sp_findings *f, int notes)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < f->n; i++) {
		const sp_finding *x = &f->items[i];
		json_t *o = json_pack(
		    "{s:s, s:o, s:s}", "section",
		    notes ? "headroom" : sp_preflight_section(x->code), "node",
		    x->node[0] ? json_string(x->node) : json_null(), "message",
		    x->msg);
		if (!notes) {
			json_object_set_new(o, "code", json_string(x->code));
			json_object_set_new(o, "severity",
					    json_string(x->sev == SP_SEV_ERR
							    ? "error"
							    : "warning"));
			json_object_set_new(o, "slot",
					    x->slot >= 0 ? json_integer(x->slot)
							 : json_null());
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *config_json(const sp_preflight_report *r,
			   const sp_preflight_opts *o)
{
	json_t *nodes = json_array(), *params = json_array(), *vals;
	size_t i, p;

	for (p = 0; p < o->nparams; p++)
		json_array_append_new(params, json_string(o->params[p]));
	for (i = 0; i < r->nnodes; i++) {
		const sp_pf_node *n = &r->nodes[i];
		vals = json_object();
		for (p = 0; n->config_read && p < o->nparams; p++)
			json_object_set_new(vals, o->params[p],
					    str_or_null(n->values[p]));
		json_array_append_new(
		    nodes,
		    json_pack("{s:s, s:s, s:s, s:b, s:s, s:o}", "node", n->addr,
			      "role", n->primary ? "primary" : "replica",
			      "redis_version", n->version, "readable",
			      n->config_read, "error", n->config_err, "values",
			      vals));
	}
	return json_pack("{s:o, s:o}", "params", params, "nodes", nodes);
}

static json_t *bigkeys_json(const sp_preflight_report *r,
			    const sp_preflight_opts *o)
{
	json_t *keys = json_array(), *hot = json_array();
	char key[SP_PF_KEY_MAX];
	long long scanned = 0;
	size_t i;

	for (i = 0; i < r->nnodes; i++)
		scanned += r->nodes[i].scan.keys;
	for (i = 0; i < r->big.n; i++) {
		const sp_big_key *b = &r->big.items[i];
		sp_pf_printable(b->key, b->keylen < 127 ? b->keylen : 127, key,
				sizeof(key));
		json_array_append_new(
		    keys, json_pack("{s:s, s:s, s:i, s:I, s:b}", "node",
				    r->nodes[b->node].addr, "key", key, "slot",
				    b->slot, "bytes", (json_int_t)b->bytes,
				    "truncated", b->keylen > 127));
	}
	for (i = 0; i < r->nhot; i++)
		json_array_append_new(hot,
				      json_pack("{s:s, s:i, s:I, s:f}", "node",
						r->nodes[r->hot[i].node].addr,
						"slot", r->hot[i].slot, "bytes",
						(json_int_t)r->hot[i].bytes,
						"pct", r->hot[i].pct));
	return json_pack("{s:b, s:I, s:f, s:I, s:o, s:o}", "scanned", o->scan,
			 "threshold_bytes", (json_int_t)o->scan_o.limit,
			 "hot_slot_pct", o->hot_slot_pct, "keys_scanned",
			 (json_int_t)scanned, "keys", keys, "hot_slots", hot);
}

static json_t *pct_or_null(long long used, long long max)
{
	return max > 0 && used >= 0
		   ? json_real(100.0 * (double)used / (double)max)
		   : json_null();
}

static json_t *headroom_json(const sp_preflight_report *r,
			     const sp_preflight_opts *o)
{
	json_t *nodes = json_array();
	size_t i;

	for (i = 0; i < r->nnodes; i++) {
		const sp_pf_node *n = &r->nodes[i];
		if (!n->reachable || !n->primary)
			continue;
		json_array_append_new(
		    nodes,
		    json_pack(
			"{s:s, s:I, s:I, s:o, s:I, s:I, s:o, s:o}", "node",
			n->addr, "used_memory", (json_int_t)n->used_memory,
			"maxmemory", (json_int_t)n->maxmemory, "pct",
			pct_or_null(n->used_memory, n->maxmemory),
			"plan_in_bytes", (json_int_t)n->plan_in,
			"plan_out_bytes", (json_int_t)n->plan_out, "after_plan",
			n->projected >= 0 ? json_integer(n->projected)
					  : json_null(),
			"after_plan_pct",
			pct_or_null(n->projected, n->maxmemory)));
	}
	return json_pack("{s:f, s:f, s:o, s:o}", "max_pct", o->max_mem_pct,
			 "plan_margin_pct", o->plan_margin_pct, "plan",
			 r->plan_used ? json_pack("{s:s, s:i, s:I}", "file",
						  o->plan_path, "slots",
						  (int)r->plan_moves, "bytes",
						  (json_int_t)r->plan_bytes)
				      : json_null(),
			 "nodes", nodes);
}

static json_t *replication_json(const sp_preflight_report *r,
				const sp_preflight_opts *o)
{
	json_t *reps = json_array();
	size_t i;

	for (i = 0; i < r->nnodes; i++) {
		const sp_pf_node *n = &r->nodes[i];
		if (!n->reachable || n->primary)
			continue;
		json_array_append_new(
		    reps,
		    json_pack(
			"{s:s, s:s, s:b, s:o, s:I}", "node", n->addr, "primary",
			n->primary_addr, "link_up", n->link_up, "lag_ms",
			n->lag_ms >= 0 ? json_integer(n->lag_ms) : json_null(),
			"last_io_seconds", (json_int_t)n->last_io_s));
	}
	return json_pack("{s:i, s:o}", "max_lag_ms", o->max_lag_ms, "replicas",
			 reps);
}

static json_t *latency_json(const sp_preflight_report *r,
			    const sp_preflight_opts *o)
{
	json_t *nodes = json_array();
	size_t i;

	for (i = 0; i < r->nnodes; i++) {
		const sp_pf_node *n = &r->nodes[i];
		if (!n->reachable)
			continue;
		json_array_append_new(
		    nodes, json_pack("{s:s, s:i, s:f, s:f, s:f, s:f}", "node",
				     n->addr, "probes", n->probes, "avg_ms",
				     n->avg_ms, "p50_ms", n->p50_ms, "p99_ms",
				     n->p99_ms, "max_ms", n->max_ms));
	}
	return json_pack("{s:i, s:f, s:f, s:o}", "probes", o->probes,
			 "max_avg_ms", o->lat_avg_ms, "max_p99_ms",
			 o->lat_p99_ms, "nodes", nodes);
}

static void print_json(const char *entry, const sp_preflight_report *r,
		       const sp_preflight_opts *o)
{
	json_t *out = json_pack(
	    "{s:b, s:s, s:i, s:i, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "ok", r->findings.n == 0, "entry", entry, "nodes", (int)r->nnodes,
	    "primaries", (int)r->nprimaries, "seconds", r->seconds, "findings",
	    findings_json(&r->findings, 0), "notes",
	    findings_json(&r->notes, 1), "config", config_json(r, o), "bigkeys",
	    bigkeys_json(r, o), "headroom", headroom_json(r, o), "replication",
	    replication_json(r, o), "latency", latency_json(r, o));

	if (out == NULL) {
		sp_cli_errorf("preflight: cannot build the JSON report");
		return;
	}
	json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(out);
}

/* ------------------------------------------------------------------ */
/* Human                                                               */

static const char *const sections[] = {"check",	   "config",	  "bigkeys",
				       "headroom", "replication", "latency"};

static void print_section(const sp_preflight_report *r, const char *sec)
{
	size_t i, n = 0;

	for (i = 0; i < r->findings.n; i++) {
		const sp_finding *x = &r->findings.items[i];
		if (strcmp(sp_preflight_section(x->code), sec) != 0)
			continue;
		printf("  [%s] %s: %s\n", x->sev == SP_SEV_ERR ? "ERR" : "WARN",
		       x->code, x->msg);
		n++;
	}
	if (n == 0)
		printf("  [OK] %s\n", sec);
}

static void print_latency(const sp_preflight_report *r)
{
	size_t i;

	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i].reachable && r->nodes[i].probes > 0)
			printf(
			    "       %-22s avg %.2f ms  p50 %.2f ms  p99 %.2f "
			    "ms\n",
			    r->nodes[i].addr, r->nodes[i].avg_ms,
			    r->nodes[i].p50_ms, r->nodes[i].p99_ms);
}

static void print_human(const char *entry, const sp_preflight_report *r,
			const sp_preflight_opts *o)
{
	long long scanned = 0;
	size_t i;

	for (i = 0; i < r->nnodes; i++)
		scanned += r->nodes[i].scan.keys;
	printf("Pre-flight of %s: %zu nodes, %zu primaries, %.2f s\n", entry,
	       r->nnodes, r->nprimaries, r->seconds);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		printf("%s\n", sections[i]);
		print_section(r, sections[i]);
		if (strcmp(sections[i], "bigkeys") == 0 && o->scan)
			printf("       %lld keys measured\n", scanned);
		if (strcmp(sections[i], "headroom") == 0 && r->plan_used)
			printf("       plan %s: %zu slots, about %.1f MB\n",
			       o->plan_path, r->plan_moves,
			       (double)r->plan_bytes / 1e6);
		if (strcmp(sections[i], "latency") == 0)
			print_latency(r);
	}
	for (i = 0; i < r->notes.n; i++)
		printf("note: %s\n", r->notes.items[i].msg);
	printf(r->findings.n == 0 ? "Ready.\n" : "Not ready: %zu finding(s).\n",
	       r->findings.n);
}

static void init(void *args)
{
	((pf_args *)args)->o = sp_preflight_defaults();
}

static void fini(void *args)
{
	free(((pf_args *)args)->params_buf);
}

static int run(sp_cli_ctx *x, void *args)
{
	pf_args *a = args;
	sp_preflight_report r = {0};
	sp_log log = sp_cli_log(&x->cli);
	int rc;

	a->o.conn = &x->cli.conn;
	a->o.log = &log;
	if (sp_preflight_run(x->host, x->port, &a->o, &r, &x->err) != SP_OK) {
		rc = sp_cli_fail(&x->cli, &x->err);
		goto out;
	}
	if (x->cli.json)
		print_json(x->pos[0], &r, &a->o);
	else
		print_human(x->pos[0], &r, &a->o);
	rc = r.findings.n == 0 ? SP_EXIT_OK : SP_EXIT_FAILED;
out:
	sp_preflight_report_free(&r);
	return rc;
}

const sp_cmd sp_def_preflight = SP_CMD(
    "preflight", "preflight HOST:PORT",
    "readiness report before scaling (exit 0 ready)", .help = help,
    .opts = opts, .hook = on_opt, SP_ONE_NODE("preflight"),
    .args_size = sizeof(pf_args), .init = init, .run = run, .fini = fini);
