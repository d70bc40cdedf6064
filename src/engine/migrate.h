/*
 * migrate.h - the slot mover.
 *
 * Moves hash slots between primaries with the order of protocol rule 2
 * (DESIGN.md): IMPORTING on the target, then MIGRATING on the source,
 * then GETKEYSINSLOT + MIGRATE ... REPLACE KEYS until the slot is empty,
 * then SETSLOT NODE on the target, the source, and every other primary.
 *
 * Speed comes from waiting less, not from skipping steps: each (source,
 * target) pair runs on its own thread with its own connections, keeps a
 * window of slots in flight and pipelines every step for the whole
 * window; MIGRATE batches are cut by bytes (MEMORY USAGE, pipelined) with
 * a timeout scaled to the payload. Redis saves nodes.conf once per event
 * loop, so a pipelined window of SETSLOTs costs one fsync, not one each.
 *
 * Every step is idempotent against the live state, so the same moves can
 * be run again after a crash (resume) and finish where they stopped.
 */
#ifndef SP_MIGRATE_H
#define SP_MIGRATE_H

#include <signal.h>

#include "io/conn.h"
#include "model/plan.h"
#include "model/topology.h"

typedef enum sp_rate_unit {
	SP_RATE_NONE = 0,
	SP_RATE_SLOTS,
	SP_RATE_KEYS,
	SP_RATE_BYTES
} sp_rate_unit;

/*
 * The timeline of a move: where each pair's worker spent its time. A
 * worker is one thread running one pair at a time, so its steps add up to
 * the pair's wall time; "other" is what no step took (the journal's
 * callback, bookkeeping). Turns are the round trips it waited for (see
 * sp_conn.turns): on the critical path, since a worker waits for one
 * reply at a time.
 */
enum sp_tl_step {
	SP_TL_CHECK, /* reading both ends' CLUSTER NODES (one mover per slot) */
	SP_TL_OPEN,  /* SETSLOT IMPORTING on the target, MIGRATING on the source
		      */
	SP_TL_KEYS,  /* GETKEYSINSLOT and MEMORY USAGE on the source */
	SP_TL_MIGRATE, /* MIGRATE rounds in flight */
	SP_TL_FINAL,   /* SETSLOT NODE: target, then source and bystanders */
	SP_TL_PAUSE,   /* rate limit, the guard's pauses, backoff */
	SP_TL_N
};

/* Names of the steps, as the JSON summary prints them. */
extern const char *const sp_tl_step_names[SP_TL_N];

typedef struct sp_pair_time {
	int src, dst; /* node indexes */
	long long slots;
	long long turns;
	double wall_s;
	double step_s[SP_TL_N];
} sp_pair_time;

#define SP_TL_PAIRS 64 /* pairs listed one by one; all are in tl_all */

typedef struct sp_migrate_stats {
	long long slots_total;
	long long slots_done;
	long long keys;
	long long bytes;
	long long retries;
	double seconds;
	/* latency guard (unless fast) */
	int guarded;
	int guard_by_default; /* the default budget: none was given */
	double guard_baseline_ms, guard_budget_ms, guard_worst_ms;
	double throttled_s;
	double guard_out_of_reach_s; /* over budget even at the slowest pace */
	int guard_min_window, guard_min_parallel;
	double guard_min_share, guard_min_duty;
	/* the model (drain.c): the most keys one MIGRATE carried, and what
	 * a key cost its source inside MIGRATE, on average (us) */
	long long guard_max_batch;
	long long guard_migrate_us, guard_migrate_keys;
	double guard_cost_us;
	/* now, for progress lines: the last second's probe p99, what a
	 * MIGRATE round may block for, the duty cycle, pairs allowed */
	double guard_p99_now_ms, guard_block_us, guard_duty;
	int guard_parallel;
	/* timeline: before the workers start (pairs, the guard's baseline)
	 * and after they stop; per pair, the first SP_TL_PAIRS of them, and
	 * the sum over all pairs (tl_all.src and dst are -1) */
	double setup_s, teardown_s;
	int npairs;
	sp_pair_time pair_time[SP_TL_PAIRS];
	sp_pair_time tl_all;
	double max_turns_per_slot; /* the pair that waited most per slot */
} sp_migrate_stats;

/* Called after each window's slots are final: slots[0..n-1] now belong
 * to their targets. Called with the engine's lock held; keep it short. */
typedef void (*sp_slots_done_fn)(void *ud, const sp_move *moves, size_t n);

/* Called about every 200 ms from the thread that called sp_migrate. */
typedef void (*sp_progress_fn)(void *ud, const sp_migrate_stats *s);

typedef struct sp_migrate_opts {
	int window;	/* slots in flight per pair (default 128) */
	int parallel;	/* pairs moving at once (default 8) */
	int batch_keys; /* keys fetched per slot per round (default 1000) */
	/* MIGRATE commands sent before their replies are read, per pair
	 * (default 2; 0: a whole round at once). A source runs a query
	 * buffer of pipelined MIGRATEs back to back before it serves another
	 * client: with 2, its clients wait for at most about two MIGRATEs,
	 * and the pair still never waits on a round trip. */
	int pipeline;
	long long batch_bytes; /* payload of one MIGRATE (default 4 MiB) */
	int timeout_ms;	       /* MIGRATE base timeout (default 5000) */
	int max_retries;       /* per step (default 8) */
	/* How long a node may go without answering before the move gives
	 * up on it (default 30000 ms, --wait): every retry loop stops
	 * there, and a node given up on is not asked again in this run. */
	int give_up_ms;
	sp_rate_unit rate_unit;
	double rate; /* units per second, when rate_unit is set */
	/* Latency guard (guard.h): the engine probes the nodes it moves
	 * between and paces every MIGRATE to keep their p99 under
	 * max_p99_ms, or under baseline * (1 + max_increase_pct/100), or,
	 * with neither (0), under the default budget. fast: no guard. */
	double max_p99_ms;
	double max_increase_pct;
	int fast;
	int probe_ms; /* between probes (default 25) */
	/* SP_SLOTS flags, or NULL: slots whose source is a replica promoted
	 * after its primary failed mid-move (resume). They move without
	 * REPLACE; a key on both sides keeps the target's copy (it came from
	 * the old primary, which was ahead of its replica) and the source's
	 * stale copy is deleted. Borrowed. */
	const unsigned char *keep_target;
	/* The keys file (keep.h): when set, a MIGRATE to a target with
	 * replicas also returns a copy of each key it carries, held until
	 * WAIT on the target says a replica has it; copies the move could
	 * not confirm before it ended are appended here for resume. NULL:
	 * no copies. Borrowed. */
	const char *keep_path;
	const sp_conn_opts *conn;
	volatile sig_atomic_t *stop; /* set by a signal: stop at a boundary */
	sp_slots_done_fn on_done;
	sp_progress_fn on_progress;
	void *ud;
} sp_migrate_opts;

/* The defaults above. */
sp_migrate_opts sp_migrate_defaults(void);

/*
 * Moves every slot in moves (all targets and sources must be primaries in
 * nodes, which must list every primary of the cluster: SETSLOT NODE is
 * broadcast to all of them). Fills *stats. Returns SP_OK when every move
 * is done; SP_ERR_USAGE, before anything moves, for moves that could
 * split a slot (sp_moves_validate: a slot twice, a node out of range);
 * SP_ERR_INTERRUPTED when *stop was set (no slot is left open);
 * otherwise the first error, after closing what it could: a slot whose
 * target already holds keys is finished, any other is reverted; a slot
 * that could not be closed (its node is down) is named in the message.
 */
sp_err sp_migrate(const sp_endpoint *nodes, size_t nnodes, const sp_move *moves,
		  size_t nmoves, const sp_migrate_opts *opts,
		  sp_migrate_stats *stats, sp_error *err);

/* Fills an endpoint from a gathered node. */
void sp_endpoint_set(sp_endpoint *e, const char *id, const char *host,
		     int port);

/* Most arguments sp_migrate_head writes:
 * MIGRATE host port "" 0 timeout REPLACE AUTH2 user pass KEYS. */
#define SP_MIGRATE_HEAD_MAX 11

/*
 * Writes the arguments of a MIGRATE to dst before its keys: host, port,
 * db 0, timeout_ms, REPLACE when replace is set, AUTH or AUTH2 from co
 * when it has a password, then KEYS; and their lengths into lens. argv
 * and lens need SP_MIGRATE_HEAD_MAX entries (plus room for the keys).
 * The strings point into dst, co and nums (the caller's, which must
 * outlive argv). Returns how many were written.
 */
int sp_migrate_head(const sp_endpoint *dst, int timeout_ms, int replace,
		    const sp_conn_opts *co, char (*nums)[16], const char **argv,
		    size_t *lens);

#endif
