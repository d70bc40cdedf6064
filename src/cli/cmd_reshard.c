/*
 * cmd_reshard.c - `slotpilot reshard` and `slotpilot resume`: move slots
 * through the engine, journaled, with progress and a summary.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../engine/bigkeys.h"
#include "../model/converge.h"
#include "../ops/recover.h"
#include "../ops/reshard.h"
#include "cli.h"
#include "progress.h"

#define DEFAULT_JOURNAL_DIR ".slotpilot/journal"

static volatile sig_atomic_t stop_flag;

/* First SIGINT/SIGTERM: stop at the next slot boundary. A second one
 * kills as usual (resume or fix will close what is open). */
static void on_signal(int sig)
{
	stop_flag = 1;
	signal(sig, SIG_DFL);
}

void sp_cli_trap_signals(void)
{
	stop_flag = 0;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
}

volatile sig_atomic_t *sp_cli_stop_flag(void) { return &stop_flag; }

enum {
	O_FROM = 1, O_TO, O_SLOTS, O_RANGES, O_DRY, O_WINDOW, O_PARALLEL,
	O_RATE, O_BATCH, O_JDIR, O_WAIT, O_MAXKEY
};

static const sp_optdef opts[] = {
    {"from", 0, 1, O_FROM},        {"to", 0, 1, O_TO},
    {"slots", 0, 1, O_SLOTS},      {"slot-ranges", 0, 1, O_RANGES},
    {"dry-run", 0, 0, O_DRY},      {"window", 0, 1, O_WINDOW},
    {"parallel", 0, 1, O_PARALLEL}, {"rate", 0, 1, O_RATE},
    {"batch-keys", 0, 1, O_BATCH}, {"journal-dir", 0, 1, O_JDIR},
    {"wait", 0, 1, O_WAIT},        {"max-key-bytes", 0, 1, O_MAXKEY},
    {NULL, 0, 0, 0}};

typedef struct move_args {
	sp_reshard_req req;
	sp_migrate_opts mig;
	const char *journal_dir;
	int dry_run;
	int wait_s;
	long long max_key_bytes; /* 0: keys are not measured first */
} move_args;

static int parse_rate(const char *val, sp_migrate_opts *m)
{
	char *end;
	double v = strtod(val, &end);

	if (end != val && v > 0) {
		if (strncasecmp(end, "slots", 5) == 0)
			m->rate_unit = SP_RATE_SLOTS;
		else if (strncasecmp(end, "keys", 4) == 0)
			m->rate_unit = SP_RATE_KEYS;
		else if (strncasecmp(end, "mb", 2) == 0)
			m->rate_unit = SP_RATE_BYTES, v *= 1e6;
		m->rate = v;
		if (m->rate_unit != SP_RATE_NONE)
			return 0;
	}
	sp_cli_errorf("--rate: \"%s\" is not a positive rate such as 100slots, "
		      "5000keys or 10mb (per second)",
		      val);
	return -1;
}

/* "N", "Nkb", "Nmb" or "Ngb" (powers of 1000) into bytes. */
static int parse_bytes(const char *val, long long *out)
{
	char *end;
	double v = strtod(val, &end), mul = 1;

	if (strcasecmp(end, "kb") == 0)
		mul = 1e3;
	else if (strcasecmp(end, "mb") == 0)
		mul = 1e6;
	else if (strcasecmp(end, "gb") == 0)
		mul = 1e9;
	else if (*end != '\0')
		v = -1;
	if (end == val || v < 1 || v * mul > 1e15) {
		sp_cli_errorf("--max-key-bytes: \"%s\" is not a size such as "
			      "1000000, 500kb or 10mb",
			      val);
		return -1;
	}
	*out = (long long)(v * mul);
	return 0;
}

static int on_opt(void *ud, int id, const char *val)
{
	move_args *a = ud;

	switch (id) {
	case O_FROM: a->req.from = val; return 0;
	case O_TO: a->req.to = val; return 0;
	case O_SLOTS:
		return sp_cli_int("--slots", val, 1, SP_SLOTS, &a->req.nslots);
	case O_RANGES: a->req.ranges = val; return 0;
	case O_DRY: a->dry_run = 1; return 0;
	case O_WINDOW:
		return sp_cli_int("--window", val, 1, 1024, &a->mig.window);
	case O_PARALLEL:
		return sp_cli_int("--parallel", val, 1, 64, &a->mig.parallel);
	case O_BATCH:
		return sp_cli_int("--batch-keys", val, 1, 100000,
				  &a->mig.batch_keys);
	case O_RATE: return parse_rate(val, &a->mig);
	case O_JDIR: a->journal_dir = val; return 0;
	case O_WAIT: return sp_cli_int("--wait", val, 0, 3600, &a->wait_s);
	case O_MAXKEY: return parse_bytes(val, &a->max_key_bytes);
	}
	return -1;
}

static void init_args(move_args *a)
{
	memset(a, 0, sizeof(*a));
	a->req.nslots = -1;
	a->mig = sp_migrate_defaults();
	a->journal_dir = DEFAULT_JOURNAL_DIR;
	a->wait_s = 30;
}

typedef void (*pair_fn)(const sp_opplan *p, size_t a, size_t b, int n,
			const char *ranges, void *ud);

/* Calls fn once per (source, target) with its slot count and ranges. */
static void for_each_pair(const sp_opplan *p, pair_fn fn, void *ud)
{
	int *mark = calloc(SP_SLOTS, sizeof(int));
	char *ranges = malloc(65536);
	size_t a, b, i;

	for (a = 0; mark && ranges && a < p->nnodes; a++)
		for (b = 0; b < p->nnodes; b++) {
			int n = 0;
			memset(mark, 0, SP_SLOTS * sizeof(int));
			for (i = 0; i < p->nmoves; i++)
				if (p->moves[i].src == (int)a &&
				    p->moves[i].dst == (int)b)
					mark[p->moves[i].slot] = 1, n++;
			if (n == 0)
				continue;
			sp_format_ranges_of(mark, 1, ranges, 65536);
			fn(p, a, b, n, ranges, ud);
		}
	free(mark);
	free(ranges);
}

static void pair_text(const sp_opplan *p, size_t a, size_t b, int n,
		      const char *ranges, void *ud)
{
	fprintf(ud, "  %d slots %s -> %s: %s\n", n, p->nodes[a].addr,
		p->nodes[b].addr, ranges);
}

static void pair_json(const sp_opplan *p, size_t a, size_t b, int n,
		      const char *ranges, void *ud)
{
	printf("{\"event\":\"move\",\"from\":\"%s\",\"to\":\"%s\","
	       "\"slots\":%d,\"ranges\":\"%s\"}\n",
	       p->nodes[a].addr, p->nodes[b].addr, n, ranges);
}

/* The moves grouped by (source, target) with their ranges. */
static void print_moves(const sp_opplan *p, FILE *f)
{
	for_each_pair(p, pair_text, f);
}

/* --dry-run --json: one {"event":"move"} per (source, target) and a
 * closing {"event":"dry_run"}. */
static void print_moves_json(const sp_opplan *p)
{
	for_each_pair(p, pair_json, NULL);
	printf("{\"event\":\"dry_run\",\"slots\":%zu}\n", p->nmoves);
}

/* Runs p (journaled) with progress; returns the exit code. */
static int run_moves(const sp_cli *cli, move_args *a, const sp_opplan *p,
		     sp_journal **jp, const char *op, const char *entry)
{
	sp_progress prog = {.cli = cli};
	sp_run_opts ro = {.mig = a->mig,
			  .journal_dir = a->journal_dir,
			  .op = op,
			  .entry = entry,
			  .on_progress = sp_progress_update,
			  .ud = &prog};
	sp_migrate_stats st = {0};
	sp_error err = {0};
	sp_err rc;

	ro.mig.conn = &cli->conn;
	ro.mig.stop = sp_cli_stop_flag();
	sp_cli_trap_signals();
	rc = sp_run_plan(p, jp, &ro, &st, &err);
	sp_progress_summary(&prog, &st, rc);
	if (rc != SP_OK)
		return sp_cli_fail(cli, &err);
	return SP_EXIT_OK;
}

/* Waits until the cluster passes its checks (protocol rule 1). */
static int wait_ready(const sp_cli *cli, const char *host, int port,
		      int wait_s)
{
	sp_check_opts copts = sp_check_defaults();
	sp_error err = {0};

	if (sp_wait_healthy(host, port, &cli->conn, &copts, wait_s * 1000, 250,
			    NULL, &err) == SP_OK)
		return SP_EXIT_OK;
	sp_error_prefix(&err, "the cluster is not ready to move slots "
			      "(run slotpilot fix or resume first)");
	return sp_cli_fail(cli, &err);
}

/*
 * Measures the keys of the planned slots; slots holding a key above the
 * limit are reported and taken out of the plan: they stay where they are.
 */
static sp_err drop_big_keys(const sp_cli *cli, sp_opplan *p, long long limit,
			    sp_error *err)
{
	unsigned char skip[SP_SLOTS] = {0};
	sp_big_keys big;
	size_t i, kept = 0;
	sp_err rc;

	if ((rc = sp_find_big_keys(p->nodes, p->moves, p->nmoves, limit,
				   &cli->conn, &big, err)) != SP_OK)
		return rc;
	for (i = 0; i < big.n; i++) {
		const sp_big_key *b = &big.items[i];
		skip[b->slot] = 1;
		if (cli->json)
			printf("{\"event\":\"big_key\",\"slot\":%d,"
			       "\"node\":\"%s\",\"bytes\":%lld}\n",
			       b->slot, p->nodes[b->node].addr, b->bytes);
		else
			fprintf(stderr,
				"slotpilot: key \"%.*s\"%s in slot %d on %s "
				"uses %lld bytes, above --max-key-bytes %lld: "
				"slot %d stays where it is\n",
				(int)strlen(b->key), b->key,
				b->keylen > 127 ? "..." : "", b->slot,
				p->nodes[b->node].addr, b->bytes, limit,
				b->slot);
	}
	for (i = 0; i < p->nmoves; i++)
		if (!skip[p->moves[i].slot])
			p->moves[kept++] = p->moves[i];
	p->nmoves = kept;
	sp_big_keys_free(&big);
	return SP_OK;
}

static const char reshard_help[] =
    "usage: slotpilot reshard HOST:PORT --from ID[,ID...]|all --to ID\n"
    "                 (--slots N | --slot-ranges a-b,c,...) [--dry-run]\n"
    "                 [--window 128] [--parallel 8] [--rate N(slots|keys|mb)]\n"
    "                 [--batch-keys 1000] [--journal-dir .slotpilot/journal]\n"
    "                 [--wait 30] [--max-key-bytes N] [--yes] [--json]\n"
    "ID: a node id, a unique id prefix (6+ chars) or HOST:PORT of a primary.\n"
    "Waits (--wait seconds) until the cluster is healthy, then moves the\n"
    "slots, journaled; SIGINT/SIGTERM stop at the next slot boundary and\n"
    "'slotpilot resume' finishes the operation. With --max-key-bytes, every\n"
    "key of the planned slots is measured first; slots holding a bigger key\n"
    "are reported and stay where they are.\n";

static int reshard(const sp_cli *cli, move_args *a, const char *entry,
		   const char *host, int port)
{
	sp_cluster c = {0};
	sp_opplan p = {0};
	sp_journal *j = NULL;
	sp_error err = {0};
	int rc, ok;

	if (sp_cluster_gather(host, port, &cli->conn, &c, &err) != SP_OK ||
	    sp_reshard_plan(&c, &a->req, &p, &err) != SP_OK ||
	    (a->max_key_bytes > 0 &&
	     drop_big_keys(cli, &p, a->max_key_bytes, &err) != SP_OK)) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (p.nmoves == 0) {
		sp_migrate_stats st = {0};
		sp_progress prog = {.cli = cli};
		if (!cli->json)
			printf("Nothing to move: the target already owns those "
			       "slots.\n");
		sp_progress_summary(&prog, &st, SP_OK);
		rc = SP_EXIT_OK;
		goto out;
	}
	if (!cli->json) {
		printf("%s %zu slots:\n", a->dry_run ? "Would move" : "Moving",
		       p.nmoves);
		print_moves(&p, stdout);
	} else if (a->dry_run) {
		print_moves_json(&p);
	}
	if (a->dry_run) {
		rc = SP_EXIT_OK;
		goto out;
	}
	if ((ok = sp_cli_confirm(cli, "Move these slots?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if ((rc = wait_ready(cli, host, port, a->wait_s)) != SP_EXIT_OK)
		goto out;
	rc = run_moves(cli, a, &p, &j, "reshard", entry);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_cluster_free(&c);
	return rc;
}

/* Shared front of reshard and resume: options and the entry node. */
static int parse_common(int argc, char **argv, sp_cli *cli, move_args *a,
			char **pos, char *host, int *port, const char *help)
{
	sp_error err = {0};
	int npos = 0;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(help, stdout);
		return -2;
	}
	if (sp_cli_parse(cli, argc, argv, opts, on_opt, a, pos, &npos))
		return -1;
	if (npos != 1) {
		sp_cli_errorf("%s: give one HOST:PORT\n%s", argv[0], help);
		return -1;
	}
	if (sp_parse_hostport(pos[0], host, port, &err) != SP_OK) {
		sp_cli_errorf("%s", err.msg);
		return -1;
	}
	return 0;
}

int sp_cmd_reshard(int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	move_args a;
	int port, rc;

	init_args(&a);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	rc = parse_common(argc, argv, &cli, &a, pos, host, &port, reshard_help);
	if (rc == 0 && (a.req.from == NULL || a.req.to == NULL ||
			(a.req.nslots < 0) == (a.req.ranges == NULL))) {
		sp_cli_errorf("reshard: give --from, --to, and one of --slots "
			      "or --slot-ranges");
		rc = -1;
	}
	if (rc == 0)
		rc = reshard(&cli, &a, pos[0], host, port);
	else
		rc = rc == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
	free(pos);
	return rc;
}

static const char resume_help[] =
    "usage: slotpilot resume HOST:PORT [--journal-dir .slotpilot/journal]\n"
    "                 [--wait 30] [--window N] [--parallel N] [--rate R]\n"
    "                 [--yes] [--json]\n"
    "Finishes the newest unfinished operation in the journal directory,\n"
    "reconciled with the live cluster (also after SIGKILL or a failover).\n";

/* Plans the rest of rec on the live cluster, retrying while it settles
 * (a failover in progress, a slot briefly claimed twice). */
static sp_err plan_rest(const sp_cli *cli, const sp_journal_rec *rec,
			const char *host, int port, int wait_s, sp_opplan *p,
			sp_error *err)
{
	long long deadline = sp_now_ms() + (long long)wait_s * 1000;
	sp_cluster c = {0};
	int closed = 0;
	sp_err rc;

	for (;;) {
		rc = sp_cluster_gather(host, port, &cli->conn, &c, err);
		if (rc == SP_OK)
			rc = sp_resume_prepare(&c, &cli->conn, &closed, err);
		if (rc == SP_OK && closed > 0) {
			/* Let the closed slots learn their owner by gossip. */
			sp_cluster_free(&c);
			rc = sp_wait_reachable_ok(host, port, &cli->conn,
						  wait_s * 1000, err);
			if (rc == SP_OK)
				rc = sp_cluster_gather(host, port, &cli->conn,
						       &c, err);
		}
		if (rc == SP_OK)
			rc = sp_resume_plan(rec, &c, p, err);
		sp_cluster_free(&c);
		if (rc == SP_OK || sp_now_ms() > deadline)
			return rc;
		sp_sleep_ms(500);
	}
}

static int resume(const sp_cli *cli, move_args *a, const char *entry,
		  const char *host, int port)
{
	char path[1200];
	sp_journal_rec *rec = calloc(1, sizeof(*rec));
	sp_journal *j = NULL;
	sp_opplan p = {0};
	sp_error err = {0};
	int rc, ok;

	if (rec == NULL)
		return SP_EXIT_INTERNAL;
	if (sp_journal_find_open(a->journal_dir, path, sizeof(path), &err) ==
	    SP_ERR_NOTFOUND) {
		if (cli->json)
			printf("{\"event\":\"summary\",\"ok\":true,\"slots\":0,"
			       "\"keys\":0,\"bytes\":0,\"seconds\":0,"
			       "\"retries\":0,\"nothing\":true}\n");
		else
			printf("Nothing to resume in %s.\n", a->journal_dir);
		free(rec);
		return SP_EXIT_OK;
	}
	if (sp_journal_load(path, rec, &err) != SP_OK ||
	    plan_rest(cli, rec, host, port, a->wait_s, &p, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->json) {
		printf("Resuming %s %s: %zu slots left\n", rec->op, rec->id,
		       p.nmoves);
		print_moves(&p, stdout);
	}
	if ((ok = sp_cli_confirm(cli, "Finish this operation?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if (sp_journal_reopen(path, &j, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	rc = run_moves(cli, a, &p, &j, rec->op, entry);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_journal_rec_free(rec);
	free(rec);
	return rc;
}

int sp_cmd_resume(int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	move_args a;
	int port, rc;

	init_args(&a);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	rc = parse_common(argc, argv, &cli, &a, pos, host, &port, resume_help);
	if (rc == 0)
		rc = resume(&cli, &a, pos[0], host, port);
	else
		rc = rc == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
	free(pos);
	return rc;
}

static const char fix_help[] =
    "usage: slotpilot fix HOST:PORT [--yes] [--json]\n"
    "Repairs a live cluster without a journal: open slots left by anyone are\n"
    "finished when their keys are already split toward one target, else\n"
    "closed where they are (stray keys moved back, never dropped); slots\n"
    "no node covers get an owner. Ends with the cluster healthy.\n";

static int fix(const sp_cli *cli, move_args *a, const char *host, int port)
{
	sp_log log = sp_cli_log(cli);
	sp_fix_report rep;
	sp_error err = {0};
	int ok;

	if ((ok = sp_cli_confirm(cli, "Repair this cluster?")) <= 0)
		return ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
	a->mig.conn = &cli->conn;
	if (sp_fix(host, port, &cli->conn, &a->mig, &log, &rep, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	if (cli->json)
		printf("{\"ok\":true,\"finished\":%d,\"reverted\":%d,"
		       "\"assigned\":%d,\"keys_moved\":%d}\n",
		       rep.finished, rep.reverted, rep.assigned, rep.keys_moved);
	else
		printf("[OK] Cluster repaired: %d open slots finished, %d "
		       "closed, %d uncovered slots assigned, %d keys moved "
		       "home.\n",
		       rep.finished, rep.reverted, rep.assigned, rep.keys_moved);
	return SP_EXIT_OK;
}

int sp_cmd_fix(int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	move_args a;
	int port, rc;

	init_args(&a);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	rc = parse_common(argc, argv, &cli, &a, pos, host, &port, fix_help);
	if (rc == 0)
		rc = fix(&cli, &a, host, port);
	else
		rc = rc == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
	free(pos);
	return rc;
}
