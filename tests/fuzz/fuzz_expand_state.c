/*
 * fuzz_expand_state.c - libFuzzer target for expand.state, the file an
 * expand leaves for the next run (ops/scale.c's state_load): any file
 * gives a state with at most MAX_NEW NUL-terminated addresses. Includes
 * scale.c to reach its statics.
 */
#include "ops/scale.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char(*addrs)[SP_ADDR_MAX] = calloc(MAX_NEW, SP_ADDR_MAX);
	sp_scale_opts o;
	xstate x;
	int i;

	if (addrs == NULL)
		return 0;
	memset(&o, 0, sizeof(o));
	fuzz_file("expand.state", data, size);
	o.rm.journal_dir = fuzz_dir();
	x = state_load(&o, addrs);
	if (x.n < 0 || x.n > MAX_NEW)
		abort();
	for (i = 0; i < x.n; i++)
		if (memchr(addrs[i], '\0', SP_ADDR_MAX) == NULL)
			abort();
	free(addrs);
	return 0;
}
