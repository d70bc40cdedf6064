/*
 * join.c - one node into a cluster: inspection, MEET, REPLICATE, sync.
 */
#include "ops/join.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/stop.h"
#include "model/topology.h"

sp_err sp_node_inspect(const char *host, int port, const char *addr,
		       const sp_conn_opts *co, char *id, char *why, size_t len,
		       sp_error *err)
{
	redisReply *info = NULL, *cinfo = NULL, *myid = NULL, *dbsize = NULL;
	long long enabled = 0, known = 0, assigned = 0;
	sp_conn *c = NULL;
	sp_err rc;

	why[0] = '\0';
	if ((rc = sp_conn_open(host, port, co, &c, err)) != SP_OK)
		return rc;
	if ((rc = sp_conn_cmd(c, &info, err, "INFO cluster")) != SP_OK ||
	    (rc = sp_reply_expect(c, info, REDIS_REPLY_STRING, "INFO", err)))
		goto out;
	if (!sp_info_ll(info->str, "cluster_enabled", &enabled) || !enabled) {
		snprintf(why, len, "%s is not cluster-enabled", addr);
		goto out;
	}
	if ((rc = sp_conn_cmd(c, &cinfo, err, "CLUSTER INFO")) != SP_OK ||
	    (rc = sp_reply_expect(c, cinfo, REDIS_REPLY_STRING, "CLUSTER INFO",
				  err)) != SP_OK ||
	    (rc = sp_conn_cmd(c, &myid, err, "CLUSTER MYID")) != SP_OK ||
	    (rc = sp_reply_expect(c, myid, REDIS_REPLY_STRING, "CLUSTER MYID",
				  err)) != SP_OK ||
	    (rc = sp_conn_cmd(c, &dbsize, err, "DBSIZE")) != SP_OK ||
	    (rc = sp_reply_expect(c, dbsize, REDIS_REPLY_INTEGER, "DBSIZE",
				  err)) != SP_OK)
		goto out;
	snprintf(id, SP_ID_LEN + 1, "%.*s", (int)myid->len, myid->str);
	sp_info_ll(cinfo->str, "cluster_known_nodes", &known);
	sp_info_ll(cinfo->str, "cluster_slots_assigned", &assigned);
	if (known > 1 || assigned > 0)
		snprintf(why, len,
			 "%s already belongs to a cluster (knows %lld nodes, "
			 "%lld slots assigned)",
			 addr, known, assigned);
	else if (dbsize->integer > 0)
		snprintf(why, len, "%s holds %lld keys", addr, dbsize->integer);
out:
	freeReplyObject(info);
	freeReplyObject(cinfo);
	freeReplyObject(myid);
	freeReplyObject(dbsize);
	sp_conn_close(c);
	return rc;
}

/* The numeric address of host, as CLUSTER MEET requires. */
sp_err sp_resolve_ip(const char *host, char *ip, size_t len, sp_error *err)
{
	struct addrinfo hints = {0}, *res = NULL;
	int g;

	hints.ai_socktype = SOCK_STREAM;
	if ((g = getaddrinfo(host, NULL, &hints, &res)) != 0)
		return sp_seterr(err, SP_ERR_IO, "cannot resolve %s: %s", host,
				 gai_strerror(g));
	g = getnameinfo(res->ai_addr, res->ai_addrlen, ip, (socklen_t)len, NULL,
			0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (g != 0)
		return sp_seterr(err, SP_ERR_IO, "cannot resolve %s", host);
	return SP_OK;
}

sp_err sp_node_meet(const char *host, int port, const sp_conn_opts *co,
		    const char *ip, int meet_port, int meet_bus, sp_error *err)
{
	sp_conn *c = NULL;
	sp_err rc;

	if ((rc = sp_conn_open(host, port, co, &c, err)) != SP_OK)
		return rc;
	if (meet_bus > 0)
		rc = sp_conn_cmd(c, NULL, err, "CLUSTER MEET %s %d %d", ip,
				 meet_port, meet_bus);
	else
		rc = sp_conn_cmd(c, NULL, err, "CLUSTER MEET %s %d", ip,
				 meet_port);
	sp_conn_close(c);
	return rc;
}

sp_err sp_node_bus_port(const char *host, int port, const sp_conn_opts *co,
			int *bus, sp_error *err)
{
	redisReply *r = NULL;
	sp_view v = {0};
	sp_conn *c = NULL;
	sp_err rc;

	*bus = 0;
	if ((rc = sp_conn_open(host, port, co, &c, err)) != SP_OK ||
	    (rc = sp_conn_cmd(c, &r, err, "CLUSTER NODES")) != SP_OK ||
	    (rc = sp_reply_expect(c, r, REDIS_REPLY_STRING, "CLUSTER NODES",
				  err)) != SP_OK ||
	    (rc = sp_view_parse(&v, r->str, r->len, err)) != SP_OK)
		goto out;
	if (v.myself < 0)
		rc = sp_seterr(err, SP_ERR_PROTOCOL,
			       "%s:%d: CLUSTER NODES has no myself line", host,
			       port);
	else
		*bus = v.nodes[v.myself].cport;
	sp_view_free(&v);
out:
	freeReplyObject(r);
	sp_conn_close(c);
	return rc;
}

sp_err sp_node_replicate(const char *host, int port, const sp_conn_opts *co,
			 const char *primary_id, long long deadline,
			 sp_error *err)
{
	sp_conn *c = NULL;
	sp_err rc;

	if ((rc = sp_conn_open(host, port, co, &c, err)) != SP_OK)
		return rc;
	while ((rc = sp_conn_cmd(c, NULL, err, "CLUSTER REPLICATE %s",
				 primary_id)) == SP_ERR_SERVER &&
	       strstr(err->msg, "Unknown node") != NULL &&
	       sp_now_ms() < deadline)
		sp_sleep_ms(100);
	sp_conn_close(c);
	return rc;
}

/* 1 when the replica reports its link up and no sync in progress. */
int sp_replica_synced(const char *host, int port, const sp_conn_opts *co)
{
	redisReply *r = NULL;
	sp_conn *c = NULL;
	long long syncing = 1;
	char st[16] = "";
	int ok = 0;

	if (sp_conn_open(host, port, co, &c, NULL) != SP_OK)
		return 0;
	if (sp_conn_cmd(c, &r, NULL, "INFO replication") == SP_OK &&
	    r->type == REDIS_REPLY_STRING)
		ok = sp_info_field(r->str, "master_link_status", st,
				   sizeof(st)) &&
		     strcmp(st, "up") == 0 &&
		     sp_info_ll(r->str, "master_sync_in_progress", &syncing) &&
		     syncing == 0;
	freeReplyObject(r);
	sp_conn_close(c);
	return ok;
}

sp_err sp_wait_synced(const char *host, int port, const char *addr,
		      const sp_conn_opts *co, long long deadline, sp_error *err)
{
	sp_err rc;

	while (!sp_replica_synced(host, port, co)) {
		if (sp_now_ms() > deadline)
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "replica %s has not finished syncing "
					 "with its primary in time",
					 addr);
		if ((rc = sp_wait_step(100, "a replica to sync",
				       "it goes on syncing alone", err)) !=
		    SP_OK)
			return rc;
	}
	return SP_OK;
}
