/*
 * cmd_scale.c - `slotpilot expand` and `slotpilot shrink`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/moving.h"
#include "ops/scale.h"

/* --remove NODE, repeatable: the one option the table cannot fill. */
enum { O_REMOVE = 1 };

#define MAX_REMOVE 64

typedef struct scale_args {
	sp_scale_opts s;
	const char *remove[MAX_REMOVE];
	sp_move_args m;
	int wait_s;
} scale_args;

static const sp_optdef opts[] = {
    SP_OPT_I("primaries", 1, 1000, scale_args, s.primaries),
    SP_OPT_I("replicas", 0, 5, scale_args, s.replicas),
    SP_OPT_CHOICES("provisioner", sp_prov_kinds, scale_args, s.prov.kind),
    SP_OPT_S("provision-cmd", scale_args, s.prov.provision),
    SP_OPT_S("deprovision-cmd", scale_args, s.prov.deprovision),
    SP_OPT_S("dir", scale_args, s.prov.dir),
    SP_OPT_S("local-hosts", scale_args, s.prov.hosts),
    {.name = "remove", .has_arg = 1, .id = O_REMOVE},
    SP_OPT_I("node-wait", 1, 3600, scale_args, wait_s),
    SP_MOVE_OPTDEFS(scale_args, m),
    SP_OPT_END};

static int add_remove(void *ud, int id, const char *val)
{
	scale_args *a = ud;

	(void)id;
	if (a->s.nremove >= MAX_REMOVE)
		return -1;
	a->remove[a->s.nremove++] = val;
	return 0;
}

static const char help[] =
    "usage: slotpilot expand HOST:PORT --primaries N [--replicas R]\n"
    "                 [--provisioner local|exec] [--provision-cmd CMD]\n"
    "                 [--deprovision-cmd CMD] [--dir DIR]\n"
    "                 [--local-hosts NETNS=ADDR,...] [engine options]\n"
    "       slotpilot shrink HOST:PORT (--primaries N | --remove NODE...)\n"
    "                 [same provisioner options] [engine options]\n"
    "expand provisions the nodes for N primaries in all (R replicas each,\n"
    "by default as many as the cluster's primaries have), joins them,\n"
    "rebalances, and validates (check and a write/read probe on every\n"
    "primary). Re-running an interrupted expand reuses the nodes it\n"
    "provisioned. shrink removes primaries (the fewest keys first, never\n"
    "the entry node's, or the named ones) with their replicas, drained\n"
    "over the others, then deprovisions them; never below 3 primaries.\n"
    "exec: CMD gets SLOTPILOT_COUNT and prints one HOST:PORT per new node;\n"
    "the deprovision CMD gets the node's HOST:PORT as SLOTPILOT_NODE and as\n"
    "its last argument. local with --local-hosts: new nodes start in those\n"
    "network namespaces (ip netns exec), bound to their ADDR, round robin,\n"
    "so a shard's primary and replicas land on different hosts.\n"
    "See docs/provisioners.md.\n"
    "       slotpilot rollback HOST:PORT [--journal-dir DIR] [provisioner]\n"
    "rollback returns the slots of the newest journaled operation to the\n"
    "owners in its snapshot and, after an expand, removes the nodes it\n"
    "added.\n";

static void init(void *args)
{
	scale_args *a = args;

	a->s.replicas = -1;
	a->s.remove = a->remove;
	a->wait_s = 60;
	sp_move_args_init(&a->m);
}

/* The variant: 1 expand, 0 shrink, 2 rollback. SP_EXIT_OK when the
 * positionals and options are enough, else SP_EXIT_USAGE after saying why. */
static int usable(const sp_cli_ctx *x, const void *args)
{
	const scale_args *a = args;
	int expand = x->variant;

	if (x->npos != 1 ||
	    (expand < 2 && a->s.primaries == 0 && (expand || !a->s.nremove)) ||
	    (a->s.prov.kind == SP_PROV_EXEC && expand &&
	     !a->s.prov.provision)) {
		sp_cli_errorf("%s: give HOST:PORT and --primaries N%s%s",
			      x->name, expand ? "" : " (or --remove NODE)",
			      a->s.prov.kind == SP_PROV_EXEC
				  ? "; exec needs --provision-cmd"
				  : "");
		return SP_EXIT_USAGE;
	}
	return SP_EXIT_OK;
}

static sp_err scale(sp_cli_ctx *x, scale_args *a, int expand, size_t *moved)
{
	sp_log log = sp_cli_log(&x->cli);

	if (expand == 2)
		return sp_rollback(x->host, x->port, &a->s, &x->cli.conn, &log,
				   moved, &x->err);
	if (expand == 1)
		return sp_expand(x->host, x->port, &a->s, &x->cli.conn, &log,
				 &x->err);
	return sp_shrink(x->host, x->port, &a->s, &x->cli.conn, &log, &x->err);
}

static int run(sp_cli_ctx *x, void *args)
{
	scale_args *a = args;
	int expand = x->variant;
	size_t moved = 0;
	int rc;
	sp_err e;

	if ((rc = sp_cli_ask(&x->cli, expand == 1   ? "Expand the cluster?"
				      : expand == 0 ? "Shrink the cluster?"
						    : "Roll back?")) !=
	    SP_EXIT_OK)
		return rc;
	a->s.rm.mig = a->m.mig;
	a->s.rm.mig.stop = sp_cli_stop_flag();
	a->s.rm.journal_dir = a->m.journal_dir;
	a->s.rm.wait_ms = a->wait_s * 1000;
	sp_cli_trap_signals();
	if ((rc = sp_traffic_begin(&x->cli, &a->m, x->host, x->port)) !=
	    SP_EXIT_OK)
		return rc;
	e = scale(x, a, expand, &moved);
	sp_traffic_end(&a->m);
	if (e != SP_OK)
		return sp_cli_fail(&x->cli, &x->err);
	if (x->cli.json)
		sp_cli_json_print(json_pack("{s:b, s:I}", "ok", 1,
					    "slots_moved_back",
					    (json_int_t)moved));
	else
		printf("[OK] %s done%s.\n",
		       expand == 2 ? "rollback"
		       : expand	   ? "expand"
				   : "shrink",
		       expand == 2 ? "" : "; the cluster checks healthy");
	return SP_EXIT_OK;
}

#define SCALE_CMD(n, syn, sum, v)                                              \
	SP_CMD(n, syn, sum, .help = help, .opts = opts, .hook = add_remove,    \
	       .min_pos = 1, .max_pos = 1, .entry = 1, .check = usable,        \
	       .args_size = sizeof(scale_args), .init = init, .run = run,      \
	       .variant = v)

const sp_cmd sp_def_expand =
    SCALE_CMD("expand", "expand HOST:PORT --primaries N  ",
	      "provision, join, rebalance, validate", 1);
const sp_cmd sp_def_shrink =
    SCALE_CMD("shrink", "shrink HOST:PORT --primaries N  ",
	      "remove primaries, deprovision", 0);
const sp_cmd sp_def_rollback =
    SCALE_CMD("rollback", "rollback HOST:PORT",
	      "undo the last operation (slots, added nodes)", 2);
