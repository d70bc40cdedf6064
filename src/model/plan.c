/*
 * plan.c - the plan value (see plan.h).
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
