#!/usr/bin/python3
"""Latency benchmark (issue #6, "zero-downtime proof"): what clients see
while slots move.

Each run builds a fresh local cluster like bench/engine.py (3 primaries +
3 replicas, one empty primary joined, --keys keys of --value bytes), then
starts two independent client processes with steady, fixed-rate traffic:

  - `slotpilot traffic` (--series CSV: one line per second, --verify), and
  - bench/latency_client.py, a redis-py RedisCluster client that records
    every request and reads back every acknowledged write at the end,

waits --warmup + --before seconds (the baseline), moves 4096 slots onto
the empty primary with one mover, and keeps the traffic going --after
seconds. The movers, one run each on its own identical cluster:

  redis-cli    redis-cli --cluster rebalance E --cluster-use-empty-masters
  slotpilot    slotpilot rebalance E --use-empty-masters --yes (the
               guard is on by default, so this is the default guard)
  default      the same command, under the name the sweep gives it
  fast         the same with --fast: the latency guard off, full speed
  guard-inc    the same with --max-latency-increase PCT (--guard-inc)
  guard-p99    the same with --max-p99-ms MS (--guard-p99-ms)
  budget-Mx    the same with --max-p99-ms M x B, B the sweep's baseline
               (below)
  paced        the same at a fixed pace (--paced "OPTIONS", default
               "--rate 300slots --window 1": redis-cli's pace)

"during" is the mover's whole wall time (from exec to exit). For the
redis-py client the phase p99s are exact (nearest rank over every request
of the phase). `slotpilot traffic` reports per-second p50/p99/p99.9/max
only, so its phase p99 is the 0.99 quantile of the ops-weighted mixture of
those seconds (each second's distribution interpolated linearly between
its reported percentiles); a second counts in the phase that holds its
midpoint. Prints a table, the issue's goal verdict, writes
bench/out/latency.json and, with gnuplot, bench/out/latency-RUN.png (p99
per second of both clients, move interval shaded).

    /usr/bin/python3 bench/latency.py --sp build/slotpilot
    /usr/bin/python3 bench/latency.py --keys 100000 --runs slotpilot,guard-inc

The budget sweep (--sweep, or "sweep" in --runs; issue #17): what a
latency budget buys and costs. It runs redis-cli first; B is its redis-py
baseline p99 (slotpilot traffic's when the redis-py one is missing, or
--sweep-base-ms). Then fast, default and budget-Mx for every M of
--sweep-multiples (default 1.5,2,3,5,10). A budget slotpilot refuses
(not above the p99 its probes see before the move, exit 2) is reported
as refused and left out. It prints a sweep table (budget: the one given,
or for default the one slotpilot reports in its "Latency guard:" line;
the p99 during the move of both clients and its ratio to the client's
own baseline; redis-py's achieved/budget; move time; errors; lost
writes) and the issue's verdicts, for redis-py (the same for slotpilot
traffic on one line each). With T_rc, P_rc redis-cli's move time and
p99 ratio and the frontier the lower envelope of slotpilot's (move time,
p99 ratio) points (each point no other point beats on both; linear
between them, flat after the slowest):

  (a) at T_rc the frontier's increase (ratio - 1) is at most
      (P_rc - 1) / 2 (also given: the best point measured at or under
      T_rc, with no interpolation);
  (b) the fastest point with a ratio <= P_rc moves in <= T_rc / 3;
  (c) the default point alone: ratio - 1 <= (P_rc - 1) / 2, and time
      <= T_rc / 3, each reported;
  (d) the points with a ratio <= 1.10 (the seed's goal) and the fastest
      of them, or "not reached";

and per budget whether redis-py's p99 during the move stayed within 10 %
of it. A run stopped by --move-timeout counts with its time scaled to
4096 slots (marked "est"). With gnuplot, bench/out/latency-frontier.png:
move time against p99 ratio, slotpilot's points joined and named,
redis-cli's apart, both clients. The results go to latency.json's
"sweep" member.

    /usr/bin/python3 bench/latency.py --sp build/slotpilot --sweep
    /usr/bin/python3 bench/latency.py --sweep --sweep-multiples 2,5 --keys 20000

Asserts no timing. Exit 1 only when a cluster is unhealthy after a move, a
client cannot start, or a mover fails (a budget-Mx slotpilot refuses is
not a failure). Clusters are always stopped (through
their pid files); the client processes are stopped by their pid.
"""

import argparse
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engine as E  # noqa: E402  (the cluster helpers of engine.py)

ROOT = E.ROOT
RUNS = ("redis-cli", "slotpilot", "default", "fast", "guard-inc",
        "guard-p99", "paced")
BUDGET_RE = re.compile(r"^budget-([0-9]*\.?[0-9]+)x$")
DEFAULT_MULTIPLES = "1.5,2,3,5,10"
GOAL_RATIO = 1.10
BUDGET_SLACK = 1.10  # "within 10 % of the budget"
log = E.log
BenchError = E.BenchError


# ---------------------------------------------------------------------------
# statistics


def pct(values, q):
    """Nearest-rank quantile of a sorted list (None when empty)."""
    if not values:
        return None
    i = max(0, min(len(values) - 1, int(math.ceil(q * len(values))) - 1))
    return values[i]


def second_cdf(row, x):
    """Fraction of one second's requests at or below x ms, interpolated
    between (0,0), (p50,.5), (p99,.99), (p99.9,.999) and (max,1)."""
    pts = [(0.0, 0.0), (row["p50"], 0.5), (row["p99"], 0.99),
           (row["p999"], 0.999), (row["max"], 1.0)]
    if x >= pts[-1][0]:
        return 1.0
    for (x0, f0), (x1, f1) in zip(pts, pts[1:]):
        if x <= x1:
            return f1 if x1 <= x0 else f0 + (f1 - f0) * (x - x0) / (x1 - x0)
    return 1.0


def mixture_pct(rows, q):
    """q-quantile of the ops-weighted mixture of per-second rows."""
    rows = [r for r in rows if r["ops"] > 0]
    if not rows:
        return None
    n = float(sum(r["ops"] for r in rows))
    lo, hi = 0.0, max(r["max"] for r in rows)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(r["ops"] * second_cdf(r, mid) for r in rows) / n >= q:
            hi = mid
        else:
            lo = mid
    return hi


def ratio(a, b):
    return a / b if a is not None and b else None


# ---------------------------------------------------------------------------
# the two clients


class Clients:
    """slotpilot traffic and the redis-py client, as child processes."""

    def __init__(self, a, sp, entry_port, out, name):
        self.a, self.sp, self.port = a, sp, entry_port
        self.series = os.path.join(out, "latency-%s-sp.csv" % name)
        self.raw = os.path.join(out, "latency-%s-py.csv" % name)
        self.sp_out = os.path.join(out, "latency-%s-sp.log" % name)
        self.py_out = os.path.join(out, "latency-%s-py.log" % name)
        self.procs = []
        self.files = []

    def _spawn(self, cmd, path):
        f = open(path, "w")
        self.files.append(f)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start(self, cap_s):
        for f in (self.series, self.raw):
            if os.path.exists(f):
                os.unlink(f)
        a = self.a
        self.t_sp = time.time()
        self.sp_proc = self._spawn(
            [self.sp, "traffic", "%s:%d" % (E.HOST, self.port),
             "--seconds", str(cap_s), "--rate", str(a.sp_rate),
             "--connections", str(a.sp_connections), "--read-ratio", "0.5",
             "--keys", "10000", "--value-size", "100",
             "--prefix", "lat:sp:", "--verify", "--series", self.series,
             "--json"], self.sp_out)
        self.py_proc = self._spawn(
            [sys.executable, os.path.join(HERE, "latency_client.py"),
             "--port", str(self.port), "--out", self.raw,
             "--rate", str(a.py_rate), "--keys", "10000",
             "--max-seconds", str(cap_s)], self.py_out)
        E.wait_until(lambda: os.path.exists(self.raw) or
                     self.py_proc.poll() is not None, 30,
                     "the redis-py client to connect", interval=0.05)
        E.wait_until(lambda: os.path.exists(self.series) or
                     self.sp_proc.poll() is not None, 30,
                     "slotpilot traffic to start", interval=0.05)
        for p, what in ((self.py_proc, self.py_out),
                        (self.sp_proc, self.sp_out)):
            if p.poll() is not None:
                raise BenchError("client exited early (rc=%d), see %s"
                                 % (p.returncode, what))
        return max(time.time(), self.t_sp)

    def stop(self, timeout=120):
        """SIGINT/SIGTERM to our own two children (by pid), then wait:
        both read their keys back before they exit."""
        for p, sig in ((getattr(self, "sp_proc", None), signal.SIGINT),
                       (getattr(self, "py_proc", None), signal.SIGTERM)):
            if p is not None and p.poll() is None:
                p.send_signal(sig)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("client pid %d did not stop: killing it" % p.pid)
                p.kill()
                p.wait()
        for f in self.files:
            f.close()
        self.files = []

    def sp_summary(self):
        last = None
        with open(self.sp_out) as f:
            for line in f:
                if line.startswith('{"event":"traffic"'):
                    last = json.loads(line)
        if last is None:
            raise BenchError("slotpilot traffic printed no summary, see %s"
                             % self.sp_out)
        return last

    def py_summary(self):
        last = None
        with open(self.py_out) as f:
            for line in f:
                if line.startswith('{"event": "latency_client"'):
                    last = json.loads(line)
        if last is None:
            raise BenchError("the redis-py client printed no summary, see %s"
                             % self.py_out)
        return last

    def sp_rows(self):
        rows = []
        with open(self.series) as f:
            for r in csv.DictReader(f):
                at = self.t_sp + float(r["seconds"])
                rows.append({"t": at - 0.5, "ops": int(r["ops"]),
                             "p50": float(r["p50_ms"]),
                             "p99": float(r["p99_ms"]),
                             "p999": float(r["p999_ms"]),
                             "max": float(r["max_ms"]),
                             "errors": int(r["errors"])})
        return rows

    def py_rows(self):
        """(t, lat_ms, ok) of every request."""
        out = []
        with open(self.raw) as f:
            next(f, None)
            for line in f:
                p = line.rstrip("\n").split(",")
                if len(p) == 4:
                    out.append((float(p[0]), float(p[2]), p[3] == "1"))
        return out


# ---------------------------------------------------------------------------
# one run


def budget_multiple(run):
    """M of a budget-Mx run, else None."""
    m = BUDGET_RE.match(run)
    return float(m.group(1)) if m else None


def budget_run(m):
    return "budget-%gx" % m


def mover_cmd(a, sp, run, entry, jdir, p99_ms):
    """The mover's command line; p99_ms is the --max-p99-ms of guard-p99
    and budget-Mx runs."""
    if run == "redis-cli":
        return [E.REDIS_CLI, "--cluster", "rebalance", entry,
                "--cluster-use-empty-masters", "--cluster-yes"]
    cmd = [sp, "rebalance", entry, "--use-empty-masters", "--yes",
           "--journal-dir", jdir]
    if run == "fast":
        cmd += ["--fast"]
    elif run == "guard-inc":
        cmd += ["--max-latency-increase", "%g" % a.guard_inc]
    elif run == "guard-p99" or budget_multiple(run) is not None:
        cmd += ["--max-p99-ms", "%g" % p99_ms]
    elif run == "paced":
        cmd += a.paced.split()
    return cmd  # slotpilot, default: no latency option


def run_mover(cmd, timeout, log_path):
    """Runs the mover; past timeout, SIGINT (slotpilot then stops at a slot
    boundary, exit 5), then SIGKILL 60 s later. (rc, output, timed_out)."""
    with open(log_path, "w") as f:
        f.write("$ %s\n" % " ".join(cmd))
        f.flush()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        timed_out = False
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        f.write("[rc=%d]\n" % p.returncode)
    with open(log_path) as f:
        return p.returncode, f.read(), timed_out


def cluster_ok(c):
    rc, out = E.run([E.REDIS_CLI, "--cluster", "check", c.entry],
                    timeout=60, check=False)
    return rc == 0 and "[WARNING]" not in out and "[ERR]" not in out


def phase_stats(py, sp, t0, m0, m1, t_end):
    """Baseline [t0, m0), during [m0, m1], after (m1, t_end]."""
    res = {}
    spans = {"baseline": (t0, m0), "during": (m0, m1), "after": (m1, t_end)}
    for ph, (lo, hi) in spans.items():
        if ph == "after":
            lat = sorted(l for t, l, ok in py if lo < t <= hi)
            rows = [r for r in sp if lo < r["t"] <= hi]
        else:
            lat = sorted(l for t, l, ok in py if lo <= t < hi or
                         (ph == "during" and t == hi))
            rows = [r for r in sp if lo <= r["t"] < hi]
        if ph == "during" and not rows:  # a move shorter than a second
            rows = [min(sp, key=lambda r: abs(r["t"] - (lo + hi) / 2))]
        res[ph] = {
            "py_n": len(lat), "py_p50": pct(lat, 0.5),
            "py_p99": pct(lat, 0.99), "py_max": lat[-1] if lat else None,
            "sp_seconds": len(rows), "sp_ops": sum(r["ops"] for r in rows),
            "sp_p99": mixture_pct(rows, 0.99),
            "sp_worst_second_p99": max((r["p99"] for r in rows),
                                       default=None),
            "sp_max": max((r["max"] for r in rows), default=None)}
    return res


GUARD_RE = re.compile(r"Latency guard:.*")
GUARD_BUDGET_RE = re.compile(r"Latency guard: probe p99 ([0-9.]+) ms before, "
                             r"budget ([0-9.]+) ms")


def guard_budget(out):
    """(probe baseline ms, budget ms) the mover reported: its text
    "Latency guard: probe p99 X ms before, budget Y ms" line, or with
    --json its {"event":"guard", ...} line; (None, None) without a guard."""
    m = GUARD_BUDGET_RE.search(out)
    if m:
        return float(m.group(1)), float(m.group(2))
    for line in out.splitlines():
        if line.startswith("{") and '"guard"' in line:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("event") == "guard" and o.get("budget_ms") is not None:
                b = o.get("baseline_p99_ms")
                return (None if b is None else float(b)), \
                    float(o["budget_ms"])
    return None, None


def last_line(out):
    """The mover's last line before our "[rc=N]": its error, if any."""
    lines = [l for l in out.splitlines()
             if l.strip() and not l.startswith("[rc=")]
    return lines[-1].strip() if lines else ""


STALL_MS = 5  # the latency monitor's threshold during the move


def stalls_reset(c):
    """Arms every node's latency monitor (events of STALL_MS or more) and
    forgets what it saw before the move."""
    for port in c.all_ports():
        cl = E.client(port)
        cl.config_set("latency-monitor-threshold", STALL_MS)
        cl.execute_command("LATENCY", "RESET")


def stalls_read(c):
    """What the nodes' latency monitors saw during the move: the events
    (fork, aof-fsync, command, ...) with their worst ms, per port."""
    out = []
    for port in c.all_ports():
        for ev in E.client(port).execute_command("LATENCY", "LATEST") or []:
            name = ev[0].decode() if isinstance(ev[0], bytes) else ev[0]
            out.append("%s %s@%d" % (name, ev[3], port))
    return ", ".join(out)


def migrate_stats(c):
    """{port: (calls, usec)} of MIGRATE from INFO commandstats: the time
    each node spent inside MIGRATE, which is time its event loop served no
    client (MIGRATE is synchronous on the source)."""
    out = {}
    for port in c.all_ports():
        st = E.info_dict(port, "commandstats").get("cmdstat_migrate")
        kv = dict(x.split("=", 1) for x in st.split(",")) if st else {}
        out[port] = (int(kv.get("calls", 0)), int(kv.get("usec", 0)))
    return out


def blocked_share(before, after, seconds):
    """The busiest source: its share of the move spent inside MIGRATE, and
    the average MIGRATE call, from two migrate_stats snapshots."""
    worst = None
    for port in after:
        calls = after[port][0] - before.get(port, (0, 0))[0]
        usec = after[port][1] - before.get(port, (0, 0))[1]
        if calls > 0 and (worst is None or usec > worst[1]):
            worst = (calls, usec)
    if worst is None or seconds <= 0:
        return None
    return {"pct": round(100.0 * worst[1] / 1e6 / seconds, 2),
            "calls": worst[0], "us_per_call": round(worst[1] / worst[0], 1),
            "seconds": round(worst[1] / 1e6, 3)}


def one_run(a, sp, run, base, by_slot, counts, p99_ms):
    """One mover on its own cluster. A budget-Mx run that slotpilot
    refuses (exit 2: the budget is not above its probes' baseline; nothing
    moved) is a result with "refused" set, not an error."""
    c = E.Cluster(run, sp, a.workdir, base, 3, 1, a.out)
    jdir = os.path.join(a.out, "latency-journal-%s" % run)
    shutil.rmtree(jdir, ignore_errors=True)
    os.makedirs(jdir)
    clients = Clients(a, sp, base, a.out, run)
    try:
        log("%s: cluster on %d..%d (empty primary %d)"
            % (run, base, base + 5, c.new_port))
        c.up()
        t = time.monotonic()
        c.load(by_slot, a.keys)
        c.wait_replicas()
        log("%s: loaded %d keys in %.1fs" % (run, a.keys,
                                              time.monotonic() - t))
        cap = a.warmup + a.before + a.move_timeout + a.after + 30
        t_ready = clients.start(cap)
        t_base = t_ready + a.warmup
        time.sleep(max(0.0, t_base + a.before - time.time()))
        cmd = mover_cmd(a, sp, run, c.entry, jdir, p99_ms)
        log("%s: traffic running; moving: %s" % (run, " ".join(cmd)))
        mlog = os.path.join(a.out, "latency-%s-mover.log" % run)
        if os.path.exists(mlog):
            os.unlink(mlog)
        ms0 = migrate_stats(c)
        stalls_reset(c)
        m0 = time.time()
        rc, out, timed_out = run_mover(cmd, a.move_timeout, mlog)
        m1 = time.time()
        blocked = blocked_share(ms0, migrate_stats(c), m1 - m0)
        stalls = stalls_read(c)
        if stalls:
            log("%s: server stalls of %d ms or more during the move (LATENCY "
                "LATEST: event max ms @port): %s" % (run, STALL_MS, stalls))
        if timed_out:
            log("%s: stopped after --move-timeout %gs (SIGINT: it stops at "
                "a slot boundary)" % (run, a.move_timeout))
        time.sleep(a.after)
        t_end = time.time()
        clients.stop()
        refused = (rc == 2 and not timed_out and
                   budget_multiple(run) is not None)
        if refused:
            log("%s: slotpilot refused the budget: %s" % (run, last_line(out)))
        elif rc != 0 and not (timed_out and rc == 5):
            raise BenchError("%s: mover failed (rc=%d), see %s"
                             % (run, rc, mlog))
        E.wait_until(lambda: cluster_ok(c), 60,
                     "%s: redis-cli --cluster check to pass" % run, 1.0)
        owners = c.slot_owners()
        slots = sum(1 for o in owners if o == c.new_port)
        moved = sum(counts[s] for s in range(E.NSLOTS)
                    if owners[s] == c.new_port)
        spj, pyj = clients.sp_summary(), clients.py_summary()
        want = a.keys + spj["verify"]["keys_written"] + pyj["keys_written"]
        got = c.dbsize_sum()
        if got != want:
            log("%s: WARNING: DBSIZE sum %d, expected %d" % (run, got, want))
        g = GUARD_RE.search(out)
        st = phase_stats(clients.py_rows(), clients.sp_rows(), t_base,
                         m0, m1, t_end)
        ph = spj["phases"][0]
        res = {"run": run, "command": " ".join(cmd), "slots": slots,
               "keys_moved": moved, "move_s": round(m1 - m0, 3),
               "keys_per_s": round(moved / (m1 - m0), 1),
               "dbsize_ok": got == want, "timed_out": timed_out,
               "phases": st,
               "py": {"errors": pyj["errors"], "lost": pyj["lost"],
                      "stale": pyj["stale"], "unreadable": pyj["unreadable"],
                      "sent": pyj["sent"], "behind": pyj["behind"],
                      "keys_written": pyj["keys_written"],
                      "messages": pyj["messages"]},
               "sp": {"errors": ph["errors"], "lost": spj["verify"]["lost"],
                      "stale": spj["verify"]["stale"] + ph["stale_reads"],
                      "unreadable": spj["verify"]["unreadable"],
                      "ops": ph["ops"], "failed": ph["failed"],
                      "events": ph["events"]},
               "guard": g.group(0) if g else None,
               "guard_baseline_ms": guard_budget(out)[0],
               "guard_budget_ms": guard_budget(out)[1],
               "p99_ms_option": p99_ms if "--max-p99-ms" in cmd else None,
               "refused": refused, "mover_rc": rc,
               "mover_error": last_line(out) if rc != 0 else None,
               "blocked": blocked,
               "t": {"traffic": clients.t_sp, "baseline": t_base,
                     "move_start": m0, "move_end": m1, "end": t_end}}
        log("%s: %d slots, %d keys in %.2fs" % (run, slots, moved, m1 - m0))
        if res["guard"]:
            log("%s: %s" % (run, res["guard"]))
        return res, clients
    finally:
        clients.stop()
        if c.started:
            c.down()


# ---------------------------------------------------------------------------
# output


def fmt(v, nd=2):
    return "-" if v is None else "%.*f" % (nd, v)


def fmt_ratio(v):
    return "-" if v is None else "%.2fx" % v


def print_table(results, a):
    print()
    print("Latency benchmark: %d keys x %d B, 3 primaries + 3 replicas, "
          "4096 slots to 1 new empty primary; clients: redis-py %g ops/s "
          "(1 conn), slotpilot traffic %g ops/s (%d conns), read ratio 0.5"
          % (a.keys, a.value, a.py_rate, a.sp_rate, a.sp_connections))
    hdr = ("%-10s %7s %8s | %-26s | %-26s | %-15s | %-9s | %-9s"
           % ("run", "move s", "keys/s",
              "redis-py p99 ms base/move", "sp-traffic p99 base/move",
              "max ms py/sp", "errors", "lost"))
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        b, d = r["phases"]["baseline"], r["phases"]["during"]
        py = "%s / %s = %s" % (fmt(b["py_p99"]), fmt(d["py_p99"]),
                               fmt_ratio(ratio(d["py_p99"], b["py_p99"])))
        sp = "%s / %s = %s" % (fmt(b["sp_p99"]), fmt(d["sp_p99"]),
                               fmt_ratio(ratio(d["sp_p99"], b["sp_p99"])))
        mx = "%s / %s" % (fmt(d["py_max"], 1), fmt(d["sp_max"], 1))
        mv = "%.2f" % r["move_s"] + ("*" if r["timed_out"] else "")
        print("%-10s %7s %8.0f | %-26s | %-26s | %-15s | %-9s | %-9s"
              % (r["run"], mv, r["keys_per_s"], py, sp, mx,
                 "%d/%d" % (r["py"]["errors"], r["sp"]["errors"]),
                 "%d/%d" % (r["py"]["lost"], r["sp"]["lost"])))
    print("(errors and lost writes: redis-py/slotpilot traffic; stale reads:"
          " %s)" % ", ".join("%s %d/%d" % (r["run"], r["py"]["stale"],
                                          r["sp"]["stale"]) for r in results))
    print("(redis-py requests skipped because the client was stalled over "
          "1 s, so its p99 understates: %s)"
          % ", ".join("%s %d" % (r["run"], r["py"]["behind"])
                      for r in results))
    for r in results:
        if r["timed_out"]:
            print("* %s: stopped at --move-timeout after %d of 4096 slots "
                  "(%d keys); at that pace all 4096 take ~%.0f s"
                  % (r["run"], r["slots"], r["keys_moved"],
                     r["move_s"] * 4096 / max(1, r["slots"])))
    for r in results:
        if r["guard"]:
            print("%s: %s" % (r["run"], r["guard"]))
    print("busiest source inside MIGRATE (INFO commandstats; its clients "
          "wait meanwhile): " + "; ".join(
              "%s %.3f s = %.1f%% of the move, %d calls of %.0f us"
              % (r["run"], r["blocked"]["seconds"], r["blocked"]["pct"],
                 r["blocked"]["calls"], r["blocked"]["us_per_call"])
              for r in results if r.get("blocked")))


def verdicts(results):
    """The issue's goal, for every guarded run."""
    by = {r["run"]: r for r in results}
    cli = by.get("redis-cli")
    out = []
    for r in results:
        if not r["run"].startswith("guard"):
            continue
        b, d = r["phases"]["baseline"], r["phases"]["during"]
        rp = ratio(d["py_p99"], b["py_p99"])
        rs = ratio(d["sp_p99"], b["sp_p99"])
        checks = [
            ("redis-py p99 ratio %s <= %.2f" % (fmt_ratio(rp), GOAL_RATIO),
             rp is not None and rp <= GOAL_RATIO),
            ("slotpilot-traffic p99 ratio %s <= %.2f"
             % (fmt_ratio(rs), GOAL_RATIO),
             rs is not None and rs <= GOAL_RATIO)]
        if cli:
            checks.append(("move %.2f s%s <= redis-cli %.2f s"
                           % (r["move_s"],
                              " (stopped, unfinished)" if r["timed_out"]
                              else "", cli["move_s"]),
                           not r["timed_out"] and
                           r["move_s"] <= cli["move_s"]))
        else:
            checks.append(("move time vs redis-cli (not run)", False))
        errs = r["py"]["errors"] + r["sp"]["errors"]
        lost = r["py"]["lost"] + r["sp"]["lost"]
        checks.append(("errors %d == 0" % errs, errs == 0))
        checks.append(("lost writes %d == 0" % lost, lost == 0))
        met = all(ok for _, ok in checks)
        out.append({"run": r["run"], "met": met,
                    "checks": [{"what": w, "ok": ok} for w, ok in checks]})
    return out


def print_verdicts(vs):
    print()
    if not vs:
        print("goal: no guarded run, no verdict")
    for v in vs:
        print("goal (%s): %s" % (v["run"], "MET" if v["met"] else "NOT MET"))
        for c in v["checks"]:
            print("  [%s] %s" % ("ok" if c["ok"] else "no", c["what"]))


# ---------------------------------------------------------------------------
# the budget sweep (issue #17)


def sweep_base(results, override):
    """B, the baseline the budget-Mx runs multiply, and where it came
    from: --sweep-base-ms, else redis-cli's redis-py baseline p99 (its
    slotpilot-traffic one when missing), else the first run's."""
    if override:
        return override, "--sweep-base-ms"
    cands = [r for r in results if r["run"] == "redis-cli"] + results[:1]
    for r in cands:
        b = r["phases"]["baseline"]
        for key, what in (("py_p99", "redis-py"),
                          ("sp_p99", "slotpilot traffic")):
            if b[key]:
                return b[key], "%s's %s baseline p99" % (r["run"], what)
    raise BenchError("no baseline p99 for the budget runs: run redis-cli "
                     "first (the sweep does) or give --sweep-base-ms")


def run_budget(r):
    """The budget of a run, ms: the one slotpilot reported, else the
    --max-p99-ms it was given; None without a guard."""
    return r.get("guard_budget_ms") or r.get("p99_ms_option")


def full_time(r):
    """(move seconds, estimated): a run stopped by --move-timeout gets its
    time scaled to 4096 slots."""
    if not r["timed_out"]:
        return r["move_s"], False
    return r["move_s"] * 4096 / max(1, r["slots"]), True


def client_ratio(r, client):
    b, d = r["phases"]["baseline"], r["phases"]["during"]
    return ratio(d[client + "_p99"], b[client + "_p99"])


def sweep_points(results, client):
    """The slotpilot runs that moved, as (time, ratio, run, estimated),
    by time."""
    pts = []
    for r in results:
        if r["run"] == "redis-cli" or r.get("refused"):
            continue
        q = client_ratio(r, client)
        if q is None:
            continue
        t, est = full_time(r)
        pts.append((t, q, r["run"], est))
    return sorted(pts)


def frontier(pts):
    """The lower envelope: every point no other point beats on both move
    time and ratio, by time (so the ratios fall)."""
    out = []
    for p in sorted(pts, key=lambda p: (p[0], p[1])):
        if not out or p[1] < out[-1][1]:
            out.append(p)
    return out


def frontier_at(front, t):
    """(interpolated ratio, best measured ratio) of the frontier at move
    time t: linear between its points, flat after the slowest; None, None
    when every point is slower than t."""
    if not front or t < front[0][0]:
        return None, None
    measured = min(p[1] for p in front if p[0] <= t)
    if t >= front[-1][0]:
        return front[-1][1], measured
    for (t0, r0, _, _), (t1, r1, _, _) in zip(front, front[1:]):
        if t0 <= t <= t1:
            return (r0 if t1 <= t0 else
                    r0 + (r1 - r0) * (t - t0) / (t1 - t0)), measured
    return measured, measured


def sweep_verdicts(results, client):
    """The issue's verdicts (a)-(d) for one client ("py" or "sp")."""
    cli = next((r for r in results if r["run"] == "redis-cli"), None)
    pts = sweep_points(results, client)
    front = frontier(pts)
    v = {"client": client, "points": [
        {"run": n, "move_s": round(t, 3), "ratio": round(q, 4),
         "estimated": est} for t, q, n, est in pts],
        "frontier": [n + (" (est)" if est else "")
                     for _, _, n, est in front]}
    reached = [p for p in pts if p[1] <= GOAL_RATIO]
    v["d"] = {"goal_ratio": GOAL_RATIO, "runs": [p[2] for p in reached],
              "fastest": reached[0][2] if reached else None,
              "move_s": round(reached[0][0], 3) if reached else None,
              "reached": bool(reached)}
    p_rc = client_ratio(cli, client) if cli else None
    if cli is None or p_rc is None:
        v["redis_cli"] = None
        return v
    t_rc, t_est = full_time(cli)
    half = (p_rc - 1) / 2
    v["redis_cli"] = {"move_s": round(t_rc, 3), "estimated": t_est,
                      "ratio": round(p_rc, 4), "half_increase": round(half, 4)}
    f, meas = frontier_at(front, t_rc)
    v["a"] = {"ratio_interpolated": None if f is None else round(f, 4),
              "ratio_measured": None if meas is None else round(meas, 4),
              "met": f is not None and f - 1 <= half}
    faster = [p for p in pts if p[1] <= p_rc]
    b = faster[0] if faster else None  # pts are by time: the fastest
    v["b"] = {"run": b[2] if b else None,
              "move_s": round(b[0], 3) if b else None,
              "speedup": round(t_rc / b[0], 2) if b and b[0] > 0 else None,
              "met": b is not None and b[0] <= t_rc / 3}
    d = next((p for p in pts if p[2] == "default"), None)
    v["c"] = None if d is None else {
        "move_s": round(d[0], 3), "ratio": round(d[1], 4),
        "increase_ok": d[1] - 1 <= half, "time_ok": d[0] <= t_rc / 3}
    if d is not None:
        v["c"]["met"] = v["c"]["increase_ok"] and v["c"]["time_ok"]
    return v


def budget_checks(results):
    """Per guarded run: did redis-py's p99 during the move stay within
    10 % of the budget?"""
    out = []
    for r in results:
        bud = run_budget(r)
        if bud is None or r.get("refused"):
            continue
        d = r["phases"]["during"]["py_p99"]
        out.append({"run": r["run"], "budget_ms": bud, "py_p99_ms": d,
                    "achieved_over_budget": None if d is None
                    else round(d / bud, 3),
                    "within_10pct": d is not None and d <= BUDGET_SLACK * bud})
    return out


def print_sweep_table(results, base, base_from):
    print()
    print("Budget sweep: B = %.3f ms (%s); budgets --max-p99-ms M x B"
          % (base, base_from))
    hdr = ("%-12s %9s | %-22s | %-22s | %8s | %10s | %-7s | %-7s"
           % ("run", "budget ms", "redis-py p99 move (x)",
              "sp-traffic p99 move(x)", "ach/bud", "move s", "errors",
              "lost"))
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        d = r["phases"]["during"]
        bud = run_budget(r)
        if r.get("refused"):
            print("%-12s %9s | refused by slotpilot (exit 2): %s"
                  % (r["run"], fmt(bud, 3), r.get("mover_error") or ""))
            continue
        t, est = full_time(r)
        print("%-12s %9s | %-22s | %-22s | %8s | %10s | %-7s | %-7s"
              % (r["run"], fmt(bud, 3),
                 "%s (%s)" % (fmt(d["py_p99"]),
                              fmt_ratio(client_ratio(r, "py"))),
                 "%s (%s)" % (fmt(d["sp_p99"]),
                              fmt_ratio(client_ratio(r, "sp"))),
                 fmt_ratio(ratio(d["py_p99"], bud)),
                 "%.2f" % t + (" est" if est else ""),
                 "%d/%d" % (r["py"]["errors"], r["sp"]["errors"]),
                 "%d/%d" % (r["py"]["lost"], r["sp"]["lost"])))
    print("(x: the client's p99 during the move over its own baseline; "
          "ach/bud: redis-py's p99 during the move over the budget; "
          "errors, lost: redis-py/slotpilot traffic; est: stopped at "
          "--move-timeout, time scaled to 4096 slots)")


def yes(ok):
    return "ok" if ok else "no"


def print_sweep_verdicts(vs, checks):
    name = {"py": "redis-py", "sp": "slotpilot traffic"}
    print()
    for v in vs:
        rc = v["redis_cli"]
        who = name[v["client"]]
        if v["client"] != "py":
            if rc is None:
                print("%s: no redis-cli ratio, no verdict" % who)
                continue
            c = v["c"]
            print("%s: (a) %s (b) %s (c) %s (d) %s" % (
                who, yes(v["a"]["met"]), yes(v["b"]["met"]),
                "-" if c is None else "%s/%s" % (yes(c["increase_ok"]),
                                                 yes(c["time_ok"])),
                "%s in %.2f s" % (v["d"]["fastest"], v["d"]["move_s"])
                if v["d"]["reached"] else "not reached"))
            continue
        print("sweep verdicts (%s; frontier: %s)"
              % (who, ", ".join(v["frontier"]) or "no point"))
        if rc is None:
            print("  no redis-cli run (or no ratio): (a)-(c) not judged")
        else:
            t3 = rc["move_s"] / 3
            print("  redis-cli: %.2f s%s, p99 %.2fx; half its increase: "
                  "%.2fx" % (rc["move_s"], " est" if rc["estimated"] else "",
                             rc["ratio"], 1 + rc["half_increase"]))
            if rc["half_increase"] <= 0:
                print("  (redis-cli's p99 did not rise during its move: "
                      "(a) and (c) ask slotpilot for no rise either)")
            a = v["a"]
            if a["ratio_interpolated"] is None:
                print("  [no] (a) no slotpilot point is as fast as "
                      "redis-cli's %.2f s" % rc["move_s"])
            else:
                print("  [%s] (a) at %.2f s the frontier is at %.2fx "
                      "(interpolated; best measured by then %.2fx), "
                      "<= %.2fx" % (yes(a["met"]), rc["move_s"],
                                    a["ratio_interpolated"],
                                    a["ratio_measured"],
                                    1 + rc["half_increase"]))
            b = v["b"]
            if b["run"] is None:
                print("  [no] (b) no slotpilot point at or under redis-cli's "
                      "%.2fx" % rc["ratio"])
            else:
                print("  [%s] (b) fastest at <= %.2fx: %s in %.2f s "
                      "(%.1fx faster), <= %.2f s" % (
                          yes(b["met"]), rc["ratio"], b["run"], b["move_s"],
                          b["speedup"] or 0, t3))
            c = v["c"]
            if c is None:
                print("  [no] (c) no default run")
            else:
                print("  [%s] (c) default: p99 %.2fx <= %.2fx [%s], "
                      "%.2f s <= %.2f s [%s]" % (
                          yes(c["met"]), c["ratio"], 1 + rc["half_increase"],
                          yes(c["increase_ok"]), c["move_s"], t3,
                          yes(c["time_ok"])))
        d = v["d"]
        if d["reached"]:
            print("  (d) %.2fx reached by %s; fastest %s in %.2f s"
                  % (GOAL_RATIO, ", ".join(d["runs"]), d["fastest"],
                     d["move_s"]))
        else:
            print("  (d) %.2fx not reached" % GOAL_RATIO)
    for c in checks:
        print("  [%s] %s: redis-py p99 %s ms within 10 %% of the %.3f ms "
              "budget (%s)" % (yes(c["within_10pct"]), c["run"],
                               fmt(c["py_p99_ms"], 3), c["budget_ms"],
                               fmt_ratio(c["achieved_over_budget"])))


def plot_frontier(results, vs, out, gp):
    """bench/out/latency-frontier.png: move time against p99 ratio."""
    dat = os.path.join(out, "latency-frontier.dat")
    cli = next((r for r in results if r["run"] == "redis-cli"), None)
    with open(dat, "w") as f:
        for v in vs:  # the labels alternate above and below their points
            f.write("# slotpilot %s: move_s ratio run label_y\n"
                    % v["client"])
            for i, p in enumerate(v["points"]):
                f.write("%.3f %.4f %s %.4f\n" % (
                    p["move_s"], p["ratio"], p["run"],
                    p["ratio"] * (1.15 if i % 2 == 0 else 1 / 1.15)))
            f.write("\n\n# redis-cli %s\n" % v["client"])
            q = client_ratio(cli, v["client"]) if cli else None
            if q is not None:
                f.write("%.3f %.4f redis-cli %.4f\n"
                        % (full_time(cli)[0], q, q / 1.15))
            else:
                f.write("# none\n")
            f.write("\n\n")
    if not any(v["points"] for v in vs):
        log("no slotpilot point: no frontier plot")
        return None
    png = os.path.join(out, "latency-frontier.png")
    xs = [p["move_s"] for v in vs for p in v["points"]]
    ys = [p["ratio"] for v in vs for p in v["points"]]
    for c in ("py", "sp"):
        if cli is not None and client_ratio(cli, c) is not None:
            xs.append(full_time(cli)[0])
            ys.append(client_ratio(cli, c))
    xs = [x for x in xs if x > 0] or [1.0]
    has_cli = cli is not None and client_ratio(cli, "py") is not None
    plots = [
        "'%s' index 0 using 1:2 with linespoints pt 7 ps 1 lw 2 "
        "lc rgb '#1f77b4' title 'slotpilot, redis-py'" % dat,
        "'' index 0 using 1:4:3 with labels offset 0.8,0 left "
        "tc rgb '#1f77b4' notitle",
        "'' index 2 using 1:2 with linespoints pt 5 ps 0.8 lw 1 dt 2 "
        "lc rgb '#2ca02c' title 'slotpilot, slotpilot traffic'"]
    if has_cli:
        plots += ["'' index 1 using 1:2 with points pt 9 ps 2.2 "
                  "lc rgb '#d62728' title 'redis-cli, redis-py'",
                  "'' index 1 using 1:4:3 with labels offset 0.8,0 left "
                  "tc rgb '#d62728' notitle",
                  "'' index 3 using 1:2 with points pt 11 ps 1.6 "
                  "lc rgb '#ff7f0e' title 'redis-cli, slotpilot traffic'"]
    script = [
        "set terminal pngcairo size 1000,620 font 'sans,10'",
        "set output '%s'" % png,
        "set title 'latency budget sweep: move time against p99 during "
        "the move / baseline p99'",
        "set xlabel 'move time (s, log)'",
        "set ylabel 'p99 ratio (log)'",
        "set logscale xy",
        "set xtics add (0.2, 0.5, 2, 5, 20, 50, 200, 500)",
        "set ytics add (2, 5, 20, 50, 200, 500)",
        "set grid",
        "set key below horizontal",
        "set xrange [%g:%g]" % (min(xs) / 1.6, max(xs) * 2.2),
        "set yrange [%g:%g]" % (min(ys + [GOAL_RATIO]) / 1.4,
                                max(ys) * 1.5),
        "set arrow 1 from graph 0, first %g to graph 1, first %g nohead "
        "dt 3 lc rgb '#777777'" % (GOAL_RATIO, GOAL_RATIO),
        "set label 1 '%.2fx' at graph 0.01, first %g offset 0,0.6"
        % (GOAL_RATIO, GOAL_RATIO)]
    rc = vs[0]["redis_cli"]
    if rc is not None and rc["half_increase"] > 0:
        y = 1 + rc["half_increase"]
        script += ["set arrow 2 from graph 0, first %g to first %g, first "
                   "%g nohead dt 2 lc rgb '#d62728'" % (y, rc["move_s"], y),
                   "set arrow 3 from first %g, graph 0 to first %g, first %g "
                   "nohead dt 2 lc rgb '#d62728'" % (rc["move_s"] / 3,
                                                     rc["move_s"] / 3,
                                                     rc["ratio"]),
                   "set label 2 'half of redis-cli''s increase' at graph "
                   "0.01, first %g offset 0,-0.8 tc rgb '#d62728'" % y,
                   "set label 3 'redis-cli / 3' at first %g, graph 0.03 "
                   "offset 0.5,0 tc rgb '#d62728'" % (rc["move_s"] / 3)]
    script += ["plot " + ", ".join(plots), ""]
    p = subprocess.run([gp], input="\n".join(script).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        log("gnuplot failed: %s" % p.stdout.decode("utf-8", "replace"))
        return None
    return png


def plot(res, clients, out, ymax, gp):
    """PNG: p99 per second of both clients, the move shaded."""
    t0 = res["t"]["traffic"]
    dat = os.path.join(out, "latency-%s-plot.dat" % res["run"])
    bins = {}
    for t, l, ok in clients.py_rows():
        bins.setdefault(int(t - t0), []).append(l)
    with open(dat, "w") as f:
        f.write("# t_s redis-py_p99_ms\n")
        for s in sorted(bins):
            f.write("%.1f %.4f\n" % (s + 0.5, pct(sorted(bins[s]), 0.99)))
        f.write("\n\n# t_s slotpilot-traffic_p99_ms\n")
        for r in clients.sp_rows():
            f.write("%.1f %.4f\n" % (r["t"] - t0, max(r["p99"], 0.001)))
    m0, m1 = res["t"]["move_start"] - t0, res["t"]["move_end"] - t0
    png = os.path.join(out, "latency-%s.png" % res["run"])
    b, d = res["phases"]["baseline"], res["phases"]["during"]
    title = ("%s: move %.1f s; redis-py p99 %s -> %s ms, slotpilot traffic "
             "p99 %s -> %s ms" % (res["run"], res["move_s"],
                                  fmt(b["py_p99"]), fmt(d["py_p99"]),
                                  fmt(b["sp_p99"]), fmt(d["sp_p99"])))
    script = "\n".join([
        "set terminal pngcairo size 1000,520 font 'sans,10'",
        "set output '%s'" % png,
        "set title \"%s\"" % title,
        "set xlabel 'seconds since traffic start'",
        "set ylabel 'p99 latency per second (ms, log)'",
        "set logscale y",
        "set yrange [0.05:%g]" % ymax,
        "set grid",
        "set key below horizontal",
        "set object 1 rect from %f, graph 0 to %f, graph 1 "
        "fc rgb '#ffd8a8' fs solid 0.5 noborder behind" % (m0, max(m1, m0 + 0.2)),
        "set label 1 'move' at %f, graph 0.95" % (m0 + 0.1),
        "plot '%s' index 0 using 1:2 with linespoints pt 7 ps 0.6 "
        "lw 2 title 'redis-py RedisCluster', "
        "'' index 1 using 1:2 with linespoints pt 5 ps 0.6 lw 2 "
        "title 'slotpilot traffic'" % dat, ""])
    p = subprocess.run([gp], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        log("gnuplot failed: %s" % p.stdout.decode("utf-8", "replace"))
        return None
    return png


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sp", default=os.path.join(ROOT, "build", "slotpilot"))
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--value", type=int, default=100, help="value bytes")
    ap.add_argument("--runs", default=None,
                    help="comma list of %s, budget-Mx (--max-p99-ms M x "
                    "the sweep's B) or sweep (default "
                    "redis-cli,slotpilot,guard-inc)" % ",".join(RUNS))
    ap.add_argument("--sweep", action="store_true",
                    help="the budget sweep (as 'sweep' in --runs): "
                    "redis-cli, fast, default, budget-Mx for every M of "
                    "--sweep-multiples")
    ap.add_argument("--sweep-multiples", default=DEFAULT_MULTIPLES,
                    help="the sweep's budgets, as multiples of B "
                    "(default %s)" % DEFAULT_MULTIPLES)
    ap.add_argument("--sweep-base-ms", type=float, default=None,
                    help="B in ms (default: redis-cli's redis-py "
                    "baseline p99, measured)")
    ap.add_argument("--guard-inc", type=float, default=10.0,
                    help="--max-latency-increase for guard-inc (percent)")
    ap.add_argument("--guard-p99-ms", type=float, default=None,
                    help="--max-p99-ms for guard-p99 (default: 1.1 x the "
                    "redis-py baseline p99 of the first run, min 0.1)")
    ap.add_argument("--paced", default="--rate 300slots --window 1",
                    help="slotpilot options of the 'paced' run (a fixed "
                    "pace instead of the guard's)")
    ap.add_argument("--port", type=int, default=17101,
                    help="first port; each run takes the next free "
                    "block of 100")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--before", type=float, default=5.0)
    ap.add_argument("--after", type=float, default=5.0)
    ap.add_argument("--move-timeout", type=float, default=600.0,
                    help="past it a mover gets SIGINT; the run reports the "
                    "slots moved so far")
    ap.add_argument("--sp-rate", type=float, default=2000)
    ap.add_argument("--sp-connections", type=int, default=4)
    ap.add_argument("--py-rate", type=float, default=1000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--workdir", default=None,
                    help="where clusters live (default bench/out/latency-run)")
    a = ap.parse_args()
    try:
        multiples = [float(m) for m in a.sweep_multiples.split(",") if m]
    except ValueError:
        ap.error("--sweep-multiples: a comma list of numbers")
    if not multiples or min(multiples) <= 0:
        ap.error("--sweep-multiples: multiples must be > 0")
    given = [r for r in (a.runs or "").split(",") if r]
    if not given and not a.sweep:
        given = ["redis-cli", "slotpilot", "guard-inc"]
    if a.sweep and "sweep" not in given:
        given.append("sweep")
    sweep = "sweep" in given
    runs = []
    for r in given:
        for x in (["redis-cli", "fast", "default"] +
                  [budget_run(m) for m in multiples]
                  if r == "sweep" else [r]):
            if x not in runs:
                runs.append(x)
    if sweep and runs[0] != "redis-cli":  # B comes from redis-cli
        runs.remove("redis-cli")
        runs.insert(0, "redis-cli")
    bad = [r for r in runs if r not in RUNS and budget_multiple(r) is None]
    if bad or not runs:
        ap.error("--runs: unknown %s (choose from %s, budget-Mx, sweep)"
                 % (bad, ", ".join(RUNS)))
    if a.keys <= 0 or a.before <= 0 or a.after < 0:
        ap.error("--keys and --before must be > 0")

    sp = os.path.abspath(a.sp)
    if not os.access(sp, os.X_OK):
        raise BenchError("slotpilot binary not found: %s (run make)" % sp)
    os.makedirs(a.out, exist_ok=True)
    a.workdir = os.path.abspath(a.workdir or os.path.join(a.out,
                                                          "latency-run"))
    gp = shutil.which("gnuplot")
    if gp is None:
        log("gnuplot not found (apt-get install gnuplot-nox): no PNG")

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    log("generating %d keys of %d-byte values" % (a.keys, a.value))
    by_slot = E.build_commands(a.keys, a.value)
    counts = [len(s) for s in by_slot]
    results, kept = [], []
    guard_p99 = a.guard_p99_ms
    base_ms = base_from = None
    t_start = time.monotonic()
    used = set()
    try:
        for run in runs:
            base = E.pick_base(a.port, 7, used)
            used |= {p for q in range(base, base + 7) for p in (q, q + 10000)}
            if base + 6 + 10000 >= 32768:
                raise BenchError("ports from %d: bus ports reach 32768"
                                 % base)
            if run == "guard-p99" and guard_p99 is None:
                b = results[0]["phases"]["baseline"]["py_p99"] if results \
                    else None
                guard_p99 = round(max(0.1, 1.1 * (b or 0.1)), 2)
                log("guard-p99: --max-p99-ms %g (1.1 x the first run's "
                    "redis-py baseline p99)" % guard_p99)
            p99_ms = guard_p99
            m = budget_multiple(run)
            if m is not None:
                if base_ms is None:
                    base_ms, base_from = sweep_base(results, a.sweep_base_ms)
                    log("sweep: B = %.3f ms (%s)" % (base_ms, base_from))
                p99_ms = round(m * base_ms, 3)
                log("%s: --max-p99-ms %g" % (run, p99_ms))
            res, cl = one_run(a, sp, run, base, by_slot, counts, p99_ms)
            results.append(res)
            kept.append(cl)
    finally:
        try:
            os.rmdir(a.workdir)
        except OSError:
            pass
    del by_slot

    print_table(results, a)
    vs = verdicts(results)
    if vs or not sweep:
        print_verdicts(vs)
    sw = None
    if sweep:
        if base_ms is None:  # no budget run: B for the table alone
            try:
                base_ms, base_from = sweep_base(results, a.sweep_base_ms)
            except BenchError:
                base_ms, base_from = 0.0, "none"
        svs = [sweep_verdicts(results, c) for c in ("py", "sp")]
        checks = budget_checks(results)
        print_sweep_table(results, base_ms, base_from)
        print_sweep_verdicts(svs, checks)
        sw = {"base_ms": base_ms, "base_from": base_from,
              "multiples": multiples,
              "runs": [{"run": r["run"], "budget_ms": run_budget(r),
                        "refused": r.get("refused", False),
                        "move_s": full_time(r)[0],
                        "estimated": full_time(r)[1],
                        "py_ratio": client_ratio(r, "py"),
                        "sp_ratio": client_ratio(r, "sp"),
                        "py_p99_ms": r["phases"]["during"]["py_p99"],
                        "sp_p99_ms": r["phases"]["during"]["sp_p99"],
                        "errors": [r["py"]["errors"], r["sp"]["errors"]],
                        "lost": [r["py"]["lost"], r["sp"]["lost"]]}
                       for r in results],
              "verdicts": {v["client"]: v for v in svs},
              "budgets": checks, "plot": None}
    pngs = []
    if gp:
        ymax = 10 ** math.ceil(math.log10(max(
            [1.0] + [r["phases"][ph]["sp_worst_second_p99"] or 0
                     for r in results for ph in ("during", "after")] +
            [r["phases"]["during"]["py_max"] or 0 for r in results])))
        for r, cl in zip(results, kept):
            png = plot(r, cl, a.out, ymax, gp)
            if png:
                pngs.append(os.path.relpath(png, ROOT))
        if sweep:
            png = plot_frontier(results, svs, a.out, gp)
            if png:
                sw["plot"] = os.path.relpath(png, ROOT)
                pngs.append(sw["plot"])
        print("plots: %s" % " ".join(pngs))
    elif sweep:
        print("no frontier plot: gnuplot not found (apt-get install "
              "gnuplot-nox)")

    repro = "/usr/bin/python3 bench/latency.py --sp %s" % a.sp
    if a.keys != 1000000:
        repro += " --keys %d" % a.keys
    if a.runs:
        repro += " --runs %s" % a.runs
    if a.sweep:
        repro += " --sweep"
    if sweep and a.sweep_multiples != DEFAULT_MULTIPLES:
        repro += " --sweep-multiples %s" % a.sweep_multiples
    if a.sweep_base_ms:
        repro += " --sweep-base-ms %g" % a.sweep_base_ms
    for opt in ("value", "warmup", "before", "after", "move_timeout",
                "sp_rate", "sp_connections", "py_rate"):
        if getattr(a, opt) != ap.get_default(opt):
            repro += " --%s %g" % (opt.replace("_", "-"), getattr(a, opt))
    if "guard-p99" in runs:
        repro += " --guard-p99-ms %g" % guard_p99
    print("reproduce: %s" % repro)
    doc = {"benchmark": "latency", "keys": a.keys, "value_bytes": a.value,
           "clients": {"redis_py_rate": a.py_rate, "sp_rate": a.sp_rate,
                       "sp_connections": a.sp_connections},
           "before_s": a.before, "after_s": a.after, "warmup_s": a.warmup,
           "guard_inc_pct": a.guard_inc, "guard_p99_ms": guard_p99,
           "cpus": os.cpu_count(), "results": results, "goal": vs,
           "plots": pngs, "reproduce": repro, "sweep": sw,
           "total_seconds": round(time.monotonic() - t_start, 1),
           "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = os.path.join(a.out, "latency.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("wrote %s" % os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench/latency.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench/latency.py: interrupted", file=sys.stderr)
        sys.exit(130)
