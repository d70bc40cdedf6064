/*
 * scale.h - expand and shrink: provisioning, joining, rebalancing and
 * validating as one operation, and the provisioners behind it.
 *
 * Provisioners bring nodes into existence and take them away. `local`
 * spawns redis-server on this machine in the directory of the cluster
 * (found from the entry node's CONFIG GET dir, or given); `exec` runs the
 * operator's command: provisioning prints one HOST:PORT per line for
 * SLOTPILOT_COUNT new nodes, deprovisioning receives the node's HOST:PORT
 * as SLOTPILOT_NODE (and as its last argument).
 *
 * An expand records the nodes it provisioned in a state file beside the
 * journals before joining them, so running it again after an
 * interruption reuses them and never provisions twice.
 */
#ifndef SP_SCALE_H
#define SP_SCALE_H

#include "base/log.h"
#include "ops/nodes.h"
#include "provision/provisioner.h"

typedef struct sp_scale_opts {
	int primaries;		   /* the number of primaries wanted */
	int replicas;		   /* per new primary; -1: as the cluster has */
	const char *const *remove; /* shrink: these nodes, or NULL */
	size_t nremove;
	sp_provisioner prov;
	sp_remove_opts rm; /* engine options, journal dir, waits */
} sp_scale_opts;

/*
 * Expands the cluster at host:port to o->primaries primaries, each new
 * one with its replicas; rebalances over all; validates (check and a
 * write/read probe on every primary). SP_ERR_USAGE when the cluster has
 * that many primaries already.
 */
sp_err sp_expand(const char *host, int port, const sp_scale_opts *o,
		 const sp_conn_opts *co, const sp_log *log, sp_error *err);

/*
 * Shrinks to o->primaries primaries (removing those holding the fewest
 * keys, never the entry node's) or removes o->remove; each goes with its
 * replicas, drained over the others, then deprovisioned. Never below 3
 * primaries.
 */
sp_err sp_shrink(const char *host, int port, const sp_scale_opts *o,
		 const sp_conn_opts *co, const sp_log *log, sp_error *err);

/*
 * Undoes the newest operation in the journal directory: its slots go back
 * to the owners in its snapshot; after an expand, the nodes it added are
 * then removed and deprovisioned. *moved gets the number of slots moved.
 */
sp_err sp_rollback(const char *host, int port, const sp_scale_opts *o,
		   const sp_conn_opts *co, const sp_log *log, size_t *moved,
		   sp_error *err);

/*
 * remove-node's workflow: removes the node `name` (sp_remove_node: drain,
 * re-home or remove its replicas, forget it everywhere, retire it) and
 * then, when prov is not NULL, takes every removed node away with it.
 * *removed lists them (the caller's value, nothing to free).
 */
sp_err sp_remove_and_deprovision(const char *host, int port, const char *name,
				 const sp_remove_opts *rm,
				 const sp_provisioner *prov,
				 const sp_conn_opts *co, const sp_log *log,
				 sp_removed *removed, sp_error *err);

#endif
