/*
 * cmd_status.c - `slotpilot status HOST:PORT`: primaries with their slots,
 * keys and memory, replicas with link state and lag, and a picture of the
 * slot map (one cell per 128 slots, lettered and on a TTY coloured per
 * primary; '.' where no node owns the cell, '!' where a slot is open).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cluster/gather.h"
#include "model/cluster.h"

#define CELL	128
#define MAXPRIM 52

typedef struct status {
	const sp_cluster *c;
	int prim[SP_SLOTS]; /* indexes of primaries into c->nodes */
	size_t nprim;
	int claims[SP_SLOTS];
} status;

static void human_bytes(long long b, char *buf, size_t len)
{
	const char *u[] = {"B", "K", "M", "G", "T"};
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 4)
		v /= 1024, i++;
	snprintf(buf, len, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

/* Index into s->prim of the primary that owns slot, or -1. */
static int prim_of_slot(const status *s, int slot)
{
	size_t k;

	if (s->claims[slot] < 0)
		return -1;
	for (k = 0; k < s->nprim; k++)
		if (s->prim[k] == s->claims[slot])
			return (int)k;
	return -1;
}

static int slot_open(const sp_cluster *c, int lo, int hi)
{
	size_t i, j;

	for (i = 0; i < c->nnodes; i++)
		for (j = 0; j < c->nodes[i].view.nopen; j++)
			if (c->nodes[i].view.open[j].slot >= lo &&
			    c->nodes[i].view.open[j].slot < hi)
				return 1;
	return 0;
}

static void print_map(const status *s, int color)
{
	static const int colors[] = {31, 32, 33, 34, 35, 36, 91, 92, 93, 94};
	int cell, k;

	printf("\nSlot map (one cell = %d slots):\n  ", CELL);
	for (cell = 0; cell < SP_SLOTS / CELL; cell++) {
		int counts[MAXPRIM + 1] = {0}, best = -1, lo = cell * CELL;
		char ch;
		for (k = lo; k < lo + CELL; k++) {
			int p = prim_of_slot(s, k);
			if (p >= 0 && p < MAXPRIM)
				counts[p]++;
		}
		for (k = 0; k < MAXPRIM; k++)
			if (counts[k] > 0 &&
			    (best < 0 || counts[k] > counts[best]))
				best = k;
		ch = best < 0
			 ? '.'
			 : (char)(best < 26 ? 'A' + best : 'a' + best - 26);
		if (slot_open(s->c, lo, lo + CELL))
			ch = '!';
		if (color && best >= 0)
			printf("\033[%dm%c\033[0m", colors[best % 10], ch);
		else
			putchar(ch);
		if (cell % 64 == 63)
			printf(cell == SP_SLOTS / CELL - 1 ? "\n" : "\n  ");
	}
}

/* The primary's replicas: nodes whose own line follows primary id. */
static void for_replicas(const sp_cluster *c, const char *id,
			 void (*fn)(const sp_node_state *r, void *ud), void *ud)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		const sp_node *self = sp_view_self(&c->nodes[i].view);
		if (self != NULL && strcmp(self->master_id, id) == 0)
			fn(&c->nodes[i], ud);
	}
}

static long long lag_of(const sp_node_state *p, const sp_node_state *r)
{
	long long lag = p->repl_offset - r->repl_offset;
	return lag > 0 ? lag : 0;
}

struct rep_ctx {
	const sp_node_state *p;
	json_t *arr;
};

static void print_replica(const sp_node_state *r, void *ud)
{
	struct rep_ctx *x = ud;

	if (x->arr != NULL) {
		json_array_append_new(
		    x->arr,
		    json_pack("{s:s, s:s, s:s, s:I}", "id", r->id, "addr",
			      r->addr, "link",
			      r->master_link_up ? "up" : "down", "lag_bytes",
			      (json_int_t)lag_of(x->p, r)));
		return;
	}
	printf("      replica %-21s %.8s  link %-4s lag %lld bytes%s\n",
	       r->addr, r->id, r->master_link_up ? "up" : "down",
	       lag_of(x->p, r), r->sync_in_progress ? " (syncing)" : "");
}

static void print_primary(const status *s, size_t k, json_t *arr)
{
	const sp_node_state *p = &s->c->nodes[s->prim[k]];
	int idx = sp_view_find(&p->view, p->id);
	char ranges[4096] = "", used[32], maxm[32];
	int nslots =
	    sp_view_format_ranges(&p->view, idx, ranges, sizeof(ranges));
	struct rep_ctx x = {.p = p, .arr = NULL};

	if (arr != NULL) {
		x.arr = json_array();
		for_replicas(s->c, p->id, print_replica, &x);
		json_array_append_new(
		    arr, json_pack(
			     "{s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:o}", "id",
			     p->id, "addr", p->addr, "slots", nslots, "ranges",
			     ranges, "keys", (json_int_t)p->keys, "used_memory",
			     (json_int_t)p->used_memory, "maxmemory",
			     (json_int_t)p->maxmemory, "replicas", x.arr));
		return;
	}
	human_bytes(p->used_memory, used, sizeof(used));
	if (p->maxmemory > 0)
		human_bytes(p->maxmemory, maxm, sizeof(maxm));
	else
		snprintf(maxm, sizeof(maxm), "none");
	printf("  %c primary %-21s %.8s  %5d slots  %8lld keys  mem %s / %s\n"
	       "      ranges %s\n",
	       (char)(k < 26 ? 'A' + k : 'a' + k - 26), p->addr, p->id, nslots,
	       p->keys, used, maxm, ranges[0] ? ranges : "-");
	for_replicas(s->c, p->id, print_replica, &x);
}

static void emit(const status *s, const sp_cli *cli)
{
	const sp_node_state *e = &s->c->nodes[0];
	json_t *prims = NULL, *unr = NULL, *o;
	size_t i;

	if (cli->json) {
		prims = json_array();
		unr = json_array();
	} else {
		printf("Cluster at %s: state %s, %zu nodes, %zu primaries\n\n",
		       e->addr, e->state_ok ? "ok" : "FAIL", s->c->nnodes,
		       s->nprim);
	}
	for (i = 0; i < s->nprim; i++)
		print_primary(s, i, prims);
	for (i = 0; i < s->c->nnodes; i++) {
		const sp_node_state *n = &s->c->nodes[i];
		if (n->reachable)
			continue;
		if (unr != NULL)
			json_array_append_new(unr, json_string(n->addr));
		else
			printf("  unreachable %s: %s\n", n->addr, n->err_msg);
	}
	if (!cli->json) {
		print_map(s, cli->tty);
		return;
	}
	o = json_pack("{s:s, s:i, s:o, s:o}", "cluster_state",
		      e->state_ok ? "ok" : "fail", "nodes", (int)s->c->nnodes,
		      "primaries", prims, "unreachable", unr);
	sp_cli_json_print(o);
}

static int run(sp_cli_ctx *x, void *args)
{
	sp_cluster c = {0};
	status *s = calloc(1, sizeof(*s));
	int rc = SP_EXIT_INTERNAL;

	(void)args;
	if (s == NULL)
		goto out;
	if (sp_cluster_gather(x->host, x->port, &x->cli.conn, &c, &x->err) !=
	    SP_OK) {
		rc = sp_cli_fail(&x->cli, &x->err);
		goto out;
	}
	s->c = &c;
	s->nprim = sp_cluster_primaries(&c, s->prim, SP_SLOTS);
	sp_cluster_claims(&c, s->claims);
	emit(s, &x->cli);
	rc = SP_EXIT_OK;
out:
	sp_cluster_free(&c);
	free(s);
	return rc;
}

const sp_cmd sp_def_status = SP_CMD(
    "status", "status HOST:PORT", "primaries, replicas, keys, memory, slot map",
    .help = "usage: slotpilot status HOST:PORT [--json]\n",
    SP_POS(1, 1, "status: give one HOST:PORT", 0), .entry = 1, .run = run);
