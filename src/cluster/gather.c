/*
 * gather.c - reads the whole cluster over the network into an sp_cluster,
 * and waits until the cluster passes its checks.
 *
 * Every node that any reachable view names is visited, not only those the
 * entry node knows: a node forgotten by some peers must still be seen, or
 * `check` could not say that views disagree on membership.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster/gather.h"
#include "model/checks.h"
#include "model/cluster.h"

static sp_err read_string(sp_conn *c, const char *what, redisReply **r,
			  sp_error *err)
{
	sp_err rc;

	if ((rc = sp_conn_read(c, r, err, what)) != SP_OK)
		return rc;
	if ((rc = sp_reply_expect(c, *r, REDIS_REPLY_STRING, what, err)) !=
	    SP_OK) {
		freeReplyObject(*r);
		*r = NULL;
	}
	return rc;
}

/*
 * Reads the CLUSTER MYID reply and checks it against expect, the id the
 * node's peers gave for this address ("" for the entry node, which is
 * taken as it is). Anything else answering there is foreign: a reused
 * address, another cluster, a standalone server. It is marked so (and
 * treated as unreachable) and must never be met, moved to, forgotten or
 * deprovisioned under the id it does not have.
 */
static sp_err check_myid(sp_node_state *n, sp_conn *c, const char *expect,
			 sp_error *err)
{
	redisReply *r = NULL;
	sp_error e;
	sp_err rc;

	sp_error_clear(&e);
	rc = sp_conn_read(c, &r, &e, "CLUSTER MYID");
	if (rc == SP_OK)
		rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "CLUSTER MYID",
				     &e);
	if (rc == SP_ERR_SERVER && expect[0] != '\0') {
		n->foreign = 1;
		rc = sp_seterr(err, SP_ERR_CLUSTER,
			       "%s: foreign node: not a cluster node (%s), "
			       "its peers know this address as %s",
			       n->addr, e.msg, expect);
	} else if (rc != SP_OK) {
		sp_seterr(err, rc, "%s", e.msg);
	} else if (expect[0] != '\0' && strcmp(r->str, expect) != 0) {
		n->foreign = 1;
		rc = sp_seterr(err, SP_ERR_CLUSTER,
			       "%s: foreign node: CLUSTER MYID is %.40s, its "
			       "peers know this address as %s",
			       n->addr, r->str, expect);
	}
	freeReplyObject(r);
	return rc;
}

/*
 * Visits one node: CLUSTER MYID, CLUSTER NODES, CLUSTER INFO and INFO in
 * one pipeline. Fills n; on failure records the error in n and returns
 * it. A node whose id is not the one its peers gave is foreign (above).
 */
static sp_err visit(sp_node_state *n, const sp_conn_opts *opts, sp_error *err)
{
	char expect[SP_ID_LEN + 1];
	sp_conn *c = NULL;
	redisReply *nodes = NULL, *cinfo = NULL, *info = NULL;
	const sp_node *self;
	sp_err rc;

	snprintf(expect, sizeof(expect), "%s", n->id);
	if ((rc = sp_conn_open(n->host, n->port, opts, &c, err)) != SP_OK)
		goto out;
	if ((rc = sp_conn_append(c, err, "CLUSTER MYID")) != SP_OK ||
	    (rc = sp_conn_append(c, err, "CLUSTER NODES")) != SP_OK ||
	    (rc = sp_conn_append(c, err, "CLUSTER INFO")) != SP_OK ||
	    (rc = sp_conn_append(c, err, "INFO")) != SP_OK)
		goto out;
	if ((rc = check_myid(n, c, expect, err)) != SP_OK ||
	    (rc = read_string(c, "CLUSTER NODES", &nodes, err)) != SP_OK ||
	    (rc = read_string(c, "CLUSTER INFO", &cinfo, err)) != SP_OK ||
	    (rc = read_string(c, "INFO", &info, err)) != SP_OK)
		goto out;
	if ((rc = sp_view_parse(&n->view, nodes->str, nodes->len, err)) !=
	    SP_OK) {
		sp_error_prefix(err, "%s", n->addr);
		goto out;
	}
	sp_node_state_set_info(n, cinfo->str, info->str);
	if ((self = sp_view_self(&n->view)) != NULL)
		snprintf(n->id, sizeof(n->id), "%s", self->id);
	n->reachable = 1;
out:
	if (rc != SP_OK) {
		n->reachable = 0;
		n->err_code = rc;
		snprintf(n->err_msg, sizeof(n->err_msg), "%s",
			 err ? err->msg : "");
		sp_view_free(&n->view);
	}
	freeReplyObject(nodes);
	freeReplyObject(cinfo);
	freeReplyObject(info);
	sp_conn_close(c);
	return rc;
}

/*
 * Adds every node that node `from`'s view names and c lacks (by id, then
 * address). Indexes, not pointers: adding may move c->nodes.
 */
static sp_err add_named(sp_cluster *c, size_t from)
{
	size_t i;

	for (i = 0; i < c->nodes[from].view.nnodes; i++) {
		const sp_node *nd = &c->nodes[from].view.nodes[i];
		char id[SP_ID_LEN + 1];
		sp_node_state *ns;

		if (nd->ip[0] == '\0' || nd->port <= 0 ||
		    (nd->flags & (SP_NF_NOADDR | SP_NF_HANDSHAKE)))
			continue;
		if (sp_cluster_find_id(c, nd->id) >= 0 ||
		    sp_cluster_find_addr(c, nd->ip, nd->port) >= 0)
			continue;
		snprintf(id, sizeof(id), "%s", nd->id);
		if ((ns = sp_cluster_add(c, nd->ip, nd->port)) == NULL)
			return SP_ERR_OOM;
		/* Until it answers, it is known by the id its peers gave. */
		snprintf(ns->id, sizeof(ns->id), "%s", id);
	}
	return SP_OK;
}

/*
 * One wave: every node in [from, to) visited by up to GATHER_THREADS
 * threads at once, each taking the next index. A visit writes only its
 * own node, and c->nodes does not move during a wave (nodes are added
 * between waves), so the threads share nothing else.
 */
#define GATHER_THREADS 16

typedef struct wave {
	sp_cluster *c;
	const sp_conn_opts *opts;
	size_t next, to;
	pthread_mutex_t mu;
} wave;

static void *wave_worker(void *arg)
{
	wave *w = arg;
	sp_error nerr;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		i = w->next++;
		pthread_mutex_unlock(&w->mu);
		if (i >= w->to)
			return NULL;
		visit(&w->c->nodes[i], w->opts, &nerr);
	}
}

static void visit_wave(sp_cluster *c, const sp_conn_opts *opts, size_t from,
		       size_t to)
{
	wave w = {.c = c, .opts = opts, .next = from, .to = to};
	pthread_t tids[GATHER_THREADS];
	size_t n = to - from < GATHER_THREADS ? to - from : GATHER_THREADS,
	       started = 0;

	pthread_mutex_init(&w.mu, NULL);
	while (n > 1 && started < n &&
	       pthread_create(&tids[started], NULL, wave_worker, &w) == 0)
		started++;
	wave_worker(&w); /* this thread works too, and alone if no thread */
	while (started > 0)
		pthread_join(tids[--started], NULL);
	pthread_mutex_destroy(&w.mu);
}

sp_err sp_cluster_gather(const char *host, int port, const sp_conn_opts *opts,
			 sp_cluster *out, sp_error *err)
{
	size_t done, i, end;
	sp_err rc;

	memset(out, 0, sizeof(*out));
	if (sp_cluster_add(out, host, port) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = visit(&out->nodes[0], opts, err)) != SP_OK) {
		sp_cluster_free(out);
		return rc;
	}
	/* Waves: the nodes the last wave's views named, visited at once;
	 * the order of the nodes is the order of a one-by-one walk. */
	for (done = 0; done < out->nnodes; done = end) {
		end = out->nnodes;
		if (done > 0)
			visit_wave(out, opts, done, end);
		for (i = done; i < end; i++)
			if (out->nodes[i].reachable &&
			    add_named(out, i) != SP_OK) {
				sp_cluster_free(out);
				return sp_seterr(err, SP_ERR_OOM,
						 "out of memory");
			}
	}
	return SP_OK;
}
