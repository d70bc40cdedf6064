/*
 * moving.c - what every slot-moving command shares: engine options,
 * signals, printing moves, the big-key filter, waiting for a healthy
 * cluster, and the journaled run with progress and summary.
 */
#include "cli/moving.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/stop.h"
#include "cli/progress.h"
#include "cluster/converge.h"
#include "engine/bigkeys.h"
#include "ops/scale.h"

static volatile sig_atomic_t stop_flag;
static int trapped;

/* First SIGINT/SIGTERM: stop at the next safe point (a slot boundary, a
 * step between nodes). A second one kills as usual (resume or fix will
 * close what is open). */
static void on_signal(int sig)
{
	stop_flag = 1;
	signal(sig, SIG_DFL);
}

/* Once per process: installing it again would undo the second signal's
 * default action, and must not forget a signal already received. */
void sp_cli_trap_signals(void)
{
	if (trapped)
		return;
	trapped = 1;
	sp_stop_request = &stop_flag;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
}

/* The commands that change the cluster: each checks the stop flag at
 * its safe points and exits 5 there. */
static const char *const changing[] = {
    "reshard",	"rebalance", "apply",	    "fix",	"resume",
    "rollback", "add-node",  "remove-node", "failover", "expand",
    "shrink",	"create",    "backup",	    NULL};

static long long started_ms;

void sp_cli_mark_start(void)
{
	started_ms = sp_now_ms();
}

long long sp_cli_start_ms(void)
{
	return started_ms;
}

void sp_cli_trap_for(const char *cmd)
{
	size_t i;

	for (i = 0; changing[i] != NULL; i++)
		if (strcmp(cmd, changing[i]) == 0)
			sp_cli_trap_signals();
}

volatile sig_atomic_t *sp_cli_stop_flag(void)
{
	return &stop_flag;
}

const sp_choice sp_prov_kinds[] = {
    {"local", SP_PROV_LOCAL}, {"exec", SP_PROV_EXEC}, {NULL, 0}};

int sp_move_parse_rate(const char *val, void *mig)
{
	sp_migrate_opts *m = mig;
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

void sp_print_nothing_json(const char *why)
{
	sp_cli_json_print(json_pack("{s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:b}",
				    "event", "summary", "ok", 1, "slots", 0,
				    "keys", 0, "bytes", 0, "seconds", 0,
				    "retries", 0, why, 1));
}

void sp_move_args_init(sp_move_args *a)
{
	memset(a, 0, sizeof(*a));
	a->mig = sp_migrate_defaults();
	a->journal_dir = SP_DEFAULT_JOURNAL_DIR;
	a->wait_s = 30;
	a->tr = sp_traffic_defaults();
	a->tr_before_s = 3;
	a->tr_after_s = 3;
}

/* Sleeps s seconds unless a signal asks to stop. */
static void hold(int s)
{
	long long end = sp_now_ms() + s * 1000LL;

	while (sp_now_ms() < end && !*sp_cli_stop_flag())
		sp_sleep_ms(50);
}

int sp_traffic_begin(const sp_cli *cli, sp_move_args *a, const char *host,
		     int port)
{
	sp_trun_opts ro = {.series = a->tr_series};
	sp_error err = {0};
	int rc;

	if (!a->traffic || a->run != NULL)
		return SP_EXIT_OK;
	snprintf(a->tr.host, sizeof(a->tr.host), "%s", host);
	a->tr.port = port;
	a->tr.conn = &cli->conn;
	if (sp_traffic_validate(&a->tr, &err) != SP_OK) {
		sp_cli_errorf("--traffic: %s", err.msg);
		return SP_EXIT_USAGE;
	}
	if ((a->run = calloc(1, sizeof(*a->run))) == NULL)
		return SP_EXIT_INTERNAL;
	if ((rc = sp_trun_start(a->run, cli, &a->tr, &ro, "before")) !=
	    SP_EXIT_OK) {
		free(a->run);
		a->run = NULL;
		return rc;
	}
	if (!cli->json)
		fprintf(stderr,
			"traffic: %g ops/s on %d connections, %d s "
			"before the operation\n",
			a->tr.rate, a->tr.connections, a->tr_before_s);
	hold(a->tr_before_s);
	sp_trun_phase(a->run, "during");
	return SP_EXIT_OK;
}

void sp_traffic_end(sp_move_args *a)
{
	sp_traffic_verify v;

	if (a->run == NULL)
		return;
	sp_trun_phase(a->run, "after");
	hold(a->tr_after_s);
	sp_trun_finish(a->run, 1, &v);
	free(a->run);
	a->run = NULL;
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
	(void)ud;
	sp_cli_json_print(json_pack("{s:s, s:s, s:s, s:i, s:s}", "event",
				    "move", "from", p->nodes[a].addr, "to",
				    p->nodes[b].addr, "slots", n, "ranges",
				    ranges));
}

/* The moves grouped by (source, target) with their ranges. */
void sp_print_moves(const sp_opplan *p, FILE *f)
{
	for_each_pair(p, pair_text, f);
}

/* --dry-run --json: one {"event":"move"} per (source, target) and a
 * closing {"event":"dry_run"}. */
void sp_print_moves_json(const sp_opplan *p)
{
	for_each_pair(p, pair_json, NULL);
	sp_cli_json_print(json_pack("{s:s, s:I}", "event", "dry_run", "slots",
				    (json_int_t)p->nmoves));
}

/* Runs p (journaled) with progress; returns the exit code. */
/* A move that lost a node (exit 3) says what to run next, whichever step
 * noticed it. */
static sp_error *resume_hint(sp_error *err, sp_err rc)
{
	size_t n = strlen(err->msg);

	if ((rc == SP_ERR_IO || rc == SP_ERR_TIMEOUT) &&
	    strstr(err->msg, "resume") == NULL && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; the journal keeps the unfinished slots: once the "
			 "node answers again, or after its failover, run "
			 "slotpilot resume");
	return err;
}

int sp_run_moves(const sp_cli *cli, sp_move_args *a, const sp_opplan *p,
		 sp_journal **jp, const char *op, const char *entry)
{
	sp_progress prog = {.cli = cli, .nodes = p->nodes, .nnodes = p->nnodes};
	sp_run_opts ro = {.mig = a->mig,
			  .journal_dir = a->journal_dir,
			  .op = op,
			  .entry = entry,
			  .on_progress = sp_progress_update,
			  .ud = &prog};
	sp_migrate_stats st = {0};
	sp_error err = {0};
	long long t0;
	sp_err rc;
	int code;

	if (a->mig.fast &&
	    (a->mig.max_p99_ms > 0 || a->mig.max_increase_pct > 0)) {
		sp_seterr(&err, SP_ERR_USAGE,
			  "--fast turns the latency guard off: it cannot go "
			  "with --max-p99-ms or --max-latency-increase");
		return sp_cli_fail(cli, &err);
	}
	ro.mig.conn = &cli->conn;
	ro.mig.stop = sp_cli_stop_flag();
	if (a->wait_s > 0) /* --wait also bounds a node's silence */
		ro.mig.give_up_ms = a->wait_s * 1000;
	sp_cli_trap_signals();
	if (p->nnodes > 0 &&
	    (code = sp_traffic_begin(cli, a, p->nodes[0].host,
				     p->nodes[0].port)) != SP_EXIT_OK)
		return code;
	t0 = sp_now_ms();
	prog.before_s = (double)(t0 - sp_cli_start_ms()) / 1000.0;
	rc = sp_run_plan(p, jp, &ro, &st, &err);
	prog.journal_s = (double)(sp_now_ms() - t0) / 1000.0 - st.seconds;
	sp_progress_summary(&prog, &st, rc);
	sp_traffic_end(a);
	if (rc != SP_OK)
		return sp_cli_fail(cli, resume_hint(&err, rc));
	return SP_EXIT_OK;
}

/* Waits until the cluster passes its checks (protocol rule 1). */
int sp_wait_ready(const sp_cli *cli, const char *host, int port, int wait_s)
{
	sp_error err = {0};

	if (sp_wait_ready_to_move(host, port, &cli->conn, wait_s * 1000,
				  &err) == SP_OK)
		return SP_EXIT_OK;
	return sp_cli_fail(cli, &err);
}

/*
 * Measures the keys of the planned slots; slots holding a key above the
 * limit are reported and taken out of the plan: they stay where they are.
 */
sp_err sp_drop_big_keys(const sp_cli *cli, sp_opplan *p, long long limit,
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
			sp_cli_json_print(json_pack(
			    "{s:s, s:i, s:s, s:I}", "event", "big_key", "slot",
			    b->slot, "node", p->nodes[b->node].addr, "bytes",
			    (json_int_t)b->bytes));
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
