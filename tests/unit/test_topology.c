/*
 * test_topology.c - CLUSTER NODES parsing, against replies captured from a
 * real Redis 7.0.15 cluster (tests/fixtures/cluster_nodes_*.txt, embedded
 * below so the test runs from any directory) and against malformed text,
 * which must be refused with SP_ERR_PROTOCOL and never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/topology.h"

/*
 * Captured with redis-cli CLUSTER NODES from a 3+3 cluster on ports
 * 31701..31706 (31702 with cluster-announce-hostname, 31706 with
 * cluster-replica-no-failover), after CLUSTER SETSLOT ... MIGRATING /
 * IMPORTING, a CLUSTER MEET over ::1 and to a dead port, killing nodes,
 * and restarting one with a new id (which makes the old entry noaddr).
 */
/* tests/fixtures/cluster_nodes_healthy_primary.txt */
static const char HEALTHY_PRIMARY[] =
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795315960085 3 connected 10923-16383\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795315959383 2 connected 5461-10922\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce 127.0.0.1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795315959383 3 connected\n"
    "dd7a536a19319df8fd66cbb33197a56359fa46fa 127.0.0.1:31704@41704 slave "
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795315960086 2 connected\n"
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 0 "
    "1795315959383 1 connected\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 127.0.0.1:31701@41701 "
    "myself,master - 0 1795315959000 1 connected 0-5460\n";

/* tests/fixtures/cluster_nodes_healthy_replica.txt */
static const char HEALTHY_REPLICA[] =
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 0 "
    "1795315960122 1 connected\n"
    "dd7a536a19319df8fd66cbb33197a56359fa46fa 127.0.0.1:31704@41704 "
    "myself,slave a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795315960000 "
    "2 connected\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 127.0.0.1:31701@41701 master "
    "- 0 1795315960122 1 connected 0-5460\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce 127.0.0.1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795315960122 3 connected\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795315960222 2 connected 5461-10922\n"
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795315960122 3 connected 10923-16383\n";

/* tests/fixtures/cluster_nodes_open_slots.txt */
static const char OPEN_SLOTS[] =
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795315960085 3 connected 10923-16383\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795315960389 2 connected 5461-10922\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce 127.0.0.1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795315960390 3 connected\n"
    "dd7a536a19319df8fd66cbb33197a56359fa46fa 127.0.0.1:31704@41704 slave "
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795315960086 2 connected\n"
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 0 "
    "1795315960390 1 connected\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 127.0.0.1:31701@41701 "
    "myself,master - 0 1795315960000 1 connected 0-5460 "
    "[100->-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e] "
    "[101->-23a00f9d7d589507832b40785bda43a13cb92ce3] "
    "[6000-<-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e]\n";

/* tests/fixtures/cluster_nodes_handshake.txt */
static const char HANDSHAKE[] =
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795315963099 3 connected 10923-16383\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795315963400 2 connected 5461-10922\n"
    "d0d3b66a4bdddee40d5d2660625aa99e3f5fba28 127.0.0.1:31799@41799 "
    "handshake - 0 0 0 disconnected\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce 127.0.0.1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795315963400 3 connected\n"
    "3558b871fe96bb026d4c6db47a83bbe20dc44d22 ::1:31707@41707 handshake - "
    "0 0 0 disconnected\n"
    "dd7a536a19319df8fd66cbb33197a56359fa46fa 127.0.0.1:31704@41704 slave "
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795315963099 2 connected\n"
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 0 "
    "1795315963400 1 connected\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 127.0.0.1:31701@41701 "
    "myself,master - 0 1795315963000 1 connected 0-5460 "
    "[100->-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e] "
    "[101->-23a00f9d7d589507832b40785bda43a13cb92ce3] "
    "[6000-<-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e]\n";

/* tests/fixtures/cluster_nodes_ipv6.txt */
static const char IPV6[] =
    "dd7a536a19319df8fd66cbb33197a56359fa46fa ::1:31704@41704 slave "
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795315966187 2 connected\n"
    "d6a55308c9b51d4a4260981a1e4086ff5ce70a10 ::1:31707@41707 "
    "myself,master - 0 1795315966000 0 connected\n"
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795315967090 3 connected 10923-16383\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 ::1:31701@41701 master - 0 "
    "1795315966488 1 connected 0-5460\n"
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 0 "
    "1795315967090 1 connected\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce ::1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795315967090 3 connected\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795315967090 2 connected 5461-10922\n";

/* tests/fixtures/cluster_nodes_fail_noaddr.txt */
static const char FAIL_NOADDR[] =
    "d6a55308c9b51d4a4260981a1e4086ff5ce70a10 :0@0 master,fail,noaddr - "
    "1795315970134 1795315969129 0 disconnected\n"
    "23a00f9d7d589507832b40785bda43a13cb92ce3 127.0.0.1:31703@41703 master "
    "- 0 1795316005332 3 connected 10923-16383\n"
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e "
    "127.0.0.1:31702@41702,node-b.example.internal master - 0 "
    "1795316005332 2 connected 5461-10922\n"
    "de0584a9907ae476d9626d87322392b943d0e6ce 127.0.0.1:31705@41705 slave "
    "23a00f9d7d589507832b40785bda43a13cb92ce3 0 1795316005332 3 connected\n"
    "dd7a536a19319df8fd66cbb33197a56359fa46fa 127.0.0.1:31704@41704 slave "
    "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e 0 1795316005332 2 connected\n"
    "20d52067ef474870cb9f3c3f2ca94379bfe48b1a 127.0.0.1:31706@41706 "
    "slave,fail,nofailover ee17efb69d971e859abab4f20e6c0e26ec9eaa25 "
    "1795315984100 1795315983096 1 disconnected\n"
    "ee17efb69d971e859abab4f20e6c0e26ec9eaa25 127.0.0.1:31701@41701 "
    "myself,master - 0 1795316004000 1 connected 0-5460 "
    "[100->-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e] "
    "[101->-23a00f9d7d589507832b40785bda43a13cb92ce3] "
    "[6000-<-a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e]\n";

/* tests/fixtures/cluster_nodes_pfail.txt */
static const char PFAIL[] =
    "6796f3ba94df6fc8281679a38bdbb44a97b9873b 127.0.0.1:31708@41708 "
    "myself,master - 0 0 1 connected 0-8191\n"
    "f33648e4de5a2ec2c5c696f895096348360facf1 127.0.0.1:31709@41709 "
    "master,fail? - 1795315996504 1795315996000 0 disconnected 8192-16383\n";

/* tests/fixtures/cluster_nodes_fresh_node.txt */
static const char FRESH_NODE[] =
    "1225507e10a5e35b6d40f8de220a51290b5b376f :31710@41710 myself,master - "
    "0 0 0 connected\n";

#define ID_A "ee17efb69d971e859abab4f20e6c0e26ec9eaa25" /* :31701 */
#define ID_B "a6eb48bc2430d10bd58ecadf4c01f6a4b21c356e" /* :31702 */
#define ID_C "23a00f9d7d589507832b40785bda43a13cb92ce3" /* :31703 */
#define ID_D "dd7a536a19319df8fd66cbb33197a56359fa46fa" /* :31704 */
#define ID_F "20d52067ef474870cb9f3c3f2ca94379bfe48b1a" /* :31706 */
#define ID_G "d6a55308c9b51d4a4260981a1e4086ff5ce70a10" /* :31707 */

/* A valid primary line and a valid replica line to build cases from. */
#define LINE_A                                                                 \
	ID_A " 127.0.0.1:31701@41701 myself,master - 0 1795315959000 1 "       \
	     "connected 0-5460"
#define LINE_B                                                                 \
	ID_B " 127.0.0.1:31702@41702 master - 0 1795315959383 2 connected "    \
	     "5461-10922"
#define LINE_D                                                                 \
	ID_D " 127.0.0.1:31704@41704 slave " ID_B " 0 1795315960086 2 "        \
	     "connected"

/* Parses a NUL-terminated text (without its NUL, as it comes off the wire). */
static sp_err parse(sp_view *v, const char *text, sp_error *err)
{
	sp_error_clear(err);
	return sp_view_parse(v, text, strlen(text), err);
}

static void assert_view_empty(const sp_view *v)
{
	int s;

	assert_null(v->nodes);
	assert_int_equal(v->nnodes, 0);
	assert_int_equal(v->myself, -1);
	assert_null(v->open);
	assert_int_equal(v->nopen, 0);
	for (s = 0; s < SP_SLOTS; s++)
		assert_int_equal(v->owner[s], SP_NO_OWNER);
}

/*
 * Checks a refusal: SP_ERR_PROTOCOL, an empty view, and a message naming
 * the line number, the problem and quoting the line.
 */
static void assert_rejected(const char *text, size_t len, int lineno,
			    const char *what, const char *quoted)
{
	sp_view v;
	sp_error err;
	char prefix[64];

	sp_error_clear(&err);
	assert_int_equal(sp_view_parse(&v, text, len, &err), SP_ERR_PROTOCOL);
	assert_int_equal(err.code, SP_ERR_PROTOCOL);
	assert_view_empty(&v);
	snprintf(prefix, sizeof(prefix), "CLUSTER NODES line %d: ", lineno);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0 ||
	    strstr(err.msg, what) == NULL || strstr(err.msg, quoted) == NULL)
		fail_msg("unexpected message: %s", err.msg);
	sp_view_free(&v);
}

static void assert_rejected_str(const char *text, int lineno, const char *what,
				const char *quoted)
{
	assert_rejected(text, strlen(text), lineno, what, quoted);
}

/* ---- valid replies ---- */

static void test_empty_input_is_a_view_of_zero_nodes(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(sp_view_parse(&v, "", 0, &err), SP_OK);
	assert_view_empty(&v);
	assert_int_equal(sp_view_parse(&v, NULL, 0, &err), SP_OK);
	assert_view_empty(&v);
	assert_int_equal(parse(&v, "\n\r\n  \n", &err), SP_OK);
	assert_view_empty(&v);
	sp_view_free(&v);
}

static void test_healthy_cluster_seen_from_a_primary(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *me;
	int s, a, b, c, owned = 0;

	(void)state;
	assert_int_equal(parse(&v, HEALTHY_PRIMARY, &err), SP_OK);
	assert_int_equal(v.nnodes, 6);
	me = sp_view_self(&v);
	assert_non_null(me);
	assert_int_equal(v.myself, 5);
	assert_string_equal(me->id, ID_A);
	assert_string_equal(me->ip, "127.0.0.1");
	assert_int_equal(me->port, 31701);
	assert_int_equal(me->cport, 41701);
	assert_int_equal(me->flags, SP_NF_MYSELF | SP_NF_MASTER);
	assert_string_equal(me->master_id, "");
	assert_int_equal(me->ping_sent, 0);
	assert_int_equal(me->pong_recv, 1795315959000LL);
	assert_int_equal(me->config_epoch, 1);
	assert_true(me->connected);
	a = sp_view_find(&v, ID_A);
	b = sp_view_find(&v, ID_B);
	c = sp_view_find(&v, ID_C);
	assert_int_equal(v.nodes[a].nslots, 5461);
	assert_int_equal(v.nodes[b].nslots, 5462);
	assert_int_equal(v.nodes[c].nslots, 5461);
	for (s = 0; s < SP_SLOTS; s++) {
		assert_int_equal(v.owner[s], s <= 5460	  ? a
					     : s <= 10922 ? b
							  : c);
		owned += v.owner[s] != SP_NO_OWNER;
	}
	assert_int_equal(owned, SP_SLOTS);
	assert_int_equal(v.nopen, 0);
	sp_view_free(&v);
	assert_view_empty(&v);
}

static void test_replicas_name_their_primary(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *f;

	(void)state;
	assert_int_equal(parse(&v, HEALTHY_PRIMARY, &err), SP_OK);
	f = &v.nodes[sp_view_find(&v, ID_F)];
	assert_int_equal(f->flags, SP_NF_SLAVE | SP_NF_NOFAILOVER);
	assert_string_equal(f->master_id, ID_A);
	assert_int_equal(f->nslots, 0);
	assert_false(sp_node_is_primary(f));
	assert_true(sp_node_is_primary(&v.nodes[sp_view_find(&v, ID_C)]));
	assert_false(sp_node_is_primary(NULL));
	sp_view_free(&v);
}

static void test_myself_may_be_a_replica(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, HEALTHY_REPLICA, &err), SP_OK);
	assert_int_equal(v.nnodes, 6);
	assert_int_equal(v.myself, 1);
	assert_string_equal(sp_view_self(&v)->id, ID_D);
	assert_int_equal(sp_view_self(&v)->flags, SP_NF_MYSELF | SP_NF_SLAVE);
	assert_string_equal(sp_view_self(&v)->master_id, ID_B);
	sp_view_free(&v);
}

static void test_hostname_follows_the_cluster_port(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *b;

	(void)state;
	assert_int_equal(parse(&v, HEALTHY_PRIMARY, &err), SP_OK);
	b = &v.nodes[sp_view_find(&v, ID_B)];
	assert_string_equal(b->ip, "127.0.0.1");
	assert_int_equal(b->port, 31702);
	assert_int_equal(b->cport, 41702);
	assert_string_equal(b->hostname, "node-b.example.internal");
	assert_string_equal(v.nodes[sp_view_find(&v, ID_C)].hostname, "");
	sp_view_free(&v);
}

static void test_open_slot_markers_are_recorded(void **state)
{
	sp_view v;
	sp_error err;
	int a, b;

	(void)state;
	assert_int_equal(parse(&v, OPEN_SLOTS, &err), SP_OK);
	assert_int_equal(v.nopen, 3);
	assert_int_equal(v.open[0].slot, 100);
	assert_false(v.open[0].importing);
	assert_string_equal(v.open[0].peer, ID_B);
	assert_int_equal(v.open[1].slot, 101);
	assert_false(v.open[1].importing);
	assert_string_equal(v.open[1].peer, ID_C);
	assert_int_equal(v.open[2].slot, 6000);
	assert_true(v.open[2].importing);
	assert_string_equal(v.open[2].peer, ID_B);
	/* A marker is not a claim: ownership is unchanged. */
	a = sp_view_find(&v, ID_A);
	b = sp_view_find(&v, ID_B);
	assert_int_equal(v.owner[100], a);
	assert_int_equal(v.owner[6000], b);
	assert_int_equal(v.nodes[a].nslots, 5461);
	sp_view_free(&v);
}

static void test_importing_marker_on_the_target_myself_line(void **state)
{
	static const char text[] =
	    ID_B " 127.0.0.1:31702@41702,node-b.example.internal myself,master"
		 " - 0 1795315959000 2 connected 5461-10922 [100-<-" ID_A "]\n";
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, text, &err), SP_OK);
	assert_int_equal(v.nopen, 1);
	assert_int_equal(v.open[0].slot, 100);
	assert_true(v.open[0].importing);
	assert_string_equal(v.open[0].peer, ID_A);
	assert_int_equal(v.owner[100], SP_NO_OWNER);
	sp_view_free(&v);
}

static void test_markers_are_accepted_on_any_line(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, LINE_D " [7->-" ID_A "]\n", &err), SP_OK);
	assert_int_equal(v.nopen, 1);
	assert_int_equal(v.open[0].slot, 7);
	sp_view_free(&v);
}

static void test_handshake_nodes_have_zero_times(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *h;

	(void)state;
	assert_int_equal(parse(&v, HANDSHAKE, &err), SP_OK);
	assert_int_equal(v.nnodes, 8);
	h = &v.nodes[sp_view_find(&v,
				  "d0d3b66a4bdddee40d5d2660625aa99e3f5fba28")];
	assert_int_equal(h->flags, SP_NF_HANDSHAKE);
	assert_int_equal(h->port, 31799);
	assert_int_equal(h->pong_recv, 0);
	assert_int_equal(h->config_epoch, 0);
	assert_false(h->connected);
	h = &v.nodes[sp_view_find(&v,
				  "3558b871fe96bb026d4c6db47a83bbe20dc44d22")];
	assert_string_equal(h->ip, "::1");
	assert_int_equal(h->port, 31707);
	assert_int_equal(v.nopen, 3);
	sp_view_free(&v);
}

static void test_ipv6_port_is_split_at_the_last_colon(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *me;

	(void)state;
	assert_int_equal(parse(&v, IPV6, &err), SP_OK);
	assert_int_equal(v.nnodes, 7);
	me = sp_view_self(&v);
	assert_string_equal(me->id, ID_G);
	assert_string_equal(me->ip, "::1");
	assert_int_equal(me->port, 31707);
	assert_int_equal(me->cport, 41707);
	assert_int_equal(me->nslots, 0);
	sp_view_free(&v);
	assert_int_equal(parse(&v,
			       ID_G " 2001:db8::7:31707@41707 master - 0 0 "
				    "0 connected\n",
			       &err),
			 SP_OK);
	assert_string_equal(v.nodes[0].ip, "2001:db8::7");
	assert_int_equal(v.nodes[0].port, 31707);
	sp_view_free(&v);
}

static void test_failed_and_noaddr_nodes(void **state)
{
	sp_view v;
	sp_error err;
	const sp_node *g, *f;

	(void)state;
	assert_int_equal(parse(&v, FAIL_NOADDR, &err), SP_OK);
	assert_int_equal(v.nnodes, 7);
	g = &v.nodes[sp_view_find(&v, ID_G)];
	assert_int_equal(g->flags, SP_NF_MASTER | SP_NF_FAIL | SP_NF_NOADDR);
	assert_string_equal(g->ip, "");
	assert_int_equal(g->port, 0);
	assert_int_equal(g->cport, 0);
	assert_int_equal(g->ping_sent, 1795315970134LL);
	assert_false(g->connected);
	f = &v.nodes[sp_view_find(&v, ID_F)];
	assert_int_equal(f->flags, SP_NF_SLAVE | SP_NF_FAIL | SP_NF_NOFAILOVER);
	assert_false(f->connected);
	sp_view_free(&v);
}

static void test_pfail_flag_is_spelled_fail_question_mark(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, PFAIL, &err), SP_OK);
	assert_int_equal(v.nnodes, 2);
	assert_int_equal(v.nodes[1].flags, SP_NF_MASTER | SP_NF_PFAIL);
	assert_false(v.nodes[1].connected);
	assert_int_equal(v.nodes[1].nslots, 8192);
	assert_int_equal(v.owner[16383], 1);
	sp_view_free(&v);
}

static void test_node_that_does_not_know_its_ip(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, FRESH_NODE, &err), SP_OK);
	assert_int_equal(v.nnodes, 1);
	assert_string_equal(v.nodes[0].ip, "");
	assert_int_equal(v.nodes[0].port, 31710);
	assert_int_equal(v.nodes[0].cport, 41710);
	sp_view_free(&v);
}

static void test_noflags_flag(void **state)
{
	/* Made by hand: Redis prints "noflags" for a node with no flag set. */
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v,
			       ID_G " 10.0.0.7:6379@16379 noflags - 0 0 0 "
				    "disconnected\n",
			       &err),
			 SP_OK);
	assert_int_equal(v.nodes[0].flags, SP_NF_NOFLAGS);
	assert_false(sp_node_is_primary(&v.nodes[0]));
	sp_view_free(&v);
}

static void test_single_slots_and_ranges_mix(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v,
			       ID_A " 127.0.0.1:1@2 master - 0 0 1 "
				    "connected 0 2-3 16383 9-9\n",
			       &err),
			 SP_OK);
	assert_int_equal(v.nodes[0].nslots, 5);
	assert_int_equal(v.owner[0], 0);
	assert_int_equal(v.owner[1], SP_NO_OWNER);
	assert_int_equal(v.owner[3], 0);
	assert_int_equal(v.owner[9], 0);
	assert_int_equal(v.owner[16383], 0);
	sp_view_free(&v);
}

static void test_crlf_and_missing_final_newline_are_tolerated(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, LINE_A "\r\n" LINE_B, &err), SP_OK);
	assert_int_equal(v.nnodes, 2);
	assert_int_equal(v.nodes[1].nslots, 5462);
	assert_int_equal(v.owner[10922], 1);
	sp_view_free(&v);
}

static void test_extra_spaces_and_empty_lines_are_tolerated(void **state)
{
	static const char text[] =
	    "\n" ID_A "  127.0.0.1:31701@41701 myself,master -   0 0 1 "
	    "connected  0-1 \n\n\r\n" LINE_D "\n\n";
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, text, &err), SP_OK);
	assert_int_equal(v.nnodes, 2);
	assert_int_equal(v.nodes[0].nslots, 2);
	assert_string_equal(v.nodes[1].id, ID_D);
	sp_view_free(&v);
}

static void test_input_is_not_read_past_len(void **state)
{
	/* The length ends the text inside "0-5460", leaving "0-54". */
	static const char text[] = LINE_A "\n";
	sp_view v;
	sp_error err;
	char *copy;

	(void)state;
	copy = malloc(strlen(text) - 3); /* no NUL: ASan sees any over-read */
	assert_non_null(copy);
	memcpy(copy, text, strlen(text) - 3);
	assert_int_equal(sp_view_parse(&v, copy, strlen(text) - 3, &err),
			 SP_OK);
	assert_int_equal(v.nodes[0].nslots, 55);
	assert_int_equal(v.owner[54], 0);
	assert_int_equal(v.owner[55], SP_NO_OWNER);
	sp_view_free(&v);
	free(copy);
}

/* ---- malformed replies ---- */

static void test_wrong_field_count_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0\n", 1,
			    "6 fields, expected at least 8",
			    "\"" ID_A " 127.0.0.1:1@2 master - 0 0\"");
}

static void test_short_id_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(
	    "ee17efb69d971e859abab4f20e6c0e26ec9eaa2 "
	    "127.0.0.1:1@2 master - 0 0 1 connected\n",
	    1, "bad node id \"ee17efb69d971e859abab4f20e6c0e26ec9eaa2\"",
	    "127.0.0.1:1@2 master");
}

static void test_non_hex_id_is_refused(void **state)
{
	(void)state;
	assert_rejected_str("ge17efb69d971e859abab4f20e6c0e26ec9eaa25 "
			    "127.0.0.1:1@2 master - 0 0 1 connected\n",
			    1, "bad node id", "ge17efb69d971e859abab");
}

static void test_bad_port_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:70000@41701 master - 0 0 1 "
				 "connected\n",
			    1, "bad address \"127.0.0.1:70000@41701\"", ID_A);
	assert_rejected_str(ID_A " 127.0.0.1:port@41701 master - 0 0 1 "
				 "connected\n",
			    1, "bad address", "127.0.0.1:port@41701");
	assert_rejected_str(ID_A " 127.0.0.1:@41701 master - 0 0 1 "
				 "connected\n",
			    1, "bad address", "127.0.0.1:@41701");
	assert_rejected_str(ID_A " 127.0.0.1:31701@-1 master - 0 0 1 "
				 "connected\n",
			    1, "bad address", "127.0.0.1:31701@-1");
}

static void test_address_without_cluster_port_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:31701 master - 0 0 1 connected\n",
			    1, "bad address \"127.0.0.1:31701\"", ID_A);
	assert_rejected_str(ID_A " 127.0.0.1@41701 master - 0 0 1 connected\n",
			    1, "bad address", ID_A);
}

static void test_bad_hostname_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 1.2.3.4:1@2,a/b master - 0 0 1 connected\n",
			    1, "bad address", "1.2.3.4:1@2,a/b");
}

static void test_unknown_flag_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 myself,primary - 0 0 1 "
				 "connected\n",
			    1, "unknown flag \"primary\"", "myself,primary");
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master,,fail - 0 0 1 "
				 "connected\n",
			    1, "unknown flag \"\"", "master,,fail");
}

static void test_bad_master_id_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_D " 127.0.0.1:1@2 slave xyz 0 0 1 connected\n",
			    1, "bad master id \"xyz\"", ID_D);
}

static void test_negative_or_non_numeric_counters_are_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - -1 0 1 connected\n",
			    1, "bad ping-sent \"-1\"", ID_A);
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 1e3 1 connected\n",
			    1, "bad pong-recv \"1e3\"", ID_A);
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 "
				 "99999999999999999999 connected\n",
			    1, "bad config-epoch", ID_A);
}

static void test_bad_link_state_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 1 up\n", 1,
			    "bad link-state \"up\"", ID_A);
}

static void test_slot_16384_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 1 connected "
				 "16384\n",
			    1, "bad slot \"16384\"", "connected 16384");
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 1 connected "
				 "0-16384\n",
			    1, "bad slot \"0-16384\"", ID_A);
}

static void test_error_names_the_line_number(void **state)
{
	(void)state;
	assert_rejected_str(LINE_B
			    "\n" LINE_D "\n" ID_C
			    " 127.0.0.1:3@4 master - 0 0 3 connected 99999\n",
			    3, "bad slot \"99999\"", ID_C " 127.0.0.1:3@4");
}

static void test_malformed_slot_fields_are_refused(void **state)
{
	static const char *const bad[] = {"-",	   "1-", "-1",	 "1--2",
					  "1-2-3", "+1", "0x10", "1,2"};
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "%s 127.0.0.1:1@2 master - 0 0 1 connected %s\n", ID_A,
			 bad[i]);
		assert_rejected_str(text, 1, "bad slot", bad[i]);
	}
}

static void test_reversed_range_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 1 connected "
				 "10-5\n",
			    1, "slot range reversed \"10-5\"", ID_A);
}

static void test_slot_claimed_by_two_lines_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(LINE_A "\n" ID_B " 127.0.0.1:31702@41702 master - "
				   "0 0 2 connected 5460-10922\n",
			    2,
			    "slot 5460 in \"5460-10922\" already claimed by "
			    "node " ID_A,
			    ID_B " 127.0.0.1:31702@41702");
}

static void test_slot_claimed_twice_on_one_line_is_refused(void **state)
{
	(void)state;
	assert_rejected_str(ID_A " 127.0.0.1:1@2 master - 0 0 1 connected "
				 "0-10 5\n",
			    1, "slot 5 in \"5\" already claimed by node " ID_A,
			    "0-10 5");
}

static void test_two_myself_lines_are_refused(void **state)
{
	(void)state;
	assert_rejected_str(LINE_A "\n" ID_B " 127.0.0.1:31702@41702 "
				   "myself,master - 0 0 2 connected\n",
			    2, "second \"myself\" line", ID_B);
}

static void test_bad_open_slot_markers_are_refused(void **state)
{
	static const char *const bad[] = {"[100->-abc]",
					  "[100-?-" ID_B "]",
					  "[16384->-" ID_B "]",
					  "[100->-" ID_B,
					  "[",
					  "[]",
					  "[->-" ID_B "]",
					  "[100]",
					  "[100->-" ID_B "x]"};
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s %s\n", LINE_A, bad[i]);
		assert_rejected_str(text, 1, "bad open-slot marker", ID_A);
	}
}

static void test_garbage_bytes_are_refused_and_escaped(void **state)
{
	static const char text[] = "\x00\xff\x01 garbage \"here\"\n";

	(void)state;
	assert_rejected(text, sizeof(text) - 1, 1,
			"3 fields, expected at least 8",
			"\"\\x00\\xff\\x01 garbage \\x22here\\x22\"");
}

static void test_truncated_last_line_is_refused(void **state)
{
	/* The reply stops inside the sixth line's fixed fields. */
	const char *cut = strstr(HEALTHY_PRIMARY, "myself,master - 0");

	(void)state;
	assert_non_null(cut);
	assert_rejected(HEALTHY_PRIMARY,
			(size_t)(cut - HEALTHY_PRIMARY) +
			    strlen("myself,master"),
			6, "3 fields, expected at least 8", ID_A);
}

static void test_long_line_is_quoted_shortened(void **state)
{
	char *text;
	size_t n, i;
	sp_view v;
	sp_error err;

	(void)state;
	n = strlen(LINE_D);
	text = malloc(n + 8 * 2000 + 16);
	assert_non_null(text);
	memcpy(text, LINE_D, n);
	for (i = 0; i < 2000; i++)
		n += (size_t)sprintf(text + n, " %d", (int)i);
	memcpy(text + n, " x\n", 3);
	n += 3;
	assert_int_equal(sp_view_parse(&v, text, n, &err), SP_ERR_PROTOCOL);
	assert_view_empty(&v);
	assert_non_null(strstr(err.msg, "bad slot \"x\""));
	assert_non_null(strstr(err.msg, "...\""));
	assert_true(strlen(err.msg) < 400);
	free(text);
}

/* ---- limits ---- */

/* n lines of distinct primaries with no slots; caller frees. */
static char *many_nodes(size_t n, size_t *len)
{
	static const char rest[] = " 127.0.0.1:1@2 master - 0 0 0 connected\n";
	char *text = malloc(n * (SP_ID_LEN + sizeof(rest)) + 1);
	size_t i, pos = 0;

	assert_non_null(text);
	for (i = 0; i < n; i++)
		pos += (size_t)sprintf(text + pos, "%040zx%s", i, rest);
	*len = pos;
	return text;
}

static void test_32767_nodes_are_accepted(void **state)
{
	size_t len;
	char *text = many_nodes(INT16_MAX, &len);
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(sp_view_parse(&v, text, len, &err), SP_OK);
	assert_int_equal(v.nnodes, INT16_MAX);
	assert_int_equal(
	    sp_view_find(&v, "0000000000000000000000000000000000007ffe"),
	    INT16_MAX - 1);
	sp_view_free(&v);
	free(text);
}

static void test_more_than_32767_nodes_are_refused(void **state)
{
	size_t len;
	char *text = many_nodes(INT16_MAX + 1, &len);

	(void)state;
	assert_rejected(text, len, INT16_MAX + 1, "more than 32767 nodes",
			"0000000000000000000000000000000000007fff");
	free(text);
}

static void test_every_slot_as_its_own_field(void **state)
{
	size_t n = strlen(LINE_D);
	char *text = malloc(n + 6 * SP_SLOTS + 2);
	sp_view v;
	sp_error err;
	int s;

	(void)state;
	assert_non_null(text);
	memcpy(text, LINE_D, n);
	for (s = SP_SLOTS - 1; s >= 0; s--)
		n += (size_t)sprintf(text + n, " %d", s);
	assert_int_equal(sp_view_parse(&v, text, n, &err), SP_OK);
	assert_int_equal(v.nodes[0].nslots, SP_SLOTS);
	sp_view_free(&v);
	free(text);
}

/* ---- robustness ---- */

/* xorshift32: a fixed seed keeps the run reproducible. */
static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Applies one random edit to buf[*len] (capacity cap). */
static void mutate(char *buf, size_t *len, size_t cap, uint32_t *rng)
{
	static const char interesting[] = " \n\r-[]<>,:@?0123456789af\0\xff";
	size_t at = *len ? next_rand(rng) % *len : 0, n;

	switch (next_rand(rng) % 6) {
	case 0: /* overwrite a byte */
		if (*len)
			buf[at] = interesting[next_rand(rng) %
					      (sizeof(interesting) - 1)];
		break;
	case 1: /* random byte */
		if (*len)
			buf[at] = (char)(next_rand(rng) & 0xff);
		break;
	case 2: /* delete a run */
		n = next_rand(rng) % 16;
		if (n > *len - at)
			n = *len - at;
		memmove(buf + at, buf + at + n, *len - at - n);
		*len -= n;
		break;
	case 3: /* duplicate a run */
		n = next_rand(rng) % 64;
		if (n > *len - at)
			n = *len - at;
		if (*len + n <= cap) {
			memmove(buf + at + n, buf + at, *len - at);
			*len += n;
		}
		break;
	case 4: /* truncate */
		*len = at;
		break;
	default: /* insert a byte */
		if (*len < cap) {
			memmove(buf + at + 1, buf + at, *len - at);
			buf[at] = interesting[next_rand(rng) %
					      (sizeof(interesting) - 1)];
			(*len)++;
		}
	}
}

/* What any successful parse must satisfy. */
static void assert_view_consistent(const sp_view *v)
{
	size_t i;
	long long total = 0;
	int s, owned = 0;

	assert_true(v->myself == -1 || (size_t)v->myself < v->nnodes);
	for (s = 0; s < SP_SLOTS; s++) {
		assert_true(v->owner[s] >= SP_NO_OWNER &&
			    v->owner[s] < (int)v->nnodes);
		owned += v->owner[s] != SP_NO_OWNER;
	}
	for (i = 0; i < v->nnodes; i++) {
		total += v->nodes[i].nslots;
		assert_int_equal(strlen(v->nodes[i].id), SP_ID_LEN);
	}
	assert_int_equal(total, owned);
	for (i = 0; i < v->nopen; i++)
		assert_true(v->open[i].slot >= 0 && v->open[i].slot < SP_SLOTS);
}

static void test_mutated_replies_never_crash(void **state)
{
	static const char *const seeds[] = {HEALTHY_PRIMARY, OPEN_SLOTS,
					    HANDSHAKE, FAIL_NOADDR, PFAIL};
	uint32_t rng = 0x5107u;
	char scratch[4096], *exact;
	size_t len, k;
	int i, edits, ok = 0;
	sp_view v;
	sp_error err;
	sp_err r;

	(void)state;
	for (i = 0; i < 20000; i++) {
		len = strlen(seeds[i % 5]);
		memcpy(scratch, seeds[i % 5], len);
		edits = 1 + (int)(next_rand(&rng) % 8);
		for (k = 0; k < (size_t)edits; k++)
			mutate(scratch, &len, sizeof(scratch), &rng);
		/* An exact-size copy, so ASan catches a read past len. */
		exact = malloc(len ? len : 1);
		assert_non_null(exact);
		memcpy(exact, scratch, len);
		sp_error_clear(&err);
		r = sp_view_parse(&v, exact, len, &err);
		if (r == SP_OK) {
			assert_view_consistent(&v);
			ok++;
		} else {
			assert_int_equal(r, SP_ERR_PROTOCOL);
			assert_int_equal(err.code, SP_ERR_PROTOCOL);
			assert_view_empty(&v);
		}
		sp_view_free(&v);
		free(exact);
	}
	/* Some mutations (e.g. truncation at a newline) must stay valid. */
	assert_true(ok > 0);
}

/* ---- lookups and formatting ---- */

static void test_find_and_self_on_missing_things(void **state)
{
	sp_view v;
	sp_error err;

	(void)state;
	assert_int_equal(parse(&v, LINE_B "\n" LINE_D "\n", &err), SP_OK);
	assert_int_equal(sp_view_find(&v, ID_D), 1);
	assert_int_equal(sp_view_find(&v, ID_A), -1);
	assert_int_equal(sp_view_find(&v, ""), -1);
	assert_int_equal(sp_view_find(&v, NULL), -1);
	assert_int_equal(sp_view_find(NULL, ID_D), -1);
	assert_null(sp_view_self(&v));
	assert_null(sp_view_self(NULL));
	sp_view_free(&v);
	sp_view_free(&v); /* freeing an empty view is harmless */
	sp_view_free(NULL);
}

/* The third field of every line of text, compared with sp_flags_format. */
static void assert_flags_round_trip(const char *text)
{
	sp_view v;
	sp_error err;
	char want[128], got[128];
	const char *line = text, *nl;
	size_t i = 0;

	assert_int_equal(parse(&v, text, &err), SP_OK);
	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1, i++) {
		assert_int_equal(sscanf(line, "%*s %*s %127s", want), 1);
		sp_flags_format(v.nodes[i].flags, got, sizeof(got));
		assert_string_equal(got, want);
	}
	assert_int_equal(i, v.nnodes);
	sp_view_free(&v);
}

static void test_flags_format_as_redis_spells_them(void **state)
{
	(void)state;
	assert_flags_round_trip(HEALTHY_PRIMARY);
	assert_flags_round_trip(HANDSHAKE);
	assert_flags_round_trip(FAIL_NOADDR);
	assert_flags_round_trip(PFAIL);
}

static void test_flags_format_noflags_and_truncation(void **state)
{
	char buf[32];

	(void)state;
	sp_flags_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "noflags");
	sp_flags_format(SP_NF_NOFLAGS, buf, sizeof(buf));
	assert_string_equal(buf, "noflags");
	sp_flags_format(SP_NF_MYSELF | SP_NF_MASTER, buf, 8);
	assert_string_equal(buf, "myself,");
	memset(buf, 'x', sizeof(buf));
	sp_flags_format(SP_NF_MASTER, buf, 1);
	assert_string_equal(buf, "");
	sp_flags_format(SP_NF_MASTER, buf, 0);
	assert_int_equal(buf[1], 'x');
	sp_flags_format(SP_NF_MASTER, NULL, 10);
}

static void test_format_ranges_joins_runs(void **state)
{
	static int owner[SP_SLOTS];
	char buf[64];
	int s;

	(void)state;
	for (s = 0; s < SP_SLOTS; s++)
		owner[s] =
		    (s <= 5460 || s == 6000 || s == 7000 || s == 7001) ? 3 : 1;
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, sizeof(buf)), 5464);
	assert_string_equal(buf, "0-5460,6000,7000-7001");
	/* Exactly enough room: nothing is cut. */
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, 22), 5464);
	assert_string_equal(buf, "0-5460,6000,7000-7001");
	assert_int_equal(sp_format_ranges_of(owner, 7, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(sp_format_ranges_of(owner, 3, NULL, 0), 5464);
	assert_int_equal(sp_format_ranges_of(NULL, 3, buf, sizeof(buf)), 0);
}

static void test_format_ranges_cuts_whole_ranges(void **state)
{
	static int owner[SP_SLOTS];
	char buf[64];
	int s;

	(void)state;
	for (s = 0; s < SP_SLOTS; s++)
		owner[s] =
		    (s <= 5460 || s == 6000 || s == 7000 || s == 7001) ? 3 : 1;
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, 21), 5464);
	assert_string_equal(buf, "0-5460,6000...");
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, 10), 5464);
	assert_string_equal(buf, "0-5460...");
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, 3), 5464);
	assert_string_equal(buf, "..");
	assert_int_equal(sp_format_ranges_of(owner, 3, buf, 1), 5464);
	assert_string_equal(buf, "");
	/* Every other slot: the longest text there is, cut cleanly. */
	for (s = 0; s < SP_SLOTS; s++)
		owner[s] = s % 2;
	assert_int_equal(sp_format_ranges_of(owner, 1, buf, sizeof(buf)),
			 SP_SLOTS / 2);
	assert_true(strlen(buf) < sizeof(buf));
	assert_non_null(strstr(buf, "..."));
}

static void test_view_format_ranges(void **state)
{
	sp_view v;
	sp_error err;
	char buf[64];

	(void)state;
	assert_int_equal(parse(&v, HEALTHY_PRIMARY, &err), SP_OK);
	assert_int_equal(
	    sp_view_format_ranges(&v, sp_view_find(&v, ID_B), buf, sizeof(buf)),
	    5462);
	assert_string_equal(buf, "5461-10922");
	assert_int_equal(
	    sp_view_format_ranges(&v, SP_NO_OWNER, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	sp_view_free(&v);
	assert_int_equal(parse(&v,
			       LINE_D "\n" ID_A " 1.2.3.4:1@2 master - 0 0 "
				      "1 connected 0 2-3 16383\n",
			       &err),
			 SP_OK);
	assert_int_equal(sp_view_format_ranges(&v, 1, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "0,2-3,16383");
	assert_int_equal(
	    sp_view_format_ranges(&v, SP_NO_OWNER, buf, sizeof(buf)),
	    SP_SLOTS - 4);
	assert_string_equal(buf, "1,4-16382");
	sp_view_free(&v);
	assert_int_equal(sp_view_format_ranges(NULL, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_input_is_a_view_of_zero_nodes),
	    cmocka_unit_test(test_healthy_cluster_seen_from_a_primary),
	    cmocka_unit_test(test_replicas_name_their_primary),
	    cmocka_unit_test(test_myself_may_be_a_replica),
	    cmocka_unit_test(test_hostname_follows_the_cluster_port),
	    cmocka_unit_test(test_open_slot_markers_are_recorded),
	    cmocka_unit_test(test_importing_marker_on_the_target_myself_line),
	    cmocka_unit_test(test_markers_are_accepted_on_any_line),
	    cmocka_unit_test(test_handshake_nodes_have_zero_times),
	    cmocka_unit_test(test_ipv6_port_is_split_at_the_last_colon),
	    cmocka_unit_test(test_failed_and_noaddr_nodes),
	    cmocka_unit_test(test_pfail_flag_is_spelled_fail_question_mark),
	    cmocka_unit_test(test_node_that_does_not_know_its_ip),
	    cmocka_unit_test(test_noflags_flag),
	    cmocka_unit_test(test_single_slots_and_ranges_mix),
	    cmocka_unit_test(test_crlf_and_missing_final_newline_are_tolerated),
	    cmocka_unit_test(test_extra_spaces_and_empty_lines_are_tolerated),
	    cmocka_unit_test(test_input_is_not_read_past_len),
	    cmocka_unit_test(test_wrong_field_count_is_refused),
	    cmocka_unit_test(test_short_id_is_refused),
	    cmocka_unit_test(test_non_hex_id_is_refused),
	    cmocka_unit_test(test_bad_port_is_refused),
	    cmocka_unit_test(test_address_without_cluster_port_is_refused),
	    cmocka_unit_test(test_bad_hostname_is_refused),
	    cmocka_unit_test(test_unknown_flag_is_refused),
	    cmocka_unit_test(test_bad_master_id_is_refused),
	    cmocka_unit_test(test_negative_or_non_numeric_counters_are_refused),
	    cmocka_unit_test(test_bad_link_state_is_refused),
	    cmocka_unit_test(test_slot_16384_is_refused),
	    cmocka_unit_test(test_error_names_the_line_number),
	    cmocka_unit_test(test_malformed_slot_fields_are_refused),
	    cmocka_unit_test(test_reversed_range_is_refused),
	    cmocka_unit_test(test_slot_claimed_by_two_lines_is_refused),
	    cmocka_unit_test(test_slot_claimed_twice_on_one_line_is_refused),
	    cmocka_unit_test(test_two_myself_lines_are_refused),
	    cmocka_unit_test(test_bad_open_slot_markers_are_refused),
	    cmocka_unit_test(test_garbage_bytes_are_refused_and_escaped),
	    cmocka_unit_test(test_truncated_last_line_is_refused),
	    cmocka_unit_test(test_long_line_is_quoted_shortened),
	    cmocka_unit_test(test_32767_nodes_are_accepted),
	    cmocka_unit_test(test_more_than_32767_nodes_are_refused),
	    cmocka_unit_test(test_every_slot_as_its_own_field),
	    cmocka_unit_test(test_mutated_replies_never_crash),
	    cmocka_unit_test(test_find_and_self_on_missing_things),
	    cmocka_unit_test(test_flags_format_as_redis_spells_them),
	    cmocka_unit_test(test_flags_format_noflags_and_truncation),
	    cmocka_unit_test(test_format_ranges_joins_runs),
	    cmocka_unit_test(test_format_ranges_cuts_whole_ranges),
	    cmocka_unit_test(test_view_format_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
