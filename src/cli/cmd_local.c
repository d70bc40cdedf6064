/*
 * cmd_local.c - `slotpilot local up | down | status`: the embedded default,
 * a cluster of redis-server processes on this machine, tracked by the pid
 * files under its directory.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cluster/converge.h"
#include "ops/create.h"
#include "provision/local.h"

#define DEFAULT_DIR ".slotpilot/local"

typedef struct local_args {
	int primaries, replicas, port, purge;
	int count; /* spawn: how many nodes */
	int only;  /* down: just this port (0: all) */
	int port_set;
	sp_local_opts lo;
} local_args;

static const sp_optdef opts[] = {
    SP_OPT_I("primaries", 3, 100, local_args, primaries),
    SP_OPT_I("replicas", 0, 5, local_args, replicas),
    {.name = "port",
     .has_arg = 1,
     .kind = SP_OPT_INT,
     .lo = 1,
     .hi = 55535,
     .off = offsetof(local_args, port),
     .also = 1 + offsetof(local_args, port_set)},
    SP_OPT_S("dir", local_args, lo.dir),
    SP_OPT_I("node-timeout", 100, 600000, local_args, lo.node_timeout_ms),
    SP_OPT_F("purge", local_args, purge),
    SP_OPT_S("redis-server", local_args, lo.server),
    SP_OPT_I("count", 1, 100, local_args, count),
    SP_OPT_I("only", 1, 65535, local_args, only),
    SP_OPT_END};

static const char help[] =
    "usage: slotpilot local up [--primaries 3] [--replicas 1] [--port 30001]\n"
    "                          [--dir .slotpilot/local] [--node-timeout 5000]\n"
    "       slotpilot local down [--dir DIR] [--only PORT] [--purge]\n"
    "       slotpilot local spawn [--dir DIR] [--count 1] [--port P]\n"
    "       slotpilot local status [--dir DIR] [--json]\n"
    "Nodes listen on 127.0.0.1, ports PORT.. (bus ports +10000), each in\n"
    "DIR/<port>/ with its redis.conf, data, log and pid file. 'up' on a\n"
    "directory whose cluster is stopped starts it again with its data;\n"
    "'down --purge' also deletes the data. 'spawn' starts empty nodes with\n"
    "the same configuration (not joined: see add-node) on the first free\n"
    "ports above the directory's highest one (or from --port) and prints\n"
    "their addresses.\n";

static int print_nodes(const sp_cli *cli, const char *dir, int already,
		       const char *what)
{
	sp_local_node *v = NULL;
	sp_error err = {0};
	json_t *arr, *o;
	size_t n, i;

	if (sp_local_list(dir, &v, &n, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	if (cli->json) {
		arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(
			    arr, json_pack("{s:i, s:i, s:b}", "port", v[i].port,
					   "pid", (int)v[i].pid, "alive",
					   v[i].alive));
		o = json_pack("{s:s, s:b, s:o}", "dir", dir, "already_running",
			      already, "nodes", arr);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else {
		if (what != NULL)
			printf("%s\n", what);
		for (i = 0; i < n; i++)
			printf("  127.0.0.1:%-6d pid %-8d %s\n", v[i].port,
			       (int)v[i].pid,
			       v[i].alive ? "running" : "stopped");
		if (n == 0)
			printf("  no nodes in %s\n", dir);
	}
	free(v);
	return SP_EXIT_OK;
}

static void stop_all(const char *dir, const int *ports, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sp_local_stop(dir, ports[i], NULL);
}

/* Starts again the stopped nodes of an existing local cluster. */
static int restart(const sp_cli *cli, local_args *a, sp_local_node *v, size_t n)
{
	sp_check_opts copts = sp_check_defaults();
	sp_log log = sp_cli_log(cli);
	sp_error err = {0};
	size_t i;

	sp_logf(&log, "restart", "Starting the stopped nodes of %s", a->lo.dir);
	for (i = 0; i < n; i++)
		if (!v[i].alive &&
		    sp_local_start(&a->lo, v[i].port, &err) != SP_OK)
			return sp_cli_fail(cli, &err);
	copts.expect_nodes = (int)n;
	if (sp_wait_healthy(a->lo.bind, v[0].port, &cli->conn, &copts, 60000,
			    200, NULL, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	return SP_EXIT_OK;
}

/* Starts fresh nodes on free ports and creates the cluster. */
static int fresh(const sp_cli *cli, local_args *a)
{
	int total = a->primaries * (1 + a->replicas), i, rc = SP_EXIT_OK;
	char **addrs = calloc((size_t)total, sizeof(*addrs));
	int *ports = calloc((size_t)total, sizeof(*ports));
	sp_create_plan plan = {0};
	sp_log log = sp_cli_log(cli);
	sp_error err = {0};
	int started = 0;

	if (addrs == NULL || ports == NULL) {
		rc = SP_EXIT_INTERNAL;
		goto out;
	}
	for (i = 0; i < total; i++) {
		ports[i] = a->port + i;
		if (ports[i] + 10000 > 65535 ||
		    !sp_local_port_free(a->lo.bind, ports[i])) {
			sp_cli_errorf("port %d (or its bus port %d) on %s is "
				      "already in use; choose another --port",
				      ports[i], ports[i] + 10000, a->lo.bind);
			rc = SP_EXIT_REFUSED;
			goto out;
		}
		if ((addrs[i] = malloc(SP_ADDR_MAX)) == NULL) {
			rc = SP_EXIT_INTERNAL;
			goto out;
		}
		sp_format_addr(addrs[i], SP_ADDR_MAX, a->lo.bind, ports[i]);
	}
	sp_logf(&log, "start",
		"Starting %d redis-server nodes on %s:%d-%d in %s", total,
		a->lo.bind, ports[0], ports[total - 1], a->lo.dir);
	for (started = 0; started < total; started++)
		if (sp_local_start(&a->lo, ports[started], &err) != SP_OK)
			goto fail;
	if (sp_create_plan_make((const char *const *)addrs, (size_t)total,
				a->replicas, &plan, &err) != SP_OK ||
	    sp_create_preflight(&plan, &cli->conn, &err) != SP_OK ||
	    sp_create_run(&plan, &cli->conn, 60000, &log, &err) != SP_OK)
		goto fail;
	goto out;
fail:
	rc = sp_cli_fail(cli, &err);
	sp_cli_errorf(
	    "stopping the nodes started so far (their logs stay in %s)",
	    a->lo.dir);
	stop_all(a->lo.dir, ports,
		 (size_t)(started < total ? started + 1 : total));
out:
	sp_create_plan_free(&plan);
	for (i = 0; addrs != NULL && i < total; i++)
		free(addrs[i]);
	free(addrs);
	free(ports);
	return rc;
}

static int up(const sp_cli *cli, local_args *a)
{
	sp_local_node *v = NULL;
	sp_error err = {0};
	size_t n, i, alive = 0;
	char what[512];
	int rc;

	if (sp_local_list(a->lo.dir, &v, &n, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	for (i = 0; i < n; i++)
		alive += (size_t)v[i].alive;
	if (n > 0 && alive == n)
		rc = SP_EXIT_OK;
	else if (n > 0)
		rc = restart(cli, a, v, n);
	else
		rc = fresh(cli, a);
	if (rc == SP_EXIT_OK) {
		snprintf(what, sizeof(what),
			 "Local cluster %s in %s (entry 127.0.0.1:%d). Stop it "
			 "with: slotpilot local down --dir %s",
			 n > 0 && alive == n ? "already running" : "up",
			 a->lo.dir, n > 0 ? v[0].port : a->port, a->lo.dir);
		rc = print_nodes(cli, a->lo.dir, n > 0 && alive == n, what);
	}
	free(v);
	return rc;
}

/* Starts a->count empty nodes on free ports; prints HOST:PORT lines. */
static int spawn(const sp_cli *cli, local_args *a)
{
	char(*addrs)[SP_ADDR_MAX] = calloc((size_t)a->count, SP_ADDR_MAX);
	sp_error err = {0};
	int i, first = a->port_set ? a->port
				   : sp_local_next_port(a->lo.dir, a->port);

	if (addrs == NULL)
		return SP_EXIT_INTERNAL;
	if (sp_local_spawn(&a->lo, first, a->count, addrs, &err) != SP_OK) {
		free(addrs);
		return sp_cli_fail(cli, &err);
	}
	for (i = 0; i < a->count; i++)
		printf("%s\n", addrs[i]);
	free(addrs);
	return SP_EXIT_OK;
}

static int down(const sp_cli *cli, local_args *a)
{
	sp_local_node *v = NULL;
	sp_error err = {0};
	size_t n, i, stopped = 0;
	int rc = SP_EXIT_OK;

	if (sp_local_list(a->lo.dir, &v, &n, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	for (i = 0; i < n; i++) {
		if (a->only && v[i].port != a->only)
			continue;
		if (v[i].alive) {
			if (sp_local_stop(a->lo.dir, v[i].port, &err) !=
			    SP_OK) {
				rc = sp_cli_fail(cli, &err);
				continue;
			}
			stopped++;
		}
		if (a->purge && sp_local_purge(a->lo.dir, v[i].port, &err))
			rc = sp_cli_fail(cli, &err);
	}
	if (cli->json)
		sp_cli_json_print(json_pack("{s:I, s:b}", "stopped",
					    (json_int_t)stopped, "purged",
					    a->purge));
	else
		printf("Stopped %zu nodes in %s%s.\n", stopped, a->lo.dir,
		       a->purge ? " and removed their data" : "");
	free(v);
	return rc;
}

static void init(void *args)
{
	local_args *a = args;

	a->primaries = 3;
	a->replicas = 1;
	a->port = 30001;
	a->count = 1;
	a->lo = sp_local_defaults(DEFAULT_DIR);
}

/* The subcommand: up, down, spawn or status. */
static int run(sp_cli_ctx *x, void *args)
{
	local_args *a = args;
	const char *sub = x->pos[0];

	if (strcmp(sub, "up") == 0)
		return up(&x->cli, a);
	if (strcmp(sub, "down") == 0)
		return down(&x->cli, a);
	if (strcmp(sub, "spawn") == 0)
		return spawn(&x->cli, a);
	if (strcmp(sub, "status") == 0)
		return print_nodes(&x->cli, a->lo.dir, 0, NULL);
	sp_cli_errorf("local: unknown subcommand \"%s\"\n%s", sub, help);
	return SP_EXIT_USAGE;
}

const sp_cmd sp_def_local = {
    .name = "local",
    .synopsis = "local up|down|status",
    .summary = "a cluster of redis-server processes on this machine",
    .help = help,
    .opts = opts,
    .min_pos = 1,
    .max_pos = 1,
    .pos_err = "local: give one of up, down, status",
    .pos_help = 1,
    .args_size = sizeof(local_args),
    .init = init,
    .run = run,
};
