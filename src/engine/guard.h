/*
 * guard.h - the migration engine's latency guard.
 *
 * A thread PINGs every node the engine moves between on its own
 * connections (every probe_ms) and keeps the last second of round trips.
 * Each control period it judges the fresh probes against the budget
 * (within it while at most 1 % of them are above). Over budget, it halves
 * the window of slots in flight, the pairs moving at once, the depth of
 * the MIGRATE pipeline and the keys per MIGRATE (a MIGRATE blocks its source
 * for as long as its keys take) and doubles a pause between steps
 * (multiplicative decrease); within it, the pause shrinks by 1 ms, then the
 * others grow (additive increase). The movers read the limits at every step. A
 * blocked event loop is what clients feel during a migration (MIGRATE is
 * synchronous on the source), and a PING sees it the same way a GET does.
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
	double worst_p99_ms; /* highest one-second p99 seen */
	double throttled_s;  /* time spent below full speed */
	int min_window;	     /* the lowest window it went down to */
	int min_parallel;    /* the fewest pairs it let move at once */
	int max_pause_ms;
	/* time spent over budget at the slowest pace (one slot, one MIGRATE,
	 * the longest pause): the budget is out of reach, not just tight */
	double out_of_reach_s;
} sp_guard_report;

/*
 * Measures the baseline on nodes[which[0..n-1]] and starts the probe
 * thread. Returns SP_OK with *out NULL when o asks for no guard. On SP_OK
 * the caller owns *out (sp_guard_stop). Borrows nodes and which: they
 * must outlive the guard.
 */
sp_err sp_guard_start(const sp_endpoint *nodes, const int *which, size_t n,
		      const sp_migrate_opts *o, sp_guard **out, sp_error *err);

/* What the movers may do now. */
typedef struct sp_limits {
	int window;   /* slots in flight per pair */
	int depth;    /* MIGRATE commands per pipelined round; 0: all */
	int batch;    /* keys per MIGRATE */
	int pause_ms; /* before each step */
} sp_limits;

/* The limits now. Without a guard (g NULL): the configured window and
 * batch, every MIGRATE of a round at once, and no pause. */
void sp_guard_limits(sp_guard *g, const sp_migrate_opts *o, sp_limits *out);

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
