/*
 * sock.c - a TCP socket, plain or under OpenSSL. The connect and the TLS
 * handshake run non-blocking, each step polled against one deadline
 * (SSL_connect reports WANT_READ/WANT_WRITE and we poll for what it
 * wants); the data phase then blocks under socket timeouts.
 */
#include "io/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "io/conn.h"
#include "io/tls_impl.h"

static sp_err fail_errno(sp_sock *s, const char *what, char *why, size_t len)
{
	int e = errno;

	if (s->sys_errno == 0)
		s->sys_errno = e;
	snprintf(why, len, "%s%s%s", what, what[0] ? ": " : "", strerror(e));
	return sp_errno_class(e);
}

static sp_err timed_out(sp_sock *s, char *why, size_t len)
{
	if (s->sys_errno == 0)
		s->sys_errno = ETIMEDOUT;
	snprintf(why, len, "timed out");
	return SP_ERR_TIMEOUT;
}

/* Waits until fd is ready for events or ms pass: 1 ready, 0 timed out,
 * -1 failed (errno set). */
static int wait_ready(int fd, short events, int ms)
{
	long long deadline = sp_now_ms() + ms;
	struct pollfd p = {.fd = fd, .events = events};
	int n, left = ms;

	for (;;) {
		n = poll(&p, 1, left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
		left = (int)(deadline - sp_now_ms());
		if (left <= 0)
			return 0;
	}
}

/* One address: a non-blocking connect finished within ms. */
static sp_err connect_one(sp_sock *s, const struct addrinfo *ai, int ms,
			  char *why, size_t len)
{
	int fd, r, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return fail_errno(s, "socket", why, len);
	s->fd = fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return SP_OK;
	if (errno != EINPROGRESS)
		return fail_errno(s, "", why, len);
	if ((r = wait_ready(fd, POLLOUT, ms)) == 0)
		return timed_out(s, why, len);
	if (r < 0)
		return fail_errno(s, "poll", why, len);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return fail_errno(s, "getsockopt", why, len);
	if (soerr != 0) {
		errno = soerr;
		return fail_errno(s, "", why, len);
	}
	return SP_OK;
}

static sp_err tcp_connect(sp_sock *s, const char *host, int port, int ms,
			  char *why, size_t len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	char service[16];
	sp_err rc = SP_ERR_IO;
	int g;

	snprintf(service, sizeof(service), "%d", port);
	hints.ai_family = AF_UNSPEC;
	if ((g = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(why, len, "cannot resolve %s: %s", host,
			 gai_strerror(g));
		return SP_ERR_IO;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s->sys_errno = 0;
		if ((rc = connect_one(s, ai, ms, why, len)) == SP_OK)
			break;
		sp_sock_close(s);
	}
	freeaddrinfo(res);
	return rc;
}

static int is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* SNI and the name the certificate must carry. */
static int tls_names(SSL *ssl, const sp_tls *t, const char *host)
{
	const char *name = t->sni[0] ? t->sni : host;

	if (!is_ip(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	if (t->insecure)
		return 0;
	if (is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
						     name) == 1
			   ? 0
			   : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

/* What to look at after a verification failure. */
static const char *verify_hint(long v)
{
	switch (v) {
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		return " (the node's certificate is not signed by a CA in "
		       "--cacert/--cacertdir)";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return " (the certificate does not name the address "
		       "connected to; --sni NAME checks another name)";
	default:
		return "";
	}
}

/* Why a handshake or a TLS read/write failed, in the operator's words. */
static sp_err tls_fail(sp_sock *s, int sslerr, const char *what, char *why,
		       size_t len)
{
	char reason[160];
	long v = s->ssl ? SSL_get_verify_result(s->ssl) : X509_V_OK;

	if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno == 0 || errno == EPIPE || errno == ECONNRESET) {
			ERR_clear_error();
			snprintf(why, len,
				 "TLS %s: the node closed the connection%s",
				 what,
				 s->cert_asked
				     ? " after asking for a client certificate "
				       "(the node wants one: --cert and --key)"
				     : " (is it a TLS port?)");
			return SP_ERR_IO;
		}
		return fail_errno(s, what, why, len);
	}
	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(why, len,
			 "TLS %s: certificate verification failed: %s%s", what,
			 X509_verify_cert_error_string(v), verify_hint(v));
		return SP_ERR_IO;
	}
	sp_tls_reason(reason, sizeof(reason), "failed");
	snprintf(
	    why, len, "TLS %s: %s%s", what, reason,
	    strstr(reason, "certificate required")
		? " (the node wants a client certificate: --cert and --key)"
	    : strstr(reason, "wrong version number") ||
		    strstr(reason, "packet length too long")
		? " (is it a plain, not a TLS, port?)"
		: "");
	return SP_ERR_IO;
}

/* Polls for what OpenSSL wants after sslerr; SP_OK to try again. */
static sp_err tls_want(sp_sock *s, int sslerr, int ms, const char *what,
		       char *why, size_t len)
{
	int r;

	if (sslerr != SSL_ERROR_WANT_READ && sslerr != SSL_ERROR_WANT_WRITE)
		return tls_fail(s, sslerr, what, why, len);
	r = wait_ready(s->fd, sslerr == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		       ms);
	if (r == 0)
		return timed_out(s, why, len);
	return r < 0 ? fail_errno(s, "poll", why, len) : SP_OK;
}

static sp_err tls_handshake(sp_sock *s, const sp_tls *t, const char *host,
			    int ms, char *why, size_t len)
{
	long long deadline = sp_now_ms() + ms;
	sp_err rc;
	int r;

	ERR_clear_error();
	s->cert_asked = 0;
	if ((s->ssl = SSL_new(t->ctx)) == NULL ||
	    SSL_set_fd(s->ssl, s->fd) != 1 || tls_names(s->ssl, t, host) != 0)
		return tls_fail(s, SSL_ERROR_SSL, "setup", why, len);
	SSL_set_app_data(s->ssl, &s->cert_asked);
	while ((r = SSL_connect(s->ssl)) != 1) {
		int left = (int)(deadline - sp_now_ms());

		errno = 0;
		rc = left <= 0 ? timed_out(s, why, len)
			       : tls_want(s, SSL_get_error(s->ssl, r), left,
					  "handshake", why, len);
		if (rc == SP_ERR_TIMEOUT)
			snprintf(why, len,
				 "TLS handshake: timed out (a "
				 "stalled node, or a plain port?)");
		if (rc != SP_OK)
			return rc;
	}
	return SP_OK;
}

/*
 * After connecting, the socket blocks with SO_RCVTIMEO/SO_SNDTIMEO as the
 * bound: a reply then costs one read(2), not a failed read, a poll and a
 * read. An expired timeout shows as EAGAIN (or OpenSSL's WANT_READ/
 * WANT_WRITE, which a blocking socket gives for nothing else).
 */
static int data_phase(sp_sock *s)
{
	int fl = fcntl(s->fd, F_GETFL);

	if (fl < 0 || fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -1;
	return sp_sock_set_timeout(s, s->timeout_ms);
}

int sp_sock_set_timeout(sp_sock *s, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000,
			     .tv_usec = (ms % 1000) * 1000};

	s->timeout_ms = ms;
	if (s->fd < 0)
		return 0;
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return -1;
	return 0;
}

sp_err sp_sock_connect(sp_sock *s, const char *host, int port, int connect_ms,
		       const sp_tls *tls, char *why, size_t len)
{
	sp_err rc;

	s->fd = -1;
	s->ssl = NULL;
	s->sys_errno = 0;
	if ((rc = tcp_connect(s, host, port, connect_ms, why, len)) != SP_OK)
		return rc;
	if (tls != NULL)
		rc = tls_handshake(s, tls, host, connect_ms, why, len);
	if (rc == SP_OK && data_phase(s) != 0)
		rc = fail_errno(s, "socket options", why, len);
	if (rc != SP_OK)
		sp_sock_close(s);
	return rc;
}

void sp_sock_adopt(sp_sock *s, int fd)
{
	s->fd = fd;
	s->ssl = NULL;
	s->sys_errno = 0;
	(void)data_phase(s);
}

/* After a failed SSL_read/SSL_write on the blocking socket. */
static sp_err tls_io_fail(sp_sock *s, int sslerr, const char *what, char *why,
			  size_t len)
{
	if (sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE)
		return timed_out(s, why, len);
	return tls_fail(s, sslerr, what, why, len);
}

/* A failed send/recv: EINTR is 0 (try again), else the error. */
static sp_err plain_io_fail(sp_sock *s, const char *what, char *why, size_t len)
{
	if (errno == EINTR)
		return SP_OK;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return timed_out(s, why, len);
	return fail_errno(s, what, why, len);
}

sp_err sp_sock_write(sp_sock *s, const char *buf, size_t len, char *why,
		     size_t wlen)
{
	ssize_t n;
	sp_err rc;
	int r;

	while (len > 0) {
		if (s->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			r = SSL_write(s->ssl, buf,
				      len > 1 << 30 ? 1 << 30 : (int)len);
			if (r <= 0)
				return tls_io_fail(s, SSL_get_error(s->ssl, r),
						   "write", why, wlen);
			n = r;
		} else if ((n = send(s->fd, buf, len, MSG_NOSIGNAL)) < 0) {
			if ((rc = plain_io_fail(s, "write", why, wlen)) !=
			    SP_OK)
				return rc;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return SP_OK;
}

static sp_err tls_read(sp_sock *s, char *buf, size_t len, size_t *got,
		       char *why, size_t wlen)
{
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_read(s->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
	if (r > 0) {
		*got = (size_t)r;
		return SP_OK;
	}
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
		return SP_OK; /* the node closed the connection */
	return tls_io_fail(s, e, "read", why, wlen);
}

sp_err sp_sock_read(sp_sock *s, char *buf, size_t len, size_t *got, char *why,
		    size_t wlen)
{
	ssize_t n;
	sp_err rc;

	*got = 0;
	if (s->ssl != NULL)
		return tls_read(s, buf, len, got, why, wlen);
	for (;;) {
		if ((n = recv(s->fd, buf, len, 0)) >= 0) {
			*got = (size_t)n;
			return SP_OK;
		}
		if ((rc = plain_io_fail(s, "read", why, wlen)) != SP_OK)
			return rc;
	}
}

void sp_sock_close(sp_sock *s)
{
	if (s->ssl != NULL) {
		/* No close_notify round trip: a dead node must not make
		 * closing wait, and Redis does not need one. */
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
