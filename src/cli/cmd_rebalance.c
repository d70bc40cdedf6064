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

enum { O_WEIGHT = 1, O_THRESHOLD };

#define MAX_WEIGHTS 256

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

static const sp_choice by_kinds[] = {{"slots", SP_BY_SLOTS},
				     {"keys", SP_BY_KEYS},
				     {"memory", SP_BY_MEMORY},
				     {NULL, 0}};

static const sp_optdef opts[] = {
    {.name = "weight", .has_arg = 1, .id = O_WEIGHT},
    {.name = "threshold", .has_arg = 1, .id = O_THRESHOLD},
    SP_OPT_F("use-empty-masters", rb_args, req.use_empty_masters),
    SP_OPT_CHOICES("by", by_kinds, rb_args, req.by),
    {.name = "out",
     .shortname = 'o',
     .has_arg = 1,
     .kind = SP_OPT_STRING,
     .off = offsetof(rb_args, out)},
    SP_OPT_I("sample", 1, 1000, rb_args, sample),
    SP_OPT_I("approve-over", 0, SP_SLOTS, rb_args, approve_over),
    SP_OPT_I("limit", 1, SP_SLOTS, rb_args, limit),
    SP_OPT_S("entry", rb_args, entry),
    SP_MOVE_OPTDEFS(rb_args, m),
    SP_OPT_END};

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
	}
	return -1;
}

static void init_args(void *args)
{
	rb_args *a = args;

	a->req.threshold_pct = 2; /* redis-cli's default */
	a->req.weights = a->weights;
	a->sample = 8;
	a->approve_over = 1000; /* the guides: manual approval above 1000 */
	sp_move_args_init(&a->m);
}

static void free_args(void *args)
{
	rb_args *a = args;
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
	int rc;

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
			sp_print_nothing_json("balanced");
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
	if ((rc = sp_cli_ask(cli, "Move these slots?")) != SP_EXIT_OK)
		goto out;
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
		sp_cli_json_print(json_pack(
		    "{s:s, s:I, s:I, s:I, s:o}", "plan", a->out, "slots",
		    (json_int_t)p.nmoves, "keys", (json_int_t)keys, "bytes",
		    (json_int_t)bytes, "seconds",
		    sp_json_fixed(sp_plan_estimate_s(keys, p.nmoves), 1)));
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
	int port, rc = SP_EXIT_OK;

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
			sp_print_nothing_json("applied");
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
	if ((rc = sp_cli_ask(cli, "Apply this plan?")) != SP_EXIT_OK)
		goto out;
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

static int run_rebalance(sp_cli_ctx *x, void *args)
{
	return rebalance(&x->cli, args, x->pos[0], x->host, x->port);
}

static int run_plan(sp_cli_ctx *x, void *args)
{
	rb_args *a = args;

	if (a->out == NULL) {
		sp_cli_errorf("plan rebalance: give --out FILE");
		return SP_EXIT_USAGE;
	}
	return plan(&x->cli, a, x->pos[0], x->host, x->port);
}

static int run_apply(sp_cli_ctx *x, void *args)
{
	return apply(&x->cli, args, x->pos[0]);
}

/* rebalance, plan rebalance and apply: the same options, one positional. */
#define RB_CMD(n, syn, sum, err, ent, fn)                                      \
	SP_CMD(n, syn, sum, .help = rebalance_help, .opts = opts,              \
	       .hook = on_opt, SP_POS(1, 1, err, 0), .entry = ent,             \
	       .args_size = sizeof(rb_args), .init = init_args, .run = fn,     \
	       .fini = free_args)

const sp_cmd sp_def_rebalance = RB_CMD(
    "rebalance", "rebalance HOST:PORT", "balance by slots, keys or memory",
    "rebalance: give one HOST:PORT", 1, run_rebalance);

const sp_cmd sp_def_apply =
    RB_CMD("apply", "apply FILE", "apply a plan (refuses a stale one)",
	   "apply: give one plan FILE", 0, run_apply);

/* `plan rebalance ...` runs as `rebalance ...` with --out required. */
static const sp_cmd plan_rebalance =
    RB_CMD("rebalance", "", "", "rebalance: give one HOST:PORT", 1, run_plan);

static const sp_cmd *const plan_subs[] = {&plan_rebalance, NULL};

const sp_cmd sp_def_plan = SP_CMD(
    "plan", "plan rebalance HOST:PORT --out FILE  ",
    "the same, as a reviewable plan", .help = rebalance_help,
    .pos_err = "plan: the only plan is 'plan rebalance HOST:PORT --out FILE'",
    .subs = plan_subs);
