"""slotpilot create: bootstrap a cluster from empty cluster-enabled nodes."""

import pytest

from conftest import (HOST, assert_rc, cluster_client, describe, make_cluster_with_redis_cli, node_is_empty,
                      redis_cli_check, redis_cli_clean, run_sp, wait_until)


def _snapshot(nodes):
    """What create must not change when it refuses."""
    snap = {}
    for n in nodes:
        ci = n.cluster_info()
        snap[n.addr] = (ci["cluster_known_nodes"], ci["cluster_slots_assigned"],
                        n.client().dbsize(), n.myid())
    return snap


def _assert_layout(nodes, primaries, replicas):
    """Every node: state ok, knows all; `primaries` primaries with even,
    contiguous slot ranges covering all slots, each with `replicas` replicas."""
    for n in nodes:
        ci = n.cluster_info()
        assert ci["cluster_state"] == "ok", (n.addr, ci)
        assert int(ci["cluster_known_nodes"]) == len(nodes), (n.addr, ci)
        assert int(ci["cluster_slots_assigned"]) == 16384, (n.addr, ci)
    view = nodes[0].cluster_nodes()
    prim = [v for v in view if v["primary"]]
    assert len(prim) == primaries, view
    lo, hi = 16384 // primaries, -(-16384 // primaries)
    ranges = []
    for v in prim:
        assert len(v["slots"]) == 1, "slots of %s not one contiguous range: %s" % (v["addr"], v["slots"])
        a, b = v["slots"][0]
        assert lo <= b - a + 1 <= hi, "uneven: %s has %d slots" % (v["addr"], b - a + 1)
        ranges.append((a, b))
        reps = [r for r in view if r["master"] == v["id"]]
        assert len(reps) == replicas, "%s has replicas %s" % (v["addr"], [r["addr"] for r in reps])
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383, ranges
    for (a1, b1), (a2, b2) in zip(ranges, ranges[1:]):
        assert a2 == b1 + 1, ranges


@pytest.fixture(scope="module")
def created6(module_node_pool):
    nodes = module_node_pool.start(6)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "1", "--yes", timeout=120)
    return nodes, p


def test_create_6_nodes_with_1_replica_exits_0(created6):
    nodes, p = created6
    assert_rc(p, 0)


def test_create_6_nodes_passes_redis_cli_check(created6):
    nodes, p = created6
    assert_rc(p, 0)
    for n in nodes:
        rc, out = redis_cli_check(n.addr)
        assert redis_cli_clean(rc, out), "redis-cli check from %s:\n%s" % (n.addr, out)


def test_create_6_nodes_gives_3_primaries_with_1_replica_and_even_contiguous_slots(created6):
    nodes, p = created6
    assert_rc(p, 0)
    _assert_layout(nodes, 3, 1)


def test_create_6_nodes_replicas_follow_their_primary(created6):
    nodes, p = created6
    assert_rc(p, 0)
    view = {v["id"]: v for v in nodes[0].cluster_nodes()}
    for n in nodes:
        me = [v for v in n.cluster_nodes() if v["myself"]][0]
        if me["primary"]:
            continue
        repl = n.client().info("replication")
        master = view[me["master"]]["addr"]
        assert "%s:%s" % (repl["master_host"], repl["master_port"]) == master, repl


def test_create_6_nodes_serves_200_keys_through_redis_cluster_client(created6):
    nodes, p = created6
    assert_rc(p, 0)
    rc = cluster_client(HOST, nodes[0].port, socket_timeout=5)
    try:
        for i in range(200):
            rc.set("key:%d" % i, "value:%d" % i)
        for i in range(200):
            assert rc.get("key:%d" % i) == ("value:%d" % i).encode()
    finally:
        rc.close()
    assert sum(n.client().dbsize() for n in nodes
               if [v for v in n.cluster_nodes() if v["myself"]][0]["primary"]) == 200


def test_create_3_nodes_without_replicas(node_pool):
    nodes = node_pool.start(3)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "0", "--yes", timeout=120)
    assert_rc(p, 0)
    _assert_layout(nodes, 3, 0)
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out), out


def test_create_without_yes_and_no_tty_exits_2_and_changes_nothing(node_pool):
    nodes = node_pool.start(6)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "1")
    assert_rc(p, 2)
    for n in nodes:
        assert node_is_empty(n), "%s changed%s" % (n.addr, describe(p))


def test_create_without_yes_refuses_even_with_yes_piped_on_stdin(node_pool):
    nodes = node_pool.start(3)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "0", input="yes\n")
    assert_rc(p, 2)
    for n in nodes:
        assert node_is_empty(n), "%s changed%s" % (n.addr, describe(p))


def test_create_refuses_node_holding_a_key_exit_4_naming_it(node_pool):
    nodes = node_pool.start(3)
    holder = nodes[1]
    # A cluster node only accepts keys of slots it serves: serve slot 12182
    # for a moment, write "foo" there, then release the slot (the key stays).
    holder.cli("CONFIG", "SET", "cluster-require-full-coverage", "no")
    holder.cli("CLUSTER", "ADDSLOTS", 12182)
    wait_until(lambda: holder.client().set("foo", "bar"), 10, 0.1, "SET on the holder")
    holder.cli("CLUSTER", "DELSLOTS", 12182)
    holder.cli("CONFIG", "SET", "cluster-require-full-coverage", "yes")
    assert holder.client().dbsize() == 1
    before = _snapshot(nodes)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "0", "--yes", timeout=120)
    assert_rc(p, 4)
    assert holder.addr in p.stderr, describe(p)
    assert _snapshot(nodes) == before, "nodes changed" + describe(p)
    assert holder.client().keys("*") == [b"foo"], "the key must survive"


def test_create_refuses_nodes_already_in_a_cluster_exit_4(node_pool):
    nodes = node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    before = _snapshot(nodes)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "0", "--yes", timeout=120)
    assert_rc(p, 4)
    assert any(n.addr in p.stderr for n in nodes), describe(p)
    assert _snapshot(nodes) == before, "nodes changed" + describe(p)


def test_create_refuses_a_cluster_member_among_fresh_nodes_exit_4_naming_it(node_pool):
    members = node_pool.start(3)
    make_cluster_with_redis_cli(members, 0)
    fresh = node_pool.start(2)
    member = members[2]
    allnodes = fresh + [member]
    before = _snapshot(members + fresh)
    p = run_sp("create", *[n.addr for n in allnodes], "--replicas", "0", "--yes", timeout=120)
    assert_rc(p, 4)
    assert member.addr in p.stderr, describe(p)
    assert _snapshot(members + fresh) == before, "nodes changed" + describe(p)


def test_create_too_few_nodes_for_replicas_exits_2(node_pool):
    nodes = node_pool.start(4)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "1", "--yes")
    assert_rc(p, 2)
    for n in nodes:
        assert node_is_empty(n), "%s changed%s" % (n.addr, describe(p))


def test_create_fewer_than_3_primaries_exits_2(node_pool):
    nodes = node_pool.start(2)
    p = run_sp("create", *[n.addr for n in nodes], "--replicas", "0", "--yes")
    assert_rc(p, 2)
    for n in nodes:
        assert node_is_empty(n), "%s changed%s" % (n.addr, describe(p))
