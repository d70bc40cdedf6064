/*
 * bigkeys.h - finding keys too big to move safely, before anything moves.
 *
 * MIGRATE blocks the source (and RESTORE the target) for as long as one
 * key takes to serialise and send; a multi-hundred-megabyte key can stall
 * both past the cluster's node timeout. When the operator sets a limit,
 * every key of the planned slots is measured (MEMORY USAGE, pipelined)
 * and the slots holding bigger keys stay where they are.
 */
#ifndef SP_BIGKEYS_H
#define SP_BIGKEYS_H

#include "engine/migrate.h"

typedef struct sp_big_key {
	int slot;
	int node;	 /* endpoint index of the owner */
	char key[128];	 /* the key, cut to 127 bytes */
	size_t keylen;	 /* its full length */
	long long bytes; /* MEMORY USAGE */
} sp_big_key;

typedef struct sp_big_keys {
	sp_big_key *items; /* owned */
	size_t n, cap;
} sp_big_keys;

/*
 * Measures every key in the slots of moves on their sources and lists
 * those above limit bytes. Caller frees *out with sp_big_keys_free.
 */
sp_err sp_find_big_keys(const sp_endpoint *nodes, const sp_move *moves,
			size_t nmoves, long long limit, const sp_conn_opts *co,
			sp_big_keys *out, sp_error *err);

/* Releases what *b owns and leaves it empty; accepts NULL. */
void sp_big_keys_free(sp_big_keys *b);

/* Appends a copy of *k to b; SP_ERR_OOM on allocation failure. */
sp_err sp_big_keys_append(sp_big_keys *b, const sp_big_key *k);

/*
 * MEMORY USAGE of every string element of keys (a GETKEYSINSLOT reply),
 * in one pipeline on c, into sizes[0..keys->elements-1]; 0 for a key
 * that is gone or an element that is not a string.
 */
sp_err sp_key_sizes(sp_conn *c, const redisReply *keys, long long *sizes,
		    sp_error *err);

/* As sp_key_sizes with MEMORY USAGE ... SAMPLES samples (0: every element,
 * exact but O(N) per aggregate; Redis's default is 5). */
sp_err sp_key_sizes_sampled(sp_conn *c, const redisReply *keys, int samples,
			    long long *sizes, sp_error *err);

/*
 * Scanning a whole node for big keys, gently: the pre-flight runs on
 * production primaries, so SCAN takes small batches and the scan keeps
 * under a keys-per-second cap, sleeping between batches as needed.
 */
typedef struct sp_scan_opts {
	int count;	 /* SCAN ... COUNT (default 100) */
	int rate;	 /* keys measured per second at most; 0: no cap */
	int sleep_ms;	 /* pause after every batch (default 0) */
	int samples;	 /* MEMORY USAGE SAMPLES (default 5) */
	long long limit; /* keys above this many bytes are listed */
	volatile sig_atomic_t *stop; /* set by a signal: stop early; or NULL */
} sp_scan_opts;

typedef struct sp_scan_stats {
	long long keys;	   /* keys measured */
	long long bytes;   /* the sum of their MEMORY USAGE */
	long long batches; /* SCAN calls */
	int complete;	   /* 1: the cursor came back to 0 */
} sp_scan_stats;

/* The defaults above, with limit = 10 MB. */
sp_scan_opts sp_scan_defaults(void);

/*
 * SCANs every key of the node behind c (cursor to cursor) and measures
 * each batch with pipelined MEMORY USAGE. Keys above o->limit are appended
 * to *out with node = `node` and their slot; slot_bytes (if not NULL,
 * [SP_SLOTS]) gets each key's bytes added to its slot. *out must be
 * initialised (zeroed) by the caller, who frees it. Read-only on the node.
 */
sp_err sp_scan_big_keys(sp_conn *c, int node, const sp_scan_opts *o,
			sp_big_keys *out, long long *slot_bytes,
			sp_scan_stats *st, sp_error *err);

#endif
