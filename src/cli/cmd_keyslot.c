/*
 * cmd_keyslot.c - `slotpilot keyslot KEY...`: the hash slot of each key.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/keyslot.h"

static int no_opts(void *ud, int id, const char *val)
{
	return -1;
}

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

int sp_cmd_keyslot(int argc, char **argv)
{
	sp_cli cli = {0};
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	int npos = 0, i, rc = SP_EXIT_OK;
	json_t *arr = NULL;

	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("usage: slotpilot keyslot KEY... [--json]\n"
		       "Prints the hash slot of each key (CRC16 mod 16384, "
		       "hash tags honoured).\n");
		goto out;
	}
	if (sp_cli_parse(&cli, argc, argv, NULL, no_opts, NULL, pos, &npos)) {
		rc = SP_EXIT_USAGE;
		goto out;
	}
	if (npos == 0) {
		sp_cli_errorf("keyslot: give at least one key");
		rc = SP_EXIT_USAGE;
		goto out;
	}
	if (cli.json && (arr = json_array()) == NULL) {
		rc = SP_EXIT_INTERNAL;
		goto out;
	}
	for (i = 0; i < npos; i++) {
		size_t len = strlen(pos[i]);
		int slot = sp_keyslot(pos[i], len);
		char *e;

		if (arr != NULL) {
			json_array_append_new(arr,
					      json_pack("{s:o, s:i}", "key",
							json_key(pos[i], len),
							"slot", slot));
			continue;
		}
		e = escaped(pos[i]);
		printf("%d\t%s\n", slot, e ? e : "");
		free(e);
	}
	if (arr != NULL) {
		json_dumpf(arr, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
		putchar('\n');
	}
out:
	json_decref(arr);
	free(pos);
	return rc;
}
