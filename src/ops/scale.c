/*
 * scale.c - expand and shrink, through the provisioner interface
 * (provision/provisioner.h).
 */
#include "ops/scale.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/files.h"
#include "base/stop.h"
#include "cluster/converge.h"
#include "cluster/gather.h"
#include "model/keyslot.h"
#include "ops/join.h"
#include "ops/nodes.h"
#include "ops/rebalance.h"
#include "ops/recover.h"
#include "provision/local.h"

#define MAX_NEW 64

/* The expand state: what was provisioned, so a re-run reuses it. */
static void state_path(const sp_scale_opts *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/expand.state", o->rm.journal_dir);
}

/*
 * The expand in progress, as its state file says: "provisioning" (the
 * provisioner was started), the nodes it gave, the shape (k new
 * primaries with r replicas each) and whether the expand finished.
 */
typedef struct xstate {
	int present, provisioning, done, k, r, n;
} xstate;

static xstate state_load(const sp_scale_opts *o, char (*addrs)[SP_ADDR_MAX])
{
	xstate x = {0};
	char path[1100];
	json_t *s, *a;
	int i;

	state_path(o, path, sizeof(path));
	if ((s = json_load_file(path, 0, NULL)) == NULL)
		return x;
	a = json_object_get(s, "nodes");
	x.present = 1;
	x.done = json_is_true(json_object_get(s, "done"));
	x.provisioning = json_is_true(json_object_get(s, "provisioning"));
	x.k = (int)json_integer_value(json_object_get(s, "primaries"));
	x.r = (int)json_integer_value(json_object_get(s, "replicas"));
	x.n = json_is_array(a) && json_array_size(a) <= MAX_NEW
		  ? (int)json_array_size(a)
		  : 0;
	for (i = 0; i < x.n; i++) {
		const char *v = json_string_value(json_array_get(a, (size_t)i));
		snprintf(addrs[i], SP_ADDR_MAX, "%s", v ? v : "");
	}
	json_decref(s);
	return x;
}

/* Writes the state durably (a crash right after must still find it). */
static sp_err state_save(const sp_scale_opts *o, char (*addrs)[SP_ADDR_MAX],
			 const xstate *x, sp_error *err)
{
	char path[1100], *text;
	json_t *a = json_array(), *s;
	int i;
	sp_err rc;

	if ((rc = sp_mkdirs(o->rm.journal_dir, err)) != SP_OK)
		return rc;
	state_path(o, path, sizeof(path));
	for (i = 0; i < x->n; i++)
		json_array_append_new(a, json_string(addrs[i]));
	s = json_pack("{s:o, s:b, s:b, s:i, s:i}", "nodes", a, "done", x->done,
		      "provisioning", x->provisioning, "primaries", x->k,
		      "replicas", x->r);
	text = s != NULL ? json_dumps(s, 0) : NULL;
	rc = text == NULL ? sp_seterr(err, SP_ERR_OOM, "cannot build %s", path)
			  : sp_file_replace(path, text, strlen(text), err);
	free(text);
	json_decref(s);
	return rc;
}

/* Writes and reads back a key on every primary (on a slot it owns). */
static sp_err probe(const char *host, int port, const sp_conn_opts *co,
		    sp_error *err)
{
	int claims[SP_SLOTS], idx[SP_SLOTS], k;
	char key[64];
	redisReply *r = NULL;
	sp_cluster c = {0};
	size_t n, i;
	sp_err rc;

	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
		return rc;
	sp_cluster_claims(&c, claims);
	n = sp_cluster_primaries(&c, idx, SP_SLOTS);
	for (i = 0; i < n && rc == SP_OK; i++) {
		sp_conn *conn = NULL;
		for (k = 0;; k++) {
			snprintf(key, sizeof(key), "slotpilot:probe:%d", k);
			if (claims[sp_keyslot(key, strlen(key))] == idx[i] ||
			    k > 1000000)
				break;
		}
		if ((rc = sp_conn_open(c.nodes[idx[i]].host,
				       c.nodes[idx[i]].port, co, &conn, err)) ==
			SP_OK &&
		    (rc = sp_conn_cmd(conn, NULL, err, "SET %s ok EX 60",
				      key)) == SP_OK &&
		    (rc = sp_conn_cmd(conn, &r, err, "GET %s", key)) == SP_OK &&
		    (r->type != REDIS_REPLY_STRING ||
		     strcmp(r->str, "ok") != 0))
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "%s: the probe key did not read back",
				       c.nodes[idx[i]].addr);
		if (rc == SP_OK)
			rc = sp_conn_cmd(conn, NULL, err, "DEL %s", key);
		freeReplyObject(r);
		r = NULL;
		sp_conn_close(conn);
	}
	sp_cluster_free(&c);
	return rc;
}

/* Primaries the nodes themselves report; and the fewest replicas any has. */
static int count_primaries(const sp_cluster *c, int *min_replicas)
{
	int idx[SP_SLOTS], n, i, k, r, min = 1 << 20;

	n = (int)sp_cluster_primaries(c, idx, SP_SLOTS);
	for (i = 0; i < n; i++) {
		for (k = 0, r = 0; (size_t)k < c->nnodes; k++) {
			const sp_node *s = sp_view_self(&c->nodes[k].view);
			r += s != NULL &&
			     strcmp(s->master_id, c->nodes[idx[i]].id) == 0;
		}
		min = r < min ? r : min;
	}
	*min_replicas = n ? min : 0;
	return n;
}

/* Empty, unjoined, alive nodes in the local directory, up to want. */
static int reclaim(const char *host, int port, const sp_scale_opts *o,
		   const sp_conn_opts *co, char (*addrs)[SP_ADDR_MAX], int want)
{
	char dir[1024], why[SP_ERRMSG_MAX], id[SP_ID_LEN + 1], a[SP_ADDR_MAX];
	sp_local_node *v = NULL;
	size_t n = 0, i;
	int got = 0;

	if (o->prov.dir != NULL)
		snprintf(dir, sizeof(dir), "%s", o->prov.dir);
	else if (sp_local_dir_of(host, port, co, dir, sizeof(dir), NULL))
		return 0;
	if (sp_local_list(dir, &v, &n, NULL) != SP_OK)
		return 0;
	for (i = 0; i < n && got < want; i++) {
		sp_format_addr(a, sizeof(a), "127.0.0.1", v[i].port);
		if (v[i].alive &&
		    sp_node_inspect("127.0.0.1", v[i].port, a, co, id, why,
				    sizeof(why), NULL) == SP_OK &&
		    why[0] == '\0')
			snprintf(addrs[got++], SP_ADDR_MAX, "%s", a);
	}
	free(v);
	return got;
}

/*
 * Provisions the new nodes, recording first that provisioning started.
 * The local provisioner first reclaims empty, unjoined nodes in its
 * directory: nodes an expand killed mid-provisioning left behind.
 */
static sp_err new_nodes(const char *host, int port, const sp_scale_opts *o,
			const sp_conn_opts *co, const sp_log *log,
			char (*addrs)[SP_ADDR_MAX], xstate *x, sp_error *err)
{
	int want = x->k * (1 + x->r), got = 0;
	sp_err rc;

	x->provisioning = 1, x->n = 0;
	if ((rc = state_save(o, addrs, x, err)) != SP_OK)
		return rc;
	if (o->prov.kind == SP_PROV_LOCAL)
		got = reclaim(host, port, o, co, addrs, want);
	sp_logf(log, "provision", "provisioning %d nodes%s", want - got,
		got ? " (reusing idle ones left by an interrupted expand)"
		    : "");
	if (want > got &&
	    (rc = sp_provision(&o->prov, host, port, co, want - got,
			       addrs + got, err)) != SP_OK)
		return rc;
	x->provisioning = 0, x->n = want;
	return state_save(o, addrs, x, err);
}

/* Rebalances over all primaries, empty ones included, journaled. */
static sp_err spread(const char *host, int port, const sp_scale_opts *o,
		     const sp_conn_opts *co, const char *op, sp_error *err)
{
	sp_rebalance_req req = {
	    .by = SP_BY_SLOTS, .threshold_pct = 0, .use_empty_masters = 1};
	sp_run_opts ro = {.mig = o->rm.mig,
			  .journal_dir = o->rm.journal_dir,
			  .op = op,
			  .entry = ""};
	sp_migrate_stats st;
	sp_journal *j = NULL;
	sp_cluster c = {0};
	sp_opplan p = {0};
	sp_plan d = {0};
	int fixed;
	sp_err rc;

	ro.mig.conn = co;
	if ((rc = sp_close_open_slots(host, port, co, &ro.mig, NULL, &fixed,
				      err)) == SP_OK &&
	    (rc = sp_cluster_gather(host, port, co, &c, err)) == SP_OK &&
	    (rc = sp_rebalance_plan(&c, &req, NULL, &p, &d, err)) == SP_OK &&
	    p.nmoves > 0)
		rc = sp_run_plan(&p, &j, &ro, &st, err);
	sp_journal_close(j);
	sp_plan_free(&d);
	sp_opplan_free(&p);
	sp_cluster_free(&c);
	return rc;
}

/*
 * A primary with its replicas. The provisioned nodes are laid out shard
 * after shard: k shards of 1 + r addresses each, the primary first.
 */
typedef struct shard {
	const char *primary;		     /* borrowed */
	const char (*replicas)[SP_ADDR_MAX]; /* borrowed, nreplicas of them */
	int nreplicas;
} shard;

/* Shard i of the nodes in addrs, as an expand of shape x laid them out. */
static shard shard_at(char (*addrs)[SP_ADDR_MAX], const xstate *x, int i)
{
	char(*first)[SP_ADDR_MAX] = addrs + i * (1 + x->r);

	return (shard){first[0], (const char(*)[SP_ADDR_MAX])(first + 1), x->r};
}

/* Joins the shard's primary, then its replicas to it. */
static sp_err add_shard(const char *host, int port, const shard *s,
			const sp_scale_opts *o, const sp_conn_opts *co,
			const sp_log *log, sp_error *err)
{
	sp_add_opts ao = {.wait_ms = o->rm.wait_ms, .stop = o->rm.mig.stop};
	char id[SP_ID_LEN + 1];
	sp_err rc;
	int j;

	if ((rc = sp_add_node(host, port, s->primary, &ao, co, log, id, err)))
		return rc;
	ao.replica = 1, ao.replica_of = s->primary;
	for (j = 0; j < s->nreplicas && rc == SP_OK; j++)
		rc = sp_add_node(host, port, s->replicas[j], &ao, co, log, id,
				 err);
	return rc;
}

/*
 * Decides what the expand adds into *x and addrs (MAX_NEW entries, owned
 * by the caller): the nodes of an interrupted expand, to finish it, or
 * new shards provisioned now. SP_ERR_USAGE when the cluster has enough
 * primaries or the expand would add more than MAX_NEW nodes.
 */
static sp_err prepare(const char *host, int port, const sp_scale_opts *o,
		      const sp_conn_opts *co, const sp_log *log,
		      const sp_cluster *c, char (*addrs)[SP_ADDR_MAX],
		      xstate *x, sp_error *err)
{
	int have, minr, r, k;

	*x = state_load(o, addrs);
	if (x->present && !x->done && x->provisioning &&
	    o->prov.kind == SP_PROV_EXEC)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "an earlier expand was interrupted while the "
				 "exec provisioner ran: take away what it "
				 "created, then delete %s/expand.state",
				 o->rm.journal_dir);
	if (x->present && !x->done && !x->provisioning && x->n > 0 &&
	    x->n == x->k * (1 + x->r)) {
		/* Finish the interrupted expand with the nodes it has. */
		sp_logf(log, "resume",
			"finishing an interrupted expand with "
			"its %d nodes",
			x->n);
		return SP_OK;
	}
	have = count_primaries(c, &minr);
	r = o->replicas >= 0 ? o->replicas : minr;
	k = o->primaries - have;
	if (k <= 0 || k * (1 + r) > MAX_NEW)
		return sp_seterr(err, SP_ERR_USAGE,
				 k <= 0 ? "the cluster has %d primaries "
					  "already"
					: "%d new nodes are more than one "
					  "expand adds",
				 k <= 0 ? have : k * (1 + r));
	*x = (xstate){.k = k, .r = r};
	return new_nodes(host, port, o, co, log, addrs, x, err);
}

sp_err sp_expand(const char *host, int port, const sp_scale_opts *o,
		 const sp_conn_opts *co, const sp_log *log, sp_error *err)
{
	char(*addrs)[SP_ADDR_MAX] = calloc(MAX_NEW, SP_ADDR_MAX);
	sp_check_opts copts = sp_check_defaults();
	sp_cluster c = {0};
	xstate x;
	sp_err rc;
	int i;

	if (addrs == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK ||
	    (rc = prepare(host, port, o, co, log, &c, addrs, &x, err)) != SP_OK)
		goto out;
	for (i = 0; i < x.k && rc == SP_OK; i++) {
		shard s = shard_at(addrs, &x, i);
		rc = add_shard(host, port, &s, o, co, log, err);
	}
	if (rc == SP_OK)
		rc = sp_stop_check(o->rm.mig.stop, "expand",
				   "before the rebalance",
				   "run expand again to finish", err);
	if (rc == SP_OK) {
		sp_logf(log, "rebalance", "rebalancing over %d primaries",
			o->primaries);
		rc = spread(host, port, o, co, "expand", err);
	}
	copts.expect_primaries = o->primaries;
	if (rc == SP_OK &&
	    (rc = sp_wait_healthy(host, port, co, &copts, o->rm.wait_ms, 250,
				  NULL, err)) == SP_OK &&
	    (rc = probe(host, port, co, err)) == SP_OK) {
		x.done = 1;
		rc = state_save(o, addrs, &x, err);
	}
out:
	sp_cluster_free(&c);
	free(addrs);
	return rc;
}

/* The provisioner with its local directory found from the entry node. */
/* base, with the local provisioner's directory found from the entry
 * node when it was not given (read while the entry still answers). */
static sp_provisioner prov_with_dir(const sp_provisioner *base,
				    const char *host, int port,
				    const sp_conn_opts *co, char *dir,
				    size_t len)
{
	sp_provisioner prov = *base;

	if (prov.kind == SP_PROV_LOCAL && prov.dir == NULL &&
	    sp_local_dir_of(host, port, co, dir, len, NULL) == SP_OK)
		prov.dir = dir;
	return prov;
}

static sp_provisioner with_dir(const sp_scale_opts *o, const char *host,
			       int port, const sp_conn_opts *co, char *dir,
			       size_t len)
{
	return prov_with_dir(&o->prov, host, port, co, dir, len);
}

sp_err sp_remove_and_deprovision(const char *host, int port, const char *name,
				 const sp_remove_opts *rm,
				 const sp_provisioner *prov,
				 const sp_conn_opts *co, const sp_log *log,
				 sp_removed *removed, sp_error *err)
{
	char dir[1024];
	sp_provisioner p;
	sp_err rc;

	if (prov != NULL)
		p = prov_with_dir(prov, host, port, co, dir, sizeof(dir));
	rc = sp_remove_node(host, port, name, rm, co, log, removed, err);
	for (size_t i = 0; rc == SP_OK && prov != NULL && i < removed->n; i++)
		rc = sp_deprovision(&p, removed->addr[i], err);
	return rc;
}

/* 1 when removing primary i would take the entry node (c->nodes[0], where
 * the gather started) away: it is i, or one of i's replicas. */
static int holds_entry(const sp_cluster *c, int i)
{
	const sp_node *self = sp_view_self(&c->nodes[0].view);

	return i == 0 || (self != NULL && c->nodes[i].id[0] != '\0' &&
			  strcmp(self->master_id, c->nodes[i].id) == 0);
}

/*
 * Chooses the primaries to remove: those named, or the fewest keys but
 * never the entry node's (the caller, and an autoscaler, read the
 * cluster through it: removing it would leave them with nothing to talk
 * to, and an empty cluster's ties always fell on it).
 */
static sp_err pick_leaving(const sp_cluster *c, const sp_scale_opts *o,
			   int have, int *out, int *n, sp_error *err)
{
	int idx[SP_SLOTS], np, i, j, best;
	size_t k;
	sp_err rc;

	*n = 0;
	for (k = 0; k < o->nremove; k++) {
		if ((rc = sp_find_node(c, o->remove[k], &out[*n], err)) !=
		    SP_OK)
			return rc;
		(*n)++;
	}
	if (o->nremove == 0) {
		np = (int)sp_cluster_primaries(c, idx, SP_SLOTS);
		for (j = 0; j < np; j++)
			if (holds_entry(c, idx[j]))
				idx[j] = -1;
		for (i = 0; i < have - o->primaries && i < MAX_NEW; i++) {
			for (j = 0, best = -1; j < np; j++)
				if (idx[j] >= 0 &&
				    (best < 0 || c->nodes[idx[j]].keys <
						     c->nodes[idx[best]].keys))
					best = j;
			if (best < 0)
				return sp_seterr(
				    err, SP_ERR_USAGE,
				    "shrinking %d primaries to %d: "
				    "not enough primaries besides "
				    "the entry node's",
				    have, o->primaries);
			out[(*n)++] = idx[best];
			idx[best] = -1;
		}
	}
	if (have - *n < 3)
		return sp_seterr(err, SP_ERR_USAGE,
				 "shrinking %d primaries to %d: never below "
				 "3 primaries",
				 have, have - *n);
	return SP_OK;
}

sp_err sp_shrink(const char *host, int port, const sp_scale_opts *o,
		 const sp_conn_opts *co, const sp_log *log, sp_error *err)
{
	char dir[1024];
	int leaving[MAX_NEW], n = 0, have, minr, i;
	sp_remove_opts ro = o->rm;
	sp_provisioner prov = with_dir(o, host, port, co, dir, sizeof(dir));
	sp_check_opts copts = sp_check_defaults();
	sp_cluster c = {0};
	sp_err rc;
	size_t k;

	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
		return rc;
	have = count_primaries(&c, &minr);
	if (o->nremove == 0 && o->primaries >= have)
		rc = sp_seterr(err, SP_ERR_USAGE,
			       "the cluster has %d primaries, not more than %d",
			       have, o->primaries);
	if (rc == SP_OK)
		rc = pick_leaving(&c, o, have, leaving, &n, err);
	ro.with_replicas = 1;
	for (i = 0; i < n && rc == SP_OK; i++) {
		sp_removed gone = {0};
		if ((rc = sp_stop_check(o->rm.mig.stop, "shrink",
					"between two primaries",
					"run shrink again to finish", err)))
			break;
		sp_logf(log, "remove", "removing %s with its replicas",
			c.nodes[leaving[i]].addr);
		rc = sp_remove_node(host, port, c.nodes[leaving[i]].id, &ro, co,
				    log, &gone, err);
		for (k = 0; k < gone.n && rc == SP_OK; k++)
			rc = sp_deprovision(&prov, gone.addr[k], err);
	}
	copts.expect_primaries = have - n;
	if (rc == SP_OK)
		rc = sp_wait_healthy(host, port, co, &copts, o->rm.wait_ms, 250,
				     NULL, err);
	sp_cluster_free(&c);
	return rc;
}

/* Removes (with replicas) and deprovisions the primaries an expand added. */
static sp_err remove_added(const char *host, int port, const sp_scale_opts *o,
			   const sp_conn_opts *co, const sp_log *log,
			   sp_error *err)
{
	char(*addrs)[SP_ADDR_MAX] = calloc(MAX_NEW, SP_ADDR_MAX);
	char path[1100], dir[1024];
	sp_provisioner prov = with_dir(o, host, port, co, dir, sizeof(dir));
	json_t *st = NULL, *a;
	sp_remove_opts ro = o->rm;
	sp_err rc = SP_OK;
	size_t i, n;

	state_path(o, path, sizeof(path));
	if (addrs == NULL || (st = json_load_file(path, 0, NULL)) == NULL ||
	    !json_is_array(a = json_object_get(st, "nodes")))
		goto out;
	n = json_array_size(a) < MAX_NEW ? json_array_size(a) : MAX_NEW;
	for (i = 0; i < n; i++)
		snprintf(addrs[i], SP_ADDR_MAX, "%s",
			 json_string_value(json_array_get(a, i))
			     ? json_string_value(json_array_get(a, i))
			     : "");
	ro.with_replicas = 1;
	ro.force = 1;
	for (i = 0; i < n && rc == SP_OK; i++) {
		sp_removed gone = {0};
		size_t k;
		sp_logf(log, "remove", "removing %s, added by the expand",
			addrs[i]);
		rc = sp_remove_node(host, port, addrs[i], &ro, co, log, &gone,
				    err);
		if (rc == SP_ERR_USAGE) { /* gone already, e.g. a replica */
			rc = SP_OK;
			continue;
		}
		for (k = 0; k < gone.n && rc == SP_OK; k++)
			rc = sp_deprovision(&prov, gone.addr[k], err);
	}
	if (rc == SP_OK)
		unlink(path);
out:
	json_decref(st);
	free(addrs);
	return rc;
}

sp_err sp_rollback(const char *host, int port, const sp_scale_opts *o,
		   const sp_conn_opts *co, const sp_log *log, size_t *moved,
		   sp_error *err)
{
	sp_journal_rec *rec = calloc(1, sizeof(*rec));
	sp_run_opts ro = {.mig = o->rm.mig,
			  .journal_dir = o->rm.journal_dir,
			  .op = "rollback",
			  .entry = ""};
	char path[1200];
	sp_migrate_stats st;
	sp_journal *j = NULL;
	sp_cluster c = {0};
	sp_opplan p = {0};
	sp_err rc;

	*moved = 0;
	ro.mig.conn = co;
	if (rec == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	if ((rc = sp_journal_find_last(o->rm.journal_dir, path, sizeof(path),
				       err)) != SP_OK ||
	    (rc = sp_journal_load(path, rec, err)) != SP_OK ||
	    (rc = sp_journal_check(rec, err)) != SP_OK ||
	    (rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK ||
	    (rc = sp_rollback_plan(rec, &c, &p, err)) != SP_OK)
		goto out;
	sp_logf(log, "rollback", "returning %zu slots of %s %s to their owners",
		p.nmoves, rec->op, rec->id);
	if (p.nmoves > 0 && (rc = sp_run_plan(&p, &j, &ro, &st, err)) != SP_OK)
		goto out;
	*moved = p.nmoves;
	if (strcmp(rec->op, "expand") == 0)
		rc = remove_added(host, port, o, co, log, err);
out:
	sp_journal_close(j);
	sp_opplan_free(&p);
	sp_cluster_free(&c);
	sp_journal_rec_free(rec);
	free(rec);
	return rc;
}
