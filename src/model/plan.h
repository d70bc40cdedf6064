/*
 * plan.h - the value every slot move is described by: the nodes taking
 * part (endpoints) and the moves between them. The planner produces it,
 * plan files and journal records store it, and the engine carries it out.
 */
#ifndef SP_PLAN_H
#define SP_PLAN_H

#include "io/conn.h"
#include "model/topology.h"

typedef struct sp_endpoint {
	char id[SP_ID_LEN + 1];
	char host[SP_HOST_MAX];
	int port;
	char addr[SP_ADDR_MAX];
} sp_endpoint;

typedef struct sp_move {
	int slot;
	int src; /* index into the endpoint table */
	int dst;
} sp_move;

/*
 * An operation's plan, the one value journal records, plan files and the
 * engine's callers share: the endpoints taking part, the moves between
 * them, and each slot's owner before the operation (its snapshot).
 */
typedef struct sp_opplan {
	sp_endpoint *nodes; /* every reachable primary; owned */
	size_t nnodes;
	sp_move *moves; /* owned */
	size_t nmoves;
	int owners[SP_SLOTS]; /* before the operation: index into nodes, -1 */
} sp_opplan;

/*
 * Checks moves that are about to be carried out, or read back from a plan
 * file or a journal, for what could split a slot between two owners:
 * a slot out of range, a node index not below nnodes, a slot listed more
 * than once (even to the same target), and, when owners is not NULL, a
 * move whose source is not owners[slot] (owners: index or -1 per slot).
 * Pure. SP_OK, or SP_ERR_USAGE with a message naming the first bad slot
 * (and, with what, the move's index as "move N").
 */
sp_err sp_moves_validate(const sp_move *moves, size_t n, size_t nnodes,
			 const int *owners, sp_error *err);

/* Releases what *p owns and leaves it empty; accepts NULL. */
void sp_opplan_free(sp_opplan *p);

#endif
