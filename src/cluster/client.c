/*
 * client.c - the smart cluster client: slot map, redirects, retries (see
 * client.h).
 */
#include "cluster/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/backoff.h"
#include "model/keyslot.h"
#include "model/topology.h"

#define MAX_NODES      1024 /* addresses learnt from the network, at most */
#define BACKOFF_MAX_MS 200

typedef struct cnode {
	char host[SP_HOST_MAX];
	int port;
	sp_conn *c;
} cnode;

struct sp_client {
	sp_client_opts o; /* o.seed advances with each backoff */
	cnode *nodes;
	size_t n, cap;
	int map[SP_SLOTS]; /* index into nodes, or -1 */
};

const char *sp_cev_name(sp_cev e)
{
	static const char *names[SP_CEV__COUNT] = {
	    "moved",   "ask",  "tryagain", "clusterdown",
	    "loading", "conn", "timeout",  "other"};
	return (unsigned)e < SP_CEV__COUNT ? names[e] : "?";
}

/* Index of host:port in the node table, added when new; -1 when full. */
static int node_index(sp_client *cl, const char *host, int port)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		if (cl->nodes[i].port == port &&
		    strcmp(cl->nodes[i].host, host) == 0)
			return (int)i;
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 16;
		cnode *nn;
		if (cap > MAX_NODES ||
		    (nn = realloc(cl->nodes, cap * sizeof(*nn))) == NULL)
			return -1;
		cl->nodes = nn;
		cl->cap = cap;
	}
	memset(&cl->nodes[cl->n], 0, sizeof(cl->nodes[cl->n]));
	snprintf(cl->nodes[cl->n].host, SP_HOST_MAX, "%s", host);
	cl->nodes[cl->n].port = port;
	return (int)cl->n++;
}

static void node_drop(sp_client *cl, int i)
{
	sp_conn_close(cl->nodes[i].c);
	cl->nodes[i].c = NULL;
}

static sp_err node_conn(sp_client *cl, int i, sp_conn **out, sp_error *err)
{
	cnode *nd = &cl->nodes[i];
	sp_err rc;

	if (nd->c == NULL && (rc = sp_conn_open(nd->host, nd->port, cl->o.conn,
						&nd->c, err)) != SP_OK)
		return rc;
	*out = nd->c;
	return SP_OK;
}

/* Applies one CLUSTER SLOTS entry: [start, end, [host, port, ...], ...]. */
static void apply_range(sp_client *cl, const sp_conn *from, const redisReply *e)
{
	const redisReply *m;
	const char *host;
	long long a, b, s;
	int idx;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER)
		return;
	m = e->element[2];
	if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
	    m->element[0]->type != REDIS_REPLY_STRING ||
	    m->element[1]->type != REDIS_REPLY_INTEGER)
		return;
	a = e->element[0]->integer;
	b = e->element[1]->integer;
	if (a < 0 || b >= SP_SLOTS || a > b || m->element[1]->integer < 1 ||
	    m->element[1]->integer > 65535 || m->element[0]->len >= SP_HOST_MAX)
		return;
	/* An empty or "?" host means "the address you reached me on". */
	host = m->element[0]->len > 0 && strcmp(m->element[0]->str, "?") != 0
		   ? m->element[0]->str
		   : from->host;
	if ((idx = node_index(cl, host, (int)m->element[1]->integer)) < 0)
		return;
	for (s = a; s <= b; s++)
		cl->map[s] = idx;
}

sp_err sp_client_refresh(sp_client *cl, sp_error *err)
{
	sp_err rc = SP_ERR_IO;
	redisReply *r = NULL;
	sp_conn *c;
	size_t i, j;

	for (i = 0; i < cl->n; i++) {
		if ((rc = node_conn(cl, (int)i, &c, err)) != SP_OK)
			continue;
		rc = sp_conn_cmd(c, &r, err, "CLUSTER SLOTS");
		if (rc == SP_OK &&
		    (rc = sp_reply_expect(c, r, REDIS_REPLY_ARRAY,
					  "CLUSTER SLOTS", err)) == SP_OK) {
			if (r->elements > 0) {
				for (j = 0; j < SP_SLOTS; j++)
					cl->map[j] = -1;
				for (j = 0; j < r->elements; j++)
					apply_range(cl, c, r->element[j]);
				freeReplyObject(r);
				return SP_OK;
			}
			/* A node that serves nothing (reset, or not joined
			 * yet) knows nothing: ask the next one. */
			rc = sp_seterr(err, SP_ERR_CLUSTERDOWN,
				       "%s: CLUSTER SLOTS is empty", c->addr);
		}
		freeReplyObject(r);
		r = NULL;
		if (rc == SP_ERR_IO || rc == SP_ERR_TIMEOUT)
			node_drop(cl, (int)i);
	}
	return rc;
}

/* Parses "MOVED 3999 127.0.0.1:6381" (or ASK) out of an error message. */
static int parse_redirect(sp_client *cl, const char *msg, const char *word)
{
	const char *p = strstr(msg, word);
	char host[SP_HOST_MAX], addr[SP_ADDR_MAX];
	int port, slot;
	sp_error e;

	if (p == NULL ||
	    sscanf(p + strlen(word), "%d %271s", &slot, addr) != 2 ||
	    sp_parse_hostport(addr, host, &port, &e) != SP_OK)
		return -1;
	return node_index(cl, host, port);
}

/* The client retries fast: a redirect or TRYAGAIN settles in ms. */
static void backoff(sp_client *cl, int attempt)
{
	sp_backoff_sleep(attempt < 6 ? attempt : 6, 5, BACKOFF_MAX_MS,
			 &cl->o.seed);
}

/* Sends one command to node i, preceded by ASKING when asking. */
static sp_err send_to(sp_client *cl, int i, int asking, int argc,
		      const char **argv, const size_t *lens, redisReply **out,
		      sp_error *err)
{
	sp_conn *c;
	sp_err rc;

	if ((rc = node_conn(cl, i, &c, err)) != SP_OK)
		return rc;
	if (!asking)
		return sp_conn_cmdv(c, out, err, argc, argv, lens);
	if ((rc = sp_conn_append(c, err, "ASKING")) != SP_OK ||
	    (rc = sp_conn_appendv(c, err, argc, argv, lens)) != SP_OK)
		return rc;
	if ((rc = sp_conn_read(c, NULL, err, "ASKING")) != SP_OK) {
		sp_conn_drain(c);
		return rc;
	}
	return sp_conn_read(c, out, err, argv[0]);
}

static sp_cev cev_of(sp_err rc)
{
	switch (rc) {
	case SP_ERR_MOVED:
		return SP_CEV_MOVED;
	case SP_ERR_ASK:
		return SP_CEV_ASK;
	case SP_ERR_TRYAGAIN:
		return SP_CEV_TRYAGAIN;
	case SP_ERR_CLUSTERDOWN:
		return SP_CEV_CLUSTERDOWN;
	case SP_ERR_LOADING:
		return SP_CEV_LOADING;
	case SP_ERR_IO:
		return SP_CEV_CONN;
	case SP_ERR_TIMEOUT:
		return SP_CEV_TIMEOUT;
	default:
		return SP_CEV_OTHER;
	}
}

static void note(sp_client_trace *tr, sp_cev e)
{
	tr->last = e;
	if (tr->events != NULL)
		tr->events[e]++;
}

/*
 * After a failed attempt at node: what the error asks for. Returns 0 to
 * try again (*ask is the node to ask, or -1), -1 when no retry helps.
 */
static int after_error(sp_client *cl, sp_err rc, int node, int slot,
		       int attempt, int *ask, sp_client_trace *tr,
		       sp_error *err)
{
	if (rc == SP_ERR_MOVED) {
		int to = parse_redirect(cl, err->msg, "MOVED ");
		if (to >= 0)
			cl->map[slot] = to;
		else
			sp_client_refresh(cl, err);
	} else if (rc == SP_ERR_ASK) {
		if ((*ask = parse_redirect(cl, err->msg, "ASK ")) < 0)
			return -1;
	} else if (rc == SP_ERR_TRYAGAIN || rc == SP_ERR_LOADING) {
		backoff(cl, attempt);
	} else if (rc == SP_ERR_CLUSTERDOWN) {
		/* The node may have left the cluster (a removed node serves
		 * no slot): ask the others again. */
		backoff(cl, attempt);
		sp_client_refresh(cl, err);
	} else if (rc == SP_ERR_IO || rc == SP_ERR_TIMEOUT) {
		tr->unsure = 1;
		node_drop(cl, node);
		backoff(cl, attempt);
		sp_client_refresh(cl, err);
	} else {
		return -1; /* a real error: no retry helps */
	}
	return 0;
}

sp_err sp_client_cmd(sp_client *cl, int argc, const char **argv,
		     const size_t *lens, redisReply **out, sp_client_trace *tr,
		     sp_error *err)
{
	sp_client_trace none = {0};
	int attempt, ask = -1, node, slot = sp_keyslot(argv[1], lens[1]);
	sp_err rc = SP_ERR_CLUSTERDOWN;

	if (tr == NULL)
		tr = &none;
	for (attempt = 0; attempt < cl->o.max_attempts; attempt++) {
		node = ask >= 0 ? ask : cl->map[slot];
		if (node < 0) {
			rc = sp_seterr(err, SP_ERR_CLUSTERDOWN,
				       "no node serves slot %d", slot);
			note(tr, SP_CEV_CLUSTERDOWN);
			backoff(cl, attempt);
			sp_client_refresh(cl, err);
			continue;
		}
		rc = send_to(cl, node, ask >= 0, argc, argv, lens, out, err);
		ask = -1;
		if (rc == SP_OK)
			return SP_OK;
		note(tr, cev_of(rc));
		if (after_error(cl, rc, node, slot, attempt, &ask, tr, err) < 0)
			break;
	}
	return rc;
}

void sp_client_free(sp_client *cl)
{
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->n; i++)
		sp_conn_close(cl->nodes[i].c);
	free(cl->nodes);
	free(cl);
}

/* An empty client knowing only its seed node. NULL when out of memory. */
static sp_client *client_alloc(const char *host, int port,
			       const sp_client_opts *o)
{
	sp_client *cl = calloc(1, sizeof(*cl));
	size_t i;

	if (cl == NULL)
		return NULL;
	cl->o = *o;
	for (i = 0; i < SP_SLOTS; i++)
		cl->map[i] = -1;
	if (node_index(cl, host, port) < 0) {
		sp_client_free(cl);
		return NULL;
	}
	return cl;
}

sp_err sp_client_new(const char *host, int port, const sp_client_opts *o,
		     sp_client **out, sp_error *err)
{
	sp_client *cl = client_alloc(host, port, o);
	sp_err rc;

	*out = NULL;
	if (cl == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = sp_client_refresh(cl, err)) != SP_OK) {
		sp_client_free(cl);
		return rc;
	}
	*out = cl;
	return SP_OK;
}
