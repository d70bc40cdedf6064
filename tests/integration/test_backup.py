"""slotpilot backup / backup verify.

One live 3+3 cluster per module with strings, a hash and a list. No test
writes to it while a backup runs, so "the primary's keys at that moment"
is simply its keys. Independent oracles: each RDB loaded into a scratch
redis-server (cluster-enabled no, dir/dbfilename pointing at the file) and
compared key by key (DUMP) with its primary; redis-check-rdb; a CRC-64
computed here in Python from the polynomial.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from redis.cluster import RedisCluster

from conftest import (assert_rc, describe, free_unused_port, load_keys,
                      make_cluster_with_redis_cli, primaries_of, replicas_of,
                      run_sp, SLOTPILOT)

REDIS_CHECK_RDB = "/usr/bin/redis-check-rdb"
NKEYS = 3000


def crc64_jones(data):
    """Redis's CRC-64 (reflected Jones polynomial), bit by bit."""
    poly, crc = 0x95AC9329AC4BC9B5, 0
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


@pytest.fixture(scope="module")
def cl(module_node_pool):
    nodes = module_node_pool.start(6)
    make_cluster_with_redis_cli(nodes, 1)
    load_keys(nodes[0], {b"bk:%d" % i: b"value-%d" % (i * 7) for i in range(NKEYS)})
    rc = RedisCluster(host=nodes[0].host, port=nodes[0].port)
    try:
        rc.hset("bk:hash", mapping={"a": "1", "b": "2"})
        rc.rpush("bk:list", "x", "y", "z")
    finally:
        rc.close()
    return nodes


def keys_and_dumps(client):
    out = {}
    for k in client.scan_iter(count=1000):
        out[k] = client.dump(k)
    return out


def backup(cl, d, *extra, rc=0, timeout=120):
    p = run_sp("backup", cl[0].addr, "--dir", str(d), "--json", *extra, timeout=timeout)
    assert_rc(p, rc)
    return p, (json.loads(p.stdout) if rc == 0 else None)


def manifest(d):
    with open(os.path.join(str(d), "manifest.json")) as f:
        return json.load(f)


def by_addr(nodes):
    return {n.addr: n for n in nodes}


# ---------------------------------------------------------------------------


def test_backup_of_a_live_cluster_is_one_rdb_per_primary_with_its_keys(cl, tmp_path,
                                                                       module_node_pool):
    d = tmp_path / "bk"
    p, out = backup(cl, d)
    prims = by_addr(primaries_of(cl))
    m = manifest(d)
    assert m["slotpilot_backup"] == 1 and m["method"] == "sync"
    assert sorted(f["addr"] for f in m["files"]) == sorted(prims), describe(p)
    assert sorted(os.listdir(str(d))) == sorted([f["file"] for f in m["files"]] +
                                                ["manifest.json"])
    assert sum(f["slot_count"] for f in m["files"]) == 16384
    for f in m["files"]:
        node = prims[f["addr"]]
        path = os.path.join(str(d), f["file"])
        data = open(path, "rb").read()
        assert f["node_id"] == node.myid()
        assert f["bytes"] == len(data) and data[:5] == b"REDIS"
        assert int(f["crc64"], 16) == crc64_jones(data[:-8])
        assert int.from_bytes(data[-8:], "little") == crc64_jones(data[:-8])
        chk = subprocess.run([REDIS_CHECK_RDB, path], capture_output=True, text=True,
                             timeout=60)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        scratch = module_node_pool.start(1, extra_conf=[
            "cluster-enabled no", "dir %s" % str(d), "dbfilename %s" % f["file"]])[0]
        try:
            got = keys_and_dumps(scratch.client())
            want = keys_and_dumps(node.client())
            assert len(want) == f["keys"] and len(want) > 0
            assert got == want, "%s: %d keys restored, %d on the primary" % (
                f["file"], len(got), len(want))
        finally:
            scratch.kill()


def test_backup_verify_passes_on_good_files_and_names_a_flipped_byte_and_a_truncation(
        cl, tmp_path):
    d = tmp_path / "bk"
    backup(cl, d)
    p = run_sp("backup", "verify", str(d))
    assert_rc(p, 0)
    assert p.stdout.count("[OK]") == 3, describe(p)
    files = sorted(f["file"] for f in manifest(d)["files"])
    flipped, cut = os.path.join(str(d), files[0]), os.path.join(str(d), files[1])
    with open(flipped, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0x40]))
    os.truncate(cut, os.path.getsize(cut) // 2)
    p = run_sp("backup", "verify", str(d), "--json")
    assert_rc(p, 1)
    res = {x["file"]: x for x in json.loads(p.stdout)["files"]}
    assert res[files[0]]["status"] == "bad"
    assert "checksum mismatch" in res[files[0]]["problem"], describe(p)
    assert res[files[1]]["status"] == "bad"
    assert "truncated" in res[files[1]]["problem"], describe(p)
    assert res[files[2]]["status"] == "ok"
    p = run_sp("backup", "verify", str(d))
    assert_rc(p, 1)
    assert "2 of 3 files failed" in p.stderr and files[0] in p.stdout, describe(p)


def test_diskless_backup_reads_the_eof_marker_stream(cl, tmp_path):
    prims = primaries_of(cl)
    for n in prims:  # no need to wait 5 s for other replicas to join
        n.client().config_set("repl-diskless-sync-delay", 0)
    try:
        d = tmp_path / "bk"
        p, out = backup(cl, d, "--diskless")
        assert out["method"] == "sync-eof" and manifest(d)["method"] == "sync-eof"
        assert_rc(run_sp("backup", "verify", str(d)), 0)
        keys = {f["addr"]: f["keys"] for f in out["files"]}
        assert keys == {n.addr: n.client().dbsize() for n in prims}, describe(p)
    finally:
        for n in prims:
            n.client().config_set("repl-diskless-sync-delay", 5)


def test_on_nodes_runs_bgsave_on_each_replica_and_waits_for_it(cl, tmp_path):
    reps = by_addr(replicas_of(cl))
    saves = {a: int(n.info("persistence")["rdb_saves"]) for a, n in reps.items()}
    d = tmp_path / "bk"
    p, out = backup(cl, d, "--on-nodes")
    m = manifest(d)
    assert m["method"] == "bgsave"
    assert sorted(f["source"] for f in m["files"]) == sorted(reps), describe(p)
    for f in m["files"]:
        n = reps[f["source"]]
        info = n.info("persistence")
        assert info["rdb_bgsave_in_progress"] == 0
        assert info["rdb_last_bgsave_status"] == "ok"
        assert int(info["rdb_saves"]) > saves[f["source"]]
        assert f["file"] is None and f["node_path"] == os.path.join(n.dir, "dump.rdb")
        assert f["bytes"] == os.path.getsize(f["node_path"])
    assert os.listdir(str(d)) == ["manifest.json"]
    assert_rc(run_sp("backup", "verify", str(d)), 0)


def test_backup_refuses_a_dir_that_already_holds_a_backup_and_writes_nothing(cl, tmp_path):
    d = tmp_path / "bk"
    d.mkdir()
    (d / "manifest.json").write_text("{}")
    p = run_sp("backup", cl[0].addr, "--dir", str(d))
    assert_rc(p, 2)
    assert "already holds a backup" in p.stderr and str(d) in p.stderr, describe(p)
    assert os.listdir(str(d)) == ["manifest.json"]
    assert (d / "manifest.json").read_text() == "{}"


def run_as_nobody(args, where):
    """Runs slotpilot as nobody when we are root (root ignores modes). The
    binary is copied into `where` (mode 755) first: the checkout may sit
    under a directory nobody cannot enter, such as mktemp -d's 0700."""
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    binary = SLOTPILOT
    if os.geteuid() == 0:
        binary = os.path.join(where, "slotpilot")
        shutil.copy(SLOTPILOT, binary)
        os.chmod(binary, 0o755)

    def drop():
        os.setgid(65534)
        os.setuid(65534)
    return subprocess.run([binary] + args, capture_output=True, text=True, timeout=60,
                          env=env, stdin=subprocess.DEVNULL,
                          preexec_fn=drop if os.geteuid() == 0 else None)


def test_backup_refuses_a_dir_that_is_not_writable_and_writes_nothing(cl):
    base = tempfile.mkdtemp(prefix="sp-bk-ro-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        ro = os.path.join(base, "ro")
        os.mkdir(ro, 0o555)
        os.chmod(ro, 0o555)  # root ignores it: the command runs as nobody
        p = run_as_nobody(["backup", cl[0].addr, "--dir", ro], base)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert "not writable" in p.stderr and ro in p.stderr, p.stderr
        assert os.listdir(ro) == []
        # A path under a regular file cannot be created either.
        afile = os.path.join(base, "afile")
        open(afile, "w").close()
        p = run_sp("backup", cl[0].addr, "--dir", os.path.join(afile, "bk"))
        assert_rc(p, 2)
        assert "afile" in p.stderr, describe(p)
    finally:
        os.chmod(os.path.join(base, "ro"), 0o755)
        shutil.rmtree(base)


def test_backup_of_an_unreachable_node_exits_3_and_creates_nothing(tmp_path):
    d = tmp_path / "bk"
    dead = "127.0.0.1:%d" % free_unused_port()
    p = run_sp("backup", dead, "--dir", str(d))
    assert_rc(p, 3)
    assert dead in p.stderr, describe(p)
    assert not d.exists()


def test_backup_with_a_dead_primary_exits_3_names_it_and_removes_nothing_else(
        module_node_pool, tmp_path):
    nodes = module_node_pool.start(3)
    make_cluster_with_redis_cli(nodes, 0)
    victim = nodes[2]
    victim.kill()
    d = tmp_path / "bk"
    p = run_sp("backup", nodes[0].addr, "--dir", str(d))
    assert_rc(p, 3)
    assert victim.addr in p.stderr and "unreachable" in p.stderr, describe(p)
    assert not d.exists()


def test_verify_of_a_dir_without_manifest_exits_2(tmp_path):
    p = run_sp("backup", "verify", str(tmp_path))
    assert_rc(p, 2)
    assert "not a slotpilot backup" in p.stderr, describe(p)
