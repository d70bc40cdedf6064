/*
 * local_cluster.c - starting the embedded default cluster (see
 * local_cluster.h).
 */
#include "ops/local_cluster.h"

#include <stdlib.h>

#include "cluster/converge.h"
#include "ops/create.h"

#define LOCAL_WAIT_MS 60000

static void stop_all(const char *dir, const int *ports, int n)
{
	for (int i = 0; i < n; i++)
		sp_local_stop(dir, ports[i], NULL);
}

/* Starts the stopped nodes among v[0..n-1] and waits for all of them. */
static sp_err restart(const sp_local_up_opts *o, const sp_conn_opts *co,
		      const sp_log *log, const sp_local_node *v, size_t n,
		      sp_error *err)
{
	sp_check_opts copts = sp_check_defaults();
	sp_err rc;

	sp_logf(log, "restart", "Starting the stopped nodes of %s", o->lo.dir);
	for (size_t i = 0; i < n; i++)
		if (!v[i].alive &&
		    (rc = sp_local_start(&o->lo, v[i].port, err)) != SP_OK)
			return rc;
	copts.expect_nodes = (int)n;
	return sp_wait_healthy(o->lo.bind, v[0].port, co, &copts,
			       o->wait_ms > 0 ? o->wait_ms : LOCAL_WAIT_MS, 200,
			       NULL, err);
}

/* The addresses of total nodes from o->port on, all of them free. */
static sp_err fresh_addrs(const sp_local_up_opts *o, int total, int *ports,
			  char (*addrs)[SP_ADDR_MAX], sp_error *err)
{
	for (int i = 0; i < total; i++) {
		ports[i] = o->port + i;
		if (ports[i] + 10000 > 65535 ||
		    !sp_local_port_free(o->lo.bind, ports[i]))
			return sp_seterr(err, SP_ERR_CLUSTER,
					 "port %d (or its bus port %d) on %s "
					 "is already in use; choose another "
					 "--port",
					 ports[i], ports[i] + 10000,
					 o->lo.bind);
		sp_format_addr(addrs[i], SP_ADDR_MAX, o->lo.bind, ports[i]);
	}
	return SP_OK;
}

/* Starts fresh nodes and creates the cluster; stops them on failure. */
static sp_err fresh(const sp_local_up_opts *o, const sp_conn_opts *co,
		    const sp_log *log, sp_error *err)
{
	int total = o->primaries * (1 + o->replicas), started = 0;
	char(*addrs)[SP_ADDR_MAX] = calloc((size_t)total, SP_ADDR_MAX);
	const char **names = calloc((size_t)total, sizeof(*names));
	int *ports = calloc((size_t)total, sizeof(*ports));
	sp_create_plan plan = {0};
	sp_err rc;

	if (addrs == NULL || ports == NULL || names == NULL) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = fresh_addrs(o, total, ports, addrs, err)) != SP_OK)
		goto out;
	sp_logf(log, "start",
		"Starting %d redis-server nodes on %s:%d-%d in %s", total,
		o->lo.bind, ports[0], ports[total - 1], o->lo.dir);
	for (started = 0; started < total; started++) {
		names[started] = addrs[started];
		if ((rc = sp_local_start(&o->lo, ports[started], err)) != SP_OK)
			goto fail;
	}
	if ((rc = sp_create_plan_make(names, (size_t)total, o->replicas, &plan,
				      err)) != SP_OK ||
	    (rc = sp_create_preflight(&plan, co, err)) != SP_OK ||
	    (rc = sp_create_run(&plan, co,
				o->wait_ms > 0 ? o->wait_ms : LOCAL_WAIT_MS,
				NULL, log, err)) != SP_OK)
		goto fail;
	goto out;
fail:
	sp_logf(log, "stop",
		"stopping the nodes started so far (their logs stay in %s)",
		o->lo.dir);
	stop_all(o->lo.dir, ports, started < total ? started + 1 : total);
out:
	sp_create_plan_free(&plan);
	free(names);
	free(addrs);
	free(ports);
	return rc;
}

sp_err sp_local_cluster_up(const sp_local_up_opts *o, const sp_conn_opts *co,
			   const sp_log *log, sp_local_up_state *state,
			   int *entry_port, sp_error *err)
{
	sp_local_node *v = NULL;
	size_t n, alive = 0;
	sp_err rc;

	if ((rc = sp_local_list(o->lo.dir, &v, &n, err)) != SP_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		alive += (size_t)v[i].alive;
	*entry_port = n > 0 ? v[0].port : o->port;
	if (n > 0 && alive == n) {
		*state = SP_LOCAL_UP_RUNNING;
	} else if (n > 0) {
		*state = SP_LOCAL_UP_RESTARTED;
		rc = restart(o, co, log, v, n, err);
	} else {
		*state = SP_LOCAL_UP_CREATED;
		rc = fresh(o, co, log, err);
	}
	free(v);
	return rc;
}
