/*
 * proc.c - running a child program with a built environment, optional
 * input and captured output, under a deadline (see proc.h).
 */
/* posix_spawn_file_actions_addchdir_np and pipe2 are GNU. */
#define _GNU_SOURCE
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"

extern char **environ;

#define PROC_OUT_DEFAULT     (64 * 1024)
#define PROC_TIMEOUT_DEFAULT 10000

/* 1 if the variable "NAME=..." is named by one of drop (or a "P*"). */
static int dropped(const char *var, const char *const *drop)
{
	size_t n;

	for (; drop != NULL && *drop != NULL; drop++) {
		n = strlen(*drop);
		if (n > 0 && (*drop)[n - 1] == '*') {
			if (strncmp(var, *drop, n - 1) == 0)
				return 1;
		} else if (strncmp(var, *drop, n) == 0 && var[n] == '=') {
			return 1;
		}
	}
	return 0;
}

/* What every child gets from our environment: what a shell and its
 * tools need to run, never a credential. */
static const char *const base_env[] = {"PATH",	"HOME",	  "USER",     "LOGNAME",
				       "SHELL", "LANG",	  "LANGUAGE", "LC_*",
				       "TZ",	"TMPDIR", NULL};

/* 1 if pattern (a NAME or a "PREFIX*", n bytes) names var "NAME=...". */
static int names(const char *pat, size_t n, const char *var)
{
	if (n > 0 && pat[n - 1] == '*')
		return strncmp(var, pat, n - 1) == 0;
	return n > 0 && strncmp(var, pat, n) == 0 && var[n] == '=';
}

/* 1 if var is in base_env or named by the operator's SP_PASS_ENV list
 * (names or PREFIX* patterns, separated by spaces or commas). */
static int passed(const char *var, const char *pass)
{
	size_t n;

	for (const char *const *b = base_env; *b != NULL; b++)
		if (names(*b, strlen(*b), var))
			return 1;
	while (pass != NULL && *pass != '\0') {
		pass += strspn(pass, " ,\t");
		n = strcspn(pass, " ,\t");
		if (names(pass, n, var))
			return 1;
		pass += n;
	}
	return 0;
}

/* 1 if env_set sets the variable of "NAME=...". */
static int overridden(const char *var, const char *const *set)
{
	size_t n = strcspn(var, "=");

	for (; set != NULL && *set != NULL; set++)
		if (strncmp(var, *set, n) == 0 && (*set)[n] == '=')
			return 1;
	return 0;
}

/* The passed variables of environ minus the dropped and overridden ones,
 * plus env_set. The array is the caller's to free; its strings are
 * borrowed. getenv is safe here: nothing in slotpilot calls setenv. */
static char **build_env(const sp_proc_spec *s)
{
	const char *pass = getenv(SP_PASS_ENV);
	size_t n = 0, k = 0, i, nset = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (s->env_set != NULL && s->env_set[nset] != NULL)
		nset++;
	if ((env = calloc(n + nset + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (passed(environ[i], pass) &&
		    !dropped(environ[i], s->env_drop) &&
		    !overridden(environ[i], s->env_set))
			env[k++] = environ[i];
	for (i = 0; i < nset; i++)
		env[k++] = (char *)s->env_set[i];
	return env;
}

/* Stdin from a pipe (input) or /dev/null, stdout to a pipe (capture) or
 * /dev/null, chdir. fds[0]/[1]: our ends, or -1. */
static int plan_files(const sp_proc_spec *s, posix_spawn_file_actions_t *fa,
		      int in[2], int out[2])
{
	if (posix_spawn_file_actions_init(fa) != 0)
		return -1;
	if (s->input != NULL) {
		posix_spawn_file_actions_adddup2(fa, in[0], 0);
		posix_spawn_file_actions_addclose(fa, in[1]);
	} else {
		posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
						 0);
	}
	if (s->capture) {
		posix_spawn_file_actions_adddup2(fa, out[1], 1);
		posix_spawn_file_actions_addclose(fa, out[0]);
	} else {
		posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY,
						 0);
	}
	if (s->dir != NULL)
		posix_spawn_file_actions_addchdir_np(fa, s->dir);
	return 0;
}

/* Appends what fd has to *buf (at most max bytes kept); 0 at EOF. */
static int drain(int fd, char *buf, size_t *len, size_t max)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	size_t keep;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	keep = (size_t)n;
	if (*len + keep > max)
		keep = max - *len;
	memcpy(buf + *len, tmp, keep);
	*len += keep;
	return 1;
}

/* Writes what is left of the input without letting a child that closed
 * its end raise SIGPIPE in us: the signal is blocked for this thread and
 * a pending one is taken back. Returns bytes written, or -1. */
static ssize_t feed(int fd, const char *p, size_t n)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = {0, 0};
	int was_pending;
	ssize_t w;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	w = write(fd, p, n);
	/* A partial write can raise SIGPIPE too, so look, not at errno. */
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
		       errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}

/* Kills pid and reaps it. */
static void kill_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Feeds input, collects output and reaps pid before deadline; kills it
 * after. Returns the wait status, or -1 after a kill. */
static int supervise(pid_t pid, const sp_proc_spec *s, int *in_fd, int out_fd,
		     char *buf, size_t *len, size_t max, long long deadline)
{
	size_t off = 0, inlen = s->input != NULL ? strlen(s->input) : 0;
	int status = 0, open_out = out_fd >= 0;
	struct pollfd p[2];
	ssize_t w;

	for (;;) {
		if (*in_fd >= 0 && off == inlen) {
			close(*in_fd);
			*in_fd = -1;
		}
		if (!open_out && *in_fd < 0 &&
		    waitpid(pid, &status, WNOHANG) == pid)
			return status;
		if (sp_now_ms() >= deadline) {
			kill_reap(pid);
			return -1;
		}
		p[0] = (struct pollfd){.fd = open_out ? out_fd : -1,
				       .events = POLLIN};
		p[1] = (struct pollfd){.fd = *in_fd, .events = POLLOUT};
		if (poll(p, 2, 20) <= 0)
			continue;
		if (p[0].revents != 0)
			open_out = drain(out_fd, buf, len, max);
		if (p[1].revents & (POLLERR | POLLHUP)) {
			off = inlen; /* the child does not read its input */
		} else if (p[1].revents & POLLOUT) {
			w = feed(*in_fd, s->input + off, inlen - off);
			off = w > 0 ? off + (size_t)w : inlen;
		}
	}
}

/* Starts the child with its pipes: in[0] and po[1] go to it and are
 * closed here; in[1] and po[0] stay ours. */
static sp_err start(const sp_proc_spec *s, char **env, int in[2], int po[2],
		    pid_t *pid, sp_error *err)
{
	posix_spawn_file_actions_t fa;
	int e = 0;

	if ((s->input != NULL && pipe2(in, O_CLOEXEC) != 0) ||
	    (s->capture && pipe2(po, O_CLOEXEC) != 0) ||
	    plan_files(s, &fa, in, po) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot run %s: %s",
				 s->argv[0], strerror(errno));
	e = posix_spawnp(pid, s->argv[0], &fa, NULL, (char *const *)s->argv,
			 env);
	posix_spawn_file_actions_destroy(&fa);
	if (in[0] >= 0)
		close(in[0]);
	if (po[1] >= 0)
		close(po[1]);
	in[0] = po[1] = -1;
	if (e != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot run %s: %s",
				 s->argv[0], strerror(e));
	return SP_OK;
}

sp_err sp_proc_run(const sp_proc_spec *s, int *exit_code, char **out,
		   sp_error *err)
{
	int in[2] = {-1, -1}, po[2] = {-1, -1}, status;
	size_t max = s->max_out > 0 ? s->max_out : PROC_OUT_DEFAULT, len = 0;
	int limit = s->timeout_ms > 0 ? s->timeout_ms : PROC_TIMEOUT_DEFAULT;
	long long deadline = sp_now_ms() + limit;
	char **env = NULL, *buf = NULL;
	sp_err rc = SP_OK;
	pid_t pid;

	*exit_code = -1;
	if (out != NULL)
		*out = NULL;
	if ((env = build_env(s)) == NULL ||
	    (s->capture && (buf = malloc(max + 1)) == NULL)) {
		rc = sp_seterr(err, SP_ERR_OOM, "out of memory");
		goto out;
	}
	if ((rc = start(s, env, in, po, &pid, err)) != SP_OK)
		goto out;
	status = supervise(pid, s, &in[1], po[0], buf, &len, max, deadline);
	if (status == -1)
		rc = sp_seterr(err, SP_ERR_TIMEOUT,
			       "%s did not finish within %d ms and was killed",
			       s->argv[0], limit);
	else if (WIFEXITED(status))
		*exit_code = WEXITSTATUS(status);
	if (buf != NULL && out != NULL) {
		buf[len] = '\0';
		*out = buf;
		buf = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (po[i] >= 0)
			close(po[i]);
	}
	free(buf);
	free(env);
	return rc;
}
