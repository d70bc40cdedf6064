/*
 * cluster.c - the gathered cluster as a plain value: adding and finding
 * nodes, reading the CLUSTER INFO and INFO texts of a node into numbers,
 * and the two summaries every rule needs (who claims each slot, and the
 * primaries in a stable order).
 *
 * Nothing here does I/O (sp_cluster_gather lives in gather.c), so this file
 * links into unit tests and fuzzers without hiredis. For that reason the
 * small INFO-text readers below are local rather than conn.c's.
 */
#include "model/cluster.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More than one node claims the slot (see sp_cluster_claims). */
#define MULTI_OWNER (-2)

void sp_cluster_free(sp_cluster *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nnodes; i++)
		sp_view_free(&c->nodes[i].view);
	free(c->nodes);
	c->nodes = NULL;
	c->nnodes = 0;
	c->cap = 0;
}

/* "[h]:p" when h is an IPv6 address, else "h:p" - as sp_format_addr. */
static void format_addr(char *buf, size_t len, const char *host, int port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", host, port);
	else
		snprintf(buf, len, "%s:%d", host, port);
}

/* Makes room for one more node; 0 on success, -1 on OOM. */
static int grow(sp_cluster *c)
{
	size_t ncap;
	sp_node_state *p;

	if (c->nnodes < c->cap)
		return 0;
	ncap = c->cap ? c->cap * 2 : 8;
	if (ncap > SIZE_MAX / sizeof(*p))
		return -1;
	if ((p = realloc(c->nodes, ncap * sizeof(*p))) == NULL)
		return -1;
	c->nodes = p;
	c->cap = ncap;
	return 0;
}

sp_node_state *sp_cluster_add(sp_cluster *c, const char *host, int port)
{
	sp_node_state *n;
	int s;

	if (c == NULL || grow(c) != 0)
		return NULL;
	n = &c->nodes[c->nnodes++];
	memset(n, 0, sizeof(*n));
	snprintf(n->host, sizeof(n->host), "%s", host ? host : "");
	n->port = port;
	format_addr(n->addr, sizeof(n->addr), n->host, port);
	/* An empty view must read as "no myself, no owners", not as node 0. */
	n->view.myself = -1;
	for (s = 0; s < SP_SLOTS; s++)
		n->view.owner[s] = SP_NO_OWNER;
	/* Unknown until INFO says otherwise; 0 would mean "just now". */
	n->master_last_io_secs = -1;
	return n;
}

int sp_cluster_find_id(const sp_cluster *c, const char *id)
{
	size_t i;

	/* "" is what an unknown id looks like: it must never match. */
	if (c == NULL || id == NULL || id[0] == '\0')
		return -1;
	for (i = 0; i < c->nnodes && i <= INT_MAX; i++)
		if (strcmp(c->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

int sp_cluster_find_addr(const sp_cluster *c, const char *host, int port)
{
	size_t i;

	if (c == NULL || host == NULL)
		return -1;
	for (i = 0; i < c->nnodes && i <= INT_MAX; i++)
		if (c->nodes[i].port == port &&
		    strcmp(c->nodes[i].host, host) == 0)
			return (int)i;
	return -1;
}

/*
 * The start of the value of `field` in an INFO-style text, where the field
 * begins a line and is followed by ':'; NULL if absent. A field name that
 * merely ends another ("master_repl_offset" in "slave_..." ) must not match.
 */
static const char *info_value(const char *text, const char *field)
{
	size_t flen = strlen(field);
	const char *p = text;

	if (text == NULL || flen == 0)
		return NULL;
	while ((p = strstr(p, field)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[flen] == ':')
			return p + flen + 1;
		p += flen;
	}
	return NULL;
}

/* Copies the value of field into buf (truncated); 1 if found. */
static int info_str(const char *text, const char *field, char *buf, size_t len)
{
	const char *v = info_value(text, field);
	size_t n;

	if (v == NULL || len == 0)
		return 0;
	n = strcspn(v, "\r\n");
	if (n >= len)
		n = len - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 1;
}

/* Parses a decimal at s that ends the line or a ',' list item; 1 if ok. */
static int parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || (*s != '-' && (*s < '0' || *s > '9')))
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s ||
	    (*end != '\0' && *end != '\r' && *end != '\n' && *end != ','))
		return 0;
	*out = v;
	return 1;
}

/* The number in field, or dflt when it is absent or not a number. */
static long long info_num(const char *text, const char *field, long long dflt)
{
	long long v;

	return parse_ll(info_value(text, field), &v) ? v : dflt;
}

/* 1 if the value of field is exactly want. */
static int info_is(const char *text, const char *field, const char *want)
{
	char buf[32];

	return info_str(text, field, buf, sizeof(buf)) &&
	       strcmp(buf, want) == 0;
}

/*
 * Sums keys= over the keyspace lines ("db0:keys=3,expires=0,avg_ttl=0").
 * A cluster node only has db0, but the sum costs nothing and stays right
 * for anything that reports more.
 */
static long long sum_keys(const char *info)
{
	long long total = 0, v;
	const char *p = info, *k, *eol;

	while (p != NULL && *p != '\0') {
		eol = p + strcspn(p, "\n");
		if (p[0] == 'd' && p[1] == 'b' && p[2] >= '0' && p[2] <= '9' &&
		    (k = strstr(p, ":keys=")) != NULL && k < eol &&
		    parse_ll(k + 6, &v) && v >= 0 && total <= LLONG_MAX - v)
			total += v;
		p = *eol ? eol + 1 : eol;
	}
	return total;
}

static void set_cluster_info(sp_node_state *n, const char *ci)
{
	n->state_ok = info_is(ci, "cluster_state", "ok");
	n->known_nodes = info_num(ci, "cluster_known_nodes", 0);
	n->slots_assigned = info_num(ci, "cluster_slots_assigned", 0);
	n->slots_pfail = info_num(ci, "cluster_slots_pfail", 0);
	n->slots_fail = info_num(ci, "cluster_slots_fail", 0);
	n->current_epoch = info_num(ci, "cluster_current_epoch", 0);
	n->my_epoch = info_num(ci, "cluster_my_epoch", 0);
}

static void set_info(sp_node_state *n, const char *info)
{
	if (!info_str(info, "redis_version", n->version, sizeof(n->version)))
		n->version[0] = '\0';
	if (!info_str(info, "role", n->role, sizeof(n->role)))
		n->role[0] = '\0';
	n->keys = sum_keys(info);
	n->used_memory = info_num(info, "used_memory", 0);
	n->maxmemory = info_num(info, "maxmemory", 0);
	n->master_link_up = info_is(info, "master_link_status", "up");
	n->master_last_io_secs =
	    info_num(info, "master_last_io_seconds_ago", -1);
	/* A replica also prints master_repl_offset (its master's, as last
	 * seen); what it has applied itself is slave_repl_offset. */
	n->repl_offset = strcmp(n->role, "slave") == 0
			     ? info_num(info, "slave_repl_offset", 0)
			     : info_num(info, "master_repl_offset", 0);
	n->sync_in_progress = info_num(info, "master_sync_in_progress", 0) != 0;
}

void sp_node_state_set_info(sp_node_state *n, const char *cluster_info,
			    const char *info)
{
	if (n == NULL)
		return;
	if (cluster_info != NULL)
		set_cluster_info(n, cluster_info);
	if (info != NULL)
		set_info(n, info);
}

void sp_cluster_claims(const sp_cluster *c, int owner[SP_SLOTS])
{
	size_t i;
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		owner[s] = SP_NO_OWNER;
	for (i = 0; c != NULL && i < c->nnodes && i <= INT_MAX; i++) {
		const sp_view *v = &c->nodes[i].view;

		int lo = 0, hi = SP_SLOTS - 1;
		if (!c->nodes[i].reachable || v->myself < 0)
			continue;
		if (v->byid != NULL) /* parsed: only where its own slots are */
			lo = v->my_lo, hi = v->my_hi;
		for (s = lo; s >= 0 && s <= hi; s++) {
			if (v->owner[s] != v->myself)
				continue;
			if (owner[s] == SP_NO_OWNER)
				owner[s] = (int)i;
			else if (owner[s] != (int)i)
				owner[s] = MULTI_OWNER;
		}
	}
}

/* 1 if node i's own line says it is a primary. */
static int own_primary(const sp_cluster *c, size_t i)
{
	const sp_node *self;

	if (!c->nodes[i].reachable)
		return 0;
	self = sp_view_self(&c->nodes[i].view);
	return self != NULL && sp_node_is_primary(self);
}

/* Orders by address, then by index so that equal addresses stay stable. */
static int addr_before(const sp_cluster *c, int a, int b)
{
	int d = strcmp(c->nodes[a].addr, c->nodes[b].addr);

	return d < 0 || (d == 0 && a < b);
}

size_t sp_cluster_primaries(const sp_cluster *c, int *idx, size_t max)
{
	size_t i, k = 0, pos, j;

	if (c == NULL || idx == NULL)
		return 0;
	/* Insertion into the first max places: no allocation, and the
	 * result is the max smallest by address when max is too small. */
	for (i = 0; i < c->nnodes && i <= INT_MAX; i++) {
		if (!own_primary(c, i))
			continue;
		for (pos = 0; pos < k && addr_before(c, idx[pos], (int)i);
		     pos++)
			;
		if (pos >= max)
			continue;
		if (k < max)
			k++;
		for (j = k - 1; j > pos; j--)
			idx[j] = idx[j - 1];
		idx[pos] = (int)i;
	}
	return k;
}

int sp_node_state_bus_port(const sp_node_state *n)
{
	const sp_view *v = &n->view;

	return v->myself >= 0 && (size_t)v->myself < v->nnodes
		   ? v->nodes[v->myself].cport
		   : 0;
}
