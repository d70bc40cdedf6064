/*
 * stop.h - the stop request a signal sets (the CLI traps SIGINT and
 * SIGTERM for the commands that change the cluster). Workflows check it
 * between steps, never inside a slot window, and return
 * SP_ERR_INTERRUPTED there: the CLI exits 5.
 */
#ifndef SP_STOP_H
#define SP_STOP_H

#include <signal.h>

#include "base/error.h"

/* SP_OK when stop is NULL or not set; otherwise SP_ERR_INTERRUPTED with
 * "<what> interrupted <where>, at a safe point" and next (what to run to
 * finish, may be "") appended. */
static inline sp_err sp_stop_check(volatile sig_atomic_t *stop,
				   const char *what, const char *where,
				   const char *next, sp_error *err)
{
	if (stop == NULL || !*stop)
		return SP_OK;
	return sp_seterr(err, SP_ERR_INTERRUPTED,
			 "%s interrupted %s, at a safe point%s%s", what, where,
			 next[0] ? "; " : "", next);
}

#endif
