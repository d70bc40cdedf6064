/*
 * fuzz_config.c - libFuzzer target for the autoscaler's INI configuration
 * (sp_as_config_parse, over inih): any text is accepted or refused with a
 * message naming the file and line.
 */
#include "autoscale/autoscale.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	sp_as_config *c = calloc(1, sizeof(*c));
	sp_error err;

	if (text != NULL && c != NULL) {
		sp_error_clear(&err);
		if (sp_as_config_parse(text, "fuzz.ini", c, &err) != SP_OK &&
		    strncmp(err.msg, "fuzz.ini", 8) != 0)
			abort();
	}
	free(c);
	free(text);
	return 0;
}
