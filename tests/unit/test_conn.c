/*
 * test_conn.c - the connection's reply bookkeeping and error classes,
 * over a socketpair: the test plays the node by writing captured RESP
 * bytes to the other end, so every reply is exactly the one it chose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/conn.h"

typedef struct pair {
	sp_conn *c;
	int peer; /* the node's end */
} pair;

/* An sp_conn over one end of a socketpair, with a 200 ms reply timeout. */
static int pair_setup(void **state)
{
	pair *p = calloc(1, sizeof(*p));
	int sv[2];

	assert_non_null(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sp_conn_adopt(sv[0], "test:1", NULL, &p->c, NULL),
			 SP_OK);
	assert_int_equal(sp_conn_set_timeout(p->c, 200, NULL), SP_OK);
	p->peer = sv[1];
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	pair *p = *state;

	sp_conn_close(p->c);
	if (p->peer >= 0)
		close(p->peer);
	free(p);
	return 0;
}

static void feed(pair *p, const char *resp)
{
	size_t n = strlen(resp);

	assert_int_equal(write(p->peer, resp, n), (ssize_t)n);
}

/* ---- defect: an earlier pipelined reply handed out as this one's ---- */

static void test_cmd_refuses_while_a_pipelined_reply_is_unread(void **state)
{
	pair *p = *state;
	redisReply *r = (redisReply *)1;
	sp_error e;

	assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	assert_int_equal(sp_conn_flush(p->c, &e), SP_OK);
	feed(p, "+PONG\r\n"); /* the PING's reply, waiting unread */
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "GET %s", "k"),
			 SP_ERR_INTERNAL);
	assert_null(r);
	assert_non_null(strstr(e.msg, "test:1: GET: 1 pipelined reply"));
	/* Nothing was sent or consumed: the PING's reply is still next. */
	assert_int_equal(sp_conn_read(p->c, &r, &e, "PING"), SP_OK);
	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	assert_string_equal(r->str, "PONG");
	freeReplyObject(r);
}

static void test_cmdv_refuses_while_a_pipelined_reply_is_unread(void **state)
{
	pair *p = *state;
	const char *argv[] = {"GET", "k"};
	sp_error e;

	assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	assert_int_equal(sp_conn_cmdv(p->c, NULL, &e, 2, argv, NULL),
			 SP_ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "pipelined"));
}

static void test_cmd_after_every_pipelined_reply_was_read(void **state)
{
	pair *p = *state;
	redisReply *r = NULL;
	sp_error e;

	assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	feed(p, "+PONG\r\n$1\r\nv\r\n");
	assert_int_equal(sp_conn_read(p->c, NULL, &e, "PING"), SP_OK);
	assert_int_equal(p->c->pending, 0);
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "GET %s", "k"), SP_OK);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, "v");
	freeReplyObject(r);
}

static void test_cmd_after_drain(void **state)
{
	pair *p = *state;
	redisReply *r = NULL;
	sp_error e;

	assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	feed(p, "+PONG\r\n+PONG\r\n:7\r\n");
	sp_conn_drain(p->c);
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "DBSIZE"), SP_OK);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->integer, 7);
	freeReplyObject(r);
}

/* ---- defect: timeouts recognised by their message ---- */

static void test_no_reply_within_the_timeout_is_a_timeout(void **state)
{
	pair *p = *state;
	sp_error e;

	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "test:1: PING: timed out"));
}

/* The class comes from the failing call's errno, saved when it failed:
 * a later errno of EAGAIN (left by anything) does not turn a broken
 * connection into a timeout. */
static void test_broken_connection_stays_io_whatever_errno_says(void **state)
{
	pair *p = *state;
	sp_error e;

	close(p->peer);
	p->peer = -1;
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_IO);
	errno = EAGAIN;
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_IO);
	errno = EAGAIN;
	assert_int_equal(sp_conn_read(p->c, NULL, &e, "PING"), SP_ERR_IO);
}

static void test_errno_classes(void **state)
{
	(void)state;
	assert_int_equal(sp_errno_class(EAGAIN), SP_ERR_TIMEOUT);
	assert_int_equal(sp_errno_class(EWOULDBLOCK), SP_ERR_TIMEOUT);
	assert_int_equal(sp_errno_class(ETIMEDOUT), SP_ERR_TIMEOUT);
	assert_int_equal(sp_errno_class(ECONNREFUSED), SP_ERR_IO);
	assert_int_equal(sp_errno_class(ECONNRESET), SP_ERR_IO);
	assert_int_equal(sp_errno_class(EPIPE), SP_ERR_IO);
	assert_int_equal(sp_errno_class(0), SP_ERR_IO);
}

/* ---- defect: NOPERM reported as unreachable ---- */

static void test_noperm_reply_is_permission_denied(void **state)
{
	pair *p = *state;
	sp_error e;

	feed(p, "-NOPERM this user has no permissions to run the "
		"'cluster|nodes' command\r\n");
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "CLUSTER NODES"),
			 SP_ERR_NOPERM);
	assert_int_equal(e.code, SP_ERR_NOPERM);
	assert_non_null(strstr(e.msg, "test:1: CLUSTER NODES: NOPERM"));
	assert_string_equal(sp_strerror(SP_ERR_NOPERM), "permission denied");
}

static void test_server_error_classes(void **state)
{
	(void)state;
	assert_int_equal(sp_classify_server_error("NOPERM no"), SP_ERR_NOPERM);
	assert_int_equal(sp_classify_server_error("NOAUTH Authentication "
						  "required."),
			 SP_ERR_NOAUTH);
	assert_int_equal(sp_classify_server_error("WRONGPASS invalid"),
			 SP_ERR_NOAUTH);
	assert_int_equal(sp_classify_server_error("IOERR error or timeout "
						  "reading to target instance"),
			 SP_ERR_IO);
	assert_int_equal(sp_classify_server_error("ERR wrong number"),
			 SP_ERR_SERVER);
}

static void test_migrate_sorts_the_targets_error_by_its_prefix(void **state)
{
	(void)state;
	assert_int_equal(sp_classify_server_error(
			     "ERR Target instance replied with error: "
			     "TRYAGAIN Multiple keys request during rehashing"),
			 SP_ERR_TRYAGAIN);
	assert_int_equal(
	    sp_classify_server_error("ERR Target instance replied with error: "
				     "CLUSTERDOWN The cluster is down"),
	    SP_ERR_CLUSTERDOWN);
	assert_int_equal(
	    sp_classify_server_error("ERR Target instance replied with error: "
				     "BUSYKEY Target key name already exists."),
	    SP_ERR_BUSYKEY);
	assert_int_equal(
	    sp_classify_server_error("ERR Target instance replied with error: "
				     "LOADING Redis is loading"),
	    SP_ERR_LOADING);
	/* the target refusing the source is no failure of our own login */
	assert_int_equal(
	    sp_classify_server_error("ERR Target instance replied with error: "
				     "NOAUTH Authentication required."),
	    SP_ERR_SERVER);
}

#define PAIR_TEST(f)                                                           \
	cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    PAIR_TEST(test_cmd_refuses_while_a_pipelined_reply_is_unread),
	    PAIR_TEST(test_cmdv_refuses_while_a_pipelined_reply_is_unread),
	    PAIR_TEST(test_cmd_after_every_pipelined_reply_was_read),
	    PAIR_TEST(test_cmd_after_drain),
	    PAIR_TEST(test_no_reply_within_the_timeout_is_a_timeout),
	    PAIR_TEST(test_broken_connection_stays_io_whatever_errno_says),
	    cmocka_unit_test(test_errno_classes),
	    PAIR_TEST(test_noperm_reply_is_permission_denied),
	    cmocka_unit_test(test_server_error_classes),
	    cmocka_unit_test(
		test_migrate_sorts_the_targets_error_by_its_prefix),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
