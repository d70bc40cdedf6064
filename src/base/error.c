/*
 * error.c - names of error codes and the single message setter.
 */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[SP_ERR__COUNT] = {
    [SP_OK] = "ok",
    [SP_ERR_IO] = "io",
    [SP_ERR_TIMEOUT] = "timeout",
    [SP_ERR_PROTOCOL] = "protocol",
    [SP_ERR_OOM] = "out of memory",
    [SP_ERR_CLUSTER] = "cluster",
    [SP_ERR_USAGE] = "usage",
    [SP_ERR_SERVER] = "server",
    [SP_ERR_MOVED] = "moved",
    [SP_ERR_ASK] = "ask",
    [SP_ERR_TRYAGAIN] = "tryagain",
    [SP_ERR_CLUSTERDOWN] = "clusterdown",
    [SP_ERR_BUSYKEY] = "busykey",
    [SP_ERR_LOADING] = "loading",
    [SP_ERR_NOAUTH] = "auth",
    [SP_ERR_NOTFOUND] = "not found",
    [SP_ERR_SYSTEM] = "system",
    [SP_ERR_INTERRUPTED] = "interrupted",
    [SP_ERR_INTERNAL] = "internal",
    [SP_ERR_NOPERM] = "permission denied",
};

const char *sp_strerror(sp_err code)
{
	if ((int)code < 0 || code >= SP_ERR__COUNT || names[code] == NULL)
		return "unknown";
	return names[code];
}

sp_err sp_seterr(sp_error *e, sp_err code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void sp_error_prefix(sp_error *e, const char *fmt, ...)
{
	char old[SP_ERRMSG_MAX];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->msg) - 2)
		return;
	e->msg[n++] = ':';
	e->msg[n++] = ' ';
	/* the old message, truncated to what is left */
	strncpy(e->msg + n, old, sizeof(e->msg) - (size_t)n - 1);
	e->msg[sizeof(e->msg) - 1] = '\0';
}

void sp_error_clear(sp_error *e)
{
	if (e == NULL)
		return;
	e->code = SP_OK;
	e->msg[0] = '\0';
}
