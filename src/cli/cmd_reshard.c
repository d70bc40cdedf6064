/*
 * cmd_reshard.c - `slotpilot reshard` and `slotpilot resume`: move slots
 * through the engine, journaled, with progress and a summary.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/moving.h"
#include "cli/progress.h"
#include "cluster/gather.h"
#include "engine/bigkeys.h"
#include "ops/recover.h"
#include "ops/reshard.h"

enum { O_FROM = 1, O_TO, O_SLOTS, O_RANGES };

static const sp_optdef opts[] = {
    {"from", 0, 1, O_FROM},   {"to", 0, 1, O_TO},
    {"slots", 0, 1, O_SLOTS}, {"slot-ranges", 0, 1, O_RANGES},
    SP_MOVE_OPTDEFS,	      {NULL, 0, 0, 0}};

typedef struct move_args {
	sp_reshard_req req;
	sp_move_args m;
} move_args;

static int on_opt(void *ud, int id, const char *val)
{
	move_args *a = ud;

	switch (id) {
	case O_FROM:
		a->req.from = val;
		return 0;
	case O_TO:
		a->req.to = val;
		return 0;
	case O_SLOTS:
		return sp_cli_int("--slots", val, 1, SP_SLOTS, &a->req.nslots);
	case O_RANGES:
		a->req.ranges = val;
		return 0;
	}
	return sp_move_opt(&a->m, id, val);
}

static void init_args(move_args *a)
{
	memset(a, 0, sizeof(*a));
	a->req.nslots = -1;
	sp_move_args_init(&a->m);
}

static const char reshard_help[] =
    "usage: slotpilot reshard HOST:PORT --from ID[,ID...]|all --to ID\n"
    "                 (--slots N | --slot-ranges a-b,c,...) [--dry-run]\n"
    "                 [--window 128] [--parallel 8] [--rate N(slots|keys|mb)]\n"
    "                 [--batch-keys 1000] [--pipeline 2]\n"
    "                 [--journal-dir .slotpilot/journal]\n"
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
	    (a->m.max_key_bytes > 0 &&
	     sp_drop_big_keys(cli, &p, a->m.max_key_bytes, &err) != SP_OK)) {
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
		printf("%s %zu slots:\n",
		       a->m.dry_run ? "Would move" : "Moving", p.nmoves);
		sp_print_moves(&p, stdout);
	} else if (a->m.dry_run) {
		sp_print_moves_json(&p);
	}
	if (a->m.dry_run) {
		rc = SP_EXIT_OK;
		goto out;
	}
	if ((ok = sp_cli_confirm(cli, "Move these slots?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if ((rc = sp_wait_ready(cli, host, port, a->m.wait_s)) != SP_EXIT_OK)
		goto out;
	rc = sp_run_moves(cli, &a->m, &p, &j, "reshard", entry);
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

typedef int (*entry_fn)(const sp_cli *cli, move_args *a, const char *entry,
			const char *host, int port);

/* The shape of reshard, resume and fix: options, one HOST:PORT, run. */
static int run_entry(int argc, char **argv, const char *help, entry_fn fn)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char host[SP_HOST_MAX];
	sp_cli cli = {0};
	move_args a;
	int port, rc;

	init_args(&a);
	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	rc = parse_common(argc, argv, &cli, &a, pos, host, &port, help);
	if (rc == 0 && fn == reshard &&
	    (a.req.from == NULL || a.req.to == NULL ||
	     (a.req.nslots < 0) == (a.req.ranges == NULL))) {
		sp_cli_errorf("reshard: give --from, --to, and one of --slots "
			      "or --slot-ranges");
		rc = -1;
	}
	if (rc == 0)
		rc = fn(&cli, &a, pos[0], host, port);
	else
		rc = rc == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
	free(pos);
	return rc;
}

int sp_cmd_reshard(int argc, char **argv)
{
	return run_entry(argc, argv, reshard_help, reshard);
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
	if (sp_journal_find_open(a->m.journal_dir, path, sizeof(path), &err) ==
	    SP_ERR_NOTFOUND) {
		if (cli->json)
			printf("{\"event\":\"summary\",\"ok\":true,\"slots\":0,"
			       "\"keys\":0,\"bytes\":0,\"seconds\":0,"
			       "\"retries\":0,\"nothing\":true}\n");
		else
			printf("Nothing to resume in %s.\n", a->m.journal_dir);
		free(rec);
		return SP_EXIT_OK;
	}
	if (sp_journal_load(path, rec, &err) != SP_OK ||
	    plan_rest(cli, rec, host, port, a->m.wait_s, &p, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->json) {
		printf("Resuming %s %s: %zu slots left\n", rec->op, rec->id,
		       p.nmoves);
		sp_print_moves(&p, stdout);
	}
	if ((ok = sp_cli_confirm(cli, "Finish this operation?")) <= 0) {
		rc = ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
		goto out;
	}
	if (sp_journal_reopen(path, &j, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	rc = sp_run_moves(cli, &a->m, &p, &j, rec->op, entry);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_journal_rec_free(rec);
	free(rec);
	return rc;
}

int sp_cmd_resume(int argc, char **argv)
{
	return run_entry(argc, argv, resume_help, resume);
}

static const char fix_help[] =
    "usage: slotpilot fix HOST:PORT [--yes] [--json]\n"
    "Repairs a live cluster without a journal: open slots left by anyone are\n"
    "finished when their keys are already split toward one target, else\n"
    "closed where they are (stray keys moved back, never dropped); slots\n"
    "no node covers get an owner. Ends with the cluster healthy.\n";

static int fix(const sp_cli *cli, move_args *a, const char *entry,
	       const char *host, int port)
{
	sp_log log = sp_cli_log(cli);
	sp_fix_report rep;
	sp_error err = {0};
	int ok;

	if ((ok = sp_cli_confirm(cli, "Repair this cluster?")) <= 0)
		return ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
	a->m.mig.conn = &cli->conn;
	if (sp_fix(host, port, &cli->conn, &a->m.mig, &log, &rep, &err) !=
	    SP_OK)
		return sp_cli_fail(cli, &err);
	if (cli->json)
		printf("{\"ok\":true,\"finished\":%d,\"reverted\":%d,"
		       "\"assigned\":%d,\"keys_moved\":%d}\n",
		       rep.finished, rep.reverted, rep.assigned,
		       rep.keys_moved);
	else
		printf("[OK] Cluster repaired: %d open slots finished, %d "
		       "closed, %d uncovered slots assigned, %d keys moved "
		       "home.\n",
		       rep.finished, rep.reverted, rep.assigned,
		       rep.keys_moved);
	return SP_EXIT_OK;
}

int sp_cmd_fix(int argc, char **argv)
{
	return run_entry(argc, argv, fix_help, fix);
}
