/*
 * test_autoscale.c - the autoscaler without Redis: its configuration
 * file (libinih, every error naming its line), the pure decision over
 * synthetic snapshots and a steady clock given by the test, and the pure
 * parsers of what the nodes and Prometheus answer. Tests run from the
 * repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autoscale/autoscale.h"
#include "autoscale/metrics.h"

/* ------------------------------------------------------------------ */
/* configuration */

static sp_err parse(const char *text, sp_as_config *c, sp_error *err)
{
	sp_as_config_defaults(c);
	memset(err, 0, sizeof(*err));
	return sp_as_config_parse(text, "t.ini", c, err);
}

static void assert_refused_at(const char *text, const char *where,
			      const char *what)
{
	sp_as_config c;
	sp_error err;

	assert_int_equal(parse(text, &c, &err), SP_ERR_USAGE);
	if (strstr(err.msg, where) == NULL || strstr(err.msg, what) == NULL)
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg,
			 where, what);
}

static void test_config_example_file_parses_to_the_defaults(void **st)
{
	sp_as_config c, d;
	sp_error err = {0};

	(void)st;
	sp_as_config_defaults(&c);
	sp_as_config_defaults(&d);
	assert_int_equal(sp_as_config_load("examples/autoscale.ini", &c, &err),
			 SP_OK);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_config_reads_every_kind_of_value(void **st)
{
	sp_as_config c;
	sp_error err;

	(void)st;
	assert_int_equal(parse("[daemon]\ninterval = 500ms\ndry_run = yes\n"
			       "maintenance_window = 22:30-04:00\n"
			       "maintenance_scope = all\n"
			       "[limits]\ncooldown = 5m\nmin_primaries = 4\n"
			       "[source]\nsource = prometheus\n"
			       "prometheus_url = http://127.0.0.1:9090\n"
			       "[provisioner]\nprovisioner = exec\n"
			       "provision_cmd = ./up.sh ; inline comment\n"
			       "[engine]\nrate = 200slots\n"
			       "max_p99_ms = 2.5\n",
			       &c, &err),
			 SP_OK);
	assert_true(c.interval_s > 0.499 && c.interval_s < 0.501);
	assert_int_equal(c.dry_run, 1);
	assert_int_equal(c.maint_start, 22 * 60 + 30);
	assert_int_equal(c.maint_end, 4 * 60);
	assert_int_equal(c.maint_all, 1);
	assert_true(c.cooldown_s == 300);
	assert_int_equal(c.min_primaries, 4);
	assert_int_equal(c.source, SP_AS_SRC_PROMETHEUS);
	assert_int_equal(c.prov, SP_PROV_EXEC);
	assert_string_equal(c.provision_cmd, "./up.sh");
	assert_int_equal(c.rate_unit, SP_RATE_SLOTS);
	assert_true(c.max_p99_ms == 2.5 && !c.fast);
}

static void test_config_unknown_key_is_refused_with_its_line(void **st)
{
	(void)st;
	assert_refused_at("[daemon]\ninterval = 1\n\nintervall = 2\n",
			  "t.ini:4:", "unknown key \"intervall\"");
}

static void test_config_unknown_section_is_refused(void **st)
{
	(void)st;
	assert_refused_at("; c\n[scaleout]\nmemory_ratio = 0.8\n",
			  "t.ini:3:", "unknown section [scaleout]");
	assert_refused_at("interval = 1\n", "t.ini:1:", "need a section");
}

static void test_config_out_of_range_is_refused_with_its_line(void **st)
{
	(void)st;
	assert_refused_at("[scale_out]\nmemory_ratio = 1.5\n",
			  "t.ini:2:", "\"1.5\" is not a number from 0.01 to 1");
	assert_refused_at("[daemon]\ninterval = 0\n", "t.ini:2:", "interval");
	assert_refused_at("[limits]\nmin_primaries = 2\n",
			  "t.ini:2:", "from 3 to 1000");
	assert_refused_at("[limits]\nmax_primaries = 4.5\n",
			  "t.ini:2:", "whole number");
}

static void test_config_bad_forms_are_refused(void **st)
{
	(void)st;
	assert_refused_at("[limits]\ncooldown = 10x\n", "t.ini:2:", "10x");
	assert_refused_at("[daemon]\ndry_run = maybe\n",
			  "t.ini:2:", "true or false");
	assert_refused_at("[daemon]\nmaintenance_window = 2-4\n",
			  "t.ini:2:", "02:00-04:00");
	assert_refused_at("[daemon]\nlisten = nowhere\n",
			  "t.ini:2:", "HOST:PORT");
	assert_refused_at("[source]\nsource = graphite\n",
			  "t.ini:2:", "nodes or prometheus");
	assert_refused_at("[engine]\nrate = fast\n", "t.ini:2:", "100slots");
	assert_refused_at("[daemon]\nno equals sign\n",
			  "t.ini:2:", "key = value");
}

static void test_config_min_above_max_is_refused(void **st)
{
	(void)st;
	assert_refused_at("[limits]\nmax_primaries = 4\nmin_primaries = 6\n",
			  "t.ini:3:",
			  "min_primaries 6 is above max_primaries "
			  "4 (line 2)");
}

static void test_config_watermarks_that_cross_are_refused(void **st)
{
	(void)st;
	assert_refused_at("[scale_in]\nmemory_ratio = 0.5\n[scale_out]\n"
			  "memory_ratio = 0.5\n",
			  "t.ini:4:", "would undo each other");
	assert_refused_at("[scale_in]\nmemory_ratio = 0.7\n",
			  "t.ini:2:", "would undo each other");
}

static void test_config_values_other_keys_need_are_required(void **st)
{
	(void)st;
	assert_refused_at("[source]\n\nsource = prometheus\n",
			  "t.ini:3:", "needs prometheus_url");
	assert_refused_at("[provisioner]\nprovisioner = exec\n",
			  "t.ini:2:", "needs provision_cmd");
	assert_refused_at("[engine]\nfast = true\nmax_p99_ms = 2\n",
			  "t.ini:2:", "latency guard off");
	assert_refused_at(
	    "[engine]\nmax_p99_ms = 2\nmax_latency_increase = 50\n",
	    "t.ini:3:", "two budgets");
	assert_refused_at("[engine]\nmax_p99_ms = 0\n",
			  "t.ini:2:", "max_p99_ms");
	assert_refused_at("[latency]\nadd_replicas = true\n",
			  "t.ini:2:", "needs p95_ms");
}

static void test_config_cluster_tls_keys_are_read(void **st)
{
	sp_as_config c;
	sp_error err;

	(void)st;
	assert_int_equal(parse("[cluster]\ntls = yes\n"
			       "tls_cacert = /etc/tls/ca.crt\n"
			       "tls_cacertdir = /etc/ssl/certs\n"
			       "tls_cert = /etc/tls/client.crt\n"
			       "tls_key = /etc/tls/client.key\n"
			       "tls_sni = redis.example.com\n"
			       "tls_insecure = on\n",
			       &c, &err),
			 SP_OK);
	assert_int_equal(c.tls, 1);
	assert_string_equal(c.tls_cacert, "/etc/tls/ca.crt");
	assert_string_equal(c.tls_cacertdir, "/etc/ssl/certs");
	assert_string_equal(c.tls_cert, "/etc/tls/client.crt");
	assert_string_equal(c.tls_key, "/etc/tls/client.key");
	assert_string_equal(c.tls_sni, "redis.example.com");
	assert_int_equal(c.tls_insecure, 1);
	assert_int_equal(parse("[cluster]\ntls = false\n", &c, &err), SP_OK);
	assert_int_equal(c.tls, 0);
	assert_string_equal(c.tls_cacert, "");
}

static void test_config_cluster_tls_keys_need_tls(void **st)
{
	(void)st;
	assert_refused_at("[cluster]\n\ntls_cacert = /ca.crt\n",
			  "t.ini:3:", "tls_cacert needs tls = true");
	assert_refused_at("[cluster]\ntls = no\ntls_insecure = yes\n",
			  "t.ini:3:", "tls_insecure needs tls = true");
	assert_refused_at("[cluster]\ntls = yes\ntls_key = /k\n",
			  "t.ini:3:", "tls_cert and tls_key go together");
	assert_refused_at("[cluster]\ntls = maybe\n",
			  "t.ini:2:", "true or false");
	assert_refused_at("[cluster]\ntls_ca = /ca.crt\n",
			  "t.ini:2:", "unknown key \"tls_ca\"");
}

static void test_config_long_line_is_refused(void **st)
{
	char text[600];

	(void)st;
	snprintf(text, sizeof(text), "[daemon]\nalert_command = %0300d\n", 7);
	assert_refused_at(text, "t.ini:2:", "longer than 196");
}

static void test_config_missing_file_is_not_found(void **st)
{
	sp_as_config c;
	sp_error err = {0};

	(void)st;
	sp_as_config_defaults(&c);
	assert_int_equal(sp_as_config_load("/nonexistent/a.ini", &c, &err),
			 SP_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/a.ini"));
}

/* ------------------------------------------------------------------ */
/* decisions */

#define MAXN 16

typedef struct fixture {
	sp_metrics m;
	sp_node_metrics nodes[MAXN];
	sp_gossip_gap gaps[4];
	sp_as_config c;
	sp_as_state s;
	sp_as_decision d;
	sp_as_clock now;
} fixture;

/* n healthy primaries with one replica each, memory ratio r. */
static void cluster(fixture *f, int n, double r)
{
	int i;

	memset(f, 0, sizeof(*f));
	sp_as_config_defaults(&f->c);
	f->c.out_for_s = 10, f->c.in_for_s = 60, f->c.cooldown_s = 100;
	sp_as_state_init(&f->s);
	f->now.t = 1000, f->now.minute = 12 * 60;
	for (i = 0; i < 2 * n; i++) {
		sp_node_metrics *p = &f->nodes[i];
		snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%d", 7000 + i);
		snprintf(p->id, sizeof(p->id), "%040d", i);
		p->reachable = p->have_load = p->member = p->state_ok = 1;
		p->primary = i < n;
		p->replicas = i < n;
		p->maxmemory = 1000;
		p->used_memory = (long long)(r * 1000);
		p->mem_ratio = r;
		p->ops_per_sec = 100;
		p->latency_p95_us = 200;
		p->known_nodes = 2 * n;
	}
	f->m.nodes = f->nodes;
	f->m.n = (size_t)(2 * n);
	f->m.members = 2 * n;
	f->m.primaries = n;
	f->m.min_replicas = 1;
	f->m.cluster_ok = 1;
}

static void set_ratio(fixture *f, int node, double r)
{
	f->nodes[node].mem_ratio = r;
	f->nodes[node].used_memory = (long long)(r * 1000);
}

/* Runs the decision at time t. */
static const sp_as_decision *at(fixture *f, double t)
{
	f->now.t = t;
	sp_as_decide(&f->m, &f->s, &f->c, &f->now, &f->d);
	return &f->d;
}

static void test_memory_pressure_not_yet_sustained_does_nothing(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.5);
	set_ratio(&f, 1, 0.8);
	assert_int_equal(at(&f, 1000)->action, SP_AS_NONE);
	assert_null(f.d.rule);
	assert_int_equal(at(&f, 1009)->action, SP_AS_NONE);
}

static void test_sustained_memory_pressure_scales_out_by_one(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.5);
	set_ratio(&f, 1, 0.8);
	at(&f, 1000);
	assert_int_equal(at(&f, 1010)->action, SP_AS_SCALE_OUT);
	assert_string_equal(f.d.rule, "memory-high");
	assert_int_equal(f.d.target, 4);
	assert_string_equal(f.d.node, "127.0.0.1:7001");
	assert_true(f.d.value > 0.79 && f.d.value < 0.81);
	assert_true(f.d.sustained_s >= 10);
	assert_non_null(strstr(f.d.reason, "800 of 1000 bytes"));
}

static void test_cooldown_holds_a_second_scale_out(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.8);
	at(&f, 1000);
	assert_int_equal(at(&f, 1010)->action, SP_AS_SCALE_OUT);
	sp_as_acted(&f.s, 1020);
	f.m.primaries = 4;
	at(&f, 1030);
	assert_int_equal(at(&f, 1045)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "cooldown");
	at(&f, 1125);
	assert_int_equal(at(&f, 1135)->action, SP_AS_SCALE_OUT);
}

static void test_hysteresis_band_keeps_the_window_running(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.8);
	at(&f, 1000);
	set_ratio(&f, 0, 0.72); /* within 0.05 below 0.75: band */
	assert_int_equal(at(&f, 1005)->action, SP_AS_NONE);
	set_ratio(&f, 0, 0.8);
	assert_int_equal(at(&f, 1010)->action, SP_AS_SCALE_OUT);
	/* below the band: the window starts over */
	cluster(&f, 3, 0.8);
	at(&f, 1000);
	set_ratio(&f, 0, 0.6), set_ratio(&f, 1, 0.6), set_ratio(&f, 2, 0.6);
	at(&f, 1005);
	set_ratio(&f, 0, 0.8);
	assert_int_equal(at(&f, 1010)->action, SP_AS_NONE);
	assert_int_equal(at(&f, 1020)->action, SP_AS_SCALE_OUT);
}

static void test_max_primaries_holds_scale_out_and_alerts_once(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.9);
	f.c.max_primaries = 3;
	at(&f, 1000);
	assert_int_equal(at(&f, 1010)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "max-primaries");
	assert_int_equal(f.d.nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "max-primaries");
	assert_int_equal(at(&f, 1011)->nalerts, 0);
}

static void test_failed_slots_freeze_scaling_with_one_alert(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.9);
	at(&f, 1000);
	f.m.slots_fail = 5461;
	f.m.cluster_ok = 0;
	assert_int_equal(at(&f, 1010)->action, SP_AS_NONE);
	assert_string_equal(f.d.rule, "cluster-fail");
	assert_string_equal(f.d.held_by, "frozen");
	assert_int_equal(f.d.nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "cluster-fail");
	assert_int_equal(f.s.frozen, 1);
	assert_int_equal(at(&f, 1020)->nalerts, 0);
	/* healed: scaling comes back, and a new failure alerts again */
	f.m.slots_fail = 0, f.m.cluster_ok = 1;
	assert_int_equal(at(&f, 1030)->action, SP_AS_SCALE_OUT);
	assert_int_equal(f.s.frozen, 0);
	f.m.cluster_ok = 0;
	assert_int_equal(at(&f, 1040)->nalerts, 1);
}

static void test_missing_metrics_alert_and_never_act(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.9);
	at(&f, 1000);
	f.nodes[2].have_load = 0;
	snprintf(f.nodes[2].err, sizeof(f.nodes[2].err), "timeout");
	f.m.unreadable = 1;
	assert_int_equal(at(&f, 1010)->action, SP_AS_NONE);
	assert_string_equal(f.d.rule, "metrics-missing");
	assert_int_equal(f.d.nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "metrics-missing");
	assert_non_null(strstr(f.d.alerts[0].msg, "127.0.0.1:7002"));
	assert_non_null(strstr(f.d.alerts[0].msg, "timeout"));
}

static void test_gossip_gap_is_repaired_after_grace_then_alerted(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.5);
	f.c.gossip_grace_s = 5, f.c.gossip_alert_s = 60;
	at(&f, 1000);
	snprintf(f.gaps[0].from, sizeof(f.gaps[0].from), "127.0.0.1:7000");
	snprintf(f.gaps[0].to_addr, sizeof(f.gaps[0].to_addr),
		 "127.0.0.1:7005");
	f.m.gaps = f.gaps, f.m.ngaps = 1;
	assert_int_equal(at(&f, 1001)->action, SP_AS_NONE);
	assert_string_equal(f.d.rule, "gossip-gap");
	assert_int_equal(at(&f, 1006)->action, SP_AS_REPAIR);
	assert_string_equal(f.d.node, "127.0.0.1:7005");
	assert_int_equal(at(&f, 1008)->action, SP_AS_NONE); /* not yet again */
	assert_int_equal(at(&f, 1011)->action, SP_AS_REPAIR);
	assert_int_equal(at(&f, 1061)->nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "gossip-unresolved");
	f.m.ngaps = 0;
	assert_null(at(&f, 1062)->rule);
}

static void test_gossip_repair_goes_on_while_frozen(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.9);
	f.c.gossip_grace_s = 0;
	f.m.gaps = f.gaps, f.m.ngaps = 1;
	f.m.cluster_ok = 0;
	assert_int_equal(at(&f, 1000)->action, SP_AS_REPAIR);
	assert_int_equal(f.d.nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "cluster-fail");
	assert_int_equal(f.s.frozen, 1);
}

static void test_gossip_gap_holds_scaling(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.9);
	f.c.gossip_repair = 0;
	at(&f, 1000);
	f.m.gaps = f.gaps, f.m.ngaps = 1;
	assert_int_equal(at(&f, 1020)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "membership");
}

static void test_fewer_members_than_expected_alerts(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.5);
	f.c.expected_nodes = 7;
	assert_int_equal(at(&f, 1000)->action, SP_AS_NONE);
	assert_string_equal(f.d.rule, "nodes-missing");
	assert_int_equal(at(&f, 1000 + f.c.gossip_alert_s)->nalerts, 1);
	assert_string_equal(f.d.alerts[0].code, "nodes-missing");
}

static void test_sustained_low_load_scales_in_above_the_minimum(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 4, 0.1);
	at(&f, 1000);
	assert_int_equal(at(&f, 1059)->action, SP_AS_NONE);
	assert_int_equal(at(&f, 1060)->action, SP_AS_SCALE_IN);
	assert_int_equal(f.d.target, 3);
	cluster(&f, 3, 0.1);
	at(&f, 1000);
	assert_int_equal(at(&f, 1060)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "min-primaries");
}

static void test_one_busy_primary_prevents_scale_in(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 4, 0.1);
	f.c.in_ops = 500;
	f.nodes[3].ops_per_sec = 900;
	at(&f, 1000);
	assert_int_equal(at(&f, 1100)->action, SP_AS_NONE);
	set_ratio(&f, 3, 0.32); /* only memory counts now, and it is high */
	f.c.in_ops = 0;
	at(&f, 1200);
	assert_int_equal(at(&f, 1300)->action, SP_AS_NONE);
}

static void test_maintenance_window_holds_scale_in_only(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 4, 0.1);
	f.c.maint_start = 2 * 60, f.c.maint_end = 4 * 60;
	at(&f, 1000);
	assert_int_equal(at(&f, 1100)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "maintenance-window");
	f.now.minute = 3 * 60;
	assert_int_equal(at(&f, 1101)->action, SP_AS_SCALE_IN);
	cluster(&f, 3, 0.9);
	f.c.maint_start = 2 * 60, f.c.maint_end = 4 * 60;
	at(&f, 1000);
	assert_int_equal(at(&f, 1010)->action, SP_AS_SCALE_OUT);
	f.c.maint_all = 1;
	assert_int_equal(at(&f, 1011)->action, SP_AS_NONE);
}

static void test_latency_adds_replicas_only_when_configured(void **st)
{
	fixture f;

	(void)st;
	cluster(&f, 3, 0.5);
	f.c.lat_p95_ms = 1, f.c.lat_for_s = 10;
	f.nodes[0].latency_p95_us = 5000;
	at(&f, 1000);
	assert_int_equal(at(&f, 1010)->action, SP_AS_NONE);
	assert_string_equal(f.d.rule, "latency-high");
	assert_string_equal(f.d.held_by, "not-configured");
	f.c.lat_add_replicas = 1;
	assert_int_equal(at(&f, 1011)->action, SP_AS_ADD_REPLICAS);
	f.m.min_replicas = 2;
	assert_int_equal(at(&f, 1012)->action, SP_AS_NONE);
	assert_string_equal(f.d.held_by, "max-replicas");
}

/* ------------------------------------------------------------------ */
/* parsers */

static void test_info_gives_memory_load_and_data_p95(void **st)
{
	sp_node_metrics n;
	const char *info =
	    "# Memory\r\nused_memory:750\r\nmaxmemory:1000\r\n"
	    "# Stats\r\ntotal_commands_processed:42\r\n"
	    "instantaneous_ops_per_sec:17\r\n# Clients\r\n"
	    "connected_clients:3\r\n# CPU\r\nused_cpu_sys:1.5\r\n"
	    "used_cpu_user:0.25\r\n# Latencystats\r\n"
	    "latency_percentiles_usec_cluster|nodes:p50=90.1,p99=900.0,"
	    "p99.9=950.0\r\n"
	    "latency_percentiles_usec_get:p50=1.0,p99=12.5,p99.9=20.0\r\n"
	    "latency_percentiles_usec_set:p50=1.0,p95=7.0,p99=30.0\r\n";

	(void)st;
	memset(&n, 0, sizeof(n));
	sp_metrics_parse_info(&n, info);
	assert_int_equal(n.used_memory, 750);
	assert_true(n.mem_ratio > 0.749 && n.mem_ratio < 0.751);
	assert_int_equal(n.commands, 42);
	assert_true(n.ops_per_sec == 17);
	assert_int_equal(n.clients, 3);
	assert_true(n.cpu_seconds > 1.74 && n.cpu_seconds < 1.76);
	/* get: no p95, p99 stands in; set: p95; cluster|nodes ignored */
	assert_true(n.latency_p95_us > 12.4 && n.latency_p95_us < 12.6);
}

static void test_prometheus_vector_is_parsed_by_label(void **st)
{
	const char *ok =
	    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	    "\"result\":[{\"metric\":{\"instance\":\"redis://127.0.0.1:7000\"},"
	    "\"value\":[1700000000.1,\"1234\"]},{\"metric\":{\"instance\":"
	    "\"127.0.0.1:7001\"},\"value\":[1700000000.1,\"5.5\"]}]}}";
	sp_prom_sample *s = NULL;
	sp_error err = {0};
	size_t n = 0;

	(void)st;
	assert_int_equal(sp_prom_parse_vector(ok, "instance", &s, &n, &err),
			 SP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].label, "redis://127.0.0.1:7000");
	assert_true(s[0].value == 1234 && s[1].value == 5.5);
	free(s);
	assert_int_equal(sp_prom_parse_vector("{\"status\":\"error\","
					      "\"error\":\"bad query\"}",
					      "instance", &s, &n, &err),
			 SP_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "bad query"));
	assert_int_equal(
	    sp_prom_parse_vector("<html>", "instance", &s, &n, &err),
	    SP_ERR_PROTOCOL);
	assert_int_equal(
	    sp_prom_parse_vector("{\"status\":\"success\",\"data\":{"
				 "\"resultType\":\"vector\",\"result\":[{"
				 "\"metric\":{},\"value\":[1,\"x\"]}]}}",
				 "instance", &s, &n, &err),
	    SP_ERR_PROTOCOL);
	assert_null(s);
}

static void test_prometheus_url_password_is_redacted(void **st)
{
	static const char *const cases[][2] = {
	    {"http://127.0.0.1:9090", "http://127.0.0.1:9090"},
	    {"http://u:s3cret@prom:9090/x", "http://u:***@prom:9090/x"},
	    {"https://tok3n@prom", "https://***@prom"},
	    {"http://u:p@ss@prom/a@b", "http://u:***@prom/a@b"},
	    {"http://prom/path?u=a@b", "http://prom/path?u=a@b"},
	};
	char out[128];

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sp_prom_redact_url(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
}

static void test_exposition_escapes_label_values(void **st)
{
	sp_buf b = {0};
	const char *l[] = {"node", "a\"b\\c\nd", NULL};

	(void)st;
	sp_prom_family(&b, "x_bytes", "gauge", "help");
	sp_prom_sample_write(&b, "x_bytes", l, 3);
	sp_prom_sample_write(&b, "x_bytes", NULL, 0.25);
	assert_string_equal(b.s, "# HELP x_bytes help\n# TYPE x_bytes gauge\n"
				 "x_bytes{node=\"a\\\"b\\\\c\\nd\"} 3\n"
				 "x_bytes 0.25\n");
	sp_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_example_file_parses_to_the_defaults),
	    cmocka_unit_test(test_config_reads_every_kind_of_value),
	    cmocka_unit_test(test_config_unknown_key_is_refused_with_its_line),
	    cmocka_unit_test(test_config_unknown_section_is_refused),
	    cmocka_unit_test(test_config_out_of_range_is_refused_with_its_line),
	    cmocka_unit_test(test_config_bad_forms_are_refused),
	    cmocka_unit_test(test_config_min_above_max_is_refused),
	    cmocka_unit_test(test_config_watermarks_that_cross_are_refused),
	    cmocka_unit_test(test_config_values_other_keys_need_are_required),
	    cmocka_unit_test(test_config_cluster_tls_keys_are_read),
	    cmocka_unit_test(test_config_cluster_tls_keys_need_tls),
	    cmocka_unit_test(test_config_long_line_is_refused),
	    cmocka_unit_test(test_config_missing_file_is_not_found),
	    cmocka_unit_test(
		test_memory_pressure_not_yet_sustained_does_nothing),
	    cmocka_unit_test(test_sustained_memory_pressure_scales_out_by_one),
	    cmocka_unit_test(test_cooldown_holds_a_second_scale_out),
	    cmocka_unit_test(test_hysteresis_band_keeps_the_window_running),
	    cmocka_unit_test(
		test_max_primaries_holds_scale_out_and_alerts_once),
	    cmocka_unit_test(test_failed_slots_freeze_scaling_with_one_alert),
	    cmocka_unit_test(test_missing_metrics_alert_and_never_act),
	    cmocka_unit_test(
		test_gossip_gap_is_repaired_after_grace_then_alerted),
	    cmocka_unit_test(test_gossip_repair_goes_on_while_frozen),
	    cmocka_unit_test(test_gossip_gap_holds_scaling),
	    cmocka_unit_test(test_fewer_members_than_expected_alerts),
	    cmocka_unit_test(
		test_sustained_low_load_scales_in_above_the_minimum),
	    cmocka_unit_test(test_one_busy_primary_prevents_scale_in),
	    cmocka_unit_test(test_maintenance_window_holds_scale_in_only),
	    cmocka_unit_test(test_latency_adds_replicas_only_when_configured),
	    cmocka_unit_test(test_info_gives_memory_load_and_data_p95),
	    cmocka_unit_test(test_prometheus_vector_is_parsed_by_label),
	    cmocka_unit_test(test_prometheus_url_password_is_redacted),
	    cmocka_unit_test(test_exposition_escapes_label_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
