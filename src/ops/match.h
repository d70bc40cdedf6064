/*
 * match.h - a new node matches the cluster before it joins as a primary
 * (seed 002: "identical version ... and Redis configuration"): the same
 * server version, the same ACL users, the settings that shape cluster
 * behaviour, and the cluster's functions.
 */
#ifndef SP_OPS_MATCH_H
#define SP_OPS_MATCH_H

#include "io/conn.h"

typedef struct sp_match_opts {
	int copy_acl; /* copy the cluster's ACL users onto the new node */
	/* Differences accepted: a comma list of "version", "acl" and
	 * setting names (as CONFIG GET names them), or NULL. Borrowed. */
	const char *allow_drift;
} sp_match_opts;

/* The settings compared, ended by NULL. */
extern const char *const sp_match_params[];

/*
 * Makes the node at nhost:nport match the cluster, whose primary
 * rhost:rport is the reference. First compares redis_version (and
 * valkey_version), ACL LIST (unless o->copy_acl) and sp_match_params; a
 * difference not in o->allow_drift is SP_ERR_CLUSTER with a message
 * naming each one, and nothing has changed. Then, with o->copy_acl, sets
 * every user of the reference on the node (ACL SETUSER name reset ...)
 * and deletes the node's other users; then copies the reference's
 * functions (FUNCTION DUMP, FUNCTION RESTORE ... REPLACE), skipped on a
 * server without FUNCTION. Never changes the reference. A bad
 * allow_drift name is SP_ERR_USAGE.
 */
sp_err sp_node_match(const char *rhost, int rport, const char *nhost, int nport,
		     const sp_conn_opts *co, const sp_match_opts *o,
		     sp_error *err);

/* SP_OK if every name of list (comma separated, may be NULL) is one
 * sp_node_match understands; else SP_ERR_USAGE naming it. */
sp_err sp_match_drift_ok(const char *list, sp_error *err);

#endif
