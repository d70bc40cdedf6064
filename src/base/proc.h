/*
 * proc.h - the one way slotpilot runs another program: the local
 * provisioner's redis-server, the exec provisioner's commands and the
 * autoscaler's alert command.
 *
 * It uses posix_spawnp with an environment built for the child, never
 * setenv or fork: the daemon has threads (libmicrohttpd's), where a
 * forked child may only exec and setenv races every getenv. Every run
 * has a deadline; a child still running at its deadline is killed.
 *
 * A child gets only PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE,
 * LC_*, TZ and TMPDIR from our environment, plus what its caller sets,
 * plus the variables the operator names in SLOTPILOT_PASS_ENV (names or
 * PREFIX* patterns, separated by spaces or commas): REDISCLI_AUTH and
 * any other secret of ours stays with us unless the operator passes it.
 */
#ifndef SP_PROC_H
#define SP_PROC_H

#include <stddef.h>

#include "base/error.h"

/* The operator's list of further variables children may inherit. */
#define SP_PASS_ENV "SLOTPILOT_PASS_ENV"

typedef struct sp_proc_spec {
	/* argv[0] is the program, searched on PATH; NULL-terminated. */
	const char *const *argv;
	const char *dir;	     /* working directory, or NULL */
	const char *const *env_set;  /* "NAME=value" added, or NULL */
	const char *const *env_drop; /* names (or "PREFIX_*") removed,
					passed or not */
	const char *input;	     /* written to stdin, or NULL */
	int capture;		     /* 1: stdout returned in *out */
	size_t max_out;		     /* capture limit (default 64 KiB) */
	int timeout_ms;		     /* killed after this (default 10 s) */
} sp_proc_spec;

/*
 * Runs the program of *s and waits for it, at most s->timeout_ms.
 * *exit_code is its exit status, or -1 when it was killed by a signal or
 * at the deadline. With s->capture, *out (caller frees) holds its
 * standard output, NUL-terminated, cut at s->max_out bytes; otherwise
 * its standard output goes to /dev/null, as its standard input does when
 * s->input is NULL. Its standard error is ours. Returns SP_OK when the
 * program ran (whatever its exit code), SP_ERR_TIMEOUT when it was
 * killed at the deadline, SP_ERR_SYSTEM when it could not be started,
 * SP_ERR_OOM.
 */
sp_err sp_proc_run(const sp_proc_spec *s, int *exit_code, char **out,
		   sp_error *err);

#endif
