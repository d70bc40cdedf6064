/*
 * check_nodes.c - the health rules about the nodes: every node answers,
 * reports cluster_state:ok, is known to every other, fails in no view
 * (not even "fail?"), has left handshake, has the role every view gives
 * it and a config epoch of its own, and the counts match what was asked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/roster.h"

/* Why n did not answer, without the "addr: " its message may start with. */
static const char *unreachable_why(const sp_node_state *n)
{
	size_t alen = strlen(n->addr);

	if (n->err_msg[0] == '\0')
		return sp_strerror(n->err_code);
	if (strncmp(n->err_msg, n->addr, alen) == 0 &&
	    strncmp(n->err_msg + alen, ": ", 2) == 0)
		return n->err_msg + alen + 2;
	return n->err_msg;
}

sp_err sp_rule_unreachable(check_ctx *x)
{
	size_t i;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++) {
		const sp_node_state *n = &x->c->nodes[i];

		if (n->reachable)
			continue;
		rc = sp_findings_add(
		    x->out, n->foreign ? "foreign" : "unreachable", SP_SEV_ERR,
		    -1, n->addr, "%s did not answer%s: %s", n->addr,
		    n->foreign ? " as itself" : "", unreachable_why(n));
	}
	return rc;
}

sp_err sp_rule_state(check_ctx *x)
{
	size_t i;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++) {
		const sp_node_state *n = &x->c->nodes[i];

		if (!n->reachable || n->state_ok)
			continue;
		rc = sp_findings_add(
		    x->out, "state-not-ok", SP_SEV_ERR, -1, n->addr,
		    "%s reports cluster_state other than ok "
		    "(%lld slots assigned, %lld pfail, %lld "
		    "fail)",
		    n->addr, n->slots_assigned, n->slots_pfail, n->slots_fail);
	}
	return rc;
}

/* Lists the reachable views whose bits for member mb match (or, with
 * want == 0, lack) mask; returns how many. */
static int views_with(const check_ctx *x, const member *mb, unsigned mask,
		      int want, namelist *nl)
{
	size_t i, k = (size_t)(mb - x->m);
	int n = 0;

	for (i = 0; i < x->c->nnodes; i++) {
		if (!x->c->nodes[i].reachable ||
		    ((x->seen[AT(x, i, k)] & mask) != 0) != want)
			continue;
		sp_namelist_add(nl, x->c->nodes[i].addr);
		n++;
	}
	return n;
}

sp_err sp_rule_membership(check_ctx *x)
{
	size_t k;
	sp_err rc = SP_OK;

	for (k = 0; k < x->nm && rc == SP_OK; k++) {
		const member *mb = x->byaddr[k];
		namelist nl = {0};
		int n;

		/* listed by every reachable view: nothing to name */
		if (mb->nknown == 0 || (size_t)mb->nviews >= x->nreach)
			continue;
		n = views_with(x, mb, K_KNOWN | K_NOADDR, 0, &nl);
		if (n > 0)
			rc = sp_findings_add(
			    x->out, "membership-disagree", SP_SEV_ERR, -1,
			    mb->addr,
			    "%s (%s) is unknown to %d of %zu reachable nodes: "
			    "%s",
			    mb->addr, mb->id, n, x->nreach,
			    sp_namelist_str(&nl));
	}
	return rc;
}

/* One finding for a member some views flag with `bit`. */
static sp_err report_flagged(check_ctx *x, const member *mb, unsigned bit)
{
	namelist nl = {0};
	int n = views_with(x, mb, bit, 1, &nl);

	if (bit == K_FAIL)
		return sp_findings_add(
		    x->out, "node-fail", SP_SEV_ERR, -1, mb->addr,
		    "%s is flagged fail by %d node%s: %s", mb->addr, n,
		    sp_plural(n), sp_namelist_str(&nl));
	return sp_findings_add(x->out, "node-pfail", SP_SEV_ERR, -1, mb->addr,
			       "%s is flagged fail? (pfail) by %d node%s: %s",
			       mb->addr, n, sp_plural(n), sp_namelist_str(&nl));
}

/* Both "fail" and "fail?" are errors: a check that passes while a node
 * is suspected would let a migration start into a failover. */
sp_err sp_rule_failing(check_ctx *x)
{
	size_t k;
	sp_err rc = SP_OK;

	for (k = 0; k < x->nm && rc == SP_OK; k++) {
		const member *mb = x->byaddr[k];

		if (mb->nfail > 0)
			rc = report_flagged(x, mb, K_FAIL);
		if (rc == SP_OK && mb->npfail > 0)
			rc = report_flagged(x, mb, K_PFAIL);
	}
	return rc;
}

/* Whether v has a line in handshake (the lines are read only when it
 * does, or when sp_view_parse did not count them). */
static int any_handshake(const sp_view *v)
{
	size_t j;

	if (v->byid != NULL) /* parsed: counted */
		return v->nhandshake > 0;
	for (j = 0; j < v->nnodes; j++)
		if (v->nodes[j].flags & SP_NF_HANDSHAKE)
			return 1;
	return 0;
}

sp_err sp_rule_handshake(check_ctx *x)
{
	char addr[SP_ADDR_MAX];
	size_t i, j;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++) {
		const sp_node_state *n = &x->c->nodes[i];
		namelist nl = {0};

		if (!n->reachable || !any_handshake(&n->view))
			continue;
		for (j = 0; j < n->view.nnodes; j++) {
			if (sp_on_roster(&n->view.nodes[j]))
				continue;
			sp_line_addr(&n->view.nodes[j], addr, sizeof(addr));
			sp_namelist_add(&nl, addr);
		}
		if (nl.n + nl.more > 0)
			rc = sp_findings_add(
			    x->out, "handshake", SP_SEV_WARN, -1, n->addr,
			    "%s is still in handshake with %d node%s: %s",
			    n->addr, nl.n + nl.more, sp_plural(nl.n + nl.more),
			    sp_namelist_str(&nl));
	}
	return rc;
}

typedef struct epoch_of {
	unsigned long long epoch;
	const char *addr;
} epoch_of;

static int cmp_epoch(const void *a, const void *b)
{
	const epoch_of *x = a, *y = b;

	if (x->epoch != y->epoch)
		return x->epoch < y->epoch ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

/* Reports each run of equal epochs in the sorted array e[0..n). */
static sp_err report_epochs(check_ctx *x, const epoch_of *e, size_t n)
{
	size_t a = 0, b;
	sp_err rc = SP_OK;

	while (a < n && rc == SP_OK) {
		namelist nl = {0};

		for (b = a; b < n && e[b].epoch == e[a].epoch; b++)
			sp_namelist_add(&nl, e[b].addr);
		if (b - a > 1)
			rc = sp_findings_add(x->out, "epoch-collision",
					     SP_SEV_ERR, -1, e[a].addr,
					     "primaries %s share config epoch "
					     "%llu",
					     sp_namelist_str(&nl), e[a].epoch);
		a = b;
	}
	return rc;
}

/*
 * Only primaries that own slots: the epoch decides who wins a slot both
 * claim. A primary without slots is routinely at epoch 0 after add-node
 * (several at once while the cluster grows) and the server bumps it when
 * it first takes a slot, so flagging it would only be noise.
 */
sp_err sp_rule_epochs(check_ctx *x)
{
	epoch_of *e = NULL;
	size_t i, n = 0;
	sp_err rc = SP_ERR_OOM;

	if (x->c->nnodes == 0)
		return SP_OK;
	if ((e = calloc(x->c->nnodes, sizeof(*e))) == NULL)
		goto out;
	for (i = 0; i < x->c->nnodes; i++) {
		const sp_node_state *st = &x->c->nodes[i];
		const sp_node *self =
		    st->reachable ? sp_view_self(&st->view) : NULL;

		if (self == NULL || !sp_node_is_primary(self) ||
		    self->nslots == 0)
			continue;
		e[n].epoch = self->config_epoch;
		e[n++].addr = st->addr;
	}
	qsort(e, n, sizeof(*e), cmp_epoch);
	rc = report_epochs(x, e, n);
out:
	free(e);
	return rc;
}

/* Members that count as nodes: known with an address to some view. */
static int count_nodes(const check_ctx *x, int primaries_only)
{
	size_t k;
	int n = primaries_only ? 0 : x->unnamed;

	for (k = 0; k < x->nm; k++)
		if (x->m[k].nknown > 0 &&
		    (!primaries_only || (x->m[k].primary && !x->m[k].failed)))
			n++;
	return n;
}

/* min-replicas findings: each primary with fewer than min replicas. */
static sp_err check_min_replicas(check_ctx *x, int min)
{
	size_t k;
	sp_err rc = SP_OK;

	for (k = 0; k < x->nm && rc == SP_OK; k++) {
		const member *mb = x->byaddr[k];

		if (mb->nknown == 0 || !mb->primary || mb->failed ||
		    mb->nreplicas >= min)
			continue;
		rc = sp_findings_add(
		    x->out, "min-replicas", SP_SEV_ERR, -1, mb->addr,
		    "primary %s has %d replica%s, fewer than "
		    "the %d required",
		    mb->addr, mb->nreplicas, sp_plural(mb->nreplicas), min);
	}
	return rc;
}

sp_err sp_rule_expected(check_ctx *x)
{
	const sp_check_opts *o = x->opts;
	int n;
	sp_err rc = SP_OK;

	if (o->expect_nodes >= 0 && (n = count_nodes(x, 0)) != o->expect_nodes)
		rc = sp_findings_add(x->out, "expect-nodes", SP_SEV_ERR, -1, "",
				     "the cluster has %d node%s, %d expected",
				     n, sp_plural(n), o->expect_nodes);
	if (rc == SP_OK && o->expect_primaries >= 0 &&
	    (n = count_nodes(x, 1)) != o->expect_primaries)
		rc = sp_findings_add(
		    x->out, "expect-primaries", SP_SEV_ERR, -1, "",
		    "the cluster has %d working primar%s, "
		    "%d expected",
		    n, n == 1 ? "y" : "ies", o->expect_primaries);
	if (rc == SP_OK && o->min_replicas >= 0)
		rc = check_min_replicas(x, o->min_replicas);
	return rc;
}

/* 1 when line b says the same role as a: primary, or replica of the
 * same primary. */
/* b_flags: b's flags (x->flags_of: b itself is read only for a
 * replica's primary). */
static int same_role(const sp_node *a, unsigned b_flags, const sp_node *b)
{
	if ((a->flags & SP_NF_MASTER) != (b_flags & SP_NF_MASTER))
		return 0;
	return (a->flags & SP_NF_MASTER) ||
	       strcmp(a->master_id, b->master_id) == 0;
}

/* Whether view j sees member m (whose own line is self, in the view of
 * node i) in another role. */
static int disagrees(const check_ctx *x, const sp_node *self, int i, size_t j,
		     size_t m)
{
	int k = (int)j == i ? -1 : x->line_of[AT(x, j, m)];
	unsigned f = k < 0 ? 0 : x->flags_of[AT(x, j, m)];

	return k >= 0 && !(f & (SP_NF_FAIL | SP_NF_HANDSHAKE)) &&
	       !same_role(self, f, &x->c->nodes[j].view.nodes[k]);
}

static sp_err report_role(check_ctx *x, const sp_node *self, size_t i, size_t j,
			  size_t m)
{
	const sp_cluster *c = x->c;
	int k = x->line_of[AT(x, j, m)];

	return sp_findings_add(
	    x->out, "roles-disagree", SP_SEV_ERR, -1, c->nodes[i].addr,
	    "%s says it is %s, but %s sees it as %s", c->nodes[i].addr,
	    (self->flags & SP_NF_MASTER) ? "a primary" : "a replica",
	    c->nodes[j].addr,
	    (c->nodes[j].view.nodes[k].flags & SP_NF_MASTER)
		? "a primary"
		: "a replica of another primary");
}

/*
 * Every reachable node's role, as its own line states it, must be what
 * every other reachable view says. Right after a REPLICATE some views
 * still list the new replica as a primary with no slots: not converged.
 */
sp_err sp_rule_roles(check_ctx *x)
{
	const sp_cluster *c = x->c;
	const sp_node **self = NULL;
	int *node_of = NULL, *first = NULL;
	sp_err rc = SP_ERR_OOM;
	size_t i, j, m;

	if (x->nm == 0)
		return SP_OK;
	/* each member that answered: its own line and its node */
	if ((self = calloc(x->nm, sizeof(*self))) == NULL ||
	    (node_of = calloc(x->nm, sizeof(*node_of))) == NULL ||
	    (first = malloc(x->nm * sizeof(*first))) == NULL)
		goto out;
	memset(first, 0xff, x->nm * sizeof(*first));
	for (i = 0; i < c->nnodes; i++) {
		const sp_node *s = sp_view_self(&c->nodes[i].view);
		int k;
		if (c->nodes[i].reachable && s != NULL &&
		    (k = sp_roster_find(x, s->id)) >= 0 && self[k] == NULL)
			self[k] = s, node_of[k] = (int)i;
	}
	/* view by view (the tables' rows): the first view that disagrees */
	for (j = 0; j < c->nnodes; j++)
		for (m = 0; c->nodes[j].reachable && m < x->nm; m++)
			if (self[m] != NULL && first[m] < 0 &&
			    disagrees(x, self[m], node_of[m], j, m))
				first[m] = (int)j;
	rc = SP_OK;
	for (i = 0; i < c->nnodes && rc == SP_OK; i++)
		for (m = 0; m < x->nm && rc == SP_OK; m++)
			if (self[m] != NULL && node_of[m] == (int)i &&
			    first[m] >= 0)
				rc = report_role(x, self[m], i,
						 (size_t)first[m], m);
out:
	free(self);
	free(node_of);
	free(first);
	return rc;
}

/* 1 when the reachable members' lines name two or more distinct hosts. */
static int many_hosts(const check_ctx *x)
{
	const char *first = NULL;
	size_t k;

	for (k = 0; k < x->nm; k++) {
		const sp_node *l = x->m[k].line;
		if (l == NULL || l->ip[0] == '\0')
			continue;
		if (first == NULL)
			first = l->ip;
		else if (strcmp(first, l->ip) != 0)
			return 1;
	}
	return 0;
}

sp_err sp_rule_placement(check_ctx *x)
{
	sp_err rc = SP_OK;
	size_t k;
	int p;

	if (!x->opts->placement || !many_hosts(x))
		return SP_OK;
	for (k = 0; k < x->nm && rc == SP_OK; k++) {
		const member *mb = x->byaddr[k];
		const sp_node *l = mb->line;
		if (l == NULL || mb->failed || !(l->flags & SP_NF_SLAVE) ||
		    (p = sp_roster_find(x, l->master_id)) < 0 ||
		    x->m[p].line == NULL || l->ip[0] == '\0' ||
		    strcmp(l->ip, x->m[p].line->ip) != 0)
			continue;
		rc = sp_findings_add(x->out, "replica-same-host", SP_SEV_WARN,
				     -1, mb->addr,
				     "replica %s is on the host of its primary "
				     "%s: one host failure takes both",
				     mb->addr, x->m[p].addr);
	}
	return rc;
}
