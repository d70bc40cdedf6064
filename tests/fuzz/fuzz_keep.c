/*
 * fuzz_keep.c - libFuzzer target for the keys file reader
 * (sp_keep_parse, engine/keep.h): any bytes are read record by record or
 * refused with SP_ERR_PROTOCOL and a message; every record read lies
 * inside the input and names a slot in range.
 */
#include "engine/keep.h"

#include "fuzz.h"

typedef struct span {
	const char *lo, *hi;
} span;

static sp_err check(void *ud, const sp_kept_key *kk)
{
	const span *s = ud;

	if (kk->slot < 0 || kk->slot >= SP_SLOTS || kk->key < s->lo ||
	    kk->payload + kk->plen > s->hi || kk->key + kk->klen > s->hi ||
	    strlen(kk->dst) != SP_ID_LEN)
		abort();
	return SP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	span s;
	sp_error err;
	int torn;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	s = (span){buf, buf + size};
	sp_error_clear(&err);
	if (sp_keep_parse(buf, size, check, &s, &torn, &err) != SP_OK &&
	    err.msg[0] == '\0')
		abort();
	free(buf);
	return 0;
}
