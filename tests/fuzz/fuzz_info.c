/*
 * fuzz_info.c - libFuzzer target for the readers of INFO and CLUSTER INFO
 * texts: the node state gather fills (model/cluster.c), the field readers
 * of io/conn.c and the autoscaler's load fields (stats, cpu, clients,
 * latencystats). Every value read must be bounded and NUL-terminated.
 */
#include "autoscale/metrics.h"
#include "io/conn.h"
#include "model/cluster.h"

#include "fuzz.h"

static void check_state(const sp_node_state *n)
{
	if (memchr(n->version, '\0', sizeof(n->version)) == NULL ||
	    memchr(n->role, '\0', sizeof(n->role)) == NULL || n->keys < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *fields[] = {"cluster_state", "role", "process_id",
				       "used_memory", "master_repl_offset"};
	sp_node_state *n = calloc(1, sizeof(*n));
	sp_node_metrics *m = calloc(1, sizeof(*m));
	char *text = fuzz_text(data, size), buf[32];
	long long v;
	size_t i;

	if (n != NULL && m != NULL && text != NULL) {
		sp_node_state_set_info(n, text, text);
		check_state(n);
		sp_metrics_parse_info(m, text);
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (sp_info_field(text, fields[i], buf, sizeof(buf)) &&
			    strlen(buf) >= sizeof(buf))
				abort();
			sp_info_ll(text, fields[i], &v);
		}
	}
	free(text);
	free(m);
	free(n);
	return 0;
}
