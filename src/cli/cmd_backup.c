/*
 * cmd_backup.c - `slotpilot backup HOST:PORT --dir DIR` (an RDB of every
 * primary and a manifest) and `slotpilot backup verify DIR`.
 * Exit: 0 done / verified, 1 a node's save or a file's check failed,
 * 2 usage or a bad --dir (not writable, already a backup) or no manifest,
 * 3 a primary unreachable.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/backup.h"

static const sp_optdef opts[] = {
    SP_OPT_S("dir", sp_backup_opts, dir),
    SP_OPT_F("on-nodes", sp_backup_opts, on_nodes),
    SP_OPT_F("diskless", sp_backup_opts, diskless),
    SP_OPT_I("parallel", 1, 64, sp_backup_opts, parallel),
    SP_OPT_I("save-timeout", 1, 86400, sp_backup_opts, save_timeout_s),
    SP_OPT_END};

static const char help[] =
    "usage: slotpilot backup HOST:PORT --dir DIR [--on-nodes] [--diskless]\n"
    "                        [--parallel 4] [--save-timeout 3600] [--json]\n"
    "       slotpilot backup verify DIR [--json]\n"
    "Takes an RDB of every primary. By default each one is fetched over the\n"
    "network as a replica's full sync (as redis-cli --rdb does), into\n"
    "DIR/HOST-PORT-ID.rdb; --diskless asks the nodes to stream it without\n"
    "writing their dump file first. --on-nodes instead runs BGSAVE on each\n"
    "primary's replica (the primary when it has none) and waits until that\n"
    "save succeeded; the files stay on the nodes. DIR/manifest.json records\n"
    "nodes, slot ranges, files, sizes and CRC-64s. A DIR that is not\n"
    "writable or already holds a manifest is refused, and a failed backup\n"
    "removes what it wrote.\n"
    "verify checks each file against the manifest (size, CRC-64) and as an\n"
    "RDB (REDIS00xx header, EOF opcode, CRC-64 trailer).\n"
    "Exit: 0 ok, 1 a save or a check failed, 2 usage / bad DIR / no "
    "manifest,\n3 a primary unreachable.\n";

static void print_result_json(const sp_backup_opts *o,
			      const sp_backup_result *r)
{
	json_t *files = json_array(), *out;
	size_t i;

	for (i = 0; i < r->n; i++) {
		const sp_backup_file *f = &r->files[i];
		json_array_append_new(
		    files,
		    json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:f}",
			      "node_id", f->node_id, "addr", f->addr, "source",
			      f->source, "file",
			      f->file[0] ? json_string(f->file) : json_null(),
			      "node_path",
			      f->node_path[0] ? json_string(f->node_path)
					      : json_null(),
			      "bytes", (json_int_t)f->rdb.bytes, "keys",
			      (json_int_t)f->keys, "seconds", f->seconds));
	}
	out = json_pack("{s:b, s:s, s:s, s:f, s:I, s:o}", "ok", 1, "dir",
			o->dir, "method", r->method, "seconds", r->seconds,
			"bytes", (json_int_t)r->bytes, "files", files);
	json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(out);
}

static void print_result(const sp_backup_opts *o, const sp_backup_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const sp_backup_file *f = &r->files[i];
		if (f->file[0])
			printf("  %-22s %6d slots %9lld keys %12lld bytes  "
			       "%s\n",
			       f->addr, f->nslots, f->keys, f->rdb.bytes,
			       f->file);
		else
			printf("  %-22s %6d slots %9lld keys  saved on %s as "
			       "%s\n",
			       f->addr, f->nslots, f->keys, f->source,
			       f->node_path[0] ? f->node_path
					       : "(dir unreadable)");
	}
	printf("Backup of %zu primaries in %s (%s): %.1f MB in %.2f s, "
	       "manifest %s/%s\n",
	       r->n, o->dir, r->method, (double)r->bytes / 1e6, r->seconds,
	       o->dir, SP_BACKUP_MANIFEST);
}

static void print_verify(const sp_cli *cli, const char *dir,
			 const sp_verify_result *v)
{
	json_t *items, *out;
	size_t i;

	if (!cli->json) {
		for (i = 0; i < v->n; i++)
			printf("[%s] %s %s%s%s\n",
			       v->items[i].ok > 0    ? "OK"
			       : v->items[i].ok == 0 ? "ERR"
						     : "SKIP",
			       v->items[i].addr, v->items[i].name,
			       v->items[i].problem[0] ? ": " : "",
			       v->items[i].problem);
		printf("%s: %zu files, %zu bad\n", dir, v->n, v->bad);
		return;
	}
	items = json_array();
	for (i = 0; i < v->n; i++)
		json_array_append_new(
		    items,
		    json_pack("{s:s, s:s, s:s, s:s}", "file", v->items[i].name,
			      "addr", v->items[i].addr, "status",
			      v->items[i].ok > 0    ? "ok"
			      : v->items[i].ok == 0 ? "bad"
						    : "skipped",
			      "problem", v->items[i].problem));
	out = json_pack("{s:b, s:s, s:i, s:o}", "ok", v->bad == 0, "dir", dir,
			"bad", (int)v->bad, "files", items);
	json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(out);
}

static int verify(const sp_cli *cli, const char *dir)
{
	sp_verify_result v = {0};
	sp_error err = {0};
	int rc;

	if (sp_backup_verify(dir, &v, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	print_verify(cli, dir, &v);
	rc = v.bad == 0 ? SP_EXIT_OK : SP_EXIT_FAILED;
	if (v.bad)
		sp_cli_errorf("backup verify: %zu of %zu files failed (see "
			      "above)",
			      v.bad, v.n);
	sp_verify_result_free(&v);
	return rc;
}

static int backup(const sp_cli *cli, sp_backup_opts *o, const char *entry)
{
	char host[SP_HOST_MAX];
	sp_backup_result r = {0};
	sp_log log = sp_cli_log(cli);
	sp_error err = {0};
	int port;

	if (o->dir == NULL) {
		sp_cli_errorf("backup: give --dir DIR\n%s", help);
		return SP_EXIT_USAGE;
	}
	if (sp_parse_hostport(entry, host, &port, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	o->conn = &cli->conn;
	o->stop = sp_cli_stop_flag();
	o->log = &log;
	if (sp_backup_run(host, port, o, &r, &err) != SP_OK)
		return sp_cli_fail(cli, &err);
	if (cli->json)
		print_result_json(o, &r);
	else
		print_result(o, &r);
	sp_backup_result_free(&r);
	return SP_EXIT_OK;
}

static void init(void *args)
{
	*(sp_backup_opts *)args = sp_backup_defaults();
}

/* `backup HOST:PORT --dir DIR` or `backup verify DIR`. */
static int run(sp_cli_ctx *x, void *args)
{
	if (x->npos == 2 && strcmp(x->pos[0], "verify") == 0)
		return verify(&x->cli, x->pos[1]);
	if (x->npos == 1 && strcmp(x->pos[0], "verify") != 0)
		return backup(&x->cli, args, x->pos[0]);
	sp_cli_errorf("backup: give HOST:PORT --dir DIR, or verify DIR\n%s",
		      help);
	return SP_EXIT_USAGE;
}

const sp_cmd sp_def_backup = SP_CMD(
    "backup", "backup HOST:PORT --dir DIR  ",
    "RDB of every primary; backup verify DIR", .help = help, .opts = opts,
    .args_size = sizeof(sp_backup_opts), .init = init, .run = run);
