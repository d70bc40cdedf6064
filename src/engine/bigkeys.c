/*
 * bigkeys.c - measure the keys of planned slots with pipelined MEMORY USAGE.
 */
#include "bigkeys.h"

#include <stdlib.h>
#include <string.h>

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

void sp_big_keys_free(sp_big_keys *b)
{
	free(b->items);
	memset(b, 0, sizeof(*b));
}

sp_err sp_key_sizes(sp_conn *c, const redisReply *keys, long long *sizes,
		    sp_error *err)
{
	redisReply *r;
	sp_err rc = SP_OK;
	size_t j;

	for (j = 0; j < keys->elements && rc == SP_OK; j++)
		if (keys->element[j]->type == REDIS_REPLY_STRING)
			rc = sp_conn_append(c, err, "MEMORY USAGE %b SAMPLES 0",
					    keys->element[j]->str,
					    keys->element[j]->len);
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
