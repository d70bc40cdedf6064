/*
 * fuzz_autoscale_state.c - libFuzzer target for autoscale.state, the
 * operation a stopped daemon left (autoscale.c's state_load): any file
 * gives no operation or one of the three, with a positive target.
 * Includes autoscale.c to reach its statics.
 */
#include "autoscale/autoscale.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_as_config *c = calloc(1, sizeof(*c));
	as_daemon d;
	sp_as_action a;
	int target = 0;

	if (c == NULL)
		return 0;
	memset(&d, 0, sizeof(d));
	fuzz_file("autoscale.state", data, size);
	snprintf(c->journal_dir, sizeof(c->journal_dir), "%s", fuzz_dir());
	d.c = c;
	a = state_load(&d, &target);
	if (a != SP_AS_NONE && a != SP_AS_SCALE_OUT && a != SP_AS_SCALE_IN &&
	    a != SP_AS_ADD_REPLICAS)
		abort();
	if (a != SP_AS_NONE && target <= 0)
		abort();
	free(c);
	return 0;
}
