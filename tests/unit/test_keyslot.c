/*
 * test_keyslot.c - sp_crc16 and sp_keyslot against the values a real
 * Redis 7.0.15 returned for CLUSTER KEYSLOT (each was checked against the
 * server before it was written here, keys with NUL bytes sent as RESP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/keyslot.h"

/* The slot of a key written as a C string literal (NULs included). */
#define SLOT(lit) sp_keyslot((lit), sizeof(lit) - 1)

static void test_crc16_check_value_is_0x31c3(void **state)
{
	(void)state;
	/* The XMODEM check value, and CLUSTER KEYSLOT 123456789 = 12739. */
	assert_int_equal(sp_crc16("123456789", 9), 0x31C3);
	assert_int_equal(SLOT("123456789"), 12739);
}

static void test_crc16_of_nothing_is_zero(void **state)
{
	(void)state;
	assert_int_equal(sp_crc16("", 0), 0);
	assert_int_equal(sp_crc16(NULL, 0), 0);
}

static void test_plain_keys_match_the_server(void **state)
{
	(void)state;
	assert_int_equal(SLOT("foo"), 12182);
	assert_int_equal(SLOT("bar"), 5061);
	assert_int_equal(SLOT("user1000"), 3443);
}

static void test_hash_tag_keys_share_a_slot(void **state)
{
	(void)state;
	assert_int_equal(SLOT("{user1000}.following"), 3443);
	assert_int_equal(SLOT("{user1000}.followers"), 3443);
}

static void test_empty_tag_hashes_the_whole_key(void **state)
{
	(void)state;
	assert_int_equal(SLOT("foo{}{bar}"), 8363);
	assert_int_equal(SLOT("foo{}{bar}"),
			 sp_crc16("foo{}{bar}", 10) & 0x3fff);
	assert_int_equal(SLOT("{}"), 15257);
}

static void test_tag_runs_from_first_open_to_next_close(void **state)
{
	(void)state;
	/* "foo{{bar}}zap" hashes "{bar". */
	assert_int_equal(SLOT("foo{{bar}}zap"), 4015);
	assert_int_equal(SLOT("{bar"), 4015);
	/* Only the first tag counts: "foo{bar}{zap}" hashes "bar". */
	assert_int_equal(SLOT("foo{bar}{zap}"), 5061);
}

static void test_unclosed_or_reversed_braces_hash_the_whole_key(void **state)
{
	(void)state;
	assert_int_equal(SLOT("{"), 4092);
	assert_int_equal(SLOT("x}y{"), 8402);
	/* "}{x}": the '}' before the first '{' does not count. */
	assert_int_equal(SLOT("}{x}"), 16287);
	assert_int_equal(SLOT("}{x}"), SLOT("x"));
}

static void test_empty_key_is_slot_zero(void **state)
{
	(void)state;
	assert_int_equal(sp_keyslot("", 0), 0);
	assert_int_equal(sp_keyslot(NULL, 0), 0);
}

static void test_keys_with_nul_bytes_are_hashed_by_length(void **state)
{
	(void)state;
	assert_int_equal(SLOT("a\0b"), 8383);
	assert_int_equal(SLOT("\0"), 0);
	assert_int_equal(SLOT("a\0"), 14363);
	assert_int_equal(SLOT("{a\0}x"), 14363);
	assert_int_equal(SLOT("key:{\0}"), 0);
	assert_int_equal(SLOT("\xff\xfe\0\x80"), 8824);
	assert_int_not_equal(SLOT("a\0b"), SLOT("a"));
}

static void test_slot_is_always_in_range(void **state)
{
	char key[16];
	int i, s;

	(void)state;
	for (i = 0; i < 100000; i++) {
		memcpy(key, &i, sizeof(i));
		s = sp_keyslot(key, sizeof(i));
		assert_in_range(s, 0, 16383);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc16_check_value_is_0x31c3),
	    cmocka_unit_test(test_crc16_of_nothing_is_zero),
	    cmocka_unit_test(test_plain_keys_match_the_server),
	    cmocka_unit_test(test_hash_tag_keys_share_a_slot),
	    cmocka_unit_test(test_empty_tag_hashes_the_whole_key),
	    cmocka_unit_test(test_tag_runs_from_first_open_to_next_close),
	    cmocka_unit_test(
		test_unclosed_or_reversed_braces_hash_the_whole_key),
	    cmocka_unit_test(test_empty_key_is_slot_zero),
	    cmocka_unit_test(test_keys_with_nul_bytes_are_hashed_by_length),
	    cmocka_unit_test(test_slot_is_always_in_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
