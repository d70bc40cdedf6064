/*
 * test_journal_writer.c - the engine calls sp_journal_done with its lock
 * held, so the record's write and fsync must happen elsewhere (the
 * journal's writer thread), and still be on disk before the end record.
 * Includes journal.c with fsync replaced, to see which thread calls it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

static pthread_t callback_thread;
static volatile int in_callback; /* the "engine lock" is held */
static int fsyncs, fsyncs_in_callback;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;

static int counting_fsync(int fd)
{
	pthread_mutex_lock(&count_mu);
	fsyncs++;
	if (in_callback && pthread_equal(pthread_self(), callback_thread))
		fsyncs_in_callback++;
	pthread_mutex_unlock(&count_mu);
	return fsync(fd);
}

#define fsync counting_fsync
#include "engine/journal.c"
#undef fsync

#define NODE_ID "0123456789012345678901234567890123456789"

static sp_journal *begin(const char *dir)
{
	static int owners[SP_SLOTS];
	sp_move m[2] = {{5, 0, 0}, {6, 0, 0}};
	sp_endpoint node;
	sp_journal *j = NULL;
	sp_error e;

	sp_endpoint_set(&node, NODE_ID, "127.0.0.1", 7000);
	assert_int_equal(sp_journal_begin(dir, "reshard", "127.0.0.1:7000",
					  &node, 1, owners, m, 2, &j, &e),
			 SP_OK);
	return j;
}

/* As the engine does: the callback runs with the lock held. */
static void engine_callback(sp_journal *j, const sp_move *m, size_t n)
{
	sp_error e;

	callback_thread = pthread_self();
	in_callback = 1;
	assert_int_equal(sp_journal_done(j, m, n, &e), SP_OK);
	in_callback = 0;
}

static void test_slot_done_is_fsynced_outside_the_engine_callback(void **state)
{
	char dir[] = "/tmp/sp-test-jwriter-XXXXXX", cmd[128];
	sp_move m[2] = {{5, 0, 0}, {6, 0, 0}};
	sp_journal_rec *r = calloc(1, sizeof(*r));
	sp_journal *j;
	sp_error e;

	(void)state;
	assert_non_null(mkdtemp(dir));
	j = begin(dir);
	fsyncs = fsyncs_in_callback = 0;
	engine_callback(j, &m[0], 1);
	engine_callback(j, &m[1], 1);
	assert_int_equal(sp_journal_sync(j, &e), SP_OK);
	assert_int_equal(fsyncs_in_callback, 0);
	assert_true(fsyncs >= 1); /* the writer's, one per batch */
	/* on disk before the operation reports done (rule 5) */
	assert_int_equal(sp_journal_end(j, "complete", &e), SP_OK);
	assert_int_equal(sp_journal_load(j->path, r, &e), SP_OK);
	assert_int_equal(r->done[5], 1);
	assert_int_equal(r->done[6], 1);
	assert_string_equal(r->status, "complete");
	sp_journal_rec_free(r);
	sp_journal_close(j);
	free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_end_writes_every_queued_record_first(void **state)
{
	char dir[] = "/tmp/sp-test-jwriter-XXXXXX", cmd[128], path[1024];
	sp_journal_rec *r = calloc(1, sizeof(*r));
	sp_journal *j;
	sp_error e;
	sp_move m;
	int s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	j = begin(dir);
	for (s = 0; s < 1000; s++) {
		m = (sp_move){s, 0, 0};
		engine_callback(j, &m, 1);
	}
	assert_int_equal(sp_journal_end(j, "interrupted", &e), SP_OK);
	snprintf(path, sizeof(path), "%s", j->path);
	sp_journal_close(j);
	assert_int_equal(sp_journal_load(path, r, &e), SP_OK);
	for (s = 0; s < 1000; s++)
		assert_int_equal(r->done[s], 1);
	assert_string_equal(r->status, "interrupted");
	sp_journal_rec_free(r);
	free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_slot_done_is_fsynced_outside_the_engine_callback),
	    cmocka_unit_test(test_end_writes_every_queued_record_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
