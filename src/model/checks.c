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

/* The lines of view i in id order: the view's own index (sp_view_parse),
 * or one built here and kept in x->tmp_index until the check ends (the
 * roster points into it); NULL without memory. */
static const sp_id_line *lines_by_id(check_ctx *x, size_t i)
{
	const sp_view *v = &x->c->nodes[i].view;

	if (v->byid != NULL || v->nnodes == 0)
		return v->byid;
	if (x->tmp_index[i] == NULL)
		x->tmp_index[i] = sp_view_index(v);
	return x->tmp_index[i];
}

/* Merges the on-roster ids of a view (its index: ord[0..nl-1]) into the
 * sorted, unique ids[0..*n-1], through out (room for *n + nl). */
static void merge_ids(const sp_id_line *ord, size_t nl, const sp_id_line **ids,
		      size_t *n, const sp_id_line **out)
{
	size_t a = 0, b = 0, m = 0;

	while (a < *n || b < nl) {
		const sp_id_line *nd = b < nl ? &ord[b] : NULL;
		int d;
		if (nd != NULL && (nd->flags & SP_NF_HANDSHAKE)) {
			b++;
			continue;
		}
		d = nd == NULL ? -1
		    : a == *n  ? 1
			       : sp_id_words_cmp(ids[a]->w, nd->w);
		if (d <= 0)
			out[m++] = ids[a++];
		else if (m == 0 || sp_id_words_cmp(out[m - 1]->w, nd->w) != 0)
			out[m++] = nd;
		b += d >= 0;
	}
	memcpy(ids, out, m * sizeof(*ids));
	*n = m;
}

/* Room for at least need ids in *ids and in the scratch *tmp. */
static sp_err grow_ids(const sp_id_line ***ids, const sp_id_line ***tmp,
		       size_t *cap, size_t need)
{
	const sp_id_line **g;

	if (need > *cap)
		*cap = need * 2;
	if ((g = realloc(*ids, *cap * sizeof(*g))) == NULL)
		return SP_ERR_OOM;
	*ids = g;
	if ((g = realloc(*tmp, *cap * sizeof(*g))) == NULL)
		return SP_ERR_OOM;
	*tmp = g;
	return SP_OK;
}

/* Every id the reachable views name, sorted, unique, into x->m: each
 * view's ids come sorted, so this is a merge per view, linear in the
 * lines (N views of N lines: N^2, not N^2 log N). */
static sp_err collect_members(check_ctx *x)
{
	const sp_cluster *c = x->c;
	const sp_id_line **ids = NULL, **tmp = NULL;
	size_t i, n = 0, cap = 0;
	sp_err rc = SP_ERR_OOM;

	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].reachable)
			cap = c->nodes[i].view.nnodes > cap
				  ? c->nodes[i].view.nnodes
				  : cap;
	if (cap == 0)
		return SP_OK;
	cap *= 2; /* grows below when views disagree */
	for (i = 0; i < c->nnodes; i++) {
		const sp_view *v = &c->nodes[i].view;
		const sp_id_line *ord;
		if (!c->nodes[i].reachable || v->nnodes == 0)
			continue;
		if ((n + v->nnodes > cap || ids == NULL) &&
		    grow_ids(&ids, &tmp, &cap, n + v->nnodes) != SP_OK)
			goto out;
		if ((ord = lines_by_id(x, i)) == NULL)
			goto out;
		merge_ids(ord, v->nnodes, ids, &n, tmp);
	}
	if (n > 0 && (x->m = calloc(n, sizeof(*x->m))) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		x->m[x->nm++].key = ids[i];
	rc = SP_OK;
out:
	free(ids);
	free(tmp);
	return rc;
}

/* Records what line e of the view of node i says of member k (only
 * e's flags are read: the line itself is not touched, see sp_id_line). */
static void mark_line(check_ctx *x, size_t i, int k, const sp_id_line *e)
{
	member *mb = &x->m[k];
	unsigned char *bits = &x->seen[AT(x, i, k)];
	int *line = &x->line_of[AT(x, i, k)];
	unsigned f = e->flags;

	/* the first line with this id, as sp_view_find gives it (lines
	 * come in id order, then line order) */
	if (*line < 0) {
		*line = e->line;
		mb->nviews++;
		x->flags_of[AT(x, i, k)] = f;
		x->vmember[x->voff[i] + (size_t)e->line] = k;
	}
	*bits |= (f & SP_NF_NOADDR) ? K_NOADDR : K_KNOWN;
	mb->nseen++;
	mb->nknown += (f & SP_NF_NOADDR) == 0;
	if (f & SP_NF_PFAIL) {
		*bits |= K_PFAIL;
		mb->npfail++;
	}
	if (f & SP_NF_FAIL) {
		*bits |= K_FAIL;
		mb->nfail++;
	}
	mb->nmaster += (f & SP_NF_MASTER) != 0;
	mb->nslave += (f & SP_NF_SLAVE) != 0;
	if (mb->line == NULL || (f & SP_NF_MYSELF))
		mb->line = &x->c->nodes[i].view.nodes[e->line];
}

/* Records what the view of node i says about each member it lists,
 * walking its lines and the roster together, both in id order. */
static sp_err mark_view(check_ctx *x, size_t i)
{
	const sp_view *v = &x->c->nodes[i].view;
	const sp_id_line *ord = lines_by_id(x, i);
	size_t j, k = 0;
	int d = 1;

	if (ord == NULL && v->nnodes > 0)
		return SP_ERR_OOM;
	for (j = 0; j < v->nnodes; j++) {
		const sp_id_line *e = &ord[j];
		if (e->flags & SP_NF_HANDSHAKE) /* not on the roster */
			continue;
		/* most views name the same members: the next one matches */
		while (k < x->nm &&
		       (d = sp_id_words_cmp(x->m[k].key->w, e->w)) < 0)
			k++;
		if (k < x->nm && d == 0)
			mark_line(x, i, (int)k, e);
	}
	return SP_OK;
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

/* Room for x->vmember, every entry -1. */
static sp_err vmember_alloc(check_ctx *x)
{
	const sp_cluster *c = x->c;
	size_t i, n = 0;

	if ((x->voff = calloc(c->nnodes + 1, sizeof(*x->voff))) == NULL)
		return SP_ERR_OOM;
	for (i = 0; i < c->nnodes; i++) {
		x->voff[i] = n;
		n += c->nodes[i].reachable ? c->nodes[i].view.nnodes : 0;
	}
	x->voff[c->nnodes] = n;
	if ((x->vmember = malloc((n ? n : 1) * sizeof(*x->vmember))) == NULL)
		return SP_ERR_OOM;
	memset(x->vmember, 0xff, n * sizeof(*x->vmember));
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
	if (c->nnodes > 0 &&
	    (x->tmp_index = calloc(c->nnodes, sizeof(*x->tmp_index))) == NULL)
		return SP_ERR_OOM;
	if ((rc = collect_members(x)) != SP_OK)
		return rc;
	for (i = 0; i < x->nm; i++)
		x->m[i].state = -1;
	if (x->nm > 0 && c->nnodes > 0) {
		if (x->nm > SIZE_MAX / c->nnodes ||
		    (x->seen = calloc(x->nm * c->nnodes, 1)) == NULL ||
		    (x->line_of = malloc(x->nm * c->nnodes *
					 sizeof(*x->line_of))) == NULL)
			return SP_ERR_OOM;
		memset(x->line_of, 0xff, x->nm * c->nnodes * sizeof(int));
		if ((x->flags_of = calloc(x->nm * c->nnodes,
					  sizeof(*x->flags_of))) == NULL)
			return SP_ERR_OOM;
	}
	if ((rc = vmember_alloc(x)) != SP_OK)
		return rc;
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].reachable && (rc = mark_view(x, i)) != SP_OK)
			return rc;
	for (i = 0; i < x->nm; i++) /* every member was seen in a view */
		x->m[i].id = x->m[i].line != NULL ? x->m[i].line->id : "";
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
	size_t i;

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
		free(x->line_of);
		free(x->flags_of);
		free(x->vmember);
		free(x->voff);
		for (i = 0; x->tmp_index != NULL && i < c->nnodes; i++)
			free(x->tmp_index[i]);
		free(x->tmp_index);
	}
	free(x);
	return rc;
}
