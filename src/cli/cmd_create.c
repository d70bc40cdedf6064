/*
 * cmd_create.c - `slotpilot create HOST:PORT... [--replicas N]`.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/create.h"

enum { O_REPLICAS = 1, O_WAIT };

static const sp_optdef opts[] = {
    {.name = "replicas", .shortname = 0, .has_arg = 1, .id = O_REPLICAS},
    {.name = "wait", .shortname = 0, .has_arg = 1, .id = O_WAIT},
    SP_OPT_END};

typedef struct create_args {
	int replicas;
	int wait_s;
} create_args;

static int on_opt(void *ud, int id, const char *val)
{
	create_args *a = ud;

	if (id == O_REPLICAS)
		return sp_cli_int("--replicas", val, 0, 16, &a->replicas);
	return sp_cli_int("--wait", val, 1, 3600, &a->wait_s);
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
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
}

static int create_main(int argc, char **argv)
{
	create_args a = {.replicas = 0, .wait_s = 60};
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	sp_create_plan plan = {0};
	sp_cli cli = {0};
	sp_error err = {0};
	sp_log log;
	int npos = 0, rc = SP_EXIT_USAGE, ok;

	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("usage: slotpilot create HOST:PORT... [--replicas N] "
		       "[--wait SECONDS] [--yes] [--json]\n"
		       "Bootstraps a cluster from empty cluster-enabled nodes: "
		       "even contiguous slot\nranges, distinct config epochs, "
		       "replicas on other hosts than their primary\nwhen "
		       "possible; waits until every node agrees "
		       "(default 60 s).\n");
		rc = SP_EXIT_OK;
		goto out;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos))
		goto out;
	log = sp_cli_log(&cli);
	if (sp_create_plan_make((const char *const *)pos, (size_t)npos,
				a.replicas, &plan, &err) != SP_OK ||
	    sp_create_preflight(&plan, &cli.conn, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	if (!cli.json)
		sp_create_plan_print(&plan, stdout);
	if ((ok = sp_cli_confirm(&cli, "Create this cluster?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if (sp_create_run(&plan, &cli.conn, a.wait_s * 1000, &log, &err) !=
	    SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	if (cli.json)
		print_result_json(&plan);
	else
		printf("[OK] Cluster created: %d primaries, %zu replicas, all "
		       "16384 slots covered.\n",
		       plan.nprimaries, plan.n - (size_t)plan.nprimaries);
	rc = SP_EXIT_OK;
out:
	sp_create_plan_free(&plan);
	free(pos);
	return rc;
}

const sp_cmd sp_def_create = {
    .name = "create",
    .synopsis = "create NODE...",
    .summary = "bootstrap a cluster from empty nodes",
    .raw = create_main,
};
