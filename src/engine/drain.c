/*
 * drain.c - empties the moving slots of a window for the slot mover
 * (migrate.h): GETKEYSINSLOT, MEMORY USAGE on a sample, MIGRATE batches
 * cut by bytes and count, sent in pipelined rounds, retried with backoff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/mover.h"

#define SIZE_SAMPLE 16 /* keys measured per slot (its first round) */
/* Keys a round fetches at most, over all slots of the window: the
 * mover's memory does not grow with the keys per slot (issue #18). */
#define ROUND_KEYS	   16384
#define ROUND_MIN_PER_SLOT 16
/* copies held (keep.h) before a round fences them */
#define KEEP_ROUND_BYTES (16LL << 20)

/* 1 for a slot the next round fetches keys of. */
static int fetching(const wslot *s)
{
	return s->state == S_MOVING && !s->drained;
}

/* Keys per slot in the next round: ROUND_KEYS shared by the slots still
 * fetched, at least ROUND_MIN_PER_SLOT, at most --batch-keys. */
static int keys_per_slot(const worker *w, const wslot *ws, size_t k)
{
	size_t i, n = 0;
	long long per;

	for (i = 0; i < k; i++)
		n += fetching(&ws[i]);
	per = n ? ROUND_KEYS / (long long)n : w->sh->o->batch_keys;
	if (per < ROUND_MIN_PER_SLOT)
		per = ROUND_MIN_PER_SLOT;
	return per > w->sh->o->batch_keys ? w->sh->o->batch_keys : (int)per;
}

/* GETKEYSINSLOT n for every slot still fetched; 1 in *any when some hold
 * keys. */
static sp_err fetch_keys(worker *w, sp_conn *c, wslot *ws, size_t k, int n,
			 int *any)
{
	sp_err rc = SP_OK;
	size_t i, j;

	*any = 0;
	for (i = 0; i < k && rc == SP_OK; i++)
		if (fetching(&ws[i]))
			rc = sp_conn_append(c, &w->err,
					    "CLUSTER GETKEYSINSLOT %d %d",
					    ws[i].slot, n);
	for (i = 0; i < k && rc == SP_OK; i++) {
		freeReplyObject(ws[i].keys);
		ws[i].keys = NULL;
		if (!fetching(&ws[i]))
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
 * small keys, so only the first SIZE_SAMPLE keys of a slot's first round
 * are measured; the others, and its later rounds, are taken to be as big
 * as the biggest of those. A bigger key among them only makes its batch
 * larger than planned: its timeout then runs out and the key is retried
 * alone with a longer one.
 */
static sp_err key_sizes(worker *w, sp_conn *c, wslot *ws, size_t k,
			long long *sizes)
{
	size_t i, j, n, at = 0;
	sp_err rc = SP_OK;
	redisReply *r;

	for (i = 0; i < k && rc == SP_OK; i++) {
		n = ws[i].keys && ws[i].size == 0 ? ws[i].keys->elements : 0;
		for (j = 0; j < n && j < SIZE_SAMPLE; j++) {
			const redisReply *key = ws[i].keys->element[j];
			const char *argv[5] = {"MEMORY", "USAGE", key->str,
					       "SAMPLES", "0"};
			size_t lens[5] = {6, 5, key->len, 7, 1};
			rc = sp_conn_appendv(c, &w->err, 5, argv, lens);
		}
	}
	for (i = 0; i < k && rc == SP_OK; i++) {
		int sample = ws[i].size == 0;
		n = ws[i].keys ? ws[i].keys->elements : 0;
		for (j = 0; j < n; j++, at++) {
			if (!sample || j >= SIZE_SAMPLE) {
				sizes[at] = ws[i].size;
				continue;
			}
			if ((rc = sp_conn_read(c, &r, &w->err,
					       "MEMORY USAGE")) != SP_OK)
				break;
			sizes[at] = r->type == REDIS_REPLY_INTEGER
					? r->integer
					: 0; /* nil: the key expired */
			if (sizes[at] > ws[i].size)
				ws[i].size = sizes[at];
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

int sp_migrate_head(const sp_endpoint *dst, int timeout_ms, int replace,
		    const sp_conn_opts *co, char (*nums)[16], const char **argv,
		    size_t *lens)
{
	int argc = 0, j;

	snprintf(nums[0], 16, "%d", dst->port);
	snprintf(nums[1], 16, "%d", timeout_ms);
	argv[argc++] = "MIGRATE";
	argv[argc++] = dst->host;
	argv[argc++] = nums[0];
	argv[argc++] = "";
	argv[argc++] = "0";
	argv[argc++] = nums[1];
	if (replace)
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
	for (j = 0; j < argc; j++)
		lens[j] = strlen(argv[j]);
	return argc;
}

/* 1 if slot moves from a replica promoted after its primary failed
 * (sp_migrate_opts.keep_target). */
static int keep_target(const worker *w, int slot)
{
	const unsigned char *k = w->sh->o->keep_target;

	return k != NULL && k[slot];
}

/* DUMP and PTTL of every key of batch b, for the copies (keep.h). */
static sp_err append_dumps(worker *w, sp_conn *c, const wslot *ws,
			   const batch *b)
{
	sp_err rc = sp_conn_append(c, &w->err, "MULTI");
	size_t j;

	for (j = 0; j < b->n && rc == SP_OK; j++) {
		const redisReply *key =
		    ws[b->slot_i].keys->element[b->first + j];
		rc = sp_conn_append(c, &w->err, "DUMP %b", key->str, key->len);
		if (rc == SP_OK)
			rc = sp_conn_append(c, &w->err, "PTTL %b", key->str,
					    key->len);
	}
	return rc;
}

/* Appends the MIGRATE of batch b to c; argv and lens (the caller's)
 * need SP_MIGRATE_HEAD_MAX + b->n entries. With copies kept, the MIGRATE
 * goes in a MULTI after a DUMP and a PTTL of each of its keys. */
static sp_err append_migrate(worker *w, sp_conn *c, const wslot *ws,
			     const batch *b, const char **argv, size_t *lens)
{
	char nums[2][16];
	int argc;
	size_t j;
	sp_err rc;

	if (w->keep_on && (rc = append_dumps(w, c, ws, b)) != SP_OK)
		return rc;
	/* REPLACE, never COPY: the source's copy is the newest (rule 3), and
	 * COPY would leave garbage on the source for ever. After a source
	 * failover the target's copy is the newer one: no REPLACE. */
	argc = sp_migrate_head(&w->sh->nodes[w->p->dst], b->timeout_ms,
			       !keep_target(w, ws[b->slot_i].slot),
			       w->sh->o->conn, nums, argv, lens);
	for (j = 0; j < b->n; j++) {
		const redisReply *key =
		    ws[b->slot_i].keys->element[b->first + j];
		argv[argc] = key->str;
		lens[argc++] = key->len;
	}
	rc = sp_conn_appendv(c, &w->err, argc, argv, lens);
	if (rc == SP_OK && w->keep_on)
		rc = sp_conn_append(c, &w->err, "EXEC");
	return rc;
}

/* Files the copies of an EXEC's reply (DUMP, PTTL per key, then the
 * MIGRATE's), and returns the MIGRATE's result. */
static sp_err take_copies(worker *w, sp_conn *c, const wslot *ws,
			  const batch *b, const redisReply *r, sp_error *e)
{
	const redisReply *m;
	long long now = sp_wall_ms();
	size_t j;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * b->n + 1)
		return sp_seterr(e, SP_ERR_PROTOCOL,
				 "%s: EXEC of a MIGRATE returned no array of "
				 "%zu replies",
				 c->addr, 2 * b->n + 1);
	for (j = 0; j < b->n; j++) {
		const redisReply *key =
		    ws[b->slot_i].keys->element[b->first + j];
		const redisReply *d = r->element[2 * j],
				 *t = r->element[2 * j + 1];
		if (d->type != REDIS_REPLY_STRING) /* expired meanwhile */
			continue;
		if (sp_keep_add(&w->kept, w->sh->nodes[w->p->dst].id,
				ws[b->slot_i].slot, key->str, key->len, d->str,
				d->len,
				t->type == REDIS_REPLY_INTEGER && t->integer > 0
				    ? now + t->integer
				    : -1) != SP_OK)
			return sp_seterr(e, SP_ERR_OOM, "out of memory");
	}
	m = r->element[2 * b->n];
	if (m->type != REDIS_REPLY_ERROR)
		return SP_OK;
	return sp_seterr(e, sp_classify_server_error(m->str), "%s: MIGRATE: %s",
			 c->addr, m->str);
}

/*
 * Reads a MIGRATE in MULTI: +OK, QUEUED per command, then EXEC. A key
 * gone since GETKEYSINSLOT (a client deleted it, or it expired) makes
 * the queued DUMP or the EXEC answer ASK or TRYAGAIN: nothing ran, and
 * the caller fetches the slot's keys again.
 */
static sp_err read_kept(worker *w, sp_conn *c, const wslot *ws, const batch *b,
			sp_error *e)
{
	sp_err rc, queued = SP_OK;
	redisReply *r = NULL;
	sp_error qe;
	size_t j;

	if ((rc = sp_conn_read(c, NULL, e, "MULTI")) != SP_OK)
		return rc;
	for (j = 0; j < 2 * b->n + 1; j++) {
		rc = sp_conn_read(c, NULL, &qe,
				  j == 2 * b->n ? "MIGRATE"
				  : j % 2	? "PTTL"
						: "DUMP");
		if (sp_conn_broken(c)) {
			*e = qe;
			return rc;
		}
		if (rc != SP_OK && queued == SP_OK)
			queued = rc, *e = qe;
	}
	if ((rc = sp_conn_read(c, &r, &qe, "EXEC")) != SP_OK) {
		if (queued == SP_OK || sp_conn_broken(c))
			*e = qe;
		return queued != SP_OK && !sp_conn_broken(c) ? queued : rc;
	}
	rc = take_copies(w, c, ws, b, r, e);
	freeReplyObject(r);
	return rc;
}

/* Reads the replies of batches b[0..n-1]; marks failed slots. */
static sp_err read_batches(worker *w, sp_conn *c, const wslot *ws,
			   const batch *b, size_t n, int *fails, int *solo,
			   long long *keys, long long *bytes)
{
	sp_err rc = SP_OK, r;
	sp_error e;
	size_t i;

	for (i = 0; i < n && rc == SP_OK; i++) {
		r = w->keep_on ? read_kept(w, c, ws, &b[i], &e)
			       : sp_conn_read(c, NULL, &e, "MIGRATE");
		if (sp_conn_broken(
			c)) { /* the connection is gone: all unread */
			w->err = e;
			return r;
		}
		if (r == SP_OK) {
			*keys += (long long)b[i].n;
			*bytes += b[i].bytes;
			continue;
		}
		if (w->keep_on && (r == SP_ERR_ASK || r == SP_ERR_TRYAGAIN)) {
			fails[b[i].slot_i] |= 2; /* a key vanished: refetch */
			continue;
		}
		fails[b[i].slot_i] |= 1;
		if (r == SP_ERR_BUSYKEY && w->busy != NULL &&
		    keep_target(w, ws[b[i].slot_i].slot)) {
			w->busy[b[i].slot_i] = 1; /* drop_stale settles it */
			continue;
		}
		if (!sp_mover_retryable(r))
			rc = r;
		else if (r == SP_ERR_TIMEOUT || r == SP_ERR_IO)
			solo[b[i].slot_i]++, w->migrate_ioerr = 1;
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
		rc = read_batches(w, c, ws, b, n, fails, solo, keys, bytes);
	return rc;
}

/* The guard's model: what a key costs its source inside MIGRATE before
 * the first round measured it (us per unit; a 100-byte key on a quiet
 * loopback node costs 5 to 15 us, and a guess too high only makes the
 * first round short). */
#define PRIOR_US 30.0
/* Bytes that cost as much as one more key. */
#define UNIT_BYTES 4096.0

static double key_cost(const worker *w)
{
	return (w->cost_us > 0 ? w->cost_us : PRIOR_US) * w->unit;
}

/*
 * How many batches from b[0..nb-1] go in the next round. Without a bound
 * (no guard): lim->depth of them, or all. With one: as many as the model
 * expects to block the source for no longer than lim->block_us, at least
 * one.
 */
static size_t round_size(const worker *w, const sp_limits *lim, const batch *b,
			 size_t nb)
{
	double sum = 0;
	size_t n;

	if (lim->block_us <= 0)
		return lim->depth > 0 && (size_t)lim->depth < nb
			   ? (size_t)lim->depth
			   : nb;
	for (n = 0; n < nb; n++) {
		sum += (double)b[n].n * key_cost(w);
		if (n > 0 && sum > lim->block_us)
			break;
	}
	return n;
}

/*
 * After a round of `keys` keys that took wall_us: the source's cost per
 * unit (EWMA), and the rest that keeps the pair's time inside MIGRATE at
 * the guard's duty cycle. Nothing without a guard.
 */
static void after_round(worker *w, const sp_limits *lim, long long keys,
			long long max_batch, long long wall_us)
{
	double c, rest, duty;
	int sharing;

	if (lim->block_us <= 0 || keys <= 0)
		return;
	c = (double)wall_us / ((double)keys * w->unit);
	w->cost_us = w->cost_us > 0 ? 0.7 * w->cost_us + 0.3 * c : c;
	pthread_mutex_lock(&w->sh->mu);
	if (max_batch > w->sh->stats.guard_max_batch)
		w->sh->stats.guard_max_batch = max_batch;
	w->sh->stats.guard_migrate_us += wall_us;
	w->sh->stats.guard_migrate_keys += keys;
	w->sh->stats.guard_cost_us = (double)w->sh->stats.guard_migrate_us /
				     (double)w->sh->stats.guard_migrate_keys;
	sharing = w->sh->moving_to[w->p->dst];
	pthread_mutex_unlock(&w->sh->mu);
	/* The pairs moving into one target share its duty cycle: its
	 * clients wait behind every pair's RESTOREs. */
	duty = sharing > 1 ? lim->duty / sharing : lim->duty;
	rest = (double)wall_us * (1.0 - duty) / duty;
	if (rest >= 20) {
		long long t = sp_now_us();
		sp_sleep_us((long long)rest);
		sp_mover_tl(w, SP_TL_PAUSE, t);
	}
}

/* The keys of batches b[0..n-1], and the most in one of them. */
static long long keys_of(const batch *b, size_t n, long long *most)
{
	long long k = 0;
	size_t i;

	*most = 0;
	for (i = 0; i < n; i++) {
		k += (long long)b[i].n;
		if ((long long)b[i].n > *most)
			*most = (long long)b[i].n;
	}
	return k;
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
	argv = malloc((maxn + SP_MIGRATE_HEAD_MAX) * sizeof(*argv));
	lens = malloc((maxn + SP_MIGRATE_HEAD_MAX) * sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (at = 0; at < nb && rc == SP_OK; at += n) {
		long long t, most, rk;
		sp_guard_limits(w->sh->guard, w->sh->o, &lim);
		n = round_size(w, &lim, b + at, nb - at);
		rk = keys_of(b + at, n, &most);
		t = sp_now_us();
		rc = migrate_round(w, c, ws, b + at, n, argv, lens, fails, solo,
				   &keys, &bytes);
		sp_mover_tl(w, SP_TL_MIGRATE, t);
		if (rc == SP_OK)
			after_round(w, &lim, rk, most, sp_now_us() - t);
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
	sp_mover_add_stats(w->sh, keys, bytes, 0);
out:
	free(argv);
	free(lens);
	return rc;
}

/* Keys fetched for the window's slots in the last round. */
static size_t count_keys(const wslot *ws, size_t k)
{
	size_t i, n = 0;

	for (i = 0; i < k; i++)
		n += ws[i].keys ? ws[i].keys->elements : 0;
	return n;
}

/*
 * After a source failover (keep_target): a key MIGRATE found on both sides
 * keeps the target's copy, which came from the old primary (ahead of the
 * replica that is the source now), and the source's stale copy is
 * deleted. The keys that were only on the source go in the next round.
 */
static sp_err drop_stale(worker *w, sp_conn *src, const wslot *ws, size_t k)
{
	redisReply *r = NULL;
	sp_conn *dst;
	size_t i, j, n;
	sp_err rc;

	if ((rc = sp_mover_conn_to(w, w->p->dst, &dst)) != SP_OK)
		return rc;
	for (i = 0; i < k && rc == SP_OK; i++) {
		if (!w->busy[i] || ws[i].keys == NULL)
			continue;
		w->busy[i] = 0;
		n = ws[i].keys->elements;
		for (j = 0; j < n && rc == SP_OK; j++)
			if ((rc = sp_conn_append(dst, &w->err, "ASKING")) ==
			    SP_OK)
				rc =
				    sp_conn_append(dst, &w->err, "EXISTS %b",
						   ws[i].keys->element[j]->str,
						   ws[i].keys->element[j]->len);
		for (j = 0; j < n && rc == SP_OK; j++) {
			const redisReply *key = ws[i].keys->element[j];
			if ((rc = sp_conn_read(dst, NULL, &w->err, "ASKING")) ||
			    (rc = sp_conn_read(dst, &r, &w->err, "EXISTS")))
				break;
			/* DEL of a key the source no longer has (it moved in
			 * that batch) is answered with ASK: nothing to do. */
			if (r->type == REDIS_REPLY_INTEGER && r->integer == 1 &&
			    (rc = sp_conn_cmd(src, NULL, &w->err, "DEL %b",
					      key->str, key->len)) ==
				SP_ERR_ASK)
				rc = SP_OK;
			freeReplyObject(r);
			r = NULL;
		}
	}
	if (rc != SP_OK)
		sp_conn_drain(dst);
	return rc;
}

/*
 * Keys per MIGRATE: lim->batch, or with the guard's bound as many as the
 * model expects to take no longer than lim->block_us on the source (at
 * least one). Sets the round's units per key from the keys' sizes.
 */
static int model_batch(worker *w, const sp_limits *lim, const long long *sizes,
		       size_t nkeys)
{
	double total = 0, n;
	size_t i;

	for (i = 0; i < nkeys; i++)
		total += (double)sizes[i];
	w->unit = 1.0 + (nkeys ? total / (double)nkeys : 0) / UNIT_BYTES;
	if (lim->block_us <= 0)
		return lim->batch;
	n = lim->block_us / key_cost(w);
	return n < 1 ? 1 : n > lim->batch ? lim->batch : (int)n;
}

/* A slot of the window the target imports (for the fence), or -1. */
static int moving_slot(const wslot *ws, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (ws[i].state == S_MOVING)
			return ws[i].slot;
	return -1;
}

/* The pair's target, looked at before its first round (copies.c). */
static void look(worker *w)
{
	sp_conn *c;

	if (w->looked_for == w->p)
		return;
	if (sp_mover_conn_to(w, w->p->dst, &c) == SP_OK)
		sp_mover_look_target(w, c);
	else
		w->keep_on = w->sh->o->keep_path != NULL;
}

/*
 * After a round that asked per keys of each slot: a slot that gave fewer,
 * all of them moved, is drained, with no confirming round: while a slot
 * is MIGRATING the source creates no key in it (a write to a missing key
 * is sent to the target with ASK, a multi-key write with some keys
 * missing gets TRYAGAIN). 1 when every slot is.
 */
static int mark_drained(wslot *ws, size_t k, const int *fails, int per)
{
	int empty = 1;
	size_t i;

	for (i = 0; i < k; i++) {
		if (fetching(&ws[i]) && !fails[i] && ws[i].keys != NULL &&
		    ws[i].keys->elements < (size_t)per)
			ws[i].drained = 1;
		if (fetching(&ws[i]))
			empty = 0;
	}
	return empty;
}

/* One round: fetch keys, size them, MIGRATE them. *empty when no slot of
 * the window holds a key any more. */
static sp_err drain_round(worker *w, wslot *ws, size_t k, int *fails, int *solo,
			  int *empty)
{
	long long *sizes = NULL, bytes = 0, t;
	batch *b = NULL;
	sp_conn *c;
	size_t nkeys, nb, i;
	int any, per = keys_per_slot(w, ws, k);
	sp_limits lim;
	sp_err rc;

	*empty = 0;
	look(w);
	if ((rc = sp_mover_conn_to(w, w->p->src, &c)) != SP_OK)
		return rc;
	t = sp_now_us();
	rc = fetch_keys(w, c, ws, k, per, &any);
	sp_mover_tl(w, SP_TL_KEYS, t);
	if (rc != SP_OK || !any) {
		*empty = rc == SP_OK;
		return rc;
	}
	nkeys = count_keys(ws, k);
	sizes = calloc(nkeys, sizeof(*sizes));
	b = calloc(nkeys, sizeof(*b));
	if (sizes == NULL || b == NULL) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	t = sp_now_us();
	rc = key_sizes(w, c, ws, k, sizes);
	sp_mover_tl(w, SP_TL_KEYS, t);
	if (rc != SP_OK)
		goto out;
	sp_guard_limits(w->sh->guard, w->sh->o, &lim);
	nb = cut_batches(w->sh->o, ws, k, sizes, solo,
			 model_batch(w, &lim, sizes, nkeys), b);
	for (i = 0; i < nb; i++)
		bytes += b[i].bytes;
	t = sp_now_us();
	sp_mover_throttle(w->sh, SP_RATE_KEYS, (double)nkeys);
	sp_mover_throttle(w->sh, SP_RATE_BYTES, (double)bytes);
	sp_mover_tl(w, SP_TL_PAUSE, t);
	rc = send_batches(w, c, ws, b, nb, fails, solo);
	if (rc == SP_OK && w->kept.bytes >= KEEP_ROUND_BYTES)
		rc = sp_mover_keep_window(w, moving_slot(ws, k));
	if (rc == SP_OK && w->busy != NULL)
		rc = drop_stale(w, c, ws, k);
	if (rc == SP_OK)
		*empty = mark_drained(ws, k, fails, per);
out:
	free(sizes);
	free(b);
	return rc;
}

/*
 * After a failed round: the node that did not answer, noted with
 * sp_mover_heard, or -1. The source, when our connection to it broke or
 * timed out; the target, when the source's MIGRATE could not reach it
 * and it does not answer our PING either (a MIGRATE timing out on a big
 * key is not a silent target).
 */
static int silent_node(worker *w)
{
	int src = w->p->src, dst = w->p->dst, ok;
	redisReply *r = NULL;
	sp_error e;
	sp_conn *c;

	if (w->conns[src] == NULL || sp_conn_broken(w->conns[src])) {
		sp_mover_heard(w, src, 0);
		return src;
	}
	sp_mover_heard(w, src, 1);
	if (!w->migrate_ioerr)
		return -1;
	ok = sp_mover_conn_to(w, dst, &c) == SP_OK &&
	     sp_conn_cmd(c, &r, &e, "PING") == SP_OK;
	freeReplyObject(r);
	sp_mover_heard(w, dst, ok);
	return ok ? -1 : dst;
}

/* Empties every moving slot of the window onto the target. */
sp_err sp_mover_drain(worker *w, wslot *ws, size_t k)
{
	int *fails = calloc(k, sizeof(int)), *solo = calloc(k, sizeof(int));
	int attempt = 0, empty = 0;
	sp_err rc = SP_OK;
	size_t i;

	if (w->sh->o->keep_target != NULL)
		w->busy = calloc(k, 1);
	if (fails == NULL || solo == NULL ||
	    (w->sh->o->keep_target != NULL && w->busy == NULL)) {
		rc = sp_seterr(&w->err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	while (!empty) {
		int failed = 0, silent;
		memset(fails, 0, k * sizeof(int));
		w->migrate_ioerr = 0;
		rc = drain_round(w, ws, k, fails, solo, &empty);
		for (i = 0; i < k; i++)
			failed |= fails[i] & 1; /* not for vanished keys */
		if (rc == SP_OK && !failed)
			continue;
		silent = silent_node(w);
		if ((rc != SP_OK && !sp_mover_retryable(rc)) ||
		    ++attempt > w->sh->o->max_retries ||
		    (silent >= 0 && sp_mover_gone(w, silent))) {
			if (silent >= 0 &&
			    sp_mover_retryable(rc ? rc : w->err.code))
				sp_mover_give_up(w, silent);
			if (rc == SP_OK)
				rc = w->err.code ? w->err.code : SP_ERR_SERVER;
			sp_error_prefix(&w->err,
					"moving keys to %s after %d "
					"attempts",
					w->sh->nodes[w->p->dst].addr, attempt);
			break;
		}
		sp_mover_add_stats(w->sh, 0, 0, 1);
		sp_mover_backoff(w, attempt);
		rc = SP_OK;
	}
	if (rc == SP_OK)
		rc = sp_mover_keep_window(w, moving_slot(ws, k));
out:
	for (i = 0; i < k; i++) {
		freeReplyObject(ws[i].keys);
		ws[i].keys = NULL;
	}
	free(fails);
	free(solo);
	free(w->busy);
	w->busy = NULL;
	return rc;
}
