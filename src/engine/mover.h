/*
 * mover.h - private to the slot mover (migrate.c, window.c, drain.c): the
 * state the pair threads share, one worker's state, and the steps the
 * files call in each other. Not part of the engine's API: include
 * engine/migrate.h instead.
 */
#ifndef SP_MOVER_H
#define SP_MOVER_H

#include <pthread.h>

#include "engine/guard.h"
#include "engine/keep.h"
#include "engine/migrate.h"

enum slot_state { S_MOVING, S_FINAL_ONLY, S_DONE };

typedef struct pair {
	int src, dst;
	const sp_move *moves; /* a run of the sorted moves */
	size_t n;
} pair;

typedef struct shared {
	pthread_mutex_t mu;
	const sp_endpoint *nodes;
	size_t nnodes;
	const sp_migrate_opts *o;
	sp_migrate_stats stats;
	pair *pairs;
	size_t npairs, next_pair;
	int failed; /* a worker failed: others stop at a boundary */
	sp_err first_rc;
	sp_error first_err;
	double tokens; /* rate limiter: may go negative (a debt) */
	long long tokens_ms;
	int running;
	pthread_cond_t ended; /* signalled as each worker stops */
	sp_guard *guard;      /* NULL without a latency budget */
	/* Per node: when it stopped answering (0 while it answers), and
	 * whether the run gave up on it (see sp_mover_heard). */
	long long *silent_since;
	unsigned char *gone;
	/* Per node: the pairs moving a window into it now. A target takes
	 * the RESTOREs of every pair moving into it, so they share its duty
	 * cycle (drain.c). */
	int *moving_to;
} shared;

typedef struct worker {
	shared *sh;
	const pair *p;
	sp_conn **conns; /* one per node, opened when first needed */
	unsigned seed;
	int no_bumpepoch; /* the target refused CLUSTER BUMPEPOCH once */
	/* the look at the pair's target (copies.c): the pair it was taken
	 * for, whether it runs Valkey, how many replicas are connected to it,
	 * and whether copies of the keys moved to it are kept (keep.h) */
	const void *looked_for;
	int dst_valkey, dst_replicas, keep_on;
	sp_keep kept;	/* copies not yet confirmed on a replica */
	int fence_slot; /* the slot of the last fence, and its key */
	char fence_key[40];
	int migrate_ioerr;   /* a MIGRATE of the last round could not reach
			      * the target (IOERR or timeout) */
	unsigned char *busy; /* per window slot: a MIGRATE met BUSYKEY
			      * (keep_target), or NULL */
	/* the latency guard's model (drain.c): what one key costs the
	 * source inside MIGRATE, in us per unit (EWMA; 0 until measured),
	 * and the units of a key of this round (1 + its bytes / 4 KiB) */
	double cost_us, unit;
	long long tl_us[SP_TL_N]; /* the current pair's time per step */
	long long pair_slots;	  /* slots of the current pair now final */
	sp_error err;
} worker;

/* One slot of the window being moved. */
typedef struct wslot {
	int slot;
	int state;
	redisReply *keys; /* last GETKEYSINSLOT reply */
	int drained;	  /* S_MOVING, and emptied: no round fetches it */
	long long size;	  /* its biggest key sampled (MEMORY USAGE), or 0 */
} wslot;

/* SETSLOT results, as sorted by the window steps (window.c). */
/* A SETSLOT's result. R_BUSY: the node did not apply it yet and asks to be
 * asked again (Valkey 8's -NOREPLICAS when its replicas did not ack in
 * time, TRYAGAIN, LOADING, CLUSTERDOWN). */
enum { R_OK = 0, R_OWNER, R_NOT_OWNER, R_NOT_MASTER, R_BUSY, R_ERR = -1 };

/* Takes `units` from the shared rate limiter, sleeping off any debt. */
void sp_mover_throttle(shared *sh, sp_rate_unit unit, double units);

/* Adds the time since since_us (sp_now_us) to the pair's step. */
void sp_mover_tl(worker *w, enum sp_tl_step step, long long since_us);

/* Adds to the shared stats under the lock. */
void sp_mover_add_stats(shared *sh, long long keys, long long bytes,
			long long retries);

/* Sleeps 50 ms * 2^attempt (at most 2 s), with jitter from w->seed. */
void sp_mover_backoff(worker *w, int attempt);

/*
 * Every wait has a deadline (DESIGN.md, rule 8). The steps note here
 * whether a node answered (ok = 1) or not; a node silent for
 * o->give_up_ms, or one a step ran out of retries on (sp_mover_give_up),
 * is given up on: the worker's connection calls to it fail at once from
 * then on, so the window closes what it can within the bound and the
 * run ends.
 */
void sp_mover_heard(worker *w, int node, int ok);
void sp_mover_give_up(worker *w, int node);

/* 1 when the run has given up on node. */
int sp_mover_gone(worker *w, int node);

/* Appends the addresses of the nodes given up on to buf (", "-joined);
 * returns how many there are. */
int sp_mover_gone_names(shared *sh, char *buf, size_t len);

/* 1 for errors worth another try: the node or the target was busy. */
int sp_mover_retryable(sp_err rc);

/*
 * Sets *out to the worker's connection to node i, opened (or reopened
 * after an error) now, with any replies still deferred on it read first.
 * The worker keeps owning the connection. On error, w->err says why.
 */
sp_err sp_mover_conn_to(worker *w, int i, sp_conn **out);

/*
 * Empties every moving slot of ws[0..k-1] onto the pair's target, with
 * retries; frees and clears each ws[i].keys before it returns. On error,
 * w->err says why.
 */
sp_err sp_mover_drain(worker *w, wslot *ws, size_t k);

/*
 * The pair's target, looked at once per pair (INFO, CLUSTER REPLICAS):
 * sets dst_valkey, dst_replicas and keep_on (copies are kept when the run
 * has a keys file and the cluster lists a replica of the target,
 * connected or not; when the target does not answer, they are kept).
 */
void sp_mover_look_target(worker *w, sp_conn *c);

/*
 * Fences the copies held (keep.h): a write of ours on the target in slot
 * (one it imports or owns), after every RESTORE so far, then WAIT up to
 * wait_ms for a replica. 1: a replica has everything, the copies are
 * dropped; 0: none answered in time, the copies get the target's
 * replication position; -1: the target did not answer.
 */
int sp_mover_fence(worker *w, int slot, int wait_ms);

/*
 * After a window's keys moved: a short fence, and when the copies have
 * grown past what the mover holds, fences until a replica answers or the
 * target has been unconfirmed for give_up_ms (then SP_ERR_TIMEOUT, the
 * target given up on).
 */
sp_err sp_mover_keep_window(worker *w, int slot);

/*
 * At the end of a pair, however it ended (rc): confirms the copies left,
 * as sp_mover_keep_window does, or appends them to the keys file and says
 * so in w->err. Returns rc, or the error that ended the confirmation.
 */
sp_err sp_mover_keep_end(worker *w, sp_err rc);

/*
 * Moves one window of up to k slots of the pair (m[0..k-1]), using ws and
 * res (k entries each, owned by the caller) as scratch. On error, leaves
 * no slot open if it can, and w->err names those it could not close.
 */
sp_err sp_mover_move_window(worker *w, const sp_move *m, size_t k, wslot *ws,
			    int *res);

#endif
