/*
 * local.c - spawn, list and stop redis-server nodes on this machine.
 *
 * The configuration follows the guides: cluster-enabled, a
 * cluster-config-file per node, cluster-node-timeout,
 * cluster-migration-barrier, cluster-announce-ip/port/bus-port so that
 * gossip carries the address clients must use, appendonly yes, and no RDB
 * snapshots (save "").
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "provision/local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/proc.h"
#include "io/conn.h"
#include "io/tls.h"
#include "model/topology.h"

#define PATH_MAX_SP 1024

sp_local_opts sp_local_defaults(const char *dir)
{
	sp_local_opts o = {.dir = dir,
			   .bind = "127.0.0.1",
			   .server = "redis-server",
			   .node_timeout_ms = 5000,
			   .migration_barrier = 1,
			   .pass = NULL};
	return o;
}

/* printf onto buf at *n (< len); 0, or -1 when it does not fit. */
static int put(char *buf, size_t len, int *n, const char *fmt, ...)
{
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(buf + *n, len - (size_t)*n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(*n + m) >= len)
		return -1;
	*n += m;
	return 0;
}

/* Appends key and text as a redis.conf double-quoted string (quote,
 * backslash and control bytes escaped), so that a password can neither
 * break the line nor add a directive. 0, or -1 when it does not fit. */
static int put_quoted(char *buf, size_t len, int *n, const char *key,
		      const char *text)
{
	const unsigned char *c = (const unsigned char *)text;
	int bad = put(buf, len, n, "%s \"", key);

	for (; *c != '\0' && bad == 0; c++) {
		if (*c == '"' || *c == '\\')
			bad = put(buf, len, n, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			bad = put(buf, len, n, "\\x%02x", *c);
		else
			bad = put(buf, len, n, "%c", *c);
	}
	return bad != 0 ? -1 : put(buf, len, n, "\"\n");
}

/* requirepass and masterauth lines when o->pass is set. */
static int put_auth(const sp_local_opts *o, char *buf, size_t len, int *n)
{
	if (o->pass == NULL || o->pass[0] == '\0')
		return 0;
	if (put_quoted(buf, len, n, "requirepass", o->pass) != 0)
		return -1;
	return put_quoted(buf, len, n, "masterauth", o->pass);
}

/* 1 for 127.0.0.0/8, ::1 and localhost. */
static int loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	       strcmp(addr, "localhost") == 0;
}

/* The TLS lines of a TLS-only node: TLS for clients, the bus and
 * replication, client certificates required, the node's certificate as
 * server and as bus client. */
static int put_tls(const sp_local_opts *o, char *buf, size_t len, int *n)
{
	if (o->tls_cert == NULL)
		return 0;
	if (o->tls_key == NULL ||
	    (o->tls_cacert == NULL && o->tls_cacertdir == NULL) ||
	    put(buf, len, n,
		"tls-cluster yes\n"
		"tls-replication yes\n"
		"tls-auth-clients yes\n") != 0)
		return -1;
	if (put_quoted(buf, len, n, "tls-cert-file", o->tls_cert) ||
	    put_quoted(buf, len, n, "tls-key-file", o->tls_key) ||
	    put_quoted(buf, len, n, "tls-client-cert-file", o->tls_cert) ||
	    put_quoted(buf, len, n, "tls-client-key-file", o->tls_key))
		return -1;
	if (o->tls_cacert == NULL)
		return put_quoted(buf, len, n, "tls-ca-cert-dir",
				  o->tls_cacertdir);
	return put_quoted(buf, len, n, "tls-ca-cert-file", o->tls_cacert);
}

/* protected-mode stays on for a node on a loopback address, or with a
 * password. Without a password Redis 7 then accepts loopback clients only,
 * so a node bound to another address of a host of our own (a network
 * namespace: --local-hosts) runs with it off: it binds that one address.
 * A TLS-only node listens on no plain port (port 0): its TLS port is the
 * one gossip announces (cluster-announce-tls-port). */
int sp_local_conf(const sp_local_opts *o, int port, char *buf, size_t len)
{
	int prot = loopback(o->bind) || (o->pass != NULL && o->pass[0]);
	int tls = o->tls_cert != NULL, n = 0;

	if (len == 0)
		return -1;
	if (put(buf, len, &n, "# slotpilot local node %d\n", port) ||
	    put(buf, len, &n, tls ? "port 0\ntls-port %d\n" : "port %d\n",
		port) ||
	    put(buf, len, &n,
		"bind %s\n"
		"protected-mode %s\n"
		"cluster-enabled yes\n"
		"cluster-config-file nodes.conf\n"
		"cluster-node-timeout %d\n"
		"cluster-migration-barrier %d\n"
		"cluster-require-full-coverage yes\n"
		"cluster-announce-ip %s\n",
		o->bind, prot ? "yes" : "no", o->node_timeout_ms,
		o->migration_barrier, o->bind) ||
	    put(buf, len, &n,
		tls ? "cluster-announce-tls-port %d\n"
		    : "cluster-announce-port %d\n",
		port) ||
	    put(buf, len, &n,
		"cluster-announce-bus-port %d\n"
		"appendonly yes\n"
		"repl-diskless-sync-delay 0\n"
		"save \"\"\n"
		"daemonize yes\n"
		"pidfile redis.pid\n"
		"logfile redis.log\n",
		port + 10000) ||
	    put_tls(o, buf, len, &n) || put_auth(o, buf, len, &n))
		return -1;
	return n;
}

static int bind_ok(const char *addr, int port)
{
	struct sockaddr_in sa = {0};
	int fd, ok, one = 1;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	/* SO_REUSEADDR so TIME_WAIT from a stopped node does not count. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int sp_local_port_free(const char *addr, int port)
{
	return port + 10000 <= 65535 && bind_ok(addr, port) &&
	       bind_ok(addr, port + 10000);
}

/* Writes a node's redis.conf 0600: it may hold requirepass and
 * masterauth, which no other local user may read. */
static sp_err write_file(const char *path, const char *text, sp_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	}
	fputs(text, f);
	if (fclose(f) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	return SP_OK;
}

/* Runs redis-server CONF in DIR; it daemonizes, so we reap the parent. */
static sp_err spawn(const sp_local_opts *o, const char *ndir, sp_error *err)
{
	const char *plain[] = {o->server, "redis.conf", NULL};
	const char *in_ns[] = {"ip",	  "netns",	"exec", o->netns,
			       o->server, "redis.conf", NULL};
	const char *const *argv = o->netns != NULL ? in_ns : plain;
	/* The node reads its password from redis.conf, not from us. */
	const char *drop[] = {"REDISCLI_AUTH", NULL};
	sp_proc_spec spec = {
	    .argv = argv, .dir = ndir, .env_drop = drop, .timeout_ms = 30000};
	int code;
	sp_err rc;

	if ((rc = sp_proc_run(&spec, &code, NULL, err)) != SP_OK)
		return rc;
	if (code != 0)
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "%s failed to start in %s (exit %d); see "
				 "%s/redis.log",
				 o->server, ndir, code, ndir);
	return SP_OK;
}

static sp_err wait_ping(const sp_local_opts *o, int port, const char *ndir,
			sp_error *err)
{
	sp_conn_opts co = {.connect_timeout_ms = 500,
			   .timeout_ms = 1000,
			   .pass = o->pass,
			   .tls = o->tls};
	long long deadline = sp_now_ms() + 10000;
	sp_conn *c = NULL;
	sp_err rc;

	for (;;) {
		rc = sp_conn_open(o->bind, port, &co, &c, err);
		if (rc == SP_OK)
			rc = sp_conn_cmd(c, NULL, err, "PING");
		sp_conn_close(c);
		c = NULL;
		if (rc == SP_OK || rc == SP_ERR_NOAUTH)
			return rc;
		if (sp_now_ms() > deadline)
			return sp_seterr(
			    err, SP_ERR_TIMEOUT,
			    "node %s:%d did not answer within 10 s; "
			    "see %s/redis.log",
			    o->bind, port, ndir);
		sp_sleep_ms(50);
	}
}

sp_err sp_local_start(const sp_local_opts *o, int port, sp_error *err)
{
	char ndir[PATH_MAX_SP], path[PATH_MAX_SP + 16], conf[8192];
	sp_err rc;

	snprintf(ndir, sizeof(ndir), "%s/%d", o->dir, port);
	if ((rc = sp_mkdirs(ndir, err)) != SP_OK)
		return rc;
	if (sp_local_conf(o, port, conf, sizeof(conf)) < 0)
		return sp_seterr(err, SP_ERR_INTERNAL,
				 "configuration too long");
	snprintf(path, sizeof(path), "%s/redis.conf", ndir);
	/* A restarted node keeps the configuration it was created with. */
	if (access(path, F_OK) != 0 &&
	    (rc = write_file(path, conf, err)) != SP_OK)
		return rc;
	if ((rc = spawn(o, ndir, err)) != SP_OK)
		return rc;
	return wait_ping(o, port, ndir, err);
}

/* 1 if pid runs a redis-server or a valkey-server (by its cmdline). */
static int is_redis(pid_t pid)
{
	char path[64], buf[256] = "";
	FILE *f;
	size_t n;

	if (pid <= 0 || kill(pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "redis-server") != NULL ||
	       strstr(buf, "valkey-server") != NULL;
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &v) != 1 || v <= 0 || v > 4194304)
		v = 0;
	fclose(f);
	return (pid_t)v;
}

static int by_port(const void *a, const void *b)
{
	return ((const sp_local_node *)a)->port -
	       ((const sp_local_node *)b)->port;
}

sp_err sp_local_list(const char *dir, sp_local_node **out, size_t *n,
		     sp_error *err)
{
	char path[PATH_MAX_SP + 300];
	sp_local_node *v = NULL, *tmp;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT
			   ? SP_OK
			   : sp_seterr(err, SP_ERR_SYSTEM, "cannot read %s: %s",
				       dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *end;
		long port = strtol(de->d_name, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			continue;
		snprintf(path, sizeof(path), "%s/%s/redis.conf", dir,
			 de->d_name);
		if (access(path, F_OK) != 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			if ((tmp = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return sp_seterr(err, SP_ERR_OOM,
						 "out of memory");
			}
			v = tmp;
		}
		snprintf(path, sizeof(path), "%s/%s/redis.pid", dir,
			 de->d_name);
		v[cnt].port = (int)port;
		v[cnt].pid = read_pid(path);
		v[cnt].alive = is_redis(v[cnt].pid);
		cnt++;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), by_port);
	*out = v;
	*n = cnt;
	return SP_OK;
}

/*
 * 1 if pid is the redis-server we started in ndir: a redis-server whose
 * working directory is ndir (spawn runs it there and it never leaves). A
 * stale pid file may name any process, even another node's server.
 */
static int is_ours(pid_t pid, const char *ndir)
{
	char link[64], cwd[PATH_MAX_SP], real[PATH_MAX_SP];
	ssize_t n;

	if (!is_redis(pid) || realpath(ndir, real) == NULL)
		return 0;
	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
	if ((n = readlink(link, cwd, sizeof(cwd) - 1)) < 0)
		return 0;
	cwd[n] = '\0';
	return strcmp(cwd, real) == 0;
}

sp_err sp_local_stop(const char *dir, int port, sp_error *err)
{
	char path[PATH_MAX_SP + 16], ndir[PATH_MAX_SP];
	long long deadline;
	pid_t pid;

	snprintf(ndir, sizeof(ndir), "%s/%d", dir, port);
	snprintf(path, sizeof(path), "%s/redis.pid", ndir);
	pid = read_pid(path);
	if (!is_ours(pid, ndir))
		return SP_OK;
	if (kill(pid, SIGTERM) != 0 && errno != ESRCH)
		return sp_seterr(err, SP_ERR_SYSTEM, "kill %d: %s", (int)pid,
				 strerror(errno));
	deadline = sp_now_ms() + 10000;
	while (is_redis(pid) && sp_now_ms() < deadline)
		sp_sleep_ms(20);
	if (is_redis(pid))
		kill(pid, SIGKILL);
	return SP_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return remove(path);
}

sp_err sp_local_purge(const char *dir, int port, sp_error *err)
{
	char path[PATH_MAX_SP], conf[PATH_MAX_SP + 16];

	snprintf(path, sizeof(path), "%s/%d", dir, port);
	snprintf(conf, sizeof(conf), "%s/redis.conf", path);
	/* Only a directory we created (it holds our redis.conf) goes. */
	if (access(conf, F_OK) != 0)
		return SP_OK;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot remove %s: %s",
				 path, strerror(errno));
	return SP_OK;
}

/* The value of a "key value" line of the node's redis.conf, unquoted;
 * "" when absent. */
static void conf_value(const char *conf, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key), n;
	const char *p = conf, *v;

	buf[0] = '\0';
	for (; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, key, klen) != 0 || p[klen] != ' ')
			continue;
		v = p + klen + 1;
		n = strcspn(v, "\r\n");
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
			v++, n -= 2;
		snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), v);
		return;
	}
}

/*
 * Asks the node at host:port which process it is and what it holds.
 * 0 when it does not answer; 1 when it does, with *pid its process_id
 * and *keys / *slots what it still holds (-1 if it would not say).
 */
static int node_holds(const char *host, int port, const char *pass,
		      const sp_tls *tls, long long *pid, long long *keys,
		      int *slots)
{
	sp_conn_opts co = {.connect_timeout_ms = 1000,
			   .timeout_ms = 2000,
			   .pass = pass,
			   .tls = tls};
	redisReply *info = NULL, *db = NULL, *nodes = NULL;
	const sp_node *self;
	sp_conn *c = NULL;
	sp_view v;

	*pid = -1, *keys = -1, *slots = -1;
	if (sp_conn_open(host, port, &co, &c, NULL) != SP_OK)
		return 0;
	if (sp_conn_cmd(c, &info, NULL, "INFO server") == SP_OK &&
	    info->type == REDIS_REPLY_STRING)
		sp_info_ll(info->str, "process_id", pid);
	if (sp_conn_cmd(c, &db, NULL, "DBSIZE") == SP_OK &&
	    db->type == REDIS_REPLY_INTEGER)
		*keys = db->integer;
	if (sp_conn_cmd(c, &nodes, NULL, "CLUSTER NODES") == SP_OK &&
	    nodes->type == REDIS_REPLY_STRING &&
	    sp_view_parse(&v, nodes->str, nodes->len, NULL) == SP_OK) {
		self = sp_view_self(&v);
		*slots = self != NULL ? self->nslots : -1;
		sp_view_free(&v);
	}
	freeReplyObject(info);
	freeReplyObject(db);
	freeReplyObject(nodes);
	sp_conn_close(c);
	return 1;
}

/* The TLS files of a node's redis.conf text, when it is TLS-only. */
static int conf_tls(const char *conf, sp_local_tls_files *f)
{
	char v[16];

	conf_value(conf, "tls-port", v, sizeof(v));
	if (v[0] == '\0' || strcmp(v, "0") == 0)
		return 0;
	conf_value(conf, "tls-cert-file", f->cert, sizeof(f->cert));
	conf_value(conf, "tls-key-file", f->key, sizeof(f->key));
	conf_value(conf, "tls-ca-cert-file", f->cacert, sizeof(f->cacert));
	return 1;
}

/* The client context that reaches a TLS node of conf, or NULL for a plain
 * one; SP_ERR_CLUSTER (nothing may be touched) when it cannot be built. */
static sp_err conf_client(const char *ndir, const char *conf, sp_tls **tls,
			  sp_error *err)
{
	sp_local_tls_files f;
	sp_err rc;

	*tls = NULL;
	if (!conf_tls(conf, &f))
		return SP_OK;
	if ((rc = sp_local_tls_client(&f, tls, err)) != SP_OK) {
		sp_error_prefix(err,
				"the TLS node in %s cannot be asked what "
				"it holds; left alone",
				ndir);
		err->code = SP_ERR_CLUSTER;
		return SP_ERR_CLUSTER;
	}
	return SP_OK;
}

/* Refuses (SP_ERR_CLUSTER) to take away what is not ours or not empty. */
static sp_err may_remove(const char *ndir, const char *host, int port,
			 const char *conf, const sp_tls *tls, sp_error *err)
{
	char bind[SP_HOST_MAX], pass[256], path[PATH_MAX_SP + 16];
	long long npid, keys;
	int slots;
	pid_t pid;

	conf_value(conf, "bind", bind, sizeof(bind));
	if (strcmp(bind, host) != 0)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "%s:%d is not the local node in %s (it binds "
				 "%s); left alone",
				 host, port, ndir, bind[0] ? bind : "nothing");
	snprintf(path, sizeof(path), "%s/redis.pid", ndir);
	pid = read_pid(path);
	conf_value(conf, "requirepass", pass, sizeof(pass));
	if (!node_holds(host, port, pass[0] ? pass : NULL, tls, &npid, &keys,
			&slots))
		return SP_OK; /* nothing answers: sp_local_stop checks pid */
	if (!is_ours(pid, ndir) || npid != (long long)pid)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "%s:%d is answered by process %lld, not by "
				 "the redis-server %s/redis.pid names (%d); "
				 "left alone",
				 host, port, npid, ndir, (int)pid);
	if (keys != 0 || slots != 0)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "%s:%d still holds %lld keys and %d slots "
				 "(-1: would not say); left alone",
				 host, port, keys, slots);
	return SP_OK;
}

sp_err sp_local_deprovision(const char *dir, const char *host, int port,
			    sp_error *err)
{
	char ndir[PATH_MAX_SP], path[PATH_MAX_SP + 16], conf[8192];
	sp_tls *tls = NULL;
	FILE *f;
	size_t n;
	sp_err rc;

	snprintf(ndir, sizeof(ndir), "%s/%d", dir, port);
	snprintf(path, sizeof(path), "%s/redis.conf", ndir);
	if ((f = fopen(path, "r")) == NULL)
		return SP_OK; /* not a node of ours: nothing to take away */
	n = fread(conf, 1, sizeof(conf) - 1, f);
	fclose(f);
	conf[n] = '\0';
	if ((rc = conf_client(ndir, conf, &tls, err)) != SP_OK)
		return rc;
	rc = may_remove(ndir, host, port, conf, tls, err);
	sp_tls_free(tls);
	if (rc != SP_OK || (rc = sp_local_stop(dir, port, err)) != SP_OK)
		return rc;
	return sp_local_purge(dir, port, err);
}

/* 1 if something answers at host:port. */
static int answers(const char *host, int port)
{
	sp_conn_opts co = {.connect_timeout_ms = 300, .timeout_ms = 300};
	sp_conn *c = NULL;
	sp_err rc = sp_conn_open(host, port, &co, &c, NULL);

	sp_conn_close(c);
	return rc == SP_OK || rc == SP_ERR_NOAUTH;
}

/* 1 if port and its bus port are free on o's address: bound to here, or,
 * for a node in another network namespace (whose address we cannot bind),
 * when nothing answers there. */
static int ports_free(const sp_local_opts *o, int port)
{
	if (o->netns == NULL)
		return sp_local_port_free(o->bind, port);
	return !answers(o->bind, port) && !answers(o->bind, port + 10000);
}

sp_err sp_local_spawn(const sp_local_opts *o, int first, int count,
		      char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	char dir[1100];
	int port, started = 0;
	sp_err rc;

	for (port = first; started < count && port + 10000 <= 65535; port++) {
		snprintf(dir, sizeof(dir), "%s/%d", o->dir, port);
		if (access(dir, F_OK) == 0 || !ports_free(o, port))
			continue;
		if ((rc = sp_local_start(o, port, err)) != SP_OK)
			return rc;
		sp_format_addr(addrs[started++], SP_ADDR_MAX, o->bind, port);
	}
	if (started < count)
		return sp_seterr(err, SP_ERR_CLUSTER,
				 "no free port left for a new node");
	return SP_OK;
}

int sp_local_next_port(const char *dir, int dflt)
{
	sp_local_node *v = NULL;
	size_t n = 0;
	int port = dflt;

	if (sp_local_list(dir, &v, &n, NULL) == SP_OK && n > 0)
		port = v[n - 1].port + 1; /* sorted by port */
	free(v);
	return port;
}

int sp_local_dir_node_timeout(const char *dir, int dflt)
{
	sp_local_node *v = NULL;
	char path[PATH_MAX_SP + 300], line[256];
	int value = dflt, t;
	size_t n = 0;
	FILE *f = NULL;

	if (sp_local_list(dir, &v, &n, NULL) == SP_OK && n > 0) {
		snprintf(path, sizeof(path), "%s/%d/redis.conf", dir,
			 v[n - 1].port);
		f = fopen(path, "r");
	}
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "cluster-node-timeout %d", &t) == 1 && t > 0)
			value = t;
	if (f != NULL)
		fclose(f);
	free(v);
	return value;
}

/* The redis.conf of the highest node under dir into buf; 0, or -1. */
static int read_dir_conf(const char *dir, char *buf, size_t len)
{
	char path[PATH_MAX_SP + 300];
	sp_local_node *v = NULL;
	size_t n = 0, got = 0;
	FILE *f = NULL;

	if (sp_local_list(dir, &v, &n, NULL) == SP_OK && n > 0) {
		snprintf(path, sizeof(path), "%s/%d/redis.conf", dir,
			 v[n - 1].port);
		f = fopen(path, "r");
	}
	free(v);
	if (f == NULL)
		return -1;
	got = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[got] = '\0';
	return 0;
}

int sp_local_dir_tls(const char *dir, sp_local_tls_files *f, sp_local_opts *o)
{
	char conf[8192];

	if (read_dir_conf(dir, conf, sizeof(conf)) != 0 || !conf_tls(conf, f))
		return 0;
	if (o != NULL) {
		o->tls_cert = f->cert;
		o->tls_key = f->key;
		o->tls_cacert = f->cacert;
	}
	return 1;
}

sp_err sp_local_tls_client(const sp_local_tls_files *f, sp_tls **out,
			   sp_error *err)
{
	sp_tls_opts t = {
	    .enabled = 1, .cacert = f->cacert, .cert = f->cert, .key = f->key};

	return sp_tls_new(&t, out, err);
}

const char *sp_local_dir_server(const char *dir)
{
	const char *server = NULL;
	sp_local_node *v = NULL;
	char path[64], buf[256];
	size_t n = 0, i, got;
	FILE *f;

	if (sp_local_list(dir, &v, &n, NULL) != SP_OK)
		n = 0;
	for (i = 0; i < n && server == NULL; i++) {
		if (!v[i].alive)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)v[i].pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		got = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[got] = '\0'; /* argv[0] only: the program run */
		server = strstr(buf, "valkey-server")  ? "valkey-server"
			 : strstr(buf, "redis-server") ? "redis-server"
						       : NULL;
	}
	free(v);
	return server;
}

sp_err sp_local_dir_of(const char *host, int port,
		       const sp_conn_opts *conn_opts, char *dir, size_t len,
		       sp_error *err)
{
	redisReply *r = NULL;
	sp_conn *c = NULL;
	char *slash;
	sp_err rc;

	if ((rc = sp_conn_open(host, port, conn_opts, &c, err)) != SP_OK)
		return rc;
	if ((rc = sp_conn_cmd(c, &r, err, "CONFIG GET dir")) == SP_OK &&
	    (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	     r->element[1]->type != REDIS_REPLY_STRING))
		rc = sp_seterr(err, SP_ERR_PROTOCOL,
			       "%s: CONFIG GET dir: "
			       "unexpected reply",
			       c->addr);
	if (rc == SP_OK) {
		snprintf(dir, len, "%s", r->element[1]->str);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
			*slash = '\0';
	}
	freeReplyObject(r);
	sp_conn_close(c);
	return rc;
}
