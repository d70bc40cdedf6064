/*
 * cmd_conf.c - `slotpilot conf`: the node configuration slotpilot expects,
 * as a template for Terraform, Ansible or a Kubernetes ConfigMap.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "provision/local.h"

enum { O_PORT = 1, O_ANNOUNCE, O_NTIMEOUT };

static const sp_optdef opts[] = {
    {.name = "port", .shortname = 0, .has_arg = 1, .id = O_PORT},
    {.name = "announce-ip", .shortname = 0, .has_arg = 1, .id = O_ANNOUNCE},
    {.name = "node-timeout", .shortname = 0, .has_arg = 1, .id = O_NTIMEOUT},
    SP_OPT_END};

typedef struct conf_args {
	int port;
	sp_local_opts lo;
} conf_args;

static int on_opt(void *ud, int id, const char *val)
{
	conf_args *a = ud;

	if (id == O_PORT)
		return sp_cli_int("--port", val, 1, 55535, &a->port);
	if (id == O_NTIMEOUT)
		return sp_cli_int("--node-timeout", val, 100, 600000,
				  &a->lo.node_timeout_ms);
	a->lo.bind = val;
	return 0;
}

static int conf_main(int argc, char **argv)
{
	conf_args a = {.port = 6379};
	char *pos[64], buf[4096];
	sp_cli cli = {0};
	int npos = 0;

	a.lo = sp_local_defaults(".");
	a.lo.bind = "0.0.0.0";
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("usage: slotpilot conf [--port 6379] [--announce-ip IP] "
		       "[--node-timeout 5000]\n");
		return SP_EXIT_OK;
	}
	if (argc > 60 ||
	    sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos) ||
	    npos != 0)
		return SP_EXIT_USAGE;
	if (sp_local_conf(&a.lo, a.port, buf, sizeof(buf)) < 0)
		return SP_EXIT_INTERNAL;
	fputs(buf, stdout);
	return SP_EXIT_OK;
}

const sp_cmd sp_def_conf = {
    .name = "conf",
    .synopsis = "conf",
    .summary = "print a node configuration template",
    .raw = conf_main,
};
