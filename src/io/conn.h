/*
 * conn.h - one connection to one Redis node: our own socket (plain TCP or
 * TLS, io/sock.h) under hiredis's protocol code (its reader parses the
 * replies, its formatter writes the commands).
 *
 * Connect and reply timeouts, AUTH (password or ACL user), pipelining, and
 * error classification: every error reply is turned into an sp_err
 * (MOVED, ASK, TRYAGAIN, ...) with a message that names the node and the
 * command. Replies handed back to the caller are never error replies.
 * Nothing outside io/ touches a socket or a hiredis context.
 */
#ifndef SP_CONN_H
#define SP_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "base/error.h"
#include "io/sock.h"

#define SP_HOST_MAX 256
#define SP_ADDR_MAX (SP_HOST_MAX + 16)

typedef struct sp_conn_opts {
	int connect_timeout_ms;	  /* 0 means the default (2000) */
	int timeout_ms;		  /* per reply; 0 means the default (5000) */
	const char *user;	  /* ACL user or NULL; borrowed */
	const char *pass;	  /* password or NULL; borrowed */
	const struct sp_tls *tls; /* TLS context or NULL (plain); borrowed */
} sp_conn_opts;

typedef struct sp_conn {
	sp_sock sock;		    /* the socket, plain or TLS */
	struct redisReader *reader; /* hiredis's RESP parser */
	char *out;		    /* formatted commands not yet written */
	size_t out_len, out_cap;
	char host[SP_HOST_MAX];
	int port;
	char addr[SP_ADDR_MAX]; /* "host:port", "[v6]:port" for IPv6 */
	int timeout_ms;
	int pending;   /* replies appended but not yet read */
	int sys_errno; /* errno of the system call that broke it, or 0 */
	int replies;   /* replies read so far (0: the first is next) */
	/* Turns: how often a read had to wait on the network for a reply
	 * to commands written since the last wait. A pipeline costs one,
	 * however deep: it is the round trips a caller sat through. */
	long long turns;
	int wrote;     /* bytes written since the last turn */
	sp_err broken; /* SP_OK, or why the connection can no longer be used */
	char errstr[SP_WHY_MAX];
} sp_conn;

/*
 * Connects to host:port and authenticates when opts carry a password.
 * On success *out is a connection the caller owns (sp_conn_close).
 * Errors: SP_ERR_IO, SP_ERR_TIMEOUT, SP_ERR_NOAUTH, SP_ERR_OOM.
 */
sp_err sp_conn_open(const char *host, int port, const sp_conn_opts *opts,
		    sp_conn **out, sp_error *err);

/*
 * As sp_conn_open on a socket already connected (a socketpair in unit
 * tests, a UNIX socket): plain, no AUTH; name is used in messages.
 */
sp_err sp_conn_adopt(int fd, const char *name, const sp_conn_opts *opts,
		     sp_conn **out, sp_error *err);

/* 1 once c failed (I/O, timeout, protocol): every later call fails too. */
int sp_conn_broken(const sp_conn *c);

/*
 * The raw byte stream after the last reply (a SYNC's RDB payload): writes
 * buf as is; reads what is there, first the bytes hiredis's reader holds
 * past the last reply, then the socket's, waiting up to the reply
 * timeout. *got 0 means the node closed the connection.
 */
sp_err sp_conn_write_raw(sp_conn *c, const char *buf, size_t len,
			 const char *what, sp_error *err);
sp_err sp_conn_read_raw(sp_conn *c, void *buf, size_t len, size_t *got,
			const char *what, sp_error *err);

/* Closes and frees c; accepts NULL. */
void sp_conn_close(sp_conn *c);

/* Changes the per-reply timeout of c. */
sp_err sp_conn_set_timeout(sp_conn *c, int timeout_ms, sp_error *err);

/*
 * Sends one command (printf-style, hiredis %s/%b/%d) and reads its reply.
 * On SP_OK, *out (if out is not NULL) is a reply the caller frees with
 * freeReplyObject; it is never an error reply. An error reply is
 * classified and returned as an sp_err; *out is then NULL. With pipelined
 * replies still unread on c (c->pending > 0) nothing is sent and the
 * result is SP_ERR_INTERNAL: the reply read would be an earlier one's.
 */
sp_err sp_conn_cmd(sp_conn *c, redisReply **out, sp_error *err, const char *fmt,
		   ...);

/* As sp_conn_cmd, with an argument vector (lens may be NULL for C strings). */
sp_err sp_conn_cmdv(sp_conn *c, redisReply **out, sp_error *err, int argc,
		    const char **argv, const size_t *lens);

/* Queues a command without reading; read it later with sp_conn_read. */
sp_err sp_conn_append(sp_conn *c, sp_error *err, const char *fmt, ...);

/* Queues a command given as an argument vector. */
sp_err sp_conn_appendv(sp_conn *c, sp_error *err, int argc, const char **argv,
		       const size_t *lens);

/*
 * Reads the next pipelined reply; `what` names the command for messages.
 * Same ownership and classification rules as sp_conn_cmd.
 */
sp_err sp_conn_read(sp_conn *c, redisReply **out, sp_error *err,
		    const char *what);

/* Writes every queued command to the node without reading a reply. */
sp_err sp_conn_flush(sp_conn *c, sp_error *err);

/* Reads and drops every reply still pending on c (after an error). */
void sp_conn_drain(sp_conn *c);

/*
 * The class of a failed system call on a node's socket, from its errno:
 * EAGAIN/EWOULDBLOCK (a socket timeout expired) and ETIMEDOUT are
 * SP_ERR_TIMEOUT, ENOMEM SP_ERR_OOM, anything else SP_ERR_IO. The one
 * place where slotpilot decides what a timeout is.
 */
sp_err sp_errno_class(int errnum);

/*
 * Sorts a server error string by its prefix: "MOVED ..." -> SP_ERR_MOVED,
 * "ASK", "TRYAGAIN", "CLUSTERDOWN", "BUSYKEY", "LOADING", "NOAUTH",
 * "WRONGPASS" -> SP_ERR_NOAUTH, "NOPERM" -> SP_ERR_NOPERM, "IOERR" ->
 * SP_ERR_IO; MIGRATE's "ERR Target instance replied with error: X" is
 * sorted by X. Anything else SP_ERR_SERVER. Never SP_OK.
 */
sp_err sp_classify_server_error(const char *s);

/*
 * Checks that r is of the given hiredis type; otherwise fills err naming
 * the node and `what` and returns SP_ERR_PROTOCOL.
 */
sp_err sp_reply_expect(const sp_conn *c, const redisReply *r, int type,
		       const char *what, sp_error *err);

/*
 * Copies the value of `field` from an INFO-style text ("field:value\r\n")
 * into buf (NUL-terminated, truncated to len-1). Returns 1 if found.
 */
int sp_info_field(const char *text, const char *field, char *buf, size_t len);

/* As sp_info_field, parsed as a long long; returns 1 if found and numeric. */
int sp_info_ll(const char *text, const char *field, long long *out);

/*
 * Splits "host:port", "[v6addr]:port" or "v6addr:port" (last colon) into
 * host (at most SP_HOST_MAX bytes with NUL) and port 1..65535.
 */
sp_err sp_parse_hostport(const char *s, char *host, int *port, sp_error *err);

/* Formats host and port as an address ("[::1]:7000" for IPv6). */
void sp_format_addr(char *buf, size_t len, const char *host, int port);

#endif
