/*
 * join.h - bringing one node into a cluster: is it empty, MEET it,
 * REPLICATE it, wait for its first sync. Shared by create and add-node.
 */
#ifndef SP_JOIN_H
#define SP_JOIN_H

#include "io/conn.h"
#include "model/topology.h"

/*
 * Reads the node at host:port: its id into id (SP_ID_LEN + 1 bytes), and
 * into why (len bytes) the reason it cannot join a cluster: not
 * cluster-enabled, already knows other nodes or owns slots, or holds
 * keys ("" when it can). addr names it in messages. Changes nothing.
 */
sp_err sp_node_inspect(const char *host, int port, const char *addr,
		       const sp_conn_opts *co, char *id, char *why, size_t len,
		       sp_error *err);

/* The numeric address of host, as CLUSTER MEET requires. */
sp_err sp_resolve_ip(const char *host, char *ip, size_t len, sp_error *err);

/*
 * Runs "CLUSTER MEET ip port [bus]" on host:port. The bus port is sent
 * whenever it is known (bus > 0): a node whose cluster-port is not
 * port + 10000 cannot be met without it.
 */
sp_err sp_node_meet(const char *host, int port, const sp_conn_opts *co,
		    const char *ip, int meet_port, int meet_bus, sp_error *err);

/* The cluster bus port host:port announces in its own "myself" line of
 * CLUSTER NODES (cluster-port, or port + 10000, or the announced one). */
sp_err sp_node_bus_port(const char *host, int port, const sp_conn_opts *co,
			int *bus, sp_error *err);

/*
 * CLUSTER REPLICATE primary_id on host:port, retried until deadline (ms,
 * monotonic) while the node does not know its primary yet ("ERR Unknown
 * node" right after a MEET).
 */
sp_err sp_node_replicate(const char *host, int port, const sp_conn_opts *co,
			 const char *primary_id, long long deadline,
			 sp_error *err);

/* 1 when the replica at host:port has its link up and no sync running. */
int sp_replica_synced(const char *host, int port, const sp_conn_opts *co);

/* Waits until sp_replica_synced, or SP_ERR_CLUSTER at deadline. */
sp_err sp_wait_synced(const char *host, int port, const char *addr,
		      const sp_conn_opts *co, long long deadline,
		      sp_error *err);

#endif
