/*
 * roster.h - private to the health rules (checks.c, check_slots.c,
 * check_nodes.c): the roster of members the rules compare nodes by, the
 * context every rule reads, the helpers they share, and the rules
 * themselves. Not an API: callers use model/checks.h.
 */
#ifndef SP_ROSTER_H
#define SP_ROSTER_H

#include "model/checks.h"

/* Bytes of node names listed in one message, before "and N more". */
#define LIST_BYTES 200

/* What one view says of one roster member. */
enum { K_KNOWN = 1, K_NOADDR = 2, K_PFAIL = 4, K_FAIL = 8 };

typedef struct member {
	const sp_id_line *key; /* its id, in the index it was first seen in */
	const char *id;	       /* borrowed from a view line (set after the
				  marking: its line's) */
	const sp_node *line;   /* its own line if reachable, else first seen */
	int state;	       /* index in c->nodes, or -1 */
	int nknown;	       /* reachable views listing it with an address */
	int nseen;	       /* reachable views listing it at all */
	int nviews; /* the same, each view once (a view may list an id twice) */
	int npfail, nfail, nmaster, nslave;
	int primary, replica, failed, nreplicas;
	char addr[SP_ADDR_MAX];
} member;

typedef struct check_ctx {
	const sp_cluster *c;
	const sp_check_opts *opts;
	sp_findings *out;
	size_t nreach;	 /* reachable nodes */
	member *m;	 /* sorted by id, for lookups */
	member **byaddr; /* the same, by address, for reports */
	size_t nm;
	/* c->nnodes rows (views) of nm columns (members), at AT(x, view,
	 * member): row by row is how build_roster fills them */
	unsigned char *seen; /* K_* bits */
	int *line_of;	     /* the member's line in that view, -1 */
	unsigned *flags_of;  /* that line's flags */
	/* per reachable view i, from vmember + voff[i]: the member each
	 * line is the (first) line of, or -1 (line_of turned around) */
	int *vmember;
	size_t *voff;
	/* per view, the index built for a view sp_view_parse did not build
	 * (NULL otherwise), kept while the members point into it */
	sp_id_line **tmp_index;
	int unnamed; /* unreachable nodes no view names */
	int claims[SP_SLOTS];
} check_ctx;

/* Where view i's entry for member k is in seen, line_of and flags_of. */
#define AT(x, i, k) ((size_t)(i) * (x)->nm + (size_t)(k))

/* A list of node names for a message, cut at LIST_BYTES. */
typedef struct namelist {
	char buf[LIST_BYTES + 32];
	size_t used;
	int n, more;
} namelist;

/* Writes nd's address ("ip:port", "[ip6]:port", or its id when it has no
 * address) into buf. As sp_format_addr, kept here so that the checks
 * link without conn.c. */
void sp_line_addr(const sp_node *nd, char *buf, size_t len);

/* Appends a name to l (a zeroed namelist to start); past LIST_BYTES it
 * only counts. */
void sp_namelist_add(namelist *l, const char *name);

/* The list as text, with " and N more" when it was cut; points into l. */
const char *sp_namelist_str(namelist *l);

/* "" for 1, else "s"; a static string. */
const char *sp_plural(long long n);

/* Index of the member with this id in x->m, or -1. */
int sp_roster_find(const check_ctx *x, const char *id);

/* A node's id: its own line's when it answered, else what peers call it.
 * Borrowed from st. */
const char *sp_state_id(const sp_node_state *st);

/* 1 unless nd is in handshake: handshake ids are random and short-lived
 * and name no member. */
int sp_on_roster(const sp_node *nd);

/*
 * The rules. Each appends its findings to x->out and returns SP_OK, or
 * SP_ERR_OOM when a finding could not be added. They read x and own
 * nothing they do not free. Slot rules (check_slots.c):
 */
sp_err sp_rule_uncovered(check_ctx *x);	  /* slots-uncovered */
sp_err sp_rule_multi_owner(check_ctx *x); /* slot-multi-owner */
sp_err sp_rule_open(check_ctx *x);	  /* open-slot */
sp_err sp_rule_owners(check_ctx *x);	  /* owners-disagree */

/* Node rules (check_nodes.c): */
sp_err sp_rule_unreachable(check_ctx *x); /* unreachable */
sp_err sp_rule_state(check_ctx *x);	  /* state-not-ok */
sp_err sp_rule_membership(check_ctx *x);  /* membership-disagree */
sp_err sp_rule_failing(check_ctx *x);	  /* node-fail, node-pfail */
sp_err sp_rule_roles(check_ctx *x);	  /* roles-disagree */
sp_err sp_rule_handshake(check_ctx *x);	  /* handshake */
sp_err sp_rule_epochs(check_ctx *x);	  /* epoch-collision */
/* expect-nodes, expect-primaries, min-replicas */
sp_err sp_rule_expected(check_ctx *x);
sp_err sp_rule_placement(check_ctx *x); /* replica-same-host */

#endif
