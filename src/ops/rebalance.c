/*
 * rebalance.c - slot weights from the cluster, rebalance planning, plan
 * files and their check against the live cluster.
 */
#include "ops/rebalance.h"

#include "base/files.h"
#include "engine/bigkeys.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPE_CHUNK 1024

/* COUNTKEYSINSLOT for every slot node i owns, pipelined in chunks. */
static sp_err count_keys(sp_conn *c, const sp_opplan *p, int i, long long *keys,
			 sp_error *err)
{
	int s, from = 0, n;
	redisReply *r;
	sp_err rc = SP_OK;

	while (from < SP_SLOTS && rc == SP_OK) {
		for (s = from, n = 0; s < SP_SLOTS && n < PIPE_CHUNK; s++)
			if (p->owners[s] == i &&
			    (rc = sp_conn_append(c, err,
						 "CLUSTER COUNTKEYSINSLOT %d",
						 s)) == SP_OK)
				n++;
		for (; from < s && rc == SP_OK; from++) {
			if (p->owners[from] != i)
				continue;
			if ((rc = sp_conn_read(c, &r, err, "COUNTKEYSINSLOT")))
				break;
			keys[from] =
			    r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
			freeReplyObject(r);
		}
	}
	if (rc != SP_OK)
		sp_conn_drain(c);
	return rc;
}

/* Memory of one slot: mean MEMORY USAGE of up to `sample` keys, times the
 * slot's key count. */
static sp_err sample_bytes(sp_conn *c, int s, long long nkeys, int sample,
			   long long *bytes, sp_error *err)
{
	long long sizes[1000], sum = 0, seen = 0;
	redisReply *keys = NULL;
	sp_err rc;
	size_t j;

	if (sample > 1000)
		sample = 1000;
	if ((rc = sp_conn_cmd(c, &keys, err, "CLUSTER GETKEYSINSLOT %d %d", s,
			      sample)) != SP_OK ||
	    (rc = sp_reply_expect(c, keys, REDIS_REPLY_ARRAY, "GETKEYSINSLOT",
				  err)) != SP_OK ||
	    keys->elements > (size_t)sample ||
	    (rc = sp_key_sizes(c, keys, sizes, err)) != SP_OK)
		goto out;
	for (j = 0; j < keys->elements; j++)
		if (sizes[j] > 0)
			sum += sizes[j], seen++;
	*bytes = seen ? sum / seen * nkeys : 0;
out:
	freeReplyObject(keys);
	return rc;
}

sp_err sp_measure_slots(const sp_opplan *p, const sp_conn_opts *co, int bytes,
			int sample, sp_slot_stats *out, sp_error *err)
{
	sp_conn *c = NULL;
	sp_err rc = SP_OK;
	size_t i;
	int s;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < p->nnodes && rc == SP_OK; i++) {
		if ((rc = sp_conn_open(p->nodes[i].host, p->nodes[i].port, co,
				       &c, err)) != SP_OK)
			break;
		rc = count_keys(c, p, (int)i, out->keys, err);
		for (s = 0; bytes && s < SP_SLOTS && rc == SP_OK; s++)
			if (p->owners[s] == (int)i && out->keys[s] > 0)
				rc = sample_bytes(c, s, out->keys[s], sample,
						  &out->bytes[s], err);
		sp_conn_close(c);
		c = NULL;
	}
	return rc;
}

/* Node weights: 1 for primaries that own slots (and for empty ones with
 * use_empty_masters), then the operator's --weight values. */
static sp_err node_weights(const sp_cluster *c, const sp_rebalance_req *req,
			   const sp_opplan *p, double *nw, sp_error *err)
{
	size_t i;
	int s, idx;
	sp_err rc;

	for (i = 0; i < p->nnodes; i++)
		nw[i] = req->use_empty_masters ? 1 : 0;
	for (s = 0; s < SP_SLOTS; s++)
		if (p->owners[s] >= 0)
			nw[p->owners[s]] = 1;
	for (i = 0; i < req->nweights; i++) {
		const sp_weight_arg *w = &req->weights[i];
		if ((rc = sp_opplan_resolve(p, c, w->node, &idx, err)) != SP_OK)
			return rc;
		if (!(w->weight >= 0) || !isfinite(w->weight))
			return sp_seterr(err, SP_ERR_USAGE,
					 "--weight %s: the weight must be a "
					 "number >= 0",
					 w->node);
		nw[idx] = w->weight;
	}
	return SP_OK;
}

sp_err sp_rebalance_plan(const sp_cluster *c, const sp_rebalance_req *req,
			 const sp_slot_stats *stats, sp_opplan *out,
			 sp_plan *dist, sp_error *err)
{
	double *nw = NULL, *sw = NULL;
	sp_plan_input in = {0};
	sp_err rc;
	int s;

	memset(dist, 0, sizeof(*dist));
	if ((rc = sp_opplan_from_cluster(c, out, err)) != SP_OK)
		return rc;
	if ((nw = calloc(out->nnodes, sizeof(*nw))) == NULL ||
	    (req->by != SP_BY_SLOTS &&
	     (sw = calloc(SP_SLOTS, sizeof(*sw))) == NULL)) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = node_weights(c, req, out, nw, err)) != SP_OK)
		goto out;
	for (s = 0; sw != NULL && s < SP_SLOTS; s++)
		sw[s] = (double)(req->by == SP_BY_KEYS ? stats->keys[s]
						       : stats->bytes[s]);
	in = (sp_plan_input){.nnodes = out->nnodes,
			     .owner = out->owners,
			     .slot_weight = sw,
			     .node_weight = nw,
			     .threshold_pct = req->threshold_pct};
	if ((rc = sp_plan_rebalance(&in, dist, err)) != SP_OK)
		goto out;
	out->moves = dist->moves;
	out->nmoves = dist->nmoves;
	dist->moves = NULL; /* ownership moved to out */
	dist->nmoves = 0;
out:
	free(nw);
	free(sw);
	if (rc != SP_OK) {
		sp_opplan_free(out);
		sp_plan_free(dist);
	}
	return rc;
}

double sp_plan_estimate_s(long long keys, size_t slots)
{
	/* bench/engine.py on the 2-core reference machine: about 100,000
	 * keys/s and 2,000 slots/s for 100-byte values; the slower bound. */
	double by_keys = (double)keys / 100000.0,
	       by_slots = (double)slots / 2000.0;
	return by_keys > by_slots ? by_keys : by_slots;
}

static json_t *moves_json(const sp_opplan *p, const sp_slot_stats *st,
			  long long *keys, long long *bytes)
{
	json_t *a = json_array();
	size_t i;

	*keys = *bytes = 0;
	for (i = 0; a != NULL && i < p->nmoves; i++) {
		const sp_move *m = &p->moves[i];
		long long k = st ? st->keys[m->slot] : 0;
		long long b = st ? st->bytes[m->slot] : 0;
		*keys += k;
		*bytes += b;
		json_array_append_new(
		    a, json_pack("[i,i,i,I,I]", m->slot, m->src, m->dst,
				 (json_int_t)k, (json_int_t)b));
	}
	return a;
}

static json_t *dist_json(const sp_opplan *p, const sp_plan *d)
{
	json_t *a = json_array();
	size_t i;
	int before, after, s;

	for (i = 0; a != NULL && i < p->nnodes; i++) {
		before = after = 0;
		for (s = 0; s < SP_SLOTS; s++)
			before += p->owners[s] == (int)i;
		after = before;
		for (s = 0; (size_t)s < p->nmoves; s++)
			after += (p->moves[s].dst == (int)i) -
				 (p->moves[s].src == (int)i);
		json_array_append_new(
		    a, json_pack(
			   "{s:s, s:i, s:i, s:f, s:f}", "addr",
			   p->nodes[i].addr, "slots_before", before,
			   "slots_after", after, "load_after",
			   d && d->load ? d->load[i] : (double)after, "target",
			   d && d->target ? d->target[i] : (double)after));
	}
	return a;
}

sp_err sp_plan_write(const char *path, const char *entry, const char *by,
		     const sp_opplan *p, const sp_plan *dist,
		     const sp_slot_stats *stats, sp_error *err)
{
	long long keys, bytes;
	json_t *moves = moves_json(p, stats, &keys, &bytes), *o;
	char *text;
	sp_err rc;

	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, "
		      "s:{s:i, s:I, s:I, s:f}}",
		      "slotpilot_plan", 1, "op", "rebalance", "by", by, "entry",
		      entry, "created", (json_int_t)time(NULL), "nodes",
		      sp_json_nodes(p->nodes, p->nnodes), "base",
		      sp_json_owners(p->owners), "moves", moves, "distribution",
		      dist_json(p, dist), "expected", "slots", (int)p->nmoves,
		      "keys", (json_int_t)keys, "bytes", (json_int_t)bytes,
		      "seconds", sp_plan_estimate_s(keys, p->nmoves));
	if (o == NULL)
		return sp_seterr(err, SP_ERR_OOM, "cannot build the plan");
	/* Whole or not at all, and durable (sp_file_replace). */
	text = json_dumps(o, JSON_INDENT(1));
	json_decref(o);
	if (text == NULL)
		return sp_seterr(err, SP_ERR_OOM, "cannot build the plan");
	rc = sp_file_replace(path, text, strlen(text), err);
	free(text);
	return rc;
}

static sp_err read_moves(json_t *jm, sp_plan_file *f, const char *path,
			 sp_error *err)
{
	sp_opplan *p = &f->plan;
	json_int_t k, b;
	int s, a, d;
	size_t i;

	if (!json_is_array(jm) || json_array_size(jm) > SP_SLOTS)
		return sp_seterr(err, SP_ERR_USAGE, "%s: bad moves", path);
	if ((p->moves = calloc(json_array_size(jm) + 1, sizeof(*p->moves))) ==
	    NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (i = 0; i < json_array_size(jm); i++) {
		if (json_unpack(json_array_get(jm, i), "[i,i,i,I,I]", &s, &a,
				&d, &k, &b) != 0 ||
		    a == d)
			return sp_seterr(err, SP_ERR_USAGE,
					 "%s: move %zu is not [slot, from, to, "
					 "keys, bytes] between two nodes",
					 path, i);
		p->moves[p->nmoves++] = (sp_move){s, a, d};
		f->keys += k;
		f->bytes += b;
	}
	/* Before anything moves: nothing that could split a slot. */
	if (sp_moves_validate(p->moves, p->nmoves, p->nnodes, p->owners, err) !=
	    SP_OK) {
		sp_error_prefix(err, "%s", path);
		return SP_ERR_USAGE;
	}
	return SP_OK;
}

sp_err sp_plan_read(const char *path, sp_plan_file *f, sp_error *err)
{
	json_t *o, *jn = NULL, *jb = NULL, *jm = NULL;
	const char *entry = "", *by = "";
	json_error_t je;
	int version = 0;
	sp_err rc;

	memset(f, 0, sizeof(*f));
	if ((o = json_load_file(path, 0, &je)) == NULL)
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s is not a slotpilot plan: %s (line %d)",
				 path, je.text, je.line);
	if (json_unpack(o, "{s:i, s:s, s:s, s:o, s:o, s:o}", "slotpilot_plan",
			&version, "entry", &entry, "by", &by, "nodes", &jn,
			"base", &jb, "moves", &jm) != 0 ||
	    version != 1) {
		rc = sp_seterr(err, SP_ERR_USAGE,
			       "%s is not a slotpilot plan (version 1 with "
			       "nodes, base and moves)",
			       path);
		goto out;
	}
	snprintf(f->entry, sizeof(f->entry), "%s", entry);
	snprintf(f->by, sizeof(f->by), "%s", by);
	if ((rc = sp_json_read_nodes(jn, path, &f->plan.nodes, &f->plan.nnodes,
				     err)) != SP_OK ||
	    (rc = sp_json_read_owners(jb, path, f->plan.nnodes, f->plan.owners,
				      err)) != SP_OK ||
	    (rc = read_moves(jm, f, path, err)) != SP_OK) {
		if (rc == SP_ERR_PROTOCOL)
			rc = err->code = SP_ERR_USAGE;
		goto out;
	}
out:
	json_decref(o);
	if (rc != SP_OK)
		sp_plan_file_free(f);
	return rc;
}

void sp_plan_file_free(sp_plan_file *f)
{
	if (f == NULL)
		return;
	sp_opplan_free(&f->plan);
}

/* Live index of each plan node (by id), or -1. */
static void map_nodes(const sp_opplan *plan, const sp_opplan *live, int *map)
{
	size_t i, j;

	for (i = 0; i < plan->nnodes; i++) {
		map[i] = -1;
		for (j = 0; j < live->nnodes; j++)
			if (strcmp(plan->nodes[i].id, live->nodes[j].id) == 0)
				map[i] = (int)j;
	}
}

static const char *owner_name(const sp_opplan *p, int i)
{
	return i < 0 ? "nobody" : p->nodes[i].addr;
}

/* Checks one slot; returns 1 when it has drifted from the plan. */
static int drifted(const sp_opplan *plan, const sp_opplan *live, const int *map,
		   int s, int dst, sp_error *err)
{
	int base = plan->owners[s], now = live->owners[s];
	int want = base < 0 ? -1 : map[base];

	if (now == want && (base < 0 || want >= 0))
		return 0;
	if (dst >= 0 && map[dst] >= 0 && now == map[dst])
		return 0;
	sp_seterr(err, SP_ERR_CLUSTER,
		  "the plan is stale: slot %d was owned by %s in the plan's "
		  "base, the cluster now says %s; make a new plan",
		  s, owner_name(plan, base), owner_name(live, now));
	return 1;
}

sp_err sp_plan_against(sp_plan_file *f, const sp_cluster *c, sp_error *err)
{
	sp_opplan live = {0}, *plan = &f->plan;
	int *map = NULL, dst[SP_SLOTS];
	size_t i, kept = 0;
	sp_err rc;
	int s;

	if ((rc = sp_opplan_from_cluster(c, &live, err)) != SP_OK)
		return rc;
	if ((map = calloc(plan->nnodes, sizeof(int))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	map_nodes(plan, &live, map);
	for (s = 0; s < SP_SLOTS; s++)
		dst[s] = -1;
	for (i = 0; i < plan->nmoves; i++)
		dst[plan->moves[i].slot] = plan->moves[i].dst;
	for (i = 0; i < plan->nmoves; i++)
		if (map[plan->moves[i].dst] < 0) {
			rc = sp_seterr(err, SP_ERR_CLUSTER,
				       "the plan is stale: its target %s is no "
				       "longer a reachable primary",
				       plan->nodes[plan->moves[i].dst].addr);
			goto out;
		}
	for (s = 0; s < SP_SLOTS; s++)
		if (drifted(plan, &live, map, s, dst[s], err)) {
			rc = SP_ERR_CLUSTER;
			goto out;
		}
	/* Keep the moves not done yet, in live indexes. */
	for (i = 0; i < plan->nmoves; i++) {
		sp_move m = plan->moves[i];
		if (live.owners[m.slot] == map[m.dst])
			continue;
		live.moves = live.moves ? live.moves
					: calloc(plan->nmoves, sizeof(sp_move));
		if (live.moves == NULL) {
			rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
			goto out;
		}
		live.moves[kept++] = (sp_move){m.slot, map[m.src], map[m.dst]};
	}
	live.nmoves = kept;
	sp_opplan_free(plan);
	*plan = live;
	memset(&live, 0, sizeof(live));
out:
	free(map);
	sp_opplan_free(&live);
	return rc;
}
