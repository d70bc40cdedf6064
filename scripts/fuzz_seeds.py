#!/usr/bin/python3
"""Captures the fuzz seed corpus (tests/fuzz/corpus/<target>/) from a real
local cluster started by the integration harness: raw RESP replies
(CLUSTER SLOTS, MOVED, ASK), INFO texts, SYNC answers (disk and diskless),
an RDB file, a journal and a plan file written by slotpilot itself. The
state files, the Prometheus answer and the slot ranges are written in the
formats their writers use. Re-run it after a format changes:

    SLOTPILOT=build/slotpilot /usr/bin/python3 scripts/fuzz_seeds.py
"""
import glob
import json
import os
import shutil
import socket
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import (HOST, NodePool, key_in_slot, make_cluster_by_hand,  # noqa: E402
                      run_sp, wait_until)

CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def seed(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def raw(node, *args, settle=0.3, limit=1 << 20):
    """The bytes a node answers to one command, as they come off the wire."""
    with socket.create_connection((node.host, node.port), timeout=5) as s:
        s.sendall(resp(*args))
        s.settimeout(settle)
        data = b""
        try:
            while len(data) < limit:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    return data[:limit]


def bulk(node, *args):
    """The body of a bulk-string reply (INFO texts), exactly as sent."""
    data = raw(node, *args)
    head, body = data.split(b"\r\n", 1)
    assert head.startswith(b"$"), data[:80]
    return body[:int(head[1:])]


def capture_sync(node, name, diskless=False, limit=60000):
    """A SYNC answer: header and payload (cut to what a target accepts).
    Diskless needs the replica's "capa eof", as backup.c sends it."""
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        if diskless:
            s.sendall(resp("REPLCONF", "capa", "eof"))
            assert s.recv(5) == b"+OK\r\n"
        s.sendall(b"SYNC\r\n")
        data = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head = data.lstrip(b"\n").split(b"\r\n", 1)[0]
            if head.startswith(b"$EOF:") and data.endswith(head[5:]):
                break
            if head[1:].isdigit() and len(data) >= data.index(b"\r\n") + 2 + int(head[1:]):
                break
    seed("sync_stream", name, data[:limit])


def main():
    tmp = tempfile.mkdtemp(prefix="sp-seeds-")
    pool = NodePool(os.path.join(tmp, "nodes"))
    try:
        nodes = make_cluster_by_hand(pool, [(0, 5470), (5471, 10922), (10923, 16383)])
        a, b, c = nodes
        for fx in glob.glob(os.path.join(ROOT, "tests", "fixtures", "cluster_nodes_*.txt")):
            seed("cluster_nodes", os.path.basename(fx), open(fx, "rb").read())
        seed("cluster_nodes", "captured_3_primaries.txt", a.cli("CLUSTER", "NODES"))
        seed("cluster_slots", "cluster_slots.resp", raw(a, "CLUSTER", "SLOTS"))
        seed("cluster_slots", "cluster_shards.resp", raw(a, "CLUSTER", "SHARDS"))
        seed("cluster_slots", "moved.resp", raw(a, "GET", key_in_slot(9000, "x")))
        # ASK: slot 100 migrating from a to b, a key a does not hold.
        b.cli("CLUSTER", "SETSLOT", 100, "IMPORTING", a.myid())
        a.cli("CLUSTER", "SETSLOT", 100, "MIGRATING", b.myid())
        seed("cluster_slots", "ask.resp", raw(a, "GET", key_in_slot(100, "absent")))
        seed("cluster_nodes", "captured_open_slot.txt", a.cli("CLUSTER", "NODES"))
        a.cli("CLUSTER", "SETSLOT", 100, "STABLE")
        b.cli("CLUSTER", "SETSLOT", 100, "STABLE")
        seed("info", "info_primary.txt", bulk(a, "INFO", "everything"))
        seed("info", "cluster_info.txt", bulk(a, "CLUSTER", "INFO"))
        seed("info", "info_stats_latency.txt",
             bulk(a, "INFO", "stats", "cpu", "clients", "latencystats"))
        wait_until(lambda: a.client().set(key_in_slot(5, "k"), "x" * 100), 10)
        capture_sync(a, "sync_disk.txt")
        a.cli("CONFIG", "SET", "repl-diskless-sync", "yes")
        a.cli("CONFIG", "SET", "repl-diskless-sync-delay", "0")
        capture_sync(a, "sync_diskless.txt", diskless=True)
        wait_until(lambda: a.cli("BGSAVE", check=False).startswith("Background"), 20)
        rdb = os.path.join(a.dir, "dump.rdb")
        wait_until(lambda: os.path.exists(rdb) and
                   a.client().info("persistence")["rdb_bgsave_in_progress"] == 0, 20)
        seed("rdb", "seed-bgsave-small", open(rdb, "rb").read())
        jd = os.path.join(tmp, "journal")
        p = run_sp("reshard", a.addr, "--from", a.addr, "--to", b.addr, "--slots", 3,
                   "--journal-dir", jd, "--yes", timeout=120)
        assert p.returncode == 0, p.stderr
        for i, f in enumerate(sorted(glob.glob(os.path.join(jd, "*")))):
            if os.path.isfile(f) and not f.endswith(".lock"):
                seed("journal", "reshard_%d%s" % (i, os.path.splitext(f)[1]),
                     open(f, "rb").read())
        plan = os.path.join(tmp, "plan.json")
        p = run_sp("plan", "rebalance", a.addr, "--out", plan, "--threshold", "0", timeout=120)
        assert p.returncode == 0, p.stderr
        seed("plan", "rebalance.json", open(plan, "rb").read())
    finally:
        pool.close()
        shutil.rmtree(tmp, ignore_errors=True)
    seed("expand_state", "expand.state", json.dumps(
        {"nodes": ["127.0.0.1:30007", "127.0.0.1:30008"], "done": False,
         "provisioning": False, "primaries": 1, "replicas": 1}))
    seed("expand_state", "provisioning.state", json.dumps(
        {"nodes": [], "done": False, "provisioning": True, "primaries": 2, "replicas": 0}))
    seed("autoscale_state", "scale_out.state",
         json.dumps({"action": "scale-out", "target": 4, "started": 1764640000.5}))
    seed("autoscale_state", "add_replicas.state",
         json.dumps({"action": "add-replicas", "target": 2, "started": 1764640000.5}))
    seed("config", "autoscale.ini", open(os.path.join(ROOT, "examples", "autoscale.ini")).read())
    seed("prometheus", "vector.json", json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"instance": "%s:30001" % HOST, "job": "redis"},
             "value": [1764640000.123, "0.42"]},
            {"metric": {"instance": "%s:30002" % HOST}, "value": [1764640000.123, "NaN"]}]}}))
    seed("prometheus", "error.json", json.dumps(
        {"status": "error", "errorType": "bad_data", "error": "parse error"}))
    for i, s in enumerate(["0-100,200,16383", "5461-10922", "127.0.0.1:30001",
                           "[::1]:30001", "0-16383"]):
        seed("slot_ranges", "seed_%d.txt" % i, s)


if __name__ == "__main__":
    main()
