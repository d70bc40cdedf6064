/*
 * reshard.h - which slots move where, and running those moves journaled.
 *
 * An sp_opplan is what every slot-moving workflow hands the engine: the
 * primaries (endpoints), the slot map before the operation, and the moves.
 * Planning here is pure over a gathered sp_cluster; running writes the
 * journal that `resume` and `rollback` read.
 */
#ifndef SP_RESHARD_H
#define SP_RESHARD_H

#include "engine/journal.h"
#include "engine/migrate.h"
#include "model/cluster.h"

typedef struct sp_reshard_req {
	const char *from;   /* "all", or a comma list of node names */
	const char *to;	    /* node name */
	int nslots;	    /* how many slots, or -1 with ranges */
	const char *ranges; /* "a-b,c,..." or NULL */
} sp_reshard_req;

/*
 * Gathers the cluster into *c (caller frees with sp_cluster_free), waiting
 * up to wait_ms for gossip to settle the nodes req names (DESIGN rule 1):
 * a target added a moment ago is known to the entry node before it is
 * resolved.
 */
sp_err sp_reshard_gather(const char *host, int port, const sp_conn_opts *co,
			 const sp_reshard_req *req, int wait_ms, sp_cluster *c,
			 sp_error *err);

/* Fills p->nodes and p->owners from c (no moves). Free with
 * sp_opplan_free. */
sp_err sp_opplan_from_cluster(const sp_cluster *c, sp_opplan *p, sp_error *err);

/*
 * The index in p->nodes of the primary named by `name`: a full node id, a
 * unique id prefix of at least 6 characters, or HOST:PORT. SP_ERR_USAGE
 * (naming what was wrong) for unknown, ambiguous, or replica nodes.
 */
sp_err sp_opplan_resolve(const sp_opplan *p, const sp_cluster *c,
			 const char *name, int *idx, sp_error *err);

/* Parses "a-b,c,..." into set[0..16383] (1 = listed). */
sp_err sp_parse_slot_ranges(const char *s, unsigned char *set, sp_error *err);

/*
 * Plans a reshard on the gathered cluster c into *out. With nslots, the
 * slots are taken from the sources in proportion to how many they own
 * (largest remainders get the extra ones), lowest slots first. Slots the
 * target already owns are left out, so re-running a finished reshard by
 * ranges plans nothing. Every error is SP_ERR_USAGE and changes nothing.
 * Caller frees *out with sp_opplan_free.
 */
sp_err sp_reshard_plan(const sp_cluster *c, const sp_reshard_req *req,
		       sp_opplan *out, sp_error *err);

typedef struct sp_run_opts {
	sp_migrate_opts mig;	 /* engine settings; callbacks are wrapped */
	const char *journal_dir; /* where to write the journal */
	const char *op;		 /* "reshard", "rebalance", ... */
	const char *entry;	 /* HOST:PORT the operator gave */
	sp_progress_fn on_progress;
	void *ud;
} sp_run_opts;

/*
 * Runs the plan through the engine, journaled: a new journal when *jp is
 * NULL (created in journal_dir; *jp is then the caller's, to
 * sp_journal_close), or appending to *jp, which stays the caller's. Writes the
 * end record: complete, interrupted or failed.
 */
sp_err sp_run_plan(const sp_opplan *p, sp_journal **jp, const sp_run_opts *o,
		   sp_migrate_stats *stats, sp_error *err);

#endif
