/*
 * recover.c - resume planning and fix.
 */
#include "ops/recover.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/stop.h"
#include "cluster/converge.h"
#include "cluster/gather.h"

static int find_ep(const sp_opplan *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->nnodes; i++)
		if (strcmp(p->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* Marks in open[] every slot some reachable node has MIGRATING/IMPORTING. */
static void open_slots(const sp_cluster *c, unsigned char *open)
{
	size_t i, j;

	memset(open, 0, SP_SLOTS);
	for (i = 0; i < c->nnodes; i++)
		for (j = 0; j < c->nodes[i].view.nopen; j++)
			open[c->nodes[i].view.open[j].slot] = 1;
}

/* A source for a move whose target already owns the slot. */
static int other_than(const sp_opplan *p, int d, const char *pref_id)
{
	int s = find_ep(p, pref_id);

	if (s >= 0 && s != d)
		return s;
	return d == 0 ? (p->nnodes > 1 ? 1 : -1) : 0;
}

/*
 * Starts *out from the cluster's primaries with room for every move of
 * the journal record (and one more). The caller frees *out with
 * sp_opplan_free; nothing is left to free on error.
 */
static sp_err plan_for(const sp_journal_rec *rec, const sp_cluster *c,
		       sp_opplan *out, sp_error *err)
{
	sp_err rc;

	if ((rc = sp_opplan_from_cluster(c, out, err)) != SP_OK)
		return rc;
	if ((out->moves = calloc(rec->plan.nmoves + 1, sizeof(*out->moves))) ==
	    NULL) {
		sp_opplan_free(out);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	return SP_OK;
}

/* The error for a slot that no reachable primary alone claims: the
 * owner that does not answer, when some node still sees one. */
static sp_err no_owner(const sp_cluster *c, int slot, sp_error *err)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		const sp_view *v = &c->nodes[i].view;
		const sp_node *n;
		char addr[SP_ADDR_MAX];
		int ci;
		if (!c->nodes[i].reachable || v->owner[slot] < 0)
			continue;
		n = &v->nodes[v->owner[slot]];
		if ((ci = sp_cluster_find_id(c, n->id)) >= 0 &&
		    c->nodes[ci].reachable)
			continue;
		sp_format_addr(addr, sizeof(addr), n->ip, n->port);
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "slot %d belongs to %s, which does not "
				 "answer: run slotpilot resume again once it "
				 "answers or after its failover",
				 slot, addr);
	}
	return sp_seterr(err, SP_ERR_CLUSTER,
			 "slot %d has no single owner now; run slotpilot fix",
			 slot);
}

/*
 * A target that is no longer a live primary after its failover: the one
 * reachable primary that now owns every slot the journal records as moved
 * to it (its promoted replica), or -1 when there is none or no such slot.
 */
static int replacement(const sp_journal_rec *rec, const sp_opplan *out,
		       const char *dst_id)
{
	int r = -1;
	size_t i;

	for (i = 0; i < rec->plan.nmoves; i++) {
		const sp_move *m = &rec->plan.moves[i];
		int o = out->owners[m->slot];
		if (!rec->done[m->slot] ||
		    strcmp(rec->plan.nodes[m->dst].id, dst_id) != 0)
			continue;
		if (o < 0 || (r >= 0 && o != r))
			return -1;
		r = o;
	}
	return r;
}

sp_err sp_resume_plan(const sp_journal_rec *rec, const sp_cluster *c,
		      sp_opplan *out, sp_error *err)
{
	unsigned char open[SP_SLOTS];
	sp_err rc;
	size_t i;

	if ((rc = plan_for(rec, c, out, err)) != SP_OK)
		return rc;
	open_slots(c, open);
	for (i = 0; i < rec->plan.nmoves; i++) {
		const sp_move *m = &rec->plan.moves[i];
		const sp_endpoint *dst = &rec->plan.nodes[m->dst];
		int d = find_ep(out, dst->id), o = out->owners[m->slot], s;

		if (d < 0)
			d = replacement(rec, out, dst->id);
		if (d < 0) {
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "the target %s (%.8s) of slot %d is no "
				       "longer a reachable primary",
				       dst->addr, dst->id, m->slot);
			goto fail;
		}
		if (o == d && !open[m->slot])
			continue;
		if (o < 0) {
			rc = no_owner(c, m->slot, err);
			goto fail;
		}
		s = o != d ? o : other_than(out, d, rec->plan.nodes[m->src].id);
		if (s < 0)
			continue;
		out->moves[out->nmoves++] = (sp_move){m->slot, s, d};
	}
	return SP_OK;
fail:
	sp_opplan_free(out);
	return rc;
}

/* 1 if id names a reachable node whose own line says primary. */
static int live_primary(const sp_cluster *c, const char *id)
{
	int i = sp_cluster_find_id(c, id);
	const sp_node *self;

	if (i < 0 || !c->nodes[i].reachable)
		return 0;
	self = sp_view_self(&c->nodes[i].view);
	return self != NULL && (self->flags & SP_NF_MASTER);
}

sp_err sp_resume_prepare(const sp_cluster *c, const sp_conn_opts *co,
			 int *closed, sp_error *err)
{
	int claims[SP_SLOTS];
	sp_conn *conn = NULL;
	sp_err rc = SP_OK;
	size_t i, j;

	*closed = 0;
	sp_cluster_claims(c, claims);
	for (i = 0; i < c->nnodes && rc == SP_OK; i++) {
		const sp_view *v = &c->nodes[i].view;
		for (j = 0; j < v->nopen && rc == SP_OK; j++) {
			/* Only once a reachable primary has taken the slot over
			 * (a failover): a peer that merely does not answer
			 * still owns it (unreachable is not absent). */
			if (live_primary(c, v->open[j].peer) ||
			    claims[v->open[j].slot] < 0)
				continue;
			if (conn == NULL &&
			    (rc = sp_conn_open(c->nodes[i].host,
					       c->nodes[i].port, co, &conn,
					       err)) != SP_OK)
				break;
			rc = sp_conn_cmd(conn, NULL, err,
					 "CLUSTER SETSLOT %d STABLE",
					 v->open[j].slot);
			*closed += rc == SP_OK;
		}
		sp_conn_close(conn);
		conn = NULL;
	}
	return rc;
}

sp_err sp_wait_reachable_ok(const char *host, int port, const sp_conn_opts *co,
			    int wait_ms, sp_error *err)
{
	long long deadline = sp_now_ms() + wait_ms;
	sp_cluster c = {0};
	const char *bad = NULL;
	sp_err rc;
	size_t i;

	for (;;) {
		bad = NULL;
		if ((rc = sp_cluster_gather(host, port, co, &c, err)) == SP_OK)
			for (i = 0; i < c.nnodes && bad == NULL; i++)
				if (c.nodes[i].reachable &&
				    !c.nodes[i].state_ok)
					bad = c.nodes[i].addr;
		if (rc == SP_OK && bad == NULL)
			break;
		if (sp_now_ms() > deadline) {
			if (rc == SP_OK)
				rc = sp_seterr(err, SP_ERR_CLUSTER,
					       "%s still reports cluster_state "
					       "other than ok",
					       bad);
			break;
		}
		sp_cluster_free(&c);
		sp_sleep_ms(250);
	}
	sp_cluster_free(&c);
	return rc;
}

sp_err sp_rollback_plan(const sp_journal_rec *rec, const sp_cluster *c,
			sp_opplan *out, sp_error *err)
{
	unsigned char seen[SP_SLOTS] = {0};
	sp_err rc;
	size_t i;

	if ((rc = plan_for(rec, c, out, err)) != SP_OK)
		return rc;
	for (i = 0; i < rec->plan.nmoves; i++) {
		int s = rec->plan.moves[i].slot, was = rec->plan.owners[s], d,
		    o;
		if (seen[s] || was < 0)
			continue;
		seen[s] = 1;
		if ((d = find_ep(out, rec->plan.nodes[was].id)) < 0) {
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "slot %d belonged to %s, which is no "
				       "longer a reachable primary",
				       s, rec->plan.nodes[was].addr);
			sp_opplan_free(out);
			return rc;
		}
		if ((o = out->owners[s]) >= 0 && o != d)
			out->moves[out->nmoves++] = (sp_move){s, o, d};
	}
	return SP_OK;
}

/* Connections to every primary of a plan, opened once for fix, and what
 * fix decided for each slot it touches (recover.h). */
struct sp_fix_plan {
	sp_cluster c;
	sp_opplan p;
	sp_conn **conns;
	const sp_conn_opts *co;
	const sp_log *log;
	sp_fix_report *rep;
	sp_move *finish; /* open slots to finish through the engine */
	size_t nfinish;
	int claims[SP_SLOTS];  /* sp_cluster_claims: -2 claimed twice */
	int chosen[SP_SLOTS];  /* --owner: plan node index, or -1 */
	int planned[SP_SLOTS]; /* owners fix will give, or -1 */
	sp_fix_step *steps;    /* one per slot fix touches, by slot */
	size_t nsteps;
	int unresolved; /* steps that wait for --owner */
	char host[SP_HOST_MAX];
	int port;
};
typedef struct sp_fix_plan fixer;

static sp_err conn_of(fixer *f, int i, sp_conn **out, sp_error *err)
{
	const sp_endpoint *e = &f->p.nodes[i];
	sp_err rc;

	if (f->conns[i] == NULL &&
	    (rc = sp_conn_open(e->host, e->port, f->co, &f->conns[i], err)))
		return rc;
	*out = f->conns[i];
	return SP_OK;
}

/* Tries of a command a node answers NOREPLICAS (see node_cmd). */
#define BUSY_TRIES 8

/*
 * fmt (with slot and arg) on primary i. Valkey 8 hands CLUSTER SETSLOT to
 * the primary's replicas first and answers NOREPLICAS, having applied
 * nothing, when they did not ack within 2 s: such a command is sent again
 * after a pause, BUSY_TRIES times at most (about 25 s in all).
 */
static sp_err node_cmd(fixer *f, int i, redisReply **r, sp_error *err,
		       const char *fmt, int slot, const char *arg)
{
	unsigned seed = (unsigned)(slot * 31 + i);
	sp_error e = {SP_OK, ""};
	sp_conn *c;
	sp_err rc;
	int t;

	for (t = 0;; t++) {
		if ((rc = conn_of(f, i, &c, err)) != SP_OK)
			return rc;
		rc = sp_conn_cmd(c, r, &e, fmt, slot, arg);
		if (rc == SP_OK || strstr(e.msg, "NOREPLICAS") == NULL ||
		    t + 1 >= BUSY_TRIES)
			break;
		sp_backoff_sleep(t, 100, 2000, &seed);
	}
	if (rc != SP_OK && err != NULL)
		*err = e;
	return rc;
}

static sp_err count_keys(fixer *f, int slot, long long *counts, sp_error *err)
{
	redisReply *r = NULL;
	sp_err rc;
	size_t i;

	for (i = 0; i < f->p.nnodes; i++) {
		if ((rc = node_cmd(f, (int)i, &r, err,
				   "CLUSTER COUNTKEYSINSLOT %d", slot, NULL)))
			return rc;
		counts[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
		freeReplyObject(r);
	}
	return SP_OK;
}

/* SETSLOT STABLE on every reachable primary: clears MIGRATING and
 * IMPORTING; a no-op where the slot is not open. */
static sp_err stabilize(fixer *f, int slot, sp_error *err)
{
	sp_err rc;
	size_t i;

	for (i = 0; i < f->p.nnodes; i++)
		if ((rc = node_cmd(f, (int)i, NULL, err,
				   "CLUSTER SETSLOT %d STABLE", slot, NULL)))
			return rc;
	return SP_OK;
}

/* MIGRATE of one key to dst, without REPLACE, with AUTH when needed. */
static sp_err migrate_one(fixer *f, sp_conn *c, const sp_endpoint *dst,
			  const redisReply *k, sp_error *err)
{
	const char *argv[SP_MIGRATE_HEAD_MAX + 1];
	size_t lens[SP_MIGRATE_HEAD_MAX + 1];
	char nums[2][16];
	int argc = sp_migrate_head(dst, 10000, 0, f->co, nums, argv, lens);

	argv[argc] = k->str;
	lens[argc++] = k->len;
	return sp_conn_cmdv(c, NULL, err, argc, argv, lens);
}

/* One GETKEYSINSLOT batch of slot from node h moved into o, key by key,
 * without REPLACE; *empty once h has no key left in it. */
static sp_err keys_batch(fixer *f, sp_conn *c, int h, int o, int slot,
			 int *empty, sp_error *err)
{
	const sp_endpoint *dst = &f->p.nodes[o];
	redisReply *keys = NULL;
	sp_err rc;
	size_t j;

	if ((rc = sp_conn_cmd(c, &keys, err, "CLUSTER GETKEYSINSLOT %d 100",
			      slot)) ||
	    (rc = sp_reply_expect(c, keys, REDIS_REPLY_ARRAY, "GETKEYSINSLOT",
				  err)))
		goto out;
	*empty = keys->elements == 0;
	for (j = 0; j < keys->elements && rc == SP_OK; j++) {
		const redisReply *k = keys->element[j];
		if (k->type != REDIS_REPLY_STRING)
			continue;
		rc = sp_conn_cmd(c, NULL, err, "ASKING");
		if (rc == SP_OK)
			rc = migrate_one(f, c, dst, k, err);
		if (rc == SP_ERR_BUSYKEY)
			sp_error_prefix(err,
					"key \"%.*s\" of slot %d is on both %s "
					"and %s; keep one by hand, then run "
					"fix again",
					(int)(k->len > 64 ? 64 : k->len),
					k->str, slot, f->p.nodes[h].addr,
					dst->addr);
		else if (rc == SP_OK)
			f->rep->keys_moved++;
	}
out:
	freeReplyObject(keys);
	return rc;
}

/*
 * Moves every key of slot from node h into the owner o, without REPLACE:
 * which copy of a key on both sides is newer is unknown here, so such a
 * key stays where it is and is reported. h does not own the slot, so it
 * would answer MIGRATE with MOVED; marked IMPORTING it serves the keys to
 * a client that sent ASKING first. A claimant (claimed twice) owns it in
 * its own view and needs no IMPORTING.
 */
static sp_err keys_home(fixer *f, int h, int o, int slot, int claimant,
			sp_error *err)
{
	int empty = 0;
	sp_conn *c;
	sp_err rc;

	if ((rc = conn_of(f, h, &c, err)) != SP_OK ||
	    (!claimant &&
	     (rc = sp_conn_cmd(c, NULL, err, "CLUSTER SETSLOT %d IMPORTING %s",
			       slot, f->p.nodes[o].id)) != SP_OK))
		return rc;
	while (!empty && rc == SP_OK)
		rc = keys_batch(f, c, h, o, slot, &empty, err);
	if (rc == SP_OK && !claimant)
		rc = sp_conn_cmd(c, NULL, err, "CLUSTER SETSLOT %d STABLE",
				 slot);
	return rc;
}

/* 1 when plan node i claims slot in its own view. */
static int claims_slot(const fixer *f, int i, int slot)
{
	int ci = sp_cluster_find_id(&f->c, f->p.nodes[i].id);
	const sp_view *v;

	if (ci < 0)
		return 0;
	v = &f->c.nodes[ci].view;
	return v->myself >= 0 && v->owner[slot] == v->myself;
}

/*
 * Gives slot its owner o: a slot claimed twice is first given up by the
 * other claimants (whose keys keys_home moved into o already: Redis
 * refuses SETSLOT NODE to a node still holding keys of the slot, and that
 * refusal ends fix); then o takes it, bumps its epoch so that its claim
 * wins, and every other primary is told.
 */
static sp_err settle(fixer *f, int slot, int o, sp_error *err)
{
	sp_err rc;
	size_t i;

	for (i = 0; i < f->p.nnodes; i++)
		if ((int)i != o && claims_slot(f, (int)i, slot) &&
		    (rc = node_cmd(f, (int)i, NULL, err,
				   "CLUSTER SETSLOT %d NODE %s", slot,
				   f->p.nodes[o].id)) != SP_OK)
			return rc;
	if ((rc = stabilize(f, slot, err)) != SP_OK)
		return rc;
	rc = node_cmd(f, o, NULL, err, "CLUSTER ADDSLOTS %d", slot, NULL);
	if (rc == SP_ERR_SERVER) /* its view still names another owner */
		rc = node_cmd(f, o, NULL, err, "CLUSTER SETSLOT %d NODE %s",
			      slot, f->p.nodes[o].id);
	if (rc != SP_OK ||
	    (rc = node_cmd(f, o, NULL, err, "CLUSTER BUMPEPOCH", 0, NULL)))
		return rc;
	for (i = 0; i < f->p.nnodes; i++)
		if ((int)i != o)
			node_cmd(f, (int)i, NULL, NULL,
				 "CLUSTER SETSLOT %d NODE %s", slot,
				 f->p.nodes[o].id);
	sp_logf(f->log, "assign", "slot %d had no single owner: given to %s",
		slot, f->p.nodes[o].addr);
	f->p.owners[slot] = o;
	f->rep->assigned++;
	return SP_OK;
}

/* For a slot nobody claims: the primary with most of its keys, or else
 * the one with the fewest slots. */
static int pick_owner(const fixer *f, const long long *counts)
{
	int nslots[SP_SLOTS] = {0}, pick = 0, s;
	size_t i;

	for (s = 0; s < SP_SLOTS; s++)
		if (f->p.owners[s] >= 0 || f->planned[s] >= 0)
			nslots[f->p.owners[s] >= 0 ? f->p.owners[s]
						   : f->planned[s]]++;
	for (i = 1; i < f->p.nnodes; i++)
		if (counts[i] > counts[pick] ||
		    (counts[i] == counts[pick] && counts[i] == 0 &&
		     nslots[i] < nslots[pick]))
			pick = (int)i;
	return pick;
}

/* The node index that node i's own view says it migrates slot to, or
 * imports it from (importing = 1); -1 if none. */
static int open_peer(const fixer *f, int i, int slot, int importing)
{
	int ci = sp_cluster_find_id(&f->c, f->p.nodes[i].id);
	size_t j;

	if (ci < 0)
		return -1;
	for (j = 0; j < f->c.nodes[ci].view.nopen; j++) {
		const sp_open_slot *o = &f->c.nodes[ci].view.open[j];
		if (o->slot == slot && o->importing == importing)
			return find_ep(&f->p, o->peer);
	}
	return -1;
}

/* Appends printf text to st->what. */
static void say(sp_fix_step *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(sp_fix_step *st, const char *fmt, ...)
{
	size_t n = strlen(st->what);
	va_list ap;

	va_start(ap, fmt);
	if (n < sizeof(st->what))
		vsnprintf(st->what + n, sizeof(st->what) - n, fmt, ap);
	va_end(ap);
}

/* A slot claimed twice: each claimant with its keys and config epoch;
 * waits for --owner unless the operator chose. */
static void decide_claimed_twice(fixer *f, sp_fix_step *st,
				 const long long *counts)
{
	size_t i;
	int n = 0;

	say(st, "claimed by");
	for (i = 0; i < f->p.nnodes; i++) {
		int ci = sp_cluster_find_id(&f->c, f->p.nodes[i].id);
		if (!claims_slot(f, (int)i, st->slot))
			continue;
		say(st, "%s %s (%lld keys, config epoch %lld)",
		    n++ ? " and" : "", f->p.nodes[i].addr, counts[i],
		    f->c.nodes[ci].my_epoch);
	}
	st->claimed_twice = 1;
	st->assign = 1;
	if ((st->owner = f->chosen[st->slot]) < 0) {
		st->kind = SP_FIX_CHOOSE;
		say(st, ": choose with --owner %d=NODE", st->slot);
		return;
	}
	say(st,
	    ": keep %s (--owner), the others' keys move into it without "
	    "REPLACE; ",
	    f->p.nodes[st->owner].addr);
}

/* The owner of st->slot, chosen or picked when it has none. */
static void decide_owner(fixer *f, sp_fix_step *st, const long long *counts)
{
	st->owner = f->p.owners[st->slot];
	if (f->claims[st->slot] == -2) {
		decide_claimed_twice(f, st, counts);
		return;
	}
	if (st->owner >= 0)
		return;
	st->assign = 1;
	st->owner = f->chosen[st->slot] >= 0 ? f->chosen[st->slot]
					     : pick_owner(f, counts);
	say(st, "no owner: give it to %s%s; ", f->p.nodes[st->owner].addr,
	    f->chosen[st->slot] >= 0 ? " (--owner)"
	    : counts[st->owner] > 0  ? " (most of its keys)"
				     : " (fewest slots)");
}

/*
 * What fix does to one slot, given the key counts of every primary (a
 * pure function of the plan): its owner (picked or chosen when it has
 * none), then: reverted onto the owner when no other primary holds its
 * keys; finished when one open peer holds them all; otherwise stray keys
 * are moved home.
 */
static void decide_counts(fixer *f, int slot, const long long *counts,
			  sp_fix_step *st)
{
	long long elsewhere;
	int o, h = -1, nholders = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->slot = slot;
	st->holder = -1;
	decide_owner(f, st, counts);
	if (st->kind == SP_FIX_CHOOSE)
		return;
	o = st->owner;
	for (i = 0, elsewhere = 0; i < f->p.nnodes; i++)
		if ((int)i != o && counts[i] > 0)
			h = (int)i, nholders++, elsewhere += counts[i];
	if (nholders == 1 && !st->claimed_twice &&
	    (open_peer(f, o, slot, 0) == h || open_peer(f, h, slot, 1) == o)) {
		st->kind = SP_FIX_FINISH, st->holder = h;
		say(st,
		    "open; %lld keys already on %s: finish the move %s -> %s",
		    counts[h], f->p.nodes[h].addr, f->p.nodes[o].addr,
		    f->p.nodes[h].addr);
	} else if (nholders == 0) {
		st->kind = SP_FIX_REVERT;
		say(st, "no keys on another primary: close it on %s",
		    f->p.nodes[o].addr);
	} else {
		st->kind = SP_FIX_HOME;
		say(st,
		    "%lld keys on %d other primaries: move them into %s "
		    "without REPLACE, then close it",
		    elsewhere, nholders, f->p.nodes[o].addr);
	}
}

/* decide_counts on the live key counts (COUNTKEYSINSLOT, read only). */
static sp_err decide(fixer *f, int slot, sp_fix_step *st, sp_error *err)
{
	long long *counts = calloc(f->p.nnodes, sizeof(long long));
	sp_err rc;

	if (counts == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = count_keys(f, slot, counts, err)) == SP_OK)
		decide_counts(f, slot, counts, st);
	free(counts);
	return rc;
}

/* Carries out one planned step, after checking that the live counts
 * still lead to the same decision. */
static sp_err apply_step(fixer *f, const sp_fix_step *plan, sp_error *err)
{
	sp_fix_step now;
	int s = plan->slot, o;
	sp_err rc;
	size_t i;

	if (plan->assign)
		f->chosen[s] = plan->owner; /* the owner the plan picked */
	if ((rc = decide(f, s, &now, err)) != SP_OK)
		return rc;
	if (now.kind != plan->kind || now.owner != plan->owner ||
	    now.holder != plan->holder)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "slot %d changed since fix looked at it (now: "
				 "%s); run fix again",
				 s, now.what);
	o = plan->owner;
	for (i = 0; plan->claimed_twice && i < f->p.nnodes && !rc; i++)
		if ((int)i != o && claims_slot(f, (int)i, s))
			rc = keys_home(f, (int)i, o, s, 1, err);
	if (rc == SP_OK && plan->assign)
		rc = settle(f, s, o, err);
	if (rc != SP_OK || plan->kind == SP_FIX_FINISH) {
		if (rc == SP_OK)
			f->finish[f->nfinish++] = (sp_move){s, o, plan->holder};
		return rc;
	}
	for (i = 0; plan->kind == SP_FIX_HOME && i < f->p.nnodes && !rc; i++)
		if ((int)i != o && !claims_slot(f, (int)i, s))
			rc = keys_home(f, (int)i, o, s, 0, err);
	if (rc == SP_OK)
		rc = stabilize(f, s, err);
	sp_logf(f->log, "revert", "slot %d: %s", s, plan->what);
	f->rep->reverted++;
	return rc;
}

/* Moves the slots to finish through the engine (REPLACE, full order). */
static sp_err finish_all(fixer *f, const sp_migrate_opts *mig, sp_error *err)
{
	sp_migrate_stats st;
	sp_migrate_opts o = *mig;
	sp_err rc;

	if (f->nfinish == 0)
		return SP_OK;
	o.on_done = NULL;
	o.on_progress = NULL;
	rc = sp_migrate(f->p.nodes, f->p.nnodes, f->finish, f->nfinish, &o, &st,
			err);
	if (rc == SP_OK)
		f->rep->finished += (int)f->nfinish;
	return rc;
}

/* 1 when name (a node id, a prefix of 6+ characters, or HOST:PORT)
 * names the node line n. */
static int names_node(const char *name, const sp_node *n)
{
	char addr[SP_ADDR_MAX];
	size_t len = strlen(name);

	sp_format_addr(addr, sizeof(addr), n->ip, n->port);
	return strcmp(name, addr) == 0 ||
	       (len >= 6 && len <= SP_ID_LEN && strncmp(n->id, name, len) == 0);
}

/* 1 when some reachable node holds a slot open toward id. */
static int open_toward(const sp_cluster *c, const char *id)
{
	size_t i, j;

	for (i = 0; i < c->nnodes; i++)
		for (j = 0; c->nodes[i].reachable && j < c->nodes[i].view.nopen;
		     j++)
			if (strcmp(c->nodes[i].view.open[j].peer, id) == 0)
				return 1;
	return 0;
}

/* 1 when the operator named line n with --with-unreachable; marks the
 * names used in used[]. */
static int overridden(const sp_fix_opts *fo, const sp_node *n,
		      unsigned char *used)
{
	size_t k;
	int hit = 0;

	for (k = 0; fo != NULL && k < fo->nwith_unreachable; k++)
		if (names_node(fo->with_unreachable[k], n))
			used[k] = 1, hit = 1;
	return hit;
}

/*
 * Unreachable is not absent (DESIGN.md, rule 7): fix decides from where
 * the keys are, and it cannot count them on a primary that does not
 * answer; Redis would also hand that primary's slots to whoever claims
 * them with a higher epoch and flush them from it when it comes back.
 * So a primary that some reachable node sees owning slots (or as the
 * peer of an open slot) and that does not answer stops fix before it
 * changes anything, unless the operator names it with --with-unreachable.
 */
static sp_err check_unreachable(const fixer *f, const sp_fix_opts *fo,
				sp_error *err)
{
	unsigned char used[64] = {0};
	size_t i, j, k;

	for (i = 0; i < f->c.nnodes; i++) {
		const sp_view *v = &f->c.nodes[i].view;
		for (j = 0; f->c.nodes[i].reachable && j < v->nnodes; j++) {
			const sp_node *n = &v->nodes[j];
			int ci = sp_cluster_find_id(&f->c, n->id);
			char addr[SP_ADDR_MAX];
			if (!sp_node_is_primary(n) ||
			    (ci >= 0 && f->c.nodes[ci].reachable) ||
			    (n->nslots == 0 && !open_toward(&f->c, n->id)) ||
			    overridden(fo, n, used))
				continue;
			sp_format_addr(addr, sizeof(addr), n->ip, n->port);
			return sp_seterr(
			    err, SP_ERR_CLUSTER,
			    "primary %s (%.8s) does not answer, and %s sees it "
			    "owning %d slots: fix changes nothing while it "
			    "cannot count its keys. Run fix again once it "
			    "answers or after its failover; if it is gone for "
			    "good, name it with --with-unreachable %s (its "
			    "slots then go to other primaries, without its "
			    "keys)",
			    addr, n->id, f->c.nodes[i].addr, n->nslots, addr);
		}
	}
	for (k = 0; fo != NULL && k < fo->nwith_unreachable && k < 64; k++)
		if (!used[k])
			return sp_seterr(
			    err, SP_ERR_USAGE,
			    "--with-unreachable %s: no unreachable "
			    "primary of the cluster has that id or "
			    "address",
			    fo->with_unreachable[k]);
	return SP_OK;
}

/* --owner SLOT=NODE into f->chosen; SP_ERR_USAGE naming a bad one. */
static sp_err read_choices(fixer *f, const sp_fix_opts *fo, sp_error *err)
{
	size_t k;
	sp_err rc;

	for (k = 0; k < SP_SLOTS; k++)
		f->chosen[k] = f->planned[k] = -1;
	for (k = 0; fo != NULL && k < fo->nowners; k++) {
		const char *v = fo->owners[k], *eq = strchr(v, '=');
		char *end;
		long s = eq ? strtol(v, &end, 10) : -1;
		int idx;
		if (eq == NULL || end != eq || s < 0 || s >= SP_SLOTS)
			return sp_seterr(err, SP_ERR_USAGE,
					 "--owner %s: not SLOT=NODE (a slot "
					 "0-16383 and a primary)",
					 v);
		if ((rc = sp_opplan_resolve(&f->p, &f->c, eq + 1, &idx, err)))
			return rc;
		if (f->claims[s] != -2 && f->p.owners[s] >= 0)
			return sp_seterr(err, SP_ERR_USAGE,
					 "--owner %s: slot %ld has one owner "
					 "(%s); --owner is for a slot claimed "
					 "twice or by nobody",
					 v, s, f->p.nodes[f->p.owners[s]].addr);
		if (f->claims[s] == -2 && !claims_slot(f, idx, (int)s))
			return sp_seterr(err, SP_ERR_USAGE,
					 "--owner %s: %s does not claim slot "
					 "%ld",
					 v, f->p.nodes[idx].addr, s);
		f->chosen[s] = idx;
	}
	return SP_OK;
}

/* The steps of every slot that is open somewhere, owned by nobody, or
 * claimed twice. */
static sp_err plan_steps(fixer *f, sp_error *err)
{
	unsigned char open[SP_SLOTS];
	sp_err rc = SP_OK;
	int s;

	open_slots(&f->c, open);
	for (s = 0; s < SP_SLOTS && rc == SP_OK; s++) {
		if (!open[s] && f->p.owners[s] >= 0 && f->claims[s] != -2)
			continue;
		rc = decide(f, s, &f->steps[f->nsteps], err);
		if (f->steps[f->nsteps].assign)
			f->planned[s] = f->steps[f->nsteps].owner;
		f->unresolved += f->steps[f->nsteps++].kind == SP_FIX_CHOOSE;
	}
	return rc;
}

sp_err sp_fix_prepare(const char *host, int port, const sp_conn_opts *co,
		      const sp_fix_opts *fo, sp_fix_plan **out, sp_error *err)
{
	fixer *f = calloc(1, sizeof(*f));
	sp_err rc;

	*out = NULL;
	if (f == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	f->co = co;
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->port = port;
	if ((rc = sp_cluster_gather(host, port, co, &f->c, err)) != SP_OK ||
	    (rc = check_unreachable(f, fo, err)) != SP_OK ||
	    (rc = sp_opplan_from_cluster(&f->c, &f->p, err)) != SP_OK)
		goto out;
	sp_cluster_claims(&f->c, f->claims);
	f->conns = calloc(f->p.nnodes, sizeof(*f->conns));
	f->finish = calloc(SP_SLOTS, sizeof(*f->finish));
	f->steps = calloc(SP_SLOTS, sizeof(*f->steps));
	if (f->conns == NULL || f->finish == NULL || f->steps == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = read_choices(f, fo, err)) == SP_OK &&
	    (rc = plan_steps(f, err)) == SP_OK)
		*out = f, f = NULL;
out:
	sp_fix_plan_free(f);
	return rc;
}

const sp_fix_step *sp_fix_steps(const sp_fix_plan *pl, size_t *n)
{
	*n = pl->nsteps;
	return pl->steps;
}

void sp_fix_plan_free(sp_fix_plan *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; f->conns != NULL && i < f->p.nnodes; i++)
		sp_conn_close(f->conns[i]);
	free(f->conns);
	free(f->finish);
	free(f->steps);
	sp_opplan_free(&f->p);
	sp_cluster_free(&f->c);
	free(f);
}

sp_err sp_fix_run(sp_fix_plan *f, const sp_migrate_opts *mig, const sp_log *log,
		  sp_fix_report *rep, sp_error *err)
{
	sp_check_opts copts = sp_check_defaults();
	sp_err rc = SP_OK;
	size_t i;

	memset(rep, 0, sizeof(*rep));
	f->log = log;
	f->rep = rep;
	for (i = 0; i < f->nsteps; i++)
		if (f->steps[i].kind == SP_FIX_CHOOSE)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "slot %d is %s; nothing was changed",
					 f->steps[i].slot, f->steps[i].what);
	for (i = 0; i < f->nsteps && rc == SP_OK; i++)
		if ((rc = sp_stop_check(mig->stop, "fix", "between two slots",
					"run fix again to finish", err)) ==
		    SP_OK)
			rc = apply_step(f, &f->steps[i], err);
	if (rc == SP_OK)
		rc = finish_all(f, mig, err);
	if (rc == SP_OK)
		rc = sp_wait_healthy(f->host, f->port, f->co, &copts, 30000,
				     250, NULL, err);
	return rc;
}

sp_err sp_fix(const char *host, int port, const sp_conn_opts *co,
	      const sp_migrate_opts *mig, const sp_log *log, sp_fix_report *rep,
	      sp_error *err)
{
	sp_fix_plan *f = NULL;
	sp_err rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = sp_fix_prepare(host, port, co, NULL, &f, err)) == SP_OK)
		rc = sp_fix_run(f, mig, log, rep, err);
	sp_fix_plan_free(f);
	return rc;
}

sp_err sp_close_open_slots(const char *host, int port, const sp_conn_opts *co,
			   const sp_migrate_opts *mig, const sp_log *log,
			   int *fixed, sp_error *err)
{
	sp_fix_report rep;
	sp_cluster c = {0};
	size_t i, open = 0;
	sp_err rc;

	*fixed = 0;
	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
		return rc;
	for (i = 0; i < c.nnodes; i++)
		open += c.nodes[i].view.nopen;
	sp_cluster_free(&c);
	if (open == 0)
		return SP_OK;
	sp_logf(log, "fix",
		"%zu slots are open from an interrupted move: "
		"closing them first",
		open);
	*fixed = 1;
	return sp_fix(host, port, co, mig, log, &rep, err);
}
