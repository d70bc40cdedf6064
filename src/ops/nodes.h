/*
 * nodes.h - one node in or out of a live cluster, and manual failover.
 *
 * add-node: the new node must be empty and cluster-enabled; it is MEET
 * through the entry node, and nothing is reported done until gossip has
 * converged (every node knows it, all agree on owners). A replica waits
 * until it knows its primary (else "ERR Unknown node"), REPLICATEs, and
 * waits for its first sync.
 *
 * remove-node: a primary is drained by the planner over every remaining
 * primary (weight 0), its replicas are re-homed (or removed with it),
 * then CLUSTER FORGET goes to every remaining node, again until no node
 * knows it: a forgotten node is only blacklisted for 60 s, so a node that
 * still gossips could come back. Then it is reset or shut down.
 */
#ifndef SP_NODES_H
#define SP_NODES_H

#include <signal.h>

#include "base/log.h"
#include "model/cluster.h"
#include "ops/match.h"
#include "ops/reshard.h"

typedef struct sp_add_opts {
	int replica;		/* join as a replica */
	const char *replica_of; /* its primary (name), or NULL: pick one */
	int wait_ms;
	sp_match_opts match;	     /* a new primary must match the cluster */
	volatile sig_atomic_t *stop; /* set: stop before the next step */
} sp_add_opts;

/*
 * Adds the node at new_addr to the cluster reachable from host:port.
 * Re-running it for a node already in the cluster finishes what is left.
 * On success new_id (SP_ID_LEN + 1) holds its id. Errors: SP_ERR_CLUSTER
 * (the node holds keys or belongs to another cluster; convergence timed
 * out), SP_ERR_USAGE (bad names), SP_ERR_IO (unreachable).
 */
sp_err sp_add_node(const char *host, int port, const char *new_addr,
		   const sp_add_opts *o, const sp_conn_opts *co,
		   const sp_log *log, char *new_id, sp_error *err);

typedef enum sp_retire {
	SP_RETIRE_RESET,
	SP_RETIRE_SHUTDOWN,
	SP_RETIRE_NONE
} sp_retire;

typedef struct sp_remove_opts {
	int with_replicas;  /* remove a primary's replicas with it */
	int failover_first; /* a primary: hand its role to a replica first */
	int force;	    /* remove a replica even below the barrier */
	sp_retire retire;   /* what happens to the removed node */
	int wait_ms;
	sp_migrate_opts mig; /* for draining */
	const char *journal_dir;
} sp_remove_opts;

/* Addresses of the nodes a removal took out (for deprovisioning). */
typedef struct sp_removed {
	char addr[8][SP_ADDR_MAX];
	size_t n;
} sp_removed;

/*
 * Removes the node named `name` (id, unique prefix or HOST:PORT; a dead
 * node by id) from the cluster reachable from host:port. Refuses
 * (SP_ERR_CLUSTER / SP_ERR_USAGE, nothing changed) removing the last
 * primary, or a replica whose primary would be left with fewer replicas
 * than cluster-migration-barrier (unless force). With *o->mig.stop set
 * it stops between steps (before the drain, a replica's re-homing, the
 * FORGETs; the drain itself at a slot boundary): SP_ERR_INTERRUPTED, no
 * slot open, and running it again finishes the removal.
 */
sp_err sp_remove_node(const char *host, int port, const char *name,
		      const sp_remove_opts *o, const sp_conn_opts *co,
		      const sp_log *log, sp_removed *out, sp_error *err);

/*
 * Manual failover: the named primary's most up-to-date linked replica
 * (or the named replica) runs CLUSTER FAILOVER; waits until the roles
 * have swapped in the views. *new_primary gets the new primary's addr.
 * With *stop set before CLUSTER FAILOVER is sent: SP_ERR_INTERRUPTED,
 * nothing changed (once sent, it waits for the roles to swap).
 */
sp_err sp_failover(const char *host, int port, const char *name,
		   const sp_conn_opts *co, int wait_ms,
		   volatile sig_atomic_t *stop, char *new_primary,
		   sp_error *err);

/*
 * Index in c of the node named by `name`: a node id, a unique id prefix
 * (6+), or HOST:PORT, matched against every node any view names.
 */
sp_err sp_find_node(const sp_cluster *c, const char *name, int *idx,
		    sp_error *err);

#endif
