/*
 * cmd_nodes.c - `slotpilot add-node`, `remove-node` and `failover`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/moving.h"
#include "ops/scale.h"
#include "provision/local.h"

enum {
	O_REPLICA = 1,
	O_REPLICA_OF,
	O_NWAIT,
	O_WITH_REPLICAS,
	O_FAILOVER,
	O_FORCE,
	O_RETIRE,
	O_DEPROV,
	O_DEPROV_CMD,
	O_DIR
};

static const sp_optdef opts[] = {{"replica", 0, 0, O_REPLICA},
				 {"replica-of", 0, 1, O_REPLICA_OF},
				 {"node-wait", 0, 1, O_NWAIT},
				 {"with-replicas", 0, 0, O_WITH_REPLICAS},
				 {"failover-first", 0, 0, O_FAILOVER},
				 {"force", 0, 0, O_FORCE},
				 {"retire", 0, 1, O_RETIRE},
				 {"deprovision", 0, 1, O_DEPROV},
				 {"deprovision-cmd", 0, 1, O_DEPROV_CMD},
				 {"dir", 0, 1, O_DIR},
				 SP_MOVE_OPTDEFS,
				 {NULL, 0, 0, 0}};

typedef struct nodes_args {
	sp_add_opts add;
	sp_remove_opts rm;
	sp_move_args m;
	int wait_s;
	int deprovision; /* 1: run the provisioner's deprovision step */
	sp_provisioner prov;
} nodes_args;

static int on_opt(void *ud, int id, const char *val)
{
	nodes_args *a = ud;

	switch (id) {
	case O_REPLICA:
		a->add.replica = 1;
		return 0;
	case O_REPLICA_OF:
		a->add.replica = 1, a->add.replica_of = val;
		return 0;
	case O_NWAIT:
		return sp_cli_int("--node-wait", val, 1, 3600, &a->wait_s);
	case O_WITH_REPLICAS:
		a->rm.with_replicas = 1;
		return 0;
	case O_FAILOVER:
		a->rm.failover_first = 1;
		return 0;
	case O_FORCE:
		a->rm.force = 1;
		return 0;
	case O_DEPROV:
		a->deprovision = 1;
		if (strcmp(val, "exec") == 0)
			a->prov.kind = SP_PROV_EXEC;
		else if (strcmp(val, "local") != 0) {
			sp_cli_errorf("--deprovision: \"%s\" is not local or "
				      "exec",
				      val);
			return -1;
		}
		return 0;
	case O_DEPROV_CMD:
		a->prov.deprovision = val;
		return 0;
	case O_DIR:
		a->prov.dir = val;
		return 0;
	case O_RETIRE:
		if (strcmp(val, "reset") == 0)
			a->rm.retire = SP_RETIRE_RESET;
		else if (strcmp(val, "shutdown") == 0)
			a->rm.retire = SP_RETIRE_SHUTDOWN;
		else if (strcmp(val, "none") == 0)
			a->rm.retire = SP_RETIRE_NONE;
		else {
			sp_cli_errorf("--retire: \"%s\" is not reset, shutdown "
				      "or none",
				      val);
			return -1;
		}
		return 0;
	}
	return sp_move_opt(&a->m, id, val);
}

static const char help[] =
    "usage: slotpilot add-node HOST:PORT NEW_HOST:NEW_PORT [--replica |\n"
    "                 --replica-of NODE] [--node-wait 60] [--yes] [--json]\n"
    "       slotpilot remove-node HOST:PORT NODE [--with-replicas]\n"
    "                 [--failover-first] [--force] [--retire reset|shutdown|"
    "none]\n"
    "                 [engine options as for reshard] [--yes] [--json]\n"
    "       slotpilot failover HOST:PORT NODE [--node-wait 60] [--yes]\n"
    "add-node waits until every node knows the new one and agrees; a replica\n"
    "goes to the primary with the fewest replicas on another host (unless\n"
    "--replica-of) and waits for its first sync. remove-node drains a\n"
    "primary over all the others, re-homes its replicas (or removes them),\n"
    "FORGETs it on every node until none knows it, then resets it (default)\n"
    "or shuts it down. A dead node can be removed by its id. With\n"
    "--deprovision local (stop it and delete its data; --dir or found from\n"
    "the entry node) or exec (--deprovision-cmd CMD HOST:PORT) the removed\n"
    "nodes are then taken away, as shrink does.\n";

static sp_err remove_and_deprovision(nodes_args *a, const char *host, int port,
				     const char *name, const sp_conn_opts *co,
				     const sp_log *log, sp_removed *removed,
				     sp_error *err)
{
	char dir[1024];
	size_t i;
	sp_err rc;

	/* The directory must be read while the entry node still answers. */
	if (a->deprovision && a->prov.kind == SP_PROV_LOCAL &&
	    a->prov.dir == NULL &&
	    sp_local_dir_of(host, port, co, dir, sizeof(dir), NULL) == SP_OK)
		a->prov.dir = dir;
	rc = sp_remove_node(host, port, name, &a->rm, co, log, removed, err);
	for (i = 0; rc == SP_OK && a->deprovision && i < removed->n; i++)
		rc = sp_deprovision(&a->prov, removed->addr[i], err);
	a->prov.dir = a->prov.dir == dir ? NULL : a->prov.dir;
	return rc;
}

/* which: 0 add-node, 1 remove-node, 2 failover. */
static int run(int argc, char **argv, int which)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX], out[SP_ADDR_MAX] = "";
	sp_removed removed = {0};
	sp_cli cli = {0};
	sp_error err = {0};
	sp_log log;
	nodes_args a;
	int npos = 0, port, rc = SP_EXIT_USAGE, ok;
	sp_err e;

	memset(&a, 0, sizeof(a));
	sp_move_args_init(&a.m);
	a.wait_s = 60;
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(help, stdout);
		rc = SP_EXIT_OK;
		goto done;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos))
		goto done;
	if (npos != 2) {
		sp_cli_errorf("%s: give HOST:PORT and a node\n%s", argv[0],
			      help);
		goto done;
	}
	if (sp_parse_hostport(pos[0], host, &port, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto done;
	}
	log = sp_cli_log(&cli);
	if ((ok = sp_cli_confirm(&cli, which == 0   ? "Add this node?"
				       : which == 1 ? "Remove this node?"
						    : "Fail over?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto done;
	}
	a.add.wait_ms = a.rm.wait_ms = a.wait_s * 1000;
	a.rm.mig = a.m.mig;
	a.rm.journal_dir = a.m.journal_dir;
	if (which == 0)
		e = sp_add_node(host, port, pos[1], &a.add, &cli.conn, &log,
				out, &err);
	else if (which == 1)
		e = remove_and_deprovision(&a, host, port, pos[1], &cli.conn,
					   &log, &removed, &err);
	else
		e = sp_failover(host, port, pos[1], &cli.conn, a.wait_s * 1000,
				out, &err);
	if (e != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto done;
	}
	for (size_t i = 0; which == 1 && i < removed.n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
			 i ? " " : "", removed.addr[i]);
	if (cli.json)
		printf("{\"ok\":true,\"node\":\"%s\",\"result\":\"%s\"}\n",
		       pos[1], out);
	else
		printf(which == 0   ? "[OK] %s joined the cluster (id %s).\n"
		       : which == 1 ? "[OK] %s: removed %s.\n"
				    : "[OK] %s failed over; new primary %s.\n",
		       pos[1], out);
	rc = SP_EXIT_OK;
done:
	free(pos);
	return rc;
}

int sp_cmd_add_node(int argc, char **argv)
{
	return run(argc, argv, 0);
}
int sp_cmd_remove_node(int argc, char **argv)
{
	return run(argc, argv, 1);
}
int sp_cmd_failover(int argc, char **argv)
{
	return run(argc, argv, 2);
}
