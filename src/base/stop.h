/*
 * stop.h - the stop request a signal sets (the CLI traps SIGINT and
 * SIGTERM for the commands that change the cluster). Workflows check it
 * between steps, never inside a slot window, and return
 * SP_ERR_INTERRUPTED there: the CLI exits 5. Waits that are safe
 * points (sp_wait_step) stop too.
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

/* The process's stop request: the CLI points it at the flag its signal
 * handler sets; NULL in a process that traps no signal. */
extern volatile sig_atomic_t *sp_stop_request;

/*
 * One pause of a wait that is a safe point (gossip converging, a replica
 * syncing, a failover completing: nothing of ours is in flight, the nodes
 * go on alone). SP_ERR_INTERRUPTED ("interrupted while waiting for <for>,
 * at a safe point; <next>") when a stop was requested, else sleeps ms and
 * returns SP_OK. Loops call it only after a check that failed, so a wait
 * already satisfied still ends well.
 */
sp_err sp_wait_step(long long ms, const char *for_what, const char *next,
		    sp_error *err);

#endif
