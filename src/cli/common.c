/*
 * common.c - global options, parsing, exit codes and confirmation.
 *
 * Authentication follows redis-cli: -a/--pass, --user, and the
 * REDISCLI_AUTH environment variable (which keeps the password out of the
 * process list).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"

void sp_cli_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("slotpilot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int sp_cli_exit_code(sp_err code)
{
	switch (code) {
	case SP_OK:
		return SP_EXIT_OK;
	case SP_ERR_USAGE:
	case SP_ERR_NOTFOUND:
		return SP_EXIT_USAGE;
	case SP_ERR_IO:
	case SP_ERR_TIMEOUT:
	case SP_ERR_NOAUTH:
		return SP_EXIT_UNREACHABLE;
	case SP_ERR_CLUSTER:
		return SP_EXIT_REFUSED;
	case SP_ERR_INTERRUPTED:
		return SP_EXIT_INTERRUPTED;
	case SP_ERR_OOM:
	case SP_ERR_INTERNAL:
		return SP_EXIT_INTERNAL;
	default:
		return SP_EXIT_FAILED;
	}
}

int sp_cli_fail(const sp_cli *cli, const sp_error *err)
{
	sp_cli_errorf("%s", err->msg[0] ? err->msg : sp_strerror(err->code));
	(void)cli;
	return sp_cli_exit_code(err->code);
}

int sp_cli_int(const char *opt, const char *val, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (val[0] == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		sp_cli_errorf(
		    "%s: \"%s\" is not a whole number from %ld to %ld", opt,
		    val, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* strtod of the whole string, finite; 0 when it is not a number. */
static int whole_double(const char *val, double *v, char **end)
{
	errno = 0;
	*v = strtod(val, end);
	return val[0] != '\0' && *end != val && errno == 0 && isfinite(*v);
}

int sp_cli_num(const char *opt, const char *val, double lo, double hi,
	       double *out)
{
	char *end;
	double v;

	if (!whole_double(val, &v, &end) || *end != '\0' || v < lo || v > hi) {
		sp_cli_errorf("%s: \"%s\" is not a number from %g to %g", opt,
			      val, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int sp_cli_positive(const char *opt, const char *val, double hi, double *out)
{
	char *end;
	double v;

	if (!whole_double(val, &v, &end) || *end != '\0' || !(v > 0) ||
	    v > hi) {
		sp_cli_errorf("%s: \"%s\" must be a number above 0, at most %g",
			      opt, val, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int sp_cli_bytes(const char *opt, const char *val, long long *out)
{
	static const struct {
		const char *suffix;
		double mul;
	} units[] = {{"", 1},	  {"k", 1e3}, {"kb", 1e3}, {"m", 1e6},
		     {"mb", 1e6}, {"g", 1e9}, {"gb", 1e9}};
	char *end;
	double v;
	size_t i;

	if (whole_double(val, &v, &end))
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcasecmp(end, units[i].suffix) == 0 && v >= 1 &&
			    v * units[i].mul <= 1e15) {
				*out = (long long)(v * units[i].mul);
				return 0;
			}
	sp_cli_errorf("%s: \"%s\" is not a size in bytes such as 1000000, "
		      "500kb or 10mb",
		      opt, val);
	return -1;
}

enum {
	G_JSON = -1,
	G_YES = -2,
	G_PASS = -3,
	G_USER = -4,
	G_TIMEOUT = -5,
	G_TLS = -6,
	G_CACERT = -7,
	G_CACERTDIR = -8,
	G_CERT = -9,
	G_KEY = -10,
	G_SNI = -11,
	G_INSECURE = -12
};

static const sp_optdef globals[] = {
    {.name = "json", .shortname = 0, .has_arg = 0, .id = G_JSON},
    {.name = "yes", .shortname = 'y', .has_arg = 0, .id = G_YES},
    {.name = "pass", .shortname = 'a', .has_arg = 1, .id = G_PASS},
    {.name = "user", .shortname = 0, .has_arg = 1, .id = G_USER},
    {.name = "timeout", .shortname = 0, .has_arg = 1, .id = G_TIMEOUT},
    {.name = "tls", .shortname = 0, .has_arg = 0, .id = G_TLS},
    {.name = "cacert", .shortname = 0, .has_arg = 1, .id = G_CACERT},
    {.name = "cacertdir", .shortname = 0, .has_arg = 1, .id = G_CACERTDIR},
    {.name = "cert", .shortname = 0, .has_arg = 1, .id = G_CERT},
    {.name = "key", .shortname = 0, .has_arg = 1, .id = G_KEY},
    {.name = "sni", .shortname = 0, .has_arg = 1, .id = G_SNI},
    {.name = "insecure", .shortname = 0, .has_arg = 0, .id = G_INSECURE},
    SP_OPT_END};

static const sp_optdef *find_opt(const sp_optdef *defs, const char *arg,
				 size_t nlen, char shortname)
{
	const sp_optdef *tables[2] = {globals, defs};
	int t;

	for (t = 0; t < 2; t++)
		for (const sp_optdef *d = tables[t]; d && d->name; d++)
			if (shortname ? d->shortname == shortname
				      : strlen(d->name) == nlen &&
					    strncmp(d->name, arg, nlen) == 0)
				return d;
	return NULL;
}

/* --tls and the files that go with it (redis-cli's names). */
static int apply_tls(sp_tls_opts *t, int id, const char *val)
{
	switch (id) {
	case G_TLS:
		t->enabled = 1;
		return 0;
	case G_CACERT:
		t->cacert = val;
		return 0;
	case G_CACERTDIR:
		t->cacertdir = val;
		return 0;
	case G_CERT:
		t->cert = val;
		return 0;
	case G_KEY:
		t->key = val;
		return 0;
	case G_SNI:
		t->sni = val;
		return 0;
	case G_INSECURE:
		t->insecure = 1;
		return 0;
	}
	return -1;
}

static int apply_global(sp_cli *cli, int id, const char *val)
{
	int ms;

	if (id <= G_TLS)
		return apply_tls(&cli->tls, id, val);
	switch (id) {
	case G_JSON:
		cli->json = 1;
		return 0;
	case G_YES:
		cli->yes = 1;
		return 0;
	case G_PASS:
		cli->conn.pass = val;
		return 0;
	case G_USER:
		cli->conn.user = val;
		return 0;
	case G_TIMEOUT:
		if (sp_cli_int("--timeout", val, 1, 3600000, &ms) != 0)
			return -1;
		cli->conn.timeout_ms = ms;
		cli->conn.connect_timeout_ms = ms;
		return 0;
	}
	return -1;
}

/* The value of the choice named val; -1 after printing "--opt: "val" is
 * not a, b or c". */
static int choose(const char *opt, const sp_choice *c, const char *val,
		  int *out)
{
	size_t i, n = 0;

	for (i = 0; c[i].name != NULL; i++, n++)
		if (strcmp(c[i].name, val) == 0) {
			*out = c[i].value;
			return 0;
		}
	fprintf(stderr, "slotpilot: %s: \"%s\" is not ", opt, val);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s%s", c[i].name,
			i + 2 < n   ? ", "
			: i + 1 < n ? " or "
				    : "\n");
	return -1;
}

/* Fills d's field in the struct at ud from val, or hands it to fn. */
static int apply_opt(const sp_optdef *d, sp_opt_fn fn, void *ud,
		     const char *val)
{
	char *f = (char *)ud + d->off, opt[64];
	int n;

	snprintf(opt, sizeof(opt), "--%s", d->name);
	if (d->also)
		*(int *)((char *)ud + d->also - 1) = 1;
	switch (d->kind) {
	case SP_OPT_CUSTOM:
		return fn != NULL ? fn(ud, d->id, val) : -1;
	case SP_OPT_FLAG:
		*(int *)f = 1;
		return 0;
	case SP_OPT_STRING:
		*(const char **)f = val;
		return 0;
	case SP_OPT_INT:
		return sp_cli_int(opt, val, (long)d->lo, (long)d->hi, (int *)f);
	case SP_OPT_LONG:
		if (sp_cli_int(opt, val, (long)d->lo, (long)d->hi, &n) != 0)
			return -1;
		*(long *)f = n;
		return 0;
	case SP_OPT_NUM:
		return sp_cli_num(opt, val, d->lo, d->hi, (double *)f);
	case SP_OPT_POSITIVE:
		return sp_cli_positive(opt, val, d->hi, (double *)f);
	case SP_OPT_BYTES:
		return sp_cli_bytes(opt, val, (long long *)f);
	case SP_OPT_CHOICE:
		return choose(opt, d->choices, val, (int *)f);
	case SP_OPT_PARSE:
		return d->parse(val, f);
	}
	return -1;
}

int sp_cli_parse(sp_cli *cli, int argc, char **argv, const sp_optdef *defs,
		 sp_opt_fn fn, void *ud, char **pos, int *npos)
{
	const char *env = getenv("REDISCLI_AUTH");
	int i, only_pos = 0;

	*npos = 0;
	cli->tty = isatty(STDOUT_FILENO);
	if (env != NULL && env[0] != '\0' && cli->conn.pass == NULL)
		cli->conn.pass = env;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		const sp_optdef *d;
		size_t nlen;

		if (only_pos || a[0] != '-' || a[1] == '\0') {
			pos[(*npos)++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (a[1] == '-') {
			eq = strchr(a + 2, '=');
			nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			d = find_opt(defs, a + 2, nlen, 0);
			val = eq ? eq + 1 : NULL;
		} else {
			d = a[2] == '\0' ? find_opt(defs, NULL, 0, a[1]) : NULL;
		}
		if (d == NULL) {
			sp_cli_errorf("%s: unknown option %s (see --help)",
				      argv[0], a);
			return -1;
		}
		if (d->has_arg && val == NULL) {
			if (i + 1 >= argc) {
				sp_cli_errorf("%s: option %s needs a value",
					      argv[0], a);
				return -1;
			}
			val = argv[++i];
		} else if (!d->has_arg && val != NULL) {
			sp_cli_errorf("%s: option --%s takes no value", argv[0],
				      d->name);
			return -1;
		}
		if (d->id < 0 ? apply_global(cli, d->id, val)
			      : apply_opt(d, fn, ud, val))
			return -1;
	}
	return 0;
}

int sp_cli_confirm(const sp_cli *cli, const char *question)
{
	char line[32];

	if (cli->yes)
		return 1;
	if (!isatty(STDIN_FILENO)) {
		sp_cli_errorf("refusing to change the cluster without --yes "
			      "(standard input is not a terminal)");
		return -1;
	}
	fprintf(stderr, "%s Type 'yes' to go on: ", question);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return strncmp(line, "yes", 3) == 0 || strncmp(line, "y\n", 2) == 0;
}

sp_log sp_cli_log(const sp_cli *cli)
{
	sp_log l = {.out = cli->json ? NULL : stderr, .json = 0};
	return l;
}

int sp_cli_ask(const sp_cli *cli, const char *question)
{
	int ok = sp_cli_confirm(cli, question);

	return ok > 0 ? SP_EXIT_OK : ok < 0 ? SP_EXIT_USAGE : SP_EXIT_FAILED;
}

json_t *sp_json_fixed(double v, int decimals)
{
	char buf[64];

	/* Through the decimal text, so the value is the one %.Nf shows. */
	if (!isfinite(v))
		return json_null();
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_real(strtod(buf, NULL));
}

void sp_cli_json_print(json_t *o)
{
	if (o != NULL)
		json_dumpf(o, stdout,
			   JSON_COMPACT | JSON_ENSURE_ASCII |
			       JSON_REAL_PRECISION(15));
	putchar('\n');
	json_decref(o);
}

/* --help anywhere (`local up --help` too: a help request must never
 * start or change anything), or -h first for commands that take it. */
static int wants_help(const sp_cmd *d, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0)
			return 1;
	return argc >= 2 && d->usage_help && strcmp(argv[1], "-h") == 0;
}

/* After a parse error (parsed 0) or with the positional count off: says
 * so, as d asks, and returns SP_EXIT_USAGE. */
static int usage_error(const sp_cmd *d, const sp_cli_ctx *x, int parsed)
{
	int off = d->pos_err != NULL &&
		  (x->npos < d->min_pos || x->npos > d->max_pos);

	if (d->usage_help) {
		if (off)
			sp_cli_errorf("%s", d->pos_err);
		fputs(d->help, stderr);
	} else if (parsed) {
		sp_cli_errorf("%s%s%s", d->pos_err, d->pos_help ? "\n" : "",
			      d->pos_help ? d->help : "");
	}
	return SP_EXIT_USAGE;
}

/* The TLS client context of --tls; -1 to go on, else the exit code. */
static int tls_context(const sp_cmd *d, sp_cli_ctx *x)
{
	const sp_tls_opts *t = &x->cli.tls;

	if (!t->enabled && (t->cacert || t->cacertdir || t->cert || t->key ||
			    t->sni || t->insecure)) {
		sp_cli_errorf("%s: --cacert, --cacertdir, --cert, --key, --sni "
			      "and --insecure need --tls",
			      x->name);
		return SP_EXIT_USAGE;
	}
	if (!t->enabled || d->own_tls)
		return -1;
	if (t->insecure)
		sp_cli_errorf("warning: --insecure: node certificates are not "
			      "verified; anyone on the path can read and "
			      "change the traffic");
	if (sp_tls_new(t, &x->tls, &x->err) != SP_OK)
		return sp_cli_fail(&x->cli, &x->err);
	x->cli.conn.tls = x->tls;
	return -1;
}

/* Everything before d->run; -1 to go on, else the exit code. */
static int prologue(const sp_cmd *d, int argc, char **argv, void *args,
		    sp_cli_ctx *x)
{
	int rc;

	if (wants_help(d, argc, argv)) {
		fputs(d->help, stdout);
		return SP_EXIT_OK;
	}
	if (sp_cli_parse(&x->cli, argc, argv, d->opts, d->hook, args, x->pos,
			 &x->npos))
		return usage_error(d, x, 0);
	if (d->pos_err != NULL &&
	    (x->npos < d->min_pos || x->npos > d->max_pos))
		return usage_error(d, x, 1);
	if (d->check != NULL && (rc = d->check(x, args)) != SP_EXIT_OK)
		return rc;
	if ((rc = tls_context(d, x)) >= 0)
		return rc;
	if (d->entry &&
	    sp_parse_hostport(x->pos[0], x->host, &x->port, &x->err) != SP_OK)
		return sp_cli_fail(&x->cli, &x->err);
	return -1;
}

/* d's subcommand named by argv[1], on argv[1..]. */
static int run_sub(const sp_cmd *d, int argc, char **argv)
{
	size_t i;

	for (i = 0; argc >= 2 && d->subs[i] != NULL; i++)
		if (strcmp(argv[1], d->subs[i]->name) == 0)
			return sp_cli_main(d->subs[i], argc - 1, argv + 1);
	if (wants_help(d, argc, argv)) {
		fputs(d->help, stdout);
		return SP_EXIT_OK;
	}
	sp_cli_errorf("%s", d->pos_err);
	return SP_EXIT_USAGE;
}

int sp_cli_main(const sp_cmd *d, int argc, char **argv)
{
	sp_cli_ctx *x = NULL;
	void *args = NULL;
	int rc = SP_EXIT_INTERNAL;

	if (d->subs != NULL)
		return run_sub(d, argc, argv);
	x = calloc(1, sizeof(*x));
	args = calloc(1, d->args_size ? d->args_size : 1);
	if (x == NULL || args == NULL ||
	    (x->pos = calloc((size_t)argc + 1, sizeof(*x->pos))) == NULL)
		goto out;
	x->name = argv[0];
	x->variant = d->variant;
	if (d->init != NULL)
		d->init(args);
	if ((rc = prologue(d, argc, argv, args, x)) < 0)
		rc = d->run(x, args);
	if (d->fini != NULL)
		d->fini(args);
out:
	if (x != NULL) {
		free(x->pos);
		sp_tls_free(x->tls);
	}
	free(x);
	free(args);
	return rc;
}
