/*
 * restore.h - putting back the keys a target's failover lost in a move.
 *
 * When a move gives up on a target before a replica of it confirmed the
 * keys it was given, the engine leaves their copies in the journal's keys
 * file (engine/keep.h). Once the slots are final again (resume ran), each
 * copy goes back to its slot's owner with RESTORE (no REPLACE) when the
 * owner lacks the key and could have lost it:
 *
 *  - the owner is the target itself (it came back without a failover):
 *    it has every key it was given, so a missing one was deleted by a
 *    client, and nothing is put back;
 *  - the owner is a replica promoted in its place: when its replication
 *    history of the target reaches past the copy (master_replid2 is the
 *    target's id and second_repl_offset is beyond the target's offset
 *    once it stored the key), it had the key, and nothing is put back;
 *  - otherwise the key is restored, with its expiry (ABSTTL), unless it
 *    has expired since; a key the owner holds (BUSYKEY) is left as it is.
 *
 * Copies of one key are tried newest first.
 */
#ifndef SP_RESTORE_H
#define SP_RESTORE_H

#include "io/conn.h"

typedef struct sp_restore_stats {
	long long copies;   /* records read */
	long long keys;	    /* distinct keys among them (one copy each
			     * is settled, the newest) */
	long long restored; /* put back */
	long long present;  /* the owner holds the key (BUSYKEY) */
	long long had;	    /* the owner had it (same node, or replicated) */
	long long expired;
	int torn; /* the file's last record was torn by a crash */
} sp_restore_stats;

/*
 * Restores from the keys file at path on the cluster reached at
 * host:port, as above, and removes the file once every copy is settled.
 * SP_ERR_NOTFOUND when there is no such file; SP_ERR_CLUSTER, naming the
 * slot, when a copy's slot has no single owner (the file is kept);
 * SP_ERR_PROTOCOL for a file that is not a keys file.
 */
sp_err sp_restore_kept(const char *path, const char *host, int port,
		       const sp_conn_opts *co, sp_restore_stats *st,
		       sp_error *err);

#endif
