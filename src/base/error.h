/*
 * error.h - the one error type of slotpilot.
 *
 * Every internal function that can fail returns an sp_err and, when it is
 * not SP_OK, fills an sp_error with a message naming the node and the
 * command involved. The CLI maps codes to exit statuses (see cli/exit.h).
 */
#ifndef SP_ERROR_H
#define SP_ERROR_H

#include <stddef.h>

typedef enum sp_err {
	SP_OK = 0,
	SP_ERR_IO,	    /* connection refused, reset, EOF */
	SP_ERR_TIMEOUT,	    /* connect or read timed out */
	SP_ERR_PROTOCOL,    /* reply of the wrong type or shape */
	SP_ERR_OOM,	    /* allocation failed */
	SP_ERR_CLUSTER,	    /* cluster state forbids the operation */
	SP_ERR_USAGE,	    /* bad input from the operator */
	SP_ERR_SERVER,	    /* a generic -ERR reply */
	SP_ERR_MOVED,	    /* -MOVED slot host:port */
	SP_ERR_ASK,	    /* -ASK slot host:port */
	SP_ERR_TRYAGAIN,    /* -TRYAGAIN during a migration */
	SP_ERR_CLUSTERDOWN, /* -CLUSTERDOWN */
	SP_ERR_BUSYKEY,	    /* -BUSYKEY target key exists */
	SP_ERR_LOADING,	    /* -LOADING dataset */
	SP_ERR_NOAUTH,	    /* -NOAUTH / -WRONGPASS: not authenticated */
	SP_ERR_NOTFOUND,    /* a named thing does not exist */
	SP_ERR_SYSTEM,	    /* a local system call failed */
	SP_ERR_INTERRUPTED, /* stopped by a signal at a safe point */
	SP_ERR_INTERNAL,
	/* -NOPERM: authenticated, but the ACL user may not run the command
	 * (or touch the key); the node did answer, so it is not unreachable */
	SP_ERR_NOPERM,
	SP_ERR__COUNT
} sp_err;

#define SP_ERRMSG_MAX 512

typedef struct sp_error {
	sp_err code;
	char msg[SP_ERRMSG_MAX];
} sp_error;

/* Short, constant name of a code ("io", "timeout", ...). Never NULL. */
const char *sp_strerror(sp_err code);

/*
 * Sets *e (if e is not NULL) to code and a printf-style message; returns
 * code, so callers can write `return sp_seterr(e, SP_ERR_IO, ...)`.
 */
sp_err sp_seterr(sp_error *e, sp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message of *e with "prefix: "; keeps the code. */
void sp_error_prefix(sp_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears *e to SP_OK with an empty message. */
void sp_error_clear(sp_error *e);

#endif
