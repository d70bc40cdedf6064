/*
 * restore.c - putting back the keys a target's failover lost (see
 * restore.h).
 */
#include "ops/restore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster/gather.h"
#include "engine/keep.h"

typedef struct node_look {
	sp_conn *c;
	int looked; /* INFO replication read */
	char replid2[SP_REPLID_LEN + 1];
	long long second_offset;
} node_look;

typedef struct restore_ctx {
	sp_cluster cl;
	int owner[SP_SLOTS];
	node_look *nodes;
	const sp_conn_opts *co;
	sp_kept_key *v; /* every record, in file order */
	size_t n, cap;
	sp_restore_stats *st;
} restore_ctx;

/* Reads the whole file; SP_ERR_NOTFOUND when it does not exist. */
static sp_err read_whole(const char *path, char **out, size_t *len,
			 sp_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return errno == ENOENT
			   ? SP_ERR_NOTFOUND
			   : sp_seterr(err, SP_ERR_SYSTEM, "cannot read %s: %s",
				       path, strerror(errno));
	do {
		if (n == cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (b == NULL) {
				free(buf);
				fclose(f);
				return sp_seterr(err, SP_ERR_OOM,
						 "out of memory");
			}
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*out = buf;
	*len = n;
	return SP_OK;
}

static sp_err collect(void *ud, const sp_kept_key *kk)
{
	restore_ctx *x = ud;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		sp_kept_key *v = realloc(x->v, cap * sizeof(*v));
		if (v == NULL)
			return SP_ERR_OOM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = *kk; /* points into the file's buffer */
	return SP_OK;
}

/* The owner's connection and replication history, read once. */
static sp_err look_at(restore_ctx *x, int o, node_look **out, sp_error *err)
{
	node_look *nl = &x->nodes[o];
	const sp_node_state *n = &x->cl.nodes[o];
	redisReply *r = NULL;
	sp_err rc;

	*out = nl;
	if (nl->c == NULL &&
	    (rc = sp_conn_open(n->host, n->port, x->co, &nl->c, err)) != SP_OK)
		return rc;
	if (nl->looked)
		return SP_OK;
	if ((rc = sp_conn_cmd(nl->c, &r, err, "INFO replication")) != SP_OK)
		return rc;
	nl->second_offset = -1;
	if (r->type == REDIS_REPLY_STRING) {
		sp_info_field(r->str, "master_replid2", nl->replid2,
			      sizeof(nl->replid2));
		sp_info_ll(r->str, "second_repl_offset", &nl->second_offset);
	}
	freeReplyObject(r);
	nl->looked = 1;
	return SP_OK;
}

/* RESTORE of one copy on its owner, without REPLACE. */
static sp_err put_back(restore_ctx *x, node_look *nl, const sp_kept_key *kk,
		       sp_error *err)
{
	char ttl[24];
	const char *argv[5] = {"RESTORE", kk->key, ttl, kk->payload, "ABSTTL"};
	size_t lens[5] = {7, kk->klen, 0, kk->plen, 6};
	sp_err rc;

	snprintf(ttl, sizeof(ttl), "%lld",
		 kk->expire_ms > 0 ? kk->expire_ms : 0LL);
	lens[2] = strlen(ttl);
	rc = sp_conn_cmdv(nl->c, NULL, err, kk->expire_ms > 0 ? 5 : 4, argv,
			  lens);
	if (rc == SP_OK)
		x->st->restored++;
	else if (rc == SP_ERR_BUSYKEY)
		x->st->present++, rc = SP_OK;
	return rc;
}

/* Settles one copy (restore.h's rules). */
static sp_err settle(restore_ctx *x, const sp_kept_key *kk, sp_error *err)
{
	int o = x->owner[kk->slot];
	node_look *nl;
	sp_err rc;

	if (o < 0)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "slot %d has %s: run slotpilot fix, then "
				 "resume again",
				 kk->slot, o == -2 ? "two owners" : "no owner");
	if (strcmp(x->cl.nodes[o].id, kk->dst) == 0) {
		x->st->had++;
		return SP_OK;
	}
	if (kk->expire_ms > 0 && kk->expire_ms <= sp_wall_ms()) {
		x->st->expired++;
		return SP_OK;
	}
	if ((rc = look_at(x, o, &nl, err)) != SP_OK)
		return rc;
	if (kk->replid[0] != '\0' && strcmp(nl->replid2, kk->replid) == 0 &&
	    nl->second_offset > kk->offset) {
		x->st->had++;
		return SP_OK;
	}
	return put_back(x, nl, kk, err);
}

/* qsort order: by key, then the newest copy (the last in the file)
 * first: a later copy was taken after a retry. */
static int by_key_newest(const void *a, const void *b)
{
	const sp_kept_key *x = *(const sp_kept_key *const *)a,
			  *y = *(const sp_kept_key *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0 || x->klen != y->klen)
		return c != 0 ? c : x->klen < y->klen ? -1 : 1;
	return x < y ? 1 : x > y ? -1 : 0;
}

static sp_err settle_all(restore_ctx *x, sp_error *err)
{
	sp_kept_key **by = malloc(x->n * sizeof(*by));
	sp_err rc = SP_OK;
	size_t i;

	if (by == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < x->n; i++)
		by[i] = &x->v[i];
	qsort(by, x->n, sizeof(*by), by_key_newest);
	for (i = 0; i < x->n && rc == SP_OK; i++)
		if (i == 0 || by[i]->klen != by[i - 1]->klen ||
		    memcmp(by[i]->key, by[i - 1]->key, by[i]->klen) != 0) {
			x->st->keys++;
			rc = settle(x, by[i], err);
		}
	free(by);
	return rc;
}

sp_err sp_restore_kept(const char *path, const char *host, int port,
		       const sp_conn_opts *co, sp_restore_stats *st,
		       sp_error *err)
{
	restore_ctx x = {.co = co, .st = st};
	char *buf = NULL;
	size_t len = 0, i;
	sp_err rc;

	*st = (sp_restore_stats){0};
	if ((rc = read_whole(path, &buf, &len, err)) != SP_OK)
		return rc;
	rc = sp_keep_parse(buf, len, collect, &x, &st->torn, err);
	if (rc == SP_ERR_OOM)
		sp_seterr(err, rc, "out of memory");
	else if (rc != SP_OK)
		sp_error_prefix(err, "%s", path);
	st->copies = (long long)x.n;
	if (rc == SP_OK && x.n > 0 &&
	    (rc = sp_cluster_gather(host, port, co, &x.cl, err)) == SP_OK) {
		sp_cluster_claims(&x.cl, x.owner);
		x.nodes =
		    calloc(x.cl.nnodes ? x.cl.nnodes : 1, sizeof(*x.nodes));
		rc = x.nodes == NULL
			 ? sp_seterr(err, SP_ERR_OOM, "out of memory")
			 : settle_all(&x, err);
	}
	if (rc == SP_OK && unlink(path) != 0)
		rc = sp_seterr(err, SP_ERR_SYSTEM, "cannot remove %s: %s", path,
			       strerror(errno));
	for (i = 0; x.nodes != NULL && i < x.cl.nnodes; i++)
		sp_conn_close(x.nodes[i].c);
	free(x.nodes);
	free(x.v);
	sp_cluster_free(&x.cl);
	free(buf);
	return rc;
}
