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

#include "migrate.h"

typedef struct sp_big_key {
	int slot;
	int node;          /* endpoint index of the owner */
	char key[128];     /* the key, cut to 127 bytes */
	size_t keylen;     /* its full length */
	long long bytes;   /* MEMORY USAGE */
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

void sp_big_keys_free(sp_big_keys *b);

/*
 * MEMORY USAGE of every string element of keys (a GETKEYSINSLOT reply),
 * in one pipeline on c, into sizes[0..keys->elements-1]; 0 for a key
 * that is gone or an element that is not a string.
 */
sp_err sp_key_sizes(sp_conn *c, const redisReply *keys, long long *sizes,
		    sp_error *err);

#endif
