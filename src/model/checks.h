/*
 * checks.h - the health rules of a cluster, as pure functions over a
 * gathered sp_cluster. `slotpilot check` prints their findings; every
 * workflow runs them before and after it changes anything.
 */
#ifndef SP_CHECKS_H
#define SP_CHECKS_H

#include "model/cluster.h"

typedef enum sp_severity { SP_SEV_WARN = 1, SP_SEV_ERR = 2 } sp_severity;

typedef struct sp_finding {
	const char *code; /* stable machine name, e.g. "open-slot" */
	sp_severity sev;
	int slot;		/* first slot concerned, or -1 */
	char node[SP_ADDR_MAX]; /* node concerned ("" if the cluster) */
	char msg[384];		/* one human sentence */
} sp_finding;

typedef struct sp_findings {
	sp_finding *items; /* owned */
	size_t n;
	size_t cap;
} sp_findings;

typedef struct sp_check_opts {
	int expect_nodes;     /* -1: not checked */
	int expect_primaries; /* -1: not checked */
	int min_replicas;     /* -1: not checked */
	int placement;	      /* 1: report replicas on their primary's host */
} sp_check_opts;

/* Options with nothing optional checked. */
sp_check_opts sp_check_defaults(void);

/*
 * Runs every rule over c, appending to *out (caller frees with
 * sp_findings_free). Rules and their codes:
 *   unreachable        a node named by some view did not answer
 *   slots-uncovered    slots no node claims (ranges in the message)
 *   slot-multi-owner   slots claimed by more than one node
 *   open-slot          a node has a slot MIGRATING or IMPORTING
 *   owners-disagree    views differ on the owner of some slot
 *   membership-disagree a node is unknown to some reachable node
 *   state-not-ok       a node reports cluster_state other than ok
 *   node-fail          some view flags a node fail (error)
 *   node-pfail         some view flags a node fail? (error: check fails)
 *   roles-disagree     a node's own role (primary, or replica of whom)
 *                      differs from what another reachable view says
 *   handshake          a node is still in handshake in some view (warning)
 *   epoch-collision    two primaries share a config epoch
 *   expect-nodes       node count differs from opts
 *   expect-primaries   primary count differs from opts
 *   min-replicas       a primary has fewer replicas than opts
 *   replica-same-host  with opts->placement, in a cluster spanning two
 *                      or more hosts: a replica on its primary's host
 * Finding codes are static strings. Returns SP_OK, SP_ERR_OOM, or
 * SP_ERR_INTERNAL when out is NULL.
 */
sp_err sp_check_cluster(const sp_cluster *c, const sp_check_opts *opts,
			sp_findings *out, sp_error *err);

/* Appends a finding; returns SP_ERR_OOM on allocation failure. */
sp_err sp_findings_add(sp_findings *f, const char *code, sp_severity sev,
		       int slot, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Number of findings of severity SP_SEV_ERR. */
size_t sp_findings_errors(const sp_findings *f);

/* Releases what *f owns and leaves it empty; accepts NULL. */
void sp_findings_free(sp_findings *f);

#endif
