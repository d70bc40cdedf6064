/*
 * traffic_run.h - running the traffic generator around something else
 * (a reshard, a rebalance, an expand...) or on its own: a sampler thread
 * that cuts the run into one-second intervals (live line, JSON events, a
 * CSV series for plots) and named phases, and the before / during / after
 * report printed side by side.
 */
#ifndef SP_TRAFFIC_RUN_H
#define SP_TRAFFIC_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "cli/cli.h"
#include "traffic/traffic.h"

#define SP_MAX_PHASES 8

typedef struct sp_phase {
	char name[16];
	double seconds;
	sp_traffic_counts c;
} sp_phase;

/* What a run is asked to do besides generating load. */
typedef struct sp_trun_opts {
	const char *series; /* CSV file of one line per second, or NULL */
	int live;	    /* print a line per second (TTY: in place) */
} sp_trun_opts;

typedef struct sp_trun {
	const sp_cli *cli;
	sp_traffic *t;
	sp_trun_opts o;
	FILE *series;
	pthread_t tid;
	int sampling;
	atomic_int stop;
	pthread_mutex_t mu; /* phases, cur */
	sp_phase ph[SP_MAX_PHASES];
	int nph;
	sp_traffic_counts mark; /* snapshot at the current phase start */
	long long mark_ms, start_ms;
} sp_trun;

/*
 * Starts the generator and the sampler, in a first phase called `phase`.
 * On SP_EXIT_OK the caller ends the run with sp_trun_finish. Otherwise
 * the exit code, after printing why.
 */
int sp_trun_start(sp_trun *r, const sp_cli *cli, const sp_traffic_opts *to,
		  const sp_trun_opts *o, const char *phase);

/* Closes the current phase and starts one called name. */
void sp_trun_phase(sp_trun *r, const char *name);

/*
 * Closes the last phase, stops the load, verifies the keys when verify is
 * set (v filled, else zeroed), prints the phases side by side (text or a
 * JSON line) and frees everything. Returns 1 when a client saw an error,
 * a stale or lost read, or verify found a lost or stale key; else 0.
 */
int sp_trun_finish(sp_trun *r, int verify, sp_traffic_verify *v);

/* Fills the traffic options an operation's --traffic-* flags left out. */
void sp_trun_defaults_for_op(sp_traffic_opts *to);

#endif
