/*
 * autoscale_web.c - the autoscaler's pages, rendered from the shared
 * record under its mutex: /metrics in the Prometheus text format,
 * /status as JSON, /healthz, and / (HTML whose script draws /status).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/web.h"

sp_err sp_as_shared_init(sp_as_shared *sh, const sp_as_config *cfg,
			 const char *entry, sp_error *err)
{
	memset(sh, 0, sizeof(*sh));
	if (pthread_mutex_init(&sh->mu, NULL) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "pthread_mutex_init");
	sh->cfg = cfg;
	snprintf(sh->entry, sizeof(sh->entry), "%s", entry);
	return SP_OK;
}

void sp_as_shared_free(sp_as_shared *sh)
{
	if (sh == NULL)
		return;
	sp_metrics_free(&sh->snap);
	pthread_mutex_destroy(&sh->mu);
}

void sp_as_on_progress(void *ud, const sp_migrate_stats *s)
{
	sp_as_shared *sh = ud;

	pthread_mutex_lock(&sh->mu);
	/* A new move of the same operation (shrink drains one by one). */
	if (s->slots_done < sh->move.slots_done ||
	    s->seconds < sh->move.seconds)
		sp_as_move_end(sh);
	sh->move = *s;
	sh->guard_budget_ms = s->guarded ? s->guard_budget_ms : 0;
	sh->guard_p99_ms = s->guarded ? s->guard_p99_now_ms : 0;
	pthread_mutex_unlock(&sh->mu);
}

void sp_as_move_end(sp_as_shared *sh)
{
	sh->slots_moved += sh->move.slots_done;
	sh->keys_moved += sh->move.keys;
	sh->bytes_moved += sh->move.bytes;
	sh->retries += sh->move.retries;
	sh->move_seconds += sh->move.seconds;
	memset(&sh->move, 0, sizeof(sh->move));
}

static const char *role_of(const sp_node_metrics *n)
{
	return !n->reachable ? "unknown" : n->primary ? "primary" : "replica";
}

typedef struct node_gauge {
	const char *name, *help;
	double (*get)(const sp_node_metrics *n); /* NAN: no sample */
} node_gauge;

#define GET(fname, expr)                                                       \
	static double fname(const sp_node_metrics *n)                          \
	{                                                                      \
		return (expr);                                                 \
	}
GET(g_up, n->reachable)
GET(g_load, n->have_load)
GET(g_used, n->have_load ? (double)n->used_memory : NAN)
GET(g_max, n->have_load ? (double)n->maxmemory : NAN)
GET(g_ratio, n->have_load && n->mem_ratio >= 0 ? n->mem_ratio : NAN)
GET(g_ops, n->have_load && n->ops_per_sec >= 0 ? n->ops_per_sec : NAN)
GET(g_cpu, n->have_load && n->cpu_pct >= 0 ? n->cpu_pct / 100 : NAN)
GET(g_clients, n->have_load && n->clients >= 0 ? (double)n->clients : NAN)
GET(g_p95,
    n->have_load && n->latency_p95_us >= 0 ? n->latency_p95_us / 1e6 : NAN)
GET(g_slots, n->reachable ? n->slots : NAN)
GET(g_keys, n->reachable ? (double)n->keys : NAN)
GET(g_replicas, n->reachable && n->primary ? n->replicas : NAN)
GET(g_state, n->reachable ? n->state_ok : NAN)
GET(g_known, n->reachable ? (double)n->known_nodes : NAN)

static const node_gauge node_gauges[] = {
    {"slotpilot_node_up", "1 when the node answered", g_up},
    {"slotpilot_node_metrics_ok", "1 when the node's load could be read",
     g_load},
    {"slotpilot_node_memory_used_bytes", "used_memory", g_used},
    {"slotpilot_node_memory_max_bytes", "maxmemory (0: no limit)", g_max},
    {"slotpilot_node_memory_ratio", "used_memory / maxmemory", g_ratio},
    {"slotpilot_node_ops_per_second", "commands per second", g_ops},
    {"slotpilot_node_cpu_usage_ratio",
     "CPU time per second over the last interval (1 = one core)", g_cpu},
    {"slotpilot_node_connected_clients", "connected_clients", g_clients},
    {"slotpilot_node_latency_p95_seconds",
     "highest p95 latency of the data commands", g_p95},
    {"slotpilot_node_slots", "hash slots the node owns", g_slots},
    {"slotpilot_node_keys", "keys in the node's databases", g_keys},
    {"slotpilot_node_replicas", "replicas of a primary", g_replicas},
    {"slotpilot_node_cluster_state_ok", "1 when it reports cluster_state:ok",
     g_state},
    {"slotpilot_node_known_nodes", "cluster_known_nodes", g_known},
};

static void render_nodes(const sp_metrics *m, sp_buf *b)
{
	size_t g, i;

	for (g = 0; g < sizeof(node_gauges) / sizeof(node_gauges[0]); g++) {
		sp_prom_family(b, node_gauges[g].name, "gauge",
			       node_gauges[g].help);
		for (i = 0; i < m->n; i++) {
			const sp_node_metrics *n = &m->nodes[i];
			const char *l[] = {"node", n->addr, "role", role_of(n),
					   NULL};
			double v = node_gauges[g].get(n);
			if (n->member && !isnan(v))
				sp_prom_sample_write(b, node_gauges[g].name, l,
						     v);
		}
	}
}

static void gauge(sp_buf *b, const char *name, const char *help, double v)
{
	sp_prom_family(b, name, "gauge", help);
	sp_prom_sample_write(b, name, NULL, v);
}

static void counter(sp_buf *b, const char *name, const char *help, double v)
{
	sp_prom_family(b, name, "counter", help);
	sp_prom_sample_write(b, name, NULL, v);
}

static void render_cluster(const sp_as_shared *sh, sp_buf *b)
{
	const sp_metrics *m = &sh->snap;

	gauge(b, "slotpilot_cluster_state_ok",
	      "1 when every reachable member reports cluster_state:ok",
	      m->cluster_ok);
	gauge(b, "slotpilot_cluster_slots_fail", "highest cluster_slots_fail",
	      (double)m->slots_fail);
	gauge(b, "slotpilot_cluster_primaries", "reachable primaries",
	      m->primaries);
	gauge(b, "slotpilot_cluster_members",
	      "nodes that belong to the cluster", m->members);
	gauge(b, "slotpilot_cluster_gossip_gaps",
	      "pairs of members where one does not know the other",
	      (double)m->ngaps);
	gauge(b, "slotpilot_cluster_unreadable_nodes",
	      "members whose metrics cannot be read", m->unreadable);
	gauge(b, "slotpilot_scaling_frozen",
	      "1 while failed slots freeze all scaling", sh->frozen);
	gauge(b, "slotpilot_dry_run", "1 when decisions are only logged",
	      sh->cfg->dry_run);
	gauge(b, "slotpilot_last_collect_timestamp_seconds",
	      "when the cluster was last read", sh->last_collect);
	counter(b, "slotpilot_collects_total", "cluster reads", sh->collects);
	counter(b, "slotpilot_collect_errors_total", "failed cluster reads",
		sh->collect_errors);
}

static void render_migration(const sp_as_shared *sh, sp_buf *b)
{
	const sp_migrate_stats *s = &sh->move;

	gauge(b, "slotpilot_migration_in_progress", "1 while slots move",
	      s->slots_total > s->slots_done);
	gauge(b, "slotpilot_migration_slots_done", "slots done in this move",
	      (double)s->slots_done);
	gauge(b, "slotpilot_migration_slots_planned",
	      "slots planned in this move", (double)s->slots_total);
	gauge(b, "slotpilot_migration_keys_per_second",
	      "keys moved per second in this move",
	      s->seconds > 0 ? (double)s->keys / s->seconds : 0);
	counter(b, "slotpilot_migration_slots_moved_total", "slots moved",
		(double)(sh->slots_moved + s->slots_done));
	counter(b, "slotpilot_migration_keys_moved_total", "keys moved",
		(double)(sh->keys_moved + s->keys));
	counter(b, "slotpilot_migration_bytes_moved_total", "bytes moved",
		(double)(sh->bytes_moved + s->bytes));
	counter(b, "slotpilot_migration_retries_total", "engine steps retried",
		(double)(sh->retries + s->retries));
	gauge(b, "slotpilot_migration_latency_budget_seconds",
	      "the latency guard's p99 budget of the current or last move "
	      "(0: it ran without a guard)",
	      sh->guard_budget_ms / 1000.0);
	gauge(b, "slotpilot_migration_latency_p99_seconds",
	      "the last second's probe p99 the guard saw in that move",
	      sh->guard_p99_ms / 1000.0);
}

static void render_decisions(const sp_as_shared *sh, sp_buf *b)
{
	static const char *const codes[] = SP_AS_ALERT_CODES;
	const char *name;
	int a;

	name = "slotpilot_decisions_total";
	sp_prom_family(b, name, "counter",
		       "decisions to act, by action (dry runs included)");
	for (a = 1; a < SP_AS_NACTIONS; a++) {
		const char *l[] = {"action", sp_as_action_name(a), NULL};
		sp_prom_sample_write(b, name, l, (double)sh->decisions[a]);
	}
	counter(b, "slotpilot_decisions_held_total",
		"rules that fired but were held (cooldown, limits, window)",
		(double)sh->held);
	name = "slotpilot_actions_total";
	sp_prom_family(b, name, "counter", "actions taken, by result");
	for (a = 1; a < SP_AS_NACTIONS; a++) {
		const char *ok[] = {"action", sp_as_action_name(a), "result",
				    "ok", NULL};
		const char *bad[] = {"action", sp_as_action_name(a), "result",
				     "failed", NULL};
		sp_prom_sample_write(b, name, ok, (double)sh->actions_ok[a]);
		sp_prom_sample_write(b, name, bad,
				     (double)sh->actions_failed[a]);
	}
	name = "slotpilot_operation_in_progress";
	sp_prom_family(b, name, "gauge", "1 for the action running now");
	for (a = 1; a < SP_AS_NACTIONS; a++) {
		const char *l[] = {"action", sp_as_action_name(a), NULL};
		sp_prom_sample_write(b, name, l, sh->op == (sp_as_action)a);
	}
	name = "slotpilot_alerts_total";
	sp_prom_family(b, name, "counter", "alerts raised, by code");
	for (a = 0; a < SP_AS_NALERT_CODES; a++) {
		const char *l[] = {"code", codes[a], NULL};
		sp_prom_sample_write(b, name, l, (double)sh->alerts[a]);
	}
	counter(b, "slotpilot_gossip_meets_total",
		"CLUSTER MEETs sent to repair gossip", (double)sh->meets);
}

void sp_as_render_metrics(const sp_as_shared *sh, sp_buf *b)
{
	render_nodes(&sh->snap, b);
	render_cluster(sh, b);
	render_migration(sh, b);
	render_decisions(sh, b);
}

/* A number, or null when unknown (negative). */
static json_t *num(double v)
{
	return v < 0 || isnan(v) ? json_null() : json_real(v);
}

static json_t *node_json(const sp_node_metrics *n)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:b, s:b, s:s}", "addr", n->addr, "id",
		      n->id, "role", role_of(n), "reachable", n->reachable,
		      "metrics_ok", n->have_load, "error", n->err);

	if (o == NULL || !n->reachable)
		return o;
	json_object_set_new(o, "primary_id", json_string(n->master_id));
	json_object_set_new(o, "slots", json_integer(n->slots));
	json_object_set_new(o, "keys", json_integer(n->keys));
	json_object_set_new(o, "replicas", json_integer(n->replicas));
	json_object_set_new(o, "state_ok", json_boolean(n->state_ok));
	json_object_set_new(o, "known_nodes", json_integer(n->known_nodes));
	json_object_set_new(o, "used_memory", json_integer(n->used_memory));
	json_object_set_new(o, "maxmemory", json_integer(n->maxmemory));
	json_object_set_new(o, "mem_ratio", num(n->mem_ratio));
	json_object_set_new(o, "ops_per_sec", num(n->ops_per_sec));
	json_object_set_new(o, "cpu_pct", num(n->cpu_pct));
	json_object_set_new(o, "clients", num((double)n->clients));
	json_object_set_new(
	    o, "latency_p95_ms",
	    num(n->latency_p95_us < 0 ? -1 : n->latency_p95_us / 1e3));
	return o;
}

/* [[first, last, "addr"], ...] from the snapshot's owners. */
static json_t *slot_map_json(const sp_metrics *m)
{
	json_t *a = json_array();
	int s = 0, e;

	while (a != NULL && s < SP_SLOTS) {
		int o = m->owner[s];
		for (e = s; e + 1 < SP_SLOTS && m->owner[e + 1] == o; e++)
			;
		json_array_append_new(a, json_pack("[i, i, s]", s, e,
						   o >= 0 && (size_t)o < m->n
						       ? m->nodes[o].addr
						       : ""));
		s = e + 1;
	}
	return a;
}

static json_t *operation_json(const sp_as_shared *sh)
{
	const sp_migrate_stats *s = &sh->move;

	if (sh->op == SP_AS_NONE)
		return json_null();
	return json_pack("{s:s, s:i, s:f, s:I, s:I, s:I, s:I, s:f}", "action",
			 sp_as_action_name(sh->op), "target", sh->op_target,
			 "started", sh->op_started, "slots_done",
			 (json_int_t)s->slots_done, "slots_total",
			 (json_int_t)s->slots_total, "keys",
			 (json_int_t)s->keys, "bytes", (json_int_t)s->bytes,
			 "seconds", s->seconds);
}

static json_t *decision_json(const sp_as_shared *sh)
{
	const sp_as_decision *d = &sh->last;

	if (d->rule == NULL)
		return json_null();
	return json_pack("{s:s, s:s, s:s?, s:f, s:s, s:f, s:f, s:s}", "rule",
			 d->rule, "action", sp_as_action_name(d->action),
			 "held_by", d->held_by, "at", sh->last_at, "node",
			 d->node, "value", d->value, "threshold", d->threshold,
			 "reason", d->reason);
}

static json_t *cluster_json(const sp_as_shared *sh)
{
	const sp_metrics *m = &sh->snap;
	json_t *gaps = json_array();
	size_t i;

	for (i = 0; i < m->ngaps; i++)
		json_array_append_new(gaps, json_pack("{s:s, s:s}", "from",
						      m->gaps[i].from, "to",
						      m->gaps[i].to_addr));
	return json_pack("{s:b, s:I, s:i, s:i, s:i, s:b, s:o}", "state_ok",
			 m->cluster_ok, "slots_fail", (json_int_t)m->slots_fail,
			 "primaries", m->primaries, "members", m->members,
			 "unreadable", m->unreadable, "frozen", sh->frozen,
			 "gossip_gaps", gaps);
}

void sp_as_render_status(const sp_as_shared *sh, sp_buf *b)
{
	json_t *o, *nodes = json_array();
	char *s;
	size_t i;

	for (i = 0; i < sh->snap.n; i++)
		if (sh->snap.nodes[i].member)
			json_array_append_new(nodes,
					      node_json(&sh->snap.nodes[i]));
	o = json_pack("{s:s, s:f, s:s, s:b, s:f, s:s, s:o, s:o, s:o, s:o, s:o, "
		      "s:{s:s, s:s, s:f}}",
		      "entry", sh->entry, "started", sh->started, "source",
		      sh->snap.source, "dry_run", sh->cfg->dry_run,
		      "last_collect", sh->last_collect, "collect_error",
		      sh->collect_err, "cluster", cluster_json(sh), "nodes",
		      nodes, "slot_map", slot_map_json(&sh->snap), "operation",
		      operation_json(sh), "last_decision", decision_json(sh),
		      "last_operation", "action", sh->last_op, "status",
		      sh->last_op_status, "seconds", sh->last_op_seconds);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s == NULL)
		b->oom = 1;
	else
		sp_buf_printf(b, "%s\n", s);
	free(s);
	json_decref(o);
}

/* The page: a shell that draws /status every two seconds. Every string
 * from the cluster reaches the document as text (textContent, title,
 * setAttribute on elements it builds), never as markup. */
static const char page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<title>slotpilot autoscaler</title><style>"
    "body{font:14px sans-serif;margin:1em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    "#slotmap{display:grid;grid-template-columns:repeat(32,14px);gap:1px}"
    "#slotmap div{height:14px}.bad{color:#b00}</style></head><body>"
    "<h1>slotpilot autoscaler</h1>"
    "<p>Cluster <b id=\"entry\"></b>: <b id=\"state\">loading</b>, "
    "<span id=\"counts\"></span></p>"
    "<h2>Current operation</h2><p id=\"operation\">none</p>"
    "<p>Last decision: <span id=\"decision\">none</span></p>"
    "<h2>Slot map</h2><div id=\"slotmap\"></div>"
    "<h2>Nodes</h2><table id=\"nodes\"><thead><tr><th>node</th><th>role</th>"
    "<th>slots</th><th>keys</th><th>memory</th><th>ratio</th><th>ops/s</th>"
    "<th>cpu %</th><th>p95 ms</th><th>replicas</th></tr></thead>"
    "<tbody></tbody></table>\n<script>\n"
    "function hue(i){return 'hsl('+((i*67)%360)+',60%,55%)';}\n"
    "function el(t){return document.createElement(t);}\n"
    "function f(v,d){return v===null||v===undefined?'-':"
    "(typeof v==='number'?v.toFixed(d):v);}\n"
    "function draw(s){\n"
    " document.getElementById('entry').textContent=s.entry;\n"
    " var st=document.getElementById('state');\n"
    " st.textContent=s.cluster.state_ok?'ok':'fail';\n"
    " st.className=s.cluster.state_ok?'':'bad';\n"
    " document.getElementById('counts').textContent=s.cluster.primaries+"
    "' primaries, '+s.cluster.members+' nodes'+(s.cluster.frozen?"
    "', scaling frozen':'')+(s.dry_run?', dry run':'');\n"
    " var op=s.operation;document.getElementById('operation').textContent="
    "op?op.action+' to '+op.target+' primaries: '+op.slots_done+'/'+"
    "op.slots_total+' slots, '+op.keys+' keys':'none';\n"
    " var d=s.last_decision;document.getElementById('decision').textContent="
    "d?d.rule+' -> '+d.action+(d.held_by?' (held: '+d.held_by+')':'')+': '+"
    "d.reason:'none';\n"
    " var idx={},k=0;s.nodes.forEach(function(n){if(n.role==='primary')"
    "idx[n.addr]=k++;});\n"
    " var owner=new Array(16384);s.slot_map.forEach(function(r){"
    "for(var i=r[0];i<=r[1];i++)owner[i]=r[2];});\n"
    " var map=document.getElementById('slotmap'),cells=[];\n"
    " for(var c=0;c<128;c++){var o=owner[c*128],e=el('div');"
    "e.className='cell';e.title='slots '+(c*128)+'-'+(c*128+127)+': '+"
    "(o||'none');e.style.background=o?hue(idx[o]||0):'#000';"
    "cells.push(e);}\n"
    " map.replaceChildren.apply(map,cells);\n"
    " var rows=s.nodes.map(function(n){var tr=el('tr');"
    "tr.setAttribute('data-addr',n.addr);[n.addr,n.role,f(n.slots,0),"
    "f(n.keys,0),f(n.used_memory,0),f(n.mem_ratio,3),f(n.ops_per_sec,0),"
    "f(n.cpu_pct,1),f(n.latency_p95_ms,2),f(n.replicas,0)].forEach("
    "function(v){var td=el('td');td.textContent=String(v);"
    "tr.appendChild(td);});return tr;});\n"
    " var tb=document.querySelector('#nodes tbody');"
    "tb.replaceChildren.apply(tb,rows);\n"
    "}\n"
    "function load(){fetch('/status').then(function(r){return r.json();})"
    ".then(draw).catch(function(e){document.getElementById('state')"
    ".textContent='unreachable: '+e;});}\n"
    "load();setInterval(load,2000);\n</script></body></html>\n";

int sp_as_http(void *ud, const char *path, sp_buf *body, const char **ctype)
{
	sp_as_shared *sh = ud;
	int status = 200;

	pthread_mutex_lock(&sh->mu);
	if (strcmp(path, "/metrics") == 0) {
		*ctype = "text/plain; version=0.0.4; charset=utf-8";
		sp_as_render_metrics(sh, body);
	} else if (strcmp(path, "/status") == 0) {
		*ctype = "application/json";
		sp_as_render_status(sh, body);
	} else if (strcmp(path, "/healthz") == 0) {
		/* Healthy while the cluster is being read. */
		int ok = sh->have_snap && sh->collect_err[0] == '\0';
		status = ok || sh->op != SP_AS_NONE ? 200 : 503;
		sp_buf_printf(body, "%s\n",
			      status == 200   ? "ok"
			      : sh->have_snap ? sh->collect_err
					      : "no snapshot yet");
	} else if (strcmp(path, "/") == 0) {
		*ctype = "text/html; charset=utf-8";
		sp_buf_printf(body, "%s", page);
	} else {
		status = 404;
		sp_buf_printf(body, "not found\n");
	}
	pthread_mutex_unlock(&sh->mu);
	return status;
}
