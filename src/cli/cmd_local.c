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
#include "ops/local_cluster.h"
#include "provision/certs.h"
#include "provision/local.h"

#define DEFAULT_DIR ".slotpilot/local"

typedef struct local_args {
	int primaries, replicas, port, purge;
	int count;	      /* spawn: how many nodes */
	int node_timeout_set; /* --node-timeout given (else spawn reads dir's)
			       */
	int only;	      /* down: just this port (0: all) */
	int wait_s;	      /* up: how long the cluster may take to agree */
	int port_set;
	sp_local_opts lo;
} local_args;

/* The TLS of a directory's nodes: their files, the certificates local up
 * --tls made, the options that reach them and the client context. */
typedef struct local_tls {
	int on;
	sp_local_tls_files files;
	sp_certs certs;
	sp_tls_opts reach; /* what the operator passes: --tls --cacert ... */
	sp_tls *ctx;
} local_tls;

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
    {.name = "node-timeout",
     .has_arg = 1,
     .kind = SP_OPT_INT,
     .lo = 100,
     .hi = 600000,
     .off = offsetof(local_args, lo.node_timeout_ms),
     .also = 1 + offsetof(local_args, node_timeout_set)},
    SP_OPT_F("purge", local_args, purge),
    SP_OPT_S("redis-server", local_args, lo.server),
    SP_OPT_S("server", local_args, lo.server),
    SP_OPT_I("count", 1, 100, local_args, count),
    SP_OPT_I("only", 1, 65535, local_args, only),
    SP_OPT_I("wait", 1, 3600, local_args, wait_s),
    SP_OPT_END};

static const char help[] =
    "usage: slotpilot local up [--primaries 3] [--replicas 1] [--port 21001]\n"
    "                          [--dir .slotpilot/local] [--node-timeout 5000]\n"
    "                          [--server redis-server|valkey-server] [--tls]\n"
    "                          [--wait 60]\n"
    "       slotpilot local down [--dir DIR] [--only PORT] [--purge]\n"
    "       slotpilot local spawn [--dir DIR] [--count 1] [--port P]\n"
    "       slotpilot local status [--dir DIR] [--json]\n"
    "Nodes listen on 127.0.0.1, ports PORT.. (bus ports +10000), each in\n"
    "DIR/<port>/ with its redis.conf, data, log and pid file. 'up' on a\n"
    "directory whose cluster is stopped starts it again with its data;\n"
    "'down --purge' also deletes the data. 'spawn' starts empty nodes with\n"
    "the same configuration (not joined: see add-node) on the first free\n"
    "ports above the directory's highest one (or from --port) and prints\n"
    "their addresses. 'up --wait S' bounds how long the new cluster may\n"
    "take to agree (default 60 s; large clusters gossip longer).\n"
    "'up --tls' makes a throwaway CA and certificates in DIR/tls (openssl)\n"
    "and starts TLS-only nodes (no plain port; TLS on the bus and for\n"
    "replication; client certificates required); it prints the options\n"
    "that reach them (--tls --cacert DIR/tls/ca.crt --cert ... --key ...).\n"
    "Nodes spawned or provisioned later into DIR are TLS-only too.\n";

/* "--tls --cacert CA --cert CRT --key KEY" into buf. */
static const char *reach_args(const sp_tls_opts *t, char *buf, size_t len)
{
	snprintf(buf, len, "--tls --cacert %s --cert %s --key %s", t->cacert,
		 t->cert, t->key);
	return buf;
}

/* The "tls" object of the JSON output: the files and the options. */
static json_t *reach_json(const sp_tls_opts *t)
{
	char args[4 * SP_CERTS_PATH];

	return json_pack("{s:s, s:s, s:s, s:s}", "cacert", t->cacert, "cert",
			 t->cert, "key", t->key, "args",
			 reach_args(t, args, sizeof(args)));
}

static void print_text(const sp_local_node *v, size_t n, const char *dir,
		       const char *what, const sp_tls_opts *reach)
{
	char args[4 * SP_CERTS_PATH];
	size_t i;

	if (what != NULL)
		printf("%s\n", what);
	if (reach != NULL)
		printf("TLS only; reach it with: %s\n",
		       reach_args(reach, args, sizeof(args)));
	for (i = 0; i < n; i++)
		printf("  127.0.0.1:%-6d pid %-8d %s\n", v[i].port,
		       (int)v[i].pid, v[i].alive ? "running" : "stopped");
	if (n == 0)
		printf("  no nodes in %s\n", dir);
}

/* reach: the TLS options of the directory's nodes, or NULL (plain). */
static int print_nodes(const sp_cli *cli, const char *dir, int already,
		       const char *what, const sp_tls_opts *reach)
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
		o = json_pack("{s:s, s:b, s:o, s:o}", "dir", dir,
			      "already_running", already, "nodes", arr, "tls",
			      reach != NULL ? reach_json(reach) : json_null());
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else {
		print_text(v, n, dir, what, reach);
	}
	free(v);
	return SP_EXIT_OK;
}

/* The options that reach a directory's TLS-only nodes (or those of the
 * certificates just made into it): the client certificate when DIR/tls
 * holds ours, else the nodes' own files. */
static void dir_reach(const local_args *a, local_tls *t)
{
	sp_certs_paths(a->lo.dir, &t->certs);
	if (sp_certs_present(&t->certs)) {
		t->reach = sp_certs_client(&t->certs);
	} else {
		t->reach = (sp_tls_opts){.enabled = 1,
					 .cacert = t->files.cacert,
					 .cert = t->files.cert,
					 .key = t->files.key};
	}
	t->on = 1;
}

/* dir_reach and the client context of those options, which a->lo (the
 * PING after start) uses too. */
static int dir_tls_client(const sp_cli *cli, local_args *a, local_tls *t)
{
	sp_error err = {0};

	dir_reach(a, t);
	if (sp_tls_new(&t->reach, &t->ctx, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	a->lo.tls = t->ctx;
	return SP_EXIT_OK;
}

/* New certificates in DIR/tls for a new cluster's nodes. */
static int new_certs(const sp_cli *cli, local_args *a, local_tls *t)
{
	sp_error err = {0};

	if (sp_certs_make(a->lo.dir, a->lo.bind, &t->certs, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	a->lo.tls_cert = t->certs.node_crt;
	a->lo.tls_key = t->certs.node_key;
	a->lo.tls_cacert = t->certs.ca_crt;
	return SP_EXIT_OK;
}

/* local up's TLS: --tls on an empty directory makes certificates; a
 * directory of TLS nodes is TLS whatever the flags; --tls on a plain
 * cluster, or with the operator's own files, is refused. */
static int up_tls(const sp_cli *cli, local_args *a, local_tls *t)
{
	const sp_tls_opts *o = &cli->tls;
	sp_local_node *v = NULL;
	sp_error err = {0};
	int rc, is_tls;
	size_t n;

	if (o->enabled && (o->cacert || o->cacertdir || o->cert || o->key)) {
		sp_cli_errorf(
		    "local up --tls makes its own CA and certificates "
		    "(in DIR/tls): leave out --cacert, --cacertdir, "
		    "--cert and --key");
		return SP_EXIT_USAGE;
	}
	if (sp_local_list(a->lo.dir, &v, &n, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	free(v);
	is_tls = sp_local_dir_tls(a->lo.dir, &t->files, &a->lo);
	if (n > 0 && !is_tls && o->enabled) {
		sp_cli_errorf("local up --tls: the cluster in %s runs without "
			      "TLS; stop it with local down --dir %s --purge "
			      "first, or give another --dir",
			      a->lo.dir, a->lo.dir);
		return SP_EXIT_USAGE;
	}
	if (n > 0 ? !is_tls : !o->enabled)
		return SP_EXIT_OK; /* plain */
	if (n == 0 && (rc = new_certs(cli, a, t)) != SP_EXIT_OK)
		return rc;
	return dir_tls_client(cli, a, t);
}

/* Starts, restarts or finds the cluster (ops/local_cluster.h). */
static int up(const sp_cli *cli, local_args *a)
{
	sp_local_up_opts o;
	sp_log log = sp_cli_log(cli);
	sp_conn_opts co = cli->conn;
	local_tls t = {0};
	sp_local_up_state st;
	sp_error err = {0};
	char what[512];
	int entry, rc;

	if ((rc = up_tls(cli, a, &t)) != SP_EXIT_OK)
		goto out;
	co.tls = t.ctx;
	o = (sp_local_up_opts){.lo = a->lo,
			       .primaries = a->primaries,
			       .replicas = a->replicas,
			       .port = a->port,
			       .wait_ms = a->wait_s * 1000};
	if (sp_local_cluster_up(&o, &co, &log, &st, &entry, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	snprintf(what, sizeof(what),
		 "Local cluster %s in %s (entry 127.0.0.1:%d). Stop it "
		 "with: slotpilot local down --dir %s",
		 st == SP_LOCAL_UP_RUNNING ? "already running" : "up",
		 a->lo.dir, entry, a->lo.dir);
	rc = print_nodes(cli, a->lo.dir, st == SP_LOCAL_UP_RUNNING, what,
			 t.on ? &t.reach : NULL);
out:
	sp_tls_free(t.ctx);
	return rc;
}

/* The TLS of the directory's nodes, if they are TLS-only; for status and
 * spawn. */
static int dir_tls(const sp_cli *cli, local_args *a, local_tls *t)
{
	if (!sp_local_dir_tls(a->lo.dir, &t->files, &a->lo))
		return SP_EXIT_OK;
	return dir_tls_client(cli, a, t);
}

static int status(const sp_cli *cli, local_args *a)
{
	local_tls t = {0};

	if (sp_local_dir_tls(a->lo.dir, &t.files, &a->lo))
		dir_reach(a, &t);
	return print_nodes(cli, a->lo.dir, 0, NULL, t.on ? &t.reach : NULL);
}

/* Starts a->count empty nodes on free ports; prints HOST:PORT lines. */
static int spawn(const sp_cli *cli, local_args *a, local_tls *t)
{
	char(*addrs)[SP_ADDR_MAX] = NULL;
	sp_error err = {0};
	int i, rc,
	    first =
		a->port_set ? a->port : sp_local_next_port(a->lo.dir, a->port);

	if ((rc = dir_tls(cli, a, t)) != SP_EXIT_OK)
		return rc;
	if ((addrs = calloc((size_t)a->count, SP_ADDR_MAX)) == NULL)
		return SP_EXIT_INTERNAL;
	if (strcmp(a->lo.server, "redis-server") == 0 &&
	    sp_local_dir_server(a->lo.dir) != NULL)
		a->lo.server = sp_local_dir_server(a->lo.dir);
	if (!a->node_timeout_set)
		a->lo.node_timeout_ms =
		    sp_local_dir_node_timeout(a->lo.dir, a->lo.node_timeout_ms);
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
	/* The whole cluster purged: its throwaway certificates go too. */
	if (a->purge && !a->only && rc == SP_EXIT_OK &&
	    sp_certs_remove(a->lo.dir, &err) != SP_OK)
		rc = sp_cli_fail(cli, &err);
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
	a->port = 21001;
	a->count = 1;
	a->lo = sp_local_defaults(DEFAULT_DIR);
}

/* The subcommand: up, down, spawn or status. */
static int run(sp_cli_ctx *x, void *args)
{
	local_args *a = args;
	const char *sub = x->pos[0];
	local_tls t = {0};
	int rc;

	/* -a / REDISCLI_AUTH: the nodes are started with that password
	 * (requirepass and masterauth), so that we can talk to them. */
	a->lo.pass = x->cli.conn.pass;

	if (strcmp(sub, "up") == 0)
		return up(&x->cli, a);
	if (strcmp(sub, "down") == 0)
		return down(&x->cli, a);
	if (strcmp(sub, "spawn") == 0) {
		rc = spawn(&x->cli, a, &t);
		sp_tls_free(t.ctx);
		return rc;
	}
	if (strcmp(sub, "status") == 0)
		return status(&x->cli, a);
	sp_cli_errorf("local: unknown subcommand \"%s\"\n%s", sub, help);
	return SP_EXIT_USAGE;
}

const sp_cmd sp_def_local = SP_CMD(
    "local", "local up|down|status",
    "a cluster of redis-server processes on this machine", .help = help,
    .opts = opts, SP_POS(1, 1, "local: give one of up, down, status", 1),
    .own_tls = 1, .args_size = sizeof(local_args), .init = init, .run = run);
