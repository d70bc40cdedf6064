/*
 * main.c - the slotpilot command: the command table, the usage text made
 * from it, and dispatch to one command.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

/* The usage text around the command table. */
static const char head[] = "usage: slotpilot COMMAND [ARGS] [OPTIONS]\n"
			   "\n"
			   "Commands:\n";
static const char tail[] =
    "\n"
    "Global options:\n"
    "  --json                   machine-readable output\n"
    "  -y, --yes                do not ask before changing the cluster\n"
    "  -a, --pass PASSWORD      password (or REDISCLI_AUTH in the "
    "environment)\n"
    "  --user USER              ACL user\n"
    "  --timeout MS             connect and reply timeout (default 2000/5000)\n"
    "  --tls                    connect to the nodes over TLS\n"
    "  --cacert FILE            CA certificate(s) to verify the nodes with\n"
    "  --cacertdir DIR          directory of CA certificates (c_rehash "
    "form)\n"
    "  --cert FILE              client certificate for nodes that ask for "
    "one\n"
    "  --key FILE               the client certificate's private key\n"
    "  --sni NAME               server name to send and to verify\n"
    "  --insecure               do not verify node certificates (warns)\n"
    "\n"
    "Exit codes: 0 ok, 1 findings or failed, 2 usage, 3 unreachable,\n"
    "4 refused by the cluster's state, 5 interrupted, 10 internal error.\n"
    "Run 'slotpilot COMMAND --help' for a command's options.\n";

/* In the order of the usage text. */
const sp_cmd *const sp_cmds[] = {&sp_def_local,
				 &sp_def_create,
				 &sp_def_status,
				 &sp_def_check,
				 &sp_def_reshard,
				 &sp_def_resume,
				 &sp_def_fix,
				 &sp_def_rebalance,
				 &sp_def_plan,
				 &sp_def_apply,
				 &sp_def_add_node,
				 &sp_def_remove_node,
				 &sp_def_failover,
				 &sp_def_expand,
				 &sp_def_shrink,
				 &sp_def_rollback,
				 &sp_def_traffic,
				 &sp_def_preflight,
				 &sp_def_backup,
				 &sp_def_autoscale,
				 &sp_def_keyslot,
				 &sp_def_conf,
				 NULL};

static void usage(FILE *f)
{
	size_t i;

	fputs(head, f);
	for (i = 0; sp_cmds[i] != NULL; i++)
		fprintf(f, "  %-24s %s\n", sp_cmds[i]->synopsis,
			sp_cmds[i]->summary);
	fputs(tail, f);
}

int main(int argc, char **argv)
{
	size_t i;

	sp_cli_mark_start();
	/* Backups, journals and configs may hold the dataset or passwords:
	 * nothing slotpilot creates is readable by other users. */
	umask(077);
	if (argc < 2) {
		usage(stderr);
		return SP_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return SP_EXIT_OK;
	}
	/* A node that resets a connection must not kill a move mid-window:
	 * writes to it fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	sp_cli_trap_for(argv[1]);
	for (i = 0; sp_cmds[i] != NULL; i++)
		if (strcmp(argv[1], sp_cmds[i]->name) == 0)
			return sp_cli_main(sp_cmds[i], argc - 1, argv + 1);
	sp_cli_errorf("unknown command \"%s\"", argv[1]);
	usage(stderr);
	return SP_EXIT_USAGE;
}
