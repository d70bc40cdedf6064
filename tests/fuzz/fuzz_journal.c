/*
 * fuzz_journal.c - libFuzzer target for the journal reader
 * (sp_journal_load): any file is read into a record or refused with
 * SP_ERR_PROTOCOL (or SP_ERR_USAGE naming the slot a record would split);
 * what is read is released without leaks.
 */
#include "engine/journal.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("op.journal", data, size);
	sp_journal_rec *rec = calloc(1, sizeof(*rec));
	sp_error err;
	size_t i;

	if (rec == NULL)
		return 0;
	sp_error_clear(&err);
	if (sp_journal_load(path, rec, &err) == SP_OK) {
		for (i = 0; i < rec->plan.nmoves; i++)
			if (rec->plan.moves[i].slot < 0 ||
			    rec->plan.moves[i].slot >= SP_SLOTS)
				abort();
	} else if (err.msg[0] == '\0') {
		abort();
	}
	sp_journal_rec_free(rec);
	free(rec);
	return 0;
}
