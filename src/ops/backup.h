/*
 * backup.h - an RDB snapshot of every primary, with a manifest, and its
 * verification.
 *
 * By default each primary's RDB is fetched over the network the way
 * `redis-cli --rdb` does it: REPLCONF rdb-only 1, then SYNC, then the
 * payload as a "$<len>" bulk or, with --diskless, the EOF-marker stream;
 * so it works for nodes on other machines. --on-nodes instead asks each
 * primary's replica (or the primary when it has none) to BGSAVE and waits
 * until that save has finished successfully. A manifest.json beside the
 * files records nodes, slot ranges, file names, sizes and CRC-64s.
 *
 * Files are written as NAME.part and renamed once checked; on failure
 * everything this run wrote is removed, so a failed backup leaves nothing
 * behind, and a directory that already holds a manifest is refused.
 */
#ifndef SP_BACKUP_H
#define SP_BACKUP_H

#include <signal.h>
#include <stdint.h>

#include "base/log.h"
#include "io/conn.h"
#include "ops/rdb.h"

#define SP_BACKUP_MANIFEST "manifest.json"

typedef struct sp_backup_opts {
	const char *dir;    /* where the files and the manifest go */
	int on_nodes;	    /* BGSAVE on the nodes instead of fetching */
	int diskless;	    /* ask for the EOF-marker stream (capa eof) */
	int parallel;	    /* primaries fetched at once (default 4) */
	int save_timeout_s; /* how long one node's save may take */
	const sp_conn_opts *conn;
	const sp_log *log;
	volatile sig_atomic_t *stop; /* set: no new node's save starts */
} sp_backup_opts;

/* Defaults: parallel 4, save timeout 3600 s, fetch over the network. */
sp_backup_opts sp_backup_defaults(void);

/* One backed-up primary. */
typedef struct sp_backup_file {
	char node_id[41];
	char addr[SP_ADDR_MAX];	  /* the primary */
	char source[SP_ADDR_MAX]; /* the node whose RDB this is */
	char *slots;		  /* owned: ranges "0-5460,..." */
	int nslots;
	char file[96];	     /* name in dir ("" for --on-nodes) */
	char node_path[512]; /* --on-nodes: dir/dbfilename on the node */
	int local;	     /* node_path is readable here */
	long long keys;	     /* DBSIZE just before */
	double seconds;
	sp_rdb_info rdb; /* valid when file[0] or local */
} sp_backup_file;

typedef struct sp_backup_result {
	sp_backup_file *files; /* owned */
	size_t n;
	double seconds;
	long long bytes;
	char method[16]; /* "sync", "sync-eof" or "bgsave" */
} sp_backup_result;

/*
 * Backs up every primary of the cluster reachable from host:port into
 * o->dir (created if missing) and writes the manifest last. Fills *out
 * (caller frees with sp_backup_result_free). Errors: SP_ERR_USAGE for a
 * directory that cannot be written or already holds a manifest (nothing
 * is written); SP_ERR_IO/TIMEOUT/NOAUTH for an unreachable entry or
 * primary (named); SP_ERR_SERVER/PROTOCOL when a node's sync or save
 * fails. On any error, what this run wrote is removed.
 */
sp_err sp_backup_run(const char *host, int port, const sp_backup_opts *o,
		     sp_backup_result *out, sp_error *err);

/* Releases what *r owns; accepts NULL. */
void sp_backup_result_free(sp_backup_result *r);

/* One file's verdict in sp_backup_verify. */
typedef struct sp_verify_item {
	char name[512]; /* file name, or node path for --on-nodes */
	char addr[SP_ADDR_MAX];
	int ok; /* 1 good, 0 bad, -1 skipped (not readable here) */
	char problem[SP_ERRMSG_MAX];
	sp_rdb_info rdb;
} sp_verify_item;

typedef struct sp_verify_result {
	sp_verify_item *items; /* owned */
	size_t n;
	size_t bad;
} sp_verify_result;

/*
 * Verifies the backup in dir against its manifest: every file exists,
 * its size and CRC-64 equal the manifest's, and it passes
 * sp_rdb_check_file. Problems are per item (out->bad counts them);
 * SP_ERR_USAGE when dir has no readable manifest. Caller frees *out with
 * sp_verify_result_free.
 */
sp_err sp_backup_verify(const char *dir, sp_verify_result *out, sp_error *err);

/* Releases what *r owns; accepts NULL. */
void sp_verify_result_free(sp_verify_result *r);

#endif
