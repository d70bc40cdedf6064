/*
 * cmd_scale.c - `slotpilot expand` and `slotpilot shrink`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/moving.h"
#include "ops/scale.h"

enum {
	O_PRIMARIES = 1,
	O_REPLICAS,
	O_PROV,
	O_PROV_CMD,
	O_DEPROV_CMD,
	O_DIR,
	O_REMOVE,
	O_NWAIT
};

#define MAX_REMOVE 64

static const sp_optdef opts[] = {{"primaries", 0, 1, O_PRIMARIES},
				 {"replicas", 0, 1, O_REPLICAS},
				 {"provisioner", 0, 1, O_PROV},
				 {"provision-cmd", 0, 1, O_PROV_CMD},
				 {"deprovision-cmd", 0, 1, O_DEPROV_CMD},
				 {"dir", 0, 1, O_DIR},
				 {"remove", 0, 1, O_REMOVE},
				 {"node-wait", 0, 1, O_NWAIT},
				 SP_MOVE_OPTDEFS,
				 {NULL, 0, 0, 0}};

typedef struct scale_args {
	sp_scale_opts s;
	const char *remove[MAX_REMOVE];
	sp_move_args m;
	int wait_s;
} scale_args;

static int on_opt(void *ud, int id, const char *val)
{
	scale_args *a = ud;

	switch (id) {
	case O_PRIMARIES:
		return sp_cli_int("--primaries", val, 1, 1000, &a->s.primaries);
	case O_REPLICAS:
		return sp_cli_int("--replicas", val, 0, 5, &a->s.replicas);
	case O_PROV:
		if (strcmp(val, "local") == 0)
			a->s.prov.kind = SP_PROV_LOCAL;
		else if (strcmp(val, "exec") == 0)
			a->s.prov.kind = SP_PROV_EXEC;
		else {
			sp_cli_errorf("--provisioner: \"%s\" is not local or "
				      "exec",
				      val);
			return -1;
		}
		return 0;
	case O_PROV_CMD:
		a->s.prov.provision = val;
		return 0;
	case O_DEPROV_CMD:
		a->s.prov.deprovision = val;
		return 0;
	case O_DIR:
		a->s.prov.dir = val;
		return 0;
	case O_REMOVE:
		if (a->s.nremove >= MAX_REMOVE)
			return -1;
		a->remove[a->s.nremove++] = val;
		return 0;
	case O_NWAIT:
		return sp_cli_int("--node-wait", val, 1, 3600, &a->wait_s);
	}
	return sp_move_opt(&a->m, id, val);
}

static const char help[] =
    "usage: slotpilot expand HOST:PORT --primaries N [--replicas R]\n"
    "                 [--provisioner local|exec] [--provision-cmd CMD]\n"
    "                 [--deprovision-cmd CMD] [--dir DIR] [engine options]\n"
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
    "its last argument. See docs/provisioners.md.\n"
    "       slotpilot rollback HOST:PORT [--journal-dir DIR] [provisioner]\n"
    "rollback returns the slots of the newest journaled operation to the\n"
    "owners in its snapshot and, after an expand, removes the nodes it\n"
    "added.\n";

static int run(int argc, char **argv, int expand)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	sp_error err = {0};
	sp_log log;
	scale_args a;
	int npos = 0, port, rc = SP_EXIT_USAGE, ok;
	size_t moved = 0;
	sp_err e;

	memset(&a, 0, sizeof(a));
	a.s.replicas = -1;
	a.s.remove = a.remove;
	a.wait_s = 60;
	sp_move_args_init(&a.m);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(help, stdout);
		rc = SP_EXIT_OK;
		goto done;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos))
		goto done;
	if (npos != 1 ||
	    (expand < 2 && a.s.primaries == 0 && (expand || !a.s.nremove)) ||
	    (a.s.prov.kind == SP_PROV_EXEC && expand && !a.s.prov.provision)) {
		sp_cli_errorf("%s: give HOST:PORT and --primaries N%s%s",
			      argv[0], expand ? "" : " (or --remove NODE)",
			      a.s.prov.kind == SP_PROV_EXEC
				  ? "; exec needs --provision-cmd"
				  : "");
		goto done;
	}
	if (sp_parse_hostport(pos[0], host, &port, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto done;
	}
	if ((ok = sp_cli_confirm(&cli, expand == 1   ? "Expand the cluster?"
				       : expand == 0 ? "Shrink the cluster?"
						     : "Roll back?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto done;
	}
	log = sp_cli_log(&cli);
	a.s.rm.mig = a.m.mig;
	a.s.rm.mig.stop = sp_cli_stop_flag();
	a.s.rm.journal_dir = a.m.journal_dir;
	a.s.rm.wait_ms = a.wait_s * 1000;
	sp_cli_trap_signals();
	if ((rc = sp_traffic_begin(&cli, &a.m, host, port)) != SP_EXIT_OK)
		goto done;
	if (expand == 2)
		e = sp_rollback(host, port, &a.s, &cli.conn, &log, &moved,
				&err);
	else if (expand == 1)
		e = sp_expand(host, port, &a.s, &cli.conn, &log, &err);
	else
		e = sp_shrink(host, port, &a.s, &cli.conn, &log, &err);
	sp_traffic_end(&a.m);
	if (e != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto done;
	}
	if (cli.json)
		printf("{\"ok\":true,\"slots_moved_back\":%zu}\n", moved);
	else
		printf("[OK] %s done%s.\n",
		       expand == 2 ? "rollback"
		       : expand	   ? "expand"
				   : "shrink",
		       expand == 2 ? "" : "; the cluster checks healthy");
	rc = SP_EXIT_OK;
done:
	free(pos);
	return rc;
}

int sp_cmd_expand(int argc, char **argv)
{
	return run(argc, argv, 1);
}
int sp_cmd_shrink(int argc, char **argv)
{
	return run(argc, argv, 0);
}
int sp_cmd_rollback(int argc, char **argv)
{
	return run(argc, argv, 2);
}
