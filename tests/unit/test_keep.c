/*
 * test_keep.c - the mover's copies of moved keys (engine/keep.h): held
 * and marked in memory, appended to a private keys file, read back with
 * binary keys and payloads, a torn tail told apart from a malformed
 * record; and the fence key every slot needs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/keep.h"
#include "model/keyslot.h"

#define DST    "0123456789abcdef0123456789abcdef01234567"
#define REPLID "fedcba9876543210fedcba9876543210fedcba98"

typedef struct seen {
	sp_kept_key v[8];
	char blobs[8][64];
	size_t n;
} seen;

static sp_err remember(void *ud, const sp_kept_key *kk)
{
	seen *s = ud;

	if (s->n == 8 || kk->klen + kk->plen > 64)
		return SP_ERR_INTERNAL;
	s->v[s->n] = *kk;
	memcpy(s->blobs[s->n], kk->key, kk->klen + kk->plen);
	s->v[s->n].key = s->blobs[s->n];
	s->v[s->n].payload = s->blobs[s->n] + kk->klen;
	s->n++;
	return SP_OK;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void test_copies_are_marked_once_and_cleared(void **state)
{
	sp_keep k = {0};

	(void)state;
	assert_int_equal(sp_keep_add(&k, DST, 7, "a", 1, "xy", 2, -1), SP_OK);
	sp_keep_mark(&k, REPLID, 100);
	assert_int_equal(sp_keep_add(&k, DST, 7, "b", 1, "z", 1, 5000), SP_OK);
	sp_keep_mark(&k, REPLID, 200);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.v[0].offset, 100); /* the first mark stays */
	assert_int_equal(k.v[1].offset, 200);
	assert_int_equal(k.bytes, 5);
	sp_keep_clear(&k);
	assert_int_equal(k.n, 0);
	assert_int_equal(k.bytes, 0);
	sp_keep_free(&k);
}

static void test_file_round_trip_with_binary_keys_is_private(void **state)
{
	char dir[] = "/tmp/sp-test-keep-XXXXXX", path[128];
	sp_keep k = {0};
	seen s = {0};
	sp_error e = {0};
	struct stat st;
	size_t len;
	char *buf;
	int torn = 1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/op.journal.keys", dir);
	assert_int_equal(sp_keep_add(&k, DST, 42, "k\n1 2", 5, "\0\n\xff", 3,
				     1700000000000LL),
			 SP_OK);
	assert_int_equal(sp_keep_append_file(&k, path, &e), SP_OK);
	sp_keep_mark(&k, REPLID, 12345);
	assert_int_equal(sp_keep_append_file(&k, path, &e), SP_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	buf = slurp(path, &len);
	assert_int_equal(sp_keep_parse(buf, len, remember, &s, &torn, &e),
			 SP_OK);
	assert_int_equal(torn, 0);
	assert_int_equal(s.n, 2); /* one header, two records */
	assert_int_equal(s.v[0].klen, 5);
	assert_memory_equal(s.v[0].key, "k\n1 2", 5);
	assert_memory_equal(s.v[0].payload, "\0\n\xff", 3);
	assert_string_equal(s.v[0].replid, "");
	assert_int_equal(s.v[0].offset, -1);
	assert_string_equal(s.v[1].replid, REPLID);
	assert_int_equal(s.v[1].offset, 12345);
	assert_int_equal(s.v[1].slot, 42);
	assert_int_equal(s.v[1].expire_ms, 1700000000000LL);
	assert_string_equal(s.v[1].dst, DST);
	/* A crash in the middle of the last record: the rest still reads. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(sp_keep_parse(buf, len - 4, remember, &s, &torn, &e),
			 SP_OK);
	assert_int_equal(torn, 1);
	assert_int_equal(s.n, 1);
	free(buf);
	sp_keep_free(&k);
	unlink(path);
	rmdir(dir);
}

static void test_malformed_records_are_refused_naming_them(void **state)
{
	static const char *const bad[] = {
	    "not a keys file\n",
	    SP_KEEP_MAGIC "x " DST " - -1 5 -1 1 1\nab\n",
	    SP_KEEP_MAGIC "k nothex - -1 5 -1 1 1\nab\n",
	    SP_KEEP_MAGIC "k " DST " - -1 16384 -1 1 1\nab\n",
	    SP_KEEP_MAGIC "k " DST " - -1 5 -1 1 1\nabX",
	    SP_KEEP_MAGIC "k " DST " - -1 5 -1 1 99999999999\nab\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seen s = {0};
		sp_error e = {0};
		int torn = 0;
		assert_int_equal(sp_keep_parse(bad[i], strlen(bad[i]), remember,
					       &s, &torn, &e),
				 SP_ERR_PROTOCOL);
		assert_true(e.msg[0] != '\0');
		assert_int_equal(s.n, 0);
	}
}

/* copies.c fences slot s with the key "slotpilot-fence:{N}", N the
 * smallest decimal number whose hash slot is s: every slot has one. */
static void test_every_slot_has_a_small_decimal_tag(void **state)
{
	static unsigned char seen_slot[SP_SLOTS];
	char tag[16];
	int n, found = 0;

	(void)state;
	for (n = 0; n < 110000 && found < SP_SLOTS; n++) {
		int len = snprintf(tag, sizeof(tag), "%d", n),
		    s = sp_keyslot(tag, (size_t)len);
		if (!seen_slot[s])
			seen_slot[s] = 1, found++;
	}
	assert_int_equal(found, SP_SLOTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_copies_are_marked_once_and_cleared),
	    cmocka_unit_test(test_file_round_trip_with_binary_keys_is_private),
	    cmocka_unit_test(test_malformed_records_are_refused_naming_them),
	    cmocka_unit_test(test_every_slot_has_a_small_decimal_tag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
