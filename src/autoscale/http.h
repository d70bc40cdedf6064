/*
 * http.h - a small HTTP server on libmicrohttpd's own thread.
 *
 * It serves GET requests through one handler that renders a whole body
 * per request. The handler runs on the server's thread: whatever it
 * reads must be protected by the caller (the autoscaler renders from a
 * snapshot under its mutex).
 */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include "autoscale/metrics.h"
#include "base/error.h"

/*
 * Renders the page at path into body (the server frees it) and sets
 * *ctype to a static content type. Returns the HTTP status (200, 404).
 */
typedef int (*sp_http_fn)(void *ud, const char *path, sp_buf *body,
			  const char **ctype);

typedef struct sp_http sp_http;

/*
 * Listens on addr ("HOST:PORT", numeric IPv4 or IPv6 host) and serves
 * through fn(ud, ...). With a token (not NULL nor ""; copied), a request
 * without "Authorization: Bearer TOKEN" (or Basic auth whose password is
 * TOKEN) gets 401 and never reaches fn. On success *out is the caller's
 * (sp_http_stop); fn and ud are borrowed until then. Errors: SP_ERR_USAGE (bad
 * address), SP_ERR_SYSTEM (cannot listen: port in use, the message names it).
 */
sp_err sp_http_start(const char *addr, const char *token, sp_http_fn fn,
		     void *ud, sp_http **out, sp_error *err);

/* 1 if t can be a bearer token: 1 to 255 characters of RFC 6750's
 * b64token (A-Z a-z 0-9 - . _ ~ + /, then '=' padding). */
int sp_http_token_ok(const char *t);

/* 1 if addr ("HOST:PORT") is a loopback address (127/8 or ::1). */
int sp_http_is_loopback(const char *addr);

/* Stops the server and waits for its thread; accepts NULL. */
void sp_http_stop(sp_http *h);

#endif
