/*
 * journal.h - the record of one operation, for resume and rollback.
 *
 * An append-only file of JSON lines in the journal directory:
 *   {"type":"begin", "op", "id", "entry", "nodes":[{id,addr}],
 *    "owners":[[first,last,node],...], "moves":[[slot,src,dst],...]}
 *   {"type":"done", "slots":[...]}      after each window, then fsync
 *   {"type":"end", "status":"complete"|"interrupted"|"failed"}
 * "owners" is the slot map before the operation (the snapshot rollback
 * returns to). The live cluster stays the truth: resume reconciles these
 * records with what every node reports, so a record lost in a crash only
 * costs a re-check, never a wrong move. A torn last line is ignored.
 */
#ifndef SP_JOURNAL_H
#define SP_JOURNAL_H

#include <jansson.h>
#include <stdio.h>

#include "engine/migrate.h"

typedef struct sp_journal {
	FILE *f;
	char path[1024];
} sp_journal;

/*
 * Creates DIR/<id>.journal (DIR is created if missing) and writes the
 * begin record. The id is "<ms>-<pid>-<seq>-<op>": seq is one more than
 * any journal's in DIR, taken under a lock on DIR/journal.lock, so two
 * journals never share an id or a seq, even from two processes. owners[s] is an
 * index into nodes or -1. On success *out is owned by the caller
 * (sp_journal_close).
 */
sp_err sp_journal_begin(const char *dir, const char *op, const char *entry,
			const sp_endpoint *nodes, size_t nnodes,
			const int *owners, const sp_move *moves, size_t nmoves,
			sp_journal **out, sp_error *err);

/* Opens an existing journal for appending (resume). */
sp_err sp_journal_reopen(const char *path, sp_journal **out, sp_error *err);

/* Appends a done record for these moves and fsyncs. */
sp_err sp_journal_done(sp_journal *j, const sp_move *moves, size_t n,
		       sp_error *err);

/* Appends the end record and fsyncs. */
sp_err sp_journal_end(sp_journal *j, const char *status, sp_error *err);

/* Closes j; accepts NULL. */
void sp_journal_close(sp_journal *j);

/* A journal read back. */
typedef struct sp_journal_rec {
	char path[1024];
	char op[32];
	char id[64];
	char entry[SP_ADDR_MAX];
	char status[16];      /* "" while the operation never ended */
	long long seq;	      /* order of creation in its directory; 0: old */
	long long created_ms; /* creation time (ms since the epoch) */
	sp_endpoint *nodes;
	size_t nnodes;
	sp_move *moves;
	size_t nmoves;
	unsigned char done[SP_SLOTS]; /* 1: the slot's move was recorded done */
	int owners[SP_SLOTS];	      /* before the operation; -1 none */
} sp_journal_rec;

/* Reads path into *rec (free with sp_journal_rec_free). Errors:
 * SP_ERR_PROTOCOL for a file that is not a slotpilot journal. */
sp_err sp_journal_load(const char *path, sp_journal_rec *rec, sp_error *err);

void sp_journal_rec_free(sp_journal_rec *rec);

/*
 * "Newest" is the highest recorded seq, then the latest recorded creation
 * time (journals from before seq), never the file name's order.
 * Finds the newest journal in dir and, if its status is not "complete",
 * writes its path. Returns SP_ERR_NOTFOUND otherwise: an older
 * unfinished operation was superseded by the ones after it.
 */
sp_err sp_journal_find_open(const char *dir, char *path, size_t len,
			    sp_error *err);

/* The newest journal in dir, finished or not (for rollback). */
sp_err sp_journal_find_last(const char *dir, char *path, size_t len,
			    sp_error *err);

/* JSON shared by journals and plan files: the node list [{id, addr}] and
 * the slot map as [[first, last, node], ...] ranges. */
json_t *sp_json_nodes(const sp_endpoint *nodes, size_t n);
json_t *sp_json_owners(const int *owners);

/* Reads them back, validated; errors (SP_ERR_PROTOCOL) name path. The
 * caller frees *out. */
sp_err sp_json_read_nodes(json_t *jn, const char *path, sp_endpoint **out,
			  size_t *n, sp_error *err);
sp_err sp_json_read_owners(json_t *jo, const char *path, size_t nnodes,
			   int *owners, sp_error *err);

#endif
