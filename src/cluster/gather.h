/*
 * gather.h - reading a whole cluster over the network into an sp_cluster
 * value (model/cluster.h).
 */
#ifndef SP_GATHER_H
#define SP_GATHER_H

#include "io/conn.h"
#include "model/cluster.h"

/*
 * Gathers the cluster reachable from host:port into *out (caller frees with
 * sp_cluster_free). Unreachable nodes other than the entry are recorded
 * with reachable = 0. If the entry node itself is unreachable, returns its
 * error (SP_ERR_IO / SP_ERR_TIMEOUT / SP_ERR_NOAUTH) and *out is empty.
 * Every node but the entry must answer CLUSTER MYID with the id its peers
 * gave for its address; one that does not (or is no cluster node) is
 * foreign: recorded with foreign = 1, reachable = 0, the id its peers gave
 * and an error naming both ids, and its view is not followed.
 */
sp_err sp_cluster_gather(const char *host, int port, const sp_conn_opts *opts,
			 sp_cluster *out, sp_error *err);

#endif
