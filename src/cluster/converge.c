/*
 * converge.c - poll the cluster until its checks pass.
 */
#include "cluster/converge.h"
#include "base/clock.h"
#include "base/stop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Summarises the first findings into err for a timeout message. */
static void summarise(const sp_findings *f, sp_error *err, int timeout_ms)
{
	char buf[SP_ERRMSG_MAX] = "";
	size_t i, used = 0;

	for (i = 0; i < f->n && i < 3 && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
					 i ? "; " : "", f->items[i].msg);
	sp_seterr(err, SP_ERR_CLUSTER,
		  "cluster not healthy after %d ms (%zu findings): %s",
		  timeout_ms, f->n, buf);
}

sp_err sp_wait_healthy(const char *host, int port, const sp_conn_opts *opts,
		       const sp_check_opts *copts, int timeout_ms,
		       int interval_ms, sp_cluster *last, sp_error *err)
{
	long long deadline = sp_now_ms() + timeout_ms;
	sp_cluster c = {0};
	sp_findings f = {0};
	sp_err rc;

	for (;;) {
		sp_findings_free(&f);
		sp_cluster_free(&c);
		rc = sp_cluster_gather(host, port, opts, &c, err);
		if (rc == SP_OK) {
			if ((rc = sp_check_cluster(&c, copts, &f, err)) !=
			    SP_OK)
				break;
			if (f.n == 0)
				break;
		}
		if (sp_now_ms() >= deadline) {
			if (rc == SP_OK) {
				summarise(&f, err, timeout_ms);
				rc = SP_ERR_CLUSTER;
			}
			break;
		}
		if ((rc = sp_wait_step(interval_ms, "a healthy cluster",
				       "run the command again to finish",
				       err)) != SP_OK)
			break;
	}
	sp_findings_free(&f);
	if (last != NULL)
		*last = c;
	else
		sp_cluster_free(&c);
	return rc;
}

sp_err sp_wait_ready_to_move(const char *host, int port, const sp_conn_opts *co,
			     int wait_ms, sp_error *err)
{
	sp_check_opts copts = sp_check_defaults();
	sp_err rc;

	rc = sp_wait_healthy(host, port, co, &copts, wait_ms, 250, NULL, err);
	if (rc != SP_OK)
		sp_error_prefix(err, "the cluster is not ready to move slots "
				     "(run slotpilot fix or resume first)");
	return rc;
}

int sp_view_names(const sp_view *v, const char *name)
{
	char host[SP_HOST_MAX];
	size_t i, len = strlen(name);
	int port;

	if (strchr(name, ':') != NULL &&
	    sp_parse_hostport(name, host, &port, NULL) == SP_OK) {
		for (i = 0; i < v->nnodes; i++)
			if (v->nodes[i].port == port &&
			    (strcmp(v->nodes[i].ip, host) == 0 ||
			     strcasecmp(v->nodes[i].hostname, host) == 0))
				return 1;
		return 0;
	}
	for (i = 0; len >= 6 && len <= SP_ID_LEN && i < v->nnodes; i++)
		if (strncasecmp(v->nodes[i].id, name, len) == 0)
			return 1;
	return 0;
}

/*
 * 1 while some name is half-known (known to some reachable member, not to
 * all), or, within the first `grace` of the wait, known to none: a MEET
 * can be on its way (the new node starts the handshake on its next cron).
 */
static int names_unsettled(const sp_cluster *c, const char *const *names,
			   size_t nnames, int grace)
{
	size_t i, k;

	for (k = 0; k < nnames; k++) {
		int knows = 0, live = 0;
		for (i = 0; i < c->nnodes; i++) {
			if (!c->nodes[i].reachable)
				continue;
			live++;
			knows += sp_view_names(&c->nodes[i].view, names[k]);
		}
		if ((knows > 0 && knows < live) || (knows == 0 && grace))
			return 1;
	}
	return 0;
}

sp_err sp_gather_knowing(const char *host, int port, const sp_conn_opts *co,
			 const char *const *names, size_t nnames, int wait_ms,
			 sp_cluster *c, sp_error *err)
{
	long long start = sp_now_ms(), deadline = start + wait_ms;
	long long grace_end = start + (wait_ms < 5000 ? wait_ms : 5000);
	sp_err rc;

	for (;;) {
		if ((rc = sp_cluster_gather(host, port, co, c, err)) != SP_OK)
			return rc;
		if (!names_unsettled(c, names, nnames,
				     sp_now_ms() < grace_end) ||
		    sp_now_ms() >= deadline)
			return SP_OK;
		sp_cluster_free(c);
		sp_sleep_ms(200);
	}
}
