/*
 * checks.c - the health rules of a gathered cluster: the findings list,
 * the roster the rules stand on, and the order the rules run in. The slot
 * rules are in check_slots.c, the node rules in check_nodes.c.
 *
 * Modelled on `redis-cli --cluster check` (open slots, slot coverage,
 * agreement on the slot table) and stricter where slotpilot's protocol
 * needs it: before anything moves, every node must answer, know every
 * other node, report cluster_state:ok, agree on every owner and see no
 * node failing, not even "fail?" (DESIGN.md, protocol rule 1).
 *
 * Everything here is pure. The rules compare nodes by id through a
 * "roster": every id that a reachable view names, sorted, with one byte
 * per (member, view) saying what that view thinks of it. Building it costs
 * one sort of all view lines, so a 1,000-node check stays at about
 * nodes * 16384 steps for the slot rules and nodes^2 bytes of memory.
 */
#include "model/checks.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/roster.h"

sp_check_opts sp_check_defaults(void)
{
	sp_check_opts o = {-1, -1, -1, 0};

	return o;
}

sp_err sp_findings_add(sp_findings *f, const char *code, sp_severity sev,
		       int slot, const char *node, const char *fmt, ...)
{
	sp_finding *it;
	va_list ap;

	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;

		if (ncap > SIZE_MAX / sizeof(*it) ||
		    (it = realloc(f->items, ncap * sizeof(*it))) == NULL)
			return SP_ERR_OOM;
		f->items = it;
		f->cap = ncap;
	}
	it = &f->items[f->n++];
	it->code = code;
	it->sev = sev;
	it->slot = slot;
	snprintf(it->node, sizeof(it->node), "%s", node ? node : "");
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
	va_end(ap);
	return SP_OK;
}

size_t sp_findings_errors(const sp_findings *f)
{
	size_t i, n = 0;

	for (i = 0; f != NULL && i < f->n; i++)
		if (f->items[i].sev == SP_SEV_ERR)
			n++;
	return n;
}

void sp_findings_free(sp_findings *f)
{
	if (f == NULL)
		return;
	free(f->items);
	f->items = NULL;
	f->n = 0;
	f->cap = 0;
}

/* ---- small helpers ---------------------------------------------------- */

/* As sp_format_addr, kept local so that the checks link without conn.c. */
void sp_line_addr(const sp_node *nd, char *buf, size_t len)
{
	if (nd->ip[0] == '\0')
		snprintf(buf, len, "%s", nd->id);
	else if (strchr(nd->ip, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", nd->ip, nd->port);
	else
		snprintf(buf, len, "%s:%d", nd->ip, nd->port);
}

void sp_namelist_add(namelist *l, const char *name)
{
	size_t k = strlen(name) + (l->n ? 2 : 0);

	if (l->more || l->used + k > LIST_BYTES) {
		l->more++;
		return;
	}
	snprintf(l->buf + l->used, sizeof(l->buf) - l->used, "%s%s",
		 l->n ? ", " : "", name);
	l->used += k;
	l->n++;
}

/* The list as text, with " and N more" when it was cut. */
const char *sp_namelist_str(namelist *l)
{
	if (l->more)
		snprintf(l->buf + l->used, sizeof(l->buf) - l->used,
			 " and %d more", l->more);
	return l->buf;
}

const char *sp_plural(long long n)
{
	return n == 1 ? "" : "s";
}

/* ---- the roster ------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_member_key(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const member *)elem)->id);
}

/* Index of the member with this id, or -1. */
int sp_roster_find(const check_ctx *x, const char *id)
{
	const member *mb;

	if (x->nm == 0 || id == NULL || id[0] == '\0')
		return -1;
	mb = bsearch(id, x->m, x->nm, sizeof(*x->m), cmp_member_key);
	return mb ? (int)(mb - x->m) : -1;
}

/* A node's id: its own line's when it answered, else what peers call it. */
const char *sp_state_id(const sp_node_state *st)
{
	const sp_node *self = st->reachable ? sp_view_self(&st->view) : NULL;

	return self != NULL ? self->id : st->id;
}

/* Handshake ids are random and short-lived: they name no member. */
int sp_on_roster(const sp_node *nd)
{
	return (nd->flags & SP_NF_HANDSHAKE) == 0;
}

/* Every id the reachable views name, sorted, unique, into x->m. */
static sp_err collect_members(check_ctx *x)
{
	const sp_cluster *c = x->c;
	const char **ids = NULL;
	size_t i, j, n = 0, total = 0;
	sp_err rc = SP_ERR_OOM;

	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].reachable)
			total += c->nodes[i].view.nnodes;
	if (total == 0)
		return SP_OK;
	if (total > SIZE_MAX / sizeof(*ids) ||
	    (ids = malloc(total * sizeof(*ids))) == NULL)
		goto out;
	for (i = 0; i < c->nnodes; i++)
		for (j = 0;
		     c->nodes[i].reachable && j < c->nodes[i].view.nnodes; j++)
			if (sp_on_roster(&c->nodes[i].view.nodes[j]))
				ids[n++] = c->nodes[i].view.nodes[j].id;
	qsort(ids, n, sizeof(*ids), cmp_id);
	if (n > 0 && (x->m = calloc(n, sizeof(*x->m))) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (x->nm == 0 || strcmp(x->m[x->nm - 1].id, ids[i]) != 0)
			x->m[x->nm++].id = ids[i];
	rc = SP_OK;
out:
	free(ids);
	return rc;
}

/* Records what the view of node i says about each member it lists. */
static void mark_view(check_ctx *x, size_t i)
{
	const sp_view *v = &x->c->nodes[i].view;
	size_t j;
	int k;

	for (j = 0; j < v->nnodes; j++) {
		const sp_node *nd = &v->nodes[j];
		member *mb;
		unsigned char *bits;

		if (!sp_on_roster(nd) || (k = sp_roster_find(x, nd->id)) < 0)
			continue;
		mb = &x->m[k];
		bits = &x->seen[(size_t)k * x->c->nnodes + i];
		*bits |= (nd->flags & SP_NF_NOADDR) ? K_NOADDR : K_KNOWN;
		mb->nseen++;
		mb->nknown += (nd->flags & SP_NF_NOADDR) == 0;
		if (nd->flags & SP_NF_PFAIL) {
			*bits |= K_PFAIL;
			mb->npfail++;
		}
		if (nd->flags & SP_NF_FAIL) {
			*bits |= K_FAIL;
			mb->nfail++;
		}
		mb->nmaster += (nd->flags & SP_NF_MASTER) != 0;
		mb->nslave += (nd->flags & SP_NF_SLAVE) != 0;
		if (mb->line == NULL || (nd->flags & SP_NF_MYSELF))
			mb->line = nd;
	}
}

/*
 * Role and health of a member: its own line when it answered, else the
 * majority of views (ties go to the first view, the entry's). A member
 * most views flag fail is failed: it serves nothing, and its promoted
 * replica must not be counted twice.
 */
static void derive(member *mb)
{
	unsigned f = mb->line ? mb->line->flags : 0;

	if ((f & SP_NF_MYSELF) || mb->nmaster == mb->nslave) {
		mb->primary = (f & SP_NF_MASTER) != 0;
		mb->replica = (f & SP_NF_SLAVE) != 0;
	} else {
		mb->primary = mb->nmaster > mb->nslave;
		mb->replica = !mb->primary;
	}
	mb->failed = mb->nfail * 2 > mb->nseen;
}

/*
 * The member whose line has the address of st, or -1. Only for a silent
 * node whose id nobody told us: without it, a node that never answered
 * would be counted once by address and once more by the views' id.
 */
static int find_member_addr(const check_ctx *x, const sp_node_state *st)
{
	size_t k;

	for (k = 0; k < x->nm; k++)
		if (x->m[k].line != NULL && x->m[k].line->port == st->port &&
		    strcmp(x->m[k].line->ip, st->host) == 0)
			return (int)k;
	return -1;
}

/* Links members to gathered nodes, and names and counts them. */
static void finish_members(check_ctx *x)
{
	const sp_cluster *c = x->c;
	size_t i;
	int k;

	for (i = 0; i < c->nnodes && i <= INT_MAX; i++) {
		k = sp_roster_find(x, sp_state_id(&c->nodes[i]));
		if (k < 0 && !c->nodes[i].reachable)
			k = find_member_addr(x, &c->nodes[i]);
		if (k >= 0 && x->m[k].state < 0)
			x->m[k].state = (int)i;
		else if (k < 0 && !c->nodes[i].reachable)
			x->unnamed++;
	}
	for (i = 0; i < x->nm; i++) {
		member *mb = &x->m[i];

		if (mb->state >= 0)
			snprintf(mb->addr, sizeof(mb->addr), "%s",
				 c->nodes[mb->state].addr);
		else if (mb->line != NULL)
			sp_line_addr(mb->line, mb->addr, sizeof(mb->addr));
		derive(mb);
	}
	for (i = 0; i < x->nm; i++) {
		const member *mb = &x->m[i];

		if (mb->replica && !mb->failed && mb->nknown > 0 &&
		    (k = sp_roster_find(x, mb->line->master_id)) >= 0)
			x->m[k].nreplicas++;
	}
}

static int cmp_member_addr(const void *a, const void *b)
{
	const member *ma = *(const member *const *)a;
	const member *mb = *(const member *const *)b;
	int d = strcmp(ma->addr, mb->addr);

	return d ? d : strcmp(ma->id, mb->id);
}

/* Findings about members come out in address order, as people read. */
static sp_err order_members(check_ctx *x)
{
	size_t k;

	if (x->nm == 0)
		return SP_OK;
	if ((x->byaddr = calloc(x->nm, sizeof(*x->byaddr))) == NULL)
		return SP_ERR_OOM;
	for (k = 0; k < x->nm; k++)
		x->byaddr[k] = &x->m[k];
	qsort(x->byaddr, x->nm, sizeof(*x->byaddr), cmp_member_addr);
	return SP_OK;
}

/* Fills x's roster (members, views, claims) from x->c; SP_ERR_OOM, and
 * what it allocated is freed by sp_check_cluster either way. */
static sp_err build_roster(check_ctx *x)
{
	const sp_cluster *c = x->c;
	size_t i;
	sp_err rc;

	for (i = 0; i < c->nnodes; i++)
		x->nreach += c->nodes[i].reachable != 0;
	if ((rc = collect_members(x)) != SP_OK)
		return rc;
	for (i = 0; i < x->nm; i++)
		x->m[i].state = -1;
	if (x->nm > 0 && c->nnodes > 0) {
		if (x->nm > SIZE_MAX / c->nnodes ||
		    (x->seen = calloc(x->nm * c->nnodes, 1)) == NULL)
			return SP_ERR_OOM;
	}
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].reachable)
			mark_view(x, i);
	finish_members(x);
	sp_cluster_claims(c, x->claims);
	return order_members(x);
}

/* Runs every rule in the order the findings are reported. */
static sp_err run_rules(check_ctx *x)
{
	static sp_err (*const rules[])(check_ctx *) = {
	    sp_rule_unreachable, sp_rule_state,	  sp_rule_uncovered,
	    sp_rule_multi_owner, sp_rule_open,	  sp_rule_owners,
	    sp_rule_membership,	 sp_rule_failing, sp_rule_roles,
	    sp_rule_handshake,	 sp_rule_epochs,  sp_rule_expected,
	    sp_rule_placement,
	};
	size_t i;
	sp_err rc = SP_OK;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]) && rc == SP_OK; i++)
		rc = rules[i](x);
	return rc;
}

sp_err sp_check_cluster(const sp_cluster *c, const sp_check_opts *opts,
			sp_findings *out, sp_error *err)
{
	sp_check_opts defaults = sp_check_defaults();
	check_ctx *x = NULL;
	sp_err rc = SP_ERR_OOM;

	if (out == NULL)
		return sp_seterr(err, SP_ERR_INTERNAL,
				 "check: nowhere to report");
	if (c == NULL)
		return SP_OK;
	/* The context holds a slot table: too big for the stack. */
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto out;
	x->c = c;
	x->opts = opts ? opts : &defaults;
	x->out = out;
	if ((rc = build_roster(x)) != SP_OK)
		goto out;
	rc = run_rules(x);
out:
	if (rc != SP_OK)
		sp_seterr(err, rc, "out of memory while checking the cluster");
	if (x != NULL) {
		free(x->m);
		free(x->byaddr);
		free(x->seen);
	}
	free(x);
	return rc;
}
