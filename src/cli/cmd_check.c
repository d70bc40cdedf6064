/*
 * cmd_check.c - `slotpilot check HOST:PORT`, the validation gate for
 * scripts and CI: exit 0 healthy, 1 findings, 2 usage, 3 unreachable.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cluster/converge.h"
#include "cluster/gather.h"
#include "model/checks.h"

enum { O_NODES = 1, O_PRIMARIES, O_REPLICAS, O_WAIT };

static const sp_optdef opts[] = {{"expect-nodes", 0, 1, O_NODES},
				 {"expect-primaries", 0, 1, O_PRIMARIES},
				 {"min-replicas", 0, 1, O_REPLICAS},
				 {"wait", 0, 1, O_WAIT},
				 {NULL, 0, 0, 0}};

typedef struct check_args {
	sp_check_opts copts;
	int wait_s;
} check_args;

static int on_opt(void *ud, int id, const char *val)
{
	check_args *a = ud;

	switch (id) {
	case O_NODES:
		return sp_cli_int("--expect-nodes", val, 1, 10000,
				  &a->copts.expect_nodes);
	case O_PRIMARIES:
		return sp_cli_int("--expect-primaries", val, 1, 10000,
				  &a->copts.expect_primaries);
	case O_REPLICAS:
		return sp_cli_int("--min-replicas", val, 0, 100,
				  &a->copts.min_replicas);
	case O_WAIT:
		return sp_cli_int("--wait", val, 0, 86400, &a->wait_s);
	}
	return -1;
}

static const char help[] =
    "usage: slotpilot check HOST:PORT [--expect-nodes N] "
    "[--expect-primaries N]\n"
    "                       [--min-replicas N] [--wait SECONDS] [--json]\n"
    "Validates the cluster: all 16384 slots covered once, no open slot, "
    "owners\nagreed by every node, cluster_state:ok everywhere, no failing "
    "node, no\nconfig-epoch collision, every node reachable. --wait polls "
    "until healthy.\n"
    "Exit: 0 healthy, 1 findings, 2 usage, 3 entry node unreachable.\n";

static const char *sev_name(sp_severity s)
{
	return s == SP_SEV_ERR ? "error" : "warning";
}

static void print_json(const sp_cluster *c, const sp_findings *f, size_t nprim)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; i < f->n; i++) {
		const sp_finding *x = &f->items[i];
		json_array_append_new(
		    arr,
		    json_pack(
			"{s:s, s:s, s:o, s:o, s:s}", "code", x->code,
			"severity", sev_name(x->sev), "slot",
			x->slot >= 0 ? json_integer(x->slot) : json_null(),
			"node", x->node[0] ? json_string(x->node) : json_null(),
			"message", x->msg));
	}
	o = json_pack("{s:b, s:i, s:i, s:o}", "ok", f->n == 0, "nodes",
		      (int)c->nnodes, "primaries", (int)nprim, "findings", arr);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(o);
}

static void print_human(const sp_cluster *c, const sp_findings *f, size_t nprim)
{
	size_t i;

	printf("%s: %zu nodes, %zu primaries\n", c->nodes[0].addr, c->nnodes,
	       nprim);
	for (i = 0; i < f->n; i++)
		printf("[%s] %s: %s\n",
		       f->items[i].sev == SP_SEV_ERR ? "ERR" : "WARN",
		       f->items[i].code, f->items[i].msg);
	if (f->n == 0)
		printf("[OK] All 16384 slots covered once, no open slots, "
		       "owners agreed, cluster_state ok on every node.\n");
}

int sp_cmd_check(int argc, char **argv)
{
	check_args a = {.copts = sp_check_defaults(), .wait_s = 0};
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cluster c = {0};
	sp_findings f = {0};
	sp_cli cli = {0};
	sp_error err = {0};
	int npos = 0, port, rc = SP_EXIT_USAGE;
	int idx[SP_SLOTS];
	size_t nprim;

	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(help, stdout);
		rc = SP_EXIT_OK;
		goto out;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos))
		goto out;
	if (npos != 1) {
		sp_cli_errorf("check: give one HOST:PORT\n%s", help);
		goto out;
	}
	if (sp_parse_hostport(pos[0], host, &port, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	if (a.wait_s > 0) {
		sp_err w = sp_wait_healthy(host, port, &cli.conn, &a.copts,
					   a.wait_s * 1000, 500, &c, &err);
		if (w != SP_OK && w != SP_ERR_CLUSTER) {
			rc = sp_cli_fail(&cli, &err);
			goto out;
		}
		if (c.nnodes == 0) {
			rc = sp_cli_fail(&cli, &err);
			goto out;
		}
	} else if (sp_cluster_gather(host, port, &cli.conn, &c, &err) !=
		   SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	if (sp_check_cluster(&c, &a.copts, &f, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	nprim = sp_cluster_primaries(&c, idx, SP_SLOTS);
	if (cli.json)
		print_json(&c, &f, nprim);
	else
		print_human(&c, &f, nprim);
	rc = f.n == 0 ? SP_EXIT_OK : SP_EXIT_FAILED;
out:
	sp_findings_free(&f);
	sp_cluster_free(&c);
	free(pos);
	return rc;
}
