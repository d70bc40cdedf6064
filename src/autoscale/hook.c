/*
 * autoscale_hook.c - the alert command: the operator's program, given
 * each alert in its environment and as JSON on its standard input.
 *
 * It runs through base/proc.h (posix_spawn with a built environment,
 * because the daemon has threads), under a 10 s deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/web.h"
#include "base/proc.h"

#define HOOK_WAIT_MS 10000

void sp_as_run_hook(const char *cmd, const char *code, const char *msg,
		    const char *cluster, const char *json, const sp_log *log)
{
	char v[3][SP_ERRMSG_MAX + 32], *input = NULL;
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	const char *set[] = {v[0], v[1], v[2], NULL};
	/* The hook is the operator's program, not a Redis client: base/proc
	 * passes it no password of ours (REDISCLI_AUTH only when the
	 * operator lists it in SLOTPILOT_PASS_ENV). */
	const char *drop[] = {"SLOTPILOT_ALERT_*", "SLOTPILOT_CLUSTER", NULL};
	sp_proc_spec spec = {.argv = argv,
			     .env_set = set,
			     .env_drop = drop,
			     .timeout_ms = HOOK_WAIT_MS};
	sp_error err = {0};
	int status = -1;

	snprintf(v[0], sizeof(v[0]), "SLOTPILOT_ALERT_CODE=%s", code);
	snprintf(v[1], sizeof(v[1]), "SLOTPILOT_ALERT_MSG=%.500s", msg);
	snprintf(v[2], sizeof(v[2]), "SLOTPILOT_CLUSTER=%.300s", cluster);
	if ((input = malloc(strlen(json) + 2)) == NULL) {
		sp_logf(log, "alert", "alert_command: cannot start it");
		return;
	}
	sprintf(input, "%s\n", json);
	spec.input = input;
	if (sp_proc_run(&spec, &status, NULL, &err) != SP_OK)
		sp_logf(log, "alert", "alert_command: %s", err.msg);
	if (status != 0)
		sp_logf(log, "alert", "alert_command failed for %s", code);
	free(input);
}
