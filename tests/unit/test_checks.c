/*
 * test_checks.c - the health rules, on clusters built from replies
 * captured from a real Redis 7.0 cluster (tests/fixtures/), then edited to
 * break one thing per test. Also the pure helpers of cluster.c that the
 * rules stand on.
 *
 * Fixtures: healthy_3x1 is three primaries with one replica each, as
 * `redis-cli --cluster create --cluster-replicas 1` leaves them;
 * failover_3x1 is the same cluster after 30103 was killed and 30105 took
 * over its slots. Tests run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/checks.h"
#include "model/cluster.h"

#define FIXTURES "tests/fixtures/"
#define MAXN	 8
/* Nodes of the synthetic cluster; build with -DSCALE_NODES=1000 to time
 * the checks at the size DESIGN.md promises. */
#ifndef SCALE_NODES
#define SCALE_NODES 200
#endif

/* Node ids of the captured cluster, by port. */
#define ID_30101 "d3afa06e1a57eb68c34ea1b83b3b70fc6dde771e"
#define ID_30102 "bb6baa57e100fd06b0ec0150fd2f062b3746e527"
#define ID_30103 "896bd59e348aafe81e9cab3d0f551083066c74fe"
#define ID_30104 "850bf92930d5eb0c3d2e4306ff0747661478919f"
#define ID_30106 "f9a4581973792119843fc8db77517cbf26af9770"

/* The replies of each node, editable before the cluster is built. */
typedef struct fx {
	size_t n;
	int port[MAXN];
	char *nodes[MAXN], *cinfo[MAXN], *info[MAXN];
	int down[MAXN];		   /* build it as unreachable */
	const char *down_id[MAXN]; /* the id its peers give it, if any */
} fx;

static const int all6[] = {30101, 30102, 30103, 30104, 30105, 30106};
static const int up5[] = {30101, 30102, 30104, 30105, 30106};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (f == NULL)
		fail_msg("cannot open fixture %s (run from the repo root)",
			 path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void fx_load(fx *f, const char *dir, const int *ports, size_t n)
{
	char path[256];
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++) {
		f->port[i] = ports[i];
		snprintf(path, sizeof(path), FIXTURES "%s/%d.nodes", dir,
			 ports[i]);
		f->nodes[i] = slurp(path);
		snprintf(path, sizeof(path), FIXTURES "%s/%d.cinfo", dir,
			 ports[i]);
		f->cinfo[i] = slurp(path);
		snprintf(path, sizeof(path), FIXTURES "%s/%d.info", dir,
			 ports[i]);
		f->info[i] = slurp(path);
	}
	f->n = n;
}

/* Adds a node that will not answer (no replies to load). */
static void fx_add_down(fx *f, int port, const char *id)
{
	assert_true(f->n < MAXN);
	f->port[f->n] = port;
	f->down[f->n] = 1;
	f->down_id[f->n] = id;
	f->nodes[f->n] = f->cinfo[f->n] = f->info[f->n] = NULL;
	f->n++;
}

static void fx_free(fx *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->nodes[i]);
		free(f->cinfo[i]);
		free(f->info[i]);
	}
}

static size_t fx_at(const fx *f, int port)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->port[i] == port)
			return i;
	fail_msg("no node %d in the fixture", port);
	return 0;
}

/* Replaces the first `from` at or after `start` in *text with `to`. */
static void replace_from(char **text, size_t start, const char *from,
			 const char *to)
{
	char *p = strstr(*text + start, from), *out;
	size_t pre, flen = strlen(from), tlen = strlen(to);

	if (p == NULL)
		fail_msg("fixture edit: \"%s\" not found", from);
	pre = (size_t)(p - *text);
	out = malloc(strlen(*text) - flen + tlen + 1);
	assert_non_null(out);
	memcpy(out, *text, pre);
	memcpy(out + pre, to, tlen);
	strcpy(out + pre + tlen, p + flen);
	free(*text);
	*text = out;
}

/* Offset of the line that starts with id in text. */
static size_t line_of(const char *text, const char *id)
{
	const char *p = text;

	while ((p = strstr(p, id)) != NULL) {
		if (p == text || p[-1] == '\n')
			return (size_t)(p - text);
		p++;
	}
	fail_msg("no line for %s", id);
	return 0;
}

/* Edits, in the view of node `port`, the line of node `id`. */
static void edit_line(fx *f, int port, const char *id, const char *from,
		      const char *to)
{
	char **t = &f->nodes[fx_at(f, port)];
	size_t at = line_of(*t, id);
	char *eol = strchr(*t + at, '\n');

	assert_non_null(eol);
	assert_non_null(strstr(*t + at, from));
	assert_true(strstr(*t + at, from) < eol);
	replace_from(t, at, from, to);
}

/* Drops the line of node `id` from the view of node `port`. */
static void drop_line(fx *f, int port, const char *id)
{
	char *t = f->nodes[fx_at(f, port)];
	size_t at = line_of(t, id);
	char *eol = strchr(t + at, '\n');

	assert_non_null(eol);
	memmove(t + at, eol + 1, strlen(eol + 1) + 1);
}

/* Appends a second copy of the line of node `id` to the view of `port`. */
static void dup_line(fx *f, int port, const char *id)
{
	char **t = &f->nodes[fx_at(f, port)];
	size_t at = line_of(*t, id), len = strlen(*t), n;
	char *eol = strchr(*t + at, '\n'), *g;

	assert_non_null(eol);
	n = (size_t)(eol + 1 - (*t + at));
	g = malloc(len + n + 1);
	assert_non_null(g);
	memcpy(g, *t, len);
	memcpy(g + len, *t + at, n);
	g[len + n] = '\0';
	free(*t);
	*t = g;
}

/* Builds the cluster as sp_cluster_gather would leave it. */
static void fx_build(const fx *f, sp_cluster *c)
{
	sp_error err;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < f->n; i++) {
		sp_node_state *n = sp_cluster_add(c, "127.0.0.1", f->port[i]);
		const sp_node *self;

		assert_non_null(n);
		if (f->down[i]) {
			n->err_code = SP_ERR_IO;
			snprintf(n->err_msg, sizeof(n->err_msg),
				 "%s: connect: Connection refused", n->addr);
			if (f->down_id[i] != NULL)
				snprintf(n->id, sizeof(n->id), "%s",
					 f->down_id[i]);
			continue;
		}
		if (sp_view_parse(&n->view, f->nodes[i], strlen(f->nodes[i]),
				  &err) != SP_OK)
			fail_msg("fixture of %d does not parse: %s", f->port[i],
				 err.msg);
		sp_node_state_set_info(n, f->cinfo[i], f->info[i]);
		self = sp_view_self(&n->view);
		assert_non_null(self);
		snprintf(n->id, sizeof(n->id), "%s", self->id);
		n->reachable = 1;
	}
}

/* Builds f, checks it with o (NULL: defaults) into *out. */
static void check_fx(const fx *f, const sp_check_opts *o, sp_findings *out)
{
	sp_cluster c;
	sp_error err;
	size_t i;

	fx_build(f, &c);
	memset(out, 0, sizeof(*out));
	assert_int_equal(sp_check_cluster(&c, o, out, &err), SP_OK);
	for (i = 0; i < out->n; i++)
		print_message("  [%s] %s\n", out->items[i].code,
			      out->items[i].msg);
	sp_cluster_free(&c);
}

static size_t count_code(const sp_findings *f, const char *code)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		n += strcmp(f->items[i].code, code) == 0;
	return n;
}

/* The only finding with this code; fails unless there is exactly one. */
static const sp_finding *only(const sp_findings *f, const char *code)
{
	size_t i;

	assert_int_equal(count_code(f, code), 1);
	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0)
			return &f->items[i];
	return NULL;
}

static void assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

/* ---- cluster.c ------------------------------------------------------- */

static void test_new_node_has_empty_view(void **state)
{
	sp_cluster c = {0};
	sp_node_state *n;
	int s;

	(void)state;
	n = sp_cluster_add(&c, "::1", 7000);
	assert_non_null(n);
	assert_string_equal(n->addr, "[::1]:7000");
	assert_int_equal(n->view.myself, -1);
	assert_int_equal(n->reachable, 0);
	assert_string_equal(n->id, "");
	for (s = 0; s < SP_SLOTS; s++)
		assert_int_equal(n->view.owner[s], SP_NO_OWNER);
	assert_string_equal(sp_cluster_add(&c, "10.0.0.1", 7001)->addr,
			    "10.0.0.1:7001");
	sp_cluster_free(&c);
	sp_cluster_free(&c);
}

static void test_find_by_id_and_addr(void **state)
{
	sp_cluster c = {0};
	int i;

	(void)state;
	for (i = 0; i < 20; i++)
		assert_non_null(sp_cluster_add(&c, "127.0.0.1", 7000 + i));
	snprintf(c.nodes[13].id, sizeof(c.nodes[13].id), "%s", ID_30101);
	assert_int_equal(sp_cluster_find_id(&c, ID_30101), 13);
	assert_int_equal(sp_cluster_find_id(&c, ID_30102), -1);
	assert_int_equal(sp_cluster_find_id(&c, ""), -1);
	assert_int_equal(sp_cluster_find_addr(&c, "127.0.0.1", 7019), 19);
	assert_int_equal(sp_cluster_find_addr(&c, "127.0.0.2", 7019), -1);
	sp_cluster_free(&c);
}

static void test_info_of_a_primary(void **state)
{
	sp_cluster c = {0};
	sp_node_state *n = sp_cluster_add(&c, "127.0.0.1", 30103);
	char *ci = slurp(FIXTURES "healthy_3x1/30103.cinfo");
	char *in = slurp(FIXTURES "healthy_3x1/30103.info");

	(void)state;
	sp_node_state_set_info(n, ci, in);
	assert_int_equal(n->state_ok, 1);
	assert_int_equal(n->known_nodes, 6);
	assert_int_equal(n->slots_assigned, 16384);
	assert_int_equal(n->slots_pfail, 0);
	assert_int_equal(n->current_epoch, 6);
	assert_int_equal(n->my_epoch, 3);
	assert_string_equal(n->version, "7.0.15");
	assert_string_equal(n->role, "master");
	assert_int_equal(n->keys, 2);
	assert_true(n->used_memory > 0);
	assert_int_equal(n->repl_offset, 95);
	assert_int_equal(n->master_link_up, 0);
	free(ci);
	free(in);
	sp_cluster_free(&c);
}

static void test_info_of_a_replica_uses_its_own_offset(void **state)
{
	sp_cluster c = {0};
	sp_node_state *n = sp_cluster_add(&c, "127.0.0.1", 30104);
	const char *info = "# Replication\r\nrole:slave\r\n"
			   "master_link_status:up\r\n"
			   "master_last_io_seconds_ago:3\r\n"
			   "master_sync_in_progress:0\r\n"
			   "slave_repl_offset:66\r\nmaster_repl_offset:70\r\n"
			   "# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=0\r\n"
			   "db3:keys=7,expires=0,avg_ttl=0\r\n";

	(void)state;
	sp_node_state_set_info(n, "cluster_state:fail\r\n", info);
	assert_int_equal(n->state_ok, 0);
	assert_string_equal(n->role, "slave");
	assert_int_equal(n->master_link_up, 1);
	assert_int_equal(n->master_last_io_secs, 3);
	assert_int_equal(n->repl_offset, 66);
	assert_int_equal(n->keys, 12);
	assert_int_equal(n->sync_in_progress, 0);
	sp_cluster_free(&c);
}

static void test_malformed_info_reads_as_absent(void **state)
{
	sp_cluster c = {0};
	sp_node_state *n = sp_cluster_add(&c, "127.0.0.1", 1);

	(void)state;
	sp_node_state_set_info(n,
			       "xcluster_state:ok\ncluster_known_nodes:"
			       "abc\ncluster_my_epoch:",
			       "used_memory:12x\r\ndb0:keys=\r\nrole");
	assert_int_equal(n->state_ok, 0);
	assert_int_equal(n->known_nodes, 0);
	assert_int_equal(n->used_memory, 0);
	assert_int_equal(n->keys, 0);
	assert_string_equal(n->role, "");
	sp_node_state_set_info(n, NULL, NULL);
	sp_node_state_set_info(n, "", "");
	sp_cluster_free(&c);
}

static void test_primaries_sorted_by_address(void **state)
{
	static const int ports[] = {30106, 30103, 30105, 30101, 30104, 30102};
	fx f;
	sp_cluster c;
	int idx[8];
	size_t n;

	(void)state;
	fx_load(&f, "healthy_3x1", ports, 6);
	fx_build(&f, &c);
	n = sp_cluster_primaries(&c, idx, 8);
	assert_int_equal(n, 3);
	assert_string_equal(c.nodes[idx[0]].addr, "127.0.0.1:30101");
	assert_string_equal(c.nodes[idx[1]].addr, "127.0.0.1:30102");
	assert_string_equal(c.nodes[idx[2]].addr, "127.0.0.1:30103");
	assert_int_equal(sp_cluster_primaries(&c, idx, 2), 2);
	assert_string_equal(c.nodes[idx[1]].addr, "127.0.0.1:30102");
	sp_cluster_free(&c);
	fx_free(&f);
}

static void test_claims_come_from_own_lines(void **state)
{
	fx f;
	sp_cluster c;
	int owner[SP_SLOTS];

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	f.down[fx_at(&f, 30103)] = 1;
	fx_build(&f, &c);
	sp_cluster_claims(&c, owner);
	assert_int_equal(owner[0], (int)fx_at(&f, 30101));
	assert_int_equal(owner[10922], (int)fx_at(&f, 30102));
	/* The views still name 30103, but it cannot claim anything. */
	assert_int_equal(owner[10923], SP_NO_OWNER);
	sp_cluster_free(&c);
	fx_free(&f);
}

/* ---- checks.c -------------------------------------------------------- */

static void test_healthy_cluster_has_no_findings(void **state)
{
	sp_check_opts o = {6, 3, 1, 0};
	sp_findings out;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 0);
	sp_findings_free(&out);
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 0);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_empty_cluster_has_no_findings(void **state)
{
	sp_cluster c = {0};
	sp_findings out = {0};
	sp_error err;

	(void)state;
	assert_int_equal(sp_check_cluster(&c, NULL, &out, &err), SP_OK);
	assert_int_equal(out.n, 0);
	assert_int_equal(sp_findings_errors(&out), 0);
	sp_findings_free(&out);
}

static void test_migrating_and_importing_slots_are_open(void **state)
{
	sp_findings out;
	const sp_finding *a, *b;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	edit_line(&f, 30101, ID_30101, "0-5460", "0-5460 [42->-" ID_30102 "]");
	edit_line(&f, 30102, ID_30102, "5461-10922",
		  "5461-10922 [42-<-" ID_30101 "]");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 2);
	a = &out.items[0];
	b = &out.items[1];
	assert_string_equal(a->code, "open-slot");
	assert_int_equal(a->sev, SP_SEV_ERR);
	assert_int_equal(a->slot, 42);
	assert_string_equal(a->node, "127.0.0.1:30101");
	assert_contains(a->msg, "slot 42 on 127.0.0.1:30101 is migrating to "
				"127.0.0.1:30102");
	assert_string_equal(b->code, "open-slot");
	assert_string_equal(b->node, "127.0.0.1:30102");
	assert_contains(b->msg, "importing from 127.0.0.1:30101");
	sp_findings_free(&out);
	fx_free(&f);
}

/* Unassigns slots from 30101 in every view, as CLUSTER DELSLOTS would. */
static void unassign_everywhere(fx *f, const char *ranges)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		edit_line(f, f->port[i], ID_30101, "0-5460", ranges);
}

static void test_unassigned_slots_are_uncovered(void **state)
{
	sp_findings out;
	const sp_finding *u;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	unassign_everywhere(&f, "0-99 101-199 202-5460");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	u = only(&out, "slots-uncovered");
	assert_int_equal(u->sev, SP_SEV_ERR);
	assert_int_equal(u->slot, 100);
	assert_string_equal(u->msg, "3 slots are not covered by any reachable "
				    "node: 100,200-201");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_slot_claimed_by_two_primaries(void **state)
{
	sp_findings out;
	const sp_finding *m;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	/* 30102 believes it took slot 0; 30101 never gave it up. */
	edit_line(&f, 30102, ID_30102, "5461-10922", "0 5461-10922");
	edit_line(&f, 30102, ID_30101, "0-5460", "1-5460");
	check_fx(&f, NULL, &out);
	m = only(&out, "slot-multi-owner");
	assert_int_equal(m->slot, 0);
	assert_contains(m->msg, "1 slot is claimed by more than one node "
				"(127.0.0.1:30101, 127.0.0.1:30102): 0");
	assert_int_equal(count_code(&out, "owners-disagree"), 0);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_unreachable_node_is_an_error(void **state)
{
	sp_check_opts o = {6, -1, -1, 0};
	sp_findings out;
	const sp_finding *u;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	/* No id: it is matched to the views by its address, not counted
	 * twice. */
	f.down[fx_at(&f, 30103)] = 1;
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 2);
	u = only(&out, "unreachable");
	assert_int_equal(u->sev, SP_SEV_ERR);
	assert_string_equal(u->node, "127.0.0.1:30103");
	assert_contains(u->msg, "Connection refused");
	/* Nobody answers for its slots. */
	assert_int_equal(only(&out, "slots-uncovered")->slot, 10923);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_foreign_node_is_its_own_finding(void **state)
{
	sp_check_opts o = {6, 3, -1, 0};
	sp_findings out;
	const sp_finding *u;
	sp_cluster c;
	sp_error err;
	fx f;

	(void)state;
	fx_load(&f, "failover_3x1", up5, 5);
	/* As gather leaves a node whose address answers with another id. */
	fx_add_down(&f, 30103, ID_30103);
	fx_build(&f, &c);
	c.nodes[5].foreign = 1;
	snprintf(c.nodes[5].err_msg, sizeof(c.nodes[5].err_msg),
		 "127.0.0.1:30103: foreign node: CLUSTER MYID is abc, its "
		 "peers know this address as %s",
		 ID_30103);
	memset(&out, 0, sizeof(out));
	assert_int_equal(sp_check_cluster(&c, &o, &out, &err), SP_OK);
	assert_int_equal(count_code(&out, "unreachable"), 0);
	u = only(&out, "foreign");
	assert_string_equal(u->node, "127.0.0.1:30103");
	assert_contains(u->msg, "did not answer as itself: foreign node");
	assert_contains(u->msg, ID_30103);
	sp_findings_free(&out);
	sp_cluster_free(&c);
	fx_free(&f);
}

static void test_failed_over_primary_is_reported_once(void **state)
{
	sp_check_opts o = {6, 3, -1, 0};
	sp_findings out;
	const sp_finding *nf;
	fx f;

	(void)state;
	fx_load(&f, "failover_3x1", up5, 5);
	/* As gather leaves it: visited, silent, named by its peers' id. */
	fx_add_down(&f, 30103, ID_30103);
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 2);
	assert_string_equal(only(&out, "unreachable")->node, "127.0.0.1:30103");
	nf = only(&out, "node-fail");
	assert_string_equal(nf->node, "127.0.0.1:30103");
	assert_contains(nf->msg, "flagged fail by 5 nodes");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_failed_over_primary_leaves_one_without_replica(void **state)
{
	sp_check_opts o = {-1, -1, 1, 0};
	sp_findings out;
	const sp_finding *r;
	fx f;

	(void)state;
	fx_load(&f, "failover_3x1", up5, 5);
	check_fx(&f, &o, &out);
	r = only(&out, "min-replicas");
	assert_string_equal(r->node, "127.0.0.1:30105");
	assert_string_equal(r->msg, "primary 127.0.0.1:30105 has 0 replicas, "
				    "fewer than the 1 required");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_pfail_in_one_view_is_an_error(void **state)
{
	sp_findings out;
	const sp_finding *p;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	edit_line(&f, 30101, ID_30103, " master ", " master,fail? ");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	p = only(&out, "node-pfail");
	assert_int_equal(p->sev, SP_SEV_ERR);
	assert_string_equal(p->node, "127.0.0.1:30103");
	assert_string_equal(p->msg, "127.0.0.1:30103 is flagged fail? (pfail) "
				    "by 1 node: 127.0.0.1:30101");
	assert_int_equal(sp_findings_errors(&out), 1);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_fail_in_one_view_is_an_error(void **state)
{
	sp_findings out;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	edit_line(&f, 30104, ID_30106, " slave ", " slave,fail ");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(only(&out, "node-fail")->msg,
			    "127.0.0.1:30106 is flagged fail by 1 node: "
			    "127.0.0.1:30104");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_stale_view_disagrees_on_owners(void **state)
{
	sp_findings out;
	const sp_finding *d;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	/* 30104 still thinks 30103 owns 10900-10922. */
	edit_line(&f, 30104, ID_30102, "5461-10922", "5461-10899");
	edit_line(&f, 30104, ID_30103, "10923-16383", "10900-16383");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	d = only(&out, "owners-disagree");
	assert_int_equal(d->sev, SP_SEV_ERR);
	assert_int_equal(d->slot, 10900);
	assert_string_equal(d->node, "127.0.0.1:30104");
	assert_string_equal(d->msg, "127.0.0.1:30102 claims 23 slots that "
				    "127.0.0.1:30104 assigns elsewhere (slot "
				    "10900 to 127.0.0.1:30103)");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_view_missing_an_owner_disagrees(void **state)
{
	sp_findings out;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	edit_line(&f, 30105, ID_30101, " 0-5460", "");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	assert_contains(
	    only(&out, "owners-disagree")->msg,
	    "127.0.0.1:30101 claims 5461 slots that 127.0.0.1:30105 "
	    "assigns elsewhere (slot 0 to no node)");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_node_forgotten_by_one_node(void **state)
{
	sp_check_opts o = {6, 3, 1, 0};
	sp_findings out;
	const sp_finding *m;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	drop_line(&f, 30102, ID_30106);
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 1);
	m = only(&out, "membership-disagree");
	assert_string_equal(m->node, "127.0.0.1:30106");
	assert_string_equal(m->msg, "127.0.0.1:30106 (" ID_30106 ") is unknown "
				    "to 1 of 6 reachable nodes: "
				    "127.0.0.1:30102");
	sp_findings_free(&out);
	fx_free(&f);
}

/* A view that lists a node twice does not make up for one that lacks
 * it: views are counted once each. */
static void
test_node_forgotten_by_one_node_and_listed_twice_by_another(void **state)
{
	sp_findings out;
	const sp_finding *m;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	drop_line(&f, 30102, ID_30106);
	dup_line(&f, 30103, ID_30106);
	check_fx(&f, NULL, &out);
	m = only(&out, "membership-disagree");
	assert_string_equal(m->node, "127.0.0.1:30106");
	assert_contains(m->msg, "unknown to 1 of 6 reachable nodes: "
				"127.0.0.1:30102");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_replica_seen_as_primary_disagrees_on_roles(void **state)
{
	sp_findings out;
	const sp_finding *r;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	/* 30101 has not yet learnt that 30104 replicates a primary. */
	edit_line(&f, 30101, ID_30104, " slave ", " master ");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	r = only(&out, "roles-disagree");
	assert_int_equal(r->sev, SP_SEV_ERR);
	assert_string_equal(r->node, "127.0.0.1:30104");
	assert_string_equal(r->msg, "127.0.0.1:30104 says it is a replica, but "
				    "127.0.0.1:30101 sees it as a primary");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_cluster_state_fail_is_reported(void **state)
{
	sp_findings out;
	const sp_finding *s;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	replace_from(&f.cinfo[fx_at(&f, 30105)], 0, "cluster_state:ok",
		     "cluster_state:fail");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	s = only(&out, "state-not-ok");
	assert_string_equal(s->node, "127.0.0.1:30105");
	assert_contains(s->msg, "127.0.0.1:30105 reports cluster_state other "
				"than ok");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_primaries_sharing_config_epoch_collide(void **state)
{
	sp_findings out;
	const sp_finding *e;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	edit_line(&f, 30102, ID_30102, " 2 connected", " 1 connected");
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 1);
	e = only(&out, "epoch-collision");
	assert_int_equal(e->sev, SP_SEV_ERR);
	assert_string_equal(e->msg,
			    "primaries 127.0.0.1:30101, 127.0.0.1:30102 "
			    "share config epoch 1");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_empty_primaries_at_epoch_zero_do_not_collide(void **state)
{
	sp_findings out;
	size_t i;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	/* 30101 holds every slot; 30102 and 30103 are primaries just added,
	 * without slots and at epoch 0, in every view. */
	for (i = 0; i < f.n; i++) {
		edit_line(&f, f.port[i], ID_30101, "0-5460", "0-16383");
		edit_line(&f, f.port[i], ID_30102, " 2 connected 5461-10922",
			  " 0 connected");
		edit_line(&f, f.port[i], ID_30103, " 3 connected 10923-16383",
			  " 0 connected");
	}
	check_fx(&f, NULL, &out);
	assert_int_equal(out.n, 0);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_node_and_primary_counts_are_checked(void **state)
{
	sp_check_opts o = {7, 4, -1, 0};
	sp_findings out;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 2);
	assert_string_equal(only(&out, "expect-nodes")->msg,
			    "the cluster has 6 nodes, 7 expected");
	assert_string_equal(only(&out, "expect-primaries")->msg,
			    "the cluster has 3 working primaries, 4 expected");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_too_few_replicas_per_primary(void **state)
{
	sp_check_opts o = {-1, -1, 2, 0};
	sp_findings out;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 3);
	assert_int_equal(count_code(&out, "min-replicas"), 3);
	assert_contains(out.items[0].msg, "has 1 replica, fewer than the 2");
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_handshake_is_a_warning_not_a_node(void **state)
{
	sp_check_opts o = {6, 3, 1, 0};
	sp_findings out;
	const sp_finding *h;
	fx f;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	replace_from(&f.nodes[fx_at(&f, 30101)], 0, "",
		     "0123456789abcdef0123456789abcdef01234567 "
		     "127.0.0.1:30107@40107 handshake - 1795315940471 0 0 "
		     "disconnected\n");
	check_fx(&f, &o, &out);
	assert_int_equal(out.n, 1);
	h = only(&out, "handshake");
	assert_int_equal(h->sev, SP_SEV_WARN);
	assert_string_equal(h->msg, "127.0.0.1:30101 is still in handshake "
				    "with 1 node: 127.0.0.1:30107");
	assert_int_equal(sp_findings_errors(&out), 0);
	sp_findings_free(&out);
	fx_free(&f);
}

static void test_every_slot_open_gives_bounded_findings(void **state)
{
	sp_findings out;
	char *markers, *p;
	fx f;
	int s;

	(void)state;
	fx_load(&f, "healthy_3x1", all6, 6);
	markers = malloc((size_t)SP_SLOTS * 64 + 16);
	assert_non_null(markers);
	p = markers + sprintf(markers, "0-5460");
	for (s = 0; s < SP_SLOTS; s++)
		p += sprintf(p, " [%d->-%s]", s, ID_30102);
	edit_line(&f, 30101, ID_30101, "0-5460", markers);
	free(markers);
	check_fx(&f, NULL, &out);
	assert_int_equal(count_code(&out, "open-slot"), 21);
	assert_int_equal(out.n, 21);
	assert_string_equal(out.items[20].msg,
			    "127.0.0.1:30101 has 16364 more open slots (16384 "
			    "in all), not listed one by one");
	assert_int_equal(out.items[20].slot, 20);
	sp_findings_free(&out);
	fx_free(&f);
}

/*
 * CLUSTER NODES of a synthetic cluster of n nodes as node `self` sees it:
 * even nodes are primaries splitting the slots evenly, each odd node
 * replicates the one before. Ids are the node number in 40 digits.
 */
static char *synthetic_nodes(int n, int self)
{
	size_t cap = (size_t)n * 192 + 1, used = 0;
	char *t = malloc(cap);
	int i, p, np = n / 2;

	assert_non_null(t);
	for (i = 0; i < n; i++) {
		p = i / 2;
		if (i % 2 == 0)
			used += (size_t)snprintf(
			    t + used, cap - used,
			    "%040d 10.0.%d.%d:6379@16379 %smaster - 0 0 %d "
			    "connected %d-%d\n",
			    i, i / 256, i % 256, i == self ? "myself," : "",
			    p + 1, SP_SLOTS * p / np,
			    SP_SLOTS * (p + 1) / np - 1);
		else
			used += (size_t)snprintf(
			    t + used, cap - used,
			    "%040d 10.0.%d.%d:6379@16379 %sslave %040d 0 0 %d "
			    "connected\n",
			    i, i / 256, i % 256, i == self ? "myself," : "",
			    i - 1, p + 1);
	}
	return t;
}

static void test_large_cluster_is_checked_by_id(void **state)
{
	sp_check_opts o = {SCALE_NODES, SCALE_NODES / 2, 1, 0};
	sp_cluster c = {0};
	sp_findings out = {0};
	sp_error err;
	char host[32], *text;
	int i;

	(void)state;
	for (i = 0; i < SCALE_NODES; i++) {
		sp_node_state *n;

		snprintf(host, sizeof(host), "10.0.%d.%d", i / 256, i % 256);
		n = sp_cluster_add(&c, host, 6379);
		assert_non_null(n);
		text = synthetic_nodes(SCALE_NODES, i);
		assert_int_equal(
		    sp_view_parse(&n->view, text, strlen(text), &err), SP_OK);
		free(text);
		sp_node_state_set_info(n, "cluster_state:ok\r\n", NULL);
		snprintf(n->id, sizeof(n->id), "%s",
			 sp_view_self(&n->view)->id);
		n->reachable = 1;
	}
	assert_int_equal(sp_check_cluster(&c, &o, &out, &err), SP_OK);
	assert_int_equal(out.n, 0);
	/* The last node forgets the first: one finding, not one per view. */
	sp_view_free(&c.nodes[SCALE_NODES - 1].view);
	text = synthetic_nodes(SCALE_NODES, SCALE_NODES - 1);
	assert_int_equal(sp_view_parse(&c.nodes[SCALE_NODES - 1].view,
				       strchr(text, '\n') + 1,
				       strlen(strchr(text, '\n') + 1), &err),
			 SP_OK);
	free(text);
	assert_int_equal(sp_check_cluster(&c, &o, &out, &err), SP_OK);
	assert_int_equal(count_code(&out, "membership-disagree"), 1);
	assert_int_equal(count_code(&out, "owners-disagree"), 1);
	assert_int_equal(out.n, 2);
	sp_findings_free(&out);
	sp_cluster_free(&c);
}

static void test_reachable_node_without_myself_line(void **state)
{
	sp_cluster c = {0};
	sp_findings out = {0};
	sp_error err;
	sp_node_state *n;

	(void)state;
	n = sp_cluster_add(&c, "127.0.0.1", 7000);
	n->reachable = 1;
	assert_int_equal(sp_check_cluster(&c, NULL, &out, &err), SP_OK);
	assert_int_equal(count_code(&out, "slots-uncovered"), 1);
	assert_int_equal(count_code(&out, "state-not-ok"), 1);
	sp_findings_free(&out);
	sp_cluster_free(&c);
}

static void test_findings_count_errors_only(void **state)
{
	sp_findings f = {0};
	int i;

	(void)state;
	for (i = 0; i < 40; i++)
		assert_int_equal(
		    sp_findings_add(&f, "x", i % 2 ? SP_SEV_ERR : SP_SEV_WARN,
				    i, NULL, "n%d", i),
		    SP_OK);
	assert_int_equal(f.n, 40);
	assert_int_equal(sp_findings_errors(&f), 20);
	assert_string_equal(f.items[39].msg, "n39");
	assert_string_equal(f.items[39].node, "");
	sp_findings_free(&f);
	sp_findings_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_node_has_empty_view),
	    cmocka_unit_test(test_find_by_id_and_addr),
	    cmocka_unit_test(test_info_of_a_primary),
	    cmocka_unit_test(test_info_of_a_replica_uses_its_own_offset),
	    cmocka_unit_test(test_malformed_info_reads_as_absent),
	    cmocka_unit_test(test_primaries_sorted_by_address),
	    cmocka_unit_test(test_claims_come_from_own_lines),
	    cmocka_unit_test(test_healthy_cluster_has_no_findings),
	    cmocka_unit_test(test_empty_cluster_has_no_findings),
	    cmocka_unit_test(test_migrating_and_importing_slots_are_open),
	    cmocka_unit_test(test_unassigned_slots_are_uncovered),
	    cmocka_unit_test(test_slot_claimed_by_two_primaries),
	    cmocka_unit_test(test_unreachable_node_is_an_error),
	    cmocka_unit_test(test_failed_over_primary_is_reported_once),
	    cmocka_unit_test(test_foreign_node_is_its_own_finding),
	    cmocka_unit_test(
		test_failed_over_primary_leaves_one_without_replica),
	    cmocka_unit_test(test_pfail_in_one_view_is_an_error),
	    cmocka_unit_test(test_fail_in_one_view_is_an_error),
	    cmocka_unit_test(test_stale_view_disagrees_on_owners),
	    cmocka_unit_test(test_view_missing_an_owner_disagrees),
	    cmocka_unit_test(test_node_forgotten_by_one_node),
	    cmocka_unit_test(
		test_node_forgotten_by_one_node_and_listed_twice_by_another),
	    cmocka_unit_test(test_replica_seen_as_primary_disagrees_on_roles),
	    cmocka_unit_test(test_cluster_state_fail_is_reported),
	    cmocka_unit_test(test_primaries_sharing_config_epoch_collide),
	    cmocka_unit_test(test_empty_primaries_at_epoch_zero_do_not_collide),
	    cmocka_unit_test(test_node_and_primary_counts_are_checked),
	    cmocka_unit_test(test_too_few_replicas_per_primary),
	    cmocka_unit_test(test_handshake_is_a_warning_not_a_node),
	    cmocka_unit_test(test_every_slot_open_gives_bounded_findings),
	    cmocka_unit_test(test_large_cluster_is_checked_by_id),
	    cmocka_unit_test(test_reachable_node_without_myself_line),
	    cmocka_unit_test(test_findings_count_errors_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
