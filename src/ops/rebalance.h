/*
 * rebalance.h - balance by slots, keys or memory; plans as files.
 *
 * Weights per slot come from the cluster (CLUSTER COUNTKEYSINSLOT for
 * keys, sampled MEMORY USAGE for memory); the pure planner
 * (engine/planner.h) turns them into moves. A plan file is the reviewable
 * form: its base (the slot map it was made for) lets `apply` refuse a
 * plan the cluster has drifted from, naming what changed.
 */
#ifndef SP_REBALANCE_H
#define SP_REBALANCE_H

#include "model/planner.h"
#include "ops/reshard.h"

typedef enum sp_balance_by {
	SP_BY_SLOTS,
	SP_BY_KEYS,
	SP_BY_MEMORY
} sp_balance_by;

typedef struct sp_weight_arg {
	const char *node; /* name as the operator gave it */
	double weight;
} sp_weight_arg;

typedef struct sp_rebalance_req {
	sp_balance_by by;
	double threshold_pct;  /* redis-cli's default is 2 */
	int use_empty_masters; /* give empty primaries a share */
	const sp_weight_arg *weights;
	size_t nweights;
} sp_rebalance_req;

/* Per-slot figures measured on the cluster, for weights and estimates. */
typedef struct sp_slot_stats {
	long long keys[SP_SLOTS];
	long long bytes[SP_SLOTS]; /* estimated from samples; 0 if not asked */
} sp_slot_stats;

/*
 * Measures keys per slot (always) and, with bytes, the memory of every
 * slot from up to `sample` keys' MEMORY USAGE times its key count.
 */
sp_err sp_measure_slots(const sp_opplan *p, const sp_conn_opts *co, int bytes,
			int sample, sp_slot_stats *out, sp_error *err);

/*
 * Plans a rebalance of c into *out (moves) and *dist (the planner's
 * loads and targets per node of out->nodes). stats may be NULL when
 * balancing by slots. SP_ERR_USAGE for unknown nodes and bad weights.
 * Caller frees *out with sp_opplan_free and *dist with sp_plan_free.
 */
sp_err sp_rebalance_plan(const sp_cluster *c, const sp_rebalance_req *req,
			 const sp_slot_stats *stats, sp_opplan *out,
			 sp_plan *dist, sp_error *err);

/* Writes a plan file (JSON); stats may be NULL. */
sp_err sp_plan_write(const char *path, const char *entry, const char *by,
		     const sp_opplan *p, const sp_plan *dist,
		     const sp_slot_stats *stats, sp_error *err);

/* A plan file read back. */
typedef struct sp_plan_file {
	char entry[SP_ADDR_MAX];
	char by[16];
	sp_opplan plan;	 /* nodes, base owners, moves */
	long long keys;	 /* expected keys to move */
	long long bytes; /* expected bytes to move */
} sp_plan_file;

/* Reads and validates a plan file. SP_ERR_USAGE for a file that is not
 * a slotpilot plan or is truncated, naming what is wrong, and for moves
 * that could split a slot (sp_moves_validate against the plan's base:
 * a slot listed twice, a node index out of range, a source that is not
 * the slot's owner), naming the slot. Caller frees *out with sp_plan_file_free.
 */
sp_err sp_plan_read(const char *path, sp_plan_file *out, sp_error *err);

/* Releases what *f owns (its plan); accepts NULL. */
void sp_plan_file_free(sp_plan_file *f);

/*
 * Checks the live cluster c against the plan's base and keeps in
 * f->plan.moves only the moves not yet done (a partly applied plan
 * continues). SP_ERR_CLUSTER with what changed for a stale plan: a node
 * of the plan is no longer a reachable primary, or a slot's owner is
 * neither its base owner nor, for a moved slot, its target.
 */
sp_err sp_plan_against(sp_plan_file *f, const sp_cluster *c, sp_error *err);

/* Rough duration of moving keys/slots, from the engine's measured rate
 * on the reference machine (see README); seconds. */
double sp_plan_estimate_s(long long keys, size_t slots);

#endif
