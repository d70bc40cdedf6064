/*
 * copies.c - the slot mover's copies of the keys it moved (keep.h): the
 * look at the target, the fence that confirms the copies on a replica,
 * and the keys file when they cannot be confirmed.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "engine/mover.h"
#include "model/keyslot.h"

#define FENCE_WAIT_MS	250	     /* a window's fence */
#define CONFIRM_WAIT_MS 1000	     /* each fence of a confirmation */
#define KEEP_HOLD_MAX	(64LL << 20) /* copies held before confirming */

/* The replicas the cluster lists for the target, connected or not (a
 * replica resyncing, or cut off, can still be promoted): CLUSTER
 * REPLICAS, or -1 when the target would not say. */
static int known_replicas(worker *w, sp_conn *c)
{
	redisReply *r = NULL;
	int n = -1;

	if (sp_conn_cmd(c, &r, NULL, "CLUSTER REPLICAS %s",
			w->sh->nodes[w->p->dst].id) == SP_OK &&
	    r->type == REDIS_REPLY_ARRAY)
		n = (int)r->elements;
	freeReplyObject(r);
	return n;
}

void sp_mover_look_target(worker *w, sp_conn *c)
{
	redisReply *r = NULL;
	long long replicas = 0;
	char vv[32] = "";
	int known;

	if (w->looked_for == w->p)
		return;
	w->keep_on = w->sh->o->keep_path != NULL;
	if (sp_conn_cmd(c, &r, NULL, "INFO") != SP_OK ||
	    r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return; /* looked at again next time */
	}
	w->looked_for = w->p;
	w->dst_valkey = sp_info_field(r->str, "valkey_version", vv, sizeof(vv));
	w->dst_replicas = sp_info_ll(r->str, "connected_slaves", &replicas)
			      ? (int)replicas
			      : 0;
	freeReplyObject(r);
	known = known_replicas(w, c);
	w->keep_on = w->keep_on && (w->dst_replicas > 0 || known != 0);
}

/* A key in slot, "slotpilot-fence:{N}" with the smallest such N; the
 * worker keeps the last one. Every slot has one below 110,000. */
static const char *fence_key(worker *w, int slot)
{
	char tag[16];
	int n, len;

	if (w->fence_key[0] != '\0' && w->fence_slot == slot)
		return w->fence_key;
	for (n = 0; n < 10000000; n++) {
		len = snprintf(tag, sizeof(tag), "%d", n);
		if (sp_keyslot(tag, (size_t)len) == slot)
			break;
	}
	snprintf(w->fence_key, sizeof(w->fence_key), "slotpilot-fence:{%s}",
		 tag);
	w->fence_slot = slot;
	return w->fence_key;
}

/* Reads the fence's replies; 1, 0 or -1 as sp_mover_fence. */
static int read_fence(worker *w, sp_conn *c)
{
	static const char *const what[] = {"ASKING", "MULTI", "SET", "DEL",
					   "EXEC"};
	redisReply *info = NULL, *wr = NULL;
	char replid[SP_REPLID_LEN + 1] = "";
	long long offset = -1;
	sp_error e;
	size_t i;
	int acked = 0;

	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		if (sp_conn_read(c, NULL, &e, what[i]) != SP_OK) {
			sp_conn_drain(c);
			return -1;
		}
	if (sp_conn_read(c, &info, &e, "INFO") != SP_OK ||
	    sp_conn_read(c, &wr, &e, "WAIT") != SP_OK) {
		freeReplyObject(info);
		sp_conn_drain(c);
		return -1;
	}
	acked = wr->type == REDIS_REPLY_INTEGER && wr->integer >= 1;
	if (info->type == REDIS_REPLY_STRING) {
		sp_info_field(info->str, "master_replid", replid,
			      sizeof(replid));
		sp_info_ll(info->str, "master_repl_offset", &offset);
	}
	freeReplyObject(info);
	freeReplyObject(wr);
	if (acked) {
		sp_keep_clear(&w->kept);
		return 1;
	}
	sp_keep_mark(&w->kept, replid, offset);
	return 0;
}

int sp_mover_fence(worker *w, int slot, int wait_ms)
{
	const char *key = fence_key(w, slot);
	sp_conn *c;
	sp_err rc;

	if (w->kept.n == 0)
		return 1;
	if (sp_mover_conn_to(w, w->p->dst, &c) != SP_OK)
		return -1;
	/* MULTI: no client asking the importing slot sees the fence key. */
	rc = sp_conn_append(c, &w->err, "ASKING");
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "MULTI");
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "SET %s 1", key);
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "DEL %s", key);
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "EXEC");
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "INFO replication");
	if (rc == SP_OK)
		rc = sp_conn_append(c, &w->err, "WAIT 1 %d", wait_ms);
	if (rc != SP_OK) {
		sp_conn_drain(c);
		return -1;
	}
	return read_fence(w, c);
}

/* Fences until a replica has the copies or give_up_ms passed. */
static sp_err confirm(worker *w, int slot)
{
	long long deadline = sp_now_ms() + w->sh->o->give_up_ms;
	int f, attempt = 0;

	while ((f = sp_mover_fence(w, slot, CONFIRM_WAIT_MS)) != 1) {
		sp_mover_heard(w, w->p->dst, f == 0);
		if (sp_now_ms() >= deadline || sp_mover_gone(w, w->p->dst))
			return sp_seterr(
			    &w->err, SP_ERR_TIMEOUT,
			    "no replica of %s acknowledged the %zu keys "
			    "moved to it within %d s",
			    w->sh->nodes[w->p->dst].addr, w->kept.n,
			    w->sh->o->give_up_ms / 1000);
		if (f < 0)
			sp_mover_backoff(w, ++attempt);
	}
	return SP_OK;
}

sp_err sp_mover_keep_window(worker *w, int slot)
{
	if (!w->keep_on || w->kept.n == 0)
		return SP_OK;
	if (sp_mover_fence(w, slot, FENCE_WAIT_MS) == 1 ||
	    w->kept.bytes < KEEP_HOLD_MAX)
		return SP_OK;
	return confirm(w, slot);
}

/* Appends the copies to the keys file under the run's lock. */
static sp_err save_copies(worker *w, sp_error *err)
{
	sp_err rc;

	pthread_mutex_lock(&w->sh->mu);
	rc = sp_keep_append_file(&w->kept, w->sh->o->keep_path, err);
	pthread_mutex_unlock(&w->sh->mu);
	return rc;
}

sp_err sp_mover_keep_end(worker *w, sp_err rc)
{
	size_t n = w->kept.n, len;
	sp_error serr = {0};

	if (n == 0)
		return rc;
	if (rc == SP_OK || rc == SP_ERR_INTERRUPTED) {
		sp_err c = confirm(w, w->fence_slot);
		if (c == SP_OK)
			return rc;
		sp_mover_give_up(w, w->p->dst);
		rc = c;
	}
	if (save_copies(w, &serr) != SP_OK) {
		sp_keep_clear(&w->kept);
		w->err = serr;
		return SP_ERR_SYSTEM;
	}
	len = strlen(w->err.msg);
	if (len < sizeof(w->err.msg))
		snprintf(w->err.msg + len, sizeof(w->err.msg) - len,
			 "; copies of %zu keys moved to %s that no replica of "
			 "it confirmed are in %s: after its failover, "
			 "slotpilot resume puts back those its replacement "
			 "lacks",
			 n, w->sh->nodes[w->p->dst].addr, w->sh->o->keep_path);
	sp_keep_clear(&w->kept);
	return rc;
}
