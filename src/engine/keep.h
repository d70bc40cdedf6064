/*
 * keep.h - copies of moved keys until the target's replicas have them.
 *
 * MIGRATE deletes a key on its source as soon as the target has stored
 * it, before the target has passed it to its replicas. A target that dies
 * or stalls past its node timeout in that gap is replaced by a replica
 * that never saw the key, and the key is gone from the cluster. So when
 * the target has replicas, the mover wraps each MIGRATE in MULTI with a
 * DUMP and a PTTL of every key it carries (drain.c): the EXEC returns the
 * exact payloads moved. The copies are dropped once WAIT on the target
 * says a replica holds everything up to them; when the move gives up on
 * the target first, they are appended to a file beside the journal
 * (`<journal>.keys`), and resume puts back the keys the slot's new owner
 * lacks (ops/restore.c).
 *
 * The file: a line "slotpilot-keys 1", then one record per key:
 *   "k DST REPLID OFFSET SLOT EXPIRE KLEN PLEN\n" KEY PAYLOAD "\n"
 * DST is the target's node id; REPLID and OFFSET the target's replication
 * id and offset once the key was stored ("-" and -1 when the target never
 * answered after it); EXPIRE the key's expiry in Unix ms, -1 for none.
 */
#ifndef SP_KEEP_H
#define SP_KEEP_H

#include <stddef.h>

#include "base/error.h"
#include "model/topology.h"

#define SP_KEEP_MAGIC "slotpilot-keys 1\n"
#define SP_REPLID_LEN 40

typedef struct sp_kept_key {
	char *key; /* key and payload share one allocation */
	size_t klen;
	char *payload;
	size_t plen;
	long long expire_ms; /* Unix time in ms; -1: no expiry */
	int slot;
	/* the target's replication position once the key was on it */
	char replid[SP_REPLID_LEN + 1]; /* "" until known */
	long long offset;		/* -1 until known */
	char dst[SP_ID_LEN + 1];	/* the target's node id */
} sp_kept_key;

typedef struct sp_keep {
	sp_kept_key *v;
	size_t n, cap;
	long long bytes; /* keys and payloads held */
} sp_keep;

/* Adds a copy (the strings are copied). SP_ERR_OOM on failure. */
sp_err sp_keep_add(sp_keep *k, const char *dst, int slot, const char *key,
		   size_t klen, const char *payload, size_t plen,
		   long long expire_ms);

/* Gives every copy without a position this one (the target's after a
 * fence whose WAIT no replica answered in time). */
void sp_keep_mark(sp_keep *k, const char *replid, long long offset);

/* Drops every copy (a replica has them all); keeps the storage. */
void sp_keep_clear(sp_keep *k);

/* Releases everything; accepts an empty keep. */
void sp_keep_free(sp_keep *k);

/* Appends every copy to path (created 0600 with the header when it does
 * not exist), then fsyncs the file and its directory. */
sp_err sp_keep_append_file(const sp_keep *k, const char *path, sp_error *err);

/* Called per record by sp_keep_parse; a non-OK return stops the parse. */
typedef sp_err (*sp_keep_fn)(void *ud, const sp_kept_key *kk);

/*
 * Parses a keys file held in buf[0..len-1]. Pure: a record that is torn
 * (a crash while it was appended) ends the parse with SP_OK and *torn set;
 * anything else malformed is SP_ERR_PROTOCOL naming the record.
 */
sp_err sp_keep_parse(const char *buf, size_t len, sp_keep_fn fn, void *ud,
		     int *torn, sp_error *err);

#endif
