/*
 * planner.c - which slots move where so that every primary holds its
 * share. Pure (no I/O, no global state) so it is unit-tested on synthetic
 * clusters and timed on 1,000 nodes (bench/plan_bench.c).
 *
 * By slot count the answer is exact and found directly: shares rounded by
 * largest remainder, each donor gives exactly its surplus, each receiver
 * takes exactly its deficit. By weight (keys or bytes per slot) an exact
 * balance is a bin-packing problem, so a greedy pairs the donor furthest
 * above its share with the receiver furthest below it, moves one slot,
 * and repeats; no slot moves twice and no node both gives and takes. The
 * bound it keeps is proved next to balance_by_weight().
 *
 * Cost: O(slots log slots + nodes log nodes) time, O(slots + nodes)
 * memory; the move list holds at most one entry per owned slot.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/planner.h"

/* An owned slot and its weight, as the by-weight planner sorts them. */
typedef struct wslot {
	double w;
	int slot;
} wslot;

/* Nodes on one side of their share, the furthest from it on top. */
typedef struct heap {
	size_t *a;
	size_t n;
	double sign; /* +1: most above first (donors); -1: most below first */
	const double *load, *target;
} heap;

typedef struct plan {
	const sp_plan_input *in;
	size_t n;
	/* the output's arrays */
	double *load, *target;
	/* room for one move per owned slot: none moves twice */
	sp_move *moves;
	size_t nmoves;
	/* rounding noise on sums of slot weights */
	double eps;
	/* by weight: owned slots by (owner, weight, slot); node i owns
	 * ws[seg[i] .. seg[i+1]), and lo[i] is its lightest slot that
	 * weighs more than 0 and is not given yet */
	wslot *ws;
	size_t nws;
	size_t *seg, *lo;
	/* uf[j+1] == j+1 while ws[j] is not given; else it leads left */
	size_t *uf;
	/* the receivers in node order */
	size_t *rr;
	size_t nrr;
	heap don, rcv;
} plan;

typedef struct rem {
	double r;
	size_t i;
} rem;

static double node_weight(const sp_plan_input *in, size_t i)
{
	return in->node_weight != NULL ? in->node_weight[i] : 1.0;
}

static double slot_weight(const sp_plan_input *in, int s)
{
	return in->slot_weight != NULL ? in->slot_weight[s] : 1.0;
}

/* A weight is a finite number >= 0 (!(w >= 0) also catches NaN). */
static int weight_ok(double w)
{
	return w >= 0 && isfinite(w);
}

/* The error for weight w of node or slot i. */
static sp_err bad_weight(sp_error *err, const char *what, long long i, double w)
{
	return sp_seterr(err, SP_ERR_USAGE,
			 "planner: %s %lld has weight %g: a weight must be a "
			 "finite number >= 0",
			 what, i, w);
}

/* SP_OK unless the weights of what ("node", "slot") overflowed. */
static sp_err sum_ok(sp_error *err, const char *what, double sum)
{
	if (isfinite(sum))
		return SP_OK;
	return sp_seterr(err, SP_ERR_USAGE,
			 "planner: the %s weights add up to more than a "
			 "double holds",
			 what);
}

/* Checks the node weights; *wsum gets their total. */
static sp_err check_nodes(const sp_plan_input *in, double *wsum, sp_error *err)
{
	double w;
	size_t i;

	*wsum = 0;
	for (i = 0; i < in->nnodes; i++) {
		w = node_weight(in, i);
		if (!weight_ok(w))
			return bad_weight(err, "node", (long long)i, w);
		*wsum += w;
	}
	return sum_ok(err, "node", *wsum);
}

/* Checks owners and slot weights; *owned and *total get the number and
 * the summed weight of the owned slots. */
static sp_err check_slots(const sp_plan_input *in, size_t *owned, double *total,
			  sp_error *err)
{
	double w;
	int s, o;

	*owned = 0;
	*total = 0;
	for (s = 0; s < SP_SLOTS; s++) {
		o = in->owner[s];
		if (o < -1 || (o >= 0 && (size_t)o >= in->nnodes))
			return sp_seterr(err, SP_ERR_USAGE,
					 "planner: slot %d has owner %d: "
					 "expected -1 or a node index below "
					 "%zu",
					 s, o, in->nnodes);
		w = slot_weight(in, s);
		if (!weight_ok(w))
			return bad_weight(err, "slot", s, w);
		if (o >= 0) {
			(*owned)++;
			*total += w;
		}
	}
	return sum_ok(err, "slot", *total);
}

static sp_err check_input(const sp_plan_input *in, double *wsum, size_t *owned,
			  double *total, sp_error *err)
{
	sp_err rc;

	if (in == NULL || in->owner == NULL)
		return sp_seterr(err, SP_ERR_USAGE,
				 "planner: no slot owners given");
	/* sp_move holds node indexes as int */
	if (in->nnodes == 0 || in->nnodes > INT_MAX)
		return sp_seterr(err, SP_ERR_USAGE,
				 "planner: %zu nodes: expected 1 to %d",
				 in->nnodes, INT_MAX);
	if (!(in->threshold_pct >= 0) || !isfinite(in->threshold_pct))
		return sp_seterr(err, SP_ERR_USAGE,
				 "planner: threshold %g%%: expected a finite "
				 "number >= 0",
				 in->threshold_pct);
	if ((rc = check_nodes(in, wsum, err)) != SP_OK ||
	    (rc = check_slots(in, owned, total, err)) != SP_OK)
		return rc;
	if (*wsum == 0 && *owned > 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "planner: every node has weight 0 but %zu "
				 "slots are owned: nowhere to put them",
				 *owned);
	return SP_OK;
}

static void add_loads(plan *p, const int *owner)
{
	int s;

	memset(p->load, 0, p->n * sizeof(*p->load));
	for (s = 0; s < SP_SLOTS; s++)
		if (owner[s] >= 0)
			p->load[owner[s]] += slot_weight(p->in, s);
}

static void shares_by_weight(plan *p, double wsum, double total)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		p->target[i] =
		    wsum > 0 ? total * (node_weight(p->in, i) / wsum) : 0;
}

/* Larger remainder first; ties to the lower node index. */
static int rem_cmp(const void *a, const void *b)
{
	const rem *x = a, *y = b;

	if (x->r != y->r)
		return x->r > y->r ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

/*
 * Whole-slot shares that add up to owned: each node gets the floor of its
 * exact share, and the slots left over go one each to the largest
 * remainders. In exact arithmetic 0 <= left < nodes with a share; the
 * loops also absorb what rounding of the double shares may add or take.
 */
static sp_err shares_by_count(plan *p, double wsum, size_t owned, sp_error *err)
{
	long long left = (long long)owned;
	rem *r = NULL;
	double q, f;
	size_t i, k;

	if (wsum == 0) { /* then no slot is owned (checked) */
		memset(p->target, 0, p->n * sizeof(*p->target));
		return SP_OK;
	}
	if ((r = malloc(p->n * sizeof(*r))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "planner: out of memory");
	for (i = 0; i < p->n; i++) {
		q = (double)owned * (node_weight(p->in, i) / wsum);
		f = fmin(floor(q), (double)owned);
		p->target[i] = f;
		left -= (long long)f;
		r[i] = (rem){q - f, i};
	}
	qsort(r, p->n, sizeof(*r), rem_cmp);
	for (k = 0; left > 0; k = (k + 1) % p->n)
		if (node_weight(p->in, r[k].i) > 0) {
			p->target[r[k].i]++;
			left--;
		}
	for (k = p->n; left < 0;) {
		k = (k == 0 ? p->n : k) - 1;
		if (p->target[r[k].i] > 0) {
			p->target[r[k].i]--;
			left++;
		}
	}
	free(r);
	return SP_OK;
}

/*
 * redis-cli's --threshold: nothing moves while every node is within pct
 * percent of its share. redis-cli divides by the current load; the header
 * promises the share, which also gives an empty node with a share a
 * defined 100%. A node with no share that owns slots (even slots that
 * weigh nothing) is always above: draining must finish.
 */
static int within_threshold(const plan *p, double pct)
{
	const int *owner = p->in->owner;
	size_t i;
	int s;

	for (i = 0; i < p->n; i++) {
		if (p->target[i] > 0 &&
		    fabs(p->load[i] - p->target[i]) / p->target[i] * 100 > pct)
			return 0;
		if (p->target[i] <= 0 && p->load[i] > 0)
			return 0;
	}
	/* by weight, a drained node may hold only slots that weigh 0 */
	for (s = 0; s < SP_SLOTS; s++)
		if (owner[s] >= 0 && node_weight(p->in, owner[s]) <= 0)
			return 0;
	return 1;
}

static void emit(plan *p, int slot, size_t src, size_t dst, double w)
{
	p->moves[p->nmoves++] = (sp_move){slot, (int)src, (int)dst};
	p->load[src] -= w;
	p->load[dst] += w;
}

/*
 * Exact plan by slot count. Each donor gives its surplus from the top of
 * its highest range downward: at every step of the migration, also when
 * it is interrupted, the donor keeps the lower part of its range and the
 * receiver grows one range downward, so both stay contiguous. Receivers
 * are filled in node order, each from as few donors as its turn allows.
 */
static sp_err plan_by_slots(plan *p, size_t owned, sp_error *err)
{
	const int *owner = p->in->owner;
	size_t *seg = NULL, i, k, r = 0, surplus;
	int *order = NULL, s;
	sp_err rc = SP_ERR_OOM;

	seg = calloc(p->n + 2, sizeof(*seg));
	order = malloc((owned > 0 ? owned : 1) * sizeof(*order));
	if (seg == NULL || order == NULL) {
		sp_seterr(err, rc, "planner: out of memory");
		goto out;
	}
	/* Counting sort: node i's slots, highest first, end up in
	 * order[seg[i] .. seg[i+1]). */
	for (s = 0; s < SP_SLOTS; s++)
		if (owner[s] >= 0)
			seg[owner[s] + 2]++;
	for (i = 2; i < p->n + 2; i++)
		seg[i] += seg[i - 1];
	for (s = SP_SLOTS - 1; s >= 0; s--)
		if (owner[s] >= 0)
			order[seg[owner[s] + 1]++] = s;
	for (i = 0; i < p->n; i++) {
		surplus = p->load[i] > p->target[i]
			      ? (size_t)(p->load[i] - p->target[i])
			      : 0;
		for (k = 0; k < surplus; k++) {
			while (r < p->n && p->load[r] >= p->target[r])
				r++;
			if (r == p->n) { /* targets add up to owned */
				rc = sp_seterr(err, SP_ERR_INTERNAL,
					       "planner: no receiver left");
				goto out;
			}
			emit(p, order[seg[i] + k], i, r, 1.0);
		}
	}
	rc = SP_OK;
out:
	free(seg);
	free(order);
	return rc;
}

static double heap_key(const heap *h, size_t i)
{
	return h->sign * (h->load[i] - h->target[i]);
}

/* Whether node a goes above node b: further from its share, then the
 * lower index, so plans do not depend on anything but the input. */
static int heap_before(const heap *h, size_t a, size_t b)
{
	double ka = heap_key(h, a), kb = heap_key(h, b);

	return ka > kb || (ka == kb && a < b);
}

static void heap_down(heap *h, size_t k)
{
	size_t c, t;

	while ((c = 2 * k + 1) < h->n) {
		if (c + 1 < h->n && heap_before(h, h->a[c + 1], h->a[c]))
			c++;
		if (!heap_before(h, h->a[c], h->a[k]))
			break;
		t = h->a[c];
		h->a[c] = h->a[k];
		h->a[k] = t;
		k = c;
	}
}

static void heap_build(heap *h)
{
	size_t k;

	for (k = h->n / 2; k-- > 0;)
		heap_down(h, k);
}

static void heap_pop(heap *h)
{
	h->a[0] = h->a[--h->n];
	if (h->n > 0)
		heap_down(h, 0);
}

/* Lighter slot first, then the lower slot number. */
static int wslot_cmp(const void *a, const void *b)
{
	const wslot *x = a, *y = b;

	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return x->slot < y->slot ? -1 : (x->slot > y->slot);
}

static sp_err alloc_weight_state(plan *p, size_t owned, sp_error *err)
{
	size_t m = owned > 0 ? owned : 1;

	p->ws = malloc(m * sizeof(*p->ws));
	p->seg = calloc(p->n + 1, sizeof(*p->seg));
	p->lo = malloc(p->n * sizeof(*p->lo));
	p->uf = malloc((m + 1) * sizeof(*p->uf));
	p->rr = malloc(p->n * sizeof(*p->rr));
	p->don.a = malloc(p->n * sizeof(*p->don.a));
	p->rcv.a = malloc(p->n * sizeof(*p->rcv.a));
	if (p->ws == NULL || p->seg == NULL || p->lo == NULL || p->uf == NULL ||
	    p->rr == NULL || p->don.a == NULL || p->rcv.a == NULL)
		return sp_seterr(err, SP_ERR_OOM, "planner: out of memory");
	return SP_OK;
}

/* Sorts the owned slots by node (counting sort), then each node's by
 * weight; finds each node's run. */
static void index_slots(plan *p)
{
	const int *owner = p->in->owner;
	size_t i, j;
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		if (owner[s] >= 0)
			p->seg[owner[s] + 1]++;
	for (i = 0; i < p->n; i++)
		p->seg[i + 1] += p->seg[i];
	/* lo[] is free until the runs are sorted: use it as a cursor */
	memcpy(p->lo, p->seg, p->n * sizeof(*p->lo));
	for (s = 0; s < SP_SLOTS; s++)
		if (owner[s] >= 0)
			p->ws[p->lo[owner[s]]++] =
			    (wslot){slot_weight(p->in, s), s};
	p->nws = p->seg[p->n];
	/* slots that weigh nothing change no balance: never worth a move,
	 * except off a node that is drained */
	for (i = 0; i < p->n; i++) {
		qsort(p->ws + p->seg[i], p->seg[i + 1] - p->seg[i],
		      sizeof(*p->ws), wslot_cmp);
		for (j = p->seg[i]; j < p->seg[i + 1] && p->ws[j].w <= 0; j++)
			;
		p->lo[i] = j;
	}
	for (j = 0; j <= p->nws; j++)
		p->uf[j] = j;
}

/*
 * Donors: nodes with a share that are above it. Receivers: every other
 * node with a share. Nodes with weight 0 are drained apart. The sets are
 * fixed here, so no node ever both gives and takes.
 */
static void split_roles(plan *p)
{
	size_t i;

	p->don = (heap){p->don.a, 0, 1.0, p->load, p->target};
	p->rcv = (heap){p->rcv.a, 0, -1.0, p->load, p->target};
	p->nrr = 0;
	for (i = 0; i < p->n; i++) {
		if (node_weight(p->in, i) <= 0)
			continue;
		if (p->load[i] - p->target[i] > p->eps) {
			p->don.a[p->don.n++] = i;
		} else {
			p->rcv.a[p->rcv.n++] = i;
			p->rr[p->nrr++] = i;
		}
	}
	heap_build(&p->don);
	heap_build(&p->rcv);
}

static void give(plan *p, size_t j, size_t src, size_t dst)
{
	p->uf[j + 1] = j; /* ws[j] is given: skip it from now on */
	emit(p, p->ws[j].slot, src, dst, p->ws[j].w);
}

/*
 * Empties every node of weight 0, heaviest slot first, each to the
 * receiver furthest below its share: that spreads the slots over all
 * receivers in proportion to their shares (not all onto one), and none
 * is left behind by rounding, the leftover redis-cli has been known for.
 * Slots that weigh nothing change no balance and are dealt in turn to the
 * receivers in node order.
 */
static sp_err drain_zero_weight(plan *p, sp_error *err)
{
	size_t i, j, dst, turn = 0;

	for (i = 0; i < p->n; i++) {
		if (node_weight(p->in, i) > 0)
			continue;
		for (j = p->seg[i + 1]; j-- > p->seg[i];) {
			/* Some node with a share is at or below it while a
			 * drained node holds slots: the loads add up. */
			if (p->rcv.n == 0)
				return sp_seterr(err, SP_ERR_INTERNAL,
						 "planner: no receiver for "
						 "drained node %zu",
						 i);
			if (p->ws[j].w > 0) {
				dst = p->rcv.a[0];
			} else {
				dst = p->rr[turn];
				turn = (turn + 1) % p->nrr;
			}
			give(p, j, i, dst);
			heap_down(&p->rcv, 0);
		}
	}
	return SP_OK;
}

/* Index in ws of node o's heaviest slot not given yet that weighs more
 * than 0 and at most lim; SIZE_MAX when there is none. */
static size_t heaviest_fit(plan *p, size_t o, double lim)
{
	size_t a = p->lo[o], b = p->seg[o + 1], mid, u;

	while (a < b) {
		mid = a + (b - a) / 2;
		if (p->ws[mid].w <= lim)
			a = mid + 1;
		else
			b = mid;
	}
	/* ws[a-1] is the heaviest that fits; walk left past given slots,
	 * halving the path as we go */
	for (u = a; p->uf[u] != u; u = p->uf[u])
		p->uf[u] = p->uf[p->uf[u]];
	return u == 0 || u - 1 < p->lo[o] ? SIZE_MAX : u - 1;
}

/* Index in ws of node o's lightest slot not given yet that weighs more
 * than 0; SIZE_MAX when there is none. */
static size_t lightest(plan *p, size_t o)
{
	while (p->lo[o] < p->seg[o + 1] && p->uf[p->lo[o] + 1] != p->lo[o] + 1)
		p->lo[o]++;
	return p->lo[o] < p->seg[o + 1] ? p->lo[o] : SIZE_MAX;
}

/*
 * The greedy by weight. Take the donor o furthest above its share (by e)
 * and the receiver u furthest below (by d). Move o's heaviest slot that
 * weighs at most min(e, d): neither crosses its share. If none fits, move
 * o's lightest slot x when x < e + d, which lowers max(e, d): one of the
 * two crosses its share by less than x and leaves its heap. Otherwise no
 * receiver gains from o (u is the neediest) and o is done.
 *
 * Bound: let H be the heaviest slot of any node that gives. A node that
 * crossed is off by less than the slot that made it cross; a donor that
 * is done has e <= x - d < x. When receivers run out first, the donors'
 * excesses add up to minus the receivers' (>= 0), so some donor crossed;
 * it was the top donor, so from then on every excess is below its slot.
 * When donors run out first, either one was done (then every deficit was
 * <= x - e) or some receiver overshot (as the top receiver, with every
 * deficit below its slot). So every node ends within H of its share.
 * Each step gives a slot or retires a node: at most slots + nodes steps.
 */
static void balance_by_weight(plan *p)
{
	size_t o, u, j;
	double e, d;

	while (p->don.n > 0 && p->rcv.n > 0) {
		o = p->don.a[0];
		u = p->rcv.a[0];
		e = p->load[o] - p->target[o];
		d = p->target[u] - p->load[u];
		if (e <= p->eps) {
			heap_pop(&p->don);
			continue;
		}
		if (d <= p->eps) {
			heap_pop(&p->rcv);
			continue;
		}
		j = heaviest_fit(p, o, fmin(e, d) + p->eps);
		if (j == SIZE_MAX) {
			j = lightest(p, o);
			if (j == SIZE_MAX || p->ws[j].w >= e + d) {
				heap_pop(&p->don);
				continue;
			}
		}
		give(p, j, o, u);
		heap_down(&p->don, 0);
		heap_down(&p->rcv, 0);
	}
}

static sp_err plan_by_weight(plan *p, size_t owned, double total, sp_error *err)
{
	sp_err rc;

	if ((rc = alloc_weight_state(p, owned, err)) != SP_OK)
		return rc;
	index_slots(p);
	p->eps = total * 1e-12;
	split_roles(p);
	if ((rc = drain_zero_weight(p, err)) != SP_OK)
		return rc;
	balance_by_weight(p);
	return SP_OK;
}

/* Recomputes the loads from the owners after the moves, so the reported
 * loads carry no rounding from the running sums. */
static sp_err final_loads(plan *p, sp_error *err)
{
	int *own = malloc(SP_SLOTS * sizeof(*own));
	size_t k;

	if (own == NULL)
		return sp_seterr(err, SP_ERR_OOM, "planner: out of memory");
	memcpy(own, p->in->owner, SP_SLOTS * sizeof(*own));
	for (k = 0; k < p->nmoves; k++)
		own[p->moves[k].slot] = p->moves[k].dst;
	add_loads(p, own);
	free(own);
	return SP_OK;
}

static void plan_release(plan *p)
{
	free(p->moves);
	free(p->ws);
	free(p->seg);
	free(p->lo);
	free(p->uf);
	free(p->rr);
	free(p->don.a);
	free(p->rcv.a);
}

static sp_err plan_moves(plan *p, size_t owned, double total, sp_error *err)
{
	sp_err rc;

	if (p->in->slot_weight == NULL)
		rc = plan_by_slots(p, owned, err);
	else
		rc = plan_by_weight(p, owned, total, err);
	if (rc != SP_OK)
		return rc;
	return final_loads(p, err);
}

sp_err sp_plan_rebalance(const sp_plan_input *in, sp_plan *out, sp_error *err)
{
	plan p = {0};
	size_t owned = 0;
	double wsum = 0, total = 0;
	sp_err rc;

	if (out == NULL)
		return sp_seterr(err, SP_ERR_USAGE, "planner: no plan to fill");
	memset(out, 0, sizeof(*out));
	if ((rc = check_input(in, &wsum, &owned, &total, err)) != SP_OK)
		goto out;
	p.in = in;
	p.n = in->nnodes;
	out->load = p.load = calloc(p.n, sizeof(*out->load));
	out->target = p.target = calloc(p.n, sizeof(*out->target));
	p.moves = malloc((owned > 0 ? owned : 1) * sizeof(*p.moves));
	if (p.load == NULL || p.target == NULL || p.moves == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "planner: out of memory");
		goto out;
	}
	add_loads(&p, in->owner);
	if (in->slot_weight != NULL)
		shares_by_weight(&p, wsum, total);
	else if ((rc = shares_by_count(&p, wsum, owned, err)) != SP_OK)
		goto out;
	if (in->threshold_pct > 0 && within_threshold(&p, in->threshold_pct)) {
		out->below_threshold = 1;
		goto out;
	}
	if ((rc = plan_moves(&p, owned, total, err)) != SP_OK)
		goto out;
	out->moves = p.moves;
	out->nmoves = p.nmoves;
	p.moves = NULL; /* owned by out now */
out:
	plan_release(&p);
	if (rc != SP_OK)
		sp_plan_free(out);
	return rc;
}

void sp_plan_free(sp_plan *p)
{
	if (p == NULL)
		return;
	free(p->moves);
	free(p->load);
	free(p->target);
	memset(p, 0, sizeof(*p));
}
