/*
 * journal.h - the record of one operation, for resume and rollback.
 *
 * An append-only file of JSON lines in the journal directory:
 *   {"type":"begin", "op", "id", "entry", "nodes":[{id,addr}],
 *    "owners":[[first,last,node],...], "moves":[[slot,src,dst],...]}
 *   {"type":"done", "slots":[...]}      after each window, then fsync
 *   {"type":"end", "status":"complete"|"interrupted"|"failed"|"refused"}
 *   (refused: the engine refused its options before any slot opened;
 *   like complete, nothing is left to resume)
 * "owners" is the slot map before the operation (the snapshot rollback
 * returns to). The live cluster stays the truth: resume reconciles these
 * records with what every node reports, so a record lost in a crash only
 * costs a re-check, never a wrong move. A torn later line is ignored; a
 * torn first line (the begin record) is an error naming the file.
 */
#ifndef SP_JOURNAL_H
#define SP_JOURNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "engine/migrate.h"

/*
 * Done records are written by a writer thread of the journal's own: the
 * engine calls back with its lock held, and an fsync there would stall
 * every worker once per window. sp_journal_done only queues; the writer
 * writes and fsyncs everything queued at once; sp_journal_sync waits for
 * it, and sp_journal_end syncs before the end record (protocol rule 5:
 * every slot's record is on disk before the operation reports done).
 */
typedef struct sp_journal {
	FILE *f;
	char path[1024];
	pthread_mutex_t mu; /* guards the fields below */
	pthread_cond_t cv;
	pthread_t writer;
	int started, stop;
	char *queue; /* JSON lines not yet written */
	size_t qlen, qcap;
	long long queued, synced; /* lines queued / written and fsynced */
	sp_error werr;		  /* the writer's first error */
	int wfailed;
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

/* Opens an existing journal for appending (resume). On success *out is
 * owned by the caller (sp_journal_close). */
sp_err sp_journal_reopen(const char *path, sp_journal **out, sp_error *err);

/*
 * Queues a done record for these moves; the writer thread writes and
 * fsyncs it soon after, without the caller's locks. Cheap: no I/O here.
 * Returns the writer's first error, if it had one, or SP_OK.
 */
sp_err sp_journal_done(sp_journal *j, const sp_move *moves, size_t n,
		       sp_error *err);

/* Waits until every queued record is written and fsynced; returns the
 * writer's first error or SP_OK. */
sp_err sp_journal_sync(sp_journal *j, sp_error *err);

/* Syncs the queued records, then appends the end record and fsyncs. */
sp_err sp_journal_end(sp_journal *j, const char *status, sp_error *err);

/* Syncs, stops the writer and closes j; accepts NULL. */
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
	sp_opplan plan;	      /* nodes, moves and owners before it; owned */
	unsigned char done[SP_SLOTS]; /* 1: the slot's move was recorded done */
} sp_journal_rec;

/* Reads path into *rec (free with sp_journal_rec_free). Errors:
 * SP_ERR_PROTOCOL for a file that is not a slotpilot journal;
 * SP_ERR_USAGE, naming the file, for one whose first record (the plan)
 * is torn or missing: a crash while it was created, before any slot
 * moved. It is reported, never skipped: the operator removes it. */
sp_err sp_journal_load(const char *path, sp_journal_rec *rec, sp_error *err);

/* Refuses (SP_ERR_USAGE, naming the file and the slot) a record whose
 * moves could split a slot: a slot listed twice, a node index out of
 * range, a source that did not own the slot in the recorded snapshot
 * (sp_moves_validate). Resume and rollback call it before anything. */
sp_err sp_journal_check(const sp_journal_rec *rec, sp_error *err);

/* Releases what *rec owns (its plan); accepts NULL. */
void sp_journal_rec_free(sp_journal_rec *rec);

/*
 * "Newest" is the highest recorded seq, then the latest recorded creation
 * time (journals from before seq), never the file name's order.
 * Finds the newest journal in dir and, if its status is not "complete",
 * writes its path. Returns SP_ERR_NOTFOUND otherwise: an older
 * unfinished operation was superseded by the ones after it.
 * SP_ERR_USAGE, naming it, when a journal in dir has a torn first record.
 */
sp_err sp_journal_find_open(const char *dir, char *path, size_t len,
			    sp_error *err);

/* The newest journal in dir, finished or not (for rollback). */
sp_err sp_journal_find_last(const char *dir, char *path, size_t len,
			    sp_error *err);

/* JSON shared by journals and plan files: the node list [{id, addr}] and
 * the slot map as [[first, last, node], ...] ranges. Each returns a new
 * reference (caller json_decrefs), or NULL when out of memory. */
json_t *sp_json_nodes(const sp_endpoint *nodes, size_t n);
json_t *sp_json_owners(const int *owners);

/* Reads them back, validated; errors (SP_ERR_PROTOCOL) name path. The
 * caller frees *out (free); jn and jo are borrowed. */
sp_err sp_json_read_nodes(json_t *jn, const char *path, sp_endpoint **out,
			  size_t *n, sp_error *err);
sp_err sp_json_read_owners(json_t *jo, const char *path, size_t nnodes,
			   int *owners, sp_error *err);

#endif
