/*
 * preflight.h - is the cluster ready to scale? One read-only pass over
 * every node that answers what the expansion guides check by hand before
 * the first slot moves:
 *
 *   check        the health rules of model/checks.h
 *   config       version and configuration drift between nodes (new
 *                nodes must match the old ones); CONFIG GET per node
 *   bigkeys      SCAN + MEMORY USAGE on every primary, rate-limited:
 *                keys above a size, slots above a share of their node
 *   headroom     used_memory under a share of maxmemory, now and, for a
 *                plan file, after the plan on every target
 *   replication  every replica linked and close behind its primary
 *   latency      PING round trips per node (average, p50, p99)
 *
 * Findings reuse sp_finding (checks.h); notes are what the operator
 * should know that is not a finding (maxmemory 0: headroom not checked).
 * Nothing here writes to the cluster: INFO, CONFIG GET, SCAN, MEMORY
 * USAGE (which does not touch the key's LRU), COUNTKEYSINSLOT and PING.
 *
 * The comparisons (drift, headroom arithmetic, percentiles) are pure
 * functions over the report so that they are unit-tested without nodes.
 */
#ifndef SP_PREFLIGHT_H
#define SP_PREFLIGHT_H

#include "base/log.h"
#include "engine/bigkeys.h"
#include "model/checks.h"

#define SP_PF_MAX_PARAMS 32
#define SP_PF_MAX_PROBES 10000
#define SP_PF_KEY_MAX	 512 /* a printable key name, at most */

typedef struct sp_preflight_opts {
	sp_check_opts check;
	const char *plan_path;		      /* NULL: no plan headroom */
	const char *params[SP_PF_MAX_PARAMS]; /* CONFIG GET names; borrowed */
	size_t nparams;
	int scan;		/* 0: skip the big-key scan */
	sp_scan_opts scan_o;	/* SCAN batch, rate, samples, big-key limit */
	double hot_slot_pct;	/* a slot above this share of used_memory */
	double max_mem_pct;	/* used_memory under this share of maxmemory */
	double plan_margin_pct; /* added to the bytes a plan moves in */
	int max_lag_ms;		/* replication lag threshold */
	int probes;		/* PINGs per node */
	double lat_avg_ms;	/* thresholds on the PING round trip */
	double lat_p99_ms;
	const sp_conn_opts *conn;
	const sp_log *log;
} sp_preflight_opts;

/* The defaults: 10 MB keys, 15 % slots, 80 % of maxmemory, 10 %
 * plan margin, 500 ms lag, 50 probes, average 5 ms, p99 20 ms, and the
 * default parameter list. */
sp_preflight_opts sp_preflight_defaults(void);

/* What one node told us. Strings are owned by the node. */
typedef struct sp_pf_node {
	char addr[SP_ADDR_MAX];
	char id[SP_ID_LEN + 1];
	int reachable;
	int primary;
	char primary_addr[SP_ADDR_MAX]; /* replicas: their primary */
	char version[32];

	/* config */
	int config_read; /* 0: CONFIG GET failed */
	char config_err[SP_ERRMSG_MAX];
	char *values[SP_PF_MAX_PARAMS]; /* NULL: absent on this version */

	/* memory */
	long long used_memory, dataset, maxmemory, keys;
	long long plan_in, plan_out; /* bytes a plan moves in / out */
	long long projected;	     /* used_memory after the plan, or -1 */

	/* big-key scan (primaries) */
	int scanned; /* 1: the scan went cursor to cursor */
	sp_scan_stats scan;

	/* replication (replicas) */
	int link_up;
	long long last_io_s;
	long long lag_ms;	/* -1: not measured */
	long long behind_bytes; /* primary offset minus ours, first read */

	/* latency */
	int probes; /* answered */
	double avg_ms, p50_ms, p99_ms, max_ms;
} sp_pf_node;

/* A slot holding a large share of its node's memory. */
typedef struct sp_hot_slot {
	int slot;
	int node; /* index into report nodes */
	long long bytes;
	double pct;
} sp_hot_slot;

/* One move of a plan, with the bytes it carries (report node indexes). */
typedef struct sp_pf_move {
	int slot, src, dst;
	long long bytes;
} sp_pf_move;

typedef struct sp_preflight_report {
	sp_pf_node *nodes; /* owned */
	size_t nnodes;
	size_t nprimaries;
	sp_findings findings; /* exit 1 when not empty */
	sp_findings notes;    /* information only */
	sp_big_keys big;      /* node = index into nodes */
	sp_hot_slot *hot;     /* owned */
	size_t nhot;
	long long *slot_bytes; /* owned, [SP_SLOTS]: scanned bytes per slot */
	int plan_used;
	size_t plan_moves;
	long long plan_bytes;
	double seconds;
} sp_preflight_report;

/*
 * Runs every section against the cluster reachable from host:port.
 * Findings go into the report; an error return is only for what stops
 * the whole report: the entry node unreachable (SP_ERR_IO/TIMEOUT/NOAUTH),
 * a plan file that is not a plan (SP_ERR_USAGE), out of memory. Caller
 * frees *out with sp_preflight_report_free (also after an error).
 */
sp_err sp_preflight_run(const char *host, int port, const sp_preflight_opts *o,
			sp_preflight_report *out, sp_error *err);

/* Releases what *r owns; accepts NULL. */
void sp_preflight_report_free(sp_preflight_report *r);

/* The section a finding code belongs to ("check", "config", "bigkeys",
 * "headroom", "replication", "latency"). */
const char *sp_preflight_section(const char *code);

/* --- pure parts, unit-tested ------------------------------------------- */

/*
 * Version and configuration drift: for redis_version and each parameter,
 * the value most nodes share (ties: the first node's) is the reference;
 * every node with another value gets a "version-drift" / "config-drift"
 * finding naming node, parameter, both values and how many nodes agree.
 * Nodes that are unreachable or whose config could not be read are left
 * out of the comparison (they have their own finding).
 */
sp_err sp_pf_drift(const sp_pf_node *nodes, size_t n, const char *const *params,
		   size_t nparams, sp_findings *out, sp_error *err);

/*
 * Headroom now and after the moves: fills plan_in, plan_out and projected
 * of every node (margin_pct is added to what moves in), then appends
 * "memory-high" for a primary above max_pct of its maxmemory and
 * "plan-overfill" for a target that would be, naming it and by how many
 * bytes; maxmemory 0 adds a note instead. moves may be NULL (no plan).
 */
sp_err sp_pf_headroom(sp_pf_node *nodes, size_t n, const sp_pf_move *moves,
		      size_t nmoves, double max_pct, double margin_pct,
		      sp_findings *out, sp_findings *notes, sp_error *err);

/* Sorts ms[0..n-1] and sets average, median, 99th percentile (nearest
 * rank) and maximum. n may be 0 (all zero). */
void sp_pf_latency_stats(double *ms, size_t n, double *avg, double *p50,
			 double *p99, double *max);

/* Bytes of one slot of a node estimated from its dataset size and key
 * counts: dataset * keys_in_slot / keys_on_node (0 when the node is
 * empty). */
long long sp_pf_slot_estimate(long long dataset, long long keys_on_node,
			      long long keys_in_slot);

/* Writes the first len bytes of s into buf (NUL-terminated) as printable
 * ASCII: other bytes, '"' and '\\' become \xNN. For key names in
 * messages and JSON. */
void sp_pf_printable(const char *s, size_t len, char *buf, size_t buflen);

#endif
