/*
 * cmd_reshard.c - `slotpilot reshard` and `slotpilot resume`: move slots
 * through the engine, journaled, with progress and a summary.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/moving.h"
#include "cli/progress.h"
#include "cluster/gather.h"
#include "engine/bigkeys.h"
#include "ops/recover.h"
#include "ops/reshard.h"
#include "ops/restore.h"
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
    "                 [--max-p99-ms MS | --max-latency-increase PCT | "
    "--fast]\n"
    "                 [--journal-dir .slotpilot/journal]\n"
    "                 [--wait 30] [--max-key-bytes N] [--yes] [--json]\n"
    "ID: a node id, a unique id prefix (6+ chars) or HOST:PORT of a primary.\n"
    "Waits (--wait seconds) until the cluster is healthy, then moves the\n"
    "slots, journaled; SIGINT/SIGTERM stop at the next slot boundary and\n"
    "'slotpilot resume' finishes the operation. A node that gives no answer\n"
    "for --wait seconds ends the move (exit 3): run resume once it answers\n"
    "or after its failover. With --max-key-bytes, every\n"
    "key of the planned slots is measured first; slots holding a bigger key\n"
    "are reported and stay where they are.\n"
    "Latency guard (every command that moves slots): the nodes' p99 is\n"
    "measured before the move and every MIGRATE is paced to keep it under\n"
    "a budget: --max-p99-ms, the baseline plus --max-latency-increase\n"
    "percent, or by default twice the baseline and at least 1 ms above it.\n"
    "A budget not above the baseline is refused (exit 2). --fast: no guard,\n"
    "full speed (maintenance windows).\n";

static int reshard(const sp_cli *cli, move_args *a, const char *entry,
		   const char *host, int port)
{
	sp_cluster c = {0};
	sp_opplan p = {0};
	sp_journal *j = NULL;
	sp_error err = {0};
	int rc;

	if (sp_reshard_gather(host, port, &cli->conn, &a->req,
			      a->m.wait_s * 1000, &c, &err) != SP_OK ||
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
	SP_CMD(n, syn, sum, .help = h, .opts = opts, SP_ONE_NODE(n),           \
	       .args_size = sizeof(move_args), .init = init_args, .run = fn)

const sp_cmd sp_def_reshard = MOVE_CMD(
    "reshard", "reshard HOST:PORT ...",
    "move slots between primaries (journaled)", reshard_help, run_reshard);

static const char resume_help[] =
    "usage: slotpilot resume HOST:PORT [--journal-dir .slotpilot/journal]\n"
    "                 [--wait 30] [--window N] [--parallel N] [--rate R]\n"
    "                 [--yes] [--json]\n"
    "Finishes the newest unfinished operation in the journal directory,\n"
    "reconciled with the live cluster (also after SIGKILL or a failover).\n"
    "A target that failed over is replaced by its promoted replica. Then\n"
    "the keys whose copies the move kept in <journal>.keys (its target\n"
    "had not passed them to a replica) are put back where the slot's owner\n"
    "lacks them, without REPLACE.\n";

static void print_resume(const sp_journal_rec *rec, const sp_opplan *p,
			 size_t npromoted)
{
	printf("Resuming %s %s: %zu slots left\n", rec->op, rec->id, p->nmoves);
	if (npromoted > 0)
		printf("%zu of them now move from a promoted replica: without "
		       "REPLACE, a key on both sides keeps the target's copy\n",
		       npromoted);
	sp_print_moves(p, stdout);
}

/*
 * Puts back the keys whose copies the journal at jpath left in its keys
 * file (ops/restore.h), once its moves are done; says what it did.
 */
static int restore_copies(const sp_cli *cli, const char *jpath,
			  const char *host, int port)
{
	char path[1200];
	sp_restore_stats st;
	sp_error err = {0};
	sp_err rc;

	snprintf(path, sizeof(path), "%s.keys", jpath);
	rc = sp_restore_kept(path, host, port, &cli->conn, &st, &err);
	if (rc == SP_ERR_NOTFOUND)
		return SP_EXIT_OK;
	if (rc != SP_OK) {
		sp_error_prefix(&err, "putting back the keys kept in %s", path);
		return sp_cli_fail(cli, &err);
	}
	if (cli->json)
		sp_cli_json_print(json_pack(
		    "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "event",
		    "restored", "copies", (json_int_t)st.copies, "keys",
		    (json_int_t)st.keys, "restored", (json_int_t)st.restored,
		    "present", (json_int_t)st.present, "had",
		    (json_int_t)st.had, "expired", (json_int_t)st.expired,
		    "torn", st.torn));
	else
		printf(
		    "Kept copies of %lld keys (%lld copies) a target had not "
		    "passed to a replica: %lld put back, %lld held by their "
		    "owner, %lld on it before the failover, %lld expired%s.\n",
		    st.keys, st.copies, st.restored, st.present, st.had,
		    st.expired,
		    st.torn ? " (the last record was torn by a crash)" : "");
	return SP_EXIT_OK;
}

/* Nothing to resume: the newest journal's keys may still wait. */
static int nothing_to_resume(const sp_cli *cli, const char *dir,
			     const char *host, int port)
{
	char path[1200];
	sp_error err = {0};

	if (sp_journal_find_last(dir, path, sizeof(path), &err) == SP_OK &&
	    strlen(path) + 6 < sizeof(path)) {
		char keys[1210];
		snprintf(keys, sizeof(keys), "%s.keys", path);
		if (access(keys, F_OK) == 0)
			return restore_copies(cli, path, host, port);
	}
	if (cli->json)
		sp_print_nothing_json("nothing");
	else
		printf("Nothing to resume in %s.\n", dir);
	return SP_EXIT_OK;
}

static int resume(sp_cli_ctx *x, void *args)
{
	const sp_cli *cli = &x->cli;
	const char *entry = x->pos[0], *host = x->host;
	move_args *a = args;
	int port = x->port;
	char path[1200];
	sp_journal_rec *rec = calloc(1, sizeof(*rec));
	unsigned char *promoted = NULL;
	size_t npromoted;
	sp_journal *j = NULL;
	sp_opplan p = {0};
	sp_error err = {0};
	int rc;

	if (rec == NULL)
		return SP_EXIT_INTERNAL;
	rc = sp_resume_find(a->m.journal_dir, path, sizeof(path), rec, &err);
	if (rc == SP_ERR_NOTFOUND) {
		free(rec);
		return nothing_to_resume(cli, a->m.journal_dir, host, port);
	}
	if (rc != SP_OK ||
	    sp_resume_plan_live(rec, host, port, &cli->conn, a->m.wait_s * 1000,
				&p, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	if ((promoted = calloc(SP_SLOTS, 1)) == NULL) {
		rc = SP_EXIT_INTERNAL;
		goto out;
	}
	if ((npromoted = sp_resume_promoted(rec, &p, promoted)) > 0)
		a->m.mig.keep_target = promoted;
	if (!cli->json)
		print_resume(rec, &p, npromoted);
	if ((rc = sp_cli_ask(cli, "Finish this operation?")) != SP_EXIT_OK)
		goto out;
	if (sp_journal_reopen(path, &j, &err) != SP_OK) {
		rc = sp_cli_fail(cli, &err);
		goto out;
	}
	rc = sp_run_moves(cli, &a->m, &p, &j, rec->op, entry);
	if (rc == SP_EXIT_OK)
		rc = restore_copies(cli, path, host, port);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_journal_rec_free(rec);
	free(rec);
	free(promoted);
	return rc;
}

const sp_cmd sp_def_resume =
    MOVE_CMD("resume", "resume HOST:PORT", "finish an interrupted operation",
	     resume_help, resume);

#define FIX_MAX 64

typedef struct fix_args {
	move_args mv;
	const char *unreachable[FIX_MAX];
	const char *owners[FIX_MAX];
	sp_fix_opts fo;
} fix_args;

enum { O_WITH_UNREACHABLE = 1, O_OWNER };

static const sp_optdef fix_opts[] = {
    {.name = "with-unreachable", .has_arg = 1, .id = O_WITH_UNREACHABLE},
    {.name = "owner", .has_arg = 1, .id = O_OWNER},
    SP_MOVE_OPTDEFS(fix_args, mv.m),
    SP_OPT_END};

/* --with-unreachable and --owner, repeatable; kept in argv's storage. */
static int fix_opt(void *ud, int id, const char *val)
{
	fix_args *a = ud;
	const char **list = id == O_OWNER ? a->owners : a->unreachable;
	size_t *n = id == O_OWNER ? &a->fo.nowners : &a->fo.nwith_unreachable;

	if (*n >= FIX_MAX) {
		sp_cli_errorf("--%s: at most %d",
			      id == O_OWNER ? "owner" : "with-unreachable",
			      FIX_MAX);
		return -1;
	}
	if (id == O_OWNER) {
		const char *eq = strchr(val, '=');
		char *end;
		long slot = eq ? strtol(val, &end, 10) : -1;
		if (eq == NULL || end != eq || eq == val || slot < 0 ||
		    slot >= SP_SLOTS || eq[1] == '\0') {
			sp_cli_errorf(
			    "--owner: \"%s\" is not SLOT=NODE (a slot "
			    "0-16383 and a primary's id or "
			    "HOST:PORT)",
			    val);
			return -1;
		}
	}
	list[(*n)++] = val;
	return 0;
}

static void fix_init(void *args)
{
	fix_args *a = args;

	init_args(&a->mv);
	a->fo.with_unreachable = a->unreachable;
	a->fo.owners = a->owners;
}

static const char fix_help[] =
    "usage: slotpilot fix HOST:PORT [--with-unreachable HOST:PORT|ID]...\n"
    "                 [--owner SLOT=NODE]... [--dry-run] [--wait 30]\n"
    "                 [--yes] [--json]\n"
    "Repairs a live cluster without a journal: open slots left by anyone are\n"
    "finished when their keys are already split toward one target, else\n"
    "closed where they are (stray keys moved back, never dropped); slots\n"
    "no node covers get an owner. Prints what it will do to each slot, then\n"
    "asks. Ends with the cluster healthy.\n"
    "A primary that does not answer still owns its slots: fix refuses (exit\n"
    "4, naming it) unless --with-unreachable names it as gone for good; its\n"
    "slots are then given to other primaries without its keys. A slot that\n"
    "two primaries claim is shown with each one's key count and config\n"
    "epoch, and settled only with --owner SLOT=NODE (the other claimants'\n"
    "keys move into NODE first, without REPLACE).\n";

/* Prints the steps, consecutive slots with the same step as one range. */
static void print_steps(const sp_cli *cli, const sp_fix_step *st, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && st[j].slot == st[j - 1].slot + 1 &&
				strcmp(st[j].what, st[i].what) == 0;
		     j++)
			;
		if (cli->json)
			sp_cli_json_print(
			    json_pack("{s:s, s:i, s:i, s:s}", "event",
				      "fix_step", "first", st[i].slot, "last",
				      st[j - 1].slot, "what", st[i].what));
		else if (j - i == 1)
			printf("  slot %d: %s\n", st[i].slot, st[i].what);
		else
			printf("  slots %d-%d: %s\n", st[i].slot,
			       st[j - 1].slot, st[i].what);
	}
}

static void print_fixed(const sp_cli *cli, const sp_fix_report *rep)
{
	if (cli->json)
		sp_cli_json_print(json_pack(
		    "{s:b, s:i, s:i, s:i, s:i}", "ok", 1, "finished",
		    rep->finished, "reverted", rep->reverted, "assigned",
		    rep->assigned, "keys_moved", rep->keys_moved));
	else
		printf("[OK] Cluster repaired: %d open slots finished, %d "
		       "closed, %d uncovered slots assigned, %d keys moved "
		       "home.\n",
		       rep->finished, rep->reverted, rep->assigned,
		       rep->keys_moved);
}

static int fix(sp_cli_ctx *x, void *args)
{
	const sp_cli *cli = &x->cli;
	fix_args *a = args;
	sp_log log = sp_cli_log(cli);
	sp_fix_report rep = {0};
	sp_fix_plan *pl = NULL;
	const sp_fix_step *st;
	sp_error err = {0};
	size_t n, i;
	int rc, ask;

	if (sp_fix_prepare(x->host, x->port, &cli->conn, &a->fo, &pl, &err) !=
	    SP_OK)
		return sp_cli_fail(cli, &err);
	st = sp_fix_steps(pl, &n);
	if (!cli->json)
		printf(n ? "Fix will change %zu slots:\n"
			 : "Nothing to fix (%zu slots).\n",
		       n);
	print_steps(cli, st, n);
	for (i = 0, ask = n > 0; i < n; i++)
		ask &= st[i].kind != SP_FIX_CHOOSE; /* sp_fix_run refuses */
	rc = a->mv.m.dry_run ? SP_EXIT_OK
	     : ask	     ? sp_cli_ask(cli, "Repair this cluster?")
			     : SP_EXIT_OK;
	if (rc == SP_EXIT_OK && !a->mv.m.dry_run) {
		a->mv.m.mig.conn = &cli->conn;
		a->mv.m.mig.stop = sp_cli_stop_flag();
		a->mv.m.mig.give_up_ms = a->mv.m.wait_s * 1000;
		rc = sp_fix_run(pl, &a->mv.m.mig, &log, &rep, &err) == SP_OK
			 ? SP_EXIT_OK
			 : sp_cli_fail(cli, &err);
	}
	sp_fix_plan_free(pl);
	if (rc == SP_EXIT_OK && !a->mv.m.dry_run)
		print_fixed(cli, &rep);
	return rc;
}

const sp_cmd sp_def_fix = SP_CMD(
    "fix", "fix HOST:PORT", "close open slots, cover uncovered slots",
    .help = fix_help, .opts = fix_opts, .hook = fix_opt, SP_ONE_NODE("fix"),
    .args_size = sizeof(fix_args), .init = fix_init, .run = fix);
