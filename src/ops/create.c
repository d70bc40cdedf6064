/*
 * create.c - plan and run the bootstrap of a new cluster.
 */
#include "ops/create.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/stop.h"
#include "cluster/converge.h"
#include "ops/join.h"

static int by_host_count(const sp_create_plan *p, const char *host)
{
	int c = 0;
	size_t i;

	for (i = 0; i < p->n; i++)
		c += strcmp(p->nodes[i].host, host) == 0;
	return c;
}

/* 1 if host appears among the first k entries of picked. */
static int host_in(const sp_create_node *nodes, const int *picked, size_t k,
		   const char *host)
{
	size_t j;

	for (j = 0; j < k; j++)
		if (strcmp(nodes[picked[j]].host, host) == 0)
			return 1;
	return 0;
}

/*
 * Orders the nodes by interleaving hosts: each pass takes the first unused
 * node of every host, so the first nprimaries span as many hosts as
 * possible (what redis-cli does too).
 */
static sp_err interleave(sp_create_plan *p, sp_error *err)
{
	sp_create_node *out = calloc(p->n, sizeof(*out));
	int *used = calloc(p->n, sizeof(*used));
	int *pass = calloc(p->n, sizeof(*pass));
	size_t k = 0, i, inpass;
	sp_err rc = SP_OK;

	if (out == NULL || used == NULL || pass == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto done;
	}
	while (k < p->n) {
		inpass = 0;
		for (i = 0; i < p->n; i++) {
			if (used[i] ||
			    host_in(p->nodes, pass, inpass, p->nodes[i].host))
				continue;
			pass[inpass++] = (int)i;
			used[i] = 1;
			out[k++] = p->nodes[i];
		}
	}
	memcpy(p->nodes, out, p->n * sizeof(*out));
done:
	free(out);
	free(used);
	free(pass);
	return rc;
}

/* Number of nodes planned as replicas of primary pi. */
static int replicas_of(const sp_create_plan *p, int pi)
{
	int c = 0;
	size_t i;

	for (i = 0; i < p->n; i++)
		c += p->nodes[i].primary_of == pi;
	return c;
}

/*
 * Picks an unassigned node for primary pi: one on another host if any
 * (from the host with the most nodes, so scarce hosts stay available),
 * else the first unassigned one. Returns -1 when none is left.
 */
static int pick_replica(const sp_create_plan *p, int pi, const int *taken)
{
	const char *phost = p->nodes[pi].host;
	int same = -1, other = -1, other_count = -1;
	size_t i;

	for (i = (size_t)p->nprimaries; i < p->n; i++) {
		int c;
		if (taken[i])
			continue;
		if (strcmp(p->nodes[i].host, phost) == 0) {
			if (same < 0)
				same = (int)i;
			continue;
		}
		c = by_host_count(p, p->nodes[i].host);
		if (c > other_count)
			other = (int)i, other_count = c;
	}
	return other >= 0 ? other : same;
}

/*
 * Replica placement as a bipartite matching: the seats (primary i's k-th
 * replica) on one side, the unassigned nodes on the other, an edge where
 * the node's host differs from the primary's. A maximum matching (Kuhn's
 * augmenting paths) puts every replica on another host whenever such a
 * placement exists, which the greedy choice does not (three hosts with a
 * primary and a spare each: the last primary is left with its own host's
 * spare unless the replicas rotate by one host).
 */
typedef struct seats {
	const sp_create_plan *p;
	int nseats;   /* nprimaries * replicas */
	int *node_of; /* seat -> node index, or -1 */
	int *seat_of; /* node index -> seat, or -1 */
	int *seen;    /* node index -> visit stamp */
	int stamp;
} seats;

static int seat_primary(const seats *st, int seat)
{
	return seat % st->p->nprimaries;
}

static int ok_edge(const seats *st, int seat, int node)
{
	return strcmp(st->p->nodes[node].host,
		      st->p->nodes[seat_primary(st, seat)].host) != 0;
}

static int augment(seats *st, int seat)
{
	size_t i;

	for (i = (size_t)st->p->nprimaries; i < st->p->n; i++) {
		int v = (int)i;
		if (st->seen[v] == st->stamp || !ok_edge(st, seat, v))
			continue;
		st->seen[v] = st->stamp;
		if (st->seat_of[v] < 0 || augment(st, st->seat_of[v])) {
			st->seat_of[v] = seat;
			st->node_of[seat] = v;
			return 1;
		}
	}
	return 0;
}

static void seats_free(seats *st)
{
	free(st->node_of);
	free(st->seat_of);
	free(st->seen);
}

/* Fills seats; 0, or -1 when out of memory. */
static int match_seats(const sp_create_plan *p, seats *st)
{
	int s;

	st->p = p;
	st->nseats = p->nprimaries * p->replicas;
	st->node_of = malloc(((size_t)st->nseats + 1) * sizeof(int));
	st->seat_of = malloc(p->n * sizeof(int));
	st->seen = calloc(p->n, sizeof(int));
	st->stamp = 0;
	if (st->node_of == NULL || st->seat_of == NULL || st->seen == NULL) {
		seats_free(st);
		st->node_of = st->seat_of = st->seen = NULL;
		return -1;
	}
	for (s = 0; s < st->nseats; s++)
		st->node_of[s] = -1;
	memset(st->seat_of, 0xff, p->n * sizeof(int));
	for (s = 0; s < st->nseats; s++) {
		st->stamp++;
		augment(st, s);
	}
	return 0;
}

/* The primary with the fewest replicas so far (the first on ties). */
static int neediest_primary(const sp_create_plan *p)
{
	int best = 0, i;

	for (i = 1; i < p->nprimaries; i++)
		if (replicas_of(p, i) < replicas_of(p, best))
			best = i;
	return best;
}

static void assign(sp_create_plan *p, int *taken)
{
	int per = 16384 / p->nprimaries, extra = 16384 % p->nprimaries;
	int first = 0, i, seat, r;
	seats st = {0};
	size_t left;

	for (i = 0; i < p->nprimaries; i++) {
		int size = per + (i < extra);
		taken[i] = 1;
		p->nodes[i].primary_of = -1;
		p->nodes[i].first_slot = first;
		p->nodes[i].last_slot = first + size - 1;
		first += size;
	}
	for (i = p->nprimaries; (size_t)i < p->n; i++)
		p->nodes[i].primary_of = -1, p->nodes[i].first_slot = -1,
		p->nodes[i].last_slot = -1;
	/* Seats matched to nodes on other hosts first; a seat no such node
	 * can fill takes whatever is left (and shares its primary's host). */
	if (match_seats(p, &st) == 0)
		for (seat = 0; seat < st.nseats; seat++)
			if ((r = st.node_of[seat]) >= 0)
				taken[r] = 1, p->nodes[r].primary_of =
						  seat_primary(&st, seat);
	for (seat = 0; seat < st.nseats; seat++) {
		if (st.node_of != NULL && st.node_of[seat] >= 0)
			continue;
		i = seat % p->nprimaries;
		if ((r = pick_replica(p, i, taken)) < 0)
			break;
		taken[r] = 1;
		p->nodes[r].primary_of = i;
	}
	seats_free(&st);
	/* Nodes beyond primaries * (1 + replicas) become extra replicas. */
	for (left = 0; left < p->n; left++) {
		i = neediest_primary(p);
		if ((r = pick_replica(p, i, taken)) < 0)
			return;
		taken[r] = 1;
		p->nodes[r].primary_of = i;
	}
}

sp_err sp_create_plan_make(const char *const *addrs, size_t n, int replicas,
			   sp_create_plan *out, sp_error *err)
{
	int *taken = NULL;
	sp_err rc;
	size_t i, j;

	memset(out, 0, sizeof(*out));
	if (replicas < 0 || replicas > 16)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--replicas must be from 0 to 16");
	if (n < (size_t)3 * (replicas + 1))
		return sp_seterr(err, SP_ERR_USAGE,
				 "%zu nodes are too few: 3 primaries with %d "
				 "replicas each need %d",
				 n, replicas, 3 * (replicas + 1));
	if ((out->nodes = calloc(n, sizeof(*out->nodes))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	out->n = n;
	out->replicas = replicas;
	out->nprimaries = (int)(n / (size_t)(replicas + 1));
	for (i = 0; i < n; i++) {
		sp_create_node *nd = &out->nodes[i];
		if ((rc = sp_parse_hostport(addrs[i], nd->host, &nd->port,
					    err)) != SP_OK)
			goto fail;
		sp_format_addr(nd->addr, sizeof(nd->addr), nd->host, nd->port);
		for (j = 0; j < i; j++)
			if (strcmp(out->nodes[j].addr, nd->addr) == 0) {
				rc = sp_seterr(err, SP_ERR_USAGE,
					       "node %s is listed twice",
					       nd->addr);
				goto fail;
			}
	}
	if ((rc = interleave(out, err)) != SP_OK)
		goto fail;
	if ((taken = calloc(n, sizeof(*taken))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto fail;
	}
	assign(out, taken);
	free(taken);
	return SP_OK;
fail:
	sp_create_plan_free(out);
	return rc;
}

void sp_create_plan_free(sp_create_plan *p)
{
	if (p == NULL)
		return;
	free(p->nodes);
	memset(p, 0, sizeof(*p));
}

void sp_create_plan_print(const sp_create_plan *p, FILE *f)
{
	size_t j;
	int k, shared;

	fprintf(f, "Create a cluster of %d primaries and %zu replicas:\n",
		p->nprimaries, p->n - (size_t)p->nprimaries);
	for (k = 0; k < p->nprimaries; k++) {
		const sp_create_node *nd = &p->nodes[k];
		fprintf(f, "  primary %-22s slots %d-%d (%d)\n", nd->addr,
			nd->first_slot, nd->last_slot,
			nd->last_slot - nd->first_slot + 1);
		for (j = 0; j < p->n; j++)
			if (p->nodes[j].primary_of == k)
				fprintf(f, "    replica %s%s\n",
					p->nodes[j].addr,
					strcmp(p->nodes[j].host, nd->host) == 0
					    ? "  (same host as its primary)"
					    : "");
	}
	if ((shared = sp_create_shared_hosts(p)) > 0)
		fprintf(f,
			"warning: %d replica%s share%s a host with %s primary: "
			"no placement of these nodes avoids it\n",
			shared, shared == 1 ? "" : "s", shared == 1 ? "s" : "",
			shared == 1 ? "its" : "their");
}

int sp_create_shared_hosts(const sp_create_plan *p)
{
	int n = 0;
	size_t j;

	for (j = 0; j < p->n; j++)
		n += p->nodes[j].primary_of >= 0 &&
		     strcmp(p->nodes[j].host,
			    p->nodes[p->nodes[j].primary_of].host) == 0;
	return n;
}

sp_err sp_create_preflight(sp_create_plan *p, const sp_conn_opts *opts,
			   sp_error *err)
{
	char why[SP_ERRMSG_MAX], all[SP_ERRMSG_MAX] = "";
	size_t i, j, used = 0;
	sp_err rc;

	for (i = 0; i < p->n; i++) {
		sp_create_node *nd = &p->nodes[i];
		if ((rc = sp_node_inspect(nd->host, nd->port, nd->addr, opts,
					  nd->id, why, sizeof(why), err)))
			return rc;
		if (why[0] != '\0' && used < sizeof(all))
			used += (size_t)snprintf(all + used, sizeof(all) - used,
						 "%s%s", used ? "; " : "", why);
		for (j = 0; j < i; j++)
			if (strcmp(p->nodes[j].id, p->nodes[i].id) == 0)
				return sp_seterr(err, SP_ERR_USAGE,
						 "%s and %s are the same node",
						 p->nodes[j].addr,
						 p->nodes[i].addr);
	}
	if (all[0] != '\0')
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "cannot create a cluster: %s "
				 "(create needs empty, cluster-enabled nodes)",
				 all);
	return SP_OK;
}

/* Runs one command on the node at index i of the plan. */
static sp_err on_node(const sp_create_node *nd, const sp_conn_opts *opts,
		      sp_error *err, const char *fmt, const char *a1,
		      long long n1, long long n2)
{
	sp_conn *c = NULL;
	sp_err rc;

	if ((rc = sp_conn_open(nd->host, nd->port, opts, &c, err)) != SP_OK)
		return rc;
	if (a1 != NULL)
		rc = sp_conn_cmd(c, NULL, err, fmt, a1, n1);
	else
		rc = sp_conn_cmd(c, NULL, err, fmt, n1, n2);
	sp_conn_close(c);
	return rc;
}

/* 1 when node nd knows n nodes, none of them still in handshake. */
static int knows_all(const sp_create_node *nd, const sp_conn_opts *opts,
		     size_t n)
{
	redisReply *r = NULL;
	sp_view v = {0};
	sp_conn *c = NULL;
	size_t i, ok = 0;

	if (sp_conn_open(nd->host, nd->port, opts, &c, NULL) != SP_OK)
		return 0;
	if (sp_conn_cmd(c, &r, NULL, "CLUSTER NODES") == SP_OK &&
	    r->type == REDIS_REPLY_STRING &&
	    sp_view_parse(&v, r->str, r->len, NULL) == SP_OK)
		for (i = 0; i < v.nnodes; i++)
			ok += !(v.nodes[i].flags & SP_NF_HANDSHAKE);
	sp_view_free(&v);
	freeReplyObject(r);
	sp_conn_close(c);
	return ok == n;
}

static sp_err wait_met(const sp_create_plan *p, const sp_conn_opts *opts,
		       long long deadline, sp_error *err)
{
	sp_err rc;
	size_t i;

	for (;;) {
		for (i = 0; i < p->n; i++)
			if (!knows_all(&p->nodes[i], opts, p->n))
				break;
		if (i == p->n)
			return SP_OK;
		if (sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "%s does not know all %zu nodes yet "
					 "(gossip did not converge in time)",
					 p->nodes[i].addr, p->n);
		if ((rc = sp_wait_step(100, "gossip to join the nodes",
				       "check it, then attach replicas with "
				       "slotpilot add-node --replica",
				       err)) != SP_OK)
			return rc;
	}
}

enum replica_step {
	ATTACH, /* REPLICATE, retried while it does not know its primary */
	SYNCED	/* wait until it has finished its first sync */
};

/* Runs one step on every replica of the plan, in order; stops at the
 * first error. */
static sp_err each_replica(const sp_create_plan *p, const sp_conn_opts *opts,
			   enum replica_step step, long long deadline,
			   sp_error *err)
{
	size_t i;
	sp_err rc;

	for (i = 0; i < p->n; i++) {
		const sp_create_node *nd = &p->nodes[i];
		if (nd->primary_of < 0)
			continue;
		rc = step == ATTACH
			 ? sp_node_replicate(nd->host, nd->port, opts,
					     p->nodes[nd->primary_of].id,
					     deadline, err)
			 : sp_wait_synced(nd->host, nd->port, nd->addr, opts,
					  deadline, err);
		if (rc != SP_OK)
			return rc;
	}
	return SP_OK;
}

sp_err sp_create_run(const sp_create_plan *p, const sp_conn_opts *opts,
		     int wait_ms, volatile sig_atomic_t *stop,
		     const sp_log *log, sp_error *err)
{
	long long deadline = sp_now_ms() + wait_ms;
	sp_check_opts copts = sp_check_defaults();
	char ip[SP_HOST_MAX];
	int bus = 0;
	sp_err rc;
	size_t i;

	if ((rc = sp_stop_check(stop, "create", "before anything changed", "",
				err)) != SP_OK)
		return rc;
	sp_logf(log, "assign", "Assigning slots to %d primaries",
		p->nprimaries);
	for (i = 0; i < (size_t)p->nprimaries; i++)
		if ((rc = on_node(&p->nodes[i], opts, err,
				  "CLUSTER ADDSLOTSRANGE %lld %lld", NULL,
				  p->nodes[i].first_slot,
				  p->nodes[i].last_slot)) != SP_OK)
			return rc;
	/* Distinct epochs up front, so no collision has to be resolved. */
	for (i = 0; i < p->n; i++)
		if ((rc = on_node(&p->nodes[i], opts, err,
				  "CLUSTER SET-CONFIG-EPOCH %lld", NULL,
				  (long long)i + 1, 0)) != SP_OK)
			return rc;
	if ((rc = sp_resolve_ip(p->nodes[0].host, ip, sizeof(ip), err)) ||
	    (rc = sp_node_bus_port(p->nodes[0].host, p->nodes[0].port, opts,
				   &bus, err)))
		return rc;
	sp_logf(log, "meet", "Joining %zu nodes through %s", p->n,
		p->nodes[0].addr);
	for (i = 1; i < p->n; i++)
		if ((rc = sp_node_meet(p->nodes[i].host, p->nodes[i].port, opts,
				       ip, p->nodes[0].port, bus, err)) !=
		    SP_OK)
			return rc;
	if ((rc = wait_met(p, opts, deadline, err)) != SP_OK ||
	    (rc = sp_stop_check(stop, "create",
				"once the primaries formed the cluster",
				"attach replicas with slotpilot add-node "
				"--replica",
				err)) != SP_OK)
		return rc;
	sp_logf(log, "replicate", "Attaching replicas");
	if ((rc = each_replica(p, opts, ATTACH, deadline, err)) != SP_OK)
		return rc;
	sp_logf(log, "wait", "Waiting for the cluster to converge");
	copts.expect_nodes = (int)p->n;
	copts.expect_primaries = p->nprimaries;
	copts.min_replicas = p->replicas;
	wait_ms = (int)(deadline - sp_now_ms());
	if ((rc = sp_wait_healthy(p->nodes[0].host, p->nodes[0].port, opts,
				  &copts, wait_ms > 1000 ? wait_ms : 1000, 200,
				  NULL, err)) != SP_OK)
		return rc;
	sp_logf(log, "sync", "Waiting for replicas to finish their first sync");
	return each_replica(p, opts, SYNCED, deadline + 30000, err);
}
