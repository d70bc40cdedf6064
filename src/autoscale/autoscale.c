/*
 * autoscale.c - the autoscaler's loop: every interval it reads the
 * cluster, decides (autoscale_rules.c), logs the decision as a JSON
 * line, and acts through the same workflows as the commands (expand,
 * shrink, add-node, MEET), one operation at a time.
 *
 * Before an operation starts, its kind and target go to a state file in
 * the journal directory; it is removed when the operation ends. A
 * daemon killed in between finds the file when it starts again and runs
 * the operation again with the same target: expand and shrink finish an
 * interrupted run from their own records (expand.state, the journal,
 * open slots closed first), so the second run completes the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "autoscale/http.h"
#include "autoscale/web.h"
#include "base/clock.h"
#include "base/files.h"
#include "engine/journal.h"
#include "ops/join.h"
#include "ops/recover.h"

typedef struct as_daemon {
	const sp_as_run *r;
	const sp_as_config *c;
	sp_as_shared sh;
	sp_as_state st;
	sp_metrics prev;	       /* for rates between snapshots */
	char (*remember)[SP_ADDR_MAX]; /* members of the last snapshot */
	size_t nremember;
	char logged_rule[32], logged_held[32]; /* last decision logged */
	int collect_alerted;
	sp_migrate_stats op_base; /* the move totals when the action began */
	int lockfd;
} as_daemon;

static sp_as_clock clock_now(void)
{
	sp_as_clock k = {.t = (double)sp_now_ms() / 1000.0};
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm) != NULL)
		k.minute = tm.tm_hour * 60 + tm.tm_min;
	return k;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes one event as a JSON line, stamped; takes the reference to o. */
static void emit(as_daemon *d, const char *event, json_t *o)
{
	char ts[32], *s;
	time_t t = time(NULL);
	struct tm tm;

	if (o == NULL)
		return;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "event", json_string(event));
	if (d->r->events != NULL &&
	    (s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		fprintf(d->r->events, "%s\n", s);
		fflush(d->r->events);
		free(s);
	}
	json_decref(o);
}

static int alert_index(const char *code)
{
	static const char *const codes[] = SP_AS_ALERT_CODES;
	int i;

	for (i = 0; i < SP_AS_NALERT_CODES; i++)
		if (strcmp(codes[i], code) == 0)
			return i;
	return -1;
}

/* Logs an alert, counts it, and runs the alert command with it. */
static void raise_alert(as_daemon *d, const char *code, const char *msg)
{
	char cluster[SP_ADDR_MAX + 8], *s;
	json_t *o = json_pack("{s:s, s:s, s:s}", "code", code, "msg", msg,
			      "cluster", d->sh.entry);
	int i = alert_index(code);

	pthread_mutex_lock(&d->sh.mu);
	if (i >= 0)
		d->sh.alerts[i]++;
	pthread_mutex_unlock(&d->sh.mu);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	snprintf(cluster, sizeof(cluster), "%s", d->sh.entry);
	if (s != NULL && d->c->alert_command[0] != '\0')
		sp_as_run_hook(d->c->alert_command, code, msg, cluster, s,
			       d->r->log);
	free(s);
	emit(d, "alert", o);
}

/* The snapshot's members become the addresses to look for next time. */
static void remember_members(as_daemon *d, const sp_metrics *m)
{
	char(*r)[SP_ADDR_MAX] = calloc(m->n ? m->n : 1, SP_ADDR_MAX);
	size_t i, k = 0;

	if (r == NULL)
		return; /* keep the old list */
	for (i = 0; i < m->n; i++)
		if (m->nodes[i].member)
			snprintf(r[k++], SP_ADDR_MAX, "%s", m->nodes[i].addr);
	free(d->remember);
	d->remember = r, d->nremember = k;
}

/* Every member's load is missing: Prometheus could not be read. */
static void all_missing(sp_metrics *m, const sp_error *why)
{
	size_t i;

	m->unreadable = 0;
	for (i = 0; i < m->n; i++) {
		if (!m->nodes[i].member)
			continue;
		m->nodes[i].have_load = 0;
		snprintf(m->nodes[i].err, sizeof(m->nodes[i].err), "%s",
			 why->msg);
		m->unreadable++;
	}
}

static sp_err collect(as_daemon *d, sp_metrics *m, sp_error *err)
{
	const sp_as_config *c = d->c;
	sp_prom_source ps = {.url = c->prom_url,
			     .label = c->prom_label,
			     .window = c->prom_window,
			     .timeout_ms = c->prom_timeout_ms};
	sp_error perr = {0};
	sp_err rc;

	if ((rc = sp_metrics_collect(d->r->host, d->r->port, d->r->conn,
				     d->remember, d->nremember, m, err)) !=
	    SP_OK)
		return rc;
	if (c->source == SP_AS_SRC_PROMETHEUS) {
		if (sp_metrics_from_prometheus(m, &ps, &perr) != SP_OK)
			all_missing(m, &perr);
	} else {
		sp_metrics_rates(m, &d->prev);
	}
	remember_members(d, m);
	return SP_OK;
}

/* Hands the snapshot and the decision to the HTTP side. */
static void publish(as_daemon *d, const sp_metrics *m,
		    const sp_as_decision *dec, const sp_error *err)
{
	sp_metrics copy = {0};

	pthread_mutex_lock(&d->sh.mu);
	if (m != NULL && sp_metrics_copy(&copy, m, NULL) == SP_OK) {
		sp_metrics_free(&d->sh.snap);
		d->sh.snap = copy;
		d->sh.have_snap = 1;
		d->sh.last_collect = m->taken_at;
		d->sh.collects++;
		d->sh.collect_err[0] = '\0';
	}
	if (err != NULL) {
		d->sh.collect_errors++;
		snprintf(d->sh.collect_err, sizeof(d->sh.collect_err), "%s",
			 err->msg);
	}
	if (dec != NULL && dec->rule != NULL) {
		d->sh.last = *dec;
		d->sh.last_at = wall();
		d->sh.held += dec->held_by != NULL;
	}
	if (dec != NULL && dec->action != SP_AS_NONE)
		d->sh.decisions[dec->action]++;
	d->sh.frozen = d->st.frozen;
	pthread_mutex_unlock(&d->sh.mu);
}

/* The values the rules read, for every primary (and the triggering one). */
static json_t *values_json(const sp_metrics *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < m->n; i++) {
		const sp_node_metrics *n = &m->nodes[i];
		if (!n->member || (!n->primary && n->reachable))
			continue;
		json_array_append_new(
		    a, json_pack(
			   "{s:s, s:b, s:I, s:I, s:f, s:f, s:f, s:f}", "node",
			   n->addr, "metrics_ok", n->have_load, "used_memory",
			   (json_int_t)n->used_memory, "maxmemory",
			   (json_int_t)n->maxmemory, "mem_ratio", n->mem_ratio,
			   "ops_per_sec", n->ops_per_sec, "cpu_pct", n->cpu_pct,
			   "latency_p95_ms",
			   n->latency_p95_us < 0 ? -1.0
						 : n->latency_p95_us / 1e3));
	}
	return a;
}

/*
 * One JSON line per decision: every action and alert, and a rule that
 * fired but is held each time its hold changes (not every interval).
 */
static void log_decision(as_daemon *d, const sp_as_decision *dec,
			 const sp_metrics *m)
{
	const char *rule = dec->rule ? dec->rule : "";
	const char *held = dec->held_by ? dec->held_by : "";
	int i;

	for (i = 0; i < dec->nalerts; i++)
		raise_alert(d, dec->alerts[i].code, dec->alerts[i].msg);
	if (dec->action == SP_AS_NONE && strcmp(rule, d->logged_rule) == 0 &&
	    strcmp(held, d->logged_held) == 0)
		return;
	snprintf(d->logged_rule, sizeof(d->logged_rule), "%s", rule);
	snprintf(d->logged_held, sizeof(d->logged_held), "%s", held);
	if (dec->rule == NULL)
		return;
	emit(d, "decision",
	     json_pack("{s:s, s:s, s:s?, s:b, s:i, s:i, s:s, s:f, s:f, s:f, "
		       "s:s, s:s, s:o}",
		       "action", sp_as_action_name(dec->action), "rule",
		       dec->rule, "held_by", dec->held_by, "dry_run",
		       d->c->dry_run, "primaries", dec->primaries, "target",
		       dec->target, "node", dec->node, "value", dec->value,
		       "threshold", dec->threshold, "sustained_s",
		       dec->sustained_s, "reason", dec->reason, "source",
		       m->source, "nodes", values_json(m)));
}

static void state_file(const as_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/autoscale.state", d->c->journal_dir);
}

/* Records the operation about to start, durably (rename after write). */
static sp_err state_save(const as_daemon *d, sp_as_action a, int target,
			 sp_error *err)
{
	char path[SP_AS_PATH_MAX + 32];
	json_t *o = json_pack("{s:s, s:i, s:f}", "action", sp_as_action_name(a),
			      "target", target, "started", wall());
	char *text = o != NULL ? json_dumps(o, 0) : NULL;
	sp_err rc;

	state_file(d, path, sizeof(path));
	/* fsync of the file and of its directory: see sp_file_replace */
	rc = text == NULL ? sp_seterr(err, SP_ERR_OOM, "cannot build %s", path)
			  : sp_file_replace(path, text, strlen(text), err);
	free(text);
	json_decref(o);
	return rc;
}

/* The operation a previous run left, or SP_AS_NONE. */
static sp_as_action state_load(const as_daemon *d, int *target)
{
	char path[SP_AS_PATH_MAX + 32];
	sp_as_action a = SP_AS_NONE;
	const char *name;
	json_t *o;

	state_file(d, path, sizeof(path));
	if ((o = json_load_file(path, 0, NULL)) == NULL)
		return SP_AS_NONE;
	name = json_string_value(json_object_get(o, "action"));
	*target = (int)json_integer_value(json_object_get(o, "target"));
	if (name != NULL && strcmp(name, "scale-out") == 0)
		a = SP_AS_SCALE_OUT;
	else if (name != NULL && strcmp(name, "scale-in") == 0)
		a = SP_AS_SCALE_IN;
	else if (name != NULL && strcmp(name, "add-replicas") == 0)
		a = SP_AS_ADD_REPLICAS;
	json_decref(o);
	return *target > 0 ? a : SP_AS_NONE;
}

static void state_clear(const as_daemon *d)
{
	char path[SP_AS_PATH_MAX + 32];

	state_file(d, path, sizeof(path));
	unlink(path);
}

/* The workflows' options, from the configuration. */
static sp_scale_opts scale_opts(as_daemon *d, int target)
{
	const sp_as_config *c = d->c;
	sp_scale_opts o;

	memset(&o, 0, sizeof(o));
	o.primaries = target;
	o.replicas = c->out_replicas;
	o.prov.kind = c->prov;
	o.prov.dir = c->local_dir[0] ? c->local_dir : NULL;
	o.prov.provision = c->provision_cmd[0] ? c->provision_cmd : NULL;
	o.prov.deprovision = c->deprovision_cmd[0] ? c->deprovision_cmd : NULL;
	o.rm.mig = sp_migrate_defaults();
	o.rm.mig.window = c->window;
	o.rm.mig.parallel = c->parallel;
	o.rm.mig.rate_unit = c->rate_unit;
	o.rm.mig.rate = c->rate;
	o.rm.mig.max_p99_ms = c->max_p99_ms;
	o.rm.mig.max_increase_pct = c->max_increase_pct;
	o.rm.mig.fast = c->fast;
	o.rm.mig.conn = d->r->conn;
	o.rm.mig.stop = d->r->stop;
	o.rm.mig.on_progress = sp_as_on_progress;
	o.rm.mig.ud = &d->sh;
	o.rm.journal_dir = c->journal_dir;
	o.rm.wait_ms = c->wait_s * 1000;
	return o;
}

/* Sets maxmemory on members without one to the primaries' common one:
 * new nodes must match the old ones, or the memory rule cannot see them. */
static void match_maxmemory(as_daemon *d)
{
	sp_metrics m = {0};
	sp_error err;
	long long want = 0;
	size_t i;

	if (sp_metrics_collect(d->r->host, d->r->port, d->r->conn, NULL, 0, &m,
			       &err) != SP_OK)
		return;
	for (i = 0; i < m.n; i++)
		if (m.nodes[i].member && m.nodes[i].primary &&
		    m.nodes[i].maxmemory > want)
			want = m.nodes[i].maxmemory;
	for (i = 0; want > 0 && i < m.n; i++) {
		sp_conn *c = NULL;
		if (!m.nodes[i].member || !m.nodes[i].reachable ||
		    m.nodes[i].maxmemory != 0)
			continue;
		if (sp_conn_open(m.nodes[i].host, m.nodes[i].port, d->r->conn,
				 &c, &err) == SP_OK &&
		    sp_conn_cmd(c, NULL, &err, "CONFIG SET maxmemory %lld",
				want) == SP_OK)
			emit(d, "maxmemory",
			     json_pack("{s:s, s:I}", "node", m.nodes[i].addr,
				       "maxmemory", (json_int_t)want));
		sp_conn_close(c);
	}
	sp_metrics_free(&m);
}

/* One more replica for every primary: provision, then add-node. */
static sp_err add_replicas(as_daemon *d, int primaries, sp_error *err)
{
	sp_scale_opts o = scale_opts(d, primaries);
	sp_add_opts ao = {.replica = 1, .wait_ms = d->c->wait_s * 1000};
	char(*addrs)[SP_ADDR_MAX] = calloc((size_t)primaries, SP_ADDR_MAX);
	char id[SP_ID_LEN + 1];
	sp_err rc;
	int i;

	if (addrs == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	rc = sp_provision(&o.prov, d->r->host, d->r->port, d->r->conn,
			  primaries, addrs, err);
	for (i = 0; i < primaries && rc == SP_OK; i++)
		rc = sp_add_node(d->r->host, d->r->port, addrs[i], &ao,
				 d->r->conn, d->r->log, id, err);
	free(addrs);
	return rc;
}

/* MEETs every member from each peer that does not know it. */
static sp_err repair(as_daemon *d, const sp_metrics *m, sp_error *err)
{
	char host[SP_HOST_MAX], ip[SP_IP_MAX];
	sp_err rc = SP_OK;
	size_t i;
	int port;

	for (i = 0; i < m->ngaps && rc == SP_OK; i++) {
		const sp_gossip_gap *g = &m->gaps[i];
		if ((rc = sp_parse_hostport(g->from, host, &port, err)) ||
		    (rc = sp_resolve_ip(g->to_host, ip, sizeof(ip), err)) ||
		    (rc = sp_node_meet(host, port, d->r->conn, ip, g->to_port,
				       g->to_bus, err)))
			break;
		emit(
		    d, "meet",
		    json_pack("{s:s, s:s}", "from", g->from, "to", g->to_addr));
		pthread_mutex_lock(&d->sh.mu);
		d->sh.meets++;
		pthread_mutex_unlock(&d->sh.mu);
	}
	return rc;
}

static void op_begin(as_daemon *d, sp_as_action a, int target)
{
	pthread_mutex_lock(&d->sh.mu);
	d->sh.op = a, d->sh.op_target = target, d->sh.op_started = wall();
	d->op_base.slots_done = d->sh.slots_moved;
	d->op_base.keys = d->sh.keys_moved;
	d->op_base.bytes = d->sh.bytes_moved;
	pthread_mutex_unlock(&d->sh.mu);
	emit(d, "action",
	     json_pack("{s:s, s:s, s:i}", "action", sp_as_action_name(a),
		       "status", "started", "target", target));
}

static void op_end(as_daemon *d, sp_as_action a, sp_err rc, double secs,
		   const sp_error *err)
{
	const char *st = rc == SP_OK		    ? "ok"
			 : rc == SP_ERR_INTERRUPTED ? "interrupted"
						    : "failed";
	sp_migrate_stats mv;

	pthread_mutex_lock(&d->sh.mu);
	sp_as_move_end(&d->sh);
	/* This operation's moves: the totals since it began. */
	mv.slots_done = d->sh.slots_moved - d->op_base.slots_done;
	mv.keys = d->sh.keys_moved - d->op_base.keys;
	mv.bytes = d->sh.bytes_moved - d->op_base.bytes;
	d->sh.op = SP_AS_NONE;
	if (rc == SP_OK)
		d->sh.actions_ok[a]++;
	else
		d->sh.actions_failed[a]++;
	snprintf(d->sh.last_op, sizeof(d->sh.last_op), "%s",
		 sp_as_action_name(a));
	snprintf(d->sh.last_op_status, sizeof(d->sh.last_op_status), "%s", st);
	d->sh.last_op_seconds = secs;
	pthread_mutex_unlock(&d->sh.mu);
	emit(d, "action",
	     json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:s}", "action",
		       sp_as_action_name(a), "status", st, "seconds", secs,
		       "slots_moved", (json_int_t)mv.slots_done, "keys_moved",
		       (json_int_t)mv.keys, "bytes_moved", (json_int_t)mv.bytes,
		       "error", rc == SP_OK ? "" : err->msg));
}

/* The workflow of action a, after closing any slot left open. */
static sp_err workflow(as_daemon *d, sp_as_action a, int target, sp_error *err)
{
	sp_scale_opts o = scale_opts(d, target);
	int fixed = 0;
	sp_err rc;

	/* A window left open by a killed run (ours, or anyone's) first: the
	 * workflows wait for a healthy cluster, and an open slot is not. */
	if ((rc = sp_close_open_slots(d->r->host, d->r->port, d->r->conn,
				      &o.rm.mig, d->r->log, &fixed, err)) !=
	    SP_OK)
		return rc;
	if (a == SP_AS_SCALE_OUT)
		return sp_expand(d->r->host, d->r->port, &o, d->r->conn,
				 d->r->log, err);
	if (a == SP_AS_SCALE_IN)
		return sp_shrink(d->r->host, d->r->port, &o, d->r->conn,
				 d->r->log, err);
	return add_replicas(d, target, err);
}

/* Runs one scaling action to target, recorded in the state file. */
static sp_err perform(as_daemon *d, sp_as_action a, int target, int resuming,
		      sp_error *err)
{
	double t0 = wall();
	sp_err rc;

	if ((rc = state_save(d, a, target, err)) != SP_OK)
		return rc;
	op_begin(d, a, target);
	rc = workflow(d, a, target, err);
	/* Resuming an operation that had in fact finished. */
	if (resuming && rc == SP_ERR_USAGE)
		rc = SP_OK;
	if (rc == SP_OK && a == SP_AS_SCALE_OUT && d->c->match_maxmemory)
		match_maxmemory(d);
	op_end(d, a, rc, wall() - t0, err);
	if (rc != SP_ERR_INTERRUPTED)
		state_clear(d);
	if (rc != SP_OK && rc != SP_ERR_INTERRUPTED)
		raise_alert(d, "action-failed", err->msg);
	return rc;
}

/* Acts on a decision (or only records it, in a dry run). */
static sp_err act(as_daemon *d, const sp_as_decision *dec, const sp_metrics *m)
{
	sp_error err = {0};
	sp_err rc = SP_OK;

	if (d->c->dry_run) {
		if (dec->action != SP_AS_REPAIR)
			sp_as_acted(&d->st, clock_now().t);
		return SP_OK;
	}
	if (dec->action == SP_AS_REPAIR) {
		if ((rc = repair(d, m, &err)) != SP_OK)
			sp_logf(d->r->log, "repair", "%s", err.msg);
		return SP_OK;
	}
	rc = perform(d, dec->action,
		     dec->action == SP_AS_ADD_REPLICAS ? dec->primaries
						       : dec->target,
		     0, &err);
	if (rc != SP_ERR_INTERRUPTED)
		sp_as_acted(&d->st, clock_now().t);
	return rc;
}

/* Finishes what a previous run left (its state file). */
static sp_err resume(as_daemon *d)
{
	char path[SP_AS_PATH_MAX];
	sp_error err = {0};
	int target = 0;
	sp_as_action a = state_load(d, &target);
	sp_err rc;

	if (a == SP_AS_NONE) {
		if (sp_journal_find_open(d->c->journal_dir, path, sizeof(path),
					 NULL) == SP_OK)
			emit(d, "journal-open",
			     json_pack("{s:s, s:s}", "journal", path, "msg",
				       "an unfinished operation that is not "
				       "the autoscaler's: its open slots are "
				       "closed before the next action"));
		return SP_OK;
	}
	emit(d, "resume",
	     json_pack("{s:s, s:i}", "action", sp_as_action_name(a), "target",
		       target));
	if (a == SP_AS_ADD_REPLICAS) {
		/* Not repeatable: it would add a second set of replicas. */
		state_clear(d);
		return SP_OK;
	}
	if (d->c->dry_run)
		return SP_OK;
	rc = perform(d, a, target, 1, &err);
	if (rc != SP_ERR_INTERRUPTED)
		sp_as_acted(&d->st, clock_now().t);
	return rc;
}

/* One interval: read, decide, log, act. */
static sp_err tick(as_daemon *d)
{
	sp_as_clock now = clock_now();
	sp_as_decision dec;
	sp_metrics m = {0};
	sp_error err = {0};
	sp_err rc = SP_OK;

	if (collect(d, &m, &err) != SP_OK) {
		publish(d, NULL, NULL, &err);
		if (!d->collect_alerted)
			raise_alert(d, "collect-failed", err.msg);
		d->collect_alerted = 1;
		return SP_OK;
	}
	d->collect_alerted = 0;
	sp_as_decide(&m, &d->st, d->c, &now, &dec);
	publish(d, &m, &dec, NULL);
	log_decision(d, &dec, &m);
	if (dec.action != SP_AS_NONE)
		rc = act(d, &dec, &m);
	sp_metrics_free(&d->prev);
	d->prev = m;
	return rc;
}

/* Sleeps until t (steady seconds) or a stop, in short steps. */
static void wait_until(const as_daemon *d, double t)
{
	double left;

	while (!*d->r->stop && (left = t - clock_now().t) > 0)
		sp_sleep_ms(left > 0.1 ? 100 : (long long)(left * 1000) + 1);
}

/* One daemon per journal directory: an advisory lock on a file in it. */
static sp_err lock_dir(as_daemon *d, sp_error *err)
{
	char path[SP_AS_PATH_MAX + 32];
	sp_err rc;

	if ((rc = sp_mkdirs(d->c->journal_dir, err)) != SP_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/autoscale.lock", d->c->journal_dir);
	if ((d->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot open %s: %s", path,
				 strerror(errno));
	if (flock(d->lockfd, LOCK_EX | LOCK_NB) != 0)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "another autoscaler uses %s (%s is locked)",
				 d->c->journal_dir, path);
	return SP_OK;
}

/* Serves the pages on cfg->listen, behind the INI's http_token or else
 * SLOTPILOT_HTTP_TOKEN; a listener other hosts can reach is a warning,
 * louder without a token. */
static sp_err start_http(as_daemon *d, sp_http **http, sp_error *err)
{
	const char *token = d->c->http_token;

	if (d->c->listen[0] == '\0')
		return SP_OK;
	if (token[0] == '\0')
		token = getenv(SP_AS_TOKEN_ENV);
	if (token != NULL && token[0] == '\0')
		token = NULL;
	if (token != NULL && !sp_http_token_ok(token))
		return sp_seterr(err, SP_ERR_USAGE,
				 "%s: the token must be 1 to 255 of A-Z a-z "
				 "0-9 - . _ ~ + / (then = padding)",
				 SP_AS_TOKEN_ENV);
	if (!sp_http_is_loopback(d->c->listen))
		sp_logf(d->r->log, "listen",
			"warning: %s is not a loopback address: other hosts "
			"can reach /status and /metrics%s",
			d->c->listen,
			token != NULL ? " (with the token)"
				      : " without a token; set http_token "
					"or " SP_AS_TOKEN_ENV);
	return sp_http_start(d->c->listen, token, sp_as_http, &d->sh, http,
			     err);
}

static void daemon_free(as_daemon *d)
{
	sp_metrics_free(&d->prev);
	free(d->remember);
	if (d->lockfd >= 0)
		close(d->lockfd);
	sp_as_shared_free(&d->sh);
}

sp_err sp_autoscale(const sp_as_run *r, sp_error *err)
{
	char entry[SP_ADDR_MAX];
	sp_http *http = NULL;
	as_daemon d = {.r = r, .c = r->cfg, .lockfd = -1};
	sp_err rc;

	sp_format_addr(entry, sizeof(entry), r->host, r->port);
	sp_as_state_init(&d.st);
	if ((rc = sp_as_shared_init(&d.sh, r->cfg, entry, err)) != SP_OK)
		return rc;
	d.sh.started = wall();
	signal(SIGPIPE, SIG_IGN);
	if ((rc = lock_dir(&d, err)) != SP_OK ||
	    (rc = start_http(&d, &http, err)) != SP_OK)
		goto out;
	emit(&d, "start",
	     json_pack("{s:s, s:s, s:b, s:f, s:s}", "cluster", entry, "listen",
		       r->cfg->listen, "dry_run", r->cfg->dry_run, "interval_s",
		       r->cfg->interval_s, "source",
		       r->cfg->source == SP_AS_SRC_PROMETHEUS ? "prometheus"
							      : "nodes"));
	rc = resume(&d);
	while (rc != SP_ERR_INTERRUPTED && !*r->stop) {
		double next = clock_now().t + r->cfg->interval_s;
		rc = tick(&d);
		wait_until(&d, next);
	}
	emit(&d, "stop",
	     json_pack("{s:s}", "reason",
		       rc == SP_ERR_INTERRUPTED
			   ? "signal during an operation (the "
			     "next run resumes it)"
			   : "signal"));
	if (rc == SP_ERR_INTERRUPTED)
		sp_seterr(err, rc,
			  "stopped in the middle of an operation; "
			  "the next run resumes it");
	else
		rc = SP_OK;
out:
	sp_http_stop(http);
	daemon_free(&d);
	return rc;
}
