/*
 * provisioner.c - the local and exec provisioners behind one interface
 * (see provisioner.h).
 */
#include "provision/provisioner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/proc.h"
#include "io/config.h"
#include "io/tls.h"
#include "provision/local.h"

#define EXEC_TIMEOUT_MS (10 * 60 * 1000)

/* 1 if the node at host:port is a Valkey server (INFO has valkey_version):
 * the local provisioner then starts valkey-server nodes, as the cluster's. */
static int is_valkey(const char *host, int port, const sp_conn_opts *co)
{
	redisReply *r = NULL;
	sp_conn *c = NULL;
	char v[32];
	int yes = 0;

	if (sp_conn_open(host, port, co, &c, NULL) == SP_OK &&
	    sp_conn_cmd(c, &r, NULL, "INFO server") == SP_OK &&
	    r->type == REDIS_REPLY_STRING)
		yes = sp_info_field(r->str, "valkey_version", v, sizeof(v));
	freeReplyObject(r);
	sp_conn_close(c);
	return yes;
}

/* Host i of a "NETNS=ADDR,..." list into ns and addr; 0, or -1 when the
 * list has fewer entries or entry i is malformed. */
static int host_at(const char *list, int i, char *ns, size_t nslen, char *addr,
		   size_t alen)
{
	const char *p = list, *eq;
	size_t k;

	for (; i > 0 && p != NULL; i--)
		p = (p = strchr(p, ',')) != NULL ? p + 1 : NULL;
	if (p == NULL || *p == '\0')
		return -1;
	k = strcspn(p, ",");
	eq = memchr(p, '=', k);
	if (eq == NULL || eq == p || (size_t)(eq - p) >= nslen ||
	    k - (size_t)(eq - p) - 1 >= alen || eq + 1 == p + k)
		return -1;
	snprintf(ns, nslen, "%.*s", (int)(eq - p), p);
	snprintf(addr, alen, "%.*s", (int)(k - (size_t)(eq - p) - 1), eq + 1);
	return 0;
}

/* Starts count nodes round robin over the hosts of list, one port each
 * (ports are unique in the directory, whatever the host). */
static sp_err spawn_on_hosts(sp_local_opts *lo, const char *list, int first,
			     int count, char (*addrs)[SP_ADDR_MAX],
			     sp_error *err)
{
	char ns[64], addr[SP_HOST_MAX];
	int nhosts = 0, j, entries = 1;
	const char *c;
	sp_err rc;

	for (c = list; *c != '\0'; c++)
		entries += *c == ',';
	while (host_at(list, nhosts, ns, sizeof(ns), addr, sizeof(addr)) == 0)
		nhosts++;
	if (nhosts != entries)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--local-hosts \"%s\": expected "
				 "NETNS=ADDR[,NETNS=ADDR...]",
				 list);
	for (j = 0; j < count; j++) {
		host_at(list, j % nhosts, ns, sizeof(ns), addr, sizeof(addr));
		lo->netns = ns;
		lo->bind = addr;
		if ((rc = sp_local_spawn(lo, first + j, 1, &addrs[j], err)))
			return rc;
	}
	return SP_OK;
}

/* Spawns count nodes into lo->dir, on p's hosts or on lo->bind. */
static sp_err spawn_local(const sp_provisioner *p, sp_local_opts *lo, int port,
			  int count, char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	int first = sp_local_next_port(lo->dir, port + 1);

	if (p->hosts != NULL)
		return spawn_on_hosts(lo, p->hosts, first, count, addrs, err);
	return sp_local_spawn(lo, first, count, addrs, err);
}

static sp_err provision_local(const sp_provisioner *p, const char *host,
			      int port, const sp_conn_opts *co, int count,
			      char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	sp_local_tls_files files;
	sp_tls *tls = NULL;
	char dir[1024];
	sp_local_opts lo;
	sp_err rc;

	if (p->dir != NULL)
		snprintf(dir, sizeof(dir), "%s", p->dir);
	else if ((rc = sp_local_dir_of(host, port, co, dir, sizeof(dir),
				       err)) != SP_OK)
		return rc;
	lo = sp_local_defaults(dir);
	lo.pass = co != NULL ? co->pass : NULL;
	if (is_valkey(host, port, co))
		lo.server = "valkey-server";
	/* New nodes must match the old ones (the guides' first rule): a
	 * directory of TLS-only nodes gets TLS-only nodes with their files,
	 * reached with the nodes' own certificate. */
	lo.node_timeout_ms =
	    (int)sp_config_get_ll(host, port, co, "cluster-node-timeout", 5000);
	lo.migration_barrier = (int)sp_config_get_ll(
	    host, port, co, "cluster-migration-barrier", 1);
	if (sp_local_dir_tls(dir, &files, &lo)) {
		if ((rc = sp_local_tls_client(&files, &tls, err)) != SP_OK)
			return rc;
		lo.tls = tls;
	}
	rc = spawn_local(p, &lo, port, count, addrs, err);
	sp_tls_free(tls);
	return rc;
}

/* The HOST:PORT lines of the exec provisioner's output, exactly count. */
static sp_err parse_addrs(char *text, int count, char (*addrs)[SP_ADDR_MAX],
			  sp_error *err)
{
	char host[SP_HOST_MAX], *line, *save = NULL;
	int got = 0, port;

	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (got >= count ||
		    sp_parse_hostport(line, host, &port, NULL) != SP_OK)
			return sp_seterr(err, SP_ERR_USAGE,
					 "the provisioner printed \"%.100s\", "
					 "not one of %d HOST:PORT lines",
					 line, count);
		sp_format_addr(addrs[got++], SP_ADDR_MAX, host, port);
	}
	if (got != count)
		return sp_seterr(err, SP_ERR_USAGE,
				 "the provisioner printed %d addresses, %d "
				 "were asked for",
				 got, count);
	return SP_OK;
}

/* "SLOTPILOT=<this binary>" into buf: an exec provisioner that calls
 * slotpilot (examples/provision-local.sh) runs the same one. The rest of
 * its environment is base/proc's (no REDISCLI_AUTH unless passed). */
static const char *self_var(char *buf, size_t len)
{
	static const char name[] = "SLOTPILOT=";
	ssize_t n;

	memcpy(buf, name, sizeof(name));
	n = readlink("/proc/self/exe", buf + sizeof(name) - 1,
		     len - sizeof(name));
	if (n <= 0)
		return NULL;
	buf[sizeof(name) - 1 + (size_t)n] = '\0';
	return buf;
}

/* Runs the operator's command; it must print `count` HOST:PORT lines. */
static sp_err provision_exec(const sp_provisioner *p, int count,
			     char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	char n[48], self[1100], *out = NULL;
	const char *argv[] = {"/bin/sh", "-c", p->provision, NULL};
	const char *set[] = {n, self_var(self, sizeof(self)), NULL};
	sp_proc_spec spec = {.argv = argv,
			     .env_set = set,
			     .capture = 1,
			     .timeout_ms = p->timeout_ms > 0 ? p->timeout_ms
							     : EXEC_TIMEOUT_MS};
	int code;
	sp_err rc;

	snprintf(n, sizeof(n), "SLOTPILOT_COUNT=%d", count);
	if ((rc = sp_proc_run(&spec, &code, &out, err)) != SP_OK) {
		sp_error_prefix(err, "the provisioner \"%s\"", p->provision);
	} else if (code != 0) {
		rc = sp_seterr(err, SP_ERR_SYSTEM,
			       "the provisioner \"%s\" failed (exit %d)",
			       p->provision, code);
	} else {
		rc = parse_addrs(out, count, addrs, err);
	}
	free(out);
	return rc;
}

sp_err sp_provision(const sp_provisioner *p, const char *host, int port,
		    const sp_conn_opts *co, int count,
		    char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	if (p->kind == SP_PROV_EXEC)
		return provision_exec(p, count, addrs, err);
	return provision_local(p, host, port, co, count, addrs, err);
}

/* `deprovision HOST:PORT`, the address passed as one argument. */
static sp_err deprovision_exec(const sp_provisioner *p, const char *addr,
			       sp_error *err)
{
	char script[2048], node[SP_ADDR_MAX + 16], self[1100];
	const char *argv[] = {"/bin/sh", "-c", script, "slotpilot", addr, NULL};
	const char *set[] = {node, self_var(self, sizeof(self)), NULL};
	sp_proc_spec spec = {.argv = argv,
			     .env_set = set,
			     .timeout_ms = p->timeout_ms > 0 ? p->timeout_ms
							     : EXEC_TIMEOUT_MS};
	int code;
	sp_err rc;

	snprintf(script, sizeof(script), "%s \"$1\"", p->deprovision);
	snprintf(node, sizeof(node), "SLOTPILOT_NODE=%s", addr);
	if ((rc = sp_proc_run(&spec, &code, NULL, err)) != SP_OK)
		return rc;
	if (code != 0)
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "the deprovisioner failed for %s", addr);
	return SP_OK;
}

sp_err sp_deprovision(const sp_provisioner *p, const char *addr, sp_error *err)
{
	char host[SP_HOST_MAX];
	int port;
	sp_err rc;

	if ((rc = sp_parse_hostport(addr, host, &port, err)) != SP_OK)
		return rc;
	if (p->kind == SP_PROV_LOCAL) {
		if (p->dir == NULL)
			return SP_OK;
		return sp_local_deprovision(p->dir, host, port, err);
	}
	if (p->deprovision == NULL)
		return SP_OK;
	return deprovision_exec(p, addr, err);
}
