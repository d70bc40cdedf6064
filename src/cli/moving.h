/*
 * moving.h - the parts every slot-moving command shares (reshard, resume,
 * fix, rebalance, apply): engine options, signals, printing the moves,
 * the big-key filter, waiting for health, and the journaled run.
 */
#ifndef SP_MOVING_H
#define SP_MOVING_H

#include "cli/cli.h"
#include "cli/traffic_run.h"
#include "ops/reshard.h"

#define SP_DEFAULT_JOURNAL_DIR ".slotpilot/journal"

typedef struct sp_move_args {
	sp_migrate_opts mig;
	const char *journal_dir;
	int wait_s; /* how long to wait for a healthy cluster */
	int dry_run;
	long long max_key_bytes; /* 0: keys are not measured first */
	/* --traffic: load generated before, during and after the moves */
	int traffic;
	sp_traffic_opts tr;
	int tr_before_s, tr_after_s;
	const char *tr_series;
	sp_trun *run; /* while the load runs */
} sp_move_args;

/* local and exec, for --provisioner and --deprovision. */
extern const sp_choice sp_prov_kinds[];

/* --rate N(slots|keys|mb) into an sp_migrate_opts; 0, or -1 after
 * printing why. */
int sp_move_parse_rate(const char *val, void *mig);

#define SP_MO_(n, k, arg, l, h, type, f) SP_OPT_TYPED(n, k, arg, l, h, type, f)
/* The --traffic-* options also turn the load generator on. */
#define SP_MO_TR_(n, k, arg, l, h, type, m, f)                                 \
	{                                                                      \
		.name = (n), .has_arg = (arg), .kind = (k), .lo = (l),         \
		.hi = (h), .off = offsetof(type, m.f),                         \
		.also = 1 + offsetof(type, m.traffic)                          \
	}

/* Entries for a command's sp_optdef table; m names its sp_move_args. */
#define SP_MOVE_OPTDEFS(type, m)                                               \
	SP_MO_("dry-run", SP_OPT_FLAG, 0, 0, 0, type, m.dry_run),              \
	    SP_MO_("window", SP_OPT_INT, 1, 1, 1024, type, m.mig.window),      \
	    SP_MO_("parallel", SP_OPT_INT, 1, 1, 64, type, m.mig.parallel),    \
	    {.name = "rate",                                                   \
	     .has_arg = 1,                                                     \
	     .kind = SP_OPT_PARSE,                                             \
	     .off = offsetof(type, m.mig),                                     \
	     .parse = sp_move_parse_rate},                                     \
	    SP_MO_("batch-keys", SP_OPT_INT, 1, 1, 100000, type,               \
		   m.mig.batch_keys),                                          \
	    SP_MO_("journal-dir", SP_OPT_STRING, 1, 0, 0, type,                \
		   m.journal_dir),                                             \
	    SP_MO_("wait", SP_OPT_INT, 1, 0, 3600, type, m.wait_s),            \
	    SP_MO_("max-key-bytes", SP_OPT_BYTES, 1, 0, 0, type,               \
		   m.max_key_bytes),                                           \
	    SP_MO_TR_("traffic", SP_OPT_FLAG, 0, 0, 0, type, m, traffic),      \
	    SP_MO_TR_("traffic-rate", SP_OPT_POSITIVE, 1, 0, 1e7, type, m,     \
		      tr.rate),                                                \
	    SP_MO_TR_("traffic-connections", SP_OPT_INT, 1, 1, 256, type, m,   \
		      tr.connections),                                         \
	    SP_MO_TR_("traffic-keys", SP_OPT_LONG, 1, 1, 100000000, type, m,   \
		      tr.keys),                                                \
	    SP_MO_TR_("traffic-before", SP_OPT_INT, 1, 1, 3600, type, m,       \
		      tr_before_s),                                            \
	    SP_MO_TR_("traffic-after", SP_OPT_INT, 1, 1, 3600, type, m,        \
		      tr_after_s),                                             \
	    SP_MO_TR_("traffic-series", SP_OPT_STRING, 1, 0, 0, type, m,       \
		      tr_series),                                              \
	    SP_MO_("max-p99-ms", SP_OPT_POSITIVE, 1, 0, 60000, type,           \
		   m.mig.max_p99_ms),                                          \
	    SP_MO_("pipeline", SP_OPT_INT, 1, 1, 100000, type,                 \
		   m.mig.pipeline),                                            \
	    SP_MO_("max-latency-increase", SP_OPT_POSITIVE, 1, 0, 100000,      \
		   type, m.mig.max_increase_pct),                              \
	    SP_MO_("fast", SP_OPT_FLAG, 0, 0, 0, type, m.mig.fast)

/* The JSON summary of a run that had nothing to move, with why: true
 * ("nothing", "balanced", "applied"). */
void sp_print_nothing_json(const char *why);

/* Defaults: the engine's, .slotpilot/journal, 30 s. */
void sp_move_args_init(sp_move_args *a);

/*
 * With --traffic: starts the load on the cluster at host:port and lets it
 * run --traffic-before seconds (phase "before"), then opens the phase
 * "during". Does nothing without --traffic or when already running.
 * Returns 0, or the exit code after printing why. a->run is then owned
 * by a until sp_traffic_end frees it; cli must outlive it.
 */
int sp_traffic_begin(const sp_cli *cli, sp_move_args *a, const char *host,
		     int port);

/* Opens the phase "after", lets it run --traffic-after seconds, verifies
 * every written key, prints the phases side by side and frees a->run. */
void sp_traffic_end(sp_move_args *a);

/* The moves grouped by (source, target) with their ranges, as text or as
 * JSON lines ({"event":"move"} ..., then {"event":"dry_run"}). */
void sp_print_moves(const sp_opplan *p, FILE *f);
void sp_print_moves_json(const sp_opplan *p);

/* Waits until the cluster passes its checks (protocol rule 1); 0, or the
 * exit code after printing why. */
int sp_wait_ready(const sp_cli *cli, const char *host, int port, int wait_s);

/* Runs p journaled (a new journal when *jp is NULL, then the caller's
 * to sp_journal_close) with progress and a summary; returns the exit
 * code. */
int sp_run_moves(const sp_cli *cli, sp_move_args *a, const sp_opplan *p,
		 sp_journal **jp, const char *op, const char *entry);

/* Measures the planned slots' keys; slots with a key above limit are
 * reported and taken out of p (they stay where they are). */
sp_err sp_drop_big_keys(const sp_cli *cli, sp_opplan *p, long long limit,
			sp_error *err);

#endif
