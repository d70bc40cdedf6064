/*
 * http.c - GET-only HTTP server over libmicrohttpd (internal polling
 * thread). Only the method and the path reach the handler; request
 * bodies are refused, so nothing from the network is buffered here.
 */
#include "autoscale/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct sp_http {
	struct MHD_Daemon *d;
	sp_http_fn fn;
	void *ud;
	char *token; /* NULL: no authentication */
};

/* 1 if a equals the token, in a time that does not depend on where they
 * differ. */
static int same_token(const char *a, const char *token)
{
	size_t n = strlen(token), m = a != NULL ? strlen(a) : 0, i;
	unsigned char d = m != n;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(token[i] ^ (i < m ? a[i] : 0));
	return a != NULL && d == 0;
}

/* 1 if the request carries the token (Bearer, or Basic's password). */
static int authorized(const sp_http *h, struct MHD_Connection *conn)
{
	const char *v;
	char *user, *pass = NULL;
	int ok;

	if (h->token == NULL)
		return 1;
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);
	if (v != NULL && strncmp(v, "Bearer ", 7) == 0)
		return same_token(v + 7, h->token);
	user = MHD_basic_auth_get_username_password(conn, &pass);
	ok = user != NULL && same_token(pass, h->token);
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status,
			     sp_buf *body, const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body->len, body->s,
					    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		sp_buf_free(body);
		return MHD_NO;
	}
	body->s = NULL; /* the response owns it now */
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"slotpilot\", "
					"Basic realm=\"slotpilot\"");
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	sp_http *h = cls;
	sp_buf body = {0};
	const char *ctype = "text/plain; charset=utf-8";
	int status;

	(void)version, (void)upload, (void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		sp_buf_printf(&body, "only GET\n");
		return reply(conn, 405, &body, ctype);
	}
	if (*upload_size != 0)
		return MHD_NO;
	if (!authorized(h, conn)) {
		sp_buf_printf(&body, "a bearer token is required\n");
		return reply(conn, 401, &body, ctype);
	}
	status = h->fn(h->ud, url, &body, &ctype);
	if (body.oom) {
		sp_buf_free(&body);
		return MHD_NO;
	}
	if (body.s == NULL)
		sp_buf_printf(&body, "%s", "");
	return reply(conn, status, &body, ctype);
}

/* Parses addr into a socket address (IPv4 or IPv6, numeric). */
static sp_err parse_addr(const char *addr, struct sockaddr_storage *ss,
			 sp_error *err)
{
	char host[SP_HOST_MAX];
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	int port;
	sp_err rc;

	memset(ss, 0, sizeof(*ss));
	if ((rc = sp_parse_hostport(addr, host, &port, err)) != SP_OK)
		return rc;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
	} else {
		return sp_seterr(err, SP_ERR_USAGE,
				 "listen address \"%s\": the host must be a "
				 "numeric IPv4 or IPv6 address",
				 addr);
	}
	return SP_OK;
}

int sp_http_token_ok(const char *t)
{
	size_t n =
	    strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789-._~+/");

	return n > 0 && n < 256 && strspn(t + n, "=") == strlen(t + n) &&
	       strlen(t) < 256;
}

int sp_http_is_loopback(const char *addr)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
	sp_error ign;

	if (parse_addr(addr, &ss, &ign) != SP_OK)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

sp_err sp_http_start(const char *addr, const char *token, sp_http_fn fn,
		     void *ud, sp_http **out, sp_error *err)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	sp_http *h;
	sp_err rc;

	*out = NULL;
	if ((rc = parse_addr(addr, &ss, err)) != SP_OK)
		return rc;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	h->fn = fn, h->ud = ud;
	if (token != NULL && token[0] != '\0' &&
	    (h->token = strdup(token)) == NULL) {
		free(h);
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (h->d == NULL) {
		free(h->token);
		free(h);
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "cannot listen on %s (in use, or not an "
				 "address of this machine)",
				 addr);
	}
	*out = h;
	return SP_OK;
}

void sp_http_stop(sp_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h->token);
	free(h);
}
