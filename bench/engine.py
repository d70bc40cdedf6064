#!/usr/bin/python3
"""Migration benchmark: slotpilot reshard vs redis-cli --cluster rebalance.

One run builds two identical local clusters (3 primaries + 3 replicas, plus
one empty primary joined to each), loads the same keys into both, then times:

  A: redis-cli --cluster rebalance ENTRY --cluster-use-empty-masters
  B: slotpilot reshard ENTRY --from all --to NEW --slots N --yes
     (N = the number of slots redis-cli moved on A, so the work is the same)

and prints wall time, keys/s and the ratio. It asserts no timing; it fails
only when a cluster is not healthy or keys are lost after a migration.
Both clusters are always stopped at the end (only through their pid files).

    /usr/bin/python3 bench/engine.py --sp build/slotpilot
    BENCH_KEYS=100000 BENCH_VALUE=100 /usr/bin/python3 bench/engine.py --sp build/slotpilot

Talks to the nodes with redis-py (Debian's python3-redis); uses the
redis-server and redis-cli binaries. The pid and port helpers are the
integration harness's (tests/integration/harness.py).
"""

import argparse
import binascii
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (pid and port helpers shared with the tests)
from harness import (HOST, is_redis_server_pid, port_free, read_pidfile,  # noqa: E402,F401
                     stop_pid)

NSLOTS = 16384
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class BenchError(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------------------
# talking to one node (redis-py)

_clients = {}


def client(port, timeout=10.0):
    """A redis-py client for HOST:port (one per port, kept), replies decoded
    to str. Its reply callbacks are dropped so that call() returns the
    node's reply as sent (INFO and CLUSTER INFO as text, CLUSTER SLOTS as
    nested lists), as the scripts here parse it."""
    c = _clients.get(port)
    if c is None:
        c = redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                        socket_connect_timeout=timeout, decode_responses=True,
                        encoding_errors="replace")
        c.response_callbacks.clear()
        _clients[port] = c
    return c


def close_clients(ports):
    for p in ports:
        c = _clients.pop(p, None)
        if c is not None:
            c.connection_pool.disconnect()


def call(port, *args):
    """One command to HOST:port; an error reply or a lost connection is a
    BenchError."""
    try:
        return client(port).execute_command(*args)
    except redis.RedisError as e:
        raise BenchError("port %d: %s" % (port, e))


def info_dict(port, section):
    d = {}
    for line in call(port, "INFO", section).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v
    return d


def wait_until(fn, timeout, desc, interval=0.2):
    """harness.wait_until, failing with a BenchError."""
    try:
        return harness.wait_until(fn, timeout, interval, desc)
    except AssertionError as e:
        raise BenchError(str(e))


# ---------------------------------------------------------------------------
# keys and slots


def keyslot(key):
    """Redis Cluster hash slot of key (bytes), with the {hash tag} rule."""
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return binascii.crc_hqx(key, 0) % NSLOTS


def _selftest_keyslot():
    # Values from the Redis Cluster specification / CLUSTER KEYSLOT.
    assert binascii.crc_hqx(b"123456789", 0) == 0x31C3
    assert keyslot(b"foo") == 12182
    assert keyslot(b"{user1000}.following") == keyslot(b"user1000")
    assert keyslot(b"foo{}{bar}") == keyslot(b"foo{}{bar}")  # no tag: whole key
    assert keyslot(b"foo{{bar}}zap") == keyslot(b"{bar")


def build_commands(nkeys, value_size, seed=1):
    """RESP SET commands grouped by slot: list of 16384 lists of bytes.

    Values are drawn from a pool of random printable strings so that the
    DUMP payloads MIGRATE carries are not trivially compressible."""
    rng = random.Random(seed)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
    pool = []
    for _ in range(4096):
        v = bytes(alphabet[rng.randrange(64)] for _ in range(value_size))
        pool.append(b"$%d\r\n%s\r\n" % (value_size, v))
    by_slot = [[] for _ in range(NSLOTS)]
    crc = binascii.crc_hqx
    for n in range(nkeys):
        k = b"key:%d" % n
        # plain keys: no hash tag, so crc the whole key (keyslot() covers tags)
        slot = crc(k, 0) % NSLOTS if b"{" not in k else keyslot(k)
        by_slot[slot].append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n%s"
                             % (len(k), k, pool[n & 4095]))
    return by_slot


# ---------------------------------------------------------------------------
# processes and ports


def pick_base(start, n, avoid):
    """First base >= start (steps of 100) with base..base+n-1 and their
    bus ports (+10000) free and not in avoid."""
    b = start
    while b + n + 10000 < 65535:
        ports = range(b, b + n)
        if all(p not in avoid and p + 10000 not in avoid and port_free(p)
               and port_free(p + 10000) for p in ports):
            return b
        b += 100
    raise BenchError("no free port range of %d from %d" % (n, start))


def vm_hwm_kib(pid):
    """The peak RSS (VmHWM, KiB) of a running process, 0 when gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run(cmd, timeout=600, log_path=None, check=True, usage=None):
    """Run cmd (list); return (rc, output). Output also goes to log_path.
    With usage (a dict), fills it with the child's own peak RSS
    (maxrss_mib, from /proc) and CPU seconds (cpu_s, from wait4)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(p.stdout.read()))
    reader.start()
    deadline = time.monotonic() + timeout
    hwm = 0
    while True:
        hwm = max(hwm, vm_hwm_kib(p.pid))
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            p.returncode = -9
            reader.join(10)
            raise BenchError("%s: no exit within %d s" % (" ".join(cmd), timeout))
        time.sleep(0.005)
    reader.join(30)
    p.returncode = os.waitstatus_to_exitcode(status)
    if usage is not None:
        # ru_maxrss keeps the peak across exec (this Python's own RSS at
        # fork time): the child's VmHWM, read while it runs, is its own.
        usage["maxrss_mib"] = hwm / 1024.0
        usage["cpu_s"] = ru.ru_utime + ru.ru_stime
    out = b"".join(chunks).decode("utf-8", "replace")
    if log_path:
        with open(log_path, "a") as f:
            f.write("$ %s\n%s\n[rc=%d]\n" % (" ".join(cmd), out, p.returncode))
    if check and p.returncode != 0:
        raise BenchError("%s failed (rc=%d):\n%s"
                         % (" ".join(cmd), p.returncode, out[-3000:]))
    return p.returncode, out


# ---------------------------------------------------------------------------
# a local cluster


class Cluster:
    def __init__(self, name, sp, root, base, primaries, replicas, out_dir):
        self.name = name
        self.sp = sp
        self.dir = os.path.join(root, name)
        self.base = base
        self.nodes = primaries * (1 + replicas)
        self.primaries = primaries
        self.replicas = replicas
        self.ports = list(range(base, base + self.nodes))
        self.new_port = base + self.nodes
        self.total = self.nodes + 1
        self.log = os.path.join(out_dir, "cluster-%s.log" % name)
        self.started = False

    @property
    def entry(self):
        return "%s:%d" % (HOST, self.base)

    @property
    def new_addr(self):
        return "%s:%d" % (HOST, self.new_port)

    def all_ports(self):
        return self.ports + [self.new_port]

    # -- lifecycle

    def up(self):
        if os.path.exists(self.dir):
            self.down()
            shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        self.started = True
        run([self.sp, "local", "up", "--dir", self.dir, "--port",
             str(self.base), "--primaries", str(self.primaries),
             "--replicas", str(self.replicas), "--node-timeout", "5000"],
            timeout=120, log_path=self.log)
        self.start_extra_node()
        self.add_extra_node()

    def start_extra_node(self, port=None):
        """Start an empty node on port (default new_port) with the same
        redis.conf as the first node's; not joined."""
        port = port or self.new_port
        src = os.path.join(self.dir, str(self.base), "redis.conf")
        with open(src) as f:
            conf = f.read()
        out = []
        for line in conf.splitlines():
            w = line.split()
            if w and w[0] in ("port", "cluster-announce-port"):
                line = "%s %d" % (w[0], port)
            elif w and w[0] == "cluster-announce-bus-port":
                line = "%s %d" % (w[0], port + 10000)
            elif w and line.startswith("#"):
                line = line.replace(str(self.base), str(port))
            out.append(line)
        d = os.path.join(self.dir, str(port))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "redis.conf"), "w") as f:
            f.write("\n".join(out) + "\n")
        subprocess.run([REDIS_SERVER, "redis.conf"], cwd=d, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_until(lambda: call(port, "PING") == "PONG", 20,
                   "%s:%d to answer PING" % (HOST, port))

    def add_extra_node(self):
        run([REDIS_CLI, "--cluster", "add-node", self.new_addr, self.entry],
            timeout=60, log_path=self.log)
        self.wait_healthy(60, "%d nodes after add-node" % self.total)

    def healthy(self):
        for p in self.all_ports():
            txt = call(p, "CLUSTER", "INFO")
            kv = dict(l.split(":", 1) for l in txt.split("\r\n") if ":" in l)
            if kv.get("cluster_state") != "ok":
                return False
            if int(kv.get("cluster_known_nodes", 0)) != self.total:
                return False
            nodes = [l for l in call(p, "CLUSTER", "NODES").splitlines() if l]
            if len(nodes) != self.total:
                return False
        rc, _ = run([REDIS_CLI, "--cluster", "check", self.entry],
                    timeout=60, check=False)
        return rc == 0

    def wait_healthy(self, timeout, desc):
        wait_until(self.healthy, timeout, "%s: cluster healthy (%s)"
                   % (self.name, desc), interval=0.5)

    def down(self):
        """Stop via local down, then any redis-server left in D/*/redis.pid."""
        if os.path.isdir(self.dir):
            try:
                run([self.sp, "local", "down", "--dir", self.dir, "--purge"],
                    timeout=120, log_path=self.log, check=False)
            except (OSError, subprocess.TimeoutExpired) as e:
                log("%s: local down: %s" % (self.name, e))
            close_clients(self.all_ports())
            for pf in glob.glob(os.path.join(self.dir, "*", "redis.pid")):
                pid = read_pidfile(pf)
                if pid and is_redis_server_pid(pid):
                    stop_pid(pid)
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- topology

    def server_cpu(self):
        """CPU seconds (user + system) the cluster's redis-servers have used,
        from /proc and their pid files (Linux)."""
        return sum(self.server_cpu_by_port().values())

    def server_cpu_by_port(self):
        """{port: CPU seconds} of each redis-server of the cluster."""
        out = {}
        tick = os.sysconf("SC_CLK_TCK")
        for pf in glob.glob(os.path.join(self.dir, "*", "redis.pid")):
            port = int(os.path.basename(os.path.dirname(pf)))
            try:
                with open(pf) as f:
                    pid = int(f.read().strip())
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, ValueError):
                continue
            out[port] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def commandstats(self):
        """{command: calls} summed over every node (INFO commandstats)."""
        total = {}
        for p in self.all_ports():
            for line in call(p, "INFO", "commandstats").splitlines():
                if not line.startswith("cmdstat_"):
                    continue
                name, rest = line[len("cmdstat_"):].split(":", 1)
                kv = dict(x.split("=", 1) for x in rest.split(","))
                total[name] = total.get(name, 0) + int(kv.get("calls", 0))
        return total

    def slot_owners(self):
        """slot -> primary port, from CLUSTER SLOTS."""
        owner = [None] * NSLOTS
        for rng in call(self.base, "CLUSTER", "SLOTS"):
            lo, hi, primary = rng[0], rng[1], rng[2]
            for s in range(lo, hi + 1):
                owner[s] = int(primary[1])
        if any(o is None for o in owner):
            raise BenchError("%s: not all slots covered" % self.name)
        return owner

    def primary_ports(self):
        ps = []
        for line in call(self.base, "CLUSTER", "NODES").splitlines():
            f = line.split()
            if len(f) >= 8 and "master" in f[2].split(","):
                ps.append(int(f[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(ps)

    def slots_of(self, port):
        return sum(1 for o in self.slot_owners() if o == port)

    def dbsize_sum(self):
        return sum(call(p, "DBSIZE") for p in self.primary_ports())

    # -- data

    def load(self, by_slot, nkeys):
        owner = self.slot_owners()
        streams = {}
        for s in range(NSLOTS):
            if by_slot[s]:
                streams.setdefault(owner[s], []).extend(by_slot[s])
        procs = []
        for port, cmds in streams.items():
            data = b"".join(cmds)
            path = os.path.join(self.dir, "load-%d.resp" % port)
            with open(path, "wb") as f:
                f.write(data)
            with open(path, "rb") as f:
                procs.append((port, path, subprocess.Popen(
                    [REDIS_CLI, "-h", HOST, "-p", str(port), "--pipe"],
                    stdin=f, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT)))
        for port, path, p in procs:
            out = p.communicate(timeout=600)[0].decode("utf-8", "replace")
            os.unlink(path)
            with open(self.log, "a") as f:
                f.write("load %d:\n%s\n" % (port, out))
            if p.returncode != 0 or "errors: 0" not in out:
                raise BenchError("%s: redis-cli --pipe to %d failed:\n%s"
                                 % (self.name, port, out))
        got = self.dbsize_sum()
        if got != nkeys:
            raise BenchError("%s: DBSIZE sum %d != %d after load"
                             % (self.name, got, nkeys))

    def replicas_caught_up(self):
        for p in self.primary_ports():
            r = info_dict(p, "replication")
            off = int(r["master_repl_offset"])
            n = int(r.get("connected_slaves", 0))
            for i in range(n):
                kv = dict(x.split("=", 1) for x in r["slave%d" % i].split(","))
                if kv.get("state") != "online" or int(kv["offset"]) != off:
                    return False
        return True

    def wait_replicas(self, timeout=120):
        wait_until(self.replicas_caught_up, timeout,
                   "%s: replicas to catch up" % self.name, interval=0.5)

    def verify_after(self, nkeys):
        """After a migration: check passes, no open slot, no key lost."""
        def check_ok():
            rc, out = run([REDIS_CLI, "--cluster", "check", self.entry],
                          timeout=60, check=False)
            with open(self.log, "a") as f:
                f.write(out)
            # open slots show as "[WARNING] Node ... has slots in
            # importing/migrating state"; disagreement/coverage as [ERR]
            bad = "[WARNING]" in out or "[ERR]" in out
            return rc == 0 and not bad
        wait_until(check_ok, 60, "%s: redis-cli --cluster check to pass"
                   % self.name, interval=1.0)
        for p in self.all_ports():
            txt = call(p, "CLUSTER", "INFO")
            if "cluster_state:ok" not in txt:
                raise BenchError("%s: %d is not cluster_state:ok"
                                 % (self.name, p))
        got = self.dbsize_sum()
        if got != nkeys:
            raise BenchError("%s: DBSIZE sum %d != %d after migration "
                             "(keys lost)" % (self.name, got, nkeys))


# ---------------------------------------------------------------------------


MOVE_COMMANDS = ("migrate", "cluster|setslot", "cluster|getkeysinslot",
                 "cluster|countkeysinslot", "memory|usage")


def command_counts(before, after, nodes):
    """What the servers ran between two commandstats snapshots: the
    commands a mover sends per slot, and all others (less the INFO
    commandstats of the snapshot itself, once per node)."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out = {k: delta.get(k, 0) for k in MOVE_COMMANDS}
    out["info"] = delta.get("info", 0) - nodes
    out["other"] = sum(v for k, v in delta.items()
                       if k not in MOVE_COMMANDS and k != "info")
    out["total"] = sum(out[k] for k in MOVE_COMMANDS) + out["other"]
    return out


def cpu_roles(cl, before, after, sources):
    """CPU seconds of the move by role: target, sources, replicas."""
    d = {p: after.get(p, 0) - before.get(p, 0) for p in after}
    src = [d.get(p, 0) for p in sources]
    return {"target": round(d.get(cl.new_port, 0), 2),
            "sources": round(sum(src), 2),
            "busiest_source": round(max(src) if src else 0, 2),
            "replicas": round(sum(v for p, v in d.items()
                                  if p != cl.new_port and p not in sources), 2),
            "busiest_server": round(max(d.values()) if d else 0, 2)}


def last_summary(out):
    """The {"event":"summary"} line of slotpilot's --json output."""
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"summary"' in line:
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def print_timeline(r):
    """Where slotpilot's wall time went, from its JSON summary."""
    s = r.get("summary") or {}
    eng = s.get("engine")
    if not eng:
        print("slotpilot: no timeline in its summary (an older binary?)")
        return
    wall = r["seconds"]
    print("\nWhere slotpilot's %.2f s went (its --json summary):" % wall)
    print("  before the engine (gathers, plan, checks): %.3f s" % eng["before_s"])
    print("  engine setup (pairs, guard baseline): %.3f s, teardown %.3f s,"
          " journal %.3f s" % (eng["setup_s"], eng["teardown_s"], eng["journal_s"]))
    print("  engine: %.3f s; process start/exit and the rest: %.3f s"
          % (s["seconds"], wall - eng["before_s"] - s["seconds"] - eng["journal_s"]))
    steps = ("check", "open", "keys", "migrate", "final", "pause", "other")
    hdr = "  %-34s %6s %7s" % ("pair", "slots", "wall s") + "".join(
        " %8s" % x for x in steps) + " %8s" % "RTT/slot"
    print(hdr)
    for x in eng["pairs"] + [dict(eng["all"], src="all pairs", dst="(sum)")]:
        w = x["wall_s"] or 1e-9
        name = "%s -> %s" % (x["src"], x["dst"])
        print("  %-34s %6d %7.3f" % (name[:34], x["slots"], x["wall_s"]) + "".join(
            " %7.1f%%" % (100.0 * x[k + "_s"] / w) for k in steps) +
            " %8.3f" % (x["round_trips"] / max(1, x["slots"])))


def sp_has_reshard(sp):
    try:
        p = subprocess.run([sp, "reshard", "--help"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(ROOT, "build", "slotpilot"),
                    help="slotpilot binary (default build/slotpilot)")
    ap.add_argument("--keys", type=int,
                    default=int(os.environ.get("BENCH_KEYS", 1000000)))
    ap.add_argument("--value", type=int,
                    default=int(os.environ.get("BENCH_VALUE", 100)),
                    help="value size in bytes")
    ap.add_argument("--port-a", type=int, default=18001,
                    help="first port of cluster A (bus ports are +10000: keep both below 32768)")
    ap.add_argument("--port-b", type=int, default=18101,
                    help="first port of cluster B")
    ap.add_argument("--workdir", default=None,
                    help="where the clusters live (default: bench/out/engine-run)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--redis-cli-only", action="store_true",
                    help="time only redis-cli (cluster B is not built)")
    args = ap.parse_args()

    _selftest_keyslot()
    sp = os.path.abspath(args.sp)
    if not os.access(sp, os.X_OK):
        raise BenchError("slotpilot binary not found: %s (run make)" % sp)
    with_sp = not args.redis_cli_only
    if with_sp and not sp_has_reshard(sp):
        raise BenchError("%s has no 'reshard' command yet; use "
                         "--redis-cli-only to time redis-cli alone" % sp)
    os.makedirs(args.out, exist_ok=True)
    workdir = os.path.abspath(args.workdir or os.path.join(args.out,
                                                           "engine-run"))
    nodes = 3 * 2 + 1
    base_a = pick_base(args.port_a, nodes, set())
    used = set(range(base_a, base_a + nodes))
    used |= {p + 10000 for p in used}
    base_b = pick_base(args.port_b, nodes, used) if with_sp else None
    for want, got in ((args.port_a, base_a), (args.port_b, base_b)):
        if got is not None and got != want:
            log("ports %d..%d (or their bus ports) are busy: using %d.."
                % (want, want + nodes - 1, got))

    for f in glob.glob(os.path.join(args.out, "cluster-*.log")):
        os.unlink(f)
    a = Cluster("A", sp, workdir, base_a, 3, 1, args.out)
    clusters = [a]
    b = None
    if with_sp:
        b = Cluster("B", sp, workdir, base_b, 3, 1, args.out)
        clusters.append(b)

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    t_start = time.monotonic()
    results = []
    try:
        for c in clusters:
            log("cluster %s: 3 primaries + 3 replicas on %d..%d, empty "
                "primary %d (dir %s)" % (c.name, c.base, c.base + 5,
                                         c.new_port, c.dir))
            c.up()
        log("generating %d keys of %d-byte values" % (args.keys, args.value))
        t0 = time.monotonic()
        by_slot = build_commands(args.keys, args.value)
        log("generated in %.1fs" % (time.monotonic() - t0))
        for c in clusters:
            t0 = time.monotonic()
            c.load(by_slot, args.keys)
            log("cluster %s: loaded %d keys in %.1fs" %
                (c.name, args.keys, time.monotonic() - t0))
        del by_slot
        for c in clusters:
            c.wait_replicas()
        log("replicas caught up")

        # A: redis-cli rebalance onto the empty primary
        log("A: redis-cli --cluster rebalance %s --cluster-use-empty-masters"
            % a.entry)
        cmd = [REDIS_CLI, "--cluster", "rebalance", a.entry,
               "--cluster-use-empty-masters", "--cluster-yes"]
        rlog = os.path.join(args.out, "redis-cli-rebalance.log")
        if os.path.exists(rlog):
            os.unlink(rlog)
        sources_a = [q for q in a.primary_ports() if q != a.new_port]
        cpu0, cs0, by0, use_a = a.server_cpu(), a.commandstats(), a.server_cpu_by_port(), {}
        t0 = time.monotonic()
        run(cmd, timeout=3600, log_path=rlog, usage=use_a)
        t_a = time.monotonic() - t0
        cpu_a = a.server_cpu() - cpu0
        roles_a = cpu_roles(a, by0, a.server_cpu_by_port(), sources_a)
        cmds_a = command_counts(cs0, a.commandstats(), len(a.all_ports()))
        a.verify_after(args.keys)
        slots_a = a.slots_of(a.new_port)
        keys_a = call(a.new_port, "DBSIZE")
        if slots_a == 0:
            raise BenchError("A: redis-cli moved no slot")
        if abs(slots_a - NSLOTS // 4) > 8:
            log("A: note: new node owns %d slots (expected ~%d)"
                % (slots_a, NSLOTS // 4))
        log("A: %d slots, %d keys in %.2fs" % (slots_a, keys_a, t_a))
        results.append({"tool": "redis-cli --cluster rebalance",
                        "command": " ".join(cmd), "slots": slots_a,
                        "keys": keys_a, "seconds": round(t_a, 3),
                        "server_cpu_s": round(cpu_a, 2),
                        "cpu_by_role": roles_a, "commands": cmds_a,
                        "mover_cpu_s": round(use_a["cpu_s"], 2),
                        "mover_maxrss_mib": round(use_a["maxrss_mib"], 1),
                        "keys_per_s": round(keys_a / t_a, 1)})

        if with_sp:
            b.wait_replicas()
            jdir = os.path.join(args.out, "engine-journal")  # kept to read
            shutil.rmtree(jdir, ignore_errors=True)
            os.makedirs(jdir)
            cmd = [sp, "reshard", b.entry, "--from", "all", "--to", b.new_addr,
                   "--slots", str(slots_a), "--yes", "--journal-dir", jdir,
                   "--json", "--fast"]  # the engine's speed: no guard, as redis-cli
            log("B: %s" % " ".join(cmd))
            slog = os.path.join(args.out, "slotpilot-reshard.log")
            if os.path.exists(slog):
                os.unlink(slog)
            sources_b = [q for q in b.primary_ports() if q != b.new_port]
            cpu0, cs0, by0, use_b = b.server_cpu(), b.commandstats(), b.server_cpu_by_port(), {}
            t0 = time.monotonic()
            _, out_b = run(cmd, timeout=3600, log_path=slog, usage=use_b)
            t_b = time.monotonic() - t0
            cpu_b = b.server_cpu() - cpu0
            roles_b = cpu_roles(b, by0, b.server_cpu_by_port(), sources_b)
            cmds_b = command_counts(cs0, b.commandstats(), len(b.all_ports()))
            b.verify_after(args.keys)
            slots_b = b.slots_of(b.new_port)
            keys_b = call(b.new_port, "DBSIZE")
            if slots_b != slots_a:
                raise BenchError("B: new node owns %d slots, expected %d"
                                 % (slots_b, slots_a))
            log("B: %d slots, %d keys in %.2fs" % (slots_b, keys_b, t_b))
            results.append({"tool": "slotpilot reshard",
                            "command": " ".join(cmd), "slots": slots_b,
                            "keys": keys_b, "seconds": round(t_b, 3),
                            "server_cpu_s": round(cpu_b, 2),
                            "cpu_by_role": roles_b, "commands": cmds_b,
                            "mover_cpu_s": round(use_b["cpu_s"], 2),
                            "mover_maxrss_mib": round(use_b["maxrss_mib"], 1),
                            "summary": last_summary(out_b),
                            "keys_per_s": round(keys_b / t_b, 1)})
    finally:
        for c in clusters:
            if c.started:
                log("cluster %s: stopping" % c.name)
                c.down()
        try:
            os.rmdir(workdir)
        except OSError:
            pass

    repro = "/usr/bin/python3 bench/engine.py --sp %s" % args.sp
    if args.keys != 1000000 or args.value != 100:
        repro = "BENCH_KEYS=%d BENCH_VALUE=%d %s" % (args.keys, args.value,
                                                     repro)
    if args.redis_cli_only:
        repro += " --redis-cli-only"
    ratio = None
    if len(results) == 2 and results[1]["seconds"] > 0:
        ratio = round(results[0]["seconds"] / results[1]["seconds"], 2)

    print()
    print("Migration benchmark: %d keys x %d B, 3 primaries + 3 replicas, "
          "slots moved to 1 new empty primary" % (args.keys, args.value))
    hdr = "%-30s %8s %10s %10s %12s %14s" % ("tool", "slots", "keys",
                                             "seconds", "keys/s",
                                             "redis CPU s")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print("%-30s %8d %10d %10.2f %12.0f %14.2f"
              % (r["tool"], r["slots"], r["keys"], r["seconds"],
                 r["keys_per_s"], r["server_cpu_s"]))
    if ratio is not None:
        print("\nratio (redis-cli time / slotpilot time): %.2fx" % ratio)
    ncpu = os.cpu_count() or 1
    for r in results:
        # The servers' own work (MIGRATE's DUMP, RESTORE, DEL, replication,
        # AOF) bounds any mover: it cannot finish before the machine's
        # cores have done that much CPU, nor before the busiest server
        # (one thread) has done its share.
        floor = r["server_cpu_s"] / ncpu
        ro = r["cpu_by_role"]
        r["floor_s"] = round(floor, 3)
        r["over_floor"] = round(r["seconds"] / floor, 2) if floor > 0 else None
        print("\n%s: the redis-servers used %.2f CPU-s; on %d cores that "
              "alone takes >= %.2f s: wall time %.2fx that floor"
              % (r["tool"], r["server_cpu_s"], ncpu, floor,
                 r["over_floor"] or 0))
        both = (r["server_cpu_s"] + r["mover_cpu_s"]) / ncpu
        r["floor_with_mover_s"] = round(both, 3)
        r["cores_busy"] = round((r["server_cpu_s"] + r["mover_cpu_s"])
                                / r["seconds"], 2)
        print("  with the mover's own CPU the floor is %.2f s (wall %.2fx); "
              "on average %.2f of the %d cores were busy"
              % (both, r["seconds"] / both if both else 0, r["cores_busy"],
                 ncpu))
        print("  CPU-s by role: target %.2f, sources %.2f (busiest %.2f), "
              "replicas %.2f; the mover itself %.2f (peak RSS %.1f MiB)"
              % (ro["target"], ro["sources"], ro["busiest_source"],
                 ro["replicas"], r["mover_cpu_s"], r["mover_maxrss_mib"]))
        c = r["commands"]
        print("  commands per slot: %.2f in all (MIGRATE %.2f, SETSLOT %.2f, "
              "GETKEYSINSLOT %.2f, COUNTKEYSINSLOT %.2f, MEMORY USAGE %.2f, "
              "other %.2f)" % tuple(v / float(r["slots"]) for v in (
                  c["total"], c["migrate"], c["cluster|setslot"],
                  c["cluster|getkeysinslot"], c["cluster|countkeysinslot"],
                  c["memory|usage"], c["other"])))
    if len(results) == 2:
        print_timeline(results[1])
    print("\nreproduce: %s" % repro)

    doc = {
        "benchmark": "engine",
        "keys": args.keys, "value_bytes": args.value,
        "topology": "3 primaries + 3 replicas + 1 empty primary",
        "redis_server": subprocess.run([REDIS_SERVER, "--version"],
                                       stdout=subprocess.PIPE).stdout
        .decode().strip(),
        "cpus": os.cpu_count(),
        "results": results,
        "ratio_redis_cli_over_slotpilot": ratio,
        "total_seconds": round(time.monotonic() - t_start, 1),
        "reproduce": repro,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = os.path.join(args.out, "engine.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("wrote %s" % os.path.relpath(path))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, redis.RedisError) as e:
        print("bench/engine.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench/engine.py: interrupted", file=sys.stderr)
        sys.exit(130)
