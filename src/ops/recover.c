/*
 * recover.c - resume planning and fix.
 */
#include "ops/recover.h"

#include <stdlib.h>
#include <string.h>

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
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "slot %d has no single owner now; run "
				       "slotpilot fix",
				       m->slot);
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
	sp_conn *conn = NULL;
	sp_err rc = SP_OK;
	size_t i, j;

	*closed = 0;
	for (i = 0; i < c->nnodes && rc == SP_OK; i++) {
		const sp_view *v = &c->nodes[i].view;
		for (j = 0; j < v->nopen && rc == SP_OK; j++) {
			if (live_primary(c, v->open[j].peer))
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

/* Connections to every primary of a plan, opened once for fix. */
typedef struct fixer {
	const sp_cluster *c;
	sp_opplan p;
	sp_conn **conns;
	const sp_conn_opts *co;
	const sp_log *log;
	sp_fix_report *rep;
	sp_move *finish; /* open slots to finish through the engine */
	size_t nfinish;
} fixer;

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

static sp_err node_cmd(fixer *f, int i, redisReply **r, sp_error *err,
		       const char *fmt, int slot, const char *arg)
{
	sp_conn *c;
	sp_err rc;

	if ((rc = conn_of(f, i, &c, err)) != SP_OK)
		return rc;
	return sp_conn_cmd(c, r, err, fmt, slot, arg);
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

/*
 * Moves every key of slot from node h into the owner o, without REPLACE:
 * which copy of a key on both sides is newer is unknown here, so such a
 * key stays where it is and is reported. h does not own the slot, so it
 * would answer MIGRATE with MOVED; marked IMPORTING it serves the keys to
 * a client that sent ASKING first.
 */
static sp_err keys_home(fixer *f, int h, int o, int slot, sp_error *err)
{
	const sp_endpoint *dst = &f->p.nodes[o];
	redisReply *keys = NULL;
	sp_conn *c;
	sp_err rc;
	size_t j;

	if ((rc = conn_of(f, h, &c, err)) != SP_OK ||
	    (rc = sp_conn_cmd(c, NULL, err, "CLUSTER SETSLOT %d IMPORTING %s",
			      slot, dst->id)) != SP_OK)
		return rc;
	for (;;) {
		if ((rc = sp_conn_cmd(c, &keys, err,
				      "CLUSTER GETKEYSINSLOT %d 100", slot)) ||
		    (rc = sp_reply_expect(c, keys, REDIS_REPLY_ARRAY,
					  "GETKEYSINSLOT", err)))
			break;
		if (keys->elements == 0)
			break;
		for (j = 0; j < keys->elements && rc == SP_OK; j++) {
			const redisReply *k = keys->element[j];
			if (k->type != REDIS_REPLY_STRING)
				continue;
			rc = sp_conn_cmd(c, NULL, err, "ASKING");
			if (rc == SP_OK)
				rc = migrate_one(f, c, dst, k, err);
			if (rc == SP_ERR_BUSYKEY)
				sp_error_prefix(
				    err,
				    "key \"%.*s\" of slot %d is on "
				    "both %s and %s; keep one by "
				    "hand, then run fix again",
				    (int)(k->len > 64 ? 64 : k->len), k->str,
				    slot, f->p.nodes[h].addr, dst->addr);
			else if (rc == SP_OK)
				f->rep->keys_moved++;
		}
		freeReplyObject(keys);
		keys = NULL;
		if (rc != SP_OK)
			break;
	}
	freeReplyObject(keys);
	if (rc == SP_OK)
		rc = sp_conn_cmd(c, NULL, err, "CLUSTER SETSLOT %d STABLE",
				 slot);
	return rc;
}

/* Gives slot (owned by nobody, or claimed twice) one owner: the primary
 * with most of its keys, or else the one with the fewest slots. */
static sp_err assign(fixer *f, int slot, const long long *counts, int *owner,
		     sp_error *err)
{
	int nslots[SP_SLOTS] = {0}, pick = 0, s;
	size_t i;
	sp_err rc;

	for (s = 0; s < SP_SLOTS; s++)
		if (f->p.owners[s] >= 0)
			nslots[f->p.owners[s]]++;
	for (i = 1; i < f->p.nnodes; i++)
		if (counts[i] > counts[pick] ||
		    (counts[i] == counts[pick] && counts[i] == 0 &&
		     nslots[i] < nslots[pick]))
			pick = (int)i;
	if ((rc = stabilize(f, slot, err)) != SP_OK)
		return rc;
	rc = node_cmd(f, pick, NULL, err, "CLUSTER ADDSLOTS %d", slot, NULL);
	if (rc == SP_ERR_SERVER) /* its view still names another owner */
		rc = node_cmd(f, pick, NULL, err, "CLUSTER SETSLOT %d NODE %s",
			      slot, f->p.nodes[pick].id);
	if (rc != SP_OK ||
	    (rc = node_cmd(f, pick, NULL, err, "CLUSTER BUMPEPOCH", 0, NULL)))
		return rc;
	for (i = 0; i < f->p.nnodes; i++)
		if ((int)i != pick)
			node_cmd(f, (int)i, NULL, NULL,
				 "CLUSTER SETSLOT %d NODE %s", slot,
				 f->p.nodes[pick].id);
	sp_logf(f->log, "assign", "slot %d had no single owner: given to %s",
		slot, f->p.nodes[pick].addr);
	f->p.owners[slot] = pick;
	f->rep->assigned++;
	*owner = pick;
	return SP_OK;
}

/* The node index that node i's own view says it migrates slot to, or
 * imports it from (importing = 1); -1 if none. */
static int open_peer(const fixer *f, int i, int slot, int importing)
{
	int ci = sp_cluster_find_id(f->c, f->p.nodes[i].id);
	size_t j;

	if (ci < 0)
		return -1;
	for (j = 0; j < f->c->nodes[ci].view.nopen; j++) {
		const sp_open_slot *o = &f->c->nodes[ci].view.open[j];
		if (o->slot == slot && o->importing == importing)
			return find_ep(&f->p, o->peer);
	}
	return -1;
}

/* Logs that slot was closed on its owner o (how: what was done) and
 * counts it as reverted. */
static void revert_noted(fixer *f, int slot, int o, const char *how)
{
	sp_logf(f->log, "revert", "slot %d: %s its owner %s", slot, how,
		f->p.nodes[o].addr);
	f->rep->reverted++;
}

/* Closes slot on its owner o (stabilize) and notes it as reverted. */
static sp_err revert(fixer *f, int slot, int o, const char *how, sp_error *err)
{
	sp_err rc = stabilize(f, slot, err);

	revert_noted(f, slot, o, how);
	return rc;
}

/* Closes one open slot: reverted onto its owner when no other node
 * holds its keys, or the keys are brought home; queued in f->finish when
 * one open peer holds them all (the move is finished later). */
static sp_err fix_slot(fixer *f, int slot, sp_error *err)
{
	long long *counts = calloc(f->p.nnodes, sizeof(long long));
	int o = f->p.owners[slot], h = -1, nholders = 0;
	sp_err rc;
	size_t i;

	if (counts == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = count_keys(f, slot, counts, err)) != SP_OK ||
	    (o < 0 && (rc = assign(f, slot, counts, &o, err)) != SP_OK))
		goto out;
	for (i = 0; i < f->p.nnodes; i++)
		if ((int)i != o && counts[i] > 0)
			h = (int)i, nholders++;
	if (nholders == 0) {
		rc = revert(f, slot, o, "no keys elsewhere, closed on", err);
	} else if (nholders == 1 && (open_peer(f, o, slot, 0) == h ||
				     open_peer(f, h, slot, 1) == o)) {
		sp_logf(f->log, "finish",
			"slot %d: %lld keys already on %s, "
			"finishing the move",
			slot, counts[h], f->p.nodes[h].addr);
		f->finish[f->nfinish++] = (sp_move){slot, o, h};
	} else {
		for (i = 0; i < f->p.nnodes && rc == SP_OK; i++)
			if ((int)i != o && counts[i] > 0)
				rc = keys_home(f, (int)i, o, slot, err);
		if (rc == SP_OK)
			rc = revert(f, slot, o, "stray keys moved back into",
				    err);
		else
			revert_noted(f, slot, o, "stray keys moved back into");
	}
out:
	free(counts);
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

sp_err sp_fix(const char *host, int port, const sp_conn_opts *co,
	      const sp_migrate_opts *mig, const sp_log *log, sp_fix_report *rep,
	      sp_error *err)
{
	sp_check_opts copts = sp_check_defaults();
	unsigned char open[SP_SLOTS];
	fixer f = {.co = co, .log = log, .rep = rep};
	sp_cluster c = {0};
	sp_err rc;
	size_t i;
	int s;

	memset(rep, 0, sizeof(*rep));
	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
		return rc;
	f.c = &c;
	if ((rc = sp_opplan_from_cluster(&c, &f.p, err)) != SP_OK)
		goto out;
	f.conns = calloc(f.p.nnodes, sizeof(*f.conns));
	f.finish = calloc(SP_SLOTS, sizeof(*f.finish));
	if (f.conns == NULL || f.finish == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	open_slots(&c, open);
	for (s = 0; s < SP_SLOTS && rc == SP_OK; s++)
		if ((open[s] || f.p.owners[s] < 0) &&
		    (rc = sp_stop_check(mig->stop, "fix", "between two slots",
					"run fix again to finish", err)) ==
			SP_OK)
			rc = fix_slot(&f, s, err);
	if (rc == SP_OK)
		rc = finish_all(&f, mig, err);
	if (rc == SP_OK)
		rc = sp_wait_healthy(host, port, co, &copts, 30000, 250, NULL,
				     err);
out:
	for (i = 0; f.conns != NULL && i < f.p.nnodes; i++)
		sp_conn_close(f.conns[i]);
	free(f.conns);
	free(f.finish);
	sp_opplan_free(&f.p);
	sp_cluster_free(&c);
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
