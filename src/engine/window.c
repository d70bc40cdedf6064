/*
 * window.c - the protocol steps of one window of slots for the slot mover
 * (migrate.h): SETSLOT IMPORTING / MIGRATING, SETSLOT NODE on the target
 * and then on every other primary, and closing what an error left open.
 * The keys themselves are moved by drain.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/mover.h"

/*
 * The connection to node i, opened (or reopened after an error) now, with
 * any replies still deferred on it read first (see broadcast_node).
 */
sp_err sp_mover_conn_to(worker *w, int i, sp_conn **out)
{
	const sp_endpoint *e = &w->sh->nodes[i];
	sp_err rc;

	if (sp_mover_gone(w, i))
		return sp_seterr(&w->err, SP_ERR_TIMEOUT,
				 "%s does not answer: the move gave up on it",
				 e->addr);
	if (w->conns[i] != NULL && w->conns[i]->pending > 0) {
		/* Deferred replies were not waited for when they were due:
		 * reading them now is no turn of the timeline. */
		long long turns = w->conns[i]->turns;
		sp_conn_drain(w->conns[i]);
		w->conns[i]->turns = turns;
	}
	if (w->conns[i] != NULL && sp_conn_broken(w->conns[i])) {
		sp_conn_close(w->conns[i]);
		w->conns[i] = NULL;
	}
	if (w->conns[i] == NULL &&
	    (rc = sp_conn_open(e->host, e->port, w->sh->o->conn, &w->conns[i],
			       &w->err)) != SP_OK) {
		sp_mover_heard(w, i, 0);
		return rc;
	}
	*out = w->conns[i];
	return SP_OK;
}

/* Sorts a SETSLOT error into the cases the mover handles. */
static int setslot_result(sp_err rc, const char *msg)
{
	if (rc == SP_OK)
		return R_OK;
	if (strstr(msg, "already the owner") != NULL)
		return R_OWNER;
	if (strstr(msg, "not the owner") != NULL)
		return R_NOT_OWNER;
	/* Valkey 8 blocks SETSLOT until the replicas ack; a primary that
	 * loses its last slot meanwhile (gossip from the target) turns
	 * replica and unblocks the client with "UNBLOCKED ... (master ->
	 * replica?)": it is a replica now, like the answer above. */
	if (strstr(msg, "only with masters") != NULL ||
	    (strstr(msg, "UNBLOCKED") != NULL &&
	     strstr(msg, "replica") != NULL))
		return R_NOT_MASTER;
	/* Valkey 8 hands SETSLOT to the primary's replicas first and
	 * answers NOREPLICAS when they did not ack within 2 s (a replica
	 * still loading): nothing was applied, so it is asked again. */
	if (strstr(msg, "NOREPLICAS") != NULL || sp_mover_retryable(rc))
		return R_BUSY;
	return R_ERR;
}

/* Appends "CLUSTER SETSLOT slot VERB [id]" (no id when id is NULL). */
static sp_err append_setslot(worker *w, sp_conn *c, int slot, const char *verb,
			     const char *id)
{
	if (id == NULL)
		return sp_conn_append(c, &w->err, "CLUSTER SETSLOT %d %s", slot,
				      verb);
	return sp_conn_append(c, &w->err, "CLUSTER SETSLOT %d %s %s", slot,
			      verb, id);
}

/* Index of the last slot of the window still moving, or k if none. */
static size_t last_moving(const wslot *ws, size_t k)
{
	size_t i, last = k;

	for (i = 0; i < k; i++)
		if (ws[i].state == S_MOVING)
			last = i;
	return last;
}

/* Reads one SETSLOT reply into *res (the verb's result); SP_OK unless the
 * connection failed. */
static sp_err read_setslot(worker *w, sp_conn *c, int *res)
{
	sp_error e;
	sp_err r = sp_conn_read(c, NULL, &e, "CLUSTER SETSLOT");

	if (sp_conn_broken(c)) {
		w->err = e;
		return r;
	}
	/* Kept for any result but OK: check_results quotes it when the
	 * result is not one the step accepts. */
	if ((*res = setslot_result(r, e.msg)) != R_OK)
		w->err = e;
	return SP_OK;
}

/* One setslot_all: the window, which of its slots it covers, the verb. */
typedef struct setslot_req {
	wslot *ws;
	size_t k, last; /* last: see STABLE_FIRST */
	int only, quiet;
	const char *verb, *id;
	int *res;
	int again; /* only the slots that came back R_BUSY */
} setslot_req;

static int sent(const setslot_req *q, size_t i)
{
	const wslot *x = &q->ws[i];

	return x->state != S_DONE && (q->only < 0 || x->state == q->only) &&
	       (!q->again || q->res[i] == R_BUSY);
}

/* With quiet, every moving slot but the last goes STABLE first. */
static int stable_first(const setslot_req *q, size_t i)
{
	return q->quiet && q->ws[i].state == S_MOVING && i != q->last;
}

static sp_err send_setslots(worker *w, sp_conn *c, const setslot_req *q)
{
	sp_err rc = SP_OK;
	size_t i;

	for (i = 0; i < q->k && rc == SP_OK; i++) {
		if (!sent(q, i))
			continue;
		if (stable_first(q, i))
			rc =
			    append_setslot(w, c, q->ws[i].slot, "STABLE", NULL);
		if (rc == SP_OK)
			rc =
			    append_setslot(w, c, q->ws[i].slot, q->verb, q->id);
	}
	return rc;
}

/*
 * Reads the replies of send_setslots into q->res. After the first R_BUSY
 * the rest are not waited for (each could block for Valkey's 2 s): they
 * are marked R_BUSY too and *busy is set, and the caller drops the
 * connection, which discards them on the node.
 */
static sp_err read_setslots(worker *w, sp_conn *c, setslot_req *q, int *busy)
{
	sp_err rc = SP_OK;
	size_t i;

	*busy = 0;
	for (i = 0; i < q->k && rc == SP_OK; i++) {
		if (!sent(q, i)) {
			/* a retry of the busy ones keeps the rest */
			if (!q->again)
				q->res[i] = R_OK;
			continue;
		}
		q->res[i] = *busy ? R_BUSY : R_OK;
		if (*busy)
			continue;
		/* STABLE's reply first; the verb's is the one that counts */
		if (stable_first(q, i))
			rc = read_setslot(w, c, &q->res[i]);
		if (rc == SP_OK && q->res[i] != R_BUSY)
			rc = read_setslot(w, c, &q->res[i]);
		*busy = q->res[i] == R_BUSY;
	}
	return rc;
}

/*
 * Sends "CLUSTER SETSLOT s VERB [id]" to node for every slot of the window
 * not yet done (or, with only >= 0, in that state) and reads the replies
 * into res[]. With quiet (the target's SETSLOT NODE, see finalize), every
 * moving slot but the last is made STABLE first in the same pipeline.
 * Retries the whole pipeline on connection errors (all of it is
 * idempotent), and the slots that came back R_BUSY on their own, until the
 * retries or the node's deadline run out; then the run gives up on the
 * node. Returns an error only when the node cannot be reached.
 */
static sp_err setslot_all(worker *w, int node, wslot *ws, size_t k, int only,
			  const char *verb, const char *id, int *res, int quiet)
{
	setslot_req q = {ws,   k,     quiet ? last_moving(ws, k) : k,
			 only, quiet, verb,
			 id,   res,   0};
	int attempt, busy = 0;
	sp_conn *c;
	sp_err rc = SP_OK;

	for (attempt = 0; attempt <= w->sh->o->max_retries; attempt++) {
		if (attempt > 0) {
			sp_mover_add_stats(w->sh, 0, 0, 1);
			sp_mover_backoff(w, attempt);
		}
		if ((rc = sp_mover_conn_to(w, node, &c)) != SP_OK) {
			if (sp_mover_gone(w, node))
				break;
			continue;
		}
		if ((rc = send_setslots(w, c, &q)) == SP_OK)
			rc = read_setslots(w, c, &q, &busy);
		sp_mover_heard(w, node, rc == SP_OK);
		if (rc == SP_OK && !busy)
			return SP_OK;
		q.again = rc == SP_OK;
		/* What is left on the connection is dropped with it (busy:
		 * replies that may each block for seconds) or drained. */
		if (busy) {
			sp_conn_close(c);
			w->conns[node] = NULL;
		} else
			sp_conn_drain(c);
		if (!busy &&
		    (!sp_mover_retryable(rc) || sp_mover_gone(w, node)))
			break;
	}
	if (sp_mover_retryable(rc))
		sp_mover_give_up(w, node);
	return rc;
}

/* Fails the window on the first result that is not accepted. */
static sp_err check_results(worker *w, const wslot *ws, size_t k,
			    const int *res, int accept)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (res[i] != R_OK && res[i] != accept) {
			/* The message goes into the buffer it quotes: copy
			 * it first (snprintf must not read what it writes). */
			char why[sizeof(w->err.msg)];
			snprintf(why, sizeof(why), "%s", w->err.msg);
			if (res[i] != R_ERR && res[i] != R_BUSY)
				sp_seterr(&w->err, SP_ERR_CLUSTER,
					  "slot %d: unexpected owner state "
					  "(%s)",
					  ws[i].slot, why);
			return w->err.code ? w->err.code : SP_ERR_CLUSTER;
		}
	return SP_OK;
}

/*
 * Opens the window: IMPORTING on the target first, then MIGRATING on the
 * source. In this order the source never sends an ASK to a target that
 * would refuse it. A slot the target already owns (a finished move being
 * resumed) only needs its final SETSLOT NODE broadcast.
 */
static sp_err open_window(worker *w, wslot *ws, size_t k, int *res)
{
	const sp_endpoint *src = &w->sh->nodes[w->p->src];
	const sp_endpoint *dst = &w->sh->nodes[w->p->dst];
	sp_err rc;
	size_t i;

	if ((rc = setslot_all(w, w->p->dst, ws, k, S_MOVING, "IMPORTING",
			      src->id, res, 0)) != SP_OK ||
	    (rc = check_results(w, ws, k, res, R_OWNER)) != SP_OK)
		return rc;
	for (i = 0; i < k; i++)
		if (res[i] == R_OWNER)
			ws[i].state = S_FINAL_ONLY;
	if ((rc = setslot_all(w, w->p->src, ws, k, S_MOVING, "MIGRATING",
			      dst->id, res, 0)) != SP_OK)
		return rc;
	return check_results(w, ws, k, res, -2);
}

/* Replies a worker lets wait on a bystander's connection before it reads
 * them (the node's output buffer grows by one "+OK" per reply). */
#define MAX_DEFERRED 16384

/* Appends "CLUSTER SETSLOT s NODE id" for every slot to bystander i,
 * leaving its earlier replies waiting (up to MAX_DEFERRED). */
static sp_err append_node(worker *w, int i, const wslot *ws, size_t k,
			  const char *id)
{
	sp_conn *c = w->conns[i];
	sp_err rc = SP_OK;
	size_t j;

	if (c == NULL || sp_conn_broken(c) ||
	    c->pending + (int)k > MAX_DEFERRED)
		rc = sp_mover_conn_to(w, i, &c);
	for (j = 0; j < k && rc == SP_OK; j++)
		rc = append_setslot(w, c, ws[j].slot, "NODE", id);
	return rc;
}

/*
 * SETSLOT NODE to every other primary, then to the source, whose replies
 * are read now (setslot_all, with its retries) and land in res[]: its
 * result is what counts. The other primaries' commands are
 * written out but their replies are read only when the worker next needs
 * that node (conn_to) or at its end: a bystander may be the source of
 * another pair, busy for a whole pipeline of MIGRATEs, and the window
 * need not wait for it. Their result never counted: a primary that misses
 * the message learns the owner through gossip.
 */
static sp_err broadcast_node(worker *w, wslot *ws, size_t k, const char *id,
			     int *res)
{
	size_t n = w->sh->nnodes, i;
	sp_error e;

	for (i = 0; i < n; i++) {
		if ((int)i == w->p->dst || (int)i == w->p->src)
			continue;
		if (append_node(w, (int)i, ws, k, id) != SP_OK ||
		    sp_conn_flush(w->conns[i], &e) != SP_OK) {
			/* Gossip will tell it; reconnect on next use. */
			sp_conn_close(w->conns[i]);
			w->conns[i] = NULL;
		}
	}
	return setslot_all(w, w->p->src, ws, k, -1, "NODE", id, res, 0);
}

/*
 * Whether the target may take this window's slots quietly. A target that
 * imports a slot bumps its config epoch (when it is not already the
 * highest) and broadcasts a PONG to every node on each SETSLOT NODE, and
 * every node then rescans all 16384 slots: per slot, that was most of the
 * cluster bus work of a move. Quietly, every importing slot but the
 * window's last is made STABLE on the target and then assigned with
 * SETSLOT NODE, which neither bumps nor broadcasts; the last goes the
 * importing way, for one PONG per window.
 *
 * The epoch must be bumped first, here, on its own. A node that owns a
 * slot it does not import gives the slot up to any node that claims it
 * with a higher config epoch, and deletes its keys in it: a source that
 * has not yet heard SETSLOT NODE still claims the slot in every ping, and
 * a pipeline longer than one read (16 KB) lets the target handle such a
 * ping between two commands. With the target's epoch the highest before
 * it takes any slot, its claim wins. (An epoch belongs to a node, not a
 * slot, so one bump covers the whole window.)
 *
 * STABLE and NODE travel together: a client that reaches the target in
 * between is sent to the source and back (MOVED, then ASK) until NODE
 * lands. If we die between the two, the target holds the keys of a slot it
 * neither owns nor imports, and resume or fix finishes the slot. A target
 * that refuses BUMPEPOCH (renamed, or not allowed to our user) gets every
 * slot the importing way.
 *
 * So does a Valkey 8 target with replicas: it hands every SETSLOT to its
 * replicas and applies it only once they ack, one command at a time, so
 * between STABLE and NODE clients would see the slot owned by no one for
 * a replica round trip per slot (redis-py gave up: "TTL exhausted").
 */
static int quiet_ok(worker *w)
{
	redisReply *r = NULL;
	sp_error e;
	sp_conn *c;
	sp_err rc;

	if (w->no_bumpepoch || sp_mover_conn_to(w, w->p->dst, &c) != SP_OK)
		return 0;
	sp_mover_look_target(w, c);
	if (w->dst_valkey && w->dst_replicas > 0)
		return 0;
	rc = sp_conn_cmd(c, &r, &e, "CLUSTER BUMPEPOCH");
	freeReplyObject(r);
	if (rc != SP_OK && !sp_conn_broken(c))
		w->no_bumpepoch = 1;
	return rc == SP_OK;
}

/*
 * Closes the window: SETSLOT NODE on the target first (it takes the slots
 * and bumps its epoch), then the source and every other primary at once,
 * so no node keeps redirecting clients to the old owner (redis issue
 * #7116). The target must go first: a source told before it would send
 * clients with MOVED to a target that still only imports, and back.
 * A source that has meanwhile become a replica answers "Please use
 * SETSLOT only with masters": that is fine. Other primaries that miss
 * the message learn it through gossip, so their errors are not fatal.
 */
static sp_err finalize_window(worker *w, wslot *ws, size_t k, int *res)
{
	const sp_endpoint *dst = &w->sh->nodes[w->p->dst];
	sp_move *done = NULL;
	size_t i, nd = 0;
	sp_err rc;

	/* Quietly (see quiet_ok) when the target took CLUSTER BUMPEPOCH. */
	if ((rc = setslot_all(w, w->p->dst, ws, k, -1, "NODE", dst->id, res,
			      quiet_ok(w))) != SP_OK ||
	    (rc = check_results(w, ws, k, res, -2)) != SP_OK)
		return rc;
	/* The target owns the slots now; the rest may learn in any order.
	 * A source that did not answer its SETSLOT NODE may still hold the
	 * slots open: they are not done (resume sends it again), and what
	 * is left of them is only that final step. */
	for (i = 0; i < k; i++)
		if (ws[i].state == S_MOVING)
			ws[i].state = S_FINAL_ONLY;
	if ((rc = broadcast_node(w, ws, k, dst->id, res)) != SP_OK ||
	    (rc = check_results(w, ws, k, res, R_NOT_MASTER)) != SP_OK)
		return rc;
	done = calloc(k, sizeof(*done));
	pthread_mutex_lock(&w->sh->mu);
	for (i = 0; i < k; i++) {
		ws[i].state = S_DONE;
		if (done != NULL)
			done[nd++] =
			    (sp_move){ws[i].slot, w->p->src, w->p->dst};
	}
	w->sh->stats.slots_done += (long long)k;
	w->pair_slots += (long long)k;
	if (w->sh->o->on_done != NULL && done != NULL)
		w->sh->o->on_done(w->sh->o->ud, done, nd);
	pthread_mutex_unlock(&w->sh->mu);
	free(done);
	return SP_OK;
}

/* finalize_window, timed as the timeline's SP_TL_FINAL. */
static sp_err finalize(worker *w, wslot *ws, size_t k, int *res)
{
	long long t = sp_now_us();
	sp_err rc = finalize_window(w, ws, k, res);

	sp_mover_tl(w, SP_TL_FINAL, t);
	return rc;
}

/* Keys of slot on node, or -1 when it cannot be asked. */
static long long keys_on(worker *w, int node, int slot)
{
	redisReply *r = NULL;
	long long n = -1;
	sp_conn *c;

	if (sp_mover_conn_to(w, node, &c) == SP_OK) {
		if (sp_conn_cmd(c, &r, NULL, "CLUSTER COUNTKEYSINSLOT %d",
				slot) == SP_OK &&
		    r->type == REDIS_REPLY_INTEGER)
			n = r->integer;
		sp_mover_heard(w, node, !sp_conn_broken(c));
	}
	freeReplyObject(r);
	return n;
}

/*
 * After an error, leaves no slot of the window open if it can: a slot
 * whose target already holds keys is finished (the keys must not be
 * split), any other is reverted with SETSLOT STABLE on the source, then
 * the target. Slots that stay open are named in w->err.
 */
static void close_window(worker *w, wslot *ws, size_t k, int *res)
{
	char left[256] = "", gone[8];
	size_t i, used = 0;
	sp_error saved = w->err;

	for (i = 0; i < k; i++) {
		wslot one = ws[i];
		long long n;
		int ok = 0;

		if (ws[i].state == S_DONE)
			continue;
		one.keys = NULL;
		n = keys_on(w, w->p->dst, ws[i].slot);
		if (n > 0 && one.state == S_MOVING)
			ok = sp_mover_drain(w, &one, 1) == SP_OK &&
			     finalize(w, &one, 1, res) == SP_OK;
		else if (n > 0 || one.state == S_FINAL_ONLY)
			ok = finalize(w, &one, 1, res) == SP_OK;
		else if (n == 0)
			ok = setslot_all(w, w->p->src, &one, 1, -1, "STABLE",
					 NULL, res, 0) == SP_OK &&
			     res[0] == R_OK &&
			     setslot_all(w, w->p->dst, &one, 1, -1, "STABLE",
					 NULL, res, 0) == SP_OK &&
			     res[0] == R_OK;
		if (!ok && used < sizeof(left))
			used += (size_t)snprintf(left + used,
						 sizeof(left) - used, "%s%d",
						 used ? "," : "", ws[i].slot);
	}
	w->err = saved;
	gone[0] = '\0';
	if (used > 0 && sp_mover_gone_names(w->sh, gone, sizeof(gone)) > 0)
		sp_error_prefix(&w->err, "slots %s left open", left);
	else if (used > 0)
		sp_error_prefix(&w->err,
				"slots %s left open (run slotpilot resume "
				"once the nodes answer)",
				left);
}

/* Node's own CLUSTER NODES, parsed into *v (the caller frees it). */
static sp_err read_view_once(worker *w, int node, sp_view *v)
{
	redisReply *r = NULL;
	sp_conn *c;
	sp_err rc;

	if ((rc = sp_mover_conn_to(w, node, &c)) != SP_OK)
		return rc;
	if ((rc = sp_conn_cmd(c, &r, &w->err, "CLUSTER NODES")) == SP_OK &&
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "CLUSTER NODES",
				  &w->err)) == SP_OK)
		rc = sp_view_parse(v, r->str, r->len, &w->err);
	sp_mover_heard(w, node, !sp_conn_broken(c));
	freeReplyObject(r);
	return rc;
}

/* read_view_once, retried like every step (setslot_all) while the node
 * does not answer, until the retries or its deadline run out; then the
 * run gives up on it, so the move ends naming it, with resume to run. */
static sp_err read_view(worker *w, int node, sp_view *v)
{
	sp_err rc = SP_OK;
	int attempt;

	for (attempt = 0; attempt <= w->sh->o->max_retries; attempt++) {
		if (attempt > 0) {
			sp_mover_add_stats(w->sh, 0, 0, 1);
			sp_mover_backoff(w, attempt);
		}
		if ((rc = read_view_once(w, node, v)) == SP_OK ||
		    !sp_mover_retryable(rc) || sp_mover_gone(w, node))
			break;
		sp_view_free(v);
		memset(v, 0, sizeof(*v));
	}
	if (rc != SP_OK && sp_mover_retryable(rc))
		sp_mover_give_up(w, node);
	return rc;
}

/* SP_ERR_CLUSTER naming the first slot of the window that node n of the
 * pair (0 source, 1 target) holds open other than toward the pair. */
static sp_err open_elsewhere(worker *w, const wslot *ws, size_t k, int n,
			     const sp_view *v)
{
	const sp_endpoint *peer = &w->sh->nodes[n == 0 ? w->p->dst : w->p->src];
	const sp_endpoint *self = &w->sh->nodes[n == 0 ? w->p->src : w->p->dst];
	size_t i, j;

	for (j = 0; j < v->nopen; j++)
		for (i = 0; i < k; i++) {
			const sp_open_slot *o = &v->open[j];
			if (o->slot != ws[i].slot ||
			    (o->importing == n &&
			     strcmp(o->peer, peer->id) == 0))
				continue;
			return sp_seterr(
			    &w->err, SP_ERR_CLUSTER,
			    "slot %d is already open on %s (%s %.8s), not "
			    "by this move: left alone, and nothing of its "
			    "window was opened; let that move finish (or run "
			    "slotpilot fix), then run this one again",
			    o->slot, self->addr,
			    o->importing ? "IMPORTING from" : "MIGRATING to",
			    o->peer);
		}
	return SP_OK;
}

/*
 * One mover per slot: before opening the window, the source's and the
 * target's own views are read, and a slot either holds open toward any
 * node other than the pair's other end belongs to another mover (another
 * slotpilot, redis-cli, an operator): opening it here would send part of
 * its keys to a second target. A slot open toward this very pair is a
 * move of ours being resumed, and is continued.
 */
static sp_err check_not_open(worker *w, const wslot *ws, size_t k)
{
	sp_view v = {0};
	sp_err rc = SP_OK;
	int n;

	for (n = 0; n < 2 && rc == SP_OK; n++) {
		if ((rc = read_view(w, n == 0 ? w->p->src : w->p->dst, &v)) ==
		    SP_OK)
			rc = open_elsewhere(w, ws, k, n, &v);
		sp_view_free(&v);
		memset(&v, 0, sizeof(v));
	}
	return rc;
}

/* Moves one window of up to k slots of the pair. */
sp_err sp_mover_move_window(worker *w, const sp_move *m, size_t k, wslot *ws,
			    int *res)
{
	long long t = sp_now_us();
	sp_err rc;
	size_t i;

	for (i = 0; i < k; i++)
		ws[i] = (wslot){.slot = m[i].slot, .state = S_MOVING};
	sp_mover_throttle(w->sh, SP_RATE_SLOTS, (double)k);
	sp_mover_tl(w, SP_TL_PAUSE, t);
	t = sp_now_us();
	rc = check_not_open(w, ws, k);
	sp_mover_tl(w, SP_TL_CHECK, t);
	if (rc != SP_OK)
		return rc; /* nothing opened: nothing to close */
	t = sp_now_us();
	rc = open_window(w, ws, k, res);
	sp_mover_tl(w, SP_TL_OPEN, t);
	if (rc == SP_OK && (rc = sp_mover_drain(w, ws, k)) == SP_OK &&
	    (rc = finalize(w, ws, k, res)) == SP_OK)
		return SP_OK;
	close_window(w, ws, k, res);
	return rc;
}
