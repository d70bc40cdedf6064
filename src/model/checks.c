/*
 * checks.c - the health rules of a gathered cluster.
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

/* Per-slot open-slot findings per node; a node with thousands of open
 * slots gets these and one summary, not thousands of lines. */
#define OPEN_SLOT_CAP 20
/* Distinct claimant sets told apart by slot-multi-owner. */
#define MAX_GROUPS 64
/* Bytes of node names listed in one message, before "and N more". */
#define LIST_BYTES 200
/* Bytes of slot ranges quoted in one message, before "...". */
#define RANGE_BYTES 160
/* As sp_cluster_claims: more than one node claims the slot. */
#define MULTI_OWNER (-2)

/* What one view says of one roster member. */
enum { K_KNOWN = 1, K_NOADDR = 2, K_PFAIL = 4, K_FAIL = 8 };

typedef struct member {
	const char *id;	     /* borrowed from a view line */
	const sp_node *line; /* its own line if reachable, else first seen */
	int state;	     /* index in c->nodes, or -1 */
	int nknown;	     /* reachable views listing it with an address */
	int nseen;	     /* reachable views listing it at all */
	int npfail, nfail, nmaster, nslave;
	int primary, replica, failed, nreplicas;
	char addr[SP_ADDR_MAX];
} member;

typedef struct check_ctx {
	const sp_cluster *c;
	const sp_check_opts *opts;
	sp_findings *out;
	size_t nreach;	 /* reachable nodes */
	member *m;	 /* sorted by id, for lookups */
	member **byaddr; /* the same, by address, for reports */
	size_t nm;
	unsigned char *seen; /* nm rows of c->nnodes columns: K_* bits */
	int unnamed;	     /* unreachable nodes no view names */
	int claims[SP_SLOTS];
} check_ctx;

/* A list of node names for a message, cut at LIST_BYTES. */
typedef struct namelist {
	char buf[LIST_BYTES + 32];
	size_t used;
	int n, more;
} namelist;

sp_check_opts sp_check_defaults(void)
{
	sp_check_opts o = {-1, -1, -1};

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
static void line_addr(const sp_node *nd, char *buf, size_t len)
{
	if (nd->ip[0] == '\0')
		snprintf(buf, len, "%s", nd->id);
	else if (strchr(nd->ip, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", nd->ip, nd->port);
	else
		snprintf(buf, len, "%s:%d", nd->ip, nd->port);
}

static void nl_add(namelist *l, const char *name)
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
static const char *nl_str(namelist *l)
{
	if (l->more)
		snprintf(l->buf + l->used, sizeof(l->buf) - l->used,
			 " and %d more", l->more);
	return l->buf;
}

static const char *plural(long long n)
{
	return n == 1 ? "" : "s";
}

/* Appends ",s" or ",s-e"; when that would not fit, ",..." and returns 1. */
static int append_range(char *buf, size_t len, size_t *used, int s, int e)
{
	char one[32];
	int k;

	if (s == e)
		k = snprintf(one, sizeof(one), "%s%d", *used ? "," : "", s);
	else
		k = snprintf(one, sizeof(one), "%s%d-%d", *used ? "," : "", s,
			     e);
	/* Keep room for the ",..." that says the list was cut. */
	if (k < 0 || *used + (size_t)k + 5 > len) {
		snprintf(buf + *used, len - *used, "%s...", *used ? "," : "");
		return 1;
	}
	memcpy(buf + *used, one, (size_t)k + 1);
	*used += (size_t)k;
	return 0;
}

/*
 * Formats the slots s with arr[s] == who as ranges into buf (len >= 8),
 * ending in "..." when cut; returns how many slots, and the first in
 * *first (-1 if none). Local rather than sp_format_ranges_of because a
 * message must show that it was cut.
 */
static int ranges_of(const int *arr, int who, char *buf, size_t len, int *first)
{
	int s = 0, e, n = 0, full = 0;
	size_t used = 0;

	*first = -1;
	buf[0] = '\0';
	while (s < SP_SLOTS) {
		if (arr[s] != who) {
			s++;
			continue;
		}
		for (e = s; e + 1 < SP_SLOTS && arr[e + 1] == who; e++)
			;
		if (*first < 0)
			*first = s;
		n += e - s + 1;
		if (!full)
			full = append_range(buf, len, &used, s, e);
		s = e + 1;
	}
	return n;
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
static int find_member(const check_ctx *x, const char *id)
{
	const member *mb;

	if (x->nm == 0 || id == NULL || id[0] == '\0')
		return -1;
	mb = bsearch(id, x->m, x->nm, sizeof(*x->m), cmp_member_key);
	return mb ? (int)(mb - x->m) : -1;
}

/* A node's id: its own line's when it answered, else what peers call it. */
static const char *node_id(const sp_node_state *st)
{
	const sp_node *self = st->reachable ? sp_view_self(&st->view) : NULL;

	return self != NULL ? self->id : st->id;
}

/* Handshake ids are random and short-lived: they name no member. */
static int on_roster(const sp_node *nd)
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
			if (on_roster(&c->nodes[i].view.nodes[j]))
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

		if (!on_roster(nd) || (k = find_member(x, nd->id)) < 0)
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
		k = find_member(x, node_id(&c->nodes[i]));
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
			line_addr(mb->line, mb->addr, sizeof(mb->addr));
		derive(mb);
	}
	for (i = 0; i < x->nm; i++) {
		const member *mb = &x->m[i];

		if (mb->replica && !mb->failed && mb->nknown > 0 &&
		    (k = find_member(x, mb->line->master_id)) >= 0)
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

/* ---- the rules -------------------------------------------------------- */

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

static sp_err check_unreachable(check_ctx *x)
{
	size_t i;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++) {
		const sp_node_state *n = &x->c->nodes[i];

		if (n->reachable)
			continue;
		rc = sp_findings_add(x->out, "unreachable", SP_SEV_ERR, -1,
				     n->addr, "%s did not answer: %s", n->addr,
				     unreachable_why(n));
	}
	return rc;
}

static sp_err check_state(check_ctx *x)
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

static sp_err check_uncovered(check_ctx *x)
{
	char buf[RANGE_BYTES];
	int n, first;

	/* With no view at all, "16384 uncovered" would only be noise. */
	if (x->nreach == 0)
		return SP_OK;
	n = ranges_of(x->claims, SP_NO_OWNER, buf, sizeof(buf), &first);
	if (n == 0)
		return SP_OK;
	return sp_findings_add(x->out, "slots-uncovered", SP_SEV_ERR, first, "",
			       "%d slot%s %s not covered by any reachable "
			       "node: %s",
			       n, plural(n), n == 1 ? "is" : "are", buf);
}

/* 1 if reachable node i claims slot s on its own line. */
static int claims_slot(const check_ctx *x, size_t i, int s)
{
	const sp_view *v = &x->c->nodes[i].view;

	return x->c->nodes[i].reachable && v->myself >= 0 &&
	       v->owner[s] == v->myself;
}

/* FNV-1a over the nodes claiming s: cheap identity of a claimant set. */
static uint64_t claimant_hash(const check_ctx *x, int s)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < x->c->nnodes; i++)
		if (claims_slot(x, i, s))
			h = (h ^ (uint64_t)i) * 1099511628211ULL;
	return h;
}

static int same_claimants(const check_ctx *x, int a, int b)
{
	size_t i;

	for (i = 0; i < x->c->nnodes; i++)
		if (claims_slot(x, i, a) != claims_slot(x, i, b))
			return 0;
	return 1;
}

/* Puts each multi-owned slot in a group of equal claimant sets; the last
 * group (MAX_GROUPS) takes whatever does not fit. Returns group count. */
static int group_multi(const check_ctx *x, int *gid, int *gfirst)
{
	uint64_t ghash[MAX_GROUPS];
	int s, g, ng = 0;

	for (s = 0; s < SP_SLOTS; s++) {
		uint64_t h;

		gid[s] = -1;
		if (x->claims[s] != MULTI_OWNER)
			continue;
		h = claimant_hash(x, s);
		for (g = 0; g < ng && g < MAX_GROUPS; g++)
			if (ghash[g] == h && same_claimants(x, gfirst[g], s))
				break;
		if (g == ng && ng <= MAX_GROUPS) {
			if (ng < MAX_GROUPS)
				ghash[ng] = h;
			gfirst[ng++] = s;
		}
		gid[s] = g;
	}
	return ng;
}

static sp_err report_multi_group(check_ctx *x, const int *gid, int g, int first)
{
	char buf[RANGE_BYTES];
	namelist nl = {0};
	size_t i;
	int n, f;

	n = ranges_of(gid, g, buf, sizeof(buf), &f);
	if (g == MAX_GROUPS)
		return sp_findings_add(x->out, "slot-multi-owner", SP_SEV_ERR,
				       f, "",
				       "%d more slot%s claimed by other "
				       "sets of nodes: %s",
				       n, plural(n), buf);
	for (i = 0; i < x->c->nnodes; i++)
		if (claims_slot(x, i, first))
			nl_add(&nl, x->c->nodes[i].addr);
	return sp_findings_add(x->out, "slot-multi-owner", SP_SEV_ERR, f, "",
			       "%d slot%s %s claimed by more than one "
			       "node (%s): %s",
			       n, plural(n), n == 1 ? "is" : "are", nl_str(&nl),
			       buf);
}

static sp_err check_multi_owner(check_ctx *x)
{
	int gfirst[MAX_GROUPS + 1];
	int *gid = NULL, g, ng;
	sp_err rc = SP_ERR_OOM;

	if ((gid = malloc(SP_SLOTS * sizeof(*gid))) == NULL)
		goto out;
	ng = group_multi(x, gid, gfirst);
	rc = SP_OK;
	for (g = 0; g < ng && rc == SP_OK; g++)
		rc = report_multi_group(x, gid, g, gfirst[g]);
out:
	free(gid);
	return rc;
}

/* The address of the peer of an open slot, as the node's own view says. */
static void peer_name(const sp_view *v, const char *peer, char *buf, size_t len)
{
	int j = sp_view_find(v, peer);

	if (j >= 0 && v->nodes[j].ip[0] != '\0')
		line_addr(&v->nodes[j], buf, len);
	else
		snprintf(buf, len, "an unknown node");
}

static sp_err check_open_node(check_ctx *x, const sp_node_state *n)
{
	const sp_view *v = &n->view;
	char peer[SP_ADDR_MAX];
	size_t k;
	sp_err rc = SP_OK;

	for (k = 0; k < v->nopen && k < OPEN_SLOT_CAP && rc == SP_OK; k++) {
		const sp_open_slot *o = &v->open[k];

		peer_name(v, o->peer, peer, sizeof(peer));
		rc = sp_findings_add(
		    x->out, "open-slot", SP_SEV_ERR, o->slot, n->addr,
		    "slot %d on %s is %s %s (%s)", o->slot, n->addr,
		    o->importing ? "importing from" : "migrating to", peer,
		    o->peer);
	}
	if (rc == SP_OK && v->nopen > OPEN_SLOT_CAP)
		rc = sp_findings_add(x->out, "open-slot", SP_SEV_ERR,
				     v->open[OPEN_SLOT_CAP].slot, n->addr,
				     "%s has %zu more open slots (%zu in all), "
				     "not listed one by one",
				     n->addr, v->nopen - OPEN_SLOT_CAP,
				     v->nopen);
	return rc;
}

static sp_err check_open(check_ctx *x)
{
	size_t i;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++)
		if (x->c->nodes[i].reachable)
			rc = check_open_node(x, &x->c->nodes[i]);
	return rc;
}

/* Scratch space for owners-disagree, sized by the roster. */
typedef struct owner_scratch {
	int ref[SP_SLOTS]; /* claimant member, or -1 where not unique */
	int *vmap;	   /* view line -> member, or -1 */
	int *cnt;	   /* per reference member: slots disagreed */
	int *first;	   /* per reference member: first such slot */
	int *said;	   /* per reference member: owner line at first */
} owner_scratch;

/* The claimant of each slot as a member index, -1 where not unique. */
static void owner_refs(const check_ctx *x, owner_scratch *w)
{
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		w->ref[s] =
		    x->claims[s] >= 0
			? find_member(x, node_id(&x->c->nodes[x->claims[s]]))
			: -1;
}

static sp_err report_owner(check_ctx *x, const sp_node_state *n,
			   const owner_scratch *w, size_t r)
{
	char said[SP_ADDR_MAX];
	int line = w->said[r];

	if (line >= 0)
		line_addr(&n->view.nodes[line], said, sizeof(said));
	else
		snprintf(said, sizeof(said), "no node");
	return sp_findings_add(x->out, "owners-disagree", SP_SEV_ERR,
			       w->first[r], n->addr,
			       "%s claims %d slot%s that %s assigns elsewhere "
			       "(slot %d to %s)",
			       x->m[r].addr, w->cnt[r], plural(w->cnt[r]),
			       n->addr, w->first[r], said);
}

/* Compares the owners in the view of n with the claims. */
static sp_err owners_of_view(check_ctx *x, const sp_node_state *n,
			     owner_scratch *w)
{
	const sp_view *v = &n->view;
	size_t j, r;
	int s, o, got, ref;
	sp_err rc = SP_OK;

	for (j = 0; j < v->nnodes; j++)
		w->vmap[j] = on_roster(&v->nodes[j])
				 ? find_member(x, v->nodes[j].id)
				 : -1;
	memset(w->cnt, 0, x->nm * sizeof(*w->cnt));
	for (s = 0; s < SP_SLOTS; s++) {
		if ((ref = w->ref[s]) < 0)
			continue;
		r = (size_t)ref;
		o = v->owner[s];
		got = o >= 0 && (size_t)o < v->nnodes ? w->vmap[o] : -1;
		if (got == ref)
			continue;
		if (w->cnt[r]++ == 0) {
			w->first[r] = s;
			w->said[r] = o >= 0 && (size_t)o < v->nnodes ? o : -1;
		}
	}
	for (r = 0; r < x->nm && rc == SP_OK; r++)
		if (w->cnt[r] > 0)
			rc = report_owner(x, n, w, r);
	return rc;
}

static sp_err check_owners(check_ctx *x)
{
	owner_scratch *w = NULL;
	size_t i, maxv = 1;
	sp_err rc = SP_ERR_OOM;

	if (x->nm == 0)
		return SP_OK;
	for (i = 0; i < x->c->nnodes; i++)
		if (x->c->nodes[i].view.nnodes > maxv)
			maxv = x->c->nodes[i].view.nnodes;
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->vmap = calloc(maxv, sizeof(int))) == NULL ||
	    (w->cnt = calloc(x->nm, sizeof(int))) == NULL ||
	    (w->first = calloc(x->nm, sizeof(int))) == NULL ||
	    (w->said = calloc(x->nm, sizeof(int))) == NULL)
		goto out;
	owner_refs(x, w);
	rc = SP_OK;
	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++)
		if (x->c->nodes[i].reachable)
			rc = owners_of_view(x, &x->c->nodes[i], w);
out:
	if (w != NULL) {
		free(w->vmap);
		free(w->cnt);
		free(w->first);
		free(w->said);
	}
	free(w);
	return rc;
}

/* Lists the reachable views whose bits for member mb match (or, with
 * want == 0, lack) mask; returns how many. */
static int views_with(const check_ctx *x, const member *mb, unsigned mask,
		      int want, namelist *nl)
{
	const unsigned char *row = x->seen + (size_t)(mb - x->m) * x->c->nnodes;
	size_t i;
	int n = 0;

	for (i = 0; i < x->c->nnodes; i++) {
		if (!x->c->nodes[i].reachable || ((row[i] & mask) != 0) != want)
			continue;
		nl_add(nl, x->c->nodes[i].addr);
		n++;
	}
	return n;
}

static sp_err check_membership(check_ctx *x)
{
	size_t k;
	sp_err rc = SP_OK;

	for (k = 0; k < x->nm && rc == SP_OK; k++) {
		const member *mb = x->byaddr[k];
		namelist nl = {0};
		int n;

		if (mb->nknown == 0)
			continue;
		n = views_with(x, mb, K_KNOWN | K_NOADDR, 0, &nl);
		if (n > 0)
			rc = sp_findings_add(
			    x->out, "membership-disagree", SP_SEV_ERR, -1,
			    mb->addr,
			    "%s (%s) is unknown to %d of %zu reachable nodes: "
			    "%s",
			    mb->addr, mb->id, n, x->nreach, nl_str(&nl));
	}
	return rc;
}

/* One finding for a member some views flag with `bit`. */
static sp_err report_flagged(check_ctx *x, const member *mb, unsigned bit)
{
	namelist nl = {0};
	int n = views_with(x, mb, bit, 1, &nl);

	if (bit == K_FAIL)
		return sp_findings_add(x->out, "node-fail", SP_SEV_ERR, -1,
				       mb->addr,
				       "%s is flagged fail by %d node%s: %s",
				       mb->addr, n, plural(n), nl_str(&nl));
	return sp_findings_add(x->out, "node-pfail", SP_SEV_ERR, -1, mb->addr,
			       "%s is flagged fail? (pfail) by %d node%s: %s",
			       mb->addr, n, plural(n), nl_str(&nl));
}

/* Both "fail" and "fail?" are errors: a check that passes while a node
 * is suspected would let a migration start into a failover. */
static sp_err check_failing(check_ctx *x)
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

static sp_err check_handshake(check_ctx *x)
{
	char addr[SP_ADDR_MAX];
	size_t i, j;
	sp_err rc = SP_OK;

	for (i = 0; i < x->c->nnodes && rc == SP_OK; i++) {
		const sp_node_state *n = &x->c->nodes[i];
		namelist nl = {0};

		for (j = 0; n->reachable && j < n->view.nnodes; j++) {
			if (on_roster(&n->view.nodes[j]))
				continue;
			line_addr(&n->view.nodes[j], addr, sizeof(addr));
			nl_add(&nl, addr);
		}
		if (nl.n + nl.more > 0)
			rc = sp_findings_add(
			    x->out, "handshake", SP_SEV_WARN, -1, n->addr,
			    "%s is still in handshake with %d node%s: %s",
			    n->addr, nl.n + nl.more, plural(nl.n + nl.more),
			    nl_str(&nl));
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
			nl_add(&nl, e[b].addr);
		if (b - a > 1)
			rc = sp_findings_add(x->out, "epoch-collision",
					     SP_SEV_ERR, -1, e[a].addr,
					     "primaries %s share config epoch "
					     "%llu",
					     nl_str(&nl), e[a].epoch);
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
static sp_err check_epochs(check_ctx *x)
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
		    mb->addr, mb->nreplicas, plural(mb->nreplicas), min);
	}
	return rc;
}

static sp_err check_expected(check_ctx *x)
{
	const sp_check_opts *o = x->opts;
	int n;
	sp_err rc = SP_OK;

	if (o->expect_nodes >= 0 && (n = count_nodes(x, 0)) != o->expect_nodes)
		rc = sp_findings_add(x->out, "expect-nodes", SP_SEV_ERR, -1, "",
				     "the cluster has %d node%s, %d expected",
				     n, plural(n), o->expect_nodes);
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
static int same_role(const sp_node *a, const sp_node *b)
{
	if ((a->flags & SP_NF_MASTER) != (b->flags & SP_NF_MASTER))
		return 0;
	return (a->flags & SP_NF_MASTER) ||
	       strcmp(a->master_id, b->master_id) == 0;
}

/*
 * Every reachable node's role, as its own line states it, must be what
 * every other reachable view says. Right after a REPLICATE some views
 * still list the new replica as a primary with no slots: not converged.
 */
static sp_err check_roles(check_ctx *x)
{
	const sp_cluster *c = x->c;
	sp_err rc = SP_OK;
	size_t i, j;

	for (i = 0; i < c->nnodes && rc == SP_OK; i++) {
		const sp_node *self = sp_view_self(&c->nodes[i].view);
		if (!c->nodes[i].reachable || self == NULL)
			continue;
		for (j = 0; j < c->nnodes; j++) {
			const sp_view *v = &c->nodes[j].view;
			int k = j == i ? -1 : sp_view_find(v, self->id);
			if (!c->nodes[j].reachable || k < 0 ||
			    (v->nodes[k].flags &
			     (SP_NF_FAIL | SP_NF_HANDSHAKE)) ||
			    same_role(self, &v->nodes[k]))
				continue;
			rc = sp_findings_add(
			    x->out, "roles-disagree", SP_SEV_ERR, -1,
			    c->nodes[i].addr,
			    "%s says it is %s, but %s sees it as %s",
			    c->nodes[i].addr,
			    (self->flags & SP_NF_MASTER) ? "a primary"
							 : "a replica",
			    c->nodes[j].addr,
			    (v->nodes[k].flags & SP_NF_MASTER)
				? "a primary"
				: "a replica of another primary");
			break;
		}
	}
	return rc;
}

static sp_err run_rules(check_ctx *x)
{
	static sp_err (*const rules[])(check_ctx *) = {
	    check_unreachable, check_state,   check_uncovered,
	    check_multi_owner, check_open,    check_owners,
	    check_membership,  check_failing, check_roles,
	    check_handshake,   check_epochs,  check_expected,
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
