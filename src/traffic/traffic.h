/*
 * traffic.h - a load generator that measures what clients see while the
 * cluster changes.
 *
 * Each worker thread owns a cluster client (cluster/client.h: the slot
 * map, redirects and retries, one connection per node) and a share of the
 * key space, so every key has a single writer: values carry a per-key
 * increasing sequence number, and a read that returns an older one than
 * the last acknowledged write is a stale read; a missing one is a lost
 * write.
 *
 * Counters live per worker under the worker's own lock; a snapshot sums
 * them, and the difference of two snapshots is an interval (one second,
 * or one phase such as "during the reshard").
 */
#ifndef SP_TRAFFIC_H
#define SP_TRAFFIC_H

#include <stdint.h>

#include "cluster/client.h"
#include "model/latency.h"

/* Counters of one interval (or since the start). */
typedef struct sp_traffic_counts {
	uint64_t reads, writes;
	uint64_t errors;		/* operations that failed for good */
	uint64_t failed[SP_CEV__COUNT]; /* ... by the last error's type */
	uint64_t events[SP_CEV__COUNT]; /* redirects and retries seen */
	uint64_t stale_reads;		/* older than the acknowledged write */
	uint64_t lost_reads; /* missing after an acknowledged write */
	sp_hist lat;	     /* every finished operation */
} sp_traffic_counts;

typedef struct sp_traffic_opts {
	char host[SP_HOST_MAX]; /* any node of the cluster */
	int port;
	const sp_conn_opts *conn;
	int connections;   /* worker threads (default 4) */
	double read_ratio; /* 0..1 (default 0.5) */
	long keys;	   /* key space (default 10000) */
	int value_size;	   /* bytes (default 100) */
	double rate;	   /* operations per second in all, 0 = unthrottled
			      (default 2000) */
	int max_attempts;  /* per operation before it fails (default 16) */
	char prefix[64];   /* key name prefix (default "sp:traffic:") */
} sp_traffic_opts;

/* The defaults above. */
sp_traffic_opts sp_traffic_defaults(void);

/* Checks options; SP_ERR_USAGE naming the bad one. */
sp_err sp_traffic_validate(const sp_traffic_opts *o, sp_error *err);

typedef struct sp_traffic sp_traffic;

/*
 * Reads the slot map from the cluster and starts the workers. On SP_OK
 * *out is a running generator the caller stops with sp_traffic_stop and
 * frees with sp_traffic_free. o is copied; o->conn is borrowed and must
 * outlive the generator.
 */
sp_err sp_traffic_start(const sp_traffic_opts *o, sp_traffic **out,
			sp_error *err);

/* The sum of every worker's counters since the start. */
void sp_traffic_snapshot(sp_traffic *t, sp_traffic_counts *out);

/* a -= b: the interval between two snapshots. */
void sp_traffic_counts_sub(sp_traffic_counts *a, const sp_traffic_counts *b);

/* Stops the workers and joins them; idempotent. */
void sp_traffic_stop(sp_traffic *t);

typedef struct sp_traffic_verify {
	uint64_t keys_written; /* keys with an acknowledged write */
	uint64_t checked;
	uint64_t lost;	  /* missing */
	uint64_t stale;	  /* older than the last acknowledged write */
	uint64_t failed;  /* could not be read */
	uint64_t seq_sum; /* sum of the acknowledged sequence numbers */
} sp_traffic_verify;

/*
 * After sp_traffic_stop: reads back every key with an acknowledged write
 * through the cluster client and compares. SP_OK even when keys are lost
 * (see *out); an error only when the cluster cannot be read at all.
 */
sp_err sp_traffic_verify_keys(sp_traffic *t, sp_traffic_verify *out,
			      sp_error *err);

/* Frees t (stopping it first); accepts NULL. */
void sp_traffic_free(sp_traffic *t);

#endif
