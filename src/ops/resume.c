/*
 * resume.c - finding and planning what an interrupted operation left
 * (see resume.h).
 */
#include "ops/resume.h"

#include <string.h>

#include "base/clock.h"
#include "cluster/gather.h"
#include "ops/recover.h"

#define RESUME_RETRY_MS 500

sp_err sp_resume_find(const char *dir, char *path, size_t len,
		      sp_journal_rec *rec, sp_error *err)
{
	sp_err rc;

	if ((rc = sp_journal_find_open(dir, path, len, err)) != SP_OK ||
	    (rc = sp_journal_load(path, rec, err)) != SP_OK)
		return rc;
	if ((rc = sp_journal_check(rec, err)) != SP_OK)
		sp_journal_rec_free(rec);
	return rc;
}

/* One attempt: gather, close what a dead source left open, plan. */
static sp_err plan_once(const sp_journal_rec *rec, const char *host, int port,
			const sp_conn_opts *co, int wait_ms, sp_opplan *p,
			sp_error *err)
{
	sp_cluster c = {0};
	int closed = 0;
	sp_err rc;

	rc = sp_cluster_gather(host, port, co, &c, err);
	if (rc == SP_OK)
		rc = sp_resume_prepare(&c, co, &closed, err);
	if (rc == SP_OK && closed > 0) {
		/* Let the closed slots learn their owner by gossip. */
		sp_cluster_free(&c);
		rc = sp_wait_reachable_ok(host, port, co, wait_ms, err);
		if (rc == SP_OK)
			rc = sp_cluster_gather(host, port, co, &c, err);
	}
	if (rc == SP_OK)
		rc = sp_resume_plan(rec, &c, p, err);
	sp_cluster_free(&c);
	return rc;
}

sp_err sp_resume_plan_live(const sp_journal_rec *rec, const char *host,
			   int port, const sp_conn_opts *co, int wait_ms,
			   sp_opplan *p, sp_error *err)
{
	long long deadline = sp_now_ms() + wait_ms;
	sp_err rc;

	for (;;) {
		rc = plan_once(rec, host, port, co, wait_ms, p, err);
		if (rc == SP_OK || sp_now_ms() > deadline)
			return rc;
		sp_sleep_ms(RESUME_RETRY_MS);
	}
}

size_t sp_resume_promoted(const sp_journal_rec *rec, const sp_opplan *p,
			  unsigned char *out)
{
	const char *was[SP_SLOTS] = {0};
	size_t i, n = 0;

	memset(out, 0, SP_SLOTS);
	for (i = 0; i < rec->plan.nmoves; i++) {
		const sp_move *m = &rec->plan.moves[i];
		if (m->slot >= 0 && m->slot < SP_SLOTS && m->src >= 0 &&
		    (size_t)m->src < rec->plan.nnodes)
			was[m->slot] = rec->plan.nodes[m->src].id;
	}
	for (i = 0; i < p->nmoves; i++) {
		const sp_move *m = &p->moves[i];
		if (was[m->slot] != NULL &&
		    strcmp(was[m->slot], p->nodes[m->src].id) != 0 &&
		    !out[m->slot])
			out[m->slot] = 1, n++;
	}
	return n;
}
