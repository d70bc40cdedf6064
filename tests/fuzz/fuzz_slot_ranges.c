/*
 * fuzz_slot_ranges.c - libFuzzer target for the operator's slot ranges
 * ("a-b,c,...", sp_parse_slot_ranges) and HOST:PORT addresses
 * (sp_parse_hostport), which also come from gossip and redirects.
 */
#include "io/conn.h"
#include "ops/reshard.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *set = calloc(SP_SLOTS, 1);
	char *s = fuzz_text(data, size), host[SP_HOST_MAX];
	sp_error err;
	int port = 0, i;

	if (s != NULL && set != NULL) {
		if (sp_parse_slot_ranges(s, set, &err) == SP_OK)
			for (i = 0; i < SP_SLOTS; i++)
				if (set[i] > 1)
					abort();
		if (sp_parse_hostport(s, host, &port, &err) == SP_OK &&
		    (port < 1 || port > 65535 ||
		     memchr(host, '\0', sizeof(host)) == NULL))
			abort();
	}
	free(s);
	free(set);
	return 0;
}
