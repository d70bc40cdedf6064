/*
 * topology.h - what one node says about the cluster (a view), and the views
 * of every reachable node gathered together (a cluster).
 *
 * A view is parsed from CLUSTER NODES text: every field of every line,
 * including flags, "ip:port@cport[,hostname]", epochs, link state, slot
 * ranges and the "[slot->-id]" / "[slot-<-id]" migration markers that only
 * the "myself" line carries. Parsing is pure (no I/O) so it is unit-tested
 * and fuzzed; a malformed line is an SP_ERR_PROTOCOL with the line quoted.
 */
#ifndef SP_TOPOLOGY_H
#define SP_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SP_SLOTS	16384
#define SP_ID_LEN	40
#define SP_IP_MAX	64
#define SP_HOSTNAME_MAX 256
#define SP_NO_OWNER	(-1)

/* Node flags as bits. */
enum {
	SP_NF_MYSELF = 1u << 0,
	SP_NF_MASTER = 1u << 1,
	SP_NF_SLAVE = 1u << 2,
	SP_NF_PFAIL = 1u << 3, /* "fail?" */
	SP_NF_FAIL = 1u << 4,
	SP_NF_HANDSHAKE = 1u << 5,
	SP_NF_NOADDR = 1u << 6,
	SP_NF_NOFAILOVER = 1u << 7,
	SP_NF_NOFLAGS = 1u << 8
};

typedef struct sp_node {
	/* id and flags first, in one cache line: the checks walk every
	 * line of every view (N^2 of them) reading only these */
	char id[SP_ID_LEN + 1];
	unsigned flags;
	char ip[SP_IP_MAX]; /* "" when the address is ":0" */
	int port;
	int cport;
	char hostname[SP_HOSTNAME_MAX]; /* "" when absent */
	char master_id[SP_ID_LEN + 1];	/* "" when "-" */
	long long ping_sent;
	long long pong_recv;
	unsigned long long config_epoch;
	int connected; /* link-state "connected" */
	int nslots;    /* slots this line assigns */
} sp_node;

/* An open slot as the "myself" line reports it. */
typedef struct sp_open_slot {
	int slot;
	int importing; /* 1: "[s-<-id]" importing from id; 0: migrating to id */
	char peer[SP_ID_LEN + 1];
} sp_open_slot;

/* An id as big-endian words of its bytes, zero-padded: comparing the
 * words gives strcmp's order, in a few integer compares. */
#define SP_ID_WORDS ((SP_ID_LEN + 7) / 8)

/* A line's id and flags, in the view's id index: what the checks read of
 * every line of every view (N^2 lines), kept compact and in order so that
 * walking them streams memory instead of touching one 456-byte line each. */
typedef struct sp_id_line {
	uint64_t w[SP_ID_WORDS]; /* the id (sp_id_words) */
	unsigned flags;
	int line; /* index into nodes */
} sp_id_line;

/* id (at most SP_ID_LEN bytes) as words. */
void sp_id_words(const char *id, uint64_t w[SP_ID_WORDS]);

/* strcmp's sign for the ids of a and b. */
static inline int sp_id_words_cmp(const uint64_t *a, const uint64_t *b)
{
	int i;

	for (i = 0; i < SP_ID_WORDS; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

typedef struct sp_view {
	sp_node *nodes; /* owned */
	size_t nnodes;
	int myself;		 /* index of the "myself" line, or -1 */
	int16_t owner[SP_SLOTS]; /* index into nodes, or SP_NO_OWNER */
	sp_open_slot *open;	 /* owned */
	size_t nopen;
	/* the lines sorted by id, then index (owned; built by
	 * sp_view_parse): sp_view_find is a binary search, so the rules
	 * that look every node up in every view stay N^2 log N */
	sp_id_line *byid;
	/* set by sp_view_parse (valid when byid is set): the lowest and
	 * highest slot the "myself" line claims (-1: none), and how many
	 * lines are in handshake */
	int my_lo, my_hi;
	size_t nhandshake;
} sp_view;

/*
 * Parses CLUSTER NODES text (len bytes, need not be NUL-terminated) into
 * *v (which must be empty: free a used view first), which the caller later
 * releases with sp_view_free. On error *v is left empty (safe to free) and err
 * quotes the offending line. Rejects: wrong field count, bad id (not 40 hex
 * chars), bad address, unknown flag, non-numeric numbers, slot out of range, a
 * slot claimed by two lines, more than one "myself", more than INT16_MAX nodes.
 */
sp_err sp_view_parse(sp_view *v, const char *text, size_t len, sp_error *err);

/* Releases what *v owns and leaves it empty; accepts NULL. */
void sp_view_free(sp_view *v);

/* Index of the node with this id in v, or -1. */
int sp_view_find(const sp_view *v, const char *id);

/* The lines of v sorted by id, then index (malloc'ed; NULL when v has no
 * line or without memory): v->byid for a view sp_view_parse did not
 * build. sp_id_line_cmp is its order, for qsort and bsearch. */
sp_id_line *sp_view_index(const sp_view *v);
int sp_id_line_cmp(const void *a, const void *b);

/* The "myself" node (borrowed from v), or NULL. */
const sp_node *sp_view_self(const sp_view *v);

/* 1 if the node is a primary (has the master flag). */
int sp_node_is_primary(const sp_node *n);

/*
 * Writes the node's flags back as CLUSTER NODES spells them
 * ("myself,master", "noflags") into buf.
 */
void sp_flags_format(unsigned flags, char *buf, size_t len);

/*
 * Formats the slots owned by node index `idx` in v as ranges
 * ("0-5460,6000") into buf; returns the number of slots.
 */
int sp_view_format_ranges(const sp_view *v, int idx, char *buf, size_t len);

/* Formats owner-array slots held by `who` (any int array) as ranges. */
int sp_format_ranges_of(const int *owner, int who, char *buf, size_t len);

#endif
