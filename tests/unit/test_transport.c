/*
 * test_transport.c - the connection's own transport under hiredis's
 * reader: replies that arrive split at every byte, replies larger than
 * one read, several replies in one read, the raw stream after a reply,
 * and what the first bytes from a node that is not speaking plain RESP
 * (a TLS port) turn into. The test plays the node over a socketpair; a
 * writer thread sends the bytes in pieces with pauses, so the reader
 * really sees them one read at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/conn.h"

typedef struct pair {
	sp_conn *c;
	int peer; /* the node's end */
	pthread_t writer;
	int writing;
	const char *bytes; /* what the writer sends */
	size_t len, piece; /* in pieces of this many bytes */
} pair;

static int pair_setup(void **state)
{
	pair *p = calloc(1, sizeof(*p));
	int sv[2];

	assert_non_null(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sp_conn_adopt(sv[0], "node:1", NULL, &p->c, NULL),
			 SP_OK);
	assert_int_equal(sp_conn_set_timeout(p->c, 2000, NULL), SP_OK);
	p->peer = sv[1];
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	pair *p = *state;

	if (p->writing)
		pthread_join(p->writer, NULL);
	sp_conn_close(p->c);
	if (p->peer >= 0)
		close(p->peer);
	free(p);
	return 0;
}

static void *write_pieces(void *arg)
{
	const struct timespec pause = {0, 200000}; /* 0.2 ms */
	pair *p = arg;
	size_t off = 0, n;

	while (off < p->len) {
		n = p->len - off < p->piece ? p->len - off : p->piece;
		if (write(p->peer, p->bytes + off, n) != (ssize_t)n)
			break;
		off += n;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Sends len bytes in pieces of piece bytes from a thread. */
static void send_split(pair *p, const char *bytes, size_t len, size_t piece)
{
	p->bytes = bytes;
	p->len = len;
	p->piece = piece;
	assert_int_equal(pthread_create(&p->writer, NULL, write_pieces, p), 0);
	p->writing = 1;
}

/* Drains what the client wrote, so its writes never block. */
static void swallow(pair *p)
{
	char buf[4096];

	while (recv(p->peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static const char nested[] = "*3\r\n$5\r\nhello\r\n:42\r\n*2\r\n+OK\r\n$-1\r\n";

static void check_nested(const redisReply *r)
{
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 3);
	assert_string_equal(r->element[0]->str, "hello");
	assert_int_equal(r->element[1]->integer, 42);
	assert_int_equal(r->element[2]->elements, 2);
	assert_string_equal(r->element[2]->element[0]->str, "OK");
	assert_int_equal(r->element[2]->element[1]->type, REDIS_REPLY_NIL);
}

static void test_a_reply_split_at_every_byte(void **state)
{
	pair *p = *state;
	redisReply *r = NULL;
	sp_error e;

	send_split(p, nested, strlen(nested), 1);
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "GET %s", "k"), SP_OK);
	check_nested(r);
	freeReplyObject(r);
	swallow(p);
}

static void test_pipelined_replies_split_across_reads(void **state)
{
	static const char three[] = "+PONG\r\n:7\r\n$3\r\nabc\r\n";
	pair *p = *state;
	redisReply *r = NULL;
	sp_error e;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(sp_conn_append(p->c, &e, "PING"), SP_OK);
	assert_int_equal(sp_conn_flush(p->c, &e), SP_OK);
	send_split(p, three, strlen(three), 5); /* pieces cut replies */
	assert_int_equal(sp_conn_read(p->c, &r, &e, "PING"), SP_OK);
	assert_string_equal(r->str, "PONG");
	freeReplyObject(r);
	assert_int_equal(sp_conn_read(p->c, &r, &e, "PING"), SP_OK);
	assert_int_equal(r->integer, 7);
	freeReplyObject(r);
	assert_int_equal(sp_conn_read(p->c, &r, &e, "PING"), SP_OK);
	assert_string_equal(r->str, "abc");
	freeReplyObject(r);
	assert_int_equal(p->c->pending, 0);
	swallow(p);
}

/* A bulk string of 1 MB: many reads of the transport's 16 KiB buffer. */
static void test_a_reply_larger_than_one_read(void **state)
{
	pair *p = *state;
	size_t n = 1 << 20, hl;
	char *wire = malloc(n + 64), *body;
	redisReply *r = NULL;
	sp_error e;

	assert_non_null(wire);
	hl = (size_t)sprintf(wire, "$%zu\r\n", n);
	body = wire + hl;
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	memcpy(body + n, "\r\n", 2);
	send_split(p, wire, hl + n + 2, 7000);
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "GET big"), SP_OK);
	assert_int_equal(r->len, n);
	assert_memory_equal(r->str, body, n);
	freeReplyObject(r);
	pthread_join(p->writer, NULL);
	p->writing = 0;
	free(wire);
	swallow(p);
}

/* Bytes after a reply in the same read belong to the raw stream (the
 * RDB payload after SYNC's reply): read_raw hands them out first. */
static void test_raw_stream_after_a_reply_in_one_read(void **state)
{
	static const char wire[] = "+OK\r\nRDBBYTES";
	pair *p = *state;
	char buf[64];
	size_t got = 0, held = 0;
	sp_error e;

	assert_int_equal(write(p->peer, wire, strlen(wire)),
			 (ssize_t)strlen(wire));
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "REPLCONF x"), SP_OK);
	while (held < 8) {
		assert_int_equal(sp_conn_read_raw(p->c, buf + held,
						  sizeof(buf) - held, &got,
						  "SYNC", &e),
				 SP_OK);
		assert_true(got > 0);
		held += got;
	}
	assert_int_equal(held, 8);
	assert_memory_equal(buf, "RDBBYTES", 8);
	swallow(p);
}

/* A TLS port answers a plain client's command with a TLS alert record:
 * the message says what that probably means. */
static void test_binary_first_reply_suggests_tls(void **state)
{
	static const char alert[] = "\x15\x03\x01\x00\x02\x02\x46";
	pair *p = *state;
	sp_error e;

	assert_int_equal(write(p->peer, alert, sizeof(alert) - 1),
			 (ssize_t)(sizeof(alert) - 1));
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_PROTOCOL);
	assert_non_null(strstr(e.msg, "node:1: PING: protocol error"));
	assert_non_null(strstr(e.msg, "try --tls"));
	assert_true(sp_conn_broken(p->c));
	/* broken stays broken, with the first cause */
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_PROTOCOL);
}

static void test_close_before_the_first_reply_suggests_tls(void **state)
{
	pair *p = *state;
	sp_error e;

	shutdown(p->peer, SHUT_WR);
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_ERR_IO);
	assert_non_null(strstr(e.msg, "closed the connection"));
	assert_non_null(strstr(e.msg, "try --tls"));
}

/* A reply cut off by the node closing: an I/O error, never a reply. */
static void test_close_inside_a_reply(void **state)
{
	static const char half[] = "*2\r\n$5\r\nhel";
	pair *p = *state;
	redisReply *r = (redisReply *)1;
	sp_error e;

	assert_int_equal(write(p->peer, "+OK\r\n", 5), 5);
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "PING"), SP_OK);
	assert_int_equal(write(p->peer, half, strlen(half)),
			 (ssize_t)strlen(half));
	shutdown(p->peer, SHUT_WR);
	assert_int_equal(sp_conn_cmd(p->c, &r, &e, "GET k"), SP_ERR_IO);
	assert_null(r);
	assert_null(strstr(e.msg, "try --tls")); /* not the first reply */
}

/* A partial reply and then silence: a timeout within the bound. */
static void test_partial_reply_then_silence_times_out(void **state)
{
	pair *p = *state;
	sp_error e;

	assert_int_equal(sp_conn_set_timeout(p->c, 100, NULL), SP_OK);
	assert_int_equal(write(p->peer, "$10\r\nabc", 8), 8);
	assert_int_equal(sp_conn_cmd(p->c, NULL, &e, "GET k"), SP_ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "node:1: GET: timed out"));
}

/* A connect to a port nothing listens on names the node and fails. */
static void test_connect_refused_names_the_node(void **state)
{
	sp_conn_opts o = {.connect_timeout_ms = 500, .timeout_ms = 500};
	sp_conn *c = NULL;
	sp_error e;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	(void)state;
	/* a port bound but not listening: connect is refused, and no
	 * other process can take it meanwhile */
	a.sin_addr.s_addr = htonl(0x7f000001);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(
	    sp_conn_open("127.0.0.1", ntohs(a.sin_port), &o, &c, &e),
	    SP_ERR_IO);
	assert_null(c);
	assert_non_null(strstr(e.msg, "127.0.0.1:"));
	assert_non_null(strstr(e.msg, "connect"));
	close(fd);
}

#define PAIR_TEST(f)                                                           \
	cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    PAIR_TEST(test_a_reply_split_at_every_byte),
	    PAIR_TEST(test_pipelined_replies_split_across_reads),
	    PAIR_TEST(test_a_reply_larger_than_one_read),
	    PAIR_TEST(test_raw_stream_after_a_reply_in_one_read),
	    PAIR_TEST(test_binary_first_reply_suggests_tls),
	    PAIR_TEST(test_close_before_the_first_reply_suggests_tls),
	    PAIR_TEST(test_close_inside_a_reply),
	    PAIR_TEST(test_partial_reply_then_silence_times_out),
	    cmocka_unit_test(test_connect_refused_names_the_node),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
