/*
 * reshard.c - plan a reshard and run any plan of moves, journaled.
 */
#include "ops/reshard.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/converge.h"

sp_err sp_opplan_from_cluster(const sp_cluster *c, sp_opplan *p, sp_error *err)
{
	int idx[SP_SLOTS], *claims = NULL, map_ok;
	size_t n, i, s;

	memset(p, 0, sizeof(*p));
	n = sp_cluster_primaries(c, idx, SP_SLOTS);
	if (n == 0)
		return sp_seterr(err, SP_ERR_CLUSTER, "no reachable primary");
	if ((p->nodes = calloc(n, sizeof(*p->nodes))) == NULL ||
	    (claims = malloc(SP_SLOTS * sizeof(int))) == NULL) {
		sp_opplan_free(p);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	p->nnodes = n;
	for (i = 0; i < n; i++) {
		const sp_node_state *ns = &c->nodes[idx[i]];
		sp_endpoint_set(&p->nodes[i], ns->id, ns->host, ns->port);
	}
	sp_cluster_claims(c, claims);
	for (s = 0; s < SP_SLOTS; s++) {
		p->owners[s] = -1;
		for (i = 0, map_ok = 0; i < n && !map_ok; i++)
			if (claims[s] == idx[i])
				p->owners[s] = (int)i, map_ok = 1;
	}
	free(claims);
	return SP_OK;
}

sp_err sp_reshard_gather(const char *host, int port, const sp_conn_opts *co,
			 const sp_reshard_req *req, int wait_ms, sp_cluster *c,
			 sp_error *err)
{
	const char *names[64];
	char *list = NULL, *tok, *save = NULL;
	size_t n = 0;
	sp_err rc;

	if (req->to != NULL)
		names[n++] = req->to;
	if (req->from != NULL && strcmp(req->from, "all") != 0) {
		if ((list = strdup(req->from)) == NULL)
			return sp_seterr(err, SP_ERR_OOM, "out of memory");
		for (tok = strtok_r(list, ",", &save); tok && n < 64;
		     tok = strtok_r(NULL, ",", &save))
			names[n++] = tok;
	}
	rc = sp_gather_knowing(host, port, co, names, n, wait_ms, c, err);
	free(list);
	return rc;
}

sp_err sp_opplan_resolve(const sp_opplan *p, const sp_cluster *c,
			 const char *name, int *idx, sp_error *err)
{
	size_t i, len = strlen(name), hits = 0;
	char host[SP_HOST_MAX];
	int port, ci;

	*idx = -1;
	if (strchr(name, ':') != NULL &&
	    sp_parse_hostport(name, host, &port, NULL) == SP_OK) {
		for (i = 0; i < p->nnodes; i++)
			if (strcmp(p->nodes[i].host, host) == 0 &&
			    p->nodes[i].port == port)
				*idx = (int)i, hits = 1;
	} else if (len >= 6 && len <= SP_ID_LEN) {
		for (i = 0; i < p->nnodes; i++)
			if (strncasecmp(p->nodes[i].id, name, len) == 0)
				*idx = (int)i, hits++;
	}
	if (hits == 1)
		return SP_OK;
	if (hits > 1)
		return sp_seterr(
		    err, SP_ERR_USAGE,
		    "node \"%s\" is ambiguous: give more of its id", name);
	*idx = -1;
	for (ci = 0; (size_t)ci < c->nnodes; ci++)
		if ((len >= 6 &&
		     strncasecmp(c->nodes[ci].id, name, len) == 0) ||
		    strcmp(c->nodes[ci].addr, name) == 0)
			return sp_seterr(err, SP_ERR_USAGE,
					 "node \"%s\" (%s) is not a reachable "
					 "primary",
					 name, c->nodes[ci].addr);
	return sp_seterr(err, SP_ERR_USAGE,
			 "unknown node \"%s\": give a node id, a unique id "
			 "prefix of 6+ characters, or HOST:PORT of a primary",
			 name);
}

static int parse_slot(const char *s, const char *end, int *out)
{
	long v = 0;

	if (s == end || end - s > 5)
		return -1;
	for (; s < end; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v >= SP_SLOTS)
		return -1;
	*out = (int)v;
	return 0;
}

sp_err sp_parse_slot_ranges(const char *s, unsigned char *set, sp_error *err)
{
	const char *p = s;

	memset(set, 0, SP_SLOTS);
	if (*s == '\0')
		goto bad;
	while (*p) {
		const char *end = p + strcspn(p, ","),
			   *dash = memchr(p, '-', (size_t)(end - p));
		int a, b;
		if (dash == NULL) {
			if (parse_slot(p, end, &a) != 0)
				goto bad;
			b = a;
		} else if (parse_slot(p, dash, &a) != 0 ||
			   parse_slot(dash + 1, end, &b) != 0 || b < a) {
			goto bad;
		}
		memset(set + a, 1, (size_t)(b - a + 1));
		p = *end ? end + 1 : end;
		if (*end && *p == '\0')
			goto bad;
	}
	return SP_OK;
bad:
	return sp_seterr(err, SP_ERR_USAGE,
			 "bad slot ranges \"%s\": expected a,b-c,... with "
			 "slots from 0 to 16383 and a <= b",
			 s);
}

/* Marks the sources in is_src; the target may not be one of them. */
static sp_err pick_sources(const sp_opplan *p, const sp_cluster *c,
			   const char *from, int dst, unsigned char *is_src,
			   sp_error *err)
{
	char *list = NULL, *tok, *save = NULL;
	sp_err rc = SP_OK;
	int i;

	if (strcmp(from, "all") == 0) {
		for (i = 0; (size_t)i < p->nnodes; i++)
			is_src[i] = i != dst;
		return SP_OK;
	}
	if ((list = strdup(from)) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	for (tok = strtok_r(list, ",", &save); tok && rc == SP_OK;
	     tok = strtok_r(NULL, ",", &save)) {
		if ((rc = sp_opplan_resolve(p, c, tok, &i, err)) != SP_OK)
			break;
		if (i == dst)
			rc = sp_seterr(err, SP_ERR_USAGE,
				       "the target %s is also a source",
				       p->nodes[dst].addr);
		else
			is_src[i] = 1;
	}
	free(list);
	return rc;
}

static sp_err plan_ranges(sp_opplan *p, const char *ranges, int dst,
			  const unsigned char *is_src, sp_error *err)
{
	unsigned char set[SP_SLOTS];
	sp_err rc;
	int s;

	if ((rc = sp_parse_slot_ranges(ranges, set, err)) != SP_OK)
		return rc;
	int at_dst = -1;

	for (s = 0; s < SP_SLOTS; s++) {
		int o = p->owners[s];
		if (!set[s])
			continue;
		if (o == dst) {
			at_dst = at_dst < 0 ? s : at_dst;
			continue;
		}
		if (o < 0 || !is_src[o])
			return sp_seterr(err, SP_ERR_USAGE,
					 "slot %d is not owned by a source "
					 "(its owner is %s)",
					 s,
					 o < 0 ? "nobody" : p->nodes[o].addr);
		p->moves[p->nmoves++] = (sp_move){s, o, dst};
	}
	/* All on the target already: a finished reshard run again, a no-op.
	 * Some: a typo, or an interrupted run that resume should finish. */
	if (at_dst >= 0 && p->nmoves > 0)
		return sp_seterr(err, SP_ERR_USAGE,
				 "slot %d already belongs to the target %s; "
				 "leave it out of --slot-ranges (or run "
				 "slotpilot resume to finish an interrupted "
				 "reshard)",
				 at_dst, p->nodes[dst].addr);
	return SP_OK;
}

/*
 * Quotas by largest remainder (each source gets at most one extra slot),
 * then each source gives its lowest slots.
 */
static sp_err plan_count(sp_opplan *p, int n, int dst,
			 const unsigned char *is_src, sp_error *err)
{
	long long *cnt = calloc(p->nnodes, sizeof(long long));
	long long *q = calloc(p->nnodes, sizeof(long long));
	unsigned char *bumped = calloc(p->nnodes, 1);
	long long total = 0, given = 0;
	sp_err rc = SP_OK;
	size_t i;
	int s;

	if (cnt == NULL || q == NULL || bumped == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	for (s = 0; s < SP_SLOTS; s++)
		if (p->owners[s] >= 0 && is_src[p->owners[s]])
			cnt[p->owners[s]]++, total++;
	if (n > total) {
		rc = sp_seterr(err, SP_ERR_USAGE,
			       "%d slots requested but the sources own only "
			       "%lld",
			       n, total);
		goto out;
	}
	for (i = 0; i < p->nnodes; i++)
		given += q[i] = cnt[i] * n / total;
	while (given < n) {
		long long br = -1;
		size_t best = 0;
		for (i = 0; i < p->nnodes; i++)
			if (is_src[i] && !bumped[i] && q[i] < cnt[i] &&
			    cnt[i] * n % total > br)
				best = i, br = cnt[i] * n % total;
		if (br < 0)
			break; /* cannot happen: the floors miss < sources */
		bumped[best] = 1;
		q[best]++, given++;
	}
	for (s = 0; s < SP_SLOTS; s++) {
		int o = p->owners[s];
		if (o >= 0 && is_src[o] && q[o] > 0) {
			p->moves[p->nmoves++] = (sp_move){s, o, dst};
			q[o]--;
		}
	}
out:
	free(cnt);
	free(q);
	free(bumped);
	return rc;
}

sp_err sp_reshard_plan(const sp_cluster *c, const sp_reshard_req *req,
		       sp_opplan *out, sp_error *err)
{
	unsigned char *is_src = NULL;
	sp_err rc;
	int dst;

	if ((rc = sp_opplan_from_cluster(c, out, err)) != SP_OK)
		return rc;
	if ((rc = sp_opplan_resolve(out, c, req->to, &dst, err)) != SP_OK)
		goto fail;
	if ((is_src = calloc(out->nnodes, 1)) == NULL ||
	    (out->moves = calloc(SP_SLOTS, sizeof(*out->moves))) == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto fail;
	}
	if ((rc = pick_sources(out, c, req->from, dst, is_src, err)) != SP_OK)
		goto fail;
	if (req->ranges != NULL)
		rc = plan_ranges(out, req->ranges, dst, is_src, err);
	else if (req->nslots < 1)
		rc = sp_seterr(err, SP_ERR_USAGE, "--slots must be at least 1");
	else
		rc = plan_count(out, req->nslots, dst, is_src, err);
	if (rc != SP_OK)
		goto fail;
	free(is_src);
	return SP_OK;
fail:
	free(is_src);
	sp_opplan_free(out);
	return rc;
}

typedef struct run_ctx {
	sp_journal *j;
	const sp_run_opts *o;
	sp_error jerr; /* first journal write error */
	int jfailed;
	char keep_path[1100]; /* the journal's keys file (engine/keep.h) */
} run_ctx;

/* Engine callback, under its lock: record the finished slots. */
static void on_done(void *ud, const sp_move *moves, size_t n)
{
	run_ctx *x = ud;

	if (!x->jfailed && sp_journal_done(x->j, moves, n, &x->jerr) != SP_OK)
		x->jfailed = 1;
}

static void on_progress(void *ud, const sp_migrate_stats *s)
{
	run_ctx *x = ud;

	if (x->o->on_progress != NULL)
		x->o->on_progress(x->o->ud, s);
	else if (x->o->mig.on_progress != NULL) /* a workflow's caller's */
		x->o->mig.on_progress(x->o->mig.ud, s);
}

sp_err sp_run_plan(const sp_opplan *p, sp_journal **jp, const sp_run_opts *o,
		   sp_migrate_stats *stats, sp_error *err)
{
	run_ctx x = {.o = o};
	sp_migrate_opts mig = o->mig;
	sp_error jerr;
	sp_err rc;

	if (*jp == NULL &&
	    (rc = sp_journal_begin(o->journal_dir, o->op, o->entry, p->nodes,
				   p->nnodes, p->owners, p->moves, p->nmoves,
				   jp, err)) != SP_OK)
		return rc;
	x.j = *jp;
	if (mig.keep_path == NULL) {
		snprintf(x.keep_path, sizeof(x.keep_path), "%s.keys",
			 (*jp)->path);
		mig.keep_path = x.keep_path;
	}
	mig.on_done = on_done;
	mig.on_progress = on_progress;
	mig.ud = &x;
	rc = sp_migrate(p->nodes, p->nnodes, p->moves, p->nmoves, &mig, stats,
			err);
	/* The journal's writer runs behind the engine: its last batch's
	 * error shows here. */
	/* Refused (a budget no pace can keep) before any slot opened: there
	 * is nothing for resume to finish. */
	if (sp_journal_end(*jp,
			   rc == SP_OK		      ? "complete"
			   : rc == SP_ERR_INTERRUPTED ? "interrupted"
			   : rc == SP_ERR_USAGE && stats->slots_done == 0
			       ? "refused"
			       : "failed",
			   &jerr) != SP_OK &&
	    !x.jfailed) {
		x.jfailed = 1;
		x.jerr = jerr;
	}
	if (rc == SP_OK && x.jfailed)
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "the slots moved, but the journal could not "
				 "be written: %s",
				 x.jerr.msg);
	return rc;
}
