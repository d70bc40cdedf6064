/*
 * fuzz_cluster_nodes.c - libFuzzer target for sp_view_parse: any bytes
 * must give either a consistent view or SP_ERR_PROTOCOL with an empty
 * view; the formatters are run on whatever was parsed. Seeds (in
 * tests/fuzz/corpus/cluster_nodes/) are the captured replies of
 * tests/fixtures/cluster_nodes_*.txt and of scripts/fuzz_seeds.py. Built by
 * `make fuzz`, run by `make fuzz-run` (README, "Fuzzing").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/topology.h"

#include "fuzz.h"

/* Aborts (a finding) unless a successful parse is self-consistent. */
static void check_view(const sp_view *v)
{
	char buf[128];
	size_t i;
	long long total = 0;
	int s, owned = 0;

	if (v->myself != -1 &&
	    (v->myself < 0 || (size_t)v->myself >= v->nnodes))
		abort();
	for (s = 0; s < SP_SLOTS; s++) {
		if (v->owner[s] < SP_NO_OWNER || v->owner[s] >= (int)v->nnodes)
			abort();
		owned += v->owner[s] != SP_NO_OWNER;
	}
	for (i = 0; i < v->nnodes; i++) {
		/* the id index finds the first line with each id */
		int k = sp_view_find(v, v->nodes[i].id);
		if (v->nodes[i].id[0] != '\0' &&
		    (k < 0 || (size_t)k > i ||
		     strcmp(v->nodes[k].id, v->nodes[i].id) != 0))
			abort();
		total += v->nodes[i].nslots;
		sp_flags_format(v->nodes[i].flags, buf, sizeof(buf));
		if (sp_view_format_ranges(v, (int)i, buf, sizeof(buf)) !=
		    v->nodes[i].nslots)
			abort();
	}
	if (total != owned)
		abort();
}

/* Aborts unless a refused parse left the view empty. */
static void check_empty(const sp_view *v)
{
	int s;

	if (v->nodes != NULL || v->nnodes != 0 || v->myself != -1 ||
	    v->open != NULL || v->nopen != 0 || v->byid != NULL)
		abort();
	for (s = 0; s < SP_SLOTS; s++)
		if (v->owner[s] != SP_NO_OWNER)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_view v;
	sp_error err;
	sp_err r;

	sp_error_clear(&err);
	r = sp_view_parse(&v, (const char *)data, size, &err);
	if (r == SP_OK)
		check_view(&v);
	else if (r == SP_ERR_PROTOCOL && err.code == SP_ERR_PROTOCOL)
		check_empty(&v);
	else
		abort();
	sp_view_free(&v);
	return 0;
}
