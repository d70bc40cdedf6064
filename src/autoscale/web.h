/*
 * autoscale_web.h - what the autoscaler shares with its HTTP thread, and
 * the pages rendered from it: /metrics (Prometheus text), /status
 * (JSON), /healthz and / (an HTML page that draws /status).
 *
 * The daemon's loop writes the shared record under its mutex; the HTTP
 * thread renders a page under the same mutex. Nothing else is shared.
 */
#ifndef SP_AUTOSCALE_WEB_H
#define SP_AUTOSCALE_WEB_H

#include <pthread.h>

#include "autoscale/autoscale.h"

/* Alert codes, in the order of the counters. */
#define SP_AS_ALERT_CODES                                                      \
	{                                                                      \
		"cluster-fail", "metrics-missing", "gossip-unresolved",        \
		    "nodes-missing", "max-primaries", "action-failed",         \
		    "collect-failed"                                           \
	}
#define SP_AS_NALERT_CODES 7
#define SP_AS_NACTIONS	   5 /* sp_as_action values */

typedef struct sp_as_shared {
	pthread_mutex_t mu;
	const sp_as_config *cfg;
	char entry[SP_ADDR_MAX];
	double started; /* wall clock */
	/* the last snapshot */
	sp_metrics snap; /* owned */
	int have_snap;
	double last_collect; /* wall clock of the last good one; 0 none */
	char collect_err[SP_ERRMSG_MAX];
	long long collects, collect_errors;
	/* decisions */
	sp_as_decision last; /* the last one that had a rule */
	double last_at;
	int frozen;
	long long decisions[SP_AS_NACTIONS]; /* by action, dry runs too */
	long long held;			     /* fired but held */
	long long alerts[SP_AS_NALERT_CODES];
	long long meets;
	/* actions */
	long long actions_ok[SP_AS_NACTIONS], actions_failed[SP_AS_NACTIONS];
	sp_as_action op; /* running now, or SP_AS_NONE */
	int op_target;
	double op_started;
	char last_op[32], last_op_status[16];
	double last_op_seconds;
	/* migration: the running move and totals over all of them */
	sp_migrate_stats move;
	long long slots_moved, keys_moved, bytes_moved, retries;
	double move_seconds;
	/* the latency guard of the current or last move: its budget and
	 * the last probe p99 it saw (0 when that move ran --fast) */
	double guard_budget_ms, guard_p99_ms;
} sp_as_shared;

/* Initializes *sh (mutex included); sp_as_shared_free releases it. */
sp_err sp_as_shared_init(sp_as_shared *sh, const sp_as_config *cfg,
			 const char *entry, sp_error *err);
/* Releases what *sh holds (not sh itself); accepts NULL. */
void sp_as_shared_free(sp_as_shared *sh);

/*
 * An sp_progress_fn for the engine: records the running move (ud is the
 * sp_as_shared) and adds a finished move's figures to the totals.
 */
void sp_as_on_progress(void *ud, const sp_migrate_stats *s);

/* Adds the running move to the totals and clears it (after an action). */
void sp_as_move_end(sp_as_shared *sh);

/* The sp_http_fn of the daemon: ud is the sp_as_shared. */
int sp_as_http(void *ud, const char *path, sp_buf *body, const char **ctype);

/* Renders /metrics and /status into b; the caller holds sh->mu. */
void sp_as_render_metrics(const sp_as_shared *sh, sp_buf *b);
void sp_as_render_status(const sp_as_shared *sh, sp_buf *b);

/*
 * Runs the alert command (sh -c cmd) with the alert in the environment
 * (SLOTPILOT_ALERT_CODE, SLOTPILOT_ALERT_MSG, SLOTPILOT_CLUSTER) and as
 * the JSON text json on its standard input. Waits at most 10 s, then
 * kills it; a failure is logged, never fatal.
 */
void sp_as_run_hook(const char *cmd, const char *code, const char *msg,
		    const char *cluster, const char *json, const sp_log *log);

#endif
