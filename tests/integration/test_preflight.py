"""slotpilot preflight: the readiness report before scaling.

One 3+3 cluster (redis-cli --cluster create) shared by the module, loaded
with about 9 MB of data. Each test that breaks something (a big key, a
broken replica link, a drifted setting, small maxmemory, an ACL user) puts
it back in a `finally`. Oracles are the nodes themselves (INFO, CONFIG GET,
CLUSTER KEYSLOT via redis-py) and `slotpilot check`.

Latency thresholds are loosened in the tests that expect a clean report
(the machine is shared and runs sanitizer builds); no test asserts a time.
"""

import json

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from conftest import (assert_rc, describe, free_unused_port, load_keys,
                      make_cluster_with_redis_cli, primaries_of, replicas_of,
                      run_sp, slot_owner_map, wait_until)

LOOSE = ["--latency-avg-ms", "1000", "--latency-p99-ms", "5000", "--max-lag-ms", "5000"]
TOP_KEYS = {"ok", "entry", "nodes", "primaries", "seconds", "findings", "notes", "config",
            "bigkeys", "headroom", "replication", "latency"}
FINDING_KEYS = {"code", "section", "severity", "slot", "node", "message"}
SECTIONS = {"check", "config", "bigkeys", "headroom", "replication", "latency"}
NKEYS = 9000
VALUE = b"v" * 1000


@pytest.fixture(scope="module")
def cl(module_node_pool):
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    load_keys(nodes[0], {b"pf:%d" % i: VALUE for i in range(NKEYS)})
    return nodes


def preflight(cl, *extra, rc=None, timeout=120):
    p = run_sp("preflight", cl[0].addr, "--json", *extra, timeout=timeout)
    if rc is not None:
        assert_rc(p, rc)
    try:
        data = json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError("stdout is not JSON (%s)%s" % (e, describe(p)))
    for f in data.get("findings", []):
        assert set(f) == FINDING_KEYS, describe(p)
    return p, data


def findings(data, code):
    return [f for f in data["findings"] if f["code"] == code]


def snapshot(nodes):
    out = {}
    for n in nodes:
        c = n.client()
        out[n.addr] = (c.dbsize(), sorted(slot_owner_map(n).items()),
                       c.config_get("cluster-node-timeout"), c.config_get("maxmemory"))
    return out


def addr_of_owner(cl, slot):
    ids = {n.myid(): n.addr for n in cl}
    return ids[slot_owner_map(cl[0])[slot]]


def set_all(cl, name, value):
    for n in cl:
        n.client().config_set(name, value)


# ---------------------------------------------------------------------------


def test_clean_cluster_is_ready_and_preflight_changes_nothing(cl):
    before = snapshot(cl)
    p, data = preflight(cl, *LOOSE, rc=0)
    assert data["ok"] is True and data["findings"] == [], describe(p)
    assert data["nodes"] == 6 and data["primaries"] == 3, describe(p)
    # maxmemory is 0 on the harness nodes: said so, not a finding.
    notes = [n for n in data["notes"] if "unlimited" in n["message"]]
    assert len(notes) == 3, describe(p)
    assert data["bigkeys"]["keys_scanned"] == NKEYS, describe(p)
    assert all(r["link_up"] and r["lag_ms"] is not None
               for r in data["replication"]["replicas"]), describe(p)
    assert len(data["replication"]["replicas"]) == 3, describe(p)
    assert all(n["probes"] == 50 for n in data["latency"]["nodes"]), describe(p)
    assert snapshot(cl) == before, "preflight changed the cluster"


def test_json_form_has_stable_keys(cl):
    p, data = preflight(cl, *LOOSE, rc=0)
    assert set(data) == TOP_KEYS, describe(p)
    assert set(data["config"]) == {"params", "nodes"}
    assert set(data["config"]["nodes"][0]) == {"node", "role", "redis_version", "readable",
                                               "error", "values"}
    assert "cluster-node-timeout" in data["config"]["params"]
    assert set(data["bigkeys"]) == {"scanned", "threshold_bytes", "hot_slot_pct",
                                    "keys_scanned", "keys", "hot_slots"}
    assert set(data["headroom"]) == {"max_pct", "plan_margin_pct", "plan", "nodes"}
    assert set(data["headroom"]["nodes"][0]) == {"node", "used_memory", "maxmemory", "pct",
                                                 "plan_in_bytes", "plan_out_bytes",
                                                 "after_plan", "after_plan_pct"}
    assert set(data["replication"]) == {"max_lag_ms", "replicas"}
    assert set(data["replication"]["replicas"][0]) == {"node", "primary", "link_up", "lag_ms",
                                                       "last_io_seconds"}
    assert set(data["latency"]["nodes"][0]) == {"node", "probes", "avg_ms", "p50_ms",
                                                "p99_ms", "max_ms"}
    assert set(data["notes"][0]) == {"section", "node", "message"}


def test_flags_a_20mb_key_with_its_slot_and_its_hot_slot(cl):
    key = b"big:{pf-big}"
    slot = key_slot(key)
    owner = addr_of_owner(cl, slot)
    rc = RedisCluster(host=cl[0].host, port=cl[0].port)
    try:
        rc.set(key, b"x" * (20 * 1000 * 1000))
        p, data = preflight(cl, *LOOSE, rc=1)
        big = findings(data, "big-key")
        assert len(big) == 1, describe(p)
        assert big[0]["slot"] == slot and big[0]["node"] == owner, describe(p)
        assert big[0]["section"] == "bigkeys"
        listed = data["bigkeys"]["keys"]
        assert [(k["key"], k["slot"], k["node"]) for k in listed] == \
            [(key.decode(), slot, owner)], describe(p)
        assert listed[0]["bytes"] > 20 * 1000 * 1000
        hot = findings(data, "hot-slot")
        assert [(h["slot"], h["node"]) for h in hot] == [(slot, owner)], describe(p)
        # The limit is an option: above 30 MB the key is not big.
        p, data = preflight(cl, *LOOSE, "--big-key-bytes", "30m", "--hot-slot-pct", "100")
        assert not findings(data, "big-key"), describe(p)
    finally:
        rc.delete(key)
        rc.close()


def link_status(node):
    return node.client().info("replication").get("master_link_status")


def test_replica_with_a_broken_link_is_a_replication_finding(cl):
    rep = replicas_of(cl)[0]
    c = rep.client()
    try:
        # The replica now authenticates as a user its primary does not
        # have: after the link drops, every resync fails AUTH. The cluster
        # bus is untouched, so `check` stays clean.
        c.config_set("masteruser", "no-such-user")
        c.config_set("masterauth", "wrong")
        c.execute_command("CLIENT", "KILL", "TYPE", "master")
        wait_until(lambda: link_status(rep) == "down", 20, 0.1, "link down")
        p, data = preflight(cl, *LOOSE, rc=1)
        down = findings(data, "replica-link-down")
        assert [f["node"] for f in down] == [rep.addr], describe(p)
        assert down[0]["section"] == "replication" and down[0]["severity"] == "error"
        rep_json = [r for r in data["replication"]["replicas"] if r["node"] == rep.addr]
        assert rep_json[0]["link_up"] is False and rep_json[0]["lag_ms"] is None
        check = run_sp("check", cl[0].addr)
        assert_rc(check, 0)
    finally:
        c.config_set("masteruser", "")
        c.config_set("masterauth", "")
        wait_until(lambda: link_status(rep) == "up", 30, 0.1, "link up again")


def test_node_with_a_different_cluster_node_timeout_is_config_drift(cl):
    odd = replicas_of(cl)[1]
    old = odd.client().config_get("cluster-node-timeout")["cluster-node-timeout"]
    try:
        odd.client().config_set("cluster-node-timeout", int(old) + 1000)
        p, data = preflight(cl, *LOOSE, rc=1)
        drift = findings(data, "config-drift")
        assert [f["node"] for f in drift] == [odd.addr], describe(p)
        assert "cluster-node-timeout" in drift[0]["message"], describe(p)
        assert '"%d"' % (int(old) + 1000) in drift[0]["message"], describe(p)
        assert drift[0]["section"] == "config"
        values = {n["node"]: n["values"]["cluster-node-timeout"] for n in data["config"]["nodes"]}
        assert values[odd.addr] == str(int(old) + 1000)
    finally:
        odd.client().config_set("cluster-node-timeout", old)


def test_scale_in_plan_that_overfills_the_remaining_primaries(cl, tmp_path):
    prims = sorted(primaries_of(cl), key=lambda n: n.port)
    drained = prims[2]
    plan = tmp_path / "drain.json"
    p = run_sp("plan", "rebalance", cl[0].addr, "--weight", "%s=0" % drained.addr,
               "--out", str(plan), "--json", timeout=120)
    assert_rc(p, 0)
    slots = json.loads(p.stdout)["slots"]
    used = max(int(n.info("memory")["used_memory"]) for n in prims)
    maxmem = int(used / 0.7)  # every primary at ~70 % now: under 80 %
    try:
        set_all(cl, "maxmemory", maxmem)
        p, data = preflight(cl, *LOOSE, rc=0)  # without the plan: fine
        assert not findings(data, "memory-high"), describe(p)
        p, data = preflight(cl, *LOOSE, "--plan", str(plan), rc=1)
        over = findings(data, "plan-overfill")
        assert sorted(f["node"] for f in over) == sorted(n.addr for n in prims[:2]), describe(p)
        for f in over:
            assert "MB over the 80% limit" in f["message"], describe(p)
        assert data["headroom"]["plan"]["slots"] == slots, describe(p)
        after = {n["node"]: n for n in data["headroom"]["nodes"]}
        assert after[drained.addr]["plan_out_bytes"] > 0
        for n in prims[:2]:
            assert after[n.addr]["after_plan"] > 0.8 * maxmem, describe(p)
        # A generous limit accepts the same plan.
        p, data = preflight(cl, *LOOSE, "--plan", str(plan), "--max-memory-pct", "100",
                            "--plan-margin-pct", "0")
        assert not findings(data, "plan-overfill"), describe(p)
    finally:
        set_all(cl, "maxmemory", 0)
    # Nothing moved: the plan was only read.
    assert sorted(slot_owner_map(cl[0]).values()).count(drained.myid()) > 0


def test_config_that_cannot_be_read_is_a_finding_not_a_crash(cl):
    for n in cl:
        n.cli("ACL", "SETUSER", "pf-noconfig", "on", ">pw", "~*", "&*", "+@all", "-config")
    try:
        p, data = preflight(cl, *LOOSE, "--user", "pf-noconfig", "--pass", "pw", rc=1)
        bad = findings(data, "config-unreadable")
        assert sorted(f["node"] for f in bad) == sorted(n.addr for n in cl), describe(p)
        assert "could not read config" in bad[0]["message"]
        assert "NOPERM" in bad[0]["message"], describe(p)
        assert not findings(data, "config-drift"), describe(p)
    finally:
        for n in cl:
            n.cli("ACL", "DELUSER", "pf-noconfig")


def test_every_threshold_is_an_option(cl):
    p, data = preflight(cl, "--latency-avg-ms", "0.000001", "--latency-p99-ms", "100000",
                        "--max-lag-ms", "5000", "--probes", "5", rc=1)
    slow = findings(data, "latency-avg")
    assert sorted(f["node"] for f in slow) == sorted(n.addr for n in cl), describe(p)
    assert all(n["probes"] == 5 for n in data["latency"]["nodes"])
    # Gentle scan settings still measure every key.
    p, data = preflight(cl, *LOOSE, "--scan-count", "50", "--scan-rate", "5000",
                        "--scan-sleep-ms", "1", "--memory-samples", "0", rc=0)
    assert data["bigkeys"]["keys_scanned"] == NKEYS, describe(p)
    p, data = preflight(cl, *LOOSE, "--no-scan", rc=0)
    assert data["bigkeys"]["scanned"] is False and data["bigkeys"]["keys_scanned"] == 0


def test_human_report_names_each_section(cl):
    p = run_sp("preflight", cl[0].addr, *LOOSE)
    assert_rc(p, 0)
    for sec in SECTIONS:
        assert "\n%s\n" % sec in p.stdout, describe(p)
    assert "Ready." in p.stdout


@pytest.mark.parametrize("args,code,words", [
    (["{dead}"], 3, "{dead}"),
    (["{entry}", "--plan", "/nonexistent/plan.json"], 2, "plan"),
    (["{entry}", "--big-key-bytes", "lots"], 2, "--big-key-bytes"),
    (["{entry}", "--max-memory-pct", "0"], 2, "--max-memory-pct"),
    ([], 2, "HOST:PORT"),
])
def test_bad_input_has_a_clear_error_and_exit_code(cl, args, code, words):
    dead = "127.0.0.1:%d" % free_unused_port()
    args = [a.replace("{entry}", cl[0].addr).replace("{dead}", dead) for a in args]
    words = words.replace("{dead}", dead)
    before = snapshot(cl)
    p = run_sp("preflight", *args)
    assert_rc(p, code)
    assert p.stderr.startswith("slotpilot: ") and words in p.stderr, describe(p)
    assert snapshot(cl) == before
