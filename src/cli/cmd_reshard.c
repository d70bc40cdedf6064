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
#include "ops/resume.h"

typedef struct move_args {
	sp_reshard_req req;
	sp_move_args m;
} move_args;

static const sp_optdef opts[] = {
    SP_OPT_S("from", move_args, req.from),
    SP_OPT_S("to", move_args, req.to),
    SP_OPT_I("slots", 1, SP_SLOTS, move_args, req.nslots),
    SP_OPT_S("slot-ranges", move_args, req.ranges),
    SP_MOVE_OPTDEFS(move_args, m),
    SP_OPT_END};

static void init_args(void *args)
{
	move_args *a = args;

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
	int rc;

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
	if ((rc = sp_cli_ask(cli, "Move these slots?")) != SP_EXIT_OK)
		goto out;
	if ((rc = sp_wait_ready(cli, host, port, a->m.wait_s)) != SP_EXIT_OK)
		goto out;
	rc = sp_run_moves(cli, &a->m, &p, &j, "reshard", entry);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_cluster_free(&c);
	return rc;
}

static int run_reshard(sp_cli_ctx *x, void *args)
{
	move_args *a = args;

	if (a->req.from == NULL || a->req.to == NULL ||
	    (a->req.nslots < 0) == (a->req.ranges == NULL)) {
		sp_cli_errorf("reshard: give --from, --to, and one of --slots "
			      "or --slot-ranges");
		return SP_EXIT_USAGE;
	}
	return reshard(&x->cli, a, x->pos[0], x->host, x->port);
}

/* reshard, resume and fix: the same options, one HOST:PORT. */
#define MOVE_CMD(n, syn, sum, h, fn)                                           \
	{                                                                      \
		.name = n, .synopsis = syn, .summary = sum, .help = h,         \
		.opts = opts, .min_pos = 1, .max_pos = 1, .entry = 1,          \
		.pos_err = n ": give one HOST:PORT", .pos_help = 1,            \
		.args_size = sizeof(move_args), .init = init_args, .run = fn   \
	}

const sp_cmd sp_def_reshard = MOVE_CMD(
    "reshard", "reshard HOST:PORT ...",
    "move slots between primaries (journaled)", reshard_help, run_reshard);

static const char resume_help[] =
    "usage: slotpilot resume HOST:PORT [--journal-dir .slotpilot/journal]\n"
    "                 [--wait 30] [--window N] [--parallel N] [--rate R]\n"
    "                 [--yes] [--json]\n"
    "Finishes the newest unfinished operation in the journal directory,\n"
    "reconciled with the live cluster (also after SIGKILL or a failover).\n";

static int resume(sp_cli_ctx *x, void *args)
{
	const sp_cli *cli = &x->cli;
	const char *entry = x->pos[0], *host = x->host;
	move_args *a = args;
	int port = x->port;
	char path[1200];
	sp_journal_rec *rec = calloc(1, sizeof(*rec));
	sp_journal *j = NULL;
	sp_opplan p = {0};
	sp_error err = {0};
	int rc;

	if (rec == NULL)
		return SP_EXIT_INTERNAL;
	rc = sp_resume_find(a->m.journal_dir, path, sizeof(path), rec, &err);
	if (rc == SP_ERR_NOTFOUND) {
		if (cli->json)
			sp_print_nothing_json("nothing");
		else
			printf("Nothing to resume in %s.\n", a->m.journal_dir);
		free(rec);
		return SP_EXIT_OK;
	}
	if (rc != SP_OK ||
	    sp_resume_plan_live(rec, host, port, &cli->conn, a->m.wait_s * 1000,
				&p, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->json) {
		printf("Resuming %s %s: %zu slots left\n", rec->op, rec->id,
		       p.nmoves);
		sp_print_moves(&p, stdout);
	}
	if ((rc = sp_cli_ask(cli, "Finish this operation?")) != SP_EXIT_OK)
		goto out;
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

const sp_cmd sp_def_resume =
    MOVE_CMD("resume", "resume HOST:PORT", "finish an interrupted operation",
	     resume_help, resume);

static const char fix_help[] =
    "usage: slotpilot fix HOST:PORT [--yes] [--json]\n"
    "Repairs a live cluster without a journal: open slots left by anyone are\n"
    "finished when their keys are already split toward one target, else\n"
    "closed where they are (stray keys moved back, never dropped); slots\n"
    "no node covers get an owner. Ends with the cluster healthy.\n";

static int fix(sp_cli_ctx *x, void *args)
{
	const sp_cli *cli = &x->cli;
	move_args *a = args;
	sp_log log = sp_cli_log(cli);
	sp_fix_report rep;
	sp_error err = {0};
	int rc;

	if ((rc = sp_cli_ask(cli, "Repair this cluster?")) != SP_EXIT_OK)
		return rc;
	a->m.mig.conn = &cli->conn;
	a->m.mig.stop = sp_cli_stop_flag();
	if (sp_fix(x->host, x->port, &cli->conn, &a->m.mig, &log, &rep, &err) !=
	    SP_OK)
		return sp_cli_fail(cli, &err);
	if (cli->json)
		sp_cli_json_print(json_pack(
		    "{s:b, s:i, s:i, s:i, s:i}", "ok", 1, "finished",
		    rep.finished, "reverted", rep.reverted, "assigned",
		    rep.assigned, "keys_moved", rep.keys_moved));
	else
		printf("[OK] Cluster repaired: %d open slots finished, %d "
		       "closed, %d uncovered slots assigned, %d keys moved "
		       "home.\n",
		       rep.finished, rep.reverted, rep.assigned,
		       rep.keys_moved);
	return SP_EXIT_OK;
}

const sp_cmd sp_def_fix =
    MOVE_CMD("fix", "fix HOST:PORT", "close open slots, cover uncovered slots",
	     fix_help, fix);
