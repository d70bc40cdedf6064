#!/usr/bin/python3
"""Large clusters: slotpilot rebalance vs redis-cli --cluster rebalance.

For each size P in --sizes (primaries, each with one replica), one size at
a time, builds two identical clusters in turn (redis-cli's, torn down, then
slotpilot's) with `slotpilot local up --node-timeout 15000`, loads the same
--keys keys of 100 B, joins 4 empty primaries one at a time with
`redis-cli --cluster add-node`, then times

  redis-cli --cluster rebalance ENTRY --cluster-use-empty-masters --cluster-yes
  slotpilot rebalance ENTRY --use-empty-masters --yes --json --journal-dir D

and measures, for each: wall time, the commands the servers received per slot
moved (INFO commandstats before and after, on every node), slotpilot's peak
RSS (wait4's ru_maxrss) and its round trips per slot when its JSON summary
reports them; then, on slotpilot's cluster, the median of 5 runs of
`slotpilot check`, `slotpilot status` and `redis-cli --cluster check`.
It asserts no timing; it fails only when a cluster is unhealthy or keys are
lost. Clusters are always stopped at the end (only through their pid files).

    /usr/bin/python3 bench/scale.py --sp build/slotpilot
    /usr/bin/python3 bench/scale.py --sizes 3 --keys 20000     # quick

Reuses bench/engine.py's Cluster, key generator and helpers.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engine  # noqa: E402
from engine import (HOST, REDIS_CLI, BenchError, call, log,  # noqa: E402
                    run)

NEW_PRIMARIES = 4
VALUE_BYTES = 100
NODE_TIMEOUT_MS = 15000
MOVE_TIMEOUT_S = 3600
GNU_TIME = "/usr/bin/time"
# Commands the servers send themselves or that replication and the replicas'
# acks produce: not the mover's. MIGRATE makes the source send RESTORE-ASKING
# (after a SELECT on its cached connection) to the target; replicas receive
# the primaries' writes (DEL, RESTORE) and pings, primaries get REPLCONF ACK
# every second.
NOT_FROM_MOVER = ("restore-asking", "select", "replconf")
MOVE_COMMANDS = (("setslot", "cluster|setslot"), ("migrate", "migrate"),
                 ("getkeysinslot", "cluster|getkeysinslot"),
                 ("countkeysinslot", "cluster|countkeysinslot"))


class ScaleCluster(engine.Cluster):
    """engine.Cluster with any number of empty primaries joined after the
    load (engine.Cluster joins one in up())."""

    def __init__(self, name, sp, root, base, primaries, out_dir):
        super().__init__(name, sp, root, base, primaries, 1, out_dir)
        self.extra_ports = []
        self.total = self.nodes

    def all_ports(self):
        return self.ports + self.extra_ports

    def planned_ports(self):
        """Every port the cluster will use, the new primaries' included."""
        return list(range(self.base, self.base + self.nodes + NEW_PRIMARIES))

    def up(self):
        if os.path.exists(self.dir):
            self.down()
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        self.started = True
        run([self.sp, "local", "up", "--dir", self.dir, "--port",
             str(self.base), "--primaries", str(self.primaries),
             "--replicas", "1", "--node-timeout", str(NODE_TIMEOUT_MS),
             # 80 nodes on 2 cores take longer than local up's default
             # 60 s to agree on every role
             "--wait", "600"],
            timeout=600, log_path=self.log)
        self.wait_healthy(120, "%d nodes after local up" % self.total)

    def add_primaries(self, n):
        """Start n empty nodes and join them one at a time, each time
        waiting until every node knows every node and check passes.
        Returns [(add-node seconds, convergence seconds)] per node."""
        times = []
        for i in range(n):
            port = self.base + self.nodes + i
            self.start_extra_node(port)
            self.extra_ports.append(port)
            self.total += 1
            t0 = time.monotonic()
            run([REDIS_CLI, "--cluster", "add-node", "%s:%d" % (HOST, port),
                 self.entry], timeout=300, log_path=self.log)
            t1 = time.monotonic()
            self.wait_healthy(300, "%d nodes after add-node %d"
                              % (self.total, port))
            times.append((round(t1 - t0, 2), round(time.monotonic() - t1, 1)))
        return times

    def down(self):
        super().down()
        self.extra_ports = []
        self.total = self.nodes


# ---------------------------------------------------------------------------
# measurements


def commandstats(ports):
    """port -> {command: calls} from INFO commandstats."""
    out = {}
    for p in ports:
        d = {}
        for k, v in engine.info_dict(p, "commandstats").items():
            if k.startswith("cmdstat_"):
                kv = dict(x.split("=", 1) for x in v.split(","))
                d[k[len("cmdstat_"):]] = int(kv["calls"])
        out[p] = d
    return out


def command_deltas(before, after, replicas):
    """Calls per command between two commandstats() snapshots, summed over
    the nodes. The snapshot's own INFO (one per node) is taken off; on a
    replica only what is not replication is counted (reads of the mover)."""
    total = {}
    for p, a in after.items():
        b = before.get(p, {})
        for cmd, n in a.items():
            d = n - b.get(cmd, 0)
            if cmd == "info":
                d -= 1
            if d <= 0 or cmd in NOT_FROM_MOVER:
                continue
            if p in replicas and not cmd.startswith(("cluster|", "info",
                                                     "config", "command")):
                continue
            total[cmd] = total.get(cmd, 0) + d
    return total


def per_slot(deltas, slots):
    """Commands per slot moved: total, each move command, all other."""
    s = max(slots, 1)
    named = {name: deltas.get(cmd, 0) for name, cmd in MOVE_COMMANDS}
    other = sum(deltas.values()) - sum(named.values())
    r = {"total": round(sum(deltas.values()) / s, 2),
         "other": round(other / s, 2)}
    r.update({k: round(v / s, 2) for k, v in named.items()})
    return r


def replica_ports(c):
    ps = set()
    for line in call(c.base, "CLUSTER", "NODES").splitlines():
        f = line.split()
        if len(f) >= 8 and "slave" in f[2].split(","):
            ps.add(int(f[1].split("@")[0].rsplit(":", 1)[1]))
    return ps


def slots_moved(before, after):
    return sum(1 for a, b in zip(before, after) if a != b)


def rtt_per_slot(summary):
    """Critical-path round trips per slot, max over source/target pairs,
    from the summary's "engine" object when the build reports it."""
    eng = (summary or {}).get("engine")
    if not isinstance(eng, dict) or "pairs" not in eng:
        return None
    pairs = eng["pairs"]
    if isinstance(pairs, dict):
        pairs = list(pairs.values())
    ratios = [p["round_trips"] / p["slots"] for p in pairs
              if isinstance(p, dict) and p.get("slots")]
    return round(max(ratios), 2) if ratios else None


# ---------------------------------------------------------------------------
# the two movers


def run_redis_cli(c, log_path):
    cmd = [REDIS_CLI, "--cluster", "rebalance", c.entry,
           "--cluster-use-empty-masters", "--cluster-yes"]
    t0 = time.monotonic()
    run(cmd, timeout=MOVE_TIMEOUT_S, log_path=log_path)
    return {"command": " ".join(cmd), "seconds": time.monotonic() - t0}


_children = []  # slotpilot processes running now, stopped in finally


def kill_group(p):
    """SIGKILL the process group p leads (GNU time and its slotpilot)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_slotpilot(c, jdir, log_path):
    """slotpilot rebalance under Popen + wait4; its output goes to log_path,
    the JSON summary is read back from there. Peak RSS: a child's ru_maxrss
    on Linux starts from the RSS of the process that forked it (its mm
    before exec: here a copy of this Python, keys and all), so GNU time, a
    1 MiB process, forks slotpilot and reports its ru_maxrss (%M)."""
    shutil.rmtree(jdir, ignore_errors=True)
    os.makedirs(jdir)
    # --fast: the engine's speed, without the latency guard (redis-cli has none)
    cmd = [c.sp, "rebalance", c.entry, "--use-empty-masters", "--yes",
           "--json", "--fast", "--journal-dir", jdir]
    rss_file = log_path + ".rss"
    timed = ([GNU_TIME, "-f", "%M", "-o", rss_file] + cmd
             if os.access(GNU_TIME, os.X_OK) else cmd)
    with open(log_path, "w") as f:
        t0 = time.monotonic()
        # own process group: time and slotpilot are stopped together
        p = subprocess.Popen(timed, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
        _children.append(p)
        timer = threading.Timer(MOVE_TIMEOUT_S, kill_group, (p,))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        secs = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        _children.remove(p)
    with open(log_path) as f:
        out = f.read()
    if p.returncode != 0:
        raise BenchError("%s failed (rc=%d):\n%s" % (" ".join(cmd),
                                                     p.returncode, out[-3000:]))
    res = {"command": " ".join(cmd), "seconds": secs,
           "summary": json_summary(out)}
    res.update(peak_rss(timed is cmd, ru, rss_file))
    return res


def peak_rss(untimed, ru, rss_file):
    """{"peak_rss_mib": ...} from GNU time's file, or from wait4 (then an
    upper bound: it includes this process's RSS at fork)."""
    if untimed:
        return {"peak_rss_mib": round(ru.ru_maxrss / 1024.0, 1),
                "peak_rss_note": "wait4 ru_maxrss, includes the parent's RSS"}
    with open(rss_file) as f:
        kib = int(f.read().split()[-1])
    os.unlink(rss_file)
    return {"peak_rss_mib": round(kib / 1024.0, 1)}


def json_summary(out):
    summary = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "summary":
                summary = ev
    return summary


def median_seconds(cmd, reps=5):
    """Median wall time of reps runs of cmd; each must exit 0."""
    times = []
    for _ in range(reps):
        t0 = time.monotonic()
        run(cmd, timeout=300)
        times.append(time.monotonic() - t0)
    return round(statistics.median(times), 3)


def tool_timings(c):
    return {"check_s": median_seconds([c.sp, "check", c.entry]),
            "status_s": median_seconds([c.sp, "status", c.entry]),
            "redis_cli_check_s": median_seconds(
                [REDIS_CLI, "--cluster", "check", c.entry])}


# ---------------------------------------------------------------------------
# one cluster, one size


def prepare(c, by_slot, nkeys):
    log("%s: %d primaries + %d replicas on %d.. (dir %s)"
        % (c.name, c.primaries, c.primaries, c.base, c.dir))
    t0 = time.monotonic()
    c.up()
    log("%s: up in %.1fs" % (c.name, time.monotonic() - t0))
    t0 = time.monotonic()
    c.load(by_slot, nkeys)
    c.wait_replicas(300)
    log("%s: %d keys loaded, replicas caught up in %.1fs"
        % (c.name, nkeys, time.monotonic() - t0))
    t0 = time.monotonic()
    steps = c.add_primaries(NEW_PRIMARIES)
    add_s = time.monotonic() - t0
    log("%s: %d empty primaries joined in %.1fs (add-node s, then s until "
        "all nodes agree and check passes: %s)"
        % (c.name, NEW_PRIMARIES, add_s, steps))
    return add_s


def measure(c, mover, nkeys):
    """Run mover(c) between two commandstats snapshots; verify the cluster
    and return the mover's result with slots and commands per slot."""
    owners0 = c.slot_owners()
    replicas = replica_ports(c)
    stats0 = commandstats(c.all_ports())
    res = mover(c)
    stats1 = commandstats(c.all_ports())
    c.verify_after(nkeys)
    res["slots_moved"] = slots_moved(owners0, c.slot_owners())
    res["new_primary_slots"] = {p: c.slots_of(p) for p in c.extra_ports}
    empty = [p for p, n in res["new_primary_slots"].items() if n == 0]
    if empty:
        raise BenchError("%s: new primaries %s own no slot" % (c.name, empty))
    res["commands"] = command_deltas(stats0, stats1, replicas)
    res["per_slot"] = per_slot(res["commands"], res["slots_moved"])
    res["seconds"] = round(res["seconds"], 3)
    log("%s: %d slots in %.2fs; new primaries' slots %s; commands/slot %s"
        % (c.name, res["slots_moved"], res["seconds"],
           res["new_primary_slots"], res["per_slot"]))
    return res


def pick_base(args, primaries):
    n = 2 * primaries + NEW_PRIMARIES
    base = engine.pick_base(args.port, n, set())
    if base + n - 1 + 10000 >= 32768:
        raise BenchError("no free ports for %d nodes from %d below 32768 "
                         "(bus ports included)" % (n, args.port))
    if base != args.port:
        log("ports from %d (or their bus ports) are busy: using %d.."
            % (args.port, base))
    return base


def stop_children():
    """Kill the slotpilot still running (an interrupt during its wait)."""
    for p in list(_children):
        kill_group(p)
        p.wait()
        _children.remove(p)


def one_tool(args, tool, primaries, by_slot, workdir):
    """Build, load, grow and rebalance one cluster with tool; always torn
    down. Returns (measurements, add-node seconds)."""
    c = ScaleCluster("%s-%d" % (tool, primaries), args.sp, workdir,
                     pick_base(args, primaries), primaries, args.out)
    lp = os.path.join(args.out, "scale-%s.log" % c.name)
    for f in (c.log, lp):
        if os.path.exists(f):
            os.unlink(f)
    try:
        add_s = prepare(c, by_slot, args.keys)
        if tool == "redis-cli":
            return measure(c, lambda c: run_redis_cli(c, lp), args.keys), add_s
        jdir = os.path.join(args.out, "scale-journal")
        res = measure(c, lambda c: run_slotpilot(c, jdir, lp), args.keys)
        res["rtt_per_slot"] = rtt_per_slot(res["summary"])
        log("%s: peak RSS %.1f MiB, round trips/slot %s; timing check, "
            "status, redis-cli check" % (c.name, res["peak_rss_mib"],
                                         res["rtt_per_slot"]))
        res.update(tool_timings(c))
        return res, add_s
    finally:
        stop_children()
        if c.started:
            log("%s: stopping" % c.name)
            c.down()


def one_size(args, primaries, by_slot, workdir):
    """Both clusters of one size, one after the other."""
    result = {"primaries": primaries, "nodes": 2 * primaries + NEW_PRIMARIES}
    for tool in ("redis-cli", "slotpilot"):
        result[tool], add_s = one_tool(args, tool, primaries, by_slot,
                                       workdir)
        result["add_node_s_" + tool] = round(add_s, 1)
    a, b = result["redis-cli"]["seconds"], result["slotpilot"]["seconds"]
    result["ratio"] = round(a / b, 2) if b > 0 else None
    return result


# ---------------------------------------------------------------------------
# output


COLUMNS = [
    ("nodes", "%5s", lambda r: "%d+%d+%d" % (r["primaries"], r["primaries"],
                                            NEW_PRIMARIES)),
    ("slots rc/sp", "%11s", lambda r: "%d/%d" % (
        r["redis-cli"]["slots_moved"], r["slotpilot"]["slots_moved"])),
    ("redis-cli s", "%11.2f", lambda r: r["redis-cli"]["seconds"]),
    ("slotpilot s", "%11.2f", lambda r: r["slotpilot"]["seconds"]),
    ("ratio", "%6.2f", lambda r: r["ratio"] or 0.0),
    ("cmd/slot rc", "%11.2f", lambda r: r["redis-cli"]["per_slot"]["total"]),
    ("cmd/slot sp", "%11.2f", lambda r: r["slotpilot"]["per_slot"]["total"]),
    ("SETSLOT rc", "%10.2f", lambda r: r["redis-cli"]["per_slot"]["setslot"]),
    ("SETSLOT sp", "%10.2f", lambda r: r["slotpilot"]["per_slot"]["setslot"]),
    ("MIGRATE rc", "%10.2f", lambda r: r["redis-cli"]["per_slot"]["migrate"]),
    ("MIGRATE sp", "%10.2f", lambda r: r["slotpilot"]["per_slot"]["migrate"]),
    ("RTT/slot sp", "%11s", lambda r: "-" if r["slotpilot"]["rtt_per_slot"]
     is None else "%.2f" % r["slotpilot"]["rtt_per_slot"]),
    ("sp RSS MiB", "%10.1f", lambda r: r["slotpilot"]["peak_rss_mib"]),
    ("check s", "%7.3f", lambda r: r["slotpilot"]["check_s"]),
    ("status s", "%8.3f", lambda r: r["slotpilot"]["status_s"]),
    ("rc check s", "%10.3f", lambda r: r["slotpilot"]["redis_cli_check_s"]),
]


def print_table(results, keys):
    print()
    print("Large clusters: %d keys x %d B; P primaries + P replicas + %d empty "
          "primaries, rebalanced onto the empty ones (rc = redis-cli, "
          "sp = slotpilot; commands per slot moved, from INFO commandstats)"
          % (keys, VALUE_BYTES, NEW_PRIMARIES))
    widths = [len(fmt % fn(results[0])) for _, fmt, fn in COLUMNS]
    widths = [max(w, len(h)) for w, (h, _, _) in zip(widths, COLUMNS)]
    print("  ".join(h.rjust(w) for w, (h, _, _) in zip(widths, COLUMNS)))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for r in results:
        print("  ".join((fmt % fn(r)).rjust(w)
                        for w, (_, fmt, fn) in zip(widths, COLUMNS)))
    for r in results:
        print("%d primaries: add-node of %d empty primaries took %.1fs "
              "(redis-cli cluster) and %.1fs (slotpilot cluster); other "
              "commands/slot rc %.2f, sp %.2f"
              % (r["primaries"], NEW_PRIMARIES, r["add_node_s_redis-cli"],
                 r["add_node_s_slotpilot"],
                 r["redis-cli"]["per_slot"]["other"],
                 r["slotpilot"]["per_slot"]["other"]))


def write_json(args, results, repro, t_start):
    doc = {
        "benchmark": "scale", "keys": args.keys, "value_bytes": VALUE_BYTES,
        "new_primaries": NEW_PRIMARIES, "node_timeout_ms": NODE_TIMEOUT_MS,
        "redis_server": subprocess.run([engine.REDIS_SERVER, "--version"],
                                       stdout=subprocess.PIPE).stdout
        .decode().strip(),
        "cpus": os.cpu_count(), "results": results,
        "total_seconds": round(time.monotonic() - t_start, 1),
        "reproduce": repro, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = os.path.join(args.out, "scale.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return path


# ---------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(engine.ROOT, "build",
                                                 "slotpilot"),
                    help="slotpilot binary (default build/slotpilot)")
    ap.add_argument("--sizes", default="3,20,40",
                    help="primaries per cluster, comma-separated")
    ap.add_argument("--keys", type=int, default=500000)
    ap.add_argument("--port", type=int, default=20001,
                    help="first port (bus ports are +10000: below 32768)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    args.sp = os.path.abspath(args.sp)
    args.out = os.path.abspath(args.out)
    args.sizes_list = [int(x) for x in args.sizes.split(",") if x]
    top = args.port + 2 * max(args.sizes_list) + NEW_PRIMARIES + 10000
    if top >= 32768:
        ap.error("bus port %d would be >= 32768: lower --port" % top)
    return args


def reproduce(args):
    return ("/usr/bin/python3 bench/scale.py --sp %s --sizes %s --keys %d "
            "--port %d" % (os.path.relpath(args.sp), args.sizes, args.keys,
                           args.port))


def on_term(signum, frame):
    raise KeyboardInterrupt()


def main():
    args = parse_args()
    engine._selftest_keyslot()
    if not os.access(args.sp, os.X_OK):
        raise BenchError("slotpilot binary not found: %s (run make)" % args.sp)
    os.makedirs(args.out, exist_ok=True)
    workdir = os.path.join(args.out, "scale-run")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    t_start = time.monotonic()
    log("generating %d keys of %d-byte values" % (args.keys, VALUE_BYTES))
    by_slot = engine.build_commands(args.keys, VALUE_BYTES)
    results = []
    try:
        for p in args.sizes_list:
            results.append(one_size(args, p, by_slot, workdir))
    finally:
        try:
            os.rmdir(workdir)
        except OSError:
            pass
    print_table(results, args.keys)
    repro = reproduce(args)
    print("\nreproduce: %s" % repro)
    print("wrote %s" % os.path.relpath(write_json(args, results, repro,
                                                  t_start)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, engine.redis.RedisError) as e:
        print("bench/scale.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench/scale.py: interrupted", file=sys.stderr)
        sys.exit(130)
