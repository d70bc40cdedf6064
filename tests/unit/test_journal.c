/*
 * test_journal.c - journal ids and which journal is the newest, in a
 * fresh temporary directory per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/journal.h"

#define NODE_ID "0123456789012345678901234567890123456789"

static int dir_setup(void **state)
{
	char *d = strdup("/tmp/sp-test-journal-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

static sp_journal *begin(const char *dir, const char *op)
{
	static int owners[SP_SLOTS];
	sp_endpoint node;
	sp_move m = {0, 0, 0};
	sp_journal *j = NULL;
	sp_error e;
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		owners[s] = 0;
	sp_endpoint_set(&node, NODE_ID, "127.0.0.1", 7000);
	assert_int_equal(sp_journal_begin(dir, op, "127.0.0.1:7000", &node, 1,
					  owners, &m, 1, &j, &e),
			 SP_OK);
	return j;
}

static void load(const char *path, sp_journal_rec *r)
{
	sp_error e;

	assert_int_equal(sp_journal_load(path, r, &e), SP_OK);
	sp_journal_rec_free(r);
}

static void
test_two_journals_in_one_second_are_distinct_and_later_is_newest(void **state)
{
	const char *dir = *state;
	sp_journal_rec *ra = calloc(1, sizeof(*ra)),
		       *rb = calloc(1, sizeof(*rb));
	sp_journal *a = begin(dir, "shrink"), *b = begin(dir, "shrink");
	char path[1024];
	sp_error e;

	assert_string_not_equal(a->path, b->path);
	load(a->path, ra);
	load(b->path, rb);
	assert_string_not_equal(ra->id, rb->id);
	assert_true(rb->seq > ra->seq);
	assert_int_equal(sp_journal_find_last(dir, path, sizeof(path), &e),
			 SP_OK);
	assert_string_equal(path, b->path);
	/* the older stays superseded even while unfinished */
	assert_int_equal(sp_journal_end(b, "interrupted", &e), SP_OK);
	assert_int_equal(sp_journal_find_open(dir, path, sizeof(path), &e),
			 SP_OK);
	assert_string_equal(path, b->path);
	assert_int_equal(sp_journal_end(b, "complete", &e), SP_OK);
	assert_int_equal(sp_journal_find_open(dir, path, sizeof(path), &e),
			 SP_ERR_NOTFOUND);
	sp_journal_close(a);
	sp_journal_close(b);
	free(ra);
	free(rb);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

#define BEGIN_REC(seq, ms)                                                     \
	"{\"type\":\"begin\",\"version\":1,\"op\":\"reshard\",\"id\":\"x\","   \
	"\"entry\":\"127.0.0.1:7000\",\"time\":1,\"seq\":" #seq                \
	",\"time_ms\":" #ms ",\"nodes\":[{\"id\":\"" NODE_ID                   \
	"\",\"addr\":\"127.0.0.1:7000\"}],\"owners\":[],\"moves\":[]}\n"

static void test_newest_is_by_recorded_seq_not_by_name(void **state)
{
	const char *dir = *state;
	char path[1024], want[1024];
	sp_error e;

	/* "z" sorts last, but "a" was created after it */
	write_file(dir, "z-first.journal", BEGIN_REC(1, 2000));
	write_file(dir, "a-second.journal", BEGIN_REC(2, 1000));
	assert_int_equal(sp_journal_find_last(dir, path, sizeof(path), &e),
			 SP_OK);
	snprintf(want, sizeof(want), "%s/a-second.journal", dir);
	assert_string_equal(path, want);
}

static void test_next_journal_takes_the_next_seq(void **state)
{
	const char *dir = *state;
	sp_journal_rec *r = calloc(1, sizeof(*r));
	sp_journal *j;

	write_file(dir, "old.journal", BEGIN_REC(41, 1000));
	j = begin(dir, "reshard");
	load(j->path, r);
	assert_int_equal(r->seq, 42);
	assert_true(r->created_ms > 1000);
	sp_journal_close(j);
	free(r);
}

static void
test_journals_from_concurrent_processes_get_distinct_seqs(void **state)
{
	const char *dir = *state;
	sp_journal_rec *r = calloc(1, sizeof(*r));
	int seen[9] = {0}, i, st;
	char path[1024];
	pid_t pid[8];

	for (i = 0; i < 8; i++) {
		assert_true((pid[i] = fork()) >= 0);
		if (pid[i] == 0) {
			sp_journal_close(begin(dir, "expand"));
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (i = 0; i < 8; i++) {
		/* the newest has seq 8; remove it and look again */
		sp_error e;
		assert_int_equal(
		    sp_journal_find_last(dir, path, sizeof(path), &e), SP_OK);
		load(path, r);
		assert_in_range(r->seq, 1, 8);
		assert_int_equal(r->seq, 8 - i);
		seen[r->seq]++;
		assert_int_equal(unlink(path), 0);
	}
	for (i = 1; i <= 8; i++)
		assert_int_equal(seen[i], 1);
	free(r);
}

/* A crash while the begin record was written: half a line, no newline. */
static void test_torn_first_record_is_reported_naming_the_file(void **state)
{
	const char *dir = *state;
	sp_journal_rec *r = calloc(1, sizeof(*r));
	char path[1024], want[1024];
	sp_error e = {0};

	write_file(dir, "torn.journal",
		   "{\"type\":\"begin\",\"version\":1,\"op\":\"resh");
	snprintf(want, sizeof(want), "%s/torn.journal", dir);
	assert_int_equal(sp_journal_load(want, r, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "torn"));
	/* resume's look-up does not take it for "nothing to resume" */
	memset(&e, 0, sizeof(e));
	assert_int_equal(sp_journal_find_open(dir, path, sizeof(path), &e),
			 SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, want));
	free(r);
}

/* Created, then a crash before the begin record was written. */
static void test_empty_journal_is_reported_as_torn(void **state)
{
	const char *dir = *state;
	char path[1024];
	sp_error e = {0};

	write_file(dir, "empty.journal", "");
	assert_int_equal(sp_journal_find_last(dir, path, sizeof(path), &e),
			 SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "empty.journal"));
}

/* A torn last line (a done record) only costs a re-check: it loads. */
static void test_torn_last_record_is_skipped(void **state)
{
	const char *dir = *state;
	sp_journal_rec *r = calloc(1, sizeof(*r));
	char path[1024];
	sp_error e = {0};

	write_file(dir, "last.journal",
		   BEGIN_REC(1, 1000) "{\"type\":\"done\",\"slo");
	snprintf(path, sizeof(path), "%s/last.journal", dir);
	assert_int_equal(sp_journal_load(path, r, &e), SP_OK);
	sp_journal_rec_free(r);
	free(r);
}

#define MOVES_REC(moves)                                                       \
	"{\"type\":\"begin\",\"version\":1,\"op\":\"reshard\",\"id\":\"x\","   \
	"\"entry\":\"127.0.0.1:7000\",\"time\":1,\"seq\":1,\"nodes\":["        \
	"{\"id\":\"" NODE_ID "\",\"addr\":\"127.0.0.1:7000\"},"                \
	"{\"id\":\"" NODE_ID "\",\"addr\":\"127.0.0.1:7001\"},"                \
	"{\"id\":\"" NODE_ID "\",\"addr\":\"127.0.0.1:7002\"}],"               \
	"\"owners\":[[0,16383,0]],\"moves\":" moves "}\n"

static void check_refused(const char *dir, const char *text, const char *what)
{
	sp_journal_rec *r = calloc(1, sizeof(*r));
	char path[1024];
	sp_error e = {0};

	write_file(dir, "dup.journal", text);
	snprintf(path, sizeof(path), "%s/dup.journal", dir);
	assert_int_equal(sp_journal_load(path, r, &e), SP_OK);
	assert_int_equal(sp_journal_check(r, &e), SP_ERR_USAGE);
	assert_non_null(strstr(e.msg, what));
	assert_non_null(strstr(e.msg, "dup.journal"));
	sp_journal_rec_free(r);
	free(r);
}

static void test_journal_moves_that_split_a_slot_are_refused(void **state)
{
	check_refused(*state, MOVES_REC("[[5,0,1],[5,0,2]]"),
		      "slot 5 is listed twice");
	check_refused(*state, MOVES_REC("[[6,1,2]]"),
		      "slot 6: move 0 takes it from node 1, but node 0 owns");
}

static void test_journal_with_sound_moves_passes_the_check(void **state)
{
	sp_journal_rec *r = calloc(1, sizeof(*r));
	char path[1024];
	sp_error e = {0};

	write_file(*state, "ok.journal", MOVES_REC("[[5,0,1],[6,0,2]]"));
	snprintf(path, sizeof(path), "%s/ok.journal", (char *)*state);
	assert_int_equal(sp_journal_load(path, r, &e), SP_OK);
	assert_int_equal(sp_journal_check(r, &e), SP_OK);
	sp_journal_rec_free(r);
	free(r);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    DIR_TEST(
		test_two_journals_in_one_second_are_distinct_and_later_is_newest),
	    DIR_TEST(test_newest_is_by_recorded_seq_not_by_name),
	    DIR_TEST(test_next_journal_takes_the_next_seq),
	    DIR_TEST(test_journals_from_concurrent_processes_get_distinct_seqs),
	    DIR_TEST(test_torn_first_record_is_reported_naming_the_file),
	    DIR_TEST(test_empty_journal_is_reported_as_torn),
	    DIR_TEST(test_torn_last_record_is_skipped),
	    DIR_TEST(test_journal_moves_that_split_a_slot_are_refused),
	    DIR_TEST(test_journal_with_sound_moves_passes_the_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
