/*
 * plan.c - the plan value and the checks every plan passes before a slot
 * moves (see plan.h).
 */
#include "model/plan.h"

#include <stdlib.h>

void sp_opplan_free(sp_opplan *p)
{
	if (p == NULL)
		return;
	free(p->nodes);
	free(p->moves);
	p->nodes = NULL;
	p->moves = NULL;
	p->nnodes = p->nmoves = 0;
}

/* 1 when i is a node index of a table of nnodes. */
static int is_node(int i, size_t nnodes)
{
	return i >= 0 && (size_t)i < nnodes;
}

/* Checks moves[i] alone and against the slots listed before it. */
static sp_err check_move(const sp_move *moves, size_t i, size_t nnodes,
			 const int *owners, const size_t *first, sp_error *err)
{
	const sp_move *m = &moves[i];

	if (m->slot < 0 || m->slot >= SP_SLOTS)
		return sp_seterr(err, SP_ERR_USAGE,
				 "move %zu: slot %d is not a slot (0-16383)", i,
				 m->slot);
	if (!is_node(m->src, nnodes) || !is_node(m->dst, nnodes))
		return sp_seterr(
		    err, SP_ERR_USAGE,
		    "slot %d: move %zu names node %d, but there are only %zu "
		    "nodes",
		    m->slot, i, is_node(m->src, nnodes) ? m->dst : m->src,
		    nnodes);
	if (first[m->slot] != 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "slot %d is listed twice (moves %zu and %zu): "
				 "a slot moves once, to one target",
				 m->slot, first[m->slot] - 1, i);
	if (owners != NULL && owners[m->slot] < 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "slot %d: move %zu takes it from node %d, but "
				 "nobody owns it",
				 m->slot, i, m->src);
	if (owners != NULL && owners[m->slot] != m->src)
		return sp_seterr(err, SP_ERR_USAGE,
				 "slot %d: move %zu takes it from node %d, but "
				 "node %d owns it",
				 m->slot, i, m->src, owners[m->slot]);
	return SP_OK;
}

sp_err sp_moves_validate(const sp_move *moves, size_t n, size_t nnodes,
			 const int *owners, sp_error *err)
{
	/* index + 1 of the move that listed each slot; 0: none yet */
	size_t *first = calloc(SP_SLOTS, sizeof(*first));
	sp_err rc = SP_OK;
	size_t i;

	if (first == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < n && rc == SP_OK; i++)
		if ((rc = check_move(moves, i, nnodes, owners, first, err)) ==
		    SP_OK)
			first[moves[i].slot] = i + 1;
	free(first);
	return rc;
}
