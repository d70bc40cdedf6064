/*
 * phases.h - running the traffic generator around something else (a
 * reshard, a rebalance, an expand...) or on its own: a sampler thread
 * that cuts the run into one-second intervals (handed to a callback, and
 * written as a CSV series for plots) and named phases such as "before",
 * "during" and "after". Printing is the caller's (cli/traffic_run.c).
 */
#ifndef SP_TRAFFIC_PHASES_H
#define SP_TRAFFIC_PHASES_H

#include "traffic/traffic.h"

#define SP_MAX_PHASES 8

typedef struct sp_phase {
	char name[16];
	double seconds;
	sp_traffic_counts c;
} sp_phase;

/* Called from the sampler thread once a second with that second's
 * interval d, at seconds since the start, in the named phase. */
typedef void (*sp_phases_tick_fn)(void *ud, double at, const char *phase,
				  const sp_traffic_counts *d);

typedef struct sp_phases_opts {
	const char *series;	/* CSV file of one line per second, or NULL */
	sp_phases_tick_fn tick; /* or NULL */
	void *ud;		/* for tick; borrowed */
} sp_phases_opts;

typedef struct sp_phases sp_phases;

/*
 * Opens the series file, starts the generator and the sampler, in a first
 * phase called phase. On SP_OK *out is a run the caller ends with
 * sp_phases_finish and frees with sp_phases_free; to and o are copied
 * (to->conn and o->ud are borrowed). SP_ERR_USAGE when the series file
 * cannot be written.
 */
sp_err sp_phases_start(const sp_traffic_opts *to, const sp_phases_opts *o,
		       const char *phase, sp_phases **out, sp_error *err);

/* Closes the current phase and starts one called name; past
 * SP_MAX_PHASES the last phase is only closed (and restarted). */
void sp_phases_next(sp_phases *r, const char *name);

/*
 * Closes the last phase, stops the sampler (no tick after it returns) and
 * the load, and when verify is set reads every written key back into *v
 * (else *v is zeroed). An error only when no key could be read back.
 */
sp_err sp_phases_finish(sp_phases *r, int verify, sp_traffic_verify *v,
			sp_error *err);

/* The phases so far (after sp_phases_finish: all of them); borrowed. */
const sp_phase *sp_phases_get(const sp_phases *r, int *n);

/* 1 when a client saw an error, a stale or lost read, or v (from
 * sp_phases_finish) found a lost, stale or unreadable key; else 0. */
int sp_phases_bad(const sp_phases *r, const sp_traffic_verify *v);

/* Stops everything still running, closes the series file and frees r;
 * accepts NULL. */
void sp_phases_free(sp_phases *r);

/* The p-quantile (0..1) of c's latencies, in milliseconds. */
double sp_traffic_pct_ms(const sp_traffic_counts *c, double p);

#endif
