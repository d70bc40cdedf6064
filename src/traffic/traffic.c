/*
 * traffic.c - the load generator on cluster/client.h (see traffic.h).
 */
#include "traffic/traffic.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

typedef struct worker {
	struct sp_traffic *t;
	int id;
	pthread_t tid;
	int started;
	pthread_mutex_t mu;
	sp_traffic_counts c; /* under mu */
	sp_client *cl;
	unsigned seed;	 /* for the keys and reads of this worker */
	uint32_t *acked; /* last acknowledged sequence of each owned key */
	long owned;
	uint32_t seq;
	char *val;
} worker;

struct sp_traffic {
	sp_traffic_opts o;
	worker *w;
	int nw;
	atomic_int stop;
	int stopped;
};

sp_traffic_opts sp_traffic_defaults(void)
{
	sp_traffic_opts o = {.port = 0,
			     .connections = 4,
			     .read_ratio = 0.5,
			     .keys = 10000,
			     .value_size = 100,
			     .rate = 2000,
			     .max_attempts = 16};
	snprintf(o.prefix, sizeof(o.prefix), "sp:traffic:");
	return o;
}

sp_err sp_traffic_validate(const sp_traffic_opts *o, sp_error *err)
{
	if (o->connections < 1 || o->connections > 256)
		return sp_seterr(err, SP_ERR_USAGE,
				 "connections must be 1..256, not %d",
				 o->connections);
	if (!(o->read_ratio >= 0.0 && o->read_ratio <= 1.0))
		return sp_seterr(err, SP_ERR_USAGE,
				 "read ratio must be between 0 and 1, not %g",
				 o->read_ratio);
	if (o->keys < o->connections || o->keys > 100000000L)
		return sp_seterr(err, SP_ERR_USAGE,
				 "key space must be %d..100000000 keys (at "
				 "least one per connection), not %ld",
				 o->connections, o->keys);
	if (o->value_size < 16 || o->value_size > 1 << 20)
		return sp_seterr(err, SP_ERR_USAGE,
				 "value size must be 16..1048576 bytes, not %d",
				 o->value_size);
	if (!(o->rate >= 0.0) || o->rate > 1e7)
		return sp_seterr(err, SP_ERR_USAGE,
				 "rate must be 0 (unthrottled) or a positive "
				 "number of operations per second");
	if (o->max_attempts < 1)
		return sp_seterr(err, SP_ERR_USAGE,
				 "max attempts must be >= 1");
	return SP_OK;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ---- the load ---- */

static void key_name(const worker *w, long li, char *buf, size_t len)
{
	long k = li * w->t->nw + w->id;

	snprintf(buf, len, "%s%ld", w->t->o.prefix, k);
}

/* The sequence number at the head of a value, or 0 if none. */
static uint32_t value_seq(const redisReply *r)
{
	char tmp[16];
	size_t n;

	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return 0;
	n = r->len < sizeof(tmp) - 1 ? r->len : sizeof(tmp) - 1;
	memcpy(tmp, r->str, n);
	tmp[n] = '\0';
	return (uint32_t)strtoul(tmp, NULL, 10);
}

/* Checks a read against the last acknowledged write of the key. */
static void check_read(worker *w, long li, const redisReply *r,
		       sp_traffic_counts *c)
{
	uint32_t want = w->acked[li];

	if (want == 0)
		return;
	if (r == NULL || r->type == REDIS_REPLY_NIL)
		c->lost_reads++;
	else if (value_seq(r) < want)
		c->stale_reads++;
}

/* One GET or SET of a random owned key; returns its latency. */
static long long one_op(worker *w, sp_traffic_counts *c)
{
	const sp_traffic_opts *o = &w->t->o;
	char key[96], head[16];
	const char *argv[3];
	size_t lens[3];
	long li = (long)(rand_r(&w->seed) % (unsigned)w->owned);
	int is_read = (double)rand_r(&w->seed) / RAND_MAX < o->read_ratio;
	sp_client_trace tr = {.events = c->events, .last = SP_CEV_OTHER};
	uint32_t seq = 0;
	redisReply *r = NULL;
	sp_error e;
	long long t0;
	sp_err rc;

	key_name(w, li, key, sizeof(key));
	argv[0] = is_read ? "GET" : "SET";
	argv[1] = key;
	lens[0] = 3;
	lens[1] = strlen(key);
	if (!is_read) {
		seq = ++w->seq;
		snprintf(head, sizeof(head), "%u:", seq);
		memcpy(w->val, head, strlen(head));
		argv[2] = w->val;
		lens[2] = (size_t)o->value_size;
	}
	t0 = now_us();
	rc = sp_client_cmd(w->cl, is_read ? 2 : 3, argv, lens, &r, &tr, &e);
	t0 = now_us() - t0;
	if (rc != SP_OK) {
		c->errors++;
		c->failed[tr.last]++;
	} else if (is_read) {
		c->reads++;
		check_read(w, li, r, c);
	} else {
		c->writes++;
		w->acked[li] = seq;
	}
	freeReplyObject(r);
	return t0;
}

/* Adds one operation's local counters into the shared ones. */
static void publish(worker *w, const sp_traffic_counts *d, long long us)
{
	size_t i;

	pthread_mutex_lock(&w->mu);
	w->c.reads += d->reads;
	w->c.writes += d->writes;
	w->c.errors += d->errors;
	w->c.stale_reads += d->stale_reads;
	w->c.lost_reads += d->lost_reads;
	for (i = 0; i < SP_CEV__COUNT; i++) {
		w->c.failed[i] += d->failed[i];
		w->c.events[i] += d->events[i];
	}
	sp_hist_add(&w->c.lat, us < 0 ? 0 : (uint64_t)us);
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	struct sp_traffic *t = w->t;
	double gap = t->o.rate > 0 ? 1e6 * t->nw / t->o.rate : 0;
	long long next = now_us();

	while (!atomic_load(&t->stop)) {
		sp_traffic_counts d;
		long long us, now;
		if (gap > 0) {
			now = now_us();
			if (now < next) {
				long long ms = (next - now) / 1000;
				sp_sleep_ms(ms < 1 ? 1 : (ms > 100 ? 100 : ms));
				continue;
			}
			/* Behind by more than a second: forget the backlog. */
			next = next + (long long)gap < now - 1000000
				   ? now
				   : next + (long long)gap;
		}
		/* Only the scalar fields of d are used: no histogram copy. */
		memset(&d, 0, offsetof(sp_traffic_counts, lat));
		us = one_op(w, &d);
		publish(w, &d, us);
	}
	return NULL;
}

static sp_err worker_init(worker *w, struct sp_traffic *t, int id,
			  sp_error *err)
{
	sp_client_opts co;
	sp_err rc;

	w->t = t;
	w->id = id;
	w->owned = (t->o.keys - id + t->nw - 1) / t->nw;
	w->acked = calloc((size_t)w->owned, sizeof(*w->acked));
	w->val = malloc((size_t)t->o.value_size);
	if (w->acked == NULL || w->val == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	memset(w->val, 'v', (size_t)t->o.value_size);
	w->seed = (unsigned)now_us() ^ (unsigned)(id * 7919);
	co.conn = t->o.conn;
	co.max_attempts = t->o.max_attempts;
	co.seed = w->seed;
	if ((rc = sp_client_new(t->o.host, t->o.port, &co, &w->cl, err)) !=
	    SP_OK)
		sp_error_prefix(err, "traffic: reading the slot map from %s:%d",
				t->o.host, t->o.port);
	return rc;
}

sp_err sp_traffic_start(const sp_traffic_opts *o, sp_traffic **out,
			sp_error *err)
{
	struct sp_traffic *t;
	sp_err rc;
	int i;

	*out = NULL;
	if ((rc = sp_traffic_validate(o, err)) != SP_OK)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->w = calloc((size_t)o->connections, sizeof(*t->w))) == NULL) {
		free(t);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	t->o = *o;
	t->nw = o->connections;
	for (i = 0; i < t->nw; i++)
		pthread_mutex_init(&t->w[i].mu, NULL);
	for (i = 0; i < t->nw; i++)
		if ((rc = worker_init(&t->w[i], t, i, err)) != SP_OK)
			goto fail;
	for (i = 0; i < t->nw; i++) {
		if (pthread_create(&t->w[i].tid, NULL, worker_main, &t->w[i]) !=
		    0) {
			rc = sp_seterr(err, SP_ERR_SYSTEM,
				       "cannot start traffic threads");
			goto fail;
		}
		t->w[i].started = 1;
	}
	*out = t;
	return SP_OK;
fail:
	sp_traffic_free(t);
	return rc;
}

void sp_traffic_counts_sub(sp_traffic_counts *a, const sp_traffic_counts *b)
{
	size_t i;

	a->reads -= b->reads;
	a->writes -= b->writes;
	a->errors -= b->errors;
	a->stale_reads -= b->stale_reads;
	a->lost_reads -= b->lost_reads;
	for (i = 0; i < SP_CEV__COUNT; i++) {
		a->failed[i] -= b->failed[i];
		a->events[i] -= b->events[i];
	}
	sp_hist_sub(&a->lat, &b->lat);
}

void sp_traffic_snapshot(sp_traffic *t, sp_traffic_counts *out)
{
	size_t i;
	int k;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < t->nw; k++) {
		worker *w = &t->w[k];
		pthread_mutex_lock(&w->mu);
		out->reads += w->c.reads;
		out->writes += w->c.writes;
		out->errors += w->c.errors;
		out->stale_reads += w->c.stale_reads;
		out->lost_reads += w->c.lost_reads;
		for (i = 0; i < SP_CEV__COUNT; i++) {
			out->failed[i] += w->c.failed[i];
			out->events[i] += w->c.events[i];
		}
		sp_hist_merge(&out->lat, &w->c.lat);
		pthread_mutex_unlock(&w->mu);
	}
}

void sp_traffic_stop(sp_traffic *t)
{
	int i;

	if (t == NULL || t->stopped)
		return;
	atomic_store(&t->stop, 1);
	for (i = 0; i < t->nw; i++)
		if (t->w[i].started)
			pthread_join(t->w[i].tid, NULL);
	t->stopped = 1;
}

/* Reads back the keys of one worker. */
static sp_err verify_worker(worker *w, sp_traffic_verify *v, sp_error *err)
{
	char key[96];
	const char *argv[2];
	size_t lens[2];
	long li;

	argv[0] = "GET";
	lens[0] = 3;
	for (li = 0; li < w->owned; li++) {
		redisReply *r = NULL;
		if (w->acked[li] == 0)
			continue;
		v->keys_written++;
		v->seq_sum += w->acked[li];
		key_name(w, li, key, sizeof(key));
		argv[1] = key;
		lens[1] = strlen(key);
		if (sp_client_cmd(w->cl, 2, argv, lens, &r, NULL, err) !=
		    SP_OK) {
			v->failed++;
			continue;
		}
		v->checked++;
		if (r->type == REDIS_REPLY_NIL)
			v->lost++;
		else if (value_seq(r) < w->acked[li])
			v->stale++;
		freeReplyObject(r);
	}
	return SP_OK;
}

sp_err sp_traffic_verify_keys(sp_traffic *t, sp_traffic_verify *out,
			      sp_error *err)
{
	int i;

	memset(out, 0, sizeof(*out));
	sp_traffic_stop(t);
	for (i = 0; i < t->nw; i++) {
		/* The map may be old: moves finished since the last op. */
		sp_client_refresh(t->w[i].cl, err);
		verify_worker(&t->w[i], out, err);
	}
	if (out->keys_written > 0 && out->checked == 0)
		return sp_seterr(
		    err, SP_ERR_IO,
		    "traffic: could not read back any of %llu keys",
		    (unsigned long long)out->keys_written);
	return SP_OK;
}

void sp_traffic_free(sp_traffic *t)
{
	int i;

	if (t == NULL)
		return;
	sp_traffic_stop(t);
	for (i = 0; t->w != NULL && i < t->nw; i++) {
		sp_client_free(t->w[i].cl);
		free(t->w[i].acked);
		free(t->w[i].val);
		pthread_mutex_destroy(&t->w[i].mu);
	}
	free(t->w);
	free(t);
}
