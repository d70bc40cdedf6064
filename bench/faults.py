#!/usr/bin/python3
"""Fault campaign: plays the faults operators meet while slots move, on real
local clusters with a redis-py write load running, and prints one table:

    fault | runs | keys lost | acked writes lost | in repl. window |
    slots left open | longest give-up (s) | bad exits

A fault run is: a fresh state (every slot back with its first owner, no
open slot), a writer thread doing SETs of known values through redis-py's
RedisCluster (bounded in count and time), a slotpilot command that moves
slots, the fault at a random moment of the move, then the repair the README
tells the operator to run (resume, or fix), and the audit:

- keys lost: keys loaded before the run that are gone or changed;
- acked writes lost: SETs the client saw acknowledged whose value is not
  the last one written to that key, except those acknowledged by a primary
  that was then killed within REPL_WINDOW_S before its kill: Redis
  replicates asynchronously and loses those by design, so they are counted
  apart ("in repl. window");
- slots left open: MIGRATING/IMPORTING seen on any node after the repair;
- longest give-up: the longest time slotpilot needed to exit after the
  fault (a hung command is killed after GIVE_UP_S and counted as a bad exit).

It asserts no timing. Its exit code is 1 when any count is not zero.

    /usr/bin/python3 bench/faults.py --sp build/slotpilot [--runs 20]

The clusters are slotpilot's own `local up` clusters (3 primaries and 3
replicas, node timeout 2000 ms) under a temporary directory, stopped through
their pid files at the end, also on error or Ctrl-C.
"""

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import redis
import redis.crc
from redis.cluster import ClusterNode, RedisCluster

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

HOST = "127.0.0.1"
NSLOTS = 16384
PRELOAD = int(os.environ.get("FAULT_KEYS", "20000"))
MOVE_SLOTS = int(os.environ.get("FAULT_SLOTS", "600"))
# Slots per second: a move lasts a few seconds, so a fault lands inside it.
RATE = os.environ.get("FAULT_RATE", "150slots")
GIVE_UP_S = 180.0
REPL_WINDOW_S = 2.0
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Cluster:
    """A `slotpilot local up` cluster in its own directory."""

    def __init__(self, sp, root, base):
        self.sp, self.dir, self.base = sp, os.path.join(root, "c%d" % base), base
        self.ports = list(range(base, base + 6))
        out = self.run("local", "up", "--primaries", "3", "--replicas", "1",
                       "--port", str(base), "--dir", self.dir,
                       "--node-timeout", "2000", timeout=120)
        if out.returncode != 0:
            raise RuntimeError("local up failed: %s" % out.stderr)
        self.entry = "%s:%d" % (HOST, base)
        self.jdir = os.path.join(self.dir, "journal")

    def run(self, *args, timeout=GIVE_UP_S):
        return subprocess.run([self.sp] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def spawn(self, *args):
        return subprocess.Popen([self.sp] + list(args),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def down(self):
        subprocess.run([self.sp, "local", "down", "--dir", self.dir,
                        "--purge"], capture_output=True, timeout=60)

    def node(self, port):
        return redis.Redis(host=HOST, port=port, socket_timeout=2,
                           decode_responses=True)

    def pidfile_pid(self, port):
        for name in ("redis.pid", "node.pid", "pid"):
            p = harness.read_pidfile(os.path.join(self.dir, str(port), name))
            if p:
                return p
        for pid in harness.redis_pids_under(os.path.join(self.dir,
                                                         str(port))):
            return pid
        return None

    def nodes(self, port=None):
        """CLUSTER NODES of one live node, as dicts."""
        for p in [port] if port else self.ports:
            try:
                text = self.node(p).execute_command("CLUSTER", "NODES")
            except (redis.RedisError, OSError):
                continue
            out = []
            for line in text.splitlines():
                f = line.split()
                out.append({"id": f[0], "addr": f[1].split("@")[0],
                            "flags": f[2], "primary": f[3],
                            "slots": f[8:]})
            return out
        return []

    def primaries(self):
        return [n for n in self.nodes() if "master" in n["flags"] and
                "fail" not in n["flags"] and n["slots"]]

    def open_slots(self):
        n = 0
        for p in self.ports:
            for rec in self.nodes(p):
                if "myself" in rec["flags"]:
                    n += sum(1 for s in rec["slots"] if s.startswith("["))
        return n

    def healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run([REDIS_CLI, "--cluster", "check", self.entry],
                               capture_output=True, text=True, timeout=30)
            ok = r.returncode == 0 and "[ERR]" not in r.stdout and \
                "[WARNING]" not in r.stdout
            if ok and all(self.info_ok(p) for p in self.live_ports()):
                return True
            time.sleep(0.5)
        return False

    def info_ok(self, port):
        try:
            return "cluster_state:ok" in self.node(port).execute_command(
                "CLUSTER", "INFO")
        except (redis.RedisError, OSError):
            return False

    def live_ports(self):
        out = []
        for p in self.ports:
            try:
                self.node(p).ping()
                out.append(p)
            except (redis.RedisError, OSError):
                pass
        return out

    def client(self):
        return RedisCluster(startup_nodes=[ClusterNode(HOST, p)
                                           for p in self.live_ports()],
                            decode_responses=True, socket_timeout=2,
                            cluster_error_retry_attempts=10)


class Writer(threading.Thread):
    """SETs w:<i % 2000> = <seq> and records the last acknowledged value of
    each key with the port of the primary that acknowledged it and when."""

    def __init__(self, cluster, seconds=60.0, limit=200000):
        super().__init__(daemon=True)
        self.c, self.seconds, self.limit = cluster, seconds, limit
        self.stop = threading.Event()
        self.acked = {}   # key -> (value, port, time)
        self.errors = 0

    def run(self):
        rc = harness.follow_redirects_to_new_primaries(self.c.client())
        end = time.time() + self.seconds
        seq = 0
        while not self.stop.is_set() and time.time() < end and \
                seq < self.limit:
            seq += 1
            key = "w:%d" % (seq % 2000)
            try:
                rc.set(key, str(seq))
                node = rc.get_node_from_key(key)
                self.acked[key] = (str(seq), node.port if node else 0,
                                   time.time())
            except Exception:  # noqa: BLE001 (any client error is counted)
                self.errors += 1
                time.sleep(0.01)


def preload(c):
    rc = c.client()
    pipe = rc.pipeline()
    for i in range(PRELOAD):
        pipe.set("k:%d" % i, "v%d" % i)
        if i % 2000 == 1999:
            pipe.execute()
            pipe = rc.pipeline()
    pipe.execute()
    rc.close()


def audit(c, writer, kills):
    """(keys lost, acked writes lost, lost in the replication window)."""
    rc = harness.follow_redirects_to_new_primaries(c.client())
    lost = 0
    gone = []
    keys = ["k:%d" % i for i in range(PRELOAD)]
    for i in range(0, len(keys), 1000):
        vals = rc.mget_nonatomic(keys[i:i + 1000])
        bad = [k for k, v in zip(keys[i:i + 1000], vals) if v != "v" + k[2:]]
        lost += len(bad)
        gone += bad
    if gone:
        log("  lost keys: %s" % ", ".join(describe_key(c, k) for k in gone[:8]))
    acked_lost = window = 0
    for key, (val, port, t) in writer.acked.items() if writer else []:
        if rc.get(key) == val:
            continue
        if any(p == port and 0 <= kt - t <= REPL_WINDOW_S
               for p, kt in kills):
            window += 1
        else:
            acked_lost += 1
    rc.close()
    return lost, acked_lost, window


def describe_key(c, key):
    """key, its slot, and which nodes still hold it (GETKEYSINSLOT)."""
    slot = redis.crc.key_slot(key.encode())
    held = []
    for port in c.ports:
        try:
            if key in c.node(port).execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100000):
                held.append(port)
        except (redis.RedisError, OSError):
            continue
    return "%s (slot %d, on %s)" % (key, slot, held or "no node")


def pick_pair(c):
    prim = sorted(c.primaries(), key=lambda n: n["addr"])
    src, dst = random.sample(prim, 2)
    return src, dst


def replica_of(c, primary_id):
    for n in c.nodes():
        if n["primary"] == primary_id and "fail" not in n["flags"]:
            return n
    return None


def port_of(n):
    return int(n["addr"].rsplit(":", 1)[1])


def reshard(c, src, dst, extra=()):
    return c.spawn("reshard", c.entry, "--from", src["id"], "--to",
                   dst["id"], "--slots", str(MOVE_SLOTS), "--yes",
                   "--journal-dir", c.jdir, "--batch-keys", "20",
                   "--window", "4", "--rate", RATE, *extra)


def wait_exit(p, t0):
    try:
        _, err = p.communicate(timeout=GIVE_UP_S)
        log("  slotpilot exit %d: %s" % (p.returncode,
                                         (err or "").strip()[-300:]))
        return time.time() - t0, p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return GIVE_UP_S, -1


def wait_moving(c, p, timeout=30):
    """Waits for a positive witness that the move is under way: an open slot
    on some node, or the command already gone."""
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        if c.open_slots() > 0:
            return True
        time.sleep(0.02)
    return p.poll() is None


def repair(c):
    """What the README tells the operator: resume, then fix if needed.
    Logs what resume did with the copies of keys a target had not
    replicated (engine/keep.h), when there were any."""
    p = c.run("resume", c.entry, "--journal-dir", c.jdir, "--yes", "--wait",
              "60")
    for line in p.stdout.splitlines():
        if line.startswith("Kept copies"):
            log("  resume: " + line)
    if not c.healthy(timeout=30):
        c.run("fix", c.entry, "--yes", "--wait", "60")
    c.healthy(timeout=60)


def restart(c, port):
    """Starts a killed node again from its own directory and config."""
    d = os.path.join(c.dir, str(port))
    subprocess.run(["redis-server", os.path.join(d, "redis.conf")],
                   cwd=d, capture_output=True, timeout=30)


class Row:
    def __init__(self, name):
        self.name, self.runs = name, 0
        self.lost = self.acked = self.window = self.open = self.bad = 0
        self.give_up = 0.0

    def add(self, lost, acked, window, opened, give_up, bad):
        self.runs += 1
        self.lost += lost
        self.acked += acked
        self.window += window
        self.open += opened
        self.give_up = max(self.give_up, give_up)
        self.bad += bad


def fault_kill_slotpilot(c, row):
    src, dst = pick_pair(c)
    w = Writer(c)
    w.start()
    p = reshard(c, src, dst)
    time.sleep(random.uniform(0.05, 2.0))
    p.send_signal(signal.SIGKILL)
    p.wait()
    repair(c)
    w.stop.set()
    w.join()
    row.add(*audit(c, w, []), c.open_slots(), 0.0, 0)


def fault_node(c, row, who, sig):
    src, dst = pick_pair(c)
    victim = {"source": src, "target": dst}.get(who) or replica_of(c, src["id"])
    vport = port_of(victim)
    pid = c.pidfile_pid(vport)
    w = Writer(c)
    w.start()
    p = reshard(c, src, dst)
    kills = []
    if wait_moving(c, p) and pid:
        os.kill(pid, sig)
        t0 = time.time()
        if sig == signal.SIGKILL:
            kills.append((vport, t0))
        give_up, rc = wait_exit(p, t0)
    else:
        give_up, rc = wait_exit(p, time.time())
    if sig == signal.SIGSTOP and pid:
        os.kill(pid, signal.SIGCONT)
    if sig == signal.SIGKILL:
        restart(c, vport)
    repair(c)
    w.stop.set()
    w.join()
    row.add(*audit(c, w, kills), c.open_slots(), give_up, int(rc < 0))


def fault_fix_paused(c, row):
    """An open slot between two primaries, the third paused, fix runs: the
    paused primary must keep its slots and keys."""
    prim = sorted(c.primaries(), key=lambda n: n["addr"])
    a, b, z = prim
    slot = int(a["slots"][0].split("-")[0])
    c.node(port_of(b)).execute_command("CLUSTER", "SETSLOT", slot,
                                       "IMPORTING", a["id"])
    c.node(port_of(a)).execute_command("CLUSTER", "SETSLOT", slot,
                                       "MIGRATING", b["id"])
    zslots = z["slots"]
    # Its own replica may take over while it is paused (a failover, the
    # cluster's own doing): the slots must stay with z or that replica.
    shard = {z["id"]} | {n["id"] for n in c.nodes() if n["primary"] == z["id"]}
    pid = c.pidfile_pid(port_of(z))
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        r = c.run("fix", c.entry, "--yes", "--wait", "5")
        give_up = time.time() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    log("  fix with a primary paused: exit %d: %s" % (
        r.returncode, r.stderr.strip()[-200:]))
    # Then the operator fixes the open slot with every primary awake.
    if not c.healthy(timeout=20):
        f = c.run("fix", c.entry, "--yes", "--wait", "60")
        log("  fix, all awake: exit %d: %s" % (f.returncode,
                                              f.stderr.strip()[-200:]))
    c.healthy(timeout=60)
    held = [n for n in c.nodes() if n["id"] in shard and n["slots"]]
    gave_away = int(not held or held[0]["slots"] != zslots)
    if gave_away:
        log("  the paused primary's slots left its shard: %s -> %s" % (
            zslots, [(n["addr"], n["slots"]) for n in held]))
    row.add(*audit(c, None, []), c.open_slots() + gave_away, give_up,
            int(r.returncode not in (0, 4)))


def fault_two_movers(c, row):
    src, dst = pick_pair(c)
    others = [n for n in c.primaries() if n["id"] not in (src["id"],
                                                          dst["id"])]
    w = Writer(c)
    w.start()
    p1 = reshard(c, src, dst)
    p2 = c.spawn("reshard", c.entry, "--from", src["id"], "--to",
                 others[0]["id"], "--slots", str(MOVE_SLOTS), "--yes",
                 "--journal-dir", c.jdir + "2", "--batch-keys", "20",
                 "--window", "4", "--rate", RATE)
    t0 = time.time()
    g1, r1 = wait_exit(p1, t0)
    g2, r2 = wait_exit(p2, t0)
    repair(c)
    w.stop.set()
    w.join()
    log("  writer: %d keys acknowledged, %d errors" % (len(w.acked),
                                                      w.errors))
    row.add(*audit(c, w, []), c.open_slots(), max(g1, g2),
            int(r1 < 0 or r2 < 0))


def fault_dup_plan(c, row, tmp):
    """A plan listing one slot twice must be refused with nothing moved."""
    plan = os.path.join(tmp, "plan.json")
    c.run("plan", "rebalance", c.entry, "--out", plan, "--weight",
          "%s=0" % c.primaries()[0]["id"])
    before = sorted((n["id"], tuple(n["slots"])) for n in c.primaries())
    try:
        with open(plan) as f:
            doc = json.load(f)
        moves = doc.get("moves") or []
        if moves:
            # [slot, from, to, keys, bytes] with node indexes: the first
            # slot again, to the third node of the plan.
            s, a, d = moves[0][:3]
            other = [i for i in range(len(doc["nodes"])) if i not in (a, d)]
            moves.append([s, a, other[0], 0, 0])
        with open(plan, "w") as f:
            json.dump(doc, f)
    except (OSError, ValueError):
        pass
    t0 = time.time()
    r = c.run("apply", plan, "--yes")
    after = sorted((n["id"], tuple(n["slots"])) for n in c.primaries())
    changed = int(before != after)
    row.add(*audit(c, None, []), c.open_slots() + changed,
            time.time() - t0, int(r.returncode != 2))
    if changed:
        repair(c)


def table(rows):
    head = ("fault", "runs", "keys lost", "acked writes lost",
            "in repl. window", "slots left open", "longest give-up (s)",
            "bad exits")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| %s | %d | %d | %d | %d | %d | %.1f | %d |" % (
            r.name, r.runs, r.lost, r.acked, r.window, r.open, r.give_up,
            r.bad))
    return "\n".join(lines)


def pick_base():
    for base in range(21000, 22700, 50):
        if all(harness.port_free(p) and harness.port_free(p + 10000)
               for p in range(base, base + 6)):
            return base
    raise RuntimeError("no free port range")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(ROOT, "build", "slotpilot"))
    ap.add_argument("--runs", type=int, default=20,
                    help="runs of the slotpilot SIGKILL fault (default 20)")
    ap.add_argument("--node-runs", type=int, default=3,
                    help="runs of each node fault (default 3)")
    ap.add_argument("--only", help="comma-separated fault names")
    args = ap.parse_args()
    # redis-py logs every MOVED it follows as an exception; the counts
    # below are what matters.
    logging.disable(logging.CRITICAL)
    sp = os.path.abspath(args.sp)
    random.seed(int(os.environ.get("FAULT_SEED", "1")))
    tmp = tempfile.mkdtemp(prefix="sp-faults-")
    faults = [
        ("slotpilot SIGKILL + resume", args.runs,
         lambda c, r: fault_kill_slotpilot(c, r)),
        ("source SIGKILL", args.node_runs,
         lambda c, r: fault_node(c, r, "source", signal.SIGKILL)),
        ("source SIGSTOP", args.node_runs,
         lambda c, r: fault_node(c, r, "source", signal.SIGSTOP)),
        ("target SIGKILL", args.node_runs,
         lambda c, r: fault_node(c, r, "target", signal.SIGKILL)),
        ("target SIGSTOP", args.node_runs,
         lambda c, r: fault_node(c, r, "target", signal.SIGSTOP)),
        ("replica SIGKILL", args.node_runs,
         lambda c, r: fault_node(c, r, "replica", signal.SIGKILL)),
        ("replica SIGSTOP", args.node_runs,
         lambda c, r: fault_node(c, r, "replica", signal.SIGSTOP)),
        ("primary paused during fix", args.node_runs, fault_fix_paused),
        ("two movers at once", args.node_runs, fault_two_movers),
        ("duplicate-slot plan", 1, lambda c, r: fault_dup_plan(c, r, tmp)),
    ]
    only = set(args.only.split(",")) if args.only else None
    rows, clusters = [], []
    try:
        for name, runs, fn in faults:
            if only and name not in only:
                continue
            c = Cluster(sp, tmp, pick_base())
            clusters.append(c)
            if not c.healthy(timeout=60):
                raise RuntimeError("cluster %s never healthy" % c.entry)
            preload(c)
            row = Row(name)
            for i in range(runs):
                log("%s: run %d/%d" % (name, i + 1, runs))
                fn(c, row)
            rows.append(row)
            log("%s: %s" % (name, vars(row)))
            c.down()
            clusters.remove(c)
    finally:
        for c in clusters:
            c.down()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(rows))
    bad = any(r.lost or r.acked or r.open or r.bad for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
