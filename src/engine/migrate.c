/*
 * migrate.c - the slot mover's scheduling: moves sorted into (source,
 * target) pairs, pairs taken by parallel worker threads, the shared rate
 * limiter, stats and retry policy, and the latency guard around it all.
 * One window's protocol steps are in window.c, its keys move in drain.c.
 */
#include "engine/migrate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "engine/guard.h"
#include "engine/mover.h"
#include "io/config.h"

sp_migrate_opts sp_migrate_defaults(void)
{
	sp_migrate_opts o = {.window = 128,
			     .parallel = 8,
			     .batch_keys = 1000,
			     .pipeline = 2,
			     .batch_bytes = 4 << 20,
			     .timeout_ms = 5000,
			     .max_retries = 8,
			     .give_up_ms = 30000};
	return o;
}

void sp_endpoint_set(sp_endpoint *e, const char *id, const char *host, int port)
{
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->host, sizeof(e->host), "%s", host);
	e->port = port;
	sp_format_addr(e->addr, sizeof(e->addr), host, port);
}

/* 1 when a worker failed or *o->stop was set: stop at a boundary. */
static int should_stop(shared *sh)
{
	int stop;

	pthread_mutex_lock(&sh->mu);
	stop = sh->failed || (sh->o->stop != NULL && *sh->o->stop);
	pthread_mutex_unlock(&sh->mu);
	return stop;
}

/* Takes `units` from the rate limiter, sleeping off any debt. */
void sp_mover_throttle(shared *sh, sp_rate_unit unit, double units)
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

void sp_mover_add_stats(shared *sh, long long keys, long long bytes,
			long long retries)
{
	pthread_mutex_lock(&sh->mu);
	sh->stats.keys += keys;
	sh->stats.bytes += bytes;
	sh->stats.retries += retries;
	pthread_mutex_unlock(&sh->mu);
}

/* Exponential backoff with jitter: 50 ms * 2^attempt, at most 2 s. */
void sp_mover_backoff(worker *w, int attempt)
{
	long long t = sp_now_us();

	sp_backoff_sleep(attempt, 50, 2000, &w->seed);
	sp_mover_tl(w, SP_TL_PAUSE, t);
}

const char *const sp_tl_step_names[SP_TL_N] = {"check",	  "open",  "keys",
					       "migrate", "final", "pause"};

void sp_mover_tl(worker *w, enum sp_tl_step step, long long since_us)
{
	w->tl_us[step] += sp_now_us() - since_us;
}

/* The round trips the worker has waited for on its connections. */
static long long worker_turns(const worker *w)
{
	long long n = 0;
	size_t i;

	for (i = 0; i < w->sh->nnodes; i++)
		n += w->conns[i] != NULL ? w->conns[i]->turns : 0;
	return n;
}

static void add_pair_time(sp_pair_time *to, const sp_pair_time *t)
{
	int i;

	to->slots += t->slots;
	to->turns += t->turns;
	to->wall_s += t->wall_s;
	for (i = 0; i < SP_TL_N; i++)
		to->step_s[i] += t->step_s[i];
}

/* Files the timeline of the pair the worker just ran (under the lock):
 * its own entry, the sum, and the most turns per slot. */
static void record_pair_time(worker *w, long long start_us, long long turns0)
{
	shared *sh = w->sh;
	sp_pair_time t = {.src = w->p->src, .dst = w->p->dst};
	size_t idx = (size_t)(w->p - sh->pairs);
	int i;

	t.turns = worker_turns(w) - turns0;
	t.wall_s = (double)(sp_now_us() - start_us) / 1e6;
	for (i = 0; i < SP_TL_N; i++)
		t.step_s[i] = (double)w->tl_us[i] / 1e6;
	t.slots = w->pair_slots;
	pthread_mutex_lock(&sh->mu);
	if (idx < SP_TL_PAIRS)
		sh->stats.pair_time[idx] = t;
	add_pair_time(&sh->stats.tl_all, &t);
	if (t.slots > 0 &&
	    (double)t.turns / (double)t.slots > sh->stats.max_turns_per_slot)
		sh->stats.max_turns_per_slot =
		    (double)t.turns / (double)t.slots;
	pthread_mutex_unlock(&sh->mu);
}

/* The bound on a node's silence; 0 means the default. */
static long long give_up_ms(const shared *sh)
{
	return sh->o->give_up_ms > 0 ? sh->o->give_up_ms : 30000;
}

void sp_mover_heard(worker *w, int node, int ok)
{
	shared *sh = w->sh;
	long long now = sp_now_ms();

	pthread_mutex_lock(&sh->mu);
	if (ok)
		sh->silent_since[node] = 0;
	else if (sh->silent_since[node] == 0)
		sh->silent_since[node] = now;
	else if (now - sh->silent_since[node] >= give_up_ms(sh))
		sh->gone[node] = 1;
	pthread_mutex_unlock(&sh->mu);
}

void sp_mover_give_up(worker *w, int node)
{
	pthread_mutex_lock(&w->sh->mu);
	w->sh->gone[node] = 1;
	if (w->sh->silent_since[node] == 0)
		w->sh->silent_since[node] = sp_now_ms();
	pthread_mutex_unlock(&w->sh->mu);
}

int sp_mover_gone(worker *w, int node)
{
	shared *sh = w->sh;
	int gone;

	pthread_mutex_lock(&sh->mu);
	if (!sh->gone[node] && sh->silent_since[node] > 0 &&
	    sp_now_ms() - sh->silent_since[node] >= give_up_ms(sh))
		sh->gone[node] = 1;
	gone = sh->gone[node];
	pthread_mutex_unlock(&sh->mu);
	return gone;
}

int sp_mover_gone_names(shared *sh, char *buf, size_t len)
{
	size_t i, used = strlen(buf);
	int n = 0;

	pthread_mutex_lock(&sh->mu);
	for (i = 0; i < sh->nnodes; i++)
		if (sh->gone[i] && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 n++ ? ", " : "",
						 sh->nodes[i].addr);
	pthread_mutex_unlock(&sh->mu);
	return n;
}

/* 1 for errors worth another try: the node or the target was busy.
 * MIGRATE's wrapped target errors ("ERR Target instance replied with
 * error: CLUSTERDOWN ...") and its IOERR are sorted by io/ already. */
int sp_mover_retryable(sp_err rc)
{
	return rc == SP_ERR_TIMEOUT || rc == SP_ERR_TRYAGAIN ||
	       rc == SP_ERR_LOADING || rc == SP_ERR_CLUSTERDOWN ||
	       rc == SP_ERR_IO;
}

/* Keeps the first failure (rc and w->err) for sp_migrate to return. */
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

/* Counts the worker's pair in (d 1) or out (d -1) of the pairs moving
 * into its target now (drain.c shares the target's duty cycle). */
static void moving_to(worker *w, int d)
{
	pthread_mutex_lock(&w->sh->mu);
	w->sh->moving_to[w->p->dst] += d;
	pthread_mutex_unlock(&w->sh->mu);
}

/* Moves the pair w->p window by window, as fast as the guard allows;
 * ws and res are the worker's scratch. On error, w->err says why. */
static sp_err run_windows(worker *w, wslot *ws, int *res)
{
	size_t at, k;
	sp_limits lim;
	sp_err rc;

	for (at = 0; at < w->p->n; at += k) {
		long long t = sp_now_us();
		sp_guard_limits(w->sh->guard, w->sh->o, &lim);
		k = w->p->n - at < (size_t)lim.window ? w->p->n - at
						      : (size_t)lim.window;
		sp_mover_tl(w, SP_TL_PAUSE, t);
		if (should_stop(w->sh))
			return SP_OK;
		sp_guard_enter(w->sh->guard);
		moving_to(w, 1);
		rc = sp_mover_move_window(w, w->p->moves + at, k, ws, res);
		moving_to(w, -1);
		sp_guard_leave(w->sh->guard);
		if (rc != SP_OK)
			return rc;
	}
	return SP_OK;
}

/* run_windows, with the pair's timeline filed when it ends. */
static sp_err run_pair(worker *w, wslot *ws, int *res)
{
	long long start = sp_now_us(), turns = worker_turns(w);
	sp_err rc;

	memset(w->tl_us, 0, sizeof(w->tl_us));
	w->pair_slots = 0;
	rc = sp_mover_keep_end(w, run_windows(w, ws, res));
	record_pair_time(w, start, turns);
	return rc;
}

/* A worker thread: takes pairs until none is left or the run stops;
 * owns and closes its connections. Returns NULL. */
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
	sp_keep_free(&w->kept);
	free(ws);
	free(res);
	pthread_mutex_lock(&sh->mu);
	sh->running--;
	pthread_cond_signal(&sh->ended);
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

/* qsort order of moves: by source, then target, then slot. */
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

/*
 * Over TLS, every source of a pair must run MIGRATE over TLS too: a node
 * with tls-cluster no dials its targets in plain text, and a TLS-only
 * target refuses that (the keys stay, the move stalls). A node that does
 * not let us read the setting is not refused: the moves would tell.
 */
static sp_err tls_cluster_on(const sp_endpoint *nodes, size_t nnodes,
			     const sp_move *moves, size_t n,
			     const sp_conn_opts *co, sp_error *err)
{
	unsigned char *seen;
	sp_err rc = SP_OK;
	char v[16];
	sp_conn *c;
	size_t i;

	if (co == NULL || co->tls == NULL || n == 0)
		return SP_OK;
	if ((seen = calloc(nnodes, 1)) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < n && rc == SP_OK; i++) {
		const sp_endpoint *e = &nodes[moves[i].src];

		if (seen[moves[i].src]++ ||
		    sp_conn_open(e->host, e->port, co, &c, NULL) != SP_OK)
			continue;
		if (sp_config_get(c, "tls-cluster", v, sizeof(v), NULL) ==
			SP_OK &&
		    strcmp(v, "no") == 0)
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "%s:%d: tls-cluster is no: it would "
				       "send MIGRATE to its TLS targets in "
				       "plain text; set tls-cluster yes on "
				       "every node first",
				       e->host, e->port);
		sp_conn_close(c);
	}
	free(seen);
	return rc;
}

/* SP_ERR_USAGE for options out of range, SP_ERR_INTERNAL for a move
 * that names no node or a slot out of range, SP_ERR_CLUSTER for a TLS
 * source with tls-cluster no. */
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
	return tls_cluster_on(nodes, nnodes, moves, n, o->conn, err);
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

/* Stops the guard (if any) and copies its report into the stats. */
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
	sh->stats.guard_min_share = r.min_share;
	sh->stats.guard_min_duty = r.min_duty;
	sh->stats.guard_by_default = r.by_default;
	sh->stats.guard_out_of_reach_s = r.out_of_reach_s;
}

/*
 * Starts up to n workers (ws[] and tids[] have n entries, owned by the
 * caller) on the shared pairs; returns how many started. sh->running
 * counts only those.
 */
static size_t start_workers(shared *sh, worker *ws, pthread_t *tids, size_t n,
			    long long seed)
{
	size_t i;

	sh->running = (int)n;
	for (i = 0; i < n; i++) {
		ws[i] =
		    (worker){.sh = sh, .seed = (unsigned)(seed + (long long)i)};
		if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
			pthread_mutex_lock(&sh->mu);
			sh->running -= (int)(n - i);
			pthread_mutex_unlock(&sh->mu);
			return i;
		}
	}
	return n;
}

/* Waits up to ms for the last worker to stop (it signals sh->ended):
 * the move's end is not held back by the progress period. */
static void wait_workers(shared *sh, long long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sh->mu);
	while (sh->running > 0 &&
	       pthread_cond_timedwait(&sh->ended, &sh->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&sh->mu);
}

/* Reports progress about every 100 ms until no worker runs. */
static void watch(shared *sh, long long start)
{
	const sp_migrate_opts *opts = sh->o;

	for (;;) {
		sp_migrate_stats snap;
		int running;
		pthread_mutex_lock(&sh->mu);
		running = sh->running;
		snap = sh->stats;
		pthread_mutex_unlock(&sh->mu);
		snap.seconds = (double)(sp_now_ms() - start) / 1000.0;
		if (sh->guard != NULL) {
			sp_guard_now_t g;
			sp_guard_now(sh->guard, &g);
			snap.guarded = 1;
			snap.guard_budget_ms = g.budget_ms;
			snap.guard_p99_now_ms = g.p99_ms;
			snap.guard_block_us = g.block_us;
			snap.guard_duty = g.duty;
			snap.guard_parallel = g.parallel;
		}
		if (opts->on_progress != NULL)
			opts->on_progress(opts->ud, &snap);
		if (running <= 0)
			break;
		wait_workers(sh, 100);
	}
}

/* The run's result once every worker has stopped (see sp_migrate). */
static sp_err outcome(shared *sh, size_t nthreads, size_t nmoves, sp_error *err)
{
	char gone[256] = "";

	if (nthreads == 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot start threads");
	if (sh->failed && sp_mover_gone_names(sh, gone, sizeof(gone)) > 0)
		return sp_seterr(err, SP_ERR_TIMEOUT,
				 "%s; gave up on %s (no answer within %lld s): "
				 "the journal keeps the unfinished slots; once "
				 "it answers again, or after its failover, run "
				 "slotpilot resume",
				 sh->first_err.msg, gone,
				 give_up_ms(sh) / 1000);
	if (sh->failed)
		return sp_seterr(err, sh->first_rc, "%s", sh->first_err.msg);
	if (sh->stats.slots_done < (long long)nmoves)
		return sp_seterr(err, SP_ERR_INTERRUPTED,
				 "interrupted after %lld of %zu slots; no slot "
				 "is open; run slotpilot resume to finish",
				 sh->stats.slots_done, nmoves);
	return SP_OK;
}

/* The lock, the end signal and the per-node arrays of sh (shared_free
 * frees them, also after an error here). */
static sp_err shared_init(shared *sh, sp_error *err)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->ended, &ca);
	pthread_condattr_destroy(&ca);
	sh->silent_since = calloc(sh->nnodes, sizeof(*sh->silent_since));
	sh->gone = calloc(sh->nnodes, 1);
	sh->moving_to = calloc(sh->nnodes, sizeof(*sh->moving_to));
	if (sh->silent_since == NULL || sh->gone == NULL ||
	    sh->moving_to == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	return SP_OK;
}

static void shared_free(shared *sh)
{
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->ended);
	free(sh->pairs);
	free(sh->silent_since);
	free(sh->gone);
	free(sh->moving_to);
}

sp_err sp_migrate(const sp_endpoint *nodes, size_t nnodes, const sp_move *moves,
		  size_t nmoves, const sp_migrate_opts *opts,
		  sp_migrate_stats *stats, sp_error *err)
{
	shared sh = {.nodes = nodes, .nnodes = nnodes, .o = opts};
	long long start = sp_now_ms(), ended = 0;
	pthread_t *tids = NULL;
	worker *ws = NULL;
	sp_move *sorted = NULL;
	int *involved = NULL;
	size_t nthreads = 0, i;
	sp_err rc;

	memset(stats, 0, sizeof(*stats));
	stats->slots_total = (long long)nmoves;
	if ((rc = sp_moves_validate(moves, nmoves, nnodes, NULL, err)) !=
		SP_OK ||
	    (rc = validate(nodes, nnodes, moves, nmoves, opts, err)) != SP_OK)
		return rc;
	if (nmoves == 0)
		return SP_OK;
	if ((rc = shared_init(&sh, err)) != SP_OK)
		goto out;
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
		goto out;
	}
	sh.stats.setup_s = (double)(sp_now_ms() - start) / 1000.0;
	nthreads = start_workers(&sh, ws, tids, nthreads, start);
	watch(&sh, start);
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	ended = sp_now_ms();
	stop_guard(&sh);
	rc = outcome(&sh, nthreads, nmoves, err);
out:
	stop_guard(&sh);
	free(involved);
	*stats = sh.stats;
	stats->seconds = (double)(sp_now_ms() - start) / 1000.0;
	stats->npairs = (int)sh.npairs;
	stats->tl_all.src = stats->tl_all.dst = -1;
	if (ended > 0)
		stats->teardown_s = (double)(sp_now_ms() - ended) / 1000.0;
	shared_free(&sh);
	free(tids);
	free(ws);
	free(sorted);
	return rc;
}
