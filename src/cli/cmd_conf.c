/*
 * cmd_conf.c - `slotpilot conf`: the node configuration slotpilot expects,
 * as a template for Terraform, Ansible or a Kubernetes ConfigMap.
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
	a->lo = sp_local_defaults(".");
	a->lo.bind = "0.0.0.0";
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
	char buf[4096];

	(void)x;
	if (sp_local_conf(&a->lo, a->port, buf, sizeof(buf)) < 0)
		return SP_EXIT_INTERNAL;
	fputs(buf, stdout);
	return SP_EXIT_OK;
}

const sp_cmd sp_def_conf =
    SP_CMD("conf", "conf", "print a node configuration template",
	   .help = "usage: slotpilot conf [--port 6379] [--announce-ip IP] "
		   "[--node-timeout 5000]\n",
	   .opts = opts, .check = no_pos, .args_size = sizeof(conf_args),
	   .init = init, .run = run);
