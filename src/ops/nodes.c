/*
 * nodes.c - add-node, remove-node and manual failover.
 */
#include "ops/nodes.h"

#include "io/config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/stop.h"
#include "cluster/converge.h"
#include "cluster/gather.h"
#include "model/planner.h"
#include "ops/join.h"
#include "ops/recover.h"

sp_err sp_find_node(const sp_cluster *c, const char *name, int *idx,
		    sp_error *err)
{
	size_t i, len = strlen(name), hits = 0;
	char host[SP_HOST_MAX];
	int port;

	*idx = -1;
	if (strchr(name, ':') != NULL &&
	    sp_parse_hostport(name, host, &port, NULL) == SP_OK) {
		*idx = sp_cluster_find_addr(c, host, port);
		hits = *idx >= 0;
	} else if (len >= 6 && len <= SP_ID_LEN) {
		for (i = 0; i < c->nnodes; i++)
			if (strncasecmp(c->nodes[i].id, name, len) == 0)
				*idx = (int)i, hits++;
	}
	if (hits == 1)
		return SP_OK;
	*idx = -1;
	return sp_seterr(err, SP_ERR_USAGE,
			 hits > 1 ? "node \"%s\" is ambiguous: give more of "
				    "its id"
				  : "unknown node \"%s\": give a node id, a "
				    "unique id prefix (6+) or HOST:PORT",
			 name);
}

/* The node's own line if it answers, else what the entry node says. */
static const sp_node *line_of(const sp_cluster *c, int i)
{
	const sp_view *v =
	    c->nodes[i].reachable ? &c->nodes[i].view : &c->nodes[0].view;
	int k = sp_view_find(v, c->nodes[i].id);

	return k >= 0 ? &v->nodes[k] : NULL;
}

/*
 * Dead means dead: node i is flagged fail, or we cannot reach it and some
 * reachable peer flags it pfail or fail. Such a node counts for nothing in
 * replica accounting and placement.
 */
static int is_dead(const sp_cluster *c, int i)
{
	const sp_node *l = line_of(c, i);
	size_t k;

	if (l != NULL && (l->flags & SP_NF_FAIL))
		return 1;
	if (c->nodes[i].reachable)
		return 0;
	for (k = 0; k < c->nnodes; k++) {
		const sp_view *v = &c->nodes[k].view;
		int at = c->nodes[k].reachable ? sp_view_find(v, c->nodes[i].id)
					       : -1;
		if (at >= 0 &&
		    (v->nodes[at].flags & (SP_NF_PFAIL | SP_NF_FAIL)))
			return 1;
	}
	return 0;
}

static int is_primary(const sp_cluster *c, int i)
{
	const sp_node *n = line_of(c, i);
	return n != NULL && (n->flags & SP_NF_MASTER) && !is_dead(c, i);
}

/* The live replicas of the primary with this id. */
static int replicas_of(const sp_cluster *c, const char *id, int *out, int max)
{
	int i, n = 0;

	for (i = 0; (size_t)i < c->nnodes; i++) {
		const sp_node *l = line_of(c, i);
		if (l != NULL && !is_dead(c, i) &&
		    strcmp(l->master_id, id) == 0 && n < max)
			out[n++] = i;
	}
	return n;
}

/*
 * The reachable primary with the fewest replicas, preferring one on
 * another host than `host`; `skip` (an index, or -1) is never chosen.
 */
static int neediest(const sp_cluster *c, const char *host, int skip)
{
	int best = -1, bn = 0, bsame = 1, i, tmp[64];

	for (i = 0; (size_t)i < c->nnodes; i++) {
		int n, same;
		if (i == skip || !c->nodes[i].reachable || !is_primary(c, i))
			continue;
		n = replicas_of(c, c->nodes[i].id, tmp, 64);
		same = strcmp(c->nodes[i].host, host) == 0;
		if (best < 0 || same < bsame || (same == bsame && n < bn))
			best = i, bn = n, bsame = same;
	}
	return best;
}

/* Waits until the cluster has `nodes` healthy, agreeing members. */
static sp_err converge(const char *host, int port, const sp_conn_opts *co,
		       int nodes, int wait_ms, sp_error *err)
{
	sp_check_opts copts = sp_check_defaults();

	copts.expect_nodes = nodes;
	return sp_wait_healthy(host, port, co, &copts, wait_ms, 200, NULL, err);
}

/* A reachable primary to take as the cluster's reference, or -1. */
static int reference_primary(const sp_cluster *c)
{
	int i;

	for (i = 0; (size_t)i < c->nnodes; i++)
		if (c->nodes[i].reachable && is_primary(c, i))
			return i;
	return -1;
}

/* MEETs the new node unless it is a member already; sets id. A new
 * primary first matches the cluster (version, users, settings, functions). */
static sp_err join(const sp_cluster *c, const char *nhost, int nport,
		   const char *naddr, const sp_add_opts *o,
		   const sp_conn_opts *co, char *id, int *added, sp_error *err)
{
	int ref;

	char why[SP_ERRMSG_MAX], ip[SP_HOST_MAX];
	int i = sp_cluster_find_addr(c, nhost, nport);
	sp_err rc;

	*added = 0;
	if (i >= 0 && c->nodes[i].foreign)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "cannot add %s: it is member %s's address, "
				 "but another node answers there (%s); forget "
				 "%s first",
				 naddr, c->nodes[i].id, c->nodes[i].err_msg,
				 c->nodes[i].id);
	if (i >= 0 && c->nodes[i].reachable) {
		snprintf(id, SP_ID_LEN + 1, "%s", c->nodes[i].id);
		return SP_OK; /* re-run: it already joined */
	}
	if ((rc = sp_node_inspect(nhost, nport, naddr, co, id, why, sizeof(why),
				  err)) != SP_OK)
		return rc;
	if (why[0] != '\0')
		return sp_seterr(err, SP_ERR_CLUSTER, "cannot add %s: %s",
				 naddr, why);
	if (!o->replica && (ref = reference_primary(c)) >= 0 &&
	    (rc = sp_node_match(c->nodes[ref].host, c->nodes[ref].port, nhost,
				nport, co, &o->match, err)) != SP_OK)
		return rc;
	if ((rc = sp_resolve_ip(c->nodes[0].host, ip, sizeof(ip), err)) ||
	    (rc = sp_node_meet(nhost, nport, co, ip, c->nodes[0].port,
			       sp_node_state_bus_port(&c->nodes[0]), err)))
		return rc;
	*added = 1;
	return SP_OK;
}

sp_err sp_add_node(const char *host, int port, const char *new_addr,
		   const sp_add_opts *o, const sp_conn_opts *co,
		   const sp_log *log, char *new_id, sp_error *err)
{
	long long deadline = sp_now_ms() + o->wait_ms;
	char nhost[SP_HOST_MAX], naddr[SP_ADDR_MAX];
	sp_cluster c = {0};
	int nport, added, pi = -1;
	size_t before;
	sp_err rc;

	if ((rc = sp_parse_hostport(new_addr, nhost, &nport, err)) != SP_OK ||
	    (rc = sp_gather_knowing(host, port, co, &o->replica_of,
				    o->replica_of != NULL, o->wait_ms, &c,
				    err)) != SP_OK)
		return rc;
	sp_format_addr(naddr, sizeof(naddr), nhost, nport);
	if (o->replica_of != NULL &&
	    ((rc = sp_find_node(&c, o->replica_of, &pi, err)) != SP_OK ||
	     (!is_primary(&c, pi) &&
	      (rc = sp_seterr(err, SP_ERR_USAGE, "%s is not a primary",
			      c.nodes[pi].addr)) != SP_OK)))
		goto out;
	before = c.nnodes;
	if ((rc = sp_stop_check(o->stop, "add-node", "before the MEET", "",
				err)) != SP_OK ||
	    (rc = join(&c, nhost, nport, naddr, o, co, new_id, &added, err)))
		goto out;
	sp_logf(log, "meet", "%s %s; waiting for gossip to converge", naddr,
		added ? "joined" : "is a member already");
	if ((rc = converge(host, port, co, (int)(before + (size_t)added),
			   o->wait_ms, err)) != SP_OK ||
	    !o->replica)
		goto out;
	if ((rc = sp_stop_check(o->stop, "add-node",
				"after the join, before replicating",
				"run add-node again to finish", err)) != SP_OK)
		goto out;
	if (pi < 0 && (pi = neediest(&c, nhost, -1)) < 0) {
		rc = sp_seterr(err, SP_ERR_CLUSTER, "no reachable primary");
		goto out;
	}
	sp_logf(log, "replicate", "%s replicates %s", naddr, c.nodes[pi].addr);
	if ((rc = sp_node_replicate(nhost, nport, co, c.nodes[pi].id, deadline,
				    err)) != SP_OK ||
	    (rc = sp_wait_synced(nhost, nport, naddr, co, deadline + 30000,
				 err)) != SP_OK)
		goto out;
	rc = converge(host, port, co, (int)(before + (size_t)added), o->wait_ms,
		      err);
out:
	sp_cluster_free(&c);
	return rc;
}

/* The stop request between remove-node's steps (base/stop.h). */
static sp_err stopped(const sp_remove_opts *o, const char *where, sp_error *err)
{
	return sp_stop_check(o->mig.stop, "remove-node", where,
			     "run remove-node again to finish", err);
}

/* Closes slots an interrupted drain left open, then re-reads c. */
static sp_err close_then_regather(const char *host, int port,
				  const sp_remove_opts *o,
				  const sp_conn_opts *co, const sp_log *log,
				  sp_cluster *c, sp_error *err)
{
	sp_migrate_opts mig = o->mig;
	int fixed;
	sp_err rc;

	mig.conn = co;
	if ((rc =
		 sp_close_open_slots(host, port, co, &mig, log, &fixed, err)) ||
	    !fixed)
		return rc;
	sp_cluster_free(c);
	return sp_cluster_gather(host, port, co, c, err);
}

/* Moves every slot of primary `id` over all other primaries (weight 0). */
static sp_err drain(const sp_cluster *c, const char *id,
		    const sp_remove_opts *o, const sp_conn_opts *co,
		    const char *entry, sp_error *err)
{
	sp_opplan p = {0};
	sp_plan d = {0};
	sp_journal *j = NULL;
	sp_migrate_stats st;
	double *w = NULL;
	sp_run_opts ro = {.mig = o->mig,
			  .journal_dir = o->journal_dir,
			  .op = "remove",
			  .entry = entry};
	size_t i;
	int s, leaving = -1;
	sp_err rc;

	if ((rc = sp_opplan_from_cluster(c, &p, err)) != SP_OK)
		return rc;
	if ((w = calloc(p.nnodes, sizeof(*w))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (i = 0; i < p.nnodes; i++)
		if (strcmp(p.nodes[i].id, id) == 0)
			leaving = (int)i;
	for (s = 0; s < SP_SLOTS; s++)
		if (p.owners[s] >= 0 && p.owners[s] != leaving)
			w[p.owners[s]] = 1;
	sp_plan_input in = {
	    .nnodes = p.nnodes, .owner = p.owners, .node_weight = w};
	if ((rc = sp_plan_rebalance(&in, &d, err)) != SP_OK)
		goto out;
	p.moves = d.moves, p.nmoves = d.nmoves;
	d.moves = NULL, d.nmoves = 0;
	ro.mig.conn = co;
	rc = sp_run_plan(&p, &j, &ro, &st, err);
out:
	sp_journal_close(j);
	sp_plan_free(&d);
	sp_opplan_free(&p);
	free(w);
	return rc;
}

/* The first reachable node whose view still gives node id a slot, or
 * -1; the leaving node's own view first. */
static int still_maps(const sp_cluster *c, const char *id)
{
	int self = sp_cluster_find_id(c, id), k;
	size_t i;

	if (self >= 0 && c->nodes[self].reachable &&
	    (k = sp_view_find(&c->nodes[self].view, id)) >= 0 &&
	    c->nodes[self].view.nodes[k].nslots > 0)
		return self;
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].reachable &&
		    (k = sp_view_find(&c->nodes[i].view, id)) >= 0 &&
		    c->nodes[i].view.nodes[k].nslots > 0)
			return (int)i;
	return -1;
}

/*
 * After a drain, until no node maps a slot to the leaving node id any
 * more: a node told of the new owners only by gossip may lag, and a node
 * forgotten while a view still gives it a slot leaves that slot without
 * an owner there. SP_ERR_TRYAGAIN at once when the leaving node itself
 * still claims slots (the drain was planned from a view that missed
 * them): the caller drains again.
 */
static sp_err wait_released(const char *host, int port, const char *id,
			    const sp_remove_opts *o, const sp_conn_opts *co,
			    sp_error *err)
{
	long long deadline = sp_now_ms() + o->wait_ms;
	sp_cluster c = {0};
	sp_err rc = SP_OK;
	int at;

	for (;;) {
		if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
			return rc;
		at = still_maps(&c, id);
		if (at >= 0 && strcmp(c.nodes[at].id, id) == 0)
			rc = sp_seterr(err, SP_ERR_TRYAGAIN,
				       "%s still owns slots after its drain",
				       c.nodes[at].addr);
		else if (at >= 0 && sp_now_ms() > deadline)
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "%s still gives slots to %.8s after its "
				       "drain; run slotpilot remove-node again "
				       "once it agrees",
				       c.nodes[at].addr, id);
		sp_cluster_free(&c);
		if (at < 0 || rc != SP_OK)
			return rc;
		if ((rc = sp_wait_step(200,
				       "the drained node's slots to be "
				       "known elsewhere",
				       "run slotpilot remove-node again",
				       err)) != SP_OK)
			return rc;
	}
}

/* Drains node id, and again while it still claims slots afterwards (at
 * most 3 times), then waits until every view has let its slots go. */
static sp_err drain_released(const char *host, int port, sp_cluster *c,
			     const char *id, const sp_remove_opts *o,
			     const sp_conn_opts *co, const char *entry,
			     sp_error *err)
{
	sp_err rc;
	int n = 0;

	while ((rc = drain(c, id, o, co, entry, err)) == SP_OK &&
	       (rc = wait_released(host, port, id, o, co, err)) ==
		   SP_ERR_TRYAGAIN &&
	       ++n < 3) {
		sp_cluster_free(c);
		if ((rc = sp_cluster_gather(host, port, co, c, err)) != SP_OK)
			return rc;
	}
	if (rc == SP_ERR_TRYAGAIN) { /* never forget a node with slots */
		sp_error_prefix(err, "not forgetting it");
		rc = SP_ERR_CLUSTER;
	}
	return rc;
}

/* FORGET id on every reachable node but `skip`; 1 when none knows it. */
static int forget_round(const sp_cluster *c, const char *id, int skip,
			const sp_conn_opts *co)
{
	size_t i;
	int known = 0;

	for (i = 0; i < c->nnodes; i++) {
		sp_conn *conn = NULL;
		if ((int)i == skip || !c->nodes[i].reachable ||
		    sp_view_find(&c->nodes[i].view, id) < 0)
			continue;
		known = 1;
		if (sp_conn_open(c->nodes[i].host, c->nodes[i].port, co, &conn,
				 NULL) == SP_OK)
			sp_conn_cmd(conn, NULL, NULL, "CLUSTER FORGET %s", id);
		sp_conn_close(conn);
	}
	return !known;
}

/*
 * FORGET everywhere, retire the node, and repeat until no node knows it.
 * A forgotten node is blacklisted for 60 s only, so a node still running
 * could gossip its way back: it is reset or shut down right after.
 */
static sp_err forget(const char *host, int port, const char *id,
		     const sp_node_state *n, const sp_remove_opts *o,
		     const sp_conn_opts *co, sp_error *err)
{
	long long deadline = sp_now_ms() + o->wait_ms;
	int retired = 0, done = 0;
	sp_cluster c = {0};
	sp_conn *conn = NULL;
	sp_err rc;

	while (!done) {
		if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
			return rc;
		done = forget_round(&c, id, sp_cluster_find_id(&c, id), co);
		sp_cluster_free(&c);
		if (!retired && n->reachable && o->retire != SP_RETIRE_NONE &&
		    sp_conn_open(n->host, n->port, co, &conn, NULL) == SP_OK) {
			sp_conn_cmd(conn, NULL, NULL,
				    o->retire == SP_RETIRE_SHUTDOWN
					? "SHUTDOWN NOSAVE"
					: "CLUSTER RESET HARD");
			sp_conn_close(conn);
			conn = NULL;
		}
		retired = 1;
		if (!done && sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "some node still knows %.8s after "
					 "FORGET",
					 id);
		if (!done)
			sp_sleep_ms(200);
	}
	return SP_OK;
}

/* Slots the entry node's view gives to node id. */
static int slots_of(const sp_cluster *c, const char *id)
{
	int k = sp_view_find(&c->nodes[0].view, id);

	return k < 0 ? 0 : c->nodes[0].view.nodes[k].nslots;
}

/* 1 when view v says id is a primary and, if old is given, that old
 * now replicates id. */
static int swapped(const sp_view *v, const char *id, const char *old)
{
	int k = sp_view_find(v, id), o = old ? sp_view_find(v, old) : -1;

	if (k < 0 || !(v->nodes[k].flags & SP_NF_MASTER))
		return 0;
	return old == NULL || o < 0 || (v->nodes[o].flags & SP_NF_FAIL) ||
	       strcmp(v->nodes[o].master_id, id) == 0;
}

/* Waits until every reachable node's view says id is a primary and old
 * (if not NULL) its replica. */
static sp_err wait_role(const char *host, int port, const char *id,
			const char *old, const sp_conn_opts *co, int wait_ms,
			sp_error *err)
{
	long long deadline = sp_now_ms() + wait_ms;
	sp_cluster c = {0};
	size_t i;
	int ok;
	sp_err rc;

	for (;;) {
		if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
			return rc;
		for (i = 0, ok = 1; i < c.nnodes && ok; i++)
			if (c.nodes[i].reachable)
				ok = swapped(&c.nodes[i].view, id, old);
		sp_cluster_free(&c);
		if (ok)
			return SP_OK;
		if (sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "the failover to %.8s did not "
					 "complete in time",
					 id);
		if ((rc = sp_wait_step(100, "the failover to complete",
				       "it goes on alone; check the roles",
				       err)) != SP_OK)
			return rc;
	}
}

typedef struct idlist {
	char id[64][SP_ID_LEN + 1];
	int n;
} idlist;

/*
 * Re-homes (or, with_replicas, removes) the replicas that followed the
 * leaving primary when the removal began. They are listed before the
 * drain: Redis 7 moves an emptied primary's replicas to the node that
 * took its last slot, so afterwards they no longer point at it.
 */
static sp_err rehome(const char *host, int port, const char *id,
		     const idlist *reps, const sp_remove_opts *o,
		     const sp_conn_opts *co, const sp_log *log, sp_removed *out,
		     sp_error *err)
{
	long long deadline = sp_now_ms() + o->wait_ms;
	sp_remove_opts ro = *o;
	sp_cluster c = {0};
	sp_err rc = SP_OK;
	int k, to, ri;

	ro.force = 1;
	ro.with_replicas = 0;
	for (k = 0; k < reps->n && rc == SP_OK; k++) {
		if ((rc = stopped(o, "while re-homing replicas", err)) != SP_OK)
			break;
		if (o->with_replicas) {
			rc = sp_remove_node(host, port, reps->id[k], &ro, co,
					    log, out, err);
			continue;
		}
		if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
			break;
		ri = sp_cluster_find_id(&c, reps->id[k]);
		to = ri < 0 ? -1
			    : neediest(&c, c.nodes[ri].host,
				       sp_cluster_find_id(&c, id));
		if (ri >= 0 && to >= 0 && c.nodes[ri].reachable) {
			sp_node_state *r = &c.nodes[ri];
			sp_logf(log, "rehome", "replica %s now replicates %s",
				r->addr, c.nodes[to].addr);
			if ((rc = sp_node_replicate(r->host, r->port, co,
						    c.nodes[to].id, deadline,
						    err)) == SP_OK)
				rc = sp_wait_synced(r->host, r->port, r->addr,
						    co, deadline + 30000, err);
		}
		sp_cluster_free(&c);
	}
	return rc;
}

/* What must hold before anything changes; SP_OK if the removal may go. */
static sp_err may_remove(const sp_cluster *c, int i, const sp_remove_opts *o,
			 const sp_conn_opts *co, sp_error *err)
{
	const sp_node *l = line_of(c, i);
	int prim = 0, k, reps[64], p, n, counted;

	if (l == NULL)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "%s: no view describes it", c->nodes[i].addr);
	if (l->flags & SP_NF_MASTER) {
		for (k = 0; (size_t)k < c->nnodes; k++)
			prim +=
			    k != i && is_primary(c, k) && c->nodes[k].reachable;
		if (prim == 0)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "%s is the last primary: it cannot "
					 "be removed",
					 c->nodes[i].addr);
		return SP_OK;
	}
	p = sp_cluster_find_id(c, l->master_id);
	if (o->force || p < 0 || !c->nodes[p].reachable)
		return SP_OK;
	/* Only a removal that lowers the healthy replicas below the barrier
	 * is refused: a dead replica, or one we cannot reach (killed a
	 * moment ago, before any peer flags it), is not counted and can
	 * always go. */
	n = replicas_of(c, l->master_id, reps, 64);
	for (k = 0, counted = 0; k < n; k++)
		counted |= reps[k] == i && c->nodes[i].reachable;
	if (counted &&
	    n - 1 < sp_config_get_ll(c->nodes[p].host, c->nodes[p].port, co,
				     "cluster-migration-barrier", 1))
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "removing %s would leave its primary %s "
				 "with fewer replicas than "
				 "cluster-migration-barrier (use --force)",
				 c->nodes[i].addr, c->nodes[p].addr);
	return SP_OK;
}

/* A dead primary that still owns slots is refused, with what to run. */
static sp_err dead_owner(const sp_cluster *c, const char *id,
			 const sp_node_state *leaving, sp_error *err)
{
	if (leaving->reachable || slots_of(c, id) == 0)
		return SP_OK;
	return sp_seterr(err, SP_ERR_CLUSTER,
			 "%s is unreachable and still owns %d slots: wait for "
			 "its replica to take over (or run slotpilot failover "
			 "on it), or, if it is gone for good, slotpilot fix "
			 "--with-unreachable %s, before removing it",
			 leaving->addr, slots_of(c, id), leaving->addr);
}

sp_err sp_remove_node(const char *host, int port, const char *name,
		      const sp_remove_opts *o, const sp_conn_opts *co,
		      const sp_log *log, sp_removed *out, sp_error *err)
{
	char id[SP_ID_LEN + 1], np[SP_ADDR_MAX];
	sp_node_state leaving;
	sp_cluster c = {0};
	idlist reps;
	int i, k, idx[64], primary;
	sp_err rc;

	if ((rc = sp_gather_knowing(host, port, co, &name, 1, o->wait_ms, &c,
				    err)) != SP_OK)
		return rc;
	if ((rc = sp_find_node(&c, name, &i, err)) != SP_OK ||
	    (rc = may_remove(&c, i, o, co, err)) != SP_OK ||
	    (rc = stopped(o, "before it began", err)) != SP_OK)
		goto out;
	snprintf(id, sizeof(id), "%s", c.nodes[i].id);
	reps.n = replicas_of(&c, id, idx, 64);
	for (k = 0; k < reps.n; k++)
		snprintf(reps.id[k], sizeof(reps.id[k]), "%s",
			 c.nodes[idx[k]].id);
	leaving = c.nodes[i];
	memset(&leaving.view, 0, sizeof(leaving.view));
	primary = (line_of(&c, i)->flags & SP_NF_MASTER) != 0;
	if (primary && o->failover_first && leaving.reachable &&
	    sp_failover(host, port, id, co, o->wait_ms, o->mig.stop, np, err) ==
		SP_OK) {
		sp_logf(log, "failover", "%s handed its role to %s",
			leaving.addr, np);
		primary = 0;
	}
	if ((primary && (rc = dead_owner(&c, id, &leaving, err)) != SP_OK) ||
	    (primary && slots_of(&c, id) > 0 &&
	     (rc = close_then_regather(host, port, o, co, log, &c, err))) ||
	    (rc = stopped(o, "before draining", err)) != SP_OK)
		goto out;
	if (primary && slots_of(&c, id) > 0) {
		sp_logf(log, "drain", "draining %s over the other primaries",
			leaving.addr);
		if ((rc = drain_released(host, port, &c, id, o, co, name,
					 err)) != SP_OK)
			goto out;
	}
	if ((primary && (rc = rehome(host, port, id, &reps, o, co, log, out,
				     err)) != SP_OK) ||
	    (rc = stopped(o, "before forgetting it", err)) != SP_OK)
		goto out;
	sp_logf(log, "forget", "forgetting %s on every node", leaving.addr);
	/* A foreign node answers at the member's address now: the member is
	 * forgotten, the stranger is never handed to a deprovisioner. */
	if ((rc = forget(host, port, id, &leaving, o, co, err)) == SP_OK &&
	    out->n < 8 && !leaving.foreign)
		snprintf(out->addr[out->n++], SP_ADDR_MAX, "%s", leaving.addr);
out:
	sp_cluster_free(&c);
	return rc;
}

sp_err sp_failover(const char *host, int port, const char *name,
		   const sp_conn_opts *co, int wait_ms,
		   volatile sig_atomic_t *stop, char *new_primary,
		   sp_error *err)
{
	int i, reps[64], n, k, r = -1;
	sp_cluster c = {0};
	sp_conn *conn = NULL;
	sp_err rc;

	if ((rc = sp_gather_knowing(host, port, co, &name, 1, wait_ms, &c,
				    err)) != SP_OK)
		return rc;
	if ((rc = sp_find_node(&c, name, &i, err)) != SP_OK)
		goto out;
	if (!is_primary(&c, i)) {
		r = i;
	} else {
		n = replicas_of(&c, c.nodes[i].id, reps, 64);
		for (k = 0; k < n; k++)
			if (c.nodes[reps[k]].reachable &&
			    c.nodes[reps[k]].master_link_up &&
			    (r < 0 || c.nodes[reps[k]].repl_offset >
					  c.nodes[r].repl_offset))
				r = reps[k];
	}
	if (r < 0 || !c.nodes[r].reachable) {
		rc = sp_seterr(err, SP_ERR_CLUSTER,
			       "%s has no reachable, linked replica to fail "
			       "over to",
			       c.nodes[i].addr);
		goto out;
	}
	if ((rc = sp_stop_check(stop, "failover", "before it began", "",
				err)) != SP_OK ||
	    (rc = sp_conn_open(c.nodes[r].host, c.nodes[r].port, co, &conn,
			       err)) != SP_OK ||
	    ((rc = sp_conn_cmd(conn, NULL, err, "CLUSTER FAILOVER")) != SP_OK &&
	     /* promoted since the gather (its own failover): wait_role
	      * checks it took its primary's place */
	     strstr(err->msg, "to a replica") == NULL))
		goto out;
	snprintf(new_primary, SP_ADDR_MAX, "%s", c.nodes[r].addr);
	rc = wait_role(host, port, c.nodes[r].id, line_of(&c, r)->master_id, co,
		       wait_ms, err);
out:
	sp_conn_close(conn);
	sp_cluster_free(&c);
	return rc;
}
