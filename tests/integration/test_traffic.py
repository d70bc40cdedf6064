"""slotpilot traffic, --traffic on moving commands, and the latency guard.

Oracles: redis-py's RedisCluster reads the generator's keys back on its own
(the values carry the generator's sequence numbers), `redis-cli --cluster
check` after every move, and deliberate damage (keys deleted behind the
generator's back) that --verify must report. No timing is asserted: the
guard is judged by what it reports it did (throttled time, window, pauses).
"""

import json
import subprocess
import time

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from conftest import (HOST, SLOTPILOT, _require_binary, assert_rc, describe,
                      load_keys, make_cluster_with_redis_cli, primaries_of,
                      redis_cli_check, redis_cli_clean, run_sp, spread_keys,
                      tag_for_slot, wait_until, free_unused_port)

RUN_TIMEOUT = 180


@pytest.fixture(scope="module")
def cluster(module_node_pool):
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    return nodes


def entry(nodes):
    return nodes[0].addr


def final_json(p):
    """The {"event":"traffic"} line of a --json run."""
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("event") == "traffic":
                return d
    raise AssertionError("no traffic report%s" % describe(p))


def events(p, name):
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("event") == name:
                out.append(d)
    return out


def ids_by_addr(nodes):
    return {n.addr: n.myid() for n in primaries_of(nodes)}


def slots_of(node):
    """Slots the node owns, from its own CLUSTER NODES."""
    out = []
    for n in node.cluster_nodes():
        if n["myself"]:
            for a, b in n["slots"]:
                out.extend(range(a, b + 1))
    return out


def assert_healthy(nodes):
    rc, out = redis_cli_check(nodes[0].addr)
    assert redis_cli_clean(rc, out), out


def scan_prefix(nodes, prefix):
    """{key: value} of every key with the prefix, read on each primary."""
    got = {}
    for n in primaries_of(nodes):
        c = n.client()
        for k in c.scan_iter(match=prefix + b"*", count=1000):
            v = c.get(k)
            if v is not None:
                got[k] = v
    return got


def test_generator_and_redis_py_agree_on_what_was_written(cluster):
    p = run_sp("traffic", entry(cluster), "--seconds", "2", "--rate", "3000",
               "--keys", "500", "--read-ratio", "0.3", "--prefix", "agree:",
               "--verify", "--json", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    d = final_json(p)
    run = d["phases"][0]
    v = d["verify"]
    assert run["writes"] > 0 and run["reads"] > 0, d
    assert run["errors"] == 0 and v["lost"] == 0 and v["stale"] == 0, d
    # redis-py, through RedisCluster, reads the same keys and sequences.
    rc = RedisCluster(host=HOST, port=cluster[0].port)
    try:
        seqs = {}
        for i in range(500):
            val = rc.get(b"agree:%d" % i)
            if val is not None:
                seqs[i] = int(val.split(b":", 1)[0])
                assert len(val) == 100, val
    finally:
        rc.close()
    assert len(seqs) == v["keys_written"], (len(seqs), v)
    assert sum(seqs.values()) == v["seq_sum"], (sum(seqs.values()), v)


def test_zero_client_errors_during_a_live_reshard(cluster, tmp_path):
    load_keys(cluster[0], spread_keys(20000, b"bulk:"))
    ids = ids_by_addr(cluster)
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    src, dst = prims[0], prims[1]
    argv = [SLOTPILOT, "traffic", entry(cluster), "--seconds", "12",
            "--rate", "3000", "--keys", "5000", "--prefix", "live:",
            "--verify", "--json"]
    _require_binary()
    gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        time.sleep(2)
        p = run_sp("reshard", entry(cluster), "--from", ids[src.addr], "--to",
                   ids[dst.addr], "--slots", "3000", "--window", "64",
                   "--journal-dir", str(tmp_path / "j"), "-y",
                   timeout=RUN_TIMEOUT)
        assert_rc(p, 0)
        out, err = gen.communicate(timeout=RUN_TIMEOUT)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    assert gen.returncode == 0, (gen.returncode, out[-3000:], err[-3000:])
    d = json.loads(out.strip().splitlines()[-1])
    run, v = d["phases"][0], d["verify"]
    assert run["errors"] == 0, d
    # The move really happened under the client: it was redirected.
    assert run["events"]["moved"] + run["events"]["ask"] > 0, d
    assert v["lost"] == 0 and v["stale"] == 0 and v["unreadable"] == 0, d
    assert run["stale_reads"] == 0 and run["lost_reads"] == 0, d
    assert_healthy(cluster)


def test_ask_redirect_is_answered_with_asking(cluster, tmp_path):
    """A slot opened by hand: the key is not on the source, so every command
    is answered with ASK and must be repeated at the target after ASKING."""
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    src = prims[2]
    slot = slots_of(src)[5]
    dst = prims[0] if prims[0] is not src else prims[1]
    tag = tag_for_slot(slot)
    prefix = b"{" + tag + b"}:"
    assert key_slot(prefix + b"0") == slot
    dst.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING",
                                 src.myid())
    src.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING",
                                 dst.myid())
    try:
        p = run_sp("traffic", entry(cluster), "--seconds", "1", "--rate",
                   "200", "--keys", "1", "--connections", "1", "--prefix",
                   prefix, "--verify", "--json", timeout=RUN_TIMEOUT)
        assert_rc(p, 0)
        d = final_json(p)
        run = d["phases"][0]
        assert run["events"]["ask"] > 0, d
        assert run["errors"] == 0 and d["verify"]["lost"] == 0, d
        # The writes went to the importing node, as ASK says.
        assert dst.client().execute_command(
            "CLUSTER", "COUNTKEYSINSLOT", slot) == 1
    finally:
        p = run_sp("fix", entry(cluster), "--journal-dir",
                   str(tmp_path / "j"), "-y", timeout=RUN_TIMEOUT)
        assert_rc(p, 0)
    assert_healthy(cluster)


def test_verify_reports_writes_deleted_behind_its_back(cluster):
    argv = [SLOTPILOT, "traffic", entry(cluster), "--seconds", "4",
            "--rate", "400", "--keys", "3000", "--read-ratio", "0.8",
            "--prefix", "victim:", "--verify", "--json"]
    _require_binary()
    gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        time.sleep(2)
        deleted = 0
        for n in primaries_of(cluster):
            c = n.client()
            for k in list(c.scan_iter(match=b"victim:*", count=1000)):
                deleted += c.delete(k)
        out, err = gen.communicate(timeout=RUN_TIMEOUT)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    assert deleted > 0
    assert gen.returncode == 1, (gen.returncode, out[-2000:], err[-2000:])
    d = json.loads(out.strip().splitlines()[-1])
    assert d["verify"]["lost"] > 0, d
    assert d["verify"]["lost"] <= deleted, (deleted, d)


def test_traffic_on_reshard_reports_before_during_after(cluster, tmp_path):
    ids = ids_by_addr(cluster)
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    p = run_sp("reshard", entry(cluster), "--from", ids[prims[1].addr],
               "--to", ids[prims[2].addr], "--slots", "1000", "-y",
               "--journal-dir", str(tmp_path / "j"), "--traffic",
               "--traffic-before", "1", "--traffic-after", "1",
               "--traffic-rate", "1000", "--traffic-series",
               str(tmp_path / "series.csv"), "--json", timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    d = [e for e in events(p, "traffic")]
    assert len(d) == 1, describe(p)
    phases = [ph["phase"] for ph in d[0]["phases"]]
    assert phases == ["before", "during", "after"], d
    for ph in d[0]["phases"]:
        assert ph["ops"] > 0 and ph["errors"] == 0, d
    assert d[0]["verify"]["lost"] == 0 and d[0]["verify"]["stale"] == 0, d
    summary = events(p, "summary")
    assert summary and summary[-1]["slots"] == 1000, describe(p)
    lines = (tmp_path / "series.csv").read_text().splitlines()
    assert lines[0].startswith("seconds,phase,ops,")
    assert len(lines) >= 3, lines
    assert_healthy(cluster)


def test_guard_slows_the_mover_when_the_budget_is_tight(cluster, tmp_path):
    """A budget nobody can meet (1 microsecond): the guard must cut its
    window and lengthen its pauses, and still finish every slot with no
    slot left open."""
    ids = ids_by_addr(cluster)
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    src = prims[0]
    p = run_sp("reshard", entry(cluster), "--from", ids[src.addr], "--to",
               ids[prims[1].addr], "--slots", "120", "-y", "--journal-dir",
               str(tmp_path / "j"), "--max-p99-ms", "0.001", "--json",
               # long enough for the guard to judge a few times
               "--rate", "100slots",
               timeout=RUN_TIMEOUT)
    assert_rc(p, 0)
    g = events(p, "guard")
    assert len(g) == 1, describe(p)
    g = g[0]
    assert g["budget_ms"] == pytest.approx(0.001)
    assert g["throttled_s"] > 0, g
    # It starts slow (one slot, 5 ms pauses); over budget, the pauses
    # doubled at least twice and the window never grew.
    assert g["min_window"] == 1 and g["max_pause_ms"] >= 20, g
    assert g["worst_p99_ms"] > g["budget_ms"], g
    assert g["out_of_reach_s"] >= 0, g
    assert events(p, "summary")[-1]["slots"] == 120, describe(p)
    # Unguarded, the same engine reports no guard at all.
    p2 = run_sp("reshard", entry(cluster), "--from", ids[prims[1].addr],
                "--to", ids[src.addr], "--slots", "120", "-y",
                "--journal-dir", str(tmp_path / "j2"), "--json",
                timeout=RUN_TIMEOUT)
    assert_rc(p2, 0)
    assert events(p2, "guard") == []
    assert_healthy(cluster)


@pytest.mark.parametrize("args,what", [
    (["--rate", "-5"], "--rate"),
    (["--seconds", "0"], "--seconds"),
    (["--seconds", "-1"], "--seconds"),
    (["--keys", "0"], "--keys"),
    (["--read-ratio", "1.5"], "--read-ratio"),
    (["--read-ratio", "-0.1"], "--read-ratio"),
    (["--connections", "0"], "--connections"),
    (["--value-size", "2"], "--value-size"),
])
def test_bad_traffic_options_are_refused(cluster, args, what):
    p = run_sp("traffic", entry(cluster), *args)
    assert_rc(p, 2)
    assert what in p.stderr, describe(p)


def test_bad_guard_and_traffic_options_on_reshard_are_refused(cluster):
    for args, what in ((["--max-p99-ms", "0"], "--max-p99-ms"),
                       (["--max-latency-increase", "-3"],
                        "--max-latency-increase"),
                       (["--traffic-rate", "0"], "--traffic-rate"),
                       (["--traffic-keys", "0"], "--traffic-keys")):
        p = run_sp("reshard", entry(cluster), "--from", "all", "--to",
                   cluster[0].myid(), "--slots", "10", "-y", *args)
        assert_rc(p, 2)
        assert what in p.stderr, describe(p)


def test_unreachable_cluster_is_a_clear_error():
    port = free_unused_port()
    p = run_sp("traffic", "127.0.0.1:%d" % port, "--seconds", "1")
    assert_rc(p, 3)
    assert "127.0.0.1:%d" % port in p.stderr, describe(p)
