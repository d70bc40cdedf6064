/*
 * cmd_conf.c - `slotpilot conf`: the node configuration slotpilot expects,
 * as a template for Terraform, Ansible or a Kubernetes ConfigMap.
 *
 * It binds to the address it announces (127.0.0.1 unless --announce-ip
 * says otherwise), never 0.0.0.0, keeps protected-mode on, and writes
 * requirepass and masterauth when a password is given (-a/--pass or
 * REDISCLI_AUTH). With --tls the node is TLS-only, the lines `local up
 * --tls` writes, with the files of --cert, --key and --cacert (the node's
 * own, not a client's) or placeholders said to be ones.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "provision/local.h"

typedef struct conf_args {
	int port;
	sp_local_opts lo;
} conf_args;

static const sp_optdef opts[] = {
    SP_OPT_I("port", 1, 55535, conf_args, port),
    SP_OPT_S("announce-ip", conf_args, lo.bind),
    SP_OPT_I("node-timeout", 100, 600000, conf_args, lo.node_timeout_ms),
    SP_OPT_END};

static void init(void *args)
{
	conf_args *a = args;

	a->port = 6379;
	a->lo = sp_local_defaults("."); /* bind 127.0.0.1 */
}

#define PLACEHOLDER_DIR "/etc/redis/tls"

/* --tls: the node's files, or placeholders and a comment saying so. */
static void tls_files(const sp_tls_opts *t, sp_local_opts *lo)
{
	if (!t->enabled)
		return;
	lo->tls_cert = t->cert ? t->cert : PLACEHOLDER_DIR "/node.crt";
	lo->tls_key = t->key ? t->key : PLACEHOLDER_DIR "/node.key";
	lo->tls_cacert = t->cacert		? t->cacert
			 : t->cacertdir == NULL ? PLACEHOLDER_DIR "/ca.crt"
						: NULL;
	lo->tls_cacertdir = t->cacertdir;
	if (!t->cert || !t->key || (!t->cacert && !t->cacertdir))
		printf("# TLS: the paths under " PLACEHOLDER_DIR " are "
		       "placeholders: put the node's certificate and key\n"
		       "# (it also serves the cluster bus as client) and the "
		       "CA there, or give --cert, --key, --cacert.\n");
}

/* No positionals; a stray one is a usage error without a message. */
static int no_pos(const sp_cli_ctx *x, const void *args)
{
	(void)args;
	return x->npos == 0 ? SP_EXIT_OK : SP_EXIT_USAGE;
}

static int run(sp_cli_ctx *x, void *args)
{
	conf_args *a = args;
	char buf[8192];

	if (strcmp(a->lo.bind, "0.0.0.0") == 0 ||
	    strcmp(a->lo.bind, "::") == 0) {
		sp_cli_errorf("--announce-ip %s: give the node's own address "
			      "(it binds to it and announces it)",
			      a->lo.bind);
		return SP_EXIT_USAGE;
	}
	a->lo.pass = x->cli.conn.pass;
	tls_files(&x->cli.tls, &a->lo);
	if (sp_local_conf(&a->lo, a->port, buf, sizeof(buf)) < 0) {
		sp_cli_errorf("the configuration is too long (password?)");
		return SP_EXIT_USAGE;
	}
	fputs(buf, stdout);
	if (a->lo.pass == NULL || a->lo.pass[0] == '\0')
		fprintf(stderr, "slotpilot conf: no password (-a or "
				"REDISCLI_AUTH): with protected-mode on, the "
				"node accepts loopback clients only\n");
	return SP_EXIT_OK;
}

const sp_cmd sp_def_conf = SP_CMD(
    "conf", "conf", "print a node configuration template",
    .help = "usage: slotpilot conf [--port 6379] [--announce-ip IP] "
	    "[--node-timeout 5000] [-a PASSWORD]\n"
	    "                      [--tls [--cert NODE.crt --key NODE.key "
	    "--cacert CA.crt]]\n"
	    "Prints a redis.conf for one cluster node: bind and "
	    "cluster-announce-ip IP\n"
	    "(default 127.0.0.1; 0.0.0.0 is refused), protected-mode yes, "
	    "and requirepass\n"
	    "and masterauth when a password is given (-a, or "
	    "REDISCLI_AUTH).\n"
	    "--tls: a TLS-only node (port 0, tls-port PORT, tls-cluster, "
	    "tls-replication,\n"
	    "tls-auth-clients yes) with the node's certificate, key and CA "
	    "from --cert,\n"
	    "--key and --cacert (or --cacertdir), or placeholder paths under"
	    "\n" PLACEHOLDER_DIR ".\n",
    .opts = opts, .check = no_pos, .own_tls = 1, .args_size = sizeof(conf_args),
    .init = init, .run = run);
