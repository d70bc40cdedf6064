/*
 * fuzz_plan.c - libFuzzer target for plan files (sp_plan_read): any file
 * is read into a plan whose moves name slots and nodes of the plan, or
 * refused with a message.
 */
#include "ops/rebalance.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("plan.json", data, size);
	sp_plan_file *f = calloc(1, sizeof(*f));
	sp_error err;
	size_t i;

	if (f == NULL)
		return 0;
	sp_error_clear(&err);
	if (sp_plan_read(path, f, &err) == SP_OK) {
		for (i = 0; i < f->plan.nmoves; i++)
			if (f->plan.moves[i].slot < 0 ||
			    f->plan.moves[i].slot >= SP_SLOTS)
				abort();
	} else if (err.msg[0] == '\0') {
		abort();
	}
	sp_plan_file_free(f);
	free(f);
	return 0;
}
