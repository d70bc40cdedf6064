"""slotpilot add-node / remove-node / failover (and gather on > 8 nodes), end to end.

Oracles are independent of the binary: each node's own CLUSTER NODES and
CLUSTER INFO (membership, roles, slot ranges, reset state), INFO replication
(replica links), redis-py's RedisCluster (every key readable, no error
surfaced to a live client) and `redis-cli --cluster check`.

Clusters use cluster-node-timeout 2000 (the harness default). Every
remove-node run passes --journal-dir under tmp_path.
"""

import signal
import threading
import time

from conftest import (follow_redirects_to_new_primaries, verify_keys as shared_verify_keys, load_keys, spread_keys, HOST, assert_rc, describe, run_sp, sp_json, wait_cluster_healthy,
                      wait_until)
from conftest import checks_pass, jdir, redis_cli_cluster as cluster  # shared helpers
from conftest import node_cluster_client, redis_cli  # TLS-aware (SLOTPILOT_TLS)

NSLOTS = 16384
RUN_TIMEOUT = 240  # bound on any single slotpilot run (never a timed assertion)
UNKNOWN_ID = "0123456789abcdef0123456789abcdef01234567"


# ---------------------------------------------------------------------------
# keys


def cluster_client(entry):
    """RedisCluster with the redis-py 4.3 redirect fix (see conftest)."""
    return follow_redirects_to_new_primaries(
        node_cluster_client(entry, socket_timeout=10, socket_connect_timeout=5))


def verify_keys(entry, expected, what="keys"):
    """Every key readable, through this module's cluster client."""
    shared_verify_keys(entry, expected, what, client=cluster_client)


def wait_replication(nodes):
    """Primaries' writes acknowledged by their replicas (WAIT)."""
    for n in nodes:
        me = myself(n)
        if not me["primary"]:
            continue
        nrepl = int(n.client().info("replication").get("connected_slaves", 0))
        if nrepl:
            got = n.client().execute_command("WAIT", nrepl, 15000)
            assert got >= nrepl, "WAIT on %s: %s of %d replicas" % (n.addr, got, nrepl)


# ---------------------------------------------------------------------------
# cluster views


def myself(node):
    return [v for v in node.cluster_nodes() if v["myself"]][0]


def known_ids(node):
    return {v["id"] for v in node.cluster_nodes()}


def membership(nodes):
    """{addr: sorted ids known} for each node (what a refused add-node must not change)."""
    return {n.addr: sorted(known_ids(n)) for n in nodes}


def topology(node):
    """From node's view: {primary id: {"addr", "slots", "replicas": set of ids}}."""
    views = node.cluster_nodes()
    prim = {v["id"]: {"addr": v["addr"], "slots": sorted(v["slots"]), "replicas": set()}
            for v in views if v["primary"] and not (v["flags"] & {"fail", "fail?"})}
    for v in views:
        if not v["primary"] and v["master"] in prim:
            prim[v["master"]]["replicas"].add(v["id"])
    return prim


def assert_same_topology_everywhere(nodes, want=None):
    """Every node reports the same primaries/replicas/slots; return it."""
    def agreed():
        tops = [topology(n) for n in nodes]
        if not all(t == tops[0] for t in tops):
            return False
        return want is None or want(tops[0])
    wait_until(agreed, 20, 0.2, "all nodes to agree on the topology")
    return topology(nodes[0])


def link_up(node):
    return node.client().info("replication").get("master_link_status") == "up"


def cli_add_replica(entry, new, primary_id):
    """Attach `new` as a replica with redis-cli (an oracle independent of slotpilot)."""
    p = redis_cli("--cluster", "add-node", new.addr, entry.addr,
                  "--cluster-slave", "--cluster-master-id", primary_id, tls=entry.tls)
    assert p.returncode == 0, "redis-cli --cluster add-node failed: %s\n%s" % (p.stdout, p.stderr)


def primary_by_slot(nodes, slot):
    owner = [v for v in nodes[0].cluster_nodes()
             if v["primary"] and any(a <= slot <= b for a, b in v["slots"])][0]
    return [n for n in nodes if n.addr == owner["addr"]][0]


def replica_nodes_of(nodes, primary):
    pid = primary.myid()
    return [n for n in nodes if n is not primary and myself(n)["master"] == pid]


def assert_forgotten(nodes, node_id, what="removed node"):
    """No (reachable) node of `nodes` lists node_id, now and a moment later."""
    for _ in range(2):
        bad = [n.addr for n in nodes if node_id in known_ids(n)]
        assert not bad, "%s %s still known by %s" % (what, node_id[:8], bad)
        time.sleep(1.0)


def assert_reset(node):
    ci = node.cluster_info()
    assert int(ci["cluster_known_nodes"]) == 1, \
        "%s was not reset: CLUSTER INFO %s" % (node.addr, ci)
    assert int(ci["cluster_slots_assigned"]) == 0, ci


# ---------------------------------------------------------------------------
# running slotpilot


def add_node(entry, new, *args, yes=True, timeout=RUN_TIMEOUT):
    argv = ["add-node", entry.addr, new.addr] + [str(a) for a in args]
    if yes:
        argv.append("--yes")
    return run_sp(*argv, timeout=timeout)


def remove_node(tmp_path, entry, node, *args, yes=True, timeout=RUN_TIMEOUT):
    argv = ["remove-node", entry.addr, node] + [str(a) for a in args] + [
        "--journal-dir", jdir(tmp_path)]
    if yes:
        argv.append("--yes")
    return run_sp(*argv, timeout=timeout)


def failover(entry, node, *args, yes=True, timeout=RUN_TIMEOUT):
    argv = ["failover", entry.addr, node] + [str(a) for a in args]
    if yes:
        argv.append("--yes")
    return run_sp(*argv, timeout=timeout)


# ---------------------------------------------------------------------------
# 1. gather / check / status on more than 8 nodes


def test_check_and_status_on_nine_node_cluster(node_pool):
    nodes = cluster(node_pool, 3, 2)
    assert len(nodes) == 9
    p = run_sp("check", nodes[0].addr, "--expect-nodes", 9, "--expect-primaries", 3,
               "--min-replicas", 2)
    assert_rc(p, 0)
    # from a replica too (a different gather order)
    rep = [n for n in nodes if not myself(n)["primary"]][-1]
    assert_rc(run_sp("check", rep.addr, "--expect-nodes", 9), 0)

    p, st = sp_json("status", nodes[0].addr, rc=0)
    want = {pid: {"addr": t["addr"], "replicas": t["replicas"]}
            for pid, t in topology(nodes[0]).items()}
    assert st.get("nodes") == 9, "status nodes: %r%s" % (st.get("nodes"), describe(p))
    prim = st["primaries"]
    assert len(prim) == 3, "status lists %d primaries%s" % (len(prim), describe(p))
    got = {x["id"]: {"addr": x["addr"], "replicas": {r["id"] for r in x["replicas"]}}
           for x in prim}
    assert got == want, "status %s, CLUSTER NODES %s%s" % (got, want, describe(p))
    assert all(len(x["replicas"]) == 2 for x in prim)
    assert sum(x["slots"] for x in prim) == NSLOTS


# ---------------------------------------------------------------------------
# 2. expand 3+3 -> 4+4 under a live client, then shrink back


def test_expand_with_add_node_and_rebalance_then_remove_node_under_live_client(node_pool,
                                                                               tmp_path):
    nodes = cluster(node_pool, 3, 1)
    kv = spread_keys(6000)
    load_keys(nodes[0], kv)
    keys = list(kv)
    expected = dict(kv)
    state = {"writes": 0, "reads": 0, "errors": [], "stale": [], "phase": "expand",
             "by_phase": {"expand": 0, "shrink": 0}}
    stop = threading.Event()
    lock = threading.Lock()

    def writer():
        rc = cluster_client(nodes[1])
        seq = 0
        try:
            while not stop.is_set():
                k = keys[seq % len(keys)]
                seq += 1
                op = "GET" if seq % 4 == 0 else "SET"
                try:
                    if op == "GET":
                        v = rc.get(k)
                        state["reads"] += 1
                        if v != expected[k]:
                            state["stale"].append((k, v, expected[k]))
                    else:
                        val = b"seq:%d" % seq
                        rc.set(k, val)
                        expected[k] = val  # acknowledged
                        state["writes"] += 1
                        with lock:
                            state["by_phase"][state["phase"]] += 1
                except Exception as e:  # noqa: BLE001 - every surfaced error is a failure
                    state["errors"].append("%s (%s) %r: %r" % (op, state["phase"], k, e))
                    if len(state["errors"]) > 50:
                        return
                time.sleep(0.001)
        finally:
            rc.close()

    new_p, new_r = node_pool.start(2)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        pa = add_node(nodes[0], new_p)
        assert_rc(pa, 0)
        pr = add_node(nodes[0], new_r, "--replica-of", new_p.addr)
        assert_rc(pr, 0)
        pb = run_sp("rebalance", nodes[0].addr, "--use-empty-masters", "--journal-dir",
                    jdir(tmp_path), "--yes", timeout=RUN_TIMEOUT)
        assert_rc(pb, 0)
        time.sleep(0.5)
        expand_errors = list(state["errors"])
        with lock:
            state["phase"] = "shrink"
        new_p_id, new_r_id = new_p.myid(), new_r.myid()
        pd = remove_node(tmp_path, nodes[0], new_p.addr, "--with-replicas")
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
    print("writer: %s" % {k: v for k, v in state.items() if k not in ("errors", "stale")})

    # expand
    assert not expand_errors, "%d errors surfaced to the cluster client during the expand, e.g. %s" % (
        len(expand_errors), expand_errors[:5])
    assert state["by_phase"]["expand"] > 50, "writer made only %d writes during the expand" % (
        state["by_phase"]["expand"])
    # shrink
    assert_rc(pd, 0)
    assert not state["errors"], "%d errors surfaced to the cluster client during the shrink, e.g. %s" % (
        len(state["errors"]), state["errors"][:5])
    assert not state["stale"], "%d reads did not return the last acknowledged write, e.g. %r" % (
        len(state["stale"]), state["stale"][:5])
    verify_keys(nodes[0], expected, "last acknowledged values")
    top = assert_same_topology_everywhere(
        nodes, lambda t: len(t) == 3 and all(len(x["replicas"]) == 1 for x in t.values()))
    assert sum(b - a + 1 for x in top.values() for a, b in x["slots"]) == NSLOTS
    assert sum(n.client().dbsize() for n in nodes if myself(n)["primary"]) == len(kv)
    assert_forgotten(nodes, new_p_id, "removed primary")
    assert_forgotten(nodes, new_r_id, "removed replica")
    assert_reset(new_p)
    assert_reset(new_r)
    checks_pass(nodes[0], "--expect-nodes", 6, "--min-replicas", 1)


def test_expand_3_plus_3_to_4_plus_4_state(node_pool, tmp_path):
    """The 4+4 state after add-node, add-node --replica-of and rebalance (no client)."""
    nodes = cluster(node_pool, 3, 1)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    new_p, new_r = node_pool.start(2)
    assert_rc(add_node(nodes[0], new_p), 0)
    assert_rc(add_node(nodes[0], new_r, "--replica-of", new_p.addr), 0)
    assert myself(new_r)["master"] == new_p.myid()
    assert link_up(new_r), "new replica not synced when add-node returned"
    p = run_sp("rebalance", nodes[0].addr, "--use-empty-masters", "--journal-dir",
               jdir(tmp_path), "--yes", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    allnodes = nodes + [new_p, new_r]
    top = assert_same_topology_everywhere(
        allnodes, lambda t: len(t) == 4 and all(len(x["replicas"]) == 1 for x in t.values()))
    counts = {x["addr"]: sum(b - a + 1 for a, b in x["slots"]) for x in top.values()}
    assert counts[new_p.addr] > 3000, "new primary got %d slots: %s" % (counts[new_p.addr], counts)
    assert top[new_p.myid()]["replicas"] == {new_r.myid()}
    verify_keys(nodes[0], kv)
    checks_pass(nodes[0], "--expect-nodes", 8, "--expect-primaries", 4, "--min-replicas", 1)


# ---------------------------------------------------------------------------
# 3. add-node --replica picks the primary with no replica


def test_add_node_replica_picks_primary_without_replica(node_pool):
    nodes = cluster(node_pool, 3, 0)
    a, b, c = (primary_by_slot(nodes, s) for s in (0, 8000, 16383))
    ra, rc_ = node_pool.start(2)
    cli_add_replica(a, ra, a.myid())
    cli_add_replica(a, rc_, c.myid())
    allnodes = nodes + [ra, rc_]
    wait_cluster_healthy(allnodes)
    assert topology(a)[b.myid()]["replicas"] == set()

    new = node_pool.start(1)[0]
    p = add_node(a, new, "--replica")
    assert_rc(p, 0)
    assert myself(new)["master"] == b.myid(), (
        "new replica follows %s, expected the primary without replica %s (%s)%s" % (
            myself(new)["master"], b.myid()[:8], b.addr, describe(p)))
    assert link_up(new), "new replica not synced when add-node returned" + describe(p)
    assert_same_topology_everywhere(
        allnodes + [new], lambda t: all(len(x["replicas"]) == 1 for x in t.values()))
    checks_pass(a, "--expect-nodes", 6, "--min-replicas", 1)


# ---------------------------------------------------------------------------
# 4. two replicas in quick succession (REPLICATE right after MEET)


def test_add_two_replicas_in_quick_succession(node_pool):
    nodes = cluster(node_pool, 3, 0)
    r1, r2 = node_pool.start(2)
    p1 = add_node(nodes[0], r1, "--replica")
    p2 = add_node(nodes[0], r2, "--replica")
    for p in (p1, p2):
        assert "unknown node" not in (p.stdout + p.stderr).lower(), describe(p)
        assert_rc(p, 0)
    m1, m2 = myself(r1)["master"], myself(r2)["master"]
    assert m1 and m2 and m1 != m2, "both replicas follow %s / %s: expected two different primaries" % (
        m1, m2)
    assert link_up(r1) and link_up(r2)
    checks_pass(nodes[0], "--expect-nodes", 5)


def test_add_primary_then_its_replica_right_after(node_pool):
    """--replica-of a node that joined a moment ago (it may not know the primary yet)."""
    nodes = cluster(node_pool, 3, 0)
    np_, nr = node_pool.start(2)
    p1 = add_node(nodes[0], np_)
    p2 = add_node(nodes[2], nr, "--replica-of", np_.myid())
    for p in (p1, p2):
        assert "unknown node" not in (p.stdout + p.stderr).lower(), describe(p)
        assert_rc(p, 0)
    assert myself(nr)["master"] == np_.myid()
    assert link_up(nr)
    assert_same_topology_everywhere(nodes + [np_, nr])
    checks_pass(nodes[0], "--expect-nodes", 5)


def test_add_node_again_for_joined_node_is_fine(node_pool):
    nodes = cluster(node_pool, 3, 0)
    new = node_pool.start(1)[0]
    assert_rc(add_node(nodes[0], new), 0)
    before = membership(nodes + [new])
    p = add_node(nodes[1], new)
    assert_rc(p, 0)
    assert membership(nodes + [new]) == before
    checks_pass(nodes[0], "--expect-nodes", 4)


# ---------------------------------------------------------------------------
# 5. add-node refuses non-empty nodes


def test_add_node_refuses_node_with_key_or_in_another_cluster(node_pool):
    nodes = cluster(node_pool, 3, 0)
    with_key, other1, other2 = node_pool.start(3)
    # a key on an otherwise fresh node: serve the slots, SET, give the slots back
    with_key.cli("CLUSTER", "ADDSLOTSRANGE", 0, NSLOTS - 1)
    wait_until(lambda: with_key.client().set(b"stray", b"1"), 20, 0.1, "SET on the lone node")
    with_key.cli("CLUSTER", "DELSLOTSRANGE", 0, NSLOTS - 1)
    assert with_key.client().dbsize() == 1
    assert int(with_key.cluster_info()["cluster_known_nodes"]) == 1
    # a two-node cluster of its own
    other1.cli("CLUSTER", "ADDSLOTSRANGE", 0, NSLOTS - 1)
    other1.cli("CLUSTER", "MEET", HOST, other2.port)
    wait_until(lambda: all(int(n.cluster_info()["cluster_known_nodes"]) == 2 and
                           n.cluster_info()["cluster_state"] == "ok" for n in (other1, other2)),
               20, 0.1, "the other cluster to form")

    cases = [("holding a key", with_key), ("in another cluster", other2),
             ("owning slots of another cluster", other1)]
    before = membership(nodes)
    strangers = [n for _, n in cases]
    stranger_before = membership(strangers)
    for what, n in cases:
        p = add_node(nodes[0], n)
        assert_rc(p, 4)
        assert n.addr in p.stderr, "message does not name %s (%s)%s" % (n.addr, what, describe(p))
        for replica_flag in (["--replica"], ["--replica-of", nodes[1].addr]):
            pr = add_node(nodes[0], n, *replica_flag)
            assert_rc(pr, 4)
    time.sleep(1.0)  # a MEET would show up by now
    assert membership(nodes) == before, "a refused add-node changed the cluster membership"
    assert membership(strangers) == stranger_before, "a refused add-node changed the refused nodes"
    assert with_key.client().dbsize() == 1
    assert myself(other2)["primary"] and myself(with_key)["primary"]
    checks_pass(nodes[0], "--expect-nodes", 3)


# ---------------------------------------------------------------------------
# 6. remove a dead node by id


def test_remove_killed_replica_by_id(node_pool, tmp_path):
    nodes = cluster(node_pool, 3, 1)
    victim = [n for n in nodes if not myself(n)["primary"]][0]
    vid = victim.myid()
    others = [n for n in nodes if n is not victim]
    victim.kill(signal.SIGKILL)
    wait_until(lambda: all(any(v["id"] == vid and "fail" in v["flags"] for v in n.cluster_nodes())
                           for n in others), 30, 0.2, "the killed replica to be flagged fail")

    p = remove_node(tmp_path, others[0], vid)
    assert_rc(p, 0)
    assert_forgotten(others, vid, "dead replica")
    top = assert_same_topology_everywhere(others)
    assert len(top) == 3
    checks_pass(others[0], "--expect-nodes", 5)


def test_remove_replica_killed_a_moment_ago_before_any_peer_flags_it(node_pool, tmp_path):
    """Dead means dead: a replica slotpilot cannot reach is not counted
    against cluster-migration-barrier, so it can be removed at once, before
    its peers flag it pfail or fail (node timeout)."""
    nodes = cluster(node_pool, 3, 1)
    victim = [n for n in nodes if not myself(n)["primary"]][0]
    vid = victim.myid()
    others = [n for n in nodes if n is not victim]
    victim.kill(signal.SIGKILL)  # returns once the process is gone
    assert not victim.alive()
    p = remove_node(tmp_path, others[0], vid)
    assert_rc(p, 0)
    assert_forgotten(others, vid, "dead replica")
    checks_pass(others[0], "--expect-nodes", 5)


def test_remove_refuses_dead_primary_that_owns_slots(node_pool, tmp_path):
    nodes = cluster(node_pool, 3, 0)
    victim = primary_by_slot(nodes, 8000)
    vid = victim.myid()
    others = [n for n in nodes if n is not victim]
    victim.kill(signal.SIGKILL)
    wait_until(lambda: all(any(v["id"] == vid and "fail" in v["flags"] for v in n.cluster_nodes())
                           for n in others), 30, 0.2, "the killed primary to be flagged fail")
    before = membership(others)
    p = remove_node(tmp_path, others[0], vid)
    assert_rc(p, 4)
    assert membership(others) == before, "a refused remove-node changed the membership"
    assert any(v["id"] == vid and v["slots"] for v in others[0].cluster_nodes())


# ---------------------------------------------------------------------------
# 7. remove-node refusals


def test_remove_replica_below_migration_barrier_refused_then_forced(node_pool, tmp_path):
    nodes = cluster(node_pool, 3, 1)
    rep = [n for n in nodes if not myself(n)["primary"]][0]
    rid = rep.myid()
    before = membership(nodes)

    p = remove_node(tmp_path, nodes[0], rep.addr)
    assert_rc(p, 4)
    assert "barrier" in (p.stdout + p.stderr).lower(), "message does not mention the barrier" + \
        describe(p)
    time.sleep(0.5)
    assert membership(nodes) == before, "a refused remove-node changed the membership"
    assert link_up(rep)

    p = remove_node(tmp_path, nodes[0], rid, "--force")
    assert_rc(p, 0)
    rest = [n for n in nodes if n is not rep]
    assert_forgotten(rest, rid, "forced replica")
    assert_reset(rep)
    checks_pass(rest[0], "--expect-nodes", 5)


def test_remove_node_unknown_node_and_no_yes_exit_2(node_pool, tmp_path):
    nodes = cluster(node_pool, 3, 1)
    rep = [n for n in nodes if not myself(n)["primary"]][0]
    prim = primary_by_slot(nodes, 0)
    new = node_pool.start(1)[0]
    before = membership(nodes)

    # --wait 1: a name no member knows is looked for during min(--wait,
    # 5 s), in case a MEET is in flight.
    for node in (UNKNOWN_ID, "127.0.0.1:1", "ffffff"):
        p = remove_node(tmp_path, nodes[0], node, "--wait", 1)
        assert_rc(p, 2)
        assert "slotpilot: " in p.stderr, describe(p)
    for p in (remove_node(tmp_path, nodes[0], rep.addr, "--force", yes=False),
              remove_node(tmp_path, nodes[0], prim.addr, yes=False),
              add_node(nodes[0], new, yes=False),
              add_node(nodes[0], new, "--replica", yes=False),
              failover(nodes[0], prim.addr, yes=False)):
        assert_rc(p, 2)
        assert "slotpilot: " in p.stderr, describe(p)
    time.sleep(0.5)
    assert membership(nodes) == before, "a refused command changed the membership"
    assert int(new.cluster_info()["cluster_known_nodes"]) == 1
    assert myself(prim)["primary"], "failover without --yes swapped roles"
    checks_pass(nodes[0], "--expect-nodes", 6, "--min-replicas", 1)


# ---------------------------------------------------------------------------
# 8. failover


def swap_not_seen(nodes, old_primary_id, new_primary_id):
    """Nodes whose view is not yet: new primary a master, old primary its replica."""
    out = []
    for n in nodes:
        views = {v["id"]: v for v in n.cluster_nodes()}
        new, old = views[new_primary_id], views[old_primary_id]
        if not (new["primary"] and not old["primary"] and old["master"] == new_primary_id):
            out.append("%s sees %s as %s and %s as %s of %s" % (
                n.addr, new_primary_id[:8], sorted(new["flags"]), old_primary_id[:8],
                sorted(old["flags"]), (old["master"] or "-")[:8]))
    return out


def test_failover_of_primary_swaps_roles(node_pool):
    nodes = cluster(node_pool, 3, 1)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    wait_replication(nodes)
    prim = primary_by_slot(nodes, 8000)
    pid = prim.myid()
    slots_before = topology(nodes[0])[pid]["slots"]
    rep = replica_nodes_of(nodes, prim)[0]
    rid = rep.myid()

    p = failover(nodes[0], prim.addr)
    assert_rc(p, 0)
    not_seen = swap_not_seen(nodes, pid, rid)  # right when the command returned
    wait_until(lambda: not swap_not_seen(nodes, pid, rid), 20, 0.2, "every node to see the swap")
    assert topology(nodes[0])[rid]["slots"] == slots_before
    wait_until(lambda: link_up(prim), 20, 0.2, "the old primary to sync from the new one")
    checks_pass(nodes[0], "--expect-nodes", 6, "--min-replicas", 1)
    verify_keys(nodes[0], kv)
    # the command waits until every node sees the swap
    assert not not_seen, "when failover returned, not every node saw the swap: %s%s" % (
        not_seen, describe(p))


def test_failover_naming_a_replica_promotes_it(node_pool):
    nodes = cluster(node_pool, 3, 1)
    prim = primary_by_slot(nodes, 0)
    pid = prim.myid()
    rep = replica_nodes_of(nodes, prim)[0]
    rid = rep.myid()
    p = failover(nodes[1], rid[:10])
    assert_rc(p, 0)
    not_seen = swap_not_seen(nodes, pid, rid)
    wait_until(lambda: not swap_not_seen(nodes, pid, rid), 20, 0.2, "every node to see the swap")
    checks_pass(nodes[0], "--expect-nodes", 6, "--min-replicas", 1)
    assert not not_seen, "when failover returned, not every node saw the swap: %s%s" % (
        not_seen, describe(p))


# ---------------------------------------------------------------------------
# 9. remove-node --failover-first


def test_remove_primary_failover_first_moves_no_slot(node_pool, tmp_path):
    nodes = cluster(node_pool, 3, 1)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    wait_replication(nodes)
    prim = primary_by_slot(nodes, 8000)
    pid = prim.myid()
    rep = replica_nodes_of(nodes, prim)[0]
    rid = rep.myid()
    before = topology(nodes[0])
    slots_before = {x["addr"]: x["slots"] for x in before.values()}

    p = remove_node(tmp_path, nodes[0], pid[:8], "--failover-first")
    assert_rc(p, 0)
    rest = [n for n in nodes if n is not prim]
    top = assert_same_topology_everywhere(rest)
    assert myself(rep)["primary"], "the replica did not become primary" + describe(p)
    assert rid in top, "the promoted replica %s is not a primary in the cluster's view" % rid[:8]
    slots_after = {x["addr"]: x["slots"] for x in top.values()}
    want = dict(slots_before)
    want[rep.addr] = want.pop(prim.addr)
    assert slots_after == want, "slots moved: before %s, after %s%s" % (
        slots_before, slots_after, describe(p))
    assert_forgotten(rest, pid, "old primary")
    assert_reset(prim)
    verify_keys(rest[0], kv)
    assert sum(n.client().dbsize() for n in rest if myself(n)["primary"]) == len(kv)
    checks_pass(rest[0], "--expect-nodes", 5, "--expect-primaries", 3)
