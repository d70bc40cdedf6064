/*
 * topology.c - turns the text of one node's CLUSTER NODES reply into a
 * view: its nodes, who owns each slot, and which slots it has open for a
 * migration. The text comes from the network, so every field is checked
 * against the Redis 7.0 grammar (clusterGenNodeDescription() in cluster.c)
 * and anything else is an SP_ERR_PROTOCOL that quotes the line; no input
 * can make the parser read past len, recurse, or grow without bound.
 */
#include "model/topology.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_QUOTE_MAX	200 /* bytes of the bad line quoted in errors */
#define TOKEN_QUOTE_MAX 48  /* bytes of the bad field quoted in errors */
#define NFIXED		8   /* fields before the slots */
#define PORT_MAX	65535

/* Where the parser is; the line is kept only to quote it in errors. */
typedef struct parser {
	sp_view *v;
	sp_error *err;
	const char *line;
	size_t linelen;
	size_t lineno;
	size_t cap;	/* allocated v->nodes */
	size_t opencap; /* allocated v->open */
} parser;

static const struct {
	unsigned bit;
	const char *name;
} flag_names[] = {
    /* Redis's order (redisNodeFlagsTable), so formatting round-trips. */
    {SP_NF_MYSELF, "myself"},	{SP_NF_MASTER, "master"},
    {SP_NF_SLAVE, "slave"},	{SP_NF_PFAIL, "fail?"},
    {SP_NF_FAIL, "fail"},	{SP_NF_HANDSHAKE, "handshake"},
    {SP_NF_NOADDR, "noaddr"},	{SP_NF_NOFAILOVER, "nofailover"},
    {SP_NF_NOFLAGS, "noflags"},
};

#define NFLAGS (sizeof(flag_names) / sizeof(flag_names[0]))

/*
 * Writes at most max bytes of s into out as printable ASCII, escaping the
 * rest as \xNN, so a line of garbage bytes cannot corrupt a terminal or a
 * log; "..." marks a cut.
 */
static void quote(char *out, size_t outlen, const char *s, size_t n, size_t max)
{
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < n && i < max && o + 5 < outlen; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < n && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Sets the error for the current line: what is wrong, and with which field. */
static sp_err fail(parser *ps, const char *what, const char *tok, size_t n)
{
	char qline[LINE_QUOTE_MAX + 16], qtok[TOKEN_QUOTE_MAX + 16];

	quote(qline, sizeof(qline), ps->line, ps->linelen, LINE_QUOTE_MAX);
	if (tok == NULL)
		return sp_seterr(ps->err, SP_ERR_PROTOCOL,
				 "CLUSTER NODES line %zu: %s: \"%s\"",
				 ps->lineno, what, qline);
	quote(qtok, sizeof(qtok), tok, n, TOKEN_QUOTE_MAX);
	return sp_seterr(ps->err, SP_ERR_PROTOCOL,
			 "CLUSTER NODES line %zu: %s \"%s\": \"%s\"",
			 ps->lineno, what, qtok, qline);
}

/* Next space-separated field of s[0..n) from *pos; 0 when there is none. */
static int next_field(const char *s, size_t n, size_t *pos, const char **f,
		      size_t *flen)
{
	size_t i = *pos, start;

	while (i < n && s[i] == ' ')
		i++;
	if (i == n) {
		*pos = i;
		return 0;
	}
	start = i;
	while (i < n && s[i] != ' ')
		i++;
	*f = s + start;
	*flen = i - start;
	*pos = i;
	return 1;
}

/* Decimal digits only (no sign, no space), at most max; 0 on success. */
static int parse_uint(const char *s, size_t n, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (max - (unsigned long long)(s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = x;
	return 0;
}

/* A node id: exactly 40 hex digits, copied NUL-terminated to out. */
static int parse_id(const char *s, size_t n, char out[SP_ID_LEN + 1])
{
	size_t i;
	char c;

	if (n != SP_ID_LEN)
		return -1;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F')))
			return -1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Copies s[0..n) into out[outlen] if it fits and every byte is allowed. */
static int copy_checked(char *out, size_t outlen, const char *s, size_t n,
			const char *extra)
{
	size_t i;
	char c;

	if (n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		c = s[i];
		/* strchr() finds the terminator, so NUL is refused first. */
		if (c == '\0')
			return -1;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || strchr(extra, c) != NULL))
			return -1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/*
 * "ip:port@cport[,hostname]". The port follows the last ':' before the
 * '@', because an IPv6 address has colons of its own; the ip is empty for
 * a noaddr node (":0@0") and for one that has not yet learned its own.
 */
static int parse_addr(const char *s, size_t n, sp_node *node)
{
	const char *at, *colon = NULL, *comma, *end = s + n, *p;
	unsigned long long port, cport;

	at = memchr(s, '@', n);
	if (at == NULL)
		return -1;
	for (p = s; p < at; p++)
		if (*p == ':')
			colon = p;
	if (colon == NULL)
		return -1;
	if (copy_checked(node->ip, sizeof(node->ip), s, (size_t)(colon - s),
			 ".:%_-") != 0)
		return -1;
	if (parse_uint(colon + 1, (size_t)(at - colon - 1), PORT_MAX, &port))
		return -1;
	comma = memchr(at + 1, ',', (size_t)(end - at - 1));
	if (parse_uint(at + 1, (size_t)((comma ? comma : end) - at - 1),
		       PORT_MAX, &cport))
		return -1;
	if (comma != NULL &&
	    copy_checked(node->hostname, sizeof(node->hostname), comma + 1,
			 (size_t)(end - comma - 1), ".-_") != 0)
		return -1;
	node->port = (int)port;
	node->cport = (int)cport;
	return 0;
}

/* Comma-separated flag names; *bad is the first unknown one. */
static int parse_flags(const char *s, size_t n, unsigned *flags,
		       const char **bad, size_t *badlen)
{
	const char *end = s + n, *comma;
	size_t len, i;

	*flags = 0;
	while (1) {
		comma = memchr(s, ',', (size_t)(end - s));
		len = (size_t)((comma ? comma : end) - s);
		for (i = 0; i < NFLAGS; i++)
			if (strlen(flag_names[i].name) == len &&
			    memcmp(flag_names[i].name, s, len) == 0)
				break;
		if (i == NFLAGS) {
			*bad = s;
			*badlen = len;
			return -1;
		}
		*flags |= flag_names[i].bit;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

/* Fields 4 to 8: master, ping-sent, pong-recv, config-epoch, link-state. */
static sp_err parse_tail(parser *ps, const char **f, const size_t *fl,
			 sp_node *node)
{
	unsigned long long x;

	if (!(fl[3] == 1 && f[3][0] == '-') &&
	    parse_id(f[3], fl[3], node->master_id) != 0)
		return fail(ps, "bad master id", f[3], fl[3]);
	if (parse_uint(f[4], fl[4], (unsigned long long)LLONG_MAX, &x) != 0)
		return fail(ps, "bad ping-sent", f[4], fl[4]);
	node->ping_sent = (long long)x;
	if (parse_uint(f[5], fl[5], (unsigned long long)LLONG_MAX, &x) != 0)
		return fail(ps, "bad pong-recv", f[5], fl[5]);
	node->pong_recv = (long long)x;
	if (parse_uint(f[6], fl[6], ULLONG_MAX, &node->config_epoch) != 0)
		return fail(ps, "bad config-epoch", f[6], fl[6]);
	if (fl[7] == 9 && memcmp(f[7], "connected", 9) == 0)
		node->connected = 1;
	else if (!(fl[7] == 12 && memcmp(f[7], "disconnected", 12) == 0))
		return fail(ps, "bad link-state", f[7], fl[7]);
	return SP_OK;
}

/* The eight fields before the slots, into *node. */
static sp_err parse_fields(parser *ps, const char **f, const size_t *fl,
			   sp_node *node)
{
	const char *bad = NULL;
	size_t badlen = 0;

	memset(node, 0, sizeof(*node));
	if (parse_id(f[0], fl[0], node->id) != 0)
		return fail(ps, "bad node id", f[0], fl[0]);
	if (parse_addr(f[1], fl[1], node) != 0)
		return fail(ps, "bad address", f[1], fl[1]);
	if (parse_flags(f[2], fl[2], &node->flags, &bad, &badlen) != 0)
		return fail(ps, "unknown flag", bad, badlen);
	if ((node->flags & SP_NF_MYSELF) && ps->v->myself >= 0)
		return fail(ps, "second \"myself\" line", NULL, 0);
	return parse_tail(ps, f, fl, node);
}

/* Appends node to the view, growing the array geometrically. */
static sp_err add_node(parser *ps, const sp_node *node)
{
	sp_view *v = ps->v;
	sp_node *grown;
	size_t cap;

	if (v->nnodes >= INT16_MAX)
		return fail(ps, "more than 32767 nodes", NULL, 0);
	if (v->nnodes == ps->cap) {
		cap = ps->cap ? ps->cap * 2 : 16;
		if (cap > INT16_MAX)
			cap = INT16_MAX;
		grown = realloc(v->nodes, cap * sizeof(*grown));
		if (grown == NULL)
			return sp_seterr(
			    ps->err, SP_ERR_OOM,
			    "CLUSTER NODES line %zu: out of memory",
			    ps->lineno);
		v->nodes = grown;
		ps->cap = cap;
	}
	v->nodes[v->nnodes] = *node;
	if (node->flags & SP_NF_MYSELF)
		v->myself = (int)v->nnodes;
	v->nhandshake += (node->flags & SP_NF_HANDSHAKE) != 0;
	v->nnodes++;
	return SP_OK;
}

/* Appends an open-slot marker, growing the array geometrically. */
static sp_err add_open(parser *ps, const sp_open_slot *o)
{
	sp_view *v = ps->v;
	sp_open_slot *grown;
	size_t cap;

	if (v->nopen == ps->opencap) {
		cap = ps->opencap ? ps->opencap * 2 : 8;
		grown = realloc(v->open, cap * sizeof(*grown));
		if (grown == NULL)
			return sp_seterr(
			    ps->err, SP_ERR_OOM,
			    "CLUSTER NODES line %zu: out of memory",
			    ps->lineno);
		v->open = grown;
		ps->opencap = cap;
	}
	v->open[v->nopen++] = *o;
	return SP_OK;
}

/* "[N->-id]" (migrating to id) or "[N-<-id]" (importing from id). */
static sp_err parse_marker(parser *ps, const char *t, size_t n)
{
	sp_open_slot o;
	const char *in = t + 1, *dash;
	size_t inlen;
	unsigned long long slot;

	memset(&o, 0, sizeof(o));
	if (n < 2 || t[n - 1] != ']')
		return fail(ps, "bad open-slot marker", t, n);
	inlen = n - 2;
	dash = memchr(in, '-', inlen);
	if (dash == NULL ||
	    parse_uint(in, (size_t)(dash - in), SP_SLOTS - 1, &slot) != 0)
		return fail(ps, "bad open-slot marker", t, n);
	inlen -= (size_t)(dash - in);
	if (inlen >= 3 && memcmp(dash, "-<-", 3) == 0)
		o.importing = 1;
	else if (!(inlen >= 3 && memcmp(dash, "->-", 3) == 0))
		return fail(ps, "bad open-slot marker", t, n);
	if (parse_id(dash + 3, inlen - 3, o.peer) != 0)
		return fail(ps, "bad open-slot marker", t, n);
	o.slot = (int)slot;
	return add_open(ps, &o);
}

/* Records that node idx owns slots a..b; each slot may be claimed once. */
static sp_err claim(parser *ps, int idx, int a, int b, const char *t, size_t n)
{
	sp_view *v = ps->v;
	char what[160], qtok[TOKEN_QUOTE_MAX + 16];
	int s;

	for (s = a; s <= b; s++) {
		if (v->owner[s] != SP_NO_OWNER) {
			quote(qtok, sizeof(qtok), t, n, TOKEN_QUOTE_MAX);
			snprintf(
			    what, sizeof(what),
			    "slot %d in \"%s\" already claimed by node %.40s",
			    s, qtok, v->nodes[v->owner[s]].id);
			return fail(ps, what, NULL, 0);
		}
		v->owner[s] = (int16_t)idx;
	}
	v->nodes[idx].nslots += b - a + 1;
	if (v->nodes[idx].flags & SP_NF_MYSELF) {
		if (v->my_lo < 0 || a < v->my_lo)
			v->my_lo = a;
		if (b > v->my_hi)
			v->my_hi = b;
	}
	return SP_OK;
}

/* One slot field: "N", "A-B", or an open-slot marker. */
static sp_err parse_slot(parser *ps, int idx, const char *t, size_t n)
{
	const char *dash;
	unsigned long long a, b;

	if (t[0] == '[')
		return parse_marker(ps, t, n);
	dash = memchr(t, '-', n);
	if (dash == NULL) {
		if (parse_uint(t, n, SP_SLOTS - 1, &a) != 0)
			return fail(ps, "bad slot", t, n);
		b = a;
	} else if (parse_uint(t, (size_t)(dash - t), SP_SLOTS - 1, &a) != 0 ||
		   parse_uint(dash + 1, n - (size_t)(dash - t) - 1,
			      SP_SLOTS - 1, &b) != 0) {
		return fail(ps, "bad slot", t, n);
	}
	if (a > b)
		return fail(ps, "slot range reversed", t, n);
	return claim(ps, idx, (int)a, (int)b, t, n);
}

/* One non-empty line: eight fields, then any number of slot fields. */
static sp_err parse_line(parser *ps)
{
	const char *f[NFIXED], *t;
	size_t fl[NFIXED], pos = 0, tl;
	char what[64];
	sp_node node;
	sp_err r;
	int i, idx;

	for (i = 0; i < NFIXED; i++) {
		if (!next_field(ps->line, ps->linelen, &pos, &f[i], &fl[i])) {
			snprintf(what, sizeof(what),
				 "%d fields, expected at least %d", i, NFIXED);
			return fail(ps, what, NULL, 0);
		}
	}
	if ((r = parse_fields(ps, f, fl, &node)) != SP_OK)
		return r;
	if ((r = add_node(ps, &node)) != SP_OK)
		return r;
	idx = (int)ps->v->nnodes - 1;
	while (next_field(ps->line, ps->linelen, &pos, &t, &tl))
		if ((r = parse_slot(ps, idx, t, tl)) != SP_OK)
			return r;
	return SP_OK;
}

/* 1 if the line has nothing but spaces (and a trailing '\r'). */
static int blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\r')
			return 0;
	return 1;
}

static void view_reset(sp_view *v)
{
	int s;

	v->nodes = NULL;
	v->nnodes = 0;
	v->myself = -1;
	v->open = NULL;
	v->nopen = 0;
	v->byid = NULL;
	v->my_lo = v->my_hi = -1;
	v->nhandshake = 0;
	for (s = 0; s < SP_SLOTS; s++)
		v->owner[s] = SP_NO_OWNER;
}

void sp_id_words(const char *id, uint64_t w[SP_ID_WORDS])
{
	size_t i, n = strnlen(id, SP_ID_LEN);

	for (i = 0; i < SP_ID_WORDS * 8; i++)
		w[i / 8] =
		    (w[i / 8] << 8) | (i < n ? (unsigned char)id[i] : 0u);
}

int sp_id_line_cmp(const void *a, const void *b)
{
	const sp_id_line *x = a, *y = b;
	int c = sp_id_words_cmp(x->w, y->w);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

sp_id_line *sp_view_index(const sp_view *v)
{
	sp_id_line *ix;
	size_t i;

	if (v->nnodes == 0 || (ix = malloc(v->nnodes * sizeof(*ix))) == NULL)
		return NULL;
	for (i = 0; i < v->nnodes; i++) {
		sp_id_words(v->nodes[i].id, ix[i].w);
		ix[i].flags = v->nodes[i].flags;
		ix[i].line = (int)i;
	}
	qsort(ix, v->nnodes, sizeof(*ix), sp_id_line_cmp);
	return ix;
}

/* Builds v->byid, the index sp_view_find searches. */
static sp_err index_ids(sp_view *v, sp_error *err)
{
	if (v->nnodes > 0 && (v->byid = sp_view_index(v)) == NULL)
		return sp_seterr(err, SP_ERR_OOM,
				 "CLUSTER NODES: out of memory");
	return SP_OK;
}

sp_err sp_view_parse(sp_view *v, const char *text, size_t len, sp_error *err)
{
	parser ps;
	const char *nl;
	size_t pos = 0, end;
	sp_err r = SP_ERR_INTERNAL;

	if (v == NULL)
		return sp_seterr(err, SP_ERR_INTERNAL,
				 "sp_view_parse: no view");
	view_reset(v);
	memset(&ps, 0, sizeof(ps));
	ps.v = v;
	ps.err = err;
	if (text == NULL && len > 0) {
		r = sp_seterr(err, SP_ERR_PROTOCOL, "CLUSTER NODES: no text");
		goto out;
	}
	while (pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		end = nl ? (size_t)(nl - text) : len;
		ps.lineno++;
		ps.line = text + pos;
		ps.linelen = end - pos;
		if (ps.linelen > 0 && ps.line[ps.linelen - 1] == '\r')
			ps.linelen--;
		if (!blank(ps.line, ps.linelen) &&
		    (r = parse_line(&ps)) != SP_OK)
			goto out;
		pos = end + 1;
	}
	r = index_ids(v, err);
out:
	if (r != SP_OK)
		sp_view_free(v);
	return r;
}

void sp_view_free(sp_view *v)
{
	if (v == NULL)
		return;
	free(v->nodes);
	free(v->open);
	free(v->byid);
	view_reset(v);
}

int sp_view_find(const sp_view *v, const char *id)
{
	size_t i;

	size_t lo = 0, hi;
	uint64_t w[SP_ID_WORDS];

	if (v == NULL || id == NULL || id[0] == '\0')
		return -1;
	if (v->byid == NULL) { /* a view not built by sp_view_parse */
		for (i = 0; i < v->nnodes; i++)
			if (strcmp(v->nodes[i].id, id) == 0)
				return (int)i;
		return -1;
	}
	/* The first (lowest index) of the lines with this id. */
	if (strnlen(id, SP_ID_LEN + 1) > SP_ID_LEN)
		return -1;
	sp_id_words(id, w);
	hi = v->nnodes;
	while (lo < hi) {
		i = lo + (hi - lo) / 2;
		if (sp_id_words_cmp(v->byid[i].w, w) < 0)
			lo = i + 1;
		else
			hi = i;
	}
	if (lo < v->nnodes && sp_id_words_cmp(v->byid[lo].w, w) == 0)
		return v->byid[lo].line;
	return -1;
}

const sp_node *sp_view_self(const sp_view *v)
{
	if (v == NULL || v->myself < 0 || (size_t)v->myself >= v->nnodes)
		return NULL;
	return &v->nodes[v->myself];
}

int sp_node_is_primary(const sp_node *n)
{
	return n != NULL && (n->flags & SP_NF_MASTER) != 0;
}

/* Appends s to buf[len] at *pos, cutting it if it does not fit. */
static void append(char *buf, size_t len, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos + 1 >= len)
		return;
	if (n > len - *pos - 1)
		n = len - *pos - 1;
	memcpy(buf + *pos, s, n);
	*pos += n;
	buf[*pos] = '\0';
}

void sp_flags_format(unsigned flags, char *buf, size_t len)
{
	size_t i, pos = 0;

	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	/* Redis prints "noflags" only when no other flag is set. */
	for (i = 0; i < NFLAGS; i++) {
		if (!(flags & flag_names[i].bit) ||
		    flag_names[i].bit == SP_NF_NOFLAGS)
			continue;
		if (pos > 0)
			append(buf, len, &pos, ",");
		append(buf, len, &pos, flag_names[i].name);
	}
	if (pos == 0)
		append(buf, len, &pos, "noflags");
}

/* The owner of a slot, from either an int16_t or an int owner array. */
typedef struct owners {
	const int16_t *o16;
	const int *o;
} owners;

static int owner_of(const owners *w, int slot)
{
	return w->o16 ? w->o16[slot] : w->o[slot];
}

/*
 * Writes the ranges held by who; a range that does not fit (with room
 * kept for "..." when reserve is set) ends the output. Returns the
 * length the whole text needs, and sets *count to the slots held.
 */
static size_t emit_ranges(const owners *w, int who, char *buf, size_t len,
			  int reserve, int *count)
{
	char piece[32];
	size_t need = 0, n, pos = 0;
	int a, b, cut = 0;

	*count = 0;
	for (a = 0; a < SP_SLOTS; a = b + 1) {
		b = a;
		if (owner_of(w, a) != who)
			continue;
		while (b + 1 < SP_SLOTS && owner_of(w, b + 1) == who)
			b++;
		*count += b - a + 1;
		n = (size_t)(a == b ? snprintf(piece, sizeof(piece), "%s%d",
					       need ? "," : "", a)
				    : snprintf(piece, sizeof(piece), "%s%d-%d",
					       need ? "," : "", a, b));
		need += n;
		if (!cut && buf != NULL && pos + n + (reserve ? 3 : 0) < len) {
			memcpy(buf + pos, piece, n + 1);
			pos += n;
		} else {
			cut = 1;
		}
	}
	if (cut && reserve && buf != NULL)
		append(buf, len, &pos, "...");
	return need;
}

static int format_ranges(const owners *w, int who, char *buf, size_t len)
{
	int count;

	if (buf != NULL && len > 0)
		buf[0] = '\0';
	/* Measure first, so "..." is only reserved when the text is cut. */
	if (emit_ranges(w, who, NULL, 0, 0, &count) < len)
		emit_ranges(w, who, buf, len, 0, &count);
	else if (buf != NULL && len > 0)
		emit_ranges(w, who, buf, len, 1, &count);
	return count;
}

int sp_view_format_ranges(const sp_view *v, int idx, char *buf, size_t len)
{
	owners w = {NULL, NULL};

	if (v == NULL) {
		if (buf != NULL && len > 0)
			buf[0] = '\0';
		return 0;
	}
	w.o16 = v->owner;
	return format_ranges(&w, idx, buf, len);
}

int sp_format_ranges_of(const int *owner, int who, char *buf, size_t len)
{
	owners w = {NULL, NULL};

	if (owner == NULL) {
		if (buf != NULL && len > 0)
			buf[0] = '\0';
		return 0;
	}
	w.o = owner;
	return format_ranges(&w, who, buf, len);
}
