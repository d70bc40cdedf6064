/*
 * cmd_rebalance.c - `slotpilot rebalance`, `slotpilot plan rebalance` and
 * `slotpilot apply`: balance by slots, keys or memory, as an immediate
 * run or as a reviewable plan file applied later.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/moving.h"
#include "cluster/gather.h"
#include "ops/rebalance.h"

enum {
	O_WEIGHT = 1,
	O_THRESHOLD,
	O_EMPTY,
	O_BY,
	O_OUT,
	O_SAMPLE,
	O_APPROVE,
	O_LIMIT,
	O_ENTRY
};

#define MAX_WEIGHTS 256

static const sp_optdef opts[] = {{"weight", 0, 1, O_WEIGHT},
				 {"threshold", 0, 1, O_THRESHOLD},
				 {"use-empty-masters", 0, 0, O_EMPTY},
				 {"by", 0, 1, O_BY},
				 {"out", 'o', 1, O_OUT},
				 {"sample", 0, 1, O_SAMPLE},
				 {"approve-over", 0, 1, O_APPROVE},
				 {"limit", 0, 1, O_LIMIT},
				 {"entry", 0, 1, O_ENTRY},
				 SP_MOVE_OPTDEFS,
				 {NULL, 0, 0, 0}};

typedef struct rb_args {
	sp_rebalance_req req;
	sp_weight_arg weights[MAX_WEIGHTS];
	sp_move_args m;
	const char *out;
	const char *entry;
	int sample;
	int approve_over;
	int limit;
} rb_args;

static int parse_weight(rb_args *a, const char *val)
{
	const char *eq = strrchr(val, '=');
	char *end;
	double w;

	if (eq == NULL || eq == val || a->req.nweights >= MAX_WEIGHTS)
		goto bad;
	w = strtod(eq + 1, &end);
	if (end == eq + 1 || *end != '\0' || !isfinite(w))
		goto bad;
	if (w < 0) {
		sp_cli_errorf("--weight %s: a weight cannot be negative", val);
		return -1;
	}
	/* The node name is the text before '='; keep it in argv's storage. */
	a->weights[a->req.nweights].node = strndup(val, (size_t)(eq - val));
	a->weights[a->req.nweights++].weight = w;
	return 0;
bad:
	sp_cli_errorf("--weight: \"%s\" is not NODE=WEIGHT (for example "
		      "127.0.0.1:7000=2 or a1b2c3=0)",
		      val);
	return -1;
}

static int on_opt(void *ud, int id, const char *val)
{
	rb_args *a = ud;
	int pct;

	switch (id) {
	case O_WEIGHT:
		return parse_weight(a, val);
	case O_THRESHOLD:
		if (sp_cli_int("--threshold", val, 0, 100, &pct) != 0)
			return -1;
		a->req.threshold_pct = pct;
		return 0;
	case O_EMPTY:
		a->req.use_empty_masters = 1;
		return 0;
	case O_BY:
		if (strcmp(val, "slots") == 0)
			a->req.by = SP_BY_SLOTS;
		else if (strcmp(val, "keys") == 0)
			a->req.by = SP_BY_KEYS;
		else if (strcmp(val, "memory") == 0)
			a->req.by = SP_BY_MEMORY;
		else {
			sp_cli_errorf("--by: \"%s\" is not slots, keys or "
				      "memory",
				      val);
			return -1;
		}
		return 0;
	case O_OUT:
		a->out = val;
		return 0;
	case O_ENTRY:
		a->entry = val;
		return 0;
	case O_SAMPLE:
		return sp_cli_int("--sample", val, 1, 1000, &a->sample);
	case O_APPROVE:
		return sp_cli_int("--approve-over", val, 0, SP_SLOTS,
				  &a->approve_over);
	case O_LIMIT:
		return sp_cli_int("--limit", val, 1, SP_SLOTS, &a->limit);
	}
	return sp_move_opt(&a->m, id, val);
}

static void init_args(rb_args *a)
{
	memset(a, 0, sizeof(*a));
	a->req.threshold_pct = 2; /* redis-cli's default */
	a->req.weights = a->weights;
	a->sample = 8;
	a->approve_over = 1000; /* the guides: manual approval above 1000 */
	sp_move_args_init(&a->m);
}

static void free_args(rb_args *a)
{
	size_t i;

	for (i = 0; i < a->req.nweights; i++)
		free((char *)a->weights[i].node);
}

static const char *by_name(sp_balance_by by)
{
	return by == SP_BY_KEYS	    ? "keys"
	       : by == SP_BY_MEMORY ? "memory"
				    : "slots";
}

/* Per node: slots before -> after, and the planner's load and target. */
static void print_distribution(const sp_opplan *p, const sp_plan *d,
			       sp_balance_by by)
{
	size_t i, m;
	int s;

	printf("  %-22s %14s %22s\n", "primary", "slots",
	       by == SP_BY_SLOTS  ? ""
	       : by == SP_BY_KEYS ? "keys (target)"
				  : "bytes (target)");
	for (i = 0; i < p->nnodes; i++) {
		int before = 0, after;
		for (s = 0; s < SP_SLOTS; s++)
			before += p->owners[s] == (int)i;
		after = before;
		for (m = 0; m < p->nmoves; m++)
			after += (p->moves[m].dst == (int)i) -
				 (p->moves[m].src == (int)i);
		printf("  %-22s %6d -> %5d", p->nodes[i].addr, before, after);
		if (by != SP_BY_SLOTS && d->load != NULL)
			printf(" %12.0f (%.0f)", d->load[i], d->target[i]);
		putchar('\n');
	}
}

/* More than --approve-over slots need an explicit --yes, even on a TTY. */
static int approved(const sp_cli *cli, const rb_args *a, size_t n)
{
	if ((int)n <= a->approve_over || cli->yes)
		return 1;
	sp_cli_errorf("this moves %zu slots, more than --approve-over %d: "
		      "review it and add --yes to approve",
		      n, a->approve_over);
	return 0;
}

/* Gathers, measures what the balance needs, and plans. */
static int make_plan(const sp_cli *cli, rb_args *a, const char *host, int port,
		     int measure, sp_opplan *p, sp_plan *d, sp_slot_stats *st)
{
	sp_cluster c = {0};
	sp_opplan tmp = {0};
	sp_error err = {0};
	int rc = SP_EXIT_OK;

	if (sp_cluster_gather(host, port, &cli->conn, &c, &err) != SP_OK ||
	    ((measure || a->req.by != SP_BY_SLOTS) &&
	     (sp_opplan_from_cluster(&c, &tmp, &err) != SP_OK ||
	      sp_measure_slots(&tmp, &cli->conn,
			       measure || a->req.by == SP_BY_MEMORY, a->sample,
			       st, &err) != SP_OK)) ||
	    sp_rebalance_plan(&c, &a->req, st, p, d, &err) != SP_OK)
		rc = sp_cli_fail(cli, &err);
	sp_opplan_free(&tmp);
	sp_cluster_free(&c);
	return rc;
}

static int rebalance(const sp_cli *cli, rb_args *a, const char *entry,
		     const char *host, int port)
{
	sp_slot_stats *st = calloc(1, sizeof(*st));
	sp_journal *j = NULL;
	sp_opplan p = {0};
	sp_plan d = {0};
	sp_error err = {0};
	int rc, ok;

	if (st == NULL)
		return SP_EXIT_INTERNAL;
	if ((rc = make_plan(cli, a, host, port, 0, &p, &d, st)) != SP_EXIT_OK)
		goto out;
	if (a->m.max_key_bytes > 0 &&
	    sp_drop_big_keys(cli, &p, a->m.max_key_bytes, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (p.nmoves == 0) {
		if (cli->json)
			printf("{\"event\":\"summary\",\"ok\":true,\"slots\":0,"
			       "\"keys\":0,\"bytes\":0,\"seconds\":0,"
			       "\"retries\":0,\"balanced\":true}\n");
		else
			printf(
			    "Balanced within %.0f%% by %s: nothing to move.\n",
			    a->req.threshold_pct, by_name(a->req.by));
		goto out;
	}
	if (cli->json && a->m.dry_run) {
		sp_print_moves_json(&p);
		goto out;
	}
	if (!cli->json) {
		printf("%s %zu slots, balancing by %s:\n",
		       a->m.dry_run ? "Would move" : "Moving", p.nmoves,
		       by_name(a->req.by));
		print_distribution(&p, &d, a->req.by);
		sp_print_moves(&p, stdout);
	}
	if (a->m.dry_run)
		goto out;
	if (!approved(cli, a, p.nmoves)) {
		rc = SP_EXIT_USAGE;
		goto out;
	}
	if ((ok = sp_cli_confirm(cli, "Move these slots?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if ((rc = sp_wait_ready(cli, host, port, a->m.wait_s)) == SP_EXIT_OK)
		rc = sp_run_moves(cli, &a->m, &p, &j, "rebalance", entry);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_plan_free(&d);
	free(st);
	return rc;
}

static int plan(const sp_cli *cli, rb_args *a, const char *entry,
		const char *host, int port)
{
	sp_slot_stats *st = calloc(1, sizeof(*st));
	sp_opplan p = {0};
	sp_plan d = {0};
	sp_error err = {0};
	long long keys = 0, bytes = 0;
	size_t i;
	int rc;

	if (st == NULL)
		return SP_EXIT_INTERNAL;
	if ((rc = make_plan(cli, a, host, port, 1, &p, &d, st)) != SP_EXIT_OK)
		goto out;
	if (sp_plan_write(a->out, entry, by_name(a->req.by), &p, &d, st,
			  &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	for (i = 0; i < p.nmoves; i++)
		keys += st->keys[p.moves[i].slot],
		    bytes += st->bytes[p.moves[i].slot];
	if (cli->json) {
		printf("{\"plan\":\"%s\",\"slots\":%zu,\"keys\":%lld,"
		       "\"bytes\":%lld,\"seconds\":%.1f}\n",
		       a->out, p.nmoves, keys, bytes,
		       sp_plan_estimate_s(keys, p.nmoves));
		goto out;
	}
	printf("Plan written to %s: %zu slots, about %lld keys and %.1f MB, "
	       "about %.1f s.\n",
	       a->out, p.nmoves, keys, (double)bytes / 1e6,
	       sp_plan_estimate_s(keys, p.nmoves));
	print_distribution(&p, &d, a->req.by);
	sp_print_moves(&p, stdout);
	if ((int)p.nmoves > a->approve_over)
		printf("It moves more than %d slots: apply needs --yes.\n",
		       a->approve_over);
out:
	sp_opplan_free(&p);
	sp_plan_free(&d);
	free(st);
	return rc;
}

static int apply(const sp_cli *cli, rb_args *a, const char *path)
{
	char host[SP_HOST_MAX];
	sp_plan_file f = {0};
	sp_cluster c = {0};
	sp_journal *j = NULL;
	sp_error err = {0};
	int port, rc = SP_EXIT_OK, ok;

	if (sp_plan_read(path, &f, &err) != SP_OK ||
	    sp_parse_hostport(a->entry ? a->entry : f.entry, host, &port,
			      &err) != SP_OK ||
	    sp_cluster_gather(host, port, &cli->conn, &c, &err) != SP_OK ||
	    sp_plan_against(&f, &c, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (f.plan.nmoves == 0) {
		if (!cli->json)
			printf("The plan is fully applied: nothing to move.\n");
		else
			printf("{\"event\":\"summary\",\"ok\":true,\"slots\":0,"
			       "\"keys\":0,\"bytes\":0,\"seconds\":0,"
			       "\"retries\":0,\"applied\":true}\n");
		goto out;
	}
	if (a->limit > 0 && (size_t)a->limit < f.plan.nmoves)
		f.plan.nmoves = (size_t)a->limit; /* a canary: the first N */
	if (!cli->json) {
		printf("Applying %zu slots of %s:\n", f.plan.nmoves, path);
		sp_print_moves(&f.plan, stdout);
	}
	if (!approved(cli, a, f.plan.nmoves)) {
		rc = SP_EXIT_USAGE;
		goto out;
	}
	if ((ok = sp_cli_confirm(cli, "Apply this plan?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if ((rc = sp_wait_ready(cli, host, port, a->m.wait_s)) == SP_EXIT_OK)
		rc = sp_run_moves(cli, &a->m, &f.plan, &j, "apply",
				  a->entry ? a->entry : f.entry);
out:
	sp_journal_close(j);
	sp_cluster_free(&c);
	sp_plan_file_free(&f);
	return rc;
}

static const char rebalance_help[] =
    "usage: slotpilot rebalance HOST:PORT [--by slots|keys|memory]\n"
    "                 [--weight NODE=W]... [--threshold 2] "
    "[--use-empty-masters]\n"
    "                 [--sample 8] [--approve-over 1000] [--dry-run]\n"
    "                 [engine options as for reshard] [--yes] [--json]\n"
    "       slotpilot plan rebalance HOST:PORT --out FILE [same options]\n"
    "       slotpilot apply FILE [--entry HOST:PORT] [--limit N]\n"
    "                 [--approve-over 1000] [engine options] [--yes] "
    "[--json]\n"
    "--by keys counts keys per slot (CLUSTER COUNTKEYSINSLOT); --by memory\n"
    "samples MEMORY USAGE of up to --sample keys per slot. A weight of 0\n"
    "drains a node over all the others. --threshold: nothing moves while\n"
    "every node is within PCT percent of its share (redis-cli's rule). apply\n"
    "refuses a plan the cluster has drifted from and continues a plan\n"
    "applied in part (--limit N applies only the next N slots).\n";

/* argv: [name, positionals...]; one positional expected. */
static int run_cmd(int argc, char **argv, int which)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	sp_error err = {0};
	rb_args a;
	int npos = 0, port = 0, rc = SP_EXIT_USAGE;

	init_args(&a);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(rebalance_help, stdout);
		rc = SP_EXIT_OK;
		goto out;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos))
		goto out;
	if (npos != 1) {
		sp_cli_errorf("%s: give one %s", argv[0],
			      which == 2 ? "plan FILE" : "HOST:PORT");
		goto out;
	}
	if (which == 1 && a.out == NULL) {
		sp_cli_errorf("plan rebalance: give --out FILE");
		goto out;
	}
	if (which != 2 &&
	    sp_parse_hostport(pos[0], host, &port, &err) != SP_OK) {
		rc = sp_cli_fail(&cli, &err);
		goto out;
	}
	rc = which == 0	  ? rebalance(&cli, &a, pos[0], host, port)
	     : which == 1 ? plan(&cli, &a, pos[0], host, port)
			  : apply(&cli, &a, pos[0]);
out:
	free_args(&a);
	free(pos);
	return rc;
}

int sp_cmd_rebalance(int argc, char **argv)
{
	return run_cmd(argc, argv, 0);
}

int sp_cmd_apply(int argc, char **argv)
{
	return run_cmd(argc, argv, 2);
}

int sp_cmd_plan(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "rebalance") != 0) {
		if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
			fputs(rebalance_help, stdout);
			return SP_EXIT_OK;
		}
		sp_cli_errorf("plan: the only plan is 'plan rebalance "
			      "HOST:PORT --out FILE'");
		return SP_EXIT_USAGE;
	}
	return run_cmd(argc - 1, argv + 1, 1);
}
