/*
 * config.h - CONFIG GET on one node: the settings a new node must share
 * with the cluster (cluster-node-timeout, cluster-migration-barrier...)
 * and where a node keeps its files (dir).
 */
#ifndef SP_IO_CONFIG_H
#define SP_IO_CONFIG_H

#include "io/conn.h"

/*
 * CONFIG GET name on c into buf (at most len - 1 bytes). SP_ERR_NOTFOUND
 * when the server does not have the parameter (an empty reply); the
 * server's error when CONFIG is refused or renamed; SP_ERR_PROTOCOL for
 * a reply that is not [name, value].
 */
sp_err sp_config_get(sp_conn *c, const char *name, char *buf, size_t len,
		     sp_error *err);

/*
 * The integer value of name on the node at host:port, or dflt when it
 * cannot be read (unreachable, refused, not a number): callers use it
 * for settings that have a safe default.
 */
long long sp_config_get_ll(const char *host, int port, const sp_conn_opts *co,
			   const char *name, long long dflt);

#endif
