/*
 * cmd_keyslot.c - `slotpilot keyslot KEY...`: the hash slot of each key.
 */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/keyslot.h"

/* Writes key with bytes outside printable ASCII as \xHH; caller frees. */
static char *escaped(const char *k)
{
	char *out = malloc(strlen(k) * 4 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *k; k++) {
		unsigned char ch = (unsigned char)*k;
		if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			p += sprintf(p, "\\x%02x", ch);
		else
			*p++ = (char)ch;
	}
	*p = '\0';
	return out;
}

/* The key as a JSON string: itself when valid UTF-8, else escaped. */
static json_t *json_key(const char *k, size_t len)
{
	json_t *j = json_stringn(k, len);
	char *e;

	if (j != NULL || (e = escaped(k)) == NULL)
		return j;
	j = json_string(e);
	free(e);
	return j;
}

static int run(sp_cli_ctx *x, void *args)
{
	json_t *arr = NULL;
	int i;

	(void)args;
	if (x->cli.json && (arr = json_array()) == NULL)
		return SP_EXIT_INTERNAL;
	for (i = 0; i < x->npos; i++) {
		size_t len = strlen(x->pos[i]);
		int slot = sp_keyslot(x->pos[i], len);
		char *e;

		if (arr != NULL) {
			json_array_append_new(
			    arr,
			    json_pack("{s:o, s:i}", "key",
				      json_key(x->pos[i], len), "slot", slot));
			continue;
		}
		e = escaped(x->pos[i]);
		printf("%d\t%s\n", slot, e ? e : "");
		free(e);
	}
	if (arr != NULL)
		sp_cli_json_print(arr);
	return SP_EXIT_OK;
}

const sp_cmd sp_def_keyslot =
    SP_CMD("keyslot", "keyslot KEY...", "hash slot of each key",
	   .help = "usage: slotpilot keyslot KEY... [--json]\n"
		   "Prints the hash slot of each key (CRC16 mod 16384, "
		   "hash tags honoured).\n",
	   SP_POS(1, INT_MAX, "keyslot: give at least one key", 0), .run = run);
