/*
 * cmd_create.c - `slotpilot create HOST:PORT... [--replicas N]`.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/create.h"

typedef struct create_args {
	int replicas;
	int wait_s;
} create_args;

static const sp_optdef opts[] = {
    SP_OPT_I("replicas", 0, 16, create_args, replicas),
    SP_OPT_I("wait", 1, 3600, create_args, wait_s), SP_OPT_END};

static void init(void *args)
{
	((create_args *)args)->wait_s = 60;
}

static void print_result_json(const sp_create_plan *p)
{
	json_t *prim = json_array(), *rep = json_array(), *o;
	char slots[32];
	size_t i;

	for (i = 0; i < p->n; i++) {
		const sp_create_node *nd = &p->nodes[i];
		if (nd->primary_of < 0) {
			snprintf(slots, sizeof(slots), "%d-%d", nd->first_slot,
				 nd->last_slot);
			json_array_append_new(
			    prim, json_pack("{s:s, s:s, s:s}", "addr", nd->addr,
					    "id", nd->id, "slots", slots));
		} else {
			json_array_append_new(
			    rep, json_pack("{s:s, s:s, s:s}", "addr", nd->addr,
					   "id", nd->id, "primary",
					   p->nodes[nd->primary_of].addr));
		}
	}
	o = json_pack("{s:b, s:o, s:o}", "ok", 1, "primaries", prim, "replicas",
		      rep);
	sp_cli_json_print(o);
}

static int run(sp_cli_ctx *x, void *args)
{
	create_args *a = args;
	sp_create_plan plan = {0};
	sp_log log = sp_cli_log(&x->cli);
	int rc;

	if (sp_create_plan_make((const char *const *)x->pos, (size_t)x->npos,
				a->replicas, &plan, &x->err) != SP_OK ||
	    sp_create_preflight(&plan, &x->cli.conn, &x->err) != SP_OK) {
		rc = sp_cli_fail(&x->cli, &x->err);
		goto out;
	}
	if (!x->cli.json)
		sp_create_plan_print(&plan, stdout);
	if ((rc = sp_cli_ask(&x->cli, "Create this cluster?")) != SP_EXIT_OK)
		goto out;
	if (sp_create_run(&plan, &x->cli.conn, a->wait_s * 1000,
			  sp_cli_stop_flag(), &log, &x->err) != SP_OK) {
		rc = sp_cli_fail(&x->cli, &x->err);
		goto out;
	}
	if (x->cli.json)
		print_result_json(&plan);
	else
		printf("[OK] Cluster created: %d primaries, %zu replicas, all "
		       "16384 slots covered.\n",
		       plan.nprimaries, plan.n - (size_t)plan.nprimaries);
	rc = SP_EXIT_OK;
out:
	sp_create_plan_free(&plan);
	return rc;
}

const sp_cmd sp_def_create = SP_CMD(
    "create", "create NODE...", "bootstrap a cluster from empty nodes",
    .help = "usage: slotpilot create HOST:PORT... [--replicas N] "
	    "[--wait SECONDS] [--yes] [--json]\n"
	    "Bootstraps a cluster from empty cluster-enabled nodes: "
	    "even contiguous slot\nranges, distinct config epochs, "
	    "replicas on other hosts than their primary\nwhen "
	    "possible; waits until every node agrees "
	    "(default 60 s).\n",
    .opts = opts, .args_size = sizeof(create_args), .init = init, .run = run);
