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

/* Option ids of the engine options (above any command's own ids). */
enum {
	MO_DRY = 100,
	MO_WINDOW,
	MO_PARALLEL,
	MO_RATE,
	MO_BATCH,
	MO_JDIR,
	MO_WAIT,
	MO_MAXKEY,
	MO_TRAFFIC,
	MO_TR_RATE,
	MO_TR_CONNS,
	MO_TR_KEYS,
	MO_TR_BEFORE,
	MO_TR_AFTER,
	MO_TR_SERIES,
	MO_MAXP99,
	MO_MAXINC,
	MO_PIPELINE
};

/* Entries for a command's sp_optdef table. */
#define SP_MOVE_OPTDEFS                                                        \
	{"dry-run", 0, 0, MO_DRY}, {"window", 0, 1, MO_WINDOW},                \
	    {"parallel", 0, 1, MO_PARALLEL}, {"rate", 0, 1, MO_RATE},          \
	    {"batch-keys", 0, 1, MO_BATCH}, {"journal-dir", 0, 1, MO_JDIR},    \
	    {"wait", 0, 1, MO_WAIT}, {"max-key-bytes", 0, 1, MO_MAXKEY},       \
	    {"traffic", 0, 0, MO_TRAFFIC}, {"traffic-rate", 0, 1, MO_TR_RATE}, \
	    {"traffic-connections", 0, 1, MO_TR_CONNS},                        \
	    {"traffic-keys", 0, 1, MO_TR_KEYS},                                \
	    {"traffic-before", 0, 1, MO_TR_BEFORE},                            \
	    {"traffic-after", 0, 1, MO_TR_AFTER},                              \
	    {"traffic-series", 0, 1, MO_TR_SERIES},                            \
	    {"max-p99-ms", 0, 1, MO_MAXP99}, {"pipeline", 0, 1, MO_PIPELINE},  \
	{                                                                      \
		"max-latency-increase", 0, 1, MO_MAXINC                        \
	}

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

/* Defaults: the engine's, .slotpilot/journal, 30 s. */
void sp_move_args_init(sp_move_args *a);

/* Applies one MO_* option; 0, or -1 after printing why. */
int sp_move_opt(sp_move_args *a, int id, const char *val);

/*
 * With --traffic: starts the load on the cluster at host:port and lets it
 * run --traffic-before seconds (phase "before"), then opens the phase
 * "during". Does nothing without --traffic or when already running.
 * Returns 0, or the exit code after printing why.
 */
int sp_traffic_begin(const sp_cli *cli, sp_move_args *a, const char *host,
		     int port);

/* Opens the phase "after", lets it run --traffic-after seconds, verifies
 * every written key and prints the phases side by side. */
void sp_traffic_end(sp_move_args *a);

/* The moves grouped by (source, target) with their ranges, as text or as
 * JSON lines ({"event":"move"} ..., then {"event":"dry_run"}). */
void sp_print_moves(const sp_opplan *p, FILE *f);
void sp_print_moves_json(const sp_opplan *p);

/* Waits until the cluster passes its checks (protocol rule 1); 0, or the
 * exit code after printing why. */
int sp_wait_ready(const sp_cli *cli, const char *host, int port, int wait_s);

/* Runs p journaled (a new journal when *jp is NULL) with progress and a
 * summary; returns the exit code. */
int sp_run_moves(const sp_cli *cli, sp_move_args *a, const sp_opplan *p,
		 sp_journal **jp, const char *op, const char *entry);

/* Measures the planned slots' keys; slots with a key above limit are
 * reported and taken out of p (they stay where they are). */
sp_err sp_drop_big_keys(const sp_cli *cli, sp_opplan *p, long long limit,
			sp_error *err);

#endif
