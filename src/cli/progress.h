/*
 * progress.h - how a slot-moving command reports while it runs and after:
 * a live bar on a TTY, a line every 5 s otherwise, JSON events with
 * --json, and a summary line at the end.
 */
#ifndef SP_PROGRESS_H
#define SP_PROGRESS_H

#include "cli/cli.h"
#include "engine/migrate.h"

typedef struct sp_progress {
	const sp_cli *cli;
	long long last_ms;
	int bar_shown; /* a \r line is on stderr and needs a newline */
	/* For the timeline of the JSON summary: the nodes the pairs index
	 * (borrowed; NULL prints indexes) and the command's time before the
	 * engine started (gathers, plan, checks) and in the journal. */
	const sp_endpoint *nodes;
	size_t nnodes;
	double before_s, journal_s;
} sp_progress;

/* An sp_progress_fn; ud is an sp_progress. */
void sp_progress_update(void *ud, const sp_migrate_stats *s);

/* Ends the bar and prints the summary (stdout) for an outcome rc. */
void sp_progress_summary(sp_progress *p, const sp_migrate_stats *s, sp_err rc);

#endif
