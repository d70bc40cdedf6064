/*
 * sock.h - the bytes under a connection: one TCP socket, optionally
 * wrapped in an OpenSSL session. Connecting and the TLS handshake are
 * non-blocking with poll(2) deadlines; reads and writes then block, bounded
 * by SO_RCVTIMEO/SO_SNDTIMEO. Nothing above io/ sees a socket; conn.c is
 * the only user.
 *
 * Failures return an sp_err (SP_ERR_IO, SP_ERR_TIMEOUT, SP_ERR_OOM) and
 * write the reason, without the node's name, into why.
 */
#ifndef SP_IO_SOCK_H
#define SP_IO_SOCK_H

#include <stddef.h>

#include "base/error.h"
#include "io/tls.h"

typedef struct sp_sock {
	int fd;		/* -1 when closed */
	void *ssl;	/* the SSL session, or NULL for plain TCP */
	int timeout_ms; /* the longest one read or write waits */
	int sys_errno;	/* errno of the call that failed, or 0 */
	int cert_asked; /* the node asked for a client certificate we lack */
} sp_sock;

#define SP_WHY_MAX 200

/*
 * Connects to host:port (a name, an IPv4 or an IPv6 address; every
 * address the name resolves to is tried) within connect_ms, then runs
 * the TLS handshake when tls is not NULL (SNI and verification as
 * tls.h says), also within connect_ms.
 */
sp_err sp_sock_connect(sp_sock *s, const char *host, int port, int connect_ms,
		       const sp_tls *tls, char *why, size_t len);

/* Takes over a connected socket (a socketpair in tests): plain only. */
void sp_sock_adopt(sp_sock *s, int fd);

/* Sets the bound of every later read and write (SO_RCVTIMEO/SNDTIMEO);
 * 0, or -1 with errno. */
int sp_sock_set_timeout(sp_sock *s, int ms);

/* Writes all len bytes; each wait for room is bounded by timeout_ms. */
sp_err sp_sock_write(sp_sock *s, const char *buf, size_t len, char *why,
		     size_t wlen);

/*
 * Reads what is there (at most len bytes, waiting up to timeout_ms for
 * the first); *got 0 means the node closed the connection.
 */
sp_err sp_sock_read(sp_sock *s, char *buf, size_t len, size_t *got, char *why,
		    size_t wlen);

/* Closes the session and the socket; safe to call twice. */
void sp_sock_close(sp_sock *s);

#endif
