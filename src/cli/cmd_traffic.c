/*
 * cmd_traffic.c - `slotpilot traffic HOST:PORT`: drive a bounded load
 * through the built-in cluster client and report what clients see.
 */
#include <string.h>

#include "base/clock.h"
#include "cli/traffic_run.h"

enum { O_PREFIX = 1 };

typedef struct tr_args {
	sp_traffic_opts to;
	double seconds;
	int verify;
	const char *series;
} tr_args;

static const sp_optdef opts[] = {
    {.name = "connections",
     .shortname = 'c',
     .has_arg = 1,
     .kind = SP_OPT_INT,
     .lo = 1,
     .hi = 256,
     .off = offsetof(tr_args, to.connections)},
    SP_OPT_TYPED("read-ratio", SP_OPT_NUM, 1, 0, 1, tr_args, to.read_ratio),
    SP_OPT_TYPED("keys", SP_OPT_LONG, 1, 1, 100000000, tr_args, to.keys),
    SP_OPT_I("value-size", 16, 1 << 20, tr_args, to.value_size),
    SP_OPT_TYPED("rate", SP_OPT_NUM, 1, 0, 1e7, tr_args, to.rate),
    SP_OPT_TYPED("seconds", SP_OPT_POSITIVE, 1, 0, 86400, tr_args, seconds),
    SP_OPT_F("verify", tr_args, verify),
    {.name = "prefix", .has_arg = 1, .id = O_PREFIX},
    SP_OPT_S("series", tr_args, series),
    SP_OPT_END};

static const char help[] =
    "usage: slotpilot traffic HOST:PORT [--seconds S] [--rate OPS]\n"
    "         [--connections N] [--read-ratio R] [--keys N] "
    "[--value-size B]\n"
    "         [--verify] [--prefix P] [--series FILE.csv] [--json]\n"
    "Drives GET/SET load through a cluster client that follows MOVED and "
    "ASK\nand retries TRYAGAIN, CLUSTERDOWN and LOADING, and reports "
    "latency\n(p50/p99/p99.9/max) and errors per second and for the run. "
    "Values carry\nper-key sequence numbers: a read older than the last "
    "acknowledged write\nis stale. --verify reads every written key back at "
    "the end.\n"
    "Defaults: 10 s, 2000 ops/s (0 = unthrottled), 4 connections, read "
    "ratio\n0.5, 10000 keys of 100 bytes named sp:traffic:N.\n"
    "Exit: 0 no error seen, 1 errors or lost/stale data, 2 usage, 3 "
    "unreachable,\n5 interrupted.\n";

static int on_opt(void *ud, int id, const char *val)
{
	tr_args *a = ud;

	switch (id) {
	case O_PREFIX:
		if (strlen(val) == 0 || strlen(val) >= sizeof(a->to.prefix)) {
			sp_cli_errorf("--prefix: must be 1..%zu bytes",
				      sizeof(a->to.prefix) - 1);
			return -1;
		}
		snprintf(a->to.prefix, sizeof(a->to.prefix), "%s", val);
		return 0;
	}
	return -1;
}

static void init_args(void *args)
{
	tr_args *a = args;

	a->to = sp_traffic_defaults();
	a->seconds = 10;
}

static int run(sp_cli_ctx *x, void *args)
{
	tr_args *a = args;
	sp_trun_opts ro = {.series = a->series, .live = 1};
	sp_traffic_verify v;
	sp_error err = {0};
	sp_trun r;
	long long end;
	int rc;

	snprintf(a->to.host, sizeof(a->to.host), "%s", x->host);
	a->to.port = x->port;
	if (sp_traffic_validate(&a->to, &err) != SP_OK) {
		sp_cli_errorf("%s", err.msg);
		return SP_EXIT_USAGE;
	}
	a->to.conn = &x->cli.conn;
	if ((rc = sp_trun_start(&r, &x->cli, &a->to, &ro, "run")) != SP_EXIT_OK)
		return rc;
	sp_cli_trap_signals();
	end = sp_now_ms() + (long long)(a->seconds * 1000.0);
	while (sp_now_ms() < end && !*sp_cli_stop_flag())
		sp_sleep_ms(end - sp_now_ms() < 50 ? end - sp_now_ms() : 50);
	rc = sp_trun_finish(&r, a->verify, &v) ? SP_EXIT_FAILED : SP_EXIT_OK;
	return *sp_cli_stop_flag() && rc == SP_EXIT_OK ? SP_EXIT_INTERRUPTED
						       : rc;
}

const sp_cmd sp_def_traffic = SP_CMD(
    "traffic", "traffic HOST:PORT",
    "cluster load generator: latency, errors, lost writes", .help = help,
    .opts = opts, .hook = on_opt,
    SP_POS(1, 1, "traffic needs one HOST:PORT", 0), .entry = 1, .usage_help = 1,
    .args_size = sizeof(tr_args), .init = init_args, .run = run);
