/*
 * planner.h - balanced, minimal, deterministic slot moves. Pure: no I/O,
 * so it is unit-tested on synthetic clusters and timed on 1,000 nodes.
 *
 * Input: the owner of every slot, optional per-slot weights (keys or bytes
 * per slot; NULL means every slot weighs 1, i.e. balance by slot count)
 * and per-node weights (NULL means all 1; 0 drains the node). Output: the
 * moves that bring every node to its share.
 *
 * By slot count the result is exact: every node ends within one slot of
 * its ideal share (shares are rounded by largest remainder, ties to the
 * lower node index), and the number of moves is the minimum possible, the
 * sum of every node's surplus. Donors give slots from the ends of their
 * ranges so both sides keep contiguous ranges; receivers are filled in
 * node order. By weight, no node ends further from its share than the
 * heaviest single slot it could have taken or given (the stated
 * tolerance), and slots move only from nodes above their share to nodes
 * below it. The same input always gives the same plan.
 */
#ifndef SP_PLANNER_H
#define SP_PLANNER_H

#include <stddef.h>

#include "base/error.h"
#include "model/plan.h"

typedef struct sp_plan_input {
	size_t nnodes;
	const int *owner; /* [SP_SLOTS]: node index, or -1 (never moved) */
	const double *slot_weight; /* [SP_SLOTS] >= 0, or NULL: by slot count */
	const double *node_weight; /* [nnodes] >= 0, or NULL: all 1 */
	double threshold_pct;	   /* redis-cli's --threshold; 0: always plan */
} sp_plan_input;

typedef struct sp_plan {
	sp_move *moves; /* owned; src/dst are node indexes of the input */
	size_t nmoves;
	double *load;	/* owned, [nnodes]: each node's weight after the plan */
	double *target; /* owned, [nnodes]: each node's ideal share */
	int below_threshold; /* 1: every node already within threshold: no moves
			      */
} sp_plan;

/*
 * Plans the moves. Errors (SP_ERR_USAGE, nothing planned): nnodes 0, a
 * negative or non-finite weight, all node weights 0 while some slot is
 * owned, an owner index out of range. The threshold follows redis-cli:
 * when no node's share differs from its current load by more than
 * threshold_pct percent of its share, nothing moves (below_threshold = 1);
 * a node whose share is 0 but which owns slots always counts as above.
 * Caller frees *out with sp_plan_free.
 */
sp_err sp_plan_rebalance(const sp_plan_input *in, sp_plan *out, sp_error *err);

/* Releases what *p owns; accepts NULL. */
void sp_plan_free(sp_plan *p);

#endif
