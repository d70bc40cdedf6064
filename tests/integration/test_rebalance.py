"""slotpilot rebalance / plan rebalance / apply, end to end.

Oracles are independent of the binary: each node's own CLUSTER NODES and
CLUSTER SLOTS (slot owners, no open slot), redis-py's RedisCluster (every key
readable with its value), DBSIZE per primary, `redis-cli --cluster check`,
and `redis-cli --cluster rebalance` itself for the parity test.

Every slotpilot run passes --journal-dir under tmp_path. Clusters with an
uneven layout are built by hand (ADDSLOTSRANGE + MEET), which is quicker than
a first reshard and gives exact starting counts.
"""

import json
import os

import pytest
from redis.crc import key_slot

from conftest import (verify_keys, key_in_slot, load_keys, spread_keys, assert_rc, describe, make_cluster_with_redis_cli,
                      primaries_of, run_sp, slot_owner_map,
                      wait_cluster_healthy, wait_until)
from conftest import (assert_no_open_slot, checks_pass, diff_snapshot, jdir, json_lines,  # shared helpers
                      make_cluster_by_hand, ownership_snapshot)
from conftest import redis_cli  # TLS-aware (SLOTPILOT_TLS)

NSLOTS = 16384
RUN_TIMEOUT = 240  # bound on any single slotpilot / redis-cli run (never a timed assertion)
UNKNOWN_ID = "0123456789abcdef0123456789abcdef01234567"


# ---------------------------------------------------------------------------
# keys










# ---------------------------------------------------------------------------
# clusters and views


def cluster(pool, primaries):
    nodes = pool.start(primaries)
    make_cluster_with_redis_cli(nodes, 0)
    return nodes


def add_empty_primary(pool, nodes):
    """Start one node, join it with redis-cli --cluster add-node, wait."""
    new = pool.start(1)[0]
    p = redis_cli("--cluster", "add-node", new.addr, nodes[0].addr, tls=new.tls)
    assert p.returncode == 0, "redis-cli --cluster add-node failed: %s\n%s" % (p.stdout, p.stderr)
    allnodes = list(nodes) + [new]
    wait_cluster_healthy(allnodes)
    return allnodes


def slot_counts(nodes, view_from=None):
    """{addr: number of slots owned}, every node of `nodes` included (0 if none),
    from view_from's CLUSTER NODES (default: each node's own view of itself)."""
    out = {}
    for n in nodes:
        nid = n.myid()
        m = slot_owner_map(view_from or n)
        out[n.addr] = sum(1 for o in m.values() if o == nid)
    return out


def owners_by_addr(node):
    """slot -> addr of the owner, from node's CLUSTER NODES."""
    addr = {v["id"]: v["addr"] for v in node.cluster_nodes()}
    return {s: addr[o] for s, o in slot_owner_map(node).items()}


def cluster_slots(node):
    """CLUSTER SLOTS of node, normalized: sorted [(a, b, host, port, id)]."""
    out = []
    for e in node.client().execute_command("CLUSTER", "SLOTS"):
        p = e[2]
        h = p[0].decode() if isinstance(p[0], bytes) else p[0]
        nid = p[2].decode() if len(p) > 2 and isinstance(p[2], bytes) else (p[2] if len(p) > 2 else "")
        out.append((int(e[0]), int(e[1]), h, int(p[1]), nid))
    return sorted(out)


def settle(nodes):
    """Every node agrees on every slot owner (gossip after a move)."""
    def agreed():
        maps = [slot_owner_map(n) for n in nodes]
        return all(m == maps[0] and len(m) == NSLOTS for m in maps)
    wait_until(agreed, 20, 0.2, "all nodes to agree on the slot owners")


# ---------------------------------------------------------------------------
# running slotpilot


def sp(tmp_path, *args, yes=True, as_json=False, timeout=RUN_TIMEOUT):
    """Run slotpilot with --journal-dir under tmp_path (and --yes/--json)."""
    argv = [str(a) for a in args] + ["--journal-dir", jdir(tmp_path)]
    if yes:
        argv.append("--yes")
    if as_json:
        argv.append("--json")
    return run_sp(*argv, timeout=timeout)


def rebalance(tmp_path, entry, *args, **kw):
    return sp(tmp_path, "rebalance", entry.addr, *args, **kw)


def make_plan(tmp_path, entry, *args, name="plan.json", **kw):
    """`plan rebalance ... --out FILE` (never --yes); returns (proc, path, parsed plan)."""
    path = str(tmp_path / name)
    kw.setdefault("yes", False)
    p = sp(tmp_path, "plan", "rebalance", entry.addr, "--out", path, *args, **kw)
    assert_rc(p, 0)
    with open(path) as f:
        try:
            data = json.load(f)
        except ValueError as e:
            raise AssertionError("plan file %s is not JSON (%s)%s" % (path, e, describe(p)))
    return p, path, data


def apply(tmp_path, path, *args, **kw):
    return sp(tmp_path, "apply", path, *args, **kw)


def plan_target_owners(plan):
    """slot -> addr after the plan, from its base and moves."""
    addrs = [n["addr"] for n in plan["nodes"]]
    owners = {}
    for a, b, i in plan["base"]:
        for s in range(a, b + 1):
            owners[s] = addrs[i]
    for m in plan["moves"]:
        owners[m[0]] = addrs[m[2]]
    return owners


def plan_base_owners(plan):
    addrs = [n["addr"] for n in plan["nodes"]]
    owners = {}
    for a, b, i in plan["base"]:
        for s in range(a, b + 1):
            owners[s] = addrs[i]
    return owners


def primary_dbsizes(nodes):
    return {n.addr: n.client().dbsize() for n in primaries_of(nodes)}


UNEVEN4 = [(0, 7999), (8000, 11999), (12000, 14999), (15000, 16383)]
UNEVEN3 = [(0, 9999), (10000, 13999), (14000, 16383)]


# ---------------------------------------------------------------------------
# 1. rebalance by slots


def test_rebalance_by_slots_evens_out_four_primaries_and_keeps_every_key(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, UNEVEN4)
    kv = spread_keys(6000)
    load_keys(nodes[0], kv)
    before = slot_counts(nodes)
    assert sorted(before.values()) == [1384, 3000, 4000, 8000]

    p = rebalance(tmp_path, nodes[0])
    assert_rc(p, 0)
    settle(nodes)
    after = slot_counts(nodes)
    assert sum(after.values()) == NSLOTS, after
    off = {a: c for a, c in after.items() if abs(c - NSLOTS // 4) > 1}
    assert not off, "primaries not within 1 slot of 4096: %s (before %s)%s" % (
        after, before, describe(p))
    assert_no_open_slot(nodes)
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv)
    assert sum(primary_dbsizes(nodes).values()) == len(kv)


# ---------------------------------------------------------------------------
# 2. parity with redis-cli --cluster rebalance --cluster-use-empty-masters


def test_rebalance_use_empty_masters_gives_same_counts_as_redis_cli(node_pool, tmp_path):
    a = add_empty_primary(node_pool, cluster(node_pool, 3))
    b = add_empty_primary(node_pool, cluster(node_pool, 3))
    for nodes in (a, b):
        assert sorted(slot_counts(nodes).values()) == [0, 5461, 5461, 5462]

    pc = redis_cli("--cluster", "rebalance", a[0].addr, "--cluster-use-empty-masters",
                   timeout=RUN_TIMEOUT, tls=a[0].tls)
    assert pc.returncode == 0, "redis-cli --cluster rebalance failed: %s\n%s" % (
        pc.stdout[-3000:], pc.stderr[-3000:])
    p = rebalance(tmp_path, b[0], "--use-empty-masters")
    assert_rc(p, 0)
    settle(a)
    settle(b)
    cli_counts = sorted(slot_counts(a).values())
    sp_counts = sorted(slot_counts(b).values())
    assert cli_counts == sp_counts, "redis-cli gives %s, slotpilot gives %s%s" % (
        cli_counts, sp_counts, describe(p))
    assert_no_open_slot(b)
    checks_pass(b[0])


# ---------------------------------------------------------------------------
# 3. --by keys


def hot_tags_in(owned, n):
    """n hash tags b'hotN' whose slots are distinct and in `owned`."""
    tags, slots = [], set()
    i = 0
    while len(tags) < n:
        t = b"hot%d" % i
        s = key_slot(t)
        if s in owned and s not in slots:
            tags.append(t)
            slots.add(s)
        i += 1
    return tags


def test_rebalance_by_keys_evens_out_keys_per_primary_where_by_slots_would_not(node_pool,
                                                                               tmp_path):
    nodes = cluster(node_pool, 3)
    a = nodes[0]
    a_id = a.myid()
    owned = {s for s, o in slot_owner_map(a).items() if o == a_id}
    # 18000 of 20000 keys in 5 slots of one primary, unequal sizes
    sizes = [6000, 4500, 3000, 2500, 2000]
    kv = {}
    for tag, size in zip(hot_tags_in(owned, len(sizes)), sizes):
        for j in range(size):
            k = b"{" + tag + b"}:%d" % j
            kv[k] = b"h:" + k
    kv.update(spread_keys(2000))
    assert len(kv) == 20000
    load_keys(a, kv)
    per_slot = {}
    for k in kv:
        s = key_slot(k)
        per_slot[s] = per_slot.get(s, 0) + 1
    heaviest = max(per_slot.values())

    before = primary_dbsizes(nodes)
    assert max(before.values()) - min(before.values()) > heaviest, before

    # balanced by slots already: a slots rebalance would leave the keys skewed
    pd = rebalance(tmp_path, a, "--by", "slots", "--dry-run", yes=False)
    assert_rc(pd, 0)
    assert "nothing to move" in pd.stdout.lower(), \
        "--by slots should see a balanced cluster" + describe(pd)

    p = rebalance(tmp_path, a, "--by", "keys")
    assert_rc(p, 0)
    settle(nodes)
    after = primary_dbsizes(nodes)
    print("keys per primary before %s after %s, heaviest slot %d" % (before, after, heaviest))
    assert sum(after.values()) == len(kv), after
    assert max(after.values()) - min(after.values()) <= heaviest, (
        "keys per primary still uneven: %s (before %s, heaviest slot %d keys)%s" % (
            after, before, heaviest, describe(p)))
    assert_no_open_slot(nodes)
    checks_pass(a)
    verify_keys(a, kv)


# ---------------------------------------------------------------------------
# 4. --by memory


def bytes_per_primary(nodes, sizes_by_slot):
    owners = owners_by_addr(nodes[0])
    out = {n.addr: 0 for n in nodes}
    for s, b in sizes_by_slot.items():
        out[owners[s]] += b
    return out


def test_rebalance_by_memory_evens_out_bytes_per_primary(node_pool, tmp_path):
    nodes = cluster(node_pool, 3)
    a = nodes[0]
    a_id = a.myid()
    owned = sorted(s for s, o in slot_owner_map(a).items() if o == a_id)
    kv = {}
    # 60 slots of one primary hold 4 keys of 32 KB each; small keys everywhere
    for s in owned[100:6000:100][:60]:
        for j in range(4):
            k = key_in_slot(s, ":big%d" % j)
            kv[k] = (b"B%d-" % s) * (32768 // 8)
    kv.update(spread_keys(3000))
    load_keys(a, kv)
    sizes = {}
    for k, v in kv.items():
        sizes[key_slot(k)] = sizes.get(key_slot(k), 0) + len(k) + len(v)
    before = bytes_per_primary(nodes, sizes)
    mem_before = {n.addr: n.info("memory")["used_memory"] for n in nodes}

    snap = ownership_snapshot(nodes)
    pp, path, plan = make_plan(tmp_path, a, "--by", "memory")
    assert not diff_snapshot(snap, ownership_snapshot(nodes)), "plan rebalance changed the cluster"
    assert plan["by"] == "memory", plan["by"]
    assert plan["moves"], "the plan moves nothing" + describe(pp)
    with_keys = [m for m in plan["moves"] if m[3] > 0]
    assert with_keys, "no move carries keys: %s" % plan["moves"][:10]
    zero = [m for m in with_keys if m[4] <= 0]
    assert not zero, "moves with keys but no bytes: %s" % zero[:10]
    assert plan["expected"]["bytes"] > 0, plan["expected"]

    p = rebalance(tmp_path, a, "--by", "memory")
    assert_rc(p, 0)
    settle(nodes)
    assert_no_open_slot(nodes)
    checks_pass(a)
    verify_keys(a, kv)
    after = bytes_per_primary(nodes, sizes)
    spread_before = max(before.values()) - min(before.values())
    spread_after = max(after.values()) - min(after.values())
    mem_after = {n.addr: n.info("memory")["used_memory"] for n in nodes}
    print("bytes per primary before %s after %s; used_memory before %s after %s" % (
        before, after, mem_before, mem_after))
    assert spread_after <= spread_before / 2, (
        "bytes per primary not more even: before %s, after %s%s" % (before, after, describe(p)))


# ---------------------------------------------------------------------------
# 5. weight 0 drains a node over all the others


def test_rebalance_weight_zero_drains_node_over_all_other_primaries(node_pool, tmp_path):
    nodes = cluster(node_pool, 4)
    kv = spread_keys(5000)
    load_keys(nodes[0], kv)
    before = slot_counts(nodes)
    drained = nodes[3]

    p = rebalance(tmp_path, nodes[0], "--weight", "%s=0" % drained.myid())
    assert_rc(p, 0)
    settle(nodes)
    after = slot_counts(nodes)
    assert after[drained.addr] == 0, "drained node still owns %d slots%s" % (
        after[drained.addr], describe(p))
    gains = {n.addr: after[n.addr] - before[n.addr] for n in nodes[:3]}
    print("slots before %s after %s" % (before, after))
    assert all(g >= 1000 for g in gains.values()), \
        "every other primary should gain >= 1000 slots: %s%s" % (gains, describe(p))
    assert drained.client().dbsize() == 0
    assert_no_open_slot(nodes)
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv)


# ---------------------------------------------------------------------------
# 6. plan round trip


def test_plan_changes_nothing_and_apply_reaches_its_distribution(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, UNEVEN3)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    slots_before = [cluster_slots(n) for n in nodes]
    snap = ownership_snapshot(nodes)

    pp, path, plan = make_plan(tmp_path, nodes[0])
    assert [cluster_slots(n) for n in nodes] == slots_before, "plan rebalance changed CLUSTER SLOTS"
    assert not diff_snapshot(snap, ownership_snapshot(nodes))

    for f in ("slotpilot_plan", "op", "by", "entry", "created", "nodes", "base", "moves",
              "distribution", "expected"):
        assert f in plan, "plan lacks %r: %s" % (f, sorted(plan))
    assert plan["slotpilot_plan"] == 1 and plan["op"] == "rebalance" and plan["by"] == "slots"
    assert plan["entry"] == nodes[0].addr
    assert isinstance(plan["created"], int)
    assert sorted(n["addr"] for n in plan["nodes"]) == sorted(n.addr for n in nodes)
    assert {n["id"] for n in plan["nodes"]} == {n.myid() for n in nodes}
    assert plan_base_owners(plan) == owners_by_addr(nodes[0]), "plan base is not the live map"
    for m in plan["moves"]:
        assert len(m) == 5 and all(isinstance(x, int) for x in m), m
    for d in plan["distribution"]:
        for f in ("addr", "slots_before", "slots_after", "load_after", "target"):
            assert f in d, "distribution entry lacks %r: %s" % (f, d)
    for f in ("slots", "keys", "bytes", "seconds"):
        assert f in plan["expected"], "expected lacks %r: %s" % (f, plan["expected"])
    assert plan["expected"]["slots"] == len(plan["moves"]) > 0
    assert plan["expected"]["keys"] == sum(m[3] for m in plan["moves"])
    want_counts = {d["addr"]: d["slots_after"] for d in plan["distribution"]}
    assert sum(want_counts.values()) == NSLOTS
    assert {d["addr"]: d["slots_before"] for d in plan["distribution"]} == slot_counts(nodes)

    p = apply(tmp_path, path)
    assert_rc(p, 0)
    settle(nodes)
    assert slot_counts(nodes) == want_counts, "after apply %s, plan says %s%s" % (
        slot_counts(nodes), want_counts, describe(p))
    assert owners_by_addr(nodes[0]) == plan_target_owners(plan), "owners differ from the plan"
    assert_no_open_slot(nodes)
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv)


# ---------------------------------------------------------------------------
# 7. stale plan refused


def test_apply_plan_where_a_node_both_gives_and_takes(node_pool, tmp_path):
    """A hand-edited plan in which the middle node takes slots from the first
    and gives others to the third. The engine runs such pairs one after the
    other (migrate.c, source_is_target): a source that is also a target
    bumps its epoch, and a target whose slot is still claimed by a source
    with a higher epoch would give it back and drop its keys. Every key
    stays, the owners are the plan's, and the checks pass."""
    nodes = make_cluster_by_hand(node_pool, UNEVEN3)
    kv = spread_keys(3000)
    load_keys(nodes[0], kv)
    _, path, plan = make_plan(tmp_path, nodes[0])
    base = plan_base_owners(plan)
    addrs = [n["addr"] for n in plan["nodes"]]
    idx = {a: i for i, a in enumerate(addrs)}
    first, mid, last = (idx[nodes[i].addr] for i in range(3))
    a_slots = [s for s in sorted(base) if base[s] == addrs[first]][:40]
    b_slots = [s for s in sorted(base) if base[s] == addrs[mid]][:40]
    plan["moves"] = ([[s, first, mid, 0, 0] for s in a_slots] +
                     [[s, mid, last, 0, 0] for s in b_slots])
    plan["expected"]["slots"] = len(plan["moves"])
    with open(path, "w") as f:
        json.dump(plan, f)

    p = apply(tmp_path, path)
    assert_rc(p, 0)
    settle(nodes)
    owners = owners_by_addr(nodes[0])
    assert all(owners[s] == addrs[mid] for s in a_slots), describe(p)
    assert all(owners[s] == addrs[last] for s in b_slots), describe(p)
    assert_no_open_slot(nodes)
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv)
    assert sum(n.client().dbsize() for n in nodes) == len(kv)


def test_apply_refuses_stale_plan_with_exit_4_and_changes_nothing(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, UNEVEN3)
    load_keys(nodes[0], spread_keys(1000))
    pp, path, plan = make_plan(tmp_path, nodes[0])
    moved = {m[0] for m in plan["moves"]}
    # one slot that the plan leaves in place, moved by hand elsewhere
    slot = max(s for s in range(14000, NSLOTS) if s not in moved)
    owner = nodes[2]
    other = nodes[1]
    pr = sp(tmp_path / "hand", "reshard", nodes[0].addr, "--from", owner.myid(), "--to",
            other.myid(), "--slot-ranges", str(slot))
    assert_rc(pr, 0)
    settle(nodes)
    assert owners_by_addr(nodes[0])[slot] == other.addr

    snap = ownership_snapshot(nodes)
    p = apply(tmp_path, path)
    assert_rc(p, 4)
    msg = p.stdout + p.stderr
    assert "stale" in msg.lower(), "message does not say stale" + describe(p)
    assert str(slot) in msg, "message does not name slot %d%s" % (slot, describe(p))
    assert not diff_snapshot(snap, ownership_snapshot(nodes)), "a stale apply changed the cluster"


# ---------------------------------------------------------------------------
# 8. canary: apply --limit N, then the rest, then nothing


def test_apply_limit_moves_exactly_n_then_rest_then_fully_applied(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, [(0, 6399), (6400, 11199), (11200, 16383)])
    kv = spread_keys(2000)
    load_keys(nodes[0], kv)
    pp, path, plan = make_plan(tmp_path, nodes[0])
    k = len(plan["moves"])
    assert k > 10, "plan should move more than 10 slots: %d%s" % (k, describe(pp))
    base = plan_base_owners(plan)
    target = plan_target_owners(plan)

    p1 = apply(tmp_path, path, "--limit", 10)
    assert_rc(p1, 0)
    settle(nodes)
    now = owners_by_addr(nodes[0])
    changed = [s for s in range(NSLOTS) if now[s] != base[s]]
    assert len(changed) == 10, "--limit 10 moved %d slots%s" % (len(changed), describe(p1))
    assert all(now[s] == target[s] for s in changed), "canary moved slots elsewhere than the plan"
    assert_no_open_slot(nodes)

    p2 = apply(tmp_path, path)
    assert_rc(p2, 0)
    settle(nodes)
    assert owners_by_addr(nodes[0]) == target, "second apply did not finish the plan" + describe(p2)

    snap = ownership_snapshot(nodes)
    p3 = apply(tmp_path, path)
    assert_rc(p3, 0)
    assert "fully applied" in (p3.stdout + p3.stderr).lower(), describe(p3)
    assert not diff_snapshot(snap, ownership_snapshot(nodes))
    checks_pass(nodes[0])
    verify_keys(nodes[0], kv)


# ---------------------------------------------------------------------------
# 9. --approve-over


def test_approve_over_needs_explicit_yes_and_a_tty_rule_without_yes(node_pool, tmp_path):
    nodes = make_cluster_by_hand(node_pool, UNEVEN3)
    pp, path, plan = make_plan(tmp_path, nodes[0])
    k = len(plan["moves"])
    assert k > 1000, "plan moves %d slots" % k
    snap = ownership_snapshot(nodes)

    # more than the default 1000, no --yes
    p = apply(tmp_path, path, yes=False)
    assert_rc(p, 2)
    assert "approve-over" in p.stderr, describe(p)
    # more than an explicit --approve-over, no --yes
    p = apply(tmp_path, path, "--approve-over", k - 1, yes=False)
    assert_rc(p, 2)
    p = rebalance(tmp_path, nodes[0], "--approve-over", 10, yes=False)
    assert_rc(p, 2)
    # under --approve-over but no --yes and no TTY
    p = apply(tmp_path, path, "--approve-over", k + 1, yes=False)
    assert_rc(p, 2)
    assert "slotpilot: " in p.stderr, describe(p)
    p = rebalance(tmp_path, nodes[0], "--approve-over", NSLOTS, yes=False)
    assert_rc(p, 2)
    assert not diff_snapshot(snap, ownership_snapshot(nodes)), "a refused run changed the cluster"

    p = apply(tmp_path, path, "--approve-over", k + 1)
    assert_rc(p, 0)
    settle(nodes)
    assert owners_by_addr(nodes[0]) == plan_target_owners(plan)
    checks_pass(nodes[0])


# ---------------------------------------------------------------------------
# 10. bad input (shared cluster), 12. --dry-run


@pytest.fixture(scope="module")
def uneven(module_node_pool):
    nodes = make_cluster_by_hand(module_node_pool, UNEVEN3)
    load_keys(nodes[0], spread_keys(2000))
    return nodes


def _bad_rebalance(args_fn):
    def run(nodes, tmp_path):
        return rebalance(tmp_path, nodes[0], *args_fn(nodes))
    return run


def _bad_file(content_fn):
    def run(nodes, tmp_path):
        path = tmp_path / "bad.json"
        content = content_fn(nodes, tmp_path)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return apply(tmp_path, str(path))
    return run


def _truncated(nodes, tmp_path):
    _, path, _ = make_plan(tmp_path, nodes[0], name="good.json")
    with open(path, "rb") as f:
        data = f.read()
    return data[:len(data) // 2]


BAD_INPUTS = {
    "weight-unknown-node": _bad_rebalance(lambda n: ["--weight", "%s=1" % UNKNOWN_ID]),
    "weight-unknown-host-port": _bad_rebalance(lambda n: ["--weight", "127.0.0.1:1=1"]),
    "weight-negative": _bad_rebalance(lambda n: ["--weight", "%s=-1" % n[0].myid()]),
    "all-weights-zero": _bad_rebalance(lambda n: sum((["--weight", "%s=0" % x.myid()]
                                                      for x in n), [])),
    "by-foo": _bad_rebalance(lambda n: ["--by", "foo"]),
    "threshold-101": _bad_rebalance(lambda n: ["--threshold", "101"]),
    "plan-not-json": _bad_file(lambda n, t: "this is not json\n"),
    "plan-truncated": _bad_file(_truncated),
    "plan-json-not-a-plan": _bad_file(lambda n, t: '{"a":1}\n'),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_and_changes_nothing(uneven, tmp_path, case):
    nodes = uneven
    before = ownership_snapshot(nodes)
    p = BAD_INPUTS[case](nodes, tmp_path)
    after = ownership_snapshot(nodes)
    assert_rc(p, 2)
    assert "slotpilot: " in p.stderr, "no 'slotpilot: ...' message on stderr" + describe(p)
    changes = diff_snapshot(before, after)
    assert not changes, "bad input changed the cluster: %s%s" % (changes, describe(p))


def test_dry_run_and_dry_run_json_change_nothing(uneven, tmp_path):
    nodes = uneven
    before = ownership_snapshot(nodes)
    p = rebalance(tmp_path, nodes[0], "--dry-run", yes=False)
    assert_rc(p, 0)
    assert "would move" in p.stdout.lower(), describe(p)
    assert not diff_snapshot(before, ownership_snapshot(nodes)), "--dry-run changed the cluster"

    p2 = rebalance(tmp_path, nodes[0], "--dry-run", yes=False, as_json=True)
    assert_rc(p2, 0)
    evs = json_lines(p2)
    assert evs and evs[-1].get("event") == "dry_run", "last JSON line: %r%s" % (
        evs[-1:] or None, describe(p2))
    assert evs[-1].get("slots", 0) > 0, describe(p2)
    assert not diff_snapshot(before, ownership_snapshot(nodes)), "--dry-run --json changed the cluster"
    jd = jdir(tmp_path)
    assert not (os.path.isdir(jd) and any(f.endswith(".journal") for f in os.listdir(jd))), \
        "--dry-run wrote a journal"


# ---------------------------------------------------------------------------
# 11. --threshold


def test_threshold_leaves_nearly_balanced_cluster_alone_and_zero_moves(node_pool, tmp_path):
    # 5466 / 5457 / 5461: every node within 0.1% of its share
    nodes = make_cluster_by_hand(node_pool, [(0, 5465), (5466, 10922), (10923, 16383)])
    snap = ownership_snapshot(nodes)
    p = rebalance(tmp_path, nodes[0], "--threshold", 2)
    assert_rc(p, 0)
    assert "nothing to move" in p.stdout.lower(), describe(p)
    assert not diff_snapshot(snap, ownership_snapshot(nodes)), "--threshold 2 moved slots"

    p2 = rebalance(tmp_path, nodes[0], "--threshold", 0)
    assert_rc(p2, 0)
    settle(nodes)
    after = slot_counts(nodes)
    assert after != {n.addr: c for n, c in zip(nodes, (5466, 5457, 5461))}, \
        "--threshold 0 moved nothing" + describe(p2)
    assert all(abs(c - NSLOTS / 3) < 1 for c in after.values()), after
    checks_pass(nodes[0])
