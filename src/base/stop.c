/*
 * stop.c - the process's stop request, and the pause of a wait that
 * honours it (stop.h).
 */
#include "base/stop.h"

#include "base/clock.h"

volatile sig_atomic_t *sp_stop_request;

sp_err sp_wait_step(long long ms, const char *for_what, const char *next,
		    sp_error *err)
{
	if (sp_stop_request != NULL && *sp_stop_request)
		return sp_seterr(err, SP_ERR_INTERRUPTED,
				 "interrupted while waiting for %s, at a safe "
				 "point%s%s",
				 for_what, next[0] ? "; " : "", next);
	sp_sleep_ms(ms);
	return SP_OK;
}
