/*
 * guard.h - the migration engine's latency guard.
 *
 * A model sets the pace and probes correct it. MIGRATE is synchronous:
 * it blocks its source (and, through RESTORE, its target) for as long as
 * its keys take, and a blocked event loop is what clients feel. So each
 * MIGRATE round may block its source for at most a share of the
 * headroom (budget - baseline p99), sized by the mover from the cost per
 * key it measured on that source (drain.c), and each pair spends at most
 * a duty cycle of its time inside MIGRATE, resting in between. A thread
 * PINGs every node the engine moves between on its own connections
 * (every probe_ms) and keeps the last second of round trips; each
 * control period it judges them against the budget (within it while at
 * most 1 % are above). Over budget, share and duty shrink and fewer pairs
 * move at once (multiplicative decrease); well within, they grow
 * (additive increase). The movers read the limits at every step.
 *
 * The guard runs unless the options say fast (--fast). With no budget
 * given, the budget is the default one (set_budget in guard.c).
 */
#ifndef SP_GUARD_H
#define SP_GUARD_H

#include "engine/migrate.h"

typedef struct sp_guard sp_guard;

/* One of the guard's controls: its value now and the range it moves in
 * (for the pause, min is full speed; for the others, max is). */
typedef struct sp_knob {
	int cur, min, max;
} sp_knob;

typedef struct sp_guard_report {
	double baseline_p99_ms; /* before anything moved */
	double budget_ms;
	int by_default;	     /* no budget was given: the default one */
	double worst_p99_ms; /* highest one-second p99 seen */
	double throttled_s;  /* time spent below full speed */
	int min_window;	     /* the lowest window it went down to */
	int min_parallel;    /* the fewest pairs it let move at once */
	double min_share;    /* of the headroom, per MIGRATE round */
	double min_duty;     /* the lowest duty cycle it allowed */
	/* time spent over budget at the slowest pace (one slot, one MIGRATE,
	 * the longest pause): the budget is out of reach, not just tight */
	double out_of_reach_s;
} sp_guard_report;

/*
 * Measures the baseline on nodes[which[0..n-1]] and starts the probe
 * thread. Returns SP_OK with *out NULL when o asks for no guard (fast),
 * SP_ERR_USAGE when the budget given is not above the baseline. On SP_OK
 * the caller owns *out (sp_guard_stop). Borrows nodes and which: they
 * must outlive the guard.
 */
sp_err sp_guard_start(const sp_endpoint *nodes, const int *which, size_t n,
		      const sp_migrate_opts *o, sp_guard **out, sp_error *err);

/* What the movers may do now. */
typedef struct sp_limits {
	int window; /* slots in flight per pair */
	int depth;  /* MIGRATE commands per pipelined round; 0: all */
	int batch;  /* keys per MIGRATE at most */
	/* what one MIGRATE round may block its source for (the mover sizes
	 * its batch from it), 0: no bound */
	double block_us;
	double duty; /* share of a pair's time inside MIGRATE; 1: no cap */
} sp_limits;

/* The limits now. Without a guard (g NULL): the configured window and
 * batch, the configured pipeline depth, no pause and no bound. */
void sp_guard_limits(sp_guard *g, const sp_migrate_opts *o, sp_limits *out);

/* The guard's state for a progress line. All zero without a guard. */
typedef struct sp_guard_now_t {
	double budget_ms, p99_ms; /* p99: the last second's probes */
	double block_us, duty;
	int parallel;
} sp_guard_now_t;

void sp_guard_now(sp_guard *g, sp_guard_now_t *out);

/*
 * Around each window of a pair: waits until fewer pairs than the guard
 * allows are moving, then counts this one in; leave counts it out. Both
 * do nothing without a guard (g NULL).
 */
void sp_guard_enter(sp_guard *g);
void sp_guard_leave(sp_guard *g);

/* Stops the thread, fills *rep (if not NULL) and frees g; accepts NULL. */
void sp_guard_stop(sp_guard *g, sp_guard_report *rep);

#endif
