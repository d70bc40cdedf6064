/*
 * check_slots.c - the health rules about the slot table: every slot
 * covered, claimed by one node, not left open, and given the same owner
 * by every view. A node with thousands of open or disputed slots gets a
 * few findings and a summary, not thousands of lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/roster.h"

/* Per-slot open-slot findings per node; a node with thousands of open
 * slots gets these and one summary, not thousands of lines. */
#define OPEN_SLOT_CAP 20
/* Distinct claimant sets told apart by slot-multi-owner. */
#define MAX_GROUPS 64
/* Bytes of slot ranges quoted in one message, before "...". */
#define RANGE_BYTES 160
/* As sp_cluster_claims: more than one node claims the slot. */
#define MULTI_OWNER (-2)
/* As sp_cluster_claims: more than one node claims the slot. */

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

sp_err sp_rule_uncovered(check_ctx *x)
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
			       n, sp_plural(n), n == 1 ? "is" : "are", buf);
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

/* 1 when slots a and b are claimed by the same nodes. */
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

/* One slot-multi-owner finding for group g (first: one of its slots). */
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
				       n, sp_plural(n), buf);
	for (i = 0; i < x->c->nnodes; i++)
		if (claims_slot(x, i, first))
			sp_namelist_add(&nl, x->c->nodes[i].addr);
	return sp_findings_add(x->out, "slot-multi-owner", SP_SEV_ERR, f, "",
			       "%d slot%s %s claimed by more than one "
			       "node (%s): %s",
			       n, sp_plural(n), n == 1 ? "is" : "are",
			       sp_namelist_str(&nl), buf);
}

sp_err sp_rule_multi_owner(check_ctx *x)
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
		sp_line_addr(&v->nodes[j], buf, len);
	else
		snprintf(buf, len, "an unknown node");
}

/* open-slot findings for node n: up to OPEN_SLOT_CAP, then a summary. */
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

sp_err sp_rule_open(check_ctx *x)
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
	const int *vmap;   /* view line -> member, or -1 (x->vmember) */
	int *cnt;	   /* per reference member: slots disagreed */
	int *first;	   /* per reference member: first such slot */
	int *said;	   /* per reference member: owner line at first */
	/* ref as runs of one member: [run_a[j], run_b[j]] claimed by
	 * ref[run_a[j]] (slots without a claimant are in no run) */
	int run_a[SP_SLOTS], run_b[SP_SLOTS];
	int nruns;
} owner_scratch;

/* The claimant of each slot as a member index, -1 where not unique. */
static void owner_refs(const check_ctx *x, owner_scratch *w)
{
	int s, last = -2, ref = -1;

	w->nruns = 0;
	for (s = 0; s < SP_SLOTS; s++) {
		/* one lookup per run of one claimant */
		if (x->claims[s] != last)
			ref = (last = x->claims[s]) >= 0
				  ? sp_roster_find(
					x, sp_state_id(&x->c->nodes[last]))
				  : -1;
		w->ref[s] = ref;
		if (ref < 0)
			continue;
		if (w->nruns > 0 && w->run_b[w->nruns - 1] == s - 1 &&
		    w->ref[w->run_a[w->nruns - 1]] == ref)
			w->run_b[w->nruns - 1] = s;
		else
			w->run_a[w->nruns] = w->run_b[w->nruns] = s, w->nruns++;
	}
}

/* Whether owner[a..b] is line everywhere: four slots per compare. */
static int all_owned_by(const int16_t *owner, int a, int b, int line)
{
	uint16_t l = (uint16_t)line;
	uint64_t four = l * 0x0001000100010001ULL, got;
	int s = a;

	for (; s + 3 <= b; s += 4) {
		memcpy(&got, &owner[s], sizeof(got));
		if (got != four)
			return 0;
	}
	for (; s <= b; s++)
		if (owner[s] != line)
			return 0;
	return 1;
}

/* One owners-disagree finding: member r claims slots that the view of
 * n gives to another node (w holds the counts and the first such slot). */
static sp_err report_owner(check_ctx *x, const sp_node_state *n,
			   const owner_scratch *w, size_t r)
{
	char said[SP_ADDR_MAX];
	int line = w->said[r];

	if (line >= 0)
		sp_line_addr(&n->view.nodes[line], said, sizeof(said));
	else
		snprintf(said, sizeof(said), "no node");
	return sp_findings_add(x->out, "owners-disagree", SP_SEV_ERR,
			       w->first[r], n->addr,
			       "%s claims %d slot%s that %s assigns elsewhere "
			       "(slot %d to %s)",
			       x->m[r].addr, w->cnt[r], sp_plural(w->cnt[r]),
			       n->addr, w->first[r], said);
}

/* Compares the owners in the view of n with the claims. */
static sp_err owners_of_view(check_ctx *x, const sp_node_state *n,
			     owner_scratch *w)
{
	const sp_view *v = &n->view;
	size_t r;
	int s, o, got, ref, j;
	sp_err rc = SP_OK;

	/* view line -> member, as build_roster found them */
	w->vmap = &x->vmember[x->voff[n - x->c->nodes]];
	memset(w->cnt, 0, x->nm * sizeof(*w->cnt));
	for (j = 0; j < w->nruns; j++) {
		int a = w->run_a[j], b = w->run_b[j];
		/* the claimant's line in this view owns the whole run: the
		 * common case, checked without a lookup per slot */
		int line = x->line_of[AT(x, n - x->c->nodes, w->ref[a])];
		if (line >= 0 && all_owned_by(v->owner, a, b, line))
			continue;
		for (s = a; s <= b; s++) {
			ref = w->ref[s];
			r = (size_t)ref;
			o = v->owner[s];
			got = o >= 0 && (size_t)o < v->nnodes ? w->vmap[o] : -1;
			if (got == ref)
				continue;
			if (w->cnt[r]++ == 0) {
				w->first[r] = s;
				w->said[r] =
				    o >= 0 && (size_t)o < v->nnodes ? o : -1;
			}
		}
	}
	for (r = 0; r < x->nm && rc == SP_OK; r++)
		if (w->cnt[r] > 0)
			rc = report_owner(x, n, w, r);
	return rc;
}

sp_err sp_rule_owners(check_ctx *x)
{
	owner_scratch *w = NULL;
	size_t i;
	sp_err rc = SP_ERR_OOM;

	if (x->nm == 0)
		return SP_OK;
	if ((w = calloc(1, sizeof(*w))) == NULL ||
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
		free(w->cnt);
		free(w->first);
		free(w->said);
	}
	free(w);
	return rc;
}
