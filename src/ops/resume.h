/*
 * resume.h - the resume workflow: find the newest unfinished operation
 * in a journal directory and plan what is left of it on the live
 * cluster, retrying while the cluster settles (a failover in progress, a
 * slot briefly claimed twice). `slotpilot resume`, the autoscaler and
 * expand's re-runs share it; the moves are then run by the engine
 * against the same journal, reopened.
 */
#ifndef SP_RESUME_H
#define SP_RESUME_H

#include "engine/journal.h"
#include "ops/reshard.h"

/*
 * Finds the newest journal in dir that is not complete: its path goes to
 * path[0..len-1] and its record to *rec (free with sp_journal_rec_free).
 * SP_ERR_NOTFOUND when there is nothing to resume; SP_ERR_USAGE, naming
 * the slot, for a journal whose moves could split a slot
 * (sp_journal_check) or the file, for a torn one; SP_ERR_PROTOCOL for a
 * file that is not a slotpilot journal.
 */
sp_err sp_resume_find(const char *dir, char *path, size_t len,
		      sp_journal_rec *rec, sp_error *err);

/*
 * Plans the rest of *rec on the cluster reached at host:port into *p
 * (free with sp_opplan_free): open slots a dead source left behind are
 * closed first (sp_resume_prepare) and gossip is given time to settle.
 * Retried every 500 ms for at most wait_ms; the last error otherwise.
 */
sp_err sp_resume_plan_live(const sp_journal_rec *rec, const char *host,
			   int port, const sp_conn_opts *co, int wait_ms,
			   sp_opplan *p, sp_error *err);

/*
 * Flags in out[SP_SLOTS] the slots p moves from another source than the
 * one rec journaled for them: that source failed and a replica took over,
 * possibly behind it. The engine moves them with keep_target. Returns how
 * many it flagged.
 */
size_t sp_resume_promoted(const sp_journal_rec *rec, const sp_opplan *p,
			  unsigned char *out);

#endif
