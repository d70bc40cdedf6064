/*
 * fuzz_prometheus.c - libFuzzer target for the Prometheus answer parser
 * (sp_prom_parse_vector): any bytes give samples or SP_ERR_PROTOCOL with
 * no samples; every sample's label is NUL-terminated.
 */
#include "autoscale/metrics.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = fuzz_text(data, size);
	sp_prom_sample *v = NULL;
	sp_error err;
	size_t n = 0, i;
	sp_err rc;

	if (json == NULL)
		return 0;
	sp_error_clear(&err);
	rc = sp_prom_parse_vector(json, "instance", &v, &n, &err);
	if (rc == SP_OK) {
		for (i = 0; i < n; i++)
			if (memchr(v[i].label, '\0', sizeof(v[i].label)) ==
			    NULL)
				abort();
	} else if (n != 0 || err.msg[0] == '\0') {
		abort();
	}
	free(v);
	free(json);
	return 0;
}
