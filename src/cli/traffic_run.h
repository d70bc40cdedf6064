/*
 * traffic_run.h - printing a traffic run (traffic/phases.h) around an
 * operation or on its own: the live line of each second (text or JSON
 * events) and the before / during / after report side by side.
 */
#ifndef SP_TRAFFIC_RUN_H
#define SP_TRAFFIC_RUN_H

#include "cli/cli.h"
#include "traffic/phases.h"

/* What a run is asked to do besides generating load. */
typedef struct sp_trun_opts {
	const char *series; /* CSV file of one line per second, or NULL */
	int live;	    /* print a line per second (TTY: in place) */
} sp_trun_opts;

typedef struct sp_trun {
	const sp_cli *cli; /* borrowed */
	sp_trun_opts o;
	sp_phases *p; /* owned while the run lasts */
} sp_trun;

/*
 * Starts the generator and the sampler, in a first phase called `phase`.
 * On SP_EXIT_OK the caller ends the run with sp_trun_finish, which frees
 * what r holds; cli, to->conn and o->series are borrowed until then.
 * Otherwise the exit code, after printing why (r then holds nothing).
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

#endif
