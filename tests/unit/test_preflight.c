/*
 * test_preflight.c - the pure parts of preflight and backup: CRC-64 (the
 * RDB checksum), the RDB file check, config drift, headroom arithmetic
 * before and after a plan, latency percentiles, per-slot estimates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crc64.h"
#include "ops/preflight.h"
#include "ops/rdb.h"

/* ------------------------------------------------------------------ */
/* CRC-64                                                              */

static void crc64_matches_redis_test_vector(void **state)
{
	(void)state;
	/* Redis src/crc64.c: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca */
	assert_true(sp_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caULL);
	assert_true(sp_crc64_bitwise(0, "123456789", 9) ==
		    0xe9c6d914c4b8d9caULL);
}

static void crc64_table_equals_bitwise_definition(void **state)
{
	unsigned char buf[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131u + 7u);
	for (i = 0; i < 256; i++) {
		unsigned char b = (unsigned char)i;
		assert_true(sp_crc64(0, &b, 1) == sp_crc64_bitwise(0, &b, 1));
	}
	assert_true(sp_crc64(0, buf, sizeof(buf)) ==
		    sp_crc64_bitwise(0, buf, sizeof(buf)));
}

static void crc64_is_incremental(void **state)
{
	const char *s = "the quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);

	(void)state;
	assert_true(sp_crc64(sp_crc64(0, s, 10), s + 10, n - 10) ==
		    sp_crc64(0, s, n));
	assert_true(sp_crc64(0, s, 0) == 0);
}

/* ------------------------------------------------------------------ */
/* RDB files                                                           */

/* Writes "REDIS0010" + body (no NUL in it) + 0xFF + CRC-64 trailer to a
 * temp file. */
static void write_rdb(char *path, const char *body, int zero_crc)
{
	unsigned char buf[256];
	size_t n = 0, i;
	uint64_t crc;
	FILE *f;
	int fd;

	strcpy(path, "/tmp/sp-test-rdb-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	memcpy(buf, "REDIS0010", 9);
	n = 9;
	memcpy(buf + n, body, strlen(body));
	n += strlen(body);
	buf[n++] = 0xFF;
	crc = zero_crc ? 0 : sp_crc64(0, buf, n);
	for (i = 0; i < 8; i++)
		buf[n++] = (unsigned char)(crc >> (8 * i));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

static void patch_byte(const char *path, long off, unsigned char v)
{
	FILE *f = fopen(path, "r+b");

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	assert_int_equal(fputc(v, f), v);
	fclose(f);
}

static void rdb_check_accepts_a_good_file(void **state)
{
	char path[64];
	sp_rdb_info info;
	sp_error err = {0};

	(void)state;
	write_rdb(path,
		  "\xfa\x09redis-ver\x06"
		  "7.0.15"
		  "\xfe\x01"
		  "abcdef",
		  0);
	assert_int_equal(sp_rdb_check_file(path, &info, &err), SP_OK);
	assert_int_equal(info.version, 10);
	assert_true(info.trailer == info.computed);
	assert_int_equal(info.checksum_off, 0);
	unlink(path);
}

static void rdb_check_names_a_flipped_byte(void **state)
{
	char path[64];
	sp_rdb_info info;
	sp_error err = {0};

	(void)state;
	write_rdb(path,
		  "\xfe\x01"
		  "abcdefgh",
		  0);
	patch_byte(path, 12, 'z');
	assert_int_equal(sp_rdb_check_file(path, &info, &err), SP_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "checksum mismatch"));
	assert_non_null(strstr(err.msg, path));
	unlink(path);
}

static void rdb_check_names_a_truncated_file(void **state)
{
	char path[64];
	sp_rdb_info info;
	sp_error err = {0};

	(void)state;
	write_rdb(path,
		  "\xfe\x01"
		  "abcdefghijklmnop",
		  0);
	assert_int_equal(truncate(path, 20), 0);
	assert_int_equal(sp_rdb_check_file(path, &info, &err), SP_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "truncated"));
	unlink(path);
}

static void rdb_check_refuses_a_file_that_is_not_rdb(void **state)
{
	char path[64];
	sp_rdb_info info;
	sp_error err = {0};

	(void)state;
	write_rdb(path, "abc", 0);
	patch_byte(path, 0, 'X');
	assert_int_equal(sp_rdb_check_file(path, &info, &err), SP_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "not an RDB file"));
	unlink(path);
	assert_int_equal(sp_rdb_check_file("/nonexistent/x.rdb", &info, &err),
			 SP_ERR_SYSTEM);
}

static void rdb_check_accepts_checksum_off_and_says_so(void **state)
{
	char path[64];
	sp_rdb_info info;
	sp_error err = {0};

	(void)state;
	write_rdb(path,
		  "\xfe\x01"
		  "xyz",
		  1);
	assert_int_equal(sp_rdb_check_file(path, &info, &err), SP_OK);
	assert_int_equal(info.checksum_off, 1);
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* Config drift                                                        */

static const char *const params[] = {"cluster-node-timeout", "maxmemory"};

static void set_node(sp_pf_node *n, const char *addr, const char *version,
		     const char *timeout, const char *maxmem)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->addr, sizeof(n->addr), "%s", addr);
	snprintf(n->version, sizeof(n->version), "%s", version);
	n->reachable = 1;
	n->config_read = 1;
	n->values[0] = (char *)timeout;
	n->values[1] = (char *)maxmem;
}

static void drift_none_when_every_node_matches(void **state)
{
	sp_pf_node n[3];
	sp_findings f = {0};
	sp_error err = {0};
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		set_node(&n[i], "h:1", "7.0.15", "5000", "0");
	assert_int_equal(sp_pf_drift(n, 3, params, 2, &f, &err), SP_OK);
	assert_int_equal(f.n, 0);
	sp_findings_free(&f);
}

static void drift_names_the_odd_node_and_both_values(void **state)
{
	sp_pf_node n[4];
	sp_findings f = {0};
	sp_error err = {0};

	(void)state;
	set_node(&n[0], "10.0.0.1:6379", "7.0.15", "5000", "0");
	set_node(&n[1], "10.0.0.2:6379", "7.0.15", "15000", "0");
	set_node(&n[2], "10.0.0.3:6379", "7.0.15", "5000", "0");
	set_node(&n[3], "10.0.0.4:6379", "7.0.15", "5000", "0");
	assert_int_equal(sp_pf_drift(n, 4, params, 2, &f, &err), SP_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.items[0].code, "config-drift");
	assert_string_equal(f.items[0].node, "10.0.0.2:6379");
	assert_non_null(strstr(f.items[0].msg, "cluster-node-timeout"));
	assert_non_null(strstr(f.items[0].msg, "\"15000\""));
	assert_non_null(strstr(f.items[0].msg, "\"5000\" on 3 other nodes"));
	sp_findings_free(&f);
}

static void drift_reports_versions_and_absent_parameters(void **state)
{
	sp_pf_node n[3];
	sp_findings f = {0};
	sp_error err = {0};

	(void)state;
	set_node(&n[0], "a:1", "7.0.15", "5000", "0");
	set_node(&n[1], "b:1", "7.0.15", "5000", "0");
	set_node(&n[2], "c:1", "6.2.14", "5000", NULL); /* absent on it */
	assert_int_equal(sp_pf_drift(n, 3, params, 2, &f, &err), SP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.items[0].code, "version-drift");
	assert_string_equal(f.items[0].node, "c:1");
	assert_string_equal(f.items[1].code, "config-drift");
	assert_non_null(strstr(f.items[1].msg, "(absent)"));
	sp_findings_free(&f);
}

static void drift_leaves_out_unreadable_and_unreachable_nodes(void **state)
{
	sp_pf_node n[3];
	sp_findings f = {0};
	sp_error err = {0};

	(void)state;
	set_node(&n[0], "a:1", "7.0.15", "5000", "0");
	set_node(&n[1], "b:1", "7.0.15", "9999", "1");
	set_node(&n[2], "c:1", "9.9.9", "1", "2");
	n[1].config_read = 0; /* CONFIG forbidden: its own finding */
	n[2].reachable = 0;
	assert_int_equal(sp_pf_drift(n, 3, params, 2, &f, &err), SP_OK);
	assert_int_equal(f.n, 0);
	sp_findings_free(&f);
}

/* ------------------------------------------------------------------ */
/* Headroom                                                            */

static void primary(sp_pf_node *n, const char *addr, long long used,
		    long long max)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->addr, sizeof(n->addr), "%s", addr);
	n->reachable = 1;
	n->primary = 1;
	n->used_memory = used;
	n->maxmemory = max;
}

static const sp_finding *find_code(const sp_findings *f, const char *code,
				   const char *node)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0 &&
		    strcmp(f->items[i].node, node) == 0)
			return &f->items[i];
	return NULL;
}

static void headroom_flags_a_primary_above_the_limit(void **state)
{
	sp_pf_node n[2];
	sp_findings f = {0}, notes = {0};
	sp_error err = {0};

	(void)state;
	primary(&n[0], "a:1", 79000000, 100000000);
	primary(&n[1], "b:1", 81000000, 100000000);
	assert_int_equal(
	    sp_pf_headroom(n, 2, NULL, 0, 80, 10, &f, &notes, &err), SP_OK);
	assert_int_equal(f.n, 1);
	assert_non_null(find_code(&f, "memory-high", "b:1"));
	assert_int_equal(notes.n, 0);
	assert_true(n[0].projected == -1);
	sp_findings_free(&f);
	sp_findings_free(&notes);
}

static void headroom_notes_unlimited_maxmemory_without_a_finding(void **s)
{
	sp_pf_node n[1];
	sp_findings f = {0}, notes = {0};
	sp_error err = {0};

	(void)s;
	primary(&n[0], "a:1", 500000000, 0);
	assert_int_equal(
	    sp_pf_headroom(n, 1, NULL, 0, 80, 10, &f, &notes, &err), SP_OK);
	assert_int_equal(f.n, 0);
	assert_int_equal(notes.n, 1);
	assert_non_null(strstr(notes.items[0].msg, "unlimited"));
	sp_findings_free(&f);
	sp_findings_free(&notes);
}

static void
headroom_projects_a_drain_and_flags_the_overfilled_target(void **state)
{
	/* Drain c over a and b: a receives 30 MB, b 10 MB, 10 % margin. */
	sp_pf_move mv[] = {
	    {0, 2, 0, 20000000}, {1, 2, 0, 10000000}, {2, 2, 1, 10000000}};
	sp_pf_node n[3];
	sp_findings f = {0}, notes = {0};
	sp_error err = {0};
	const sp_finding *x;

	(void)state;
	primary(&n[0], "a:1", 50000000, 100000000);
	primary(&n[1], "b:1", 50000000, 100000000);
	primary(&n[2], "c:1", 60000000, 100000000);
	assert_int_equal(sp_pf_headroom(n, 3, mv, 3, 80, 10, &f, &notes, &err),
			 SP_OK);
	assert_true(n[0].plan_in == 30000000 && n[0].plan_out == 0);
	assert_true(n[0].projected == 50000000 + 33000000);
	assert_true(n[1].projected == 50000000 + 11000000);
	assert_true(n[2].projected == 60000000 - 40000000);
	assert_int_equal(f.n, 1);
	x = find_code(&f, "plan-overfill", "a:1");
	assert_non_null(x);
	/* 83 MB against an 80 MB limit: 3.0 MB over. */
	assert_non_null(strstr(x->msg, "3.0 MB over"));
	assert_non_null(strstr(x->msg, "83.0 MB"));
	sp_findings_free(&f);
	sp_findings_free(&notes);
}

static void headroom_ignores_replicas_and_unreachable_nodes(void **state)
{
	sp_pf_node n[2];
	sp_findings f = {0}, notes = {0};
	sp_error err = {0};

	(void)state;
	primary(&n[0], "a:1", 99000000, 100000000);
	primary(&n[1], "b:1", 99000000, 100000000);
	n[0].primary = 0;
	n[1].reachable = 0;
	assert_int_equal(
	    sp_pf_headroom(n, 2, NULL, 0, 80, 10, &f, &notes, &err), SP_OK);
	assert_int_equal(f.n + notes.n, 0);
	sp_findings_free(&f);
	sp_findings_free(&notes);
}

/* ------------------------------------------------------------------ */
/* Latency, estimates, names                                           */

static void latency_percentiles_use_nearest_rank(void **state)
{
	double ms[100], avg, p50, p99, max;
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		ms[i] = (double)(100 - i); /* 100 .. 1, unsorted */
	sp_pf_latency_stats(ms, 100, &avg, &p50, &p99, &max);
	assert_true(avg == 50.5);
	assert_true(p50 == 50);
	assert_true(p99 == 99);
	assert_true(max == 100);
	sp_pf_latency_stats(ms, 0, &avg, &p50, &p99, &max);
	assert_true(avg == 0 && p99 == 0);
	ms[0] = 7;
	sp_pf_latency_stats(ms, 1, &avg, &p50, &p99, &max);
	assert_true(p50 == 7 && p99 == 7);
}

static void slot_estimate_is_dataset_share_of_keys(void **state)
{
	(void)state;
	assert_true(sp_pf_slot_estimate(1000000, 1000, 10) == 10000);
	assert_true(sp_pf_slot_estimate(1000000, 0, 10) == 0);
	assert_true(sp_pf_slot_estimate(1000000, 1000, 0) == 0);
}

static void printable_escapes_binary_and_quotes(void **state)
{
	char buf[64];

	(void)state;
	sp_pf_printable("a\"b\\c\x01\xff", 7, buf, sizeof(buf));
	assert_string_equal(buf, "a\\x22b\\x5cc\\x01\\xff");
	sp_pf_printable("abcdefgh", 8, buf, 6);
	assert_true(strlen(buf) < 6);
}

static void sections_of_finding_codes(void **state)
{
	(void)state;
	assert_string_equal(sp_preflight_section("config-drift"), "config");
	assert_string_equal(sp_preflight_section("big-key"), "bigkeys");
	assert_string_equal(sp_preflight_section("plan-overfill"), "headroom");
	assert_string_equal(sp_preflight_section("replica-link-down"),
			    "replication");
	assert_string_equal(sp_preflight_section("latency-p99"), "latency");
	assert_string_equal(sp_preflight_section("open-slot"), "check");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(crc64_matches_redis_test_vector),
	    cmocka_unit_test(crc64_table_equals_bitwise_definition),
	    cmocka_unit_test(crc64_is_incremental),
	    cmocka_unit_test(rdb_check_accepts_a_good_file),
	    cmocka_unit_test(rdb_check_names_a_flipped_byte),
	    cmocka_unit_test(rdb_check_names_a_truncated_file),
	    cmocka_unit_test(rdb_check_refuses_a_file_that_is_not_rdb),
	    cmocka_unit_test(rdb_check_accepts_checksum_off_and_says_so),
	    cmocka_unit_test(drift_none_when_every_node_matches),
	    cmocka_unit_test(drift_names_the_odd_node_and_both_values),
	    cmocka_unit_test(drift_reports_versions_and_absent_parameters),
	    cmocka_unit_test(drift_leaves_out_unreadable_and_unreachable_nodes),
	    cmocka_unit_test(headroom_flags_a_primary_above_the_limit),
	    cmocka_unit_test(
		headroom_notes_unlimited_maxmemory_without_a_finding),
	    cmocka_unit_test(
		headroom_projects_a_drain_and_flags_the_overfilled_target),
	    cmocka_unit_test(headroom_ignores_replicas_and_unreachable_nodes),
	    cmocka_unit_test(latency_percentiles_use_nearest_rank),
	    cmocka_unit_test(slot_estimate_is_dataset_share_of_keys),
	    cmocka_unit_test(printable_escapes_binary_and_quotes),
	    cmocka_unit_test(sections_of_finding_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
