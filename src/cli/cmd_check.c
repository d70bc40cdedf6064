/*
 * cmd_check.c - `slotpilot check HOST:PORT`, the validation gate for
 * scripts and CI: exit 0 healthy, 1 findings, 2 usage, 3 unreachable.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cluster/converge.h"
#include "cluster/gather.h"
#include "model/checks.h"

typedef struct check_args {
	sp_check_opts copts;
	int wait_s;
} check_args;

static const sp_optdef opts[] = {
    SP_OPT_I("expect-nodes", 1, 10000, check_args, copts.expect_nodes),
    SP_OPT_I("expect-primaries", 1, 10000, check_args, copts.expect_primaries),
    SP_OPT_I("min-replicas", 0, 100, check_args, copts.min_replicas),
    SP_OPT_I("wait", 0, 86400, check_args, wait_s), SP_OPT_END};

static void init(void *args)
{
	check_args *a = args;

	a->copts = sp_check_defaults();
	a->copts.placement = 1;
	a->wait_s = 0;
}

static const char help[] =
    "usage: slotpilot check HOST:PORT [--expect-nodes N] "
    "[--expect-primaries N]\n"
    "                       [--min-replicas N] [--wait SECONDS] [--json]\n"
    "Validates the cluster: all 16384 slots covered once, no open slot, "
    "owners\nagreed by every node, cluster_state:ok everywhere, no failing "
    "node, no\nconfig-epoch collision, every node reachable. --wait polls "
    "until healthy.\n"
    "Exit: 0 healthy, 1 findings, 2 usage, 3 entry node unreachable.\n";

static const char *sev_name(sp_severity s)
{
	return s == SP_SEV_ERR ? "error" : "warning";
}

static void print_json(const sp_cluster *c, const sp_findings *f, size_t nprim)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; i < f->n; i++) {
		const sp_finding *x = &f->items[i];
		json_array_append_new(
		    arr,
		    json_pack(
			"{s:s, s:s, s:o, s:o, s:s}", "code", x->code,
			"severity", sev_name(x->sev), "slot",
			x->slot >= 0 ? json_integer(x->slot) : json_null(),
			"node", x->node[0] ? json_string(x->node) : json_null(),
			"message", x->msg));
	}
	o = json_pack("{s:b, s:i, s:i, s:o}", "ok", f->n == 0, "nodes",
		      (int)c->nnodes, "primaries", (int)nprim, "findings", arr);
	sp_cli_json_print(o);
}

static void print_human(const sp_cluster *c, const sp_findings *f, size_t nprim)
{
	size_t i;

	printf("%s: %zu nodes, %zu primaries\n", c->nodes[0].addr, c->nnodes,
	       nprim);
	for (i = 0; i < f->n; i++)
		printf("[%s] %s: %s\n",
		       f->items[i].sev == SP_SEV_ERR ? "ERR" : "WARN",
		       f->items[i].code, f->items[i].msg);
	if (f->n == 0)
		printf("[OK] All 16384 slots covered once, no open slots, "
		       "owners agreed, cluster_state ok on every node.\n");
}

/* The cluster, after --wait seconds of polling for health if asked. */
static int gather(sp_cli_ctx *x, const check_args *a, sp_cluster *c)
{
	sp_err w;

	if (a->wait_s <= 0) {
		if (sp_cluster_gather(x->host, x->port, &x->cli.conn, c,
				      &x->err) != SP_OK)
			return sp_cli_fail(&x->cli, &x->err);
		return SP_EXIT_OK;
	}
	w = sp_wait_healthy(x->host, x->port, &x->cli.conn, &a->copts,
			    a->wait_s * 1000, 500, c, &x->err);
	if ((w != SP_OK && w != SP_ERR_CLUSTER) || c->nnodes == 0)
		return sp_cli_fail(&x->cli, &x->err);
	return SP_EXIT_OK;
}

static int run(sp_cli_ctx *x, void *args)
{
	check_args *a = args;
	sp_cluster c = {0};
	sp_findings f = {0};
	int rc, idx[SP_SLOTS];
	size_t nprim;

	if ((rc = gather(x, a, &c)) != SP_EXIT_OK)
		goto out;
	if (sp_check_cluster(&c, &a->copts, &f, &x->err) != SP_OK) {
		rc = sp_cli_fail(&x->cli, &x->err);
		goto out;
	}
	nprim = sp_cluster_primaries(&c, idx, SP_SLOTS);
	if (x->cli.json)
		print_json(&c, &f, nprim);
	else
		print_human(&c, &f, nprim);
	rc = f.n == 0 ? SP_EXIT_OK : SP_EXIT_FAILED;
out:
	sp_findings_free(&f);
	sp_cluster_free(&c);
	return rc;
}

const sp_cmd sp_def_check =
    SP_CMD("check", "check HOST:PORT",
	   "validate the cluster (exit 0 healthy, 1 findings)", .help = help,
	   .opts = opts, SP_ONE_NODE("check"), .args_size = sizeof(check_args),
	   .init = init, .run = run);
