/*
 * cmd_nodes.c - `slotpilot add-node`, `remove-node` and `failover`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/moving.h"
#include "ops/scale.h"

typedef struct nodes_args {
	sp_add_opts add;
	sp_remove_opts rm;
	sp_move_args m;
	int wait_s;
	int deprovision; /* 1: run the provisioner's deprovision step */
	sp_provisioner prov;
} nodes_args;

static const sp_choice retire_kinds[] = {{"reset", SP_RETIRE_RESET},
					 {"shutdown", SP_RETIRE_SHUTDOWN},
					 {"none", SP_RETIRE_NONE},
					 {NULL, 0}};

static const sp_optdef opts[] = {
    SP_OPT_F("replica", nodes_args, add.replica),
    {.name = "replica-of",
     .has_arg = 1,
     .kind = SP_OPT_STRING,
     .off = offsetof(nodes_args, add.replica_of),
     .also = 1 + offsetof(nodes_args, add.replica)},
    SP_OPT_F("copy-acl", nodes_args, add.match.copy_acl),
    SP_OPT_S("allow-drift", nodes_args, add.match.allow_drift),
    SP_OPT_I("node-wait", 1, 3600, nodes_args, wait_s),
    SP_OPT_F("with-replicas", nodes_args, rm.with_replicas),
    SP_OPT_F("failover-first", nodes_args, rm.failover_first),
    SP_OPT_F("force", nodes_args, rm.force),
    SP_OPT_CHOICES("retire", retire_kinds, nodes_args, rm.retire),
    {.name = "deprovision",
     .has_arg = 1,
     .kind = SP_OPT_CHOICE,
     .off = offsetof(nodes_args, prov.kind),
     .also = 1 + offsetof(nodes_args, deprovision),
     .choices = sp_prov_kinds},
    SP_OPT_S("deprovision-cmd", nodes_args, prov.deprovision),
    SP_OPT_S("dir", nodes_args, prov.dir),
    SP_MOVE_OPTDEFS(nodes_args, m),
    SP_OPT_END};

static const char help[] =
    "usage: slotpilot add-node HOST:PORT NEW_HOST:NEW_PORT [--replica |\n"
    "                 --replica-of NODE] [--copy-acl] [--allow-drift LIST]\n"
    "                 [--node-wait 60] [--yes] [--json]\n"
    "       slotpilot remove-node HOST:PORT NODE [--with-replicas]\n"
    "                 [--failover-first] [--force] [--retire reset|shutdown|"
    "none]\n"
    "                 [engine options as for reshard] [--yes] [--json]\n"
    "       slotpilot failover HOST:PORT NODE [--node-wait 60] [--yes]\n"
    "A new primary must match the cluster: same server version, ACL users\n"
    "and cluster settings (--copy-acl copies the users; --allow-drift\n"
    "version,acl,SETTING,... accepts those differences); the cluster's\n"
    "functions are copied onto it before it joins.\n"
    "add-node waits until every node knows the new one and agrees; a replica\n"
    "goes to the primary with the fewest replicas on another host (unless\n"
    "--replica-of) and waits for its first sync. remove-node drains a\n"
    "primary over all the others, re-homes its replicas (or removes them),\n"
    "FORGETs it on every node until none knows it, then resets it (default)\n"
    "or shuts it down. A dead node can be removed by its id. With\n"
    "--deprovision local (stop it and delete its data; --dir or found from\n"
    "the entry node) or exec (--deprovision-cmd CMD HOST:PORT) the removed\n"
    "nodes are then taken away, as shrink does.\n";

static void init(void *args)
{
	nodes_args *a = args;

	sp_move_args_init(&a->m);
	a->wait_s = 60;
}

/* Prints what happened to node: out is the new id, the removed nodes or
 * the new primary. */
static void report(const sp_cli *cli, int which, const char *node,
		   const char *out)
{
	if (cli->json)
		sp_cli_json_print(json_pack("{s:b, s:s, s:s}", "ok", 1, "node",
					    node, "result", out));
	else
		printf(which == 0   ? "[OK] %s joined the cluster (id %s).\n"
		       : which == 1 ? "[OK] %s: removed %s.\n"
				    : "[OK] %s failed over; new primary %s.\n",
		       node, out);
}

/* The variant: 0 add-node, 1 remove-node, 2 failover. */
static int run(sp_cli_ctx *x, void *args)
{
	nodes_args *a = args;
	int which = x->variant;
	char out[SP_ADDR_MAX] = "";
	sp_removed removed = {0};
	sp_log log = sp_cli_log(&x->cli);
	const char *node = x->pos[1];
	int rc;
	sp_err e;

	if ((rc = sp_cli_ask(&x->cli, which == 0   ? "Add this node?"
				      : which == 1 ? "Remove this node?"
						   : "Fail over?")) !=
	    SP_EXIT_OK)
		return rc;
	a->add.wait_ms = a->rm.wait_ms = a->wait_s * 1000;
	a->rm.mig = a->m.mig;
	a->rm.mig.stop = a->add.stop = sp_cli_stop_flag();
	a->rm.journal_dir = a->m.journal_dir;
	if (which == 0)
		e = sp_add_node(x->host, x->port, node, &a->add, &x->cli.conn,
				&log, out, &x->err);
	else if (which == 1)
		e = sp_remove_and_deprovision(x->host, x->port, node, &a->rm,
					      a->deprovision ? &a->prov : NULL,
					      &x->cli.conn, &log, &removed,
					      &x->err);
	else
		e = sp_failover(x->host, x->port, node, &x->cli.conn,
				a->wait_s * 1000, sp_cli_stop_flag(), out,
				&x->err);
	if (e != SP_OK)
		return sp_cli_fail(&x->cli, &x->err);
	for (size_t i = 0; which == 1 && i < removed.n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
			 i ? " " : "", removed.addr[i]);
	report(&x->cli, which, node, out);
	return SP_EXIT_OK;
}

#define NODES_CMD(n, syn, sum, v)                                              \
	SP_CMD(n, syn, sum, .help = help, .opts = opts,                        \
	       SP_POS(2, 2, n ": give HOST:PORT and a node", 1), .entry = 1,   \
	       .args_size = sizeof(nodes_args), .init = init, .run = run,      \
	       .variant = v)

const sp_cmd sp_def_add_node =
    NODES_CMD("add-node", "add-node HOST:PORT NEW",
	      "join a node (primary or --replica)", 0);
const sp_cmd sp_def_remove_node =
    NODES_CMD("remove-node", "remove-node HOST:PORT NODE ",
	      "drain, re-home replicas, forget, reset", 1);
const sp_cmd sp_def_failover =
    NODES_CMD("failover", "failover HOST:PORT NODE",
	      "manual failover through a replica", 2);
