/*
 * cmd_autoscale.c - `slotpilot autoscale`: the autoscaler as a
 * foreground daemon (systemd Type=simple). Decisions, alerts and actions
 * go to stdout as JSON lines; the workflows' progress to stderr.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"
#include "cli/cli.h"

typedef struct as_args {
	const char *config, *listen, *journal_dir;
	int dry_run;
} as_args;

static const sp_optdef opts[] = {{.name = "config",
				  .shortname = 'c',
				  .has_arg = 1,
				  .kind = SP_OPT_STRING,
				  .off = offsetof(as_args, config)},
				 SP_OPT_S("listen", as_args, listen),
				 SP_OPT_F("dry-run", as_args, dry_run),
				 SP_OPT_S("journal-dir", as_args, journal_dir),
				 SP_OPT_END};

static const char help[] =
    "usage: slotpilot autoscale HOST:PORT [--config FILE] [--listen "
    "ADDR:PORT]\n"
    "                 [--dry-run] [--journal-dir DIR]\n"
    "Watches the cluster every interval, decides by the rules of FILE (see\n"
    "examples/autoscale.ini and docs/autoscale.md) and acts through expand,\n"
    "shrink and add-node, one operation at a time. Each decision, alert and\n"
    "action is a JSON line on stdout. --listen serves /metrics\n"
    "(Prometheus), /status (JSON), /healthz and / (HTML), behind a bearer\n"
    "token when http_token (or SLOTPILOT_HTTP_TOKEN) is set. --dry-run only\n"
    "logs the decisions. TLS to the nodes: --tls and its files, or the\n"
    "[cluster] section's tls keys (the command line's --tls wins).\n"
    "SIGTERM or SIGINT stops it at a safe point; an\n"
    "operation it interrupts is resumed by the next run.\n"
    "Exit: 0 stopped, 2 bad configuration (the message names the line),\n"
    "4 another autoscaler holds the journal directory, 5 stopped during an\n"
    "operation, 1 cannot listen.\n";

/* The command line's options over the file's. */
static int load_config(const as_args *a, sp_as_config *c)
{
	sp_error err = {0};
	char host[SP_HOST_MAX];
	int port;

	sp_as_config_defaults(c);
	if (a->config != NULL && sp_as_config_load(a->config, c, &err)) {
		sp_cli_errorf("%s", err.msg);
		return -1;
	}
	if (a->listen != NULL) {
		if (sp_parse_hostport(a->listen, host, &port, &err) != SP_OK ||
		    strlen(a->listen) >= sizeof(c->listen)) {
			sp_cli_errorf("--listen: \"%s\" is not ADDR:PORT",
				      a->listen);
			return -1;
		}
		snprintf(c->listen, sizeof(c->listen), "%s", a->listen);
	}
	if (a->journal_dir != NULL)
		snprintf(c->journal_dir, sizeof(c->journal_dir), "%s",
			 a->journal_dir);
	c->dry_run |= a->dry_run;
	return 0;
}

/* s, or NULL when it is empty (an INI key left unset). */
static const char *or_null(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

/* The file's [cluster] TLS when the command line built no context (its
 * --tls wins over the whole section): into *tls and x->cli.conn.tls.
 * SP_EXIT_OK, or the exit code after printing why. */
static int file_tls(sp_cli_ctx *x, const as_args *a, const sp_as_config *c,
		    sp_tls **tls)
{
	sp_tls_opts o = {.enabled = 1,
			 .cacert = or_null(c->tls_cacert),
			 .cacertdir = or_null(c->tls_cacertdir),
			 .cert = or_null(c->tls_cert),
			 .key = or_null(c->tls_key),
			 .sni = or_null(c->tls_sni),
			 .insecure = c->tls_insecure};

	*tls = NULL;
	if (!c->tls || x->cli.conn.tls != NULL)
		return SP_EXIT_OK;
	if (o.insecure)
		sp_cli_errorf("warning: tls_insecure: node certificates are "
			      "not verified; anyone on the path can read and "
			      "change the traffic");
	if (sp_tls_new(&o, tls, &x->err) != SP_OK) {
		sp_error_prefix(&x->err, "%s [cluster] (tls_* keys)",
				a->config);
		return sp_cli_fail(&x->cli, &x->err);
	}
	x->cli.conn.tls = *tls;
	return SP_EXIT_OK;
}

static int run(sp_cli_ctx *x, void *args)
{
	sp_as_config *cfg = malloc(sizeof(*cfg));
	sp_log log = {stderr, 0};
	sp_as_run run = {0};
	sp_tls *tls = NULL;
	int rc = SP_EXIT_USAGE;

	if (cfg == NULL)
		return SP_EXIT_INTERNAL;
	if (load_config(args, cfg) != 0 ||
	    (rc = file_tls(x, args, cfg, &tls)) != SP_EXIT_OK)
		goto done;
	log.json = x->cli.json;
	run = (sp_as_run){.host = x->host,
			  .port = x->port,
			  .conn = &x->cli.conn,
			  .cfg = cfg,
			  .stop = sp_cli_stop_flag(),
			  .events = stdout,
			  .log = &log};
	sp_cli_trap_signals();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = sp_autoscale(&run, &x->err) == SP_OK
		 ? SP_EXIT_OK
		 : sp_cli_fail(&x->cli, &x->err);
	curl_global_cleanup();
done:
	if (tls != NULL)
		x->cli.conn.tls = NULL;
	sp_tls_free(tls);
	free(cfg);
	return rc;
}

const sp_cmd sp_def_autoscale =
    SP_CMD("autoscale", "autoscale HOST:PORT --config FILE  ",
	   "daemon: rules, metrics, status page", .help = help, .opts = opts,
	   SP_POS(1, 1, "autoscale: give the entry node HOST:PORT", 0),
	   .entry = 1, .args_size = sizeof(as_args), .run = run);
