/*
 * moving.h - the parts every slot-moving command shares (reshard, resume,
 * fix, rebalance, apply): engine options, signals, printing the moves,
 * the big-key filter, waiting for health, and the journaled run.
 */
#ifndef SP_MOVING_H
#define SP_MOVING_H

#include "../ops/reshard.h"
#include "cli.h"

#define SP_DEFAULT_JOURNAL_DIR ".slotpilot/journal"

/* Option ids of the engine options (above any command's own ids). */
enum {
	MO_DRY = 100, MO_WINDOW, MO_PARALLEL, MO_RATE, MO_BATCH, MO_JDIR,
	MO_WAIT, MO_MAXKEY
};

/* Entries for a command's sp_optdef table. */
#define SP_MOVE_OPTDEFS                                                        \
	{"dry-run", 0, 0, MO_DRY}, {"window", 0, 1, MO_WINDOW},                \
	    {"parallel", 0, 1, MO_PARALLEL}, {"rate", 0, 1, MO_RATE},          \
	    {"batch-keys", 0, 1, MO_BATCH}, {"journal-dir", 0, 1, MO_JDIR},    \
	    {"wait", 0, 1, MO_WAIT}, {"max-key-bytes", 0, 1, MO_MAXKEY}

typedef struct sp_move_args {
	sp_migrate_opts mig;
	const char *journal_dir;
	int wait_s;              /* how long to wait for a healthy cluster */
	int dry_run;
	long long max_key_bytes; /* 0: keys are not measured first */
} sp_move_args;

/* Defaults: the engine's, .slotpilot/journal, 30 s. */
void sp_move_args_init(sp_move_args *a);

/* Applies one MO_* option; 0, or -1 after printing why. */
int sp_move_opt(sp_move_args *a, int id, const char *val);

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
