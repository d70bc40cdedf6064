/*
 * local_cluster.h - the embedded default as a workflow: a whole cluster
 * of redis-server processes on this machine, started, created, restarted
 * or found already running, so that `local up`, the demo and the daemon's
 * tests share one path.
 */
#ifndef SP_LOCAL_CLUSTER_H
#define SP_LOCAL_CLUSTER_H

#include "base/log.h"
#include "io/conn.h"
#include "provision/local.h"

typedef enum sp_local_up_state {
	SP_LOCAL_UP_CREATED = 0, /* fresh nodes, a new cluster */
	SP_LOCAL_UP_RESTARTED,	 /* stopped nodes started again */
	SP_LOCAL_UP_RUNNING	 /* every node was already running */
} sp_local_up_state;

typedef struct sp_local_up_opts {
	sp_local_opts lo; /* directory, bind address, server, settings */
	int primaries;	  /* for a new cluster */
	int replicas;	  /* per primary, for a new cluster */
	int port;	  /* first port of a new cluster */
	int wait_ms;	  /* health deadline after start (default 60 s) */
} sp_local_up_opts;

/*
 * Brings the cluster of o->lo.dir up. With no nodes in the directory it
 * starts primaries * (1 + replicas) nodes on o->port and the ports
 * after it and creates the cluster (replicas on other hosts where they
 * can be); a port in use, or its bus port, is SP_ERR_CLUSTER naming it,
 * before anything starts. With stopped nodes it starts them and waits
 * until every node reports a healthy cluster of them all. On failure
 * the nodes started by this call are stopped again (their logs stay).
 * *state says which of the three happened and *entry_port is the
 * cluster's first port. Nothing is owned by the caller afterwards.
 */
sp_err sp_local_cluster_up(const sp_local_up_opts *o, const sp_conn_opts *co,
			   const sp_log *log, sp_local_up_state *state,
			   int *entry_port, sp_error *err);

#endif
