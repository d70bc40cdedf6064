/*
 * cli.h - what every command of the slotpilot tool shares: global options,
 * argument parsing, exit codes, confirmation and error printing.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <signal.h>
#include <stdio.h>

#include "base/log.h"
#include "io/conn.h"

/* Documented exit codes (README "Exit codes"). */
enum {
	SP_EXIT_OK = 0,
	SP_EXIT_FAILED = 1, /* check findings, or the operation failed */
	SP_EXIT_USAGE = 2,  /* bad command line or input; nothing changed */
	SP_EXIT_UNREACHABLE = 3, /* a node did not answer or refused auth */
	SP_EXIT_REFUSED = 4,	 /* the cluster's state forbids the operation */
	SP_EXIT_INTERRUPTED = 5, /* stopped by a signal at a safe point */
	SP_EXIT_INTERNAL = 10
};

typedef struct sp_cli {
	int json;
	int yes;
	int tty; /* stdout is a terminal */
	sp_conn_opts conn;
	const char *prog; /* "slotpilot check" etc. for messages */
} sp_cli;

/* One command-specific option. */
typedef struct sp_optdef {
	const char *name; /* long name without "--" */
	char shortname;	  /* or 0 */
	int has_arg;
	int id;
} sp_optdef;

/* Called for each command-specific option; returns 0, or -1 on bad value
 * after printing why (the caller then exits SP_EXIT_USAGE). */
typedef int (*sp_opt_fn)(void *ud, int id, const char *val);

/*
 * Parses argv[1..argc-1] (argv[0] is the command name): global options
 * into *cli, the ones in defs through fn, and the rest as positionals,
 * which are left, in order, at pos[0..*npos-1] (pos has argc slots).
 * Returns 0, or -1 after printing a usage error.
 */
int sp_cli_parse(sp_cli *cli, int argc, char **argv, const sp_optdef *defs,
		 sp_opt_fn fn, void *ud, char **pos, int *npos);

/* Prints "slotpilot: message" to stderr. */
void sp_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints err and returns the exit code that its class maps to. */
int sp_cli_fail(const sp_cli *cli, const sp_error *err);

/* Exit code for an error class. */
int sp_cli_exit_code(sp_err code);

/*
 * Asks "question [y/N]" when stdin is a TTY and --yes was not given.
 * Returns 1 to go on, 0 if the operator declined, -1 (after printing why)
 * when there is no TTY and no --yes: the caller exits SP_EXIT_USAGE.
 */
int sp_cli_confirm(const sp_cli *cli, const char *question);

/* Parses a whole decimal number in [lo, hi]; -1 after printing why. */
int sp_cli_int(const char *opt, const char *val, long lo, long hi, int *out);

/* Parses a finite number in [lo, hi]; -1 after printing why. */
int sp_cli_num(const char *opt, const char *val, double lo, double hi,
	       double *out);

/* Parses a number above 0 and at most hi; -1 after printing why. */
int sp_cli_positive(const char *opt, const char *val, double hi, double *out);

/* Parses a size: N, or N with k/kb, m/mb or g/gb (powers of 1000), at
 * least 1 byte; -1 after printing why. */
int sp_cli_bytes(const char *opt, const char *val, long long *out);

/* The log workflows write to: stderr for humans, nothing under --json. */
sp_log sp_cli_log(const sp_cli *cli);

/* Entry points, one per command group. */
int sp_cmd_keyslot(int argc, char **argv);
int sp_cmd_check(int argc, char **argv);
int sp_cmd_status(int argc, char **argv);
int sp_cmd_create(int argc, char **argv);
int sp_cmd_local(int argc, char **argv);
int sp_cmd_conf(int argc, char **argv);
int sp_cmd_reshard(int argc, char **argv);
int sp_cmd_resume(int argc, char **argv);
int sp_cmd_fix(int argc, char **argv);
int sp_cmd_rebalance(int argc, char **argv);
int sp_cmd_plan(int argc, char **argv);
int sp_cmd_apply(int argc, char **argv);
int sp_cmd_add_node(int argc, char **argv);
int sp_cmd_remove_node(int argc, char **argv);
int sp_cmd_failover(int argc, char **argv);
int sp_cmd_expand(int argc, char **argv);
int sp_cmd_shrink(int argc, char **argv);
int sp_cmd_rollback(int argc, char **argv);
int sp_cmd_preflight(int argc, char **argv);
int sp_cmd_backup(int argc, char **argv);
int sp_cmd_traffic(int argc, char **argv);
int sp_cmd_autoscale(int argc, char **argv);

/* SIGINT/SIGTERM set the stop flag (engines stop at a slot boundary). */
void sp_cli_trap_signals(void);
volatile sig_atomic_t *sp_cli_stop_flag(void);

#endif
