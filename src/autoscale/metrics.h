/*
 * metrics.h - what the autoscaler sees: one snapshot of the load and the
 * health of every node, read from the nodes themselves (INFO, CLUSTER
 * INFO, CLUSTER NODES) or, for the load, from a Prometheus server that
 * scrapes redis_exporter.
 *
 * A snapshot is a plain value. Building it from a gathered cluster and
 * from reply texts is pure (unit-tested); only sp_metrics_collect and
 * sp_metrics_from_prometheus do I/O. A node whose load cannot be read is
 * kept with have_load = 0 and the reason, never with made-up numbers:
 * the rules refuse to act on missing data.
 *
 * The Prometheus text writer (sp_prom_*) is here too, so that everything
 * that names a metric lives in one place.
 */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stdint.h>

#include "base/buf.h"
#include "model/cluster.h"

typedef struct sp_node_metrics {
	char host[SP_HOST_MAX];
	int port;
	char addr[SP_ADDR_MAX];
	char id[SP_ID_LEN + 1];
	char master_id[SP_ID_LEN + 1]; /* replicas: their primary; else "" */
	int reachable;		       /* answered CLUSTER NODES and INFO */
	int have_load;		       /* the load fields below were read */
	char err[SP_ERRMSG_MAX];       /* why not, when either is 0 */
	int primary;
	int member;	       /* belongs to the cluster (not a lone node) */
	int state_ok;	       /* cluster_state:ok */
	long long known_nodes; /* cluster_known_nodes */
	long long slots_fail;  /* cluster_slots_fail */
	int slots;	       /* slots it claims */
	int replicas;	       /* primaries: replicas that name it */
	long long keys;
	long long used_memory;
	long long maxmemory;
	double mem_ratio;      /* used / max; -1 when maxmemory is 0 */
	long long commands;    /* total_commands_processed */
	double ops_per_sec;    /* -1 unknown */
	double cpu_seconds;    /* used_cpu_sys + used_cpu_user */
	double cpu_pct;	       /* over the last interval; -1 unknown */
	long long clients;     /* connected_clients; -1 unknown */
	double latency_p95_us; /* data commands' p95 (see .c); -1 unknown */
} sp_node_metrics;

/* A node that does not know a member of the cluster: MEET `to` from it. */
typedef struct sp_gossip_gap {
	char from[SP_ADDR_MAX];
	char to_host[SP_HOST_MAX];
	int to_port;
	int to_bus; /* its bus port, from its own myself line; 0 if unknown */
	char to_addr[SP_ADDR_MAX];
} sp_gossip_gap;

typedef struct sp_metrics {
	sp_node_metrics *nodes; /* owned */
	size_t n;
	sp_gossip_gap *gaps; /* owned */
	size_t ngaps;
	int members;	      /* nodes that belong to the cluster */
	int primaries;	      /* reachable primaries that own slots or not */
	int min_replicas;     /* fewest replicas of any primary */
	int cluster_ok;	      /* every reachable member says cluster_state:ok */
	long long slots_fail; /* highest cluster_slots_fail reported */
	int unreadable;	      /* members whose metrics are missing */
	int16_t owner[SP_SLOTS]; /* index into nodes, or -1 */
	char source[16];	 /* "nodes" or "prometheus" */
	double taken_at;	 /* wall clock, seconds */
} sp_metrics;

/* Releases what *m owns and leaves it empty; accepts NULL. */
void sp_metrics_free(sp_metrics *m);

/* Deep copy of src into *dst (which must be empty; caller frees it with
 * sp_metrics_free). SP_ERR_OOM. */
sp_err sp_metrics_copy(sp_metrics *dst, const sp_metrics *src, sp_error *err);

/*
 * Builds *out (empty on entry) from a gathered cluster: roles, slots,
 * replicas, keys, memory, cluster health, which nodes are members (a
 * reachable node that knows no other node and owns no slot is not), and
 * the gossip gaps between reachable members. The load fields are set
 * from INFO when the gather read it. Pure. Caller frees *out with
 * sp_metrics_free.
 */
sp_err sp_metrics_from_cluster(const sp_cluster *c, sp_metrics *out,
			       sp_error *err);

/*
 * Fills the load fields of n from an INFO text holding the stats, cpu,
 * clients and latencystats sections. Latency is the highest p95 over
 * data commands (admin commands such as CLUSTER, INFO and MIGRATE are
 * left out); a node that reports no p95 gives its next higher
 * percentile (Redis reports p50, p99, p99.9 unless configured). Pure.
 */
void sp_metrics_parse_info(sp_node_metrics *n, const char *info);

/*
 * CPU use between two snapshots: for each node of cur also in prev (by
 * address), cpu_pct = 100 * delta cpu seconds / delta time; and ops/s
 * from the command counter when INFO gave none. Pure.
 */
void sp_metrics_rates(sp_metrics *cur, const sp_metrics *prev);

/*
 * Reads the cluster from host:port and the load of every reachable
 * node into *out (caller frees with sp_metrics_free). `remember` lists
 * addresses seen before (n of them, may be NULL): one that no node names
 * any more is visited too, so that a node every peer forgot is still
 * seen. Only the entry node being unreachable is an error (its class:
 * SP_ERR_IO, ...).
 */
sp_err sp_metrics_collect(const char *host, int port, const sp_conn_opts *co,
			  char (*remember)[SP_ADDR_MAX], size_t nremember,
			  sp_metrics *out, sp_error *err);

typedef struct sp_prom_source {
	const char *url;    /* e.g. http://127.0.0.1:9090; borrowed */
	const char *label;  /* the label naming the node ("instance") */
	const char *window; /* range of rate(), e.g. "1m" */
	int timeout_ms;
} sp_prom_source;

/*
 * Copies url into out (len bytes, NUL-terminated) with the password of
 * its user info replaced by "***" ("http://u:***@host"; a user info
 * without ':' is a token and becomes "***"). Every message, log line and
 * page that names the Prometheus server shows this form only.
 */
void sp_prom_redact_url(const char *url, char *out, size_t len);

/*
 * Replaces the load fields of every member of m by what Prometheus
 * reports (redis_exporter: redis_memory_used_bytes,
 * redis_memory_max_bytes, rate of redis_commands_processed_total and of
 * redis_cpu_*_seconds_total, redis_connected_clients), matching the
 * label value (without a "redis://" prefix) to the node's HOST:PORT. A
 * member without a memory series gets have_load = 0. SP_ERR_IO /
 * SP_ERR_PROTOCOL when the server cannot be queried at all.
 */
sp_err sp_metrics_from_prometheus(sp_metrics *m, const sp_prom_source *src,
				  sp_error *err);

/* One sample of a Prometheus instant vector. */
typedef struct sp_prom_sample {
	char label[SP_ADDR_MAX + 16]; /* the chosen label's value */
	double value;
} sp_prom_sample;

/*
 * Parses an /api/v1/query answer (a JSON text) of resultType vector into
 * *out (caller frees with free), keeping the value of `label` of each
 * sample. SP_ERR_PROTOCOL, with the reason, for anything else. Pure.
 */
sp_err sp_prom_parse_vector(const char *json, const char *label,
			    sp_prom_sample **out, size_t *n, sp_error *err);

/* Writes "# HELP name help" and "# TYPE name type". */
void sp_prom_family(sp_buf *b, const char *name, const char *type,
		    const char *help);

/*
 * Writes one sample: name{k1="v1",...} value. labels is a NULL-ended
 * list of key, value pairs (values are escaped as the format asks).
 */
void sp_prom_sample_write(sp_buf *b, const char *name,
			  const char *const *labels, double value);

#endif
