/*
 * cluster.h - the state of a whole cluster as seen from every node.
 *
 * sp_cluster_gather starts at an entry node, reads its CLUSTER NODES, and
 * then visits every node any reachable view names (the union, so that a
 * node forgotten by some peers is still visited), reading CLUSTER NODES,
 * CLUSTER INFO and INFO from each. The result is a plain value: the
 * checks (checks.h) and the status printer work on it without I/O, and
 * unit tests build one by hand from captured replies.
 */
#ifndef SP_CLUSTER_H
#define SP_CLUSTER_H

#include "io/conn.h"
#include "model/topology.h"

typedef struct sp_node_state {
	char host[SP_HOST_MAX];
	int port;
	char addr[SP_ADDR_MAX];
	char id[SP_ID_LEN + 1]; /* from its own "myself" line; "" if unknown */
	int reachable;
	/* answered with another id than its peers gave (gather.c): treated
	 * as unreachable, and never met, moved to, forgotten or removed */
	int foreign;
	sp_err err_code; /* why it is unreachable */
	char err_msg[SP_ERRMSG_MAX];
	sp_view view; /* its CLUSTER NODES; empty if unreachable */

	/* CLUSTER INFO */
	int state_ok;
	long long known_nodes;
	long long slots_assigned;
	long long slots_pfail;
	long long slots_fail;
	long long current_epoch;
	long long my_epoch;

	/* INFO */
	char version[32];
	char role[16]; /* "master" / "slave" */
	long long keys;
	long long used_memory;
	long long maxmemory;
	int master_link_up; /* replicas: master_link_status:up */
	long long
	    master_last_io_secs; /* replicas: master_last_io_seconds_ago */
	long long repl_offset;	 /* master_repl_offset or slave_repl_offset */
	int sync_in_progress;	 /* master_sync_in_progress:1 */
} sp_node_state;

typedef struct sp_cluster {
	sp_node_state *nodes; /* owned */
	size_t nnodes;
	size_t cap;
} sp_cluster;

/* Releases everything *c owns; accepts an empty cluster. */
void sp_cluster_free(sp_cluster *c);

/* Appends an empty node state for host:port; returns it (it points into
 * c, valid until the next add), or NULL on OOM. */
sp_node_state *sp_cluster_add(sp_cluster *c, const char *host, int port);

/* Index of the node with this node id (by its own myself line), or -1. */
int sp_cluster_find_id(const sp_cluster *c, const char *id);

/* The bus port n announces in its own myself line, or 0 if unknown. */
int sp_node_state_bus_port(const sp_node_state *n);

/* Index of the node at this host:port, or -1. */
int sp_cluster_find_addr(const sp_cluster *c, const char *host, int port);

/*
 * Fills the CLUSTER INFO and INFO fields of n from reply texts (either
 * may be NULL). Pure; used by gather and by tests.
 */
void sp_node_state_set_info(sp_node_state *n, const char *cluster_info,
			    const char *info);

/*
 * The owner of each slot as the nodes themselves claim it (each reachable
 * node's own "myself" slots): owner[s] is an index into c->nodes,
 * SP_NO_OWNER when no node claims s, or -2 when more than one does.
 */
void sp_cluster_claims(const sp_cluster *c, int owner[SP_SLOTS]);

/*
 * The primaries of the cluster, in a stable order (by address): indexes
 * into c->nodes of reachable nodes whose own line says master. Writes at
 * most max entries into idx; returns the number written.
 */
size_t sp_cluster_primaries(const sp_cluster *c, int *idx, size_t max);

#endif
