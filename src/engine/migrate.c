/*
 * migrate.c - the slot mover: windows of slots per (source, target) pair,
 * pipelined SETSLOT / GETKEYSINSLOT / MEMORY USAGE / MIGRATE, pairs in
 * parallel threads, retries with backoff, and no open slot left behind.
 */
#include "engine/migrate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/guard.h"

#define SIZE_SAMPLE	   16 /* keys measured per slot and round */
#define MIGRATE_FIXED_ARGS 10 /* MIGRATE h p "" 0 t REPLACE AUTH2 u p */

enum slot_state { S_MOVING, S_FINAL_ONLY, S_DONE };

typedef struct pair {
	int src, dst;
	const sp_move *moves; /* a run of the sorted moves */
	size_t n;
} pair;

typedef struct shared {
	pthread_mutex_t mu;
	const sp_endpoint *nodes;
	size_t nnodes;
	const sp_migrate_opts *o;
	sp_migrate_stats stats;
	pair *pairs;
	size_t npairs, next_pair;
	int failed; /* a worker failed: others stop at a boundary */
	sp_err first_rc;
	sp_error first_err;
	double tokens; /* rate limiter: may go negative (a debt) */
	long long tokens_ms;
	int running;
	sp_guard *guard; /* NULL without a latency budget */
} shared;

typedef struct worker {
	shared *sh;
	const pair *p;
	sp_conn **conns; /* one per node, opened when first needed */
	unsigned seed;
	int no_bumpepoch; /* the target refused CLUSTER BUMPEPOCH once */
	sp_error err;
} worker;

/* One slot of the window being moved. */
typedef struct wslot {
	int slot;
	int state;
	redisReply *keys; /* last GETKEYSINSLOT reply */
} wslot;

sp_migrate_opts sp_migrate_defaults(void)
{
	sp_migrate_opts o = {.window = 128,
			     .parallel = 8,
			     .batch_keys = 1000,
			     .pipeline = 2,
			     .batch_bytes = 4 << 20,
			     .timeout_ms = 5000,
			     .max_retries = 8};
	return o;
}

void sp_endpoint_set(sp_endpoint *e, const char *id, const char *host, int port)
{
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->host, sizeof(e->host), "%s", host);
	e->port = port;
	sp_format_addr(e->addr, sizeof(e->addr), host, port);
}

static int should_stop(shared *sh)
{
	int stop;

	pthread_mutex_lock(&sh->mu);
	stop = sh->failed || (sh->o->stop != NULL && *sh->o->stop);
	pthread_mutex_unlock(&sh->mu);
	return stop;
}

/* Takes `units` from the rate limiter, sleeping off any debt. */
static void throttle(shared *sh, sp_rate_unit unit, double units)
{
	const sp_migrate_opts *o = sh->o;
	long long now, wait = 0;

	if (o->rate_unit != unit || o->rate <= 0 || units <= 0)
		return;
	pthread_mutex_lock(&sh->mu);
	now = sp_now_ms();
	sh->tokens += o->rate * (double)(now - sh->tokens_ms) / 1000.0;
	if (sh->tokens > o->rate)
		sh->tokens = o->rate; /* at most one second of burst */
	sh->tokens_ms = now;
	sh->tokens -= units;
	if (sh->tokens < 0)
		wait = (long long)(-sh->tokens / o->rate * 1000.0);
	pthread_mutex_unlock(&sh->mu);
	if (wait > 0)
		sp_sleep_ms(wait);
}

static void add_stats(shared *sh, long long keys, long long bytes,
		      long long retries)
{
	pthread_mutex_lock(&sh->mu);
	sh->stats.keys += keys;
	sh->stats.bytes += bytes;
	sh->stats.retries += retries;
	pthread_mutex_unlock(&sh->mu);
}

/* Exponential backoff with jitter: 50 ms * 2^attempt, at most 2 s. */
static void backoff(worker *w, int attempt)
{
	long long base = 50LL << (attempt < 6 ? attempt : 6);

	if (base > 2000)
		base = 2000;
	sp_sleep_ms(base / 2 + rand_r(&w->seed) % (base / 2 + 1));
}

/* 1 for errors worth another try: the node or the target was busy. */
static int retryable(sp_err rc, const char *msg)
{
	if (rc == SP_ERR_TIMEOUT || rc == SP_ERR_TRYAGAIN ||
	    rc == SP_ERR_LOADING || rc == SP_ERR_CLUSTERDOWN || rc == SP_ERR_IO)
		return 1;
	/* MIGRATE wraps the target's errors: "ERR Target instance replied
	 * with error: CLUSTERDOWN ..." while the target settles. */
	return rc == SP_ERR_SERVER && (strstr(msg, "IOERR") != NULL ||
				       strstr(msg, "timeout") != NULL ||
				       strstr(msg, "TRYAGAIN") != NULL ||
				       strstr(msg, "LOADING") != NULL ||
				       strstr(msg, "CLUSTERDOWN") != NULL);
}

/*
 * The connection to node i, opened (or reopened after an error) now, with
 * any replies still deferred on it read first (see broadcast_node).
 */
static sp_err conn_to(worker *w, int i, sp_conn **out)
{
	const sp_endpoint *e = &w->sh->nodes[i];
	sp_err rc;

	if (w->conns[i] != NULL && w->conns[i]->pending > 0)
		sp_conn_drain(w->conns[i]);
	if (w->conns[i] != NULL && w->conns[i]->ctx->err) {
		sp_conn_close(w->conns[i]);
		w->conns[i] = NULL;
	}
	if (w->conns[i] == NULL &&
	    (rc = sp_conn_open(e->host, e->port, w->sh->o->conn, &w->conns[i],
			       &w->err)) != SP_OK)
		return rc;
	*out = w->conns[i];
	return SP_OK;
}

enum { R_OK = 0, R_OWNER, R_NOT_OWNER, R_NOT_MASTER, R_ERR = -1 };

/* Sorts a SETSLOT error into the cases the mover handles. */
static int setslot_result(sp_err rc, const char *msg)
{
	if (rc == SP_OK)
		return R_OK;
	if (strstr(msg, "already the owner") != NULL)
		return R_OWNER;
	if (strstr(msg, "not the owner") != NULL)
		return R_NOT_OWNER;
	if (strstr(msg, "only with masters") != NULL)
		return R_NOT_MASTER;
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

	if (c->ctx->err) {
		w->err = e;
		return r;
	}
	if ((*res = setslot_result(r, e.msg)) == R_ERR)
		w->err = e;
	return SP_OK;
}

/*
 * Sends "CLUSTER SETSLOT s VERB [id]" to node for every slot of the window
 * not yet done (or, with only >= 0, in that state) and reads the replies
 * into res[]. With quiet (the target's SETSLOT NODE, see finalize), every
 * moving slot but the last is made STABLE first in the same pipeline.
 * Retries the whole pipeline on connection errors: all of it is
 * idempotent. Returns an error only when the node cannot be reached.
 */
static sp_err setslot_all(worker *w, int node, wslot *ws, size_t k, int only,
			  const char *verb, const char *id, int *res, int quiet)
{
	size_t last = quiet ? last_moving(ws, k) : k, i;
	int attempt;
	sp_conn *c;
	sp_err rc = SP_OK;

#define SENT(i)		(ws[i].state != S_DONE && (only < 0 || ws[i].state == only))
#define STABLE_FIRST(i) (quiet && ws[i].state == S_MOVING && (i) != last)
	for (attempt = 0; attempt <= w->sh->o->max_retries; attempt++) {
		if (attempt > 0) {
			add_stats(w->sh, 0, 0, 1);
			backoff(w, attempt);
		}
		if ((rc = conn_to(w, node, &c)) != SP_OK)
			continue;
		for (i = 0; i < k && rc == SP_OK; i++) {
			if (!SENT(i))
				continue;
			if (STABLE_FIRST(i))
				rc = append_setslot(w, c, ws[i].slot, "STABLE",
						    NULL);
			if (rc == SP_OK)
				rc = append_setslot(w, c, ws[i].slot, verb, id);
		}
		for (i = 0; i < k && rc == SP_OK; i++) {
			res[i] = R_OK;
			if (!SENT(i))
				continue;
			/* STABLE's reply first; the verb's is the one that
			 * counts */
			if (STABLE_FIRST(i))
				rc = read_setslot(w, c, &res[i]);
			if (rc == SP_OK)
				rc = read_setslot(w, c, &res[i]);
		}
		if (rc == SP_OK)
			return SP_OK;
		sp_conn_drain(c);
		if (!retryable(rc, w->err.msg))
			break;
	}
#undef SENT
#undef STABLE_FIRST
	return rc;
}

/* Fails the window on the first result that is not accepted. */
static sp_err check_results(worker *w, const wslot *ws, size_t k,
			    const int *res, int accept)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (res[i] != R_OK && res[i] != accept) {
			if (res[i] != R_ERR)
				sp_seterr(&w->err, SP_ERR_CLUSTER,
					  "slot %d: unexpected owner state "
					  "(%s)",
					  ws[i].slot, w->err.msg);
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

/* GETKEYSINSLOT for every moving slot; 1 in *any when some hold keys. */
static sp_err fetch_keys(worker *w, sp_conn *c, wslot *ws, size_t k, int *any)
{
	int n = w->sh->o->batch_keys;
	sp_err rc = SP_OK;
	size_t i, j;

	*any = 0;
	for (i = 0; i < k && rc == SP_OK; i++)
		if (ws[i].state == S_MOVING)
			rc = sp_conn_append(c, &w->err,
					    "CLUSTER GETKEYSINSLOT %d %d",
					    ws[i].slot, n);
	for (i = 0; i < k && rc == SP_OK; i++) {
		freeReplyObject(ws[i].keys);
		ws[i].keys = NULL;
		if (ws[i].state != S_MOVING)
			continue;
		if ((rc = sp_conn_read(c, &ws[i].keys, &w->err,
				       "CLUSTER GETKEYSINSLOT")) != SP_OK ||
		    (rc = sp_reply_expect(c, ws[i].keys, REDIS_REPLY_ARRAY,
					  "CLUSTER GETKEYSINSLOT", &w->err)))
			break;
		for (j = 0; j < ws[i].keys->elements; j++)
			if (ws[i].keys->element[j]->type != REDIS_REPLY_STRING)
				return sp_seterr(&w->err, SP_ERR_PROTOCOL,
						 "%s: GETKEYSINSLOT returned a "
						 "non-string key",
						 c->addr);
		*any |= ws[i].keys->elements > 0;
	}
	if (rc != SP_OK)
		sp_conn_drain(c);
	return rc;
}

/*
 * Sizes of the fetched keys into sizes[], in one pipeline. MEMORY USAGE
 * costs the source a command per key, as much as the MIGRATE itself for
 * small keys, so only the first SIZE_SAMPLE keys of a slot are measured;
 * the others are taken to be as big as the biggest of those. A bigger key
 * among them only makes its batch larger than planned: its timeout then
 * runs out and the key is retried alone with a longer one.
 */
static sp_err key_sizes(worker *w, sp_conn *c, wslot *ws, size_t k,
			long long *sizes)
{
	size_t i, j, n, at = 0;
	sp_err rc = SP_OK;
	redisReply *r;

	for (i = 0; i < k && rc == SP_OK; i++) {
		n = ws[i].keys ? ws[i].keys->elements : 0;
		for (j = 0; j < n && j < SIZE_SAMPLE; j++) {
			const redisReply *key = ws[i].keys->element[j];
			const char *argv[5] = {"MEMORY", "USAGE", key->str,
					       "SAMPLES", "0"};
			size_t lens[5] = {6, 5, key->len, 7, 1};
			rc = sp_conn_appendv(c, &w->err, 5, argv, lens);
		}
	}
	for (i = 0; i < k && rc == SP_OK; i++) {
		long long most = 0;
		n = ws[i].keys ? ws[i].keys->elements : 0;
		for (j = 0; j < n; j++, at++) {
			if (j >= SIZE_SAMPLE) {
				sizes[at] = most;
				continue;
			}
			if ((rc = sp_conn_read(c, &r, &w->err,
					       "MEMORY USAGE")) != SP_OK)
				break;
			sizes[at] = r->type == REDIS_REPLY_INTEGER
					? r->integer
					: 0; /* nil: the key expired */
			most = sizes[at] > most ? sizes[at] : most;
			freeReplyObject(r);
		}
	}
	if (rc != SP_OK)
		sp_conn_drain(c);
	return rc;
}

typedef struct batch {
	size_t slot_i; /* index into the window */
	size_t first;  /* first key index in that slot's reply */
	size_t n;
	long long bytes;
	int timeout_ms;
} batch;

/* Cuts the fetched keys into MIGRATE batches by bytes and count. A slot
 * whose last attempt timed out sends each key alone, with a longer
 * timeout (solo[i] > 0). */
static size_t cut_batches(const sp_migrate_opts *o, const wslot *ws, size_t k,
			  const long long *sizes, const int *solo, int max_keys,
			  batch *out)
{
	size_t i, j, nb = 0, at = 0;

	for (i = 0; i < k; i++) {
		size_t nk = ws[i].keys ? ws[i].keys->elements : 0;
		batch *b = NULL;
		for (j = 0; j < nk; j++, at++) {
			if (b == NULL || solo[i] || b->n >= (size_t)max_keys ||
			    b->bytes + sizes[at] > o->batch_bytes) {
				b = &out[nb++];
				*b = (batch){.slot_i = i, .first = j};
			}
			b->n++;
			b->bytes += sizes[at];
		}
	}
	for (i = 0; i < nb; i++) {
		/* Base timeout plus 1 ms per KB, as if the link did 1 MB/s. */
		long long t = o->timeout_ms + out[i].bytes / 1000;
		if (solo[out[i].slot_i])
			t *= 1LL
			     << (solo[out[i].slot_i] < 4 ? solo[out[i].slot_i]
							 : 4);
		out[i].timeout_ms = t > 600000 ? 600000 : (int)t;
	}
	return nb;
}

static sp_err append_migrate(worker *w, sp_conn *c, const wslot *ws,
			     const batch *b, const char **argv, size_t *lens)
{
	const sp_endpoint *dst = &w->sh->nodes[w->p->dst];
	const sp_conn_opts *co = w->sh->o->conn;
	char port[16], tmo[16];
	int argc = 0;
	size_t j;

	snprintf(port, sizeof(port), "%d", dst->port);
	snprintf(tmo, sizeof(tmo), "%d", b->timeout_ms);
	argv[argc++] = "MIGRATE";
	argv[argc++] = dst->host;
	argv[argc++] = port;
	argv[argc++] = "";
	argv[argc++] = "0";
	argv[argc++] = tmo;
	/* REPLACE, never COPY: the source's copy is the newest (rule 3), and
	 * COPY would leave garbage on the source for ever. */
	argv[argc++] = "REPLACE";
	if (co != NULL && co->pass != NULL && co->pass[0] != '\0') {
		if (co->user != NULL && co->user[0] != '\0') {
			argv[argc++] = "AUTH2";
			argv[argc++] = co->user;
		} else {
			argv[argc++] = "AUTH";
		}
		argv[argc++] = co->pass;
	}
	argv[argc++] = "KEYS";
	for (j = 0; j < (size_t)argc; j++)
		lens[j] = strlen(argv[j]);
	for (j = 0; j < b->n; j++) {
		const redisReply *key =
		    ws[b->slot_i].keys->element[b->first + j];
		argv[argc] = key->str;
		lens[argc++] = key->len;
	}
	return sp_conn_appendv(c, &w->err, argc, argv, lens);
}

/* Reads the replies of batches b[0..n-1]; marks failed slots. */
static sp_err read_batches(worker *w, sp_conn *c, const batch *b, size_t n,
			   int *fails, int *solo, long long *keys,
			   long long *bytes)
{
	sp_err rc = SP_OK, r;
	sp_error e;
	size_t i;

	for (i = 0; i < n && rc == SP_OK; i++) {
		r = sp_conn_read(c, NULL, &e, "MIGRATE");
		if (c->ctx->err) { /* the connection is gone: all unread */
			w->err = e;
			return r;
		}
		if (r == SP_OK) {
			*keys += (long long)b[i].n;
			*bytes += b[i].bytes;
			continue;
		}
		fails[b[i].slot_i] = 1;
		if (!retryable(r, e.msg))
			rc = r;
		else if (r == SP_ERR_TIMEOUT || strstr(e.msg, "IOERR"))
			solo[b[i].slot_i]++;
		w->err = e;
	}
	return rc;
}

/* Sends one pipelined round of MIGRATEs (b[0..n-1]) and reads it. */
static sp_err migrate_round(worker *w, sp_conn *c, const wslot *ws,
			    const batch *b, size_t n, const char **argv,
			    size_t *lens, int *fails, int *solo,
			    long long *keys, long long *bytes)
{
	long long total_ms = 5000;
	sp_err rc = SP_OK;
	size_t i;

	for (i = 0; i < n; i++)
		total_ms += b[i].timeout_ms;
	for (i = 0; i < n && rc == SP_OK; i++)
		rc = append_migrate(w, c, ws, &b[i], argv, lens);
	if (rc == SP_OK)
		rc = sp_conn_set_timeout(
		    c, total_ms > 600000 ? 600000 : (int)total_ms, &w->err);
	if (rc == SP_OK)
		rc = read_batches(w, c, b, n, fails, solo, keys, bytes);
	return rc;
}

/* Sends the batches in pipelined rounds (as deep as the latency guard
 * allows: all of them without a guard) and reads the replies. Marks
 * slots whose batch failed in fails[] (and solo[] on timeouts). */
static sp_err send_batches(worker *w, sp_conn *c, const wslot *ws,
			   const batch *b, size_t nb, int *fails, int *solo)
{
	size_t i, maxn = 0, at, n;
	long long keys = 0, bytes = 0;
	const char **argv = NULL;
	size_t *lens = NULL;
	sp_limits lim;
	sp_err rc = SP_OK;

	for (i = 0; i < nb; i++)
		maxn = b[i].n > maxn ? b[i].n : maxn;
	argv = malloc((maxn + MIGRATE_FIXED_ARGS + 1) * sizeof(*argv));
	lens = malloc((maxn + MIGRATE_FIXED_ARGS + 1) * sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (at = 0; at < nb && rc == SP_OK; at += n) {
		sp_guard_limits(w->sh->guard, w->sh->o, &lim);
		n = lim.depth > 0 && (size_t)lim.depth < nb - at
			? (size_t)lim.depth
			: nb - at;
		if (lim.pause_ms > 0)
			sp_sleep_ms(lim.pause_ms);
		rc = migrate_round(w, c, ws, b + at, n, argv, lens, fails, solo,
				   &keys, &bytes);
	}
	if (rc == SP_OK)
		rc = sp_conn_set_timeout(c,
					 w->sh->o->conn &&
						 w->sh->o->conn->timeout_ms
					     ? w->sh->o->conn->timeout_ms
					     : 5000,
					 &w->err);
	else
		sp_conn_drain(c);
	add_stats(w->sh, keys, bytes, 0);
out:
	free(argv);
	free(lens);
	return rc;
}

static size_t count_keys(const wslot *ws, size_t k)
{
	size_t i, n = 0;

	for (i = 0; i < k; i++)
		n += ws[i].keys ? ws[i].keys->elements : 0;
	return n;
}

/* One round: fetch keys, size them, MIGRATE them. *empty when no slot of
 * the window holds a key any more. */
static sp_err drain_round(worker *w, wslot *ws, size_t k, int *fails, int *solo,
			  int *empty)
{
	long long *sizes = NULL, bytes = 0;
	batch *b = NULL;
	sp_conn *c;
	size_t nkeys, nb, i;
	int any;
	sp_limits lim;
	sp_err rc;

	*empty = 0;
	if ((rc = conn_to(w, w->p->src, &c)) != SP_OK ||
	    (rc = fetch_keys(w, c, ws, k, &any)) != SP_OK)
		return rc;
	if (!any) {
		*empty = 1;
		return SP_OK;
	}
	nkeys = count_keys(ws, k);
	sizes = calloc(nkeys, sizeof(*sizes));
	b = calloc(nkeys, sizeof(*b));
	if (sizes == NULL || b == NULL) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = key_sizes(w, c, ws, k, sizes)) != SP_OK)
		goto out;
	sp_guard_limits(w->sh->guard, w->sh->o, &lim);
	nb = cut_batches(w->sh->o, ws, k, sizes, solo, lim.batch, b);
	for (i = 0; i < nb; i++)
		bytes += b[i].bytes;
	throttle(w->sh, SP_RATE_KEYS, (double)nkeys);
	throttle(w->sh, SP_RATE_BYTES, (double)bytes);
	rc = send_batches(w, c, ws, b, nb, fails, solo);
	/* No confirming round when every slot gave fewer keys than asked for
	 * and all of them moved: while a slot is MIGRATING the source creates
	 * no key in it (a write to a missing key is sent to the target with
	 * ASK, a multi-key write with some keys missing gets TRYAGAIN). */
	if (rc == SP_OK) {
		*empty = 1;
		for (i = 0; i < k; i++)
			if (fails[i] || (ws[i].keys != NULL &&
					 ws[i].keys->elements >=
					     (size_t)w->sh->o->batch_keys))
				*empty = 0;
	}
out:
	free(sizes);
	free(b);
	return rc;
}

/* Empties every moving slot of the window onto the target. */
static sp_err drain(worker *w, wslot *ws, size_t k)
{
	int *fails = calloc(k, sizeof(int)), *solo = calloc(k, sizeof(int));
	int attempt = 0, empty = 0;
	sp_err rc = SP_OK;
	size_t i;

	if (fails == NULL || solo == NULL) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	while (!empty) {
		int failed = 0;
		memset(fails, 0, k * sizeof(int));
		rc = drain_round(w, ws, k, fails, solo, &empty);
		for (i = 0; i < k; i++)
			failed |= fails[i];
		if (rc == SP_OK && !failed)
			continue;
		if ((rc != SP_OK && !retryable(rc, w->err.msg)) ||
		    ++attempt > w->sh->o->max_retries) {
			if (rc == SP_OK)
				rc = w->err.code ? w->err.code : SP_ERR_SERVER;
			sp_error_prefix(&w->err,
					"moving keys to %s after %d "
					"attempts",
					w->sh->nodes[w->p->dst].addr, attempt);
			break;
		}
		add_stats(w->sh, 0, 0, 1);
		backoff(w, attempt);
		rc = SP_OK;
	}
out:
	for (i = 0; i < k; i++) {
		freeReplyObject(ws[i].keys);
		ws[i].keys = NULL;
	}
	free(fails);
	free(solo);
	return rc;
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

	if (c == NULL || c->ctx->err || c->pending + (int)k > MAX_DEFERRED)
		rc = conn_to(w, i, &c);
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
 */
static int quiet_ok(worker *w)
{
	redisReply *r = NULL;
	sp_error e;
	sp_conn *c;
	sp_err rc;

	if (w->no_bumpepoch || conn_to(w, w->p->dst, &c) != SP_OK)
		return 0;
	rc = sp_conn_cmd(c, &r, &e, "CLUSTER BUMPEPOCH");
	freeReplyObject(r);
	if (rc != SP_OK && !c->ctx->err)
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
static sp_err finalize(worker *w, wslot *ws, size_t k, int *res)
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
	/* The target owns the slots now; the rest may learn in any order. */
	if (broadcast_node(w, ws, k, dst->id, res) == SP_OK &&
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
	if (w->sh->o->on_done != NULL && done != NULL)
		w->sh->o->on_done(w->sh->o->ud, done, nd);
	pthread_mutex_unlock(&w->sh->mu);
	free(done);
	return SP_OK;
}

/* Keys of slot on node, or -1 when it cannot be asked. */
static long long keys_on(worker *w, int node, int slot)
{
	redisReply *r = NULL;
	long long n = -1;
	sp_conn *c;

	if (conn_to(w, node, &c) == SP_OK &&
	    sp_conn_cmd(c, &r, NULL, "CLUSTER COUNTKEYSINSLOT %d", slot) ==
		SP_OK &&
	    r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
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
	char left[256] = "";
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
			ok = drain(w, &one, 1) == SP_OK &&
			     finalize(w, &one, 1, res) == SP_OK;
		else if (n > 0)
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
	if (used > 0)
		sp_error_prefix(&w->err,
				"slots %s left open (run slotpilot resume or "
				"fix once the nodes answer)",
				left);
}

static void record_failure(worker *w, sp_err rc)
{
	pthread_mutex_lock(&w->sh->mu);
	if (!w->sh->failed) {
		w->sh->failed = 1;
		w->sh->first_rc = rc;
		w->sh->first_err = w->err;
	}
	pthread_mutex_unlock(&w->sh->mu);
}

/* Moves one window of up to k slots of the pair. */
static sp_err move_window(worker *w, const sp_move *m, size_t k, wslot *ws,
			  int *res)
{
	sp_err rc;
	size_t i;

	for (i = 0; i < k; i++)
		ws[i] = (wslot){.slot = m[i].slot, .state = S_MOVING};
	throttle(w->sh, SP_RATE_SLOTS, (double)k);
	if ((rc = open_window(w, ws, k, res)) == SP_OK &&
	    (rc = drain(w, ws, k)) == SP_OK &&
	    (rc = finalize(w, ws, k, res)) == SP_OK)
		return SP_OK;
	close_window(w, ws, k, res);
	return rc;
}

static sp_err run_pair(worker *w, wslot *ws, int *res)
{
	size_t at, k;
	sp_limits lim;
	sp_err rc;

	for (at = 0; at < w->p->n; at += k) {
		sp_guard_limits(w->sh->guard, w->sh->o, &lim);
		k = w->p->n - at < (size_t)lim.window ? w->p->n - at
						      : (size_t)lim.window;
		if (lim.pause_ms > 0)
			sp_sleep_ms(lim.pause_ms);
		if (should_stop(w->sh))
			return SP_OK;
		sp_guard_enter(w->sh->guard);
		rc = move_window(w, w->p->moves + at, k, ws, res);
		sp_guard_leave(w->sh->guard);
		if (rc != SP_OK)
			return rc;
	}
	return SP_OK;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	shared *sh = w->sh;
	size_t win = (size_t)sh->o->window, i;
	wslot *ws = calloc(win, sizeof(*ws));
	int *res = calloc(win, sizeof(*res));
	sp_err rc;

	w->conns = calloc(sh->nnodes, sizeof(*w->conns));
	if (ws == NULL || res == NULL || w->conns == NULL) {
		sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		record_failure(w, SP_ERR_OOM);
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&sh->mu);
		w->p = sh->next_pair < sh->npairs ? &sh->pairs[sh->next_pair++]
						  : NULL;
		pthread_mutex_unlock(&sh->mu);
		if (w->p == NULL || should_stop(sh))
			break;
		if ((rc = run_pair(w, ws, res)) != SP_OK) {
			record_failure(w, rc);
			break;
		}
	}
out:
	/* Reads the bystanders' deferred replies: every SETSLOT this worker
	 * sent has been run when sp_migrate returns. */
	for (i = 0; w->conns != NULL && i < sh->nnodes; i++)
		if (w->conns[i] != NULL && w->conns[i]->pending > 0)
			sp_conn_drain(w->conns[i]);
	for (i = 0; w->conns != NULL && i < sh->nnodes; i++)
		sp_conn_close(w->conns[i]);
	free(w->conns);
	free(ws);
	free(res);
	pthread_mutex_lock(&sh->mu);
	sh->running--;
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

static int by_pair(const void *a, const void *b)
{
	const sp_move *x = a, *y = b;

	if (x->src != y->src)
		return x->src - y->src;
	if (x->dst != y->dst)
		return x->dst - y->dst;
	return x->slot - y->slot;
}

/* Sorts a copy of the moves and splits it into (source, target) runs. */
static sp_err make_pairs(shared *sh, const sp_move *moves, size_t n,
			 sp_move **sorted, sp_error *err)
{
	size_t i, start;

	if ((*sorted = malloc(n * sizeof(**sorted))) == NULL ||
	    (sh->pairs = calloc(n, sizeof(*sh->pairs))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	memcpy(*sorted, moves, n * sizeof(**sorted));
	qsort(*sorted, n, sizeof(**sorted), by_pair);
	for (start = 0, i = 1; i <= n; i++) {
		if (i < n && (*sorted)[i].src == (*sorted)[start].src &&
		    (*sorted)[i].dst == (*sorted)[start].dst)
			continue;
		sh->pairs[sh->npairs++] =
		    (pair){(*sorted)[start].src, (*sorted)[start].dst,
			   *sorted + start, i - start};
		start = i;
	}
	return SP_OK;
}

static sp_err validate(const sp_endpoint *nodes, size_t nnodes,
		       const sp_move *moves, size_t n, const sp_migrate_opts *o,
		       sp_error *err)
{
	size_t i;

	if (o->window < 1 || o->parallel < 1 || o->batch_keys < 1 ||
	    o->pipeline < 0 || o->batch_bytes < 1 || o->timeout_ms < 1)
		return sp_seterr(err, SP_ERR_USAGE,
				 "window, parallel, batch sizes and timeout "
				 "must be positive");
	for (i = 0; i < n; i++)
		if (moves[i].slot < 0 || moves[i].slot >= SP_SLOTS ||
		    moves[i].src < 0 || (size_t)moves[i].src >= nnodes ||
		    moves[i].dst < 0 || (size_t)moves[i].dst >= nnodes ||
		    moves[i].src == moves[i].dst)
			return sp_seterr(err, SP_ERR_INTERNAL,
					 "bad move of slot %d", moves[i].slot);
	return SP_OK;
}

/*
 * 1 when some node is a source in one pair and a target in another. Such
 * pairs must not overlap: a target that has taken a slot gives it back to
 * a source that still claims it with a higher config epoch, and deletes
 * its keys there; a source that is also a target bumps its epoch when it
 * takes its own slots, and may do so after our target took one of its
 * slots but before it heard SETSLOT NODE. redis-cli, moving one slot at a
 * time, never meets this; a hand-written plan for apply can.
 */
static int source_is_target(const shared *sh)
{
	unsigned char *role = calloc(sh->nnodes, 1);
	size_t i;
	int both = 0;

	if (role == NULL)
		return 1; /* the safe answer */
	for (i = 0; i < sh->npairs; i++) {
		role[sh->pairs[i].src] |= 1;
		role[sh->pairs[i].dst] |= 2;
	}
	for (i = 0; i < sh->nnodes; i++)
		both |= role[i] == 3;
	free(role);
	return both;
}

/* With a latency budget: probes every source and target (guard.h). */
static sp_err start_guard(shared *sh, int **involved, sp_error *err)
{
	unsigned char *seen = calloc(sh->nnodes, 1);
	size_t i, n = 0;
	sp_err rc;

	*involved = calloc(sh->nnodes, sizeof(int));
	if (seen == NULL || *involved == NULL) {
		free(seen);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	for (i = 0; i < sh->npairs; i++) {
		if (!seen[sh->pairs[i].src]++)
			(*involved)[n++] = sh->pairs[i].src;
		if (!seen[sh->pairs[i].dst]++)
			(*involved)[n++] = sh->pairs[i].dst;
	}
	free(seen);
	rc = sp_guard_start(sh->nodes, *involved, n, sh->o, &sh->guard, err);
	return rc;
}

static void stop_guard(shared *sh)
{
	sp_guard_report r;

	if (sh->guard == NULL)
		return;
	sp_guard_stop(sh->guard, &r);
	sh->guard = NULL;
	sh->stats.guarded = 1;
	sh->stats.guard_baseline_ms = r.baseline_p99_ms;
	sh->stats.guard_budget_ms = r.budget_ms;
	sh->stats.guard_worst_ms = r.worst_p99_ms;
	sh->stats.throttled_s = r.throttled_s;
	sh->stats.guard_min_window = r.min_window;
	sh->stats.guard_min_parallel = r.min_parallel;
	sh->stats.guard_max_pause_ms = r.max_pause_ms;
	sh->stats.guard_out_of_reach_s = r.out_of_reach_s;
}

sp_err sp_migrate(const sp_endpoint *nodes, size_t nnodes, const sp_move *moves,
		  size_t nmoves, const sp_migrate_opts *opts,
		  sp_migrate_stats *stats, sp_error *err)
{
	shared sh = {.nodes = nodes, .nnodes = nnodes, .o = opts};
	long long start = sp_now_ms();
	pthread_t *tids = NULL;
	worker *ws = NULL;
	sp_move *sorted = NULL;
	int *involved = NULL;
	size_t nthreads = 0, i;
	sp_err rc;

	memset(stats, 0, sizeof(*stats));
	stats->slots_total = (long long)nmoves;
	if ((rc = validate(nodes, nnodes, moves, nmoves, opts, err)) != SP_OK)
		return rc;
	if (nmoves == 0)
		return SP_OK;
	pthread_mutex_init(&sh.mu, NULL);
	sh.stats.slots_total = (long long)nmoves;
	sh.tokens_ms = start;
	if ((rc = make_pairs(&sh, moves, nmoves, &sorted, err)) != SP_OK ||
	    (rc = start_guard(&sh, &involved, err)) != SP_OK)
		goto out;
	nthreads = sh.npairs < (size_t)opts->parallel ? sh.npairs
						      : (size_t)opts->parallel;
	if (nthreads > 1 && source_is_target(&sh))
		nthreads = 1;
	tids = calloc(nthreads, sizeof(*tids));
	ws = calloc(nthreads, sizeof(*ws));
	if (tids == NULL || ws == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		nthreads = 0;
		goto out;
	}
	sh.running = (int)nthreads;
	for (i = 0; i < nthreads; i++) {
		ws[i] = (worker){.sh = &sh,
				 .seed = (unsigned)(start + (long long)i)};
		if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
			pthread_mutex_lock(&sh.mu);
			sh.running -= (int)(nthreads - i);
			pthread_mutex_unlock(&sh.mu);
			nthreads = i;
			break;
		}
	}
	for (;;) {
		sp_migrate_stats snap;
		int running;
		pthread_mutex_lock(&sh.mu);
		running = sh.running;
		snap = sh.stats;
		pthread_mutex_unlock(&sh.mu);
		snap.seconds = (double)(sp_now_ms() - start) / 1000.0;
		if (opts->on_progress != NULL)
			opts->on_progress(opts->ud, &snap);
		if (running <= 0)
			break;
		sp_sleep_ms(100);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	stop_guard(&sh);
	if (nthreads == 0 && rc == SP_OK)
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot start threads");
	else if (sh.failed)
		rc = sp_seterr(err, sh.first_rc, "%s", sh.first_err.msg);
	else if (sh.stats.slots_done < (long long)nmoves)
		rc =
		    sp_seterr(err, SP_ERR_INTERRUPTED,
			      "interrupted after %lld of %zu slots; no slot is "
			      "open; run slotpilot resume to finish",
			      sh.stats.slots_done, nmoves);
out:
	stop_guard(&sh);
	free(involved);
	*stats = sh.stats;
	stats->seconds = (double)(sp_now_ms() - start) / 1000.0;
	pthread_mutex_destroy(&sh.mu);
	free(tids);
	free(ws);
	free(sorted);
	free(sh.pairs);
	return rc;
}
