/*
 * recover.h - finishing what was interrupted (resume, from a journal) and
 * repairing what anyone left broken (fix, without one).
 *
 * Both decide from the live cluster, never from a record alone: a slot's
 * owner is whoever claims it now, and keys are counted where they are.
 */
#ifndef SP_RECOVER_H
#define SP_RECOVER_H

#include "base/log.h"
#include "ops/reshard.h"

/*
 * The moves still needed to finish the journaled operation rec on the
 * live cluster c: slots not yet owned by their target move from their
 * current owner (after a failover, the promoted replica); slots owned by
 * their target but still open somewhere get their final SETSLOT NODE.
 * A target that failed over is replaced by the primary that now owns
 * every slot recorded as moved to it (its promoted replica).
 * SP_ERR_CLUSTER when a target is no longer a reachable primary (and
 * has no such replacement) or a
 * slot has no single owner (the message says which). Caller frees *out
 * with sp_opplan_free.
 */
sp_err sp_resume_plan(const sp_journal_rec *rec, const sp_cluster *c,
		      sp_opplan *out, sp_error *err);

/*
 * Before resuming: a slot left IMPORTING from (or MIGRATING to) a node
 * that is no longer a reachable primary is closed with SETSLOT STABLE on
 * the node that holds it open. Redis does not let a node update the
 * owner of a slot it imports, so a target importing from a dead source
 * would otherwise map the slot to the dead node and stay in
 * cluster_state:fail after the failover. Its keys stay; the resumed move
 * reopens the slot from the new owner. Sets *closed to the count.
 */
sp_err sp_resume_prepare(const sp_cluster *c, const sp_conn_opts *co,
			 int *closed, sp_error *err);

/*
 * Waits (at most wait_ms) until every reachable primary of the cluster
 * reports cluster_state:ok; unreachable nodes (a failed-over primary) do
 * not count. SP_ERR_CLUSTER on timeout, naming a node still failing.
 */
sp_err sp_wait_reachable_ok(const char *host, int port, const sp_conn_opts *co,
			    int wait_ms, sp_error *err);

/*
 * The moves that return every slot the journaled operation rec moved to
 * the owner recorded in its snapshot. Slots it did not move are left
 * alone. SP_ERR_CLUSTER when a recorded owner is no longer a reachable
 * primary (naming it). Caller frees *out with sp_opplan_free.
 */
sp_err sp_rollback_plan(const sp_journal_rec *rec, const sp_cluster *c,
			sp_opplan *out, sp_error *err);

typedef struct sp_fix_report {
	int finished;	/* open slots whose migration was completed */
	int reverted;	/* open slots closed where they were */
	int assigned;	/* uncovered slots given an owner */
	int keys_moved; /* keys moved back into an owner */
} sp_fix_report;

/* What fix may do beyond its safe default (slotpilot fix's flags). */
typedef struct sp_fix_opts {
	/* --with-unreachable: primaries the operator declares gone (node
	 * id, id prefix of 6+ characters, or HOST:PORT); their slots are
	 * treated as owned by nobody. At most 64. */
	const char *const *with_unreachable;
	size_t nwith_unreachable;
	/* --owner SLOT=NODE: who keeps a slot claimed twice (or gets one
	 * owned by nobody). */
	const char *const *owners;
	size_t nowners;
} sp_fix_opts;

enum sp_fix_kind {
	SP_FIX_REVERT, /* no keys elsewhere: closed on its owner */
	SP_FIX_FINISH, /* its keys are split toward one peer: finished */
	SP_FIX_HOME,   /* stray keys moved into the owner, then closed */
	SP_FIX_CHOOSE  /* claimed twice: waits for --owner */
};

/* What fix will do to one slot. */
typedef struct sp_fix_step {
	int slot;
	int kind;	   /* enum sp_fix_kind */
	int owner;	   /* the primary that keeps (or gets) the slot */
	int holder;	   /* SP_FIX_FINISH: the peer holding its keys */
	int assign;	   /* the slot is given to owner first */
	int claimed_twice; /* more than one primary claims it */
	char what[320];	   /* for the operator, without the slot number */
} sp_fix_step;

/* Fix's view of the cluster, its connections and its steps. */
typedef struct sp_fix_plan sp_fix_plan;

/*
 * Reads the cluster reachable from host:port and decides, per slot that
 * is open somewhere, owned by nobody or claimed twice, what fix will do
 * (only reads: CLUSTER NODES, COUNTKEYSINSLOT). Nothing changes here.
 * SP_ERR_CLUSTER, naming it, when a primary that owns slots (as some
 * node sees it) or is the peer of an open slot does not answer and is
 * not named in fo->with_unreachable: unreachable is not absent.
 * SP_ERR_USAGE for an override that names nothing it could apply to.
 * On success *out is the caller's (sp_fix_plan_free).
 */
sp_err sp_fix_prepare(const char *host, int port, const sp_conn_opts *co,
		      const sp_fix_opts *fo, sp_fix_plan **out, sp_error *err);

/* The plan's steps, by slot (owned by the plan); *n gets their count. */
const sp_fix_step *sp_fix_steps(const sp_fix_plan *pl, size_t *n);

/* Releases the plan and its connections; accepts NULL. */
void sp_fix_plan_free(sp_fix_plan *pl);

/*
 * Carries out the plan: every open slot is finished when its keys are
 * already split toward one other primary (that primary's copy is stale
 * only where the source still has the key, and REPLACE keeps the
 * source's), reverted when no other primary holds keys of it, and
 * otherwise its stray keys are moved into the owner without REPLACE (a
 * key on both sides is reported, never dropped). An uncovered slot goes
 * to the primary holding most of its keys, or the one with the fewest
 * slots; a slot claimed twice to the one the operator chose, after the
 * other claimants' keys moved into it. Each step first re-reads its
 * counts and stops (SP_ERR_CLUSTER) if the decision changed; a step
 * still waiting for --owner stops it before anything changes. Waits
 * until the cluster is healthy.
 */
sp_err sp_fix_run(sp_fix_plan *pl, const sp_migrate_opts *mig,
		  const sp_log *log, sp_fix_report *rep, sp_error *err);

/* sp_fix_prepare without overrides, then sp_fix_run. */
sp_err sp_fix(const char *host, int port, const sp_conn_opts *co,
	      const sp_migrate_opts *mig, const sp_log *log, sp_fix_report *rep,
	      sp_error *err);

/*
 * Runs sp_fix only when some node has a slot open: what a workflow does
 * before it plans new moves, so that re-running it after an interruption
 * first finishes (or reverts) the window that was in flight instead of
 * sending a half-moved slot somewhere else. *fixed = 1 when it did.
 */
sp_err sp_close_open_slots(const char *host, int port, const sp_conn_opts *co,
			   const sp_migrate_opts *mig, const sp_log *log,
			   int *fixed, sp_error *err);

#endif
