/*
 * provisioner.h - the one provisioner interface: bring `count` new,
 * empty, cluster-enabled nodes into existence and say where they are,
 * and take a node away. Two implementations: `local` starts redis-server
 * processes on this machine (provision/local.h), `exec` runs the
 * operator's commands (Terraform, Ansible, kubectl...) described in
 * docs/provisioners.md. expand, shrink, remove-node and the autoscaler
 * use nothing else.
 */
#ifndef SP_PROVISIONER_H
#define SP_PROVISIONER_H

#include "io/conn.h"

typedef enum sp_prov_kind { SP_PROV_LOCAL, SP_PROV_EXEC } sp_prov_kind;

typedef struct sp_provisioner {
	sp_prov_kind kind;
	const char *dir;	 /* local: cluster directory, or NULL */
	const char *provision;	 /* exec: shell command */
	const char *deprovision; /* exec: shell command */
	int node_timeout_ms;	 /* local: cluster-node-timeout */
	int timeout_ms;		 /* exec: deadline per command (10 min) */
	/* local: "NETNS=ADDR,..." hosts to place new nodes on, round robin
	 * (node j on host j mod n: a shard's primary and replicas land on
	 * different hosts), or NULL for 127.0.0.1 on this machine. */
	const char *hosts;
} sp_provisioner;

/*
 * Brings `count` new nodes up; their addresses go to addrs[0..count-1].
 * host:port is a node of the cluster they will join: the local
 * provisioner reads its directory and settings there (new nodes match
 * the old ones); the exec one gets SLOTPILOT_COUNT and must print count
 * HOST:PORT lines (SP_ERR_USAGE names a line that is not one).
 */
sp_err sp_provision(const sp_provisioner *p, const char *host, int port,
		    const sp_conn_opts *co, int count,
		    char (*addrs)[SP_ADDR_MAX], sp_error *err);

/*
 * Takes the node at addr away: local stops it and deletes its data; exec
 * runs `deprovision HOST:PORT` with SLOTPILOT_NODE set. SP_ERR_SYSTEM
 * when the command fails, SP_ERR_TIMEOUT past its deadline.
 */
sp_err sp_deprovision(const sp_provisioner *p, const char *addr, sp_error *err);

#endif
