/*
 * converge.h - waiting for gossip to converge.
 *
 * Protocol rule 1 (DESIGN.md): nothing moves until every node is known by
 * every node, reports cluster_state:ok, and all nodes agree on the owners.
 * Right after a MEET that takes a few gossip rounds; acting earlier is how
 * `redis-cli --cluster rebalance` ends in CLUSTERDOWN with an open slot.
 */
#ifndef SP_CONVERGE_H
#define SP_CONVERGE_H

#include "cluster/gather.h"
#include "model/checks.h"

/*
 * Gathers the cluster from host:port until sp_check_cluster finds nothing
 * (with *copts), polling every interval_ms, for at most timeout_ms.
 * On SP_OK, *last (if not NULL) holds the healthy cluster. On
 * SP_ERR_CLUSTER (not healthy in time), err lists the findings that
 * remained and *last holds the last state seen. Whatever the result, the
 * caller frees *last with sp_cluster_free. An unreachable entry node is
 * retried until the timeout, then its error is returned.
 */
sp_err sp_wait_healthy(const char *host, int port, const sp_conn_opts *opts,
		       const sp_check_opts *copts, int timeout_ms,
		       int interval_ms, sp_cluster *last, sp_error *err);

/*
 * Protocol rule 1 as a gate: waits (at most wait_ms, polling every
 * 250 ms) until the cluster passes every check, before slots move. On
 * timeout the error says the cluster is not ready and what was wrong
 * (SP_ERR_CLUSTER), or carries the entry node's error.
 */
sp_err sp_wait_ready_to_move(const char *host, int port, const sp_conn_opts *co,
			     int wait_ms, sp_error *err);

/*
 * Protocol rule 1 for names: gathers the cluster into *c (owned by the
 * caller, freed with sp_cluster_free) like sp_cluster_gather, but while a
 * named node is known to some reachable member and not yet to all of
 * them, gathers again every 200 ms, for at most wait_ms; a name no member
 * knows is looked for during the first 5 s of that (a MEET may be in
 * flight). A name is a node id, an id prefix of 6+ characters, or
 * HOST:PORT (address or announced hostname). Returns SP_OK with the last
 * state once the names are settled or the time is up: the caller's
 * resolution then reports an unknown name (exit 2).
 */
sp_err sp_gather_knowing(const char *host, int port, const sp_conn_opts *co,
			 const char *const *names, size_t nnames, int wait_ms,
			 sp_cluster *c, sp_error *err);

/* 1 if view v has a line for name (as sp_gather_knowing reads names). */
int sp_view_names(const sp_view *v, const char *name);

#endif
