/*
 * autoscale_hook.c - the alert command: the operator's program, given
 * each alert in its environment and as JSON on its standard input.
 *
 * posix_spawn with a built environment, because the daemon has threads
 * (libmicrohttpd's) and a forked child may only exec.
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autoscale/web.h"
#include "base/clock.h"

extern char **environ;

#define HOOK_WAIT_MS 10000

/* environ without our variables, plus them; the strings are v[]'s. */
static char **hook_env(char (*v)[SP_ERRMSG_MAX + 32])
{
	size_t n = 0, k = 0, i;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 4, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "SLOTPILOT_ALERT_", 16) != 0 &&
		    strncmp(environ[i], "SLOTPILOT_CLUSTER=", 18) != 0)
			env[k++] = environ[i];
	for (i = 0; i < 3; i++)
		env[k++] = v[i];
	return env;
}

/* Waits for pid at most HOOK_WAIT_MS; kills it after. Its status. */
static int wait_hook(pid_t pid)
{
	long long deadline = sp_now_ms() + HOOK_WAIT_MS;
	int status = -1;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (sp_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sp_sleep_ms(20);
	}
	return status;
}

void sp_as_run_hook(const char *cmd, const char *code, const char *msg,
		    const char *cluster, const char *json, const sp_log *log)
{
	char v[3][SP_ERRMSG_MAX + 32];
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	char **env;
	int fds[2] = {-1, -1}, status = -1;
	pid_t pid;

	snprintf(v[0], sizeof(v[0]), "SLOTPILOT_ALERT_CODE=%s", code);
	snprintf(v[1], sizeof(v[1]), "SLOTPILOT_ALERT_MSG=%.500s", msg);
	snprintf(v[2], sizeof(v[2]), "SLOTPILOT_CLUSTER=%.300s", cluster);
	if ((env = hook_env(v)) == NULL || pipe(fds) != 0) {
		free(env);
		sp_logf(log, "alert", "alert_command: cannot start it");
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env) == 0) {
		close(fds[0]);
		fds[0] = -1;
		/* SIGPIPE is ignored by the daemon: a hook that does not
		 * read its input gives EPIPE here. */
		if (write(fds[1], json, strlen(json)) < 0 ||
		    write(fds[1], "\n", 1) < 0)
			sp_logf(log, "alert",
				"alert_command did not read "
				"its input");
		close(fds[1]);
		fds[1] = -1;
		status = wait_hook(pid);
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		sp_logf(log, "alert", "alert_command failed for %s", code);
	posix_spawn_file_actions_destroy(&fa);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(env);
}
