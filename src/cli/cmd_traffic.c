/*
 * cmd_traffic.c - `slotpilot traffic HOST:PORT`: drive a bounded load
 * through the built-in cluster client and report what clients see.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/traffic_run.h"

enum {
	O_CONNS = 1,
	O_RATIO,
	O_KEYS,
	O_VSIZE,
	O_RATE,
	O_SECS,
	O_VERIFY,
	O_PREFIX,
	O_SERIES
};

static const sp_optdef opts[] = {
    {.name = "connections", .shortname = 'c', .has_arg = 1, .id = O_CONNS},
    {.name = "read-ratio", .shortname = 0, .has_arg = 1, .id = O_RATIO},
    {.name = "keys", .shortname = 0, .has_arg = 1, .id = O_KEYS},
    {.name = "value-size", .shortname = 0, .has_arg = 1, .id = O_VSIZE},
    {.name = "rate", .shortname = 0, .has_arg = 1, .id = O_RATE},
    {.name = "seconds", .shortname = 0, .has_arg = 1, .id = O_SECS},
    {.name = "verify", .shortname = 0, .has_arg = 0, .id = O_VERIFY},
    {.name = "prefix", .shortname = 0, .has_arg = 1, .id = O_PREFIX},
    {.name = "series", .shortname = 0, .has_arg = 1, .id = O_SERIES},
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

typedef struct tr_args {
	sp_traffic_opts to;
	double seconds;
	int verify;
	const char *series;
} tr_args;

static int on_opt(void *ud, int id, const char *val)
{
	tr_args *a = ud;
	double d;
	int n;

	switch (id) {
	case O_CONNS:
		return sp_cli_int("--connections", val, 1, 256,
				  &a->to.connections);
	case O_RATIO:
		return sp_cli_num("--read-ratio", val, 0, 1, &a->to.read_ratio);
	case O_KEYS:
		if (sp_cli_int("--keys", val, 1, 100000000, &n) != 0)
			return -1;
		a->to.keys = n;
		return 0;
	case O_VSIZE:
		return sp_cli_int("--value-size", val, 16, 1 << 20,
				  &a->to.value_size);
	case O_RATE:
		return sp_cli_num("--rate", val, 0, 1e7, &a->to.rate);
	case O_SECS:
		if (sp_cli_positive("--seconds", val, 86400, &d) != 0)
			return -1;
		a->seconds = d;
		return 0;
	case O_VERIFY:
		a->verify = 1;
		return 0;
	case O_PREFIX:
		if (strlen(val) == 0 || strlen(val) >= sizeof(a->to.prefix)) {
			sp_cli_errorf("--prefix: must be 1..%zu bytes",
				      sizeof(a->to.prefix) - 1);
			return -1;
		}
		snprintf(a->to.prefix, sizeof(a->to.prefix), "%s", val);
		return 0;
	case O_SERIES:
		a->series = val;
		return 0;
	}
	return -1;
}

static int traffic_main(int argc, char **argv)
{
	sp_cli cli;
	tr_args a = {.to = sp_traffic_defaults(), .seconds = 10};
	sp_trun_opts ro = {0};
	sp_traffic_verify v;
	sp_error err = {0};
	sp_trun run;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	long long end;
	int npos = 0, rc;

	if (pos == NULL)
		return SP_EXIT_INTERNAL;
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(help, stdout);
		free(pos);
		return SP_EXIT_OK;
	}
	if (sp_cli_parse(&cli, argc, argv, opts, on_opt, &a, pos, &npos) != 0 ||
	    npos != 1) {
		if (npos != 1)
			sp_cli_errorf("traffic needs one HOST:PORT");
		fputs(help, stderr);
		free(pos);
		return SP_EXIT_USAGE;
	}
	if (sp_parse_hostport(pos[0], a.to.host, &a.to.port, &err) != SP_OK ||
	    sp_traffic_validate(&a.to, &err) != SP_OK) {
		sp_cli_errorf("%s", err.msg);
		free(pos);
		return SP_EXIT_USAGE;
	}
	free(pos);
	a.to.conn = &cli.conn;
	ro.series = a.series;
	ro.live = 1;
	if ((rc = sp_trun_start(&run, &cli, &a.to, &ro, "run")) != SP_EXIT_OK)
		return rc;
	sp_cli_trap_signals();
	end = sp_now_ms() + (long long)(a.seconds * 1000.0);
	while (sp_now_ms() < end && !*sp_cli_stop_flag())
		sp_sleep_ms(end - sp_now_ms() < 50 ? end - sp_now_ms() : 50);
	rc = sp_trun_finish(&run, a.verify, &v) ? SP_EXIT_FAILED : SP_EXIT_OK;
	return *sp_cli_stop_flag() && rc == SP_EXIT_OK ? SP_EXIT_INTERRUPTED
						       : rc;
}

const sp_cmd sp_def_traffic = {
    .name = "traffic",
    .synopsis = "traffic HOST:PORT",
    .summary = "cluster load generator: latency, errors, lost writes",
    .raw = traffic_main,
};
