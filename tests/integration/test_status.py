"""slotpilot status: human and JSON views of a healthy cluster holding keys."""

import json
import re

import pytest
from redis.cluster import RedisCluster

from conftest import (HOST, assert_rc, describe, make_cluster_with_redis_cli, run_sp,
                      wait_until)

NKEYS = 300


@pytest.fixture(scope="module")
def cluster(module_node_pool):
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    rc = RedisCluster(host=HOST, port=nodes[0].port, socket_timeout=5)
    try:
        for i in range(NKEYS):
            rc.set("status:key:%d" % i, "x" * 10)
    finally:
        rc.close()
    # replicas caught up (so that their key counts and offsets settle)
    view = nodes[0].cluster_nodes()
    by_addr = {n.addr: n for n in nodes}

    def synced():
        for v in view:
            if v["primary"]:
                continue
            master = by_addr[[m for m in view if m["id"] == v["master"]][0]["addr"]]
            if by_addr[v["addr"]].client().dbsize() != master.client().dbsize():
                return False
        return True
    wait_until(synced, 15, 0.1, "replicas to catch up")
    return nodes


@pytest.fixture(scope="module")
def status_run(cluster):
    return run_sp("status", cluster[0].addr, "--json")


def parsed(status_run):
    """(proc, parsed JSON) of the `status --json` run shared by the module."""
    p = status_run
    assert_rc(p, 0)
    try:
        return p, json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError("stdout is not JSON (%s)%s" % (e, describe(p)))


def _ranges_text(slots):
    return ",".join("%d-%d" % (a, b) if a != b else "%d" % a for a, b in slots)


def test_status_exits_0_on_healthy_cluster(cluster):
    p = run_sp("status", cluster[0].addr)
    assert_rc(p, 0)


def test_status_json_top_level_fields(status_run):
    p, data = parsed(status_run)
    assert data["cluster_state"] == "ok", describe(p)
    assert data["nodes"] == 6, describe(p)
    assert isinstance(data["primaries"], list) and len(data["primaries"]) == 3, describe(p)
    assert data["unreachable"] == [], describe(p)


def test_status_json_primaries_match_cluster_nodes(cluster, status_run):
    p, data = parsed(status_run)
    view = cluster[0].cluster_nodes()
    want = {v["id"]: v for v in view if v["primary"]}
    got = {pr["id"]: pr for pr in data["primaries"]}
    assert set(got) == set(want), describe(p)
    for pid, pr in got.items():
        v = want[pid]
        assert pr["addr"] == v["addr"], describe(p)
        nslots = sum(b - a + 1 for a, b in v["slots"])
        assert pr["slots"] == nslots, describe(p)
        assert pr["ranges"] == _ranges_text(v["slots"]), describe(p)
    assert sum(pr["slots"] for pr in data["primaries"]) == 16384, describe(p)


def test_status_json_key_counts_sum_to_keys_written(cluster, status_run):
    p, data = parsed(status_run)
    by_addr = {n.addr: n for n in cluster}
    for pr in data["primaries"]:
        assert isinstance(pr["keys"], int), describe(p)
        assert pr["keys"] == by_addr[pr["addr"]].client().dbsize(), describe(p)
    assert sum(pr["keys"] for pr in data["primaries"]) == NKEYS, describe(p)


def test_status_json_memory_fields(status_run):
    p, data = parsed(status_run)
    for pr in data["primaries"]:
        assert isinstance(pr["used_memory"], int) and pr["used_memory"] > 0, describe(p)
        assert isinstance(pr["maxmemory"], int) and pr["maxmemory"] >= 0, describe(p)


def test_status_json_replicas_under_their_primary(cluster, status_run):
    p, data = parsed(status_run)
    view = cluster[0].cluster_nodes()
    for pr in data["primaries"]:
        want = {v["id"]: v["addr"] for v in view if v["master"] == pr["id"]}
        reps = pr["replicas"]
        assert len(reps) == 1, describe(p)
        assert {r["id"]: r["addr"] for r in reps} == want, describe(p)
        for r in reps:
            assert r["link"] == "up", describe(p)
            assert isinstance(r["lag_bytes"], int) and r["lag_bytes"] >= 0, describe(p)


def test_status_human_output_names_every_primary(cluster):
    p = run_sp("status", cluster[0].addr)
    assert_rc(p, 0)
    view = cluster[0].cluster_nodes()
    for v in view:
        if v["primary"]:
            assert v["addr"] in p.stdout, "primary %s missing%s" % (v["addr"], describe(p))
    assert not re.search(r"^\s*[\[{]", p.stdout), "human output looks like JSON" + describe(p)


def test_status_json_lists_a_killed_node_as_unreachable(node_pool):
    nodes = node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    view = nodes[0].cluster_nodes()
    victim_addr = [v["addr"] for v in view if not v["primary"]][0]
    victim = [n for n in nodes if n.addr == victim_addr][0]
    entry = [n for n in nodes if n is not victim][0]
    victim.kill()
    p = run_sp("status", entry.addr, "--json")
    assert p.returncode in (0, 1), "expected exit 0 or 1, got %d%s" % (p.returncode, describe(p))
    data = json.loads(p.stdout)
    assert victim_addr in data["unreachable"], describe(p)
    assert len(data["primaries"]) == 3, describe(p)
