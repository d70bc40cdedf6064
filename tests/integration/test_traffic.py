"""slotpilot traffic, --traffic on moving commands, and the latency guard.

Oracles: redis-py's RedisCluster reads the generator's keys back on its own
(the values carry the generator's sequence numbers), `redis-cli --cluster
check` after every move, and deliberate damage (keys deleted behind the
generator's back) that --verify must report. No timing is asserted: the
guard is judged by what it reports it did (its budget, the keys it let one
MIGRATE carry, the round trips and rests of the move).
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


def assert_healthy(nodes, timeout=20):
    """redis-cli --cluster check clean, polled while gossip settles on the
    replicas (they learn a move's final owners from their primaries)."""
    last = []

    def clean():
        rc, out = redis_cli_check(nodes[0].addr)
        last[:] = [out]
        return redis_cli_clean(rc, out)
    try:
        wait_until(clean, timeout, 0.2, "redis-cli --cluster check to be clean")
    except AssertionError:
        raise AssertionError(last[0] if last else "no check output")


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


def _reshard(cluster, tmp_path, name, src, dst, n, *args):
    ids = ids_by_addr(cluster)
    return run_sp("reshard", entry(cluster), "--from", ids[src.addr], "--to",
                  ids[dst.addr], "--slots", str(n), "-y", "--journal-dir",
                  str(tmp_path / name), "--json", *args, timeout=RUN_TIMEOUT)


def _guard(p):
    g = events(p, "guard")
    assert len(g) == 1, "expected one guard report" + describe(p)
    return g[0]


def test_default_move_takes_a_baseline_and_holds_the_default_budget(cluster, tmp_path):
    """With no latency flag the guard is on: it measures the nodes' p99
    before anything moves and sets the default budget (twice the baseline,
    and at least 1 ms above it); progress events carry the budget, the p99
    now and the pace; --fast turns it all off."""
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    load_keys(cluster[0], spread_keys(4000, prefix=b"dflt:"))
    p = _reshard(cluster, tmp_path, "j", prims[0], prims[1], 400, "--rate", "200slots")
    assert_rc(p, 0)
    g = _guard(p)
    assert g["default"] is True, g
    assert g["baseline_p99_ms"] > 0, g
    want = max(2 * g["baseline_p99_ms"], g["baseline_p99_ms"] + 1)
    assert g["budget_ms"] == pytest.approx(want, abs=0.002), g
    assert g["cost_us_per_key"] > 0 and g["max_batch"] >= 1, g
    prog = [e for e in events(p, "progress") if "guard" in e]
    assert prog, "no progress event carries the guard's pace" + describe(p)
    assert prog[-1]["guard"]["budget_ms"] == pytest.approx(g["budget_ms"], abs=0.002)
    assert 0 < prog[-1]["guard"]["duty"] <= 1, prog[-1]
    assert events(p, "summary")[-1]["slots"] == 400, describe(p)
    # --fast: the same engine, no guard, no guard report
    p2 = _reshard(cluster, tmp_path, "j2", prims[1], prims[0], 400, "--fast")
    assert_rc(p2, 0)
    assert events(p2, "guard") == [], describe(p2)
    assert not [e for e in events(p2, "progress") if "guard" in e], describe(p2)
    assert events(p2, "summary")[-1]["slots"] == 400, describe(p2)
    assert_healthy(cluster)


def test_tight_budget_slows_the_mover_and_a_loose_one_lets_it_speed_up(cluster, tmp_path):
    """The guard sizes every MIGRATE round from the headroom between the
    baseline and the budget: with 5 % of headroom each MIGRATE carries one
    key and the pair rests between them; with 900 % it carries many. Same
    slots, same keys (480 in each of 12 slots), one after the other."""
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    src, dst = prims[2], prims[1]
    owned = slots_of(src)[:12]
    kv = {}
    for slot in owned:
        tag = tag_for_slot(slot)
        for i in range(480):
            kv[b"{" + tag + b"}:g%d" % i] = b"v" * 64
    load_keys(cluster[0], kv)
    ids = ids_by_addr(cluster)
    ranges = ",".join(str(x) for x in owned)

    def move(name, a, b, *flags):
        p = run_sp("reshard", entry(cluster), "--from", ids[a.addr], "--to",
                   ids[b.addr], "--slot-ranges", ranges, "-y", "--journal-dir",
                   str(tmp_path / name), "--json", *flags, timeout=RUN_TIMEOUT)
        assert_rc(p, 0)
        # (plus any key an earlier test left in these slots)
        assert events(p, "summary")[-1]["keys"] >= len(kv), describe(p)
        return _guard(p), events(p, "summary")[-1]

    tight, ts = move("tight", src, dst, "--max-latency-increase", "5")
    loose, ls = move("loose", dst, src, "--max-latency-increase", "900")
    assert tight["default"] is False and loose["default"] is False
    assert tight["budget_ms"] == pytest.approx(tight["baseline_p99_ms"] * 1.05, abs=0.002)
    assert tight["max_batch"] == 1, tight
    assert loose["max_batch"] > tight["max_batch"], (tight, loose)
    # one key per MIGRATE is one round trip per key: the tight mover waited
    # for many more of them, and rested between them
    assert ts["engine"]["all"]["round_trips"] > ls["engine"]["all"]["round_trips"], (ts, ls)
    assert ts["engine"]["all"]["pause_s"] > 0, ts
    for key, v in list(kv.items())[::97]:
        assert RedisCluster(host=HOST, port=cluster[0].port).get(key) == v
    assert_healthy(cluster)


def test_budget_below_the_baseline_is_refused_before_anything_moves(cluster, tmp_path):
    """A p99 budget at or below what the nodes give with nothing moving
    cannot be kept by any pace: exit 2 naming the flag and the baseline,
    no slot moved, nothing left for resume; --fast with a budget is
    refused too."""
    prims = sorted(primaries_of(cluster), key=lambda n: n.port)
    before = {n.addr: sorted(slots_of(n)) for n in prims}
    p = _reshard(cluster, tmp_path, "j", prims[0], prims[1], 50, "--max-p99-ms", "0.001")
    assert_rc(p, 2)
    assert "--max-p99-ms" in p.stderr and "before anything moves" in p.stderr, describe(p)
    assert {n.addr: sorted(slots_of(n)) for n in prims} == before
    r = run_sp("resume", entry(cluster), "--journal-dir", str(tmp_path / "j"), "-y",
               timeout=RUN_TIMEOUT)
    assert_rc(r, 0)
    assert {n.addr: sorted(slots_of(n)) for n in prims} == before
    p = _reshard(cluster, tmp_path, "j3", prims[0], prims[1], 50, "--fast",
                 "--max-p99-ms", "5")
    assert_rc(p, 2)
    assert "--fast" in p.stderr, describe(p)
    assert {n.addr: sorted(slots_of(n)) for n in prims} == before
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
