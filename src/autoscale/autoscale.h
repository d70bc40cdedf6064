/*
 * autoscale.h - the autoscaler: a daemon that watches a cluster, decides
 * by rules and acts through the same workflows (expand, shrink) and
 * journal as the commands.
 *
 * Three parts, so that the rules are tested without Redis:
 *   - the configuration, read from an INI file (libinih) and validated;
 *     every error names the file's line (autoscale_config.c);
 *   - the decision, a pure function of a metrics snapshot, the rule
 *     state, the configuration and the clock (autoscale_rules.c);
 *   - the loop: collect, decide, log, act, publish for HTTP
 *     (autoscale.c, autoscale_web.c).
 */
#ifndef SP_AUTOSCALE_H
#define SP_AUTOSCALE_H

#include <signal.h>

#include "autoscale/metrics.h"
#include "ops/scale.h"

#define SP_AS_PATH_MAX 1024

typedef enum sp_as_source {
	SP_AS_SRC_NODES,
	SP_AS_SRC_PROMETHEUS
} sp_as_source;

/* The bearer token of the HTTP endpoints when the INI sets none. */
#define SP_AS_TOKEN_ENV "SLOTPILOT_HTTP_TOKEN"

typedef struct sp_as_config {
	/* [daemon] */
	double interval_s;
	int dry_run;
	char listen[SP_ADDR_MAX];
	char http_token[256]; /* "": SLOTPILOT_HTTP_TOKEN, or none */
	char journal_dir[SP_AS_PATH_MAX];
	char alert_command[SP_AS_PATH_MAX];
	int maint_start, maint_end; /* minutes after local midnight; -1 */
	int maint_all;		    /* 1: the window holds all scaling */
	/* [cluster]: how the daemon reaches the nodes, TLS as redis-cli's
	 * --tls options (the command line's --tls wins over all of it) */
	int tls, tls_insecure;
	char tls_cacert[SP_AS_PATH_MAX], tls_cacertdir[SP_AS_PATH_MAX];
	char tls_cert[SP_AS_PATH_MAX], tls_key[SP_AS_PATH_MAX];
	char tls_sni[SP_HOST_MAX];
	/* [source] */
	sp_as_source source;
	char prom_url[512];
	char prom_label[64];
	char prom_window[16];
	int prom_timeout_ms;
	/* [limits] */
	int min_primaries, max_primaries;
	int expected_nodes; /* 0: the members seen when it started */
	double cooldown_s;
	/* [scale_out] */
	double out_ratio;
	double out_for_s;
	int out_replicas; /* per new primary; -1: as the cluster has */
	int match_maxmemory;
	/* [scale_in] */
	double in_ratio;
	double in_ops; /* 0: ops are not looked at */
	double in_for_s;
	double hysteresis;
	/* [latency] */
	double lat_p95_ms; /* 0: the rule is off */
	double lat_for_s;
	int lat_add_replicas;
	int max_replicas;
	/* [gossip] */
	int gossip_repair;
	double gossip_grace_s;
	double gossip_alert_s;
	/* [provisioner] */
	sp_prov_kind prov;
	char local_dir[SP_AS_PATH_MAX];
	char provision_cmd[SP_AS_PATH_MAX];
	char deprovision_cmd[SP_AS_PATH_MAX];
	/* [engine] */
	int window, parallel;
	sp_rate_unit rate_unit;
	double rate;
	int wait_s;
	/* the latency guard of its moves: as --max-p99-ms,
	 * --max-latency-increase, --fast (0: the default budget) */
	double max_p99_ms, max_increase_pct;
	int fast;
} sp_as_config;

/* The defaults: the guides' table (see examples/autoscale.ini). */
void sp_as_config_defaults(sp_as_config *c);

/*
 * Reads the INI file at path over the defaults in *c and validates it.
 * SP_ERR_USAGE for an unknown section or key, a value out of range or
 * of the wrong form, contradictory limits (min_primaries above
 * max_primaries, a scale-in watermark not below the scale-out one...),
 * a missing value that another one needs (a [cluster] tls_* key without
 * tls = true); the message starts with
 * "path:LINE:". SP_ERR_NOTFOUND when the file cannot be read.
 */
sp_err sp_as_config_load(const char *path, sp_as_config *c, sp_error *err);

/* The same over a text in memory (tests); path names it in messages. */
sp_err sp_as_config_parse(const char *text, const char *path, sp_as_config *c,
			  sp_error *err);

typedef enum sp_as_action {
	SP_AS_NONE = 0,
	SP_AS_SCALE_OUT,    /* add a primary with replicas, rebalance */
	SP_AS_SCALE_IN,	    /* remove a primary with its replicas */
	SP_AS_ADD_REPLICAS, /* one more replica for every primary */
	SP_AS_REPAIR	    /* MEET forgotten members from their peers */
} sp_as_action;

/* The rule state carried from one decision to the next. */
typedef struct sp_as_state {
	double high_since; /* memory above the scale-out ratio since; <0 no */
	double low_since;  /* every primary below the watermark since */
	double lat_since;  /* latency above the threshold since */
	double gap_since;  /* a gossip gap since */
	double missing_since; /* fewer members than expected since */
	double last_repair;   /* the last MEETs */
	double last_action;   /* end of the last scaling; <0 never */
	int expected;	      /* members expected (learned or configured) */
	int frozen;	      /* the cluster has failed slots */
	int alerted;	      /* bits: alerts already sent this episode */
} sp_as_state;

/* A fresh state: nothing sustained, no action yet. */
void sp_as_state_init(sp_as_state *s);

#define SP_AS_MAX_ALERTS 4

typedef struct sp_as_alert {
	const char *code; /* "cluster-fail", "metrics-missing", ... */
	char msg[384];
} sp_as_alert;

typedef struct sp_as_decision {
	sp_as_action action;
	const char *rule;    /* what fired: "memory-high", "low-load", ... */
	const char *held_by; /* why a fired rule does not act, or NULL */
	int primaries;	     /* now */
	int target;	     /* primaries after the action */
	/* the values that fired it */
	char node[SP_ADDR_MAX];
	double value, threshold, sustained_s;
	char reason[384];
	sp_as_alert alerts[SP_AS_MAX_ALERTS];
	int nalerts;
} sp_as_decision;

/* Minutes after local midnight and seconds on a steady clock. */
typedef struct sp_as_clock {
	double t;
	int minute;
} sp_as_clock;

/*
 * Decides what to do about snapshot m under config c at time now, and
 * advances the rule state s. Pure: no I/O, no clock of its own. Order:
 * failed slots freeze all scaling (alert); members whose metrics are
 * missing forbid acting (alert); gossip gaps are repaired, then alerted
 * when they last; then memory pressure (scale out), latency (replicas),
 * low load (scale in), each after its sustained window and subject to
 * the cooldown, the primary limits and the maintenance window.
 */
void sp_as_decide(const sp_metrics *m, sp_as_state *s, const sp_as_config *c,
		  const sp_as_clock *now, sp_as_decision *d);

/*
 * Records that a scaling action ended at t (or would have, in a dry
 * run): the cooldown starts, the sustained windows start over, and the
 * expected member count is learned again.
 */
void sp_as_acted(sp_as_state *s, double t);

/* "scale-out", "scale-in", "add-replicas", "repair", "none". */
const char *sp_as_action_name(sp_as_action a);

typedef struct sp_as_run {
	const char *host; /* entry node */
	int port;
	const sp_conn_opts *conn;
	const sp_as_config *cfg;
	volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
	FILE *events;	   /* JSON lines: decisions, alerts, actions */
	const sp_log *log; /* the workflows' progress lines */
} sp_as_run;

/*
 * Runs the daemon until *r->stop is set. Serves HTTP on cfg->listen when
 * given. Before the first decision it finishes the operation a previous
 * run left unfinished (its state file in the journal directory). Returns
 * SP_OK after a clean stop; SP_ERR_INTERRUPTED when the stop came in the
 * middle of an operation (the next run resumes it); SP_ERR_CLUSTER when
 * another daemon holds the journal directory; the HTTP server's error.
 */
sp_err sp_autoscale(const sp_as_run *r, sp_error *err);

#endif
