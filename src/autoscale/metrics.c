/*
 * metrics.c - the autoscaler's snapshot of a cluster: roles, slots,
 * memory, load and health of every node, and the gossip gaps between
 * members, built from a gathered cluster plus one INFO per node.
 */
#include "autoscale/metrics.h"
#include "cluster/gather.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void sp_metrics_free(sp_metrics *m)
{
	if (m == NULL)
		return;
	free(m->nodes);
	free(m->gaps);
	memset(m, 0, sizeof(*m));
}

sp_err sp_metrics_copy(sp_metrics *dst, const sp_metrics *src, sp_error *err)
{
	*dst = *src;
	dst->nodes = NULL, dst->gaps = NULL;
	if (src->n > 0 &&
	    (dst->nodes = malloc(src->n * sizeof(*src->nodes))) == NULL)
		goto oom;
	if (src->ngaps > 0 &&
	    (dst->gaps = malloc(src->ngaps * sizeof(*src->gaps))) == NULL)
		goto oom;
	if (src->n > 0)
		memcpy(dst->nodes, src->nodes, src->n * sizeof(*src->nodes));
	if (src->ngaps > 0)
		memcpy(dst->gaps, src->gaps, src->ngaps * sizeof(*src->gaps));
	return SP_OK;
oom:
	sp_metrics_free(dst);
	return sp_seterr(err, SP_ERR_OOM, "out of memory");
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fields a gather read; the load ones stay unknown. */
static void node_from_state(sp_node_metrics *m, const sp_node_state *s)
{
	const sp_node *self = sp_view_self(&s->view);

	memset(m, 0, sizeof(*m));
	snprintf(m->host, sizeof(m->host), "%s", s->host);
	m->port = s->port;
	snprintf(m->addr, sizeof(m->addr), "%s", s->addr);
	snprintf(m->id, sizeof(m->id), "%s", s->id);
	m->reachable = s->reachable;
	snprintf(m->err, sizeof(m->err), "%s", s->reachable ? "" : s->err_msg);
	m->mem_ratio = m->ops_per_sec = m->cpu_pct = -1;
	m->latency_p95_us = -1;
	m->clients = -1;
	if (!s->reachable) {
		m->member = 1; /* a view named it */
		return;
	}
	m->primary = self != NULL && sp_node_is_primary(self);
	if (self != NULL && !m->primary)
		snprintf(m->master_id, sizeof(m->master_id), "%s",
			 self->master_id);
	m->slots = self != NULL ? self->nslots : 0;
	m->member = s->view.nnodes > 1 || m->slots > 0;
	m->state_ok = s->state_ok;
	m->known_nodes = s->known_nodes;
	m->slots_fail = s->slots_fail;
	m->keys = s->keys;
	m->used_memory = s->used_memory;
	m->maxmemory = s->maxmemory;
	if (s->maxmemory > 0)
		m->mem_ratio = (double)s->used_memory / (double)s->maxmemory;
}

/* Reachable members that some other reachable member does not know. */
static sp_err find_gaps(const sp_cluster *c, sp_metrics *m)
{
	size_t a, b;

	for (a = 0; a < c->nnodes; a++)
		for (b = 0; b < c->nnodes; b++) {
			const sp_node_metrics *na = &m->nodes[a],
					      *nb = &m->nodes[b];
			sp_gossip_gap *g;
			if (a == b || !na->reachable || !nb->reachable ||
			    !na->member || !nb->member || nb->id[0] == '\0' ||
			    sp_view_find(&c->nodes[a].view, nb->id) >= 0)
				continue;
			g = realloc(m->gaps, (m->ngaps + 1) * sizeof(*g));
			if (g == NULL)
				return SP_ERR_OOM;
			m->gaps = g;
			g = &m->gaps[m->ngaps++];
			snprintf(g->from, sizeof(g->from), "%s", na->addr);
			snprintf(g->to_host, sizeof(g->to_host), "%s",
				 nb->host);
			g->to_port = nb->port;
			g->to_bus =
			    c->nodes[b].view.myself >= 0
				? c->nodes[b]
				      .view.nodes[c->nodes[b].view.myself]
				      .cport
				: 0;
			snprintf(g->to_addr, sizeof(g->to_addr), "%s",
				 nb->addr);
		}
	return SP_OK;
}

/* Counts, replicas per primary, health over the members. */
static void summarize(sp_metrics *m)
{
	size_t i, k;

	m->cluster_ok = 1;
	m->min_replicas = -1;
	for (i = 0; i < m->n; i++) {
		sp_node_metrics *p = &m->nodes[i];
		if (!p->member)
			continue;
		m->members++;
		if (!p->reachable) {
			m->unreadable++;
			continue;
		}
		m->cluster_ok &= p->state_ok;
		if (p->slots_fail > m->slots_fail)
			m->slots_fail = p->slots_fail;
		if (!p->primary)
			continue;
		for (k = 0; k < m->n; k++)
			p->replicas +=
			    m->nodes[k].reachable &&
			    strcmp(m->nodes[k].master_id, p->id) == 0;
		m->primaries++;
		if (m->min_replicas < 0 || p->replicas < m->min_replicas)
			m->min_replicas = p->replicas;
	}
	if (m->min_replicas < 0)
		m->min_replicas = 0;
}

sp_err sp_metrics_from_cluster(const sp_cluster *c, sp_metrics *out,
			       sp_error *err)
{
	int owner[SP_SLOTS];
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->source, sizeof(out->source), "nodes");
	out->taken_at = wall_now();
	if (c->nnodes > 0 &&
	    (out->nodes = calloc(c->nnodes, sizeof(*out->nodes))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	out->n = c->nnodes;
	for (i = 0; i < c->nnodes; i++)
		node_from_state(&out->nodes[i], &c->nodes[i]);
	sp_cluster_claims(c, owner);
	for (i = 0; i < SP_SLOTS; i++)
		out->owner[i] = (int16_t)(owner[i] >= 0 ? owner[i] : -1);
	summarize(out);
	if (find_gaps(c, out) != SP_OK) {
		sp_metrics_free(out);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	return SP_OK;
}

/* Commands whose latency says nothing about serving data. */
static int admin_command(const char *name, size_t len)
{
	static const char *const admin[] = {
	    "cluster",	"info",	    "config",	"client",   "migrate",
	    "latency",	"memory",   "slowlog",	"command",  "debug",
	    "hello",	"auth",	    "replconf", "psync",    "sync",
	    "save",	"bgsave",   "monitor",	"shutdown", "restore-asking",
	    "asking",	"readonly", "acl",	"module",   "script",
	    "function", NULL};
	size_t i;

	for (i = 0; admin[i] != NULL; i++)
		if (strlen(admin[i]) == len &&
		    strncmp(admin[i], name, len) == 0)
			return 1;
	return 0;
}

/*
 * The p95 of one latency_percentiles_usec_<cmd> line ("p50=1.0,p99=2.0,
 * p99.9=3.0"): p95 itself, else the lowest percentile above 95.
 */
static double line_p95(const char *v, const char *end)
{
	double best_p = 1e9, best = -1;

	while (v < end) {
		char *e1, *e2;
		double p, val;
		if (*v != 'p')
			break;
		p = strtod(v + 1, &e1);
		if (e1 == v + 1 || *e1 != '=')
			break;
		val = strtod(e1 + 1, &e2);
		if (e2 == e1 + 1)
			break;
		if (p >= 95 && p < best_p)
			best_p = p, best = val;
		v = e2;
		if (*v == ',')
			v++;
	}
	return best;
}

static void parse_latency(sp_node_metrics *n, const char *info)
{
	static const char key[] = "latency_percentiles_usec_";
	const char *p = info;

	while ((p = strstr(p, key)) != NULL) {
		const char *name = p + sizeof(key) - 1;
		const char *colon = strchr(name, ':');
		const char *eol = strpbrk(name, "\r\n");
		size_t blen;
		double v;
		if (colon == NULL || (eol != NULL && colon > eol))
			break;
		blen = strcspn(name, "|:");
		if (eol == NULL)
			eol = name + strlen(name);
		if (!admin_command(name, blen) &&
		    (v = line_p95(colon + 1, eol)) > n->latency_p95_us)
			n->latency_p95_us = v;
		p = eol;
	}
}

void sp_metrics_parse_info(sp_node_metrics *n, const char *info)
{
	char buf[64];
	long long v;

	if (sp_info_ll(info, "used_memory", &v))
		n->used_memory = v;
	if (sp_info_ll(info, "maxmemory", &v))
		n->maxmemory = v;
	n->mem_ratio = n->maxmemory > 0
			   ? (double)n->used_memory / (double)n->maxmemory
			   : -1;
	if (sp_info_ll(info, "total_commands_processed", &v))
		n->commands = v;
	if (sp_info_ll(info, "instantaneous_ops_per_sec", &v))
		n->ops_per_sec = (double)v;
	if (sp_info_ll(info, "connected_clients", &v))
		n->clients = v;
	n->cpu_seconds = 0;
	if (sp_info_field(info, "used_cpu_sys", buf, sizeof(buf)))
		n->cpu_seconds += strtod(buf, NULL);
	if (sp_info_field(info, "used_cpu_user", buf, sizeof(buf)))
		n->cpu_seconds += strtod(buf, NULL);
	n->latency_p95_us = -1;
	parse_latency(n, info);
}

void sp_metrics_rates(sp_metrics *cur, const sp_metrics *prev)
{
	double dt = cur->taken_at - prev->taken_at;
	size_t i, k;

	if (dt <= 0)
		return;
	for (i = 0; i < cur->n; i++) {
		sp_node_metrics *c = &cur->nodes[i];
		for (k = 0; k < prev->n; k++) {
			const sp_node_metrics *p = &prev->nodes[k];
			if (strcmp(p->addr, c->addr) != 0 || !p->have_load ||
			    !c->have_load)
				continue;
			if (c->cpu_seconds >= p->cpu_seconds)
				c->cpu_pct = 100.0 *
					     (c->cpu_seconds - p->cpu_seconds) /
					     dt;
			if (c->ops_per_sec < 0 && c->commands >= p->commands)
				c->ops_per_sec =
				    (double)(c->commands - p->commands) / dt;
			break;
		}
	}
}

/* One INFO with the load sections; fills n->have_load or n->err. */
static void read_load(sp_node_metrics *n, const sp_conn_opts *co)
{
	sp_conn *c = NULL;
	redisReply *r = NULL;
	sp_error err = {0};

	if (sp_conn_open(n->host, n->port, co, &c, &err) == SP_OK &&
	    sp_conn_cmd(c, &r, &err,
			"INFO memory stats cpu clients "
			"latencystats") == SP_OK &&
	    sp_reply_expect(c, r, REDIS_REPLY_STRING, "INFO", &err) == SP_OK) {
		sp_metrics_parse_info(n, r->str);
		n->have_load = 1;
	} else {
		snprintf(n->err, sizeof(n->err), "%s", err.msg);
	}
	freeReplyObject(r);
	sp_conn_close(c);
}

/* Moves node 0 of `from` (a gather started at it) to the end of c. */
static sp_err adopt_first(sp_cluster *c, sp_cluster *from)
{
	sp_node_state *ns;

	if (from->nnodes == 0 || !from->nodes[0].reachable)
		return SP_OK;
	if ((ns = sp_cluster_add(c, from->nodes[0].host,
				 from->nodes[0].port)) == NULL)
		return SP_ERR_OOM;
	*ns = from->nodes[0];
	memset(&from->nodes[0].view, 0, sizeof(from->nodes[0].view));
	return SP_OK;
}

/* Visits the remembered addresses that no view names any more. */
static sp_err visit_remembered(sp_cluster *c, const sp_conn_opts *co,
			       char (*remember)[SP_ADDR_MAX], size_t n)
{
	char host[SP_HOST_MAX];
	sp_error nerr;
	size_t i;
	int port;

	for (i = 0; i < n; i++) {
		sp_cluster other = {0};
		sp_err rc;
		if (sp_parse_hostport(remember[i], host, &port, &nerr) !=
			SP_OK ||
		    sp_cluster_find_addr(c, host, port) >= 0 ||
		    sp_cluster_gather(host, port, co, &other, &nerr) != SP_OK)
			continue;
		rc = adopt_first(c, &other);
		sp_cluster_free(&other);
		if (rc != SP_OK)
			return rc;
	}
	return SP_OK;
}

sp_err sp_metrics_collect(const char *host, int port, const sp_conn_opts *co,
			  char (*remember)[SP_ADDR_MAX], size_t nremember,
			  sp_metrics *out, sp_error *err)
{
	sp_cluster c = {0};
	size_t i;
	sp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = sp_cluster_gather(host, port, co, &c, err)) != SP_OK)
		return rc;
	if ((rc = visit_remembered(&c, co, remember, nremember)) != SP_OK) {
		rc = sp_seterr(err, rc, "out of memory");
		goto out;
	}
	if ((rc = sp_metrics_from_cluster(&c, out, err)) != SP_OK)
		goto out;
	for (i = 0; i < out->n; i++)
		if (out->nodes[i].reachable)
			read_load(&out->nodes[i], co);
	for (i = 0; i < out->n; i++)
		out->unreadable += out->nodes[i].member &&
				   out->nodes[i].reachable &&
				   !out->nodes[i].have_load;
out:
	sp_cluster_free(&c);
	return rc;
}
