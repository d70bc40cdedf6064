/*
 * bigkeys.c - measure the keys of planned slots with pipelined MEMORY USAGE.
 */
#include "engine/bigkeys.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "model/keyslot.h"

static sp_err add(sp_big_keys *b, int slot, int node, const redisReply *k,
		  long long bytes, sp_error *err)
{
	sp_big_key *it;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		sp_big_key *tmp = realloc(b->items, cap * sizeof(*tmp));
		if (tmp == NULL)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
		b->items = tmp;
		b->cap = cap;
	}
	it = &b->items[b->n++];
	it->slot = slot;
	it->node = node;
	it->keylen = k->len;
	it->bytes = bytes;
	memcpy(it->key, k->str, k->len < 127 ? k->len : 127);
	it->key[k->len < 127 ? k->len : 127] = '\0';
	return SP_OK;
}

/* Every key of one slot (GETKEYSINSLOT with its full count), measured. */
static sp_err measure_slot(sp_conn *c, int slot, int node, long long limit,
			   sp_big_keys *out, sp_error *err)
{
	redisReply *cnt = NULL, *keys = NULL;
	long long *sizes = NULL;
	sp_err rc;
	size_t j;

	if ((rc = sp_conn_cmd(c, &cnt, err, "CLUSTER COUNTKEYSINSLOT %d",
			      slot)) != SP_OK ||
	    (rc = sp_reply_expect(c, cnt, REDIS_REPLY_INTEGER,
				  "COUNTKEYSINSLOT", err)) != SP_OK ||
	    cnt->integer == 0)
		goto out;
	if ((rc = sp_conn_cmd(c, &keys, err, "CLUSTER GETKEYSINSLOT %d %lld",
			      slot, cnt->integer)) != SP_OK ||
	    (rc = sp_reply_expect(c, keys, REDIS_REPLY_ARRAY, "GETKEYSINSLOT",
				  err)) != SP_OK)
		goto out;
	if ((sizes = calloc(keys->elements + 1, sizeof(*sizes))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = sp_key_sizes(c, keys, sizes, err)) != SP_OK)
		goto out;
	for (j = 0; j < keys->elements && rc == SP_OK; j++)
		if (sizes[j] > limit)
			rc = add(out, slot, node, keys->element[j], sizes[j],
				 err);
out:
	free(sizes);
	freeReplyObject(cnt);
	freeReplyObject(keys);
	return rc;
}

sp_err sp_find_big_keys(const sp_endpoint *nodes, const sp_move *moves,
			size_t nmoves, long long limit, const sp_conn_opts *co,
			sp_big_keys *out, sp_error *err)
{
	int src, maxsrc = -1;
	sp_err rc = SP_OK;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < nmoves; i++)
		maxsrc = moves[i].src > maxsrc ? moves[i].src : maxsrc;
	/* One connection per source, its slots in order. */
	for (src = 0; src <= maxsrc && rc == SP_OK; src++) {
		const sp_endpoint *e = &nodes[src];
		sp_conn *c = NULL;
		for (i = 0; i < nmoves && rc == SP_OK; i++) {
			if (moves[i].src != src)
				continue;
			if (c == NULL &&
			    (rc = sp_conn_open(e->host, e->port, co, &c, err)))
				break;
			rc = measure_slot(c, moves[i].slot, src, limit, out,
					  err);
		}
		sp_conn_close(c);
	}
	if (rc != SP_OK)
		sp_big_keys_free(out);
	return rc;
}

sp_err sp_big_keys_append(sp_big_keys *b, const sp_big_key *k)
{
	sp_big_key *tmp;
	size_t cap;

	if (b->n == b->cap) {
		cap = b->cap ? b->cap * 2 : 16;
		if ((tmp = realloc(b->items, cap * sizeof(*tmp))) == NULL)
			return SP_ERR_OOM;
		b->items = tmp;
		b->cap = cap;
	}
	b->items[b->n++] = *k;
	return SP_OK;
}

void sp_big_keys_free(sp_big_keys *b)
{
	if (b == NULL)
		return;
	free(b->items);
	memset(b, 0, sizeof(*b));
}

sp_err sp_key_sizes(sp_conn *c, const redisReply *keys, long long *sizes,
		    sp_error *err)
{
	return sp_key_sizes_sampled(c, keys, 0, sizes, err);
}

sp_err sp_key_sizes_sampled(sp_conn *c, const redisReply *keys, int samples,
			    long long *sizes, sp_error *err)
{
	redisReply *r;
	sp_err rc = SP_OK;
	size_t j;

	for (j = 0; j < keys->elements && rc == SP_OK; j++)
		if (keys->element[j]->type == REDIS_REPLY_STRING)
			rc =
			    sp_conn_append(c, err, "MEMORY USAGE %b SAMPLES %d",
					   keys->element[j]->str,
					   keys->element[j]->len, samples);
	for (j = 0; j < keys->elements && rc == SP_OK; j++) {
		sizes[j] = 0;
		if (keys->element[j]->type != REDIS_REPLY_STRING)
			continue;
		if ((rc = sp_conn_read(c, &r, err, "MEMORY USAGE")) != SP_OK)
			break;
		if (r->type == REDIS_REPLY_INTEGER)
			sizes[j] = r->integer;
		freeReplyObject(r);
	}
	if (rc != SP_OK)
		sp_conn_drain(c);
	return rc;
}

sp_scan_opts sp_scan_defaults(void)
{
	sp_scan_opts o = {.count = 100,
			  .rate = 20000,
			  .sleep_ms = 0,
			  .samples = 5,
			  .limit = 10LL * 1000 * 1000,
			  .stop = NULL};
	return o;
}

/* A SCAN reply is [cursor, [keys...]]; checks that shape. */
static sp_err scan_reply(sp_conn *c, const redisReply *r,
			 unsigned long long *cursor, sp_error *err)
{
	char *end;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s: SCAN: reply is not [cursor, keys]",
				 c->addr);
	*cursor = strtoull(r->element[0]->str, &end, 10);
	if (end == r->element[0]->str || *end != '\0')
		return sp_seterr(err, SP_ERR_PROTOCOL,
				 "%s: SCAN: cursor \"%.40s\" is not a number",
				 c->addr, r->element[0]->str);
	return SP_OK;
}

/* Measures one batch of keys: totals, per-slot bytes, big ones. */
static sp_err measure_batch(sp_conn *c, int node, const redisReply *keys,
			    const sp_scan_opts *o, sp_big_keys *out,
			    long long *slot_bytes, sp_scan_stats *st,
			    sp_error *err)
{
	long long *sizes = calloc(keys->elements + 1, sizeof(*sizes));
	sp_err rc = SP_OK;
	size_t j;

	if (sizes == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = sp_key_sizes_sampled(c, keys, o->samples, sizes, err)))
		goto out;
	for (j = 0; j < keys->elements && rc == SP_OK; j++) {
		const redisReply *k = keys->element[j];
		int slot;
		if (k->type != REDIS_REPLY_STRING)
			continue;
		slot = sp_keyslot(k->str, k->len);
		st->keys++;
		st->bytes += sizes[j];
		if (slot_bytes != NULL)
			slot_bytes[slot] += sizes[j];
		if (sizes[j] > o->limit)
			rc = add(out, slot, node, k, sizes[j], err);
	}
out:
	free(sizes);
	return rc;
}

/* Keeps the scan under o->rate keys per second since t0, plus the fixed
 * pause between batches. */
static void pace(const sp_scan_opts *o, const sp_scan_stats *st, long long t0)
{
	long long due = 0, now = sp_now_ms();

	if (o->rate > 0)
		due = t0 + st->keys * 1000 / o->rate - now;
	if (due < o->sleep_ms)
		due = o->sleep_ms;
	if (due > 0)
		sp_sleep_ms(due);
}

sp_err sp_scan_big_keys(sp_conn *c, int node, const sp_scan_opts *o,
			sp_big_keys *out, long long *slot_bytes,
			sp_scan_stats *st, sp_error *err)
{
	unsigned long long cursor = 0;
	long long t0 = sp_now_ms();
	redisReply *r = NULL;
	sp_err rc = SP_OK;

	memset(st, 0, sizeof(*st));
	do {
		if ((rc = sp_conn_cmd(c, &r, err, "SCAN %llu COUNT %d", cursor,
				      o->count)) != SP_OK ||
		    (rc = scan_reply(c, r, &cursor, err)) != SP_OK ||
		    (rc = measure_batch(c, node, r->element[1], o, out,
					slot_bytes, st, err)) != SP_OK)
			break;
		freeReplyObject(r);
		r = NULL;
		st->batches++;
		if (cursor != 0)
			pace(o, st, t0);
	} while (cursor != 0 && (o->stop == NULL || !*o->stop));
	st->complete = rc == SP_OK && cursor == 0;
	freeReplyObject(r);
	return rc;
}
