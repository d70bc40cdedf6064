/*
 * cli.h - what every command of the slotpilot tool shares: global options,
 * argument parsing, exit codes, confirmation and error printing.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "base/log.h"
#include "io/conn.h"
#include "io/tls.h"

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
	sp_tls_opts tls;  /* --tls and its files; conn.tls is built from it */
	const char *prog; /* "slotpilot check" etc. for messages */
} sp_cli;

/* How the generic parser turns an option's value into its field. */
typedef enum sp_optkind {
	SP_OPT_CUSTOM = 0, /* handed to the command's hook by id */
	SP_OPT_FLAG,	   /* int set to 1; takes no value */
	SP_OPT_STRING,	   /* const char * pointing into argv */
	SP_OPT_INT,	   /* int, whole number in [lo, hi] (sp_cli_int) */
	SP_OPT_LONG,	   /* long, whole number in [lo, hi] */
	SP_OPT_NUM,	   /* double in [lo, hi] (sp_cli_num) */
	SP_OPT_POSITIVE,   /* double above 0, at most hi (sp_cli_positive) */
	SP_OPT_BYTES,	   /* long long size (sp_cli_bytes) */
	SP_OPT_CHOICE,	   /* int (or enum): the value of one of choices */
	SP_OPT_PARSE	   /* parse(val, field): a value with its own syntax */
} sp_optkind;

/* One word an SP_OPT_CHOICE option accepts; lists end with a NULL name. */
typedef struct sp_choice {
	const char *name;
	int value;
} sp_choice;

/*
 * One command-specific option. Typed options are filled by the parser at
 * off bytes into the command's options struct; custom ones go to the hook.
 */
typedef struct sp_optdef {
	const char *name; /* long name without "--" */
	char shortname;	  /* or 0 */
	int has_arg;
	int id; /* for SP_OPT_CUSTOM */
	sp_optkind kind;
	double lo, hi;
	size_t off;
	size_t also;		  /* 1 + offset of an int also set to 1, or 0 */
	const sp_choice *choices; /* for SP_OPT_CHOICE */
	/* For SP_OPT_PARSE: 0, or -1 after printing why. */
	int (*parse)(const char *val, void *field);
} sp_optdef;

#define SP_OPT_TYPED(n, k, arg, l, h, type, field)                             \
	{                                                                      \
		.name = (n), .has_arg = (arg), .kind = (k), .lo = (l),         \
		.hi = (h), .off = offsetof(type, field)                        \
	}
#define SP_OPT_I(n, l, h, type, field)                                         \
	SP_OPT_TYPED(n, SP_OPT_INT, 1, l, h, type, field)
#define SP_OPT_S(n, type, field)                                               \
	SP_OPT_TYPED(n, SP_OPT_STRING, 1, 0, 0, type, field)
#define SP_OPT_F(n, type, field)                                               \
	SP_OPT_TYPED(n, SP_OPT_FLAG, 0, 0, 0, type, field)
#define SP_OPT_CHOICES(n, list, type, field)                                   \
	{                                                                      \
		.name = (n), .has_arg = 1, .kind = SP_OPT_CHOICE,              \
		.off = offsetof(type, field), .choices = (list)                \
	}
#define SP_OPT_END                                                             \
	{                                                                      \
		.name = NULL                                                   \
	}

/* Called for each custom option; returns 0, or -1 on bad value
 * after printing why (the caller then exits SP_EXIT_USAGE). */
typedef int (*sp_opt_fn)(void *ud, int id, const char *val);

/*
 * Parses argv[1..argc-1] (argv[0] is the command name): global options
 * into *cli, typed ones in defs into the struct at ud, custom ones through
 * fn (may be NULL when there are none), and the rest as positionals,
 * which are left, in order, at pos[0..*npos-1] (pos has argc slots;
 * they, like string options, point into argv: nothing is allocated).
 * Returns 0, or -1 after printing a usage error.
 */
int sp_cli_parse(sp_cli *cli, int argc, char **argv, const sp_optdef *defs,
		 sp_opt_fn fn, void *ud, char **pos, int *npos);

/* What a command's run function gets: parsed globals, positionals and,
 * when the command has an entry node, its host and port. */
typedef struct sp_cli_ctx {
	sp_cli cli;
	char **pos; /* argv strings; the array is owned by sp_cli_main */
	int npos;
	char host[SP_HOST_MAX];
	int port;
	const char *name; /* argv[0]: "check", "add-node", ... */
	int variant;	  /* the descriptor's variant */
	sp_tls *tls;	  /* built from cli.tls; cli.conn.tls points here */
	sp_error err;
} sp_cli_ctx;

/*
 * One command: its line in the usage text, its --help, its options and
 * positionals, and the function that does the work (the shape of curl's
 * tool_getparam.c). A command made of subcommands (`plan rebalance`)
 * lists them in subs instead.
 */
typedef struct sp_cmd sp_cmd;
struct sp_cmd {
	const char *name;
	const char *synopsis; /* left column of `slotpilot --help` */
	const char *summary;  /* right column */
	const char *help;     /* printed by `slotpilot NAME --help` */
	const sp_optdef *opts;
	sp_opt_fn hook; /* for SP_OPT_CUSTOM options, or NULL */
	int min_pos, max_pos;
	int entry;	     /* pos[0] is the entry node HOST:PORT */
	const char *pos_err; /* printed when the positional count is off */
	int pos_help;	     /* and then the help text */
	/* -h is --help too, and a usage error while parsing or in the
	 * positional count repeats the help on stderr (traffic). */
	int usage_help;
	int variant; /* for commands that share one run function */
	/* The command reads cli.tls itself (local up --tls makes its own
	 * certificates): no client context is built before run. */
	int own_tls;
	/* Before the entry node is parsed: SP_EXIT_OK to go on, else the
	 * exit code after printing why (with pos_err NULL it also checks
	 * the positional count). */
	int (*check)(const sp_cli_ctx *x, const void *args);
	size_t args_size; /* the command's options struct */
	void (*init)(void *args);
	/* Returns the exit code; args is zeroed then init'ed and parsed. */
	int (*run)(sp_cli_ctx *x, void *args);
	void (*fini)(void *args); /* frees what options allocated, or NULL */
	/* Subcommands, ended by NULL: argv[1] names the one that runs on
	 * argv[1..]; with anything else, --help prints help and the rest
	 * prints pos_err (exit SP_EXIT_USAGE). */
	const sp_cmd *const *subs;
};

/*
 * Descriptor shorthands. SP_CMD gives the --help columns and takes the
 * other fields as designated initializers; SP_POS is the positional rule
 * (count range, the message when it is off, whether the help follows);
 * SP_ONE_NODE is the common rule of exactly one HOST:PORT, the entry node.
 */
#define SP_CMD(n, syn, sum, ...)                                               \
	{                                                                      \
		.name = n, .synopsis = syn, .summary = sum, __VA_ARGS__        \
	}
#define SP_POS(lo, hi, err, with_help)                                         \
	.min_pos = lo, .max_pos = hi, .pos_err = err, .pos_help = with_help
#define SP_ONE_NODE(n) SP_POS(1, 1, n ": give one HOST:PORT", 1), .entry = 1

/* The command table, in usage order, ended by a NULL name (main.c). */
extern const sp_cmd *const sp_cmds[];

/*
 * Runs d on argv (argv[0] is the command name): --help, the options
 * struct, parsing, the positional count and the entry node, then d->run.
 * Returns the exit code; owns nothing afterwards.
 */
int sp_cli_main(const sp_cmd *d, int argc, char **argv);

/* A JSON real rounded to decimals places, as printf's %.Nf would show it
 * (sp_cli_json_print prints it without trailing noise); new reference. */
json_t *sp_json_fixed(double v, int decimals);

/* Prints o compactly (ASCII-escaped) and a newline; takes o's reference. */
void sp_cli_json_print(json_t *o);

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

/* sp_cli_confirm as an exit code: SP_EXIT_OK to go on, SP_EXIT_FAILED
 * when the operator declined, SP_EXIT_USAGE without a TTY or --yes. */
int sp_cli_ask(const sp_cli *cli, const char *question);

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

/* The commands, one descriptor each (defined in cmd_*.c). */
extern const sp_cmd sp_def_local;
extern const sp_cmd sp_def_create;
extern const sp_cmd sp_def_status;
extern const sp_cmd sp_def_check;
extern const sp_cmd sp_def_reshard;
extern const sp_cmd sp_def_resume;
extern const sp_cmd sp_def_fix;
extern const sp_cmd sp_def_rebalance;
extern const sp_cmd sp_def_plan;
extern const sp_cmd sp_def_apply;
extern const sp_cmd sp_def_add_node;
extern const sp_cmd sp_def_remove_node;
extern const sp_cmd sp_def_failover;
extern const sp_cmd sp_def_expand;
extern const sp_cmd sp_def_shrink;
extern const sp_cmd sp_def_rollback;
extern const sp_cmd sp_def_traffic;
extern const sp_cmd sp_def_preflight;
extern const sp_cmd sp_def_backup;
extern const sp_cmd sp_def_autoscale;
extern const sp_cmd sp_def_keyslot;
extern const sp_cmd sp_def_conf;

/* When main began (sp_now_ms), for the timeline of a move: main calls
 * sp_cli_mark_start first. */
void sp_cli_mark_start(void);
long long sp_cli_start_ms(void);

/* SIGINT/SIGTERM set the stop flag (engines stop at a slot boundary). */
void sp_cli_trap_signals(void);
volatile sig_atomic_t *sp_cli_stop_flag(void);
/* Traps them (sp_cli_trap_signals) when cmd is one of the commands that
 * change the cluster; the others keep the default: a signal ends them. */
void sp_cli_trap_for(const char *cmd);

#endif
