/*
 * autoscale_rules.c - the autoscaler's decision, a pure function.
 *
 * Each rule has a condition and a sustained window: a timer starts when
 * the condition first holds and fires once it has held for the window.
 * Hysteresis keeps the timer running while the value sits in a band just
 * on the safe side of the threshold, so a value hovering at the edge
 * does not restart it at every dip; it is reset only below the band.
 * Health comes before load: a cluster with failed slots, a node whose
 * metrics are missing, or a membership gap is never scaled.
 */
#include <stdio.h>
#include <string.h>

#include "autoscale/autoscale.h"

enum { AL_FAIL = 1, AL_MISSING = 2, AL_GOSSIP = 4, AL_NODES = 8, AL_MAX = 16 };

void sp_as_state_init(sp_as_state *s)
{
	memset(s, 0, sizeof(*s));
	s->high_since = s->low_since = s->lat_since = -1;
	s->gap_since = s->missing_since = s->last_repair = -1;
	s->last_action = -1;
}

const char *sp_as_action_name(sp_as_action a)
{
	switch (a) {
	case SP_AS_SCALE_OUT:
		return "scale-out";
	case SP_AS_SCALE_IN:
		return "scale-in";
	case SP_AS_ADD_REPLICAS:
		return "add-replicas";
	case SP_AS_REPAIR:
		return "repair";
	default:
		return "none";
	}
}

/*
 * Advances a sustained-window timer: started when cond holds, kept
 * while in the hysteresis band (neither cond nor clear), reset on
 * clear. Returns how long cond has been sustained, or -1.
 */
static double sustain(double *since, int cond, int clear, double t)
{
	if (clear)
		*since = -1;
	else if (cond && *since < 0)
		*since = t;
	return cond && *since >= 0 ? t - *since : -1;
}

/* Raises an alert once per episode (bit), into d. */
static void alert(sp_as_state *s, sp_as_decision *d, int bit, const char *code,
		  const char *msg)
{
	if ((s->alerted & bit) || d->nalerts >= SP_AS_MAX_ALERTS)
		return;
	s->alerted |= bit;
	d->alerts[d->nalerts].code = code;
	snprintf(d->alerts[d->nalerts].msg, sizeof(d->alerts[0].msg), "%s",
		 msg);
	d->nalerts++;
}

static int in_window(const sp_as_config *c, int minute)
{
	if (c->maint_start < c->maint_end)
		return minute >= c->maint_start && minute < c->maint_end;
	return minute >= c->maint_start || minute < c->maint_end;
}

/* Why a fired rule may not act now, or NULL. */
static const char *hold(const sp_as_config *c, const sp_as_state *s,
			const sp_as_clock *now, sp_as_action a)
{
	if (s->last_action >= 0 && now->t - s->last_action < c->cooldown_s)
		return "cooldown";
	if (c->maint_start >= 0 && (c->maint_all || a == SP_AS_SCALE_IN) &&
	    !in_window(c, now->minute))
		return "maintenance-window";
	return NULL;
}

/* Fills d's trigger fields. */
static void trigger(sp_as_decision *d, const char *rule, const char *node,
		    double value, double threshold, double sustained)
{
	d->rule = rule;
	snprintf(d->node, sizeof(d->node), "%s", node);
	d->value = value, d->threshold = threshold, d->sustained_s = sustained;
}

/* Failed slots: alert once and freeze. Returns 1 when frozen. */
static int rule_fail(const sp_metrics *m, sp_as_state *s, sp_as_decision *d)
{
	char msg[256];

	if (m->cluster_ok && m->slots_fail == 0) {
		s->frozen = 0;
		s->alerted &= ~AL_FAIL;
		return 0;
	}
	s->frozen = 1;
	snprintf(msg, sizeof(msg),
		 "the cluster reports %s and %lld failed slots: all scaling "
		 "is frozen",
		 m->cluster_ok ? "cluster_state:ok" : "cluster_state:fail",
		 m->slots_fail);
	alert(s, d, AL_FAIL, "cluster-fail", msg);
	trigger(d, "cluster-fail", "", (double)m->slots_fail, 0, 0);
	d->held_by = "frozen";
	snprintf(d->reason, sizeof(d->reason), "%s", msg);
	return 1;
}

/* A member whose metrics are missing: alert once, never act. */
static int rule_missing(const sp_metrics *m, sp_as_state *s, sp_as_decision *d)
{
	char msg[384];
	size_t i;

	if (m->unreadable == 0) {
		s->alerted &= ~AL_MISSING;
		return 0;
	}
	for (i = 0; i < m->n; i++)
		if (m->nodes[i].member &&
		    (!m->nodes[i].reachable || !m->nodes[i].have_load))
			break;
	snprintf(msg, sizeof(msg),
		 "metrics of %d node(s) cannot be read (%.64s: %.200s): no "
		 "action on missing data",
		 m->unreadable, i < m->n ? m->nodes[i].addr : "?",
		 i < m->n ? m->nodes[i].err : "");
	alert(s, d, AL_MISSING, "metrics-missing", msg);
	trigger(d, "metrics-missing", i < m->n ? m->nodes[i].addr : "",
		(double)m->unreadable, 0, 0);
	d->held_by = "missing-data";
	snprintf(d->reason, sizeof(d->reason), "%s", msg);
	return 1;
}

/*
 * Gossip gaps (a member some peer does not know): MEET after the grace
 * period, again every grace period while they last, alert when they
 * outlast alert_after. Members below the expected count: alert.
 */
static int rule_gossip(const sp_metrics *m, sp_as_state *s,
		       const sp_as_config *c, const sp_as_clock *now,
		       sp_as_decision *d)
{
	int expected =
	    s->expected > c->expected_nodes ? s->expected : c->expected_nodes;
	double gap =
	    sustain(&s->gap_since, m->ngaps > 0, m->ngaps == 0, now->t);
	double miss = sustain(&s->missing_since, m->members < expected,
			      m->members >= expected, now->t);
	char msg[384];

	if (gap < 0)
		s->alerted &= ~AL_GOSSIP;
	if (miss < 0)
		s->alerted &= ~AL_NODES;
	if (gap < 0 && miss < 0)
		return 0;
	if (gap >= 0) {
		trigger(d, "gossip-gap", m->gaps[0].to_addr, (double)m->ngaps,
			0, gap);
		snprintf(
		    msg, sizeof(msg),
		    "%zu gossip gap(s) for %.0f s: %.64s does not know %.64s",
		    m->ngaps, gap, m->gaps[0].from, m->gaps[0].to_addr);
	} else {
		trigger(d, "nodes-missing", "", m->members, expected, miss);
		snprintf(msg, sizeof(msg),
			 "%d member(s) known, %d expected, for %.0f s",
			 m->members, expected, miss);
	}
	snprintf(d->reason, sizeof(d->reason), "%s", msg);
	d->held_by = "membership";
	if (gap >= c->gossip_grace_s && c->gossip_repair &&
	    (s->last_repair < 0 ||
	     now->t - s->last_repair >= c->gossip_grace_s)) {
		d->action = SP_AS_REPAIR, d->held_by = NULL;
		s->last_repair = now->t;
	}
	if (gap >= c->gossip_alert_s)
		alert(s, d, AL_GOSSIP, "gossip-unresolved", msg);
	if (miss >= c->gossip_alert_s) {
		alert(s, d, AL_NODES, "nodes-missing", msg);
		/* Told: a learned count follows the cluster from now on. */
		if (m->members >= c->expected_nodes && gap < 0)
			s->expected = m->members;
	}
	return 1;
}

/* Index of the primary with the highest value of field f, or -1. */
static int top_primary(const sp_metrics *m,
		       double (*f)(const sp_node_metrics *))
{
	int best = -1;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->nodes[i].member && m->nodes[i].primary &&
		    f(&m->nodes[i]) >= 0 &&
		    (best < 0 || f(&m->nodes[i]) > f(&m->nodes[best])))
			best = (int)i;
	return best;
}

static double ratio_of(const sp_node_metrics *n)
{
	return n->mem_ratio;
}

static double p95_of(const sp_node_metrics *n)
{
	return n->latency_p95_us < 0 ? -1 : n->latency_p95_us / 1000.0;
}

/* Decides a fired rule's action, unless something holds it. */
static void act(const sp_metrics *m, sp_as_state *s, const sp_as_config *c,
		const sp_as_clock *now, sp_as_decision *d, sp_as_action a)
{
	int limit = a == SP_AS_SCALE_OUT  ? m->primaries >= c->max_primaries
		    : a == SP_AS_SCALE_IN ? m->primaries <= c->min_primaries
					  : m->min_replicas >= c->max_replicas;
	char msg[256];

	if (limit) {
		d->held_by = a == SP_AS_SCALE_OUT  ? "max-primaries"
			     : a == SP_AS_SCALE_IN ? "min-primaries"
						   : "max-replicas";
		if (a == SP_AS_SCALE_OUT) {
			snprintf(
			    msg, sizeof(msg),
			    "memory pressure on %.64s but the cluster is at "
			    "max_primaries %d",
			    d->node, c->max_primaries);
			alert(s, d, AL_MAX, "max-primaries", msg);
		}
		return;
	}
	s->alerted &= ~AL_MAX;
	if ((d->held_by = hold(c, s, now, a)) != NULL)
		return;
	d->action = a;
	d->target = m->primaries + (a == SP_AS_SCALE_OUT  ? 1
				    : a == SP_AS_SCALE_IN ? -1
							  : 0);
}

static int rule_memory(const sp_metrics *m, sp_as_state *s,
		       const sp_as_config *c, const sp_as_clock *now,
		       sp_as_decision *d)
{
	int top = top_primary(m, ratio_of);
	double v = top >= 0 ? m->nodes[top].mem_ratio : -1;
	double held = sustain(&s->high_since, v > c->out_ratio,
			      v < c->out_ratio - c->hysteresis, now->t);

	if (held < 0 || held < c->out_for_s)
		return 0;
	trigger(d, "memory-high", m->nodes[top].addr, v, c->out_ratio, held);
	snprintf(d->reason, sizeof(d->reason),
		 "%s uses %lld of %lld bytes (ratio %.3f > %.2f) for %.1f s",
		 m->nodes[top].addr, m->nodes[top].used_memory,
		 m->nodes[top].maxmemory, v, c->out_ratio, held);
	act(m, s, c, now, d, SP_AS_SCALE_OUT);
	return 1;
}

static int rule_latency(const sp_metrics *m, sp_as_state *s,
			const sp_as_config *c, const sp_as_clock *now,
			sp_as_decision *d)
{
	int top = top_primary(m, p95_of);
	double v = top >= 0 ? p95_of(&m->nodes[top]) : -1;
	double held;

	if (c->lat_p95_ms <= 0)
		return 0;
	held = sustain(&s->lat_since, v > c->lat_p95_ms,
		       v < c->lat_p95_ms * (1 - c->hysteresis), now->t);
	if (held < 0 || held < c->lat_for_s)
		return 0;
	trigger(d, "latency-high", m->nodes[top].addr, v, c->lat_p95_ms, held);
	snprintf(d->reason, sizeof(d->reason),
		 "%s p95 %.2f ms > %.2f ms for %.1f s", m->nodes[top].addr, v,
		 c->lat_p95_ms, held);
	if (!c->lat_add_replicas)
		d->held_by = "not-configured";
	else
		act(m, s, c, now, d, SP_AS_ADD_REPLICAS);
	return 1;
}

/* 1 when every primary is below the watermark (0 if one is unknown). */
static int all_low(const sp_metrics *m, const sp_as_config *c, double band)
{
	size_t i;
	int any = 0;

	for (i = 0; i < m->n; i++) {
		const sp_node_metrics *p = &m->nodes[i];
		if (!p->member || !p->primary)
			continue;
		if (p->mem_ratio < 0 || p->mem_ratio >= c->in_ratio + band)
			return 0;
		if (c->in_ops > 0 && (p->ops_per_sec < 0 ||
				      p->ops_per_sec >= c->in_ops * (1 + band)))
			return 0;
		any = 1;
	}
	return any;
}

static int rule_low(const sp_metrics *m, sp_as_state *s, const sp_as_config *c,
		    const sp_as_clock *now, sp_as_decision *d)
{
	int top = top_primary(m, ratio_of);
	double held = sustain(&s->low_since, all_low(m, c, 0),
			      !all_low(m, c, c->hysteresis), now->t);

	if (held < 0 || held < c->in_for_s || top < 0)
		return 0;
	trigger(d, "low-load", m->nodes[top].addr, m->nodes[top].mem_ratio,
		c->in_ratio, held);
	snprintf(d->reason, sizeof(d->reason),
		 "every primary below memory ratio %.2f%s for %.1f s (highest "
		 "%.3f on %s)",
		 c->in_ratio, c->in_ops > 0 ? " and the ops/s watermark" : "",
		 held, m->nodes[top].mem_ratio, m->nodes[top].addr);
	act(m, s, c, now, d, SP_AS_SCALE_IN);
	return 1;
}

void sp_as_decide(const sp_metrics *m, sp_as_state *s, const sp_as_config *c,
		  const sp_as_clock *now, sp_as_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->primaries = d->target = m->primaries;
	if (m->members > s->expected && m->unreadable == 0 && m->ngaps == 0)
		s->expected = m->members; /* learned, or grown by others */
	/* Repairing gossip is not scaling: it goes on while frozen (a
	 * forgotten primary leaves its slots uncovered until it is back). */
	if (rule_fail(m, s, d)) {
		if (m->unreadable == 0 && m->ngaps > 0)
			rule_gossip(m, s, c, now, d);
		return;
	}
	if (rule_missing(m, s, d) || rule_gossip(m, s, c, now, d))
		return;
	if (rule_memory(m, s, c, now, d) || rule_latency(m, s, c, now, d))
		return;
	rule_low(m, s, c, now, d);
}

void sp_as_acted(sp_as_state *s, double t)
{
	s->last_action = t;
	s->high_since = s->low_since = s->lat_since = -1;
	s->expected = 0; /* the members change: learn them again */
}
