/*
 * client.h - the small part of a smart cluster client that matters while
 * slots move: a slot map from CLUSTER SLOTS, one connection per node, MOVED
 * updates the map, ASK is answered with ASKING at the named node, TRYAGAIN
 * / CLUSTERDOWN / LOADING are retried with backoff, and a lost connection
 * refreshes the map. hiredis 0.14 has no cluster support, hence this.
 *
 * A client is not thread-safe: each thread owns its own.
 */
#ifndef SP_CLUSTER_CLIENT_H
#define SP_CLUSTER_CLIENT_H

#include <stdint.h>

#include "io/conn.h"

/* What a command met on its way, as the client saw it. */
typedef enum sp_cev {
	SP_CEV_MOVED = 0, /* redirects followed (not errors) */
	SP_CEV_ASK,
	SP_CEV_TRYAGAIN, /* retried */
	SP_CEV_CLUSTERDOWN,
	SP_CEV_LOADING,
	SP_CEV_CONN, /* connection lost or refused, retried */
	SP_CEV_TIMEOUT,
	SP_CEV_OTHER,
	SP_CEV__COUNT
} sp_cev;

/* Short name of an event ("moved", "tryagain", ...); static storage. */
const char *sp_cev_name(sp_cev e);

typedef struct sp_client_opts {
	const sp_conn_opts *conn; /* timeouts and auth; borrowed, must
				     outlive the client */
	int max_attempts;	  /* per command before it fails, >= 1 */
	unsigned seed;		  /* for the backoff's jitter */
} sp_client_opts;

/* What one sp_client_cmd met; the caller zeroes unsure. */
typedef struct sp_client_trace {
	uint64_t *events; /* [SP_CEV__COUNT], added to; or NULL */
	int unsure;	  /* set: a write may have applied unanswered */
	sp_cev last;	  /* on failure, the type of the last error */
} sp_client_trace;

typedef struct sp_client sp_client;

/*
 * Connects to the seed node host:port and reads the slot map from it. On
 * SP_OK *out is a client the caller frees with sp_client_free; o is
 * copied (o->conn is borrowed). On error *out is NULL.
 */
sp_err sp_client_new(const char *host, int port, const sp_client_opts *o,
		     sp_client **out, sp_error *err);

/* Reads the slot map again from the first known node that answers
 * CLUSTER SLOTS with a non-empty map; the old map stays otherwise. */
sp_err sp_client_refresh(sp_client *cl, sp_error *err);

/*
 * Runs argv (argc >= 2, argv[1] the key) on the node serving the key's
 * slot, following redirects and retrying what a cluster client retries,
 * up to max_attempts. On SP_OK *out is the reply, which the caller frees
 * with freeReplyObject. tr may be NULL.
 */
sp_err sp_client_cmd(sp_client *cl, int argc, const char **argv,
		     const size_t *lens, redisReply **out, sp_client_trace *tr,
		     sp_error *err);

/* Closes every connection and frees cl; accepts NULL. */
void sp_client_free(sp_client *cl);

#endif
