/*
 * check_bench.c - what `slotpilot check` costs on this side of the wire
 * for a cluster of 1,000 primaries (DESIGN.md's size): parsing every
 * node's CLUSTER NODES (each of N lines, so N * N lines in all) and
 * running every rule of sp_check_cluster over the N views. The network
 * part (gather.c's parallel waves) is measured on real nodes by
 * bench/scale.py. A benchmark, not a test: it asserts no timing. It fails
 * only when the check finds an error in the healthy cluster it is given,
 * so the figures are for checks that are right.
 *
 *     check_bench [PRIMARIES [REPLICAS [REPS [JSON_OUT]]]]
 *     defaults: 1000 0 11 -
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/checks.h"

static unsigned long long mix(unsigned long long z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Node i's 40-hex id, random-looking as Redis makes them (ids that
 * share a long prefix would make every comparison slower than real). */
static void node_id(size_t i, char *id)
{
	snprintf(id, SP_ID_LEN + 1, "%016llx%016llx%08llx", mix(3 * i + 1),
		 mix(3 * i + 2), mix(3 * i + 3) & 0xffffffffULL);
}

/* Node i of np primaries: primaries first, then replica r of primary p
 * at np + p * nr + r. Ports from 20000, on 10.99.x.y. */
static size_t line(char *buf, size_t cap, size_t i, size_t np, size_t nr,
		   size_t self)
{
	char id[SP_ID_LEN + 1], master[SP_ID_LEN + 1] = "-";
	int port = 20000 + (int)(i % 10000);
	size_t n;

	node_id(i, id);
	if (i >= np)
		node_id((i - np) / nr, master);
	n = (size_t)snprintf(
	    buf, cap,
	    "%s 10.99.%zu.%zu:%d@%d,node-%zu %s%s %s 0 1700000000%03zu "
	    "%zu connected",
	    id, i / 250, i % 250 + 1, port, port + 10000, i,
	    i == self ? "myself," : "", i < np ? "master" : "slave", master,
	    i % 1000, i < np ? i + 1 : (i - np) / nr + 1);
	if (i < np) {
		int lo = (int)(i * SP_SLOTS / np),
		    hi = (int)((i + 1) * SP_SLOTS / np) - 1;
		n += (size_t)snprintf(buf + n, cap - n,
				      lo == hi ? " %d" : " %d-%d", lo, hi);
	}
	n += (size_t)snprintf(buf + n, cap - n, "\n");
	return n;
}

/* The CLUSTER NODES text node self would send. */
static char *nodes_text(size_t np, size_t nr, size_t self, size_t *len)
{
	size_t total = np * (1 + nr), cap = total * 200 + 1, i, n = 0;
	char *t = malloc(cap);

	for (i = 0; t != NULL && i < total; i++)
		n += line(t + n, cap - n, i, np, nr, self);
	*len = n;
	return t;
}

/* Node i's gathered state: reachable, cluster_state ok, its epochs. */
static void fill_state(sp_node_state *s, size_t i, size_t np, size_t nr)
{
	size_t total = np * (1 + nr);

	snprintf(s->host, sizeof(s->host), "10.99.%zu.%zu", i / 250,
		 i % 250 + 1);
	s->port = 20000 + (int)(i % 10000);
	snprintf(s->addr, sizeof(s->addr), "%s:%d", s->host, s->port);
	node_id(i, s->id);
	s->reachable = 1;
	s->state_ok = 1;
	s->known_nodes = (long long)total;
	s->slots_assigned = SP_SLOTS;
	s->current_epoch = (long long)np;
	s->my_epoch = (long long)(i < np ? i + 1 : (i - np) / nr + 1);
	snprintf(s->version, sizeof(s->version), "7.0.15");
	snprintf(s->role, sizeof(s->role), "%s", i < np ? "master" : "slave");
	s->master_link_up = i >= np;
}

/* Parses every node's text into c (timed by the caller). */
static int parse_all(sp_cluster *c, char **texts, const size_t *lens)
{
	sp_error err = {0};
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		sp_view_free(&c->nodes[i].view);
		if (sp_view_parse(&c->nodes[i].view, texts[i], lens[i], &err) !=
		    SP_OK) {
			fprintf(stderr, "check_bench: node %zu: %s\n", i,
				err.msg);
			return -1;
		}
	}
	return 0;
}

/* One check; -1 when it fails or finds an error in the healthy cluster. */
static int check_once(const sp_cluster *c, double *ms)
{
	sp_findings f = {0};
	sp_error err = {0};
	double t = now_ms();
	int rc = 0;

	if (sp_check_cluster(c, NULL, &f, &err) != SP_OK) {
		fprintf(stderr, "check_bench: %s\n", err.msg);
		return -1;
	}
	*ms = now_ms() - t;
	if (sp_findings_errors(&f) > 0) {
		fprintf(stderr,
			"check_bench: the check found %zu errors in a "
			"healthy cluster; first: %s\n",
			sp_findings_errors(&f), f.items[0].msg);
		rc = -1;
	}
	sp_findings_free(&f);
	return rc;
}

typedef struct figures {
	double parse_med, parse_min, check_med, check_min;
	size_t bytes;
	long rss;
} figures;

/* Times reps parses of all views and reps checks. */
static int measure(sp_cluster *c, char **texts, const size_t *lens, int reps,
		   figures *fg)
{
	double *pm = calloc((size_t)reps, sizeof(double));
	double *cm = calloc((size_t)reps, sizeof(double));
	int k, rc = -1;

	for (k = 0; pm != NULL && cm != NULL && k < reps; k++) {
		double t = now_ms();
		if (parse_all(c, texts, lens) != 0)
			goto out;
		pm[k] = now_ms() - t;
		if (check_once(c, &cm[k]) != 0)
			goto out;
	}
	if (pm == NULL || cm == NULL)
		goto out;
	qsort(pm, (size_t)reps, sizeof(double), cmp_double);
	qsort(cm, (size_t)reps, sizeof(double), cmp_double);
	fg->parse_med = pm[reps / 2];
	fg->parse_min = pm[0];
	fg->check_med = cm[reps / 2];
	fg->check_min = cm[0];
	rc = 0;
out:
	free(pm);
	free(cm);
	return rc;
}

static void report(size_t np, size_t nr, int reps, const figures *fg,
		   const char *json)
{
	size_t total = np * (1 + nr);
	FILE *f;

	printf("check_bench: %zu primaries + %zu replicas (%zu nodes), %d "
	       "reps\n",
	       np, np * nr, total, reps);
	printf("  parse every node's CLUSTER NODES (%zu lines, %.1f MB in "
	       "all): median %.1f ms, min %.1f ms (%.1f us per view)\n",
	       total * total, (double)fg->bytes / 1e6, fg->parse_med,
	       fg->parse_min, fg->parse_med * 1000.0 / (double)total);
	printf("  every check rule over the %zu views: median %.2f ms, min "
	       "%.2f ms\n",
	       total, fg->check_med, fg->check_min);
	printf("  peak RSS %ld KiB\n", fg->rss);
	if (json == NULL || (f = fopen(json, "w")) == NULL)
		return;
	fprintf(f,
		"{\"primaries\": %zu, \"replicas\": %zu, \"reps\": %d, "
		"\"text_bytes\": %zu, \"parse_median_ms\": %.3f, "
		"\"parse_min_ms\": %.3f, \"check_median_ms\": %.3f, "
		"\"check_min_ms\": %.3f, \"peak_rss_kib\": %ld}\n",
		np, np * nr, reps, fg->bytes, fg->parse_med, fg->parse_min,
		fg->check_med, fg->check_min, fg->rss);
	fclose(f);
}

static int bench(size_t np, size_t nr, int reps, const char *json)
{
	size_t total = np * (1 + nr), i;
	sp_cluster c = {0};
	char **texts = calloc(total, sizeof(*texts));
	size_t *lens = calloc(total, sizeof(*lens));
	figures fg = {0};
	int rc = 1;

	c.nodes = calloc(total, sizeof(*c.nodes));
	if (texts == NULL || lens == NULL || c.nodes == NULL)
		goto out;
	c.nnodes = c.cap = total;
	for (i = 0; i < total; i++) {
		fill_state(&c.nodes[i], i, np, nr);
		if ((texts[i] = nodes_text(np, nr, i, &lens[i])) == NULL)
			goto out;
		fg.bytes += lens[i];
	}
	if (measure(&c, texts, lens, reps, &fg) != 0)
		goto out;
	fg.rss = peak_rss_kib();
	report(np, nr, reps, &fg, json);
	rc = 0;
out:
	for (i = 0; texts != NULL && i < total; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	sp_cluster_free(&c);
	return rc;
}

int main(int argc, char **argv)
{
	long np = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long nr = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	long reps = argc > 3 ? strtol(argv[3], NULL, 10) : 11;

	if (np < 1 || np > 5000 || nr < 0 || nr > 5 || reps < 1 ||
	    reps > 1000) {
		fprintf(stderr, "usage: check_bench [PRIMARIES [REPLICAS "
				"[REPS [JSON_OUT]]]]\n");
		return 2;
	}
	return bench((size_t)np, (size_t)nr, (int)reps,
		     argc > 4 ? argv[4] : NULL);
}
