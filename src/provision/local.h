/*
 * local.h - the "local" provisioner: redis-server processes on this machine.
 *
 * Each node lives in DIR/<port>/ with its redis.conf, nodes.conf, append
 * only files, log and redis.pid. Processes are tracked only through those
 * pid files, and a pid is signalled only after /proc confirms it is still
 * a redis-server: we never stop what we did not start.
 */
#ifndef SP_LOCAL_H
#define SP_LOCAL_H

#include <sys/types.h>

#include "base/error.h"
#include "io/conn.h"

typedef struct sp_local_opts {
	const char *dir;       /* data directory; created if missing */
	const char *bind;      /* address to bind and announce; "127.0.0.1" */
	const char *server;    /* redis-server binary; "redis-server" */
	int node_timeout_ms;   /* cluster-node-timeout */
	int migration_barrier; /* cluster-migration-barrier */
	const char *pass;      /* requirepass/masterauth, or NULL */
	/* Network namespace to start the node in (ip netns exec), or NULL:
	 * a "host" of a multi-host test or a lab. */
	const char *netns;
	/* A TLS-only node (port 0, tls-port PORT, TLS on the bus and for
	 * replication, client certificates required) with this certificate
	 * and key, as server and as bus client, and this CA; NULL tls_cert:
	 * plain TCP. Paths are written as given (redis-server runs in
	 * DIR/<port>: give absolute ones). */
	const char *tls_cert, *tls_key, *tls_cacert;
	const char *tls_cacertdir; /* tls-ca-cert-dir when tls_cacert is NULL */
	/* The client context that reaches the node (the PING after start),
	 * or NULL; borrowed. */
	const struct sp_tls *tls;
} sp_local_opts;

/* The TLS files of a directory's nodes (sp_local_dir_tls). */
typedef struct sp_local_tls_files {
	char cert[1024], key[1024], cacert[1024];
} sp_local_tls_files;

/* Defaults: bind 127.0.0.1, redis-server, 5000 ms, barrier 1. */
sp_local_opts sp_local_defaults(const char *dir);

typedef struct sp_local_node {
	int port;
	pid_t pid; /* from the pid file; 0 if none */
	int alive; /* pid runs and is a redis-server */
} sp_local_node;

/*
 * Writes the configuration of a node on `port` (the one `conf` prints)
 * into buf. Returns the length, or -1 if buf is too small.
 */
int sp_local_conf(const sp_local_opts *o, int port, char *buf, size_t len);

/*
 * 1 if nothing listens on bind:port nor on its bus port (port + 10000),
 * tested by binding both; 0 otherwise.
 */
int sp_local_port_free(const char *addr, int port);

/*
 * Creates DIR/<port>/, writes redis.conf unless one is there (a node
 * restarted keeps its configuration) and starts redis-server, then
 * waits (up to 10 s) until it answers PING. Errors: SP_ERR_SYSTEM (file,
 * fork, exec), SP_ERR_TIMEOUT (never answered; its log is named).
 */
sp_err sp_local_start(const sp_local_opts *o, int port, sp_error *err);

/*
 * Lists the nodes under dir (every DIR/<port>/redis.pid), sorted by port.
 * *out is owned by the caller (free). A missing dir gives zero nodes.
 */
sp_err sp_local_list(const char *dir, sp_local_node **out, size_t *n,
		     sp_error *err);

/*
 * Stops the node on `port` under dir: SIGTERM, up to 10 s, then SIGKILL,
 * only if its pid file names a redis-server running in DIR/<port> (a
 * stale pid file is left alone). A node that does not run is not an error.
 */
sp_err sp_local_stop(const char *dir, int port, sp_error *err);

/*
 * Takes the local node host:port away (stop, then purge), but only when
 * it is ours and empty: DIR/<port>/redis.conf binds host; whatever answers
 * at host:port is the process DIR/<port>/redis.pid names, a redis-server
 * running in DIR/<port>; and it holds no keys and no slots. Otherwise
 * SP_ERR_CLUSTER naming what did not match, and nothing is touched. A
 * TLS node is asked over TLS with its own files (sp_local_tls_client);
 * when they do not make a context, nothing is touched either. A
 * port with no directory of ours is not an error (nothing to do).
 */
sp_err sp_local_deprovision(const char *dir, const char *host, int port,
			    sp_error *err);

/*
 * Removes DIR/<port>/ and everything in it, if it holds our redis.conf.
 * The node must be stopped first.
 */
sp_err sp_local_purge(const char *dir, int port, sp_error *err);

/*
 * Starts `count` empty nodes (same configuration, not joined) on the
 * first free ports from `first`, skipping ports whose directory exists.
 * Writes their "HOST:PORT" into addrs[0..count-1] (SP_ADDR_MAX each).
 */
sp_err sp_local_spawn(const sp_local_opts *o, int first, int count,
		      char (*addrs)[SP_ADDR_MAX], sp_error *err);

/* The port after the highest one under dir, or dflt when dir is empty. */
int sp_local_next_port(const char *dir, int dflt);

/* The cluster-node-timeout of the highest node's redis.conf under dir, or
 * dflt when there is none: spawned nodes match the directory's. */
int sp_local_dir_node_timeout(const char *dir, int dflt);

/* 1 when the highest node's redis.conf under dir is TLS-only (it has a
 * tls-port): its tls-cert-file, tls-key-file and tls-ca-cert-file into
 * *f, and o's TLS files (if o is not NULL) pointed at them, so that a
 * node spawned there matches. 0 (f and o untouched) otherwise. */
int sp_local_dir_tls(const char *dir, sp_local_tls_files *f, sp_local_opts *o);

/* The client context that reaches nodes with the files f: their CA, and
 * their own certificate as client certificate (it serves the cluster bus
 * as client too). sp_tls_new's errors; *out is the caller's. */
sp_err sp_local_tls_client(const sp_local_tls_files *f, struct sp_tls **out,
			   sp_error *err);

/* "valkey-server" or "redis-server": what the directory's first live node
 * runs (a static string), or NULL when none runs. */
const char *sp_local_dir_server(const char *dir);

/* The cluster directory of a local node: its CONFIG GET dir, one level
 * up (DIR/<port> -> DIR). */
sp_err sp_local_dir_of(const char *host, int port,
		       const sp_conn_opts *conn_opts, char *dir, size_t len,
		       sp_error *err);

#endif
