/*
 * main.c - the slotpilot command: dispatch to one command group.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: slotpilot COMMAND [ARGS] [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  local up|down|status     a cluster of redis-server processes on this "
    "machine\n"
    "  create NODE...           bootstrap a cluster from empty nodes\n"
    "  status HOST:PORT         primaries, replicas, keys, memory, slot map\n"
    "  check HOST:PORT          validate the cluster (exit 0 healthy, 1 "
    "findings)\n"
    "  reshard HOST:PORT ...    move slots between primaries (journaled)\n"
    "  resume HOST:PORT         finish an interrupted operation\n"
    "  fix HOST:PORT            close open slots, cover uncovered slots\n"
    "  rebalance HOST:PORT      balance by slots, keys or memory\n"
    "  plan rebalance HOST:PORT --out FILE   the same, as a reviewable plan\n"
    "  apply FILE               apply a plan (refuses a stale one)\n"
    "  add-node HOST:PORT NEW   join a node (primary or --replica)\n"
    "  remove-node HOST:PORT NODE  drain, re-home replicas, forget, reset\n"
    "  failover HOST:PORT NODE  manual failover through a replica\n"
    "  expand HOST:PORT --primaries N   provision, join, rebalance, validate\n"
    "  shrink HOST:PORT --primaries N   remove primaries, deprovision\n"
    "  rollback HOST:PORT       undo the last operation (slots, added nodes)\n"
    "  traffic HOST:PORT        cluster load generator: latency, errors, "
    "lost writes\n"
    "  preflight HOST:PORT      readiness report before scaling (exit 0 "
    "ready)\n"
    "  backup HOST:PORT --dir DIR   RDB of every primary; backup verify DIR\n"
    "  autoscale HOST:PORT --config FILE   daemon: rules, metrics, status "
    "page\n"
    "  keyslot KEY...           hash slot of each key\n"
    "  conf                     print a node configuration template\n"
    "\n"
    "Global options:\n"
    "  --json                   machine-readable output\n"
    "  -y, --yes                do not ask before changing the cluster\n"
    "  -a, --pass PASSWORD      password (or REDISCLI_AUTH in the "
    "environment)\n"
    "  --user USER              ACL user\n"
    "  --timeout MS             connect and reply timeout (default 2000/5000)\n"
    "\n"
    "Exit codes: 0 ok, 1 findings or failed, 2 usage, 3 unreachable,\n"
    "4 refused by the cluster's state, 5 interrupted, 10 internal error.\n"
    "Run 'slotpilot COMMAND --help' for a command's options.\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"keyslot", sp_cmd_keyslot},
	    {"check", sp_cmd_check},
	    {"status", sp_cmd_status},
	    {"create", sp_cmd_create},
	    {"local", sp_cmd_local},
	    {"conf", sp_cmd_conf},
	    {"reshard", sp_cmd_reshard},
	    {"resume", sp_cmd_resume},
	    {"fix", sp_cmd_fix},
	    {"rebalance", sp_cmd_rebalance},
	    {"plan", sp_cmd_plan},
	    {"apply", sp_cmd_apply},
	    {"add-node", sp_cmd_add_node},
	    {"remove-node", sp_cmd_remove_node},
	    {"failover", sp_cmd_failover},
	    {"expand", sp_cmd_expand},
	    {"shrink", sp_cmd_shrink},
	    {"rollback", sp_cmd_rollback},
	    {"preflight", sp_cmd_preflight},
	    {"backup", sp_cmd_backup},
	    {"traffic", sp_cmd_traffic},
	    {"autoscale", sp_cmd_autoscale},
	};
	size_t i;

	if (argc < 2) {
		fputs(usage, stderr);
		return SP_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return SP_EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	sp_cli_errorf("unknown command \"%s\"", argv[1]);
	fputs(usage, stderr);
	return SP_EXIT_USAGE;
}
