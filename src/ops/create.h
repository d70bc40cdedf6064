/*
 * create.h - bootstrap a cluster from empty nodes.
 *
 * The plan is pure: which nodes become primaries, the contiguous even slot
 * range of each, and which primary each replica follows, placing replicas
 * on a different host from their primary whenever the hosts allow.
 * Running it assigns slots, gives every node a distinct config epoch,
 * MEETs them, attaches replicas and waits for convergence.
 */
#ifndef SP_CREATE_H
#define SP_CREATE_H

#include <signal.h>

#include "base/log.h"
#include "io/conn.h"
#include "model/topology.h"

typedef struct sp_create_node {
	char host[SP_HOST_MAX];
	int port;
	char addr[SP_ADDR_MAX];
	char id[SP_ID_LEN + 1]; /* filled by preflight */
	int primary_of;		/* index of its primary, or -1 if a primary */
	int first_slot;		/* primaries only; -1 otherwise */
	int last_slot;
} sp_create_node;

typedef struct sp_create_plan {
	sp_create_node *nodes; /* owned */
	size_t n;
	int nprimaries;
	int replicas; /* requested replicas per primary */
} sp_create_plan;

/*
 * Makes the plan for the n addresses ("HOST:PORT") with `replicas` per
 * primary. At least 3 primaries are required. Errors: SP_ERR_USAGE (bad
 * or duplicate address, too few nodes), SP_ERR_OOM. Caller frees *out
 * with sp_create_plan_free.
 */
sp_err sp_create_plan_make(const char *const *addrs, size_t n, int replicas,
			   sp_create_plan *out, sp_error *err);

/* Releases what *p owns; accepts NULL and an empty plan. */
void sp_create_plan_free(sp_create_plan *p);

/* Prints the plan for a human. */
void sp_create_plan_print(const sp_create_plan *p, FILE *f);

/* How many replicas of p share a host with their primary (0 whenever a
 * placement without that exists: the planner finds it). */
int sp_create_shared_hosts(const sp_create_plan *p);

/*
 * Checks that every node answers, is cluster-enabled, knows only itself,
 * owns no slot and holds no key, and records node ids. Nothing changes.
 * Errors: SP_ERR_IO/TIMEOUT/NOAUTH (unreachable), SP_ERR_CLUSTER (a node
 * is not usable, named in the message), SP_ERR_USAGE (one node listed
 * twice under different addresses).
 */
sp_err sp_create_preflight(sp_create_plan *p, const sp_conn_opts *opts,
			   sp_error *err);

/*
 * Executes a preflighted plan and waits (at most wait_ms) until every
 * node is healthy and agrees. Errors name the node and step. With *stop
 * set (stop may be NULL) it stops at a safe point: before any slot is
 * assigned (nothing changed), or once the primaries form a cluster,
 * before the replicas attach; SP_ERR_INTERRUPTED.
 */
sp_err sp_create_run(const sp_create_plan *p, const sp_conn_opts *opts,
		     int wait_ms, volatile sig_atomic_t *stop,
		     const sp_log *log, sp_error *err);

#endif
